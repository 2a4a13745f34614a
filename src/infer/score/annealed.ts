/**
 * Annealed Langevin with a Feynman–Kac (sequential Monte Carlo) correction: particles move
 * along the geometric path
 *   π_β(u) ∝ π₀(u)^(1−β) π(u)^β,   0 = β₀ < β₁ < … < β_T = 1,
 * from a reference π₀ that can be sampled exactly (a broad Gaussian, or a model's prior) to
 * the target π. Plain annealed Langevin only moves the particles; it targets π only if the
 * moves mix, which they do not between separated modes. The Feynman–Kac correction (Del Moral,
 * Doucet & Jasra 2006; for Langevin ladders, the "Feynman–Kac correctors" idea) carries an
 * importance weight w_i ∝ Π_t π_{β_t}(u_i)/π_{β_{t−1}}(u_i) = Π_t exp((β_t − β_{t−1}) h(u_i)),
 * h = log π − log π₀, so the weighted cloud targets π_β at every level whatever the moves do,
 * and the product of the mean incremental weights is an unbiased estimate of Z_π/Z_π₀, the
 * log evidence when π is an unnormalised posterior and π₀ a normalised density.
 *
 * Each level: choose β' by bisection so that the conditional ESS of the incremental weights
 * equals `essThreshold` · particles (Zhou, Johansen & Aston 2016), or take the next rung of a
 * fixed `betas` ladder; reweight; resample (src/infer/smc/resample.ts) when the ESS falls below
 * `resampleThreshold` · particles; then `moveSteps` MALA steps invariant for π_β', with a
 * diagonal preconditioner from the cloud's weighted variance and a step size scaled across
 * levels towards the MALA acceptance rate 0.574. The cloud moves together: each MALA step
 * proposes for every particle (each from its own stream, keyed by level and particle) and
 * evaluates the target at all proposals as one batch (`logTargets`, where the path has it:
 * a device evaluates the cloud in one pass instead of one point at a time).
 */
import type { Rng } from '../../tensor/random';
import type { GradientTarget } from '../mcmc/hmc';
import { effectiveSize, resample, weightsFromLog, type ResampleScheme } from '../smc/resample';
import { logSumExp, nextIncrement } from '../smc/tempering';
import { checkInt, checkPositive, checkTarget, keyOf, langevinAccept, langevinPropose, logDensityGradsAt, MALA_TARGET_ACCEPT } from './langevin';
import type { Key } from '../../tensor/random';

/**
 * A path of densities from an exactly sampled reference π₀ to the target π: the annealing
 * sampler only needs draws from π₀ and both log densities with gradients.
 */
export interface AnnealingPath {
  readonly dim: number;
  /** Writes an exact draw from the reference π₀ into `out`. */
  sampleReference(rng: Rng, out: Float64Array): void;
  /** log π₀(u) (normalised, if log Z is to be the target's log normaliser) with its gradient. */
  logReference(u: Float64Array, grad: Float64Array): number;
  /** log π(u) up to a constant, with its gradient. */
  logTarget(u: Float64Array, grad: Float64Array): number;
  /** Optional: log π at several points as one evaluation (as GradientTarget.logDensityGrads). */
  logTargets?(us: readonly Float64Array[], grads: readonly Float64Array[]): Float64Array;
}

/** A Gaussian reference N(mean, diag(sd²)): per-coordinate arrays or one number for all. */
export interface GaussianReference {
  /** Mean (default 0). */
  mean?: number | ArrayLike<number>;
  /** Standard deviation (default 3). */
  sd?: number | ArrayLike<number>;
}

/** Default standard deviation of the Gaussian reference, on the unconstrained scale. */
export const DEFAULT_REFERENCE_SD = 3;

