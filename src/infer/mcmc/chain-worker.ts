/**
 * A `sampleParallel` worker: compiles the model from its source, binds the data, and runs
 * its share of the chains exactly as `sample` would (same keys, inits and options). At each
 * end of a pooled warm-up window it sends its chains' window estimates to the main thread and
 * waits for the pooled metric (computed there from every chain's, in chain order), so the
 * run equals a sequential `sample` with the same options.
 *
 * With a gradient channel (`sampleParallel`'s `deviceGradients`) the chains' potential is
 * remote: for each evaluation the worker writes the point into the channel's shared memory,
 * asks the main thread, and waits (Atomics.wait) until the main thread has written the
 * potential and its gradient, computed on its own backend.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { compile } from '../../compile';
import { useBackend, type BackendName } from '../../tensor/backend';
import type { DataInput } from '../../model/data';
import { MixError, type Diagnostic } from '../../diagnostics/diagnostic';
import type { Source } from '../../diagnostics/span';
import { planSampling, plannedChainSteps, type ExternalPotential, type SampleOptions } from './index';

export interface WorkerStart {
  source: { text: string; name: string };
  data: DataInput;
  opts: SampleOptions;
  chains: number[];
  backend: BackendName;
  progress: boolean;
  /** The gradient channel's memory (see {@link gradientChannel}): the potential is computed by the main thread. */
  gradients?: SharedArrayBuffer;
}

/** Channel states: a request is pending, answered, or the run failed (the worker stops). */
export const GRADIENT_REQUESTED = 1;
export const GRADIENT_DONE = 2;
export const GRADIENT_FAILED = 3;

/**
 * The shared memory of one worker's gradient requests: `control[0]` holds the state, `values`
 * the potential (index 0), the point (1..dim) and the gradient (dim+1..2·dim).
 */
export function gradientChannel(dim: number, buffer = new SharedArrayBuffer(8 + 8 * (1 + 2 * dim))): { buffer: SharedArrayBuffer; control: Int32Array; values: Float64Array } {
  return { buffer, control: new Int32Array(buffer, 0, 2), values: new Float64Array(buffer, 8, 1 + 2 * dim) };
}

export type WorkerMessage =
  | { type: 'gradient' }
  | { type: 'window'; ests: Float64Array[] }
  | { type: 'progress'; chain: number; iteration: number; phase: 'warmup' | 'sampling'; divergences: number }
  | { type: 'done'; finished: import('./index').FinishedChain[]; traced: boolean }
  | { type: 'error'; name: string; message: string; diagnostics?: Diagnostic[]; source?: Source };

/** The potential of a worker whose gradients the main thread computes (see the module comment). */
function remotePotential(buffer: SharedArrayBuffer, dim: number, port: MessagePort): ExternalPotential {
  const ch = gradientChannel(dim, buffer);
  return {
    traced: false,
    valueAndGrad(u, grad) {
      ch.values.set(u, 1);
      Atomics.store(ch.control, 0, GRADIENT_REQUESTED);
      port.postMessage({ type: 'gradient' } satisfies WorkerMessage);
      while (Atomics.load(ch.control, 0) === GRADIENT_REQUESTED) Atomics.wait(ch.control, 0, GRADIENT_REQUESTED);
      if (Atomics.load(ch.control, 0) !== GRADIENT_DONE) throw new Error('sampleParallel: the run stopped while this worker waited for a gradient');
      grad.set(ch.values.subarray(1 + dim, 1 + 2 * dim));
      return ch.values[0];
    },
  };
}

/** Runs the worker (its start message is `workerData`); the package's worker entry calls it. */
export function chainWorkerMain(): void {
  const port = parentPort!;
  const start = workerData as WorkerStart;
  const nextPooled = (): Promise<Float64Array> =>
    new Promise((resolve) => port.once('message', (m: { type: 'pooled'; metric: Float64Array }) => resolve(m.metric)));

  const main = async (): Promise<void> => {
    await useBackend(start.backend);
    const model = compile(start.source.text, { name: start.source.name });
    const bound = model.bind(start.data);
    const opts: SampleOptions = {
      ...start.opts,
      onIteration: start.progress ? (chain, iteration, phase, divergences) => port.postMessage({ type: 'progress', chain, iteration, phase, divergences } satisfies WorkerMessage) : undefined,
    };
    const plan = planSampling(bound, opts, start.gradients ? remotePotential(start.gradients, bound.dim, port) : undefined);
    const steps = plannedChainSteps(bound, plan, start.chains);
    let r = steps.next();
    while (!r.done) {
      port.postMessage({ type: 'window', ests: r.value } satisfies WorkerMessage);
      r = steps.next(await nextPooled());
    }
    port.postMessage({ type: 'done', finished: r.value, traced: plan.traced } satisfies WorkerMessage);
    bound.dispose();
  };

  main().catch((e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    // A model or data error keeps its located diagnostics (plain data) so the main thread can rethrow it as one.
    const extra = err instanceof MixError ? { diagnostics: err.diagnostics, source: err.source } : {};
    port.postMessage({ type: 'error', name: err.name, message: err.message, ...extra } satisfies WorkerMessage);
  });
}
