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
