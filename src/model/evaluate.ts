/**
 * Evaluates the IR's log density on tensors, with discrete latents summed out.
 *
 * Each factor is evaluated once for all iterations of its plates and all values of
 * the enumerated latents it touches (see values.ts). Latents are then eliminated by
 * log-sum-exp, innermost plates first (Pyro's tensor variable elimination rule: a
 * factor's plates that the latent does not live in are summed before the latent is).
 * A chain latent's factors are gathered into per-step log potentials and reduced by
 * `chainLogZ` (src/tensor/fused/chain.ts): the forward recursion as one kernel, whose
 * gradient is forward-backward, or a log-semiring matrix product tree of plain ops.
 */
import { tf, logSubExp, logSumExp, chainLogZ, type Tensor, type Tensor2D, type Tensor4D } from '../tensor';
import type { Span } from '../diagnostics/span';
import type { Diagnostic } from '../diagnostics/diagnostic';
import { getDistribution } from '../distributions/registry';
import type { DistributionDef } from '../distributions/types';
import type { Factor, IRDist, IRExpr, IRProgram, LatentNode } from '../ir/types';
import { FUNCTIONS, FunctionArgError } from './functions';
import { walkFactor } from '../ir/walk';
import { align, eventShape, iota, layout, permuteTo, RankError, scalar, sumDims, sumEvent, type BVal } from './values';

/** Everything about a model with its data bound that evaluation needs. */
export interface Runtime {
  ir: IRProgram;
  sizes: Map<string, number>;
  data: Map<string, Tensor>;
  /** Plate id -> its numeric range. */
  plates: Map<string, { lo: number; hi: number; size: number }>;
  /** Enumerated latent -> support size and first value; chains also get their length. */
  latents: Map<string, { node: LatentNode; K: number; offset: number; T?: number }>;
  /** Sizes of named dims (`p:` plates, `e:` latents). */
  dimSizes: Map<string, number>;
  /** Index expressions already checked against their target's extent. */
  checkedIndex: WeakSet<object>;
}

/** An error found while evaluating, with the place in the source. */
export class EvalError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

function fail(code: string, message: string, span?: Span, help?: string): never {
  throw new EvalError({ severity: 'error', code, message, span, help });
}

export const plateDim = (p: string) => `p:${p}`;
export const latentDim = (z: string, prev = false) => `e:${z}${prev ? "'" : ''}`;
/**
 * The named dim of a batch of parameter points (`LogJointOptions.batch`): every parameter
 * carries it as its leading axis, so the values that depend on parameters do too and the
 * log joint comes out per point.
 */
export const BATCH_DIM = 'b:points';

interface Ctx {
  rt: Runtime;
  params: ReadonlyMap<string, Tensor>;
  lets: Map<string, BVal>;
  /** The named dims of every parameter's tensor: none, or [BATCH_DIM] for a batch of points. */
  paramDims?: string[];
}

/** Reads an int-valued, parameter-free value (a size, a constant, scalar data). */
function staticInt(v: BVal): number {
  if (v.dims.length || v.t.rank) throw new FunctionArgError('a scalar integer');
  return v.t.dataSync()[0];
}

