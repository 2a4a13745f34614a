/**
 * The particle filter as tensor ops on the active backend (`particleFilterDevice`): under
 * webgpu every particle operation — drawing, weighting, the ESS, resampling — runs on the
 * GPU, and the host reads one small row per step (log-evidence increment, ESS, whether it
 * resampled, filtering means), a chunk of steps at a time. The same algorithm as
 * `particleFilter` (filter.ts): ESS-triggered resampling, log Ẑ = Σ_t log Σ_i W_{t−1}^i exp(λ_t^i)
 * (unbiased for the evidence), with the bootstrap proposal or the locally optimal one.
 *
 * Differences from the host filter: float32 arithmetic (all tfjs backends); random numbers
 * from the counter-based threefry draws (fused/threefry.ts), so a seed gives the same run on
 * one backend but not the host filter's run; the resampling decision is made on the device
 * (a `where` on the ESS flag, so no step waits for a read); systematic, stratified and
 * multinomial resampling (ancestors by a binary search of the weights' float32 cumulative
 * sum, scaled to its total); quantiles only when asked (a sort per coordinate and step); no
 * history (the per-particle paths stay on the device). Models: HMMs (`hmmTensorSsm`), the 1-D linear-Gaussian model
 * (`linearGaussianTensorSsm`) and the switching linear-Gaussian model
 * (`switchingLgssmTensorSsm`, Rao–Blackwellised as its optimal proposal), each with both
 * proposals.
 */
import { tf, Key, DeviceStream, logSumExp } from '../../tensor';
import { hmmSsm, linearGaussianSsm, switchingLgssm, type HmmTables, type LinearGaussianParams, type SwitchingLgssmParams } from './ssm';

const LOG_2PI = Math.log(2 * Math.PI);

/** Runs the host model's checks, with their messages naming the tensor constructor instead. */
function checkedAs<R>(name: string, hostName: string, build: () => R): R {
  try {
    return build();
  } catch (e) {
    if (e instanceof RangeError && e.message.startsWith(hostName)) throw new RangeError(name + e.message.slice(hostName.length));
    throw e;
  }
}

/** Draws and log incremental weights of a proposal step; the tensors belong to the caller. */
export interface TensorMove {
  /** States [n, stateDim] (int32 for a discrete state, float32 otherwise). */
  x: tf.Tensor2D;
  /** Log incremental weights [n], float32. */
  logw: tf.Tensor1D;
}

/** A proposal of a tensor state-space model (inside `tf.tidy`: intermediate tensors are freed). */
export interface TensorProposal {
  init(n: number, draws: DeviceStream): TensorMove;
  /** Moves the (already resampled) states prev to step t (t ≥ 1). */
  step(t: number, prev: tf.Tensor2D, draws: DeviceStream): TensorMove;
}

/** A state-space model whose steps are tensor ops, for `particleFilterDevice`. */
export interface TensorStateSpaceModel {
  readonly name: string;
  readonly T: number;
  readonly stateDim: number;
  readonly stateNames: readonly string[];
  /** A constant the filter adds to log Ẑ, in float64 on the host: the model's terms that involve no state (an HMM's `logConst`). */
  readonly logConst?: number;
  /**
   * Per-particle quantities whose weighted means the filter reports per step (`summaries` of
   * the result), [n, summaryNames.length] float32: e.g. one-hot columns of a discrete state
   * (its probabilities) or x and x² + P (a Kalman particle's second moment). Inside `tf.tidy`.
   */
  summaries?(x: tf.Tensor2D): tf.Tensor2D;
  readonly summaryNames?: readonly string[];
  readonly bootstrap: TensorProposal;
  readonly optimal?: TensorProposal;
  /** Frees the model's tables on the backend. */
  dispose(): void;
}

/**
 * Draws one index per uniform u [n] from cumulative probabilities: a row per draw, cum [n, K],
 * or one row for all, cum [K] (the last column ignored).
 */
function drawFromCumulative(cum: tf.Tensor1D | tf.Tensor2D, u: tf.Tensor1D): tf.Tensor1D {
  const K = cum.shape[cum.rank - 1];
  if (K === 1) return tf.zeros([u.shape[0]], 'int32');
  const below = tf.greaterEqual(tf.expandDims(u, 1), cum.rank === 1 ? tf.slice(cum, [0], [K - 1]) : tf.slice(cum, [0, 0], [-1, K - 1]));
  return tf.sum(tf.cast(below, 'int32'), 1) as tf.Tensor1D;
}

