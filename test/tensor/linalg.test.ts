/**
 * Tests for src/tensor/linalg.ts. Tolerances come from float32 rounding error analysis
 * (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed.), with the unit
 * roundoff u = 2^-24 and γ_n = n·u / (1 − n·u):
 *
 * - triangular solve (Thm 8.5): (L + ΔL)·x̂ = b with |ΔL| ≤ γ_D·|L|, hence the
 *   componentwise residual bound |b − L·x̂| ≤ γ_D·|L|·|x̂|;
 * - Cholesky (Thm 10.3): L̂·L̂ᵀ = A + ΔA with |ΔA| ≤ γ_{D+1}·|L̂|·|L̂ᵀ|, so
 *   ‖ΔA‖_F ≤ γ_{D+1}·‖L‖_F², and by first-order perturbation theory
 *   ‖L̂ − L‖_F ≤ κ(A)·‖ΔA‖_F/‖A‖₂·‖L‖₂ ≤ κ_F(A)·D·γ_{D+1}·‖L‖_F, using
 *   κ_F = ‖A‖_F‖A⁻¹‖_F ≥ κ₂ and ‖L‖_F² = tr A ≤ D‖A‖₂;
 * - gradients: four such stages (the factor, two triangular solves, the products), so
 *   4·κ_F(A)·D·γ_{D+1} relative to the reference gradient's norm.
 * References are the float64 routines applied to the float32-rounded inputs, so the
 * bounds measure only the algorithm's own error. Central differences in float64 with
 * step h = 1e-5 are accurate to ~1e-10 relative, far below these tolerances.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchMatMul,
  bandPartLower,
  cholesky,
  choleskyF64,
  choleskyJitter,
  choleskySolve,
  eye,
  logDetCholesky,
  logDetF64,
  matMulF64,
  matrixDiag,
  matrixDiagPart,
  solveLowerF64,
  tcrossprod,
  tf,
  triangularSolve,
  useBackend,
} from '../../src/tensor';
import type { Tensor } from '../../src/tensor';

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);
const H = 1e-5;

beforeAll(async () => {
  await useBackend('cpu');
});

// ---------------------------------------------------------------------------
// float64 helpers
// ---------------------------------------------------------------------------

type Mat = number[][];

/** mulberry32: a small seeded PRNG, uniform on [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const randMat = (r: () => number, n: number, m: number): Mat =>
  Array.from({ length: n }, () => Array.from({ length: m }, () => 2 * r() - 1));
const fround = (a: Mat): Mat => a.map((row) => row.map(Math.fround));
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map((row) => row[j]));
const sub = (a: Mat, b: Mat): Mat => a.map((row, i) => row.map((v, j) => v - b[i][j]));
const absM = (a: Mat): Mat => a.map((row) => row.map(Math.abs));
const normF = (a: Mat): number => Math.sqrt(a.flat().reduce((s, v) => s + v * v, 0));
const identity = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const lowerOf = (a: Mat): Mat => a.map((row, i) => row.map((v, j) => (j <= i ? v : 0)));

/** A random SPD matrix B·Bᵀ + D·I (float32-representable) and its factor B. */
function randomSpd(r: () => number, D: number): { A: Mat; B: Mat } {
  const B = fround(randMat(r, D, D));
  const BBt = matMulF64(B, transpose(B));
  return { A: fround(BBt.map((row, i) => row.map((v, j) => v + (i === j ? D : 0)))), B };
}

/** A⁻¹ for SPD A, via the float64 Cholesky. */
function inverseSpd(A: Mat): Mat {
  const L = choleskyF64(A);
  return solveLowerF64(L, solveLowerF64(L, identity(A.length)), true);
}

const kappaF = (A: Mat): number => normF(A) * normF(inverseSpd(A));

/** ‖L̂ − L‖_F bound for the float32 Cholesky (see the file header). */
const cholBound = (A: Mat, L: Mat): number => kappaF(A) * A.length * gamma(A.length + 1) * normF(L);

