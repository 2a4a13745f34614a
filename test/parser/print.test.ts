import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Expr } from '../../src/ast/nodes';
import { NO_SPAN } from '../../src/diagnostics/span';
import { printExpr, printProgram } from '../../src/ast/print';
import { parse } from '../../src/parser';
import { stripSpans } from '../../src/parser/arbitrary';
import { exprClean, parseClean } from './helpers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Returns the canonical text of an expression written by hand. */
const canon = (text: string) => printExpr(exprClean(text));

const num = (text: string): Expr => ({ kind: 'Num', value: Number(text), isInt: /^\d+$/.test(text), text, span: NO_SPAN });
const name = (n: string): Expr => ({ kind: 'Name', name: n, span: NO_SPAN });
const bin = (op: '+' | '-' | '*' | '^' | '<' | '&&', left: Expr, right: Expr): Expr => ({ kind: 'Binary', op, left, right, span: NO_SPAN });
const neg = (operand: Expr): Expr => ({ kind: 'Unary', op: '-', operand, span: NO_SPAN });

describe('printExpr', () => {
  it('drops parentheses the precedence makes redundant, and keeps the needed ones', () => {
    expect(canon('((a)) + ((b * c))')).toBe('a + b * c');
    expect(canon('(a + b) * c')).toBe('(a + b) * c');
    expect(canon('a - (b - c)')).toBe('a - (b - c)');
    expect(canon('(a - b) - c')).toBe('a - b - c');
    expect(canon('a / (b * c)')).toBe('a / (b * c)');
    expect(canon('(a || b) && c')).toBe('(a || b) && c');
    expect(canon('(a ? b : c) + 1')).toBe('(a ? b : c) + 1');
    expect(canon('f((a + b))')).toBe('f(a + b)');
  });

  it('respects the right associativity of ^ and ?:', () => {
    expect(canon('a ^ (b ^ c)')).toBe('a ^ b ^ c');
    expect(canon('(a ^ b) ^ c')).toBe('(a ^ b) ^ c');
    expect(canon('a ? b : (c ? d : e)')).toBe('a ? b : c ? d : e');
    expect(canon('(a ? b : c) ? d : e')).toBe('(a ? b : c) ? d : e');
  });

  it('puts unary minus outside ^ unless parenthesised, and allows a signed exponent', () => {
    expect(canon('-(x ^ 2)')).toBe('-x ^ 2');
    expect(canon('(-x) ^ 2')).toBe('(-x) ^ 2');
    expect(canon('x ^ (-2)')).toBe('x ^ -2');
    expect(canon('-(-x)')).toBe('--x');
    expect(canon('a - (-b)')).toBe('a - -b');
    expect(canon('-(a + b)')).toBe('-(a + b)');
  });

  it('parenthesises comparisons inside comparisons (they do not chain)', () => {
    expect(printExpr(bin('<', bin('<', name('a'), name('b')), name('c')))).toBe('(a < b) < c');
    expect(printExpr(bin('<', name('a'), bin('<', name('b'), name('c'))))).toBe('a < (b < c)');
  });

  it('prints trees no source produced with the parentheses they need', () => {
    expect(printExpr(bin('^', neg(name('x')), num('2')))).toBe('(-x) ^ 2');
    expect(printExpr(bin('*', bin('+', name('a'), name('b')), bin('-', name('c'), name('d'))))).toBe('(a + b) * (c - d)');
    expect(printExpr(bin('&&', bin('&&', name('a'), name('b')), bin('&&', name('c'), name('d'))))).toBe('a && b && (c && d)');
    expect(printExpr({ kind: 'Index', target: bin('+', name('a'), name('b')), indices: [num('1')], span: NO_SPAN })).toBe('(a + b)[1]');
  });

  it('keeps number literals as written and prints calls, indices, vectors and lambdas', () => {
    expect(canon('f(1e-3, .5, 2.50E+4, 007)')).toBe('f(1e-3, .5, 2.50E+4, 007)');
    expect(canon('mixture(w,k->normal(mu[k],sigma[k, 1]))')).toBe('mixture(w, k -> normal(mu[k], sigma[k, 1]))');
    expect(canon('[ [1,2] , [] ][1][2]')).toBe('[[1, 2], []][1][2]');
  });
});

describe('printProgram', () => {
  it('prints canonical text: doc lines, 2-space indent, one statement a line', () => {
    const src = [
      '/** The model.',
      ' *  Second line. */',
      'model m { // not doc: a trailing comment',
      '   /// K doc',
      'data K : int < lower = 1 , upper = N > ; data x:real[N,D]',
      'for n in 1 .. N { let m = mu[z[n]] ; z[n] ~ categorical(w)',
      'for d in 1..D { x[n,d] ~ normal(m, 1) } }',
      'target += -0.5*sum(square(mu)) }',
    ].join('\n');
    expect(printProgram(parseClean(src))).toBe([
      '/// The model.',
      '///  Second line.',
      'model m {',
      '  /// K doc',
      '  data K: int<lower=1, upper=N>',
      '  data x: real[N, D]',
      '  for n in 1..N {',
      '    let m = mu[z[n]]',
      '    z[n] ~ categorical(w)',
      '    for d in 1..D {',
      '      x[n, d] ~ normal(m, 1)',
      '    }',
      '  }',
      '  target += -0.5 * sum(square(mu))',
      '}',
      '',
    ].join('\n'));
  });

  it('parenthesises type bounds that are not additive expressions', () => {
    expect(printProgram(parseClean('model m { data x: real<lower=(a < b ? 0 : 1)> }'))).toContain('data x: real<lower=(a < b ? 0 : 1)>');
  });

  it('round-trips every stdlib and good model: same tree, and printing is a fixed point', () => {
    for (const dir of ['stdlib', 'test/golden/good']) {
      for (const f of readdirSync(join(root, dir)).filter((x) => x.endsWith('.mix'))) {
        const p = parseClean(readFileSync(join(root, dir, f), 'utf8'));
        const printed = printProgram(p);
        const again = parse({ name: f, text: printed });
        expect(again.diagnostics, f).toEqual([]);
        expect(stripSpans(again.program), f).toEqual(stripSpans(p));
        expect(printProgram(again.program!), f).toBe(printed);
      }
    }
  });
});
