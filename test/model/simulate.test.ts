// Ancestral simulation: determinism, shapes, sample moments against closed forms
// (within 4 standard errors at fixed seeds), and the errors users see.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from '../../src/parser';
import type { CheckResult } from '../../src/check';
import { check } from '../../src/check';
import { MixError } from '../../src/diagnostics/diagnostic';
import type { SimulateOptions } from '../../src/model/simulate';
import { simulate } from '../../src/model/simulate';
import type { DataInput, NdArray } from '../../src/model/data';

/** Returns the checked model, failing the test on any diagnostic. */
function model(text: string): CheckResult {
  const source = { name: 'test.mix', text };
  const parsed = parse(source);
  if (!parsed.program) throw new Error(parsed.diagnostics.map((d) => d.message).join('\n'));
  const checked = check(parsed.program, source);
  const all = [...parsed.diagnostics, ...checked.diagnostics];
  if (all.length) throw new Error(all.map((d) => `${d.code} ${d.message}`).join('\n'));
  return checked;
}

/** Returns the MixError `f` throws (fails when it does not throw one). */
function mixError(f: () => unknown): MixError {
  try {
    f();
  } catch (e) {
    if (e instanceof MixError) return e;
    throw e;
  }
  throw new Error('expected a MixError');
}

const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: ArrayLike<number>) => {
  const m = mean(xs);
  return Array.from(xs).reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
};

/** Asserts |sample mean - mu| < 4 standard errors, with sd the population sd. */
function expectMean(xs: ArrayLike<number>, mu: number, sd: number): void {
  const se = sd / Math.sqrt(xs.length);
  expect(Math.abs(mean(xs) - mu), `mean ${mean(xs)} vs ${mu} (se ${se})`).toBeLessThan(4 * se);
}

/** Asserts the sample variance is within 4 standard errors of v, given the 4th central moment m4. */
function expectVariance(xs: ArrayLike<number>, v: number, m4: number): void {
  const se = Math.sqrt((m4 - v * v) / xs.length);
  expect(Math.abs(variance(xs) - v), `variance ${variance(xs)} vs ${v} (se ${se})`).toBeLessThan(4 * se);
}

/** Asserts a sample proportion is within 4 standard errors of p. */
function expectProportion(hits: number, n: number, p: number): void {
  const se = Math.sqrt((p * (1 - p)) / n);
  expect(Math.abs(hits / n - p), `proportion ${hits / n} vs ${p} (se ${se})`).toBeLessThan(4 * se);
}

const run = (m: CheckResult, input: DataInput, opts: SimulateOptions = {}) => simulate(m, input, opts);
const vals = (a: NdArray) => Array.from(a.values);

describe('determinism and shapes', () => {
  const m = model(`
    model shapes {
      data K: int
      data x: real[N, D]
      data y: real[N]
      param w: simplex[K]
      param beta: real[D]
      param sigma: positive
      let s2 = sigma ^ 2
      w ~ dirichlet(rep(1.0, K))
      beta ~ normal(0, 1)
      sigma ~ half_normal(1)
      for n in 1..N {
        z[n] ~ categorical(w)
        y[n] ~ normal(dot(beta, x[n]) + z[n], sigma)
      }
    }`);
  const x = [[1, 0, 2], [0, 1, 1], [3, 1, 0], [1, 1, 1]];

  it('gives the same draws for the same seed and different ones for another', () => {
    const a = run(m, { K: 3, x }, { seed: 11, draws: 3 });
    const b = run(m, { K: 3, x }, { seed: 11, draws: 3 });
    const c = run(m, { K: 3, x }, { seed: 12, draws: 3 });
    expect(a).toEqual(b);
    expect(vals(c[0].data.y)).not.toEqual(vals(a[0].data.y));
    // Independent draws within one call differ from each other.
    expect(vals(a[1].params.beta)).not.toEqual(vals(a[0].params.beta));
  });

  it('returns every variable with its declared shape', () => {
    const [d] = run(m, { K: 3, x }, { seed: 1 });
    expect(d.params.w.shape).toEqual([3]);
    expect(d.params.beta.shape).toEqual([3]);
    expect(d.params.sigma.shape).toEqual([]);
    expect(d.latents.z.shape).toEqual([4]);
    expect(d.data.y.shape).toEqual([4]);
    expect(d.data.x.shape).toEqual([4, 3]);
    expect(d.data.K.values[0]).toBe(3);
    expect(d.lets.s2.values[0]).toBeCloseTo(d.params.sigma.values[0] ** 2, 14);
    expect(mean(d.params.w.values) * 3).toBeCloseTo(1, 14);
    for (const z of d.latents.z.values) expect([1, 2, 3]).toContain(z);
  });

  it('computes y from the drawn params and latents as the model says', () => {
    // With sigma fixed tiny, y[n] is dot(beta, x[n]) + z[n] up to 1e-9.
    const [d] = run(m, { K: 3, x }, { seed: 3, fixed: { sigma: 1e-12 } });
    const beta = vals(d.params.beta);
    x.forEach((row, n) => {
      const want = row.reduce((s, v, j) => s + v * beta[j], 0) + d.latents.z.values[n];
      expect(d.data.y.values[n]).toBeCloseTo(want, 9);
    });
    expect(d.params.sigma.values[0]).toBe(1e-12);
  });

  it('replaces a given observation and reads sizes off its shape', () => {
    const [d] = run(m, { K: 3, x, y: [0, 0, 0, 0] }, { seed: 1 });
    expect(vals(d.data.y)).not.toEqual([0, 0, 0, 0]);
  });
});

