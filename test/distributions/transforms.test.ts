/**
 * Tests for src/distributions/transforms.ts: property tests (fast-check, fixed seed,
 * 50 runs) against independent float64 implementations of Stan's transforms written
 * the naive way, straight from the reference manual ("Constraint Transforms").
 *
 * Tolerances are float32 error bounds (U = 2^-24, the unit roundoff): every float32
 * operation contributes a relative error ≤ U (≤ 2U for library exp/log/tanh/softplus),
 * a float32 sum of n terms errs by ≤ n·U·Σ|terms|, and errors in an intermediate v
 * reach the output through |∂out/∂v|. Each formula below names the quantities it
 * bounds. Log-Jacobian references are log|det J| of central finite differences in
 * float64 (step 1e-5, relative error ~1e-10) onto the free coordinates Stan uses; they
 * are also checked against Stan's closed forms to 1e-6 relative.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { getTransform, SUPPORT_TOL } from '../../src/distributions/transforms';
import { choleskyF64, logDetF64, matMulF64, tf, useBackend } from '../../src/tensor';
import type { Constraint } from '../../src/distributions/types';
import type { Tensor } from '../../src/tensor';

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);
const FC = { seed: 20240611, numRuns: 50 };
const H = 1e-5;
/**
 * Absolute floor for every comparison: float32 results below the smallest normal
 * number 2^-126 lose relative accuracy (gradual underflow, or flush-to-zero), e.g. a
 * product of two subnormal-sized entries; 64 such units cover the few ops involved.
 */
const TINY = 64 * 2 ** -126;
/** Relative error allowed for the float64 references themselves (~10 float64 ulps). */
const REF64 = 10 * 2 ** -53;

beforeAll(async () => {
  await useBackend('cpu');
});

// ---------------------------------------------------------------------------
// float64 helpers
// ---------------------------------------------------------------------------

type Mat = number[][];
const sigmoid = (a: number) => 1 / (1 + Math.exp(-a));
/** log σ(a) without overflow. */
const logSigmoid = (a: number) => (a >= 0 ? -Math.log1p(Math.exp(-a)) : a - Math.log1p(Math.exp(a)));
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map((row) => row[j]));
const toMat = (flat: number[], K: number): Mat => Array.from({ length: K }, (_, i) => flat.slice(i * K, (i + 1) * K));
const sumAbs = (a: number[]) => a.reduce((s, v) => s + Math.abs(v), 0);

/** Row-major lower triangle of a K x K matrix (flat), strictly lower or with the diagonal. */
function lowerOf(x: number[], K: number, strict: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < K; i++) for (let j = 0; j < (strict ? i : i + 1); j++) out.push(x[i * K + j]);
  return out;
}

/** Central-difference Jacobian of g at u: J[a][b] = ∂g_a/∂u_b. */
function fdJacobian(g: (u: number[]) => number[], u: number[]): Mat {
  const cols = u.map((_, b) => {
    const up = u.slice();
    const um = u.slice();
    up[b] += H;
    um[b] -= H;
    const gp = g(up);
    const gm = g(um);
    return gp.map((v, a) => (v - gm[a]) / (2 * H));
  });
  return cols.length ? transpose(cols) : [];
}

/** A⁻¹ by Gauss–Jordan elimination with partial pivoting (float64). */
function inverseF64(A: Mat): Mat {
  const n = A.length;
  const M = A.map((row, i) => [...row, ...row.map((_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    const piv = M[c][c];
    M[c] = M[c].map((v) => v / piv);
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c];
      M[r] = M[r].map((v, k) => v - f * M[c][k]);
    }
  }
  return M.map((row) => row.slice(n));
}

// ---------------------------------------------------------------------------
// float64 references, written from the Stan reference manual
// ---------------------------------------------------------------------------

/** Stick-breaking simplex: z_k = logit⁻¹(u_k − log(K − k)), x_k = stick·z_k. */
function simplexRef(u: number[]) {
  const K = u.length + 1;
  const x: number[] = [];
  let stick = 1;
  let ld = 0;
  const a: number[] = [];
  const lz: number[] = [];
  const l1z: number[] = [];
  for (let k = 0; k < K - 1; k++) {
    a.push(u[k] - Math.log(K - 1 - k));
    const z = sigmoid(a[k]);
    lz.push(logSigmoid(a[k]));
    l1z.push(logSigmoid(-a[k]));
    ld += Math.log(z) + Math.log(1 - z) + Math.log(stick);
    x.push(stick * z);
    stick -= stick * z;
  }
  x.push(stick);
  return { x, ld, a, lz, l1z };
}

function orderedRef(u: number[], positive: boolean) {
  const x: number[] = [];
  u.forEach((v, k) => x.push(k === 0 ? (positive ? Math.exp(v) : v) : x[k - 1] + Math.exp(v)));
  const ld = u.reduce((s, v, k) => s + (k > 0 || positive ? v : 0), 0);
  return { x, ld };
}

/** Stan's cholesky_corr: CPCs z = tanh(u) filled row-major into the strict lower triangle. */
function cholCorrRef(u: number[], K: number) {
  const L: Mat = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const Z: Mat = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const R: Mat = Array.from({ length: K }, () => new Array<number>(K).fill(1)); // 1 − Σ_{k<j} L_ik²
  L[0][0] = 1;
  let n = 0;
  let ld = 0;
  for (let i = 1; i < K; i++) {
    let sumSq = 0;
    for (let j = 0; j < i; j++) {
      const z = Math.tanh(u[n++]);
      Z[i][j] = z;
      R[i][j] = 1 - sumSq;
      ld += Math.log(1 - z * z);
      if (j >= 1) ld += 0.5 * Math.log(1 - sumSq);
      L[i][j] = z * Math.sqrt(1 - sumSq);
      sumSq += L[i][j] * L[i][j];
    }
    R[i][i] = 1 - sumSq;
    L[i][i] = Math.sqrt(1 - sumSq);
  }
  return { L, Z, R, ld };
}

function cholCorrRefOmega(u: number[], K: number): number[] {
  const { L } = cholCorrRef(u, K);
  return matMulF64(L, transpose(L)).flat();
}

/** Stan's corr_matrix log-Jacobian (LKJ): Σ_{i>j} [1 + (K − j − 2)/2]·log(1 − z_ij²), 0-based column j. */
function corrLdRef(Z: Mat, K: number): number {
  let ld = 0;
  for (let i = 1; i < K; i++) for (let j = 0; j < i; j++) ld += (1 + (K - j - 2) / 2) * Math.log(1 - Z[i][j] * Z[i][j]);
  return ld;
}

/** Stan's cholesky_factor_cov (square): row-major lower triangle, exp on the diagonal. */
function cholCovRef(u: number[], K: number) {
  const L: Mat = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const diag: number[] = [];
  let n = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < i; j++) L[i][j] = u[n++];
    diag.push(u[n]);
    L[i][i] = Math.exp(u[n++]);
  }
  return { L, diag };
}

