// MAP closed forms for semi-conjugate priors on mixture components: one EM iteration
// against an independent float64 reference computed here from the formulas, and a
// non-decreasing log posterior on random data (fast-check).
//
// References for the formulas:
// - Gaussian mean with known variance, normal prior: posterior mean
//   (Σ_n r x_n/σ² + m0/s0²) / (Σ_n r/σ² + 1/s0²); multivariate: (P0 + n Σ⁻¹)⁻¹ (P0 m0 + Σ⁻¹ Σ r x)
//   (Murphy 2012, Machine Learning: a Probabilistic Perspective, §4.6.1).
// - Covariance with an inverse-Wishart(ν, Ψ) prior: posterior mode (Ψ + S) / (ν + D + 1 + n)
//   (Murphy 2012 §4.6.3.2; Fraley and Raftery 2007, "Bayesian regularization for normal
//   mixture estimation and model-based clustering", use the same mode).
// - Scale σ with an inverse-gamma(a, b) density on σ: d/dσ [-n log σ - SS/(2σ²) - (a+1) log σ - b/σ] = 0,
//   i.e. (n + a + 1) σ² - b σ - SS = 0.
// - Weights with a Dirichlet(α) prior, α ≥ 1: (n_k + α_k - 1) / Σ_j (n_j + α_j - 1).
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { useBackend, Key } from '../../src/tensor';
import { compile, em } from '../../src';
import { closedFormUpdates } from '../../src/infer/em/closed-form';

beforeAll(async () => {
  await useBackend('cpu');
});

const LOG_2PI = Math.log(2 * Math.PI);
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((a, v) => a + Math.exp(v - m), 0));
};

function gmmData(n: number, means: number[][], sd: number, seed: number): number[][] {
  const rng = Key.seed(seed).rng();
  return Array.from({ length: n }, () => means[rng.uniformInt(means.length)].map((m) => m + sd * rng.normal()));
}

// 2 x 2 float64 helpers.
type M2 = number[][];
const inv2 = (a: M2): M2 => {
  const det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
  return [[a[1][1] / det, -a[0][1] / det], [-a[1][0] / det, a[0][0] / det]];
};
const add2 = (a: M2, b: M2): M2 => a.map((r, i) => r.map((v, j) => v + b[i][j]));
const scale2 = (a: M2, c: number): M2 => a.map((r) => r.map((v) => v * c));
const mv2 = (a: M2, v: number[]) => a.map((r) => r[0] * v[0] + r[1] * v[1]);
const mvnLp2 = (x: number[], mu: number[], S: M2) => {
  const d = [x[0] - mu[0], x[1] - mu[1]];
  const P = inv2(S);
  const q = d[0] * (P[0][0] * d[0] + P[0][1] * d[1]) + d[1] * (P[1][0] * d[0] + P[1][1] * d[1]);
  return -LOG_2PI - 0.5 * Math.log(S[0][0] * S[1][1] - S[0][1] * S[1][0]) - 0.5 * q;
};

const diagModel = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param sigma: positive[K, D]
  w ~ dirichlet(rep(2.0, K))
  mu ~ normal(1, 2)
  sigma ~ inv_gamma(3, 2)
  for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) } }`;

const fullModel = (meanPrior: string) => `model g { data K: int  data D: int  data x: real[N, D]  data Psi: cov_matrix[D]
  param w: simplex[K]  param mu: real[K, D]  param Sigma: cov_matrix[K, D]
  w ~ dirichlet(rep(3.0, K))
  ${meanPrior}
  Sigma ~ inv_wishart(D + 2, Psi)
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal(mu[k], Sigma[k])) } }`;

const cholModel = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
  mu ~ normal(0, 3)
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`;

const x = gmmData(50, [[0, 0], [3, 1], [-1, 4]], 0.8, 5);
const N = x.length;
const K = 3;

