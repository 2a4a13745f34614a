/**
 * The static checker: names, types, shapes, constraints and the rules of `~`.
 *
 * `check` fills `ty` on every expression it can type, builds the top-level symbol table
 * and the list of sizes, and collects every error in one pass. It never throws on any
 * AST the parser produces, partial ones included.
 */
import type { Program } from '../ast/nodes';
import type { Source } from '../diagnostics/span';
import type { Diagnostic } from '../diagnostics/diagnostic';
import type { CheckResult } from './symbols';
import { CheckContext, Scope, spanOf } from './context';
import { checkDeclarations, registerDeclarations, registerSizes } from './declarations';
import { registerImplicitLatents } from './latents';
import { checkBlock } from './statements';

export type { CheckResult, SizeInfo, SymbolInfo, SymbolRole } from './symbols';
export { CHECK_CODES, codeOf } from './codes';
export type { CheckCodeId } from './codes';
export { FUNCTIONS, OPERATORS, functionNames, getFunction } from './functions';
export type { FunctionDef, OperatorDef } from './functions';
export { TYPE_BASES } from './declarations';

/** Returns the checked program: symbols, sizes and all diagnostics (errors first in source order). */
export function check(program: Program, source?: Source): CheckResult {
  const cx = new CheckContext(source);
  if (!program || typeof program !== 'object') {
    return { program, symbols: cx.symbols, sizes: [], diagnostics: [] };
  }
  const root = new Scope();
  // Declarations are visible everywhere in the model, so they are collected before any use.
  cx.guard(program, () => registerDeclarations(cx, program));
  cx.guard(program, () => registerSizes(cx, program));
  cx.guard(program, () => registerImplicitLatents(cx, program.body));
  cx.guard(program, () => checkDeclarations(cx, program, root));
  cx.guard(program, () => checkBlock(cx, program.body, root, true));
  cx.guard(program, () => checkLatentsDistributed(cx));
  return { program, symbols: cx.symbols, sizes: [...cx.sizes.values()], diagnostics: sortDiagnostics(cx.diagnostics) };
}

/** Reports declared latents that no `~` gives a distribution. */
function checkLatentsDistributed(cx: CheckContext): void {
  for (const sym of cx.symbols.values()) {
    if (sym.role !== 'latent' || sym.implicit || cx.distributed.has(sym.name)) continue;
    const decl = sym.decl;
    const idx = sym.ty.shape.length ? `[${['n', 'm', 'j', 'l'].slice(0, sym.ty.shape.length).join(', ')}]` : '';
    cx.error('LatentWithoutDistribution', `latent '${sym.name}' is never given a distribution`, {
      span: decl?.kind === 'Decl' ? spanOf(decl.name) : sym.span,
      help: `give it one with ${sym.name}${idx} ~ categorical(w) (a latent is summed out over its values)`,
    });
  }
}

/** Returns the diagnostics in source order (stable; those without a place last). */
function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) => (d.span && d.span.line > 0 ? d.span.start : Number.MAX_SAFE_INTEGER);
  return ds.map((d, i) => ({ d, i })).sort((a, b) => key(a.d) - key(b.d) || a.i - b.i).map((x) => x.d);
}