// ---------------------------------------------------------------------------
// Per-constraint specifications
// ---------------------------------------------------------------------------

interface Spec {
  constraint: Constraint;
  Ks: [number, number];
  uMax: number;
  m(K: number): number;
  eventShape(K: number): number[];
  /** Constrained value, flattened row-major. */
  ref(u: number[], K: number): number[];
  /** The free coordinates of a (flat) constrained value: what Stan's Jacobian is taken onto. */
  free(x: number[], K: number): number[];
  /** Stan's closed-form log|J|. */
  ld(u: number[], K: number): number;
  /** Per-entry bound on |forward(u) − ref(u)|. */
  tolF(u: number[], K: number): number[];
  /** Per-entry bound on |inverse(forward(u)) − u|. */
  tolU(u: number[], K: number): number[];
  /** Bound on |logDetJacobian(u) − ld(u)|. */
  tolLD(u: number[], K: number): number;
  /** Asserts that a float32 forward value lies in the support. */
  support(x: number[], K: number, u: number[]): void;
}

/** Simplex: per-entry relative bound ρ_k on x_k (log x_k is a float32 sum of ≤ K softplus terms). */
function simplexRho(u: number[]): number[] {
  const K = u.length + 1;
  const { a, lz, l1z } = simplexRef(u);
  return Array.from({ length: K }, (_, k) => {
    const last = k === K - 1;
    let T = last ? 0 : Math.abs(lz[k]);
    let A = last ? 0 : Math.abs(a[k]);
    for (let j = 0; j < (last ? K - 1 : k); j++) {
      T += Math.abs(l1z[j]);
      A += Math.abs(a[j]);
    }
    // ≤ K summation roundings of Σ|terms| = T, 2U per softplus, U·|a| forming a, 2U for exp.
    return 2 * U * ((K + 2) * T + A + 2);
  });
}

function cholCorrRowScale(u: number[], K: number): number[] {
  // Y_i = Σ_{k<i} (|u_ik| + 1): log R and the row's entries are sums over these.
  const Y: number[] = [];
  let n = 0;
  for (let i = 0; i < K; i++) {
    let y = 0;
    for (let j = 0; j < i; j++) y += Math.abs(u[n++]) + 1;
    Y.push(y);
  }
  return Y;
}

/** Relative bound on the entries of row i of the correlation factor. */
const cholCorrRho = (Y: number, K: number) => 4 * U * (K + 2) * Y + 4 * U;

function cholCorrTolU(u: number[], K: number, extra: (i: number, j: number) => number): number[] {
  const { Z } = cholCorrRef(u, K);
  const Y = cholCorrRowScale(u, K);
  const out: number[] = [];
  let n = 0;
  for (let i = 1; i < K; i++) {
    for (let j = 0; j < i; j++) {
      const y = u[n++];
      const c2 = Math.cosh(y) ** 2; // |d atanh(z)/dz| = cosh² y
      // z = L_ij/√(Σ_{k≥j} L_ik²): relative error ≤ 2ρ_i + (K + 3)U; atanh adds 2U|y|.
      out.push((2 * cholCorrRho(Y[i], K) + (K + 3) * U) * Math.abs(Z[i][j]) * c2 + 2 * U * Math.abs(y) + extra(i, j) * c2);
    }
  }
  return out;
}

