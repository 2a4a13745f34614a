/**
 * The `.mix` grammar as a chevrotain CstParser.
 *
 * Rules are class properties; error recovery is on, so one pass reports every syntax
 * error of a file and still yields a (partial) CST. Precedence, loosest first, as in
 * PRECEDENCE of src/ast/nodes.ts: `?:` (right) < `||` < `&&` < comparisons
 * (non-associative; chains are parsed and rejected when building the AST, to say so
 * clearly) < `+ -` < `* / % @` < unary `- !` < `^` (right; its exponent may be a
 * unary expression, so `2 ^ -1` works while `-x ^ 2` is `-(x ^ 2)`) < postfix
 * (`x[i]`, `x[i][j]`) < primary (number, name, call, `( e )`, vector literal).
 *
 * Labels (`LABEL`) name the children the AST builder reads, so that operators and
 * operands keep their source order in the CST.
 */
import { CstParser, EOF, tokenMatcher } from 'chevrotain';
import type { CstNode, IToken, TokenType } from 'chevrotain';
import * as T from './tokens';
import { MixErrorMessageProvider, ParseAbort } from './messages';

export { ParseAbort } from './messages';

export class MixParser extends CstParser {
  /** Builds the messages; index.ts gives it the current file's context before each parse. */
  readonly messages: MixErrorMessageProvider;
  private steps = 0;
  private maxSteps = Infinity;

  constructor() {
    const messages = new MixErrorMessageProvider();
    super(T.ALL_TOKENS, {
      recoveryEnabled: true,
      errorMessageProvider: messages,
      maxLookahead: 3,
      nodeLocationTracking: 'onlyOffset',
    });
    this.messages = messages;
    this.performSelfAnalysis();
  }

  /**
   * Resets the step guard for a new input of `tokenCount` tokens (`budget` overrides
   * the step budget, for tests of the guard itself).
   */
  resetGuard(tokenCount: number, budget?: number): void {
    this.steps = 0;
    // Recovery can revisit tokens, but every rule entry consumes or skips a bounded
    // amount; a budget linear in the input with a generous constant only trips on a bug.
    this.maxSteps = budget ?? 10_000 + 200 * tokenCount;
  }

  /** Counts one rule entry; throws ParseAbort when the budget is spent (a guard against recovery loops). */
  private step(): void {
    if (++this.steps > this.maxSteps) throw new ParseAbort('steps');
  }

  // ---- statement-aware re-synchronisation -----------------------------------------------
  //
  // After an error, chevrotain skips tokens up to the first one that may follow a rule on
  // the stack. Left alone, it stops at the first name, even mid-line, and takes the `}` of
  // a skipped `{ }` as the model's end; every such stop starts a cascade of errors. These
  // two overrides (of chevrotain's Recoverable trait) only accept a stop that starts a
  // statement (a keyword anywhere, a name or number only at the start of a line or after
  // `;` or `}`) or is punctuation, and never inside a bracket group opened while skipping.

  /** Where the last re-sync search decided to stop: the input position asked from, and how far ahead. */
  private resyncPlan?: { from: number; ahead: number };

  /** Returns true when the token `k` ahead may end a re-sync skip. */
  private canResyncAt(k: number): boolean {
    const tok = this.LA(k);
    const tt = tok.tokenType;
    if (tt === T.Data || tt === T.Param || tt === T.Latent || tt === T.Let || tt === T.For || tt === T.Target || tt === T.Model) return true;
    if (tt === T.LParen || tt === T.LBracket || tt === T.LCurly) return false;
    if (tt === T.Identifier || tt === T.NumberLiteral || tt === T.In) {
      const prev = k > 1 ? this.LA(k - 1) : (this as unknown as Internals).LA(0);
      if (!prev || prev.tokenType === EOF) return true;
      if (prev.tokenType === T.Semicolon || prev.tokenType === T.RCurly) return true;
      return (prev.endLine ?? 0) < (tok.startLine ?? 0);
    }
    return true;
  }

