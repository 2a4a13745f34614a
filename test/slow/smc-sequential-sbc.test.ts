/**
 * Slow tier: simulation-based calibration (Talts et al. 2018) of tempered SMC
 * (src/infer/smc) on a small SEQUENTIAL model, a two-state Poisson hidden Markov model
 * over T = 30 steps (HMM2 below) whose state chain z is summed out by the forward
 * algorithm, so SMC only sees the 8 continuous parameter elements (pi, A, lambda).
 *
 *  - Priors: pi ~ dirichlet(1, 1), each row of A ~ dirichlet(1, 1), lambda ~ gamma(3, 0.5)
 *    restricted to positive_ordered (lambda[1] < lambda[2]): `model.simulate` draws the
 *    order statistics of two iid gammas, which is exactly that restricted prior, and the
 *    ordering removes label switching, so each element's rank is meaningful.
 *  - Calibrated case: default smc (adaptive CESS schedule, HMC rejuvenation), 400
 *    particles, R = 100 replications, L = 49 ranked draws, resampled multinomially from
 *    the final weighted particles with a stream of the replication's seed (as in
 *    smc-vi-sbc.test.ts; see its `smcDraws` for why those ranks are uniform).
 *  - Mutation (NOT caught at this size, so recorded, not asserted): the same with
 *    `_testBias: 'kernel-beta'` (rejuvenation targets the previous stage's tempered
 *    posterior), R = 130. With only 2–8 stages on this model the last move is made under
 *    β well below 1, which widens the cloud (on four hand-checked data sets the posterior
 *    sd of lambda and A grew by 10–35%), but that is too small for R = 130: the smallest
 *    raw p-value was 0.054 (0.86 after Holm; at R = 70 it was 0.008, 0.13 after Holm).
 *    Catching it needs more replications, or a model with larger β gaps, than the
 *    8-minute budget of this file allows; `mutationCaught` in the results records it.
 *
 * Decision: per element a chi-square test of the binned ranks and a KS test of the
 * randomised PIT (sbc); Holm over the 2 × 8 = 16 tests of each case at family-wise
 * alpha = 0.01 (sbc's own `failed`). pi[2] = 1 − pi[1] and A[k, 2] = 1 − A[k, 1], so half the
 * elements repeat the other half's ranks reflected; Holm stays valid (it holds under any
 * dependence) and is only a little conservative. So the calibrated case fails by chance
 * with probability <= 0.01 (it is never re-run). The sizes (T, particles, R) are set so the
 * file runs in about 8 minutes on 2 CPU cores. Writes
 * test/slow/results/smc-sequential-sbc.json.
 *
 *   MIXPPL_SLOW=1 npx vitest run test/slow/smc-sequential-sbc.test.ts
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
import { useBackend } from '../../src/tensor';
import { Key } from '../../src/tensor/random';
import { ecdfCheck } from '../../src/testing/ecdf';
import { sbc, sbcJson, type SbcResult } from '../../src/testing/sbc';

/** Two-state Poisson HMM with ordered rates; z is discrete and marginalised (forward algorithm). */
const HMM2 = `
model hmm2 {
  data y: int<lower=0>[T]
  param pi: simplex[2]
  param A: simplex[2, 2]
  param lambda: positive_ordered[2]
  pi ~ dirichlet(rep(1.0, 2))
  A ~ dirichlet(rep(1.0, 2))
  lambda ~ gamma(3, 0.5)
  z[1] ~ categorical(pi)
  for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
  for t in 1..T { y[t] ~ poisson(lambda[z[t]]) }
}`;
const PARAMS = ['pi', 'A', 'lambda'] as const;
const T = 30;
const SEED = 20269;
const ALPHA = 0.01;
const L = 49;
const PARTICLES = 400;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Per-replication SMC diagnostics. */
interface SmcStats { stages: number; finalEss: number }

/**
 * L draws per parameter from the final weighted particles: multinomial resampling (L
 * i.i.d. draws from Σ_i W_i δ(θ_i)) with a stream of the replication's seed apart from
 * the ones smc uses; each parameter's row is its columns of the flattened particle
 * (`res.names`, dotted and row-major: `A.1.1`, `A.1.2`, …).
 */
function smcDraws(model: Model, data: DataInput, seed: number, opts: SmcOptions, stats: SmcStats[]): Record<string, Float64Array[]> {
  const res = smc(model, model.bind({ y: data.y }), { ...opts, particles: PARTICLES, seed, data: { T } });
  stats.push({ stages: res.betas.length - 1, finalEss: effectiveSize(res.weights) });
  const idx = multinomialResample(res.weights, L, Key.seed(seed).fold(0x72737370).rng());
  const draws: Record<string, Float64Array[]> = {};
  for (const p of PARAMS) {
    const cols = res.names.flatMap((n, j) => (n === p || n.startsWith(`${p}.`) ? [j] : []));
    draws[p] = Array.from(idx, (i) => Float64Array.from(cols, (j) => res.particles[i][j]));
  }
  return draws;
}

