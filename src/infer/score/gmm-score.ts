/**
 * Closed forms for a Gaussian mixture noised by a linear SDE: the test oracle of the score
 * family. If x_0 ~ Σ_k w_k N(μ_k, Σ_k) and x_t | x_0 ~ N(a_t x_0, s_t² I), then
 *
 *   x_t ~ Σ_k w_k N(a_t μ_k, C_k),   C_k = a_t² Σ_k + s_t² I,
 *
 * whose log density, score and divergence of the score are available exactly: with
 * r_k(x) the responsibilities and g_k = −C_k⁻¹(x − a_t μ_k),
 *
 *   ∇log p = Σ_k r_k g_k,   ∇·∇log p = Σ_k r_k (‖g_k‖² − tr C_k⁻¹) − ‖∇log p‖²
 *
 * (the Hessian of a log-sum-exp: Σ r_k (g_k g_kᵀ − C_k⁻¹) − s sᵀ). Float64 throughout.
 */
import { choleskyF64 } from '../../tensor/linalg';
import type { Key } from '../../tensor/random';
import type { Sde, ScoreField } from './sde';

/** A Gaussian mixture: weights (summing to 1), means (K×d) and covariances (K×d×d). */
export interface Gmm {
  weights: number[];
  means: number[][];
  covs: number[][][];
}

/**
 * Checks a mixture: K >= 1 components, weights positive summing to 1 (within 1e-9),
 * means of one dimension, symmetric positive definite covariances. Returns d.
 * Throws a RangeError naming `where` otherwise.
 */
export function checkGmm(g: Gmm, where: string): number {
  const K = g.weights?.length ?? 0;
  if (K < 1) throw new RangeError(`${where}: the mixture has no components`);
  if (g.means?.length !== K || g.covs?.length !== K) {
    throw new RangeError(`${where}: ${K} weights but ${g.means?.length} means and ${g.covs?.length} covariances`);
  }
  const d = g.means[0].length;
  if (d < 1) throw new RangeError(`${where}: means must have at least one coordinate`);
  let sum = 0;
  for (let k = 0; k < K; k++) {
    const w = g.weights[k];
    if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`${where}: weights[${k}] = ${w} must be positive and finite`);
    sum += w;
    if (g.means[k].length !== d) throw new RangeError(`${where}: means[${k}] has length ${g.means[k].length}, expected ${d}`);
    if (g.means[k].some((v) => !Number.isFinite(v))) throw new RangeError(`${where}: means[${k}] has a non-finite value`);
    const S = g.covs[k];
    if (S.length !== d || S.some((r) => r.length !== d)) throw new RangeError(`${where}: covs[${k}] must be ${d}×${d}`);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        if (!Number.isFinite(S[i][j])) throw new RangeError(`${where}: covs[${k}] has a non-finite value`);
        if (Math.abs(S[i][j] - S[j][i]) > 1e-9 * (Math.abs(S[i][j]) + Math.abs(S[j][i]) + 1e-300)) {
          throw new RangeError(`${where}: covs[${k}] is not symmetric`);
        }
      }
    }
    try {
      choleskyF64(S);
    } catch {
      throw new RangeError(`${where}: covs[${k}] is not positive definite`);
    }
  }
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`${where}: weights sum to ${sum}, not 1`);
  return d;
}

/** Returns the mixture of x_t = a·x_0 + s·z: components N(a μ_k, a² Σ_k + s² I). */
export function noisedGmm(g: Gmm, a: number, s: number): Gmm {
  return {
    weights: g.weights.slice(),
    means: g.means.map((m) => m.map((v) => a * v)),
    covs: g.covs.map((S) => S.map((r, i) => r.map((v, j) => a * a * v + (i === j ? s * s : 0)))),
  };
}

/** Returns the noised mixture at time t of the SDE (a = sde.meanScale(t), s = sde.std(t)). */
export function noisedGmmAt(g: Gmm, sde: Sde, t: number): Gmm {
  return noisedGmm(g, sde.meanScale(t), sde.std(t));
}

/**
 * Returns the law of (x − shift) / scale for x from the mixture (scale per coordinate):
 * means (μ − shift)/scale, covariances D⁻¹ΣD⁻¹ with D = diag(scale).
 */
export function affineGmm(g: Gmm, shift: ArrayLike<number>, scale: ArrayLike<number>): Gmm {
  return {
    weights: g.weights.slice(),
    means: g.means.map((m) => m.map((v, i) => (v - shift[i]) / scale[i])),
    covs: g.covs.map((S) => S.map((r, i) => r.map((v, j) => v / (scale[i] * scale[j])))),
  };
}

