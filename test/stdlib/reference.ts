/**
 * Float64 reference computations for the stdlib tests, written from the textbook
 * formulas and independent of src/ (no import from src/ here): log densities in Stan's
 * parameterisations, log-sum-exp mixtures, the HMM forward-backward recursion, the LKJ
 * normalising constant from Lewandowski, Kurowicka & Joe (2009), closed-form moments of
 * mixtures and HMMs, and a small seeded PRNG to build parameter values.
 *
 * Every log density comes back as a `Term`: its value and `mag`, the sum of the absolute
 * values of the additive parts it is made of. A float32 evaluation of a sum of parts
 * p_i has rounding error of a few ulps of each |p_i| (cancellation between large parts
 * does not shrink it), so Σ mag is the scale that the float32 error is proportional to.
 */

/** A log-density term: its float64 value and the float32 error scale Σ |parts|. */
export interface Term {
  v: number;
  mag: number;
}

/** Returns a Term from its additive parts. */
export function parts(...ps: number[]): Term {
  let v = 0;
  let mag = 0;
  for (const p of ps) {
    v += p;
    mag += Math.abs(p);
  }
  return { v, mag };
}

/** Accumulates log-density terms: the total and the total error scale. */
export class LogAcc {
  v = 0;
  mag = 0;
  add(t: Term | readonly Term[]): this {
    for (const x of Array.isArray(t) ? (t as readonly Term[]) : [t as Term]) {
      this.v += x.v;
      this.mag += x.mag;
    }
    return this;
  }
}

/**
 * Returns the allowed |float32 - float64| for a log density with error scale `mag`.
 * float32 has unit roundoff 6e-8; each part is rounded a few times (its inputs, a
 * transcendental function, the sums of the plate and enumeration reductions), and the
 * sums run over at most a few hundred parts, so ~30 ulps of Σ|parts| bounds the error
 * with room; the 1e-4 floor covers totals whose parts nearly cancel to 0.
 */
export function tolerance(mag: number): number {
  return 2e-6 * mag + 1e-4;
}

// ---------------------------------------------------------------------------
// Special functions

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
export const LOG_PI = Math.log(Math.PI);
export const LOG_2PI = Math.log(2 * Math.PI);

