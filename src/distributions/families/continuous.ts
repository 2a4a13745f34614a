/**
 * Scalar continuous families. Parameterisations and names follow Stan. Parameters outside
 * their constraint (sigma <= 0, ...) give NaN: the model layer validates arguments.
 */
import { tf, lbeta, lgamma, log1mexp, log1p, logBesselI0, logNdtr } from '../../tensor';
import type { Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { DistributionDef } from '../types';
import {
  LN2, LOG_PI, LOG_SQRT_2PI, and, finite, invalid, logSigmoid, orNegInf, positive, real, safe, scalarArgs, softplus, xlog1py, xlogy,
} from './common';

const REAL = { elem: 'real', eventRank: 0, constraint: 'real' } as const;
const POSITIVE = { elem: 'real', eventRank: 0, constraint: 'positive' } as const;

const SQRT2 = Math.SQRT2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** Returns log N(x | mu, sigma). */
function normalLp(x: Tensor, mu: Tensor | number, sigma: Tensor): Tensor {
  const z = tf.div(tf.sub(x, mu), sigma);
  return tf.sub(tf.neg(tf.add(tf.mul(0.5, tf.square(z)), tf.log(sigma))), LOG_SQRT_2PI);
}

/** Erf power-series coefficients (-1)^n / (n! (2n+1)), n = 0..12 (erf z = 2/√π · z Σ cₙ z²ⁿ; enough for |z| <= 1 in float32). */
const ERF_SERIES: number[] = [];
{
  let f = 1;
  for (let n = 0; n <= 12; n++) {
    if (n > 0) f *= n;
    ERF_SERIES.push(((n % 2 === 0 ? 1 : -1) / (f * (2 * n + 1))));
  }
}

/**
 * Returns log erf(z) for z > 0 (-Infinity at z <= 0). Near 0 erf(z) is tiny and must keep
 * its relative precision, so |z| <= 1 uses the power series z·Σ cₙ z²ⁿ (log of z taken
 * separately); beyond, erf = 1 - erfc with log erfc from logΦ (log1mexp keeps it exact).
 */
function logErf(z: Tensor): Tensor {
  const pos = tf.greater(z, 0);
  const small = tf.lessEqual(z, 1);
  const zs = tf.where(pos, tf.minimum(z, 1), tf.scalar(0.5));
  const z2 = tf.square(zs);
  let poly: Tensor = tf.scalar(ERF_SERIES[ERF_SERIES.length - 1]);
  for (let i = ERF_SERIES.length - 2; i >= 0; i--) poly = tf.add(tf.mul(poly, z2), ERF_SERIES[i]);
  const lsmall = tf.add(tf.add(Math.log(TWO_OVER_SQRT_PI), tf.log(zs)), tf.log(poly));
  const zl = tf.maximum(z, 1);
  // erfc(z) = 2Φ(-z√2), so log erf = log(1 - e^{-t}) with t = -(log 2 + logΦ(-z√2)) > 0.
  const t = tf.neg(tf.add(LN2, logNdtr(tf.mul(-SQRT2, zl))));
  const llarge = log1mexp(t);
  return orNegInf(pos, tf.where(small, lsmall, llarge));
}

/**
 * Returns log(1/2 + atan(z)/π), the standard Cauchy log CDF, without the cancellation for
 * z << 0: there 1/2 + atan(z)/π = atan(-1/z)/π.
 */
function cauchyLogCdf(z: Tensor): Tensor {
  const far = tf.less(z, -1);
  const zn = tf.minimum(z, -1);
  const zp = tf.maximum(z, -1);
  const left = tf.sub(tf.log(tf.atan(tf.div(-1, zn))), LOG_PI);
  const right = tf.log(tf.add(0.5, tf.div(tf.atan(zp), Math.PI)));
  return tf.where(far, left, right);
}

/** Returns the Cauchy draw mu + sigma·tan(π(u - 1/2)). */
function cauchyDraw(rng: Rng, mu: number, sigma: number): number {
  return mu + sigma * Math.tan(Math.PI * (rng.uniform() - 0.5));
}

const normal: DistributionDef = {
  name: 'normal',
  doc: 'Normal (Gaussian) distribution with mean mu and standard deviation sigma.',
  density: 'N(y | mu, sigma) = 1/(sqrt(2 pi) sigma) exp(-(y - mu)^2 / (2 sigma^2))',
  params: [real('mu'), real('sigma', 'positive')],
  support: REAL,
  logProb: (y, mu, sigma) => tf.tidy(() => normalLp(y, mu, sigma)),
  logCdf: (y, mu, sigma) => tf.tidy(() => logNdtr(tf.div(tf.sub(y, mu), sigma))),
  logCcdf: (y, mu, sigma) => tf.tidy(() => logNdtr(tf.div(tf.sub(mu, y), sigma))),
  sample: (rng, ...ps) => {
    const [mu, sigma] = scalarArgs('normal', ['mu', 'sigma'], ps);
    return rng.normal(finite('normal', 'mu', mu), positive('normal', 'sigma', sigma));
  },
  moments: (mu, sigma) => ({ mean: mu as number, variance: (sigma as number) ** 2 }),
};

const halfNormal: DistributionDef = {
  name: 'half_normal',
  doc: 'Half-normal distribution: |X| for X ~ normal(0, sigma).',
  density: 'HalfNormal(y | sigma) = 2 N(y | 0, sigma), y >= 0',
  params: [real('sigma', 'positive')],
  support: POSITIVE,
  logProb: (y, sigma) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    return orNegInf(ok, tf.add(LN2, normalLp(safe(ok, y, 0), 0, sigma)));
  }),
  // F(y) = erf(y / (sigma √2)); 1 - F(y) = 2Φ(-y/sigma).
  logCdf: (y, sigma) => tf.tidy(() => logErf(tf.div(y, tf.mul(sigma, SQRT2)))),
  logCcdf: (y, sigma) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    return tf.where(ok, tf.add(LN2, logNdtr(tf.neg(tf.div(safe(ok, y, 0), sigma)))), tf.scalar(0));
  }),
  sample: (rng, ...ps) => {
    const [sigma] = scalarArgs('half_normal', ['sigma'], ps);
    return Math.abs(rng.normal(0, positive('half_normal', 'sigma', sigma)));
  },
  moments: (sigma) => {
    const s = sigma as number;
    return { mean: s * Math.sqrt(2 / Math.PI), variance: s * s * (1 - 2 / Math.PI) };
  },
};

