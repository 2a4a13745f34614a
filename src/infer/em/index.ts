/**
 * EM for any model the IR can express. The E-step is exact: the posterior marginals of
 * every enumerated latent (responsibilities; forward-backward pairwise marginals for
 * chains) come from the gradient of log Z with respect to zero probes added to the
 * latents' log potentials. The M-step maximises the expected complete-data log density
 * Q(θ) (plus the log prior for MAP): in closed form where a parameter's update is known
 * (see closed-form.ts), otherwise by L-BFGS on the unconstrained parameters started at
 * the current value. Either way Q does not decrease, so the log likelihood (log
 * posterior for MAP) does not decrease (generalised EM).
 */
import { tf, tidyValue, canReadSync, BackendUnavailableError, type Tensor, runAsync, runSync, readOwned, readValueAndGrad, type HostRead, type HostSteps } from '../../tensor';
import { Key } from '../../tensor/random';
import type { BoundModel, ParamValues } from '../../model/bound-model';
import { expectedLogJoint } from '../../model/evaluate';
import { lbfgsSteps, type ValueAndGrad } from '../optimize/lbfgs';
import { closedFormUpdates, hostSolveOf, resolveUpdate, type ClosedFormUpdate, type HostSolve } from './closed-form';
import { kmeansMarginals, type KmeansInitOptions } from './init';
import { fastGmmEStep, fuseGmmUpdates, knownEntropy, type FastEStep } from './fast-gmm';
import { collapsePlan, findCollapsedSteps, reseedable, reseedMarginalsSteps, reseedWarnings, type ReseedOptions, type ReseedEvent } from './reseed';
import { constrainSteps, unconstrainSteps } from './host-reads';

export interface EmOptions {
  /** 'mle' leaves priors out; 'map' keeps them (default: 'mle', as scikit-learn and mclust). */
  objective?: 'mle' | 'map';
  maxIter?: number;
  /** Converged when the change of the mean log likelihood per observation is below tol (scikit-learn's rule). */
  tol?: number;
  /** Starts; the best final log likelihood is kept. */
  nInit?: number;
  /**
   * How to start: 'kmeans' (default; k-means++ on the data a latent selects components
   * for, as hard responsibilities, then one M-step) or 'random' (uniform(-2, 2) on the
   * unconstrained scale). Falls back to 'random' when a latent has no data to cluster.
   */
  initMethod?: 'kmeans' | 'random';
  /**
   * Rows the k-means start clusters: past this many, a uniform subsample of this size, and
   * every row is then labelled by its nearest centre (default 10000; false: every row, as
   * scikit-learn). See {@link KmeansInitOptions}.
   */
  kmeansSample?: number | false;
  seed?: number;
  init?: ParamValues;
  /** L-BFGS iterations per M-step for parameters without a closed-form update. */
  mStepIters?: number;
  /** Use closed-form updates where recognised (default true); false forces the gradient M-step. */
  closedForm?: boolean;
  /** Use the fused Gaussian-mixture E-step and M-step where the model has that shape (default true). */
  fused?: boolean;
  /**
   * Run the fused Gaussian-mixture E-step in the compiled float64 kernel (src/native) on the
   * host backends when the data have few features (default true; false: tensor ops only).
   */
  native?: boolean;
  /** Added to closed-form variances and covariance diagonals (scikit-learn's reg_covar; default 1e-6). */
  regCovar?: number;
  onIteration?: (start: number, iter: number, logLik: number) => void;
  /**
   * Re-seed empty or collapsed components at the worst-fit point (default true; see
   * reseed.ts). false leaves them at their previous value; either way they are reported
   * in `warnings`.
   */
  reseed?: boolean | ReseedOptions;
}

