/**
 * A hand-written model for the conjugate normal-mean toy, so the SBC machinery can be
 * tested without the compiler:  mu[k] ~ normal(0, 1),  y[n, k] ~ normal(mu[k], 1).
 * With K = 1 the parameter is the scalar `mu` (as in the .mix version of the test).
 */
import type { DataInput, NdArray } from '../../src/model/data';
import { Key } from '../../src/tensor/random';
import type { BoundModel } from '../../src/model/bound-model';
import type { GewekeModel, PosteriorSampler, SimulatingModel, SimulateOptionsLike, TransitionKernel } from '../../src/testing/model-types';
import { normalKnownVariance } from '../../src/testing/exact';

export function fakeNormalMeanModel(K = 1): SimulatingModel {
  return {
    simulate(data: DataInput, opts: SimulateOptionsLike = {}) {
      const N = Number(data.N);
      const rng = Key.seed(opts.seed ?? 1).rng();
      return Array.from({ length: opts.draws ?? 1 }, () => {
        const mu = Float64Array.from({ length: K }, () => rng.normal());
        const y = new Float64Array(N * K);
        for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) y[n * K + k] = rng.normal(mu[k], 1);
        const params: Record<string, NdArray> = { mu: { shape: K === 1 ? [] : [K], values: mu } };
        return { params, data: { y: { shape: K === 1 ? [N] : [N, K], values: y } } };
      });
    },
  };
}

/**
 * Exact posterior draws for the fake model (independent normals), optionally distorted:
 * `shift` moves the mean by that many posterior sds, `scale` multiplies the sd; `only`
 * restricts the distortion to one element (0-based).
 */
export function normalMeanSampler(K = 1, distort: { shift?: number; scale?: number; only?: number } = {}, S = 100): PosteriorSampler {
  return (_model, data, seed) => {
    const y = data.y as NdArray;
    const N = y.values.length / K;
    const rng = Key.seed(seed).rng();
    const means: number[] = [];
    const sds: number[] = [];
    for (let k = 0; k < K; k++) {
      const yk = Array.from({ length: N }, (_, n) => y.values[n * K + k]);
      const post = normalKnownVariance({ priorMean: 0, priorSd: 1, sigma: 1, y: yk });
      const hit = distort.only === undefined || distort.only === k;
      const sd = Math.sqrt(post.variance);
      means.push(post.mean + (hit ? (distort.shift ?? 0) * sd : 0));
      sds.push(sd * (hit ? distort.scale ?? 1 : 1));
    }
    const draws = Array.from({ length: S }, () => means.map((m, k) => rng.normal(m, sds[k])));
    return { draws: { mu: draws } };
  };
}

/**
 * The fake model with `fixed` support and a `bind` whose BoundModel stand-in implements the
 * parts a kernel and `geweke` use (dim, unconstrain, constrain, potential, dispose)
 * analytically: potential U(μ) = ½μ² + ½Σ(y - μ)².
 */
export function fakeGewekeModel(): GewekeModel {
  const base = fakeNormalMeanModel(1);
  return {
    simulate(data: DataInput, opts: SimulateOptionsLike = {}) {
      const fixed = opts.fixed?.mu;
      if (fixed === undefined) return base.simulate(data, opts);
      const N = Number(data.N);
      const mu = typeof fixed === 'number' ? fixed : (fixed as NdArray).values[0];
      const rng = Key.seed(opts.seed ?? 1).rng();
      return Array.from({ length: opts.draws ?? 1 }, () => ({
        params: { mu: { shape: [], values: Float64Array.of(mu) } },
        data: { y: { shape: [N], values: Float64Array.from({ length: N }, () => rng.normal(mu, 1)) } },
      }));
    },
    bind(data: DataInput) {
      const y = (data.y as NdArray).values;
      const fake = {
        dim: 1,
        unconstrain: (v: Record<string, unknown>) => Float64Array.of(Number(typeof v.mu === 'number' ? v.mu : (v.mu as NdArray).values[0])),
        constrain: (u: ArrayLike<number>) => ({ mu: u[0] }),
        potential: (u: ArrayLike<number>) => {
          let s = 0.5 * u[0] ** 2;
          for (const v of y) s += 0.5 * (v - u[0]) ** 2;
          return s;
        },
        dispose: () => {},
      };
      return fake as unknown as BoundModel;
    },
  };
}

/**
 * A Gibbs kernel for a model whose conditional p(u | y) is Gaussian in the flat
 * unconstrained vector (1-D): the potential is then a quadratic a u² + b u + c, so three
 * evaluations give the precision 2a = U(1) + U(-1) - 2U(0) and the mean -b/(2a) =
 * -(U(1) - U(-1)) / (2 · precision), and u is drawn exactly. (Potentials, not gradients:
 * a potential costs a quarter of a gradient on the cpu backend.) With `varianceScale` ≠ 1
 * it is deliberately wrong.
 */
export function gaussianGibbsKernel(varianceScale = 1): TransitionKernel {
  return {
    init: (_bound, u) => Float64Array.from(u),
    step: (bound, _state, seed) => {
      const u0 = bound.potential([0]);
      const up = bound.potential([1]);
      const um = bound.potential([-1]);
      const prec = up + um - 2 * u0;
      const mean = -(up - um) / (2 * prec);
      const u = Float64Array.of(mean + Key.seed(seed).rng().normal() * Math.sqrt(varianceScale / prec));
      return { state: u, u };
    },
  };
}
