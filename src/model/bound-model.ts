/**
 * A model with its data bound: the one log-density layer every inference family uses
 * (NumPyro's `log_density` / `potential_energy` / `postprocess`). MCMC and VI only see
 * `potential` over the flat unconstrained vector and `constrain` to map draws back.
 */
import { tf, canReadSync, runAsync, runSync, readOwned, readValueAndGrad, type Tensor, type HostSteps } from '../tensor';
import { traceFunction, TraceUnsupportedError, type TracedFunction } from '../tensor/trace';
import { MixError, type Diagnostic } from '../diagnostics/diagnostic';
import type { Source } from '../diagnostics/span';
import type { IRProgram } from '../ir/types';
import { bind, type Bound, type ParamInfo } from './bind';
import { toNdArray, toNested, type DataInput, type DataValue } from './data';
import { EvalError, evalFactor, evalLets, expectedLogJoint, logJoint, probeShape, type Runtime } from './evaluate';

/** Parameter values keyed by name: numbers, nested arrays, or tensors. */
export type ParamValues = Readonly<Record<string, DataValue | Tensor>>;

export interface PotentialOptions {
  /** Add the log |Jacobian| of the constraining transform (default true: the density of u). */
  jacobian?: boolean;
  /** Include the priors (default true). */
  priors?: boolean;
  /**
   * Include the likelihood: every factor that is not a prior (default true). With
   * `likelihood: false` the potential is −(log prior + log |J|), cheap next to the
   * likelihood, so tempered targets need one likelihood pass (V_full = V_prior + V_lik).
   */
  likelihood?: boolean;
}

/** The potential as a plain float64 function, for the many small evaluations of MCMC. */
export interface PotentialFunction {
  readonly dim: number;
  /** True when the evaluator's kernels were recorded and are replayed in float64 JS. */
  readonly traced: boolean;
  /** Why the potential could not be traced (it then runs through the tensor evaluator). */
  readonly fallbackReason?: string;
  /** The potential at u; its gradient is written into `grad`. NaN/Inf are returned as they come. */
  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number;
  value(u: ArrayLike<number>): number;
  /**
   * The potentials at several points as one evaluation, each gradient written into
   * `grads[b]` (the tensor evaluator's: {@link BoundModel.potentialAndGradBatchSteps}; a
   * float64 replay has none, and callers evaluate point by point).
   */
  valuesAndGrads?(points: readonly ArrayLike<number>[], grads: readonly Float64Array[]): Float64Array;
}

export interface LogDensityOptions {
  /** Include the priors (`~` on parameters). Default true. */
  priors?: boolean;
}

/** Runs `f`; if it throws, disposes the tensors it put in `kept` (they outlive its tidies). */
function keepingOnFailure<T>(kept: Tensor[][], f: () => T): T {
  try {
    return f();
  } catch (e) {
    for (const ts of kept) tf.dispose(ts);
    throw e;
  }
}

/** The data elements × points bound of one batched evaluation (BoundModel.maxBatchPoints). */
const BATCH_DATA_ELEMENTS = 2 ** 20;

/** B points (rows of length dim, or their concatenation) as one Float32Array, checked. */
function flattenPoints(points: ArrayLike<number> | readonly ArrayLike<number>[], dim: number): Float32Array {
  const many = Array.isArray(points) && points.length > 0 && typeof points[0] !== 'number';
  if (many) {
    const rows = points as readonly ArrayLike<number>[];
    const out = new Float32Array(rows.length * dim);
    rows.forEach((r, b) => {
      if (r.length !== dim) throw new RangeError(`potentialAndGradBatch: point ${b} has length ${r.length}; expected ${dim} (the unconstrained parameters)`);
      out.set(r as ArrayLike<number>, b * dim);
    });
    return out;
  }
  const a = points as ArrayLike<number>;
  if (a.length === 0 || dim === 0 || a.length % dim !== 0) {
    throw new RangeError(`potentialAndGradBatch: expected one or more points of length ${dim} (the unconstrained parameters), got ${a.length} numbers`);
  }
  return Float32Array.from(a);
}

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'dataSync' in v && 'shape' in v;
}

