/**
 * Types the checker gives expressions: element type and shape. Dims are symbolic
 * (a size name such as `N`) or constant; a size read off the data is a name too.
 */
export type ElemType = 'int' | 'real' | 'bool';

export type Dim =
  | { kind: 'const'; n: number }
  | { kind: 'size'; name: string }
  /** A dim the checker cannot name (e.g. from an expression); checked when data is bound. */
  | { kind: 'any' };

export interface Ty {
  elem: ElemType;
  shape: Dim[];
}

export function dimToString(d: Dim): string {
  return d.kind === 'const' ? String(d.n) : d.kind === 'size' ? d.name : '?';
}

export function tyToString(t: Ty): string {
  return t.shape.length === 0 ? t.elem : `${t.elem}[${t.shape.map(dimToString).join(', ')}]`;
}

/** True when the two dims cannot be equal whatever the data (both constant and different). */
export function dimsClash(a: Dim, b: Dim): boolean {
  return a.kind === 'const' && b.kind === 'const' && a.n !== b.n;
}
