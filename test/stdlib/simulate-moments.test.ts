// Every stdlib model's simulator, with all parameters held fixed: the sample moments of
// the simulated observations against the model's closed-form moments (mixtures by the
// law of total variance, HMM chains started from pi and propagated through A). Each check
// is a z-score of a sum of independent terms whose variance is known in closed form, and
// must lie within 4 standard errors, at fixed seeds.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src';
import type { DataInput, DataValue, NdArray } from '../../src/model/data';
import type { SimulatedDraw } from '../../src/model/simulate';
import type { CompMoments, Moments } from './reference';
import {
  TestRng, bernoulliMoments, clampedNormal, covFromScaleAndCorrFactor, dot, hmmSumMoments, indepMixtureMoments, mixtureMoments,
  momentsAbout, momentsFromRaw, mvMixtureMoments, normalMoments, poissonMoments, softmax, stateMarginals, studentTMoments,
} from './reference';

/** Standard errors a check may be off by: two-sided 6e-5 per check under the null. */
const Z_MAX = 4;
/** Points per draw and draws for the i.i.d. mixtures: 4000 observations. */
const N = 200;
const DRAWS = 20;

/** Returns `draws` simulations of stdlib model `name` with every parameter in `fixed` held. */
function simulate(name: string, data: DataInput, fixed: Record<string, DataValue>, draws: number, seed: number): SimulatedDraw[] {
  const model = compile(fileURLToPath(new URL(`../../stdlib/${name}.mix`, import.meta.url)));
  return model.simulate(data, { seed, draws, fixed });
}

/** Returns the rows of an [n, D] NdArray. */
function rows(a: NdArray): number[][] {
  const D = a.shape[1];
  return Array.from({ length: a.shape[0] }, (_, n) => Array.from(a.values.subarray(n * D, (n + 1) * D)));
}

/** Asserts |z| < Z_MAX, naming the statistic. */
function expectZ(z: number, label: string): void {
  expect(Number.isFinite(z), `${label}: z = ${z}`).toBe(true);
  expect(Math.abs(z), `${label}: z = ${z.toFixed(2)}`).toBeLessThan(Z_MAX);
}

/**
 * Checks the mean and the variance of independent observations xs[i] with known
 * moments ms[i]: z = Σ (x_i - mean_i) / √Σ var_i, and, with the true means, z of
 * Σ ((x_i - mean_i)² - var_i) whose terms have variance m4_i - var_i².
 */
function checkMoments(label: string, xs: readonly number[], ms: readonly Moments[] | Moments): void {
  const at = (i: number) => (Array.isArray(ms) ? ms[i] : (ms as Moments));
  let s1 = 0;
  let v1 = 0;
  let s2 = 0;
  let v2 = 0;
  xs.forEach((x, i) => {
    const m = at(i);
    s1 += x - m.mean;
    v1 += m.variance;
    s2 += (x - m.mean) ** 2 - m.variance;
    v2 += m.m4 - m.variance ** 2;
  });
  expectZ(s1 / Math.sqrt(v1), `${label}: mean`);
  expectZ(s2 / Math.sqrt(v2), `${label}: variance`);
}

/** Checks every coordinate's mean and every (co)variance of i.i.d. vectors against closed forms. */
function checkVectors(label: string, xs: readonly number[][], m: { mean: number[]; cov: number[][]; prod2: number[][] }): void {
  const D = m.mean.length;
  for (let i = 0; i < D; i++) {
    const s = xs.reduce((a, x) => a + x[i] - m.mean[i], 0);
    expectZ(s / Math.sqrt(xs.length * m.cov[i][i]), `${label}: mean of coordinate ${i + 1}`);
    for (let j = i; j < D; j++) {
      // (x_i - m_i)(x_j - m_j) has mean cov_ij and variance E[(X_i - m_i)²(X_j - m_j)²] - cov_ij².
      const c = xs.reduce((a, x) => a + (x[i] - m.mean[i]) * (x[j] - m.mean[j]) - m.cov[i][j], 0);
      expectZ(c / Math.sqrt(xs.length * (m.prod2[i][j] - m.cov[i][j] ** 2)), `${label}: covariance (${i + 1}, ${j + 1})`);
    }
  }
}

/** Returns the moments of a distribution from its CompMoments. */
const asMoments = (c: CompMoments): Moments => ({ mean: c.mean, variance: c.c2, m4: c.c4 });

/**
 * Checks HMM observations y[d][t] (draw d, step t) whose chain starts from pi: the sum over
 * t of y_t - m_t (m_t the step-t marginal mean, from p_t = pi A^{t-1}), and the sum of
 * (y_t - m_t)² - v_t, each summed per draw (steps are dependent, draws are not) and
 * compared with the variance of the sum from `hmmSumMoments`. Also the first step alone.
 */
