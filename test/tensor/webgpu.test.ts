import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend, BackendUnavailableError, webgpuAdapterInfo, type BackendName } from '../../src/tensor';
import { setOptionalImporterForTesting } from '../../src/tensor/backend';
import { gaussianEStep, gaussianEStepReference, checkGaussianEStepParams, GAUSSIAN_ESTEP_KERNEL, type EStepResult } from '../../src/tensor/fused';
import { gaussianSuffStats, gaussianSuffStatsReference, GAUSSIAN_SUFF_STATS_KERNEL } from '../../src/tensor/fused';
import { estepDisagreement, makeEStepCase, suffStatsDisagreement, type EStepArrays } from '../../src/tensor/fused/tolerance';

const g = globalThis as { navigator?: unknown };
const savedNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');

function setNavigator(v: unknown): void {
  Object.defineProperty(globalThis, 'navigator', { value: v, configurable: true, writable: true });
}

afterEach(() => {
  setOptionalImporterForTesting(undefined);
  if (savedNavigator) Object.defineProperty(globalThis, 'navigator', savedNavigator);
  else delete g.navigator;
  delete process.env.MIXPPL_WEBGPU_ADAPTER;
});

const notFound = (name: string) => Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('backend selection', () => {
  it('refuses an unknown backend, listing the valid ones', async () => {
    await expect(useBackend('cuda' as BackendName)).rejects.toThrow(new BackendUnavailableError('cuda', 'unknown backend; choose one of wasm, cpu, webgpu, tensorflow'));
  });

  it("says when the optional 'webgpu' package (Dawn) is missing", async () => {
    delete g.navigator;
    setOptionalImporterForTesting((name) => (name === 'webgpu' ? Promise.reject(notFound(name)) : import(name)));
    const err = await useBackend('webgpu').catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toMatch(/backend 'webgpu' is not available: no WebGPU in this runtime and the optional package 'webgpu' \(Dawn for Node\) is not installed; install it with 'npm install webgpu'/);
  });

  it('reports a package that is installed but fails to load, with the loader message', async () => {
    delete g.navigator;
    setOptionalImporterForTesting((name) => (name === 'webgpu' ? Promise.reject(new Error('libvulkan.so.1: cannot open shared object file\nmore')) : import(name)));
    await expect(useBackend('webgpu')).rejects.toThrow(/'webgpu' \(Dawn for Node\) failed to load \(libvulkan.so.1: cannot open shared object file\)$/);
  });

  it("says when '@tensorflow/tfjs-backend-webgpu' is missing", async () => {
    setNavigator({ gpu: { requestAdapter: async () => ({}) } });
    setOptionalImporterForTesting((name) => (name === '@tensorflow/tfjs-backend-webgpu' ? Promise.reject(notFound(name)) : import(name)));
    await expect(useBackend('webgpu')).rejects.toThrow(/the optional package '@tensorflow\/tfjs-backend-webgpu' is not installed; install it with/);
  });

  it('says when no adapter is found, and falls back only when asked', async () => {
    // A stand-in for tfjs-backend-webgpu, so this holds where the optional packages are not installed.
    setOptionalImporterForTesting((name) => (name === '@tensorflow/tfjs-backend-webgpu' ? Promise.resolve({}) : import(name)));
    setNavigator({ gpu: { requestAdapter: async () => null } });
    await expect(useBackend('webgpu')).rejects.toThrow(/backend 'webgpu' is not available: no GPU adapter was found .* Use --backend wasm/);
    setNavigator({ gpu: { requestAdapter: () => Promise.reject(new Error('device lost')) } });
    await expect(useBackend('webgpu')).rejects.toThrow(/no GPU adapter was found/);
    expect(await useBackend('webgpu', { fallback: 'cpu' })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('refuses a bad MIXPPL_WEBGPU_ADAPTER', async () => {
    process.env.MIXPPL_WEBGPU_ADAPTER = 'cuda';
    await expect(useBackend('webgpu')).rejects.toThrow(/MIXPPL_WEBGPU_ADAPTER must be 'default' or 'gl-compat', got 'cuda'/);
  });
});

/**
 * The WGSL kernels on a real WebGPU device: Dawn's default adapter where there is one,
 * else Mesa's software OpenGL ES in compatibility mode ('gl-compat', which is what a CI
 * machine without a GPU has). Skipped, with the reason logged, where neither exists.
 */
describe('fused Gaussian E-step on webgpu', () => {
  let unavailable: string | undefined;
  let adapter: 'default' | 'gl-compat' | undefined;
  let ready: Promise<void> | undefined;
  // Probed on first use, not at collection time, so it does not race the selection tests
  // above, which swap navigator.gpu and the importer.
  const probe = async () => {
    for (const webgpuAdapter of ['default', 'gl-compat'] as const) {
      try {
        await useBackend('webgpu', { webgpuAdapter });
        adapter = webgpuAdapter;
        unavailable = undefined;
        console.log(`webgpu tests run on: ${webgpuAdapterInfo()} (${webgpuAdapter})`);
        return;
      } catch (e) {
        unavailable = e instanceof Error ? e.message : String(e);
      }
    }
    console.log(`webgpu tests skipped: ${unavailable}`);
  };

  async function onWebGPU(ctx: { skip: (note?: string) => void }): Promise<void> {
    ready ??= probe();
    await ready;
    if (unavailable !== undefined || !adapter) return ctx.skip(unavailable);
    // The selection tests may have switched backends; the webgpu instance stays registered.
    await useBackend('webgpu', { webgpuAdapter: adapter });
  }

  const run = async (c: EStepArrays, impl: 'fused' | 'reference') => {
    const { N, K, D, diagonal } = c;
    const t = [
      tf.tensor2d(c.x as Float32Array, [N, D]),
      tf.tensor2d(c.means as Float32Array, [K, D]),
      diagonal ? tf.tensor2d(c.precChol as Float32Array, [K, D]) : tf.tensor3d(c.precChol as Float32Array, [K, D, D]),
      tf.tensor1d(c.logWeights as Float32Array),
    ] as const;
    const r: EStepResult = impl === 'fused' ? gaussianEStep(...t, { impl }) : gaussianEStepReference(...t);
    const out = { logJoint: await r.logJoint.data(), logMarginal: await r.logMarginal.data(), resp: await r.resp.data() };
    tf.dispose([...t, r.logJoint, r.logMarginal, r.resp]);
    return out;
  };

  it('agrees with the plain-op reference on random inputs (diagonal and full)', async (ctx) => {
    await onWebGPU(ctx);
    expect(tf.getBackend()).toBe('webgpu');
    expect(tf.getKernel(GAUSSIAN_ESTEP_KERNEL, 'webgpu')).toBeDefined();
    // Every (K, D) compiles four pipelines, slow on a software rasteriser: a few shapes, many data.
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 300 }),
      K: fc.constantFrom(1, 3, 16),
      D: fc.constantFrom(1, 2, 5),
      diagonal: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ N, K, D, diagonal, seed }) => {
        const c = makeEStepCase(seed, N, K, D, diagonal);
        const { ratio, where } = estepDisagreement(c, await run(c, 'fused'), await run(c, 'reference'));
        if (!(ratio <= 1)) throw new Error(`disagreement ${ratio.toFixed(2)}x the tolerance at ${where}`);
      }),
      { numRuns: 30, seed: 20261203 },
    );
  });

  it('agrees beyond the unrolled sizes (D > 32 runs the looped shader)', async (ctx) => {
    await onWebGPU(ctx);
    for (const diagonal of [true, false]) {
      const c = makeEStepCase(33, 70, 2, 34, diagonal);
      const { ratio, where } = estepDisagreement(c, await run(c, 'fused'), await run(c, 'reference'));
      expect(ratio, where).toBeLessThanOrEqual(1);
    }
  });

  it('detects a wrong variant, and handles far points and a zero weight', async (ctx) => {
    await onWebGPU(ctx);
    const c = makeEStepCase(9, 40, 3, 5, false);
    const fused = await run(c, 'fused');
    const wrong = { ...c, logWeights: Float32Array.from(c.logWeights, (v, k) => (k === 1 ? v + 1e-3 : v)) };
    expect(estepDisagreement(c, fused, await run(wrong, 'reference')).ratio).toBeGreaterThan(1);
    const far = makeEStepCase(10, 40, 3, 5, true);
    for (let i = 0; i < far.x.length; i++) far.x[i] += 200;
    far.logWeights[0] = -Infinity;
    const f = await run(far, 'fused');
    expect(estepDisagreement(far, f, await run(far, 'reference')).ratio).toBeLessThanOrEqual(1);
    for (let n = 0; n < far.N; n++) {
      expect(Number.isFinite(f.logMarginal[n])).toBe(true);
      expect(f.resp[n * 3]).toBe(0);
    }
  });

  it('sufficient statistics agree with the plain-op reference (diagonal and full, centred or not)', async (ctx) => {
    await onWebGPU(ctx);
    expect(tf.getKernel(GAUSSIAN_SUFF_STATS_KERNEL, 'webgpu')).toBeDefined();
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 3000 }),
      K: fc.constantFrom(1, 3, 16),
      D: fc.constantFrom(1, 2, 5),
      diagonal: fc.boolean(),
      centred: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    const stats = async (c: EStepArrays, resp: Float32Array, diagonal: boolean, centred: boolean, impl: 'fused' | 'reference') => {
      const { N, K, D } = c;
      const x = tf.tensor2d(c.x as Float32Array, [N, D]);
      const r = tf.tensor2d(resp, [N, K]);
      const centre = centred ? tf.tensor2d(c.means as Float32Array, [K, D]) : undefined;
      const st = impl === 'fused' ? gaussianSuffStats(x, r, { diagonal, centre, impl }) : gaussianSuffStatsReference(x, r, { diagonal, centre });
      const [nv, s1v, s2v] = [await st.n.data(), await st.s1.data(), await st.s2.data()];
      const w2 = diagonal ? D : D * D;
      tf.dispose([x, r, st.n, st.s1, st.s2, ...(centre ? [centre] : [])]);
      return Array.from({ length: K }, (_, k) => [nv[k], ...Array.from(s1v.slice(k * D, (k + 1) * D)), ...Array.from(s2v.slice(k * w2, (k + 1) * w2))]);
    };
    await fc.assert(
      fc.asyncProperty(arb, async ({ N, K, D, diagonal, centred, seed }) => {
        const c = makeEStepCase(seed, N, K, D, true);
        const resp = Float32Array.from((await run(c, 'reference')).resp);
        const a = await stats(c, resp, diagonal, centred, 'fused');
        const b = await stats(c, resp, diagonal, centred, 'reference');
        const w = suffStatsDisagreement(c, resp, centred ? c.means : undefined, diagonal, a, b);
        if (!(w <= 1)) throw new Error(`disagreement ${w.toFixed(2)}x the tolerance`);
      }),
      { numRuns: 20, seed: 20261205 },
    );
    // The bound can fail: one responsibility off by 1e-3.
    const c = makeEStepCase(12, 40, 3, 3, true);
    const resp = Float32Array.from((await run(c, 'reference')).resp);
    const a = await stats(c, resp, false, true, 'fused');
    const b = await stats(c, Float32Array.from(resp, (v, i) => (i === 4 ? v + 1e-3 : v)), false, true, 'reference');
    expect(suffStatsDisagreement(c, resp, c.means, false, a, b)).toBeGreaterThan(1);
  });

  it('explains a synchronous read under Node.js instead of a bare ReferenceError', async (ctx) => {
    await onWebGPU(ctx);
    if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return ctx.skip('this runtime has OffscreenCanvas');
    const y = tf.square(tf.ones([3])); // computed on the GPU, so not cached on the CPU
    expect(() => y.dataSync()).toThrow(new BackendUnavailableError('webgpu', 'this computation reads a tensor synchronously (dataSync/arraySync), which tfjs-backend-webgpu cannot do under Node.js (it needs OffscreenCanvas); this inference path does not run on webgpu yet. Use --backend wasm'));
    expect(Array.from(await y.data())).toEqual([1, 1, 1]);
    y.dispose();
  });

  it('checks parameter values asynchronously (no synchronous reads on webgpu)', async (ctx) => {
    await onWebGPU(ctx);
    const x = tf.zeros([4, 2]);
    await expect(checkGaussianEStepParams(x, tf.tensor2d([[0, NaN]]), tf.ones([1, 2]), tf.zeros([1]))).rejects.toThrow(/means\[0, 1\] is NaN/);
    await expect(checkGaussianEStepParams(x, tf.zeros([1, 2]), tf.ones([1, 2]), tf.zeros([1]))).resolves.toBeUndefined();
  });
});
