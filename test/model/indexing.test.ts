// Indexing by a constant after a loop variable or an enumerated latent (x[n, 2], mu[k, 1]):
// the log density against a hand-written float64 reference. `x[n, j]` with a constant j
// once failed inside the evaluator (a broadcast with a spare axis), and on wasm once read
// wrong values (tfjs-backend-wasm's gather with batchDims).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor';
import { compile } from '../../src';

beforeAll(async () => {
  await useBackend('cpu');
});

const lnorm = (y: number, m: number, s: number) => -0.5 * ((y - m) / s) ** 2 - Math.log(s) - 0.5 * Math.log(2 * Math.PI);
const lse = (a: number[]) => { const m = Math.max(...a); return m + Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0)); };

describe.each(['cpu', 'wasm'] as const)('constant indices after a loop or latent index (%s)', (backend) => {
  const N = 5;
  const x = Array.from({ length: N }, (_, n) => [n / 2, 1 + n, -n / 3]);
  const y3 = Array.from({ length: N }, (_, n) => [[n, n + 0.5, n - 1], [2 * n, 0.25 * n, 1.5]]);
  const w = [0.3, -1.2, 2.5, 0.8, -0.4];
  beforeAll(async () => {
    await useBackend(backend);
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  it('x[n, j] of a data matrix in a mean and in a scale', () => {
    const m = compile(`model m { data x: real[N, 3]  data w: real[N]  param a: real
      a ~ normal(0, 1)
      for n in 1..N { w[n] ~ normal(x[n, 1] + a * x[n, 3], 1 + x[n, 2]) } }`);
    const bm = m.bind({ x, w });
    const a = 0.7;
    const want = lnorm(a, 0, 1) + w.reduce((s, wi, n) => s + lnorm(wi, x[n][0] + a * x[n][2], 1 + x[n][1]), 0);
    expect(-bm.potential(Float64Array.of(a))).toBeCloseTo(want, 4);
  });

  it('y[n, 2, 3] of a 3-D data array and c[n, 2] of a parameter matrix', () => {
    const m = compile(`model m { data y: real[N, 2, 3]  data w: real[N]  param c: real[N, 2]
      for n in 1..N { c[n] ~ normal(0, 1)  w[n] ~ normal(y[n, 2, 3] * c[n, 2] + c[n, 1], 1) } }`);
    const bm = m.bind({ y: y3, w });
    const u = Float64Array.from({ length: 2 * N }, (_, i) => Math.sin(i + 1));
    let want = 0;
    for (let n = 0; n < N; n++) {
      const c0 = u[2 * n];
      const c1 = u[2 * n + 1];
      want += lnorm(c0, 0, 1) + lnorm(c1, 0, 1) + lnorm(w[n], y3[n][1][2] * c1 + c0, 1);
    }
    expect(-bm.potential(u)).toBeCloseTo(want, 4);
  });

  it('mu[k, 2] under an enumerated latent (a mixture over the second column of mu)', () => {
    const m = compile(`model m { data w: real[N]  param mu: real[2, 2]
      mu ~ normal(0, 3)
      for n in 1..N { w[n] ~ mixture(rep(0.5, 2), k -> normal(mu[k, 2], 1)) } }`);
    const bm = m.bind({ w });
    const u = Float64Array.of(0.1, -0.8, 0.4, 1.9); // mu row-major
    let want = [...u].reduce((s, v) => s + lnorm(v, 0, 3), 0);
    for (const wi of w) want += lse([Math.log(0.5) + lnorm(wi, u[1], 1), Math.log(0.5) + lnorm(wi, u[3], 1)]);
    expect(-bm.potential(u)).toBeCloseTo(want, 4);
  });
});
