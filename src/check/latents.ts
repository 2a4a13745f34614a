/**
 * Implicit latents: an undeclared name on the left of `~` is a discrete latent. Its
 * shape is inferred from how it is indexed there: for each index position, the largest
 * upper bound among the loop ranges and constants used (`z[1]` and `z[t]` for
 * `t in 2..T` give `int[T]`).
 */
import type { Expr, Stmt, TildeStmt } from '../ast/nodes';
import type { Dim } from './types';
import type { CheckContext } from './context';
import { items, spanOf } from './context';
import { constValue, exprAsDim } from './expressions';
import { lookupDistribution } from './distributions';
import { ANY_DIM, sameDim } from './shapes';

interface Occurrence {
  stmt: TildeStmt;
  indices: (Expr | undefined)[];
  dims: Dim[];
}

/** Returns the root variable of a `~` left side (`x`, `x[n]`, `x[n][d]`), if it is one. */
export function lhsRoot(e: Expr | undefined): (Expr & { kind: 'Name' }) | undefined {
  if (!e) return undefined;
  if (e.kind === 'Name') return typeof e.name === 'string' ? e : undefined;
  if (e.kind === 'Index') return lhsRoot(e.target);
  return undefined;
}

/** Returns the index expressions of a `~` left side, outermost first (`x[n][d]` -> [n, d]). */
function lhsIndices(e: Expr | undefined): (Expr | undefined)[] {
  if (!e || e.kind !== 'Index') return [];
  return [...lhsIndices(e.target), ...items(e.indices)];
}

/** The upper bound of an index expression as a dim, given the loops around it. */
function indexBound(cx: CheckContext, ix: Expr | undefined, loops: Map<string, Expr | undefined>): Dim {
  if (!ix) return ANY_DIM;
  const c = constValue(ix);
  if (c !== undefined) return Number.isInteger(c) ? { kind: 'const', n: c } : ANY_DIM;
  if (ix.kind === 'Name' && loops.has(ix.name)) return exprAsDim(cx, loops.get(ix.name));
  if (ix.kind === 'Binary' && (ix.op === '+' || ix.op === '-') && ix.left?.kind === 'Name' && loops.has(ix.left.name)) {
    const hi = exprAsDim(cx, loops.get(ix.left.name));
    const k = constValue(ix.right);
    if (hi.kind === 'const' && k !== undefined && Number.isInteger(k)) return { kind: 'const', n: ix.op === '+' ? hi.n + k : hi.n - k };
  }
  return ANY_DIM;
}

/** Returns the larger of two upper bounds: a size beats a constant; two different sizes give `any`. */
function maxDim(a: Dim, b: Dim): Dim {
  if (sameDim(a, b)) return a;
  if (a.kind === 'const' && b.kind === 'const') return a.n >= b.n ? a : b;
  if (a.kind === 'const') return b;
  if (b.kind === 'const') return a;
  return ANY_DIM;
}

/**
 * Registers every implicit latent (undeclared root of a `~` left side) with its
 * inferred shape, and reports one indexed with different numbers of indices.
 */
export function registerImplicitLatents(cx: CheckContext, body: Stmt[] | undefined): void {
  const found = new Map<string, Occurrence[]>();
  const visit = (stmts: Stmt[] | undefined, loops: Map<string, Expr | undefined>, locals: Set<string>): void => {
    const mine = new Set(locals);
    for (const s of items(stmts)) {
      if (!s) continue;
      if (s.kind === 'Let' && s.name?.name) mine.add(s.name.name);
      if (s.kind === 'For') {
        const inner = new Map(loops);
        if (s.var?.name) inner.set(s.var.name, s.hi);
        visit(s.body, inner, mine);
      }
      if (s.kind !== 'Tilde') continue;
      const root = lhsRoot(s.lhs);
      if (!root || loops.has(root.name) || mine.has(root.name) || cx.symbols.has(root.name)) continue;
      const indices = lhsIndices(s.lhs);
      const occ: Occurrence = { stmt: s, indices, dims: indices.map((ix) => indexBound(cx, ix, loops)) };
      const list = found.get(root.name) ?? [];
      list.push(occ);
      found.set(root.name, list);
    }
  };
  visit(body, new Map(), new Set());

  for (const [name, occs] of found) {
    const first = occs[0];
    const rank = first.indices.length;
    let shape = first.dims;
    for (const o of occs.slice(1)) {
      if (o.indices.length !== rank) {
        cx.error('LatentIndexing', `latent '${name}' is indexed with ${o.indices.length} ${o.indices.length === 1 ? 'index' : 'indices'} here but ${rank} at its first ~`, {
          node: o.stmt.lhs, notes: [{ message: 'first ~ here', span: spanOf(first.stmt.lhs) }],
        });
        continue;
      }
      shape = shape.map((d, i) => maxDim(d, o.dims[i]));
    }
    const dist = first.stmt.dist?.kind === 'Call' ? first.stmt.dist.callee?.name ?? '' : '';
    const def = lookupDistribution(dist);
    // A continuous distribution is reported at the `~`; typing it real avoids cascading errors.
    const elem = def && def.support.elem === 'real' ? 'real' : 'int';
    cx.symbols.set(name, {
      name, role: 'latent', implicit: true, ty: { elem, shape }, span: spanOf(lhsRoot(first.stmt.lhs)), support: { dist },
    });
  }
}