const studentT: DistributionDef = {
  name: 'student_t',
  doc: "Student's t distribution with nu degrees of freedom, location mu and scale sigma.",
  density: 'StudentT(y | nu, mu, sigma) = Gamma((nu+1)/2) / (Gamma(nu/2) sqrt(nu pi) sigma) (1 + ((y - mu)/sigma)^2 / nu)^(-(nu+1)/2)',
  params: [real('nu', 'positive'), real('mu'), real('sigma', 'positive')],
  support: REAL,
  logProb: (y, nu, mu, sigma) => tf.tidy(() => {
    // Γ((ν+1)/2)/(Γ(ν/2)√(νπ)) = 1/(B(ν/2, 1/2)√ν): lbeta avoids the lgamma cancellation at large ν.
    const z = tf.div(tf.sub(y, mu), sigma);
    const norm = tf.neg(tf.add(tf.add(lbeta(tf.mul(0.5, nu), 0.5), tf.mul(0.5, tf.log(nu))), tf.log(sigma)));
    return tf.sub(norm, tf.mul(tf.mul(0.5, tf.add(nu, 1)), log1p(tf.div(tf.square(z), nu))));
  }),
  sample: (rng, ...ps) => {
    const [nu, mu, sigma] = scalarArgs('student_t', ['nu', 'mu', 'sigma'], ps);
    return finite('student_t', 'mu', mu) + positive('student_t', 'sigma', sigma) * rng.studentT(positive('student_t', 'nu', nu));
  },
  moments: (nu, mu, sigma) => {
    const n = nu as number;
    if (!(n > 1)) return undefined;
    return { mean: mu as number, variance: n > 2 ? ((sigma as number) ** 2 * n) / (n - 2) : Infinity };
  },
};

