/**
 * Counter-based random draws made where the tensor lives: element i of a draw with key
 * (k0, k1) and counter c is computed from the threefry2x32-20 block of (k0, k1) at
 * (i, c), so a GPU fills a million uniforms in one dispatch with nothing uploaded, and every
 * backend gives the same numbers (the same generator as `Key`, random.ts).
 *
 *  - uniform: u = (w0 >> 9) 2^-23 + 2^-24, the midpoint of one of 2^23 equal cells of (0, 1):
 *    exact in float32, never 0 or 1; identical bits on every backend.
 *  - normal: Box–Muller from both words, z = sqrt(−2 log u0) cos(2π (u1 − 1/2)) (the angle in
 *    [−π, π], where WGSL's cos is specified); equal across backends within float32 rounding
 *    of log, sqrt and cos.
 *
 * The op is the kernel `MixpplThreefryDraw` of tfjs's registry: a JS kernel for `cpu` and
 * `wasm`, a WGSL one for `webgpu` (one thread per element). It takes no inputs; no gradient.
 * {@link DeviceStream} hands out counters so that successive draws of one stream never
 * reuse a block.
 */
import * as tf from '@tensorflow/tfjs';
import { checkShape, threefry2x32Into, type Key } from '../random';
import type { CpuBackendLike, KernelArgs, WasmBackendLike, WebGPUBackendLike } from './backends';

/** The tfjs kernel name of the counter-based draws. */
export const THREEFRY_DRAW_KERNEL = 'MixpplThreefryDraw';

const TWO_PI = 2 * Math.PI;
/** 2^-23 and 2^-24. */
const CELL = 1.1920928955078125e-7;
const HALF_CELL = 5.9604644775390625e-8;

/** Attributes of the kernel: the key's words, the counter, 1 for normal draws, the number of draws (a flat output). */
interface DrawAttrs {
  k0: number;
  k1: number;
  counter: number;
  normal: number;
  size: number;
}

/** The uniform of a threefry output word (exact in float32). */
export function wordToUniform(w: number): number {
  return (w >>> 9) * CELL + HALF_CELL;
}

/**
 * Fills `out` with the draws of (k0, k1) at counter `counter` (uniform or normal): the values
 * the kernels compute, in float64 before the caller's rounding to float32.
 */
export function threefryDrawJS(k0: number, k1: number, counter: number, normal: boolean, out: { length: number; [i: number]: number }): void {
  const w = new Uint32Array(2);
  for (let i = 0; i < out.length; i++) {
    threefry2x32Into(k0, k1, i, counter, w);
    if (!normal) {
      out[i] = wordToUniform(w[0]);
    } else {
      const u0 = wordToUniform(w[0]);
      const u1 = wordToUniform(w[1]);
      out[i] = Math.sqrt(-2 * Math.log(u0)) * Math.cos(TWO_PI * (u1 - 0.5));
    }
  }
}

/**
 * Returns float32 draws of `shape` from the threefry blocks of `key` at counter `counter`
 * (element i: block (i, counter)), uniform on (0, 1) or standard normal, made on the active
 * backend. Two calls with the same key and counter give the same numbers.
 */
export function threefryDraw(key: Key, counter: number, shape: number[], kind: 'uniform' | 'normal'): tf.Tensor {
  const where = 'threefryDraw';
  const size = checkShape(shape, where);
  if (size > 0xffffffff) throw new RangeError(`${where}: at most 2^32 draws per call, got ${size}`);
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) throw new RangeError(`${where}: counter must be an integer in [0, 2^32), got ${counter}`);
  if (kind !== 'uniform' && kind !== 'normal') throw new RangeError(`${where}: kind must be 'uniform' or 'normal', got '${String(kind)}'`);
  const [k0, k1] = key.words();
  const attrs: DrawAttrs = { k0, k1, counter, normal: kind === 'normal' ? 1 : 0, size };
  if (size === 0) return tf.zeros(shape);
  const flat = tf.engine().runKernel(THREEFRY_DRAW_KERNEL, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  if (shape.length === 1) return flat;
  const out = tf.reshape(flat, shape);
  flat.dispose();
  return out;
}

/**
 * A stream of counter-based tensor draws from one key: each call takes the next counter, so
 * no two calls share a block (2^32 calls per stream, each of up to 2^32 elements).
 */
