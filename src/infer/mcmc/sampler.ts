/**
 * One MCMC chain on a generic differentiable target, pure float64: Stan's adaptive warm-up
 * (initial step-size search, dual averaging, windowed metric estimation) followed by the
 * sampling phase, with NUTS or static HMC transitions from `hmc.ts`.
 *
 * The warm-up follows Stan's `adapt_diag_e_nuts::transition`: after each transition the
 * step size is updated by dual averaging; when a metric window closes the metric is
 * replaced, the step size is re-initialised by `initStepsize`, μ is reset to log(10 ε) and
 * dual averaging restarts. At the end of warm-up the step size becomes exp(x̄). As in
 * Stan's services, the first μ is log(10 · options.stepsize) (the user's step size, before
 * `initStepsize` refines it). One deliberate difference: for short warm-ups (initBuffer +
 * baseWindow + termBuffer > warmup >= 20) the 15%/75%/10% schedule gets its single window
 * [15%, 90%) as the Stan reference manual describes; Stan's code sets those buffers but does
 * not restart its window counter.
 */
import { Key } from '../../tensor/random';
import type { Rng } from '../../tensor/random';
import { DualAveraging, MetricAdaptation, WelfordCovariance, WelfordVariance, WindowSchedule, regularize } from './adapt';
import type { WindowOptions } from './adapt';
import {
  Hamiltonian, NutsKernel, PhasePoint, RwmhKernel, StaticHmcKernel, choleskyLower, denseMetric, diagMetric, initStepsize,
} from './hmc';
import type { DrawStats, Metric, TestBias } from './hmc';

export type { DrawStats, TestBias } from './hmc';

/** Log density (up to a constant) of the unconstrained vector, with its gradient written into `grad`. */
export interface Target {
  dim: number;
  logDensityGrad(u: Float64Array, grad: Float64Array): number;
}

/** Which warm-up/sampling phase an iteration belongs to. */
export type ChainPhase = 'warmup' | 'sampling';

/** Options of `runChain`. */
export interface RunChainOptions extends WindowOptions {
  /** Initial unconstrained position (length target.dim; the log density must be finite there). */
  init: ArrayLike<number>;
  /** Warm-up (adaptation) iterations (default 1000). */
  warmup?: number;
  /** Sampling iterations, i.e. draws returned (default 1000). */
  draws?: number;
  /** Integer seed of the chain's random stream (give this or `key`). */
  seed?: number;
  /** Key of the chain's random stream (takes precedence over `seed`). */
  key?: Key;
  /** Euclidean metric: 'diag' (default) or 'dense'. */
  metric?: 'diag' | 'dense';
  /** Initial inverse metric: length dim (diag) or dim·dim row-major (dense); default the identity. */
  invMetric?: ArrayLike<number>;
  /** Target acceptance statistic of dual averaging, in (0, 1) (default 0.8). */
  delta?: number;
  /** Dual-averaging gamma (default 0.05). */
  gamma?: number;
  /** Dual-averaging kappa (default 0.75). */
  kappa?: number;
  /** Dual-averaging t0 (default 10). */
  t0?: number;
  /** NUTS maximum tree depth (default 10). */
  maxTreeDepth?: number;
  /** Energy error that marks a divergence (default 1000). */
  maxDeltaH?: number;
  /** 'nuts' (default), static 'hmc', or random-walk Metropolis 'mh' (proposal N(0, ε² M⁻¹); give delta ≈ 0.234). */
  algorithm?: 'nuts' | 'hmc' | 'mh';
  /** Initial step size (default 1); the sampling step size when warm-up is 0. */
  stepsize?: number;
  /** Uniform step-size jitter in [0, 1]: each transition uses ε·(1 + jitter·(2U - 1)) (default 0). */
  stepsizeJitter?: number;
  /** Static HMC: fixed number of leapfrog steps per transition (overrides `intTime`). */
  numSteps?: number;
  /** Static HMC: integration time T; steps per transition = max(1, ⌊T/ε⌋) for the nominal ε (default 2π as Stan). */
  intTime?: number;
  /** Also return the warm-up draws (default false). */
  saveWarmup?: boolean;
  /**
   * Progress callback after every iteration: `iteration` counts from 1 over warm-up and
   * sampling together (1..warmup+draws), `divergences` is the running count of divergent
   * transitions in the current phase.
   */
  onIteration?: (iteration: number, phase: ChainPhase, divergences: number) => void;
  /**
   * Called before every transition with the current position (read-only) and the chain's
   * random stream: a Gibbs step on other variables that the target's density depends on
   * (the discrete latents). The current point's density and gradient are recomputed after
   * it, since the target has changed.
   */
  beforeTransition?: (q: Float64Array, rng: Rng, phase: ChainPhase) => void;
  /**
   * TEST ONLY: deliberately break the kernel (see `TestBias`) so tests can show that their
   * checks catch a wrong sampler. Never set this for inference.
   */
  _testBias?: TestBias;
}

