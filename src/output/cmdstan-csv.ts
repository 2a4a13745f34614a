/**
 * CmdStan-compatible Stan CSV output for NUTS draws, and a small independent reader.
 *
 * The layout follows what CmdStan 2.3x's `sample` method writes (CmdStan guide, "Stan CSV
 * File Format"), so that `rstan::read_stan_csv`, `cmdstanr::read_cmdstan_csv` and
 * cmdstanpy read the file:
 *
 *   1. `#` comment lines with the argument tree (`# model = ...`, `# method = sample
 *      (Default)`, `#   sample`, `#     num_samples = 1000 (Default)`, ...), each level
 *      indented two spaces, arguments equal to CmdStan's default marked `(Default)`;
 *   2. the column header: the 7 sampler columns, then the parameters;
 *   3. saved warm-up rows, when there are any (`save_warmup = 1`);
 *   4. `# Adaptation terminated`, `# Step size = ...`, `# Diagonal elements of inverse mass
 *      matrix:` (or `# Elements of inverse mass matrix:` for `dense_e`) and the metric rows
 *      (`, `-separated);
 *   5. the sampling rows;
 *   6. the timing footer (`#  Elapsed Time: ... seconds (Warm-up)` ...).
 *
 * Numbers are written as C++'s `operator<<` writes a double (printf `%g` at the stream's
 * precision): draws with `sigFigs` significant digits (CmdStan's default stream precision
 * is 6), NaN and infinities as glibc spells them (`nan`, `inf`, `-inf`), the integer
 * diagnostics (`treedepth__`, `n_leapfrog__`, `divergent__`) as integers. As in CmdStan,
 * the step size, metric and timings always use 6 significant digits and real-valued
 * arguments in the header 17 (`gamma = 0.050000000000000003`).
 */
import { INTEGER_SAMPLER_COLUMNS, SAMPLER_COLUMNS, validateChain, DrawsError, type ChainDraws } from './draws';

export { SAMPLER_COLUMNS, flatNames, flattenValue, unflattenValue, chainDraws, DrawsError } from './draws';
export type { ChainDraws, DrawRows, SamplerColumn, NestedNumbers, VariableShape } from './draws';

// ---------------------------------------------------------------------------------------
// Number formatting: C's %g, exactly.

/** `x = m * 2^e` exactly, with `m` a non-negative integer (x finite, x >= 0). */
function binaryParts(x: number): { m: bigint; e: number } {
  let e = 0;
  let m = x;
  while (!Number.isInteger(m)) { m *= 2; e--; } // exact: doubling a double below 2^53 loses nothing
  return { m: BigInt(m), e };
}

/** Whether `x` (finite, > 0) equals `(2f + 1) / 2 * 10^q` exactly. */
function isExactHalf(x: number, f: bigint, q: number): boolean {
  const { m, e } = binaryParts(x);
  // x * 2 == (2f + 1) * 10^q, with both sides scaled to integers.
  let left = m * 2n;
  let right = 2n * f + 1n;
  if (e >= 0) left <<= BigInt(e); else right <<= BigInt(-e);
  if (q >= 0) right *= 10n ** BigInt(q); else left *= 10n ** BigInt(-q);
  return left === right;
}

/**
 * The `p` significant decimal digits of `x` (finite, > 0) and the decimal exponent of the
 * first, rounded to nearest with ties to even on the exact binary value, as glibc's printf
 * does (JavaScript's `toExponential` rounds exact ties away from zero).
 */
function decimalDigits(x: number, p: number): { digits: string; exp: number } {
  const parse = (s: string) => {
    const [mant, ex] = s.split('e');
    return { digits: mant.replace('.', ''), exp: Number(ex) };
  };
  // One extra digit: an exact tie shows as a trailing 5 at that position.
  const longer = parse(x.toExponential(Math.min(p, 100)));
  if (p <= 100 && longer.digits.endsWith('5')) {
    const floor = BigInt(longer.digits.slice(0, -1));
    if (isExactHalf(x, floor, longer.exp - p + 1)) {
      let n = floor % 2n === 0n ? floor : floor + 1n;
      let exp = longer.exp;
      if (n.toString().length > p) { n /= 10n; exp++; } // 9.5 -> 10: one more order of magnitude
      return { digits: n.toString(), exp };
    }
  }
  return parse(x.toExponential(p - 1));
}

