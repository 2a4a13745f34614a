/**
 * `mixppl report`: fits a model (EM, as `mixppl fit`; NUTS/HMC, as `mixppl sample`; VI, SMC
 * or a score-based sampler, as `mixppl fit --method vi|smc|...`) and writes one
 * self-contained HTML file with the model source, the fit settings, the summary table and
 * Vega-Lite plots (see src/report). `mixppl report --sbc FILE.json` instead draws the SBC
 * rank records of a results file (src/report/sbc.ts).
 *
 * Exit status as the fit it runs: 0; 3 when EM or VI did not converge or an MCMC or
 * score-based run fails its checks (the report is written all the same); 1 model or data
 * error; 2 usage error.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Model } from '../model/model';
import type { BoundModel, ParamValues } from '../model/bound-model';
import { isNdArray, type DataValue } from '../model/data';
import { em, viterbi, type EmResult } from '../infer/em/index';
import { sample, type McmcResult } from '../infer/mcmc/index';
import { vi, type ViResult } from '../infer/vi/index';
import type { GuideKind } from '../infer/vi/guides';
import { smc, type SmcResult } from '../infer/smc/index';
import { scoreSample, SCORE_METHODS, type ScoreMethod, type ScoreResult } from '../infer/score/index';
import type { SummaryRow } from '../infer/mcmc/summary';
import { parseSampleSettings, readInits, formatSampleReport, sampleVerdict, OptionError, SAMPLE_VALUE_OPTIONS } from './sample';
import { eStepLabel, flattenValue } from './fit';
import { chainProgressFor, lineProgressFor } from './progress';
import { scoreProgressLine } from './approx';
import { DataFileError } from './data-io';
import { buildReportHtml, type ReportData, type ReportPlot } from '../report/html';
import {
  traceSpec, rankSpec, densitySpec, pairSpec, mixture1dSpec, mixture2dSpec, statePathSpec, normalDensity,
  objectiveTraceSpec, temperingSpec, diffusionSpec,
  type Component, type QuantityDraws,
} from '../report/specs';
import { findSbcRecords, sbcReport } from '../report/sbc';

/** The options `mixppl report` takes (besides --help). */
export const REPORT_OPTIONS: readonly string[] = [
  '--data', '--set', '--method', '--map', '--n-init', '--max-iter', '--tol', '--backend', '--out', '--quiet',
  // Not --output-dir (the report is the output) nor --parallel-chains (the chains run in this thread).
  ...SAMPLE_VALUE_OPTIONS.filter((o) => o !== '--output-dir' && o !== '--parallel-chains'), '--guide', '--particles', '--sbc',
];

export const REPORT_METHODS = ['em', 'nuts', 'hmc', 'vi', 'smc', ...SCORE_METHODS] as const;
export type ReportMethod = (typeof REPORT_METHODS)[number];

const MCMC_OPTIONS = ['--chains', '--warmup', '--draws', '--thin', '--algorithm', '--metric', '--delta', '--max-depth', '--init', '--latents', '--chain-update', '--csmc-particles'];

/** The options only some methods take, by method (the others: --data, --set, --method, --seed, --backend, --out, --quiet). */
const METHOD_OPTIONS: Record<ReportMethod, readonly string[]> = {
  em: ['--map', '--n-init', '--max-iter', '--tol'],
  nuts: MCMC_OPTIONS,
  hmc: MCMC_OPTIONS,
  vi: ['--guide', '--max-iter'],
  smc: ['--particles'],
  langevin: ['--chains', '--draws', '--warmup'],
  mala: ['--chains', '--draws', '--warmup'],
  'annealed-langevin': ['--chains', '--draws'],
  rdmc: ['--chains', '--draws'],
};

/** Throws an OptionError for an option the method does not take, naming the methods that do. */
function checkMethodOptions(method: ReportMethod, opts: Map<string, string>, flags: Set<string>): void {
  const all = [...new Set(Object.values(METHOD_OPTIONS).flat())];
  for (const o of all) {
    if (!(opts.has(o) || flags.has(o)) || METHOD_OPTIONS[method].includes(o)) continue;
    const takers = REPORT_METHODS.filter((m) => METHOD_OPTIONS[m].includes(o));
    const list = takers.length > 1 ? `${takers.slice(0, -1).join(', ')} or ${takers[takers.length - 1]}` : takers[0];
    throw new OptionError(`${o}: only with --method ${list}`);
  }
}

