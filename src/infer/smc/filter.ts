/**
 * Particle filters for state-space models (ssm.ts): the bootstrap filter and the filter with
 * the locally optimal proposal (Rao–Blackwellised where the model supplies it), with
 * ESS-triggered resampling; backward-simulation smoothing (FFBSi, Godsill, Doucet & West
 * 2004); and conditional SMC with ancestor sampling (Lindsten, Jordan & Schön 2014), the
 * kernel of a particle-Gibbs sweep over latent paths.
 *
 * Particles are one flat Float64Array of n × stateDim numbers; each step is one pass over
 * all of them. With normalised weights W_{t−1} and log incremental weights λ_t^i,
 *   log Ẑ = Σ_t log Σ_i W_{t−1}^i exp(λ_t^i),
 * which is an unbiased estimate of the marginal likelihood p(y_{0:T−1}) on the natural scale
 * (Del Moral 2004), whether or not a step resampled (resampling resets W to 1/n).
 */
import { Key, Rng } from '../../tensor/random';
import { effectiveSize, normalizeWeights, resample, type ResampleScheme } from './resample';
import type { Proposal, StateSpaceModel } from './ssm';

/**
 * The filters' random stream: xoshiro128** (Blackman & Vigna 2018) seeded from the key by
 * splitmix32. A particle filter draws a few numbers per particle per step, and the key's own
 * stream spends one threefry block on each uniform (~10× the cost of the rest of a bootstrap
 * step); xoshiro128** passes BigCrush, and the run is still fixed by the seed.
 */
