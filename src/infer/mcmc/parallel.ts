/**
 * Chains in parallel on worker threads (`sampleParallel`): each worker compiles the model from
 * its source, binds the data and runs its share of the chains as `sample` does. Under the
 * pooled warm-up (the default with several chains) the workers stop at every window end, the
 * main thread pools all chains' window estimates in chain order and sends the metric back, so
 * the draws are those of `sample` with the same options, only sooner on a machine with
 * several cores. Each worker traces its own potential (a fixed start-up cost per worker).
 *
 * With `deviceGradients` the workers do not evaluate the model: every potential and gradient a
 * chain needs is computed by this thread on its backend (webgpu: on the device, its reads
 * awaited) and handed back through shared memory, while the worker waits on it synchronously
 * (Atomics.wait), so the sampler's code stays the synchronous float64 one. One chain per
 * worker by default; the workers' requests are answered in lockstep batches (`runWorkers`):
 * the device evaluates every chain's point in one pass (`potentialAndGradBatchSteps`).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Model } from '../../model/model';
import type { DataInput } from '../../model/data';
import { canReadSync, currentBackend, ensureBackend, runOnHostBackend, type BackendName } from '../../tensor/backend';
import type { BoundModel } from '../../model/bound-model';
import { assembleResult, planSampling, type FinishedChain, type McmcResult, type SampleOptions } from './index';
import { poolEstimates } from './sampler';
import { MixError } from '../../diagnostics/diagnostic';
import type { WorkerMessage, WorkerStart } from './chain-worker';
import { gradientChannel, releaseChannel, serveGradients, type GradientBatchStats, type GradientChannel } from '../remote-potential';

/** Options of {@link sampleParallel}: those of `sample`, and how many threads. */
export interface ParallelSampleOptions extends SampleOptions {
  /**
   * Worker threads (default: the number of chains, at most the machine's available
   * parallelism; with `deviceGradients`, the number of chains).
   */
  workers?: number;
  /**
   * Compute every potential gradient in this thread on its backend (webgpu: the device) and
   * run only the samplers in the workers (see the module comment). NUTS, static HMC or
   * Metropolis with the discrete latents summed out. The gradients are float32 tfjs ones, as
   * `tensorPath`: on wasm the draws equal `sample`'s with `tensorPath: true`. Default false.
   */
  deviceGradients?: boolean;
  /**
   * The worker thread's script (default the package's own entry). A bundled program gives its
   * own file and, when started with `workerData.mixpplChainWorker` set, calls
   * `chainWorkerMain()` (bench/gpu.ts does, as the device runs one bundle).
   */
  workerEntry?: string | URL;
}

/**
 * Checks that a value can go to a worker (structured clone): numbers, booleans, arrays, typed
 * arrays, plain objects. `label` is the caller the error names (sampleParallel, viDeviceGradients, ...).
 */
export function checkCloneable(label: string, where: string, v: unknown): void {
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || ArrayBuffer.isView(v)) return;
  if (Array.isArray(v)) { v.forEach((x, i) => checkCloneable(label, `${where}[${i}]`, x)); return; }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v as object)) checkCloneable(label, `${where}.${k}`, x);
    return;
  }
  throw new RangeError(`${label}: ${where} cannot be sent to a worker thread (give numbers, arrays or typed arrays, not tensors or functions)`);
}

/** The backend workers bind (and trace) on: this thread's where it reads synchronously, else tfjs's cpu (as runOnHostBackend; it needs no files of its own in a bundle). */
function workerBackend(backend: BackendName): BackendName {
  return canReadSync() ? backend : 'cpu';
}

/** The error a worker reported, as the class the sampler would have thrown in this thread. */
export function workerError(m: Extract<WorkerMessage, { type: 'error' }>): Error {
  if (m.diagnostics) return new MixError(m.diagnostics, m.source);
  const e = m.name === 'RangeError' ? new RangeError(m.message) : new Error(m.message);
  e.name = m.name;
  return e;
}

/**
 * Runs `sample` with its chains spread over worker threads and resolves to the same result
 * (same seed → same draws as `sample(model.bind(data), opts)`). Progress (`onIteration`)
 * is relayed from the workers.
 *
 * @example
 * const fit = await sampleParallel(model, data, { chains: 4, seed: 1 });
 */
