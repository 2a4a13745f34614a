/**
 * The abstract syntax tree of a `.mix` file.
 *
 * One tree, growing metadata (stanc3's two-level types): the parser fills `span`
 * on every node; the checker fills `ty` on expressions. No parallel hierarchies.
 */
import type { Span } from '../diagnostics/span';
import type { Ty } from '../check/types';

/** An identifier occurrence with its own span (for precise carets). */
export interface Ident {
  kind: 'Ident';
  name: string;
  span: Span;
}

/** `model NAME { ... }`: one per file. */
export interface Program {
  kind: 'Program';
  /** Text of the `///` or `/** *\/` comment directly above `model`, markers stripped. */
  doc?: string;
  name: Ident;
  body: Stmt[];
  span: Span;
}

export type Stmt = DeclStmt | LetStmt | TildeStmt | TargetStmt | ForStmt;

/** Role of a declared variable. */
export type DeclRole = 'data' | 'param' | 'latent';

/** `data x: real[N, D]`, `param w: simplex[K]`, `latent z: int<lower=1, upper=K>[N]`. */
export interface DeclStmt {
  kind: 'Decl';
  role: DeclRole;
  name: Ident;
  type: TypeExpr;
  /** Text of a `///` comment directly above the declaration. */
  doc?: string;
  span: Span;
}

/**
 * A type: base name, optional bounds, optional dims.
 * Base names: int, real, positive, unit, simplex, ordered, positive_ordered,
 * cholesky_corr, cholesky_cov, cov_matrix, corr_matrix.
 * For vector-valued bases (simplex, ordered, positive_ordered) the last dim is the
 * vector length; for matrix-valued bases (cholesky_*, *_matrix) the last dim D means
 * a D x D matrix. Leading dims are array dims.
 */
export interface TypeExpr {
  kind: 'Type';
  base: Ident;
  /** `<lower = e, upper = e>`; only meaningful for int and real. */
  lower?: Expr;
  upper?: Expr;
  dims: Expr[];
  span: Span;
}

/** `let name = value` (top level: a reported deterministic quantity; in a loop: a local). */
export interface LetStmt {
  kind: 'Let';
  name: Ident;
  value: Expr;
  span: Span;
}

/** `lhs ~ dist`: a prior, an observation, or a discrete latent's distribution. */
export interface TildeStmt {
  kind: 'Tilde';
  /** A Name or an Index of a Name. */
  lhs: Expr;
  /** A Call naming a distribution (or a combinator such as mixture/censored/truncated). */
  dist: Expr;
  span: Span;
}

/** `target += value`: adds a term to the log density. */
export interface TargetStmt {
  kind: 'Target';
  value: Expr;
  span: Span;
}

/** `for i in lo..hi { body }`: inclusive, 1-based; a plate when iterations are independent. */
export interface ForStmt {
  kind: 'For';
  var: Ident;
  lo: Expr;
  hi: Expr;
  body: Stmt[];
  span: Span;
}

export type Expr = NumExpr | NameExpr | BinaryExpr | UnaryExpr | CallExpr | IndexExpr | TernaryExpr | ArrayExpr | LambdaExpr;

interface ExprBase {
  span: Span;
  /** Filled in by the checker. */
  ty?: Ty;
}

/** A number literal. `isInt` is true when written without `.`/exponent (`3`, not `3.0` or `3e0`). */
export interface NumExpr extends ExprBase {
  kind: 'Num';
  value: number;
  isInt: boolean;
  /** The literal as written, so the printer round-trips it. */
  text: string;
}

export interface NameExpr extends ExprBase {
  kind: 'Name';
  name: string;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '^' | '@' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

export interface BinaryExpr extends ExprBase {
  kind: 'Binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
}

export type UnaryOp = '-' | '!';

export interface UnaryExpr extends ExprBase {
  kind: 'Unary';
  op: UnaryOp;
  operand: Expr;
}

/** `f(a, b)`: a function, or in a `~` right-hand side a distribution. */
export interface CallExpr extends ExprBase {
  kind: 'Call';
  callee: Ident;
  args: Expr[];
}

/** `x[i]`, `x[i, j]` (1-based). */
export interface IndexExpr extends ExprBase {
  kind: 'Index';
  target: Expr;
  indices: Expr[];
}

export interface TernaryExpr extends ExprBase {
  kind: 'Ternary';
  cond: Expr;
  then: Expr;
  else: Expr;
}

/** `[a, b, c]`: a vector literal. */
export interface ArrayExpr extends ExprBase {
  kind: 'Array';
  elements: Expr[];
}

/** `k -> body`: only as an argument of a distribution combinator, e.g. `mixture(w, k -> normal(mu[k], 1))`. */
export interface LambdaExpr extends ExprBase {
  kind: 'Lambda';
  param: Ident;
  body: Expr;
}

/** Operator precedence, loosest first; the parser and the printer both use it. */
export const PRECEDENCE: Record<string, number> = {
  '?:': 1,
  '||': 2,
  '&&': 3,
  '==': 4, '!=': 4, '<': 4, '<=': 4, '>': 4, '>=': 4,
  '+': 5, '-': 5,
  '*': 6, '/': 6, '%': 6, '@': 6,
  'unary': 7,
  '^': 8,
};
