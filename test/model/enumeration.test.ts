// Enumeration and chain factors against brute-force summation over every latent
// assignment, computed independently in float64 in the test.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor';
import { compile } from '../../src';

beforeAll(async () => {
  await useBackend('cpu');
});

const LOG_2PI = Math.log(2 * Math.PI);
const normLp = (x: number, m: number, s: number) => -0.5 * LOG_2PI - Math.log(s) - 0.5 * ((x - m) / s) ** 2;
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};
/** Every assignment of n variables with k values each (0-based). */
function* assignments(n: number, k: number): Generator<number[]> {
  const a = new Array(n).fill(0);
  while (true) {
    yield [...a];
    let i = 0;
    while (i < n && ++a[i] === k) a[i++] = 0;
    if (i === n) return;
  }
}
// Float32 evaluation of sums of O(10) terms of size O(10): relative 1e-5 on the total.
const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-5 * Math.max(1, Math.abs(b)) * 10);

describe('enumerated mixture indices', () => {
  const src = `
    model gmm1 {
      data K: int
      data y: real[N]
      param w: simplex[K]
      param mu: ordered[K]
      param sigma: positive[K]
      for n in 1..N {
        z[n] ~ categorical(w)
        y[n] ~ normal(mu[z[n]], sigma[z[n]])
      }
    }`;
  const y = [-1.2, 0.3, 2.2, 0.9];
  const w = [0.2, 0.5, 0.3];
  const mu = [-1, 0.5, 2];
  const sigma = [0.7, 1.1, 0.4];

  it('log density equals the brute-force sum over all K^N assignments', () => {
    const m = compile(src).bind({ y, K: 3 });
    const brute = lse([...assignments(4, 3)].map((z) => z.reduce((s, k, n) => s + Math.log(w[k]) + normLp(y[n], mu[k], sigma[k]), 0)));
    close(m.logDensity({ w, mu, sigma }), brute);
  });

  it('mixture sugar gives the same density as an explicit latent', () => {
    const sugar = compile(`
      model gmm2 {
        data y: real[N]
        data K: int
        param w: simplex[K]
        param mu: ordered[K]
        param sigma: positive[K]
        for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) }
      }`).bind({ y, K: 3 });
    const explicit = compile(src).bind({ y, K: 3 });
    close(sugar.logDensity({ w, mu, sigma }), explicit.logDensity({ w, mu, sigma }));
  });

  it('posterior marginals of z are the normalised responsibilities', () => {
    const m = compile(src).bind({ y, K: 3 });
    const marg = m.latentMarginals({ w, mu, sigma }).z;
    expect(marg.shape).toEqual([4, 3]);
    for (let n = 0; n < 4; n++) {
      const lp = [0, 1, 2].map((k) => Math.log(w[k]) + normLp(y[n], mu[k], sigma[k]));
      const Z = lse(lp);
      for (let k = 0; k < 3; k++) expect(marg.values[n * 3 + k]).toBeCloseTo(Math.exp(lp[k] - Z), 5);
    }
  });

  it('a global latent with local latents inside a plate is eliminated in the right order', () => {
    // g picks a scale shared by all points; z[n] picks each point's mean.
    const m = compile(`
      model nested {
        data y: real[N]
        param v: simplex[2]
        param w: simplex[2]
        param mu: real[2]
        param s: positive[2]
        g ~ categorical(v)
        for n in 1..N {
          z[n] ~ categorical(w)
          y[n] ~ normal(mu[z[n]], s[g])
        }
      }`).bind({ y: [0.1, 1.5, -0.4] });
    const v = [0.3, 0.7], ww = [0.6, 0.4], mm = [-0.5, 1], ss = [0.5, 2];
    const terms: number[] = [];
    for (const g of [0, 1]) {
      for (const z of assignments(3, 2)) {
        terms.push(Math.log(v[g]) + z.reduce((a, k, n) => a + Math.log(ww[k]) + normLp([0.1, 1.5, -0.4][n], mm[k], ss[g]), 0));
      }
    }
    close(m.logDensity({ v, w: ww, mu: mm, s: ss }), lse(terms));
  });
});

