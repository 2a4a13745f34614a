// Coordinate-wise slice sampling (src/infer/mcmc/slice.ts), with the latents summed out and
// JAGS-style with the latents drawn exactly (latents: 'gibbs'), against exact posteriors:
// the conjugate models of test/infer/conjugate-models.ts (src/testing/exact.ts) and a small
// mixture whose posterior is summed over all 2^N allocations in float64 here. Every check is
// |mean of draws - exact| < 4 MCSE (multi-chain MCSE of Vehtari et al. 2021, so a correct
// sampler fails one check with probability ~6e-5), on the first and second moments. The
// deliberately wrong kernels (no shrinkage; latents never redrawn), in otherwise identical
// runs, fail the same checks. Fixed seeds throughout.
import { chainsZScore as zScore } from './hmc-helpers';
import { exactAllocationPosterior } from './exact-allocation';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample } from '../../../src/infer/mcmc';
import { GibbsTarget } from '../../../src/infer/mcmc/gibbs';
import { runSliceChain, sliceDensities, sliceTransitionKernel, type SliceTestBias } from '../../../src/infer/mcmc/slice';
import { geweke, type GewekeOptions, type GewekeResult } from '../../../src/testing/geweke';
import { expectGewekePasses } from '../../../src/testing/vitest';
import type { BoundModel } from '../../../src/model/bound-model';
import { Key } from '../../../src/tensor/random';
import { dirichletCategorical, normalKnownVariance, poissonGamma } from '../../../src/testing/exact';
import { DIRICHLET_CATEGORICAL, NORMAL_MEAN, POISSON_GAMMA } from '../conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});


/** Checks the mean and second moment of one quantity's draws; returns the two z-scores. */
function moments(chains: Float64Array[], mean: number, variance: number): [number, number] {
  return [zScore(chains, mean), zScore(chains.map((c) => c.map((x) => x * x)), variance + mean * mean)];
}

function expectWithin4(zs: number[], what: string): void {
  for (const z of zs) expect(Math.abs(z), `${what}: z = ${zs.map((x) => x.toFixed(2)).join(', ')}`).toBeLessThan(4);
}

const CHAINS = 4;

/**
 * The slice kernel run directly (as `sample` does, with a test bias available): CHAINS
 * chains from uniform(-1, 1) inits; with `gibbs`, each chain's latents are drawn before
 * every sweep and recorded in the sampling phase.
 */
function runDirect(bound: BoundModel, gibbs: boolean, seed: number, warmup: number, draws: number, bias?: SliceTestBias) {
  const g0 = gibbs ? new GibbsTarget(bound) : null;
  const gs = g0 ? [g0, ...Array.from({ length: CHAINS - 1 }, () => g0.fork())] : null;
  const dens = sliceDensities(bound, gs, CHAINS);
  return Array.from({ length: CHAINS }, (_, c) => {
    const initRng = Key.seed(seed).fold(c).rng();
    const init = Float64Array.from({ length: bound.dim }, () => 2 * initRng.uniform() - 1);
    const zs: Int32Array[] = [];
    const r = runSliceChain({ dim: bound.dim, logDensity: dens.logDensity[c] }, {
      init, key: Key.seed(seed).fold(c + 1000), warmup, draws, _sliceBias: bias,
      beforeTransition: gs ? (q, rng, phase) => {
        gs[c].updateLatents(q, rng);
        if (phase === 'sampling') zs.push(gs[c].z.slice());
      } : undefined,
    });
    return { draws: r.draws, zs };
  });
}

describe('slice: conjugate posteriors (latents none)', () => {
  it('normal mean: mean and second moment within 4 MCSE; without shrinkage it fails', () => {
    const y = [0.3, 2.1, 1.4, -0.6, 1.9, 0.8, 1.1];
    const ex = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const bound = compile(NORMAL_MEAN).bind({ y });
    const fit = sample(bound, { algorithm: 'slice', chains: CHAINS, warmup: 300, draws: 1000, seed: 3 });
    expect(fit.settings.algorithm).toBe('slice');
    expect(fit.diagnostics.divergences).toBe(0);
    expectWithin4(moments(fit.draws('mu'), ex.mean, ex.variance), 'sample(slice) mu');
    // The same kernel run directly, correct and without shrinkage (mu is unconstrained).
    const ok = runDirect(bound, false, 4, 300, 1000);
    expectWithin4(moments(ok.map((c) => Float64Array.from(c.draws, (d) => d[0])), ex.mean, ex.variance), 'direct mu');
    const bad = runDirect(bound, false, 4, 300, 1000, 'no-shrink');
    const zb = moments(bad.map((c) => Float64Array.from(c.draws, (d) => d[0])), ex.mean, ex.variance);
    expect(Math.max(...zb.map(Math.abs)), `no-shrink z = ${zb.map((x) => x.toFixed(2)).join(', ')}`).toBeGreaterThan(4);
  });

  it('poisson-gamma: lambda within 4 MCSE', () => {
    const y = [3, 1, 4, 1, 5, 2, 0, 3];
    const ex = poissonGamma({ shape: 2, rate: 1, y });
    const fit = sample(compile(POISSON_GAMMA).bind({ y }), { algorithm: 'slice', chains: CHAINS, warmup: 300, draws: 1000, seed: 5 });
    expectWithin4(moments(fit.draws('lambda'), ex.mean, ex.variance), 'lambda');
  });

  it('dirichlet-categorical: every theta within 4 MCSE', () => {
    const y = [1, 2, 2, 3, 2, 1, 2, 2, 1, 3];
    const ex = dirichletCategorical({ alpha: [1.5, 2.0, 0.8], y });
    const fit = sample(compile(DIRICHLET_CATEGORICAL).bind({ y }), { algorithm: 'slice', chains: CHAINS, warmup: 300, draws: 1000, seed: 6 });
    for (let k = 0; k < 3; k++) expectWithin4(moments(fit.draws(`theta.${k + 1}`), ex.mean[k], ex.variance[k]), `theta.${k + 1}`);
  });
});

