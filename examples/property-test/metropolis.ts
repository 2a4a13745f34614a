/**
 * The "user's own inference" under test: random-walk Metropolis on the unconstrained
 * scale of a bound model (lambda = exp(u) here), as a transition kernel and as a
 * posterior sampler. It only needs `BoundModel.potential` and `constrain`.
 */
import { Key, type BoundModel, type DataInput, type Model } from 'mixppl';
import type { PosteriorDraws, TransitionKernel } from 'mixppl/testing';

interface State {
  u: Float64Array;
  /** Potential energy at u (cached: one evaluation per proposal). */
  U: number;
}

/** Nested arrays (as `constrain` returns them) to a flat row-major list. */
const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);

/** Returns a random-walk Metropolis kernel with Gaussian proposals of sd `stepSize`. */
export function metropolisKernel(stepSize: number): TransitionKernel {
  return {
    init: (bound, u) => ({ u: Float64Array.from(u), U: bound.potential(u) }) satisfies State,
    step: (bound, state, seed) => {
      const s = state as State;
      const rng = Key.seed(seed).rng();
      const proposal = Float64Array.from(s.u, (v) => v + stepSize * rng.normal());
      const U = bound.potential(proposal);
      // Accept with probability min(1, exp(U(u) - U(u'))): symmetric proposal.
      const next = Math.log(rng.uniform()) < s.U - U ? { u: proposal, U } : s;
      return { state: next, u: next.u };
    },
  };
}

/** Returns `draws` posterior draws of every parameter after `warmup` steps, keeping every `thin`-th. */
export function metropolisSampler(opts: { stepSize: number; draws: number; warmup: number; thin: number }) {
  const kernel = metropolisKernel(opts.stepSize);
  return async (model: Model, data: DataInput, seed: number): Promise<{ draws: PosteriorDraws }> => {
    const bound: BoundModel = model.bind(data);
    try {
      const seeds = Key.seed(seed).rng(); // one stream of per-step seeds
      let state = kernel.init(bound, new Float64Array(bound.dim), 0);
      const draws: Record<string, number[][]> = Object.fromEntries(bound.params.map((p) => [p.name, []]));
      const total = opts.warmup + opts.draws * opts.thin;
      for (let t = 0; t < total; t++) {
        const r = kernel.step(bound, state, seeds.uint32());
        state = r.state;
        if (t >= opts.warmup && (t - opts.warmup) % opts.thin === opts.thin - 1) {
          const values = bound.constrain(r.u);
          for (const p of bound.params) draws[p.name].push(flat(values[p.name]));
        }
      }
      return { draws };
    } finally {
      bound.dispose();
    }
  };
}
