import { describe, expect, it } from 'vitest';
import { Key } from '../../src/tensor/random';
import { ecdfBand, ecdfBandSvg, ecdfCheck, ecdfDifference } from '../../src/testing/ecdf';
import { holmAcross, rankOf, sbc, sbcTests } from '../../src/testing/sbc';
import { expectCalibrated, PropertyTestError } from '../../src/testing/vitest';
import { fakeNormalMeanModel, normalMeanSampler } from './helpers';

describe('rankOf', () => {
  it('counts draws below the truth and breaks ties uniformly', () => {
    const rng = Key.seed(0).rng();
    expect(rankOf(0.5, [0.1, 0.9, 0.4], rng)).toBe(2);
    expect(rankOf(-1, [0.1, 0.9], rng)).toBe(0);
    // truth equal to all 4 draws: rank uniform on 0..4
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 2000; i++) counts[rankOf(1, [1, 1, 1, 1], rng)]++;
    for (const c of counts) expect(Math.abs(c - 400)).toBeLessThan(4 * Math.sqrt(2000 * 0.2 * 0.8));
    expect(() => rankOf(0, [0, NaN], rng)).toThrow(/draw 1 is NaN/);
  });
});

describe('sbc on the conjugate normal mean (exact posterior draws)', () => {
  const model = fakeNormalMeanModel();

  it('passes with exact draws', async () => {
    const r = await sbc(model, normalMeanSampler(), { data: { N: 5 }, replications: 200, L: 99, seed: 1 });
    expect(r.L).toBe(99);
    expect(Object.keys(r.ranks)).toEqual(['mu']);
    expect(r.ranks.mu).toHaveLength(200);
    expect(r.ranks.mu.every((x) => Number.isInteger(x) && x >= 0 && x <= 99)).toBe(true);
    expect(r.failed).toEqual([]);
    expect(() => expectCalibrated(r)).not.toThrow();
    expect(r.seconds).toBeGreaterThan(0);
  });

  it('is reproducible for a seed', async () => {
    const a = await sbc(model, normalMeanSampler(), { data: { N: 5 }, replications: 20, seed: 9 });
    const b = await sbc(model, normalMeanSampler(), { data: { N: 5 }, replications: 20, seed: 9 });
    expect(a.ranks).toEqual(b.ranks);
    expect(a.L).toBe(100); // default: all draws of the first replication
  });

  it('fails a posterior shifted by one posterior sd, saying it is shifted', async () => {
    const r = await sbc(model, normalMeanSampler(1, { shift: 1 }), { data: { N: 5 }, replications: 200, L: 99, seed: 1 });
    expect(r.failed).toEqual(['mu']);
    expect(() => expectCalibrated(r)).toThrow(PropertyTestError);
    expect(() => expectCalibrated(r)).toThrow(/mu: .*shifted UP/);
  });

  it('fails a posterior that is too narrow (sd halved), saying so', async () => {
    const r = await sbc(model, normalMeanSampler(1, { scale: 0.5 }), { data: { N: 5 }, replications: 200, L: 99, seed: 1 });
    expect(r.failed).toEqual(['mu']);
    expect(() => expectCalibrated(r)).toThrow(/too NARROW/);
  });

  it('names only the distorted element of a vector parameter', async () => {
    const m3 = fakeNormalMeanModel(3);
    const good = await sbc(m3, normalMeanSampler(3, {}, 60), { data: { N: 4 }, replications: 150, L: 59, seed: 2 });
    expect(Object.keys(good.ranks)).toEqual(['mu[1]', 'mu[2]', 'mu[3]']);
    expect(good.failed).toEqual([]);
    const bad = await sbc(m3, normalMeanSampler(3, { scale: 2, only: 1 }, 60), { data: { N: 4 }, replications: 150, L: 59, seed: 2 });
    expect(bad.failed).toEqual(['mu[2]']);
    expect(() => expectCalibrated(bad)).toThrow(/mu\[2\]: .*too WIDE/);
  });

  it('accepts plain numbers (or a typed array) as the draws of a scalar parameter', async () => {
    const rows = normalMeanSampler(1, {}, 50);
    const plain = async (m: Parameters<typeof rows>[0], d: Parameters<typeof rows>[1], seed: number) => {
      const { draws } = await rows(m, d, seed);
      return { draws: { mu: Float64Array.from(draws.mu as number[][], (x) => x[0]) as unknown as number[] } };
    };
    const a = await sbc(model, rows, { data: { N: 5 }, replications: 20, seed: 4 });
    const b = await sbc(model, plain, { data: { N: 5 }, replications: 20, seed: 4 });
    expect(b.ranks).toEqual(a.ranks);
  });

  it('thins to L and rejects too few draws or a wrong layout', async () => {
    const r = await sbc(model, normalMeanSampler(1, {}, 300), { data: { N: 5 }, replications: 20, L: 30 });
    expect(r.L).toBe(30);
    expect(Math.max(...r.ranks.mu)).toBeLessThanOrEqual(30);
    await expect(sbc(model, normalMeanSampler(1, {}, 20), { data: { N: 5 }, replications: 20, L: 30 })).rejects.toThrow(/returned 20 draws of 'mu', fewer than L = 30/);
    await expect(sbc(model, () => ({ draws: { mu: [[1, 2]] } }), { data: { N: 5 }, replications: 10 })).rejects.toThrow(/draw 0 of 'mu' has 2 elements, expected 1/);
    await expect(sbc(model, () => ({ draws: {} }), { data: { N: 5 }, replications: 10 })).rejects.toThrow(/no draws for parameter 'mu'/);
    await expect(sbc(model, normalMeanSampler(), { data: { N: 5 }, replications: 10, params: ['sigma'] })).rejects.toThrow(/no parameter 'sigma'/);
    await expect(sbc(model, normalMeanSampler(), { data: { N: 5 }, replications: 10, L: 30 })).rejects.toThrow(/10 ranks on 0..30 cannot fill two bins/);
  });
});

