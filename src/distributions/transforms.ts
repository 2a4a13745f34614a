/**
 * Constraint transforms (bijectors): maps from unconstrained reals onto each continuous
 * constraint's support, with their inverses and log-Jacobians, following Stan's
 * parameterisations (Stan Reference Manual, chapter "Constraint Transforms"; the
 * section is named on each transform).
 *
 * Shapes: every transform acts on the trailing event axes and broadcasts over leading
 * batch axes. Scalar constraints have event rank 0; `simplex`, `ordered` and
 * `positive_ordered` act on the last axis; the matrix constraints take a vector
 * [..., m] of unconstrained values to [..., K, K]. `logDetJacobian(u)` has the batch shape.
 *
 * For maps Rᵐ -> Rⁿ with n > m (simplex, the matrix constraints) the "Jacobian" is
 * Stan's: the square Jacobian onto the m free coordinates of the constrained value (the
 * first K−1 simplex entries; the strictly-lower entries of a correlation Cholesky factor
 * or correlation matrix; the lower triangle, diagonal included, of a covariance factor
 * or covariance matrix).
 *
 * Float32 care: logistic Jacobians use softplus forms (log σ(u) = −softplus(−u)), the
 * simplex is built in log space (no 1 − Σ cancellation), the correlation factors carry
 * log(1 − z²) = −2 log cosh(y) instead of 1 − tanh²(y), and the inverses use sums of
 * positive terms (reverse cumulative sums) instead of differences from 1.
 */
import { tf, cholesky, matrixDiag, matrixDiagPart, tcrossprod } from '../tensor';
import type { Tensor } from '../tensor';
import type { Constraint, ConstraintName, Transform } from './types';

/**
 * Tolerance for support checks in `inverse`: a simplex must sum to 1, a correlation
 * matrix have unit diagonal, a matrix be symmetric, within this (relative where the
 * quantity has a scale). It is ~800 float32 ulps: loose enough for values computed in
 * float32, tight enough to catch values that are not in the support.
 */
export const SUPPORT_TOL = 1e-4;

const LOG2 = Math.log(2);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function f32(x: Tensor): Tensor {
  return x.dtype === 'float32' ? x : tf.cast(x, 'float32');
}

function fmtIndex(shape: number[], flat: number): string {
  const idx: number[] = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return `[${idx.join(', ')}]`;
}

function outside(c: ConstraintName, detail: string): Error {
  return new Error(`inverse transform for '${c}': value is outside the support: ${detail}`);
}

/** log cosh y = |y| + softplus(−2|y|) − log 2: no overflow, and exact 0 (with zero gradient) at y = 0. */
function logCosh(y: Tensor): Tensor {
  const a = tf.abs(y);
  return tf.sub(tf.add(a, tf.softplus(tf.mul(-2, a))), LOG2);
}

function lastAxis(x: Tensor): number {
  return x.rank - 1;
}

/**
 * Returns Σ over the last axis, 0 when that axis is empty (K = 1 cases). The wasm
 * backend's reductions over an empty axis return uninitialised memory, so the empty
 * case is built with a concat instead, which keeps the result connected to x for
 * gradients.
 */
function sumLast(x: Tensor, keepDims = false): Tensor {
  const ax = lastAxis(x);
  const batch = x.shape.slice(0, -1);
  if (x.shape[ax] > 0) return tf.sum(x, ax, keepDims);
  const zero = tf.concat([x, tf.zeros([...batch, 1])], ax);
  return keepDims ? zero : tf.reshape(zero, batch);
}

function requireRank(x: Tensor, rank: number, c: ConstraintName, what: string): void {
  if (x.rank < rank) {
    throw new Error(`transform for '${c}': ${what} must have at least ${rank} axis(es), got shape [${x.shape.join(', ')}]`);
  }
}

/** Throws unless `x` is a batch of square matrices; returns K. */
function requireSquare(x: Tensor, c: ConstraintName): number {
  requireRank(x, 2, c, 'the constrained value');
  const K = x.shape[x.rank - 1];
  if (x.shape[x.rank - 2] !== K || K < 1) {
    throw new Error(`transform for '${c}': expected square matrices [..., K, K], got shape [${x.shape.join(', ')}]`);
  }
  return K;
}

/** Returns K with m = K(K−1)/2 (strict = true) or K(K+1)/2; throws when there is none. */
function sideFromLength(m: number, strict: boolean, c: ConstraintName): number {
  const K = strict ? (1 + Math.sqrt(1 + 8 * m)) / 2 : (-1 + Math.sqrt(1 + 8 * m)) / 2;
  const k = Math.round(K);
  if (k < 1 || (strict ? (k * (k - 1)) / 2 : (k * (k + 1)) / 2) !== m) {
    throw new Error(
      `transform for '${c}': ${m} unconstrained values is not ${strict ? 'K(K-1)/2' : 'K(K+1)/2'} for any whole K`,
    );
  }
  return k;
}

