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
import type { BoundModel, ParamValues, PotentialFunction } from '../../model/bound-model';
import { Key, type Rng } from '../../tensor/random';
import { drawNoise, elboWithNoise, iwaeWithNoise, makeGuide, renyiWithNoise, type Guide, type GuideKind, type Potential } from './guides';
import { psis, type PsisResult } from './psis';
import { AmortizedGuide, amortizedLayout } from './amortized';
import { CouplingFlowGuide } from './coupling';
import { programWithNoise, type ObjectiveProgram } from './objective';
import { MinibatchPotential, type MinibatchOptions } from './minibatch';
import { Adam, decaySchedule, type Schedule } from './optim';
import { summarize, type SummaryRow } from '../mcmc/summary';

export { Adam, decaySchedule, type Schedule, type AdamOptions } from './optim';
export {
  FullRankGuide, LowRankGuide, MeanFieldGuide, PlanarFlowGuide, makeGuide, elboWithNoise, iwaeWithNoise, renyiWithNoise, drawNoise,
  type Guide, type GuideKind, type Potential,
} from './guides';
export { CouplingFlowGuide, type CouplingOptions } from './coupling';
export { AmortizedGuide, amortizedLayout, type AmortizedGroup, type AmortizedLayout, type AmortizedOptions } from './amortized';
export { gpdFit, gpdQuantile, psis, type GpdFit, type PsisResult } from './psis';
export { MinibatchPotential, type MinibatchOptions } from './minibatch';
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
   * over those rows; that is checked at two points before the run.
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
  guide: Guide;
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
export function vi(bound: BoundModel, opts: ViOptions = {}): ViResult {
  const t0 = performance.now();
  const kind = opts.guide ?? 'meanfield';
  const S = opts.samples ?? 1;
  const objective = opts.objective ?? 'elbo';
  if (typeof objective !== 'function' && objective !== 'elbo' && objective !== 'iwae' && objective !== 'renyi') {
    throw new RangeError(`vi: unknown objective '${String(objective)}'; expected 'elbo', 'iwae' or 'renyi'`);
  }
  const alpha = opts.alpha ?? 0.5;
  if (objective === 'renyi' && !(Number.isFinite(alpha) && alpha !== 1)) throw new RangeError(`vi: alpha must be a finite number other than 1 (the ELBO), got ${alpha}`);
  const estimate =
    typeof objective === 'function'
      ? (g: Guide, p: Potential, e: readonly ArrayLike<number>[], gr?: Float64Array) => programWithNoise(g, p, e, objective, gr)
      : objective === 'elbo'
      ? elboWithNoise
      : objective === 'iwae'
        ? iwaeWithNoise
        : (g: Guide, p: Potential, e: readonly ArrayLike<number>[], gr?: Float64Array) => renyiWithNoise(g, p, e, alpha, gr);
  const steps = opts.steps ?? 10000;
  const seed = opts.seed ?? 1;
  const tol = opts.tol ?? 0.01;
  const window = opts.window ?? 100;
  const average = opts.average ?? 0.25;
  const maxRejects = opts.maxRejects ?? 50;
  if (!Number.isInteger(S) || S < 1) throw new RangeError(`vi: samples must be a positive integer, got ${S}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`vi: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`vi: window must be a positive integer, got ${window}`);
  if (!(tol >= 0)) throw new RangeError(`vi: tol must be >= 0, got ${tol}`);
  if (!(average >= 0 && average <= 1)) throw new RangeError(`vi: average must be in [0, 1], got ${average}`);
  const d = bound.dim;
  if (d === 0) throw new RangeError('vi: the model has no continuous parameters');

  const pf = bound.potentialFunction();
  const mb = opts.minibatch ? new MinibatchPotential(bound, opts.minibatch, Key.seed(seed).fold(2).rng()) : undefined;
  try {
    if (mb) {
      const r = Key.seed(seed).fold(3).rng();
      mb.checkSplits([new Float64Array(d), Float64Array.from({ length: d }, () => r.normal())]);
    }
    return fitGuide(bound, opts, pf, mb, { kind, S, estimate, steps, seed, tol, window, average, maxRejects, t0 });
  } finally {
    mb?.dispose();
  }
}

