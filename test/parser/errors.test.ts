import { describe, expect, it } from 'vitest';
import { parse } from '../../src/parser';
import { PARSE_CODES } from '../../src/parser/codes';
import { ParseAbort, mixParser } from '../../src/parser/parser';
import { mixLexer } from '../../src/parser/tokens';
import { renderDiagnostic } from '../../src/diagnostics/diagnostic';
import { problems } from './helpers';

const m = (lines: string[]) => lines.join('\n');

describe('syntax error messages', () => {
  it('names the block a missing } should close, and notes where it opened (E0003 at end of file)', () => {
    const text = m(['model gmm {', '  data y: real[N]', '  for n in 1..N {', '    y[n] ~ normal(0, 1)', '}', '']);
    const r = parse({ name: 'gmm.mix', text });
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0];
    expect([d.code, d.message]).toEqual(['E0003', "expected '}' to close the block of 'model gmm' opened at 1:11, found end of file"]);
    expect(d.span).toMatchObject({ line: 6, col: 1 });
    expect(d.notes).toEqual([{ message: "the block of 'model gmm' opened here", span: expect.objectContaining({ line: 1, col: 11, endCol: 12 }) }]);
    expect(d.help).toBe("add '}' to close it");
    // Everything read before the end is still there for the checker.
    expect(r.program?.body.map((s) => s.kind)).toEqual(['Decl', 'For']);
  });

  it('notes every bracket left open at the end of the file, innermost first', () => {
    const r = parse({ name: 't', text: m(['model m {', '  y ~ normal(0, [1, 2']) });
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0];
    expect([d.code, d.message, d.help]).toEqual([
      'E0003', "expected ']' to close the vector literal opened at 2:17, found end of file", "add ']', ')', '}' (in this order) to close them",
    ]);
    expect(d.notes?.map((n) => `${n.span?.line}:${n.span?.col} ${n.message}`)).toEqual([
      '2:17 the vector literal opened here', "2:13 the arguments of 'normal' opened here", "1:9 the block of 'model m' opened here",
    ]);
  });

  it('makes any error at the end of the file inside brackets an E0003', () => {
    const r = parse({ name: 't', text: m(['model m {', '  y ~ normal(0,']) });
    expect(r.diagnostics.map((d) => [d.code, d.message, d.notes?.length])).toEqual([['E0003', "expected an expression after ',', found end of file", 2]]);
  });

  it('names the call whose ) is missing', () => {
    expect(problems(m(['model m {', '  y ~ normal(0, 1', '  x ~ normal(0, 1)', '}']))).toEqual([
      // What is missing goes at the end of the line, not where the next line starts.
      "E0002 2:18 expected ')' to close the arguments of 'normal' opened at 2:13, found 'x'",
    ]);
  });

  it('says a stray token is unexpected and goes on with the next statement', () => {
    const text = m(['model m {', '  mu ~ normal(0, 10) )', '  y ~ normal(mu, 1)', '}']);
    expect(problems(text)).toEqual(["E0002 2:22 unexpected ')'"]);
    expect(parse({ name: 't', text }).program?.body).toHaveLength(2);
  });

  it('covers a run of stray tokens with one error', () => {
    const r = parse({ name: 't', text: m(['model m {', '  x ~ f() ) ] )', '  y ~ g()', '}']) });
    expect(r.diagnostics.map((d) => [d.message, d.span?.col, d.span?.endCol])).toEqual([["unexpected ')'", 11, 16]]);
  });

  it('says an expression is missing after an operator', () => {
    expect(problems(m(['model m {', '  let a = 1 +', '  let b = 2 * (3 - )', '}']))).toEqual([
      "E0002 2:14 expected an expression after '+', found 'let'",
      "E0002 3:20 expected an expression after '-', found ')'",
    ]);
  });

  it('reports a missing keyword or punctuation with what came before it', () => {
    expect(problems(m(['model m {', '  for n 1..N {', '  }', '}']))).toEqual(["E0002 2:9 expected 'in' after 'n', found '1'"]);
    expect(problems(m(['model m {', '  data x real', '}']))).toEqual(["E0002 2:10 expected ':' after 'x', found 'real'"]);
    expect(problems(m(['model m {', '  let = 3', '}']))).toEqual(["E0002 2:7 expected a name after 'let', found '='"]);
    expect(problems(m(['model m {', '  for i in 1, N { }', '}']))).toEqual(["E0002 2:13 expected '..' after '1', found ','"]);
    expect(problems(m(['model {', '}']))).toEqual(["E0002 1:7 expected the model's name after 'model', found '{'"]);
  });

  it('explains a statement that is not one', () => {
    const r = parse({ name: 't', text: m(['model m {', '  x = 3', '}']) });
    expect(r.diagnostics.map((d) => [d.code, d.message, d.help])).toEqual([
      ['E0002', "expected '~' after 'x', found '='", "to define a value, write 'let name = expression'"],
    ]);
    expect(problems(m(['model m {', '  target ~ normal(0, 1)', '}']))).toEqual(["E0002 2:10 expected '+=' after 'target', found '~'"]);
  });

  it('says a lambda belongs in a call', () => {
    expect(problems(m(['model m {', '  let f = k -> k + 1', '}']))).toEqual([
      "E0002 2:13 unexpected '->': a lambda 'k -> ...' is only allowed as an argument of a call",
    ]);
  });

  it('needs a model around the statements, and only one', () => {
    expect(problems('data x: real')).toEqual(["E0002 1:1 expected 'model', found 'data'"]);
    expect(problems('')).toEqual(["E0002 1:1 expected 'model', found end of file"]);
    expect(problems('model a {}\nmodel b {}')).toEqual(["E0002 2:1 unexpected 'model': a file holds one model"]);
    expect(problems('model a {} x')).toEqual(["E0002 1:12 unexpected 'x' after the end of the model"]);
  });

  it("rejects '+=' on anything but target (E0005) with a help line", () => {
    const r = parse({ name: 't', text: m(['model m {', '  mu += 1', '  mu ~ normal(0, 1)', '}']) });
    expect(r.diagnostics.map((d) => [d.code, `${d.span?.line}:${d.span?.col}-${d.span?.endCol}`, d.message])).toEqual([
      ['E0005', '2:6-8', "'+=' can only add to 'target', not to 'mu'"],
    ]);
    expect(r.diagnostics[0].help).toBe("write 'target += ...' to add a term to the log density, or 'mu ~ ...' to give 'mu' a distribution");
    expect(r.program?.body.map((s) => s.kind)).toEqual(['Tilde']);
    expect(problems(m(['model m {', '  x[n, 2] += 1', '}']))).toEqual(["E0005 2:11 '+=' can only add to 'target', not to 'x[n, 2]'"]);
  });

  it('rejects declarations inside a for loop (E0006) but keeps them in the AST', () => {
    const text = m(['model m {', '  for n in 1..N {', '    param e: real', '  }', '}']);
    const r = parse({ name: 't', text });
    expect(r.diagnostics.map((d) => [d.code, `${d.span?.line}:${d.span?.col}-${d.span?.endCol}`, d.message, d.help])).toEqual([
      ['E0006', '3:5-18', "'param' declarations are only allowed at the top level of the model, not inside a for loop", "move 'param e: real' above the loop"],
    ]);
    expect(r.program?.body[0].kind === 'For' && r.program.body[0].body[0].kind).toBe('Decl');
  });

  it('reports malformed numbers once each (E0004), with a help line', () => {
    const r = parse({ name: 't', text: m(['model m {', '  mu ~ normal(0, 1e+)', '  let a = 3.', '  let b = 2x', '}']) });
    expect(r.diagnostics.map((d) => [d.code, `${d.span?.line}:${d.span?.col}-${d.span?.endCol}`, d.message, d.help])).toEqual([
      ['E0004', '2:18-21', "malformed number '1e+'", 'an exponent needs digits, as in 1e-3'],
      ['E0004', '3:11-13', "malformed number '3.'", 'a decimal point needs digits after it: write 3.0'],
      ['E0004', '4:11-13', "malformed number '2x'", "a number cannot run into letters: put a space or an operator between '2' and 'x'"],
    ]);
    expect(r.program?.body).toHaveLength(3);
  });

  it('reports an unterminated block comment (E0007) and nothing that follows from it', () => {
    expect(problems(m(['model m {', '  /* never closed', '  let x = 1', '}']))).toEqual([
      "E0007 2:3 unterminated block comment: this '/*' has no closing '*/'",
    ]);
  });

  it("reports bounds other than 'lower'/'upper' and repeated bounds (E0008)", () => {
    const r = parse({ name: 't', text: m(['model m {', '  data x: int<lowr=0>', '  data y: int<upper=1, upper=2>', '}']) });
    expect(r.diagnostics.map((d) => [d.code, `${d.span?.line}:${d.span?.col}`, d.message, d.help])).toEqual([
      ['E0008', '2:15', "unknown type bound 'lowr': a bound is 'lower' or 'upper'", "did you mean 'lower'?"],
      ['E0008', '3:24', "bound 'upper' given twice", undefined],
    ]);
  });

  it('stops a bound at > and says so when a comparison follows', () => {
    expect(problems(m(['model m {', '  data x: real<lower=0 < 1>', '}']))).toEqual([
      "E0002 2:24 expected '>' to close the type's bounds after '0', found '<'",
    ]);
  });

  it('rejects chained comparisons (E0009) over the whole chain', () => {
    const r = parse({ name: 't', text: m(['model m {', '  let c = 0 < x <= 1', '}']) });
    expect(r.diagnostics.map((d) => [d.code, `${d.span?.line}:${d.span?.col}-${d.span?.endCol}`, d.message])).toEqual([
      ['E0009', '2:11-21', "comparisons cannot be chained: '<' and '<=' in a row"],
    ]);
  });

  it('reports several independent errors of one file, each once', () => {
    const text = m([
      'model m {',
      '  data x real',
      '  let a = (1 + 2',
      '  y ~ normal(a, )',
      '  let b = 3 # note',
      '  z ~ normal(0, 1)',
      '}',
    ]);
    const r = parse({ name: 't', text });
    expect(r.diagnostics.map((d) => `${d.code} ${d.span?.line}:${d.span?.col}`)).toEqual(['E0002 2:10', 'E0002 3:17', 'E0002 4:17', 'E0001 5:13']);
    // Single-token recovery completes 'data x real' and '(1 + 2'; only the statement with a hole is dropped.
    expect(r.program?.body.map((s) => s.kind)).toEqual(['Decl', 'Let', 'Let', 'Tilde']);
  });

  it('renders with the source line and caret', () => {
    const text = m(['model m {', '  for n 1..N {', '  }', '}']);
    const d = parse({ name: 'loop.mix', text }).diagnostics[0];
    expect(renderDiagnostic(d, { name: 'loop.mix', text })).toBe(m([
      "error[E0002]: expected 'in' after 'n', found '1'",
      ' --> loop.mix:2:9',
      '  |',
      '2 |   for n 1..N {',
      '  |         ^',
      "   = help: a loop reads 'for i in 1..N { ... }'",
    ]));
  });

  it('uses only codes listed in codes.ts', () => {
    const listed = new Set<string>(Object.values(PARSE_CODES).map((c) => c.code));
    const texts = ['model m {', 'model m { x += 1 }', 'model m { let a = 1e }', 'model m { /*', 'model m { data x: int<lowr=1> }', '@', 'model m { let c = a < b < c }',
      'model m { for i in 1..2 { data x: real } }', `model m { let a = ${'('.repeat(200)} }`];
    for (const t of texts) for (const d of parse({ name: 't', text: t }).diagnostics) expect(listed.has(d.code), `${d.code} for ${t}`).toBe(true);
  });
});