export class FilterRng extends Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareN = 0;
  private hasSpareN = false;

  constructor(key: Key) {
    super(key);
    const [hi, lo] = key.words();
    let x = (hi ^ Math.imul(lo, 0x9e3779b9)) | 0;
    const next = () => {
      // splitmix32
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.s0 = next() ^ lo;
    this.s1 = next();
    this.s2 = next() ^ hi;
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  override uint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  override uniform(): number {
    for (;;) {
      const j = (this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6); // 27 + 26 bits
      if (j !== 0) return j * 1.1102230246251565e-16;
    }
  }

  override normal(mu = 0, sigma = 1): number {
    if (this.hasSpareN) {
      this.hasSpareN = false;
      return mu + sigma * this.spareN;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const th = 2 * Math.PI * this.uniform();
    this.spareN = r * Math.sin(th);
    this.hasSpareN = true;
    return mu + sigma * r * Math.cos(th);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Resampling schemes of the filters: those of resample.ts plus stratified. */
export type FilterResampleScheme = ResampleScheme | 'stratified';

const SCHEMES: readonly FilterResampleScheme[] = ['systematic', 'multinomial', 'residual', 'stratified'];

/** Options of `particleFilter`. */
export interface ParticleFilterOptions {
  /** Number of particles (default 1000). */
  particles?: number;
  /** Seed (default 1): the same seed gives the same run. */
  seed?: number;
  /** Resampling scheme (default 'systematic'). */
  resampling?: FilterResampleScheme;
  /** Resample before a step when the ESS is below this fraction of the particles (default 0.5; 1 always, 0 never). */
  resampleThreshold?: number;
  /** 'bootstrap' (default): propose from the transition; 'optimal': the model's locally optimal proposal. */
  proposal?: 'bootstrap' | 'optimal';
  /** Levels of the filtering quantiles reported per step and coordinate (default [0.05, 0.5, 0.95]; [] for none). */
  quantiles?: number[];
  /** Keep every step's particles, weights and ancestors (needed by `ffbsi`; default false). */
  history?: boolean;
  /**
   * Test-only bug, so tests can show their checks catch it (never use for inference):
   * 'keep-weights' does not reset the weights to 1/n after resampling.
   */
  _testBias?: 'keep-weights';
}

/** Every step's particles, normalised log weights and ancestors (`history: true`). */
export interface FilterHistory {
  /** particles[t]: n × stateDim states at step t (after the step's move). */
  particles: Float64Array[];
  /** logWeights[t]: normalised log weights at step t. */
  logWeights: Float64Array[];
  /** ancestors[t][i]: the particle at step t − 1 that particle i at step t came from (ancestors[0] is the identity). */
  ancestors: Int32Array[];
}

/** What `particleFilter` returns. */
export interface ParticleFilterResult {
  /** Number of steps, particles, and numbers per particle. */
  T: number;
  particles: number;
  stateDim: number;
  stateNames: readonly string[];
  proposal: 'bootstrap' | 'optimal';
  /** log Ẑ: the log of an unbiased estimate of the marginal likelihood p(y_{0:T−1}). */
  logZ: number;
  /** Per step: log Σ_i W_{t−1}^i exp(λ_t^i) (they sum to logZ). */
  logZIncrements: Float64Array;
  /** Filtering means E[x_t | y_{0:t}] per step and coordinate (T × stateDim). */
  means: Float64Array;
  /** Quantile levels, as given. */
  quantileLevels: number[];
  /** Weighted filtering quantiles at [(t · nq + j) · stateDim + d] (T × nq × stateDim). */
  quantiles: Float64Array;
  /** ESS of the weights after each step's reweighting. */
  ess: Float64Array;
  /** 1 where the particles were resampled before step t's move (step 0: never). */
  resampled: Uint8Array;
  /** Final particles (n × stateDim) and their normalised weights. */
  finalParticles: Float64Array;
  finalWeights: Float64Array;
  history?: FilterHistory;
  /** Wall-clock seconds of the run. */
  wallSeconds: number;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() / 1000 : Date.now() / 1000;
}

function checkSsm(where: string, ssm: StateSpaceModel): void {
  if (!ssm || typeof ssm !== 'object') throw new RangeError(`${where}: the state-space model is missing`);
  if (!Number.isInteger(ssm.T) || ssm.T < 1) throw new RangeError(`${where}: the model's T must be a positive integer, got ${ssm.T}`);
  if (!Number.isInteger(ssm.stateDim) || ssm.stateDim < 1) throw new RangeError(`${where}: the model's stateDim must be a positive integer, got ${ssm.stateDim}`);
}

function checkParticles(where: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${where}: particles must be an integer ≥ ${min}, got ${n}`);
}

function checkSeed(where: string, seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${seed}`);
}

/** Stratified resampling: one uniform per stratum [k/n, (k+1)/n). */
export function stratifiedResample(weights: ArrayLike<number>, n: number, rng: Rng): Int32Array {
  const w = normalizeWeights(weights);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`stratifiedResample: n must be a positive integer, got ${n}`);
  const out = new Int32Array(n);
  let c = w[0];
  let i = 0;
  const last = w.length - 1;
  for (let k = 0; k < n; k++) {
    const u = (k + rng.uniform()) / n;
    while (u >= c && i < last) c += w[++i];
    out[k] = i;
  }
  return out;
}

function resampleAny(scheme: FilterResampleScheme, w: ArrayLike<number>, n: number, rng: Rng): Int32Array {
  return scheme === 'stratified' ? stratifiedResample(w, n, rng) : resample(scheme, w, n, rng);
}

/** The model's bootstrap proposal: draw from the transition, weight by the observation density. */
export function bootstrapProposal(ssm: StateSpaceModel): Proposal {
  return {
    marginalised: false,
    init(x, n, rng, logw) {
      ssm.sampleInitial(x, n, rng);
      ssm.logObservation(0, x, n, logw);
    },
    step(t, prev, next, n, rng, logw) {
      ssm.sampleTransition(t, prev, next, n, rng);
      ssm.logObservation(t, next, n, logw);
    },
  };
}

/**
 * Adds the log incremental weights to the normalised log weights in place, renormalises, and
 * returns log Σ_i W^i exp(λ^i). Throws when a weight is NaN or every weight is zero.
 */
function reweight(where: string, t: number, logW: Float64Array, incr: Float64Array, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logW[i] + incr[i];
    if (Number.isNaN(v)) throw new RangeError(`${where}: the log weight of particle ${i} at step ${t + 1} is NaN (the model's log density gave NaN)`);
    if (v === Infinity) throw new RangeError(`${where}: the log weight of particle ${i} at step ${t + 1} is +Infinity`);
    logW[i] = v;
    if (v > m) m = v;
  }
  if (m === -Infinity) throw new RangeError(`${where}: every particle has weight 0 at step ${t + 1}: the observation is impossible under all particles (more particles or a better proposal may help)`);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(logW[i] - m);
  const lz = m + Math.log(s);
  for (let i = 0; i < n; i++) logW[i] -= lz;
  return lz;
}

/**
 * Weighted quantiles of each coordinate: the smallest particle value whose cumulative weight
 * reaches the level. The values are sorted natively (no comparator calls) and each particle's
 * weight is added to the bucket of its value's rank, found by binary search.
 */
function weightedQuantiles(x: Float64Array, w: Float64Array, n: number, D: number, levels: number[], out: Float64Array, off: number, sv: Float64Array, bucket: Float64Array): void {
  for (let d = 0; d < D; d++) {
    for (let i = 0; i < n; i++) sv[i] = x[i * D + d];
    sv.sort();
    bucket.fill(0);
    for (let i = 0; i < n; i++) {
      const v = x[i * D + d];
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sv[mid] < v) lo = mid + 1;
        else hi = mid;
      }
      bucket[lo] += w[i];
    }
    let c = 0;
    let j = 0;
    for (let q = 0; q < levels.length; q++) {
      const target = levels[q];
      while (j < n - 1 && c + bucket[j] < target) c += bucket[j++];
      out[off + q * D + d] = sv[j];
    }
  }
}

