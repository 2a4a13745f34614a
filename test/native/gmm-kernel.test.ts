// The compiled Gaussian-mixture E-step (src/native/gmm.ts): its module is the build of its
// AssemblyScript source, it agrees with a plain float64 evaluation, and EM through it agrees
// with EM through the tensor path it replaces on the host backends.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key, tf, type Tensor } from '../../src/tensor';
import { compile } from '../../src';
import { em } from '../../src/infer/em';
import { GmmKernel, kmeansFitNative, nativeAvailable } from '../../src/native/gmm';
import { mixture, plainKmeans } from '../infer/kmeans-reference';
import { closedFormUpdates, resolveUpdate } from '../../src/infer/em/closed-form';
import { fastGmmEStep, fuseGmmUpdates } from '../../src/infer/em/fast-gmm';
import { kmeansFit, kmeansMarginals } from '../../src/infer/em/init';
import { WASM_KERNELS, buildWasm, moduleText } from '../../scripts/build-wasm';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('compiled kernel module', () => {
  it.each(WASM_KERNELS)('$out is the build of $source (npm run build:wasm)', async (k) => {
    const text = moduleText(k, await buildWasm(k.source));
    expect(readFileSync(new URL(`../../${k.out}`, import.meta.url), 'utf8')).toBe(text);
  });
  it('runs here (WebAssembly SIMD)', () => {
    expect(nativeAvailable()).toBe(true);
  });
});

/** Random parameters and data: weights, means, lower Cholesky factors, rows (row-major). */
function problem(N: number, D: number, K: number, seed: number) {
  const rng = Key.seed(seed).rng();
  const w = Array.from({ length: K }, () => 0.2 + rng.uniform());
  const sw = w.reduce((a, b) => a + b);
  const mu = Array.from({ length: K * D }, () => 3 * rng.normal() + 10);
  const L = new Float64Array(K * D * D);
  for (let k = 0; k < K; k++) for (let i = 0; i < D; i++) for (let j = 0; j <= i; j++) L[k * D * D + i * D + j] = i === j ? 0.5 + rng.uniform() : 0.4 * rng.normal();
  const x = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    const k = rng.uniformInt(K);
    for (let d = 0; d < D; d++) x[n * D + d] = mu[k * D + d] + 2 * rng.normal();
  }
  return { w: w.map((v) => v / sw), mu, L, x };
}

/** Plain float64 reference: log likelihood, responsibilities, and Σ r, Σ r x, Σ r x x' (uncentred). */
function reference(x: Float64Array, N: number, D: number, K: number, w: number[], mu: number[], L: Float64Array) {
  const resp = new Float64Array(N * K);
  const nk = new Float64Array(K);
  const s1 = new Float64Array(K * D);
  const s2 = new Float64Array(K * D * D);
  let ll = 0;
  let entropy = 0;
  for (let n = 0; n < N; n++) {
    const lp = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      // Solve L z = x - mu by forward substitution.
      const z = new Float64Array(D);
      let logDet = 0;
      for (let i = 0; i < D; i++) {
        let s = x[n * D + i] - mu[k * D + i];
        for (let j = 0; j < i; j++) s -= L[k * D * D + i * D + j] * z[j];
        z[i] = s / L[k * D * D + i * D + i];
        logDet += Math.log(L[k * D * D + i * D + i]);
      }
      lp[k] = Math.log(w[k]) - logDet - 0.5 * D * Math.log(2 * Math.PI) - 0.5 * z.reduce((a, v) => a + v * v, 0);
    }
    const m = Math.max(...lp);
    const s = lp.reduce((a, v) => a + Math.exp(v - m), 0);
    ll += m + Math.log(s);
    for (let k = 0; k < K; k++) {
      const r = Math.exp(lp[k] - m) / s;
      resp[n * K + k] = r;
      if (r > 0) entropy -= r * Math.log(r);
      nk[k] += r;
      for (let d = 0; d < D; d++) {
        s1[k * D + d] += r * x[n * D + d];
        for (let e = 0; e < D; e++) s2[k * D * D + d * D + e] += r * x[n * D + d] * x[n * D + e];
      }
    }
  }
  return { ll, resp, nk, s1, s2, entropy };
}

