/**
 * A potential evaluated in another thread: a worker running a synchronous float64 family (the
 * chains of `sampleParallel`, the VI loop of `viDeviceGradients`) asks the main thread, which
 * owns the device (webgpu), for the potential and its gradient at a point, and waits for the
 * answer with `Atomics.wait`; the main thread computes it with an awaited read
 * (`BoundModel.potentialAndGradSteps`) and writes it into the shared memory. So the families'
 * code stays synchronous and the device stays in the thread that can drive it. A request may
 * carry several points (`valuesAndGrads`: a VI step's Monte Carlo samples, a particle cloud's
 * Langevin moves), up to the channel's capacity; requests of several workers waiting together
 * are answered as one batch (`serveGradients`).
 */
import type { MessagePort } from 'node:worker_threads';
import { runAsync } from '../tensor/host-reads';
import type { BoundModel } from '../model/bound-model';
import type { PointsPotential } from './points';

/** Channel states: a request is pending, answered, or the run failed (the worker stops). */
export const GRADIENT_REQUESTED = 1;
export const GRADIENT_DONE = 2;
export const GRADIENT_FAILED = 3;

/** How the main thread answered the workers' gradient requests: points asked for, batches (one read each), the most points in one. */
export interface GradientBatchStats {
  /** Points evaluated (a request of several points counts each). */
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
  /** control[0]: the state; control[1]: the points in the pending request. */
  control: Int32Array;
  /**
   * One slot of 1 + 2·dim numbers per point: the potential (offset 0), the point (1..dim) and
   * the gradient (dim+1..2·dim).
   */
  values: Float64Array;
  dim: number;
  /** The most points one request carries. */
  capacity: number;
}

/** A new channel for up to `capacity` points of length `dim` per request. */
export function gradientChannel(dim: number, capacity = 1): GradientChannel {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`gradientChannel: capacity must be a positive integer, got ${capacity}`);
  return channelOf(dim, new SharedArrayBuffer(8 + 8 * capacity * (1 + 2 * dim)));
}

/** The channel in `buffer` (a worker's view of the main thread's): its capacity follows from its size. */
export function channelOf(dim: number, buffer: SharedArrayBuffer): GradientChannel {
  const slot = 1 + 2 * dim;
  const capacity = Math.floor((buffer.byteLength - 8) / (8 * slot));
  return { buffer, control: new Int32Array(buffer, 0, 2), values: new Float64Array(buffer, 8, capacity * slot), dim, capacity };
}

/** Point b's slot in a channel: its potential, point and gradient. */
function slotOf(ch: GradientChannel, b: number): { at: number; u: Float64Array; grad: Float64Array } {
  const at = b * (1 + 2 * ch.dim);
  return { at, u: ch.values.subarray(at + 1, at + 1 + ch.dim), grad: ch.values.subarray(at + 1 + ch.dim, at + 1 + 2 * ch.dim) };
}

/**
 * A potential (-log density) of the unconstrained parameters with its gradient, computed
 * elsewhere: what `planSampling` and `scoreSample` take in place of the bound model's own.
 */
export interface ExternalPotential extends PointsPotential {
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
  /** Several points per request (the channel's capacity at a time), evaluated together by the main thread. */
  valuesAndGrads(points: readonly ArrayLike<number>[], grads: readonly Float64Array[]): Float64Array;
}

/** The worker's side of a channel (see the module comment). */
export function remotePotential(buffer: SharedArrayBuffer, dim: number, port: MessagePort): RemotePotential {
  const ch = channelOf(dim, buffer);
  const scratch = new Float64Array(dim);
  // Asks for the potentials at the n points written into the first n slots, and waits.
  const request = (n: number): void => {
    Atomics.store(ch.control, 1, n);
    Atomics.store(ch.control, 0, GRADIENT_REQUESTED);
    port.postMessage({ type: 'gradient' } satisfies GradientRequest);
    while (Atomics.load(ch.control, 0) === GRADIENT_REQUESTED) Atomics.wait(ch.control, 0, GRADIENT_REQUESTED);
    if (Atomics.load(ch.control, 0) !== GRADIENT_DONE) throw new Error('the run stopped while this worker waited for a gradient');
  };
  const valueAndGrad = (u: ArrayLike<number>, grad: Float64Array): number => {
    const s = slotOf(ch, 0);
    s.u.set(u);
    request(1);
    grad.set(s.grad);
    return ch.values[0];
  };
  const valuesAndGrads = (points: readonly ArrayLike<number>[], grads: readonly Float64Array[]): Float64Array => {
    if (points.length !== grads.length) throw new RangeError(`valuesAndGrads: ${points.length} points but ${grads.length} gradient rows`);
    const out = new Float64Array(points.length);
    for (let at = 0; at < points.length; at += ch.capacity) {
      const n = Math.min(ch.capacity, points.length - at);
      for (let b = 0; b < n; b++) slotOf(ch, b).u.set(points[at + b]);
      request(n);
      for (let b = 0; b < n; b++) {
        const s = slotOf(ch, b);
        out[at + b] = ch.values[s.at];
        grads[at + b].set(s.grad);
      }
    }
    return out;
  };
  return { dim, traced: false, valueAndGrad, valuesAndGrads, value: (u) => valueAndGrad(u, scratch) };
}

/** The number of points a channel's pending request carries (1 to its capacity). */
function pendingPoints(ch: GradientChannel): number {
  const n = Atomics.load(ch.control, 1);
  if (!Number.isInteger(n) || n < 1 || n > ch.capacity) throw new Error(`a worker asked for ${n} points on a channel of capacity ${ch.capacity}`);
  return n;
}

/**
 * Answers the requests pending on `chs` (several workers waiting together, each with one or
 * more points) as one batch: their points evaluated together on this thread's backend
 * (`BoundModel.potentialAndGradBatchSteps`, in parts of `maxBatchPoints`, one awaited read),
 * each potential and gradient written back into its slot and the workers woken. A single
 * point is evaluated alone (`potentialAndGradSteps`). Returns the number of points.
 */
export async function serveGradients(device: BoundModel, chs: readonly GradientChannel[]): Promise<number> {
  const slots = chs.flatMap((ch) => Array.from({ length: pendingPoints(ch) }, (_, b) => ({ ch, ...slotOf(ch, b) })));
  if (slots.length === 1) {
    const { ch, at, u, grad } = slots[0];
    const r = await runAsync(device.potentialAndGradSteps(u.slice()));
    ch.values[at] = r.value;
    grad.set(r.grad);
  } else {
    const { values, grads } = await runAsync(device.potentialAndGradBatchSteps(slots.map((s) => s.u)));
    slots.forEach((s, b) => {
      s.ch.values[s.at] = values[b];
      s.grad.set(grads[b]);
    });
  }
  for (const ch of chs) {
    Atomics.store(ch.control, 0, GRADIENT_DONE);
    Atomics.notify(ch.control, 0);
  }
  return slots.length;
}

/** Releases a worker waiting on the channel when the run has failed (its wait then throws). */
export function releaseChannel(ch: GradientChannel): void {
  Atomics.store(ch.control, 0, GRADIENT_FAILED);
  Atomics.notify(ch.control, 0);
}
