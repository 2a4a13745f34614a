/**
 * The WebGPU kernel of the fused Gaussian-mixture E-step (see ./estep.ts): WGSL programs
 * in the form tfjs-backend-webgpu runs (`variableNames`, `outputShape`, `dispatchLayout`,
 * `workgroupSize`, `uniforms`, `getUserCode()`), run through `backend.runWebGPUProgram`.
 * A tfjs WebGPU program writes one output, so the op is four dispatches:
 *  1. the K per-component constants log w_k + sum_d log |P_kdd| - D/2 log 2 pi;
 *  2. the log joint [N, K], one thread per point looping over the components, so every
 *     thread of a workgroup reads the same mu_k and P_k at the same time (broadcast loads)
 *     and keeps x_n in registers; K and D are compiled in, and for D <= 32 the shader is
 *     generated unrolled;
 *  3. the log marginal [N] by a max-shifted log-sum-exp of each row;
 *  4. the responsibilities [N, K], one thread per element (coalesced).
 * Nothing here imports the optional package: the programs are plain objects and the
 * backend is reached through the kernel's `backend` argument.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelArgs, WebGPUBackendLike } from './backends';


const WORKGROUP = 64;

/** A WGSL number literal (always with a decimal point, as f32). */
const f32 = (v: number): string => (Number.isInteger(v) ? `${v}.0` : `${v}`);

/** The fields tfjs-backend-webgpu reads from a program object; getUserCode is added per program. */
function program(shaderKey: string, outputShape: number[], threads: number, variableNames: string[], extra: { size?: boolean; uniforms?: string }) {
  return {
    shaderKey,
    outputShape,
    variableNames,
    workgroupSize: [WORKGROUP, 1, 1] as [number, number, number],
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(threads / WORKGROUP), 1, 1],
    ...extra,
  };
}

/** Pass 1: C[k] = log w_k + sum_d log |P_kdd| - D/2 log 2 pi. */
function constantsProgram(K: number, D: number, diagonal: boolean) {
  const diagAt = diagonal ? `k * ${D} + d` : `(k * ${D} + d) * ${D} + d`;
  return {
    ...program(`mixppl_estep_c_${K}_${D}_${diagonal}`, [K], K, ['Lw', 'Pc'], { size: true }),
    // Every program must read \`uniforms\`: the bind group always binds it, and an unused
    // binding is dropped from the pipeline's derived layout.
    getUserCode: () => `
      fn main(index : i32) {
        let k = index;
        if (k < uniforms.size) {
          var h = 0.0;
          for (var d = 0; d < ${D}; d++) { h = h + log(abs(Pc[${diagAt}])); }
          setOutputAtIndex(k, Lw[k] + h - ${f32(0.5 * D * Math.log(2 * Math.PI))});
        }
      }`,
  };
}

/**
 * Up to this D the log-joint shader is generated unrolled: x_n and x_n - mu_k live in named
 * registers and every index is a literal, so no private array is indexed dynamically
 * (which compilers may spill, and Dawn's robustness pass guards with clamps).
 */
const UNROLL_MAX_D = 32;

