// EM on degenerate data never produces NaN: every reported number stays finite.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor';
import { compile, em } from '../../src';

beforeAll(async () => {
  await useBackend('cpu');
});

const full = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`;
const diag = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param sigma: positive[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) } }`;

function allFinite(v: unknown): boolean {
  if (Array.isArray(v)) return v.every(allFinite);
  return typeof v === 'number' && Number.isFinite(v);
}

const cases: [string, number[][], number][] = [
  ['all points identical', Array.from({ length: 12 }, () => [1.5, -2]), 2],
  ['a constant column', Array.from({ length: 20 }, (_, i) => [i % 5, 3]), 2],
  ['more dimensions than points (D > N)', Array.from({ length: 3 }, (_, i) => [i, 2 * i, -i, 1, i * i]), 2],
  ['more components than distinct points', [[0, 0], [0, 0], [5, 5], [5, 5]], 3],
];

describe.each([['full covariance', full], ['diagonal', diag]])('EM on degenerate data (%s)', (_name, model) => {
  for (const [what, x, K] of cases) {
    it(what, () => {
      const bm = compile(model).bind({ K, x });
      const r = em(bm, { seed: 1, maxIter: 15 });
      expect(Number.isNaN(r.logLik)).toBe(false);
      expect(r.trace.every((v) => !Number.isNaN(v))).toBe(true);
      expect(allFinite(Object.values(r.params))).toBe(true);
      expect(Number.isNaN(r.bic) || Number.isNaN(r.icl)).toBe(false);
    });
  }
});
