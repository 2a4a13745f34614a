// Prediction for new data, Viterbi paths and model selection by information criteria,
// against references computed independently in float64 here (brute force over every
// path for the HMMs).
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend, Key } from '../../src/tensor';
import { compile, MixError } from '../../src';
import { em, predict, selectModels, viterbi, viterbiDecode } from '../../src/infer/em';
import { run } from '../../src/cli/main';
import { parseKList } from '../../src/cli/select';

beforeAll(async () => {
  await useBackend('cpu');
});

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const stdlib = (name: string) => compile(join(ROOT, 'stdlib', `${name}.mix`));

const LOG_2PI = Math.log(2 * Math.PI);
const normLp = (x: number, m: number, s: number) => -0.5 * LOG_2PI - Math.log(s) - 0.5 * ((x - m) / s) ** 2;
const logFact = (n: number) => { let s = 0; for (let i = 2; i <= n; i++) s += Math.log(i); return s; };
const poisLp = (y: number, lam: number) => y * Math.log(lam) - lam - logFact(y);
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m === -Infinity ? -Infinity : m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};
const argmax = (xs: number[]) => xs.reduce((b, v, i) => (v > xs[b] ? i : b), 0);
/** Every assignment of n variables with k values each (0-based). */
function* assignments(n: number, k: number): Generator<number[]> {
  const a = new Array(n).fill(0);
  while (true) {
    yield [...a];
    let i = 0;
    while (i < n && ++a[i] === k) a[i++] = 0;
    if (i === n) return;
  }
}
/** log N(x | mu, S S') for a lower-triangular S, in float64. */
function mvnLp(x: number[], mu: number[], S: number[][]): number {
  const D = x.length;
  const z: number[] = [];
  for (let i = 0; i < D; i++) {
    let s = x[i] - mu[i];
    for (let j = 0; j < i; j++) s -= S[i][j] * z[j];
    z.push(s / S[i][i]);
  }
  let logdet = 0;
  for (let i = 0; i < D; i++) logdet += Math.log(S[i][i]);
  return -0.5 * D * LOG_2PI - logdet - 0.5 * z.reduce((a, v) => a + v * v, 0);
}
/** N points from a well-separated mixture of unit-variance 2-D normals (fixed seed). */
function mixtureData(n: number, means: number[][], seed: number): number[][] {
  const rng = Key.seed(seed).rng();
  return Array.from({ length: n }, () => {
    const k = rng.categorical(means.map(() => 1));
    return means[k].map((m) => m + rng.normal());
  });
}
const simplex = (rng: ReturnType<Key['rng']>, K: number) => rng.dirichlet(new Array(K).fill(2));