/**
 * Runs a particle filter on `ssm` and returns filtering means and quantiles per step, the ESS
 * trace, resampling flags, the final weighted particles and log Ẑ.
 *
 * @example
 * const ssm = linearGaussianSsm({ a: 0.9, q: 1, c: 1, r: 0.5, m0: 0, p0: 1 }, y);
 * const res = particleFilter(ssm, { particles: 1000, seed: 1, proposal: 'optimal' });
 * res.logZ; res.means; // compare kalmanFilter(...)
 */
export function particleFilter(ssm: StateSpaceModel, opts: ParticleFilterOptions = {}): ParticleFilterResult {
  const where = 'particleFilter';
  checkSsm(where, ssm);
  if (opts === null || typeof opts !== 'object') throw new RangeError(`${where}: options must be an object`);
  const n = opts.particles ?? 1000;
  checkParticles(where, n, 1);
  const seed = opts.seed ?? 1;
  checkSeed(where, seed);
  const scheme = opts.resampling ?? 'systematic';
  if (!SCHEMES.includes(scheme)) throw new RangeError(`${where}: unknown resampling scheme '${String(scheme)}'; schemes: ${SCHEMES.join(', ')}`);
  const thr = opts.resampleThreshold ?? 0.5;
  if (!(thr >= 0 && thr <= 1)) throw new RangeError(`${where}: resampleThreshold must be in [0, 1], got ${thr}`);
  const which = opts.proposal ?? 'bootstrap';
  if (which !== 'bootstrap' && which !== 'optimal') throw new RangeError(`${where}: proposal must be 'bootstrap' or 'optimal', got '${String(which)}'`);
  if (which === 'optimal' && !ssm.optimal) throw new RangeError(`${where}: the ${ssm.name} has no locally optimal proposal; use proposal 'bootstrap'`);
  const levels = opts.quantiles ?? [0.05, 0.5, 0.95];
  if (!Array.isArray(levels) || levels.some((q) => !(q >= 0 && q <= 1))) throw new RangeError(`${where}: quantiles must be levels in [0, 1], got ${JSON.stringify(levels)}`);
  for (let j = 1; j < levels.length; j++) if (levels[j] < levels[j - 1]) throw new RangeError(`${where}: quantile levels must be ascending`);
  const prop = which === 'optimal' ? ssm.optimal! : bootstrapProposal(ssm);
  const keepHistory = opts.history === true;
  const t0 = now();

  const { T, stateDim: D } = ssm;
  const rng = new FilterRng(Key.seed(seed).fold(0x7066)); // 'pf'
  let x = new Float64Array(n * D);
  let y = new Float64Array(n * D);
  const logW = new Float64Array(n).fill(-Math.log(n));
  const incr = new Float64Array(n);
  const W = new Float64Array(n);
  const means = new Float64Array(T * D);
  const nq = levels.length;
  const quantiles = new Float64Array(T * nq * D);
  const ess = new Float64Array(T);
  const resampled = new Uint8Array(T);
  const logZIncrements = new Float64Array(T);
  const qSorted = new Float64Array(n);
  const qBucket = new Float64Array(n);
  const hist: FilterHistory | undefined = keepHistory ? { particles: [], logWeights: [], ancestors: [] } : undefined;
  let logZ = 0;
  let anc: Int32Array | undefined;
  const identity = keepHistory ? Int32Array.from({ length: n }, (_, i) => i) : undefined;

  for (let t = 0; t < T; t++) {
    anc = undefined;
    if (t === 0) {
      prop.init(x, n, rng, incr);
    } else {
      // Resample when the ESS of the current weights falls below the threshold.
      if (thr >= 1 || effectiveSize(W) < thr * n) {
        anc = resampleAny(scheme, W, n, rng);
        for (let i = 0; i < n; i++) {
          const a = anc[i] * D;
          for (let d = 0; d < D; d++) y[i * D + d] = x[a + d];
        }
        const tmp = x;
        x = y;
        y = tmp;
        if (opts._testBias === 'keep-weights') {
          const old = Float64Array.from(logW);
          for (let i = 0; i < n; i++) logW[i] = old[anc[i]];
          // renormalise the (wrongly) kept weights so the estimate stays finite
          let m = -Infinity;
          for (let i = 0; i < n; i++) if (logW[i] > m) m = logW[i];
          let s = 0;
          for (let i = 0; i < n; i++) s += Math.exp(logW[i] - m);
          for (let i = 0; i < n; i++) logW[i] -= m + Math.log(s);
        } else {
          logW.fill(-Math.log(n));
        }
        resampled[t] = 1;
      }
      prop.step(t, x, y, n, rng, incr);
      const tmp = x;
      x = y;
      y = tmp;
    }
    const lz = reweight(where, t, logW, incr, n);
    logZIncrements[t] = lz;
    logZ += lz;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      W[i] = Math.exp(logW[i]);
      s2 += W[i] * W[i];
    }
    ess[t] = 1 / s2;
    for (let d = 0; d < D; d++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += W[i] * x[i * D + d];
      means[t * D + d] = m;
    }
    if (nq) weightedQuantiles(x, W, n, D, levels, quantiles, t * nq * D, qSorted, qBucket);
    if (hist) {
      hist.particles.push(Float64Array.from(x));
      hist.logWeights.push(Float64Array.from(logW));
      hist.ancestors.push(anc ? Int32Array.from(anc) : identity!);
    }
  }
  // The model's terms without the state (an HMM's logConst) enter the evidence once.
  const c = ssm.logConst ?? 0;
  if (!Number.isFinite(c)) throw new RangeError(`${where}: the model's logConst is ${c}, not a finite number`);
  logZIncrements[0] += c;
  logZ += c;
  return {
    T, particles: n, stateDim: D, stateNames: ssm.stateNames, proposal: which,
    logZ, logZIncrements, means, quantileLevels: [...levels], quantiles, ess, resampled,
    finalParticles: x, finalWeights: W, history: hist, wallSeconds: now() - t0,
  };
}