/**
 * Draws one index per row of log weights L [n, K] (normalised per row), and returns it with
 * each row's log-sum-exp (the locally optimal proposals' weight).
 */
function drawFromLogRows(L: tf.Tensor2D, draws: DeviceStream): { k: tf.Tensor1D; lse: tf.Tensor1D } {
  const lse = logSumExp(L, 1) as tf.Tensor1D;
  const cum = tf.cumsum(tf.exp(tf.sub(L, tf.expandDims(lse, 1))), 1) as tf.Tensor2D;
  return { k: drawFromCumulative(cum, draws.uniform([L.shape[0]]) as tf.Tensor1D), lse };
}

/** One-hot float32 rows [n, K] of int32 indices (tfjs-wasm's oneHot writes int bits into a float32 output: made as int32, then cast). */
function oneHotF32(idx: tf.Tensor1D, K: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(idx, K), 'float32') as tf.Tensor2D;
}

/** log N(y; mean, variance) of each element of mean, for a scalar variance. */
function logNormal(y: number, mean: tf.Tensor, variance: number): tf.Tensor1D {
  return tf.sub(-0.5 * (LOG_2PI + Math.log(variance)), tf.div(tf.square(tf.sub(y, mean)), 2 * variance)) as tf.Tensor1D;
}

/** Row-wise cumulative sums of probabilities, computed in float64 on the host. */
function cumulativeRows(logp: Float64Array, rows: number, K: number): Float32Array {
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (let k = 0; k < K; k++) {
      c += Math.exp(logp[r * K + k]);
      out[r * K + k] = c;
    }
  }
  return out;
}

/**
 * The tensor form of an HMM (as `hmmSsm`): one int32 state per particle. Bootstrap: z_t from
 * the transition row, weight p(y_t | z_t). Optimal: z_t from p(z_t | z_{t−1}, y_t) by
 * enumeration, weight log Σ_j A[z_{t−1}, j] p(y_t | j). Throws a RangeError on bad tables.
 */
export function hmmTensorSsm(h: HmmTables): TensorStateSpaceModel {
  checkedAs('hmmTensorSsm', 'hmmSsm', () => hmmSsm(h));
  const { K, T } = h;
  const varying = h.logTrans.length === T * K * K;
  const rows = varying ? T * K : K;
  const cumInit = tf.tensor1d(cumulativeRows(h.logInit, 1, K));
  const logInit = tf.tensor1d(Float32Array.from(h.logInit));
  const cumTrans = tf.tensor2d(cumulativeRows(h.logTrans, rows, K), [rows, K]);
  const logTrans = tf.tensor2d(Float32Array.from(h.logTrans), [rows, K]);
  const logEmit = tf.tensor2d(Float32Array.from(h.logEmit), [T, K]);
  const emitFlat = tf.reshape(logEmit, [T * K]) as tf.Tensor1D;
  /** The transition-table rows of the states z at step t. */
  const rowOf = (t: number, z: tf.Tensor1D): tf.Tensor1D => (varying ? (tf.add(z, tf.scalar(t * K, 'int32')) as tf.Tensor1D) : z);
  const emitAt = (t: number, z: tf.Tensor1D): tf.Tensor1D => tf.gather(emitFlat, tf.add(z, tf.scalar(t * K, 'int32'))) as tf.Tensor1D;
  const emitRow = (t: number): tf.Tensor1D => tf.reshape(tf.slice(logEmit, [t, 0], [1, K]), [K]) as tf.Tensor1D;
  const asState = (z: tf.Tensor1D): tf.Tensor2D => tf.expandDims(z, 1) as tf.Tensor2D;
  const bootstrap: TensorProposal = {
    init(n, draws) {
      const u = draws.uniform([n]) as tf.Tensor1D;
      const z = drawFromCumulative(cumInit, u);
      return { x: asState(z), logw: emitAt(0, z) };
    },
    step(t, prev, draws) {
      const z0 = tf.reshape(prev, [-1]) as tf.Tensor1D;
      const u = draws.uniform([z0.shape[0]]) as tf.Tensor1D;
      const z = drawFromCumulative(tf.gather(cumTrans, rowOf(t, z0)) as tf.Tensor2D, u);
      return { x: asState(z), logw: emitAt(t, z) };
    },
  };
  /** Draws from the rows of log joint L [n, K] normalised; the weight is each row's log-sum-exp. */
  const enumerate = (L: tf.Tensor2D, draws: DeviceStream): TensorMove => {
    const { k, lse } = drawFromLogRows(L, draws);
    return { x: asState(k), logw: lse };
  };
  const optimal: TensorProposal = {
    init(n, draws) {
      const L = tf.broadcastTo(tf.expandDims(tf.add(logInit, emitRow(0)), 0), [n, K]) as tf.Tensor2D;
      return enumerate(L, draws);
    },
    step(t, prev, draws) {
      const z0 = tf.reshape(prev, [-1]) as tf.Tensor1D;
      const L = tf.add(tf.gather(logTrans, rowOf(t, z0)), tf.expandDims(emitRow(t), 0)) as tf.Tensor2D;
      return enumerate(L, draws);
    },
  };
  const owned = [cumInit, logInit, cumTrans, logTrans, logEmit, emitFlat];
  return {
    name: `hidden Markov model (K = ${K})`,
    T, stateDim: 1, stateNames: ['z'], logConst: h.logConst,
    summaryNames: Array.from({ length: K }, (_, k) => `P(z=${k + 1})`),
    summaries: (x) => oneHotF32(tf.reshape(x, [-1]) as tf.Tensor1D, K),
    bootstrap, optimal,
    dispose() {
      for (const x of owned) x.dispose();
    },
  };
}

