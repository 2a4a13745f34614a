import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Key } from '../../src/tensor/random';
import { normalKnownVariance } from '../../src/testing/exact';
import { gewekeCompare } from '../../src/testing/geweke';
import { expectGewekePasses, expectPosteriorMoments, expectSameDistribution, PropertyTestError } from '../../src/testing/vitest';

describe('expectSameDistribution', () => {
  const rng = Key.seed(10).rng();
  const a = Array.from({ length: 300 }, () => rng.normal());
  const b = Array.from({ length: 300 }, () => rng.normal());
  const shifted = Array.from({ length: 300 }, () => rng.normal(0.5));

  it('passes for two samples of one distribution (KS, MMD, both)', () => {
    expectSameDistribution(a, b);
    expectSameDistribution(a, b, { test: 'mmd' });
    expectSameDistribution(a, b, { test: 'both' });
  });

  it('fails for a shift, with statistics and summaries in the message', () => {
    expect(() => expectSameDistribution(a, shifted, { label: 'mu draws' })).toThrow(PropertyTestError);
    expect(() => expectSameDistribution(a, shifted, { label: 'mu draws' })).toThrow(/^mu draws differ in distribution at alpha = 0.01: KS D = [\d.]+, p = [\d.e-]+; first: n = 300, mean [-\d.e]+, sd [\d.]+; second: n = 300, mean 0\.\d+/);
    expect(() => expectSameDistribution(a, shifted, { test: 'mmd' })).toThrow(/MMD² = /);
  });

  it('compares points with MMD', () => {
    const p = Array.from({ length: 80 }, () => [rng.normal(), rng.normal()]);
    const q = Array.from({ length: 80 }, () => [rng.normal(), rng.normal()]);
    const corr = Array.from({ length: 80 }, () => {
      const z = rng.normal();
      return [z, z + 0.2 * rng.normal()];
    });
    expectSameDistribution(p, q);
    // same marginals, different dependence
    expect(() => expectSameDistribution(p, corr)).toThrow(/80 points/);
    expect(() => expectSameDistribution(p, q, { test: 'ks' })).toThrow(/KS test needs scalar samples/);
  });

  it('works as a fast-check property', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        const r = Key.seed(seed).rng();
        // Box–Muller normals vs normals from the inverse CDF of a uniform: one law.
        const x = Array.from({ length: 200 }, () => r.normal());
        const y = Array.from({ length: 200 }, () => r.gamma(4, 2));
        expect(() => expectSameDistribution(x, y, { alpha: 1e-3 })).toThrow(PropertyTestError);
      }),
      { numRuns: 10, seed: 1 },
    );
  });
});

describe('expectPosteriorMoments', () => {
  const y = [0.5, 1.5, 0.2];
  const exact = normalKnownVariance({ priorMean: 0, priorSd: 1, sigma: 1, y });
  const rng = Key.seed(12).rng();
  const good = Array.from({ length: 4000 }, () => rng.normal(exact.mean, Math.sqrt(exact.variance)));
  const narrow = Array.from({ length: 4000 }, () => rng.normal(exact.mean, 0.8 * Math.sqrt(exact.variance)));

  it('passes exact draws, single or keyed by name', () => {
    expectPosteriorMoments(good, exact);
    expectPosteriorMoments({ mu: good, tau: good }, { mu: exact, tau: exact });
  });

  it('names the parameter and the moment that is off', () => {
    expect(() => expectPosteriorMoments({ mu: good, tau: narrow }, { mu: exact, tau: exact })).toThrow(/off for 1 of 2:\n {2}tau: variance off by more than 4 MCSE/);
    expect(() => expectPosteriorMoments({ mu: good }, { mu: exact, tau: exact })).toThrow(/no draws for 'tau'/);
  });
});

describe('Geweke comparison and expectGewekePasses', () => {
  const rng = Key.seed(13).rng();
  const marginal = Array.from({ length: 2000 }, () => rng.normal());
  // An AR(1) chain with the same N(0, 1) stationary law: passes despite autocorrelation.
  const chain = new Float64Array(2000);
  chain[0] = rng.normal();
  for (let i = 1; i < 2000; i++) chain[i] = 0.7 * chain[i - 1] + Math.sqrt(1 - 0.49) * rng.normal();
  const square = (xs: ArrayLike<number>) => Float64Array.from(xs as ArrayLike<number>, (v) => v * v);

  it('passes for the same stationary law', () => {
    const r = gewekeCompare({ mu: marginal, 'mu^2': square(marginal) }, { mu: chain, 'mu^2': square(chain) });
    expect(r.failed).toEqual([]);
    expect(r.tests.mu.ess).toBeLessThan(2000 * 0.5); // (1-φ)/(1+φ) = 0.18 of n
    expectGewekePasses(r);
  });

  it('fails a chain with the wrong variance, on the squared test function', () => {
    const wide = Float64Array.from(chain, (v) => 1.3 * v);
    const r = gewekeCompare({ mu: marginal, 'mu^2': square(marginal) }, { mu: wide, 'mu^2': square(wide) });
    expect(r.failed).toEqual(['mu^2']);
    expect(() => expectGewekePasses(r)).toThrow(/1 of 2 test functions disagree.*\n {2}mu\^2: marginal-conditional [\d.]+ ± [\d.]+ vs successive-conditional [\d.]+ ± [\d.]+ \(ESS [\d.]+\); z = -[\d.]+/);
  });
});
