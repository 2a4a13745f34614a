/**
 * The float64 replay of recorded tfjs kernels (see trace.ts): each kernel that depends on
 * the traced input is lowered to primitives with a forward and a vector–Jacobian product.
 * Kernels that only move elements (reshape, slice, transpose, tile, gather by constant
 * indices, concat, pad, ...) are lowered generically: the kernel itself is run once on
 * index-valued inputs, and its output is the index map.
 */
import * as tf from '@tensorflow/tfjs';
import { CHAIN_LOGZ_KERNEL, chainBackwardJS, chainForwardJS } from './fused/chain';

/** A kernel the replay cannot lower, or a trace that read a parameter-dependent value. */
export class TraceUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceUnsupportedError';
  }
}

export interface KernelInput {
  name: string;
  shape: number[];
  dtype: string;
  live: boolean;
  slot: number;
}

export interface KernelCall {
  kernelName: string;
  attrs: Record<string, unknown>;
  inputs: KernelInput[];
  outputs: { shape: number[]; dtype: string; slot: number }[];
  infos: tf.TensorInfo[];
  /** The kernel took its inputs as an array (Concat, Pack) rather than by name. */
  arrayInputs: boolean;
}

/** One lowered operation over the slot arrays. */
export interface LoweredNode {
  forward(vals: Float64Array[]): void;
  backward(vals: Float64Array[], adj: Float64Array[]): void;
  /** Source of its forward / backward loop for the whole-program function (see `compileProgram`). */
  emit?(ctx: EmitContext, pass: 'forward' | 'backward'): string | undefined;
  /** Per-element body for a fused loop (see `compileProgram`); absent when the node cannot be fused. */
  fusion?(): FusionInfo | undefined;
  /** Every slot the node reads (values or, in backward, adjoints it accumulates into). */
  reads?(): number[];
  /**
   * Slots whose adjoint the emitted backward sets back to zero once read. Only a slot's
   * producer reads its adjoint, so the next pass needs no fill for it.
   */
  clearedByBackward?(): number[];
}

/**
 * A row-major affine index map over a loop of `prod(ext)` elements: element i, with digits
 * (i_0, ..., i_{r-1}) in the mixed radix `ext`, maps to sum_d i_d * st[d]. Broadcasting
 * and reduction maps are affine; the fused loops walk them with strided counters instead
 * of reading a per-element index array.
 */
export interface Affine {
  ext: number[];
  st: number[];
}

/** One operand a fused node reads: at `i`, or (`mapped`) through an index map, built by `index` only when needed. */
export interface FusionRead {
  slot: number;
  mapped: boolean;
  affine: Affine | null;
  index(): Int32Array;
  /** Partial derivative times d (in terms of the node's names, `d` and `y`); null: no adjoint flows. */
  grad: string | null;
}

/**
 * How a node joins a fused loop over `i` in [0, size of slot `loop`). An elementwise map
 * writes `out` at `i` from its operands (named `names` in `f`); a sum reduction adds its
 * input at `i` into `out` through its index map and scales by `scale` after the loop; a
 * max (min) reduction keeps the largest (smallest) input, NaN winning, and passes the
 * adjoint to every input equal to the extremum (tfjs's gradient).
 */
export type FusionInfo =
  | { kind: 'map'; loop: number; out: number; names: string[]; reads: FusionRead[]; f: string }
  | { kind: 'reduce'; loop: number; out: number; x: number; index(): Int32Array; affine: Affine | null; scale: number; op?: 'sum' | 'max' | 'min' };

/** The slots a fusion reads and the slot it writes (mapped for a reduction). */
function fusionReads(f: FusionInfo): { slot: number; mapped: boolean }[] {
  return f.kind === 'map' ? f.reads.map((r) => ({ slot: r.slot, mapped: r.mapped })) : [{ slot: f.x, mapped: false }];
}

/** Names for slot arrays and captured constants inside a generated program. */
export interface EmitContext {
  val(slot: number): string;
  adj(slot: number): string;
  /** Captures a value (an index map) and returns the expression that reads it. */
  constant(x: unknown): string;
}

interface EngineLike {
  runKernel(kernelName: string, inputs: Record<string, tf.TensorInfo>, attrs?: Record<string, unknown>): tf.TensorInfo | tf.TensorInfo[];
  readSync(dataId: object): ArrayLike<number>;
}

const size = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);
const stridesOf = (s: readonly number[]) => {
  const st = new Array<number>(s.length);
  let a = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = a;
    a *= s[i];
  }
  return st;
};

/** For each element of `out`, the index of the element of `inShape` it broadcasts from. */
function broadcastMap(inShape: readonly number[], out: readonly number[]): Int32Array | null {
  if (inShape.length === out.length && inShape.every((d, i) => d === out[i])) return null;
  const n = size(out);
  const map = new Int32Array(n);
  const r = out.length;
  const pad = r - inShape.length;
  const inSt = stridesOf(inShape);
  const outSt = stridesOf(out);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let d = 0; d < r; d++) {
      const c = Math.floor(rem / outSt[d]);
      rem -= c * outSt[d];
      const id = d - pad;
      if (id >= 0 && inShape[id] !== 1) j += c * inSt[id];
    }
    map[i] = j;
  }
  return map;
}

/** The index array of an affine map: element i of the loop reads element out[i]. */
function indexArray(a: Affine): Int32Array {
  const n = size(a.ext);
  const out = new Int32Array(n);
  const r = a.ext.length;
  const c = new Array<number>(r).fill(0);
  let j = 0;
  for (let i = 0; i < n; i++) {
    out[i] = j;
    for (let d = r - 1; d >= 0; d--) {
      j += a.st[d];
      if (++c[d] < a.ext[d]) break;
      j -= a.st[d] * a.ext[d];
      c[d] = 0;
    }
  }
  return out;
}
const noIndex = (): Int32Array => {
  throw new Error('replay: an unmapped operand has no index map');
};

/** The affine form of `broadcastMap` (null where that is null). */
function broadcastAffine(inShape: readonly number[], out: readonly number[]): Affine | null {
  if (inShape.length === out.length && inShape.every((d, i) => d === out[i])) return null;
  const pad = out.length - inShape.length;
  const inSt = stridesOf(inShape);
  return { ext: out.slice(), st: out.map((_, d) => (d - pad >= 0 && inShape[d - pad] !== 1 ? inSt[d - pad] : 0)) };
}

// ---------------------------------------------------------------- nodes

/** out[i] = src[sel[i]][idx[i]], or `fill` where idx[i] < 0. */
class MoveNode implements LoweredNode {
  /** `affine`: the index map in affine form over the output's shape, where it has one (transposes, broadcasts). */
  constructor(private srcs: number[], private sel: Int32Array | null, private idx: Int32Array, private fill: number, private y: number, private affine: Affine | null = null) {}
  reads(): number[] {
    return this.srcs;
  }
  /**
   * A single-source move without fill joins a fused loop as a map that reads its source
   * through the map (by strided counters where it is affine, else by its index array).
   */
  fusion(): FusionInfo | undefined {
    if (this.sel !== null || this.idx.some((j) => j < 0)) return undefined;
    return { kind: 'map', loop: this.y, out: this.y, names: ['x'], f: 'x', reads: [{ slot: this.srcs[0], mapped: true, affine: this.affine, index: () => this.idx, grad: 'd' }] };
  }
  emit(ctx: EmitContext, pass: 'forward' | 'backward'): string | undefined {
    if (this.sel !== null) return undefined;
    const idx = ctx.constant(this.idx);
    const n = this.idx.length;
    const hasFill = this.idx.some((j) => j < 0);
    if (pass === 'forward') {
      const X = ctx.val(this.srcs[0]);
      const Y = ctx.val(this.y);
      return hasFill
        ? `{ const m = ${idx}; for (let i = 0; i < ${n}; i++) { const j = m[i]; ${Y}[i] = j < 0 ? ${this.fill} : ${X}[j]; } }`
        : `{ const m = ${idx}; for (let i = 0; i < ${n}; i++) ${Y}[i] = ${X}[m[i]]; }`;
    }
    // Zeroes the output's adjoint behind itself (see `clearedByBackward`).
    const dX = ctx.adj(this.srcs[0]);
    const dY = ctx.adj(this.y);
    return hasFill
      ? `{ const m = ${idx}; for (let i = 0; i < ${n}; i++) { const j = m[i]; if (j >= 0) ${dX}[j] += ${dY}[i]; ${dY}[i] = 0; } }`
      : `{ const m = ${idx}; for (let i = 0; i < ${n}; i++) { ${dX}[m[i]] += ${dY}[i]; ${dY}[i] = 0; } }`;
  }
  clearedByBackward(): number[] {
    return this.sel === null ? [this.y] : [];
  }
  forward(v: Float64Array[]) {
    const out = v[this.y];
    const { idx, sel, srcs } = this;
    if (sel === null) {
      const x = v[srcs[0]];
      for (let i = 0; i < idx.length; i++) out[i] = idx[i] < 0 ? this.fill : x[idx[i]];
    } else {
      for (let i = 0; i < idx.length; i++) out[i] = idx[i] < 0 ? this.fill : v[srcs[sel[i]]][idx[i]];
    }
  }
  backward(_v: Float64Array[], a: Float64Array[]) {
    const dy = a[this.y];
    const { idx, sel, srcs } = this;
    if (sel === null) {
      const dx = a[srcs[0]];
      for (let i = 0; i < idx.length; i++) if (idx[i] >= 0) dx[idx[i]] += dy[i];
    } else {
      for (let i = 0; i < idx.length; i++) if (idx[i] >= 0) a[srcs[sel[i]]][idx[i]] += dy[i];
    }
  }
}