/**
 * The tensor form of the 1-D linear-Gaussian model (as `linearGaussianSsm`), with the
 * bootstrap proposal and the locally optimal one. Throws a RangeError on bad parameters or data.
 */
export function linearGaussianTensorSsm(p: LinearGaussianParams, y: ArrayLike<number>): TensorStateSpaceModel {
  const host = checkedAs('linearGaussianTensorSsm', 'linearGaussianSsm', () => linearGaussianSsm(p, y));
  const ys = Float64Array.from(y);
  const { a, q, c, r, m0, p0 } = p;
  const q2 = q * q;
  const r2 = r * r;
  const v = 1 / (1 / q2 + (c * c) / r2);
  const s2 = c * c * q2 + r2;
  const v0 = 1 / (1 / p0 + (c * c) / r2);
  const s20 = c * c * p0 + r2;
  const col = (x: tf.Tensor1D): tf.Tensor2D => tf.expandDims(x, 1) as tf.Tensor2D;
  const bootstrap: TensorProposal = {
    init(n, draws) {
      const x = tf.add(m0, tf.mul(Math.sqrt(p0), draws.normal([n]))) as tf.Tensor1D;
      return { x: col(x), logw: logNormal(ys[0], tf.mul(c, x) as tf.Tensor1D, r2) };
    },
    step(t, prev, draws) {
      const x = tf.add(tf.mul(a, tf.reshape(prev, [-1])), tf.mul(q, draws.normal([prev.shape[0]]))) as tf.Tensor1D;
      return { x: col(x), logw: logNormal(ys[t], tf.mul(c, x) as tf.Tensor1D, r2) };
    },
  };
  const optimal: TensorProposal = {
    init(n, draws) {
      const mean = v0 * (m0 / p0 + (c * ys[0]) / r2);
      const e = ys[0] - c * m0;
      const lw = -0.5 * (LOG_2PI + Math.log(s20)) - (0.5 * e * e) / s20;
      const x = tf.add(mean, tf.mul(Math.sqrt(v0), draws.normal([n]))) as tf.Tensor1D;
      return { x: col(x), logw: tf.fill([n], lw) as tf.Tensor1D };
    },
    step(t, prev, draws) {
      const mp = tf.mul(a, tf.reshape(prev, [-1])) as tf.Tensor1D;
      const logw = logNormal(ys[t], tf.mul(c, mp) as tf.Tensor1D, s2);
      const mean = tf.mul(v, tf.add(tf.div(mp, q2), (c * ys[t]) / r2));
      const x = tf.add(mean, tf.mul(Math.sqrt(v), draws.normal([prev.shape[0]]))) as tf.Tensor1D;
      return { x: col(x), logw };
    },
  };
  return { name: host.name, T: host.T, stateDim: 1, stateNames: host.stateNames, bootstrap, optimal, dispose() {} };
}

