/**
 * Vector families: the multivariate normal (by covariance or by its Cholesky factor) and
 * the Dirichlet.
 */
import { tf, cholesky, choleskyF64, lgamma, matrixDiagPart, triangularSolve } from '../../tensor';
import type { Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { DistributionDef, JsValue } from '../types';
import { LOG_2PI, allOf, and, invalid, orNegInf, positive, real, squareMatrix, vector, xlogy } from './common';

const REAL_VECTOR = { elem: 'real', eventRank: 1, constraint: 'real' } as const;

/** Tolerance for a simplex value's sum: generous enough for float32 rounding of long vectors. */
function simplexTol(K: number): number {
  return Math.max(1e-4, 4 * K * 1.2e-7);
}

/**
 * Returns z with L·z = v on the last axis, for lower-triangular L [..., D, D] and v [..., D]
 * (batch axes broadcast). With a single L (no batch, or all-1 batch axes) the vectors are
 * solved as the columns of one [D, N] right-hand side, instead of broadcasting L to every vector.
 */
function solveLowerVec(L: Tensor, v: Tensor): Tensor {
  const D = L.shape[L.rank - 1];
  const lBatch = L.shape.slice(0, -2);
  if (lBatch.every((d) => d === 1)) {
    const vBatch = v.shape.slice(0, -1);
    const N = vBatch.reduce((a, b) => a * b, 1);
    const cols = tf.transpose(tf.reshape(v, [N, D]));
    const z = tf.transpose(triangularSolve(tf.reshape(L, [D, D]), cols));
    return tf.reshape(z, [...vBatch, D]);
  }
  return tf.squeeze(triangularSolve(L, tf.expandDims(v, -1)), [-1]);
}

/** Returns log N(y | mu, L Lᵀ) for the lower Cholesky factor L; batch axes broadcast. */
export function mvnormalCholeskyLp(y: Tensor, mu: Tensor, L: Tensor, family: string): Tensor {
  const D = y.shape[y.rank - 1];
  if (mu.shape[mu.rank - 1] !== D || L.shape[L.rank - 1] !== D || L.shape[L.rank - 2] !== D) {
    throw new Error(`${family}: value has ${D} entries but mu is [${mu.shape.join(', ')}] and the matrix is [${L.shape.join(', ')}]`);
  }
  const diff = tf.sub(y, mu);
  const z = solveLowerVec(L, diff);
  const maha = tf.sum(tf.square(z), -1);
  const halfLogDet = tf.sum(tf.log(matrixDiagPart(L)), -1);
  return tf.sub(tf.neg(tf.add(tf.mul(0.5, maha), halfLogDet)), 0.5 * D * LOG_2PI);
}

/** Returns mu + L·z for standard normal z (float64). */
function mvnDraw(rng: Rng, mu: number[], L: number[][]): number[] {
  const D = mu.length;
  const z = mu.map(() => rng.normal());
  const out = new Array<number>(D);
  for (let i = 0; i < D; i++) {
    let s = mu[i];
    for (let k = 0; k <= i; k++) s += L[i][k] * z[k];
    out[i] = s;
  }
  return out;
}

function muAndMatrix(family: string, names: [string, string], ps: JsValue[]): [number[], number[][]] {
  if (ps.length !== 2) invalid(family, `expected 2 parameters (${names.join(', ')}), got ${ps.length}`);
  const mu = vector(family, names[0], ps[0]);
  const m = squareMatrix(family, names[1], ps[1], mu.length);
  mu.forEach((v, i) => {
    if (!Number.isFinite(v)) invalid(family, `${names[0]}[${i}] must be finite, got ${v}`);
  });
  return [mu, m];
}

const mvnormal: DistributionDef = {
  name: 'mvnormal',
  doc: 'Multivariate normal distribution with mean vector mu and covariance matrix Sigma.',
  density: 'MvNormal(y | mu, Sigma) = (2 pi)^(-D/2) det(Sigma)^(-1/2) exp(-(y - mu)^T Sigma^-1 (y - mu) / 2)',
  params: [real('mu', 'real', 1), real('Sigma', 'cov_matrix', 2)],
  support: REAL_VECTOR,
  logProb: (y, mu, Sigma) => tf.tidy(() => mvnormalCholeskyLp(y, mu, cholesky(Sigma), 'mvnormal')),
  sample: (rng, ...ps) => {
    const [mu, Sigma] = muAndMatrix('mvnormal', ['mu', 'Sigma'], ps);
    let L: number[][];
    try {
      L = choleskyF64(Sigma);
    } catch {
      return invalid('mvnormal', 'Sigma is not positive definite');
    }
    return mvnDraw(rng, mu, L);
  },
  moments: (mu, Sigma) => ({ mean: (mu as number[]).slice(), variance: (Sigma as number[][]).map((r, i) => r[i]) }),
};

const mvnormalCholesky: DistributionDef = {
  name: 'mvnormal_cholesky',
  doc: 'Multivariate normal distribution with mean mu and covariance L L^T, given the lower Cholesky factor L (its upper triangle is ignored).',
  density: 'MvNormalCholesky(y | mu, L) = MvNormal(y | mu, L L^T)',
  params: [real('mu', 'real', 1), real('L', 'cholesky_cov', 2)],
  support: REAL_VECTOR,
  logProb: (y, mu, L) => tf.tidy(() => mvnormalCholeskyLp(y, mu, L, 'mvnormal_cholesky')),
  sample: (rng, ...ps) => {
    const [mu, L] = muAndMatrix('mvnormal_cholesky', ['mu', 'L'], ps);
    L.forEach((r, i) => {
      if (!(r[i] > 0)) invalid('mvnormal_cholesky', `L[${i}][${i}] = ${r[i]} must be positive (L is a Cholesky factor)`);
    });
    return mvnDraw(rng, mu, L);
  },
  moments: (mu, L) => {
    const m = L as number[][];
    // Var(y_i) = (L Lᵀ)_ii = Σ_{k <= i} L_ik².
    return { mean: (mu as number[]).slice(), variance: m.map((r, i) => r.slice(0, i + 1).reduce((s, v) => s + v * v, 0)) };
  },
};

const dirichlet: DistributionDef = {
  name: 'dirichlet',
  doc: 'Dirichlet distribution over simplexes (nonnegative vectors summing to 1) with concentrations alpha.',
  density: 'Dirichlet(y | alpha) = Gamma(sum alpha) / prod Gamma(alpha_k) prod y_k^(alpha_k - 1)',
  params: [real('alpha', 'positive', 1)],
  support: { elem: 'real', eventRank: 1, constraint: 'simplex' },
  logProb: (y, alpha) => tf.tidy(() => {
    const K = y.shape[y.rank - 1];
    if (alpha.shape[alpha.rank - 1] !== K) {
      throw new Error(`dirichlet: value has ${K} entries but alpha is [${alpha.shape.join(', ')}]`);
    }
    // Outside the simplex: a negative entry, or a sum off 1 by more than float32 rounding allows.
    const ok = and(
      allOf(tf.greaterEqual(y, 0), -1),
      tf.lessEqual(tf.abs(tf.sub(tf.sum(y, -1), 1)), simplexTol(K)),
    );
    const ys = tf.where(tf.expandDims(ok, -1), y, tf.scalar(1 / K));
    const norm = tf.sub(lgamma(tf.sum(alpha, -1)), tf.sum(lgamma(alpha), -1));
    return orNegInf(ok, tf.add(norm, tf.sum(xlogy(tf.sub(alpha, 1), ys), -1)));
  }),
  sample: (rng, ...ps) => {
    if (ps.length !== 1) invalid('dirichlet', `expected 1 parameter (alpha), got ${ps.length}`);
    const alpha = vector('dirichlet', 'alpha', ps[0]);
    alpha.forEach((a, i) => positive('dirichlet', `alpha[${i}]`, a));
    return rng.dirichlet(alpha);
  },
  moments: (alpha) => {
    const a = alpha as number[];
    const a0 = a.reduce((s, v) => s + v, 0);
    return { mean: a.map((v) => v / a0), variance: a.map((v) => (v * (a0 - v)) / (a0 * a0 * (a0 + 1))) };
  },
};

/** The vector families. */
export const MULTIVARIATE: DistributionDef[] = [mvnormal, mvnormalCholesky, dirichlet];
