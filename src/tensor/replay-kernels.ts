/**
 * The float64 replay of recorded tfjs kernels (see trace.ts): each kernel that depends on
 * the traced input is lowered to primitives with a forward and a vector–Jacobian product.
 * Kernels that only move elements (reshape, slice, transpose, tile, gather by constant
 * indices, concat, pad, ...) are lowered generically: the kernel itself is run once on
 * index-valued inputs, and its output is the index map.
 */
import * as tf from '@tensorflow/tfjs';

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
}

/**
 * How a node joins a fused loop over `i` in [0, size of slot `loop`): the slots it writes
 * (at `i`, or through a map when `mapped`), the slots it reads (at `i`, or through a map),
 * and its loop body per pass. `pre` and `post` run once around the loop.
 */
export interface FusionInfo {
  loop: number;
  writes: { slot: number; mapped: boolean }[];
  reads: { slot: number; mapped: boolean }[];
  body(ctx: EmitContext, pass: 'forward' | 'backward'): { pre?: string; body: string; post?: string };
  /** The backward body sets the adjoint of every slot it writes at `i` back to zero once read. */
  clears: boolean;
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

// ---------------------------------------------------------------- nodes

/** out[i] = src[sel[i]][idx[i]], or `fill` where idx[i] < 0. */
class MoveNode implements LoweredNode {
  constructor(private srcs: number[], private sel: Int32Array | null, private idx: Int32Array, private fill: number, private y: number) {}
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
    const dX = ctx.adj(this.srcs[0]);
    const dY = ctx.adj(this.y);
    return hasFill
      ? `{ const m = ${idx}; for (let i = 0; i < ${n}; i++) { const j = m[i]; if (j >= 0) ${dX}[j] += ${dY}[i]; } }`
      : `{ const m = ${idx}; for (let i = 0; i < ${n}; i++) ${dX}[m[i]] += ${dY}[i]; }`;
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
    return {
      loop: this.y,
      writes: [{ slot: this.y, mapped: false }],
      reads: [{ slot: this.x, mapped: false }],
      clears: true,
      body: (ctx, pass) => {
        const [f, df] = src;
        if (pass === 'forward') return { body: `{ const x = ${ctx.val(this.x)}[i]; ${ctx.val(this.y)}[i] = ${f}; }` };
        if (df === null) return { body: `${ctx.adj(this.y)}[i] = 0;` };
        return { body: `{ const d = ${ctx.adj(this.y)}[i]; ${ctx.adj(this.y)}[i] = 0; if (d !== 0) { const x = ${ctx.val(this.x)}[i], y = ${ctx.val(this.y)}[i]; ${ctx.adj(this.x)}[i] += ${df}; } }` };
      },
    };
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
    private a: number, private am: Int32Array | null, private aLive: boolean,
    private b: number, private bm: Int32Array | null, private bLive: boolean,
    private y: number, private src?: BinarySource,
  ) {}
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
    return {
      loop: this.y,
      writes: [{ slot: this.y, mapped: false }],
      reads: [{ slot: this.a, mapped: this.am !== null }, { slot: this.b, mapped: this.bm !== null }],
      clears: true,
      body: (ctx, pass) => {
        const [f, srcDa, srcDb] = src;
        const ia = this.am ? `${ctx.constant(this.am)}[i]` : 'i';
        const ib = this.bm ? `${ctx.constant(this.bm)}[i]` : 'i';
        const A = ctx.val(this.a);
        const B = ctx.val(this.b);
        const Y = ctx.val(this.y);
        if (pass === 'forward') return { body: `{ const a = ${A}[${ia}], b = ${B}[${ib}]; ${Y}[i] = ${f}; }` };
        const da = this.aLive ? srcDa : null;
        const db = this.bLive ? srcDb : null;
        if (da === null && db === null) return { body: `${ctx.adj(this.y)}[i] = 0;` };
        const upd = `${da !== null ? `${ctx.adj(this.a)}[${ia}] += ${da};` : ''} ${db !== null ? `${ctx.adj(this.b)}[${ib}] += ${db};` : ''}`;
        return { body: `{ const d = ${ctx.adj(this.y)}[i]; ${ctx.adj(this.y)}[i] = 0; if (d !== 0) { const a = ${A}[${ia}], b = ${B}[${ib}], y = ${Y}[i]; ${upd} } }` };
      },
    };
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
  constructor(private kind: ReduceKind, private x: number, private map: Int32Array, private count: number, private y: number) {}
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
    if (this.kind !== 'sum' && this.kind !== 'mean') return undefined;
    const scale = this.kind === 'mean' ? 1 / this.count : 1;
    return {
      loop: this.x,
      writes: [{ slot: this.y, mapped: true }],
      reads: [{ slot: this.x, mapped: false }],
      clears: false,
      body: (ctx, pass) => {
        const m = ctx.constant(this.map);
        const X = ctx.val(this.x);
        const Y = ctx.val(this.y);
        if (pass === 'forward') {
          return {
            pre: `${Y}.fill(0);`,
            body: `${Y}[${m}[i]] += ${X}[i];`,
            post: scale !== 1 ? `for (let j = 0; j < ${Y}.length; j++) ${Y}[j] *= ${scale};` : '',
          };
        }
        return { body: `${ctx.adj(this.x)}[i] += ${ctx.adj(this.y)}[${m}[i]]${scale !== 1 ? ` * ${scale}` : ''};` };
      },
    };
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
  constructor(private c: number, private cm: Int32Array | null, private t: number, private tLive: boolean, private e: number, private eLive: boolean, private y: number) {}
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

function reduceMap(shape: number[], axes: number[]): { map: Int32Array; count: number } {
  const n = size(shape);
  const map = new Int32Array(n);
  const keep = shape.map((_, d) => !axes.includes(d));
  const outShape = shape.filter((_, d) => keep[d]);
  const outSt = stridesOf(outShape);
  const st = stridesOf(shape);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    let od = 0;
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(rem / st[d]);
      rem -= c * st[d];
      if (keep[d]) j += c * outSt[od++];
    }
    map[i] = j;
  }
  const count = axes.reduce((p, a) => p * shape[a], 1);
  return { map, count };
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
    return new MoveNode(dataInputs.map((d) => d.slot), sel, idx, padValue, o.slot);
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
    const am = broadcastMap(a.shape, out.shape);
    const bm = broadcastMap(b.shape, out.shape);
    return [new BinaryNode(f, g, a.slot, am, a.live, b.slot, bm, b.live, out.slot, BINARY_SRC[k])];
  }
  if (k in REDUCE) {
    const x = ins[0];
    const axes = normAxes(call.attrs.axis ?? call.attrs.reductionIndices, x.shape.length);
    const { map, count } = reduceMap(x.shape, axes);
    return [new ReduceNode(REDUCE[k], x.slot, map, count, out.slot)];
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
    return [new SelectNode(c.slot, cm, t.slot, t.live, e.slot, e.live, out.slot)];
  }
  if (k === 'Softmax') {
    const x = ins[0];
    const n = x.shape[x.shape.length - 1];
    return [new SoftmaxNode(x.slot, out.slot, size(x.shape) / n, n)];
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
}