export const REPORT_HELP = `usage: mixppl report MODEL.mix --data FILE [options]
       mixppl report --sbc RESULTS.json [--out FILE]

Fits the model and writes one self-contained HTML file (it opens offline; the plots are
Vega-Lite, with vega inlined): the model source, the fit settings, the summary table and
plots. MCMC and score-based samplers: trace, rank, marginal density and pair plots. VI:
the objective (ELBO) trace, the guide's parameters, Pareto k-hat, the marginals of guide
draws. SMC: the temperature ladder with the ESS and acceptance per stage, the log evidence,
the marginals of the particles. For 1-D data a histogram with the fitted mixture density;
for 2-D data a scatter plot with the components' ellipses (Gaussian mixtures with
parameters w, mu and sigma, Sigma or tau and L); for HMMs the most probable (Viterbi)
state path.

With --sbc, no fit: the SBC rank records of a results file (every object with 'ranks' and
'L', as the SBC harness writes them; e.g. test/slow/results/*-sbc.json) are drawn as rank
histograms with the pointwise binomial 99% band and ECDF-difference plots with the
simultaneous 95% band (Sailynoja, Burkner & Vehtari 2022), with the recorded p-values.

options:
  --method NAME        em | nuts | hmc | vi | smc | langevin | mala | annealed-langevin |
                       rdmc (default: em when the model has discrete latents, else nuts)
  --data FILE          .csv or .json data; repeatable
  --set NAME=VALUE     a scalar or JSON array, e.g. --set K=3
  --out FILE           the HTML file (default <model>-report.html; with --sbc
                       <results>-report.html)
  em:                  --map, --n-init N, --max-iter N, --tol X (as 'mixppl fit')
  nuts, hmc:           --chains N, --warmup N, --draws N, --thin N, --metric NAME,
                       --algorithm nuts|hmc (the same as --method),
                       --delta X, --max-depth N, --init FILE.json, --latents marginalize|gibbs,
                       --chain-update ffbs|csmc, --csmc-particles N (as 'mixppl sample')
  vi:                  --guide meanfield|fullrank|lowrank|planar|coupling|amortized,
                       --max-iter N (as 'mixppl fit')
  smc:                 --particles N
  langevin, mala:      --chains N, --draws N, --warmup N
  annealed-langevin, rdmc: --chains N, --draws N
  --sbc FILE.json      draw the SBC ranks of a results file instead of fitting
  --seed N             random seed (default 1)
  --backend NAME       tfjs backend (default wasm)
  --quiet              no progress display (it appears only when stderr is a terminal)

exit status: 0 ok; 3 EM or VI not converged, the MCMC run failed its checks or a
score-based run has R-hat > 1.01 (the report is written all the same); 1 model or data
error; 2 usage error.

examples:
  mixppl report examples/old-faithful/faithful.mix --data examples/old-faithful/faithful.csv --out faithful.html
  mixppl report examples/galaxies/galaxies.mix --data examples/galaxies/galaxies.csv --set K=3 \\
    --method nuts --chains 2 --warmup 200 --draws 200 --out galaxies.html
  mixppl report examples/galaxies/galaxies.mix --data examples/galaxies/galaxies.csv --set K=3 \\
    --method smc --particles 500 --out galaxies-smc.html
  mixppl report --sbc my-sbc-results.json --out my-sbc.html
`;

/** How the report was asked for: the command line's options and the model file. */
export interface ReportRequest {
  modelFile: string;
  modelSource: string;
  dataFiles: readonly string[];
  sets: readonly string[];
  opts: Map<string, string>;
  flags: Set<string>;
}

/** A numeric data variable as a flat array with its shape. */
interface Nd {
  name: string;
  shape: number[];
  values: number[];
}

function toNd(name: string, v: DataValue): Nd | undefined {
  if (isNdArray(v)) return { name, shape: [...v.shape], values: Array.from(v.values) };
  if (!Array.isArray(v)) return undefined;
  const shape: number[] = [];
  let x: unknown = v;
  while (Array.isArray(x)) {
    shape.push(x.length);
    x = x[0];
  }
  const values = (v as unknown[]).flat(Infinity) as unknown[];
  if (!values.every((e) => typeof e === 'number')) return undefined;
  return { name, shape, values: values as number[] };
}

/** The observed variable to plot: the largest real array of shape [N] or [N, D]. */
export function plotData(data: Record<string, DataValue>): Nd | undefined {
  const cands = Object.entries(data).map(([k, v]) => toNd(k, v)).filter((d): d is Nd => !!d && (d.shape.length === 1 || d.shape.length === 2) && d.shape[0] > 1);
  cands.sort((a, b) => b.values.length - a.values.length);
  return cands[0];
}

/** Builds nested arrays (row-major) from a flat slice. */
function nest(flat: ArrayLike<number>, shape: readonly number[], off = 0): unknown {
  if (shape.length === 0) return flat[off];
  const stride = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) => nest(flat, shape.slice(1), off + i * stride));
}

const isNum = (x: unknown): x is number => typeof x === 'number';
const isVec = (x: unknown): x is number[] => Array.isArray(x) && x.every(isNum);
const isMat = (x: unknown): x is number[][] => Array.isArray(x) && x.every(isVec);

/**
 * The Gaussian components of a mixture, read from parameter values by name: weights a
 * simplex (`w`, `theta`, `pi`, `lambda`, or any 1-D parameter that sums to 1), means `mu`
 * ([K] or [K, D]), and scales `sigma` ([K], [K, D] or a scalar), `Sigma` ([K, D, D]) or
 * `tau` and `L` ([K, D] and Cholesky correlation factors [K, D, D]). Only the first two
 * dimensions are kept. Undefined when the parameters do not have that shape.
 */