/** The result of `runChain`. */
export interface ChainResult {
  /** Unconstrained draws of the sampling phase. */
  draws: Float64Array[];
  /** Per-draw sampler statistics of the sampling phase. */
  stats: DrawStats[];
  /** Per-iteration statistics of the warm-up phase. */
  warmupStats: DrawStats[];
  /** Warm-up draws, when `saveWarmup` is set. */
  warmupDraws?: Float64Array[];
  /** The (nominal) step size used in the sampling phase. */
  stepsize: number;
  /** The inverse metric used in the sampling phase: length dim (diag) or dim·dim row-major (dense). */
  invMetric: Float64Array;
  /** Which metric `invMetric` is. */
  metric: 'diag' | 'dense';
  /** Leapfrog steps per transition used by static HMC in the sampling phase (undefined for NUTS). */
  numSteps?: number;
  timeWarmupMs: number;
  timeSamplingMs: number;
}

/** Thrown by `runChain` when the log density or its gradient is not finite at the initial point (retry another init). */
export class InitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InitError';
  }
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`runChain: ${name} must be an integer >= ${min}, got ${v}`);
}

function makeMetric(kind: 'diag' | 'dense', inv: Float64Array, dim: number): Metric {
  return kind === 'diag' ? diagMetric(inv) : denseMetric(inv, dim);
}

/**
 * Runs one chain: `warmup` adaptive iterations and then `draws` sampling iterations of
 * NUTS (default) or static HMC from `init`. Deterministic given the seed/key. Throws
 * `InitError` when the log density or gradient is not finite at `init`, RangeError for
 * invalid options.
 *
 * @example
 * const target = { dim: 1, logDensityGrad: (u, g) => { g[0] = -u[0]; return -0.5 * u[0] * u[0]; } };
 * const { draws, stats } = runChain(target, { init: [0.5], seed: 1 });
 */