/** Returns the reference's mean and sd as arrays of length `dim` (checked). */
export function referenceMoments(where: string, ref: GaussianReference, dim: number): { mean: Float64Array; sd: Float64Array } {
  const expand = (name: string, v: number | ArrayLike<number>, positive: boolean) => {
    const out = new Float64Array(dim);
    if (typeof v === 'number') out.fill(v);
    else {
      if (v.length !== dim) throw new RangeError(`${where}: reference.${name} must be a number or have length dim = ${dim}, got length ${v.length}`);
      out.set(Array.from(v));
    }
    for (let i = 0; i < dim; i++) {
      if (positive) checkPositive(where, `reference.${name}[${i}]`, out[i]);
      else if (!Number.isFinite(out[i])) throw new RangeError(`${where}: reference.${name}[${i}] must be finite, got ${out[i]}`);
    }
    return out;
  };
  return { mean: expand('mean', ref.mean ?? 0, false), sd: expand('sd', ref.sd ?? DEFAULT_REFERENCE_SD, true) };
}

/** Returns the path from the normalised Gaussian reference N(mean, diag(sd²)) to `target`. */
export function gaussianPath(target: GradientTarget, reference: GaussianReference = {}): AnnealingPath {
  const dim = checkTarget('gaussianPath', target);
  const { mean, sd } = referenceMoments('gaussianPath', reference, dim);
  let logNorm = 0;
  for (let i = 0; i < dim; i++) logNorm -= 0.5 * Math.log(2 * Math.PI) + Math.log(sd[i]);
  return {
    dim,
    sampleReference(rng, out) {
      for (let i = 0; i < dim; i++) out[i] = mean[i] + sd[i] * rng.normal();
    },
    logReference(u, grad) {
      let s = logNorm;
      for (let i = 0; i < dim; i++) {
        const z = (u[i] - mean[i]) / sd[i];
        s -= 0.5 * z * z;
        grad[i] = -z / sd[i];
      }
      return s;
    },
    logTarget: (u, grad) => target.logDensityGrad(u, grad),
    ...(target.logDensityGrads ? { logTargets: (us: readonly Float64Array[], grads: readonly Float64Array[]) => target.logDensityGrads!(us, grads) } : {}),
  };
}

/** Offset of the particles' move streams under a level's key (away from small integers). */
const MOVE_STREAMS = 0x6d_61_6c_61; // 'mala'

/** Options of {@link annealedLangevin}. */
export interface AnnealedOptions {
  /** Number of particles (default 1000). */
  particles?: number;
  /** Adaptive ladder: the conditional ESS of each level's incremental weights, as a fraction of the particles (default 0.5). */
  essThreshold?: number;
  /** A fixed ladder instead: increasing, from 0 (excluded or included) to 1 (included). */
  betas?: readonly number[];
  /** Resample when the ESS falls below this fraction of the particles (default 0.5). */
  resampleThreshold?: number;
  /** Resampling scheme (default 'systematic'). */
  resampling?: ResampleScheme;
  /** MALA steps per particle per level (default 5). */
  moveSteps?: number;
  /** Initial MALA step size, relative to the cloud's sd (default 0.5 · dim^(−1/3)). */
  stepSize?: number;
  /** Most levels of the adaptive ladder (default 500). */
  maxLevels?: number;
  /** Seed (default 1); ignored when `key` is given. */
  seed?: number;
  key?: Key;
  /**
   * TEST ONLY: 'no-weights' drops the Feynman–Kac weights (plain annealed Langevin with
   * resampling switched off), so a test can show the correction matters.
   */
  _testBias?: 'no-weights';
  /** Called after each level with the level, its β, the ESS after reweighting and the number of particles. */
  onLevel?: (level: number, beta: number, ess: number, particles: number) => void;
}

/** The output of {@link annealedLangevin}: a weighted cloud that targets π, and log Ẑ. */
export interface AnnealedResult {
  /** Particles at β = 1 (each of length dim). */
  particles: Float64Array[];
  /** Their normalised weights. */
  weights: Float64Array;
  /** log π at each particle. */
  lp: Float64Array;
  /** log Ẑ = Σ_t log Σ_i W_i exp((β_t − β_{t−1}) h(u_i)): estimates log(Z_π / Z_π₀). */
  logZ: number;
  /** The ladder, β₀ = 0, …, 1. */
  betas: number[];
  /** ESS after each level's reweighting (index 0: the reference draws). */
  ess: number[];
  /** Whether each level resampled (index 0: false). */
  resampled: boolean[];
  /** Mean MALA acceptance at each level (index 0: NaN). */
  acceptance: number[];
  /** Step size (relative to the cloud's sd) at each level (index 0: NaN). */
  stepSizes: number[];
  /** Target-density evaluations (with gradient) made. */
  gradientEvals: number;
}

