/**
 * Sequential Monte Carlo for static models: tempered (annealed) SMC from the prior to the
 * posterior through π_β(θ) ∝ p(θ) p(y|θ)^β, 0 = β_0 < β_1 < … < β_T = 1 (Del Moral, Doucet &
 * Jasra 2006; adaptive schedule by the conditional ESS of Zhou, Johansen & Aston 2016).
 *
 * Each stage: pick β' by bisection so that the (conditional) ESS of the incremental weights
 * exp((β' − β) ℓ_i) hits a fraction of the particle count; reweight; add log Σ W_i exp((β' − β) ℓ_i)
 * to the log evidence; resample when the ESS drops below a threshold; then rejuvenate with an
 * MCMC kernel (static HMC or random-walk Metropolis) invariant for π_β' on the unconstrained
 * space. HMC uses a dense (or diagonal) metric from the particle cloud's covariance, sweeps
 * over all particles `steps` times with the step size adapted between sweeps from the sweep's
 * acceptance rate (and carried to the next stage), and a wide random jitter of the step size;
 * random-walk Metropolis scales by the cloud's sd (or its covariance, `metric: 'dense'`),
 * adapted across stages.
 *
 * Waste-free SMC (`wasteFree: { chainLength: P }`, Dau & Chopin 2022) replaces the
 * resample–move step: resample M = N/P ancestors, run a P-state chain of the same kernels from
 * each, and keep all N states as the next particles (equal weights); the schedule and the
 * evidence estimator (product of mean incremental weights) are unchanged.
 *
 * On the unconstrained vector u the tempered target is
 *   log π_β(u) = log p(θ(u)) + log|J(u)| + β ℓ(u) = −V_prior(u) − β V_lik(u),
 * with V_prior = −(log prior + log|J|) (`potentialFunction({ likelihood: false })`) and
 * V_lik = −ℓ (`potentialFunction({ priors: false, jacobian: false })`): one likelihood pass
 * per gradient.
 */
import type { BoundModel, PotentialFunction, PotentialOptions } from '../../model/bound-model';
import type { DataInput } from '../../model/data';
import type { Model } from '../../model/model';
import { Key, type Rng } from '../../tensor/random';
import { denseMetric, diagMetric, Hamiltonian, PhasePoint, StaticHmcKernel, staticHmcFinish, staticHmcStart, type GradientTarget, type Metric } from '../mcmc/hmc';
import { runSync, type HostSteps } from '../../tensor/host-reads';
import { effectiveSize, resample, weightsFromLog, type ResampleScheme } from './resample';
import { logSumExp, nextIncrement } from './tempering';
import { paramPriorUnconstrained, PriorDrawUnsupported } from './prior-draw';
import { gibbsDataSmc, gibbsSmcPlan } from './gibbs-data';

export { effectiveSize, multinomialResample, normalizeWeights, resample, residualResample, systematicResample, weightsFromLog, type ResampleScheme } from './resample';
export { logSumExp, nextIncrement, relativeEss } from './tempering';
export * from './filter';
export * from './filter-device';
export * from './ssm';
export * from './kalman';
export { paramPriorDraws, paramPriorUnconstrained, PriorDrawUnsupported } from './prior-draw';

/** V_prior = −(log prior + log|J|) and V_lik = −ℓ: the two potentials of the tempered target. */
export const TEMPERED_PRIOR: PotentialOptions = { likelihood: false };
export const TEMPERED_LIKELIHOOD: PotentialOptions = { priors: false, jacobian: false };

/**
 * The tempered target π_β on the unconstrained space, as a `GradientTarget` for the HMC
 * kernels: log π_β(u) = −V_prior(u) − β V_lik(u) and its gradient, with V_prior =
 * −(log prior + log|J|) (`potentialFunction({ likelihood: false })`, cheap) and V_lik = −ℓ
 * (`potentialFunction({ priors: false, jacobian: false })`). One likelihood pass per
 * evaluation; the log likelihood of the last point evaluated is kept (`lastLogLik`), so the
 * sampler need not evaluate it again at the point a transition accepts.
 *
 * @example
 * const t = TemperedTarget.of(bound, 0.3);
 * const g = new Float64Array(t.dim);
 * const lp = t.logDensityGrad(u, g); // log p(θ(u)) + log|J(u)| + 0.3 ℓ(u)
 */
export class TemperedTarget implements GradientTarget {
  readonly dim: number;
  /** The point of the last `logDensityGrad` / `logDensity` call and ℓ there (NaN mapped to −Infinity). */
  readonly lastU: Float64Array;
  lastLogLik = NaN;
  private readonly gl: Float64Array;

