/**
 * Float64 statistics for property-testing inference: goodness-of-fit tests (chi-square,
 * one- and two-sample Kolmogorov–Smirnov, uniformity of SBC ranks), the MMD two-sample
 * permutation test, multiple-testing corrections, and effective sample size / MCSE.
 *
 * Everything here works on plain JS numbers (no tensors). Random choices (permutations,
 * tie-breaking) come from a fixed-seed `Key`, so every result is reproducible.
 */
import { Key } from '../tensor/random';
import { gammaincF64, gammainccF64, ndtrF64 } from '../tensor/special';
import { fft } from '../infer/mcmc/fft';

// ---------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------

function checkFiniteArray(fn: string, what: string, xs: ArrayLike<number>, minLength = 1): void {
  if (xs.length < minLength) throw new RangeError(`${fn}: ${what} needs at least ${minLength} values, got ${xs.length}`);
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new RangeError(`${fn}: ${what}[${i}] is ${xs[i]}, not a finite number`);
  }
}

function checkProbabilities(fn: string, ps: readonly number[]): void {
  for (let i = 0; i < ps.length; i++) {
    if (!(ps[i] >= 0 && ps[i] <= 1)) throw new RangeError(`${fn}: p-value ${i} is ${ps[i]}, not in [0, 1]`);
  }
}

// ---------------------------------------------------------------------------------------
// Incomplete gamma and the chi-square distribution
// ---------------------------------------------------------------------------------------

/**
 * Returns Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function
 * (the survival function of Gamma(a, 1) at x). Float64, ~1e-14 relative.
 *
 * @example
 * gammaQ(1, 2); // e^{-2} = 0.1353...
 */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !Number.isFinite(a)) throw new RangeError(`gammaQ: a must be a positive finite number, got ${a}`);
  if (!(x >= 0)) throw new RangeError(`gammaQ: x must be a nonnegative number, got ${x}`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return gammainccF64(a, x);
}

/**
 * Returns P(a, x) = γ(a, x) / Γ(a), the regularized lower incomplete gamma function
 * (the CDF of Gamma(a, 1) at x).
 *
 * @example
 * gammaP(1, 2); // 1 - e^{-2} = 0.8646...
 */
export function gammaP(a: number, x: number): number {
  if (!(a > 0) || !Number.isFinite(a)) throw new RangeError(`gammaP: a must be a positive finite number, got ${a}`);
  if (!(x >= 0)) throw new RangeError(`gammaP: x must be a nonnegative number, got ${x}`);
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return gammaincF64(a, x);
}

/**
 * Returns P(X >= statistic) for X ~ χ²(df): the p-value of a chi-square statistic,
 * Q(df/2, statistic/2).
 *
 * @example
 * chiSquarePValue(3.841459, 1); // ≈ 0.05
 */
export function chiSquarePValue(statistic: number, df: number): number {
  if (!(df > 0) || !Number.isFinite(df)) throw new RangeError(`chiSquarePValue: df must be a positive finite number, got ${df}`);
  if (!(statistic >= 0)) throw new RangeError(`chiSquarePValue: statistic must be a nonnegative number, got ${statistic}`);
  return gammaQ(df / 2, statistic / 2);
}

/** A chi-square goodness-of-fit result. */
export interface ChiSquareResult {
  /** Σ (observed - expected)² / expected. */
  statistic: number;
  df: number;
  pValue: number;
}

/**
 * Returns Pearson's chi-square goodness-of-fit test of observed counts against expected
 * counts (df = number of cells - 1 - `ddof`). Expected counts below 5 make the χ²
 * approximation poor; the caller chooses cells (see `rankUniformityTest`).
 *
 * @example
 * chiSquareTest([18, 22, 20, 40], [25, 25, 25, 25]).pValue; // ≈ 0.0012
 */
