import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend } from '../../src/tensor';
import { Key, Rng, normalTensor, threefry2x32Block, uniformTensor } from '../../src/tensor/random';
import { besselI1OverI0F64, betaincF64, gammaincF64, gammainccF64, lgammaF64, ndtrF64 } from '../../src/tensor/special';

beforeAll(async () => {
  await useBackend('cpu');
});

/**
 * Significance level of the goodness-of-fit tests. All seeds are fixed, so each test is
 * deterministic; a correct sampler fails a given test with probability ALPHA over seeds.
 */
const ALPHA = 1e-4;
/** Moment checks use 4 standard errors (two-sided level 6e-5). */
const Z = 4;
const N = 20000;
/** For the rejection samplers' fit tests: 1e5 draws resolve ~1% distortions of a bin's mass. */
const NBIG = 100000;

function draw(n: number, f: () => number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = f();
  return out;
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

function centralMoment(xs: readonly number[], m: number, k: number): number {
  let s = 0;
  for (const x of xs) s += (x - m) ** k;
  return s / xs.length;
}

/**
 * Expects the sample mean and variance within Z standard errors of the truth:
 * SE(mean) = σ/√n, SE(s²) = √(μ₄/n - σ⁴(n-3)/(n(n-1))) with μ₄ the 4th central moment
 * (exact when given, else estimated from the sample).
 */
function expectMoments(xs: readonly number[], mu: number, variance: number, mu4?: number, label = ''): void {
  const n = xs.length;
  const m = mean(xs);
  const v = centralMoment(xs, m, 2) * (n / (n - 1));
  const m4 = mu4 ?? centralMoment(xs, m, 4);
  const seMean = Math.sqrt(variance / n);
  // exact: Var(s²) = μ₄/n - σ⁴(n-3)/(n(n-1))
  const seVar = Math.sqrt(Math.max(m4 / n - (variance * variance * (n - 3)) / (n * (n - 1)), 0));
  if (!(Math.abs(m - mu) <= Z * seMean)) throw new Error(`${label} mean ${m}, want ${mu} ± ${Z * seMean}`);
  if (!(Math.abs(v - variance) <= Z * seVar)) throw new Error(`${label} variance ${v}, want ${variance} ± ${Z * seVar}`);
}

/** Returns the p-value of Pearson's chi-square for observed counts vs expected counts (bins pooled to >= 5). */
function chiSquareP(observed: number[], expected: number[]): number {
  const o: number[] = [];
  const e: number[] = [];
  let accO = 0;
  let accE = 0;
  for (let i = 0; i < observed.length; i++) {
    accO += observed[i];
    accE += expected[i];
    if (accE >= 5) {
      o.push(accO);
      e.push(accE);
      accO = 0;
      accE = 0;
    }
  }
  if (accE > 0 || accO > 0) {
    if (e.length === 0) return 1;
    o[o.length - 1] += accO;
    e[e.length - 1] += accE;
  }
  let stat = 0;
  for (let i = 0; i < o.length; i++) stat += (o[i] - e[i]) ** 2 / e[i];
  const df = o.length - 1;
  return df < 1 ? 1 : gammainccF64(df / 2, stat / 2);
}

/** Chi-square p-value for integer draws against a pmf over 0..kmax (the tail beyond kmax is one bin). */
function chiSquarePmfP(xs: readonly number[], pmf: (k: number) => number, kmax: number): number {
  const obs = new Array<number>(kmax + 2).fill(0);
  for (const x of xs) obs[Math.min(x, kmax + 1)]++;
  const exp: number[] = [];
  let s = 0;
  for (let k = 0; k <= kmax; k++) {
    const p = pmf(k);
    exp.push(p * xs.length);
    s += p;
  }
  exp.push(Math.max(0, 1 - s) * xs.length);
  return chiSquareP(obs, exp);
}

/** Chi-square p-value for integer draws binned at integer edges, with the CDF F(k) = P(X <= k). */
function chiSquareCdfP(xs: readonly number[], cdf: (k: number) => number, edges: number[]): number {
  const cuts = [...new Set(edges.map(Math.floor))].sort((a, b) => a - b);
  const obs = new Array<number>(cuts.length + 1).fill(0);
  for (const x of xs) {
    let i = 0;
    while (i < cuts.length && x > cuts[i]) i++;
    obs[i]++;
  }
  const exp: number[] = [];
  let prev = 0;
  for (const c of cuts) {
    const f = cdf(c);
    exp.push((f - prev) * xs.length);
    prev = f;
  }
  exp.push((1 - prev) * xs.length);
  return chiSquareP(obs, exp);
}

/** Integer bin edges around mean ± 4 sd, half an sd apart. */
function edgesAround(mu: number, sd: number): number[] {
  const out: number[] = [];
  for (let z = -4; z <= 4; z += 0.5) out.push(mu + z * sd);
  return out.filter((e) => e >= 0);
}

/** Returns the chi-square p-value of the probability integral transform cdf(x) in `bins` equiprobable bins. */
function pitChiSquareP(xs: readonly number[], cdf: (x: number) => number, bins = 50): number {
  const obs = new Array<number>(bins).fill(0);
  for (const x of xs) obs[Math.min(bins - 1, Math.floor(cdf(x) * bins))]++;
  return chiSquareP(obs, obs.map(() => xs.length / bins));
}

/** Returns the Kolmogorov–Smirnov p-value of xs against a continuous CDF (asymptotic, Stephens' correction). */
function ksP(xs: readonly number[], cdf: (x: number) => number): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  const t = d * (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n));
  let p = 0;
  for (let k = 1; k < 100; k++) p += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * t * t);
  return Math.min(1, Math.max(0, p));
}

