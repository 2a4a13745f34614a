/**
 * The score-based samplers with the potential's gradients on the device
 * (`scoreSampleDeviceGradients`): `scoreSample` (unadjusted Langevin, MALA, annealed Langevin,
 * rdMC) runs in a worker thread and every potential and gradient it needs is computed by this
 * thread on its backend (webgpu: the GPU, the read awaited), handed back through shared memory
 * (src/infer/remote-potential.ts) as for `sampleParallel`'s `deviceGradients`. Each sweep of
 * the chains, of the annealed cloud, or of rdMC's inner samples is one request, its points
 * evaluated together. The gradients are the float32 tensor evaluator's: on wasm the draws
 * equal `scoreSample(bound, opts, bound.tensorPotentialFunction())` in one thread.
 */
import type { Model } from '../../model/model';
import type { DataInput } from '../../model/data';
import { checkCloneable, MAX_REQUEST_POINTS, runDeviceJob } from '../mcmc/parallel';
import { ScoreResult, type ScoreSampleOptions } from './index';
import type { GradientBatchStats } from '../remote-potential';

/** Options of {@link scoreSampleDeviceGradients}: scoreSample's, and the worker's script (as sampleParallel's `workerEntry`). */
export interface ScoreDeviceOptions extends ScoreSampleOptions {
  workerEntry?: string | URL;
}

/**
 * The most points the worker evaluates together (its channel's capacity, at most
 * MAX_REQUEST_POINTS): the chains (Langevin, MALA), the particle cloud (annealed Langevin),
 * a batch of inner importance samples or the shared pool (rdMC). Invalid options give 1
 * (scoreSample refuses them in the worker).
 */
function requestPoints(o: Omit<ScoreSampleOptions, 'onProgress'>): number {
  const chains = o.chains ?? 4;
  const want = o.method === 'annealed-langevin' ? chains * (o.draws ?? 1000)
    : o.method === 'rdmc' ? Math.max(o.innerSamples ?? 256, o.poolSamples ?? 0)
      : chains;
  return Number.isSafeInteger(want) && want >= 1 ? Math.min(want, MAX_REQUEST_POINTS) : 1;
}

/**
 * Runs `scoreSample` on `model` given `data` with every potential gradient computed in this
 * thread on its backend (see the module comment); `onProgress` is relayed from the worker.
 *
 * @example
 * await useBackend('webgpu');
 * const r = await scoreSampleDeviceGradients(model, data, { method: 'mala', chains: 4, seed: 1 });
 */
export async function scoreSampleDeviceGradients(model: Model, data: DataInput, opts: ScoreDeviceOptions): Promise<ScoreResult> {
  const t0 = performance.now();
  if (!opts || typeof opts !== 'object') throw new RangeError('scoreSampleDeviceGradients: options with a method are required');
  const { onProgress, workerEntry, ...rest } = opts;
  checkCloneable('scoreSampleDeviceGradients', 'data', data);
  checkCloneable('scoreSampleDeviceGradients', 'options', rest);
  const stats: GradientBatchStats = { requests: 0, batches: 0, largest: 0 };
  const r = await runDeviceJob('scoreSampleDeviceGradients', model, data, { score: rest }, !!onProgress, workerEntry, (m) => {
    if (m.type === 'score-progress') onProgress?.(m.progress);
    return m.type === 'score-done' ? m.result : undefined;
  }, requestPoints(rest), stats);
  const res = new ScoreResult(r.model, r.names, r.params, r.chains, r.settings, false, (performance.now() - t0) / 1000, [], r.initSource);
  res.method = r.method;
  res.logZ = r.logZ;
  res.annealing = r.annealing;
  res.diffusion = r.diffusion;
  res.gradientBatches = stats;
  return res;
}
