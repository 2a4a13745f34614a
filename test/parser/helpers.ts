/** Test helpers for the parser: parse shorthands, an s-expression view of trees, a node walker. */
import type { Expr, Program, Stmt } from '../../src/ast/nodes';
import type { Diagnostic } from '../../src/diagnostics/diagnostic';
import { parse, parseExpression } from '../../src/parser';

/** Returns the program of text that must parse without diagnostics (throws with them otherwise). */
export function parseClean(text: string): Program {
  const r = parse({ name: 'test.mix', text });
  if (r.diagnostics.length || !r.program) {
    throw new Error(`expected a clean parse, got:\n${r.diagnostics.map(show).join('\n')}`);
  }
  return r.program;
}

/** Returns the expression of text that must parse without diagnostics. */
export function exprClean(text: string): Expr {
  const r = parseExpression({ name: 'expr', text });
  if (r.diagnostics.length || !r.expr) throw new Error(`expected a clean parse of '${text}', got:\n${r.diagnostics.map(show).join('\n')}`);
  return r.expr;
}

/** Returns the statements of `model m { <body> }`. */
export function body(text: string): Stmt[] {
  return parseClean(`model m {\n${text}\n}`).body;
}

/** Returns `CODE line:col message` for a diagnostic. */
export function show(d: Diagnostic): string {
  return `${d.code} ${d.span ? `${d.span.line}:${d.span.col}` : '-'} ${d.message}`;
}

/** Returns `CODE line:col message` for each diagnostic of parsing `text`. */
export function problems(text: string): string[] {
  return parse({ name: 'test.mix', text }).diagnostics.map(show);
}

/** Returns an expression as a fully parenthesised s-expression: `(+ a (* b c))`. */
export function sexpr(e: Expr): string {
  switch (e.kind) {
    case 'Num': return e.text;
    case 'Name': return e.name;
    case 'Binary': return `(${e.op} ${sexpr(e.left)} ${sexpr(e.right)})`;
    case 'Unary': return `(${e.op} ${sexpr(e.operand)})`;
    case 'Ternary': return `(? ${sexpr(e.cond)} ${sexpr(e.then)} ${sexpr(e.else)})`;
    case 'Call': return `(call ${e.callee.name}${e.args.map((a) => ` ${sexpr(a)}`).join('')})`;
    case 'Index': return `(index ${sexpr(e.target)}${e.indices.map((i) => ` ${sexpr(i)}`).join('')})`;
    case 'Array': return `[${e.elements.map(sexpr).join(' ')}]`;
    case 'Lambda': return `(-> ${e.param.name} ${sexpr(e.body)})`;
  }
}

/** A node of the AST with a kind and a span. */
export interface AnyNode {
  kind: string;
  span: { start: number; end: number; line: number; col: number; endLine: number; endCol: number };
  [k: string]: unknown;
}

/** Returns every node (objects with a `kind`) of a tree, parents before children. */
export function allNodes(root: unknown): AnyNode[] {
  const out: AnyNode[] = [];
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) {
      x.forEach(visit);
    } else if (x && typeof x === 'object') {
      if ('kind' in x) out.push(x as AnyNode);
      for (const [k, v] of Object.entries(x)) if (k !== 'span' && k !== 'ty') visit(v);
    }
  };
  visit(root);
  return out;
}
