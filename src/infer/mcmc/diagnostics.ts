/**
 * MCMC convergence diagnostics for one scalar quantity, in float64 on the host: rank-normalised
 * split R-hat, bulk / tail ESS and Monte Carlo standard errors of Vehtari, Gelman, Simpson,
 * Carpenter & Bürkner (2021), "Rank-normalization, folding, and localization: an improved
 * R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2).
 *
 * Every function follows the R package `posterior` (1.4.0) operation by operation and agrees
 * with it to ~1e-12 relative on fixed draws (test/infer/mcmc/fixtures, made by
 * scripts/posterior-reference.R):
 *
 * | here            | posterior                   |
 * |-----------------|-----------------------------|
 * | `rhat`          | `rhat`                      |
 * | `rhatBasic`     | `rhat_basic`                |
 * | `essBulk`       | `ess_bulk`                  |
 * | `essTail`       | `ess_tail`                  |
 * | `essBasic`      | `ess_basic`                 |
 * | `essMean`       | `ess_mean`                  |
 * | `essSd`         | `ess_sd`                    |
 * | `essQuantile`   | `ess_quantile`              |
 * | `mcseMean`      | `mcse_mean`                 |
 * | `mcseSd`        | `mcse_sd` (1.4.0's formula) |
 * | `mcseQuantile`  | `mcse_quantile`             |
 * | `quantiles`     | `quantile2` (type 7)        |
 *
 * Draws are chains x iterations (`number[][]` or `Float64Array[]`); all chains must have the
 * same length (else RangeError). Where posterior returns NA, these return NaN:
 * - draws that are constant (max - min < 2^-52, posterior's absolute tolerance), including a
 *   constant transform (e.g. a tail indicator that is all 0 or all 1);
 * - any non-finite draw (NaN, ±Infinity);
 * - ESS when a split half has fewer than 3 draws (fewer than 6 draws per chain).
 *
 * Two deliberate departures from posterior 1.4.0, both towards NaN:
 * - fewer than 4 draws per chain gives NaN for every diagnostic (posterior's split of a
 *   3-draw chain drops a matrix dimension and returns numbers computed from transposed draws);
 * - ±Infinity gives NaN for `rhat` and `essBulk` as well (posterior 1.4.0 rank-transforms the
 *   infinite draw and returns a finite value there, but NA for every other diagnostic).
 */

import { fft } from './fft';

/** Draws of one scalar quantity: one array per chain, all of the same length. */
export type Draws = ReadonlyArray<ArrayLike<number>>;

/** Whether to split each chain in half first (default true), as posterior's `split` argument. */
export interface SplitOption {
  split?: boolean;
}

/** posterior's `is_constant` tolerance: .Machine$double.eps, an absolute tolerance on max - min. */
const CONSTANT_TOL = 2.220446049250313e-16;
/** Fewer draws per chain than this: every diagnostic is NaN. */
const MIN_DRAWS_PER_CHAIN = 4;

// ---------------------------------------------------------------------------------------------
// Input handling
// ---------------------------------------------------------------------------------------------

/** Validated float64 copy of the draws (chains x iterations). */
function toChains(draws: Draws, fn: string): Float64Array[] {
  if (!draws || typeof draws.length !== 'number' || draws.length === 0) {
    throw new RangeError(`${fn}: draws must contain at least one chain`);
  }
  const n = draws[0].length;
  return Array.from(draws, (c, k) => {
    if (c.length !== n) {
      throw new RangeError(`${fn}: all chains must have the same number of draws (chain 0 has ${n}, chain ${k} has ${c.length})`);
    }
    return Float64Array.from(c);
  });
}

function checkProb(prob: number, fn: string): void {
  if (!(prob >= 0 && prob <= 1)) throw new RangeError(`${fn}: probability must be in [0, 1], got ${prob}`);
}

/** All draws in one array (chain after chain, as R's as.vector of an iterations x chains matrix). */
function pool(chains: readonly Float64Array[]): Float64Array {
  const n = chains.length ? chains[0].length : 0;
  const out = new Float64Array(chains.length * n);
  chains.forEach((c, k) => out.set(c, k * n));
  return out;
}