function cholCorrTolLD(u: number[], K: number, ld: number): number {
  const Y = cholCorrRowScale(u, K);
  // Each s = −2 log cosh y errs by ≤ 8U(|y| + 1); each logR_ij sums ≤ j of them with ≤ 2j·U·Σ|s|;
  // Σ over (i, j) gives ≤ (K + 4)(K + 8)·U·Σ_i Y_i; the final sums add m·U·|ld|.
  return U * ((K + 4) * (K + 8) * Y.reduce((s, v) => s + v, 0) + ((K * (K - 1)) / 2 + K) * Math.abs(ld));
}

/** |L|·|Lᵀ| entries, flat. */
function absLLt(L: Mat): number[] {
  const A = L.map((row) => row.map(Math.abs));
  return matMulF64(A, transpose(A)).flat();
}

const SPECS: Spec[] = [
  {
    constraint: { name: 'simplex' },
    Ks: [2, 8],
    uMax: 3,
    m: (K) => K - 1,
    eventShape: (K) => [K],
    ref: (u) => simplexRef(u).x,
    free: (x, K) => x.slice(0, K - 1),
    ld: (u) => simplexRef(u).ld,
    tolF: (u) => {
      const x = simplexRef(u).x;
      return simplexRho(u).map((r, k) => r * x[k]);
    },
    tolU: (u) => {
      const K = u.length + 1;
      const x = simplexRef(u).x;
      const rho = simplexRho(u);
      return u.map((v, k) => {
        const tail = x.slice(k + 1).reduce((s, t) => s + t, 0);
        const rt = Math.max(...rho.slice(k + 1));
        // log x_k − log tail_k + log(K − k): relative errors of x_k and tail (cumsum of ≤ K), 2U per log/add.
        return rho[k] + rt + 2 * U * (K + Math.abs(Math.log(x[k])) + Math.abs(Math.log(tail)) + Math.log(K) + Math.abs(v));
      });
    },
    tolLD: (u) => {
      const K = u.length + 1;
      const { a, lz, l1z } = simplexRef(u);
      let mag = 0;
      let stick = 0;
      for (let k = 0; k < K - 1; k++) {
        mag += Math.abs(lz[k]) + Math.abs(l1z[k]) + 2 * Math.abs(a[k]) + Math.abs(stick);
        stick += l1z[k];
      }
      // 3(K − 1) terms, each ≤ 2U relative, summed in float32 (≤ 3K roundings of the total magnitude).
      return 2 * U * 3 * K * (mag + 1);
    },
    support: (x, K, u) => {
      const tol = simplexRef(u).x.reduce((s, v, k) => s + simplexRho(u)[k] * v, 0) + K * U;
      x.forEach((v) => expect(v).toBeGreaterThan(0));
      expect(Math.abs(x.reduce((s, v) => s + v, 0) - 1)).toBeLessThanOrEqual(tol);
    },
  },
  ...[false, true].map(
    (positive): Spec => ({
      constraint: { name: positive ? 'positive_ordered' : 'ordered' },
      Ks: [1, 6],
      uMax: 3,
      m: (K) => K,
      eventShape: (K) => [K],
      ref: (u) => orderedRef(u, positive).x,
      free: (x) => x,
      ld: (u) => orderedRef(u, positive).ld,
      tolF: (u) => orderedTolF(positive, u),
      tolU: (u) => {
        const tf_ = orderedTolF(positive, u);
        return u.map((v, k) => {
          // u_k = log(x_k − x_{k−1}): the two x errors over the gap e^{u_k}, then 4U for log/sub.
          if (k === 0) return positive ? tf_[0] / Math.exp(v) + 4 * U * (1 + Math.abs(v)) : tf_[0];
          return (tf_[k] + tf_[k - 1]) / Math.exp(v) + 4 * U * (1 + Math.abs(v));
        });
      },
      // A float32 sum of ≤ K terms.
      tolLD: (u) => u.length * U * sumAbs(u) + U,
      support: (x, K) => {
        x.forEach((v) => expect(Number.isFinite(v)).toBe(true));
        if (positive) expect(x[0]).toBeGreaterThan(0);
        for (let k = 1; k < K; k++) expect(x[k]).toBeGreaterThan(x[k - 1]);
      },
    }),
  ),
  {
    constraint: { name: 'cholesky_corr' },
    Ks: [1, 5],
    uMax: 2.5,
    m: (K) => (K * (K - 1)) / 2,
    eventShape: (K) => [K, K],
    ref: (u, K) => cholCorrRef(u, K).L.flat(),
    free: (x, K) => lowerOf(x, K, true),
    ld: (u, K) => cholCorrRef(u, K).ld,
    tolF: (u, K) => {
      const { L } = cholCorrRef(u, K);
      const Y = cholCorrRowScale(u, K);
      return L.flatMap((row, i) => row.map((v) => cholCorrRho(Y[i], K) * Math.abs(v)));
    },
    tolU: (u, K) => cholCorrTolU(u, K, () => 0),
    tolLD: (u, K) => cholCorrTolLD(u, K, cholCorrRef(u, K).ld),
    support: (x, K, u) => {
      const L = toMat(x, K);
      const Y = cholCorrRowScale(u, K);
      L.forEach((row, i) => {
        expect(row[i]).toBeGreaterThan(0);
        row.forEach((v, j) => j > i && expect(v).toBe(0));
        const n2 = row.reduce((s, v) => s + v * v, 0);
        expect(Math.abs(n2 - 1)).toBeLessThanOrEqual(2 * cholCorrRho(Y[i], K) + 2 * (i + 1) * U);
      });
    },
  },
  {
    constraint: { name: 'corr_matrix' },
    Ks: [1, 5],
    uMax: 2.5,
    m: (K) => (K * (K - 1)) / 2,
    eventShape: (K) => [K, K],
    ref: (u, K) => cholCorrRefOmega(u, K),
    free: (x, K) => lowerOf(x, K, true),
    ld: (u, K) => corrLdRef(cholCorrRef(u, K).Z, K),
    tolF: (u, K) => corrTolF(u, K),
    tolU: (u, K) => {
      // The inverse is exact for Ω̂ + ΔA with |ΔA| ≤ γ_{K+1}|L||Lᵀ| (float32 Cholesky,
      // Higham Thm 10.3) and Ω̂ = Ω + δΩ (forward error, 0 on the diagonal). Row
      // normalisation maps a perturbation E of the matrix to E_ij − ½Ω_ij(E_ii + E_jj) on
      // the free coordinates, which moves u by J⁻¹ of that (J: u -> strict lower Ω).
      const { L } = cholCorrRef(u, K);
      const Om = matMulF64(L, transpose(L));
      const ll = absLLt(L);
      const tf_ = corrTolF(u, K);
      const E = ll.map((v, n) => tf_[n] + gamma(K + 1) * v);
      const e: number[] = [];
      for (let i = 1; i < K; i++) {
        for (let j = 0; j < i; j++) e.push(E[i * K + j] + 0.5 * Math.abs(Om[i][j]) * (E[i * K + i] + E[j * K + j]));
      }
      const base = cholCorrTolU(u, K, () => 0);
      if (!e.length) return base;
      const Jinv = inverseF64(fdJacobian((v) => lowerOf(cholCorrRefOmega(v, K), K, true), u));
      return base.map((b0, a) => b0 + Jinv[a].reduce((sum, v, c) => sum + Math.abs(v) * e[c], 0));
    },
    tolLD: (u, K) => 2 * cholCorrTolLD(u, K, corrLdRef(cholCorrRef(u, K).Z, K)),
    support: (x, K) => {
      const O = toMat(x, K);
      O.forEach((row, i) => row.forEach((v, j) => expect(v).toBe(i === j ? 1 : O[j][i])));
      expect(() => choleskyF64(O)).not.toThrow();
    },
  },
  {
    constraint: { name: 'cholesky_cov' },
    Ks: [1, 5],
    uMax: 2,
    m: (K) => (K * (K + 1)) / 2,
    eventShape: (K) => [K, K],
    ref: (u, K) => cholCovRef(u, K).L.flat(),
    free: (x, K) => lowerOf(x, K, false),
    ld: (u, K) => cholCovRef(u, K).diag.reduce((s, v) => s + v, 0),
    // Off-diagonal entries are copies (exact); the diagonal is one exp (2U relative).
    tolF: (u, K) => cholCovRef(u, K).L.flatMap((row, i) => row.map((v, j) => (i === j ? 2 * U * v : 0))),
    tolU: (u, K) => {
      const out: number[] = [];
      for (let i = 0; i < K; i++) for (let j = 0; j <= i; j++) out.push(i === j ? 4 * U * (1 + Math.abs(u[out.length])) : 0);
      return out;
    },
    tolLD: (u, K) => K * U * sumAbs(cholCovRef(u, K).diag) + U,
    support: (x, K) => {
      const L = toMat(x, K);
      L.forEach((row, i) => row.forEach((v, j) => (j > i ? expect(v).toBe(0) : j === i && expect(v).toBeGreaterThan(0))));
    },
  },
  {
    constraint: { name: 'cov_matrix' },
    Ks: [1, 4],
    uMax: 1,
    m: (K) => (K * (K + 1)) / 2,
    eventShape: (K) => [K, K],
    ref: (u, K) => {
      const { L } = cholCovRef(u, K);
      return matMulF64(L, transpose(L)).flat();
    },
    free: (x, K) => lowerOf(x, K, false),
    ld: (u, K) => K * Math.log(2) + cholCovRef(u, K).diag.reduce((s, v, i) => s + (K - i + 1) * v, 0),
    tolF: (u, K) => covTolF(u, K),
    tolU: (u, K) => {
      // As for corr_matrix: the inverse is exact for Σ + δΣ + ΔA (forward error, and
      // |ΔA| ≤ γ_{K+1}|L||Lᵀ| from the float32 Cholesky), which moves u by J⁻¹ of that
      // (J: u -> lower triangle of Σ, square); the log on the diagonal adds 4U(1 + |u_ii|).
      const { L, diag } = cholCovRef(u, K);
      const ll = absLLt(L);
      const tf_ = covTolF(u, K);
      const e = lowerOf(ll.map((v, n) => tf_[n] + gamma(K + 1) * v), K, false);
      const Jinv = inverseF64(fdJacobian((v) => lowerOf(matMulF64(cholCovRef(v, K).L, transpose(cholCovRef(v, K).L)).flat(), K, false), u));
      const out: number[] = [];
      for (let i = 0; i < K; i++) for (let j = 0; j <= i; j++) out.push(i === j ? 4 * U * (1 + Math.abs(diag[i])) : 0);
      return out.map((b0, a) => b0 + Jinv[a].reduce((sum, v, c) => sum + Math.abs(v) * e[c], 0));
    },
    tolLD: (u, K) => 2 * K * U * (cholCovRef(u, K).diag.reduce((s, v, i) => s + (K - i + 1) * Math.abs(v), 0) + K),
    support: (x, K) => {
      const S = toMat(x, K);
      S.forEach((row, i) => row.forEach((v, j) => expect(v).toBe(S[j][i])));
      expect(() => choleskyF64(S)).not.toThrow();
    },
  },
];