export function chiSquareTest(observed: readonly number[], expected: readonly number[], ddof = 0): ChiSquareResult {
  if (observed.length !== expected.length) {
    throw new RangeError(`chiSquareTest: ${observed.length} observed counts but ${expected.length} expected counts`);
  }
  checkFiniteArray('chiSquareTest', 'observed', observed, 2);
  checkFiniteArray('chiSquareTest', 'expected', expected, 2);
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    if (!(expected[i] > 0)) throw new RangeError(`chiSquareTest: expected[${i}] is ${expected[i]}, must be positive`);
    if (observed[i] < 0) throw new RangeError(`chiSquareTest: observed[${i}] is ${observed[i]}, must be nonnegative`);
    const d = observed[i] - expected[i];
    statistic += (d * d) / expected[i];
  }
  const df = observed.length - 1 - ddof;
  if (df < 1) throw new RangeError(`chiSquareTest: df = ${df} (cells ${observed.length}, ddof ${ddof}); need at least 1`);
  return { statistic, df, pValue: chiSquarePValue(statistic, df) };
}

// ---------------------------------------------------------------------------------------
// The Kolmogorov distribution
// ---------------------------------------------------------------------------------------

/**
 * Returns P(sup |B(t)| > λ) for a Brownian bridge B: the limiting Kolmogorov survival
 * function Q_KS(λ) = 2 Σ_{k>=1} (-1)^{k-1} e^{-2k²λ²}. For small λ that series converges
 * slowly, so the dual (Jacobi theta) form 1 - √(2π)/λ Σ e^{-(2k-1)²π²/(8λ²)} is used.
 *
 * @example
 * kolmogorovSurvival(1.3581); // ≈ 0.05
 */
export function kolmogorovSurvival(lambda: number): number {
  if (Number.isNaN(lambda)) throw new RangeError('kolmogorovSurvival: lambda is NaN');
  if (lambda <= 0) return 1;
  if (lambda < 1) {
    const c = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let s = 0;
    for (let k = 1; k <= 20; k++) s += Math.exp(-(2 * k - 1) * (2 * k - 1) * c);
    return Math.max(0, Math.min(1, 1 - (Math.sqrt(2 * Math.PI) / lambda) * s));
  }
  let s = 0;
  for (let k = 1; k <= 100; k++) {
    const t = Math.exp(-2 * k * k * lambda * lambda);
    s += k % 2 === 1 ? t : -t;
    if (t < 1e-17) break;
  }
  return Math.max(0, Math.min(1, 2 * s));
}

/** Square matrix product C = A B (row-major, m x m). */
function matMul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const c = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k];
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) c[i * m + j] += aik * b[k * m + j];
    }
  }
  return c;
}

/**
 * H^n with a separate base-10 exponent: entries grow like n!/n^n's inverse, so they are
 * rescaled by 1e-140 whenever the middle entry passes 1e140 (as in Marsaglia et al.).
 */
function matPower(h: Float64Array, m: number, n: number): { v: Float64Array; e: number } {
  if (n === 1) return { v: Float64Array.from(h), e: 0 };
  const half = matPower(h, m, Math.floor(n / 2));
  let v = matMul(half.v, half.v, m);
  let e = 2 * half.e;
  if (n % 2 === 1) v = matMul(h, v, m);
  const mid = Math.floor(m / 2);
  if (v[mid * m + mid] > 1e140) {
    for (let i = 0; i < m * m; i++) v[i] *= 1e-140;
    e += 140;
  }
  return { v, e };
}

/** Largest size of the Marsaglia–Tsang–Wang matrix evaluated exactly (cost ∝ m³ log n). */
const MTW_MAX_M = 151;

/**
 * Returns P(D_n >= d) for the one-sample two-sided Kolmogorov–Smirnov statistic D_n of n
 * draws from a continuous distribution. Exact by Marsaglia, Tsang & Wang (2003, J. Stat.
 * Softw. 8(18)) when the matrix is small; in the far tail (nd² > 7.24, or > 3.76 with
 * n > 99) their tail formula 2 exp(-(2.000071 + .331/√n + 1.409/n) nd²); otherwise the
 * Kolmogorov limit with Stephens' (1970) correction λ = (√n + 0.12 + 0.11/√n) d.
 *
 * @example
 * kolmogorovPValue(10, 0.40925); // ≈ 0.05 (the tabulated 5% critical value for n = 10)
 */
