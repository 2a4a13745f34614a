// The diffusion method and its pieces as host-read steps (src/tensor/host-reads.ts) on wasm:
// DSM training, the samplers, the ODE log-likelihood and the whole diffusionFit (baseline fit
// included) run with every read awaited must give the synchronous run's numbers bitwise, also
// when the backend is made to look like webgpu (setSyncReadsForTesting(false): the baseline's
// parameter maps go through host tensors, model.fit returns a promise, the result's sync
// methods refuse with the way out). The webgpu runs themselves are in families-webgpu.test.ts.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src';
import { useBackend, tf, setSyncReadsForTesting, BackendUnavailableError } from '../../src/tensor';
import { Key } from '../../src/tensor/random';
import { sampleGmm, type Gmm } from '../../src/infer/score/gmm-score';
import { logLikelihoodOde, logLikelihoodOdeAsync, sampleScore, sampleScoreAsync, trainScore, trainScoreAsync } from '../../src/infer/score/dsm';
import { diffusionFit, diffusionFitAsync, type DiffusionFitResult } from '../../src/infer/score/diffusion-fit';

beforeAll(async () => {
  await useBackend('wasm');
});
afterEach(() => setSyncReadsForTesting(undefined));

const MIX2: Gmm = { weights: [0.6, 0.4], means: [[-2, 0], [2, 1]], covs: [[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0], [0, 0.4]]] };
const N = 120;
const flat = sampleGmm(MIX2, N, Key.seed(3)).x;
const rows = Array.from({ length: N }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);
const train = { steps: 25, hidden: 16, layers: 2, batch: 32, seed: 4 };

const GMM2 = `model gmm2 {
  data x: real[N, 2]
  param w: simplex[2]
  param mu: real[2, 2]
  param tau: positive[2, 2]
  w ~ dirichlet(rep(2.0, 2))
  mu ~ normal(0, 10)
  tau ~ half_normal(5)
  for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], tau[k])) }
}`;
const GAUSS = `model g {
  data x: real[N, 2]
  param mu: real[2]
  param tau: positive[2]
  mu ~ normal(0, 10)
  tau ~ half_normal(5)
  for n in 1..N { x[n] ~ normal(mu, tau) }
}`;

/** Everything a diffusion fit reports that is a number (the network's losses included). */
function numbers(r: DiffusionFitResult): Record<string, unknown> {
  const { seconds: _s, ...json } = r.toJSON();
  return { ...json, losses: Array.from(r.score.losses), train: Array.from(r.trainRows), held: Array.from(r.heldOutRows) };
}

describe('score-based diffusion as host-read steps: the async forms give the sync numbers', () => {
  it('trainScore / trainScoreAsync: the same losses, predictions, draws and ODE log-likelihoods; no tensor left behind', async () => {
    const before = tf.memory().numTensors;
    const a = trainScore(rows, train);
    const b = await trainScoreAsync(rows, train);
    try {
      expect(Array.from(b.losses)).toEqual(Array.from(a.losses));
      expect(await b.scoreAsync(rows.slice(0, 5), 0.3)).toEqual(a.score(rows.slice(0, 5), 0.3));
      for (const o of [{ sampler: 'pc' as const, steps: 20, seed: 2 }, { sampler: 'ode' as const, steps: 8, seed: 2 }]) {
        expect(await sampleScoreAsync(b, 6, o)).toEqual(sampleScore(a, 6, o));
      }
      for (const o of [{ steps: 6 }, { steps: 6, divergence: 'hutchinson' as const, seed: 5 }]) {
        expect(Array.from(await logLikelihoodOdeAsync(b, rows.slice(0, 7), o))).toEqual(Array.from(logLikelihoodOde(a, rows.slice(0, 7), o)));
      }
    } finally {
      a.dispose();
      b.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  for (const [name, src, baseline] of [['EM baseline', GMM2, 'em'], ['MAP baseline', GAUSS, 'map']] as const) {
    it(`diffusionFit / diffusionFitAsync / model.fit on a backend without sync reads (${name}): the same result`, async () => {
      const model = compile(src);
      const opts = { ...train, heldOut: 0.25, odeSteps: 6, baseline, baselineStarts: 2 };
      const sync = diffusionFit(model, { x: rows }, opts);
      const awaited = await diffusionFitAsync(model, { x: rows }, opts);
      setSyncReadsForTesting(false);
      const pending = model.fit({ x: rows }, { method: 'diffusion', ...opts }) as unknown;
      expect(pending).toBeInstanceOf(Promise);
      const forced = await (pending as Promise<DiffusionFitResult>);
      try {
        expect(sync.baseline.method).toBe(baseline);
        expect(numbers(awaited)).toEqual(numbers(sync));
        expect(numbers(forced)).toEqual(numbers(sync));
        // The result's sync methods name their async forms; those give the sync draws.
        expect(() => forced.sample(3)).toThrow(BackendUnavailableError);
        expect(() => forced.sample(3)).toThrow(/sample\(\) reads the score network synchronously.*await fit\.sampleAsync/);
        expect(() => forced.logLikelihood(rows.slice(0, 2))).toThrow(/await fit\.logLikelihoodAsync/);
        expect(() => forced.score.score(rows.slice(0, 2), 0.5)).toThrow(/ScoreModel\.score\(\) reads the network synchronously.*await model\.scoreAsync/);
        const draws = await forced.sampleAsync(4, { steps: 10, seed: 9 });
        const ll = await forced.logLikelihoodAsync(rows.slice(0, 3));
        setSyncReadsForTesting(undefined);
        expect(draws).toEqual(sync.sample(4, { steps: 10, seed: 9 }));
        expect(Array.from(ll)).toEqual(Array.from(sync.logLikelihood(rows.slice(0, 3))));
      } finally {
        setSyncReadsForTesting(undefined);
        for (const r of [sync, awaited, forced]) r.dispose();
      }
    });
  }
});
