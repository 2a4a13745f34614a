// Online (stepwise) EM: on a simulated Gaussian mixture streamed in chunks, the estimate
// after a few passes is close to batch EM's; bad chunks and unsupported models give
// errors that say where and why.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key, setSyncReadsForTesting } from '../../src/tensor';
import { compile, em } from '../../src';
import { onlineEm } from '../../src/infer/em/online';
import { GMM_FULL, GMM_DIAG } from './gmm-models';

beforeAll(async () => {
  await useBackend('cpu');
});

const full = GMM_FULL;
const diag = GMM_DIAG;

// Three unit-variance clusters, well separated; 3000 rows in 10 chunks of 300.
const K = 3;
const rng = Key.seed(5).rng();
const means = [[0, 0], [4, 1], [-1, 5]];
const x = Array.from({ length: 3000 }, () => { const k = rng.uniformInt(K); return means[k].map((m) => m + rng.normal()); });
const C = 10;
const m = 300;
const chunks = Array.from({ length: C }, (_, i) => ({ x: x.slice(i * m, (i + 1) * m) }));

/** Per chunk, the total weight the online statistics give it after `passes` passes with step (t + 2)^-0.6 (first update: weight 1). */
function chunkWeights(passes: number): number[] {
  const T = passes * C;
  const gamma = (t: number) => (t === 0 ? 1 : (t + 2) ** -0.6);
  const a = new Array<number>(C).fill(0);
  for (let t = 0; t < T; t++) {
    let c = gamma(t);
    for (let u = t + 1; u < T; u++) c *= 1 - gamma(u);
    a[t % C] += c;
  }
  return a;
}

/** The permutation of online components that best matches the batch means. */
function match(a: number[][], b: number[][]): number[] {
  const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const cost = (p: number[]) => p.reduce((s, j, k) => s + (a[j][0] - b[k][0]) ** 2 + (a[j][1] - b[k][1]) ** 2, 0);
  return perms.reduce((best, p) => (cost(p) < cost(best) ? p : best));
}

