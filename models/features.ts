/**
 * Feature encoding of the flow model. Every feature is a conjunction of conditions on the three
 * inputs a prediction gets (checkpoint code, hour 0–23, weekend 0/1): 0 unless all of them hold,
 * then 1 (or scale[hour] for a term with a scale). `{kkmc:"S325_Suining_K63", hour:7}` is the
 * checkpoint×hour one-hot. The model JSON stores these terms next to the coefficients, so the
 * predictor needs nothing but the JSON.
 *
 * Default blocks (collinear on purpose, resolved by the ridge penalty):
 *   kkmc, weekend          levels
 *   kkmc:hour>=            each checkpoint's own daily shape in cumulative "step" encoding (1 when
 *                          hour ≥ h): a coefficient is the jump from hour h−1 to h, so the penalty
 *                          smooths a shape instead of pulling every hour towards the mean
 *   kkmc:weekend           each checkpoint's weekend level (additive)
 *   kkmc:weekend×profile   each checkpoint's weekend factor: the regressor is that checkpoint's
 *                          weekday mean per hour on the fitting days, so weekend = weekday shape ×
 *                          (1 + coefficient) is one cheap parameter
 *   kkmc:hour:weekend      each checkpoint's own weekend hour (one-hot; its penalty has its own
 *                          ratio to λ, train.ts)
 * Unpenalized, this is the saturated cell mean (baseline b). The penalty is what makes it
 * better: a weekend cell, which has ~2/7 of the days, leans on its checkpoint's weekday shape ×
 * weekend factor unless its own data insist; a weekday hour leans on its neighbours. Shapes are
 * never shared between checkpoints: measured on synthetic masters, common blocks (hour>=,
 * hour>=:weekend) are cheap for the penalty and pushed the busy checkpoints' shape onto quiet ones
 * (a nearly silent checkpoint, like G237 荣庄, got 2× the cell mean's error).
 * Columns of different checkpoints never co-occur, which the solver uses (ridge.ts, eliminate).
 * Other blocks (one-hot hour and kkmc:hour, common shapes, …) remain available through
 * TrainOptions.blocks for experiments.
 */
export const HOURS = 24;

export interface FeatureTerm {
  kkmc?: string;
  hour?: number;
  /** hour ≥ this (1–23): cumulative "step" encoding, so the penalty falls on jumps between hours. */
  hour_from?: number;
  weekend?: 1;
  /**
   * A numeric regressor instead of an indicator: when the other conditions hold, the feature is
   * scale[hour] (24 values). Used for a checkpoint's weekday profile on weekends, so that one
   * coefficient per checkpoint says "weekend = weekday shape × (1 + coefficient)".
   */
  scale?: number[];
}

export const ALL_BLOCKS = [
  'kkmc',
  'hour',
  'weekend',
  'kkmc:hour',
  'kkmc:weekend',
  'hour:weekend',
  'kkmc:hour:weekend',
  'hour>=',
  'kkmc:hour>=',
  'hour>=:weekend',
  'kkmc:hour>=:weekend',
  'kkmc:weekend×profile',
] as const;
export type Block = (typeof ALL_BLOCKS)[number];
export const DEFAULT_BLOCKS: readonly Block[] = ['kkmc', 'weekend', 'kkmc:hour>=', 'kkmc:weekend', 'kkmc:weekend×profile', 'kkmc:hour:weekend'];

/**
 * `profiles` (checkpoint code → 24 weekday mean passes from the training days) feeds the
 * kkmc:weekend×profile block; it is required when that block is asked for.
 */
