/**
 * Chains in parallel on worker threads (`sampleParallel`): each worker compiles the model from
 * its source, binds the data and runs its share of the chains as `sample` does. Under the
 * pooled warm-up (the default with several chains) the workers stop at every window end, the
 * main thread pools all chains' window estimates in chain order and sends the metric back, so
 * the draws are those of `sample` with the same options, only sooner on a machine with
 * several cores. Each worker traces its own potential (a fixed start-up cost per worker).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Model } from '../../model/model';
import type { DataInput } from '../../model/data';
import { currentBackend, ensureBackend } from '../../tensor/backend';
import { assembleResult, planSampling, type FinishedChain, type McmcResult, type SampleOptions } from './index';
import { poolEstimates } from './sampler';
import { MixError } from '../../diagnostics/diagnostic';
import type { WorkerMessage, WorkerStart } from './chain-worker';

/** Options of {@link sampleParallel}: those of `sample`, and how many threads. */
export interface ParallelSampleOptions extends SampleOptions {
  /** Worker threads (default: the number of chains, at most the machine's available parallelism). */
  workers?: number;
}

/** Data values a worker can receive (structured clone): numbers, booleans, arrays, typed arrays, plain objects. */
function checkCloneable(where: string, v: unknown): void {
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || ArrayBuffer.isView(v)) return;
  if (Array.isArray(v)) { v.forEach((x, i) => checkCloneable(`${where}[${i}]`, x)); return; }
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v as object)) checkCloneable(`${where}.${k}`, x);
    return;
  }
  throw new RangeError(`sampleParallel: ${where} cannot be sent to a worker thread (give numbers, arrays or typed arrays, not tensors or functions)`);
}

/** The error a worker reported, as the class the sampler would have thrown in this thread. */
function workerError(m: Extract<WorkerMessage, { type: 'error' }>): Error {
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
  const { workers: requested, onIteration, ...rest } = opts;
  checkCloneable('data', data);
  if (rest.init !== undefined) checkCloneable('init', rest.init);
  const backend = currentBackend() ?? (await ensureBackend());
  const bound = model.bind(data);
  try {
    // The plan checks every option here, before any thread starts.
    const plan = planSampling(bound, opts);
    const C = plan.settings.chains;
    const W = requested ?? Math.min(C, availableParallelism());
    if (!Number.isInteger(W) || W < 1) throw new RangeError(`sampleParallel: workers must be a positive integer, got ${requested}`);
    const nW = Math.min(W, C);
    // Chains dealt round-robin: worker w runs chains w, w + nW, ...
    const shares = Array.from({ length: nW }, (_, w) => Array.from({ length: C }, (_, c) => c).filter((c) => c % nW === w));
    const finished: FinishedChain[] = new Array(C);
    const threads: Worker[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const windows: Float64Array[][] = new Array(nW);
        let arrived = 0;
        let done = 0;
        let failed = false;
        const fail = (e: Error) => {
          if (failed) return;
          failed = true;
          reject(e);
        };
        shares.forEach((chains, w) => {
          const start: WorkerStart = { source: { text: model.source.text, name: model.source.name }, data, opts: rest, chains, backend, progress: !!onIteration };
          const t = new Worker(new URL('./chain-worker-entry.mjs', import.meta.url), { workerData: start });
          threads.push(t);
          t.on('error', (e) => fail(e as Error));
          t.on('exit', (code) => { if (code !== 0) fail(new Error(`sampleParallel: worker ${w + 1} exited with code ${code}`)); });
          t.on('message', (m: WorkerMessage) => {
            if (failed) return;
            if (m.type === 'progress') onIteration?.(m.chain, m.iteration, m.phase, m.divergences);
            else if (m.type === 'error') fail(workerError(m));
            else if (m.type === 'window') {
              windows[w] = m.ests;
              if (++arrived === nW) {
                arrived = 0;
                // Every chain's estimate, in chain order, pooled as one sequential run would.
                const all: Float64Array[] = new Array(C);
                shares.forEach((cs, i) => cs.forEach((c, j) => { all[c] = windows[i][j]; }));
                let metric: Float64Array;
                try {
                  metric = poolEstimates(all, plan.settings.metric, bound.dim);
                } catch (e) {
                  fail(e as Error);
                  return;
                }
                for (const th of threads) th.postMessage({ type: 'pooled', metric });
              }
            } else if (m.type === 'done') {
              chains.forEach((c, j) => { finished[c] = m.finished[j]; });
              plan.traced = m.traced;
              if (++done === nW) resolve();
            }
          });
        });
      });
    } finally {
      await Promise.all(threads.map((t) => t.terminate()));
    }
    return assembleResult(bound, plan, finished);
  } finally {
    bound.dispose();
  }
}
