// EM: one iteration against an independent float64 reference update; monotone log likelihood.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key, choleskyF64 } from '../../src/tensor';
import { compile } from '../../src';
import { em, emResponsibilities } from '../../src/infer/em';
import { closedFormUpdates } from '../../src/infer/em/closed-form';

beforeAll(async () => {
  await useBackend('cpu');
});

const LOG_2PI = Math.log(2 * Math.PI);
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};

/** Draws n points from a K-component D-dim Gaussian mixture (fixed seed). */
function gmmData(n: number, means: number[][], sd: number, seed: number): number[][] {
  const rng = Key.seed(seed).rng();
  return Array.from({ length: n }, () => {
    const k = rng.categorical(means.map(() => 1));
    return means[k].map((m) => m + sd * rng.normal());
  });
}

/** log N(x | mu, L L') in float64. */
function mvnLp(x: number[], mu: number[], L: number[][]): number {
  const D = x.length;
  const z: number[] = [];
  for (let i = 0; i < D; i++) {
    let s = x[i] - mu[i];
    for (let j = 0; j < i; j++) s -= L[i][j] * z[j];
    z.push(s / L[i][i]);
  }
  let logdet = 0;
  for (let i = 0; i < D; i++) logdet += Math.log(L[i][i]);
  return -0.5 * D * LOG_2PI - logdet - 0.5 * z.reduce((a, v) => a + v * v, 0);
}

const fullGmm = `
  model g {
    data K: int
    data x: real[N, D]
    param w: simplex[K]
    param mu: real[K, D]
    param L: cholesky_cov[K, D]
    for n in 1..N {
      z[n] ~ categorical(w)
      x[n] ~ mvnormal_cholesky(mu[z[n]], L[z[n]])
    }
  }`;

describe('EM, full-covariance Gaussian mixture', () => {
  const x = gmmData(60, [[0, 0], [3, 1], [-1, 4]], 0.8, 11);
  const start = {
    w: [0.3, 0.3, 0.4],
    mu: [[0.5, 0.2], [2, 2], [-1, 3]],
    L: [[[1, 0], [0.2, 1]], [[1.2, 0], [0, 0.9]], [[0.8, 0], [-0.1, 1.1]]],
  };

  it('recognises closed-form updates for weights, means and covariance factors', () => {
    const bm = compile(fullGmm).bind({ K: 3, x });
    const rules = closedFormUpdates(bm, { priors: false }).map((u) => `${u.param}:${u.rule}`).sort();
    expect(rules).toEqual(['L:mvnormal covariance factors', 'mu:mvnormal component means', 'w:categorical weights']);
  });

  it('one iteration equals a float64 reference EM step', () => {
    const bm = compile(fullGmm).bind({ K: 3, x });
    const r = em(bm, { init: start, maxIter: 1, tol: 0 });
    // Reference: responsibilities at the start, then weights, means, covariances (reg 1e-6 on the diagonal).
    const K = 3, D = 2, N = x.length;
    const resp = x.map((xn) => {
      const lp = [0, 1, 2].map((k) => Math.log(start.w[k]) + mvnLp(xn, start.mu[k], start.L[k]));
      const z = lse(lp);
      return lp.map((v) => Math.exp(v - z));
    });
    const nk = [0, 1, 2].map((k) => resp.reduce((a, r) => a + r[k], 0));
    const w = nk.map((v) => v / N);
    const mu = [0, 1, 2].map((k) => [0, 1].map((d) => x.reduce((a, xn, n) => a + resp[n][k] * xn[d], 0) / nk[k]));
    const cov = [0, 1, 2].map((k) => [0, 1].map((i) => [0, 1].map((j) =>
      x.reduce((a, xn, n) => a + resp[n][k] * (xn[i] - mu[k][i]) * (xn[j] - mu[k][j]), 0) / nk[k] + (i === j ? 1e-6 : 0))));
    const L = cov.map((c) => choleskyF64(c));
    const got = r.params as { w: number[]; mu: number[][]; L: number[][][] };
    // float32 sums of 60 terms: relative 1e-5 is several times the accumulated rounding.
    for (let k = 0; k < K; k++) {
      expect(got.w[k]).toBeCloseTo(w[k], 5);
      for (let d = 0; d < D; d++) expect(got.mu[k][d]).toBeCloseTo(mu[k][d], 4);
      for (let i = 0; i < D; i++) for (let j = 0; j <= i; j++) expect(got.L[k][i][j]).toBeCloseTo(L[k][i][j], 4);
    }
    expect(r.closedForm.sort()).toEqual(['L', 'mu', 'w']);
  });

  it('never decreases the log likelihood', () => {
    const bm = compile(fullGmm).bind({ K: 3, x });
    const r = em(bm, { seed: 3, maxIter: 40, tol: 0 });
    for (let i = 1; i < r.trace.length; i++) {
      // float32 evaluation of a sum over 60 points: allow rounding of 1e-5 relative.
      expect(r.trace[i]).toBeGreaterThanOrEqual(r.trace[i - 1] - 1e-5 * Math.abs(r.trace[i - 1]));
    }
  });
});

