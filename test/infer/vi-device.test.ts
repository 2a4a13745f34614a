// viDeviceGradients: the VI loop in a worker thread, every potential and gradient computed by
// the main thread (on wasm here; on webgpu the device: families-webgpu.test.ts). The fit must
// be the one vi() gives with the same float32 tensor-evaluator potential in one thread, to
// the bit; bad options are refused before a thread starts.
import { describe, expect, it } from 'vitest';
import { compile, ensureBackend, vi, viDeviceGradients } from '../../src';
import { tf } from '../../src/tensor';
import { MIX, mixData } from './families-webgpu-cases';

await ensureBackend();

const data = mixData;
const model = compile(MIX);

describe('viDeviceGradients', () => {
  it('gives the fit of vi() with the tensor potential in one thread (mean-field and full-rank), onStep relayed, no tensor kept', async () => {
    for (const opts of [
      { guide: 'meanfield' as const, steps: 120, seed: 2 },
      { guide: 'fullrank' as const, steps: 80, samples: 2, seed: 5, init: { w: [0.5, 0.5], mu: [-1, 1], s: 1 } },
    ]) {
      const bound = model.bind(data);
      const ref = vi(bound, opts, bound.tensorPotentialFunction());
      const before = tf.memory().numTensors;
      let steps = 0;
      const dev = await viDeviceGradients(model, data, { ...opts, onStep: () => { steps++; } });
      expect(tf.memory().numTensors).toBe(before);
      expect(dev.params).toEqual(ref.params);
      expect(dev.elboRaw).toEqual(ref.elboRaw);
      expect(dev.elbo).toEqual(ref.elbo);
      expect([dev.steps, dev.converged, dev.rejected, dev.traced]).toEqual([ref.steps, ref.converged, ref.rejected, false]);
      expect(steps).toBe(ref.steps);
      // A step's draws went as one request of `samples` points (2 for the full-rank fit): one batch each.
      const S = opts.samples ?? 1;
      expect(dev.gradientBatches).toEqual({ requests: S * dev.gradientBatches!.batches, batches: dev.gradientBatches!.batches, largest: S });
      expect(dev.gradientBatches!.batches).toBeGreaterThanOrEqual(ref.steps);
      expect(dev.names).toEqual(ref.names);
      expect(dev.draws(5, 3)).toEqual(ref.draws(5, 3));
      // The float64 replay gives another fit: the comparison above can fail.
      expect(vi(bound, opts).params).not.toEqual(dev.params);
      expect(dev.psis(50).khat).toBeTypeOf('number');
      bound.dispose();
    }
  }, 120_000);

  it('refuses what it cannot run before a thread starts', async () => {
    await expect(viDeviceGradients(model, data, { minibatch: { data: 'y', size: 10 } })).rejects.toThrow(/viDeviceGradients: minibatch subsamples the bound data/);
    await expect(viDeviceGradients(model, data, { lr: () => 0.1 })).rejects.toThrow(/lr must be a number here/);
    await expect(viDeviceGradients(model, { K: 2, y: [1, () => 2] as unknown as number[] }, {})).rejects.toThrow(/^viDeviceGradients: data\.y\[1\] cannot be sent to a worker thread/);
    await expect(viDeviceGradients(model, data, { guide: 'nope' as never })).rejects.toThrow(/guide/);
    await expect(viDeviceGradients(model, { K: 2, y: [1, Number.NaN] }, { steps: 5 })).rejects.toThrow(/y/);
  });
});
