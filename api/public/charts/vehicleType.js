import { C } from './theme.js';

/** 车辆类型: ring chart of vehicle type names; small slices folded into 其他. */
export function vehicleTypeOption(data) {
  const top = data.slice(0, 6);
  const rest = data.slice(6).reduce((s, d) => s + d.value, 0);
  const items = rest > 0 ? [...top, { name: '其他', value: rest }] : top;
  return {
    color: C.palette,
    tooltip: { trigger: 'item', formatter: '{b}：{c} 辆次 ({d}%)' },
    legend: { orient: 'vertical', right: 4, top: 'middle', textStyle: { color: C.text, fontSize: 13 } },
    series: [
      {
        type: 'pie',
        radius: ['42%', '70%'],
        center: ['36%', '52%'],
        data: items,
        label: { color: C.text, formatter: '{d}%', fontSize: 12 },
        labelLine: { length: 6, length2: 6 },
        itemStyle: { borderColor: '#050d1f', borderWidth: 2 },
      },
    ],
  };
}