type Unary = (x: number) => number;
/** d/dx given x and y = f(x). */
type UnaryGrad = (x: number, y: number) => number;

/** Source of a unary op for the generated program: y from x, and dx given d = dy, x, y. */
type UnarySource = [f: string, df: string | null];

class UnaryNode implements LoweredNode {
  constructor(private f: Unary, private df: UnaryGrad | null, private x: number, private y: number, private src?: UnarySource) {}
  emit(ctx: EmitContext, pass: 'forward' | 'backward'): string | undefined {
    if (!this.src) return undefined;
    const [f, df] = this.src;
    const X = ctx.val(this.x);
    const Y = ctx.val(this.y);
    if (pass === 'forward') return `for (let i = 0; i < ${Y}.length; i++) { const x = ${X}[i]; ${Y}[i] = ${f}; }`;
    if (df === null) return '';
    const dX = ctx.adj(this.x);
    const dY = ctx.adj(this.y);
    return `for (let i = 0; i < ${Y}.length; i++) { const d = ${dY}[i]; if (d === 0) continue; const x = ${X}[i], y = ${Y}[i]; ${dX}[i] += ${df}; }`;
  }
  fusion(): FusionInfo | undefined {
    const src = this.src;
    if (!src) return undefined;
    return { kind: 'map', loop: this.y, out: this.y, names: ['x'], f: src[0], reads: [{ slot: this.x, mapped: false, affine: null, index: noIndex, grad: src[1] }] };
  }
  reads(): number[] {
    return [this.x];
  }
  forward(v: Float64Array[]) {
    const x = v[this.x];
    const y = v[this.y];
    const f = this.f;
    for (let i = 0; i < y.length; i++) y[i] = f(x[i]);
  }
  backward(v: Float64Array[], a: Float64Array[]) {
    const df = this.df;
    if (df === null) return;
    const x = v[this.x];
    const y = v[this.y];
    const dx = a[this.x];
    const dy = a[this.y];
    for (let i = 0; i < y.length; i++) if (dy[i] !== 0) dx[i] += dy[i] * df(x[i], y[i]);
  }
}

type Binary = (a: number, b: number) => number;
/** Partial derivatives given a, b and y. */
type BinaryGrad = { da: ((a: number, b: number, y: number) => number) | null; db: ((a: number, b: number, y: number) => number) | null };

/** Source of a binary op for the generated program: y from a, b, and the partials times d = dy. */
type BinarySource = [f: string, da: string | null, db: string | null];

class BinaryNode implements LoweredNode {
  constructor(
    private f: Binary, private g: BinaryGrad | null,
    private a: number, private aAff: Affine | null, private aLive: boolean,
    private b: number, private bAff: Affine | null, private bLive: boolean,
    private y: number, private src?: BinarySource,
  ) {}
  private amCache: Int32Array | null = null;
  private bmCache: Int32Array | null = null;
  /** Broadcast index maps, built on first use (a fused loop walks the affine form instead). */
  private get am(): Int32Array | null {
    return this.aAff && (this.amCache ??= indexArray(this.aAff));
  }
  private get bm(): Int32Array | null {
    return this.bAff && (this.bmCache ??= indexArray(this.bAff));
  }
  emit(ctx: EmitContext, pass: 'forward' | 'backward'): string | undefined {
    if (!this.src) return undefined;
    const [f, srcDa, srcDb] = this.src;
    const da = this.aLive ? srcDa : null;
    const db = this.bLive ? srcDb : null;
    const ia = this.am ? 'am[i]' : 'i';
    const ib = this.bm ? 'bm[i]' : 'i';
    const maps = `${this.am ? `const am = ${ctx.constant(this.am)};` : ''} ${this.bm ? `const bm = ${ctx.constant(this.bm)};` : ''}`;
    const A = ctx.val(this.a);
    const B = ctx.val(this.b);
    const Y = ctx.val(this.y);
    if (pass === 'forward') return `{ ${maps} for (let i = 0; i < ${Y}.length; i++) { const a = ${A}[${ia}], b = ${B}[${ib}]; ${Y}[i] = ${f}; } }`;
    if (da === null && db === null) return '';
    return `{ ${maps} const dY = ${ctx.adj(this.y)}; for (let i = 0; i < ${Y}.length; i++) { const d = dY[i]; if (d === 0) continue; const a = ${A}[${ia}], b = ${B}[${ib}], y = ${Y}[i];
      ${da !== null ? `${ctx.adj(this.a)}[${ia}] += ${da};` : ''} ${db !== null ? `${ctx.adj(this.b)}[${ib}] += ${db};` : ''} } }`;
  }
  fusion(): FusionInfo | undefined {
    const src = this.src;
    if (!src) return undefined;
    const [f, da, db] = src;
    return {
      kind: 'map', loop: this.y, out: this.y, names: ['a', 'b'], f,
      reads: [
        { slot: this.a, mapped: this.aAff !== null, affine: this.aAff, index: () => this.am!, grad: this.aLive ? da : null },
        { slot: this.b, mapped: this.bAff !== null, affine: this.bAff, index: () => this.bm!, grad: this.bLive ? db : null },
      ],
    };
  }
  reads(): number[] {
    return [this.a, this.b];
  }
  forward(v: Float64Array[]) {
    const A = v[this.a];
    const B = v[this.b];
    const Y = v[this.y];
    const { am, bm, f } = this;
    if (am === null && bm === null) for (let i = 0; i < Y.length; i++) Y[i] = f(A[i], B[i]);
    else if (am === null) for (let i = 0; i < Y.length; i++) Y[i] = f(A[i], B[bm![i]]);
    else if (bm === null) for (let i = 0; i < Y.length; i++) Y[i] = f(A[am[i]], B[i]);
    else for (let i = 0; i < Y.length; i++) Y[i] = f(A[am[i]], B[bm[i]]);
  }
  backward(v: Float64Array[], adj: Float64Array[]) {
    if (this.g === null) return;
    const A = v[this.a];
    const B = v[this.b];
    const Y = v[this.y];
    const dY = adj[this.y];
    const { am, bm } = this;
    const { da, db } = this.g;
    const dA = this.aLive && da ? adj[this.a] : null;
    const dB = this.bLive && db ? adj[this.b] : null;
    for (let i = 0; i < Y.length; i++) {
      const d = dY[i];
      if (d === 0) continue;
      const ia = am === null ? i : am[i];
      const ib = bm === null ? i : bm[i];
      if (dA) dA[ia] += d * da!(A[ia], B[ib], Y[i]);
      if (dB) dB[ib] += d * db!(A[ia], B[ib], Y[i]);
    }
  }
}

type ReduceKind = 'sum' | 'max' | 'min' | 'prod' | 'mean' | 'all' | 'any';

