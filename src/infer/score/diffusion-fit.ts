/**
 * `model.fit(data, { method: 'diffusion' })`: a score-based generative model of the model's
 * observed data rows, learned by denoising score matching (dsm.ts), for density estimation
 * and generative use next to (or instead of) the model's own density.
 *
 * Semantics.
 * - The rows: every observed data variable must be observed row by row in ONE plate that runs
 *   over all its rows (`for n in 1..N { x[n] ~ ... }`); row n is the concatenation of
 *   x[n, ...] over the observed variables in declaration order (columns `x.1`, `x.2`, `y`).
 *   Refused, with the reason: an observation of a whole array (`y ~ normal(mu, s)`: it may be
 *   one draw of a vector, not rows), observations in different plates or in a plate that
 *   skips rows, integer-valued observations (a density of counts is not their pmf), and
 *   constant columns. Unobserved data (covariates, sizes) is not part of the rows.
 * - The split: a seeded permutation puts ⌈heldOut·N⌉ rows (default 20%) aside; the score
 *   network is trained on the rest (`trainScore`, VP SDE by default).
 * - The result: the trained score model, `sample(n)` (reverse SDE predictor–corrector, or the
 *   probability-flow ODE), `logLikelihood(rows)` (probability-flow ODE), and the held-out
 *   mean log-likelihood per row with its standard error over rows.
 * - The comparison: the model itself fitted to the training rows (EM, maximum likelihood, when
 *   it has discrete latents; else MAP; `baseline` overrides) and its log likelihood of the
 *   held-out rows at that fit, per row (latents summed out, priors left out). It is left out,
 *   with the reason in `baseline.reason`, when it would not compare like with like: the model's
 *   likelihood conditions on covariates (rows of other data in the same plate), couples rows
 *   (a chain along the plate, or the held-out rows' log likelihood does not add up with the
 *   training rows' to the whole data's), or has parameters whose size depends on the rows.
 *
 * The result holds the score network: call `dispose()` when done.
 *
 * Backends. The whole method is host-read steps (src/tensor/host-reads.ts): the baseline fit
 * (`emSteps` / `optimizeSteps`), the training (`trainScoreSteps`) and the held-out ODE
 * log-likelihood. `diffusionFit` reads synchronously; `diffusionFitAsync` awaits every read, so
 * on webgpu under Node.js the network trains and is evaluated on the device (what
 * `model.fit(..., { method: 'diffusion' })` and `mixppl fit --method diffusion` use there).
 */
import { BoundModel } from '../../model/bound-model';
import { staticValue } from '../../model/bind';
import { toNdArray, type DataInput, type DataValue, type NdArray } from '../../model/data';
import type { Source } from '../../diagnostics/span';
import type { IRExpr, IRProgram } from '../../ir/types';
import { Key } from '../../tensor/random';
import { tf, canReadSync, runAsync, runSync, BackendUnavailableError, type HostSteps } from '../../tensor';
import { emSteps } from '../em';
import { optimizeSteps } from '../optimize';
import {
  logLikelihoodOde, logLikelihoodOdeAsync, logLikelihoodOdeSteps, sampleScore, sampleScoreAsync, trainScoreSteps,
  type SampleScoreOptions, type ScoreModel, type TrainScoreOptions,
} from './dsm';
import type { Rows } from './mmd';

const W = 'diffusion';

/** Options of {@link diffusionFit} (`model.fit(data, { method: 'diffusion', ... })`). */
export interface DiffusionFitOptions extends Omit<TrainScoreOptions, 'dim' | 'onStep' | 'standardize' | 'seed'> {
  /** Fraction of the rows held out for the log-likelihood comparison (default 0.2; in (0, 1)). */
  heldOut?: number;
  /** Seed of the split, the network, the training and the baseline fit (default 1). */
  seed?: number;
  /** Integrator steps of the held-out log-likelihood (default 100, RK4). */
  odeSteps?: number;
  /** How the model itself is fitted for the comparison: default 'em' with discrete latents, else 'map'; 'none' skips it. */
  baseline?: 'em' | 'map' | 'mle' | 'none';
  /** Random starts of the baseline fit (default 4). */
  baselineStarts?: number;
  /** Called every training step with the 0-based step and its DSM loss. */
  onStep?: (step: number, loss: number) => void;
}

