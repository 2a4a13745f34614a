/**
 * Shape algebra on symbolic dims: broadcasting, comparison and printing. A dim that
 * is a size name is only compared with another name; its value is checked when data
 * is bound, so two different names never clash here (no guessing).
 */
import type { Dim, ElemType, Ty } from './types';
import { dimsClash, dimToString } from './types';

export const ANY_DIM: Dim = { kind: 'any' };

/** Returns a scalar type of the given element type. */
export function scalar(elem: ElemType): Ty {
  return { elem, shape: [] };
}

/** Returns true when the two dims are known to be equal. */
export function sameDim(a: Dim, b: Dim): boolean {
  if (a.kind === 'const' && b.kind === 'const') return a.n === b.n;
  if (a.kind === 'size' && b.kind === 'size') return a.name === b.name;
  return false;
}

/**
 * Returns the broadcast of two dims (numpy rules: equal, or one of them 1), or
 * `undefined` when both are constants that cannot broadcast.
 */
export function broadcastDim(a: Dim, b: Dim): Dim | undefined {
  if (sameDim(a, b)) return a;
  if (a.kind === 'const' && a.n === 1) return b;
  if (b.kind === 'const' && b.n === 1) return a;
  if (dimsClash(a, b)) return undefined;
  if (a.kind === 'any') return b;
  if (b.kind === 'any') return a;
  // A size against a constant: if they broadcast at all the result is the constant.
  if (a.kind === 'const') return a;
  if (b.kind === 'const') return b;
  return ANY_DIM;
}

/** A failed broadcast: the two dims and their axes in each operand. */
export interface Clash {
  left: Dim;
  right: Dim;
  leftAxis: number;
  rightAxis: number;
}

/** Returns the broadcast shape of two shapes aligned from the right, or the first clash. */
export function broadcastShapes(a: Dim[], b: Dim[]): { shape: Dim[] } | { clash: Clash } {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = new Array(n);
  for (let i = 1; i <= n; i++) {
    const da = a[a.length - i];
    const db = b[b.length - i];
    if (da === undefined) { out[n - i] = db; continue; }
    if (db === undefined) { out[n - i] = da; continue; }
    const d = broadcastDim(da, db);
    if (!d) return { clash: { left: da, right: db, leftAxis: a.length - i, rightAxis: b.length - i } };
    out[n - i] = d;
  }
  return { shape: out };
}

/** Returns the element type of arithmetic on two numbers: int only when both are int. */
export function joinNumeric(a: ElemType, b: ElemType): 'int' | 'real' {
  return a === 'int' && b === 'int' ? 'int' : 'real';
}

/** Returns a shape as the user would write it: `[N, 3]`, or `a scalar`. */
export function shapeToString(shape: Dim[]): string {
  return shape.length === 0 ? 'a scalar' : `[${shape.map(dimToString).join(', ')}]`;
}

/** Returns a type described for a message: `real`, `int[N]`, `real[K, D]`. */
export function describeTy(t: Ty): string {
  return t.shape.length === 0 ? t.elem : `${t.elem}[${t.shape.map(dimToString).join(', ')}]`;
}

/** Returns "a scalar", "a vector", "a matrix" or "an array with R axes". */
export function rankWord(rank: number): string {
  return rank === 0 ? 'a scalar' : rank === 1 ? 'a vector' : rank === 2 ? 'a matrix' : `an array with ${rank} axes`;
}
