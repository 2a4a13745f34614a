/**
 * Online (stepwise) EM, Cappé and Moulines (2009), in its mini-batch form (Liang and Klein
 * 2009): the data arrive in chunks; each chunk's E-step at the current parameters gives
 * its expected complete-data sufficient statistics per observation, s_t; the running
 * statistics move towards them, s̄ ← (1 - γ_t) s̄ + γ_t s_t, and the M-step maps s̄ to the
 * parameters in closed form. Nothing but s̄ and the current chunk is held.
 *
 * For mixtures whose every parameter has a closed-form M-step that is a function of
 * weighted moments (recognised from the IR, as closed-form.ts does): one enumerated latent
 * z in one plate with `z ~ categorical(w)`, and observations `x ~ normal(mu[z], sigma[z])`
 * (per-component, shared or constant scale), `mvnormal(mu[z], Sigma[z])` /
 * `mvnormal_cholesky(mu[z], L[z])` (per component or shared), `poisson(lam[z])`,
 * `bernoulli(p[z])` or `exponential(rate[z])`. Other models are refused with an error that
 * names the parameter. Maximum likelihood only (priors are left out).
 *
 * The first chunk sets s̄ (γ = 1); chunk update t ≥ 1 uses γ_t = stepSize(t), by default
 * (t + 2)^-0.6 (Cappé and Moulines need Σγ = ∞, Σγ² < ∞ for convergence: exponents in
 * (0.5, 1]). The start is `init`, or k-means on the first chunk then one M-step (as `em`).
 * On a backend without synchronous reads (webgpu under Node.js) the start goes through
 * `emAsync` and each chunk's statistics are read with `await data()`.
 */
import { tf, canReadSync, choleskyF64, runAsync, type Tensor } from '../../tensor';
import type { BoundModel, ParamValues } from '../../model/bound-model';
import type { DataInput } from '../../model/data';
import { eachChunk, type Bindable, type ChunkSource } from '../../model/chunks';
import type { Factor, IRExpr } from '../../ir/types';
import { evalWith } from '../../model/evaluate';
import { closedFormUpdates } from './closed-form';
import { fastGmmEStep } from './fast-gmm';
import { em, emAsync } from './index';
import { constrainSteps, unconstrainSteps } from './host-reads';

export interface OnlineEmOptions {
  /** Step size for chunk update t = 1, 2, ... (default (t + 2)^-0.6). */
  stepSize?: (t: number) => number;
  /** Passes over the chunks (default 1). More than one needs a source that can be read again: an array, or a function returning a fresh iterable. */
  passes?: number;
  /** Data shared by every chunk (sizes such as K, covariates without rows). */
  data?: DataInput;
  /** Starting values; default: k-means on the first chunk and one M-step. */
  init?: ParamValues;
  seed?: number;
  /** Added to variances and covariance diagonals (as em's regCovar; default 1e-6). */
  regCovar?: number;
  /** Called after each chunk update with the chunk's mean log likelihood per row at the parameters before the update. */
  onChunk?: (pass: number, chunk: number, meanLogLik: number) => void;
}

export interface OnlineEmResult {
  params: Record<string, number | unknown[]>;
  /** Chunk updates made (over all passes). */
  updates: number;
  passes: number;
  /** Rows seen (over all passes). */
  rows: number;
  /** Per chunk update: the chunk's mean log likelihood per row before the update. */
  trace: number[];
  seconds: number;
}

export type { ChunkSource, Bindable } from '../../model/chunks';

/** One observation statement's roles and its running statistics. */
interface ObsPlan {
  factor: Factor;
  family: 'normal' | 'mvnormal' | 'poisson' | 'bernoulli' | 'exponential';
  mean: string;
  /** normal: the scale param (per component or shared) or a constant; mvnormal: the covariance param and its form. */
  scale?: { param?: string; tied: boolean; kind: 'sd' | 'cov' | 'cholesky' };
  E: number;
}

const ONLINE_RULES = new Set(['categorical weights', 'normal component means', 'normal component scales', 'normal shared scale', 'mvnormal component means',
  'mvnormal covariances', 'mvnormal covariance factors', 'poisson components', 'bernoulli components', 'exponential components']);

