/**
 * fast-check arbitraries of `.mix` ASTs: random, syntactically well-formed models for
 * property tests (print/parse round trips here; reused by the property-testing kit).
 *
 * The models are well-formed for the grammar, not for the checker: names are drawn
 * from a small pool without regard to declarations or types. Every generated tree is
 * one the parser can produce: lambdas only as call arguments, `~` left sides that are
 * names or indexed names, numbers written in a form the lexer reads back to the same
 * literal, declarations only at the top level, no chained comparisons. Spans are
 * NO_SPAN; compare with `stripSpans`.
 */
import fc from 'fast-check';
import type {
  BinaryOp, CallExpr, DeclRole, DeclStmt, Expr, ForStmt, Ident, LambdaExpr, LetStmt, Program, Stmt, TargetStmt,
  TildeStmt, TypeExpr, UnaryOp,
} from '../ast/nodes';
import { NO_SPAN } from '../diagnostics/span';
import { KEYWORDS } from './tokens';

/** Size knobs of the generated models. */
export interface ArbModelOptions {
  /** Nesting depth of expressions (default 3). */
  exprDepth?: number;
  /** Nesting depth of for loops (default 2). */
  loopDepth?: number;
  /** Most statements in one block (default 6). */
  maxStatements?: number;
}

const span = NO_SPAN;

const POOL_NAMES = ['x', 'y', 'z', 'mu', 'sigma', 'w', 'K', 'N', 'D', 'n', 'k', 'theta', 'alpha', 'L', 'lower', 'upper', 'real', 'int'];
const TYPE_BASES = ['int', 'real', 'positive', 'unit', 'simplex', 'ordered', 'positive_ordered', 'cholesky_corr', 'cholesky_cov',
  'cov_matrix', 'corr_matrix'];
const DISTRIBUTIONS = ['normal', 'dirichlet', 'categorical', 'half_normal', 'poisson', 'student_t', 'mvnormal_cholesky',
  'lkj_corr_cholesky', 'bernoulli', 'gamma'];
const FUNCTIONS = ['exp', 'log', 'sum', 'rep', 'ones', 'square', 'diag_pre_multiply', 'log_sum_exp', 'softmax'];
const BINARY_OPS: BinaryOp[] = ['+', '-', '*', '/', '%', '^', '@', '==', '!=', '<', '<=', '>', '>=', '&&', '||'];
const UNARY_OPS: UnaryOp[] = ['-', '!'];

/** Returns an identifier that is not a keyword: a pool name or a random one. */
export function arbName(): fc.Arbitrary<string> {
  const random = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,7}$/).filter((s) => !KEYWORDS.includes(s));
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...POOL_NAMES) }, { weight: 1, arbitrary: random });
}

const ident = (a: fc.Arbitrary<string>): fc.Arbitrary<Ident> => a.map((name) => ({ kind: 'Ident', name, span }));

/** Returns number literal texts of every form: `3`, `007`, `3.0`, `.5`, `1e-3`, `2.5E+4`, `.5e7`. */
export function arbNumberText(): fc.Arbitrary<string> {
  const digits = (max: number) => fc.stringMatching(new RegExp(`^[0-9]{1,${max}}$`));
  const exponent = fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(3)).map((p) => p.join(''));
  return fc.oneof(
    digits(6),
    fc.tuple(digits(4), digits(4)).map(([a, b]) => `${a}.${b}`),
    digits(4).map((b) => `.${b}`),
    fc.tuple(digits(3), exponent).map(([a, e]) => `${a}${e}`),
    fc.tuple(digits(3), digits(3), exponent).map(([a, b, e]) => `${a}.${b}${e}`),
    fc.tuple(digits(3), exponent).map(([b, e]) => `.${b}${e}`),
  );
}

/** Returns number literals (value and isInt as the parser computes them). */
export function arbNum(): fc.Arbitrary<Expr> {
  return arbNumberText().map((text) => ({ kind: 'Num', value: Number(text), isInt: /^\d+$/.test(text), text, span }));
}

/**
 * Returns expressions nested at most `depth` levels, every operator and form included.
 * Lambdas appear only as arguments of calls. Any operator nesting is fine (comparisons
 * inside comparisons too): the printer adds the parentheses the grammar needs.
 */
