/**
 * parse(): `.mix` text -> AST and syntax diagnostics.
 *
 * Never throws and never hangs: lexer and parser errors become Diagnostics (codes in
 * ./codes.ts), the parser's recovery is bounded by a step budget, and an AST is
 * returned whenever any of the model could be read (statements with syntax errors
 * are left out of it).
 */
import type { IToken } from 'chevrotain';
import { tokenMatcher } from 'chevrotain';
import type { Diagnostic } from '../diagnostics/diagnostic';
import type { Source, Span } from '../diagnostics/span';
import type { Expr, Program } from '../ast/nodes';
import * as T from './tokens';
import { LineIndex } from './line-index';
import { MixParser, ParseAbort, mixParser } from './parser';
import { BracketContext, MAX_NESTING, isEof } from './messages';
import type { MessageRecord, Opener } from './messages';
import { AstBuilder } from './cst-to-ast';
import { parseCodeOf } from './codes';
import type { ParseCodeId } from './codes';
import { docComments } from './docs';

export { PARSE_CODES, parseCodeOf } from './codes';
export type { ParseCodeId } from './codes';
export { KEYWORDS } from './tokens';

/** The result of parse(): the AST when one could be built, and every syntax diagnostic. */
export interface ParseResult {
  program?: Program;
  diagnostics: Diagnostic[];
}

/** Returns the AST of a `.mix` file and its syntax diagnostics (never throws). */
export function parse(source: Source): ParseResult {
  const r = run(source, (p) => p.program(), (b, cst) => b.program(cst));
  return { program: r.node, diagnostics: r.diagnostics };
}

/** Returns the AST of a single expression (e.g. `-x ^ 2`) and its syntax diagnostics (never throws). */
export function parseExpression(source: Source): { expr?: Expr; diagnostics: Diagnostic[] } {
  const r = run(source, (p) => p.expression(), (b, cst) => b.expr(cst));
  return { expr: r.node, diagnostics: r.diagnostics };
}

/** At most this many syntax errors are reported; past it the parser stops. */
const MAX_ERRORS = 100;

type Rule = ReturnType<MixParser['program']>;

/** Returns the node built by `build` from the CST of `rule`, and every diagnostic of lexing, parsing and building. */
function run<N>(source: Source, rule: (p: MixParser) => Rule, build: (b: AstBuilder, cst: Rule) => N | undefined): { node?: N; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const text = typeof source?.text === 'string' ? source.text : '';
  const lines = new LineIndex(text);
  const err = (id: ParseCodeId, message: string, span?: Span, help?: string, notes?: Diagnostic['notes']): Diagnostic => ({
    severity: 'error', code: parseCodeOf(id), message, ...(span ? { span } : {}), ...(help ? { help } : {}), ...(notes ? { notes } : {}),
  });
  try {
    if (typeof source?.text !== 'string') {
      return { diagnostics: [err('Internal', 'parse() was given no source text')] };
    }
    const lexed = T.mixLexer.tokenize(text);
    const tokens = lexed.tokens;
    for (const e of lexed.errors) {
      const len = Math.max(1, e.length);
      diagnostics.push(unexpectedCharacter(text.slice(e.offset, e.offset + len), lines.span(e.offset, e.offset + len), err));
    }
    const bad = (lexed.groups[T.BAD_COMMENT_GROUP] ?? []) as IToken[];
    for (const c of bad) {
      diagnostics.push(err('UnterminatedComment', "unterminated block comment: this '/*' has no closing '*/'",
        lines.span(c.startOffset, c.startOffset + 2), "close it with '*/'; the rest of the file was read as part of the comment"));
    }
    for (const t of tokens) {
      if (t.tokenType === T.NumberLiteral && !T.WELL_FORMED_NUMBER.test(t.image)) {
        diagnostics.push(err('MalformedNumber', `malformed number '${t.image}'`, lines.span(t.startOffset, t.endOffset! + 1), numberHelp(t.image)));
      }
    }

    const parser = mixParser();
    const context = new BracketContext(tokens, lines);
    if (context.tooDeep) {
      const t = context.tooDeep;
      diagnostics.push(err('TooComplex', `brackets nested more than ${MAX_NESTING} levels deep`, lines.span(t.startOffset, t.startOffset + 1),
        'split the expression with let statements'));
      return { diagnostics: inSourceOrder(diagnostics) };
    }
    parser.messages.reset(context);
    parser.input = tokens;
    parser.resetGuard(tokens.length);
    let cst: Rule | undefined;
    let overflow = false;
    let aborted = false;
    try {
      cst = rule(parser);
    } catch (e) {
      overflow = e instanceof RangeError;
      aborted = e instanceof ParseAbort;
      if (e instanceof ParseAbort) {
        diagnostics.push(err('TooComplex', e.reason === 'errors'
          ? 'too many syntax errors: the parser stopped; fix the first ones and try again'
          : 'the parser gave up on this input (it kept recovering from errors without progress)'));
      } else if (e instanceof RangeError) {
        diagnostics.push(err('TooComplex', 'the input is nested too deeply to parse', undefined, 'split deep expressions with let statements'));
      } else {
        throw e;
      }
    }
    const anchors = new Map<Diagnostic, number>();
    // After a stack overflow the parser's errors describe its broken state, not the input.
    if (!overflow) diagnostics.push(...syntaxDiagnostics(parser, context, lines, bad.length > 0, err, anchors, !aborted));

    let node: N | undefined;
    if (cst) {
      const docs = docComments(text, tokens, [
        ...((lexed.groups[T.DOC_GROUP] ?? []) as IToken[]),
        ...((lexed.groups[T.COMMENT_GROUP] ?? []) as IToken[]),
      ]);
      const builder = new AstBuilder(lines, docs);
      try {
        node = build(builder, cst);
      } catch (e) {
        diagnostics.push(e instanceof RangeError
          ? err('TooComplex', 'the input is nested too deeply to parse', undefined, 'split deep expressions with let statements')
          : err('Internal', `internal parser error: ${(e as Error)?.message} (this is a bug in mixppl; please report it)`));
      }
      diagnostics.push(...builder.diagnostics);
    }
    if (node === undefined && !diagnostics.some((d) => d.severity === 'error')) {
      diagnostics.push(err('SyntaxError', "expected 'model NAME { ... }'", lines.span(0, 0)));
    }
    return { node, diagnostics: inSourceOrder(dropCascades(diagnostics, lines, anchors)) };
  } catch (e) {
    // Only a bug gets here; the caller gets a diagnostic instead of a stack trace.
    diagnostics.push(err('Internal', `internal parser error: ${(e as Error)?.message ?? String(e)} (this is a bug in mixppl; please report it)`));
    return { diagnostics };
  }
}

