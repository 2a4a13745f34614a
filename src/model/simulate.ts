/**
 * Ancestral simulation: draws parameters from their priors, latents, and every observed
 * data variable, by interpreting the checked AST statement by statement in textual
 * order, in float64 JS.
 *
 * Deliberately independent of the IR and the tensor evaluator (only the checker's
 * symbol table, the distribution samplers and the float64 functions of js-functions.ts
 * are shared), so that tests can cross-check the two.
 *
 * Rules:
 * - Sizes come from the data: a size given directly (`{ N: 100 }`) or read off the shape
 *   of a given data array; all sources must agree.
 * - Data on the left of some `~` is simulated (a given value is replaced, except for
 *   elements no `~` reaches, such as the initial value of an autoregression, which must be
 *   given). Other data (covariates, sizes) must be given.
 * - `~` draws the whole variable, or the element / sub-array its left side picks, from the
 *   distribution, broadcasting the arguments over the batch axes. A param whose declared
 *   type is narrower than the family's support is drawn from the family restricted to it
 *   (Stan's reading of `sigma ~ normal(0, 1)` with `sigma: positive`): by rejection, and for
 *   `ordered` vectors with exchangeable priors by sorting (the order statistics, exactly).
 * - Lets are computed when first read (a let may be written above the `~` of what it
 *   reads, as in `let s2 = sigma ^ 2` above `sigma ~ ...`); values never change once
 *   drawn, so this equals evaluating it anywhere after its inputs.
 * - `target +=` terms cannot be simulated and are ignored.
 */
import type { CallExpr, DeclStmt, Expr, ForStmt, LetStmt, Stmt, TildeStmt } from '../ast/nodes';
import type { CheckResult, SymbolInfo } from '../check';
import type { DistributionDef, JsValue } from '../distributions/types';
import type { Source, Span } from '../diagnostics/span';
import type { Rng } from '../tensor/random';
import type { DataInput, DataValue, NdArray } from './data';
import type { Diagnostic } from '../diagnostics/diagnostic';
import { MixError } from '../diagnostics/diagnostic';
import { typeBase } from '../check/declarations';
import { exprText } from '../check/text';
import { getDistribution } from '../distributions/registry';
import { Key } from '../tensor/random';
import { fmtIndex, resolveSizes, toNdArray, unravel } from './data';
import {
  JsFunctionError, applyOperator, broadcastOffsets, callFunction, fmtShape, indexPositions, scalar, sizeOf, stack,
} from './js-functions';

export interface SimulateOptions {
  /** Seed of the draws (default 1): the same seed gives the same draws. */
  seed?: number;
  /** Number of independent draws (default 1). */
  draws?: number;
  /** Param or latent values to hold fixed instead of drawing (their `~` is skipped). */
  fixed?: Record<string, DataValue>;
  /** The model's source text, so errors render with a snippet. */
  source?: Source;
}

/** One ancestral draw of the whole model. */
export interface SimulatedDraw {
  params: Record<string, NdArray>;
  latents: Record<string, NdArray>;
  /** Every data variable: the simulated observations and the given covariates and sizes. */
  data: Record<string, NdArray>;
  /** Top-level lets. */
  lets: Record<string, NdArray>;
}

/** Most tries a rejection step (truncation, declared bounds, ordering) gets before it gives up. */
const MAX_TRIES = 10000;

/**
 * Draws nb batch elements (E values each, at flat positions `pos` of the variable) restricted
 * to a declared type, into `out`: each element is redrawn until it lies in [lo, hi] (a NaN is
 * kept, for the caller's NaN check); with `ordered` (the last axis, length K), a vector family
 * (E = K) is redrawn until ascending, and a scalar family is grouped by the vector each
 * element belongs to, drawn iid and sorted when the group's arguments are equal (the order
 * statistics of the common prior), by rejection otherwise. `fail` reports, and must throw: an
 * element (`detail` = b) whose draws all fell outside [lo, hi]; a group that does not cover a
 * whole vector (`detail` = elements covered; undefined for a vector family of the wrong
 * length); an ordering rejection that ran out of tries. Used by simulate and by SMC's prior draw.
 */
export function drawRestricted(nb: number, E: number, K: number, pos: ArrayLike<number>, draw: (b: number) => Float64Array,
  rs: { lo: number; hi: number; ordered: boolean }, argsAt: ((b: number) => unknown) | undefined, out: Float64Array,
  fail: (why: 'range' | 'piecewise' | 'rejection', detail?: number) => never): void {
  const inRange = (v: Float64Array) => v.every((x) => x >= rs.lo && x <= rs.hi);
  const drawInRange = (b: number): Float64Array => {
    for (let t = 0; t < MAX_TRIES; t++) {
      const v = draw(b);
      if (inRange(v) || v.some(Number.isNaN)) return v;
    }
    return fail('range', b);
  };
  if (!rs.ordered) {
    for (let b = 0; b < nb; b++) out.set(drawInRange(b), b * E);
    return;
  }
  const ascending = (v: ArrayLike<number>) => {
    for (let i = 1; i < v.length; i++) if (!(v[i - 1] < v[i])) return false;
    return true;
  };
  if (E > 1) {
    // A vector family over whole vectors: redraw each until ordered.
    if (E !== K) fail('piecewise');
    for (let b = 0; b < nb; b++) {
      let ok = false;
      for (let t = 0; t < MAX_TRIES && !ok; t++) {
        const v = drawInRange(b);
        if (ascending(v)) {
          out.set(v, b * E);
          ok = true;
        }
      }
      if (!ok) fail('rejection');
    }
    return;
  }
  // Scalar family: group the batch elements by the vector (last axis) they belong to.
  const groups = new Map<number, number[]>();
  for (let b = 0; b < nb; b++) {
    const g = Math.floor(pos[b] / K);
    const list = groups.get(g) ?? [];
    list.push(b);
    groups.set(g, list);
  }
  for (const members of groups.values()) {
    if (members.length !== K) fail('piecewise', members.length);
    members.sort((a, b) => pos[a] - pos[b]);
    const key = (b: number) => JSON.stringify(argsAt?.(b));
    if (argsAt !== undefined && members.every((b) => key(b) === key(members[0]))) {
      const vals = members.map((b) => drawInRange(b)[0]).sort((x, y) => x - y);
      members.forEach((b, i) => { out[b] = vals[i]; });
      continue;
    }
    let ok = false;
    for (let t = 0; t < MAX_TRIES && !ok; t++) {
      const vals = members.map((b) => drawInRange(b)[0]);
      if (ascending(vals)) {
        members.forEach((b, i) => { out[b] = vals[i]; });
        ok = true;
      }
    }
    if (!ok) fail('rejection');
  }
}

