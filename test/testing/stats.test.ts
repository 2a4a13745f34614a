import { describe, expect, it } from 'vitest';
import { Key } from '../../src/tensor/random';
import { erfcF64, gammainccF64, ndtrF64 } from '../../src/tensor/special';
import {
  autocorrelation, bonferroni, chiSquarePValue, chiSquareTest, effectiveSampleSize, gammaP, gammaQ, holm,
  kolmogorovPValue, kolmogorovSurvival, ksTest, ksTest2, mcseMean, mmd2, mmdTest, normalTwoSidedPValue,
  rankBins, rankUniformityTest,
} from '../../src/testing/stats';

/** 4-sigma binomial interval for a count of successes in n trials of probability p. */
function binomialBand(n: number, p: number): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p));
  return [n * p - 4 * sd, n * p + 4 * sd];
}

describe('incomplete gamma and chi-square', () => {
  it('matches closed forms: Q(1, x) = e^-x, χ²(2) tail e^{-x/2}, χ²(1) tail erfc(√(x/2))', () => {
    for (const x of [0.01, 0.5, 1, 2.5, 10, 40]) {
      expect(gammaQ(1, x)).toBeCloseTo(Math.exp(-x), 14);
      expect(gammaP(1, x)).toBeCloseTo(-Math.expm1(-x), 14);
      expect(chiSquarePValue(x, 2) / Math.exp(-x / 2)).toBeCloseTo(1, 12);
      expect(chiSquarePValue(x, 1) / erfcF64(Math.sqrt(x / 2))).toBeCloseTo(1, 11);
    }
  });

  it('matches published χ² quantiles (Abramowitz & Stegun table 26.8)', () => {
    expect(chiSquarePValue(3.841459, 1)).toBeCloseTo(0.05, 6);
    expect(chiSquarePValue(18.307038, 10)).toBeCloseTo(0.05, 6);
    expect(chiSquarePValue(6.634897, 1)).toBeCloseTo(0.01, 6);
    expect(chiSquarePValue(124.342113, 100)).toBeCloseTo(0.05, 6);
  });

  it('agrees with the tensor layer float64 implementation and keeps small tails relative', () => {
    for (const [a, x] of [[0.5, 30], [50, 20], [3.5, 2.2], [100, 140], [7, 7.5], [0.1, 1e-3]]) {
      const q = gammaQ(a, x);
      expect(Math.abs(q - gammainccF64(a, x)) / q).toBeLessThan(1e-10);
      expect(gammaP(a, x) + q).toBeCloseTo(1, 12);
    }
    // Q(0.5, 30) = erfc(√30) ≈ 9.4857e-15: the continued fraction keeps full relative accuracy.
    expect(gammaQ(0.5, 30) / erfcF64(Math.sqrt(30))).toBeCloseTo(1, 10);
  });

  it('rejects bad input with a message naming it', () => {
    expect(() => gammaQ(0, 1)).toThrow(/a must be a positive/);
    expect(() => gammaQ(1, NaN)).toThrow(/x must be a nonnegative/);
    expect(() => chiSquarePValue(-1, 3)).toThrow(/statistic/);
    expect(() => chiSquareTest([1, 2], [1, 0])).toThrow(/expected\[1\]/);
    expect(() => chiSquareTest([1, 2, 3], [1, 2])).toThrow(/3 observed counts but 2 expected/);
  });

  it('chiSquareTest computes Pearson’s statistic', () => {
    const r = chiSquareTest([18, 22, 20, 40], [25, 25, 25, 25]);
    expect(r.statistic).toBeCloseTo((49 + 9 + 25 + 225) / 25, 12);
    expect(r.df).toBe(3);
    expect(r.pValue).toBeCloseTo(chiSquarePValue(12.32, 3), 14);
  });
});

