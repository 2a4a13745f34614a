/**
 * The parts of tfjs's backends that the fused kernels use, typed here once (the backends'
 * own classes live in packages that are optional or not imported by the kernels).
 */
import type * as tf from '@tensorflow/tfjs';

/** What tfjs passes a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** tfjs-backend-cpu: host arrays in, a new tensor from a host array out. */
export interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo;
}

/**
 * tfjs-backend-wasm: outputs are allocated on the wasm heap and written through views.
 * `readSync` copies out of the heap, so its arrays stay valid when an allocation grows the
 * heap; views from `typedArrayFromHeap` do not, so take them after every allocation.
 */
export interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * tfjs-backend-webgpu: runs a WGSL program object (see estep-webgpu.ts) into one output, a new
 * one or `output` (the same buffer across dispatches, as the chain recursions use it).
 */
export interface WebGPUBackendLike {
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], outputDtype: string, uniforms?: { type: string; data: number[] }[], output?: tf.TensorInfo): tf.TensorInfo;
  disposeData(dataId: object): void;
}
