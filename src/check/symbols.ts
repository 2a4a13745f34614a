/**
 * What the checker hands on to lowering: the typed program, its top-level symbols
 * and the sizes to read off the data.
 */
import type { Diagnostic } from '../diagnostics/diagnostic';
import type { Span } from '../diagnostics/span';
import type { DeclStmt, Expr, LetStmt, Program } from '../ast/nodes';
import type { ConstraintName } from '../distributions/types';
import type { Ty } from './types';

/** What a top-level name is. `size` is an undeclared dim of a data declaration, read off the data. */
export type SymbolRole = 'data' | 'param' | 'latent' | 'size' | 'let';

/** One top-level name of a model. */
export interface SymbolInfo {
  name: string;
  role: SymbolRole;
  /** Element type and full shape (matrix types include both D axes). */
  ty: Ty;
  /** The declared constraint (absent for lets and sizes). Bounds stay expressions: they may name data. */
  constraint?: { name: ConstraintName; lower?: Expr; upper?: Expr };
  /** The declaring statement (absent for implicit sizes and latents). */
  decl?: DeclStmt | LetStmt;
  /** Where the name was declared or, for implicit names, first seen. */
  span?: Span;
  /** True for implicit sizes and for latents introduced by `~` without a declaration. */
  implicit?: boolean;
  /** Latents: the distribution family of (the first) `~` that defines it. */
  support?: { dist: string };
}

/** A size: a dim name whose value comes from the data. */
export interface SizeInfo {
  name: string;
  /** Data declarations that have it as a dim, and at which axis of their full shape. */
  from: { data: string; axis: number }[];
  /** True when also declared as `data N: int` (then given directly as well). */
  declared: boolean;
}

/** The result of `check`: the program with `ty` filled on its expressions, and what was found. */
export interface CheckResult {
  program: Program;
  symbols: Map<string, SymbolInfo>;
  sizes: SizeInfo[];
  diagnostics: Diagnostic[];
}
