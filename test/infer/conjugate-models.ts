// Conjugate models shared by the inference families' tests: each has a closed-form
// posterior (and evidence) in src/testing/exact.ts.

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
