/**
 * Contracts for distributions and constraint transforms. One registry row per
 * distribution drives type checking, argument validation, docs and the test table.
 */
import type { Tensor } from '../tensor';
import type { Rng } from '../tensor/random';

/**
 * Constraint names. Vector constraints (simplex, ordered, positive_ordered) act on the
 * last axis; matrix constraints (cholesky_*, *_matrix) on the last two (D x D).
 */
export type ConstraintName =
  | 'real' | 'positive' | 'unit' | 'lower' | 'upper' | 'interval'
  | 'simplex' | 'ordered' | 'positive_ordered'
  | 'cholesky_corr' | 'cholesky_cov' | 'cov_matrix' | 'corr_matrix'
  | 'int' | 'nonneg_int' | 'binary' | 'category';

/** A constraint with its bounds, when it has any. */
export interface Constraint {
  name: ConstraintName;
  lower?: number;
  upper?: number;
}

/** A JS value at a distribution's core rank: a number, a vector, or a matrix (row-major arrays). */
export type JsValue = number | number[] | number[][];

export interface ParamSpec {
  name: string;
  /** 0 scalar, 1 vector, 2 matrix: the core rank the density consumes; leading dims broadcast. */
  eventRank: 0 | 1 | 2;
  elem: 'real' | 'int';
  /** What a valid argument is; validated on data and documented. */
  constraint: ConstraintName;
}

export interface DistributionDef {
  name: string;
  /** One line for the language reference. */
  doc: string;
  /** The density written out, for the language reference (plain text / LaTeX-ish). */
  density: string;
  params: ParamSpec[];
  support: {
    elem: 'real' | 'int';
    eventRank: 0 | 1 | 2;
    constraint: ConstraintName;
    /** For int supports: true when the support is finite and can be enumerated. */
    finite?: boolean;
  };
  /**
   * Log density, numpy-style broadcasting over the leading (batch) dims of the value
   * and all params, each ending in its core dims. Returns a tensor of the broadcast
   * batch shape. Must be differentiable in the real-valued params (and the value when
   * the support is real). Int values come as float32 tensors holding whole numbers;
   * category values are 1-based (1..K) as in the language.
   */
  logProb(value: Tensor, ...params: Tensor[]): Tensor;
  /** One draw given params at their core ranks (already broadcast by the caller). */
  sample(rng: Rng, ...params: JsValue[]): JsValue;
  /**
   * For finite int supports: the number of support values given params at core rank
   * (categorical: K; bernoulli: 2 with values 0,1; binomial: n+1 with values 0..n).
   * `supportValues` lists them (ascending).
   */
  supportValues?(...params: JsValue[]): number[];
  /** Log CDF and log complementary CDF, for censoring/truncation (scalar families). */
  logCdf?(value: Tensor, ...params: Tensor[]): Tensor;
  logCcdf?(value: Tensor, ...params: Tensor[]): Tensor;
  /** Mean and variance at core rank when known in closed form (tests, docs). */
  moments?(...params: JsValue[]): { mean: JsValue; variance: JsValue } | undefined;
}

/**
 * A bijection from unconstrained reals to a constrained set, acting on the last
 * `eventRank` axes of a batch.
 */
export interface Transform {
  constraint: ConstraintName;
  eventRank: 0 | 1 | 2;
  /** The unconstrained event shape for a constrained event shape (simplex[K] -> [K-1]). */
  unconstrainedEventShape(eventShape: number[]): number[];
  /** unconstrained [..., u] -> constrained [..., event] */
  forward(u: Tensor): Tensor;
  /** constrained -> unconstrained (may throw on values outside the support) */
  inverse(x: Tensor): Tensor;
  /** log |det d forward / du|, summed over the event: shape = batch shape. */
  logDetJacobian(u: Tensor): Tensor;
}
