/**
 * Lowering: checked AST -> IR. Resolves names to roles, turns loops into plates,
 * inlines local lets, desugars `mixture`, and classifies each `~` as a prior, an
 * observation or a latent's distribution. Returns diagnostics for constructs the IR
 * cannot represent (they are checked here because they need the whole loop context).
 */
import type { Diagnostic } from '../diagnostics/diagnostic';
import { InternalError } from '../diagnostics/diagnostic';
import type { Span } from '../diagnostics/span';
import type { Expr, Stmt, TypeExpr, CallExpr } from '../ast/nodes';
import type { CheckResult } from '../check';
import type {
  Factor, FactorKind, IRConstraint, IRDim, IRDist, IRExpr, IRProgram, LatentIndex, LatentNode, ParamNode, Plate, DataNode,
} from './types';
import { mentions, walkFactor } from './walk';

/** Constrained type bases and what they mean. */
const TYPE_BASES: Record<string, { constraint: IRConstraint['name']; eventRank: 0 | 1 | 2; matrix?: boolean }> = {
  real: { constraint: 'real', eventRank: 0 },
  int: { constraint: 'int', eventRank: 0 },
  positive: { constraint: 'positive', eventRank: 0 },
  unit: { constraint: 'unit', eventRank: 0 },
  simplex: { constraint: 'simplex', eventRank: 1 },
  ordered: { constraint: 'ordered', eventRank: 1 },
  positive_ordered: { constraint: 'positive_ordered', eventRank: 1 },
  cholesky_corr: { constraint: 'cholesky_corr', eventRank: 2, matrix: true },
  cholesky_cov: { constraint: 'cholesky_cov', eventRank: 2, matrix: true },
  cov_matrix: { constraint: 'cov_matrix', eventRank: 2, matrix: true },
  corr_matrix: { constraint: 'corr_matrix', eventRank: 2, matrix: true },
};

const BINARY_FN: Record<string, string> = {
  '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '%': 'mod', '^': 'pow', '@': 'matmul',
  '==': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '&&': 'and', '||': 'or',
};

type Binding =
  | { kind: 'loop'; plate: string; span: Span }
  | { kind: 'local'; expr: IRExpr }
  | { kind: 'component'; latent: LatentIndexed };

interface LatentIndexed { name: string; index: LatentIndex[] }

class LowerError extends Error {
  constructor(readonly code: string, message: string, readonly span: Span, readonly help?: string) { super(message); }
}

/** Returns the IR of a checked program, or diagnostics saying which construct the IR cannot take. */
export function lower(checked: CheckResult): { ir?: IRProgram; diagnostics: Diagnostic[] } {
  return new Lowerer(checked).run();
}

class Lowerer {
  private readonly diagnostics: Diagnostic[] = [];
  private readonly plates = new Map<string, Plate>();
  private readonly factors: Factor[] = [];
  private readonly latents = new Map<string, LatentNode>();
  private readonly plateStack: string[] = [];
  private mixtureCount = new Map<string, number>();
  private readonly implicitLatents = new Set<string>();

  constructor(private readonly checked: CheckResult) {}

