/**
 * Ridge regression from sufficient statistics: the design is never held in memory, only
 * n, Σw·x, Σw·y, Σw·xxᵀ, Σw·xy. A row can be dense or sparse (one-hot rows touch a handful of
 * columns) and carry a weight, so a grid of identical feature rows (every day of one
 * checkpoint-hour cell) is added once with weight = number of days.
 *
 * The intercept is handled explicitly and never penalized (an augmented column with no penalty,
 * which is the same as centring); the system is solved with ml-matrix (Cholesky). The exact
 * collinearity of one-hot blocks (each block sums to the intercept column) is what λ > 0 resolves.
 */
import { CholeskyDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { TrafficError } from '../core/errors.ts';

export interface LinearFit {
  intercept: number;
  coefficients: number[];
}

export class NormalEquations {
  readonly p: number;
  /** Total weight (rows, when every weight is 1). */
  n = 0;
  readonly sumX: Float64Array;
  sumY = 0;
  sumYY = 0;
  /** Upper triangle filled during accumulation, mirrored at solve time; row-major p×p. */
  readonly xtx: Float64Array;
  readonly xty: Float64Array;
  /** Groups of eliminated columns depend on the sparsity pattern only: found once. */
  private groupCache: { key: string; groups: number[][] } | undefined;

  constructor(p: number) {
    if (!Number.isInteger(p) || p < 1) throw new TrafficError('INTERNAL', `bad feature count ${p}`);
    this.p = p;
    this.sumX = new Float64Array(p);
    this.xtx = new Float64Array(p * p);
    this.xty = new Float64Array(p);
  }

  /** A dense row x (length p). */
  addDense(x: ArrayLike<number>, y: number, w = 1): void {
    const p = this.p;
    this.n += w;
    this.sumY += w * y;
    this.sumYY += w * y * y;
    for (let i = 0; i < p; i++) {
      const xi = x[i] ?? 0;
      if (xi === 0) continue;
      const wxi = w * xi;
      this.sumX[i]! += wxi;
      this.xty[i]! += wxi * y;
      const row = i * p;
      for (let j = i; j < p; j++) {
        const xj = x[j] ?? 0;
        if (xj !== 0) this.xtx[row + j]! += wxi * xj;
      }
    }
  }

  /** A sparse row: sorted, distinct column indices and their values. */
  addSparse(idx: ArrayLike<number>, val: ArrayLike<number>, y: number, w = 1): void {
    const p = this.p;
    this.n += w;
    this.sumY += w * y;
    this.sumYY += w * y * y;
    const k = idx.length;
    for (let a = 0; a < k; a++) {
      const i = idx[a]!;
      const wv = w * val[a]!;
      this.sumX[i]! += wv;
      this.xty[i]! += wv * y;
      const row = i * p;
      for (let b = a; b < k; b++) this.xtx[row + idx[b]!]! += wv * val[b]!;
    }
  }

  /** A 0/1 row given by the sorted, distinct indices of its ones. */
  addOnes(active: ArrayLike<number>, y: number, w = 1): void {
    const p = this.p;
    this.n += w;
    this.sumY += w * y;
    this.sumYY += w * y * y;
    const k = active.length;
    for (let a = 0; a < k; a++) {
      const i = active[a]!;
      this.sumX[i]! += w;
      this.xty[i]! += w * y;
      const row = i * p;
      for (let b = a; b < k; b++) this.xtx[row + active[b]!]! += w;
    }
  }

  /**
   * Adds (sign 1) or removes (sign −1) another set of equations over the same columns: the
   * equations of "every block but one" are the total minus that block, without re-reading rows.
   */
  addEquations(other: NormalEquations, sign: 1 | -1 = 1): void {
    if (other.p !== this.p) throw new TrafficError('INTERNAL', `feature counts differ: ${this.p} vs ${other.p}`);
    this.n += sign * other.n;
    this.sumY += sign * other.sumY;
    this.sumYY += sign * other.sumYY;
    for (let i = 0; i < this.p; i++) {
      this.sumX[i]! += sign * other.sumX[i]!;
      this.xty[i]! += sign * other.xty[i]!;
    }
    for (let i = 0; i < this.xtx.length; i++) this.xtx[i]! += sign * other.xtx[i]!;
  }

  /**
   * Solves the ridge system with an unpenalized intercept: the augmented normal equations
   *   [ n    Σxᵀ         ] [b0]   [Σy ]
   *   [ Σx   XᵀX + λ·S   ] [β ] = [Xᵀy]
   * (S = diag(penalty scale), 1 by default), which is the same as centring the columns and y.
   * λ = 0 is plain least squares (full column rank needed, else the minimum-norm SVD solution).
   *
   * `eliminate` lists columns to remove first by block elimination (Schur complement): they are
   * split into groups that never co-occur in a row (connected components of XᵀX), each group is
   * factored on its own, and ml-matrix then factors only the small remaining system. For the flow
   * model every checkpoint-specific column is eliminated, one group per checkpoint, so the cost
   * grows linearly with the number of checkpoints instead of cubically. Exact, not approximate;
   * used only when λ > 0 (the groups are then positive definite).
   */
  solve(lambda: number, opts: { penalty?: ArrayLike<number>; eliminate?: readonly number[] } = {}): LinearFit {
    if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new TrafficError('INTERNAL', `bad ridge lambda ${lambda}`);
    if (this.n <= 0) throw new TrafficError('INPUT_EMPTY', 'no rows to fit');
    const p = this.p;
    const pen = (j: number): number => lambda * (opts.penalty?.[j] ?? 1);
    const xtx = (i: number, j: number): number => (i <= j ? this.xtx[i * p + j]! : this.xtx[j * p + i]!);
    const elim = lambda > 0 ? [...new Set(opts.eliminate ?? [])].sort((a, b) => a - b) : [];
    const isElim = new Uint8Array(p);
    for (const j of elim) isElim[j] = 1;
    const dense: number[] = [];
    for (let j = 0; j < p; j++) if (!isElim[j]) dense.push(j);
    // Augmented dense system over [intercept, dense columns]; position k + 1 holds dense[k].
    const q = dense.length + 1;
    // Assembled in typed arrays (ml-matrix's per-element access is slow), factored by ml-matrix.
    const A = new Float64Array(q * q);
    const B = new Float64Array(q);
    const a = { get: (i: number, j: number): number => A[i * q + j]!, set: (i: number, j: number, v: number): void => void (A[i * q + j] = v) };
    const b = { get: (i: number): number => B[i]!, set: (i: number, _j: number, v: number): void => void (B[i] = v) };
    const pos = new Map(dense.map((j, k) => [j, k + 1]));
    const rowOf = (j: number): number => (j < 0 ? 0 : pos.get(j)!);
    const cross = (i: number, j: number): number => (i < 0 ? this.sumX[j]! : xtx(i, j)); // i = -1: intercept
    a.set(0, 0, this.n);
    b.set(0, 0, this.sumY);
    dense.forEach((i, k) => {
      a.set(0, k + 1, this.sumX[i]!);
      a.set(k + 1, 0, this.sumX[i]!);
      b.set(k + 1, 0, this.xty[i]!);
      for (let l = k; l < dense.length; l++) {
        const j = dense[l]!;
        const v = xtx(i, j) + (i === j ? pen(i) : 0);
        a.set(k + 1, l + 1, v);
        a.set(l + 1, k + 1, v);
      }
    });
    // Eliminate each group G: A −= C_G D_G⁻¹ C_Gᵀ and b −= C_G D_G⁻¹ r_G, where D_G is the group's
    // own block (+ penalty), C_G its co-occurrence with the intercept and dense columns.
    const key = elim.join(',');
    if (this.groupCache?.key !== key) this.groupCache = { key, groups: components(elim, this.xtx, p) };
    const solved: { cols: number[]; links: number[]; sol: Float64Array; w: number }[] = [];
    for (const cols of this.groupCache.groups) {
      const m = cols.length;
      // Dense columns (and the intercept, -1) that co-occur with the group.
      const links = [-1, ...dense.filter((i) => cols.some((j) => xtx(i, j) !== 0))];
      const w = links.length + 1;
      const d = new Float64Array(m * m);
      const sol = new Float64Array(m * w); // becomes D_G⁻¹ [C_Gᵀ | r_G], row-major m × w
      for (let r = 0; r < m; r++) {
        const i = cols[r]!;
        // cols are sorted, so (i, j) with j ≥ i is in the stored upper triangle.
        for (let c = r; c < m; c++) {
          const v = this.xtx[i * p + cols[c]!]!;
          d[r * m + c] = v;
          d[c * m + r] = v;
        }
        d[r * m + r]! += pen(i);
        for (let c = 0; c < links.length; c++) sol[r * w + c] = cross(links[c]!, i);
        sol[r * w + links.length] = this.xty[i]!;
      }
      if (!choleskySolveInPlace(d, m, sol, w)) return this.solve(lambda, { penalty: opts.penalty });
      // Symmetric update, computed once per pair so the matrix stays exactly symmetric.
      const c = links.map((l) => cols.map((j) => cross(l, j)));
      for (let r = 0; r < links.length; r++) {
        const ri = rowOf(links[r]!);
        const cr = c[r]!;
        let bs = 0;
        for (let t = 0; t < m; t++) bs += cr[t]! * sol[t * w + links.length]!;
        b.set(ri, 0, b.get(ri) - bs);
        for (let k = r; k < links.length; k++) {
          let v = 0;
          for (let t = 0; t < m; t++) v += cr[t]! * sol[t * w + k]!;
          const rk = rowOf(links[k]!);
          const nv = a.get(ri, rk) - v;
          a.set(ri, rk, nv);
          a.set(rk, ri, nv);
        }
      }
      solved.push({ cols, links, sol, w });
    }
    const am = new Matrix(Array.from({ length: q }, (_, i) => Array.from(A.subarray(i * q, (i + 1) * q))));
    const bm = Matrix.columnVector(Array.from(B));
    let x: Matrix | undefined;
    const chol = new CholeskyDecomposition(am);
    if (chol.isPositiveDefinite()) x = chol.solve(bm);
    // Singular (λ = 0 on a collinear design): the minimum-norm least-squares solution.
    if (!x || !allFinite(x)) x = new SingularValueDecomposition(am, { autoTranspose: true }).solve(bm);
    const head = x.getColumn(0);
    const intercept = head[0]!;
    const coefficients = new Array<number>(p).fill(0);
    dense.forEach((j, k) => (coefficients[j] = head[k + 1]!));
    // Back-substitute each group: β_G = D_G⁻¹ r_G − D_G⁻¹ C_Gᵀ [b0; β_links].
    for (const { cols, links, sol, w } of solved) {
      cols.forEach((j, t) => {
        let v = sol[t * w + links.length]!;
        links.forEach((l, c) => (v -= sol[t * w + c]! * (l < 0 ? intercept : coefficients[l]!)));
        coefficients[j] = v;
      });
    }
    if (!Number.isFinite(intercept) || !coefficients.every(Number.isFinite)) {
      throw new TrafficError('INTERNAL', 'ridge solve produced non-finite coefficients');
    }
    return { intercept, coefficients };
  }
}

/**
 * Solves D X = B in place for a small symmetric positive definite D (m × m, row-major) and
 * B (m × w, row-major; overwritten by X). Returns false when D is not positive definite. Used for
 * the per-checkpoint groups, where ml-matrix's per-element access costs more than the arithmetic.
 */
function choleskySolveInPlace(d: Float64Array, m: number, x: Float64Array, w: number): boolean {
  for (let j = 0; j < m; j++) {
    let s = d[j * m + j]!;
    for (let k = 0; k < j; k++) s -= d[j * m + k]! * d[j * m + k]!;
    if (!(s > 0)) return false;
    const djj = Math.sqrt(s);
    d[j * m + j] = djj;
    for (let i = j + 1; i < m; i++) {
      let t = d[i * m + j]!;
      for (let k = 0; k < j; k++) t -= d[i * m + k]! * d[j * m + k]!;
      d[i * m + j] = t / djj;
    }
  }
  // L y = B, then Lᵀ x = y, column block by column block.
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < i; k++) {
      const l = d[i * m + k]!;
      if (l !== 0) for (let c = 0; c < w; c++) x[i * w + c]! -= l * x[k * w + c]!;
    }
    const lii = d[i * m + i]!;
    for (let c = 0; c < w; c++) x[i * w + c]! /= lii;
  }
  for (let i = m - 1; i >= 0; i--) {
    for (let k = i + 1; k < m; k++) {
      const l = d[k * m + i]!;
      if (l !== 0) for (let c = 0; c < w; c++) x[i * w + c]! -= l * x[k * w + c]!;
    }
    const lii = d[i * m + i]!;
    for (let c = 0; c < w; c++) x[i * w + c]! /= lii;
  }
  return true;
}

