// smcDevice: tempered SMC with every HMC evaluation of the particle cloud batched on the
// active backend (wasm here). It is smc's run with tensorPath (the same particles, to the bit
// on wasm, where a batched row equals the point's own evaluation) for a regression and an HMM
// (a chain latent per point); its log Z is unbiased for the closed-form evidence of a
// correlated conjugate regression (within 4 SE over 8 runs, as smc-tempered.test.ts), while
// rejuvenating with the wrong β fails the same check; options it does not run are refused;
// no tensor is left.
import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { compile, ensureBackend, smcDevice } from '../../src';
import { smc, type SmcOptions } from '../../src/infer/smc';
import { tf } from '../../src/tensor';
import { REGRESSION_LINE, REGRESSION_DATA, logZScore, regressionEvidence } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const line = compile(REGRESSION_LINE);
const { x, y } = REGRESSION_DATA;

describe('smcDevice', () => {
  it('is smc with tensorPath, batched: the same particles, weights, schedule and log Z', async () => {
    const hmm = compile(fileURLToPath(new URL('../../stdlib/gaussian_hmm.mix', import.meta.url)));
    const [draw] = hmm.simulate({ K: 2, T: 8 }, { seed: 5 });
    const cases: [typeof line, Record<string, unknown>, SmcOptions][] = [
      [line, { x, y }, { particles: 30, seed: 4, rejuvenation: { steps: 2, leapfrogSteps: 4 } }],
      [hmm, { K: 2, ...draw.data }, { particles: 12, seed: 2, rejuvenation: { steps: 1, leapfrogSteps: 3, metric: 'diag' } }],
    ];
    for (const [model, data, opts] of cases) {
      const host = smc(model, model.bind(data as never), { ...opts, tensorPath: true });
      const before = tf.memory().numTensors;
      const dev = await smcDevice(model, data as never, opts);
      expect(tf.memory().numTensors).toBe(before);
      expect(dev.betas).toEqual(host.betas);
      expect(dev.logZ).toBe(host.logZ);
      expect(dev.acceptance).toEqual(host.acceptance);
      expect(dev.weights).toEqual(host.weights);
      expect(dev.unconstrained).toEqual(host.unconstrained);
      expect(dev.names).toEqual(host.names);
      expect(dev.particles).toEqual(host.particles);
      expect(dev.betas.length).toBeGreaterThan(2);
    }
  }, 120_000);

  describe('log Z of a correlated conjugate regression', () => {
    const exact = regressionEvidence(x, y, 2, 0.5);
    const zOf = async (opts: SmcOptions) => {
      const z: number[] = [];
      for (let r = 0; r < 8; r++) z.push((await smcDevice(line, { x, y }, { particles: 400, seed: 31 + 7 * r, rejuvenation: { steps: 2 }, ...opts })).logZ);
      return logZScore(z, exact);
    };
    it('is unbiased: within 4 SE of the closed form', async () => {
      const z = await zOf({});
      expect(Math.abs(z), `z = ${z.toFixed(2)}`).toBeLessThan(4);
    }, 120_000);
    it('mutation: rejuvenating with the previous stage\'s β fails the same check', async () => {
      const z = await zOf({ _testBias: 'kernel-beta' });
      expect(Math.abs(z), `z = ${z.toFixed(2)}`).toBeGreaterThan(4);
    }, 120_000);
  });

  it('refuses what it does not run on the device, naming it', async () => {
    await expect(smcDevice(line, { x, y }, { rejuvenation: { kernel: 'rwmh' } })).rejects.toThrow(/smcDevice: the device moves the particles by HMC; rejuvenation.kernel 'rwmh' runs on the host \(smc\)/);
    await expect(smcDevice(line, { x, y }, { wasteFree: { chainLength: 4 } })).rejects.toThrow(/smcDevice: waste-free moves run on the host/);
    await expect(smcDevice(line, { x, y }, { tensorPath: true })).rejects.toThrow(/smcDevice: tensorPath is smc's option/);
    await expect(smcDevice(line, { x, y }, { particles: 1 })).rejects.toThrow(/smc: particles must be an integer ≥ 2, got 1/);
    await expect(smcDevice(line, { x, y }, { rejuvenation: { leapfrogSteps: 0 } })).rejects.toThrow(/smc: rejuvenation.leapfrogSteps must be a positive integer, got 0/);
    await expect(smcDevice(line, { x: [1, 2], y: [1, NaN] }, {})).rejects.toThrow(/y/);
  });
});