/** x_k is a float32 cumsum of k + 1 terms (exp errs 2U): ≤ 2U(k + 2)·S_k, S_k = Σ_{j≤k} |terms|. */
function orderedTolF(positive: boolean, u: number[]): number[] {
  let S = 0;
  return u.map((v, k) => {
    S += k === 0 && !positive ? Math.abs(v) : Math.exp(v);
    return 2 * U * (k + 2) * S;
  });
}

/** corr_matrix forward bound: |δΩ_ij| ≤ (ρ_i + ρ_j + K·U)·(|L||Lᵀ|)_ij, 0 on the (exact) diagonal. */
function corrTolF(u: number[], K: number): number[] {
  const { L } = cholCorrRef(u, K);
  const Y = cholCorrRowScale(u, K);
  return absLLt(L).map((v, n) => {
    const i = Math.floor(n / K);
    const j = n % K;
    return i === j ? 0 : (cholCorrRho(Y[i], K) + cholCorrRho(Y[j], K) + (K + 1) * U) * v;
  });
}

/** cov_matrix forward bound: (γ_K + 4U)·(|L||Lᵀ|)_ij (the matmul, and 2U on each exp'd diagonal). */
function covTolF(u: number[], K: number): number[] {
  return absLLt(cholCovRef(u, K).L).map((v) => (gamma(K) + 4 * U) * v);
}