/** Pass 2: the log joint [N, K], one thread per point. */
function logJointProgram(N: number, K: number, D: number, diagonal: boolean) {
  const unroll = D <= UNROLL_MAX_D;
  const ds = Array.from({ length: D }, (_, d) => d);
  let load: string;
  let maha: string;
  if (unroll) {
    load = ds.map((d) => `let x_${d} = Xs[n * ${D} + ${d}];`).join('\n          ');
    if (diagonal) {
      maha = ds.map((d) => `{ let z = (x_${d} - Mu[mo + ${d}]) * Pc[mo + ${d}]; acc = fma(z, z, acc); }`).join('\n            ');
    } else {
      // z_j = (P_k^T (x - mu_k))_j = sum_{i <= j} P_k[i, j] (x_i - mu_ki) (upper triangle only).
      const diffs = ds.map((d) => `let d_${d} = x_${d} - Mu[mo + ${d}];`).join('\n            ');
      const zs = ds
        .map((j) => `{ var z = 0.0; ${ds.slice(0, j + 1).map((i) => `z = fma(Pc[po + ${i * D + j}], d_${i}, z);`).join(' ')} acc = fma(z, z, acc); }`)
        .join('\n            ');
      maha = `let po = k * ${D * D};\n            ${diffs}\n            ${zs}`;
    }
  } else {
    load = `var xs : array<f32, ${D}>;\n          for (var d = 0; d < ${D}; d++) { xs[d] = Xs[n * ${D} + d]; }`;
    maha = diagonal
      ? `for (var d = 0; d < ${D}; d++) {
              let z = (xs[d] - Mu[mo + d]) * Pc[mo + d];
              acc = fma(z, z, acc);
            }`
      : `var diff : array<f32, ${D}>;
            for (var d = 0; d < ${D}; d++) { diff[d] = xs[d] - Mu[mo + d]; }
            for (var j = 0; j < ${D}; j++) {
              var z = 0.0;
              for (var i = 0; i <= j; i++) { z = fma(Pc[(mo + i) * ${D} + j], diff[i], z); }
              acc = fma(z, z, acc);
            }`;
  }
  return {
    ...program(`mixppl_estep_lj_${K}_${D}_${diagonal}`, [N, K], N, ['Xs', 'Mu', 'Pc', 'Cs'], { uniforms: 'numPoints : i32,' }),
    getUserCode: () => `
      fn main(index : i32) {
        let n = index;
        if (n < uniforms.numPoints) {
          ${load}
          for (var k = 0; k < ${K}; k++) {
            let mo = k * ${D};
            var acc = 0.0;
            ${maha}
            setOutputAtIndex(n * ${K} + k, Cs[k] - 0.5 * acc);
          }
        }
      }`,
  };
}

/** Pass 3: the log marginal [N], a max-shifted log-sum-exp per row (-inf for an all -inf row). */
function logMarginalProgram(N: number, K: number) {
  return {
    ...program(`mixppl_estep_lse_${K}`, [N], N, ['Lj'], { uniforms: 'numPoints : i32,' }),
    getUserCode: () => `
      fn main(index : i32) {
        let n = index;
        if (n < uniforms.numPoints) {
          var m = -3.0e38;
          for (var k = 0; k < ${K}; k++) { m = max(m, Lj[n * ${K} + k]); }
          var s = 0.0;
          for (var k = 0; k < ${K}; k++) { s = s + exp(Lj[n * ${K} + k] - m); }
          setOutputAtIndex(n, m + log(s));
        }
      }`,
  };
}

/** Pass 4: the responsibilities [N, K] = exp(log joint - log marginal), one thread per element. */
function respProgram(N: number, K: number) {
  return {
    ...program(`mixppl_estep_resp_${K}`, [N, K], N * K, ['Lj', 'Lse'], { size: true }),
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, exp(Lj[index] - Lse[index / ${K}]));
        }
      }`,
  };
}

function webgpuKernel({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const b = backend as WebGPUBackendLike;
  const { x, means, precChol, logWeights } = inputs as Record<string, tf.TensorInfo>;
  const [N, D] = x.shape;
  const K = means.shape[0];
  const diagonal = precChol.shape.length === 2;
  const n = [{ type: 'int32', data: [N] }];
  const c = b.runWebGPUProgram(constantsProgram(K, D, diagonal), [logWeights, precChol], 'float32');
  const lj = b.runWebGPUProgram(logJointProgram(N, K, D, diagonal), [x, means, precChol, c], 'float32', n);
  const lse = b.runWebGPUProgram(logMarginalProgram(N, K), [lj], 'float32', n);
  const r = b.runWebGPUProgram(respProgram(N, K), [lj, lse], 'float32');
  b.disposeData(c.dataId);
  return [lj, lse, r];
}

/** Registers the WGSL E-step under `kernelName` for the `webgpu` backend (whether or not that backend is installed). */
export function registerWebGPUEStep(kernelName: string): void {
  if (!tf.getKernel(kernelName, 'webgpu')) {
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: webgpuKernel as unknown as tf.KernelFunc });
  }
}