export class BoundModel {
  readonly rt: Runtime;
  readonly params: readonly ParamInfo[];
  /** Length of the flat unconstrained parameter vector. */
  readonly dim: number;
  private disposed = false;
  /** Derived data tensors that inference caches per binding (e.g. EM's outer products); freed by dispose(). */
  readonly cache = new Map<string, Tensor>();
  private readonly potentialFns = new Map<string, PotentialFunction>();

  constructor(readonly ir: IRProgram, data: DataInput, readonly source?: Source) {
    let b: Bound;
    try {
      b = bind(ir, data);
    } catch (e) {
      throw asMixError(e, source);
    }
    this.rt = b.rt;
    this.params = b.params;
    this.dim = b.dim;
  }

  /** Releases the data tensors. */
  dispose(): void {
    if (this.disposed) return;
    for (const t of this.rt.data.values()) t.dispose();
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
    this.disposed = true;
  }

  /** Sizes as resolved from the data. */
  get sizes(): ReadonlyMap<string, number> {
    return this.rt.sizes;
  }

  /** Log joint density at constrained values (latents summed out), as a JS number. */
  logDensity(values: ParamValues, opts: LogDensityOptions = {}): number {
    return runSync(this.logDensitySteps(values, opts));
  }

  /** {@link logDensity} as host-read steps (`runAsync` runs them on webgpu). */
  *logDensitySteps(values: ParamValues, opts: LogDensityOptions = {}): HostSteps<number> {
    const lp = this.guard(() => tf.tidy(() => logJoint(this.rt, this.paramTensors(values), opts)));
    const v = (yield* readOwned([lp]))[0][0];
    if (Number.isNaN(v)) this.guard(() => this.explainNaN(values, opts));
    return v;
  }

  /** Log joint density at constrained tensor values; for use inside tf.tidy / tf.grad. */
  logDensityTensor(params: ReadonlyMap<string, Tensor>, opts: LogDensityOptions = {}): Tensor {
    return this.guard(() => logJoint(this.rt, params, opts));
  }

  /** Splits a flat unconstrained vector into constrained tensors, and the log |Jacobian|. */
  constrainTensor(u: Tensor): { params: Map<string, Tensor>; logDetJ: Tensor } {
    const params = new Map<string, Tensor>();
    let logDetJ: Tensor = tf.scalar(0);
    for (const p of this.params) {
      const block = tf.reshape(tf.slice(u, [p.offset], [p.size]), p.uShape);
      params.set(p.name, p.transform.forward(block));
      logDetJ = tf.add(logDetJ, tf.sum(p.transform.logDetJacobian(block)));
    }
    return { params, logDetJ };
  }

  /**
   * {@link constrainTensor} for a batch of points, the rows of `U` ([B, dim]): each
   * parameter's values with a leading axis of B, and the log |Jacobian| per point ([B]).
   */
  constrainBatchTensor(U: Tensor): { params: Map<string, Tensor>; logDetJ: Tensor } {
    const B = U.shape[0];
    const params = new Map<string, Tensor>();
    let logDetJ: Tensor = tf.zeros([B]);
    for (const p of this.params) {
      const block = tf.reshape(tf.slice(U, [0, p.offset], [B, p.size]), [B, ...p.uShape]);
      params.set(p.name, p.transform.forward(block));
      const ld = p.transform.logDetJacobian(block);
      logDetJ = tf.add(logDetJ, ld.rank > 1 ? tf.sum(ld, [...Array(ld.rank).keys()].slice(1)) : ld);
    }
    return { params, logDetJ };
  }