// ---------------------------------------------------------------------------
// Property runner
// ---------------------------------------------------------------------------

function arbCase(spec: Spec) {
  return fc
    .tuple(fc.integer({ min: spec.Ks[0], max: spec.Ks[1] }), fc.integer({ min: 1, max: 3 }))
    .chain(([K, b]) =>
      fc.tuple(
        fc.constant(K),
        fc.constant(b),
        fc.array(fc.double({ min: -spec.uMax, max: spec.uMax, noNaN: true }), {
          minLength: b * spec.m(K),
          maxLength: b * spec.m(K),
        }),
      ),
    )
    .map(([K, b, flat]) => {
      const m = spec.m(K);
      const us = Array.from({ length: b }, (_, i) => flat.slice(i * m, (i + 1) * m).map(Math.fround));
      return { K, b, us };
    });
}

/** Runs `f` on a [b, m] float32 tensor of the case and returns its data per batch element. */
function run(us: number[][], m: number, f: (u: Tensor) => Tensor): { shape: number[]; rows: number[][] } {
  const u = tf.tensor2d(us.flat(), [us.length, m]);
  const out = f(u);
  const shape = out.shape.slice();
  const data = Array.from(out.dataSync());
  tf.dispose([u, out]);
  const per = data.length / us.length;
  return { shape, rows: us.map((_, i) => data.slice(i * per, (i + 1) * per)) };
}

function expectWithin(got: number[], want: number[], tol: number[], what: string): void {
  got.forEach((g, n) => {
    const err = Math.abs(g - want[n]);
    // REF64 covers the float64 reference's own rounding.
    if (!(err <= tol[n] + TINY + REF64 * Math.abs(want[n]))) throw new Error(`${what}: entry ${n} is ${g}, expected ${want[n]} within ${tol[n]} (error ${err})`);
  });
}

