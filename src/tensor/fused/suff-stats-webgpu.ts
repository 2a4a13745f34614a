/**
 * The WebGPU kernel of the fused sufficient statistics (see ./suff-stats.ts), as two
 * tfjs-backend-webgpu programs:
 *  1. partial sums over G groups of rows, [G, K, Sp] with Sp = 1 + D + (D or D(D+1)/2):
 *     one thread per (group, component, statistic), statistics fastest, so the threads of a
 *     workgroup read the same rows of X and R (broadcast loads); Kahan-compensated sums,
 *     so a group's thousands of float32 additions stay near one rounding;
 *  2. the sum over groups into the packed output [K, 1 + D + (D or D D)], the full second
 *     moments mirrored from the upper triangle.
 * G is chosen so that pass 1 has about 2^17 threads (or one group per row for small N).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackendLike } from './backends';


const WORKGROUP = 64;
const TARGET_THREADS = 2 ** 17;

function program(shaderKey: string, outputShape: number[], variableNames: string[]) {
  const size = outputShape.reduce((a, b) => a * b, 1);
  return {
    shaderKey,
    outputShape,
    variableNames,
    workgroupSize: [WORKGROUP, 1, 1] as [number, number, number],
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    size: true,
  };
}

/** Pass 1: partial[g, k, p] over rows [g rows, (g + 1) rows) of group g. */
function partialProgram(K: number, D: number, diagonal: boolean, G: number) {
  const Sp = 1 + D + (diagonal ? D : (D * (D + 1)) / 2);
  // The value of statistic p for row n, given r = resp[n, k].
  const second = diagonal
    ? `let i = p - ${1 + D}; let d = Xs[n * ${D} + i] - Cs[k * ${D} + i]; v = r * d * d;`
    : `var q = p - ${1 + D}; var i = 0;
              // Upper-triangle packing: row i holds columns i..D-1.
              loop { if (q < ${D} - i) { break; } q = q - (${D} - i); i = i + 1; }
              let j = i + q;
              v = r * (Xs[n * ${D} + i] - Cs[k * ${D} + i]) * (Xs[n * ${D} + j] - Cs[k * ${D} + j]);`;
  return {
    ...program(`mixppl_ss_partial_${K}_${D}_${diagonal}`, [G, K, Sp], ['Xs', 'Rs', 'Cs']),
    // N and the rows per group are uniforms, so one compiled pipeline serves every N.
    uniforms: 'numPoints : i32, rowsPerGroup : i32,',
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let p = index % ${Sp};
          let k = (index / ${Sp}) % ${K};
          let g = index / ${Sp * K};
          let start = g * uniforms.rowsPerGroup;
          let stop = min(start + uniforms.rowsPerGroup, uniforms.numPoints);
          var sum = 0.0;
          var comp = 0.0;
          for (var n = start; n < stop; n++) {
            let r = Rs[n * ${K} + k];
            var v = 0.0;
            if (p == 0) {
              v = r;
            } else if (p <= ${D}) {
              v = r * (Xs[n * ${D} + p - 1] - Cs[k * ${D} + p - 1]);
            } else {
              ${second}
            }
            // Kahan summation.
            let y = v - comp;
            let t = sum + y;
            comp = (t - sum) - y;
            sum = t;
          }
          setOutputAtIndex(index, sum);
        }
      }`,
  };
}

/** Pass 2: out[k, e] = sum_g partial[g, k, p(e)], mirroring the full second moments. */
function reduceProgram(K: number, D: number, diagonal: boolean) {
  const Sp = 1 + D + (diagonal ? D : (D * (D + 1)) / 2);
  const S = 1 + D + (diagonal ? D : D * D);
  const index = diagonal
    ? 'let p = e;'
    : `var p = e;
          if (e > ${D}) {
            var i = (e - ${1 + D}) / ${D};
            var j = (e - ${1 + D}) % ${D};
            if (i > j) { let t = i; i = j; j = t; }
            p = ${1 + D} + i * ${D} - (i * (i - 1)) / 2 + (j - i);
          }`;
  return {
    ...program(`mixppl_ss_reduce_${K}_${D}_${diagonal}`, [K, S], ['Ps']),
    uniforms: 'numGroups : i32,',
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let e = index % ${S};
          let k = index / ${S};
          ${index}
          var sum = 0.0;
          var comp = 0.0;
          for (var g = 0; g < uniforms.numGroups; g++) {
            let y = Ps[(g * ${K} + k) * ${Sp} + p] - comp;
            let t = sum + y;
            comp = (t - sum) - y;
            sum = t;
          }
          setOutputAtIndex(index, sum);
        }
      }`,
  };
}

function webgpuKernel({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const b = backend as WebGPUBackendLike;
  const { x, resp, centre } = inputs as Record<string, tf.TensorInfo>;
  const [N, D] = x.shape;
  const K = resp.shape[1];
  const diagonal = (attrs as { diagonal?: boolean } | undefined)?.diagonal === true;
  const Sp = 1 + D + (diagonal ? D : (D * (D + 1)) / 2);
  const G = Math.max(1, Math.min(N, Math.ceil(TARGET_THREADS / (K * Sp))));
  const rows = Math.ceil(N / G);
  const partial = b.runWebGPUProgram(partialProgram(K, D, diagonal, G), [x, resp, centre], 'float32', [{ type: 'int32', data: [N] }, { type: 'int32', data: [rows] }]);
  const out = b.runWebGPUProgram(reduceProgram(K, D, diagonal), [partial], 'float32', [{ type: 'int32', data: [G] }]);
  b.disposeData(partial.dataId);
  return out;
}

/** Registers the WGSL sufficient statistics under `kernelName` for the `webgpu` backend. */
export function registerWebGPUSuffStats(kernelName: string): void {
  if (!tf.getKernel(kernelName, 'webgpu')) {
    tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: webgpuKernel as unknown as tf.KernelFunc });
  }
}
