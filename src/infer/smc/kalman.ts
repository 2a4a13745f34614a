/**
 * Exact filters that the particle filters are checked against, and that are useful on their
 * own: the Kalman filter and Rauch–Tung–Striebel smoother of the 1-D linear-Gaussian model,
 * the forward algorithm of a discrete HMM, and the exact evidence of a small switching
 * linear-Gaussian model by enumerating every regime path.
 */
import type { HmmTables, LinearGaussianParams, SwitchingLgssmParams } from './ssm';
import { hmmSsm, linearGaussianSsm, switchingLgssm } from './ssm';

const LOG_2PI = Math.log(2 * Math.PI);

/** Kalman filter and RTS smoother output. */
export interface KalmanResult {
  /** log p(y_{0:T−1}). */
  logZ: number;
  /** Filtering means and variances of x_t given y_{0:t}. */
  means: Float64Array;
  variances: Float64Array;
  /** Smoothing means and variances of x_t given y_{0:T−1}. */
  smoothedMeans: Float64Array;
  smoothedVariances: Float64Array;
}

/**
 * Returns the Kalman filter (log evidence, filtering moments) and the Rauch–Tung–Striebel
 * smoother of x_0 ~ N(m0, p0), x_t = a x_{t−1} + q ε_t, y_t = c x_t + r η_t.
 */
export function kalmanFilter(p: LinearGaussianParams, y: ArrayLike<number>): KalmanResult {
  linearGaussianSsm(p, y); // validates the parameters and the series
  const { a, q, c, r, m0, p0 } = p;
  const T = y.length;
  const q2 = q * q;
  const r2 = r * r;
  const means = new Float64Array(T);
  const variances = new Float64Array(T);
  const predM = new Float64Array(T);
  const predP = new Float64Array(T);
  let logZ = 0;
  let m = m0;
  let P = p0;
  for (let t = 0; t < T; t++) {
    if (t > 0) {
      m = a * m;
      P = a * a * P + q2;
    }
    predM[t] = m;
    predP[t] = P;
    const S = c * c * P + r2;
    const e = y[t] - c * m;
    logZ += -0.5 * (LOG_2PI + Math.log(S)) - (0.5 * e * e) / S;
    const g = (P * c) / S;
    m += g * e;
    P *= 1 - g * c;
    means[t] = m;
    variances[t] = P;
  }
  const sm = Float64Array.from(means);
  const sv = Float64Array.from(variances);
  for (let t = T - 2; t >= 0; t--) {
    const J = (variances[t] * a) / predP[t + 1];
    sm[t] = means[t] + J * (sm[t + 1] - predM[t + 1]);
    sv[t] = variances[t] + J * J * (sv[t + 1] - predP[t + 1]);
  }
  return { logZ, means, variances, smoothedMeans: sm, smoothedVariances: sv };
}

/** Forward-algorithm output. */
export interface ForwardResult {
  /** log p(y_{0:T−1}) (with the tables' logConst). */
  logZ: number;
  /** Filtering probabilities P(z_t = k | y_{0:t}) at [t·K + k]. */
  filtered: Float64Array;
}

/** Returns the exact log evidence and filtering probabilities of an HMM by the forward algorithm (log-space, scaled). */
export function hmmForward(h: HmmTables): ForwardResult {
  hmmSsm(h); // validates the tables
  const { K, T, logInit, logTrans, logEmit } = h;
  const homog = logTrans.length === K * K;
  const filtered = new Float64Array(T * K);
  const alpha = new Float64Array(K);
  const next = new Float64Array(K);
  let logZ = h.logConst ?? 0;
  for (let t = 0; t < T; t++) {
    let m = -Infinity;
    for (let j = 0; j < K; j++) {
      let v: number;
      if (t === 0) v = logInit[j];
      else {
        // log Σ_i alpha_i A_ij with alpha normalised
        const o = homog ? 0 : t * K * K;
        let mm = -Infinity;
        for (let i = 0; i < K; i++) mm = Math.max(mm, alpha[i] + logTrans[o + i * K + j]);
        let s = 0;
        if (mm > -Infinity) for (let i = 0; i < K; i++) s += Math.exp(alpha[i] + logTrans[o + i * K + j] - mm);
        v = mm > -Infinity ? mm + Math.log(s) : -Infinity;
      }
      next[j] = v + logEmit[t * K + j];
      if (next[j] > m) m = next[j];
    }
    if (m === -Infinity) return { logZ: -Infinity, filtered };
    let s = 0;
    for (let j = 0; j < K; j++) s += Math.exp(next[j] - m);
    const lz = m + Math.log(s);
    logZ += lz;
    for (let j = 0; j < K; j++) {
      alpha[j] = next[j] - lz;
      filtered[t * K + j] = Math.exp(alpha[j]);
    }
  }
  return { logZ, filtered };
}

/**
 * Returns log p(y_{0:T−1}) of the switching linear-Gaussian model exactly, as the log of the
 * sum over all K^T regime paths of the path's prior probability times its Kalman evidence
 * (depth-first, sharing prefixes). Refuses K^T above 2^22.
 */
export function switchingLgssmLogEvidence(p: SwitchingLgssmParams, y: ArrayLike<number>): number {
  switchingLgssm(p, y); // validates
  const K = p.pi.length;
  const T = y.length;
  if (T * Math.log(K) > 22 * Math.LN2) throw new RangeError(`switchingLgssmLogEvidence: K^T = ${K}^${T} paths is too many to enumerate (at most 2^22)`);
  const c = p.c ?? 1;
  const m0 = p.m0 ?? 0;
  const p0 = p.p0 ?? 25;
  const r2 = p.r * p.r;
  const terms: number[] = [];
  const rec = (t: number, s: number, m: number, P: number, acc: number) => {
    if (t > 0) {
      m = p.a[s] * m;
      P = p.a[s] * p.a[s] * P + p.q[s] * p.q[s];
    }
    const S = c * c * P + r2;
    const e = y[t] - c * m;
    acc += -0.5 * (LOG_2PI + Math.log(S)) - (0.5 * e * e) / S;
    const g = (P * c) / S;
    const m1 = m + g * e;
    const P1 = (1 - g * c) * P;
    if (t === T - 1) {
      terms.push(acc);
      return;
    }
    for (let k = 0; k < K; k++) rec(t + 1, k, m1, P1, acc + Math.log(p.A[s][k]));
  };
  for (let k = 0; k < K; k++) rec(0, k, m0, p0, Math.log(p.pi[k]));
  let mx = -Infinity;
  for (const v of terms) if (v > mx) mx = v;
  let s = 0;
  for (const v of terms) s += Math.exp(v - mx);
  return mx + Math.log(s);
}