/** Start of row i's entries in the row-major lower-triangle vector (strict or with the diagonal). */
function rowStart(i: number, strict: boolean): number {
  return strict ? (i * (i - 1)) / 2 : (i * (i + 1)) / 2;
}

/**
 * Returns [..., K, K] whose lower triangle is filled row-major from u [..., m]: strictly
 * lower when `strict` (zeros on and above the diagonal), otherwise with the diagonal,
 * which goes through `diag` (e.g. exp). Built from slices, concats and a stack, O(K)
 * ops whose gradients every backend has (tf.gather's gradient needs UnsortedSegmentSum,
 * which the wasm backend lacks).
 */
function lowerFromVector(u: Tensor, K: number, strict: boolean, diag: (t: Tensor) => Tensor = (t) => t): Tensor {
  const batch = u.shape.slice(0, -1);
  const zero = batch.map(() => 0);
  const ax = lastAxis(u);
  if (u.shape[ax] === 0) {
    // K = 1 with nothing free: still make the (all-zero) result depend on u, so that
    // gradients with respect to an empty u are empty tensors rather than an error.
    return tf.add(tf.zeros([...batch, K, K]), tf.reshape(sumLast(u, true), [...batch, 1, 1]));
  }
  const rows: Tensor[] = [];
  for (let i = 0; i < K; i++) {
    const parts: Tensor[] = [];
    const start = rowStart(i, strict);
    if (i > 0) parts.push(tf.slice(u, [...zero, start], [...batch, i]));
    if (strict) parts.push(tf.zeros([...batch, K - i]));
    else {
      parts.push(diag(tf.slice(u, [...zero, start + i], [...batch, 1])));
      if (K - 1 - i > 0) parts.push(tf.zeros([...batch, K - 1 - i]));
    }
    rows.push(parts.length === 1 ? parts[0] : tf.concat(parts, ax));
  }
  return tf.stack(rows, batch.length);
}

/** Returns the row-major lower triangle of x [..., K, K] (strict or with the diagonal) as [..., m]. */
function lowerToVector(x: Tensor, strict: boolean): Tensor {
  const K = x.shape[x.rank - 1];
  const batch = x.shape.slice(0, -2);
  const zero = batch.map(() => 0);
  const parts: Tensor[] = [];
  for (let i = 0; i < K; i++) {
    const len = strict ? i : i + 1;
    if (len > 0) parts.push(tf.reshape(tf.slice(x, [...zero, i, 0], [...batch, 1, len]), [...batch, len]));
  }
  return parts.length ? tf.concat(parts, batch.length) : tf.zeros([...batch, 0]);
}

/** A constant [m] vector over the row-major lower triangle (with diagonal) holding w(i) at (i, i), 0 elsewhere. */
function diagWeights(K: number, w: (i: number) => number): Tensor {
  const v = new Float32Array((K * (K + 1)) / 2);
  for (let i = 0; i < K; i++) v[rowStart(i, false) + i] = w(i);
  return tf.tensor1d(v);
}

function strictLowerMask(K: number): Tensor {
  return tf.sub(tf.linalg.bandPart(tf.ones([K, K]), -1, 0), tf.eye(K));
}

function lowerMask(K: number): Tensor {
  return tf.linalg.bandPart(tf.ones([K, K]), -1, 0);
}

/** Checks every element; throws naming the constraint, the first bad element and `expected`. */
function checkElements(x: Tensor, c: ConstraintName, ok: (v: number) => boolean, expected: string): void {
  const d = x.dataSync();
  for (let i = 0; i < d.length; i++) {
    if (!ok(d[i])) throw outside(c, `element ${fmtIndex(x.shape, i)} is ${d[i]}; expected ${expected}`);
  }
}

/** Calls `visit(row, r)` for each length-K row along the last axis (copies out of the data). */
function forEachRow(x: Tensor, visit: (row: Float32Array, label: string) => void): void {
  const d = x.dataSync() as Float32Array;
  const K = x.shape[x.rank - 1];
  const batch = x.shape.slice(0, -1);
  const n = K === 0 ? 0 : d.length / K;
  for (let r = 0; r < n; r++) visit(d.subarray(r * K, (r + 1) * K), batch.length ? `batch element ${fmtIndex(batch, r)}` : 'the vector');
}

/** Calls `visit(get, label)` for each K x K matrix of a batch; `get(i, j)` reads an entry. */
function forEachMatrix(x: Tensor, visit: (get: (i: number, j: number) => number, label: string) => void): void {
  const d = x.dataSync();
  const K = x.shape[x.rank - 1];
  const batch = x.shape.slice(0, -2);
  const n = d.length / (K * K);
  for (let r = 0; r < n; r++) {
    const off = r * K * K;
    visit((i, j) => d[off + i * K + j], batch.length ? `batch element ${fmtIndex(batch, r)}` : 'the matrix');
  }
}