export function evalExpr(e: IRExpr, ctx: Ctx): BVal {
  const rt = ctx.rt;
  switch (e.op) {
    case 'const':
      return scalar(e.value);
    case 'data': {
      const t = rt.data.get(e.name);
      if (!t) fail('E0501', `data '${e.name}' is not bound`);
      return { t, dims: [] };
    }
    case 'param': {
      const t = ctx.params.get(e.name);
      if (!t) fail('E0502', `no value for parameter '${e.name}'`);
      return { t, dims: ctx.paramDims ?? [] };
    }
    case 'let': {
      const v = ctx.lets.get(e.name);
      if (!v) throw new Error(`internal: let '${e.name}' used before evaluation`);
      return v;
    }
    case 'size':
      return scalar(rt.sizes.get(e.name)!);
    case 'loop': {
      const p = rt.plates.get(e.plate)!;
      return iota(plateDim(e.plate), p.size, p.lo);
    }
    case 'latent': {
      const info = rt.latents.get(e.name);
      if (!info) throw new Error(`internal: latent '${e.name}' has no enumeration`);
      const prev = e.index.some((ix) => 'shift' in ix && ix.shift === -1);
      return iota(latentDim(e.name, prev), info.K, info.offset);
    }
    case 'index': {
      let v = evalExpr(e.target, ctx);
      for (const ixE of e.indices) v = indexValue(v, evalExpr(ixE, ctx), ixE, e.span, rt);
      return v;
    }
    case 'call': {
      const f = FUNCTIONS[e.fn];
      if (!f) throw new Error(`internal: function '${e.fn}' has no implementation`);
      const args = e.args.map((a) => evalExpr(a, ctx));
      try {
        return f(args, staticInt);
      } catch (err) {
        if (err instanceof FunctionArgError || err instanceof RankError) {
          fail('E0503', `bad argument to '${displayFn(e.fn)}': ${err.message}`, e.span);
        }
        throw err;
      }
    }
    case 'vector': {
      const vals = e.elements.map((x) => toFloat(evalExpr(x, ctx)));
      const { dims, ts } = align(vals, vals.map(() => 0));
      const full = broadcastShapes(ts.map((t) => t.shape));
      // `[a, b]` puts the elements along a new first event axis: [[1, 2], [3, 4]] is a 2 x 2 matrix by rows.
      return { t: tf.stack(ts.map((t) => tf.broadcastTo(t, full)), dims.length), dims };
    }
    case 'where': {
      const c = evalExpr(e.cond, ctx);
      const a = evalExpr(e.then, ctx);
      const b = evalExpr(e.else, ctx);
      const { dims, ts } = align([c, a, b], [0, 0, 0]);
      const cond = ts[0].dtype === 'bool' ? ts[0] : tf.notEqual(ts[0], 0);
      const shape = broadcastShapes([cond.shape, ts[1].shape, ts[2].shape]);
      const x = tf.broadcastTo(tf.cast(ts[1], 'float32'), shape);
      const y = tf.broadcastTo(tf.cast(ts[2], 'float32'), shape);
      return { t: tf.where(tf.broadcastTo(cond, shape), x, y), dims };
    }
  }
}

/** The numpy broadcast of several shapes (all of one rank after `align`). */
function broadcastShapes(shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    s.forEach((n, i) => {
      if (n !== 1) out[off + i] = n;
    });
  }
  return out;
}

const OP_NAMES: Record<string, string> = {
  add: '+', sub: '-', mul: '*', div: '/', mod: '%', pow: '^', matmul: '@', neg: 'unary -', not: '!',
  eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=', and: '&&', or: '||',
};
const displayFn = (fn: string) => OP_NAMES[fn] ?? fn;

/** `x[i]` for one index, 1-based. */
function indexValue(x: BVal, idx: BVal, ixE: IRExpr, span: Span, rt: Runtime): BVal {
  const ev = eventShape(x);
  if (ev.length === 0) fail('E0504', 'too many indices: the value has no dimension left to index', span);
  if (eventShape(idx).length > 0 && x.dims.length === 1 && x.dims[0] === BATCH_DIM && !idx.dims.includes(BATCH_DIM)) {
    // An array of indices into a batch of parameter values: the same gather for every point.
    checkIndices(idx, ixE, ev[0], span, rt);
    const i0 = tf.cast(tf.sub(idx.t, 1), 'int32');
    const g = tf.gather(x.t, tf.reshape(i0, [-1]), 1);
    return { t: tf.reshape(g, [x.t.shape[0], ...idx.t.shape, ...ev.slice(1)]), dims: [BATCH_DIM, ...idx.dims] };
  }
  if (eventShape(idx).length > 0 && x.dims.length > 0) {
    fail('E0505', 'an array of indices into a value that varies over a loop or a latent is not supported', span, 'index it with one integer at a time');
  }
  const A = ev[0];
  const axis = x.dims.length;
  if (idx.iota && idx.dims.length === 1 && !x.dims.includes(idx.iota.dim)) {
    // Indexing by a loop variable or an enumerated latent: a slice, not a gather.
    const size = idx.t.shape[0];
    const start = idx.iota.offset - 1;
    if (start < 0 || start + size > A) {
      fail('E0506', `index out of range: ${idx.iota.offset}..${idx.iota.offset + size - 1} into a dimension of size ${A}`, span);
    }
    let t = x.t;
    if (start !== 0 || size !== A) {
      const begin = new Array(t.rank).fill(0);
      const sz = [...t.shape];
      begin[axis] = start;
      sz[axis] = size;
      t = tf.slice(t, begin, sz);
    }
    return { t, dims: [...x.dims, idx.iota.dim] };
  }
  checkIndices(idx, ixE, A, span, rt);
  const i0 = tf.cast(tf.sub(idx.t, 1), 'int32');
  const rest = ev.slice(1);
  if (x.dims.length === 0) {
    const named = idx.t.shape;
    const g = tf.gather(x.t, tf.reshape(i0, [-1]), 0);
    return { t: tf.reshape(g, [...named, ...rest]), dims: idx.dims };
  }
  const dims = [...x.dims];
  for (const d of idx.dims) if (!dims.includes(d)) dims.push(d);
  const sizes = dims.map((d) => rt.dimSizes.get(d)!);
  const B = sizes.reduce((a, b) => a * b, 1);
  // Row b of the flattened [B·A, rest...] value at index it[b]: a plain gather at b·A + it[b]
  // (tfjs-backend-wasm's gather with batchDims returns wrong values).
  const xt = tf.reshape(tf.broadcastTo(layout(x, dims, 0, ev.length), [...sizes, ...ev]), [B * A, ...rest]);
  const it = tf.reshape(tf.broadcastTo(layout({ t: i0, dims: idx.dims }, dims, 0, 0), sizes), [B]);
  const g = tf.gather(xt, tf.add(it, tf.range(0, B * A, A, 'int32')), 0);
  return { t: tf.reshape(g, [...sizes, ...rest]), dims };
}

