/**
 * The score-based family: sampling a posterior from its score ∇log p on the unconstrained
 * space (unadjusted Langevin, MALA, annealed Langevin with a Feynman–Kac correction,
 * reverse diffusion Monte Carlo), with draws returned in the MCMC family's result format so
 * summaries, CmdStan CSV and plots work unchanged.
 *
 * The potential is the float64 replay of the model's density (BoundModel.potentialFunction),
 * as for NUTS; the chains or particles are looped over on the host.
 */
import type { BoundModel } from '../../model/bound-model';
import type { ExternalPotential } from '../remote-potential';
import { Key } from '../../tensor/random';
import type { GradientTarget } from '../mcmc/hmc';
import { McmcResult, type McmcChain } from '../mcmc';
import type { DrawStats } from '../mcmc/sampler';
import { checkInt, checkPositive, langevinChains, MALA_TARGET_ACCEPT } from './langevin';
import { annealedLangevin, gaussianPath, resampleEqual, type AnnealedResult, type GaussianReference } from './annealed';
import { rdmc, type RdmcResult } from './rdmc';

export {
  langevinChains, langevinStep, MALA_TARGET_ACCEPT, type LangevinChain, type LangevinOptions, type LangevinRun,
} from './langevin';
export * from './annealed';
export * from './rdmc';
// Learning a score from data: denoising score matching, the SDEs and their samplers, the
// closed-form noised Gaussian-mixture score (the test oracle) and MMD.
export * from './sde';
export * from './gmm-score';
export * from './dsm';
export * from './mmd';
// The model-level wrapper: model.fit(data, { method: 'diffusion' }).
export * from './diffusion-fit';
export { isotropicMixtureTarget } from './targets';

/** The sampling methods of {@link scoreSample}. */
export const SCORE_METHODS = ['langevin', 'mala', 'annealed-langevin', 'rdmc'] as const;
/** One of {@link SCORE_METHODS}. */
export type ScoreMethod = (typeof SCORE_METHODS)[number];

/** Options of {@link scoreSample}. */
export interface ScoreSampleOptions {
  /** 'langevin' (unadjusted, ULA), 'mala', 'annealed-langevin' (with the Feynman–Kac correction) or 'rdmc'. */
  method: ScoreMethod;
  /**
   * Chains (default 4). For 'annealed-langevin' and 'rdmc' the chains · draws output draws
   * are independent particles, split into this many groups so R-hat and ESS apply.
   */
  chains?: number;
  /** Langevin/MALA warm-up iterations per chain (default 1000; 0 for the particle methods). */
  warmup?: number;
  /** Draws kept per chain (default 1000). */
  draws?: number;
  /** Langevin/MALA: keep every `thin`-th iteration (default 1). */
  thin?: number;
  /** Langevin/MALA step size (MALA: the starting value of its adaptation); annealed: initial MALA step relative to the cloud's sd. */
  stepSize?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Langevin/MALA: initial unconstrained state(s), length dim or chains·dim (default uniform(−initRadius, initRadius)). */
  init?: ArrayLike<number>;
  /** Radius of the random inits (default 2). */
  initRadius?: number;
  /** Langevin/MALA: diagonal preconditioner from the warm-up variance (default true). */
  precondition?: boolean;
  /** MALA: target acceptance rate of the step-size adaptation (default 0.574). */
  targetAccept?: number;
  /** Annealed: Gaussian reference on the unconstrained space (default N(0, 3²) per coordinate). */
  reference?: GaussianReference;
  /** Annealed: conditional-ESS fraction that sets the adaptive ladder (default 0.5). */
  essThreshold?: number;
  /** Annealed: fixed ladder of β instead of the adaptive one. */
  betas?: readonly number[];
  /** Annealed: MALA steps per particle per level (default 5). */
  moveSteps?: number;
  /** rdMC: horizon T (default 4). */
  horizon?: number;
  /** rdMC: early-stopping time δ (default 0.01). */
  earlyStop?: number;
  /** rdMC: reverse steps (default 50). */
  steps?: number;
  /** rdMC: importance samples per score estimate (default 128). */
  innerSamples?: number;
  /** rdMC: inner ULA steps per score estimate (default 0). */
  innerSteps?: number;
  /** rdMC: 'log' (default) or 'uniform' time grid. */
  timeGrid?: 'log' | 'uniform';
  /** rdMC: bridge each reverse step from a 'draw' of the inner cloud (default) or its 'mean'. */
  bridge?: 'draw' | 'mean';
  /** rdMC: reference draws shared by all chains at each step (default 0). */
  poolSamples?: number;
  /** rdMC: standardisation centre on the unconstrained space (default 0). */
  center?: number | ArrayLike<number>;
  /** rdMC: standardisation scale (default 1). */
  scale?: number | ArrayLike<number>;
  /**
   * Progress: Langevin/MALA after each iteration (phase 'warmup' or 'sampling', all chains,
   * detail = mean acceptance), annealed Langevin after each level (detail = β, ess), rdMC after
   * each reverse step (detail = mean inner ESS). `step` is 1-based; `of` is unknown (NaN) for
   * the adaptive annealing ladder.
   */
  onProgress?: (p: ScoreProgress) => void;
}