  constructor(readonly prior: PotentialFunction, readonly lik: PotentialFunction, public beta: number) {
    if (prior.dim !== lik.dim) throw new RangeError(`TemperedTarget: potential dimensions differ (${prior.dim} vs ${lik.dim})`);
    this.dim = prior.dim;
    this.gl = new Float64Array(prior.dim);
    this.lastU = new Float64Array(prior.dim);
  }

  /** The tempered target of a bound model at temperature `beta` (float64 replay; `tensorPath`: the tensor evaluator). */
  static of(bound: BoundModel, beta: number, tensorPath = false): TemperedTarget {
    const pot = (o: PotentialOptions) => (tensorPath ? bound.tensorPotentialFunction(o) : bound.potentialFunction(o));
    return new TemperedTarget(pot(TEMPERED_PRIOR), pot(TEMPERED_LIKELIHOOD), beta);
  }

  logDensityGrad(u: Float64Array, grad: Float64Array): number {
    const vl = this.lik.valueAndGrad(u, this.gl);
    const vp = this.prior.valueAndGrad(u, grad);
    this.remember(u, vl);
    const b = this.beta;
    for (let i = 0; i < this.dim; i++) grad[i] = -grad[i] - b * this.gl[i];
    return b === 0 ? -vp : -vp - b * vl;
  }

  logDensity(u: ArrayLike<number>): number {
    const vl = this.lik.value(u);
    this.remember(u, vl);
    const vp = this.prior.value(u);
    return this.beta === 0 ? -vp : -vp - this.beta * vl;
  }

  /** The log likelihood ℓ(u) (NaN mapped to −Infinity). */
  logLik(u: ArrayLike<number>): number {
    const l = -this.lik.value(u);
    return Number.isNaN(l) ? -Infinity : l;
  }

  /** ℓ(u) from the last evaluation when it was at `u`, else evaluated afresh. */
  logLikAt(u: ArrayLike<number>): number {
    for (let i = 0; i < this.dim; i++) if (this.lastU[i] !== u[i]) return this.logLik(u);
    return this.lastLogLik;
  }

  private remember(u: ArrayLike<number>, vl: number): void {
    for (let i = 0; i < this.dim; i++) this.lastU[i] = u[i];
    this.lastLogLik = Number.isNaN(vl) ? -Infinity : -vl;
  }
}

export interface RejuvenationOptions {
  /**
   * MCMC kernel invariant for the current target (default 'hmc'). 'gibbs': exact Gibbs draws
   * for a Bayesian normal mixture (w Dirichlet, mu normal, sigma half-normal; see
   * gibbs-data.ts), which need posteriors rather than power posteriors, so the stages add
   * data rows (data annealing) instead of raising β: `betas` is then the fraction of rows
   * included and `rows` their number. 'auto': 'gibbs' where the model qualifies, 'hmc'
   * otherwise (`result.schedule` says which ran).
   */
  kernel?: 'hmc' | 'rwmh' | 'gibbs' | 'auto';
  /** With `kernel: 'gibbs'`: partially collapsed sweeps (z, sigma, mu) added to each transition (default 0: the plain Gibbs kernel). */
  sweeps?: number;
  /**
   * Kernel transitions per particle per stage (default 3); with `wasteFree`, kernel transitions
   * between consecutive kept states of a chain (default 1).
   */
  steps?: number;
  /** Leapfrog steps per HMC transition (default 10). */
  leapfrogSteps?: number;
  /** Initial step size (HMC, relative to the cloud's sd) or proposal scale (RWMH). */
  stepSize?: number;
  /**
   * Metric (HMC) or proposal covariance (RWMH) from the particle cloud after reweighting: its
   * covariance ('dense') or variances ('diag'). Default 'dense' for HMC, 'diag' for RWMH.
   */
  metric?: 'dense' | 'diag';
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
  /**
   * Waste-free SMC (Dau & Chopin 2022): each stage resamples only M = particles / chainLength
   * ancestors and runs a chain of `chainLength` states from each (the ancestor and
   * chainLength − 1 moves of `rejuvenation.steps` kernel transitions each), keeping every state
   * of every chain as the next, equally weighted particle set. Resamples at every stage
   * (`resampleThreshold` is not used). `particles` must be a multiple of `chainLength`.
   */
  wasteFree?: { chainLength: number };
  /** Most tempering stages (default 200); throws if β has not reached 1 by then. */
  maxStages?: number;
  /**
   * Data for the prior draws when they fall back to `model.simulate` (covariates and sizes;
   * default the bound sizes). The usual path draws the params alone from the IR's priors with
   * the bound data (`paramPriorDraws`) and does not read this.
   */
  data?: DataInput;
  /** Called after each stage's reweighting with the stage number, the new β and the ESS: for progress displays. */
  onStage?: (stage: number, beta: number, ess: number) => void;
  /** Use the tensor evaluator (float32) for the potentials even where they can be traced (for testing; as `sample`'s). */
  tensorPath?: boolean;
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
  /** How the initial particles were drawn: the params alone from the IR ('params') or `model.simulate` ('simulate'). */
  priorDraws: 'params' | 'simulate';
  /** 'likelihood': tempering, π_β ∝ p(θ) p(y|θ)^β; 'data': data annealing (`kernel: 'gibbs'`), π_t = p(θ | the first rows). */
  schedule: 'likelihood' | 'data';
  /** Data annealing only: rows included after each stage (index 0: 0), in a seeded random order of the rows. */
  rows?: number[];
  /** Weighted mean and variance of the constrained value `name` (a dotted name). */
  moments(name: string): { mean: number; variance: number };
}