describe('Kolmogorov distribution', () => {
  it('hits the tabulated 5% critical values (Miller 1956) for n = 5, 10, 20', () => {
    expect(kolmogorovPValue(5, 0.56328)).toBeCloseTo(0.05, 4);
    expect(kolmogorovPValue(10, 0.40925)).toBeCloseTo(0.05, 4);
    expect(kolmogorovPValue(20, 0.29408)).toBeCloseTo(0.05, 4);
  });

  it('matches the closed forms at both ends of the support', () => {
    // d >= 1 - 1/n: P(D_n >= d) = 2 (1 - d)^n.
    expect(kolmogorovPValue(3, 0.9)).toBeCloseTo(2 * 0.1 ** 3, 12);
    // (the exact method computes the CDF, so the tail has absolute, not relative, accuracy ~1e-15)
    expect(Math.abs(kolmogorovPValue(8, 0.95) - 2 * 0.05 ** 8)).toBeLessThan(1e-15);
    // 1/(2n) < d <= 1/n: P(D_n < d) = n! (2d - 1/n)^n.
    const n = 6;
    const d = 0.15;
    expect(kolmogorovPValue(n, d)).toBeCloseTo(1 - 720 * (2 * d - 1 / n) ** n, 12);
    expect(kolmogorovPValue(n, 1 / (2 * n))).toBe(1);
  });

  it('has the limiting law: Q_KS(1.3581) ≈ 0.05, Q_KS(1) = 0.27000, and both series agree', () => {
    expect(kolmogorovSurvival(1.3581)).toBeCloseTo(0.05, 4);
    expect(kolmogorovSurvival(1)).toBeCloseTo(0.26999967, 7);
    expect(kolmogorovSurvival(0.8)).toBeCloseTo(0.54414241, 7);
    // Large-n exact values approach the Stephens-corrected limit.
    expect(kolmogorovPValue(1000, 0.03)).toBeCloseTo(0.32269, 3);
  });

  it('is monotone in d', () => {
    let prev = 1;
    for (let d = 0.02; d < 1; d += 0.02) {
      const p = kolmogorovPValue(40, d);
      expect(p).toBeLessThanOrEqual(prev + 1e-12);
      prev = p;
    }
  });
});

describe('KS tests', () => {
  it('one-sample statistic is the largest CDF gap', () => {
    const r = ksTest([0.1, 0.5, 0.9], (x) => x);
    // gaps: i/n - F and F - (i-1)/n: max(1/3-0.1, 0.1, 2/3-0.5, 0.5-1/3, 1-0.9, 0.9-2/3) = 0.2333
    expect(r.statistic).toBeCloseTo(0.9 - 2 / 3, 12);
    expect(r.pValue).toBeCloseTo(kolmogorovPValue(3, 0.9 - 2 / 3), 14);
    expect(() => ksTest([0.5, NaN], (x) => x)).toThrow(/sample\[1\] is NaN/);
    expect(() => ksTest([0.5], () => 2)).toThrow(/not a probability/);
  });

  it('one-sample p-values are uniform under H0 (fixed seed, 300 replications)', () => {
    const rng = Key.seed(11).rng();
    const ps: number[] = [];
    for (let r = 0; r < 300; r++) {
      const xs = Array.from({ length: 25 }, () => rng.normal());
      ps.push(ksTest(xs, ndtrF64).pValue);
    }
    const low = ps.filter((p) => p < 0.1).length;
    const [lo, hi] = binomialBand(300, 0.1);
    expect(low).toBeGreaterThan(lo);
    expect(low).toBeLessThan(hi);
  });

  it('two-sample exact p-values match the lattice-path reference (scipy ks_2samp exact)', () => {
    const a = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47];
    const b = [2.2, 1.66, 1.38, 0.2, 0.36, 0.0, 0.96, 1.56, 0.44, 1.5, -0.3, 0.66, 2.31, 3.29, -0.27, -0.37, 0.38, 0.7, 0.52, -0.71];
    const r = ksTest2(a, b);
    expect(r.statistic).toBeCloseTo(0.23, 12);
    expect(r.pValue).toBeCloseTo(0.5286364448145011, 10);
    const s = ksTest2(a.slice(0, 7), b.slice(0, 9));
    expect(s.statistic).toBeCloseTo(5 / 9, 12);
    expect(s.pValue).toBeCloseTo(0.12674825174825174, 10);
  });

  it('two-sample exact p-value of complete separation is 2 / C(n+m, n)', () => {
    const r = ksTest2([1, 2, 3, 4], [5, 6, 7]);
    expect(r.statistic).toBe(1);
    expect(r.pValue).toBeCloseTo(2 / 35, 14);
  });

  it('two-sample p-values are uniform under H0 and small under a shift', () => {
    const rng = Key.seed(5).rng();
    let low = 0;
    for (let r = 0; r < 300; r++) {
      const x = Array.from({ length: 20 }, () => rng.normal());
      const y = Array.from({ length: 30 }, () => rng.normal());
      if (ksTest2(x, y).pValue < 0.1) low++;
    }
    const [lo, hi] = binomialBand(300, 0.1);
    expect(low).toBeGreaterThan(lo);
    expect(low).toBeLessThan(hi);
    const x = Array.from({ length: 200 }, () => rng.normal());
    const y = Array.from({ length: 200 }, () => rng.normal(0.8));
    expect(ksTest2(x, y).pValue).toBeLessThan(1e-6);
  });
});