function byLatent(e: IRExpr | undefined, lat: string): string | undefined {
  if (!e || e.op !== 'index' || e.target.op !== 'param' || e.indices.length !== 1) return undefined;
  const ix = e.indices[0];
  return ix.op === 'latent' && ix.name === lat && !ix.index.some((i) => 'shift' in i && i.shift !== 0) ? e.target.name : undefined;
}

/** Recognises the model on its first chunk; throws naming the parameter that has no closed-form statistics. */
function plan(bm: BoundModel): { lat: string; K: number; weights: string; obs: ObsPlan[] } {
  const ir = bm.ir;
  const rules = new Map(closedFormUpdates(bm, { priors: false }).map((u) => [u.param, u.rule]));
  // Parameters without any closed form first: they are the more basic reason.
  for (const p of bm.params) {
    if (!rules.has(p.name)) throw new Error(`onlineEm: parameter '${p.name}' has no closed-form M-step; online EM needs every parameter in closed form (use em on the whole data)`);
  }
  for (const p of bm.params) {
    const rule = rules.get(p.name)!;
    if (!ONLINE_RULES.has(rule)) throw new Error(`onlineEm: parameter '${p.name}' (${rule}) has a closed-form M-step that is not a function of weighted moments; online EM does not support it (use em on the whole data)`);
  }
  if (ir.latents.length !== 1 || ir.latents[0].chain || ir.latents[0].plates.length !== 1) {
    throw new Error('onlineEm: needs one enumerated latent in one plate (a mixture); chains and several latents are not supported');
  }
  const lat = ir.latents[0].name;
  const K = bm.rt.latents.get(lat)!.K;
  const zf = ir.factors.find((f) => f.kind === 'latent');
  const wArg = zf?.dist?.kind === 'family' && zf.dist.family === 'categorical' ? zf.dist.args[0] : undefined;
  if (!wArg || wArg.op !== 'param') throw new Error(`onlineEm: the latent ${lat} must be drawn as categorical(w) with w a simplex parameter`);
  const obs: ObsPlan[] = [];
  for (const f of ir.factors) {
    if (f.kind !== 'obs') continue;
    if (f.dist?.kind !== 'family' || f.latents.length !== 1) throw new Error(`onlineEm: an observation statement does not select a component by ${lat}; online EM handles mixtures only`);
    const fam = f.dist.family;
    const args = f.dist.args;
    const mean = byLatent(fam === 'student_t' ? args[1] : args[0], lat);
    if (!mean) throw new Error(`onlineEm: the ${fam} observation is not selected by ${lat}`);
    let scale: ObsPlan['scale'];
    let family: ObsPlan['family'];
    if (fam === 'normal') {
      family = 'normal';
      const s = byLatent(args[1], lat);
      scale = { param: s ?? (args[1].op === 'param' ? args[1].name : undefined), tied: !s, kind: 'sd' };
    } else if (fam === 'mvnormal' || fam === 'mvnormal_cholesky') {
      family = 'mvnormal';
      const s = byLatent(args[1], lat);
      const param = s ?? (args[1].op === 'param' ? args[1].name : undefined);
      if (!param) throw new Error(`onlineEm: the ${fam} covariance must be a parameter (per component or shared); scale-correlation forms are not supported`);
      scale = { param, tied: !s, kind: fam === 'mvnormal' ? 'cov' : 'cholesky' };
    } else if (fam === 'poisson' || fam === 'bernoulli' || fam === 'exponential') {
      family = fam;
    } else {
      throw new Error(`onlineEm: parameter '${mean}': ${fam} observations have no weighted-moment statistics`);
    }
    const { ok, E } = tfTidyHost(() => {
      const v = evalWith(bm.rt, bm.constrainTensor(tf.zeros([bm.dim])).params, f.value!);
      return { ok: v.dims.length === 1 && v.dims[0].startsWith('p:') && v.t.rank <= 2, E: v.t.rank === 2 ? (v.t.shape[1] as number) : 1 };
    });
    if (!ok) throw new Error(`onlineEm: the ${fam} observation must be one row of data per element of the latent's plate`);
    obs.push({ factor: f, family, mean, scale, E });
  }
  return { lat, K, weights: wArg.name, obs };
}

