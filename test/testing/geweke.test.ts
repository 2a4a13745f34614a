import { describe, expect, it } from 'vitest';
import { geweke } from '../../src/testing/geweke';
import { expectGewekePasses } from '../../src/testing/vitest';
import { fakeGewekeModel, gaussianGibbsKernel } from './helpers';

// mu ~ normal(0, 1), y[1..N] ~ normal(mu, 1). The Gibbs kernel draws mu | y exactly. With the
// variance doubled, the successive-conditional chain has stationary Var(mu) = 1.6 (N = 2:
// v = (4/9)v + 2/9 + 2/3), so E[mu²] is 1.6 instead of 1: a z of about 6 at these sizes.
const opts = { data: { N: 2 }, samples: 1000, iterations: 1500, burnIn: 50, seed: 3 };

describe('geweke (hand-written model)', () => {
  const model = fakeGewekeModel();

  it('passes an exact Gibbs kernel', () => {
    const r = geweke(model, gaussianGibbsKernel(), opts);
    expect(Object.keys(r.tests)).toEqual(['mu', 'mu^2']);
    expect(r.failed).toEqual([]);
    expect(r.samples).toBe(1000);
    expect(r.iterations).toBe(1500);
    // The chain mixes (ρ = N/(N+1) = 2/3): ESS well below the iteration count but not tiny.
    expect(r.tests.mu.ess).toBeLessThan(1500);
    expectGewekePasses(r);
  });

  it('fails a kernel with the wrong conditional variance, on mu^2', () => {
    const r = geweke(model, gaussianGibbsKernel(2), opts);
    expect(r.failed).toContain('mu^2');
    expect(r.tests['mu^2'].successiveMean).toBeGreaterThan(r.tests['mu^2'].marginalMean);
    expect(() => expectGewekePasses(r)).toThrow(/mu\^2: marginal-conditional/);
  });

  it('accepts custom test functions and checks its options', () => {
    const r = geweke(model, gaussianGibbsKernel(), { ...opts, iterations: 200, samples: 200, testFunctions: { 'mu>0': (t) => (t.mu.values[0] > 0 ? 1 : 0) } });
    expect(Object.keys(r.tests)).toEqual(['mu>0']);
    expect(() => geweke(model, gaussianGibbsKernel(), { ...opts, thin: 0 })).toThrow(/thin must be an integer >= 1, got 0/);
    const broken = { init: () => 0, step: () => ({ state: 0, u: Float64Array.of(NaN) }) };
    expect(() => geweke(model, broken, opts)).toThrow(/kernel.step returned u\[0\] = NaN/);
  });
});
