/**
 * The Gaussian-mixture E-step as one op: for data X [N, D], component means [K, D],
 * precision Cholesky factors P and log weights [K], it returns per point and component
 * the log joint log w_k + log N(x_n | mu_k, Lambda_k^{-1}), the log marginal
 * log p(x_n) = logsumexp_k of it, and the responsibilities exp(log joint - log marginal).
 *
 * P follows scikit-learn's `precisions_cholesky_`: full P [K, D, D] is upper triangular with
 * Lambda_k = P_k P_k^T (so P_k = L_k^{-T} for the covariance factor Sigma_k = L_k L_k^T), and
 * the Mahalanobis term is ||P_k^T (x - mu_k)||^2; only the upper triangle is read. Diagonal
 * P [K, D] holds 1 / sigma_kd. Either way log |det Lambda_k|^{1/2} = sum_d log |P_kdd|.
 *
 * The op is the kernel `MixpplGaussianEStep` of tfjs's registry, with a one-pass JS
 * kernel for `cpu` and `wasm` here and a WGSL one for `webgpu` in ./estep-webgpu.ts; on a
 * backend without one, and as the reference the kernels are tested against, it runs
 * {@link gaussianEStepReference} (plain tf ops). No gradient is registered: EM does not
 * differentiate its E-step.
 */
import * as tf from '@tensorflow/tfjs';
import { logSumExp } from '../special';
import { matrixDiagPart } from '../linalg';
import { registerWebGPUEStep } from './estep-webgpu';
import type { CpuBackendLike, KernelArgs, WasmBackendLike } from './backends';

/** The tfjs kernel name of the fused E-step. */
export const GAUSSIAN_ESTEP_KERNEL = 'MixpplGaussianEStep';

/** What {@link gaussianEStep} returns; the caller owns (and disposes) the tensors. */
export interface EStepResult {
  /** log w_k + log N(x_n | mu_k, Lambda_k^{-1}), [N, K]. */
  logJoint: tf.Tensor2D;
  /** log p(x_n) = logsumexp_k logJoint[n, k], [N]. */
  logMarginal: tf.Tensor1D;
  /** Responsibilities p(z_n = k | x_n), [N, K]; rows sum to 1. */
  resp: tf.Tensor2D;
}

/** Options of {@link gaussianEStep}. */
export interface EStepOptions {
  /**
   * `'fused'` runs the registered kernel (a RangeError if the backend has none), `'reference'`
   * the plain-op path, `'auto'` (default) the kernel where the backend has one and it is the
   * faster (always on cpu and webgpu; on wasm for small problems only, where the plain
   * ops' matmuls have not yet overtaken the JS loop).
   */
  impl?: 'auto' | 'fused' | 'reference';
  /**
   * Check that means, factors and log weights are finite (log weights may be -Infinity) and
   * factor diagonals nonzero (default true). It reads the K x D x D parameters back; the
   * data X is never read for the check. On webgpu only shapes are checked here (no
   * synchronous reads under Node.js): await {@link checkGaussianEStepParams} there.
   */
  validate?: boolean;
}

/** The shapes of an E-step call, after checking them. */
interface EStepDims {
  N: number;
  K: number;
  D: number;
  diagonal: boolean;
}

function checkShapes(where: string, x: tf.Tensor, means: tf.Tensor, precChol: tf.Tensor, logWeights: tf.Tensor): EStepDims {
  const s = (t: tf.Tensor) => `[${t.shape.join(', ')}]`;
  if (x.rank !== 2) throw new RangeError(`${where}: x must be [N, D], got ${s(x)}`);
  const [N, D] = x.shape as [number, number];
  if (means.rank !== 2 || means.shape[1] !== D) throw new RangeError(`${where}: means must be [K, ${D}] (D from x), got ${s(means)}`);
  const K = means.shape[0];
  if (K < 1 || D < 1) throw new RangeError(`${where}: need K >= 1 components and D >= 1 dimensions, got K = ${K}, D = ${D}`);
  const diagonal = precChol.rank === 2;
  const want = diagonal ? [K, D] : [K, D, D];
  if (!(precChol.rank === 2 || precChol.rank === 3) || precChol.shape.some((d, i) => d !== want[i])) {
    throw new RangeError(`${where}: precChol must be [${K}, ${D}] (diagonal) or [${K}, ${D}, ${D}] (full), got ${s(precChol)}`);
  }
  if (logWeights.rank !== 1 || logWeights.shape[0] !== K) throw new RangeError(`${where}: logWeights must be [${K}], got ${s(logWeights)}`);
  for (const [name, t] of [['x', x], ['means', means], ['precChol', precChol], ['logWeights', logWeights]] as const) {
    if (t.dtype !== 'float32') throw new RangeError(`${where}: ${name} must be float32, got ${t.dtype}`);
  }
  return { N, K, D, diagonal };
}

