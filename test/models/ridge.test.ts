import MLR from 'ml-regression-multivariate-linear';
import { describe, expect, it } from 'vitest';
import { NormalEquations } from '../../models/ridge.ts';
import { mulberry32 } from '../../models/synthetic-master.ts';

describe('ridge solver from sufficient statistics', () => {
  it('recovers the coefficients of noiseless linear data exactly (λ = 0)', () => {
    const rng = mulberry32(7);
    const beta = [2.5, -1.25, 0.5, 3];
    const intercept = 10;
    const ne = new NormalEquations(4);
    const xs: number[][] = [];
    const ys: number[][] = [];
    for (let i = 0; i < 200; i++) {
      const x = [rng() * 10, rng() * 5, rng() > 0.5 ? 1 : 0, rng() * 24];
      const y = intercept + x.reduce((s, v, j) => s + v * beta[j]!, 0);
      ne.addDense(x, y);
      xs.push(x);
      ys.push([y]);
    }
    const fit = ne.solve(0);
    expect(fit.intercept).toBeCloseTo(intercept, 9);
    fit.coefficients.forEach((c, j) => expect(c).toBeCloseTo(beta[j]!, 9));
    // Same answer as the library the original plan used (its intercept is the last weight).
    const lib = new MLR(xs, ys);
    expect(lib.weights.at(-1)![0]).toBeCloseTo(fit.intercept, 6);
    beta.forEach((_, j) => expect(lib.weights[j]![0]).toBeCloseTo(fit.coefficients[j]!, 6));
  });

  it('weights are the same as repeating a row', () => {
    const a = new NormalEquations(2);
    const b = new NormalEquations(2);
    const rows: [number[], number, number][] = [
      [[1, 2], 5, 3],
      [[0, 1], 1, 2],
      [[2, 0], 4, 1],
      [[1, 1], 3, 4],
    ];
    for (const [x, y, w] of rows) {
      a.addDense(x, y, w);
      for (let k = 0; k < w; k++) b.addDense(x, y);
    }
    const fa = a.solve(0.5);
    const fb = b.solve(0.5);
    expect(fa.intercept).toBeCloseTo(fb.intercept, 12);
    fa.coefficients.forEach((c, j) => expect(c).toBeCloseTo(fb.coefficients[j]!, 12));
  });

  it('collinear one-hots (two full factors + intercept) fit without NaN and predict right', () => {
    // y = 5 + a[f] + b[g]: both one-hot blocks sum to the intercept column, so XᵀX is singular.
    const a = [0, 3, -2];
    const b = [1, -1, 4, 0];
    const ne = new NormalEquations(7);
    for (let f = 0; f < 3; f++) for (let g = 0; g < 4; g++) ne.addOnes([f, 3 + g], 5 + a[f]! + b[g]!, 2);
    for (const lambda of [0, 1e-6]) {
      const fit = ne.solve(lambda);
      expect(fit.coefficients.every(Number.isFinite)).toBe(true);
      for (let f = 0; f < 3; f++) {
        for (let g = 0; g < 4; g++) {
          const pred = fit.intercept + fit.coefficients[f]! + fit.coefficients[3 + g]!;
          expect(pred).toBeCloseTo(5 + a[f]! + b[g]!, 4);
        }
      }
    }
  });

  it('block elimination of columns that never co-occur gives the same solution as the dense solve', () => {
    // Columns 0-1: factor A; 2-3: factor B; 4-7: the A×B cell one-hot (never co-occur).
    const ne = new NormalEquations(8);
    const rng = mulberry32(3);
    for (let f = 0; f < 2; f++) {
      for (let g = 0; g < 2; g++) {
        for (let k = 0; k < 5; k++) ne.addOnes([f, 2 + g, 4 + f * 2 + g], 10 * f + 3 * g + rng() * 4, 1 + k);
      }
    }
    const dense = ne.solve(0.7);
    const schur = ne.solve(0.7, { eliminate: [4, 5, 6, 7] });
    // Factor A eliminated too: groups {0,4,5} and {1,6,7} are found from co-occurrence.
    const groups = ne.solve(0.7, { eliminate: [0, 1, 4, 5, 6, 7] });
    groups.coefficients.forEach((c, j) => expect(c).toBeCloseTo(dense.coefficients[j]!, 9));
    expect(schur.intercept).toBeCloseTo(dense.intercept, 9);
    schur.coefficients.forEach((c, j) => expect(c).toBeCloseTo(dense.coefficients[j]!, 9));
    // Per-column penalty scales too.
    const pen = [1, 1, 1, 1, 5, 5, 5, 5];
    const d2 = ne.solve(0.7, { penalty: pen });
    const s2 = ne.solve(0.7, { penalty: pen, eliminate: [0, 1, 4, 5, 6, 7] });
    s2.coefficients.forEach((c, j) => expect(c).toBeCloseTo(d2.coefficients[j]!, 9));
  });

  it('refuses to fit nothing', () => {
    expect(() => new NormalEquations(3).solve(1)).toThrow(/no rows/);
  });
});