export async function sampleParallel(model: Model, data: DataInput, opts: ParallelSampleOptions = {}): Promise<McmcResult> {
  const { workers: requested, onIteration, deviceGradients = false, workerEntry, ...rest } = opts;
  checkCloneable('sampleParallel', 'data', data);
  if (rest.init !== undefined) checkCloneable('sampleParallel', 'init', rest.init);
  if (typeof deviceGradients !== 'boolean') throw new RangeError(`sampleParallel: deviceGradients must be a boolean, got ${String(deviceGradients)}`);
  const backend = currentBackend() ?? (await ensureBackend());
  // The run is planned and its result assembled (tracing the constrained values) on a host
  // binding; on webgpu that binding lives on tfjs's cpu backend.
  const bound = await runOnHostBackend(() => model.bind(data));
  let device: BoundModel | undefined;
  try {
    // The plan checks every option here, before any thread starts.
    const plan = await runOnHostBackend(() => planSampling(bound, rest));
    const C = plan.settings.chains;
    if (deviceGradients) {
      if (plan.settings.algorithm === 'slice' || rest.latents === 'gibbs') {
        throw new RangeError(`sampleParallel: deviceGradients samples the marginal potential by NUTS, HMC or Metropolis, not ${rest.latents === 'gibbs' ? "latents: 'gibbs'" : "algorithm 'slice'"}${rest.algorithm === 'auto' ? " (chosen by algorithm: 'auto'; give algorithm: 'nuts')" : ''}`);
      }
      device = model.bind(data);
    }
    const W = requested ?? (deviceGradients ? C : Math.min(C, availableParallelism()));
    if (!Number.isInteger(W) || W < 1) throw new RangeError(`sampleParallel: workers must be a positive integer, got ${requested}`);
    const nW = Math.min(W, C);
    // Chains dealt round-robin: worker w runs chains w, w + nW, ...
    const shares = Array.from({ length: nW }, (_, w) => Array.from({ length: C }, (_, c) => c).filter((c) => c % nW === w));
    const channels = device ? shares.map(() => gradientChannel(bound.dim)) : [];
    const finished: FinishedChain[] = new Array(C);
    const windows: Float64Array[][] = new Array(nW);
    let arrived = 0;
    let done = 0;
    const starts = shares.map((chains, w): WorkerStart => ({
      source: { text: model.source.text, name: model.source.name }, data, opts: rest, chains, backend: workerBackend(backend), progress: !!onIteration,
      ...(device ? { gradients: channels[w].buffer } : {}),
    }));
    const stats: GradientBatchStats = { requests: 0, batches: 0, largest: 0 };
    await runWorkers('sampleParallel', starts, { entry: workerEntry, device, channels, stats }, (w, m, run) => {
      if (m.type === 'progress') onIteration?.(m.chain, m.iteration, m.phase, m.divergences);
      else if (m.type === 'window') {
        windows[w] = m.ests;
        if (++arrived === nW) {
          arrived = 0;
          // Every chain's estimate, in chain order, pooled as one sequential run would.
          const all: Float64Array[] = new Array(C);
          shares.forEach((cs, i) => cs.forEach((c, j) => { all[c] = windows[i][j]; }));
          run.post({ type: 'pooled', metric: poolEstimates(all, plan.settings.metric, bound.dim) });
        }
      } else if (m.type === 'done') {
        shares[w].forEach((c, j) => { finished[c] = m.finished[j]; });
        plan.traced = m.traced;
        if (++done === nW) run.resolve();
      }
    });
    const result = await runOnHostBackend(() => assembleResult(bound, plan, finished));
    if (device) result.gradientBatches = stats;
    return result;
  } finally {
    device?.dispose();
    bound.dispose();
  }
}

/** What a message handler of {@link runWorkers} can do: end the run, or message every worker. */
export interface WorkerRun {
  resolve(): void;
  post(message: unknown): void;
}

/** Messages after which a worker sends no request: it waits for a broadcast (`WorkerRun.post`), or has finished. */
const PAUSES: ReadonlySet<WorkerMessage['type']> = new Set(['window']);
const ENDS: ReadonlySet<WorkerMessage['type']> = new Set(['done', 'vi-done', 'score-done']);

/**
 * Starts one worker per start message and settles when `onMessage` calls `resolve` (or on the
 * first failure: a worker's error, a non-zero exit, a thrown handler, a gradient that could
 * not be computed). Errors come back as the class the worker threw; the workers are
 * terminated when the run settles. @internal
 *
 * Gradient requests are answered from `device` through the workers' channels in lockstep
 * batches: once every worker that will still ask (not paused at a window end, not finished)
 * is waiting on a gradient, their points are evaluated as one batch (`serveGradients`). So a
 * batch holds the k-th request of each active worker, and which requests share a batch does
 * not depend on timing: the same seed gives the same draws. A batch larger than the device's
 * `maxBatchPoints` is evaluated in parts (read together). `stats` counts the batches.
 */
