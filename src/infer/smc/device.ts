/**
 * Tempered SMC with the particles' HMC moves evaluated on the device (`smcDevice`): the run is
 * `smc`'s (src/infer/smc/index.ts, the same host-read steps: schedule, reweighting, resampling
 * and the Metropolis tests in float64 on the host), but every evaluation of the tempered
 * target is one batched evaluation of all the particles that need it (each leapfrog step of
 * a sweep advances every particle's trajectory at once; `BoundModel.potentialsAndGradsBatchSteps`,
 * its prior and likelihood parts with one read), so a GPU works on the whole cloud at once.
 * Each particle's transition draws from its own stream, so the run is `smc`'s with
 * `tensorPath: true` (float32 tensor potentials), only batched: on wasm the same particles
 * (test/infer/smc-device.test.ts).
 */
import type { Model } from '../../model/model';
import type { DataInput } from '../../model/data';
import type { BoundModel } from '../../model/bound-model';
import { currentBackend, ensureBackend, runOnHostBackend } from '../../tensor/backend';
import { runAsync, type HostSteps } from '../../tensor/host-reads';
import { priorParticles, result, smcCounts, smcSteps, TEMPERED_LIKELIHOOD, TEMPERED_PRIOR, type SmcOptions, type SmcResult, type TemperedEvaluator } from './index';

/** The tempered target's evaluations as batches on the bound model's backend (in parts of `maxBatchPoints`, read together). */
export function deviceTemperedEvaluator(bm: BoundModel): TemperedEvaluator {
  /** log π_β, ℓ and the gradient of log π_β at the points, as TemperedTarget.logDensityGrad combines them. */
  function* evaluate(points: readonly Float64Array[], beta: number, grads?: readonly Float64Array[]): HostSteps<{ lp: Float64Array; ll: Float64Array }> {
    const [prior, lik] = yield* bm.potentialsAndGradsBatchSteps(points, [TEMPERED_PRIOR, TEMPERED_LIKELIHOOD]);
    const lp = new Float64Array(points.length);
    const ll = new Float64Array(points.length);
    points.forEach((_, j) => {
      const vp = prior.values[j];
      const vl = lik.values[j];
      lp[j] = beta === 0 ? -vp : -vp - beta * vl;
      ll[j] = Number.isNaN(vl) ? -Infinity : -vl;
      const g = grads?.[j];
      if (!g) return;
      const gp = prior.grads[j];
      const gl = lik.grads[j];
      for (let i = 0; i < g.length; i++) g[i] = -gp[i] - beta * gl[i];
    });
    return { lp, ll };
  }
  return {
    *logLiks(points) {
      return (yield* evaluate(points, 0)).ll;
    },
    logDensityGrads: evaluate,
  };
}

/**
 * Tempered SMC (`smc`'s options and result) with the HMC moves of all particles evaluated as
 * batches on the active backend (webgpu: the GPU; see the module comment). The model is
 * bound twice: on the host backend for the prior draws and the result, and on the active one
 * for the evaluations. The random-walk kernel, waste-free moves and the Gibbs kernel run on
 * the host (`smc`) and are refused here.
 *
 * @example
 * await useBackend('webgpu');
 * const r = await smcDevice(model, data, { particles: 2000, seed: 1 });
 * r.logZ; // the log evidence estimate
 */
export async function smcDevice(model: Model, data: DataInput, opts: SmcOptions = {}): Promise<SmcResult> {
  const kernel = opts.rejuvenation?.kernel ?? 'hmc';
  if (kernel !== 'hmc') throw new RangeError(`smcDevice: the device moves the particles by HMC; rejuvenation.kernel '${kernel}' runs on the host (smc)`);
  if (opts.wasteFree !== undefined) throw new RangeError('smcDevice: waste-free moves run on the host (smc)');
  if (opts.tensorPath !== undefined) throw new RangeError("smcDevice: tensorPath is smc's option (the device always evaluates the tensor potentials)");
  if (currentBackend() === undefined) await ensureBackend();
  const bound = await runOnHostBackend(() => model.bind(data));
  let device: BoundModel | undefined;
  try {
    // smcSteps checks the other options; the prior draws, made first, need these.
    const { P, seed } = smcCounts(opts);
    const initial = await runOnHostBackend(() => priorParticles(model, bound, opts, P, seed));
    device = model.bind(data);
    const run = await runAsync(smcSteps(model, bound, opts, { evaluator: deviceTemperedEvaluator(device), initial }));
    return await runOnHostBackend(() => result(bound, run.u, run.logw, run.rest));
  } finally {
    device?.dispose();
    bound.dispose();
  }
}
