/**
 * Slow tier: simulation-based calibration (Talts et al. 2018) of the JAGS-style sampler with
 * exact normal-mixture draws (src/infer/mcmc/conjugate-normal.ts), end to end: a Bayesian 1-D
 * two-component mixture with ordered means, w ~ dirichlet([3, 3]), mu: ordered[2] ~ normal(0, 3),
 * sigma[k] ~ half_normal(1), N = 25, R = 500, each replication running
 * `sample(..., { algorithm: 'slice', latents: 'gibbs' })` with 2 chains × (300 warm-up + 300
 * draws), in both ordered updates: 'sort' (draw unordered, sort, relabel: the default where the
 * model is exchangeable in the labels, as here) and 'truncated' (exact truncated-normal draws
 * between neighbours). The 600 draws are thinned evenly to L = 39.
 *
 * Decision as test/slow/mcmc-sbc.test.ts: per element a chi-square test of the binned ranks and a
 * KS test of the randomised PIT; Holm over all of them (2 updates × 6 elements × 2 tests = 24)
 * at family-wise alpha 0.01; never re-run. Writes test/slow/results/mcmc-gibbs-sbc.json and one
 * ECDF-difference plot per update.
 *
 *   MIXPPL_SLOW=1 npx vitest run test/slow/mcmc-gibbs-sbc.test.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile';
import { sample } from '../../src/infer/mcmc';
import { findNormalMixtureBlocks } from '../../src/infer/mcmc/conjugate-normal';
import { useBackend } from '../../src/tensor';
import { ecdfBandSvg, ecdfCheck } from '../../src/testing/ecdf';
import { sbc, sbcJson, type SbcResult } from '../../src/testing/sbc';
import { holm } from '../../src/testing/stats';
import { MIXTURE } from './gibbs-mixture';


const SEED = 20261203;
const ALPHA = 0.01;
const N = 25;
const R = 500;
const L = 39;
const SAMPLER = { chains: 2, warmup: 300, draws: 300, algorithm: 'slice', latents: 'gibbs' } as const;
const UPDATES = ['sort', 'truncated'] as const;
const PARAMS = ['w', 'mu', 'sigma'];
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');
const slow = process.env.MIXPPL_SLOW === '1';

describe.skipIf(!slow)('SBC of slice + Gibbs with exact normal-mixture draws (slow tier)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('ranks are uniform for both ordered updates (Holm over all, alpha 0.01)', async () => {
    const model = compile(MIXTURE);
    // The block this file is about must be the one that runs (and be exchangeable, so 'sort' applies).
    const blocks = findNormalMixtureBlocks(model.bind({ N, y: Array.from({ length: N }, (_, i) => i / 5) }));
    expect(blocks.length).toBe(1);
    expect(blocks[0].exchangeable).toBe(true);
    const results: Record<string, { result: SbcResult; maxRhat: number[] }> = {};
    for (const orderedUpdate of UPDATES) {
      const maxRhat: number[] = [];
      const result = await sbc(model, (m, data, seed) => {
        const fit = sample(m.bind(data), { ...SAMPLER, orderedUpdate, seed });
        maxRhat.push(Math.max(...fit.summary().filter((r) => r.name !== 'lp__').map((r) => r.rhat)));
        return { draws: Object.fromEntries(PARAMS.map((p) => [p, fit.paramDraws(p)])) };
      }, { data: { N }, replications: R, L, seed: SEED, alpha: ALPHA, params: PARAMS });
      results[orderedUpdate] = { result, maxRhat };
    }
    const keys: { update: string; element: string; test: 'chi2' | 'ks' }[] = [];
    const ps: number[] = [];
    for (const u of UPDATES) {
      for (const [element, p] of Object.entries(results[u].result.pValues)) {
        keys.push({ update: u, element, test: 'chi2' }, { update: u, element, test: 'ks' });
        ps.push(p.chi2, p.ks);
      }
    }
    const adj = holm(ps);
    const adjusted: Record<string, Record<string, { chi2: number; ks: number }>> = {};
    keys.forEach((k, i) => { ((adjusted[k.update] ??= {})[k.element] ??= { chi2: NaN, ks: NaN })[k.test] = adj[i]; });
    const failed = [...new Set(keys.filter((_, i) => adj[i] < ALPHA).map((k) => `${k.update}: ${k.element}`))];

    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'mcmc-gibbs-sbc.json'), sbcJson({
      test: 'mcmc-gibbs-sbc',
      date: new Date().toISOString(),
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`,
      model: 'w ~ dirichlet([3, 3]), mu: ordered[2] ~ normal(0, 3), sigma[k] ~ half_normal(1), y[1..25] ~ mixture(w, normal(mu[k], sigma[k]))',
      seed: SEED, alpha: ALPHA, sampler: SAMPLER, replications: R, L,
      multipleTesting: `Holm over all ${ps.length} tests (chi-square and KS per element, both updates) at family-wise alpha ${ALPHA}`,
      failed,
      updates: Object.fromEntries(UPDATES.map((u) => {
        const { result: r, maxRhat } = results[u];
        const sorted = maxRhat.slice().sort((a, b) => a - b);
        return [u, {
          pValues: r.pValues, adjusted: adjusted[u], ranks: r.ranks,
          insideEcdfBand: Object.fromEntries(Object.entries(ecdfCheck(r.ranks, r.L, { seed: SEED })).map(([k, e]) => [k, e.inside])),
          maxRhat: { median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1], above1_05: maxRhat.filter((x) => x > 1.05).length },
          seconds: r.seconds,
        }];
      })),
    }));
    for (const u of UPDATES) {
      const r = results[u].result;
      writeFileSync(join(RESULTS, `mcmc-gibbs-sbc-${u}.svg`), ecdfBandSvg(r.ranks, r.L, { seed: SEED, columns: 3, title: `SBC of slice + Gibbs ('${u}'), ordered mixture (R = ${r.replications}, L = ${r.L})` }));
    }
    expect(failed, JSON.stringify(adjusted)).toEqual([]);
  }, 3_600_000);
});
