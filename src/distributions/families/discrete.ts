/**
 * Discrete families. Values come as float32 tensors holding whole numbers; categories are
 * 1-based. A value outside the support (a category outside 1..K, a negative count, a count
 * above n) gives -Infinity; non-integer counts are the data validator's business.
 */
import { tf, lbeta, lgamma, log1p, logSumExp } from '../../tensor';
import type { Tensor } from '../../tensor';
import type { DistributionDef, JsValue } from '../types';
import {
  and, count, finite, int, invalid, logSigmoid, or, orNegInf, positive, probability, real, safe, scalarArgs, vector, xlog1py, xlogy,
} from './common';

const COUNT = { elem: 'int', eventRank: 0, constraint: 'nonneg_int' } as const;
const CATEGORY = { elem: 'int', eventRank: 0, constraint: 'category', finite: true } as const;
const BINARY = { elem: 'int', eventRank: 0, constraint: 'binary', finite: true } as const;

/** Returns the 0/1 float mask [..., K] of y (1-based, [...]) against the categories 1..K. */
function oneHot(y: Tensor, K: number): Tensor {
  const cats = tf.range(1, K + 1, 1, 'float32');
  return tf.cast(tf.equal(tf.expandDims(y, -1), cats), 'float32');
}

/** Returns log C(n, k) = -log(n + 1) - log B(k + 1, n - k + 1), accurate when n is large (no lgamma cancellation). */
function logChoose(n: Tensor, k: Tensor): Tensor {
  return tf.neg(tf.add(tf.log(tf.add(n, 1)), lbeta(tf.add(k, 1), tf.add(tf.sub(n, k), 1))));
}

/** Returns log Γ(k + r)/(Γ(k + 1) Γ(r)) = -log(k + r) - log B(k + 1, r), for counts k >= 0 and r > 0. */
function logNegBinCoef(k: Tensor, r: Tensor): Tensor {
  return tf.neg(tf.add(tf.log(tf.add(k, r)), lbeta(tf.add(k, 1), r)));
}

function probsOf(family: string, ps: JsValue[], name: string): number[] {
  if (ps.length !== 1) invalid(family, `expected 1 parameter (${name}), got ${ps.length}`);
  return vector(family, name, ps[0]);
}

function categoricalMoments(p: number[]): { mean: number; variance: number } {
  let total = 0;
  let m1 = 0;
  let m2 = 0;
  p.forEach((w, i) => {
    total += w;
    m1 += (i + 1) * w;
    m2 += (i + 1) ** 2 * w;
  });
  m1 /= total;
  m2 /= total;
  return { mean: m1, variance: m2 - m1 * m1 };
}