interface Case {
  name: string;
  description: string;
  opts: SmcOptions;
  replications: number;
  /** Whether calibration must hold (false: the mutation that must be caught). */
  calibrated: boolean;
}

const CASES: Case[] = [
  { name: 'smc-hmm2', description: 'tempered SMC, default settings', opts: {}, replications: 100, calibrated: true },
  {
    name: 'smc-hmm2-kernel-beta', description: "MUTATION (not asserted; too weak for R = 130): _testBias 'kernel-beta', rejuvenation at the previous stage's beta",
    opts: { _testBias: 'kernel-beta' }, replications: 130, calibrated: false,
  },
];

function quantile(xs: number[], p: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
}

const slow = process.env.MIXPPL_SLOW === '1';
let model: Model;

describe.skipIf(!slow)('SBC of tempered SMC on a two-state Poisson HMM (slow tier)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    model = compile(HMM2);
  });

  it('SMC is calibrated on every HMM parameter (Holm, alpha 0.01); the kernel-beta mutation is recorded', async () => {
    const results: Record<string, SbcResult> = {};
    const smcStats: Record<string, SmcStats[]> = {};
    for (const c of CASES) {
      const stats: SmcStats[] = (smcStats[c.name] = []);
      results[c.name] = await sbc(model, (m, data, seed) => ({ draws: smcDraws(m, data, seed, c.opts, stats) }),
        { data: { T }, replications: c.replications, L, seed: SEED, alpha: ALPHA, params: PARAMS });
    }
    const cal = CASES.find((c) => c.calibrated)!;
    const mut = CASES.find((c) => !c.calibrated)!;

    mkdirSync(RESULTS, { recursive: true });
    const summary = {
      test: 'smc-sequential-sbc',
      date: new Date().toISOString(),
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`,
      model: 'two-state Poisson HMM, T = 30, z summed out: pi ~ dirichlet(1, 1), A[k] ~ dirichlet(1, 1), lambda ~ gamma(3, 0.5) positive_ordered[2]',
      seed: SEED,
      alpha: ALPHA,
      L,
      smc: { particles: PARTICLES, resampling: 'default (systematic) inside smc; multinomial for the L ranked draws', rejuvenation: 'default (hmc)', adaptOn: 'default (cess 0.5)' },
      multipleTesting: `Holm per case over its ${2 * Object.keys(results[cal.name].pValues).length} tests (chi-square and KS per element) at family-wise alpha ${ALPHA}`,
      calibratedPassed: results[cal.name].failed.length === 0,
      mutationCaught: results[mut.name].failed.length > 0,
      seconds: Object.values(results).reduce((a, r) => a + r.seconds, 0),
      cases: Object.fromEntries(CASES.map((c) => {
        const r = results[c.name];
        const st = smcStats[c.name];
        return [c.name, {
          description: c.description,
          mustBeCalibrated: c.calibrated,
          R: r.replications,
          L: r.L,
          pValues: r.pValues,
          adjusted: r.adjusted,
          failed: r.failed,
          ranks: r.ranks,
          insideEcdfBand: Object.fromEntries(Object.entries(ecdfCheck(r.ranks, r.L, { seed: SEED })).map(([k, e]) => [k, e.inside])),
          smcDiagnostics: {
            stages: { min: Math.min(...st.map((s) => s.stages)), median: quantile(st.map((s) => s.stages), 0.5), max: Math.max(...st.map((s) => s.stages)) },
            finalWeightEss: { min: Math.min(...st.map((s) => s.finalEss)), median: quantile(st.map((s) => s.finalEss), 0.5) },
          },
          seconds: r.seconds,
        }];
      })),
    };
    writeFileSync(join(RESULTS, 'smc-sequential-sbc.json'), sbcJson(summary));

    // Every element of pi, A and lambda was ranked: 2 + 4 + 2.
    expect(Object.keys(results[cal.name].ranks)).toHaveLength(8);
    expect(results[cal.name].failed, JSON.stringify(results[cal.name].adjusted)).toEqual([]);
    // The kernel-beta mutation is not asserted: at R = 130 it is not detected (see above).
    expect(Object.keys(results[mut.name].ranks)).toHaveLength(8);
  }, 1_800_000);
});
