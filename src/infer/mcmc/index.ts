/**
 * The MCMC family: NUTS (or static HMC) over the flat unconstrained parameter vector with
 * the discrete latents summed out, several chains, Stan's warm-up, and the diagnostics of
 * Vehtari et al. (2021).
 *
 * The potential is recorded once and replayed in float64 JS (BoundModel.potentialFunction),
 * so a gradient of a small model costs ~0.1 ms instead of a tfjs dispatch of ~5 ms.
 */
import { Key, type Rng } from '../../tensor/random';
import type { BoundModel, ParamValues } from '../../model/bound-model';
import type { ExternalPotential, GradientBatchStats } from '../remote-potential';
import { runChain, pooledChains, poolEstimates, type ChainPhase, type ChainResult, type DrawStats, type RunChainOptions, type Target, type TestBias } from './sampler';
import { summarize, formatSummary, type SummaryRow } from './summary';
import { flatNames, type ChainDraws } from '../../output/draws';
import { writeCmdStanCsv } from '../../output/cmdstan-csv';
import { GibbsTarget } from './gibbs';
import { runSliceChain, sliceDensities } from './slice';
import { conjugateGibbsUpdate, describeConjugateBlocks, type ExactBlockInfo } from './conjugate-gibbs';
import { findDiagNormalMixtureBlocks, findNormalMixtureBlocks } from './conjugate-normal';

export type { SummaryRow } from './summary';
export type { ExactBlockInfo } from './conjugate-gibbs';