/** Simulation error codes (E07xx); data errors share bind's E06xx codes. */
const CODES = {
  checkErrors: 'E0700',
  badOption: 'E0701',
  useBeforeDraw: 'E0702',
  neverDrawn: 'E0703',
  drawnTwice: 'E0704',
  latentShape: 'E0705',
  rejection: 'E0706',
  orderedPiecewise: 'E0707',
  badArgument: 'E0708',
  badValue: 'E0709',
  evaluation: 'E0710',
  notFixable: 'E0711',
  sizeUnknown: 'E0610',
  sizeConflict: 'E0611',
  missingData: 'E0613',
  dataShape: 'E0614',
} as const;

/**
 * Returns `draws` ancestral draws of the model: params from their priors, latents, and
 * every observed data variable, given the sizes and covariates in `input`.
 * Throws MixError when the model has check errors, the data is incomplete, or a
 * statement cannot be simulated (use before draw, bad arguments, failed rejection).
 */
export function simulate(checked: CheckResult, input: DataInput, opts: SimulateOptions = {}): SimulatedDraw[] {
  const source = opts.source;
  const errors = checked.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) {
    throw new MixError([{ severity: 'error', code: CODES.checkErrors, message: `cannot simulate a model with ${errors.length} error${errors.length === 1 ? '' : 's'}` }, ...errors], source);
  }
  const draws = opts.draws ?? 1;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(draws) || draws < 1) throw new MixError([optionError(`draws must be a positive integer, got ${draws}`)], source);
  if (!Number.isSafeInteger(seed)) throw new MixError([optionError(`seed must be a safe integer, got ${seed}`)], source);
  const setup = prepare(checked, input, opts.fixed ?? {}, source);
  const keys = Key.seed(seed).split(draws);
  return keys.map((key) => new Interp(setup, freshSlots(setup), key.rng()).runProgram());
}

function optionError(message: string): Diagnostic {
  return { severity: 'error', code: CODES.badOption, message };
}

// ---------------------------------------------------------------------------
// Setup: sizes, data, shapes, fixed values, and which data elements a ~ reaches

/** A top-level value: its array and, for drawn variables, which elements have a value yet. */
interface Slot {
  name: string;
  role: SymbolInfo['role'];
  value: NdArray;
  /** 1 where the element has a value; absent when the whole value is known from the start. */
  drawn?: Uint8Array;
}

/** What every draw starts from. */
interface Setup {
  checked: CheckResult;
  source?: Source;
  /** Sizes and given (non-observed) data: known before any draw. */
  known: Map<string, NdArray>;
  /** Concrete shapes of every data, param and latent. */
  shapes: Map<string, number[]>;
  /** Observed data: values of the elements no ~ reaches (taken from the input), and which those are. */
  observed: Map<string, { value: NdArray; given: Uint8Array }>;
  fixed: Map<string, NdArray>;
  /** The first ~ of each variable, for use-before-draw messages. */
  firstTilde: Map<string, TildeStmt>;
}