export class DeviceStream {
  private counter = 0;
  constructor(private readonly key: Key) {}

  private next(): number {
    if (this.counter > 0xffffffff) throw new RangeError('DeviceStream: more than 2^32 draws from one stream');
    return this.counter++;
  }

  /** Uniform draws on (0, 1), float32. */
  uniform(shape: number[]): tf.Tensor {
    return threefryDraw(this.key, this.next(), shape, 'uniform');
  }

  /** Standard normal draws, float32. */
  normal(shape: number[]): tf.Tensor {
    return threefryDraw(this.key, this.next(), shape, 'normal');
  }
}

function cpuKernel({ backend, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as unknown as DrawAttrs;
  const out = new Float32Array(a.size);
  threefryDrawJS(a.k0, a.k1, a.counter, a.normal === 1, out);
  return (backend as CpuBackendLike).makeTensorInfo([a.size], 'float32', out);
}

function wasmKernel({ backend, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as unknown as DrawAttrs;
  const b = backend as WasmBackendLike;
  const info = b.makeOutput([a.size], 'float32');
  threefryDrawJS(a.k0, a.k1, a.counter, a.normal === 1, b.typedArrayFromHeap(info));
  return info;
}

/** WGSL threefry2x32-20, the same rounds and key schedule as random.ts. */
function threefryWgsl(): string {
  const rot = [13, 15, 26, 6, 17, 29, 16, 24];
  const keys = ['k0', 'k1', 'k2'];
  const lines: string[] = ['let k2 = k0 ^ k1 ^ 0x1bd11bdau;', 'var x0 = c0 + k0;', 'var x1 = c1 + k1;'];
  for (let g = 0; g < 5; g++) {
    for (let r = 0; r < 4; r++) {
      const s = rot[(g % 2) * 4 + r];
      lines.push(`x0 = x0 + x1; x1 = ((x1 << ${s}u) | (x1 >> ${32 - s}u)) ^ x0;`);
    }
    lines.push(`x0 = x0 + ${keys[(g + 1) % 3]}; x1 = x1 + ${keys[(g + 2) % 3]} + ${g + 1}u;`);
  }
  lines.push('return vec2<u32>(x0, x1);');
  return `fn threefry(k0 : u32, k1 : u32, c0 : u32, c1 : u32) -> vec2<u32> {\n        ${lines.join('\n        ')}\n      }`;
}

const WORKGROUP = 64;

function drawProgram(size: number, normal: boolean) {
  return {
    shaderKey: `mixppl_threefry_${normal ? 'normal' : 'uniform'}`,
    outputShape: [size],
    variableNames: [] as string[],
    workgroupSize: [WORKGROUP, 1, 1] as [number, number, number],
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    size: true,
    uniforms: 'k0 : u32, k1 : u32, counter : u32,',
    getUserCode: () => `
      ${threefryWgsl()}
      fn toUniform(w : u32) -> f32 { return f32(w >> 9u) * ${CELL.toExponential()} + ${HALF_CELL.toExponential()}; }
      fn main(index : i32) {
        if (index < uniforms.size) {
          let w = threefry(uniforms.k0, uniforms.k1, u32(index), uniforms.counter);
          ${normal
            ? `let r = sqrt(-2.0 * log(toUniform(w.x)));
          setOutputAtIndex(index, r * cos(${TWO_PI} * (toUniform(w.y) - 0.5)));`
            : 'setOutputAtIndex(index, toUniform(w.x));'}
        }
      }`,
  };
}

function webgpuKernel({ backend, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as unknown as DrawAttrs;
  const b = backend as WebGPUBackendLike;
  const uniforms = [{ type: 'uint32', data: [a.k0] }, { type: 'uint32', data: [a.k1] }, { type: 'uint32', data: [a.counter] }];
  return b.runWebGPUProgram(drawProgram(a.size, a.normal === 1), [], 'float32', uniforms);
}

for (const [backendName, kernelFunc] of [['cpu', cpuKernel], ['wasm', wasmKernel], ['webgpu', webgpuKernel]] as const) {
  if (!tf.getKernel(THREEFRY_DRAW_KERNEL, backendName)) {
    tf.registerKernel({ kernelName: THREEFRY_DRAW_KERNEL, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