/** Returns log Γ(x) for x > 0 (Lanczos, g = 7: relative error ~1e-15). */
export function lgamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`lgamma: argument must be positive, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x); // reflection
  const z = x - 1;
  let a = LANCZOS[0];
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Returns log B(a, b) = log Γ(a) + log Γ(b) - log Γ(a + b). */
export function lbeta(a: number, b: number): number {
  return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/** Returns log Σ exp(x_i), stable for large |x_i|. */
export function logSumExp(xs: readonly number[]): number {
  const m = Math.max(...xs);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/**
 * Returns erfc(x). |x| < 2: 1 - erf with erf(x) = 2/√π e^{-x²} Σ 2^n x^{2n+1} / (2n+1)!!
 * (all terms positive, no cancellation); x ≥ 2: the continued fraction
 * erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) by Lentz's method,
 * which keeps full relative accuracy in the tail.
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // Lentz: f = b0 + a1/(b1 + a2/(b2 + ...)), b_i = x, a_i = i/2.
  const tiny = 1e-300;
  let f = x;
  let C = f;
  let D = 0;
  for (let i = 1; i < 500; i++) {
    const a = i / 2;
    D = x + a * D;
    D = D === 0 ? tiny : D;
    C = x + a / C;
    C = C === 0 ? tiny : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

/** Returns Φ(z), the standard normal CDF. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** Returns the standard normal density φ(z). */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z - LOG_SQRT_2PI);
}

// ---------------------------------------------------------------------------
// Log densities (Stan's parameterisations)

/** Returns log N(x | mu, sigma), sigma a standard deviation. */
export function normalLpdf(x: number, mu: number, sigma: number): Term {
  const z = (x - mu) / sigma;
  return parts(-LOG_SQRT_2PI, -Math.log(sigma), -0.5 * z * z);
}

/** Returns log HalfNormal(x | sigma) = log 2 + log N(x | 0, sigma), x ≥ 0. */
export function halfNormalLpdf(x: number, sigma: number): Term {
  if (x < 0) return { v: -Infinity, mag: 0 };
  const n = normalLpdf(x, 0, sigma);
  return { v: Math.LN2 + n.v, mag: Math.LN2 + n.mag };
}

/** Returns log LogNormal(x | mu, sigma) = log N(log x | mu, sigma) - log x. */
export function lognormalLpdf(x: number, mu: number, sigma: number): Term {
  const n = normalLpdf(Math.log(x), mu, sigma);
  return { v: n.v - Math.log(x), mag: n.mag + Math.abs(Math.log(x)) };
}

/** Returns log StudentT(x | nu, mu, sigma). */
export function studentTLpdf(x: number, nu: number, mu: number, sigma: number): Term {
  const z = (x - mu) / sigma;
  return parts(lgamma((nu + 1) / 2), -lgamma(nu / 2), -0.5 * Math.log(nu * Math.PI), -Math.log(sigma), -((nu + 1) / 2) * Math.log1p((z * z) / nu));
}

/** Returns log Gamma(x | shape, rate), mean shape / rate. */
export function gammaLpdf(x: number, shape: number, rate: number): Term {
  return parts(shape * Math.log(rate), -lgamma(shape), (shape - 1) * Math.log(x), -rate * x);
}

/** Returns log Beta(x | a, b). */
export function betaLpdf(x: number, a: number, b: number): Term {
  return parts((a - 1) * Math.log(x), (b - 1) * Math.log1p(-x), -lgamma(a), -lgamma(b), lgamma(a + b));
}

/** Returns log Dirichlet(w | alpha) = log Γ(Σα) - Σ log Γ(α_k) + Σ (α_k - 1) log w_k. */
export function dirichletLpdf(w: readonly number[], alpha: readonly number[]): Term {
  const ps = [lgamma(alpha.reduce((a, b) => a + b, 0))];
  alpha.forEach((a, k) => ps.push(-lgamma(a), a === 1 ? 0 : (a - 1) * Math.log(w[k])));
  return parts(...ps);
}

/** Returns log Poisson(y | lambda) = y log λ - λ - log y!. */
export function poissonLpmf(y: number, lambda: number): Term {
  return parts(y === 0 ? 0 : y * Math.log(lambda), -lambda, -lgamma(y + 1));
}

/** Returns log Bernoulli(x | p). */
export function bernoulliLpmf(x: number, p: number): Term {
  return parts(x === 1 ? Math.log(p) : Math.log1p(-p));
}

/**
 * Returns the log density of y ~ censored(normal(mu, sigma), lo, hi) as the model layer
 * documents it: a value at or below lo is a censored observation and contributes
 * log P(X ≤ lo); at or above hi, log P(X ≥ hi); strictly inside, the normal density.
 */
export function censoredNormalLpdf(y: number, mu: number, sigma: number, lo: number, hi: number): Term {
  if (y <= lo) return parts(Math.log(normalCdf((lo - mu) / sigma)));
  if (y >= hi) return parts(Math.log(normalCdf(-(hi - mu) / sigma)));
  return normalLpdf(y, mu, sigma);
}

/**
 * Returns log N(x | mu, Sigma) for a full covariance matrix, by Gaussian elimination
 * with partial pivoting (log det from the pivots, the quadratic form from the solve).
 */
export function mvnormalLpdf(x: readonly number[], mu: readonly number[], Sigma: readonly (readonly number[])[]): Term {
  const D = x.length;
  const A = Sigma.map((r) => [...r]);
  const b = x.map((xi, i) => xi - mu[i]);
  const d0 = [...b];
  let logDet = 0;
  for (let c = 0; c < D; c++) {
    let p = c;
    for (let r = c + 1; r < D; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [b[c], b[p]] = [b[p], b[c]];
    if (!(A[c][c] !== 0)) throw new RangeError('mvnormalLpdf: singular covariance');
    logDet += Math.log(Math.abs(A[c][c]));
    for (let r = c + 1; r < D; r++) {
      const f = A[r][c] / A[c][c];
      for (let j = c; j < D; j++) A[r][j] -= f * A[c][j];
      b[r] -= f * b[c];
    }
  }
  const sol = new Array<number>(D).fill(0);
  for (let r = D - 1; r >= 0; r--) {
    let s = b[r];
    for (let j = r + 1; j < D; j++) s -= A[r][j] * sol[j];
    sol[r] = s / A[r][r];
  }
  const quad = d0.reduce((s, di, i) => s + di * sol[i], 0);
  return parts(-0.5 * D * LOG_2PI, -0.5 * logDet, -0.5 * quad);
}

/**
 * Returns log c_D(η), the normalising constant of the LKJ density c_D(η) det(R)^(η-1)
 * over D x D correlation matrices, from Lewandowski, Kurowicka & Joe (2009), section 3.2:
 *   1/c_D(η) = Π_{k=1}^{D-1} [ 2^{(2η-2+D-k)(D-k)} B(η + (D-k-1)/2, η + (D-k-1)/2)^{D-k} ].
 * (Written as a product of beta functions, deliberately unlike Stan's sum of log-gammas.)
 */
export function lkjLogNormaliser(eta: number, D: number): Term {
  const ps: number[] = [];
  for (let k = 1; k < D; k++) {
    const b = eta + (D - k - 1) / 2;
    ps.push(-(2 * eta - 2 + D - k) * (D - k) * Math.LN2, -(D - k) * lbeta(b, b));
  }
  // The float32 evaluator works through log-gammas of size |lgamma(b)| each.
  const t = parts(...ps);
  let mag = t.mag;
  for (let k = 1; k < D; k++) mag += (D - k) * (2 * Math.abs(lgamma(eta + (D - k - 1) / 2)) + Math.abs(lgamma(2 * eta + D - k - 1)));
  return { v: t.v, mag };
}

/**
 * Returns log LkjCorrCholesky(L | η) as Stan defines it: the LKJ density of R = L Lᵀ,
 * c_D(η) det(R)^(η-1) with det R = Π L_ii², times the Jacobian of L ↦ R,
 * Π_{i=2}^{D} L_ii^{D-i} (1-based rows).
 */
export function lkjCorrCholeskyLpdf(L: readonly (readonly number[])[], eta: number): Term {
  const D = L.length;
  const c = lkjLogNormaliser(eta, D);
  const ps: number[] = [c.v];
  for (let i = 1; i <= D; i++) {
    const logLii = Math.log(L[i - 1][i - 1]);
    ps.push((eta - 1) * 2 * logLii, (D - i) * logLii);
  }
  const t = parts(...ps);
  return { v: t.v, mag: t.mag - Math.abs(c.v) + c.mag };
}

// ---------------------------------------------------------------------------
// Discrete latents summed out

/**
 * Returns log Σ_k w_k p_k(x) for component log densities `comps`. Its error scale is the
 * responsibility-weighted scale of the components: the float32 log-sum-exp is as
 * accurate as the terms that dominate it.
 */
export function mixtureLpdf(logW: readonly number[], comps: readonly Term[]): Term {
  const a = comps.map((c, k) => logW[k] + c.v);
  const v = logSumExp(a);
  let mag = 0;
  a.forEach((ak, k) => {
    const r = Math.exp(ak - v);
    if (r > 0) mag += r * (Math.abs(logW[k]) + comps[k].mag);
  });
  return { v, mag };
}

/**
 * Returns the HMM log likelihood log Σ_z π(z_1) e_1(z_1) Π_{t≥2} A(z_{t-1}, z_t) e_t(z_t)
 * by the float64 forward recursion in log space, with the error scale weighted by the
 * posterior state and transition marginals from the backward recursion.
 * `logEmit[t][k]` is the log emission term at step t in state k.
 */
export function hmmLpdf(logInit: readonly number[], logTrans: readonly (readonly number[])[], logEmit: readonly (readonly Term[])[]): Term {
  const T = logEmit.length;
  const K = logInit.length;
  const alpha: number[][] = [logInit.map((l, k) => l + logEmit[0][k].v)];
  for (let t = 1; t < T; t++) {
    alpha.push(Array.from({ length: K }, (_, j) => logSumExp(alpha[t - 1].map((a, i) => a + logTrans[i][j])) + logEmit[t][j].v));
  }
  const v = logSumExp(alpha[T - 1]);
  const beta: number[][] = new Array(T);
  beta[T - 1] = new Array<number>(K).fill(0);
  for (let t = T - 2; t >= 0; t--) {
    beta[t] = Array.from({ length: K }, (_, i) => logSumExp(beta[t + 1].map((b, j) => logTrans[i][j] + logEmit[t + 1][j].v + b)));
  }
  let mag = 0;
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < K; k++) {
      const g = Math.exp(alpha[t][k] + beta[t][k] - v);
      mag += g * logEmit[t][k].mag + (t === 0 ? g * Math.abs(logInit[k]) : 0);
      if (t > 0) {
        for (let i = 0; i < K; i++) {
          const xi = Math.exp(alpha[t - 1][i] + logTrans[i][k] + logEmit[t][k].v + beta[t][k] - v);
          mag += xi * Math.abs(logTrans[i][k]);
        }
      }
    }
  }
  return { v, mag };
}

/** Returns every assignment of n variables with k values each (0-based), for brute force. */
export function* assignments(n: number, k: number): Generator<number[]> {
  const a = new Array<number>(n).fill(0);
  while (true) {
    yield [...a];
    let i = 0;
    while (i < n && ++a[i] === k) a[i++] = 0;
    if (i === n) return;
  }
}

// ---------------------------------------------------------------------------
// Small linear algebra

/** Returns the matrix product A B. */
export function matmul(A: readonly (readonly number[])[], B: readonly (readonly number[])[]): number[][] {
  return A.map((r) => B[0].map((_, j) => r.reduce((s, a, k) => s + a * B[k][j], 0)));
}

/** Returns Aᵀ. */
export function transpose(A: readonly (readonly number[])[]): number[][] {
  return A[0].map((_, j) => A.map((r) => r[j]));
}

/** Returns Σ = diag(tau) L Lᵀ diag(tau), the covariance with scales tau and correlation factor L. */
export function covFromScaleAndCorrFactor(tau: readonly number[], L: readonly (readonly number[])[]): number[][] {
  const R = matmul(L, transpose(L));
  return R.map((r, i) => r.map((x, j) => tau[i] * x * tau[j]));
}

/** Returns softmax(x). */
export function softmax(x: readonly number[]): number[] {
  const l = logSumExp(x);
  return x.map((v) => Math.exp(v - l));
}

/** Returns Σ a_i b_i. */
export function dot(a: readonly number[], b: readonly number[]): number {
  return a.reduce((s, x, i) => s + x * b[i], 0);
}

// ---------------------------------------------------------------------------
// Seeded parameter construction

/** A seeded PRNG (mulberry32) with the few draws the tests need to build parameter values. */
export class TestRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Returns a uniform draw on [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Returns a uniform draw on [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  /** Returns a standard normal draw (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** Returns a simplex of length K with every entry at least ~0.1/K (no float32 underflow). */
  simplex(K: number): number[] {
    const g = Array.from({ length: K }, () => this.uniform(0.2, 1));
    const s = g.reduce((a, b) => a + b, 0);
    return g.map((x) => x / s);
  }
  /** Returns K increasing values in [a, b), at least (b - a)/(4K) apart. */
  ordered(K: number, a: number, b: number): number[] {
    const step = (b - a) / K;
    return Array.from({ length: K }, (_, k) => a + step * (k + this.uniform(0.25, 1)));
  }
  /**
   * Returns a D x D lower-triangular Cholesky factor of a correlation matrix: random
   * rows with a positive diagonal, each scaled to unit length.
   */
  corrCholesky(D: number): number[][] {
    return Array.from({ length: D }, (_, i) => {
      const row = Array.from({ length: D }, (_, j) => (j < i ? this.uniform(-1, 1) : j === i ? this.uniform(0.3, 1) : 0));
      const n = Math.hypot(...row);
      return row.map((x) => x / n);
    });
  }
}

/** A value as nested arrays of numbers. */
export type Nested = number | Nested[];

/**
 * Returns the value rounded to float32, element by element. The evaluator reads every
 * input as float32, so the reference is computed at exactly the rounded inputs and the
 * comparison measures only the evaluator's arithmetic.
 */
export function f32<T extends Nested>(x: T): T {
  return (typeof x === 'number' ? Math.fround(x) : (x as Nested[]).map((e) => f32(e))) as T;
}

/** Returns nested arrays from a row-major flat array and a shape. */
export function nest(values: ArrayLike<number>, shape: readonly number[]): Nested {
  if (shape.length === 0) return values[0];
  const stride = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) =>
    nest(Array.prototype.slice.call(values, i * stride, (i + 1) * stride) as number[], shape.slice(1)));
}

// ---------------------------------------------------------------------------
// Closed-form moments

/** Central moments of one component (or any distribution): mean and E[(X - mean)^j], j = 2, 3, 4. */
export interface CompMoments {
  mean: number;
  c2: number;
  c3: number;
  c4: number;
}

/** The mean, variance and 4th central moment of a distribution. */
export interface Moments {
  mean: number;
  variance: number;
  m4: number;
}

export const normalMoments = (mu: number, sigma: number): CompMoments => ({ mean: mu, c2: sigma ** 2, c3: 0, c4: 3 * sigma ** 4 });
export const poissonMoments = (l: number): CompMoments => ({ mean: l, c2: l, c3: l, c4: l + 3 * l * l });
export const bernoulliMoments = (p: number): CompMoments => ({ mean: p, c2: p * (1 - p), c3: p * (1 - p) * (1 - 2 * p), c4: p * (1 - p) * (1 - 3 * p + 3 * p * p) });
/** Student-t moments; the variance needs nu > 2 and the 4th moment nu > 4. */
export function studentTMoments(nu: number, mu: number, sigma: number): CompMoments {
  if (!(nu > 4)) throw new RangeError(`studentTMoments: the 4th moment needs nu > 4, got ${nu}`);
  return { mean: mu, c2: (sigma ** 2 * nu) / (nu - 2), c3: 0, c4: (3 * sigma ** 4 * nu * nu) / ((nu - 2) * (nu - 4)) };
}

/** Returns E[(X - m)^j | component], j = 1..4, from the component's central moments (binomial expansion). */
export function momentsAbout(c: CompMoments, m: number): [number, number, number, number] {
  const d = c.mean - m;
  return [d, d * d + c.c2, d ** 3 + 3 * d * c.c2 + c.c3, d ** 4 + 6 * d * d * c.c2 + 4 * d * c.c3 + c.c4];
}

/**
 * Returns the mean, variance and 4th central moment of the mixture Σ w_k comp_k:
 * mean Σ w_k mean_k; variance by the law of total variance, Σ w_k (c2_k + (mean_k - m)²).
 */
export function mixtureMoments(w: readonly number[], comps: readonly CompMoments[]): Moments {
  const mean = comps.reduce((s, c, k) => s + w[k] * c.mean, 0);
  let variance = 0;
  let m4 = 0;
  comps.forEach((c, k) => {
    const e = momentsAbout(c, mean);
    variance += w[k] * e[1];
    m4 += w[k] * e[3];
  });
  return { mean, variance, m4 };
}

/**
 * For a mixture of multivariate normals: the mean vector, the covariance matrix
 * Σ_k w_k (S_k + d_k d_kᵀ) (d_k = mu_k - mean), and E[(X_i - m_i)² (X_j - m_j)²] for
 * every i, j by Isserlis' theorem within each component, which gives the variance of the
 * per-observation product (X_i - m_i)(X_j - m_j) that a covariance check averages.
 */
export function mvMixtureMoments(w: readonly number[], mus: readonly (readonly number[])[], covs: readonly (readonly (readonly number[])[])[]): {
  mean: number[];
  cov: number[][];
  prod2: number[][];
} {
  const D = mus[0].length;
  const mean = Array.from({ length: D }, (_, i) => mus.reduce((s, mu, k) => s + w[k] * mu[i], 0));
  const cov = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  const prod2 = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  mus.forEach((mu, k) => {
    const d = mu.map((x, i) => x - mean[i]);
    const S = covs[k];
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) {
        cov[i][j] += w[k] * (S[i][j] + d[i] * d[j]);
        // E[(d_i + e_i)² (d_j + e_j)²], e ~ N(0, S): the odd moments of e vanish.
        const e4 = S[i][i] * S[j][j] + 2 * S[i][j] ** 2;
        const e2 = d[i] ** 2 * S[j][j] + d[j] ** 2 * S[i][i] + 4 * d[i] * d[j] * S[i][j];
        prod2[i][j] += w[k] * (d[i] ** 2 * d[j] ** 2 + e2 + e4);
      }
    }
  });
  return { mean, cov, prod2 };
}

/** Returns the state marginals p_t = π A^{t-1}, t = 1..T. */
export function stateMarginals(pi: readonly number[], A: readonly (readonly number[])[], T: number): number[][] {
  const out = [[...pi]];
  for (let t = 1; t < T; t++) out.push(pi.map((_, j) => out[t - 1].reduce((s, p, i) => s + p * A[i][j], 0)));
  return out;
}

/**
 * For an HMM with initial distribution π and transitions A, and per-step statistics
 * φ_t(y_t) with E[φ_t | z_t = k] = f[t][k] and E[φ_t² | z_t = k] = g[t][k]: returns the
 * mean and variance of S = Σ_t φ_t(y_t). Emissions are independent given the states, so
 * for s < t, E[φ_s φ_t] = Σ_ij p_s(i) f_s(i) (A^{t-s})_ij f_t(j).
 */
export function hmmSumMoments(pi: readonly number[], A: readonly (readonly number[])[], f: readonly (readonly number[])[], g: readonly (readonly number[])[]): { mean: number; variance: number } {
  const T = f.length;
  const p = stateMarginals(pi, A, T);
  let mean = 0;
  let second = 0;
  for (let s = 0; s < T; s++) {
    mean += dot(p[s], f[s]);
    second += dot(p[s], g[s]);
    let v = p[s].map((ps, i) => ps * f[s][i]);
    for (let t = s + 1; t < T; t++) {
      v = v.map((_, j) => v.reduce((acc, vi, i) => acc + vi * A[i][j], 0));
      second += 2 * dot(v, f[t]);
    }
  }
  return { mean, variance: second - mean * mean };
}

/**
 * For a mixture whose components have independent coordinates (comps[k][i] describes
 * coordinate i of component k): the mean vector, the covariance matrix and
 * E[(X_i - m_i)² (X_j - m_j)²], as `mvMixtureMoments` returns them.
 */
export function indepMixtureMoments(w: readonly number[], comps: readonly (readonly CompMoments[])[]): {
  mean: number[];
  cov: number[][];
  prod2: number[][];
} {
  const D = comps[0].length;
  const mean = Array.from({ length: D }, (_, i) => comps.reduce((s, ck, k) => s + w[k] * ck[i].mean, 0));
  const cov = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  const prod2 = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  comps.forEach((ck, k) => {
    const e = ck.map((c, i) => momentsAbout(c, mean[i]));
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) {
        cov[i][j] += w[k] * (i === j ? e[i][1] : e[i][0] * e[j][0]);
        prod2[i][j] += w[k] * (i === j ? e[i][3] : e[i][1] * e[j][1]);
      }
    }
  });
  return { mean, cov, prod2 };
}

/**
 * For X ~ normal(mu, sigma) recorded as clamp(X, lo, hi) (censoring at the limits):
 * P(X ≤ lo), P(X ≥ hi) and the raw moments E[clamp^j], j = 1..4. With a = (lo - mu)/sigma,
 * b = (hi - mu)/sigma and M_j = E[Z^j; a < Z < b] for Z ~ normal(0, 1), integration by
 * parts gives M_j = (j - 1) M_{j-2} + a^{j-1} φ(a) - b^{j-1} φ(b) (M_0 = Φ(b) - Φ(a),
 * M_1 = φ(a) - φ(b)), and E[X^j; inside] = Σ_i C(j, i) mu^{j-i} sigma^i M_i.
 */
export function clampedNormal(mu: number, sigma: number, lo: number, hi: number): { pLo: number; pHi: number; raw: [number, number, number, number] } {
  const a = (lo - mu) / sigma;
  const b = (hi - mu) / sigma;
  const pLo = normalCdf(a);
  const pHi = normalCdf(-b);
  const M = [1 - pLo - pHi, normalPdf(a) - normalPdf(b)];
  for (let j = 2; j <= 4; j++) M.push((j - 1) * M[j - 2] + a ** (j - 1) * normalPdf(a) - b ** (j - 1) * normalPdf(b));
  const binom = (n: number, k: number) => {
    let c = 1;
    for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
    return c;
  };
  const raw = [1, 2, 3, 4].map((j) => {
    let inside = 0;
    for (let i = 0; i <= j; i++) inside += binom(j, i) * mu ** (j - i) * sigma ** i * M[i];
    return lo ** j * pLo + hi ** j * pHi + inside;
  }) as [number, number, number, number];
  return { pLo, pHi, raw };
}

/** Returns the mean, variance and 4th central moment from the raw moments E[X^j], j = 1..4. */
export function momentsFromRaw([e1, e2, e3, e4]: readonly number[]): Moments {
  return { mean: e1, variance: e2 - e1 * e1, m4: e4 - 4 * e1 * e3 + 6 * e1 * e1 * e2 - 3 * e1 ** 4 };
}