describe.each(SPECS.map((s) => [s.constraint.name, s] as const))('%s', (_name, spec) => {
  const t = getTransform(spec.constraint);

  it('forward matches the float64 reference, lands in the support and has the right shapes', () => {
    fc.assert(
      fc.property(arbCase(spec), ({ K, b, us }) => {
        const { shape, rows } = run(us, spec.m(K), (u) => t.forward(u));
        expect(shape).toEqual([b, ...spec.eventShape(K)]);
        expect(t.unconstrainedEventShape(spec.eventShape(K))).toEqual([spec.m(K)]);
        rows.forEach((x, i) => {
          expectWithin(x, spec.ref(us[i], K), spec.tolF(us[i], K), 'forward');
          spec.support(x, K, us[i]);
        });
      }),
      FC,
    );
  });

  it('inverse(forward(u)) recovers u', () => {
    fc.assert(
      fc.property(arbCase(spec), ({ K, us }) => {
        const { rows } = run(us, spec.m(K), (u) => tf.tidy(() => {
          const x = t.forward(u);
          return t.inverse(x);
        }));
        rows.forEach((v, i) => expectWithin(v, us[i], spec.tolU(us[i], K), 'inverse(forward(u))'));
      }),
      FC,
    );
  });

  it('forward(inverse(x)) recovers x for x computed in float64', () => {
    fc.assert(
      fc.property(arbCase(spec), ({ K, b, us }) => {
        const xs = us.map((u) => spec.ref(u, K).map(Math.fround));
        const x = tf.tensor(xs.flat(), [b, ...spec.eventShape(K)]);
        const back = tf.tidy(() => t.forward(t.inverse(x)));
        const data = Array.from(back.dataSync());
        tf.dispose([x, back]);
        const per = data.length / b;
        us.forEach((u, i) => {
          // The inverse's error δu (≤ tolU) moves x by ≤ |J|·δu; the forward adds tolF.
          const J = fdJacobian((v) => spec.ref(v, K), u);
          const dU = spec.tolU(u, K);
          const tol = spec.tolF(u, K).map((f, a) => f + (J.length ? J[a].reduce((s, v, c) => s + Math.abs(v) * dU[c], 0) : 0) + U * Math.abs(xs[i][a]));
          expectWithin(data.slice(i * per, (i + 1) * per), xs[i], tol, 'forward(inverse(x))');
        });
      }),
      FC,
    );
  });

  it("logDetJacobian matches log|det J| onto Stan's free coordinates", () => {
    fc.assert(
      fc.property(arbCase(spec), ({ K, b, us }) => {
        const { shape, rows } = run(us, spec.m(K), (u) => t.logDetJacobian(u));
        expect(shape).toEqual([b]);
        rows.forEach(([ld], i) => {
          const u = us[i];
          const stan = spec.ld(u, K);
          if (spec.m(K) > 0) {
            const fd = logDetF64(fdJacobian((v) => spec.free(spec.ref(v, K), K), u));
            expect(Math.abs(fd - stan)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(stan)));
          } else {
            expect(stan).toBe(0);
          }
          const tol = spec.tolLD(u, K);
          if (!(Math.abs(ld - stan) <= tol)) throw new Error(`logDetJacobian ${ld}, expected ${stan} within ${tol}`);
        });
      }),
      FC,
    );
  });

  it('is differentiable: gradients of Σ w·forward(u) + logDetJacobian(u) match float64 differences', () => {
    fc.assert(
      fc.property(arbCase(spec), fc.integer(), ({ K, us }, wseed) => {
        const m = spec.m(K);
        const n = spec.ref(us[0], K).length;
        const w = Array.from({ length: n }, (_, k) => Math.fround(Math.sin(wseed + 7 * k)));
        const g64 = (u: number[]) => spec.ref(u, K).reduce((s, x, k) => s + w[k] * x, 0) + spec.ld(u, K);
        const ref = m ? fdJacobian((u) => [g64(u)], us[0])[0] : [];
        const u = tf.tensor2d(us[0], [1, m]);
        const wt = tf.tensor(w, [1, ...spec.eventShape(K)]);
        const g = tf.grad((v: Tensor) => tf.add(tf.sum(tf.mul(t.forward(v), wt)), tf.sum(t.logDetJacobian(v))))(u);
        const got = Array.from(g.dataSync());
        tf.dispose([u, wt, g]);
        // Each gradient entry is a sum of ≤ 2n chain-rule products of ≤ K + 4 factors,
        // each with ≤ 4 roundings: ≤ 8n(K + 4)U relative to the size of the terms, which
        // are bounded by |w|·|J| + |∂ld/∂u| ≤ max|ref| + ‖J‖.
        const J = m ? fdJacobian((v) => spec.ref(v, K), us[0]) : [];
        const scale = 1 + (J.length ? Math.max(...J.map((row) => sumAbs(row))) : 0) + sumAbs(ref);
        const tol = got.map(() => 8 * n * (K + 4) * U * scale);
        expectWithin(got, ref, tol, 'gradient');
      }),
      { ...FC, numRuns: 25 },
    );
  });
});

describe('batch axes', () => {
  it.each([
    ['simplex', [2, 3, 4], [2, 3, 5]],
    ['cholesky_corr', [2, 3, 6], [2, 3, 4, 4]],
    ['cov_matrix', [2, 3, 3], [2, 3, 2, 2]],
    ['ordered', [4], [4]],
  ] as const)('%s broadcasts over leading axes, element by element', (name, uShape, xShape) => {
    const t = getTransform({ name });
    const u = tf.randomUniform([...uShape], -2, 2, 'float32', 7);
    const x = t.forward(u);
    const ld = t.logDetJacobian(u);
    expect(x.shape).toEqual([...xShape]);
    expect(ld.shape).toEqual(uShape.slice(0, -1));
    if (uShape.length === 3) {
      const us = u.arraySync() as number[][][];
      const xs = x.arraySync() as unknown[][];
      const lds = ld.arraySync() as number[][];
      us.forEach((row, i) =>
        row.forEach((ui, j) => {
          // The same float32 operations run per element, so each slice equals its own run.
          const [xi, li] = tf.tidy(() => {
            const single = tf.tensor1d(ui);
            return [t.forward(single).arraySync(), t.logDetJacobian(single).arraySync()];
          });
          expect(xi).toEqual(xs[i][j]);
          expect(li).toEqual(lds[i][j]);
        }),
      );
    }
    tf.dispose([u, x, ld]);
  });
});

// ---------------------------------------------------------------------------
// Scalar transforms
// ---------------------------------------------------------------------------

interface ScalarSpec {
  c: Constraint;
  f(u: number): number;
  /** dx/du > 0 or < 0 */
  df(u: number): number;
  /** Magnitude of the largest operand in the forward (for the rounding bound). */
  scale(u: number): number;
  inside(x: number): boolean;
}

