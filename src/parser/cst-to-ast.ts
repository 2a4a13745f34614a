/**
 * CST -> AST (src/ast/nodes.ts), with exact spans on every node and identifier.
 *
 * Error recovery leaves partial CSTs: a missing piece makes its converter return
 * undefined, and the enclosing statement is dropped (its syntax error is already
 * reported, and a half-built statement would only make the checker report
 * consequences). Declarations are kept with whatever of their type survived, so that
 * their uses are not reported as unknown names. Nothing here throws on a partial CST.
 *
 * Spans: an expression's span covers its own tokens, parentheses around its operands
 * included but not parentheses around itself (`(a + b)` as an argument has the span of
 * `a + b`); a statement's span excludes an optional `;`.
 */
import type { CstElement, CstNode, IToken } from 'chevrotain';
import type { Diagnostic } from '../diagnostics/diagnostic';
import { suggest } from '../diagnostics/diagnostic';
import type { Span } from '../diagnostics/span';
import type {
  BinaryOp, DeclRole, DeclStmt, Expr, ForStmt, Ident, LetStmt, Program, Stmt, TargetStmt, TildeStmt, TypeExpr, UnaryOp,
} from '../ast/nodes';
import type { LineIndex } from './line-index';
import { parseCodeOf } from './codes';
import type { ParseCodeId } from './codes';

type Children = Record<string, CstElement[] | undefined>;

/** Deepest AST a statement may be (checker, lowering and printer recurse over it). */
export const MAX_TREE_DEPTH = 400;

/** Returns the depth of an AST (nodes are objects with a `kind`), without recursion. */
export function treeDepth(root: object): number {
  let max = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length) {
    const [node, d] = stack.pop()!;
    if (Array.isArray(node)) {
      for (const x of node) stack.push([x, d]);
    } else if (node && typeof node === 'object' && 'kind' in node) {
      if (d > max) max = d;
      for (const [k, v] of Object.entries(node)) if (k !== 'span' && k !== 'ty' && v && typeof v === 'object') stack.push([v, d + 1]);
    }
  }
  return max;
}

const isToken = (e: CstElement | undefined): e is IToken => !!e && 'image' in e;
const isNode = (e: CstElement | undefined): e is CstNode => !!e && 'children' in e;
/** A token that is really in the source (not inserted by recovery). */
const real = (t: IToken | undefined): t is IToken => !!t && !t.isInsertedInRecovery && Number.isFinite(t.startOffset);

export class AstBuilder {
  readonly diagnostics: Diagnostic[] = [];

  /**
   * @param lines line index of the source text
   * @param docs doc comment text by the start offset of the token it documents
   */
  constructor(private readonly lines: LineIndex, private readonly docs: Map<number, string>) {}

  // ---- helpers ----------------------------------------------------------------------

  private error(id: ParseCodeId, message: string, span: Span, help?: string): void {
    this.diagnostics.push({ severity: 'error', code: parseCodeOf(id), message, span, ...(help ? { help } : {}) });
  }

  private tok(c: Children, label: string, i = 0): IToken | undefined {
    const t = c[label]?.[i];
    return isToken(t) && real(t) ? t : undefined;
  }

  private toks(c: Children, label: string): IToken[] {
    return (c[label] ?? []).filter(isToken);
  }

  private node(c: Children, label: string, i = 0): CstNode | undefined {
    const n = c[label]?.[i];
    return isNode(n) ? n : undefined;
  }

  private nodes(c: Children, label: string): CstNode[] {
    return (c[label] ?? []).filter(isNode);
  }

  private tokSpan(t: IToken): Span {
    return this.lines.span(t.startOffset, (t.endOffset ?? t.startOffset + t.image.length - 1) + 1);
  }

  /** Returns [start, end) of a CST node's tokens, or undefined when it has none. */
  private extent(n: CstNode | undefined): [number, number] | undefined {
    const loc = n?.location;
    if (!loc || !Number.isFinite(loc.startOffset) || !Number.isFinite(loc.endOffset)) return undefined;
    return [loc.startOffset, (loc.endOffset as number) + 1];
  }

  /** Returns the span from the start of `from` to the end of `to` (tokens or nodes). */
  private between(from: IToken | CstNode | undefined, to: IToken | CstNode | undefined): Span | undefined {
    const start = from === undefined ? undefined : isToken(from) ? (real(from) ? from.startOffset : undefined) : this.extent(from)?.[0];
    const end = to === undefined ? undefined : isToken(to) ? (real(to) ? (to.endOffset as number) + 1 : undefined) : this.extent(to)?.[1];
    if (start === undefined || end === undefined || end < start) return undefined;
    return this.lines.span(start, end);
  }