describe('matrix-valued params', () => {
  it('runs the language example: Cholesky factors, a declared latent, lets above their inputs', () => {
    const m = model(readFileSync(new URL('../golden/good/language-example.mix', import.meta.url), 'utf8'));
    const x = [[0, 1, 2], [1, 1, 1], [2, 0, 1], [0, 0, 0], [1, 2, 3]];
    const [d] = run(m, { K: 2, x, y: [1, 2, 1, 2, 1] }, { seed: 17 });
    expect(d.params.L.shape).toEqual([2, 3, 3]);
    expect(d.params.mu.shape).toEqual([2, 3]);
    expect(d.latents.z.shape).toEqual([5]);
    expect(d.data.x.shape).toEqual([5, 3]);
    expect(vals(d.data.x)).not.toEqual(x.flat());
    // Each L[k] is lower triangular with unit rows (the Cholesky factor of a correlation matrix).
    const L = vals(d.params.L);
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 3; i++) {
        let norm = 0;
        for (let j = 0; j < 3; j++) {
          const v = L[k * 9 + i * 3 + j];
          if (j > i) expect(v).toBe(0);
          norm += v * v;
        }
        expect(norm).toBeCloseTo(1, 12);
      }
    }
    vals(d.lets.s2).forEach((v, k) => expect(v).toBeCloseTo(d.params.sigma.values[k] ** 2, 14));
  });
});

