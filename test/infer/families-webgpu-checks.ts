/**
 * Every inference family but EM on a real WebGPU device, run as a child process by
 * families-webgpu.test.ts (as em-webgpu-checks.ts, and for the same reasons: Dawn on Mesa can
 * abort in native code at exit, and this process stays on webgpu, never switching to wasm).
 * Dawn's default adapter where there is one, else Mesa's software OpenGL ES ('gl-compat').
 *
 * Prints one JSON line per check ({ check, ok, error?, summary? }), an { adapter } line, or
 * { skipped } where no adapter is found, then { done: true }.
 */
import { compile, sampleParallel, scoreSampleDeviceGradients, smcDevice, viDeviceGradients, BackendUnavailableError } from '../../src';
import { tf, runOnHostBackend } from '../../src/tensor';
import { sample } from '../../src/infer/mcmc';
import type { DiffusionFitResult } from '../../src/infer/score/diffusion-fit';
import { deviceMala, deviceNuts, deviceSmc, deviceVi, fits, mixData, runFilter, summarize, viChunkedOpts, viChunks, MIX } from './families-webgpu-cases';
import { check, runChildChecks, say, startWebgpuChild } from '../tensor/webgpu-child';

await startWebgpuChild();

/** After a family ran on the host, webgpu is the backend again and computes (an awaited read). */
async function webgpuStillWorks(): Promise<void> {
  check(tf.getBackend() === 'webgpu', `the backend after the run is ${tf.getBackend()}`);
  const t = tf.square(tf.tensor1d([1, 2, 3]));
  const v = Array.from(await t.data());
  t.dispose();
  check(v.join(',') === '1,4,9', `webgpu computed ${v}`);
}

const model = compile(MIX);
const checks: [string, () => Promise<Record<string, unknown> | void>][] = [
  ...Object.keys(fits).map((name): [string, () => Promise<Record<string, unknown>>] => [name, async () => {
    const pending = model.fit(mixData, fits[name] as never) as unknown;
    check(pending instanceof Promise, `model.fit (${name}) did not return a promise on webgpu`);
    const r = await pending;
    const summary = summarize(name, r);
    if (name === 'diffusion') {
      // The trained network on the device: draws and log densities through the awaited forms;
      // the sync forms say where those are.
      const d = r as DiffusionFitResult;
      let msg = '';
      try { d.sample(2); } catch (e) { msg = e instanceof BackendUnavailableError ? e.message : `not a BackendUnavailableError: ${String(e)}`; }
      check(/sample\(\) reads the score network synchronously.*await fit\.sampleAsync/.test(msg), `sample() on webgpu gave '${msg}'`);
      summary.draws = (await d.sampleAsync(5, { steps: 20, seed: 3 })).flat();
      summary.logLik = Array.from(await d.logLikelihoodAsync([[-2], [0.5], [2]]));
      d.dispose();
    }
    await webgpuStillWorks();
    return { summary };
  }]),
  ['vi-chunked', async () => {
    const summary = summarize('vi-chunked', await model.fit(viChunks, viChunkedOpts as never));
    await webgpuStillWorks();
    return { summary };
  }],
  ['filter', async () => {
    const logZ = await runOnHostBackend(runFilter);
    await webgpuStillWorks();
    return { summary: { logZ } };
  }],
  ['nuts-device-gradients', async () => {
    // NUTS in worker threads, every potential and gradient computed here on the device.
    const r = await sampleParallel(model, mixData, { ...deviceNuts, deviceGradients: true });
    check(!r.traced, 'the run reports the float64 replay');
    await webgpuStillWorks();
    return { summary: { u: r.chains.flatMap((c) => c.unconstrained.map((u) => Array.from(u))), lp: r.chains.flatMap((c) => c.stats.map((st) => st.lp)), accept: r.chains.flatMap((c) => c.stats.map((st) => st.accept_stat)) } };
  }],
  ['vi-device-gradients', async () => {
    // The VI loop in a worker thread, every potential and gradient computed here on the device.
    const r = await viDeviceGradients(model, mixData, deviceVi);
    check(!r.traced, 'the run reports the float64 replay');
    await webgpuStillWorks();
    return { summary: { elboRaw: Array.from(r.elboRaw), params: Array.from(r.params), steps: r.steps } };
  }],
  ['smc-device', async () => {
    // Tempered SMC, every particle's HMC evaluations as one batch here on the device.
    const before = tf.memory().numTensors;
    const r = await smcDevice(model, mixData, deviceSmc);
    check(tf.memory().numTensors === before, `${tf.memory().numTensors - before} tensors left`);
    await webgpuStillWorks();
    return { summary: { logZ: r.logZ, stages: r.betas.length, u: r.unconstrained.map((u) => Array.from(u)), weights: Array.from(r.weights) } };
  }],
  ['mala-device-gradients', async () => {
    // MALA in a worker thread, every potential and gradient computed here on the device.
    const r = await scoreSampleDeviceGradients(model, mixData, deviceMala);
    check(!r.traced, 'the run reports the float64 replay');
    await webgpuStillWorks();
    return { summary: { u: r.chains.flatMap((c) => c.unconstrained.map((u) => Array.from(u))), lp: r.chains.flatMap((c) => c.stats.map((st) => st.lp)) } };
  }],
  ['refusals', async () => {
    // A family called directly, outside runOnHostBackend: a clear error, not a crash or a hang.
    const bm = model.bind(mixData);
    let msg = '';
    try { sample(bm, { chains: 1, warmup: 5, draws: 5, seed: 1 }); } catch (e) { msg = e instanceof BackendUnavailableError ? e.message : `not a BackendUnavailableError: ${String(e)}`; }
    bm.dispose();
    check(/reads a tensor synchronously.*Use --backend wasm/.test(msg), `sample() on webgpu outside runOnHostBackend gave '${msg}'`);
    await webgpuStillWorks();
  }],
];

await runChildChecks(checks);