/**
 * The tensor form of the switching linear-Gaussian model (as `switchingLgssm`): three float32
 * numbers per particle, the regime s, x and P. Bootstrap particles are points (P = 0); the
 * optimal proposal is the Rao–Blackwellised filter (the next regime drawn by enumerating the K
 * regimes against each particle's Kalman mean and variance, then a Kalman update). Summaries:
 * P(s = k) per regime, x, and x² + P (so sd(x) = sqrt(E[x² + P] − E[x]²) for either proposal).
 * Throws a RangeError on bad parameters or data.
 */
export function switchingLgssmTensorSsm(p: SwitchingLgssmParams, y: ArrayLike<number>): TensorStateSpaceModel {
  const host = checkedAs('switchingLgssmTensorSsm', 'switchingLgssm', () => switchingLgssm(p, y));
  const K = p.pi.length;
  const ys = Float64Array.from(y);
  const logPi = Float64Array.from(p.pi, (v) => Math.log(v));
  const logAh = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) logAh[i * K + j] = Math.log(p.A[i][j]);
  const c = p.c ?? 1;
  const m0 = p.m0 ?? 0;
  const p0 = p.p0 ?? 25;
  const r2 = p.r * p.r;
  const cumPi = tf.tensor1d(cumulativeRows(logPi, 1, K));
  const cumA = tf.tensor2d(cumulativeRows(logAh, K, K), [K, K]);
  const logA = tf.tensor2d(Float32Array.from(logAh), [K, K]);
  const a = tf.tensor1d(Float32Array.from(p.a));
  const q = tf.tensor1d(Float32Array.from(p.q));
  const a2 = tf.tensor1d(Float32Array.from(p.a, (v) => v * v));
  const q2 = tf.tensor1d(Float32Array.from(p.q, (v) => v * v));
  const owned = [cumPi, cumA, logA, a, q, a2, q2];
  const col = (x: tf.Tensor2D, j: number): tf.Tensor1D => tf.reshape(tf.slice(x, [0, j], [-1, 1]), [-1]) as tf.Tensor1D;
  const regime = (x: tf.Tensor2D): tf.Tensor1D => tf.cast(col(x, 0), 'int32') as tf.Tensor1D;
  const state = (s: tf.Tensor1D, x: tf.Tensor, P: tf.Tensor): tf.Tensor2D => tf.stack([tf.cast(s, 'float32'), x, P], 1) as tf.Tensor2D;
  /** log N(y; c x, r²) of points. */
  const obsPoint = (yt: number, x: tf.Tensor): tf.Tensor1D => logNormal(yt, tf.mul(c, x), r2);
  const bootstrap: TensorProposal = {
    init(n, draws) {
      const s = drawFromCumulative(cumPi, draws.uniform([n]) as tf.Tensor1D);
      const x = tf.add(m0, tf.mul(Math.sqrt(p0), draws.normal([n])));
      return { x: state(s, x, tf.zerosLike(x)), logw: obsPoint(ys[0], x) };
    },
    step(t, prev, draws) {
      const n = prev.shape[0];
      const s = drawFromCumulative(tf.gather(cumA, regime(prev)) as tf.Tensor2D, draws.uniform([n]) as tf.Tensor1D);
      const x = tf.add(tf.mul(tf.gather(a, s), col(prev, 1)), tf.mul(tf.gather(q, s), draws.normal([n])));
      return { x: state(s, x, tf.zerosLike(x)), logw: obsPoint(ys[t], x) };
    },
  };
  const optimal: TensorProposal = {
    init(n, draws) {
      // x_0 does not depend on s_0: s_0 | y_0 ~ pi, and one Kalman update for all particles.
      const S = c * c * p0 + r2;
      const e = ys[0] - c * m0;
      const gain = (p0 * c) / S;
      const lw = -0.5 * (LOG_2PI + Math.log(S)) - (0.5 * e * e) / S;
      const s = drawFromCumulative(cumPi, draws.uniform([n]) as tf.Tensor1D);
      return { x: state(s, tf.fill([n], m0 + gain * e), tf.fill([n], (1 - gain * c) * p0)), logw: tf.fill([n], lw) as tf.Tensor1D };
    },
    step(t, prev, draws) {
      const yt = ys[t];
      const m = tf.expandDims(col(prev, 1), 1);
      const P = tf.expandDims(col(prev, 2), 1);
      // per particle and next regime k: predicted mean and variance, and the log weight term
      const mp = tf.mul(m, tf.expandDims(a, 0)) as tf.Tensor2D;
      const Pp = tf.add(tf.mul(P, tf.expandDims(a2, 0)), tf.expandDims(q2, 0)) as tf.Tensor2D;
      const S = tf.add(tf.mul(c * c, Pp), r2);
      const L = tf.sub(tf.sub(tf.gather(logA, regime(prev)), tf.mul(0.5, tf.add(LOG_2PI, tf.log(S)))), tf.div(tf.square(tf.sub(yt, tf.mul(c, mp))), tf.mul(2, S))) as tf.Tensor2D;
      const { k, lse } = drawFromLogRows(L, draws);
      const pick = oneHotF32(k, K);
      const mk = tf.sum(tf.mul(mp, pick), 1);
      const Pk = tf.sum(tf.mul(Pp, pick), 1);
      const gain = tf.div(tf.mul(Pk, c), tf.add(tf.mul(c * c, Pk), r2));
      const x = tf.add(mk, tf.mul(gain, tf.sub(yt, tf.mul(c, mk))));
      return { x: state(k, x, tf.mul(tf.sub(1, tf.mul(gain, c)), Pk)), logw: lse };
    },
  };
  return {
    name: host.name, T: host.T, stateDim: 3, stateNames: host.stateNames,
    summaryNames: [...Array.from({ length: K }, (_, k) => `P(s=${k + 1})`), 'x', 'x^2+P'],
    summaries(x) {
      const xs = col(x, 1);
      return tf.concat([oneHotF32(regime(x), K), tf.expandDims(xs, 1), tf.expandDims(tf.add(tf.square(xs), col(x, 2)), 1)], 1) as tf.Tensor2D;
    },
    bootstrap, optimal,
    dispose() {
      for (const t of owned) t.dispose();
    },
  };
}