describe('MAP closed forms: recognition', () => {
  it('recognises the semi-conjugate priors and leaves the others to the gradient step', () => {
    const rules = (src: string, data: object) => closedFormUpdates(compile(src).bind(data as never), { priors: true }).map((u) => `${u.param}:${u.rule}`).sort();
    expect(rules(diagModel, { K, x })).toEqual(['mu:normal component means', 'sigma:normal component scales', 'w:categorical weights']);
    const Psi = [[1, 0.2], [0.2, 1]];
    expect(rules(fullModel('mu ~ normal(0, 5)'), { K, D: 2, x, Psi })).toEqual(['Sigma:mvnormal covariances', 'mu:mvnormal component means', 'w:categorical weights']);
    expect(rules(fullModel('mu ~ mvnormal(rep(0.0, D), Psi)'), { K, D: 2, x, Psi })).toEqual(['Sigma:mvnormal covariances', 'mu:mvnormal component means', 'w:categorical weights']);
    // Not semi-conjugate: an exponential prior on the scale, a prior whose argument is a param.
    const expScale = diagModel.replace('sigma ~ inv_gamma(3, 2)', 'sigma ~ exponential(1)');
    expect(rules(expScale, { K, x })).toEqual(['mu:normal component means', 'w:categorical weights']);
    const hier = diagModel.replace('param sigma', 'param m0: real  param sigma').replace('mu ~ normal(1, 2)', 'mu ~ normal(m0, 2)');
    // (The normal scales are recognised together with their means, so they go to the gradient step too.)
    expect(rules(hier, { K, x })).toEqual(['w:categorical weights']);
    // With priors left out (MLE) nothing changes.
    expect(closedFormUpdates(compile(expScale).bind({ K, x }), { priors: false }).length).toBe(3);
  });
});

describe('MAP closed forms: one iteration equals the float64 reference', () => {
  it('diagonal normal components: Dirichlet weights, normal means, inverse-gamma scales', () => {
    const start = { w: [0.3, 0.3, 0.4], mu: [[0.5, 0.2], [2, 2], [-1, 3]], sigma: [[1, 0.7], [0.8, 1.2], [1.1, 0.9]] };
    const r = em(compile(diagModel).bind({ K, x }), { init: start, maxIter: 1, tol: 0, objective: 'map', regCovar: 0, reseed: false });
    expect(r.closedForm.sort()).toEqual(['mu', 'sigma', 'w']);
    const D = 2;
    const resp = x.map((xn) => {
      const lp = [0, 1, 2].map((k) => Math.log(start.w[k]) + xn.reduce((a, v, d) => a - 0.5 * LOG_2PI - Math.log(start.sigma[k][d]) - 0.5 * ((v - start.mu[k][d]) / start.sigma[k][d]) ** 2, 0));
      const z = lse(lp);
      return lp.map((v) => Math.exp(v - z));
    });
    const nk = [0, 1, 2].map((k) => resp.reduce((a, rr) => a + rr[k], 0));
    const w = nk.map((v) => (v + 1) / (N + K)); // α = 2
    const [m0, s0, a, b] = [1, 2, 3, 2];
    const mu = [0, 1, 2].map((k) => [0, 1].map((d) => {
      const s2 = start.sigma[k][d] ** 2;
      const s1 = x.reduce((acc, xn, n) => acc + resp[n][k] * xn[d], 0);
      return (s1 / s2 + m0 / s0 ** 2) / (nk[k] / s2 + 1 / s0 ** 2);
    }));
    const sigma = [0, 1, 2].map((k) => Array.from({ length: D }, (_, d) => {
      const ss = x.reduce((acc, xn, n) => acc + resp[n][k] * (xn[d] - mu[k][d]) ** 2, 0);
      const c = nk[k] + a + 1;
      return (b + Math.sqrt(b * b + 4 * c * ss)) / (2 * c);
    }));
    const got = r.params as { w: number[]; mu: number[][]; sigma: number[][] };
    // float32 sums of 50 terms: 4 decimals is several times the accumulated rounding (the weights carry 10 float32 eps too).
    for (let k = 0; k < K; k++) {
      expect(got.w[k]).toBeCloseTo(w[k], 5);
      for (let d = 0; d < D; d++) {
        expect(got.mu[k][d]).toBeCloseTo(mu[k][d], 4);
        expect(got.sigma[k][d]).toBeCloseTo(sigma[k][d], 4);
      }
    }
  });

  for (const [what, meanPrior, P0, m0] of [
    ['normal(0, 5) on the means', 'mu ~ normal(0, 5)', [[1 / 25, 0], [0, 1 / 25]], [0, 0]],
    ['mvnormal(m0, Psi) on the rows', 'mu ~ mvnormal(rep(0.5, D), Psi)', inv2([[1, 0.2], [0.2, 1]]), [0.5, 0.5]],
  ] as [string, string, M2, number[]][]) {
    it(`full covariances with an inverse-Wishart prior, ${what}`, () => {
      const Psi: M2 = [[1, 0.2], [0.2, 1]];
      const start = { w: [0.3, 0.3, 0.4], mu: [[0.5, 0.2], [2, 2], [-1, 3]], Sigma: [[[1, 0.3], [0.3, 1]], [[0.8, 0], [0, 1.5]], [[1.2, -0.4], [-0.4, 0.9]]] };
      const r = em(compile(fullModel(meanPrior)).bind({ K, D: 2, x, Psi }), { init: start, maxIter: 1, tol: 0, objective: 'map', regCovar: 0, reseed: false });
      expect(r.closedForm.sort()).toEqual(['Sigma', 'mu', 'w']);
      const resp = x.map((xn) => {
        const lp = [0, 1, 2].map((k) => Math.log(start.w[k]) + mvnLp2(xn, start.mu[k], start.Sigma[k]));
        const z = lse(lp);
        return lp.map((v) => Math.exp(v - z));
      });
      const nk = [0, 1, 2].map((k) => resp.reduce((a, rr) => a + rr[k], 0));
      const w = nk.map((v) => (v + 2) / (N + 2 * K)); // α = 3
      const mu = [0, 1, 2].map((k) => {
        const prec = inv2(start.Sigma[k]);
        const s1 = [0, 1].map((d) => x.reduce((acc, xn, n) => acc + resp[n][k] * xn[d], 0));
        const A = add2(P0, scale2(prec, nk[k]));
        const rhs = [0, 1].map((d) => mv2(P0, m0)[d] + mv2(prec, s1)[d]);
        return mv2(inv2(A), rhs);
      });
      const nu = 2 + 2;
      const Sigma = [0, 1, 2].map((k) => {
        const S = [0, 1].map((i) => [0, 1].map((j) => x.reduce((acc, xn, n) => acc + resp[n][k] * (xn[i] - mu[k][i]) * (xn[j] - mu[k][j]), 0)));
        return scale2(add2(Psi, S), 1 / (nu + 2 + 1 + nk[k]));
      });
      const got = r.params as { w: number[]; mu: number[][]; Sigma: number[][][] };
      for (let k = 0; k < K; k++) {
        expect(got.w[k]).toBeCloseTo(w[k], 5);
        for (let i = 0; i < 2; i++) {
          expect(got.mu[k][i]).toBeCloseTo(mu[k][i], 4);
          for (let j = 0; j < 2; j++) expect(got.Sigma[k][i][j]).toBeCloseTo(Sigma[k][i][j], 4);
        }
      }
    });
  }
});

