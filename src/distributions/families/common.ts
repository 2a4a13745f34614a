/**
 * Helpers shared by the distribution families: parameter specs, safe log-space tensor
 * pieces (no NaN gradients leaking through `where`), and argument checks for samplers.
 */
import { tf, log1p } from '../../tensor';
import type { Tensor } from '../../tensor';
import type { ConstraintName, JsValue, ParamSpec } from '../types';

export const LN2 = Math.LN2;
export const LOG_PI = Math.log(Math.PI);
export const LOG_2PI = Math.log(2 * Math.PI);
export const LOG_SQRT_2PI = 0.5 * LOG_2PI;

/** Returns a real parameter spec (scalar unless `eventRank` says otherwise). */
export function real(name: string, constraint: ConstraintName = 'real', eventRank: 0 | 1 | 2 = 0): ParamSpec {
  return { name, eventRank, elem: 'real', constraint };
}

/** Returns an int parameter spec. */
export function int(name: string, constraint: ConstraintName = 'int', eventRank: 0 | 1 | 2 = 0): ParamSpec {
  return { name, eventRank, elem: 'int', constraint };
}

// ---------------------------------------------------------------------------------------
// Tensor pieces
// ---------------------------------------------------------------------------------------

/**
 * Returns `lp` where `ok`, -Infinity elsewhere (broadcasting). The caller must already have
 * fed `lp` a safe stand-in for the rejected values: `where` sends a zero gradient into the
 * unselected branch, and 0 times an infinite local derivative is NaN.
 */
export function orNegInf(ok: Tensor, lp: Tensor): Tensor {
  return tf.where(ok, lp, tf.scalar(-Infinity));
}

/** Returns x where `ok`, else the constant `fill` (a safe stand-in, see `orNegInf`). */
export function safe(ok: Tensor, x: Tensor, fill: number): Tensor {
  return tf.where(ok, x, tf.scalar(fill));
}

/**
 * Returns x·log(y), taken as 0 where x = y = 0 (0·log 0 = 0, as in a pmf at a boundary
 * probability). Only that corner is substituted, so d/dx = log y survives at x = 0, y > 0.
 */
export function xlogy(x: Tensor, y: Tensor): Tensor {
  const corner = and(tf.equal(x, 0), tf.equal(y, 0));
  return tf.mul(x, tf.log(tf.where(corner, tf.scalar(1), y)));
}

/** Returns x·log1p(y), taken as 0 where x = 0 and y = -1 (0·log 0 = 0). */
export function xlog1py(x: Tensor, y: Tensor): Tensor {
  const corner = and(tf.equal(x, 0), tf.equal(y, -1));
  return tf.mul(x, log1p(tf.where(corner, tf.scalar(0), y)));
}

const softplusOp = tf.customGrad((xa: Tensor | tf.GradSaveFunc, sa: Tensor | tf.GradSaveFunc) => {
  const x = xa as Tensor;
  (sa as tf.GradSaveFunc)([x]);
  // max(x, 0) + log1p(e^{-|x|}) never overflows; the gradient sigmoid(x) is given explicitly
  // because max and |x| have one-sided derivatives at 0 that would sum to 1.5, not 0.5.
  const value = tf.add(tf.relu(x), log1p(tf.exp(tf.neg(tf.abs(x)))));
  return { value, gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, tf.sigmoid(saved[0])) };
});

/** Returns log(1 + e^x) elementwise, stable for any x (gradient sigmoid(x)). */
export function softplus(x: Tensor): Tensor {
  return softplusOp(x) as Tensor;
}

/** Returns log sigmoid(x) = -softplus(-x). */
export function logSigmoid(x: Tensor): Tensor {
  return tf.neg(softplus(tf.neg(x)));
}

// ---------------------------------------------------------------------------------------
// Sampler argument checks (samplers get plain JS numbers; bad ones get a named error)
// ---------------------------------------------------------------------------------------

function fail(family: string, msg: string): never {
  throw new RangeError(`${family}: ${msg}`);
}