type ErrFn = (id: ParseCodeId, message: string, span?: Span, help?: string, notes?: Diagnostic['notes']) => Diagnostic;

/** Returns the parser's errors as diagnostics, with codes, spans, notes and help. */
function syntaxDiagnostics(
  parser: MixParser, context: BracketContext, lines: LineIndex, unterminatedComment: boolean, err: ErrFn, anchors: Map<Diagnostic, number>,
  sayIfCapped: boolean,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const records = [...parser.messages.records];
  const eofSpan = lines.span(lines.text.length, lines.text.length);
  let reportedEof = false;
  for (const e of parser.errors.slice(0, MAX_ERRORS)) {
    const i = records.findIndex((r) => r.message === e.message && r.actual === e.token);
    const rec: MessageRecord | undefined = i >= 0 ? records.splice(i, 1)[0] : undefined;
    const tok = e.token;
    const atEof = isEof(tok);
    // An unterminated comment ate the rest of the file: what the parser misses at the end follows from it.
    if (atEof && unterminatedComment) continue;
    if (atEof) {
      // Recovery at the end of input can only repeat itself; the first error there says it.
      if (reportedEof) continue;
      reportedEof = true;
    }
    const prev = rec?.previous;
    const prevReal = prev && !isEof(prev) && !prev.isInsertedInRecovery ? prev : undefined;
    let span = atEof ? eofSpan : lines.span(tok.startOffset, tok.endOffset! + 1);
    if (rec?.skipped && prevReal) {
      span = lines.span(tok.startOffset, prevReal.endOffset! + 1);
    } else if (!atEof && prevReal && lines.lineCol(prevReal.endOffset!).line < span.line) {
      // What is missing belongs after the previous token, at the end of its line, not at the next line's start.
      span = lines.span(prevReal.endOffset! + 1, prevReal.endOffset! + 1);
    }
    const opener = rec?.opener;
    const notes = opener ? [{ message: `${opener.what} opened here`, span: lines.span(opener.token.startOffset, opener.token.startOffset + 1) }] : undefined;
    if (atEof && context.openAtEnd) {
      // The file ends inside brackets: note every one left open, innermost first.
      const open: Opener[] = [];
      for (let o: Opener | undefined = context.openAtEnd; o; o = o.parent) open.push(o);
      const closers = open.map((o) => `'${closerOf(o.char)}'`);
      out.push(err('Unclosed', e.message, span,
        open.length === 1 ? `add ${closers[0]} to close it` : `add ${closers.join(', ')} (in this order) to close them`,
        open.map((o) => ({ message: `${o.what} opened here`, span: lines.span(o.token.startOffset, o.token.startOffset + 1) }))));
      continue;
    }
    const d = err('SyntaxError', e.message, span, rec ? syntaxHelp(rec) : undefined, notes);
    // The token before the error anchors it too: `k -> k` then `}` on the next line is one mistake.
    if (prevReal) anchors.set(d, lines.lineCol(prevReal.startOffset).line);
    out.push(d);
  }
  if (sayIfCapped && parser.errors.length > MAX_ERRORS) out.push(err('TooComplex', `too many syntax errors: only the first ${MAX_ERRORS} are shown`));
  return out;
}