function corr(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

const rngFor = (seed: number, ...path: number[]): Rng => path.reduce((k, i) => k.fold(i), Key.seed(seed)).rng();

describe('Key', () => {
  it('threefry2x32-20 reproduces the Random123 known-answer vectors', () => {
    expect(threefry2x32Block([0, 0], [0, 0])).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32Block([0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(threefry2x32Block([0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3])).toEqual([0xc4923a9c, 0x483df7a0]);
  });

  it('derives keys and streams exactly as documented (so saved seeds stay reproducible)', () => {
    const key = Key.seed(2 ** 40 + 7);
    expect(key.words()).toEqual([256, 7]);
    expect(Key.seed(-1).words()).toEqual([0xffffffff, 0xffffffff]);
    const [c0, c1, c2] = key.split(3);
    expect(c1.words()).toEqual(threefry2x32Block([256, 7], [1, 0x73706c74]));
    expect(key.fold(5).words()).toEqual(threefry2x32Block([256, 7], [5, 0x666f6c64]));
    // stream i-th block = threefry(streamKey, (i, 0)), streamKey = threefry(key, (0, 'rngs'))
    const sk = threefry2x32Block(c2.words(), [0, 0x726e6773]);
    const r = c2.rng();
    const words = draw(6, () => r.uint32());
    expect(words).toEqual([0, 1, 2].flatMap((i) => threefry2x32Block(sk, [i, 0])));
    expect(c0.equals(key.split(2)[0])).toBe(true); // documented prefix property
    expect(key.split()).toHaveLength(2);
    expect(Key.fromWords(256, 7).equals(key)).toBe(true);
    expect(Key.seed(42).toString()).toBe('Key(0x00000000, 0x0000002a)');
  });

  it('is deterministic: the same key gives the same draws, different keys differ', () => {
    const r0 = rngFor(7);
    const a = draw(100, () => r0.uniform());
    const again = rngFor(7);
    expect(draw(100, () => again.uniform())).toEqual(a);
    const r1 = Key.seed(7).rng();
    const r2 = Key.seed(7).rng();
    expect(draw(100, () => r1.normal())).toEqual(draw(100, () => r2.normal()));
    const s = Key.seed(7).split(4);
    const firsts = s.map((k) => k.rng().uint32());
    expect(new Set(firsts).size).toBe(4);
    expect(s[0].equals(s[1])).toBe(false);
    expect(Key.seed(7).fold(0).equals(s[0])).toBe(false);
    const other = Key.seed(8).rng();
    expect(draw(100, () => other.uniform())).not.toEqual(a);
  });

  it('rejects bad seeds, split counts and fold indices with a clear message', () => {
    expect(() => Key.seed(1.5)).toThrow(/seed must be a safe integer, got 1.5/);
    expect(() => Key.seed(NaN)).toThrow(/safe integer/);
    expect(() => Key.seed(2 ** 60)).toThrow(/safe integer/);
    expect(() => Key.seed(1).split(0)).toThrow(/n must be a positive integer/);
    expect(() => Key.seed(1).fold(-1)).toThrow(/Key.fold: i must be an integer in \[0, 2\^32\)/);
    expect(() => Key.fromWords(2 ** 32, 0)).toThrow(/hi must be an integer/);
  });

  it('split, fold and neighbouring seeds give uncorrelated streams (|r| < 4/√n)', () => {
    const n = N;
    const bound = Z / Math.sqrt(n);
    const [k1, k2] = Key.seed(123).split();
    const pairs: [Rng, Rng][] = [
      [k1.rng(), k2.rng()],
      [Key.seed(0).rng(), Key.seed(1).rng()],
      [Key.seed(5).fold(0).rng(), Key.seed(5).fold(1).rng()],
      [Key.seed(123).rng(), k1.rng()], // parent stream vs child stream
    ];
    for (const [a, b] of pairs) {
      const xa = draw(n, () => a.uniform());
      const xb = draw(n, () => b.uniform());
      expect(Math.abs(corr(xa, xb))).toBeLessThan(bound);
      expect(Math.abs(corr(xa.slice(1), xa.slice(0, -1)))).toBeLessThan(bound); // lag-1 within a stream
    }
    // the first draws of many sibling keys are uniform and serially uncorrelated
    const firsts = Key.seed(9).split(n).map((k) => k.rng().uniform());
    expect(Math.abs(corr(firsts.slice(1), firsts.slice(0, -1)))).toBeLessThan(bound);
    const counts = new Array<number>(20).fill(0);
    for (const u of firsts) counts[Math.floor(u * 20)]++;
    expect(chiSquareP(counts, counts.map(() => n / 20))).toBeGreaterThan(ALPHA);
  });
});

describe('Rng basics', () => {
  it('uint32: every bit is a fair coin; uniform is on the open 53-bit grid with the right moments', () => {
    const r = rngFor(1);
    const words = draw(N, () => r.uint32());
    for (let bit = 0; bit < 32; bit++) {
      const ones = words.reduce((s, w) => s + ((w >>> bit) & 1), 0);
      expect(Math.abs(ones - N / 2)).toBeLessThanOrEqual(Z * Math.sqrt(N / 4));
    }
    expect(words.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)).toBe(true);
    const u = draw(N, () => r.uniform());
    expect(u.every((x) => x > 0 && x < 1 && Number.isInteger(x * 2 ** 53))).toBe(true);
    expectMoments(u, 0.5, 1 / 12, 1 / 80, 'uniform');
    const counts = new Array<number>(50).fill(0);
    for (const x of u) counts[Math.floor(x * 50)]++;
    expect(chiSquareP(counts, counts.map(() => N / 50))).toBeGreaterThan(ALPHA);
  });

  it('uniformInt is uniform on 0..n-1', () => {
    const r = rngFor(2);
    for (const n of [1, 7, 1000]) {
      const xs = draw(N, () => r.uniformInt(n));
      expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < n)).toBe(true);
      expect(chiSquarePmfP(xs, () => 1 / n, n - 1)).toBeGreaterThan(ALPHA);
    }
    expect(() => r.uniformInt(0)).toThrow(/uniformInt: n must be an integer in \[1, 2\^32\]/);
  });

  it('normal and exponential: moments and KS against their CDFs', () => {
    const r = rngFor(3);
    const z = draw(N, () => r.normal());
    expectMoments(z, 0, 1, 3, 'normal');
    expect(ksP(z, ndtrF64)).toBeGreaterThan(ALPHA);
    // Box–Muller pairs: both halves are used, and must be independent
    expect(Math.abs(corr(z.slice(1), z.slice(0, -1)))).toBeLessThan(Z / Math.sqrt(N));
    expect(Math.abs(corr(z.slice(1).map((v) => v * v), z.slice(0, -1).map((v) => v * v)))).toBeLessThan(Z / Math.sqrt(N));
    const y = draw(N, () => r.normal(-2, 3));
    expectMoments(y, -2, 9, 3 * 81, 'normal(-2, 3)');
    expect(ksP(y, (x) => ndtrF64((x + 2) / 3))).toBeGreaterThan(ALPHA);
    for (const rate of [1, 0.25]) {
      const e = draw(N, () => r.exponential(rate));
      expectMoments(e, 1 / rate, 1 / rate ** 2, 9 / rate ** 4, `exponential(${rate})`);
      expect(ksP(e, (x) => -Math.expm1(-rate * x))).toBeGreaterThan(ALPHA);
    }
    expect(() => r.normal(0, -1)).toThrow(/normal: sigma must be a nonnegative finite number, got -1/);
    expect(() => r.exponential(0)).toThrow(/exponential: rate must be a positive finite number/);
  });
});