// ---------------------------------------------------------------------------
// Scalar transforms
// ---------------------------------------------------------------------------

interface ScalarSpec {
  constraint: ConstraintName;
  forward(u: Tensor): Tensor;
  inverse(x: Tensor): Tensor;
  logDet(u: Tensor): Tensor;
  ok(v: number): boolean;
  expected: string;
}

function scalarTransform(s: ScalarSpec): Transform {
  return {
    constraint: s.constraint,
    eventRank: 0,
    unconstrainedEventShape(eventShape: number[]): number[] {
      if (eventShape.length !== 0) {
        throw new Error(`transform for '${s.constraint}': scalar constraint, got event shape [${eventShape.join(', ')}]`);
      }
      return [];
    },
    forward: (u) => tf.tidy(() => s.forward(f32(u))),
    inverse: (x) => {
      checkElements(x, s.constraint, s.ok, s.expected);
      return tf.tidy(() => s.inverse(f32(x)));
    },
    logDetJacobian: (u) => tf.tidy(() => s.logDet(f32(u))),
  };
}

/**
 * Returns lb + (ub − lb)·σ(u), evaluated from the nearer end so that values next to
 * ub keep their float32 resolution (ub − (ub − lb)·σ(−u) for u > 0). The branch is
 * chosen by a step mask rather than tf.where: tfjs cannot differentiate through the
 * comparison that tf.where needs, while step has a (zero) gradient.
 */
function logisticInto(u: Tensor, lb: number, ub: number): Tensor {
  const w = ub - lb;
  const fromLow = tf.add(lb, tf.mul(w, tf.sigmoid(u)));
  const fromHigh = tf.sub(ub, tf.mul(w, tf.sigmoid(tf.neg(u))));
  const m = tf.step(u); // 1 for u > 0, else 0; products with 0/1 are exact
  return tf.add(tf.mul(tf.sub(1, m), fromLow), tf.mul(m, fromHigh));
}

/** log σ'(u) = log σ(u) + log σ(−u) = −softplus(−u) − softplus(u) (no 1 − σ cancellation). */
function logSigmoidDeriv(u: Tensor): Tensor {
  return tf.neg(tf.add(tf.softplus(u), tf.softplus(tf.neg(u))));
}

/** Stan, "Constraint Transforms": "Lower bounded scalar" with lb = 0: x = exp(u), log|J| = u. */
function positiveTransform(): Transform {
  return scalarTransform({
    constraint: 'positive',
    forward: (u) => tf.exp(u),
    inverse: (x) => tf.log(x),
    logDet: (u) => tf.clone(u),
    ok: (v) => v > 0 && Number.isFinite(v),
    expected: 'finite and > 0',
  });
}

/** Stan, "Constraint Transforms": "Lower bounded scalar": x = lb + exp(u), log|J| = u; inverse u = log(x − lb). */
function lowerTransform(lb: number): Transform {
  return scalarTransform({
    constraint: 'lower',
    forward: (u) => tf.add(lb, tf.exp(u)),
    inverse: (x) => tf.log(tf.sub(x, lb)),
    logDet: (u) => tf.clone(u),
    ok: (v) => v > lb && Number.isFinite(v),
    expected: `finite and > ${lb}`,
  });
}

/** Stan, "Constraint Transforms": "Upper bounded scalar": x = ub − exp(u), log|J| = u; inverse u = log(ub − x). */
function upperTransform(ub: number): Transform {
  return scalarTransform({
    constraint: 'upper',
    forward: (u) => tf.sub(ub, tf.exp(u)),
    inverse: (x) => tf.log(tf.sub(ub, x)),
    logDet: (u) => tf.clone(u),
    ok: (v) => v < ub && Number.isFinite(v),
    expected: `finite and < ${ub}`,
  });
}

/**
 * Stan, "Constraint Transforms": "Lower and upper bounded scalar": x = lb + (ub − lb)·logit⁻¹(u),
 * log|J| = log(ub − lb) + log σ(u) + log σ(−u); inverse u = log(x − lb) − log(ub − x)
 * (= logit((x − lb)/(ub − lb)) without forming 1 − y). `unit` is lb = 0, ub = 1.
 */
function intervalTransform(constraint: 'unit' | 'interval', lb: number, ub: number): Transform {
  const logWidth = Math.log(ub - lb);
  return scalarTransform({
    constraint,
    forward: (u) => logisticInto(u, lb, ub),
    inverse: (x) => tf.sub(tf.log(tf.sub(x, lb)), tf.log(tf.sub(ub, x))),
    logDet: (u) => tf.add(logSigmoidDeriv(u), logWidth),
    ok: (v) => v > lb && v < ub,
    expected: `in the open interval (${lb}, ${ub})`,
  });
}

