/**
 * Langevin samplers on a differentiable target, many chains run together in float64:
 * the unadjusted Langevin algorithm (ULA) and the Metropolis-adjusted Langevin algorithm
 * (MALA; Roberts & Tweedie 1996), with a diagonal preconditioner.
 *
 * With preconditioner (diagonal covariance guess) v and step size h, one step from x is
 *   y = x + (h/2) v ⊙ ∇log π(x) + √h √v ⊙ ξ,   ξ ~ N(0, I).
 * ULA keeps y; MALA accepts it with probability
 *   min(1, π(y) q(x | y) / (π(x) q(y | x))),  log q(y | x) = −‖y − x − (h/2) v ⊙ ∇log π(x)‖²_{v⁻¹} / (2h),
 * so its chain leaves π exactly invariant; ULA's does not (its stationary law is biased by O(h):
 * on N(0, σ²) with v = 1 the ULA recursion is x' = (1 − h/(2σ²)) x + √h ξ, an AR(1) with
 * stationary variance h / (1 − (1 − h/(2σ²))²) = σ² / (1 − h/(4σ²))).
 *
 * Warm-up (MALA): the step size, shared by all chains, is tuned by dual averaging (Nesterov;
 * Hoffman & Gelman 2014) on the acceptance rate averaged over the chains, towards 0.574, the
 * optimal rate of Roberts & Rosenthal (1998). With `precondition`, the warm-up is split in
 * half: the pooled variance of all chains over the second quarter becomes v at the half-way
 * point (shrunk towards 1e-3 as Stan regularises its metric), and dual averaging restarts.
 * ULA has no acceptance rate, so it uses the given step size (adapted only through v).
 *
 * State layout: chains × dim, row-major, in one Float64Array; the chains are updated in a
 * loop (the target is a float64 replay, so a loop costs no tensor dispatch).
 */
import { Key } from '../../tensor/random';
import type { Rng } from '../../tensor/random';
import type { GradientTarget } from '../mcmc/hmc';
import { DualAveraging } from '../mcmc/adapt';

/** The optimal MALA acceptance rate of Roberts & Rosenthal (1998) for product targets. */
export const MALA_TARGET_ACCEPT = 0.574;

/** Options of {@link langevinChains}. */
export interface LangevinOptions {
  /** 'mala' (default; exact) or 'ula' (unadjusted; O(h) bias). */
  method?: 'ula' | 'mala';
  /** Number of chains run together (default 4). */
  chains?: number;
  /** Warm-up iterations per chain, discarded (default 1000). */
  warmup?: number;
  /** Draws kept per chain (default 1000). */
  draws?: number;
  /** Keep every `thin`-th iteration (default 1). */
  thin?: number;
  /**
   * Step size h (default: MALA 0.1 · dim^(−1/3) as a starting value for adaptation; ULA 0.01,
   * used as given). With `adaptStepSize: false`, MALA uses it as given too.
   */
  stepSize?: number;
  /** MALA: tune h by dual averaging during warm-up (default true; needs warmup ≥ 10). */
  adaptStepSize?: boolean;
  /** MALA: acceptance rate aimed at in warm-up (default 0.574). */
  targetAccept?: number;
  /** Estimate a diagonal preconditioner from the warm-up variance (default true when warmup ≥ 20). */
  precondition?: boolean;
  /** A fixed diagonal preconditioner v (variances, length dim); disables the estimated one. */
  invMetric?: ArrayLike<number>;
  /**
   * Initial states: chains × dim row-major, or one point (length dim) for every chain. Default:
   * uniform(−initRadius, initRadius) per coordinate, as Stan.
   */
  init?: ArrayLike<number>;
  /** Radius of the random inits (default 2). */
  initRadius?: number;
  /** Seed (default 1); ignored when `key` is given. */
  seed?: number;
  /** Random key (takes precedence over `seed`). */
  key?: Key;
  /** Called after each iteration (all chains) with the phase, the 1-based iteration in it, its length and the mean acceptance. */
  onIteration?: (phase: 'warmup' | 'sampling', iteration: number, of: number, accept: number) => void;
}

/** Per-chain output of {@link langevinChains}. */
export interface LangevinChain {
  /** Kept draws (each of length dim). */
  draws: Float64Array[];
  /** Log density (up to the target's constant) at each kept draw. */
  lp: Float64Array;
  /** MALA: acceptance probability of the step that produced each draw; ULA: 1. */
  accept: Float64Array;
  /** The chain's initial state. */
  init: Float64Array;
}