/** Options of {@link sample}. */
export interface SampleOptions {
  /** Number of chains (default 4), run one after another with independent keys. */
  chains?: number;
  /** Warm-up iterations per chain (default 1000). */
  warmup?: number;
  /** Draws kept per chain after warm-up (default 1000). */
  draws?: number;
  /** Keep every `thin`-th draw (default 1). */
  thin?: number;
  /** Seed of the run; chain c uses Key.seed(seed).fold(c). Default 1. */
  seed?: number;
  /**
   * 'nuts' (default), static 'hmc', random-walk Metropolis 'mh' (for targets without usable
   * gradients; slow mixing), or 'slice': univariate slice sampling of each unconstrained
   * coordinate in turn with widths adapted in warm-up (src/infer/mcmc/slice.ts; with
   * latents: 'gibbs' a JAGS-style sampler). For 'slice', `stepsize` is the initial width,
   * `metric` picks the directions ('diag': coordinates; 'dense': the Cholesky columns of a
   * warm-up covariance estimate; 'auto' as for NUTS), and delta, maxTreeDepth and
   * adaptation do not apply. 'auto' picks for the model (resolveAutoAlgorithm): the
   * JAGS-style sampler with exact conjugate draws where the IR has a normal-mixture block,
   * NUTS otherwise; the result's `settings.algorithm` says which ran.
   */
  algorithm?: 'nuts' | 'hmc' | 'mh' | 'slice' | 'auto';
  /**
   * Euclidean metric adapted in warm-up: 'diag', 'dense', or 'auto' (default): dense up to
   * 30 unconstrained dimensions, where its O(d²) leapfrog cost is negligible and posterior
   * correlations (weights against scales in a mixture) otherwise throttle the step size
   * (bench/results/mcmc.md, galaxies K = 3: min bulk ESS 291 dense against 7 diagonal).
   */
  metric?: 'diag' | 'dense' | 'auto';
  /** Target acceptance statistic (default 0.8). */
  delta?: number;
  /** NUTS maximum tree depth (default 10). */
  maxTreeDepth?: number;
  /** Initial step size (default 1). */
  stepsize?: number;
  /**
   * Initial values: one set for all chains or one per chain (constrained, by parameter
   * name). Default: uniform(-initRadius, initRadius) on the unconstrained scale, as Stan.
   */
  init?: ParamValues | ParamValues[];
  /** Radius of the random inits (default 2). */
  initRadius?: number;
  /** Progress callback (chain is 0-based; iteration counts warm-up and sampling together). */
  onIteration?: (chain: number, iteration: number, phase: ChainPhase, divergences: number) => void;
  /**
   * Discrete latents: 'marginalize' (default) sums them out and samples the parameters by
   * NUTS/HMC; 'gibbs' keeps them in the state, draws each from its exact conditional
   * before every NUTS/HMC transition of the parameters given them (models whose
   * statements touch at most one latent; a chain's whole path is one block, see
   * `chainUpdate`), and returns their draws.
   */
  latents?: 'marginalize' | 'gibbs';
  /**
   * With latents: 'gibbs', how a chain latent's path is drawn given the parameters: 'ffbs'
   * (default: exact forward filtering, backward sampling) or 'csmc' (one sweep of
   * conditional SMC with ancestor sampling from the current path: particle Gibbs).
   */
  chainUpdate?: 'ffbs' | 'csmc';
  /** Particles of each conditional SMC sweep with chainUpdate: 'csmc' (default 20). */
  csmcParticles?: number;
  /**
   * With algorithm: 'slice' and latents: 'gibbs': draw the conjugate blocks found in the IR
   * (a Dirichlet prior on the weights of categorical latents; the locations of a normal
   * mixture, with one-dimensional updates of its half-normal scales) exactly given the
   * latents, leaving their coordinates out of the slice updates
   * (src/infer/mcmc/conjugate-gibbs.ts, conjugate-normal.ts). Default true; false slices
   * every coordinate.
   */
  conjugate?: boolean;
  /**
   * With conjugate draws, how an `ordered` vector of mixture locations is updated: 'sort'
   * (default; used only when the IR shows the model exchangeable in the labels, otherwise
   * 'truncated') draws the locations unordered and sorts, relabelling the components;
   * 'truncated' draws each location from its normal truncated to its neighbours.
   */
  orderedUpdate?: 'sort' | 'truncated';
  /**
   * With conjugate draws: how many times per iteration a normal mixture block with
   * collapsed latents redraws its latents, scales and locations before the weights are
   * drawn (default 1, one JAGS-like sweep). More sweeps are a cheap inner thinning: each
   * costs a pass over the data, while an iteration's fixed cost is the density evaluation.
   */
  conjugateSweeps?: number;
  /**
   * Warm-up with several chains: 'pooled' (default) runs the warm-ups in lockstep and gives
   * every chain the most central of the chains' metric estimates at each window (see
   * `runChainsPooled`); 'per-chain' adapts each chain alone, as Stan.
   */
  adaptation?: 'pooled' | 'per-chain';
  /** Use the tensor evaluator for the potential even when it can be traced (for testing). */
  tensorPath?: boolean;
  /** TEST ONLY: a deliberately wrong kernel, so tests can show that their checks catch one. */
  _testBias?: TestBias;
}

/** One chain's output. */
export interface McmcChain {
  /** Unconstrained draws (the sampler's state). */
  unconstrained: Float64Array[];
  /** Constrained values per draw, flattened in `McmcResult.names` order. */
  values: Float64Array[];
  stats: DrawStats[];
  /** With latents: 'gibbs', the latents' values drawn with each kept draw (`McmcResult.latentNames`). */
  latents?: Int32Array[];
  stepsize: number;
  invMetric: Float64Array;
  metric: 'diag' | 'dense';
  init: Float64Array;
  timeWarmupMs: number;
  timeSamplingMs: number;
}

/** Run-level counts that say whether a run can be trusted. */
export interface SamplerDiagnostics {
  divergences: number;
  /** Transitions that stopped at the maximum tree depth. */
  treedepthHits: number;
  meanAcceptStat: number;
  maxRhat: number;
  minEssBulk: number;
  minEssTail: number;
  /** Human-readable warnings, Stan-style (divergences, tree depth, R-hat > 1.01, ESS < 100 per chain). */
  warnings: string[];
}

