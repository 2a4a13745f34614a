// EM closed-form M-steps for gamma components (shape by Newton on the profile equation,
// then rate) and Student-t components (ECM with the latent scale u), against float64
// references written here: the gamma MLE, a t IRLS fit, and float64 EM on the same data.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend, Key } from '../../src/tensor';
import { compile } from '../../src';
import { em } from '../../src/infer/em';
import { closedFormUpdates, gammaShapeFromStat } from '../../src/infer/em/closed-form';

beforeAll(async () => {
  await useBackend('cpu');
});

// ---- float64 special functions, independent of the library ----

/** log Γ(x), Lanczos (g = 7, 9 terms), x > 0. */
function lgamma64(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma64(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ψ(x): recurrence up to x >= 10, then the asymptotic series. */
function digamma64(x: number): number {
  let r = 0;
  while (x < 10) { r -= 1 / x; x += 1; }
  const f = 1 / (x * x);
  return r + Math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))));
}

/** ψ'(x): recurrence, then the asymptotic series. */
function trigamma64(x: number): number {
  let r = 0;
  while (x < 10) { r += 1 / (x * x); x += 1; }
  const f = 1 / (x * x);
  return r + 1 / x + f / 2 + (f / x) * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f / 30)));
}

/** Plain Newton (in log a) on log a - ψ(a) = s. */
function gammaShape64(s: number): number {
  let la = Math.log(0.5 / s); // a ≈ 1 / (2 s) for large a
  for (let i = 0; i < 200; i++) {
    const a = Math.exp(la);
    const g = Math.log(a) - digamma64(a) - s;
    const dg = (1 / a - trigamma64(a)) * a; // d/d(log a)
    const step = g / dg;
    la -= Math.max(-2, Math.min(2, step));
    if (Math.abs(step) < 1e-14) break;
  }
  return Math.exp(la);
}

const gammaLp = (x: number, a: number, b: number) => a * Math.log(b) - lgamma64(a) + (a - 1) * Math.log(x) - b * x;
const tLp = (y: number, nu: number, mu: number, s: number) => {
  const z = (y - mu) / s;
  return lgamma64((nu + 1) / 2) - lgamma64(nu / 2) - 0.5 * Math.log(nu * Math.PI) - Math.log(s) - ((nu + 1) / 2) * Math.log1p((z * z) / nu);
};
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((a, v) => a + Math.exp(v - m), 0));
};

/** Responsibilities and log likelihood of a mixture in float64. */
function eStep64(n: number, K: number, w: number[], lp: (i: number, k: number) => number): { r: number[][]; ll: number } {
  let ll = 0;
  const r: number[][] = [];
  for (let i = 0; i < n; i++) {
    const l = Array.from({ length: K }, (_, k) => Math.log(w[k]) + lp(i, k));
    const z = lse(l);
    ll += z;
    r.push(l.map((v) => Math.exp(v - z)));
  }
  return { r, ll };
}

// ---- gamma ----

const gammaMix = `
  model g {
    data K: int
    data x: real<lower=0>[N]
    param w: simplex[K]
    param a: positive[K]
    param b: positive[K]
    for n in 1..N { x[n] ~ mixture(w, k -> gamma(a[k], b[k])) }
  }`;

type GammaFit = { w: number[]; a: number[]; b: number[] };

/** One float64 gamma-mixture M-step from responsibilities. */
function gammaMStep64(x: number[], r: number[][], K: number): GammaFit {
  const fit: GammaFit = { w: [], a: [], b: [] };
  for (let k = 0; k < K; k++) {
    let n = 0, sx = 0, sl = 0;
    x.forEach((v, i) => { n += r[i][k]; sx += r[i][k] * v; sl += r[i][k] * Math.log(v); });
    const a = gammaShape64(Math.log(sx / n) - sl / n);
    fit.w.push(n / x.length);
    fit.a.push(a);
    fit.b.push((a * n) / sx);
  }
  return fit;
}

