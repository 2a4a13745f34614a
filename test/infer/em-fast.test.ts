// EM speed paths: the bounded k-means (init.ts) against a plain float64 k-means++ + Lloyd
// with scikit-learn's stopping rule, and the fused Gaussian-mixture M-step (fast-gmm.ts)
// against the closed-form updates it replaces.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key, tf, type Tensor } from '../../src/tensor';
import { compile } from '../../src';
import { kmeans } from '../../src/infer/em/init';
import { closedFormUpdates, resolveUpdate } from '../../src/infer/em/closed-form';
import { fuseGmmUpdates, fastGmmEStep, rowBlocks } from '../../src/infer/em/fast-gmm';
import { mixture, plainKmeans } from './kmeans-reference';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('k-means initialisation', () => {
  // The bounds only skip distances they prove irrelevant, so the labels must equal the plain
  // algorithm's exactly (a wrong bound would show up as label differences on overlapping data).
  it.each([
    [2000, 2, 4, 1.5, 1], [2000, 6, 8, 1.2, 2], [1500, 16, 5, 0.8, 3], [1500, 3, 12, 2, 4],
  ])('n=%i D=%i K=%i: the same labels as plain k-means++ and Lloyd, with Elkan and with Hamerly bounds', (n, D, K, sep, seed) => {
    const x = mixture(n, D, K, sep, seed);
    const want = plainKmeans(x, n, D, K, Key.seed(seed).rng());
    for (const budget of [Infinity, 0]) {
      const got = kmeans({ values: x, n, d: D }, K, Key.seed(seed).rng(), 300, budget);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
  });
});

const full = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`;
const sigma = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param S: cov_matrix[K, D]
  for n in 1..N { z[n] ~ categorical(w)  x[n] ~ mvnormal(mu[z[n]], S[z[n]]) } }`;

/** Runs the updates in order on one params map, as EM's M-step does; returns each param's values. */
function runUpdates(bm: ReturnType<ReturnType<typeof compile>['bind']>, fused: boolean, R: number[][]): Record<string, number[]> {
  const cf = closedFormUpdates(bm, { priors: false });
  const ups = fused ? fuseGmmUpdates(bm, cf, false) : cf;
  return tf.tidy(() => {
    const params = bm.paramTensors(bm.constrain(new Float64Array(bm.dim).fill(0.1)) as never);
    const marg = new Map<string, Tensor>([[bm.ir.latents[0].name, tf.tensor2d(R)]]);
    for (const u of ups) params.set(u.param, resolveUpdate(u.update(params, marg)));
    const out: Record<string, number[]> = {};
    for (const u of ups) out[u.param] = Array.from(params.get(u.param)!.dataSync());
    return out;
  }) as unknown as Record<string, number[]>;
}

describe('fused Gaussian-mixture M-step', () => {
  const n = 400;
  const D = 3;
  const K = 3;
  const xs = mixture(n, D, K, 2, 7);
  const x = Array.from({ length: n }, (_, i) => Array.from(xs.subarray(i * D, i * D + D)));
  const rng = Key.seed(9).rng();
  // Random soft responsibilities; component 3 empty (keeps its previous mean and covariance).
  const R = x.map(() => { const a = rng.uniform(); const b = rng.uniform(); return [a / (a + b), b / (a + b), 0]; });
  it.each([['cholesky_cov', full], ['cov_matrix', sigma]])('%s: the same weights, means and covariances as the closed-form updates', (_name, src) => {
    const bm = compile(src).bind({ K, x });
    const ref = runUpdates(bm, false, R);
    const got = runUpdates(bm, true, R);
    expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
    // float32 sums over n = 400 rows of O(10) values: rounding ~ 1e-7 x 400 x 10 relative to
    // O(1) results; 2e-4 leaves room for the two evaluation orders (centred on the data mean
    // vs on each component's mean) without hiding a wrong term (those are O(0.1) or more).
    for (const k of Object.keys(ref)) ref[k].forEach((v, i) => expect(Math.abs(got[k][i] - v)).toBeLessThan(2e-4 * (1 + Math.abs(v))));
  });
  it('falls back to the closed-form updates when a component is far narrower than the data', () => {
    // One tight cluster (sd 1e-3) far from the others: its variance is < 1e-2 of the data's.
    const tight = x.map((r, i) => (i < 50 ? r.map((v, d) => 40 + d + 1e-3 * Math.sin(i * (d + 1))) : r));
    const Rt = tight.map((_, i) => (i < 50 ? [1, 0, 0] : [0, 0.5, 0.5]));
    const bm = compile(full).bind({ K, x: tight });
    const ref = runUpdates(bm, false, Rt);
    const got = runUpdates(bm, true, Rt);
    for (const k of Object.keys(ref)) expect(got[k]).toEqual(ref[k]);
  });
});

describe('fused steps by blocks of rows', () => {
  // n = 1000 rows of K D = 24 elements with blocks of 2^12 elements: 170 rows a block, 6 blocks
  // (the last one ragged), as the 2^24-element default makes of bench-sized data.
  const n = 1000;
  const D = 4;
  const K = 6;
  const BLOCK = 1 << 12;
  it('rowBlocks covers the rows once, in order, within the block size', () => {
    expect(rowBlocks(300000, 64)).toEqual([[0, 262144], [262144, 37856]]);
    expect(rowBlocks(10, 4)).toEqual([[0, 10]]);
    expect(rowBlocks(n, K * D, BLOCK).length).toBe(6);
    const b = rowBlocks(1e6 + 3, 1000);
    expect(b.reduce((s, [, m]) => s + m, 0)).toBe(1e6 + 3);
    b.forEach(([s, m], i) => { expect(s).toBe(i === 0 ? 0 : b[i - 1][0] + b[i - 1][1]); expect(m * 1000).toBeLessThanOrEqual(1 << 24); });
  });
  it('the blocked E-step and M-step agree with the generic ones', () => {
    const xs = mixture(n, D, K, 2, 11);
    const bm = compile(full).bind({ K, x: { shape: [n, D], values: xs } });
    const rng = Key.seed(5).rng();
    const R = Array.from({ length: n }, () => { const r = Array.from({ length: K }, () => rng.uniform()); const s = r.reduce((a, b) => a + b); return r.map((v) => v / s); });
    // M-step: float32 sums over 1000 rows of O(10) values in two evaluation orders (rounding
    // ~1e-7 x 1000 x 10 relative to O(1) results); 2e-4 as the unblocked test above, far below a
    // lost or doubled block (170 of 1000 rows: ~17% of every sum).
    const cf = closedFormUpdates(bm, { priors: false });
    const ref = runUpdates(bm, false, R);
    const got = tf.tidy(() => {
      const params = bm.paramTensors(bm.constrain(new Float64Array(bm.dim).fill(0.1)) as never);
      const marg = new Map<string, Tensor>([[bm.ir.latents[0].name, tf.tensor2d(R)]]);
      const ups = fuseGmmUpdates(bm, cf, false, 1e-6, BLOCK);
      for (const u of ups) params.set(u.param, resolveUpdate(u.update(params, marg)));
      return Object.fromEntries(ups.map((u) => [u.param, Array.from(params.get(u.param)!.dataSync())]));
    }) as unknown as Record<string, number[]>;
    for (const k of Object.keys(ref)) ref[k].forEach((v, i) => expect(Math.abs(got[k][i] - v)).toBeLessThan(2e-4 * (1 + Math.abs(v))));
    // E-step at those parameters: responsibilities row by row (a row from the wrong block would
    // be off by O(1)); float32 log densities of O(10) differ by ~1e-5, responsibilities by less;
    // and the log likelihood, a sum of 1000 O(10) terms, to 1e-5 relative.
    const fast = fastGmmEStep(bm, false, { blockElements: BLOCK, native: false })!;
    const [a, b, za, zb] = tf.tidy(() => {
      const params = bm.paramTensors(bm.constrain(new Float64Array(bm.dim).fill(0.1)) as never);
      for (const [k, v] of Object.entries(got)) params.set(k, tf.tensor(v, params.get(k)!.shape));
      const f = fast(params);
      const g = bm.marginalsTensor(params, { priors: false });
      const lat = bm.ir.latents[0].name;
      return [f.marginals.get(lat)!.dataSync(), g.marginals.get(lat)!.dataSync(), f.logZ.dataSync()[0], g.logZ.dataSync()[0]] as const;
    });
    expect(a.length).toBe(n * K);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThan(1e-4);
    expect(Math.abs(za - zb)).toBeLessThan(1e-5 * Math.abs(zb));
    bm.dispose();
  });
});