/** What {@link ScoreSampleOptions.onProgress} gets. */
export type ScoreProgress =
  | { method: 'langevin' | 'mala'; phase: 'warmup' | 'sampling'; step: number; of: number; accept: number }
  | { method: 'annealed-langevin'; step: number; beta: number; ess: number; particles: number }
  | { method: 'rdmc'; step: number; of: number; innerEss: number };

/**
 * The draws of a score-based run in the MCMC result format, with the method and, for
 * annealed Langevin, the log evidence estimate.
 */
export class ScoreResult extends McmcResult {
  /** The method that made the draws. */
  method!: ScoreMethod;
  /** Annealed Langevin: log Ẑ, the estimate of log p(y) (the potential's normaliser); NaN otherwise. */
  logZ = NaN;
  /** Annealed Langevin: the ladder, ESS and acceptance per level (the particles themselves are in `chains`). */
  annealing?: Omit<AnnealedResult, 'particles' | 'weights' | 'lp'>;
  /** rdMC: the time grid and inner ESS per step. */
  diffusion?: Omit<RdmcResult, 'samples' | 'lp'>;
}

function rdmcReferenceSd(ref: GaussianReference | undefined): number | undefined {
  if (ref?.mean !== undefined) throw new RangeError("scoreSample: method 'rdmc' takes no reference.mean; give center (and scale) instead");
  if (ref?.sd !== undefined && typeof ref.sd !== 'number') throw new RangeError("scoreSample: method 'rdmc' takes one number as reference.sd (in standardised units)");
  return ref?.sd;
}

function stat(lp: number, accept: number, stepsize: number, nGrad: number): DrawStats {
  return { lp, accept_stat: accept, stepsize, treedepth: 0, n_leapfrog: nGrad, divergent: 0, energy: -lp };
}

/**
 * Draws from the posterior of a bound model with a score-based sampler on the unconstrained
 * space and returns them in the MCMC result format (summary, CmdStan CSV, plots).
 *
 * - 'langevin': unadjusted Langevin (biased by O(stepSize); no Metropolis test).
 * - 'mala': Metropolis-adjusted Langevin, exact; step size adapted in warm-up.
 * - 'annealed-langevin': MALA moves along π₀^(1−β) π^β from a Gaussian reference with
 *   importance weights and resampling (Feynman–Kac), resampled to equal weights at the
 *   end; `logZ` estimates the log evidence.
 * - 'rdmc': reverse diffusion Monte Carlo with importance-weighted score estimates.
 *
 * @example
 * const fit = scoreSample(model.bind(data), { method: 'annealed-langevin', chains: 4, draws: 500, seed: 1 });
 * fit.formatSummary(); fit.logZ;
 */