describe('rank uniformity', () => {
  it('chooses bins with expected counts >= 5', () => {
    for (const [R, L] of [[100, 99], [30, 9], [500, 999], [13, 5], [1000, 16]]) {
      const B = rankBins(R, L);
      expect(B).toBeGreaterThanOrEqual(2);
      expect(B).toBeLessThanOrEqual(Math.min(20, L + 1));
      expect((R * Math.floor((L + 1) / B)) / (L + 1)).toBeGreaterThanOrEqual(5);
    }
    // 12 ranks on 0..4: bins of widths 2 and 3 expect 4.8 and 7.2.
    expect(() => rankBins(12, 4)).toThrow(/cannot fill two bins/);
  });

  it('accepts uniform ranks and rejects a ∪ shape', () => {
    const rng = Key.seed(3).rng();
    const L = 99;
    const uniform = Array.from({ length: 400 }, () => rng.uniformInt(L + 1));
    const r = rankUniformityTest(uniform, L);
    expect(r.counts.reduce((a, b) => a + b, 0)).toBe(400);
    expect(r.expected.every((e) => e >= 5)).toBe(true);
    expect(r.pValue).toBeGreaterThan(1e-3);
    // Too-narrow posterior: the true value falls in the tails of the draws.
    const cup = Array.from({ length: 400 }, () => (rng.uniform() < 0.5 ? rng.uniformInt(15) : L - rng.uniformInt(15)));
    expect(rankUniformityTest(cup, L).pValue).toBeLessThan(1e-10);
  });

  it('names the bad rank', () => {
    expect(() => rankUniformityTest([...Array(20).fill(1), 12], 10)).toThrow(/rank 20 is 12, not an integer in 0..10/);
  });
});

describe('MMD', () => {
  it('is zero-mean under H0 and positive for separated samples', () => {
    expect(mmd2([0, 0.1, 0.2, 0.3], [5, 5.1, 5.2, 5.3], { bandwidth: 1 }).mmd2).toBeGreaterThan(0.9);
    const x = [[0, 1], [1, 0], [0.5, 0.5]];
    const r = mmd2(x, x);
    // identical samples: unbiased MMD² = -2/(nm) Σ_i k(x_i, x_i) + (off-diagonal terms cancel partially) < 0
    expect(r.mmd2).toBeLessThan(0);
    expect(() => mmd2([[0, 1]], [[1]])).toThrow(/coordinates/);
  });

  it('permutation p-values are uniform under H0 (200 replications, 4-sigma binomial band)', () => {
    const rng = Key.seed(21).rng();
    let below10 = 0;
    let below50 = 0;
    for (let r = 0; r < 200; r++) {
      const x = Array.from({ length: 15 }, () => rng.normal());
      const y = Array.from({ length: 15 }, () => rng.normal());
      const p = mmdTest(x, y, { permutations: 99, seed: r }).pValue;
      if (p <= 0.1) below10++;
      if (p <= 0.5) below50++;
    }
    // With 99 permutations, P(p <= 0.1) = 10/100 and P(p <= 0.5) = 50/100 exactly under H0.
    for (const [count, p] of [[below10, 0.1], [below50, 0.5]]) {
      const [lo, hi] = binomialBand(200, p);
      expect(count).toBeGreaterThan(lo);
      expect(count).toBeLessThan(hi);
    }
  });

  it('gives the smallest possible p-value under a clear alternative', () => {
    const rng = Key.seed(4).rng();
    const x = Array.from({ length: 40 }, () => rng.normal());
    const y = Array.from({ length: 40 }, () => rng.normal(0, 3)); // same mean, different scale
    const r = mmdTest(x, y, { permutations: 199 });
    expect(r.pValue).toBe(1 / 200);
    // reproducible
    expect(mmdTest(x, y, { permutations: 199 }).mmd2).toBe(r.mmd2);
  });
});