function anyNonFinite(chains: readonly Float64Array[]): boolean {
  for (const c of chains) for (let i = 0; i < c.length; i++) if (!Number.isFinite(c[i])) return true;
  return false;
}

/** posterior's should_return_NA: any non-finite value, or constant to within double eps. */
function shouldReturnNA(chains: readonly Float64Array[]): boolean {
  if (anyNonFinite(chains)) return true;
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of chains) {
    for (let i = 0; i < c.length; i++) {
      if (c[i] < lo) lo = c[i];
      if (c[i] > hi) hi = c[i];
    }
  }
  return Math.abs(hi - lo) < CONSTANT_TOL;
}

/** Diagnostics are NaN for short chains and non-finite draws (see the module doc). */
function unusable(chains: readonly Float64Array[]): boolean {
  return chains[0].length < MIN_DRAWS_PER_CHAIN || anyNonFinite(chains);
}

const mapChains = (chains: readonly Float64Array[], f: (v: number) => number): Float64Array[] =>
  chains.map((c) => c.map(f));

/** Mean with one refinement pass (close to R's long-double mean). */
function meanOf(x: ArrayLike<number>): number {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const m = s / n;
  if (!Number.isFinite(m)) return m;
  let r = 0;
  for (let i = 0; i < n; i++) r += x[i] - m;
  return m + r / n;
}

/** Sample variance (denominator n - 1), two-pass; NaN for fewer than 2 values, as R's var. */
function varOf(x: ArrayLike<number>, center = meanOf(x)): number {
  const n = x.length;
  if (n < 2) return NaN;
  let s = 0;
  for (let i = 0; i < n; i++) s += (x[i] - center) ** 2;
  return s / (n - 1);
}

/** max that propagates NaN, as R's max / min of NA. */
const nanMax = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const nanMin = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));

// ---------------------------------------------------------------------------------------------
// Transforms
// ---------------------------------------------------------------------------------------------

/**
 * Splits each chain into its first and second half (posterior's .split_chains): M chains of N
 * draws become 2M chains of floor(N/2); for odd N the middle draw is dropped. A chain of one
 * draw is left as it is. Returns copies.
 */
export function splitChains(draws: Draws): Float64Array[] {
  const chains = toChains(draws, 'splitChains');
  const n = chains[0].length;
  if (n <= 1) return chains;
  const h = Math.floor(n / 2);
  const start2 = Math.ceil(n / 2);
  return [...chains.map((c) => c.slice(0, h)), ...chains.map((c) => c.slice(start2))];
}

/**
 * Ranks 1..S of the values, ties getting the average of the ranks they span (R's
 * rank(ties.method = "average")). NaN values are not allowed (RangeError).
 */
export function fractionalRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) if (Number.isNaN(x[i])) throw new RangeError('fractionalRanks: values must not be NaN');
  idx.sort((a, b) => x[a] - x[b] || (x[a] < x[b] ? -1 : x[a] > x[b] ? 1 : 0));
  const r = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && x[idx[j + 1]] === x[idx[i]]) j++;
    const avg = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

/**
 * Rank normalisation (posterior's z_scale): qnorm((r - c) / (S - 2c + 1)) with r the
 * fractional ranks over all S values and Blom's offset c = 3/8.
 */
export function zScale(x: ArrayLike<number>, c = 3 / 8): Float64Array {
  const r = fractionalRanks(x);
  const S = r.length;
  return r.map((ri) => qnorm((ri - c) / (S - 2 * c + 1)));
}

/** z_scale of all draws together, laid out as chains again. */
function zScaleChains(chains: readonly Float64Array[]): Float64Array[] {
  const n = chains[0].length;
  const z = zScale(pool(chains));
  return chains.map((_, k) => z.slice(k * n, (k + 1) * n));
}