const MIXTURE = `
model tiny {
  data y: real[N]
  param mu: real[2]
  mu ~ normal(0, 2)
  for n in 1..N {
    z[n] ~ categorical([0.3, 0.7])
    y[n] ~ normal(mu[z[n]], 1)
  }
}`;
const y = [-1.5, -0.8, 1.2, 2.0];
const PRIOR_VAR = 4;
const P = [0.3, 0.7];

const exactMixture = () => exactAllocationPosterior(y, PRIOR_VAR, { fixed: P });

describe('slice: a small mixture against its exact 2^N-allocation posterior', () => {
  const ex = exactMixture();
  const model = compile(MIXTURE);

  for (const latents of ['marginalize', 'gibbs'] as const) {
    it(`${latents}: mean and second moment of mu within 4 MCSE`, () => {
      const fit = sample(model.bind({ y }), { algorithm: 'slice', latents, chains: CHAINS, warmup: 300, draws: 1000, seed: 17 });
      for (let k = 0; k < 2; k++) {
        const d = fit.draws(`mu.${k + 1}`);
        expectWithin4([zScore(d, ex.mean[k]), zScore(d.map((c) => c.map((x) => x * x)), ex.second[k])], `mu.${k + 1}`);
      }
    });
  }

  it('gibbs: the drawn allocations have the exact posterior frequencies (within 4 MCSE)', () => {
    const fit = sample(model.bind({ y }), { algorithm: 'slice', latents: 'gibbs', chains: CHAINS, warmup: 300, draws: 1000, seed: 18 });
    expect(fit.latentNames).toEqual(['z.1', 'z.2', 'z.3', 'z.4']);
    for (let n = 0; n < y.length; n++) {
      const ind = fit.chains.map((c) => Float64Array.from(c.latents!, (zz) => (zz[n] === 1 ? 1 : 0)));
      expectWithin4([zScore(ind, ex.pz1[n])], `P(z[${n + 1}] = 1)`);
    }
  });

  it('gibbs run directly passes; with the latents never redrawn after the first sweep it fails', () => {
    const bound = model.bind({ y });
    const check = (bias?: SliceTestBias) => {
      const runs = runDirect(bound, true, 19, 300, 1000, bias);
      const zs: number[] = [];
      for (let k = 0; k < 2; k++) {
        const d = runs.map((r) => Float64Array.from(r.draws, (q) => q[k]));
        zs.push(zScore(d, ex.mean[k]), zScore(d.map((c) => c.map((x) => x * x)), ex.second[k]));
      }
      for (let n = 0; n < y.length; n++) zs.push(zScore(runs.map((r) => Float64Array.from(r.zs, (zz) => (zz[n] === 1 ? 1 : 0))), ex.pz1[n]));
      return zs;
    };
    expectWithin4(check(), 'correct kernel');
    // A frozen allocation makes the indicator chains constant (MCSE 0 or NaN: |z| infinite
    // or NaN) and mu's moments those of one allocation: some check must fail.
    const zb = check('skip-latents');
    expect(zb.some((z) => !(Math.abs(z) < 4)), `skip-latents z = ${zb.map((x) => x.toFixed(2)).join(', ')}`).toBe(true);
  });
});

