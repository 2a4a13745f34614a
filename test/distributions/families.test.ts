/**
 * Targeted distribution checks that the table-driven registry test does not cover: the LKJ
 * normalising constant against independent closed forms, tail accuracy of log densities and
 * log CDFs, gradients at awkward points, batched matrix parameters, and the wasm backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Key, lgammaF64, tf, useBackend } from '../../src/tensor';
import type { Tensor } from '../../src/tensor';
import { DISTRIBUTIONS, getDistribution } from '../../src/distributions/registry';
import type { DistributionDef, JsValue } from '../../src/distributions/types';
import { CASES } from './cases';
import { chol, lbetaRef, logNormalCdf, matmul, transpose } from './f64';

beforeAll(async () => {
  await useBackend('cpu');
});

function dist(name: string): DistributionDef {
  const d = getDistribution(name);
  if (!d) throw new Error(`no distribution ${name}`);
  return d;
}

/** Returns the log density at one value and one parameter set, as a number. */
function lp(name: string, x: JsValue, ...p: JsValue[]): number {
  return tf.tidy(() => dist(name).logProb(tf.tensor(x as number), ...p.map((q) => tf.tensor(q as number))).dataSync()[0]);
}

/** Returns d logProb / d(each input) at one point. */
function grads(name: string, x: number, ...p: number[]): number[] {
  return tf.tidy(() => {
    const g = tf.grads((...a: Tensor[]) => dist(name).logProb(a[0], ...a.slice(1)))([x, ...p].map((v) => tf.scalar(v)));
    return g.map((t) => t.dataSync()[0]);
  });
}

function near(a: number, b: number, rel = 1e-5, abs = 1e-4): void {
  expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(rel * Math.abs(b) + abs);
}

describe('lkj_corr_cholesky normalising constant', () => {
  it('D = 2: the correlation r has density Beta((r + 1)/2 | eta, eta)/2', () => {
    for (const eta of [0.5, 1, 2, 7.5]) {
      for (const r of [-0.9, -0.2, 0, 0.4, 0.95]) {
        const L = [[1, 0], [r, Math.sqrt(1 - r * r)]];
        const u = (r + 1) / 2;
        const want = (eta - 1) * Math.log(u) + (eta - 1) * Math.log(1 - u) - lbetaRef(eta, eta) - Math.LN2;
        near(lp('lkj_corr_cholesky', L, eta), want);
      }
    }
  });

  it('D = 3: integrates to 1 in the coordinates (L21, L31, L32), by the closed-form integral', () => {
    // Density c · L22^(2η-1) · L33^(2η-2) with L22 = √(1 - L21²), L33 = √(1 - L31² - L32²):
    // ∫ (1 - u²)^(η - 1/2) du = B(1/2, η + 1/2) and ∫_disk (1 - ρ²)^(η - 1) dA = π/η.
    for (const eta of [0.6, 1, 2.5, 10]) {
      const logC = -(lbetaRef(0.5, eta + 0.5) + Math.log(Math.PI / eta));
      const R = [[1, 0.3, -0.4], [0.3, 1, 0.2], [-0.4, 0.2, 1]];
      const L = chol(R);
      const want = logC + (2 * eta - 1) * Math.log(L[1][1]) + (2 * eta - 2) * Math.log(L[2][2]);
      near(lp('lkj_corr_cholesky', L, eta), want);
    }
  });

  it('eta = 1 is uniform: the volume of 3 x 3 correlation matrices is π²/2 and of 4 x 4 ones 32π²/27', () => {
    // In L coordinates the uniform density picks up the Jacobian Π_i L_ii^(D - i).
    const L3 = chol([[1, 0.5, 0.1], [0.5, 1, -0.3], [0.1, -0.3, 1]]);
    near(lp('lkj_corr_cholesky', L3, 1), -Math.log((Math.PI * Math.PI) / 2) + Math.log(L3[1][1]));
    const R4 = [[1, 0.2, -0.1, 0.3], [0.2, 1, 0.4, 0], [-0.1, 0.4, 1, 0.25], [0.3, 0, 0.25, 1]];
    const L4 = chol(R4);
    near(lp('lkj_corr_cholesky', L4, 1), -Math.log((32 * Math.PI * Math.PI) / 27) + 2 * Math.log(L4[1][1]) + Math.log(L4[2][2]));
  });

  it('D = 1: the only value [[1]] has log density 0', () => {
    expect(lp('lkj_corr_cholesky', [[1]], 2.5)).toBeCloseTo(0, 6);
    expect(dist('lkj_corr_cholesky').sample(Key.seed(1).rng(), 2.5, 1)).toEqual([[1]]);
  });

  it('samples valid Cholesky factors of correlation matrices for several dimensions', () => {
    const rng = Key.seed(3).rng();
    for (const D of [2, 4, 6]) {
      const L = dist('lkj_corr_cholesky').sample(rng, 0.8, D) as number[][];
      const R = matmul(L, transpose(L));
      for (let i = 0; i < D; i++) {
        expect(R[i][i]).toBeCloseTo(1, 12);
        expect(L[i][i]).toBeGreaterThan(0);
        for (let j = i + 1; j < D; j++) expect(L[i][j]).toBe(0);
      }
    }
  });
});

