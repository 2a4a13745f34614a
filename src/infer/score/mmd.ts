/**
 * Maximum mean discrepancy between two samples (Gretton, Borgwardt, Rasch, Schölkopf &
 * Smola 2012), with the Gaussian kernel k(x, y) = exp(−‖x − y‖² / (2h²)) and the median
 * heuristic for h. Used to compare generated draws with held-out data.
 */

/** Rows as arrays, or a flat row-major Float64Array (then `dim` is required). */
export type Rows = readonly ArrayLike<number>[] | Float64Array;

/** Options of {@link mmd2}. */
export interface MmdOptions {
  /** Row length when the samples are flat Float64Arrays. */
  dim?: number;
  /** Kernel bandwidth h; default: the median distance between rows of the pooled sample. */
  bandwidth?: number;
  /** At most this many pooled rows (the first ones of each sample, evenly) enter the median (default 1000). */
  medianPoints?: number;
}

/** The result of {@link mmd2}. */
export interface MmdResult {
  /** The unbiased estimate MMD²_u (it can be slightly negative when the laws agree). */
  mmd2: number;
  /** The bandwidth h used. */
  bandwidth: number;
}

/** Returns rows as a flat Float64Array with its row count and length; RangeErrors name `where`. */
export function flattenRows(x: Rows, where: string, dim?: number): { data: Float64Array; n: number; dim: number } {
  if (x instanceof Float64Array) {
    if (dim === undefined || !Number.isInteger(dim) || dim < 1) {
      throw new RangeError(`${where}: a flat Float64Array needs a positive integer dim, got ${String(dim)}`);
    }
    if (x.length % dim !== 0) throw new RangeError(`${where}: ${x.length} values do not split into rows of ${dim}`);
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i])) throw new RangeError(`${where}: value ${i} (row ${Math.floor(i / dim)}) is ${x[i]}, not finite`);
    }
    return { data: x, n: x.length / dim, dim };
  }
  if (!Array.isArray(x)) throw new RangeError(`${where}: expected an array of rows or a Float64Array`);
  const n = x.length;
  if (n === 0) throw new RangeError(`${where}: no rows`);
  const d = x[0]?.length;
  if (!(d >= 1)) throw new RangeError(`${where}: rows must be non-empty arrays of numbers`);
  if (dim !== undefined && dim !== d) throw new RangeError(`${where}: rows have length ${d}, expected ${dim}`);
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const r = x[i];
    if (!r || r.length !== d) throw new RangeError(`${where}: row ${i} has length ${r?.length}, expected ${d}`);
    for (let j = 0; j < d; j++) {
      const v = r[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${where}: row ${i}, column ${j} is ${String(v)}, not a finite number`);
      data[i * d + j] = v;
    }
  }
  return { data, n, dim: d };
}

function sqDist(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const u = a[i * d + k] - b[j * d + k];
    s += u * u;
  }
  return s;
}

/** Returns the median distance between distinct rows of the pooled sample (up to `cap` rows). */
export function medianDistance(x: Float64Array, nx: number, y: Float64Array, ny: number, d: number, cap = 1000): number {
  const mx = Math.min(nx, Math.ceil(cap / 2));
  const my = Math.min(ny, cap - mx);
  const pool = new Float64Array((mx + my) * d);
  pool.set(x.subarray(0, mx * d));
  pool.set(y.subarray(0, my * d), mx * d);
  const m = mx + my;
  const ds = new Float64Array((m * (m - 1)) / 2);
  let c = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) ds[c++] = sqDist(pool, i, pool, j, d);
  ds.sort();
  const med = ds.length % 2 ? ds[(ds.length - 1) / 2] : 0.5 * (ds[ds.length / 2 - 1] + ds[ds.length / 2]);
  return Math.sqrt(med);
}

/**
 * Returns the unbiased estimate of MMD²(P, Q) from x ~ P and y ~ Q:
 *   1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j).
 * Its null standard deviation is O(1/n), so differences well above that between two
 * candidate samplers are meaningful. O((m + n)²·d) time.
 *
 * @example
 * mmd2(generated, heldOut).mmd2;   // ≈ 0 when the laws agree
 */
export function mmd2(x: Rows, y: Rows, opts: MmdOptions = {}): MmdResult {
  const X = flattenRows(x, 'mmd2: x', opts.dim);
  const Y = flattenRows(y, 'mmd2: y', opts.dim ?? X.dim);
  if (X.dim !== Y.dim) throw new RangeError(`mmd2: x has rows of ${X.dim}, y of ${Y.dim}`);
  if (X.n < 2 || Y.n < 2) throw new RangeError(`mmd2: each sample needs at least 2 rows (got ${X.n} and ${Y.n})`);
  const d = X.dim;
  let h = opts.bandwidth;
  if (h === undefined) {
    const cap = opts.medianPoints ?? 1000;
    if (!Number.isInteger(cap) || cap < 2) throw new RangeError(`mmd2: medianPoints must be an integer >= 2, got ${cap}`);
    h = medianDistance(X.data, X.n, Y.data, Y.n, d, cap);
    if (!(h > 0)) throw new RangeError('mmd2: the median distance is 0 (all rows equal?); pass a bandwidth');
  } else if (!(h > 0) || !Number.isFinite(h)) {
    throw new RangeError(`mmd2: bandwidth must be a positive finite number, got ${h}`);
  }
  const inv = -1 / (2 * h * h);
  const within = (a: Float64Array, n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += Math.exp(inv * sqDist(a, i, a, j, d));
    return (2 * s) / (n * (n - 1));
  };
  let cross = 0;
  for (let i = 0; i < X.n; i++) for (let j = 0; j < Y.n; j++) cross += Math.exp(inv * sqDist(X.data, i, Y.data, j, d));
  const v = within(X.data, X.n) + within(Y.data, Y.n) - (2 * cross) / (X.n * Y.n);
  return { mmd2: v, bandwidth: h };
}
