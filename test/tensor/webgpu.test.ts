import { afterEach, describe, expect, it } from 'vitest';
import { webgpuChild } from './webgpu-child';
import { tf, useBackend, BackendUnavailableError, type BackendName } from '../../src/tensor';
import { setOptionalImporterForTesting } from '../../src/tensor/backend';

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
 * The WGSL kernels on a real WebGPU device (Dawn's default adapter, else Mesa's software
 * OpenGL ES, 'gl-compat'), run in a child process (webgpu-device-checks.ts): Dawn on Mesa can
 * abort in native code while its process exits, which would kill a test worker. The checks'
 * results are read from the child's output; a crash after the last one is logged, not failed;
 * skipped, with the reason logged, where no adapter is found.
 */
describe('fused Gaussian E-step on webgpu', () => {
  const child = webgpuChild(import.meta.url, './webgpu-device-checks.ts', 'webgpu', 600_000);
  const expectCheck = (name: string, ctx: { skip: (note?: string) => void }) => { child.result(name, ctx); };

  it('agrees with the plain-op reference on random inputs (diagonal and full)', (ctx) => expectCheck('estep-random', ctx));
  it('agrees beyond the unrolled sizes (D > 32 runs the looped shader)', (ctx) => expectCheck('estep-looped', ctx));
  it('detects a wrong variant, and handles far points and a zero weight', (ctx) => expectCheck('estep-mutant-far-zero', ctx));
  it('sufficient statistics agree with the plain-op reference (diagonal and full, centred or not)', (ctx) => expectCheck('suffstats', ctx));
  it('chain log Z and forward-backward marginals (fused recursions and the product tree) agree with float64', (ctx) => expectCheck('chain', ctx));
  it('explains a synchronous read under Node.js instead of a bare ReferenceError', (ctx) => expectCheck('sync-read-message', ctx));
  it('checks parameter values asynchronously (no synchronous reads on webgpu)', (ctx) => expectCheck('async-param-check', ctx));
  it('counter-based draws: uniforms equal the JS threefry bit for bit, normals within float32 rounding', (ctx) => expectCheck('threefry', ctx));
  it('the device particle filter: systematic resampling counts, an HMM evidence, no tensor left', (ctx) => expectCheck('particle-filter', ctx));
  it('the potential of a batch of points equals each point\'s own on the device (a mixture, a chain, a switching model)', (ctx) => expectCheck('potential-batch', ctx));
});