describe('multiple testing', () => {
  it('Holm and Bonferroni match R p.adjust', () => {
    const p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.9];
    holm(p).forEach((v, i) => expect(v).toBeCloseTo([0.05, 0.12, 0.12, 0.03, 0.4, 0.9][i], 14));
    bonferroni(p).forEach((v, i) => expect(v).toBeCloseTo([0.06, 0.24, 0.18, 0.03, 1, 1][i], 14));
    expect(() => holm([0.1, NaN])).toThrow(/p-value 1 is NaN/);
  });
});

describe('ESS and MCSE', () => {
  function ar1(rng: ReturnType<Key['rng']>, n: number, phi: number): Float64Array {
    const x = new Float64Array(n);
    x[0] = rng.normal() / Math.sqrt(1 - phi * phi);
    for (let i = 1; i < n; i++) x[i] = phi * x[i - 1] + rng.normal();
    return x;
  }

  it('autocorrelation of AR(1) decays like φ^t', () => {
    const rho = autocorrelation(ar1(Key.seed(1).rng(), 50_000, 0.7));
    expect(rho[0]).toBe(1);
    // sd of ρ̂_t ≈ √((1+φ²)/(1-φ²)/n) ≈ 0.0077 here; 4 sd
    for (const t of [1, 2, 3]) expect(Math.abs(rho[t] - 0.7 ** t)).toBeLessThan(4 * 0.0077 * Math.sqrt(t));
  });

  it('MCSE is calibrated: z = mean/mcse has E[z²] = 1 for iid and AR(1) chains', () => {
    const rng = Key.seed(2).rng();
    for (const phi of [0, 0.9]) {
      let sumZ2 = 0;
      const reps = 400;
      for (let r = 0; r < reps; r++) {
        const m = mcseMean(ar1(rng, 2000, phi));
        sumZ2 += (m.mean / m.mcse) ** 2;
      }
      // mean of 400 χ²(1) has sd √(2/400) = 0.071: 4 sd.
      expect(Math.abs(sumZ2 / reps - 1)).toBeLessThan(4 * 0.071);
    }
  });

  it('handles constant and antithetic chains', () => {
    expect(effectiveSampleSize([2, 2, 2, 2, 2])).toBe(5);
    const alt = Array.from({ length: 1000 }, (_, i) => (i % 2 ? 1 : -1));
    expect(effectiveSampleSize(alt)).toBeCloseTo(1000 * Math.log10(1000), 8);
    expect(() => effectiveSampleSize([1, 2, Infinity, 3])).toThrow(/chain\[2\] is Infinity/);
    expect(() => effectiveSampleSize([1, 2])).toThrow(/at least 4/);
  });

  it('normal two-sided p-value', () => {
    expect(normalTwoSidedPValue(1.959964)).toBeCloseTo(0.05, 6);
    expect(normalTwoSidedPValue(-1.959964)).toBeCloseTo(0.05, 6);
    expect(normalTwoSidedPValue(10) / (2 * ndtrF64(-10))).toBeCloseTo(1, 12);
  });
});
