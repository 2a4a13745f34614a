/**
 * Sequential Monte Carlo for static models: tempered (annealed) SMC from the prior to the
 * posterior through π_β(θ) ∝ p(θ) p(y|θ)^β, 0 = β_0 < β_1 < … < β_T = 1 (Del Moral, Doucet &
 * Jasra 2006; adaptive schedule by the conditional ESS of Zhou, Johansen & Aston 2016).
 *
 * Each stage: pick β' by bisection so that the (conditional) ESS of the incremental weights
 * exp((β' − β) ℓ_i) hits a fraction of the particle count; reweight; add log Σ W_i exp((β' − β) ℓ_i)
 * to the log evidence; resample when the ESS drops below a threshold; then rejuvenate with an
 * MCMC kernel (static HMC or random-walk Metropolis) invariant for π_β' on the unconstrained
 * space, with a diagonal metric from the particle cloud's variance and a step size adapted
 * across stages from the acceptance rate.
 *
 * On the unconstrained vector u the tempered target is
 *   log π_β(u) = log p(θ(u)) + log|J(u)| + β ℓ(u)
 *             = −V_full(u) + (1 − β) V_lik(u),
 * with V_full = −(ℓ + log prior + log|J|) (`potentialFunction()`) and V_lik = −ℓ
 * (`potentialFunction({ priors: false, jacobian: false })`).
 */
import type { BoundModel, PotentialFunction } from '../../model/bound-model';
import type { DataInput } from '../../model/data';
import type { Model } from '../../model/model';
import { Key } from '../../tensor/random';
import { diagMetric, Hamiltonian, PhasePoint, StaticHmcKernel, type GradientTarget } from '../mcmc/hmc';
import { effectiveSize, resample, weightsFromLog, type ResampleScheme } from './resample';

export { effectiveSize, multinomialResample, normalizeWeights, resample, residualResample, systematicResample, weightsFromLog, type ResampleScheme } from './resample';
export * from './filter';
export * from './ssm';
export * from './kalman';

/**
 * The tempered target π_β on the unconstrained space, as a `GradientTarget` for the HMC
 * kernels: log density −V_full + (1 − β) V_lik and its gradient.
 */
export class TemperedTarget implements GradientTarget {
  readonly dim: number;
  private readonly gl: Float64Array;

  constructor(readonly full: PotentialFunction, readonly lik: PotentialFunction, public beta: number) {
    if (full.dim !== lik.dim) throw new RangeError(`TemperedTarget: potential dimensions differ (${full.dim} vs ${lik.dim})`);
    this.dim = full.dim;
    this.gl = new Float64Array(full.dim);
  }

  static of(bound: BoundModel, beta: number): TemperedTarget {
    return new TemperedTarget(bound.potentialFunction(), bound.potentialFunction({ priors: false, jacobian: false }), beta);
  }

  logDensityGrad(u: Float64Array, grad: Float64Array): number {
    const vf = this.full.valueAndGrad(u, grad);
    const c = 1 - this.beta;
    if (c === 0) {
      for (let i = 0; i < this.dim; i++) grad[i] = -grad[i];
      return -vf;
    }
    const vl = this.lik.valueAndGrad(u, this.gl);
    for (let i = 0; i < this.dim; i++) grad[i] = -grad[i] + c * this.gl[i];
    return -vf + c * vl;
  }

  logDensity(u: ArrayLike<number>): number {
    const vf = this.full.value(u);
    const c = 1 - this.beta;
    return c === 0 ? -vf : -vf + c * this.lik.value(u);
  }

  /** The log likelihood ℓ(u) (NaN mapped to −Infinity). */
  logLik(u: ArrayLike<number>): number {
    const l = -this.lik.value(u);
    return Number.isNaN(l) ? -Infinity : l;
  }
}

export interface RejuvenationOptions {
  /** MCMC kernel invariant for the current tempered target (default 'hmc'). */
  kernel?: 'hmc' | 'rwmh';
  /** Kernel transitions per particle per stage (default 3). */
  steps?: number;
  /** Leapfrog steps per HMC transition (default 10). */
  leapfrogSteps?: number;
  /** Initial step size (HMC, relative to the cloud's sd) or proposal scale (RWMH). */
  stepSize?: number;
  /** Acceptance rate the step size is scaled towards (default 0.65 for HMC, 0.3 for RWMH, 0.44 in 1-D). */
  targetAccept?: number;
}

