// Lockstep warm-up with one metric for all chains (runChainsPooled): the chains still
// sample the target (moments within 4 MCSE, chains pooled), they share the metric, and a
// chain started far out in the tails gets the typical metric.
import { describe, expect, it } from 'vitest';
import { runChainsPooled } from '../../../src/infer/mcmc/sampler';
import { gaussian, iidNormal, zScore } from './hmc-helpers';

describe('pooled warm-up', () => {
  it('samples a correlated Gaussian correctly with a shared dense metric', () => {
    const cov = [[1, 0.9 * 10], [0.9 * 10, 100]];
    const t = gaussian(cov);
    const opts = [0, 1, 2, 3].map((c) => ({ init: [0.5 * c, -0.3 * c], seed: 100 + c, warmup: 500, draws: 1000, metric: 'dense' as const }));
    const res = runChainsPooled([t, t, t, t], opts);
    for (const r of res) expect(Array.from(r.invMetric)).toEqual(Array.from(res[0].invMetric));
    for (let k = 0; k < 2; k++) {
      const xs = res.flatMap((r) => r.draws.map((d) => d[k]));
      const sq = res.flatMap((r) => r.draws.map((d) => d[k] * d[k]));
      expect(Math.abs(zScore(xs, 0).z), `mean ${k}`).toBeLessThan(4);
      expect(Math.abs(zScore(sq, cov[k][k]).z), `variance ${k}`).toBeLessThan(4);
    }
  });

  it('gives a chain started far out in the tails the metric of the others (diagonal: per-coordinate median)', () => {
    const t = iidNormal([1, 1, 1]);
    const start = [400, -400, 400];
    const mk = (c: number) => ({ init: c === 3 ? start : [0.1, 0.2, -0.1], seed: 7 + c, warmup: 300, draws: 200, metric: 'diag' as const, initBuffer: 5, baseWindow: 25, termBuffer: 20 });
    const pooled = runChainsPooled([t, t, t, t], [0, 1, 2, 3].map(mk));
    for (const r of pooled) for (const v of r.invMetric) expect(v).toBeGreaterThan(0.5), expect(v).toBeLessThan(2);
    // The far chain reached the typical set: its draws look like the others'.
    const far = pooled[3].draws.map((d) => d[0]);
    expect(Math.abs(zScore(far, 0).z)).toBeLessThan(4);
  });

  it('refuses chains that disagree on warm-up or metric', () => {
    const t = iidNormal([1]);
    expect(() => runChainsPooled([t, t], [{ init: [0], seed: 1, warmup: 100 }, { init: [0], seed: 2, warmup: 200 }])).toThrow(/chain 2/);
  });
});
