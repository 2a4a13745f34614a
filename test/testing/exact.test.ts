import { describe, expect, it } from 'vitest';
import { Key } from '../../src/tensor/random';
import { lgammaF64 } from '../../src/tensor/special';
import { betaBinomial, checkMoments, dirichletCategorical, normalInverseGamma, normalKnownVariance, poissonGamma } from '../../src/testing/exact';

/** Posterior mean and variance of a 1-D unnormalised log density by the trapezoid rule on [lo, hi]. */
function quadrature(logDensity: (x: number) => number, lo: number, hi: number, n = 20001): { mean: number; variance: number } {
  const h = (hi - lo) / (n - 1);
  const xs = Array.from({ length: n }, (_, i) => lo + i * h);
  const lps = xs.map(logDensity);
  const mx = Math.max(...lps);
  let z = 0;
  let m1 = 0;
  let m2 = 0;
  xs.forEach((x, i) => {
    const w = Math.exp(lps[i] - mx) * (i === 0 || i === n - 1 ? 0.5 : 1);
    z += w;
    m1 += w * x;
    m2 += w * x * x;
  });
  const mean = m1 / z;
  return { mean, variance: m2 / z - mean * mean };
}

describe('conjugate posteriors agree with numerical integration of prior × likelihood', () => {
  it('normal mean, known variance', () => {
    const y = [0.3, -1.2, 2.5, 0.8];
    const e = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const q = quadrature((mu) => -0.5 * ((mu - 1) / 2) ** 2 + y.reduce((s, v) => s - 0.5 * ((v - mu) / 1.5) ** 2, 0), -15, 15);
    expect(e.mean).toBeCloseTo(q.mean, 8);
    expect(e.variance).toBeCloseTo(q.variance, 8);
  });

  it('Poisson–gamma', () => {
    const y = [3, 1, 4, 0, 2];
    const e = poissonGamma({ shape: 2, rate: 0.5, y });
    const q = quadrature((l) => (l <= 0 ? -Infinity : (2 - 1) * Math.log(l) - 0.5 * l + y.reduce((s, v) => s + v * Math.log(l) - l, 0)), 0, 30);
    expect(e.mean).toBeCloseTo(q.mean, 7);
    expect(e.variance).toBeCloseTo(q.variance, 7);
    expect(() => poissonGamma({ shape: 1, rate: 1, y: [1.5] })).toThrow(/y\[0\] is 1.5, not a count/);
  });

  it('beta–binomial, from counts or 0/1 outcomes', () => {
    const e = betaBinomial({ a: 2, b: 3, successes: 7, trials: 10 });
    const q = quadrature((p) => (p <= 0 || p >= 1 ? -Infinity : (2 - 1 + 7) * Math.log(p) + (3 - 1 + 3) * Math.log1p(-p)), 0, 1);
    expect(e.mean).toBeCloseTo(q.mean, 8);
    expect(e.variance).toBeCloseTo(q.variance, 8);
    expect(betaBinomial({ a: 2, b: 3, y: [1, 1, 0, 1, 1, 1, 0, 1, 1, 0] })).toEqual(e);
    expect(() => betaBinomial({ a: 1, b: 1, successes: 11, trials: 10 })).toThrow(/successes must be an integer in 0..trials/);
  });

  it('categorical–Dirichlet: each element is beta(α_k, α_0 - α_k); Dirichlet draws agree', () => {
    const e = dirichletCategorical({ alpha: [1, 2, 0.5], y: [1, 3, 3, 2, 3, 3] });
    expect(e.alpha).toEqual([2, 3, 4.5]);
    e.alpha.forEach((ak, k) => {
      const b = betaBinomial({ a: ak, b: 9.5 - ak, successes: 0, trials: 0 });
      expect(e.mean[k]).toBeCloseTo(b.mean, 14);
      expect(e.variance[k]).toBeCloseTo(b.variance, 14);
    });
    const rng = Key.seed(3).rng();
    const draws = Array.from({ length: 20000 }, () => rng.dirichlet(e.alpha));
    e.mean.forEach((m, k) => {
      const r = checkMoments(draws.map((d) => d[k]), { mean: m, variance: e.variance[k] }, { label: `theta[${k + 1}]` });
      expect(r.ok, r.message).toBe(true);
    });
    expect(dirichletCategorical({ alpha: [1, 2, 0.5], counts: [1, 1, 4] })).toEqual(e);
    expect(() => dirichletCategorical({ alpha: [1, 1], y: [3] })).toThrow(/y\[0\] is 3, not a category in 1..2/);
  });

  it('normal–inverse-gamma: μ, σ² and σ by 2-D quadrature', () => {
    const y = [1.2, 0.4, 0.9, 2.1, -0.3];
    const [m0, k0, a0, b0] = [0.5, 2, 3, 2];
    const e = normalInverseGamma({ m: m0, kappa: k0, shape: a0, scale: b0, y });
    // Unnormalised log joint in (μ, s2): inv_gamma(s2; a0, b0) normal(μ; m0, √(s2/k0)) Π normal(y; μ, √s2)
    const logJoint = (mu: number, s2: number) =>
      -(a0 + 1) * Math.log(s2) - b0 / s2 - 0.5 * Math.log(s2 / k0) - (k0 * (mu - m0) ** 2) / (2 * s2) +
      y.reduce((s, v) => s - 0.5 * Math.log(s2) - ((v - mu) ** 2) / (2 * s2), 0);
    const nm = 600;
    const ns = 1200;
    let z = 0, mMu = 0, mMu2 = 0, mS2 = 0, mS4 = 0, mS = 0;
    for (let i = 0; i < nm; i++) {
      const mu = -4 + (9 * (i + 0.5)) / nm;
      for (let j = 0; j < ns; j++) {
        const s2 = (30 * (j + 0.5)) / ns;
        const w = Math.exp(logJoint(mu, s2) + 10);
        z += w; mMu += w * mu; mMu2 += w * mu * mu; mS2 += w * s2; mS4 += w * s2 * s2; mS += w * Math.sqrt(s2);
      }
    }
    expect(e.mu.mean).toBeCloseTo(mMu / z, 4);
    expect(e.mu.variance).toBeCloseTo(mMu2 / z - (mMu / z) ** 2, 4);
    expect(e.sigma2.mean).toBeCloseTo(mS2 / z, 3);
    expect(e.sigma2.variance).toBeCloseTo(mS4 / z - (mS2 / z) ** 2, 2);
    expect(e.sigma.mean).toBeCloseTo(mS / z, 4);
    // moments that do not exist are Infinity, not NaN
    const thin = normalInverseGamma({ m: 0, kappa: 1, shape: 0.5, scale: 1, y: [1] });
    expect(thin.sigma2.variance).toBe(Infinity);
    expect(thin.sigma2.mean).toBe(Infinity);
    expect(lgammaF64(thin.shape)).toBeCloseTo(0, 12); // shape' = 1
  });
});

