/**
 * The IR: a typed graph of variables in plates, with factors. Every inference family
 * reads this; none re-parses text or recognises a model by name.
 *
 * - Loops become plates, named by their range (`1..N`); two loops over the same range
 *   are the same plate, so a latent defined in one and used in the other lines up.
 * - Local `let`s are inlined; top-level `let`s stay as deterministic nodes.
 * - `mixture(w, k -> d)` is desugared to an enumerated latent plus an observation.
 * - Discrete latents are referenced only as `z[n]` (the plate's loop variable), `z[t-1]`
 *   (a chain), or `z[c]` (a constant position in a chain).
 */
import type { Span } from '../diagnostics/span';
import type { Constraint } from '../distributions/types';
import type { ElemType } from '../check/types';

/** A dimension of a declared shape, resolved to a number when data is bound. */
export type IRDim = { kind: 'const'; n: number } | { kind: 'size'; name: string } | { kind: 'expr'; expr: IRExpr };

export type IRExpr =
  | { op: 'const'; value: number; elem: ElemType }
  | { op: 'data'; name: string }
  | { op: 'param'; name: string }
  | { op: 'let'; name: string }
  | { op: 'size'; name: string }
  /** A loop variable: the 1-based position along the plate. */
  | { op: 'loop'; plate: string }
  /** A latent element: `z` (rank 0), `z[n]` (plate), `z[t-1]` (plate, shift -1) or `z[3]` (at). */
  | { op: 'latent'; name: string; index: LatentIndex[] }
  | { op: 'index'; target: IRExpr; indices: IRExpr[]; span: Span }
  | { op: 'call'; fn: string; args: IRExpr[]; span: Span }
  | { op: 'vector'; elements: IRExpr[] }
  | { op: 'where'; cond: IRExpr; then: IRExpr; else: IRExpr };

export type LatentIndex = { plate: string; shift: number } | { at: number };

/** A distribution application on the right of `~`. */
export type IRDist =
  | { kind: 'family'; family: string; args: IRExpr[]; span: Span }
  | { kind: 'censored' | 'truncated'; base: IRDist & { kind: 'family' }; lower: IRExpr; upper: IRExpr; span: Span };

export interface Plate {
  id: string;
  /** The loop variable's name in the source (the first loop seen over this range). */
  varName: string;
  lo: IRExpr;
  hi: IRExpr;
}

export type FactorKind = 'prior' | 'obs' | 'latent' | 'target';

/** One term of the log density: a `~` statement or a `target +=`. */
export interface Factor {
  id: number;
  kind: FactorKind;
  /** The variable on the left of `~` (absent for target). */
  site?: string;
  /** The value the density is evaluated at: a data/param reference (maybe indexed) or a latent reference. */
  value?: IRExpr;
  dist?: IRDist;
  /** For `target += e`: the term. */
  term?: IRExpr;
  /** Enclosing plates, outermost first. */
  plates: string[];
  /** Enumerated latents referenced anywhere in the factor (value or arguments). */
  latents: string[];
  span: Span;
}

export interface DataNode {
  name: string;
  elem: ElemType;
  shape: IRDim[];
  constraint?: IRConstraint;
  span?: Span;
}

/** A constraint whose bounds may still be data expressions (resolved at bind time). */
export interface IRConstraint {
  name: Constraint['name'];
  lower?: IRExpr;
  upper?: IRExpr;
}

export interface ParamNode {
  name: string;
  /** The constrained value's full shape (matrix types include both D axes). */
  shape: IRDim[];
  constraint: IRConstraint;
  /** Axes at the end of `shape` that the constraint acts on jointly (simplex: 1, cholesky: 2). */
  eventRank: 0 | 1 | 2;
  span?: Span;
}

export interface LatentNode {
  name: string;
  shape: IRDim[];
  /** For each axis, the plate its elements live in (absent for a chain's time axis: see `chain`). */
  plates: string[];
  /** The factor that gives its distribution (for a chain, all of them). */
  factors: number[];
  /** Set by the chain-detection pass: elements depend on their predecessor along axis 0. */
  chain?: { axis: 0 };
  /** Set by the enumeration pass: how to enumerate the support. */
  enumeration?: { family: string; factor: number };
  /** True when the mixture sugar made it (named `<site>$k`). */
  fromMixture?: boolean;
  span?: Span;
}

export interface LetNode {
  name: string;
  expr: IRExpr;
  span?: Span;
}

export interface SizeNode {
  name: string;
  /** Where to read it off the data. */
  from: { data: string; axis: number }[];
  /** Declared as `data N: int` (also given directly), or only implied by shapes. */
  declared: boolean;
}

/** The whole IR of one model. */
export interface IRProgram {
  name: string;
  doc?: string;
  sizes: SizeNode[];
  data: DataNode[];
  params: ParamNode[];
  latents: LatentNode[];
  lets: LetNode[];
  plates: Plate[];
  factors: Factor[];
  /** Filled by the conjugacy pass: what EM/Gibbs can do in closed form. */
  structure?: StructureInfo;
}

/** What the structure pass found, for EM M-steps and Gibbs updates. */
export interface StructureInfo {
  /** For each param: the factors it appears in, and its prior factor if any. */
  params: Record<string, { prior?: number; factors: number[] }>;
  /** Observation factors whose family is an exponential family, with how their args depend on latents. */
  components: ComponentInfo[];
  /** Prior/likelihood pairs with a closed-form conditional. */
  conjugate: { param: string; prior: number; likelihood: number[]; kind: string }[];
}

export interface ComponentInfo {
  factor: number;
  family: string;
  expfam: boolean;
  /** Per distribution argument: a param selected by latent (`mu[z[n]]`), a plain param, or another expression. */
  args: ({ kind: 'param-by-latent'; param: string; latent: string } | { kind: 'param'; param: string } | { kind: 'other' })[];
}
