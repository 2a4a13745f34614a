/**
 * SBC pages of `mixppl report --sbc FILE.json`: reads the rank records of a results file
 * written by the SBC harness (src/testing/sbc.ts: `sbcRecord`, or any object with `ranks`
 * and `L`), and draws per record a rank histogram with the pointwise binomial 99% band
 * (Talts et al. 2018) and the ECDF difference with the simultaneous 95% band of Säilynoja,
 * Bürkner & Vehtari (2022) (src/testing/ecdf.ts), with the recorded p-values in a table.
 */
import { ecdfBand, ecdfDifference } from '../testing/ecdf';
import { rankBins } from '../testing/stats';
import { sbcTests } from '../testing/sbc';
import type { ReportData, ReportPlot } from './html';
import { sbcEcdfSpec, sbcHistogramSpec, type SbcEcdfPanel, type SbcHistogramPanel } from './specs';

/** One SBC run found in a results file. */
export interface FoundSbcRecord {
  /** Where it sits in the file (`models.mixture`), or '(top level)'. */
  path: string;
  L: number;
  ranks: Record<string, number[]>;
  /** The recorded p-values (computed from the ranks when the file has none). */
  pValues: Record<string, { chi2: number; ks: number }>;
  /** The recorded adjusted p-values, when there are. */
  adjusted?: Record<string, { chi2: number; ks: number }>;
  /** The recorded failed elements, when there are. */
  failed?: string[];
  /** The record's scalar fields (description, R, seconds, ...), for the page. */
  info: [string, string][];
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isRanks = (x: unknown): x is Record<string, unknown[]> => isObj(x) && Object.keys(x).length > 0 && Object.values(x).every(Array.isArray);
const isPTable = (x: unknown): x is Record<string, { chi2: number; ks: number }> =>
  isObj(x) && Object.values(x).every((v) => isObj(v) && typeof v.chi2 === 'number' && typeof v.ks === 'number');

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === 'boolean') return String(v);
  if (isObj(v) && Object.values(v).every((x) => typeof x === 'number' || typeof x === 'string')) {
    return Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ') || '(none)';
  }
  return undefined;
}

/**
 * Returns every SBC record in a parsed results file: each object that has `ranks` (an
 * object of arrays) and an integer `L` (its own or the nearest enclosing object's). Throws
 * a RangeError naming the file and the element for a rank outside 0..L or ranks of
 * different lengths within one record.
 */
export function findSbcRecords(json: unknown, file: string): FoundSbcRecord[] {
  const out: FoundSbcRecord[] = [];
  const visit = (node: unknown, path: string[], inheritedL: number | undefined, depth: number) => {
    if (!isObj(node) || depth > 6) return;
    const L = typeof node.L === 'number' ? node.L : inheritedL;
    const where = path.length ? path.join('.') : '(top level)';
    if (isRanks(node.ranks)) {
      if (L === undefined || !Number.isInteger(L) || L < 1) throw new RangeError(`${file}: ${where}: ranks without a positive integer L (the number of draws ranked against)`);
      const ranks: Record<string, number[]> = {};
      let R: number | undefined;
      for (const [el, rs] of Object.entries(node.ranks)) {
        rs.forEach((r, i) => {
          if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r > L) throw new RangeError(`${file}: ${where}: rank ${i + 1} of ${el} is ${JSON.stringify(r)}, not an integer in 0..${L}`);
        });
        if (R !== undefined && rs.length !== R) throw new RangeError(`${file}: ${where}: ${el} has ${rs.length} ranks, the others ${R}`);
        R = rs.length;
        ranks[el] = rs as number[];
      }
      if (R! < 10) throw new RangeError(`${file}: ${where}: ${R} replications; the rank plots need at least 10`);
      const recorded = isPTable(node.pValues) ? node.pValues : undefined;
      const info: [string, string][] = [];
      for (const [k, v] of Object.entries(node)) {
        if (['ranks', 'pValues', 'adjusted', 'adjustedWithinModel', 'failed', 'insideEcdfBand'].includes(k)) continue;
        const t = scalarText(v);
        if (t !== undefined) info.push([k, t]);
      }
      if (!('L' in node)) info.push(['L', String(L)]);
      info.push(['replications (ranks per element)', String(R)]);
      out.push({
        path: where, L, ranks, pValues: recorded ?? computedPValues(ranks, L),
        adjusted: isPTable(node.adjusted) ? node.adjusted : undefined,
        failed: Array.isArray(node.failed) ? node.failed.map(String) : undefined,
        info,
      });
      return;
    }
    for (const [k, v] of Object.entries(node)) visit(v, [...path, k], L, depth + 1);
  };
  visit(json, [], undefined, 0);
  return out;
}

/** The p-values of `sbcTests`, or NaN where there are too few ranks for its bins. */
function computedPValues(ranks: Record<string, number[]>, L: number): Record<string, { chi2: number; ks: number }> {
  try {
    return sbcTests(ranks, L).pValues;
  } catch {
    return Object.fromEntries(Object.keys(ranks).map((k) => [k, { chi2: NaN, ks: NaN }]));
  }
}

/** Smallest k with P(X <= k) >= q, for X ~ Binomial(n, p) (log-space pmf recursion). */
export function binomialQuantile(n: number, p: number, q: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return n;
  const lr = Math.log(p) - Math.log1p(-p);
  let lpmf = n * Math.log1p(-p);
  let acc = 0;
  for (let k = 0; k <= n; k++) {
    acc += Math.exp(lpmf);
    if (acc >= q - 1e-12) return k;
    lpmf += Math.log(n - k) - Math.log(k + 1) + lr;
  }
  return n;
}