describe('predict', () => {
  const train = mixtureData(150, [[0, 0], [4, 0], [0, 4]], 21);
  const fresh = mixtureData(40, [[0, 0], [4, 0], [0, 4]], 22).concat([[2, 2], [-3, 5], [10, 10]]);

  it('responsibilities, assignments and log predictive densities of new points (explicit latent, diagonal)', () => {
    const model = stdlib('gmm_diag');
    const bm = model.bind({ x: train, K: 3 });
    const fit = em(bm, { seed: 2 });
    const p = fit.params as { w: number[]; mu: number[][]; sigma: number[][] };
    // The fitted BoundModel lends K; the new data only has x.
    const r = predict(bm, fit.params, { x: fresh });
    expect(r.plate).toBe(model.ir.latents[0].plates[0]);
    expect(r.logDensity.length).toBe(fresh.length);
    const z = model.ir.latents[0].name;
    expect(r.responsibilities[z].shape).toEqual([fresh.length, 3]);
    expect(r.responsibilities[z].support).toEqual([1, 2, 3]);
    expect(r.assignments[z].shape).toEqual([fresh.length]);
    let total = 0;
    fresh.forEach((xn, n) => {
      const lp = [0, 1, 2].map((k) => Math.log(p.w[k]) + xn.reduce((a, v, d) => a + normLp(v, p.mu[k][d], p.sigma[k][d]), 0));
      const Z = lse(lp);
      total += Z;
      // float32 evaluation of a handful of terms of size O(10).
      expect(r.logDensity[n]).toBeCloseTo(Z, 3);
      for (let k = 0; k < 3; k++) expect(r.responsibilities[z].values[n * 3 + k]).toBeCloseTo(Math.exp(lp[k] - Z), 4);
      const sorted = [...lp].sort((a, b) => b - a);
      if (sorted[0] - sorted[1] > 1e-3) expect(r.assignments[z].values[n]).toBe(argmax(lp) + 1);
    });
    expect(r.logLik).toBeCloseTo(total, 2);
    bm.dispose();
  });

  it('uses the full-covariance mixture sugar (fused responsibilities) and a model with K in the new data', () => {
    const model = stdlib('gmm_full');
    const bm = model.bind({ x: train, K: 3 });
    const fit = em(bm, { seed: 4 });
    bm.dispose();
    const p = fit.params as { w: number[]; mu: number[][]; tau: number[][]; L: number[][][] };
    const r = predict(model, fit.params, { x: fresh, K: 3 });
    const z = model.ir.latents[0].name;
    fresh.forEach((xn, n) => {
      const lp = [0, 1, 2].map((k) => {
        const S = p.L[k].map((row, i) => row.map((v) => v * p.tau[k][i])); // diag(tau) L
        return Math.log(p.w[k]) + mvnLp(xn, p.mu[k], S);
      });
      const Z = lse(lp);
      expect(r.logDensity[n]).toBeCloseTo(Z, 3);
      for (let k = 0; k < 3; k++) expect(r.responsibilities[z].values[n * 3 + k]).toBeCloseTo(Math.exp(lp[k] - Z), 4);
    });
  });

  it('adds the statements in the points\' loop that involve no latent', () => {
    const model = compile(`
      model covmix {
        data K: int
        data u: real[N]
        data y: real[N]
        param a: real
        param w: simplex[K]
        param mu: real[K]
        param s: positive[K]
        for n in 1..N {
          u[n] ~ normal(a, 1.5)
          z[n] ~ categorical(w)
          y[n] ~ normal(mu[z[n]] + u[n], s[z[n]])
        }
      }`);
    const params = { a: 0.4, w: [0.3, 0.7], mu: [-1, 2], s: [0.6, 1.3] };
    const u = [0.2, -1.1, 0.9, 2.5, -0.3];
    const y = [-0.5, 1.9, 3.1, 0.2, 1.0];
    const r = predict(model, params, { K: 2, u, y });
    let total = 0;
    u.forEach((un, n) => {
      const lp = [0, 1].map((k) => Math.log(params.w[k]) + normLp(y[n], params.mu[k] + un, params.s[k]));
      const want = normLp(un, params.a, 1.5) + lse(lp);
      total += want;
      expect(r.logDensity[n]).toBeCloseTo(want, 4);
      expect(r.responsibilities.z.values[n * 2 + 1]).toBeCloseTo(Math.exp(lp[1] - lse(lp)), 5);
    });
    expect(r.logLik).toBeCloseTo(total, 3);
  });

  it('names the data the new points lack', () => {
    const model = stdlib('gmm_diag');
    const params = { w: [0.5, 0.5], mu: [[0, 0], [1, 1]], sigma: [[1, 1], [1, 1]] };
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error('expected an error');
    };
    const noX = err(() => predict(model, params, { K: 2 }));
    expect(noX).toBeInstanceOf(MixError);
    expect((noX as MixError).diagnostics.map((d) => d.message).join('\n')).toMatch(/no 'x' \(real\[N, D\]\)/);
    const noK = err(() => predict(model, params, { x: [[0, 1]] }));
    expect((noK as MixError).diagnostics.map((d) => d.message).join('\n')).toMatch(/no 'K'/);
    expect((noK as MixError).diagnostics.map((d) => d.message).join('\n')).not.toMatch(/'x'/);
    expect(() => predict(stdlib('gaussian_hmm'), {}, { y: [1, 2], K: 2 })).toThrow(/chain/);
  });
});