/** Central-difference gradient of f at x (a flat vector), float64. */
function fdGrad(f: (x: number[]) => number, x: number[]): number[] {
  return x.map((_, i) => {
    const xp = x.slice();
    const xm = x.slice();
    xp[i] += H;
    xm[i] -= H;
    return (f(xp) - f(xm)) / (2 * H);
  });
}

const toMat = (flat: number[], n: number, m: number): Mat =>
  Array.from({ length: n }, (_, i) => flat.slice(i * m, (i + 1) * m));
// + 0 turns −0 (from masking by multiplication) into +0 for exact comparisons.
const arr2 = (t: Tensor): Mat => (t.arraySync() as Mat).map((row) => row.map((v) => v + 0));

/** A well-conditioned random lower-triangular matrix (unit-ish diagonal in [1, 2]). */
function randomLower(r: () => number, D: number): Mat {
  return fround(randMat(r, D, D).map((row, i) => row.map((v, j) => (j < i ? v : j === i ? 1 + r() : 0))));
}

/** κ_F of a triangular matrix, via its float64 inverse. */
function kappaLower(L: Mat): number {
  return normF(L) * normF(solveLowerF64(L, identity(L.length)));
}

// ---------------------------------------------------------------------------

describe('float64 references', () => {
  it('choleskyF64 factors SPD matrices and rejects indefinite ones', () => {
    const r = rng(1);
    for (const D of [1, 3, 8]) {
      const { A } = randomSpd(r, D);
      const L = choleskyF64(A);
      // Thm 10.3 in float64 (u = 2^-53): |A − LLᵀ| ≤ γ_{D+1}|L||Lᵀ|.
      const res = sub(A, matMulF64(L, transpose(L)));
      const bound = matMulF64(absM(L), transpose(absM(L)));
      res.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v)).toBeLessThanOrEqual(((D + 1) * 2 ** -53) * 2 * bound[i][j])));
      L.forEach((row, i) => {
        expect(row[i]).toBeGreaterThan(0);
        row.forEach((v, j) => j > i && expect(v).toBe(0));
      });
    }
    expect(() => choleskyF64([[1, 2], [2, 1]])).toThrow(/not positive definite/);
    expect(() => choleskyF64([[1, 2]])).toThrow(/square/);
  });

  it('solveLowerF64 solves L x = b and Lᵀ x = b', () => {
    const r = rng(2);
    const L = randomLower(r, 6);
    const b = randMat(r, 6, 2);
    const x = solveLowerF64(L, b);
    const xt = solveLowerF64(L, b, true);
    expect(normF(sub(matMulF64(L, x), b))).toBeLessThan(1e-13);
    expect(normF(sub(matMulF64(transpose(L), xt), b))).toBeLessThan(1e-13);
    const v = solveLowerF64(L, b.map((row) => row[0]));
    v.forEach((vi, i) => expect(vi).toBeCloseTo(x[i][0], 14));
  });

  it('logDetF64 agrees with the Cholesky log-determinant and handles pivoting and singularity', () => {
    const r = rng(3);
    const { A } = randomSpd(r, 7);
    const L = choleskyF64(A);
    const viaChol = 2 * L.reduce((s, row, i) => s + Math.log(row[i]), 0);
    expect(Math.abs(logDetF64(A) - viaChol)).toBeLessThan(1e-12 * Math.abs(viaChol) + 1e-12);
    // A zero leading pivot needs a row swap; |det [[0, a], [b, 0]]| = |a·b|.
    expect(logDetF64([[0, 2], [3, 0]])).toBeCloseTo(Math.log(6), 14);
    expect(logDetF64([[1, 2], [2, 4]])).toBe(-Infinity);
  });

  it('matMulF64 satisfies (AB)ᵀ = BᵀAᵀ and A·I = A', () => {
    const r = rng(4);
    const A = randMat(r, 3, 4);
    const B = randMat(r, 4, 2);
    expect(normF(sub(transpose(matMulF64(A, B)), matMulF64(transpose(B), transpose(A))))).toBe(0);
    expect(matMulF64(A, identity(4))).toEqual(A);
    expect(() => matMulF64(A, A)).toThrow(/inner dimensions/);
  });
});

