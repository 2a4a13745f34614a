/**
 * The machinery `vi` and `viChunked` share: option checks, the guide's construction, the
 * gradient-ascent loop (Adam, convergence windows, Polyak–Ruppert averaging) driven one step
 * at a time on whatever guide view and potential the caller hands it, and the result object.
 */
import type { BoundModel } from '../../model/bound-model';
import { Key } from '../../tensor/random';
import { drawNoise, elboWithNoise, iwaeWithNoise, makeGuide, renyiWithNoise, type Guide, type GuideKind, type Potential } from './guides';
import { psis, type PsisResult } from './psis';
import { AmortizedGuide, amortizedLayout } from './amortized';
import { CouplingFlowGuide } from './coupling';
import { programWithNoise } from './objective';
import { Adam, decaySchedule } from './optim';
import { summarize, type SummaryRow } from '../mcmc/summary';
import type { ViOptions, ViResult } from './index';

export type Estimator = (g: Guide, p: Potential, e: readonly ArrayLike<number>[], gr?: Float64Array) => number;

/** The checked run settings of `opts`. */
export interface RunConfig {
  kind: GuideKind;
  S: number;
  estimate: Estimator;
  steps: number;
  seed: number;
  tol: number;
  window: number;
  average: number;
  maxRejects: number;
}

/** Checks the run options (throws a RangeError naming the option). */
export function runConfig(opts: ViOptions): RunConfig {
  const kind = opts.guide ?? 'meanfield';
  const S = opts.samples ?? 1;
  const objective = opts.objective ?? 'elbo';
  if (typeof objective !== 'function' && objective !== 'elbo' && objective !== 'iwae' && objective !== 'renyi') {
    throw new RangeError(`vi: unknown objective '${String(objective)}'; expected 'elbo', 'iwae' or 'renyi'`);
  }
  const alpha = opts.alpha ?? 0.5;
  if (objective === 'renyi' && !(Number.isFinite(alpha) && alpha !== 1)) throw new RangeError(`vi: alpha must be a finite number other than 1 (the ELBO), got ${alpha}`);
  const estimate: Estimator =
    typeof objective === 'function'
      ? (g, p, e, gr) => programWithNoise(g, p, e, objective, gr)
      : objective === 'elbo'
        ? elboWithNoise
        : objective === 'iwae'
          ? iwaeWithNoise
          : (g, p, e, gr) => renyiWithNoise(g, p, e, alpha, gr);
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
  return { kind, S, estimate, steps, seed, tol, window, average, maxRejects };
}

/** The guide `opts` asks for over the bound model's u (the amortised guide reads its rows). */
export function makeViGuide(bound: BoundModel, opts: ViOptions, kind: GuideKind): Guide {
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
  return kind === 'amortized'
    ? new AmortizedGuide(amortizedLayout(bound, opts.amortized?.local), { hidden: opts.hidden, global: opts.amortized?.global, conditional: opts.amortized?.conditional }, init, opts.initSd ?? 1)
    : makeGuide(kind, d, init, opts.initSd ?? 1, opts.rank, opts.layers, { hidden: opts.hidden, masks: opts.masks });
}

/**
 * Stochastic gradient ascent on the guide's parameters, one step per `step` call with the
 * guide (or a minibatch view sharing its params) and potential of that step.
 */
export class Trainer {
  readonly raw: Float64Array;
  private readonly grad: Float64Array;
  private readonly adam: Adam;
  private readonly rng;
  private readonly windowSums: Float64Array[] = [];
  private cur: Float64Array;
  private inWindow = 0;
  private prevWindowMean = NaN;
  private winSum = 0;
  private winCount = 0;
  converged = false;
  rejected = 0;
  private consecutive = 0;
  /** Steps taken. */
  t = 0;

  constructor(readonly guide: Guide, private readonly opts: ViOptions, private readonly cfg: RunConfig) {
    const P = guide.params.length;
    const lr = opts.lr === undefined ? decaySchedule(0.05) : typeof opts.lr === 'number' ? decaySchedule(opts.lr) : opts.lr;
    this.adam = new Adam(P, { lr, scale: guide instanceof CouplingFlowGuide ? guide.stepScale() : undefined });
    this.rng = Key.seed(cfg.seed).fold(0).rng();
    this.raw = new Float64Array(cfg.steps);
    this.grad = new Float64Array(P);
    this.cur = new Float64Array(P);
  }

  /** Whether the run is over (all steps taken, or converged with stopAtConvergence). */
  get done(): boolean {
    return this.t >= this.cfg.steps || (this.converged && this.opts.stopAtConvergence !== false);
  }

