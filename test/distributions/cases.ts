/**
 * The test table's reference half: for every registered family, parameter sets and an
 * independent float64 log density (plus CDFs, integration ranges and sampler statistics
 * where the generic checks need them). The registry itself is the other half: the tests
 * iterate over DISTRIBUTIONS and fail for a family that has no entry here.
 */
import { lgammaF64 } from '../../src/tensor';
import type { JsValue } from '../../src/distributions/types';
import { besselI, chol, lbetaRef, lmvgammaRef, logDetInv, logNormalCdf, matmul, normalCdf, traceProd, transpose } from './f64';
import type { Mat } from './f64';

export type Params = JsValue[];

/** How to integrate a scalar continuous density over its support (midpoint rule after a change of variables). */
export type Quad =
  | { kind: 'real'; loc: number; scale: number } // x = loc + scale·tan(π(u - 1/2))
  | { kind: 'positive'; scale: number } // x = scale·u/(1 - u)
  | { kind: 'interval'; lo: number; hi: number }; // x = lo + (hi - lo)·u

/** Statistics of a draw with known mean and variance (for samplers whose family has no moments()). */
export interface Stats {
  f: (x: JsValue) => number[];
  mean: number[];
  variance: number[];
}

export interface Case {
  /** Parameter sets at core rank, all with the same event sizes (the broadcasting check stacks three). */
  params: Params[];
  /** Extra parameter sets for the density and gradient checks only (tails, extreme shapes). */
  stress?: Params[];
  /** The float64 log density. */
  ref: (x: JsValue, ...p: JsValue[]) => number;
  /** Values in the support, for parameter set p. */
  points: (p: Params) => JsValue[];
  /** Values outside the support: logProb must be -Infinity. */
  outside: (p: Params) => JsValue[];
  /** Scalar continuous families: how to integrate the density. */
  quad?: (p: Params) => Quad;
  /** Infinite discrete supports: sum the pmf over 0..upper(p). */
  upper?: (p: Params) => number;
  /** Float64 CDF, for families with logCdf. */
  cdf?: (x: number, ...p: number[]) => number;
  /** Float64 survival function 1 - CDF, where 1 - cdf would round away a far right tail. */
  sf?: (x: number, ...p: number[]) => number;
  /** Sampler statistics when moments() is undefined. */
  stats?: (p: Params) => Stats;
  /** Arguments to pass to sample() (default: the parameters). */
  sampleArgs?: (p: Params) => JsValue[];
  /** Value gradient is checked unless false (real scalar/vector supports without a manifold constraint). */
  valueGrad?: boolean;
}

const LOG_2PI = Math.log(2 * Math.PI);
const n = (v: JsValue) => v as number;
const vec = (v: JsValue) => v as number[];
const mat = (v: JsValue) => v as Mat;

function normalRef(x: number, mu: number, sigma: number): number {
  const z = (x - mu) / sigma;
  return -0.5 * z * z - Math.log(sigma) - 0.5 * LOG_2PI;
}

function mvnRef(y: number[], mu: number[], Sigma: Mat): number {
  const D = y.length;
  const [logDet, inv] = logDetInv(Sigma);
  const d = y.map((v, i) => v - mu[i]);
  let q = 0;
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) q += d[i] * inv[i][j] * d[j];
  return -0.5 * D * LOG_2PI - 0.5 * logDet - 0.5 * q;
}

function lchoose(a: number, k: number): number {
  return lgammaF64(a + 1) - lgammaF64(k + 1) - lgammaF64(a - k + 1);
}

/** Returns the lower triangle of a (upper set to 0). */
function lower(a: Mat): Mat {
  return a.map((r, i) => r.map((v, j) => (j <= i ? v : 0)));
}

const positivePoints = (s: number) => [0.05, 0.5, 1, 2, 6].map((t) => t * s);
const realPoints = (mu: number, s: number) => [-2, -0.3, 0, 1, 3.7].map((t) => mu + t * s);
const countPoints = [0, 1, 2, 5, 11];
const below0 = () => [-1, -1e-3];