/**
 * Formats a double as C++'s `std::ostream << x` does at precision `p` with default
 * floatfield (printf `"%.{p}g"`): `p` significant digits, fixed notation when the decimal
 * exponent X satisfies -4 <= X < p, scientific (`1.5e-05`, `1e+06`) otherwise, trailing
 * zeros removed; `nan`, `inf`, `-inf` for the non-finite values, `-0` for negative zero.
 */
export function formatG(x: number, p = 6): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (!Number.isInteger(p) || p < 0) throw new RangeError(`formatG: precision ${p} is not a non-negative integer`);
  const P = p === 0 ? 1 : p;
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const { digits, exp } = decimalDigits(Math.abs(x), P);
  let body: string;
  if (exp < -4 || exp >= P) {
    const frac = digits.slice(1).replace(/0+$/, '');
    const e = Math.abs(exp).toString().padStart(2, '0');
    body = `${digits[0]}${frac ? '.' + frac : ''}e${exp < 0 ? '-' : '+'}${e}`;
  } else if (exp >= 0) {
    const frac = digits.slice(exp + 1).replace(/0+$/, '');
    body = digits.slice(0, exp + 1) + (frac ? '.' + frac : '');
  } else {
    body = ('0.' + '0'.repeat(-exp - 1) + digits).replace(/0+$/, '');
  }
  return sign + body;
}

/** Parses a Stan CSV number: decimal or scientific, `nan`/`NaN`/`-nan`, `inf`/`+inf`/`-inf`/`Inf`. */
export function parseStanNumber(s: string): number {
  const t = s.trim();
  const lower = t.toLowerCase();
  if (lower === 'nan' || lower === '-nan' || lower === '+nan') return NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return NaN;
  return Number(t);
}

function isStanNumber(s: string): boolean {
  const lower = s.trim().toLowerCase();
  return /^[+-]?(nan|inf|infinity)$/.test(lower) || /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(lower);
}

// ---------------------------------------------------------------------------------------
// Writer.

/** NUTS adaptation settings (CmdStan's `adapt` arguments); omitted ones take CmdStan's defaults. */
export interface AdaptSettings {
  engaged?: boolean;
  gamma?: number;
  delta?: number;
  kappa?: number;
  t0?: number;
  initBuffer?: number;
  termBuffer?: number;
  window?: number;
}

/** What a CmdStan CSV header records about a run; see {@link writeCmdStanCsv}. */
export interface CmdStanMeta {
  /** The model name (`# model = ...`); CmdStan writes the Stan program's name + `_model`. */
  model: string;
  method?: 'sample';
  algorithm?: 'hmc';
  engine?: 'nuts';
  /** Post-warm-up iterations (before thinning). */
  numSamples: number;
  /** Warm-up iterations (before thinning). */
  numWarmup: number;
  /** Thinning period (default 1). */
  thin?: number;
  /** The run's random seed. */
  seed: number;
  /** The chain's id (`# id = ...`), 1-based as in CmdStan. */
  chainId: number;
  /** The adapted step size (`# Step size = ...`). */
  stepsize: number;
  /** The initial step size argument (`stepsize = 1 (Default)`). */
  initStepsize?: number;
  stepsizeJitter?: number;
  /** NUTS maximum tree depth (default 10). */
  maxDepth?: number;
  adapt?: AdaptSettings;
  metric: 'diag_e' | 'dense_e';
  /**
   * The adapted inverse metric: its diagonal for `diag_e`; for `dense_e` either its rows
   * or the P*P matrix flattened row by row.
   */
  invMetric: number[] | number[][];
  /** Seconds spent in warm-up and in sampling; the footer adds the total. */
  elapsed: { warmup: number; sampling: number };
  /** The data file argument (`data file = ...`), if any. */
  dataFile?: string;
  /** The init argument (default `2`, CmdStan's uniform(-2, 2) on the unconstrained scale). */
  init?: string | number;
  /** The output file argument (default `output.csv`). */
  outputFile?: string;
  /** Significant digits of the draws (default 6, CmdStan's default `sig_figs = -1`). */
  sigFigs?: number;
  /** Stan version the file's layout follows (default 2.33.0). */
  stanVersion?: [number, number, number];
  /** Number of chains of the run (`num_chains`, default 1). */
  numChains?: number;
  /** Start time written as `# start_datetime = ...` (UTC); omitted when absent. */
  startDatetime?: Date;
}

type ArgValue = string | number;
/** A line of the argument tree: a section (no value) or `key = value`, marked default or not. */
interface ArgLine {
  depth: number;
  key: string;
  value?: ArgValue;
  isDefault?: boolean;
}

