/**
 * Closed-form posteriors of the standard conjugate pairs, for checking samplers against
 * the truth, and `checkMoments`, which judges a sample's mean and variance by their Monte
 * Carlo standard errors (ESS-based, so correlated MCMC draws are judged fairly).
 *
 * Parameterisations follow the .mix distributions: normal(mean, sd), gamma(shape, rate),
 * inv_gamma(shape, scale), beta(a, b), dirichlet(alpha), categorical on 1..K.
 */
import { lgammaF64 } from '../tensor/special';
import { effectiveSampleSize } from './stats';

/** Posterior mean and variance of a scalar. */
export interface Moments {
  mean: number;
  variance: number;
}

/** Posterior means and variances of a vector's elements. */
export interface VectorMoments {
  mean: number[];
  variance: number[];
}

function positive(fn: string, name: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${fn}: ${name} must be a positive finite number, got ${v}`);
}

function finiteAll(fn: string, name: string, ys: readonly number[]): void {
  ys.forEach((y, i) => {
    if (!Number.isFinite(y)) throw new RangeError(`${fn}: ${name}[${i}] is ${y}, not a finite number`);
  });
}

/**
 * Returns the posterior of μ for y_i ~ normal(μ, sigma) with sigma known and prior
 * μ ~ normal(priorMean, priorSd): precision 1/priorSd² + n/sigma², mean
 * (priorMean/priorSd² + Σy/sigma²) / precision.
 *
 * @example
 * normalKnownVariance({ priorMean: 0, priorSd: 1, sigma: 1, y: [0.3, -0.1] }); // { mean: 0.0667, variance: 0.3333 }
 */
export function normalKnownVariance(a: { priorMean: number; priorSd: number; sigma: number; y: readonly number[] }): Moments {
  const fn = 'normalKnownVariance';
  if (!Number.isFinite(a.priorMean)) throw new RangeError(`${fn}: priorMean must be finite, got ${a.priorMean}`);
  positive(fn, 'priorSd', a.priorSd);
  positive(fn, 'sigma', a.sigma);
  finiteAll(fn, 'y', a.y);
  const prec = 1 / a.priorSd ** 2 + a.y.length / a.sigma ** 2;
  const sum = a.y.reduce((s, v) => s + v, 0);
  return { mean: (a.priorMean / a.priorSd ** 2 + sum / a.sigma ** 2) / prec, variance: 1 / prec };
}

/**
 * Returns the posterior of λ for y_i ~ poisson(λ) with λ ~ gamma(shape, rate): gamma(shape
 * + Σy, rate + n), mean (shape + Σy)/(rate + n), variance (shape + Σy)/(rate + n)².
 *
 * @example
 * poissonGamma({ shape: 2, rate: 1, y: [3, 1, 4] }); // gamma(10, 4): { mean: 2.5, variance: 0.625 }
 */
export function poissonGamma(a: { shape: number; rate: number; y: readonly number[] }): Moments & { shape: number; rate: number } {
  const fn = 'poissonGamma';
  positive(fn, 'shape', a.shape);
  positive(fn, 'rate', a.rate);
  a.y.forEach((y, i) => {
    if (!Number.isInteger(y) || y < 0) throw new RangeError(`${fn}: y[${i}] is ${y}, not a count (nonnegative integer)`);
  });
  const shape = a.shape + a.y.reduce((s, v) => s + v, 0);
  const rate = a.rate + a.y.length;
  return { shape, rate, mean: shape / rate, variance: shape / (rate * rate) };
}

/**
 * Returns the posterior of p for `successes` out of `trials` Bernoulli/binomial trials with
 * p ~ beta(a, b): beta(a + successes, b + trials - successes), mean α/(α+β), variance
 * αβ/((α+β)²(α+β+1)). Pass `y` (0/1 outcomes) instead of successes/trials for Bernoulli data.
 *
 * @example
 * betaBinomial({ a: 1, b: 1, successes: 7, trials: 10 }); // beta(8, 4): mean 0.6667
 */
export function betaBinomial(a: { a: number; b: number; successes?: number; trials?: number; y?: readonly number[] }): Moments & { a: number; b: number } {
  const fn = 'betaBinomial';
  positive(fn, 'a', a.a);
  positive(fn, 'b', a.b);
  let s: number;
  let n: number;
  if (a.y) {
    a.y.forEach((y, i) => {
      if (y !== 0 && y !== 1) throw new RangeError(`${fn}: y[${i}] is ${y}, not 0 or 1`);
    });
    s = a.y.reduce((t, v) => t + v, 0);
    n = a.y.length;
  } else {
    if (a.successes === undefined || a.trials === undefined) throw new RangeError(`${fn}: give either y (0/1 outcomes) or successes and trials`);
    s = a.successes;
    n = a.trials;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${fn}: trials must be a nonnegative integer, got ${n}`);
    if (!Number.isInteger(s) || s < 0 || s > n) throw new RangeError(`${fn}: successes must be an integer in 0..trials (${n}), got ${s}`);
  }
  const al = a.a + s;
  const be = a.b + n - s;
  const t = al + be;
  return { a: al, b: be, mean: al / t, variance: (al * be) / (t * t * (t + 1)) };
}

