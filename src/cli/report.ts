/**
 * `mixppl report`: fits a model (EM, as `mixppl fit`, or NUTS/HMC, as `mixppl sample`) and
 * writes one self-contained HTML file with the model source, the fit settings, the summary
 * table and Vega-Lite plots (see src/report).
 *
 * Exit status as the fit it runs: 0; 3 when EM did not converge or the MCMC run fails the
 * checks of `mixppl sample` (the report is written all the same); 1 model or data error;
 * 2 usage error.
 */
import { writeFileSync } from 'node:fs';
import type { Model } from '../model/model';
import type { BoundModel, ParamValues } from '../model/bound-model';
import { isNdArray, type DataValue } from '../model/data';
import { em, viterbi, type EmResult } from '../infer/em/index';
import { sample, type McmcResult } from '../infer/mcmc/index';
import { parseSampleSettings, readInits, formatSampleReport, sampleVerdict, OptionError, SAMPLE_VALUE_OPTIONS } from './sample';
import { flattenValue } from './fit';
import { chainProgressFor } from './progress';
import { DataFileError } from './data-io';
import { buildReportHtml, type ReportData, type ReportPlot } from '../report/html';
import {
  traceSpec, rankSpec, densitySpec, pairSpec, mixture1dSpec, mixture2dSpec, statePathSpec, normalDensity,
  type Component, type QuantityDraws,
} from '../report/specs';

/** The options `mixppl report` takes (besides --help). */
export const REPORT_OPTIONS: readonly string[] = [
  '--data', '--set', '--method', '--map', '--n-init', '--max-iter', '--tol', '--backend', '--out', '--quiet',
  ...SAMPLE_VALUE_OPTIONS.filter((o) => o !== '--output-dir'),
];

export const REPORT_METHODS = ['em', 'nuts', 'hmc'] as const;

export const REPORT_HELP = `usage: mixppl report MODEL.mix --data FILE [options]

Fits the model and writes one self-contained HTML file (it opens offline; the plots are
Vega-Lite, with vega inlined): the model source, the fit settings, the summary table and
plots. MCMC: trace, rank, marginal density and pair plots. For 1-D data a histogram with
the fitted mixture density; for 2-D data a scatter plot with the components' ellipses
(Gaussian mixtures with parameters w, mu and sigma, Sigma or tau and L); for HMMs the
most probable (Viterbi) state path.

options:
  --method NAME        em | nuts | hmc (default: em when the model has discrete latents,
                       else nuts)
  --data FILE          .csv or .json data; repeatable
  --set NAME=VALUE     a scalar or JSON array, e.g. --set K=3
  --out FILE           the HTML file (default <model>-report.html)
  em:                  --map, --n-init N, --max-iter N, --tol X (as 'mixppl fit')
  nuts, hmc:           --chains N, --warmup N, --draws N, --thin N, --metric NAME,
                       --delta X, --max-depth N, --init FILE.json (as 'mixppl sample')
  --seed N             random seed (default 1)
  --backend NAME       tfjs backend (default wasm)
  --quiet              no progress display

exit status: 0 ok; 3 EM not converged or the MCMC run failed its checks (the report is
written all the same); 1 model or data error; 2 usage error.

examples:
  mixppl report examples/old-faithful/faithful.mix --data examples/old-faithful/faithful.csv --out faithful.html
  mixppl report examples/galaxies/galaxies.mix --data examples/galaxies/galaxies.csv --set K=3 \\
    --method nuts --chains 2 --warmup 200 --draws 200 --out galaxies.html
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

/** Parameter values of MCMC draw i of a chain, nested by the parameters' shapes. */
function drawParams(r: McmcResult, values: Float64Array): Record<string, unknown> {
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
      `closed-form updates: ${e.closedForm.join(', ') || 'none'}`,
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

/**
 * Runs `mixppl report` on a compiled model and its data (the backend already chosen):
 * fits, writes the HTML file, prints its path and returns the exit status.
 */
export function reportCommand(model: Model, data: Record<string, DataValue>, req: ReportRequest): number {
  const { opts, flags } = req;
  const method = opts.get('--method') ?? (model.ir.latents.length ? 'em' : 'nuts');
  if (!(REPORT_METHODS as readonly string[]).includes(method)) throw new OptionError(`report: unknown method '${method}'; available: ${REPORT_METHODS.join(', ')}`);
  const out = opts.get('--out') ?? `${model.name}-report.html`;
  const num = (k: string) => (opts.has(k) ? Number(opts.get(k)) : undefined);
  let report: ReportData;
  let code: number;
  if (method === 'em') {
    const mcmcOnly = ['--chains', '--warmup', '--draws', '--thin', '--algorithm', '--metric', '--delta', '--max-depth', '--init'].filter((o) => opts.has(o));
    if (mcmcOnly.length) throw new OptionError(`${mcmcOnly.join(', ')}: only with --method nuts or hmc`);
    const seed = Number(opts.get('--seed') ?? 1);
    const bm = model.bind(data);
    try {
      const objective = flags.has('--map') ? 'map' : 'mle';
      const e = em(bm, { seed, nInit: num('--n-init'), maxIter: num('--max-iter'), tol: num('--tol'), objective });
      const settings = settingsBase(req, `EM (${objective === 'map' ? 'MAP' : 'maximum likelihood'})`);
      settings.push(['seed', String(seed)], ['starts', String(e.starts.length)]);
      if (opts.has('--max-iter')) settings.push(['max iterations', opts.get('--max-iter')!]);
      if (opts.has('--tol')) settings.push(['tolerance', opts.get('--tol')!]);
      report = emReport(model, bm, data, req, e, settings);
      code = e.converged ? 0 : 3;
    } finally {
      bm.dispose();
    }
  } else {
    for (const o of ['--map', '--n-init', '--max-iter', '--tol']) if (opts.has(o) || flags.has(o)) throw new OptionError(`${o}: only with --method em`);
    const s = parseSampleSettings(opts, flags, method as 'nuts' | 'hmc');
    const init = s.init === undefined ? undefined : readInits(s.init, s.chains);
    const bm = model.bind(data);
    const progress = chainProgressFor(process.stderr, s.chains, s.warmup + s.draws * s.thin, s.quiet);
    try {
      let r: McmcResult;
      try {
        r = sample(bm, {
          chains: s.chains, warmup: s.warmup, draws: s.draws, thin: s.thin, seed: s.seed,
          algorithm: s.algorithm, metric: s.metric, delta: s.delta, maxTreeDepth: s.maxDepth, init,
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
      if (s.init) settings.push(['init', s.init]);
      report = mcmcReport(model, bm, data, req, r, settings);
      code = sampleVerdict(r.diagnostics, s.chains, r.summary()).code;
    } finally {
      bm.dispose();
    }
  }
  try {
    writeFileSync(out, buildReportHtml(report));
  } catch (e) {
    throw new DataFileError(`cannot write ${out}: ${(e as Error).message}`);
  }
  process.stdout.write(`wrote ${out} (${report.plots.length} plot${report.plots.length === 1 ? '' : 's'})\n`);
  if (code === 3) process.stderr.write(`mixppl report: exit status 3: ${method === 'em' ? 'EM did not converge' : 'the MCMC run failed its checks (see the warnings in the report)'}\n`);
  return code;
}