export function buildTerms(
  checkpoints: readonly string[],
  blocks: readonly Block[] = DEFAULT_BLOCKS,
  profiles?: ReadonlyMap<string, readonly number[]>,
): FeatureTerm[] {
  const terms: FeatureTerm[] = [];
  for (const block of blocks) {
    switch (block) {
      case 'kkmc':
        for (const k of checkpoints) terms.push({ kkmc: k });
        break;
      case 'hour':
        for (let h = 0; h < HOURS; h++) terms.push({ hour: h });
        break;
      case 'weekend':
        terms.push({ weekend: 1 });
        break;
      case 'kkmc:hour':
        for (const k of checkpoints) for (let h = 0; h < HOURS; h++) terms.push({ kkmc: k, hour: h });
        break;
      case 'kkmc:weekend':
        for (const k of checkpoints) terms.push({ kkmc: k, weekend: 1 });
        break;
      case 'hour:weekend':
        for (let h = 0; h < HOURS; h++) terms.push({ hour: h, weekend: 1 });
        break;
      case 'hour>=':
        for (let h = 1; h < HOURS; h++) terms.push({ hour_from: h });
        break;
      case 'kkmc:hour>=':
        for (const k of checkpoints) for (let h = 1; h < HOURS; h++) terms.push({ kkmc: k, hour_from: h });
        break;
      case 'hour>=:weekend':
        for (let h = 1; h < HOURS; h++) terms.push({ hour_from: h, weekend: 1 });
        break;
      case 'kkmc:hour>=:weekend':
        for (const k of checkpoints) for (let h = 1; h < HOURS; h++) terms.push({ kkmc: k, hour_from: h, weekend: 1 });
        break;
      case 'kkmc:weekend×profile':
        for (const k of checkpoints) {
          const p = profiles?.get(k);
          if (!p || p.length !== HOURS) throw new Error(`no weekday profile for ${k}`);
          terms.push({ kkmc: k, weekend: 1, scale: [...p] });
        }
        break;
      case 'kkmc:hour:weekend':
        for (const k of checkpoints) for (let h = 0; h < HOURS; h++) terms.push({ kkmc: k, hour: h, weekend: 1 });
        break;
    }
  }
  return terms;
}

/** `kkmc=S325_Suining_K63&hour=7`, `weekend=1`: readable names stored beside the terms. */
export function termName(t: FeatureTerm): string {
  const parts: string[] = [];
  if (t.kkmc !== undefined) parts.push(`kkmc=${t.kkmc}`);
  if (t.hour !== undefined) parts.push(`hour=${t.hour}`);
  if (t.hour_from !== undefined) parts.push(`hour>=${t.hour_from}`);
  if (t.weekend !== undefined) parts.push(`weekend=${t.weekend}`);
  return parts.join('&') + (t.scale ? '×profile[hour]' : '');
}

/** The feature's value for an input: 0 unless every condition holds, then 1 (or scale[hour]). */
export function termValue(t: FeatureTerm, kkmc: string, hour: number, weekend: 0 | 1): number {
  if (!termMatches(t, kkmc, hour, weekend)) return 0;
  return t.scale ? t.scale[hour]! : 1;
}

export function termMatches(t: FeatureTerm, kkmc: string, hour: number, weekend: 0 | 1): boolean {
  return (
    (t.kkmc === undefined || t.kkmc === kkmc) &&
    (t.hour === undefined || t.hour === hour) &&
    (t.hour_from === undefined || hour >= t.hour_from) &&
    (t.weekend === undefined || t.weekend === weekend)
  );
}

/** Cell index of (checkpoint index, hour, weekend) in tables of K×24×2 values. */
export function cellIndex(c: number, hour: number, weekend: 0 | 1): number {
  return (c * HOURS + hour) * 2 + weekend;
}

/** The non-zero features of one cell: sorted indices and their values. */
export interface CellRow {
  idx: Int32Array;
  val: Float64Array;
}

/**
 * For every cell (checkpoint, hour, weekend), the features that are not 0. Features depend on
 * the cell only, so the design of the whole grid is these K×48 rows with weights (number of
 * days), which is what makes training cost independent of the row count.
 */
export function activeByCell(checkpoints: readonly string[], terms: readonly FeatureTerm[]): CellRow[] {
  // Term by term over the cells each one can match (a term with a checkpoint matches only that
  // checkpoint's 48 cells), so the cost is the number of non-zeros, not cells × terms: the design
  // is rebuilt for every profile fit (CV folds, half-life trials, out-of-fold profiles).
  const K = checkpoints.length;
  const index = new Map(checkpoints.map((k, c) => [k, c]));
  const idx: number[][] = Array.from({ length: K * HOURS * 2 }, () => []);
  const val: number[][] = Array.from({ length: K * HOURS * 2 }, () => []);
  terms.forEach((t, i) => {
    const c0 = t.kkmc === undefined ? 0 : (index.get(t.kkmc) ?? -1);
    if (c0 < 0) return;
    const c1 = t.kkmc === undefined ? K : c0 + 1;
    for (let c = c0; c < c1; c++) {
      for (let h = 0; h < HOURS; h++) {
        for (const w of [0, 1] as const) {
          const v = termValue(t, checkpoints[c]!, h, w);
          if (v === 0) continue;
          const cell = cellIndex(c, h, w);
          idx[cell]!.push(i);
          val[cell]!.push(v);
        }
      }
    }
  });
  return idx.map((ix, cell) => ({ idx: Int32Array.from(ix), val: Float64Array.from(val[cell]!) }));
}