export function kolmogorovPValue(n: number, d: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`kolmogorovPValue: n must be a positive integer, got ${n}`);
  if (Number.isNaN(d)) throw new RangeError('kolmogorovPValue: d is NaN');
  if (d <= 0) return 1;
  if (d >= 1) return 0;
  // D_n >= 1/(2n) always; below that P(D_n >= d) = 1.
  if (d <= 1 / (2 * n)) return 1;
  const s = d * d * n;
  if (s > 7.24 || (s > 3.76 && n > 99)) {
    return Math.min(1, 2 * Math.exp(-(2.000071 + 0.331 / Math.sqrt(n) + 1.409 / n) * s));
  }
  const k = Math.floor(n * d) + 1;
  const m = 2 * k - 1;
  if (m > MTW_MAX_M) {
    const sn = Math.sqrt(n);
    return kolmogorovSurvival((sn + 0.12 + 0.11 / sn) * d);
  }
  const h = k - n * d;
  const H = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) H[i * m + j] = i - j + 1 < 0 ? 0 : 1;
  for (let i = 0; i < m; i++) {
    H[i * m] -= Math.pow(h, i + 1);
    H[(m - 1) * m + i] -= Math.pow(h, m - i);
  }
  H[(m - 1) * m] += 2 * h - 1 > 0 ? Math.pow(2 * h - 1, m) : 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i - j + 1 > 0) for (let g = 1; g <= i - j + 1; g++) H[i * m + j] /= g;
    }
  }
  const { v, e } = matPower(H, m, n);
  let cdf = v[(k - 1) * m + (k - 1)];
  let eQ = e;
  for (let i = 1; i <= n; i++) {
    cdf = (cdf * i) / n;
    if (cdf < 1e-140) {
      cdf *= 1e140;
      eQ -= 140;
    }
  }
  cdf *= Math.pow(10, eQ);
  return Math.max(0, Math.min(1, 1 - cdf));
}

// ---------------------------------------------------------------------------------------
// Kolmogorov–Smirnov tests
// ---------------------------------------------------------------------------------------

/** A Kolmogorov–Smirnov result. */
export interface KsResult {
  /** sup |F̂ - F| (one-sample) or sup |F̂_a - F̂_b| (two-sample). */
  statistic: number;
  pValue: number;
  /** Sample size (one-sample), or the sizes [n, m] (two-sample). */
  n: number | [number, number];
}

/**
 * Returns the one-sample two-sided Kolmogorov–Smirnov test of `sample` against the
 * continuous CDF `cdf`: D = sup_x |F̂(x) - F(x)| and its exact p-value (see
 * `kolmogorovPValue`).
 *
 * @example
 * ksTest([0.1, 0.5, 0.9, 0.35], (x) => x).pValue; // uniform(0, 1) null
 */
export function ksTest(sample: readonly number[], cdf: (x: number) => number): KsResult {
  checkFiniteArray('ksTest', 'sample', sample);
  const xs = Float64Array.from(sample).sort();
  const n = xs.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(xs[i]);
    if (!(f >= 0 && f <= 1)) throw new RangeError(`ksTest: cdf(${xs[i]}) = ${f}, not a probability`);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return { statistic: d, pValue: kolmogorovPValue(n, d), n };
}

/** Largest n·m for which the two-sample KS p-value is computed exactly. */
const KS2_EXACT_MAX = 1e6;

/**
 * Exact P(D_{n,m} >= d) under H0 (no ties): the chance that a uniformly random monotone
 * lattice path from (0, 0) to (n, m) leaves the band |i/n - j/m| < d. The path's mass is
 * propagated step by step (a step right from (i, j) has probability (n-i)/(n+m-i-j)), so
 * nothing overflows, and the mass that exits is summed directly: small p-values keep
 * their relative accuracy.
 */
function ks2ExactPValue(n: number, m: number, d: number): number {
  // Compare integers: |i m - j n| >= c where c = d n m, less a rounding slack (D is a
  // ratio of integers, so the achieved statistic is exactly k/(nm) for an integer k).
  const c = Math.round(d * n * m) - 0.5;
  let row = new Float64Array(m + 1);
  row[0] = 1;
  let exited = 0;
  for (let i = 0; i <= n; i++) {
    const next = new Float64Array(m + 1);
    for (let j = 0; j <= m; j++) {
      const p = row[j];
      if (p === 0) continue;
      const left = n + m - i - j;
      if (left === 0) continue;
      // step in i
      if (i < n) {
        const q = (p * (n - i)) / left;
        if (Math.abs((i + 1) * m - j * n) >= c) exited += q;
        else next[j] += q;
      }
      // step in j (stays in this row; j increases, so it is visited later in this loop)
      if (j < m) {
        const q = (p * (m - j)) / left;
        if (Math.abs(i * m - (j + 1) * n) >= c) exited += q;
        else row[j + 1] += q;
      }
    }
    row = next;
  }
  return Math.max(0, Math.min(1, exited));
}

