// EM on a spherical Gaussian mixture (one scale per component over a vector
// observation) and with one component: the closed-form scale pools the observation's
// elements; with K = 1 EM is the closed-form MLE (pooled mean and sd), computed here in float64.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend, em } from '../../src';

beforeAll(async () => {
  await ensureBackend();
});

describe('EM, spherical components', () => {
  const model = compile(new URL('../../stdlib/gmm_spherical.mix', import.meta.url).pathname);
  const truth = { w: [0.4, 0.6], mu: [[-3, 0], [3, 1]], sigma: [0.5, 1.5] };
  const sim = model.simulate({ K: 2, N: 400, D: 2 }, { seed: 3, draws: 1, fixed: truth })[0];
  const x = sim.data.x;

  it('recovers one scale per component within 4 standard errors', () => {
    const r = em(model.bind({ K: 2, x }), { seed: 1 });
    expect(r.closedForm).toContain('sigma');
    const sigma = (r.params.sigma as number[]).slice();
    const order = (r.params.mu as number[][])[0][0] < 0 ? [0, 1] : [1, 0];
    truth.sigma.forEach((s, k) => {
      const n = 400 * truth.w[k];
      // MLE of a normal sd from n·D values: SE ≈ s / sqrt(2 n D).
      const se = s / Math.sqrt(2 * n * 2);
      expect(Math.abs(sigma[order[k]] - s), `sigma[${k}] = ${sigma[order[k]]}`).toBeLessThan(4 * se);
    });
  });

  it('with K = 1 gives the pooled maximum-likelihood mean and sd', () => {
    const r = em(model.bind({ K: 1, x }), { seed: 1 });
    const N = x.shape[0];
    const D = x.shape[1];
    const mean = [0, 0];
    for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) mean[d] += x.values[n * D + d] / N;
    let ss = 0;
    for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) ss += (x.values[n * D + d] - mean[d]) ** 2;
    const sd = Math.sqrt(ss / (N * D));
    expect((r.params.sigma as number[])[0]).toBeCloseTo(sd, 4);
    (r.params.mu as number[][])[0].forEach((m, d) => expect(m).toBeCloseTo(mean[d], 4));
  });
});