describe('slice: bad options', () => {
  const bound = () => compile(NORMAL_MEAN).bind({ y: [0.1, 0.2] });
  const target = { dim: 1, logDensity: (u: Float64Array) => -0.5 * u[0] * u[0] };

  it('runSliceChain refuses bad options with a RangeError naming the option', () => {
    expect(() => runSliceChain(target, { init: [0], seed: 1, warmup: -1 })).toThrow(/runSliceChain: warmup/);
    expect(() => runSliceChain(target, { init: [0], seed: 1, draws: 1.5 })).toThrow(/runSliceChain: draws/);
    expect(() => runSliceChain(target, { init: [0], seed: 1, stepsize: 0 })).toThrow(/runSliceChain: stepsize/);
    expect(() => runSliceChain(target, { init: [0], seed: 1, stepsize: NaN })).toThrow(RangeError);
    expect(() => runSliceChain(target, { init: [0], seed: 1, maxSteppingOut: 0 })).toThrow(/maxSteppingOut/);
    expect(() => runSliceChain(target, { init: [0, 1], seed: 1 })).toThrow(/init must have length/);
    expect(() => runSliceChain(target, { init: [NaN], seed: 1 })).toThrow(/init\[0\]/);
    expect(() => runSliceChain(target, { init: [0] })).toThrow(/seed or a key/);
    expect(() => runSliceChain({ dim: 1, logDensity: () => -Infinity }, { init: [0], seed: 1 })).toThrow(/not finite/);
    expect(() => runSliceChain(target, { init: [0], seed: 1, _sliceBias: 'wrong' as SliceTestBias })).toThrow(/_sliceBias/);
  });

  it('sample(slice) is deterministic given the seed and runs on the tensor evaluator too', () => {
    const a = sample(bound(), { algorithm: 'slice', chains: 2, warmup: 20, draws: 10, seed: 9 });
    const b = sample(bound(), { algorithm: 'slice', chains: 2, warmup: 20, draws: 10, seed: 9 });
    expect(a.draws('mu')).toEqual(b.draws('mu'));
    expect(a.traced).toBe(true);
    expect(a.chains[0].stats.every((s) => s.divergent === 0 && s.n_leapfrog >= 3)).toBe(true);
    const t = sample(bound(), { algorithm: 'slice', chains: 1, warmup: 10, draws: 10, seed: 9, tensorPath: true });
    expect(t.traced).toBe(false);
    expect(t.draws('mu')[0].every(Number.isFinite)).toBe(true);
  });

  it('sample(slice) refuses bad options with a RangeError', () => {
    expect(() => sample(bound(), { algorithm: 'slice', chains: 1, warmup: 5, draws: 5, stepsize: -1 })).toThrow(RangeError);
    expect(() => sample(bound(), { algorithm: 'slice', chains: 0 })).toThrow(/chains/);
    expect(() => sample(bound(), { algorithm: 'slice', latents: 'gibbs', chains: 1, warmup: 5, draws: 5 })).toThrow(/no discrete latents/);
    expect(() => sample(bound(), { algorithm: 'slice', latents: 'bogus' as 'gibbs' })).toThrow(/latents must be/);
    expect(() => sample(bound(), { algorithm: 'slicer' as 'slice', chains: 1, warmup: 5, draws: 5 })).toThrow(/algorithm/);
  });
});

describe('slice: Geweke joint-distribution test of one fixed-width sweep', () => {
  // Geweke (2004): marginal-conditional against successive-conditional draws of (mu, y) for
  // mu ~ normal(0, 1), y ~ normal(mu, 1), N = 3, with Holm over mu and mu^2 at family-wise
  // alpha 0.01 (a correct kernel fails with probability <= 0.01 at this fixed seed).
  const NORMAL = `
model normal_mean {
  data N: int
  data y: real[N]
  param mu: real
  mu ~ normal(0, 1)
  y ~ normal(mu, 1)
}`;
  const opts: GewekeOptions = { data: { N: 3 }, samples: 3000, iterations: 3000, burnIn: 100, stepsPerData: 2, seed: 41 };
  const zs = (r: GewekeResult) => Object.entries(r.tests).map(([k, t]) => `${k}: z = ${t.z.toFixed(2)}`).join('; ');

  it('the slice sweep passes; without shrinkage it fails (over-dispersed: E[mu^2] too large)', () => {
    const model = compile(NORMAL);
    const r = geweke(model, sliceTransitionKernel({ width: 1 }), opts);
    expect(Object.keys(r.tests)).toEqual(['mu', 'mu^2']);
    expectGewekePasses(r);
    const bad = geweke(model, sliceTransitionKernel({ width: 1, _sliceBias: 'no-shrink' }), opts);
    expect(bad.failed, zs(bad)).toContain('mu^2');
    expect(bad.tests['mu^2'].successiveMean).toBeGreaterThan(bad.tests['mu^2'].marginalMean);
  });

  it('sliceTransitionKernel refuses bad widths', () => {
    expect(() => sliceTransitionKernel({ width: 0 })).toThrow(/width\[0\] must be positive/);
    expect(() => sliceTransitionKernel({ width: 1, maxSteppingOut: 0 })).toThrow(/sliceTransitionKernel: maxSteppingOut/);
    const bound = compile(NORMAL).bind({ N: 2, y: [0.1, 0.2] });
    expect(() => sliceTransitionKernel({ width: [1, 1] }).init(bound, Float64Array.of(0), 0)).toThrow(/width has 2 entries/);
  });
});
