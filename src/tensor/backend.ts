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

async function tryImport(name: string): Promise<unknown> {
  try {
    // A variable specifier keeps bundlers and tsc from requiring the optional package.
    return await import(/* @vite-ignore */ name);
  } catch (e) {
    return undefined;
  }
}

/**
 * Selects and initialises a backend; returns its name. Idempotent.
 *
 * @example
 * await useBackend('cpu');
 */
export async function useBackend(name: BackendName = 'wasm'): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new BackendUnavailableError(String(name), `unknown backend; choose one of ${BACKENDS.join(', ')}`);
  }
  if (current === name && tf.getBackend() === backendKey(name)) return name;
  if (name === 'webgpu') {
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator?.gpu) {
      const dawn = (await tryImport('webgpu')) as { create?: (o: string[]) => unknown; globals?: object } | undefined;
      if (!dawn?.create) {
        throw new BackendUnavailableError('webgpu', "no WebGPU in this runtime and the optional 'webgpu' package (Dawn for Node) is not installed");
      }
      Object.assign(globalThis, dawn.globals ?? {});
      (globalThis as { navigator?: unknown }).navigator = { gpu: dawn.create([]) };
    }
    if (!(await tryImport('@tensorflow/tfjs-backend-webgpu'))) {
      throw new BackendUnavailableError('webgpu', "the optional package '@tensorflow/tfjs-backend-webgpu' is not installed");
    }
    const gpu = (globalThis as { navigator: { gpu: { requestAdapter(): Promise<unknown> } } }).navigator.gpu;
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (!adapter) throw new BackendUnavailableError('webgpu', 'no GPU adapter was found (is there a Vulkan/Metal/D3D12 device and driver?)');
  } else if (name === 'tensorflow') {
    const node = (await tryImport('@tensorflow/tfjs-node-gpu')) ?? (await tryImport('@tensorflow/tfjs-node'));
    if (!node) {
      throw new BackendUnavailableError('tensorflow', "neither '@tensorflow/tfjs-node-gpu' nor '@tensorflow/tfjs-node' is installed (their install downloads libtensorflow)");
    }
  }
  const ok = await tf.setBackend(backendKey(name));
  if (!ok) throw new BackendUnavailableError(name, 'TensorFlow.js could not initialise it');
  await tf.ready();
  current = name;
  return name;
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