/** Resampling schemes of the device filter. */
export type DeviceResampleScheme = 'systematic' | 'stratified' | 'multinomial';
const DEVICE_SCHEMES: readonly DeviceResampleScheme[] = ['systematic', 'stratified', 'multinomial'];

/** Options of `particleFilterDevice`. */
export interface DeviceFilterOptions {
  /** Number of particles (default 1000; at most 2^24, where float32 still counts them exactly). */
  particles?: number;
  /** Seed (default 1): the same seed gives the same run on the same backend. */
  seed?: number;
  /** Resampling scheme (default 'systematic'; 'residual' is host-only). */
  resampling?: DeviceResampleScheme;
  /** Resample before a step when the ESS is below this fraction of the particles (default 0.5; 1 always, 0 never). */
  resampleThreshold?: number;
  /** 'bootstrap' (default) or 'optimal'. */
  proposal?: 'bootstrap' | 'optimal';
  /**
   * Levels of the weighted filtering quantiles reported per step and coordinate (default []:
   * none). Each costs a sort of the particles per coordinate and step (tf.topk).
   */
  quantiles?: number[];
  /** Steps per host read of the per-step numbers (default 64). */
  readEvery?: number;
  /**
   * Test-only bug, so tests can show their checks catch it (never use for inference):
   * 'keep-weights' does not reset the weights to 1/n after resampling.
   */
  _testBias?: 'keep-weights';
}

/** What `particleFilterDevice` returns (the host filter's fields that it has). */
export interface DeviceFilterResult {
  T: number;
  particles: number;
  stateDim: number;
  stateNames: readonly string[];
  proposal: 'bootstrap' | 'optimal';
  /** The backend it ran on. */
  backend: string;
  /** log Ẑ (the per-step increments summed in float64). */
  logZ: number;
  logZIncrements: Float64Array;
  /** Filtering means per step and coordinate (T × stateDim). */
  means: Float64Array;
  /** Quantile levels, as given, and the weighted filtering quantiles at [(t · nq + j) · stateDim + d] (T × nq × stateDim), as the host filter's. */
  quantileLevels: number[];
  quantiles: Float64Array;
  /** The model's summaryNames, and the weighted mean of each per step at [t·m + j] (T × m). */
  summaryNames: readonly string[];
  summaries: Float64Array;
  ess: Float64Array;
  /** 1 where the particles were resampled before step t's move. */
  resampled: Uint8Array;
  finalParticles: Float64Array;
  finalWeights: Float64Array;
  wallSeconds: number;
}

