/**
 * Resampling schemes of sequential Monte Carlo (Douc, Cappé & Moulines 2005, "Comparison of
 * resampling schemes for particle filtering"). Each returns `n` ancestor indices drawn so that
 * the expected number of copies of particle i is n·w_i (w normalised): all three are unbiased;
 * systematic and residual have lower variance than multinomial.
 */
import type { Rng } from '../../tensor/random';

export type ResampleScheme = 'systematic' | 'multinomial' | 'residual';

/** Returns the weights normalised to sum 1 (throws on a negative, non-finite or all-zero weight vector). */
export function normalizeWeights(w: ArrayLike<number>): Float64Array {
  let s = 0;
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] >= 0) || w[i] === Infinity) throw new RangeError(`resample: weight ${i} is ${w[i]}, not a nonnegative finite number`);
    s += w[i];
  }
  if (!(s > 0)) throw new RangeError('resample: the weights sum to 0');
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] / s;
  return out;
}

/** Normalised weights from log weights (max-shifted; -Infinity gives weight 0). */
export function weightsFromLog(logw: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < logw.length; i++) if (logw[i] > m) m = logw[i];
  if (!(m > -Infinity) || m === Infinity) throw new RangeError(`weightsFromLog: the largest log weight is ${m}`);
  const w = new Float64Array(logw.length);
  for (let i = 0; i < logw.length; i++) w[i] = Number.isNaN(logw[i]) ? 0 : Math.exp(logw[i] - m);
  return normalizeWeights(w);
}

/** Effective sample size 1 / Σ w_i² of (unnormalised) weights: (Σw)² / Σw². */
export function effectiveSize(w: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < w.length; i++) {
    s += w[i];
    s2 += w[i] * w[i];
  }
  return s2 > 0 ? (s * s) / s2 : 0;
}

/** Inverts the CDF of `w` (normalised) at the sorted points `u` (ascending, in [0, 1)). */
function invertSorted(w: Float64Array, u: ArrayLike<number>, out: Int32Array, offset = 0): void {
  let c = w[0];
  let i = 0;
  const last = w.length - 1;
  for (let k = 0; k < u.length; k++) {
    while (u[k] >= c && i < last) c += w[++i];
    out[offset + k] = i;
  }
}

/** Systematic resampling: one uniform U, points (k + U)/n. */
export function systematicResample(weights: ArrayLike<number>, n: number, rng: Rng): Int32Array {
  const w = normalizeWeights(weights);
  checkN(n);
  const u0 = rng.uniform();
  const u = new Float64Array(n);
  for (let k = 0; k < n; k++) u[k] = (k + u0) / n;
  const out = new Int32Array(n);
  invertSorted(w, u, out);
  return out;
}

/** Multinomial resampling: n iid draws from w (sorted uniforms by normalised exponential spacings, O(n)). */
export function multinomialResample(weights: ArrayLike<number>, n: number, rng: Rng): Int32Array {
  const w = normalizeWeights(weights);
  checkN(n);
  const out = new Int32Array(n);
  multinomialInto(w, n, rng, out, 0);
  return out;
}

function multinomialInto(w: Float64Array, n: number, rng: Rng, out: Int32Array, offset: number): void {
  if (n === 0) return;
  // Order statistics of n uniforms: cumulative sums of n + 1 exponentials, normalised.
  const e = new Float64Array(n + 1);
  let s = 0;
  for (let k = 0; k <= n; k++) {
    s += -Math.log(1 - rng.uniform());
    e[k] = s;
  }
  const u = new Float64Array(n);
  for (let k = 0; k < n; k++) u[k] = e[k] / s;
  invertSorted(w, u, out, offset);
}

/** Residual resampling: ⌊n w_i⌋ copies of each particle, the rest multinomial on the residual weights. */
export function residualResample(weights: ArrayLike<number>, n: number, rng: Rng): Int32Array {
  const w = normalizeWeights(weights);
  checkN(n);
  const out = new Int32Array(n);
  const res = new Float64Array(w.length);
  let k = 0;
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(n * w[i]);
    for (let j = 0; j < c && k < n; j++) out[k++] = i;
    res[i] = n * w[i] - c;
  }
  const rest = n - k;
  if (rest > 0) multinomialInto(normalizeWeights(res), rest, rng, out, k);
  return out;
}

function checkN(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`resample: n must be a positive integer, got ${n}`);
}

/** Resamples `n` ancestor indices from `weights` with the named scheme. */
export function resample(scheme: ResampleScheme, weights: ArrayLike<number>, n: number, rng: Rng): Int32Array {
  switch (scheme) {
    case 'systematic': return systematicResample(weights, n, rng);
    case 'multinomial': return multinomialResample(weights, n, rng);
    case 'residual': return residualResample(weights, n, rng);
    default: throw new RangeError(`resample: unknown scheme '${scheme as string}'`);
  }
}