describe('mvnormal', () => {
  it('mvnormal_cholesky equals mvnormal with Sigma = L Lᵀ, and ignores L above the diagonal', () => {
    const [mu, L] = CASES.mvnormal_cholesky.params[0] as [number[], number[][]];
    const Sigma = matmul(L, transpose(L));
    const withJunk = L.map((r, i) => r.map((v, j) => (j > i ? 99 : v)));
    for (const y of [[0, 0, 0], [1, -2, 0.5]]) {
      const a = lp('mvnormal', y, mu, Sigma);
      near(lp('mvnormal_cholesky', y, mu, L), a, 1e-6, 1e-5);
      near(lp('mvnormal_cholesky', y, mu, withJunk), a, 1e-6, 1e-5);
    }
  });

  it('differentiates through a batch of covariance matrices like one matrix at a time', () => {
    const ps = CASES.mvnormal.params.map((p) => p as [number[], number[][]]);
    const y = [0.2, -0.5, 1];
    const S = tf.tensor3d(ps.map((p) => p[1]));
    const mu = tf.tensor2d(ps.map((p) => p[0]));
    const gBatch = tf.grad((s: Tensor) => tf.sum(dist('mvnormal').logProb(tf.tensor1d(y), mu, s)))(S).arraySync() as number[][][];
    ps.forEach((p, i) => {
      const g = tf.grad((s: Tensor) => dist('mvnormal').logProb(tf.tensor1d(y), tf.tensor1d(p[0]), s))(tf.tensor2d(p[1])).arraySync() as number[][];
      g.forEach((r, a) => r.forEach((v, b) => near(gBatch[i][a][b], v, 1e-5, 1e-6)));
    });
  });

  it('rejects a value whose length differs from mu with a named error', () => {
    expect(() => lp('mvnormal', [1, 2], [0, 0, 0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])).toThrow(/mvnormal/);
  });
});

