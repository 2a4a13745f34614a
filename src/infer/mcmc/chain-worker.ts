/**
 * A worker of `sampleParallel` (or of `viDeviceGradients`, `scoreSampleDeviceGradients`): compiles the model from its source, binds the data, and runs
 * its share of the chains exactly as `sample` would (same keys, inits and options). At each
 * end of a pooled warm-up window it sends its chains' window estimates to the main thread and
 * waits for the pooled metric (computed there from every chain's, in chain order), so the
 * run equals a sequential `sample` with the same options.
 *
 * With a gradient channel (`sampleParallel`'s `deviceGradients`) the chains' potential is
 * remote: for each evaluation the worker writes the point into the channel's shared memory,
 * asks the main thread, and waits (Atomics.wait) until the main thread has written the
 * potential and its gradient, computed on its own backend.
 *
 * A VI job (`vi` in the start message) runs `vi` on the bound model with the remote
 * potential and sends back what the main thread needs to rebuild the result: the fitted
 * guide's parameters, the objective traces and the run's counts. A score job (`score`) runs
 * `scoreSample` likewise and sends back its result's data.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compile } from '../../compile';
import { useBackend, type BackendName } from '../../tensor/backend';
import type { DataInput } from '../../model/data';
import { MixError, type Diagnostic } from '../../diagnostics/diagnostic';
import type { Source } from '../../diagnostics/span';
import { planSampling, plannedChainSteps, type SampleOptions } from './index';
import { vi, type ViOptions } from '../vi/index';
import { scoreSample, type ScoreProgress, type ScoreResult, type ScoreSampleOptions } from '../score/index';
import { remotePotential, type GradientRequest } from '../remote-potential';

export interface WorkerStart {
  source: { text: string; name: string };
  data: DataInput;
  opts: SampleOptions;
  chains: number[];
  backend: BackendName;
  progress: boolean;
  /** The gradient channel's memory (remote-potential.ts): the potential is computed by the main thread. */
  gradients?: SharedArrayBuffer;
  /** A VI job instead of chains: vi's options (without onStep; progress relays it). */
  vi?: ViOptions;
  /** A score-based sampling job: scoreSample's options (without onProgress; progress relays it). */
  score?: Omit<ScoreSampleOptions, 'onProgress'>;
}

/** What a score job sends back: the result's data, from which the main thread rebuilds it. */
export type ScoreJobResult = Pick<ScoreResult, 'model' | 'names' | 'params' | 'chains' | 'settings' | 'initSource' | 'method' | 'logZ' | 'annealing' | 'diffusion'>;

/** What a VI job sends back (see the module comment). */
export interface ViJobResult {
  params: Float64Array;
  elboRaw: Float64Array;
  elbo: Float64Array;
  converged: boolean;
  steps: number;
  rejected: number;
}

export type WorkerMessage =
  | GradientRequest
  | { type: 'window'; ests: Float64Array[] }
  | { type: 'progress'; chain: number; iteration: number; phase: 'warmup' | 'sampling'; divergences: number }
  | { type: 'done'; finished: import('./index').FinishedChain[]; traced: boolean }
  | { type: 'vi-step'; step: number; steps: number; objective: number; windowMean: number }
  | { type: 'vi-done'; result: ViJobResult }
  | { type: 'score-progress'; progress: ScoreProgress }
  | { type: 'score-done'; result: ScoreJobResult }
  | { type: 'error'; name: string; message: string; diagnostics?: Diagnostic[]; source?: Source };

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
    if (start.vi) {
      const onStep = start.progress ? (step: number, steps: number, objective: number, windowMean: number) => port.postMessage({ type: 'vi-step', step, steps, objective, windowMean } satisfies WorkerMessage) : undefined;
      const r = vi(bound, { ...start.vi, onStep }, remotePotential(start.gradients!, bound.dim, port));
      const result: ViJobResult = { params: r.params, elboRaw: r.elboRaw, elbo: r.elbo, converged: r.converged, steps: r.steps, rejected: r.rejected };
      port.postMessage({ type: 'vi-done', result } satisfies WorkerMessage);
      bound.dispose();
      return;
    }
    if (start.score) {
      const onProgress = start.progress ? (progress: ScoreProgress) => port.postMessage({ type: 'score-progress', progress } satisfies WorkerMessage) : undefined;
      const r = scoreSample(bound, { ...start.score, onProgress }, remotePotential(start.gradients!, bound.dim, port));
      const { model: name, names, params, chains, settings, initSource, method, logZ, annealing, diffusion } = r;
      port.postMessage({ type: 'score-done', result: { model: name, names, params, chains, settings, initSource, method, logZ, annealing, diffusion } } satisfies WorkerMessage);
      bound.dispose();
      return;
    }
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
