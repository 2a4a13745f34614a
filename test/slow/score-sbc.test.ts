/**
 * Slow tier: simulation-based calibration (Talts et al. 2018) of annealed Langevin with the
 * Feynman–Kac correction (src/infer/score/annealed.ts), the score-based family's sampler of
 * weighted clouds, on compiled models with N = 10 simulated observations:
 *
 *  - the conjugate normal mean and the Poisson–gamma model (positive constraint: sampled on
 *    the log scale), R = 1000 each (a replication takes ~0.03 s), 1000 particles, the
 *    default adaptive ladder (conditional ESS 0.5), 5 MALA steps per level (each particle
 *    drawing from its own stream), the Gaussian reference N(0, 3²) on the unconstrained
 *    scale, as `scoreSample` runs it;
 *  - EXPECTED FAILURE: the same sampler on the normal mean with its Feynman–Kac weights
 *    dropped (`_testBias: 'no-weights'`: plain annealed Langevin, no resampling) and 1 MALA
 *    step per level: the moves then cannot carry the cloud from the reference to the
 *    posterior, so the draws stay too wide and the ranks pile up in the middle. The test
 *    asserts that this case (R = 400) FAILS — evidence that the tier detects a wrong sampler.
 *
 * The L = 99 draws ranked are i.i.d. from the final weighted cloud (multinomial, with a stream
 * of the replication's seed apart from the sampler's), as test/slow/smc-vi-sbc.test.ts does
 * for tempered SMC (its comment says why the ranks are then uniform exactly when the
 * weighted cloud's CDF is the posterior's, up to O(1/ESS)).
 *
 * Decision: per case a chi-square test of the binned ranks and a KS test of the randomised
 * PIT (sbc); ONE Holm correction over the 6 tests at family-wise alpha = 0.01. Writes
 * test/slow/results/score-sbc.json and one ECDF-difference plot per case
 * (score-sbc-<case>.svg).
 *
 *   MIXPPL_SLOW=1 npx vitest run test/slow/score-sbc.test.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile';
import type { DataInput } from '../../src/model/data';
import type { Model } from '../../src/model/model';
import { annealedLangevin, gaussianPath, type AnnealedOptions } from '../../src/infer/score';
import { effectiveSize, multinomialResample } from '../../src/infer/smc';
import { useBackend } from '../../src/tensor';
import { Key } from '../../src/tensor/random';
import { ecdfBandSvg, ecdfCheck } from '../../src/testing/ecdf';
import { holmAcross, sbc, sbcJson, type SbcResult } from '../../src/testing/sbc';
import { NORMAL_MEAN, POISSON_GAMMA } from '../infer/conjugate-models';

const SEED = 20261204;
const ALPHA = 0.01;
const L = 99;
const PARTICLES = 1000;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

interface Case {
  name: string;
  description: string;
  source: string;
  data: DataInput;
  param: string;
  replications: number;
  options: AnnealedOptions;
  /** Whether calibration must hold (false: the documented expected failure). */
  calibrated: boolean;
}

const CASES: Case[] = [
  {
    name: 'normal-mean', calibrated: true, replications: 1000, options: {},
    description: 'annealed Langevin; mu ~ normal(1, 2), y[1..10] ~ normal(mu, 1.5)',
    source: NORMAL_MEAN, data: { N: 10 }, param: 'mu',
  },
  {
    name: 'poisson-gamma', calibrated: true, replications: 1000, options: {},
    description: 'annealed Langevin; lambda ~ gamma(2, 1), y[1..10] ~ poisson(lambda)',
    source: POISSON_GAMMA, data: { N: 10 }, param: 'lambda',
  },
  {
    name: 'normal-mean-no-weights', calibrated: false, replications: 400, options: { _testBias: 'no-weights', moveSteps: 1 },
    description: 'annealed Langevin WITHOUT its Feynman–Kac weights, 1 MALA step per level (EXPECTED TO FAIL); mu ~ normal(1, 2), y[1..10] ~ normal(mu, 1.5)',
    source: NORMAL_MEAN, data: { N: 10 }, param: 'mu',
  },
];

/** Per-replication diagnostics. */
interface RunStats { levels: number; finalEss: number }

/**
 * L draws of the model's constrained parameters from annealed Langevin's weighted cloud on
 * the posterior of `data` (the potential as scoreSample builds its target: the float64 replay).
 */
