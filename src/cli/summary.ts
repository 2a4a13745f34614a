/**
 * `mixppl summary FILE.csv...`: a stansummary-like table of CmdStan CSV files, one file per
 * chain (written by `mixppl sample --output-dir` or by CmdStan itself). Rows: `lp__` and
 * every parameter column (the other sampler columns, `accept_stat__` ... `energy__`, are
 * left out of the table); then the divergences and maximum-tree-depth hits counted from the
 * sampler columns. Only the draws after `# Adaptation terminated` are summarised (saved
 * warm-up rows are skipped).
 *
 * Exit codes: 0 ok; 1 a file that cannot be read or parsed, or files that do not match
 * (other columns, or chains of different lengths); 2 a usage error (no files).
 */
import { readFileSync } from 'node:fs';
import { readCmdStanCsv, CmdStanCsvError, type ParsedCmdStanCsv } from '../output/cmdstan-csv';
import { summarize, formatSummary } from '../infer/mcmc/summary';
import { DataFileError } from './data-io';

/** `mixppl summary --help`. */
export const SUMMARY_HELP = `usage: mixppl summary FILE.csv [FILE.csv ...]

Reads CmdStan CSV files, one per chain (as written by 'mixppl sample --output-dir DIR' or by
CmdStan's sample method), and prints a stansummary-like table (mean, median, sd, mad, q5, q95,
R-hat, bulk and tail ESS) of lp__ and every parameter column, then the number of divergent
transitions and of transitions that hit the maximum tree depth. Saved warm-up rows are
skipped. Every file must have the same columns and the same number of draws.

exit status: 0 ok; 1 a file that cannot be read or parsed, or files that do not match;
2 a usage error (e.g. no files).

example:
  mixppl sample examples/galaxies/galaxies.mix --data examples/galaxies/galaxies.csv --set K=3 --output-dir out
  mixppl summary out/galaxies-*.csv
`;

/** The options `mixppl summary` takes (besides --help). */
export const SUMMARY_OPTIONS: readonly string[] = [];

interface Chain {
  file: string;
  parsed: ParsedCmdStanCsv;
}

function readChain(file: string): Chain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new DataFileError(`cannot read CmdStan CSV file ${file}`);
  }
  try {
    return { file, parsed: readCmdStanCsv(text) };
  } catch (e) {
    if (e instanceof CmdStanCsvError) throw new DataFileError(`${file}: ${e.message}`);
    throw e;
  }
}

/** The maximum tree depth a file was run with (`max_depth`), or undefined when not recorded. */
function maxDepthOf(p: ParsedCmdStanCsv): number | undefined {
  const key = Object.keys(p.config).find((k) => k === 'max_depth' || k.endsWith('.max_depth'));
  const v = key === undefined ? NaN : Number(p.config[key]);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * The summary report of CmdStan CSV files (one per chain): the table and the sampler counts.
 * Throws a DataFileError naming the file for unreadable or mismatched files.
 */
export function summarizeCsvFiles(files: readonly string[]): string {
  const chains = files.map(readChain);
  const first = chains[0];
  const cols = first.parsed.columns;
  for (const c of chains.slice(1)) {
    const other = c.parsed.columns;
    if (other.length !== cols.length || other.some((x, j) => x !== cols[j])) {
      const missing = cols.filter((x) => !other.includes(x));
      const extra = other.filter((x) => !cols.includes(x));
      const detail = missing.length || extra.length
        ? [missing.length ? `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}` : '', extra.length ? `extra ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}` : '']
          .filter(Boolean).join('; ')
        : 'the same names in another order';
      throw new DataFileError(`${c.file}: its columns do not match those of ${first.file} (${detail})`);
    }
  }
  const n = first.parsed.draws.length;
  for (const c of chains) {
    if (c.parsed.draws.length === 0) throw new DataFileError(`${c.file}: no draws after warm-up`);
    if (c.parsed.draws.length !== n) {
      throw new DataFileError(`${c.file}: ${c.parsed.draws.length} draws, but ${first.file} has ${n}; every chain must have the same number of draws`);
    }
  }
  const col = (name: string) => cols.indexOf(name);
  const column = (j: number) => chains.map((c) => Float64Array.from(c.parsed.draws, (r) => r[j]));
  const tableNames = [...(col('lp__') >= 0 ? ['lp__'] : []), ...first.parsed.names];
  const rows = summarize(tableNames.map((name) => ({ name, chains: column(col(name)) })));

  const total = n * chains.length;
  const lines = [
    `${chains.length} chain${chains.length === 1 ? '' : 's'} x ${n} draws (${files.join(', ')})`,
  ];
  const counts: string[] = [];
  const jDiv = col('divergent__');
  if (jDiv >= 0) {
    let d = 0;
    for (const c of chains) for (const r of c.parsed.draws) if (r[jDiv] !== 0) d++;
    counts.push(`divergences ${d} of ${total}`);
  }
  const jDepth = col('treedepth__');
  if (jDepth >= 0) {
    const depths = chains.map((c) => maxDepthOf(c.parsed));
    if (depths.every((x) => x !== undefined)) {
      let h = 0;
      chains.forEach((c, k) => {
        for (const r of c.parsed.draws) if (r[jDepth] >= depths[k]!) h++;
      });
      const uniq = [...new Set(depths)];
      counts.push(`tree-depth hits ${h} of ${total} (max depth ${uniq.join(', ')})`);
    } else {
      let mx = 0;
      for (const c of chains) for (const r of c.parsed.draws) mx = Math.max(mx, r[jDepth]);
      counts.push(`largest tree depth ${mx} (max_depth not recorded in the files)`);
    }
  }
  if (counts.length) lines.push(counts.join('; '));
  lines.push('', formatSummary(rows), '');
  return lines.join('\n');
}

/** Runs `mixppl summary` and returns its exit status (usage errors are thrown by the caller). */
export function summaryCommand(files: readonly string[]): number {
  process.stdout.write(summarizeCsvFiles(files));
  return 0;
}
