/**
 * Data files for the command line. JSON: an object of name -> number | array.
 * CSV: a header row; a column `y` gives a vector y[N]; columns `x.1, x.2, ...` give a
 * matrix x[N, D] (Stan's dotted names); every row has the same length; every cell a number
 * (`NA`, `NaN` or empty: a missing value, NaN; `Inf`, `-Inf`). Blank and `#` lines are
 * skipped. Errors name `file:line`, the line in the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { DataValue } from '../model/data';

export class DataFileError extends Error {}

export function readDataFile(path: string): Record<string, DataValue> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new DataFileError(`cannot read data file ${path}`);
  }
  if (/\.json$/i.test(path)) return parseJsonData(text, path);
  if (/\.csv$/i.test(path)) return parseCsvData(text, path);
  throw new DataFileError(`data file ${path}: use a .csv or .json file`);
}

export function parseJsonData(text: string, path = '<json>'): Record<string, DataValue> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DataFileError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataFileError(`${path}: expected a JSON object of name: value`);
  return v as Record<string, DataValue>;
}

export function parseCsvData(text: string, path = '<csv>'): Record<string, DataValue> {
  // Line numbers are those of the file, counting the blank and '#' lines skipped.
  const lines = text.split(/\r?\n/).map((l, i) => ({ l, no: i + 1 })).filter(({ l }) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new DataFileError(`${path}: empty CSV`);
  const header = splitRow(lines[0].l).map((h) => h.trim().replace(/^"|"$/g, '').trim());
  const seen = new Set<string>();
  header.forEach((h, j) => {
    if (h === '') throw new DataFileError(`${path}:${lines[0].no}: column ${j + 1} of the header has no name`);
    if (seen.has(h)) throw new DataFileError(`${path}:${lines[0].no}: column '${h}' appears twice in the header`);
    seen.add(h);
  });
  const rows = lines.slice(1).map(({ l, no }) => {
    const cells = splitRow(l);
    if (cells.length !== header.length) {
      throw new DataFileError(`${path}:${no}: row has ${cells.length} field${cells.length === 1 ? '' : 's'} but the header has ${header.length} (ragged row)`);
    }
    return cells.map((c, j) => {
      const s = c.trim().replace(/^"|"$/g, '').trim();
      // An empty cell or NA is a missing value (NaN); binding the data then names it.
      if (s === '') return NaN;
      if (!NUMBER_CELL.test(s)) throw new DataFileError(`${path}:${no}: column '${header[j]}' is '${s}', not a number`);
      return cellNumber(s);
    });
  });
  // Group columns: `x.1`, `x.2` -> x[N, 2]; `y` -> y[N].
  const groups = new Map<string, { col: number; idx: number }[]>();
  header.forEach((h, col) => {
    const m = /^(.+)\.(\d+)$/.exec(h);
    const name = m ? m[1] : h;
    const idx = m ? Number(m[2]) : 0;
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name)!.push({ col, idx });
  });
  const out: Record<string, DataValue> = {};
  for (const [name, cols] of groups) {
    if (cols.length === 1 && cols[0].idx === 0) {
      out[name] = rows.map((r) => r[cols[0].col]);
      continue;
    }
    if (cols.some((c) => c.idx === 0)) throw new DataFileError(`${path}: column '${name}' and columns ${name}.1, ${name}.2, ... cannot both be given`);
    const sorted = [...cols].sort((a, b) => a.idx - b.idx);
    sorted.forEach((c, i) => {
      if (c.idx !== i + 1) throw new DataFileError(`${path}: columns of '${name}' must be ${name}.1, ${name}.2, ... without gaps; found ${name}.${c.idx}`);
    });
    out[name] = rows.map((r) => sorted.map((c) => r[c.col]));
  }
  return out;
}

function splitRow(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** `--set K=3` / `--set x=[1,2]` values. */
export function parseSet(assign: string): [string, DataValue] {
  const eq = assign.indexOf('=');
  if (eq <= 0) throw new DataFileError(`--set expects NAME=VALUE, got '${assign}'`);
  const name = assign.slice(0, eq).trim();
  const raw = assign.slice(eq + 1).trim();
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new DataFileError(`--set ${name}: '${raw}' is not a number or JSON array`);
  }
  return [name, v as DataValue];
}

