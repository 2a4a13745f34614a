/**
 * Declarations: the top-level symbol table, sizes read off the data, and the rules on
 * declared types (known base, bounds only on int/real, sizes known from the data,
 * params continuous and latents discrete).
 */
import type { DeclStmt, Expr, Program, Stmt, TypeExpr } from '../ast/nodes';
import type { ConstraintName } from '../distributions/types';
import type { Dim } from './types';
import type { CheckContext } from './context';
import type { SymbolInfo } from './symbols';
import { Scope, items, spanOf } from './context';
import { joinSpans } from '../diagnostics/span';
import { constValue, exprAsDim, typeExpr } from './expressions';
import { ANY_DIM, describeTy } from './shapes';
import { typeExprText } from './text';
import { realOnlyHelp, nearName } from './hints';

/** What a type base means: element type, constraint, event rank and the range of its elements. */
export interface TypeBase {
  elem: 'int' | 'real';
  constraint: ConstraintName;
  /** 1 for vector constraints (last axis), 2 for matrix constraints (the last dim D means D x D). */
  eventRank: 0 | 1 | 2;
  /** Every element lies in [lo, hi]. */
  range: [number, number];
}

/** The type bases of the language. */
export const TYPE_BASES: Readonly<Record<string, TypeBase>> = {
  int: { elem: 'int', constraint: 'int', eventRank: 0, range: [-Infinity, Infinity] },
  real: { elem: 'real', constraint: 'real', eventRank: 0, range: [-Infinity, Infinity] },
  positive: { elem: 'real', constraint: 'positive', eventRank: 0, range: [0, Infinity] },
  unit: { elem: 'real', constraint: 'unit', eventRank: 0, range: [0, 1] },
  simplex: { elem: 'real', constraint: 'simplex', eventRank: 1, range: [0, 1] },
  ordered: { elem: 'real', constraint: 'ordered', eventRank: 1, range: [-Infinity, Infinity] },
  positive_ordered: { elem: 'real', constraint: 'positive_ordered', eventRank: 1, range: [0, Infinity] },
  cholesky_corr: { elem: 'real', constraint: 'cholesky_corr', eventRank: 2, range: [-1, 1] },
  cholesky_cov: { elem: 'real', constraint: 'cholesky_cov', eventRank: 2, range: [-Infinity, Infinity] },
  cov_matrix: { elem: 'real', constraint: 'cov_matrix', eventRank: 2, range: [-Infinity, Infinity] },
  corr_matrix: { elem: 'real', constraint: 'corr_matrix', eventRank: 2, range: [-1, 1] },
};

/** Stan habits that are not type names here, with what to write instead. */
const FOREIGN_TYPES: Record<string, string> = {
  vector: 'a vector of N reals is written real[N]',
  row_vector: 'a vector of N reals is written real[N]',
  matrix: 'an M x N matrix of reals is written real[M, N]',
  array: 'an array is written with dims after the type: real[N] or int[N]',
  float: "reals are written 'real'",
  double: "reals are written 'real'",
  integer: "integers are written 'int'",
  bool: "bools are not declared; they come from comparisons such as x > 0",
};

/** Returns the base of a declared type, or undefined when unknown. */
export function typeBase(t: TypeExpr | undefined): TypeBase | undefined {
  const name = t?.base?.name;
  return name !== undefined && Object.prototype.hasOwnProperty.call(TYPE_BASES, name) ? TYPE_BASES[name] : undefined;
}

/** Returns the number of axes of a declared type: its dims, plus one for matrix bases. */
function declRank(t: TypeExpr | undefined): number {
  const dims = t?.dims?.length ?? 0;
  return dims + (typeBase(t)?.eventRank === 2 && dims > 0 ? 1 : 0);
}

function declElem(t: TypeExpr | undefined): 'int' | 'real' {
  return typeBase(t)?.elem ?? 'real';
}

/**
 * Registers every top-level declaration and let, reporting names declared twice.
 * Types get their final dims later (`checkDeclarations`); for now every dim is `any`.
 */