function softmaxF64(logits: number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

function sigmoidF64(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

const categorical: DistributionDef = {
  name: 'categorical',
  doc: 'Categorical distribution over 1..K with probabilities probs (a simplex).',
  density: 'Categorical(y | probs) = probs[y], y in 1..K',
  params: [real('probs', 'simplex', 1)],
  support: CATEGORY,
  logProb: (y, probs) => tf.tidy(() => {
    // Select first, then take the log: a zero probability elsewhere in the simplex then
    // contributes neither -Infinity nor a 0/0 gradient.
    const K = probs.shape[probs.rank - 1];
    return tf.log(tf.sum(tf.mul(oneHot(y, K), probs), -1));
  }),
  sample: (rng, ...ps) => rng.categorical(probsOf('categorical', ps, 'probs')) + 1,
  supportValues: (probs) => range(1, vector('categorical', 'probs', probs).length),
  moments: (probs) => categoricalMoments(vector('categorical', 'probs', probs)),
};

const categoricalLogit: DistributionDef = {
  name: 'categorical_logit',
  doc: 'Categorical distribution over 1..K with probabilities softmax(logits).',
  density: 'CategoricalLogit(y | logits) = exp(logits[y]) / sum_k exp(logits[k]), y in 1..K',
  params: [real('logits', 'real', 1)],
  support: CATEGORY,
  logProb: (y, logits) => tf.tidy(() => {
    const K = logits.shape[logits.rank - 1];
    const h = oneHot(y, K);
    const picked = tf.sum(tf.mul(h, logits), -1);
    const lp = tf.sub(picked, logSumExp(logits, -1));
    return orNegInf(tf.greater(tf.sum(h, -1), 0), lp);
  }),
  sample: (rng, ...ps) => rng.categoricalLogits(probsOf('categorical_logit', ps, 'logits')) + 1,
  supportValues: (logits) => range(1, vector('categorical_logit', 'logits', logits).length),
  moments: (logits) => categoricalMoments(softmaxF64(vector('categorical_logit', 'logits', logits))),
};

const bernoulli: DistributionDef = {
  name: 'bernoulli',
  doc: 'Bernoulli distribution: 1 with probability p, else 0.',
  density: 'Bernoulli(y | p) = p^y (1 - p)^(1 - y), y in {0, 1}',
  params: [real('p', 'unit')],
  support: BINARY,
  logProb: (y, p) => tf.tidy(() => {
    const ok = or(tf.equal(y, 0), tf.equal(y, 1));
    const ys = safe(ok, y, 0);
    return orNegInf(ok, tf.add(xlogy(ys, p), xlog1py(tf.sub(1, ys), tf.neg(p))));
  }),
  sample: (rng, ...ps) => {
    const [p] = scalarArgs('bernoulli', ['p'], ps);
    return rng.uniform() < probability('bernoulli', 'p', p) ? 1 : 0;
  },
  supportValues: () => [0, 1],
  moments: (p) => ({ mean: p as number, variance: (p as number) * (1 - (p as number)) }),
};

const bernoulliLogit: DistributionDef = {
  name: 'bernoulli_logit',
  doc: 'Bernoulli distribution with log-odds alpha: 1 with probability 1/(1 + exp(-alpha)).',
  density: 'BernoulliLogit(y | alpha) = sigmoid(alpha)^y (1 - sigmoid(alpha))^(1 - y), y in {0, 1}',
  params: [real('alpha')],
  support: BINARY,
  logProb: (y, alpha) => tf.tidy(() => {
    // log sigmoid(±alpha) = -softplus(∓alpha): no overflow for any alpha.
    const ok = or(tf.equal(y, 0), tf.equal(y, 1));
    const sign = tf.sub(tf.mul(2, safe(ok, y, 0)), 1);
    return orNegInf(ok, logSigmoid(tf.mul(sign, alpha)));
  }),
  sample: (rng, ...ps) => {
    const [alpha] = scalarArgs('bernoulli_logit', ['alpha'], ps);
    if (Number.isNaN(alpha)) invalid('bernoulli_logit', 'alpha is NaN');
    return rng.uniform() < sigmoidF64(alpha) ? 1 : 0;
  },
  supportValues: () => [0, 1],
  moments: (alpha) => {
    const p = sigmoidF64(alpha as number);
    return { mean: p, variance: p * (1 - p) };
  },
};

const binomial: DistributionDef = {
  name: 'binomial',
  doc: 'Binomial distribution: the number of successes in n trials with success probability p.',
  density: 'Binomial(y | n, p) = C(n, y) p^y (1 - p)^(n - y), y in 0..n',
  params: [int('n', 'nonneg_int'), real('p', 'unit')],
  support: { ...COUNT, finite: true },
  logProb: (y, n, p) => tf.tidy(() => {
    const ok = and(tf.greaterEqual(y, 0), tf.lessEqual(y, n));
    const ys = safe(ok, y, 0);
    const nmy = tf.sub(n, ys);
    return orNegInf(ok, tf.add(logChoose(n, ys), tf.add(xlogy(ys, p), xlog1py(nmy, tf.neg(p)))));
  }),
  sample: (rng, ...ps) => {
    const [n, p] = scalarArgs('binomial', ['n', 'p'], ps);
    return rng.binomial(count('binomial', 'n', n), probability('binomial', 'p', p));
  },
  supportValues: (n) => range(0, count('binomial', 'n', n)),
  moments: (n, p) => ({ mean: (n as number) * (p as number), variance: (n as number) * (p as number) * (1 - (p as number)) }),
};

const poisson: DistributionDef = {
  name: 'poisson',
  doc: 'Poisson distribution with the given rate (mean and variance rate).',
  density: 'Poisson(y | rate) = rate^y exp(-rate) / y!, y = 0, 1, 2, ...',
  params: [real('rate', 'positive')],
  support: COUNT,
  logProb: (y, rate) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    const ys = safe(ok, y, 0);
    return orNegInf(ok, tf.sub(tf.sub(xlogy(ys, rate), rate), lgamma(tf.add(ys, 1))));
  }),
  sample: (rng, ...ps) => {
    const [rate] = scalarArgs('poisson', ['rate'], ps);
    return rng.poisson(positive('poisson', 'rate', rate));
  },
  moments: (rate) => ({ mean: rate as number, variance: rate as number }),
};

