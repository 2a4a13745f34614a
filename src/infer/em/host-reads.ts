/**
 * EM's host reads as a generator protocol, so one loop serves both kinds of backend: a step
 * function yields the tensors whose numbers it needs and receives their values. `runSync`
 * reads them with dataSync (wasm, cpu, tensorflow: the loop behaves as a plain synchronous
 * one); `runAsync` with `await t.data()` (webgpu under Node.js, which cannot read
 * synchronously). The tensors yielded stay owned by the step function, which disposes them.
 * EM (src/infer/em) and the optimizer (src/infer/optimize) are written this way; so are the
 * two parameter maps they share, `constrainSteps` and `unconstrainSteps`.
 */
import { tf, canReadSync, type Tensor } from '../../tensor';
import { MixError } from '../../diagnostics/diagnostic';
import { toNested } from '../../model/data';
import type { BoundModel, ParamValues } from '../../model/bound-model';
import type { ValueAndGrad } from '../optimize/lbfgs';

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
 * Reads an objective's value (a scalar tensor) and gradient through the driver, then disposes
 * both: one evaluation of L-BFGS as host-read steps (EM's gradient M-step, the optimizer).
 */
export function* readValueAndGrad(value: Tensor, grad: Tensor): HostSteps<ValueAndGrad> {
  try {
    const [v, g] = yield { read: [value, grad] };
    return { value: v[0], grad: Float64Array.from(g) };
  } finally {
    tf.dispose([value, grad]);
  }
}

/** Constrained values (nested arrays) of a flat unconstrained vector, as bm.constrain. */
export function* constrainSteps(bm: BoundModel, u: Float64Array): HostSteps<Record<string, number | unknown[]>> {
  const ts = tf.tidy(() => {
    const { params } = bm.constrainTensor(tf.tensor1d(Float32Array.from(u)));
    return bm.params.map((p) => params.get(p.name)!);
  });
  try {
    const vals = yield { read: ts };
    const out: Record<string, number | unknown[]> = {};
    bm.params.forEach((p, i) => { out[p.name] = toNested(vals[i], p.shape); });
    return out;
  } finally {
    tf.dispose(ts);
  }
}

/** The flat unconstrained vector of constrained values, as bm.unconstrain. */
export function* unconstrainSteps(bm: BoundModel, values: ParamValues): HostSteps<Float64Array> {
  if (canReadSync()) return bm.unconstrain(values);
  const ts = tf.tidy(() => {
    const params = bm.paramTensors(values);
    return bm.params.map((p) => {
      try {
        return p.transform.inverse(params.get(p.name)!);
      } catch (e) {
        throw new MixError([{ severity: 'error', code: 'E0640', message: `parameter '${p.name}': ${(e as Error).message}` }], bm.source);
      }
    });
  });
  try {
    const vals = yield { read: ts };
    const out = new Float64Array(bm.dim);
    bm.params.forEach((p, i) => out.set(vals[i], p.offset));
    return out;
  } finally {
    tf.dispose(ts);
  }
}
