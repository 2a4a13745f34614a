/**
 * Parameters-only prior draws from the IR, for the initial particles of tempered SMC.
 *
 * `model.simulate` draws everything (params, latents, every observation) by interpreting
 * the AST, which costs far more than the particles need: SMC only wants θ ~ p(θ). Here the
 * IR's prior factors are run in order, in float64: each factor's arguments are evaluated
 * (constants, sizes, data, other params, top-level lets, loop positions) over its plates, and
 * the family's sampler draws the value, under the same rules as `simulate` (a param whose
 * declared type is narrower than the family's support is drawn from the family restricted to
 * it: redrawn until inside; an ordered vector with exchangeable scalar priors is the sorted
 * iid draws; otherwise redrawn until ascending). The draws use the same per-draw random
 * streams as `simulate` (`Key.seed(seed).split(draws)`), so where every prior comes before
 * any latent or observation in the source, the params equal `simulate`'s exactly.
 *
 * The constrained draws are mapped to the unconstrained space with one batched transform
 * call per parameter (all draws at once) instead of one tensor round trip per draw.
 *
 * Models this cannot handle (a prior that reads a latent, a truncated or censored prior, a
 * param without a prior or drawn twice) make `paramPriorDraws` throw `PriorDrawUnsupported`;
 * the caller falls back to `model.simulate`.
 */
import { tf } from '../../tensor';
import { Key, type Rng } from '../../tensor/random';
import { getDistribution } from '../../distributions/registry';
import type { DistributionDef, JsValue } from '../../distributions/types';
import type { Factor, IRExpr } from '../../ir/types';
import type { BoundModel } from '../../model/bound-model';
import type { ParamInfo } from '../../model/bind';
import type { NdArray } from '../../model/data';
import { drawRestricted } from '../../model/simulate';
import {
  applyOperator, broadcastOffsets, callFunction, indexArray, indexPositions, JsFunctionError, scalar, sizeOf, stack,
} from '../../model/js-functions';

/** The model's priors cannot be drawn from the IR here; use `model.simulate`. */
export class PriorDrawUnsupported extends Error {}

/** Most tries a rejection step gets (as `simulate`). */
const MAX_TRIES = 10000;

/** IR call names of the operators (the lowering's names) -> js-functions' operator symbols. */
const OPERATORS: Record<string, string> = {
  add: '+', sub: '-', mul: '*', div: '/', mod: '%', pow: '^', matmul: '@',
  eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=', and: '&&', or: '||', neg: 'neg', not: '!',
};

/** The declared restriction of a param narrower than its family's support (as `simulate` reads the declared type). */
interface Restriction {
  lo: number;
  hi: number;
  ordered: boolean;
}

function restrictionOf(p: ParamInfo): Restriction | undefined {
  const c = p.constraint;
  switch (c.name) {
    case 'positive': return { lo: 0, hi: Infinity, ordered: false };
    case 'unit': return { lo: 0, hi: 1, ordered: false };
    case 'lower': return { lo: c.lower ?? -Infinity, hi: Infinity, ordered: false };
    case 'upper': return { lo: -Infinity, hi: c.upper ?? Infinity, ordered: false };
    case 'interval': return { lo: c.lower ?? -Infinity, hi: c.upper ?? Infinity, ordered: false };
    case 'ordered': return { lo: -Infinity, hi: Infinity, ordered: true };
    case 'positive_ordered': return { lo: 0, hi: Infinity, ordered: true };
    default: return undefined;
  }
}

/** What one prior factor needs at every draw. */
interface PriorStep {
  factor: Factor;
  param: ParamInfo;
  def: DistributionDef;
  args: IRExpr[];
  restriction?: Restriction;
  /** Plate ranges (outermost first) the factor loops over. */
  plates: { id: string; lo: number; hi: number }[];
}

/** The prior program of a bound model, checked once. */
class PriorProgram {
  readonly steps: PriorStep[] = [];
  private readonly data = new Map<string, NdArray>();
  private readonly lets = new Map<string, IRExpr>();

