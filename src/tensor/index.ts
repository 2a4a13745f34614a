/**
 * The tensor layer: the only part of mixppl that imports TensorFlow.js.
 * Everything else imports `tf`, `Tensor` and the helpers from here.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor4D, Rank, Variable } from '@tensorflow/tfjs';
import './kernels';
export * from './backend';
export * from './linalg';
export * from './special';
export * from './random';
export * from './fused';
export * from './host-reads';

/**
 * tf.tidy for functions that return plain values (numbers, arrays, maps): every tensor
 * made inside is disposed unless the function tf.keep()s it.
 */
export function tidyValue<T>(fn: () => T): T {
  let out: T | undefined;
  tf.tidy(() => {
    out = fn();
  });
  return out as T;
}