export interface EmResult {
  params: Record<string, number | unknown[]>;
  /** Log marginal likelihood (MLE) or log marginal posterior density (MAP) at the estimate. */
  logLik: number;
  trace: number[];
  iterations: number;
  converged: boolean;
  /** Parameters updated in closed form; the rest used the gradient M-step. */
  closedForm: string[];
  /**
   * The E-step that ran: 'compiled' (the float64 WebAssembly kernel of src/native, for
   * full-covariance Gaussian mixtures with few features on the host backends), 'fused' (the
   * fused Gaussian-mixture E-step on tensor ops) or 'generic' (enumeration on tensor ops).
   */
  eStep: 'compiled' | 'fused' | 'generic';
  starts: number[];
  seconds: number;
  /** Number of free parameters (the unconstrained dimension). */
  nParams: number;
  /** Number of observations (rows of observed data). */
  nObs: number;
  /** -2 logLik + p log n (lower is better, scikit-learn's sign). */
  bic: number;
  /** -2 logLik + 2 p. */
  aic: number;
  /** BIC + 2 x entropy of the responsibilities (Biernacki et al. 2000). */
  icl: number;
  /** Collapsed components: re-seeded, or left at their previous value (empty when none). */
  warnings: string[];
  /** Re-seeds in the kept start; the log likelihood is non-decreasing between them, not across them. */
  reseeds: ReseedEvent[];
}

/**
 * EM, reading numbers on the host synchronously (wasm, cpu, tensorflow). On a backend that
 * cannot (webgpu under Node.js) it throws, naming `emAsync`; `model.fit(data, { method:
 * 'em' })` picks the async loop there by itself.
 */
export function em(bm: BoundModel, opts: EmOptions = {}): EmResult {
  if (!canReadSync()) {
    throw new BackendUnavailableError(tf.getBackend(), "em() reads the log likelihood synchronously, which this backend cannot do (webgpu under Node.js); use 'await emAsync(bm, opts)' or 'await model.fit(data, { method: \'em\' })'");
  }
  return runSync(emSteps(bm, opts));
}

/**
 * EM with every host read awaited (`await t.data()`): the log likelihood per iteration, the
 * collapsed-component counts, the updated parameters. The same loop and the same results as
 * `em` (host-reads.ts); this is the path for webgpu, where data-dependent choices inside the
 * M-step are also made on the device (selectOnDevice), and the gradient M-step's L-BFGS reads
 * each evaluation through the same driver. Updates that solve on the host (gamma shapes,
 * ordered means) read their statistics with one awaited read between the device's updates.
 */
export function emAsync(bm: BoundModel, opts: EmOptions = {}): Promise<EmResult> {
  return runAsync(emSteps(bm, opts));
}

/**
 * The data tensors, made readable on the host for k-means and the re-seed plan: on webgpu the values
 * read stay cached on the host only until a kernel next uploads the tensor, so this is yielded
 * right before each synchronous use.
 */
function prefetchData(bm: BoundModel): HostRead {
  return { read: [...bm.rt.data.values()].filter((t) => t.dtype !== 'string'), prefetch: true };
}