function checkHmm(label: string, ys: readonly number[][], pi: number[], A: number[][], comps: CompMoments[]): void {
  const T = ys[0].length;
  const p = stateMarginals(pi, A, T);
  const m = p.map((pt) => dot(pt, comps.map((c) => c.mean)));
  const e = p.map((_, t) => comps.map((c) => momentsAbout(c, m[t])));
  const v = p.map((pt, t) => dot(pt, e[t].map((x) => x[1])));
  const meanStat = hmmSumMoments(pi, A, e.map((et) => et.map((x) => x[0])), e.map((et) => et.map((x) => x[1])));
  const varStat = hmmSumMoments(
    pi, A,
    e.map((et, t) => et.map((x) => x[1] - v[t])),
    e.map((et, t) => et.map((x) => x[3] - 2 * v[t] * x[1] + v[t] ** 2)),
  );
  // Both statistics are centred by construction (their closed-form means are 0).
  expect(Math.abs(meanStat.mean) + Math.abs(varStat.mean)).toBeLessThan(1e-9);
  let s1 = 0;
  let s2 = 0;
  for (const y of ys) {
    y.forEach((yt, t) => {
      s1 += yt - m[t];
      s2 += (yt - m[t]) ** 2 - v[t];
    });
  }
  expectZ(s1 / Math.sqrt(ys.length * meanStat.variance), `${label}: Σ_t (y_t - m_t)`);
  expectZ(s2 / Math.sqrt(ys.length * varStat.variance), `${label}: Σ_t ((y_t - m_t)² - v_t)`);
  checkMoments(`${label}: step 1`, ys.map((y) => y[0]), mixtureMoments(pi, comps));
}

