/**
 * Fills gaps in TensorFlow.js that the evaluator falls into:
 * - comparison and logical ops have no registered gradient, so `where(x > 0, a, b)`
 *   with x depending on a parameter cannot be differentiated; their gradient is zero
 *   almost everywhere, which is what we register;
 * - the wasm backend has no UnsortedSegmentSum kernel, which the gradient of `gather`
 *   needs (indexing a parameter by data, `mu[y[n]]`); we register one written in JS.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const ZERO_GRAD_BINARY = ['Less', 'LessEqual', 'Greater', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr'];
for (const kernelName of ZERO_GRAD_BINARY) {
  if (!tf.getGradient(kernelName)) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      // Gradients must be float32 even for bool inputs (logical ops).
      gradFunc: (_dy, saved) => ({ a: () => tf.zeros(saved[0].shape), b: () => tf.zeros(saved[1].shape) }),
    });
  }
}
if (!tf.getGradient('LogicalNot')) {
  tf.registerGradient({ kernelName: 'LogicalNot', inputsToSave: ['x'], gradFunc: (_dy, saved) => ({ x: () => tf.zeros(saved[0].shape) }) });
}

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
}

if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const b = backend as unknown as WasmBackendLike;
      const xv = b.readSync(x.dataId);
      const ids = b.readSync(segmentIds.dataId);
      const inner = x.shape.slice(1).reduce((p, q) => p * q, 1);
      const out = b.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
      const ov = b.typedArrayFromHeap(out);
      ov.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
      }
      return out;
    },
  });
}