function gammaEm64(x: number[], start: GammaFit, iters: number): GammaFit & { ll: number } {
  let p = start;
  let ll = -Infinity;
  for (let it = 0; it < iters; it++) {
    const e = eStep64(x.length, p.w.length, p.w, (i, k) => gammaLp(x[i], p.a[k], p.b[k]));
    if (Math.abs(e.ll - ll) < 1e-11 * Math.abs(e.ll)) { ll = e.ll; break; }
    ll = e.ll;
    p = gammaMStep64(x, e.r, p.w.length);
  }
  return { ...p, ll };
}

/** Expected complete-data log density Q(θ) for responsibilities r, float64. */
function gammaQ(x: number[], r: number[][], p: GammaFit): number {
  let q = 0;
  x.forEach((v, i) => p.w.forEach((wk, k) => { q += r[i][k] * (Math.log(wk) + gammaLp(v, p.a[k], p.b[k])); }));
  return q;
}

function gammaData(n: number, w: number[], a: number[], b: number[], seed: number): number[] {
  const rng = Key.seed(seed).rng();
  return Array.from({ length: n }, () => {
    const k = rng.categorical(w);
    return rng.gamma(a[k], b[k]);
  });
}

describe('EM, gamma components', () => {
  it('K = 1: equals the float64 gamma MLE', () => {
    const x = gammaData(400, [1], [2.5], [1.5], 5);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const meanLog = x.reduce((s, v) => s + Math.log(v), 0) / x.length;
    const a = gammaShape64(Math.log(mean) - meanLog);
    const b = a / mean;
    // The reference solves its equation: log a - ψ(a) = s to float64 precision.
    expect(Math.abs(Math.log(a) - digamma64(a) - (Math.log(mean) - meanLog))).toBeLessThan(1e-12);
    const bm = compile(gammaMix).bind({ K: 1, x });
    const r = em(bm, { init: { w: [1], a: [1], b: [1] }, maxIter: 3, tol: 0 });
    const got = r.params as { a: number[]; b: number[] };
    expect(Math.abs(got.a[0] / a - 1)).toBeLessThan(1e-4);
    expect(Math.abs(got.b[0] / b - 1)).toBeLessThan(1e-4);
    expect(r.closedForm.sort()).toEqual(['a', 'b', 'w']);
    bm.dispose();
  });

  const truth = { w: [0.4, 0.6], a: [2, 20], b: [2, 2] };
  const x = gammaData(600, truth.w, truth.a, truth.b, 17);

  it('one M-step is the float64 argmax of Q, and Q does not decrease', () => {
    const start: GammaFit = { w: [0.5, 0.5], a: [1, 5], b: [1, 1] };
    const bm = compile(gammaMix).bind({ K: 2, x });
    const r = em(bm, { init: start, maxIter: 1, tol: 0 });
    const e = eStep64(x.length, 2, start.w, (i, k) => gammaLp(x[i], start.a[k], start.b[k]));
    const ref = gammaMStep64(x, e.r, 2);
    const got = r.params as unknown as GammaFit;
    for (let k = 0; k < 2; k++) {
      expect(Math.abs(got.w[k] / ref.w[k] - 1)).toBeLessThan(1e-5);
      expect(Math.abs(got.a[k] / ref.a[k] - 1)).toBeLessThan(2e-4);
      expect(Math.abs(got.b[k] / ref.b[k] - 1)).toBeLessThan(2e-4);
    }
    const q0 = gammaQ(x, e.r, start);
    const q1 = gammaQ(x, e.r, got);
    expect(q1).toBeGreaterThan(q0);
    // The update is Q's maximiser: moving either shape or rate by 1% lowers Q.
    for (const key of ['a', 'b'] as const) for (let k = 0; k < 2; k++) for (const f of [0.99, 1.01]) {
      const moved = { ...got, [key]: got[key].map((v, j) => (j === k ? v * f : v)) };
      expect(gammaQ(x, e.r, moved)).toBeLessThan(q1);
    }
    bm.dispose();
  });

  it('K = 2: monotone, equals float64 EM, within 4 SE of the truth', () => {
    const bm = compile(gammaMix).bind({ K: 2, x });
    const r = em(bm, { seed: 2, maxIter: 60, tol: 0 });
    for (let i = 1; i < r.trace.length; i++) {
      expect(r.trace[i]).toBeGreaterThanOrEqual(r.trace[i - 1] - 1e-5 * Math.abs(r.trace[i - 1]));
    }
    const got = r.params as unknown as GammaFit;
    const order = got.a[0] < got.a[1] ? [0, 1] : [1, 0];
    const fit = { w: order.map((k) => got.w[k]), a: order.map((k) => got.a[k]), b: order.map((k) => got.b[k]) };
    const ref = gammaEm64(x, truth, 2000);
    // The reported log likelihood is that of the reported params (float64), and the MLE's.
    const llAt = eStep64(x.length, 2, fit.w, (i, k) => gammaLp(x[i], fit.a[k], fit.b[k])).ll;
    expect(Math.abs(r.logLik - llAt)).toBeLessThan(1e-5 * Math.abs(llAt));
    expect(Math.abs(llAt - ref.ll)).toBeLessThan(1e-3);
    for (let k = 0; k < 2; k++) {
      expect(Math.abs(fit.w[k] - ref.w[k])).toBeLessThan(1e-4);
      expect(Math.abs(fit.a[k] / ref.a[k] - 1)).toBeLessThan(2e-3);
      expect(Math.abs(fit.b[k] / ref.b[k] - 1)).toBeLessThan(2e-3);
      // Complete-data Fisher information (well separated): var(a) = a / (n (a ψ'(a) - 1)), var(b) = b² ψ'(a) / (n (a ψ'(a) - 1)).
      const n = truth.w[k] * x.length;
      const { a, b } = { a: truth.a[k], b: truth.b[k] };
      const d = a * trigamma64(a) - 1;
      expect(Math.abs(fit.a[k] - a)).toBeLessThan(4 * Math.sqrt(a / (n * d)));
      expect(Math.abs(fit.b[k] - b)).toBeLessThan(4 * Math.sqrt((b * b * trigamma64(a)) / (n * d)));
    }
    bm.dispose();
  });

  it('the shape solver matches float64 Newton from tiny to large statistics', () => {
    for (const st of [1e-7, 1e-4, 0.01, 0.17, 1, 4, 30]) {
      const a = gammaShapeFromStat(st);
      // log a - ψ(a) ≈ 1/(2a) cancels between two numbers near log a: a rounding of
      // 1e-16 log a in it moves a by that relative to s (both solvers have it).
      expect(Math.abs(a / gammaShape64(st) - 1)).toBeLessThan(1e-9 + (1e-15 * Math.abs(Math.log(a))) / st);
    }
    expect(Number.isNaN(gammaShapeFromStat(0))).toBe(true);
  });

  it('vector observations: per-element and pooled params (K = 1) equal the float64 MLEs', () => {
    const cols = [gammaData(200, [1], [1.5], [0.5], 31), gammaData(200, [1], [6], [3], 32)];
    const xm = cols[0].map((v, i) => [v, cols[1][i]]);
    const mle = (v: number[]) => {
      const m = v.reduce((p, q) => p + q, 0) / v.length;
      const a = gammaShape64(Math.log(m) - v.reduce((p, q) => p + Math.log(q), 0) / v.length);
      return { a, b: a / m };
    };
    const perElement = `model g { data K: int  data x: real<lower=0>[N, D]  param w: simplex[K]  param a: positive[K, D]  param b: positive[K, D]
      for n in 1..N { x[n] ~ mixture(w, k -> gamma(a[k], b[k])) } }`;
    const bm = compile(perElement).bind({ K: 1, x: xm });
    const r = em(bm, { init: { w: [1], a: [[1, 1]], b: [[1, 1]] }, maxIter: 2, tol: 0 });
    const got = r.params as { a: number[][]; b: number[][] };
    for (let d = 0; d < 2; d++) {
      const ref = mle(cols[d]);
      expect(Math.abs(got.a[0][d] / ref.a - 1)).toBeLessThan(1e-4);
      expect(Math.abs(got.b[0][d] / ref.b - 1)).toBeLessThan(1e-4);
    }
    bm.dispose();
    const pooled = perElement.replace('param a: positive[K, D]  param b: positive[K, D]', 'param a: positive[K]  param b: positive[K]');
    const bm2 = compile(pooled).bind({ K: 1, x: xm });
    const r2 = em(bm2, { init: { w: [1], a: [1], b: [1] }, maxIter: 2, tol: 0 });
    const got2 = r2.params as { a: number[]; b: number[] };
    const ref2 = mle([...cols[0], ...cols[1]]);
    expect(Math.abs(got2.a[0] / ref2.a - 1)).toBeLessThan(1e-4);
    expect(Math.abs(got2.b[0] / ref2.b - 1)).toBeLessThan(1e-4);
    expect(r2.closedForm.sort()).toEqual(['a', 'b', 'w']);
    bm2.dispose();
  });

  it('a fixed shape: the rate alone, rate = shape Σr / Σrx', () => {
    const model = `model g { data K: int  data x: real<lower=0>[N]  param w: simplex[K]  param b: positive[K]
      for n in 1..N { x[n] ~ mixture(w, k -> gamma(3, b[k])) } }`;
    const bm = compile(model).bind({ K: 2, x });
    expect(closedFormUpdates(bm, { priors: false }).map((u) => `${u.param}:${u.rule}`).sort())
      .toEqual(['b:gamma component rates', 'w:categorical weights']);
    const start = { w: [0.5, 0.5], b: [2, 0.5] };
    const r = em(bm, { init: start, maxIter: 1, tol: 0 });
    const e = eStep64(x.length, 2, start.w, (i, k) => gammaLp(x[i], 3, start.b[k]));
    for (let k = 0; k < 2; k++) {
      const n = e.r.reduce((s, ri) => s + ri[k], 0);
      const sx = e.r.reduce((s, ri, i) => s + ri[k] * x[i], 0);
      expect(Math.abs((r.params as { b: number[] }).b[k] / ((3 * n) / sx) - 1)).toBeLessThan(1e-5);
    }
    bm.dispose();
  });
});