function now(): number {
  return performance.now() / 1000;
}

/**
 * Ancestor indices [n] (int32) for the weights W [n] (normalised up to float32 rounding):
 * positions in [0, 1) — systematic (k + u)/n with one uniform, stratified (k + u_k)/n, or
 * multinomial u_k — scaled to the weights' total, each taken to the particle whose interval
 * of the cumulative sum holds it (a binary search). Inside `tf.tidy`.
 */
export function deviceAncestors(scheme: DeviceResampleScheme, W: tf.Tensor1D, draws: DeviceStream): tf.Tensor1D {
  const n = W.shape[0];
  const cdf = tf.cumsum(W);
  const total = tf.slice(cdf, [n - 1], [1]);
  let pos: tf.Tensor;
  if (scheme === 'multinomial') pos = draws.uniform([n]);
  else pos = tf.div(tf.add(tf.range(0, n, 1, 'float32'), scheme === 'systematic' ? draws.uniform([1]) : draws.uniform([n])), n);
  const idx = tf.searchSorted(tf.expandDims(cdf, 0), tf.expandDims(tf.mul(pos, total), 0), 'right');
  return tf.minimum(tf.reshape(idx, [n]), tf.scalar(n - 1, 'int32')) as tf.Tensor1D;
}

/**
 * Weighted quantiles of each column of x [n, D] under weights w (summing to wSum), as the host
 * filter's: per level, the smallest value whose cumulative weight reaches level × wSum (the
 * particles sorted by tf.topk). Returns [1, nq × D], level-major. Inside `tf.tidy`.
 */
function weightedQuantiles(x: tf.Tensor2D, w: tf.Tensor1D, wSum: tf.Tensor, levels: tf.Tensor2D): tf.Tensor2D {
  const [n, D] = x.shape;
  const nq = levels.shape[1];
  const cols: tf.Tensor[] = [];
  for (let d = 0; d < D; d++) {
    const v = tf.reshape(tf.slice(x, [0, d], [n, 1]), [n]);
    const { values, indices } = tf.topk(tf.neg(v), n, true); // descending -v: ascending v
    const cw = tf.cumsum(tf.gather(w, indices));
    const j = tf.minimum(tf.reshape(tf.searchSorted(tf.expandDims(cw, 0), tf.mul(levels, wSum), 'left'), [nq]), tf.scalar(n - 1, 'int32'));
    cols.push(tf.neg(tf.gather(values, j)));
  }
  return tf.reshape(tf.stack(cols, 1), [1, nq * D]) as tf.Tensor2D;
}

/**
 * Runs the particle filter on `ssm` with tensor ops on the active backend (see the module
 * comment) and returns log Ẑ, the per-step means (and state probabilities of a discrete
 * state), ESS and resampling flags, and the final weighted particles.
 *
 * @example
 * await useBackend('webgpu');
 * const ssm = hmmTensorSsm(hmmTables(pi, A, logEmit));
 * const r = await particleFilterDevice(ssm, { particles: 1_000_000 });
 * ssm.dispose();
 */