describe('compiled Gaussian-mixture E-step', () => {
  // Odd and even row counts (the odd last row rides in a padded SIMD lane), one to eight features.
  it.each([[1, 1, 1, 1], [7, 1, 3, 2], [200, 2, 4, 3], [201, 3, 2, 4], [333, 8, 8, 5], [64, 5, 6, 6]])(
    'N=%i D=%i K=%i: log likelihood, responsibilities and statistics of a float64 evaluation', (N, D, K, seed) => {
      const { w, mu, L, x } = problem(N, D, K, seed);
      const want = reference(x, N, D, K, w, mu, L);
      const kern = new GmmKernel(x, N, D, K);
      const got = kern.estep(w, mu, L);
      // float64 throughout (exp by a degree-11 series: ~1e-15 relative; rounding of N terms of
      // O(10) ~ N x 1e-15): 1e-12 relative. A wrong series coefficient (1/5000 for 1/5040) is off by ~1e-10.
      expect(Math.abs(got.logLik - want.ll)).toBeLessThan(1e-12 * (1 + Math.abs(want.ll)));
      expect(Math.abs(got.stats.entropy! - want.entropy)).toBeLessThan(1e-12 * (1 + N));
      // Responsibilities are returned in float32: within its rounding (6e-8 relative).
      for (let i = 0; i < N * K; i++) expect(Math.abs(got.resp[i] - want.resp[i])).toBeLessThan(1e-7);
      const { nk, s1, s2, centre } = got.stats;
      for (let k = 0; k < K; k++) {
        expect(Math.abs(nk[k] - want.nk[k])).toBeLessThan(1e-10 * N);
        for (let d = 0; d < D; d++) {
          // The kernel's sums are about the centre: Σ r x = s1 + nk c; Σ r x x' = s2 + s1 c' + c s1' + nk c c'.
          const c = centre[d];
          expect(Math.abs(s1[k * D + d] + nk[k] * c - want.s1[k * D + d])).toBeLessThan(1e-9 * N * (1 + Math.abs(c)));
          for (let e = 0; e < D; e++) {
            const ce = centre[e];
            const full = s2[k * D * D + d * D + e] + s1[k * D + d] * ce + c * s1[k * D + e] + nk[k] * c * ce;
            expect(Math.abs(full - want.s2[k * D * D + d * D + e])).toBeLessThan(1e-9 * N * (1 + Math.abs(c)) * (1 + Math.abs(ce)));
          }
        }
      }
      // The same call again gives the same numbers (the statistics are reset, not added to).
      expect(kern.estep(w, mu, L).logLik).toBe(got.logLik);
    });

  it.each([[9, 1, 3, 21], [500, 2, 4, 22], [301, 8, 8, 23]])('N=%i D=%i K=%i: nearest centres and hard statistics of a float64 evaluation', (N, D, K, seed) => {
    const { mu, x } = problem(N, D, K, seed);
    const kern = new GmmKernel(x, N, D, K);
    const lab = kern.nearest(mu);
    const hard = new Float64Array(N * K);
    for (let n = 0; n < N; n++) {
      let b = 0;
      let bd = Infinity;
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += (x[n * D + d] - mu[k * D + d]) ** 2;
        if (s < bd) { bd = s; b = k; }
      }
      expect(lab[n]).toBe(b);
      hard[n * K + b] = 1;
    }
    // Statistics of one-hot responsibilities: the reference's sums with r = 1 for the label.
    const st = kern.hardStats(lab);
    for (let k = 0; k < K; k++) {
      let cnt = 0;
      const s1 = new Float64Array(D);
      const s2 = new Float64Array(D * D);
      for (let n = 0; n < N; n++) {
        if (lab[n] !== k) continue;
        cnt++;
        for (let d = 0; d < D; d++) {
          const a = x[n * D + d] - st.centre[d];
          s1[d] += a;
          for (let e = 0; e < D; e++) s2[d * D + e] += a * (x[n * D + e] - st.centre[e]);
        }
      }
      expect(st.nk[k]).toBe(cnt);
      for (let d = 0; d < D; d++) expect(Math.abs(st.s1[k * D + d] - s1[d])).toBeLessThan(1e-9 * N);
      for (let i = 0; i < D * D; i++) expect(Math.abs(st.s2[k * D * D + i] - s2[i])).toBeLessThan(1e-9 * N);
    }
    expect(() => kern.hardStats(new Int32Array(N).fill(K))).toThrow(/label/);
  });

  it('rows far from every component: no NaN, responsibilities still sum to 1', () => {
    const { w, mu, L } = problem(1, 2, 3, 9);
    const x = new Float64Array([1e3, -1e3, 10, 10]);
    const got = new GmmKernel(x, 2, 2, 3).estep(w, mu, L);
    expect(Number.isFinite(got.logLik)).toBe(true);
    for (let n = 0; n < 2; n++) expect(Math.abs(got.resp[n * 3] + got.resp[n * 3 + 1] + got.resp[n * 3 + 2] - 1)).toBeLessThan(1e-6);
  });

  it('refuses a factor with a non-positive diagonal, naming the component', () => {
    const { w, mu, L, x } = problem(10, 2, 2, 1);
    L[4] = -1;
    expect(() => new GmmKernel(x, 10, 2, 2).estep(w, mu, L)).toThrow(/component 2/);
  });
});

