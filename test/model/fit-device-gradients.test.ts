// model.fit with deviceGradients: true routes to the device-gradient paths (worker threads, the
// gradients computed in the main thread on the backend; wasm here): the same draws / fit as
// calling sampleParallel, viDeviceGradients, scoreSampleDeviceGradients and smcDevice directly, a promise
// as the result, deviceGradients: false the plain method, and the methods it does not apply to
// refused with a message naming fit.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend, sampleParallel, smcDevice } from '../../src';
import { viDeviceGradients } from '../../src/infer/vi/device';
import { scoreSampleDeviceGradients } from '../../src/infer/score/device';
import { deviceMala, deviceNuts, deviceVi, mixData, MIX } from '../infer/families-webgpu-cases';

beforeAll(async () => {
  await ensureBackend();
});

const model = compile(MIX);

describe('model.fit with deviceGradients', () => {
  it('nuts: the draws of sampleParallel with deviceGradients, as a promise', async () => {
    const p = model.fit(mixData, { method: 'nuts', deviceGradients: true, ...deviceNuts });
    expect(p).toBeInstanceOf(Promise);
    const viaFit = await p;
    const direct = await sampleParallel(model, mixData, { ...deviceNuts, algorithm: 'nuts', deviceGradients: true });
    expect(viaFit.chains.length).toBe(deviceNuts.chains);
    expect(viaFit.chains.map((c) => Array.from(c.values.flatMap((v) => Array.from(v))))).toEqual(direct.chains.map((c) => Array.from(c.values.flatMap((v) => Array.from(v)))));
  }, 60_000);

  it('vi and mala: the results of viDeviceGradients and scoreSampleDeviceGradients', async () => {
    const v = await model.fit(mixData, { method: 'vi', deviceGradients: true, ...deviceVi });
    const vd = await viDeviceGradients(model, mixData, deviceVi);
    expect(Array.from(v.elbo)).toEqual(Array.from(vd.elbo));
    const { method: _m, ...malaOpts } = deviceMala;
    const m = await model.fit(mixData, { method: 'mala', deviceGradients: true, ...malaOpts });
    const md = await scoreSampleDeviceGradients(model, mixData, deviceMala);
    expect(m.chains.map((c) => Array.from(c.values.flatMap((v) => Array.from(v))))).toEqual(md.chains.map((c) => Array.from(c.values.flatMap((v) => Array.from(v)))));
  }, 60_000);

  it('smc: the run of smcDevice', async () => {
    const opts = { particles: 40, seed: 3, rejuvenation: { steps: 1, leapfrogSteps: 4 } };
    const viaFit = await model.fit(mixData, { method: 'smc', deviceGradients: true, ...opts });
    const direct = await smcDevice(model, mixData, opts);
    expect(viaFit.logZ).toBe(direct.logZ);
    expect(viaFit.unconstrained).toEqual(direct.unconstrained);
  }, 60_000);

  it('deviceGradients: false is the plain method (a result, not a promise)', () => {
    const r = model.fit(mixData, { method: 'mh', deviceGradients: false, chains: 1, warmup: 20, draws: 10, seed: 2 });
    expect(r).not.toBeInstanceOf(Promise);
    const plain = model.fit(mixData, { method: 'mh', chains: 1, warmup: 20, draws: 10, seed: 2 });
    expect(r.chains.map((c) => Array.from(c.values.flatMap((v) => Array.from(v))))).toEqual(plain.chains.map((c) => Array.from(c.values.flatMap((v) => Array.from(v)))));
  });

  it('refuses the methods it does not apply to, and a non-boolean', async () => {
    await expect(model.fit(mixData, { method: 'em', deviceGradients: true } as never)).rejects.toThrow(/fit: deviceGradients applies to methods nuts, hmc, mh, vi, smc, langevin, mala, annealed-langevin and rdmc, not 'em' \(on webgpu 'em' runs on the device without it\)/);
    await expect(model.fit(mixData, { method: 'gibbs', deviceGradients: true })).rejects.toThrow(/not 'gibbs' \(Gibbs over the latents runs on the host; nuts sums them out\)/);
    expect(() => model.fit(mixData, { method: 'nuts', deviceGradients: 'yes' as unknown as boolean })).toThrow(/fit: deviceGradients must be true or false, got yes/);
  });
});