/**
 * Returns the two-sample two-sided Kolmogorov–Smirnov test: D = sup |F̂_a - F̂_b|, with
 * the exact p-value (lattice-path count, no ties assumed) when n·m <= 10^6 and the
 * Kolmogorov limit with effective size nm/(n+m) otherwise. Ties make it conservative.
 *
 * @example
 * ksTest2([0.1, 0.4, 0.7], [0.2, 0.3, 0.9, 1.2]).pValue;
 */
export function ksTest2(a: readonly number[], b: readonly number[]): KsResult {
  checkFiniteArray('ksTest2', 'first sample', a);
  checkFiniteArray('ksTest2', 'second sample', b);
  const xs = Float64Array.from(a).sort();
  const ys = Float64Array.from(b).sort();
  const n = xs.length;
  const m = ys.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const v = Math.min(xs[i], ys[j]);
    while (i < n && xs[i] === v) i++;
    while (j < m && ys[j] === v) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  let pValue: number;
  if (d === 0) pValue = 1;
  else if (n * m <= KS2_EXACT_MAX) pValue = ks2ExactPValue(n, m, d);
  else {
    const en = Math.sqrt((n * m) / (n + m));
    pValue = kolmogorovSurvival((en + 0.12 + 0.11 / en) * d);
  }
  return { statistic: d, pValue, n: [n, m] };
}

// ---------------------------------------------------------------------------------------
// Uniformity of SBC ranks
// ---------------------------------------------------------------------------------------

/** The chi-square test of SBC ranks, with the bins it used. */
export interface RankUniformityResult extends ChiSquareResult {
  /** Bin b holds ranks edges[b] .. edges[b+1]-1 (edges[0] = 0, last edge = L + 1). */
  edges: number[];
  counts: number[];
  expected: number[];
}

/**
 * Returns the number of bins for R ranks on {0..L}: the largest B <= maxBins with every
 * bin's expected count R·width/(L+1) >= 5 (bins are as equal in width as L+1 allows).
 * Throws when even two bins cannot reach 5.
 *
 * @example
 * rankBins(200, 99); // 20
 */
export function rankBins(R: number, L: number, maxBins = 20): number {
  const minExpected = (B: number) => (R * Math.floor((L + 1) / B)) / (L + 1);
  let B = Math.min(L + 1, maxBins, Math.floor(R / 5));
  while (B > 2 && minExpected(B) < 5) B--;
  if (B < 2 || minExpected(B) < 5) {
    throw new RangeError(`rankBins: ${R} ranks on 0..${L} cannot fill two bins with expected count >= 5; use more replications`);
  }
  return B;
}

/**
 * Returns the chi-square test that SBC ranks are uniform on {0, ..., L} (Talts et al. 2018):
 * ranks are pooled into B bins of (nearly) equal width chosen by `rankBins`, so every
 * expected count is at least 5, and Pearson's statistic is referred to χ²(B - 1).
 *
 * @example
 * rankUniformityTest([0, 3, 7, 9, 2, 5, ...ranks], 9).pValue;
 */
export function rankUniformityTest(ranks: readonly number[], L: number, opts: { maxBins?: number } = {}): RankUniformityResult {
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`rankUniformityTest: L must be a positive integer, got ${L}`);
  const R = ranks.length;
  if (R < 10) throw new RangeError(`rankUniformityTest: needs at least 10 ranks (two bins of expected count 5), got ${R}`);
  for (let i = 0; i < R; i++) {
    const r = ranks[i];
    if (!Number.isInteger(r) || r < 0 || r > L) throw new RangeError(`rankUniformityTest: rank ${i} is ${r}, not an integer in 0..${L}`);
  }
  const B = rankBins(R, L, opts.maxBins);
  const edges: number[] = [];
  for (let b = 0; b <= B; b++) edges.push(Math.round((b * (L + 1)) / B));
  const binOf = new Int32Array(L + 1);
  for (let b = 0; b < B; b++) for (let r = edges[b]; r < edges[b + 1]; r++) binOf[r] = b;
  const counts = new Array<number>(B).fill(0);
  for (const r of ranks) counts[binOf[r]]++;
  const expected = counts.map((_, b) => (R * (edges[b + 1] - edges[b])) / (L + 1));
  return { ...chiSquareTest(counts, expected), edges, counts, expected };
}

