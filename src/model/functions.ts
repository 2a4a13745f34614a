/**
 * Tensor implementations of the built-in functions, by the names in the checker's
 * table (src/check/functions.ts) plus the operator names lowering produces.
 */
import { tf, type Tensor } from '../tensor';
import { lgamma, digamma, logAddExp, logSumExp, log1p, expm1, batchMatMul, matrixDiag, matrixDiagPart } from '../tensor';
import { align, elementwise, eventShape, type BVal } from './values';

export type FnImpl = (args: BVal[], staticInt: (v: BVal) => number) => BVal;

const unary = (f: (t: Tensor) => Tensor): FnImpl => ([a]) => ({ t: f(toFloat(a.t)), dims: a.dims });
const binary = (f: (a: Tensor, b: Tensor) => Tensor): FnImpl => (args) => elementwise(args.map(asFloat), f);

function toFloat(t: Tensor): Tensor {
  return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
}
function asFloat(v: BVal): BVal {
  return v.t.dtype === 'float32' ? v : { ...v, t: toFloat(v.t) };
}
function asBool(v: BVal): BVal {
  return v.t.dtype === 'bool' ? v : { ...v, t: tf.notEqual(v.t, 0) };
}

/** Reduces every event axis (Stan semantics: sum of a matrix is a scalar). */
const reduceAll = (f: (t: Tensor, axes: number[]) => Tensor): FnImpl => ([a]) => {
  const axes: number[] = [];
  for (let i = a.dims.length; i < a.t.rank; i++) axes.push(i);
  if (axes.length === 0) return asFloat(a);
  return { t: f(toFloat(a.t), axes), dims: a.dims };
};

/** Applies f along the last axis, keeping shape. */
const lastAxis = (f: (t: Tensor) => Tensor): FnImpl => ([a]) => {
  if (eventShape(a).length < 1) throw new FunctionArgError('a vector');
  return { t: f(toFloat(a.t)), dims: a.dims };
};

/** Thrown when an argument's shape does not suit a function; the caller adds the place. */
export class FunctionArgError extends Error {
  constructor(readonly expected: string) {
    super(`expected ${expected}`);
  }
}

function variance(t: Tensor, axes: number[]): Tensor {
  // Sample variance with n-1 in the denominator, as Stan's variance().
  const n = axes.reduce((s, a) => s * t.shape[a], 1);
  const m = tf.mean(t, axes, true);
  return tf.div(tf.sum(tf.square(tf.sub(t, m)), axes), Math.max(1, n - 1));
}

function matmul(args: BVal[]): BVal {
  const [a, b] = args.map(asFloat);
  const ra = eventShape(a).length, rb = eventShape(b).length;
  if (ra === 0 || rb === 0) throw new FunctionArgError('a matrix or vector on each side of @');
  const ca = Math.min(ra, 2), cb = Math.min(rb, 2);
  const { dims, ts } = align([a, b], [ca, cb]);
  let [x, y] = ts;
  // Promote vectors to matrices so one batched matmul serves all four cases.
  if (ca === 1) x = tf.expandDims(x, -2);
  if (cb === 1) y = tf.expandDims(y, -1);
  let r = batchMatMul(x, y);
  if (cb === 1) r = tf.squeeze(r, [r.rank - 1]);
  if (ca === 1) r = tf.squeeze(r, [r.rank - (cb === 1 ? 1 : 2)]);
  return { t: r, dims };
}

function transposeLast(t: Tensor): Tensor {
  const perm = [...Array(t.rank).keys()];
  [perm[t.rank - 1], perm[t.rank - 2]] = [perm[t.rank - 2], perm[t.rank - 1]];
  return tf.transpose(t, perm);
}

function fill(args: BVal[], staticInt: (v: BVal) => number, value?: BVal): BVal {
  const shape = args.map((a) => {
    const n = staticInt(a);
    if (!Number.isInteger(n) || n < 0) throw new FunctionArgError(`a non-negative integer size, got ${n}`);
    return n;
  });
  if (!value) return { t: tf.zeros(shape), dims: [] };
  const v = asFloat(value);
  const t = layoutFill(v, shape);
  return { t, dims: v.dims };
}

function layoutFill(v: BVal, shape: number[]): Tensor {
  const ev = eventShape(v);
  const named = v.t.shape.slice(0, v.dims.length);
  const t = tf.reshape(v.t, [...named, ...new Array(shape.length).fill(1), ...ev]);
  return tf.broadcastTo(t, [...named, ...shape, ...ev]);
}

