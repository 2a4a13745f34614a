/**
 * Hints shared by several rules.
 */
import type { Expr } from '../ast/nodes';
import type { CheckContext } from './context';
import { suggest } from '../diagnostics/diagnostic';

/** Returns a hint when a real-only type (positive, unit, ...) was used where an int is needed. */
export function realOnlyHelp(cx: CheckContext, e: Expr | undefined): string | undefined {
  if (e?.kind !== 'Name') return undefined;
  const d = cx.symbols.get(e.name)?.decl;
  // Only data can become an int; a param is continuous whatever its type.
  if (d?.kind !== 'Decl' || d.role !== 'data') return undefined;
  const base = d.type?.base?.name;
  if (base === 'positive') return `'positive' is real-only; declare a positive int as int<lower=1>`;
  if (base === 'unit') return `'unit' is real-only; an int in 0..1 is int<lower=0, upper=1>`;
  if (base === 'real') return `declare '${e.name}' as int`;
  return undefined;
}

/**
 * Returns the candidate to suggest for a misspelt `name`, if any. Names of one or two
 * letters are all within one edit of each other, so for them only a difference in
 * case counts as a typo.
 */
export function nearName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length <= 2) {
    for (const c of candidates) if (c !== name && c.toLowerCase() === name.toLowerCase()) return c;
    return undefined;
  }
  return suggest(name, candidates);
}
