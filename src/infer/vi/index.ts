/**
 * The variational-inference family: Gaussian guides over the flat unconstrained vector u
 * (Stan's ADVI, Kucukelbir et al. 2017), normalising flows and amortised guides, fitted by
 * stochastic gradient ascent (Adam with a decaying step size) on the reparameterised ELBO, in
 * float64 JS on the traced potential
 * (BoundModel.potentialFunction). Discrete latents are summed out by the potential.
 *
 * Also the importance-weighted bound of Burda et al. (2016),
 *   IWAE_K = E[log (1/K) Σ_k p(y, u_k) / q(u_k)],  u_k ~ q,
 * which is the ELBO at K = 1, increases with K, and tends to log p(y) as K → ∞.
 */
import type { BoundModel, ParamValues } from '../../model/bound-model';
import { Key, type Rng } from '../../tensor/random';
import type { Guide, GuideKind, Potential } from './guides';
import type { PsisResult } from './psis';
import type { AmortizedGuide } from './amortized';
import type { ObjectiveProgram } from './objective';
import { LocalMinibatch, MinibatchPotential, subsampledParams, type MinibatchOptions } from './minibatch';
import type { Schedule } from './optim';
import type { SummaryRow } from '../mcmc/summary';
import type { GradientBatchStats } from '../remote-potential';
import { buildResult, makeViGuide, runConfig, Trainer } from './train';

export { Adam, decaySchedule, type Schedule, type AdamOptions } from './optim';
export {
  FullRankGuide, LowRankGuide, MeanFieldGuide, PlanarFlowGuide, makeGuide, elboWithNoise, iwaeWithNoise, renyiWithNoise, drawNoise,
  type Guide, type GuideKind, type Potential,
} from './guides';
export { CouplingFlowGuide, type CouplingOptions } from './coupling';
export { AmortizedGuide, amortizedLayout, amortizedRows, type AmortizedBatchSpec, type AmortizedGroup, type AmortizedLayout, type AmortizedOptions } from './amortized';
export { gpdFit, gpdQuantile, psis, type GpdFit, type PsisResult } from './psis';
export { AmortizedBatches, LocalMinibatch, MinibatchPotential, scaledLocalPotential, subsampledParams, type MinibatchOptions } from './minibatch';
export { isChunkSource, viChunked, type ViBindable, type ViChunkSource } from './chunked';
export { Node, objectives, programWithNoise, type ObjectiveInputs, type ObjectiveOps, type ObjectiveProgram } from './objective';

/** Options of {@link vi}. */
export interface ViOptions {
  /**
   * 'meanfield' (default), 'fullrank', 'lowrank' (N(μ, B Bᵀ + D²), B of `rank` columns),
   * 'planar' (a planar normalising flow of `layers` layers on a mean-field base), 'coupling'
   * (an affine-coupling RealNVP flow of `layers` layers, coupling.ts) or 'amortized' (local
   * parameters from an MLP of their data row, globals Gaussian; amortized.ts).
   */
  guide?: GuideKind;
  /**
   * The amortised guide's options: `local` names the local parameters to amortise (default:
   * every parameter whose leading axis is the rows of a data variable), `global` the guide of
   * the rest ('fullrank', default, or 'meanfield'), `conditional` feeds the global draw to the
   * encoders too (q(u_n | u_G, x_n)); `hidden` sets the encoder's width.
   */
  amortized?: { local?: string[]; global?: 'meanfield' | 'fullrank'; conditional?: boolean };
  /** Layers of the planar or coupling flow guide (default 8). */
  layers?: number;
  /** Hidden units of each coupling layer's MLP or of the amortised guide's encoders (default 16; 'coupling' and 'amortized' only). */
  hidden?: number;
  /** Mask schedule of the coupling flow: 'alternating' (default) or 'permuted' ('coupling' only). */
  masks?: 'alternating' | 'permuted';
  /** Columns of the low-rank guide's factor B (default ⌈√dim⌉, at most dim). */
  rank?: number;
  /** Monte Carlo draws of ε per gradient step (default 1); with objective 'iwae' or 'renyi', the K of the bound. */
  samples?: number;
  /**
   * 'elbo' (default): the reparameterised ELBO, averaged over `samples` draws. 'iwae': the
   * importance-weighted bound with K = `samples` (iwaeWithNoise), which at K > 1 fits a wider,
   * mass-covering guide; the trace then records that bound. 'renyi': the variational Rényi
   * bound of order `alpha` with K = `samples` (renyiWithNoise; α = 0 is 'iwae'). Or a program
   * (objective.ts) of the `samples` draws' log p and log q, differentiated by the library.
   */
  objective?: 'elbo' | 'iwae' | 'renyi' | ObjectiveProgram;
  /**
   * Called after every step with the step number (1-based), the step limit, this step's
   * objective estimate (NaN when rejected) and the mean of the last complete window (NaN
   * before the first): for progress displays.
   */
  onStep?: (step: number, steps: number, objective: number, windowMean: number) => void;
  /** Maximise the objective (default true); false minimises it. */
  maximize?: boolean;
  /**
   * Stochastic VI on chunks of the rows of the named data (minibatch.ts): each step sees
   * `size` rows with the likelihood scaled by N / size. The model's likelihood must be a sum
   * over those rows; that is checked at two points before the run. With guide 'amortized',
   * local parameters of those rows are subsampled too (a step costs O(size), LocalMinibatch).
   * For data in chunks (`model.fit(chunks, ...)`, chunked.ts) also `totalRows` and `shared`.
   */
  minibatch?: MinibatchOptions;
  /** Order α of the Rényi objective (default 0.5; not 1 — that is the ELBO). */
  alpha?: number;
  /** Maximum number of gradient steps (default 10000). */
  steps?: number;
  /**
   * Adam learning rate: a number (then decaySchedule(lr)) or a schedule (default
   * decaySchedule(0.05)); the coupling flow's MLP weights step at a fifth of it (stepScale).
   */
  lr?: number | Schedule;
  /** Seed of the run (default 1). */
  seed?: number;
  /**
   * Relative tolerance on the ELBO (default 0.01, as Stan's tol_rel_obj): every `window`
   * steps the mean of the raw ELBO estimates over the window is compared with the previous
   * window's; the run has converged when |Δ| / max(1, |mean|) < tol.
   */
  tol?: number;
  /** Stop at convergence (default true); false runs all `steps`. */
  stopAtConvergence?: boolean;
  /** Steps per convergence window (default 100). */
  window?: number;
  /**
   * Fraction of the steps run over whose iterates the returned parameters are averaged
   * (Polyak–Ruppert; whole windows, at least one; default 0.25). 0 returns the last iterate.
   */
  average?: number;
  /** Initial mean (constrained values, by name); default u = 0. */
  init?: ParamValues;
  /** Initial standard deviation of every coordinate (default 1). */
  initSd?: number;
  /** Consecutive steps with a non-finite ELBO or gradient tolerated before giving up (default 50). */
  maxRejects?: number;
}

