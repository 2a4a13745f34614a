/**
 * Offsets to 1-based line/column in O(log lines), for the many spans of a parse
 * (`lineColOf` in src/diagnostics/span.ts rescans the text on every call).
 * Lines are counted at `\n`, as `renderDiagnostic` splits them.
 */
import type { Span } from '../diagnostics/span';

export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  /** Returns the 1-based line and column of `offset` (clamped to the text). */
  lineCol(offset: number): { line: number; col: number } {
    const off = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: off - this.starts[lo] + 1 };
  }

  /** Returns the Span of `[start, end)`, equal to `spanOf(text, start, end)`. */
  span(start: number, end: number): Span {
    const s = this.lineCol(start);
    const e = this.lineCol(end);
    return { start, end, line: s.line, col: s.col, endLine: e.line, endCol: e.col };
  }
}