export async function particleFilterDevice(ssm: TensorStateSpaceModel, opts: DeviceFilterOptions = {}): Promise<DeviceFilterResult> {
  const where = 'particleFilterDevice';
  if (!ssm || typeof ssm !== 'object' || !ssm.bootstrap) throw new RangeError(`${where}: the model must be a tensor state-space model (hmmTensorSsm, linearGaussianTensorSsm)`);
  if (!Number.isInteger(ssm.T) || ssm.T < 1) throw new RangeError(`${where}: the model's T must be a positive integer, got ${ssm.T}`);
  if (!Number.isInteger(ssm.stateDim) || ssm.stateDim < 1) throw new RangeError(`${where}: the model's stateDim must be a positive integer, got ${ssm.stateDim}`);
  if (opts === null || typeof opts !== 'object') throw new RangeError(`${where}: options must be an object`);
  const n = opts.particles ?? 1000;
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 24) throw new RangeError(`${where}: particles must be an integer in [1, 2^24], got ${n}`);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${seed}`);
  const scheme = opts.resampling ?? 'systematic';
  if (!DEVICE_SCHEMES.includes(scheme)) {
    throw new RangeError(`${where}: resampling scheme '${String(scheme)}' is not available on the device; schemes: ${DEVICE_SCHEMES.join(', ')} (particleFilter on the host also has residual)`);
  }
  const thr = opts.resampleThreshold ?? 0.5;
  if (!(thr >= 0 && thr <= 1)) throw new RangeError(`${where}: resampleThreshold must be in [0, 1], got ${thr}`);
  const which = opts.proposal ?? 'bootstrap';
  if (which !== 'bootstrap' && which !== 'optimal') throw new RangeError(`${where}: proposal must be 'bootstrap' or 'optimal', got '${String(which)}'`);
  const prop = which === 'optimal' ? ssm.optimal : ssm.bootstrap;
  if (!prop) throw new RangeError(`${where}: the ${ssm.name} has no locally optimal proposal; use proposal 'bootstrap'`);
  const levels = opts.quantiles ?? [];
  if (!Array.isArray(levels) || levels.some((q) => !(q >= 0 && q <= 1))) throw new RangeError(`${where}: quantiles must be levels in [0, 1], got ${JSON.stringify(levels)}`);
  for (let j = 1; j < levels.length; j++) if (levels[j] < levels[j - 1]) throw new RangeError(`${where}: quantile levels must be ascending`);
  const nq = levels.length;
  const readEvery = opts.readEvery ?? 64;
  if (!Number.isInteger(readEvery) || readEvery < 1) throw new RangeError(`${where}: readEvery must be a positive integer, got ${readEvery}`);

  const c = ssm.logConst ?? 0;
  if (!Number.isFinite(c)) throw new RangeError(`${where}: the model's logConst is ${c}, not a finite number`);
  const t0 = now();
  const { T, stateDim: D } = ssm;
  const names = ssm.summaryNames ?? [];
  const K = names.length;
  if (K && typeof ssm.summaries !== 'function') throw new RangeError(`${where}: the ${ssm.name} names summaries but has no summaries()`);
  const draws = new DeviceStream(Key.seed(seed).fold(0x70664456)); // 'pfDV'
  const logN = -Math.log(n);
  // Per step, one row: [log Z increment, ESS, resampled, means (D), summaries (K), quantiles (nq × D)].
  const width = 3 + D + K + nq * D;
  const logZIncrements = new Float64Array(T);
  const ess = new Float64Array(T);
  const resampled = new Uint8Array(T);
  const means = new Float64Array(T * D);
  const summaries = new Float64Array(T * K);
  const quantiles = new Float64Array(T * nq * D);
  const levelsT = nq ? tf.tensor2d(levels, [1, nq]) : undefined;

  const ids = tf.range(0, n, 1, 'int32') as tf.Tensor1D;
  let x: tf.Tensor2D | undefined;
  let logW: tf.Tensor1D | undefined;
  let W: tf.Tensor1D | undefined;
  let essT: tf.Scalar | undefined;
  let pending: tf.Tensor[] = [];
  let firstPending = 0;

  /** A model's proposal must give [n, stateDim] states and [n] log weights (shapes only: no read). */
  const checkMove = (m: TensorMove, t: number): void => {
    const ok = m && m.x?.shape?.length === 2 && m.x.shape[0] === n && m.x.shape[1] === D && m.logw?.shape?.length === 1 && m.logw.shape[0] === n;
    if (!ok) throw new RangeError(`${where}: the ${ssm.name}'s ${which} proposal at step ${t + 1} gave states of shape [${m?.x?.shape}] and log weights of shape [${m?.logw?.shape}]; expected [${n},${D}] and [${n}]`);
  };

  /** Reads the pending rows and checks each step's increment. */
  const flush = async (): Promise<void> => {
    if (!pending.length) return;
    const block = tf.concat(pending, 0);
    for (const r of pending) r.dispose();
    const rows = pending.length;
    pending = [];
    let vals: ArrayLike<number>;
    try {
      vals = await block.data();
    } finally {
      block.dispose();
    }
    for (let j = 0; j < rows; j++) {
      const t = firstPending + j;
      const o = j * width;
      const lz = vals[o];
      if (Number.isNaN(lz)) throw new RangeError(`${where}: the log weights at step ${t + 1} are NaN (the model's log density gave NaN)`);
      if (lz === -Infinity) throw new RangeError(`${where}: every particle has weight 0 at step ${t + 1}: the observation is impossible under all particles (more particles or a better proposal may help)`);
      if (lz === Infinity) throw new RangeError(`${where}: a log weight at step ${t + 1} is +Infinity`);
      logZIncrements[t] = lz;
      ess[t] = vals[o + 1];
      resampled[t] = vals[o + 2] > 0.5 ? 1 : 0;
      for (let d = 0; d < D; d++) means[t * D + d] = vals[o + 3 + d];
      for (let k = 0; k < K; k++) summaries[t * K + k] = vals[o + 3 + D + k];
      for (let q = 0; q < nq * D; q++) quantiles[t * nq * D + q] = vals[o + 3 + D + K + q];
    }
    firstPending += rows;
  };

  try {
    for (let t = 0; t < T; t++) {
      const next = tf.tidy(() => {
        let move: TensorMove;
        let lwPrev: tf.Tensor1D;
        let flag: tf.Tensor = tf.scalar(0);
        if (t === 0) {
          move = prop.init(n, draws);
          lwPrev = tf.fill([n], logN) as tf.Tensor1D;
        } else {
          let xs: tf.Tensor2D = x!;
          lwPrev = logW!;
          if (thr > 0) {
            const anc = deviceAncestors(scheme, W!, draws);
            const reset: tf.Tensor1D = opts._testBias === 'keep-weights'
              ? (tf.sub(tf.gather(logW!, anc), logSumExp(tf.gather(logW!, anc))) as tf.Tensor1D)
              : (tf.fill([n], logN) as tf.Tensor1D);
            if (thr >= 1) {
              flag = tf.scalar(1);
              xs = tf.gather(xs, anc) as tf.Tensor2D;
              lwPrev = reset;
            } else {
              const go = tf.less(essT!, thr * n);
              flag = tf.cast(go, 'float32');
              xs = tf.gather(xs, tf.where(go, anc, ids)) as tf.Tensor2D;
              lwPrev = tf.where(go, reset, logW!) as tf.Tensor1D;
            }
          }
          move = prop.step(t, xs, draws);
        }
        checkMove(move, t);
        const v = tf.add(lwPrev, move.logw) as tf.Tensor1D;
        const lz = logSumExp(v);
        const lw = tf.sub(v, lz) as tf.Tensor1D;
        const w = tf.exp(lw) as tf.Tensor1D;
        // The float32 weights sum to 1 within about n 2^-24: the ESS and the estimates divide by their sum.
        const wSum = tf.sum(w);
        const e = tf.div(tf.square(wSum), tf.sum(tf.square(w))) as tf.Scalar;
        const wRow = tf.div(tf.expandDims(w, 0), wSum);
        const parts: tf.Tensor[] = [tf.reshape(lz, [1, 1]), tf.reshape(e, [1, 1]), tf.reshape(flag, [1, 1]), tf.matMul(wRow, tf.cast(move.x, 'float32'))];
        if (K) parts.push(tf.matMul(wRow, ssm.summaries!(move.x)));
        if (levelsT) parts.push(weightedQuantiles(tf.cast(move.x, 'float32') as tf.Tensor2D, w, wSum, levelsT));
        const row = tf.concat(parts, 1);
        return { x: move.x, logW: lw, W: w, ess: e, row };
      });
      x?.dispose();
      logW?.dispose();
      W?.dispose();
      essT?.dispose();
      ({ x, logW, W, ess: essT } = next);
      pending.push(next.row);
      if (pending.length >= readEvery) await flush();
    }
    await flush();
    const [xs, ws] = await Promise.all([x!.data(), W!.data()]);
    logZIncrements[0] += c;
    let logZ = 0;
    for (let t = 0; t < T; t++) logZ += logZIncrements[t];
    return {
      T, particles: n, stateDim: D, stateNames: ssm.stateNames, proposal: which, backend: tf.getBackend(),
      logZ, logZIncrements, means, quantileLevels: [...levels], quantiles, summaryNames: [...names], summaries, ess, resampled,
      finalParticles: Float64Array.from(xs), finalWeights: Float64Array.from(ws), wallSeconds: now() - t0,
    };
  } finally {
    for (const r of pending) r.dispose();
    for (const tt of [x, logW, W, essT, ids, levelsT]) tt?.dispose();
  }
}