/** Draws an index with probability exp(lw_i − lse) given the max-shifted log weights. */
export function drawFromLog(lw: Float64Array, n: number, rng: Rng): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (lw[i] > m) m = lw[i];
  if (m === -Infinity) return -1;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(lw[i] - m);
  const u = rng.uniform() * s;
  let c = 0;
  for (let i = 0; i < n - 1; i++) {
    c += Math.exp(lw[i] - m);
    if (u < c) return i;
  }
  return n - 1;
}

/** Options of `ffbsi`. */
export interface FfbsiOptions {
  /** Number of smoothed trajectories (default 100). */
  trajectories?: number;
  /** Seed (default 1). */
  seed?: number;
}

/** Smoothed trajectories from `ffbsi`. */
export interface FfbsiResult {
  /** M trajectories, each T × stateDim, at [(m · T + t) · stateDim + d]. */
  trajectories: Float64Array;
  /** Number of trajectories. */
  count: number;
  /** Smoothing means E[x_t | y_{0:T−1}] per step and coordinate (T × stateDim): the average of the trajectories. */
  means: Float64Array;
}

/**
 * Backward-simulation smoothing (FFBSi): draws trajectories from the joint smoothing
 * distribution given a filter run made with `history: true`. From the last step's weighted
 * particles, each step t back draws x_t with probability ∝ W_t^i f(x_{t+1} | x_t^i). O(M n T).
 * Needs `ssm.logTransition` and particles that are Markov states (not Rao–Blackwellised).
 */