/** The draws of a run with summaries, diagnostics and CmdStan CSV output. */
export class McmcResult {
  private summaryCache?: SummaryRow[];
  /**
   * `sampleParallel` with `deviceGradients`: how the main thread answered the chains'
   * gradient requests (lockstep batches of the waiting chains' points; see runWorkers).
   */
  gradientBatches?: GradientBatchStats;
  constructor(
    readonly model: string,
    /** Flat constrained names, row-major within each parameter (`mu.1`, `Sigma.1.2`). */
    readonly names: string[],
    readonly params: readonly { name: string; shape: number[] }[],
    readonly chains: McmcChain[],
    readonly settings: Required<Pick<SampleOptions, 'chains' | 'warmup' | 'draws' | 'thin' | 'seed' | 'delta' | 'maxTreeDepth'>> & {
      metric: 'diag' | 'dense';
      /** The sampler: NUTS/HMC/MH, or a score-based method (src/infer/score) whose draws share this format. */
      algorithm: Exclude<Required<SampleOptions>['algorithm'], 'auto'> | 'langevin' | 'mala' | 'annealed-langevin' | 'rdmc';
      /**
       * Slice runs only: the exact conjugate updates that ran each iteration (slice + Gibbs
       * with `conjugate` on; src/infer/mcmc/conjugate-gibbs.ts), in the order they run, e.g.
       * galaxies under 'auto': `[{ kind: 'normal-mixture', params: ['mu', 'sigma'], ... },
       * { kind: 'dirichlet-categorical', params: ['w'], ... }]`. Empty for a slice run
       * without blocks; absent for the other samplers.
       */
      exactBlocks?: ExactBlockInfo[];
      /** Slice runs only: how many unconstrained coordinates the slice updates still move (0: every one is drawn exactly). */
      sliceCoords?: number;
    },
    /** True when the potential ran as a float64 replay; false: tensor evaluator. */
    readonly traced: boolean,
    readonly seconds: number,
    /** With latents: 'gibbs', the flat names of the latents drawn (`z.1`, ...). */
    readonly latentNames: string[] = [],
    /** How the chains were started: 'given' initial values, or the radius of the random inits. */
    readonly initSource: 'given' | number = 2,
  ) {}

  /** Draws of one flat quantity (`mu.2`, or `lp__`), one array per chain. */
  draws(name: string): Float64Array[] {
    if (name === 'lp__') return this.chains.map((c) => Float64Array.from(c.stats, (s) => s.lp));
    const j = this.names.indexOf(name);
    if (j < 0) throw new RangeError(`no quantity '${name}'; quantities: ${this.names.join(', ')}`);
    return this.chains.map((c) => Float64Array.from(c.values, (v) => v[j]));
  }

  /**
   * All draws of one parameter, chains pooled in order, each draw flattened row-major
   * (the layout `mixppl/testing`'s sbc expects).
   */
  paramDraws(name: string): Float64Array[] {
    let off = 0;
    for (const p of this.params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (p.name === name) return this.chains.flatMap((c) => c.values.map((v) => v.slice(off, off + size)));
      off += size;
    }
    throw new RangeError(`no parameter '${name}'; parameters: ${this.params.map((p) => p.name).join(', ')}`);
  }

  /** Posterior mean of every flat quantity. */
  means(): Record<string, number> {
    const out: Record<string, number> = {};
    this.names.forEach((n, j) => {
      let s = 0;
      let k = 0;
      for (const c of this.chains) for (const v of c.values) {
        s += v[j];
        k++;
      }
      out[n] = s / k;
    });
    return out;
  }

  /** The summary table rows (lp__ first, then every parameter element). */
  summary(): SummaryRow[] {
    this.summaryCache ??= summarize([{ name: 'lp__', chains: this.draws('lp__') }, ...this.names.map((name) => ({ name, chains: this.draws(name) }))]);
    return this.summaryCache;
  }