class ReduceNode implements LoweredNode {
  constructor(private kind: ReduceKind, private x: number, private affine: Affine, private count: number, private y: number) {}
  private mapCache: Int32Array | null = null;
  /** Index of the output element each input element reduces into, built on first use. */
  private get map(): Int32Array {
    return (this.mapCache ??= indexArray(this.affine));
  }
  emit(ctx: EmitContext, pass: 'forward' | 'backward'): string | undefined {
    if (this.kind !== 'sum' && this.kind !== 'mean') return undefined;
    const m = ctx.constant(this.map);
    const n = this.map.length;
    const scale = this.kind === 'mean' ? 1 / this.count : 1;
    if (pass === 'forward') {
      const X = ctx.val(this.x);
      const Y = ctx.val(this.y);
      return `{ const m = ${m}; ${Y}.fill(0); for (let i = 0; i < ${n}; i++) ${Y}[m[i]] += ${X}[i];${scale !== 1 ? ` for (let j = 0; j < ${Y}.length; j++) ${Y}[j] *= ${scale};` : ''} }`;
    }
    const dX = ctx.adj(this.x);
    const dY = ctx.adj(this.y);
    return `{ const m = ${m}; for (let i = 0; i < ${n}; i++) ${dX}[i] += ${dY}[m[i]]${scale !== 1 ? ` * ${scale}` : ''}; }`;
  }
  fusion(): FusionInfo | undefined {
    if (this.kind === 'max' || this.kind === 'min') return { kind: 'reduce', loop: this.x, out: this.y, x: this.x, index: () => this.map, affine: this.affine, scale: 1, op: this.kind };
    if (this.kind !== 'sum' && this.kind !== 'mean') return undefined;
    return { kind: 'reduce', loop: this.x, out: this.y, x: this.x, index: () => this.map, affine: this.affine, scale: this.kind === 'mean' ? 1 / this.count : 1 };
  }
  reads(): number[] {
    return [this.x];
  }
  forward(v: Float64Array[]) {
    const X = v[this.x];
    const Y = v[this.y];
    const { map, kind } = this;
    switch (kind) {
      case 'sum':
      case 'mean':
        Y.fill(0);
        for (let i = 0; i < X.length; i++) Y[map[i]] += X[i];
        if (kind === 'mean') for (let j = 0; j < Y.length; j++) Y[j] /= this.count;
        break;
      case 'prod':
        Y.fill(1);
        for (let i = 0; i < X.length; i++) Y[map[i]] *= X[i];
        break;
      case 'max':
      case 'min': {
        const isMax = kind === 'max';
        Y.fill(isMax ? -Infinity : Infinity);
        for (let i = 0; i < X.length; i++) {
          const j = map[i];
          const x = X[i];
          if (Number.isNaN(x) || (isMax ? x > Y[j] : x < Y[j])) Y[j] = x;
        }
        break;
      }
      case 'all':
        Y.fill(1);
        for (let i = 0; i < X.length; i++) if (!X[i]) Y[map[i]] = 0;
        break;
      case 'any':
        Y.fill(0);
        for (let i = 0; i < X.length; i++) if (X[i]) Y[map[i]] = 1;
        break;
    }
  }
  backward(v: Float64Array[], a: Float64Array[]) {
    const dX = a[this.x];
    const dY = a[this.y];
    const { map, kind } = this;
    if (kind === 'sum' || kind === 'mean') {
      const s = kind === 'mean' ? 1 / this.count : 1;
      for (let i = 0; i < dX.length; i++) dX[i] += dY[map[i]] * s;
    } else if (kind === 'max' || kind === 'min') {
      // tfjs's gradient: dy to every element equal to the extremum.
      const X = v[this.x];
      const Y = v[this.y];
      for (let i = 0; i < dX.length; i++) if (X[i] === Y[map[i]]) dX[i] += dY[map[i]];
    } else if (kind === 'prod') {
      const X = v[this.x];
      const Y = v[this.y];
      // Product of the others; exact when no zero in the group.
      for (let i = 0; i < dX.length; i++) {
        const j = map[i];
        if (X[i] !== 0) dX[i] += (dY[j] * Y[j]) / X[i];
        else {
          let p = 1;
          for (let k = 0; k < X.length; k++) if (k !== i && map[k] === j) p *= X[k];
          dX[i] += dY[j] * p;
        }
      }
    }
  }
}

/** Batched matmul with broadcast batch dims: Y[b] = op(A[b]) op(B[b]). */
class MatMulNode implements LoweredNode {
  constructor(
    private a: number, private b: number, private y: number, private aLive: boolean, private bLive: boolean,
    private aOff: Int32Array, private bOff: Int32Array,
    private M: number, private K: number, private N: number, private ta: boolean, private tb: boolean,
  ) {}
  reads(): number[] {
    return [this.a, this.b];
  }
  // Element (i, k) of op(A) for batch offset o.
  forward(v: Float64Array[]) {
    const A = v[this.a];
    const B = v[this.b];
    const Y = v[this.y];
    const { M, K, N, ta, tb } = this;
    for (let bt = 0; bt < this.aOff.length; bt++) {
      const ao = this.aOff[bt];
      const bo = this.bOff[bt];
      const yo = bt * M * N;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += A[ao + (ta ? k * M + i : i * K + k)] * B[bo + (tb ? j * K + k : k * N + j)];
          Y[yo + i * N + j] = s;
        }
      }
    }
  }
  backward(v: Float64Array[], adj: Float64Array[]) {
    const A = v[this.a];
    const B = v[this.b];
    const dY = adj[this.y];
    const dA = this.aLive ? adj[this.a] : null;
    const dB = this.bLive ? adj[this.b] : null;
    const { M, K, N, ta, tb } = this;
    for (let bt = 0; bt < this.aOff.length; bt++) {
      const ao = this.aOff[bt];
      const bo = this.bOff[bt];
      const yo = bt * M * N;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          const d = dY[yo + i * N + j];
          if (d === 0) continue;
          for (let k = 0; k < K; k++) {
            const ia = ao + (ta ? k * M + i : i * K + k);
            const ib = bo + (tb ? j * K + k : k * N + j);
            if (dA) dA[ia] += d * B[ib];
            if (dB) dB[ib] += d * A[ia];
          }
        }
      }
    }
  }
}

class CumsumNode implements LoweredNode {
  constructor(private x: number, private y: number, private outer: number, private n: number, private inner: number, private exclusive: boolean, private reverse: boolean) {}
  reads(): number[] {
    return [this.x];
  }
  private scan(src: Float64Array, dst: Float64Array, rev: boolean, add: boolean) {
    const { outer, n, inner, exclusive } = this;
    for (let o = 0; o < outer; o++) {
      for (let q = 0; q < inner; q++) {
        let s = 0;
        for (let t = 0; t < n; t++) {
          const k = rev ? n - 1 - t : t;
          const idx = (o * n + k) * inner + q;
          if (exclusive) {
            if (add) dst[idx] += s;
            else dst[idx] = s;
            s += src[idx];
          } else {
            s += src[idx];
            if (add) dst[idx] += s;
            else dst[idx] = s;
          }
        }
      }
    }
  }
  forward(v: Float64Array[]) {
    this.scan(v[this.x], v[this.y], this.reverse, false);
  }
  backward(_v: Float64Array[], a: Float64Array[]) {
    // The adjoint of a prefix sum is the suffix sum (same exclusivity).
    this.scan(a[this.y], a[this.x], !this.reverse, true);
  }
}

class SelectNode implements LoweredNode {
  /** `inner`: with a rank-1 condition (`cm`), the number of elements each condition element covers. */
  constructor(private c: number, private cm: Int32Array | null, private t: number, private tLive: boolean, private e: number, private eLive: boolean, private y: number, private inner = 1) {}
  reads(): number[] {
    return [this.c, this.t, this.e];
  }
  /** An elementwise map of three operands; the condition gets no adjoint. */
  fusion(): FusionInfo | undefined {
    const cm = this.cm;
    const n = cm ? cm.length : 0;
    return {
      kind: 'map', loop: this.y, out: this.y, names: ['c', 't', 'e'], f: '(c ? t : e)',
      reads: [
        { slot: this.c, mapped: cm !== null, affine: cm ? { ext: [n / this.inner, this.inner], st: [1, 0] } : null, index: () => cm!, grad: null },
        { slot: this.t, mapped: false, affine: null, index: noIndex, grad: this.tLive ? '(c ? d : 0)' : null },
        { slot: this.e, mapped: false, affine: null, index: noIndex, grad: this.eLive ? '(c ? 0 : d)' : null },
      ],
    };
  }
  forward(v: Float64Array[]) {
    const C = v[this.c];
    const T = v[this.t];
    const E = v[this.e];
    const Y = v[this.y];
    const cm = this.cm;
    for (let i = 0; i < Y.length; i++) Y[i] = C[cm === null ? i : cm[i]] ? T[i] : E[i];
  }
  backward(v: Float64Array[], a: Float64Array[]) {
    const C = v[this.c];
    const dY = a[this.y];
    const dT = this.tLive ? a[this.t] : null;
    const dE = this.eLive ? a[this.e] : null;
    const cm = this.cm;
    for (let i = 0; i < dY.length; i++) {
      if (C[cm === null ? i : cm[i]]) {
        if (dT) dT[i] += dY[i];
      } else if (dE) dE[i] += dY[i];
    }
  }
}