/** Checks (once per index expression) that the indices are integers in 1..A. */
function checkIndices(idx: BVal, ixE: IRExpr, A: number, span: Span, rt: Runtime): void {
  if (rt.checkedIndex.has(ixE)) return;
  const vals = idx.t.dataSync();
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (!Number.isInteger(v) || v < 1 || v > A) fail('E0506', `index ${v} out of range 1..${A}`, span);
  }
  rt.checkedIndex.add(ixE);
}

/** Log density of one factor, summed over its event axes: dims are plates and latents it touches. */
export function evalFactor(f: Factor, ctx: Ctx): BVal {
  if (f.kind === 'target') {
    return sumEvent(toFloat(evalExpr(f.term!, ctx)));
  }
  const value = evalExpr(f.value!, ctx);
  return sumEvent(evalDist(f.dist!, value, ctx));
}

function toFloat(v: BVal): BVal {
  return v.t.dtype === 'float32' ? v : { ...v, t: tf.cast(v.t, 'float32') };
}

function distDef(name: string, span: Span): DistributionDef {
  const d = getDistribution(name);
  if (!d) fail('E0507', `unknown distribution '${name}'`, span);
  return d;
}

function evalDist(d: IRDist, value: BVal, ctx: Ctx): BVal {
  if (d.kind === 'family') {
    const def = distDef(d.family, d.span);
    const args = d.args.map((a) => toFloat(evalExpr(a, ctx)));
    const ranks = [def.support.eventRank, ...def.params.map((p) => p.eventRank)];
    let aligned;
    try {
      aligned = align([toFloat(value), ...args], ranks);
    } catch (err) {
      if (err instanceof RankError) fail('E0508', `arguments of '${d.family}' have too few dimensions: ${err.message}`, d.span);
      throw err;
    }
    const [v, ...ps] = aligned.ts;
    return { t: def.logProb(v, ...ps), dims: aligned.dims };
  }
  const def = distDef(d.base.family, d.base.span);
  if (!def.logCdf || !def.logCcdf) fail('E0509', `'${d.base.family}' has no CDF, so it cannot be ${d.kind}`, d.span);
  const args = d.base.args.map((a) => toFloat(evalExpr(a, ctx)));
  const lo = toFloat(evalExpr(d.lower, ctx));
  const hi = toFloat(evalExpr(d.upper, ctx));
  const { dims, ts } = align([toFloat(value), lo, hi, ...args], [0, 0, 0, ...def.params.map((p) => p.eventRank)]);
  const [v, l, u, ...ps] = ts;
  const lp = def.logProb(v, ...ps);
  if (d.kind === 'censored') {
    // A censored value is recorded at its limit: below `lower` it is P(X <= lower), above `upper` P(X >= upper).
    const below = def.logCdf(l, ...ps);
    const above = def.logCcdf(u, ...ps);
    const out = tf.where(tf.lessEqual(v, l), tf.broadcastTo(below, lp.shape), tf.where(tf.greaterEqual(v, u), tf.broadcastTo(above, lp.shape), lp));
    return { t: out, dims };
  }
  // Truncated: renormalise by the mass in [lower, upper], log(F(u) - F(l)) = logSubExp(log F(u), log F(l)).
  const mass = logSubExp(def.logCdf(u, ...ps), def.logCdf(l, ...ps));
  const inside = tf.logicalAnd(tf.greaterEqual(v, l), tf.lessEqual(v, u));
  return { t: tf.where(inside, tf.sub(lp, mass), tf.fill(lp.shape, -Infinity)), dims };
}

