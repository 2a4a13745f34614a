/**
 * Point estimates through the shared potential: MAP (the mode of the posterior density
 * of the constrained parameters, i.e. no Jacobian term, as Stan's optimizer) or maximum
 * likelihood (priors left out). Discrete latents are summed out, so this maximises the
 * marginal likelihood of a mixture directly. Several random starts; the best is kept.
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

/** {@link optimize} as host-read steps, for runs composed of several (the diffusion method's baseline). */
export function* optimizeSteps(bm: BoundModel, opts: OptimizeOptions = {}): HostSteps<OptimizeResult> {
  const t0 = performance.now();
  const method = opts.method ?? 'map';
  const nInit = opts.init ? 1 : Math.max(1, opts.nInit ?? 4);
  const keys = Key.seed(opts.seed ?? 1).split(Math.max(2, nInit));
  const potOpts = { jacobian: false, priors: method === 'map' };
  const evaluate = (x: Float64Array): HostSteps<ValueAndGrad> => bm.potentialAndGradSteps(x, potOpts);
  let best: LbfgsResult | undefined;
  const starts: number[] = [];
  for (let s = 0; s < nInit; s++) {
    let x0: Float64Array;
    if (opts.init) x0 = yield* unconstrainSteps(bm, opts.init);
    else {
      const rng = keys[s].rng();
      x0 = Float64Array.from({ length: bm.dim }, () => rng.uniform() * 4 - 2);
    }
    const r = yield* lbfgsSteps(evaluate, x0, { maxIter: opts.maxIter ?? 1000, tolRel: opts.tol ?? 1e-7, onIteration: (i, f) => opts.onIteration?.(s, i, -f) });
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