describe('online EM', () => {
  for (const [what, src] of [['full covariance', full], ['diagonal', diag]] as const) {
    it(`after 5 passes is within the sampling error of batch EM (${what})`, async () => {
      const model = compile(src);
      const batch = em(model.bind({ K, x }), { seed: 1, tol: 1e-7, maxIter: 500 });
      const on = await onlineEm(model, chunks, { data: { K }, passes: 5, seed: 1 });
      expect(on.updates).toBe(5 * C);
      expect(on.rows).toBe(5 * 3000);
      // Tolerance: the online statistics weight chunk j by a_j (chunkWeights), batch EM by
      // 1/C. At the fixed point, online - batch ≈ Σ_j (a_j - 1/C)(chunk j's statistic - its
      // mean), so with m rows per chunk, component weight w and unit variance the SDs are
      // mean: sqrt(Σ(a_j - 1/C)² / (w m)); weight: sqrt(w(1 - w) Σ(a_j - 1/C)² / m);
      // sd: sqrt(2 Σ(a_j - 1/C)² / (w m)) / 2 (delta method from the variance). 4 SD each;
      // this ignores the early chunks' responsibilities at worse parameters (their weight
      // after 50 updates is below 1e-3).
      const a = chunkWeights(5);
      const q = a.reduce((s, v) => s + (v - 1 / C) ** 2, 0);
      const bw = batch.params.w as number[];
      const bmu = batch.params.mu as number[][];
      const perm = match(on.params.mu as number[][], bmu);
      for (let k = 0; k < K; k++) {
        const j = perm[k];
        const w = bw[k];
        expect(Math.abs((on.params.w as number[])[j] - w)).toBeLessThan(4 * Math.sqrt(w * (1 - w) * q / m));
        for (let d = 0; d < 2; d++) {
          expect(Math.abs((on.params.mu as number[][])[j][d] - bmu[k][d])).toBeLessThan(4 * Math.sqrt(q / (w * m)));
          const sdTol = 4 * Math.sqrt(2 * q / (w * m)) / 2;
          if (src === diag) expect(Math.abs((on.params.sigma as number[][])[j][d] - (batch.params.sigma as number[][])[k][d])).toBeLessThan(sdTol);
          else expect(Math.abs((on.params.L as number[][][])[j][d][d] - (batch.params.L as number[][][])[k][d][d])).toBeLessThan(sdTol);
        }
      }
      // The chunk log likelihoods settle: the last pass's mean is within 0.01 per row of batch EM's (loose: per-chunk noise is ~0.08).
      const last = on.trace.slice(-C).reduce((s, v) => s + v, 0) / C;
      expect(Math.abs(last - batch.logLik / 3000)).toBeLessThan(0.01);
    });
  }

  it('Poisson, shared-scale normal and spherical normal components agree with batch EM', async () => {
    // 2000 rows in 10 chunks of 200, 5 passes; the same chunk-weight argument as above, with
    // each row's SD of the statistic: sqrt(lambda) (Poisson mean), sigma (normal mean),
    // sigma sqrt(2 / d) / 2 for a scale pooled over d elements per row (delta method).
    const r2 = Key.seed(9).rng();
    const pois = `model g { data K: int  data y: int<lower=0>[N]  param w: simplex[K]  param lam: positive[K]
      for n in 1..N { y[n] ~ mixture(w, k -> poisson(lam[k])) } }`;
    const tied = `model g { data K: int  data y: real[N]  param w: simplex[K]  param mu: real[K]  param s: positive
      for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], s)) } }`;
    const sph = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param s: positive[K]
      for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], s[k])) } }`;
    const yp = Array.from({ length: 2000 }, () => r2.poisson(r2.uniform() < 0.4 ? 2 : 12));
    const yn = Array.from({ length: 2000 }, () => (r2.uniform() < 0.4 ? -2 : 3) + r2.normal());
    const xs = Array.from({ length: 2000 }, () => { const c = r2.uniform() < 0.5; return [c ? 0 : 4, c ? 0 : 4].map((v) => v + (c ? 1 : 2) * r2.normal()); });
    const q = chunkWeights(5).reduce((acc, v) => acc + (v - 1 / C) ** 2, 0);
    const mm = 200;
    const fit = async (src: string, key: string, data: unknown[]) => {
      const model = compile(src);
      const batch = em(model.bind({ K: 2, [key]: data } as never), { seed: 1, tol: 1e-7, maxIter: 500 }).params as Record<string, number[] & number>;
      const ch = Array.from({ length: C }, (_, i) => ({ [key]: data.slice(i * mm, (i + 1) * mm) })) as never[];
      const on = (await onlineEm(model, ch, { data: { K: 2 }, passes: 5 })).params as Record<string, number[] & number>;
      return { batch, on };
    };
    const first = (v: unknown): number => (Array.isArray(v) ? first(v[0]) : (v as number));
    {
      const { batch, on } = await fit(pois, 'y', yp);
      const j = (k: number) => (Math.abs(on.lam[0] - batch.lam[k]) < Math.abs(on.lam[1] - batch.lam[k]) ? 0 : 1);
      for (let k = 0; k < 2; k++) expect(Math.abs(on.lam[j(k)] - batch.lam[k])).toBeLessThan(4 * Math.sqrt(batch.lam[k] * q / (batch.w[k] * mm)));
    }
    {
      const { batch, on } = await fit(tied, 'y', yn);
      const j = (k: number) => (Math.abs(on.mu[0] - batch.mu[k]) < Math.abs(on.mu[1] - batch.mu[k]) ? 0 : 1);
      for (let k = 0; k < 2; k++) expect(Math.abs(on.mu[j(k)] - batch.mu[k])).toBeLessThan(4 * batch.s * Math.sqrt(q / (batch.w[k] * mm)));
      expect(Math.abs(on.s - batch.s)).toBeLessThan(4 * batch.s * Math.sqrt(2 * q / mm) / 2);
    }
    {
      const { batch, on } = await fit(sph, 'x', xs);
      const mu = (p: Record<string, unknown>, k: number) => first((p.mu as number[][])[k]);
      const j = (k: number) => (Math.abs(mu(on, 0) - mu(batch, k)) < Math.abs(mu(on, 1) - mu(batch, k)) ? 0 : 1);
      for (let k = 0; k < 2; k++) {
        const sd = batch.s[k];
        for (let d = 0; d < 2; d++) expect(Math.abs((on.mu as unknown as number[][])[j(k)][d] - (batch.mu as unknown as number[][])[k][d])).toBeLessThan(4 * sd * Math.sqrt(q / (batch.w[k] * mm)));
        expect(Math.abs(on.s[j(k)] - sd)).toBeLessThan(4 * sd * Math.sqrt(2 * q / (2 * batch.w[k] * mm)) / 2);
      }
    }
  });

  it('without synchronous reads (as on webgpu) the start and the chunk statistics are awaited, with the same numbers', async () => {
    // The same run with the backend's reads forced asynchronous: emAsync for the k-means start
    // and `await data()` for each chunk's statistics must give exactly the synchronous result.
    const model = compile(full);
    const sync = await onlineEm(model, chunks, { data: { K }, passes: 2, seed: 1 });
    setSyncReadsForTesting(false);
    let asyncRun;
    try {
      asyncRun = await onlineEm(model, chunks, { data: { K }, passes: 2, seed: 1 });
    } finally {
      setSyncReadsForTesting(undefined);
    }
    expect(asyncRun.trace).toEqual(sync.trace);
    expect(asyncRun.params).toEqual(sync.params);
  });

  it('reads async sources, and a function giving a fresh source for each pass', async () => {
    const model = compile(diag);
    async function* gen() { for (const c of chunks) yield c; }
    const r = await onlineEm(model, () => gen(), { data: { K }, passes: 2 });
    expect(r.updates).toBe(2 * C);
    // A generator object can be read once: the second pass has nothing, and says so.
    await expect(onlineEm(model, gen(), { data: { K }, passes: 2 })).rejects.toThrow(/no chunks on pass 2; for several passes give an array or a function/);
  });

  it('locates a chunk with a missing column or the wrong shape', async () => {
    const model = compile(diag);
    const missing = [chunks[0], chunks[1], { y: chunks[2].x }];
    await expect(onlineEm(model, missing, { data: { K } })).rejects.toThrow(/chunk 3 \(pass 1\): data 'x' is missing/);
    const wide = [chunks[0], { x: chunks[1].x.map((r) => [...r, 0]) }];
    await expect(onlineEm(model, wide, { data: { K } })).rejects.toThrow(/chunk 2 \(pass 1\): data 'x' has rows of shape \[rows, 3\], but the first chunk's had \[rows, 2\]/);
    const ragged = [chunks[0], { x: [[1, 2], [3]] }];
    await expect(onlineEm(model, ragged, { data: { K } })).rejects.toThrow(/chunk 2 \(pass 1\): .*x/);
    // On the second pass too.
    const later = [chunks[0], chunks[1]];
    let n = 0;
    const src = () => (n++ === 0 ? later : [chunks[0], { x: [[1, 2, 3]] }]);
    await expect(onlineEm(model, src, { data: { K }, passes: 2 })).rejects.toThrow(/chunk 2 \(pass 2\)/);
  });

  it('refuses a model whose M-step is not closed form, naming the parameter', async () => {
    const t = `model g { data K: int  data y: real[N]  param w: simplex[K]  param mu: real[K]  param s: positive[K]  param nu: positive
      for n in 1..N { y[n] ~ mixture(w, k -> student_t(nu, mu[k], s[k])) } }`;
    const y = chunks.map((c) => ({ y: c.x.map((r) => r[0]) }));
    await expect(onlineEm(compile(t), y, { data: { K } })).rejects.toThrow(/parameter 'nu' has no closed-form M-step/);
    const ordered = `model g { data K: int  data y: real[N]  param w: simplex[K]  param mu: ordered[K]  param s: positive[K]
      for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], s[k])) } }`;
    await expect(onlineEm(compile(ordered), y, { data: { K } })).rejects.toThrow(/parameter 'mu' \(normal ordered component means\)/);
  });
});