/** A factor's log density with the plates whose multiplicity it still carries. */
interface FVal {
  v: BVal;
  plates: string[];
  factor?: Factor;
}

export interface LogJointOptions {
  /** Include prior factors (`~` on params). Default true. */
  priors?: boolean;
  /**
   * Zero tensors added to each latent's log potential; d logZ / d probe = posterior
   * marginals. A plain latent's probe has shape [...its plate sizes, K]; a chain's
   * [T, K, K] (previous state, state): its gradient is the pairwise marginals, whose sum
   * over the previous state is the state marginals (step 1 uses row 0 only).
   */
  probes?: ReadonlyMap<string, Tensor>;
  /**
   * A batch of parameter points: each parameter's tensor has a leading axis of this size
   * (point b's value is its slice b) and the result is the log joint per point, shape [batch].
   * Not with probes.
   */
  batch?: number;
}

/** Evaluates the top-level lets in order. */
export function evalLets(rt: Runtime, params: ReadonlyMap<string, Tensor>): Map<string, BVal> {
  const ctx: Ctx = { rt, params, lets: new Map() };
  for (const l of rt.ir.lets) ctx.lets.set(l.name, evalExpr(l.expr, ctx));
  return ctx.lets;
}

/** Log joint density of data and params, discrete latents summed out. A scalar tensor. */
export function logJoint(rt: Runtime, params: ReadonlyMap<string, Tensor>, opts: LogJointOptions = {}): Tensor {
  const B = opts.batch;
  if (B !== undefined) {
    if (opts.probes) throw new Error('internal: logJoint takes probes or a batch, not both');
    rt = { ...rt, dimSizes: new Map([...rt.dimSizes, [BATCH_DIM, B]]) };
  }
  const ctx: Ctx = { rt, params, lets: new Map(), paramDims: B === undefined ? [] : [BATCH_DIM] };
  for (const l of rt.ir.lets) ctx.lets.set(l.name, evalExpr(l.expr, ctx));
  const include = (f: Factor) => opts.priors !== false || f.kind !== 'prior';
  let fvals: FVal[] = rt.ir.factors.filter(include).map((f) => ({ v: evalFactor(f, ctx), plates: f.plates, factor: f }));

  const plain = rt.ir.latents.filter((l) => !l.chain);
  // Innermost first: more plates first; among equals, the later-declared first.
  const order = plain.map((l, i) => ({ l, i })).sort((a, b) => b.l.plates.length - a.l.plates.length || b.i - a.i).map((x) => x.l);
  for (const lat of order) fvals = eliminate(rt, lat, fvals, opts.probes?.get(lat.name));
  for (const lat of rt.ir.latents.filter((l) => l.chain)) fvals = eliminateChain(rt, lat, fvals, opts.probes?.get(lat.name), B);

  let total: BVal = scalar(0);
  for (const f of fvals) total = sumVals([total, reduceAllPlates(rt, f, [])]);
  if (B === undefined) return total.t;
  // A term no parameter reaches (or a model without terms) is the same for every point.
  return total.dims.length ? total.t : tf.broadcastTo(total.t, [B]);
}

/** Sums out plates of `f` not in `keep`; absent plate dims count by multiplicity. */
function reducePlates(rt: Runtime, f: FVal, keep: string[]): BVal {
  const drop = f.plates.filter((p) => !keep.includes(p));
  let v = sumDims(f.v, drop.map(plateDim).filter((d) => f.v.dims.includes(d)));
  let mult = 1;
  for (const p of drop) if (!f.v.dims.includes(plateDim(p))) mult *= rt.plates.get(p)!.size;
  if (mult !== 1) v = { ...v, t: tf.mul(v.t, mult) };
  return v;
}

/** Sums every plate dim out of `f` (a batch of points keeps its dim: the value is [batch] then). */
function reduceAllPlates(rt: Runtime, f: FVal, keep: string[]): BVal {
  const v = reducePlates(rt, f, keep);
  if (v.dims.some((d) => !d.startsWith('p:') && d !== BATCH_DIM)) throw new Error(`internal: dims ${v.dims} left after elimination`);
  return sumDims(v, v.dims.filter((d) => d !== BATCH_DIM));
}