  constructor(private readonly bound: BoundModel) {
    const ir = bound.ir;
    const byName = new Map(bound.params.map((p) => [p.name, p]));
    const priorOf = new Map<string, number>();
    for (const l of ir.lets) this.lets.set(l.name, l.expr);
    for (const f of ir.factors) {
      if (f.kind !== 'prior') continue;
      const p = f.site ? byName.get(f.site) : undefined;
      if (!p || !f.dist || !f.value) throw new PriorDrawUnsupported(`prior factor #${f.id} has no parameter value`);
      if (f.dist.kind !== 'family') throw new PriorDrawUnsupported(`the prior of '${p.name}' is ${f.dist.kind}`);
      if (f.latents.length) throw new PriorDrawUnsupported(`the prior of '${p.name}' reads a latent`);
      const def = getDistribution(f.dist.family);
      if (!def) throw new PriorDrawUnsupported(`unknown family '${f.dist.family}'`);
      if (def.support.elem !== 'real') throw new PriorDrawUnsupported(`family '${def.name}' draws integers`);
      for (const a of [f.value, ...f.dist.args]) this.checkExpr(a, new Set());
      const plates = f.plates.map((id) => {
        const r = bound.rt.plates.get(id);
        if (!r) throw new PriorDrawUnsupported(`plate ${id} has no range`);
        return { id, lo: r.lo, hi: r.hi };
      });
      priorOf.set(p.name, (priorOf.get(p.name) ?? 0) + 1);
      this.steps.push({ factor: f, param: p, def, args: f.dist.args, restriction: restrictionOf(p), plates });
    }
    for (const p of bound.params) if (!priorOf.has(p.name)) throw new PriorDrawUnsupported(`param '${p.name}' has no prior`);
  }

  /** Rejects latents and reads the data an expression needs (float64 from the bound tensors). */
  private checkExpr(e: IRExpr, seen: Set<string>): void {
    switch (e.op) {
      case 'latent':
        throw new PriorDrawUnsupported('a prior reads a latent');
      case 'data':
        if (!this.data.has(e.name)) {
          const t = this.bound.rt.data.get(e.name);
          if (!t) throw new PriorDrawUnsupported(`data '${e.name}' is not bound`);
          this.data.set(e.name, { shape: t.shape.slice(), values: Float64Array.from(t.dataSync()) });
        }
        return;
      case 'let': {
        if (seen.has(e.name)) throw new PriorDrawUnsupported(`let '${e.name}' refers to itself`);
        const x = this.lets.get(e.name);
        if (!x) throw new PriorDrawUnsupported(`let '${e.name}' not found`);
        this.checkExpr(x, new Set([...seen, e.name]));
        return;
      }
      case 'index':
        this.checkExpr(e.target, seen);
        e.indices.forEach((i) => this.checkExpr(i, seen));
        return;
      case 'call':
        e.args.forEach((a) => this.checkExpr(a, seen));
        return;
      case 'vector':
        e.elements.forEach((a) => this.checkExpr(a, seen));
        return;
      case 'where':
        this.checkExpr(e.cond, seen);
        this.checkExpr(e.then, seen);
        this.checkExpr(e.else, seen);
        return;
      default:
        return;
    }
  }

  /** One draw of every param (flat, row-major), from `rng`. */
  draw(rng: Rng): Map<string, Float64Array> {
    const st = new DrawState(this.bound, this.data, this.lets);
    for (const s of this.steps) this.runStep(s, st, rng);
    for (const p of this.bound.params) {
      const m = st.drawn.get(p.name)!;
      const i = m.indexOf(0);
      if (i >= 0) throw new PriorDrawUnsupported(`element ${i} of '${p.name}' is never drawn`);
    }
    return st.values;
  }

  private runStep(s: PriorStep, st: DrawState, rng: Rng): void {
    const loops = new Map<string, number>();
    const rec = (d: number): void => {
      if (d === s.plates.length) {
        this.drawFactor(s, st, loops, rng);
        return;
      }
      const pl = s.plates[d];
      for (let i = pl.lo; i <= pl.hi; i++) {
        loops.set(pl.id, i);
        rec(d + 1);
      }
    };
    rec(0);
  }