describe('EM, Poisson mixture', () => {
  const model = `
    model p {
      data K: int
      data y: int<lower=0>[N]
      param w: simplex[K]
      param lam: positive[K]
      for n in 1..N { y[n] ~ mixture(w, k -> poisson(lam[k])) }
    }`;
  const y = [0, 1, 2, 1, 0, 7, 9, 8, 12, 6, 3, 2, 10, 1, 0];
  it('one iteration equals the float64 reference', () => {
    const bm = compile(model).bind({ K: 2, y });
    const start = { w: [0.5, 0.5], lam: [1.5, 6] };
    const r = em(bm, { init: start, maxIter: 1, tol: 0 });
    const lgam = (n: number) => { let s = 0; for (let i = 2; i <= n; i++) s += Math.log(i); return s; };
    const resp = y.map((v) => {
      const lp = [0, 1].map((k) => Math.log(start.w[k]) + v * Math.log(start.lam[k]) - start.lam[k] - lgam(v));
      const z = lse(lp);
      return lp.map((q) => Math.exp(q - z));
    });
    const nk = [0, 1].map((k) => resp.reduce((a, r) => a + r[k], 0));
    const got = r.params as { w: number[]; lam: number[] };
    for (const k of [0, 1]) {
      expect(got.w[k]).toBeCloseTo(nk[k] / y.length, 5);
      expect(got.lam[k]).toBeCloseTo(y.reduce((a, v, n) => a + resp[n][k] * v, 0) / nk[k], 4);
    }
  });
});