  /** One gradient step on guide view `g` (sharing the guide's params) and potential `pot`. */
  step(g: Guide, pot: Potential): void {
    const { S, estimate, steps, window, tol, maxRejects } = this.cfg;
    const params = this.guide.params;
    const P = params.length;
    const grad = this.grad;
    const t = this.t;
    const eps = drawNoise(this.rng, g.noiseDim, S);
    const e = estimate(g, pot, eps, grad);
    let ok = Number.isFinite(e);
    for (let i = 0; ok && i < P; i++) ok = Number.isFinite(grad[i]);
    if (!ok) {
      this.raw[t] = NaN;
      this.rejected++;
      if (++this.consecutive > maxRejects) {
        throw new Error(`vi: ${this.consecutive} consecutive steps with a non-finite ELBO or gradient (step ${t}); try a smaller lr or other init`);
      }
    } else {
      this.consecutive = 0;
      this.raw[t] = e;
      this.winSum += e;
      this.winCount++;
      if (this.opts.maximize !== false) for (let i = 0; i < P; i++) grad[i] = -grad[i];
      this.adam.step(params, grad);
    }
    for (let i = 0; i < P; i++) this.cur[i] += params[i];
    this.opts.onStep?.(t + 1, steps, this.raw[t], this.prevWindowMean);
    this.t++;
    this.inWindow++;
    if (this.inWindow === window) {
      this.windowSums.push(this.cur);
      this.cur = new Float64Array(P);
      this.inWindow = 0;
      const m = this.winCount > 0 ? this.winSum / this.winCount : NaN;
      if (Number.isFinite(this.prevWindowMean) && Number.isFinite(m)) {
        this.converged = Math.abs(m - this.prevWindowMean) / Math.max(1, Math.abs(m)) < tol;
      }
      this.prevWindowMean = m;
      this.winSum = 0;
      this.winCount = 0;
    }
  }

  /** Sets the guide to the Polyak–Ruppert average and returns the trace. */
  finish(): { elboRaw: Float64Array; elbo: Float64Array } {
    const { window, average } = this.cfg;
    const taken = this.t;
    const P = this.guide.params.length;
    if (average > 0 && this.windowSums.length > 0) {
      const nWin = Math.min(this.windowSums.length, Math.max(1, Math.round((average * taken) / window)));
      const avg = new Float64Array(P);
      for (let w = this.windowSums.length - nWin; w < this.windowSums.length; w++) for (let i = 0; i < P; i++) avg[i] += this.windowSums[w][i];
      for (let i = 0; i < P; i++) avg[i] /= nWin * window;
      this.guide.params.set(avg);
    }
    const elboRaw = this.raw.slice(0, taken);
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
    return { elboRaw, elbo };
  }
}

/** What `buildResult` reads of a finished run: a Trainer, or one rebuilt from a worker's (device.ts). */
export interface TrainedState {
  readonly guide: Guide;
  readonly converged: boolean;
  readonly t: number;
  readonly rejected: number;
  finish(): { elboRaw: Float64Array; elbo: Float64Array };
}

/**
 * The result of a finished run: `cf` maps u to the constrained values, `pf` is the full-data
 * potential for PSIS (absent for a chunked fit, whose data is not held; psis then throws),
 * `view` the result's guide as a view of the trained one (a chunked amortised fit: its view on
 * the model bound to no rows, whose u `cf` maps).
 */
export function buildResult(
  tr: TrainedState, cfg: RunConfig, cf: { names: string[]; evaluate(u: ArrayLike<number>): Float64Array }, pf: Potential | undefined, traced: boolean, t0: number,
  view?: (trained: Guide) => Guide,
): ViResult {
  const seed = cfg.seed;
  const { elboRaw, elbo } = tr.finish();
  const trained = tr.guide.clone();
  const fitted = view ? view(trained) : trained;
  const unconstrainedDraws = (n: number, drawSeed = seed): Float64Array[] => {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`draws: n must be a nonnegative integer, got ${n}`);
    const r = Key.seed(drawSeed).fold(1).rng();
    return Array.from({ length: n }, () => fitted.sample(r).u);
  };
  const draws = (n: number, drawSeed = seed): Float64Array[] => unconstrainedDraws(n, drawSeed).map((u) => cf.evaluate(u));
  const psisOf = (n = 1000, drawSeed = seed): PsisResult & { logRatios: Float64Array } => {
    if (!pf) throw new RangeError('psis: a fit from chunked data holds no full data to weigh the draws against; bind the data and call vi() for PSIS');
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
    encoder: trained instanceof AmortizedGuide ? trained : undefined,
    params: fitted.params.slice(),
    names: cf.names,
    elboRaw,
    elbo,
    converged: tr.converged,
    steps: tr.t,
    rejected: tr.rejected,
    traced,
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
