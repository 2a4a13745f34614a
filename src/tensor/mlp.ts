/**
 * A small time-conditioned multilayer perceptron for score networks, trained by Adam.
 *
 * The network maps (x, t) ∈ R^d × [0, 1] to R^out: t enters through random Fourier
 * features [sin(2π w_j t), cos(2π w_j t)] (w_j ~ N(0, fourierScale²), fixed by the seed;
 * Tancik et al. 2020, as in Song et al. 2021's `GaussianFourierProjection`) concatenated with
 * x and t, followed by `layers` dense layers of width `hidden` with swish (x·σ(x)) or tanh,
 * and a linear output layer that starts at zero (so the untrained network predicts 0).
 * Weights start LeCun-normal (variance 1/fan-in) from a seeded key, so the same seed gives the
 * same network on every backend.
 *
 * All TensorFlow.js use of the score family stays in this file: callers pass and get plain
 * Float32Array/Float64Array values, and every call disposes what it makes (the training loop
 * keeps tf.memory().numTensors constant). Each method that reads a result has a `...Steps`
 * form in the host-read protocol (host-reads.ts): the plain method runs it with dataSync, the
 * `...Async` one with `await data()` (webgpu under Node.js), and callers that are themselves
 * steps (src/infer/score) compose it with `yield*`.
 */