// ---- Student-t ----

const tMixData = `
  model t {
    data K: int
    data nu: real<lower=0>
    data y: real[N]
    param w: simplex[K]
    param mu: real[K]
    param sigma: positive[K]
    for n in 1..N { y[n] ~ mixture(w, k -> student_t(nu, mu[k], sigma[k])) }
  }`;

function tData(n: number, w: number[], nu: number, mu: number[], s: number[], seed: number): number[] {
  const rng = Key.seed(seed).rng();
  return Array.from({ length: n }, () => {
    const k = rng.categorical(w);
    return mu[k] + s[k] * rng.studentT(nu);
  });
}

type TFit = { w: number[]; mu: number[]; sigma: number[] };

/** float64 EM for a t mixture with known nu (u from the old values for both mu and sigma). */
function tEm64(y: number[], nu: number, start: TFit, iters: number): TFit & { ll: number } {
  let p = start;
  let ll = -Infinity;
  const K = start.w.length;
  for (let it = 0; it < iters; it++) {
    const e = eStep64(y.length, K, p.w, (i, k) => tLp(y[i], nu, p.mu[k], p.sigma[k]));
    if (Math.abs(e.ll - ll) < 1e-12 * Math.abs(e.ll)) { ll = e.ll; break; }
    ll = e.ll;
    const next: TFit = { w: [], mu: [], sigma: [] };
    for (let k = 0; k < K; k++) {
      const u = y.map((v) => (nu + 1) / (nu + ((v - p.mu[k]) / p.sigma[k]) ** 2));
      let n = 0, su = 0, suy = 0;
      y.forEach((v, i) => { n += e.r[i][k]; su += e.r[i][k] * u[i]; suy += e.r[i][k] * u[i] * v; });
      const m = suy / su;
      const ss = y.reduce((s, v, i) => s + e.r[i][k] * u[i] * (v - m) ** 2, 0);
      next.w.push(n / y.length);
      next.mu.push(m);
      next.sigma.push(Math.sqrt(ss / n));
    }
    p = next;
  }
  return { ...p, ll };
}