export function scoreSample(bound: BoundModel, opts: ScoreSampleOptions, potential?: ExternalPotential): ScoreResult {
  const W = 'scoreSample';
  if (!opts || typeof opts !== 'object') throw new RangeError(`${W}: options with a method are required (${SCORE_METHODS.join(', ')})`);
  const method = opts.method;
  if (!SCORE_METHODS.includes(method)) throw new RangeError(`${W}: unknown method '${String(method)}'; methods: ${SCORE_METHODS.join(', ')}`);
  const particle = method === 'annealed-langevin' || method === 'rdmc';
  const chains = checkInt(W, 'chains', opts.chains ?? 4, 1);
  const warmup = checkInt(W, 'warmup', opts.warmup ?? (particle ? 0 : 1000), 0);
  const draws = checkInt(W, 'draws', opts.draws ?? 1000, 1);
  const thin = checkInt(W, 'thin', opts.thin ?? 1, 1);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${W}: seed must be a safe integer, got ${String(seed)}`);
  if (opts.stepSize !== undefined) checkPositive(W, 'stepSize', opts.stepSize);
  if (particle && warmup !== 0) throw new RangeError(`${W}: method '${method}' has no warm-up; leave warmup unset or 0`);
  if (bound.dim === 0) throw new RangeError(`${W}: the model has no continuous parameters to sample`);

  const t0 = performance.now();
  // `potential` (internal): the model's potential computed elsewhere (scoreSampleDeviceGradients' worker).
  const pot = potential ?? bound.potentialFunction();
  const target: GradientTarget = {
    dim: bound.dim,
    logDensityGrad(u, grad) {
      const v = pot.valueAndGrad(u, grad);
      for (let i = 0; i < grad.length; i++) grad[i] = -grad[i];
      return -v;
    },
  };
  // A potential that evaluates several points together (the device's, through the worker's
  // channel) takes each sweep of the chains, or of the annealed cloud, as one request.
  if (pot.valuesAndGrads) {
    const many = pot.valuesAndGrads.bind(pot);
    target.logDensityGrads = (us, grads) => {
      const v = many(us, grads);
      for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = -g[i];
      return v.map((x) => -x);
    };
  }
  const constrained = bound.constrainedFunction();
  const key = Key.seed(seed).fold(0x73636f72); // 'scor': a stream apart from other families
  const delta = opts.targetAccept ?? MALA_TARGET_ACCEPT;

  let chainsOut: McmcChain[];
  let logZ = NaN;
  let annealing: ScoreResult['annealing'];
  let diffusion: ScoreResult['diffusion'];
  if (!particle) {
    const run = langevinChains(target, {
      method: method === 'mala' ? 'mala' : 'ula', chains, warmup, draws, thin, stepSize: opts.stepSize, targetAccept: opts.targetAccept,
      precondition: opts.precondition, init: opts.init, initRadius: opts.initRadius, key,
      onIteration: opts.onProgress ? (phase, step, of, accept) => opts.onProgress!({ method: method as 'langevin' | 'mala', phase, step, of, accept }) : undefined,
    });
    chainsOut = run.chains.map((c) => ({
      unconstrained: c.draws,
      values: c.draws.map((u) => constrained.evaluate(u)),
      stats: Array.from(c.lp, (lp, k) => stat(lp, c.accept[k], run.stepSize, thin)),
      stepsize: run.stepSize,
      invMetric: run.invMetric.slice(),
      metric: 'diag' as const,
      init: c.init,
      timeWarmupMs: run.timeWarmupMs / chains,
      timeSamplingMs: run.timeSamplingMs / chains,
    }));
  } else {
    const total = chains * draws;
    let us: Float64Array[];
    let lps: Float64Array;
    let perDraw: number;
    // The chains' nominal step size (the CmdStan CSV header needs a positive one): annealed,
    // the last level's MALA step relative to the cloud's sd; rdMC, the reverse time step.
    let step = 1;
    const tr0 = performance.now();
    if (method === 'annealed-langevin') {
      const r = annealedLangevin(gaussianPath(target, opts.reference ?? {}), {
        particles: total, essThreshold: opts.essThreshold, betas: opts.betas, moveSteps: opts.moveSteps, stepSize: opts.stepSize, key,
        onLevel: opts.onProgress ? (step, beta, ess, particles) => opts.onProgress!({ method: 'annealed-langevin', step, beta, ess, particles }) : undefined,
      });
      const idx = resampleEqual(r.weights, total, key.fold(0xfffffff0).rng());
      us = Array.from(idx, (i) => r.particles[i].slice());
      lps = Float64Array.from(idx, (i) => r.lp[i]);
      logZ = r.logZ;
      const { particles: _p, weights: _w, lp: _l, ...rest } = r;
      annealing = rest;
      perDraw = r.gradientEvals / total;
      const last = r.stepSizes.filter((x) => x > 0).at(-1);
      if (last !== undefined) step = last;
    } else {
      const r = rdmc(target, {
        chains: total, horizon: opts.horizon, earlyStop: opts.earlyStop, steps: opts.steps, innerSamples: opts.innerSamples,
        innerSteps: opts.innerSteps, timeGrid: opts.timeGrid, bridge: opts.bridge, poolSamples: opts.poolSamples, referenceSd: rdmcReferenceSd(opts.reference), center: opts.center, scale: opts.scale, key,
        onStep: opts.onProgress ? (step, of, innerEss) => opts.onProgress!({ method: 'rdmc', step, of, innerEss }) : undefined,
      });
      us = r.samples;
      lps = r.lp;
      const { samples: _s, lp: _l, ...rest } = r;
      diffusion = rest;
      perDraw = r.evals / total;
      step = (r.times[0] - r.times[r.times.length - 1]) / (r.times.length - 1);
    }
    const ms = performance.now() - tr0;
    chainsOut = Array.from({ length: chains }, (_, c) => {
      const u = us.slice(c * draws, (c + 1) * draws);
      return {
        unconstrained: u,
        values: u.map((x) => constrained.evaluate(x)),
        stats: Array.from(lps.subarray(c * draws, (c + 1) * draws), (lp) => stat(lp, 1, step, perDraw)),
        stepsize: step,
        invMetric: new Float64Array(bound.dim).fill(1),
        metric: 'diag' as const,
        init: u[0].slice(),
        timeWarmupMs: 0,
        timeSamplingMs: ms / chains,
      };
    });
  }
  // Tree-depth warnings are counted for 'nuts' only; maxTreeDepth is 1 because the CmdStan CSV
  // header needs a positive one (every draw reports tree depth 0).
  const settings = {
    chains, warmup, draws, thin, seed, algorithm: method, delta, maxTreeDepth: 1, metric: 'diag' as const,
  };
  const res = new ScoreResult(
    bound.ir.name, constrained.names, bound.params.map((p) => ({ name: p.name, shape: p.shape.slice() })),
    chainsOut, settings, pot.traced, (performance.now() - t0) / 1000, [], opts.init !== undefined ? 'given' : (opts.initRadius ?? 2),
  );
  res.method = method;
  res.logZ = logZ;
  res.annealing = annealing;
  res.diffusion = diffusion;
  return res;
}
