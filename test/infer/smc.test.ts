// Tempered SMC for static models: the tempered target against closed forms, posterior
// moments and log evidence of conjugate models within 4 Monte Carlo standard errors (the SE
// estimated across 8 independent runs), unbiased resampling schemes (chi-square over many
// resamplings), and the mutation check: a rejuvenation kernel with the wrong β fails.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import type { Model } from '../../src/model/model';
import type { BoundModel } from '../../src/model/bound-model';
import {
  effectiveSize, multinomialResample, residualResample, smc, systematicResample, TemperedTarget, weightsFromLog,
  type ResampleScheme, type SmcOptions, type SmcResult,
} from '../../src/infer/smc';
import { resample } from '../../src/infer/smc/resample';
import { Key } from '../../src/tensor/random';
import { lgammaF64 } from '../../src/tensor/special';
import { dirichletCategorical, normalKnownVariance, poissonGamma } from '../../src/testing/exact';
import { NORMAL_MEAN, POISSON_GAMMA, DIRICHLET_CATEGORICAL, normalEvidence } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const Z = 4;
const RUNS = 8;



const y = (() => {
  const rng = Key.seed(5).rng();
  return Array.from({ length: 12 }, () => rng.normal(2.2, 1.5));
})();

const counts = [3, 0, 5, 2, 7, 4, 1, 3];


/** log p(y) for y_i ~ Poisson(λ), λ ~ gamma(a, b): a product of negative binomials. */
function poissonEvidence(ys: number[], a: number, b: number): number {
  const n = ys.length;
  const s = ys.reduce((x, v) => x + v, 0);
  const logFact = ys.reduce((x, v) => x + lgammaF64(v + 1), 0);
  return -logFact + a * Math.log(b) - lgammaF64(a) + lgammaF64(a + s) - (a + s) * Math.log(b + n);
}

interface RunStats {
  mean: number[];
  variance: number[];
  logZ: number[];
}

function runMany(model: Model, bound: BoundModel, name: string, opts: SmcOptions): RunStats {
  const out: RunStats = { mean: [], variance: [], logZ: [] };
  for (let r = 0; r < RUNS; r++) {
    const res: SmcResult = smc(model, bound, { particles: 1000, ...opts, seed: 101 + 17 * r });
    const m = res.moments(name);
    out.mean.push(m.mean);
    out.variance.push(m.variance);
    out.logZ.push(res.logZ);
  }
  return out;
}

/** z-score of the average of independent run estimates against `exact`, by their spread. */
function zAcross(xs: number[], exact: number): number {
  const n = xs.length;
  const m = xs.reduce((a, b) => a + b, 0) / n;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1);
  return (m - exact) / Math.sqrt(v / n);
}

function zScores(s: RunStats, exact: { mean: number; variance: number; logZ: number }) {
  return { mean: zAcross(s.mean, exact.mean), variance: zAcross(s.variance, exact.variance), logZ: zAcross(s.logZ, exact.logZ) };
}

function expectWithin(z: { mean: number; variance: number; logZ: number }, label: string): void {
  expect(Math.abs(z.mean), `${label} mean: z = ${z.mean.toFixed(2)}`).toBeLessThan(Z);
  expect(Math.abs(z.variance), `${label} variance: z = ${z.variance.toFixed(2)}`).toBeLessThan(Z);
  expect(Math.abs(z.logZ), `${label} log Z: z = ${z.logZ.toFixed(2)}`).toBeLessThan(Z);
}

describe('tempered target', () => {
  it('is log prior + log|J| + β log lik, with the matching gradient (Poisson–gamma, log transform)', () => {
    const bound = compile(POISSON_GAMMA).bind({ y: counts });
    const t = TemperedTarget.of(bound, 0);
    const S = counts.reduce((a, b) => a + b, 0);
    const n = counts.length;
    const logFact = counts.reduce((x, v) => x + lgammaF64(v + 1), 0);
    for (const beta of [0, 0.3, 1]) {
      t.beta = beta;
      for (const u of [-0.7, 0.4, 1.3]) {
        const lam = Math.exp(u);
        const logPrior = Math.log(lam) - lam; // gamma(2, 1): b^a/Γ(a) = 1
        const logLik = S * Math.log(lam) - n * lam - logFact;
        const want = logPrior + u + beta * logLik; // log|dλ/du| = u
        const dWant = 2 - lam + beta * (S - n * lam); // d/du of (u − e^u) + u + β(S u − n e^u − Σ log y!)
        const g = new Float64Array(1);
        const got = t.logDensityGrad(Float64Array.of(u), g);
        expect(got).toBeCloseTo(want, 4);
        expect(t.logDensity([u])).toBeCloseTo(want, 4);
        expect(g[0]).toBeCloseTo(dWant, 3);
        expect(t.logLik([u])).toBeCloseTo(logLik, 4);
      }
    }
  });
});