describe('cholesky', () => {
  it.each([1, 2, 5, 16])('matches choleskyF64 within the float32 error bound (D = %i)', (D) => {
    const r = rng(10 + D);
    const { A } = randomSpd(r, D);
    const Lref = choleskyF64(A);
    const L = arr2(tf.tidy(() => cholesky(tf.tensor2d(A))));
    expect(normF(sub(L, Lref))).toBeLessThanOrEqual(cholBound(A, Lref));
    L.forEach((row, i) => row.forEach((v, j) => (j > i ? expect(Math.abs(v)).toBe(0) : j === i && expect(v).toBeGreaterThan(0))));
  });

  it('works on a batch [3, 4, D, D]', () => {
    const r = rng(20);
    const D = 5;
    const mats = Array.from({ length: 12 }, () => randomSpd(r, D).A);
    const L = tf.tidy(() => cholesky(tf.tensor4d(mats.flat(2), [3, 4, D, D])));
    expect(L.shape).toEqual([3, 4, D, D]);
    const got = (L.arraySync() as number[][][][]).flat(1);
    L.dispose();
    mats.forEach((A, n) => {
      const Lref = choleskyF64(A);
      expect(normF(sub(got[n], Lref))).toBeLessThanOrEqual(cholBound(A, Lref));
    });
  });

  it('returns NaN for a matrix that is not positive definite, and jitter repairs a singular PSD one', () => {
    const bad = tf.tidy(() => cholesky(tf.tensor2d([[1, 2], [2, 1]])));
    expect(Array.from(bad.dataSync()).some(Number.isNaN)).toBe(true);
    bad.dispose();
    // v·vᵀ has rank 1; with jitter 1e-2 it is SPD.
    const v = [1, -2, 0.5];
    const A = v.map((a) => v.map((b) => a * b));
    const Aj = fround(A.map((row, i) => row.map((x, j) => x + (i === j ? 1e-2 : 0))));
    const Lref = choleskyF64(Aj);
    const L = arr2(tf.tidy(() => choleskyJitter(tf.tensor2d(A), 1e-2)));
    // A + jitter·I is formed in float32 inside: one more rounding of A (‖ΔA‖_F ≤ u‖A‖_F).
    const bound = cholBound(Aj, Lref) + kappaF(Aj) * U * normF(Aj) / Math.min(...Lref.map((row, i) => row[i]));
    expect(normF(sub(L, Lref))).toBeLessThanOrEqual(bound);
    expect(() => choleskyJitter(tf.eye(2), -1)).toThrow(/jitter/);
  });

  it('rejects non-square input with a clear error', () => {
    expect(() => cholesky(tf.zeros([2, 3]))).toThrow(/square/);
    expect(() => cholesky(tf.zeros([3]))).toThrow(/matrix/);
  });

  it.each([1, 2, 5, 16])('gradient of sum(W ⊙ chol(B·Bᵀ + D·I)) w.r.t. B matches finite differences (D = %i)', (D) => {
    const r = rng(30 + D);
    const { A, B } = randomSpd(r, D);
    const W = fround(randMat(r, D, D));
    const f = (b: number[]) => {
      const Bm = toMat(b, D, D);
      const Am = matMulF64(Bm, transpose(Bm)).map((row, i) => row.map((v, j) => v + (i === j ? D : 0)));
      const L = choleskyF64(Am);
      return L.reduce((s, row, i) => s + row.reduce((t, v, j) => t + v * W[i][j], 0), 0);
    };
    const ref = toMat(fdGrad(f, B.flat()), D, D);
    const g = arr2(
      tf.tidy(() => {
        const Wt = tf.tensor2d(W);
        return tf.grad((b: Tensor) => tf.sum(tf.mul(cholesky(tf.add(tf.matMul(b, b, false, true), tf.mul(D, tf.eye(D)))), Wt)))(
          tf.tensor2d(B),
        );
      }),
    );
    expect(normF(sub(g, ref))).toBeLessThanOrEqual(4 * kappaF(A) * D * gamma(D + 1) * normF(ref));
  });

  it.each([2, 5])('directional derivative along a symmetric perturbation matches finite differences (D = %i)', (D) => {
    const r = rng(40 + D);
    const { A } = randomSpd(r, D);
    const W = fround(randMat(r, D, D));
    const S0 = randMat(r, D, D);
    const S = S0.map((row, i) => row.map((v, j) => 0.5 * (v + S0[j][i])));
    const f = (h: number) => {
      const L = choleskyF64(A.map((row, i) => row.map((v, j) => v + h * S[i][j])));
      return L.reduce((s, row, i) => s + row.reduce((t, v, j) => t + v * W[i][j], 0), 0);
    };
    const ref = (f(H) - f(-H)) / (2 * H);
    const gA = arr2(tf.tidy(() => tf.grad((a: Tensor) => tf.sum(tf.mul(cholesky(a), tf.tensor2d(W))))(tf.tensor2d(A))));
    // The adjoint is (X + Xᵀ)/2, exactly symmetric in floating point.
    gA.forEach((row, i) => row.forEach((v, j) => expect(v).toBe(gA[j][i])));
    const got = gA.reduce((s, row, i) => s + row.reduce((t, v, j) => t + v * S[i][j], 0), 0);
    expect(Math.abs(got - ref)).toBeLessThanOrEqual(4 * kappaF(A) * D * gamma(D + 1) * normF(gA) * normF(S));
  });

  it.each([1, 5, 16])('gradient of logDetCholesky(cholesky(A)) is A⁻¹ (D = %i)', (D) => {
    const r = rng(50 + D);
    const { A } = randomSpd(r, D);
    const ref = inverseSpd(A);
    const g = arr2(tf.tidy(() => tf.grad((a: Tensor) => logDetCholesky(cholesky(a)))(tf.tensor2d(A))));
    expect(normF(sub(g, ref))).toBeLessThanOrEqual(4 * kappaF(A) * D * gamma(D + 1) * normF(ref));
  });

  it('keeps no intermediate tensors alive, forward or backward', () => {
    const A = tf.tensor2d(randomSpd(rng(60), 6).A);
    const before = tf.memory().numTensors;
    cholesky(A).dispose();
    const g = tf.grad((a: Tensor) => tf.sum(cholesky(a)))(A);
    g.dispose();
    const L = cholesky(A);
    const rhs = tf.ones([6, 2]);
    const gs = tf.grads((l: Tensor, b: Tensor) => tf.sum(triangularSolve(l, b)))([L, rhs]);
    tf.dispose([L, rhs, ...gs]);
    expect(tf.memory().numTensors).toBe(before + 0);
    A.dispose();
  });
});

