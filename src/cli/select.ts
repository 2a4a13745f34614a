/**
 * `mixppl select`: fits one or more models for several numbers of components K by EM
 * and prints a table of log likelihoods and information criteria with the winner.
 * Exit status: 0; 3 when the winning fit did not converge; 1 for model or data errors;
 * 2 for usage errors (thrown as {@link OptionError}).
 */
import { writeFileSync } from 'node:fs';
import type { Model } from '../model/model';
import type { DataValue } from '../model/data';
import { BACKENDS } from '../tensor/backend';
import { selectModels, selectModelsAsync, CRITERIA, type Criterion, type SelectRow } from '../infer/em/select';
import { canReadSync } from '../tensor';
import { OptionError } from './sample';

/** Options that take a value. */
export const SELECT_VALUE_OPTIONS = ['--k', '--criterion', '--n-init', '--max-iter', '--tol', '--seed', '--out'] as const;
/** Every option `select` accepts (besides --help). */
export const SELECT_OPTIONS = ['--data', '--set', '--backend', '--quiet', ...SELECT_VALUE_OPTIONS] as const;

export const SELECT_HELP = `usage: mixppl select MODEL.mix [MODEL2.mix ...] --data FILE --k 1..6 [options]

Fits each model for each number of components K (the model's data K) by maximum-likelihood
EM and prints log likelihood, free parameters, BIC, AIC and ICL per fit, and the best fit
by the criterion (lower is better, as 'mixppl fit' reports them). Several models compare,
e.g., covariance structures: stdlib/gmm_full.mix stdlib/gmm_diag.mix stdlib/gmm_tied.mix.

options:
  --k LIST                     values of K: a range 1..6, a list 1,2,4, or both (1..3,5)
  --criterion NAME             ${CRITERIA.join(' | ')} (default bic)
  --data FILE                  .csv or .json data; repeatable
  --set NAME=VALUE             a scalar or JSON array
  --n-init N                   EM starts per fit (default 1)
  --max-iter N, --tol X        EM iteration limit and convergence tolerance
  --seed N                     random seed (default 1)
  --backend NAME               ${BACKENDS.join(' | ')} (default wasm)
  --out FILE                   also write the table as JSON
  --quiet                      no progress line on a terminal

exit status: 0 ok; 3 when the best fit did not converge; 1 model or data error;
2 usage error.

example:
  mixppl select stdlib/gmm_full.mix stdlib/gmm_diag.mix --data x.csv --k 1..6 --n-init 3
`;

export interface SelectCliSettings {
  K: number[];
  criterion: Criterion;
  nInit: number;
  seed: number;
  maxIter?: number;
  tol?: number;
  out?: string;
  quiet: boolean;
}

/** Parses `--k`: ranges `a..b` and single values, comma-separated; sorted, without repeats. */
export function parseKList(raw: string): number[] {
  const out = new Set<number>();
  const int = (s: string) => {
    const t = s.trim();
    if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) < 1) throw new OptionError(`--k: '${s}' is not a positive integer (in '${raw}')`);
    return Number(t);
  };
  for (const part of raw.split(',')) {
    const m = /^(.*)\.\.(.*)$/.exec(part);
    if (m) {
      const lo = int(m[1]);
      const hi = int(m[2]);
      if (hi < lo) throw new OptionError(`--k: empty range ${part.trim()}`);
      if (hi - lo > 1000) throw new OptionError(`--k: range ${part.trim()} is too long`);
      for (let k = lo; k <= hi; k++) out.add(k);
    } else out.add(int(part));
  }
  return [...out].sort((a, b) => a - b);
}