export interface SmcOptions {
  /** Number of particles (default 1000). */
  particles?: number;
  /** Seed (default 1): the same seed gives the same run. */
  seed?: number;
  /** Fraction of particles the (conditional) ESS of the next stage's incremental weights is set to (default 0.5). */
  essThreshold?: number;
  /** Criterion of the adaptive schedule: conditional ESS (default) or ESS of the new weights. */
  adaptOn?: 'cess' | 'ess';
  /** Resample when the ESS falls below this fraction of the particles (default 0.5; 'ess' always resamples). */
  resampleThreshold?: number;
  /** Resampling scheme (default 'systematic'). */
  resampling?: ResampleScheme;
  rejuvenation?: RejuvenationOptions;
  /** Most tempering stages (default 200); throws if β has not reached 1 by then. */
  maxStages?: number;
  /** Data for the prior draws (`model.simulate`): covariates and sizes; default the bound sizes. */
  data?: DataInput;
  /**
   * Test-only kernel bug, so tests can show their checks catch it (never use for inference):
   * 'kernel-beta' rejuvenates with the previous stage's β instead of the new one.
   */
  _testBias?: 'kernel-beta';
}

export interface SmcResult {
  /** Dotted names of the constrained values (`mu`, `theta.2`). */
  names: string[];
  /** Constrained values of each particle, flattened as `names`. */
  particles: Float64Array[];
  /** Unconstrained vectors of each particle. */
  unconstrained: Float64Array[];
  /** Normalised final weights. */
  weights: Float64Array;
  /** The tempering schedule, β_0 = 0, …, 1. */
  betas: number[];
  /** ESS of the weights after each stage's reweighting (index 0: the prior draws). */
  ess: number[];
  /** Whether each stage resampled (index 0: false). */
  resampled: boolean[];
  /** Mean acceptance rate of the rejuvenation at each stage (index 0: NaN). */
  acceptance: number[];
  /** Step size (HMC) or proposal scale (RWMH) used at each stage (index 0: NaN). */
  stepSizes: number[];
  /** log Ẑ = Σ log Σ_i W_i exp((β_t − β_{t−1}) ℓ_i): the log marginal likelihood estimate. */
  logZ: number;
  logZIncrements: number[];
  /** Weighted mean and variance of the constrained value `name` (a dotted name). */
  moments(name: string): { mean: number; variance: number };
}

/** log Σ_i exp(a_i) (−Infinity for an empty or all −Infinity input). */
function logSumExp(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  if (!(m > -Infinity)) return -Infinity;
  if (m === Infinity) return Infinity;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.exp(a[i] - m);
  return m + Math.log(s);
}

/** Relative (conditional) ESS after an increment δ: CESS/P = (Σ W_i w_i)² / Σ W_i w_i², or ESS/P of W_i w_i, with w_i = exp(δ ℓ_i). */
function relativeEss(logW: Float64Array, ll: Float64Array, delta: number, mode: 'cess' | 'ess'): number {
  const n = logW.length;
  const inc = new Float64Array(n);
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    inc[i] = ll[i] === -Infinity ? (delta > 0 ? -Infinity : 0) : delta * ll[i];
    if (logW[i] > -Infinity && inc[i] > m) m = inc[i];
  }
  if (!(m > -Infinity)) return 0;
  if (mode === 'cess') {
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      if (logW[i] === -Infinity) continue;
      const W = Math.exp(logW[i]);
      const w = Math.exp(inc[i] - m);
      s1 += W * w;
      s2 += W * w * w;
    }
    return s2 > 0 ? (s1 * s1) / s2 : 0;
  }
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.exp(logW[i] + inc[i] - m);
  return effectiveSize(w) / n;
}