  get diagnostics(): SamplerDiagnostics {
    const all = this.chains.flatMap((c) => c.stats);
    const divergences = all.filter((s) => s.divergent).length;
    const treedepthHits = this.settings.algorithm === 'nuts' ? all.filter((s) => s.treedepth >= this.settings.maxTreeDepth).length : 0;
    const rows = this.summary();
    const finite = (xs: number[]) => xs.filter((x) => Number.isFinite(x));
    const maxRhat = Math.max(...finite(rows.map((r) => r.rhat)), -Infinity);
    const minEssBulk = Math.min(...finite(rows.map((r) => r.essBulk)), Infinity);
    const minEssTail = Math.min(...finite(rows.map((r) => r.essTail)), Infinity);
    const warnings: string[] = [];
    const n = all.length;
    if (divergences) warnings.push(`${divergences} of ${n} transitions after warm-up were divergent; the draws may be biased (reparameterise, or raise delta)`);
    if (treedepthHits) warnings.push(`${treedepthHits} of ${n} transitions hit the maximum tree depth ${this.settings.maxTreeDepth}`);
    if (this.chains.length > 1 && maxRhat > 1.01) warnings.push(`max R-hat ${maxRhat.toFixed(3)} > 1.01: the chains have not mixed`);
    if (minEssBulk < 100 * this.chains.length) warnings.push(`min bulk ESS ${minEssBulk.toFixed(0)} < ${100 * this.chains.length} (100 per chain)`);
    if (minEssTail < 100 * this.chains.length) warnings.push(`min tail ESS ${minEssTail.toFixed(0)} < ${100 * this.chains.length} (100 per chain)`);
    const meanAcceptStat = all.reduce((a, s) => a + s.accept_stat, 0) / Math.max(1, n);
    return { divergences, treedepthHits, meanAcceptStat, maxRhat, minEssBulk, minEssTail, warnings };
  }

  /** The summary as a fixed-width table, stansummary-like. */
  formatSummary(): string {
    return formatSummary(this.summary());
  }

  /** One chain in the CmdStan CSV layout (columns in Stan's column-major order). */
  chainDraws(chain: number): ChainDraws {
    const c = this.chains[chain];
    const names = this.params.flatMap((p) => flatNames(p.name, p.shape));
    const col = names.map((n) => this.names.indexOf(n));
    return {
      names,
      draws: c.values.map((v) => col.map((j) => v[j])),
      stats: c.stats.map((s) => [s.lp, s.accept_stat, s.stepsize, s.treedepth, s.n_leapfrog, s.divergent, s.energy]),
    };
  }

  /** One chain as a CmdStan CSV file's text (readable by rstan::read_stan_csv, cmdstanr, ArviZ). */
  toCmdStanCsv(chain: number): string {
    const c = this.chains[chain];
    return writeCmdStanCsv(this.chainDraws(chain), {
      model: this.model,
      numSamples: this.settings.draws,
      numWarmup: this.settings.warmup,
      thin: this.settings.thin,
      seed: this.settings.seed,
      chainId: chain + 1,
      stepsize: c.stepsize,
      maxDepth: this.settings.maxTreeDepth,
      adapt: { engaged: this.settings.warmup > 0, delta: this.settings.delta },
      metric: c.metric === 'diag' ? 'diag_e' : 'dense_e',
      invMetric: Array.from(c.invMetric),
      elapsed: { warmup: c.timeWarmupMs / 1000, sampling: c.timeSamplingMs / 1000 },
      init: this.initSource === 'given' ? 'user' : this.initSource,
    }, { unconstrainedDim: c.init.length });
  }
}