/** Returns v as a number, or throws naming the family and the parameter. */
export function num(family: string, name: string, v: JsValue | undefined): number {
  if (typeof v !== 'number') fail(family, `${name} must be a number, got ${JSON.stringify(v)}`);
  if (Number.isNaN(v)) fail(family, `${name} is NaN`);
  return v;
}

/** Returns v as a finite number. */
export function finite(family: string, name: string, v: JsValue | undefined): number {
  const x = num(family, name, v);
  if (!Number.isFinite(x)) fail(family, `${name} must be finite, got ${x}`);
  return x;
}

/** Returns v as a positive finite number. */
export function positive(family: string, name: string, v: JsValue | undefined): number {
  const x = num(family, name, v);
  if (!(x > 0) || x === Infinity) fail(family, `${name} must be a positive finite number, got ${x}`);
  return x;
}

/** Returns v as a probability in [0, 1]. */
export function probability(family: string, name: string, v: JsValue | undefined): number {
  const x = num(family, name, v);
  if (!(x >= 0 && x <= 1)) fail(family, `${name} must be a probability in [0, 1], got ${x}`);
  return x;
}

/** Returns v as a nonnegative integer. */
export function count(family: string, name: string, v: JsValue | undefined): number {
  const x = num(family, name, v);
  if (!Number.isSafeInteger(x) || x < 0) fail(family, `${name} must be a nonnegative integer, got ${x}`);
  return x;
}

/** Returns v as a nonempty vector of numbers. */
export function vector(family: string, name: string, v: JsValue | undefined): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((e) => typeof e !== 'number')) {
    fail(family, `${name} must be a nonempty vector of numbers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

/** Returns v as a square matrix (D x D, D >= 1), optionally of a required size. */
export function squareMatrix(family: string, name: string, v: JsValue | undefined, D?: number): number[][] {
  const ok = Array.isArray(v) && v.length > 0 && v.every((r) => Array.isArray(r) && r.length === v.length && r.every((e) => typeof e === 'number'));
  if (!ok) fail(family, `${name} must be a square matrix of numbers, got ${JSON.stringify(v)}`);
  const m = v as number[][];
  if (D !== undefined && m.length !== D) fail(family, `${name} must be ${D} x ${D}, got ${m.length} x ${m.length}`);
  return m;
}

/** Returns the parameters as numbers, checking their count and that each is a number (scalar families). */
export function scalarArgs(family: string, names: readonly string[], ps: readonly JsValue[]): number[] {
  if (ps.length !== names.length) fail(family, `expected ${names.length} parameter(s) (${names.join(', ')}), got ${ps.length}`);
  return ps.map((p, i) => num(family, names[i], p));
}

/** Throws a RangeError naming the family. */
export function invalid(family: string, msg: string): never {
  return fail(family, msg);
}

// Support masks depend on the value and the parameters, so they sit on the gradient tape.
// tfjs's tape demands float32 gradients for every op input, which bool ops (LogicalAnd, All,
// ...) cannot give, so masks are combined as 0/1 floats (Cast, Mul, Min have gradients) and
// turned back into bools by a comparison (zero gradient).

/** Returns a AND b for bool tensors (broadcasting), gradient-tape safe. */
export function and(a: Tensor, b: Tensor): Tensor {
  return tf.greater(tf.mul(tf.cast(a, 'float32'), tf.cast(b, 'float32')), 0);
}

/** Returns a OR b for bool tensors (broadcasting), gradient-tape safe. */
export function or(a: Tensor, b: Tensor): Tensor {
  return tf.greater(tf.add(tf.cast(a, 'float32'), tf.cast(b, 'float32')), 0);
}

/** Returns true where x is not NaN (NaN is the only value unequal to itself). */
export function notNaN(x: Tensor): Tensor {
  return tf.equal(x, x);
}

/** Returns the AND of a bool tensor over `axis`, gradient-tape safe (tfjs has no gradient for All). */
export function allOf(cond: Tensor, axis: number | number[]): Tensor {
  return tf.greater(tf.min(tf.cast(cond, 'float32'), axis), 0);
}
