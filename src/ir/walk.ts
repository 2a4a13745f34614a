/** Traversals of IR expressions and factors, shared by lowering, the passes, binding, evaluation and inference. */
import type { Factor, IRDist, IRExpr } from './types';

/** Calls `f` on every node of an IR expression. */
export function walkExpr(e: IRExpr, f: (x: IRExpr) => void): void {
  f(e);
  switch (e.op) {
    case 'index': walkExpr(e.target, f); e.indices.forEach((i) => walkExpr(i, f)); break;
    case 'call': e.args.forEach((a) => walkExpr(a, f)); break;
    case 'vector': e.elements.forEach((a) => walkExpr(a, f)); break;
    case 'where': walkExpr(e.cond, f); walkExpr(e.then, f); walkExpr(e.else, f); break;
    default: break;
  }
}

/** Calls `f` on every (top-level) expression inside a distribution application. */
export function forEachDistExpr(d: IRDist, f: (e: IRExpr) => void): void {
  if (d.kind === 'family') d.args.forEach(f);
  else { forEachDistExpr(d.base, f); f(d.lower); f(d.upper); }
}

/** Calls `f` on every node of a factor: its value, its `target +=` term and its distribution's arguments. */
export function walkFactor(factor: Pick<Factor, 'value' | 'term' | 'dist'>, f: (x: IRExpr) => void): void {
  if (factor.value) walkExpr(factor.value, f);
  if (factor.term) walkExpr(factor.term, f);
  if (factor.dist) forEachDistExpr(factor.dist, (e) => walkExpr(e, f));
}

/** True when some node of `e` satisfies `pred`. */
export function mentions(e: IRExpr, pred: (x: IRExpr) => boolean): boolean {
  let found = false;
  walkExpr(e, (x) => { if (pred(x)) found = true; });
  return found;
}
