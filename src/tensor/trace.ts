/**
 * Record once, replay in float64 JavaScript: a fast path for the small, sequential
 * gradient evaluations MCMC makes.
 *
 * A call of `potentialTensor(u)` on a small model dispatches hundreds of tfjs kernels of
 * a few hundred elements each; the dispatch (not the arithmetic) costs ~20 µs a kernel,
 * so one gradient takes milliseconds. The evaluator's graph is static for a fixed model
 * and data (no control flow on parameter values), so we run it once with every kernel
 * call recorded, fold everything that does not depend on `u` into constants, and lower
 * the remaining kernels to a handful of float64 primitives (element moves, elementwise
 * maps, broadcasting binaries, reductions, matmul, cumsum, select) with their vector–
 * Jacobian products. Replay is a tight loop over typed arrays and gives value and
 * gradient in float64. A kernel the lowering does not know makes `traceFunction` throw
 * `TraceUnsupportedError`; callers fall back to the tensor path.
 */
import * as tf from '@tensorflow/tfjs';
import {
  compileProgram, lowerKernel, TraceUnsupportedError, type LoweredNode, type KernelCall,
} from './replay-kernels';

export { TraceUnsupportedError };

interface EngineLike {
  runKernel(kernelName: string, inputs: Record<string, tf.TensorInfo>, attrs?: Record<string, unknown>): tf.TensorInfo | tf.TensorInfo[];
  readSync(dataId: object): ArrayLike<number>;
  read(dataId: object): Promise<ArrayLike<number>>;
}

/** A recorded program: value and gradient of a scalar function of a flat vector, in float64. */
export class TracedFunction {
  private readonly vals: Float64Array[];
  private readonly adj: Float64Array[];
  constructor(
    readonly dim: number,
    private readonly nodes: LoweredNode[],
    private readonly slotSizes: number[],
    constants: Map<number, Float64Array>,
    private readonly inputSlot: number,
    private readonly outputSlot: number,
    private readonly outputConst: number | null,
    liveSlots: readonly number[] = [],
  ) {
    this.program = compileProgram(nodes, slotSizes, { keep: outputSlot >= 0 ? [outputSlot] : [] });
    // Values and adjoints the compiled program keeps in locals of a fused loop are never
    // read or written: no arrays for them.
    const localVal = new Set(this.program?.internal ?? []);
    const localAdj = new Set(this.program?.localAdjoints ?? []);
    this.vals = slotSizes.map((n, i) => constants.get(i) ?? new Float64Array(localVal.has(i) ? 0 : n));
    this.adj = slotSizes.map((n, i) => new Float64Array(localAdj.has(i) ? 0 : n));
    // Only parameter-dependent slots ever receive adjoints; those the compiled backward
    // zeroes behind itself need no fill before the next pass (unless one was interrupted).
    const live = [...new Set(liveSlots)];
    this.liveAdj = live.map((i) => this.adj[i]);
    const cleared = new Set(this.program?.cleared ?? []);
    this.dirtyAdj = live.filter((i) => !cleared.has(i)).map((i) => this.adj[i]);
    this.zeroDirty = zeroer(this.dirtyAdj);
  }

  /** Sets every array of `dirtyAdj` to zero (element stores for small ones, not a fill call each). */
  private readonly zeroDirty: (arrays: Float64Array[]) => void;

  private readonly liveAdj: Float64Array[];
  private readonly dirtyAdj: Float64Array[];
  /** True while a backward pass runs, so a thrown pass leaves every adjoint to refill. */
  private inBackward = false;

  private readonly program: ReturnType<typeof compileProgram>;

  /** Number of lowered operations replayed per evaluation. */
  get size(): number {
    return this.nodes.length;
  }

  /** The function's value at `u` (the first element for a vector function). */
  value(u: ArrayLike<number>): number {
    if (this.outputConst !== null) return this.outputConst;
    this.vals[this.inputSlot].set(u);
    if (this.program) this.program.forward(this.vals);
    else for (const n of this.nodes) n.forward(this.vals);
    return this.vals[this.outputSlot][0];
  }

