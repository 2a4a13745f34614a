/**
 * Float64 implementations of the built-in functions and operators on plain NdArrays.
 *
 * Same names and semantics as the checker's table (src/check/functions.ts) and the
 * tensor implementations (src/model/functions.ts), but in float64 JS with no tensors,
 * so the simulator can run independently of the tensor evaluator and tests can
 * cross-check the two. Shapes broadcast numpy-style, aligned from the right; bools
 * are 0/1; ints are whole float64 values (exact below 2^53).
 */
import { digammaF64, lgammaF64 } from '../tensor/special';
import type { NdArray } from './data';

/** Thrown when arguments do not suit a function (shape, rank, index); the caller adds the place. */
export class JsFunctionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsFunctionError';
  }
}

/** An n-ary function on NdArrays. */
export type JsFn = (args: NdArray[]) => NdArray;

// ---------------------------------------------------------------------------
// Construction and shape helpers

/** Returns the number of elements of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Returns a scalar NdArray. */
export function scalar(x: number): NdArray {
  return { shape: [], values: Float64Array.of(x) };
}

/** Returns an NdArray of the given shape from flat row-major values. */
export function ndarray(values: ArrayLike<number>, shape: number[]): NdArray {
  if (values.length !== sizeOf(shape)) throw new JsFunctionError(`${values.length} values do not fill shape ${fmtShape(shape)}`);
  return { shape: [...shape], values: Float64Array.from(values) };
}

/** Returns `[2, 3]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Returns the numpy broadcast of shapes (aligned from the right; each pair equal or 1), or throws naming `what`. */
export function broadcastShapes(shapes: readonly (readonly number[])[], what = 'operands'): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let j = 1; j <= s.length; j++) {
      const d = s[s.length - j];
      const o = out[rank - j];
      if (d === o || d === 1) continue;
      if (o === 1) out[rank - j] = d;
      else throw new JsFunctionError(`shape mismatch in ${what}: ${shapes.map(fmtShape).join(' and ')} do not broadcast (${o} vs ${d})`);
    }
  }
  return out;
}

/**
 * Returns, for each flat index of `outShape`, the flat index into an array of shape
 * `inShape` that broadcasts to it (right-aligned; size-1 axes repeat).
 */
export function broadcastOffsets(outShape: readonly number[], inShape: readonly number[]): Int32Array {
  const n = sizeOf(outShape);
  const out = new Int32Array(n);
  const lead = outShape.length - inShape.length;
  if (lead < 0) throw new JsFunctionError(`shape ${fmtShape(inShape)} has more axes than ${fmtShape(outShape)}`);
  // Stride of each output axis in the input (0 where the input broadcasts).
  const strides = new Array<number>(outShape.length).fill(0);
  let s = 1;
  for (let j = inShape.length - 1; j >= 0; j--) {
    const d = inShape[j];
    const o = outShape[lead + j];
    if (d !== o && d !== 1) throw new JsFunctionError(`shape ${fmtShape(inShape)} does not broadcast to ${fmtShape(outShape)}`);
    strides[lead + j] = d === 1 ? 0 : s;
    s *= d;
  }
  const idx = new Array<number>(outShape.length).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = off;
    // Odometer increment of the multi-index, keeping the input offset in step.
    for (let ax = outShape.length - 1; ax >= 0; ax--) {
      idx[ax]++;
      off += strides[ax];
      if (idx[ax] < outShape[ax]) break;
      off -= strides[ax] * idx[ax];
      idx[ax] = 0;
    }
  }
  return out;
}

/** Returns `a` broadcast to `shape` (a copy). */
export function broadcastTo(a: NdArray, shape: readonly number[]): NdArray {
  const offs = broadcastOffsets(shape, a.shape);
  const values = new Float64Array(offs.length);
  for (let i = 0; i < offs.length; i++) values[i] = a.values[offs[i]];
  return { shape: [...shape], values };
}

