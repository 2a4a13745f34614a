/**
 * Float64 reference maths for the distribution tests, written independently of the code
 * under test (small dense linear algebra by textbook algorithms, Bessel series).
 */
import { lgammaF64 } from '../../src/tensor';

export type Mat = number[][];

/** Returns the transpose of a. */
export function transpose(a: Mat): Mat {
  return a[0].map((_, j) => a.map((r) => r[j]));
}

/** Returns a·b. */
export function matmul(a: Mat, b: Mat): Mat {
  return a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
}

/** Returns the lower Cholesky factor of an SPD matrix (throws when not PD). */
export function chol(a: Mat): Mat {
  const n = a.length;
  const L: Mat = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      if (i === j) {
        if (!(s > 0)) throw new Error('chol: not positive definite');
        L[i][i] = Math.sqrt(s);
      } else {
        L[i][j] = s / L[j][j];
      }
    }
  }
  return L;
}

/** Returns [log |det a|, a⁻¹] by Gauss–Jordan elimination with partial pivoting. */
export function logDetInv(a: Mat): [number, Mat] {
  const n = a.length;
  const M = a.map((r, i) => [...r, ...r.map((_, j) => (i === j ? 1 : 0))]);
  let logDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    const piv = M[c][c];
    logDet += Math.log(Math.abs(piv));
    for (let j = 0; j < 2 * n; j++) M[c][j] /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c];
      for (let j = 0; j < 2 * n; j++) M[r][j] -= f * M[c][j];
    }
  }
  return [logDet, M.map((r) => r.slice(n))];
}

/** Returns tr(a·b). */
export function traceProd(a: Mat, b: Mat): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) for (let k = 0; k < a.length; k++) s += a[i][k] * b[k][i];
  return s;
}

/** Returns log Γ_D(a) = D(D-1)/4 log π + Σ_{j=1}^{D} log Γ(a + (1 - j)/2). */
export function lmvgammaRef(a: number, D: number): number {
  let s = ((D * (D - 1)) / 4) * Math.log(Math.PI);
  for (let j = 1; j <= D; j++) s += lgammaF64(a + (1 - j) / 2);
  return s;
}

/** Returns I_n(x) by its power series Σ (x/2)^{2k+n} / (k! (k+n)!) (fine for x <= ~30 in float64). */
export function besselI(n: number, x: number): number {
  let term = 1;
  for (let i = 1; i <= n; i++) term *= x / 2 / i;
  let s = term;
  for (let k = 1; k < 200; k++) {
    term *= (x * x) / 4 / (k * (k + n));
    s += term;
    if (term < 1e-17 * s) break;
  }
  return s;
}

/** Returns log B(a, b) from log-gammas. */
export function lbetaRef(a: number, b: number): number {
  return lgammaF64(a) + lgammaF64(b) - lgammaF64(a + b);
}

/** Returns the standard normal CDF by the continued-fraction-free series/asymptotic split (float64, via erfc). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/**
 * Returns erfc(x) in float64: series for |x| < 2, Lentz continued fraction beyond
 * (relative accuracy ~1e-14, independent of the code under test).
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    // erf(x) = 2/√π Σ (-1)^n x^{2n+1} / (n! (2n+1))
    let term = x;
    let s = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      s += add;
      if (Math.abs(add) < 1e-17 * Math.abs(s)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * s;
  }
  // erfc(x) = e^{-x²}/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (modified Lentz)
  const tiny = 1e-300;
  let f = x;
  let C = x;
  let D = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    D = x + a * D;
    D = D === 0 ? tiny : D;
    C = x + a / C;
    C = C === 0 ? tiny : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Returns log Φ(z), using log erfc's asymptotic form far in the left tail. */
export function logNormalCdf(z: number): number {
  if (z > -20) return Math.log(normalCdf(z));
  // Φ(z) = φ(z)/|z| · (1 - 1/z² + 3/z⁴ - 15/z⁶ + ...)
  const r = 1 / (z * z);
  return -0.5 * z * z - Math.log(-z) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-r + 3 * r * r - 15 * r * r * r);
}
