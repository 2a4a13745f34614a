/**
 * Slow tier: simulation-based calibration (Talts et al. 2018) of the NUTS sampler, end to
 * end — warm-up, adaptation and all — on three compiled models, each replication running
 * `sample` with 2 chains × (300 warm-up + 300 draws):
 *
 *  - a Bayesian 1-D two-component mixture with ordered means (N = 25), R = 500;
 *  - the Poisson–gamma model (positive constraint), R = 500;
 *  - the conjugate normal mean, R = 500.
 *
 * The 600 draws of a replication are thinned evenly to L (39 for the mixture, 99 for the
 * one-parameter models) so the ranked draws are nearly independent: the thinning interval
 * 600/L is beyond 600/ESS for (almost) every replication; the JSON records the bulk-ESS
 * distribution over replications and how many fell below L + 1.
 *
 * Decision: per element a chi-square test of the binned ranks and a KS test of the
 * randomised PIT (sbc); Holm's correction over ALL of them, the three models together
 * (2 × 8 elements = 16 tests), at family-wise alpha = 0.01. So a correct sampler fails
 * this file by chance with probability <= 0.01; it is never re-run. Writes
 * test/slow/results/mcmc-sbc.json and one ECDF-difference plot per model
 * (mcmc-sbc-<model>.svg).
 *
 *   MIXPPL_SLOW=1 npx vitest run test/slow/mcmc-sbc.test.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile';
import type { Model } from '../../src/model/model';
import { sample } from '../../src/infer/mcmc';
import { useBackend } from '../../src/tensor';
import { ecdfBandSvg, ecdfCheck } from '../../src/testing/ecdf';
import { sbc, sbcJson, type SbcResult } from '../../src/testing/sbc';
import { holm } from '../../src/testing/stats';

const MIXTURE = `
model mix2 {
  data N: int
  data y: real[N]
  param w: simplex[2]
  param mu: ordered[2]
  param sigma: positive[2]
  w ~ dirichlet(rep(3.0, 2))
  mu ~ normal(0, 3)
  sigma ~ lognormal(0, 0.3)
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) }
}`;

const POISSON_GAMMA = `
model rates {
  data N: int
  data y: int[N]
  param lambda: positive
  lambda ~ gamma(2, 1)
  y ~ poisson(lambda)
}`;

const NORMAL_MEAN = `
model normal_mean {
  data N: int
  data y: real[N]
  param mu: real
  mu ~ normal(1, 2)
  for n in 1..N { y[n] ~ normal(mu, 1.5) }
}`;

const SEED = 20251;
const ALPHA = 0.01;
const SAMPLER = { chains: 2, warmup: 300, draws: 300 } as const;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

interface Case {
  name: string;
  description: string;
  source: string;
  data: { N: number };
  params: string[];
  replications: number;
  L: number;
}

const CASES: Case[] = [
  {
    name: 'mixture',
    description: 'w ~ dirichlet([3, 3]), mu: ordered[2] ~ normal(0, 3), sigma[k] ~ lognormal(0, 0.3), y[1..25] ~ mixture(w, normal(mu[k], sigma[k]))',
    source: MIXTURE, data: { N: 25 }, params: ['w', 'mu', 'sigma'], replications: 500, L: 39,
  },
  {
    name: 'poisson-gamma',
    description: 'lambda ~ gamma(2, 1), y[1..10] ~ poisson(lambda)',
    source: POISSON_GAMMA, data: { N: 10 }, params: ['lambda'], replications: 500, L: 99,
  },
  {
    name: 'normal-mean',
    description: 'mu ~ normal(1, 2), y[1..10] ~ normal(mu, 1.5)',
    source: NORMAL_MEAN, data: { N: 10 }, params: ['mu'], replications: 500, L: 99,
  },
];

/** Sampler health of one replication. */
interface FitStats { minEssBulk: number; minEssTail: number; maxRhat: number; divergences: number }

function quantile(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
}

const slow = process.env.MIXPPL_SLOW === '1';
const models = new Map<string, Model>();