export function ffbsi(ssm: StateSpaceModel, filtered: ParticleFilterResult, opts: FfbsiOptions = {}): FfbsiResult {
  const where = 'ffbsi';
  checkSsm(where, ssm);
  if (!filtered?.history) throw new RangeError(`${where}: the filter result has no history; run particleFilter with history: true`);
  if (!ssm.logTransition) throw new RangeError(`${where}: the ${ssm.name} has no logTransition, which backward simulation needs`);
  if (filtered.proposal === 'optimal' && ssm.optimal?.marginalised) throw new RangeError(`${where}: the ${ssm.name}'s optimal proposal gives Rao–Blackwellised particles, which are not Markov states; smooth a bootstrap run`);
  if (filtered.T !== ssm.T || filtered.stateDim !== ssm.stateDim) throw new RangeError(`${where}: the filter result does not belong to this model (T ${filtered.T} vs ${ssm.T}, stateDim ${filtered.stateDim} vs ${ssm.stateDim})`);
  const M = opts.trajectories ?? 100;
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`${where}: trajectories must be a positive integer, got ${M}`);
  const seed = opts.seed ?? 1;
  checkSeed(where, seed);
  const rng = new FilterRng(Key.seed(seed).fold(0x6666));
  const { T, stateDim: D } = ssm;
  const n = filtered.particles;
  const h = filtered.history;
  const out = new Float64Array(M * T * D);
  const lt = new Float64Array(n);
  const lw = new Float64Array(n);
  for (let m = 0; m < M; m++) {
    let j = drawFromLog(h.logWeights[T - 1], n, rng);
    for (let d = 0; d < D; d++) out[(m * T + T - 1) * D + d] = h.particles[T - 1][j * D + d];
    for (let t = T - 2; t >= 0; t--) {
      ssm.logTransition(t + 1, h.particles[t], n, h.particles[t + 1], j, lt);
      const lwt = h.logWeights[t];
      for (let i = 0; i < n; i++) lw[i] = lwt[i] + lt[i];
      const k = drawFromLog(lw, n, rng);
      if (k < 0) throw new RangeError(`${where}: no particle at step ${t + 1} can reach the drawn state at step ${t + 2} (transition density 0 everywhere)`);
      j = k;
      for (let d = 0; d < D; d++) out[(m * T + t) * D + d] = h.particles[t][j * D + d];
    }
  }
  const means = new Float64Array(T * D);
  for (let m = 0; m < M; m++) for (let i = 0; i < T * D; i++) means[i] += out[m * T * D + i] / M;
  return { trajectories: out, count: M, means };
}

/** Options of `conditionalSmc`. */
export interface ConditionalSmcOptions {
  /** Number of particles, the reference included (default 100). */
  particles?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Resample the reference's ancestor (default true: CSMC with ancestor sampling). */
  ancestorSampling?: boolean;
}

/** One conditional SMC sweep: the new path and the sweep's log Ẑ. */
export interface ConditionalSmcResult {
  /** The new trajectory (T × stateDim). */
  trajectory: Float64Array;
  /** log Ẑ of the conditional sweep (not an unbiased evidence estimate: the reference is held). */
  logZ: number;
}

/**
 * One sweep of conditional SMC with ancestor sampling (bootstrap proposal, multinomial
 * resampling at every step): particle n−1 is held to `reference` (T × stateDim; omit it for
 * the first sweep, which is then an ordinary filter), its ancestor at each step is drawn with
 * probability ∝ W_{t−1}^i f(x*_t | x_{t−1}^i), and one trajectory is drawn from the final
 * weights. The map reference → trajectory leaves the smoothing distribution p(x_{0:T−1} | y)
 * invariant, so alternating it with draws of the parameters given the path is particle Gibbs.
 */