/** Runs tempered SMC from the prior of `model` to the posterior given the data bound in `bound`. */
export function smc(model: Model, bound: BoundModel, opts: SmcOptions = {}): SmcResult {
  const r = runSync(smcSteps(model, bound, opts));
  return result(bound, r.u, r.logw, r.rest);
}

/** A tempered run's final particles, log weights and record, from which `result` builds the SmcResult. @internal */
export interface SmcRun {
  u: Float64Array[];
  logw: Float64Array;
  rest: Omit<SmcResult, 'names' | 'particles' | 'unconstrained' | 'weights' | 'moments'>;
}
const run0 = (u: Float64Array[], logw: Float64Array, rest: SmcRun['rest']): SmcRun => ({ u, logw, rest });

/** The particle count and the seed of a run, checked. @internal */
export function smcCounts(opts: SmcOptions): { P: number; seed: number } {
  const P = opts.particles ?? 1000;
  if (!Number.isInteger(P) || P < 2) throw new RangeError(`smc: particles must be an integer ≥ 2, got ${P}`);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`smc: seed must be a safe integer, got ${seed}`);
  return { P, seed };
}

/**
 * The initial particles: the params alone drawn from the IR's priors (unconstrained), or
 * `model.simulate` where that cannot be done. @internal
 */
export function priorParticles(model: Model, bound: BoundModel, opts: SmcOptions, P: number, seed: number): { u: Float64Array[]; priorDraws: SmcResult['priorDraws'] } {
  try {
    return { u: paramPriorUnconstrained(bound, P, seed), priorDraws: 'params' };
  } catch (e) {
    if (!(e instanceof PriorDrawUnsupported)) throw e;
    const data: DataInput = opts.data ?? Object.fromEntries(bound.sizes);
    return { u: model.simulate(data, { seed, draws: P }).map((dr) => bound.unconstrain(dr.params)), priorDraws: 'simulate' };
  }
}

/**
 * How a tempered run evaluates its target at a batch of points: on the host one point after
 * another (`TemperedTarget`), or on a device as one batched evaluation (smcDevice). @internal
 */
export interface TemperedEvaluator {
  /** ℓ at each point (NaN as −Infinity). */
  logLiks(points: readonly Float64Array[]): HostSteps<Float64Array>;
  /** log π_β at each point (as `TemperedTarget.logDensityGrad`), its gradient written into `grads[j]`, and ℓ there. */
  logDensityGrads(points: readonly Float64Array[], beta: number, grads: readonly Float64Array[]): HostSteps<{ lp: Float64Array; ll: Float64Array }>;
}

/** The host's evaluator: the tempered target at each point in turn. */
function hostEvaluator(t: TemperedTarget): TemperedEvaluator {
  return {
    *logLiks(points) {
      return Float64Array.from(points, (u) => t.logLik(u));
    },
    *logDensityGrads(points, beta, grads) {
      t.beta = beta;
      const lp = new Float64Array(points.length);
      const ll = new Float64Array(points.length);
      points.forEach((u, j) => {
        lp[j] = t.logDensityGrad(u, grads[j]);
        ll[j] = t.lastLogLik;
      });
      return { lp, ll };
    },
  };
}

/**
 * The tempered run as host-read steps: `smc` runs them synchronously with the host's
 * evaluator, `smcDevice` with awaited reads, a batched device evaluator and the initial
 * particles drawn on the host (HMC moves only: the random-walk kernel, waste-free moves and
 * the Gibbs kernel take the host's target). @internal
 */