  /** Draws the value of one factor at one iteration of its plates (simulate's `tilde`). */
  private drawFactor(s: PriorStep, st: DrawState, loops: Map<string, number>, rng: Rng): void {
    const p = s.param;
    const { shape: S, pos } = st.positions(s.factor.value!, p, loops);
    const drawn = st.drawn.get(p.name)!;
    for (const q of pos) if (drawn[q]) throw new PriorDrawUnsupported(`'${p.name}' is drawn twice`);
    const def = s.def;
    const r = def.support.eventRank;
    if (S.length < r) throw new PriorDrawUnsupported(`'${def.name}' draws rank ${r} values, '${p.name}' has shape [${S.join(', ')}]`);
    const batch = S.slice(0, S.length - r);
    const E = sizeOf(S.slice(S.length - r));
    const argFns = s.args.map((a, i) => {
      const v = st.eval(a, loops);
      const pr = def.params[i].eventRank;
      const core = v.shape.slice(v.shape.length - pr);
      const offs = broadcastOffsets(batch, v.shape.slice(0, v.shape.length - pr));
      const coreSize = sizeOf(core);
      return (b: number): JsValue => {
        const off = offs[b] * coreSize;
        if (pr === 0) return v.values[off];
        if (pr === 1) return Array.from(v.values.subarray(off, off + coreSize));
        const [m, n] = core;
        return Array.from({ length: m }, (_, i2) => Array.from(v.values.subarray(off + i2 * n, off + (i2 + 1) * n)));
      };
    });
    const argsAt = (b: number) => argFns.map((f) => f(b));
    // The LKJ family cannot read the matrix size off its argument: it is the value's last axis.
    const extra: JsValue[] = def.name === 'lkj_corr_cholesky' ? [S[S.length - 1]] : [];
    const once = (b: number): Float64Array => {
      const x = def.sample(rng, ...argsAt(b), ...extra);
      const flat = typeof x === 'number' ? Float64Array.of(x) : Float64Array.from((x as (number | number[])[]).flat() as number[]);
      if (flat.length !== E) throw new RangeError(`prior draw: ${def.name} drew ${flat.length} values for '${p.name}', expected ${E}`);
      return flat;
    };
    const nb = sizeOf(batch);
    const out = new Float64Array(nb * E);
    const rs = s.restriction;
    if (!rs) {
      for (let b = 0; b < nb; b++) out.set(once(b), b * E);
    } else {
      drawRestricted(nb, E, p.shape[p.shape.length - 1], pos, once, rs, argsAt, out, (why) => {
        if (why === 'range') throw new RangeError(`prior draw: ${MAX_TRIES} draws of '${p.name}' from ${def.name} fell outside its declared range [${rs.lo}, ${rs.hi}]`);
        if (why === 'piecewise') throw new PriorDrawUnsupported(`ordered '${p.name}' is not drawn one whole vector at a time`);
        throw new RangeError(`prior draw: could not draw an ordered '${p.name}' in ${MAX_TRIES} tries`);
      });
    }
    const vals = st.values.get(p.name)!;
    for (let i = 0; i < pos.length; i++) {
      if (Number.isNaN(out[i])) throw new RangeError(`prior draw: ${def.name} drew NaN for '${p.name}'`);
      vals[pos[i]] = out[i];
      drawn[pos[i]] = 1;
    }
  }
}

/** The values of one draw so far, and an evaluator of IR expressions over them. */
class DrawState {
  readonly values = new Map<string, Float64Array>();
  readonly drawn = new Map<string, Uint8Array>();
  private readonly shapes = new Map<string, number[]>();
  private readonly letValues = new Map<string, NdArray>();

  constructor(private readonly bound: BoundModel, private readonly data: Map<string, NdArray>, private readonly lets: Map<string, IRExpr>) {
    for (const p of bound.params) {
      this.values.set(p.name, new Float64Array(sizeOf(p.shape)));
      this.drawn.set(p.name, new Uint8Array(sizeOf(p.shape)));
      this.shapes.set(p.name, p.shape);
    }
  }

  /** Flat positions in `p` that a factor's value expression (`param.mu`, `param.mu[@k]`) picks, and their shape. */
  positions(e: IRExpr, p: ParamInfo, loops: Map<string, number>): { shape: number[]; pos: Int32Array } {
    if (e.op === 'param' && e.name === p.name) {
      const pos = new Int32Array(sizeOf(p.shape));
      for (let i = 0; i < pos.length; i++) pos[i] = i;
      return { shape: [...p.shape], pos };
    }
    if (e.op === 'index') {
      const inner = this.positions(e.target, p, loops);
      const r = indexPositions(inner.shape, e.indices.map((i) => this.eval(i, loops)), `'${p.name}'`);
      return { shape: r.shape, pos: r.pos.map((q) => inner.pos[q]) };
    }
    throw new PriorDrawUnsupported(`the left of the prior of '${p.name}' is not the param or an element of it`);
  }