/** The model's own held-out fit, or why there is none. */
export type DiffusionBaseline =
  | {
    method: 'em' | 'map' | 'mle' | 'fixed';
    /** The model's log likelihood of the held-out rows at its fit to the training rows, per row. */
    heldOutLogLik: number;
    /** Its log likelihood of the training rows, per row. */
    trainLogLik: number;
    /** The fitted (constrained) parameters. */
    params: Record<string, number | unknown[]>;
    converged: boolean;
  }
  | { method: 'none'; reason: string };

/** What `model.fit(data, { method: 'diffusion' })` returns. Call `dispose()` to free the network. */
export interface DiffusionFitResult {
  readonly method: 'diffusion';
  /** The model's name. */
  readonly model: string;
  /** The observed variables whose rows were learned, and the columns of a row. */
  readonly variables: string[];
  readonly columns: string[];
  /** 0-based row indices of the training and held-out rows. */
  readonly trainRows: Int32Array;
  readonly heldOutRows: Int32Array;
  /** The trained score model (its `losses`, `settings`, `score(x, t)`). */
  readonly score: ScoreModel;
  /** Mean of the last tenth of the DSM losses. */
  readonly finalLoss: number;
  /** Held-out mean log-likelihood per row under the learned density (probability-flow ODE), and its standard error over rows. */
  readonly heldOutLogLik: number;
  readonly heldOutLogLikSe: number;
  /** The model at its own fit to the training rows (or why not). */
  readonly baseline: DiffusionBaseline;
  readonly seconds: number;
  /** n new rows (columns as `columns`): reverse SDE ('pc', default) or probability-flow ODE ('ode'). */
  sample(n: number, opts?: SampleScoreOptions): number[][];
  /** {@link sample} with the network's reads awaited: the form for webgpu under Node.js (the same draws elsewhere). */
  sampleAsync(n: number, opts?: SampleScoreOptions): Promise<number[][]>;
  /** Log density of the learned model at each row (probability-flow ODE). */
  logLikelihood(rows: Rows, opts?: { steps?: number }): Float64Array;
  /** {@link logLikelihood} with the network's reads awaited. */
  logLikelihoodAsync(rows: Rows, opts?: { steps?: number }): Promise<Float64Array>;
  /** A JSON-ready summary (no network). */
  toJSON(): Record<string, unknown>;
  dispose(): void;
}

/** The rows of a model's observed data, and how to subset the data by rows. */
interface RowPlan {
  variables: string[];
  columns: string[];
  n: number;
  /** Row-major rows, n × dim. */
  rows: Float64Array;
  dim: number;
  /** Data variables (not observed) with a row per plate element: covariates. */
  covariates: string[];
  /** The size whose value is the row count, when the plate's end is a size. */
  sizeName?: string;
  /** Converted input data. */
  given: Map<string, NdArray>;
}

const isLoop = (e: IRExpr | undefined, plate?: string): boolean => e?.op === 'loop' && (plate === undefined || e.plate === plate);

function colNames(name: string, shape: number[]): string[] {
  if (shape.length === 0) return [name];
  const out: string[] = [];
  const total = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < total; i++) {
    let r = i;
    const idx = new Array<number>(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = (r % shape[d]) + 1;
      r = Math.floor(r / shape[d]);
    }
    out.push(`${name}.${idx.join('.')}`);
  }
  return out;
}