export function mixtureComponents(params: Record<string, unknown>): Component[] | undefined {
  const sumsToOne = (x: unknown) => isVec(x) && x.length > 0 && x.every((v) => v >= 0) && Math.abs(x.reduce((a, b) => a + b, 0) - 1) < 1e-6;
  const wName = ['w', 'theta', 'pi', 'lambda', 'weights'].find((n) => sumsToOne(params[n])) ?? Object.keys(params).find((n) => sumsToOne(params[n]));
  const mu = params.mu;
  if (!wName || mu === undefined) return undefined;
  const w = params[wName] as number[];
  const K = w.length;
  const { sigma, Sigma, tau, L } = params;
  if (isVec(mu) && mu.length === K) {
    const sd = (k: number) => (isVec(sigma) && sigma.length === K ? sigma[k] : isNum(sigma) ? sigma : NaN);
    if (!Number.isFinite(sd(0))) return undefined;
    return w.map((wk, k) => ({ weight: wk, mean: [mu[k]], cov: [[sd(k) ** 2]] }));
  }
  if (!isMat(mu) || mu.length !== K) return undefined;
  const D = Math.min(2, mu[0].length);
  const idx = Array.from({ length: D }, (_, i) => i);
  const covOf = (k: number): number[][] | undefined => {
    if (Array.isArray(Sigma) && isMat(Sigma[k])) return idx.map((i) => idx.map((j) => (Sigma[k] as number[][])[i][j]));
    if (Array.isArray(tau) && Array.isArray(L) && isVec(tau[k]) && isMat(L[k])) {
      const t = tau[k] as number[];
      const l = L[k] as number[][];
      // cov = diag(tau) L L' diag(tau), first D rows and columns.
      return idx.map((i) => idx.map((j) => t[i] * t[j] * l[i].reduce((a, _, m) => a + l[i][m] * (l[j][m] ?? 0), 0)));
    }
    if (Array.isArray(sigma) && isVec(sigma[k])) return idx.map((i) => idx.map((j) => (i === j ? (sigma[k] as number[])[i] ** 2 : 0)));
    const s = isVec(sigma) && sigma.length === K ? sigma[k] : isNum(sigma) ? sigma : undefined;
    return s === undefined ? undefined : idx.map((i) => idx.map((j) => (i === j ? s * s : 0)));
  };
  const comps: Component[] = [];
  for (let k = 0; k < K; k++) {
    const cov = covOf(k);
    if (!cov || cov.flat().some((v) => !Number.isFinite(v))) return undefined;
    comps.push({ weight: w[k], mean: idx.map((i) => mu[k][i]), cov });
  }
  return comps;
}

/** Parameter values of one flat draw (constrained, row-major per parameter), nested by the parameters' shapes. */
function drawParams(r: { params: readonly { name: string; shape: readonly number[] }[] }, values: ArrayLike<number>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let off = 0;
  for (const p of r.params) {
    out[p.name] = nest(values, p.shape, off);
    off += p.shape.reduce((a, b) => a * b, 1);
  }
  return out;
}

/** The data and HMM plots shared by EM and MCMC reports, at point estimates `params`. */
function dataPlots(bm: BoundModel, data: Record<string, DataValue>, params: Record<string, unknown>, label: string, draws?: Record<string, unknown>[]): ReportPlot[] {
  const plots: ReportPlot[] = [];
  const nd = plotData(data);
  let paths: ReturnType<typeof viterbi> = {};
  try {
    paths = viterbi(bm, params as ParamValues);
  } catch {
    paths = {};
  }
  const chain = Object.entries(paths).find(([, p]) => p.chain);
  if (chain && nd && nd.shape.length === 1 && nd.shape[0] === chain[1].path.length) {
    plots.push({
      id: 'state-path', title: `Most probable state path (${chain[0]})`,
      caption: `The data against time, coloured by the Viterbi path of ${chain[0]} at the ${label}.`,
      spec: statePathSpec(nd.values, chain[1].path, `Viterbi path at the ${label}`),
    });
    return plots;
  }
  const comps = mixtureComponents(params);
  if (!nd || !comps) return plots;
  if (nd.shape.length === 1 && comps[0].mean.length === 1) {
    // With draws: the posterior mean of the density, which label switching does not blur.
    const drawComps = (draws ?? []).map(mixtureComponents).filter((c): c is Component[] => !!c && c[0].mean.length === 1);
    const mean = drawComps.length
      ? (x: number) => drawComps.reduce((a, cs) => a + cs.reduce((b, c) => b + c.weight * normalDensity([x], c), 0), 0) / drawComps.length
      : undefined;
    plots.push({
      id: 'data-mixture', title: `Data ${nd.name} with the fitted mixture`,
      caption: mean
        ? `Histogram of ${nd.name} (as a density); solid: the posterior mean of the mixture density over ${drawComps.length} draws; dashed: the weighted components at the ${label}.`
        : `Histogram of ${nd.name} (as a density) with the mixture density (solid) and its weighted components (dashed) at the ${label}.`,
      spec: mixture1dSpec(nd.values, comps, `${nd.name}: mixture at the ${label}`, mean),
    });
  } else if (nd.shape.length === 2 && nd.shape[1] >= 2 && comps[0].mean.length === 2) {
    const D = nd.shape[1];
    const pts = Array.from({ length: nd.shape[0] }, (_, n) => [nd.values[n * D], nd.values[n * D + 1]]);
    plots.push({
      id: 'data-mixture', title: `Data ${nd.name} with the fitted components`,
      caption: `${nd.name}[, 1] against ${nd.name}[, 2], coloured by the most probable component; ellipses: 1 and 2 standard deviations of each component at the ${label}; crosses: the means.`,
      spec: mixture2dSpec(pts, comps, `${nd.name}: components at the ${label}`, [`${nd.name}.1`, `${nd.name}.2`]),
    });
  }
  return plots;
}

function settingsBase(req: ReportRequest, method: string): [string, string][] {
  return [
    ['model file', req.modelFile],
    ['data', req.dataFiles.join(', ') || '(none)'],
    ['--set', req.sets.join(', ') || '(none)'],
    ['method', method],
  ];
}

/** Fits by EM and builds the report's content. */
export function emReport(model: Model, bm: BoundModel, data: Record<string, DataValue>, req: ReportRequest, e: EmResult, settings: [string, string][]): ReportData {
  const rows = Object.entries(e.params).flatMap(([k, v]) => flattenValue(k, v));
  return {
    title: `mixppl report: ${model.name} (EM)`,
    modelFile: req.modelFile,
    modelSource: req.modelSource,
    settings,
    notes: [
      `log likelihood ${e.logLik.toFixed(4)}; ${e.iterations} iterations; ${e.converged ? 'converged' : 'NOT converged'}; ${e.seconds.toFixed(2)} s`,
      `BIC ${e.bic.toFixed(3)}, AIC ${e.aic.toFixed(3)}, ICL ${e.icl.toFixed(3)} (${e.nParams} free parameters, ${e.nObs} observations; lower is better)`,
      `closed-form updates: ${e.closedForm.join(', ') || 'none'}; E-step: ${eStepLabel(e)}`,
    ],
    warnings: e.converged ? [] : ['EM did not converge (raise --max-iter)'],
    table: { columns: ['parameter', 'estimate'], rows: rows.map(([k, v]) => [k, v]) },
    plots: dataPlots(bm, data, e.params, 'EM estimate'),
  };
}