/**
 * Returns the posterior of a probability vector θ for y_i ~ categorical(θ) (categories
 * 1..K, as in .mix) with θ ~ dirichlet(alpha): dirichlet(alpha + counts), element means
 * α'_k/α'_0 and variances α'_k(α'_0 - α'_k)/(α'_0²(α'_0 + 1)). Pass `counts` instead of y
 * if you have them.
 *
 * @example
 * dirichletCategorical({ alpha: [1, 1, 1], y: [1, 3, 3, 2, 3] }); // dirichlet(2, 2, 4)
 */
export function dirichletCategorical(a: { alpha: readonly number[]; y?: readonly number[]; counts?: readonly number[] }): VectorMoments & { alpha: number[] } {
  const fn = 'dirichletCategorical';
  const K = a.alpha.length;
  if (K < 2) throw new RangeError(`${fn}: alpha needs at least 2 categories, got ${K}`);
  a.alpha.forEach((v, k) => positive(fn, `alpha[${k}]`, v));
  const counts = new Array<number>(K).fill(0);
  if (a.counts) {
    if (a.counts.length !== K) throw new RangeError(`${fn}: counts has ${a.counts.length} entries but alpha has ${K}`);
    a.counts.forEach((c, k) => {
      if (!Number.isInteger(c) || c < 0) throw new RangeError(`${fn}: counts[${k}] is ${c}, not a nonnegative integer`);
      counts[k] = c;
    });
  } else if (a.y) {
    a.y.forEach((y, i) => {
      if (!Number.isInteger(y) || y < 1 || y > K) throw new RangeError(`${fn}: y[${i}] is ${y}, not a category in 1..${K}`);
      counts[y - 1]++;
    });
  }
  const post = a.alpha.map((v, k) => v + counts[k]);
  const a0 = post.reduce((s, v) => s + v, 0);
  return { alpha: post, mean: post.map((v) => v / a0), variance: post.map((v) => (v * (a0 - v)) / (a0 * a0 * (a0 + 1))) };
}

/** The normal–inverse-gamma posterior and the moments of μ, σ² and σ. */
export interface NormalInverseGammaPosterior {
  /** Posterior hyperparameters: μ | σ² ~ normal(m, σ/√kappa), σ² ~ inv_gamma(shape, scale). */
  m: number;
  kappa: number;
  shape: number;
  scale: number;
  /** Marginal of μ: Student-t(2·shape, m, √(scale/(shape·kappa))); variance needs shape > 1. */
  mu: Moments;
  /** σ² ~ inv_gamma(shape, scale): mean needs shape > 1, variance shape > 2. */
  sigma2: Moments;
  /** σ = √σ²: E[σ] = √scale Γ(shape - ½)/Γ(shape); variance E[σ²] - E[σ]². */
  sigma: Moments;
}

