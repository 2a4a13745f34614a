/**
 * Reverse diffusion Monte Carlo (rdMC; Huang, Dong, Ma & Zhang 2024, "Reverse Diffusion
 * Monte Carlo"): sample a target π by running the reverse of an Ornstein–Uhlenbeck noising
 * process, with the score of each noised marginal estimated by Monte Carlo from π's own
 * density rather than learnt.
 *
 * Forward (OU) process: dX = −X dt + √2 dB, so X_t = e^{−t} X₀ + σ_t ξ, σ_t² = 1 − e^{−2t},
 * with marginals p_t = π ⋆ N(0, σ_t²) after scaling, and p_∞ = N(0, I). By Tweedie's formula
 *   ∇log p_t(x) = (e^{−t} E[X₀ | X_t = x] − x) / σ_t²,
 *   q_t(x₀ | x) ∝ π(x₀) exp(−‖x − e^{−t} x₀‖² / (2σ_t²)) = π(x₀) N(x₀; e^t x, (e^{2t} − 1) I) · const.
 *
 * Score estimate (importance-weighted mean estimation): at each reverse step, `innerSamples`
 * draws x₀ʲ from the Gaussian N(e^t x, (e^{2t} − 1) I) times a broad Gaussian reference
 * N(0, s₀²) (a product of Gaussians, so again Gaussian; the reference keeps the proposal from
 * spreading over e^{2t} − 1 when t is large), weighted by π(x₀ʲ)/N(x₀ʲ; 0, s₀²) and
 * self-normalised. Options: more draws, in batches of `innerSamples` up to `maxInnerSamples`,
 * while the weights' ESS is below `innerEss`; a pool of `poolSamples` reference draws shared
 * by all chains at each step, combined with each chain's own draws by the balance heuristic;
 * and, with `innerSteps` > 0, resampling the weighted cloud and moving it by that many
 * unadjusted Langevin steps on q_t(· | x) (the paper's inner ULA), step size
 * `innerStepSize` · min(1, e^{2t} − 1) (q_t's curvature is at least 1/(e^{2t} − 1)). E[X₀ | x]
 * is the (weighted) mean of the cloud.
 *
 * Reverse process: from y ~ N(0, I) at t = T (≈ p_T; KL(p_T ‖ N(0, I)) = O(e^{−2T})), each
 * step t → t' (η = t − t') draws y' from the OU bridge, the law of X_{t'} given X_t = y and
 * X₀ = x₀ (Gaussian, precision 1/σ²_{t'} + e^{−2η}/σ²_η, mean weighting e^{−t'} x₀/σ²_{t'} and
 * e^{−η} y/σ²_η), with x₀ one draw from the weighted inner cloud (`bridge: 'draw'`). When the
 * cloud is an exact sample of q_t(· | y) the step is an exact draw of X_{t'} | X_t = y, so the
 * time grid adds no discretisation error and only the inner estimate does. With
 * `bridge: 'mean'`, x₀ is the cloud's mean, the importance-weighted estimate of E[X₀ | y]:
 * the step then has the mean of the reverse SDE's exact transition (its drift is the
 * estimated score ∇log p_t(y) = (e^{−t} E[X₀ | y] − y)/σ_t²) but too little variance (the
 * DDPM ancestral step). Freezing the score over a step instead (Euler–Maruyama or the
 * exponential integrator) is badly biased for targets narrower than the OU's unit scale: on
 * N(1.385, 0.555²), 25 equal steps gave a sd of 0.75, 100 steps 0.60.
 *
 * Time grid: `steps` steps from t = `horizon` (T, default 4) to t = `earlyStop` (δ, default
 * 0.01), log-spaced by default (t_k = T (δ/T)^{k/K}). The output is one draw x₀ from the
 * inner cloud at δ: a draw from q_δ(· | y), which has law π when y ~ p_δ.
 *
 * Defaults and cost: 25 steps and 256 importance samples per step, no inner ULA, no pool:
 * chains · (steps + 1) · innerSamples target evaluations. On the bimodal 2-D mixture of the
 * tests (modes ±(4, 4), weights 0.3/0.7) the minor weight came out 0.306 ± 0.003 (4 seeds of
 * 2000 chains) with these defaults, 0.325 with 128 samples: the self-normalised estimate's
 * O(1/innerSamples) bias is the main error. On N(1.385, 0.555²) the sd came out 0.559 (64 or
 * 256 samples, 25 steps; 4000 chains). The importance step is accurate when the proposal
 * covers q_t, which holds in low dimension; in high dimension its ESS collapses and the
 * inner ULA (`innerSteps`) and the shared pool must do the work (see bench/results/score.md).
 *
 * The process acts on z = (u − center) / scale, so give `center` and `scale` (per
 * coordinate) when the target is far from standardised; the OU prior N(0, I) is then
 * roughly matched to the target's location and spread.
 */