  run(): { ir?: IRProgram; diagnostics: Diagnostic[] } {
    const p = this.checked.program;
    const ir: IRProgram = {
      name: p.name.name, doc: p.doc, sizes: this.checked.sizes.map((s) => ({ name: s.name, from: s.from, declared: s.declared })),
      data: [], params: [], latents: [], lets: [], plates: [], factors: [],
    };
    // Declarations first (they may appear anywhere at top level).
    for (const s of p.body) {
      if (s.kind === 'Decl') this.guard(() => this.lowerDecl(s, ir));
    }
    for (const sym of this.checked.symbols.values()) {
      if (sym.role === 'latent' && sym.implicit && !this.latents.has(sym.name)) {
        this.latents.set(sym.name, { name: sym.name, shape: [], plates: [], factors: [], span: sym.span });
        this.implicitLatents.add(sym.name);
      }
    }
    this.block(p.body, new Map(), ir, true);
    this.shapeImplicitLatents();
    ir.plates = [...this.plates.values()];
    ir.factors = this.factors;
    ir.latents = [...this.latents.values()];
    return { ir: this.diagnostics.some((d) => d.severity === 'error') ? undefined : ir, diagnostics: this.diagnostics };
  }

  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof LowerError) {
        this.diagnostics.push({ severity: 'error', code: e.code, message: e.message, span: e.span, help: e.help });
      } else {
        throw e;
      }
    }
  }

  /**
   * An undeclared latent's extent along each axis: the end of the loop that indexes it
   * there (`z[n]` in `for n in 1..N` gives N; a chain's `z[t]` in `for t in 1..T` gives T),
   * or the largest constant position.
   */
  private shapeImplicitLatents(): void {
    for (const name of this.implicitLatents) {
      const lat = this.latents.get(name)!;
      const dims: (IRDim | undefined)[] = [];
      const consts: number[] = [];
      for (const f of this.factors) {
        walkFactor(f, (x) => {
          if (x.op !== 'latent' || x.name !== name) return;
          x.index.forEach((ix, i) => {
            if ('at' in ix) consts[i] = Math.max(consts[i] ?? 0, ix.at);
            else if (ix.shift === 0 && !dims[i]) dims[i] = { kind: 'expr', expr: this.plates.get(ix.plate)!.hi };
            else if (!dims[i]) dims[i] = { kind: 'expr', expr: { op: 'call', fn: 'add', args: [this.plates.get(ix.plate)!.hi, { op: 'const', value: ix.shift, elem: 'int' }], span: f.span } };
          });
        });
      }
      const rank = Math.max(dims.length, consts.length);
      lat.shape = Array.from({ length: rank }, (_, i) => simplifyDim(dims[i] ?? { kind: 'const', n: consts[i] ?? 1 }));
    }
  }

  private lowerDecl(s: Stmt & { kind: 'Decl' }, ir: IRProgram): void {
    const base = TYPE_BASES[s.type.base.name];
    if (!base) throw new InternalError(`checker let unknown type '${s.type.base.name}' through`);
    const shape = this.declShape(s.type, base.matrix ?? false);
    const env = new Map<string, Binding>();
    const constraint: IRConstraint = { name: base.constraint };
    if (s.type.lower) constraint.lower = this.expr(s.type.lower, env);
    if (s.type.upper) constraint.upper = this.expr(s.type.upper, env);
    if (s.role === 'data') {
      const node: DataNode = { name: s.name.name, elem: base.constraint === 'int' ? 'int' : 'real', shape, span: s.span };
      if (constraint.lower || constraint.upper || base.constraint !== 'real' && base.constraint !== 'int') node.constraint = constraint;
      ir.data.push(node);
    } else if (s.role === 'param') {
      if (base.constraint === 'real' && (constraint.lower || constraint.upper)) {
        constraint.name = constraint.lower && constraint.upper ? 'interval' : constraint.lower ? 'lower' : 'upper';
      }
      const node: ParamNode = { name: s.name.name, shape, constraint, eventRank: base.eventRank, span: s.span };
      ir.params.push(node);
    } else {
      this.latents.set(s.name.name, { name: s.name.name, shape, plates: [], factors: [], span: s.span });
    }
  }

  private declShape(t: TypeExpr, matrix: boolean): IRDim[] {
    const dims = t.dims.map((d) => this.dim(d));
    if (matrix && dims.length > 0) dims.push(dims[dims.length - 1]);
    return dims;
  }

  private dim(e: Expr): IRDim {
    if (e.kind === 'Num') return { kind: 'const', n: e.value };
    if (e.kind === 'Name') {
      const sym = this.checked.symbols.get(e.name);
      if (sym && (sym.role === 'size' || sym.role === 'data')) return { kind: 'size', name: e.name };
    }
    return { kind: 'expr', expr: this.expr(e, new Map()) };
  }

  private block(body: Stmt[], env: Map<string, Binding>, ir: IRProgram, top: boolean): void {
    const local = new Map(env);
    for (const s of body) {
      this.guard(() => {
        switch (s.kind) {
          case 'Decl':
            return;
          case 'Let': {
            const value = this.expr(s.value, local);
            if (top) {
              if (mentionsLatent(value)) {
                throw new LowerError('E0401', `top-level let '${s.name.name}' depends on a discrete latent`, s.span,
                  'move it into the loop where the latent is used (a local let is inlined and enumerated with it)');
              }
              ir.lets.push({ name: s.name.name, expr: value, span: s.span });
            } else {
              local.set(s.name.name, { kind: 'local', expr: value });
            }
            return;
          }
          case 'For': {
            const plate = this.plate(s.lo, s.hi, s.var.name, local, s.span);
            const inner = new Map(local);
            inner.set(s.var.name, { kind: 'loop', plate, span: s.var.span });
            this.plateStack.push(plate);
            try {
              this.block(s.body, inner, ir, false);
            } finally {
              this.plateStack.pop();
            }
            return;
          }
          case 'Target':
            this.addFactor({ kind: 'target', term: this.expr(s.value, local), span: s.span });
            return;
          case 'Tilde':
            this.tilde(s, local);
            return;
        }
      });
    }
  }

  private plate(lo: Expr, hi: Expr, varName: string, env: Map<string, Binding>, span: Span): string {
    const loE = this.expr(lo, env);
    const hiE = this.expr(hi, env);
    if (mentionsLoop(loE) || mentionsLoop(hiE)) {
      throw new LowerError('E0402', 'loop bounds depend on an enclosing loop variable', span,
        'a loop is a plate of independent, rectangular iterations: its range must come from data or constants');
    }
    if (mentionsParamOrLatent(loE) || mentionsParamOrLatent(hiE)) {
      throw new LowerError('E0403', 'loop bounds depend on a parameter or latent', span, 'loop ranges must be known from the data');
    }
    const base = `${rangeText(lo)}..${rangeText(hi)}`;
    let id = base;
    for (let k = 2; this.plateStack.includes(id); k++) id = `${base}#${k}`;
    if (!this.plates.has(id)) this.plates.set(id, { id, varName, lo: loE, hi: hiE });
    return id;
  }

  private tilde(s: Stmt & { kind: 'Tilde' }, env: Map<string, Binding>): void {
    const root = rootName(s.lhs);
    if (!root) throw new InternalError('checker let a ~ with a non-variable left side through');
    const sym = this.checked.symbols.get(root);
    const role = sym?.role;
    const call = s.dist as CallExpr;
    if (call.kind !== 'Call') throw new InternalError('checker let a ~ with a non-call right side through');
    if (call.callee.name === 'mixture') {
      this.mixture(s, call, env, root);
      return;
    }
    const dist = this.dist(call, env);
    if (role === 'latent') {
      const value = this.latentRef(s.lhs, root, env);
      this.addFactor({ kind: 'latent', site: root, value: { op: 'latent', ...value }, dist, span: s.span });
      return;
    }
    const kind: FactorKind = role === 'data' ? 'obs' : role === 'param' ? 'prior' : 'obs';
    this.addFactor({ kind, site: root, value: this.expr(s.lhs, env), dist, span: s.span });
  }

  /** `x[n] ~ mixture(w, k -> d)`: a fresh enumerated latent over the statement's plates. */
  private mixture(s: Stmt & { kind: 'Tilde' }, call: CallExpr, env: Map<string, Binding>, root: string): void {
    const [weights, lambda] = call.args;
    if (!weights || !lambda || lambda.kind !== 'Lambda') throw new InternalError('checker let a malformed mixture through');
    const n = (this.mixtureCount.get(root) ?? 0) + 1;
    this.mixtureCount.set(root, n);
    const name = n === 1 ? `${root}$k` : `${root}$k${n}`;
    const plates = [...this.plateStack];
    const index: LatentIndex[] = plates.map((p) => ({ plate: p, shift: 0 }));
    this.latents.set(name, {
      name, shape: plates.map((p) => ({ kind: 'expr', expr: this.plates.get(p)!.hi }) as IRDim), plates, factors: [],
      fromMixture: true, span: s.span,
    });
    const latent: IRExpr = { op: 'latent', name, index };
    const w = this.expr(weights, env);
    this.addFactor({ kind: 'latent', site: name, value: latent, dist: { kind: 'family', family: 'categorical', args: [w], span: weights.span }, span: s.span });
    const inner = new Map(env);
    inner.set(lambda.param.name, { kind: 'component', latent: { name, index } });
    const body = lambda.body;
    if (body.kind !== 'Call') throw new InternalError('checker let a mixture body that is not a call through');
    const role = this.checked.symbols.get(root)?.role;
    this.addFactor({ kind: role === 'param' ? 'prior' : 'obs', site: root, value: this.expr(s.lhs, env), dist: this.dist(body, inner), span: s.span });
  }

  private dist(call: CallExpr, env: Map<string, Binding>): IRDist {
    const name = call.callee.name;
    if (name === 'censored' || name === 'truncated') {
      const [base, lo, hi] = call.args;
      if (!base || base.kind !== 'Call') throw new InternalError(`checker let a malformed ${name} through`);
      const b = this.dist(base, env);
      if (b.kind !== 'family') throw new LowerError('E0404', `${name} of ${b.kind} is not supported`, call.span);
      return { kind: name, base: b, lower: this.expr(lo, env), upper: this.expr(hi, env), span: call.span };
    }
    return { kind: 'family', family: name, args: call.args.map((a) => this.expr(a, env)), span: call.span };
  }

  private latentRef(e: Expr, name: string, env: Map<string, Binding>): LatentIndexed {
    if (e.kind === 'Name') return { name, index: [] };
    if (e.kind !== 'Index') throw new InternalError('latent reference that is neither a name nor an index');
    const index = e.indices.map((ix): LatentIndex => {
      if (ix.kind === 'Num' && ix.isInt) return { at: ix.value };
      const loopOf = (x: Expr): string | undefined => {
        if (x.kind !== 'Name') return undefined;
        const b = env.get(x.name);
        return b?.kind === 'loop' ? b.plate : undefined;
      };
      const direct = loopOf(ix);
      if (direct) return { plate: direct, shift: 0 };
      if (ix.kind === 'Binary' && (ix.op === '-' || ix.op === '+') && ix.right.kind === 'Num' && ix.right.isInt) {
        const p = loopOf(ix.left);
        if (p) return { plate: p, shift: ix.op === '-' ? -ix.right.value : ix.right.value };
      }
      throw new LowerError('E0405', `discrete latent '${name}' must be indexed by a loop variable`, ix.span,
        `write ${name}[n] with n a loop variable, ${name}[t-1] for a chain, or a constant position; the IR enumerates latents plate by plate`);
    });
    return { name, index };
  }

  private addFactor(f: Omit<Factor, 'id' | 'plates' | 'latents'>): void {
    const latents = new Set<string>();
    walkFactor(f, (x) => { if (x.op === 'latent') latents.add(x.name); });
    const factor: Factor = { ...f, id: this.factors.length, plates: [...this.plateStack], latents: [...latents] };
    this.factors.push(factor);
  }

  private expr(e: Expr, env: Map<string, Binding>): IRExpr {
    switch (e.kind) {
      case 'Num':
        return { op: 'const', value: e.value, elem: e.isInt ? 'int' : 'real' };
      case 'Name': {
        const b = env.get(e.name);
        if (b?.kind === 'loop') return { op: 'loop', plate: b.plate };
        if (b?.kind === 'local') return b.expr;
        if (b?.kind === 'component') return { op: 'latent', ...b.latent };
        const sym = this.checked.symbols.get(e.name);
        switch (sym?.role) {
          case 'data': return { op: 'data', name: e.name };
          case 'param': return { op: 'param', name: e.name };
          case 'let': return { op: 'let', name: e.name };
          case 'size': return { op: 'size', name: e.name };
          case 'latent': {
            if (sym.ty.shape.length > 0) {
              throw new LowerError('E0406', `discrete latent '${e.name}' used as a whole array`, e.span,
                `index it by a loop variable, e.g. ${e.name}[n]`);
            }
            return { op: 'latent', name: e.name, index: [] };
          }
          default:
            throw new InternalError(`unresolved name '${e.name}' after checking`);
        }
      }
      case 'Index': {
        if (e.target.kind === 'Name') {
          const sym = this.checked.symbols.get(e.target.name);
          if (sym?.role === 'latent' && !env.has(e.target.name)) {
            return { op: 'latent', ...this.latentRef(e, e.target.name, env) };
          }
        }
        return { op: 'index', target: this.expr(e.target, env), indices: e.indices.map((i) => this.expr(i, env)), span: e.span };
      }
      case 'Binary':
        return { op: 'call', fn: BINARY_FN[e.op], args: [this.expr(e.left, env), this.expr(e.right, env)], span: e.span };
      case 'Unary':
        return { op: 'call', fn: e.op === '-' ? 'neg' : 'not', args: [this.expr(e.operand, env)], span: e.span };
      case 'Call':
        return { op: 'call', fn: e.callee.name, args: e.args.map((a) => this.expr(a, env)), span: e.span };
      case 'Ternary':
        return { op: 'where', cond: this.expr(e.cond, env), then: this.expr(e.then, env), else: this.expr(e.else, env) };
      case 'Array':
        return { op: 'vector', elements: e.elements.map((x) => this.expr(x, env)) };
      case 'Lambda':
        throw new LowerError('E0407', 'a lambda is only allowed as the component of mixture(w, k -> ...)', e.span);
    }
  }

}