/** Rank histogram panels: the chi-square test's bins with the pointwise binomial (1 - alpha) band per bin. */
export function sbcHistogramPanels(ranks: Record<string, number[]>, L: number, alpha = 0.01): SbcHistogramPanel[] {
  return Object.entries(ranks).map(([element, rs]) => {
    const R = rs.length;
    let B: number;
    try {
      B = rankBins(R, L);
    } catch {
      B = Math.min(L + 1, 2); // too few ranks for the test's bins (expected count >= 5): two bins
    }
    const edges = Array.from({ length: B + 1 }, (_, b) => Math.round((b * (L + 1)) / B));
    const bins = edges.slice(0, -1).map((lo, b) => {
      const hi = edges[b + 1];
      const p = (hi - lo) / (L + 1);
      const count = rs.filter((r) => r >= lo && r < hi).length;
      return { lo, hi, count, expected: R * p, lower: binomialQuantile(R, p, alpha / 2), upper: binomialQuantile(R, p, 1 - alpha / 2) };
    });
    return { element, bins };
  });
}

/** ECDF difference panels with the simultaneous (1 - alpha) band (one band per distinct R). */
export function sbcEcdfPanels(ranks: Record<string, number[]>, L: number, alpha = 0.05, seed = 0): SbcEcdfPanel[] {
  const bands = new Map<number, ReturnType<typeof ecdfBand>>();
  return Object.entries(ranks).map(([element, rs]) => {
    let band = bands.get(rs.length);
    if (!band) bands.set(rs.length, (band = ecdfBand(rs.length, L, { alpha, seed })));
    return { element, z: band.z, diff: ecdfDifference(rs, L, band), lower: band.lower, upper: band.upper };
  });
}

/** Level of the rank histograms' pointwise band and of the ECDF plots' simultaneous band. */
export const SBC_HIST_ALPHA = 0.01;
export const SBC_ECDF_ALPHA = 0.05;

/** Builds the report of the SBC records of one results file. */
export function sbcReport(file: string, json: unknown, records: readonly FoundSbcRecord[]): ReportData {
  const top = isObj(json) ? json : {};
  const settings: [string, string][] = [['results file', file]];
  for (const [k, v] of Object.entries(top)) {
    const t = scalarText(v);
    if (t !== undefined) settings.push([k, t]);
  }
  const rows: (string | number)[][] = [];
  const plots: ReportPlot[] = [];
  const warnings: string[] = [];
  records.forEach((rec, i) => {
    const ecdf = sbcEcdfPanels(rec.ranks, rec.L, SBC_ECDF_ALPHA);
    const R = Object.values(rec.ranks)[0].length;
    for (const p of ecdf) {
      const inside = p.diff.every((d, k) => d >= p.lower[k] && d <= p.upper[k]);
      const pv = rec.pValues[p.element];
      const adj = rec.adjusted?.[p.element];
      const failed = rec.failed ? (rec.failed.includes(p.element) ? 'yes' : 'no') : 'not recorded';
      rows.push([rec.path, p.element, R, rec.L, pv?.chi2 ?? NaN, pv?.ks ?? NaN, adj?.chi2 ?? NaN, adj?.ks ?? NaN, inside ? 'yes' : 'no', failed]);
    }
    if (rec.failed?.length) warnings.push(`${rec.path}: failed (as recorded): ${rec.failed.join(', ')}`);
    const id = `sbc-${i + 1}`;
    const about = rec.info.filter(([k]) => ['model', 'description', 'family', 'mustBeCalibrated'].includes(k)).map(([k, v]) => `${k}: ${v}`).join('; ');
    plots.push({
      id: `${id}-ranks`, title: `SBC rank histograms: ${rec.path} (R = ${R}, L = ${rec.L})`,
      caption: `${about ? about + '. ' : ''}Counts of the rank of each true value among L posterior draws, in the bins of the chi-square test; grey: the pointwise binomial ${100 * (1 - SBC_HIST_ALPHA)}% band of each bin's count under uniform ranks; dashed: the expected count. A ∪ shape means too narrow posteriors, ∩ too wide, a slope a bias.`,
      spec: sbcHistogramSpec(sbcHistogramPanels(rec.ranks, rec.L, SBC_HIST_ALPHA), `${rec.path}: rank histograms`),
    });
    plots.push({
      id: `${id}-ecdf`, title: `SBC ECDF difference: ${rec.path}`,
      caption: `The ECDF of rank/(L+1) minus the uniform CDF; grey: the simultaneous ${100 * (1 - SBC_ECDF_ALPHA)}% band (Säilynoja, Bürkner & Vehtari 2022, by simulation with a fixed seed): a calibrated method leaves it anywhere with probability ${SBC_ECDF_ALPHA}; red points are outside.`,
      spec: sbcEcdfSpec(ecdf, `${rec.path}: ECDF difference`),
    });
  });
  return {
    title: `mixppl report: SBC results ${file}`,
    settings,
    settingsTitle: 'Run',
    notes: [
      `${records.length} SBC record${records.length === 1 ? '' : 's'}: ${records.map((r) => r.path).join(', ')}`,
      'p-values as recorded (chi-square over rank bins, KS of the randomised PIT; "adjusted" is the file\'s multiple-testing correction); "inside band" is computed here from the ranks.',
    ],
    warnings,
    table: {
      columns: ['record', 'element', 'R', 'L', 'p chi2', 'p KS', 'adjusted chi2', 'adjusted KS', `inside ${100 * (1 - SBC_ECDF_ALPHA)}% band`, 'failed'],
      rows,
    },
    extraTables: records.map((r) => ({ title: `Record ${r.path}`, columns: ['field', 'value'], rows: r.info })),
    plots,
  };
}