export function arbExpr(depth = 3): fc.Arbitrary<Expr> {
  const levels: fc.Arbitrary<Expr>[] = [];
  const leaf: fc.Arbitrary<Expr> = fc.oneof(
    arbNum(),
    arbName().map((name): Expr => ({ kind: 'Name', name, span })),
  );
  levels.push(leaf);
  for (let d = 1; d <= depth; d++) {
    const sub = levels[d - 1];
    const list = (min: number, max: number) => fc.array(sub, { minLength: min, maxLength: max });
    const lambda: fc.Arbitrary<LambdaExpr> = fc.record({ param: ident(arbName()), body: sub })
      .map(({ param, body }) => ({ kind: 'Lambda', param, body, span }));
    const argument: fc.Arbitrary<Expr> = fc.oneof({ weight: 4, arbitrary: sub }, { weight: 1, arbitrary: lambda });
    const call: fc.Arbitrary<Expr> = fc.record({
      callee: ident(fc.oneof(fc.constantFrom(...FUNCTIONS, ...DISTRIBUTIONS), arbName())),
      args: fc.array(argument, { maxLength: 3 }),
    }).map(({ callee, args }): CallExpr => ({ kind: 'Call', callee, args, span }));
    levels.push(fc.oneof(
      { weight: 2, arbitrary: leaf },
      {
        weight: 4,
        arbitrary: fc.record({ op: fc.constantFrom(...BINARY_OPS), left: sub, right: sub })
          .map(({ op, left, right }): Expr => ({ kind: 'Binary', op, left, right, span })),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constantFrom(...UNARY_OPS), operand: sub }).map(({ op, operand }): Expr => ({ kind: 'Unary', op, operand, span })) },
      { weight: 2, arbitrary: call },
      { weight: 2, arbitrary: fc.record({ target: sub, indices: list(1, 3) }).map(({ target, indices }): Expr => ({ kind: 'Index', target, indices, span })) },
      { weight: 1, arbitrary: fc.record({ cond: sub, then: sub, else: sub }).map((t): Expr => ({ kind: 'Ternary', ...t, span })) },
      { weight: 1, arbitrary: list(0, 3).map((elements): Expr => ({ kind: 'Array', elements, span })) },
    ));
  }
  return levels[depth];
}

/** Returns a call to a distribution, sometimes a mixture with a lambda component, or censored/truncated. */
export function arbDistribution(depth = 2): fc.Arbitrary<Expr> {
  const e = arbExpr(depth);
  const plain = fc.record({ callee: ident(fc.constantFrom(...DISTRIBUTIONS)), args: fc.array(e, { maxLength: 3 }) })
    .map(({ callee, args }): CallExpr => ({ kind: 'Call', callee, args, span }));
  const mixture = fc.record({ w: e, param: ident(fc.constantFrom('k', 'j', 'c')), body: plain })
    .map(({ w, param, body }): CallExpr => ({
      kind: 'Call',
      callee: { kind: 'Ident', name: 'mixture', span },
      args: [w, { kind: 'Lambda', param, body, span }],
      span,
    }));
  const bounded = fc.record({ which: fc.constantFrom('censored', 'truncated'), inner: plain, lo: e, hi: e })
    .map(({ which, inner, lo, hi }): CallExpr => ({ kind: 'Call', callee: { kind: 'Ident', name: which, span }, args: [inner, lo, hi], span }));
  return fc.oneof({ weight: 3, arbitrary: plain }, { weight: 2, arbitrary: mixture }, { weight: 1, arbitrary: bounded });
}

/** Returns doc texts: 1-3 lines of printable ASCII without edge blanks (a `///` line loses trailing blanks). */
export function arbDoc(): fc.Arbitrary<string> {
  const line = fc.stringMatching(/^(?:[!-~](?:[ -~]{0,30}[!-~])?)?$/);
  return fc.array(line, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('\n'));
}