class SoftmaxNode implements LoweredNode {
  constructor(private x: number, private y: number, private rows: number, private n: number) {}
  reads(): number[] {
    return [this.x];
  }
  forward(v: Float64Array[]) {
    const X = v[this.x];
    const Y = v[this.y];
    const n = this.n;
    for (let r = 0; r < this.rows; r++) {
      let m = -Infinity;
      for (let j = 0; j < n; j++) m = Math.max(m, X[r * n + j]);
      let s = 0;
      for (let j = 0; j < n; j++) s += Y[r * n + j] = Math.exp(X[r * n + j] - m);
      for (let j = 0; j < n; j++) Y[r * n + j] /= s;
    }
  }
  backward(v: Float64Array[], a: Float64Array[]) {
    const Y = v[this.y];
    const dY = a[this.y];
    const dX = a[this.x];
    const n = this.n;
    for (let r = 0; r < this.rows; r++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += dY[r * n + j] * Y[r * n + j];
      for (let j = 0; j < n; j++) dX[r * n + j] += Y[r * n + j] * (dY[r * n + j] - s);
    }
  }
}

/**
 * The chain log partition function (the fused kernel `MixpplChainLogZ`, ./fused/chain.ts):
 * the forward recursion, keeping alpha [T, K] for the backward pass, which adds the
 * forward-backward marginals times the output's adjoint into the inputs' adjoints.
 */
class ChainNode implements LoweredNode {
  private readonly alpha: Float64Array;
  private logZ = NaN;
  constructor(
    private init: number, private initLive: boolean, private mats: number, private matsLive: boolean,
    private out: number, private T: number, private K: number,
  ) {
    this.alpha = new Float64Array(T * K);
  }
  reads(): number[] {
    return [this.init, this.mats];
  }
  forward(v: Float64Array[]) {
    this.logZ = chainForwardJS(v[this.init], v[this.mats], this.T, this.K, this.alpha);
    v[this.out][0] = this.logZ;
  }
  backward(v: Float64Array[], a: Float64Array[]) {
    const g = a[this.out][0];
    if (g === 0) return;
    chainBackwardJS(v[this.mats], this.T, this.K, this.alpha, this.logZ,
      this.initLive ? a[this.init] : null, this.matsLive ? a[this.mats] : null, g, true);
  }
}

// ---------------------------------------------------------------- tables

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
/** erf to ~1e-15 (series for small |x|, continued fraction for erfc otherwise). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x;
    let s = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      s += t;
      if (Math.abs(t) < 1e-17 * Math.abs(s)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * s;
  }
  if (ax > 6) return Math.sign(x);
  // erfc by Lentz's continued fraction.
  let f = ax;
  let C = ax;
  let D = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    D = ax + an * D;
    D = D === 0 ? 1e-300 : 1 / D;
    C = ax + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
  return Math.sign(x) * (1 - erfc);
}

const UNARY: Record<string, [Unary, UnaryGrad | null]> = {
  Neg: [(x) => -x, () => -1],
  Exp: [Math.exp, (_x, y) => y],
  Log: [Math.log, (x) => 1 / x],
  Log1p: [Math.log1p, (x) => 1 / (1 + x)],
  Expm1: [Math.expm1, (_x, y) => y + 1],
  Softplus: [softplus, (x) => sigmoid(x)],
  Sigmoid: [sigmoid, (_x, y) => y * (1 - y)],
  Sqrt: [Math.sqrt, (_x, y) => 0.5 / y],
  Rsqrt: [(x) => 1 / Math.sqrt(x), (_x, y) => -0.5 * y * y * y],
  Square: [(x) => x * x, (x) => 2 * x],
  Abs: [Math.abs, (x) => (x > 0 ? 1 : x < 0 ? -1 : 0)],
  Reciprocal: [(x) => 1 / x, (_x, y) => -y * y],
  Tanh: [Math.tanh, (_x, y) => 1 - y * y],
  Sin: [Math.sin, (x) => Math.cos(x)],
  Cos: [Math.cos, (x) => -Math.sin(x)],
  Tan: [Math.tan, (_x, y) => 1 + y * y],
  Atan: [Math.atan, (x) => 1 / (1 + x * x)],
  Asin: [Math.asin, (x) => 1 / Math.sqrt(1 - x * x)],
  Acos: [Math.acos, (x) => -1 / Math.sqrt(1 - x * x)],
  Sinh: [Math.sinh, (x) => Math.cosh(x)],
  Cosh: [Math.cosh, (x) => Math.sinh(x)],
  Asinh: [Math.asinh, (x) => 1 / Math.sqrt(x * x + 1)],
  Acosh: [Math.acosh, (x) => 1 / Math.sqrt(x * x - 1)],
  Atanh: [Math.atanh, (x) => 1 / (1 - x * x)],
  Erf: [erf, (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x)],
  Relu: [(x) => (x > 0 ? x : 0), (x) => (x > 0 ? 1 : 0)],
  Elu: [(x) => (x > 0 ? x : Math.expm1(x)), (x, y) => (x > 0 ? 1 : y + 1)],
  Floor: [Math.floor, null],
  Ceil: [Math.ceil, null],
  Round: [(x) => { const r = Math.round(x); return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; }, null],
  Sign: [Math.sign, null],
  IsNan: [(x) => (Number.isNaN(x) ? 1 : 0), null],
  IsInf: [(x) => (x === Infinity || x === -Infinity ? 1 : 0), null],
  IsFinite: [(x) => (Number.isFinite(x) ? 1 : 0), null],
  LogicalNot: [(x) => (x ? 0 : 1), null],
};

const BINARY: Record<string, [Binary, BinaryGrad | null]> = {
  Add: [(a, b) => a + b, { da: () => 1, db: () => 1 }],
  AddV2: [(a, b) => a + b, { da: () => 1, db: () => 1 }],
  Sub: [(a, b) => a - b, { da: () => 1, db: () => -1 }],
  Multiply: [(a, b) => a * b, { da: (_a, b) => b, db: (a) => a }],
  RealDiv: [(a, b) => a / b, { da: (_a, b) => 1 / b, db: (a, b) => -a / (b * b) }],
  DivNoNan: [(a, b) => (b === 0 ? 0 : a / b), { da: (_a, b) => (b === 0 ? 0 : 1 / b), db: (a, b) => (b === 0 ? 0 : -a / (b * b)) }],
  Maximum: [(a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), { da: (a, b) => (a >= b ? 1 : 0), db: (a, b) => (a < b ? 1 : 0) }],
  Minimum: [(a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)), { da: (a, b) => (a <= b ? 1 : 0), db: (a, b) => (a > b ? 1 : 0) }],
  Pow: [Math.pow, { da: (a, b) => b * Math.pow(a, b - 1), db: (a, _b, y) => (a > 0 ? y * Math.log(a) : 0) }],
  SquaredDifference: [(a, b) => (a - b) * (a - b), { da: (a, b) => 2 * (a - b), db: (a, b) => -2 * (a - b) }],
  Atan2: [Math.atan2, { da: (a, b) => b / (a * a + b * b), db: (a, b) => -a / (a * a + b * b) }],
  FloorDiv: [(a, b) => Math.floor(a / b), null],
  Mod: [(a, b) => { const r = a % b; return r !== 0 && (r < 0) !== (b < 0) ? r + b : r; }, null],
  Less: [(a, b) => (a < b ? 1 : 0), null],
  LessEqual: [(a, b) => (a <= b ? 1 : 0), null],
  Greater: [(a, b) => (a > b ? 1 : 0), null],
  GreaterEqual: [(a, b) => (a >= b ? 1 : 0), null],
  Equal: [(a, b) => (a === b ? 1 : 0), null],
  NotEqual: [(a, b) => (a !== b ? 1 : 0), null],
  LogicalAnd: [(a, b) => (a && b ? 1 : 0), null],
  LogicalOr: [(a, b) => (a || b ? 1 : 0), null],
};

const REDUCE: Record<string, ReduceKind> = { Sum: 'sum', Max: 'max', Min: 'min', Prod: 'prod', Mean: 'mean', All: 'all', Any: 'any' };

/** Kernels that only move or copy elements; the inputs named here carry the data. */
const MOVES: Record<string, 'all' | string[]> = {
  Transpose: ['x'], Slice: ['x'], StridedSlice: ['x'], Tile: ['x'], Reverse: ['x'], BroadcastTo: ['x'],
  PadV2: ['x'], MirrorPad: ['x'], GatherV2: ['x'], GatherNd: ['params'], Concat: 'all', Pack: 'all',
  Unpack: ['value'], SplitV: ['x'], ExpandDims: ['input'], Squeeze: ['x'], MatrixBandPart: ['x'],
};