const cauchy: DistributionDef = {
  name: 'cauchy',
  doc: 'Cauchy distribution with location mu and scale sigma (no mean or variance).',
  density: 'Cauchy(y | mu, sigma) = 1 / (pi sigma (1 + ((y - mu)/sigma)^2))',
  params: [real('mu'), real('sigma', 'positive')],
  support: REAL,
  logProb: (y, mu, sigma) => tf.tidy(() => {
    const z = tf.div(tf.sub(y, mu), sigma);
    return tf.sub(tf.neg(tf.add(tf.log(sigma), log1p(tf.square(z)))), LOG_PI);
  }),
  logCdf: (y, mu, sigma) => tf.tidy(() => cauchyLogCdf(tf.div(tf.sub(y, mu), sigma))),
  logCcdf: (y, mu, sigma) => tf.tidy(() => cauchyLogCdf(tf.div(tf.sub(mu, y), sigma))),
  sample: (rng, ...ps) => {
    const [mu, sigma] = scalarArgs('cauchy', ['mu', 'sigma'], ps);
    return cauchyDraw(rng, finite('cauchy', 'mu', mu), positive('cauchy', 'sigma', sigma));
  },
};

const halfCauchy: DistributionDef = {
  name: 'half_cauchy',
  doc: 'Half-Cauchy distribution: |X| for X ~ cauchy(0, sigma) (a common prior on scales).',
  density: 'HalfCauchy(y | sigma) = 2 / (pi sigma (1 + (y/sigma)^2)), y >= 0',
  params: [real('sigma', 'positive')],
  support: POSITIVE,
  logProb: (y, sigma) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    const z = tf.div(safe(ok, y, 0), sigma);
    return orNegInf(ok, tf.sub(tf.sub(LN2 - LOG_PI, tf.log(sigma)), log1p(tf.square(z))));
  }),
  // F(y) = (2/π) atan(z); 1 - F(y) = (2/π) atan(1/z), each accurate in its own tail.
  logCdf: (y, sigma) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    const z = tf.div(safe(ok, y, 1), sigma);
    return orNegInf(ok, tf.add(LN2 - LOG_PI, tf.log(tf.atan(z))));
  }),
  logCcdf: (y, sigma) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    const z = tf.div(safe(ok, y, 1), sigma);
    return tf.where(ok, tf.add(LN2 - LOG_PI, tf.log(tf.atan(tf.reciprocal(z)))), tf.scalar(0));
  }),
  sample: (rng, ...ps) => {
    const [sigma] = scalarArgs('half_cauchy', ['sigma'], ps);
    return Math.abs(cauchyDraw(rng, 0, positive('half_cauchy', 'sigma', sigma)));
  },
};

const lognormal: DistributionDef = {
  name: 'lognormal',
  doc: 'Log-normal distribution: exp(X) for X ~ normal(mu, sigma).',
  density: 'LogNormal(y | mu, sigma) = 1/(sqrt(2 pi) sigma y) exp(-(log y - mu)^2 / (2 sigma^2)), y > 0',
  params: [real('mu'), real('sigma', 'positive')],
  support: POSITIVE,
  logProb: (y, mu, sigma) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    const ly = tf.log(safe(ok, y, 1));
    return orNegInf(ok, tf.sub(normalLp(ly, mu, sigma), ly));
  }),
  logCdf: (y, mu, sigma) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    return orNegInf(ok, logNdtr(tf.div(tf.sub(tf.log(safe(ok, y, 1)), mu), sigma)));
  }),
  logCcdf: (y, mu, sigma) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    return tf.where(ok, logNdtr(tf.div(tf.sub(mu, tf.log(safe(ok, y, 1))), sigma)), tf.scalar(0));
  }),
  sample: (rng, ...ps) => {
    const [mu, sigma] = scalarArgs('lognormal', ['mu', 'sigma'], ps);
    return Math.exp(rng.normal(finite('lognormal', 'mu', mu), positive('lognormal', 'sigma', sigma)));
  },
  moments: (mu, sigma) => {
    const m = mu as number;
    const s2 = (sigma as number) ** 2;
    return { mean: Math.exp(m + s2 / 2), variance: Math.expm1(s2) * Math.exp(2 * m + s2) };
  },
};

const exponential: DistributionDef = {
  name: 'exponential',
  doc: 'Exponential distribution with the given rate (mean 1/rate).',
  density: 'Exponential(y | rate) = rate exp(-rate y), y >= 0',
  params: [real('rate', 'positive')],
  support: POSITIVE,
  logProb: (y, rate) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    return orNegInf(ok, tf.sub(tf.log(rate), tf.mul(rate, safe(ok, y, 0))));
  }),
  logCdf: (y, rate) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    return orNegInf(ok, log1mexp(tf.mul(rate, safe(ok, y, 1))));
  }),
  logCcdf: (y, rate) => tf.tidy(() => tf.neg(tf.mul(rate, tf.relu(y)))),
  sample: (rng, ...ps) => {
    const [rate] = scalarArgs('exponential', ['rate'], ps);
    return rng.exponential(positive('exponential', 'rate', rate));
  },
  moments: (rate) => ({ mean: 1 / (rate as number), variance: 1 / (rate as number) ** 2 }),
};