function prepare(checked: CheckResult, input: DataInput, fixedIn: Record<string, DataValue>, source?: Source): Setup {
  const diags: Diagnostic[] = [];
  const error = (code: string, message: string, help?: string, span?: Span) => diags.push({ severity: 'error', code, message, help, span });
  const flush = () => {
    if (diags.length) throw new MixError(diags, source);
  };
  const symbols = checked.symbols;
  const program = checked.program;

  const firstTilde = new Map<string, TildeStmt>();
  for (const s of walkStatements(program.body)) {
    if (s.kind !== 'Tilde') continue;
    const root = lhsRoot(s.lhs);
    if (root && !firstTilde.has(root)) firstTilde.set(root, s);
  }
  const observedNames = new Set([...firstTilde.keys()].filter((n) => symbols.get(n)?.role === 'data'));

  // 1. What was given.
  const given = new Map<string, NdArray>();
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const r = toNdArray(k, v);
    if ('values' in r) given.set(k, r);
    else diags.push(r);
  }
  flush();

  // 2. Sizes: given directly or read off data shapes; every source must agree (shared with bind).
  const known = new Map<string, NdArray>();
  const resolvedSizes = resolveSizes(checked.sizes, given);
  diags.push(...resolvedSizes.diagnostics);
  const reported = new Set<string>(checked.sizes.map((s) => s.name).filter((n) => !resolvedSizes.values.has(n)));
  for (const [name, n] of resolvedSizes.values) known.set(name, scalar(n));
  // Given covariates are known before any shape is worked out (dims may name data scalars).
  for (const sym of symbols.values()) {
    if (sym.role !== 'data' || observedNames.has(sym.name)) continue;
    const g = given.get(sym.name);
    if (g) known.set(sym.name, g);
  }
  flush();

  // 3. Shapes, then the covariates must be there with those shapes.
  const setup: Setup = { checked, source, known, shapes: new Map(), observed: new Map(), fixed: new Map(), firstTilde };
  const probe = new Interp(setup, staticSlots(setup), undefined);
  for (const sym of symbols.values()) {
    if (sym.role !== 'data' && sym.role !== 'param' && sym.role !== 'latent') continue;
    try {
      setup.shapes.set(sym.name, probe.shapeOf(sym));
    } catch (e) {
      if (!(e instanceof MixError)) throw e;
      diags.push(...e.diagnostics);
    }
  }
  flush();
  for (const sym of symbols.values()) {
    if (sym.role !== 'data') continue;
    const shape = setup.shapes.get(sym.name)!;
    const decl = sym.decl?.kind === 'Decl' ? sym.decl : undefined;
    const g = given.get(sym.name);
    const typeText = `${decl?.type.base.name ?? sym.ty.elem}${shape.length ? fmtShape(shape) : ''}`;
    if (g) {
      if (!sameShape(g.shape, shape)) {
        error(CODES.dataShape, `data '${sym.name}' has shape ${fmtShape(g.shape)} but is declared ${typeText}`, undefined, decl?.span);
      }
      continue;
    }
    if (observedNames.has(sym.name)) continue;
    if (known.has(sym.name)) continue; // a declared size read off another array's shape
    if (reported.has(sym.name)) continue;
    error(CODES.missingData, `missing data '${sym.name}' (${typeText})`,
      `no ~ draws it, so it cannot be simulated: pass it in the data, e.g. { ${sym.name}: ... }`, decl?.span);
  }
  flush();

  // 4. Fixed values.
  for (const [name, v] of Object.entries(fixedIn)) {
    if (v === undefined) continue;
    const sym = symbols.get(name);
    if (!sym || (sym.role !== 'param' && sym.role !== 'latent')) {
      const what = sym ? `${sym.role === 'size' ? 'a size' : `${sym.role === 'let' ? 'a let' : 'data'}`}` : 'not a variable of the model';
      error(CODES.notFixable, `fixed '${name}' is ${what}; only params and latents can be held fixed`);
      continue;
    }
    const r = toNdArray(name, v);
    if (!('values' in r)) {
      diags.push(r);
      continue;
    }
    const shape = setup.shapes.get(name)!;
    if (!sameShape(r.shape, shape)) {
      error(CODES.dataShape, `fixed '${name}' has shape ${fmtShape(r.shape)} but ${sym.role} '${name}' has shape ${fmtShape(shape)}`);
      continue;
    }
    setup.fixed.set(name, r);
  }
  flush();

  // 5. Which elements of each observed data variable some ~ reaches (a dry run over the loops).
  const targets = new Interp(setup, staticSlots(setup), undefined).dryRun();
  for (const name of observedNames) {
    const shape = setup.shapes.get(name)!;
    const hit = targets.get(name) ?? new Uint8Array(sizeOf(shape));
    const g = given.get(name);
    const value: NdArray = { shape, values: new Float64Array(hit.length) };
    const givenMask = new Uint8Array(hit.length);
    for (let i = 0; i < hit.length; i++) {
      if (hit[i]) continue;
      if (!g) {
        const sym = symbols.get(name)!;
        error(CODES.missingData, `missing data '${name}${fmtIndex(unravel(i, shape))}': no ~ draws it, so it must be given`,
          `pass '${name}' in the data (its other elements are simulated)`, sym.decl?.span);
        break;
      }
      value.values[i] = g.values[i];
      givenMask[i] = 1;
    }
    setup.observed.set(name, { value, given: givenMask });
  }
  flush();
  return setup;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Slots for setup: sizes and covariates known, everything else absent. */
function staticSlots(setup: Setup): Map<string, Slot> {
  const slots = new Map<string, Slot>();
  for (const [name, value] of setup.known) slots.set(name, { name, role: setup.checked.symbols.get(name)?.role ?? 'size', value });
  return slots;
}

/** Slots at the start of one draw. */
function freshSlots(setup: Setup): Map<string, Slot> {
  const slots = staticSlots(setup);
  for (const sym of setup.checked.symbols.values()) {
    if (sym.role !== 'data' && sym.role !== 'param' && sym.role !== 'latent') continue;
    if (slots.has(sym.name)) continue;
    const shape = setup.shapes.get(sym.name)!;
    const fixed = setup.fixed.get(sym.name);
    const obs = setup.observed.get(sym.name);
    if (fixed) slots.set(sym.name, { name: sym.name, role: sym.role, value: copy(fixed) });
    else if (obs) slots.set(sym.name, { name: sym.name, role: sym.role, value: copy(obs.value), drawn: Uint8Array.from(obs.given) });
    else slots.set(sym.name, { name: sym.name, role: sym.role, value: { shape, values: new Float64Array(sizeOf(shape)) }, drawn: new Uint8Array(sizeOf(shape)) });
  }
  return slots;
}

function copy(a: NdArray): NdArray {
  return { shape: [...a.shape], values: Float64Array.from(a.values) };
}

/** Returns every statement of a body and its nested loops, in textual order. */
function* walkStatements(body: readonly Stmt[]): Generator<Stmt> {
  for (const s of body) {
    yield s;
    if (s.kind === 'For') yield* walkStatements(s.body);
  }
}

/** Returns the variable a `~` left side belongs to (`x`, `x[n]`, `x[n][d]`). */
function lhsRoot(e: Expr): string | undefined {
  if (e.kind === 'Name') return e.name;
  if (e.kind === 'Index') return lhsRoot(e.target);
  return undefined;
}

