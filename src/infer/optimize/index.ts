/**
 * Point estimates through the shared potential: MAP (the mode of the posterior density
 * of the constrained parameters, i.e. no Jacobian term, as Stan's optimizer) or maximum
 * likelihood (priors left out). Discrete latents are summed out, so this maximises the
 * marginal likelihood of a mixture directly. Several random starts; the best is kept. The
 * starts run in lockstep: each round, every start still iterating asks for its next
 * evaluation and they are evaluated together (one batched evaluation, one read;
 * `BoundModel.potentialAndGradBatchSteps`), so a device is asked once per round rather than
 * once per start, and a small model's per-call overhead is shared. Each start's iterates
 * depend only on its own evaluations.
 */
import type { BoundModel, ParamValues } from '../../model/bound-model';
import { runAsync, runSync, type HostSteps } from '../../tensor';
import { Key } from '../../tensor/random';
import { constrainSteps, unconstrainSteps } from '../em/host-reads';
import { lbfgsSteps, type LbfgsResult, type ValueAndGrad } from './lbfgs';

export interface OptimizeOptions {
  method?: 'map' | 'mle';
  seed?: number;
  /** Initial values (constrained); otherwise uniform(-2, 2) on the unconstrained scale, as Stan. */
  init?: ParamValues;
  /** Random starts (default 4); the best optimum is kept. */
  nInit?: number;
  maxIter?: number;
  /** Relative change of the objective that counts as converged (default 1e-7). */
  tol?: number;
  onIteration?: (start: number, iter: number, logDensity: number) => void;
}

export interface OptimizeResult {
  method: 'map' | 'mle';
  /** Constrained values of every parameter. */
  params: Record<string, number | unknown[]>;
  /** Log density at the optimum (log posterior up to a constant for MAP, log likelihood for MLE). */
  logDensity: number;
  iterations: number;
  converged: boolean;
  message: string;
  /** Log density after each iteration of the best start. */
  trace: number[];
  /** Log density reached by every start. */
  starts: number[];
  seconds: number;
}

/** Point estimates by L-BFGS from several starts (synchronous reads). */
export function optimize(bm: BoundModel, opts: OptimizeOptions = {}): OptimizeResult {
  return runSync(optimizeSteps(bm, opts));
}

/**
 * {@link optimize} with every read awaited: on webgpu the potential and its gradient are
 * evaluated on the device (one awaited read per evaluation); the L-BFGS iteration runs on the
 * host. The same steps and results as `optimize` where both run.
 */
export function optimizeAsync(bm: BoundModel, opts: OptimizeOptions = {}): Promise<OptimizeResult> {
  return runAsync(optimizeSteps(bm, opts));
}

/** A batch's values and gradients as one answer per point. */
function* batchAnswers(steps: HostSteps<{ values: Float64Array; grads: Float64Array[] }>): HostSteps<ValueAndGrad[]> {
  const { values, grads } = yield* steps;
  return grads.map((grad, b) => ({ value: values[b], grad }));
}

/** {@link optimize} as host-read steps, for runs composed of several (the diffusion method's baseline). */
export function* optimizeSteps(bm: BoundModel, opts: OptimizeOptions = {}): HostSteps<OptimizeResult> {
  const t0 = performance.now();
  const method = opts.method ?? 'map';
  const nInit = opts.init ? 1 : Math.max(1, opts.nInit ?? 4);
  const keys = Key.seed(opts.seed ?? 1).split(Math.max(2, nInit));
  const potOpts = { jacobian: false, priors: method === 'map' };
  const x0s: Float64Array[] = [];
  for (let s = 0; s < nInit; s++) {
    if (opts.init) x0s.push(yield* unconstrainSteps(bm, opts.init));
    else {
      const rng = keys[s].rng();
      x0s.push(Float64Array.from({ length: bm.dim }, () => rng.uniform() * 4 - 2));
    }
  }
  // Each start's L-BFGS yields its evaluation requests (points) and takes back the answers.
  const ask = function* (x: Float64Array): Generator<Float64Array, ValueAndGrad, ValueAndGrad> {
    return yield x;
  };
  const runs = x0s.map((x0, s) => lbfgsSteps(ask, x0, { maxIter: opts.maxIter ?? 1000, tolRel: opts.tol ?? 1e-7, onIteration: (i, f) => opts.onIteration?.(s, i, -f) }));
  const states = runs.map((r) => r.next(undefined as unknown as ValueAndGrad));
  for (;;) {
    const pending = states.flatMap((st, s) => (st.done ? [] : [s]));
    if (pending.length === 0) break;
    const points = pending.map((s) => states[s].value as Float64Array);
    // One start alone is evaluated as a single point (a lone start's steps are the sequential ones).
    const answers: ValueAndGrad[] = pending.length === 1
      ? [yield* bm.potentialAndGradSteps(points[0], potOpts)]
      : yield* batchAnswers(bm.potentialAndGradBatchSteps(points, potOpts));
    pending.forEach((s, j) => { states[s] = runs[s].next(answers[j]); });
  }
  let best: LbfgsResult | undefined;
  const starts: number[] = [];
  for (const st of states) {
    const r = st.value as LbfgsResult;
    starts.push(-r.f);
    if (Number.isFinite(r.f) && (!best || r.f < best.f)) best = r;
  }
  if (!best) {
    return { method, params: {}, logDensity: -Infinity, iterations: 0, converged: false, message: 'no start reached a finite log density', trace: [], starts, seconds: (performance.now() - t0) / 1000 };
  }
  const params = yield* constrainSteps(bm, best.x);
  return {
    method, params, logDensity: -best.f, iterations: best.iterations, converged: best.converged,
    message: best.message, trace: best.trace.map((f) => -f), starts, seconds: (performance.now() - t0) / 1000,
  };
}
