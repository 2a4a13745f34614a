// The ordered two-component normal mixture of the slow-tier SBC of the exact Gibbs samplers
// (mcmc-gibbs-sbc.test.ts for slice + Gibbs, smc-gibbs-sbc.test.ts for data-annealing SMC).
export const MIXTURE = `
model mix2 {
  data N: int
  data y: real[N]
  param w: simplex[2]
  param mu: ordered[2]
  param sigma: positive[2]
  w ~ dirichlet(rep(3.0, 2))
  mu ~ normal(0, 3)
  sigma ~ half_normal(1)
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) }
}`;
