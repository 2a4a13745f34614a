/**
 * The host-read steps EM (src/infer/em) and the optimizer (src/infer/optimize) share, written
 * in the generator protocol of src/tensor/host-reads.ts (one loop for both kinds of backend:
 * `runSync` reads with dataSync, `runAsync` with `await t.data()` on webgpu): the two
 * parameter maps, `constrainSteps` and `unconstrainSteps`. (The objective-and-gradient read
 * for L-BFGS, `readValueAndGrad`, lives with `readOwned` in src/tensor/host-reads.ts.)
 */
import { tf, canReadSync, readOwned, type HostSteps } from '../../tensor';
import { MixError } from '../../diagnostics/diagnostic';
import { toNested } from '../../model/data';
import type { BoundModel, ParamValues } from '../../model/bound-model';


/** Constrained values (nested arrays) of a flat unconstrained vector, as bm.constrain. */
export function* constrainSteps(bm: BoundModel, u: Float64Array): HostSteps<Record<string, number | unknown[]>> {
  const ts = tf.tidy(() => {
    const { params } = bm.constrainTensor(tf.tensor1d(Float32Array.from(u)));
    return bm.params.map((p) => params.get(p.name)!);
  });
  const vals = yield* readOwned(ts);
  const out: Record<string, number | unknown[]> = {};
  bm.params.forEach((p, i) => { out[p.name] = toNested(vals[i], p.shape); });
  return out;
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
  const vals = yield* readOwned(ts);
  const out = new Float64Array(bm.dim);
  bm.params.forEach((p, i) => out.set(vals[i], p.offset));
  return out;
}
