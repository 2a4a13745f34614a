/**
 * Univariate slice sampling of each unconstrained coordinate in turn (Neal 2003, "Slice
 * sampling", §4: stepping out, then shrinkage), as JAGS updates its continuous nodes:
 * `sample(bound, { algorithm: 'slice' })` on the marginal density (latents summed out),
 * and `{ algorithm: 'slice', latents: 'gibbs' }` on the complete-data density θ | z, with
 * the discrete latents drawn exactly from their conditional before every sweep.
 *
 * No gradients are used: the density is evaluated by the value-only float64 replay. Each
 * direction keeps its own interval width; during warm-up it is adapted, as JAGS does, to
 * twice a running mean of the absolute moves along that direction (later moves weighted
 * more), and frozen afterwards, so the sampling phase is a fixed, valid kernel.
 *
 * Directions: the unconstrained coordinates ('diag'), or ('dense') the columns of the
 * Cholesky factor L of the covariance of the first half of the warm-up, i.e. coordinate
 * updates of η in u = u₀ + L η. Each is a 1-D slice update along a fixed line, so every
 * direction set leaves the target invariant; the rotated one removes the linear
 * correlations that the unconstrained transforms create (an ordered vector's first
 * element against its log gaps), along which coordinate-wise updates crawl.
 */
import { Key } from '../../tensor/random';
import type { Rng } from '../../tensor/random';
import type { BoundModel } from '../../model/bound-model';
import type { TransitionKernel } from '../../testing/model-types';
import type { GibbsTarget } from './gibbs';
import type { ChainPhase, ChainResult } from './sampler';
import type { DrawStats } from './hmc';
import { choleskyLower } from './hmc';
import { WelfordCovariance, regularize } from './adapt';

/** Log density (up to a constant) of the flat unconstrained vector, value only. */
export interface SliceTarget {
  dim: number;
  logDensity(u: Float64Array): number;
}

/**
 * An exact draw of some unconstrained coordinates from their conditional given the rest
 * (a conjugate block given the latents: src/infer/mcmc/conjugate-gibbs.ts). The slice
 * kernel calls it after `beforeTransition` and leaves `coords` out of its directions.
 */
export interface ExactUpdate {
  /** The unconstrained coordinates `draw` sets (distinct, in 0..dim-1). */
  readonly coords: readonly number[];
  /**
   * Overwrites q[coords] with a draw from their exact conditional given the rest of q (or,
   * for a label-exchangeable mixture, a move that also relabels other coordinates and the
   * latents consistently; every such move leaves the target invariant).
   */
  draw(q: Float64Array, rng: Rng): void;
  /**
   * True when `draw` also redraws every discrete latent itself (a collapsed draw, before the
   * coordinates that depend on it): the caller may then skip its own latent draw.
   */
  readonly drawsLatents?: boolean;
}

/** TEST ONLY: deliberately wrong slice kernels, so tests can show that their checks catch one. */
export type SliceTestBias =
  /** Take the first point drawn from the stepped-out interval whatever its density (no shrinkage). */
  | 'no-shrink'
  /** Never call `beforeTransition` after the first sweep (the latents stay at their initial draw). */
  | 'skip-latents';