/** Applies a scalar function elementwise with broadcasting over all arguments. */
export function elementwise(args: readonly NdArray[], f: (...xs: number[]) => number, what = 'operands'): NdArray {
  if (args.length === 1) {
    const a = args[0];
    const values = new Float64Array(a.values.length);
    for (let i = 0; i < values.length; i++) values[i] = f(a.values[i]);
    return { shape: [...a.shape], values };
  }
  const shape = broadcastShapes(args.map((a) => a.shape), what);
  const n = sizeOf(shape);
  const values = new Float64Array(n);
  if (args.length === 2) {
    const [a, b] = args;
    const oa = broadcastOffsets(shape, a.shape);
    const ob = broadcastOffsets(shape, b.shape);
    for (let i = 0; i < n; i++) values[i] = f(a.values[oa[i]], b.values[ob[i]]);
    return { shape, values };
  }
  const offs = args.map((a) => broadcastOffsets(shape, a.shape));
  const xs = new Array<number>(args.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < args.length; k++) xs[k] = args[k].values[offs[k][i]];
    values[i] = f(...xs);
  }
  return { shape, values };
}

/**
 * Applies `f` to the core blocks of the arguments (argument k's last `coreRanks[k]` axes),
 * broadcasting the leading (batch) axes; the results, which must all have one shape,
 * are stacked under the broadcast batch shape.
 */
export function mapBatched(args: readonly NdArray[], coreRanks: readonly number[], f: (cores: NdArray[]) => NdArray, what: string): NdArray {
  const batches = args.map((a, k) => {
    if (a.shape.length < coreRanks[k]) {
      throw new JsFunctionError(`'${what}' needs ${coreRanks[k] === 1 ? 'a vector' : 'a matrix'} as argument ${k + 1}, got shape ${fmtShape(a.shape)}`);
    }
    return a.shape.slice(0, a.shape.length - coreRanks[k]);
  });
  const coreShapes = args.map((a, k) => a.shape.slice(a.shape.length - coreRanks[k]));
  const coreSizes = coreShapes.map(sizeOf);
  const batch = broadcastShapes(batches, `the leading axes of '${what}'`);
  const offs = batches.map((b) => broadcastOffsets(batch, b));
  const nb = sizeOf(batch);
  let outCore: number[] | undefined;
  let out: Float64Array | undefined;
  for (let i = 0; i < nb; i++) {
    const cores = args.map((a, k) => ({
      shape: coreShapes[k],
      values: a.values.subarray(offs[k][i] * coreSizes[k], (offs[k][i] + 1) * coreSizes[k]),
    }));
    const r = f(cores);
    if (!outCore || !out) {
      outCore = r.shape;
      out = new Float64Array(nb * r.values.length);
    }
    out.set(r.values, i * r.values.length);
  }
  if (!outCore || !out) {
    // Empty batch: run once on zero-filled cores to learn the result's core shape.
    const r = f(coreShapes.map((s) => ({ shape: s, values: new Float64Array(sizeOf(s)) })));
    return { shape: [...batch, ...r.shape], values: new Float64Array(0) };
  }
  return { shape: [...batch, ...outCore], values: out };
}

// ---------------------------------------------------------------------------
// Indexing

/**
 * Returns the flat positions selected by 1-based indices into an array of `shape`,
 * and the result's shape. Each index is an int scalar (drops its axis) or an int array
 * (multi-indexing: the axis is replaced by the index's own shape); several array
 * indices combine as an outer product, then the remaining axes follow.
 */
export function indexPositions(shape: readonly number[], indices: readonly NdArray[], what = 'the value'): { shape: number[]; pos: Int32Array } {
  if (indices.length > shape.length) {
    throw new JsFunctionError(`too many indices for ${what}: it has ${shape.length} axes, got ${indices.length} indices`);
  }
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let j = shape.length - 1; j >= 0; j--) {
    strides[j] = s;
    s *= shape[j];
  }
  const rest = shape.slice(indices.length);
  const restSize = sizeOf(rest);
  const outShape: number[] = [];
  // Base offsets from the indexed axes (outer product over index elements).
  let bases = [0];
  indices.forEach((ix, ax) => {
    outShape.push(...ix.shape);
    const next: number[] = [];
    for (const b of bases) {
      for (let k = 0; k < ix.values.length; k++) {
        const v = ix.values[k];
        if (!Number.isInteger(v)) throw new JsFunctionError(`index ${v} into ${what} is not an integer`);
        if (v < 1 || v > shape[ax]) {
          throw new JsFunctionError(`index ${v} is out of range for ${what}: axis ${ax + 1} has length ${shape[ax]} (indices are 1-based)`);
        }
        next.push(b + (v - 1) * strides[ax]);
      }
    }
    bases = next;
  });
  outShape.push(...rest);
  const pos = new Int32Array(bases.length * restSize);
  for (let i = 0; i < bases.length; i++) for (let r = 0; r < restSize; r++) pos[i * restSize + r] = bases[i] + r;
  return { shape: outShape, pos };
}