  /** The whole output at `u`, flattened (a copy). */
  evaluate(u: ArrayLike<number>): Float64Array {
    if (this.outputConst !== null) return Float64Array.of(this.outputConst);
    this.value(u);
    return this.vals[this.outputSlot].slice();
  }

  /** The value at `u`; writes the gradient into `grad`. */
  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number {
    if (u.length !== this.dim) throw new RangeError(`expected a vector of length ${this.dim}, got ${u.length}`);
    if (this.outputConst !== null) {
      grad.fill(0);
      return this.outputConst;
    }
    const v = this.value(u);
    if (this.program && !this.inBackward) this.zeroDirty(this.dirtyAdj);
    else for (const a of this.liveAdj) a.fill(0);
    this.adj[this.outputSlot][0] = 1;
    if (this.program) {
      this.inBackward = true;
      this.program.backward(this.vals, this.adj);
      this.inBackward = false;
    } else for (let i = this.nodes.length - 1; i >= 0; i--) this.nodes[i].backward(this.vals, this.adj);
    grad.set(this.adj[this.inputSlot]);
    return v;
  }
}

/**
 * A function that zeroes the given arrays: small ones element by element in generated
 * straight-line code (a `fill` call per array costs more than the stores on the ~30
 * arrays of a few elements a small model leaves), larger ones by `fill`.
 */
function zeroer(arrays: readonly Float64Array[]): (arrays: Float64Array[]) => void {
  const plain = (as: Float64Array[]) => {
    for (const a of as) a.fill(0);
  };
  const lines = arrays.map((a, k) => (a.length <= 8 ? `{ const x = A[${k}]; ${Array.from({ length: a.length }, (_, j) => `x[${j}] = 0;`).join(' ')} }` : `A[${k}].fill(0);`));
  // V8 does not optimize very large functions: many arrays keep the loop.
  if (lines.length > 400) return plain;
  try {
    return new Function('A', lines.join('\n')) as (arrays: Float64Array[]) => void;
  } catch {
    return plain;
  }
}

/**
 * Records `f` at `u0` (length `dim`) and returns its float64 replay. `f` must build a
 * scalar from `u` with tfjs ops and no control flow on the values of `u`; every tensor it
 * reads that does not depend on `u` is frozen at its value now.
 */
