import { describe, expect, it } from 'vitest';
import { CodenameRegistry, fallbackCode, parseCheckpointName, ruleCode } from '../../../etl/logic/codename.ts';

/** The 20 real KKMC spellings (19 checkpoints) with the XZQHMC they come with, and their codes. */
const REAL: Array<[string, string, string]> = [
  ['G3京台高速K731江苏高速五大队江苏徐州-G3-苏鲁界省际卡口', '高速五大队', 'G3_Xuzhou_K731'],
  ['徐州市丰县G237国道237线K148荣庄卡口省际卡口', '丰县', 'G237_Fengxian_K148'],
  ['徐州市丰县G518518国道K358马楼公路站省际卡口', '丰县', 'G518_Fengxian_K358'],
  ['徐州市丰县鹿梁路K19丰县梁寨检查站市际卡口', '丰县', 'Luliang_Fengxian_K19'],
  ['徐州市新沂市G235国道235K10江苏徐州-G235-交界市际卡口', '新沂市', 'G235_Xinyi_K10'],
  ['徐州市新沂市S323连徐线K10阿湖卡口-323省道连云港交界市际卡口', '新沂市', 'S323_Xinyi_K10'],
  ['徐州市新沂市S505505省道K10新沂高速西出口-505省道宿迁界市际卡口', '新沂市', 'S505_Xinyi_K10'],
  ['徐州市沛县S253郑沛龙线K0江苏徐州-S253-苏鲁界省际卡口', '沛县', 'S253_Peixian_K0'],
  ['徐州市睢宁县G104北京-福州K873江苏徐州-G104-苏皖界省际卡口', '睢宁县', 'G104_Suining_K873'],
  ['徐州市睢宁县S252塔双线K56江苏徐州-S252-苏皖界省际卡口', '睢宁县', 'S252_Suining_K56'],
  ['徐州市睢宁县S324燕沭睢线K201省道桑庄王马路路口西侧-向东卡口市际卡口', '睢宁县', 'S324_Suining_K201'],
  ['徐州市睢宁县S325淮宿线K63(325省道)63K+100M东侧-向西卡口市际卡口', '睢宁县', 'S325_Suining_K63'],
  ['江苏省徐州市睢宁县S325淮宿线K63(325省道)63K+100M东侧-向西卡口市际卡口', '睢宁县', 'S325_Suining_K63'],
  ['徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口', '邳州市', 'S250_Pizhou_K1'],
  ['徐州市邳州市S251枣睢线K5江苏徐州-S251-苏鲁界省际卡口', '邳州市', 'S251_Pizhou_K5'],
  ['徐州市铜山县G104北京-福州K744江苏徐州-G104-苏鲁界省际卡口', '铜山县', 'G104_Tongshan_K744'],
  ['徐州市铜山县G206烟台-汕头K816江苏徐州-G206-苏皖界省际卡口', '铜山县', 'G206_Tongshan_K816'],
  ['徐州市铜山县G310连云港-天水K310江苏徐州-G310-苏皖界省际卡口', '铜山县', 'G310_Tongshan_K310'],
  ['徐州市铜山县G311徐州-西峡K207江苏徐州-G311-苏皖界省际卡口', '铜山县', 'G311_Tongshan_K207'],
  ['江苏省徐州市新沂市S323连徐线K96瓦窑检查站市际卡口', '新沂市', 'S323_Xinyi_K96'],
];