/**
 * Compiles the whole lowered program into one forward and one backward function: every
 * node's loop inline, slot arrays hoisted into locals, index maps captured as constants;
 * nodes without an emitter are called through their methods. Removes the per-node
 * dispatch that dominates on small arrays. Null when code generation is unavailable.
 *
 * With `slotSizes`, runs of consecutive elementwise nodes over the same number of elements
 * (unary and broadcasting binary maps, sum and mean reductions ending a run) are fused
 * into one loop per pass: on large arrays each unfused loop streams its operands through
 * memory, and the fused loop reads each element while it is still in cache. A node joins
 * a run only if every value it reads from the run is produced at the same index, so each
 * element's forward value and its adjoint (accumulated in reverse node order) are complete
 * when read; only the order of accumulation into broadcast operands' adjoints changes.
 */
export function compileProgram(
  nodes: readonly LoweredNode[], slotSizes?: readonly number[],
): CompiledProgram | null {
  const consts: unknown[] = [];
  const usedV = new Set<number>();
  const usedA = new Set<number>();
  const ctx: EmitContext = {
    val: (s) => (usedV.add(s), `v${s}`),
    adj: (s) => (usedA.add(s), `a${s}`),
    constant: (x) => (consts.push(x), `c${consts.length - 1}`),
  };
  // Runs of fusable nodes: [start, end) into `nodes`, with their fusion infos.
  const groups: { start: number; end: number; infos: (FusionInfo | undefined)[] }[] = [];
  for (let i = 0; i < nodes.length; ) {
    const first = slotSizes ? nodes[i].fusion?.() : undefined;
    if (!first || !slotSizes) {
      groups.push({ start: i, end: i + 1, infos: [undefined] });
      i++;
      continue;
    }
    const n = slotSizes[first.loop];
    const atI = new Set<number>();
    const mapped = new Set<number>();
    const infos: FusionInfo[] = [];
    let j = i;
    for (; j < nodes.length; j++) {
      const f = j === i ? first : nodes[j].fusion?.();
      if (!f || slotSizes[f.loop] !== n) break;
      if (f.reads.some((r) => mapped.has(r.slot) || (r.mapped && atI.has(r.slot)))) break;
      infos.push(f);
      for (const w of f.writes) (w.mapped ? mapped : atI).add(w.slot);
    }
    groups.push({ start: i, end: j, infos: infos.length > 1 ? infos : [undefined] });
    i = j;
  }
  // Adjoints the backward pass leaves zeroed (each read once, by its producer's body).
  const cleared = new Set<number>();
  for (const g of groups) {
    if (g.infos[0] === undefined) continue;
    for (const f of g.infos) if (f!.clears) for (const w of f!.writes) if (!w.mapped) cleared.add(w.slot);
  }
  const fused = (g: (typeof groups)[number], pass: 'forward' | 'backward'): string => {
    const parts = g.infos.map((f) => f!.body(ctx, pass));
    if (pass === 'backward') parts.reverse();
    const n = slotSizes![g.infos[0]!.loop];
    return `${parts.map((p) => p.pre ?? '').join(' ')}\nfor (let i = 0; i < ${n}; i++) {\n${parts.map((p) => p.body).join('\n')}\n}\n${parts.map((p) => p.post ?? '').join(' ')}`;
  };
  // Each group becomes its own small function: one function holding every loop is
  // optimized by on-stack replacement loop by loop and deoptimized again on the next loop
  // it has no type feedback for, so it ran mostly unoptimized for its first calls.
  const fns: string[] = [];
  const chunk = (pass: 'forward' | 'backward', emit: () => string): string => {
    usedV.clear();
    usedA.clear();
    const code = emit();
    const head = [...usedV].map((s) => `const v${s} = v[${s}];`).join(' ') + [...usedA].map((s) => ` const a${s} = a[${s}];`).join('');
    const name = `${pass[0]}${fns.length}`;
    fns.push(`function ${name}(v, a) { ${head}\n${code}\n}`);
    return `${name}(v, a);`;
  };
  const fwd: string[] = [];
  const bwd: string[] = [];
  for (const g of groups) {
    fwd.push(chunk('forward', () => {
      if (g.infos[0] !== undefined) return fused(g, 'forward');
      const n = nodes[g.start];
      return n.emit?.(ctx, 'forward') ?? `${ctx.constant(n)}.forward(v);`;
    }));
  }
  for (let k = groups.length - 1; k >= 0; k--) {
    const g = groups[k];
    bwd.push(chunk('backward', () => {
      if (g.infos[0] !== undefined) return fused(g, 'backward');
      const n = nodes[g.start];
      return n.emit?.(ctx, 'backward') ?? `${ctx.constant(n)}.backward(v, a);`;
    }));
  }
  const consts0 = consts.map((_, k) => `const c${k} = C[${k}];`).join(' ');
  try {
    const body = `${consts0}\n${fns.join('\n')}\nreturn [function forward(v) { const a = undefined; ${fwd.join(' ')} }, function backward(v, a) { ${bwd.join(' ')} }];`;
    const [f, b] = new Function('C', body)(consts) as [(v: Float64Array[]) => void, (v: Float64Array[], a: Float64Array[]) => void];
    return { forward: f, backward: b, cleared: [...cleared] };
  } catch {
    return null;
  }
}