/** Nested arrays of `shape` from row-major values. */
function nest(v: ArrayLike<number>, shape: readonly number[]): number | unknown[] {
  if (shape.length === 0) return v[0];
  const [n, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => nest(Array.prototype.slice.call(v, i * step, (i + 1) * step), rest));
}

/** Everything each chunk contributes, per row: Σ r, and per observation Σ r x, Σ r x² (or x x'). */
type Stats = { w: Float64Array; obs: { s0: Float64Array; s1: Float64Array; s2: Float64Array }[] };

/**
 * The chunk's statistics per row and mean log likelihood. The tensors are computed in one
 * tidy and read together afterwards: with dataSync where the backend reads synchronously,
 * with `await data()` otherwise (webgpu under Node.js).
 */
async function chunkStats(bm: BoundModel, pl: ReturnType<typeof plan>, values: ParamValues): Promise<{ stats: Stats; logLik: number; n: number }> {
  const fast = fastGmmEStep(bm, false);
  let n = 0;
  const kept: Tensor[] = [];
  tf.tidy(() => {
    const params = bm.paramTensors(values);
    const { logZ, marginals } = fast ? fast(params) : bm.marginalsTensor(params, { priors: false });
    const R = marginals.get(pl.lat)!; // [n, K]
    n = R.shape[0] as number;
    const Rt = tf.transpose(R);
    kept.push(tf.keep(logZ), tf.keep(tf.sum(R, 0)));
    for (const o of pl.obs) {
      const x = evalWith(bm.rt, params, o.factor.value!).t;
      const X = tf.reshape(tf.cast(x, 'float32'), [n, o.E]);
      const s1 = tf.matMul(Rt, X);
      const sq = o.family === 'mvnormal' ? tf.reshape(tf.mul(tf.expandDims(X, 2), tf.expandDims(X, 1)), [n, o.E * o.E]) : tf.square(X);
      const s2 = o.family === 'normal' || o.family === 'mvnormal' ? tf.matMul(Rt, sq) : tf.zeros([1]);
      kept.push(tf.keep(s1), tf.keep(s2));
    }
  });
  let read: ArrayLike<number>[];
  try {
    read = canReadSync() ? kept.map((t) => t.dataSync()) : await Promise.all(kept.map((t) => t.data()));
  } finally {
    tf.dispose(kept);
  }
  const perRow = (v: ArrayLike<number>) => Float64Array.from(v, (x) => x / n);
  const w = perRow(read[1]);
  const obs = pl.obs.map((_, i) => ({ s0: w, s1: perRow(read[2 + 2 * i]), s2: perRow(read[3 + 2 * i]) }));
  return { stats: { w, obs }, logLik: read[0][0] / n, n };
}

/** tf.tidy for a host result. */
function tfTidyHost<T>(f: () => T): T {
  let out: T | undefined;
  tf.tidy(() => { out = f(); });
  return out as T;
}

