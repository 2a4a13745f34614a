/**
 * Batched dense linear algebra that TensorFlow.js lacks: Cholesky factorisation and
 * triangular solves (both differentiable through `tf.customGrad`), the small matrix
 * helpers built on them, and float64 plain-JS references used by tests and samplers.
 *
 * Every tensor function takes float32 tensors whose last two axes are the matrix
 * axes and whose leading axes are a batch. The factorisation and the solves run as
 * O(D) batched tensor ops (one column or row per step), so they stay on the
 * accelerator and never read data back; D is expected to be small (1..64).
 */
import * as tf from '@tensorflow/tfjs';
import type { GradSaveFunc, Tensor } from '@tensorflow/tfjs';

// ---------------------------------------------------------------------------
// Shape helpers
// ---------------------------------------------------------------------------

/** Returns the numpy-style broadcast of two batch shapes; throws naming `what` on a mismatch. */
function broadcastShapes(a: number[], b: number[], what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${what}: batch shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

function prod(xs: number[]): number {
  return xs.reduce((p, x) => p * x, 1);
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Returns `t` summed down to `shape` (the adjoint of broadcasting `shape` up to `t.shape`). */
function sumToShape(t: Tensor, shape: number[]): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const lead = t.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < t.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && t.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(tf.sum(t, axes, true), shape);
}

function toFloat(x: Tensor): Tensor {
  return x.dtype === 'float32' ? x : tf.cast(x, 'float32');
}

function assertSquare(a: Tensor, fn: string): number {
  if (a.rank < 2) throw new Error(`${fn}: expected a matrix [..., D, D], got shape [${a.shape.join(', ')}]`);
  const D = a.shape[a.rank - 1];
  if (a.shape[a.rank - 2] !== D) {
    throw new Error(`${fn}: expected square matrices [..., D, D], got shape [${a.shape.join(', ')}]`);
  }
  if (D === 0) throw new Error(`${fn}: matrices must be at least 1 x 1, got shape [${a.shape.join(', ')}]`);
  return D;
}

/** Swaps the last two axes. */
function transposeLast(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return tf.transpose(x, perm);
}

/** A [1, D, 1] (axis 'row') or [1, 1, D] (axis 'col') one-hot at position k, for rank-3 updates. */
function unit3(D: number, k: number, axis: 'row' | 'col'): Tensor {
  const v = new Float32Array(D);
  v[k] = 1;
  return axis === 'row' ? tf.tensor3d(v, [1, D, 1]) : tf.tensor3d(v, [1, 1, D]);
}

/** A [1, D, 1] mask that is 1 at rows i >= k. */
function rowsFrom(D: number, k: number): Tensor {
  const v = new Float32Array(D);
  for (let i = k; i < D; i++) v[i] = 1;
  return tf.tensor3d(v, [1, D, 1]);
}

/** A [D, D] 0/1 mask of the lower triangle (diagonal included) or the upper one. */
function triMask(D: number, lower: boolean): Tensor {
  const v = new Float32Array(D * D);
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) if (lower ? j <= i : j >= i) v[i * D + j] = 1;
  return tf.tensor2d(v, [D, D]);
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** Returns the D x D identity matrix (float32). */
export function eye(D: number): Tensor {
  if (!Number.isInteger(D) || D < 1) throw new Error(`eye: D must be a positive integer, got ${D}`);
  return tf.eye(D);
}

/** Returns the batch of diagonal matrices [..., D, D] with diagonal `v` [..., D]. */
export function matrixDiag(v: Tensor): Tensor {
  if (v.rank < 1) throw new Error('matrixDiag: expected a vector [..., D], got a scalar');
  const D = v.shape[v.rank - 1];
  return tf.tidy(() => tf.mul(tf.expandDims(toFloat(v), -1), tf.eye(D)));
}

/** Returns the diagonals [..., D] of a batch of square matrices [..., D, D]. */
export function matrixDiagPart(m: Tensor): Tensor {
  const D = assertSquare(m, 'matrixDiagPart');
  return tf.tidy(() => tf.sum(tf.mul(toFloat(m), tf.eye(D)), -1));
}

/** Returns `m` [..., D, D] with everything above the diagonal set to zero. */
export function bandPartLower(m: Tensor): Tensor {
  const D = assertSquare(m, 'bandPartLower');
  return tf.tidy(() => tf.mul(toFloat(m), triMask(D, true)));
}

/**
 * Returns the batched matrix product a·b (optionally of transposes) with numpy-style
 * broadcasting of the batch axes, which may differ in rank.
 *
 * tfjs's `matMul` forward broadcasts batch axes but its gradient does not reduce
 * over them (the gradient has the broadcast shape and tfjs throws), so both operands
 * are broadcast explicitly here: `broadcastTo`'s gradient does the reduction.
 */
export function batchMatMul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`batchMatMul: both operands must be matrices [..., m, n], got shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  const inner = (t: Tensor, tr: boolean) => t.shape[t.rank - (tr ? 2 : 1)];
  const innerB = b.shape[b.rank - (transposeB ? 1 : 2)];
  if (inner(a, transposeA) !== innerB) {
    throw new Error(`batchMatMul: inner dimensions differ (shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}]${transposeA ? ', a transposed' : ''}${transposeB ? ', b transposed' : ''})`);
  }
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const batch = broadcastShapes(ba, bb, 'batchMatMul');
  return tf.tidy(() => {
    const B = prod(batch);
    const a3 = tf.reshape(tf.broadcastTo(toFloat(a), [...batch, ...a.shape.slice(-2)]), [B, ...a.shape.slice(-2)]);
    const b3 = tf.reshape(tf.broadcastTo(toFloat(b), [...batch, ...b.shape.slice(-2)]), [B, ...b.shape.slice(-2)]);
    const c = tf.matMul(a3, b3, transposeA, transposeB);
    return tf.reshape(c, [...batch, ...c.shape.slice(-2)]);
  });
}

/** Returns L·Lᵀ for a batch of matrices L [..., D, K] (the "tcrossprod" of R). */
export function tcrossprod(L: Tensor): Tensor {
  if (L.rank < 2) throw new Error(`tcrossprod: expected matrices [..., D, K], got shape [${L.shape.join(', ')}]`);
  return tf.tidy(() => {
    const l = toFloat(L);
    return tf.matMul(l, l, false, true);
  });
}

// ---------------------------------------------------------------------------
// Triangular solve
// ---------------------------------------------------------------------------

/**
 * Returns X with A·X = b by substitution, for A [B, D, D] triangular (`lower` says which
 * triangle; the other one is never read) and b [B, D, M]. D batched steps, each a
 * [B,1,D]x[B,D,M] product against the rows solved so far (unsolved rows of X are still
 * zero, so the product only touches the triangle that belongs to A).
 */
function substitute(A: Tensor, b: Tensor, lower: boolean): Tensor {
  const [B, D] = A.shape as number[];
  const M = b.shape[2] as number;
  let X: Tensor = tf.zeros([B, D, M]);
  for (let s = 0; s < D; s++) {
    const i = lower ? s : D - 1 - s;
    const next = tf.tidy(() => {
      const row = tf.slice(A, [0, i, 0], [B, 1, D]);
      const aii = tf.slice(A, [0, i, i], [B, 1, 1]);
      const rhs = tf.slice(b, [0, i, 0], [B, 1, M]);
      const xi = tf.div(tf.sub(rhs, tf.matMul(row, X)), aii);
      return tf.add(X, tf.mul(unit3(D, i, 'row'), xi));
    });
    X.dispose();
    X = next;
  }
  return X;
}

/**
 * Returns op(A)⁻¹·b for A [B, D, D], b [B, D, M], where op(A) is A or Aᵀ and A is
 * lower triangular when `lower` (else upper).
 */
function solveTri3(A: Tensor, b: Tensor, lower: boolean, transpose: boolean): Tensor {
  return transpose ? substitute(tf.transpose(A, [0, 2, 1]), b, !lower) : substitute(A, b, lower);
}

/** Options for {@link triangularSolve}. */
export interface TriangularSolveOptions {
  /** The matrix is lower triangular (default); false: upper. The other triangle is ignored. */
  lower?: boolean;
  /** Solve with the transpose: Lᵀ·x = b instead of L·x = b. */
  transpose?: boolean;
}

/**
 * Returns x with L·x = b (or Lᵀ·x = b with `transpose`), for triangular L [..., D, D] and
 * right-hand sides b [..., D, M]; the batch axes broadcast. Only L's own triangle is
 * read. A zero on L's diagonal gives ±Inf/NaN (the caller's matrix is singular).
 *
 * Gradients (the standard adjoints, with op(L) = L or Lᵀ):
 *   b̄ = op(L)⁻ᵀ·x̄,   op(L)‾ = −b̄·xᵀ,   L̄ = tri(op(L)‾ or its transpose),
 * each summed over the batch axes that were broadcast.
 *
 * @example
 * const x = triangularSolve(L, b);                       // L x = b
 * const y = triangularSolve(L, b, { transpose: true });  // Lᵀ y = b
 */
export function triangularSolve(L: Tensor, b: Tensor, opts: TriangularSolveOptions = {}): Tensor {
  const lower = opts.lower ?? true;
  const transpose = opts.transpose ?? false;
  const D = assertSquare(L, 'triangularSolve');
  if (b.rank < 2 || b.shape[b.rank - 2] !== D) {
    throw new Error(`triangularSolve: right-hand side must be [..., ${D}, M] to match L [${L.shape.join(', ')}], got [${b.shape.join(', ')}]`);
  }
  const M = b.shape[b.rank - 1];
  const batch = broadcastShapes(L.shape.slice(0, -2), b.shape.slice(0, -2), 'triangularSolve');
  const B = prod(batch);
  const lShape = L.shape.slice();
  const bShape = b.shape.slice();
  const outShape = [...batch, D, M];
  const flatL = (l: Tensor) => tf.reshape(tf.broadcastTo(l, [...batch, D, D]), [B, D, D]);
  const flatB = (r: Tensor) => tf.reshape(tf.broadcastTo(r, outShape), [B, D, M]);

  const op = tf.customGrad(((l: Tensor, r: Tensor, save: GradSaveFunc) => {
    const x = tf.tidy(() => tf.reshape(solveTri3(flatL(l), flatB(r), lower, transpose), outShape));
    save([l, x]);
    return {
      value: x,
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        tf.tidy(() => {
          const [ls, xs] = saved;
          const L3 = flatL(ls);
          const x3 = tf.reshape(xs, [B, D, M]);
          const bbar = solveTri3(L3, tf.reshape(dy, [B, D, M]), lower, !transpose);
          // d op(L) = −b̄ xᵀ; with transpose, L̄ is its transpose (−x b̄ᵀ).
          const opbar = transpose ? tf.matMul(x3, bbar, false, true) : tf.matMul(bbar, x3, false, true);
          const lbar = tf.mul(tf.neg(opbar), triMask(D, lower));
          return [
            sumToShape(tf.reshape(lbar, [...batch, D, D]), lShape),
            sumToShape(tf.reshape(bbar, outShape), bShape),
          ];
        }),
    };
  }) as unknown as CustomGradFn);
  return op(toFloat(L), toFloat(b));
}

// ---------------------------------------------------------------------------
// Cholesky
// ---------------------------------------------------------------------------

/**
 * Column-by-column Cholesky (Cholesky–Crout) of A [B, D, D]: for column j,
 *   v = A[:, j] − L[:, :j]·L[j, :j]ᵀ,  L[j, j] = √v_j,  L[i, j] = v_i / L[j, j] (i > j).
 * Only the lower triangle of A is read. Non-PD input makes v_j ≤ 0 at some step and the
 * square root NaN, which then spreads through that batch element.
 */
function choleskyForward3(A: Tensor): Tensor {
  const [B, D] = A.shape as number[];
  let L: Tensor = tf.zeros([B, D, D]);
  for (let j = 0; j < D; j++) {
    const next = tf.tidy(() => {
      const col = tf.slice(A, [0, 0, j], [B, D, 1]);
      const rowJ = tf.slice(L, [0, j, 0], [B, 1, D]); // only columns < j are filled so far
      const v = tf.sub(col, tf.matMul(L, rowJ, false, true));
      const ljj = tf.sqrt(tf.slice(v, [0, j, 0], [B, 1, 1]));
      // Rows above j hold garbage (those entries belong to Lᵀ): mask them off.
      const newCol = tf.mul(tf.div(v, ljj), rowsFrom(D, j));
      return tf.add(L, tf.mul(newCol, unit3(D, j, 'col')));
    });
    L.dispose();
    L = next;
  }
  return L;
}

/**
 * Ā for L = chol(A) given L̄ (Murray 2016, "Differentiation of the Cholesky
 * decomposition", unblocked form written with triangular solves):
 *   P = Φ(Lᵀ·L̄)            (Φ: lower triangle with the diagonal halved)
 *   Ā = sym(L⁻ᵀ·P·L⁻¹),     sym(X) = (X + Xᵀ)/2.
 * The symmetric form is the gradient with respect to a symmetric A (as in TensorFlow
 * and JAX): it gives the right total derivative whenever A is built symmetrically.
 */
function choleskyBackward3(L: Tensor, Lbar: Tensor): Tensor {
  const D = L.shape[1] as number;
  const half = tf.sub(triMask(D, true), tf.mul(0.5, tf.eye(D)));
  const P = tf.mul(tf.matMul(L, Lbar, true, false), half);
  const left = solveTri3(L, P, true, true); // L⁻ᵀ P
  const both = tf.transpose(solveTri3(L, tf.transpose(left, [0, 2, 1]), true, true), [0, 2, 1]); // (L⁻ᵀ (L⁻ᵀ P)ᵀ)ᵀ = L⁻ᵀ P L⁻¹
  return tf.mul(0.5, tf.add(both, tf.transpose(both, [0, 2, 1])));
}

/**
 * Returns the lower-triangular Cholesky factor L [..., D, D] of symmetric positive
 * definite matrices A [..., D, D] (A = L·Lᵀ, positive diagonal).
 *
 * Only the lower triangle of A is read. If a matrix is not (numerically) positive
 * definite its factor contains NaN — no error is thrown, callers check (e.g. with
 * `tf.any(tf.isNaN(L))`), so that a sampler can reject such a point cheaply.
 * Differentiable: the gradient is Murray's (2016) symmetric adjoint (see above).
 *
 * @example
 * const L = cholesky(tf.tensor2d([[4, 2], [2, 3]]));  // [[2, 0], [1, √2]]
 */
export function cholesky(a: Tensor): Tensor {
  const D = assertSquare(a, 'cholesky');
  const shape = a.shape.slice();
  const B = prod(shape.slice(0, -2));
  const op = tf.customGrad(((x: Tensor, save: GradSaveFunc) => {
    const L = tf.tidy(() => tf.reshape(choleskyForward3(tf.reshape(x, [B, D, D])), shape));
    save([L]);
    return {
      value: L,
      gradFunc: (dy: Tensor, saved: Tensor[]) =>
        tf.tidy(() => tf.reshape(choleskyBackward3(tf.reshape(saved[0], [B, D, D]), tf.reshape(dy, [B, D, D])), shape)),
    };
  }) as unknown as CustomGradFn);
  return op(toFloat(a));
}

/**
 * Returns cholesky(A + jitter·I): the usual fix for matrices that are positive
 * semi-definite in exact arithmetic but lose definiteness to rounding (kernel matrices).
 */
export function choleskyJitter(a: Tensor, jitter: number): Tensor {
  const D = assertSquare(a, 'choleskyJitter');
  if (!(jitter >= 0) || !Number.isFinite(jitter)) {
    throw new Error(`choleskyJitter: jitter must be a finite number >= 0, got ${jitter}`);
  }
  return tf.tidy(() => cholesky(tf.add(toFloat(a), tf.mul(jitter, tf.eye(D)))));
}

/** Returns x with (L·Lᵀ)·x = b, given the Cholesky factor L [..., D, D] and b [..., D, M]. */
export function choleskySolve(L: Tensor, b: Tensor): Tensor {
  return tf.tidy(() => triangularSolve(L, triangularSolve(L, b), { transpose: true }));
}

/** Returns log det(L·Lᵀ) = 2 Σᵢ log Lᵢᵢ [...], from a Cholesky factor L [..., D, D]. */
export function logDetCholesky(L: Tensor): Tensor {
  return tf.tidy(() => tf.mul(2, tf.sum(tf.log(matrixDiagPart(L)), -1)));
}

// ---------------------------------------------------------------------------
// float64 references (plain JS)
// ---------------------------------------------------------------------------

function assertSquareF64(a: number[][], fn: string): number {
  const n = a.length;
  if (n === 0 || a.some((r) => r.length !== n)) {
    throw new Error(`${fn}: expected a non-empty square matrix, got ${n} rows of lengths [${a.map((r) => r.length).join(', ')}]`);
  }
  return n;
}

/**
 * Returns the lower Cholesky factor of a symmetric positive definite matrix, in float64.
 * Reads the lower triangle only. Throws when a pivot is not positive (not PD).
 */
export function choleskyF64(a: number[][]): number[][] {
  const n = assertSquareF64(a, 'choleskyF64');
  const L: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let j = 0; j < n; j++) {
    let d = a[j][j];
    for (let k = 0; k < j; k++) d -= L[j][k] * L[j][k];
    if (!(d > 0)) throw new Error(`choleskyF64: matrix is not positive definite (pivot ${j} is ${d})`);
    const ljj = Math.sqrt(d);
    L[j][j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      L[i][j] = s / ljj;
    }
  }
  return L;
}

/**
 * Returns x with L·x = b (or Lᵀ·x = b when `transpose`) for lower-triangular L, in
 * float64. `b` is a vector or a matrix of right-hand sides (columns).
 */
export function solveLowerF64(L: number[][], b: number[], transpose?: boolean): number[];
export function solveLowerF64(L: number[][], b: number[][], transpose?: boolean): number[][];
export function solveLowerF64(L: number[][], b: number[] | number[][], transpose = false): number[] | number[][] {
  const n = assertSquareF64(L, 'solveLowerF64');
  if (b.length !== n) throw new Error(`solveLowerF64: right-hand side has ${b.length} rows, L is ${n} x ${n}`);
  const isVec = typeof b[0] === 'number';
  const B: number[][] = isVec ? (b as number[]).map((v) => [v]) : (b as number[][]).map((r) => r.slice());
  const m = B[0].length;
  const X: number[][] = B.map(() => new Array<number>(m).fill(0));
  for (let c = 0; c < m; c++) {
    if (!transpose) {
      for (let i = 0; i < n; i++) {
        let s = B[i][c];
        for (let k = 0; k < i; k++) s -= L[i][k] * X[k][c];
        X[i][c] = s / L[i][i];
      }
    } else {
      for (let i = n - 1; i >= 0; i--) {
        let s = B[i][c];
        for (let k = i + 1; k < n; k++) s -= L[k][i] * X[k][c];
        X[i][c] = s / L[i][i];
      }
    }
  }
  return isVec ? X.map((r) => r[0]) : X;
}

/**
 * Returns log |det A| of a square matrix in float64, by LU with partial pivoting
 * (−Infinity when A is singular). For SPD matrices this is log det A.
 */
export function logDetF64(a: number[][]): number {
  const n = assertSquareF64(a, 'logDetF64');
  const M = a.map((r) => r.slice());
  let acc = 0;
  for (let j = 0; j < n; j++) {
    let p = j;
    for (let i = j + 1; i < n; i++) if (Math.abs(M[i][j]) > Math.abs(M[p][j])) p = i;
    if (M[p][j] === 0) return -Infinity;
    if (p !== j) [M[p], M[j]] = [M[j], M[p]];
    const piv = M[j][j];
    acc += Math.log(Math.abs(piv));
    for (let i = j + 1; i < n; i++) {
      const f = M[i][j] / piv;
      if (f === 0) continue;
      for (let k = j + 1; k < n; k++) M[i][k] -= f * M[j][k];
    }
  }
  return acc;
}

/** Returns the float64 matrix product a·b. */
export function matMulF64(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const k = b.length;
  if (n === 0 || k === 0 || a.some((r) => r.length !== k)) {
    throw new Error(`matMulF64: inner dimensions differ (a is ${n} x ${a[0]?.length ?? 0}, b has ${k} rows)`);
  }
  const m = b[0].length;
  const out: number[][] = Array.from({ length: n }, () => new Array<number>(m).fill(0));
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const ait = a[i][t];
      if (ait === 0) continue;
      const bt = b[t];
      const oi = out[i];
      for (let j = 0; j < m; j++) oi[j] += ait * bt[j];
    }
  }
  return out;
}