export function conditionalSmc(ssm: StateSpaceModel, reference: Float64Array | undefined, opts: ConditionalSmcOptions = {}): ConditionalSmcResult {
  const where = 'conditionalSmc';
  checkSsm(where, ssm);
  const n = opts.particles ?? 100;
  checkParticles(where, n, 2);
  const seed = opts.seed ?? 1;
  checkSeed(where, seed);
  const as = opts.ancestorSampling !== false;
  const { T, stateDim: D } = ssm;
  if (reference !== undefined) {
    if (!(reference instanceof Float64Array) || reference.length !== T * D) throw new RangeError(`${where}: reference must be a Float64Array of T × stateDim = ${T * D} numbers`);
    for (let i = 0; i < reference.length; i++) if (!Number.isFinite(reference[i])) throw new RangeError(`${where}: reference[${i}] is ${reference[i]}`);
    if (as && !ssm.logTransition) throw new RangeError(`${where}: ancestor sampling needs the ${ssm.name}'s logTransition`);
  }
  const rng = new FilterRng(Key.seed(seed).fold(0x6373));
  const xs: Float64Array[] = [];
  const ancs: Int32Array[] = [];
  const logW = new Float64Array(n).fill(-Math.log(n));
  const incr = new Float64Array(n);
  const lt = new Float64Array(n);
  const lw = new Float64Array(n);
  const W = new Float64Array(n);
  const ref = n - 1;
  let logZ = 0;
  for (let t = 0; t < T; t++) {
    const x = new Float64Array(n * D);
    if (t === 0) {
      ssm.sampleInitial(x, n, rng);
      if (reference) for (let d = 0; d < D; d++) x[ref * D + d] = reference[d];
      ancs.push(new Int32Array(n));
    } else {
      const prev = xs[t - 1];
      for (let i = 0; i < n; i++) W[i] = Math.exp(logW[i]);
      const a = new Int32Array(n);
      const drawn = resample('multinomial', W, reference ? n - 1 : n, rng);
      a.set(drawn);
      if (reference) {
        if (as) {
          ssm.logTransition!(t, prev, n, reference.subarray(t * D, (t + 1) * D), 0, lt);
          for (let i = 0; i < n; i++) lw[i] = logW[i] + lt[i];
          const k = drawFromLog(lw, n, rng);
          a[ref] = k < 0 ? ref : k;
        } else {
          a[ref] = ref;
        }
      }
      const g = new Float64Array(n * D);
      for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) g[i * D + d] = prev[a[i] * D + d];
      ssm.sampleTransition(t, g, x, n, rng);
      if (reference) for (let d = 0; d < D; d++) x[ref * D + d] = reference[t * D + d];
      ancs.push(a);
      logW.fill(-Math.log(n));
    }
    ssm.logObservation(t, x, n, incr);
    logZ += reweight(where, t, logW, incr, n);
    xs.push(x);
  }
  let j = drawFromLog(logW, n, rng);
  const traj = new Float64Array(T * D);
  for (let t = T - 1; t >= 0; t--) {
    for (let d = 0; d < D; d++) traj[t * D + d] = xs[t][j * D + d];
    j = ancs[t][j];
  }
  return { trajectory: traj, logZ };
}

/** Options of `particleGibbs`. */
export interface ParticleGibbsOptions extends ConditionalSmcOptions {
  /** Number of sweeps (default 100). */
  iterations?: number;
}

/**
 * Runs `iterations` sweeps of conditional SMC with ancestor sampling at fixed parameters and
 * returns the paths (a Markov chain on p(x_{0:T−1} | y)); each sweep uses the seed folded with
 * its index. For parameter learning, alternate `conditionalSmc` with a parameter update and
 * rebuild the model between sweeps.
 */
export function particleGibbs(ssm: StateSpaceModel, opts: ParticleGibbsOptions = {}): Float64Array[] {
  const it = opts.iterations ?? 100;
  if (!Number.isInteger(it) || it < 1) throw new RangeError(`particleGibbs: iterations must be a positive integer, got ${it}`);
  const seed = opts.seed ?? 1;
  checkSeed('particleGibbs', seed);
  const out: Float64Array[] = [];
  let ref: Float64Array | undefined;
  for (let i = 0; i < it; i++) {
    ref = conditionalSmc(ssm, ref, { ...opts, seed: (seed * 65537 + i) % 2 ** 52 }).trajectory;
    out.push(ref);
  }
  return out;
}