/** Quantile type 7 of ascending-sorted values, exactly as R's quantile.default computes it. */
function quantile7Sorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const index = 1 + Math.max(n - 1, 0) * p;
  const lo = Math.floor(index);
  const hi = Math.ceil(index);
  let qs = sorted[lo - 1];
  if (index > lo && sorted[hi - 1] !== qs) {
    const h = index - lo;
    qs = (1 - h) * qs + h * sorted[hi - 1];
  }
  return qs;
}

function sortedPool(chains: readonly Float64Array[]): Float64Array {
  return pool(chains).sort();
}

/**
 * Quantiles of all draws pooled over chains, R's type 7 (posterior's quantile2; its default
 * probs are [0.05, 0.95]). Any NaN draw gives NaN for every quantile, as quantile2 gives NA.
 */
export function quantiles(draws: Draws, probs: readonly number[] = [0.05, 0.95]): number[] {
  for (const p of probs) checkProb(p, 'quantiles');
  const chains = toChains(draws, 'quantiles');
  if (chains.some((c) => c.some(Number.isNaN))) return probs.map(() => NaN);
  const s = sortedPool(chains);
  return probs.map((p) => quantile7Sorted(s, p));
}

// ---------------------------------------------------------------------------------------------
// Autocovariance (radix-2 FFT) and the core R-hat / ESS of posterior's .rhat and .ess
// ---------------------------------------------------------------------------------------------


/**
 * Autocovariances at lags 0..N-1 of one chain, with the biased (1/N) normalisation:
 * ac[k] = (1/N) Σ_t (x_t - x̄)(x_{t+k} - x̄). Computed as posterior's autocovariance does, by FFT
 * of the centred chain zero-padded to at least 2N (here the next power of two, so the circular
 * correlation equals the linear one), then rescaled so ac[0] is the biased variance.
 * A constant chain gives all zeros.
 */
export function autocovariance(x: ArrayLike<number>): Float64Array {
  const N = x.length;
  const out = new Float64Array(N);
  if (N < 2) return out;
  const m = meanOf(x);
  const varx = varOf(x, m);
  if (varx === 0) return out;
  let M = 1;
  while (M < 2 * N) M <<= 1;
  const re = new Float64Array(M);
  const im = new Float64Array(M);
  for (let i = 0; i < N; i++) re[i] = x[i] - m;
  fft(re, im);
  for (let i = 0; i < M; i++) {
    re[i] = re[i] * re[i] + im[i] * im[i];
    im[i] = 0;
  }
  // The power spectrum is real and even, so the forward transform is the inverse up to 1/M,
  // a scale the normalisation below removes.
  fft(re, im);
  const scale = (varx * (N - 1)) / N / re[0];
  for (let i = 0; i < N; i++) out[i] = re[i] * scale;
  return out;
}

/** posterior's .rhat on prepared (already split / transformed) chains. */
function rhatCore(chains: readonly Float64Array[]): number {
  if (shouldReturnNA(chains)) return NaN;
  const n = chains[0].length;
  const chainMean = chains.map((c) => meanOf(c));
  const chainVar = chains.map((c, k) => varOf(c, chainMean[k]));
  const varBetween = n * varOf(chainMean);
  const varWithin = meanOf(chainVar);
  return Math.sqrt((varBetween / varWithin + n - 1) / n);
}

/**
 * posterior's .ess on prepared chains: Geyer's initial positive sequence on pairs of
 * autocorrelations (combined over chains with the multi-chain variance estimate), made
 * monotone, and tau capped below at 1 / log10(S) so ESS <= S log10(S).
 */