  private ident(t: IToken | undefined): Ident | undefined {
    return real(t) ? { kind: 'Ident', name: t.image, span: this.tokSpan(t) } : undefined;
  }

  /** Runs a statement converter; a bug in it costs that statement, not the whole parse. */
  private guard<T>(n: CstNode, f: () => T | undefined): T | undefined {
    try {
      return f();
    } catch (e) {
      const at = this.extent(n);
      const span = this.lines.span(at?.[0] ?? 0, at?.[1] ?? 0);
      if (e instanceof RangeError) {
        this.error('TooComplex', 'this statement is nested too deeply to read', span, 'split it with let statements');
      } else {
        this.error('Internal', `internal parser error: ${(e as Error)?.message ?? String(e)} (this is a bug in mixppl; please report it)`, span);
      }
      return undefined;
    }
  }

  // ---- program and statements ---------------------------------------------------------

  /** Returns the Program of a `program` CST, or undefined when not even `model NAME {` was read. */
  program(n: CstNode): Program | undefined {
    const c = n.children as Children;
    const model = this.tok(c, 'model');
    if (!model) return undefined;
    const nameTok = this.tok(c, 'name');
    const open = this.tok(c, 'open');
    const body = this.block(n, false);
    if (!nameTok && !open && body.length === 0) return undefined;
    // A missing name has been reported; an empty one keeps the rest of the model checkable.
    const name = this.ident(nameTok) ?? { kind: 'Ident', name: '', span: this.lines.span(model.endOffset! + 1, model.endOffset! + 1) };
    const end = this.extent(n)?.[1] ?? model.endOffset! + 1;
    const doc = this.docs.get(model.startOffset);
    return { kind: 'Program', ...(doc !== undefined ? { doc } : {}), name, body, span: this.lines.span(model.startOffset, end) };
  }

  /** Returns the statements of a `program` or `forStatement` node. */
  private block(n: CstNode, inLoop: boolean): Stmt[] {
    const out: Stmt[] = [];
    for (const s of this.nodes(n.children as Children, 'statements')) {
      const inner = this.node(s.children as Children, 'stmt');
      if (!inner) continue;
      const stmt = this.guard(inner, () => this.statement(inner, inLoop));
      if (!stmt) continue;
      if (treeDepth(stmt) > MAX_TREE_DEPTH) {
        // Later phases walk the tree recursively; a statement this deep would overflow their stacks.
        this.error('TooComplex', `this statement is nested more than ${MAX_TREE_DEPTH} levels deep`, stmt.span,
          'split it with let statements (a long chain of operators counts one level per operator)');
        continue;
      }
      out.push(stmt);
    }
    return out;
  }

  private statement(n: CstNode, inLoop: boolean): Stmt | undefined {
    switch (n.name) {
      case 'declaration': return this.declaration(n, inLoop);
      case 'letStatement': return n.recoveredNode ? undefined : this.letStatement(n);
      case 'forStatement': return this.forStatement(n);
      case 'targetStatement': return n.recoveredNode ? undefined : this.targetStatement(n);
      case 'tildeStatement': return n.recoveredNode ? undefined : this.tildeStatement(n);
      default: return undefined;
    }
  }

  private declaration(n: CstNode, inLoop: boolean): DeclStmt | undefined {
    const c = n.children as Children;
    const roleTok = this.tok(c, 'role');
    const name = this.ident(this.tok(c, 'name'));
    const type = this.type(this.node(c, 'type'));
    if (!roleTok || !name || !type) return undefined;
    const role = roleTok.image as DeclRole;
    const span = this.between(roleTok, n);
    if (!span) return undefined;
    const doc = this.docs.get(roleTok.startOffset);
    if (inLoop) {
      // Kept in the AST (so uses of the name inside the loop are not also reported as unknown).
      this.error('DeclInLoop', `'${role}' declarations are only allowed at the top level of the model, not inside a for loop`, span,
        `move '${this.lines.text.slice(span.start, span.end)}' above the loop`);
    }
    return { kind: 'Decl', role, name, type, ...(doc !== undefined ? { doc } : {}), span };
  }