// ---------------------------------------------------------------------------
// The interpreter

/** A let, computed when first read. */
interface LetThunk {
  kind: 'let';
  stmt: LetStmt;
  scope: Scope;
  value?: NdArray;
}

type Binding = NdArray | LetThunk;

const isThunk = (b: Binding): b is LetThunk => (b as LetThunk).kind === 'let';

/** Names bound in a block (loop variables, lets, a mixture's component index), chained outward. */
class Scope {
  readonly vars = new Map<string, Binding>();
  constructor(readonly parent?: Scope) {}

  find(name: string): Binding | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const b = s.vars.get(name);
      if (b) return b;
    }
    return undefined;
  }
}

/** Raised in a dry run when a value depends on something drawn. */
class NotStatic extends Error {}

/** How to draw the value of one `~`: batch element b gives `eventSize` numbers. */
interface Plan {
  batch: number[];
  eventSize: number;
  draw(b: number): Float64Array;
  /** Plain families: the core arguments of batch element b (to detect exchangeable draws). */
  argsAt?(b: number): JsValue[];
  /** What it draws from, for messages (computed only when one is needed). */
  text(): string;
}

/** The declared range of a param's elements and whether it is an ordered vector. */
interface ParamRestriction {
  lo: number;
  hi: number;
  ordered: boolean;
}

class Interp {
  /** The statement being run (its span goes on errors). */
  private stmt?: Stmt | DeclStmt;
  /** Lets being computed (for notes on errors). */
  private readonly letStack: LetStmt[] = [];
  /** Dry run: elements of observed data reached by some ~. */
  private targets?: Map<string, Uint8Array>;

  constructor(private readonly setup: Setup, private readonly slots: Map<string, Slot>, private readonly rng: Rng | undefined) {}

  // ---- entry points

  /** Runs the model once and returns the draw. */
  runProgram(): SimulatedDraw {
    const root = new Scope();
    const program = this.setup.checked.program;
    this.block(program.body, root);
    const out: SimulatedDraw = { params: {}, latents: {}, data: {}, lets: {} };
    for (const s of program.body) {
      if (s.kind !== 'Let') continue;
      out.lets[s.name.name] = copy(this.guarded(s, () => this.readBinding(root.vars.get(s.name.name)!)));
    }
    for (const sym of this.setup.checked.symbols.values()) {
      const slot = this.slots.get(sym.name);
      if (!slot) continue;
      if (slot.drawn) this.requireAllDrawn(slot, sym);
      const v = copy(slot.value);
      if (sym.role === 'param') out.params[sym.name] = v;
      else if (sym.role === 'latent') out.latents[sym.name] = v;
      else if (sym.role === 'data') out.data[sym.name] = v;
    }
    return out;
  }

  /** Returns, for each observed data variable, the elements some ~ reaches (without drawing). */
  dryRun(): Map<string, Uint8Array> {
    this.targets = new Map();
    this.block(this.setup.checked.program.body, new Scope());
    return this.targets;
  }

  /** Returns the concrete shape of a data, param or latent. */
  shapeOf(sym: SymbolInfo): number[] {
    const decl = sym.decl?.kind === 'Decl' ? sym.decl : undefined;
    if (decl) {
      this.stmt = decl;
      const root = new Scope();
      const dims = decl.type.dims.map((d) => this.dimValue(this.staticEval(d, root, `a dim of '${sym.name}'`), `a dim of '${sym.name}'`));
      // A matrix base's last dim D means D x D.
      if (typeBase(decl.type)?.eventRank === 2 && dims.length > 0) dims.push(dims[dims.length - 1]);
      return dims;
    }
    // Implicit latents: the checker inferred the dims from the loops around their ~.
    this.stmt = this.setup.firstTilde.get(sym.name);
    return sym.ty.shape.map((d) => {
      if (d.kind === 'const') return d.n;
      const v = d.kind === 'size' ? this.slots.get(d.name)?.value : undefined;
      if (!v) {
        this.fail(CODES.latentShape, `cannot work out the shape of latent '${sym.name}' from the loops around its ~`,
          `declare it with its size, e.g. latent ${sym.name}: int[${sym.ty.shape.map((x) => (x.kind === 'size' ? x.name : x.kind === 'const' ? x.n : 'N')).join(', ')}]`);
      }
      return this.dimValue(v, `a dim of '${sym.name}'`);
    });
  }

  /** Evaluates a size or bound: only sizes, given data and constants may appear. */
  private staticEval(e: Expr, scope: Scope, what: string): NdArray {
    try {
      return this.eval(e, scope);
    } catch (err) {
      if (err instanceof NotStatic) this.fail(CODES.evaluation, `${what} reads '${err.message}', which is drawn: it must come from sizes, given data and constants`);
      if (err instanceof JsFunctionError) this.fail(CODES.evaluation, `${what}: ${err.message}`);
      throw err;
    }
  }

  // ---- statements

  private block(stmts: readonly Stmt[], scope: Scope): void {
    for (const s of stmts) this.statement(s, scope);
  }

  private statement(s: Stmt, scope: Scope): void {
    switch (s.kind) {
      case 'Decl':
      case 'Target':
        return;
      case 'Let':
        scope.vars.set(s.name.name, { kind: 'let', stmt: s, scope });
        return;
      case 'For':
        this.loop(s, scope);
        return;
      case 'Tilde':
        this.guarded(s, () => (this.targets ? this.markTargets(s, scope) : this.tilde(s, scope)));
        return;
    }
  }