/**
 * Runs annealed Langevin with the Feynman–Kac correction along `path` and returns the
 * weighted particles at β = 1 and the log normaliser estimate (see the module comment).
 *
 * @example
 * const r = annealedLangevin(gaussianPath(target, { sd: 5 }), { particles: 2000, seed: 1 });
 * r.logZ; // log ∫ π(u) du, π as given by target.logDensityGrad
 */
export function annealedLangevin(path: AnnealingPath, opts: AnnealedOptions = {}): AnnealedResult {
  const W = 'annealedLangevin';
  if (!path || typeof path.logTarget !== 'function' || typeof path.logReference !== 'function' || typeof path.sampleReference !== 'function') {
    throw new RangeError(`${W}: path must have sampleReference, logReference and logTarget`);
  }
  const d = checkInt(W, 'path.dim', path.dim, 1);
  const P = checkInt(W, 'particles', opts.particles ?? 1000, 2);
  const thr = opts.essThreshold ?? 0.5;
  if (!(thr > 0 && thr < 1)) throw new RangeError(`${W}: essThreshold must be in (0, 1), got ${thr}`);
  const rthr = opts.resampleThreshold ?? 0.5;
  if (!(rthr >= 0 && rthr <= 1)) throw new RangeError(`${W}: resampleThreshold must be in [0, 1], got ${rthr}`);
  const scheme = opts.resampling ?? 'systematic';
  if (scheme !== 'systematic' && scheme !== 'multinomial' && scheme !== 'residual') throw new RangeError(`${W}: resampling must be 'systematic', 'multinomial' or 'residual', got '${String(scheme)}'`);
  const steps = checkInt(W, 'moveSteps', opts.moveSteps ?? 5, 0);
  let scale = checkPositive(W, 'stepSize', opts.stepSize ?? 0.5 * Math.pow(d, -1 / 3));
  const maxLevels = checkInt(W, 'maxLevels', opts.maxLevels ?? 500, 1);
  let ladder: number[] | null = null;
  if (opts.betas !== undefined) {
    ladder = Array.from(opts.betas).filter((b, i) => !(i === 0 && b === 0));
    if (ladder.length === 0 || ladder[ladder.length - 1] !== 1) throw new RangeError(`${W}: betas must end at 1`);
    ladder.forEach((b, i) => {
      if (!(b > (i === 0 ? 0 : ladder![i - 1])) || b > 1) throw new RangeError(`${W}: betas must increase strictly within (0, 1], got betas[${i}] = ${b}`);
    });
  }
  const noWeights = opts._testBias === 'no-weights';
  const key = keyOf(W, opts);

  // Reference draws; h = log π − log π₀ at each.
  const u: Float64Array[] = [];
  const gRef: Float64Array[] = [];
  const gTar: Float64Array[] = [];
  const lref = new Float64Array(P);
  const ltar = new Float64Array(P);
  const hv = new Float64Array(P);
  const rng0 = key.fold(0).rng();
  let evals = 0;
  // log π at several points as one evaluation; NaN is −∞ (outside the support), +∞ an error.
  const target: GradientTarget = { dim: d, logDensityGrad: (x, g) => path.logTarget(x, g) };
  if (path.logTargets) target.logDensityGrads = (xs, gs) => path.logTargets!(xs, gs);
  const logTargets = (xs: readonly Float64Array[], grads: readonly Float64Array[]): Float64Array => {
    const lt = logDensityGradsAt(target, xs, grads);
    evals += xs.length;
    for (let b = 0; b < lt.length; b++) {
      if (Number.isNaN(lt[b])) lt[b] = -Infinity;
      if (lt[b] === Infinity) throw new RangeError(`${W}: the target log density is Infinity at a particle`);
    }
    return lt;
  };
  for (let i = 0; i < P; i++) {
    u.push(new Float64Array(d));
    gRef.push(new Float64Array(d));
    gTar.push(new Float64Array(d));
    path.sampleReference(rng0, u[i]);
  }
  ltar.set(logTargets(u, gTar));
  for (let i = 0; i < P; i++) {
    lref[i] = path.logReference(u[i], gRef[i]);
    hv[i] = ltar[i] - lref[i];
    if (!(lref[i] > -Infinity) || lref[i] === Infinity) throw new RangeError(`${W}: the reference log density is ${lref[i]} at a reference draw`);
    if (Number.isNaN(hv[i])) throw new RangeError(`${W}: the target log density is ${ltar[i]} at a particle`);
  }
  if (!hv.some((x) => x > -Infinity)) throw new RangeError(`${W}: the target density is zero at every reference draw`);

  let logw = new Float64Array(P);
  let beta = 0;
  const betas = [0];
  const ess = [P];
  const resampled = [false];
  const acceptance = [NaN];
  const stepSizes = [NaN];
  let logZ = 0;


  for (let level = 1; beta < 1; level++) {
    if (level > maxLevels) throw new RangeError(`${W}: β reached only ${beta} after ${maxLevels} levels; raise maxLevels or essThreshold`);
    const rng = key.fold(level).rng();
    const lse = logSumExp(logw);
    const logW = logw.map((v) => v - lse);
    let next: number;
    if (ladder) next = ladder[level - 1];
    else {
      const room = 1 - beta;
      const delta = nextIncrement(logW, hv, room, thr);
      next = delta === room ? 1 : Math.min(1, beta + delta);
    }
    const delta = next - beta;
    const a = new Float64Array(P);
    for (let i = 0; i < P; i++) a[i] = logW[i] + (hv[i] === -Infinity ? -Infinity : delta * hv[i]);
    const inc = logSumExp(a);
    logZ += inc;
    logw = noWeights ? new Float64Array(P) : a;
    beta = next;
    betas.push(beta);

    let Wn = weightsFromLog(logw);
    const e = effectiveSize(Wn);
    ess.push(e);
    const doResample = !noWeights && e < rthr * P;
    resampled.push(doResample);
    if (doResample) {
      const idx = resample(scheme, Wn, P, rng);
      const copy = (arr: Float64Array[]) => { const old = arr.slice(); for (let i = 0; i < P; i++) arr[i] = Float64Array.from(old[idx[i]]); };
      copy(u);
      copy(gRef);
      copy(gTar);
      const l0 = lref.slice();
      const l1 = ltar.slice();
      for (let i = 0; i < P; i++) {
        lref[i] = l0[idx[i]];
        ltar[i] = l1[idx[i]];
        hv[i] = ltar[i] - lref[i];
      }
      logw = new Float64Array(P);
      Wn = new Float64Array(P).fill(1 / P);
    }

    // MALA moves invariant for π_β, preconditioned by the cloud's weighted variance.
    if (steps > 0) {
      const v = cloudVariance(u, Wn, d);
      const sdv = v.map(Math.sqrt);
      const h = scale * scale;
      const r = moveCloud(path, logTargets, beta, steps, h, v, sdv, key.fold(level), { u, gRef, gTar, lref, ltar, live: (i) => logw[i] > -Infinity && ltar[i] > -Infinity });
      for (let i = 0; i < P; i++) hv[i] = ltar[i] - lref[i];
      const rate = r.n > 0 ? r.acc / r.n : 0;
      acceptance.push(rate);
      stepSizes.push(scale);
      // Robbins–Monro-like scaling of the step towards MALA's optimal acceptance rate.
      scale = Math.min(Math.max(scale * Math.exp(rate - MALA_TARGET_ACCEPT), 1e-4), 10);
    } else {
      acceptance.push(NaN);
      stepSizes.push(NaN);
    }
    opts.onLevel?.(level, beta, ess[ess.length - 1], P);
  }
  return {
    particles: u, weights: weightsFromLog(logw), lp: ltar.slice(), logZ, betas, ess, resampled, acceptance, stepSizes, gradientEvals: evals,
  };
}