describe('tempered SMC on conjugate models: posterior moments and log Z within 4 SE across 8 runs', () => {
  it('normal mean, HMC rejuvenation', () => {
    const model = compile(NORMAL_MEAN);
    const bound = model.bind({ y });
    const post = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const exact = { ...post, logZ: normalEvidence(y, 1, 2, 1.5) };
    const s = runMany(model, bound, 'mu', { rejuvenation: { kernel: 'hmc', steps: 3 } });
    expectWithin(zScores(s, exact), 'normal/hmc');
  });

  it('normal mean, random-walk Metropolis rejuvenation, ESS-adapted schedule', () => {
    const model = compile(NORMAL_MEAN);
    const bound = model.bind({ y });
    const post = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const exact = { ...post, logZ: normalEvidence(y, 1, 2, 1.5) };
    const s = runMany(model, bound, 'mu', { adaptOn: 'ess', essThreshold: 0.7, rejuvenation: { kernel: 'rwmh', steps: 5 } });
    expectWithin(zScores(s, exact), 'normal/rwmh');
  });

  it('Poisson–gamma, HMC rejuvenation', () => {
    const model = compile(POISSON_GAMMA);
    const bound = model.bind({ y: counts });
    const post = poissonGamma({ shape: 2, rate: 1, y: counts });
    const exact = { mean: post.mean, variance: post.variance, logZ: poissonEvidence(counts, 2, 1) };
    const s = runMany(model, bound, 'lambda', { rejuvenation: { kernel: 'hmc', steps: 3 } });
    expectWithin(zScores(s, exact), 'poisson/hmc');
  });

  it('Dirichlet–categorical (simplex, 2-D unconstrained), HMC rejuvenation', () => {
    const alpha = [1.5, 2.0, 0.8];
    const dice = [1, 2, 2, 3, 1, 2, 2, 1, 2, 2, 3, 2, 1, 2];
    const model = compile(DIRICHLET_CATEGORICAL);
    const bound = model.bind({ y: dice });
    const post = dirichletCategorical({ alpha, y: dice });
    const a0 = alpha.reduce((x, v) => x + v, 0);
    const logZ = lgammaF64(a0) - lgammaF64(a0 + dice.length) + post.alpha.reduce((x, v, k) => x + lgammaF64(v) - lgammaF64(alpha[k]), 0);
    const stats = alpha.map(() => ({ mean: [] as number[], variance: [] as number[], logZ: [] as number[] }));
    for (let r = 0; r < RUNS; r++) {
      const res = smc(model, bound, { particles: 1000, seed: 7 + 13 * r, rejuvenation: { kernel: 'hmc', steps: 3 } });
      alpha.forEach((_, k) => {
        const m = res.moments(`theta.${k + 1}`);
        stats[k].mean.push(m.mean);
        stats[k].variance.push(m.variance);
        stats[k].logZ.push(res.logZ);
      });
    }
    alpha.forEach((_, k) => expectWithin(zScores(stats[k], { mean: post.mean[k], variance: post.variance[k], logZ }), `dirichlet theta.${k + 1}`));
  });

  it('mutation: rejuvenating with the previous stage\'s β fails the same checks', () => {
    const model = compile(NORMAL_MEAN);
    const bound = model.bind({ y });
    const post = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const exact = { ...post, logZ: normalEvidence(y, 1, 2, 1.5) };
    const z = zScores(runMany(model, bound, 'mu', { rejuvenation: { kernel: 'hmc', steps: 3 }, _testBias: 'kernel-beta' }), exact);
    expect(Math.max(Math.abs(z.mean), Math.abs(z.variance), Math.abs(z.logZ)), JSON.stringify(z)).toBeGreaterThan(Z);
  });

  it('returns the schedule, ESS history and constrained particles; the same seed gives the same run', () => {
    const model = compile(POISSON_GAMMA);
    const bound = model.bind({ y: counts });
    const a = smc(model, bound, { particles: 200, seed: 9, rejuvenation: { kernel: 'rwmh', steps: 2 } });
    const b = smc(model, bound, { particles: 200, seed: 9, rejuvenation: { kernel: 'rwmh', steps: 2 } });
    expect(a.betas[0]).toBe(0);
    expect(a.betas[a.betas.length - 1]).toBe(1);
    for (let i = 1; i < a.betas.length; i++) expect(a.betas[i]).toBeGreaterThan(a.betas[i - 1]);
    expect(a.ess.length).toBe(a.betas.length);
    expect(a.logZIncrements.length).toBe(a.betas.length - 1);
    expect(a.logZ).toBeCloseTo(a.logZIncrements.reduce((x, v) => x + v, 0), 10);
    expect(a.names).toEqual(['lambda']);
    expect(a.particles.every((p) => p[0] > 0)).toBe(true);
    expect(a.particles[0][0]).toBeCloseTo(Math.exp(a.unconstrained[0][0]), 5);
    expect(a.weights.reduce((x, v) => x + v, 0)).toBeCloseTo(1, 12);
    expect(b.logZ).toBe(a.logZ);
    expect(b.moments('lambda')).toEqual(a.moments('lambda'));
    const c = smc(model, bound, { particles: 200, seed: 10, rejuvenation: { kernel: 'rwmh', steps: 2 } });
    expect(c.logZ).not.toBe(a.logZ);
  });
});