  /**
   * The potential at each row of `U` ([B, dim]) as one evaluation: a [B] tensor whose entry b
   * is `potentialTensor(U[b])`. Every parameter carries the batch as a named dim through the
   * evaluator (src/model/evaluate.ts), so B points cost about one evaluation's ops (a chain
   * latent's B chains are one batched `chainLogZ`). The points do not interact: the gradient of the
   * sum with respect to U has row b equal to point b's gradient.
   */
  potentialBatchTensor(U: Tensor, opts: PotentialOptions = {}): Tensor {
    if (U.rank !== 2 || U.shape[1] !== this.dim) {
      throw new RangeError(`potentialBatch: expected points of shape [B, ${this.dim}] (one row of unconstrained parameters per point), got [${U.shape.join(', ')}]`);
    }
    const B = U.shape[0];
    const { params, logDetJ } = this.constrainBatchTensor(U);
    const lp = opts.likelihood === false
      ? (opts.priors === false ? tf.zeros([B]) : logJoint(this.priorRuntime(), params, { batch: B }))
      : logJoint(this.rt, params, { priors: opts.priors, batch: B });
    return tf.neg(opts.jacobian === false ? lp : tf.add(lp, logDetJ));
  }

  /**
   * How many points one batched evaluation takes (the batch methods split larger ones into
   * parts): a batch's intermediates are about B times one evaluation's, which grow with the
   * data, so B × (the data's elements) is kept within 2^20 (at least 1 point). Batching pays
   * where one evaluation is too small to keep the device busy (launch-bound); a large data
   * set fills it on its own.
   */
  maxBatchPoints(): number {
    let elements = 0;
    for (const t of this.rt.data.values()) elements += t.size;
    return Math.max(1, Math.floor(BATCH_DATA_ELEMENTS / Math.max(1, elements)));
  }

  /**
   * The potential and its gradient at B points (`points`: B rows of length dim, or their
   * concatenation) as one evaluation on the active backend and one read (host-read steps; see
   * {@link potentialBatchTensor}): `values[b]` and the gradient rows `grads[b]`.
   */
  *potentialAndGradBatchSteps(points: ArrayLike<number> | readonly ArrayLike<number>[], opts: PotentialOptions = {}): HostSteps<{ values: Float64Array; grads: Float64Array[] }> {
    return (yield* this.potentialsAndGradsBatchSteps(points, [opts]))[0];
  }

  /**
   * {@link potentialAndGradBatchSteps} for several potentials (one per entry of `optsList`,
   * e.g. a tempered target's prior and likelihood parts) at the same points, with one read.
   * More points than {@link maxBatchPoints} are evaluated in parts, one after another on the
   * backend, and read together.
   */
  *potentialsAndGradsBatchSteps(points: ArrayLike<number> | readonly ArrayLike<number>[], optsList: readonly PotentialOptions[]): HostSteps<{ values: Float64Array; grads: Float64Array[] }[]> {
    const flat = flattenPoints(points, this.dim);
    const d = this.dim;
    const B = flat.length / d;
    const size = this.maxBatchPoints();
    // Per part, per potential: the per-point values (kept from the forward pass: tf.grad
    // disposes what f makes besides its result) and the gradient rows.
    const rows: Tensor[] = [];
    const grads: Tensor[] = [];
    this.guard(() => keepingOnFailure([rows, grads], () => {
      for (let at = 0; at < B; at += size) {
        const n = Math.min(size, B - at);
        grads.push(...tf.tidy(() => {
          const U = tf.tensor2d(flat.subarray(at * d, (at + n) * d), [n, d]);
          return optsList.map((opts) => tf.grad((x: Tensor) => {
            const r = tf.keep(this.potentialBatchTensor(x, opts));
            rows.push(r);
            return tf.sum(r);
          })(U));
        }));
      }
    }));
    const read = yield* readOwned([...rows, ...grads]);
    const K = optsList.length;
    const parts = rows.length / K;
    return optsList.map((_, k) => {
      const values = new Float64Array(B);
      const g: Float64Array[] = [];
      for (let p = 0; p < parts; p++) {
        const v = read[p * K + k];
        const gr = read[rows.length + p * K + k];
        values.set(v as ArrayLike<number>, p * size);
        for (let b = 0; b < v.length; b++) g.push(Float64Array.from({ length: d }, (_y, i) => gr[b * d + i]));
      }
      return { values, grads: g };
    });
  }

