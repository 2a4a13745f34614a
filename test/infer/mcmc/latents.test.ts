// Posterior draws of the discrete latents (infer_discrete): frequencies of drawn latent
// configurations against the exact joint posterior, computed here by brute force over
// every configuration in float64 (never from latentMarginals); chi-square tests with
// fixed seeds. Each check is paired with a negative control: draws from the product of
// the exact marginals (the right marginals, the wrong joint) must fail the same check,
// so the checks are shown to have power at the sample sizes used.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample, sampleLatents, sampleLatentsAt, latentLayout } from '../../../src/infer/mcmc';
import { Key, type Rng } from '../../../src/tensor/random';
import { chiSquareTest } from '../../../src/testing/stats';

beforeAll(async () => {
  await ensureBackend();
});

const ALPHA = 0.001;
const LOG_2PI = Math.log(2 * Math.PI);
const normLp = (x: number, m: number, s: number) => -0.5 * LOG_2PI - Math.log(s) - 0.5 * ((x - m) / s) ** 2;

/** Every assignment of n variables with k values each (0-based), the first variable fastest. */
function* assignments(n: number, k: number): Generator<number[]> {
  const a = new Array(n).fill(0);
  while (true) {
    yield [...a];
    let i = 0;
    while (i < n && ++a[i] === k) a[i++] = 0;
    if (i === n) return;
  }
}

/** Cell index of a 0-based assignment (first variable fastest, as `assignments`). */
const cellOf = (z: ArrayLike<number>, k: number) => {
  let c = 0;
  for (let i = z.length - 1; i >= 0; i--) c = c * k + z[i];
  return c;
};