// ---------------------------------------------------------------------------------------
// Maximum mean discrepancy
// ---------------------------------------------------------------------------------------

/** A sample: scalars, or points as equal-length coordinate arrays. */
export type Sample = readonly number[] | readonly (readonly number[])[];

function asPoints(fn: string, what: string, s: Sample): { data: Float64Array; n: number; dim: number } {
  if (s.length === 0) throw new RangeError(`${fn}: ${what} is empty`);
  if (typeof s[0] === 'number') {
    checkFiniteArray(fn, what, s as readonly number[]);
    return { data: Float64Array.from(s as readonly number[]), n: s.length, dim: 1 };
  }
  const pts = s as readonly (readonly number[])[];
  const dim = pts[0].length;
  const data = new Float64Array(pts.length * dim);
  pts.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== dim) throw new RangeError(`${fn}: ${what}[${i}] has ${Array.isArray(p) ? p.length : 'no'} coordinates, expected ${dim}`);
    for (let k = 0; k < dim; k++) {
      if (!Number.isFinite(p[k])) throw new RangeError(`${fn}: ${what}[${i}][${k}] is ${p[k]}, not a finite number`);
      data[i * dim + k] = p[k];
    }
  });
  return { data, n: pts.length, dim };
}

/** Returns the median of a Float64Array (sorted copy). */
function median(xs: Float64Array): number {
  const s = Float64Array.from(xs).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/** Pooled squared distances and the median-heuristic bandwidth. */
function pooledKernel(fn: string, x: Sample, y: Sample, bandwidth?: number) {
  const a = asPoints(fn, 'first sample', x);
  const b = asPoints(fn, 'second sample', y);
  if (a.dim !== b.dim) throw new RangeError(`${fn}: the samples have ${a.dim} and ${b.dim} coordinates per point`);
  if (a.n < 2 || b.n < 2) throw new RangeError(`${fn}: each sample needs at least 2 points (got ${a.n} and ${b.n})`);
  const N = a.n + b.n;
  const dim = a.dim;
  const z = new Float64Array(N * dim);
  z.set(a.data, 0);
  z.set(b.data, a.n * dim);
  const d2 = new Float64Array(N * N);
  const upper = new Float64Array((N * (N - 1)) / 2);
  let u = 0;
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) {
        const t = z[i * dim + k] - z[j * dim + k];
        s += t * t;
      }
      d2[i * N + j] = s;
      d2[j * N + i] = s;
      upper[u++] = s;
    }
  }
  let h = bandwidth;
  if (h === undefined) {
    h = Math.sqrt(median(upper));
    // Many tied points give a zero median distance; the mean distance still scales the kernel.
    if (!(h > 0)) {
      let s = 0;
      for (const v of upper) s += Math.sqrt(v);
      h = s / upper.length;
    }
    if (!(h > 0)) h = 1; // every point equal: any bandwidth gives MMD² = 0
  } else if (!(h > 0) || !Number.isFinite(h)) {
    throw new RangeError(`${fn}: bandwidth must be a positive finite number, got ${h}`);
  }
  const K = new Float64Array(N * N);
  const c = 1 / (2 * h * h);
  for (let i = 0; i < N * N; i++) K[i] = Math.exp(-d2[i] * c);
  return { K, N, n: a.n, m: b.n, bandwidth: h };
}

/**
 * Unbiased MMD² from the pooled kernel matrix (unit diagonal), the pooled indices of the
 * first sample (xs, n) and of the second (ys, m), and the sum of all entries of K. Only the
 * within-sample sums are computed (n² + m² terms); the cross sum follows from the total.
 */
