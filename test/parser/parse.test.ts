import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeclStmt, Expr, ForStmt, LetStmt, TildeStmt } from '../../src/ast/nodes';
import { spanOf } from '../../src/diagnostics/span';
import { parse, parseExpression } from '../../src/parser';
import { stripSpans } from '../../src/parser/arbitrary';
import { allNodes, body, exprClean, parseClean, sexpr } from './helpers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpus = ['stdlib', 'test/golden/good'].flatMap((d) =>
  readdirSync(join(root, d)).filter((f) => f.endsWith('.mix')).sort().map((f) => ({ file: `${d}/${f}`, text: readFileSync(join(root, d, f), 'utf8') })));

const S = (e: string) => sexpr(exprClean(e));

describe('program', () => {
  it('reads the model name, its body and its span', () => {
    const text = 'model gmm {\n  data K: int\n}\n';
    const p = parseClean(text);
    expect(p.name).toEqual({ kind: 'Ident', name: 'gmm', span: spanOf(text, 6, 9) });
    expect(p.body).toHaveLength(1);
    expect(p.span).toEqual(spanOf(text, 0, text.indexOf('}') + 1));
    expect(p.doc).toBeUndefined();
  });

  it('accepts an empty model and optional semicolons', () => {
    expect(parseClean('model m {}').body).toEqual([]);
    expect(body('let a = 1; let b = 2;;\n;let c = 3').map((s) => s.kind)).toEqual(['Let', 'Let', 'Let']);
  });

  it('needs no newlines between statements', () => {
    expect(body('let a = 1 let b = a x ~ normal(a, b) target += a').map((s) => s.kind)).toEqual(['Let', 'Let', 'Tilde', 'Target']);
  });

  it('parses every stdlib and good model cleanly', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(15);
    for (const { file, text } of corpus) {
      const r = parse({ name: file, text });
      expect(r.diagnostics, file).toEqual([]);
      expect(r.program?.kind, file).toBe('Program');
    }
  });
});

describe('declarations', () => {
  it('reads each role with its type', () => {
    const [d, p, l] = body('data x: real[N, D]\nparam w: simplex[K]\nlatent z: int[N]') as DeclStmt[];
    expect([d.role, d.name.name, d.type.base.name, d.type.dims.map(sexpr)]).toEqual(['data', 'x', 'real', ['N', 'D']]);
    expect([p.role, p.type.base.name, p.type.dims.map(sexpr)]).toEqual(['param', 'simplex', ['K']]);
    expect([l.role, l.type.base.name]).toEqual(['latent', 'int']);
  });

  it('reads bounds in either order, alone or together, at the additive level', () => {
    const [a, b, c, d] = body('data a: int<lower=1, upper=K>[N]\ndata b: real<upper=2 * K>\ndata c: real<upper=1, lower=-1>\ndata d: real<lower=0>') as DeclStmt[];
    expect([sexpr(a.type.lower!), sexpr(a.type.upper!), a.type.dims.map(sexpr)]).toEqual(['1', 'K', ['N']]);
    expect([b.type.lower, sexpr(b.type.upper!)]).toEqual([undefined, '(* 2 K)']);
    expect([sexpr(c.type.lower!), sexpr(c.type.upper!)]).toEqual(['(- 1)', '1']);
    expect([sexpr(d.type.lower!), d.type.upper, d.type.dims]).toEqual(['0', undefined, []]);
  });

  it('accepts any identifier as a type name (the checker judges it)', () => {
    expect((body('data x: whatever[3]')[0] as DeclStmt).type.base.name).toBe('whatever');
  });

  it('gives exact spans to the declaration, its name and its type', () => {
    const text = 'model m {\n  data y: int<lower=1, upper=K>[N]\n}';
    const d = parseClean(text).body[0] as DeclStmt;
    const at = (s: string) => text.indexOf(s);
    expect(d.span).toEqual(spanOf(text, at('data'), at('[N]') + 3));
    expect(d.name.span).toEqual(spanOf(text, at('y:'), at('y:') + 1));
    expect(d.type.span).toEqual(spanOf(text, at('int'), at('[N]') + 3));
    expect(d.type.base.span).toEqual(spanOf(text, at('int'), at('int') + 3));
    expect(d.type.upper!.span).toEqual(spanOf(text, at('K>'), at('K>') + 1));
    expect(d.span).toMatchObject({ line: 2, col: 3, endLine: 2, endCol: 35 });
  });
});

