// Property: every exact EM iteration leaves the log likelihood non-decreasing, for random
// models (closed-form and gradient M-steps, mixtures and a chain) and random data.
import { beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { useBackend, Key } from '../../src/tensor';
import { compile, em } from '../../src';

beforeAll(async () => {
  await useBackend('cpu');
});

type Family = 'normal-diag' | 'mvnormal-full' | 'poisson' | 'bernoulli' | 'ordered-normal' | 'gaussian-hmm';

const MODELS: Record<Family, string> = {
  'normal-diag': `model m { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param s: positive[K, D]
    for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], s[k])) } }`,
  'mvnormal-full': `model m { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
    for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`,
  poisson: `model m { data K: int  data x: int<lower=0>[N, D]  param w: simplex[K]  param lam: positive[K, D]
    for n in 1..N { x[n] ~ mixture(w, k -> poisson(lam[k])) } }`,
  bernoulli: `model m { data K: int  data x: int<lower=0, upper=1>[N, D]  param w: simplex[K]  param th: unit[K, D]
    for n in 1..N { x[n] ~ mixture(w, k -> bernoulli(th[k])) } }`,
  // Ordered means cannot take the closed form: this exercises the gradient (GEM) M-step.
  'ordered-normal': `model m { data K: int  data y: real[N]  param w: simplex[K]  param mu: ordered[K]  param s: positive[K]
    for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], s[k])) } }`,
  'gaussian-hmm': `model m { data K: int  data y: real[N]  param p0: simplex[K]  param A: simplex[K, K]  param mu: real[K]  param s: positive[K]
    z[1] ~ categorical(p0)
    for t in 2..N { z[t] ~ categorical(A[z[t-1]]) }
    for t in 1..N { y[t] ~ normal(mu[z[t]], s[z[t]]) } }`,
};

/** Random data for a family: a few random clusters (seeded). */
function data(family: Family, K: number, D: number, N: number, seed: number): Record<string, unknown> {
  const rng = Key.seed(seed).rng();
  const centres = Array.from({ length: K }, () => Array.from({ length: D }, () => rng.normal() * 3));
  const rows = Array.from({ length: N }, () => centres[rng.uniformInt(K)]);
  switch (family) {
    case 'poisson': return { K, x: rows.map((c) => c.map((m) => rng.poisson(Math.exp(m / 3) * 2))) };
    case 'bernoulli': return { K, x: rows.map((c) => c.map((m) => (rng.uniform() < 1 / (1 + Math.exp(-m)) ? 1 : 0))) };
    case 'ordered-normal':
    case 'gaussian-hmm': return { K, y: rows.map((c) => c[0] + rng.normal()) };
    default: return { K, x: rows.map((c) => c.map((m) => m + rng.normal())) };
  }
}

describe('EM is monotone', () => {
  it('on random models and data', () => {
    fc.assert(fc.property(
      fc.constantFrom<Family>('normal-diag', 'mvnormal-full', 'poisson', 'bernoulli', 'ordered-normal', 'gaussian-hmm'),
      fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 1e6 }),
      (family, K, D, seed) => {
        const bm = compile(MODELS[family]).bind(data(family, K, D, 40, seed) as never);
        // Exact EM (regCovar 0): with a covariance floor the update is a perturbed argmax of Q,
        // and a collapsing component turns that perturbation into a real decrease.
        const r = em(bm, { seed, maxIter: 8, tol: 0, regCovar: 0 });
        // A re-seed of a collapsed component (reseed.ts) is not an EM step: the sequence restarts after it.
        const across = new Set(r.reseeds.map((e) => e.traceIndex + 1));
        for (let i = 1; i < r.trace.length; i++) {
          if (across.has(i)) continue;
          // float32 evaluation of a sum over 40 points: rounding of 1e-5 relative (plus a floor).
          const slack = 1e-5 * Math.abs(r.trace[i - 1]) + 1e-4;
          if (!(r.trace[i] >= r.trace[i - 1] - slack)) {
            throw new Error(`${family} K=${K} D=${D} seed=${seed}: log likelihood fell from ${r.trace[i - 1]} to ${r.trace[i]} at iteration ${i}`);
          }
        }
        bm.dispose();
      }), { numRuns: 24, seed: 42 });
  });
});