describe('checkpoint codenames', () => {
  it('gives the 20 real spellings 19 distinct codes, the same checkpoint one code', () => {
    const reg = new CodenameRegistry();
    reg.assignAll(REAL.map(([name, xzqhmc]) => ({ name, xzqhmc })));
    for (const [name, , want] of REAL) expect(reg.get(name)?.code, name).toBe(want);
    expect(new Set(REAL.map(([n]) => reg.get(n)!.code)).size).toBe(19);
    for (const [n] of REAL) expect(reg.get(n)!.code).toMatch(/^[A-Za-z0-9_]{1,40}$/);
  });

  it('does not depend on the order names arrive in (assignAll)', () => {
    const a = new CodenameRegistry();
    a.assignAll(REAL.map(([name, xzqhmc]) => ({ name, xzqhmc })));
    const b = new CodenameRegistry();
    b.assignAll([...REAL].reverse().map(([name, xzqhmc]) => ({ name, xzqhmc })));
    for (const [n] of REAL) expect(b.get(n)!.code).toBe(a.get(n)!.code);
  });

  it('maps a spelling with and without 江苏省 to one code', () => {
    const reg = new CodenameRegistry();
    expect(reg.assign('江苏省徐州市新沂市S323连徐线K96瓦窑检查站市际卡口').code).toBe('S323_Xinyi_K96');
    expect(reg.assign('徐州市新沂市S323连徐线K96瓦窑检查站市际卡口').code).toBe('S323_Xinyi_K96');
  });

  it('parses road, county, stake and border; county from XZQHMC when the name has none', () => {
    expect(parseCheckpointName('徐州市睢宁县S325淮宿线K63(325省道)63K+100M东侧-向西卡口市际卡口')).toMatchObject({
      road: 'S325',
      county: 'Suining',
      km: '63',
      border: '市际',
    });
    expect(parseCheckpointName('G205K100收费站', '铜山区')).toMatchObject({ road: 'G205', county: 'Tongshan', km: '100', border: 'other' });
    // A police unit is not a district, and no city is named: county unknown → the rule cannot apply.
    expect(parseCheckpointName('G205K100收费站', '交警三大队').county).toBe('');
    expect(ruleCode(parseCheckpointName('G205K100收费站', '交警三大队'))).toBeNull();
  });

  it('falls back to KK_<initials>_<4 hex> for names the rule cannot read, deterministically', () => {
    const name = '某某检查站';
    const code = fallbackCode(name);
    expect(code).toMatch(/^KK_MMJCZ_[0-9a-f]{4}$/);
    expect(fallbackCode(name)).toBe(code);
    expect(fallbackCode('某某检查站二')).not.toBe(code);
    const reg = new CodenameRegistry();
    expect(reg.assign(name).code).toBe(code);
    expect(reg.assign(name).method).toBe('fallback');
    expect(fallbackCode('很'.repeat(80)).length).toBeLessThanOrEqual(40);
  });

  it('lets overrides win, for every spelling of the checkpoint', () => {
    const overrides = new Map([['徐州市新沂市S323连徐线K96瓦窑检查站市际卡口', 'WAYAO']]);
    const reg = new CodenameRegistry(overrides);
    reg.assignAll([
      { name: '江苏省徐州市新沂市S323连徐线K96瓦窑检查站市际卡口', xzqhmc: '新沂市' },
      { name: '徐州市新沂市S323连徐线K96瓦窑检查站市际卡口', xzqhmc: '新沂市' },
    ]);
    expect(reg.get('徐州市新沂市S323连徐线K96瓦窑检查站市际卡口')!.code).toBe('WAYAO');
    expect(reg.get('江苏省徐州市新沂市S323连徐线K96瓦窑检查站市际卡口')!.code).toBe('WAYAO');
  });

  it('never lets two different checkpoints share a code', () => {
    // An override takes the code another checkpoint's rule would give.
    const reg = new CodenameRegistry(new Map([['某某检查站', 'S250_Pizhou_K1']]));
    reg.assignAll([
      { name: '某某检查站', xzqhmc: '' },
      { name: '徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口', xzqhmc: '邳州市' },
    ]);
    expect(reg.get('某某检查站')!.code).toBe('S250_Pizhou_K1');
    const other = reg.get('徐州市邳州市S250宿邳线K1江苏徐州-S250-苏鲁界省际卡口')!;
    expect(other.code).toMatch(/^S250_Pizhou_K1_[0-9a-f]{4}$/);
    expect(other.method).toBe('disambiguated');

    // Two counties written differently that romanize alike (铜山 / 桐山) on the same road and stake.
    const reg2 = new CodenameRegistry();
    const a = reg2.assign('徐州市铜山县G104K744卡口').code;
    const b = reg2.assign('宿州市桐山县G104K744卡口').code;
    expect(a).toBe('G104_Tongshan_K744');
    expect(b).not.toBe(a);
    expect(b.startsWith('G104_Tongshan_K744_')).toBe(true);
    // Same physical checkpoint again: same code, no new suffix.
    expect(reg2.assign('江苏省徐州市铜山区G104K744卡口').code).toBe(a);
  });

  it('keeps codes within 40 characters', () => {
    const long = '徐州市' + '很长很长很长很长很长很长'.slice(0, 10) + '县G104K744卡口';
    const code = new CodenameRegistry().assign(long).code;
    expect(code.length).toBeLessThanOrEqual(40);
    expect(code.startsWith('G104_')).toBe(true);
    expect(code.endsWith('_K744')).toBe(true);
  });
});