/** The M-step from the running statistics (float64 on the host); components with no weight keep their value. */
function mStepFromStats(bm: BoundModel, pl: ReturnType<typeof plan>, s: Stats, old: Record<string, number | unknown[]>, reg: number): Record<string, number | unknown[]> {
  const out: Record<string, number | unknown[]> = { ...old };
  const shapeOf = (name: string) => bm.params.find((p) => p.name === name)!.shape;
  const flatOld = (name: string) => Float64Array.from((old[name] as unknown[]).flat(3) as number[]);
  const K = pl.K;
  // Weights: expected counts plus 10 float32 eps each, as the batch update.
  const wc = Array.from(s.w, (v) => v + 10 * 1.1920929e-7);
  const wt = wc.reduce((a, b) => a + b, 0);
  out[pl.weights] = wc.map((v) => v / wt);
  pl.obs.forEach((o, i) => {
    const { s0, s1, s2 } = s.obs[i];
    const E = o.E;
    const oldMu = typeof old[o.mean] === 'number' ? Float64Array.of(old[o.mean] as number) : flatOld(o.mean);
    const mu = new Float64Array(K * E);
    const has = (k: number) => s0[k] > 1e-12;
    for (let k = 0; k < K; k++) for (let e = 0; e < E; e++) mu[k * E + e] = has(k) ? s1[k * E + e] / s0[k] : oldMu[k * E + e];
    if (o.family === 'poisson') for (let j = 0; j < mu.length; j++) mu[j] = Math.max(mu[j], 1e-30);
    if (o.family === 'bernoulli') for (let j = 0; j < mu.length; j++) mu[j] = Math.min(Math.max(mu[j], 1e-6), 1 - 1e-6);
    if (o.family === 'exponential') {
      out[o.mean] = nest(Array.from({ length: K * E }, (_, j) => (has(Math.floor(j / E)) ? 1 / Math.max(mu[j], 1e-30) : oldMu[j])), shapeOf(o.mean)) as unknown[];
      return;
    }
    out[o.mean] = nest(mu, shapeOf(o.mean));
    if (o.family === 'normal' && o.scale?.param) {
      // Σ r (x - mu)² per row = s2 - s1²/s0 (mu = s1/s0), per component and element.
      const ss = (k: number, e: number) => Math.max(s2[k * E + e] - s1[k * E + e] ** 2 / Math.max(s0[k], 1e-300), 0);
      const shape = shapeOf(o.scale.param);
      const size = shape.reduce((a, b) => a * b, 1);
      const oldS = shape.length ? flatOld(o.scale.param) : Float64Array.of(old[o.scale.param] as number);
      const v = new Float64Array(size);
      if (o.scale.tied) {
        // One scale pooled over components (and over elements when it is a scalar).
        for (let j = 0; j < size; j++) {
          let num = 0;
          let den = 0;
          for (let k = 0; k < K; k++) for (let e = 0; e < E; e++) if (size === 1 || e === j) { num += ss(k, e); den += s0[k]; }
          v[j] = Math.sqrt(Math.max(num / den + reg, 1e-30));
        }
      } else {
        const per = size / K; // E (diagonal) or 1 (spherical)
        for (let k = 0; k < K; k++) for (let j = 0; j < per; j++) {
          if (!has(k)) { v[k * per + j] = oldS[k * per + j]; continue; }
          let num = 0;
          for (let e = 0; e < E; e++) if (per === 1 || e === j) num += ss(k, e);
          v[k * per + j] = Math.sqrt(Math.max(num / (s0[k] * (per === 1 ? E : 1)) + reg, 1e-30));
        }
      }
      out[o.scale.param] = shape.length ? nest(v, shape) as unknown[] : v[0];
    }
    if (o.family === 'mvnormal' && o.scale?.param) {
      const D = E;
      const cov = (k: number) => Array.from({ length: D }, (_, a) => Array.from({ length: D }, (_, b) => s2[k * D * D + a * D + b] - s0[k] * mu[k * D + a] * mu[k * D + b]));
      const fin = (S: number[][], n: number) => {
        const C = S.map((r, a) => r.map((v, b) => v / n + (a === b ? reg : 0)));
        return o.scale!.kind === 'cov' ? C : choleskyF64(C);
      };
      if (o.scale.tied) {
        const S = Array.from({ length: D }, () => new Array<number>(D).fill(0));
        let n = 0;
        for (let k = 0; k < K; k++) { const c = cov(k); n += s0[k]; for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) S[a][b] += c[a][b]; }
        out[o.scale.param] = fin(S, n);
      } else {
        const prev = old[o.scale.param] as unknown[];
        out[o.scale.param] = Array.from({ length: K }, (_, k) => (has(k) ? fin(cov(k), s0[k]) : prev[k]));
      }
    }
  });
  return out;
}

/**
 * Online EM over a stream of data chunks (each a data object with the rows of the chunk;
 * `opts.data` holds what every chunk shares). Resolves to the final estimate.
 *
 * @example
 * const fit = await onlineEm(model, chunksOf(x, 500), { data: { K: 3 }, passes: 3 });
 */