const gamma: DistributionDef = {
  name: 'gamma',
  doc: 'Gamma distribution with the given shape and rate (mean shape/rate).',
  density: 'Gamma(y | shape, rate) = rate^shape / Gamma(shape) y^(shape - 1) exp(-rate y), y > 0',
  params: [real('shape', 'positive'), real('rate', 'positive')],
  support: POSITIVE,
  logProb: (y, shape, rate) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    const ys = safe(ok, y, 1);
    const lp = tf.sub(tf.add(tf.sub(tf.mul(shape, tf.log(rate)), lgamma(shape)), xlogy(tf.sub(shape, 1), ys)), tf.mul(rate, ys));
    return orNegInf(ok, lp);
  }),
  sample: (rng, ...ps) => {
    const [shape, rate] = scalarArgs('gamma', ['shape', 'rate'], ps);
    return rng.gamma(positive('gamma', 'shape', shape), positive('gamma', 'rate', rate));
  },
  moments: (shape, rate) => ({ mean: (shape as number) / (rate as number), variance: (shape as number) / (rate as number) ** 2 }),
};

const invGamma: DistributionDef = {
  name: 'inv_gamma',
  doc: 'Inverse-gamma distribution: 1/X for X ~ gamma(shape, scale).',
  density: 'InvGamma(y | shape, scale) = scale^shape / Gamma(shape) y^(-(shape + 1)) exp(-scale / y), y > 0',
  params: [real('shape', 'positive'), real('scale', 'positive')],
  support: POSITIVE,
  logProb: (y, shape, scale) => tf.tidy(() => {
    const ok = tf.greater(y, 0);
    const ys = safe(ok, y, 1);
    const lp = tf.sub(
      tf.sub(tf.sub(tf.mul(shape, tf.log(scale)), lgamma(shape)), tf.mul(tf.add(shape, 1), tf.log(ys))),
      tf.div(scale, ys),
    );
    return orNegInf(ok, lp);
  }),
  sample: (rng, ...ps) => {
    const [shape, scale] = scalarArgs('inv_gamma', ['shape', 'scale'], ps);
    // 1/G computed from log G so that tiny shapes (G underflowing to 0) still give a finite draw where possible.
    return positive('inv_gamma', 'scale', scale) * Math.exp(-rng.gammaLog(positive('inv_gamma', 'shape', shape)));
  },
  moments: (shape, scale) => {
    const a = shape as number;
    const b = scale as number;
    if (!(a > 1)) return undefined;
    return { mean: b / (a - 1), variance: a > 2 ? (b * b) / ((a - 1) ** 2 * (a - 2)) : Infinity };
  },
};

const beta: DistributionDef = {
  name: 'beta',
  doc: 'Beta distribution on (0, 1) with shapes a and b (mean a/(a+b)).',
  density: 'Beta(y | a, b) = y^(a - 1) (1 - y)^(b - 1) / B(a, b), 0 < y < 1',
  params: [real('a', 'positive'), real('b', 'positive')],
  support: { elem: 'real', eventRank: 0, constraint: 'unit' },
  logProb: (y, a, b) => tf.tidy(() => {
    const ok = and(tf.greaterEqual(y, 0), tf.lessEqual(y, 1));
    const ys = safe(ok, y, 0.5);
    const lp = tf.sub(tf.add(xlogy(tf.sub(a, 1), ys), xlog1py(tf.sub(b, 1), tf.neg(ys))), lbeta(a, b));
    return orNegInf(ok, lp);
  }),
  sample: (rng, ...ps) => {
    const [a, b] = scalarArgs('beta', ['a', 'b'], ps);
    return rng.beta(positive('beta', 'a', a), positive('beta', 'b', b));
  },
  moments: (a, b) => {
    const s = (a as number) + (b as number);
    return { mean: (a as number) / s, variance: ((a as number) * (b as number)) / (s * s * (s + 1)) };
  },
};