/**
 * Returns the posterior for y_i ~ normal(μ, σ) with unknown μ and σ² under the
 * normal–inverse-gamma prior σ² ~ inv_gamma(shape, scale), μ | σ² ~ normal(m, σ/√kappa):
 * kappa' = kappa + n, m' = (kappa m + n ȳ)/kappa', shape' = shape + n/2,
 * scale' = scale + ½ Σ(y - ȳ)² + kappa n (ȳ - m)² / (2 kappa'). Moments that do not
 * exist (shape' too small) are Infinity.
 *
 * In .mix: `sigma2 ~ inv_gamma(a0, b0)  mu ~ normal(m0, sqrt(sigma2 / k0))  y ~ normal(mu, sqrt(sigma2))`.
 *
 * @example
 * normalInverseGamma({ m: 0, kappa: 1, shape: 3, scale: 2, y: [1.2, 0.4, 0.9] }).mu.mean;
 */
export function normalInverseGamma(a: { m: number; kappa: number; shape: number; scale: number; y: readonly number[] }): NormalInverseGammaPosterior {
  const fn = 'normalInverseGamma';
  if (!Number.isFinite(a.m)) throw new RangeError(`${fn}: m must be finite, got ${a.m}`);
  positive(fn, 'kappa', a.kappa);
  positive(fn, 'shape', a.shape);
  positive(fn, 'scale', a.scale);
  finiteAll(fn, 'y', a.y);
  const n = a.y.length;
  const ybar = n ? a.y.reduce((s, v) => s + v, 0) / n : 0;
  const ss = a.y.reduce((s, v) => s + (v - ybar) ** 2, 0);
  const kappa = a.kappa + n;
  const m = (a.kappa * a.m + n * ybar) / kappa;
  const shape = a.shape + n / 2;
  const scale = a.scale + ss / 2 + (a.kappa * n * (ybar - a.m) ** 2) / (2 * kappa);
  const s2mean = shape > 1 ? scale / (shape - 1) : Infinity;
  const s2var = shape > 2 ? (scale * scale) / ((shape - 1) ** 2 * (shape - 2)) : Infinity;
  const sMean = Math.sqrt(scale) * Math.exp(lgammaF64(shape - 0.5) - lgammaF64(shape));
  return {
    m, kappa, shape, scale,
    mu: { mean: m, variance: shape > 1 ? scale / ((shape - 1) * kappa) : Infinity },
    sigma2: { mean: s2mean, variance: s2var },
    sigma: { mean: sMean, variance: s2mean - sMean * sMean },
  };
}

// ---------------------------------------------------------------------------------------
// Moment checks
// ---------------------------------------------------------------------------------------

/** One judged moment. */
export interface MomentJudgement {
  estimate: number;
  expected: number;
  /** Monte Carlo standard error of the estimate. */
  mcse: number;
  /** ESS of the chain the MCSE is based on (draws for the mean, squared centred draws for the variance). */
  ess: number;
  /** (estimate - expected) / mcse. */
  z: number;
}

/** The result of `checkMoments`. */
export interface MomentCheck {
  ok: boolean;
  /** The larger |z| of the two moments. */
  z: number;
  zCrit: number;
  n: number;
  mean: MomentJudgement;
  /** Absent when no expected variance was given. */
  variance?: MomentJudgement;
  /** One line saying what was compared and, on failure, which moment is off and by how much. */
  message: string;
}

const g4 = (v: number) => Number(v.toPrecision(4)).toString();