/** Options of {@link runSliceChain}. */
export interface SliceChainOptions {
  /** Initial unconstrained position (length target.dim; the log density must be finite there). */
  init: ArrayLike<number>;
  /** Warm-up iterations (width adaptation; default 1000). */
  warmup?: number;
  /** Sampling iterations, i.e. draws returned (default 1000). */
  draws?: number;
  /** Integer seed of the chain's random stream (give this or `key`). */
  seed?: number;
  /** Key of the chain's random stream (takes precedence over `seed`). */
  key?: Key;
  /** Initial interval width of every coordinate (default 1); the sampling width when warm-up is 0. */
  stepsize?: number;
  /**
   * Update directions: 'diag' (default) the unconstrained coordinates; 'dense' the columns
   * of the Cholesky factor of the covariance of warm-up iterations [W/4, W/2), from
   * iteration W/2 on (needs warm-up W >= 200; coordinates otherwise).
   */
  metric?: 'diag' | 'dense';
  /** Stepping-out limit m of Neal (2003): at most m widths per interval (default 10). */
  maxSteppingOut?: number;
  /**
   * Called before every sweep with the current position (read-only) and the chain's
   * random stream: the exact Gibbs draw of the discrete latents the density depends on.
   */
  beforeTransition?: (q: Float64Array, rng: Rng, phase: ChainPhase) => void;
  /**
   * Called after `beforeTransition` in every sweep: an exact draw of `exactUpdate.coords`,
   * which the slice updates then leave alone (the directions, 'dense' ones included, span
   * the other coordinates only). In the result these coordinates have width 0 ('diag') or
   * zero rows and columns in the covariance ('dense').
   */
  exactUpdate?: ExactUpdate;
  /** Progress callback after every iteration (1..warmup+draws); divergences are always 0. */
  onIteration?: (iteration: number, phase: ChainPhase, divergences: number) => void;
  /** TEST ONLY: a deliberately wrong kernel (see {@link SliceTestBias}). Never set this for inference. */
  _sliceBias?: SliceTestBias;
}

/** Iteration from which the warm-up starts replacing the initial widths by adapted ones. */
const ADAPT_START = 50;

function checkInt(name: string, v: number, min: number, where = 'runSliceChain'): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Runs one chain of slice sampling along fixed directions (the coordinates, or with
 * `metric: 'dense'` warm-up-adapted ones): `warmup` iterations that adapt each direction's
 * width, then `draws` iterations with widths and directions fixed. One iteration is
 * `beforeTransition` (if given), then `exactUpdate.draw` (if given), then one slice update
 * along every direction in order (the directions span the coordinates not drawn exactly).
 * The result has the layout of `runChain`'s: `stepsize` is the mean final width (1 when every
 * coordinate is drawn exactly) and
 * `invMetric` the per-coordinate widths ('diag') or the warm-up covariance whose Cholesky
 * factor gives the directions ('dense'); each draw's `n_leapfrog` counts density
 * evaluations, `accept_stat` is 1. Deterministic given the seed/key; RangeError for
 * invalid options or a non-finite initial density.
 *
 * @example
 * const target = { dim: 1, logDensity: (u: Float64Array) => -0.5 * u[0] * u[0] };
 * const { draws } = runSliceChain(target, { init: [0], seed: 1 });
 */