/** The output of {@link langevinChains}. */
export interface LangevinRun {
  method: 'ula' | 'mala';
  chains: LangevinChain[];
  /** Step size of the sampling phase. */
  stepSize: number;
  /** Diagonal preconditioner (variances) of the sampling phase. */
  invMetric: Float64Array;
  /** Mean acceptance probability over the sampling phase (1 for ULA). */
  meanAccept: number;
  timeWarmupMs: number;
  timeSamplingMs: number;
}

/** Throws a RangeError unless v is an integer ≥ min. */
export function checkInt(where: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

/** Throws a RangeError unless v is a positive finite number. */
export function checkPositive(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v > 0) || v === Infinity) throw new RangeError(`${where}: ${name} must be a positive finite number, got ${String(v)}`);
  return v;
}

/** Returns the key of an options object: `key`, else Key.seed(seed ?? 1) (seed checked). */
export function keyOf(where: string, opts: { seed?: number; key?: Key }): Key {
  if (opts.key) return opts.key;
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${String(seed)}`);
  return Key.seed(seed);
}

/** Throws a RangeError unless `target` has a positive integer dim and a logDensityGrad method. */
export function checkTarget(where: string, target: GradientTarget): number {
  if (!target || typeof target.logDensityGrad !== 'function') throw new RangeError(`${where}: target must have a logDensityGrad(u, grad) method`);
  return checkInt(where, 'target.dim', target.dim, 1);
}

/**
 * Evaluates log π and its gradient, mapping NaN to −Infinity (a state outside the support)
 * and throwing a RangeError naming `where` on a non-finite gradient at a finite density.
 */
export function evalTarget(where: string, target: GradientTarget, u: Float64Array, grad: Float64Array): number {
  let lp = target.logDensityGrad(u, grad);
  if (Number.isNaN(lp)) lp = -Infinity;
  if (lp > -Infinity) {
    for (let i = 0; i < grad.length; i++) {
      if (!Number.isFinite(grad[i])) {
        if (lp === Infinity) break;
        throw new RangeError(`${where}: the gradient of the log density is ${grad[i]} in coordinate ${i} at a point with log density ${lp}`);
      }
    }
  }
  return lp;
}

/**
 * log π and its gradient at several points (`grads[b]` written): one batched evaluation where
 * the target has `logDensityGrads`, else one call per point, in order.
 */
export function logDensityGradsAt(target: GradientTarget, us: readonly Float64Array[], grads: readonly Float64Array[]): Float64Array {
  if (target.logDensityGrads && us.length > 1) return target.logDensityGrads(us, grads);
  return Float64Array.from(us, (u, b) => target.logDensityGrad(u, grads[b]));
}

/** A Langevin proposal y = x + (h/2) v ⊙ g + √h sdv ⊙ ξ, ξ ~ N(0, I) drawn from `rng`. */
export function langevinPropose(h: number, v: Float64Array, sdv: Float64Array, x: Float64Array, g: Float64Array, y: Float64Array, rng: Rng): void {
  const sh = Math.sqrt(h);
  for (let i = 0; i < x.length; i++) y[i] = x[i] + 0.5 * h * v[i] * g[i] + sh * sdv[i] * rng.normal();
}

/**
 * One MALA or ULA step of a single chain, in place. `x`, `g`, `lp` are the chain's state,
 * gradient and log density; `y`, `gy` are scratch. Returns the acceptance probability (ULA: 1).
 */
export function langevinStep(
  target: GradientTarget, method: 'ula' | 'mala', h: number, v: Float64Array, sdv: Float64Array,
  x: Float64Array, g: Float64Array, lp: number, y: Float64Array, gy: Float64Array, rng: Rng,
): { lp: number; accept: number } {
  langevinPropose(h, v, sdv, x, g, y, rng);
  const r = langevinAccept(method, h, v, x, g, lp, y, gy, target.logDensityGrad(y, gy), rng);
  return { lp: r.lp, accept: r.accept };
}

/**
 * Several chains' steps together: every chain's proposal (each from its own stream), their
 * log densities as one evaluation (`logDensityGradsAt`), then each chain's Metropolis test.
 * The draws are those of `langevinStep` chain by chain. The chains' states `xs`, `gs`, `lp`
 * are updated in place and each acceptance probability written into `accept`.
 */
export function langevinSweep(
  target: GradientTarget, method: 'ula' | 'mala', h: number, v: Float64Array, sdv: Float64Array,
  xs: readonly Float64Array[], gs: readonly Float64Array[], lp: Float64Array, ys: readonly Float64Array[], gys: readonly Float64Array[],
  rngs: readonly Rng[], accept: Float64Array,
): void {
  xs.forEach((x, c) => langevinPropose(h, v, sdv, x, gs[c], ys[c], rngs[c]));
  const lpy = logDensityGradsAt(target, ys, gys);
  xs.forEach((x, c) => {
    const r = langevinAccept(method, h, v, x, gs[c], lp[c], ys[c], gys[c], lpy[c], rngs[c]);
    lp[c] = r.lp;
    accept[c] = r.accept;
  });
}

/**
 * The second half of a step: given the proposal `y` with log density `lpy` and gradient `gy`,
 * ULA moves there; MALA's Metropolis–Hastings test (one uniform from `rng`) moves there or
 * stays. `moved` says whether x, g were replaced by y, gy.
 */
export function langevinAccept(
  method: 'ula' | 'mala', h: number, v: Float64Array, x: Float64Array, g: Float64Array, lp: number,
  y: Float64Array, gy: Float64Array, lpy: number, rng: Rng,
): { lp: number; accept: number; moved: boolean } {
  const d = x.length;
  if (Number.isNaN(lpy)) lpy = -Infinity;
  let gyOk = true;
  for (let i = 0; i < d && gyOk; i++) if (!Number.isFinite(gy[i])) gyOk = false;
  if (method === 'ula') {
    if (!(lpy > -Infinity) || !gyOk) {
      throw new RangeError(`langevin: an unadjusted Langevin step left the support (log density ${lpy}); lower stepSize`);
    }
    x.set(y);
    g.set(gy);
    return { lp: lpy, accept: 1, moved: true };
  }
  if (!(lpy > -Infinity) || !gyOk) return { lp, accept: 0, moved: false };
  // log q(x | y) − log q(y | x), with the preconditioner's metric v⁻¹.
  let fwd = 0;
  let bwd = 0;
  for (let i = 0; i < d; i++) {
    const a = y[i] - x[i] - 0.5 * h * v[i] * g[i];
    const b = x[i] - y[i] - 0.5 * h * v[i] * gy[i];
    fwd += (a * a) / v[i];
    bwd += (b * b) / v[i];
  }
  const logR = lpy - lp + (fwd - bwd) / (2 * h);
  const acc = logR >= 0 ? 1 : Number.isNaN(logR) ? 0 : Math.exp(logR);
  if (rng.uniform() < acc) {
    x.set(y);
    g.set(gy);
    return { lp: lpy, accept: acc, moved: true };
  }
  return { lp, accept: acc, moved: false };
}

/**
 * Runs `chains` ULA or MALA chains on `target` together and returns their kept draws, with
 * a shared step size tuned by dual averaging (MALA) and an optional diagonal preconditioner
 * estimated from the warm-up (see the module comment).
 *
 * @example
 * const run = langevinChains(target, { method: 'mala', chains: 8, warmup: 500, draws: 1000, seed: 1 });
 * run.chains[0].draws; // 1000 draws of chain 1
 */
export function langevinChains(target: GradientTarget, opts: LangevinOptions = {}): LangevinRun {
  const W = 'langevinChains';
  const d = checkTarget(W, target);
  const method = opts.method ?? 'mala';
  if (method !== 'ula' && method !== 'mala') throw new RangeError(`${W}: method must be 'ula' or 'mala', got '${String(method)}'`);
  const C = checkInt(W, 'chains', opts.chains ?? 4, 1);
  const warmup = checkInt(W, 'warmup', opts.warmup ?? 1000, 0);
  const draws = checkInt(W, 'draws', opts.draws ?? 1000, 1);
  const thin = checkInt(W, 'thin', opts.thin ?? 1, 1);
  let h = checkPositive(W, 'stepSize', opts.stepSize ?? (method === 'mala' ? 0.1 * Math.pow(d, -1 / 3) : 0.01));
  const adapt = method === 'mala' && (opts.adaptStepSize ?? true) && warmup >= 10;
  const delta = opts.targetAccept ?? MALA_TARGET_ACCEPT;
  if (!(delta > 0 && delta < 1)) throw new RangeError(`${W}: targetAccept must be in (0, 1), got ${delta}`);
  const radius = opts.initRadius ?? 2;
  if (!(radius >= 0) || radius === Infinity) throw new RangeError(`${W}: initRadius must be a nonnegative finite number, got ${radius}`);
  const key = keyOf(W, opts);

  const v = new Float64Array(d).fill(1);
  let fixedMetric = false;
  if (opts.invMetric !== undefined) {
    if (opts.invMetric.length !== d) throw new RangeError(`${W}: invMetric must have length dim = ${d}, got ${opts.invMetric.length}`);
    for (let i = 0; i < d; i++) v[i] = checkPositive(W, `invMetric[${i}]`, opts.invMetric[i]);
    fixedMetric = true;
  }
  const precondition = !fixedMetric && (opts.precondition ?? warmup >= 20) && warmup >= 20;
  const sdv = v.map(Math.sqrt);

  // Initial states.
  const x = new Float64Array(C * d);
  const g = new Float64Array(C * d);
  const lp = new Float64Array(C);
  const initRng = key.fold(0).rng();
  if (opts.init !== undefined) {
    const n = opts.init.length;
    if (n !== d && n !== C * d) throw new RangeError(`${W}: init must have length dim = ${d} or chains·dim = ${C * d}, got ${n}`);
    for (let k = 0; k < C * d; k++) {
      const val = opts.init[n === d ? k % d : k];
      if (!Number.isFinite(val)) throw new RangeError(`${W}: init[${n === d ? k % d : k}] is ${val}, not a finite number`);
      x[k] = val;
    }
  }
  const row = (a: Float64Array, c: number) => a.subarray(c * d, (c + 1) * d);
  for (let c = 0; c < C; c++) {
    let ok = false;
    for (let attempt = 0; attempt < (opts.init ? 1 : 100) && !ok; attempt++) {
      if (!opts.init) for (let i = 0; i < d; i++) x[c * d + i] = radius * (2 * initRng.uniform() - 1);
      lp[c] = evalTarget(W, target, row(x, c), row(g, c));
      ok = lp[c] > -Infinity && lp[c] < Infinity;
    }
    if (!ok) throw new RangeError(`${W}: chain ${c + 1}: no initial point with a finite log density (${lp[c]}) ${opts.init ? '(the given init)' : `in 100 tries of uniform(-${radius}, ${radius})`}`);
  }
  const init = Array.from({ length: C }, (_, c) => row(x, c).slice());

  const rngs = Array.from({ length: C }, (_, c) => key.fold(c + 1).rng());
  // The chains step together (langevinSweep): each from its own stream, so the draws are
  // those of stepping them one after another, and their proposals are one evaluation.
  const xs = Array.from({ length: C }, (_, c) => row(x, c));
  const gs = Array.from({ length: C }, (_, c) => row(g, c));
  const ys = Array.from({ length: C }, () => new Float64Array(d));
  const gys = Array.from({ length: C }, () => new Float64Array(d));
  const acc = new Float64Array(C);
  const da = new DualAveraging({ delta });
  da.setMu(Math.log(10 * h));
  const half = Math.floor(warmup / 2);
  const quarter = Math.floor(warmup / 4);
  const wm = new Float64Array(d);
  const ws = new Float64Array(d);
  let wn = 0;

  const t0 = performance.now();
  for (let it = 0; it < warmup; it++) {
    let accSum = 0;
    langevinSweep(target, method, h, v, sdv, xs, gs, lp, ys, gys, rngs, acc);
    for (let c = 0; c < C; c++) {
      accSum += acc[c];
      if (precondition && it >= quarter && it < half) {
        // Welford over all chains and iterations of the window.
        wn++;
        for (let i = 0; i < d; i++) {
          const dx = x[c * d + i] - wm[i];
          wm[i] += dx / wn;
          ws[i] += dx * (x[c * d + i] - wm[i]);
        }
      }
    }
    if (adapt) h = da.learn(accSum / C);
    opts.onIteration?.('warmup', it + 1, warmup, accSum / C);
    if (precondition && it === half - 1 && wn > 1) {
      // Stan's regularisation: shrink towards 1e-3 with weight 5 / (n + 5).
      for (let i = 0; i < d; i++) {
        const s2 = ws[i] / (wn - 1);
        v[i] = (wn / (wn + 5)) * s2 + 1e-3 * (5 / (wn + 5));
        if (!(v[i] > 0) || !Number.isFinite(v[i])) v[i] = 1;
        sdv[i] = Math.sqrt(v[i]);
      }
      if (adapt) {
        da.setMu(Math.log(10 * h));
        da.restart();
      }
    }
  }
  if (adapt) h = da.complete();
  const t1 = performance.now();

  const chains: LangevinChain[] = Array.from({ length: C }, (_, c) => ({
    draws: [] as Float64Array[], lp: new Float64Array(draws), accept: new Float64Array(draws), init: init[c],
  }));
  let accTotal = 0;
  for (let k = 0; k < draws; k++) {
    for (let s = 0; s < thin; s++) langevinSweep(target, method, h, v, sdv, xs, gs, lp, ys, gys, rngs, acc);
    for (let c = 0; c < C; c++) {
      accTotal += acc[c];
      chains[c].draws.push(row(x, c).slice());
      chains[c].lp[k] = lp[c];
      chains[c].accept[k] = acc[c];
    }
    opts.onIteration?.('sampling', k + 1, draws, accTotal / ((k + 1) * C));
  }
  const t2 = performance.now();
  return {
    method, chains, stepSize: h, invMetric: v.slice(), meanAccept: accTotal / (C * draws),
    timeWarmupMs: t1 - t0, timeSamplingMs: t2 - t1,
  };
}