export function runChain(target: Target, options: RunChainOptions): ChainResult {
  const steps = chainSteps(target, options, false);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * The chain as a generator. With `pooled`, the warm-up yields the position after every
 * iteration and takes a new inverse metric (or undefined) when resumed: the caller
 * (`runChainsPooled`) estimates one metric from all chains' windows. Otherwise the chain
 * adapts its own metric and never yields.
 */
function* chainSteps(target: Target, options: RunChainOptions, pooled: boolean): Generator<Float64Array, ChainResult, Float64Array | undefined> {
  const dim = target.dim;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`runChain: target.dim must be a positive integer, got ${dim}`);
  const {
    warmup = 1000, draws = 1000, metric: metricKind = 'diag', algorithm = 'nuts', stepsize: stepsize0 = 1,
    stepsizeJitter = 0, saveWarmup = false, onIteration,
  } = options;
  checkInt('warmup', warmup, 0);
  checkInt('draws', draws, 0);
  if (metricKind !== 'diag' && metricKind !== 'dense') throw new RangeError(`runChain: metric must be 'diag' or 'dense', got ${String(metricKind)}`);
  if (algorithm !== 'nuts' && algorithm !== 'hmc' && algorithm !== 'mh') throw new RangeError(`runChain: algorithm must be 'nuts', 'hmc' or 'mh', got ${String(algorithm)}`);
  if (!(stepsize0 > 0) || stepsize0 === Infinity) throw new RangeError(`runChain: stepsize must be positive and finite, got ${stepsize0}`);
  if (!(stepsizeJitter >= 0 && stepsizeJitter <= 1)) throw new RangeError(`runChain: stepsizeJitter must be in [0, 1], got ${stepsizeJitter}`);
  if (options.numSteps !== undefined) checkInt('numSteps', options.numSteps, 1);
  const intTime = options.intTime ?? 2 * Math.PI;
  if (!(intTime > 0) || intTime === Infinity) throw new RangeError(`runChain: intTime must be positive and finite, got ${intTime}`);
  if (options._testBias !== undefined && options._testBias !== 'acceptance' && options._testBias !== 'leapfrog') {
    throw new RangeError(`runChain: _testBias must be 'acceptance' or 'leapfrog', got ${String(options._testBias)}`);
  }

  // Random stream.
  let key = options.key;
  if (key === undefined) {
    if (options.seed === undefined) throw new RangeError('runChain: give a seed or a key');
    key = Key.seed(options.seed);
  }
  const rng: Rng = key.rng();

  // Initial point.
  if (options.init === undefined || options.init.length !== dim) {
    throw new RangeError(`runChain: init must have length target.dim = ${dim}, got ${options.init?.length}`);
  }
  const state = new PhasePoint(dim);
  for (let i = 0; i < dim; i++) {
    const v = options.init[i];
    if (!Number.isFinite(v)) throw new InitError(`runChain: init[${i}] is ${v}, not a finite number`);
    state.q[i] = v;
  }

  // Metric.
  const invLen = metricKind === 'diag' ? dim : dim * dim;
  const invMetric = new Float64Array(invLen);
  if (options.invMetric !== undefined) {
    if (options.invMetric.length !== invLen) {
      throw new RangeError(`runChain: invMetric for a ${metricKind} metric must have ${invLen} entries, got ${options.invMetric.length}`);
    }
    invMetric.set(Array.from(options.invMetric));
  } else if (metricKind === 'diag') {
    invMetric.fill(1);
  } else {
    for (let i = 0; i < dim; i++) invMetric[i * dim + i] = 1;
  }
  const h = new Hamiltonian(target, makeMetric(metricKind, invMetric, dim), options._testBias);

  h.evaluate(state);
  if (!(state.lp > -Infinity)) throw new InitError('runChain: the log density is not finite at the initial point');
  for (let i = 0; i < dim; i++) {
    if (!Number.isFinite(state.g[i])) throw new InitError(`runChain: gradient[${i}] is ${state.g[i]} at the initial point`);
  }

  const nuts = algorithm === 'nuts' ? new NutsKernel(h, { maxTreeDepth: options.maxTreeDepth, maxDeltaH: options.maxDeltaH }) : undefined;
  if (algorithm === 'hmc' && options.maxTreeDepth !== undefined) checkInt('maxTreeDepth', options.maxTreeDepth, 1);
  const hmc = algorithm === 'hmc' ? new StaticHmcKernel(h, { maxDeltaH: options.maxDeltaH }) : undefined;
  const mh = algorithm === 'mh' ? new RwmhKernel(h) : undefined;
  // Random-walk Metropolis: start from the optimal scale for a Gaussian target (Roberts et
  // al. 1997) and let dual averaging centre on it, since the leapfrog-based search does not apply.
  const reinitStepsize = (eps: number) => (mh ? 2.38 / Math.sqrt(dim) : initStepsize(h, state, eps, rng));
  const muFor = (eps: number) => Math.log(mh ? eps : 10 * eps);
  // Static HMC: steps = T / eps, capped at 2^maxTreeDepth (default 1024) so a step size that
  // collapses in warm-up cannot make one transition run for minutes.
  const maxSteps = 2 ** (options.maxTreeDepth ?? 10);
  const stepsFor = (eps: number) => options.numSteps ?? Math.min(maxSteps, Math.max(1, Math.floor(intTime / eps)));

  let nominal = stepsize0;
  const transition = (phase: ChainPhase = 'warmup'): DrawStats => {
    if (options.beforeTransition) {
      options.beforeTransition(state.q, rng, phase);
      h.evaluate(state);
    }
    const eps = stepsizeJitter > 0 ? nominal * (1 + stepsizeJitter * (2 * rng.uniform() - 1)) : nominal;
    return nuts ? nuts.transition(state, eps, rng) : mh ? mh.transition(state, eps, rng) : hmc!.transition(state, eps, stepsFor(nominal), rng);
  };

  // ---- Warm-up ----
  // Active time only: a pooled chain waits for the others at every yield.
  let activeMs = 0;
  let mark = performance.now();
  const warmupStats: DrawStats[] = [];
  const warmupDraws: Float64Array[] | undefined = saveWarmup ? [] : undefined;
  let divergences = 0;
  const da = new DualAveraging({ delta: options.delta, gamma: options.gamma, kappa: options.kappa, t0: options.t0 });
  if (warmup > 0) {
    const ma = new MetricAdaptation(metricKind, dim, warmup, {
      initBuffer: options.initBuffer, termBuffer: options.termBuffer, baseWindow: options.baseWindow,
    });
    da.setMu(muFor(mh ? 2.38 / Math.sqrt(dim) : stepsize0));
    nominal = reinitStepsize(nominal);
    for (let it = 0; it < warmup; it++) {
      const s = transition();
      warmupStats.push(s);
      warmupDraws?.push(Float64Array.from(state.q));
      if (s.divergent) divergences++;
      nominal = da.learn(s.accept_stat);
      let newMetric = false;
      if (pooled) {
        activeMs += performance.now() - mark;
        const inv = yield state.q;
        mark = performance.now();
        if (inv) {
          invMetric.set(inv);
          newMetric = true;
        }
      } else {
        newMetric = ma.learn(invMetric, state.q);
      }
      if (newMetric) {
        h.metric = makeMetric(metricKind, invMetric, dim);
        nominal = reinitStepsize(nominal);
        da.setMu(muFor(nominal));
        da.restart();
      }
      onIteration?.(it + 1, 'warmup', divergences);
    }
    nominal = da.complete();
  }
  const t1 = performance.now();
  const timeWarmupMs = activeMs + (t1 - mark);

  // ---- Sampling ----
  const drawsOut: Float64Array[] = [];
  const stats: DrawStats[] = [];
  divergences = 0;
  for (let it = 0; it < draws; it++) {
    const s = transition('sampling');
    stats.push(s);
    drawsOut.push(Float64Array.from(state.q));
    if (s.divergent) divergences++;
    onIteration?.(warmup + it + 1, 'sampling', divergences);
  }
  const t2 = performance.now();

  return {
    draws: drawsOut,
    stats,
    warmupStats,
    ...(warmupDraws ? { warmupDraws } : {}),
    stepsize: nominal,
    invMetric: Float64Array.from(invMetric),
    metric: metricKind,
    ...(algorithm === 'hmc' ? { numSteps: stepsFor(nominal) } : {}),
    timeWarmupMs,
    timeSamplingMs: t2 - t1,
  };
}