export const FUNCTIONS: Record<string, FnImpl> = {
  // operators
  add: binary(tf.add), sub: binary(tf.sub), mul: binary(tf.mul), div: binary(tf.div),
  mod: binary((a, b) => tf.mod(a, b)), pow: binary(tf.pow),
  neg: unary(tf.neg),
  not: ([a]) => ({ t: tf.logicalNot(asBool(a).t), dims: a.dims }),
  eq: binary(tf.equal), ne: binary(tf.notEqual), lt: binary(tf.less), le: binary(tf.lessEqual),
  gt: binary(tf.greater), ge: binary(tf.greaterEqual),
  and: (args) => elementwise(args.map(asBool), tf.logicalAnd),
  or: (args) => elementwise(args.map(asBool), tf.logicalOr),
  matmul,
  // elementwise
  exp: unary(tf.exp), log: unary(tf.log), log1p: unary(log1p), expm1: unary(expm1),
  sqrt: unary(tf.sqrt), square: unary(tf.square), abs: unary(tf.abs),
  inv_logit: unary(tf.sigmoid), logit: unary((t) => tf.sub(tf.log(t), log1p(tf.neg(t)))),
  log_inv_logit: unary((t) => tf.neg(tf.softplus(tf.neg(t)))),
  log1m_inv_logit: unary((t) => tf.neg(tf.softplus(t))),
  softplus: unary(tf.softplus), lgamma: unary(lgamma), digamma: unary(digamma),
  sin: unary(tf.sin), cos: unary(tf.cos), tanh: unary(tf.tanh),
  min: binary(tf.minimum), max: binary(tf.maximum),
  log_add_exp: binary(logAddExp),
  // reductions
  sum: reduceAll((t, ax) => tf.sum(t, ax)), mean: reduceAll((t, ax) => tf.mean(t, ax)),
  prod: reduceAll((t, ax) => tf.prod(t, ax)),
  variance: reduceAll(variance), sd: reduceAll((t, ax) => tf.sqrt(variance(t, ax))),
  log_sum_exp: (args, s) => (args.length === 2 ? binary(logAddExp)(args, s) : reduceAll((t, ax) => logSumExp(t, ax))(args, s)),
  // last axis
  softmax: lastAxis((t) => tf.softmax(t)), log_softmax: lastAxis((t) => tf.logSoftmax(t)),
  cumsum: lastAxis((t) => tf.cumsum(t, t.rank - 1)),
  dot: (args) => {
    const { dims, ts } = align(args.map(asFloat), [1, 1]);
    return { t: tf.sum(tf.mul(ts[0], ts[1]), -1), dims };
  },
  // matrices
  transpose: ([a]) => {
    if (eventShape(a).length < 2) throw new FunctionArgError('a matrix');
    return { t: transposeLast(toFloat(a.t)), dims: a.dims };
  },
  diag_matrix: lastAxis(matrixDiag),
  diagonal: ([a]) => {
    if (eventShape(a).length < 2) throw new FunctionArgError('a matrix');
    return { t: matrixDiagPart(toFloat(a.t)), dims: a.dims };
  },
  diag_pre_multiply: (args) => {
    const { dims, ts } = align(args.map(asFloat), [1, 2]);
    return { t: tf.mul(tf.expandDims(ts[0], -1), ts[1]), dims };
  },
  diag_post_multiply: (args) => {
    const { dims, ts } = align(args.map(asFloat), [2, 1]);
    return { t: tf.mul(ts[0], tf.expandDims(ts[1], -2)), dims };
  },
  tcrossprod: ([a]) => {
    if (eventShape(a).length < 2) throw new FunctionArgError('a matrix');
    const t = toFloat(a.t);
    return { t: batchMatMul(t, transposeLast(t)), dims: a.dims };
  },
  crossprod: ([a]) => {
    if (eventShape(a).length < 2) throw new FunctionArgError('a matrix');
    const t = toFloat(a.t);
    return { t: batchMatMul(transposeLast(t), t), dims: a.dims };
  },
  // constructors
  rep: ([x, ...dims], s) => fill(dims, s, x),
  ones: (dims, s) => fill(dims, s, { t: tf.scalar(1), dims: [] }),
  zeros: (dims, s) => fill(dims, s),
};