function realTransform(): Transform {
  return scalarTransform({
    constraint: 'real',
    forward: (u) => tf.clone(u),
    inverse: (x) => tf.clone(x),
    logDet: (u) => tf.zerosLike(u),
    ok: (v) => Number.isFinite(v),
    expected: 'a finite number',
  });
}

// ---------------------------------------------------------------------------
// Vector transforms
// ---------------------------------------------------------------------------

function vectorShape(c: ConstraintName, eventShape: number[], offset: number): number[] {
  if (eventShape.length !== 1 || !(eventShape[0] >= 1)) {
    throw new Error(`transform for '${c}': expected a vector event shape [K] with K >= 1, got [${eventShape.join(', ')}]`);
  }
  return [eventShape[0] - offset];
}

/**
 * Stan, "Constraint Transforms": "Unit simplex", the stick-breaking
 * form (as documented up to at least Stan 2.26; recent Stan Math uses an ILR-based
 * transform instead). For u ∈ R^{K−1}, k = 1..K−1:
 *
 *   z_k = logit⁻¹(u_k − log(K − k)),   x_k = r_k·z_k,   r_k = 1 − Σ_{k'<k} x_{k'},
 *   x_K = r_K,
 *
 * so u = 0 gives the uniform simplex. With respect to (x_1..x_{K−1}),
 *   log|J| = Σ_{k<K} [log z_k + log(1 − z_k) + log r_k].
 *
 * Computed in log space: log z_k = −softplus(−a_k), log(1 − z_k) = −softplus(a_k) and
 * log r_k = Σ_{k'<k} log(1 − z_{k'}), so tiny sticks keep their relative accuracy.
 * Inverse: u_k = log x_k − log Σ_{j>k} x_j + log(K − k) (sums of positive terms only).
 */
function simplexTransform(): Transform {
  const c: ConstraintName = 'simplex';
  const offsets = (K: number) => tf.tensor1d(Array.from({ length: K - 1 }, (_, k) => Math.log(K - 1 - k)));
  const parts = (u: Tensor) => {
    requireRank(u, 1, c, 'the unconstrained value');
    const K = u.shape[u.rank - 1] + 1;
    const ax = lastAxis(u);
    const a = tf.sub(u, offsets(K));
    const logZ = tf.neg(tf.softplus(tf.neg(a)));
    const log1mZ = tf.neg(tf.softplus(a));
    const logR = tf.cumsum(log1mZ, ax, true);
    return { K, ax, logZ, log1mZ, logR };
  };
  return {
    constraint: c,
    eventRank: 1,
    unconstrainedEventShape: (s) => vectorShape(c, s, 1),
    forward: (u) =>
      tf.tidy(() => {
        const { ax, logZ, log1mZ, logR } = parts(f32(u));
        const logLast = sumLast(log1mZ, true);
        return tf.exp(tf.concat([tf.add(logR, logZ), logLast], ax));
      }),
    logDetJacobian: (u) =>
      tf.tidy(() => {
        const { ax, logZ, log1mZ, logR } = parts(f32(u));
        return sumLast(tf.add(tf.add(logZ, log1mZ), logR));
      }),
    inverse: (x) => {
      requireRank(x, 1, c, 'the constrained value');
      forEachRow(x, (row, label) => {
        let sum = 0;
        for (let k = 0; k < row.length; k++) {
          if (!(row[k] > 0) || !Number.isFinite(row[k])) {
            throw outside(c, `${label} has entry ${k} = ${row[k]}; simplex entries must be finite and > 0`);
          }
          sum += row[k];
        }
        if (Math.abs(sum - 1) > SUPPORT_TOL) {
          throw outside(c, `${label} sums to ${sum}; a simplex sums to 1 (within ${SUPPORT_TOL})`);
        }
      });
      return tf.tidy(() => {
        const v = f32(x);
        const K = v.shape[v.rank - 1];
        const ax = lastAxis(v);
        const batch = v.shape.slice(0, -1);
        const begin = v.shape.map(() => 0);
        const size = [...batch, K - 1];
        const tail = tf.slice(tf.cumsum(v, ax, true, true), begin, size); // Σ_{j>k} x_j
        const head = tf.slice(v, begin, size);
        return tf.add(tf.sub(tf.log(head), tf.log(tail)), offsets(K));
      });
    },
  };
}

/**
 * Stan, "Constraint Transforms": "Ordered vector": x_1 = u_1, x_k = x_{k−1} + exp(u_k);
 * log|J| = Σ_{k≥2} u_k; inverse u_1 = x_1, u_k = log(x_k − x_{k−1}).
 *
 * `positive_ordered` (Stan's positive_ordered type): x = cumsum(exp(u)),
 * log|J| = Σ_k u_k; inverse u_1 = log x_1, u_k = log(x_k − x_{k−1}).
 */