export function runSliceChain(target: SliceTarget, options: SliceChainOptions): ChainResult {
  const dim = target.dim;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`runSliceChain: target.dim must be a positive integer, got ${dim}`);
  const { warmup = 1000, draws = 1000, stepsize: width0 = 1, maxSteppingOut = 10, metric = 'diag', onIteration, beforeTransition } = options;
  if (metric !== 'diag' && metric !== 'dense') throw new RangeError(`runSliceChain: metric must be 'diag' or 'dense', got ${String(metric)}`);
  checkInt('warmup', warmup, 0);
  checkInt('draws', draws, 0);
  checkInt('maxSteppingOut', maxSteppingOut, 1);
  if (!(width0 > 0) || width0 === Infinity) throw new RangeError(`runSliceChain: stepsize (the initial width) must be positive and finite, got ${width0}`);
  const bias = options._sliceBias;
  if (bias !== undefined && bias !== 'no-shrink' && bias !== 'skip-latents') {
    throw new RangeError(`runSliceChain: _sliceBias must be 'no-shrink' or 'skip-latents', got ${String(bias)}`);
  }
  let key = options.key;
  if (key === undefined) {
    if (options.seed === undefined) throw new RangeError('runSliceChain: give a seed or a key');
    key = Key.seed(options.seed);
  }
  const rng = key.rng();
  if (options.init === undefined || options.init.length !== dim) {
    throw new RangeError(`runSliceChain: init must have length target.dim = ${dim}, got ${options.init?.length}`);
  }
  const q = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    const v = options.init[i];
    if (!Number.isFinite(v)) throw new RangeError(`runSliceChain: init[${i}] is ${v}, not a finite number`);
    q[i] = v;
  }

  // The coordinates the slice updates move: all but those drawn exactly.
  const exact = options.exactUpdate;
  const isExact = new Uint8Array(dim);
  if (exact) {
    for (const i of exact.coords) {
      if (!Number.isInteger(i) || i < 0 || i >= dim || isExact[i]) throw new RangeError(`runSliceChain: exactUpdate.coords must be distinct integers in 0..${dim - 1}, got ${i}`);
      isExact[i] = 1;
    }
  }
  const free = Int32Array.from({ length: dim }, (_, i) => i).filter((i) => !isExact[i]);
  const m = free.length;
  const sub = new Float64Array(m);
  const widths = new Float64Array(m).fill(width0);
  // Warm-up statistics: Σ t·|move_j| and Σ t over the adaptation iterations t = 1, 2, ...
  const sumMove = new Float64Array(m);
  let sumWeight = 0;
  let adaptIt = 0;
  // Rotated directions (metric 'dense') over the free coordinates: column j of L is
  // D[i * m + j], moving coordinate free[i]; null: coordinates.
  let D: Float64Array | null = null;
  let cov: Float64Array | null = null;
  const rotate = metric === 'dense' && warmup >= 200 && m > 0;
  const covFrom = Math.floor(warmup / 4);
  const covTo = Math.floor(warmup / 2);
  const welford = rotate ? new WelfordCovariance(m) : null;
  const base = new Float64Array(dim);
  let evals = 0;
  // The density at base + t·direction j; NaN (outside the support in floating point) is zero density.
  const f = (j: number, t: number): number => {
    evals++;
    if (D) for (let i = 0; i < m; i++) q[free[i]] = base[free[i]] + t * D[i * m + j];
    else q[free[j]] = base[free[j]] + t;
    const v = target.logDensity(q);
    return v === v ? v : -Infinity;
  };

  let lp = 0;
  let iteration = 0;
  const sweep = (phase: ChainPhase): DrawStats => {
    evals = 0;
    if (beforeTransition && !(bias === 'skip-latents' && iteration > 0)) beforeTransition(q, rng, phase);
    exact?.draw(q, rng);
    iteration++;
    evals++;
    lp = target.logDensity(q);
    if (!(lp > -Infinity)) throw new RangeError('runSliceChain: the log density is not finite at the current point (at the initial point, or after the latents were drawn)');
    const adapting = phase === 'warmup';
    if (adapting) adaptIt++;
    for (let j = 0; j < m; j++) {
      base.set(q);
      const w = widths[j];
      // The slice {t : log f(t) > logY}, logY = log f(0) - Exp(1), on the line through the current point.
      const logY = lp - rng.exponential();
      let left = -w * rng.uniform();
      let right = left + w;
      let a = Math.floor(maxSteppingOut * rng.uniform());
      let b = maxSteppingOut - 1 - a;
      for (; a > 0; a--) {
        if (!(f(j, left) > logY)) break;
        left -= w;
      }
      for (; b > 0; b--) {
        if (!(f(j, right) > logY)) break;
        right += w;
      }
      // Shrinkage: draw t uniformly on (left, right); a point outside the slice becomes the
      // new end on its side of 0. t = 0 is in the slice, so this terminates.
      let t = 0;
      for (;;) {
        const t1 = left + rng.uniform() * (right - left);
        const v = f(j, t1);
        if (v > logY || bias === 'no-shrink') {
          lp = v;
          t = t1;
          break;
        }
        if (t1 < 0) left = t1;
        else right = t1;
        if (right - left < 1e-12 * w) {
          // Interval collapsed onto the current point (density underflow next to it): stay.
          lp = f(j, 0);
          break;
        }
      }
      if (adapting) sumMove[j] += adaptIt * Math.abs(t);
    }
    if (adapting) {
      sumWeight += adaptIt;
      if (adaptIt >= ADAPT_START) {
        for (let j = 0; j < m; j++) {
          const w = (2 * sumMove[j]) / sumWeight;
          if (w > 0 && Number.isFinite(w)) widths[j] = w;
        }
      }
      if (welford && iteration > covFrom && iteration <= covTo) {
        for (let i = 0; i < m; i++) sub[i] = q[free[i]];
        welford.add(sub);
      }
      if (welford && iteration === covTo) {
        // Switch to the rotated directions; widths restart (in whitened units) and adapt anew.
        cov = new Float64Array(m * m);
        welford.covariance(cov);
        for (let i = 0; i < m; i++) for (let k = 0; k < m; k++) cov[i * m + k] = regularize(cov[i * m + k], welford.count, i === k ? 1 : 0);
        D = choleskyLower(cov, m, 'warm-up covariance');
        widths.fill(1);
        sumMove.fill(0);
        sumWeight = 0;
        adaptIt = 0;
      }
    }
    // With no sliced direction (every coordinate drawn exactly by conjugate blocks) there is no
    // width: 1 stands in, so the stepsize__ column stays positive as CmdStan readers expect.
    const meanWidth = m ? widths.reduce((x, y) => x + y, 0) / m : 1;
    return { lp, accept_stat: 1, stepsize: meanWidth, treedepth: 0, n_leapfrog: evals, divergent: 0, energy: -lp };
  };

  // Back to the full coordinates: exactly drawn ones get width 0 / zero rows and columns.
  const embed = (a: Float64Array, dense: boolean): Float64Array => {
    if (m === dim) return a.slice();
    if (!dense) {
      const o = new Float64Array(dim);
      for (let i = 0; i < m; i++) o[free[i]] = a[i];
      return o;
    }
    const o = new Float64Array(dim * dim);
    for (let i = 0; i < m; i++) for (let k = 0; k < m; k++) o[free[i] * dim + free[k]] = a[i * m + k];
    return o;
  };

  const t0 = performance.now();
  const warmupStats: DrawStats[] = [];
  for (let it = 0; it < warmup; it++) {
    warmupStats.push(sweep('warmup'));
    onIteration?.(it + 1, 'warmup', 0);
  }
  const t1 = performance.now();
  const drawsOut: Float64Array[] = [];
  const stats: DrawStats[] = [];
  for (let it = 0; it < draws; it++) {
    stats.push(sweep('sampling'));
    drawsOut.push(q.slice());
    onIteration?.(warmup + it + 1, 'sampling', 0);
  }
  const t2 = performance.now();
  return {
    draws: drawsOut,
    stats,
    warmupStats,
    stepsize: m ? widths.reduce((a, b) => a + b, 0) / m : 1,
    invMetric: cov ? embed(cov, true) : embed(widths, false),
    metric: cov ? 'dense' : 'diag',
    timeWarmupMs: t1 - t0,
    timeSamplingMs: t2 - t1,
  };
}