export function registerDeclarations(cx: CheckContext, program: Program): void {
  for (const s of items(program.body)) {
    if (!s || (s.kind !== 'Decl' && s.kind !== 'Let')) continue;
    const name = s.name?.name;
    if (!name) continue;
    const first = cx.symbols.get(name);
    if (first) {
      reportRedeclared(cx, name, s.name.span, first.span);
      continue;
    }
    if (s.kind === 'Let') {
      cx.symbols.set(name, { name, role: 'let', ty: { elem: 'real', shape: [] }, decl: s, span: spanOf(s.name) });
      cx.untyped.add(name);
    } else {
      const rank = declRank(s.type);
      cx.symbols.set(name, {
        name, role: s.role, decl: s, span: spanOf(s.name),
        ty: { elem: declElem(s.type), shape: Array.from({ length: rank }, () => ANY_DIM) },
      });
    }
  }
}

/** Reports `name` declared a second time, with a note at the first declaration. */
export function reportRedeclared(cx: CheckContext, name: string, span: SymbolInfo['span'], first: SymbolInfo['span']): void {
  cx.error('Redeclared', `'${name}' is declared twice`, {
    span, notes: [{ message: `'${name}' was first declared here`, span: first }],
    help: 'rename one of them',
  });
}

/**
 * Finds the sizes: each name used as a dim of a data declaration is either declared
 * (`data N: int`) or becomes an implicit size read off the data at that axis.
 */
export function registerSizes(cx: CheckContext, program: Program): void {
  for (const s of items(program.body)) {
    if (s?.kind !== 'Decl' || !s.type) continue;
    items(s.type.dims).forEach((d, axis) => {
      if (d?.kind !== 'Name' || typeof d.name !== 'string') return;
      const sym = cx.symbols.get(d.name);
      if (s.role === 'data' && !sym) {
        cx.symbols.set(d.name, { name: d.name, role: 'size', ty: { elem: 'int', shape: [] }, span: spanOf(d), implicit: true });
      }
      const target = cx.symbols.get(d.name);
      if (!target || (target.role !== 'size' && !(target.role === 'data' && isIntScalarDecl(target)))) return;
      let info = cx.sizes.get(d.name);
      if (!info) {
        info = { name: d.name, from: [], declared: target.role === 'data' };
        cx.sizes.set(d.name, info);
      }
      if (s.role === 'data' && s.name?.name) info.from.push({ data: s.name.name, axis });
    });
  }
}

function isIntScalarDecl(sym: SymbolInfo): boolean {
  const d = sym.decl;
  return d?.kind === 'Decl' && d.type?.base?.name === 'int' && (d.type.dims?.length ?? 0) === 0;
}

/** Checks every top-level declaration's type and sets its symbol's final type and constraint. */
export function checkDeclarations(cx: CheckContext, program: Program, scope: Scope): void {
  for (const s of items(program.body)) {
    if (s?.kind !== 'Decl') continue;
    cx.guard(s, () => checkDecl(cx, s, scope));
  }
}