/** Normalised exp of log weights. */
function normalise(lw: number[]): number[] {
  const m = Math.max(...lw);
  const w = lw.map((x) => Math.exp(x - m));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

/** Chi-square test of counts against probabilities, cells with expected count < 5 pooled. */
function chiSquare(counts: number[], probs: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  const obs: number[] = [];
  const exp: number[] = [];
  let po = 0;
  let pe = 0;
  probs.forEach((p, i) => {
    if (n * p >= 5) {
      obs.push(counts[i]);
      exp.push(n * p);
    } else {
      po += counts[i];
      pe += n * p;
    }
  });
  if (pe > 0) {
    obs.push(po);
    exp.push(pe);
  }
  return chiSquareTest(obs, exp).pValue;
}

/** Draws from the product of the marginals of `joint` (over k^n cells): the negative control. */
function productOfMarginals(joint: number[], n: number, k: number, draws: number, rng: Rng): number[][] {
  const marg = Array.from({ length: n }, () => new Array(k).fill(0));
  let c = 0;
  for (const z of assignments(n, k)) {
    z.forEach((v, i) => (marg[i][v] += joint[c]));
    c++;
  }
  return Array.from({ length: draws }, () => marg.map((m) => rng.categorical(m)));
}

function countCells(draws: ArrayLike<number>[], k: number, base: number): number[] {
  const counts = new Array(k ** draws[0].length).fill(0);
  for (const d of draws) counts[cellOf(Array.from(d, (v) => v - base), k)]++;
  return counts;
}

describe('independent (enumerated) latents: a mixture with N = 3, K = 2', () => {
  const src = `
    model mix {
      data K: int
      data y: real[N]
      param w: simplex[K]
      param mu: real[K]
      param sigma: positive[K]
      for n in 1..N {
        z[n] ~ categorical(w)
        y[n] ~ normal(mu[z[n]], sigma[z[n]])
      }
    }`;
  const y = [-0.3, 0.5, 1.4];
  const w = [0.4, 0.6];
  const mu = [-1, 1];
  const sigma = [1, 0.8];
  // Exact joint p(z | θ, y) over all 2^3 configurations.
  const joint = normalise([...assignments(3, 2)].map((z) => z.reduce((s, k, n) => s + Math.log(w[k]) + normLp(y[n], mu[k], sigma[k]), 0)));
  const DRAWS = 1500;

  it('layout: names, shape and 1-based support', () => {
    const bm = compile(src).bind({ K: 2, y });
    const lay = latentLayout(bm);
    expect(lay.names).toEqual(['z.1', 'z.2', 'z.3']);
    expect(lay.latents).toEqual([{ name: 'z', shape: [3], support: [1, 2], marginalized: 'enumeration', offset: 0, size: 3 }]);
  });

  it('drawn configurations follow the brute-force joint posterior (chi-square)', () => {
    const bm = compile(src).bind({ K: 2, y });
    const rng = Key.seed(11).rng();
    const draws: Int32Array[] = [];
    for (let i = 0; i < DRAWS; i++) draws.push(sampleLatentsAt(bm, { w, mu, sigma }, rng));
    for (const d of draws) for (const v of d) expect(v === 1 || v === 2).toBe(true);
    const p = chiSquare(countCells(draws, 2, 1), joint);
    expect(p, `p = ${p}`).toBeGreaterThan(ALPHA);
    // Mutation check: the wrong categories (2 - z instead of z) fail the same test.
    const flipped = draws.map((d) => d.map((v) => 3 - v));
    expect(chiSquare(countCells(flipped, 2, 1), joint)).toBeLessThan(ALPHA);
  });
});

describe('a latent with support 0/1 (bernoulli)', () => {
  it('draws values in the model\'s own support, with the brute-force joint (chi-square)', () => {
    const bm = compile(`model b { data y: real[N]  param s: positive  param mu: real[2]
      for n in 1..N { z[n] ~ bernoulli(0.3)  y[n] ~ normal(mu[z[n] + 1], s) } }`).bind({ y: [0.1, 1.2] });
    expect(latentLayout(bm).latents[0].support).toEqual([0, 1]);
    const y = [0.1, 1.2], mu = [0, 1], s = 0.8;
    const joint = normalise([...assignments(2, 2)].map((z) => z.reduce((a, k, n) => a + Math.log(k ? 0.3 : 0.7) + normLp(y[n], mu[k], s), 0)));
    const rng = Key.seed(31).rng();
    const draws: Int32Array[] = [];
    for (let i = 0; i < 600; i++) draws.push(sampleLatentsAt(bm, { s, mu }, rng));
    for (const d of draws) for (const v of d) expect(v === 0 || v === 1).toBe(true);
    const p = chiSquare(countCells(draws, 2, 0), joint);
    expect(p, `p = ${p}`).toBeGreaterThan(ALPHA);
  });
});

describe('coupled latents: a global latent g and local z[n] in one statement', () => {
  // g picks the scale shared by every point, z[n] each point's mean: z[n] are not
  // independent of g (nor of each other) given θ, so they must be drawn given g.
  const src = `
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
    }`;
  const y = [0.7, 1.0];
  const v = [0.5, 0.5], w = [0.5, 0.5], mu = [0, 1.5], s = [0.35, 3];
  // Cells over (g, z1, z2), g fastest; the model's flat layout is declaration order [g, z.1, z.2].
  const joint = normalise([...assignments(3, 2)].map(([g, z1, z2]) =>
    Math.log(v[g]) + [z1, z2].reduce((a, k, n) => a + Math.log(w[k]) + normLp(y[n], mu[k], s[g]), 0)));
  const DRAWS = 1000;

  it('drawn (g, z) configurations follow the brute-force joint (chi-square), and independent draws would not', () => {
    const bm = compile(src).bind({ y });
    expect(latentLayout(bm).names).toEqual(['g', 'z.1', 'z.2']);
    const rng = Key.seed(5).rng();
    const draws: Int32Array[] = [];
    for (let i = 0; i < DRAWS; i++) draws.push(sampleLatentsAt(bm, { v, w, mu, s }, rng));
    const p = chiSquare(countCells(draws, 2, 1), joint);
    expect(p, `p = ${p}`).toBeGreaterThan(ALPHA);
    // Negative control: the right marginals, drawn independently, fail at this sample size.
    const indep = productOfMarginals(joint, 3, 2, DRAWS, Key.seed(6).rng());
    expect(chiSquare(countCells(indep, 2, 0), joint)).toBeLessThan(ALPHA);
  });
});

describe('chain latents: a Gaussian HMM with T = 4, K = 2 (forward-filtering backward-sampling)', () => {
  const src = `
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
  const y = [0.1, 0.9, 1.1, 0.3];
  // Sticky transitions and overlapping emissions: strongly dependent neighbours.
  const p0 = [0.6, 0.4];
  const A = [[0.9, 0.1], [0.15, 0.85]];
  const mu = [0, 1.2];
  const sigma = [0.8, 0.8];
  const T = 4;
  const joint = normalise([...assignments(T, 2)].map((z) => {
    let lp = Math.log(p0[z[0]]) + normLp(y[0], mu[z[0]], sigma[z[0]]);
    for (let t = 1; t < T; t++) lp += Math.log(A[z[t - 1]][z[t]]) + normLp(y[t], mu[z[t]], sigma[z[t]]);
    return lp;
  }));
  /** Exact p(z[t], z[t+1]) (0-based t), cells z[t] + 2 z[t+1], from the brute-force joint. */
  const pairExact = (t: number) => {
    const out = [0, 0, 0, 0];
    let c = 0;
    for (const z of assignments(T, 2)) out[z[t] + 2 * z[t + 1]] += joint[c++];
    return out;
  };
  const pairCounts = (draws: ArrayLike<number>[], t: number, base: number) => {
    const out = [0, 0, 0, 0];
    for (const d of draws) out[d[t] - base + 2 * (d[t + 1] - base)]++;
    return out;
  };
  const DRAWS = 2000;
  let draws: Int32Array[] = [];

  beforeAll(() => {
    const bm = compile(src).bind({ K: 2, y });
    expect(latentLayout(bm).latents).toEqual([{ name: 'z', shape: [4], support: [1, 2], marginalized: 'forward', offset: 0, size: 4 }]);
    const rng = Key.seed(21).rng();
    draws = [];
    for (let i = 0; i < DRAWS; i++) draws.push(sampleLatentsAt(bm, { p0, A, mu, sigma }, rng));
  });

  it('drawn paths follow the brute-force joint over all 2^4 paths (chi-square)', () => {
    const p = chiSquare(countCells(draws, 2, 1), joint);
    expect(p, `p = ${p}`).toBeGreaterThan(ALPHA);
    // Negative control: paths with the exact marginals but independent steps fail.
    const indep = productOfMarginals(joint, T, 2, DRAWS, Key.seed(22).rng());
    expect(chiSquare(countCells(indep, 2, 0), joint)).toBeLessThan(ALPHA);
    // Mutation check: time-reversed paths (wrong direction of the backward pass) fail.
    const reversed = draws.map((d) => Int32Array.from(d).reverse());
    expect(chiSquare(countCells(reversed, 2, 1), joint)).toBeLessThan(ALPHA);
  });

  it('neighbouring pairs (z[t], z[t+1]) follow the brute-force pairwise posterior (chi-square)', () => {
    for (let t = 0; t < T - 1; t++) {
      const p = chiSquare(pairCounts(draws, t, 1), pairExact(t));
      expect(p, `pair (${t + 1}, ${t + 2}): p = ${p}`).toBeGreaterThan(ALPHA);
    }
    // Negative control: independent steps, same marginals, fail the pair test at some t.
    const indep = productOfMarginals(joint, T, 2, DRAWS, Key.seed(23).rng());
    const worst = Math.min(...[0, 1, 2].map((t) => chiSquare(pairCounts(indep, t, 0), pairExact(t))));
    expect(worst).toBeLessThan(ALPHA);
  });
});

describe('sampleLatents after an MCMC run (stdlib gmm_diag)', () => {
  const src = readFileSync(new URL('../../../stdlib/gmm_diag.mix', import.meta.url), 'utf8');
  // Two tight clusters and one point between them (its component is uncertain).
  const x = [[-4, -4.2], [-4.3, -3.9], [-3.8, -4.1], [4, 4.1], [4.2, 3.8], [3.9, 4.2], [0.1, -0.2]];
  const N = x.length;
  let bm: ReturnType<ReturnType<typeof compile>['bind']>;
  let fit: ReturnType<typeof sample>;
  let all: ReturnType<typeof sampleLatents>;

  beforeAll(() => {
    bm = compile(src).bind({ K: 2, x });
    fit = sample(bm, { chains: 2, warmup: 150, draws: 60, seed: 3 });
    all = sampleLatents(bm, fit, { seed: 9 });
  });

  it('has one row of N latents per kept draw, in 1..K', () => {
    expect(all.names).toEqual(Array.from({ length: N }, (_, i) => `z.${i + 1}`));
    expect(all.latents).toEqual([{ name: 'z', shape: [N], support: [1, 2], marginalized: 'enumeration', offset: 0, size: N }]);
    expect(all.chains.length).toBe(2);
    expect(all.drawIndex).toEqual(Array.from({ length: 60 }, (_, i) => i));
    for (const rows of all.chains) {
      expect(rows.length).toBe(60);
      for (const r of rows) {
        expect(r).toBeInstanceOf(Int32Array);
        expect(r.length).toBe(N);
        for (const v of r) expect(v === 1 || v === 2).toBe(true);
      }
    }
  });

  it('is deterministic given the seed; thinning keeps the same draws; another seed differs', () => {
    const again = sampleLatents(bm, fit, { seed: 9 });
    expect(again.chains).toEqual(all.chains);
    const thin = sampleLatents(bm, fit, { seed: 9, everyNth: 20 });
    expect(thin.drawIndex).toEqual([0, 20, 40]);
    thin.chains.forEach((rows, c) => rows.forEach((r, j) => expect(r).toEqual(all.chains[c][thin.drawIndex[j]])));
    const other = sampleLatents(bm, fit, { seed: 10 });
    expect(other.chains).not.toEqual(all.chains);
    expect(() => sampleLatents(bm, fit, { everyNth: 0 })).toThrow(/everyNth/);
  });

  it('rows belong to their parameter draws: z frequencies match the responsibilities of each θ', () => {
    // For each draw, p(z[n] = 1 | θ, x[n]) in float64 from that draw's constrained values;
    // Σ (1{z = 1} - p) over draws has variance Σ p (1 - p) given the θs (draws are
    // conditionally independent given θ), so its z-score is within 4.
    const wj = (k: number) => fit.names.indexOf(`w.${k}`);
    const mj = (k: number, d: number) => fit.names.indexOf(`mu.${k}.${d}`);
    const sj = (k: number, d: number) => fit.names.indexOf(`sigma.${k}.${d}`);
    for (let n = 0; n < N; n++) {
      let dev = 0;
      let v = 0;
      fit.chains.forEach((ch, c) => all.chains[c].forEach((r, j) => {
        const th = ch.values[all.drawIndex[j]];
        const lp = [0, 1].map((k) => Math.log(th[wj(k + 1)]) + [0, 1].reduce((a, d) => a + normLp(x[n][d], th[mj(k + 1, d + 1)], th[sj(k + 1, d + 1)]), 0));
        const p1 = normalise(lp)[0];
        dev += (r[n] === 1 ? 1 : 0) - p1;
        v += p1 * (1 - p1);
      }));
      if (v > 1e-6) expect(Math.abs(dev) / Math.sqrt(v), `point ${n + 1}`).toBeLessThan(4);
      else expect(Math.abs(dev)).toBeLessThan(1e-2);
    }
  });

  it('rejects a run of another model', () => {
    const other = compile(`model m { data y: real[N]  param mu: real  y ~ normal(mu, 1) }`).bind({ y: [0.1] });
    expect(() => sampleLatents(other, fit)).toThrow(/parameters/);
  });
});