export function traceFunction(f: (u: tf.Tensor) => tf.Tensor, u0: ArrayLike<number>, opts: { vector?: boolean } = {}): TracedFunction {
  const engine = tf.engine() as unknown as EngineLike;
  const dim = u0.length;
  const slotOf = new Map<object, number>();
  const slotSizes: number[] = [];
  const constants = new Map<number, Float64Array>();
  const nodes: LoweredNode[] = [];
  const newSlot = (size: number) => {
    slotSizes.push(size);
    return slotSizes.length - 1;
  };
  let depth = 0;
  let failure: Error | null = null;
  const original = engine.runKernel;
  const hadOwn = Object.prototype.hasOwnProperty.call(engine, 'runKernel');

  const slotFor = (info: tf.TensorInfo): number => {
    let s = slotOf.get(info.dataId);
    if (s === undefined) {
      // Not produced by a recorded kernel: a constant (data, or a tensor made outside).
      const size = info.shape.reduce((p, q) => p * q, 1);
      s = newSlot(size);
      constants.set(s, Float64Array.from(originalRead.call(engine, info.dataId)));
      slotOf.set(info.dataId, s);
    }
    return s;
  };
  const live = new Set<object>();
  const liveSlots: number[] = [];
  const originalRead = engine.readSync;
  const originalReadAsync = engine.read;
  const hadOwnRead = Object.prototype.hasOwnProperty.call(engine, 'readSync');
  const hadOwnReadAsync = Object.prototype.hasOwnProperty.call(engine, 'read');
  // Reading a parameter-dependent value means the JS code may branch on it, or build a
  // tensor from it outside any kernel: the recording would not be the function.
  const guardRead = (dataId: object) => {
    if (live.has(dataId) && !failure) failure = new TraceUnsupportedError('the function reads a value that depends on its input (dataSync or data), so it cannot be replayed');
  };
  engine.readSync = function (this: EngineLike, dataId: object) {
    guardRead(dataId);
    return originalRead.call(this, dataId);
  };
  engine.read = function (this: EngineLike, dataId: object) {
    guardRead(dataId);
    return originalReadAsync.call(this, dataId);
  };

  engine.runKernel = function (this: EngineLike, kernelName, inputs, attrs) {
    if (depth > 0 || failure) return original.call(this, kernelName, inputs, attrs);
    depth++;
    let out: tf.TensorInfo | tf.TensorInfo[];
    try {
      out = original.call(this, kernelName, inputs, attrs);
    } finally {
      depth--;
    }
    const outs = Array.isArray(out) ? out : [out];
    const names = Object.keys(inputs);
    const isLive = names.some((k) => inputs[k] != null && live.has(inputs[k].dataId));
    if (!isLive) return out;
    depth++;
    try {
      const call: KernelCall = {
        kernelName,
        attrs: (attrs ?? {}) as Record<string, unknown>,
        inputs: names.map((k) => {
          const t = inputs[k];
          return { name: k, shape: t.shape.slice(), dtype: t.dtype, live: live.has(t.dataId), slot: slotFor(t) };
        }),
        outputs: outs.map((o) => ({ shape: o.shape.slice(), dtype: o.dtype, slot: newSlot(o.shape.reduce((p, q) => p * q, 1)) })),
        infos: names.map((k) => inputs[k]),
        arrayInputs: Array.isArray(inputs),
      };
      const lowered = lowerKernel(call, engine);
      if (lowered === 'alias') {
        slotOf.set(outs[0].dataId, call.inputs[0].slot);
        live.add(outs[0].dataId);
        return out;
      }
      if (lowered === 'constant') {
        // The output does not depend on the input's values (zerosLike, shape queries).
        call.outputs.forEach((o, i) => constants.set(o.slot, Float64Array.from(originalRead.call(engine, outs[i].dataId))));
      } else {
        nodes.push(...lowered);
        outs.forEach((o) => live.add(o.dataId));
        call.outputs.forEach((o) => liveSlots.push(o.slot));
      }
      call.outputs.forEach((o, i) => slotOf.set(outs[i].dataId, o.slot));
    } catch (e) {
      failure = e as Error;
    } finally {
      depth--;
    }
    return out;
  };

  let outputSlot = -1;
  let outputConst: number | null = null;
  let inputSlot = -1;
  try {
    tf.tidy(() => {
      const u = tf.tensor1d(Float32Array.from(u0));
      inputSlot = newSlot(dim);
      slotOf.set(u.dataId, inputSlot);
      live.add(u.dataId);
      const y = f(u);
      if (y.size !== 1 && !opts.vector) throw new RangeError(`traceFunction: f must return a scalar, got shape [${y.shape.join(', ')}]`);
      if (!live.has(y.dataId)) {
        if (y.size !== 1) throw new TraceUnsupportedError('the output does not depend on the input');
        outputConst = originalRead.call(engine, y.dataId)[0];
      } else outputSlot = slotOf.get(y.dataId)!;
    });
  } finally {
    if (hadOwn) engine.runKernel = original;
    else delete (engine as Partial<EngineLike>).runKernel;
    if (hadOwnRead) engine.readSync = originalRead;
    else delete (engine as Partial<EngineLike>).readSync;
    if (hadOwnReadAsync) engine.read = originalReadAsync;
    else delete (engine as Partial<EngineLike>).read;
  }
  if (failure) throw failure;
  return new TracedFunction(dim, nodes, slotSizes, constants, inputSlot, outputSlot, outputConst, [inputSlot, ...liveSlots]);
}