function checkDecl(cx: CheckContext, s: DeclStmt, scope: Scope): void {
  const t = s.type;
  const name = s.name?.name ?? '?';
  const sym = cx.symbols.get(name);
  const own = sym?.decl === s ? sym : undefined;
  if (!t) return;
  const baseName = t.base?.name ?? '';
  const base = typeBase(t);
  if (!base) {
    const near = nearName(baseName, Object.keys(TYPE_BASES));
    cx.error('UnknownType', `unknown type '${baseName}'`, {
      node: t.base, help: near ? `did you mean '${near}'?` : FOREIGN_TYPES[baseName] ?? `types are ${Object.keys(TYPE_BASES).join(', ')}`,
    });
  }
  checkBounds(cx, s, base, scope);
  const dims = checkDims(cx, s, scope);
  if (base && base.eventRank > 0 && (t.dims?.length ?? 0) === 0) {
    const example = base.eventRank === 1 ? `${baseName}[K]` : `${baseName}[D] (a D x D matrix)`;
    cx.error('MissingSize', `'${baseName}' needs a size: ${example}`, { node: t, help: `give '${name}' its size, e.g. ${name}: ${base.eventRank === 1 ? `${baseName}[K]` : `${baseName}[D]`}` });
  }
  if (base && s.role === 'param' && base.elem === 'int') {
    cx.error('IntParam', `param '${name}' cannot be int: params are continuous`, {
      node: t.base, help: `a discrete unknown is a latent: latent ${name}: ${typeExprText(t)}`,
    });
  }
  if (base && s.role === 'latent' && base.elem !== 'int') {
    cx.error('NonIntLatent', `latent '${name}' must be int: a latent is a finite discrete value`, {
      node: t.base, help: `a continuous unknown is a param: param ${name}: ${typeExprText(t)}`,
    });
  }
  if (!own) return;
  // A type that is itself wrong gives no reliable shape: its uses are not checked further.
  if (!base || (base.eventRank > 0 && (t.dims?.length ?? 0) === 0)) cx.untyped.add(name);
  if (base?.eventRank === 2 && dims.length > 0) dims.push(dims[dims.length - 1]);
  own.ty = { elem: base?.elem ?? 'real', shape: dims };
  if (base) own.constraint = constraintOf(base, t);
}

/** Returns the symbol-table constraint of a declared type (real with bounds: lower, upper or interval). */
function constraintOf(base: TypeBase, t: TypeExpr): NonNullable<SymbolInfo['constraint']> {
  let name = base.constraint;
  if (name === 'real' && (t.lower || t.upper)) name = t.lower && t.upper ? 'interval' : t.lower ? 'lower' : 'upper';
  const c: NonNullable<SymbolInfo['constraint']> = { name };
  if (t.lower) c.lower = t.lower;
  if (t.upper) c.upper = t.upper;
  return c;
}

function checkBounds(cx: CheckContext, s: DeclStmt, base: { elem: string; constraint: ConstraintName } | undefined, scope: Scope): void {
  const t = s.type;
  const bounds = [t.lower, t.upper].filter((b): b is Expr => b !== undefined);
  if (bounds.length === 0) return;
  if (base && base.constraint !== 'int' && base.constraint !== 'real') {
    cx.error('BoundsOnConstrained', `bounds are only allowed on int and real; '${t.base.name}' has its own constraint`, {
      node: t,
      help: `remove the <...>, or declare '${s.name?.name}' as real<...>`,
    });
  }
  for (const b of bounds) {
    const ty = requireKnownFromData(cx, b, scope, 'bound') ? typeExpr(cx, b, scope) : undefined;
    if (!ty) continue;
    if (ty.elem === 'bool') {
      cx.error('BoolArithmetic', `a bound must be a number, got ${describeTy(ty)}`, { node: b });
    } else if (ty.shape.length > 0) {
      cx.error('ScalarRequired', `a bound must be a scalar, got ${describeTy(ty)}`, { node: b });
    } else if (base?.elem === 'int' && ty.elem !== 'int') {
      cx.error('IntRequired', `bounds of an int must be ints, got ${ty.elem}`, { node: b, help: `write a whole number, e.g. ${Math.round(constValue(b) ?? 0)}` });
    }
  }
  const lo = constValue(t.lower);
  const hi = constValue(t.upper);
  if (lo !== undefined && hi !== undefined && lo > hi) {
    cx.error('EmptyBounds', `lower bound ${lo} is above upper bound ${hi}`, {
      span: joinSpans(t.lower!.span, t.upper!.span), help: 'swap them: no value can satisfy both',
    });
  }
}

