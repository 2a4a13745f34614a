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
