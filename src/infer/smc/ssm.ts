/**
 * State-space model descriptions for the particle filters of filter.ts, and adapters that
 * build them from compiled mixppl models.
 *
 * A description works on all particles at once: the states of n particles are one flat
 * Float64Array of n × stateDim numbers (row i is particle i), and every method makes one
 * pass over those rows. The bootstrap proposal needs `sampleInitial`, `sampleTransition`
 * and `logObservation`; backward smoothing and ancestor sampling also need
 * `logTransition`. A description may add a locally optimal proposal (`optimal`), which
 * draws x_t from p(x_t | x_{t−1}, y_t) and weights by p(y_t | x_{t−1}), enumerating discrete
 * states exactly and doing linear-Gaussian parts in closed form (Rao–Blackwellised).
 *
 * Time steps are 0-based here: t = 0 is the first observation.
 */
import type { Rng } from '../../tensor/random';
import { tf } from '../../tensor';
import type { BoundModel, ParamValues } from '../../model/bound-model';
import { evalFactor, evalLets, evalWith, latentDim, plateDim } from '../../model/evaluate';
import { permuteTo, sumDims, type BVal } from '../../model/values';
import { walkExpr, walkFactor } from '../../ir/walk';
import type { Factor, IRDist } from '../../ir/types';

const LOG_2PI = Math.log(2 * Math.PI);

/** A proposal that moves every particle and returns its log incremental weight. */
export interface Proposal {
  /**
   * True when a particle is not a Markov state of the model but a sufficient statistic of a
   * path (a Rao–Blackwellised particle: regime plus Kalman mean and variance); backward
   * smoothing and ancestor sampling then refuse it.
   */
  readonly marginalised: boolean;
  /** Draws the first states of n particles into x and writes log incremental weights into logw. */
  init(x: Float64Array, n: number, rng: Rng, logw: Float64Array): void;
  /** Draws x_t from the rows of prev (already resampled) into next; writes log incremental weights. */
  step(t: number, prev: Float64Array, next: Float64Array, n: number, rng: Rng, logw: Float64Array): void;
}

/** A state-space model x_0 ~ μ, x_t ~ f_t(· | x_{t−1}), y_t ~ g_t(· | x_t), t = 0 … T−1, for the particle filters. */
export interface StateSpaceModel {
  /** What the model is, for messages. */
  readonly name: string;
  /** Number of time steps (observations). */
  readonly T: number;
  /** Numbers per particle. */
  readonly stateDim: number;
  /** A name per state coordinate (e.g. ['s', 'x', 'P']). */
  readonly stateNames: readonly string[];
  /** Draws x_0 for n particles into x (n × stateDim). */
  sampleInitial(x: Float64Array, n: number, rng: Rng): void;
  /** Draws x_t ~ f_t(· | x_{t−1}) for each row of prev into next (t ≥ 1). */
  sampleTransition(t: number, prev: Float64Array, next: Float64Array, n: number, rng: Rng): void;
  /** Writes log g_t(y_t | x_t) of each of the n rows of x into out. */
  logObservation(t: number, x: Float64Array, n: number, out: Float64Array): void;
  /** Writes log f_t(next[row] | prev[i]) for every row i of prev into out (t ≥ 1); for backward smoothing and ancestor sampling. */
  logTransition?(t: number, prev: Float64Array, n: number, next: Float64Array, row: number, out: Float64Array): void;
  /** The locally optimal proposal, where the model gives the needed conditionals. */
  readonly optimal?: Proposal;
  /** A constant the filters add to log Ẑ: the model's terms that involve no state (an HMM's `logConst`). */
  readonly logConst?: number;
}

function checkFinite(where: string, v: number): void {
  if (!Number.isFinite(v)) throw new RangeError(`${where} must be a finite number, got ${v}`);
}