/** The quantities plotted for an MCMC run: lp__ and the parameters that vary, at most `max`. */
function plotQuantities(r: McmcResult, max: number): QuantityDraws[] {
  const rows = r.summary();
  const varying = rows.filter((row) => row.name !== 'lp__' && row.sd > 0).map((row) => row.name);
  return ['lp__', ...varying.slice(0, max - 1)].map((name) => ({ name, chains: r.draws(name) }));
}

/** Builds the report's content for an MCMC run. */
export function mcmcReport(model: Model, bm: BoundModel, data: Record<string, DataValue>, req: ReportRequest, r: McmcResult, settings: [string, string][]): ReportData {
  const text = formatSampleReport(r).split('\n');
  const notes = text.slice(0, 3);
  const verdict = sampleVerdict(r.diagnostics, r.settings.chains, r.summary());
  const qs = plotQuantities(r, 12);
  const params = qs.filter((q) => q.name !== 'lp__');
  const mean = r.means();
  const meanParams = drawParams(r, Float64Array.from(r.names, (n) => mean[n]));
  const pooled = r.chains.flatMap((c) => c.values);
  const step = Math.max(1, Math.floor(pooled.length / 200));
  const draws = pooled.filter((_, i) => i % step === 0).map((v) => drawParams(r, v));
  const omitted = r.summary().filter((row) => row.name !== 'lp__' && row.sd > 0).length - params.length;
  const more = omitted > 0 ? ` (${omitted} more quantities are in the table)` : '';
  const plots: ReportPlot[] = [
    { id: 'trace', title: 'Trace plots', caption: `Draws after warm-up against iteration, one colour per chain${more}.`, spec: traceSpec(qs) },
    { id: 'rank', title: 'Rank plots', caption: 'Histograms of the ranks of each chain\'s draws among all draws; for chains that mix well they are flat (dashed: the expected count).', spec: rankSpec(qs) },
    { id: 'density', title: 'Marginal posterior densities', caption: 'Kernel density estimates, one per chain.', spec: densitySpec(params.length ? params : qs) },
  ];
  if (params.length >= 2) {
    plots.push({ id: 'pairs', title: 'Pair plot', caption: `The first ${Math.min(4, params.length)} parameters: scatter plots below the diagonal, histograms on it.`, spec: pairSpec(params.slice(0, 4)) });
  }
  plots.push(...dataPlots(bm, data, meanParams, 'posterior mean', draws));
  const s = r.summary();
  return {
    title: `mixppl report: ${model.name} (${r.settings.algorithm.toUpperCase()})`,
    modelFile: req.modelFile,
    modelSource: req.modelSource,
    settings,
    notes,
    warnings: [...r.diagnostics.warnings, ...verdict.reasons.filter((x) => x.startsWith('R-hat is NA'))],
    table: {
      columns: ['quantity', 'mean', 'median', 'sd', 'mad', 'q5', 'q95', 'R-hat', 'ESS bulk', 'ESS tail', 'MCSE mean'],
      rows: s.map((row) => [row.name, row.mean, row.median, row.sd, row.mad, row.q5, row.q95, row.rhat, Math.round(row.essBulk), Math.round(row.essTail), row.mcseMean]),
    },
    plots,
  };
}

const SUMMARY_COLUMNS = ['quantity', 'mean', 'median', 'sd', 'mad', 'q5', 'q95'];

/** Per-quantity columns of flat draws, as one-chain QuantityDraws, for the names that vary (at most `max`). */
function drawQuantities(names: readonly string[], draws: readonly ArrayLike<number>[], max: number): QuantityDraws[] {
  const out: QuantityDraws[] = [];
  names.forEach((name, j) => {
    const col = Float64Array.from(draws, (d) => d[j]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of col) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (hi > lo && out.length < max) out.push({ name, chains: [col] });
  });
  return out;
}

/** Marginal density and pair plots of independent (or equally weighted) draws, and the data plots at their mean. */
function independentDrawPlots(
  bm: BoundModel, data: Record<string, DataValue>, names: readonly string[], draws: readonly ArrayLike<number>[], what: string,
): ReportPlot[] {
  const qs = drawQuantities(names, draws, 11);
  const varying = names.filter((n, j) => { const c = draws.map((d) => d[j]); return Math.max(...c) > Math.min(...c); }).length;
  const more = varying > qs.length ? ` (${varying - qs.length} more quantities are in the table)` : '';
  const plots: ReportPlot[] = [];
  if (qs.length) plots.push({ id: 'density', title: 'Marginal densities', caption: `Kernel density estimates of ${draws.length} ${what}${more}.`, spec: densitySpec(qs) });
  if (qs.length >= 2) plots.push({ id: 'pairs', title: 'Pair plot', caption: `The first ${Math.min(4, qs.length)} quantities of the ${what}: scatter plots below the diagonal, histograms on it.`, spec: pairSpec(qs.slice(0, 4)) });
  const mean = new Float64Array(names.length);
  for (const d of draws) for (let j = 0; j < names.length; j++) mean[j] += d[j] / draws.length;
  const step = Math.max(1, Math.floor(draws.length / 200));
  const some = draws.filter((_, i) => i % step === 0).map((d) => drawParams(bm, d));
  plots.push(...dataPlots(bm, data, drawParams(bm, mean), 'posterior mean', some));
  return plots;
}

