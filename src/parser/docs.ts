/**
 * Doc comments: `///` lines or a `/** *\/` block directly above a token (a `model`
 * keyword or a declaration's role keyword) become that construct's `doc`.
 */
import type { IToken } from 'chevrotain';
import { DocLineComment, DocBlockComment } from './tokens';

/**
 * Returns the doc text attached to each token, keyed by the token's start offset.
 *
 * A token's doc is the run of doc comments just before it: each starting its own line,
 * with no ordinary comment or other token between them and the token. Blank lines are
 * allowed (as in Rust); a `///` after code on the same line is a trailing comment, not doc.
 */
export function docComments(text: string, tokens: IToken[], comments: IToken[]): Map<number, string> {
  const docs = new Map<number, string>();
  const sorted = [...comments].sort((a, b) => a.startOffset - b.startOffset);
  let ci = 0;
  for (const t of tokens) {
    let run: IToken[] = [];
    while (ci < sorted.length && sorted[ci].startOffset < t.startOffset) {
      const c = sorted[ci++];
      const isDoc = c.tokenType === DocLineComment || c.tokenType === DocBlockComment;
      run = isDoc && startsLine(text, c.startOffset) ? [...run, c] : [];
    }
    if (run.length) docs.set(t.startOffset, run.flatMap(docLines).join('\n'));
  }
  return docs;
}

/** Returns true when only spaces or tabs precede `offset` on its line. */
function startsLine(text: string, offset: number): boolean {
  for (let i = offset - 1; i >= 0; i--) {
    const ch = text[i];
    if (ch === '\n') return true;
    if (ch !== ' ' && ch !== '\t' && ch !== '\r' && ch !== '\uFEFF') return false;
  }
  return true;
}

/** Returns the text lines of one doc comment, markers stripped. */
export function docLines(c: IToken): string[] {
  if (c.tokenType === DocLineComment) {
    // `/// text`: drop the slashes and one space; trailing blanks are not content.
    return [c.image.slice(3).replace(/^ /, '').trimEnd()];
  }
  // `/** ... */`: drop the markers and a leading `*` (and one space) on each line, then blank edge lines.
  const lines = c.image.slice(3, -2).split('\n').map((l) => {
    const star = l.match(/^\s*\* ?/);
    return (star ? l.slice(star[0].length) : l.trimStart()).trimEnd();
  });
  while (lines.length && lines[0] === '') lines.shift();
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