describe('viterbi', () => {
  const T = 5, K = 3;

  /** Brute force over all K^T paths: log p(y, z) of each, in float64. */
  function brute(y: number[], pi: number[], A: number[][], emit: (t: number, k: number) => number) {
    const scores: { z: number[]; lp: number }[] = [];
    for (const z of assignments(y.length, K)) {
      let lp = Math.log(pi[z[0]]) + emit(0, z[0]);
      for (let t = 1; t < y.length; t++) lp += Math.log(A[z[t - 1]][z[t]]) + emit(t, z[t]);
      scores.push({ z, lp });
    }
    scores.sort((a, b) => b.lp - a.lp);
    return { best: scores[0], gap: scores[0].lp - scores[1].lp, logZ: lse(scores.map((s) => s.lp)) };
  }

  function check(name: 'gaussian_hmm' | 'poisson_hmm', seed: number) {
    const rng = Key.seed(seed).rng();
    const pi = simplex(rng, K);
    const A = [0, 1, 2].map(() => simplex(rng, K));
    let params: Record<string, number[] | number[][]>;
    let y: number[];
    let emit: (t: number, k: number) => number;
    if (name === 'gaussian_hmm') {
      const mu = [0, 1, 2].map(() => rng.normal(0, 2)).sort((a, b) => a - b);
      const sigma = [0, 1, 2].map(() => 0.4 + rng.uniform());
      y = Array.from({ length: T }, () => rng.normal(0, 2.5));
      params = { pi, A, mu, sigma };
      emit = (t, k) => normLp(y[t], mu[k], sigma[k]);
    } else {
      const lambda = [0, 1, 2].map(() => 0.5 + 8 * rng.uniform()).sort((a, b) => a - b);
      y = Array.from({ length: T }, () => rng.poisson(4));
      params = { pi, A, lambda };
      emit = (t, k) => poisLp(y[t], lambda[k]);
    }
    const bm = stdlib(name).bind({ y, K });
    const v = viterbi(bm, params).z;
    const ref = brute(y, pi, A, emit);
    // A near-tie would make the float32 comparison meaningless; random continuous params make it improbable.
    expect(ref.gap).toBeGreaterThan(1e-3);
    expect(v.chain).toBe(true);
    expect(v.shape).toEqual([T]);
    expect(Array.from(v.path)).toEqual(ref.best.z.map((k) => k + 1));
    expect(v.logScore!).toBeCloseTo(ref.best.lp, 3);
    expect(v.logZ!).toBeCloseTo(ref.logZ, 3);
    expect(v.logProb).toBeCloseTo(ref.best.lp - ref.logZ, 3);
    bm.dispose();
  }

  for (const seed of [1, 2, 3]) {
    it(`gaussian_hmm: the most probable of all ${K ** T} paths (seed ${seed})`, () => check('gaussian_hmm', seed));
    it(`poisson_hmm: the most probable of all ${K ** T} paths (seed ${seed})`, () => check('poisson_hmm', seed));
  }

  it('viterbiDecode matches brute force on arbitrary potentials, impossible transitions included', () => {
    const rng = Key.seed(9).rng();
    for (let rep = 0; rep < 5; rep++) {
      const T6 = 6;
      const psi = Float64Array.from({ length: T6 * K * K }, () => (rng.uniform() < 0.15 ? -Infinity : rng.normal(0, 2)));
      // Step 1 is constant over the previous state, as the evaluator builds it.
      for (let i = 1; i < K; i++) for (let j = 0; j < K; j++) psi[i * K + j] = psi[j];
      const lps = [...assignments(T6, K)].map((z) => ({ z, lp: z.reduce((a, k, t) => a + (t === 0 ? psi[k] : psi[t * K * K + z[t - 1] * K + k]), 0) }));
      lps.sort((a, b) => b.lp - a.lp);
      const d = viterbiDecode(psi, T6, K);
      expect(d.logScore).toBeCloseTo(lps[0].lp, 10);
      expect(d.logZ).toBeCloseTo(lse(lps.map((x) => x.lp)), 10);
      if (lps[0].lp - lps[1].lp > 1e-9) expect(Array.from(d.path)).toEqual(lps[0].z);
    }
  });

  it('a latent that is not a chain gets the per-point argmax of its responsibilities', () => {
    const params = { w: [0.2, 0.5, 0.3], mu: [[0, 0], [3, 0], [0, 3]], sigma: [[1, 0.7], [0.8, 1.2], [1.1, 0.9]] };
    const x = [[0.1, 0.2], [2.5, -0.3], [0.4, 2.2], [1.5, 1.5], [-1, 4]];
    const bm = stdlib('gmm_diag').bind({ x, K: 3 });
    const v = viterbi(bm, params).z;
    expect(v.chain).toBe(false);
    let logProb = 0;
    x.forEach((xn, n) => {
      const lp = [0, 1, 2].map((k) => Math.log(params.w[k]) + xn.reduce((a, xv, d) => a + normLp(xv, params.mu[k][d], params.sigma[k][d]), 0));
      expect(v.path[n]).toBe(argmax(lp) + 1);
      logProb += Math.max(...lp) - lse(lp);
    });
    expect(v.logProb).toBeCloseTo(logProb, 4);
    bm.dispose();
  });
});