/** Real-valued arguments print at full precision, as CmdStan's argument printer does. */
const real = (x: number) => formatG(x, 17);

function argLines(meta: CmdStanMeta): ArgLine[] {
  const a = meta.adapt ?? {};
  const thin = meta.thin ?? 1;
  const sigFigs = meta.sigFigs ?? 6;
  // `value` with its CmdStan default: the line is marked `(Default)` when they agree.
  const v = (depth: number, key: string, value: ArgValue, dflt?: ArgValue): ArgLine => ({ depth, key, value, isDefault: dflt !== undefined && value === dflt });
  const sec = (depth: number, key: string): ArgLine => ({ depth, key });
  const lines: ArgLine[] = [];
  const [maj, min, pat] = meta.stanVersion ?? [2, 33, 0];
  lines.push(v(0, 'stan_version_major', maj), v(0, 'stan_version_minor', min), v(0, 'stan_version_patch', pat));
  lines.push(v(0, 'model', meta.model));
  if (meta.startDatetime) lines.push(v(0, 'start_datetime', meta.startDatetime.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')));
  lines.push(
    v(0, 'method', meta.method ?? 'sample', 'sample'),
    sec(1, 'sample'),
    v(2, 'num_samples', meta.numSamples, 1000),
    v(2, 'num_warmup', meta.numWarmup, 1000),
    v(2, 'save_warmup', 0, 0), // patched below when warm-up rows are written
    v(2, 'thin', thin, 1),
    sec(2, 'adapt'),
    v(3, 'engaged', a.engaged === false ? 0 : 1, 1),
    v(3, 'gamma', real(a.gamma ?? 0.05), real(0.05)),
    v(3, 'delta', real(a.delta ?? 0.8), real(0.8)),
    v(3, 'kappa', real(a.kappa ?? 0.75), real(0.75)),
    v(3, 't0', real(a.t0 ?? 10), real(10)),
    v(3, 'init_buffer', a.initBuffer ?? 75, 75),
    v(3, 'term_buffer', a.termBuffer ?? 50, 50),
    v(3, 'window', a.window ?? 25, 25),
    v(2, 'algorithm', meta.algorithm ?? 'hmc', 'hmc'),
    sec(3, 'hmc'),
    v(4, 'engine', meta.engine ?? 'nuts', 'nuts'),
    sec(5, 'nuts'),
    v(6, 'max_depth', meta.maxDepth ?? 10, 10),
    v(4, 'metric', meta.metric, 'diag_e'),
    v(4, 'metric_file', '', ''),
    v(4, 'stepsize', real(meta.initStepsize ?? 1), real(1)),
    v(4, 'stepsize_jitter', real(meta.stepsizeJitter ?? 0), real(0)),
    v(2, 'num_chains', meta.numChains ?? 1, 1),
    v(0, 'id', meta.chainId, 1),
    sec(0, 'data'),
    v(1, 'file', meta.dataFile ?? '', ''),
    v(0, 'init', String(meta.init ?? 2), '2'),
    sec(0, 'random'),
    v(1, 'seed', meta.seed),
    sec(0, 'output'),
    v(1, 'file', meta.outputFile ?? 'output.csv', 'output.csv'),
    v(1, 'diagnostic_file', '', ''),
    v(1, 'refresh', 100, 100),
    v(1, 'sig_figs', sigFigs === 6 ? -1 : sigFigs, -1),
    v(1, 'profile_file', 'profile.csv', 'profile.csv'),
    v(0, 'num_threads', 1, 1),
  );
  return lines;
}

function renderArg(l: ArgLine): string {
  const indent = '  '.repeat(l.depth);
  if (l.value === undefined) return `# ${indent}${l.key}`;
  return `# ${indent}${l.key} = ${l.value}${l.isDefault ? ' (Default)' : ''}`;
}

function checkMeta(meta: CmdStanMeta, nParams: number): void {
  const where = `writeCmdStanCsv (chain ${meta.chainId})`;
  const count = (k: string, x: number | undefined, min: number) => {
    if (x !== undefined && (!Number.isInteger(x) || x < min)) throw new DrawsError(`${where}: ${k} is ${x}, expected an integer >= ${min}`);
  };
  count('numSamples', meta.numSamples, 0);
  count('numWarmup', meta.numWarmup, 0);
  count('thin', meta.thin, 1);
  count('maxDepth', meta.maxDepth, 1);
  count('chainId', meta.chainId, 0);
  count('sigFigs', meta.sigFigs, 1);
  if (meta.sigFigs !== undefined && meta.sigFigs > 18) throw new DrawsError(`${where}: sigFigs ${meta.sigFigs} is above 18 (CmdStan's maximum)`);
  if (!Number.isFinite(meta.seed)) throw new DrawsError(`${where}: seed is ${meta.seed}`);
  if (!(meta.stepsize > 0)) throw new DrawsError(`${where}: step size is ${meta.stepsize}, expected a positive number`);
  if (!/^[^\s,]+$/.test(meta.model)) throw new DrawsError(`${where}: model name '${meta.model}' is empty or has a space or comma`);
  for (const [k, t] of Object.entries(meta.elapsed)) {
    if (!(t >= 0)) throw new DrawsError(`${where}: elapsed ${k} time is ${t}, expected seconds >= 0`);
  }
  const inv = meta.invMetric;
  if (meta.metric === 'diag_e') {
    if (inv.length !== nParams || inv.some((x) => typeof x !== 'number')) {
      throw new DrawsError(`${where}: diag_e needs ${nParams} inverse-metric diagonal entries (one per unconstrained parameter), got ${inv.length}`);
    }
  } else if (meta.metric === 'dense_e') {
    const rows = Array.isArray(inv[0]) ? (inv as number[][]) : null;
    const ok = rows
      ? rows.length === nParams && rows.every((r) => r.length === nParams)
      : inv.length === nParams * nParams;
    if (!ok) throw new DrawsError(`${where}: dense_e needs a ${nParams} x ${nParams} inverse metric`);
  } else {
    throw new DrawsError(`${where}: metric '${meta.metric as string}' is not diag_e or dense_e`);
  }
}

/** The number of rows CmdStan saves from `iterations` iterations thinned by `thin`. */
function savedRows(iterations: number, thin: number): number {
  return Math.ceil(iterations / thin);
}

/** The inverse metric's lines after the adaptation header, as Stan's metric writers print them. */
function metricLines(meta: CmdStanMeta, nParams: number): string[] {
  const row = (xs: readonly number[]) => `# ${xs.map((x) => formatG(x, 6)).join(', ')}`;
  if (meta.metric === 'diag_e') return ['# Diagonal elements of inverse mass matrix:', row(meta.invMetric as number[])];
  const inv = meta.invMetric;
  const rows = Array.isArray(inv[0])
    ? (inv as number[][])
    : Array.from({ length: nParams }, (_, i) => (inv as number[]).slice(i * nParams, (i + 1) * nParams));
  return ['# Elements of inverse mass matrix:', ...rows.map(row)];
}

/** Options of {@link writeCmdStanCsv}. */
export interface CmdStanCsvOptions {
  /**
   * The number of unconstrained parameters (the metric's size). Defaults to the number of
   * parameter columns, which is right when every column is a free scalar parameter.
   */
  unconstrainedDim?: number;
}

/**
 * Writes one chain as a CmdStan `sample` output file (see the module comment for the
 * layout). Checks that the rows are rectangular, that the integer diagnostics are
 * integers, that the row counts match `numSamples`/`numWarmup` after thinning, and that
 * the inverse metric has the right size; throws a `DrawsError` naming the chain otherwise.
 */
export function writeCmdStanCsv(chain: ChainDraws, meta: CmdStanMeta, options: CmdStanCsvOptions = {}): string {
  const where = `writeCmdStanCsv (chain ${meta.chainId})`;
  validateChain(chain, where);
  const nParams = options.unconstrainedDim ?? chain.names.length;
  checkMeta(meta, nParams);
  const thin = meta.thin ?? 1;
  const sigFigs = meta.sigFigs ?? 6;
  if (chain.draws.length !== savedRows(meta.numSamples, thin)) {
    throw new DrawsError(`${where}: ${chain.draws.length} sampling rows, but num_samples = ${meta.numSamples} with thin = ${thin} saves ${savedRows(meta.numSamples, thin)}`);
  }
  if (chain.warmup && chain.warmup.draws.length !== savedRows(meta.numWarmup, thin)) {
    throw new DrawsError(`${where}: ${chain.warmup.draws.length} warm-up rows, but num_warmup = ${meta.numWarmup} with thin = ${thin} saves ${savedRows(meta.numWarmup, thin)}`);
  }
  const args = argLines(meta).map((l) => (l.key === 'save_warmup' && chain.warmup ? { ...l, value: 1, isDefault: false } : l));
  const out: string[] = args.map(renderArg);
  out.push([...SAMPLER_COLUMNS, ...chain.names].join(','));
  const integerAt = SAMPLER_COLUMNS.map((c) => INTEGER_SAMPLER_COLUMNS.has(c));
  const writeRows = (stats: ArrayLike<number>[], draws: ArrayLike<number>[]) => {
    for (let i = 0; i < draws.length; i++) {
      const cells: string[] = [];
      const s = stats[i];
      for (let j = 0; j < s.length; j++) cells.push(integerAt[j] ? String(s[j]) : formatG(s[j], sigFigs));
      const d = draws[i];
      for (let j = 0; j < d.length; j++) cells.push(formatG(d[j], sigFigs));
      out.push(cells.join(','));
    }
  };
  if (chain.warmup) writeRows(chain.warmup.stats, chain.warmup.draws);
  out.push('# Adaptation terminated', `# Step size = ${formatG(meta.stepsize, 6)}`, ...metricLines(meta, nParams));
  writeRows(chain.stats, chain.draws);
  // Stan's timing writer: a blank comment, three lines aligned under " Elapsed Time: ", a blank comment.
  const title = ' Elapsed Time: ';
  const pad = ' '.repeat(title.length);
  const { warmup, sampling } = meta.elapsed;
  out.push(
    '# ',
    `# ${title}${formatG(warmup, 6)} seconds (Warm-up)`,
    `# ${pad}${formatG(sampling, 6)} seconds (Sampling)`,
    `# ${pad}${formatG(warmup + sampling, 6)} seconds (Total)`,
    '# ',
  );
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Reader.

/** Thrown by {@link readCmdStanCsv}; the message names the 1-based line. */
export class CmdStanCsvError extends Error {}

/** What {@link readCmdStanCsv} finds in a Stan CSV file. */
export interface ParsedCmdStanCsv {
  /**
   * `key = value` comment lines before the header, keyed by their path in the argument
   * tree (`method`, `method.sample.num_samples`, `data.file`, `output.file`, ...), with any
   * `(Default)` mark removed.
   */
  config: Record<string, string>;
  /** Every column of the header, in order. */
  columns: string[];
  /** The sampler diagnostic columns (`..__`) found. */
  samplerColumns: string[];
  /** The parameter columns (all others). */
  names: string[];
  /** Rows written before `# Adaptation terminated` (saved warm-up), all columns. */
  warmup: number[][];
  /** Rows written after the adaptation comments (or all rows when there are none). */
  draws: number[][];
  /** The adaptation block, when present. */
  adaptation: { stepsize: number; metric: 'diag_e' | 'dense_e'; invMetric: number[] | number[][] } | null;
  /** The timing footer, when present. */
  elapsed: { warmup: number; sampling: number; total: number } | null;
}

/**
 * The value of an argument by its last path segment (`num_samples`, `seed`), when exactly
 * one argument has that name; throws when the name is missing or ambiguous (`file`).
 */
export function configValue(parsed: ParsedCmdStanCsv, key: string): string {
  const hits = Object.keys(parsed.config).filter((k) => k === key || k.endsWith('.' + key));
  if (hits.length === 0) throw new CmdStanCsvError(`no argument '${key}' in the CSV header`);
  if (hits.length > 1) throw new CmdStanCsvError(`argument '${key}' is ambiguous (${hits.join(', ')}); use the full path`);
  return parsed.config[hits[0]];
}

function parseNumberList(text: string, lineNo: number): number[] {
  return text.split(',').map((s) => {
    if (!isStanNumber(s)) throw new CmdStanCsvError(`line ${lineNo}: '${s.trim()}' in the inverse metric is not a number`);
    return parseStanNumber(s);
  });
}

/**
 * Parses a Stan CSV file written by CmdStan's `sample` method (or {@link writeCmdStanCsv}):
 * the argument comments, the header, the data rows around the adaptation comments and the
 * timing footer. Throws a {@link CmdStanCsvError} naming the line for a ragged row, a cell
 * that is not a number, or a missing header.
 */
export function readCmdStanCsv(text: string): ParsedCmdStanCsv {
  const lines = text.split(/\r?\n/);
  const config: Record<string, string> = {};
  const stack: string[] = []; // section path by depth
  let columns: string[] | null = null;
  const warmup: number[][] = [];
  const draws: number[][] = [];
  let adaptSeen = false;
  let stepsize = NaN;
  let metric: 'diag_e' | 'dense_e' | null = null;
  const metricRows: number[][] = [];
  let inMetric = false;
  const times: Partial<Record<'warmup' | 'sampling' | 'total', number>> = {};

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i];
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const body = line.slice(1);
      if (columns === null) {
        // Argument tree: two spaces of indentation per level after "# ".
        const m = /^( *)([^=]*?)\s*(?:=\s?(.*))?$/.exec(body.replace(/^ /, ''));
        if (!m || m[2] === '') continue;
        const depth = Math.floor(m[1].length / 2);
        const key = m[2].trim();
        stack.length = depth;
        if (m[3] === undefined) {
          stack[depth] = key;
        } else {
          const value = m[3].replace(/\s*\(Default\)\s*$/, '').trim();
          config[[...stack.slice(0, depth), key].join('.')] = value;
          stack[depth] = key;
        }
        continue;
      }
      const c = body.trim();
      if (c === 'Adaptation terminated') { adaptSeen = true; inMetric = false; continue; }
      let m: RegExpExecArray | null;
      if ((m = /^Step size = (.*)$/.exec(c))) {
        if (!isStanNumber(m[1])) throw new CmdStanCsvError(`line ${lineNo}: step size '${m[1]}' is not a number`);
        stepsize = parseStanNumber(m[1]);
        continue;
      }
      if (c === 'Diagonal elements of inverse mass matrix:') { metric = 'diag_e'; inMetric = true; continue; }
      if (c === 'Elements of inverse mass matrix:') { metric = 'dense_e'; inMetric = true; continue; }
      if ((m = /^(?:Elapsed Time:\s*)?(\S+) seconds \((Warm-up|Sampling|Total)\)$/.exec(c))) {
        const key = m[2] === 'Warm-up' ? 'warmup' : m[2] === 'Sampling' ? 'sampling' : 'total';
        if (!isStanNumber(m[1])) throw new CmdStanCsvError(`line ${lineNo}: time '${m[1]}' is not a number`);
        times[key] = parseStanNumber(m[1]);
        inMetric = false;
        continue;
      }
      if (inMetric && c !== '') {
        metricRows.push(parseNumberList(c, lineNo));
        if (metric === 'diag_e') inMetric = false;
        continue;
      }
      inMetric = false;
      continue;
    }
    if (columns === null) {
      columns = line.split(',').map((s) => s.trim());
      const dup = columns.find((c, j) => columns!.indexOf(c) !== j);
      if (dup !== undefined) throw new CmdStanCsvError(`line ${lineNo}: column '${dup}' appears twice in the header`);
      if (columns.some((c) => c === '')) throw new CmdStanCsvError(`line ${lineNo}: the header has an empty column name`);
      continue;
    }
    const cells = line.split(',');
    if (cells.length !== columns.length) {
      throw new CmdStanCsvError(`line ${lineNo}: row has ${cells.length} fields but the header has ${columns.length} (ragged row)`);
    }
    const row = cells.map((s, j) => {
      if (!isStanNumber(s)) throw new CmdStanCsvError(`line ${lineNo}: column '${columns![j]}' is '${s.trim()}', not a number`);
      return parseStanNumber(s);
    });
    (adaptSeen ? draws : warmup).push(row);
    inMetric = false;
  }
  if (columns === null) throw new CmdStanCsvError('no header line: every line is a comment or blank');
  if (metric === 'dense_e') {
    const n = metricRows.length;
    if (metricRows.some((r) => r.length !== n)) throw new CmdStanCsvError(`the dense inverse metric is not square (${n} rows)`);
  }
  const adaptation = adaptSeen
    ? {
        stepsize,
        metric: metric ?? 'diag_e',
        invMetric: metric === 'dense_e' ? metricRows : (metricRows[0] ?? []),
      }
    : null;
  const elapsed = times.warmup !== undefined && times.sampling !== undefined
    ? { warmup: times.warmup, sampling: times.sampling, total: times.total ?? times.warmup + times.sampling }
    : null;
  const samplerColumns = columns.filter((c) => c.endsWith('__'));
  return {
    config,
    columns,
    samplerColumns,
    names: columns.filter((c) => !c.endsWith('__')),
    // Without adaptation comments (e.g. fixed_param) every row is a draw.
    warmup: adaptSeen ? warmup : [],
    draws: adaptSeen ? draws : warmup,
    adaptation,
    elapsed,
  };
}
