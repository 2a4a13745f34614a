// Empty and collapsed components: EM re-seeds them at the worst-fit point and says so;
// every number stays finite, and the log likelihood is non-decreasing between re-seeds.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key } from '../../src/tensor';
import { compile, em, type EmResult } from '../../src';
import { GMM_FULL, GMM_DIAG, allFinite } from './gmm-models';

beforeAll(async () => {
  await useBackend('cpu');
});

const full = GMM_FULL;
const diag = GMM_DIAG;


/** Non-decreasing except across a re-seed (trace[e.traceIndex] -> trace[e.traceIndex + 1]). */
function expectMonotoneBetweenReseeds(r: EmResult): void {
  const across = new Set(r.reseeds.map((e) => e.traceIndex + 1));
  for (let i = 1; i < r.trace.length; i++) {
    if (across.has(i)) continue;
    // float32 evaluation of a sum over the points: rounding of 1e-5 relative plus a floor (as em-monotone.test.ts).
    const slack = 1e-5 * Math.abs(r.trace[i - 1]) + 1e-4;
    expect(r.trace[i], `iteration ${i}`).toBeGreaterThanOrEqual(r.trace[i - 1] - slack);
  }
}

function expectFinite(r: EmResult): void {
  expect(Number.isFinite(r.logLik)).toBe(true);
  expect(r.trace.every(Number.isFinite)).toBe(true);
  expect(allFinite(Object.values(r.params))).toBe(true);
  expect(Number.isFinite(r.bic) && Number.isFinite(r.icl)).toBe(true);
}

// Two tight clusters of 30 points; K = 3 with the third component started 100 away, where
// it gets no responsibility at all in the first E-step.
const rng = Key.seed(3).rng();
const x = [...Array.from({ length: 30 }, () => [rng.normal() * 0.1, rng.normal() * 0.1]), ...Array.from({ length: 30 }, () => [5 + rng.normal() * 0.1, 5 + rng.normal() * 0.1])];
const I = [[0.1, 0], [0, 0.1]];
const inits = {
  full: { w: [0.5, 0.49, 0.01], mu: [[0, 0], [5, 5], [100, 100]], L: [I, I, I] },
  diag: { w: [0.5, 0.49, 0.01], mu: [[0, 0], [5, 5], [100, 100]], sigma: [[0.1, 0.1], [0.1, 0.1], [0.1, 0.1]] },
};

describe.each([['full covariance', full, inits.full, 3], ['diagonal', diag, inits.diag, 2]] as const)('a component forced empty (%s)', (_n, model, init, threshold) => {
  it('is re-seeded at the worst-fit point, reported, and ends with data', () => {
    const bm = compile(model).bind({ K: 3, x });
    const r = em(bm, { init, maxIter: 30 });
    expectFinite(r);
    expect(r.reseeds.length).toBeGreaterThanOrEqual(1);
    expect(r.reseeds[0]).toMatchObject({ latent: 'x$k', component: 2, traceIndex: 0 });
    expect(r.reseeds[0].count).toBeLessThan(1e-6);
    // The worst-fit point is a data row and the component got at least the threshold's worth of points.
    expect(r.reseeds[0].point).toBeGreaterThanOrEqual(0);
    expect(r.reseeds[0].points).toBeGreaterThanOrEqual(2 * threshold);
    expect(r.warnings.some((w) => /component 3 of x\$k collapsed .* re-seeded at row \d+/.test(w))).toBe(true);
    // Not collapsed at the end: at least `threshold` effective points (weight x N).
    expect((r.params.w as number[])[2] * 60).toBeGreaterThanOrEqual(threshold);
    expectMonotoneBetweenReseeds(r);
    // With re-seeding off the component stays empty, and that is reported too.
    const off = em(bm, { init, maxIter: 30, reseed: false });
    expectFinite(off);
    expect(off.reseeds).toEqual([]);
    expect(off.warnings.some((w) => /component 3 of x\$k ends with total responsibility .* re-seeding is off/.test(w))).toBe(true);
    expect((off.params.w as number[])[2] * 60).toBeLessThan(1e-3);
    // Using the third component on the data fits at least as well as leaving it empty.
    expect(r.logLik).toBeGreaterThan(off.logLik);
  });
});

