/**
 * Stable diagnostic codes of the lexer and parser (E00xx). A code never changes
 * meaning once released; new rules get new codes. The checker's codes are in
 * src/check/codes.ts.
 */

/** Every syntax code with a one-line title. */
export const PARSE_CODES = {
  UnexpectedCharacter: { code: 'E0001', title: 'a character that starts no token' },
  SyntaxError: { code: 'E0002', title: 'syntax error: an unexpected token or a missing one' },
  Unclosed: { code: 'E0003', title: 'a brace, parenthesis or bracket the file never closes' },
  MalformedNumber: { code: 'E0004', title: 'malformed number, such as 1e+, 3. or 2x' },
  PlusAssignNotTarget: { code: 'E0005', title: "'+=' used on something other than 'target'" },
  DeclInLoop: { code: 'E0006', title: 'data/param/latent declaration inside a for loop' },
  UnterminatedComment: { code: 'E0007', title: "block comment without its closing '*/'" },
  BadBound: { code: 'E0008', title: "type bound other than 'lower' or 'upper', or one given twice" },
  ChainedComparison: { code: 'E0009', title: 'comparisons chained without parentheses (a < b < c)' },
  TooComplex: { code: 'E0010', title: 'input nested too deeply, or too broken to go on parsing' },
  /** A bug in the parser itself; never expected. */
  Internal: { code: 'E0099', title: 'internal parser error' },
} as const;

export type ParseCodeId = keyof typeof PARSE_CODES;

/** Returns the code string (`E0002`) of a parser rule. */
export function parseCodeOf(id: ParseCodeId): string {
  return PARSE_CODES[id].code;
}