/** Returns types of every base, with optional bounds and up to three dims. */
export function arbType(depth = 2): fc.Arbitrary<TypeExpr> {
  const e = arbExpr(depth);
  return fc.record({
    base: ident(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TYPE_BASES) }, { weight: 1, arbitrary: arbName() })),
    lower: fc.option(e, { nil: undefined }),
    upper: fc.option(e, { nil: undefined }),
    dims: fc.array(e, { maxLength: 3 }),
  }).map(({ base, lower, upper, dims }) => ({
    kind: 'Type',
    base,
    ...(lower ? { lower } : {}),
    ...(upper ? { upper } : {}),
    dims,
    span,
  }));
}

/** Returns the left side of `~`: a name, or a name indexed once or twice. */
function arbTildeLhs(depth: number): fc.Arbitrary<Expr> {
  const name = arbName().map((n): Expr => ({ kind: 'Name', name: n, span }));
  const indices = fc.array(arbExpr(depth), { minLength: 1, maxLength: 2 });
  return fc.oneof(
    name,
    fc.record({ target: name, indices }).map(({ target, indices: i }): Expr => ({ kind: 'Index', target, indices: i, span })),
    fc.record({ target: name, a: indices, b: indices }).map(({ target, a, b }): Expr => ({
      kind: 'Index', target: { kind: 'Index', target, indices: a, span }, indices: b, span,
    })),
  );
}

/** Returns statements that may appear at `loopDepth` levels of for loops still to go (declarations only at the top). */
export function arbStatements(opts: ArbModelOptions = {}, top = true, loops = opts.loopDepth ?? 2): fc.Arbitrary<Stmt[]> {
  const depth = opts.exprDepth ?? 3;
  const e = arbExpr(depth);
  const decl: fc.Arbitrary<DeclStmt> = fc.record({
    role: fc.constantFrom<DeclRole>('data', 'param', 'latent'),
    name: ident(arbName()),
    type: arbType(Math.min(depth, 2)),
    doc: fc.option(arbDoc(), { nil: undefined, freq: 4 }),
  }).map(({ role, name, type, doc }) => ({ kind: 'Decl', role, name, type, ...(doc !== undefined ? { doc } : {}), span }));
  const let_: fc.Arbitrary<LetStmt> = fc.record({ name: ident(arbName()), value: e }).map(({ name, value }) => ({ kind: 'Let', name, value, span }));
  const tilde: fc.Arbitrary<TildeStmt> = fc.record({ lhs: arbTildeLhs(Math.min(depth, 2)), dist: arbDistribution(Math.min(depth, 2)) })
    .map(({ lhs, dist }) => ({ kind: 'Tilde', lhs, dist, span }));
  const target: fc.Arbitrary<TargetStmt> = e.map((value) => ({ kind: 'Target', value, span }));
  const options: fc.WeightedArbitrary<Stmt>[] = [
    { weight: 2, arbitrary: let_ },
    { weight: 3, arbitrary: tilde },
    { weight: 1, arbitrary: target },
  ];
  if (top) options.push({ weight: 3, arbitrary: decl });
  if (loops > 0) {
    const loop: fc.Arbitrary<ForStmt> = fc.record({
      var: ident(arbName()),
      lo: arbExpr(Math.min(depth, 2)),
      hi: arbExpr(Math.min(depth, 2)),
      body: arbStatements(opts, false, loops - 1),
    }).map(({ var: v, lo, hi, body }) => ({ kind: 'For', var: v, lo, hi, body, span }));
    options.push({ weight: 2, arbitrary: loop });
  }
  return fc.array(fc.oneof(...options), { maxLength: opts.maxStatements ?? 6 });
}

/** Returns random well-formed programs (see the module comment for what "well-formed" covers). */
export function arbProgram(opts: ArbModelOptions = {}): fc.Arbitrary<Program> {
  return fc.record({
    name: ident(arbName()),
    doc: fc.option(arbDoc(), { nil: undefined, freq: 3 }),
    body: arbStatements(opts),
  }).map(({ name, doc, body }) => ({ kind: 'Program', ...(doc !== undefined ? { doc } : {}), name, body, span }));
}

/**
 * Returns a deep copy of an AST without `span` and `ty` fields (and without keys whose
 * value is undefined), for comparing trees up to source positions.
 */
export function stripSpans<T>(node: T): T {
  if (Array.isArray(node)) return node.map(stripSpans) as T;
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'span' || k === 'ty' || v === undefined) continue;
      out[k] = stripSpans(v);
    }
    return out as T;
  }
  return node;
}
