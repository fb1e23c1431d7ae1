import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMasterGrid } from '../../models/read-master.ts';
import { writeSyntheticMaster } from '../../models/synthetic-master.ts';
import { trainFlowModel } from '../../models/train.ts';
import { dailySummary, hourlyProfile, RowCounters, topN } from '../../notebooks/analyses.ts';
import { buildReport } from '../../notebooks/report-cli.ts';
import { row } from './helpers.ts';

describe('report analyses', () => {
  it('counts provinces and vehicle types of real rows only, with an "other" bucket', () => {
    const c = new RowCounters();
    const mk = (id: string, prov: string, type: string): string[] => {
      const r = row(id, 'K', '2024-01-01 08:00:00');
      r[8] = prov;
      r[11] = type;
      return r;
    };
    for (const r of [
      mk('1', '江苏', '小型汽车'),
      mk('2', '江苏', '大型汽车'),
      mk('3', '山东', '小型汽车'),
      mk('SYN202401011', '安徽', '小型汽车'),
      mk('4', '河南', '挂车'),
    ])
      c.add(r);
    expect(c.realRows).toBe(4);
    expect(topN(c.provinces, 10)).toEqual([
      { name: '江苏', value: 2 },
      { name: '山东', value: 1 },
      { name: '河南', value: 1 },
    ]);
    expect(topN(c.vehicleTypes, 2)).toEqual([
      { name: '小型汽车', value: 2 },
      { name: '其他 other', value: 2 },
    ]);
  });
});

describe('report command', () => {
  let dir: string;
  let master: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'traffic-report-'));
    master = path.join(dir, 'master_data_expanded.csv');
    await writeSyntheticMaster(master, { checkpoints: 4, days: 21, seed: 6, dailyPerCheckpoint: 300, synDays: ['2023-12-09'], emptyDays: ['2023-12-12'] });
    await writeFile(
      path.join(dir, 'repair_log.csv'),
      'GCXH,FIELD,OLD,NEW,METHOD,CONFIDENCE\n1,HPZL,-,52,plate_pattern,0.97\n2,HPZL,-,02,same_plate,0.99\n3,HPZL,-,52,plate_pattern,0.95\n',
    );
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ stages: { '04-repair': { rows_in: 10, rows_out: 10 } } }));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one self-contained page with SVG charts, SYN days marked and stage 04 repairs', async () => {
    const scan = await readMasterGrid(master);
    const modelFile = path.join(dir, 'traffic_flow_model.json');
    await writeFile(modelFile, JSON.stringify(trainFlowModel(scan.grid, { file: 'm', sha256: scan.sha256 }).model));
    const html = await buildReport(master, modelFile, true);
    // Self-contained: no scripts, stylesheets or images fetched from anywhere.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|url\(http/i);
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(7);
    expect(html).toContain('SYN filled 补全');
    expect(html).toMatch(/2023-12-09<\/td><td>filled/);
    expect(html).toMatch(/2023-12-12<\/td><td>empty/);
    expect(html).toMatch(/<td>HPZL<\/td><td>plate_pattern<\/td><td class="n">2<\/td><td class="n">0\.960<\/td>/);
    expect(html).toMatch(/repair_quality\.json[^]*?not available/);
    expect(html).toContain('stages.04-repair.rows_in');
    expect(html).toContain('the figures match the stored metrics');
    expect(html).toContain('Hold-out: actual vs predicted');
    // The forecast section: the stored rolling-origin table per horizon and the busiest checkpoint's chart.
    expect(html).toContain('Short-term forecast 短时预测');
    expect(html).toMatch(/<td>1 h<\/td>(<td class="n">[^<]+<\/td>){8}<td>(cell_mean|persistence|same_hour_yesterday)<\/td>/);
    expect(html).toMatch(/Goal: 1 h ahead MAE ≤ 0\.9 × the best naive baseline — (met|NOT met)/);
    expect(html).toContain('Forecast vs actual: ');
  });

  it('says the model is not available rather than failing when there is none', async () => {
    const html = await buildReport(master, path.join(dir, 'nope.json'));
    expect(html).toMatch(/Model not available: no model file/);
    expect(html).toContain('Hold-out: actual vs predicted');
  });

  it('daily summary and hourly profile add up to the grid', async () => {
    const { grid } = await readMasterGrid(master);
    const d = dailySummary(grid);
    const total = d.completeReal.reduce((a, b) => a + b, 0) + d.otherReal.reduce((a, b) => a + b, 0);
    expect(total).toBe(grid.realRows);
    expect(d.syn.reduce((a, b) => a + b, 0)).toBe(grid.synRows);
    expect(d.perCheckpointReal.flat().reduce((a, b) => a + b, 0)).toBe(grid.realRows);
    const p = hourlyProfile(grid);
    const complete = grid.days.filter((x) => x.status === 'complete');
    const weekdayMean = complete.filter((x) => !x.weekend).reduce((a, x) => a + x.realPasses, 0) / p.days[0];
    expect(p.weekday.reduce((a, b) => a + b, 0)).toBeCloseTo(weekdayMean, 6);
  });
});