/** Kernels whose output does not depend on their input's values. */
const SHAPE_ONLY = new Set(['ZerosLike', 'OnesLike', 'Fill', 'Range', 'Shape']);


// ---------------------------------------------------------------- sources for the generated program
//
// The nodes' own methods call f / df per element through closures (~30 ns an element);
// `compileProgram` inlines these expressions instead (~10x faster). The closures remain
// the path when code generation is unavailable. Fixed strings: no user input reaches them.

/** Forward expression of y, and the partials times dy, in terms of a, b, y. */
const BINARY_SRC: Record<string, BinarySource> = {
  Add: ['a + b', 'd', 'd'],
  AddV2: ['a + b', 'd', 'd'],
  Sub: ['a - b', 'd', '-d'],
  Multiply: ['a * b', 'd * b', 'd * a'],
  RealDiv: ['a / b', 'd / b', '-d * a / (b * b)'],
  Maximum: ['(a !== a || b !== b) ? NaN : (a > b ? a : b)', '(a >= b ? d : 0)', '(a < b ? d : 0)'],
  Minimum: ['(a !== a || b !== b) ? NaN : (a < b ? a : b)', '(a <= b ? d : 0)', '(a > b ? d : 0)'],
  SquaredDifference: ['(a - b) * (a - b)', '2 * d * (a - b)', '-2 * d * (a - b)'],
  Pow: ['Math.pow(a, b)', 'd * b * Math.pow(a, b - 1)', '(a > 0 ? d * y * Math.log(a) : 0)'],
  Less: ['(a < b ? 1 : 0)', null, null],
  LessEqual: ['(a <= b ? 1 : 0)', null, null],
  Greater: ['(a > b ? 1 : 0)', null, null],
  GreaterEqual: ['(a >= b ? 1 : 0)', null, null],
  Equal: ['(a === b ? 1 : 0)', null, null],
  NotEqual: ['(a !== b ? 1 : 0)', null, null],
};

/** Forward expression of y in terms of x, and dx given d = dy, x, y. */
const UNARY_SRC: Record<string, UnarySource> = {
  Neg: ['-x', '-d'],
  Exp: ['Math.exp(x)', 'd * y'],
  Log: ['Math.log(x)', 'd / x'],
  Log1p: ['Math.log1p(x)', 'd / (1 + x)'],
  Expm1: ['Math.expm1(x)', 'd * (y + 1)'],
  Sqrt: ['Math.sqrt(x)', '0.5 * d / y'],
  Rsqrt: ['1 / Math.sqrt(x)', '-0.5 * d * y * y * y'],
  Square: ['x * x', '2 * d * x'],
  Abs: ['Math.abs(x)', '(x > 0 ? d : x < 0 ? -d : 0)'],
  Reciprocal: ['1 / x', '-d * y * y'],
  Tanh: ['Math.tanh(x)', 'd * (1 - y * y)'],
  Sigmoid: ['(x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)))', 'd * y * (1 - y)'],
  Softplus: ['(x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)))', '(x >= 0 ? d / (1 + Math.exp(-x)) : d * Math.exp(x) / (1 + Math.exp(x)))'],
  Floor: ['Math.floor(x)', null],
  Ceil: ['Math.ceil(x)', null],
  Sign: ['Math.sign(x)', null],
  LogicalNot: ['(x ? 0 : 1)', null],
};

// ---------------------------------------------------------------- lowering

function normAxes(axis: unknown, rank: number): number[] {
  const arr = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis as number];
  return arr.map((a: number) => (a < 0 ? a + rank : a));
}

function reduceAffine(shape: number[], axes: number[]): { affine: Affine; count: number } {
  const keep = shape.map((_, d) => !axes.includes(d));
  const outSt = stridesOf(shape.filter((_, d) => keep[d]));
  const st: number[] = [];
  let od = 0;
  for (let d = 0; d < shape.length; d++) st.push(keep[d] ? outSt[od++] : 0);
  const count = axes.reduce((p, a) => p * shape[a], 1);
  return { affine: { ext: shape.slice(), st }, count };
}

/** The affine map over `shape` whose index array is `idx` (no offset, no fill), or null. */
function affineOf(idx: Int32Array, shape: readonly number[]): Affine | null {
  if (idx.length === 0 || idx[0] !== 0) return null;
  const outSt = stridesOf(shape);
  const st = shape.map((e, d) => (e > 1 ? idx[outSt[d]] : 0));
  const a: Affine = { ext: shape.slice(), st };
  const check = indexArray(a);
  for (let i = 0; i < idx.length; i++) if (check[i] !== idx[i]) return null;
  return a;
}

/** Runs a move kernel on index-valued inputs to read off where each output element comes from. */
function lowerMove(call: KernelCall, engine: EngineLike, carriers: 'all' | string[]): LoweredNode[] {
  const dataInputs = call.inputs.filter((inp) => carriers === 'all' || carriers.includes(inp.name));
  const total = dataInputs.reduce((p, inp) => p + size(inp.shape), 0);
  if (total + 1 >= 1 << 24) throw new TraceUnsupportedError(`${call.kernelName}: too many elements (${total}) for the index map`);
  for (const inp of call.inputs) {
    if (inp.live && !dataInputs.includes(inp)) throw new TraceUnsupportedError(`${call.kernelName}: its '${inp.name}' input depends on the parameters`);
  }
  const offsets: number[] = [];
  let off = 0;
  for (const inp of dataInputs) {
    offsets.push(off);
    off += size(inp.shape);
  }
  const attrs: Record<string, unknown> = { ...call.attrs };
  if (call.kernelName === 'PadV2') attrs.constantValue = -1;
  let outs: Float64Array[] = [];
  tf.tidy(() => {
    const inputs: Record<string, tf.TensorInfo> = {};
    call.inputs.forEach((inp, i) => {
      const k = dataInputs.indexOf(inp);
      if (k < 0) {
        inputs[inp.name] = call.infos[i];
        return;
      }
      const n = size(inp.shape);
      const iota = new Float32Array(n);
      for (let j = 0; j < n; j++) iota[j] = offsets[k] + j;
      inputs[inp.name] = tf.tensor(iota, inp.shape, 'float32');
    });
    const r = engine.runKernel(call.kernelName, call.arrayInputs ? (Object.values(inputs) as unknown as Record<string, tf.TensorInfo>) : inputs, attrs);
    outs = (Array.isArray(r) ? r : [r]).map((info) => Float64Array.from(engine.readSync(info.dataId)));
  });
  const padValue = call.kernelName === 'PadV2' ? Number(call.attrs.constantValue ?? 0) : 0;
  return call.outputs.map((o, oi) => {
    const raw = outs[oi];
    const idx = new Int32Array(raw.length);
    const sel = dataInputs.length > 1 ? new Int32Array(raw.length) : null;
    for (let i = 0; i < raw.length; i++) {
      const g = raw[i];
      if (g < 0) {
        idx[i] = -1;
        continue;
      }
      let k = dataInputs.length - 1;
      while (k > 0 && offsets[k] > g) k--;
      idx[i] = g - offsets[k];
      if (sel) sel[i] = k;
    }
    return new MoveNode(dataInputs.map((d) => d.slot), sel, idx, padValue, o.slot, sel === null ? affineOf(idx, o.shape) : null);
  });
}