/** Returns `a[indices...]` (1-based; see `indexPositions`). */
export function indexArray(a: NdArray, indices: readonly NdArray[], what = 'the value'): NdArray {
  const { shape, pos } = indexPositions(a.shape, indices, what);
  const values = new Float64Array(pos.length);
  for (let i = 0; i < pos.length; i++) values[i] = a.values[pos[i]];
  return { shape, values };
}

/** Returns the elements stacked along a new first axis (a vector literal `[a, b, c]`); all must have one shape. */
export function stack(elements: readonly NdArray[]): NdArray {
  if (elements.length === 0) return { shape: [0], values: new Float64Array(0) };
  const inner = elements[0].shape;
  const n = elements[0].values.length;
  const values = new Float64Array(elements.length * n);
  elements.forEach((e, i) => {
    if (e.shape.length !== inner.length || e.shape.some((d, j) => d !== inner[j])) {
      throw new JsFunctionError(`vector elements must all have one shape, got ${fmtShape(inner)} and ${fmtShape(e.shape)}`);
    }
    values.set(e.values, i * n);
  });
  return { shape: [elements.length, ...inner], values };
}

// ---------------------------------------------------------------------------
// Scalar kernels (numerically careful where it matters)

/** log(1 + e^x) without overflow for large x or cancellation for very negative x. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** 1 / (1 + e^-x), never evaluating e^{large}. */
function invLogit(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(e^a + e^b) = max + log1p(e^{-|a-b|}); infinities handled before the difference makes NaN. */
function logAddExp(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  if (a === Infinity || b === Infinity) return Infinity;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log(sum(e^x)) over values, shifted by the max so no term overflows. */
function logSumExp(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(xs[i])) return NaN;
    if (xs[i] > m) m = xs[i];
  }
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - m);
  return m + Math.log(s);
}

/** Floored modulo, as tf.mod (the result has the sign of the divisor). */
function floorMod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
}

const truth = (x: number): boolean => x !== 0 && !Number.isNaN(x);

// ---------------------------------------------------------------------------
// Reductions and vector / matrix kernels

const reduce = (f: (xs: Float64Array) => number): JsFn => ([a]) => scalar(f(a.values));

function sumOf(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s;
}

/** Sample variance with divisor n - 1 (at least 1, as the tensor version), two-pass for accuracy. */
function varianceOf(xs: Float64Array): number {
  const n = xs.length;
  if (n === 0) return NaN;
  const m = sumOf(xs) / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i] - m) ** 2;
  return ss / Math.max(1, n - 1);
}

const lastAxis = (name: string, f: (v: Float64Array) => Float64Array): JsFn => ([a]) =>
  mapBatched([a], [1], ([v]) => ({ shape: [...v.shape], values: f(v.values) }), name);

function softmaxOf(v: Float64Array): Float64Array {
  const lse = logSumExp(v);
  return v.map((x) => Math.exp(x - lse));
}

function cumsumOf(v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  let s = 0;
  for (let i = 0; i < v.length; i++) out[i] = s += v[i];
  return out;
}

/** [m, k] @ [k, n] for core blocks. */
function matmulCore(a: NdArray, b: NdArray): NdArray {
  const [m, k] = a.shape;
  const [k2, n] = b.shape;
  if (k !== k2) throw new JsFunctionError(`inner dims of '@' differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} vs ${k2})`);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a.values[i * k + l] * b.values[l * n + j];
      out[i * n + j] = s;
    }
  }
  return { shape: [m, n], values: out };
}

function transposeCore(a: NdArray): NdArray {
  const [m, n] = a.shape;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a.values[i * n + j];
  return { shape: [n, m], values: out };
}

const asMatrix = (v: NdArray, asRow: boolean): NdArray => ({ shape: asRow ? [1, v.shape[0]] : [v.shape[0], 1], values: v.values });

