/**
 * Every token of the `.mix` language, in the order the lexer tries them.
 *
 * Whitespace (newlines included) is skipped: the grammar needs no statement
 * separators because every statement starts with a keyword or a name, and no
 * expression can continue with one. Comments are not skipped but kept in groups,
 * so that doc comments (`///` lines, `/** *\/` blocks) can be attached to the
 * `model` or declaration below them.
 */
import { createToken, Lexer } from 'chevrotain';
import type { CustomPatternMatcherReturn, TokenType } from 'chevrotain';

/** Lexer group of doc comments (`///`, `/** *\/`). */
export const DOC_GROUP = 'doc';
/** Lexer group of ordinary comments (`//`, `/* *\/`). */
export const COMMENT_GROUP = 'comment';
/** Lexer group of unterminated block comments (reported as errors). */
export const BAD_COMMENT_GROUP = 'badComment';

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  // \uFEFF: a byte-order mark some editors put at the start of a file.
  pattern: /[ \t\r\n\f\v\uFEFF]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

/** `/// text`: exactly three slashes (four or more is an ordinary comment, as in Rust). */
export const DocLineComment = createToken({ name: 'DocLineComment', pattern: /\/\/\/(?!\/)[^\n\r]*/, group: DOC_GROUP });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n\r]*/, group: COMMENT_GROUP });
/** `/** text *\/`; `/**\/` and `/*** ... *\/` are ordinary comments. */
export const DocBlockComment = createToken({
  name: 'DocBlockComment',
  pattern: /\/\*\*(?![*/])[\s\S]*?\*\//,
  group: DOC_GROUP,
  line_breaks: true,
});
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: COMMENT_GROUP, line_breaks: true });
/** A `/*` with no closing `*\/`: swallows the rest of the file, reported as E0007. */
export const UnterminatedComment = createToken({
  name: 'UnterminatedComment',
  pattern: /\/\*[\s\S]*/,
  group: BAD_COMMENT_GROUP,
  line_breaks: true,
});

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });

const keyword = (word: string): TokenType =>
  createToken({ name: word[0].toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });

export const Model = keyword('model');
export const Data = keyword('data');
export const Param = keyword('param');
export const Latent = keyword('latent');
export const Let = keyword('let');
export const For = keyword('for');
export const In = keyword('in');
export const Target = keyword('target');

/** The reserved words; every other identifier (type names, `lower`, `upper`) is an ordinary name. */
export const KEYWORDS: readonly string[] = ['model', 'data', 'param', 'latent', 'let', 'for', 'in', 'target'];

const isDigit = (c: number) => c >= 48 && c <= 57;
const isIdentChar = (c: number) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/**
 * Returns the length of the number literal at `offset` (0 if none), malformed tails
 * included, so that `1e+`, `3.` or `2x` come out as one token the parser accepts and
 * the front end reports once as E0004 instead of as a cascade of syntax errors.
 */
export function numberLength(text: string, offset: number): number {
  let i = offset;
  const n = text.length;
  const digits = () => { const s = i; while (i < n && isDigit(text.charCodeAt(i))) i++; return i - s; };
  if (isDigit(text.charCodeAt(i))) {
    digits();
    // `1.5` is a decimal; `1..N` is a range, so a dot followed by a dot is not ours.
    if (text[i] === '.' && text[i + 1] !== '.') {
      i++;
      digits();
    }
  } else if (text[i] === '.' && isDigit(text.charCodeAt(i + 1))) {
    i++;
    digits();
  } else {
    return 0;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') {
      // `1e+` with no digits after the sign is malformed; `1e-3` is fine.
      i++;
    }
    digits();
  }
  // Letters or digits glued to a number (`2x`, `1e5f`, `0x10`) make it malformed, not two tokens.
  while (i < n && isIdentChar(text.charCodeAt(i))) i++;
  return i - offset;
}

/** Matches a well-formed literal: `3`, `3.0`, `.5`, `1e-3`, `2.5E+4`. */
export const WELL_FORMED_NUMBER = /^(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?$/;

export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: (text: string, offset: number): CustomPatternMatcherReturn | null => {
    const len = numberLength(text, offset);
    return len > 0 ? [text.slice(offset, offset + len)] : null;
  },
  line_breaks: false,
  start_chars_hint: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.'],
  label: 'a number',
});

const punct = (name: string, text: string): TokenType =>
  createToken({ name, pattern: new RegExp(text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), label: `'${text}'` });

// Longer operators come before their prefixes (`+=` before `+`, `..` before a lone `.`).
export const PlusAssign = punct('PlusAssign', '+=');
export const Arrow = punct('Arrow', '->');
export const DotDot = punct('DotDot', '..');
export const EqEq = punct('EqEq', '==');
export const NotEq = punct('NotEq', '!=');
export const LtEq = punct('LtEq', '<=');
export const GtEq = punct('GtEq', '>=');
export const AndAnd = punct('AndAnd', '&&');
export const OrOr = punct('OrOr', '||');
export const Plus = punct('Plus', '+');
export const Minus = punct('Minus', '-');
export const Star = punct('Star', '*');
export const Slash = punct('Slash', '/');
export const Percent = punct('Percent', '%');
export const Caret = punct('Caret', '^');
export const At = punct('At', '@');
export const Lt = punct('Lt', '<');
export const Gt = punct('Gt', '>');
export const Bang = punct('Bang', '!');
export const Question = punct('Question', '?');
export const Colon = punct('Colon', ':');
export const Tilde = punct('Tilde', '~');
export const Equals = punct('Equals', '=');
export const Comma = punct('Comma', ',');
export const Semicolon = punct('Semicolon', ';');
export const LParen = punct('LParen', '(');
export const RParen = punct('RParen', ')');
export const LBracket = punct('LBracket', '[');
export const RBracket = punct('RBracket', ']');
export const LCurly = punct('LCurly', '{');
export const RCurly = punct('RCurly', '}');

/** All token types, in lexing priority order. */
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  DocLineComment, LineComment, DocBlockComment, BlockComment, UnterminatedComment,
  Model, Data, Param, Latent, Let, For, In, Target,
  Identifier,
  NumberLiteral,
  PlusAssign, Arrow, DotDot, EqEq, NotEq, LtEq, GtEq, AndAnd, OrOr,
  Plus, Minus, Star, Slash, Percent, Caret, At, Lt, Gt, Bang, Question, Colon, Tilde, Equals, Comma, Semicolon,
  LParen, RParen, LBracket, RBracket, LCurly, RCurly,
];

/** The lexer; `ensureOptimizations` makes a grammar change that disables chevrotain's first-char optimisation fail loudly. */
export const mixLexer = new Lexer(ALL_TOKENS, {
  positionTracking: 'full',
  ensureOptimizations: true,
});
