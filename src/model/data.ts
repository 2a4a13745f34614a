/**
 * Data in: nested JS arrays, typed arrays with a shape, or scalars, checked against
 * the model's declarations. Every problem names the variable and what was expected.
 */
import type { Diagnostic } from '../diagnostics/diagnostic';

/** A dense array in row-major order. */
export interface NdArray {
  shape: number[];
  values: Float64Array;
}

/** What users pass for one data variable (a typed array is a vector, at any level of nesting). */
export type DataValue = number | boolean | readonly unknown[] | ArrayLike<number> | NdArray | { shape: number[]; values: ArrayLike<number> };

/** An array level of a nested value: a JS array or a typed array (not a DataView). */
function isList(x: unknown): x is ArrayLike<unknown> {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

export type DataInput = Readonly<Record<string, DataValue>>;

export function isNdArray(v: unknown): v is { shape: number[]; values: ArrayLike<number> } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'shape' in v && 'values' in v;
}

/** Converts a user value to an NdArray, or returns a diagnostic saying why it cannot. */
export function toNdArray(name: string, v: DataValue): NdArray | Diagnostic {
  if (typeof v === 'number') return { shape: [], values: Float64Array.of(v) };
  if (typeof v === 'boolean') return { shape: [], values: Float64Array.of(v ? 1 : 0) };
  if (isNdArray(v)) {
    const n = v.shape.reduce((a, b) => a * b, 1);
    if (v.values.length !== n) {
      return err('E0601', `data '${name}' has ${v.values.length} values but its shape [${v.shape.join(', ')}] needs ${n}`);
    }
    return { shape: [...v.shape], values: Float64Array.from(v.values) };
  }
  if (!isList(v)) return err('E0602', `data '${name}' must be a number or an array of numbers, got ${typeof v}`);
  const shape: number[] = [];
  let probe: unknown = v;
  while (isList(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float64Array(n);
  let k = 0;
  const walk = (x: unknown, depth: number, path: number[]): Diagnostic | undefined => {
    if (depth === shape.length) {
      if (typeof x === 'number') values[k++] = x;
      else if (typeof x === 'boolean') values[k++] = x ? 1 : 0;
      else if (x === null || x === undefined) values[k++] = NaN;
      else return err('E0602', `data '${name}${fmtIndex(path)}' is ${typeof x === 'bigint' ? `${x}n` : JSON.stringify(x)}, not a number`);
      return undefined;
    }
    if (!isList(x) || x.length !== shape[depth]) {
      const got = isList(x) ? `${x.length} elements` : 'a scalar';
      return err('E0603', `data '${name}' is ragged: '${name}${fmtIndex(path)}' has ${got}, expected ${shape[depth]} like its first sibling`);
    }
    for (let i = 0; i < x.length; i++) {
      const r = walk(x[i], depth + 1, [...path, i + 1]);
      if (r) return r;
    }
    return undefined;
  };
  const r = walk(v, 0, []);
  return r ?? { shape, values };
}

/** 1-based index suffix for messages: `[3, 2]`. */
export function fmtIndex(path: number[]): string {
  return path.length ? `[${path.join(', ')}]` : '';
}

/** The 1-based multi-index of flat position `i` in `shape`. */
export function unravel(i: number, shape: number[]): number[] {
  const out = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = (i % shape[d]) + 1;
    i = Math.floor(i / shape[d]);
  }
  return out;
}

/** Nested JS arrays from a flat array and a shape. */
export function toNested(values: ArrayLike<number>, shape: number[]): number | unknown[] {
  if (shape.length === 0) return values[0];
  const rec = (off: number, d: number): unknown[] => {
    const n = shape[d];
    const stride = shape.slice(d + 1).reduce((a, b) => a * b, 1);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = d === shape.length - 1 ? values[off + i] : rec(off + i * stride, d + 1);
    return out;
  };
  return rec(0, 0);
}

function err(code: string, message: string): Diagnostic {
  return { severity: 'error', code, message };
}

/** Where a size can be read: given directly, or off an axis of a data array. */
export interface SizeSource {
  name: string;
  from: { data: string; axis: number }[];
  declared: boolean;
}

/**
 * Resolves every size from the given data: the value given under its own name, or the
 * extent of an axis of a data array that has it as a dim. All sources must agree and
 * the size must be a non-negative integer; every problem is returned as a diagnostic.
 */
export function resolveSizes(sizes: readonly SizeSource[], given: ReadonlyMap<string, NdArray>): { values: Map<string, number>; diagnostics: Diagnostic[] } {
  const values = new Map<string, number>();
  const diagnostics: Diagnostic[] = [];
  for (const s of sizes) {
    const sources: { what: string; n: number }[] = [];
    const direct = given.get(s.name);
    if (direct && direct.shape.length === 0) sources.push({ what: `'${s.name}' itself`, n: direct.values[0] });
    for (const f of s.from) {
      const d = given.get(f.data);
      if (d && d.shape.length > f.axis) sources.push({ what: `dimension ${f.axis + 1} of '${f.data}'`, n: d.shape[f.axis] });
    }
    if (sources.length === 0) {
      const from = s.from.map((f) => `data '${f.data}'`);
      diagnostics.push({ ...err('E0610', `size '${s.name}' cannot be determined`), help: `give '${s.name}' (e.g. { ${s.name}: 100 })${from.length ? ` or ${from.join(' or ')}` : ''}` });
      continue;
    }
    const first = sources[0];
    if (!Number.isInteger(first.n) || first.n < 0) {
      diagnostics.push(err('E0610', `size '${s.name}' must be a non-negative integer, got ${first.n}`));
      continue;
    }
    const clash = sources.slice(1).find((o) => o.n !== first.n);
    if (clash) {
      diagnostics.push(err('E0611', `size '${s.name}' is ${first.n} from ${first.what} but ${clash.n} from ${clash.what}`));
      continue;
    }
    values.set(s.name, first.n);
  }
  return { values, diagnostics };
}
