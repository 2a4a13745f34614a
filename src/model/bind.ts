/**
 * Binding: a model's IR plus user data -> a Runtime. Resolves sizes (declared, or read
 * off data shapes), validates every data variable (presence, shape, NaN/Inf, integers,
 * bounds), fixes plate ranges and the support of each enumerated latent.
 */
import { tf, type Tensor } from '../tensor';
import { getTransform } from '../distributions/transforms';
import type { Constraint, Transform } from '../distributions/types';
import type { Diagnostic } from '../diagnostics/diagnostic';
import type { IRDim, IRExpr, IRProgram, DataNode, Factor } from '../ir/types';
import { forEachDistExpr, walkExpr, walkFactor } from '../ir/walk';
import { fmtIndex, resolveSizes, toNdArray, unravel, type DataInput, type NdArray } from './data';
import { evalExpr, evalLets, latentDim, plateDim, type Runtime } from './evaluate';

/** A parameter's place in the flat unconstrained vector. */
export interface ParamInfo {
  name: string;
  /** Constrained shape. */
  shape: number[];
  constraint: Constraint;
  transform: Transform;
  /** Shape of its unconstrained block (batch dims + the transform's unconstrained event). */
  uShape: number[];
  offset: number;
  size: number;
}

export interface Bound {
  rt: Runtime;
  params: ParamInfo[];
  /** Length of the flat unconstrained vector. */
  dim: number;
  /** The validated data as given (float64), including sizes filled in from shapes. */
  data: Map<string, NdArray>;
}

/** Thrown by bind with every data problem found. */
export class BindError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('\n'));
  }
}

/** Evaluates a data-only scalar expression (sizes, bounds, loop ranges) in float64. */
export function staticValue(e: IRExpr, sizes: Map<string, number>, data: Map<string, NdArray>): number {
  switch (e.op) {
    case 'const': return e.value;
    case 'size': {
      const v = sizes.get(e.name);
      if (v === undefined) throw new StaticError(`size '${e.name}' is not known`);
      return v;
    }
    case 'data': {
      const d = data.get(e.name);
      if (!d) throw new StaticError(`data '${e.name}' is not given`);
      if (d.shape.length) throw new StaticError(`data '${e.name}' is an array where a single number is needed`);
      return d.values[0];
    }
    case 'call': {
      const a = e.args.map((x) => staticValue(x, sizes, data));
      const f: Record<string, (...x: number[]) => number> = {
        add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
        mod: (x, y) => x % y, pow: (x, y) => x ** y, neg: (x) => -x, min: Math.min, max: Math.max,
        exp: Math.exp, log: Math.log, sqrt: Math.sqrt, abs: Math.abs,
      };
      const fn = f[e.fn];
      if (!fn) throw new StaticError(`'${e.fn}' cannot be used in a size or bound`);
      return fn(...a);
    }
    default:
      throw new StaticError('a size, bound or loop range must be computed from data and constants only');
  }
}

class StaticError extends Error {}

function resolveDim(d: IRDim, sizes: Map<string, number>, data: Map<string, NdArray>): number {
  if (d.kind === 'const') return d.n;
  if (d.kind === 'size') return staticValue({ op: 'size', name: d.name }, sizes, data);
  return staticValue(d.expr, sizes, data);
}

function typeText(node: DataNode, dims: (number | string)[]): string {
  return `${node.elem}[${dims.join(', ')}]`;
}