/** Matrix product: matrix @ matrix (batched), matrix @ vector, vector @ matrix. */
function matmul([a, b]: NdArray[]): NdArray {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra === 0 || rb === 0) throw new JsFunctionError("'@' needs a matrix or vector on each side; to scale by a scalar use *");
  if (ra === 1 && rb === 1) throw new JsFunctionError("'@' of two vectors: use dot(a, b)");
  if (rb === 1) {
    return mapBatched([a, b], [2, 1], ([m, v]) => {
      const r = matmulCore(m, asMatrix(v, false));
      return { shape: [r.shape[0]], values: r.values };
    }, '@');
  }
  if (ra === 1) {
    return mapBatched([a, b], [1, 2], ([v, m]) => {
      const r = matmulCore(asMatrix(v, true), m);
      return { shape: [r.shape[1]], values: r.values };
    }, '@');
  }
  return mapBatched([a, b], [2, 2], ([x, y]) => matmulCore(x, y), '@');
}

function needSquare(m: NdArray, name: string): number {
  const [r, c] = m.shape;
  if (r !== c) throw new JsFunctionError(`'${name}' needs a square matrix, got shape ${fmtShape(m.shape)}`);
  return r;
}

/** Reads argument `a` as a non-negative integer size for a constructor. */
function dimArg(a: NdArray, name: string): number {
  if (a.shape.length !== 0) throw new JsFunctionError(`dims of '${name}' must be int scalars, got shape ${fmtShape(a.shape)}`);
  const n = a.values[0];
  if (!Number.isInteger(n) || n < 0) throw new JsFunctionError(`dims of '${name}' must be non-negative integers, got ${n}`);
  return n;
}

function fill(x: NdArray, dims: NdArray[], name: string): NdArray {
  const shape = dims.map((d) => dimArg(d, name));
  const n = sizeOf(shape);
  const k = x.values.length;
  const values = new Float64Array(n * k);
  for (let i = 0; i < n; i++) values.set(x.values, i * k);
  return { shape: [...shape, ...x.shape], values };
}

const unary = (f: (x: number) => number): JsFn => (args) => elementwise(args, f);
const binary = (name: string, f: (x: number, y: number) => number): JsFn => (args) => elementwise(args, f, `'${name}'`);

/** The built-in functions, by the checker's names. */
export const JS_FUNCTIONS: Readonly<Record<string, JsFn>> = {
  // elementwise
  exp: unary(Math.exp),
  log: unary(Math.log),
  log1p: unary(Math.log1p),
  expm1: unary(Math.expm1),
  sqrt: unary(Math.sqrt),
  square: unary((x) => x * x),
  abs: unary(Math.abs),
  inv_logit: unary(invLogit),
  logit: unary((x) => Math.log(x) - Math.log1p(-x)),
  log_inv_logit: unary((x) => -softplus(-x)),
  log1m_inv_logit: unary((x) => -softplus(x)),
  softplus: unary(softplus),
  lgamma: unary(lgammaF64),
  digamma: unary(digammaF64),
  sin: unary(Math.sin),
  cos: unary(Math.cos),
  tanh: unary(Math.tanh),
  // binary
  pow: binary('pow', Math.pow),
  min: binary('min', Math.min),
  max: binary('max', Math.max),
  log_add_exp: binary('log_add_exp', logAddExp),
  // reductions over every axis
  sum: reduce(sumOf),
  mean: reduce((xs) => sumOf(xs) / xs.length),
  sd: reduce((xs) => Math.sqrt(varianceOf(xs))),
  variance: reduce(varianceOf),
  log_sum_exp: (args) => (args.length === 2 ? elementwise(args, logAddExp, "'log_sum_exp'") : scalar(logSumExp(args[0].values))),
  prod: reduce((xs) => xs.reduce((p, x) => p * x, 1)),
  // along the last axis
  softmax: lastAxis('softmax', softmaxOf),
  log_softmax: lastAxis('log_softmax', (v) => {
    const lse = logSumExp(v);
    return v.map((x) => x - lse);
  }),
  cumsum: lastAxis('cumsum', cumsumOf),
  dot: (args) => mapBatched(args, [1, 1], ([a, b]) => {
    if (a.values.length !== b.values.length) throw new JsFunctionError(`lengths of 'dot' differ: ${a.values.length} vs ${b.values.length}`);
    let s = 0;
    for (let i = 0; i < a.values.length; i++) s += a.values[i] * b.values[i];
    return scalar(s);
  }, 'dot'),
  // matrices (last two axes; leading axes broadcast)
  transpose: ([a]) => mapBatched([a], [2], ([m]) => transposeCore(m), 'transpose'),
  diag_matrix: ([a]) => mapBatched([a], [1], ([v]) => {
    const n = v.values.length;
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++) out[i * n + i] = v.values[i];
    return { shape: [n, n], values: out };
  }, 'diag_matrix'),
  diagonal: ([a]) => mapBatched([a], [2], ([m]) => {
    const n = needSquare(m, 'diagonal');
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = m.values[i * n + i];
    return { shape: [n], values: out };
  }, 'diagonal'),
  diag_pre_multiply: (args) => mapBatched(args, [1, 2], ([v, m]) => {
    const [r, c] = m.shape;
    if (v.values.length !== r) throw new JsFunctionError(`'diag_pre_multiply': the vector has length ${v.values.length} but the matrix has ${r} rows`);
    const out = new Float64Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = v.values[i] * m.values[i * c + j];
    return { shape: [r, c], values: out };
  }, 'diag_pre_multiply'),
  diag_post_multiply: (args) => mapBatched(args, [2, 1], ([m, v]) => {
    const [r, c] = m.shape;
    if (v.values.length !== c) throw new JsFunctionError(`'diag_post_multiply': the matrix has ${c} columns but the vector has length ${v.values.length}`);
    const out = new Float64Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = m.values[i * c + j] * v.values[j];
    return { shape: [r, c], values: out };
  }, 'diag_post_multiply'),
  tcrossprod: ([a]) => mapBatched([a], [2], ([m]) => matmulCore(m, transposeCore(m)), 'tcrossprod'),
  crossprod: ([a]) => mapBatched([a], [2], ([m]) => matmulCore(transposeCore(m), m), 'crossprod'),
  // constructors
  rep: ([x, ...dims]) => fill(x, dims, 'rep'),
  ones: (dims) => fill(scalar(1), dims, 'ones'),
  zeros: (dims) => fill(scalar(0), dims, 'zeros'),
};