describe('moments against closed forms', () => {
  it('normal with known mean and sd', () => {
    const m = model(`
      model nrm {
        data y: real[N]
        y ~ normal(3, 2)
      }`);
    const [d] = run(m, { N: 4000 }, { seed: 5 });
    expectMean(d.data.y.values, 3, 2);
    expectVariance(d.data.y.values, 4, 3 * 16);
  });

  it('a prior across draws: mu ~ normal(1, 0.5)', () => {
    const m = model(`
      model prior {
        data y: real[N]
        param mu: real
        mu ~ normal(1, 0.5)
        y ~ normal(mu, 1)
      }`);
    const ds = run(m, { N: 2 }, { seed: 9, draws: 2000 });
    const mus = ds.map((d) => d.params.mu.values[0]);
    expectMean(mus, 1, 0.5);
    expectVariance(mus, 0.25, 3 * 0.25 ** 2);
    // y[1] marginally: normal(1, sqrt(1.25)).
    expectMean(ds.map((d) => d.data.y.values[0]), 1, Math.sqrt(1.25));
  });

  it('a 2-component Gaussian mixture (mixture combinator, fixed params)', () => {
    const m = model(`
      model gm {
        data y: real[N]
        param w: simplex[2]
        param mu: real[2]
        param sigma: positive[2]
        w ~ dirichlet([1.0, 1.0])
        mu ~ normal(0, 10)
        sigma ~ half_normal(5)
        for n in 1..N {
          y[n] ~ mixture(w, k -> normal(mu[k], sigma[k]))
        }
      }`);
    const w = [0.3, 0.7], mu = [-2, 3], sd = [1, 0.5];
    const [d] = run(m, { N: 4000 }, { seed: 21, fixed: { w, mu, sigma: sd } });
    const mix = w.reduce((s, wk, k) => s + wk * mu[k], 0);
    const v = w.reduce((s, wk, k) => s + wk * (sd[k] ** 2 + mu[k] ** 2), 0) - mix ** 2;
    // 4th central moment: per component E(X - m)^4 = d^4 + 6 d^2 s^2 + 3 s^4 with d = mu_k - m.
    const m4 = w.reduce((s, wk, k) => {
      const dk = mu[k] - mix;
      return s + wk * (dk ** 4 + 6 * dk ** 2 * sd[k] ** 2 + 3 * sd[k] ** 4);
    }, 0);
    expectMean(d.data.y.values, mix, Math.sqrt(v));
    expectVariance(d.data.y.values, v, m4);
    // The components are far apart: the share below 0.5 estimates w[1].
    expectProportion(vals(d.data.y).filter((y) => y < 0.5).length, 4000, 0.3 * 0.99379 + 0.7 * 2.87e-7);
    expect(vals(d.params.w)).toEqual(w);
  });

  it('a Poisson mixture with an explicit latent: ints stay exact', () => {
    const m = model(`
      model pm {
        data y: int<lower=0>[N]
        param w: simplex[2]
        param lambda: positive_ordered[2]
        w ~ dirichlet([1.0, 1.0])
        lambda ~ gamma(2, 0.1)
        for n in 1..N {
          z[n] ~ categorical(w)
          y[n] ~ poisson(lambda[z[n]])
        }
      }`);
    const w = [0.4, 0.6], lam = [2, 10];
    const [d] = run(m, { N: 4000 }, { seed: 4, fixed: { w, lambda: lam } });
    const y = vals(d.data.y);
    for (const v of y) expect(Number.isInteger(v) && v >= 0).toBe(true);
    const mu = 0.4 * 2 + 0.6 * 10;
    const v = mu + (0.4 * 4 + 0.6 * 100 - mu * mu);
    expectMean(y, mu, Math.sqrt(v));
    const z = vals(d.latents.z);
    expectProportion(z.filter((k) => k === 1).length, 4000, 0.4);
    // Given z = 1 the counts are Poisson(2).
    const y1 = y.filter((_, i) => z[i] === 1);
    expectMean(y1, 2, Math.sqrt(2));
  });

  it('a 2-state HMM chain: empirical transition frequencies', () => {
    const m = model(`
      model hmm {
        data p0: real[2]
        data A: real[2, 2]
        data y: real[T]
        z[1] ~ categorical(p0)
        for t in 2..T {
          z[t] ~ categorical(A[z[t-1]])
        }
        for t in 1..T {
          y[t] ~ normal(z[t], 0.1)
        }
      }`);
    const A = [[0.9, 0.1], [0.2, 0.8]];
    const T = 6000;
    const [d] = run(m, { T, p0: [0.5, 0.5], A }, { seed: 8 });
    const z = vals(d.latents.z);
    expect(z.length).toBe(T);
    const counts = [[0, 0], [0, 0]];
    for (let t = 1; t < T; t++) counts[z[t - 1] - 1][z[t] - 1]++;
    for (let i = 0; i < 2; i++) {
      const ni = counts[i][0] + counts[i][1];
      expect(ni).toBeGreaterThan(500);
      expectProportion(counts[i][i], ni, A[i][i]);
    }
    // Stationary share of state 1: 0.2 / (0.1 + 0.2). Autocorrelation inflates the variance by
    // (1 + r) / (1 - r) with r = 0.7 the second eigenvalue of A.
    const se = Math.sqrt(((2 / 9) * (1.7 / 0.3)) / T);
    expect(Math.abs(z.filter((k) => k === 1).length / T - 2 / 3)).toBeLessThan(4 * se);
    expect(d.data.y.values[0]).toBeCloseTo(z[0], 0);
  });
});

