/**
 * Host reads as a generator protocol, so one loop serves both kinds of backend: a step
 * function yields the tensors whose numbers it needs and receives their values. `runSync`
 * reads them with dataSync (wasm, cpu, tensorflow: the loop behaves as a plain synchronous
 * one); `runAsync` with `await t.data()` (webgpu under Node.js, which cannot read
 * synchronously). The tensors yielded stay owned by the step function, which disposes them.
 * EM, the optimizer (src/infer/em/host-reads.ts has their shared steps), the score network's
 * training and predictions (mlp.ts) and the score-based samplers (src/infer/score/sde.ts)
 * are written this way, so each composes with `yield*` into a larger run (diffusion-fit.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';

/**
 * What a step needs from the host: the values of `read`, in order. With `prefetch`, the
 * values are only wanted on the CPU for code that then reads those tensors synchronously
 * (data tensors, for k-means and the re-seed's neighbour search): the sync driver skips the
 * read (dataSync works there anyway) and answers with empty arrays.
 */
export interface HostRead {
  read: Tensor[];
  prefetch?: boolean;
}

export type HostSteps<R> = Generator<HostRead, R, ArrayLike<number>[]>;

/** Runs the steps reading synchronously. */
export function runSync<R>(steps: HostSteps<R>): R {
  let r = steps.next();
  while (!r.done) {
    let values: ArrayLike<number>[];
    try {
      values = r.value.prefetch ? [] : r.value.read.map((t) => t.dataSync());
    } catch (e) {
      r = steps.throw(e);
      continue;
    }
    r = steps.next(values);
  }
  return r.value;
}

/** Runs the steps reading with `await t.data()` (the tensors are read together). */
export async function runAsync<R>(steps: HostSteps<R>): Promise<R> {
  let r = steps.next();
  while (!r.done) {
    let values: ArrayLike<number>[];
    try {
      values = await Promise.all(r.value.read.map((t) => t.data()));
    } catch (e) {
      r = steps.throw(e);
      continue;
    }
    r = steps.next(values);
  }
  return r.value;
}

/**
 * Reads `tensors` through the driver and disposes them afterwards, also when the read fails or
 * the run is abandoned: for tensors a step made only to read them (`yield* readOwned(ts)`).
 */
export function* readOwned(tensors: Tensor[]): HostSteps<ArrayLike<number>[]> {
  try {
    return yield { read: tensors };
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * Reads a scalar value and its gradient (one evaluation of an objective, made for this read)
 * and disposes both: the potential's (BoundModel.potentialAndGradSteps) and EM's gradient M-step's.
 */
export function* readValueAndGrad(value: Tensor, grad: Tensor): HostSteps<{ value: number; grad: Float64Array }> {
  const [v, g] = yield* readOwned([value, grad]);
  return { value: v[0], grad: Float64Array.from(g) };
}