  /** Returns the type, keeping whatever of its bounds and dims survived recovery; undefined without a base name. */
  private type(n: CstNode | undefined): TypeExpr | undefined {
    if (!n) return undefined;
    const c = n.children as Children;
    const base = this.ident(this.tok(c, 'base'));
    if (!base) return undefined;
    const bounds: { lower?: Expr; upper?: Expr } = {};
    for (const b of this.nodes(c, 'bounds')) {
      const bc = b.children as Children;
      const nameTok = this.tok(bc, 'name');
      const value = b.recoveredNode ? undefined : this.expr(this.node(bc, 'value'));
      if (!nameTok || !value) continue;
      const which = nameTok.image;
      if (which !== 'lower' && which !== 'upper') {
        const guess = suggest(which, ['lower', 'upper']);
        this.error('BadBound', `unknown type bound '${which}': a bound is 'lower' or 'upper'`, this.tokSpan(nameTok),
          guess ? `did you mean '${guess}'?` : undefined);
        continue;
      }
      if (bounds[which]) {
        this.error('BadBound', `bound '${which}' given twice`, this.tokSpan(nameTok));
        continue;
      }
      bounds[which] = value;
    }
    const dims: Expr[] = [];
    for (const d of this.nodes(c, 'dims')) {
      const e = this.expr(d);
      if (e) dims.push(e);
    }
    const span = this.between(this.tok(c, 'base'), n) ?? base.span;
    return { kind: 'Type', base, ...bounds, dims, span };
  }

  private letStatement(n: CstNode): LetStmt | undefined {
    const c = n.children as Children;
    const name = this.ident(this.tok(c, 'name'));
    const value = this.expr(this.node(c, 'value'));
    const span = this.between(this.tok(c, 'let'), n);
    return name && value && span ? { kind: 'Let', name, value, span } : undefined;
  }

  private forStatement(n: CstNode): ForStmt | undefined {
    const c = n.children as Children;
    const forTok = this.tok(c, 'for');
    const v = this.ident(this.tok(c, 'var'));
    const lo = this.expr(this.node(c, 'lo'));
    const hi = this.expr(this.node(c, 'hi'));
    if (!forTok || !v || !lo || !hi) return undefined;
    const body = this.block(n, true);
    const span = this.between(forTok, n);
    return span ? { kind: 'For', var: v, lo, hi, body, span } : undefined;
  }

  private targetStatement(n: CstNode): TargetStmt | undefined {
    const c = n.children as Children;
    const value = this.expr(this.node(c, 'value'));
    const span = this.between(this.tok(c, 'target'), n);
    return value && span ? { kind: 'Target', value, span } : undefined;
  }

  private tildeStatement(n: CstNode): TildeStmt | undefined {
    const c = n.children as Children;
    const nameTok = this.tok(c, 'name');
    const op = this.tok(c, 'op');
    if (!nameTok || !op) return undefined;
    let lhs: Expr = { kind: 'Name', name: nameTok.image, span: this.tokSpan(nameTok) };
    for (const s of this.nodes(c, 'indices')) {
      const indices = this.indexList(s);
      const span = this.between(nameTok, s);
      if (!indices || !span) return undefined;
      lhs = { kind: 'Index', target: lhs, indices, span };
    }
    if (op.image === '+=') {
      const lhsText = this.lines.text.slice(lhs.span.start, lhs.span.end);
      this.error('PlusAssignNotTarget', `'+=' can only add to 'target', not to '${lhsText}'`, this.tokSpan(op),
        `write 'target += ...' to add a term to the log density, or '${lhsText} ~ ...' to give '${lhsText}' a distribution`);
      return undefined;
    }
    const dist = this.expr(this.node(c, 'value'));
    const span = this.between(nameTok, n);
    return dist && span ? { kind: 'Tilde', lhs, dist, span } : undefined;
  }

  // ---- expressions ----------------------------------------------------------------------

  /** Returns the expression of any expression-level CST node (undefined when it is partial). */
  expr(n: CstNode | undefined): Expr | undefined {
    if (!n || n.recoveredNode) return undefined;
    const c = n.children as Children;
    switch (n.name) {
      case 'expression': return this.ternary(n, c);
      case 'orExpr':
      case 'andExpr':
      case 'additive':
      case 'multiplicative':
        return this.binaryChain(c);
      case 'comparison': return this.comparison(n, c);
      case 'unary': return this.unary(n, c);
      case 'power': return this.power(n, c);
      case 'postfix': return this.postfix(c);
      case 'primary': return this.primary(c);
      case 'nameOrCall': return this.nameOrCall(n, c);
      case 'parenthesized': return this.expr(this.node(c, 'inner'));
      case 'vectorLiteral': return this.vector(n, c);
      case 'argument': return this.expr(this.node(c, 'lambda') ?? this.node(c, 'expr'));
      case 'lambda': return this.lambda(n, c);
      default: return undefined;
    }
  }

  private ternary(n: CstNode, c: Children): Expr | undefined {
    const cond = this.expr(this.node(c, 'cond'));
    if (!cond) return undefined;
    if (!c.then && !c.else) return cond;
    const then = this.expr(this.node(c, 'then'));
    const otherwise = this.expr(this.node(c, 'else'));
    const span = this.between(this.node(c, 'cond'), n);
    return then && otherwise && span ? { kind: 'Ternary', cond, then, else: otherwise, span } : undefined;
  }

