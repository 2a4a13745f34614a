// EM on degenerate data never produces NaN: every reported number stays finite.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor';
import { compile, em } from '../../src';
import { GMM_FULL, GMM_DIAG, allFinite } from './gmm-models';

beforeAll(async () => {
  await useBackend('cpu');
});

const full = GMM_FULL;
const diag = GMM_DIAG;


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