const SCALARS: ScalarSpec[] = [
  { c: { name: 'real' }, f: (u) => u, df: () => 1, scale: (u) => Math.abs(u), inside: Number.isFinite },
  { c: { name: 'positive' }, f: Math.exp, df: Math.exp, scale: Math.exp, inside: (x) => x > 0 },
  { c: { name: 'unit' }, f: sigmoid, df: (u) => sigmoid(u) * sigmoid(-u), scale: () => 1, inside: (x) => x > 0 && x < 1 },
  { c: { name: 'lower', lower: -2 }, f: (u) => -2 + Math.exp(u), df: Math.exp, scale: (u) => 2 + Math.exp(u), inside: (x) => x > -2 },
  { c: { name: 'upper', upper: 3 }, f: (u) => 3 - Math.exp(u), df: (u) => -Math.exp(u), scale: (u) => 3 + Math.exp(u), inside: (x) => x < 3 },
  {
    c: { name: 'interval', lower: -1, upper: 3 },
    f: (u) => -1 + 4 * sigmoid(u),
    df: (u) => 4 * sigmoid(u) * sigmoid(-u),
    scale: () => 4,
    inside: (x) => x > -1 && x < 3,
  },
];

describe.each(SCALARS.map((s) => [s.c.name, s] as const))('%s (scalar)', (_name, s) => {
  const t = getTransform(s.c);
  const arb = fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 6 }).map((a) => a.map(Math.fround));

  it('forward, inverse and log-Jacobian agree with float64 and with autodiff', () => {
    fc.assert(
      fc.property(arb, (us) => {
        const u = tf.tensor1d(us);
        const x = t.forward(u);
        const back = t.inverse(x);
        const ld = t.logDetJacobian(u);
        const g = tf.grad((v: Tensor) => tf.sum(t.forward(v)))(u);
        expect(ld.shape).toEqual([us.length]);
        const [xs, bs, lds, gs] = [x, back, ld, g].map((a) => Array.from(a.dataSync()));
        tf.dispose([u, x, back, ld, g]);
        us.forEach((v, i) => {
          const S = s.scale(v) + Math.abs(s.f(v));
          const d = Math.abs(s.df(v));
          // Forward: ≤ 4 roundings of operands of size ≤ S.
          expect(Math.abs(xs[i] - s.f(v))).toBeLessThanOrEqual(4 * U * S);
          expect(s.inside(xs[i])).toBe(true);
          // Round trip: the forward error divided by |dx/du|, plus ≤ 8 roundings in the inverse.
          expect(Math.abs(bs[i] - v)).toBeLessThanOrEqual((4 * U * S) / d + 8 * U * (1 + Math.abs(v)));
          // log|dx/du|: ≤ 4 roundings of terms of size ≤ |u| + |log width|, 2 more per softplus.
          const ldTol = 8 * U * (2 + Math.abs(v) + Math.abs(Math.log(d)));
          expect(Math.abs(lds[i] - Math.log(d))).toBeLessThanOrEqual(ldTol);
          // Autodiff of the forward: ≤ 8 roundings in the chain rule (relative), so the logs agree.
          expect(Math.abs(Math.log(Math.abs(gs[i])) - lds[i])).toBeLessThanOrEqual(ldTol + 8 * U);
        });
      }),
      FC,
    );
  });
});

describe('interval precision next to a bound at zero', () => {
  // Evaluated from the nearer end, x keeps full relative accuracy (≤ 4 roundings)
  // where it approaches a bound at 0 from either side; −1 + σ(u) would round to 0.
  it.each([
    [{ name: 'interval', lower: -1, upper: 0 } as Constraint, [6, 12, 20, 40], (u: number) => -sigmoid(-u)],
    [{ name: 'interval', lower: 0, upper: 1 } as Constraint, [-6, -12, -20, -40], (u: number) => sigmoid(u)],
  ])('%j', (c, us, ref) => {
    const t = getTransform(c);
    const u = tf.tensor1d(us);
    const x = t.forward(u);
    const back = t.inverse(x);
    const [xs, bs] = [x, back].map((a) => Array.from(a.dataSync()));
    tf.dispose([u, x, back]);
    us.forEach((v, i) => {
      expect(Math.abs(xs[i] - ref(v))).toBeLessThanOrEqual(4 * U * Math.abs(ref(v)));
      expect(Math.abs(bs[i] - v)).toBeLessThanOrEqual(8 * U * (1 + Math.abs(v)));
    });
  });
});

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

