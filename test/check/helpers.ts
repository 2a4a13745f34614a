/** Test helpers: parse and check `.mix` text in one step. */
import type { Diagnostic } from '../../src/diagnostics/diagnostic';
import type { CheckResult } from '../../src/check';
import type { Expr, Stmt, TypeExpr } from '../../src/ast/nodes';
import { parse } from '../../src/parser';
import { check } from '../../src/check';
import { tyToString } from '../../src/check/types';

/** Returns the parse and check diagnostics and the check result (undefined when parsing gave no program). */
export function checkText(text: string, name = 'test.mix'): { result?: CheckResult; diagnostics: Diagnostic[] } {
  const source = { name, text };
  const parsed = parse(source);
  const diagnostics = [...parsed.diagnostics];
  if (!parsed.program) return { diagnostics };
  const result = check(parsed.program, source);
  diagnostics.push(...result.diagnostics);
  return { result, diagnostics };
}

/** Returns the check result of text that must parse and check cleanly (throws with the messages otherwise). */
export function checkClean(text: string): CheckResult {
  const { result, diagnostics } = checkText(text);
  if (!result || diagnostics.length) throw new Error(`expected no diagnostics, got:\n${diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')}`);
  return result;
}

/** Returns `code message` for each diagnostic of `text`. */
export function problems(text: string): string[] {
  return checkText(text).diagnostics.map((d) => `${d.code} ${d.message}`);
}

/** Returns the type of symbol `name` as a string (`real[K, D]`). */
export function symTy(r: CheckResult, name: string): string {
  const s = r.symbols.get(name);
  if (!s) throw new Error(`no symbol '${name}'`);
  return tyToString(s.ty);
}

/** Calls `f` on every expression of a statement list, types' dims and bounds included. */
export function forEachExpr(body: Stmt[], f: (e: Expr) => void): void {
  const expr = (e: Expr | undefined): void => {
    if (!e) return;
    f(e);
    switch (e.kind) {
      case 'Index': expr(e.target); e.indices.forEach(expr); break;
      case 'Call': e.args.forEach(expr); break;
      case 'Binary': expr(e.left); expr(e.right); break;
      case 'Unary': expr(e.operand); break;
      case 'Ternary': expr(e.cond); expr(e.then); expr(e.else); break;
      case 'Array': e.elements.forEach(expr); break;
      case 'Lambda': expr(e.body); break;
      default: break;
    }
  };
  const type = (t: TypeExpr): void => { expr(t.lower); expr(t.upper); t.dims.forEach(expr); };
  for (const s of body) {
    switch (s.kind) {
      case 'Decl': type(s.type); break;
      case 'Let': expr(s.value); break;
      case 'Tilde': expr(s.lhs); expr(s.dist); break;
      case 'Target': expr(s.value); break;
      case 'For': expr(s.lo); expr(s.hi); forEachExpr(s.body, f); break;
    }
  }
}
