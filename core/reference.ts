/**
 * Reference tables of the contract (DESIGN.md "Reference tables"): plate province characters and
 * GA 24.7 plate type codes. Stage 05 derives PROVINCE and VEHICLE_TYPE_NAME from them; the API and
 * the report reuse them, so they live here once.
 */

export const UNKNOWN = '未知';

/** Plate first character → province short name, as on ECharts' China map. */
export const PROVINCE_BY_CHAR: Readonly<Record<string, string>> = {
  京: '北京',
  津: '天津',
  冀: '河北',
  晋: '山西',
  蒙: '内蒙古',
  辽: '辽宁',
  吉: '吉林',
  黑: '黑龙江',
  沪: '上海',
  苏: '江苏',
  浙: '浙江',
  皖: '安徽',
  闽: '福建',
  赣: '江西',
  鲁: '山东',
  豫: '河南',
  鄂: '湖北',
  湘: '湖南',
  粤: '广东',
  桂: '广西',
  琼: '海南',
  渝: '重庆',
  川: '四川',
  贵: '贵州',
  云: '云南',
  藏: '西藏',
  陕: '陕西',
  甘: '甘肃',
  青: '青海',
  宁: '宁夏',
  新: '新疆',
  使: '使馆',
};

/** The 31 province characters (without 使, which is an embassy marker, not a province). */
export const PROVINCE_CHARS: ReadonlySet<string> = new Set(Object.keys(PROVINCE_BY_CHAR).filter((c) => c !== '使'));

/** Province name of a (normalized) plate: by its first character, else 未知. */
export function provinceOfPlate(hphm: string): string {
  const first = hphm.charAt(0);
  return PROVINCE_BY_CHAR[first] ?? UNKNOWN;
}

/** GA 24.7 plate type code → name. */
export const VEHICLE_TYPE_BY_HPZL: Readonly<Record<string, string>> = {
  '01': '大型汽车',
  '02': '小型汽车',
  '03': '使馆汽车',
  '04': '领馆汽车',
  '05': '境外汽车',
  '06': '外籍汽车',
  '07': '普通摩托车',
  '08': '轻便摩托车',
  '09': '使馆摩托车',
  '10': '领馆摩托车',
  '11': '境外摩托车',
  '12': '外籍摩托车',
  '13': '低速车',
  '14': '拖拉机',
  '15': '挂车',
  '16': '教练汽车',
  '17': '教练摩托车',
  '18': '试验汽车',
  '19': '试验摩托车',
  '20': '临时入境汽车',
  '21': '临时入境摩托车',
  '22': '临时行驶车',
  '23': '警用汽车',
  '24': '警用摩托',
  '25': '原农机号牌',
  '26': '香港入出境车',
  '27': '澳门入出境车',
  '31': '武警号牌',
  '32': '军队号牌',
  '41': '无号牌',
  '42': '假号牌',
  '43': '挪用号牌',
  '51': '大型新能源汽车',
  '52': '小型新能源汽车',
  '99': '其他号牌',
};

export const HPZL_CODES: ReadonlySet<string> = new Set(Object.keys(VEHICLE_TYPE_BY_HPZL));

/** Name → code, so that an export that wrote `小型汽车` instead of `02` is still understood. */
export const HPZL_BY_NAME: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(VEHICLE_TYPE_BY_HPZL).map(([code, name]) => [name, code]));

/** VEHICLE_TYPE_NAME of a two-digit HPZL code; `-` and anything not in GA 24.7 → 未知. */
export function vehicleTypeName(hpzl: string): string {
  return VEHICLE_TYPE_BY_HPZL[hpzl] ?? UNKNOWN;
}
