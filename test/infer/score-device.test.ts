// scoreSampleDeviceGradients: scoreSample in a worker thread, every potential and gradient
// computed by the main thread (on wasm here; on webgpu the device: families-webgpu.test.ts).
// The draws must be those scoreSample gives with the same float32 tensor-evaluator potential in
// one thread, to the bit, for a chain method (MALA, with warm-up) and a particle method
// (annealed Langevin, with its log evidence).
import { describe, expect, it } from 'vitest';
import { compile, ensureBackend, scoreSample, scoreSampleDeviceGradients, ScoreResult } from '../../src';
import { tf } from '../../src/tensor';
import { MIX, mixData } from './families-webgpu-cases';

await ensureBackend();

const data = mixData;
const model = compile(MIX);

describe('scoreSampleDeviceGradients', () => {
  it('gives the draws of scoreSample with the tensor potential in one thread (MALA, annealed Langevin), progress relayed, no tensor kept', async () => {
    for (const opts of [
      { method: 'mala' as const, chains: 2, warmup: 40, draws: 30, seed: 3 },
      { method: 'annealed-langevin' as const, chains: 2, draws: 16, seed: 4, moveSteps: 2 },
    ]) {
      const bound = model.bind(data);
      const ref = scoreSample(bound, opts, bound.tensorPotentialFunction());
      const before = tf.memory().numTensors;
      let calls = 0;
      const dev = await scoreSampleDeviceGradients(model, data, { ...opts, onProgress: () => { calls++; } });
      expect(tf.memory().numTensors).toBe(before);
      expect(dev).toBeInstanceOf(ScoreResult);
      expect(dev.chains.map((c) => c.unconstrained)).toEqual(ref.chains.map((c) => c.unconstrained));
      expect(dev.chains.map((c) => c.values)).toEqual(ref.chains.map((c) => c.values));
      expect(dev.chains.map((c) => c.stats)).toEqual(ref.chains.map((c) => c.stats));
      expect([dev.method, dev.logZ, dev.traced, dev.names]).toEqual([ref.method, ref.logZ, false, ref.names]);
      expect(dev.annealing).toEqual(ref.annealing);
      expect(calls).toBeGreaterThan(0);
      // Each sweep went as one request: both chains' proposals (MALA), the whole cloud of 32 particles (annealed).
      const stats = dev.gradientBatches!;
      expect(stats.largest).toBe(opts.method === 'mala' ? 2 : 32);
      if (opts.method === 'mala') expect(stats.batches).toBe(2 + opts.warmup! + opts.draws); // the two inits one by one, then a sweep per iteration
      else expect(stats.requests).toBe(dev.annealing!.gradientEvals);
      expect(dev.summary().length).toBe(ref.summary().length);
      // The float64 replay gives other draws: the comparison above can fail.
      expect(scoreSample(bound, opts).chains[0].unconstrained).not.toEqual(dev.chains[0].unconstrained);
      bound.dispose();
    }
  }, 120_000);

  it('refuses bad options with scoreSample\'s messages, from the worker', async () => {
    await expect(scoreSampleDeviceGradients(model, data, { method: 'nope' as never })).rejects.toThrow(/scoreSample: unknown method 'nope'/);
    await expect(scoreSampleDeviceGradients(model, data, { method: 'annealed-langevin', warmup: 5 })).rejects.toThrow(/has no warm-up/);
    await expect(scoreSampleDeviceGradients(model, data, { method: 'mala', init: [() => 1] as unknown as number[] })).rejects.toThrow(/^scoreSampleDeviceGradients: options\.init\[0\] cannot be sent to a worker thread/);
    await expect(scoreSampleDeviceGradients(model, { K: 2 }, { method: 'mala' })).rejects.toThrow(/'y'/);
  }, 60_000);
});