  /** chevrotain hook: returns the token type to re-sync to (see the comment above). */
  findReSyncTokenType(): TokenType {
    const self = this as unknown as Internals;
    const follows = self.flattenFollowSet();
    const from = self.exportLexerState();
    let depth = 0;
    for (let k = 1; ; k++) {
      const tok = this.LA(k);
      if (tok.tokenType === EOF) {
        this.resyncPlan = { from, ahead: k };
        return EOF;
      }
      if (depth === 0 && this.canResyncAt(k)) {
        const match = follows.find((tt) => tokenMatcher(tok, tt));
        if (match) {
          this.resyncPlan = { from, ahead: k };
          return match;
        }
      }
      const tt = tok.tokenType;
      if (tt === T.LParen || tt === T.LBracket || tt === T.LCurly) depth++;
      else if ((tt === T.RParen || tt === T.RBracket || tt === T.RCurly) && depth > 0) depth--;
    }
  }

  /** chevrotain hook: skips to the planned re-sync token; returns the skipped tokens as chevrotain does. */
  reSyncTo(tokType: TokenType): IToken[] {
    const self = this as unknown as Internals;
    const plan = this.resyncPlan;
    this.resyncPlan = undefined;
    if (!plan || plan.from !== self.exportLexerState()) return self.defaultReSyncTo(tokType);
    const skipped: IToken[] = [];
    for (let i = 1; i < plan.ahead; i++) {
      const t = this.SKIP_TOKEN();
      if (t.tokenType !== EOF) skipped.push(t);
    }
    // As chevrotain's own: the token re-synced to is not part of the error.
    return skipped.slice(0, -1);
  }

  // ---- program and statements -------------------------------------------------------