function checkValues(where: string, dims: EStepDims, m: ArrayLike<number>, p: ArrayLike<number>, w: ArrayLike<number>): void {
  const { K, D, diagonal } = dims;
  for (let i = 0; i < m.length; i++) if (!Number.isFinite(m[i])) throw new RangeError(`${where}: means[${Math.floor(i / D)}, ${i % D}] is ${m[i]}`);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < D; i++) {
      for (let j = diagonal ? 0 : i; j < (diagonal ? 1 : D); j++) {
        const v = diagonal ? p[k * D + i] : p[(k * D + i) * D + j];
        const at = diagonal ? `[${k}, ${i}]` : `[${k}, ${i}, ${j}]`;
        if (!Number.isFinite(v)) throw new RangeError(`${where}: precChol${at} is ${v}`);
        if ((diagonal || i === j) && v === 0) throw new RangeError(`${where}: precChol${at} is 0 (a singular precision)`);
      }
    }
  }
  for (let k = 0; k < K; k++) {
    if (Number.isNaN(w[k]) || w[k] === Infinity) throw new RangeError(`${where}: logWeights[${k}] is ${w[k]}`);
  }
}

/**
 * Checks the E-step parameters as {@link gaussianEStep} does (shapes; means and factors
 * finite, factor diagonals nonzero, log weights below +Infinity and not NaN), reading them
 * asynchronously: on webgpu under Node.js tensors cannot be read synchronously, so there
 * `gaussianEStep` checks shapes only and callers await this instead. Throws a RangeError.
 */
export async function checkGaussianEStepParams(x: tf.Tensor, means: tf.Tensor, precChol: tf.Tensor, logWeights: tf.Tensor): Promise<void> {
  const where = 'gaussianEStep';
  const dims = checkShapes(where, x, means, precChol, logWeights);
  checkValues(where, dims, await means.data(), await precChol.data(), await logWeights.data());
}

/**
 * Returns the E-step of a Gaussian mixture (log joint [N, K], log marginal [N],
 * responsibilities [N, K]) in one op; see the module comment for the parameterisation.
 *
 * @example
 * const { logMarginal, resp } = gaussianEStep(x, mu, tf.div(1, sigma), tf.log(w));
 * const logLik = tf.sum(logMarginal);
 */
export function gaussianEStep(x: tf.Tensor, means: tf.Tensor, precChol: tf.Tensor, logWeights: tf.Tensor, opts: EStepOptions = {}): EStepResult {
  const where = 'gaussianEStep';
  const dims = checkShapes(where, x, means, precChol, logWeights);
  // tfjs-backend-webgpu reads synchronously only through OffscreenCanvas, which Node.js lacks.
  if ((opts.validate ?? true) && tf.getBackend() !== 'webgpu') checkValues(where, dims, means.dataSync(), precChol.dataSync(), logWeights.dataSync());
  const impl = opts.impl ?? 'auto';
  if (impl !== 'auto' && impl !== 'fused' && impl !== 'reference') throw new RangeError(`${where}: impl must be 'auto', 'fused' or 'reference', got '${impl}'`);
  const hasKernel = tf.getKernel(GAUSSIAN_ESTEP_KERNEL, tf.getBackend()) !== undefined;
  if (impl === 'fused' && !hasKernel) throw new RangeError(`${where}: no fused E-step kernel for the '${tf.getBackend()}' backend (there are for cpu, wasm, webgpu)`);
  if (impl === 'reference' || !hasKernel || (impl === 'auto' && !fusedPays(dims))) return referenceUnchecked(x, means, precChol, logWeights, dims);
  const inputs = { x, means, precChol, logWeights } as unknown as tf.NamedTensorMap;
  const out = tf.engine().runKernel(GAUSSIAN_ESTEP_KERNEL, inputs, {}) as unknown as tf.Tensor[];
  return { logJoint: out[0] as tf.Tensor2D, logMarginal: out[1] as tf.Tensor1D, resp: out[2] as tf.Tensor2D };
}