describe.skipIf(!slow)('SBC of NUTS (slow tier)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    for (const c of CASES) models.set(c.name, compile(c.source));
  });

  it('ranks are uniform for the ordered mixture, Poisson–gamma and normal mean (Holm over all, alpha 0.01)', async () => {
    const results: Record<string, { result: SbcResult; fits: FitStats[] }> = {};
    for (const c of CASES) {
      const fits: FitStats[] = [];
      const result = await sbc(models.get(c.name)!, (m, data, seed) => {
        const fit = sample(m.bind(data), { ...SAMPLER, seed });
        // Over the parameter elements (lp__ left out: the draws ranked are the parameters').
        const rows = fit.summary().filter((r) => r.name !== 'lp__');
        fits.push({
          minEssBulk: Math.min(...rows.map((r) => r.essBulk)),
          minEssTail: Math.min(...rows.map((r) => r.essTail)),
          maxRhat: Math.max(...rows.map((r) => r.rhat)),
          divergences: fit.diagnostics.divergences,
        });
        return { draws: Object.fromEntries(c.params.map((p) => [p, fit.paramDraws(p)])) };
      }, { data: c.data, replications: c.replications, L: c.L, seed: SEED, alpha: ALPHA, params: c.params });
      results[c.name] = { result, fits };
    }

    // One Holm family over every (model, element, test) p-value.
    const keys: { model: string; element: string; test: 'chi2' | 'ks' }[] = [];
    const ps: number[] = [];
    for (const c of CASES) {
      for (const [element, p] of Object.entries(results[c.name].result.pValues)) {
        keys.push({ model: c.name, element, test: 'chi2' }, { model: c.name, element, test: 'ks' });
        ps.push(p.chi2, p.ks);
      }
    }
    const adj = holm(ps);
    const globalAdjusted: Record<string, Record<string, { chi2: number; ks: number }>> = {};
    keys.forEach((k, i) => {
      ((globalAdjusted[k.model] ??= {})[k.element] ??= { chi2: NaN, ks: NaN })[k.test] = adj[i];
    });
    const failed = [...new Set(keys.filter((_, i) => adj[i] < ALPHA).map((k) => `${k.model}: ${k.element}`))];

    mkdirSync(RESULTS, { recursive: true });
    const summary = {
      test: 'mcmc-sbc',
      date: new Date().toISOString(),
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`,
      seed: SEED,
      alpha: ALPHA,
      sampler: { algorithm: 'nuts', metric: 'diag', ...SAMPLER },
      multipleTesting: `Holm over all ${ps.length} tests (chi-square and KS per element, all models) at family-wise alpha ${ALPHA}`,
      failed,
      seconds: Object.values(results).reduce((a, r) => a + r.result.seconds, 0),
      models: Object.fromEntries(CASES.map((c) => {
        const { result: r, fits } = results[c.name];
        const ess = fits.map((f) => f.minEssBulk);
        return [c.name, {
          model: c.description,
          data: c.data,
          replications: r.replications,
          L: r.L,
          drawsPerReplication: SAMPLER.chains * SAMPLER.draws,
          thinningInterval: (SAMPLER.chains * SAMPLER.draws) / r.L,
          pValues: r.pValues,
          adjustedWithinModel: r.adjusted,
          adjusted: globalAdjusted[c.name],
          failedWithinModel: r.failed,
          ranks: r.ranks,
          insideEcdfBand: Object.fromEntries(Object.entries(ecdfCheck(r.ranks, r.L, { seed: SEED })).map(([k, e]) => [k, e.inside])),
          sampler: {
            minEssBulk: { min: Math.min(...ess), q10: quantile(ess, 0.1), median: quantile(ess, 0.5) },
            replicationsWithMinEssBulkBelowLPlus1: ess.filter((e) => e < r.L + 1).length,
            minEssTail: { min: Math.min(...fits.map((f) => f.minEssTail)), median: quantile(fits.map((f) => f.minEssTail), 0.5) },
            maxRhat: { max: Math.max(...fits.map((f) => f.maxRhat)), median: quantile(fits.map((f) => f.maxRhat), 0.5) },
            replicationsWithRhatAbove1_05: fits.filter((f) => f.maxRhat > 1.05).length,
            divergentTransitions: fits.reduce((a, f) => a + f.divergences, 0),
            replicationsWithDivergences: fits.filter((f) => f.divergences > 0).length,
          },
          seconds: r.seconds,
        }];
      })),
    };
    writeFileSync(join(RESULTS, 'mcmc-sbc.json'), sbcJson(summary));
    for (const c of CASES) {
      const r = results[c.name].result;
      writeFileSync(join(RESULTS, `mcmc-sbc-${c.name}.svg`), ecdfBandSvg(r.ranks, r.L, { seed: SEED, columns: 3, title: `SBC of NUTS, ${c.name} (R = ${r.replications}, L = ${r.L})` }));
    }

    for (const c of CASES) expect(Object.keys(results[c.name].result.ranks).length).toBeGreaterThan(0);
    expect(failed, JSON.stringify(globalAdjusted)).toEqual([]);
  }, 1_800_000);
});