function essCore(chains: readonly Float64Array[]): number {
  const nChains = chains.length;
  const n = chains[0].length;
  if (n < 3 || shouldReturnNA(chains)) return NaN;
  const acov = new Float64Array(n);
  for (const c of chains) {
    const a = autocovariance(c);
    for (let i = 0; i < n; i++) acov[i] += a[i];
  }
  for (let i = 0; i < n; i++) acov[i] /= nChains;
  const meanVar = (acov[0] * n) / (n - 1);
  let varPlus = (meanVar * (n - 1)) / n;
  if (nChains > 1) varPlus += varOf(chains.map((c) => meanOf(c)));

  // rho[t] is the autocorrelation at lag t (posterior's rho_hat_t[t + 1]).
  const rho = new Float64Array(n);
  let t = 0;
  let rhoEven = 1;
  rho[0] = rhoEven;
  let rhoOdd = 1 - (meanVar - acov[1]) / varPlus;
  rho[1] = rhoOdd;
  while (t < n - 5 && !Number.isNaN(rhoEven + rhoOdd) && rhoEven + rhoOdd > 0) {
    t += 2;
    rhoEven = 1 - (meanVar - acov[t]) / varPlus;
    rhoOdd = 1 - (meanVar - acov[t + 1]) / varPlus;
    if (rhoEven + rhoOdd >= 0) {
      rho[t] = rhoEven;
      rho[t + 1] = rhoOdd;
    }
  }
  const maxT = t;
  if (rhoEven > 0) rho[maxT] = rhoEven;
  // Monotone: each pair sum no larger than the one before.
  t = 0;
  while (t <= maxT - 4) {
    t += 2;
    if (rho[t] + rho[t + 1] > rho[t - 2] + rho[t - 1]) {
      rho[t] = (rho[t - 2] + rho[t - 1]) / 2;
      rho[t + 1] = rho[t];
    }
  }
  const S = nChains * n;
  // sum(rho_hat_t[1:max_t]) in R; for max_t = 0, 1:0 selects just rho_hat_t[1].
  let sum = 0;
  if (maxT === 0) sum = rho[0];
  else for (let i = 0; i < maxT; i++) sum += rho[i];
  let tauHat = -1 + 2 * sum + rho[maxT];
  const tauBound = 1 / Math.log10(S);
  if (tauHat < tauBound) tauHat = tauBound;
  return S / tauHat;
}

// ---------------------------------------------------------------------------------------------
// R-hat
// ---------------------------------------------------------------------------------------------

/**
 * Rank-normalised split R-hat: the larger of the bulk R-hat (split chains, rank-normalised)
 * and the tail R-hat (the same on draws folded about their median, |x - median|).
 * Values near 1 (below 1.01 by the paper's advice) indicate chains that agree. NaN as the
 * module doc says (constant, non-finite, fewer than 4 draws per chain).
 */
export function rhat(draws: Draws): number {
  const chains = toChains(draws, 'rhat');
  if (unusable(chains)) return NaN;
  const bulk = rhatCore(zScaleChains(splitChains(chains)));
  const med = quantile7Sorted(sortedPool(chains), 0.5);
  const folded = mapChains(chains, (v) => Math.abs(v - med));
  const tail = rhatCore(zScaleChains(splitChains(folded)));
  return nanMax(bulk, tail);
}

/** Classic (split by default) Gelman-Rubin R-hat on the draws as they are (posterior's rhat_basic). */
export function rhatBasic(draws: Draws, opts: SplitOption = {}): number {
  const chains = toChains(draws, 'rhatBasic');
  if (unusable(chains)) return NaN;
  return rhatCore(opts.split === false ? chains : splitChains(chains));
}

// ---------------------------------------------------------------------------------------------
// ESS
// ---------------------------------------------------------------------------------------------

/** Bulk ESS: ESS of the rank-normalised split chains (posterior's ess_bulk). */
export function essBulk(draws: Draws): number {
  const chains = toChains(draws, 'essBulk');
  if (unusable(chains)) return NaN;
  return essCore(zScaleChains(splitChains(chains)));
}

/** ESS of the indicator I(x <= q) with q the pooled type-7 prob-quantile (posterior's ess_quantile). */
export function essQuantile(draws: Draws, prob: number): number {
  checkProb(prob, 'essQuantile');
  const chains = toChains(draws, 'essQuantile');
  return essQuantileOf(chains, prob);
}

function essQuantileOf(chains: readonly Float64Array[], prob: number): number {
  if (unusable(chains) || shouldReturnNA(chains)) return NaN;
  const S = chains.length * chains[0].length;
  const p = prob === 1 ? (S - 0.5) / S : prob;
  const q = quantile7Sorted(sortedPool(chains), p);
  return essCore(splitChains(mapChains(chains, (v) => (v <= q ? 1 : 0))));
}