function mmd2FromKernel(K: Float64Array, N: number, xs: Int32Array, ys: Int32Array, total: number): number {
  const n = xs.length;
  const m = ys.length;
  const within = (idx: Int32Array) => {
    let s = 0;
    for (let a = 0; a < idx.length; a++) {
      const row = idx[a] * N;
      for (let b = 0; b < idx.length; b++) s += K[row + idx[b]];
    }
    return s;
  };
  const sxx = within(xs);
  const syy = within(ys);
  const sxy = (total - sxx - syy) / 2;
  // Drop the diagonal (k(x, x) = 1) from the within-sample sums: the U-statistic.
  return (sxx - n) / (n * (n - 1)) + (syy - m) / (m * (m - 1)) - (2 * sxy) / (n * m);
}

function kernelTotal(K: Float64Array): number {
  let t = 0;
  for (let i = 0; i < K.length; i++) t += K[i];
  return t;
}

/** Options for the MMD statistic and test. */
export interface MmdOptions {
  /** Gaussian kernel bandwidth h in k(a, b) = exp(-|a-b|²/(2h²)); default: the median pairwise distance of the pooled sample. */
  bandwidth?: number;
  /** Number of label permutations (default 200). */
  permutations?: number;
  /** Seed of the permutations (default 0). */
  seed?: number;
}

/** An MMD two-sample test result. */
export interface MmdResult {
  /** The unbiased estimate of MMD² (can be slightly negative under H0). */
  mmd2: number;
  bandwidth: number;
  /** (1 + #{permuted MMD² >= observed}) / (1 + permutations). */
  pValue: number;
  permutations: number;
}

/**
 * Returns the unbiased squared maximum mean discrepancy (Gretton et al. 2012) between two
 * samples with a Gaussian kernel, and the bandwidth used (median heuristic by default).
 *
 * @example
 * mmd2([0.1, 0.3, -0.2], [1.1, 0.9, 1.4]).mmd2; // clearly > 0
 */
export function mmd2(x: Sample, y: Sample, opts: Pick<MmdOptions, 'bandwidth'> = {}): { mmd2: number; bandwidth: number } {
  const { K, N, n, bandwidth } = pooledKernel('mmd2', x, y, opts.bandwidth);
  const idx = Int32Array.from({ length: N }, (_, i) => i);
  return { mmd2: mmd2FromKernel(K, N, idx.subarray(0, n), idx.subarray(n), kernelTotal(K)), bandwidth };
}

/**
 * Returns the MMD² permutation test that two samples come from the same distribution:
 * the observed unbiased MMD² is compared with its values under random relabellings of the
 * pooled sample (fixed seed, so reproducible). Cost O(permutations · (n+m)²).
 *
 * @example
 * mmdTest(drawsFromSampler, exactDraws, { permutations: 500 }).pValue;
 */
export function mmdTest(x: Sample, y: Sample, opts: MmdOptions = {}): MmdResult {
  const permutations = opts.permutations ?? 200;
  if (!Number.isInteger(permutations) || permutations < 1) throw new RangeError(`mmdTest: permutations must be a positive integer, got ${permutations}`);
  const { K, N, n, bandwidth } = pooledKernel('mmdTest', x, y, opts.bandwidth);
  const total = kernelTotal(K);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  const observed = mmd2FromKernel(K, N, perm.subarray(0, n), perm.subarray(n), total);
  const rng = Key.seed(opts.seed ?? 0).rng();
  let atLeast = 0;
  // Relative slack so a permutation that reproduces the observed split counts as >= despite
  // rounding in a different summation order.
  const slack = 1e-12 * Math.max(1, Math.abs(observed));
  for (let p = 0; p < permutations; p++) {
    for (let i = N - 1; i > 0; i--) {
      const j = rng.uniformInt(i + 1);
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    if (mmd2FromKernel(K, N, perm.subarray(0, n), perm.subarray(n), total) >= observed - slack) atLeast++;
  }
  return { mmd2: observed, bandwidth, pValue: (1 + atLeast) / (1 + permutations), permutations };
}

// ---------------------------------------------------------------------------------------
// Multiple testing
// ---------------------------------------------------------------------------------------

/**
 * Returns Holm's (1979) step-down adjusted p-values, in the input order: with p sorted
 * ascending, adj_(i) = max_{j<=i} min(1, (m - j + 1) p_(j)). Reject where adj < alpha;
 * this controls the family-wise error rate at alpha and is uniformly more powerful than
 * Bonferroni.
 *
 * @example
 * holm([0.01, 0.04, 0.03]); // [0.03, 0.06, 0.06]
 */
export function holm(pValues: readonly number[]): number[] {
  checkProbabilities('holm', pValues);
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  });
  return out;
}