/** Indicator statistics P(X <= t) for each t given the CDF. */
function cdfStats(ts: number[], F: (t: number) => number): Stats {
  const ps = ts.map(F);
  return { f: (x) => ts.map((t) => (n(x) <= t ? 1 : 0)), mean: ps, variance: ps.map((p) => p * (1 - p)) };
}

// Covariance matrices used by the multivariate and matrix families (D = 3).
const S1: Mat = [[1, 0.3, -0.2], [0.3, 2, 0.5], [-0.2, 0.5, 1.5]];
const S2: Mat = [[0.5, 0.1, 0], [0.1, 0.8, -0.3], [0, -0.3, 1.2]];
const S3: Mat = [[2, -0.6, 0.4], [-0.6, 1, 0.2], [0.4, 0.2, 0.7]];

/** Returns the Cholesky factor of a correlation matrix with the given off-diagonals (D = 3). */
function corrChol(r12: number, r13: number, r23: number): Mat {
  return chol([[1, r12, r13], [r12, 1, r23], [r13, r23, 1]]);
}

/**
 * LKJ log density of a Cholesky factor, with the normalising constant written as in
 * Lewandowski, Kurowicka & Joe (2009), theorem 5 (a different form from the one in the
 * code under test): log c = -Σ_{k=1}^{D-1} [(2η - 2 + D - k)(D - k) log 2 + (D - k) log B(b_k, b_k)],
 * b_k = η + (D - k - 1)/2; density c · Π_{i>=2} L_ii^{D - i + 2η - 2}.
 */
export function lkjRef(L: Mat, eta: number): number {
  const D = L.length;
  let c = 0;
  for (let k = 1; k < D; k++) {
    const b = eta + (D - k - 1) / 2;
    c -= (2 * eta - 2 + D - k) * (D - k) * Math.LN2 + (D - k) * lbetaRef(b, b);
  }
  let s = c;
  for (let i = 2; i <= D; i++) s += (D - i + 2 * eta - 2) * Math.log(L[i - 1][i - 1]);
  return s;
}

function wishartRef(W: Mat, nu: number, S: Mat): number {
  const D = W.length;
  const [ldW] = logDetInv(W);
  const [ldS, Sinv] = logDetInv(S);
  return ((nu - D - 1) / 2) * ldW - traceProd(Sinv, W) / 2 - ((nu * D) / 2) * Math.LN2 - (nu / 2) * ldS - lmvgammaRef(nu / 2, D);
}

function invWishartRef(W: Mat, nu: number, S: Mat): number {
  const D = W.length;
  const [ldW, Winv] = logDetInv(W);
  const [ldS] = logDetInv(S);
  return (nu / 2) * ldS - ((nu * D) / 2) * Math.LN2 - lmvgammaRef(nu / 2, D) - ((nu + D + 1) / 2) * ldW - traceProd(S, Winv) / 2;
}

const NOT_PD: Mat = [[1, 2, 0], [2, 1, 0], [0, 0, 1]];