describe('triangularSolve', () => {
  /** Checks |b − op(L)·x̂| ≤ γ_D·|op(L)|·|x̂| componentwise (op(L) as given). */
  function expectBackwardStable(opL: Mat, x: Mat, b: Mat): void {
    const D = opL.length;
    const res = sub(b, matMulF64(opL, x));
    const bound = matMulF64(absM(opL), absM(x));
    res.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v)).toBeLessThanOrEqual(gamma(D) * bound[i][j])));
  }

  it.each([1, 2, 5, 16])('solves L x = b, Lᵀ x = b and U x = b backward stably (D = %i)', (D) => {
    const r = rng(70 + D);
    const L = randomLower(r, D);
    const b = fround(randMat(r, D, 3));
    const x = arr2(tf.tidy(() => triangularSolve(tf.tensor2d(L), tf.tensor2d(b))));
    expectBackwardStable(L, x, b);
    const xt = arr2(tf.tidy(() => triangularSolve(tf.tensor2d(L), tf.tensor2d(b), { transpose: true })));
    expectBackwardStable(transpose(L), xt, b);
    const Up = transpose(L);
    const xu = arr2(tf.tidy(() => triangularSolve(tf.tensor2d(Up), tf.tensor2d(b), { lower: false })));
    expectBackwardStable(Up, xu, b);
  });

  it('never reads the other triangle', () => {
    const r = rng(80);
    const L = randomLower(r, 5);
    const junk = L.map((row, i) => row.map((v, j) => (j > i ? 100 * (r() - 0.5) : v)));
    const b = fround(randMat(r, 5, 2));
    for (const opts of [{}, { transpose: true }]) {
      const clean = arr2(tf.tidy(() => triangularSolve(tf.tensor2d(L), tf.tensor2d(b), opts)));
      const dirty = arr2(tf.tidy(() => triangularSolve(tf.tensor2d(junk), tf.tensor2d(b), opts)));
      expect(dirty).toEqual(clean);
    }
  });

  it('broadcasts batch axes: L [3, 1, D, D] with b [4, D, M] gives [3, 4, D, M]', () => {
    const r = rng(81);
    const D = 4;
    const Ls = Array.from({ length: 3 }, () => randomLower(r, D));
    const bs = Array.from({ length: 4 }, () => fround(randMat(r, D, 2)));
    const X = tf.tidy(() => triangularSolve(tf.tensor4d(Ls.flat(2), [3, 1, D, D]), tf.tensor3d(bs.flat(2), [4, D, 2])));
    expect(X.shape).toEqual([3, 4, D, 2]);
    const xs = X.arraySync() as number[][][][];
    X.dispose();
    Ls.forEach((L, i) => bs.forEach((b, j) => expectBackwardStable(L, xs[i][j], b)));
    expect(() => triangularSolve(tf.zeros([2, D, D]), tf.zeros([3, D, 1]))).toThrow(/do not broadcast/);
    expect(() => triangularSolve(tf.eye(D), tf.zeros([D + 1, 1]))).toThrow(/right-hand side/);
  });

  it.each([
    [1, false],
    [2, true],
    [5, false],
    [16, true],
  ])('gradients w.r.t. L and b match finite differences (D = %i, transpose = %s)', (D, tr) => {
    const r = rng(90 + D);
    const L = randomLower(r, D);
    const M = 2;
    const b = fround(randMat(r, D, M));
    const W = fround(randMat(r, D, M));
    const f = (Lm: Mat, bm: Mat) => {
      const x = solveLowerF64(Lm, bm, tr);
      return x.reduce((s, row, i) => s + row.reduce((t, v, j) => t + v * W[i][j], 0), 0);
    };
    const refL = toMat(fdGrad((l) => f(toMat(l, D, D), b), L.flat()), D, D);
    const refB = toMat(fdGrad((bb) => f(L, toMat(bb, D, M)), b.flat()), D, M);
    const [gL, gB] = tf.tidy(() =>
      tf.grads((l: Tensor, bb: Tensor) => tf.sum(tf.mul(triangularSolve(l, bb, { transpose: tr }), tf.tensor2d(W))))([
        tf.tensor2d(L),
        tf.tensor2d(b),
      ]),
    );
    const gLm = arr2(gL);
    const gBm = arr2(gB);
    tf.dispose([gL, gB]);
    // Entries above the diagonal are never read: their gradient is exactly 0 (as in refL).
    gLm.forEach((row, i) => row.forEach((v, j) => j > i && expect(Math.abs(v)).toBe(0)));
    const k = kappaLower(L);
    expect(normF(sub(gLm, refL))).toBeLessThanOrEqual(4 * k * D * gamma(D) * normF(refL));
    expect(normF(sub(gBm, refB))).toBeLessThanOrEqual(4 * k * D * gamma(D) * normF(refB));
  });

  it('sums gradients over broadcast batch axes (L [1, D, D], b [3, D, M])', () => {
    const r = rng(99);
    const D = 3;
    const L = randomLower(r, D);
    const bs = Array.from({ length: 3 }, () => fround(randMat(r, D, 2)));
    const refL = toMat(
      fdGrad((l) => bs.reduce((s, b) => s + solveLowerF64(toMat(l, D, D), b).flat().reduce((a, v) => a + v, 0), 0), L.flat()),
      D,
      D,
    );
    const g = tf.tidy(() => tf.grad((l: Tensor) => tf.sum(triangularSolve(l, tf.tensor3d(bs.flat(2), [3, D, 2]))))(tf.tensor3d(L.flat(), [1, D, D])));
    expect(g.shape).toEqual([1, D, D]);
    const gm = (g.arraySync() as Mat[])[0];
    g.dispose();
    expect(normF(sub(gm, lowerOf(refL)))).toBeLessThanOrEqual(4 * kappaLower(L) * D * gamma(D) * normF(refL));
  });
});