  /** Runs f for statement s, turning function, sampler and RNG errors into diagnostics at s. */
  private guarded<T>(s: Stmt, f: () => T): T {
    const outer = this.stmt;
    this.stmt = s;
    try {
      return f();
    } catch (e) {
      if (e instanceof MixError || e instanceof NotStatic) throw e;
      if (e instanceof JsFunctionError || e instanceof RangeError) this.fail(CODES.evaluation, e.message);
      throw e;
    } finally {
      this.stmt = outer;
    }
  }

  private loop(s: ForStmt, scope: Scope): void {
    let range: [number, number];
    try {
      range = this.guarded(s, () => [this.loopBound(s.lo, scope), this.loopBound(s.hi, scope)]);
    } catch (e) {
      if (!(e instanceof NotStatic)) throw e;
      // Dry run with a range that depends on draws: every variable of the body counts as reached.
      for (const t of walkStatements(s.body)) if (t.kind === 'Tilde') this.markWhole(t);
      return;
    }
    const [lo, hi] = range;
    for (let i = lo; i <= hi; i++) {
      const inner = new Scope(scope);
      inner.vars.set(s.var.name, scalar(i));
      this.block(s.body, inner);
    }
  }

  private loopBound(e: Expr, scope: Scope): number {
    const v = this.eval(e, scope);
    if (v.shape.length !== 0 || !Number.isInteger(v.values[0])) {
      this.fail(CODES.evaluation, `a loop bound must be an integer, got ${v.shape.length ? `an array of shape ${fmtShape(v.shape)}` : v.values[0]}`);
    }
    return v.values[0];
  }

  /** Dry run: records which elements of observed data this ~ reaches. */
  private markTargets(s: TildeStmt, scope: Scope): void {
    const root = lhsRoot(s.lhs)!;
    const slotShape = this.setup.shapes.get(root);
    if (this.setup.checked.symbols.get(root)?.role !== 'data' || !slotShape) return;
    let pos: Int32Array;
    try {
      pos = this.lhsPositions(s.lhs, scope).pos;
    } catch (e) {
      if (!(e instanceof NotStatic)) throw e;
      this.markWhole(s);
      return;
    }
    const hit = this.targetMask(root);
    for (const p of pos) hit[p] = 1;
  }

  private markWhole(s: TildeStmt): void {
    const root = lhsRoot(s.lhs)!;
    if (this.setup.checked.symbols.get(root)?.role === 'data') this.targetMask(root).fill(1);
  }

  private targetMask(name: string): Uint8Array {
    let m = this.targets!.get(name);
    if (!m) {
      m = new Uint8Array(sizeOf(this.setup.shapes.get(name)!));
      this.targets!.set(name, m);
    }
    return m;
  }

  /** Draws the value of one `~` and stores it. */
  private tilde(s: TildeStmt, scope: Scope): void {
    const root = lhsRoot(s.lhs)!;
    if (this.setup.fixed.has(root)) return;
    const slot = this.slots.get(root);
    if (!slot?.drawn) throw new MixError([{ severity: 'error', code: CODES.badValue, message: `'${root}' cannot have a distribution here`, span: s.span }], this.setup.source);
    const { shape, pos } = this.lhsPositions(s.lhs, scope);
    for (const p of pos) {
      if (!slot.drawn[p]) continue;
      const first = this.setup.firstTilde.get(root);
      this.fail(CODES.drawnTwice, `'${this.elementName(slot, p)}' is drawn a second time`,
        'ancestral simulation needs exactly one ~ per element; a second ~ on the same value multiplies densities and cannot be simulated',
        first && first !== s ? [{ message: 'first drawn here', span: first.span }] : undefined);
    }
    if (s.dist.kind !== 'Call') this.fail(CODES.badArgument, `the right of ~ must be a distribution, got '${exprText(s.dist)}'`);
    const plan = this.plan(s.dist, shape, scope, s.lhs);
    const sym = this.setup.checked.symbols.get(root)!;
    const restriction = sym.role === 'param' ? this.restriction(sym) : undefined;
    const values = restriction ? this.drawRestricted(plan, restriction, slot, pos, s) : this.drawAll(plan);
    for (let i = 0; i < pos.length; i++) {
      if (Number.isNaN(values[i])) {
        this.fail(CODES.badValue, `${plan.text()} drew NaN for '${this.elementName(slot, pos[i])}'`, 'check the arguments of the distribution at this element');
      }
      slot.value.values[pos[i]] = values[i];
      slot.drawn[pos[i]] = 1;
    }
  }

  private drawAll(plan: Plan): Float64Array {
    const E = plan.eventSize;
    const nb = sizeOf(plan.batch);
    const out = new Float64Array(nb * E);
    for (let b = 0; b < nb; b++) out.set(plan.draw(b), b * E);
    return out;
  }

  // ---- drawing

  /** Returns the plan for drawing a value of shape S from a distribution or combinator call. */
  private plan(call: CallExpr, S: number[], scope: Scope, lhs: Expr): Plan {
    const name = call.callee.name;
    if (name === 'mixture') return this.mixturePlan(call, S, scope, lhs);
    if (name === 'censored' || name === 'truncated') return this.boundedPlan(call, S, scope, lhs);
    return this.familyPlan(call, S, scope, lhs);
  }