/**
 * Returns Bonferroni-adjusted p-values min(1, m·p), in the input order.
 *
 * @example
 * bonferroni([0.01, 0.04, 0.03]); // [0.03, 0.12, 0.09]
 */
export function bonferroni(pValues: readonly number[]): number[] {
  checkProbabilities('bonferroni', pValues);
  return pValues.map((p) => Math.min(1, p * pValues.length));
}

// ---------------------------------------------------------------------------------------
// Effective sample size and Monte Carlo standard error
// ---------------------------------------------------------------------------------------


/**
 * Returns the autocorrelations ρ_0..ρ_{n-1} of a chain (biased autocovariance / variance,
 * by FFT with zero padding to avoid circular wrap-around). ρ_0 = 1; all zero for a
 * constant chain.
 *
 * @example
 * autocorrelation(chain)[1]; // lag-1 autocorrelation
 */
export function autocorrelation(chain: ArrayLike<number>): Float64Array {
  const n = chain.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += chain[i];
  mean /= n;
  let size = 1;
  while (size < 2 * n) size <<= 1;
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  for (let i = 0; i < n; i++) re[i] = chain[i] - mean;
  fft(re, im, false);
  for (let i = 0; i < size; i++) {
    re[i] = re[i] * re[i] + im[i] * im[i];
    im[i] = 0;
  }
  fft(re, im, true);
  const out = new Float64Array(n);
  const c0 = re[0];
  if (!(c0 > 0)) return out;
  for (let t = 0; t < n; t++) out[t] = re[t] / c0;
  return out;
}

/**
 * Returns the effective sample size of one chain: n / τ with the integrated
 * autocorrelation time τ = -1 + 2 Σ_k Γ_k from Geyer's (1992) initial monotone sequence
 * estimator (Γ_k = ρ_{2k} + ρ_{2k+1}, summed while positive, made non-increasing). As in
 * Stan, τ is floored at 1/log10(n) (so ESS <= n log10 n for antithetic chains). A constant
 * chain has no autocorrelation to estimate: its ESS is n (its MCSE is 0 either way).
 *
 * @example
 * effectiveSampleSize(iidDraws); // ≈ iidDraws.length
 */
export function effectiveSampleSize(chain: ArrayLike<number>): number {
  checkFiniteArray('effectiveSampleSize', 'chain', chain, 4);
  const n = chain.length;
  const rho = autocorrelation(chain);
  if (rho[0] === 0) return n;
  let tau = -1;
  let prev = Infinity;
  for (let k = 0; 2 * k + 1 < n; k++) {
    let g = rho[2 * k] + rho[2 * k + 1];
    if (!(g > 0)) break;
    if (g > prev) g = prev;
    prev = g;
    tau += 2 * g;
  }
  return n / Math.max(tau, 1 / Math.log10(n));
}

/** Mean, standard deviation, ESS and Monte Carlo standard error of a chain's mean. */
export interface McseResult {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 denominator). */
  sd: number;
  ess: number;
  /** sd / √ess: the standard error of `mean` as an estimate of the expectation. */
  mcse: number;
}

/**
 * Returns the Monte Carlo standard error of a chain's mean, sd/√ESS, with the ESS from
 * `effectiveSampleSize`.
 *
 * @example
 * const { mean, mcse } = mcseMean(draws); // mean ± 2·mcse covers E[x] about 95% of the time
 */
export function mcseMean(chain: ArrayLike<number>): McseResult {
  checkFiniteArray('mcseMean', 'chain', chain, 4);
  const n = chain.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += chain[i];
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (chain[i] - mean) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  const ess = effectiveSampleSize(chain);
  return { n, mean, sd, ess, mcse: sd / Math.sqrt(ess) };
}

/**
 * Returns the two-sided normal p-value 2(1 - Φ(|z|)), computed as 2Φ(-|z|) so small
 * p-values keep their accuracy.
 *
 * @example
 * normalTwoSidedPValue(1.959964); // ≈ 0.05
 */
export function normalTwoSidedPValue(z: number): number {
  if (Number.isNaN(z)) throw new RangeError('normalTwoSidedPValue: z is NaN');
  return Math.min(1, 2 * ndtrF64(-Math.abs(z)));
}
