/**
 * The TextMate grammar for editors (grammar/mix.tmLanguage.json), run through the engine
 * VS Code uses (vscode-textmate with the oniguruma wasm):
 * - on every stdlib, example and good golden model, no text is left unscoped but
 *   whitespace and names, and nothing is marked invalid;
 * - on the same files (and a synthetic file with every token kind), the grammar agrees
 *   with the project's chevrotain lexer, character by character and on token boundaries;
 * - its lists of keywords, type bases, distribution families, combinators and built-in
 *   functions are exactly those of the code, so a new family or function fails here
 *   until the grammar lists it;
 * - hand-written snippets get exactly the expected scopes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vsctm from 'vscode-textmate';
import * as oniguruma from 'vscode-oniguruma';
import type { IToken, TokenType } from 'chevrotain';
import {
  ALL_TOKENS, KEYWORDS, WELL_FORMED_NUMBER, WhiteSpace, mixLexer,
  DocLineComment, DocBlockComment, LineComment, BlockComment, UnterminatedComment,
  Identifier, NumberLiteral, Lt, Gt, Colon,
  Comma, Semicolon, LParen, RParen, LBracket, RBracket, LCurly, RCurly,
} from '../../src/parser/tokens';
import { distributionNames } from '../../src/distributions/registry';
import { functionNames } from '../../src/check/functions';
import { TYPE_BASES } from '../../src/check/declarations';
import { COMBINATORS } from '../../src/check/distributions';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const grammarPath = join(root, 'grammar', 'mix.tmLanguage.json');
const grammarText = readFileSync(grammarPath, 'utf8');

interface Rule { match?: string; name?: string; patterns?: Rule[] }
const rawGrammar = JSON.parse(grammarText) as { scopeName: string; fileTypes: string[]; repository: Record<string, Rule> };

// ---------------------------------------------------------------------------
// Tokenizing with vscode-textmate

let onigLoaded: Promise<void> | undefined;

/** Loads a grammar from its JSON text into a fresh registry (the oniguruma wasm is loaded once). */
async function loadGrammar(json: string): Promise<vsctm.IGrammar> {
  onigLoaded ??= (async () => {
    const wasm = readFileSync(createRequire(import.meta.url).resolve('vscode-oniguruma/release/onig.wasm'));
    await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  })();
  await onigLoaded;
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName: string) => (scopeName === 'source.mix' ? vsctm.parseRawGrammar(json, grammarPath) : null),
  });
  const g = await registry.loadGrammar('source.mix');
  if (!g) throw new Error('the grammar did not load');
  return g;
}

let grammar: vsctm.IGrammar;

beforeAll(async () => {
  grammar = await loadGrammar(grammarText);
});

/** One grammar token: global offsets [start, end) in the text and its scope stack. */
interface TmToken { start: number; end: number; text: string; scopes: string[] }

/** Tokenizes a whole text line by line, carrying the rule stack; offsets are global. */
function tokenize(text: string, g: vsctm.IGrammar = grammar): TmToken[] {
  const out: TmToken[] = [];
  let stack = vsctm.INITIAL;
  let offset = 0;
  for (const line of text.split('\n')) {
    const r = g.tokenizeLine(line, stack);
    for (const t of r.tokens) {
      const end = Math.min(t.endIndex, line.length);
      if (end > t.startIndex) out.push({ start: offset + t.startIndex, end: offset + end, text: line.slice(t.startIndex, end), scopes: t.scopes });
    }
    stack = r.ruleStack;
    offset += line.length + 1;
  }
  return out;
}

/** The scope that colours a token: its innermost one that is not `source.mix` or a `meta.*` scope; '' when none. */
function leaf(scopes: string[]): string {
  const s = scopes.filter((x) => x !== 'source.mix' && !x.startsWith('meta.'));
  return s[s.length - 1] ?? '';
}

/** The non-blank tokens of a text as `text => scopes`, without `source.mix` and `meta.*` ('' for unscoped). */
function scoped(text: string): string[] {
  return tokenize(text).filter((t) => t.text.trim() !== '')
    .map((t) => `${t.text.trim()} => ${t.scopes.filter((x) => x !== 'source.mix' && !x.startsWith('meta.')).join(' ')}`);
}

