/**
 * A potential evaluated in another thread: a worker running a synchronous float64 family (the
 * chains of `sampleParallel`, the VI loop of `viDeviceGradients`) asks the main thread, which
 * owns the device (webgpu), for the potential and its gradient at a point, and waits for the
 * answer with `Atomics.wait`; the main thread computes it with an awaited read
 * (`BoundModel.potentialAndGradSteps`) and writes it into the shared memory. So the families'
 * code stays synchronous and the device stays in the thread that can drive it. Requests of
 * several workers waiting together are answered as one batch (`serveGradients`).
 */
import type { MessagePort } from 'node:worker_threads';
import { runAsync } from '../tensor/host-reads';
import type { BoundModel } from '../model/bound-model';

/** Channel states: a request is pending, answered, or the run failed (the worker stops). */
export const GRADIENT_REQUESTED = 1;
export const GRADIENT_DONE = 2;
export const GRADIENT_FAILED = 3;

/** How the main thread answered the workers' gradient requests: requests, batches (one read each), the most points in one. */
export interface GradientBatchStats {
  requests: number;
  batches: number;
  largest: number;
}

/** The message a worker posts for each request. */
export interface GradientRequest {
  type: 'gradient';
}

/** The shared memory of one worker's requests (see {@link gradientChannel}). */
export interface GradientChannel {
  buffer: SharedArrayBuffer;
  /** control[0]: the state. */
  control: Int32Array;
  /** The potential (index 0), the point (1..dim) and the gradient (dim+1..2·dim). */
  values: Float64Array;
}

/** A channel for points of length `dim` (a new buffer, or a view of a worker's). */
export function gradientChannel(dim: number, buffer = new SharedArrayBuffer(8 + 8 * (1 + 2 * dim))): GradientChannel {
  return { buffer, control: new Int32Array(buffer, 0, 2), values: new Float64Array(buffer, 8, 1 + 2 * dim) };
}

/**
 * A potential (-log density) of the unconstrained parameters with its gradient, computed
 * elsewhere: what `planSampling` and `scoreSample` take in place of the bound model's own.
 */
export interface ExternalPotential {
  /** False: not the float64 replay (the run reports `traced` from it). */
  readonly traced: boolean;
  /** The potential at u; its gradient is written into `grad`. */
  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number;
}

/** The worker's side: a potential whose every evaluation is a request to the main thread (also vi's `Potential`). */
export interface RemotePotential extends ExternalPotential {
  readonly dim: number;
  /** False: the tensor evaluator, not the float64 replay. */
  readonly traced: false;
  value(u: ArrayLike<number>): number;
}

/** The worker's side of a channel (see the module comment). */
export function remotePotential(buffer: SharedArrayBuffer, dim: number, port: MessagePort): RemotePotential {
  const ch = gradientChannel(dim, buffer);
  const scratch = new Float64Array(dim);
  const valueAndGrad = (u: ArrayLike<number>, grad: Float64Array): number => {
    ch.values.set(u, 1);
    Atomics.store(ch.control, 0, GRADIENT_REQUESTED);
    port.postMessage({ type: 'gradient' } satisfies GradientRequest);
    while (Atomics.load(ch.control, 0) === GRADIENT_REQUESTED) Atomics.wait(ch.control, 0, GRADIENT_REQUESTED);
    if (Atomics.load(ch.control, 0) !== GRADIENT_DONE) throw new Error('the run stopped while this worker waited for a gradient');
    grad.set(ch.values.subarray(1 + dim, 1 + 2 * dim));
    return ch.values[0];
  };
  return { dim, traced: false, valueAndGrad, value: (u) => valueAndGrad(u, scratch) };
}

/**
 * The main thread's side: answers a request, the potential and its gradient at the point the
 * worker wrote, computed on this thread's backend with the read awaited, and wakes the worker.
 */
export async function serveGradient(device: BoundModel, ch: GradientChannel): Promise<void> {
  const dim = device.dim;
  const u = ch.values.slice(1, 1 + dim);
  const { value, grad } = await runAsync(device.potentialAndGradSteps(u));
  ch.values[0] = value;
  ch.values.set(grad, 1 + dim);
  Atomics.store(ch.control, 0, GRADIENT_DONE);
  Atomics.notify(ch.control, 0);
}

/**
 * Answers several workers' requests as one batch: the points of `chs` evaluated together
 * (`BoundModel.potentialAndGradBatchSteps`, in parts of `maxBatchPoints`, one read), each
 * potential and gradient written back into its channel and its worker woken. A single point
 * is answered as `serveGradient` does.
 */
export async function serveGradients(device: BoundModel, chs: readonly GradientChannel[]): Promise<void> {
  if (chs.length === 1) return serveGradient(device, chs[0]);
  const dim = device.dim;
  const { values, grads } = await runAsync(device.potentialAndGradBatchSteps(chs.map((ch) => ch.values.subarray(1, 1 + dim))));
  chs.forEach((ch, b) => {
    ch.values[0] = values[b];
    ch.values.set(grads[b], 1 + dim);
    Atomics.store(ch.control, 0, GRADIENT_DONE);
    Atomics.notify(ch.control, 0);
  });
}

/** Releases a worker waiting on the channel when the run has failed (its wait then throws). */
export function releaseChannel(ch: GradientChannel): void {
  Atomics.store(ch.control, 0, GRADIENT_FAILED);
  Atomics.notify(ch.control, 0);
}
