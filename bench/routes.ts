/**
 * `npm run bench:routes`: how often the routes' vehicle identity pairs two passes of the SAME
 * vehicle, scored on the sample generator, which knows the vehicle behind every pass.
 *
 * The source masks plates to 4 characters (`苏CD7***`), so one masked plate is shared by many
 * vehicles. The identity (core/plates.ts `vehicleKey`, the cloned-plate rule's) takes a
 * masked plate as one vehicle only together with the same HPZL and the same known CLPPXH. This
 * command generates days (passes as the exports write them: blanks, misread plates), normalizes
 * the plates as stage 04 does, builds the transitions the routes count and reports:
 *   precision = transitions whose two passes are one true vehicle / all transitions,
 *   recall    = true transitions found / true transitions (consecutive passes of one true vehicle
 *               at different checkpoints within 2 hours, among the passes the identity could use),
 * next to two weaker identities as baselines: the masked plate alone, and plate + HPZL.
 */
import { int, optStr, parseFlags } from '../core/args.ts';
import type { Command } from '../core/command.ts';
import { classifyNormalized, normalizePlate, vehicleKey, VEHICLE_KEY_SEP } from '../core/plates.ts';
import { addDays, toEpochSeconds } from '../core/time.ts';
import { buildRegularPool, generateDay } from '../etl/sample/passes.ts';
import { CSV_REGIME, WEEKDAY_PASSES, XLSX_REGIME } from '../etl/sample/profile.ts';
import type { Vehicle } from '../etl/sample/vehicles.ts';
import { routeTransitions, ROUTE_MAX_GAP_S, type RoutePass } from '../store/routes.ts';

const usage = `usage: traffic bench:routes [--seed S] [--days N] [--start YYYY-MM-DD] [--passes-per-day N]

Scores the routes' vehicle identity (masked plate + HPZL + known CLPPXH) on generated days whose
vehicles are known: precision and recall of the transitions, with the plate alone and plate + HPZL
as baselines. Defaults: seed 7, 14 days from 2023-12-01, ${WEEKDAY_PASSES} passes per weekday (the real volume).`;

interface ScoredPass extends RoutePass {
  vehicle: Vehicle;
}

interface Score {
  name: string;
  transitions: number;
  correct: number;
  found: number;
}

export const command: Command = {
  name: 'bench:routes',
  summary: "score the routes' masked-plate vehicle identity on the sample generator",
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      seed: { type: 'string' },
      days: { type: 'string' },
      start: { type: 'string' },
      'passes-per-day': { type: 'string' },
    });
    const seed = int(values.seed, 'seed', 7, { min: 0, max: 2 ** 31 });
    const days = int(values.days, 'days', 14, { min: 1, max: 120 });
    const start = optStr(values.start, 'start') ?? '2023-12-01';
    const perDay = int(values['passes-per-day'], 'passes-per-day', WEEKDAY_PASSES, { min: 100, max: 1_000_000 });
    const t0 = performance.now();
    const pool = buildRegularPool(seed, perDay);
    const passes: ScoredPass[] = [];
    for (let d = 0; d < days; d++) {
      const day = addDays(start, d);
      // January's exports are the XLSX ones, with their own blank/misread rates.
      const regime = day >= '2024-01-01' ? XLSX_REGIME : CSV_REGIME;
      const base = toEpochSeconds(`${day} 00:00:00`);
      for (const p of generateDay(seed, day, perDay, regime, pool).passes) {
        passes.push({ kkmc: String(p.cp), gcxh: p.gcxh, hphm: normalizePlate(p.hphm), hpzl: p.hpzl, clppxh: p.clppxh, t: base + p.t, vehicle: p.vehicle! });
      }
    }
    const genS = (performance.now() - t0) / 1000;

    // The truth: consecutive passes of one vehicle at different checkpoints within 2 hours.
    const ids = new Map<Vehicle, number>();
    const trueKey = (p: ScoredPass): string => {
      let id = ids.get(p.vehicle);
      if (id === undefined) {
        id = ids.size;
        ids.set(p.vehicle, id);
      }
      return String(id);
    };
    const pairId = (a: RoutePass, b: RoutePass): string => a.gcxh + '|' + b.gcxh;

    const classes = new Map<string, string>();
    const cls = (hphm: string): string => {
      let c = classes.get(hphm);
      if (c === undefined) {
        c = classifyNormalized(hphm);
        classes.set(hphm, c);
      }
      return c;
    };
    const usable = (p: ScoredPass): boolean => cls(p.hphm) !== 'INVALID';
    const identities: Array<{ name: string; key: (p: ScoredPass) => string | null }> = [
      { name: 'plate + HPZL + known CLPPXH (the rule)', key: (p) => vehicleKey(p.hphm, p.hpzl, p.clppxh, cls(p.hphm) as 'FULL' | 'MASKED' | 'INVALID') },
      { name: 'plate + HPZL (baseline)', key: (p) => (usable(p) ? p.hphm + VEHICLE_KEY_SEP + p.hpzl : null) },
      { name: 'plate alone (baseline)', key: (p) => (usable(p) ? p.hphm : null) },
    ];
    const scores: Score[] = [];
    for (const idn of identities) {
      // Truth restricted to the passes this identity can use (a pass it drops cannot be paired).
      const eligible = passes.filter((p) => idn.key(p) !== null);
      const truth = new Set(routeTransitions(eligible, -Infinity, trueKey).map((tr) => pairId(tr.prev, tr.curr)));
      const got = routeTransitions(eligible, -Infinity, idn.key);
      let correct = 0;
      let found = 0;
      for (const tr of got) {
        if (tr.prev.vehicle === tr.curr.vehicle) correct++;
        if (truth.has(pairId(tr.prev, tr.curr))) found++;
      }
      scores.push({ name: idn.name, transitions: got.length, correct, found });
      const pct = (a: number, b: number): string => (b ? ((100 * a) / b).toFixed(1) + '%' : 'n/a');
      process.stdout.write(
        `${idn.name.padEnd(40)} transitions ${String(got.length).padStart(8)}  precision ${pct(correct, got.length).padStart(6)}  ` +
          `recall ${pct(found, truth.size).padStart(6)} of ${truth.size} true transitions (${eligible.length} usable passes)\n`,
      );
    }
    const rule = scores[0]!;
    const plate = scores[2]!;
    process.stdout.write(
      `sample: seed ${seed}, ${days} days from ${start}, ${passes.length} passes (${perDay}/weekday), ${ids.size} vehicles, ` +
        `generated in ${genS.toFixed(1)} s; a transition = consecutive passes at different checkpoints ≤ ${ROUTE_MAX_GAP_S / 3600} h apart\n` +
        `the rule keeps ${((100 * rule.transitions) / Math.max(1, plate.transitions)).toFixed(1)}% of the plate-alone transitions; ` +
        `wrong pairs: ${rule.transitions - rule.correct} vs ${plate.transitions - plate.correct} with the plate alone\n`,
    );
    return 0;
  },
};