describe('selectModels', () => {
  const N = 600;
  const x = mixtureData(N, [[0, 0], [6, 0], [0, 6]], 5);
  const Ks = [1, 2, 3, 4, 5];
  // Free parameters, counted by hand: weights K - 1, means K D, plus the covariance params.
  const D = 2;
  const nParams: Record<string, (K: number) => number> = {
    gmm_diag: (K) => K - 1 + K * D + K * D,
    gmm_full: (K) => K - 1 + K * D + K * D + (K * D * (D - 1)) / 2,
  };

  it('BIC picks K = 3 for data from three well-separated components; one row per (model, K)', () => {
    const r = selectModels([stdlib('gmm_diag'), stdlib('gmm_full')], { x }, { K: Ks, nInit: 2, seed: 3 });
    expect(r.criterion).toBe('bic');
    expect(r.rows.map((row) => `${row.model}:${row.K}`)).toEqual(['gmm_diag', 'gmm_full'].flatMap((m) => Ks.map((K) => `${m}:${K}`)));
    for (const row of r.rows) {
      expect(row.nObs).toBe(N);
      expect(row.nParams).toBe(nParams[row.model](row.K));
      expect(row.bic).toBeCloseTo(-2 * row.logLik + row.nParams * Math.log(N), 6);
      expect(row.aic).toBeCloseTo(-2 * row.logLik + 2 * row.nParams, 6);
      expect(row.icl).toBeGreaterThanOrEqual(row.bic - 1e-6);
    }
    expect(r.best.K).toBe(3);
    expect(r.best.bic).toBe(Math.min(...r.rows.map((row) => row.bic)));
    for (const m of ['gmm_diag', 'gmm_full']) {
      const rows = r.rows.filter((row) => row.model === m);
      expect(rows.reduce((b, row) => (row.bic < b.bic ? row : b)).K).toBe(3);
    }
    // The reported log likelihood is that of the reported parameters (float64 reference).
    const diag3 = r.rows.find((row) => row.model === 'gmm_diag' && row.K === 3)!;
    const p = diag3.fit.params as { w: number[]; mu: number[][]; sigma: number[][] };
    const ll = x.reduce((a, xn) => a + lse([0, 1, 2].map((k) => Math.log(p.w[k]) + xn.reduce((s, v, d) => s + normLp(v, p.mu[k][d], p.sigma[k][d]), 0))), 0);
    expect(diag3.logLik).toBeCloseTo(ll, 1);
    // ICL = BIC + 2 x the entropy of the responsibilities at the estimate.
    const resp = predict(stdlib('gmm_diag'), p, { x, K: 3 }).responsibilities[stdlib('gmm_diag').ir.latents[0].name].values;
    let H = 0;
    for (const q of resp) if (q > 0) H -= q * Math.log(q);
    expect(diag3.icl).toBeCloseTo(diag3.bic + 2 * H, 0);
  });

  it('ranks by AIC or ICL when asked, and rejects a model without K', () => {
    const r = selectModels(stdlib('gmm_diag'), { x }, { K: [2, 3], criterion: 'aic', seed: 3 });
    expect(r.rows.length).toBe(2);
    expect(r.best.aic).toBe(Math.min(...r.rows.map((row) => row.aic)));
    expect(() => selectModels(stdlib('gmm_diag'), { x }, { K: [0] })).toThrow(RangeError);
    expect(() => selectModels(compile('model m { data y: real[N] param mu: real  for n in 1..N { y[n] ~ normal(mu, 1) } }'), { y: [1, 2] }, { K: [1] })).toThrow(/no scalar data 'K'/);
  });
});

describe('mixppl select', () => {
  let out = '';
  let err = '';
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });
  async function cli(...args: string[]): Promise<number> {
    out = '';
    err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
    process.exitCode = undefined;
    await run(args);
    vi.restoreAllMocks();
    return Number(process.exitCode ?? 0);
  }

  it('parses K lists', () => {
    expect(parseKList('1..4')).toEqual([1, 2, 3, 4]);
    expect(parseKList('5,1..2, 3')).toEqual([1, 2, 3, 5]);
    for (const bad of ['0..3', '3..1', 'a', '1.5', '']) expect(() => parseKList(bad), bad).toThrow();
  });

  it('prints one row per (model, K) and the winner; usage errors exit 2', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'mixppl-select-'));
    try {
      const csv = join(tmp, 'x.csv');
      const x = mixtureData(300, [[0, 0], [6, 0], [0, 6]], 7);
      writeFileSync(csv, ['x.1,x.2', ...x.map((r) => r.join(','))].join('\n') + '\n');
      const gd = join(ROOT, 'stdlib/gmm_diag.mix');
      const gf = join(ROOT, 'stdlib/gmm_full.mix');
      const code = await cli('select', gd, gf, '--data', csv, '--k', '1..4', '--seed', '3', '--backend', 'cpu', '--quiet');
      expect(code, err).toBe(0);
      const rows = out.split('\n').filter((l) => /^gmm_(diag|full)\s+\d/.test(l));
      expect(rows.length).toBe(8);
      expect(out).toMatch(/best by BIC: gmm_\w+ with K = 3 /);
      expect(await cli('select', '--help')).toBe(0);
      expect(out).toContain('usage: mixppl select');
      expect(await cli('select', gd, '--data', csv, '--k', '2..x', '--backend', 'cpu')).toBe(2);
      expect(err).toContain('--k');
      expect(await cli('select', gd, '--data', csv, '--k', '2', '--criterion', 'xyz', '--backend', 'cpu')).toBe(2);
      expect(await cli('select', gd, '--data', csv, '--backend', 'cpu')).toBe(2);
      expect(await cli('select', '--k', '2', '--backend', 'cpu')).toBe(2);
      expect(await cli('select', gd, '--data', csv, '--k', '2', '--chains', '4')).toBe(2);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