describe('compiled k-means', () => {
  // Exact float64 distances, as the textbook algorithm: the same labels from the same draws
  // (a wrong seeding choice, padding lane or stopping rule shows up as label differences on overlapping data).
  it.each([[2000, 2, 4, 1.5, 1], [2001, 6, 8, 1.2, 2], [1500, 16, 5, 0.8, 3], [1499, 3, 12, 2, 4], [50, 1, 1, 1, 5]])(
    'n=%i D=%i K=%i: the labels of plain k-means++ and Lloyd', (n, D, K, sep, seed) => {
      const x = mixture(n, D, K, sep, seed);
      const want = plainKmeans(x, n, D, K, Key.seed(seed).rng());
      const rng = Key.seed(seed).rng();
      const got = kmeansFitNative(x, n, D, K, () => rng.uniform());
      expect(Array.from(got.labels)).toEqual(Array.from(want));
      // Centres: those of the JS implementation (the same updates; float64 sums in another order).
      const js = kmeansFit({ values: x, n, d: D }, K, Key.seed(seed).rng());
      js.centres.forEach((v, i) => expect(Math.abs(got.centres[i] - v)).toBeLessThan(1e-9 * (1 + Math.abs(v))));
    });
  it('a few rows, odd counts, many seeds: the labels of plain k-means++ and Lloyd (the padding lane counts for nothing)', () => {
    for (const [n, D, K] of [[5, 1, 2], [7, 2, 3], [9, 1, 3], [3, 2, 2]]) {
      for (let seed = 1; seed <= 40; seed++) {
        const x = mixture(n, D, K, 1, seed);
        const want = plainKmeans(x, n, D, K, Key.seed(seed).rng());
        const rng = Key.seed(seed).rng();
        expect(Array.from(kmeansFitNative(x, n, D, K, () => rng.uniform()).labels)).toEqual(Array.from(want));
      }
    }
  });
});

const full = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`;
const sigma = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param S: cov_matrix[K, D]
  for n in 1..N { z[n] ~ categorical(w)  x[n] ~ mvnormal(mu[z[n]], S[z[n]]) } }`;