/** `N` as a size rather than an expression, when it is one. */
function simplifyDim(d: IRDim): IRDim {
  if (d.kind !== 'expr') return d;
  if (d.expr.op === 'size') return { kind: 'size', name: d.expr.name };
  if (d.expr.op === 'const') return { kind: 'const', n: d.expr.value };
  return d;
}

/** Canonical text of a loop bound, for naming plates (`1..N`, `2..T`). */
function rangeText(e: Expr): string {
  switch (e.kind) {
    case 'Num': return String(e.value);
    case 'Name': return e.name;
    case 'Binary': return `(${rangeText(e.left)} ${e.op} ${rangeText(e.right)})`.replace(/^\((.*)\)$/, '$1');
    case 'Unary': return `${e.op}${rangeText(e.operand)}`;
    case 'Call': return `${e.callee.name}(${e.args.map(rangeText).join(', ')})`;
    case 'Index': return `${rangeText(e.target)}[${e.indices.map(rangeText).join(', ')}]`;
    default: return `<${e.kind}>`;
  }
}

function rootName(e: Expr): string | undefined {
  if (e.kind === 'Name') return e.name;
  if (e.kind === 'Index') return rootName(e.target);
  return undefined;
}

const mentionsLatent = (e: IRExpr) => mentions(e, (x) => x.op === 'latent');
const mentionsLoop = (e: IRExpr) => mentions(e, (x) => x.op === 'loop');
const mentionsParamOrLatent = (e: IRExpr) => mentions(e, (x) => x.op === 'param' || x.op === 'latent' || x.op === 'let');
