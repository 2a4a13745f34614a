// Exact conjugate draws inside the slice + Gibbs sampler (src/infer/mcmc/conjugate-gibbs.ts):
// w | z ~ Dirichlet(alpha + counts(z)) for a simplex with a Dirichlet prior whose only other
// factors are categorical latents. Checked against a small mixture whose posterior is summed
// over all 2^N allocations in float64 here (the slice.test.ts mixture with w ~ dirichlet):
// every check is |mean of draws - exact| < 4 MCSE (multi-chain MCSE of Vehtari et al. 2021,
// so a correct sampler fails one check with probability ~6e-5), on first and second moments
// of w[1] and mu[k] and on the allocation frequencies. Deliberately wrong conjugate draws
// (alpha ignored; one count off by one), in otherwise identical runs, fail the same checks.
// Fixed seeds throughout.
import { chainsZScore as zScore } from './hmc-helpers';
import { exactAllocationPosterior } from './exact-allocation';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { tf } from '../../../src/tensor';
import { sample } from '../../../src/infer/mcmc';
import { GibbsTarget } from '../../../src/infer/mcmc/gibbs';
import { runSliceChain, sliceDensities } from '../../../src/infer/mcmc/slice';
import {
  conjugateGibbsUpdate, findDirichletCategoricalBlocks, simplexUnconstrainFromLog, type ConjugateTestBias,
} from '../../../src/infer/mcmc/conjugate-gibbs';
import { getTransform } from '../../../src/distributions/transforms';
import type { BoundModel } from '../../../src/model/bound-model';
import { Key } from '../../../src/tensor/random';

beforeAll(async () => {
  await ensureBackend();
});


function expectWithin4(zs: number[], what: string): void {
  for (const z of zs) expect(Math.abs(z), `${what}: z = ${zs.map((x) => x.toFixed(2)).join(', ')}`).toBeLessThan(4);
}

const CHAINS = 4;
// alpha far from 1 so that ignoring it moves E[w[1] | y] by several MCSE.
const ALPHA = [3, 1];
const MIXTURE_W = `
model tiny_w {
  data y: real[N]
  param w: simplex[2]
  param mu: real[2]
  w ~ dirichlet([3.0, 1.0])
  mu ~ normal(0, 2)
  for n in 1..N {
    z[n] ~ categorical(w)
    y[n] ~ normal(mu[z[n]], 1)
  }
}`;
const y = [-1.5, -0.8, 1.2, 2.0];
const PRIOR_VAR = 4;


const exactMixture = () => exactAllocationPosterior(y, PRIOR_VAR, { dirichlet: [ALPHA[0], ALPHA[1]] });

/**
 * Slice + Gibbs run directly with the conjugate draws (optionally wrong ones): CHAINS
 * chains from uniform(-1, 1) inits; returns per chain the constrained w[1], mu and the
 * allocations of the sampling phase.
 */
function runDirect(bound: BoundModel, seed: number, bias?: ConjugateTestBias) {
  const g0 = new GibbsTarget(bound);
  const gs = [g0, ...Array.from({ length: CHAINS - 1 }, () => g0.fork())];
  const dens = sliceDensities(bound, gs, CHAINS);
  const con = bound.constrainedFunction();
  return Array.from({ length: CHAINS }, (_, c) => {
    const initRng = Key.seed(seed).fold(c).rng();
    const init = Float64Array.from({ length: bound.dim }, () => 2 * initRng.uniform() - 1);
    const zs: Int32Array[] = [];
    const r = runSliceChain({ dim: bound.dim, logDensity: dens.logDensity[c] }, {
      init, key: Key.seed(seed).fold(c + 1000), warmup: 300, draws: 1000, metric: 'dense',
      exactUpdate: conjugateGibbsUpdate(bound, gs[c], bias)!,
      beforeTransition: (q, rng, phase) => {
        gs[c].updateLatents(q, rng);
        if (phase === 'sampling') zs.push(gs[c].z.slice());
      },
    });
    return { values: r.draws.map((u) => con.evaluate(u)), zs };
  });
}