/** Finds the rows of the observed data; throws a RangeError saying why there are none. */
function planRows(ir: IRProgram, data: DataInput, sizes: ReadonlyMap<string, number>): RowPlan {
  const dataNames = new Set(ir.data.map((d) => d.name));
  const obs = ir.factors.filter((f) => f.kind === 'obs' && f.site !== undefined && dataNames.has(f.site));
  if (obs.length === 0) throw new RangeError(`${W}: model '${ir.name}' observes no data; there are no rows to learn`);
  let plate: string | undefined;
  for (const f of obs) {
    const v = f.value;
    const first = v?.op === 'index' ? v.indices[0] : undefined;
    if (!(v?.op === 'index' && v.target.op === 'data' && isLoop(first))) {
      throw new RangeError(
        `${W}: '${f.site}' is observed as a whole, not row by row in a plate (write it as '${f.site}[n] ~ ...' inside 'for n in 1..N'): ` +
          'the method learns the law of one row, so the rows must be the elements of one plate',
      );
    }
    const p = (first as { plate: string }).plate;
    if (plate === undefined) plate = p;
    else if (p !== plate) {
      throw new RangeError(`${W}: the observed data are rows of different plates (${plate} and ${p}, at '${f.site}'); the method needs the rows of one plate`);
    }
  }
  const variables = ir.data.map((d) => d.name).filter((n) => obs.some((f) => f.site === n));
  const given = new Map<string, NdArray>();
  for (const [k, v] of Object.entries(data)) {
    if (v === undefined) continue;
    const r = toNdArray(k, v as DataValue);
    if ('values' in r) given.set(k, r);
  }
  const pl = ir.plates.find((p) => p.id === plate)!;
  const sizeMap = new Map(sizes);
  const lo = staticValue(pl.lo, sizeMap, given);
  const hi = staticValue(pl.hi, sizeMap, given);
  const columns: string[] = [];
  let n = -1;
  for (const name of variables) {
    const node = ir.data.find((d) => d.name === name)!;
    if (node.elem !== 'real') {
      throw new RangeError(`${W}: observed data '${name}' is ${node.elem}-valued; a score-based density needs real-valued rows (a density of counts is not their probability mass)`);
    }
    const nd = given.get(name)!;
    if (nd.shape.length === 0) throw new RangeError(`${W}: observed data '${name}' is a single number, not rows`);
    const rows = nd.shape[0];
    if (n >= 0 && rows !== n) throw new RangeError(`${W}: observed data '${name}' has ${rows} rows, the others ${n}`);
    n = rows;
    if (lo !== 1 || hi !== rows) {
      throw new RangeError(`${W}: '${name}' has ${rows} rows but is observed in the plate ${plate} (${lo}..${hi}), which does not run over all of them`);
    }
    columns.push(...colNames(name, nd.shape.slice(1)));
  }
  const dim = columns.length;
  const rows = new Float64Array(n * dim);
  let off = 0;
  for (const name of variables) {
    const nd = given.get(name)!;
    const w = nd.values.length / n;
    for (let i = 0; i < n; i++) for (let j = 0; j < w; j++) rows[i * dim + off + j] = nd.values[i * w + j];
    off += w;
  }
  const sizeName = pl.hi.op === 'size' ? pl.hi.name : undefined;
  const rowDim = ir.data.find((d) => d.name === variables[0])!.shape[0];
  const covariates = ir.data
    .filter((d) => !variables.includes(d.name) && d.shape.length > 0)
    .filter((d) => rowDim.kind === 'size' && d.shape[0].kind === 'size' && d.shape[0].name === rowDim.name)
    .map((d) => d.name);
  return { variables, columns, n, rows, dim, covariates, sizeName, given };
}

/** The input data restricted to the rows `idx` (observed variables and covariates; the row size set to match). */
function subsetData(plan: RowPlan, idx: Int32Array): Record<string, DataValue> {
  const out: Record<string, DataValue> = {};
  const byRow = new Set([...plan.variables, ...plan.covariates]);
  for (const [k, nd] of plan.given) {
    if (byRow.has(k)) {
      const w = nd.values.length / plan.n;
      const values = new Float64Array(idx.length * w);
      for (let i = 0; i < idx.length; i++) for (let j = 0; j < w; j++) values[i * w + j] = nd.values[idx[i] * w + j];
      out[k] = { shape: [idx.length, ...nd.shape.slice(1)], values };
    } else if (k === plan.sizeName) out[k] = idx.length;
    else out[k] = nd;
  }
  return out;
}