/**
 * Connected components of the sorted columns `items` under "co-occur" (a non-zero XᵀX entry in
 * the upper triangle `xtx`, p × p row-major), each sorted. Union-find on typed arrays: this runs
 * for every new set of equations (each CV fold, half-life trial and out-of-fold profile).
 */
function components(items: readonly number[], xtx: Float64Array, p: number): number[][] {
  const parent = new Int32Array(p).fill(-1);
  for (const i of items) parent[i] = i;
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const next = parent[i]!;
      parent[i] = r;
      i = next;
    }
    return r;
  };
  for (let a = 0; a < items.length; a++) {
    const i = items[a]!;
    const row = i * p;
    for (let b = a + 1; b < items.length; b++) {
      const j = items[b]!;
      if (xtx[row + j] !== 0) {
        const ri = find(i);
        const rj = find(j);
        if (ri !== rj) parent[ri] = rj;
      }
    }
  }
  const groups = new Map<number, number[]>();
  for (const i of items) {
    const r = find(i);
    let g = groups.get(r);
    if (!g) groups.set(r, (g = []));
    g.push(i);
  }
  return [...groups.values()];
}

function allFinite(m: Matrix): boolean {
  for (let i = 0; i < m.rows; i++) if (!Number.isFinite(m.get(i, 0))) return false;
  return true;
}
