/**
 * Posterior summary table, like CmdStan's stansummary and the R package posterior's
 * summarise_draws (default measures): per scalar quantity its mean, median, sd, mad, 5% / 50% /
 * 95% quantiles, rank-normalised R-hat, bulk and tail ESS, and the Monte Carlo standard errors
 * of the mean and sd. Pure float64; the diagnostics are those of ./diagnostics (NaN where
 * posterior gives NA, printed as "NA").
 */
import { essBulk, essTail, mcseMean, mcseSd, quantiles, rhat, type Draws } from './diagnostics';

/** Draws of one named scalar quantity: chains x iterations. */
export interface NamedDraws {
  name: string;
  chains: Draws;
}

/** One row of the summary; NaN where a value is undefined (see ./diagnostics). */
export interface SummaryRow {
  name: string;
  mean: number;
  median: number;
  /** Sample standard deviation (denominator S - 1). */
  sd: number;
  /** Median absolute deviation scaled by 1.4826 (R's mad), a robust sd. */
  mad: number;
  q5: number;
  q50: number;
  q95: number;
  rhat: number;
  essBulk: number;
  essTail: number;
  mcseMean: number;
  mcseSd: number;
}

export interface SummarizeOptions {
  /**
   * Compute R-hat, ESS and MCSE (default true). With false those fields are NaN, which is
   * much cheaper for many quantities when only the location / scale columns are wanted.
   */
  diagnostics?: boolean;
}

/** Location / scale statistics over all draws pooled: mean, median, sd, mad, quantiles. */
function pooledStats(chains: Draws): Pick<SummaryRow, 'mean' | 'median' | 'sd' | 'mad' | 'q5' | 'q50' | 'q95'> {
  let S = 0;
  for (const c of chains) S += c.length;
  const x = new Float64Array(S);
  let o = 0;
  for (const c of chains) for (let i = 0; i < c.length; i++) x[o++] = c[i];
  let sum = 0;
  for (let i = 0; i < S; i++) sum += x[i];
  let mean = sum / S;
  if (Number.isFinite(mean)) {
    let r = 0;
    for (let i = 0; i < S; i++) r += x[i] - mean;
    mean += r / S;
  }
  let ss = 0;
  for (let i = 0; i < S; i++) ss += (x[i] - mean) ** 2;
  const sd = S > 1 ? Math.sqrt(ss / (S - 1)) : NaN;
  const [q5, q50, q95] = quantiles([x], [0.05, 0.5, 0.95]);
  const [mad] = quantiles([x.map((v) => Math.abs(v - q50))], [0.5]);
  return { mean, median: q50, sd, mad: 1.4826 * mad, q5, q50, q95 };
}

/**
 * Summarises each named quantity (posterior's summarise_draws with its default measures plus
 * mcse_mean and mcse_sd). Every quantity needs at least one chain, all its chains of one length
 * (RangeError naming the quantity otherwise). Diagnostics are NaN for fewer than 4 draws per
 * chain, constant or non-finite draws.
 */
export function summarize(draws: readonly NamedDraws[], opts: SummarizeOptions = {}): SummaryRow[] {
  const withDiagnostics = opts.diagnostics ?? true;
  return draws.map(({ name, chains }) => {
    if (!chains || chains.length === 0) throw new RangeError(`summarize: '${name}' has no chains`);
    const n = chains[0].length;
    chains.forEach((c, k) => {
      if (c.length !== n) {
        throw new RangeError(`summarize: '${name}': all chains must have the same number of draws (chain 0 has ${n}, chain ${k} has ${c.length})`);
      }
    });
    if (n === 0) throw new RangeError(`summarize: '${name}' has no draws`);
    const d = withDiagnostics;
    return {
      name,
      ...pooledStats(chains),
      rhat: d ? rhat(chains) : NaN,
      essBulk: d ? essBulk(chains) : NaN,
      essTail: d ? essTail(chains) : NaN,
      mcseMean: d ? mcseMean(chains) : NaN,
      mcseSd: d ? mcseSd(chains) : NaN,
    };
  });
}

/** Extra columns for formatSummary, appended after ess_tail. */
export interface FormatExtras {
  /** Column header -> one value per row (e.g. { mcse_mean: rows.map((r) => r.mcseMean) }). */
  columns?: Readonly<Record<string, ArrayLike<number>>>;
  /** Significant digits of the location / scale columns and extra columns (default 3, 1..15). */
  sigFigs?: number;
}

/** A number to `sig` significant digits, fixed notation for moderate magnitudes. */
export function formatSig(x: number, sig = 3): string {
  if (Number.isNaN(x)) return 'NA';
  if (!Number.isFinite(x)) return x > 0 ? 'Inf' : '-Inf';
  if (x === 0) return '0';
  const mag = Math.floor(Math.log10(Math.abs(x)));
  if (mag >= 6 || mag < -4) return x.toExponential(sig - 1);
  const s = x.toFixed(Math.max(0, sig - 1 - mag));
  // Rounding can carry into a new digit (9.996 -> "10.00"); redo with the new magnitude.
  const carried = Math.floor(Math.log10(Math.abs(Number(s))));
  return carried > mag ? x.toFixed(Math.max(0, sig - 1 - carried)) : s;
}

const formatRhat = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : formatSig(x));
const formatEss = (x: number): string => (Number.isFinite(x) ? String(Math.round(x)) : formatSig(x));

/**
 * A fixed-width text table of summary rows, like stansummary / posterior's printed summary:
 * columns variable, mean, median, sd, mad, q5, q95, rhat, ess_bulk, ess_tail, then any extra
 * columns. Location / scale values get 3 significant digits, rhat 2 decimals, ESS whole numbers,
 * undefined values "NA". The variable column is left-aligned, the rest right-aligned; lines are
 * separated by "\n", with no trailing newline.
 */
export function formatSummary(rows: readonly SummaryRow[], extras: FormatExtras = {}): string {
  const sig = extras.sigFigs ?? 3;
  if (!Number.isInteger(sig) || sig < 1 || sig > 15) throw new RangeError(`formatSummary: sigFigs must be an integer in 1..15, got ${sig}`);
  const extra = Object.entries(extras.columns ?? {});
  for (const [name, values] of extra) {
    if (values.length !== rows.length) {
      throw new RangeError(`formatSummary: extra column '${name}' has ${values.length} values for ${rows.length} rows`);
    }
  }
  const f = (x: number) => formatSig(x, sig);
  const header = ['variable', 'mean', 'median', 'sd', 'mad', 'q5', 'q95', 'rhat', 'ess_bulk', 'ess_tail', ...extra.map(([h]) => h)];
  const body = rows.map((r, i) => [
    r.name, f(r.mean), f(r.median), f(r.sd), f(r.mad), f(r.q5), f(r.q95),
    formatRhat(r.rhat), formatEss(r.essBulk), formatEss(r.essTail),
    ...extra.map(([, values]) => f(values[i])),
  ]);
  const table = [header, ...body];
  const widths = header.map((_, j) => Math.max(...table.map((line) => line[j].length)));
  return table
    .map((line) => line.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  '))
    .join('\n');
}