function* baselineFitSteps(
  ir: IRProgram, source: Source | undefined, full: BoundModel, plan: RowPlan, train: Int32Array, held: Int32Array,
  choice: 'em' | 'map' | 'mle' | 'default', seed: number, starts: number,
): HostSteps<DiffusionBaseline> {
  if (plan.covariates.length) {
    return { method: 'none', reason: `the model's likelihood is conditional on ${plan.covariates.map((c) => `'${c}'`).join(', ')} (data with a row per observation), while the learned density is of the observed rows alone` };
  }
  const chain = ir.latents.find((l) => l.chain);
  if (chain) return { method: 'none', reason: `the latent '${chain.name}' is a chain along the rows, so held-out rows have no likelihood of their own` };
  const hasLatents = ir.latents.length > 0;
  const method = choice === 'default' ? (hasLatents ? 'em' : 'map') : choice;
  if (method === 'em' && !hasLatents) return { method: 'none', reason: "baseline 'em' needs discrete latents; the model has none (use 'map' or 'mle')" };
  const tb = new BoundModel(ir, subsetData(plan, train), source);
  const hb = new BoundModel(ir, subsetData(plan, held), source);
  try {
    if (tb.dim !== full.dim || hb.dim !== full.dim) {
      return { method: 'none', reason: `a parameter's size depends on the rows (${full.dim} free parameters on all rows, ${tb.dim} on the training rows)` };
    }
    let params: Record<string, number | unknown[]> = {};
    let converged = true;
    let used: 'em' | 'map' | 'mle' | 'fixed' = method;
    try {
      if (full.dim === 0) used = 'fixed';
      else if (method === 'em') {
        const r = yield* emSteps(tb, { seed, nInit: starts });
        params = r.params;
        converged = r.converged;
      } else {
        const r = yield* optimizeSteps(tb, { method, seed, nInit: starts });
        params = r.params;
        converged = r.converged;
      }
    } catch (e) {
      // The comparison is secondary: a model that cannot be fitted this way still gets its learned density.
      return { method: 'none', reason: `the model's ${method} fit to the training rows failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
    }
    const llTrain = yield* tb.logDensitySteps(params, { priors: false });
    const llHeld = yield* hb.logDensitySteps(params, { priors: false });
    const llAll = yield* full.logDensitySteps(params, { priors: false });
    // The log likelihood must split over the rows (float32 tensor evaluation: 1e-4 relative).
    if (!(Math.abs(llAll - llTrain - llHeld) <= 1e-4 * Math.max(1, Math.abs(llAll)))) {
      return { method: 'none', reason: `the log likelihood does not split over the rows (whole data ${llAll.toFixed(3)}, training + held-out rows ${(llTrain + llHeld).toFixed(3)}): a term couples rows` };
    }
    return { method: used, heldOutLogLik: llHeld / held.length, trainLogLik: llTrain / train.length, params, converged };
  } finally {
    tb.dispose();
    hb.dispose();
  }
}

/**
 * Learns a score-based generative model of the observed data rows of `model` (see the file
 * comment for the exact semantics) and compares its held-out log-likelihood with the model's.
 * Throws a RangeError starting 'diffusion: ' when the observations are not rows, or a
 * MixError (from binding) for bad data.
 *
 * @example
 * const fit = model.fit({ x }, { method: 'diffusion', steps: 2000, seed: 1 });
 * fit.heldOutLogLik; fit.baseline; const draws = fit.sample(500); fit.dispose();
 */
export function diffusionFit(
  model: { readonly ir: IRProgram; readonly source?: Source },
  data: DataInput,
  opts: DiffusionFitOptions = {},
  bound?: BoundModel,
): DiffusionFitResult {
  return runSync(diffusionFitSteps(model, data, opts, bound));
}

/**
 * {@link diffusionFit} with every read awaited: the baseline fit, the network's training and
 * the held-out log-likelihood run on the active backend, webgpu under Node.js included (the
 * same result as `diffusionFit` on a backend that reads synchronously).
 */
export function diffusionFitAsync(
  model: { readonly ir: IRProgram; readonly source?: Source },
  data: DataInput,
  opts: DiffusionFitOptions = {},
  bound?: BoundModel,
): Promise<DiffusionFitResult> {
  return runAsync(diffusionFitSteps(model, data, opts, bound));
}

/** The synchronous forms of the result's methods say where the async ones are, instead of failing inside a read. */
function syncReads(method: string): void {
  if (!canReadSync()) {
    throw new BackendUnavailableError(tf.getBackend(), `diffusion result: ${method}() reads the score network synchronously, which this backend cannot do under Node.js; use 'await fit.${method}Async(...)'`);
  }
}

/** {@link diffusionFit} as host-read steps. */
export function* diffusionFitSteps(
  model: { readonly ir: IRProgram; readonly source?: Source },
  data: DataInput,
  opts: DiffusionFitOptions = {},
  bound?: BoundModel,
): HostSteps<DiffusionFitResult> {
  const t0 = performance.now();
  const heldOut = opts.heldOut ?? 0.2;
  if (typeof heldOut !== 'number' || !(heldOut > 0 && heldOut < 1)) throw new RangeError(`${W}: heldOut must be a fraction in (0, 1), got ${String(heldOut)}`);
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${W}: seed must be a safe integer, got ${String(seed)}`);
  const odeSteps = opts.odeSteps ?? 100;
  if (!Number.isInteger(odeSteps) || odeSteps < 1) throw new RangeError(`${W}: odeSteps must be a positive integer, got ${String(odeSteps)}`);
  const starts = opts.baselineStarts ?? 4;
  if (!Number.isInteger(starts) || starts < 1) throw new RangeError(`${W}: baselineStarts must be a positive integer, got ${String(starts)}`);
  const choice = opts.baseline ?? 'default';
  if (!['em', 'map', 'mle', 'none', 'default'].includes(choice)) throw new RangeError(`${W}: baseline must be 'em', 'map', 'mle' or 'none', got '${String(choice)}'`);

  const own = bound === undefined;
  const full = bound ?? new BoundModel(model.ir, data, model.source);
  try {
    const plan = planRows(model.ir, data, full.sizes);
    const nHeld = Math.ceil(heldOut * plan.n);
    const nTrain = plan.n - nHeld;
    if (nHeld < 2 || nTrain < 2) throw new RangeError(`${W}: ${plan.n} rows leave ${nTrain} for training and ${nHeld} held out; each needs at least 2`);
    const [kSplit, kTrain, kBase] = Key.seed(seed).fold(0x64696666).split(3); // 'diff'
    const perm = Int32Array.from({ length: plan.n }, (_, i) => i);
    const rng = kSplit.rng();
    for (let i = plan.n - 1; i > 0; i--) {
      const j = rng.uniformInt(i + 1);
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    const heldIdx = perm.slice(0, nHeld).sort();
    const trainIdx = perm.slice(nHeld).sort();
    const d = plan.dim;
    const pick = (idx: Int32Array) => {
      const out = new Float64Array(idx.length * d);
      for (let i = 0; i < idx.length; i++) out.set(plan.rows.subarray(idx[i] * d, (idx[i] + 1) * d), i * d);
      return out;
    };
    const trainX = pick(trainIdx);
    const heldX = pick(heldIdx);
    for (let j = 0; j < d; j++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < nTrain; i++) {
        lo = Math.min(lo, trainX[i * d + j]);
        hi = Math.max(hi, trainX[i * d + j]);
      }
      if (!(hi > lo)) throw new RangeError(`${W}: column '${plan.columns[j]}' is constant (${lo}) in the training rows; a density of the rows needs every column to vary`);
    }

    const baseline = choice === 'none'
      ? { method: 'none' as const, reason: "baseline: 'none' was asked for" }
      : yield* baselineFitSteps(model.ir, model.source, full, plan, trainIdx, heldIdx, choice as 'em' | 'map' | 'mle' | 'default', kBase.words()[1], starts);

    const { heldOut: _h, seed: _s, odeSteps: _o, baseline: _b, baselineStarts: _bs, ...trainOpts } = opts;
    const score = yield* trainScoreSteps(trainX, { ...trainOpts, dim: d, seed: kTrain.words()[1] });
    try {
      const ll = yield* logLikelihoodOdeSteps(score, heldX, { steps: odeSteps });
      let m = 0;
      for (const v of ll) m += v;
      m /= nHeld;
      let v2 = 0;
      for (const v of ll) v2 += (v - m) ** 2;
      const se = Math.sqrt(v2 / (nHeld - 1) / nHeld);
      const losses = score.losses;
      const tail = Math.max(1, Math.floor(losses.length / 10));
      let fl = 0;
      for (let i = losses.length - tail; i < losses.length; i++) fl += losses[i];
      fl /= tail;
      const seconds = (performance.now() - t0) / 1000;
      const result: DiffusionFitResult = {
        method: 'diffusion',
        model: model.ir.name,
        variables: plan.variables,
        columns: plan.columns,
        trainRows: trainIdx,
        heldOutRows: heldIdx,
        score,
        finalLoss: fl,
        heldOutLogLik: m,
        heldOutLogLikSe: se,
        baseline,
        seconds,
        sample: (n, o) => {
          syncReads('sample');
          return sampleScore(score, n, o);
        },
        sampleAsync: (n, o) => sampleScoreAsync(score, n, o),
        logLikelihood: (rows, o) => {
          syncReads('logLikelihood');
          return logLikelihoodOde(score, rows, { steps: o?.steps ?? odeSteps });
        },
        logLikelihoodAsync: (rows, o) => logLikelihoodOdeAsync(score, rows, { steps: o?.steps ?? odeSteps }),
        toJSON: () => ({
          model: model.ir.name, method: 'diffusion', seed, heldOutFraction: heldOut, variables: plan.variables, columns: plan.columns,
          rows: { train: nTrain, heldOut: nHeld }, settings: score.settings, finalLoss: fl,
          heldOutLogLik: m, heldOutLogLikSe: se, baseline, seconds,
        }),
        dispose: () => score.dispose(),
      };
      return result;
    } catch (e) {
      score.dispose();
      throw e;
    }
  } finally {
    if (own) full.dispose();
  }
}
