// The MCMC family end to end on compiled models: exact posteriors of conjugate pairs
// within 4 MCSE (multi-chain MCSE of Vehtari et al. 2021), a reduced SBC of a Bayesian
// two-component mixture with ordered means, the mutation check (a deliberately wrong
// kernel fails the same checks), determinism, and the CmdStan CSV output read back.
import { chainsMomentZScores as zScores } from './hmc-helpers';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample, type SampleOptions } from '../../../src/infer/mcmc';
import { readCmdStanCsv } from '../../../src/output/cmdstan-csv';
import { sbc } from '../../../src/testing';
import { dirichletCategorical, normalKnownVariance, poissonGamma } from '../../../src/testing/exact';
import { Key } from '../../../src/tensor/random';
import { NORMAL_MEAN, POISSON_GAMMA, DIRICHLET_CATEGORICAL } from '../conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const Z = 4;


function expectExact(chains: Float64Array[], exact: { mean: number; variance: number }, label: string): void {
  const { zMean, zVar } = zScores(chains, exact);
  expect(Math.abs(zMean), `${label} mean: z = ${zMean.toFixed(2)}`).toBeLessThan(Z);
  expect(Math.abs(zVar), `${label} variance: z = ${zVar.toFixed(2)}`).toBeLessThan(Z);
}




const MIXTURE = `
model mix2 {
  data y: real[N]
  param w: simplex[2]
  param mu: ordered[2]
  param sigma: positive[2]
  w ~ dirichlet(rep(3.0, 2))
  mu ~ normal(0, 3)
  sigma ~ lognormal(0, 0.3)
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) }
}`;

const RUN: SampleOptions = { chains: 4, warmup: 300, draws: 500, seed: 11 };

describe('NUTS on conjugate models: posterior mean and variance within 4 MCSE', () => {
  const rng = Key.seed(5).rng();
  const y = Array.from({ length: 12 }, () => rng.normal(2.2, 1.5));
  const counts = [3, 0, 5, 2, 7, 4, 1, 3];
  const dice = [1, 2, 2, 3, 1, 2, 2, 1, 2, 2, 3, 2, 1, 2];

  it('normal mean with known variance', () => {
    const fit = sample(compile(NORMAL_MEAN).bind({ y }), RUN);
    expect(fit.traced).toBe(true);
    expectExact(fit.draws('mu'), normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y }), 'mu');
    expect(fit.diagnostics.divergences).toBe(0);
    expect(fit.diagnostics.maxRhat).toBeLessThan(1.01);
  });

  it('Poisson rate with a gamma prior (positive constraint, Jacobian)', () => {
    const fit = sample(compile(POISSON_GAMMA).bind({ y: counts }), RUN);
    expectExact(fit.draws('lambda'), poissonGamma({ shape: 2, rate: 1, y: counts }), 'lambda');
  });

  it('Dirichlet–categorical (simplex constraint)', () => {
    const fit = sample(compile(DIRICHLET_CATEGORICAL).bind({ y: dice }), RUN);
    const exact = dirichletCategorical({ alpha: [1.5, 2.0, 0.8], y: dice });
    for (let k = 0; k < 3; k++) expectExact(fit.draws(`theta.${k + 1}`), { mean: exact.mean[k], variance: exact.variance[k] }, `theta.${k + 1}`);
  });

  it('static HMC also recovers the exact posterior', () => {
    const fit = sample(compile(POISSON_GAMMA).bind({ y: counts }), { ...RUN, algorithm: 'hmc' });
    expectExact(fit.draws('lambda'), poissonGamma({ shape: 2, rate: 1, y: counts }), 'lambda');
  });

  it('random-walk Metropolis (adapted proposal covariance) also recovers the exact posterior', () => {
    const fit = sample(compile(POISSON_GAMMA).bind({ y: counts }), { ...RUN, algorithm: 'mh', draws: 2000 });
    expect(fit.settings.delta).toBe(0.234);
    expectExact(fit.draws('lambda'), poissonGamma({ shape: 2, rate: 1, y: counts }), 'lambda');
    const fit3 = sample(compile(DIRICHLET_CATEGORICAL).bind({ y: dice }), { ...RUN, algorithm: 'mh', draws: 2000 });
    const exact = dirichletCategorical({ alpha: [1.5, 2.0, 0.8], y: dice });
    for (let k = 0; k < 3; k++) expectExact(fit3.draws(`theta.${k + 1}`), { mean: exact.mean[k], variance: exact.variance[k] }, `theta.${k + 1}`);
  });

  it('mutation: a deliberately wrong kernel fails the same check', () => {
    const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const fit = sample(compile(NORMAL_MEAN).bind({ y }), { ...RUN, _testBias: 'acceptance' });
    const { zMean, zVar } = zScores(fit.draws('mu'), exact);
    expect(Math.max(Math.abs(zMean), Math.abs(zVar)), `biased kernel: z = ${zMean.toFixed(2)}, ${zVar.toFixed(2)}`).toBeGreaterThan(Z);
  });
});