  /**
   * -(log joint + log |J|) at a flat unconstrained point: the potential energy, a scalar
   * tensor. With `jacobian: false` it is minus the log density of the constrained values
   * (its minimum is the MAP estimate, as in Stan's optimizer); with `priors: false` the
   * priors are left out (maximum likelihood).
   */
  potentialTensor(u: Tensor, opts: PotentialOptions = {}): Tensor {
    const { params, logDetJ } = this.constrainTensor(u);
    const lp = opts.likelihood === false
      ? (opts.priors === false ? tf.scalar(0) : logJoint(this.priorRuntime(), params))
      : logJoint(this.rt, params, { priors: opts.priors });
    return tf.neg(opts.jacobian === false ? lp : tf.add(lp, logDetJ));
  }

  /** The runtime with the prior factors only (and the latents they mention, normally none). */
  private priorRuntime(): Runtime {
    const ir = this.rt.ir;
    const factors = ir.factors.filter((f) => f.kind === 'prior');
    const latents = ir.latents.filter((l) => factors.some((f) => f.latents.includes(l.name)));
    return { ...this.rt, ir: { ...ir, factors, latents } };
  }

  /**
   * The complete-data potential under fixed weights of the enumerated latents:
   * -(E_r[log p(data, latents, params)] + log |J|), with `weights` per latent of its probe
   * shape ([plates..., K]). With one-hot weights it is the potential given the latents'
   * values (Gibbs); it is linear in the weights, and its gradient with respect to them is
   * minus the table of log joint contributions of each value.
   */
  expectedPotentialTensor(u: Tensor, weights: ReadonlyMap<string, Tensor>, opts: PotentialOptions = {}): Tensor {
    const { params, logDetJ } = this.constrainTensor(u);
    const lp = expectedLogJoint(this.rt, params, weights, { priors: opts.priors });
    return tf.neg(opts.jacobian === false ? lp : tf.add(lp, logDetJ));
  }

  /** The shape of a latent's weights (probes): [plates..., K], or [T, K, K] for a chain. */
  latentWeightShape(name: string): number[] {
    return probeShape(this.rt, name);
  }

  /** The potential energy at a flat unconstrained point. */
  potential(u: ArrayLike<number>, opts: PotentialOptions = {}): number {
    return this.guard(() => {
      const v = tf.tidy(() => this.potentialTensor(tf.tensor1d(Float32Array.from(u)), opts));
      const x = v.dataSync()[0];
      v.dispose();
      return x;
    });
  }

  /** The potential energy and its gradient at a flat unconstrained point. */
  potentialAndGrad(u: ArrayLike<number>, opts: PotentialOptions = {}): { value: number; grad: Float64Array } {
    return runSync(this.potentialAndGradSteps(u, opts));
  }

  /**
   * `potentialAndGrad` with the results read asynchronously (`await t.data()`): the tensor
   * evaluator on the active backend, the path for webgpu, where the potential and its
   * gradient are computed on the device (large data: one pass over the rows per call).
   */
  potentialAndGradAsync(u: ArrayLike<number>, opts: PotentialOptions = {}): Promise<{ value: number; grad: Float64Array }> {
    return runAsync(this.potentialAndGradSteps(u, opts));
  }

