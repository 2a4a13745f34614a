/**
 * The pretty printer: canonical `.mix` text from an AST.
 *
 * Two-space indent, one statement a line, binary operators between spaces, doc
 * comments as `///` lines, and the fewest parentheses that keep the tree: an operand
 * is parenthesised exactly when the grammar could not read it there without them
 * (PRECEDENCE and associativity: left for most operators, right for `^` and `?:`,
 * none for comparisons). Properties (tested in test/parser): parse(print(ast)) equals
 * ast up to spans, and printing is idempotent through a parse.
 */
import type { Expr, Program, Stmt, TypeExpr } from './nodes';
import { PRECEDENCE } from './nodes';

/** Binding strength of postfix expressions and primaries (calls, indexing, names, numbers, vectors). */
const POSTFIX = 10;
const UNARY = PRECEDENCE.unary;
const COMPARISON = new Set(['==', '!=', '<', '<=', '>', '>=']);

/** Returns how tightly `e` binds: PRECEDENCE for operators, POSTFIX for primaries, 0 for a lambda. */
function precedenceOf(e: Expr): number {
  switch (e.kind) {
    case 'Ternary': return PRECEDENCE['?:'];
    case 'Binary': return PRECEDENCE[e.op];
    case 'Unary': return UNARY;
    case 'Lambda': return 0;
    default: return POSTFIX;
  }
}

/**
 * Returns the text of `e`, parenthesised when it binds looser than `min` (the least
 * binding strength the grammar accepts at its position).
 */
export function printExpr(e: Expr, min = 0): string {
  const text = bare(e);
  return precedenceOf(e) < min ? `(${text})` : text;
}

/** Returns `e`'s text without parentheses around the whole. */
function bare(e: Expr): string {
  switch (e.kind) {
    case 'Num': return e.text;
    case 'Name': return e.name;
    case 'Binary': {
      const p = PRECEDENCE[e.op];
      let left: number;
      let right: number;
      if (e.op === '^') {
        // Right-associative; the base is a postfix expression and the exponent may be a unary one (`x ^ -2`).
        left = POSTFIX;
        right = UNARY;
      } else if (COMPARISON.has(e.op)) {
        // Non-associative: `a < b < c` is not an expression, so either side at this level needs parentheses.
        left = p + 1;
        right = p + 1;
      } else {
        left = p;
        right = p + 1;
      }
      return `${printExpr(e.left, left)} ${e.op} ${printExpr(e.right, right)}`;
    }
    case 'Unary':
      // The operand of a unary operator is a unary expression or a power: `-x ^ 2` is `-(x ^ 2)`.
      return `${e.op}${printExpr(e.operand, UNARY)}`;
    case 'Ternary':
      // The condition stops at `||`; the branches are whole expressions (so `?:` nests to the right).
      return `${printExpr(e.cond, PRECEDENCE['||'])} ? ${printExpr(e.then, 1)} : ${printExpr(e.else, 1)}`;
    case 'Call':
      return `${e.callee.name}(${e.args.map(printArgument).join(', ')})`;
    case 'Index':
      return `${printExpr(e.target, POSTFIX)}[${e.indices.map((i) => printExpr(i, 1)).join(', ')}]`;
    case 'Array':
      return `[${e.elements.map((x) => printExpr(x, 1)).join(', ')}]`;
    case 'Lambda':
      return `${e.param.name} -> ${printExpr(e.body, 1)}`;
    default:
      return `<${(e as { kind?: string }).kind ?? 'unknown'}>`;
  }
}

/** Returns a call argument's text: a lambda stands bare there, the only place the grammar takes one. */
function printArgument(a: Expr): string {
  return a.kind === 'Lambda' ? bare(a) : printExpr(a, 1);
}

/** Returns the text of a type: `int<lower=1, upper=K>[N]`. */
export function printType(t: TypeExpr): string {
  // Bounds are read at the additive level so that `>` can close them.
  const bounds: string[] = [];
  if (t.lower) bounds.push(`lower=${printExpr(t.lower, PRECEDENCE['+'])}`);
  if (t.upper) bounds.push(`upper=${printExpr(t.upper, PRECEDENCE['+'])}`);
  const b = bounds.length ? `<${bounds.join(', ')}>` : '';
  const d = t.dims.length ? `[${t.dims.map((x) => printExpr(x, 1)).join(', ')}]` : '';
  return `${t.base.name}${b}${d}`;
}

/** Returns the `///` lines of a doc text, each prefixed by `indent`. */
function docLines(doc: string | undefined, indent: string): string[] {
  if (doc === undefined) return [];
  return doc.split('\n').map((l) => (l ? `${indent}/// ${l}` : `${indent}///`));
}

/** Returns the lines of one statement at nesting `depth` (two spaces a level). */
export function printStmt(s: Stmt, depth = 0): string[] {
  const pad = '  '.repeat(depth);
  switch (s.kind) {
    case 'Decl':
      return [...docLines(s.doc, pad), `${pad}${s.role} ${s.name.name}: ${printType(s.type)}`];
    case 'Let':
      return [`${pad}let ${s.name.name} = ${printExpr(s.value, 1)}`];
    case 'Tilde':
      return [`${pad}${printExpr(s.lhs, POSTFIX)} ~ ${printExpr(s.dist, 1)}`];
    case 'Target':
      return [`${pad}target += ${printExpr(s.value, 1)}`];
    case 'For':
      return [
        `${pad}for ${s.var.name} in ${printExpr(s.lo, 1)}..${printExpr(s.hi, 1)} {`,
        ...s.body.flatMap((b) => printStmt(b, depth + 1)),
        `${pad}}`,
      ];
    default:
      return [`${pad}<${(s as { kind?: string }).kind ?? 'unknown'}>`];
  }
}

/** Returns the canonical text of a program, ending with a newline. */
export function printProgram(p: Program): string {
  const lines = [
    ...docLines(p.doc, ''),
    `model ${p.name.name} {`,
    ...p.body.flatMap((s) => printStmt(s, 1)),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}