describe('statements', () => {
  it('reads let, ~, target += and for', () => {
    const [l, t, g, f] = body('let s2 = sigma ^ 2\nmu ~ normal(0, 10)\ntarget += -0.5 * sum(mu)\nfor n in 1..N {\n  y[n] ~ normal(mu, 1)\n}');
    expect(l).toMatchObject({ kind: 'Let', name: { name: 's2' } });
    expect(sexpr((l as LetStmt).value)).toBe('(^ sigma 2)');
    expect([sexpr((t as TildeStmt).lhs), sexpr((t as TildeStmt).dist)]).toEqual(['mu', '(call normal 0 10)']);
    expect(g.kind === 'Target' && sexpr(g.value)).toBe('(* (- 0.5) (call sum mu))');
    const loop = f as ForStmt;
    expect([loop.var.name, sexpr(loop.lo), sexpr(loop.hi), loop.body.length]).toEqual(['n', '1', 'N', 1]);
    expect(sexpr((loop.body[0] as TildeStmt).lhs)).toBe('(index y n)');
  });

  it('reads ~ left sides: a name, an index, several indices, chained indices', () => {
    const lhs = body('x ~ f()\nx[n] ~ f()\nx[n, d] ~ f()\nx[n][d] ~ f()').map((s) => sexpr((s as TildeStmt).lhs));
    expect(lhs).toEqual(['x', '(index x n)', '(index x n d)', '(index (index x n) d)']);
  });

  it('reads combinators with a lambda argument', () => {
    const t = body('y[n] ~ mixture(w, k -> normal(mu[k], sigma[k]))')[0] as TildeStmt;
    expect(sexpr(t.dist)).toBe('(call mixture w (-> k (call normal (index mu k) (index sigma k))))');
    expect(sexpr((body('y ~ censored(normal(m, s), lo, hi)')[0] as TildeStmt).dist)).toBe('(call censored (call normal m s) lo hi)');
  });

  it('reads nested loops with local lets, and ranges made of expressions', () => {
    const f = body('for i in 1..N - 1 {\n  for j in i + 1..N {\n    let d = x[i] - x[j]\n    target += -d ^ 2\n  }\n}')[0] as ForStmt;
    expect([sexpr(f.lo), sexpr(f.hi)]).toEqual(['1', '(- N 1)']);
    const inner = f.body[0] as ForStmt;
    expect([sexpr(inner.lo), sexpr(inner.hi), inner.body.map((s) => s.kind)]).toEqual(['(+ i 1)', 'N', ['Let', 'Target']]);
    expect(inner.body[1].kind === 'Target' && sexpr(inner.body[1].value)).toBe('(- (^ d 2))');
  });

  it('gives statements spans without the optional semicolon', () => {
    const text = 'model m {\n  for n in 1..N {\n    x[n] ~ normal(0, 1);\n  }\n}';
    const f = parseClean(text).body[0] as ForStmt;
    expect(f.span).toEqual(spanOf(text, text.indexOf('for'), text.lastIndexOf('  }') + 3));
    expect(f.span).toMatchObject({ line: 2, col: 3, endLine: 4, endCol: 4 });
    expect(f.body[0].span).toEqual(spanOf(text, text.indexOf('x[n]'), text.indexOf(';')));
    expect(f.var.span).toMatchObject({ line: 2, col: 7, endLine: 2, endCol: 8 });
  });
});

describe('expressions and precedence', () => {
  it('follows the spec: ?: < || < && < comparisons < + - < * / % @ < unary < ^ < postfix', () => {
    expect(S('a ? b : c || d && e == f + g * h')).toBe('(? a b (|| c (&& d (== e (+ f (* g h))))))');
    expect(S('a * b + c * d')).toBe('(+ (* a b) (* c d))');
    expect(S('a + b < c - d')).toBe('(< (+ a b) (- c d))');
    expect(S('a || b && c')).toBe('(|| a (&& b c))');
    expect(S('a @ b * c % d / e')).toBe('(/ (% (* (@ a b) c) d) e)');
    expect(S('!a && b')).toBe('(&& (! a) b)');
  });

  it('makes binary operators left-associative, ^ and ?: right-associative', () => {
    expect(S('a - b - c')).toBe('(- (- a b) c)');
    expect(S('a / b / c')).toBe('(/ (/ a b) c)');
    expect(S('a ^ b ^ c')).toBe('(^ a (^ b c))');
    expect(S('a ? b : c ? d : e')).toBe('(? a b (? c d e))');
    expect(S('a ? b ? c : d : e')).toBe('(? a (? b c d) e)');
  });

  it('binds ^ tighter than unary minus, and lets an exponent carry a sign', () => {
    expect(S('-x ^ 2')).toBe('(- (^ x 2))');
    expect(S('(-x) ^ 2')).toBe('(^ (- x) 2)');
    expect(S('2 ^ -1')).toBe('(^ 2 (- 1))');
    expect(S('x ^ -y ^ 2')).toBe('(^ x (- (^ y 2)))');
    expect(S('--x')).toBe('(- (- x))');
  });

  it('reads calls, indexing (chained too), vector literals and parentheses', () => {
    expect(S('f(x)[1]')).toBe('(index (call f x) 1)');
    expect(S('x[i][j]')).toBe('(index (index x i) j)');
    expect(S('x[i, j + 1]')).toBe('(index x i (+ j 1))');
    expect(S('[1, 2.5, x]')).toBe('[1 2.5 x]');
    expect(S('[]')).toBe('[]');
    expect(S('[[1, 2], [3, 4]][2][1]')).toBe('(index (index [[1 2] [3 4]] 2) 1)');
    expect(S('f()')).toBe('(call f)');
    expect(S('(a + b) * c')).toBe('(* (+ a b) c)');
    expect(S('x[1] ^ 2')).toBe('(^ (index x 1) 2)');
  });

  it('reads every comparison operator', () => {
    for (const op of ['==', '!=', '<', '<=', '>', '>=']) expect(S(`a ${op} b`)).toBe(`(${op} a b)`);
  });

  it('gives a binary expression the span of its operands, their parentheses included but not its own', () => {
    const text = 'f((a + b) * c)';
    const call = exprClean(text);
    const product = (call as Expr & { kind: 'Call' }).args[0];
    expect(product.span).toEqual(spanOf(text, 2, 13));
    expect(product.kind === 'Binary' && product.left.span).toEqual(spanOf(text, 3, 8));
    expect(call.span).toEqual(spanOf(text, 0, text.length));
  });

  it('gives a lambda the span from its parameter to the end of its body', () => {
    const text = 'mixture(w, k -> normal(mu[k], 1))';
    const lam = (exprClean(text) as Expr & { kind: 'Call' }).args[1];
    expect(lam.kind).toBe('Lambda');
    expect(lam.span).toEqual(spanOf(text, text.indexOf('k ->'), text.length - 1));
  });

  it('reports input left after an expression', () => {
    const r = parseExpression({ name: 'e', text: 'a + b c' });
    expect(r.diagnostics.map((d) => d.message)).toEqual(["unexpected 'c' after the end of the input"]);
  });
});