/** The report's content for a VI fit. */
export function viReport(model: Model, bm: BoundModel, data: Record<string, DataValue>, req: ReportRequest, r: ViResult, settings: [string, string][], seed: number): ReportData {
  const guide = r.guide.kind;
  const { khat } = r.psis(1000, seed);
  const verdict = !(khat <= 0.7) ? 'the guide is far from the posterior: do not trust it' : khat > 0.5 ? 'usable with care' : 'the guide is close to the posterior';
  const elbo = r.elbo[r.elbo.length - 1];
  const rows: SummaryRow[] = r.summary(4000, seed);
  const draws = r.draws(4000, seed);
  // The guide on the unconstrained scale: location and scale of each coordinate.
  const mu = r.guide.mean();
  const cov = r.guide.covariance();
  const guideRows: (string | number)[][] = [];
  for (const p of bm.params) {
    for (let j = 0; j < p.size; j++) {
      const i = p.offset + j;
      guideRows.push([p.size === 1 ? p.name : `${p.name} [${j + 1}]`, p.constraint.name, mu[i], Math.sqrt(cov[i][i])]);
    }
  }
  const warnings: string[] = [];
  if (!r.converged) warnings.push(`VI did not converge in ${r.steps} steps (raise --max-iter)`);
  if (!(khat <= 0.7)) warnings.push(`Pareto k-hat ${khat.toFixed(2)} > 0.7: ${verdict}`);
  if (r.rejected > 0) warnings.push(`${r.rejected} steps had a non-finite objective or gradient and were skipped`);
  return {
    title: `mixppl report: ${model.name} (VI, ${guide} guide)`,
    modelFile: req.modelFile,
    modelSource: req.modelSource,
    settings,
    notes: [
      `VI, ${guide} ${guide === 'planar' || guide === 'coupling' ? 'flow' : 'Gaussian'} guide on the unconstrained scale; ${r.steps} steps; ${r.converged ? 'converged' : 'NOT converged'}; ${r.seconds.toFixed(2)} s`,
      `ELBO ${elbo.toFixed(4)} (trailing mean; a lower bound on the log evidence)`,
      `Pareto k-hat ${khat.toFixed(2)} (PSIS of 1000 guide draws; ${verdict})`,
      'the table summarises 4000 independent draws from the guide (their MCSE is the Monte Carlo error of the draws, not of the approximation)',
    ],
    warnings,
    table: {
      columns: [...SUMMARY_COLUMNS, 'MCSE mean'],
      rows: rows.map((x) => [x.name, x.mean, x.median, x.sd, x.mad, x.q5, x.q95, x.mcseMean]),
    },
    extraTables: [{
      title: 'Guide',
      caption: `The ${guide} guide's mean and standard deviation of each unconstrained coordinate${guide === 'planar' || guide === 'coupling' ? ' (Monte Carlo estimates: a flow has no closed form)' : guide === 'amortized' ? ' (a local parameter\'s are the encoder\'s outputs for its data row)' : ''}; the constraint names the transform back.`,
      columns: ['coordinate', 'constraint', 'mean', 'sd'],
      rows: guideRows,
    }],
    plots: [
      {
        id: 'objective', title: 'Objective trace',
        caption: 'The ELBO estimate at each step (light; NaN steps were rejected) and its trailing mean (dark), which decides convergence. The first steps may lie below the plotted range.',
        spec: objectiveTraceSpec(r.elboRaw, r.elbo, 'ELBO'),
      },
      ...independentDrawPlots(bm, data, r.names, draws, 'draws from the guide'),
    ],
  };
}

/** Weighted quantile of values with normalised weights. */
function weightedQuantile(values: ArrayLike<number>, w: ArrayLike<number>, p: number): number {
  const idx = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  let acc = 0;
  for (const i of idx) {
    acc += w[i];
    if (acc >= p) return values[i];
  }
  return values[idx[idx.length - 1]];
}

/** Systematic resampling with the fixed offset 1/2: n indices, particle i about n·w_i times. */
function resampleIndices(w: ArrayLike<number>, n: number): number[] {
  const out: number[] = [];
  let acc = w[0];
  let i = 0;
  for (let k = 0; k < n; k++) {
    const u = (k + 0.5) / n;
    while (u > acc && i < w.length - 1) acc += w[++i];
    out.push(i);
  }
  return out;
}