import * as tf from '@tensorflow/tfjs';
import type { Scalar, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import { Key } from './random';
import { runAsync, runSync, readOwned, type HostSteps } from './host-reads';

/**
 * The angle 2π u of `u` cycles, range-reduced to [-π, π]: 2π (u - round(u)). WGSL's `sin` and
 * `cos` are only specified to an absolute 2^-11 inside [-π, π], and the Fourier features'
 * angles reach tens of radians (|w t| of a few cycles), so the reduction is done here, in
 * float32: u - round(u) is exact (Sterbenz), so the reduced angle carries only the rounding
 * of the product by 2π. round() has a zero gradient, so the derivative in u is still 2π.
 */
export function fourierAngle(u: Tensor): Tensor {
  return tf.tidy(() => tf.mul(tf.sub(u, tf.round(u)), 2 * Math.PI));
}

/** Options of {@link TimeMlp}. */
export interface TimeMlpOptions {
  /** Length of x. */
  dim: number;
  /** Length of the output (default dim: a vector field on R^dim). */
  outDim?: number;
  /** Width of the hidden layers (default 64). */
  hidden?: number;
  /** Number of hidden layers (default 3). */
  layers?: number;
  /** Hidden activation (default 'swish'). */
  activation?: 'swish' | 'tanh';
  /** Number of Fourier frequencies for t (default 8, so 16 features). */
  fourier?: number;
  /** Standard deviation of the Fourier frequencies (default 2; t is expected in [0, 1]). */
  fourierScale?: number;
  /** Seed of the initial weights and frequencies (default 0). */
  seed?: number;
}

/** Options of one {@link TimeMlp.trainStep}. */
export interface AdamStepOptions {
  /** Learning rate of this step. */
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Returns a variable initialised from `init`, disposing `init` (tf.variable keeps its own reference to the data). */
function owned(init: Tensor, trainable: boolean): Variable {
  const v = tf.variable(init, trainable);
  init.dispose();
  return v;
}

function posInt(v: unknown, where: string, name: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/**
 * A time-conditioned MLP with its own Adam state. Call `dispose()` when done.
 *
 * @example
 * const net = new TimeMlp({ dim: 2, hidden: 32, layers: 2, seed: 1 });
 * const loss = net.trainStep(x, t, target, n, { lr: 1e-3 });   // Float32Arrays, n rows
 * const y = net.predict(x, n, 0.5);                            // Float64Array n×2
 * net.dispose();
 */
export class TimeMlp {
  readonly dim: number;
  readonly outDim: number;
  readonly hidden: number;
  readonly layers: number;
  readonly activation: 'swish' | 'tanh';
  /** Number of trainable numbers. */
  readonly numParams: number;
  private readonly freqs: Tensor2D; // 1×F, in cycles per unit t (the angle is 2π w t)
  private readonly weights: Variable[] = [];
  private readonly biases: Variable[] = [];
  private readonly m: Variable[] = [];
  private readonly v: Variable[] = [];
  private steps = 0;
  private disposed = false;

  constructor(opts: TimeMlpOptions) {
    const where = 'TimeMlp';
    this.dim = posInt(opts.dim, where, 'dim');
    this.outDim = posInt(opts.outDim ?? opts.dim, where, 'outDim');
    this.hidden = posInt(opts.hidden ?? 64, where, 'hidden');
    this.layers = posInt(opts.layers ?? 3, where, 'layers');
    const F = posInt(opts.fourier ?? 8, where, 'fourier', 0);
    const scale = opts.fourierScale ?? 2;
    if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`${where}: fourierScale must be a positive finite number, got ${scale}`);
    const act = opts.activation ?? 'swish';
    if (act !== 'swish' && act !== 'tanh') throw new RangeError(`${where}: activation must be 'swish' or 'tanh', got '${String(act)}'`);
    this.activation = act;
    const seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${seed}`);
    const [kFreq, kW] = Key.seed(seed).split(2);
    const fr = kFreq.rng();
    const f = new Float32Array(F);
    for (let j = 0; j < F; j++) f[j] = scale * fr.normal();
    this.freqs = tf.keep(tf.tensor2d(f, [1, F]));
    const rng = kW.rng();
    const sizes = [this.dim + 1 + 2 * F, ...Array<number>(this.layers).fill(this.hidden), this.outDim];
    let count = 0;
    for (let l = 0; l + 1 < sizes.length; l++) {
      const fanIn = sizes[l];
      const fanOut = sizes[l + 1];
      const last = l + 2 === sizes.length;
      const w = new Float32Array(fanIn * fanOut);
      if (!last) {
        const sd = 1 / Math.sqrt(fanIn);
        for (let i = 0; i < w.length; i++) w[i] = sd * rng.normal();
      }
      this.weights.push(owned(tf.tensor2d(w, [fanIn, fanOut]), true));
      this.biases.push(owned(tf.zeros([fanOut]), true));
      count += w.length + fanOut;
    }
    for (const p of this.params()) {
      this.m.push(owned(tf.zerosLike(p), false));
      this.v.push(owned(tf.zerosLike(p), false));
    }
    this.numParams = count;
  }

  private params(): Variable[] {
    return [...this.weights, ...this.biases];
  }

  private check(where: string): void {
    if (this.disposed) throw new RangeError(`${where}: the network was disposed`);
  }

  /** The forward pass on tensors (n×dim, n×1) → n×outDim; call inside tf.tidy. */
  private forward(x: Tensor, t: Tensor): Tensor2D {
    const ang = fourierAngle(tf.matMul(t as Tensor2D, this.freqs));
    let h = tf.concat([x as Tensor2D, t as Tensor2D, tf.sin(ang), tf.cos(ang)], 1) as Tensor2D;
    const L = this.weights.length;
    for (let l = 0; l < L; l++) {
      const z = tf.add(tf.matMul(h, this.weights[l]), this.biases[l]) as Tensor2D;
      if (l + 1 === L) return z;
      h = this.activation === 'swish' ? (tf.mul(z, tf.sigmoid(z)) as Tensor2D) : tf.tanh(z);
    }
    return h;
  }

  private inputs(x: ArrayLike<number>, n: number, t: number | ArrayLike<number>, where: string): [Tensor2D, Tensor2D] {
    posInt(n, where, 'n');
    if (x.length !== n * this.dim) throw new RangeError(`${where}: x has ${x.length} values, expected n·dim = ${n}·${this.dim}`);
    const xs = x instanceof Float32Array ? x : Float32Array.from(x);
    let ts: Float32Array;
    if (typeof t === 'number') {
      if (!Number.isFinite(t)) throw new RangeError(`${where}: t = ${t} is not finite`);
      ts = new Float32Array(n).fill(t);
    } else {
      if (t.length !== n) throw new RangeError(`${where}: t has ${t.length} values, expected n = ${n}`);
      ts = t instanceof Float32Array ? t : Float32Array.from(t);
    }
    return [tf.tensor2d(xs, [n, this.dim]), tf.tensor2d(ts, [n, 1])];
  }

  /** Returns the outputs (n×outDim, float64 copy of the float32 values) at rows x and time(s) t. */
  predict(x: ArrayLike<number>, n: number, t: number | ArrayLike<number>): Float64Array {
    return runSync(this.predictSteps(x, n, t));
  }

  /** {@link predict} with the read awaited (any backend; webgpu under Node.js needs it). */
  predictAsync(x: ArrayLike<number>, n: number, t: number | ArrayLike<number>): Promise<Float64Array> {
    return runAsync(this.predictSteps(x, n, t));
  }

  /** {@link predict} as host-read steps. */
  *predictSteps(x: ArrayLike<number>, n: number, t: number | ArrayLike<number>): HostSteps<Float64Array> {
    this.check('TimeMlp.predict');
    const out = tf.tidy(() => {
      const [xs, ts] = this.inputs(x, n, t, 'TimeMlp.predict');
      return this.forward(xs, ts);
    });
    return Float64Array.from((yield* readOwned([out]))[0]);
  }

  /**
   * Returns the outputs and, per row, the divergence Σ_i ∂out_i/∂x_i (needs outDim = dim):
   * exact by dim backward passes when `probe` is undefined, else Hutchinson's vᵀ(∂out/∂x)v
   * with v the probe's row (one backward pass).
   */
  predictWithDivergence(x: ArrayLike<number>, n: number, t: number, probe?: ArrayLike<number>): { out: Float64Array; div: Float64Array } {
    return runSync(this.predictWithDivergenceSteps(x, n, t, probe));
  }

  /** {@link predictWithDivergence} with the reads awaited. */
  predictWithDivergenceAsync(x: ArrayLike<number>, n: number, t: number, probe?: ArrayLike<number>): Promise<{ out: Float64Array; div: Float64Array }> {
    return runAsync(this.predictWithDivergenceSteps(x, n, t, probe));
  }

  /** {@link predictWithDivergence} as host-read steps. */
  *predictWithDivergenceSteps(x: ArrayLike<number>, n: number, t: number, probe?: ArrayLike<number>): HostSteps<{ out: Float64Array; div: Float64Array }> {
    const where = 'TimeMlp.predictWithDivergence';
    this.check(where);
    if (this.outDim !== this.dim) throw new RangeError(`${where}: the divergence needs outDim = dim (${this.outDim} ≠ ${this.dim})`);
    if (probe && probe.length !== n * this.dim) throw new RangeError(`${where}: probe has ${probe.length} values, expected ${n * this.dim}`);
    const [o, dv] = tf.tidy(() => {
      const [xs, ts] = this.inputs(x, n, t, where);
      const out = this.forward(xs, ts);
      let div: Tensor;
      if (probe) {
        const v = tf.tensor2d(probe instanceof Float32Array ? probe : Float32Array.from(probe), [n, this.dim]);
        const g = tf.grad((xx: Tensor) => tf.sum(tf.mul(this.forward(xx, ts), v)))(xs);
        div = tf.sum(tf.mul(g, v), 1);
      } else {
        div = tf.zeros([n]);
        for (let i = 0; i < this.dim; i++) {
          const g = tf.grad((xx: Tensor) => tf.sum(tf.slice(this.forward(xx, ts), [0, i], [n, 1])))(xs);
          div = tf.add(div, tf.reshape(tf.slice(g, [0, i], [n, 1]), [n]));
        }
      }
      return [out, div];
    });
    const [ov, dvv] = yield* readOwned([o, dv]);
    return { out: Float64Array.from(ov), div: Float64Array.from(dvv) };
  }

  /**
   * One Adam step (Kingma & Ba 2015, with bias correction) on the mean squared error
   * (1/n) Σ_rows ‖net(x, t) − target‖²; returns the loss before the step. x is n×dim, t has
   * n entries, target is n×outDim.
   */
  trainStep(x: Float32Array, t: Float32Array, target: Float32Array, n: number, opts: AdamStepOptions): number {
    return runSync(this.trainStepSteps(x, t, target, n, opts));
  }

  /** {@link trainStep} with the loss's read awaited. */
  trainStepAsync(x: Float32Array, t: Float32Array, target: Float32Array, n: number, opts: AdamStepOptions): Promise<number> {
    return runAsync(this.trainStepSteps(x, t, target, n, opts));
  }

  /** {@link trainStep} as host-read steps: the update is made before the loss is read. */
  *trainStepSteps(x: Float32Array, t: Float32Array, target: Float32Array, n: number, opts: AdamStepOptions): HostSteps<number> {
    const where = 'TimeMlp.trainStep';
    this.check(where);
    if (target.length !== n * this.outDim) throw new RangeError(`${where}: target has ${target.length} values, expected n·outDim = ${n * this.outDim}`);
    const { lr } = opts;
    if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`${where}: lr must be a positive finite number, got ${lr}`);
    const b1 = opts.beta1 ?? 0.9;
    const b2 = opts.beta2 ?? 0.999;
    const eps = opts.eps ?? 1e-8;
    this.steps++;
    const lrT = (lr * Math.sqrt(1 - Math.pow(b2, this.steps))) / (1 - Math.pow(b1, this.steps));
    const params = this.params();
    const loss = tf.tidy(() => {
      const [xs, ts] = this.inputs(x, n, t, where);
      const y = tf.tensor2d(target, [n, this.outDim]);
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.sum(tf.square(tf.sub(this.forward(xs, ts), y)), 1)) as Scalar,
        params,
      );
      params.forEach((p, i) => {
        const g = grads[p.name];
        const m = this.m[i];
        const v = this.v[i];
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        p.assign(tf.sub(p, tf.mul(tf.div(m, tf.add(tf.sqrt(v), eps)), lrT)));
      });
      return value;
    });
    return (yield* readOwned([loss]))[0][0];
  }

  /** Adam steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** Returns copies of the weights and biases, layer by layer ([W0, b0, W1, b1, ...]). */
  getWeights(): Float32Array[] {
    this.check('TimeMlp.getWeights');
    const out: Float32Array[] = [];
    for (let l = 0; l < this.weights.length; l++) {
      out.push(Float32Array.from(this.weights[l].dataSync()), Float32Array.from(this.biases[l].dataSync()));
    }
    return out;
  }

  /** Frees the network's tensors; later calls throw. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [this.freqs, ...this.weights, ...this.biases, ...this.m, ...this.v]) t.dispose();
  }
}
