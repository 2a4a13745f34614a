/**
 * Geweke's (2004) joint-distribution test ("Getting it right", JASA 99:799–804).
 *
 * Two simulators of p(θ, y) are compared:
 *  - marginal-conditional: M independent draws θ ~ p(θ), y ~ p(y | θ) (`model.simulate`);
 *  - successive-conditional: a chain alternating θ ~ K(θ' | θ, y) (the kernel under test,
 *    which should leave p(θ | y) invariant) and y ~ p(y | θ) (`model.simulate` with θ fixed).
 * If the kernel is right, both have p(θ, y) as their stationary law, so every test function
 * g(θ) has the same mean under both. Means are compared by z-tests whose standard error uses
 * the ESS of the successive chain; Holm's correction over all test functions decides.
 */
import type { BoundModel } from '../model/bound-model';
import type { DataInput, NdArray } from '../model/data';
import { toNdArray } from '../model/data';
import { elementNames, keySeed } from './model-types';
import type { GewekeModel, TransitionKernel } from './model-types';
import { Key } from '../tensor/random';
import { holm, mcseMean, normalTwoSidedPValue } from './stats';

/** Parameter values as flat row-major arrays. */
export type FlatParams = Readonly<Record<string, NdArray>>;

/** A scalar test function of the parameters. */
export type TestFunction = (theta: FlatParams) => number;

/** Options for `geweke`. */
export interface GewekeOptions {
  /** Sizes and covariates passed to `model.simulate` and `model.bind` (e.g. `{ N: 5 }`). */
  data?: DataInput;
  /** Independent marginal-conditional draws M (default 1000). */
  samples?: number;
  /** Successive-conditional iterations kept (default 1000). */
  iterations?: number;
  /** Successive-conditional iterations discarded first (default 100). */
  burnIn?: number;
  /** Keep every `thin`-th successive-conditional iteration (default 1). */
  thin?: number;
  /** Kernel steps per data refresh (default 1). */
  stepsPerData?: number;
  /** Root seed (default 0). */
  seed?: number;
  /** Family-wise level for `failed` (default 0.01). */
  alpha?: number;
  /** Only these parameters for the default test functions (default: all). */
  params?: readonly string[];
  /** Test functions by name; default: each scalar element `e` and its square `e^2`. */
  testFunctions?: Readonly<Record<string, TestFunction>>;
  /** Called after each successive-conditional iteration. */
  onIteration?: (done: number, total: number) => void;
}

/** The comparison of one test function. */
export interface GewekeTest {
  marginalMean: number;
  /** sd/√M (independent draws). */
  marginalSe: number;
  successiveMean: number;
  /** MCSE of the successive chain's mean (ESS-based). */
  successiveSe: number;
  /** ESS of the successive chain of g. */
  ess: number;
  z: number;
  pValue: number;
  /** Holm-adjusted over all test functions. */
  adjusted: number;
}

/** The result of `geweke` / `gewekeCompare`. */
export interface GewekeResult {
  tests: Record<string, GewekeTest>;
  /** Test functions whose adjusted p-value is below alpha. */
  failed: string[];
  alpha: number;
  samples: number;
  iterations: number;
  seconds: number;
}

/**
 * Returns the default test functions: every scalar element `e` and its square `e^2`.
 *
 * @example
 * Object.keys(defaultTestFunctions({ mu: { shape: [2], values: Float64Array.of(0, 1) } })); // ['mu[1]', 'mu[1]^2', 'mu[2]', 'mu[2]^2']
 */
export function defaultTestFunctions(theta: FlatParams, params?: readonly string[]): Record<string, TestFunction> {
  const out: Record<string, TestFunction> = {};
  for (const p of params ?? Object.keys(theta)) {
    const v = theta[p];
    if (!v) throw new RangeError(`geweke: no parameter '${p}' (has: ${Object.keys(theta).join(', ')})`);
    elementNames(p, v.shape).forEach((e, i) => {
      out[e] = (t) => t[p].values[i];
      out[`${e}^2`] = (t) => t[p].values[i] ** 2;
    });
  }
  return out;
}

/**
 * Returns the Geweke comparison of test-function values from the two simulators:
 * z = (mean_m - mean_s) / √(sd_m²/M + MCSE_s²), two-sided normal p-values, Holm over all.
 *
 * @example
 * gewekeCompare({ mu: marginalMu }, { mu: chainMu }).failed; // [] when they agree
 */
export function gewekeCompare(marginal: Readonly<Record<string, ArrayLike<number>>>, successive: Readonly<Record<string, ArrayLike<number>>>, opts: { alpha?: number } = {}): GewekeResult {
  const alpha = opts.alpha ?? 0.01;
  const names = Object.keys(marginal);
  const tests: Record<string, GewekeTest> = {};
  const ps: number[] = [];
  let M = 0;
  let S = 0;
  for (const name of names) {
    const a = marginal[name];
    const b = successive[name];
    if (!b) throw new RangeError(`gewekeCompare: test function '${name}' has marginal values but no successive values`);
    const ma = mcseMean(a);
    const mb = mcseMean(b);
    M = a.length;
    S = b.length;
    const marginalSe = ma.sd / Math.sqrt(a.length);
    const se = Math.sqrt(marginalSe ** 2 + mb.mcse ** 2);
    const diff = ma.mean - mb.mean;
    const z = diff === 0 ? 0 : se > 0 ? diff / se : Math.sign(diff) * Infinity;
    const pValue = normalTwoSidedPValue(z);
    ps.push(pValue);
    tests[name] = { marginalMean: ma.mean, marginalSe, successiveMean: mb.mean, successiveSe: mb.mcse, ess: mb.ess, z, pValue, adjusted: NaN };
  }
  const adj = holm(ps);
  const failed: string[] = [];
  names.forEach((n, i) => {
    tests[n].adjusted = adj[i];
    if (adj[i] < alpha) failed.push(n);
  });
  return { tests, failed, alpha, samples: M, iterations: S, seconds: 0 };
}