describe('NUTS runs', () => {
  const y = [0.1, -0.4, 2.2, 2.9, 3.1, -0.2, 0.3, 2.5, 2.6, 0.0, -0.6, 3.3];
  const model = compile(MIXTURE);

  it('is deterministic given the seed, and chains differ', () => {
    const a = sample(model.bind({ y }), { chains: 2, warmup: 50, draws: 20, seed: 3 });
    const b = sample(model.bind({ y }), { chains: 2, warmup: 50, draws: 20, seed: 3 });
    expect(a.draws('mu.1')).toEqual(b.draws('mu.1'));
    expect(a.draws('mu.1')[0]).not.toEqual(a.draws('mu.1')[1]);
  });

  it('keeps constraints in every draw (simplex, ordered, positive)', () => {
    const fit = sample(model.bind({ y }), { chains: 2, warmup: 100, draws: 100, seed: 4 });
    for (const c of fit.chains) {
      for (const v of c.values) {
        const [w1, w2, mu1, mu2, s1, s2] = v;
        expect(Math.abs(w1 + w2 - 1)).toBeLessThan(1e-12);
        expect(mu1).toBeLessThan(mu2);
        expect(Math.min(w1, w2, s1, s2)).toBeGreaterThan(0);
      }
    }
  });

  it('starts from given initial values, and refuses ones outside the support', () => {
    const fit = sample(model.bind({ y }), { chains: 1, warmup: 0, draws: 1, stepsize: 1e-8, seed: 1, init: { w: [0.5, 0.5], mu: [0, 3], sigma: [1, 1] } });
    // unconstrain runs in float32: the start is 3 to ~1e-5.
    expect(fit.draws('mu.2')[0][0]).toBeCloseTo(3, 3);
    expect(() => sample(model.bind({ y }), { chains: 1, warmup: 10, draws: 10, init: { w: [0.5, 0.5], mu: [3, 0], sigma: [1, 1] } })).toThrow(/mu/);
  });

  it('writes CmdStan CSV that reads back to the same draws', () => {
    const fit = sample(model.bind({ y }), { chains: 2, warmup: 60, draws: 30, seed: 2 });
    const csv = readCmdStanCsv(fit.toCmdStanCsv(1));
    expect(csv.columns.slice(0, 7)).toEqual(['lp__', 'accept_stat__', 'stepsize__', 'treedepth__', 'n_leapfrog__', 'divergent__', 'energy__']);
    const j = csv.columns.indexOf('sigma.2');
    expect(j).toBeGreaterThan(6);
    const mine = fit.draws('sigma.2')[1];
    mine.forEach((x, i) => expect(Math.abs(csv.draws[i][j] - x)).toBeLessThanOrEqual(Math.abs(x) * 1e-5));
  });

  it('rejects bad options with a message naming them', () => {
    expect(() => sample(model.bind({ y }), { chains: 0 })).toThrow(/chains/);
    expect(() => sample(model.bind({ y }), { draws: 1.5 })).toThrow(/draws/);
  });

  it('the tensor path gives the same kind of answer (few iterations)', () => {
    const fit = sample(compile(NORMAL_MEAN).bind({ y }), { chains: 1, warmup: 20, draws: 10, tensorPath: true, seed: 1 });
    expect(fit.traced).toBe(false);
    for (const x of fit.draws('mu')[0]) expect(Number.isFinite(x)).toBe(true);
  });
});

describe('SBC of a Bayesian two-component mixture with ordered means (reduced; the full run is in test/slow)', () => {
  it('ranks are uniform over 40 replications', async () => {
    const model = compile(MIXTURE);
    const res = await sbc(model, (m, data, seed) => {
      const fit = sample(m.bind(data), { chains: 2, warmup: 200, draws: 150, seed });
      return { draws: Object.fromEntries(['w', 'mu', 'sigma'].map((p) => [p, fit.paramDraws(p)])) };
    }, { data: { N: 25 }, replications: 40, L: 15, seed: 2024 });
    expect(res.failed, JSON.stringify(res.adjusted)).toEqual([]);
  }, 120_000);
});