/** {@link em} as host-read steps, for runs composed of several (the diffusion method's baseline). */
export function* emSteps(bm: BoundModel, opts: EmOptions = {}): HostSteps<EmResult> {
  const t0 = performance.now();
  const priors = opts.objective === 'map';
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-3;
  const nObs = Math.max(1, observationCount(bm));
  const nInit = opts.init ? 1 : Math.max(1, opts.nInit ?? 1);
  const keys = Key.seed(opts.seed ?? 1).split(Math.max(2, nInit));
  const sync = canReadSync();
  // The re-seed plan (collapsePlan, below) keeps the data rows it reads here.
  if (!sync) yield prefetchData(bm);
  const cf: ClosedFormUpdate[] = opts.closedForm === false ? [] : closedFormUpdates(bm, { priors, regCovar: opts.regCovar });
  // Gaussian mixtures: weights, means and covariances in one fused pass (the same updates).
  const updates = opts.fused === false ? cf : fuseGmmUpdates(bm, cf, priors, opts.regCovar);
  const closedNames = new Set(updates.map((u) => u.param));
  const gradParams = bm.params.filter((p) => !closedNames.has(p.name));
  const fast = opts.fused === false ? undefined : fastGmmEStep(bm, priors, { native: opts.native });
  const plan = collapsePlan(bm, typeof opts.reseed === 'object' ? opts.reseed : {});
  const reseedOn = opts.reseed !== false;
  const mStepIters = opts.mStepIters ?? 20;
  let best: { u: Float64Array; logLik: number; trace: number[]; iterations: number; converged: boolean; entropy: number; warnings: string[]; reseeds: ReseedEvent[] } | undefined;
  const starts: number[] = [];
  for (let s = 0; s < nInit; s++) {
    let u: Float64Array;
    if (opts.init) u = yield* unconstrainSteps(bm, opts.init);
    else {
      const rng = keys[s].rng();
      u = Float64Array.from({ length: bm.dim }, () => rng.uniform() * 4 - 2);
      // k-means reads the data tensors synchronously: read them to the host first. (Each start:
      // webgpu drops a tensor's host copy once a kernel has uploaded it.)
      if (!sync) yield prefetchData(bm);
      // k-means runs on the host in float64.
      const hard = (opts.initMethod ?? 'kmeans') !== 'kmeans' ? undefined
        : fast?.start ? fast.start(rng, opts.kmeansSample) : kmeansMarginals(bm, rng, { sample: opts.kmeansSample });
      if (hard) {
        try {
          u = yield* mStepSteps(bm, u, hard, updates, gradParams.length > 0, priors, mStepIters);
        } finally {
          for (const m of hard.values()) m.dispose();
        }
      }
    }
    // trace[i] is the log likelihood after i M-steps; the E-step that computes it also
    // gives the responsibilities for the next M-step.
    const trace: number[] = [];
    let converged = false;
    let iter = 0;
    let entropy = 0;
    const reseeds: ReseedEvent[] = [];
    const warnings: string[] = [];
    let reseeded = false;
    for (;;) {
      // One E-step: log Z and the posterior marginals at constrained values (fused for Gaussian mixtures).
      const e = tidyValue(() => {
        const { params } = bm.constrainTensor(tf.tensor1d(Float32Array.from(u)));
        const r = fast ? fast(params) : bm.marginalsTensor(params, { priors });
        return { logZ: tf.keep(r.logZ), marginals: new Map([...r.marginals].map(([k, m]) => [k, tf.keep(m)])) };
      });
      const marginals = e.marginals;
      try {
        const logZ = (yield* readOwned([e.logZ]))[0][0];
        trace.push(logZ);
        opts.onIteration?.(s, iter, logZ);
        if (reseedOn && iter < maxIter) {
          // Collapsed components: re-seed (an M-step from modified responsibilities), not an EM step.
          const collapsed = reseedable(plan, yield* findCollapsedSteps(plan, marginals), reseeds);
          if (collapsed.length) {
            const params = yield* constrainSteps(bm, u);
            const pt = tidyValue(() => {
              const m = bm.paramTensors(params);
              for (const t of m.values()) tf.keep(t);
              return m;
            });
            let r: { marginals: Map<string, Tensor>; events: Omit<ReseedEvent, 'start' | 'traceIndex'>[] };
            try {
              r = yield* reseedMarginalsSteps(bm, plan, pt, marginals, collapsed);
            } finally {
              tf.dispose([...pt.values()]);
            }
            try {
              u = yield* mStepSteps(bm, u, r.marginals, updates, gradParams.length > 0, priors, mStepIters);
            } finally {
              for (const m of r.marginals.values()) m.dispose();
            }
            for (const ev of r.events) reseeds.push({ ...ev, start: s, traceIndex: iter });
            iter++;
            reseeded = true;
            continue;
          }
        }
        if (iter > 0 && !reseeded && Math.abs(trace[iter] - trace[iter - 1]) / nObs < tol) converged = true;
        reseeded = false;
        if (converged || iter >= maxIter) {
          for (const c of yield* findCollapsedSteps(plan, marginals)) {
            const why = !c.reseedable ? 'not re-seeded (only plain latents in one plate are)' : !reseedOn ? 're-seeding is off' : reseedable(plan, [c], reseeds).length === 0 ? 're-seeds used up' : 'the iteration limit was reached';
            warnings.push(`component ${c.component + 1} of ${c.latent} ends with total responsibility ${c.count.toPrecision(3)}, below the collapse threshold ${c.threshold.toPrecision(3)}; ${why}`);
          }
          // (The compiled Gaussian-mixture E-step computed it already, in float64.)
          const known = marginals.size === 1 ? knownEntropy([...marginals.values()][0]) : undefined;
          entropy = known ?? 0;
          if (known === undefined) for (const rs of yield { read: [...marginals.values()] }) for (let i = 0; i < rs.length; i++) { const r = rs[i]; if (r > 0) entropy -= r * Math.log(r); }
          break;
        }
        u = yield* mStepSteps(bm, u, marginals, updates, gradParams.length > 0, priors, mStepIters);
        iter++;
      } finally {
        for (const m of marginals.values()) m.dispose();
      }
    }
    const final = trace[trace.length - 1];
    starts.push(final);
    if (!best || final > best.logLik) best = { u, logLik: final, trace, iterations: iter, converged, entropy, warnings, reseeds };
  }
  const params = yield* constrainSteps(bm, best!.u);
  const p = bm.dim;
  const bic = -2 * best!.logLik + p * Math.log(nObs);
  // Entropy of the responsibilities at the estimate, from the last E-step (chains: of the pairwise marginals).
  const entropy = best!.entropy;
  return {
    params, logLik: best!.logLik, trace: best!.trace, iterations: best!.iterations,
    converged: best!.converged, closedForm: [...closedNames], eStep: fast ? (fast.compiled ? 'compiled' : 'fused') : 'generic', starts, seconds: (performance.now() - t0) / 1000,
    nParams: p, nObs, bic, aic: -2 * best!.logLik + 2 * p, icl: bic + 2 * entropy,
    warnings: [
      ...reseedWarnings(best!.reseeds),
      ...best!.warnings,
    ],
    reseeds: best!.reseeds,
  };
}