/**
 * Above this many inner-loop steps (N K D diagonal, N K D (D + 1) / 2 full) the wasm
 * backend's plain ops (XNNPACK matmuls) beat the JS kernel; below it the JS kernel wins by
 * saving a dozen kernel launches (bench/gpu.ts --backend wasm: 1.6-10x faster at N = 2000,
 * K <= 16, D <= 8; 0.6-0.96x at N = 50000, K D >= 32). On cpu the JS kernel always wins
 * (7-74x at N = 20000), and webgpu always runs its WGSL kernel.
 */
const WASM_FUSED_MAX_STEPS = 1e6;

function fusedPays({ N, K, D, diagonal }: EStepDims): boolean {
  if (tf.getBackend() !== 'wasm') return true;
  return N * K * (diagonal ? D : (D * (D + 1)) / 2) <= WASM_FUSED_MAX_STEPS;
}

/**
 * The E-step with plain tf ops (the reference the fused kernels are tested against).
 * Memory O(N K D): full factors go through one [N, D] x [D, K D] product.
 */
export function gaussianEStepReference(x: tf.Tensor, means: tf.Tensor, precChol: tf.Tensor, logWeights: tf.Tensor): EStepResult {
  const dims = checkShapes('gaussianEStepReference', x, means, precChol, logWeights);
  return referenceUnchecked(x, means, precChol, logWeights, dims);
}

function referenceUnchecked(x: tf.Tensor, means: tf.Tensor, precChol: tf.Tensor, logWeights: tf.Tensor, dims: EStepDims): EStepResult {
  const { N, K, D, diagonal } = dims;
  const [logJoint, logMarginal, resp] = tf.tidy(() => {
    let maha: tf.Tensor;
    let halfLogDet: tf.Tensor;
    if (diagonal) {
      const z = tf.mul(tf.sub(tf.expandDims(x, 1), tf.expandDims(means, 0)), tf.expandDims(precChol, 0)); // [N, K, D]
      maha = tf.sum(tf.square(z), 2);
      halfLogDet = tf.sum(tf.log(tf.abs(precChol)), 1);
    } else {
      const P = tf.linalg.bandPart(precChol, 0, -1); // the upper triangle only, as the kernels read
      // z[n, k D + j] = sum_i x[n, i] P[k, i, j] - sum_i mu[k, i] P[k, i, j]  =  (P_k^T (x_n - mu_k))_j
      const Pcat = tf.reshape(tf.transpose(P, [1, 0, 2]), [D, K * D]);
      const shift = tf.reshape(tf.matMul(tf.expandDims(means, 1), P), [1, K * D]);
      const z = tf.sub(tf.matMul(x, Pcat), shift);
      maha = tf.sum(tf.reshape(tf.square(z), [N, K, D]), 2);
      halfLogDet = tf.sum(tf.log(tf.abs(matrixDiagPart(P))), 1);
    }
    const c = tf.add(tf.add(logWeights, halfLogDet), -0.5 * D * Math.log(2 * Math.PI)); // [K]
    const lj = tf.add(tf.mul(maha, -0.5), c);
    const lse = logSumExp(lj, 1, true);
    return [lj, tf.reshape(lse, [N]), tf.exp(tf.sub(lj, lse))];
  });
  return { logJoint: logJoint as tf.Tensor2D, logMarginal: logMarginal as tf.Tensor1D, resp: resp as tf.Tensor2D };
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * The E-step in one pass over the points, in double precision, into the three outputs
 * (float32 arrays of N K, N and N K). Full factors are copied once into a packed
 * lower-triangular P^T so the inner product runs over contiguous memory.
 */
export function gaussianEStepJS(
  x: ArrayLike<number>, means: ArrayLike<number>, precChol: ArrayLike<number>, logWeights: ArrayLike<number>,
  N: number, K: number, D: number, diagonal: boolean,
  logJoint: Float32Array, logMarginal: Float32Array, resp: Float32Array,
): void {
  const c = new Float64Array(K);
  const tri = (D * (D + 1)) / 2;
  const PT = new Float64Array(diagonal ? K * D : K * tri);
  for (let k = 0; k < K; k++) {
    let hld = 0;
    if (diagonal) {
      for (let d = 0; d < D; d++) {
        PT[k * D + d] = precChol[k * D + d];
        hld += Math.log(Math.abs(precChol[k * D + d]));
      }
    } else {
      // Row j of P_k^T holds P_k[i, j] for i <= j.
      let o = k * tri;
      for (let j = 0; j < D; j++) {
        for (let i = 0; i <= j; i++) PT[o++] = precChol[(k * D + i) * D + j];
        hld += Math.log(Math.abs(precChol[(k * D + j) * D + j]));
      }
    }
    c[k] = logWeights[k] + hld - D * HALF_LOG_2PI;
  }
  const diff = new Float64Array(D);
  const lj = new Float64Array(K);
  const e = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    const xo = n * D;
    let m = -Infinity;
    if (diagonal) {
      for (let k = 0; k < K; k++) {
        const mo = k * D;
        let maha = 0;
        for (let d = 0; d < D; d++) {
          const z = (x[xo + d] - means[mo + d]) * PT[mo + d];
          maha += z * z;
        }
        const v = c[k] - 0.5 * maha;
        lj[k] = v;
        if (v > m) m = v;
      }
    } else {
      for (let k = 0; k < K; k++) {
        const mo = k * D;
        for (let d = 0; d < D; d++) diff[d] = x[xo + d] - means[mo + d];
        let maha = 0;
        let o = k * tri;
        for (let j = 0; j < D; j++) {
          let z = 0;
          for (let i = 0; i <= j; i++) z += PT[o++] * diff[i];
          maha += z * z;
        }
        const v = c[k] - 0.5 * maha;
        lj[k] = v;
        if (v > m) m = v;
      }
    }
    // Shift by the max; an all -Infinity row (every weight zero) gives -Infinity, not NaN.
    // One exp per component: the responsibilities are e_k / sum e.
    const shift = m === -Infinity ? 0 : m;
    let s = 0;
    for (let k = 0; k < K; k++) {
      e[k] = Math.exp(lj[k] - shift);
      s += e[k];
    }
    logMarginal[n] = shift + Math.log(s);
    const ro = n * K;
    const inv = 1 / s;
    for (let k = 0; k < K; k++) {
      logJoint[ro + k] = lj[k];
      resp[ro + k] = e[k] * inv;
    }
  }
}