/**
 * Runs several chains with their warm-ups in lockstep and ONE metric estimated from all of
 * them: at the end of each adaptation window every chain's window (co)variance is computed
 * (regularised as Stan), and all chains continue with the most central estimate — the
 * per-coordinate median for a diagonal metric, the medoid under the symmetrised KL
 * divergence between Gaussians for a dense one (the average for two chains). A chain whose
 * window caught a transient (a late move between regions of the posterior) then does not
 * sample with a metric fitted to that transient. Step sizes stay per chain. Sampling
 * phases run one chain after another. Options other than init/seed/key/onIteration must
 * agree across chains.
 */
export function runChainsPooled(targets: readonly Target[], options: readonly RunChainOptions[]): ChainResult[] {
  const kind = options[0]?.metric ?? 'diag';
  const dim = targets[0]?.dim;
  const steps = pooledChains(targets, options);
  let r = steps.next();
  while (!r.done) r = steps.next(poolEstimates(r.value, kind, dim));
  return r.value;
}

/**
 * The pooled warm-up of `runChainsPooled` with the pooling left to the caller: at the end of
 * every adaptation window the generator yields each of its chains' regularised window
 * estimates (in chain order) and resumes with the metric to continue with. The caller may
 * pool these with other chains' estimates (chains run in other threads, `sampleParallel`)
 * by `poolEstimates` over all of them in chain order, which gives the same run as one
 * `runChainsPooled` over every chain. Returns the chains' results.
 */