export const CASES: Record<string, Case> = {
  normal: {
    params: [[0, 1], [1.5, 0.3], [-2, 4]],
    stress: [[0, 1e-3], [1e3, 50]],
    ref: (x, mu, s) => normalRef(n(x), n(mu), n(s)),
    points: ([mu, s]) => realPoints(n(mu), n(s)),
    outside: () => [],
    quad: ([mu, s]) => ({ kind: 'real', loc: n(mu), scale: n(s) }),
    cdf: (x, mu, s) => normalCdf((x - mu) / s),
    sf: (x, mu, s) => normalCdf((mu - x) / s),
  },
  half_normal: {
    params: [[1], [0.3], [4]],
    ref: (x, s) => Math.LN2 + normalRef(n(x), 0, n(s)),
    points: ([s]) => [0, ...positivePoints(n(s))],
    outside: below0,
    quad: ([s]) => ({ kind: 'positive', scale: n(s) }),
    cdf: (x, s) => (x <= 0 ? 0 : 2 * normalCdf(x / s) - 1),
    sf: (x, s) => (x <= 0 ? 1 : 2 * normalCdf(-x / s)),
  },
  student_t: {
    params: [[5, 0, 1], [10, 1, 2], [6.5, -1, 0.5]],
    stress: [[1.5, 0, 1], [1e4, 2, 3], [0.7, 0, 2]],
    ref: (x, nu, mu, s) => {
      const v = n(nu);
      const z = (n(x) - n(mu)) / n(s);
      return lgammaF64((v + 1) / 2) - lgammaF64(v / 2) - 0.5 * Math.log(v * Math.PI) - Math.log(n(s)) - ((v + 1) / 2) * Math.log1p((z * z) / v);
    },
    points: ([, mu, s]) => realPoints(n(mu), n(s)),
    outside: () => [],
    quad: ([, mu, s]) => ({ kind: 'real', loc: n(mu), scale: n(s) }),
  },
  cauchy: {
    params: [[0, 1], [2, 0.5], [-1, 3]],
    ref: (x, mu, s) => {
      const z = (n(x) - n(mu)) / n(s);
      return -Math.log(Math.PI * n(s) * (1 + z * z));
    },
    points: ([mu, s]) => [...realPoints(n(mu), n(s)), n(mu) - 1e4 * n(s)],
    outside: () => [],
    quad: ([mu, s]) => ({ kind: 'real', loc: n(mu), scale: n(s) }),
    cdf: (x, mu, s) => {
      const z = (x - mu) / s;
      return z < 0 ? Math.atan(-1 / z) / Math.PI : 0.5 + Math.atan(z) / Math.PI;
    },
    stats: ([mu, s]) => cdfStats([n(mu) + n(s), n(mu) - 2 * n(s)], (t) => 0.5 + Math.atan((t - n(mu)) / n(s)) / Math.PI),
  },
  half_cauchy: {
    params: [[1], [0.5], [3]],
    ref: (x, s) => {
      const z = n(x) / n(s);
      return Math.log(2 / (Math.PI * n(s) * (1 + z * z)));
    },
    points: ([s]) => [0, ...positivePoints(n(s)), 1e4 * n(s)],
    outside: below0,
    quad: ([s]) => ({ kind: 'positive', scale: n(s) }),
    cdf: (x, s) => (x <= 0 ? 0 : x / s > 1 ? 1 - (2 / Math.PI) * Math.atan(s / x) : (2 / Math.PI) * Math.atan(x / s)),
    stats: ([s]) => cdfStats([n(s), 3 * n(s)], (t) => (2 / Math.PI) * Math.atan(t / n(s))),
  },
  lognormal: {
    params: [[0, 0.5], [1, 0.25], [-1, 0.4]],
    stress: [[0, 3]],
    ref: (x, mu, s) => normalRef(Math.log(n(x)), n(mu), n(s)) - Math.log(n(x)),
    points: ([mu]) => positivePoints(Math.exp(n(mu))),
    outside: () => [0, -1],
    quad: ([mu]) => ({ kind: 'positive', scale: Math.exp(n(mu)) }),
    cdf: (x, mu, s) => (x <= 0 ? 0 : normalCdf((Math.log(x) - mu) / s)),
    sf: (x, mu, s) => (x <= 0 ? 1 : normalCdf((mu - Math.log(x)) / s)),
  },
  exponential: {
    params: [[1], [0.2], [5]],
    ref: (x, r) => Math.log(n(r)) - n(r) * n(x),
    points: ([r]) => [0, ...positivePoints(1 / n(r)), 30 / n(r)],
    outside: below0,
    quad: ([r]) => ({ kind: 'positive', scale: 1 / n(r) }),
    cdf: (x, r) => (x <= 0 ? 0 : -Math.expm1(-r * x)),
    sf: (x, r) => (x <= 0 ? 1 : Math.exp(-r * x)),
  },
  gamma: {
    params: [[2, 1], [5, 0.5], [1.5, 3]],
    stress: [[0.5, 2], [300, 10], [1, 1]],
    ref: (x, a, b) => n(a) * Math.log(n(b)) - lgammaF64(n(a)) + (n(a) - 1) * Math.log(n(x)) - n(b) * n(x),
    points: ([a, b]) => positivePoints(n(a) / n(b)),
    outside: below0,
    quad: ([a, b]) => ({ kind: 'positive', scale: n(a) / n(b) }),
  },
  inv_gamma: {
    params: [[6, 2], [8, 1], [10, 3]],
    stress: [[0.5, 1], [2, 0.01]],
    ref: (x, a, b) => n(a) * Math.log(n(b)) - lgammaF64(n(a)) - (n(a) + 1) * Math.log(n(x)) - n(b) / n(x),
    points: ([a, b]) => positivePoints(n(b) / n(a)),
    outside: () => [0, -1],
    quad: ([a, b]) => ({ kind: 'positive', scale: n(b) / n(a) }),
  },
  beta: {
    params: [[2, 3], [1, 1], [5, 1.5]],
    stress: [[0.5, 0.5], [1e3, 2e3], [0.2, 4]],
    ref: (x, a, b) => (n(a) - 1) * Math.log(n(x)) + (n(b) - 1) * Math.log1p(-n(x)) - lbetaRef(n(a), n(b)),
    points: () => [0.01, 0.2, 0.5, 0.77, 0.995],
    outside: () => [-0.1, 1.1],
    quad: () => ({ kind: 'interval', lo: 0, hi: 1 }),
  },
  uniform: {
    params: [[0, 1], [-2, 3], [1, 1.5]],
    ref: (x, l, u) => (n(x) >= n(l) && n(x) <= n(u) ? -Math.log(n(u) - n(l)) : -Infinity),
    points: ([l, u]) => [0.01, 0.3, 0.5, 0.9].map((t) => n(l) + t * (n(u) - n(l))),
    outside: ([l, u]) => [n(l) - 0.5, n(u) + 0.1],
    quad: ([l, u]) => ({ kind: 'interval', lo: n(l), hi: n(u) }),
    cdf: (x, l, u) => Math.min(1, Math.max(0, (x - l) / (u - l))),
    valueGrad: true,
  },
  von_mises: {
    params: [[0, 1], [1, 4], [-2, 0.3]],
    stress: [[0.5, 25]],
    ref: (x, mu, k) => n(k) * Math.cos(n(x) - n(mu)) - LOG_2PI - Math.log(besselI(0, n(k))),
    points: ([mu]) => [-3, -1, 0, 0.5, 2.5, 7].map((t) => n(mu) + t),
    outside: () => [],
    quad: ([mu]) => ({ kind: 'interval', lo: n(mu) - Math.PI, hi: n(mu) + Math.PI }),
    stats: ([mu, k]) => {
      const i0 = besselI(0, n(k));
      const a = besselI(1, n(k)) / i0;
      const c2 = besselI(2, n(k)) / i0;
      return {
        f: (x) => [Math.cos(n(x) - n(mu)), Math.sin(n(x) - n(mu))],
        mean: [a, 0],
        variance: [(1 + c2) / 2 - a * a, (1 - c2) / 2],
      };
    },
  },
  logistic: {
    params: [[0, 1], [2, 0.5], [-1, 2]],
    stress: [[0, 1e-2]],
    ref: (x, mu, s) => {
      const z = (n(x) - n(mu)) / n(s);
      return -z - Math.log(n(s)) - 2 * Math.log1p(Math.exp(-z));
    },
    points: ([mu, s]) => [...realPoints(n(mu), n(s)), n(mu) + 60 * n(s)],
    outside: () => [],
    quad: ([mu, s]) => ({ kind: 'real', loc: n(mu), scale: n(s) }),
    cdf: (x, mu, s) => 1 / (1 + Math.exp(-(x - mu) / s)),
    sf: (x, mu, s) => 1 / (1 + Math.exp((x - mu) / s)),
  },
  categorical: {
    params: [[[0.2, 0.3, 0.5]], [[0.7, 0.1, 0.2]], [[0.1, 0.1, 0.8]]],
    stress: [[[0.5, 0, 0.5]]],
    ref: (y, p) => Math.log(vec(p)[n(y) - 1]),
    points: () => [1, 2, 3],
    outside: () => [0, 4, -1, 2.5],
  },
  categorical_logit: {
    params: [[[0, 1, 2]], [[-1, 0.5, 0]], [[3, -2, 0]]],
    stress: [[[40, -40, 0]]],
    ref: (y, l) => {
      const v = vec(l);
      const m = Math.max(...v);
      return v[n(y) - 1] - m - Math.log(v.reduce((s, t) => s + Math.exp(t - m), 0));
    },
    points: () => [1, 2, 3],
    outside: () => [0, 4, 1.5],
  },
  bernoulli: {
    params: [[0.3], [0.9], [0.5]],
    stress: [[1e-4], [0.9999]],
    ref: (y, p) => (n(y) === 1 ? Math.log(n(p)) : Math.log1p(-n(p))),
    points: () => [0, 1],
    outside: () => [2, -1, 0.5],
  },
  bernoulli_logit: {
    params: [[0], [2.5], [-1.2]],
    stress: [[30], [-30], [-90]],
    ref: (y, a) => {
      const s = n(y) === 1 ? n(a) : -n(a);
      return s > 0 ? -Math.log1p(Math.exp(-s)) : s - Math.log1p(Math.exp(s));
    },
    points: () => [0, 1],
    outside: () => [2, -1],
  },
  binomial: {
    params: [[10, 0.3], [5, 0.8], [20, 0.5]],
    stress: [[1000, 0.01], [5, 0.999], [0, 0.4]],
    ref: (y, N, p) => lchoose(n(N), n(y)) + n(y) * Math.log(n(p)) + (n(N) - n(y)) * Math.log1p(-n(p)),
    points: ([N]) => [0, 1, 3, 7, 10, 30].filter((k) => k <= n(N)),
    outside: ([N]) => [-1, n(N) + 1],
  },
  poisson: {
    params: [[3], [0.5], [12]],
    stress: [[1e3], [1e-3]],
    ref: (y, r) => n(y) * Math.log(n(r)) - n(r) - lgammaF64(n(y) + 1),
    points: () => countPoints,
    outside: () => [-1, -3],
    upper: ([r]) => Math.ceil(n(r) + 40 * Math.sqrt(n(r)) + 40),
  },
  poisson_log: {
    params: [[1], [-0.5], [2.5]],
    stress: [[-8], [6]],
    ref: (y, l) => n(y) * n(l) - Math.exp(n(l)) - lgammaF64(n(y) + 1),
    points: () => countPoints,
    outside: () => [-1],
    upper: ([l]) => Math.ceil(Math.exp(n(l)) + 40 * Math.exp(n(l) / 2) + 40),
  },
  neg_binomial: {
    params: [[2, 0.5], [5, 2], [0.8, 0.3]],
    stress: [[1e4, 1e3], [0.05, 0.01]],
    ref: (y, a, b) => {
      const [k, al, be] = [n(y), n(a), n(b)];
      return lgammaF64(k + al) - lgammaF64(k + 1) - lgammaF64(al) + al * Math.log(be / (1 + be)) - k * Math.log1p(be);
    },
    points: () => countPoints,
    outside: () => [-1],
    upper: ([a, b]) => {
      const m = n(a) / n(b);
      return Math.ceil(m + 60 * Math.sqrt((m * (n(b) + 1)) / n(b)) + 200);
    },
  },
  neg_binomial_2: {
    params: [[3, 2], [10, 5], [1, 0.7]],
    stress: [[5, 1e5], [1e3, 0.5], [0.01, 3]],
    ref: (y, mu, phi) => {
      const [k, m, f] = [n(y), n(mu), n(phi)];
      return lgammaF64(k + f) - lgammaF64(k + 1) - lgammaF64(f) + k * Math.log(m / (m + f)) + f * Math.log(f / (m + f));
    },
    points: () => countPoints,
    outside: () => [-1],
    upper: ([mu, phi]) => Math.ceil(n(mu) + 60 * Math.sqrt(n(mu) + (n(mu) * n(mu)) / n(phi)) + 200),
  },
  mvnormal: {
    params: [[[0, 1, -1], S1], [[0.5, 0, 2], S2], [[-1, -1, 0], S3]],
    ref: (y, mu, S) => mvnRef(vec(y), vec(mu), mat(S)),
    points: ([mu]) => [vec(mu), [0.3, -1, 2], [2, 2, -3]],
    outside: () => [],
  },
  mvnormal_cholesky: {
    params: [[[0, 1, -1], chol(S1)], [[0.5, 0, 2], chol(S2)], [[-1, -1, 0], chol(S3)]],
    ref: (y, mu, L) => mvnRef(vec(y), vec(mu), matmul(lower(mat(L)), transpose(lower(mat(L))))),
    points: ([mu]) => [vec(mu), [0.3, -1, 2], [2, 2, -3]],
    outside: () => [],
  },
  dirichlet: {
    params: [[[1, 2, 3]], [[5, 5, 5]], [[2, 1, 0.7]]],
    stress: [[[0.1, 0.2, 50]]],
    ref: (y, a) => {
      const al = vec(a);
      const ys = vec(y);
      const a0 = al.reduce((s, v) => s + v, 0);
      return lgammaF64(a0) - al.reduce((s, v) => s + lgammaF64(v), 0) + al.reduce((s, v, i) => s + (v - 1) * Math.log(ys[i]), 0);
    },
    points: () => [[0.2, 0.3, 0.5], [0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3]],
    outside: () => [[-0.1, 0.6, 0.5], [0.5, 0.6, 0.2]],
    valueGrad: false,
  },
  lkj_corr_cholesky: {
    params: [[1], [2], [0.7]],
    stress: [[40]],
    ref: (L, eta) => lkjRef(mat(L), n(eta)),
    points: () => [corrChol(0, 0, 0), corrChol(0.5, -0.3, 0.2), corrChol(-0.8, 0.6, -0.7)],
    outside: () => [
      [[1, 0, 0], [-0.6, -0.8, 0], [0, 0, 1]], // negative diagonal
      [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1]], // a row that is not unit length
    ],
    valueGrad: false,
    sampleArgs: (p) => [...p, 3],
    stats: ([eta]) => {
      // Every off-diagonal correlation of LKJ(η) in D dimensions is 2·Beta(b, b) - 1 with
      // b = η - 1 + D/2: mean 0, variance 1/(2η + D - 1).
      const v = 1 / (2 * n(eta) + 3 - 1);
      return {
        f: (x) => {
          const R = matmul(mat(x), transpose(mat(x)));
          return [R[1][0], R[2][0], R[2][1]];
        },
        mean: [0, 0, 0],
        variance: [v, v, v],
      };
    },
  },
  wishart: {
    params: [[5, S1], [7.5, S2], [4, S3]],
    ref: (W, nu, S) => wishartRef(mat(W), n(nu), mat(S)),
    points: () => [S1, S2, [[3, 1, 0], [1, 2, 0.5], [0, 0.5, 0.6]]],
    outside: () => [NOT_PD],
  },
  inv_wishart: {
    params: [[15, S1], [12, S2], [20, S3]],
    stress: [[3.5, S1]],
    ref: (W, nu, S) => invWishartRef(mat(W), n(nu), mat(S)),
    points: () => [S1, S2, [[0.3, 0.1, 0], [0.1, 0.2, 0.05], [0, 0.05, 0.1]]],
    outside: () => [NOT_PD],
  },
};

export { logNormalCdf };