/**
 * Tail ESS: the smaller of the ESS of the 5% and 95% quantile indicators (posterior's ess_tail).
 * NaN when either indicator is constant (e.g. discrete draws whose 95% quantile is the maximum).
 */
export function essTail(draws: Draws): number {
  const chains = toChains(draws, 'essTail');
  return nanMin(essQuantileOf(chains, 0.05), essQuantileOf(chains, 0.95));
}

/** ESS of the draws as they are, split by default (posterior's ess_basic). */
export function essBasic(draws: Draws, opts: SplitOption = {}): number {
  const chains = toChains(draws, 'essBasic');
  if (unusable(chains)) return NaN;
  return essCore(opts.split === false ? chains : splitChains(chains));
}

/** ESS for the mean: ESS of the split draws as they are (posterior's ess_mean). */
export function essMean(draws: Draws): number {
  const chains = toChains(draws, 'essMean');
  if (unusable(chains)) return NaN;
  return essCore(splitChains(chains));
}

/** ESS for the standard deviation: ESS of |x - mean(x)| split (posterior's ess_sd). */
export function essSd(draws: Draws): number {
  const chains = toChains(draws, 'essSd');
  if (unusable(chains)) return NaN;
  const m = meanOf(pool(chains));
  return essCore(splitChains(mapChains(chains, (v) => Math.abs(v - m))));
}

// ---------------------------------------------------------------------------------------------
// MCSE
// ---------------------------------------------------------------------------------------------

/** Monte Carlo standard error of the mean: sd(x) / sqrt(essMean) (posterior's mcse_mean). */
export function mcseMean(draws: Draws): number {
  const chains = toChains(draws, 'mcseMean');
  if (unusable(chains)) return NaN;
  return Math.sqrt(varOf(pool(chains))) / Math.sqrt(essCore(splitChains(chains)));
}

/**
 * Monte Carlo standard error of the standard deviation, posterior 1.4.0's mcse_sd: with
 * c = x - mean(x), ess = essMean(c^2), E = mean(c^2), Var(c^2) ≈ mean(c^4) - E^2;
 * mcse = sqrt((mean(c^4) - E^2) / ess / E / 4).
 */
export function mcseSd(draws: Draws): number {
  const chains = toChains(draws, 'mcseSd');
  if (unusable(chains)) return NaN;
  const m = meanOf(pool(chains));
  const sq = mapChains(chains, (v) => (v - m) ** 2);
  const ess = essCore(splitChains(sq));
  const flat = pool(sq);
  const eVar = meanOf(flat);
  const varVar = (meanOf(flat.map((v) => v * v)) - eVar * eVar) / ess;
  return Math.sqrt(varVar / eVar / 4);
}

/** posterior's normal ±1 sd probabilities, pnorm(-1) and pnorm(1) to 7 digits. */
const MCSE_Q_PROBS = [0.1586553, 0.8413447] as const;

/**
 * Monte Carlo standard error of the prob-quantile (posterior's mcse_quantile): the half-width
 * of the ±1 sd interval of the quantile, read off the sorted draws at the Beta(ess p + 1,
 * ess (1 - p) + 1) quantiles, with ess = essQuantile(draws, prob).
 */
export function mcseQuantile(draws: Draws, prob: number): number {
  checkProb(prob, 'mcseQuantile');
  const chains = toChains(draws, 'mcseQuantile');
  const ess = essQuantileOf(chains, prob);
  if (Number.isNaN(ess)) return NaN;
  const a1 = qbeta(MCSE_Q_PROBS[0], ess * prob + 1, ess * (1 - prob) + 1);
  const a2 = qbeta(MCSE_Q_PROBS[1], ess * prob + 1, ess * (1 - prob) + 1);
  const s = sortedPool(chains);
  const S = s.length;
  const th1 = s[Math.max(Math.floor(a1 * S), 1) - 1];
  const th2 = s[Math.min(Math.ceil(a2 * S), S) - 1];
  return (th2 - th1) / 2;
}