function checkPositive(where: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${where} must be a positive finite number, got ${v}`);
}

function checkSeries(where: string, y: ArrayLike<number>): Float64Array {
  if (!y || typeof y.length !== 'number' || y.length < 1) throw new RangeError(`${where}: y must be a nonempty array of numbers`);
  const out = Float64Array.from(y);
  for (let t = 0; t < out.length; t++) if (!Number.isFinite(out[t])) throw new RangeError(`${where}: y[${t}] is ${out[t]}, not a finite number`);
  return out;
}

/** Checks a probability vector (nonnegative, sums to 1 within 1e-6) and returns its logs. */
function logProbVector(where: string, p: ArrayLike<number>, K: number): Float64Array {
  if (!p || p.length !== K) throw new RangeError(`${where} must have ${K} entries, got ${p?.length}`);
  let s = 0;
  for (let k = 0; k < K; k++) {
    if (!(p[k] >= 0) || !Number.isFinite(p[k])) throw new RangeError(`${where}[${k}] is ${p[k]}, not a probability`);
    s += p[k];
  }
  if (Math.abs(s - 1) > 1e-6) throw new RangeError(`${where} sums to ${s}, not 1`);
  const out = new Float64Array(K);
  for (let k = 0; k < K; k++) out[k] = Math.log(p[k]);
  return out;
}

/** Checks a K × K row-stochastic matrix and returns its logs, row-major. */
function logStochastic(where: string, A: ArrayLike<ArrayLike<number>>, K: number): Float64Array {
  if (!A || A.length !== K) throw new RangeError(`${where} must have ${K} rows, got ${A?.length}`);
  const out = new Float64Array(K * K);
  for (let i = 0; i < K; i++) out.set(logProbVector(`${where}[${i}]`, A[i], K), i * K);
  return out;
}

/** Draws an index from probabilities exp(logp) (normalised) with one uniform. */
function drawLog(logp: Float64Array, off: number, K: number, u: number): number {
  let c = 0;
  for (let k = 0; k < K - 1; k++) {
    c += Math.exp(logp[off + k]);
    if (u < c) return k;
  }
  return K - 1;
}

// ---------------------------------------------------------------------------------------------
// Linear-Gaussian state-space model (1-D)

/** Parameters of the 1-D linear-Gaussian model x_0 ~ N(m0, p0), x_t = a x_{t−1} + q ε_t, y_t = c x_t + r η_t. */
export interface LinearGaussianParams {
  a: number;
  /** Process noise sd. */
  q: number;
  c: number;
  /** Observation noise sd. */
  r: number;
  /** Mean of x_0. */
  m0: number;
  /** Variance of x_0. */
  p0: number;
}

/**
 * Returns the 1-D linear-Gaussian state-space model with observations y, with the bootstrap
 * proposal and the locally optimal one (x_t | x_{t−1}, y_t Gaussian in closed form, weight
 * N(y_t; c a x_{t−1}, c² q² + r²)).
 */
export function linearGaussianSsm(p: LinearGaussianParams, y: ArrayLike<number>): StateSpaceModel {
  for (const k of ['a', 'c', 'm0'] as const) checkFinite(`linearGaussianSsm: ${k}`, p[k]);
  for (const k of ['q', 'r', 'p0'] as const) checkPositive(`linearGaussianSsm: ${k}`, p[k]);
  const ys = checkSeries('linearGaussianSsm', y);
  const { a, q, c, r, m0, p0 } = p;
  const q2 = q * q;
  const r2 = r * r;
  const sd0 = Math.sqrt(p0);
  // Locally optimal: x_t | x_{t-1}, y_t ~ N(mean, v) with v = (1/q² + c²/r²)^-1.
  const v = 1 / (1 / q2 + (c * c) / r2);
  const sv = Math.sqrt(v);
  const s2 = c * c * q2 + r2;
  const v0 = 1 / (1 / p0 + (c * c) / r2);
  const s20 = c * c * p0 + r2;
  return {
    name: 'linear-Gaussian state-space model',
    T: ys.length,
    stateDim: 1,
    stateNames: ['x'],
    sampleInitial(x, n, rng) {
      for (let i = 0; i < n; i++) x[i] = m0 + sd0 * rng.normal();
    },
    sampleTransition(_t, prev, next, n, rng) {
      for (let i = 0; i < n; i++) next[i] = a * prev[i] + q * rng.normal();
    },
    logObservation(t, x, n, out) {
      const yt = ys[t];
      const k = -0.5 * (LOG_2PI + Math.log(r2));
      for (let i = 0; i < n; i++) {
        const e = yt - c * x[i];
        out[i] = k - (0.5 * e * e) / r2;
      }
    },
    logTransition(_t, prev, n, next, row, out) {
      const xn = next[row];
      const k = -0.5 * (LOG_2PI + Math.log(q2));
      for (let i = 0; i < n; i++) {
        const e = xn - a * prev[i];
        out[i] = k - (0.5 * e * e) / q2;
      }
    },
    optimal: {
      marginalised: false,
      init(x, n, rng, logw) {
        const yt = ys[0];
        const mean = v0 * (m0 / p0 + (c * yt) / r2);
        const sd = Math.sqrt(v0);
        const e = yt - c * m0;
        const lw = -0.5 * (LOG_2PI + Math.log(s20)) - (0.5 * e * e) / s20;
        for (let i = 0; i < n; i++) {
          x[i] = mean + sd * rng.normal();
          logw[i] = lw;
        }
      },
      step(t, prev, next, n, rng, logw) {
        const yt = ys[t];
        const k = -0.5 * (LOG_2PI + Math.log(s2));
        for (let i = 0; i < n; i++) {
          const mp = a * prev[i];
          const e = yt - c * mp;
          logw[i] = k - (0.5 * e * e) / s2;
          next[i] = v * (mp / q2 + (c * yt) / r2) + sv * rng.normal();
        }
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Discrete hidden Markov model

/**
 * A hidden Markov model with K states as log tables: the state at step t is one of 0 … K−1,
 * observations enter only through their log density per state.
 */
export interface HmmTables {
  K: number;
  T: number;
  /** log P(z_0 = k), length K. */
  logInit: Float64Array;
  /** log P(z_t = j | z_{t−1} = i) at [i·K + j] (K × K, time-homogeneous) or at [(t·K + i)·K + j] (T × K × K; row t = 0 unused). */
  logTrans: Float64Array;
  /** log p(y_t | z_t = k) at [t·K + k] (T × K). */
  logEmit: Float64Array;
  /** A constant added to every log evidence (terms of the model that do not involve the chain). */
  logConst?: number;
}

/**
 * Returns HMM log tables from probabilities: `init` (K), `trans` (K × K rows summing to 1)
 * and `logEmit` (T × K: log p(y_t | z_t = k)). Throws a RangeError on a bad shape or value.
 */
export function hmmTables(init: ArrayLike<number>, trans: ArrayLike<ArrayLike<number>>, logEmit: ArrayLike<ArrayLike<number>>): HmmTables {
  const K = init?.length ?? 0;
  if (K < 1) throw new RangeError('hmmTables: init must be a nonempty probability vector');
  const li = logProbVector('hmmTables: init', init, K);
  const lt = logStochastic('hmmTables: trans', trans, K);
  if (!logEmit || logEmit.length < 1) throw new RangeError('hmmTables: logEmit must have one row per time step');
  const T = logEmit.length;
  const le = new Float64Array(T * K);
  for (let t = 0; t < T; t++) {
    const row = logEmit[t];
    if (!row || row.length !== K) throw new RangeError(`hmmTables: logEmit[${t}] must have ${K} entries, got ${row?.length}`);
    for (let k = 0; k < K; k++) {
      const v = row[k];
      if (Number.isNaN(v) || v === Infinity) throw new RangeError(`hmmTables: logEmit[${t}][${k}] is ${v}`);
      le[t * K + k] = v;
    }
  }
  return { K, T, logInit: li, logTrans: lt, logEmit: le };
}

function checkTables(h: HmmTables): void {
  const { K, T } = h;
  if (!Number.isInteger(K) || K < 1 || !Number.isInteger(T) || T < 1) throw new RangeError(`hmmSsm: K and T must be positive integers, got K = ${K}, T = ${T}`);
  if (h.logInit.length !== K) throw new RangeError(`hmmSsm: logInit has length ${h.logInit.length}, expected K = ${K}`);
  if (h.logTrans.length !== K * K && h.logTrans.length !== T * K * K) throw new RangeError(`hmmSsm: logTrans has length ${h.logTrans.length}, expected K² = ${K * K} or T·K² = ${T * K * K}`);
  if (h.logEmit.length !== T * K) throw new RangeError(`hmmSsm: logEmit has length ${h.logEmit.length}, expected T·K = ${T * K}`);
  for (const [nm, a] of [['logInit', h.logInit], ['logTrans', h.logTrans], ['logEmit', h.logEmit]] as const) {
    for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]) || a[i] === Infinity) throw new RangeError(`hmmSsm: ${nm}[${i}] is ${a[i]}`);
  }
}

/**
 * Returns the state-space model of an HMM: one number per particle (the state index 0 … K−1).
 * Bootstrap: z_t drawn from the transition row, weight p(y_t | z_t). Optimal: z_t drawn from
 * p(z_t | z_{t−1}, y_t) ∝ A[z_{t−1}, z_t] p(y_t | z_t) by enumeration, weight Σ_j A[z_{t−1}, j] p(y_t | j).
 */
export function hmmSsm(h: HmmTables): StateSpaceModel {
  checkTables(h);
  const { K, T, logInit, logEmit } = h;
  const homog = h.logTrans.length === K * K;
  const transOff = (t: number) => (homog ? 0 : t * K * K);
  // Cumulative transition probabilities per row for O(K) draws.
  const lt = h.logTrans;
  const cdf = new Float64Array(lt.length);
  for (let r = 0; r < lt.length / K; r++) {
    let c = 0;
    for (let j = 0; j < K; j++) {
      c += Math.exp(lt[r * K + j]);
      cdf[r * K + j] = c;
    }
  }
  const cInit = new Float64Array(K);
  {
    let c = 0;
    for (let k = 0; k < K; k++) cInit[k] = c += Math.exp(logInit[k]);
  }
  const draw = (c: Float64Array, off: number, u: number) => {
    const tot = c[off + K - 1];
    const v = u * tot;
    let j = 0;
    while (j < K - 1 && v >= c[off + j]) j++;
    return j;
  };
  const lp = new Float64Array(K);
  return {
    name: `hidden Markov model (K = ${K})`,
    T,
    stateDim: 1,
    stateNames: ['z'],
    logConst: h.logConst,
    sampleInitial(x, n, rng) {
      for (let i = 0; i < n; i++) x[i] = draw(cInit, 0, rng.uniform());
    },
    sampleTransition(t, prev, next, n, rng) {
      const o = transOff(t);
      for (let i = 0; i < n; i++) next[i] = draw(cdf, o + prev[i] * K, rng.uniform());
    },
    logObservation(t, x, n, out) {
      const o = t * K;
      for (let i = 0; i < n; i++) out[i] = logEmit[o + x[i]];
    },
    logTransition(t, prev, n, next, row, out) {
      const o = transOff(t);
      const j = next[row];
      for (let i = 0; i < n; i++) out[i] = lt[o + prev[i] * K + j];
    },
    optimal: {
      marginalised: false,
      init(x, n, rng, logw) {
        let m = -Infinity;
        for (let k = 0; k < K; k++) {
          lp[k] = logInit[k] + logEmit[k];
          if (lp[k] > m) m = lp[k];
        }
        let s = 0;
        for (let k = 0; k < K; k++) s += Math.exp(lp[k] - m);
        const lz = m + Math.log(s);
        for (let k = 0; k < K; k++) lp[k] -= lz;
        for (let i = 0; i < n; i++) {
          x[i] = drawLog(lp, 0, K, rng.uniform());
          logw[i] = lz;
        }
      },
      step(t, prev, next, n, rng, logw) {
        // Per previous state: the normalised conditional and its normaliser (K × K work per step).
        const o = transOff(t);
        const cond = new Float64Array(K * K);
        const lz = new Float64Array(K);
        for (let i = 0; i < K; i++) {
          let m = -Infinity;
          for (let j = 0; j < K; j++) {
            const v = lt[o + i * K + j] + logEmit[t * K + j];
            cond[i * K + j] = v;
            if (v > m) m = v;
          }
          let s = 0;
          for (let j = 0; j < K; j++) s += Math.exp(cond[i * K + j] - m);
          lz[i] = m === -Infinity ? -Infinity : m + Math.log(s);
          for (let j = 0; j < K; j++) cond[i * K + j] -= lz[i];
        }
        for (let i = 0; i < n; i++) {
          const p = prev[i];
          logw[i] = lz[p];
          next[i] = lz[p] === -Infinity ? p : drawLog(cond, p * K, K, rng.uniform());
        }
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Switching linear-Gaussian state-space model (1-D continuous state), as stdlib/switching_lgssm.mix

/**
 * Parameters of the switching linear-Gaussian model of stdlib/switching_lgssm.mix:
 * s_0 ~ pi, s_t ~ A[s_{t−1}], x_0 ~ N(m0, p0), x_t ~ N(a[s_t] x_{t−1}, q[s_t]²), y_t ~ N(c x_t, r²).
 */
export interface SwitchingLgssmParams {
  pi: ArrayLike<number>;
  A: ArrayLike<ArrayLike<number>>;
  a: ArrayLike<number>;
  q: ArrayLike<number>;
  r: number;
  /** Observation coefficient (default 1). */
  c?: number;
  /** Mean of x_0 (default 0). */
  m0?: number;
  /** Variance of x_0 (default 25, as the stdlib model's normal(0, 5)). */
  p0?: number;
}

/**
 * Returns the switching linear-Gaussian model as a state-space model with three numbers per
 * particle: regime s (0-based), x, and P. Bootstrap particles are points (P = 0, x the state).
 * The optimal proposal is the Rao–Blackwellised filter: each particle carries the regime and
 * the Kalman mean x = E[x_t | s_{0:t}, y_{0:t}] and variance P; the next regime is drawn from
 * p(s_t | s_{t−1}, Kalman statistics, y_t) by enumerating the K regimes, and the weight is
 * Σ_k A[s_{t−1}, k] N(y_t; c a_k x, c²(a_k² P + q_k²) + r²). In both cases the weighted mean
 * of the x coordinate is the filtering mean E[x_t | y_{0:t}].
 */
export function switchingLgssm(p: SwitchingLgssmParams, y: ArrayLike<number>): StateSpaceModel {
  const K = p.pi?.length ?? 0;
  if (K < 1) throw new RangeError('switchingLgssm: pi must be a nonempty probability vector');
  const logPi = logProbVector('switchingLgssm: pi', p.pi, K);
  const logA = logStochastic('switchingLgssm: A', p.A, K);
  if (!p.a || p.a.length !== K) throw new RangeError(`switchingLgssm: a must have ${K} entries`);
  if (!p.q || p.q.length !== K) throw new RangeError(`switchingLgssm: q must have ${K} entries`);
  const a = Float64Array.from(p.a);
  const q = Float64Array.from(p.q);
  for (let k = 0; k < K; k++) {
    checkFinite(`switchingLgssm: a[${k}]`, a[k]);
    checkPositive(`switchingLgssm: q[${k}]`, q[k]);
  }
  checkPositive('switchingLgssm: r', p.r);
  const c = p.c ?? 1;
  const m0 = p.m0 ?? 0;
  const p0 = p.p0 ?? 25;
  checkFinite('switchingLgssm: c', c);
  checkFinite('switchingLgssm: m0', m0);
  checkPositive('switchingLgssm: p0', p0);
  const ys = checkSeries('switchingLgssm', y);
  const r2 = p.r * p.r;
  const q2 = q.map((v) => v * v);
  const cPi = new Float64Array(K);
  const cA = new Float64Array(K * K);
  {
    let s = 0;
    for (let k = 0; k < K; k++) cPi[k] = s += Math.exp(logPi[k]);
    for (let i = 0; i < K; i++) {
      s = 0;
      for (let j = 0; j < K; j++) cA[i * K + j] = s += Math.exp(logA[i * K + j]);
    }
  }
  const draw = (cd: Float64Array, off: number, u: number) => {
    const v = u * cd[off + K - 1];
    let j = 0;
    while (j < K - 1 && v >= cd[off + j]) j++;
    return j;
  };
  const lr = -0.5 * (LOG_2PI + Math.log(r2));
  const l = new Float64Array(K);
  return {
    name: `switching linear-Gaussian model (K = ${K})`,
    T: ys.length,
    stateDim: 3,
    stateNames: ['s', 'x', 'P'],
    sampleInitial(x, n, rng) {
      const sd0 = Math.sqrt(p0);
      for (let i = 0; i < n; i++) {
        x[3 * i] = draw(cPi, 0, rng.uniform());
        x[3 * i + 1] = m0 + sd0 * rng.normal();
        x[3 * i + 2] = 0;
      }
    },
    sampleTransition(_t, prev, next, n, rng) {
      for (let i = 0; i < n; i++) {
        const s = draw(cA, prev[3 * i] * K, rng.uniform());
        next[3 * i] = s;
        next[3 * i + 1] = a[s] * prev[3 * i + 1] + q[s] * rng.normal();
        next[3 * i + 2] = 0;
      }
    },
    logObservation(t, x, n, out) {
      const yt = ys[t];
      for (let i = 0; i < n; i++) {
        const S = c * c * x[3 * i + 2] + r2;
        const e = yt - c * x[3 * i + 1];
        out[i] = S === r2 ? lr - (0.5 * e * e) / r2 : -0.5 * (LOG_2PI + Math.log(S)) - (0.5 * e * e) / S;
      }
    },
    logTransition(_t, prev, n, next, row, out) {
      const s = next[3 * row];
      const xn = next[3 * row + 1];
      const k = -0.5 * (LOG_2PI + Math.log(q2[s]));
      for (let i = 0; i < n; i++) {
        const e = xn - a[s] * prev[3 * i + 1];
        out[i] = logA[prev[3 * i] * K + s] + k - (0.5 * e * e) / q2[s];
      }
    },
    optimal: {
      marginalised: true,
      init(x, n, rng, logw) {
        // x_0 does not depend on s_0: s_0 | y_0 ~ pi, and one Kalman update for all particles.
        const yt = ys[0];
        const S = c * c * p0 + r2;
        const e = yt - c * m0;
        const gain = (p0 * c) / S;
        const m = m0 + gain * e;
        const P = (1 - gain * c) * p0;
        const lw = -0.5 * (LOG_2PI + Math.log(S)) - (0.5 * e * e) / S;
        for (let i = 0; i < n; i++) {
          x[3 * i] = draw(cPi, 0, rng.uniform());
          x[3 * i + 1] = m;
          x[3 * i + 2] = P;
          logw[i] = lw;
        }
      },
      step(t, prev, next, n, rng, logw) {
        const yt = ys[t];
        for (let i = 0; i < n; i++) {
          const s0 = prev[3 * i];
          const m = prev[3 * i + 1];
          const P = prev[3 * i + 2];
          let mx = -Infinity;
          for (let k = 0; k < K; k++) {
            const mp = a[k] * m;
            const S = c * c * (a[k] * a[k] * P + q2[k]) + r2;
            const e = yt - c * mp;
            l[k] = logA[s0 * K + k] - 0.5 * (LOG_2PI + Math.log(S)) - (0.5 * e * e) / S;
            if (l[k] > mx) mx = l[k];
          }
          let tot = 0;
          for (let k = 0; k < K; k++) tot += Math.exp(l[k] - mx);
          logw[i] = mx + Math.log(tot);
          const u = rng.uniform() * tot;
          let acc = 0;
          let k = 0;
          for (; k < K - 1; k++) {
            acc += Math.exp(l[k] - mx);
            if (u < acc) break;
          }
          const mp = a[k] * m;
          const Pp = a[k] * a[k] * P + q2[k];
          const S = c * c * Pp + r2;
          const gain = (Pp * c) / S;
          next[3 * i] = k;
          next[3 * i + 1] = mp + gain * (yt - c * mp);
          next[3 * i + 2] = (1 - gain * c) * Pp;
        }
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Adapter: compiled HMM models

/** Where a chain latent appears in a factor: at a plate's step, or at a fixed step. */
function chainPosition(f: Factor, lat: string): { plate: string; prev: boolean } | { at: number } | undefined {
  let pos: { plate: string; prev: boolean } | { at: number } | undefined;
  walkFactor(f, (e) => {
    if (e.op !== 'latent' || e.name !== lat) return;
    const ix = e.index[0];
    if ('at' in ix) pos = { at: ix.at };
    else if (!pos || 'at' in pos) pos = { plate: ix.plate, prev: ix.shift === -1 };
    else if (ix.shift === -1) pos = { plate: ix.plate, prev: true };
  });
  return pos;
}

/**
 * Builds the HMM log tables of a compiled model with one chain latent (`z[1] ~ categorical(pi)`,
 * `z[t] ~ categorical(A[z[t-1]])`, observations whose distribution depends on `z[t]`) at fixed
 * parameter values, by evaluating each factor through the model's evaluator: the `~` statements
 * on the chain give the initial and transition log probabilities (per step, so covariates in
 * them are kept), the other statements that mention `z[t]` give the emission log density per
 * state, and statements that mention no latent (other than priors, which are left out) are
 * added to `logConst`. The evidence of the tables is log p(data | params).
 *
 * Refuses, with a RangeError naming the reason: models with no chain, more than one chain, or
 * any other enumerated latent (mixture indices); statements on parameters that depend on the
 * chain (continuous states switched by the chain, as stdlib/switching_lgssm.mix: use
 * `switchingLgssm`); observation statements that use the previous state z[t-1]; chain
 * statements that are not normalised transition probabilities.
 */
export function hmmFromModel(bound: BoundModel, values: ParamValues): HmmTables {
  const rt = bound.rt;
  const chains = [...rt.latents.values()].filter((l) => l.node.chain);
  const plain = [...rt.latents.values()].filter((l) => !l.node.chain);
  if (chains.length !== 1) {
    throw new RangeError(`hmmFromModel: model '${rt.ir.name}' has ${chains.length} chain latents; the HMM adapter needs exactly one (a latent z with z[t] ~ categorical(A[z[t-1]]))`);
  }
  if (plain.length) {
    throw new RangeError(`hmmFromModel: model '${rt.ir.name}' has other enumerated latents (${plain.map((l) => l.node.name).join(', ')}); the HMM adapter handles one chain and nothing else discrete`);
  }
  const info = chains[0];
  const z = info.node.name;
  const K = info.K;
  const T = info.T!;
  const cur = latentDim(z);
  const prev = latentDim(z, true);
  const logTrans = new Float64Array(T * K * K);
  const logEmit = new Float64Array(T * K);
  let logConst = 0;
  tf.tidy(() => {
    const params = bound.paramTensors(values);
    const ctx = { rt, params, lets: evalLets(rt, params) };
    for (const f of rt.ir.factors) {
      if (f.kind === 'prior') {
        if (f.latents.includes(z)) {
          throw new RangeError(`hmmFromModel: the statement on parameter '${f.site}' depends on the chain '${z}' (continuous states driven by the regimes, as in a switching state-space model); the HMM adapter needs parameters fixed and the chain to enter only observations — describe such a model with switchingLgssm()`);
        }
        continue;
      }
      const v = evalFactor(f, ctx);
      const touches = v.dims.includes(cur) || v.dims.includes(prev);
      // Sum the plates other than the chain's own (and count plates the value does not vary over).
      const pos = touches ? chainPosition(f, z) : undefined;
      const keep = pos && 'plate' in pos ? [pos.plate] : [];
      let w: BVal = sumDims(v, f.plates.filter((p) => !keep.includes(p)).map(plateDim).filter((d) => v.dims.includes(d)));
      let mult = 1;
      for (const p of f.plates) if (!keep.includes(p) && !v.dims.includes(plateDim(p))) mult *= rt.plates.get(p)!.size;
      if (mult !== 1) w = { ...w, t: tf.mul(w.t, mult) };
      if (!touches) {
        if (w.dims.some((d) => d.startsWith('e:'))) throw new RangeError(`hmmFromModel: a statement mixes the chain '${z}' with another discrete latent`);
        logConst += (w.dims.length ? tf.sum(w.t) : w.t).dataSync()[0];
        continue;
      }
      if (!pos) throw new RangeError(`hmmFromModel: cannot find where the chain '${z}' enters a statement`);
      const other = w.dims.filter((d) => d !== cur && d !== prev && !('plate' in pos && d === plateDim(pos.plate)));
      if (other.length) throw new RangeError(`hmmFromModel: a statement combines the chain '${z}' with ${other.join(', ')}`);
      const isChain = f.kind === 'latent' && f.site === z;
      const [lo, size] = 'plate' in pos ? [rt.plates.get(pos.plate)!.lo, rt.plates.get(pos.plate)!.size] : [pos.at, 1];
      if (isChain) {
        const order = 'plate' in pos ? [plateDim(pos.plate), prev, cur] : [prev, cur];
        let pt = permuteTo(w, order);
        if (!('plate' in pos)) pt = tf.expandDims(pt, 0);
        const t = tf.broadcastTo(pt, [size, K, K]).dataSync();
        for (let s = 0; s < size; s++) {
          const step = lo - 1 + s;
          for (let i = 0; i < K * K; i++) logTrans[step * K * K + i] += t[s * K * K + i];
        }
      } else {
        if (w.dims.includes(prev)) {
          throw new RangeError(`hmmFromModel: an observation statement uses the previous state ${z}[t-1]; the HMM adapter needs emissions that depend on ${z}[t] only`);
        }
        const order = 'plate' in pos ? [plateDim(pos.plate), cur] : [cur];
        let pt = permuteTo(w, order);
        if (!('plate' in pos)) pt = tf.expandDims(pt, 0);
        const t = tf.broadcastTo(pt, [size, K]).dataSync();
        for (let s = 0; s < size; s++) {
          const step = lo - 1 + s;
          for (let k = 0; k < K; k++) logEmit[step * K + k] += t[s * K + k];
        }
      }
    }
  });
  // The chain statements must be normalised transition probabilities (float32 evaluation: 1e-4).
  const logInit = logTrans.slice(0, K);
  const check = (where: string, a: Float64Array, off: number) => {
    let s = 0;
    for (let j = 0; j < K; j++) s += Math.exp(a[off + j]);
    if (!(Math.abs(s - 1) < 1e-4)) throw new RangeError(`hmmFromModel: ${where} of chain '${z}' sum to ${s}, not 1: the statements on '${z}' are not a normalised Markov chain`);
  };
  check('the initial probabilities', logInit, 0);
  for (let t = 1; t < T; t++) for (let i = 0; i < K; i++) check(`the transition probabilities from state ${i + 1} at step ${t + 1}`, logTrans, (t * K + i) * K);
  for (let i = 0; i < logEmit.length; i++) if (Number.isNaN(logEmit[i])) throw new RangeError(`hmmFromModel: the emission log density at step ${Math.floor(i / K) + 1}, state ${(i % K) + 1} is NaN`);
  return { K, T, logInit, logTrans, logEmit, logConst };
}

// ---------------------------------------------------------------------------------------------
// Adapter: compiled switching linear-Gaussian models

/** What `switchingLgssmFromModel` reads off a compiled model. */
export interface SwitchingLgssmFromModel {
  /** The parameters, in the form `switchingLgssm` takes. */
  params: SwitchingLgssmParams;
  /** The observations, in time order. */
  y: Float64Array;
  /** Names of the model's chain latent, continuous state parameter and observed data. */
  names: { regime: string; state: string; data: string };
  /** The state-space model (bootstrap, and Rao–Blackwellised as the optimal proposal). */
  ssm: StateSpaceModel;
}

/**
 * Reads a switching linear-Gaussian model off a compiled model at fixed values of its other
 * parameters, as in stdlib/switching_lgssm.mix: one chain latent s (time-homogeneous
 * `s[1] ~ categorical(pi)`, `s[t] ~ categorical(A[s[t-1]])`), one real parameter vector x[T] with
 * `x[1] ~ normal(m0, sd0)` and `x[t] ~ normal(a[s[t]] * x[t-1], q[s[t]])`, and one observation
 * statement `y[t] ~ normal(c * x[t], r)`. Coefficients are found by evaluating the statements'
 * arguments through the model's evaluator at x = 0, 1, 2 (so any expression that is linear in
 * x[t-1] or x[t] works, e.g. `phi[s[t]] * x[t-1]`), and checked to be linear, without offset,
 * the same at every step, and with the observation free of s. The value given for x (if any)
 * is ignored: x is what the filter infers.
 *
 * Refuses, with a RangeError saying what it found: no chain or several, other latents, no
 * (or several) autoregressive real parameter vectors, families other than normal, offsets,
 * time-varying or nonlinear coefficients, extra statements.
 */
export function switchingLgssmFromModel(bound: BoundModel, values: ParamValues): SwitchingLgssmFromModel {
  const where = 'switchingLgssmFromModel';
  const rt = bound.rt;
  const ir = rt.ir;
  const chains = [...rt.latents.values()].filter((l) => l.node.chain);
  if (chains.length !== 1 || rt.latents.size !== 1) {
    throw new RangeError(`${where}: model '${ir.name}' needs exactly one latent, a chain; it has ${chains.length} chain(s) and ${rt.latents.size - chains.length} other latent(s)`);
  }
  const info = chains[0];
  const s = info.node.name;
  const K = info.K;
  const T = info.T!;
  if (T < 2) throw new RangeError(`${where}: the series must have at least 2 steps, got ${T}`);
  // The continuous state: a parameter whose own statement refers to itself (x[t] ~ f(x[t-1])).
  const selfRef = ir.factors.filter((f) => f.kind === 'prior' && f.site && f.dist && f.plates.length === 1 && (() => {
    let hit = false;
    if (f.dist!.kind === 'family') for (const a of f.dist!.args) walkExpr(a, (e) => { if (e.op === 'param' && e.name === f.site) hit = true; });
    return hit;
  })());
  const stateNames = [...new Set(selfRef.map((f) => f.site!))];
  if (stateNames.length !== 1) {
    throw new RangeError(`${where}: model '${ir.name}' needs exactly one autoregressive parameter vector (x[t] ~ normal(a[s[t]] * x[t-1], q[s[t]])); found ${stateNames.length ? stateNames.join(', ') : 'none'}`);
  }
  const x = stateNames[0];
  const xp = bound.params.find((p) => p.name === x)!;
  if (xp.shape.length !== 1 || xp.shape[0] !== T) throw new RangeError(`${where}: the state '${x}' must be a vector of length T = ${T}, got shape [${xp.shape.join(', ')}]`);
  const xNode = ir.params.find((p) => p.name === x)!;
  if (xNode.constraint.name !== 'real' || xNode.constraint.lower || xNode.constraint.upper) throw new RangeError(`${where}: the state '${x}' must be an unconstrained real vector, got '${xNode.constraint.name}'`);
  const xFactors = ir.factors.filter((f) => f.site === x);
  const step = selfRef.filter((f) => f.site === x);
  const init = xFactors.filter((f) => !step.includes(f));
  if (step.length !== 1 || init.length !== 1) throw new RangeError(`${where}: the state '${x}' needs one initial statement and one transition statement; found ${init.length} and ${step.length}`);
  const obs = ir.factors.filter((f) => f.kind === 'obs');
  if (obs.length !== 1) throw new RangeError(`${where}: model '${ir.name}' needs exactly one observation statement; found ${obs.length}`);
  const others = ir.factors.filter((f) => f.kind !== 'prior' && f.kind !== 'latent' && f.kind !== 'obs');
  if (others.length) throw new RangeError(`${where}: model '${ir.name}' has ${others.length} target statement(s), which the switching adapter does not take`);
  for (const f of [...init, ...step, ...obs]) {
    if (f.dist?.kind !== 'family' || f.dist.family !== 'normal') throw new RangeError(`${where}: the statement on '${f.site}' must be a normal distribution, got '${f.dist?.kind === 'family' ? f.dist.family : f.dist?.kind}'`);
  }
  const o = obs[0];
  if (o.latents.length) throw new RangeError(`${where}: the observation statement on '${o.site}' depends on the chain '${s}'; the adapter needs y[t] ~ normal(c * ${x}[t], r)`);
  if (o.plates.length !== 1) throw new RangeError(`${where}: the observation statement on '${o.site}' must sit in one loop over 1..T`);
  const oPlate = rt.plates.get(o.plates[0])!;
  const sPlate = rt.plates.get(step[0].plates[0])!;
  if (oPlate.lo !== 1 || oPlate.size !== T || sPlate.lo !== 2 || sPlate.size !== T - 1) {
    throw new RangeError(`${where}: the observation loop must run over 1..T and the transition loop over 2..T (T = ${T})`);
  }
  const yData = rt.data.get(o.site!);
  if (!yData || yData.size !== T) throw new RangeError(`${where}: the observed '${o.site}' must be data of length T = ${T}`);
  const y = Float64Array.from(yData.dataSync());

  // Numbers off the model at x = v (every element).
  const sDim = latentDim(s);
  const evalAt = (v: number, f: Factor, arg: number, plate?: string): Float64Array => {
    let out = new Float64Array(0);
    tf.tidy(() => {
      const given: Record<string, unknown> = { ...values, [x]: new Array(T).fill(v) };
      const params = bound.paramTensors(given as ParamValues);
      const dist = f.dist as Extract<IRDist, { kind: 'family' }>;
      const bv = evalWith(rt, params, dist.args[arg]);
      const dims = plate ? [plateDim(plate), sDim] : [sDim];
      for (const d of bv.dims) if (!dims.includes(d)) throw new RangeError(`${where}: an argument of the statement on '${f.site}' varies over ${d}, which the adapter does not take`);
      let t = permuteTo(bv, dims);
      if (!plate) t = tf.expandDims(t, 0);
      const size = plate ? rt.plates.get(plate)!.size : 1;
      out = Float64Array.from(tf.broadcastTo(t, [size, K]).dataSync());
    });
    return out;
  };
  const constant = (what: string, a: ArrayLike<number>, byState: boolean): Float64Array => {
    const out = new Float64Array(byState ? K : 1);
    const n = a.length / K;
    for (let k = 0; k < (byState ? K : 1); k++) out[k] = a[k];
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) {
      const ref = out[byState ? k : 0];
      if (Math.abs(a[i * K + k] - ref) > 1e-5 * (1 + Math.abs(ref))) throw new RangeError(`${where}: ${what} is not the same at every step${byState ? '' : ' and in every regime'} (${ref} vs ${a[i * K + k]} at step ${i + 1})`);
    }
    return out;
  };
  const linear = (what: string, f: Factor, plate?: string) => {
    const b0 = evalAt(0, f, 0, plate);
    const b1 = evalAt(1, f, 0, plate);
    const b2 = evalAt(2, f, 0, plate);
    const slope = new Float64Array(b0.length);
    for (let i = 0; i < b0.length; i++) {
      slope[i] = b1[i] - b0[i];
      if (Math.abs(b0[i]) > 1e-6) throw new RangeError(`${where}: ${what} has an offset (${b0[i]} at x = 0); the adapter needs a mean without one`);
      if (Math.abs(b2[i] - 2 * slope[i]) > 1e-5 * (1 + Math.abs(slope[i]))) throw new RangeError(`${where}: ${what} is not linear in '${x}'`);
    }
    return slope;
  };
  const a = constant(`the transition coefficient of '${x}'`, linear(`the transition mean of '${x}'`, step[0], step[0].plates[0]), true);
  const q = constant(`the transition scale of '${x}'`, evalAt(0, step[0], 1, step[0].plates[0]), true);
  const c = constant(`the observation coefficient`, linear(`the observation mean`, o, o.plates[0]), false)[0];
  const r = constant(`the observation scale`, evalAt(0, o, 1, o.plates[0]), false)[0];
  // the initial statement: x[1] ~ normal(m0, sd0), free of x and of the chain
  if (init[0].latents.length || init[0].plates.length) throw new RangeError(`${where}: the initial statement on '${x}' must be x[1] ~ normal(m0, sd0), outside loops and free of '${s}'`);
  const m0 = constant(`the initial mean`, evalAt(0, init[0], 0), false)[0];
  const m0b = constant(`the initial mean`, evalAt(1, init[0], 0), false)[0];
  if (m0 !== m0b) throw new RangeError(`${where}: the initial mean of '${x}' depends on '${x}'`);
  const sd0 = constant(`the initial scale`, evalAt(0, init[0], 1), false)[0];
  // pi and A from the chain's statements (read like an HMM with no emissions).
  const chainOnly: HmmTables = hmmTablesOfChain(bound, { ...values, [x]: new Array(T).fill(0) }, s, where);
  const pi = Array.from(chainOnly.logInit, Math.exp);
  const A: number[][] = [];
  for (let i = 0; i < K; i++) A.push(Array.from({ length: K }, (_, j) => Math.exp(chainOnly.logTrans[(K + i) * K + j])));
  for (let t = 2; t < T; t++) for (let i = 0; i < K * K; i++) {
    if (Math.abs(chainOnly.logTrans[t * K * K + i] - chainOnly.logTrans[K * K + i]) > 1e-5) throw new RangeError(`${where}: the transition probabilities of '${s}' change with time; the adapter needs them fixed`);
  }
  // renormalise the float32 values so the checks of switchingLgssm pass
  const norm = (v: number[]) => { const t = v.reduce((u, w) => u + w, 0); return v.map((w) => w / t); };
  const params: SwitchingLgssmParams = { pi: norm(pi), A: A.map(norm), a: Array.from(a), q: Array.from(q), r, c, m0, p0: sd0 * sd0 };
  return { params, y, names: { regime: s, state: x, data: o.site! }, ssm: switchingLgssm(params, y) };
}


/** The chain statements' log tables (T × K × K, row 0 the initial probabilities), checked to be normalised. */
function hmmTablesOfChain(bound: BoundModel, values: ParamValues, z: string, where: string): HmmTables {
  const rt = bound.rt;
  const info = rt.latents.get(z)!;
  const K = info.K;
  const T = info.T!;
  const cur = latentDim(z);
  const prev = latentDim(z, true);
  const logTrans = new Float64Array(T * K * K);
  tf.tidy(() => {
    const params = bound.paramTensors(values);
    const ctx = { rt, params, lets: evalLets(rt, params) };
    for (const f of rt.ir.factors) {
      if (!(f.kind === 'latent' && f.site === z)) continue;
      const v = evalFactor(f, ctx);
      const pos = chainPosition(f, z);
      if (!pos) throw new RangeError(`${where}: cannot find where the chain '${z}' enters a statement`);
      const [lo, size] = 'plate' in pos ? [rt.plates.get(pos.plate)!.lo, rt.plates.get(pos.plate)!.size] : [pos.at, 1];
      const order = 'plate' in pos ? [plateDim(pos.plate), prev, cur] : [prev, cur];
      for (const d of v.dims) if (!order.includes(d)) throw new RangeError(`${where}: the chain statement varies over ${d}`);
      let pt = permuteTo(v, order);
      if (!('plate' in pos)) pt = tf.expandDims(pt, 0);
      const t = tf.broadcastTo(pt, [size, K, K]).dataSync();
      for (let st = 0; st < size; st++) for (let i = 0; i < K * K; i++) logTrans[(lo - 1 + st) * K * K + i] += t[st * K * K + i];
    }
  });
  const logInit = logTrans.slice(0, K);
  const check = (what: string, off: number) => {
    let sum = 0;
    for (let j = 0; j < K; j++) sum += Math.exp(logTrans[off + j]);
    if (!(Math.abs(sum - 1) < 1e-4)) throw new RangeError(`${where}: ${what} of chain '${z}' sum to ${sum}, not 1`);
  };
  check('the initial probabilities', 0);
  for (let t = 1; t < T; t++) for (let i = 0; i < K; i++) check(`the transition probabilities from state ${i + 1} at step ${t + 1}`, (t * K + i) * K);
  return { K, T, logInit, logTrans, logEmit: new Float64Array(T * K) };
}