  /** `model NAME { statements }` */
  program = this.RULE('program', () => {
    this.CONSUME(T.Model, { LABEL: 'model' });
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.LCurly, { LABEL: 'open' });
    this.statements();
    this.CONSUME(T.RCurly, { LABEL: 'close' });
  });

  /**
   * Statements with optional `;` separators, inline in `program` and `forStatement`
   * rather than a rule of their own: chevrotain's in-repetition recovery needs to see
   * the `}` after the repetition to skip a stray token and go on with the next statement.
   */
  private statements(): void {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.statement, { LABEL: 'statements' }) },
        { ALT: () => this.CONSUME(T.Semicolon) },
      ]);
    });
  }

  statement = this.RULE('statement', () => {
    this.ACTION(() => this.step());
    this.OR([
      { ALT: () => this.SUBRULE(this.declaration, { LABEL: 'stmt' }) },
      { ALT: () => this.SUBRULE(this.letStatement, { LABEL: 'stmt' }) },
      { ALT: () => this.SUBRULE(this.forStatement, { LABEL: 'stmt' }) },
      { ALT: () => this.SUBRULE(this.targetStatement, { LABEL: 'stmt' }) },
      { ALT: () => this.SUBRULE(this.tildeStatement, { LABEL: 'stmt' }) },
    ]);
  });

  /** `data|param|latent NAME : TYPE` */
  declaration = this.RULE('declaration', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Data, { LABEL: 'role' }) },
      { ALT: () => this.CONSUME(T.Param, { LABEL: 'role' }) },
      { ALT: () => this.CONSUME(T.Latent, { LABEL: 'role' }) },
    ]);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.type, { LABEL: 'type' });
  });

  /** `BASE <lower = e, upper = e> [d1, d2]` */
  type = this.RULE('type', () => {
    this.CONSUME(T.Identifier, { LABEL: 'base' });
    this.OPTION(() => {
      this.CONSUME(T.Lt, { LABEL: 'openBounds' });
      this.SUBRULE(this.typeBound, { LABEL: 'bounds' });
      this.OPTION2(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.typeBound, { LABEL: 'bounds' });
      });
      this.CONSUME(T.Gt, { LABEL: 'closeBounds' });
    });
    this.OPTION3(() => {
      this.CONSUME(T.LBracket, { LABEL: 'openDims' });
      this.SUBRULE(this.expression, { LABEL: 'dims' });
      this.MANY(() => {
        this.CONSUME2(T.Comma);
        this.SUBRULE2(this.expression, { LABEL: 'dims' });
      });
      this.CONSUME(T.RBracket, { LABEL: 'closeDims' });
    });
  });

  /** `lower = e` or `upper = e`; `e` stops before comparisons so that `>` closes the bounds. */
  typeBound = this.RULE('typeBound', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.additive, { LABEL: 'value' });
  });

  /** `let NAME = e` */
  letStatement = this.RULE('letStatement', () => {
    this.CONSUME(T.Let, { LABEL: 'let' });
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  /** `for NAME in e .. e { statements }` */
  forStatement = this.RULE('forStatement', () => {
    this.CONSUME(T.For, { LABEL: 'for' });
    this.CONSUME(T.Identifier, { LABEL: 'var' });
    this.CONSUME(T.In);
    this.SUBRULE(this.expression, { LABEL: 'lo' });
    this.CONSUME(T.DotDot);
    this.SUBRULE2(this.expression, { LABEL: 'hi' });
    this.CONSUME(T.LCurly, { LABEL: 'open' });
    this.statements();
    this.CONSUME(T.RCurly, { LABEL: 'close' });
  });

  /** `target += e` */
  targetStatement = this.RULE('targetStatement', () => {
    this.CONSUME(T.Target, { LABEL: 'target' });
    this.CONSUME(T.PlusAssign);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  /**
   * `NAME [i, j] ... ~ e`. `NAME += e` is accepted here too, only so that the AST
   * builder can say that `+=` is for `target` (E0005) instead of a bare syntax error.
   */
  tildeStatement = this.RULE('tildeStatement', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.MANY(() => this.SUBRULE(this.indexSuffix, { LABEL: 'indices' }));
    this.OR([
      { ALT: () => this.CONSUME(T.Tilde, { LABEL: 'op' }) },
      { ALT: () => this.CONSUME(T.PlusAssign, { LABEL: 'op' }) },
    ]);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  // ---- expressions, loosest first ------------------------------------------------------

  /** `c ? a : b` (right-associative through the recursion in the branches). */
  expression = this.RULE('expression', () => {
    this.ACTION(() => this.step());
    this.SUBRULE(this.orExpr, { LABEL: 'cond' });
    this.OPTION(() => {
      this.CONSUME(T.Question);
      this.SUBRULE(this.expression, { LABEL: 'then' });
      this.CONSUME(T.Colon);
      this.SUBRULE2(this.expression, { LABEL: 'else' });
    });
  });

  orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.OrOr, { LABEL: 'ops' });
      this.SUBRULE2(this.andExpr, { LABEL: 'operands' });
    });
  });

  andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.comparison, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.AndAnd, { LABEL: 'ops' });
      this.SUBRULE2(this.comparison, { LABEL: 'operands' });
    });
  });

  /** Non-associative: a chain `a < b < c` is parsed so it can be reported as such (E0009). */
  comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.LtEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.GtEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Lt, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Gt, { LABEL: 'ops' }) },
      ]);
      this.SUBRULE2(this.additive, { LABEL: 'operands' });
    });
  });

  additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Plus, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Minus, { LABEL: 'ops' }) },
      ]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.At, { LABEL: 'ops' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  /** `-e`, `!e`, or a power. */
  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(T.Minus, { LABEL: 'op' }) },
            { ALT: () => this.CONSUME(T.Bang, { LABEL: 'op' }) },
          ]);
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.power, { LABEL: 'power' }) },
    ]);
  });

  /** `base ^ exponent`, right-associative; the exponent may carry a sign (`x ^ -2`). */
  power = this.RULE('power', () => {
    this.SUBRULE(this.postfix, { LABEL: 'base' });
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.SUBRULE(this.unary, { LABEL: 'exponent' });
    });
  });

  /** A primary followed by any number of `[i, j]` suffixes. */
  postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary, { LABEL: 'primary' });
    this.MANY(() => this.SUBRULE(this.indexSuffix, { LABEL: 'suffixes' }));
  });

  /** `[e, e, ...]` after an expression. */
  indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(T.LBracket, { LABEL: 'open' });
    this.SUBRULE(this.expression, { LABEL: 'indices' });
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.SUBRULE2(this.expression, { LABEL: 'indices' });
    });
    this.CONSUME(T.RBracket, { LABEL: 'close' });
  });

  primary = this.RULE('primary', () => {
    this.ACTION(() => this.step());
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral, { LABEL: 'number' }) },
      { ALT: () => this.SUBRULE(this.nameOrCall, { LABEL: 'nameOrCall' }) },
      { ALT: () => this.SUBRULE(this.parenthesized, { LABEL: 'parenthesized' }) },
      { ALT: () => this.SUBRULE(this.vectorLiteral, { LABEL: 'vector' }) },
    ]);
  });

  /** `NAME` or `NAME(args)`: only a name can be called. */
  nameOrCall = this.RULE('nameOrCall', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.LParen, { LABEL: 'open' });
      this.OPTION2(() => {
        this.SUBRULE(this.argument, { LABEL: 'args' });
        this.MANY(() => {
          this.CONSUME(T.Comma);
          this.SUBRULE2(this.argument, { LABEL: 'args' });
        });
      });
      this.CONSUME(T.RParen, { LABEL: 'close' });
    });
  });

  /** A call argument: `k -> body` (a lambda, only allowed here) or an expression. */
  argument = this.RULE('argument', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.lambda, { LABEL: 'lambda' }) },
      { ALT: () => this.SUBRULE(this.expression, { LABEL: 'expr' }) },
    ]);
  });

  lambda = this.RULE('lambda', () => {
    this.CONSUME(T.Identifier, { LABEL: 'param' });
    this.CONSUME(T.Arrow);
    this.SUBRULE(this.expression, { LABEL: 'body' });
  });

  parenthesized = this.RULE('parenthesized', () => {
    this.CONSUME(T.LParen, { LABEL: 'open' });
    this.SUBRULE(this.expression, { LABEL: 'inner' });
    this.CONSUME(T.RParen, { LABEL: 'close' });
  });

  /** `[a, b, c]` (possibly empty; the checker judges `[]`). */
  vectorLiteral = this.RULE('vectorLiteral', () => {
    this.CONSUME(T.LBracket, { LABEL: 'open' });
    this.OPTION(() => {
      this.SUBRULE(this.expression, { LABEL: 'elements' });
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.expression, { LABEL: 'elements' });
      });
    });
    this.CONSUME(T.RBracket, { LABEL: 'close' });
  });
}

/** chevrotain internals the re-sync overrides use (present at runtime, absent from its .d.ts). */
interface Internals {
  flattenFollowSet(): TokenType[];
  exportLexerState(): number;
  LA(k: number): IToken;
  defaultReSyncTo(tokType: TokenType): IToken[];
}

// chevrotain's own reSyncTo, for re-syncs that were not planned by findReSyncTokenType.
const recoverableReSyncTo = (Object.getPrototypeOf(MixParser.prototype) as { reSyncTo: (t: TokenType) => IToken[] }).reSyncTo;
(MixParser.prototype as unknown as Internals).defaultReSyncTo = function defaultReSyncTo(this: unknown, t: TokenType) {
  return recoverableReSyncTo.call(this, t);
};

/** The CST root of a parse (chevrotain's CstNode). */
export type ProgramCst = CstNode;

let instance: MixParser | undefined;

/** Returns the shared parser (built once: chevrotain's self-analysis is costly, the parser is reusable). */
export function mixParser(): MixParser {
  instance ??= new MixParser();
  return instance;
}