describe('continuous samplers', () => {
  it('gamma: moments and KS at shapes 0.01 .. 1000; rate scales', () => {
    const r = rngFor(4);
    for (const a of [0.01, 0.1, 0.5, 1, 2.5, 10, 1000]) {
      const g = draw(NBIG, () => r.gamma(a));
      expect(g.every((x) => x >= 0 && Number.isFinite(x))).toBe(true);
      expectMoments(g, a, a, 3 * a * a + 6 * a, `gamma(${a})`);
      const cdf = (x: number) => gammaincF64(a, x);
      expect(ksP(g, cdf)).toBeGreaterThan(ALPHA);
      expect(pitChiSquareP(g, cdf)).toBeGreaterThan(ALPHA);
    }
    const g = draw(N, () => r.gamma(2, 4));
    expectMoments(g, 0.5, 2 / 16, (3 * 4 + 12) / 256, 'gamma(2, rate 4)');
    expect(() => r.gamma(0)).toThrow(/gamma: shape must be a positive finite number, got 0/);
    expect(() => r.gamma(1, -2)).toThrow(/gamma: rate must be a positive finite number/);
  });

  it('gammaLog is exact in the far left tail (shape 0.001, where Gamma draws underflow)', () => {
    const r = rngFor(5);
    const a = 0.001;
    const lg = draw(N, () => r.gammaLog(a));
    expect(lg.every(Number.isFinite)).toBe(true);
    // P(log G <= t) = P(a, e^t), and for e^t < 1e-20 that is e^{at}/Γ(a+1) to 1e-20.
    const cdf = (t: number) => (t < -46 ? Math.exp(a * t - lgammaF64(a + 1)) : gammaincF64(a, Math.exp(t)));
    expect(ksP(lg, cdf)).toBeGreaterThan(ALPHA);
    expect(Math.min(...lg)).toBeLessThan(-745); // this many draws reach below the double range
  });

  it('beta, chiSquare, studentT: moments and KS against the incomplete beta/gamma CDFs', () => {
    const r = rngFor(6);
    for (const [a, b] of [[0.5, 0.5], [2, 5], [0.1, 3], [50, 20]]) {
      const x = draw(N, () => r.beta(a, b));
      const s = a + b;
      expectMoments(x, a / s, (a * b) / (s * s * (s + 1)), undefined, `beta(${a}, ${b})`);
      expect(ksP(x, (v) => betaincF64(a, b, Math.min(1, Math.max(0, v))))).toBeGreaterThan(ALPHA);
    }
    for (const k of [0.5, 3, 50]) {
      const x = draw(N, () => r.chiSquare(k));
      expectMoments(x, k, 2 * k, 12 * k * (k + 4), `chiSquare(${k})`);
      expect(ksP(x, (v) => gammaincF64(k / 2, v / 2))).toBeGreaterThan(ALPHA);
    }
    const nu10 = draw(N, () => r.studentT(10));
    expectMoments(nu10, 0, 10 / 8, (3 * 100) / (8 * 6), 'studentT(10)');
    for (const nu of [1, 3.5, 30]) {
      const t = draw(N, () => r.studentT(nu));
      const cdf = (v: number) => {
        const tail = 0.5 * betaincF64(nu / 2, 0.5, nu / (nu + v * v));
        return v > 0 ? 1 - tail : tail;
      };
      expect(ksP(t, cdf)).toBeGreaterThan(ALPHA);
    }
    expect(() => r.beta(1, NaN)).toThrow(/beta: b must be a positive finite number, got NaN/);
    expect(() => r.studentT(-1)).toThrow(/studentT: nu/);
    expect(() => r.chiSquare(Infinity)).toThrow(/chiSquare: k/);
  });

  it('dirichlet: Beta marginals, sums to 1, and tiny alphas stay finite', () => {
    const r = rngFor(7);
    const alpha = [1, 2, 3.5];
    const a0 = alpha.reduce((s, a) => s + a, 0);
    const xs = draw(N, () => 0).map(() => r.dirichlet(alpha));
    expect(xs.every((x) => Math.abs(x.reduce((s, v) => s + v, 0) - 1) <= 4 * 2 ** -52)).toBe(true);
    alpha.forEach((a, i) => {
      const col = xs.map((x) => x[i]);
      expectMoments(col, a / a0, (a * (a0 - a)) / (a0 * a0 * (a0 + 1)), undefined, `dirichlet[${i}]`);
      expect(ksP(col, (v) => betaincF64(a, a0 - a, Math.min(1, Math.max(0, v))))).toBeGreaterThan(ALPHA);
    });
    for (let i = 0; i < 1000; i++) {
      const x = r.dirichlet([1e-3, 1e-3, 1e-3]);
      expect(x.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(Math.abs(x[0] + x[1] + x[2] - 1)).toBeLessThanOrEqual(4 * 2 ** -52);
    }
    expect(() => r.dirichlet([])).toThrow(/dirichlet: alpha is empty/);
    expect(() => r.dirichlet([1, 0])).toThrow(/dirichlet: alpha\[1\] must be a positive finite number, got 0/);
  });

  it('vonMises: KS against the numerically integrated CDF from kappa 0 to 1e8, mean resultant I1/I0', () => {
    const r = rngFor(8);
    /** CDF of θ - mu (wrapped to [-π, π)) by cumulative trapezoid on a grid scaled to the spread. */
    const vmCdf = (kappa: number) => {
      const L = Math.min(Math.PI, 40 / Math.sqrt(Math.max(kappa, 1e-300)));
      const m = 40000;
      const grid: number[] = [];
      const cum: number[] = [0];
      const dens = (t: number) => Math.exp(-2 * kappa * Math.sin(t / 2) ** 2); // e^{κ(cos t - 1)}
      for (let i = 0; i <= m; i++) grid.push(-L + (2 * L * i) / m);
      for (let i = 1; i <= m; i++) cum.push(cum[i - 1] + 0.5 * (dens(grid[i - 1]) + dens(grid[i])) * (grid[i] - grid[i - 1]));
      const total = cum[m];
      return (t: number) => {
        if (t <= -L) return 0;
        if (t >= L) return 1;
        const j = Math.min(m - 1, Math.floor(((t + L) / (2 * L)) * m));
        const w = (t - grid[j]) / (grid[j + 1] - grid[j]);
        return (cum[j] + w * (cum[j + 1] - cum[j])) / total;
      };
    };
    const wrap = (x: number) => x - 2 * Math.PI * Math.floor((x + Math.PI) / (2 * Math.PI));
    for (const [mu, kappa] of [[0, 0], [1, 1e-3], [-3, 0.5], [2.5, 2], [0, 50], [3.1, 1e8]]) {
      const th = draw(N, () => r.vonMises(mu, kappa));
      expect(th.every((t) => t >= -Math.PI && t < Math.PI)).toBe(true);
      const centred = th.map((t) => wrap(t - mu));
      expect(ksP(centred, vmCdf(kappa))).toBeGreaterThan(ALPHA);
      // E cos(θ - μ) = A(κ) = I1/I0; Var cos(θ - μ) = 1 - A/κ - A² (1/2 at κ = 0)
      const A = besselI1OverI0F64(kappa);
      const varCos = kappa === 0 ? 0.5 : 1 - A / kappa - A * A;
      const c = centred.map(Math.cos);
      expect(Math.abs(mean(c) - A)).toBeLessThanOrEqual(Z * Math.sqrt(varCos / N));
    }
    expect(() => r.vonMises(0, -1)).toThrow(/vonMises: kappa must be a nonnegative finite number, got -1/);
    expect(() => r.vonMises(Infinity, 1)).toThrow(/vonMises: mu must be finite/);
  });
});

describe('discrete samplers', () => {
  const poissonPmf = (lam: number) => (k: number) => Math.exp(k * Math.log(lam) - lam - lgammaF64(k + 1));

  it('poisson: inversion and PTRS regimes, chi-square and moments, lambda 0 .. 1e15', () => {
    const r = rngFor(10);
    expect(draw(100, () => r.poisson(0)).every((k) => k === 0)).toBe(true);
    for (const lam of [0.5, 3, 9.99, 10, 30, 1000]) {
      const xs = draw(lam < 10 ? N : NBIG, () => r.poisson(lam));
      expect(xs.every((k) => Number.isInteger(k) && k >= 0)).toBe(true);
      expectMoments(xs, lam, lam, lam + 3 * lam * lam, `poisson(${lam})`);
      expect(chiSquarePmfP(xs, poissonPmf(lam), Math.ceil(lam + 8 * Math.sqrt(lam) + 10))).toBeGreaterThan(ALPHA);
    }
    for (const lam of [1e6, 1e15]) {
      const xs = draw(N, () => r.poisson(lam));
      expectMoments(xs, lam, lam, lam + 3 * lam * lam, `poisson(${lam})`);
      if (lam === 1e6) {
        // P(X <= k) = Q(k + 1, λ)
        expect(chiSquareCdfP(xs, (k) => gammainccF64(k + 1, lam), edgesAround(lam, Math.sqrt(lam)))).toBeGreaterThan(ALPHA);
      }
    }
    expect(() => r.poisson(-1)).toThrow(/poisson: lambda must be a nonnegative finite number, got -1/);
    expect(() => r.poisson(NaN)).toThrow(/poisson: lambda/);
  });

  it('binomial: edge cases, inversion and BTRS regimes, n up to 1e9', () => {
    const r = rngFor(11);
    expect(draw(50, () => r.binomial(0, 0.3)).every((k) => k === 0)).toBe(true);
    expect(draw(50, () => r.binomial(17, 0)).every((k) => k === 0)).toBe(true);
    expect(draw(50, () => r.binomial(17, 1)).every((k) => k === 17)).toBe(true);
    const binomPmf = (n: number, p: number) => (k: number) =>
      k > n ? 0 : Math.exp(lgammaF64(n + 1) - lgammaF64(k + 1) - lgammaF64(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p));
    for (const [n, p] of [[1, 0.5], [20, 0.3], [30, 0.95], [1000, 0.3], [1000, 0.995], [100, 0.1], [50, 0.4]]) {
      const xs = draw(n * Math.min(p, 1 - p) < 10 ? N : NBIG, () => r.binomial(n, p));
      expect(xs.every((k) => Number.isInteger(k) && k >= 0 && k <= n)).toBe(true);
      const v = n * p * (1 - p);
      expectMoments(xs, n * p, v, v * (1 + 3 * (n - 2) * p * (1 - p)), `binomial(${n}, ${p})`);
      expect(chiSquarePmfP(xs, binomPmf(n, p), n)).toBeGreaterThan(ALPHA);
    }
    // P(X <= k) = I_{1-p}(n - k, k + 1)
    for (const [n, p] of [[1e9, 0.3], [1e9, 5e-9], [1e9, 2e-8]]) {
      const xs = draw(N, () => r.binomial(n, p));
      const v = n * p * (1 - p);
      expectMoments(xs, n * p, v, v * (1 + 3 * (n - 2) * p * (1 - p)), `binomial(${n}, ${p})`);
      const cdf = (k: number) => (k >= n ? 1 : betaincF64(n - k, k + 1, 1 - p));
      expect(chiSquareCdfP(xs, cdf, edgesAround(n * p, Math.sqrt(v)))).toBeGreaterThan(ALPHA);
    }
    expect(() => r.binomial(2.5, 0.5)).toThrow(/binomial: n must be a nonnegative integer, got 2.5/);
    expect(() => r.binomial(5, 1.2)).toThrow(/binomial: p must be a probability in \[0, 1\], got 1.2/);
  });

  it('negBinomial: gamma–Poisson mixture has the negative binomial law', () => {
    const r = rngFor(12);
    for (const [rr, p] of [[3.5, 0.4], [0.1, 0.2], [20, 0.9]]) {
      const xs = draw(N, () => r.negBinomial(rr, p));
      expectMoments(xs, (rr * (1 - p)) / p, (rr * (1 - p)) / (p * p), undefined, `negBinomial(${rr}, ${p})`);
      // P(X <= k) = I_p(r, k + 1)
      const sd = Math.sqrt((rr * (1 - p)) / (p * p));
      expect(chiSquareCdfP(xs, (k) => betaincF64(rr, k + 1, p), edgesAround((rr * (1 - p)) / p, sd))).toBeGreaterThan(ALPHA);
    }
    expect(r.negBinomial(2, 1)).toBe(0);
    expect(() => r.negBinomial(2, 0)).toThrow(/negBinomial: p must be in \(0, 1\], got 0/);
  });

  it('categorical and categoricalLogits: chi-square, zero mass never drawn, clear errors', () => {
    const r = rngFor(13);
    const w = [0.1, 0.2, 0, 3, 1.7];
    const total = w.reduce((s, v) => s + v, 0);
    const xs = draw(N, () => r.categorical(w));
    expect(xs.includes(2)).toBe(false);
    expect(chiSquarePmfP(xs, (k) => (w[k] ?? 0) / total, w.length - 1)).toBeGreaterThan(ALPHA);
    const logits = [-1, 2, -Infinity, 0.5, 2];
    const z = logits.reduce((s, l) => s + Math.exp(l), 0);
    const ys = draw(N, () => r.categoricalLogits(logits));
    expect(ys.includes(2)).toBe(false);
    expect(chiSquarePmfP(ys, (k) => Math.exp(logits[k] ?? -Infinity) / z, logits.length - 1)).toBeGreaterThan(ALPHA);
    expect(draw(100, () => r.categoricalLogits([1000, 1000 - 800])).every((k) => k === 0)).toBe(true); // no overflow
    expect(() => r.categorical([0.5, -0.1])).toThrow(/categorical: probs\[1\] = -0.1 must be a nonnegative finite number/);
    expect(() => r.categorical([0.5, NaN])).toThrow(/probs\[1\] = NaN/);
    expect(() => r.categorical([0, 0])).toThrow(/categorical: probs are all zero/);
    expect(() => r.categorical([])).toThrow(/categorical: probs is empty/);
    expect(() => r.categoricalLogits([-Infinity])).toThrow(/categoricalLogits: logits are all -Infinity/);
    expect(() => r.categoricalLogits([0, NaN])).toThrow(/categoricalLogits: logits\[1\] = NaN/);
  });

  it('property: every sampler returns values in its support for random valid parameters', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1e9 }), (seed, a, p, n) => {
        const r = Key.seed(seed).rng();
        expect(r.gamma(a)).toBeGreaterThanOrEqual(0);
        const b = r.beta(a, 1 / a);
        expect([a, b]).toSatisfy(() => b >= 0 && b <= 1);
        const k = r.binomial(n, p);
        expect([n, p, k]).toSatisfy(() => Number.isInteger(k) && k >= 0 && k <= n);
        expect(Number.isInteger(r.poisson(a))).toBe(true);
        const v = r.vonMises(a, 1 / a);
        expect([a, v]).toSatisfy(() => v >= -Math.PI && v < Math.PI);
        // for tiny ν a sizeable share of t draws exceed the double range (P(|T| > 1e308) ≈ 0.5 at ν = 1e-3)
        const t = r.studentT(a);
        expect([a, t]).toSatisfy(() => !Number.isNaN(t) && (Number.isFinite(t) || a < 0.05));
      }),
      { seed: 31, numRuns: 300 },
    );
  });
});