function orderedTransform(positive: boolean): Transform {
  const c: ConstraintName = positive ? 'positive_ordered' : 'ordered';
  const split = (t: Tensor) => {
    const K = t.shape[t.rank - 1];
    const begin = t.shape.map(() => 0);
    const first = tf.slice(t, begin, [...t.shape.slice(0, -1), 1]);
    const rest = tf.slice(t, [...begin.slice(0, -1), 1], [...t.shape.slice(0, -1), K - 1]);
    return { first, rest };
  };
  return {
    constraint: c,
    eventRank: 1,
    unconstrainedEventShape: (s) => vectorShape(c, s, 0),
    forward: (u) =>
      tf.tidy(() => {
        const v = f32(u);
        requireRank(v, 1, c, 'the unconstrained value');
        if (positive) return tf.cumsum(tf.exp(v), lastAxis(v));
        const { first, rest } = split(v);
        return tf.cumsum(tf.concat([first, tf.exp(rest)], lastAxis(v)), lastAxis(v));
      }),
    logDetJacobian: (u) =>
      tf.tidy(() => {
        const v = f32(u);
        requireRank(v, 1, c, 'the unconstrained value');
        return sumLast(positive ? v : split(v).rest);
      }),
    inverse: (x) => {
      requireRank(x, 1, c, 'the constrained value');
      forEachRow(x, (row, label) => {
        for (let k = 0; k < row.length; k++) {
          if (!Number.isFinite(row[k])) throw outside(c, `${label} has entry ${k} = ${row[k]}; expected finite values`);
          if (k === 0 && positive && !(row[0] > 0)) {
            throw outside(c, `${label} starts at ${row[0]}; a positive_ordered vector has entries > 0`);
          }
          if (k > 0 && !(row[k] > row[k - 1])) {
            throw outside(c, `${label} has entry ${k} = ${row[k]} not greater than entry ${k - 1} = ${row[k - 1]}; expected strictly increasing entries`);
          }
        }
      });
      return tf.tidy(() => {
        const v = f32(x);
        const { first, rest } = split(v);
        const K = v.shape[v.rank - 1];
        const prev = tf.slice(v, v.shape.map(() => 0), [...v.shape.slice(0, -1), K - 1]);
        const gaps = tf.log(tf.sub(rest, prev));
        return tf.concat([positive ? tf.log(first) : first, gaps], lastAxis(v));
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Matrix transforms
// ---------------------------------------------------------------------------

function matrixShape(c: ConstraintName, eventShape: number[], strict: boolean): number[] {
  const K = eventShape[0];
  if (eventShape.length !== 2 || eventShape[1] !== K || !(K >= 1)) {
    throw new Error(`transform for '${c}': expected a square matrix event shape [K, K], got [${eventShape.join(', ')}]`);
  }
  return [strict ? (K * (K - 1)) / 2 : (K * (K + 1)) / 2];
}

/**
 * The correlation Cholesky factor from u [..., K(K−1)/2] (Stan, "Constraint Transforms":
 * "Cholesky factors of correlation matrices"), in parts:
 *   y = u placed row-major in the strict lower triangle of a K x K matrix,
 *   s_ij = log(1 − z_ij²) = −2 log cosh y_ij  (z = tanh y, the canonical partial correlations),
 *   logR_ij = Σ_{k<j} s_ik                      (log of 1 − Σ_{k<j} L_ik², the stick left),
 *   L_ij = z_ij·√R_ij (j < i),   L_ii = √R_ii.
 * R is carried as a product of (1 − z²) factors: 1 − Σ_{k<j} L_ik² = Π_{k<j}(1 − z_ik²).
 */
function corrCholeskyParts(u: Tensor, c: ConstraintName) {
  requireRank(u, 1, c, 'the unconstrained value');
  const K = sideFromLength(u.shape[u.rank - 1], true, c);
  const y = lowerFromVector(u, K, true);
  const s = tf.mul(-2, logCosh(y)); // exactly 0 off the strict lower triangle (y = 0 there)
  const logR = tf.cumsum(s, lastAxis(y), true);
  // Above the diagonal tanh(0) + 0 = 0, so L is lower triangular without a mask.
  const L = tf.mul(tf.add(tf.tanh(y), tf.eye(K)), tf.exp(tf.mul(0.5, logR)));
  return { K, L, s, logR };
}

/**
 * log|J| of u -> strictly-lower entries of L (Stan, "Constraint Transforms": "Cholesky
 * factors of correlation matrices"):
 *   Σ_{i>j} log(1 − z_ij²) + ½ Σ_{i>j≥1} log(1 − Σ_{k<j} L_ik²).
 */
function corrCholeskyLogDet(K: number, s: Tensor, logR: Tensor): Tensor {
  const tanhPart = tf.sum(s, [-2, -1].map((a) => a + s.rank));
  const stickPart = tf.sum(tf.mul(logR, strictLowerMask(K)), [-2, -1].map((a) => a + s.rank));
  return tf.add(tanhPart, tf.mul(0.5, stickPart));
}

/** u [..., K(K−1)/2] from a correlation Cholesky factor (no checks): y = atanh(L_ij / √Σ_{k≥j} L_ik²). */
function corrCholeskyUnconstrain(L: Tensor): Tensor {
  const K = L.shape[L.rank - 1];
  const low = tf.mul(L, lowerMask(K));
  // Σ_{k≥j} L_ik² (sum of positive terms, rather than 1 − Σ_{k<j}); rows are normalised by it.
  const R = tf.cumsum(tf.square(low), lastAxis(L), false, true);
  const safeR = tf.add(R, tf.sub(1, lowerMask(K))); // R is 0 above the diagonal: avoid 0/0 there
  const z = tf.mul(tf.div(low, tf.sqrt(safeR)), strictLowerMask(K));
  return lowerToVector(tf.atanh(z), true);
}

function checkFiniteSquare(x: Tensor, c: ConstraintName): number {
  const K = requireSquare(x, c);
  checkElements(x, c, Number.isFinite, 'a finite number');
  return K;
}

function checkLowerTriangular(x: Tensor, c: ConstraintName, K: number, scale: 'unit' | 'diag'): void {
  forEachMatrix(x, (get, label) => {
    let s = 1;
    if (scale === 'diag') {
      s = 0;
      for (let i = 0; i < K; i++) s = Math.max(s, Math.abs(get(i, i)));
    }
    for (let i = 0; i < K; i++) {
      if (!(get(i, i) > 0)) throw outside(c, `${label} has diagonal entry [${i}, ${i}] = ${get(i, i)}; expected > 0`);
      for (let j = i + 1; j < K; j++) {
        if (Math.abs(get(i, j)) > SUPPORT_TOL * s) {
          throw outside(c, `${label} has entry [${i}, ${j}] = ${get(i, j)} above the diagonal; expected a lower-triangular matrix`);
        }
      }
    }
  });
}

function checkSymmetric(x: Tensor, c: ConstraintName, K: number): void {
  forEachMatrix(x, (get, label) => {
    for (let i = 0; i < K; i++) {
      if (!(get(i, i) > 0)) throw outside(c, `${label} has diagonal entry [${i}, ${i}] = ${get(i, i)}; expected > 0`);
    }
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < i; j++) {
        const tol = SUPPORT_TOL * Math.sqrt(get(i, i) * get(j, j));
        if (Math.abs(get(i, j) - get(j, i)) > tol) {
          throw outside(c, `${label} has entries [${i}, ${j}] = ${get(i, j)} and [${j}, ${i}] = ${get(j, i)}; expected a symmetric matrix`);
        }
      }
    }
  });
}

/** Returns cholesky(x) after symmetrising, throwing (naming `c`) when x is not positive definite. */
function checkedCholesky(x: Tensor, c: ConstraintName): Tensor {
  const L = tf.tidy(() => {
    const v = f32(x);
    return cholesky(tf.mul(0.5, tf.add(v, tf.transpose(v, swapLast(v.rank)))));
  });
  const K = L.shape[L.rank - 1];
  try {
    forEachMatrix(L, (get, label) => {
      for (let i = 0; i < K; i++) {
        if (!(get(i, i) > 0)) throw outside(c, `${label} is not positive definite (its Cholesky factorisation fails at pivot ${i})`);
      }
    });
  } catch (e) {
    L.dispose();
    throw e;
  }
  return L;
}

function swapLast(rank: number): number[] {
  const p = Array.from({ length: rank }, (_, i) => i);
  [p[rank - 2], p[rank - 1]] = [p[rank - 1], p[rank - 2]];
  return p;
}

/** Returns (A + Aᵀ)/2 with the diagonal set to exactly `diag` when given. */
function symmetrise(A: Tensor, diag?: number): Tensor {
  const S = tf.mul(0.5, tf.add(A, tf.transpose(A, swapLast(A.rank))));
  if (diag === undefined) return S;
  const K = A.shape[A.rank - 1];
  return tf.add(tf.mul(S, tf.sub(1, tf.eye(K))), tf.mul(diag, tf.eye(K)));
}

/**
 * Stan, "Constraint Transforms": "Cholesky factors of correlation matrices": u [..., K(K−1)/2] ->
 * L [..., K, K], lower triangular with positive diagonal and unit-norm rows. The u_ij
 * (row-major strict lower order (1,0), (2,0), (2,1), ...) go through tanh to canonical
 * partial correlations z_ij ∈ (−1, 1), then
 *   L_i0 = z_i0,  L_ij = z_ij·√(1 − Σ_{k<j} L_ik²),  L_ii = √(1 − Σ_{k<i} L_ik²),
 * with log|J| (onto the strictly-lower entries of L)
 *   Σ_{i>j} log(1 − z_ij²) + ½ Σ_{i>j≥1} log(1 − Σ_{k<j} L_ik²).
 */
function choleskyCorrTransform(): Transform {
  const c: ConstraintName = 'cholesky_corr';
  return {
    constraint: c,
    eventRank: 2,
    unconstrainedEventShape: (s) => matrixShape(c, s, true),
    forward: (u) => tf.tidy(() => corrCholeskyParts(f32(u), c).L),
    logDetJacobian: (u) =>
      tf.tidy(() => {
        const { K, s, logR } = corrCholeskyParts(f32(u), c);
        return corrCholeskyLogDet(K, s, logR);
      }),
    inverse: (x) => {
      const K = checkFiniteSquare(x, c);
      checkLowerTriangular(x, c, K, 'unit');
      forEachMatrix(x, (get, label) => {
        for (let i = 0; i < K; i++) {
          let n2 = 0;
          for (let j = 0; j <= i; j++) n2 += get(i, j) * get(i, j);
          if (Math.abs(n2 - 1) > SUPPORT_TOL) {
            throw outside(c, `${label} has row ${i} with squared norm ${n2}; rows of a correlation Cholesky factor have norm 1 (within ${SUPPORT_TOL})`);
          }
        }
      });
      return tf.tidy(() => corrCholeskyUnconstrain(f32(x)));
    },
  };
}

/**
 * Stan, "Constraint Transforms": "Correlation matrices": Ω = L·Lᵀ with L the cholesky_corr factor of u
 * (same row-major CPC order; Stan's own corr_matrix orders the CPCs column-major, a
 * mere permutation of u). The diagonal is set to exactly 1. With respect to the
 * strictly-lower entries of Ω, log|J| is cholesky_corr's plus that of L -> L·Lᵀ
 * restricted to unit-norm rows, Σ_i (K − i) log L_ii (1-based i), which together equal
 * Stan's (LKJ) Σ_{i>j} [1 + (K − j − 1)/2]·log(1 − z_ij²) (1-based column j).
 * Inverse: Cholesky (linalg, float32) then the cholesky_corr inverse.
 */
function corrMatrixTransform(): Transform {
  const c: ConstraintName = 'corr_matrix';
  return {
    constraint: c,
    eventRank: 2,
    unconstrainedEventShape: (s) => matrixShape(c, s, true),
    forward: (u) => tf.tidy(() => symmetrise(tcrossprod(corrCholeskyParts(f32(u), c).L), 1)),
    logDetJacobian: (u) =>
      tf.tidy(() => {
        const { K, s, logR } = corrCholeskyParts(f32(u), c);
        // log L_ii = ½ logR_ii, weighted by K − 1 − i (0-based).
        const w = tf.tensor1d(Array.from({ length: K }, (_, i) => 0.5 * (K - 1 - i)));
        const lltPart = tf.sum(tf.mul(matrixDiagPart(logR), w), -1);
        return tf.add(corrCholeskyLogDet(K, s, logR), lltPart);
      }),
    inverse: (x) => {
      const K = checkFiniteSquare(x, c);
      forEachMatrix(x, (get, label) => {
        for (let i = 0; i < K; i++) {
          if (Math.abs(get(i, i) - 1) > SUPPORT_TOL) {
            throw outside(c, `${label} has diagonal entry [${i}, ${i}] = ${get(i, i)}; a correlation matrix has unit diagonal (within ${SUPPORT_TOL})`);
          }
        }
      });
      checkSymmetric(x, c, K);
      const L = checkedCholesky(x, c);
      try {
        return tf.tidy(() => corrCholeskyUnconstrain(L));
      } finally {
        L.dispose();
      }
    },
  };
}

/** The covariance Cholesky factor from u [..., K(K+1)/2]: exp only on the diagonal entries. */
function covCholesky(u: Tensor, c: ConstraintName): { K: number; L: Tensor } {
  requireRank(u, 1, c, 'the unconstrained value');
  const K = sideFromLength(u.shape[u.rank - 1], false, c);
  return { K, L: lowerFromVector(u, K, false, tf.exp) };
}

/** u [..., K(K+1)/2] from a covariance Cholesky factor (no checks): off-diagonals as is, log on the diagonal. */
function covCholeskyUnconstrain(L: Tensor): Tensor {
  const K = L.shape[L.rank - 1];
  const V = tf.add(tf.mul(L, strictLowerMask(K)), matrixDiag(tf.log(matrixDiagPart(L))));
  return lowerToVector(V, false);
}

/**
 * Stan, "Constraint Transforms": "Cholesky factors of covariance matrices" (square case): u [..., K(K+1)/2]
 * fills the lower triangle row-major ((0,0), (1,0), (1,1), (2,0), ...), the diagonal
 * through exp: L_ij = u_ij (j < i), L_ii = exp(u_ii). log|J| = Σ_i u_ii.
 */
function choleskyCovTransform(): Transform {
  const c: ConstraintName = 'cholesky_cov';
  return {
    constraint: c,
    eventRank: 2,
    unconstrainedEventShape: (s) => matrixShape(c, s, false),
    forward: (u) => tf.tidy(() => covCholesky(f32(u), c).L),
    logDetJacobian: (u) =>
      tf.tidy(() => {
        const v = f32(u);
        requireRank(v, 1, c, 'the unconstrained value');
        const K = sideFromLength(v.shape[v.rank - 1], false, c);
        return tf.sum(tf.mul(v, diagWeights(K, () => 1)), -1);
      }),
    inverse: (x) => {
      const K = checkFiniteSquare(x, c);
      checkLowerTriangular(x, c, K, 'diag');
      return tf.tidy(() => covCholeskyUnconstrain(f32(x)));
    },
  };
}

/**
 * Stan, "Constraint Transforms": "Covariance matrices": Σ = L·Lᵀ with L the cholesky_cov factor of u.
 * With respect to the lower triangle (diagonal included) of Σ, L -> L·Lᵀ has
 * |J| = 2^K Π_k L_kk^{K−k+1} (1-based k), so with the exp on the diagonal
 *   log|J| = K log 2 + Σ_k (K − k + 2)·u_kk   (1-based k),
 * as in Stan's cov_matrix_constrain. Inverse: Cholesky (linalg, float32), then log of
 * its diagonal.
 */
function covMatrixTransform(): Transform {
  const c: ConstraintName = 'cov_matrix';
  return {
    constraint: c,
    eventRank: 2,
    unconstrainedEventShape: (s) => matrixShape(c, s, false),
    forward: (u) => tf.tidy(() => symmetrise(tcrossprod(covCholesky(f32(u), c).L))),
    logDetJacobian: (u) =>
      tf.tidy(() => {
        const v = f32(u);
        requireRank(v, 1, c, 'the unconstrained value');
        const K = sideFromLength(v.shape[v.rank - 1], false, c);
        // 0-based i: K − (i + 1) + 2.
        return tf.add(tf.sum(tf.mul(v, diagWeights(K, (i) => K - i + 1)), -1), K * LOG2);
      }),
    inverse: (x) => {
      const K = checkFiniteSquare(x, c);
      checkSymmetric(x, c, K);
      const L = checkedCholesky(x, c);
      try {
        return tf.tidy(() => covCholeskyUnconstrain(L));
      } finally {
        L.dispose();
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

function bound(c: Constraint, which: 'lower' | 'upper'): number {
  const v = c[which];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`constraint '${c.name}' needs a finite ${which} bound, got ${String(v)}`);
  }
  return v;
}

/**
 * Returns the transform from unconstrained space onto the support of a continuous
 * constraint. Throws for discrete constraints (int, nonneg_int, binary, category),
 * which have none, and for missing or inconsistent bounds.
 *
 * @example
 * const t = getTransform({ name: 'interval', lower: 0, upper: 10 });
 * const x = t.forward(u);           // in (0, 10)
 * const lp = t.logDetJacobian(u);   // add to the log density of x
 */
export function getTransform(c: Constraint): Transform {
  switch (c.name) {
    case 'real':
      return realTransform();
    case 'positive':
      return positiveTransform();
    case 'unit':
      return intervalTransform('unit', 0, 1);
    case 'lower':
      return lowerTransform(bound(c, 'lower'));
    case 'upper':
      return upperTransform(bound(c, 'upper'));
    case 'interval': {
      const lb = bound(c, 'lower');
      const ub = bound(c, 'upper');
      if (!(lb < ub)) throw new Error(`constraint 'interval' needs lower < upper, got lower = ${lb}, upper = ${ub}`);
      return intervalTransform('interval', lb, ub);
    }
    case 'simplex':
      return simplexTransform();
    case 'ordered':
      return orderedTransform(false);
    case 'positive_ordered':
      return orderedTransform(true);
    case 'cholesky_corr':
      return choleskyCorrTransform();
    case 'cholesky_cov':
      return choleskyCovTransform();
    case 'cov_matrix':
      return covMatrixTransform();
    case 'corr_matrix':
      return corrMatrixTransform();
    case 'int':
    case 'nonneg_int':
    case 'binary':
    case 'category':
      throw new Error(`constraint '${c.name}' is discrete: it has no transform to unconstrained space`);
    default: {
      const name: never = c.name;
      throw new Error(`unknown constraint '${String(name)}'`);
    }
  }
}
