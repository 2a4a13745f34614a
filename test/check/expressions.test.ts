import { describe, expect, it } from 'vitest';
import { checkClean, checkText, forEachExpr, problems, symTy } from './helpers';
import { tyToString } from '../../src/check/types';

/** Returns the types of top-level lets `name = expr` added to a model with the given declarations. */
function letTypes(decls: string, lets: Record<string, string>): Record<string, string> {
  const body = Object.entries(lets).map(([n, e]) => `  let ${n} = ${e}`).join('\n');
  const r = checkClean(`model m {\n${decls}\n${body}\n}`);
  return Object.fromEntries(Object.keys(lets).map((n) => [n, symTy(r, n)]));
}

const DECLS = `
  data K: int
  data D: int
  data x: real[N, D]
  data cat: int[N]
  param v: real[K]
  param W: real[K, D]
  param tau: positive[D]
  param L: cholesky_corr[D]
  param S: cov_matrix[D]
  param LK: cholesky_corr[K, D]
  v ~ normal(0, 1)
  W ~ normal(0, 1)
  tau ~ half_normal(1)
  L ~ lkj_corr_cholesky(2)
  LK ~ lkj_corr_cholesky(2)
  S ~ wishart(D + 1, diag_matrix(ones(D)))
`;

describe('expression types', () => {
  it('gives literals and arithmetic int or real, with int / int real', () => {
    expect(letTypes(DECLS, {
      a: '1 + 2 * 3', b: '1 / 2', c: '2 ^ 2', d: '1.0 + 1', e: '7 % 3', f: '-K', g: 'K - 1',
    })).toEqual({ a: 'int', b: 'real', c: 'real', d: 'real', e: 'int', f: 'int', g: 'int' });
  });

  it('broadcasts shapes from the right and keeps size names', () => {
    expect(letTypes(DECLS, {
      a: 'x + 1', b: 'x * tau', c: 'v[1] * x', d: 'W + v[1]', e: 'x - x[1]',
    })).toEqual({ a: 'real[N, D]', b: 'real[N, D]', c: 'real[N, D]', d: 'real[K, D]', e: 'real[N, D]' });
  });

  it('indexes drop axes; int array indices replace them', () => {
    expect(letTypes(DECLS, {
      a: 'x[1]', b: 'x[1, 2]', c: 'x[1][2]', d: 'W[cat]', e: 'LK[1]', f: 'LK[1, 2]', g: 'S[1, 1]',
    })).toEqual({ a: 'real[D]', b: 'real', c: 'real', d: 'real[N, D]', e: 'real[D, D]', f: 'real[D]', g: 'real' });
  });

  it('types comparisons, logic and the ternary', () => {
    expect(letTypes(DECLS, {
      a: 'x > 0', b: 'K == 3 && D != 2', c: '!(K < 2)', d: 'x > 0 ? 1 : 0', e: 'K > 2 ? 1 : 0.5', f: 'x > 0 ? x : 0',
    })).toEqual({ a: 'bool[N, D]', b: 'bool', c: 'bool', d: 'int[N, D]', e: 'real', f: 'real[N, D]' });
  });

  it('types the built-in functions by their table rules', () => {
    expect(letTypes(DECLS, {
      a: 'exp(x)', b: 'log1p(cat)', c: 'sum(x)', d: 'sum(cat)', e: 'mean(cat)', f: 'softmax(v)', g: 'cumsum(cat)',
      h: 'dot(W, tau)', i: 'dot(x[1], tau)', j: 'transpose(W)', k: 'diag_matrix(tau)', l: 'diagonal(S)',
      m: 'diag_pre_multiply(tau, L)', n: 'diag_post_multiply(L, tau)', o: 'tcrossprod(W)', p: 'crossprod(W)',
      q: 'rep(0, K, 3)', r: 'ones(K)', s: 'zeros(2, D)', t: 'pow(x, 2)', u: 'max(K, 3)', w: 'log_add_exp(v, 0)',
      y: 'diag_pre_multiply(tau, LK)', z: 'log_sum_exp(W)',
    })).toEqual({
      a: 'real[N, D]', b: 'real[N]', c: 'real', d: 'int', e: 'real', f: 'real[K]', g: 'int[N]',
      h: 'real[K]', i: 'real', j: 'real[D, K]', k: 'real[D, D]', l: 'real[D]',
      m: 'real[D, D]', n: 'real[D, D]', o: 'real[K, K]', p: 'real[D, D]',
      q: 'int[K, 3]', r: 'real[K]', s: 'real[2, D]', t: 'real[N, D]', u: 'int', w: 'real[K]',
      y: 'real[K, D, D]', z: 'real',
    });
  });

  it('types the matrix product: matrix @ matrix and matrix @ vector, with batch axes', () => {
    expect(letTypes(DECLS, { a: 'W @ tau', b: 'W @ transpose(W)', c: 'x @ tau', d: 'LK @ tau', e: 'LK @ L' }))
      .toEqual({ a: 'real[K]', b: 'real[K, K]', c: 'real[N]', d: 'real[K, D]', e: 'real[K, D, D]' });
  });

  it('types vector literals, promoting ints', () => {
    expect(letTypes(DECLS, { a: '[1, 2, 3]', b: '[1, 2.5]', c: '[tau, tau]', d: '[[1, 2], [3, 4]]' }))
      .toEqual({ a: 'int[3]', b: 'real[2]', c: 'real[2, D]', d: 'int[2, 2]' });
  });

  it('fills ty on every expression of a model that checks', () => {
    const r = checkClean(`model m {
      data K: int
      data y: real[N]
      param w: simplex[K]
      param mu: real[K]
      param s: real<lower=0, upper=K>
      let m2 = mu * 2
      w ~ dirichlet(rep(1.0, K))
      mu ~ normal(0, 10)
      s ~ uniform(0, K)
      for n in 1..N {
        let e = y[n] - 1
        y[n] ~ mixture(w, k -> normal(m2[k] + e * 0, s + 1))
      }
      target += -0.5 * sum(square(mu))
    }`);
    let count = 0;
    forEachExpr(r.program.body, (e) => {
      count++;
      expect(e.ty, `expression of kind ${e.kind} has no type`).toBeDefined();
    });
    expect(count).toBeGreaterThan(30);
  });

  it('sets a distribution call to the type of the value it is over', () => {
    const r = checkClean('model m { data y: real[N]  param mu: real[3]  mu ~ normal(0, 1)  y ~ normal(mu[1], 1) }');
    const tilde = r.program.body.filter((s) => s.kind === 'Tilde');
    expect(tyToString(tilde[0].dist.ty!)).toBe('real[3]');
    expect(tyToString(tilde[1].dist.ty!)).toBe('real[N]');
  });

  it('never clashes two different size names (checked later, with the data)', () => {
    expect(problems('model m { data a: real[N]  data b: real[M]  let s = a + b }')).toEqual([]);
    expect(letTypes('data a: real[N]\n data b: real[M]', { s: 'a + b' }).s).toBe('real[?]');
  });

  it('reports a constant shape mismatch in an operator and in a function', () => {
    const p = problems('model m { let a = [1, 2, 3] + [1, 2]  let b = pow([1.0, 2.0], [1, 2, 3]) }');
    expect(p).toEqual([
      'E0304 shape mismatch: int[3] + int[2] (3 vs 2)',
      "E0304 shape mismatch: 'pow' of real[2] and int[3] (2 vs 3)",
    ]);
  });

  it('reports an error in a nested expression once, without cascading', () => {
    const { diagnostics } = checkText('model m { data y: real[N]  let a = exp(log(sum(y + undefinedName)) * 2) + 1 }');
    expect(diagnostics.map((d) => d.code)).toEqual(['E0202']);
  });
});