export async function runWorkers(
  label: string, starts: readonly WorkerStart[],
  opts: { entry?: string | URL; device?: BoundModel; channels: readonly GradientChannel[]; stats?: GradientBatchStats },
  onMessage: (w: number, m: WorkerMessage, run: WorkerRun) => void,
): Promise<void> {
  const threads: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        // A worker waiting on its gradient is released (it then stops with an error of its own).
        for (const ch of opts.channels) releaseChannel(ch);
        reject(e);
      };
      // Lockstep batches (see above): active[w] until w pauses or ends; waiting[w] while its request is unanswered.
      const active = starts.map(() => true);
      const ended = starts.map(() => false);
      const waiting = starts.map(() => false);
      let serving = false;
      const serve = () => {
        if (failed || serving || !waiting.some((x) => x) || active.some((a, w) => a && !waiting[w])) return;
        const batch = waiting.flatMap((x, w) => (x ? [w] : []));
        serving = true;
        batch.forEach((w) => { waiting[w] = false; });
        serveGradients(opts.device!, batch.map((w) => opts.channels[w])).then((points) => {
          if (opts.stats) {
            opts.stats.requests += points;
            opts.stats.batches++;
            opts.stats.largest = Math.max(opts.stats.largest, points);
          }
          serving = false;
          serve();
        }, (e: unknown) => fail(e as Error));
      };
      const pause = (w: number, end: boolean) => {
        active[w] = false;
        if (end) ended[w] = true;
        serve();
      };
      const run: WorkerRun = {
        resolve,
        post: (message) => {
          for (const th of threads) th.postMessage(message);
          ended.forEach((e, w) => { active[w] = !e; });
        },
      };
      starts.forEach((start, w) => {
        const t = new Worker(opts.entry ?? new URL('./chain-worker-entry.mjs', import.meta.url), { workerData: { ...start, mixpplChainWorker: true } });
        threads.push(t);
        t.on('error', (e) => fail(e as Error));
        t.on('exit', (code) => {
          if (code !== 0) fail(new Error(`${label}: worker ${w + 1} exited with code ${code}`));
          else pause(w, true);
        });
        t.on('message', (m: WorkerMessage) => {
          if (failed) return;
          if (m.type === 'gradient') {
            waiting[w] = true;
            serve();
          } else if (m.type === 'error') fail(workerError(m));
          else {
            if (PAUSES.has(m.type) || ENDS.has(m.type)) pause(w, ENDS.has(m.type));
            try {
              onMessage(w, m, run);
            } catch (e) {
              fail(e as Error);
            }
          }
        });
      });
    });
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

/** The most points a device job's worker sends in one request (more go as several): its channel's capacity. @internal */
export const MAX_REQUEST_POINTS = 4096;
/** The most memory a device job's channel takes (64 MiB). */
const MAX_CHANNEL_BYTES = 2 ** 26;

/**
 * Runs one job of a synchronous family in a worker thread (`job`: a VI or score-based run)
 * with every potential and gradient computed in this thread on its backend, binding the data
 * here for that; settles with what `onMessage` returns for the worker's result message
 * (undefined for the others, e.g. progress). `points`: the most points the job evaluates
 * together (a VI step's samples, a particle cloud), the channel's capacity; `stats` counts
 * the requests' points and batches. @internal
 */
export async function runDeviceJob<T>(
  label: string, model: Model, data: DataInput, job: Pick<WorkerStart, 'vi' | 'score'>, progress: boolean,
  entry: string | URL | undefined, onMessage: (m: WorkerMessage) => T | undefined, points = 1, stats?: GradientBatchStats,
): Promise<T> {
  const backend = currentBackend() ?? (await ensureBackend());
  const device = model.bind(data);
  try {
    // The channel's memory is kept within MAX_CHANNEL_BYTES (larger requests go in parts).
    const fit = Math.max(1, Math.floor(MAX_CHANNEL_BYTES / (8 * (1 + 2 * device.dim))));
    const channels = [gradientChannel(device.dim, Math.min(points, fit))];
    const start: WorkerStart = {
      source: { text: model.source.text, name: model.source.name }, data, opts: {}, chains: [],
      backend: workerBackend(backend), progress, gradients: channels[0].buffer, ...job,
    };
    let out: { value: T } | undefined;
    await runWorkers(label, [start], { entry, device, channels, stats }, (_w, m, run) => {
      const v = onMessage(m);
      if (v !== undefined) {
        out = { value: v };
        run.resolve();
      }
    });
    return out!.value;
  } finally {
    device.dispose();
  }
}