describe('EM through the compiled E-step', () => {
  const N = 1501;
  const D = 3;
  const K = 4;
  const { x } = problem(N, D, K, 12);
  it.each([['cholesky_cov', full], ['cov_matrix', sigma]])('%s: the fit of the tensor path', (_name, src) => {
    const bm = compile(src).bind({ K, x: { shape: [N, D], values: x } });
    const a = em(bm, { seed: 3, tol: 1e-6, maxIter: 200 });
    const b = em(bm, { seed: 3, tol: 1e-6, maxIter: 200, native: false });
    // float64 (kernel) against float32 (tensor path) arithmetic: the log likelihood, a sum of 1501
    // O(10) terms, agrees to float32 rounding of the terms (~1e-6 each), the estimates to ~1e-4.
    expect(Math.abs(a.logLik - b.logLik)).toBeLessThan(1e-6 * N * 10);
    const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
    for (const p of Object.keys(a.params)) {
      const [u, v] = [flat(a.params[p]), flat(b.params[p])];
      u.forEach((t, i) => expect(Math.abs(t - v[i])).toBeLessThan(1e-3 * (1 + Math.abs(v[i]))));
    }
    expect(a.trace.length).toBe(b.trace.length);
    expect([a.eStep, b.eStep, em(bm, { seed: 3, maxIter: 2, fused: false }).eStep]).toEqual(['compiled', 'fused', 'generic']);
    // ICL: the kernel's float64 entropy against the float32 responsibilities' (N K terms, each within ~1e-6).
    expect(Math.abs(a.icl - b.icl)).toBeLessThan(2 * (1e-6 * N * 10 + 1e-6 * N * K));
    bm.dispose();
  });

  it.each([[500, 'subsampled'], [false, 'all rows']] as const)('the k-means start (%s rows): the labels of the tensor path', (sample, _what) => {
    const bm = compile(full).bind({ K, x: { shape: [N, D], values: x } });
    const lat = bm.ir.latents[0].name;
    const a = fastGmmEStep(bm, false)!.start!(Key.seed(4).rng(), sample)!;
    const b = kmeansMarginals(bm, Key.seed(4).rng(), { sample })!;
    // Float64 distances against one float32 product: the same labels (no near ties in these data).
    expect(Array.from(a.get(lat)!.dataSync())).toEqual(Array.from(b.get(lat)!.dataSync()));
    for (const m of [...a.values(), ...b.values()]) m.dispose();
    bm.dispose();
  });

  it('the M-step from the kernel statistics equals the closed-form updates from its responsibilities', () => {
    for (const src of [full, sigma]) {
      const bm = compile(src).bind({ K, x: { shape: [N, D], values: x } });
      const lat = bm.ir.latents[0].name;
      const cf = closedFormUpdates(bm, { priors: false });
      const fused = fuseGmmUpdates(bm, cf, false);
      const fast = fastGmmEStep(bm, false)!;
      const [ref, got] = tf.tidy(() => {
        const params = bm.paramTensors(bm.constrain(new Float64Array(bm.dim).fill(0.1)) as never);
        const { marginals } = fast(params);
        const run = (ups: typeof cf) => {
          const p = new Map(params);
          for (const u of ups) p.set(u.param, resolveUpdate(u.update(p, marginals as Map<string, Tensor>)));
          return Object.fromEntries(ups.map((u) => [u.param, Array.from(p.get(u.param)!.dataSync())]));
        };
        expect(marginals.get(lat)!.shape).toEqual([N, K]);
        return [run(cf), run(fused)];
      }) as unknown as Record<string, number[]>[];
      // Float32 sums (closed form) against float64 ones of the same responsibilities.
      for (const k of Object.keys(ref)) ref[k].forEach((v, i) => expect(Math.abs(got[k][i] - v)).toBeLessThan(2e-4 * (1 + Math.abs(v))));
      bm.dispose();
    }
  });
});