describe('MAP closed forms: the log posterior does not decrease', () => {
  it('on random data (diagonal, full inverse-Wishart, Cholesky with a prior on the means)', () => {
    fc.assert(fc.property(fc.constantFrom('diag', 'full', 'chol'), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 1e6 }), (kind, Kc, seed) => {
      const rng = Key.seed(seed).rng();
      const centres = Array.from({ length: Kc }, () => [rng.normal() * 3, rng.normal() * 3]);
      const data = Array.from({ length: 40 }, () => centres[rng.uniformInt(Kc)].map((m) => m + rng.normal()));
      const src = kind === 'diag' ? diagModel : kind === 'full' ? fullModel('mu ~ normal(0, 5)') : cholModel;
      const bm = compile(src).bind({ K: Kc, x: data, ...(kind === 'full' ? { D: 2, Psi: [[1, 0.2], [0.2, 1]] } : {}) } as never);
      // Exact ECM (regCovar 0): every update is the conditional maximiser of Q + log prior.
      const r = em(bm, { seed, maxIter: 8, tol: 0, regCovar: 0, objective: 'map' });
      const across = new Set(r.reseeds.map((e) => e.traceIndex + 1));
      for (let i = 1; i < r.trace.length; i++) {
        if (across.has(i)) continue;
        // float32 evaluation of a sum over 40 points and the priors: 1e-5 relative plus a floor (as em-monotone.test.ts).
        const slack = 1e-5 * Math.abs(r.trace[i - 1]) + 1e-4;
        if (!(r.trace[i] >= r.trace[i - 1] - slack)) throw new Error(`${kind} K=${Kc} seed=${seed}: log posterior fell from ${r.trace[i - 1]} to ${r.trace[i]} at iteration ${i}`);
      }
      bm.dispose();
    }), { numRuns: 18, seed: 7 });
  });
});