describe('simulated observations match the closed-form moments at fixed parameters', () => {
  it('bayes_gmm: mean and variance of the 3-component mixture', () => {
    const w = [0.3, 0.5, 0.2];
    const mu = [-3, 0, 2.5];
    const sigma = [0.5, 1, 0.7];
    const draws = simulate('bayes_gmm', { K: 3, N }, { alpha: 1, w, mu0: 0, tau0: 2, mu, sigma }, DRAWS, 1);
    const ys = draws.flatMap((d) => Array.from(d.data.y.values));
    checkMoments('bayes_gmm', ys, mixtureMoments(w, mu.map((m, k) => normalMoments(m, sigma[k]))));
  });

  it('bernoulli_mix: feature means and the covariances the shared component induces', () => {
    const w = [0.4, 0.6];
    const theta = [[0.1, 0.8, 0.5], [0.7, 0.2, 0.9]];
    const draws = simulate('bernoulli_mix', { K: 2, N, D: 3 }, { w, theta }, DRAWS, 2);
    const xs = draws.flatMap((d) => rows(d.data.x));
    checkVectors('bernoulli_mix', xs, indepMixtureMoments(w, theta.map((tk) => tk.map(bernoulliMoments))));
  });

  it('censored_gmm: the fractions at each limit, and the mean and variance of the clamped values', () => {
    const w = [0.4, 0.6];
    const mu = [-1, 2];
    const sigma = [1, 1.5];
    const [lo, hi] = [-1.5, 3];
    const draws = simulate('censored_gmm', { K: 2, N, lo, hi }, { w, mu, sigma }, DRAWS, 3);
    const ys = draws.flatMap((d) => Array.from(d.data.y.values));
    const c = mu.map((m, k) => clampedNormal(m, sigma[k], lo, hi));
    const pLo = dot(w, c.map((x) => x.pLo));
    const pHi = dot(w, c.map((x) => x.pHi));
    const n = ys.length;
    expect(ys.every((y) => y >= lo && y <= hi), 'every value lies in [lo, hi]').toBe(true);
    const atLo = ys.filter((y) => y === lo).length;
    const atHi = ys.filter((y) => y === hi).length;
    expectZ((atLo - n * pLo) / Math.sqrt(n * pLo * (1 - pLo)), 'censored_gmm: fraction at lo');
    expectZ((atHi - n * pHi) / Math.sqrt(n * pHi * (1 - pHi)), 'censored_gmm: fraction at hi');
    const raw = [0, 1, 2, 3].map((j) => dot(w, c.map((x) => x.raw[j])));
    checkMoments('censored_gmm: clamped values', ys, momentsFromRaw(raw));
  });

  it('dp_mix: mean and variance under the stick-breaking weights', () => {
    const v = [0.5, 0.4];
    const mu = [-3, 0, 4];
    const sigma = [0.5, 1, 0.8];
    // w_1 = v_1, w_2 = v_2 (1 - v_1), w_3 = (1 - v_1)(1 - v_2): 0.5, 0.2, 0.3.
    const w = [v[0], v[1] * (1 - v[0]), (1 - v[0]) * (1 - v[1])];
    const draws = simulate('dp_mix', { K: 3, N }, { alpha: 1, v, mu, sigma }, DRAWS, 4);
    const ys = draws.flatMap((d) => Array.from(d.data.y.values));
    checkMoments('dp_mix', ys, mixtureMoments(w, mu.map((m, k) => normalMoments(m, sigma[k]))));
  });

  it('gaussian_hmm: per-step marginals propagated from pi through A', () => {
    // pi is far from the stationary distribution of A (0.75, 0.25), so starting the chain
    // anywhere else would show in the first steps.
    const pi = [0.2, 0.8];
    const A = [[0.9, 0.1], [0.3, 0.7]];
    const mu = [-2, 1.5];
    const sigma = [0.6, 1];
    const draws = simulate('gaussian_hmm', { K: 2, T: 40 }, { pi, A, mu, sigma }, 100, 5);
    checkHmm('gaussian_hmm', draws.map((d) => Array.from(d.data.y.values)), pi, A, mu.map((m, k) => normalMoments(m, sigma[k])));
  });

  it('gmm_diag: coordinate means, variances and covariances', () => {
    const w = [0.35, 0.65];
    const mu = [[-2, 1], [1.5, -1]];
    const sigma = [[0.5, 1.2], [1, 0.4]];
    const draws = simulate('gmm_diag', { K: 2, N, D: 2 }, { w, mu, sigma }, DRAWS, 6);
    const xs = draws.flatMap((d) => rows(d.data.x));
    checkVectors('gmm_diag', xs, indepMixtureMoments(w, mu.map((mk, k) => mk.map((m, j) => normalMoments(m, sigma[k][j])))));
  });

  it('gmm_full: coordinate means and the full covariance diag(tau) L Lᵀ diag(tau) per component', () => {
    const w = [0.45, 0.55];
    const mu = [[-1, 2, 0], [1, 0.5, 1.5]];
    const tau = [[1, 2, 0.5], [0.8, 1, 1.5]];
    const L = [
      [[1, 0, 0], [0.6, 0.8, 0], [-0.36, 0.48, 0.8]],
      [[1, 0, 0], [-0.5, Math.sqrt(0.75), 0], [0.3, 0.4, Math.sqrt(0.75)]],
    ];
    const draws = simulate('gmm_full', { K: 2, N, D: 3 }, { w, mu, tau, L }, DRAWS, 7);
    const xs = draws.flatMap((d) => rows(d.data.x));
    checkVectors('gmm_full', xs, mvMixtureMoments(w, mu, L.map((Lk, k) => covFromScaleAndCorrFactor(tau[k], Lk))));
  });

  it('gmm_spherical: coordinate means, variances and covariances', () => {
    const w = [0.2, 0.5, 0.3];
    const mu = [[-3, 0], [0, 2], [2, -1]];
    const sigma = [0.5, 1, 0.7];
    const draws = simulate('gmm_spherical', { K: 3, N, D: 2 }, { w, mu, sigma }, DRAWS, 8);
    const xs = draws.flatMap((d) => rows(d.data.x));
    checkVectors('gmm_spherical', xs, indepMixtureMoments(w, mu.map((mk, k) => mk.map((m) => normalMoments(m, sigma[k])))));
  });

  it('gmm_tied: coordinate means and covariances with one shared covariance', () => {
    const w = [0.6, 0.4];
    const mu = [[-1, 1, 0], [2, -1, 1]];
    const tau = [0.7, 1.2, 1];
    const L = [[1, 0, 0], [0.6, 0.8, 0], [0.28, -0.6, Math.sqrt(1 - 0.28 ** 2 - 0.6 ** 2)]];
    const draws = simulate('gmm_tied', { K: 2, N, D: 3 }, { w, mu, tau, L }, DRAWS, 9);
    const xs = draws.flatMap((d) => rows(d.data.x));
    const S = covFromScaleAndCorrFactor(tau, L);
    checkVectors('gmm_tied', xs, mvMixtureMoments(w, mu, [S, S]));
  });

  it('mix_linreg: per-observation mixture moments given the covariates', () => {
    const rng = new TestRng(10);
    const x = Array.from({ length: N }, () => [rng.normal(), 2 * rng.normal()]);
    const w = [0.4, 0.6];
    const alpha = [-1, 2];
    const coef = [[1, -0.5], [-2, 0.3]];
    const sigma = [0.5, 1];
    const draws = simulate('mix_linreg', { K: 2, x }, { w, alpha, coef, sigma }, DRAWS, 10);
    const ms = x.map((xn) => mixtureMoments(w, alpha.map((a, k) => normalMoments(a + dot(coef[k], xn), sigma[k]))));
    checkMoments('mix_linreg', draws.flatMap((d) => Array.from(d.data.y.values)), draws.flatMap(() => ms));
  });

  it('moe: per-observation mixture moments with softmax gate weights', () => {
    const rng = new TestRng(11);
    const u = Array.from({ length: N }, () => [rng.normal(), rng.normal()]);
    const W = [[1.5, -1], [-0.5, 1]];
    const alpha = [-1, 1];
    const coef = [[0.5, 1], [-1, 0.2]];
    const sigma = [0.4, 0.8];
    const draws = simulate('moe', { K: 2, u }, { W, alpha, coef, sigma }, DRAWS, 11);
    const ms = u.map((un) => mixtureMoments(softmax(W.map((Wk) => dot(Wk, un))), alpha.map((a, k) => normalMoments(a + dot(coef[k], un), sigma[k]))));
    checkMoments('moe', draws.flatMap((d) => Array.from(d.data.y.values)), draws.flatMap(() => ms));
  });

  it('poisson_hmm: per-step marginals propagated from pi through A', () => {
    const pi = [0.9, 0.1];
    const A = [[0.8, 0.2], [0.4, 0.6]];
    const lambda = [2, 9];
    const draws = simulate('poisson_hmm', { K: 2, T: 40 }, { pi, A, lambda }, 100, 12);
    checkHmm('poisson_hmm', draws.map((d) => Array.from(d.data.y.values)), pi, A, lambda.map(poissonMoments));
  });

  it('poisson_mix: mean and variance (overdispersion) of the mixture', () => {
    const w = [0.3, 0.45, 0.25];
    const lambda = [1, 5, 12];
    const draws = simulate('poisson_mix', { K: 3, N }, { w, lambda }, DRAWS, 13);
    checkMoments('poisson_mix', draws.flatMap((d) => Array.from(d.data.y.values)), mixtureMoments(w, lambda.map(poissonMoments)));
  });

  it('student_t_mix: mean and variance of the mixture', () => {
    // nu > 4 keeps the 4th moment finite (the variance statistic has a finite variance);
    // small nu and overlapping components make the t variance nu/(nu-2) sigma² matter.
    const w = [0.5, 0.5];
    const nu = [5, 8];
    const mu = [-1, 1];
    const sigma = [1.5, 1];
    const draws = simulate('student_t_mix', { K: 2, N }, { w, nu, mu, sigma }, DRAWS, 14);
    checkMoments('student_t_mix', draws.flatMap((d) => Array.from(d.data.y.values)), mixtureMoments(w, mu.map((m, k) => studentTMoments(nu[k], m, sigma[k]))));
  });

  describe('switching_lgssm', () => {
    const pi = [0.5, 0.5];
    const A = [[0.9, 0.1], [0.2, 0.8]];
    const a = [0.95, -0.5];
    const q = [0.3, 1.2];
    const r = 0.7;
    const T = 50;

    it('y[t] - x[t] is normal(0, r) given the states', () => {
      const rng = new TestRng(15);
      const x = Array.from({ length: T }, () => 3 * rng.normal());
      const draws = simulate('switching_lgssm', { K: 2, T }, { pi, A, a, q, r, x }, DRAWS, 15);
      const resid = draws.flatMap((d) => Array.from(d.data.y.values, (y, t) => y - x[t]));
      checkMoments('switching_lgssm y - x', resid, asMoments(normalMoments(0, r)));
    });

    it('given the regimes, the innovations x[t] - a[s[t]] x[t-1] are normal(0, q[s[t]])', () => {
      const rng = new TestRng(16);
      const s = Array.from({ length: T }, () => 1 + Math.floor(2 * rng.next()));
      const draws = simulate('switching_lgssm', { K: 2, T }, { pi, A, a, q, r, s }, DRAWS, 16);
      // Standardised: x[1] / 5 and (x[t] - a x[t-1]) / q are i.i.d. normal(0, 1).
      const z = draws.flatMap((d) => {
        const x = Array.from(d.params.x.values);
        return x.map((xt, t) => (t === 0 ? xt / 5 : (xt - a[s[t] - 1] * x[t - 1]) / q[s[t] - 1]));
      });
      checkMoments('switching_lgssm innovations', z, asMoments(normalMoments(0, 1)));
    });
  });
});
