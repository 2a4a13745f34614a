// Tempered SMC, single-pass target: the prior-only potential (`likelihood: false`) plus the
// likelihood potential is the full potential; the one-likelihood-pass tempered target equals
// the two-pass form −V_full + (1 − β) V_lik in value and gradient; ℓ is reused at accepted
// points; and log Z of a correlated 2-D conjugate model (Bayesian linear regression, so the
// dense cloud metric matters) stays unbiased, within 4 Monte Carlo SE estimated from the
// spread of 8 independent runs, while rejuvenating with the wrong β fails the same check.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compile, ensureBackend } from '../../src';
import { smc, TemperedTarget, type SmcOptions } from '../../src/infer/smc';
import { Key } from '../../src/tensor/random';
import type { BoundModel, PotentialFunction } from '../../src/model/bound-model';
import { REGRESSION_LINE, REGRESSION_DATA, logZScore, regressionEvidence } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const galaxyY = readFileSync('examples/galaxies/galaxies.csv', 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).slice(1).map(Number);

describe('single-pass tempered target', () => {
  let bound: BoundModel;
  let full: PotentialFunction;
  let lik: PotentialFunction;
  let prior: PotentialFunction;
  let points: Float64Array[];
  beforeAll(() => {
    bound = compile(readFileSync('examples/galaxies/galaxies.mix', 'utf8')).bind({ y: galaxyY, K: 3 });
    full = bound.potentialFunction();
    lik = bound.potentialFunction({ priors: false, jacobian: false });
    prior = bound.potentialFunction({ likelihood: false });
    const rng = Key.seed(3).rng();
    points = Array.from({ length: 4 }, () => Float64Array.from({ length: bound.dim }, () => rng.normal(0, 0.7)));
  });

  it('V_prior + V_lik = V_full, traced and on the tensor path, values and gradients', () => {
    expect(prior.traced).toBe(true);
    const g = new Float64Array(bound.dim);
    const gl = new Float64Array(bound.dim);
    const gp = new Float64Array(bound.dim);
    for (const u of points) {
      const vf = full.valueAndGrad(u, g);
      const vl = lik.valueAndGrad(u, gl);
      const vp = prior.valueAndGrad(u, gp);
      // float64 replay: agreement to rounding of sums of ~100-term magnitudes.
      expect(Math.abs(vp + vl - vf)).toBeLessThan(1e-9 * Math.abs(vf));
      for (let j = 0; j < bound.dim; j++) expect(Math.abs(gp[j] + gl[j] - g[j])).toBeLessThan(1e-9 * (1 + Math.abs(g[j])));
      // The tensor path (float32): relative 1e-5.
      const t = bound.potential(u, { likelihood: false });
      expect(Math.abs(t - vp)).toBeLessThan(1e-5 * (1 + Math.abs(vp)));
    }
    // A prior-only potential without priors is the log Jacobian term alone, or zero.
    expect(bound.potential(points[0], { likelihood: false, priors: false, jacobian: false })).toBe(-0);
  });

  it('equals the two-pass target −V_full + (1 − β) V_lik in value and gradient; ℓ is kept', () => {
    const t = TemperedTarget.of(bound, 0);
    const g = new Float64Array(bound.dim);
    const gf = new Float64Array(bound.dim);
    const gl = new Float64Array(bound.dim);
    for (const beta of [0, 0.01, 0.4, 1]) {
      t.beta = beta;
      for (const u of points) {
        const got = t.logDensityGrad(u, g);
        const vf = full.valueAndGrad(u, gf);
        const vl = lik.valueAndGrad(u, gl);
        const want = -vf + (1 - beta) * vl;
        expect(Math.abs(got - want)).toBeLessThan(1e-9 * (1 + Math.abs(want)));
        expect(Math.abs(t.logDensity(u) - want)).toBeLessThan(1e-9 * (1 + Math.abs(want)));
        for (let j = 0; j < bound.dim; j++) {
          const gw = -gf[j] + (1 - beta) * gl[j];
          expect(Math.abs(g[j] - gw)).toBeLessThan(1e-9 * (1 + Math.abs(gw)));
        }
        expect(t.lastLogLik).toBe(-vl);
        expect(t.logLikAt(u)).toBe(-vl);
      }
    }
    // At another point logLikAt evaluates afresh.
    t.logDensity(points[0]);
    expect(t.logLikAt(points[1])).toBe(-lik.value(points[1]));
  });

  it('one likelihood pass: fewer likelihood evaluations than the two-pass form', () => {
    let calls = 0;
    const counted = { ...lik, valueAndGrad: (u: ArrayLike<number>, g: Float64Array) => { calls++; return lik.valueAndGrad(u, g); }, value: (u: ArrayLike<number>) => { calls++; return lik.value(u); } };
    const t = new TemperedTarget(prior, counted, 0.5);
    t.logDensityGrad(points[0], new Float64Array(bound.dim));
    expect(calls).toBe(1);
  });
});

const { model: REGRESSION, x: xs, y: ys } = { model: REGRESSION_LINE, ...REGRESSION_DATA };

describe('log Z stays unbiased with the single-pass target, dense metric and per-sweep step adaptation', () => {
  const model = compile(REGRESSION);
  let bound: BoundModel;
  const exact = regressionEvidence(xs, ys, 2, 0.5);
  beforeAll(() => {
    bound = model.bind({ x: xs, y: ys });
  });
  const RUNS = 8;
  const zOf = (opts: SmcOptions) => {
    const z: number[] = [];
    for (let r = 0; r < RUNS; r++) z.push(smc(model, bound, { particles: 400, seed: 31 + 7 * r, data: { x: xs }, ...opts }).logZ);
    return logZScore(z, exact);
  };

  it('dense metric: log Z within 4 SE of the closed form', () => {
    const z = zOf({ rejuvenation: { kernel: 'hmc', steps: 2, metric: 'dense' } });
    expect(Math.abs(z), `z = ${z.toFixed(2)}`).toBeLessThan(4);
  });

  it('mutation: rejuvenating with the previous stage\'s β fails the same check', () => {
    const z = zOf({ rejuvenation: { kernel: 'hmc', steps: 2, metric: 'dense' }, _testBias: 'kernel-beta' });
    expect(Math.abs(z), `z = ${z.toFixed(2)}`).toBeGreaterThan(4);
  });

  it('refuses a bad metric name', () => {
    expect(() => smc(model, bound, { rejuvenation: { metric: 'full' as 'dense' } })).toThrow(RangeError);
  });
});