describe('checkMoments', () => {
  function ar1(seed: number, n: number, phi: number, mean: number, sd: number): Float64Array {
    const rng = Key.seed(seed).rng();
    const innov = sd * Math.sqrt(1 - phi * phi);
    const x = new Float64Array(n);
    x[0] = rng.normal(mean, sd);
    for (let i = 1; i < n; i++) x[i] = mean + phi * (x[i - 1] - mean) + rng.normal(0, innov);
    return x;
  }

  it('accepts exact independent draws', () => {
    const rng = Key.seed(1).rng();
    const draws = Array.from({ length: 5000 }, () => rng.normal(2, 0.5));
    const r = checkMoments(draws, { mean: 2, variance: 0.25 });
    expect(r.ok, r.message).toBe(true);
    expect(r.mean.ess).toBeGreaterThan(3000);
    expect(r.message).toMatch(/moments agree/);
  });

  it('judges correlated draws by their ESS: both z are calibrated over 1000 AR(1) chains', () => {
    let outMean = 0;
    let outVar = 0;
    const reps = 1000;
    for (let r = 0; r < reps; r++) {
      const c = checkMoments(ar1(100 + r, 2000, 0.8, 1, 2), { mean: 1, variance: 4 });
      if (Math.abs(c.mean.z) > 1.96) outMean++;
      if (Math.abs(c.variance!.z) > 1.96) outVar++;
    }
    // 5% of |z| beyond 1.96 if the MCSEs are right: 4-sigma binomial band.
    const sd = Math.sqrt(reps * 0.05 * 0.95);
    expect(Math.abs(outMean - 50)).toBeLessThan(4 * sd);
    expect(Math.abs(outVar - 50)).toBeLessThan(4 * sd);
  });

  it('rejects a shifted mean and an inflated variance, saying which and by how much', () => {
    const rng = Key.seed(2).rng();
    const shifted = Array.from({ length: 20000 }, () => rng.normal(0.1, 1));
    const a = checkMoments(shifted, { mean: 0, variance: 1 }, { label: 'mu' });
    expect(a.ok).toBe(false);
    expect(a.mean.z).toBeGreaterThan(4);
    expect(Math.abs(a.variance!.z)).toBeLessThan(4);
    expect(a.message).toMatch(/^mu: mean off by more than 4 MCSE/);
    const wide = Array.from({ length: 20000 }, () => rng.normal(0, 1.1));
    const b = checkMoments(wide, { mean: 0, variance: 1 }, { label: 'sigma' });
    expect(b.ok).toBe(false);
    expect(b.variance!.z).toBeGreaterThan(4);
    expect(b.message).toMatch(/sigma: variance off by more than 4 MCSE/);
    expect(b.message).toMatch(/variance 1\.\d+ vs expected 1: off by 0\.\d+ \(\d+(\.\d+)?%\) = \d+(\.\d+)? MCSE/);
  });

  it('rejects bad input', () => {
    expect(() => checkMoments([1, 2, 3], { mean: 0 })).toThrow(/at least 10 draws/);
    expect(() => checkMoments(Array(20).fill(0).map((_, i) => (i === 5 ? NaN : i)), { mean: 0 })).toThrow(/draws\[5\] is NaN/);
    expect(() => checkMoments(Array(20).fill(1), { mean: 0, variance: -1 })).toThrow(/expected variance/);
    // constant draws: MCSE 0, so any difference is an infinite z
    expect(checkMoments(Array(20).fill(1), { mean: 0 }).mean.z).toBe(Infinity);
  });
});
