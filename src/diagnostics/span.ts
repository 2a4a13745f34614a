/** A half-open character range in a source file, with 1-based line/column of its start and end. */
export interface Span {
  /** Offset of the first character (0-based). */
  start: number;
  /** Offset one past the last character (0-based). */
  end: number;
  /** 1-based line of `start`. */
  line: number;
  /** 1-based column of `start`. */
  col: number;
  /** 1-based line of the last character. */
  endLine: number;
  /** 1-based column one past the last character. */
  endCol: number;
}

/** A span covering nothing, for nodes the compiler makes itself (desugaring). */
export const NO_SPAN: Span = { start: 0, end: 0, line: 0, col: 0, endLine: 0, endCol: 0 };

/** Returns the smallest span covering both `a` and `b`. */
export function joinSpans(a: Span, b: Span): Span {
  const first = a.start <= b.start ? a : b;
  const last = a.end >= b.end ? a : b;
  return {
    start: first.start, line: first.line, col: first.col,
    end: last.end, endLine: last.endLine, endCol: last.endCol,
  };
}

/** A source text with its display name, used to render diagnostics. */
export interface Source {
  /** File name or `<input>` for text given to compile() directly. */
  name: string;
  text: string;
}

/** Returns the 1-based line and column of character offset `offset` in `text`. */
export function lineColOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1; }
  }
  return { line, col: offset - lineStart + 1 };
}

/** Returns a Span for the character range [start, end) of `text`. */
export function spanOf(text: string, start: number, end: number): Span {
  const s = lineColOf(text, start);
  const e = lineColOf(text, end);
  return { start, end, line: s.line, col: s.col, endLine: e.line, endCol: e.col };
}
