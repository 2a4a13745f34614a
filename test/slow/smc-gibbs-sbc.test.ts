/**
 * Slow tier: simulation-based calibration (Talts et al. 2018) of SMC by data annealing with
 * exact Gibbs moves (`smc(..., { rejuvenation: { kernel: 'gibbs' } })`,
 * src/infer/smc/gibbs-data.ts), end to end on the model of test/slow/mcmc-gibbs-sbc.test.ts:
 * a Bayesian 1-D two-component mixture with ordered means, w ~ dirichlet([3, 3]),
 * mu: ordered[2] ~ normal(0, 3), sigma[k] ~ half_normal(1), N = 25, R = 500, in two
 * configurations: the plain kernel (resample–move, one Gibbs transition per particle per
 * stage) and waste-free (`wasteFree: { chainLength: 10 }`). 2000 particles per run (one
 * smc run took ~0.15 s for either configuration on the shared 2-core machine; the whole file
 * took 208 s there). The L = 99 draws ranked are resampled from the final weighted
 * particles exactly as test/slow/smc-vi-sbc.test.ts does (multinomial, with a stream of the
 * replication's seed; see `smcDraws` there for why the ranks stay uniform when the weighted
 * cloud is consistent, and what finite-particle bias they detect). Waste-free particles of
 * one chain are correlated, but the L draws are i.i.d. from the weighted empirical measure
 * all the same, so the argument is unchanged.
 *
 * Decision as the other SBC files: per element a chi-square test of the binned ranks and a KS
 * test of the randomised PIT; Holm over all of them (2 configurations × 6 elements × 2 tests
 * = 24) at family-wise alpha 0.01; never re-run with another seed. Each replication's log Ẑ,
 * number of stages and final weight ESS are recorded, and every log Ẑ, particle value and
 * weight must be a number (no NaN; log Ẑ finite). Writes test/slow/results/smc-gibbs-sbc.json
 * and one ECDF-difference plot per configuration (smc-gibbs-sbc-<config>.svg).
 *
 * Power, checked by hand on copies of this file (results not kept): sigma draws scaled by 1.1
 * are rejected at R = 200 (both configurations, both sigma elements). The test-only stale
 * kernel (`_testBias: 'kernel-beta'`: each stage's moves target the previous stage's rows) is
 * NOT rejected, at R = 200 nor at R = 500 (smallest adjusted p 0.12): the cloud it leaves lies
 * between two posteriors given fewer or all rows, each of them calibrated, so SBC is nearly
 * blind to it. test/infer/smc-gibbs.test.ts catches it against exact posterior means.
 *
 *   MIXPPL_SLOW=1 npx vitest run test/slow/smc-gibbs-sbc.test.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile';
import type { DataInput } from '../../src/model/data';
import type { Model } from '../../src/model/model';
import { effectiveSize, multinomialResample, smc, type SmcOptions } from '../../src/infer/smc';
import { gibbsSmcPlan } from '../../src/infer/smc/gibbs-data';
import { useBackend } from '../../src/tensor';
import { Key } from '../../src/tensor/random';
import { ecdfBandSvg, ecdfCheck } from '../../src/testing/ecdf';
import { sbc, sbcJson, type SbcResult } from '../../src/testing/sbc';
import { holm } from '../../src/testing/stats';
import { MIXTURE } from './gibbs-mixture';


const SEED = 20261205;
const ALPHA = 0.01;
const N = 25;
const R = 500;
const L = 99;
const PARTICLES = 2000;
const CONFIGS: Record<string, SmcOptions> = {
  plain: { rejuvenation: { kernel: 'gibbs' } },
  'waste-free': { rejuvenation: { kernel: 'gibbs' }, wasteFree: { chainLength: 10 } },
};
const PARAMS = ['w', 'mu', 'sigma'];
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');
const slow = process.env.MIXPPL_SLOW === '1';

/** Per-replication SMC diagnostics. */
interface SmcStats { stages: number; finalEss: number; logZ: number; nonNumbers: number }

/**
 * L posterior draws per parameter from the final weighted particles: multinomial resampling
 * with a stream of the replication's seed apart from smc's own, as smc-vi-sbc.test.ts.
 */
function smcDraws(model: Model, data: DataInput, seed: number, opts: SmcOptions, stats: SmcStats[]): Record<string, Float64Array[]> {
  const bound = model.bind(data);
  const res = smc(model, bound, { ...opts, particles: PARTICLES, seed, data: { N: data.N as number } });
  bound.dispose();
  let nonNumbers = 0;
  for (const p of res.particles) for (const v of p) if (Number.isNaN(v)) nonNumbers++;
  for (const v of res.weights) if (Number.isNaN(v)) nonNumbers++;
  stats.push({ stages: res.betas.length - 1, finalEss: effectiveSize(res.weights), logZ: res.logZ, nonNumbers });
  if (res.schedule !== 'data') throw new Error(`smc ran schedule '${res.schedule}', not data annealing`);
  const idx = multinomialResample(res.weights, L, Key.seed(seed).fold(0x72737370).rng());
  const rows = Array.from(idx, (i) => res.particles[i]);
  // Split the flat constrained rows (names 'w.1', 'w.2', 'mu.1', ...) per parameter.
  return Object.fromEntries(PARAMS.map((p) => {
    const cols = res.names.flatMap((n, j) => (n === p || n.startsWith(`${p}.`) ? [j] : []));
    return [p, rows.map((r) => Float64Array.from(cols, (j) => r[j]))];
  }));
}