const closerOf = (c: '{' | '(' | '['): string => ({ '{': '}', '(': ')', '[': ']' })[c];

/** Returns a help line for common syntax mistakes. */
function syntaxHelp(r: MessageRecord): string | undefined {
  const found = r.actual;
  if (r.kind === 'mismatch' && r.expected) {
    if (r.expected === T.In || r.expected === T.DotDot) return "a loop reads 'for i in 1..N { ... }'";
    if (r.expected === T.Model) return "a .mix file holds one model: 'model NAME { ... }'";
    if (r.expected === T.PlusAssign && r.ruleName === 'targetStatement') return "'target' is the log density: add to it with 'target += expression'";
    if (r.expected === T.Colon && r.ruleName === 'declaration') return "a declaration reads 'data x: real[N]'";
    if (r.expected === T.Equals && r.ruleName === 'letStatement') return "a let reads 'let name = expression'";
    if (r.expected === T.Gt) return "bounds read '<lower=a, upper=b>'; inside them a bound cannot use comparisons";
  }
  if (r.kind === 'noViableAlt' && r.ruleName === 'tildeStatement' && !isEof(found)) {
    if (tokenMatcher(found, T.Equals)) return "to define a value, write 'let name = expression'";
    if (tokenMatcher(found, T.LParen)) return "a statement cannot be a bare call; use it in 'let', '~' or 'target +='";
  }
  return undefined;
}

/** Returns the E0001 diagnostic of a run of characters no token starts with. */
function unexpectedCharacter(chars: string, span: Span, err: ErrFn): Diagnostic {
  const shown = [...chars].map((ch) => (/[\x00-\x1f\x7f]/.test(ch) ? `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` : ch)).join('');
  const message = [...chars].length === 1 ? `unexpected character '${shown}'` : `unexpected characters '${shown}'`;
  const first = chars[0];
  const help: Record<string, string> = {
    '#': 'comments start with //',
    '&': "logical and is '&&'",
    '|': "logical or is '||'",
    '"': 'the language has no strings',
    "'": 'the language has no strings',
    '.': "a '.' belongs in a number (0.5) or a range (1..N)",
  };
  return err('UnexpectedCharacter', message, span, help[first]);
}

/** Returns the help line of a malformed number literal. */
function numberHelp(img: string): string {
  if (/^0[xXbBoO]/.test(img)) return 'only decimal numbers are supported';
  const valid = img.match(/^(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?/)?.[0] ?? '';
  const rest = img.slice(valid.length);
  if (/^\.?[eE][+-]?$/.test(rest)) return `an exponent needs digits, as in ${valid || '1'}e-3`;
  if (rest === '.' || /^\.[eE]/.test(rest)) return `a decimal point needs digits after it: write ${valid}.0`;
  return `a number cannot run into letters: put a space or an operator between '${valid}' and '${rest}'`;
}

/**
 * Returns the diagnostics without likely cascades: after an error on a line, a later
 * E0002 on that line (or right after a token on that line) is usually the parser
 * stumbling over the same mistake.
 */
function dropCascades(ds: Diagnostic[], lines: LineIndex, anchors: Map<Diagnostic, number>): Diagnostic[] {
  const sorted = inSourceOrder(ds);
  const linesWithError = new Set<number>();
  const out: Diagnostic[] = [];
  for (const d of sorted) {
    const line = d.span?.line;
    const anchor = anchors.get(d);
    const follows = (line !== undefined && linesWithError.has(line)) || (anchor !== undefined && linesWithError.has(anchor));
    if (d.code === parseCodeOf('SyntaxError') && line !== undefined && d.span!.start < lines.text.length && follows) continue;
    if (line !== undefined) linesWithError.add(line);
    out.push(d);
  }
  return out;
}

/** Returns the diagnostics sorted by position (stable; those without a place last). */
function inSourceOrder(ds: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) => (d.span ? d.span.start : Number.MAX_SAFE_INTEGER);
  return ds.map((d, i) => ({ d, i })).sort((a, b) => key(a.d) - key(b.d) || a.i - b.i).map((x) => x.d);
}