/** Per-component precomputation: precision matrix, its trace and log-normaliser. */
interface Prepared {
  K: number;
  d: number;
  logW: Float64Array;
  means: Float64Array; // K×d
  prec: Float64Array; // K×d×d
  trPrec: Float64Array;
  logNorm: Float64Array; // −½(d log 2π + log det C)
  L: number[][][];
}

function prepare(g: Gmm): Prepared {
  const K = g.weights.length;
  const d = g.means[0].length;
  const logW = new Float64Array(K);
  const means = new Float64Array(K * d);
  const prec = new Float64Array(K * d * d);
  const trPrec = new Float64Array(K);
  const logNorm = new Float64Array(K);
  const Ls: number[][][] = [];
  for (let k = 0; k < K; k++) {
    logW[k] = Math.log(g.weights[k]);
    for (let i = 0; i < d; i++) means[k * d + i] = g.means[k][i];
    const L = choleskyF64(g.covs[k]);
    Ls.push(L);
    let logDet = 0;
    for (let i = 0; i < d; i++) logDet += 2 * Math.log(L[i][i]);
    logNorm[k] = -0.5 * (d * Math.log(2 * Math.PI) + logDet);
    // Columns of C⁻¹ = L⁻ᵀL⁻¹: solve L y = e_j, then Lᵀ x = y.
    for (let j = 0; j < d; j++) {
      const y = new Float64Array(d);
      for (let i = 0; i < d; i++) {
        let s = i === j ? 1 : 0;
        for (let m = 0; m < i; m++) s -= L[i][m] * y[m];
        y[i] = s / L[i][i];
      }
      const x = new Float64Array(d);
      for (let i = d - 1; i >= 0; i--) {
        let s = y[i];
        for (let m = i + 1; m < d; m++) s -= L[m][i] * x[m];
        x[i] = s / L[i][i];
      }
      for (let i = 0; i < d; i++) prec[k * d * d + i * d + j] = x[i];
      trPrec[k] += x[j];
    }
  }
  return { K, d, logW, means, prec, trPrec, logNorm, L: Ls };
}

/** The full per-row evaluation: log density, score, and optionally the divergence. */
function evaluate(
  p: Prepared, x: Float64Array, n: number, wantDiv: boolean, probe?: Float64Array,
): { logp: Float64Array; score: Float64Array; div: Float64Array } {
  const { K, d } = p;
  const logp = new Float64Array(n);
  const score = new Float64Array(n * d);
  const div = new Float64Array(wantDiv ? n : 0);
  const lk = new Float64Array(K);
  const gk = new Float64Array(K * d);
  const diff = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < d; i++) diff[i] = x[r * d + i] - p.means[k * d + i];
      let q = 0;
      for (let i = 0; i < d; i++) {
        let u = 0;
        const row = k * d * d + i * d;
        for (let j = 0; j < d; j++) u += p.prec[row + j] * diff[j];
        gk[k * d + i] = -u;
        q += diff[i] * u;
      }
      lk[k] = p.logW[k] + p.logNorm[k] - 0.5 * q;
      if (lk[k] > mx) mx = lk[k];
    }
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(lk[k] - mx);
    const lse = mx + Math.log(z);
    logp[r] = lse;
    let acc = 0;
    let sv = 0;
    for (let k = 0; k < K; k++) {
      const w = Math.exp(lk[k] - lse);
      let gg = 0;
      let gv = 0;
      let vPv = 0;
      for (let i = 0; i < d; i++) {
        const gi = gk[k * d + i];
        score[r * d + i] += w * gi;
        if (wantDiv) {
          if (probe) {
            gv += gi * probe[r * d + i];
            const row = k * d * d + i * d;
            let u = 0;
            for (let j = 0; j < d; j++) u += p.prec[row + j] * probe[r * d + j];
            vPv += probe[r * d + i] * u;
          } else {
            gg += gi * gi;
          }
        }
      }
      if (wantDiv) acc += probe ? w * (gv * gv - vPv) : w * (gg - p.trPrec[k]);
    }
    if (wantDiv) {
      for (let i = 0; i < d; i++) {
        const si = score[r * d + i];
        sv += probe ? si * probe[r * d + i] : si * si;
      }
      div[r] = acc - (probe ? sv * sv : sv);
    }
  }
  return { logp, score, div };
}