describe('tensor draws', () => {
  it('uniformTensor / normalTensor: float32, shaped, from the key stream, deterministic', () => {
    const key = Key.seed(77);
    tf.tidy(() => {
      const u = uniformTensor(key, [3, 4, 5]);
      expect(u.dtype).toBe('float32');
      expect(u.shape).toEqual([3, 4, 5]);
      const r = key.rng();
      const want = draw(60, () => Math.fround(r.uniform()));
      expect(Array.from(u.dataSync())).toEqual(want);
      expect(Array.from(uniformTensor(key, [3, 4, 5]).dataSync())).toEqual(want);
      expect(uniformTensor(key, []).shape).toEqual([]);
      expect(uniformTensor(key, [0, 3]).size).toBe(0);
      const big = Array.from(uniformTensor(Key.seed(78), [N]).dataSync());
      expect(big.every((x) => x > 0 && x < 1)).toBe(true);
      expectMoments(big, 0.5, 1 / 12, 1 / 80, 'uniformTensor');
      const z = Array.from(normalTensor(Key.seed(79), [N]).dataSync());
      expectMoments(z, 0, 1, 3, 'normalTensor');
      expect(ksP(z, ndtrF64)).toBeGreaterThan(ALPHA);
    });
    expect(() => uniformTensor(key, [2, -1])).toThrow(/uniformTensor: shape entries must be nonnegative integers/);
    expect(() => normalTensor(key, [1.5])).toThrow(/normalTensor: shape entries/);
    const r = key.rng();
    const seeds = draw(10, () => r.tensorSeed());
    expect(seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 32)).toBe(true);
    expect(new Set(seeds).size).toBe(10);
  });

  describe('on the wasm backend', () => {
    let cpuU: number[] = [];
    let cpuZ: number[] = [];
    beforeAll(async () => {
      cpuU = tf.tidy(() => Array.from(uniformTensor(Key.seed(5), [100]).dataSync()));
      cpuZ = tf.tidy(() => Array.from(normalTensor(Key.seed(5), [100]).dataSync()));
      await useBackend('wasm');
    });
    afterAll(async () => {
      await useBackend('cpu');
    });
    it('gives bit-identical draws to the cpu backend', () => {
      expect(tf.getBackend()).toBe('wasm');
      expect(tf.tidy(() => Array.from(uniformTensor(Key.seed(5), [100]).dataSync()))).toEqual(cpuU);
      expect(tf.tidy(() => Array.from(normalTensor(Key.seed(5), [100]).dataSync()))).toEqual(cpuZ);
    });
  });
});
