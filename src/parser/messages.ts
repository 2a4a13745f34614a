/**
 * Human messages for syntax errors: chevrotain's error message provider, and the
 * bracket context it draws on ("expected '}' to close the block of 'model gmm'
 * opened at 3:12").
 */
import { EOF, tokenMatcher } from 'chevrotain';
import type { IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import * as T from './tokens';
import type { LineIndex } from './line-index';

/** Thrown from inside the parser to stop a parse that runs too long or reports too much. */
export class ParseAbort extends Error {
  constructor(readonly reason: 'steps' | 'errors') {
    super(`parse aborted: too many ${reason}`);
    this.name = 'ParseAbort';
  }
}

/** Past this many messages in one parse, recovery is clearly lost; the parse stops. */
const MAX_MESSAGES = 500;

/** An opening `{`, `(` or `[` and what it opens. */
export interface Opener {
  token: IToken;
  char: '{' | '(' | '[';
  /** `the block of 'model gmm'`, `the arguments of 'normal'`, `the vector literal`, ... */
  what: string;
  /** The opener this one is nested in. */
  parent?: Opener;
  /** 1 for an outermost bracket. */
  depth: number;
}

/**
 * Brackets may nest this deep. The recursive-descent parser spends about a dozen rule
 * frames per parenthesis, so a few hundred levels would overflow the stack; a clear
 * limit well below that beats a crash (no model needs 100 levels).
 */
export const MAX_NESTING = 100;

/** Returns true for chevrotain's virtual end-of-input token (and for a missing token). */
export function isEof(t: IToken | undefined): boolean {
  return !t || t.tokenType === EOF || !Number.isFinite(t.startOffset);
}

const CLOSER_OF: Record<string, '{' | '(' | '['> = { '}': '{', ')': '(', ']': '[' };

/**
 * The brackets of a token stream: for each token, the innermost bracket still open
 * just before it. Computed once per file before parsing, so messages can name the
 * bracket an error is about. A stray closer is ignored; a closer that matches an
 * outer opener closes everything inside it too.
 */
export class BracketContext {
  private readonly openBefore: (Opener | undefined)[] = [];
  private readonly indexOf = new Map<IToken, number>();
  /** The innermost opener never closed, if any. */
  readonly openAtEnd: Opener | undefined;
  /** The first opener nested deeper than MAX_NESTING, if any. */
  readonly tooDeep: IToken | undefined;

  constructor(readonly tokens: IToken[], readonly lines: LineIndex) {
    let top: Opener | undefined;
    let depth = 0;
    let tooDeep: IToken | undefined;
    let pendingFor: string | undefined;
    tokens.forEach((t, i) => {
      this.openBefore.push(top);
      this.indexOf.set(t, i);
      const ch = t.image;
      if (t.tokenType === T.For) {
        const v = tokens[i + 1];
        pendingFor = v && v.tokenType === T.Identifier ? v.image : '';
      } else if (ch === '{' || ch === '(' || ch === '[') {
        top = { token: t, char: ch, what: describeOpener(ch, tokens, i, pendingFor), parent: top, depth: ++depth };
        if (depth > MAX_NESTING && !tooDeep) tooDeep = t;
        if (ch === '{') pendingFor = undefined;
      } else if (ch === '}' || ch === ')' || ch === ']') {
        const want = CLOSER_OF[ch];
        let o = top;
        while (o && o.char !== want) o = o.parent;
        if (o) {
          top = o.parent;
          depth = top?.depth ?? 0;
        }
        if (ch === '}') pendingFor = undefined;
      }
    });
    this.openAtEnd = top;
    this.tooDeep = tooDeep;
  }

  /** Returns the innermost `char` bracket open just before `token` (or at the end of input for EOF). */
  openerFor(token: IToken | undefined, char: '{' | '(' | '['): Opener | undefined {
    const i = token ? this.indexOf.get(token) : undefined;
    let o = i === undefined ? this.openAtEnd : this.openBefore[i];
    while (o && o.char !== char) o = o.parent;
    return o;
  }

  /** Returns `line:col` of a token. */
  where(t: IToken): string {
    const { line, col } = this.lines.lineCol(t.startOffset);
    return `${line}:${col}`;
  }
}

function describeOpener(ch: '{' | '(' | '[', tokens: IToken[], i: number, pendingFor: string | undefined): string {
  const prev = tokens[i - 1];
  const prev2 = tokens[i - 2];
  if (ch === '{') {
    if (prev?.tokenType === T.Identifier && prev2?.tokenType === T.Model) return `the block of 'model ${prev.image}'`;
    if (pendingFor !== undefined) return pendingFor ? `the body of 'for ${pendingFor}'` : "the body of the 'for' loop";
    return "the '{'";
  }
  if (ch === '(') return prev?.tokenType === T.Identifier ? `the arguments of '${prev.image}'` : "the '('";
  if (prev?.tokenType === T.Identifier) return `the index of '${prev.image}'`;
  if (prev && (prev.image === ']' || prev.image === ')')) return 'the index';
  return 'the vector literal';
}

/** Returns how a token reads in a message: `'x'`, `'}'` or `end of file`. */
export function describeToken(t: IToken | undefined): string {
  if (isEof(t)) return 'end of file';
  const img = t!.image;
  return `'${img.length > 24 ? `${img.slice(0, 21)}...` : img}'`;
}

/** Returns how an expected token type reads in a message: `'}'`, `a name`, `a number`. */
export function describeTokenType(tt: TokenType): string {
  if (tt === EOF) return 'end of file';
  return tt.LABEL ?? tt.name;
}

/** What the provider saw for one message; index.ts reads these to pick codes, spans and help. */
export interface MessageRecord {
  kind: 'mismatch' | 'noViableAlt' | 'earlyExit' | 'notAllInput';
  message: string;
  actual: IToken;
  previous?: IToken;
  expected?: TokenType;
  ruleName: string;
  /** The bracket that an expected closer would close. */
  opener?: Opener;
  /** True when recovery skipped tokens before reporting (the tokens from `actual` to `previous` are stray). */
  skipped?: boolean;
}

const EXPRESSION_RULES = new Set([
  'expression', 'orExpr', 'andExpr', 'comparison', 'additive', 'multiplicative', 'unary', 'power', 'postfix',
  'primary', 'argument', 'typeBound', 'lambda', 'parenthesized', 'indexSuffix', 'vectorLiteral',
]);

/**
 * chevrotain's message hooks, with the current file's bracket context. Every message
 * it builds is also recorded (with the tokens involved) for index.ts.
 */
export class MixErrorMessageProvider implements IParserErrorMessageProvider {
  context?: BracketContext;
  records: MessageRecord[] = [];

  /** Starts a new file. */
  reset(context: BracketContext): void {
    this.context = context;
    this.records = [];
  }

  private record(r: MessageRecord): string {
    if (this.records.length >= MAX_MESSAGES) throw new ParseAbort('errors');
    this.records.push(r);
    return r.message;
  }

  buildMismatchTokenMessage(options: { expected: TokenType; actual: IToken; previous: IToken; ruleName: string }): string {
    const { expected, actual, previous, ruleName } = options;
    const base = { kind: 'mismatch' as const, actual, previous, expected, ruleName };
    // In-repetition recovery reports after skipping: `previous` is then the last skipped
    // token, at or after `actual`. Those tokens were simply not expected there.
    if (!isEof(actual) && !isEof(previous) && previous.startOffset >= actual.startOffset) {
      return this.record({ ...base, skipped: true, message: `unexpected ${describeToken(actual)}${strayHint(actual)}` });
    }
    const closer = expected.LABEL?.match(/^'([})\]])'$/)?.[1];
    if (closer) {
      const opener = this.context?.openerFor(actual, CLOSER_OF[closer]);
      const what = opener ? ` to close ${opener.what} opened at ${this.context!.where(opener.token)}` : '';
      return this.record({ ...base, opener, message: `expected '${closer}'${what}, found ${describeToken(actual)}` });
    }
    const after = isEof(previous) || previous.isInsertedInRecovery ? '' : ` after ${describeToken(previous)}`;
    let what = describeTokenType(expected);
    if (expected === T.Identifier) what = nameWanted(ruleName, previous);
    if (expected === T.Gt) what = "'>' to close the type's bounds";
    if (expected === T.Model) return this.record({ ...base, message: `expected 'model', found ${describeToken(actual)}` });
    return this.record({ ...base, message: `expected ${what}${after}, found ${describeToken(actual)}` });
  }

  buildNotAllInputParsedMessage(options: { firstRedundant: IToken; ruleName: string }): string {
    const { firstRedundant, ruleName } = options;
    const message = tokenMatcher(firstRedundant, T.Model)
      ? "unexpected 'model': a file holds one model"
      : `unexpected ${describeToken(firstRedundant)} after the end of the ${ruleName === 'program' ? 'model' : 'input'}`;
    return this.record({ kind: 'notAllInput', actual: firstRedundant, ruleName, message });
  }

  buildNoViableAltMessage(options: {
    expectedPathsPerAlt: TokenType[][][];
    actual: IToken[];
    previous: IToken;
    customUserDescription?: string;
    ruleName: string;
  }): string {
    const { actual, previous, ruleName } = options;
    const found = actual[0];
    const base = { kind: 'noViableAlt' as const, actual: found, previous, ruleName };
    const after = isEof(previous) || previous.isInsertedInRecovery ? '' : ` after ${describeToken(previous)}`;
    if (EXPRESSION_RULES.has(ruleName)) {
      return this.record({ ...base, message: `expected an expression${after}, found ${describeToken(found)}${strayHint(found)}` });
    }
    if (ruleName === 'tildeStatement') {
      return this.record({ ...base, message: `expected '~'${after}, found ${describeToken(found)}` });
    }
    if (ruleName === 'declaration') {
      return this.record({ ...base, message: `expected 'data', 'param' or 'latent', found ${describeToken(found)}` });
    }
    return this.record({ ...base, message: `unexpected ${describeToken(found)}${strayHint(found)}` });
  }

  buildEarlyExitMessage(options: {
    expectedIterationPaths: TokenType[][];
    actual: IToken[];
    previous: IToken;
    customUserDescription?: string;
    ruleName: string;
  }): string {
    const { actual, previous, ruleName } = options;
    return this.record({ kind: 'earlyExit', actual: actual[0], previous, ruleName, message: `unexpected ${describeToken(actual[0])}` });
  }
}

/** A clause explaining a token that is never right where it was found. */
function strayHint(t: IToken): string {
  if (tokenMatcher(t, T.Arrow)) return ": a lambda 'k -> ...' is only allowed as an argument of a call";
  if (tokenMatcher(t, T.PlusAssign)) return ": '+=' is only for 'target += ...'";
  return '';
}

function nameWanted(ruleName: string, previous: IToken | undefined): string {
  switch (ruleName) {
    case 'program': return "the model's name";
    case 'declaration': return 'a variable name';
    case 'letStatement': return 'a name';
    case 'forStatement': return "the loop variable's name";
    case 'type': return previous?.tokenType === T.Colon ? 'a type such as real, int or simplex' : 'a name';
    case 'typeBound': return "'lower' or 'upper'";
    default: return 'a name';
  }
}