function checkRows(x: Float64Array, n: number, d: number, where: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${where}: n must be a nonnegative integer, got ${n}`);
  if (x.length !== n * d) throw new RangeError(`${where}: x has ${x.length} values, expected n·d = ${n}·${d}`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new RangeError(`${where}: x[${i}] = ${x[i]} is not finite`);
}

/** Returns the mixture's log density at the n rows of x (flat n×d). */
export function gmmLogDensity(g: Gmm, x: Float64Array, n: number): Float64Array {
  const d = checkGmm(g, 'gmmLogDensity');
  checkRows(x, n, d, 'gmmLogDensity');
  return evaluate(prepare(g), x, n, false).logp;
}

/** Returns the mixture's score ∇_x log p at the n rows of x (flat n×d). */
export function gmmScore(g: Gmm, x: Float64Array, n: number): Float64Array {
  const d = checkGmm(g, 'gmmScore');
  checkRows(x, n, d, 'gmmScore');
  return evaluate(prepare(g), x, n, false).score;
}

/**
 * Returns the score and its divergence (the Laplacian of log p) at the rows of x; with a
 * probe (n×d) the divergence is replaced by the Hutchinson term vᵀ(∇²log p)v per row.
 */
export function gmmScoreAndDivergence(g: Gmm, x: Float64Array, n: number, probe?: Float64Array): { score: Float64Array; div: Float64Array } {
  const d = checkGmm(g, 'gmmScoreAndDivergence');
  checkRows(x, n, d, 'gmmScoreAndDivergence');
  if (probe && probe.length !== n * d) throw new RangeError(`gmmScoreAndDivergence: probe has ${probe.length} values, expected ${n * d}`);
  const { score, div } = evaluate(prepare(g), x, n, true, probe);
  return { score, div };
}

/**
 * Returns the exact score field of the mixture noised by the SDE: score(x, n, t) is
 * ∇ log p_t for x_t = a_t x_0 + s_t z, x_0 from the mixture. Use it to drive the samplers of
 * sde.ts with no learning error, or as the oracle for a trained score.
 *
 * @example
 * const field = gmmScoreField(gmm, vpSde());
 * const draws = sampleOde(field, vpSde(), 500, Key.seed(3));
 */
export function gmmScoreField(g: Gmm, sde: Sde): ScoreField {
  const d = checkGmm(g, 'gmmScoreField');
  // The noised mixture's precisions change with t; cache the last t (RK4 reuses midpoints).
  let lastT = NaN;
  let lastP: Prepared | undefined;
  const at = (t: number): Prepared => {
    if (t !== lastT || !lastP) {
      if (!(t > 0) || !(t <= sde.T)) throw new RangeError(`gmmScoreField: t must be in (0, ${sde.T}], got ${t}`);
      lastP = prepare(noisedGmmAt(g, sde, t));
      lastT = t;
    }
    return lastP;
  };
  return {
    dim: d,
    score: (x, n, t) => {
      checkRows(x, n, d, 'gmmScoreField.score');
      return evaluate(at(t), x, n, false).score;
    },
    scoreAndDivergence: (x, n, t, probe) => {
      checkRows(x, n, d, 'gmmScoreField.scoreAndDivergence');
      const { score, div } = evaluate(at(t), x, n, true, probe);
      return { score, div };
    },
  };
}

/** Returns n draws (flat n×d) from the mixture and their component labels. */
export function sampleGmm(g: Gmm, n: number, key: Key): { x: Float64Array; labels: Int32Array } {
  const d = checkGmm(g, 'sampleGmm');
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`sampleGmm: n must be a nonnegative integer, got ${n}`);
  const p = prepare(g);
  const rng = key.rng();
  const x = new Float64Array(n * d);
  const labels = new Int32Array(n);
  const z = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const k = rng.categorical(g.weights);
    labels[r] = k;
    for (let i = 0; i < d; i++) z[i] = rng.normal();
    const L = p.L[k];
    for (let i = 0; i < d; i++) {
      let v = g.means[k][i];
      for (let j = 0; j <= i; j++) v += L[i][j] * z[j];
      x[r * d + i] = v;
    }
  }
  return { x, labels };
}

/** Returns, per row of x, the component with the largest responsibility. */
export function gmmAssign(g: Gmm, x: Float64Array, n: number): Int32Array {
  const d = checkGmm(g, 'gmmAssign');
  checkRows(x, n, d, 'gmmAssign');
  const p = prepare(g);
  const out = new Int32Array(n);
  const diff = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    let best = -Infinity;
    for (let k = 0; k < p.K; k++) {
      for (let i = 0; i < d; i++) diff[i] = x[r * d + i] - p.means[k * d + i];
      let q = 0;
      for (let i = 0; i < d; i++) {
        let u = 0;
        for (let j = 0; j < d; j++) u += p.prec[k * d * d + i * d + j] * diff[j];
        q += diff[i] * u;
      }
      const l = p.logW[k] + p.logNorm[k] - 0.5 * q;
      if (l > best) {
        best = l;
        out[r] = k;
      }
    }
  }
  return out;
}
