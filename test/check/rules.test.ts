import { describe, expect, it } from 'vitest';
import { checkText, problems } from './helpers';

const codes = (text: string) => checkText(text).diagnostics.map((d) => d.code);

describe('support of ~ against declared types', () => {
  it('allows a real-support family on a constrained param (normal on a simplex)', () => {
    expect(problems('model m { param w: simplex[3]  w ~ normal(0.3, 1) }')).toEqual([]);
  });

  it('accepts positive families on params whose lower bound is at least 0, and rejects others', () => {
    expect(problems('model m { param s: real<lower=0>  s ~ half_normal(1) }')).toEqual([]);
    expect(problems('model m { param s: real<lower=2>  s ~ gamma(2, 1) }')).toEqual([]);
    expect(problems('model m { param s: unit  s ~ exponential(1) }')).toEqual([]);
    expect(problems('model m { data lo: real  param s: real<lower=lo>  s ~ exponential(1) }')).toEqual([]);
    expect(codes('model m { param s: real<lower=-1>  s ~ exponential(1) }')).toEqual(['E0354']);
  });

  it('requires the exact matrix constraint for matrix families, with the matching help', () => {
    const { diagnostics } = checkText('model m { param L: real[3, 3]  L ~ lkj_corr_cholesky(2) }');
    expect(diagnostics.map((d) => [d.code, d.help])).toEqual([['E0354', 'declare it as cholesky_corr[3]']]);
  });

  it('accepts int families on int data, and continuous families on int data', () => {
    expect(problems('model m { data y: int[N]  param l: positive  l ~ gamma(1, 1)  y ~ poisson(l) }')).toEqual([]);
    expect(problems('model m { data y: int[N]  param mu: real  mu ~ normal(0, 1)  y ~ normal(mu, 1) }')).toEqual([]);
  });

  it('accepts declared latents with finite discrete families and rejects infinite ones', () => {
    expect(problems('model m { param p: unit  latent b: int[3]  p ~ beta(1, 1)  for i in 1..3 { b[i] ~ bernoulli(p) } }')).toEqual([]);
    expect(codes('model m { latent c: int  c ~ poisson(3) }')).toEqual(['E0354']);
  });

  it('suggests the nearest param when an undeclared name gets a continuous distribution', () => {
    const d = checkText('model m { param sigma: positive  sigma ~ half_normal(1)  sigmaa ~ half_normal(1) }').diagnostics;
    expect(d.map((x) => [x.code, x.help])).toEqual([['E0355', "did you mean 'sigma'?"]]);
  });
});

describe('distribution arguments', () => {
  it('requires int arguments where the family takes ints', () => {
    expect(codes('model m { data y: int[N]  param p: unit  p ~ beta(1, 1)  y ~ binomial(10.5, p) }')).toEqual(['E0352']);
    expect(problems('model m { data y: int[N]  data n: int[N]  param p: unit  p ~ beta(1, 1)  y ~ binomial(n, p) }')).toEqual([]);
  });

  it('requires vector arguments for vector parameters and a vector value for vector families', () => {
    expect(codes('model m { data x: real[N, 2]  x ~ mvnormal(0, diag_matrix(ones(2))) }')).toEqual(['E0352']);
    expect(codes('model m { param w: simplex[3]  w[1] ~ dirichlet(rep(1.0, 3)) }')).toEqual(['E0364']);
  });

  it('rejects constant event sizes that differ between an argument and the value', () => {
    expect(codes('model m { data x: real[N, 2]  for n in 1..N { x[n] ~ mvnormal(zeros(3), diag_matrix(ones(2))) } }')).toEqual(['E0304']);
  });

  it('lets arguments broadcast over the value, and rejects arguments with more axes', () => {
    expect(problems('model m { data y: real[N, 3]  param mu: real[3]  mu ~ normal(0, 1)  y ~ normal(mu, 1) }')).toEqual([]);
    expect(codes('model m { data y: real[N]  param mu: real[2, 3]  mu ~ normal(0, 1)  y ~ normal(mu, 1) }')).toEqual(['E0353']);
  });
});

describe('combinators', () => {
  it('accepts mixture with a component lambda, and censored/truncated of a continuous family', () => {
    expect(problems(`model m {
      data y: real[N]
      param w: simplex[2]
      param mu: ordered[2]
      w ~ dirichlet(rep(1.0, 2))
      mu ~ normal(0, 5)
      for n in 1..N {
        y[n] ~ mixture(w, k -> truncated(normal(mu[k], 1), -10, 10))
      }
    }`)).toEqual([]);
  });

  it('rejects scalar weights, a non-lambda component, and a lambda parameter used outside its body', () => {
    expect(codes('model m { data y: real[N]  param mu: real  mu ~ normal(0, 1)  y ~ mixture(0.5, k -> normal(mu, 1)) }')).toEqual(['E0359']);
    expect(codes('model m { data y: real[N]  param w: simplex[2]  param mu: real  mu ~ normal(0, 1)  y ~ mixture(w, normal(mu, 1)) }')).toEqual(['E0359']);
    expect(codes('model m { data y: real[N]  param w: simplex[2]  param mu: real[2]  mu ~ normal(0, 1)  y ~ mixture(w, k -> normal(mu[k], 1))  target += k }')).toEqual(['E0202']);
  });
});

describe('scopes', () => {
  it('keeps local lets and loop variables inside their loop, and allows the same names in sibling loops', () => {
    expect(problems('model m { data y: real[N]  for n in 1..N { let e = y[n]  target += e }  for n in 1..N { let e = 2 * y[n]  target += e } }')).toEqual([]);
    expect(codes('model m { data y: real[N]  for n in 1..N { let e = y[n] }  target += e }')).toEqual(['E0202']);
  });

  it('reports a loop variable that reuses a top-level name, and a local let used before it is defined', () => {
    expect(codes('model m { data y: real[N]  param n: real  n ~ normal(0, 1)  for n in 1..N { target += y[n] } }')).toEqual(['E0205']);
    expect(codes('model m { data y: real[N]  for n in 1..N { target += e  let e = y[n] } }')).toEqual(['E0206']);
  });

  it('reports a param used in a bound, and a latent or let used in a loop range', () => {
    expect(codes('model m { param a: real  param b: real<lower=a>  a ~ normal(0, 1)  b ~ normal(0, 1) }')).toEqual(['E0334']);
    expect(codes('model m { data y: real[N]  let M = 3  for n in 1..M { target += y[n] } }')).toEqual(['E0334']);
  });
});

describe('diagnostics', () => {
  it('collects every error in one pass, in source order', () => {
    const d = checkText(`model m {
      data y: real[N]
      param mu: real
      mu ~ nromal(0, 1)
      y ~ normal(muu, 1)
      target += exq(mu)
      let b = (mu > 0) + 1
    }`).diagnostics;
    expect(d.map((x) => x.code)).toEqual(['E0201', 'E0202', 'E0203', 'E0302']);
    expect(d.map((x) => x.span!.line)).toEqual([4, 5, 6, 7]);
  });

  it('gives a did-you-mean for typos of variables, functions, distributions and types', () => {
    const d = checkText(`model m {
      data y: real[N]
      param sigma: postive
      sigma ~ half_normall(1)
      y ~ normal(0, sigm)
      target += sqr(sigma)
    }`).diagnostics;
    expect(d.map((x) => x.help)).toEqual(["did you mean 'positive'?", "did you mean 'half_normal'?", "did you mean 'sigma'?", "did you mean 'sqrt'?"]);
  });
});
