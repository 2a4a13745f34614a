/**
 * Backend choice. `wasm` is the default (no native build, ~40x the plain JS `cpu`
 * backend on matmul); `webgpu` and `tensorflow` (tfjs-node / tfjs-node-gpu) are
 * optional packages detected at run time and never required.
 */
import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';

// Production mode silences tfjs's console banners (the cpu backend advertises tfjs-node on
// first use, which cannot install on machines without access to its binary download).
// mixppl validates its own inputs, so tfjs's extra debug checks are not relied on.
tf.enableProdMode();

export type BackendName = 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';
export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu', 'webgpu', 'tensorflow'];

/** Thrown when a backend is asked for but cannot be had here; says why and what to do. */
export class BackendUnavailableError extends Error {
  constructor(readonly backend: string, reason: string) {
    super(`backend '${backend}' is not available: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

let current: BackendName | undefined;
let adapterDescription: string | undefined;

type Importer = (name: string) => Promise<unknown>;
// A variable specifier keeps bundlers and tsc from requiring the optional package.
const dynamicImport: Importer = (name) => import(/* @vite-ignore */ name);
let importer: Importer = dynamicImport;

/**
 * Replaces how optional packages are imported (`undefined` restores `import()`); lets tests
 * stand in for a machine where `webgpu` or `@tensorflow/tfjs-backend-webgpu` is missing.
 * @internal
 */
export function setOptionalImporterForTesting(fn: Importer | undefined): void {
  importer = fn ?? dynamicImport;
}

const provided = new Map<string, unknown>();

/**
 * Hands `useBackend` an optional package that was imported statically, so a one-file
 * bundle (esbuild cannot follow the variable `import()` used here) still finds it; see
 * `src/tensor/fused/node-webgpu.ts`, which does this for `webgpu` and tfjs-backend-webgpu.
 */
export function provideOptionalModule(name: 'webgpu' | '@tensorflow/tfjs-backend-webgpu', mod: unknown): void {
  provided.set(name, mod);
}

/** The module, or why it could not be loaded ('is not installed', or 'failed to load (the loader's message)'). */
async function tryImport(name: string): Promise<{ mod?: unknown; why?: string }> {
  if (provided.has(name) && importer === dynamicImport) return { mod: provided.get(name) };
  try {
    return { mod: await importer(name) };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND';
    return { why: missing ? 'is not installed' : `failed to load (${String(err.message ?? e).split('\n')[0]})` };
  }
}

/** Options of {@link useBackend}. */
export interface UseBackendOptions {
  /**
   * A backend to use instead when `name` is unavailable (a {@link BackendUnavailableError});
   * the returned name says which one runs. Without it, an unavailable backend throws.
   */
  fallback?: BackendName;
  /**
   * Which WebGPU adapter Dawn should look for (default: `MIXPPL_WEBGPU_ADAPTER`, else `'default'`).
   * `'default'` is Dawn's choice (Vulkan on Linux, Metal, D3D12). `'gl-compat'` asks for an
   * OpenGL ES adapter in WebGPU compatibility mode: with Mesa's llvmpipe it runs the WebGPU
   * backend on the CPU, which is how the WGSL kernels are tested on machines without a GPU
   * (Dawn's Vulkan path refuses Mesa 22's lavapipe). It is slow; never use it for speed.
   */
  webgpuAdapter?: 'default' | 'gl-compat';
}

/**
 * Selects and initialises a backend; returns the name of the backend in use. Idempotent.
 * An unavailable backend throws a {@link BackendUnavailableError} saying why and what to
 * install, unless `opts.fallback` names one to use instead; nothing falls back silently.
 *
 * @example
 * await useBackend('cpu');
 * const used = await useBackend('webgpu', { fallback: 'wasm' }); // 'wasm' on a machine without a GPU
 */
export async function useBackend(name: BackendName = 'wasm', opts: UseBackendOptions = {}): Promise<BackendName> {
  try {
    return await selectBackend(name, opts);
  } catch (e) {
    if (e instanceof BackendUnavailableError && opts.fallback !== undefined && opts.fallback !== name) {
      return selectBackend(opts.fallback, opts);
    }
    throw e;
  }
}

async function selectBackend(name: BackendName, opts: UseBackendOptions): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new BackendUnavailableError(String(name), `unknown backend; choose one of ${BACKENDS.join(', ')}`);
  }
  if (current === name && tf.getBackend() === backendKey(name)) return name;
  if (name === 'webgpu') {
    await prepareWebGPU(opts.webgpuAdapter ?? webgpuAdapterFromEnv());
  } else if (name === 'tensorflow') {
    const node = (await tryImport('@tensorflow/tfjs-node-gpu')).mod ?? (await tryImport('@tensorflow/tfjs-node')).mod;
    if (!node) {
      throw new BackendUnavailableError('tensorflow', "neither '@tensorflow/tfjs-node-gpu' nor '@tensorflow/tfjs-node' is installed (their install downloads libtensorflow)");
    }
  }
  const ok = await tf.setBackend(backendKey(name));
  if (!ok) throw new BackendUnavailableError(name, 'TensorFlow.js could not initialise it');
  await tf.ready();
  if (name === 'webgpu') {
    explainSyncReads(tf.backend() as unknown as SyncReader);
    fixWebGPUReverseCum();
  }
  current = name;
  return name;
}

interface SyncReader {
  readSync(dataId: object): unknown;
  mixpplExplained?: boolean;
}

/**
 * tfjs-backend-webgpu reads a GPU tensor synchronously (dataSync, arraySync) through
 * OffscreenCanvas, which Node.js lacks, and fails with a bare ReferenceError; this turns
 * that into a BackendUnavailableError that says what to do. Code meant for webgpu reads
 * with `await t.data()`.
 */
function explainSyncReads(b: SyncReader): void {
  if (b.mixpplExplained || typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const orig = b.readSync.bind(b);
  b.readSync = (dataId: object) => {
    try {
      return orig(dataId);
    } catch (e) {
      if (e instanceof ReferenceError && /OffscreenCanvas/.test(e.message)) {
        throw new BackendUnavailableError(
          'webgpu',
          'this computation reads a tensor synchronously (dataSync/arraySync), which tfjs-backend-webgpu cannot do under Node.js ' +
            '(it needs OffscreenCanvas); this inference path does not run on webgpu yet. Use --backend wasm',
        );
      }
      throw e;
    }
  };
  b.mixpplExplained = true;
}

type KernelArgs = { inputs: { x: tf.TensorInfo }; backend: { disposeData(id: object): void }; attrs: { axis: number; exclusive: boolean; reverse: boolean } };
let cumFixed = false;

/**
 * tfjs-backend-webgpu 4.22's CumProgram writes the scanned axis's length into a reverse
 * scan's shader but leaves it out of the pipeline cache key, so a reverse cumsum/cumprod
 * reuses the shader of the first axis length it saw (found as a wrong simplex inverse
 * transform after a fit with another K). Re-registered here: a reverse scan is the forward
 * scan (whose shader does not depend on the length) of the input reversed along the axis,
 * reversed back.
 */
function fixWebGPUReverseCum(): void {
  if (cumFixed) return;
  cumFixed = true;
  const reverse = tf.getKernel('Reverse', 'webgpu');
  for (const name of ['Cumsum', 'Cumprod']) {
    const k = tf.getKernel(name, 'webgpu');
    if (!k || !reverse) continue;
    const orig = k.kernelFunc as unknown as (a: KernelArgs) => tf.TensorInfo;
    const rev = reverse.kernelFunc as unknown as (a: { inputs: { x: tf.TensorInfo }; backend: unknown; attrs: { dims: number[] } }) => tf.TensorInfo;
    tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel({
      ...k,
      kernelFunc: ((a: KernelArgs) => {
        if (!a.attrs.reverse) return orig(a);
        const rank = a.inputs.x.shape.length;
        const axis = a.attrs.axis < 0 ? a.attrs.axis + rank : a.attrs.axis;
        const xr = rev({ inputs: { x: a.inputs.x }, backend: a.backend, attrs: { dims: [axis] } });
        const yr = orig({ ...a, inputs: { x: xr }, attrs: { ...a.attrs, axis, reverse: false } });
        const y = rev({ inputs: { x: yr }, backend: a.backend, attrs: { dims: [axis] } });
        a.backend.disposeData(xr.dataId);
        a.backend.disposeData(yr.dataId);
        return y;
      }) as unknown as tf.KernelFunc,
    });
  }
}

function webgpuAdapterFromEnv(): 'default' | 'gl-compat' {
  const v = process.env.MIXPPL_WEBGPU_ADAPTER;
  if (v === undefined || v === '' || v === 'default') return 'default';
  if (v === 'gl-compat') return 'gl-compat';
  throw new BackendUnavailableError('webgpu', `MIXPPL_WEBGPU_ADAPTER must be 'default' or 'gl-compat', got '${v}'`);
}

interface GpuLike {
  requestAdapter(o?: object): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
}

/**
 * Makes `navigator.gpu` (Dawn for Node when the runtime has none), checks that it finds an
 * adapter, and loads tfjs-backend-webgpu, which registers itself only if `navigator.gpu`
 * exists when it is first imported.
 */
async function prepareWebGPU(adapter: 'default' | 'gl-compat'): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (!g.navigator?.gpu || adapter === 'gl-compat') {
    const { mod, why } = await tryImport('webgpu');
    const dawn = mod as { create?: (o: string[]) => GpuLike; globals?: object } | undefined;
    if (!dawn?.create) {
      throw new BackendUnavailableError('webgpu', `no WebGPU in this runtime and the optional package 'webgpu' (Dawn for Node) ${why ?? 'is not usable'}${why === 'is not installed' ? "; install it with 'npm install webgpu'" : ''}`);
    }
    Object.assign(globalThis, dawn.globals ?? {});
    let gpu: GpuLike;
    if (adapter === 'gl-compat') {
      // Mesa's EGL needs no display with the surfaceless platform.
      process.env.EGL_PLATFORM ??= 'surfaceless';
      const gl = dawn.create(['backend=opengles']);
      // tfjs asks for an adapter without a feature level; GL adapters exist only in compatibility mode.
      gpu = { requestAdapter: (o?: object) => gl.requestAdapter({ ...(o ?? {}), featureLevel: 'compatibility' }) };
    } else {
      gpu = dawn.create([]);
    }
    Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu }, configurable: true, writable: true });
  }
  const { mod: backendPkg, why } = await tryImport('@tensorflow/tfjs-backend-webgpu');
  if (!backendPkg) {
    throw new BackendUnavailableError('webgpu', `the optional package '@tensorflow/tfjs-backend-webgpu' ${why}${why === 'is not installed' ? "; install it with 'npm install @tensorflow/tfjs-backend-webgpu@4'" : ''}`);
  }
  const gpu = (globalThis as unknown as { navigator: { gpu: GpuLike } }).navigator.gpu;
  const found = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!found) {
    throw new BackendUnavailableError(
      'webgpu',
      'no GPU adapter was found (Dawn needs a Vulkan, Metal or D3D12 device and driver; on Linux check that libvulkan1 and the vendor ICD are installed). ' +
        "Use --backend wasm, or MIXPPL_WEBGPU_ADAPTER=gl-compat to run the WebGPU kernels on Mesa's software OpenGL for testing",
    );
  }
  const i = found.info ?? {};
  adapterDescription = [i.vendor, i.architecture, i.description].filter((s) => s).join(' ') || 'unnamed adapter';
  if (!tf.findBackendFactory('webgpu')) registerWebGPUFactory(backendPkg as WebGPUPackage);
}

interface WebGPUPackage {
  WebGPUBackend?: new (device: unknown, adapterInfo?: unknown) => tf.KernelBackend;
}

interface AdapterLike {
  features: { has(f: string): boolean };
  limits: Record<string, number>;
  info?: unknown;
  requestDevice(d: object): Promise<unknown>;
}

/**
 * tfjs-backend-webgpu registers its backend only if `navigator.gpu` exists when it is first
 * imported (not so when it was bundled and imported statically before Dawn was set up);
 * then we register the same factory it would have (its base.ts): the adapter's limits, and
 * timestamp queries where the adapter has them.
 */
function registerWebGPUFactory(pkg: WebGPUPackage): void {
  const Backend = pkg.WebGPUBackend;
  if (!Backend) throw new BackendUnavailableError('webgpu', "'@tensorflow/tfjs-backend-webgpu' does not export WebGPUBackend (a version other than 4.x?)");
  tf.registerBackend(
    'webgpu',
    async () => {
      const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(o?: object): Promise<AdapterLike | null> } } }).navigator.gpu;
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) throw new BackendUnavailableError('webgpu', 'no GPU adapter was found');
      const l = adapter.limits;
      const device = await adapter.requestDevice({
        requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      return new Backend(device, adapter.info);
    },
    3,
  );
}

/** The WebGPU adapter found by the last `useBackend('webgpu')` (vendor, architecture, description), else undefined. */
export function webgpuAdapterInfo(): string | undefined {
  return adapterDescription;
}

function backendKey(name: BackendName): string {
  return name === 'tensorflow' ? 'tensorflow' : name;
}

/** The backend in use, initialising the default one if none was chosen. */
export async function ensureBackend(): Promise<BackendName> {
  return current ?? useBackend((process.env.MIXPPL_BACKEND as BackendName | undefined) ?? 'wasm');
}

/** The backend in use, or undefined before the first `useBackend`/`ensureBackend`. */
export function currentBackend(): BackendName | undefined {
  return current;
}

/** Thrown by {@link requestWasmThreads} when the wasm backend cannot use more than one thread here. */
export class ThreadsUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThreadsUnsupportedError';
  }
}

/**
 * Asks for `n` XNNPACK threads in the wasm backend; call before the first `useBackend`.
 * tfjs-backend-wasm runs its threaded build only where `WASM_HAS_MULTITHREAD_SUPPORT`
 * holds, and that flag is hard-wired to false under Node.js (tensorflow/tfjs#3830: the
 * threaded Emscripten module starts its workers from Blob URLs, which Node cannot run;
 * forcing the flag makes the backend fail to initialise). So in Node only `n = 1` is
 * possible, and any other `n` throws a {@link ThreadsUnsupportedError} saying so rather
 * than being ignored. Where threads are supported (a browser with cross-origin isolation)
 * the count is passed to `setThreadsCount`.
 */
export async function requestWasmThreads(n: number, backend: BackendName = 'wasm'): Promise<void> {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--threads must be a positive integer, got ${n}`);
  if (backend !== 'wasm') {
    if (n === 1) return;
    throw new ThreadsUnsupportedError(`--threads applies to the wasm backend only (this run uses '${backend}')`);
  }
  const threaded = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
  if (!threaded) {
    if (n === 1) return;
    const where = tf.env().get('IS_NODE') ? 'under Node.js' : 'in this runtime (it needs SharedArrayBuffer and cross-origin isolation)';
    throw new ThreadsUnsupportedError(
      `--threads ${n}: the wasm backend runs single-threaded ${where}; tfjs-backend-wasm does not load its ` +
        `multi-threaded build there (tensorflow/tfjs#3830), so only --threads 1 is possible. ` +
        `For parallel work use '--backend tensorflow' (tfjs-node), or run chains as separate processes (different --seed, --chains 1) and combine their CSV files with 'mixppl summary'.`,
    );
  }
  wasm.setThreadsCount(n);
}

/** The number of threads the initialised wasm backend uses (1 under Node.js); undefined before it is initialised. */
export function wasmThreadsCount(): number | undefined {
  try {
    return wasm.getThreadsCount();
  } catch {
    return undefined;
  }
}

let syncReadsOverride: boolean | undefined;

/**
 * False when the active backend cannot read a tensor synchronously (tfjs-backend-webgpu under
 * Node.js, which has no OffscreenCanvas): inference that needs numbers on the host then reads
 * with `await t.data()` (EM's async loop, `emAsync`), and takes data-dependent branches on the
 * device ({@link selectOnDevice}).
 */
export function canReadSync(): boolean {
  if (syncReadsOverride !== undefined) return syncReadsOverride;
  return !(tf.getBackend() === 'webgpu' && typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined');
}

/**
 * Forces {@link canReadSync} (`undefined` restores the check), so the async paths can be
 * tested against the sync ones on a CPU backend.
 * @internal
 */
export function setSyncReadsForTesting(v: boolean | undefined): void {
  syncReadsOverride = v;
}

/**
 * A data-dependent choice between two computations of the same shape: where the backend
 * reads synchronously, reads the scalar `flag` and computes only the branch it picks (as a
 * plain `if` would); otherwise computes both and selects on the device (no read, the same
 * values). Call inside a tidy.
 */
export function selectOnDevice(flag: tf.Tensor, whenTrue: () => tf.Tensor, whenFalse: () => tf.Tensor): tf.Tensor {
  if (canReadSync()) return flag.dataSync()[0] ? whenTrue() : whenFalse();
  const a = whenTrue();
  const b = whenFalse();
  return tf.where(tf.broadcastTo(tf.cast(flag, 'bool'), a.shape), a, b);
}

let onHost = false;

/**
 * Runs `fn`, a synchronous inference family whose model evaluations are the float64 replay on
 * the host (MCMC, SMC, mean-field VI, the Langevin samplers, MAP, the particle filter), where
 * the active backend cannot read synchronously (webgpu under Node.js): for the duration of
 * `fn`, tfjs's own `cpu` backend is active, so binding and tracing read their tensors
 * synchronously there, and webgpu is restored afterwards (also when `fn` throws). Elsewhere it
 * just runs `fn`. Bind the data inside `fn`, so that no tensor crosses backends. (Switching
 * to `wasm` instead made Dawn hang in later reads; `cpu` does not.)
 */
export async function runOnHostBackend<T>(fn: () => T | Promise<T>): Promise<T> {
  if (canReadSync() || onHost) return fn();
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  onHost = true;
  try {
    return await fn();
  } finally {
    onHost = false;
    await tf.setBackend(prev);
  }
}
