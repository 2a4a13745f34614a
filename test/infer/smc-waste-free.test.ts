// Waste-free tempered SMC (Dau & Chopin 2022; `smc(..., { wasteFree: { chainLength } })`):
// on a correlated 2-D conjugate model (Bayesian linear regression) the log evidence matches the
// closed form and the posterior means and variances match the exact Gaussian posterior, each
// within 4 Monte Carlo standard errors estimated from the spread of 8 independent runs (the
// particles of one run are correlated within chains, so a per-run formula would be wrong; the
// spread over seeds is the honest error); rejuvenating with the previous stage's β fails the
// log-Z check; the output has the promised shape; bad options are refused with RangeErrors.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { smc, type SmcOptions, type SmcResult } from '../../src/infer/smc';
import type { BoundModel } from '../../src/model/bound-model';
import { REGRESSION_LINE, REGRESSION_DATA, regressionEvidence } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const { model: REGRESSION, x: xs, y: ys } = { model: REGRESSION_LINE, ...REGRESSION_DATA };
const TAU = 2;
const SIGMA = 0.5;

/** log p(y) and the exact posterior of (a, b): precision I/τ² + XᵀX/σ², mean Σ Xᵀy/σ². */
function exact(): { logZ: number; mean: [number, number]; variance: [number, number] } {
  const n = xs.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let t0 = 0;
  let t1 = 0;
  for (let i = 0; i < n; i++) {
    s0 += 1;
    s1 += xs[i];
    s2 += xs[i] * xs[i];
    t0 += ys[i];
    t1 += xs[i] * ys[i];
  }
  const s = SIGMA * SIGMA;
  const p00 = 1 / (TAU * TAU) + s0 / s;
  const p01 = s1 / s;
  const p11 = 1 / (TAU * TAU) + s2 / s;
  const det = p00 * p11 - p01 * p01;
  const c00 = p11 / det;
  const c01 = -p01 / det;
  const c11 = p00 / det;
  const r0 = t0 / s;
  const r1 = t1 / s;
  const m0 = c00 * r0 + c01 * r1;
  const m1 = c01 * r0 + c11 * r1;
  // log p(y) = log N(y; Xm, σ²I) + log N(m; 0, τ²I) − log N(m; m, C).
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (ys[i] - m0 - m1 * xs[i]) ** 2;
  const logLik = -0.5 * n * Math.log(2 * Math.PI * s) - rss / (2 * s);
  const logPrior = -Math.log(2 * Math.PI * TAU * TAU) - (m0 * m0 + m1 * m1) / (2 * TAU * TAU);
  const logPost = -Math.log(2 * Math.PI) - 0.5 * Math.log(c00 * c11 - c01 * c01);
  return { logZ: logLik + logPrior - logPost, mean: [m0, m1], variance: [c00, c11] };
}

const RUNS = 8;
/** (mean − want) / SE over the runs, the SE from their spread (floored so a near-constant value cannot make the test flaky). */
function zScore(values: number[], want: number, floor: number): number {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / (values.length - 1));
  return (m - want) / Math.max(sd / Math.sqrt(values.length), floor);
}

describe('waste-free tempered SMC on a conjugate model', () => {
  const model = compile(REGRESSION);
  const ex = exact();
  let bound: BoundModel;
  beforeAll(() => {
    bound = model.bind({ x: xs, y: ys });
  });
  const runs = (opts: SmcOptions): SmcResult[] =>
    Array.from({ length: RUNS }, (_, r) => smc(model, bound, { particles: 400, seed: 31 + 7 * r, data: { x: xs }, ...opts }));

  it('the closed-form evidence agrees with the Gaussian marginal N(y; 0, σ²I + τ² X Xᵀ) form', () => {
    // Guard on the helper: log p(y) by the posterior identity against a Cholesky of the marginal covariance.
    expect(ex.logZ).toBeCloseTo(regressionEvidence(xs, ys, TAU, SIGMA), 9);
  });

  for (const [name, rj] of [
    ['HMC, dense metric', { kernel: 'hmc', leapfrogSteps: 5, metric: 'dense' }],
    ['RWMH, dense proposal', { kernel: 'rwmh', metric: 'dense' }],
  ] as const) {
    it(`${name}: log Z, posterior means and variances within 4 SE of the exact values`, () => {
      const res = runs({ wasteFree: { chainLength: 10 }, rejuvenation: rj });
      const zZ = zScore(res.map((r) => r.logZ), ex.logZ, 0.01);
      expect(Math.abs(zZ), `log Z: z = ${zZ.toFixed(2)}`).toBeLessThan(4);
      ['a', 'b'].forEach((nm, j) => {
        // Floors: 1% of the posterior sd for means, 1% of the variance for variances.
        const zm = zScore(res.map((r) => r.moments(nm).mean), ex.mean[j], 0.01 * Math.sqrt(ex.variance[j]));
        const zv = zScore(res.map((r) => r.moments(nm).variance), ex.variance[j], 0.01 * ex.variance[j]);
        expect(Math.abs(zm), `${nm} mean: z = ${zm.toFixed(2)}`).toBeLessThan(4);
        expect(Math.abs(zv), `${nm} variance: z = ${zv.toFixed(2)}`).toBeLessThan(4);
      });
      // Shape: N particles of equal weight after the last waste-free move; every stage resampled.
      const r0 = res[0];
      expect(r0.particles.length).toBe(400);
      expect(r0.weights.every((w) => Math.abs(w - 1 / 400) < 1e-15)).toBe(true);
      expect(r0.resampled.slice(1).every((b) => b)).toBe(true);
      expect(r0.betas[r0.betas.length - 1]).toBe(1);
    });
  }

  it('mutation: rejuvenating with the previous stage\'s β fails the log-Z and the variance checks', () => {
    const res = runs({ wasteFree: { chainLength: 10 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 5 }, _testBias: 'kernel-beta' });
    const z = zScore(res.map((r) => r.logZ), ex.logZ, 0.01);
    expect(Math.abs(z), `z = ${z.toFixed(2)}`).toBeGreaterThan(4);
    // The last move targets the previous β's wider posterior: the variance of b is inflated.
    const zv = zScore(res.map((r) => r.moments('b').variance), ex.variance[1], 0.01 * ex.variance[1]);
    expect(zv, `b variance: z = ${zv.toFixed(2)}`).toBeGreaterThan(4);
  });

  it('refuses bad waste-free options', () => {
    const bad: [SmcOptions, RegExp][] = [
      [{ particles: 400, wasteFree: { chainLength: 1 } }, /chainLength must be an integer ≥ 2/],
      [{ particles: 400, wasteFree: { chainLength: 2.5 } }, /chainLength must be an integer ≥ 2/],
      [{ particles: 400, wasteFree: { chainLength: 7 } }, /multiple of wasteFree.chainLength/],
      [{ particles: 400, wasteFree: { chainLength: 10 }, rejuvenation: { steps: 0 } }, /rejuvenation.steps must be a positive integer/],
      [{ particles: 400, wasteFree: 10 as unknown as { chainLength: number } }, /wasteFree must be an object/],
    ];
    for (const [opts, msg] of bad) expect(() => smc(model, bound, { data: { x: xs }, ...opts })).toThrow(msg);
    for (const [opts] of bad) expect(() => smc(model, bound, { data: { x: xs }, ...opts })).toThrow(RangeError);
  });
});