/** Writes rows of named columns as CSV text. */
export function toCsv(header: string[], rows: ArrayLike<number>[]): string {
  const lines = [header.join(',')];
  for (const r of rows) lines.push(Array.from(r, (x) => (Number.isInteger(x) ? String(x) : x.toPrecision(8))).join(','));
  return lines.join('\n') + '\n';
}

/** `--data NAME=FILE`: a variable name, '=', and a file name. */
const NAMED_DATA = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/;

/**
 * One `--data` argument: a data file (`FILE.csv` / `FILE.json`, see {@link readDataFile}), or
 * `NAME=FILE`, which reads the variable NAME alone from a CSV file of numbers (see
 * {@link parseNamedCsv}). A path that exists as given is always read as a plain data file.
 */
export function readDataArg(arg: string): Record<string, DataValue> {
  const m = NAMED_DATA.exec(arg);
  if (!m || existsSync(arg)) return readDataFile(arg);
  const [, name, path] = m;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new DataFileError(`--data ${name}=${path}: cannot read data file ${path}`);
  }
  return { [name]: parseNamedCsv(text, path) };
}

const NUMBER_CELL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:Inf|Infinity|inf)$|^(?:NaN|NA)$/;

function cellNumber(s: string): number {
  if (s === 'NA' || s === 'NaN') return NaN;
  if (/^[+-]?(?:Inf|Infinity|inf)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return Number(s);
}

/**
 * The values of one variable from a CSV file of numbers (`--data NAME=FILE`): one column
 * gives a vector [rows], several columns a matrix [rows, cols] (a nested array, one inner
 * array per row). Blank lines and lines starting with `#` are skipped. The first row is a
 * header, and is skipped, when any of its cells is not a number (so a header is optional;
 * its names are not used). Every other cell must be a number (`NA`/`NaN` read as NaN,
 * `Inf`/`-Inf` as infinities); a row with another number of fields than the first is an
 * error. Errors name `file:line` (the line in the file, counting comments and blanks).
 */
export function parseNamedCsv(text: string, path = '<csv>'): number[] | number[][] {
  const lines = text.split(/\r?\n/).map((l, i) => ({ l, no: i + 1 })).filter(({ l }) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new DataFileError(`${path}: no rows (every line is blank or a # comment)`);
  const clean = (c: string) => c.trim().replace(/^"|"$/g, '').trim();
  let body = lines;
  let width = splitRow(lines[0].l).length;
  if (splitRow(lines[0].l).map(clean).some((c) => !NUMBER_CELL.test(c))) {
    body = lines.slice(1);
    if (body.length === 0) throw new DataFileError(`${path}: only a header row, no values`);
    width = splitRow(body[0].l).length;
    const hw = splitRow(lines[0].l).length;
    if (hw !== width) throw new DataFileError(`${path}:${body[0].no}: row has ${width} fields but the header (line ${lines[0].no}) has ${hw} (ragged row)`);
  }
  const rows = body.map(({ l, no }) => {
    const cells = splitRow(l).map(clean);
    if (cells.length !== width) {
      throw new DataFileError(`${path}:${no}: row has ${cells.length} field${cells.length === 1 ? '' : 's'} but line ${body[0].no} has ${width} (ragged row)`);
    }
    return cells.map((c, j) => {
      if (!NUMBER_CELL.test(c)) throw new DataFileError(`${path}:${no}: field ${j + 1} is '${c}', not a number`);
      return cellNumber(c);
    });
  });
  return width === 1 ? rows.map((r) => r[0]) : rows;
}