/** Checks the dims of a declaration and returns them as Dims. */
function checkDims(cx: CheckContext, s: DeclStmt, scope: Scope): Dim[] {
  return items(s.type.dims).map((d) => {
    if (d?.kind === 'Name' && typeof d.name === 'string' && !cx.resolve(d.name, scope)) {
      const near = nearName(d.name, cx.symbols.keys());
      cx.error('UnknownVariable', `unknown size '${d.name}'`, {
        node: d, help: near ? `did you mean '${near}'?` : `declare it with 'data ${d.name}: int', or use it as a dim of a data declaration so it is read off the data`,
      });
      return exprAsDim(cx, d);
    }
    const ty = requireKnownFromData(cx, d, scope, 'size') ? typeExpr(cx, d, scope) : undefined;
    if (ty) {
      if (ty.shape.length > 0) {
        cx.error('ScalarRequired', `a size must be an int scalar, got ${describeTy(ty)}`, { node: d });
      } else if (ty.elem !== 'int') {
        cx.error('IntRequired', `a size must be an int, got ${ty.elem}`, { node: d, help: realOnlyHelp(cx, d) });
      } else {
        const c = constValue(d);
        if (c !== undefined && c < 0) cx.error('IntRequired', `a size cannot be negative, got ${c}`, { node: d });
      }
    }
    return exprAsDim(cx, d);
  });
}

/**
 * Reports each param, latent or let in `e` (a size, bound or loop range must be known
 * before any parameter is: from the data or constants). Returns true when none was found.
 */
export function requireKnownFromData(cx: CheckContext, e: Expr | undefined, scope: Scope, what: 'size' | 'bound' | 'loop range'): boolean {
  const seen = new Set<string>();
  let ok = true;
  walkNames(e, (n) => {
    if (seen.has(n.name)) return;
    seen.add(n.name);
    const r = cx.resolve(n.name, scope);
    let role: string | undefined;
    if (r?.kind === 'symbol' && (r.sym.role === 'param' || r.sym.role === 'latent' || r.sym.role === 'let')) role = r.sym.role;
    else if (r?.kind === 'local' && r.info.kind === 'let') role = 'let';
    if (!role) return;
    ok = false;
    const plural = what === 'size' ? 'sizes' : what === 'bound' ? 'bounds' : 'loop ranges';
    const use = what === 'size' ? 'used as a size' : what === 'bound' ? 'used in a bound' : 'used in a loop range';
    cx.error('NotFromData', `${role} '${n.name}' ${use}: ${plural} must be known from the data`, {
      node: n, help: role === 'param' || role === 'let' ? `declare it as data (data ${n.name}: int) if it is known in advance` : undefined,
    });
  });
  return ok;
}

/** Calls `f` on every name occurrence in `e` (not inside lambdas). */
export function walkNames(e: Expr | undefined, f: (n: Expr & { kind: 'Name' }) => void): void {
  if (!e || typeof e !== 'object') return;
  switch (e.kind) {
    case 'Name': f(e); break;
    case 'Index': walkNames(e.target, f); items(e.indices).forEach((i) => walkNames(i, f)); break;
    case 'Call': items(e.args).forEach((a) => walkNames(a, f)); break;
    case 'Binary': walkNames(e.left, f); walkNames(e.right, f); break;
    case 'Unary': walkNames(e.operand, f); break;
    case 'Ternary': walkNames(e.cond, f); walkNames(e.then, f); walkNames(e.else, f); break;
    case 'Array': items(e.elements).forEach((a) => walkNames(a, f)); break;
    default: break;
  }
}

/** Returns the declared element range of a symbol: [lo, hi], NaN for a bound that is a data expression. */
export function declaredRange(sym: SymbolInfo): [number, number] {
  const d = sym.decl;
  if (d?.kind !== 'Decl') return [-Infinity, Infinity];
  const base = typeBase(d.type);
  let [lo, hi] = base?.range ?? [-Infinity, Infinity];
  if (d.type.lower) lo = constValue(d.type.lower) ?? NaN;
  if (d.type.upper) hi = constValue(d.type.upper) ?? NaN;
  return [lo, hi];
}

/** Returns the statements of `body` and of all nested loops, depth first, with their nesting depth. */
export function* allStatements(body: Stmt[] | undefined, depth = 0): Generator<{ stmt: Stmt; depth: number }> {
  for (const s of items(body)) {
    if (!s) continue;
    yield { stmt: s, depth };
    if (s.kind === 'For') yield* allStatements(s.body, depth + 1);
  }
}

