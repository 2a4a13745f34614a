/**
 * A single NUTS (or static HMC) transition as a `TransitionKernel` of `mixppl/testing`,
 * for Geweke's joint-distribution test (`geweke` in src/testing/geweke.ts).
 *
 * The step size and the (diagonal) metric are FIXED: there is no warm-up and no adaptation,
 * because an adapting kernel is not a Markov kernel that leaves p(θ | y) invariant, and
 * Geweke's successive-conditional simulator needs exactly such a kernel. The transition is
 * the same code the sampler runs (`NutsKernel` / `StaticHmcKernel` of hmc.ts) on the float64
 * potential of the bound model (`BoundModel.potentialFunction()`, negated: the potential is
 * -log density).
 */
import type { BoundModel } from '../../model/bound-model';
import type { TransitionKernel } from '../../testing/model-types';
import { Key } from '../../tensor/random';
import { Hamiltonian, NutsKernel, PhasePoint, StaticHmcKernel, diagMetric } from './hmc';
import type { DrawStats, GradientTarget, TestBias } from './hmc';

/** Options of {@link nutsTransitionKernel}. */
export interface NutsTransitionKernelOptions {
  /** The fixed leapfrog step size (positive, finite). */
  stepsize: number;
  /** Fixed diagonal inverse metric, one positive entry per unconstrained dimension (default: the identity). */
  invMetric?: ArrayLike<number>;
  /** NUTS maximum tree depth (default 10). */
  maxTreeDepth?: number;
  /** 'nuts' (default) or static 'hmc'. */
  algorithm?: 'nuts' | 'hmc';
  /**
   * Static HMC: leapfrog steps per transition. Default max(1, ⌊2π/stepsize⌋), Stan's
   * default integration time 2π.
   */
  numSteps?: number;
  /**
   * Uniform step-size jitter in [0, 1]: each transition uses ε·(1 + jitter·(2U - 1)) with
   * U from the transition's own stream (default 0). A random step size keeps the kernel
   * valid (a mixture of valid kernels) and breaks the periodicity of static HMC.
   */
  stepsizeJitter?: number;
  /** Energy error that marks a divergence (default 1000). */
  maxDeltaH?: number;
  /** TEST ONLY: a deliberately wrong kernel (see `TestBias` in hmc.ts). Never set it for inference. */
  _testBias?: TestBias;
}