function annealedDraws(model: Model, data: DataInput, seed: number, options: AnnealedOptions, stats: RunStats[]): Float64Array[] {
  const bound = model.bind(data);
  try {
    const pot = bound.potentialFunction();
    const target = {
      dim: bound.dim,
      logDensityGrad(u: Float64Array, g: Float64Array) {
        const v = pot.valueAndGrad(u, g);
        for (let i = 0; i < g.length; i++) g[i] = -g[i];
        return -v;
      },
    };
    const r = annealedLangevin(gaussianPath(target, {}), { particles: PARTICLES, seed, ...options });
    stats.push({ levels: r.betas.length - 1, finalEss: effectiveSize(r.weights) });
    const idx = multinomialResample(r.weights, L, Key.seed(seed).fold(0x72737370).rng());
    const constrained = bound.constrainedFunction();
    return Array.from(idx, (i) => constrained.evaluate(r.particles[i]));
  } finally {
    bound.dispose();
  }
}

const slow = process.env.MIXPPL_SLOW === '1';
const models = new Map<string, Model>();

describe.skipIf(!slow)('SBC of annealed Langevin (slow tier)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    for (const c of CASES) if (!models.has(c.source)) models.set(c.source, compile(c.source));
  });

  it('annealed Langevin is calibrated on two conjugate models; without its weights it is not (Holm over all, alpha 0.01)', async () => {
    const results: Record<string, SbcResult> = {};
    const runStats: Record<string, RunStats[]> = {};
    for (const c of CASES) {
      const stats: RunStats[] = (runStats[c.name] = []);
      results[c.name] = await sbc(models.get(c.source)!, (m, data, seed) => ({ draws: { [c.param]: annealedDraws(m, data, seed, c.options, stats) } }),
        { data: c.data, replications: c.replications, L, seed: SEED, alpha: ALPHA, params: [c.param] });
    }

    const { adjusted, failed: failedElements, tests } = holmAcross(Object.fromEntries(CASES.map((c) => [c.name, results[c.name].pValues])), ALPHA);
    const unexpected = CASES.filter((c) => c.calibrated).flatMap((c) => failedElements(c.name).map((e) => `${c.name}: ${e}`));
    const expectedFailure = CASES.find((c) => !c.calibrated)!;
    const spread = (xs: number[]) => ({ min: Math.min(...xs), median: xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)], max: Math.max(...xs) });

    mkdirSync(RESULTS, { recursive: true });
    const summary = {
      test: 'score-sbc',
      date: new Date().toISOString(),
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`,
      seed: SEED,
      alpha: ALPHA,
      L,
      sampler: { particles: PARTICLES, ladder: 'adaptive, conditional ESS 0.5', moveSteps: 'default 5 (1 in the expected failure)', reference: 'N(0, 3²) on the unconstrained scale', rankedDraws: 'multinomial from the final weighted cloud' },
      multipleTesting: `Holm over all ${tests} tests (chi-square and KS per element, all cases) at family-wise alpha ${ALPHA}`,
      unexpectedFailures: unexpected,
      expectedFailure: { case: expectedFailure.name, failedElements: failedElements(expectedFailure.name) },
      seconds: Object.values(results).reduce((a, r) => a + r.seconds, 0),
      cases: Object.fromEntries(CASES.map((c) => {
        const r = results[c.name];
        const st = runStats[c.name];
        return [c.name, {
          model: c.description,
          mustBeCalibrated: c.calibrated,
          data: c.data,
          R: r.replications,
          L: r.L,
          pValues: r.pValues,
          adjusted: adjusted[c.name],
          failed: failedElements(c.name),
          ranks: r.ranks,
          insideEcdfBand: Object.fromEntries(Object.entries(ecdfCheck(r.ranks, r.L, { seed: SEED })).map(([k, e]) => [k, e.inside])),
          levels: spread(st.map((s) => s.levels)),
          finalWeightEss: spread(st.map((s) => s.finalEss)),
          seconds: r.seconds,
        }];
      })),
    };
    writeFileSync(join(RESULTS, 'score-sbc.json'), sbcJson(summary));
    for (const c of CASES) {
      const r = results[c.name];
      writeFileSync(join(RESULTS, `score-sbc-${c.name}.svg`), ecdfBandSvg(r.ranks, r.L, {
        seed: SEED, columns: 1, title: `${c.calibrated ? 'SBC' : 'SBC (expected failure)'}: annealed Langevin, ${c.name} (R = ${r.replications}, L = ${r.L})`,
      }));
    }

    expect(unexpected, JSON.stringify(adjusted)).toEqual([]);
    expect(failedElements(expectedFailure.name), JSON.stringify(adjusted[expectedFailure.name])).toEqual(Object.keys(results[expectedFailure.name].ranks));
  }, 3_600_000);
});