function sumVals(vals: BVal[]): BVal {
  const { dims, ts } = align(vals, vals.map(() => 0));
  return { t: ts.reduce((a, b) => tf.add(a, b)), dims };
}

function eliminate(rt: Runtime, lat: LatentNode, fvals: FVal[], probe?: Tensor): FVal[] {
  const dim = latentDim(lat.name);
  const group = fvals.filter((f) => f.v.dims.includes(dim));
  const rest = fvals.filter((f) => !f.v.dims.includes(dim));
  const parts = group.map((f) => reducePlates(rt, f, lat.plates));
  if (probe) parts.push({ t: probe, dims: [...lat.plates.map(plateDim), dim] });
  if (parts.length === 0) return rest;
  const s = sumVals(parts);
  const axis = s.dims.indexOf(dim);
  return [...rest, { v: { t: logSumExp(s.t, axis), dims: s.dims.filter((d) => d !== dim) }, plates: lat.plates }];
}

/** Where along the chain a factor sits: a plate (each iteration one step) or one fixed step. */
function chainPosition(f: Factor, lat: string): { plate: string } | { at: number } {
  let pos: { plate: string } | { at: number } | undefined;
  const visit = (e: IRExpr) => {
    if (e.op === 'latent' && e.name === lat) {
      const ix = e.index[0];
      const here = 'at' in ix ? { at: ix.at } : { plate: ix.plate };
      if (pos && JSON.stringify(pos) !== JSON.stringify(here)) {
        fail('E0510', `chain latent '${lat}' is used at two different steps in one statement`, f.span,
          `refer to it as ${lat}[t] and ${lat}[t-1] with the same loop variable t`);
      }
      pos = here;
    }
  };
  walkFactor(f, visit);
  return pos!;
}

function eliminateChain(rt: Runtime, lat: LatentNode, fvals: FVal[], probe?: Tensor, batch?: number): FVal[] {
  const cur = latentDim(lat.name);
  const prev = latentDim(lat.name, true);
  const info = rt.latents.get(lat.name)!;
  const K = info.K;
  const T = info.T!;
  // With a batch of points, psi is [batch, T, K, K]: one chain per point, reduced together.
  const bDims = batch === undefined ? [] : [BATCH_DIM];
  const bShape = batch === undefined ? [] : [batch];
  const bPad: [number, number][] = batch === undefined ? [] : [[0, 0]];
  const group = fvals.filter((f) => f.v.dims.includes(cur) || f.v.dims.includes(prev));
  const rest = fvals.filter((f) => !(f.v.dims.includes(cur) || f.v.dims.includes(prev)));
  let psi: Tensor = tf.zeros([...bShape, T, K, K]);
  const known = [...bDims, cur, prev];
  for (const f of group) {
    if (!f.factor) fail('E0511', `chain latent '${lat.name}' cannot be combined with another discrete latent in one statement`, undefined);
    const pos = chainPosition(f.factor, lat.name);
    if ('plate' in pos) {
      const pr = rt.plates.get(pos.plate)!;
      const v = reducePlates(rt, f, [pos.plate]);
      const other = v.dims.filter((d) => d !== plateDim(pos.plate) && !known.includes(d));
      if (other.length) fail('E0511', `chain latent '${lat.name}' cannot be combined with another discrete latent in one statement`, f.factor.span);
      const t = tf.broadcastTo(permuteTo(v, [...bDims, plateDim(pos.plate), prev, cur]), [...bShape, pr.size, K, K]);
      psi = tf.add(psi, tf.pad(t, [...bPad, [pr.lo - 1, T - pr.hi], [0, 0], [0, 0]]));
    } else {
      const v = reducePlates(rt, f, []);
      if (v.dims.includes(prev)) throw new Error('internal: fixed-step chain factor with a previous step');
      const other = v.dims.filter((d) => !known.includes(d));
      if (other.length) fail('E0511', `chain latent '${lat.name}' cannot be combined with another discrete latent in one statement`, f.factor.span);
      const pt = permuteTo(v, [...bDims, prev, cur]);
      const t = tf.broadcastTo(tf.reshape(pt, [...pt.shape.slice(0, bDims.length), 1, ...pt.shape.slice(bDims.length)]), [...bShape, 1, K, K]);
      psi = tf.add(psi, tf.pad(t, [...bPad, [pos.at - 1, T - pos.at], [0, 0], [0, 0]]));
    }
  }
  if (probe) psi = tf.add(psi, probe);
  // Step 1 has no predecessor: its potential is constant over the previous-state axis.
  // A batch's chains [batch, T, K, K] go to chainLogZ as one op (init [batch, K], mats [batch, T-1, K, K]).
  const v: BVal = batch === undefined
    ? { t: chainLogZ(tf.reshape(tf.slice(psi, [0, 0, 0], [1, 1, K]), [K]), tf.slice(psi, [1, 0, 0], [T - 1, K, K])), dims: [] }
    : { t: chainLogZ(tf.reshape(tf.slice(psi, [0, 0, 0, 0], [batch, 1, 1, K]), [batch, K]) as Tensor2D, tf.slice(psi, [0, 1, 0, 0], [batch, T - 1, K, K]) as Tensor4D), dims: [BATCH_DIM] };
  return [...rest, { v, plates: [] }];
}

