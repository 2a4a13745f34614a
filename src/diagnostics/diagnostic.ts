import type { Source, Span } from './span';

export type Severity = 'error' | 'warning';

/**
 * One message about a user's model or data. Every phase returns these instead of
 * throwing; only the command line prints them and exits.
 */
export interface Diagnostic {
  severity: Severity;
  /** Stable code, e.g. `E0101`; see `codes.ts` for the table. */
  code: string;
  message: string;
  /** Where in the source; absent for data errors that have no source place. */
  span?: Span;
  /** An extra line such as `did you mean 'normal'?` */
  help?: string;
  /** Further places, e.g. where a name was first declared. */
  notes?: { message: string; span?: Span }[];
}

/** Thrown by user-facing entry points when a phase returned errors. Carries all of them. */
export class MixError extends Error {
  readonly diagnostics: Diagnostic[];
  readonly source?: Source;
  constructor(diagnostics: Diagnostic[], source?: Source) {
    super(diagnostics.map((d) => renderDiagnostic(d, source)).join('\n'));
    this.name = 'MixError';
    this.diagnostics = diagnostics;
    this.source = source;
  }
}

/** Thrown for bugs in mixppl itself (never for a user's mistake). */
export class InternalError extends Error {
  constructor(message: string) {
    super(`internal error: ${message} (this is a bug in mixppl; please report it)`);
    this.name = 'InternalError';
  }
}

/**
 * Renders a diagnostic like rustc/stanc3:
 *
 * ```
 * error[E0201]: unknown distribution 'nromal'
 *  --> model.mix:12:10
 *    |
 * 12 |   x[n] ~ nromal(mu, 1)
 *    |          ^^^^^^
 *    = help: did you mean 'normal'?
 * ```
 */
export function renderDiagnostic(d: Diagnostic, source?: Source): string {
  const out: string[] = [`${d.severity}[${d.code}]: ${d.message}`];
  if (d.span && source && d.span.line > 0) {
    out.push(...renderSnippet(d.span, source));
  } else if (d.span && d.span.line > 0) {
    out.push(` --> <input>:${d.span.line}:${d.span.col}`);
  }
  for (const n of d.notes ?? []) {
    if (n.span && source && n.span.line > 0) {
      out.push(`   = note: ${n.message}`);
      out.push(...renderSnippet(n.span, source));
    } else {
      out.push(`   = note: ${n.message}`);
    }
  }
  if (d.help) out.push(`   = help: ${d.help}`);
  return out.join('\n');
}

function renderSnippet(span: Span, source: Source): string[] {
  const lines = source.text.split('\n');
  const lineText = (lines[span.line - 1] ?? '').replace(/\r$/, '').replace(/\t/g, ' ');
  const num = String(span.line);
  const pad = ' '.repeat(num.length);
  const width = span.endLine === span.line ? Math.max(1, span.endCol - span.col) : Math.max(1, lineText.length - span.col + 1);
  return [
    `${pad}--> ${source.name}:${span.line}:${span.col}`,
    `${pad} |`,
    `${num} | ${lineText}`,
    `${pad} | ${' '.repeat(Math.max(0, span.col - 1))}${'^'.repeat(width)}`,
  ];
}

/** Renders a list of diagnostics followed by a count line, as the CLI prints them. */
export function renderDiagnostics(ds: Diagnostic[], source?: Source): string {
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.length - errors;
  const parts = ds.map((d) => renderDiagnostic(d, source));
  const tally: string[] = [];
  if (errors) tally.push(`${errors} error${errors === 1 ? '' : 's'}`);
  if (warnings) tally.push(`${warnings} warning${warnings === 1 ? '' : 's'}`);
  if (tally.length) parts.push(tally.join(', '));
  return parts.join('\n\n');
}

/** Levenshtein distance, for 'did you mean' suggestions. */
export function editDistance(a: string, b: string): number {
  const m = a.length, n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[n];
}

/** The nearest candidate to `name` within a distance that makes sense for its length, if any. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3) + 1));
  for (const c of candidates) {
    if (c === name) continue;
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD || (d === bestD && best !== undefined && c < best)) { best = c; bestD = d; }
  }
  return bestD <= limit ? best : undefined;
}