function quantile(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
}

describe.skipIf(!slow)('SBC of data-annealing SMC with exact Gibbs moves (slow tier)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('ranks are uniform for the plain and the waste-free kernel (Holm over all, alpha 0.01); log Z is never NaN', async () => {
    const model = compile(MIXTURE);
    // The sampler this file is about must be the one that runs, with the 'sort' ordered update.
    const b0 = model.bind({ N, y: Array.from({ length: N }, (_, i) => i / 5) });
    const plan = gibbsSmcPlan(b0);
    b0.dispose();
    expect(typeof plan).not.toBe('string');
    if (typeof plan !== 'string') expect(plan.ordered).toBe('sort');

    const names = Object.keys(CONFIGS);
    const results: Record<string, { result: SbcResult; stats: SmcStats[] }> = {};
    for (const name of names) {
      const stats: SmcStats[] = [];
      const result = await sbc(model, (m, data, seed) => ({ draws: smcDraws(m, data, seed, CONFIGS[name], stats) }),
        { data: { N }, replications: R, L, seed: SEED, alpha: ALPHA, params: PARAMS });
      results[name] = { result, stats };
    }

    const keys: { config: string; element: string; test: 'chi2' | 'ks' }[] = [];
    const ps: number[] = [];
    for (const c of names) {
      for (const [element, p] of Object.entries(results[c].result.pValues)) {
        keys.push({ config: c, element, test: 'chi2' }, { config: c, element, test: 'ks' });
        ps.push(p.chi2, p.ks);
      }
    }
    const adj = holm(ps);
    const adjusted: Record<string, Record<string, { chi2: number; ks: number }>> = {};
    keys.forEach((k, i) => { ((adjusted[k.config] ??= {})[k.element] ??= { chi2: NaN, ks: NaN })[k.test] = adj[i]; });
    const failed = [...new Set(keys.filter((_, i) => adj[i] < ALPHA).map((k) => `${k.config}: ${k.element}`))];
    const badLogZ = names.flatMap((c) => results[c].stats.flatMap((s, r) => (Number.isFinite(s.logZ) ? [] : [`${c}: replication ${r}: log Z ${s.logZ}`])));
    const nonNumbers = names.flatMap((c) => results[c].stats.flatMap((s, r) => (s.nonNumbers ? [`${c}: replication ${r}: ${s.nonNumbers} NaN`] : [])));
    // The same R data sets in both configurations (same SBC seed): how far apart their log Ẑ are.
    const dLogZ = results[names[0]].stats.map((s, r) => s.logZ - results[names[1]].stats[r].logZ);
    const dMean = dLogZ.reduce((a, v) => a + v, 0) / R;
    const dSd = Math.sqrt(dLogZ.reduce((a, v) => a + (v - dMean) ** 2, 0) / (R - 1));

    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'smc-gibbs-sbc.json'), sbcJson({
      test: 'smc-gibbs-sbc',
      date: new Date().toISOString(),
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`,
      model: 'w ~ dirichlet([3, 3]), mu: ordered[2] ~ normal(0, 3), sigma[k] ~ half_normal(1), y[1..25] ~ mixture(w, normal(mu[k], sigma[k]))',
      seed: SEED, alpha: ALPHA, replications: R, L,
      smc: { particles: PARTICLES, schedule: 'data annealing (rows in a seeded random order), essThreshold 0.5 (cess)', ranked: 'L draws multinomially resampled from the final weighted particles' },
      multipleTesting: `Holm over all ${ps.length} tests (chi-square and KS per element, both configurations) at family-wise alpha ${ALPHA}`,
      failed,
      badLogZ,
      nonNumbers,
      logZDifference: { what: 'per data set, plain minus waste-free log Z', mean: dMean, sd: dSd },
      seconds: names.reduce((a, c) => a + results[c].result.seconds, 0),
      configs: Object.fromEntries(names.map((c) => {
        const { result: r, stats: st } = results[c];
        return [c, {
          options: CONFIGS[c],
          pValues: r.pValues, adjusted: adjusted[c], ranks: r.ranks,
          insideEcdfBand: Object.fromEntries(Object.entries(ecdfCheck(r.ranks, r.L, { seed: SEED })).map(([k, e]) => [k, e.inside])),
          smcDiagnostics: {
            stages: { min: Math.min(...st.map((s) => s.stages)), median: quantile(st.map((s) => s.stages), 0.5), max: Math.max(...st.map((s) => s.stages)) },
            finalWeightEss: { min: Math.min(...st.map((s) => s.finalEss)), median: quantile(st.map((s) => s.finalEss), 0.5) },
          },
          logZ: st.map((s) => s.logZ),
          seconds: r.seconds,
        }];
      })),
    }));
    for (const c of names) {
      const r = results[c].result;
      writeFileSync(join(RESULTS, `smc-gibbs-sbc-${c}.svg`), ecdfBandSvg(r.ranks, r.L, { seed: SEED, columns: 3, title: `SBC of data-annealing SMC + Gibbs (${c}, ${PARTICLES} particles), ordered mixture (R = ${r.replications}, L = ${r.L})` }));
    }
    expect(badLogZ).toEqual([]);
    expect(nonNumbers).toEqual([]);
    expect(failed, JSON.stringify(adjusted)).toEqual([]);
  }, 3_600_000);
});