/**
 * The closed-form updates in order without synchronous reads: the constrained updated values
 * (the caller owns them). Consecutive device updates run in one tidy (they may share tensors
 * computed by the first, e.g. the fused Gaussian updates); an update that solves on the host
 * runs in its own, and its statistics are read with one awaited read before the next update.
 */
function* asyncUpdatesSteps(bm: BoundModel, u: Float64Array, marginals: Map<string, Tensor>, updates: ClosedFormUpdate[]): HostSteps<Tensor[]> {
  const names = bm.params.map((p) => p.name);
  const owned: Tensor[] = [];
  try {
    const start = tf.tidy(() => {
      const { params } = bm.constrainTensor(tf.tensor1d(Float32Array.from(u)));
      return names.map((n) => params.get(n)!);
    });
    owned.push(...start);
    const params = new Map(names.map((n, i) => [n, start[i]]));
    for (let i = 0; i < updates.length;) {
      if (updates[i].hostReads) {
        const up = updates[i++];
        let solve: HostSolve | undefined;
        const stats = tf.tidy(() => {
          solve = hostSolveOf(up.update(params, marginals));
          if (!solve) throw new Error(`internal: the update of '${up.param}' (${up.rule}) is marked hostReads but gave no host solve`);
          // Clones: a statistic may be a parameter's own tensor (the old value), owned elsewhere.
          return solve.read.map((t) => tf.clone(t));
        });
        const next = solve!.solve(yield* readOwned(stats));
        owned.push(next);
        params.set(up.param, next);
        continue;
      }
      let j = i;
      while (j < updates.length && !updates[j].hostReads) j++;
      const seg = updates.slice(i, j);
      const values = tf.tidy(() => {
        const local = new Map(params);
        for (const up of seg) local.set(up.param, up.update(local, marginals) as Tensor);
        return seg.map((up) => tf.clone(local.get(up.param)!));
      });
      owned.push(...values);
      seg.forEach((up, k) => params.set(up.param, values[k]));
      i = j;
    }
    return tf.tidy(() => updates.map((up) => tf.clone(params.get(up.param)!)));
  } finally {
    tf.dispose(owned);
  }
}