describe('conjugate Gibbs: Dirichlet-categorical mixture against its exact 2^N-allocation posterior', () => {
  const ex = exactMixture();
  const model = compile(MIXTURE_W);

  it('finds the block from the IR: w, alpha = [3, 1], latent z', () => {
    const blocks = findDirichletCategoricalBlocks(model.bind({ y }));
    expect(blocks).toHaveLength(1);
    expect(blocks[0].param).toBe('w');
    expect(Array.from(blocks[0].alpha)).toEqual(ALPHA);
    expect(blocks[0].latents).toEqual(['z']);
  });

  /** z-scores of w[1] (2 moments), mu[k] (2 moments each) and P(z[n] = 1), n = 1..N. */
  const checks = (runs: { values: Float64Array[]; zs: Int32Array[] }[], names: string[]): number[] => {
    const col = (name: string) => runs.map((r) => Float64Array.from(r.values, (v) => v[names.indexOf(name)]));
    const zs: number[] = [];
    const w1 = col('w.1');
    zs.push(zScore(w1, ex.w1[0]), zScore(w1.map((c) => c.map((x) => x * x)), ex.w1[1]));
    for (let k = 0; k < 2; k++) {
      const d = col(`mu.${k + 1}`);
      zs.push(zScore(d, ex.mean[k]), zScore(d.map((c) => c.map((x) => x * x)), ex.second[k]));
    }
    for (let n = 0; n < y.length; n++) zs.push(zScore(runs.map((r) => Float64Array.from(r.zs, (zz) => (zz[n] === 1 ? 1 : 0))), ex.pz1[n]));
    return zs;
  };

  it('sample(slice, gibbs) with the conjugate draws: w, mu and the allocations within 4 MCSE', () => {
    const bound = model.bind({ y });
    const fit = sample(bound, { algorithm: 'slice', latents: 'gibbs', chains: CHAINS, warmup: 300, draws: 1000, seed: 21 });
    // w's one unconstrained coordinate (offset 0) is drawn exactly: width 0 in the result.
    expect(fit.chains[0].invMetric[0]).toBe(0);
    const runs = fit.chains.map((c) => ({ values: c.values, zs: c.latents! }));
    expectWithin4(checks(runs, fit.names), 'sample');
  });

  it('run directly (dense directions over mu only) passes; alpha ignored or a count off by one fails', () => {
    const bound = model.bind({ y });
    const names = bound.constrainedFunction().names;
    expectWithin4(checks(runDirect(bound, 22), names), 'correct conjugate draws');
    for (const bias of ['ignore-alpha', 'count-off-by-one'] as const) {
      const zb = checks(runDirect(bound, 22, bias), names);
      expect(zb.some((z) => !(Math.abs(z) < 4)), `${bias} z = ${zb.map((x) => x.toFixed(2)).join(', ')}`).toBe(true);
    }
  });
});

describe('conjugate Gibbs: the float64 simplex inverse', () => {
  it('matches the tensor inverse of the stick-breaking transform (float32 accuracy), and inverts its forward map', () => {
    const t = getTransform({ name: 'simplex' });
    const rng = Key.seed(5).rng();
    for (const K of [2, 3, 5, 8]) {
      for (let rep = 0; rep < 5; rep++) {
        const x = rng.dirichlet(Array.from({ length: K }, () => 0.5 + 2 * rng.uniform()));
        const u = new Float64Array(K + 1);
        // Unnormalised log weights (+ 7): the normalisation must not matter; written at offset 1.
        simplexUnconstrainFromLog(x.map((v) => Math.log(v) + 7), u, 1);
        expect(u[0]).toBe(0);
        const ref = tf.tidy(() => t.inverse(tf.tensor1d(x)).dataSync());
        // Float32 inverse: log x to ~1e-7 relative, so u agrees to ~1e-6 absolute; 1e-4 is generous.
        for (let k = 0; k < K - 1; k++) expect(Math.abs(u[1 + k] - ref[k]), `K ${K} k ${k}`).toBeLessThan(1e-4);
        const back = tf.tidy(() => t.forward(tf.tensor1d(Array.from(u.slice(1, K)))).dataSync());
        for (let k = 0; k < K; k++) expect(Math.abs(back[k] - x[k]), `forward K ${K} k ${k}`).toBeLessThan(1e-5);
      }
    }
    // Tiny weights stay accurate in log space (x ~ 1e-300 would be 0 in float32).
    const u = new Float64Array(2);
    simplexUnconstrainFromLog([-700, -690, 0], u);
    // u_1 = log x_1 - log(x_2 + x_3) + log 2 (x_3 dominates), u_2 = log x_2 - log x_3 + log 1.
    expect(u[0]).toBeCloseTo(-700 - Math.log1p(Math.exp(-690)) + Math.log(2), 10);
    expect(u[1]).toBeCloseTo(-690, 10);
  });

  it('refuses bad input with a RangeError', () => {
    expect(() => simplexUnconstrainFromLog([0], new Float64Array(1))).toThrow(/K >= 2/);
    expect(() => simplexUnconstrainFromLog([0, 0, 0], new Float64Array(1))).toThrow(/no room/);
    expect(() => simplexUnconstrainFromLog([0, NaN], new Float64Array(1))).toThrow(/log weight 1/);
    expect(() => simplexUnconstrainFromLog([Infinity, 0], new Float64Array(1))).toThrow(/log weight 0/);
  });
});