describe('tails and awkward points', () => {
  it('normal log CDF stays finite and accurate far in the tails', () => {
    for (const z of [-30, -10, -3, 0, 5, 12]) {
      const [lc, lcc] = tf.tidy(() => [
        dist('normal').logCdf!(tf.scalar(z), tf.scalar(0), tf.scalar(1)).dataSync()[0],
        dist('normal').logCcdf!(tf.scalar(z), tf.scalar(0), tf.scalar(1)).dataSync()[0],
      ]);
      near(lc, logNormalCdf(z));
      near(lcc, logNormalCdf(-z));
    }
  });

  it('log CDFs keep their relative precision near zero probability', () => {
    const one = (name: string, fn: 'logCdf' | 'logCcdf', x: number, ...p: number[]) =>
      tf.tidy(() => dist(name)[fn]!(tf.scalar(x), ...p.map((q) => tf.scalar(q))).dataSync()[0]);
    // half_normal: F(x) = erf(x/√2) ≈ x √(2/π) for tiny x.
    near(one('half_normal', 'logCdf', 1e-6, 1), Math.log(1e-6 * Math.sqrt(2 / Math.PI)));
    // exponential: F(x) = 1 - e^{-x} ≈ x.
    near(one('exponential', 'logCdf', 1e-7, 1), Math.log(1e-7));
    // cauchy far left: F(z) ≈ 1/(π|z|).
    near(one('cauchy', 'logCdf', -1e5, 0, 1), Math.log(Math.atan(1e-5) / Math.PI));
    // logistic far right: 1 - F(z) ≈ e^{-z}.
    near(one('logistic', 'logCcdf', 80, 0, 1), -80);
    // uniform: below, inside, above.
    expect(one('uniform', 'logCdf', -1, 0, 2)).toBe(-Infinity);
    expect(one('uniform', 'logCdf', 3, 0, 2)).toBe(0);
    expect(one('uniform', 'logCcdf', 3, 0, 2)).toBe(-Infinity);
    near(one('uniform', 'logCcdf', 0.5, 0, 2), Math.log(0.75));
  });

  it('log CDFs have finite parameter gradients where they are -Infinity or 0 (truncation bounds outside the support)', () => {
    const cases: [string, number, number[]][] = [
      ['uniform', -1, [0, 2]], ['uniform', 3, [0, 2]], ['exponential', -1, [2]], ['half_normal', -1, [1.5]],
      ['half_cauchy', -1, [1.5]], ['lognormal', -1, [0, 1]],
    ];
    for (const [name, x, p] of cases) {
      for (const fn of ['logCdf', 'logCcdf'] as const) {
        const g = tf.tidy(() => {
          const gs = tf.grads((...a: Tensor[]) => dist(name)[fn]!(tf.scalar(x), ...a))(p.map((v) => tf.scalar(v)));
          return gs.map((t) => t.dataSync()[0]);
        });
        expect(g.every(Number.isFinite), `${name}.${fn}(${x}) gradient ${g}`).toBe(true);
      }
    }
  });

  it('bernoulli_logit is exact for huge |alpha| and has gradient y - sigmoid(alpha), 0.5 at alpha = 0', () => {
    near(lp('bernoulli_logit', 1, -200), -200);
    near(lp('bernoulli_logit', 0, 200), -200);
    expect(lp('bernoulli_logit', 1, 200)).toBe(-0);
    for (const y of [0, 1]) {
      expect(grads('bernoulli_logit', y, 0)[1]).toBeCloseTo(y - 0.5, 7);
      expect(grads('bernoulli_logit', y, -200)[1]).toBeCloseTo(y, 7);
    }
  });

  it('logistic and bernoulli_logit gradients at the softplus kink (argument exactly 0)', () => {
    // d/dmu log logistic(y | mu, 1) = 1 - 2 sigmoid(-z) with z = y - mu: 0 at y = mu. The
    // one-sided derivatives of max(x, 0) + log1p(e^{-|x|}) would give 2 there.
    expect(grads('logistic', 0, 0, 1)[1]).toBeCloseTo(0, 7);
  });

  it('categorical with a zero probability: finite log density and gradients for the other categories', () => {
    const probs = tf.tensor1d([0.5, 0, 0.5]);
    const g = tf.grad((p: Tensor) => dist('categorical').logProb(tf.scalar(1), p))(probs).arraySync() as number[];
    expect(g).toEqual([2, 0, 0]);
    expect(lp('categorical', 2, [0.5, 0, 0.5])).toBe(-Infinity);
  });

  it('boundary probabilities: bernoulli(1) at 1, binomial(n, 0) at 0, dirichlet with alpha_k = 1 at y_k = 0', () => {
    expect(lp('bernoulli', 1, 1)).toBe(0);
    expect(lp('bernoulli', 0, 0)).toBe(0);
    expect(lp('bernoulli', 1, 0)).toBe(-Infinity);
    expect(lp('binomial', 0, 7, 0)).toBeCloseTo(0, 6);
    expect(lp('binomial', 7, 7, 1)).toBeCloseTo(0, 6);
    near(lp('dirichlet', [0, 0.5, 0.5], [1, 2, 2]), lgammaF64(5) - 2 * lgammaF64(2) + 2 * Math.log(0.5));
    // gamma with shape 1 at 0 is the exponential density at 0; its shape gradient is finite.
    near(lp('gamma', 0, 1, 2), Math.log(2));
    const gs = grads('gamma', 0.5, 1, 2);
    expect(gs.every(Number.isFinite)).toBe(true);
  });

  it('neg_binomial_2 tends to poisson as phi grows (no lgamma cancellation in float32)', () => {
    for (const y of [0, 3, 9]) near(lp('neg_binomial_2', y, 4, 1e7), lp('poisson', y, 4), 0, 2e-4);
  });

  it('parameters outside their constraint give NaN (the model layer validates them)', () => {
    expect(lp('normal', 0, 0, -1)).toBeNaN();
    expect(lp('gamma', 1, -1, 1)).toBeNaN();
    expect(lp('beta', 0.5, 0, 1)).toBeNaN();
  });
});

