// Conjugate models shared by the inference families' tests: each has a closed-form
// posterior (and evidence) in src/testing/exact.ts or in the tests that use it.
import { Key } from '../../src/tensor/random';

/** mu ~ normal(1, 2), y[n] ~ normal(mu, 1.5): normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5 }). */
export const NORMAL_MEAN = `
model normal_mean {
  data y: real[N]
  param mu: real
  mu ~ normal(1, 2)
  for n in 1..N { y[n] ~ normal(mu, 1.5) }
}`;

/** log N(y; m1, σ²I + τ²11ᵀ): the evidence of y_i ~ N(μ, σ²), μ ~ N(m, τ²) (NORMAL_MEAN: m 1, τ 2, σ 1.5). */
export function normalEvidence(ys: readonly number[], m: number, tau: number, sigma: number): number {
  const n = ys.length;
  const s2 = sigma * sigma;
  const t2 = tau * tau;
  const r = ys.map((v) => v - m);
  const sr = r.reduce((a, b) => a + b, 0);
  const sr2 = r.reduce((a, b) => a + b * b, 0);
  const logdet = (n - 1) * Math.log(s2) + Math.log(s2 + n * t2);
  const q = (sr2 - (t2 * sr * sr) / (s2 + n * t2)) / s2;
  return -0.5 * n * Math.log(2 * Math.PI) - 0.5 * logdet - 0.5 * q;
}

/** lambda ~ gamma(2, 1), y ~ poisson(lambda): poissonGamma({ shape: 2, rate: 1 }). */
export const POISSON_GAMMA = `
model rates {
  data y: int[N]
  param lambda: positive
  lambda ~ gamma(2, 1)
  y ~ poisson(lambda)
}`;

/** theta ~ dirichlet([1.5, 2.0, 0.8]), y[n] ~ categorical(theta): dirichletCategorical. */
export const DIRICHLET_CATEGORICAL = `
model dice {
  data y: int[N]
  param theta: simplex[3]
  theta ~ dirichlet([1.5, 2.0, 0.8])
  for n in 1..N { y[n] ~ categorical(theta) }
}`;

/**
 * y[n] ~ normal(a + b x[n], 0.5), a, b ~ normal(0, 2): a Gaussian posterior with correlated
 * (a, b) and evidence y ~ N(0, σ²I + 4 X Xᵀ), X = [1, x] (the SMC tests compute both).
 */
export const REGRESSION_LINE = `
model line {
  data x: real[N]
  data y: real[N]
  param a: real
  param b: real
  a ~ normal(0, 2)
  b ~ normal(0, 2)
  for n in 1..N { y[n] ~ normal(a + b * x[n], 0.5) }
}`;

/** Ten rows for REGRESSION_LINE drawn with a = 0.7, b = 1.3 (seed 11). */
export const REGRESSION_DATA = (() => {
  const x = [0.5, 1.2, 2.0, 2.7, 3.1, 3.9, 4.4, 5.2, 6.0, 6.8];
  const rng = Key.seed(11).rng();
  return { x, y: x.map((v) => 0.7 + 1.3 * v + rng.normal(0, 0.5)) };
})();

/** log N(y; 0, σ²I + τ² X Xᵀ) by a Cholesky factorisation. */
export function regressionEvidence(x: number[], y: number[], tau: number, sigma: number): number {
  const n = x.length;
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) c[i * n + j] = tau * tau * (1 + x[i] * x[j]) + (i === j ? sigma * sigma : 0);
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = c[j * n + j];
    for (let k = 0; k < j; k++) s -= L[j * n + k] ** 2;
    L[j * n + j] = Math.sqrt(s);
    for (let i = j + 1; i < n; i++) {
      let t = c[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / L[j * n + j];
    }
  }
  const z = new Float64Array(n);
  let logdet = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    let t = y[i];
    for (let k = 0; k < i; k++) t -= L[i * n + k] * z[k];
    z[i] = t / L[i * n + i];
    q += z[i] * z[i];
    logdet += 2 * Math.log(L[i * n + i]);
  }
  return -0.5 * n * Math.log(2 * Math.PI) - 0.5 * logdet - 0.5 * q;
}

/** A hierarchical normal model: theta[n] is a local parameter of data row y[n] (closed-form posteriors given mu). */
export const HIER = `
model hier {
  data y: real[N]
  param mu: real
  param theta: real[N]
  mu ~ normal(0, 10)
  theta ~ normal(mu, 1)
  y ~ normal(theta, 0.5)
}`;

// Two groups of local parameters: b, c with the N rows of w (subsampled in minibatch tests), e
// with the M rows of v (shared data, kept whole); a global a in both (the amortised-VI tests).
export const TWO_GROUPS = `
model two_groups {
  data w: real[N]
  data v: real[M]
  param a: real
  param b: real[N]
  param c: positive[N]
  param e: real[M]
  a ~ normal(0, 1)
  b ~ normal(a, 1)
  c ~ gamma(2, 2)
  w ~ normal(b, c)
  e ~ normal(a, 1)
  v ~ normal(e, 1)
}`;

/**
 * The z-score of the mean of independent runs' log Z estimates against the exact value, by
 * their spread (a floor of 0.01 nat on the SE so that near-deterministic runs cannot make a
 * test flaky): the SMC tests' unbiasedness check.
 */
export function logZScore(logZs: readonly number[], exact: number): number {
  const R = logZs.length;
  const m = logZs.reduce((a, b) => a + b, 0) / R;
  const sd = Math.sqrt(logZs.reduce((a, b) => a + (b - m) ** 2, 0) / (R - 1));
  return (m - exact) / Math.max(sd / Math.sqrt(R), 0.01);
}
