/**
 * Matrix families: the LKJ prior on Cholesky factors of correlation matrices, and the
 * Wishart and inverse Wishart distributions over covariance matrices.
 */
import { tf, cholesky, choleskyF64, lgamma, lmvgamma, logDetCholesky, matMulF64, matrixDiagPart, solveLowerF64, triangularSolve } from '../../tensor';
import type { Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { DistributionDef, JsValue } from '../types';
import { LN2, LOG_PI, allOf, and, count, notNaN, invalid, orNegInf, positive, real, squareMatrix } from './common';

const COV = { elem: 'real', eventRank: 2, constraint: 'cov_matrix' } as const;

/** Tolerance for the unit row norms of a correlation Cholesky factor (float32 rounding). */
function rowNormTol(D: number): number {
  return Math.max(1e-4, 4 * D * 1.2e-7);
}

function dimOf(x: Tensor, family: string, what: string): number {
  if (x.rank < 2 || x.shape[x.rank - 1] !== x.shape[x.rank - 2]) {
    throw new Error(`${family}: ${what} must be square matrices [..., D, D], got [${x.shape.join(', ')}]`);
  }
  return x.shape[x.rank - 1];
}

/**
 * Returns Stan's log normalising constant of the LKJ density for D x D correlation
 * matrices (Lewandowski, Kurowicka & Joe 2009, theorem 5, as in Stan's do_lkj_constant):
 *   (D-1) log Γ(η + (D-1)/2) - Σ_{k=1}^{D-1} [k/2 log π + log Γ(η + (D-1-k)/2)].
 */
function lkjLogConstant(eta: Tensor, D: number): Tensor {
  if (D === 1) return tf.mul(eta, 0);
  const Km1 = D - 1;
  let c: Tensor = tf.mul(Km1, lgamma(tf.add(eta, 0.5 * Km1)));
  for (let k = 1; k <= Km1; k++) c = tf.sub(c, tf.add(lgamma(tf.add(eta, 0.5 * (Km1 - k))), 0.5 * k * LOG_PI));
  return c;
}

/** Returns ‖A‖²_F over the last two axes. */
function frob2(a: Tensor): Tensor {
  return tf.sum(tf.square(a), [-2, -1]);
}

/** Returns -Infinity where the Cholesky factor of a value failed (the value is not positive definite), else lp. */
function pdOnly(LW: Tensor, lp: Tensor): Tensor {
  const d = matrixDiagPart(LW);
  const ok = allOf(and(tf.greater(d, 0), notNaN(d)), -1);
  return orNegInf(ok, lp);
}

/**
 * Returns a lower-triangular Cholesky factor of a D x D correlation matrix drawn from
 * LKJ(eta) by the C-vine method (Lewandowski et al. 2009, as in Stan's lkj_corr_cholesky_rng):
 * the partial correlations of column i are 2·Beta(b_i, b_i) - 1 with b_i = eta + (D - 2 - i)/2,
 * and L is built from them column by column.
 */
function lkjCholeskyDraw(rng: Rng, eta: number, D: number): number[][] {
  const L: number[][] = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  // acc[r] = 1 - Σ (entries of row r placed so far)²: the squared length still free in row r.
  const acc = new Array<number>(D).fill(1);
  let b = eta + 0.5 * (D - 1);
  for (let i = 0; i < D; i++) {
    L[i][i] = Math.sqrt(Math.max(acc[i], 0));
    b -= 0.5;
    for (let r = i + 1; r < D; r++) {
      const z = 2 * rng.beta(b, b) - 1;
      L[r][i] = z * Math.sqrt(Math.max(acc[r], 0));
      acc[r] *= 1 - z * z;
    }
  }
  return L;
}

/** Returns A·Aᵀ for the Bartlett factor A of Wishart(nu, I_D): A_ii = √χ²(nu - i), A_ij ~ N(0, 1) below the diagonal. */
function bartlett(rng: Rng, nu: number, D: number): number[][] {
  const A: number[][] = Array.from({ length: D }, () => new Array<number>(D).fill(0));
  for (let i = 0; i < D; i++) {
    A[i][i] = Math.sqrt(rng.chiSquare(nu - i));
    for (let j = 0; j < i; j++) A[i][j] = rng.normal();
  }
  return A;
}

function transpose(a: number[][]): number[][] {
  return a[0].map((_, j) => a.map((r) => r[j]));
}

function wishartArgs(family: string, ps: JsValue[]): [number, number[][], number[][]] {
  if (ps.length !== 2) invalid(family, `expected 2 parameters (nu, Sigma), got ${ps.length}`);
  const nu = positive(family, 'nu', ps[0]);
  const Sigma = squareMatrix(family, 'Sigma', ps[1]);
  const D = Sigma.length;
  if (!(nu > D - 1)) invalid(family, `nu must be greater than D - 1 = ${D - 1}, got ${nu}`);
  let L: number[][];
  try {
    L = choleskyF64(Sigma);
  } catch {
    return invalid(family, 'Sigma is not positive definite');
  }
  return [nu, Sigma, L];
}

const lkjCorrCholesky: DistributionDef = {
  name: 'lkj_corr_cholesky',
  doc: 'LKJ distribution over Cholesky factors L of D x D correlation matrices, with shape eta (eta = 1: uniform over correlation matrices). D comes from the value.',
  density: 'LkjCorrCholesky(L | eta) = c_D(eta) prod_{i=2}^{D} L_ii^(D - i + 2 eta - 2)',
  params: [real('eta', 'positive')],
  support: { elem: 'real', eventRank: 2, constraint: 'cholesky_corr' },
  logProb: (L, eta) => tf.tidy(() => {
    const D = dimOf(L, 'lkj_corr_cholesky', 'the value');
    const diag = matrixDiagPart(L);
    // A correlation Cholesky factor has a positive diagonal and rows of unit length (its
    // upper triangle is never read).
    const lowerMask = tf.linalg.bandPart(tf.ones([D, D]), -1, 0);
    const rowNorm2 = tf.sum(tf.square(tf.mul(L, lowerMask)), -1);
    const rowsOk = allOf(tf.lessEqual(tf.abs(tf.sub(rowNorm2, 1)), rowNormTol(D)), -1);
    const ok = and(allOf(tf.greater(diag, 0), -1), rowsOk);
    const logDiag = tf.log(tf.where(tf.expandDims(ok, -1), diag, tf.scalar(1)));
    // Row i (1-based) has exponent (D - i) from the Jacobian of L -> L Lᵀ plus 2η - 2 from det(R)^(η-1); row 1 has L_11 = 1.
    const jac = tf.tensor1d(Array.from({ length: D }, (_, i) => (i === 0 ? 0 : D - 1 - i)));
    const rest = tf.tensor1d(Array.from({ length: D }, (_, i) => (i === 0 ? 0 : 1)));
    const lp = tf.add(
      tf.add(tf.sum(tf.mul(jac, logDiag), -1), tf.mul(tf.sub(tf.mul(2, eta), 2), tf.sum(tf.mul(rest, logDiag), -1))),
      lkjLogConstant(eta, D),
    );
    return orNegInf(ok, lp);
  }),
  /** sample(rng, eta, D): the model layer appends the dimension D (read off the value) as a final number. */
  sample: (rng, ...ps) => {
    if (ps.length !== 2) invalid('lkj_corr_cholesky', `sample takes (eta, D): the caller appends the dimension D, got ${ps.length} argument(s)`);
    const eta = positive('lkj_corr_cholesky', 'eta', ps[0]);
    const D = count('lkj_corr_cholesky', 'D', ps[1]);
    if (D < 1) invalid('lkj_corr_cholesky', 'D must be at least 1');
    return lkjCholeskyDraw(rng, eta, D);
  },
};

const wishart: DistributionDef = {
  name: 'wishart',
  doc: 'Wishart distribution over D x D covariance matrices with nu > D - 1 degrees of freedom and scale matrix Sigma (mean nu Sigma).',
  density: 'Wishart(W | nu, Sigma) = det(W)^((nu - D - 1)/2) exp(-tr(Sigma^-1 W)/2) / (2^(nu D/2) det(Sigma)^(nu/2) Gamma_D(nu/2))',
  params: [real('nu', 'positive'), real('Sigma', 'cov_matrix', 2)],
  support: COV,
  logProb: (W, nu, Sigma) => tf.tidy(() => {
    const D = dimOf(W, 'wishart', 'the value');
    if (dimOf(Sigma, 'wishart', 'Sigma') !== D) throw new Error(`wishart: value is ${D} x ${D} but Sigma is [${Sigma.shape.join(', ')}]`);
    const LW = cholesky(W);
    const LS = cholesky(Sigma);
    // tr(Σ⁻¹W) = ‖L_Σ⁻¹ L_W‖²_F with W = L_W L_Wᵀ, Σ = L_Σ L_Σᵀ.
    const tr = frob2(triangularSolve(LS, LW));
    const half = tf.mul(0.5, nu);
    const lp = tf.sub(
      tf.sub(tf.mul(tf.mul(0.5, tf.sub(nu, D + 1)), logDetCholesky(LW)), tf.mul(0.5, tr)),
      tf.add(tf.add(tf.mul(half, D * LN2), tf.mul(half, logDetCholesky(LS))), lmvgamma(half, D)),
    );
    return pdOnly(LW, lp);
  }),
  sample: (rng, ...ps) => {
    const [nu, , L] = wishartArgs('wishart', ps);
    const M = matMulF64(L, bartlett(rng, nu, L.length));
    return matMulF64(M, transpose(M));
  },
  moments: (nu, Sigma) => {
    const n = nu as number;
    const S = Sigma as number[][];
    return {
      mean: S.map((r) => r.map((v) => n * v)),
      variance: S.map((r, i) => r.map((v, j) => n * (v * v + S[i][i] * S[j][j]))),
    };
  },
};

const invWishart: DistributionDef = {
  name: 'inv_wishart',
  doc: 'Inverse Wishart distribution over D x D covariance matrices with nu > D - 1 degrees of freedom and scale matrix Sigma (mean Sigma/(nu - D - 1)).',
  density: 'InvWishart(W | nu, Sigma) = det(Sigma)^(nu/2) det(W)^(-(nu + D + 1)/2) exp(-tr(Sigma W^-1)/2) / (2^(nu D/2) Gamma_D(nu/2))',
  params: [real('nu', 'positive'), real('Sigma', 'cov_matrix', 2)],
  support: COV,
  logProb: (W, nu, Sigma) => tf.tidy(() => {
    const D = dimOf(W, 'inv_wishart', 'the value');
    if (dimOf(Sigma, 'inv_wishart', 'Sigma') !== D) throw new Error(`inv_wishart: value is ${D} x ${D} but Sigma is [${Sigma.shape.join(', ')}]`);
    const LW = cholesky(W);
    const LS = cholesky(Sigma);
    // tr(Σ W⁻¹) = ‖L_W⁻¹ L_Σ‖²_F.
    const tr = frob2(triangularSolve(LW, LS));
    const half = tf.mul(0.5, nu);
    const lp = tf.sub(
      tf.sub(tf.mul(half, logDetCholesky(LS)), tf.mul(tf.mul(0.5, tf.add(nu, D + 1)), logDetCholesky(LW))),
      tf.add(tf.add(tf.mul(half, D * LN2), lmvgamma(half, D)), tf.mul(0.5, tr)),
    );
    return pdOnly(LW, lp);
  }),
  sample: (rng, ...ps) => {
    // W ~ InvWishart(ν, Σ) iff W⁻¹ ~ Wishart(ν, Σ⁻¹) = (L⁻ᵀA)(L⁻ᵀA)ᵀ, so W = (L A⁻ᵀ)(L A⁻ᵀ)ᵀ.
    const [nu, , L] = wishartArgs('inv_wishart', ps);
    const D = L.length;
    const A = bartlett(rng, nu, D);
    const I = Array.from({ length: D }, (_, i) => Array.from({ length: D }, (_, j) => (i === j ? 1 : 0)));
    const Ainv = solveLowerF64(A, I);
    const M = matMulF64(L, transpose(Ainv));
    return matMulF64(M, transpose(M));
  },
  moments: (nu, Sigma) => {
    const n = nu as number;
    const S = Sigma as number[][];
    const D = S.length;
    if (!(n > D + 1)) return undefined;
    const k = n - D;
    return {
      mean: S.map((r) => r.map((v) => v / (k - 1))),
      variance: S.map((r, i) => r.map((v, j) =>
        k > 3 ? ((k + 1) * v * v + (k - 1) * S[i][i] * S[j][j]) / (k * (k - 1) ** 2 * (k - 3)) : Infinity)),
    };
  },
};

/** The matrix families. */
export const MATRIX: DistributionDef[] = [lkjCorrCholesky, wishart, invWishart];