/** The fitted guide with its ELBO trace and draws of the constrained parameters. */
export interface ViResult {
  /**
   * The fitted guide over the u of `names`. For a chunked fit with local parameters
   * (viChunked with guide 'amortized') that is the parameters without rows only: the view of
   * `encoder` on the model bound to no rows.
   */
  guide: Guide;
  /**
   * The amortised guide as trained (guide 'amortized'; otherwise undefined): its global guide
   * and encoders, `encode(features)` giving the local posterior of any data row. In memory it
   * is `guide`; from data in chunks, its own rows are the first chunk's.
   */
  encoder?: AmortizedGuide;
  /** The guide's parameters (a copy; layout in guides.ts). */
  params: Float64Array;
  /** Flat constrained names, as McmcResult.names. */
  names: string[];
  /** Raw ELBO (or IWAE bound) estimate at each step taken (NaN where the step was rejected). */
  elboRaw: Float64Array;
  /** The ELBO trace smoothed by a trailing mean over `window` steps. */
  elbo: Float64Array;
  converged: boolean;
  /** Steps taken. */
  steps: number;
  /** Steps whose ELBO or gradient was not finite (skipped). */
  rejected: number;
  /** True when the potential ran as a float64 replay. */
  traced: boolean;
  /**
   * viDeviceGradients only: how the main thread answered the worker's requests (points
   * evaluated, batches, the most points in one: a step's `samples` go as one batch).
   */
  gradientBatches?: GradientBatchStats;
  seconds: number;
  /** n draws of the constrained parameters from the guide, each flattened in `names` order. */
  draws(n: number, seed?: number): Float64Array[];
  /** n draws of u from the guide. */
  unconstrainedDraws(n: number, seed?: number): Float64Array[];
  /**
   * Pareto-smoothed importance sampling of n draws from the guide against the model
   * (default n = 1000): log ratios log p(y, u) − log q(u), their PSIS-smoothed version and
   * k̂ (Yao et al. 2018): k̂ < 0.5 the guide is close to the posterior; 0.5–0.7 usable with
   * care; > 0.7 do not trust it. The draws are `unconstrainedDraws(n, seed)`.
   */
  psis(n?: number, seed?: number): PsisResult & { logRatios: Float64Array };
  /** The draws of `draws(n, seed)` split into `chains` rows of n/chains, the layout of McmcChain.values. */
  chains(chains: number, n: number, seed?: number): Float64Array[][];
  /**
   * The MCMC summary table (src/infer/mcmc/summary.ts) of n independent draws from the guide
   * split into 4 chains (default n = 4000); R-hat ≈ 1 and ESS ≈ n by construction, so the
   * MCSE columns are the Monte Carlo error of the draws, not of the approximation.
   */
  summary(n?: number, seed?: number): SummaryRow[];
}