/** The leaf scope of the first grammar token whose text is `word` (throws when there is none). */
function scopeOf(text: string, word: string): string {
  const t = tokenize(text).find((x) => x.text === word);
  if (!t) throw new Error(`no token '${word}' in ${JSON.stringify(text)}: ${scoped(text).join(' | ')}`);
  return leaf(t.scopes);
}

// ---------------------------------------------------------------------------
// Comparing with the chevrotain lexer

/** What a character is, read off the grammar's scopes. */
type Kind = 'doc' | 'comment' | 'keyword' | 'operator' | 'number' | 'bad-number' | 'punctuation' | 'name' | 'plain' | 'other';

function kindOf(scopes: string[]): Kind {
  // A comment's markers (`punctuation.definition.comment`) are part of the comment.
  if (scopes.some((x) => /^comment\.(line|block)\.documentation\./.test(x))) return 'doc';
  if (scopes.some((x) => x.startsWith('comment.'))) return 'comment';
  const s = leaf(scopes);
  if (s === '') return 'plain';
  if (s.startsWith('invalid.illegal.numeric.')) return 'bad-number';
  if (s.startsWith('constant.numeric.')) return 'number';
  if (s.startsWith('keyword.operator.')) return 'operator';
  if (/^(storage\.type|keyword\.control|keyword\.other)\./.test(s)) return 'keyword';
  if (s.startsWith('punctuation.')) return 'punctuation';
  if (/^(support|entity\.name|variable)\./.test(s)) return 'name';
  return 'other';
}

const KEYWORD_TYPES = new Set(KEYWORDS.map((k) => k[0].toUpperCase() + k.slice(1)));
const COMMENTS: TokenType[] = [DocLineComment, LineComment, DocBlockComment, BlockComment, UnterminatedComment];
const PUNCTUATION: TokenType[] = [Comma, Semicolon, LParen, RParen, LBracket, RBracket, LCurly, RCurly];

/** True when only blanks precede `offset` on its line (the lexer's rule for a doc comment). */
function startsLine(text: string, offset: number): boolean {
  const before = text.slice(text.lastIndexOf('\n', offset - 1) + 1, offset);
  return /^[ \t\r\uFEFF]*$/.test(before);
}

/** The kinds of grammar scope a lexer token may get. */
function expectedKinds(text: string, t: IToken): Kind[] {
  const type = t.tokenType;
  if (type === DocLineComment || type === DocBlockComment) return [startsLine(text, t.startOffset) ? 'doc' : 'comment'];
  if (COMMENTS.includes(type)) return ['comment'];
  if (KEYWORD_TYPES.has(type.name)) return ['keyword'];
  if (type === Identifier) return ['name', 'plain'];
  if (type === NumberLiteral) return [WELL_FORMED_NUMBER.test(t.image) ? 'number' : 'bad-number'];
  // `<` `>` are comparisons in expressions but the brackets of bounds in a type; `:` is
  // the ternary's in an expression but separates a declared name from its type.
  if (type === Lt || type === Gt || type === Colon) return ['operator', 'punctuation'];
  if (PUNCTUATION.includes(type)) return ['punctuation'];
  return ['operator'];
}

/**
 * Returns every disagreement between the grammar and the lexer on `text`: a character
 * whose grammar kind is not one its lexer token allows (blanks between tokens must be
 * plain), a lexer token that does not start and end on grammar token boundaries, and
 * one that the grammar splits (so `..` is one token, not two dots, and `in2` is one name,
 * not `in` and `2`); only a comment may be split, into its markers and its text.
 */