/** Largest dimension for which `metric: 'auto'` picks the dense metric. */
export const DENSE_AUTO_MAX_DIM = 30;

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`sample: ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Draws from the posterior of a bound model by NUTS (default) or static HMC, with the
 * discrete latents summed out. Chains run one after another with keys folded from `seed`.
 *
 * @example
 * const fit = sample(model.bind(data), { chains: 4, seed: 1 });
 * console.log(fit.formatSummary(), fit.diagnostics.warnings);
 */
export function sample(bound: BoundModel, opts: SampleOptions = {}): McmcResult {
  const plan = planSampling(bound, opts);
  const chains = Array.from({ length: plan.settings.chains }, (_, c) => c);
  return assembleResult(bound, plan, runPlannedChains(bound, plan, chains));
}

/** What every chain of a run shares: the checked settings, the target(s) and the per-chain setup. @internal */
export interface SamplingPlan {
  settings: McmcResult['settings'];
  opts: SampleOptions;
  t0: number;
  traced: boolean;
  latentNames: string[];
  initSource: 'given' | number;
  pooled: boolean;
  /** The setup of chain c (its target, checked initial point, options). */
  setup(c: number): ChainSetup;
  /** Slice: each listed chain's density (and exact updates); computed for the chains given. */
  gibbs0: GibbsTarget | null;
}

/** One chain ready to run. @internal */
export interface ChainSetup {
  target: Target;
  options: RunChainOptions;
  init: Float64Array;
  zDraws: Int32Array[];
  g: GibbsTarget | null;
  /** Set when the last latent draw was kept (a sampling sweep) and not yet followed by the exact update. */
  pendingZ?: boolean;
}

/** A finished chain as `assembleResult` takes it (also what a worker sends back). @internal */
export interface FinishedChain {
  result: ChainResult;
  init: Float64Array;
  zDraws: Int32Array[] | null;
}

/**
 * `algorithm: 'auto'`: where the IR has a normal-mixture block (conjugate-normal.ts: normal
 * components selected by a categorical latent, normal prior on the locations; 1-D, or
 * diagonal D-dimensional with a half-normal prior on the scales) and the
 * latents are not asked to be summed out, the JAGS-style sampler with its exact conjugate
 * draws, 2 sweeps per iteration unless `conjugateSweeps` says otherwise (galaxies,
 * bench/results/mcmc.md: thousands of bulk ESS/s with R-hat <= 1.01 where NUTS with the
 * indicators summed out mixes between modes at under 2 ESS/s); NUTS otherwise. Returns the
 * options with the choice filled in.
 */
export function resolveAutoAlgorithm(bound: BoundModel, opts: SampleOptions): SampleOptions {
  if (opts.latents !== 'marginalize' && opts.conjugate !== false && (findNormalMixtureBlocks(bound).length > 0 || findDiagNormalMixtureBlocks(bound).length > 0)) {
    return { ...opts, algorithm: 'slice', latents: 'gibbs', conjugateSweeps: opts.conjugateSweeps ?? 2 };
  }
  return { ...opts, algorithm: 'nuts' };
}

/**
 * Checks the options and prepares the shared state of a run (`sample`, `sampleParallel`'s
 * workers). `potential`, when given, is the marginal potential the chains use instead of the
 * bound model's own (a `sampleParallel` worker whose gradients another thread computes on its
 * device); it goes only with NUTS, static HMC or Metropolis on the marginal potential. @internal
 */
export function planSampling(bound: BoundModel, opts: SampleOptions = {}, potential?: ExternalPotential): SamplingPlan {
  if (opts.algorithm === 'auto') opts = resolveAutoAlgorithm(bound, opts);
  const settings: McmcResult['settings'] & { algorithm: Exclude<SampleOptions['algorithm'], 'auto' | undefined> } = {
    chains: opts.chains ?? 4,
    warmup: opts.warmup ?? 1000,
    draws: opts.draws ?? 1000,
    thin: opts.thin ?? 1,
    seed: opts.seed ?? 1,
    algorithm: (opts.algorithm ?? 'nuts') as Exclude<SampleOptions['algorithm'], 'auto' | undefined>,
    metric: (opts.metric ?? 'auto') === 'auto' ? (bound.dim <= DENSE_AUTO_MAX_DIM ? 'dense' : 'diag') : (opts.metric as 'diag' | 'dense'),
    delta: opts.delta ?? ((opts.algorithm ?? 'nuts') === 'mh' ? 0.234 : 0.8),
    maxTreeDepth: opts.maxTreeDepth ?? 10,
  };
  checkCount('chains', settings.chains, 1);
  checkCount('warmup', settings.warmup, 0);
  checkCount('draws', settings.draws, 1);
  checkCount('thin', settings.thin, 1);
  if (!Number.isInteger(settings.seed)) throw new RangeError(`sample: seed must be an integer, got ${settings.seed}`);
  if (bound.dim === 0) throw new RangeError('sample: the model has no continuous parameters to sample');
  const radius = opts.initRadius ?? 2;
  if (!(radius >= 0)) throw new RangeError(`sample: initRadius must be >= 0, got ${radius}`);

  const t0 = performance.now();
  const gibbs = opts.latents === 'gibbs';
  if (opts.latents !== undefined && opts.latents !== 'marginalize' && !gibbs) throw new RangeError(`sample: latents must be 'marginalize' or 'gibbs', got '${String(opts.latents)}'`);
  if (gibbs && opts.tensorPath) throw new RangeError("sample: latents: 'gibbs' runs on the traced potential only");
  // Gibbs: one traced complete-data potential, shared by the chains' targets (each keeps its
  // own latent state). Otherwise the marginal potential.
  const gibbs0 = gibbs ? new GibbsTarget(bound, undefined, { chainUpdate: opts.chainUpdate, particles: opts.csmcParticles }) : null;
  if (!gibbs && (opts.chainUpdate !== undefined || opts.csmcParticles !== undefined)) throw new RangeError("sample: chainUpdate and csmcParticles go with latents: 'gibbs'");
  const latentNames = gibbs0?.latentNames() ?? [];
  // The marginal potential, traced when a chain first needs it (not in sampleParallel's main
  // thread, which runs no chain); `plan.traced` records whether the trace took.
  let target: Target | null = null;
  const marginalTarget = (): Target => {
    if (target) return target;
    const pot = potential ?? (opts.tensorPath ? bound.tensorPotentialFunction() : bound.potentialFunction());
    plan.traced = pot.traced;
    target = {
      dim: bound.dim,
      logDensityGrad(u: Float64Array, grad: Float64Array): number {
        const v = pot.valueAndGrad(u, grad);
        for (let i = 0; i < grad.length; i++) grad[i] = -grad[i];
        return -v;
      },
    };
    return target;
  };
  const userInits = opts.init === undefined ? [] : Array.isArray(opts.init) ? opts.init : [opts.init];
  if (userInits.length > 1 && userInits.length !== settings.chains) {
    throw new RangeError(`sample: ${userInits.length} sets of initial values for ${settings.chains} chains`);
  }
  const root = Key.seed(settings.seed);
  const pooled = (opts.adaptation ?? 'pooled') === 'pooled' && settings.chains > 1 && settings.warmup > 0;
  if (opts.adaptation !== undefined && opts.adaptation !== 'pooled' && opts.adaptation !== 'per-chain') {
    throw new RangeError(`sample: adaptation must be 'pooled' or 'per-chain', got '${String(opts.adaptation)}'`);
  }
  // Per chain: its target (its own latent state under Gibbs), a checked initial point, options.
  const setup = (c: number): ChainSetup => {
    const setupOut = { pendingZ: false } as ChainSetup;
    const [initKey, chainKey] = root.fold(c).split(2);
    const initRng = initKey.rng();
    const given = userInits.length ? userInits[userInits.length === 1 ? 0 : c] : undefined;
    const g = gibbs0 ? (c === 0 ? gibbs0 : gibbs0.fork()) : null;
    const t: Target = g ?? marginalTarget();
    const grad = new Float64Array(bound.dim);
    let init: Float64Array = new Float64Array(bound.dim);
    let ok = false;
    let why = '';
    for (let attempt = 0; attempt < (given ? 1 : 100) && !ok; attempt++) {
      if (given) init = bound.unconstrain(given);
      else for (let i = 0; i < bound.dim; i++) init[i] = radius * (2 * initRng.uniform() - 1);
      if (g) g.updateLatents(init, initRng);
      const lp = t.logDensityGrad(init, grad);
      const bad = grad.findIndex((x) => !Number.isFinite(x));
      ok = lp > -Infinity && bad < 0;
      why = !(lp > -Infinity) ? `log density ${lp}` : bad >= 0 ? `gradient[${bad}] = ${grad[bad]}` : '';
    }
    if (!ok) {
      throw new RangeError(`sample: chain ${c + 1}: no initial point with a finite log density and gradient ${given ? '(the given init)' : `in 100 tries of uniform(-${radius}, ${radius})`}: ${why}`);
    }
    const zDraws: Int32Array[] = [];
    const options: RunChainOptions = {
      init, key: chainKey, warmup: settings.warmup, draws: settings.draws * settings.thin,
      algorithm: settings.algorithm === 'slice' ? undefined : settings.algorithm, metric: settings.metric, delta: settings.delta, maxTreeDepth: settings.maxTreeDepth,
      stepsize: opts.stepsize, _testBias: opts._testBias,
      beforeTransition: g ? (q, rng, phase) => {
        g.updateLatents(q, rng);
        if (phase === 'sampling') {
          zDraws.push(g.z.slice());
          setupOut.pendingZ = true;
        }
      } : undefined,
      onIteration: opts.onIteration ? (it, phase, div) => opts.onIteration!(c, it, phase, div) : undefined,
    };
    return Object.assign(setupOut, { target: t, options, init, zDraws, g });
  };
  if (opts.conjugate !== undefined && typeof opts.conjugate !== 'boolean') throw new RangeError(`sample: conjugate must be a boolean, got ${String(opts.conjugate)}`);
  if (opts.orderedUpdate !== undefined && opts.orderedUpdate !== 'sort' && opts.orderedUpdate !== 'truncated') throw new RangeError(`sample: orderedUpdate must be 'sort' or 'truncated', got ${String(opts.orderedUpdate)}`);
  if (opts.conjugateSweeps !== undefined && !(Number.isInteger(opts.conjugateSweeps) && opts.conjugateSweeps >= 1)) throw new RangeError(`sample: conjugateSweeps must be an integer >= 1, got ${String(opts.conjugateSweeps)}`);
  if (settings.algorithm === 'slice') {
    // What plannedChainSteps' conjugateGibbsUpdate will draw exactly (same arguments).
    const exact = gibbs && opts.conjugate !== false ? describeConjugateBlocks(bound, opts.orderedUpdate ?? 'sort', true, opts.conjugateSweeps ?? 1) : { blocks: [], coords: [] };
    settings.exactBlocks = exact.blocks;
    settings.sliceCoords = bound.dim - new Set(exact.coords).size;
  }
  const plan: SamplingPlan = { settings, opts, t0, traced: true, latentNames, initSource: userInits.length ? 'given' : radius, pooled, setup, gibbs0 };
  return plan;
}

/**
 * Runs the listed chains of a plan (all of them for `sample`; a worker's share for
 * `sampleParallel`). `pool`, when given, pools the warm-up window estimates across threads;
 * otherwise the listed chains pool among themselves.
 * @internal
 */
export function runPlannedChains(bound: BoundModel, plan: SamplingPlan, chains: readonly number[]): FinishedChain[] {
  const steps = plannedChainSteps(bound, plan, chains);
  let r = steps.next();
  const kind = plan.settings.metric;
  while (!r.done) r = steps.next(poolEstimates(r.value, kind, bound.dim));
  return r.value;
}

/** `runPlannedChains` as a generator over the pooled warm-up's window ends (see `pooledChains`). @internal */
export function* plannedChainSteps(bound: BoundModel, plan: SamplingPlan, chains: readonly number[]): Generator<Float64Array[], FinishedChain[], Float64Array> {
  const { settings, opts, gibbs0 } = plan;
  const setups = chains.map((c) => plan.setup(c));
  let results: ChainResult[];
  if (settings.algorithm === 'slice') {
    const dens = sliceDensities(bound, gibbs0 ? setups.map((s) => s.g!) : null, setups.length, opts.tensorPath);
    plan.traced = dens.traced;
    const exact = gibbs0 && opts.conjugate !== false ? setups.map((s) => conjugateGibbsUpdate(bound, s.g!, undefined, opts.orderedUpdate, true, opts.conjugateSweeps ?? 1)) : null;
    results = setups.map((s, i) => {
      const ex = exact?.[i];
      // An exact update may relabel the latents (orderedUpdate 'sort'): the kept latent draw
      // of a sampling sweep (pushed before it) is refreshed after it.
      const exactUpdate = ex ? {
        coords: ex.coords,
        drawsLatents: ex.drawsLatents,
        draw(q: Float64Array, rng: Rng): void {
          const before = s.zDraws.length;
          ex.draw(q, rng);
          if (before && s.zDraws.length === before && s.pendingZ) s.zDraws[before - 1].set(s.g!.z);
          s.pendingZ = false;
        },
      } : undefined;
      // When the exact update redraws the latents itself, the sweep's own latent draw is skipped (only the kept draw is recorded).
      const beforeTransition = ex?.drawsLatents ? (_q: Float64Array, _rng: Rng, phase: ChainPhase) => {
        if (phase === 'sampling') {
          s.zDraws.push(s.g!.z.slice());
          s.pendingZ = true;
        }
      } : s.options.beforeTransition;
      return runSliceChain({ dim: bound.dim, logDensity: dens.logDensity[i] }, { ...s.options, beforeTransition, exactUpdate });
    });
  } else if (plan.pooled) {
    results = yield* pooledChains(setups.map((s) => s.target), setups.map((s) => s.options));
  } else {
    results = setups.map((s) => runChain(s.target, s.options));
  }
  return results.map((result, i) => ({ result, init: setups[i].init, zDraws: setups[i].g ? setups[i].zDraws : null }));
}

/** The result of a run from its chains in chain order. @internal */
export function assembleResult(bound: BoundModel, plan: SamplingPlan, finished: readonly FinishedChain[]): McmcResult {
  const { settings } = plan;
  const constrained = bound.constrainedFunction();
  const keep = (_: unknown, i: number) => i % settings.thin === settings.thin - 1;
  const chains: McmcChain[] = finished.map(({ result, init, zDraws }) => {
    const unconstrained = result.draws.filter(keep);
    return {
      unconstrained,
      values: unconstrained.map((u) => constrained.evaluate(u)),
      stats: result.stats.filter(keep),
      ...(zDraws ? { latents: zDraws.filter(keep) } : {}),
      stepsize: result.stepsize,
      invMetric: result.invMetric,
      metric: result.metric,
      init: init.slice(),
      timeWarmupMs: result.timeWarmupMs,
      timeSamplingMs: result.timeSamplingMs,
    };
  });
  return new McmcResult(
    bound.ir.name, constrained.names, bound.params.map((p) => ({ name: p.name, shape: p.shape.slice() })),
    chains, settings, plan.traced, (performance.now() - plan.t0) / 1000, plan.latentNames, plan.initSource,
  );
}

export { nutsTransitionKernel, type NutsTransitionKernelOptions, type NutsKernelState } from './kernel';
export { sampleLatents, sampleLatentsAt, latentLayout, LATENT_STREAM, type LatentDraws, type LatentInfo, type LatentLayout, type SampleLatentsOptions } from './latents';
export { runSliceChain, sliceTransitionKernel, sliceDensities, type SliceChainOptions, type SliceTarget, type SliceTransitionKernelOptions, type SliceKernelState } from './slice';