/**
 * The value-only log densities the slice kernel targets, one per chain: with `gibbs`
 * null, the marginal density (latents summed out; the traced potential, or the tensor
 * evaluator with `tensorPath`); otherwise the complete-data density of θ given each
 * chain's current latents `gibbs[c].z` (GibbsTarget.logDensity: the targets' one traced
 * replay of `bound.expectedPotentialTensor`, at one-hot weights).
 */
export function sliceDensities(bound: BoundModel, gibbs: readonly GibbsTarget[] | null, chains: number, tensorPath = false): { traced: boolean; logDensity: ((u: Float64Array) => number)[] } {
  if (!gibbs) {
    if (tensorPath) return { traced: false, logDensity: Array.from({ length: chains }, () => (u: Float64Array) => -bound.potential(u)) };
    const pot = bound.potentialFunction();
    return { traced: pot.traced, logDensity: Array.from({ length: chains }, () => (u: Float64Array) => -pot.value(u)) };
  }
  if (gibbs.length !== chains) throw new RangeError(`sliceDensities: ${gibbs.length} Gibbs targets for ${chains} chains`);
  // Each chain's GibbsTarget already holds the traced complete-data potential (shared by its forks).
  return { traced: true, logDensity: gibbs.map((g) => (u: Float64Array) => g.logDensity(u)) };
}