function disagreements(text: string, g: vsctm.IGrammar = grammar): string[] {
  const lexed = mixLexer.tokenize(text);
  expect(lexed.errors, 'the lexer reads the whole file').toEqual([]);
  const lexTokens = [...lexed.tokens, ...Object.values(lexed.groups).flat()].sort((a, b) => a.startOffset - b.startOffset);
  const tm = tokenize(text, g);
  const kinds: (Kind | undefined)[] = new Array(text.length).fill(undefined);
  const boundaries = new Set<number>();
  for (const t of tm) {
    for (let i = t.start; i < t.end; i++) kinds[i] = kindOf(t.scopes);
    boundaries.add(t.start);
    boundaries.add(t.end);
  }
  const where = (offset: number) => {
    const line = text.slice(0, offset).split('\n').length;
    return `${line}:${offset - text.lastIndexOf('\n', offset - 1)}`;
  };
  const problems: string[] = [];
  const covered = new Array(text.length).fill(false);
  for (const t of lexTokens) {
    const end = t.startOffset + t.image.length;
    const allowed = expectedKinds(text, t);
    const label = `${t.tokenType.name} '${t.image.split('\n')[0]}' at ${where(t.startOffset)}`;
    for (let i = t.startOffset; i < end; i++) covered[i] = true;
    for (let i = t.startOffset; i < end; i++) {
      if (text[i] === '\n') continue;
      const k = kinds[i] ?? 'plain';
      if (!allowed.includes(k)) {
        problems.push(`${label}: grammar says ${k}, expected ${allowed.join(' or ')}`);
        break;
      }
    }
    if (!boundaries.has(t.startOffset) || !boundaries.has(end)) problems.push(`${label}: not a whole grammar token`);
    else if (!COMMENTS.includes(t.tokenType)) {
      for (let i = t.startOffset + 1; i < end; i++) {
        if (boundaries.has(i)) {
          problems.push(`${label}: split by the grammar at ${where(i)}`);
          break;
        }
      }
    }
  }
  for (let i = 0; i < text.length; i++) {
    if (!covered[i] && text[i] !== '\n' && (kinds[i] ?? 'plain') !== 'plain') problems.push(`blank at ${where(i)}: grammar says ${kinds[i]}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// The corpus

function mixFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? mixFiles(p) : e.name.endsWith('.mix') ? [p] : [];
  });
}

const corpus = [
  ...mixFiles(join(root, 'stdlib')),
  ...mixFiles(join(root, 'examples')),
  ...mixFiles(join(root, 'test', 'golden', 'good')),
].sort().map((p) => [relative(root, p), readFileSync(p, 'utf8')] as const);

/** Every kind of token, in the places where the grammar's rules could get it wrong. */
const KITCHEN_SINK = `\uFEFF/// A doc line.
//// four slashes: ordinary
/** A doc block,
  * over lines. */
/**/ /*** ordinary */ /* ordinary,
   over lines */
  /// indented doc
model sink { /// trailing: ordinary
  data K: int<lower=1, upper=10>[3] // comment after a type
  data x: real<lower=-1.5e-3,
               upper=2.5E+4>[N, K]
  param mu: ordered[K - 1]; param s: cholesky_corr[K, K]
  latent z: int[N]
  data vector: matrix[2]
  let models = in2 + data2 * target_ + _in ^ .5 - 007 / 1e5 % 2
  let b = (K >= 1 && K <= 2 || !(K == 3) && K != 4) ? [1, 2] : [3, 4]
  let c = K < 2 ? 1 : K > 3 ? 2 : 3
  let m = x @ transpose(x)
  for n in 1..N {
    z[n] ~ categorical(softmax(mu))
    x[n] ~ mixture(rep(1.0, 2), k -> truncated(normal(mu[k], 1), -1, 1))
  }
  target += -0.5 * sum(square(mu))
  let bad = 1e+ + 3. + 2x + 1.e5
}
/* unterminated`;

// ---------------------------------------------------------------------------
// The lists of names in the grammar

/** The words of the first `\b(?:a|b|c)\b` alternation in a rule's regex. */
function words(regex: string | undefined): string[] {
  const m = regex?.match(/\\b\(\?:([A-Za-z0-9_|]+)\)\\b/);
  if (!m) throw new Error(`no word list in ${regex}`);
  return m[1].split('|');
}

/** The sub-rule of a repository entry whose scope is `name`. */
function ruleNamed(entry: string, name: string): Rule {
  const r = rawGrammar.repository[entry].patterns?.find((p) => p.name === name);
  if (!r) throw new Error(`no rule ${name} in #${entry}`);
  return r;
}

const sorted = (xs: readonly string[]) => [...xs].sort();
const alternation = (xs: readonly string[]) => `\\b(?:${xs.join('|')})\\b`;

// ---------------------------------------------------------------------------

describe('TextMate grammar: the corpus', () => {
  it('covers the stdlib, the examples and the good golden files', () => {
    expect(rawGrammar.scopeName).toBe('source.mix');
    expect(rawGrammar.fileTypes).toEqual(['mix']);
    const names = corpus.map(([p]) => p);
    expect(names.filter((p) => p.startsWith('stdlib/')).length).toBeGreaterThanOrEqual(15);
    expect(names.filter((p) => p.startsWith('examples/')).length).toBeGreaterThanOrEqual(4);
  });

  /*
   * What may be left unscoped: a token whose scopes are only `source.mix` and `meta.*`
   * scopes must be blanks and names ([A-Za-z_][A-Za-z0-9_]*) and nothing else, so every
   * number, operator, bracket, comment and keyword gets a scope. Nothing in a valid file
   * may be `invalid.*`.
   */
  it.each(corpus)('%s: nothing but blanks and names is unscoped, nothing is invalid', (_, text) => {
    const bad: string[] = [];
    for (const t of tokenize(text)) {
      if (t.scopes.some((s) => s.startsWith('invalid.'))) bad.push(`invalid: '${t.text}' ${t.scopes.join(' ')}`);
      if (leaf(t.scopes) === '') {
        for (const piece of t.text.split(/[ \t\r\uFEFF]+/).filter(Boolean)) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(piece)) bad.push(`unscoped: '${piece}' in '${t.text}'`);
        }
      }
      if (kindOf(t.scopes) === 'other') bad.push(`unexpected scope: '${t.text}' ${t.scopes.join(' ')}`);
    }
    expect(bad).toEqual([]);
  });

  it.each(corpus)('%s: agrees with the lexer on every token', (_, text) => {
    expect(disagreements(text)).toEqual([]);
  });

  it('agrees with the lexer on a file with every token kind, doc and malformed ones included', () => {
    expect(disagreements(KITCHEN_SINK)).toEqual([]);
    // The file holds every token type of the lexer and gets every kind of scope.
    const kinds = new Set(tokenize(KITCHEN_SINK).map((t) => kindOf(t.scopes)));
    expect([...kinds].sort()).toEqual(['bad-number', 'comment', 'doc', 'keyword', 'name', 'number', 'operator', 'plain', 'punctuation']);
    const lexed = mixLexer.tokenize(KITCHEN_SINK);
    const types = new Set([...lexed.tokens, ...Object.values(lexed.groups).flat()].map((t) => t.tokenType.name));
    expect([...types].sort()).toEqual(ALL_TOKENS.filter((t) => t !== WhiteSpace).map((t) => t.name).sort());
  });

  it('the agreement check fails on a grammar that is wrong', async () => {
    // Drop `target` from the keywords, split `..` into two dots, and let a keyword match
    // the start of a longer name: the check must see all three.
    const replace = (text: string, from: string, to: string) => {
      expect(text, from).toContain(from);
      return text.replace(from, to);
    };
    let broken = replace(grammarText, '"match": "\\\\btarget\\\\b"', '"match": "\\\\bno_such_word\\\\b"');
    broken = replace(broken, '"match": "\\\\.\\\\."', '"match": "\\\\."');
    broken = replace(broken, '"match": "\\\\b(?:model|data|param|latent|let)\\\\b"', '"match": "\\\\b(?:model|data|param|latent|let)"');
    const g = await loadGrammar(broken);
    expect(disagreements('model m { for n in 1..N { target += data2 } }', g)).toEqual([
      "DotDot '..' at 1:21: split by the grammar at 1:22",
      "Target 'target' at 1:27: grammar says plain, expected keyword",
      "Identifier 'data2' at 1:37: grammar says keyword, expected name or plain",
      "Identifier 'data2' at 1:37: not a whole grammar token",
    ]);
    expect(disagreements('model m { for n in 1..N { target += data2 } }')).toEqual([]);
  });
});

describe('TextMate grammar: its lists are the code\'s', () => {
  const distributions = ruleNamed('calls', 'support.function.distribution.mix');
  const combinators = ruleNamed('calls', 'support.function.combinator.mix');
  const builtins = ruleNamed('calls', 'support.function.builtin.mix');

  it('lists every distribution family of the registry, and nothing else', () => {
    const help = `update #calls in grammar/mix.tmLanguage.json to ${alternation(distributionNames())}`;
    expect(sorted(words(distributions.match)), help).toEqual(sorted(distributionNames()));
    for (const name of distributionNames()) {
      expect(scopeOf(`y ~ ${name}(1, 2)`, name), name).toBe('support.function.distribution.mix');
      expect(scopeOf(`y[n] ~ mixture(w, k -> ${name}(a[k]))`, name), name).toBe('support.function.distribution.mix');
      expect(scopeOf(`y ~ censored(${name}(a), lo, hi)`, name), name).toBe('support.function.distribution.mix');
    }
  });

  it('lists the combinators', () => {
    expect(sorted(words(combinators.match))).toEqual(sorted(COMBINATORS));
    for (const name of COMBINATORS) expect(scopeOf(`y ~ ${name}(w, lo)`, name), name).toBe('support.function.combinator.mix');
  });

  it('lists every built-in function of the functions table, and nothing else', () => {
    const help = `update #calls in grammar/mix.tmLanguage.json to ${alternation(functionNames())}`;
    expect(sorted(words(builtins.match)), help).toEqual(sorted(functionNames()));
    for (const name of functionNames()) {
      expect(scopeOf(`let v = ${name}(x, 1)`, name), name).toBe('support.function.builtin.mix');
      expect(scopeOf(`y ~ normal(${name}(x), 1)`, name), name).toBe('support.function.builtin.mix');
    }
  });

  it('lists every type base, and nothing else', () => {
    const bases = Object.keys(TYPE_BASES);
    expect(sorted(words(rawGrammar.repository['type-names'].match)), `update #type-names to ${alternation(bases)}`).toEqual(sorted(bases));
    for (const name of bases) {
      expect(scopeOf(`param v: ${name}[K]`, name), name).toBe('support.type.mix');
      expect(scopeOf(`data v: ${name}`, name), name).toBe('support.type.mix');
    }
  });

  it('lists the reserved words, in the keyword rules and in every name that excludes them', () => {
    const kw = rawGrammar.repository.keywords.patterns ?? [];
    const listed = kw.flatMap((r) => (r.match?.includes('(?:') ? words(r.match) : [r.match?.replace(/\\b/g, '') ?? '']));
    expect(sorted(listed)).toEqual(sorted(KEYWORDS));
    const exclusions = [...grammarText.matchAll(/\(\?!\(\?:([a-z|]+)\)\\\\b\)/g)].map((m) => m[1]);
    expect(exclusions.length).toBeGreaterThanOrEqual(5);
    for (const e of exclusions) expect(sorted(e.split('|'))).toEqual(sorted(KEYWORDS));
    for (const k of KEYWORDS) expect(kindOf(tokenize(`${k}`)[0].scopes), k).toBe('keyword');
  });

  it('has no name in two lists (the scope of a call would be ambiguous)', () => {
    const all = [...distributionNames(), ...COMBINATORS, ...functionNames(), ...KEYWORDS];
    expect(all.length).toBe(new Set(all).size);
  });
});

describe('TextMate grammar: snippets', () => {
  it('scopes a model header and declarations with bounds and dims', () => {
    expect(scoped('model gmm {\n  data K: int<lower=1>\n  param mu: real[K, D] // means\n}')).toEqual([
      'model => storage.type.mix', 'gmm => entity.name.type.model.mix', '{ => punctuation.section.braces.begin.mix',
      'data => storage.type.mix', 'K => variable.other.definition.mix', ': => punctuation.separator.type.mix', 'int => support.type.mix',
      '< => punctuation.definition.bounds.begin.mix', 'lower => variable.parameter.bound.mix', '= => keyword.operator.assignment.mix',
      '1 => constant.numeric.mix', '> => punctuation.definition.bounds.end.mix',
      'param => storage.type.mix', 'mu => variable.other.definition.mix', ': => punctuation.separator.type.mix', 'real => support.type.mix',
      '[ => punctuation.section.brackets.begin.mix', 'K => ', ', => punctuation.separator.comma.mix', 'D => ',
      '] => punctuation.section.brackets.end.mix',
      '// => comment.line.double-slash.mix punctuation.definition.comment.mix', 'means => comment.line.double-slash.mix',
      '} => punctuation.section.braces.end.mix',
    ]);
    const bound = tokenize('data y: int<lower=0, upper=K>[N]').find((t) => t.text === 'upper');
    expect(bound?.scopes).toEqual(['source.mix', 'meta.declaration.mix', 'meta.bounds.mix', 'variable.parameter.bound.mix']);
  });

  it('keeps bounds open over a line break, and closes the declaration after the type', () => {
    expect(scoped('data a: real<lower=-1,\n  upper=1>[K]\nlet b = a < 1')).toEqual([
      'data => storage.type.mix', 'a => variable.other.definition.mix', ': => punctuation.separator.type.mix', 'real => support.type.mix',
      '< => punctuation.definition.bounds.begin.mix', 'lower => variable.parameter.bound.mix', '= => keyword.operator.assignment.mix',
      '- => keyword.operator.arithmetic.mix', '1 => constant.numeric.mix', ', => punctuation.separator.comma.mix',
      'upper => variable.parameter.bound.mix', '= => keyword.operator.assignment.mix', '1 => constant.numeric.mix',
      '> => punctuation.definition.bounds.end.mix', '[ => punctuation.section.brackets.begin.mix', 'K => ', '] => punctuation.section.brackets.end.mix',
      'let => storage.type.mix', 'b => variable.other.definition.mix', '= => keyword.operator.assignment.mix', 'a => ',
      '< => keyword.operator.comparison.mix', '1 => constant.numeric.mix',
    ]);
    // An unknown type (E0204) is not a support type; a type name used as a name is not either.
    expect(scopeOf('data v: vector[N]', 'vector')).toBe('');
    expect(scopeOf('let real2 = real + 1', 'real')).toBe('');
  });

  it('scopes a mixture statement', () => {
    expect(scoped('y[n] ~ mixture(w, k -> normal(mu[k], sigma[k]))')).toEqual([
      'y => ', '[ => punctuation.section.brackets.begin.mix', 'n => ', '] => punctuation.section.brackets.end.mix',
      '~ => keyword.operator.tilde.mix', 'mixture => support.function.combinator.mix', '( => punctuation.section.parens.begin.mix',
      'w => ', ', => punctuation.separator.comma.mix', 'k => variable.parameter.mix', '-> => keyword.operator.arrow.mix',
      'normal => support.function.distribution.mix', '( => punctuation.section.parens.begin.mix',
      'mu => ', '[ => punctuation.section.brackets.begin.mix', 'k => ', '] => punctuation.section.brackets.end.mix',
      ', => punctuation.separator.comma.mix',
      'sigma => ', '[ => punctuation.section.brackets.begin.mix', 'k => ', '] => punctuation.section.brackets.end.mix',
      ') => punctuation.section.parens.end.mix', ') => punctuation.section.parens.end.mix',
    ]);
  });

  it('scopes loops, ranges, target and the operators', () => {
    expect(scoped('for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }')).toEqual([
      'for => keyword.control.mix', 't => variable.other.loop.mix', 'in => keyword.control.mix', '2 => constant.numeric.mix',
      '.. => keyword.operator.range.mix', 'T => ', '{ => punctuation.section.braces.begin.mix',
      'z => ', '[ => punctuation.section.brackets.begin.mix', 't => ', '] => punctuation.section.brackets.end.mix',
      '~ => keyword.operator.tilde.mix', 'categorical => support.function.distribution.mix', '( => punctuation.section.parens.begin.mix',
      'A => ', '[ => punctuation.section.brackets.begin.mix', 'z => ', '[ => punctuation.section.brackets.begin.mix', 't => ',
      '- => keyword.operator.arithmetic.mix', '1 => constant.numeric.mix', '] => punctuation.section.brackets.end.mix',
      '] => punctuation.section.brackets.end.mix', ') => punctuation.section.parens.end.mix', '} => punctuation.section.braces.end.mix',
    ]);
    expect(scoped('target += -0.5 * sum(square(mu)); let b = x @ y >= 1 && !c || d != e ? 1.0 : 0.0')).toEqual([
      'target => keyword.other.target.mix', '+= => keyword.operator.assignment.compound.mix', '- => keyword.operator.arithmetic.mix',
      '0.5 => constant.numeric.mix', '* => keyword.operator.arithmetic.mix', 'sum => support.function.builtin.mix',
      '( => punctuation.section.parens.begin.mix', 'square => support.function.builtin.mix', '( => punctuation.section.parens.begin.mix',
      'mu => ', ') => punctuation.section.parens.end.mix', ') => punctuation.section.parens.end.mix', '; => punctuation.terminator.statement.mix',
      'let => storage.type.mix', 'b => variable.other.definition.mix', '= => keyword.operator.assignment.mix', 'x => ',
      '@ => keyword.operator.arithmetic.mix', 'y => ', '>= => keyword.operator.comparison.mix', '1 => constant.numeric.mix',
      '&& => keyword.operator.logical.mix', '! => keyword.operator.logical.mix', 'c => ', '|| => keyword.operator.logical.mix',
      'd => ', '!= => keyword.operator.comparison.mix', 'e => ', '? => keyword.operator.ternary.mix', '1.0 => constant.numeric.mix',
      ': => keyword.operator.ternary.mix', '0.0 => constant.numeric.mix',
    ]);
  });

  it('tells doc comments from ordinary ones as the parser does', () => {
    expect(scoped('/// doc\n  /// indented doc\n//// four\nmodel m { /// trailing\n/**/ /** after code */\n/** doc\n  block */\n/*** not doc */ }')).toEqual([
      '/// => comment.line.documentation.mix punctuation.definition.comment.mix', 'doc => comment.line.documentation.mix',
      '/// => comment.line.documentation.mix punctuation.definition.comment.mix', 'indented doc => comment.line.documentation.mix',
      '// => comment.line.double-slash.mix punctuation.definition.comment.mix', '// four => comment.line.double-slash.mix',
      'model => storage.type.mix', 'm => entity.name.type.model.mix', '{ => punctuation.section.braces.begin.mix',
      '// => comment.line.double-slash.mix punctuation.definition.comment.mix', '/ trailing => comment.line.double-slash.mix',
      '/* => comment.block.mix punctuation.definition.comment.begin.mix', '*/ => comment.block.mix punctuation.definition.comment.end.mix',
      '/* => comment.block.mix punctuation.definition.comment.begin.mix', '* after code => comment.block.mix',
      '*/ => comment.block.mix punctuation.definition.comment.end.mix',
      '/** => comment.block.documentation.mix punctuation.definition.comment.begin.mix',
      'doc => comment.block.documentation.mix', 'block => comment.block.documentation.mix',
      '*/ => comment.block.documentation.mix punctuation.definition.comment.end.mix',
      '/* => comment.block.mix punctuation.definition.comment.begin.mix', '** not doc => comment.block.mix',
      '*/ => comment.block.mix punctuation.definition.comment.end.mix',
      '} => punctuation.section.braces.end.mix',
    ]);
  });

  it('scopes numbers as the lexer reads them, malformed ones as invalid', () => {
    expect(scoped('3 3.0 .5 1e-3 2.5E+4 007 1..N')).toEqual([
      '3 => constant.numeric.mix', '3.0 => constant.numeric.mix', '.5 => constant.numeric.mix', '1e-3 => constant.numeric.mix',
      '2.5E+4 => constant.numeric.mix', '007 => constant.numeric.mix', '1 => constant.numeric.mix', '.. => keyword.operator.range.mix', 'N => ',
    ]);
    expect(scoped('1e+ 3. 2x 1.5e')).toEqual([
      '1e+ => invalid.illegal.numeric.mix', '3. => invalid.illegal.numeric.mix', '2x => invalid.illegal.numeric.mix', '1.5e => invalid.illegal.numeric.mix',
    ]);
  });

  it('does not scope names that merely start with a keyword or look like a call', () => {
    expect(scoped('models in2 data_x x2 normal[1] sum + log')).toEqual([
      'models => ', 'in2 => ', 'data_x => ', 'x2 => ', 'normal => ', '[ => punctuation.section.brackets.begin.mix', '1 => constant.numeric.mix',
      '] => punctuation.section.brackets.end.mix', 'sum => ', '+ => keyword.operator.arithmetic.mix', 'log => ',
    ]);
  });
});