  /**
   * `potentialAndGrad` as host-read steps: the potential and its gradient computed on the
   * active backend and read with one read, for drivers that compose steps (the optimizer's).
   */
  *potentialAndGradSteps(u: ArrayLike<number>, opts: PotentialOptions = {}): HostSteps<{ value: number; grad: Float64Array }> {
    if (u.length !== this.dim) throw new RangeError(`potentialAndGrad: expected a vector of length ${this.dim} (the unconstrained parameters), got ${u.length}`);
    const [value, grad] = this.guard(() => tf.tidy(() => {
      const f = (x: Tensor) => this.potentialTensor(x, opts);
      const r = tf.valueAndGrad(f)(tf.tensor1d(Float32Array.from(u)));
      return [r.value, r.grad];
    }));
    return yield* readValueAndGrad(value, grad);
  }

  /**
   * The potential as a `PotentialFunction` through the tensor evaluator (float32), never
   * traced: what `tensorPath` options run on. Several points go as one batched evaluation
   * (`valuesAndGrads`; one point alone as `valueAndGrad`), as the device's answers to a
   * worker's requests do.
   */
  tensorPotentialFunction(opts: PotentialOptions = {}): PotentialFunction {
    const valueAndGrad = (u: ArrayLike<number>, g: Float64Array): number => {
      const r = this.potentialAndGrad(u, opts);
      g.set(r.grad);
      return r.value;
    };
    return {
      dim: this.dim, traced: false, valueAndGrad,
      value: (u) => this.potential(u, opts),
      valuesAndGrads: (points, grads) => {
        if (points.length !== grads.length) throw new RangeError(`valuesAndGrads: ${points.length} points but ${grads.length} gradient rows`);
        if (points.length === 1) return Float64Array.of(valueAndGrad(points[0], grads[0]));
        const r = runSync(this.potentialAndGradBatchSteps(points, opts));
        r.grads.forEach((g, b) => grads[b].set(g));
        return r.values;
      },
    };
  }

  /**
   * The potential as a float64 function: the tensor evaluator is recorded once and its
   * kernels replayed in JavaScript (src/tensor/trace.ts), ~50x faster than a tfjs call for
   * small models. Falls back to `potentialAndGrad` when the evaluation cannot be traced
   * (`traced` says which; `fallbackReason` why). Cached per options.
   */
  potentialFunction(opts: PotentialOptions = {}): PotentialFunction {
    const key = `${opts.jacobian !== false}/${opts.priors !== false}/${opts.likelihood !== false}`;
    const hit = this.potentialFns.get(key);
    if (hit) return hit;
    let fn: PotentialFunction;
    try {
      const u0 = new Float64Array(this.dim).fill(0.1);
      const tr: TracedFunction = this.guard(() => traceFunction((u) => this.potentialTensor(u, opts), u0));
      fn = { dim: this.dim, traced: true, valueAndGrad: (u, g) => tr.valueAndGrad(u, g), value: (u) => tr.value(u) };
    } catch (e) {
      if (!(e instanceof TraceUnsupportedError)) throw e;
      fn = { ...this.tensorPotentialFunction(opts), fallbackReason: e.message };
    }
    this.potentialFns.set(key, fn);
    return fn;
  }