describe('support violations and bad constraints', () => {
  it.each([
    [{ name: 'positive' }, [1, -0.5], /'positive'.*element \[1\] is -0.5/],
    [{ name: 'unit' }, [0.5, 1], /'unit'.*\(0, 1\)/],
    [{ name: 'lower', lower: 1 }, [0.5], /'lower'.*> 1/],
    [{ name: 'upper', upper: 1 }, [2], /'upper'.*< 1/],
    [{ name: 'interval', lower: 0, upper: 2 }, [3], /'interval'/],
    [{ name: 'real' }, [NaN], /'real'.*finite/],
    [{ name: 'simplex' }, [[0.5, 0.4]], /'simplex'.*sums to 0\.9/],
    [{ name: 'simplex' }, [[1.2, -0.2]], /'simplex'.*> 0/],
    [{ name: 'ordered' }, [[1, 3, 2]], /'ordered'.*strictly increasing/],
    [{ name: 'positive_ordered' }, [[-1, 2]], /'positive_ordered'.*> 0/],
    [{ name: 'cholesky_corr' }, [[1, 0], [0.5, 0.5]], /'cholesky_corr'.*norm/],
    [{ name: 'cholesky_corr' }, [[1, 0.1], [0, 1]], /'cholesky_corr'.*lower-triangular/],
    [{ name: 'cholesky_cov' }, [[1, 0], [0.5, -1]], /'cholesky_cov'.*diagonal/],
    [{ name: 'cov_matrix' }, [[1, 0.5], [0.4, 1]], /'cov_matrix'.*symmetric/],
    [{ name: 'cov_matrix' }, [[1, 2], [2, 1]], /'cov_matrix'.*positive definite/],
    [{ name: 'corr_matrix' }, [[1, 0.5], [0.5, 2]], /'corr_matrix'.*unit diagonal/],
    [{ name: 'corr_matrix' }, [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]], /'corr_matrix'.*positive definite/],
  ] as [Constraint, unknown, RegExp][])('inverse rejects %j value %j', (c, value, re) => {
    const x = tf.tensor(value as number[]);
    expect(() => getTransform(c).inverse(x)).toThrow(re);
    x.dispose();
  });

  it('accepts a simplex within the tolerance and rejects one just outside', () => {
    const ok = tf.tensor1d([0.5, 0.5 + 0.5 * SUPPORT_TOL]);
    const bad = tf.tensor1d([0.5, 0.5 + 2 * SUPPORT_TOL]);
    const t = getTransform({ name: 'simplex' });
    t.inverse(ok).dispose();
    expect(() => t.inverse(bad)).toThrow(/simplex/);
    tf.dispose([ok, bad]);
  });

  it('rejects discrete constraints, missing bounds and malformed shapes', () => {
    for (const name of ['int', 'nonneg_int', 'binary', 'category'] as const) {
      expect(() => getTransform({ name })).toThrow(new RegExp(`'${name}' is discrete`));
    }
    expect(() => getTransform({ name: 'lower' })).toThrow(/lower bound/);
    expect(() => getTransform({ name: 'interval', lower: 2, upper: 1 })).toThrow(/lower < upper/);
    expect(() => getTransform({ name: 'cholesky_corr' }).forward(tf.zeros([4]))).toThrow(/K\(K-1\)\/2/);
    expect(() => getTransform({ name: 'cov_matrix' }).unconstrainedEventShape([2, 3])).toThrow(/square/);
    expect(() => getTransform({ name: 'simplex' }).unconstrainedEventShape([])).toThrow(/vector/);
    expect(getTransform({ name: 'simplex' }).unconstrainedEventShape([4])).toEqual([3]);
    expect(getTransform({ name: 'positive' }).unconstrainedEventShape([])).toEqual([]);
  });

  it('simplex and cholesky_corr handle K = 1 (nothing free)', () => {
    const u = tf.zeros([2, 0]);
    expect(getTransform({ name: 'simplex' }).forward(u).arraySync()).toEqual([[1], [1]]);
    expect(getTransform({ name: 'cholesky_corr' }).forward(u).arraySync()).toEqual([[[1]], [[1]]]);
    expect(getTransform({ name: 'corr_matrix' }).logDetJacobian(u).arraySync()).toEqual([0, 0]);
    u.dispose();
  });

  it('K = 1 batches also work on the wasm backend (whose reductions over an empty axis return garbage)', async () => {
    await useBackend('wasm');
    try {
      const u = tf.zeros([3, 0]);
      const outs = [
        getTransform({ name: 'simplex' }).forward(u),
        getTransform({ name: 'simplex' }).logDetJacobian(u),
        getTransform({ name: 'cholesky_corr' }).forward(u),
        getTransform({ name: 'corr_matrix' }).logDetJacobian(u),
      ];
      const [x, ld, L, ldc] = outs.map((o) => Array.from(o.dataSync()));
      tf.dispose([u, ...outs]);
      expect(x).toEqual([1, 1, 1]);
      expect(ld).toEqual([0, 0, 0]);
      expect(L).toEqual([1, 1, 1]);
      expect(ldc).toEqual([0, 0, 0]);
      const one = tf.tensor2d([[0.5], [-1], [2]]);
      const ldo = getTransform({ name: 'ordered' }).logDetJacobian(one);
      expect(Array.from(ldo.dataSync())).toEqual([0, 0, 0]);
      tf.dispose([one, ldo]);
    } finally {
      await useBackend('cpu');
    }
  });

  it('leaks no tensors', () => {
    const before = tf.memory().numTensors;
    for (const spec of SPECS) {
      const t = getTransform(spec.constraint);
      const K = 3;
      const u = tf.randomUniform([2, spec.m(K)], -1, 1, 'float32', 3);
      tf.dispose([t.forward(u), t.logDetJacobian(u)]);
      const x = t.forward(u);
      t.inverse(x).dispose();
      const g = tf.grad((v: Tensor) => tf.sum(t.logDetJacobian(v)))(u);
      tf.dispose([u, x, g]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