describe('conjugate Gibbs: models without the pattern are untouched', () => {
  const FIXED_W = `
model tiny {
  data y: real[N]
  param mu: real[2]
  mu ~ normal(0, 2)
  for n in 1..N {
    z[n] ~ categorical([0.3, 0.7])
    y[n] ~ normal(mu[z[n]], 1)
  }
}`;
  // w also enters an observation: not only categorical latents, so no exact block.
  const W_ALSO_OBSERVED = `
model tiny_obs {
  data y: real[N]
  data c: int[N]
  param w: simplex[2]
  param mu: real[2]
  w ~ dirichlet([3.0, 1.0])
  mu ~ normal(0, 2)
  for n in 1..N {
    c[n] ~ categorical(w)
    z[n] ~ categorical(w)
    y[n] ~ normal(mu[z[n]], 1)
  }
}`;
  // alpha depends on a parameter: not conjugate given z alone.
  const ALPHA_PARAM = `
model tiny_a {
  data y: real[N]
  param a: positive
  param w: simplex[2]
  param mu: real[2]
  a ~ exponential(1)
  w ~ dirichlet([a, a])
  mu ~ normal(0, 2)
  for n in 1..N {
    z[n] ~ categorical(w)
    y[n] ~ normal(mu[z[n]], 1)
  }
}`;

  it('finds no block, and sample draws are identical with conjugate on and off', () => {
    const cases: [string, Parameters<ReturnType<typeof compile>['bind']>[0]][] = [[FIXED_W, { y }], [W_ALSO_OBSERVED, { y, c: [1, 2, 1, 1] }], [ALPHA_PARAM, { y }]];
    for (const [src, data] of cases) {
      const bound = compile(src).bind(data);
      expect(findDirichletCategoricalBlocks(bound)).toEqual([]);
      expect(conjugateGibbsUpdate(bound, new GibbsTarget(bound))).toBeNull();
      const a = sample(bound, { algorithm: 'slice', latents: 'gibbs', chains: 2, warmup: 20, draws: 10, seed: 9 });
      const b = sample(bound, { algorithm: 'slice', latents: 'gibbs', chains: 2, warmup: 20, draws: 10, seed: 9, conjugate: false });
      expect(a.chains.map((c) => c.unconstrained)).toEqual(b.chains.map((c) => c.unconstrained));
    }
    // With the pattern, the option changes the draws.
    const bound = compile(MIXTURE_W).bind({ y });
    const a = sample(bound, { algorithm: 'slice', latents: 'gibbs', chains: 1, warmup: 20, draws: 10, seed: 9 });
    const b = sample(bound, { algorithm: 'slice', latents: 'gibbs', chains: 1, warmup: 20, draws: 10, seed: 9, conjugate: false });
    expect(a.chains[0].unconstrained).not.toEqual(b.chains[0].unconstrained);
  });

  it('refuses bad options with a RangeError', () => {
    const bound = compile(MIXTURE_W).bind({ y });
    const g = new GibbsTarget(bound);
    expect(() => conjugateGibbsUpdate(bound, g, 'wrong' as ConjugateTestBias)).toThrow(/_bias/);
    expect(() => conjugateGibbsUpdate(compile(MIXTURE_W).bind({ y }), g)).toThrow(/another bound model/);
    const target = { dim: 2, logDensity: () => 0 };
    expect(() => runSliceChain(target, { init: [0, 0], seed: 1, exactUpdate: { coords: [2], draw: () => {} } })).toThrow(/exactUpdate.coords/);
    expect(() => runSliceChain(target, { init: [0, 0], seed: 1, exactUpdate: { coords: [0, 0], draw: () => {} } })).toThrow(/exactUpdate.coords/);
    expect(() => sample(bound, { algorithm: 'slice', latents: 'gibbs', chains: 1, warmup: 5, draws: 5, conjugate: 'yes' as unknown as boolean })).toThrow(/conjugate must be a boolean/);
  });
});