describe('EM, Gaussian HMM (Baum-Welch)', () => {
  const model = `
    model h {
      data K: int
      data y: real[T]
      param p0: simplex[K]
      param A: simplex[K, K]
      param mu: real[K]
      param sigma: positive[K]
      z[1] ~ categorical(p0)
      for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
      for t in 1..T { y[t] ~ normal(mu[z[t]], sigma[z[t]]) }
    }`;
  const y = [-1.1, -0.8, -1.3, 0.9, 1.2, 1.0, 0.7, -0.9, -1.2, 1.1, 0.95, 1.3];
  const start = { p0: [0.6, 0.4], A: [[0.8, 0.2], [0.3, 0.7]], mu: [-0.5, 0.5], sigma: [1, 1] };

  it('one iteration equals a float64 forward-backward reference', () => {
    const bm = compile(model).bind({ K: 2, y });
    const rules = closedFormUpdates(bm, { priors: false }).map((u) => u.param).sort();
    expect(rules).toEqual(['A', 'mu', 'p0', 'sigma']);
    const r = em(bm, { init: start, maxIter: 1, tol: 0 });
    const T = y.length, K = 2;
    const e = (t: number, k: number) => -0.5 * LOG_2PI - Math.log(start.sigma[k]) - 0.5 * ((y[t] - start.mu[k]) / start.sigma[k]) ** 2;
    const la: number[][] = [[0, 1].map((k) => Math.log(start.p0[k]) + e(0, k))];
    for (let t = 1; t < T; t++) la.push([0, 1].map((j) => lse([0, 1].map((i) => la[t - 1][i] + Math.log(start.A[i][j]))) + e(t, j)));
    const lb: number[][] = Array.from({ length: T }, () => [0, 0]);
    for (let t = T - 2; t >= 0; t--) lb[t] = [0, 1].map((i) => lse([0, 1].map((j) => Math.log(start.A[i][j]) + e(t + 1, j) + lb[t + 1][j])));
    const logZ = lse(la[T - 1]);
    const gamma = la.map((a, t) => a.map((v, k) => Math.exp(v + lb[t][k] - logZ)));
    const xi = Array.from({ length: T - 1 }, (_, t) => [0, 1].map((i) => [0, 1].map((j) =>
      Math.exp(la[t][i] + Math.log(start.A[i][j]) + e(t + 1, j) + lb[t + 1][j] - logZ))));
    const A = [0, 1].map((i) => {
      const row = [0, 1].map((j) => xi.reduce((s, x) => s + x[i][j], 0));
      const tot = row[0] + row[1];
      return row.map((v) => v / tot);
    });
    const nk = [0, 1].map((k) => gamma.reduce((s, g) => s + g[k], 0));
    const mu = [0, 1].map((k) => gamma.reduce((s, g, t) => s + g[k] * y[t], 0) / nk[k]);
    const sd = [0, 1].map((k) => Math.sqrt(gamma.reduce((s, g, t) => s + g[k] * (y[t] - mu[k]) ** 2, 0) / nk[k] + 1e-6));
    const got = r.params as { p0: number[]; A: number[][]; mu: number[]; sigma: number[] };
    expect(r.trace[0]).toBeCloseTo(logZ, 4);
    for (let k = 0; k < K; k++) {
      expect(got.p0[k]).toBeCloseTo(gamma[0][k], 4);
      expect(got.mu[k]).toBeCloseTo(mu[k], 4);
      expect(got.sigma[k]).toBeCloseTo(sd[k], 4);
      for (let j = 0; j < K; j++) expect(got.A[k][j]).toBeCloseTo(A[k][j], 4);
    }
  });
});

describe('fused Gaussian-mixture E-step', () => {
  const x = gmmData(80, [[0, 0], [3, 1], [-1, 4]], 0.9, 5);
  for (const [name, model] of [
    ['cholesky_cov components', fullGmm],
    ['scale x correlation components (stdlib form)', `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]
       param tau: positive[K, D]  param L: cholesky_corr[K, D]
       for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], diag_pre_multiply(tau[k], L[k]))) } }`],
    ['tied covariance', `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param S: cov_matrix[D]
       for n in 1..N { x[n] ~ mixture(w, k -> mvnormal(mu[k], S)) } }`],
  ] as const) {
    it(`agrees with the generic E-step: ${name}`, () => {
      const bm = compile(model).bind({ K: 3, x });
      const fused = em(bm, { seed: 2, maxIter: 5, tol: 0 });
      const generic = em(bm, { seed: 2, maxIter: 5, tol: 0, fused: false });
      expect(fused.trace.length).toBe(generic.trace.length);
      // Same iterates up to float32 rounding of two different evaluation orders.
      fused.trace.forEach((v, i) => expect(Math.abs(v - generic.trace[i])).toBeLessThan(1e-5 * Math.abs(v) + 1e-3));
    });
  }
});

describe('responsibilities', () => {
  it('the fused path gives the generic posterior marginals', () => {
    const x = gmmData(50, [[0, 0], [3, 1], [-1, 4]], 0.9, 8);
    const bm = compile(fullGmm).bind({ K: 3, x });
    const r = em(bm, { seed: 1, maxIter: 3, tol: 0 });
    const fused = emResponsibilities(bm, r.params as never).z;
    const generic = bm.latentMarginals(r.params as never).z;
    expect(fused.shape).toEqual(generic.shape);
    fused.values.forEach((v, i) => expect(Math.abs(v - generic.values[i])).toBeLessThan(1e-5));
  });
});
