/**
 * Slow tier: denoising score matching (src/infer/score/dsm.ts) trained for longer, on both
 * SDEs, on 2-D data from a three-component Gaussian mixture with separated modes
 * (weights 0.5 / 0.3 / 0.2; 2000 training rows, 2000 held-out rows, fixed seeds).
 *
 * Per SDE (VP and VE): an MLP of 3 hidden layers of 64 (swish), 4000 Adam steps of 256 rows;
 * then 2000 draws by the reverse SDE (500 predictor steps, 1 corrector step each) and 2000
 * by the probability-flow ODE (100 RK4 steps). Stated bounds, fixed before the run:
 *
 *  - MMD²_u (Gaussian kernel, median bandwidth) of each sampler's draws to the held-out
 *    rows below 1.5e-3 and below a fifth of the single-Gaussian fit's. For scale: between
 *    two exact samples of 2000 the null sd is ~2e-4 to 4e-4 (estimated here from 8
 *    replicates and recorded), so 1.5e-3 is 4–7 null sd; a mixture whose weights are off
 *    by 0.05 has mean MMD² ~2.2e-3.
 *  - Mode weights (draws labelled by the true mixture's Bayes classifier) within 0.05 of the
 *    label frequencies of exact draws, the bound the issue sets for the samplers.
 *  - The learned score against the closed-form oracle (gmm-score.ts) at the noise-to-signal
 *    ratios s_t/a_t = 0.15, 0.3, 1, 3 (standardised units; the times come from timeForNoise):
 *    relative squared error below 0.1 at 0.3 and below 0.02 at ratios >= 1; 0.15 is
 *    reported only (as the noise vanishes the network's ε-error is divided by s_t, so the
 *    relative score error grows). Note: the first version of this file compared at fixed
 *    times t = 0.1, 0.3 for both SDEs; VE failed there (0.30 and 0.049) because VE at
 *    t = 0.1 has noise ratio 0.019 against VP's 0.34 — times are not noise levels. The
 *    comparison was moved to equal noise ratios; those numbers are kept in the report.
 *  - The probability-flow log-likelihood of 300 held-out rows: mean within 0.2 nats of the
 *    true mixture log density.
 *
 * Writes test/slow/results/score-dsm.json (before asserting, so a failure is recorded too).
 *
 *   MIXPPL_SLOW=1 npx vitest run test/slow/score-dsm.test.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBackend } from '../../src/tensor';
import { Key } from '../../src/tensor/random';
import { gmmAssign, gmmLogDensity, sampleGmm, type Gmm } from '../../src/infer/score/gmm-score';
import { logLikelihoodOde, sampleScore, scoreError, trainScore } from '../../src/infer/score/dsm';
import { mmd2 } from '../../src/infer/score/mmd';
import { timeForNoise } from '../../src/infer/score/sde';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');
const slow = process.env.MIXPPL_SLOW === '1';

const MIX: Gmm = {
  weights: [0.5, 0.3, 0.2],
  means: [[-2, 0], [2, 1], [0, 2.5]],
  covs: [[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0], [0, 0.4]], [[0.25, -0.05], [-0.05, 0.15]]],
};
const N = 2000;
const TRAIN = { hidden: 64, layers: 3, steps: 4000, batch: 256, lr: 2e-3, seed: 1 } as const;

function freq(x: Float64Array, n: number): number[] {
  const c = [0, 0, 0];
  for (const l of gmmAssign(MIX, x, n)) c[l]++;
  return c.map((v) => v / n);
}

beforeAll(async () => {
  await ensureBackend();
});

describe.skipIf(!slow)('denoising score matching, longer training (slow tier)', () => {
  it('VP and VE: samples, mode weights, oracle score error and log-likelihood', () => {
    const train = sampleGmm(MIX, N, Key.seed(101)).x;
    const held = sampleGmm(MIX, N, Key.seed(102)).x;
    const qRef = freq(sampleGmm(MIX, 40_000, Key.seed(103)).x, 40_000);
    const nulls = Array.from({ length: 8 }, (_, r) => mmd2(sampleGmm(MIX, N, Key.seed(200 + r)).x, held, { dim: 2 }).mmd2);
    const nullMean = nulls.reduce((a, b) => a + b, 0) / nulls.length;
    const nullSd = Math.sqrt(nulls.reduce((a, b) => a + (b - nullMean) ** 2, 0) / (nulls.length - 1));
    const mu = [0, 1].map((j) => { let s = 0; for (let i = 0; i < N; i++) s += train[2 * i + j]; return s / N; });
    const C = [0, 1].map((a) => [0, 1].map((b) => {
      let s = 0;
      for (let i = 0; i < N; i++) s += (train[2 * i + a] - mu[a]) * (train[2 * i + b] - mu[b]);
      return s / (N - 1);
    }));
    const gauss = mmd2(sampleGmm({ weights: [1], means: [mu], covs: [C] }, N, Key.seed(104)).x, held, { dim: 2 }).mmd2;
    const heldRows = Array.from({ length: 300 }, (_, i) => [held[2 * i], held[2 * i + 1]]);
    const llTrue = gmmLogDensity(MIX, held.slice(0, 600), 300);
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

    const out: Record<string, unknown> = {};
    const failures: string[] = [];
    for (const sde of ['vp', 've'] as const) {
      const t0 = Date.now();
      const model = trainScore(train, { dim: 2, sde, ...TRAIN });
      const trainSeconds = (Date.now() - t0) / 1000;
      try {
        const samplers: Record<string, unknown> = {};
        for (const [name, opts] of [['pc', { sampler: 'pc', steps: 500, correctorSteps: 1, seed: 5 }], ['ode', { sampler: 'ode', steps: 100, seed: 6 }]] as const) {
          const s0 = Date.now();
          const draws = sampleScore(model, N, opts);
          const seconds = (Date.now() - s0) / 1000;
          const flat = Float64Array.from(draws.flat());
          const m = mmd2(flat, held, { dim: 2 }).mmd2;
          const w = freq(flat, N);
          const wErr = Math.max(...w.map((v, k) => Math.abs(v - qRef[k])));
          samplers[name] = { mmd2: m, modeWeights: w, maxWeightError: wErr, seconds };
          if (!(m < 1.5e-3 && m < gauss / 5)) failures.push(`${sde} ${name}: MMD² ${m}`);
          if (!(wErr <= 0.05)) failures.push(`${sde} ${name}: mode weight error ${wErr}`);
        }
        const ratios = [0.15, 0.3, 1, 3];
        const errs = scoreError(model, MIX, ratios.map((r) => timeForNoise(model.sde, r)), { n: 2000, seed: 7 });
        errs.forEach((e, i) => {
          const r = ratios[i];
          if ((r === 0.3 && !(e.relError < 0.1)) || (r >= 1 && !(e.relError < 0.02))) failures.push(`${sde}: score error ${e.relError} at noise ratio ${r} (t = ${e.t})`);
        });
        const l0 = Date.now();
        const ll = mean(logLikelihoodOde(model, heldRows, { steps: 100 }));
        const llSeconds = (Date.now() - l0) / 1000;
        if (!(Math.abs(ll - mean(llTrue)) < 0.2)) failures.push(`${sde}: held-out log-likelihood ${ll} against ${mean(llTrue)}`);
        out[sde] = {
          sde: model.settings.sde,
          trainSeconds,
          finalLoss: mean(model.losses.subarray(model.losses.length - 100)),
          samplers,
          scoreRelError: Object.fromEntries(errs.map((e, i) => [`ratio=${ratios[i]} (t=${e.t.toFixed(4)})`, e.relError])),
          heldOutMeanLogLik: ll,
          trueMeanLogLik: mean(llTrue),
          logLikSeconds: llSeconds,
        };
      } finally {
        model.dispose();
      }
    }
    const summary = {
      test: 'score-dsm',
      date: new Date().toISOString(),
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}`,
      data: { mixture: MIX, train: N, heldOut: N, seeds: { train: 101, heldOut: 102 } },
      training: TRAIN,
      referenceModeWeights: qRef,
      nullMmd2: { mean: nullMean, sd: nullSd, replicates: nulls.length },
      singleGaussianMmd2: gauss,
      bounds: { mmd2: 'below 1.5e-3 and below singleGaussian/5', modeWeights: 0.05, scoreRelError: 'noise ratio 0.3: 0.1, ratio >= 1: 0.02', logLik: 0.2 },
      results: out,
      failures,
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'score-dsm.json'), JSON.stringify(summary, null, 2) + '\n');
    console.log(JSON.stringify(summary, null, 2));
    expect(failures).toEqual([]);
  }, 900_000); // ~2.5 min on 2 cores: two trainings of 4000 steps, sampling, log-likelihoods
});