describe('sbcTests', () => {
  it('holds its family-wise level: uniform ranks over 300 elements rarely fail', () => {
    const rng = Key.seed(8).rng();
    const ranks: Record<string, number[]> = {};
    for (let e = 0; e < 300; e++) ranks[`x[${e + 1}]`] = Array.from({ length: 100 }, () => rng.uniformInt(50));
    const t = sbcTests(ranks, 49, { alpha: 0.01 });
    // P(any rejection) <= 0.01 under H0; with this fixed seed none may fail.
    expect(t.failed).toEqual([]);
    // Unadjusted p-values of the randomised-PIT KS test are uniform: 4-sigma binomial band.
    const low = Object.values(t.pValues).filter((p) => p.ks < 0.1).length;
    expect(Math.abs(low - 30)).toBeLessThan(4 * Math.sqrt(300 * 0.1 * 0.9));
  });
});

describe('ECDF band (Säilynoja et al. 2022)', () => {
  it('covers fresh uniform rank samples simultaneously with probability 1 - alpha', () => {
    const N = 100;
    const L = 19;
    const band = ecdfBand(N, L, { seed: 0 });
    const rng = Key.seed(77).rng();
    const reps = 400;
    let outside = 0;
    for (let r = 0; r < reps; r++) {
      const ranks = Array.from({ length: N }, () => rng.uniformInt(L + 1));
      const d = ecdfDifference(ranks, L, band);
      if (d.some((v, k) => v < band.lower[k] || v > band.upper[k])) outside++;
    }
    // Discreteness makes the band slightly conservative; a wrong γ would miss by far more than 4 sd.
    const sd = Math.sqrt(reps * 0.05 * 0.95);
    expect(outside).toBeLessThan(reps * 0.05 + 4 * sd);
    expect(outside).toBeGreaterThan(reps * 0.05 - 4 * sd);
    // The simultaneous band is wider than the pointwise 95% one.
    expect(band.gamma).toBeLessThan(0.05);
  });

  it('draws an SVG with one panel per element and flags the miscalibrated one', async () => {
    const r = await sbc(fakeNormalMeanModel(2), normalMeanSampler(2, { scale: 0.4, only: 0 }, 50), { data: { N: 3 }, replications: 100, L: 49 });
    const checks = ecdfCheck(r.ranks, r.L);
    expect(checks['mu[1]'].inside).toBe(false);
    expect(checks['mu[1]'].excess).toBeGreaterThan(0);
    expect(checks['mu[2]'].inside).toBe(true);
    const svg = ecdfBandSvg(r.ranks, r.L, { title: 'too narrow <mu[1]>' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<g>/g)).toHaveLength(2);
    expect(svg).toContain('&lt;mu[1]&gt;');
    expect(svg).toContain('>mu[2]</text>');
    expect(svg).not.toMatch(/NaN/);
    // red markers only where the ECDF leaves the band (all in the first panel)
    expect((svg.match(/<circle/g) ?? []).length).toBeGreaterThan(0);
  });
});

describe('holmAcross', () => {
  it('adjusts every case\'s chi-square and KS p-values as one Holm family and names the failing elements', () => {
    const cases = {
      a: { mu: { chi2: 0.004, ks: 0.3 }, sigma: { chi2: 0.5, ks: 0.02 } },
      b: { lambda: { chi2: 0.0001, ks: 0.001 } },
    };
    const h = holmAcross(cases, 0.01);
    expect(h.tests).toBe(6);
    // Holm by hand: sorted 0.0001, 0.001, 0.004, 0.02, 0.3, 0.5 times 6, 5, 4, 3, 2, 1, made monotone.
    expect(h.adjusted.b.lambda.chi2).toBeCloseTo(0.0006, 12);
    expect(h.adjusted.b.lambda.ks).toBeCloseTo(0.005, 12);
    expect(h.adjusted.a.mu.chi2).toBeCloseTo(0.016, 12);
    expect(h.adjusted.a.sigma.ks).toBeCloseTo(0.06, 12);
    expect(h.adjusted.a.mu.ks).toBeCloseTo(0.6, 12);
    expect(h.adjusted.a.sigma.chi2).toBeCloseTo(0.6, 12);
    // mu's raw 0.004 is below 0.01 but not once adjusted for the six tests.
    expect(h.failed('a')).toEqual([]);
    expect(h.failed('b')).toEqual(['lambda']);
    expect(() => h.failed('c')).toThrow(/holmAcross: no case 'c'/);
    expect(() => holmAcross(cases, 0)).toThrow(/alpha must be in \(0, 1\)/);
  });
});