function potentialOf(model: BoundModel | Potential): Potential {
  return 'potentialFunction' in model ? model.potentialFunction() : model;
}

/**
 * Fits a Gaussian guide to the posterior of the unconstrained parameters by maximising
 * the reparameterised ELBO with Adam.
 *
 * @example
 * const fit = vi(compile(src).bind(data), { guide: 'fullrank', steps: 5000, seed: 3 });
 * fit.draws(1000); // constrained draws
 */
export function vi(bound: BoundModel, opts: ViOptions = {}, potential?: Potential & { readonly traced: boolean }): ViResult {
  const t0 = performance.now();
  const cfg = runConfig(opts);
  const d = bound.dim;
  if (d === 0) throw new RangeError('vi: the model has no continuous parameters');
  if (opts.minibatch && (opts.minibatch.totalRows !== undefined || opts.minibatch.shared !== undefined)) {
    throw new RangeError('vi: minibatch.totalRows and minibatch.shared apply to data in chunks (model.fit(chunks, { method: \'vi\', minibatch })), not to bound data');
  }
  // `potential` (internal): the model's potential computed elsewhere (viDeviceGradients' worker).
  if (potential && opts.minibatch) throw new RangeError('vi: minibatch subsamples the bound data; it does not go with a potential computed elsewhere');
  const pf = potential ?? bound.potentialFunction();
  // Local parameters (a row per subsampled row) are subsampled through the amortised guide's
  // minibatch views; otherwise the guide is over all of u and the chunks scale the likelihood.
  const local = opts.minibatch && cfg.kind === 'amortized' && subsampledParams(bound, opts.minibatch).length > 0;
  const guide = makeViGuide(bound, opts, cfg.kind);
  const mbRng = (): Rng => Key.seed(cfg.seed).fold(2).rng();
  const mb = opts.minibatch && !local ? new MinibatchPotential(bound, opts.minibatch, mbRng()) : undefined;
  const lmb = opts.minibatch && local ? new LocalMinibatch(bound, opts.minibatch, guide as AmortizedGuide, mbRng()) : undefined;
  try {
    if (mb || lmb) {
      const r = Key.seed(cfg.seed).fold(3).rng();
      const points = [new Float64Array(d), Float64Array.from({ length: d }, () => r.normal())];
      (mb ?? lmb)!.checkSplits(points);
    }
    const tr = new Trainer(guide, opts, cfg);
    while (!tr.done) {
      if (lmb) {
        const { guide: view, potential } = lmb.next();
        tr.step(view, potential);
      } else {
        mb?.next();
        tr.step(guide, mb ?? pf);
      }
    }
    return buildResult(tr, cfg, bound.constrainedFunction(), pf, pf.traced, t0);
  } finally {
    mb?.dispose();
    lmb?.dispose();
  }
}

/** An estimate of the importance-weighted bound, with its Monte Carlo standard error. */
export interface IwaeEstimate {
  /** Mean of the nRep independent estimates of log (1/K) Σ_k w_k. */
  bound: number;
  /** Standard error of `bound` (NaN when nRep = 1). */
  se: number;
  /** The nRep single-replicate estimates. */
  values: Float64Array;
}

/**
 * The IWAE bound (Burda et al. 2016) of the guide, log (1/K) Σ_k p(y, u_k) / q(u_k) with
 * u_k ~ q, averaged over nRep independent replicates. Here p(y, u) = exp(-U(u)), the joint
 * density of data and the unconstrained parameters (Jacobian included), so the bound is on
 * the log evidence log p(y) and K = 1 is the ELBO.
 */
export function iwaeBound(bound: BoundModel | Potential, guide: Guide, K: number, nRep: number, rng: Rng): IwaeEstimate {
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`iwaeBound: K must be a positive integer, got ${K}`);
  if (!Number.isInteger(nRep) || nRep < 1) throw new RangeError(`iwaeBound: nRep must be a positive integer, got ${nRep}`);
  const pf = potentialOf(bound);
  if (pf.dim !== guide.dim) throw new RangeError(`iwaeBound: model has dimension ${pf.dim}, guide ${guide.dim}`);
  const values = new Float64Array(nRep);
  const logw = new Float64Array(K);
  for (let r = 0; r < nRep; r++) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      const { u } = guide.sample(rng);
      const lw = -pf.value(u) - guide.logq(u);
      logw[k] = Number.isNaN(lw) ? -Infinity : lw;
      if (logw[k] > mx) mx = logw[k];
    }
    let s = 0;
    if (mx === -Infinity || mx === Infinity) values[r] = mx;
    else {
      for (let k = 0; k < K; k++) s += Math.exp(logw[k] - mx);
      values[r] = mx + Math.log(s) - Math.log(K);
    }
  }
  let mean = 0;
  for (const v of values) mean += v;
  mean /= nRep;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  const se = nRep > 1 ? Math.sqrt(ss / (nRep - 1) / nRep) : NaN;
  return { bound: mean, se, values };
}