/** The report's content for a tempered SMC run. */
export function smcReport(model: Model, bm: BoundModel, data: Record<string, DataValue>, req: ReportRequest, r: SmcResult, settings: [string, string][], seconds: number): ReportData {
  const P = r.weights.length;
  const stages = r.betas.map((beta, t) => ({ stage: t, beta, ess: r.ess[t] / P, acceptance: r.acceptance[t], resampled: r.resampled[t] }));
  const finalEss = 1 / r.weights.reduce((a, w) => a + w * w, 0);
  const rows = r.names.map((name, j) => {
    const col = Float64Array.from(r.particles, (x) => x[j]);
    const m = r.moments(name);
    return [name, m.mean, weightedQuantile(col, r.weights, 0.5), Math.sqrt(m.variance), weightedQuantile(col, r.weights, 0.05), weightedQuantile(col, r.weights, 0.95)];
  });
  const draws = resampleIndices(r.weights, P).map((i) => r.particles[i]);
  const warnings: string[] = [];
  if (finalEss < 0.1 * P) warnings.push(`the final weights' ESS is ${finalEss.toFixed(0)} of ${P} particles: the estimates rest on few particles (raise --particles)`);
  const lowAccept = stages.filter((s) => s.stage > 0 && s.acceptance < 0.1).length;
  if (lowAccept) warnings.push(`${lowAccept} stage${lowAccept === 1 ? '' : 's'} moved fewer than 10% of the particles: the rejuvenation may not mix`);
  return {
    title: `mixppl report: ${model.name} (tempered SMC)`,
    modelFile: req.modelFile,
    modelSource: req.modelSource,
    settings,
    notes: [
      `tempered SMC, ${P} particles, ${r.betas.length - 1} stages (${r.resampled.filter(Boolean).length} resampled); ${seconds.toFixed(2)} s`,
      `log evidence ${r.logZ.toFixed(4)} (log Z-hat, the sum of the per-stage increments)`,
      `ESS of the final weights ${finalEss.toFixed(0)} of ${P}`,
      'the table gives weighted means, sds and quantiles of the final particles; the plots show them resampled to equal weights (systematic resampling)',
    ],
    warnings,
    table: { columns: ['quantity', 'mean', 'median', 'sd', 'q5', 'q95'], rows },
    extraTables: [{
      title: 'Stages',
      columns: ['stage', 'temperature β', 'ESS', 'resampled', 'acceptance', 'step size', 'log Z increment'],
      rows: stages.map((s, t) => [t, s.beta, Math.round(r.ess[t]), s.resampled ? 'yes' : 'no', s.acceptance, r.stepSizes[t], t === 0 ? NaN : r.logZIncrements[t - 1] ?? NaN]),
    }],
    plots: [
      {
        id: 'tempering', title: 'Temperature ladder and ESS per stage',
        caption: 'The adaptive ladder of β from the prior (0) to the posterior (1); the ESS of the weights after each stage\'s reweighting, as a fraction of the particles; the acceptance rate of the rejuvenation moves. Red points: the stage resampled.',
        spec: temperingSpec(stages, 'tempered SMC'),
      },
      ...independentDrawPlots(bm, data, r.names, draws, 'resampled particles'),
    ],
  };
}

const SCORE_DESCRIPTIONS: Record<ScoreMethod, string> = {
  langevin: 'unadjusted Langevin (biased by O(step size))',
  mala: 'MALA (Metropolis-adjusted Langevin)',
  'annealed-langevin': 'annealed Langevin with Feynman–Kac weights, resampled to equal weights',
  rdmc: 'reverse diffusion Monte Carlo',
};

/** The report's content for a score-based run: the MCMC pages of its draws, with its own notes and ladder. */
export function scoreReport(model: Model, bm: BoundModel, data: Record<string, DataValue>, req: ReportRequest, r: ScoreResult, settings: [string, string][]): ReportData {
  const base = mcmcReport(model, bm, data, req, r, settings);
  const s = r.settings;
  const particle = r.method === 'annealed-langevin' || r.method === 'rdmc';
  const d = r.diagnostics;
  const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : 'NA');
  const notes = [
    `${SCORE_DESCRIPTIONS[r.method]}; ${s.chains} ${particle ? 'groups' : 'chains'} x ${s.draws} draws${particle ? '' : ` after ${s.warmup} warm-up`}, seed ${s.seed}; ${r.seconds.toFixed(2)} s`,
    `max R-hat ${fmt(d.maxRhat)}; min ESS bulk ${fmt(d.minEssBulk, 0)}, tail ${fmt(d.minEssTail, 0)}${particle ? ' (the groups are independent particles, split so that R-hat and ESS apply)' : ''}`,
  ];
  if (!particle) notes.push(`step size ${fmt(r.chains[0].stepsize, 4)}; mean acceptance ${fmt(d.meanAcceptStat)}${r.method === 'langevin' ? ' (no Metropolis test: 1 by construction)' : ''}`);
  const plots = base.plots.filter((p) => !(particle && p.id === 'trace'));
  if (particle) {
    const rank = plots.find((p) => p.id === 'rank');
    if (rank) rank.caption = 'Histograms of the ranks of each group\'s draws among all draws: the groups are independent particles, so every histogram should be flat (dashed: the expected count).';
  }
  if (r.annealing) {
    const a = r.annealing;
    const P = s.chains * s.draws;
    notes.push(`log evidence ${fmt(r.logZ, 4)} (${a.betas.length - 1} levels; log Z-hat of the posterior against the Gaussian reference)`);
    plots.unshift({
      id: 'tempering', title: 'Annealing ladder and ESS per level',
      caption: 'The adaptive ladder of β from the Gaussian reference (0) to the posterior (1); the ESS of the Feynman–Kac weights after each level, as a fraction of the particles; the MALA acceptance at each level. Red points: the level resampled.',
      spec: temperingSpec(a.betas.map((beta, t) => ({ stage: t, beta, ess: a.ess[t] / P, acceptance: a.acceptance[t], resampled: a.resampled[t] })), 'annealed Langevin'),
    });
  }
  if (r.diffusion) {
    const f = r.diffusion;
    notes.push(`${f.times.length - 1} reverse steps from t = ${fmt(f.times[0], 2)} to ${fmt(f.times[f.times.length - 1], 4)}; ${f.evals} target evaluations`);
    plots.unshift({
      id: 'diffusion', title: 'Inner importance sampling per reverse step',
      caption: 'The mean relative ESS of the importance weights behind each score estimate, against the diffusion time (the reverse process runs from large t to small); a low ESS means a noisy score.',
      spec: diffusionSpec(f.times, f.innerEss, 'reverse diffusion Monte Carlo'),
    });
  }
  return { ...base, title: `mixppl report: ${model.name} (${r.method})`, notes, plots };
}