/** Every state path of a Gaussian HMM (K^T of them) with its log joint density. */
function hmmPaths(y: number[], p0: number[], A: number[][], mu: number[], sigma: number[]): { z: number[]; s: number }[] {
  return [...assignments(y.length, p0.length)].map((z) => {
    let s = Math.log(p0[z[0]]) + normLp(y[0], mu[z[0]], sigma[z[0]]);
    for (let t = 1; t < y.length; t++) s += Math.log(A[z[t - 1]][z[t]]) + normLp(y[t], mu[z[t]], sigma[z[t]]);
    return { z, s };
  });
}

describe('chain latents (forward algorithm)', () => {
  const hmm = `
    model hmm {
      data K: int
      data y: real[T]
      param p0: simplex[K]
      param A: simplex[K, K]
      param mu: real[K]
      param sigma: positive[K]
      z[1] ~ categorical(p0)
      for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
      for t in 1..T { y[t] ~ normal(mu[z[t]], sigma[z[t]]) }
    }`;
  const p0 = [0.5, 0.3, 0.2];
  const A = [[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]];
  const mu = [-1, 0, 1.5];
  const sigma = [0.5, 0.8, 0.6];
  const bruteHmm = (y: number[]) => lse(hmmPaths(y, p0, A, mu, sigma).map((p) => p.s));

  for (const T of [1, 2, 5, 6]) {
    it(`equals brute force over all K^T paths, T = ${T}`, () => {
      const y = [-0.9, 0.2, 1.7, 1.1, -0.3, 0.05].slice(0, T);
      const m = compile(hmm).bind({ y, K: 3 });
      close(m.logDensity({ p0, A, mu, sigma }), bruteHmm(y));
    });
  }

  it('is marked as a forward-algorithm chain in the IR', () => {
    const site = compile(hmm).sites.find((s) => s.name === 'z')!;
    expect(site.marginalized).toBe('forward');
  });

  it('state marginals from the chain equal brute-force smoothing', () => {
    const y = [-0.9, 0.2, 1.7, 1.1];
    const m = compile(hmm).bind({ y, K: 3 });
    const marg = m.latentMarginals({ p0, A, mu, sigma }).z;
    expect(marg.shape).toEqual([4, 3]);
    const paths = hmmPaths(y, p0, A, mu, sigma);
    const Z = lse(paths.map((p) => p.s));
    for (let t = 0; t < 4; t++) {
      for (let k = 0; k < 3; k++) {
        const pk = paths.filter((p) => p.z[t] === k).reduce((a, p) => a + Math.exp(p.s - Z), 0);
        expect(marg.values[t * 3 + k]).toBeCloseTo(pk, 5);
      }
    }
  });
});

describe('a chain with impossible transitions (a left-right HMM, zeros in the data)', () => {
  const model = `
    model lr {
      data K: int
      data y: real[T]
      data p0: real[K]
      data A: real[K, K]
      param mu: real[K]
      z[1] ~ categorical(p0)
      for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
      for t in 1..T { y[t] ~ normal(mu[z[t]], 1) }
    }`;
  const p0 = [1, 0, 0];
  const A = [[0.6, 0.4, 0], [0, 0.7, 0.3], [0, 0, 1]];
  const mu = [-1, 0.5, 2];
  const y = [-1.1, -0.4, 0.6, 0.2, 1.9, 2.3];

  it('state and pairwise marginals are finite and equal brute-force smoothing (zeros where impossible)', () => {
    const m = compile(model).bind({ K: 3, y, p0, A });
    const paths = hmmPaths(y, p0, A, mu, [1, 1, 1]).filter((p) => p.s > -Infinity);
    const Z = lse(paths.map((p) => p.s));
    close(m.logDensity({ mu }), Z);
    const marg = m.latentMarginals({ mu }).z;
    const pw = marg.pairwise!;
    for (let t = 0; t < y.length; t++) {
      for (let k = 0; k < 3; k++) {
        const pk = paths.filter((p) => p.z[t] === k).reduce((a, p) => a + Math.exp(p.s - Z), 0);
        expect(marg.values[t * 3 + k]).toBeCloseTo(pk, 6);
      }
    }
    for (let t = 1; t < y.length; t++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          const pij = paths.filter((p) => p.z[t - 1] === i && p.z[t] === j).reduce((a, p) => a + Math.exp(p.s - Z), 0);
          expect(pw[(t * 3 + i) * 3 + j]).toBeCloseTo(pij, 6);
        }
      }
    }
  });
});