/** Closed-form updates first (each maximises Q in its parameter), then a gradient step on the rest. */
function* mStepSteps(bm: BoundModel, u: Float64Array, marginals: Map<string, Tensor>, updates: ClosedFormUpdate[], anyGrad: boolean, priors: boolean, iters: number): HostSteps<Float64Array> {
  let cur = u;
  if (updates.length) {
    cur = Float64Array.from(u);
    const info = new Map(bm.params.map((p) => [p.name, p]));
    const updated = (params: Map<string, Tensor>) => {
      for (const up of updates) params.set(up.param, resolveUpdate(up.update(params, marginals)));
      return params;
    };
    let next: Tensor[];
    if (canReadSync()) {
      next = tf.tidy(() => {
        const params = updated(bm.constrainTensor(tf.tensor1d(Float32Array.from(u))).params);
        // Clones (which share the data): an update could hand back a tensor it does not own.
        return updates.map((up) => tf.clone(info.get(up.param)!.transform.inverse(params.get(up.param)!)));
      });
    } else {
      // The inverse transforms check the values on the host (dataSync): give them the updated
      // values as host tensors (the same float32 numbers), read with one awaited read.
      const constrained = yield* asyncUpdatesSteps(bm, u, marginals, updates);
      const cv = yield* readOwned(constrained);
      next = tf.tidy(() => updates.map((up, i) => tf.clone(info.get(up.param)!.transform.inverse(tf.tensor(cv[i] as Float32Array, constrained[i].shape)))));
    }
    const vals = yield* readOwned(next);
    updates.forEach((up, i) => cur.set(vals[i], info.get(up.param)!.offset));
  }
  if (!anyGrad) return cur;
  const closed = new Set(updates.map((x) => x.param));
  const free = bm.params.filter((p) => !closed.has(p.name));
  const mask = new Uint8Array(bm.dim);
  for (const p of free) mask.fill(1, p.offset, p.offset + p.size);
  const base = cur;
  // -Q and its gradient in the free parameters, read through the driver (so on webgpu too).
  const evaluate = function* (x: Float64Array): HostSteps<ValueAndGrad> {
    const full = Float64Array.from(base);
    for (let i = 0; i < full.length; i++) if (mask[i]) full[i] = x[i];
    const [value, grad] = tf.tidy(() => {
      const f = (v: Tensor) => {
        const { params } = bm.constrainTensor(v);
        return tf.neg(expectedLogJoint(bm.rt, params, marginals, { priors }));
      };
      const r = tf.valueAndGrad(f)(tf.tensor1d(Float32Array.from(full)));
      return [r.value, r.grad];
    });
    const r = yield* readValueAndGrad(value, grad);
    for (let i = 0; i < r.grad.length; i++) if (!mask[i]) r.grad[i] = 0;
    return r;
  };
  return (yield* lbfgsSteps(evaluate, base, { maxIter: iters, tolRel: 1e-9 })).x;
}

/** The number of observed scalar values, for the per-observation convergence rule. */
function observationCount(bm: BoundModel): number {
  let n = 0;
  const seen = new Set<string>();
  for (const f of bm.ir.factors) {
    if (f.kind !== 'obs' || !f.site || seen.has(f.site)) continue;
    seen.add(f.site);
    const t = bm.rt.data.get(f.site);
    if (t) n += t.shape.length ? t.shape[0] : 1;
  }
  return n;
}

/**
 * Returns the responsibilities (posterior marginals of every enumerated latent) at the
 * given values, through the fused Gaussian-mixture E-step when the model has that shape
 * (the generic evaluator materialises [N, K, D, D] for multivariate normals), else the
 * generic one. Same layout as BoundModel.latentMarginals.
 */
export function emResponsibilities(bm: BoundModel, values: ParamValues): Record<string, { shape: number[]; values: Float64Array }> {
  return runSync(emResponsibilitiesSteps(bm, values));
}

/** emResponsibilities with awaited reads (any backend; webgpu under Node.js needs it). */
export function emResponsibilitiesAsync(bm: BoundModel, values: ParamValues): Promise<Record<string, { shape: number[]; values: Float64Array }>> {
  return runAsync(emResponsibilitiesSteps(bm, values));
}

/** emResponsibilities as host-read steps. */
export function* emResponsibilitiesSteps(bm: BoundModel, values: ParamValues): HostSteps<Record<string, { shape: number[]; values: Float64Array }>> {
  const fast = fastGmmEStep(bm, false);
  return fast ? yield* responsibilitySteps(bm, values, fast) : yield* bm.latentMarginalsSteps(values);
}

function* responsibilitySteps(bm: BoundModel, values: ParamValues, fast: FastEStep): HostSteps<Record<string, { shape: number[]; values: Float64Array }>> {
  const ms = tf.tidy(() => [...fast(bm.paramTensors(values)).marginals]);
  const vals = yield* readOwned(ms.map(([, m]) => m));
  const out: Record<string, { shape: number[]; values: Float64Array }> = {};
  ms.forEach(([k, m], i) => { out[k] = { shape: m.shape, values: Float64Array.from(vals[i]) }; });
  return out;
}

export { predict, predictAsync, type PredictResult } from './predict';
export { viterbi, viterbiAsync, viterbiDecode, latentLogTables, type ViterbiResult, type LatentLogTable } from './viterbi';
export { selectModels, selectModelsAsync, CRITERIA, type Criterion, type SelectOptions, type SelectRow, type SelectResult, type Candidate } from './select';