/** The guides `--guide` takes (those of `mixppl fit --method vi`). */
const REPORT_GUIDES: readonly GuideKind[] = ['meanfield', 'fullrank', 'lowrank', 'planar', 'coupling', 'amortized'];

/** Reads a positive integer option (default when absent). */
function posInt(opts: Map<string, string>, key: string, dflt: number, min = 1): number {
  const raw = opts.get(key);
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new OptionError(`${key} must be ${min === 0 ? 'a nonnegative' : 'a positive'} integer, got '${raw}'`);
  return v;
}

/** Fits by VI, SMC or a score-based sampler (the defaults of `mixppl fit`) and builds the report. */
function approxReport(model: Model, data: Record<string, DataValue>, req: ReportRequest, method: 'vi' | 'smc' | ScoreMethod): { report: ReportData; code: number } {
  const { opts, flags } = req;
  const seed = Number(opts.get('--seed') ?? 1);
  if (!Number.isSafeInteger(seed)) throw new OptionError(`--seed must be an integer, got '${opts.get('--seed')}'`);
  const guide = (opts.get('--guide') ?? 'fullrank') as GuideKind;
  if (!REPORT_GUIDES.includes(guide)) {
    throw new OptionError(`--guide must be ${REPORT_GUIDES.slice(0, -1).join(', ')} or ${REPORT_GUIDES[REPORT_GUIDES.length - 1]}, got '${guide}'`);
  }
  const steps = posInt(opts, '--max-iter', 10000);
  const particles = posInt(opts, '--particles', 1000);
  const chains = posInt(opts, '--chains', 4);
  const draws = posInt(opts, '--draws', 1000);
  const warmup = posInt(opts, '--warmup', 1000, 0);
  const bm = model.bind(data);
  try {
    if (method === 'vi') {
      const progress = lineProgressFor(process.stderr, flags.has('--quiet'));
      let r: ViResult;
      try {
        r = vi(bm, {
          guide, steps, seed,
          onStep: progress ? (t, n, _e, m) => progress.update(`VI step ${t}/${n}  objective (window mean) ${Number.isFinite(m) ? m.toFixed(3) : '…'}`, t === n) : undefined,
        });
      } finally {
        progress?.finish();
      }
      const settings = settingsBase(req, 'VI (ELBO, Adam)');
      settings.push(['guide', guide], ['max steps', String(steps)], ['steps taken', String(r.steps)], ['seed', String(seed)]);
      return { report: viReport(model, bm, data, req, r, settings, seed), code: r.converged ? 0 : 3 };
    }
    if (method === 'smc') {
      const progress = lineProgressFor(process.stderr, flags.has('--quiet'));
      const t0 = performance.now();
      let r: SmcResult;
      try {
        r = smc(model, bm, {
          particles, seed, data,
          onStage: progress ? (stage, beta, ess) => progress.update(`SMC stage ${stage}  beta ${beta.toFixed(4)}  ESS ${ess.toFixed(0)}/${particles}`, beta === 1) : undefined,
        });
      } finally {
        progress?.finish();
      }
      const settings = settingsBase(req, 'tempered SMC (adaptive, conditional ESS 0.5; HMC rejuvenation)');
      settings.push(['particles', String(particles)], ['seed', String(seed)]);
      return { report: smcReport(model, bm, data, req, r, settings, (performance.now() - t0) / 1000), code: 0 };
    }
    const particle = method === 'annealed-langevin' || method === 'rdmc';
    const progress = lineProgressFor(process.stderr, flags.has('--quiet'));
    let r: ScoreResult;
    try {
      r = scoreSample(bm, {
        method, seed, chains, draws, ...(particle ? {} : { warmup }),
        onProgress: progress ? (p) => progress.update(scoreProgressLine(p)) : undefined,
      });
    } finally {
      progress?.finish();
    }
    const settings = settingsBase(req, SCORE_DESCRIPTIONS[method]);
    settings.push([particle ? 'groups' : 'chains', String(chains)], ['draws per ' + (particle ? 'group' : 'chain'), String(draws)]);
    if (!particle) settings.push(['warm-up iterations', String(warmup)]);
    settings.push(['seed', String(seed)]);
    return { report: scoreReport(model, bm, data, req, r, settings), code: chains > 1 && r.diagnostics.maxRhat > 1.01 ? 3 : 0 };
  } finally {
    bm.dispose();
  }
}

/**
 * Runs `mixppl report` on a compiled model and its data (the backend already chosen):
 * fits, writes the HTML file, prints its path and returns the exit status.
 */