function fitGuide(
  bound: BoundModel, opts: ViOptions, pf: PotentialFunction, mb: MinibatchPotential | undefined,
  { kind, S, estimate, steps, seed, tol, window, average, maxRejects, t0 }: {
    kind: GuideKind; S: number; steps: number; seed: number; tol: number; window: number; average: number; maxRejects: number; t0: number;
    estimate: (g: Guide, p: Potential, e: readonly ArrayLike<number>[], gr?: Float64Array) => number;
  },
): ViResult {
  const d = bound.dim;
  const init = opts.init ? bound.unconstrain(opts.init) : undefined;
  if (opts.rank !== undefined && kind !== 'lowrank') throw new RangeError(`vi: rank applies to the 'lowrank' guide only (guide is '${kind}')`);
  if (opts.layers !== undefined && kind !== 'planar' && kind !== 'coupling') {
    throw new RangeError(`vi: layers applies to the 'planar' and 'coupling' guides only (guide is '${kind}')`);
  }
  if (opts.masks !== undefined && kind !== 'coupling') throw new RangeError(`vi: masks applies to the 'coupling' guide only (guide is '${kind}')`);
  if (opts.hidden !== undefined && kind !== 'coupling' && kind !== 'amortized') {
    throw new RangeError(`vi: hidden applies to the 'coupling' and 'amortized' guides only (guide is '${kind}')`);
  }
  if (opts.amortized !== undefined && kind !== 'amortized') throw new RangeError(`vi: amortized applies to the 'amortized' guide only (guide is '${kind}')`);
  const guide =
    kind === 'amortized'
      ? new AmortizedGuide(amortizedLayout(bound, opts.amortized?.local), { hidden: opts.hidden, global: opts.amortized?.global, conditional: opts.amortized?.conditional }, init, opts.initSd ?? 1)
      : makeGuide(kind, d, init, opts.initSd ?? 1, opts.rank, opts.layers, { hidden: opts.hidden, masks: opts.masks });
  const P = guide.params.length;
  const lr = opts.lr === undefined ? decaySchedule(0.05) : typeof opts.lr === 'number' ? decaySchedule(opts.lr) : opts.lr;
  const adam = new Adam(P, { lr, scale: guide instanceof CouplingFlowGuide ? guide.stepScale() : undefined });
  const rng = Key.seed(seed).fold(0).rng();

  const raw = new Float64Array(steps);
  const grad = new Float64Array(P);
  const windowSums: Float64Array[] = [];
  let cur = new Float64Array(P);
  let inWindow = 0;
  let prevWindowMean = NaN;
  let winSum = 0;
  let winCount = 0;
  let converged = false;
  let rejected = 0;
  let consecutive = 0;
  let t = 0;
  for (; t < steps; t++) {
    const eps = drawNoise(rng, guide.noiseDim, S);
    if (mb) mb.next();
    const e = estimate(guide, mb ?? pf, eps, grad);
    let ok = Number.isFinite(e);
    for (let i = 0; ok && i < P; i++) ok = Number.isFinite(grad[i]);
    if (!ok) {
      raw[t] = NaN;
      rejected++;
      if (++consecutive > maxRejects) {
        throw new Error(`vi: ${consecutive} consecutive steps with a non-finite ELBO or gradient (step ${t}); try a smaller lr or other init`);
      }
    } else {
      consecutive = 0;
      raw[t] = e;
      winSum += e;
      winCount++;
      if (opts.maximize !== false) for (let i = 0; i < P; i++) grad[i] = -grad[i];
      adam.step(guide.params, grad);
    }
    for (let i = 0; i < P; i++) cur[i] += guide.params[i];
    opts.onStep?.(t + 1, steps, raw[t], prevWindowMean);
    inWindow++;
    if (inWindow === window) {
      windowSums.push(cur);
      cur = new Float64Array(P);
      inWindow = 0;
      const m = winCount > 0 ? winSum / winCount : NaN;
      if (Number.isFinite(prevWindowMean) && Number.isFinite(m)) {
        converged = Math.abs(m - prevWindowMean) / Math.max(1, Math.abs(m)) < tol;
      }
      prevWindowMean = m;
      winSum = 0;
      winCount = 0;
      if (converged && opts.stopAtConvergence !== false) {
        t++;
        break;
      }
    }
  }
  const taken = t;

  // Polyak–Ruppert average over the last whole windows.
  if (average > 0 && windowSums.length > 0) {
    const nWin = Math.min(windowSums.length, Math.max(1, Math.round((average * taken) / window)));
    const avg = new Float64Array(P);
    for (let w = windowSums.length - nWin; w < windowSums.length; w++) for (let i = 0; i < P; i++) avg[i] += windowSums[w][i];
    for (let i = 0; i < P; i++) avg[i] /= nWin * window;
    guide.params.set(avg);
  }

  const elboRaw = raw.slice(0, taken);
  const elbo = new Float64Array(taken);
  let s = 0;
  let c = 0;
  for (let i = 0; i < taken; i++) {
    if (Number.isFinite(elboRaw[i])) {
      s += elboRaw[i];
      c++;
    }
    if (i >= window && Number.isFinite(elboRaw[i - window])) {
      s -= elboRaw[i - window];
      c--;
    }
    elbo[i] = c > 0 ? s / c : NaN;
  }

  const cf = bound.constrainedFunction();
  const fitted = guide.clone();
  const unconstrainedDraws = (n: number, drawSeed = seed): Float64Array[] => {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`draws: n must be a nonnegative integer, got ${n}`);
    const r = Key.seed(drawSeed).fold(1).rng();
    return Array.from({ length: n }, () => fitted.sample(r).u);
  };
  const draws = (n: number, drawSeed = seed): Float64Array[] => unconstrainedDraws(n, drawSeed).map((u) => cf.evaluate(u));
  const psisOf = (n = 1000, drawSeed = seed): PsisResult & { logRatios: Float64Array } => {
    const us = unconstrainedDraws(n, drawSeed);
    const logRatios = Float64Array.from(us, (u) => {
      const lr = -pf.value(u) - fitted.logq(u);
      return Number.isNaN(lr) ? -Infinity : lr;
    });
    return { ...psis(logRatios), logRatios };
  };
  const chains = (k: number, n: number, drawSeed = seed): Float64Array[][] => {
    if (!Number.isInteger(k) || k < 1 || !Number.isInteger(n) || n % k !== 0) {
      throw new RangeError(`chains: need a positive integer number of chains dividing n, got ${k} and ${n}`);
    }
    const all = draws(n, drawSeed);
    const per = n / k;
    return Array.from({ length: k }, (_, c) => all.slice(c * per, (c + 1) * per));
  };
  return {
    guide: fitted,
    params: fitted.params.slice(),
    names: cf.names,
    elboRaw,
    elbo,
    converged,
    steps: taken,
    rejected,
    traced: pf.traced,
    seconds: (performance.now() - t0) / 1000,
    draws,
    unconstrainedDraws,
    chains,
    psis: psisOf,
    summary(n = 4000, drawSeed = seed): SummaryRow[] {
      const cs = chains(4, n - (n % 4), drawSeed);
      return summarize(cf.names.map((name, j) => ({ name, chains: cs.map((c) => Float64Array.from(c, (v) => v[j])) })));
    },
  };
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