function intOption(opts: Map<string, string>, name: string, min: number): number | undefined {
  const raw = opts.get(name);
  if (raw === undefined) return undefined;
  const s = raw.trim();
  if (!/^[+-]?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new OptionError(`${name}: '${raw}' is not an integer`);
  const v = Number(s);
  if (v < min) throw new OptionError(`${name} must be at least ${min}, got ${v}`);
  return v;
}

/** Reads and checks the select options; usage errors throw OptionError. */
export function parseSelectSettings(opts: Map<string, string>, flags: Set<string>): SelectCliSettings {
  const rawK = opts.get('--k');
  if (rawK === undefined) throw new OptionError('select needs --k, e.g. --k 1..6');
  const K = parseKList(rawK);
  const criterion = opts.get('--criterion') ?? 'bic';
  if (!(CRITERIA as readonly string[]).includes(criterion)) throw new OptionError(`--criterion: '${criterion}' is not one of ${CRITERIA.join(', ')}`);
  let tol: number | undefined;
  const rawTol = opts.get('--tol');
  if (rawTol !== undefined) {
    tol = Number(rawTol);
    if (rawTol.trim() === '' || !Number.isFinite(tol) || tol <= 0) throw new OptionError(`--tol: '${rawTol}' is not a positive number`);
  }
  const out = opts.get('--out');
  if (out === '') throw new OptionError('--out needs a file name');
  return {
    K, criterion: criterion as Criterion, nInit: intOption(opts, '--n-init', 1) ?? 1, seed: intOption(opts, '--seed', 0) ?? 1,
    maxIter: intOption(opts, '--max-iter', 0), tol, out, quiet: flags.has('--quiet'),
  };
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e7 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(4) : x.toFixed(3);
}

/** Formats the table: one row per (model, K); `*` marks fits that did not converge, `<` the best. */
export function formatSelectTable(rows: SelectRow[], best: SelectRow, criterion: Criterion): string {
  const head = ['model', 'K', 'logLik', 'params', 'BIC', 'AIC', 'ICL', ''];
  const body = rows.map((r) => [
    r.model, String(r.K), fmt(r.logLik), String(r.nParams), fmt(r.bic), fmt(r.aic), fmt(r.icl),
    `${r.converged ? '' : '*'}${r === best ? ' <' : ''}`.trim(),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i <= 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ').trimEnd();
  const lines = [line(head), ...body.map(line)];
  if (rows.some((r) => !r.converged)) lines.push('* did not converge within the iteration limit');
  lines.push(`best by ${criterion.toUpperCase()}: ${best.model} with K = ${best.K} (${criterion.toUpperCase()} ${fmt(best[criterion])}; lower is better)`);
  return lines.join('\n') + '\n';
}

/** Runs the comparison and prints it; resolves to the exit status. */
export async function selectCommand(models: { model: Model; file: string }[], data: Record<string, DataValue>, s: SelectCliSettings): Promise<number> {
  // Tables name models by their declared name, or by file when two share one.
  const names = models.map((m) => m.model.name);
  const candidates = models.map((m, i) => ({ model: m.model, label: names.indexOf(names[i]) !== names.lastIndexOf(names[i]) ? m.file : names[i] }));
  const tty = process.stderr.isTTY && !s.quiet;
  const total = models.length * s.K.length;
  let done = 0;
  if (tty) process.stderr.write(`fitting 1 of ${total} ...`);
  // Where the backend cannot read synchronously (webgpu under Node.js) each fit is emAsync.
  const r = await (canReadSync() ? selectModels : selectModelsAsync)(candidates, data, {
    K: s.K, criterion: s.criterion, nInit: s.nInit, seed: s.seed, maxIter: s.maxIter, tol: s.tol,
    onFit: tty ? (row) => process.stderr.write(`\r\x1b[Kfitted ${++done} of ${total} (${row.model}, K = ${row.K})`) : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const n = r.rows[0].nObs;
  const head = `select: ${models.length} model${models.length === 1 ? '' : 's'} x ${s.K.length} value${s.K.length === 1 ? '' : 's'} of K, EM (maximum likelihood), ${s.nInit} start${s.nInit === 1 ? '' : 's'} each, seed ${s.seed}; ${n} observations\n\n`;
  process.stdout.write(head + formatSelectTable(r.rows, r.best, r.criterion));
  if (s.out) {
    const rows = r.rows.map((row) => ({
      model: row.model, K: row.K, logLik: row.logLik, nParams: row.nParams, nObs: row.nObs, bic: row.bic, aic: row.aic, icl: row.icl,
      converged: row.converged, iterations: row.iterations, params: row.fit.params,
    }));
    writeFileSync(s.out, JSON.stringify({ criterion: r.criterion, best: { model: r.best.model, K: r.best.K }, rows }, null, 2));
    process.stdout.write(`wrote ${s.out}\n`);
  }
  return r.best.converged ? 0 : 3;
}