  /** `mixture(w, k -> d)`: k ~ categorical(w) once for the whole left side, then d with k bound. */
  private mixturePlan(call: CallExpr, S: number[], scope: Scope, lhs: Expr): Plan {
    const [wExpr, lam] = call.args;
    if (!wExpr || !lam || lam.kind !== 'Lambda' || lam.body.kind !== 'Call') {
      this.fail(CODES.badArgument, 'mixture takes the weights and a lambda k -> distribution', 'write mixture(w, k -> normal(mu[k], sigma[k]))');
    }
    const w = this.eval(wExpr, scope);
    if (w.shape.length !== 1) this.fail(CODES.badArgument, `mixture weights must be a vector, got shape ${fmtShape(w.shape)}`);
    let k: number;
    try {
      k = this.rng!.categorical(Array.from(w.values)) + 1;
    } catch (e) {
      if (e instanceof RangeError) this.fail(CODES.badArgument, `bad mixture weights ${exprText(wExpr)} = [${Array.from(w.values).join(', ')}]: ${e.message}`);
      throw e;
    }
    const inner = new Scope(scope);
    inner.vars.set(lam.param.name, scalar(k));
    return this.plan(lam.body, S, inner, lhs);
  }

  /** `censored(d, lo, hi)` clamps a draw of d; `truncated(d, lo, hi)` redraws until it falls inside. */
  private boundedPlan(call: CallExpr, S: number[], scope: Scope, lhs: Expr): Plan {
    const name = call.callee.name;
    const [baseExpr, loExpr, hiExpr] = call.args;
    if (!baseExpr || baseExpr.kind !== 'Call' || !loExpr || !hiExpr) {
      this.fail(CODES.badArgument, `'${name}' takes a distribution and two bounds`, `write ${name}(normal(mu, sigma), lower, upper)`);
    }
    const base = this.familyPlan(baseExpr, S, scope, lhs);
    if (base.eventSize !== 1) this.fail(CODES.badArgument, `'${name}' needs a scalar distribution`);
    const bound = (e: Expr) => {
      const v = this.eval(e, scope);
      try {
        const offs = broadcastOffsets(base.batch, v.shape);
        return (b: number) => v.values[offs[b]];
      } catch (err) {
        if (!(err instanceof JsFunctionError)) throw err;
        return this.fail(CODES.badArgument, `the bound ${exprText(e)} of '${name}' has shape ${fmtShape(v.shape)}, which does not fit '${exprText(lhs)}' (shape ${fmtShape(S)})`);
      }
    };
    const lo = bound(loExpr);
    const hi = bound(hiExpr);
    const text = () => exprText(call);
    const checkBounds = (b: number) => {
      if (lo(b) > hi(b)) this.fail(CODES.badArgument, `${text()}: lower bound ${lo(b)} is above upper bound ${hi(b)}`);
    };
    if (name === 'censored') {
      return {
        batch: base.batch, eventSize: 1, text,
        draw: (b) => {
          checkBounds(b);
          return Float64Array.of(Math.min(hi(b), Math.max(lo(b), base.draw(b)[0])));
        },
      };
    }
    return {
      batch: base.batch, eventSize: 1, text,
      draw: (b) => {
        checkBounds(b);
        for (let t = 0; t < MAX_TRIES; t++) {
          const v = base.draw(b);
          if (v[0] >= lo(b) && v[0] <= hi(b)) return v;
        }
        return this.fail(CODES.rejection, `${text()}: no draw of ${base.text()} fell inside [${lo(b)}, ${hi(b)}] in ${MAX_TRIES} tries`,
          'the interval holds almost none of the distribution\'s mass: check the bounds and parameters');
      },
    };
  }

  /** A plain family: arguments broadcast over the batch axes of S (S without the support's event axes). */
  private familyPlan(call: CallExpr, S: number[], scope: Scope, lhs: Expr): Plan {
    const name = call.callee.name;
    const def: DistributionDef | undefined = getDistribution(name);
    if (!def) return this.fail(CODES.badArgument, `unknown distribution '${name}'`);
    const r = def.support.eventRank;
    if (S.length < r) {
      this.fail(CODES.badArgument, `'${name}' draws ${r === 1 ? 'vectors' : 'matrices'}, but '${exprText(lhs)}' has shape ${fmtShape(S)}`);
    }
    const batch = S.slice(0, S.length - r);
    const eventSize = sizeOf(S.slice(S.length - r));
    if (call.args.length !== def.params.length) {
      this.fail(CODES.badArgument, `'${name}' takes ${def.params.length} arguments, got ${call.args.length}`);
    }
    const args = call.args.map((a, i) => {
      const v = this.eval(a, scope);
      const p = def.params[i].eventRank;
      const what = `argument '${def.params[i].name}' of '${name}' (${exprText(a)})`;
      if (v.shape.length < p) this.fail(CODES.badArgument, `${what} must be ${p === 1 ? 'a vector' : 'a matrix'}, got shape ${fmtShape(v.shape)}`);
      const core = v.shape.slice(v.shape.length - p);
      const argBatch = v.shape.slice(0, v.shape.length - p);
      let offs: Int32Array;
      try {
        offs = broadcastOffsets(batch, argBatch);
      } catch (e) {
        if (!(e instanceof JsFunctionError)) throw e;
        return this.fail(CODES.badArgument, `${what} has shape ${fmtShape(v.shape)}, which does not fit '${exprText(lhs)}' (shape ${fmtShape(S)})`,
          argBatch.length > batch.length ? `index it so that its leading axes match those of '${exprText(lhs)}'` : undefined);
      }
      const coreSize = sizeOf(core);
      return (b: number): JsValue => {
        const off = offs[b] * coreSize;
        if (p === 0) return v.values[off];
        if (p === 1) return Array.from(v.values.subarray(off, off + coreSize));
        const [m, n] = core;
        return Array.from({ length: m }, (_, i2) => Array.from(v.values.subarray(off + i2 * n, off + (i2 + 1) * n)));
      };
    });
    // The LKJ family cannot read the matrix size off its argument: it is the value's last axis.
    const extra: JsValue[] = name === 'lkj_corr_cholesky' ? [S[S.length - 1]] : [];
    const text = () => exprText(call);
    const argsAt = (b: number) => args.map((f) => f(b));
    return {
      batch, eventSize, text, argsAt,
      draw: (b) => {
        const v = def.sample(this.rng!, ...argsAt(b), ...extra);
        const flat = flatten(v);
        if (flat.length !== eventSize) {
          this.fail(CODES.badArgument, `${text()} drew ${flat.length} value${flat.length === 1 ? '' : 's'} but '${exprText(lhs)}' needs ${eventSize} per draw (shape ${fmtShape(S)})`);
        }
        return flat;
      },
    };
  }