describe('samplers', () => {
  it('draw the same values for the same key', () => {
    for (const [name, def] of DISTRIBUTIONS) {
      const c = CASES[name];
      const args = c.sampleArgs ? c.sampleArgs(c.params[0]) : c.params[0];
      const a = def.sample(Key.seed(11).rng(), ...args);
      const b = def.sample(Key.seed(11).rng(), ...args);
      expect(a, name).toEqual(b);
    }
  });

  it('reject invalid parameters with errors that name the family and the parameter', () => {
    const rng = Key.seed(2).rng();
    expect(() => dist('normal').sample(rng, 0, -1)).toThrow(/normal.*sigma/);
    expect(() => dist('binomial').sample(rng, 2.5, 0.3)).toThrow(/binomial.*n/);
    expect(() => dist('uniform').sample(rng, 2, 1)).toThrow(/uniform.*upper/);
    expect(() => dist('mvnormal').sample(rng, [0, 0], [[1, 2], [2, 1]])).toThrow(/mvnormal.*Sigma/);
    expect(() => dist('wishart').sample(rng, 1.5, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])).toThrow(/wishart.*nu/);
    expect(() => dist('lkj_corr_cholesky').sample(rng, 2)).toThrow(/lkj_corr_cholesky.*dimension/);
    expect(() => dist('dirichlet').sample(rng, [1, -1])).toThrow(/dirichlet.*alpha\[1\]/);
  });
});

describe('wasm backend (the default)', () => {
  it('gives the same log densities as the float64 references', async () => {
    await useBackend('wasm');
    try {
      for (const [name, def] of DISTRIBUTIONS) {
        const c = CASES[name];
        for (const p of c.params) {
          for (const x of c.points(p)) {
            const got = tf.tidy(() => def.logProb(tf.tensor(x as number), ...p.map((q) => tf.tensor(q as number))).dataSync()[0]);
            const want = c.ref(x, ...p);
            expect(Math.abs(got - want) <= 1e-5 * Math.abs(want) + 1e-4, `${name}(${JSON.stringify(p)}) at ${JSON.stringify(x)}: ${got} vs ${want}`).toBe(true);
          }
        }
      }
    } finally {
      await useBackend('cpu');
    }
  });

  it('differentiates every family with the same gradients as the cpu backend', async () => {
    const gradsOn = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      const out: number[][] = [];
      for (const [name, def] of DISTRIBUTIONS) {
        const p = CASES[name].params[0];
        const x = CASES[name].points(p)[1];
        out.push(tf.tidy(() => {
          const g = tf.grads((...a: Tensor[]) => def.logProb(a[0], ...a.slice(1)))([x, ...p].map((v) => tf.tensor(v as number)));
          return g.flatMap((t) => Array.from(t.dataSync()));
        }));
      }
      return out;
    };
    try {
      const cpu = await gradsOn('cpu');
      const wasm = await gradsOn('wasm');
      [...DISTRIBUTIONS.keys()].forEach((name, i) => {
        cpu[i].forEach((g, j) => expect(Math.abs(wasm[i][j] - g), `${name} gradient ${j}: ${wasm[i][j]} vs ${g}`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(g))));
      });
    } finally {
      await useBackend('cpu');
    }
  });
});