export function reportCommand(model: Model, data: Record<string, DataValue>, req: ReportRequest): number {
  const { opts, flags } = req;
  if (opts.has('--sbc')) throw new OptionError('--sbc: give the results file alone (mixppl report --sbc FILE.json), without a model file');
  const method = (opts.get('--method') ?? (model.ir.latents.length ? 'em' : 'nuts')) as ReportMethod;
  if (!(REPORT_METHODS as readonly string[]).includes(method)) throw new OptionError(`report: unknown method '${method}'; available: ${REPORT_METHODS.join(', ')}`);
  checkMethodOptions(method, opts, flags);
  const out = opts.get('--out') ?? `${model.name}-report.html`;
  const num = (k: string) => (opts.has(k) ? Number(opts.get(k)) : undefined);
  let report: ReportData;
  let code: number;
  if (method === 'em') {
    const seed = Number(opts.get('--seed') ?? 1);
    const bm = model.bind(data);
    try {
      const objective = flags.has('--map') ? 'map' : 'mle';
      const progress = lineProgressFor(process.stderr, flags.has('--quiet'));
      let e: EmResult;
      try {
        e = em(bm, {
          seed, nInit: num('--n-init'), maxIter: num('--max-iter'), tol: num('--tol'), objective,
          onIteration: progress ? (st, i, ll) => progress.update(`EM start ${st + 1}  iteration ${i}  log likelihood ${ll.toFixed(3)}`) : undefined,
        });
      } finally {
        progress?.finish();
      }
      const settings = settingsBase(req, `EM (${objective === 'map' ? 'MAP' : 'maximum likelihood'})`);
      settings.push(['seed', String(seed)], ['starts', String(e.starts.length)]);
      if (opts.has('--max-iter')) settings.push(['max iterations', opts.get('--max-iter')!]);
      if (opts.has('--tol')) settings.push(['tolerance', opts.get('--tol')!]);
      report = emReport(model, bm, data, req, e, settings);
      code = e.converged ? 0 : 3;
    } finally {
      bm.dispose();
    }
  } else if (method === 'nuts' || method === 'hmc') {
    const s = parseSampleSettings(opts, flags, method);
    const init = s.init === undefined ? undefined : readInits(s.init, s.chains);
    const bm = model.bind(data);
    const progress = chainProgressFor(process.stderr, s.chains, s.warmup + s.draws * s.thin, s.quiet);
    try {
      let r: McmcResult;
      try {
        r = sample(bm, {
          chains: s.chains, warmup: s.warmup, draws: s.draws, thin: s.thin, seed: s.seed,
          algorithm: s.algorithm, metric: s.metric, delta: s.delta, maxTreeDepth: s.maxDepth, init,
          latents: s.latents, chainUpdate: s.chainUpdate, csmcParticles: s.csmcParticles,
          onIteration: progress ? (c, it, phase, div) => progress.update(c, it, phase, div) : undefined,
        });
      } catch (e) {
        if (e instanceof RangeError && e.message.startsWith('sample:')) {
          process.stderr.write(`mixppl report: ${e.message}\n`);
          return 1;
        }
        throw e;
      } finally {
        progress?.finish();
      }
      const settings = settingsBase(req, s.algorithm === 'nuts' ? 'NUTS' : 'static HMC');
      settings.push(
        ['chains', String(s.chains)], ['warm-up iterations', String(s.warmup)], ['draws per chain', String(s.draws)], ['thin', String(s.thin)],
        ['seed', String(s.seed)], ['metric', `${s.metric} (used: ${r.settings.metric})`], ['delta', String(s.delta)],
      );
      if (s.algorithm === 'nuts') settings.push(['max tree depth', String(s.maxDepth)]);
      if (s.latents === 'gibbs') {
        const path = s.chainUpdate === 'csmc' ? `; chain paths by conditional SMC, ${s.csmcParticles ?? 20} particles` : s.chainUpdate === 'ffbs' ? '; chain paths by FFBS' : '';
        settings.push(['discrete latents', `drawn by Gibbs${path}`]);
      }
      if (s.init) settings.push(['init', s.init]);
      report = mcmcReport(model, bm, data, req, r, settings);
      code = sampleVerdict(r.diagnostics, s.chains, r.summary()).code;
    } finally {
      bm.dispose();
    }
  } else {
    try {
      ({ report, code } = approxReport(model, data, req, method));
    } catch (e) {
      // The families' own failures (no continuous parameters, a run that cannot proceed) are model/data errors.
      if (e instanceof Error && /^(vi|smc|scoreSample): /.test(e.message)) {
        process.stderr.write(`mixppl report --method ${method}: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
  }
  writeReport(out, report);
  if (code === 3) {
    const why = method === 'em' ? 'EM did not converge' : method === 'vi' ? 'VI did not converge' : method === 'nuts' || method === 'hmc' ? 'the MCMC run failed its checks (see the warnings in the report)' : 'max R-hat > 1.01';
    process.stderr.write(`mixppl report: exit status 3: ${why}\n`);
  }
  return code;
}

function writeReport(out: string, report: ReportData): void {
  try {
    writeFileSync(out, buildReportHtml(report));
  } catch (e) {
    throw new DataFileError(`cannot write ${out}: ${(e as Error).message}`);
  }
  process.stdout.write(`wrote ${out} (${report.plots.length} plot${report.plots.length === 1 ? '' : 's'})\n`);
}

/**
 * `mixppl report --sbc FILE.json [--out FILE.html]`: the SBC rank histograms and ECDF plots
 * of every rank record in a results file (no model, no fit). `given` is every option on the
 * command line; `positional` the arguments after 'report'. Returns the exit status: 0, or
 * 1 (DataFileError) when the file is missing, not JSON or holds no ranks.
 */
export function sbcReportCommand(file: string, opts: Map<string, string>, given: readonly string[], positional: readonly string[]): number {
  const allowed = ['--sbc', '--out', '--quiet', '--help'];
  const bad = given.filter((o) => !allowed.includes(o));
  if (bad.length) throw new OptionError(`${bad[0]}: not with --sbc (it takes --out only)`);
  if (positional.length) throw new OptionError(`--sbc: give the results file alone, without a model file (got '${positional[0]}')`);
  if (!existsSync(file)) throw new DataFileError(`--sbc: no such file: ${file}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataFileError(`--sbc: ${file} is not JSON: ${(e as Error).message}`);
  }
  let records;
  try {
    records = findSbcRecords(json, file);
  } catch (e) {
    throw new DataFileError(`--sbc: ${(e as Error).message}`);
  }
  if (records.length === 0) {
    throw new DataFileError(`--sbc: ${file} holds no SBC ranks (an object with 'ranks' and 'L'); results written before the harness recorded ranks need their test rerun`);
  }
  const out = opts.get('--out') ?? `${basename(file).replace(/\.json$/i, '')}-report.html`;
  writeReport(out, sbcReport(file, json, records));
  return 0;
}
