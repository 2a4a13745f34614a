import { describe, expect, it } from 'vitest';
import { DOC_GROUP, COMMENT_GROUP, mixLexer, numberLength, WELL_FORMED_NUMBER } from '../../src/parser/tokens';
import { exprClean, problems } from './helpers';

const names = (text: string) => mixLexer.tokenize(text).tokens.map((t) => t.tokenType.name);

describe('lexer', () => {
  it('reads keywords, but not identifiers that start with one (longer_alt)', () => {
    expect(names('model data param latent let for in target')).toEqual(['Model', 'Data', 'Param', 'Latent', 'Let', 'For', 'In', 'Target']);
    expect(names('models datum parameter latents letter format int targets _in in2')).toEqual(Array(10).fill('Identifier'));
  });

  it('reads type names, lower and upper as identifiers', () => {
    expect(names('int real simplex cholesky_corr lower upper')).toEqual(Array(6).fill('Identifier'));
  });

  it('reads every operator, longest first', () => {
    expect(mixLexer.tokenize('+= -> .. == != <= >= && || + - * / % ^ @ < > ! ? : ~ = , ; ( ) [ ] { }').tokens.map((t) => t.image))
      .toEqual('+= -> .. == != <= >= && || + - * / % ^ @ < > ! ? : ~ = , ; ( ) [ ] { }'.split(' '));
    expect(names('a+=b')).toEqual(['Identifier', 'PlusAssign', 'Identifier']);
    expect(names('k->k')).toEqual(['Identifier', 'Arrow', 'Identifier']);
  });

  it('reads numbers in every form the spec lists', () => {
    for (const n of ['3', '3.0', '.5', '1e-3', '2.5E+4', '007', '1e5', '.5e-7', '123456789']) {
      const toks = mixLexer.tokenize(n).tokens;
      expect(toks.map((t) => [t.tokenType.name, t.image]), n).toEqual([['NumberLiteral', n]]);
      expect(WELL_FORMED_NUMBER.test(n), n).toBe(true);
    }
  });

  it('sets isInt only for plain digit strings, and value to the number written', () => {
    const cases: [string, number, boolean][] = [['3', 3, true], ['3.0', 3, false], ['.5', 0.5, false], ['1e-3', 0.001, false], ['2.5E+4', 25000, false], ['3e0', 3, false]];
    for (const [text, value, isInt] of cases) expect(exprClean(text), text).toMatchObject({ kind: 'Num', value, isInt, text });
  });

  it('keeps a range apart from the numbers around it', () => {
    expect(mixLexer.tokenize('1..N').tokens.map((t) => t.image)).toEqual(['1', '..', 'N']);
    expect(mixLexer.tokenize('1.5..2').tokens.map((t) => t.image)).toEqual(['1.5', '..', '2']);
    expect(mixLexer.tokenize('0...5').tokens.map((t) => t.image)).toEqual(['0', '..', '.5']);
  });

  it('takes malformed tails into the number token (so they are reported once)', () => {
    expect(numberLength('1e+)', 0)).toBe(3);
    expect(numberLength('3. ', 0)).toBe(2);
    expect(numberLength('2x + 1', 0)).toBe(2);
    expect(numberLength('0x1F', 0)).toBe(4);
    expect(numberLength('1..2', 0)).toBe(1);
    expect(numberLength('.x', 0)).toBe(0);
    for (const bad of ['1e+', '3.', '2x', '0x1F', '1e5f']) expect(WELL_FORMED_NUMBER.test(bad), bad).toBe(false);
  });

  it('keeps comments in groups: doc comments apart from ordinary ones', () => {
    const r = mixLexer.tokenize('/// doc\n// plain\n/** block doc */\n/* block */\n/**/\n//// four\nx');
    expect(r.tokens.map((t) => t.image)).toEqual(['x']);
    expect((r.groups[DOC_GROUP] ?? []).map((t) => t.image)).toEqual(['/// doc', '/** block doc */']);
    expect((r.groups[COMMENT_GROUP] ?? []).map((t) => t.image)).toEqual(['// plain', '/* block */', '/**/', '//// four']);
  });

  it('reports an unexpected character once per run, with its position (E0001)', () => {
    expect(problems('model m {\n  let x = 1 $$ 2\n}')).toEqual(["E0001 2:13 unexpected characters '$$'"]);
    expect(problems('model m {\n  let x = a & b\n}')).toEqual(["E0001 2:13 unexpected character '&'"]);
  });

  it('shows control characters by code point', () => {
    expect(problems('model m {\n  let x = 1 \u0007\n}')).toEqual(["E0001 2:13 unexpected character 'U+0007'"]);
  });
});
