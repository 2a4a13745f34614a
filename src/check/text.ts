/**
 * Short source-like renderings of expressions and types for diagnostic messages
 * (`mu[k]`, `simplex[K]`). Deterministic and independent of the user's spacing.
 */
import type { Expr, TypeExpr } from '../ast/nodes';
import { PRECEDENCE } from '../ast/nodes';

/** Returns `e` written back as source text, parenthesised only where precedence needs it. */
export function exprText(e: Expr | undefined, outer = 0): string {
  if (!e || typeof e !== 'object') return '?';
  switch (e.kind) {
    case 'Num':
      return e.text ?? String(e.value);
    case 'Name':
      return e.name;
    case 'Index':
      return `${exprText(e.target, 9)}[${(e.indices ?? []).map((i) => exprText(i)).join(', ')}]`;
    case 'Call':
      return `${e.callee?.name ?? '?'}(${(e.args ?? []).map((a) => exprText(a)).join(', ')})`;
    case 'Array':
      return `[${(e.elements ?? []).map((a) => exprText(a)).join(', ')}]`;
    case 'Lambda':
      return wrap(`${e.param?.name ?? '?'} -> ${exprText(e.body)}`, 0, outer);
    case 'Unary': {
      const p = PRECEDENCE.unary;
      return wrap(`${e.op}${exprText(e.operand, p)}`, p, outer);
    }
    case 'Binary': {
      const p = PRECEDENCE[e.op] ?? 5;
      const rightAssoc = e.op === '^';
      const l = exprText(e.left, rightAssoc ? p + 1 : p);
      const r = exprText(e.right, rightAssoc ? p : p + 1);
      return wrap(`${l} ${e.op} ${r}`, p, outer);
    }
    case 'Ternary': {
      const p = PRECEDENCE['?:'];
      return wrap(`${exprText(e.cond, p + 1)} ? ${exprText(e.then, p)} : ${exprText(e.else, p)}`, p, outer);
    }
    default:
      return '?';
  }
}

function wrap(s: string, prec: number, outer: number): string {
  return prec < outer ? `(${s})` : s;
}

/** Returns `base[dims]` for the given dims (without brackets when there are none). */
export function typeText(base: string, dims: (Expr | undefined)[]): string {
  return dims.length === 0 ? base : `${base}[${dims.map((d) => exprText(d)).join(', ')}]`;
}

/** Returns a declared type written back as source: `int<lower=1, upper=K>[N]`. */
export function typeExprText(t: TypeExpr): string {
  const bounds: string[] = [];
  if (t.lower) bounds.push(`lower=${exprText(t.lower)}`);
  if (t.upper) bounds.push(`upper=${exprText(t.upper)}`);
  const base = `${t.base?.name ?? '?'}${bounds.length ? `<${bounds.join(', ')}>` : ''}`;
  return typeText(base, t.dims ?? []);
}