export function* pooledChains(targets: readonly Target[], options: readonly RunChainOptions[]): Generator<Float64Array[], ChainResult[], Float64Array> {
  if (targets.length !== options.length || targets.length === 0) throw new RangeError('runChainsPooled: give one target and one options object per chain');
  const o0 = options[0];
  const warmup = o0.warmup ?? 1000;
  const kind = o0.metric ?? 'diag';
  const dim = targets[0].dim;
  for (const [c, o] of options.entries()) {
    if ((o.warmup ?? 1000) !== warmup || (o.metric ?? 'diag') !== kind || targets[c].dim !== dim) {
      throw new RangeError(`runChainsPooled: chain ${c + 1} differs from chain 1 in warmup, metric or dimension`);
    }
  }
  const gens = targets.map((t, c) => chainSteps(t, options[c], true));
  const C = gens.length;
  const schedule = new WindowSchedule(warmup, { initBuffer: o0.initBuffer, termBuffer: o0.termBuffer, baseWindow: o0.baseWindow });
  const est = gens.map(() => (kind === 'diag' ? new WelfordVariance(dim) : new WelfordCovariance(dim)));
  let pending: Float64Array | undefined;
  const results: (ChainResult | undefined)[] = new Array(C);
  for (let it = 0; it < warmup; it++) {
    for (let c = 0; c < C; c++) {
      const r = it === 0 ? gens[c].next() : gens[c].next(pending);
      if (r.done) throw new Error('runChainsPooled: a chain ended its warm-up early');
      if (schedule.collect()) est[c].add(r.value);
    }
    pending = undefined;
    if (schedule.endOfWindow()) {
      const perChain = est.map((e) => {
        const out = new Float64Array(kind === 'diag' ? dim : dim * dim);
        if (e instanceof WelfordVariance) {
          e.variance(out);
          for (let i = 0; i < dim; i++) out[i] = regularize(out[i], e.count, 1);
        } else {
          e.covariance(out);
          for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) out[i * dim + j] = regularize(out[i * dim + j], e.count, i === j ? 1 : 0);
        }
        e.restart();
        return out;
      });
      pending = yield perChain;
    }
    schedule.advance();
  }
  for (let c = 0; c < C; c++) {
    const r = warmup === 0 ? gens[c].next() : gens[c].next(pending);
    let rr = r;
    while (!rr.done) rr = gens[c].next();
    results[c] = rr.value;
  }
  return results as ChainResult[];
}

/**
 * The pooled metric from every chain's window estimate (chain order): the per-coordinate
 * median for a diagonal metric, the medoid under the symmetrised Gaussian KL divergence for a
 * dense one (the average for two chains).
 */
export function poolEstimates(perChain: readonly Float64Array[], kind: 'diag' | 'dense', dim: number): Float64Array {
  const pooled = kind === 'diag' ? medianDiag(perChain, dim) : medoidDense(perChain, dim);
  for (const x of pooled) {
    if (!Number.isFinite(x)) throw new Error('Numerical overflow in metric adaptation: the warm-up draws have non-finite (co)variance.');
  }
  return pooled;
}

function medianDiag(ests: readonly Float64Array[], dim: number): Float64Array {
  const out = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    const v = ests.map((e) => e[i]).sort((a, b) => a - b);
    const m = v.length >> 1;
    out[i] = v.length % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  }
  return out;
}

/** tr(A⁻¹B) for SPD A (row-major d×d), by Cholesky. */
function traceSolve(A: Float64Array, B: Float64Array, d: number): number {
  const L = choleskyLower(A, d, 'window covariance');
  let tr = 0;
  const col = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    // Solve A x = B[:, j]; add x[j].
    for (let i = 0; i < d; i++) {
      let s = B[i * d + j];
      for (let k = 0; k < i; k++) s -= L[i * d + k] * col[k];
      col[i] = s / L[i * d + i];
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = col[i];
      for (let k = i + 1; k < d; k++) s -= L[k * d + i] * col[k];
      col[i] = s / L[i * d + i];
    }
    tr += col[j];
  }
  return tr;
}

function medoidDense(ests: readonly Float64Array[], d: number): Float64Array {
  const C = ests.length;
  if (C <= 2) {
    const out = new Float64Array(d * d);
    for (const e of ests) for (let i = 0; i < out.length; i++) out[i] += e[i] / C;
    return out;
  }
  let best = 0;
  let bestScore = Infinity;
  for (let a = 0; a < C; a++) {
    let score = 0;
    for (let b = 0; b < C; b++) if (b !== a) score += traceSolve(ests[a], ests[b], d) + traceSolve(ests[b], ests[a], d) - 2 * d;
    if (score < bestScore) {
      bestScore = score;
      best = a;
    }
  }
  return ests[best].slice();
}
