// EM with ordered component parameters: the ordered M-step is the weighted isotonic
// regression of the per-component maximisers (checked against brute force over every
// partition into consecutive blocks), and EM with an ordered type reaches the same
// optimum as the unordered model where the order does not bind, monotonely.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, em, ensureBackend } from '../../src';
import { isotonic } from '../../src/infer/em/closed-form';

beforeAll(async () => {
  await ensureBackend();
});

/** Brute force: the best non-decreasing fit among all partitions into consecutive blocks (block = weighted mean). */
function bruteIsotonic(y: number[], w: number[]): { x: number[]; cost: number } {
  const K = y.length;
  let best = { x: [] as number[], cost: Infinity };
  for (let mask = 0; mask < 1 << (K - 1); mask++) {
    const x: number[] = [];
    let start = 0;
    for (let k = 0; k < K; k++) {
      if (k === K - 1 || (mask >> k) & 1) {
        let sw = 0;
        let sy = 0;
        for (let j = start; j <= k; j++) {
          sw += w[j];
          sy += w[j] * y[j];
        }
        for (let j = start; j <= k; j++) x.push(sy / sw);
        start = k + 1;
      }
    }
    if (x.some((v, i) => i > 0 && v < x[i - 1] - 1e-12)) continue;
    const cost = x.reduce((a, v, i) => a + w[i] * (v - y[i]) ** 2, 0);
    if (cost < best.cost) best = { x, cost };
  }
  return best;
}

describe('ordered M-steps', () => {
  it('isotonic regression equals the best monotone block fit (brute force)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ y: fc.double({ min: -10, max: 10, noNaN: true }), w: fc.double({ min: 0.01, max: 5, noNaN: true }) }), { minLength: 1, maxLength: 7 }),
      (pts) => {
        const y = pts.map((p) => p.y);
        const w = pts.map((p) => p.w);
        const got = isotonic(y, w);
        const ref = bruteIsotonic(y, w);
        const cost = Array.from(got).reduce((a, v, i) => a + w[i] * (v - y[i]) ** 2, 0);
        expect(cost).toBeCloseTo(ref.cost, 9);
        got.forEach((v, i) => { if (i > 0) expect(v).toBeGreaterThanOrEqual(got[i - 1] - 1e-12); });
      },
    ), { seed: 42, numRuns: 300 });
  });

  const counts = (() => {
    // Two well-separated Poisson rates, fixed data.
    const a = [1, 0, 2, 1, 3, 1, 0, 2, 1, 1, 2, 0, 1, 2, 1];
    const b = [9, 12, 10, 8, 11, 13, 9, 10, 12, 7, 11, 10];
    return [...a, ...b];
  })();
  const src = (type: string) => `
model pm {
  data y: int[N]
  param w: simplex[2]
  param lambda: ${type}[2]
  for n in 1..N { y[n] ~ mixture(w, k -> poisson(lambda[k])) }
}`;

  it('EM with positive_ordered rates: closed form, monotone, the unordered optimum', () => {
    const ord = em(compile(src('positive_ordered')).bind({ y: counts }), { seed: 2, nInit: 3 });
    const un = em(compile(src('positive')).bind({ y: counts }), { seed: 2, nInit: 3 });
    expect(ord.closedForm).toContain('lambda');
    expect(Math.abs(ord.logLik - un.logLik)).toBeLessThan(1e-3 * Math.abs(un.logLik));
    const lam = ord.params.lambda as number[];
    expect(lam[0]).toBeLessThan(lam[1]);
    for (let i = 1; i < ord.trace.length; i++) expect(ord.trace[i]).toBeGreaterThanOrEqual(ord.trace[i - 1] - 1e-4 * Math.abs(ord.trace[i - 1]));
  });

  it('when the data want the rates reversed, the ordered step pools them', () => {
    // Start with lambda = [10, 10.1] and weights favouring a swap: the constrained
    // maximiser pools; EM must not produce an unordered value.
    const r = em(compile(src('positive_ordered')).bind({ y: counts }), { seed: 1, init: { w: [0.5, 0.5], lambda: [10, 10.1] }, maxIter: 5 });
    const lam = r.params.lambda as number[];
    expect(lam[0]).toBeLessThan(lam[1]);
    expect(Number.isFinite(r.logLik)).toBe(true);
  });
});