/** The state a {@link nutsTransitionKernel} keeps between `step` calls. */
export interface NutsKernelState {
  /** The bound model the state was built for (a different one in `step` rebuilds it). */
  readonly bound: BoundModel;
  /** Current position, with its log density and gradient (momentum: the last trajectory's). */
  readonly point: PhasePoint;
  /** Statistics of the last transition (undefined right after `init`). */
  stats?: DrawStats;
  /** Internal: the Hamiltonian and transition of this bound model. */
  readonly transition: (eps: number, rng: ReturnType<Key['rng']>) => DrawStats;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`nutsTransitionKernel: ${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Returns a `TransitionKernel` (see `mixppl/testing`) doing one NUTS transition — or one
 * static HMC transition with `algorithm: 'hmc'` — with a fixed step size and diagonal
 * metric on the bound model's unconstrained vector. `step`'s seed is the transition's only
 * randomness (`Key.seed(seed).rng()`), so a step is deterministic given the state and seed.
 * `init` throws a RangeError when the log density or its gradient is not finite at u.
 *
 * @example
 * const result = geweke(model, nutsTransitionKernel({ stepsize: 0.4 }), { data: { N: 4 }, samples: 2000, iterations: 2000 });
 * expect(result.failed).toEqual([]);
 */
export function nutsTransitionKernel(opts: NutsTransitionKernelOptions): TransitionKernel {
  const { stepsize, algorithm = 'nuts', stepsizeJitter = 0, _testBias: bias } = opts;
  if (!(stepsize > 0) || stepsize === Infinity) throw new RangeError(`nutsTransitionKernel: stepsize must be positive and finite, got ${stepsize}`);
  if (algorithm !== 'nuts' && algorithm !== 'hmc') throw new RangeError(`nutsTransitionKernel: algorithm must be 'nuts' or 'hmc', got ${String(algorithm)}`);
  if (!(stepsizeJitter >= 0 && stepsizeJitter <= 1)) throw new RangeError(`nutsTransitionKernel: stepsizeJitter must be in [0, 1], got ${stepsizeJitter}`);
  if (opts.maxTreeDepth !== undefined) checkInt('maxTreeDepth', opts.maxTreeDepth, 1);
  if (opts.numSteps !== undefined) checkInt('numSteps', opts.numSteps, 1);
  if (bias !== undefined && bias !== 'acceptance' && bias !== 'leapfrog') {
    throw new RangeError(`nutsTransitionKernel: _testBias must be 'acceptance' or 'leapfrog', got ${String(bias)}`);
  }
  const numSteps = opts.numSteps ?? Math.max(1, Math.floor((2 * Math.PI) / stepsize));
  const invMetric = opts.invMetric === undefined ? undefined : Float64Array.from(opts.invMetric);

  const build = (bound: BoundModel, u: ArrayLike<number>): NutsKernelState => {
    const dim = bound.dim;
    if (dim < 1) throw new RangeError('nutsTransitionKernel: the model has no continuous parameters');
    if (u.length !== dim) throw new RangeError(`nutsTransitionKernel: u has length ${u.length}, the model has ${dim} unconstrained dimensions`);
    if (invMetric !== undefined && invMetric.length !== dim) {
      throw new RangeError(`nutsTransitionKernel: invMetric has ${invMetric.length} entries, the model has ${dim} unconstrained dimensions`);
    }
    const pot = bound.potentialFunction();
    const target: GradientTarget = {
      dim,
      logDensityGrad(q: Float64Array, grad: Float64Array): number {
        const v = pot.valueAndGrad(q, grad);
        for (let i = 0; i < grad.length; i++) grad[i] = -grad[i];
        return -v;
      },
    };
    const h = new Hamiltonian(target, diagMetric(invMetric ?? new Float64Array(dim).fill(1)), bias);
    const point = new PhasePoint(dim);
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(u[i])) throw new RangeError(`nutsTransitionKernel: u[${i}] is ${u[i]}, not a finite number`);
      point.q[i] = u[i];
    }
    h.evaluate(point);
    if (!(point.lp > -Infinity)) throw new RangeError('nutsTransitionKernel: the log density is not finite at the initial point');
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(point.g[i])) throw new RangeError(`nutsTransitionKernel: gradient[${i}] is ${point.g[i]} at the initial point`);
    }
    let transition: NutsKernelState['transition'];
    if (algorithm === 'nuts') {
      const nuts = new NutsKernel(h, { maxTreeDepth: opts.maxTreeDepth, maxDeltaH: opts.maxDeltaH });
      transition = (eps, rng) => nuts.transition(point, eps, rng);
    } else {
      const hmc = new StaticHmcKernel(h, { maxDeltaH: opts.maxDeltaH });
      transition = (eps, rng) => hmc.transition(point, eps, numSteps, rng);
    }
    return { bound, point, transition };
  };

  return {
    init(bound: BoundModel, u: Float64Array): NutsKernelState {
      return build(bound, u);
    },
    step(bound: BoundModel, state: unknown, seed: number): { state: NutsKernelState; u: Float64Array } {
      let s = state as NutsKernelState;
      if (!s || !(s.point instanceof PhasePoint)) throw new RangeError('nutsTransitionKernel: step needs the state returned by init or step');
      if (s.bound !== bound) s = build(bound, s.point.q);
      const rng = Key.seed(seed).rng();
      const eps = stepsizeJitter > 0 ? stepsize * (1 + stepsizeJitter * (2 * rng.uniform() - 1)) : stepsize;
      s.stats = s.transition(eps, rng);
      return { state: s, u: Float64Array.from(s.point.q) };
    },
  };
}