import type { GradientTarget } from '../mcmc/hmc';
import { checkInt, checkPositive, checkTarget, keyOf, logDensityGradsAt } from './langevin';
import type { Key } from '../../tensor/random';
import { DEFAULT_REFERENCE_SD } from './annealed';

/** Options of {@link rdmc}. */
export interface RdmcOptions {
  /** Independent reverse-diffusion chains, each giving one draw (default 1000). */
  chains?: number;
  /** Horizon T of the forward process (default 4). */
  horizon?: number;
  /** Early-stopping time δ, 0 < δ < T (default 0.01). */
  earlyStop?: number;
  /** Reverse steps between T and δ (default 25). */
  steps?: number;
  /**
   * Time grid: 'log' (default), t_k = T (δ/T)^{k/K}, dense near δ where the score of a
   * narrow target changes fast; or 'uniform', equal steps.
   */
  timeGrid?: 'log' | 'uniform';
  /**
   * What the reverse step bridges from: 'draw' (default), one x₀ drawn from the weighted inner
   * cloud (the step is then an exact draw of x_{t'} | x_t when the cloud is exact), or 'mean',
   * the cloud's mean E[x₀ | x_t] (the DDPM ancestral step: right mean, too little variance).
   */
  bridge?: 'draw' | 'mean';
  /** Importance samples per score estimate (default 256). */
  innerSamples?: number;
  /**
   * Effective sample size the importance step aims at: batches of `innerSamples` are added
   * while the ESS is below it, up to `maxInnerSamples` (default 0: one batch).
   */
  innerEss?: number;
  /** Most importance samples per score estimate when `innerEss` asks for more (default 8 · innerSamples). */
  maxInnerSamples?: number;
  /**
   * Draws of the reference N(0, s₀²) shared by all chains at each time step, combined with
   * each chain's own samples by the balance heuristic (default 0: off). It helps at large t,
   * where the own proposal is broad, at a cost of poolSamples · dim operations per chain and
   * step.
   */
  poolSamples?: number;
  /** Inner ULA steps on q_t(x₀ | x) after the importance step (default 0). */
  innerSteps?: number;
  /** Inner ULA step size, relative to min(1, e^{2t} − 1) (default 0.1). */
  innerStepSize?: number;
  /** Standard deviation s₀ of the reference in the importance proposal, in z units (default 3). */
  referenceSd?: number;
  /** Centre of the standardisation z = (u − center)/scale (default 0). */
  center?: number | ArrayLike<number>;
  /** Scale of the standardisation (default 1). */
  scale?: number | ArrayLike<number>;
  seed?: number;
  key?: Key;
  /** Called after each reverse step with the 1-based step, the number of steps and the step's mean inner ESS. */
  onStep?: (step: number, of: number, innerEss: number) => void;
}

/** The output of {@link rdmc}. */
export interface RdmcResult {
  /** One draw per chain (each of length dim), on the target's own scale. */
  samples: Float64Array[];
  /** log π at each draw. */
  lp: Float64Array;
  /** The time grid, T = t₀ > t₁ > … > t_K = δ. */
  times: number[];
  /** Mean relative ESS of the importance weights over the chains, per reverse step (index k: at time t_k, k < K), and at δ (last). */
  innerEss: number[];
  /** Target evaluations made. */
  evals: number;
}

/**
 * Runs reverse diffusion Monte Carlo on `target` and returns one draw per chain (see the
 * module comment for the estimator, the time grid and the inner sample counts).
 *
 * @example
 * const r = rdmc(target, { chains: 2000, innerSamples: 128, seed: 1 });
 * r.samples; // 2000 approximate draws from the target
 */
