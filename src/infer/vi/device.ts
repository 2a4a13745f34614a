/**
 * Variational inference with the potential's gradients on the device (`viDeviceGradients`):
 * the VI loop (guides, Adam, the float64 host code of `vi`) runs in a worker thread, and every
 * potential and gradient it needs is computed by this thread on its backend (webgpu: the GPU,
 * the read awaited) and handed back through shared memory (src/infer/remote-potential.ts), as
 * `sampleParallel`'s `deviceGradients` does for the chains. For large data, where a gradient
 * is a pass over many rows. A step's Monte Carlo draws (`samples`) are one request, evaluated
 * together. The gradients are the float32 tensor evaluator's, so on wasm the fit equals
 * `vi(bound, opts, bound.tensorPotentialFunction())` in the same thread.
 */
import type { Model } from '../../model/model';
import type { DataInput } from '../../model/data';
import { runOnHostBackend } from '../../tensor/backend';
import { checkCloneable, MAX_REQUEST_POINTS, runDeviceJob } from '../mcmc/parallel';
import { buildResult, makeViGuide, runConfig } from './train';
import type { ViOptions, ViResult } from './index';
import type { GradientBatchStats } from '../remote-potential';

/** Options of {@link viDeviceGradients}: vi's, and the worker's script (as sampleParallel's `workerEntry`). */
export interface ViDeviceOptions extends ViOptions {
  workerEntry?: string | URL;
}

/**
 * Fits the guide of `vi` to the posterior of `model` given `data`, with every potential
 * gradient computed in this thread on its backend (see the module comment). Not with
 * `minibatch` (which subsamples bound data in the loop); `lr` as a number and the built-in
 * objectives (options are sent to the worker thread). `onStep` is relayed from the worker.
 *
 * @example
 * await useBackend('webgpu');
 * const fit = await viDeviceGradients(model, { K: 3, x }, { guide: 'meanfield', steps: 2000, seed: 1 });
 */
export async function viDeviceGradients(model: Model, data: DataInput, opts: ViDeviceOptions = {}): Promise<ViResult> {
  const t0 = performance.now();
  const { onStep, workerEntry, ...rest } = opts;
  if (rest.minibatch) throw new RangeError('viDeviceGradients: minibatch subsamples the bound data inside the loop; use vi() or model.fit(chunks, { method: \'vi\', minibatch })');
  if (typeof rest.lr === 'function') throw new RangeError('viDeviceGradients: lr must be a number here (a schedule function cannot be sent to the worker thread)');
  if (rest.objective !== undefined && typeof rest.objective !== 'string') throw new RangeError("viDeviceGradients: objective must be 'elbo', 'iwae' or 'renyi' here (a program cannot be sent to the worker thread)");
  checkCloneable('viDeviceGradients', 'data', data);
  checkCloneable('viDeviceGradients', 'options', rest);
  const cfg = runConfig(rest);
  // The host binding checks the options (guide, init) before the worker starts and rebuilds the result.
  const host = await runOnHostBackend(() => model.bind(data));
  try {
    if (host.dim === 0) throw new RangeError('vi: the model has no continuous parameters');
    const guide = await runOnHostBackend(() => makeViGuide(host, rest, cfg.kind));
    const stats: GradientBatchStats = { requests: 0, batches: 0, largest: 0 };
    const r = await runDeviceJob('viDeviceGradients', model, data, { vi: rest }, !!onStep, workerEntry, (m) => {
      if (m.type === 'vi-step') onStep?.(m.step, m.steps, m.objective, m.windowMean);
      return m.type === 'vi-done' ? m.result : undefined;
    }, Math.min(cfg.S, MAX_REQUEST_POINTS), stats);
    guide.params.set(r.params);
    // The worker's run finished (its parameters already averaged): the result is rebuilt from them.
    const trained = { guide, converged: r.converged, t: r.steps, rejected: r.rejected, finish: () => ({ elboRaw: r.elboRaw, elbo: r.elbo }) };
    const result = await runOnHostBackend(() => buildResult(trained, cfg, host.constrainedFunction(), host.potentialFunction(), false, t0));
    result.gradientBatches = stats;
    return result;
  } finally {
    host.dispose();
  }
}