describe('restricted params and combinators', () => {
  it('draws a bounded param inside its declared bounds (the truncated prior)', () => {
    const m = model(`
      model bounded {
        data K: int
        data y: real[N]
        param a: real<lower=-1, upper=1>[K]
        param s: positive
        a ~ normal(0, 2)
        s ~ normal(0, 1)
        y ~ normal(s, 1)
      }`);
    const ds = run(m, { N: 1, K: 5 }, { seed: 2, draws: 400 });
    for (const d of ds) {
      for (const a of d.params.a.values) expect(Math.abs(a)).toBeLessThanOrEqual(1);
      expect(d.params.s.values[0]).toBeGreaterThan(0);
    }
    // s ~ normal(0, 1) restricted to s > 0 is half-normal: mean sqrt(2/pi), variance 1 - 2/pi.
    expectMean(ds.map((d) => d.params.s.values[0]), Math.sqrt(2 / Math.PI), Math.sqrt(1 - 2 / Math.PI));
  });

  it('sorts exchangeable draws of an ordered param (order statistics)', () => {
    const m = model(`
      model ord {
        data y: real[N]
        param mu: ordered[3]
        mu ~ normal(0, 1)
        y ~ normal(mu[1], 1)
      }`);
    const ds = run(m, { N: 1 }, { seed: 6, draws: 1000 });
    for (const d of ds) {
      const [a, b, c] = vals(d.params.mu);
      expect(a < b && b < c).toBe(true);
    }
    // The minimum of 3 standard normals has mean -3 / (2 sqrt(pi)) and variance ~0.5595.
    expectMean(ds.map((d) => d.params.mu.values[0]), -3 / (2 * Math.sqrt(Math.PI)), Math.sqrt(0.5595));
  });

  it('truncated redraws into the interval; censored clamps', () => {
    const m = model(`
      model tc {
        data y: real[N]
        data u: real[N]
        for n in 1..N {
          y[n] ~ truncated(normal(0, 1), 0, 10)
          u[n] ~ censored(normal(0, 1), -0.5, 100)
        }
      }`);
    const [d] = run(m, { N: 3000 }, { seed: 13 });
    const y = vals(d.data.y);
    for (const v of y) expect(v).toBeGreaterThanOrEqual(0);
    expectMean(y, Math.sqrt(2 / Math.PI), Math.sqrt(1 - 2 / Math.PI));
    const u = vals(d.data.u);
    for (const v of u) expect(v).toBeGreaterThanOrEqual(-0.5);
    // P(X <= -0.5) = Phi(-0.5) = 0.308537538725987
    expectProportion(u.filter((v) => v === -0.5).length, 3000, 0.308537538725987);
  });

  it('lets may sit above the ~ of what they read (read when first used)', () => {
    const m = model(`
      model lets {
        data y: real[N]
        param mu: real[2]
        let m2 = mu * 2
        mu ~ normal(0, 1)
        for n in 1..N {
          let c = n % 2 + 1
          let m = m2[c]
          y[n] ~ normal(m, 1e-9)
        }
      }`);
    const [d] = run(m, { N: 4 }, { seed: 1 });
    expect(vals(d.lets.m2)).toEqual(vals(d.params.mu).map((v) => v * 2));
    const want = [2, 1, 2, 1].map((c) => d.lets.m2.values[c - 1]);
    vals(d.data.y).forEach((y, i) => expect(y).toBeCloseTo(want[i], 6));
  });

  it('keeps the given elements no ~ reaches (an autoregression\'s start)', () => {
    const m = model(`
      model ar {
        data y: real[T]
        for t in 2..T {
          y[t] ~ normal(y[t-1], 1e-9)
        }
      }`);
    const [d] = run(m, { y: [5, 0, 0, 0] }, { seed: 1 });
    expect(d.data.y.values[0]).toBe(5);
    for (const v of d.data.y.values) expect(v).toBeCloseTo(5, 6);
    const e = mixError(() => run(m, { T: 4 }));
    expect(e.diagnostics[0].message).toMatch(/missing data 'y\[1\]'/);
  });
});

describe('errors', () => {
  it('names a missing covariate', () => {
    const m = model(`
      model reg {
        data x: real[N]
        data y: real[N]
        y ~ normal(x, 1)
      }`);
    const e = mixError(() => run(m, { N: 3 }));
    expect(e.diagnostics[0].message).toBe("missing data 'x' (real[3])");
  });

  it('names a size that cannot be determined', () => {
    const m = model(`
      model s {
        data y: real[N]
        y ~ normal(0, 1)
      }`);
    const e = mixError(() => run(m, {}));
    expect(e.diagnostics[0].message).toMatch(/size 'N' cannot be determined/);
  });

  it('reports use before draw at the statement, with the line of the ~', () => {
    const m = model(`model late {
  data y: real[N]
  param mu: real
  y ~ normal(mu, 1)
  mu ~ normal(0, 1)
}`);
    const e = mixError(() => run(m, { N: 2 }));
    const d = e.diagnostics[0];
    expect(d.message).toBe("'mu' is used before its ~ statement at line 5; move its prior above");
    expect(d.span?.line).toBe(4);
  });

  it('reports an element of a chain read before it is drawn', () => {
    const m = model(`model back {
  data A: real[2, 2]
  data y: real[T]
  for t in 1..T {
    z[t] ~ categorical(A[z[T]])
  }
  y ~ normal(z, 1)
}`);
    const e = mixError(() => run(m, { T: 3, A: [[0.5, 0.5], [0.5, 0.5]] }));
    expect(e.diagnostics[0].message).toMatch(/'z\[3\]' is used before its ~ statement at line 5/);
    expect(e.diagnostics[0].span?.line).toBe(5);
  });

  it('rejects holding data fixed and a fixed value of the wrong shape', () => {
    const m = model(`
      model f {
        data y: real[N]
        param mu: real[2]
        mu ~ normal(0, 1)
        y ~ normal(mu[1], 1)
      }`);
    expect(mixError(() => run(m, { N: 1 }, { fixed: { y: [1] } })).diagnostics[0].message).toMatch(/only params and latents/);
    expect(mixError(() => run(m, { N: 1 }, { fixed: { mu: [1, 2, 3] } })).diagnostics[0].message).toMatch(/shape \[3\]/);
  });

  it('reports a truncation that never accepts', () => {
    const m = model(`
      model far {
        data y: real[N]
        y ~ truncated(normal(0, 1), 40, 41)
      }`);
    expect(mixError(() => run(m, { N: 1 })).diagnostics[0].message).toMatch(/no draw of normal\(0, 1\) fell inside \[40, 41\] in 10000 tries/);
  });
});
