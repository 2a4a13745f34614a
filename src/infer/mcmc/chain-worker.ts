/**
 * A `sampleParallel` worker: compiles the model from its source, binds the data, and runs
 * its share of the chains exactly as `sample` would (same keys, inits and options). At each
 * end of a pooled warm-up window it sends its chains' window estimates to the main thread and
 * waits for the pooled metric (computed there from every chain's, in chain order), so the
 * run equals a sequential `sample` with the same options.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compile } from '../../compile';
import { useBackend, type BackendName } from '../../tensor/backend';
import type { DataInput } from '../../model/data';
import { MixError, type Diagnostic } from '../../diagnostics/diagnostic';
import type { Source } from '../../diagnostics/span';
import { planSampling, plannedChainSteps, type SampleOptions } from './index';

export interface WorkerStart {
  source: { text: string; name: string };
  data: DataInput;
  opts: SampleOptions;
  chains: number[];
  backend: BackendName;
  progress: boolean;
}

export type WorkerMessage =
  | { type: 'window'; ests: Float64Array[] }
  | { type: 'progress'; chain: number; iteration: number; phase: 'warmup' | 'sampling'; divergences: number }
  | { type: 'done'; finished: import('./index').FinishedChain[]; traced: boolean }
  | { type: 'error'; name: string; message: string; diagnostics?: Diagnostic[]; source?: Source };

const port = parentPort!;
const start = workerData as WorkerStart;

function nextPooled(): Promise<Float64Array> {
  return new Promise((resolve) => port.once('message', (m: { type: 'pooled'; metric: Float64Array }) => resolve(m.metric)));
}

async function main(): Promise<void> {
  await useBackend(start.backend);
  const model = compile(start.source.text, { name: start.source.name });
  const bound = model.bind(start.data);
  const opts: SampleOptions = {
    ...start.opts,
    onIteration: start.progress ? (chain, iteration, phase, divergences) => port.postMessage({ type: 'progress', chain, iteration, phase, divergences } satisfies WorkerMessage) : undefined,
  };
  const plan = planSampling(bound, opts);
  const steps = plannedChainSteps(bound, plan, start.chains);
  let r = steps.next();
  while (!r.done) {
    port.postMessage({ type: 'window', ests: r.value } satisfies WorkerMessage);
    r = steps.next(await nextPooled());
  }
  port.postMessage({ type: 'done', finished: r.value, traced: plan.traced } satisfies WorkerMessage);
  bound.dispose();
}

main().catch((e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  // A model or data error keeps its located diagnostics (plain data) so the main thread can rethrow it as one.
  const extra = err instanceof MixError ? { diagnostics: err.diagnostics, source: err.source } : {};
  port.postMessage({ type: 'error', name: err.name, message: err.message, ...extra } satisfies WorkerMessage);
});