describe('resampling', () => {
  const w = [0.05, 0.1, 0.15, 0.2, 0.3, 0.2];
  const n = 37; // n·w_k is not an integer, so every scheme has randomness in every count
  const R = 4000;
  // 0.999 quantile of χ² with 5 degrees of freedom.
  const CHI2_5_999 = 20.515;

  /** Pearson statistic of the counts summed over R resamplings against R·n·w (multinomial variance: conservative for the lower-variance schemes). */
  function chiSquare(draw: (rng: ReturnType<Key['rng']>) => Int32Array, weights: number[]): { x2: number; perCount: number[][] } {
    const rng = Key.seed(77).rng();
    const total = new Float64Array(weights.length);
    const perCount: number[][] = weights.map(() => []);
    for (let r = 0; r < R; r++) {
      const c = new Float64Array(weights.length);
      for (const i of draw(rng)) c[i]++;
      for (let k = 0; k < weights.length; k++) {
        total[k] += c[k];
        perCount[k].push(c[k]);
      }
    }
    let x2 = 0;
    for (let k = 0; k < weights.length; k++) {
      const e = R * n * weights[k];
      x2 += (total[k] - e) ** 2 / e;
    }
    return { x2, perCount };
  }

  for (const scheme of ['systematic', 'multinomial', 'residual'] as ResampleScheme[]) {
    it(`${scheme} is unbiased: expected counts n·w (chi-square and per-count z within 4 SE)`, () => {
      const { x2, perCount } = chiSquare((rng) => resample(scheme, w, n, rng), w);
      expect(x2, `χ² = ${x2}`).toBeLessThan(CHI2_5_999);
      perCount.forEach((cs, k) => {
        const m = cs.reduce((a, b) => a + b, 0) / R;
        const v = cs.reduce((a, b) => a + (b - m) ** 2, 0) / (R - 1);
        expect(Math.abs(m - n * w[k]) / Math.sqrt(v / R), `count ${k}`).toBeLessThan(Z);
      });
    });
  }

  it('the chi-square detects a biased scheme (resampling from slightly wrong weights)', () => {
    const wrong = [0.06, 0.1, 0.14, 0.2, 0.3, 0.2];
    const { x2 } = chiSquare((rng) => systematicResample(wrong, n, rng), w);
    expect(x2).toBeGreaterThan(CHI2_5_999);
  });

  it('systematic counts are ⌊n w⌋ or ⌈n w⌉; residual keeps ⌊n w⌋ copies; all return n indices in range', () => {
    const rng = Key.seed(3).rng();
    for (let r = 0; r < 200; r++) {
      const sys = systematicResample(w, n, rng);
      const res = residualResample(w, n, rng);
      const mul = multinomialResample(w, n, rng);
      for (const idx of [sys, res, mul]) {
        expect(idx.length).toBe(n);
        expect(idx.every((i) => i >= 0 && i < w.length)).toBe(true);
      }
      const cs = w.map((_, k) => sys.filter((i) => i === k).length);
      const cr = w.map((_, k) => res.filter((i) => i === k).length);
      w.forEach((wk, k) => {
        expect(cs[k]).toBeGreaterThanOrEqual(Math.floor(n * wk));
        expect(cs[k]).toBeLessThanOrEqual(Math.ceil(n * wk));
        expect(cr[k]).toBeGreaterThanOrEqual(Math.floor(n * wk));
      });
    }
  });

  it('weights from log weights, ESS, and bad weights', () => {
    const lw = weightsFromLog([Math.log(1), Math.log(3), -Infinity, 1000 + Math.log(0)]);
    [0.25, 0.75, 0, 0].forEach((v, i) => expect(lw[i]).toBeCloseTo(v, 14));
    expect(effectiveSize([1, 1, 1, 1])).toBeCloseTo(4, 12);
    expect(effectiveSize([1, 0, 0, 0])).toBeCloseTo(1, 12);
    expect(effectiveSize([0.5, 0.25, 0.25])).toBeCloseTo(1 / (0.25 + 0.0625 + 0.0625), 12);
    const rng = Key.seed(1).rng();
    expect(() => systematicResample([0, 0], 3, rng)).toThrow(/sum to 0/);
    expect(() => systematicResample([1, -1], 3, rng)).toThrow(/nonnegative/);
    expect(() => systematicResample([1, 1], 0, rng)).toThrow(/positive integer/);
  });
});