  /** Returns the declared restriction of a param narrower than any family's support, if any. */
  private restriction(sym: SymbolInfo): ParamRestriction | undefined {
    const decl = sym.decl?.kind === 'Decl' ? sym.decl : undefined;
    const base = decl ? typeBase(decl.type) : undefined;
    if (!decl || !base) return undefined;
    const ordered = base.constraint === 'ordered' || base.constraint === 'positive_ordered';
    // Only scalar ranges are enforced: the vector and matrix constraints are the supports of their families.
    if (base.eventRank !== 0 && base.constraint !== 'positive_ordered') return ordered ? { lo: -Infinity, hi: Infinity, ordered } : undefined;
    let [lo, hi] = base.range;
    const root = new Scope();
    const boundValue = (e: Expr, which: string): number => {
      const v = this.eval(e, root);
      if (v.shape.length !== 0) this.fail(CODES.badArgument, `the ${which} bound of '${sym.name}' must be a scalar, got shape ${fmtShape(v.shape)}`);
      return v.values[0];
    };
    if (decl.type.lower) lo = Math.max(lo, boundValue(decl.type.lower, 'lower'));
    if (decl.type.upper) hi = Math.min(hi, boundValue(decl.type.upper, 'upper'));
    if (lo === -Infinity && hi === Infinity && !ordered) return undefined;
    return { lo, hi, ordered };
  }

  /**
   * Draws a param restricted to its declared type: each batch element is redrawn until it
   * lies in [lo, hi]; ordered vectors are sorted when their elements are exchangeable
   * (the order statistics of iid draws are exactly the ordered law), else redrawn until ordered.
   */
  private drawRestricted(plan: Plan, rs: ParamRestriction, slot: Slot, pos: Int32Array, s: TildeStmt): Float64Array {
    const E = plan.eventSize;
    const nb = sizeOf(plan.batch);
    const out = new Float64Array(nb * E);
    const K = slot.value.shape[slot.value.shape.length - 1];
    drawRestricted(nb, E, K, pos, (b) => plan.draw(b), rs, plan.argsAt, out, (why, detail) => {
      if (why === 'range') {
        return this.fail(CODES.rejection, `could not draw '${this.elementName(slot, pos[detail! * E])}' inside its declared range [${rs.lo}, ${rs.hi}]: ${MAX_TRIES} draws from ${plan.text()} fell outside`,
          `give '${slot.name}' a prior whose support is its declared type`);
      }
      if (why === 'rejection') {
        return this.fail(CODES.rejection, `could not draw an ordered '${slot.name}' from ${plan.text()} in ${MAX_TRIES} tries`,
          'with different priors per element the ordered draw is by rejection; give the elements one common prior');
      }
      if (detail === undefined) return this.fail(CODES.orderedPiecewise, `ordered param '${slot.name}' must be drawn one whole vector at a time`);
      return this.fail(CODES.orderedPiecewise, `ordered param '${slot.name}' must be drawn one whole vector at a time, not element by element`,
        `write ${slot.name} ~ ... for the whole vector (the prior applies to each element)`, [{ message: `'${exprText(s.lhs)}' covers ${detail} of its ${K} elements`, span: s.lhs.span }]);
    });
    return out;
  }

  // ---- left sides

  /** Returns the flat positions a `~` left side picks in its variable, and their shape. */
  private lhsPositions(e: Expr, scope: Scope): { shape: number[]; pos: Int32Array } {
    if (e.kind === 'Name') {
      const shape = this.setup.shapes.get(e.name);
      if (!shape) throw new MixError([{ severity: 'error', code: CODES.badValue, message: `'${e.name}' cannot have a distribution`, span: e.span }], this.setup.source);
      const pos = new Int32Array(sizeOf(shape));
      for (let i = 0; i < pos.length; i++) pos[i] = i;
      return { shape: [...shape], pos };
    }
    if (e.kind !== 'Index') return this.fail(CODES.badValue, `the left of ~ must be a variable, got '${exprText(e)}'`);
    const idx = e.indices.map((ix) => this.eval(ix, scope));
    const shape = e.target.kind === 'Name' ? this.setup.shapes.get(e.target.name) : undefined;
    // x[i, ...]: positions straight from the indices (no identity array per loop iteration).
    if (shape) return indexPositions(shape, idx, `'${exprText(e.target)}'`);
    const inner = this.lhsPositions(e.target, scope);
    const r = indexPositions(inner.shape, idx, `'${exprText(e.target)}'`);
    return { shape: r.shape, pos: r.pos.map((p) => inner.pos[p]) };
  }

  // ---- expressions

  /** Returns the value of an expression in float64 (bools as 0/1). */
  eval(e: Expr, scope: Scope): NdArray {
    switch (e.kind) {
      case 'Num':
        return scalar(e.value);
      case 'Name':
        return this.name(e.name, scope);
      case 'Index':
        return this.index(e, scope);
      case 'Call':
        return callFunction(e.callee.name, e.args.map((a) => this.eval(a, scope)));
      case 'Binary':
        return applyOperator(e.op, [this.eval(e.left, scope), this.eval(e.right, scope)]);
      case 'Unary':
        return applyOperator(e.op === '-' ? 'neg' : '!', [this.eval(e.operand, scope)]);
      case 'Ternary':
        return applyOperator('?:', [this.eval(e.cond, scope), this.eval(e.then, scope), this.eval(e.else, scope)]);
      case 'Array':
        return stack(e.elements.map((x) => this.eval(x, scope)));
      case 'Lambda':
        return this.fail(CODES.evaluation, 'a lambda is only allowed as the component of a mixture');
    }
  }