/** Lowers one recorded kernel call with at least one parameter-dependent input. */
export function lowerKernel(call: KernelCall, engine: EngineLike): LoweredNode[] | 'constant' | 'alias' {
  const k = call.kernelName;
  const ins = call.inputs;
  const out = call.outputs[0];
  if (SHAPE_ONLY.has(k)) return 'constant';
  // Same elements in the same order: the output shares the input's slot.
  if (k === 'Identity' || k === 'Reshape') return 'alias';
  if (k === 'Cast') {
    const to = call.attrs.dtype as string;
    if (to === 'float32') return 'alias';
    if (to === 'int32') return [new UnaryNode(Math.trunc, null, ins[0].slot, out.slot)];
    if (to === 'bool') return [new UnaryNode((x) => (x !== 0 ? 1 : 0), null, ins[0].slot, out.slot)];
    throw new TraceUnsupportedError(`Cast to ${to}`);
  }
  if (k in UNARY) {
    const [f, df] = UNARY[k];
    return [new UnaryNode(f, df, ins[0].slot, out.slot, UNARY_SRC[k])];
  }
  if (k === 'Step') {
    const alpha = Number(call.attrs.alpha ?? 0);
    return [new UnaryNode((x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : alpha), null, ins[0].slot, out.slot)];
  }
  if (k === 'ClipByValue') {
    const lo = Number(call.attrs.clipValueMin);
    const hi = Number(call.attrs.clipValueMax);
    return [new UnaryNode((x) => (x < lo ? lo : x > hi ? hi : x), (x) => (x >= lo && x <= hi ? 1 : 0), ins[0].slot, out.slot)];
  }
  if (k === 'LeakyRelu') {
    const alpha = Number(call.attrs.alpha);
    return [new UnaryNode((x) => (x > 0 ? x : alpha * x), (x) => (x > 0 ? 1 : alpha), ins[0].slot, out.slot)];
  }
  if (k in BINARY) {
    const [f, g] = BINARY[k];
    const [a, b] = ins;
    return [new BinaryNode(f, g, a.slot, broadcastAffine(a.shape, out.shape), a.live, b.slot, broadcastAffine(b.shape, out.shape), b.live, out.slot, BINARY_SRC[k])];
  }
  if (k in REDUCE) {
    const x = ins[0];
    const axes = normAxes(call.attrs.axis ?? call.attrs.reductionIndices, x.shape.length);
    const { affine, count } = reduceAffine(x.shape, axes);
    return [new ReduceNode(REDUCE[k], x.slot, affine, count, out.slot)];
  }
  if (k === 'BatchMatMul') {
    const [a, b] = ins;
    const ta = Boolean(call.attrs.transposeA);
    const tb = Boolean(call.attrs.transposeB);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = ta ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = ta ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = tb ? b.shape[rb - 2] : b.shape[rb - 1];
    const batchOut = out.shape.slice(0, -2);
    const aMap = broadcastMap(a.shape.slice(0, -2), batchOut);
    const bMap = broadcastMap(b.shape.slice(0, -2), batchOut);
    const nb = size(batchOut);
    const aOff = new Int32Array(nb);
    const bOff = new Int32Array(nb);
    for (let i = 0; i < nb; i++) {
      aOff[i] = (aMap === null ? i : aMap[i]) * M * K;
      bOff[i] = (bMap === null ? i : bMap[i]) * K * N;
    }
    return [new MatMulNode(a.slot, b.slot, out.slot, a.live, b.live, aOff, bOff, M, K, N, ta, tb)];
  }
  if (k === 'Cumsum') {
    const x = ins[0];
    const axis = normAxes(call.attrs.axis, x.shape.length)[0];
    const outer = size(x.shape.slice(0, axis));
    const inner = size(x.shape.slice(axis + 1));
    return [new CumsumNode(x.slot, out.slot, outer, x.shape[axis], inner, Boolean(call.attrs.exclusive), Boolean(call.attrs.reverse))];
  }
  if (k === 'Select') {
    const c = ins.find((i) => i.name === 'condition')!;
    const t = ins.find((i) => i.name === 't')!;
    const e = ins.find((i) => i.name === 'e')!;
    let cm: Int32Array | null = null;
    if (size(c.shape) !== size(out.shape)) {
      // A rank-1 condition selects along the first axis.
      const inner = size(out.shape.slice(1));
      cm = new Int32Array(size(out.shape));
      for (let i = 0; i < cm.length; i++) cm[i] = Math.floor(i / inner);
    }
    return [new SelectNode(c.slot, cm, t.slot, t.live, e.slot, e.live, out.slot, cm ? size(out.shape.slice(1)) : 1)];
  }
  if (k === 'Softmax') {
    const x = ins[0];
    const n = x.shape[x.shape.length - 1];
    return [new SoftmaxNode(x.slot, out.slot, size(x.shape) / n, n)];
  }
  if (k === CHAIN_LOGZ_KERNEL) {
    const init = ins.find((i) => i.name === 'init')!;
    const mats = ins.find((i) => i.name === 'mats')!;
    if (init.shape.length !== 1) throw new TraceUnsupportedError(`kernel '${k}' with a batch of chains has no float64 replay`);
    return [new ChainNode(init.slot, init.live, mats.slot, mats.live, out.slot, mats.shape[0] + 1, init.shape[0])];
  }
  if (k in MOVES) return lowerMove(call, engine, MOVES[k]);
  throw new TraceUnsupportedError(`kernel '${k}' has no float64 replay`);
}

/** A compiled program; see `compileProgram`. */
export interface CompiledProgram {
  forward(v: Float64Array[]): void;
  backward(v: Float64Array[], a: Float64Array[]): void;
  /** Slots whose adjoint `backward` sets back to zero after reading it (fused runs only). */
  cleared: number[];
  /**
   * Slots that live only in locals of one fused loop (written and read there alone, by
   * cheap arithmetic): the program never touches their value or adjoint arrays; the
   * backward loop recomputes the values.
   */
  internal: number[];
  /** Slots (a superset of `internal`) whose adjoint lives in a local of one fused loop: no adjoint array. */
  localAdjoints: number[];
  /** The generated source (for profiling and tests). */
  source: string;
}

/** Inner loop extents (and whole runs) up to this many elements are written out in fused loops. */
const UNROLL = 8;

/** Dims of an affine map with extent-1 dims dropped and contiguous neighbours merged. */
function normalizeAffine(a: Affine): Affine {
  const ext: number[] = [];
  const st: number[] = [];
  for (let d = a.ext.length - 1; d >= 0; d--) {
    if (a.ext[d] === 1) continue;
    const k = ext.length - 1;
    if (k >= 0 && a.st[d] === st[k] * ext[k]) ext[k] *= a.ext[d];
    else {
      ext.push(a.ext[d]);
      st.push(a.st[d]);
    }
  }
  return { ext: ext.reverse(), st: st.reverse() };
}

/**
 * A loop nest for `n` elements that walks every affine map given with strided counters:
 * the common refinement of their dims (extents outer to inner), and each map's stride per
 * loop level, or null for a map whose dims do not nest with the others (it keeps its index
 * array). Null for an identity map (read at `i`).
 */
function loopNest(n: number, maps: Affine[]): { ext: number[]; strides: (number[] | null | 'identity')[] } {
  const norm = maps.map(normalizeAffine);
  // Boundaries: products of the innermost dims of each map, which must form a divisibility chain.
  const bounds = new Set<number>([1, n]);
  const ok = norm.map((a) => {
    if (a.ext.length === 1 && a.st[0] === 1) return false;
    const mine: number[] = [];
    let p = 1;
    for (let d = a.ext.length - 1; d > 0; d--) mine.push((p *= a.ext[d]));
    const trial = [...new Set([...bounds, ...mine])].sort((x, y) => x - y);
    if (!trial.every((b, k) => k === 0 || b % trial[k - 1] === 0)) return false;
    for (const b of mine) bounds.add(b);
    return true;
  });
  const chain = [...bounds].sort((x, y) => x - y);
  const ext: number[] = [];
  for (let k = chain.length - 1; k > 0; k--) ext.push(chain[k] / chain[k - 1]);
  const strides = norm.map((a, m) => {
    if (a.ext.length === 1 && a.st[0] === 1) return 'identity' as const;
    if (a.ext.length === 0) return ext.map(() => 0);
    if (!ok[m]) return null;
    // Level l (outer to inner) spans elements of size chain[L - l - 1] .. chain[L - l].
    const L = chain.length - 1;
    const out: number[] = [];
    for (let l = 0; l < L; l++) {
      const inner = chain[L - l - 1];
      let lo = 1;
      let d = a.ext.length - 1;
      while (d > 0 && lo * a.ext[d] <= inner) lo *= a.ext[d--];
      out.push(a.st[d] * (inner / lo));
    }
    return out;
  });
  return { ext, strides };
}

