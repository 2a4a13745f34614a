/**
 * Statements in program order: lets (top-level ones become typed symbols, local ones
 * live in their loop body), `~`, `target +=` and `for` loops.
 */
import type { ForStmt, LetStmt, Stmt, TargetStmt } from '../ast/nodes';
import type { CheckContext } from './context';
import { Scope, items, spanOf } from './context';
import { typeExpr } from './expressions';
import { reportRedeclared, requireKnownFromData } from './declarations';
import { realOnlyHelp } from './hints';
import { checkTilde } from './tilde';
import { describeTy } from './shapes';

/** Checks the statements of a block; `top` for the model body. */
export function checkBlock(cx: CheckContext, body: Stmt[] | undefined, scope: Scope, top: boolean): void {
  const stmts = items(body).filter((s): s is Stmt => !!s && typeof s === 'object');
  if (!top) {
    // Lets of this block are visible only after their statement; earlier uses are reported.
    for (const s of stmts) if (s.kind === 'Let' && s.name?.name) scope.pending.set(s.name.name, spanOf(s.name));
  }
  for (const s of stmts) {
    cx.guard(s, () => checkStmt(cx, s, scope, top));
  }
}

function checkStmt(cx: CheckContext, s: Stmt, scope: Scope, top: boolean): void {
  switch (s.kind) {
    case 'Decl':
      // A declaration inside a loop is reported by the parser (E0006); it is bound here as
      // an untyped local only so that its uses in the loop are not reported again as unknown.
      if (!top && s.name?.name) scope.names.set(s.name.name, { kind: 'let', span: spanOf(s.name) });
      return;
    case 'Let':
      return top ? checkTopLet(cx, s, scope) : checkLocalLet(cx, s, scope);
    case 'Tilde':
      return checkTilde(cx, s, scope);
    case 'Target':
      return checkTarget(cx, s, scope);
    case 'For':
      return checkFor(cx, s, scope);
    default:
      return;
  }
}

function checkTopLet(cx: CheckContext, s: LetStmt, scope: Scope): void {
  const name = s.name?.name;
  const ty = typeExpr(cx, s.value, scope);
  if (!name) return;
  const sym = cx.symbols.get(name);
  if (sym?.decl !== s) return; // a redeclaration, already reported
  cx.definedLets.add(name);
  if (ty) {
    sym.ty = ty;
    cx.untyped.delete(name);
  }
}

function checkLocalLet(cx: CheckContext, s: LetStmt, scope: Scope): void {
  const name = s.name?.name;
  scope.pending.delete(name ?? '');
  const ty = typeExpr(cx, s.value, scope);
  if (!name) return;
  const clash = cx.resolve(name, scope);
  if (clash && clash.kind !== 'pending') {
    reportRedeclared(cx, name, spanOf(s.name), clash.kind === 'local' ? clash.info.span : clash.sym.span);
  }
  scope.names.set(name, { kind: 'let', ty, span: spanOf(s.name) });
}

function checkTarget(cx: CheckContext, s: TargetStmt, scope: Scope): void {
  const ty = typeExpr(cx, s.value, scope);
  if (ty && ty.elem === 'bool') {
    cx.error('TargetType', `target += needs a real expression, got ${describeTy(ty)}`, {
      node: s.value, help: 'add a log density term such as -0.5 * square(x); a bool comes from a comparison',
    });
  }
}

function checkFor(cx: CheckContext, s: ForStmt, scope: Scope): void {
  for (const b of [s.lo, s.hi]) {
    const ty = requireKnownFromData(cx, b, scope, 'loop range') ? typeExpr(cx, b, scope) : undefined;
    if (!ty || !b) continue;
    if (ty.shape.length > 0) {
      cx.error('ScalarRequired', `a loop bound must be an int scalar, got ${describeTy(ty)}`, { node: b });
    } else if (ty.elem !== 'int') {
      cx.error('IntRequired', `a loop bound must be an int, got ${ty.elem}`, { node: b, help: realOnlyHelp(cx, b) ?? 'loops run over 1-based int ranges such as 1..N' });
    }
  }
  const inner = new Scope(scope);
  const v = s.var?.name;
  if (v) {
    const clash = cx.resolve(v, scope);
    if (clash && clash.kind !== 'pending') {
      reportRedeclared(cx, v, spanOf(s.var), clash.kind === 'local' ? clash.info.span : clash.sym.span);
    }
    // Bound even after a clash, so the body is checked with the meaning the user intended.
    inner.names.set(v, { kind: 'loop', ty: { elem: 'int', shape: [] }, span: spanOf(s.var), lo: s.lo, hi: s.hi });
  }
  checkBlock(cx, s.body, inner, false);
}