describe('limits', () => {
  it('refuses brackets nested past the limit with E0010 instead of overflowing the stack', () => {
    const r = parse({ name: 't', text: `model m {\n  let a = ${'('.repeat(150)}x${')'.repeat(150)}\n}` });
    expect(r.diagnostics.map((d) => [d.code, d.message, d.span?.line])).toEqual([['E0010', 'brackets nested more than 100 levels deep', 2]]);
    expect(r.program).toBeUndefined();
  });

  it('parses brackets nested up to the limit', () => {
    expect(parse({ name: 't', text: `model m {\n  let a = ${'('.repeat(98)}x${')'.repeat(98)}\n}` }).diagnostics).toEqual([]);
  });

  it('drops a statement deeper than later phases can walk, with E0010', () => {
    const r = parse({ name: 't', text: `model m {\n  let a = ${Array(600).fill('x').join(' + ')}\n  let b = 1\n}` });
    expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([['E0010', 2]]);
    expect(r.program?.body.map((s) => s.kind === 'Let' && s.name.name)).toEqual(['b']);
  });

  it('stops a parse that exceeds its step budget (the guard against recovery loops)', () => {
    const parser = mixParser();
    parser.input = mixLexer.tokenize('model m {\n  let a = 1 + 2 * 3\n  let b = a\n}').tokens;
    parser.resetGuard(0, 3);
    expect(() => parser.program()).toThrow(ParseAbort);
    parser.input = mixLexer.tokenize('model m {\n  let a = 1 + 2 * 3\n}').tokens;
    parser.resetGuard(0, 1000);
    expect(() => parser.program()).not.toThrow();
    expect(parser.errors).toEqual([]);
  });

  it('parses normally again after a parse that overflowed or gave up', () => {
    parse({ name: 't', text: `model m {\n  let a = ${'-'.repeat(20000)}x\n}` });
    parse({ name: 't', text: `model m {${'x ~ '.repeat(1000)}}` });
    expect(problems('model m {\n  let a = 1\n  b ~ normal(a, 1\n}')).toEqual([
      "E0002 3:18 expected ')' to close the arguments of 'normal' opened at 3:13, found '}'",
    ]);
  });

  it('turns a stack overflow on long unary chains into E0010', () => {
    const r = parse({ name: 't', text: `model m {\n  let a = ${'-'.repeat(20000)}x\n}` });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E0010']);
  });
});