const uniform: DistributionDef = {
  name: 'uniform',
  doc: 'Uniform distribution on [lower, upper].',
  density: 'Uniform(y | lower, upper) = 1 / (upper - lower), lower <= y <= upper',
  params: [real('lower'), real('upper')],
  support: { elem: 'real', eventRank: 0, constraint: 'interval' },
  logProb: (y, lower, upper) => tf.tidy(() => {
    const ok = and(tf.greaterEqual(y, lower), tf.lessEqual(y, upper));
    // Written as 0·y - log(upper - lower) so that the result has the full broadcast shape.
    return orNegInf(ok, tf.sub(tf.mul(0, y), tf.log(tf.sub(upper, lower))));
  }),
  // F(y) = (min(y, upper) - lower)/(upper - lower). Where the answer is -Infinity the logs get
  // the midpoint instead, so that their gradients stay finite (see orNegInf).
  logCdf: (y, lower, upper) => tf.tidy(() => {
    const ok = tf.greater(y, lower);
    const ys = tf.where(ok, tf.minimum(y, upper), tf.mul(0.5, tf.add(lower, upper)));
    return orNegInf(ok, tf.sub(tf.log(tf.sub(ys, lower)), tf.log(tf.sub(upper, lower))));
  }),
  logCcdf: (y, lower, upper) => tf.tidy(() => {
    const ok = tf.less(y, upper);
    const ys = tf.where(ok, tf.maximum(y, lower), tf.mul(0.5, tf.add(lower, upper)));
    return orNegInf(ok, tf.sub(tf.log(tf.sub(upper, ys)), tf.log(tf.sub(upper, lower))));
  }),
  sample: (rng, ...ps) => {
    const [lower, upper] = scalarArgs('uniform', ['lower', 'upper'], ps);
    finite('uniform', 'lower', lower);
    finite('uniform', 'upper', upper);
    if (!(upper > lower)) invalid('uniform', `upper (${upper}) must be greater than lower (${lower})`);
    return lower + (upper - lower) * rng.uniform();
  },
  moments: (lower, upper) => {
    const l = lower as number;
    const u = upper as number;
    return { mean: (l + u) / 2, variance: (u - l) ** 2 / 12 };
  },
};

const vonMises: DistributionDef = {
  name: 'von_mises',
  doc: 'Von Mises distribution on the circle: location mu, concentration kappa (normalised over any interval of length 2 pi).',
  density: 'VonMises(y | mu, kappa) = exp(kappa cos(y - mu)) / (2 pi I0(kappa))',
  params: [real('mu'), real('kappa', 'positive')],
  support: REAL,
  logProb: (y, mu, kappa) => tf.tidy(() =>
    tf.sub(tf.sub(tf.mul(kappa, tf.cos(tf.sub(y, mu))), logBesselI0(kappa)), Math.log(2 * Math.PI))),
  sample: (rng, ...ps) => {
    const [mu, kappa] = scalarArgs('von_mises', ['mu', 'kappa'], ps);
    return rng.vonMises(finite('von_mises', 'mu', mu), positive('von_mises', 'kappa', kappa));
  },
};

const logistic: DistributionDef = {
  name: 'logistic',
  doc: 'Logistic distribution with location mu and scale s.',
  density: 'Logistic(y | mu, s) = exp(-z) / (s (1 + exp(-z))^2), z = (y - mu)/s',
  params: [real('mu'), real('s', 'positive')],
  support: REAL,
  logProb: (y, mu, s) => tf.tidy(() => {
    const z = tf.div(tf.sub(y, mu), s);
    // log e^{-z}/(1+e^{-z})² = -z - 2 softplus(-z), stable in both tails.
    return tf.sub(tf.sub(tf.neg(z), tf.mul(2, softplus(tf.neg(z)))), tf.log(s));
  }),
  logCdf: (y, mu, s) => tf.tidy(() => logSigmoid(tf.div(tf.sub(y, mu), s))),
  logCcdf: (y, mu, s) => tf.tidy(() => logSigmoid(tf.div(tf.sub(mu, y), s))),
  sample: (rng, ...ps) => {
    const [mu, s] = scalarArgs('logistic', ['mu', 's'], ps);
    const u = rng.uniform();
    return finite('logistic', 'mu', mu) + positive('logistic', 's', s) * (Math.log(u) - Math.log1p(-u));
  },
  moments: (mu, s) => ({ mean: mu as number, variance: ((s as number) * Math.PI) ** 2 / 3 }),
};

/** The scalar continuous families. */
export const CONTINUOUS: DistributionDef[] = [
  normal, halfNormal, studentT, cauchy, halfCauchy, lognormal, exponential, gamma, invGamma, beta, uniform, vonMises, logistic,
];