  eval(e: IRExpr, loops: Map<string, number>): NdArray {
    switch (e.op) {
      case 'const': return scalar(e.value);
      case 'size': {
        const n = this.bound.rt.sizes.get(e.name);
        if (n === undefined) throw new PriorDrawUnsupported(`size '${e.name}' is not known`);
        return scalar(n);
      }
      case 'data': return this.data.get(e.name)!;
      case 'loop': {
        const i = loops.get(e.plate);
        if (i === undefined) throw new PriorDrawUnsupported(`loop ${e.plate} outside its plate`);
        return scalar(i);
      }
      case 'param': {
        const m = this.drawn.get(e.name)!;
        // Drawn in part: simulate reads only whole values, so must we.
        if (m.indexOf(0) >= 0) throw new PriorDrawUnsupported(`'${e.name}' is read before it is drawn`);
        return { shape: this.shapes.get(e.name)!, values: this.values.get(e.name)! };
      }
      case 'let': {
        let v = this.letValues.get(e.name);
        if (!v) {
          v = this.eval(this.lets.get(e.name)!, loops);
          this.letValues.set(e.name, v);
        }
        return v;
      }
      case 'latent': throw new PriorDrawUnsupported('a prior reads a latent');
      case 'index': {
        // Only the picked elements of a param must be drawn.
        if (e.target.op === 'param') {
          const m = this.drawn.get(e.target.name)!;
          const idx = e.indices.map((i) => this.eval(i, loops));
          const { shape, pos } = indexPositions(this.shapes.get(e.target.name)!, idx, `'${e.target.name}'`);
          const src = this.values.get(e.target.name)!;
          const values = new Float64Array(pos.length);
          for (let i = 0; i < pos.length; i++) {
            if (!m[pos[i]]) throw new PriorDrawUnsupported(`'${e.target.name}' is read before it is drawn`);
            values[i] = src[pos[i]];
          }
          return { shape, values };
        }
        return indexArray(this.eval(e.target, loops), e.indices.map((i) => this.eval(i, loops)));
      }
      case 'call': {
        const args = e.args.map((a) => this.eval(a, loops));
        const op = OPERATORS[e.fn];
        return op ? applyOperator(op, args) : callFunction(e.fn, args);
      }
      case 'vector': return stack(e.elements.map((x) => this.eval(x, loops)));
      case 'where': return applyOperator('?:', [this.eval(e.cond, loops), this.eval(e.then, loops), this.eval(e.else, loops)]);
    }
  }
}

/**
 * `draws` independent draws of the params from their priors (constrained, flat row-major
 * per param), seeded as `model.simulate(data, { seed, draws })`. Throws
 * `PriorDrawUnsupported` where the IR's priors cannot be drawn here.
 */
export function paramPriorDraws(bound: BoundModel, draws: number, seed: number): Map<string, Float64Array>[] {
  const prog = new PriorProgram(bound);
  try {
    return Key.seed(seed).split(draws).map((k) => prog.draw(k.rng()));
  } catch (e) {
    // A function or index the float64 evaluator refuses here: leave the model to simulate.
    if (e instanceof JsFunctionError) throw new PriorDrawUnsupported(e.message);
    throw e;
  }
}

/**
 * The unconstrained vectors of `draws` parameters-only prior draws (see `paramPriorDraws`):
 * each param's transform is inverted once for all draws (float32, as `bound.unconstrain`).
 */
export function paramPriorUnconstrained(bound: BoundModel, draws: number, seed: number): Float64Array[] {
  const vals = paramPriorDraws(bound, draws, seed);
  const u = Array.from({ length: draws }, () => new Float64Array(bound.dim));
  for (const p of bound.params) {
    const n = sizeOf(p.shape);
    const flat = new Float32Array(draws * n);
    for (let i = 0; i < draws; i++) flat.set(vals[i].get(p.name)!, i * n);
    const uSize = p.size;
    let out: Float32Array | Int32Array | Uint8Array = new Float32Array(0);
    tf.tidy(() => {
      out = p.transform.inverse(tf.tensor(flat, [draws, ...p.shape], 'float32')).dataSync();
    });
    if (out.length !== draws * uSize) throw new RangeError(`prior draw: the transform of '${p.name}' gave ${out.length} values, expected ${draws * uSize}`);
    for (let i = 0; i < draws; i++) u[i].set(out.subarray(i * uSize, (i + 1) * uSize), p.offset);
  }
  return u;
}