const cases: [string, number[][], number][] = [
  ['duplicate points', [...Array.from({ length: 10 }, () => [1, 2]), ...Array.from({ length: 10 }, () => [4, -1])], 3],
  ['all points identical', Array.from({ length: 12 }, () => [1.5, -2]), 2],
  ['a constant column', Array.from({ length: 20 }, (_, i) => [i % 5, 3]), 3],
  ['more dimensions than points (D > N)', Array.from({ length: 3 }, (_, i) => [i, 2 * i, -i, 1, i * i]), 2],
];

describe.each([['full covariance', full], ['diagonal', diag]])('degenerate data with re-seeding (%s)', (_name, model) => {
  for (const [what, data, K] of cases) {
    it(what, () => {
      const bm = compile(model).bind({ K, x: data });
      for (const seed of [1, 2, 3]) {
        const r = em(bm, { seed, maxIter: 25 });
        expectFinite(r);
        expectMonotoneBetweenReseeds(r);
        expect(r.reseeds.length).toBeLessThanOrEqual(10);
        // At most 2 re-seeds of any one component, and one warning line per re-seeded component.
        const per = new Map<number, number>();
        for (const e of r.reseeds) per.set(e.component, (per.get(e.component) ?? 0) + 1);
        for (const n of per.values()) expect(n).toBeLessThanOrEqual(2);
        expect(r.warnings.filter((w) => w.includes('re-seeded')).length).toBe(per.size);
      }
    });
  }
});

describe('a component with no place in the data', () => {
  it('is re-seeded twice, then reported as still collapsed', () => {
    // Three distinct points, one of them alone: with K = 3 full covariances the lone point's
    // component has 1 < D + 1 = 3 effective points whatever EM does.
    const data = [...Array.from({ length: 10 }, () => [1, 2]), ...Array.from({ length: 10 }, () => [4, -1]), [1.1, 2.05]];
    const r = em(compile(full).bind({ K: 3, x: data }), { seed: 1, maxIter: 30 });
    expectFinite(r);
    expectMonotoneBetweenReseeds(r);
    const comps = new Set(r.reseeds.map((e) => e.component));
    expect(comps.size).toBe(1);
    expect(r.reseeds.length).toBe(2);
    expect(r.warnings.some((w) => /collapsed and was re-seeded at row \d+ .*; again at row \d+/.test(w))).toBe(true);
    expect(r.warnings.some((w) => /ends with total responsibility .* below the collapse threshold 3\.00; re-seeds used up/.test(w))).toBe(true);
  });
});

describe('chains', () => {
  it('a state with no expected visits is reported, not re-seeded', () => {
    const hmm = `model m { data K: int  data y: real[N]  param p0: simplex[K]  param A: simplex[K, K]  param mu: real[K]  param s: positive[K]
      z[1] ~ categorical(p0)
      for t in 2..N { z[t] ~ categorical(A[z[t-1]]) }
      for t in 1..N { y[t] ~ normal(mu[z[t]], s[z[t]]) } }`;
    const y = Array.from({ length: 30 }, (_, t) => (t < 15 ? 0 : 3) + 0.1 * Math.sin(t));
    const bm = compile(hmm).bind({ K: 3, y });
    const init = { p0: [0.5, 0.49, 0.01], A: [[0.9, 0.09, 0.01], [0.09, 0.9, 0.01], [0.3, 0.3, 0.4]], mu: [0, 3, 200], s: [0.2, 0.2, 0.2] };
    const r = em(bm, { init, maxIter: 10 });
    expectFinite(r);
    expect(r.reseeds).toEqual([]);
    expect(r.warnings.some((w) => /component 3 of z .* not re-seeded/.test(w))).toBe(true);
    expectMonotoneBetweenReseeds(r);
  });
});