/**
 * `steps` MALA steps invariant for π_β = π₀^(1−β) π^β of every live particle, the cloud
 * together: each step proposes for every particle (particle i's stream is the level key's
 * fold (MOVE_STREAMS, i)), evaluates π at all proposals with one `logTargets` call, and runs
 * each particle's Metropolis test. An accepted proposal's parts (log π₀, log π and their
 * gradients) replace the particle's, so none is evaluated again. Returns the summed
 * acceptance probabilities and the number of steps taken.
 */
function moveCloud(
  path: AnnealingPath, logTargets: (xs: readonly Float64Array[], grads: readonly Float64Array[]) => Float64Array,
  beta: number, steps: number, h: number, v: Float64Array, sdv: Float64Array, levelKey: Key,
  cloud: { u: Float64Array[]; gRef: Float64Array[]; gTar: Float64Array[]; lref: Float64Array; ltar: Float64Array; live: (i: number) => boolean },
): { acc: number; n: number } {
  const { u, gRef, gTar, lref, ltar } = cloud;
  const d = path.dim;
  const idx = Array.from({ length: u.length }, (_, i) => i).filter(cloud.live);
  const L = idx.length;
  const streams = levelKey.fold(MOVE_STREAMS);
  const rngs = idx.map((i) => streams.fold(i).rng());
  // The tempered state of each live particle, and its proposal's parts.
  const mix = (a: number, b: number) => (1 - beta) * a + beta * b;
  const g = idx.map((i) => Float64Array.from({ length: d }, (_, k) => mix(gRef[i][k], gTar[i][k])));
  const lp = Float64Array.from(idx, (i) => mix(lref[i], ltar[i]));
  const xs = idx.map((i) => u[i]);
  const ys = idx.map(() => new Float64Array(d));
  const gys = idx.map(() => new Float64Array(d));
  const gRefY = idx.map(() => new Float64Array(d));
  const gTarY = idx.map(() => new Float64Array(d));
  const lrefY = new Float64Array(L);
  let acc = 0;
  for (let s = 0; s < steps; s++) {
    for (let j = 0; j < L; j++) langevinPropose(h, v, sdv, xs[j], g[j], ys[j], rngs[j]);
    const ltarY = logTargets(ys, gTarY);
    for (let j = 0; j < L; j++) {
      lrefY[j] = path.logReference(ys[j], gRefY[j]);
      for (let k = 0; k < d; k++) gys[j][k] = mix(gRefY[j][k], gTarY[j][k]);
      const lpy = ltarY[j] === -Infinity ? -Infinity : mix(lrefY[j], ltarY[j]);
      const r = langevinAccept('mala', h, v, xs[j], g[j], lp[j], ys[j], gys[j], lpy, rngs[j]);
      lp[j] = r.lp;
      acc += r.accept;
      if (r.moved) {
        const i = idx[j];
        lref[i] = lrefY[j];
        ltar[i] = ltarY[j];
        gRef[i].set(gRefY[j]);
        gTar[i].set(gTarY[j]);
      }
    }
  }
  return { acc, n: L * steps };
}

/** Weighted variance of each coordinate of the cloud (1 where it is not positive and finite). */
function cloudVariance(u: Float64Array[], W: Float64Array, d: number): Float64Array {
  const m = new Float64Array(d);
  const v = new Float64Array(d);
  for (let i = 0; i < u.length; i++) for (let j = 0; j < d; j++) m[j] += W[i] * u[i][j];
  for (let i = 0; i < u.length; i++) for (let j = 0; j < d; j++) v[j] += W[i] * (u[i][j] - m[j]) ** 2;
  for (let j = 0; j < d; j++) if (!(v[j] > 1e-16) || !Number.isFinite(v[j])) v[j] = 1;
  return v;
}

/**
 * Resamples a weighted cloud to `n` equally weighted draws (systematic by default), for output
 * in the format of MCMC draws. Returns the chosen indices.
 */
export function resampleEqual(weights: Float64Array, n: number, rng: Rng, scheme: ResampleScheme = 'systematic'): Int32Array {
  const idx = resample(scheme, weights, n, rng);
  // Systematic resampling returns indices in order; shuffle so that splitting the result
  // into chains does not put low and high indices into different chains.
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}