export async function onlineEm(model: Bindable, chunks: ChunkSource, opts: OnlineEmOptions = {}): Promise<OnlineEmResult> {
  const t0 = performance.now();
  const passes = Math.max(1, opts.passes ?? 1);
  const step = opts.stepSize ?? ((t: number) => (t + 2) ** -0.6);
  const reg = opts.regCovar ?? 1e-6;
  const shared = opts.data ?? {};
  let pl: ReturnType<typeof plan> | undefined;
  let values: Record<string, number | unknown[]> | undefined;
  let stats: Stats | undefined;
  /** Shapes (past the row axis) of each chunk's data, from the first chunk. */
  let layout: Map<string, string> | undefined;
  const trace: number[] = [];
  let updates = 0;
  let rows = 0;
  for (let pass = 0; pass < passes; pass++) {
    const src = typeof chunks === 'function' ? chunks() : chunks;
    let index = 0;
    for await (const chunk of eachChunk(src)) {
      const where = `onlineEm: chunk ${index + 1} (pass ${pass + 1})`;
      const shape = chunkLayout(chunk);
      if (!layout) layout = shape;
      else {
        for (const [k, s] of layout) {
          if (!shape.has(k)) throw new Error(`${where}: data '${k}' is missing (the first chunk had it, with rows of shape ${s})`);
          if (shape.get(k) !== s) throw new Error(`${where}: data '${k}' has rows of shape ${shape.get(k)}, but the first chunk's had ${s}`);
        }
        for (const k of shape.keys()) if (!layout.has(k)) throw new Error(`${where}: data '${k}' was not in the first chunk`);
      }
      let bm: BoundModel;
      try {
        bm = model.bind({ ...shared, ...chunk });
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`);
      }
      try {
        if (!pl) {
          pl = plan(bm);
          const start = { seed: opts.seed ?? 1, maxIter: 0, regCovar: reg };
          // Starting values go through the unconstrained space (their constraints checked there).
          const init = opts.init;
          values = init ? await runAsync((function* () { return yield* constrainSteps(bm, yield* unconstrainSteps(bm, init)); })())
            : (canReadSync() ? em(bm, start) : await emAsync(bm, start)).params;
        }
        const { stats: s, logLik, n } = await chunkStats(bm, pl, values!);
        const gamma = stats ? step(updates) : 1;
        if (!(gamma > 0 && gamma <= 1)) throw new Error(`onlineEm: stepSize(${updates}) = ${gamma}; step sizes must be in (0, 1]`);
        stats = stats ? blend(stats, s, gamma) : s;
        values = mStepFromStats(bm, pl, stats, values!, reg);
        trace.push(logLik);
        opts.onChunk?.(pass, index, logLik);
        updates++;
        rows += n;
      } finally {
        bm.dispose();
      }
      index++;
    }
    if (index === 0) {
      throw new Error(`onlineEm: the chunk source gave no chunks on pass ${pass + 1}${pass > 0 ? '; for several passes give an array or a function returning a fresh iterable (a generator can be read once)' : ''}`);
    }
  }
  return { params: values!, updates, passes, rows, trace, seconds: (performance.now() - t0) / 1000 };
}

function blend(a: Stats, b: Stats, g: number): Stats {
  const mix = (x: Float64Array, y: Float64Array) => Float64Array.from(x, (v, i) => (1 - g) * v + g * y[i]);
  const w = mix(a.w, b.w);
  return { w, obs: a.obs.map((o, i) => ({ s0: w, s1: mix(o.s1, b.obs[i].s1), s2: mix(o.s2, b.obs[i].s2) })) };
}

/** Each data variable's shape past the row axis, as text (scalars: 'scalar'). */
function chunkLayout(chunk: DataInput): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(chunk)) {
    let shape: number[];
    if (typeof v === 'number' || typeof v === 'boolean') shape = [];
    else if (Array.isArray(v)) {
      shape = [];
      let cur: unknown = v;
      while (Array.isArray(cur)) { shape.push(cur.length); cur = cur[0]; }
    } else shape = [...(v as { shape: number[] }).shape];
    out.set(k, shape.length ? `[${['rows', ...shape.slice(1)].join(', ')}]` : 'scalar');
  }
  return out;
}