  /**
   * Constrained values of every parameter, flattened row-major in declaration order, as
   * one float64 function of u (traced like `potentialFunction`; tensor path otherwise).
   * `names` gives each element's dotted name (`mu.1`, `Sigma.2.1`, 1-based as in Stan).
   */
  constrainedFunction(): { names: string[]; traced: boolean; evaluate(u: ArrayLike<number>): Float64Array } {
    const names: string[] = [];
    for (const p of this.params) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      for (let i = 0; i < n; i++) {
        let rem = i;
        const idx: number[] = [];
        for (let d = p.shape.length - 1; d >= 0; d--) {
          idx.unshift((rem % p.shape[d]) + 1);
          rem = Math.floor(rem / p.shape[d]);
        }
        names.push([p.name, ...idx].join('.'));
      }
    }
    if (this.params.length === 0) return { names, traced: true, evaluate: () => new Float64Array(0) };
    const flat = (u: Tensor) => {
      const { params } = this.constrainTensor(u);
      return tf.concat(this.params.map((p) => tf.reshape(params.get(p.name)!, [-1])));
    };
    try {
      const tr = this.guard(() => traceFunction(flat, new Float64Array(this.dim).fill(0.1), { vector: true }));
      return { names, traced: true, evaluate: (u) => tr.evaluate(u) };
    } catch (e) {
      if (!(e instanceof TraceUnsupportedError)) throw e;
      return {
        names, traced: false,
        evaluate: (u) => {
          const t = tf.tidy(() => flat(tf.tensor1d(Float32Array.from(u))));
          const out = Float64Array.from(t.dataSync());
          t.dispose();
          return out;
        },
      };
    }
  }

  /** Maps a flat unconstrained vector to constrained values (nested arrays). */
  constrain(u: ArrayLike<number>): Record<string, number | unknown[]> {
    if (u.length !== this.dim) throw new RangeError(`expected an unconstrained vector of length ${this.dim}, got ${u.length}`);
    const out: Record<string, number | unknown[]> = {};
    tf.tidy(() => {
      const { params } = this.constrainTensor(tf.tensor1d(Float32Array.from(u)));
      for (const p of this.params) out[p.name] = toNested(params.get(p.name)!.dataSync(), p.shape);
    });
    return out;
  }

  /** Maps constrained values to the flat unconstrained vector. Throws naming a value outside its support. */
  unconstrain(values: ParamValues): Float64Array {
    const out = new Float64Array(this.dim);
    tf.tidy(() => {
      const params = this.paramTensors(values);
      for (const p of this.params) {
        let u: Tensor;
        try {
          u = p.transform.inverse(params.get(p.name)!);
        } catch (e) {
          throw new MixError([{ severity: 'error', code: 'E0640', message: `parameter '${p.name}': ${(e as Error).message}` }], this.source);
        }
        out.set(u.dataSync(), p.offset);
      }
    });
    return out;
  }

  /**
   * Posterior marginals of every enumerated latent given the parameters: for a latent
   * in plates P with K values, an array of shape [...P sizes, K]; for a chain, [T, K]
   * (and `pairwise`, [T, K, K]: P(z[t-1] = i, z[t] = j | data), row 1 unused).
   * Computed as d log Z / d (log potential), which is forward-backward for chains.
   */
  latentMarginals(values: ParamValues): Record<string, LatentMarginal> {
    return runSync(this.latentMarginalsSteps(values));
  }

  /** {@link latentMarginals} as host-read steps (`runAsync` runs them on webgpu). */
  *latentMarginalsSteps(values: ParamValues): HostSteps<Record<string, LatentMarginal>> {
    const names: string[] = [];
    const ts = this.guard(() => tf.tidy(() => {
      const { marginals } = this.marginalsTensor(this.paramTensors(values));
      const read: Tensor[] = [];
      for (const [z, m] of marginals) {
        names.push(z);
        // A chain: the unary marginals, then the pairwise ones.
        if (this.rt.latents.get(z)!.node.chain) read.push(tf.sum(m, 1), m);
        else read.push(m);
      }
      return read;
    }));
    const vals = yield* readOwned(ts);
    const out: Record<string, LatentMarginal> = {};
    let i = 0;
    for (const z of names) {
      const info = this.rt.latents.get(z)!;
      const support = Array.from({ length: info.K }, (_, k) => info.offset + k);
      out[z] = { shape: ts[i].shape, values: Float64Array.from(vals[i]), support };
      i++;
      if (info.node.chain) out[z].pairwise = Float64Array.from(vals[i++]);
    }
    return out;
  }

  /**
   * The log marginal density (latents summed out) and the posterior marginals of every
   * latent (see `probes` in LogJointOptions) at tensor values: EM's E-step.
   */
  marginalsTensor(params: ReadonlyMap<string, Tensor>, opts: LogDensityOptions = {}): { logZ: Tensor; marginals: Map<string, Tensor> } {
    const names = [...this.rt.latents.keys()];
    if (names.length === 0) return { logZ: logJoint(this.rt, params, opts), marginals: new Map() };
    const probes = names.map((z) => tf.zeros(probeShape(this.rt, z)));
    const f = (...ps: Tensor[]) => logJoint(this.rt, params, { ...opts, probes: new Map(names.map((z, i) => [z, ps[i]])) });
    const { value, grads } = tf.valueAndGrads(f)(probes);
    return { logZ: value, marginals: new Map(names.map((z, i) => [z, grads[i]])) };
  }

  /** Per-factor log densities at the given values (latents not summed), for diagnosing. */
  factorLogDensities(values: ParamValues): { factor: number; value: number }[] {
    return tf.tidy(() => {
      const params = this.paramTensors(values);
      const ctx = { rt: this.rt, params, lets: evalLets(this.rt, params) };
      return this.ir.factors.map((f) => {
        const v = evalFactor(f, ctx);
        const t = v.dims.length ? tf.max(tf.where(tf.isNaN(v.t), tf.fill(v.t.shape, Infinity), v.t)) : v.t;
        const hasNaN = tf.any(tf.isNaN(v.t)).dataSync()[0];
        return { factor: f.id, value: hasNaN ? NaN : t.dataSync()[0] };
      });
    });
  }

  /** Values for every parameter as tensors, validated against the declared shapes. */
  paramTensors(values: ParamValues): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const problems: Diagnostic[] = [];
    for (const p of this.params) {
      const v = values[p.name];
      if (v === undefined) {
        problems.push({ severity: 'error', code: 'E0641', message: `no value for parameter '${p.name}' (shape [${p.shape.join(', ')}])` });
        continue;
      }
      let t: Tensor;
      if (isTensor(v)) t = v;
      else {
        const nd = toNdArray(p.name, v);
        if (!('values' in nd)) { problems.push(nd); continue; }
        t = tf.tensor(Float32Array.from(nd.values), nd.shape, 'float32');
      }
      if (t.shape.length !== p.shape.length || t.shape.some((n, i) => n !== p.shape[i])) {
        problems.push({ severity: 'error', code: 'E0642', message: `parameter '${p.name}' has shape [${t.shape.join(', ')}] but is declared with shape [${p.shape.join(', ')}]` });
        continue;
      }
      out.set(p.name, t);
    }
    if (problems.length) throw new MixError(problems, this.source);
    return out;
  }

  /** A NaN log density is never returned silently: find the statement that made it. */
  private explainNaN(values: ParamValues, opts: LogDensityOptions): never {
    // Finding the statement reads every factor synchronously; without such reads (webgpu under
    // Node.js) the error says only that the density is NaN.
    const per = canReadSync() ? this.factorLogDensities(values) : [];
    const bad = per.find((p) => Number.isNaN(p.value) && (opts.priors !== false || this.ir.factors[p.factor].kind !== 'prior'));
    const f = bad ? this.ir.factors[bad.factor] : undefined;
    throw new MixError([{
      severity: 'error', code: 'E0650',
      message: f ? 'this statement gives a NaN log density at the given values' : 'the log density is NaN at the given values',
      span: f?.span,
      help: 'check that distribution arguments are within their constraints (e.g. a scale must be positive)',
    }], this.source);
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw asMixError(e, this.source);
    }
  }
}

/** One latent's posterior marginals (see BoundModel.latentMarginals). */
export interface LatentMarginal {
  shape: number[];
  values: Float64Array;
  support: number[];
  pairwise?: Float64Array;
}

export function asMixError(e: unknown, source?: Source): unknown {
  if (e instanceof EvalError) return new MixError([e.diagnostic], source);
  if (e && typeof e === 'object' && 'diagnostics' in e && !(e instanceof MixError)) {
    return new MixError((e as { diagnostics: Diagnostic[] }).diagnostics, source);
  }
  return e;
}