/** Shape of the probe for a latent (see LogJointOptions.probes). */
export function probeShape(rt: Runtime, name: string): number[] {
  const info = rt.latents.get(name)!;
  if (info.node.chain) return [info.T!, info.K, info.K];
  return [...info.node.plates.map((p) => rt.plates.get(p)!.size), info.K];
}

/**
 * Posterior weights over the enumerated values each factor touches, from the gradient
 * of log Z with respect to the probes (`marginals`). A factor touching one plain latent
 * gets that latent's marginals over [its plates, value]; a chain factor at a plate gets
 * the slice of the state (or pairwise) marginals for the plate's steps.
 */
export function factorWeights(rt: Runtime, f: Factor, marginals: ReadonlyMap<string, Tensor>): BVal | undefined {
  if (f.latents.length === 0) return undefined;
  if (f.latents.length > 1) {
    fail('E0520', `this statement involves ${f.latents.length} discrete latents (${f.latents.join(', ')}); its expected log density needs their joint posterior`, f.span,
      'EM handles statements that touch one latent (or one chain step and its predecessor); use method map or mle for this model');
  }
  const name = f.latents[0];
  const info = rt.latents.get(name)!;
  const m = marginals.get(name)!;
  if (!info.node.chain) return { t: m, dims: [...info.node.plates.map(plateDim), latentDim(name)] };
  const pos = chainPosition(f, name);
  let usesPrev = false;
  walkFactor(f, (e) => { if (e.op === 'latent' && e.name === name && e.index.some((ix) => 'shift' in ix && ix.shift === -1)) usesPrev = true; });
  const K = info.K;
  const [lo, size, dims] = 'plate' in pos
    ? [rt.plates.get(pos.plate)!.lo, rt.plates.get(pos.plate)!.size, [plateDim(pos.plate)]]
    : [pos.at, 1, [] as string[]];
  const slice = tf.slice(m, [lo - 1, 0, 0], [size, K, K]);
  const t = usesPrev ? slice : tf.sum(slice, 1);
  const named = usesPrev ? [...dims, latentDim(name, true), latentDim(name)] : [...dims, latentDim(name)];
  return { t: dims.length ? t : tf.squeeze(t, [0]), dims: named };
}

/**
 * The expected complete-data log density E_q[log p(data, latents, params)] under fixed
 * posterior weights of the latents (EM's Q function), plus the priors unless left out.
 * Each factor is weighted by the marginals over the values it touches.
 */
export function expectedLogJoint(rt: Runtime, params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>, opts: { priors?: boolean } = {}): Tensor {
  const ctx: Ctx = { rt, params, lets: evalLets(rt, params) };
  let total: Tensor = tf.scalar(0);
  for (const f of rt.ir.factors) {
    if (opts.priors === false && f.kind === 'prior') continue;
    let v = evalFactor(f, ctx);
    const w = factorWeights(rt, f, marginals);
    if (w) {
      const { dims, ts } = align([v, w], [0, 0]);
      // 0 * (-inf) for impossible values with zero weight must count as 0, not NaN.
      const prod = tf.where(tf.equal(ts[1], 0), tf.zerosLike(tf.mul(ts[0], ts[1])), tf.mul(ts[0], ts[1]));
      v = sumDims({ t: prod, dims }, dims.filter((d) => d.startsWith('e:')));
    }
    total = tf.add(total, reduceAllPlates(rt, { v, plates: f.plates }, []).t);
  }
  return total;
}

/** Evaluates an expression as the evaluator would inside its factor (lets included). */
export function evalWith(rt: Runtime, params: ReadonlyMap<string, Tensor>, e: IRExpr): BVal {
  return evalExpr(e, { rt, params, lets: evalLets(rt, params) });
}