/** Binds data to a model's IR. Throws BindError listing every problem. */
export function bind(ir: IRProgram, input: DataInput): Bound {
  const diags: Diagnostic[] = [];
  const error = (code: string, message: string, help?: string, span?: DataNode['span']) =>
    diags.push({ severity: 'error', code, message, help, span });

  // 1. Convert what was given.
  const given = new Map<string, NdArray>();
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const r = toNdArray(k, v);
    if ('values' in r) given.set(k, r);
    else diags.push(r);
  }

  // 2. Sizes: given under their own name or read off data shapes; all sources must agree.
  const resolved = resolveSizes(ir.sizes, given);
  diags.push(...resolved.diagnostics);
  const sizes = resolved.values;
  for (const s of ir.sizes) {
    if (s.declared && sizes.has(s.name) && !given.has(s.name)) given.set(s.name, { shape: [], values: Float64Array.of(sizes.get(s.name)!) });
  }

  // 3. Each data variable: present, right shape, finite, integer where declared, within bounds.
  const data = new Map<string, NdArray>();
  for (const node of ir.data) {
    const d = given.get(node.name);
    let dims: number[];
    try {
      dims = node.shape.map((x) => resolveDim(x, sizes, given));
    } catch (e) {
      if (e instanceof StaticError) { error('E0612', `the shape of data '${node.name}' cannot be computed: ${e.message}`, undefined, node.span); continue; }
      throw e;
    }
    const want = typeText(node, dims);
    if (!d) {
      error('E0613', `missing data '${node.name}' (${node.elem}${dims.length ? `[${dims.join(', ')}]` : ''})`, `pass it in the data, e.g. { ${node.name}: ... }`, node.span);
      continue;
    }
    if (d.shape.length !== dims.length || d.shape.some((n, i) => n !== dims[i])) {
      error('E0614', `data '${node.name}' has shape [${d.shape.join(', ')}] but is declared ${dims.length ? want : node.elem}`, undefined, node.span);
      continue;
    }
    let lower: number | undefined;
    let upper: number | undefined;
    try {
      if (node.constraint?.lower) lower = staticValue(node.constraint.lower, sizes, given);
      if (node.constraint?.upper) upper = staticValue(node.constraint.upper, sizes, given);
    } catch (e) {
      if (e instanceof StaticError) { error('E0612', `the bounds of data '${node.name}' cannot be computed: ${e.message}`, undefined, node.span); continue; }
      throw e;
    }
    const bad = firstBad(d, node, lower, upper);
    if (bad) { error(bad.code, bad.message, bad.help, node.span); continue; }
    data.set(node.name, d);
  }
  if (diags.length) throw new BindError(diags);

  // 4. Plates.
  const plates = new Map<string, { lo: number; hi: number; size: number }>();
  for (const p of ir.plates) {
    const lo = staticValue(p.lo, sizes, data);
    const hi = staticValue(p.hi, sizes, data);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) error('E0615', `loop range ${p.id} is ${lo}..${hi}: bounds must be integers`);
    else if (lo < 1 && hi >= lo) error('E0616', `loop range ${p.id} starts at ${lo}: indices are 1-based`);
    plates.set(p.id, { lo, hi, size: Math.max(0, hi - lo + 1) });
  }
  if (diags.length) throw new BindError(diags);

  // 5. Parameters.
  const params: ParamInfo[] = [];
  let offset = 0;
  for (const p of ir.params) {
    const shape = p.shape.map((x) => resolveDim(x, sizes, data));
    const constraint: Constraint = { name: p.constraint.name };
    if (p.constraint.lower) constraint.lower = staticValue(p.constraint.lower, sizes, data);
    if (p.constraint.upper) constraint.upper = staticValue(p.constraint.upper, sizes, data);
    const transform = getTransform(constraint);
    const ev = shape.slice(shape.length - p.eventRank);
    const uShape = [...shape.slice(0, shape.length - p.eventRank), ...transform.unconstrainedEventShape(ev)];
    const size = uShape.reduce((a, b) => a * b, 1);
    params.push({ name: p.name, shape, constraint, transform, uShape, offset, size });
    offset += size;
  }

  const tensors = new Map<string, Tensor>();
  for (const [k, v] of data) tensors.set(k, tf.keep(tf.tensor(Float32Array.from(v.values), v.shape, 'float32')));
  const dimSizes = new Map<string, number>();
  for (const [id, p] of plates) dimSizes.set(plateDim(id), p.size);
  const rt: Runtime = { ir, sizes, data: tensors, plates, latents: new Map(), dimSizes, checkedIndex: new WeakSet() };

  // 6. Enumerated latents: support size from the defining distribution's arguments at an initial point.
  resolveLatents(rt, params, data, sizes, diags);
  if (diags.length) {
    for (const t of tensors.values()) t.dispose();
    throw new BindError(diags);
  }
  return { rt, params, dim: offset, data };
}

function firstBad(d: NdArray, node: DataNode, lower?: number, upper?: number): { code: string; message: string; help?: string } | undefined {
  const shape = d.shape;
  for (let i = 0; i < d.values.length; i++) {
    const v = d.values[i];
    const at = `${node.name}${fmtIndex(unravel(i, shape))}`;
    if (Number.isNaN(v)) return { code: 'E0620', message: `data '${at}' is NaN (or missing)`, help: 'mixppl does not impute missing data: drop the row or model it' };
    if (!Number.isFinite(v)) return { code: 'E0621', message: `data '${at}' is ${v}`, help: 'data must be finite' };
    if (node.elem === 'int' && !Number.isInteger(v)) return { code: 'E0622', message: `data '${at}' is ${v}, but '${node.name}' is declared int` };
    if (lower !== undefined && v < lower) return { code: 'E0623', message: `data '${at}' is ${v}, below its lower bound ${lower}` };
    if (upper !== undefined && v > upper) return { code: 'E0624', message: `data '${at}' is ${v}, above its upper bound ${upper}` };
  }
  return undefined;
}

const FINITE: Record<string, { offset: number; size: (args: Tensor[]) => number }> = {
  categorical: { offset: 1, size: (a) => a[0].shape[a[0].rank - 1] },
  categorical_logit: { offset: 1, size: (a) => a[0].shape[a[0].rank - 1] },
  bernoulli: { offset: 0, size: () => 2 },
  bernoulli_logit: { offset: 0, size: () => 2 },
  binomial: { offset: 0, size: (a) => Math.max(...a[0].dataSync()) + 1 },
};

/** Constrained values at unconstrained zero: a point where argument shapes can be read. */
export function initialParams(params: ParamInfo[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const p of params) out.set(p.name, p.transform.forward(tf.zeros(p.uShape)));
  return out;
}