describe('wasm backend', () => {
  it('cholesky and triangularSolve (with gradients) agree with float64 there too', async () => {
    await useBackend('wasm');
    try {
      const D = 5;
      const r = rng(110);
      const { A } = randomSpd(r, D);
      const Lref = choleskyF64(A);
      const L = arr2(tf.tidy(() => cholesky(tf.tensor2d(A))));
      expect(normF(sub(L, Lref))).toBeLessThanOrEqual(cholBound(A, Lref));
      const g = arr2(tf.tidy(() => tf.grad((a: Tensor) => logDetCholesky(cholesky(a)))(tf.tensor2d(A))));
      const inv = inverseSpd(A);
      expect(normF(sub(g, inv))).toBeLessThanOrEqual(4 * kappaF(A) * D * gamma(D + 1) * normF(inv));
    } finally {
      await useBackend('cpu');
    }
  });
});

describe('helpers', () => {
  it('choleskySolve solves A x = b', () => {
    const r = rng(100);
    const D = 6;
    const { A } = randomSpd(r, D);
    const b = fround(randMat(r, D, 2));
    const x = arr2(tf.tidy(() => choleskySolve(cholesky(tf.tensor2d(A)), tf.tensor2d(b))));
    const xref = matMulF64(inverseSpd(A), b);
    // Forward error of a backward-stable SPD solve: ≤ κ_F·(factor + two solves) relative.
    expect(normF(sub(x, xref))).toBeLessThanOrEqual(kappaF(A) * 3 * D * gamma(D + 1) * normF(xref));
  });

  it('logDetCholesky is 2 Σ log diag, matching logDetF64', () => {
    const r = rng(101);
    for (const D of [1, 4, 16]) {
      const { A } = randomSpd(r, D);
      const Lref = choleskyF64(A);
      const got = tf.tidy(() => logDetCholesky(cholesky(tf.tensor2d(A)))).dataSync()[0];
      // |Δ log L_ii| ≤ ‖ΔL‖_F / L_ii per term (first order), plus D roundings of the sum.
      const bound = 2 * Lref.reduce((s, row, i) => s + cholBound(A, Lref) / row[i], 0) + D * U * Math.abs(logDetF64(A)) * 2;
      expect(Math.abs(got - logDetF64(A))).toBeLessThanOrEqual(bound);
    }
  });

  it('matrixDiag, matrixDiagPart, bandPartLower, eye and tcrossprod', () => {
    const r = rng(102);
    const v = fround(randMat(r, 2, 3));
    const M = tf.tidy(() => matrixDiag(tf.tensor2d(v)));
    expect(M.shape).toEqual([2, 3, 3]);
    expect(M.arraySync()).toEqual(v.map((row) => row.map((a, i) => row.map((_, j) => (i === j ? a : 0)))));
    expect(tf.tidy(() => matrixDiagPart(M)).arraySync()).toEqual(v);
    M.dispose();
    const A = fround(randMat(r, 4, 4));
    expect(arr2(tf.tidy(() => bandPartLower(tf.tensor2d(A))))).toEqual(lowerOf(A));
    expect(arr2(tf.tidy(() => eye(3)))).toEqual(identity(3));
    expect(() => eye(0)).toThrow(/positive integer/);
    const Lc = fround(randMat(r, 4, 3));
    const P = arr2(tf.tidy(() => tcrossprod(tf.tensor2d(Lc))));
    const Pref = matMulF64(Lc, transpose(Lc));
    const bound = matMulF64(absM(Lc), transpose(absM(Lc)));
    P.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - Pref[i][j])).toBeLessThanOrEqual(gamma(3) * bound[i][j])));
  });

  it('batchMatMul broadcasts batch axes of different ranks, with gradients of the input shapes', () => {
    const r = rng(103);
    const a = Array.from({ length: 2 }, () => fround(randMat(r, 3, 4)));
    const b = Array.from({ length: 5 }, () => fround(randMat(r, 4, 2)));
    const at = tf.tensor4d(a.flat(2), [2, 1, 3, 4]);
    const bt = tf.tensor3d(b.flat(2), [5, 4, 2]);
    const C = batchMatMul(at, bt);
    expect(C.shape).toEqual([2, 5, 3, 2]);
    const cs = C.arraySync() as number[][][][];
    a.forEach((ai, i) =>
      b.forEach((bj, j) => {
        const ref = matMulF64(ai, bj);
        const bound = matMulF64(absM(ai), absM(bj));
        cs[i][j].forEach((row, p) => row.forEach((x, q) => expect(Math.abs(x - ref[p][q])).toBeLessThanOrEqual(gamma(4) * bound[p][q])));
      }),
    );
    // d/da Σ(a·b) = 1·bᵀ summed over the 5 broadcast b's; d/db = aᵀ·1 summed over the 2 a's.
    // Each is a float32 sum of n terms: error ≤ γ_n·Σ|terms|.
    const [ga, gb] = tf.grads((x: Tensor, y: Tensor) => tf.sum(batchMatMul(x, y)))([at, bt]);
    expect(ga.shape).toEqual([2, 1, 3, 4]);
    expect(gb.shape).toEqual([5, 4, 2]);
    const gaRef = (p: number) => b.reduce((s, bj) => s + bj[p][0] + bj[p][1], 0);
    const gaAbs = (p: number) => b.reduce((s, bj) => s + Math.abs(bj[p][0]) + Math.abs(bj[p][1]), 0);
    (ga.arraySync() as number[][][][]).forEach((gi) =>
      gi[0].forEach((row) => row.forEach((x, q) => expect(Math.abs(x - gaRef(q))).toBeLessThanOrEqual(gamma(10) * gaAbs(q)))),
    );
    const gbRef = (p: number) => a.reduce((s, ai) => s + ai.reduce((t, row) => t + row[p], 0), 0);
    const gbAbs = (p: number) => a.reduce((s, ai) => s + ai.reduce((t, row) => t + Math.abs(row[p]), 0), 0);
    (gb.arraySync() as number[][][]).forEach((gj) =>
      gj.forEach((row, p) => row.forEach((x) => expect(Math.abs(x - gbRef(p))).toBeLessThanOrEqual(gamma(6) * gbAbs(p)))),
    );
    tf.dispose([at, bt, C, ga, gb]);
    expect(() => batchMatMul(tf.zeros([2, 3]), tf.zeros([2, 3]))).toThrow(/inner dimensions/);
  });
});
