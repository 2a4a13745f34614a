/**
 * Batched values with named leading dims.
 *
 * A value inside loops carries one leading axis per plate it varies over (`p:<plate>`)
 * and one per enumerated latent it depends on (`e:<latent>`, and `e:<latent>'` for a
 * chain's previous step), followed by its own (event) axes. Operations align named
 * axes by name and broadcast event axes numpy-style from the right, so a whole `for`
 * loop is a handful of tensor ops and enumeration is variable elimination.
 */
import { tf, type Tensor } from '../tensor';

export interface BVal {
  t: Tensor;
  /** Named leading axes, in the order they appear in `t`. */
  dims: string[];
  /** Set when the value is `offset + arange(size)` along a single named dim (loop variables, enumerated latents). */
  iota?: { dim: string; offset: number };
}

export type DimSizes = ReadonlyMap<string, number>;

export function eventShape(v: BVal): number[] {
  return v.t.shape.slice(v.dims.length);
}

export function unionDims(vals: BVal[]): string[] {
  const out: string[] = [];
  for (const v of vals) for (const d of v.dims) if (!out.includes(d)) out.push(d);
  return out;
}

/**
 * Lays `v` out as [dims (size or 1)..., 1 x pad, event...], where `extraRank` is the
 * number of non-core event axes the caller broadcasts over and `coreRank` the trailing
 * axes the operation consumes.
 */
export function layout(v: BVal, dims: string[], extraRank: number, coreRank: number): Tensor {
  let t = v.t;
  const ev = eventShape(v);
  const own = v.dims;
  const order = [...own].sort((a, b) => dims.indexOf(a) - dims.indexOf(b));
  if (order.some((d, i) => d !== own[i])) {
    const perm = order.map((d) => own.indexOf(d));
    for (let i = own.length; i < t.rank; i++) perm.push(i);
    t = tf.transpose(t, perm);
  }
  const named = dims.map((d) => (order.includes(d) ? t.shape[order.indexOf(d)] : 1));
  const pad = extraRank - (ev.length - coreRank);
  if (pad < 0) throw new Error(`internal: layout pad ${pad}`);
  const target = [...named, ...new Array(pad).fill(1), ...ev];
  if (target.length === t.rank && target.every((s, i) => s === t.shape[i])) return t;
  return tf.reshape(t, target);
}

/** Aligns values for an op with per-operand core ranks; returns tensors that broadcast and the result's dims. */
export function align(vals: BVal[], coreRanks: number[]): { dims: string[]; ts: Tensor[] } {
  const dims = unionDims(vals);
  const extra = Math.max(0, ...vals.map((v, i) => eventShape(v).length - coreRanks[i]));
  vals.forEach((v, i) => {
    if (eventShape(v).length < coreRanks[i]) {
      throw new RankError(coreRanks[i], eventShape(v).length);
    }
  });
  return { dims, ts: vals.map((v, i) => layout(v, dims, extra, coreRanks[i])) };
}

/** An operand has fewer axes than the operation needs. */
export class RankError extends Error {
  constructor(readonly needed: number, readonly got: number) {
    super(`expected at least ${needed} dimension${needed === 1 ? '' : 's'}, got ${got}`);
  }
}

/** Applies an elementwise op after aligning. */
export function elementwise(vals: BVal[], f: (...ts: Tensor[]) => Tensor): BVal {
  const { dims, ts } = align(vals, vals.map(() => 0));
  return { t: f(...ts), dims };
}

/** Sums the named axes in `drop` out of `v` (they must be present). */
export function sumDims(v: BVal, drop: string[]): BVal {
  const axes = drop.map((d) => v.dims.indexOf(d)).filter((i) => i >= 0);
  if (axes.length === 0) return v;
  return { t: tf.sum(v.t, axes), dims: v.dims.filter((d) => !drop.includes(d)) };
}

/** Sums all event axes of `v`, keeping the named ones. */
export function sumEvent(v: BVal): BVal {
  if (v.t.rank === v.dims.length) return v;
  const axes: number[] = [];
  for (let i = v.dims.length; i < v.t.rank; i++) axes.push(i);
  return { t: tf.sum(v.t, axes), dims: v.dims };
}

/** Transposes/reshapes `v` to exactly `dims` (absent ones become size 1), event axes after. */
export function permuteTo(v: BVal, dims: string[]): Tensor {
  for (const d of v.dims) if (!dims.includes(d)) throw new Error(`internal: permuteTo lost dim ${d}`);
  return layout(v, dims, eventShape(v).length, eventShape(v).length);
}

/** A scalar constant as a value. */
export function scalar(x: number): BVal {
  return { t: tf.scalar(x), dims: [] };
}

/** `offset + arange(size)` along a named dim. */
export function iota(dim: string, size: number, offset: number): BVal {
  return { t: tf.range(offset, offset + size, 1, 'float32'), dims: [dim], iota: { dim, offset } };
}
