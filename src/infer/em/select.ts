/**
 * Model choice by information criteria: fit each candidate model (e.g. the stdlib
 * Gaussian mixtures with full, diagonal, spherical or tied covariances) by EM for each
 * number of components K, and rank the fits by BIC, AIC or ICL (lower is better, as
 * `em` reports them; mclust's BIC has the opposite sign). K is data in these models
 * (`data K: int`), so each K is one binding of the same data.
 */
import { MixError } from '../../diagnostics/diagnostic';
import type { Model } from '../../model/model';
import type { DataInput } from '../../model/data';
import type { BoundModel } from '../../model/bound-model';
import { em, emAsync, type EmOptions, type EmResult } from './index';

export type Criterion = 'bic' | 'aic' | 'icl';
export const CRITERIA: readonly Criterion[] = ['bic', 'aic', 'icl'];

export interface SelectOptions {
  /** Values of K to fit (each a positive integer). */
  K: readonly number[];
  /** Name of the data variable that holds the number of components (default 'K'). */
  kName?: string;
  /** Criterion to rank by (default 'bic'). */
  criterion?: Criterion;
  /** EM starts per fit (default 1). */
  nInit?: number;
  /** Seed of every fit (default 1); each fit's starts use their own streams from it. */
  seed?: number;
  maxIter?: number;
  tol?: number;
  /** Other EM options (objective stays 'mle': the criteria compare likelihoods). */
  em?: Omit<EmOptions, 'objective' | 'nInit' | 'seed' | 'maxIter' | 'tol' | 'init'>;
  /** Called after each fit, e.g. for progress. */
  onFit?: (row: SelectRow) => void;
}

export interface SelectRow {
  /** The model's name (its `model` declaration), or the label given with it. */
  model: string;
  K: number;
  logLik: number;
  nParams: number;
  nObs: number;
  bic: number;
  aic: number;
  icl: number;
  converged: boolean;
  iterations: number;
  /** The full EM result of this fit. */
  fit: EmResult;
}

export interface SelectResult {
  criterion: Criterion;
  /** One row per (model, K), models in the order given, K in the order given. */
  rows: SelectRow[];
  /** The row with the lowest criterion (the first one on ties). */
  best: SelectRow;
}

/** A model to compare, optionally with a label for the table (default: its name). */
export type Candidate = Model | { model: Model; label: string };

/** One EM fit the selection loop asks for: the bound model and EM's options. */
interface FitRequest {
  bm: BoundModel;
  opts: EmOptions;
}

/**
 * The selection loop, asking its driver for each fit (so one loop serves the synchronous
 * `em` and the awaited `emAsync`): see {@link selectModels}.
 */
function* selectSteps(models: Candidate | readonly Candidate[], data: DataInput, opts: SelectOptions): Generator<FitRequest, SelectResult, EmResult> {
  const list = (Array.isArray(models) ? models : [models]) as Candidate[];
  if (list.length === 0) throw new RangeError('selectModels: give at least one model');
  const criterion = opts.criterion ?? 'bic';
  if (!CRITERIA.includes(criterion)) throw new RangeError(`selectModels: unknown criterion '${criterion}'; use ${CRITERIA.join(', ')}`);
  if (opts.K.length === 0) throw new RangeError('selectModels: give at least one value of K');
  for (const k of opts.K) if (!Number.isInteger(k) || k < 1) throw new RangeError(`selectModels: K must be positive integers, got ${k}`);
  const kName = opts.kName ?? 'K';
  const rows: SelectRow[] = [];
  for (const c of list) {
    const model = 'label' in c ? c.model : c;
    const label = 'label' in c ? c.label : model.name;
    const node = model.ir.data.find((d) => d.name === kName);
    if (!node || node.shape.length !== 0) {
      throw new MixError([{
        severity: 'error', code: 'E0613',
        message: `model ${model.name} has no scalar data '${kName}' to set the number of components`,
        help: `declare it (data ${kName}: int<lower=1>) and use it for the component count`,
      }], model.source);
    }
    for (const K of opts.K) {
      const bm = model.bind({ ...data, [kName]: K });
      try {
        // With one component every responsibility is 1 whatever the start, so k-means has
        // nothing to add (and its one-hot labels need K >= 2): start K = 1 at random.
        const fit = yield {
          bm,
          opts: {
            ...opts.em, objective: 'mle', nInit: opts.nInit ?? 1, seed: opts.seed ?? 1, maxIter: opts.maxIter, tol: opts.tol,
            ...(K === 1 ? { initMethod: 'random' as const } : {}),
          },
        };
        const row: SelectRow = {
          model: label, K, logLik: fit.logLik, nParams: fit.nParams, nObs: fit.nObs,
          bic: fit.bic, aic: fit.aic, icl: fit.icl, converged: fit.converged, iterations: fit.iterations, fit,
        };
        rows.push(row);
        opts.onFit?.(row);
      } finally {
        bm.dispose();
      }
    }
  }
  let best = rows[0];
  for (const r of rows) if (Number.isNaN(best[criterion]) || r[criterion] < best[criterion]) best = r;
  return { criterion, rows, best };
}

/**
 * Fits every candidate model for every K by maximum-likelihood EM and returns the table
 * of log likelihoods, parameter counts and criteria, with the best fit by `criterion`.
 * Throws a MixError when a model has no scalar data variable `kName`, a RangeError on
 * bad options. On a backend without synchronous reads (webgpu under Node.js) use
 * {@link selectModelsAsync}.
 */
export function selectModels(models: Candidate | readonly Candidate[], data: DataInput, opts: SelectOptions): SelectResult {
  const steps = selectSteps(models, data, opts);
  let r = steps.next();
  while (!r.done) {
    let fit: EmResult;
    try {
      fit = em(r.value.bm, r.value.opts);
    } catch (e) {
      r = steps.throw(e);
      continue;
    }
    r = steps.next(fit);
  }
  return r.value;
}

/** {@link selectModels} with each fit by `emAsync` (awaited reads: webgpu under Node.js). */
export async function selectModelsAsync(models: Candidate | readonly Candidate[], data: DataInput, opts: SelectOptions): Promise<SelectResult> {
  const steps = selectSteps(models, data, opts);
  let r = steps.next();
  while (!r.done) {
    let fit: EmResult;
    try {
      fit = await emAsync(r.value.bm, r.value.opts);
    } catch (e) {
      r = steps.throw(e);
      continue;
    }
    r = steps.next(fit);
  }
  return r.value;
}