function resolveLatents(rt: Runtime, params: ParamInfo[], data: Map<string, NdArray>, sizes: Map<string, number>, diags: Diagnostic[]): void {
  const ir = rt.ir;
  tf.tidy(() => {
    const init = initialParams(params);
    const ctx = { rt, params: init, lets: evalLets(rt, init) };
    const pending = [...ir.latents];
    let progress = true;
    while (pending.length && progress) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const lat = pending[i];
        const defs = lat.factors.map((id) => ir.factors[id]);
        const deps = new Set<string>();
        for (const f of defs) for (const z of f.latents) if (z !== lat.name) deps.add(z);
        if ([...deps].some((z) => !rt.latents.has(z))) continue;
        pending.splice(i--, 1);
        progress = true;
        let K = -1;
        let offset = 0;
        // A chain's transition refers to the latent itself (A[z[t-1]]): read K off a statement that does not.
        const selfRef = (f: Factor) => {
          let found = false;
          const d = f.dist!;
          // Only the distribution's arguments: the left-hand side is the latent itself.
          forEachDistExpr(d, (a) => walkExpr(a, (x) => { if (x.op === 'latent' && x.name === lat.name) found = true; }));
          return found;
        };
        const ordered = [...defs.filter((f) => !selfRef(f)), ...defs.filter(selfRef)];
        if (ordered.length && selfRef(ordered[0])) {
          diags.push({ severity: 'error', code: 'E0636', message: `the number of values of '${lat.name}' cannot be found: every statement that gives its distribution refers to '${lat.name}' itself`,
            span: ordered[0].span, help: `give its first element a distribution of its own, e.g. ${lat.name}[1] ~ categorical(p0)` });
          return;
        }
        for (const f of ordered) {
          const dist = f.dist!;
          const fam = dist.kind === 'family' ? dist.family : dist.base.family;
          const fin = FINITE[fam];
          if (!fin || dist.kind !== 'family') {
            diags.push({ severity: 'error', code: 'E0630', message: `discrete latent '${lat.name}' needs a finite distribution to be enumerated, not '${fam}'`, span: f.span,
              help: `use one of ${Object.keys(FINITE).join(', ')}` });
            return;
          }
          const args = dist.args.map((a) => evalExpr(a, ctx).t);
          const k = fin.size(args);
          if (K >= 0 && k !== K) {
            diags.push({ severity: 'error', code: 'E0631', message: `discrete latent '${lat.name}' has ${K} values in one statement and ${k} in another`, span: f.span });
            return;
          }
          if (K < 0) {
            // Provisional entry so the self-referring statements can be evaluated.
            rt.latents.set(lat.name, { node: lat, K: k, offset: fin.offset });
            rt.dimSizes.set(latentDim(lat.name), k);
            rt.dimSizes.set(latentDim(lat.name, true), k);
          }
          K = k;
          offset = fin.offset;
        }
        const extents = lat.shape.map((d) => (d.kind === 'const' ? d.n : d.kind === 'size' ? sizes.get(d.name)! : staticValue(d.expr, sizes, data)));
        const entry: Runtime['latents'] extends Map<string, infer V> ? V : never = { node: lat, K, offset };
        if (lat.chain) {
          entry.T = extents[0];
          checkChainRanges(rt, lat.name, entry.T, diags);
        } else {
          lat.plates.forEach((p, ax) => {
            const pr = rt.plates.get(p)!;
            if (pr.lo !== 1 || pr.hi !== extents[ax]) {
              diags.push({ severity: 'error', code: 'E0632', message: `discrete latent '${lat.name}' has ${extents[ax]} elements along dimension ${ax + 1} but is defined in a loop over ${pr.lo}..${pr.hi}`, span: lat.span });
            }
          });
        }
        rt.latents.set(lat.name, entry);
        rt.dimSizes.set(latentDim(lat.name), K);
        rt.dimSizes.set(latentDim(lat.name, true), K);
      }
    }
    for (const lat of pending) {
      diags.push({ severity: 'error', code: 'E0633', message: `discrete latent '${lat.name}' depends on itself through other latents`, span: lat.span });
    }
  });
}

/** A chain's steps must stay inside 1..T, and step 1 has no predecessor. */
function checkChainRanges(rt: Runtime, name: string, T: number, diags: Diagnostic[]): void {
  for (const f of rt.ir.factors) {
    walkFactor(f, (e) => {
      if (e.op === 'latent' && e.name === name) {
        const ix = e.index[0];
        if ('at' in ix) {
          if (ix.at < 1 || ix.at > T) diags.push({ severity: 'error', code: 'E0634', message: `${name}[${ix.at}] is outside 1..${T}`, span: f.span });
        } else {
          const p = rt.plates.get(ix.plate)!;
          if (p.lo + ix.shift < 1 || p.hi + ix.shift > T) {
            diags.push({ severity: 'error', code: 'E0635', message: `${name}[${ix.shift ? `t${ix.shift}` : 't'}] runs outside 1..${T} for t in ${p.lo}..${p.hi}`, span: f.span,
              help: ix.shift ? `start the loop at ${1 - ix.shift}` : undefined });
          }
        }
      }
    });
  }
}