/**
 * Compiles the whole lowered program into one forward and one backward function: every
 * node's loop inline, slot arrays hoisted into locals, index maps captured as constants;
 * nodes without an emitter are called through their methods. Removes the per-node
 * dispatch that dominates on small arrays. Null when code generation is unavailable.
 *
 * With `slotSizes`, runs of elementwise nodes over the same number of elements (unary and
 * broadcasting binary maps, selects, element moves without fill, sum, mean, max and min
 * reductions) are fused into one loop per pass: on large arrays each unfused loop streams
 * its operands through memory, and the fused loop reads each element while it is still in
 * cache. A node joins a run only if every value it reads from the run is produced at the
 * same index, so each element's forward value and its adjoint (accumulated in reverse node
 * order) are complete when read; only the order of accumulation into broadcast operands'
 * adjoints changes. A fusable node of another size that reads nothing from the run is
 * moved before it if a later run node needs it (so `log(sigma)` does not split the
 * [N, K, D] loop of a normal log-density), and left after the run otherwise (so a run over
 * K, such as the transforms' Jacobian terms, does not split an [N, K] chain that started
 * before it); the nodes moved before a run are grouped into runs of their own the same way.
 * Within a run:
 * - a value read only by the run's own nodes (`keep` lists slots read from outside) stays
 *   in a local: the forward loop never stores it, the backward loop recomputes it and keeps
 *   its adjoint in a local too (same operations, so the same float64 results);
 * - broadcast, reduction and affine move maps (transposes) are walked by strided counters
 *   in a loop nest instead of per-element index arrays;
 * - inner loops of up to `UNROLL` elements (the K of an [N, K] map, and whole runs over a
 *   few elements) are written out, and consecutive loop-free groups (the scalar and
 *   small-vector transforms of a small model) share one straight-line function.
 */