const poissonLog: DistributionDef = {
  name: 'poisson_log',
  doc: 'Poisson distribution with log rate log_rate.',
  density: 'PoissonLog(y | log_rate) = exp(y log_rate - exp(log_rate)) / y!, y = 0, 1, 2, ...',
  params: [real('log_rate')],
  support: COUNT,
  logProb: (y, logRate) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    const ys = safe(ok, y, 0);
    return orNegInf(ok, tf.sub(tf.sub(tf.mul(ys, logRate), tf.exp(logRate)), lgamma(tf.add(ys, 1))));
  }),
  sample: (rng, ...ps) => {
    const [logRate] = scalarArgs('poisson_log', ['log_rate'], ps);
    const rate = Math.exp(finite('poisson_log', 'log_rate', logRate));
    if (rate === Infinity) invalid('poisson_log', `log_rate ${logRate} overflows`);
    return rng.poisson(rate);
  },
  moments: (logRate) => ({ mean: Math.exp(logRate as number), variance: Math.exp(logRate as number) }),
};

const negBinomial: DistributionDef = {
  name: 'neg_binomial',
  doc: "Negative binomial distribution (Stan's NegBinomial): gamma(alpha, beta)-mixed Poisson, mean alpha/beta.",
  density: 'NegBinomial(y | alpha, beta) = C(y + alpha - 1, alpha - 1) (beta/(1 + beta))^alpha (1/(1 + beta))^y, y = 0, 1, ...',
  params: [real('alpha', 'positive'), real('beta', 'positive')],
  support: COUNT,
  logProb: (y, alpha, beta) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    const ys = safe(ok, y, 0);
    // alpha·log(beta/(1+beta)) = -alpha·log1p(1/beta); y·log(1/(1+beta)) = -y·log1p(beta).
    const lp = tf.sub(tf.sub(logNegBinCoef(ys, alpha), tf.mul(alpha, log1p(tf.reciprocal(beta)))), tf.mul(ys, log1p(beta)));
    return orNegInf(ok, lp);
  }),
  sample: (rng, ...ps) => {
    const [alpha, beta] = scalarArgs('neg_binomial', ['alpha', 'beta'], ps);
    const a = positive('neg_binomial', 'alpha', alpha);
    const b = positive('neg_binomial', 'beta', beta);
    // Poisson(G/beta), G ~ Gamma(alpha): the rate from log G so tiny alpha cannot give 0/0.
    return rng.poisson(Math.exp(rng.gammaLog(a) - Math.log(b)));
  },
  moments: (alpha, beta) => {
    const a = alpha as number;
    const b = beta as number;
    return { mean: a / b, variance: (a / (b * b)) * (b + 1) };
  },
};

const negBinomial2: DistributionDef = {
  name: 'neg_binomial_2',
  doc: 'Negative binomial distribution with mean mu and dispersion phi (variance mu + mu^2/phi).',
  density: 'NegBinomial2(y | mu, phi) = C(y + phi - 1, y) (mu/(mu + phi))^y (phi/(mu + phi))^phi, y = 0, 1, ...',
  params: [real('mu', 'positive'), real('phi', 'positive')],
  support: COUNT,
  logProb: (y, mu, phi) => tf.tidy(() => {
    const ok = tf.greaterEqual(y, 0);
    const ys = safe(ok, y, 0);
    // phi·log(phi/(mu+phi)) = -phi·log1p(mu/phi): exact in the Poisson limit phi → ∞.
    const lp = tf.add(
      tf.sub(logNegBinCoef(ys, phi), tf.mul(phi, log1p(tf.div(mu, phi)))),
      xlogy(ys, tf.div(mu, tf.add(mu, phi))),
    );
    return orNegInf(ok, lp);
  }),
  sample: (rng, ...ps) => {
    const [mu, phi] = scalarArgs('neg_binomial_2', ['mu', 'phi'], ps);
    const m = positive('neg_binomial_2', 'mu', mu);
    const f = positive('neg_binomial_2', 'phi', phi);
    return rng.poisson(Math.exp(rng.gammaLog(f) + Math.log(m) - Math.log(f)));
  },
  moments: (mu, phi) => {
    const m = mu as number;
    return { mean: m, variance: m + (m * m) / (phi as number) };
  },
};

/** The discrete families. */
export const DISCRETE: DistributionDef[] = [
  categorical, categoricalLogit, bernoulli, bernoulliLogit, binomial, poisson, poissonLog, negBinomial, negBinomial2,
];
