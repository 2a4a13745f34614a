import { describe, expect, it } from 'vitest';
import { checkClean, checkText, symTy } from './helpers';

describe('sizes', () => {
  it('reads undeclared dims of data declarations off the data, recording data name and axis', () => {
    const r = checkClean('model m { data x: real[N, D]  data y: int[N]  param mu: real[D]  mu ~ normal(0, 1) }');
    expect(r.sizes).toEqual([
      { name: 'N', from: [{ data: 'x', axis: 0 }, { data: 'y', axis: 0 }], declared: false },
      { name: 'D', from: [{ data: 'x', axis: 1 }], declared: false },
    ]);
    expect(r.symbols.get('N')).toMatchObject({ role: 'size', implicit: true });
    expect(symTy(r, 'N')).toBe('int');
  });

  it('marks a data int used as a dim as a declared size, also when used only in param dims', () => {
    const r = checkClean('model m { data K: int  data J: int  data y: real[K]  param w: simplex[J]  w ~ dirichlet(rep(1.0, J)) }');
    expect(r.sizes).toEqual([
      { name: 'K', from: [{ data: 'y', axis: 0 }], declared: true },
      { name: 'J', from: [], declared: true },
    ]);
    expect(r.symbols.get('K')).toMatchObject({ role: 'data' });
  });

  it('counts axes of matrix types with their extra trailing dim', () => {
    const r = checkClean('model m { data S: cov_matrix[G, D]  data v: real[D] }');
    expect(symTy(r, 'S')).toBe('real[G, D, D]');
    expect(r.sizes.map((s) => [s.name, s.from])).toEqual([
      ['G', [{ data: 'S', axis: 0 }]],
      ['D', [{ data: 'S', axis: 1 }, { data: 'v', axis: 0 }]],
    ]);
  });

  it('does not make a size of a data int never used as a dim', () => {
    const r = checkClean('model m { data K: int  data y: real[N] }');
    expect(r.sizes.map((s) => s.name)).toEqual(['N']);
  });
});

describe('implicit latents', () => {
  it('infers the shape from the loop range of the index', () => {
    const r = checkClean(`model m {
      data K: int
      data y: real[N]
      param w: simplex[K]
      param mu: real[K]
      w ~ dirichlet(rep(1.0, K))
      mu ~ normal(0, 1)
      for n in 1..N { z[n] ~ categorical(w)  y[n] ~ normal(mu[z[n]], 1) }
    }`);
    expect(r.symbols.get('z')).toMatchObject({ role: 'latent', implicit: true, support: { dist: 'categorical' } });
    expect(symTy(r, 'z')).toBe('int[N]');
  });

  it('takes the largest bound over all ~ of a chain: z[1] and z[t] for t in 2..T give int[T]', () => {
    const r = checkClean(`model m {
      data K: int
      data y: real[T]
      param p0: simplex[K]
      param A: simplex[K, K]
      p0 ~ dirichlet(rep(1.0, K))
      A ~ dirichlet(rep(1.0, K))
      z[1] ~ categorical(p0)
      for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
      for t in 1..T { y[t] ~ normal(z[t], 1) }
    }`);
    expect(symTy(r, 'z')).toBe('int[T]');
  });

  it('infers several axes from nested loops and constants', () => {
    const r = checkClean(`model m {
      data y: real[I, J]
      param p: simplex[2]
      p ~ dirichlet(rep(1.0, 2))
      for i in 1..I { for j in 1..J { c[i, j] ~ categorical(p)  y[i, j] ~ normal(c[i, j], 1) } }
      q[1] ~ bernoulli(0.5)
      q[3] ~ bernoulli(0.5)
      b ~ bernoulli(0.2)
    }`);
    expect(symTy(r, 'c')).toBe('int[I, J]');
    expect(symTy(r, 'q')).toBe('int[3]');
    expect(symTy(r, 'b')).toBe('int');
  });

  it('reports an implicit latent indexed with different numbers of indices', () => {
    const { diagnostics } = checkText('model m { param p: unit  p ~ beta(1, 1)  for i in 1..3 { z[i] ~ bernoulli(p)  z[i, 1] ~ bernoulli(p) } }');
    expect(diagnostics.map((d) => d.code)).toContain('E0363');
  });
});

describe('symbol table', () => {
  it('holds every top-level name with role, type, constraint and declaration', () => {
    const r = checkClean(`model m {
      data K: int<lower=1>
      data y: real[N]
      param w: simplex[K]
      param s: real<lower=0>
      param b: real<lower=-1, upper=1>[K]
      param sd: positive[K]
      latent z: int<lower=1, upper=K>[N]
      let twice = 2 * s
      w ~ dirichlet(rep(1.0, K))
      s ~ half_normal(1)
      b ~ normal(0, 1)
      sd ~ half_normal(1)
      for n in 1..N {
        let m = b[z[n]]
        z[n] ~ categorical(w)
        y[n] ~ normal(m, sd[z[n]])
      }
    }`);
    expect([...r.symbols.keys()].sort()).toEqual(['K', 'N', 'b', 's', 'sd', 'twice', 'w', 'y', 'z']);
    const roles = Object.fromEntries([...r.symbols.values()].map((s) => [s.name, s.role]));
    expect(roles).toEqual({ K: 'data', y: 'data', N: 'size', w: 'param', s: 'param', b: 'param', sd: 'param', z: 'latent', twice: 'let' });
    expect(r.symbols.get('w')!.constraint).toEqual({ name: 'simplex' });
    expect(r.symbols.get('s')!.constraint?.name).toBe('lower');
    expect(r.symbols.get('b')!.constraint?.name).toBe('interval');
    expect(r.symbols.get('sd')!.constraint).toEqual({ name: 'positive' });
    expect(r.symbols.get('K')!.constraint?.name).toBe('int');
    expect(r.symbols.get('z')).toMatchObject({ support: { dist: 'categorical' } });
    expect(r.symbols.get('z')!.implicit).toBeFalsy();
    expect(r.symbols.get('z')!.decl?.kind).toBe('Decl');
    expect(symTy(r, 'z')).toBe('int[N]');
    expect(symTy(r, 'twice')).toBe('real');
    expect(symTy(r, 'b')).toBe('real[K]');
    expect(r.symbols.get('y')!.span?.line).toBe(3);
  });

  it('keeps loop variables and local lets out of the symbol table', () => {
    const r = checkClean('model m { data y: real[N]  for n in 1..N { let e = y[n]  target += -e * e } }');
    expect([...r.symbols.keys()].sort()).toEqual(['N', 'y']);
  });
});