/** Flattens `BoundModel.constrain` output (nested arrays) to NdArrays. */
function flatten(values: Record<string, number | unknown[]>): Record<string, NdArray> {
  const out: Record<string, NdArray> = {};
  for (const [k, v] of Object.entries(values)) {
    const nd = toNdArray(k, v as number | readonly unknown[]);
    if (!('values' in nd)) throw new RangeError(`geweke: constrained value of '${k}': ${nd.message}`);
    out[k] = nd;
  }
  return out;
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`geweke: ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Returns Geweke's joint-distribution test of a transition kernel on a model: means of
 * test functions (default: each scalar parameter element and its square) under the
 * marginal-conditional and successive-conditional simulators, z-tests with the chain's
 * ESS-based standard error, and the test functions that fail after Holm's correction.
 *
 * The kernel sees a freshly bound model after every data refresh, and its state is
 * re-initialised there (`kernel.init(bound, u, seed)`), because cached values such as a
 * potential or gradient depend on the data. Adaptation must be off: an adapting kernel
 * does not leave p(θ | y) invariant.
 *
 * @example
 * const result = geweke(model, myKernel, { data: { N: 5 }, samples: 2000, iterations: 2000 });
 * expect(result.failed).toEqual([]);
 */
export function geweke(model: GewekeModel, kernel: TransitionKernel, options: GewekeOptions = {}): GewekeResult {
  const start = performance.now();
  const data = options.data ?? {};
  const M = options.samples ?? 1000;
  const iterations = options.iterations ?? 1000;
  const burnIn = options.burnIn ?? 100;
  const thin = options.thin ?? 1;
  const steps = options.stepsPerData ?? 1;
  checkCount('samples', M, 10);
  checkCount('iterations', iterations, 10);
  checkCount('burnIn', burnIn, 0);
  checkCount('thin', thin, 1);
  checkCount('stepsPerData', steps, 1);
  const root = Key.seed(options.seed ?? 0);
  const [marginalKey, chainKey] = root.split(2);

  // Marginal-conditional simulator: M independent prior draws.
  const marginalDraws = model.simulate(data, { seed: keySeed(marginalKey), draws: M });
  if (marginalDraws.length !== M) throw new RangeError(`geweke: model.simulate returned ${marginalDraws.length} draws, expected ${M}`);
  const fns = options.testFunctions ?? defaultTestFunctions(marginalDraws[0].params, options.params);
  const names = Object.keys(fns);
  if (names.length === 0) throw new RangeError('geweke: no test functions');
  const marginal: Record<string, Float64Array> = {};
  for (const n of names) marginal[n] = Float64Array.from(marginalDraws, (d) => fns[n](d.params));

  // Successive-conditional simulator.
  const total = burnIn + iterations * thin;
  const successive: Record<string, Float64Array> = {};
  for (const n of names) successive[n] = new Float64Array(iterations);
  const [initKey, loopKey] = chainKey.split(2);
  const first = model.simulate(data, { seed: keySeed(initKey), draws: 1 })[0];
  let theta: FlatParams = first.params;
  let y: FlatParams = first.data;
  let kept = 0;
  for (let t = 0; t < total; t++) {
    const [kernelKey, dataKey] = loopKey.fold(t).split(2);
    const bound: BoundModel = model.bind({ ...data, ...y });
    try {
      let u = bound.unconstrain(theta);
      let state = kernel.init(bound, u, keySeed(kernelKey.fold(0)));
      for (let s = 0; s < steps; s++) {
        const r = kernel.step(bound, state, keySeed(kernelKey.fold(s + 1)));
        state = r.state;
        u = r.u;
      }
      if (u.length !== bound.dim) throw new RangeError(`geweke: kernel.step returned a vector of length ${u.length}, the model has ${bound.dim} unconstrained dimensions`);
      for (let i = 0; i < u.length; i++) {
        if (!Number.isFinite(u[i])) throw new RangeError(`geweke: iteration ${t}: kernel.step returned u[${i}] = ${u[i]}`);
      }
      theta = flatten(bound.constrain(u));
    } finally {
      bound.dispose();
    }
    y = model.simulate(data, { seed: keySeed(dataKey), draws: 1, fixed: theta })[0].data;
    if (t >= burnIn && (t - burnIn) % thin === 0) {
      for (const n of names) successive[n][kept] = fns[n](theta);
      kept++;
    }
    options.onIteration?.(t + 1, total);
  }
  const result = gewekeCompare(marginal, successive, { alpha: options.alpha });
  return { ...result, seconds: (performance.now() - start) / 1000 };
}