/** Runs tempered SMC from the prior of `model` to the posterior given the data bound in `bound`. */
export function smc(model: Model, bound: BoundModel, opts: SmcOptions = {}): SmcResult {
  const P = opts.particles ?? 1000;
  if (!Number.isInteger(P) || P < 2) throw new RangeError(`smc: particles must be an integer ≥ 2, got ${P}`);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`smc: seed must be a safe integer, got ${seed}`);
  const thr = opts.essThreshold ?? 0.5;
  if (!(thr > 0 && thr < 1)) throw new RangeError(`smc: essThreshold must be in (0, 1), got ${thr}`);
  const adaptOn = opts.adaptOn ?? 'cess';
  const resampleThr = opts.resampleThreshold ?? 0.5;
  if (!(resampleThr >= 0 && resampleThr <= 1)) throw new RangeError(`smc: resampleThreshold must be in [0, 1], got ${resampleThr}`);
  const scheme = opts.resampling ?? 'systematic';
  const maxStages = opts.maxStages ?? 200;
  const rj = opts.rejuvenation ?? {};
  const kernel = rj.kernel ?? 'hmc';
  const steps = rj.steps ?? 3;
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`smc: rejuvenation.steps must be a nonnegative integer, got ${steps}`);
  if (kernel !== 'hmc' && kernel !== 'rwmh') throw new RangeError(`smc: rejuvenation.kernel must be 'hmc' or 'rwmh', got '${kernel as string}'`);
  const L = rj.leapfrogSteps ?? 10;
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`smc: rejuvenation.leapfrogSteps must be a positive integer, got ${L}`);
  const d = bound.dim;
  if (d < 1) throw new RangeError('smc: the model has no parameters');
  const targetAccept = rj.targetAccept ?? (kernel === 'hmc' ? 0.65 : d === 1 ? 0.44 : 0.3);
  let scale = rj.stepSize ?? (kernel === 'hmc' ? 0.8 / Math.pow(d, 0.25) : 2.38 / Math.sqrt(d));

  const key = Key.seed(seed).fold(0x736d63); // 'smc': a stream apart from the prior draws
  const target = TemperedTarget.of(bound, 0);
  const kernelTarget = TemperedTarget.of(bound, 0);

  // Prior draws.
  const data: DataInput = opts.data ?? Object.fromEntries(bound.sizes);
  const draws = model.simulate(data, { seed, draws: P });
  const u: Float64Array[] = draws.map((dr) => bound.unconstrain(dr.params));
  const ll = new Float64Array(P);
  for (let i = 0; i < P; i++) ll[i] = target.logLik(u[i]);
  if (!ll.some((v) => v > -Infinity)) throw new Error('smc: every prior draw has zero likelihood');

  let logw = new Float64Array(P); // unnormalised log weights
  let beta = 0;
  const betas = [0];
  const ess = [P];
  const resampled = [false];
  const acceptance = [NaN];
  const stepSizes = [NaN];
  const incs: number[] = [];
  let logZ = 0;

  const state = new PhasePoint(d);
  for (let stage = 1; beta < 1; stage++) {
    if (stage > maxStages) throw new Error(`smc: β reached only ${beta} after ${maxStages} stages; raise maxStages or essThreshold`);
    const rng = key.fold(stage).rng();
    const lse = logSumExp(logw);
    const logW = logw.map((v) => v - lse);

    // Next β: bisection on δ so that the relative (C)ESS equals thr.
    const room = 1 - beta;
    let delta: number;
    if (relativeEss(logW, ll, room, adaptOn) >= thr) delta = room;
    else {
      let lo = 0;
      let hi = room;
      for (let it = 0; it < 60 && hi - lo > 1e-14; it++) {
        const mid = 0.5 * (lo + hi);
        if (relativeEss(logW, ll, mid, adaptOn) >= thr) lo = mid;
        else hi = mid;
      }
      delta = lo > 0 ? lo : hi;
    }
    const prevBeta = beta;
    const newBeta = delta === room ? 1 : Math.min(1, beta + delta);
    delta = newBeta - beta;

    // Reweight and the evidence increment log Σ W_i exp(δ ℓ_i).
    const a = new Float64Array(P);
    for (let i = 0; i < P; i++) a[i] = logW[i] + (ll[i] === -Infinity ? -Infinity : delta * ll[i]);
    const inc = logSumExp(a);
    incs.push(inc);
    logZ += inc;
    logw = a;
    beta = newBeta;
    betas.push(beta);

    let W = weightsFromLog(logw);
    const e = effectiveSize(W);
    ess.push(e);
    const doResample = adaptOn === 'ess' || e < resampleThr * P;
    resampled.push(doResample);
    let cur = u.slice();
    if (doResample) {
      const idx = resample(scheme, W, P, rng);
      const ll0 = ll.slice();
      for (let i = 0; i < P; i++) {
        cur[i] = Float64Array.from(u[idx[i]]);
        ll[i] = ll0[idx[i]];
      }
      logw = new Float64Array(P);
      W = new Float64Array(P).fill(1 / P);
    }
    for (let i = 0; i < P; i++) u[i] = cur[i];
    cur = [];

    // Rejuvenate with a kernel invariant for π_β (the test bias uses the previous β).
    if (steps > 0) {
      kernelTarget.beta = opts._testBias === 'kernel-beta' ? prevBeta : beta;
      const sd = cloudSd(u, W, d);
      let acc = 0;
      let nAcc = 0;
      if (kernel === 'hmc') {
        const inv = sd.map((s) => s * s);
        const h = new Hamiltonian(kernelTarget, diagMetric(inv));
        const k = new StaticHmcKernel(h);
        for (let i = 0; i < P; i++) {
          if (logw[i] === -Infinity) continue;
          state.q.set(u[i]);
          h.evaluate(state);
          if (!(state.lp > -Infinity)) continue;
          for (let s = 0; s < steps; s++) {
            const eps = scale * (0.8 + 0.4 * rng.uniform());
            const st = k.transition(state, eps, L, rng);
            acc += st.accept_stat;
            nAcc++;
          }
          u[i] = Float64Array.from(state.q);
          ll[i] = target.logLik(u[i]);
        }
      } else {
        const prop = new Float64Array(d);
        for (let i = 0; i < P; i++) {
          if (logw[i] === -Infinity) continue;
          let lp = kernelTarget.logDensity(u[i]);
          if (!(lp > -Infinity)) continue;
          const x = u[i];
          for (let s = 0; s < steps; s++) {
            for (let j = 0; j < d; j++) prop[j] = x[j] + scale * sd[j] * rng.normal();
            let lq = kernelTarget.logDensity(prop);
            if (Number.isNaN(lq)) lq = -Infinity;
            const r = Math.min(1, Math.exp(lq - lp));
            acc += r;
            nAcc++;
            if (rng.uniform() < r) {
              x.set(prop);
              lp = lq;
            }
          }
          ll[i] = target.logLik(x);
        }
      }
      const rate = nAcc > 0 ? acc / nAcc : 0;
      acceptance.push(rate);
      stepSizes.push(scale);
      // Simple scaling towards the target acceptance rate for the next stage.
      scale *= Math.exp(2 * (rate - targetAccept));
      scale = Math.min(Math.max(scale, 1e-4), 10);
    } else {
      acceptance.push(NaN);
      stepSizes.push(NaN);
    }
  }

  const cf = bound.constrainedFunction();
  const particles = u.map((x) => cf.evaluate(x));
  const weights = weightsFromLog(logw);
  const names = cf.names;
  return {
    names, particles, unconstrained: u, weights, betas, ess, resampled, acceptance, stepSizes, logZ, logZIncrements: incs,
    moments(name: string) {
      const j = names.indexOf(name);
      if (j < 0) throw new RangeError(`smc: no value named '${name}' (have ${names.join(', ')})`);
      let m = 0;
      for (let i = 0; i < particles.length; i++) m += weights[i] * particles[i][j];
      let v = 0;
      for (let i = 0; i < particles.length; i++) v += weights[i] * (particles[i][j] - m) ** 2;
      return { mean: m, variance: v };
    },
  };
}

/** Weighted sd of each coordinate of the cloud (1 where it is not positive and finite). */
function cloudSd(u: Float64Array[], W: Float64Array, d: number): Float64Array {
  const m = new Float64Array(d);
  const v = new Float64Array(d);
  for (let i = 0; i < u.length; i++) for (let j = 0; j < d; j++) m[j] += W[i] * u[i][j];
  for (let i = 0; i < u.length; i++) for (let j = 0; j < d; j++) v[j] += W[i] * (u[i][j] - m[j]) ** 2;
  const sd = new Float64Array(d);
  for (let j = 0; j < d; j++) sd[j] = v[j] > 1e-16 && Number.isFinite(v[j]) ? Math.sqrt(v[j]) : 1;
  return sd;
}

