// The subsampled k-means start (init.ts kmeansMarginals with `sample`): k-means on a uniform
// subsample, every row then labelled by its nearest final centre.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key } from '../../src/tensor';
import { compile } from '../../src';
import { kmeansMarginals } from '../../src/infer/em/init';
import { em } from '../../src/infer/em';

beforeAll(async () => {
  await useBackend('cpu');
});

const model = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`;

/**
 * n rows from K well-separated unit-variance clusters in 2-D (centres 12 apart on a line),
 * stored sorted by cluster: a subsample that is not uniform (the first rows) sees one cluster
 * only. Returns the rows and the true labels.
 */
function sortedClusters(n: number, K: number, seed: number): { x: Float64Array; truth: Int32Array } {
  const rng = Key.seed(seed).rng();
  const x = new Float64Array(n * 2);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor((i * K) / n);
    truth[i] = k;
    x[2 * i] = 12 * k + rng.normal();
    x[2 * i + 1] = rng.normal();
  }
  return { x, truth };
}

/** Hard labels from one-hot marginals [n, K]. */
function hard(m: Float32Array | Int32Array | Uint8Array, n: number, K: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) if (m[i * K + k] === 1) out[i] = k;
  return out;
}

describe('subsampled k-means start', () => {
  const n = 6000;
  const K = 3;
  const { x, truth } = sortedClusters(n, K, 7);
  let bm: ReturnType<ReturnType<typeof compile>['bind']>;
  beforeAll(() => {
    bm = compile(model).bind({ K, x: { shape: [n, 2], values: x } });
  });

  it.each([500, 2000, false] as const)('sample=%s: one-hot rows that recover the sorted, separated clusters', (sample) => {
    const m = kmeansMarginals(bm, Key.seed(3).rng(), { sample })!;
    const r = [...m.values()][0];
    const v = r.dataSync() as Float32Array;
    m.forEach((t) => t.dispose());
    // Every row is one-hot.
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += v[i * K + k];
      expect(s).toBe(1);
    }
    // Clusters 12 sd apart: every row goes with its own cluster (a wrong label needs a 6-sd draw,
    // probability ~1e-9 per row); the labels are a permutation of the truth.
    const lab = hard(v, n, K);
    const perm = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      if (!perm.has(truth[i])) perm.set(truth[i], lab[i]);
      expect(lab[i]).toBe(perm.get(truth[i]));
    }
    expect(new Set(perm.values()).size).toBe(K);
  });

  it('EM from the subsampled start reaches the full start optimum', () => {
    const a = em(bm, { seed: 1, kmeansSample: 1000 });
    const b = em(bm, { seed: 1, kmeansSample: false });
    // Both converge (tol 1e-3 on the mean log likelihood) to the one optimum of separated data.
    expect(Math.abs(a.logLik - b.logLik) / n).toBeLessThan(1e-3);
  });

  it('refuses a sample size that is not a positive number', () => {
    expect(() => kmeansMarginals(bm, Key.seed(1).rng(), { sample: 0 })).toThrow(/sample must be a positive number/);
    expect(() => kmeansMarginals(bm, Key.seed(1).rng(), { sample: Number.NaN })).toThrow(/sample must be a positive number/);
  });
});