export function rdmc(target: GradientTarget, opts: RdmcOptions = {}): RdmcResult {
  const W = 'rdmc';
  const d = checkTarget(W, target);
  const C = checkInt(W, 'chains', opts.chains ?? 1000, 1);
  const T = checkPositive(W, 'horizon', opts.horizon ?? 4);
  const delta = checkPositive(W, 'earlyStop', opts.earlyStop ?? 0.01);
  if (!(delta < T)) throw new RangeError(`${W}: earlyStop must be below horizon (${T}), got ${delta}`);
  const K = checkInt(W, 'steps', opts.steps ?? 25, 1);
  const n = checkInt(W, 'innerSamples', opts.innerSamples ?? 256, 1);
  const m = checkInt(W, 'innerSteps', opts.innerSteps ?? 0, 0);
  const minEss = opts.innerEss ?? 0;
  if (!(minEss >= 0) || minEss === Infinity) throw new RangeError(`${W}: innerEss must be a nonnegative finite number, got ${String(minEss)}`);
  const maxN = checkInt(W, 'maxInnerSamples', opts.maxInnerSamples ?? 8 * n, n);
  const drawX0 = (opts.bridge ?? 'draw') === 'draw';
  if (opts.bridge !== undefined && opts.bridge !== 'draw' && opts.bridge !== 'mean') throw new RangeError(`${W}: bridge must be 'draw' or 'mean', got '${String(opts.bridge)}'`);
  const pool = checkInt(W, 'poolSamples', opts.poolSamples ?? 0, 0);
  const hIn = checkPositive(W, 'innerStepSize', opts.innerStepSize ?? 0.1);
  const s0 = checkPositive(W, 'referenceSd', opts.referenceSd ?? DEFAULT_REFERENCE_SD);
  const vec = (name: string, v: number | ArrayLike<number>, positive: boolean) => {
    const out = new Float64Array(d);
    if (typeof v === 'number') out.fill(v);
    else if (v.length !== d) throw new RangeError(`${W}: ${name} must be a number or have length dim = ${d}, got length ${v.length}`);
    else out.set(Array.from(v));
    for (let i = 0; i < d; i++) {
      if (positive) checkPositive(W, `${name}[${i}]`, out[i]);
      else if (!Number.isFinite(out[i])) throw new RangeError(`${W}: ${name}[${i}] must be finite, got ${out[i]}`);
    }
    return out;
  };
  const center = vec('center', opts.center ?? 0, false);
  const scale = vec('scale', opts.scale ?? 1, true);
  const key = keyOf(W, opts);

  // The target in z coordinates: log π(center + scale ⊙ z), gradient scale ⊙ ∇log π.
  const uBuf = new Float64Array(d);
  const gBuf = new Float64Array(d);
  let evals = 0;
  // A target log density as rdMC uses it: NaN is −∞ (outside the support), +∞ an error.
  const supported = (lp: number): number => {
    if (lp === Infinity) throw new RangeError(`${W}: the target log density is +Infinity`);
    return Number.isNaN(lp) ? -Infinity : lp;
  };
  const toU = (z: ArrayLike<number>, u: Float64Array): Float64Array => {
    for (let i = 0; i < d; i++) u[i] = center[i] + scale[i] * z[i];
    return u;
  };
  const logPiZ = (z: Float64Array, grad: Float64Array | null): number => {
    const lp = supported(target.logDensityGrad(toU(z, uBuf), gBuf));
    evals++;
    if (grad) for (let i = 0; i < d; i++) grad[i] = scale[i] * gBuf[i];
    return lp;
  };
  // log π at the points x0[j], j in [from, to), as one evaluation (logDensityGradsAt), into lpi.
  const logPiRange = (from: number, to: number): void => {
    const us = Array.from({ length: to - from }, (_, b) => toU(x0[from + b], new Float64Array(d)));
    const lps = logDensityGradsAt(target, us, us.map(() => new Float64Array(d)));
    evals += us.length;
    lps.forEach((lp, b) => { lpi[from + b] = supported(lp); });
  };

  const grid = opts.timeGrid ?? 'log';
  if (grid !== 'log' && grid !== 'uniform') throw new RangeError(`${W}: timeGrid must be 'log' or 'uniform', got '${String(grid)}'`);
  const times = Array.from({ length: K + 1 }, (_, k) => (grid === 'uniform' ? T - ((T - delta) * k) / K : T * Math.pow(delta / T, k / K)));
  const innerEss = new Array<number>(K + 1).fill(0);

  const cap = Math.max(n, maxN);
  const M = pool;
  const x0 = Array.from({ length: cap + M }, () => new Float64Array(d)); // own samples, then the pool
  const lpi = new Float64Array(cap + M); // log π at each
  const lrf = new Float64Array(cap + M); // log N(x; 0, s0²) at each
  const x1 = Array.from({ length: n }, () => new Float64Array(d));
  const lw = new Float64Array(cap + M);
  const w = new Float64Array(cap + M);
  let used = n; // own inner samples in the current cloud
  let all = n; // own samples plus the pool: w[0..all) are the cloud's weights
  const grad = new Float64Array(d);
  const mean = new Float64Array(d);
  const logRef = (z: Float64Array) => {
    let q = 0;
    for (let i = 0; i < d; i++) q += z[i] * z[i];
    return (-0.5 * q) / (s0 * s0) - 0.5 * d * Math.log(2 * Math.PI * s0 * s0);
  };

  /** The pool of time t: M draws of the reference N(0, s0²), shared by the chains. */
  const fillPool = (rng: ReturnType<Key['rng']>) => {
    for (let j = cap; j < cap + M; j++) {
      const z = x0[j];
      for (let i = 0; i < d; i++) z[i] = s0 * rng.normal();
      lrf[j] = logRef(z);
    }
    logPiRange(cap, cap + M);
  };

  /**
   * Weights of the cloud for q_t(· | y) by the balance heuristic over the two proposals
   * (own samples from g_y = N(e^t y, vt) N(0, s0²) / c_y, the pool from N(0, s0²)): for a
   * sample x, log w = log π + log φ − log r − log(a φ / c_y + b), φ = N(x; e^t y, vt), r the
   * reference, a and b the proposals' shares. Returns the ESS (absolute).
   */
  const weigh = (y: Float64Array, et: number, vt: number): number => {
    const nn = used + M;
    const la = Math.log(used / nn);
    const lb = M > 0 ? Math.log(M / nn) : -Infinity;
    let cq = 0;
    for (let i = 0; i < d; i++) cq += (et * y[i]) ** 2;
    const lc = (-0.5 * cq) / (vt + s0 * s0) - 0.5 * d * Math.log(2 * Math.PI * (vt + s0 * s0));
    const lnorm = -0.5 * d * Math.log(2 * Math.PI * vt);
    let mx = -Infinity;
    const one = (j: number) => {
      const z = x0[j];
      let q = 0;
      for (let i = 0; i < d; i++) q += (z[i] - et * y[i]) ** 2;
      const lphi = (-0.5 * q) / vt + lnorm;
      const u1 = la + lphi - lc;
      const den = u1 > lb ? u1 + Math.log1p(Math.exp(lb - u1)) : lb + Math.log1p(Math.exp(u1 - lb));
      lw[j] = lpi[j] + lphi - lrf[j] - den;
      if (lw[j] > mx) mx = lw[j];
    };
    for (let j = 0; j < used; j++) one(j);
    for (let j = cap; j < cap + M; j++) one(j);
    if (!(mx > -Infinity)) return 0;
    let s1 = 0;
    let s2 = 0;
    const put = (j: number, k: number) => {
      const e = Math.exp(lw[j] - mx);
      w[k] = e;
      s1 += e;
      s2 += e * e;
    };
    for (let j = 0; j < used; j++) put(j, j);
    for (let j = 0; j < M; j++) put(cap + j, used + j);
    // Pack the pool after the own samples so the cloud is x0[0..used) ++ pool, weights w[0..all).
    all = used + M;
    for (let k = 0; k < all; k++) w[k] /= s1;
    return (s1 * s1) / s2;
  };
  const cloudPoint = (k: number) => (k < used ? x0[k] : x0[cap + (k - used)]);

  /**
   * Fills the inner cloud for q_t(· | y): own importance samples in batches of `innerSamples`
   * (more batches while the ESS is below `innerEss`, up to `maxInnerSamples`) plus the pool,
   * then optional ULA; leaves the normalised weights in w[0..all) and returns the relative ESS.
   */
  const innerCloud = (t: number, y: Float64Array, rng: ReturnType<Key['rng']>): number => {
    const et = Math.exp(t);
    const vt = Math.expm1(2 * t); // e^{2t} − 1: the Gaussian factor's variance in x₀
    const pv = 1 / (1 / vt + 1 / (s0 * s0));
    const psd = Math.sqrt(pv);
    let ess = 0;
    used = 0;
    while (used < cap) {
      const to = Math.min(cap, used + n);
      for (let j = used; j < to; j++) {
        const z = x0[j];
        for (let i = 0; i < d; i++) z[i] = pv * ((et * y[i]) / vt) + psd * rng.normal();
        lrf[j] = logRef(z);
      }
      logPiRange(used, to);
      used = to;
      ess = weigh(y, et, vt);
      if (ess >= minEss && ess > 0) break;
    }
    if (!(ess > 0)) throw new RangeError(`${W}: the target density is zero at all ${used + M} inner samples at t = ${t}; raise innerSamples or referenceSd, or give center/scale`);
    const rel = ess / all;
    if (m > 0) {
      // Multinomial resampling of the cloud to n, then ULA on q_t(· | y).
      for (let j = 0; j < n; j++) {
        let r = rng.uniform();
        let k = 0;
        while (k < all - 1 && r >= w[k]) r -= w[k++];
        x1[j].set(cloudPoint(k));
      }
      const h = hIn * Math.min(1, vt);
      const sh = Math.sqrt(h);
      for (let j = 0; j < n; j++) {
        const z = x1[j];
        for (let st = 0; st < m; st++) {
          const lp = logPiZ(z, grad);
          if (!(lp > -Infinity)) throw new RangeError(`${W}: an inner Langevin step left the support at t = ${t}; lower innerStepSize`);
          for (let i = 0; i < d; i++) {
            const gq = grad[i] - (z[i] - et * y[i]) / vt;
            z[i] += 0.5 * h * gq + sh * rng.normal();
          }
        }
      }
      // The moved cloud replaces the importance sample (the pool is left out: it was not moved).
      for (let j = 0; j < n; j++) x0[j].set(x1[j]);
      used = n;
      all = n;
      w.fill(1 / n, 0, n);
    }
    return rel;
  };

  // Time-major: every chain takes step k before any takes step k + 1, so they share the pool.
  const ys = Array.from({ length: C }, () => new Float64Array(d));
  const rngs = Array.from({ length: C }, (_, c) => key.fold(c).rng());
  const poolRng = key.fold(0xfffffff1).rng();
  for (let c = 0; c < C; c++) for (let i = 0; i < d; i++) ys[c][i] = rngs[c].normal();
  for (let k = 0; k < K; k++) {
    const t = times[k];
    const t1 = times[k + 1];
    const eta = t - t1;
    // The OU bridge from x_t back to x_{t1} given x₀ (Gaussian), with x₀ replaced by the
    // estimate of E[x₀ | x_t]: precision 1/σ²_{t1} + e^{−2η}/σ²_η.
    const s2a = -Math.expm1(-2 * t1);
    const s2b = -Math.expm1(-2 * eta);
    const vb = 1 / (1 / s2a + Math.exp(-2 * eta) / s2b);
    const A = (vb * Math.exp(-t1)) / s2a;
    const B = (vb * Math.exp(-eta)) / s2b;
    const nsd = Math.sqrt(vb);
    if (M > 0) fillPool(poolRng);
    for (let c = 0; c < C; c++) {
      const y = ys[c];
      const rng = rngs[c];
      innerEss[k] += innerCloud(t, y, rng) / C;
      if (drawX0) {
        let r = rng.uniform();
        let j = 0;
        while (j < all - 1 && r >= w[j]) r -= w[j++];
        mean.set(cloudPoint(j));
      } else {
        mean.fill(0);
        for (let j = 0; j < all; j++) {
          const z = cloudPoint(j);
          for (let i = 0; i < d; i++) mean[i] += w[j] * z[i];
        }
      }
      for (let i = 0; i < d; i++) y[i] = A * mean[i] + B * y[i] + nsd * rng.normal();
    }
    opts.onStep?.(k + 1, K, innerEss[k]);
  }
  // Final draw: one x₀ from q_δ(· | y) per chain.
  const samples: Float64Array[] = [];
  const lpOut = new Float64Array(C);
  if (M > 0) fillPool(poolRng);
  for (let c = 0; c < C; c++) {
    const rng = rngs[c];
    innerEss[K] += innerCloud(delta, ys[c], rng) / C;
    let r = rng.uniform();
    let k = 0;
    while (k < all - 1 && r >= w[k]) r -= w[k++];
    const z = cloudPoint(k);
    const u = new Float64Array(d);
    for (let i = 0; i < d; i++) u[i] = center[i] + scale[i] * z[i];
    samples.push(u);
    lpOut[c] = logPiZ(z, null);
  }
  return { samples, lp: lpOut, times, innerEss, evals };
}