  /** Left-associative `a op b op c`. */
  private binaryChain(c: Children): Expr | undefined {
    const operands = this.nodes(c, 'operands');
    const ops = this.toks(c, 'ops');
    if (operands.length !== ops.length + 1) return undefined;
    let acc = this.expr(operands[0]);
    for (let i = 0; i < ops.length && acc; i++) {
      const right = this.expr(operands[i + 1]);
      const span = this.between(operands[0], operands[i + 1]);
      acc = right && span ? { kind: 'Binary', op: ops[i].image as BinaryOp, left: acc, right, span } : undefined;
    }
    return acc;
  }

  private comparison(n: CstNode, c: Children): Expr | undefined {
    const ops = this.toks(c, 'ops');
    if (ops.length > 1) {
      const span = this.between(n, n);
      if (span) {
        const [a, b] = ops.map((t) => t.image);
        this.error('ChainedComparison', `comparisons cannot be chained: '${a}' and '${b}' in a row`, span,
          'compare two values at a time and join them with &&, or add parentheses');
      }
      return undefined;
    }
    return this.binaryChain(c);
  }

  private unary(n: CstNode, c: Children): Expr | undefined {
    const power = this.node(c, 'power');
    if (power) return this.expr(power);
    const op = this.tok(c, 'op');
    const operand = this.expr(this.node(c, 'operand'));
    const span = this.between(op, n);
    return op && operand && span ? { kind: 'Unary', op: op.image as UnaryOp, operand, span } : undefined;
  }

  private power(n: CstNode, c: Children): Expr | undefined {
    const base = this.expr(this.node(c, 'base'));
    if (!base || !c.exponent) return base;
    const exponent = this.expr(this.node(c, 'exponent'));
    const span = this.between(this.node(c, 'base'), n);
    return exponent && span ? { kind: 'Binary', op: '^', left: base, right: exponent, span } : undefined;
  }

  private postfix(c: Children): Expr | undefined {
    const primaryNode = this.node(c, 'primary');
    let acc = this.expr(primaryNode);
    for (const s of this.nodes(c, 'suffixes')) {
      if (!acc) return undefined;
      const indices = this.indexList(s);
      const span = this.between(primaryNode, s);
      acc = indices && span ? { kind: 'Index', target: acc, indices, span } : undefined;
    }
    return acc;
  }

  /** Returns the expressions of an `[i, j]` suffix. */
  private indexList(s: CstNode): Expr[] | undefined {
    if (s.recoveredNode) return undefined;
    const nodes = this.nodes(s.children as Children, 'indices');
    const out: Expr[] = [];
    for (const i of nodes) {
      const e = this.expr(i);
      if (!e) return undefined;
      out.push(e);
    }
    return out.length ? out : undefined;
  }

  private primary(c: Children): Expr | undefined {
    const num = this.tok(c, 'number');
    if (num) {
      const text = num.image;
      // A malformed literal (`1e+`, reported as E0004) keeps its valid prefix's value so
      // that the statement is still checked; the file has an error either way.
      const value = Number.parseFloat(text);
      return { kind: 'Num', value, isInt: /^\d+$/.test(text), text, span: this.tokSpan(num) };
    }
    const inner = this.node(c, 'nameOrCall') ?? this.node(c, 'parenthesized') ?? this.node(c, 'vector');
    return this.expr(inner);
  }

  private nameOrCall(n: CstNode, c: Children): Expr | undefined {
    const nameTok = this.tok(c, 'name');
    if (!nameTok) return undefined;
    if (!c.open) return { kind: 'Name', name: nameTok.image, span: this.tokSpan(nameTok) };
    const args: Expr[] = [];
    for (const a of this.nodes(c, 'args')) {
      const e = this.expr(a);
      if (!e) return undefined;
      args.push(e);
    }
    const span = this.between(nameTok, n);
    const callee = this.ident(nameTok);
    return span && callee ? { kind: 'Call', callee, args, span } : undefined;
  }

  private lambda(n: CstNode, c: Children): Expr | undefined {
    const param = this.ident(this.tok(c, 'param'));
    const body = this.expr(this.node(c, 'body'));
    const span = this.between(this.tok(c, 'param'), n);
    return param && body && span ? { kind: 'Lambda', param, body, span } : undefined;
  }

  private vector(n: CstNode, c: Children): Expr | undefined {
    const elements: Expr[] = [];
    for (const e of this.nodes(c, 'elements')) {
      const x = this.expr(e);
      if (!x) return undefined;
      elements.push(x);
    }
    const span = this.between(n, n);
    return span ? { kind: 'Array', elements, span } : undefined;
  }
}