// ---------------------------------------------------------------------------------------------
// Special functions: normal and beta quantiles
// ---------------------------------------------------------------------------------------------

/**
 * Standard normal quantile, Wichura's algorithm AS 241 (PPND16), as R's qnorm uses; about
 * 1e-16 relative accuracy. qnorm(0) = -Infinity, qnorm(1) = Infinity; NaN outside [0, 1].
 */
export function qnorm(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r
      + 45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r + 133.14166789178437745) * r
      + 3.387132872796366608))
      / (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r
        + 21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r + 42.313330701600911252) * r + 1);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let val: number;
  if (r <= 5) {
    r -= 1.6;
    val = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r
      + 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r + 4.6303378461565452959) * r
      + 1.42343711074968357734)
      / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r
        + 0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r + 2.05319162663775882187) * r + 1);
  } else {
    r -= 5;
    val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r
      + 0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r + 5.4637849111641143699) * r
      + 6.6579046435011037772)
      / (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
        + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r + 0.59983220655588793769) * r + 1);
  }
  return q < 0 ? -val : val;
}

const LN_SQRT_2PI = 0.918938533204672741780329736406;

/** Stirling's series for log Γ(x) - ((x - 1/2) log x - x + log √(2π)), accurate for x >= 15. */
function stirlingCorrection(x: number): number {
  const z = 1 / (x * x);
  return (1 / 12 - z * (1 / 360 - z * (1 / 1260 - z * (1 / 1680 - z * (1 / 1188 - z * (691 / 360360)))))) / x;
}

/** log Γ(x) for x > 0: Stirling's series at x >= 15, shifted up by the recurrence below that. */
function lgammaPos(x: number): number {
  let shift = 0;
  while (x < 15) {
    shift += Math.log(x);
    x += 1;
  }
  return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingCorrection(x) - shift;
}

/** log Γ(x) - ((x - 1/2) log x - x + log √(2π)) for x >= 10 (R's lgammacor). */
function lgammaCorrection(x: number): number {
  return x >= 15 ? stirlingCorrection(x) : lgammaPos(x) - ((x - 0.5) * Math.log(x) - x + LN_SQRT_2PI);
}

/**
 * log B(a, b), arranged as R's lbeta so that large arguments do not cancel (the Stirling main
 * terms are combined analytically, only the small corrections are differenced).
 */
function lbeta(a: number, b: number): number {
  const p = Math.min(a, b);
  const q = Math.max(a, b);
  if (p >= 10) {
    const corr = lgammaCorrection(p) + lgammaCorrection(q) - lgammaCorrection(p + q);
    return -0.5 * Math.log(q) + LN_SQRT_2PI + corr + (p - 0.5) * Math.log(p / (p + q)) + q * Math.log1p(-p / (p + q));
  }
  if (q >= 10) {
    const corr = lgammaCorrection(q) - lgammaCorrection(p + q);
    return lgammaPos(p) + corr + p - p * Math.log(p + q) + (q - 0.5) * Math.log1p(-p / (p + q));
  }
  return lgammaPos(p) + lgammaPos(q) - lgammaPos(p + q);
}

/** Continued fraction for the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1_000_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
function pbeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - lbeta(a, b);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * Quantile of the Beta(a, b) distribution (R's qbeta(p, a, b)), by bisection on the
 * regularised incomplete beta function down to adjacent doubles. NaN for NaN arguments;
 * RangeError for p outside [0, 1] or non-positive shapes.
 */
export function qbeta(p: number, a: number, b: number): number {
  if (Number.isNaN(p) || Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`qbeta: p must be in [0, 1], got ${p}`);
  if (!(a > 0 && b > 0) || !Number.isFinite(a) || !Number.isFinite(b)) {
    throw new RangeError(`qbeta: shapes must be positive and finite, got a = ${a}, b = ${b}`);
  }
  if (p === 0) return 0;
  if (p === 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 2200; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (pbeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return lo + (hi - lo) / 2;
}