/** IRLS for the t location/scale MLE (nu known), float64. */
function tIrls(y: number[], nu: number): { mu: number; s: number } {
  let mu = 0, s = 1;
  for (let it = 0; it < 5000; it++) {
    const u = y.map((v) => (nu + 1) / (nu + ((v - mu) / s) ** 2));
    const su = u.reduce((a, v) => a + v, 0);
    const m = u.reduce((a, v, i) => a + v * y[i], 0) / su;
    const s2 = Math.sqrt(u.reduce((a, v, i) => a + v * (y[i] - m) ** 2, 0) / y.length);
    const done = Math.abs(m - mu) < 1e-14 && Math.abs(s2 - s) < 1e-14;
    mu = m; s = s2;
    if (done) break;
  }
  return { mu, s };
}

describe('EM, Student-t components', () => {
  it('K = 1, fixed nu: equals a float64 IRLS fit of location and scale', () => {
    const nu = 4;
    const y = tData(300, [1], nu, [1], [2], 8);
    const { mu, s } = tIrls(y, nu);
    // The fixed point is the MLE: the score in mu and sigma is zero.
    const scoreMu = y.reduce((a, v) => a + ((nu + 1) * (v - mu)) / (nu * s * s + (v - mu) ** 2), 0);
    expect(Math.abs(scoreMu)).toBeLessThan(1e-8);
    const bm = compile(tMixData).bind({ K: 1, nu, y });
    const r = em(bm, { init: { w: [1], mu: [0], sigma: [1] }, maxIter: 150, tol: 0, regCovar: 0 });
    const got = r.params as unknown as TFit;
    expect(Math.abs(got.mu[0] - mu)).toBeLessThan(1e-4 * s);
    expect(Math.abs(got.sigma[0] / s - 1)).toBeLessThan(1e-4);
    for (let i = 1; i < r.trace.length; i++) {
      expect(r.trace[i]).toBeGreaterThanOrEqual(r.trace[i - 1] - 1e-5 * Math.abs(r.trace[i - 1]));
    }
    bm.dispose();
  });

  const truth: TFit = { w: [0.5, 0.5], mu: [-4, 4], sigma: [1, 1.5] };
  const nu = 3;
  const y = tData(500, truth.w, nu, truth.mu, truth.sigma, 23);

  it('one iteration equals the float64 ECM step', () => {
    const bm = compile(tMixData).bind({ K: 2, nu, y });
    const start: TFit = { w: [0.3, 0.7], mu: [-1, 2], sigma: [2, 1] };
    const r = em(bm, { init: start, maxIter: 1, tol: 0, regCovar: 0 });
    const ref = tEm64(y, nu, start, 1); // one E-step and one M-step
    const got = r.params as unknown as TFit;
    for (let k = 0; k < 2; k++) {
      expect(Math.abs(got.w[k] - ref.w[k])).toBeLessThan(1e-5);
      expect(Math.abs(got.mu[k] - ref.mu[k])).toBeLessThan(1e-4);
      expect(Math.abs(got.sigma[k] / ref.sigma[k] - 1)).toBeLessThan(1e-4);
    }
    bm.dispose();
  });

  it('K = 2, fixed nu: monotone, equals float64 EM, near the truth', () => {
    const bm = compile(tMixData).bind({ K: 2, nu, y });
    const r = em(bm, { seed: 4, maxIter: 80, tol: 0 });
    for (let i = 1; i < r.trace.length; i++) {
      expect(r.trace[i]).toBeGreaterThanOrEqual(r.trace[i - 1] - 1e-5 * Math.abs(r.trace[i - 1]));
    }
    const got = r.params as unknown as TFit;
    const order = got.mu[0] < got.mu[1] ? [0, 1] : [1, 0];
    const fit = { w: order.map((k) => got.w[k]), mu: order.map((k) => got.mu[k]), sigma: order.map((k) => got.sigma[k]) };
    const ref = tEm64(y, nu, truth, 5000);
    const llAt = eStep64(y.length, 2, fit.w, (i, k) => tLp(y[i], nu, fit.mu[k], fit.sigma[k])).ll;
    expect(Math.abs(llAt - ref.ll)).toBeLessThan(1e-3);
    for (let k = 0; k < 2; k++) {
      expect(Math.abs(fit.w[k] - ref.w[k])).toBeLessThan(1e-3);
      expect(Math.abs(fit.mu[k] - ref.mu[k])).toBeLessThan(2e-3 * ref.sigma[k]);
      expect(Math.abs(fit.sigma[k] / ref.sigma[k] - 1)).toBeLessThan(2e-3);
      // Fisher information of the t with nu known: var(mu) = σ²(ν+3)/((ν+1)n), var(σ) = σ²(ν+3)/(2νn).
      const n = truth.w[k] * y.length;
      const s = truth.sigma[k];
      expect(Math.abs(fit.mu[k] - truth.mu[k])).toBeLessThan(4 * Math.sqrt((s * s * (nu + 3)) / ((nu + 1) * n)));
      expect(Math.abs(fit.sigma[k] - s)).toBeLessThan(4 * Math.sqrt((s * s * (nu + 3)) / (2 * nu * n)));
    }
    bm.dispose();
  });

  it('vector observations, K = 1: each column equals its float64 IRLS fit', () => {
    const cols = [tData(200, [1], nu, [2], [0.5], 41), tData(200, [1], nu, [-1], [3], 42)];
    const ym = cols[0].map((v, i) => [v, cols[1][i]]);
    const model = `model t { data K: int  data y: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param sigma: positive[K, D]
      for n in 1..N { y[n] ~ mixture(w, k -> student_t(${nu}, mu[k], sigma[k])) } }`;
    const bm = compile(model).bind({ K: 1, y: ym });
    const r = em(bm, { init: { w: [1], mu: [[0, 0]], sigma: [[1, 1]] }, maxIter: 150, tol: 0, regCovar: 0 });
    const got = r.params as { mu: number[][]; sigma: number[][] };
    for (let d = 0; d < 2; d++) {
      const ref = tIrls(cols[d], nu);
      expect(Math.abs(got.mu[0][d] - ref.mu)).toBeLessThan(1e-4 * ref.s);
      expect(Math.abs(got.sigma[0][d] / ref.s - 1)).toBeLessThan(1e-4);
    }
    expect(r.closedForm.sort()).toEqual(['mu', 'sigma', 'w']);
    bm.dispose();
  });

  it('hidden Markov chain with t emissions (constant nu): recognised and monotone', () => {
    const hmm = `model h { data K: int  data y: real[N]  param p0: simplex[K]  param A: simplex[K, K]  param mu: real[K]  param s: positive[K]
      z[1] ~ categorical(p0)
      for t in 2..N { z[t] ~ categorical(A[z[t-1]]) }
      for t in 1..N { y[t] ~ student_t(3, mu[z[t]], s[z[t]]) } }`;
    const rng = Key.seed(51).rng();
    let state = 0;
    const yh = Array.from({ length: 150 }, () => {
      if (rng.uniform() < 0.1) state = 1 - state;
      return (state ? 3 : -3) + rng.studentT(3);
    });
    const bm = compile(hmm).bind({ K: 2, y: yh });
    const r = em(bm, { seed: 1, maxIter: 25, tol: 0 });
    expect(r.closedForm.sort()).toEqual(['A', 'mu', 'p0', 's']);
    for (let i = 1; i < r.trace.length; i++) {
      expect(r.trace[i]).toBeGreaterThanOrEqual(r.trace[i - 1] - 1e-5 * Math.abs(r.trace[i - 1]));
    }
    const mu = [...(r.params as { mu: number[] }).mu].sort((a, b) => a - b);
    // 75 points a state, t3 scale 1: SE of a location about 0.14; 4 SE.
    expect(Math.abs(mu[0] + 3)).toBeLessThan(0.6);
    expect(Math.abs(mu[1] - 3)).toBeLessThan(0.6);
    bm.dispose();
  });

  it('nu as a param goes to the gradient M-step; a constant nu and a shared scale are recognised', () => {
    const withNu = `model t { data K: int  data y: real[N]  param w: simplex[K]  param nu: positive[K]  param mu: real[K]  param sigma: positive[K]
      for n in 1..N { y[n] ~ mixture(w, k -> student_t(nu[k], mu[k], sigma[k])) } }`;
    const bm = compile(withNu).bind({ K: 2, y });
    expect(closedFormUpdates(bm, { priors: false }).map((u) => `${u.param}:${u.rule}`).sort())
      .toEqual(['mu:student_t component locations', 'sigma:student_t component scales', 'w:categorical weights']);
    const r = em(bm, { seed: 4, maxIter: 15, tol: 0 });
    expect(r.closedForm.sort()).toEqual(['mu', 'sigma', 'w']);
    for (let i = 1; i < r.trace.length; i++) {
      expect(r.trace[i]).toBeGreaterThanOrEqual(r.trace[i - 1] - 1e-5 * Math.abs(r.trace[i - 1]));
    }
    bm.dispose();
    const shared = `model t { data K: int  data y: real[N]  param w: simplex[K]  param mu: real[K]  param s: positive
      for n in 1..N { y[n] ~ mixture(w, k -> student_t(5, mu[k], s)) } }`;
    const bm2 = compile(shared).bind({ K: 2, y });
    expect(closedFormUpdates(bm2, { priors: false }).map((u) => `${u.param}:${u.rule}`).sort())
      .toEqual(['mu:student_t component locations', 's:student_t shared scale', 'w:categorical weights']);
    bm2.dispose();
    // An ordered location (the stdlib model) takes the isotonic closed form (next test).
    const ordered = withNu.replace('param mu: real[K]', 'param mu: ordered[K]');
    const bm3 = compile(ordered).bind({ K: 2, y });
    expect(closedFormUpdates(bm3, { priors: false }).map((u) => `${u.param}:${u.rule}`).sort())
      .toEqual(['mu:student_t ordered component locations', 'sigma:student_t component scales', 'w:categorical weights']);
    bm3.dispose();
  });

  it('ordered locations: one iteration equals the float64 ECM step with isotonic locations (weights Σ r u / σ²), and EM stays monotone', () => {
    const src = tMixData.replace('param mu: real[K]', 'param mu: ordered[K]');
    const bm = compile(src).bind({ K: 2, nu, y });
    // A narrow component near the middle and a wide one: the wide one's unconstrained
    // location falls below the narrow one's, so the order constraint binds.
    const start: TFit = { w: [0.5, 0.5], mu: [0.9, 1.0], sigma: [0.5, 6] };
    const r = em(bm, { init: start, maxIter: 1, tol: 0, regCovar: 0 });
    expect(r.closedForm).toContain('mu');
    const e = eStep64(y.length, 2, start.w, (i, k) => tLp(y[i], nu, start.mu[k], start.sigma[k]));
    const m: number[] = [];
    const d: number[] = [];
    const us: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const u = y.map((v) => (nu + 1) / (nu + ((v - start.mu[k]) / start.sigma[k]) ** 2));
      us.push(u);
      let su = 0, suy = 0;
      y.forEach((v, i) => { su += e.r[i][k] * u[i]; suy += e.r[i][k] * u[i] * v; });
      m.push(suy / su);
      d.push(su / start.sigma[k] ** 2);
    }
    expect(m[0], 'the unconstrained locations must violate the order for this check to mean anything').toBeGreaterThan(m[1]);
    // Isotonic regression of two values: their weighted mean for both (ties split by the code's 1e-6 gap).
    const pooled = (d[0] * m[0] + d[1] * m[1]) / (d[0] + d[1]);
    const got = r.params as unknown as TFit;
    expect(Math.abs(got.mu[0] - pooled)).toBeLessThan(1e-4);
    expect(Math.abs(got.mu[1] - pooled)).toBeLessThan(1e-4);
    expect(got.mu[1]).toBeGreaterThan(got.mu[0]);
    // The scales use the same u and the new locations.
    for (let k = 0; k < 2; k++) {
      let n = 0, ss = 0;
      y.forEach((v, i) => { n += e.r[i][k]; ss += e.r[i][k] * us[k][i] * (v - pooled) ** 2; });
      expect(Math.abs(got.sigma[k] / Math.sqrt(ss / n) - 1)).toBeLessThan(1e-4);
    }
    const run = em(bm, { init: start, maxIter: 60, tol: 0 });
    for (let i = 1; i < run.trace.length; i++) {
      expect(run.trace[i]).toBeGreaterThanOrEqual(run.trace[i - 1] - 1e-5 * Math.abs(run.trace[i - 1]));
    }
    const fit = run.params as unknown as TFit;
    expect(fit.mu[0]).toBeLessThan(fit.mu[1]);
    bm.dispose();
  });
});