describe('spans of every node of real models', () => {
  it('are consistent with spanOf, nested in their parents, and name exactly their token', () => {
    for (const { file, text } of corpus) {
      const p = parseClean(text);
      for (const n of allNodes(p)) {
        expect(n.span, `${file} ${n.kind}`).toEqual(spanOf(text, n.span.start, n.span.end));
        const slice = text.slice(n.span.start, n.span.end);
        if (n.kind === 'Ident' || n.kind === 'Name') expect(slice, file).toBe(n.name);
        if (n.kind === 'Num') expect(slice, file).toBe(n.text);
        if (n.kind === 'Call') expect(slice.endsWith(')') && slice.startsWith(`${(n.callee as { name: string }).name}(`), `${file}: ${slice}`).toBe(true);
        if (n.kind === 'Index') expect(slice.endsWith(']'), `${file}: ${slice}`).toBe(true);
      }
    }
  });

  it('of every expression, re-parsed alone, give back the same expression', () => {
    let checked = 0;
    for (const { file, text } of corpus) {
      for (const n of allNodes(parseClean(text))) {
        if (!['Num', 'Name', 'Binary', 'Unary', 'Call', 'Index', 'Ternary', 'Array'].includes(n.kind)) continue;
        const slice = text.slice(n.span.start, n.span.end);
        const r = parseExpression({ name: file, text: slice });
        expect(r.diagnostics, `${file}: ${slice}`).toEqual([]);
        expect(stripSpans(r.expr), `${file}: ${slice}`).toEqual(stripSpans(n));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(300);
  });
});

describe('doc comments', () => {
  it('attaches /// lines above model to the program, markers stripped', () => {
    const p = parseClean('/// A mixture.\n///   Indented line.\n///\n/// Data: x.\nmodel m {}');
    expect(p.doc).toBe('A mixture.\n  Indented line.\n\nData: x.');
  });

  it('attaches a /** */ block, without its stars', () => {
    expect(parseClean('/**\n * First.\n * Second.\n */\nmodel m {}').doc).toBe('First.\nSecond.');
    expect(parseClean('/** One line. */ model m {}').doc).toBe('One line.');
  });

  it('attaches /// lines to the declaration below them, and to nothing else', () => {
    const [k, x, l] = body('/// Number of components.\ndata K: int\n// plain comment\ndata x: real\n/// not doc of a let\nlet a = 1');
    expect((k as DeclStmt).doc).toBe('Number of components.');
    expect((x as DeclStmt).doc).toBeUndefined();
    expect(l).not.toHaveProperty('doc');
  });

  it('does not take an ordinary comment, a trailing /// or a //// line as doc', () => {
    expect(parseClean('// just a comment\nmodel m {}').doc).toBeUndefined();
    expect(parseClean('/// doc\n// breaks the run\nmodel m {}').doc).toBeUndefined();
    expect((body('data a: int /// trailing\ndata b: int')[1] as DeclStmt).doc).toBeUndefined();
    expect(parseClean('//// four slashes\nmodel m {}').doc).toBeUndefined();
  });
});
