/**
 * Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024, "Pareto
 * smoothed importance sampling", JMLR 25) and its k̂ diagnostic, as the R package loo
 * computes them (psis(), gpdfit() with the weakly informative prior on k).
 *
 * For variational inference (Yao, Vehtari, Simpson & Gelman 2018, "Yes, but did it work?"):
 * with draws u_s ~ q and log ratios log w_s = log p(y, u_s) − log q(u_s), k̂ of the largest
 * ratios says how far q is from the posterior: k̂ < 0.5 the guide is close and importance
 * sampling from it works well; 0.5–0.7 usable; > 0.7 the guide is not to be trusted (and
 * the importance-sampling estimates are unreliable too).
 */

/** The fitted generalised Pareto distribution of the tail exceedances. */
export interface GpdFit {
  /** Shape k (with the weakly informative prior of loo's gpdfit: shrunk towards 0.5 by 10 pseudo-observations). */
  k: number;
  /** Scale σ. */
  sigma: number;
}

/**
 * Fits a generalised Pareto distribution to positive exceedances x (sorted ascending)
 * by the empirical-Bayes method of Zhang & Stephens (2009), as loo::gpdfit.
 */
export function gpdFit(x: ArrayLike<number>): GpdFit {
  const n = x.length;
  if (n < 5) throw new RangeError(`gpdFit: need at least 5 exceedances, got ${n}`);
  for (let i = 0; i < n; i++) {
    if (!(x[i] >= 0) || !Number.isFinite(x[i])) throw new RangeError(`gpdFit: exceedance ${i} is ${x[i]}, not a finite nonnegative number`);
    if (i > 0 && x[i] < x[i - 1]) throw new RangeError('gpdFit: exceedances must be sorted ascending');
  }
  const prior = 3;
  const m = 30 + Math.floor(Math.sqrt(n));
  const xstar = x[Math.floor(n / 4 + 0.5) - 1];
  const xmax = x[n - 1];
  if (!(xmax > 0) || !(xstar > 0)) return { k: Infinity, sigma: NaN };
  const theta = new Float64Array(m);
  const lTheta = new Float64Array(m);
  let lMax = -Infinity;
  for (let j = 0; j < m; j++) {
    theta[j] = 1 / xmax + (1 - Math.sqrt(m / (j + 1 - 0.5))) / prior / xstar;
    // Profile log likelihood: n (log(−θ / k) − k − 1), k = −mean log1p(−θ x).
    const a = -theta[j];
    let k = 0;
    for (let i = 0; i < n; i++) k += Math.log1p(a * x[i]);
    k /= n;
    lTheta[j] = n * (Math.log(a / k) - k - 1);
    if (Number.isNaN(lTheta[j])) lTheta[j] = -Infinity;
    if (lTheta[j] > lMax) lMax = lTheta[j];
  }
  let wSum = 0;
  let thetaHat = 0;
  for (let j = 0; j < m; j++) {
    const w = Math.exp(lTheta[j] - lMax);
    wSum += w;
    thetaHat += w * theta[j];
  }
  thetaHat /= wSum;
  let k = 0;
  for (let i = 0; i < n; i++) k += Math.log1p(-thetaHat * x[i]);
  k /= n;
  const sigma = -k / thetaHat;
  // Weakly informative prior (loo's adjust_k_wip): 10 pseudo-observations at k = 0.5.
  const a = 10;
  return { k: (k * n) / (n + a) + (a * 0.5) / (n + a), sigma };
}

/** Quantile function of the generalised Pareto distribution with location 0. */
export function gpdQuantile(p: number, k: number, sigma: number): number {
  return k === 0 ? -sigma * Math.log1p(-p) : (sigma * Math.expm1(-k * Math.log1p(-p))) / k;
}

/** Pareto-smoothed log weights and the k̂ diagnostic. */
export interface PsisResult {
  /** The smoothed log weights (same order as the input; not normalised). */
  logWeights: Float64Array;
  /** The Pareto shape estimate k̂ of the largest ratios (Infinity when the tail is degenerate, NaN for too few draws). */
  khat: number;
  /** Number of largest ratios in the fitted tail: min(0.2 S, 3 √S). */
  tailLength: number;
}

/**
 * PSIS (Vehtari et al. 2024): the largest M = ⌈min(0.2 S, 3 √S)⌉ of the S log ratios are
 * replaced by the expected order statistics of a generalised Pareto fitted to them
 * (truncated at the largest raw ratio), and k̂ is that fit's shape. Non-finite log ratios
 * (−Infinity: a draw outside the support) are allowed; NaN is refused.
 *
 * @example
 * const { khat } = psis(logRatios); // khat > 0.7: do not trust the approximation
 */
export function psis(logRatios: ArrayLike<number>): PsisResult {
  const S = logRatios.length;
  const out = Float64Array.from(logRatios);
  for (let i = 0; i < S; i++) {
    if (Number.isNaN(out[i]) || out[i] === Infinity) throw new RangeError(`psis: log ratio ${i} is ${out[i]}`);
  }
  let mx = -Infinity;
  for (let i = 0; i < S; i++) if (out[i] > mx) mx = out[i];
  if (mx === -Infinity) throw new RangeError('psis: every log ratio is -Infinity');
  const M = Math.ceil(Math.min(0.2 * S, 3 * Math.sqrt(S)));
  if (M < 5) return { logWeights: out, khat: NaN, tailLength: 0 };
  const order = Array.from({ length: S }, (_, i) => i).sort((a, b) => out[a] - out[b]);
  const cutoff = out[order[S - M - 1]] - mx;
  if (cutoff === -Infinity) return { logWeights: out, khat: Infinity, tailLength: M };
  const expCut = Math.exp(cutoff);
  const tail = new Float64Array(M);
  for (let j = 0; j < M; j++) tail[j] = Math.exp(out[order[S - M + j]] - mx) - expCut;
  // Ties at the cutoff give zero exceedances; a constant tail cannot be fitted.
  if (!(tail[M - 1] > 0)) return { logWeights: out, khat: Infinity, tailLength: M };
  const { k, sigma } = gpdFit(tail);
  if (Number.isFinite(k)) {
    for (let j = 0; j < M; j++) {
      const q = gpdQuantile((j + 1 - 0.5) / M, k, sigma) + expCut;
      out[order[S - M + j]] = Math.min(Math.log(q), 0) + mx;
    }
  }
  return { logWeights: out, khat: k, tailLength: M };
}