function dimsOf(inputs: tf.NamedTensorInfoMap): EStepDims & { x: tf.TensorInfo; means: tf.TensorInfo; precChol: tf.TensorInfo; logWeights: tf.TensorInfo } {
  const { x, means, precChol, logWeights } = inputs as Record<string, tf.TensorInfo>;
  const [N, D] = x.shape;
  return { x, means, precChol, logWeights, N, D, K: means.shape[0], diagonal: precChol.shape.length === 2 };
}


function cpuKernel({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const b = backend as CpuBackendLike;
  const d = dimsOf(inputs);
  const lj = new Float32Array(d.N * d.K);
  const lse = new Float32Array(d.N);
  const r = new Float32Array(d.N * d.K);
  gaussianEStepJS(b.readSync(d.x.dataId), b.readSync(d.means.dataId), b.readSync(d.precChol.dataId), b.readSync(d.logWeights.dataId), d.N, d.K, d.D, d.diagonal, lj, lse, r);
  return [b.makeTensorInfo([d.N, d.K], 'float32', lj), b.makeTensorInfo([d.N], 'float32', lse), b.makeTensorInfo([d.N, d.K], 'float32', r)];
}

function wasmKernel({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const b = backend as WasmBackendLike;
  const d = dimsOf(inputs);
  // readSync copies out of the heap, so the copies stay valid when makeOutput grows it.
  const xs = b.readSync(d.x.dataId);
  const ms = b.readSync(d.means.dataId);
  const ps = b.readSync(d.precChol.dataId);
  const ws = b.readSync(d.logWeights.dataId);
  const outs = [b.makeOutput([d.N, d.K], 'float32'), b.makeOutput([d.N], 'float32'), b.makeOutput([d.N, d.K], 'float32')];
  // Views only after every allocation: a heap growth detaches earlier views.
  const [lj, lse, r] = outs.map((o) => b.typedArrayFromHeap(o));
  gaussianEStepJS(xs, ms, ps, ws, d.N, d.K, d.D, d.diagonal, lj, lse, r);
  return outs;
}

for (const [backendName, kernelFunc] of [['cpu', cpuKernel], ['wasm', wasmKernel]] as const) {
  if (!tf.getKernel(GAUSSIAN_ESTEP_KERNEL, backendName)) {
    tf.registerKernel({ kernelName: GAUSSIAN_ESTEP_KERNEL, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
registerWebGPUEStep(GAUSSIAN_ESTEP_KERNEL);