describe('potential gradient', () => {
  it('matches central finite differences of a float64 reference', () => {
    const y = [-1.2, 0.3, 2.2, 0.9, 0.1];
    const m = compile(`
      model g {
        data y: real[N]
        param w: simplex[2]
        param mu: real[2]
        param sigma: positive
        mu ~ normal(0, 5)
        sigma ~ half_normal(2)
        for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma)) }
      }`).bind({ y });
    expect(m.dim).toBe(4);
    // Reference potential in float64: stick-breaking simplex (Stan), exp for sigma.
    const ref = (u: number[]) => {
      const zb = 1 / (1 + Math.exp(-(u[0] - Math.log(1))));
      const w = [zb, 1 - zb];
      const logJw = Math.log(zb) + Math.log(1 - zb);
      const [m1, m2] = [u[1], u[2]];
      const s = Math.exp(u[3]);
      let lp = normLp(m1, 0, 5) + normLp(m2, 0, 5) + Math.log(2) + normLp(s, 0, 2);
      for (const yn of y) lp += lse([Math.log(w[0]) + normLp(yn, m1, s), Math.log(w[1]) + normLp(yn, m2, s)]);
      return -(lp + logJw + u[3]);
    };
    const u = [0.3, -0.8, 1.1, -0.2];
    const { value, grad } = m.potentialAndGrad(u);
    expect(value).toBeCloseTo(ref(u), 3);
    for (let i = 0; i < 4; i++) {
      const h = 1e-5;
      const up = [...u]; up[i] += h;
      const dn = [...u]; dn[i] -= h;
      const fd = (ref(up) - ref(dn)) / (2 * h);
      expect(Math.abs(grad[i] - fd)).toBeLessThan(1e-3 * Math.max(1, Math.abs(fd)));
    }
    // The asynchronous read (the webgpu path) gives the same numbers; a wrong length is named.
    return m.potentialAndGradAsync(u).then((a) => {
      expect(a.value).toBe(value);
      expect(Array.from(a.grad)).toEqual(Array.from(grad));
      expect(() => m.potentialAndGrad([0.3, -0.8, 1.1])).toThrow(/potentialAndGrad: expected a vector of length 4 \(the unconstrained parameters\), got 3/);
    });
  });
});

describe('vector literals and index arrays', () => {
  it('a nested vector literal is a matrix by rows', () => {
    const m = compile(`model v { data y: real[2, 2]  param s: positive  y ~ normal([[1, 2], [3, 4]], s) }`).bind({ y: [[1, 2], [3, 4]] });
    // Every y equals its mean: the density is that of four zero residuals.
    expect(m.logDensity({ s: 1 })).toBeCloseTo(4 * (-0.5 * LOG_2PI), 4);
  });
  it('indexes by an array of integers (Stan multi-indexing)', () => {
    const m = compile(`model g { data group: int<lower=1, upper=3>[N]  data y: real[N]  param eff: real[3]  y ~ normal(eff[group], 1) }`)
      .bind({ group: [3, 1, 1, 2], y: [0.5, -1, 0, 2] });
    const eff = [0.1, 0.7, -0.4];
    const want = [0.5, -1, 0, 2].reduce((a, v, i) => a + normLp(v, eff[[2, 0, 0, 1][i]], 1), 0);
    expect(m.logDensity({ eff })).toBeCloseTo(want, 4);
  });
});