export function* smcSteps(
  model: Model, bound: BoundModel, opts: SmcOptions = {},
  device?: { evaluator: TemperedEvaluator; initial: ReturnType<typeof priorParticles> },
): HostSteps<SmcRun> {
  const { P, seed } = smcCounts(opts);
  const thr = opts.essThreshold ?? 0.5;
  if (!(thr > 0 && thr < 1)) throw new RangeError(`smc: essThreshold must be in (0, 1), got ${thr}`);
  const adaptOn = opts.adaptOn ?? 'cess';
  const resampleThr = opts.resampleThreshold ?? 0.5;
  if (!(resampleThr >= 0 && resampleThr <= 1)) throw new RangeError(`smc: resampleThreshold must be in [0, 1], got ${resampleThr}`);
  const scheme = opts.resampling ?? 'systematic';
  const maxStages = opts.maxStages ?? 200;
  const rj = opts.rejuvenation ?? {};
  const requested = rj.kernel ?? 'hmc';
  // 'auto': the exact Gibbs kernel (data annealing) where the model is the mixture it handles, HMC otherwise.
  const autoPlan = requested === 'auto' ? gibbsSmcPlan(bound) : null;
  const kernel: 'hmc' | 'rwmh' | 'gibbs' = requested === 'auto' ? (typeof autoPlan === 'string' ? 'hmc' : 'gibbs') : requested;
  const wf = opts.wasteFree;
  let chainLen = 0;
  if (wf !== undefined) {
    if (typeof wf !== 'object' || wf === null) throw new RangeError('smc: wasteFree must be an object { chainLength }');
    chainLen = wf.chainLength;
    if (!Number.isInteger(chainLen) || chainLen < 2) throw new RangeError(`smc: wasteFree.chainLength must be an integer ≥ 2, got ${chainLen}`);
    if (P % chainLen !== 0) throw new RangeError(`smc: with wasteFree, particles (${P}) must be a multiple of wasteFree.chainLength (${chainLen})`);
  }
  const steps = rj.steps ?? (wf || kernel === 'gibbs' ? 1 : 3);
  if (wf && !(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`smc: with wasteFree, rejuvenation.steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`smc: rejuvenation.steps must be a nonnegative integer, got ${steps}`);
  if (kernel !== 'hmc' && kernel !== 'rwmh' && kernel !== 'gibbs') throw new RangeError(`smc: rejuvenation.kernel must be 'hmc', 'rwmh', 'gibbs' or 'auto', got '${kernel as string}'`);
  const sweeps = rj.sweeps ?? 0;
  if (!Number.isInteger(sweeps) || sweeps < 0) throw new RangeError(`smc: rejuvenation.sweeps must be a nonnegative integer, got ${sweeps}`);
  if (rj.sweeps !== undefined && kernel !== 'gibbs' && requested !== 'auto') throw new RangeError("smc: rejuvenation.sweeps is for kernel 'gibbs'");
  const L = rj.leapfrogSteps ?? 10;
  const metricKind = rj.metric ?? (kernel === 'hmc' ? 'dense' : 'diag');
  if (metricKind !== 'dense' && metricKind !== 'diag') throw new RangeError(`smc: rejuvenation.metric must be 'dense' or 'diag', got '${metricKind as string}'`);
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`smc: rejuvenation.leapfrogSteps must be a positive integer, got ${L}`);
  const d = bound.dim;
  if (d < 1) throw new RangeError('smc: the model has no parameters');
  const targetAccept = rj.targetAccept ?? (kernel === 'hmc' ? 0.65 : d === 1 ? 0.44 : 0.3);
  let scale = rj.stepSize ?? (kernel === 'hmc' ? 0.8 / Math.pow(d, 0.25) : 2.38 / Math.sqrt(d));

  const key = Key.seed(seed).fold(0x736d63); // 'smc': a stream apart from the prior draws
  // The host's targets: traced when first used (a device run uses neither).
  let hostTarget: TemperedTarget | undefined;
  const kernelTarget = (): TemperedTarget => (hostTarget ??= TemperedTarget.of(bound, 0, opts.tensorPath));
  const ev = device?.evaluator ?? hostEvaluator(TemperedTarget.of(bound, 0, opts.tensorPath));
  if (device && (kernel !== 'hmc' || wf)) throw new Error('internal: a device evaluator runs HMC moves only');

  const { u, priorDraws } = device?.initial ?? priorParticles(model, bound, opts, P, seed);
  if (kernel === 'gibbs') {
    const plan = autoPlan ?? gibbsSmcPlan(bound);
    if (typeof plan === 'string') throw new RangeError(`smc: rejuvenation.kernel 'gibbs' needs a Bayesian normal mixture and nothing else: ${plan}`);
    if (steps < 1) throw new RangeError(`smc: with kernel 'gibbs', rejuvenation.steps must be a positive integer, got ${steps}`);
    const run = gibbsDataSmc(bound, plan, u, {
      particles: P, essThreshold: thr, adaptOn, resampleThreshold: resampleThr, scheme, steps, sweeps, chainLength: chainLen,
      maxStages, key, onStage: opts.onStage, staleKernel: opts._testBias === 'kernel-beta',
    });
    const T = run.betas.length;
    return run0(run.u, run.logw, {
      betas: run.betas, ess: run.ess, resampled: run.resampled, acceptance: [NaN, ...new Array<number>(T - 1).fill(1)],
      stepSizes: new Array<number>(T).fill(NaN), logZ: run.logZ, logZIncrements: run.incs, priorDraws, schedule: 'data', rows: run.rows,
    });
  }
  const ll = yield* ev.logLiks(u);
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

  for (let stage = 1; beta < 1; stage++) {
    if (stage > maxStages) throw new Error(`smc: β reached only ${beta} after ${maxStages} stages; raise maxStages or essThreshold`);
    const rng = key.fold(stage).rng();
    const lse = logSumExp(logw);
    const logW = logw.map((v) => v - lse);

    const room = 1 - beta;
    let delta = nextIncrement(logW, ll, room, thr, adaptOn);
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
    opts.onStage?.(stage, beta, e);
    if (wf) {
      // Waste-free move: M ancestors, P-state chains, all states kept with equal weights.
      const kt = kernelTarget();
      kt.beta = opts._testBias === 'kernel-beta' ? prevBeta : beta;
      resampled.push(true);
      const mv = wasteFreeMove(u, ll, W, {
        M: P / chainLen, chainLen, steps, kernel, metricKind, L, scale, targetAccept, scheme, rng, target: kt,
      });
      for (let i = 0; i < P; i++) u[i] = mv.u[i];
      ll.set(mv.ll);
      logw = new Float64Array(P);
      acceptance.push(mv.acceptance);
      stepSizes.push(mv.stageScale);
      scale = mv.nextScale;
      continue;
    }
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
      const kernelBeta = opts._testBias === 'kernel-beta' ? prevBeta : beta;
      const sd = cloudSd(u, W, d);
      let acc = 0;
      let nAcc = 0;
      let stageScale = scale;
      if (kernel === 'hmc') {
        const metric = metricKind === 'dense' ? cloudMetric(u, W, d, sd) : diagMetric(sd.map((s) => s * s));
        // One phase point per live particle, evaluated at once; the kernel sweeps over all of
        // them, and the step size is adapted between sweeps from the sweep's mean acceptance
        // (a sweep's kernel depends only on earlier sweeps, so each sweep leaves π_β invariant).
        const cand: number[] = [];
        for (let i = 0; i < P; i++) if (logw[i] !== -Infinity) cand.push(i);
        const zs = cand.map((i) => {
          const z = new PhasePoint(d);
          z.q.set(u[i]);
          return z;
        });
        const first = yield* ev.logDensityGrads(zs.map((z) => z.q), kernelBeta, zs.map((z) => z.g));
        const live: number[] = [];
        const states: PhasePoint[] = [];
        cand.forEach((i, j) => {
          zs[j].lp = Number.isFinite(first.lp[j]) ? first.lp[j] : -Infinity;
          if (!(zs[j].lp > -Infinity)) return;
          ll[i] = first.ll[j];
          live.push(i);
          states.push(zs[j]);
        });
        const sw = yield* hmcSweeps(ev, new Hamiltonian({ dim: d, logDensityGrad: noPointwiseTarget }, metric), states, live, ll, {
          key, stage, steps, L, beta: kernelBeta, scale, targetAccept,
        });
        acc = sw.acc;
        nAcc = sw.n;
        stageScale = sw.stageScale;
        for (let j = 0; j < live.length; j++) u[live[j]] = Float64Array.from(states[j].q);
        scale = sw.nextScale;
      } else {
        const kt = kernelTarget();
        kt.beta = kernelBeta;
        const prop = new Float64Array(d);
        const chol = metricKind === 'dense' ? cloudChol(u, W, d, sd) : null;
        const tally = { acc: 0, n: 0 };
        for (let i = 0; i < P; i++) {
          if (logw[i] === -Infinity) continue;
          const lp = kt.logDensity(u[i]);
          if (!(lp > -Infinity)) continue;
          const m = rwmhSteps(kt, u[i], lp, steps, scale, sd, chol, prop, rng, tally);
          if (m.logLik !== undefined) ll[i] = m.logLik;
        }
        acc = tally.acc;
        nAcc = tally.n;
      }
      const rate = nAcc > 0 ? acc / nAcc : 0;
      acceptance.push(rate);
      if (kernel === 'hmc') stepSizes.push(stageScale);
      else {
        stepSizes.push(scale);
        scale = adaptScale(scale, rate, targetAccept);
      }
    } else {
      acceptance.push(NaN);
      stepSizes.push(NaN);
    }
  }

  return run0(u, logw, { betas, ess, resampled, acceptance, stepSizes, logZ, logZIncrements: incs, priorDraws, schedule: 'likelihood' });
}

/** The Hamiltonian of the batched sweeps evaluates no point itself (hmcSweeps asks the evaluator). */
function noPointwiseTarget(): number {
  throw new Error('internal: the batched HMC sweep evaluates through its TemperedEvaluator');
}

/**
 * `steps` sweeps of static HMC (L leapfrog steps) over the live particles' phase points
 * `states` (evaluated at their positions), for π_β, all particles' trajectories advanced
 * together: each leapfrog step evaluates every particle still on a finite trajectory as one
 * batch. Each particle's transition draws from its own stream (`particleStream`), so this is
 * the sequential sweep of StaticHmcKernel.transition particle after particle, whatever the
 * evaluator. Accepted moves carry ℓ at the trajectory's end into `ll[live[j]]`; the step size
 * is adapted between sweeps from the sweep's mean acceptance.
 */
function* hmcSweeps(
  ev: TemperedEvaluator, h: Hamiltonian, states: PhasePoint[], live: readonly number[], ll: Float64Array,
  o: { key: Key; stage: number; steps: number; L: number; beta: number; scale: number; targetAccept: number },
): HostSteps<{ acc: number; n: number; stageScale: number; nextScale: number }> {
  const n = states.length;
  const d = h.target.dim;
  const maxDeltaH = new StaticHmcKernel(h).maxDeltaH;
  const zs = states.map(() => new PhasePoint(d));
  let sweepScale = o.scale;
  let stageScale = o.scale;
  let acc = 0;
  for (let s = 0; s < o.steps; s++) {
    const rngs = live.map((i) => particleStream(o.key, o.stage, s, i));
    const eps = rngs.map((r) => jitteredStep(sweepScale, r));
    const starts = states.map((st, j) => staticHmcStart(h, st, zs[j], rngs[j]));
    const endLl = new Float64Array(n);
    const taken = new Int32Array(n);
    let moving = Array.from({ length: n }, (_, j) => j);
    for (let l = 0; l < o.L && moving.length > 0; l++) {
      for (const j of moving) h.kickDrift(zs[j], eps[j]);
      const r = yield* ev.logDensityGrads(moving.map((j) => zs[j].q), o.beta, moving.map((j) => zs[j].g));
      moving.forEach((j, a) => {
        zs[j].lp = Number.isFinite(r.lp[a]) ? r.lp[a] : -Infinity;
        endLl[j] = r.ll[a];
        h.kick(zs[j], eps[j]);
        taken[j]++;
      });
      // A trajectory at −∞ is over: further steps cannot change its outcome.
      moving = moving.filter((j) => zs[j].lp > -Infinity);
    }
    let sweepAcc = 0;
    for (let j = 0; j < n; j++) {
      const st = staticHmcFinish(h, states[j], zs[j], starts[j], { eps: eps[j], steps: taken[j], maxDeltaH }, rngs[j]);
      sweepAcc += st.accept_stat;
      // Accepted: the state is the trajectory's end.
      if (sameVector(states[j].q, zs[j].q)) ll[live[j]] = endLl[j];
    }
    acc += sweepAcc;
    stageScale = sweepScale;
    if (n > 0) sweepScale = adaptScale(sweepScale, sweepAcc / n, o.targetAccept);
  }
  return { acc, n: n * o.steps, stageScale, nextScale: sweepScale };
}

/** The stream of particle `i`'s HMC transition in sweep `s` of stage `stage`. @internal */
export function particleStream(key: Key, stage: number, s: number, i: number): Rng {
  return key.fold(stage).fold(PARTICLE_STREAMS + s).fold(i).rng();
}
/** Offset of the sweeps' keys under a stage's key (away from small integers). */
const PARTICLE_STREAMS = 0x68_6d_63_00;

/**
 * The step size of one HMC transition: the sweep's scale times a wide log-uniform jitter
 * (×0.29 to ×3.5): one global step size cannot suit every mode of a multimodal cloud, and
 * the spread lets narrow modes move too. @internal
 */
export function jitteredStep(scale: number, rng: Rng): number {
  return scale * Math.exp(2.5 * (rng.uniform() - 0.5));
}

/** The public result from the final unconstrained particles and log weights. @internal */
export function result(bound: BoundModel, u: Float64Array[], logw: Float64Array, rest: Omit<SmcResult, 'names' | 'particles' | 'unconstrained' | 'weights' | 'moments'>): SmcResult {
  const cf = bound.constrainedFunction();
  const particles = u.map((x) => cf.evaluate(x));
  const weights = weightsFromLog(logw);
  const names = cf.names;
  return {
    names, particles, unconstrained: u, weights, ...rest,
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

interface WasteFreeSettings {
  M: number;
  chainLen: number;
  steps: number;
  kernel: 'hmc' | 'rwmh';
  metricKind: 'dense' | 'diag';
  L: number;
  scale: number;
  targetAccept: number;
  scheme: ResampleScheme;
  rng: Rng;
  target: TemperedTarget;
}

/**
 * The waste-free move of Dau & Chopin (2022): resample M ancestors from the weighted cloud
 * (u, ℓ, W), run M chains of `chainLen` states invariant for the target's π_β (each state
 * `steps` kernel transitions after the previous), and return all M·chainLen states (chain by
 * chain) with their log likelihoods. The metric or proposal covariance comes from the weighted
 * cloud before resampling. HMC adapts its step size between sweeps (one transition of every
 * chain) from the sweep's mean acceptance, so each sweep's kernel depends only on earlier
 * sweeps; RWMH keeps its scale through the stage and the caller adapts it between stages.
 */
function wasteFreeMove(u: Float64Array[], ll: Float64Array, W: Float64Array, o: WasteFreeSettings): {
  u: Float64Array[]; ll: Float64Array; acceptance: number; stageScale: number; nextScale: number;
} {
  const { M, chainLen, steps, rng, target } = o;
  const d = target.dim;
  const N = M * chainLen;
  const sd = cloudSd(u, W, d);
  const idx = resample(o.scheme, W, M, rng);
  const outU: Float64Array[] = new Array(N);
  const outLl = new Float64Array(N);
  let acc = 0;
  let nAcc = 0;
  if (o.kernel === 'hmc') {
    const h = new Hamiltonian(target, o.metricKind === 'dense' ? cloudMetric(u, W, d, sd) : diagMetric(sd.map((s) => s * s)));
    const k = new StaticHmcKernel(h);
    const states: PhasePoint[] = [];
    const cll = new Float64Array(M);
    const live: boolean[] = [];
    for (let j = 0; j < M; j++) {
      const z = new PhasePoint(d);
      z.q.set(u[idx[j]]);
      h.evaluate(z);
      cll[j] = target.lastLogLik;
      live.push(z.lp > -Infinity);
      states.push(z);
    }
    let sweepScale = o.scale;
    let stageScale = o.scale;
    for (let s = 0; s < chainLen; s++) {
      if (s > 0) {
        for (let t = 0; t < steps; t++) {
          let sweepAcc = 0;
          let nLive = 0;
          for (let j = 0; j < M; j++) {
            if (!live[j]) continue;
            const z = states[j];
            // The same wide log-uniform jitter of the step size as the standard sampler.
            const eps = jitteredStep(sweepScale, rng);
            const st = k.transition(z, eps, o.L, rng);
            sweepAcc += st.accept_stat;
            nLive++;
            if (sameVector(z.q, target.lastU)) cll[j] = target.lastLogLik;
          }
          acc += sweepAcc;
          nAcc += nLive;
          stageScale = sweepScale;
          if (nLive > 0) sweepScale = adaptScale(sweepScale, sweepAcc / nLive, o.targetAccept);
        }
      }
      for (let j = 0; j < M; j++) {
        outU[j * chainLen + s] = Float64Array.from(states[j].q);
        outLl[j * chainLen + s] = cll[j];
      }
    }
    return { u: outU, ll: outLl, acceptance: nAcc > 0 ? acc / nAcc : 0, stageScale, nextScale: sweepScale };
  }
  const chol = o.metricKind === 'dense' ? cloudChol(u, W, d, sd) : null;
  const prop = new Float64Array(d);
  const tally = { acc: 0, n: 0 };
  for (let j = 0; j < M; j++) {
    const x = Float64Array.from(u[idx[j]]);
    let lp = target.logDensity(x);
    let cl = target.lastLogLik;
    const ok = lp > -Infinity;
    for (let s = 0; s < chainLen; s++) {
      if (s > 0 && ok) {
        const m = rwmhSteps(target, x, lp, steps, o.scale, sd, chol, prop, rng, tally);
        lp = m.lp;
        if (m.logLik !== undefined) cl = m.logLik;
      }
      outU[j * chainLen + s] = Float64Array.from(x);
      outLl[j * chainLen + s] = ok ? cl : ll[idx[j]];
    }
  }
  const rate = tally.n > 0 ? tally.acc / tally.n : 0;
  return { u: outU, ll: outLl, acceptance: rate, stageScale: o.scale, nextScale: adaptScale(o.scale, rate, o.targetAccept) };
}

/**
 * `steps` random-walk Metropolis steps on the tempered target from x (moved in place) with
 * log density lp; adds each step's acceptance probability to `tally` (in order, as the
 * callers' running sums did) and returns the final log density and the log likelihood of the
 * last accepted point (undefined when none was accepted).
 */
function rwmhSteps(
  target: TemperedTarget, x: Float64Array, lp: number, steps: number, scale: number, sd: Float64Array, chol: Float64Array | null,
  prop: Float64Array, rng: Rng, tally: { acc: number; n: number },
): { lp: number; logLik?: number } {
  const d = x.length;
  let logLik: number | undefined;
  for (let t = 0; t < steps; t++) {
    rwProposal(prop, x, scale, sd, chol, d, rng);
    let lq = target.logDensity(prop);
    if (Number.isNaN(lq)) lq = -Infinity;
    const r = Math.min(1, Math.exp(lq - lp));
    tally.acc += r;
    tally.n++;
    if (rng.uniform() < r) {
      x.set(prop);
      lp = lq;
      logLik = target.lastLogLik;
    }
  }
  return { lp, logLik };
}

/** A random-walk proposal x + scale·ξ with ξ ~ N(0, Σ): Σ = LLᵀ (`chol`, row-major lower) or diag(sd²). */
function rwProposal(prop: Float64Array, x: Float64Array, scale: number, sd: Float64Array, chol: Float64Array | null, d: number, rng: Rng): void {
  if (chol === null) {
    for (let j = 0; j < d; j++) prop[j] = x[j] + scale * sd[j] * rng.normal();
    return;
  }
  const z = new Float64Array(d);
  for (let j = 0; j < d; j++) z[j] = rng.normal();
  for (let a = 0; a < d; a++) {
    let t = 0;
    for (let b = 0; b <= a; b++) t += chol[a * d + b] * z[b];
    prop[a] = x[a] + scale * t;
  }
}

/** The lower Cholesky factor of the cloud's weighted covariance (as `cloudMetric`), or null where it is not positive definite. */
function cloudChol(u: Float64Array[], W: Float64Array, d: number, sd: Float64Array): Float64Array | null {
  const c = cloudCov(u, W, d, sd);
  if (!c.every(Number.isFinite)) return null;
  const L = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = c[j * d + j];
    for (let k = 0; k < j; k++) s -= L[j * d + k] ** 2;
    if (!(s > 0)) return null;
    L[j * d + j] = Math.sqrt(s);
    for (let i = j + 1; i < d; i++) {
      let t = c[i * d + j];
      for (let k = 0; k < j; k++) t -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = t / L[j * d + j];
    }
  }
  return L;
}

/** The step size (or proposal scale) moved towards the target acceptance rate: s·exp(2(rate − target)), kept in [1e-4, 10]. */
function adaptScale(scale: number, rate: number, target: number): number {
  const s = scale * Math.exp(2 * (rate - target));
  return Math.min(Math.max(s, 1e-4), 10);
}

/**
 * The dense metric whose inverse is the weighted covariance of the cloud (ridge 1e-8 of each
 * variance); the diagonal metric from `sd` where the covariance is not positive definite.
 */
function cloudMetric(u: Float64Array[], W: Float64Array, d: number, sd: Float64Array): Metric {
  const c = cloudCov(u, W, d, sd);
  try {
    if (c.every(Number.isFinite)) return denseMetric(c, d);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
  return diagMetric(sd.map((v) => v * v));
}

/** The cloud's weighted covariance, row-major, with a ridge of 1e-8 of each variance (sd² where a variance is not positive and finite). */
function cloudCov(u: Float64Array[], W: Float64Array, d: number, sd: Float64Array): Float64Array {
  const m = new Float64Array(d);
  for (let i = 0; i < u.length; i++) for (let j = 0; j < d; j++) m[j] += W[i] * u[i][j];
  const c = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (let i = 0; i < u.length; i++) {
    if (!(W[i] > 0)) continue;
    for (let j = 0; j < d; j++) x[j] = u[i][j] - m[j];
    for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) c[a * d + b] += W[i] * x[a] * x[b];
  }
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < a; b++) c[b * d + a] = c[a * d + b];
    c[a * d + a] = c[a * d + a] > 1e-16 && Number.isFinite(c[a * d + a]) ? c[a * d + a] * (1 + 1e-8) : sd[a] * sd[a];
  }
  return c;
}

function sameVector(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