  private name(name: string, scope: Scope): NdArray {
    const b = scope.find(name);
    if (b) return this.readBinding(b);
    const slot = this.slot(name);
    if (slot.drawn) {
      const i = slot.drawn.indexOf(0);
      if (i >= 0) this.useBeforeDraw(slot, i, slot.drawn.indexOf(1) < 0);
    }
    return slot.value;
  }

  private index(e: Expr & { kind: 'Index' }, scope: Scope): NdArray {
    const idx = e.indices.map((ix) => this.eval(ix, scope));
    const t = e.target;
    if (t.kind === 'Name' && !scope.find(t.name)) {
      // Read only the picked elements, so z[t - 1] is fine while z[t] is not drawn yet.
      const slot = this.slot(t.name);
      const { shape, pos } = indexPositions(slot.value.shape, idx, `'${t.name}'`);
      if (slot.drawn) for (const p of pos) if (!slot.drawn[p]) this.useBeforeDraw(slot, p, false);
      const values = new Float64Array(pos.length);
      for (let i = 0; i < pos.length; i++) values[i] = slot.value.values[pos[i]];
      return { shape, values };
    }
    const target = this.eval(t, scope);
    const { shape, pos } = indexPositions(target.shape, idx, `'${exprText(t)}'`);
    const values = new Float64Array(pos.length);
    for (let i = 0; i < pos.length; i++) values[i] = target.values[pos[i]];
    return { shape, values };
  }

  private slot(name: string): Slot {
    const slot = this.slots.get(name);
    if (slot) return slot;
    // Absent in a dry run or a shape computation: a param, latent or observed value.
    if (!this.rng && this.setup.checked.symbols.has(name)) throw new NotStatic(name);
    return this.fail(CODES.evaluation, `'${name}' has no value here`);
  }

  /** Returns a binding's value, computing a let the first time it is read. */
  private readBinding(b: Binding): NdArray {
    if (!isThunk(b)) return b;
    if (!b.value) {
      this.letStack.push(b.stmt);
      try {
        b.value = this.eval(b.stmt.value, b.scope);
      } finally {
        this.letStack.pop();
      }
    }
    return b.value;
  }

  private useBeforeDraw(slot: Slot, p: number, none: boolean): never {
    if (!this.rng) throw new NotStatic(slot.name);
    const first = this.setup.firstTilde.get(slot.name);
    const what = none ? slot.name : this.elementName(slot, p);
    const notes = this.letStack.map((l) => ({ message: `read by let '${l.name.name}'`, span: l.span }));
    if (!first) {
      return this.fail(CODES.neverDrawn, `'${slot.name}' has no ~ statement, so it cannot be simulated`,
        `give it a prior (${slot.name} ~ ...) or hold it fixed (fixed: { ${slot.name}: ... })`, notes);
    }
    const line = first.span.line;
    const here = this.stmt?.span.line ?? 0;
    const help = slot.role === 'param' ? 'move its prior above' : here > 0 && line > here ? 'move that statement above this one' : 'draw it before it is used';
    return this.fail(CODES.useBeforeDraw, `'${what}' is used before its ~ statement at line ${line}; ${help}`, undefined, notes);
  }

  private requireAllDrawn(slot: Slot, sym: SymbolInfo): void {
    const i = slot.drawn!.indexOf(0);
    if (i < 0) return;
    this.stmt = sym.decl?.kind === 'Decl' ? sym.decl : this.setup.firstTilde.get(sym.name);
    if (!this.setup.firstTilde.has(sym.name)) {
      this.fail(CODES.neverDrawn, `${sym.role} '${sym.name}' has no ~ statement, so it cannot be simulated`,
        `give it a prior (${sym.name} ~ ...) or hold it fixed (fixed: { ${sym.name}: ... })`);
    }
    this.fail(CODES.neverDrawn, `'${this.elementName(slot, i)}' is never drawn: no ~ statement reaches it`,
      `check the loop ranges of the ~ statements of '${sym.name}' against its shape ${fmtShape(slot.value.shape)}`);
  }

  private elementName(slot: Slot, p: number): string {
    return `${slot.name}${fmtIndex(unravel(p, slot.value.shape))}`;
  }

  private dimValue(v: NdArray, what: string): number {
    if (v.shape.length !== 0 || !Number.isInteger(v.values[0]) || v.values[0] < 0) {
      this.fail(CODES.dataShape, `${what} must be a non-negative integer, got ${v.shape.length ? `an array of shape ${fmtShape(v.shape)}` : v.values[0]}`);
    }
    return v.values[0];
  }

  private fail(code: string, message: string, help?: string, notes?: { message: string; span?: Span }[]): never {
    const d: Diagnostic = { severity: 'error', code, message };
    if (this.stmt?.span) d.span = this.stmt.span;
    if (help) d.help = help;
    if (notes && notes.length) d.notes = notes;
    throw new MixError([d], this.setup.source);
  }
}

/** Returns a sampler's value as flat row-major numbers. */
function flatten(v: JsValue): Float64Array {
  if (typeof v === 'number') return Float64Array.of(v);
  if (v.length === 0) return new Float64Array(0);
  if (typeof v[0] === 'number') return Float64Array.from(v as number[]);
  return Float64Array.from((v as number[][]).flat());
}