const compare = (op: string, f: (a: number, b: number) => boolean): JsFn => (args) => elementwise(args, (a, b) => (f(a, b) ? 1 : 0), `'${op}'`);

/**
 * The operators, by symbol: binary `+ - * / % ^ @`, comparisons and `&& ||` (0/1
 * results), unary `neg` and `!`, and the ternary `?:` (condition, then, else).
 */
export const JS_OPERATORS: Readonly<Record<string, JsFn>> = {
  '+': binary('+', (a, b) => a + b),
  '-': binary('-', (a, b) => a - b),
  '*': binary('*', (a, b) => a * b),
  '/': binary('/', (a, b) => a / b),
  '%': binary('%', floorMod),
  '^': binary('^', Math.pow),
  '@': matmul,
  '==': compare('==', (a, b) => a === b),
  '!=': compare('!=', (a, b) => a !== b),
  '<': compare('<', (a, b) => a < b),
  '<=': compare('<=', (a, b) => a <= b),
  '>': compare('>', (a, b) => a > b),
  '>=': compare('>=', (a, b) => a >= b),
  '&&': compare('&&', (a, b) => truth(a) && truth(b)),
  '||': compare('||', (a, b) => truth(a) || truth(b)),
  neg: unary((x) => -x),
  '!': unary((x) => (truth(x) ? 0 : 1)),
  '?:': (args) => elementwise(args, (c, a, b) => (truth(c) ? a : b), "'?:'"),
};

/** Returns f(args) for the built-in function `name`; throws JsFunctionError for an unknown name. */
export function callFunction(name: string, args: NdArray[]): NdArray {
  const f = Object.prototype.hasOwnProperty.call(JS_FUNCTIONS, name) ? JS_FUNCTIONS[name] : undefined;
  if (!f) throw new JsFunctionError(`unknown function '${name}'`);
  return f(args);
}

/** Returns the operator `op` applied to its operands; throws JsFunctionError for an unknown operator. */
export function applyOperator(op: string, args: NdArray[]): NdArray {
  const f = Object.prototype.hasOwnProperty.call(JS_OPERATORS, op) ? JS_OPERATORS[op] : undefined;
  if (!f) throw new JsFunctionError(`unknown operator '${op}'`);
  return f(args);
}