export function compileProgram(
  nodes: readonly LoweredNode[], slotSizes?: readonly number[], opts: { keep?: readonly number[] } = {},
): CompiledProgram | null {
  const consts: unknown[] = [];
  const usedV = new Set<number>();
  const usedA = new Set<number>();
  const ctx: EmitContext = {
    val: (s) => (usedV.add(s), `v${s}`),
    adj: (s) => (usedA.add(s), `a${s}`),
    constant: (x) => (consts.push(x), `c${consts.length - 1}`),
  };
  const infoOf = nodes.map((n) => (slotSizes ? n.fusion?.() : undefined));
  // Groups in execution order: a run of fusable nodes (infos) or one node emitted alone.
  const groups: { nodes: number[]; infos: FusionInfo[] | null }[] = [];
  // Groups the nodes `list` (a valid execution order) into runs. Nodes moved before a run
  // form a valid order of their own and are grouped the same way (so the [N, K] loops a
  // run over K moves aside still fuse with each other).
  const build = (list: readonly number[]) => {
    const done = new Array<boolean>(list.length).fill(false);
    for (let p = 0; p < list.length; p++) {
      if (done[p]) continue;
      done[p] = true;
      const i = list[p];
      const first = infoOf[i];
      if (!first) {
        groups.push({ nodes: [i], infos: null });
        continue;
      }
      const n = slotSizes![first.loop];
      const atI = new Set<number>();
      const mapped = new Set<number>();
      const add = (f: FusionInfo) => (f.kind === 'map' ? atI : mapped).add(f.out);
      add(first);
      const run = [i];
      // Nodes moved before the run (those a later run node reads, directly or through other
      // pending nodes); the other `pending` ones are left after it, to fuse with what follows.
      const hoisted: number[] = [];
      let pending: number[] = [];
      for (let q = p + 1; q < list.length; q++) {
        if (done[q]) continue;
        const j = list[q];
        const f = infoOf[j];
        if (!f) break;
        const rs = fusionReads(f);
        if (slotSizes![f.loop] === n && !rs.some((r) => mapped.has(r.slot) || (r.mapped && atI.has(r.slot)))) {
          run.push(j);
          add(f);
          const need = new Set(rs.map((r) => r.slot));
          const lift = new Set<number>();
          for (let k = pending.length - 1; k >= 0; k--) {
            const pf = infoOf[list[pending[k]]]!;
            if (!need.has(pf.out)) continue;
            lift.add(pending[k]);
            for (const r of fusionReads(pf)) need.add(r.slot);
          }
          hoisted.push(...pending.filter((x) => lift.has(x)));
          pending = pending.filter((x) => !lift.has(x));
        } else if (!rs.some((r) => mapped.has(r.slot) || atI.has(r.slot))) pending.push(q);
        else break;
        done[q] = true;
      }
      for (const q of pending) done[q] = false;
      hoisted.sort((x, y) => x - y);
      build(hoisted.map((q) => list[q]));
      groups.push({ nodes: run, infos: run.map((k) => infoOf[k]!) });
    }
  };
  build(nodes.map((_, i) => i));
  // The group reading each slot (-1: several, or a node that does not list its reads).
  const readBy = new Map<number, number>();
  const allKnown = nodes.every((n) => n.reads);
  if (allKnown) {
    groups.forEach((g, gi) => {
      for (const k of g.nodes) {
        for (const s of nodes[k].reads!()) {
          const prev = readBy.get(s);
          readBy.set(s, prev === undefined || prev === gi ? gi : -1);
        }
      }
    });
  }
  const keep = new Set(opts.keep ?? []);
  const internalOf = groups.map((g, gi) => {
    const out = new Set<number>();
    if (!allKnown || !g.infos) return out;
    for (const f of g.infos) {
      if (f.kind !== 'map' || keep.has(f.out)) continue;
      const r = readBy.get(f.out);
      if (r === undefined || r === gi) out.add(f.out);
    }
    return out;
  });
  // Of those, values of plain arithmetic are recomputed in the backward loop instead of
  // stored; transcendental ones (Math.*) cost more to recompute than to store and load.
  const recomputeOf = groups.map((g, gi) => {
    const out = new Set<number>();
    for (const f of g.infos ?? []) if (f.kind === 'map' && internalOf[gi].has(f.out) && !f.f.includes('Math.')) out.add(f.out);
    return out;
  });
  // Adjoints the backward pass leaves zeroed (each read once, by its producer's body).
  const cleared = new Set<number>();
  for (const g of groups) {
    if (g.infos) for (const f of g.infos) if (f.kind === 'map') cleared.add(f.out);
    if (!g.infos) for (const s of nodes[g.nodes[0]].clearedByBackward?.() ?? []) cleared.add(s);
  }
  const internal = recomputeOf.flatMap((s) => [...s]);
  const localAdjoints = internalOf.flatMap((s) => [...s]);

  const fused = (infos: FusionInfo[], inner: Set<number>, recompute: Set<number>, pass: 'forward' | 'backward'): string => {
    const n = slotSizes![infos[0].loop];
    // Strided counters for affine maps (shared when equal); index arrays for the rest.
    const affs: Affine[] = [];
    const affKey = new Map<string, number>();
    const affIndex = (a: Affine | null, mapped: boolean): number => {
      if (!mapped) return -1;
      if (!a) return -2;
      const key = `${a.ext.join(',')}|${a.st.join(',')}`;
      let k = affKey.get(key);
      if (k === undefined) {
        k = affs.length;
        affs.push(a);
        affKey.set(key, k);
      }
      return k;
    };
    const readIdx = new Map<FusionRead | FusionInfo, number>();
    for (const f of infos) {
      if (f.kind === 'map') for (const r of f.reads) readIdx.set(r, affIndex(r.affine, r.mapped));
      else readIdx.set(f, affIndex(f.affine, true));
    }
    const nest = loopNest(n, affs);
    const idx = (key: FusionRead | FusionInfo, map: () => Int32Array): string => {
      const k = readIdx.get(key)!;
      if (k === -1) return 'i';
      const s = k >= 0 ? nest.strides[k] : null;
      if (s === 'identity') return 'i';
      if (s === null) return `${ctx.constant(map())}[i]`;
      return s.every((x) => x === 0) ? '0' : `q${k}`;
    };
    const local = new Set<number>();
    const lines: string[] = [];
    const pre: string[] = [];
    const post: string[] = [];
    // Loop-invariant reads (every stride zero) are loaded once before the loop: nothing in
    // the run writes them (a run reads its own values at `i` only).
    const hoisted = new Set<string>();
    const invariant = (arr: string): string => {
      const name = `h${arr}`;
      if (!hoisted.has(name)) {
        hoisted.add(name);
        pre.push(`const ${name} = ${arr}[0];`);
      }
      return name;
    };
    const valOf = (r: FusionRead): string => {
      if (local.has(r.slot) && !r.mapped) return `t${r.slot}`;
      const ix = idx(r, r.index);
      return ix === '0' ? invariant(ctx.val(r.slot)) : `${ctx.val(r.slot)}[${ix}]`;
    };
    const forwardLine = (f: FusionInfo & { kind: 'map' }, store: boolean) => {
      const ops = f.reads.map((r, k) => `${f.names[k]} = ${valOf(r)}`).join(', ');
      lines.push(`let t${f.out}; { const ${ops}; t${f.out} = ${f.f}; }${store ? ` ${ctx.val(f.out)}[i] = t${f.out};` : ''}`);
    };
    if (pass === 'forward') {
      for (const f of infos) {
        if (f.kind === 'map') {
          forwardLine(f, !recompute.has(f.out));
          local.add(f.out);
        } else {
          const Y = ctx.val(f.out);
          const x = local.has(f.x) ? `t${f.x}` : `${ctx.val(f.x)}[i]`;
          if (f.op === 'max' || f.op === 'min') {
            pre.push(`${Y}.fill(${f.op === 'max' ? '-Infinity' : 'Infinity'});`);
            lines.push(`{ const x = ${x}, j = ${idx(f, f.index)}; if (x !== x || x ${f.op === 'max' ? '>' : '<'} ${Y}[j]) ${Y}[j] = x; }`);
            continue;
          }
          pre.push(`${Y}.fill(0);`);
          lines.push(`${Y}[${idx(f, f.index)}] += ${x};`);
          if (f.scale !== 1) post.push(`for (let j = 0; j < ${Y}.length; j++) ${Y}[j] *= ${f.scale};`);
        }
      }
    } else {
      // Values: recomputed when local-only, loaded otherwise.
      for (const f of infos) {
        if (f.kind !== 'map') continue;
        if (recompute.has(f.out)) forwardLine(f, false);
        else lines.push(`const t${f.out} = ${ctx.val(f.out)}[i];`);
        local.add(f.out);
      }
      for (const s of inner) lines.push(`let g${s} = 0;`);
      const target = (slot: number, ix: string) => (inner.has(slot) && ix === 'i' ? `g${slot}` : `${ctx.adj(slot)}[${ix}]`);
      for (let k = infos.length - 1; k >= 0; k--) {
        const f = infos[k];
        if (f.kind === 'reduce') {
          // The run does not write the adjoint of its reductions' outputs (nothing in it reads them).
          const ix = idx(f, f.index);
          const dy = ix === '0' ? invariant(ctx.adj(f.out)) : `${ctx.adj(f.out)}[${ix}]`;
          if (f.op === 'max' || f.op === 'min') {
            // dy to every element equal to the extremum (as ReduceNode.backward).
            const x = local.has(f.x) ? `t${f.x}` : `${ctx.val(f.x)}[i]`;
            lines.push(`if (${x} === ${ctx.val(f.out)}[${ix}]) ${target(f.x, 'i')} += ${dy};`);
            continue;
          }
          lines.push(`${target(f.x, 'i')} += ${dy}${f.scale !== 1 ? ` * ${f.scale}` : ''};`);
          continue;
        }
        const own = inner.has(f.out);
        const grads = f.reads.filter((r) => r.grad !== null);
        if (grads.length === 0) {
          if (!own) lines.push(`${ctx.adj(f.out)}[i] = 0;`);
          continue;
        }
        const d = own ? `const d = g${f.out};` : `const d = ${ctx.adj(f.out)}[i]; ${ctx.adj(f.out)}[i] = 0;`;
        const ops = [...f.reads.map((r, j) => `${f.names[j]} = ${valOf(r)}`), `y = t${f.out}`].join(', ');
        const upd = grads.map((r) => `${target(r.slot, idx(r, r.index))} += ${r.grad};`).join(' ');
        lines.push(`{ ${d} if (d !== 0) { const ${ops}; ${upd} } }`);
      }
    }
    const body = lines.join('\n');
    const L = nest.ext.length;
    const live = nest.strides.map((s, k) => (Array.isArray(s) && s.some((x) => x !== 0) && new RegExp(`\\bq${k}\\b`).test(body) ? k : -1)).filter((k) => k >= 0);
    let loop: string;
    if ((L === 0 || live.length === 0) && n <= UNROLL) loop = Array.from({ length: n }, (_, i) => `{ const i = ${i};\n${body}\n}`).join('\n');
    else if (L === 0 || live.length === 0) loop = `for (let i = 0; i < ${n}; i++) {\n${body}\n}`;
    else {
      // Counter of map k at level l: q{k}_{l} (its index before the inner levels).
      let open = 'let i = 0;\n';
      let close = '';
      let unrolled = false;
      const last = new Map<number, string>();
      for (let l = 0; l < L; l++) {
        const innermost = l === L - 1;
        const defs: string[] = [];
        for (const k of live) {
          const st = (nest.strides[k] as number[])[l];
          const prev = last.get(k);
          if (st === 0) continue;
          const term = `j${l} * ${st}`;
          const name = innermost ? `q${k}` : `q${k}_${l}`;
          defs.push(`const ${name} = ${prev ? `${prev} + ` : ''}${term};`);
          last.set(k, name);
        }
        if (innermost) {
          for (const k of live) if (!defs.some((x) => x.startsWith(`const q${k} `))) defs.push(`const q${k} = ${last.get(k)};`);
        }
        if (innermost && nest.ext[l] <= UNROLL) {
          // A short inner loop (the K of an [N, K] map) is written out: one copy of the body per j.
          const copies = Array.from({ length: nest.ext[l] }, (_, j) => `{ const j${l} = ${j};\n${defs.join(' ')}\n${body}\n}`);
          open += `${copies.join(' i++;\n')}\ni++;\n`;
          unrolled = true;
          break;
        }
        open += `for (let j${l} = 0; j${l} < ${nest.ext[l]}; j${l}++${innermost ? ', i++' : ''}) {\n${defs.join(' ')}\n`;
        close += '}\n';
      }
      loop = unrolled ? `${open}${close}` : `${open}${body}\n${close}`;
    }
    return `${pre.join(' ')}\n${loop}${post.join(' ')}`;
  };
  // Each group with a loop becomes its own small function: one function holding every loop
  // is optimized by on-stack replacement loop by loop and deoptimized again on the next
  // loop it has no type feedback for, so it ran mostly unoptimized for its first calls.
  // Runs of loop-free groups (small arrays, written out) share one straight-line function.
  const fns: string[] = [];
  const piece = (emit: () => string): { code: string; v: number[]; a: number[] } => {
    usedV.clear();
    usedA.clear();
    const code = emit();
    return { code, v: [...usedV], a: [...usedA] };
  };
  const functions = (pass: 'forward' | 'backward', pieces: { code: string; v: number[]; a: number[] }[]): string[] => {
    const calls: string[] = [];
    for (let k = 0; k < pieces.length;) {
      let e = k + 1;
      // Capped in size: V8 does not optimize very large functions.
      let len = pieces[k].code.length;
      if (!pieces[k].code.includes('for (')) while (e < pieces.length && !pieces[e].code.includes('for (') && (len += pieces[e].code.length) < 20000) e++;
      const run = pieces.slice(k, e);
      const vs = [...new Set(run.flatMap((p) => p.v))];
      const as = [...new Set(run.flatMap((p) => p.a))];
      const head = vs.map((s) => `const v${s} = v[${s}];`).join(' ') + as.map((s) => ` const a${s} = a[${s}];`).join('');
      const name = `${pass[0]}${fns.length}`;
      const code = run.length === 1 ? run[0].code : run.map((p) => `{\n${p.code}\n}`).join('\n');
      fns.push(`function ${name}(v, a) { ${head}\n${code}\n}`);
      calls.push(`${name}(v, a);`);
      k = e;
    }
    return calls;
  };
  const fwd = functions('forward', groups.map((g, gi) => piece(() => {
    if (g.infos) return fused(g.infos, internalOf[gi], recomputeOf[gi], 'forward');
    const n = nodes[g.nodes[0]];
    return n.emit?.(ctx, 'forward') ?? `${ctx.constant(n)}.forward(v);`;
  })));
  const bwd = functions('backward', groups.map((_, j) => groups.length - 1 - j).map((k) => piece(() => {
    const g = groups[k];
    if (g.infos) return fused(g.infos, internalOf[k], recomputeOf[k], 'backward');
    const n = nodes[g.nodes[0]];
    return n.emit?.(ctx, 'backward') ?? `${ctx.constant(n)}.backward(v, a);`;
  })));
  const consts0 = consts.map((_, k) => `const c${k} = C[${k}];`).join(' ');
  try {
    const body = `${consts0}\n${fns.join('\n')}\nreturn [function forward(v) { const a = undefined; ${fwd.join(' ')} }, function backward(v, a) { ${bwd.join(' ')} }];`;
    const [f, b] = new Function('C', body)(consts) as [(v: Float64Array[]) => void, (v: Float64Array[], a: Float64Array[]) => void];
    return { forward: f, backward: b, cleared: [...cleared], internal, localAdjoints, source: body };
  } catch {
    return null;
  }
}