/**
 * Returns whether draws have the expected mean (and variance), judged by Monte Carlo
 * standard errors: the mean by sd/√ESS(x), the sample variance s² by sd(d)/√ESS(d) with
 * d_i = (x_i - x̄)², so correlated MCMC draws are fine. `ok` when both |z| <= zCrit
 * (default 4: a false alarm rate of 6e-5 per moment for a correct sampler).
 *
 * @example
 * const r = checkMoments(draws, normalKnownVariance({ priorMean: 0, priorSd: 1, sigma: 1, y }));
 * if (!r.ok) throw new Error(r.message);
 */
export function checkMoments(draws: ArrayLike<number>, expected: { mean: number; variance?: number }, opts: { zCrit?: number; label?: string } = {}): MomentCheck {
  const zCrit = opts.zCrit ?? 4;
  const label = opts.label ?? 'draws';
  if (!(zCrit > 0)) throw new RangeError(`checkMoments: zCrit must be positive, got ${zCrit}`);
  if (!Number.isFinite(expected.mean)) throw new RangeError(`checkMoments: expected mean of ${label} must be finite, got ${expected.mean}`);
  if (expected.variance !== undefined && !(expected.variance >= 0 && Number.isFinite(expected.variance))) {
    throw new RangeError(`checkMoments: expected variance of ${label} must be a nonnegative finite number, got ${expected.variance}`);
  }
  const n = draws.length;
  if (n < 10) throw new RangeError(`checkMoments: needs at least 10 draws of ${label}, got ${n}`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(draws[i])) throw new RangeError(`checkMoments: ${label}[${i}] is ${draws[i]}`);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += draws[i];
  mean /= n;
  const d = new Float64Array(n);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    d[i] = (draws[i] - mean) ** 2;
    ss += d[i];
  }
  const s2 = ss / (n - 1);
  const essX = effectiveSampleSize(draws);
  const mcseMeanV = Math.sqrt(s2 / essX);
  const zOf = (diff: number, se: number) => (diff === 0 ? 0 : se > 0 ? diff / se : Math.sign(diff) * Infinity);
  const meanJ: MomentJudgement = { estimate: mean, expected: expected.mean, mcse: mcseMeanV, ess: essX, z: zOf(mean - expected.mean, mcseMeanV) };
  let varJ: MomentJudgement | undefined;
  if (expected.variance !== undefined) {
    const dm = ss / n;
    let sd2 = 0;
    for (let i = 0; i < n; i++) sd2 += (d[i] - dm) ** 2;
    const essD = effectiveSampleSize(d);
    const mcseVar = Math.sqrt(sd2 / (n - 1) / essD);
    varJ = { estimate: s2, expected: expected.variance, mcse: mcseVar, ess: essD, z: zOf(s2 - expected.variance, mcseVar) };
  }
  const z = Math.max(Math.abs(meanJ.z), varJ ? Math.abs(varJ.z) : 0);
  const ok = z <= zCrit;
  const describe = (what: string, j: MomentJudgement) => {
    const rel = j.expected !== 0 ? ` (${g4((100 * (j.estimate - j.expected)) / Math.abs(j.expected))}%)` : '';
    return `${what} ${g4(j.estimate)} vs expected ${g4(j.expected)}: off by ${g4(j.estimate - j.expected)}${rel} = ${g4(j.z)} MCSE (MCSE ${g4(j.mcse)}, ESS ${g4(j.ess)})`;
  };
  const parts = [describe('mean', meanJ)];
  if (varJ) parts.push(describe('variance', varJ));
  const bad = [Math.abs(meanJ.z) > zCrit ? 'mean' : '', varJ && Math.abs(varJ.z) > zCrit ? 'variance' : ''].filter(Boolean);
  const message = ok
    ? `${label}: moments agree within ${zCrit} MCSE (${n} draws): ${parts.join('; ')}`
    : `${label}: ${bad.join(' and ')} off by more than ${zCrit} MCSE (${n} draws): ${parts.join('; ')}`;
  return { ok, z, zCrit, n, mean: meanJ, variance: varJ, message };
}