/** Options of {@link sliceTransitionKernel}. */
export interface SliceTransitionKernelOptions {
  /** Fixed interval width of every coordinate, or one per unconstrained coordinate. */
  width: number | ArrayLike<number>;
  /** Stepping-out limit m (default 10). */
  maxSteppingOut?: number;
  /** TEST ONLY: a deliberately wrong kernel (see {@link SliceTestBias}). */
  _sliceBias?: SliceTestBias;
}

/** The state a {@link sliceTransitionKernel} keeps between `step` calls. */
export interface SliceKernelState {
  readonly bound: BoundModel;
  readonly u: Float64Array;
  /** Statistics of the last sweep (undefined right after `init`). */
  stats?: DrawStats;
}

/**
 * Returns a `TransitionKernel` (see `mixppl/testing`) doing one sweep of coordinate-wise
 * slice updates on the marginal density (latents summed out) with FIXED widths, for
 * Geweke's joint-distribution test: no adaptation, so it is a Markov kernel that leaves
 * p(θ | y) invariant. `step`'s seed is the sweep's only randomness.
 *
 * @example
 * const result = geweke(model, sliceTransitionKernel({ width: 1 }), { data: { N: 4 } });
 */
export function sliceTransitionKernel(opts: SliceTransitionKernelOptions): TransitionKernel {
  const { maxSteppingOut = 10, _sliceBias: bias } = opts;
  const widthOf = (dim: number): number[] => {
    const w = typeof opts.width === 'number' ? new Array<number>(dim).fill(opts.width) : Array.from(opts.width);
    if (w.length !== dim) throw new RangeError(`sliceTransitionKernel: width has ${w.length} entries, the model has ${dim} unconstrained dimensions`);
    w.forEach((x, i) => {
      if (!(x > 0) || x === Infinity) throw new RangeError(`sliceTransitionKernel: width[${i}] must be positive and finite, got ${x}`);
    });
    return w;
  };
  if (typeof opts.width === 'number') widthOf(1);
  checkInt('maxSteppingOut', maxSteppingOut, 1, 'sliceTransitionKernel');
  return {
    init(bound: BoundModel, u: Float64Array): SliceKernelState {
      if (u.length !== bound.dim) throw new RangeError(`sliceTransitionKernel: u has length ${u.length}, the model has ${bound.dim} unconstrained dimensions`);
      widthOf(bound.dim);
      return { bound, u: Float64Array.from(u) };
    },
    step(bound: BoundModel, state: unknown, seed: number): { state: SliceKernelState; u: Float64Array } {
      const s = state as SliceKernelState;
      if (!s || !(s.u instanceof Float64Array)) throw new RangeError('sliceTransitionKernel: step needs the state returned by init or step');
      const pot = bound.potentialFunction();
      const widths = widthOf(bound.dim);
      // One sweep per coordinate block of equal width keeps runSliceChain's code path: run
      // it with per-coordinate widths by scaling the coordinates (u = D η, D = diag(width)).
      const scaled: SliceTarget = {
        dim: bound.dim,
        logDensity: (eta) => {
          const x = new Float64Array(eta.length);
          for (let i = 0; i < eta.length; i++) x[i] = eta[i] * widths[i];
          return -pot.value(x);
        },
      };
      const r = runSliceChain(scaled, {
        init: Array.from(s.u, (x, i) => x / widths[i]), seed, warmup: 0, draws: 1, stepsize: 1, maxSteppingOut, _sliceBias: bias,
      });
      const u = Float64Array.from(r.draws[0], (x, i) => x * widths[i]);
      return { state: { bound, u, stats: r.stats[0] }, u: u.slice() };
    },
  };
}
