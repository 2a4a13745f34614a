/**
 * The weighted sufficient statistics of a Gaussian-mixture M-step as one op: for data
 * X [N, D], responsibilities R [N, K] and per-component centres C [K, D] (zero by
 * default; the current means keep the second moments free of cancellation),
 *   n_k = sum_n r_nk,   s_k = sum_n r_nk (x_n - c_k),
 *   S_k = sum_n r_nk (x_n - c_k)(x_n - c_k)^T   [K, D, D]   (full)
 *       or sum_n r_nk (x_n - c_k)^2              [K, D]      (diagonal).
 * Registered as the kernel `MixpplGaussianSuffStats` for `cpu` and `wasm` (one pass in JS,
 * double-precision accumulators) and `webgpu` (two WGSL passes, ./suff-stats-webgpu.ts);
 * elsewhere, and as the reference, plain tf ops ({@link gaussianSuffStatsReference}).
 */
import * as tf from '@tensorflow/tfjs';
import { registerWebGPUSuffStats } from './suff-stats-webgpu';
import type { CpuBackendLike, KernelArgs, WasmBackendLike } from './backends';

/** The tfjs kernel name of the fused sufficient statistics. */
export const GAUSSIAN_SUFF_STATS_KERNEL = 'MixpplGaussianSuffStats';

/** What {@link gaussianSuffStats} returns; the caller owns (and disposes) the tensors. */
export interface SuffStats {
  /** sum_n r_nk, [K]. */
  n: tf.Tensor1D;
  /** sum_n r_nk (x_n - c_k), [K, D]. */
  s1: tf.Tensor2D;
  /** sum_n r_nk (x_n - c_k)(x_n - c_k)^T [K, D, D], or its diagonal [K, D] when `diagonal`. */
  s2: tf.Tensor;
}

/** Options of {@link gaussianSuffStats}. */
export interface SuffStatsOptions {
  /** Only the diagonal of the second moments (default false). */
  diagonal?: boolean;
  /** Per-component centres c [K, D] (default zero). */
  centre?: tf.Tensor;
  /** `'auto'` (default) runs the kernel where the backend has one and it pays; see {@link gaussianSuffStats}. */
  impl?: 'auto' | 'fused' | 'reference';
}

function check(where: string, x: tf.Tensor, resp: tf.Tensor, centre: tf.Tensor | undefined): { N: number; K: number; D: number } {
  const s = (t: tf.Tensor) => `[${t.shape.join(', ')}]`;
  if (x.rank !== 2) throw new RangeError(`${where}: x must be [N, D], got ${s(x)}`);
  const [N, D] = x.shape as [number, number];
  if (resp.rank !== 2 || resp.shape[0] !== N) throw new RangeError(`${where}: resp must be [${N}, K] (N from x), got ${s(resp)}`);
  const K = resp.shape[1] as number;
  if (K < 1 || D < 1) throw new RangeError(`${where}: need K >= 1 and D >= 1, got K = ${K}, D = ${D}`);
  if (centre && (centre.rank !== 2 || centre.shape[0] !== K || centre.shape[1] !== D)) throw new RangeError(`${where}: centre must be [${K}, ${D}], got ${s(centre)}`);
  for (const [name, t] of [['x', x], ['resp', resp], ['centre', centre]] as const) {
    if (t && t.dtype !== 'float32') throw new RangeError(`${where}: ${name} must be float32, got ${t.dtype}`);
  }
  return { N, K, D };
}

/**
 * Above this many inner steps (N K D diagonal, N K D (D + 1) / 2 full) the wasm backend's
 * matmuls beat the JS loop, as for the E-step (see WASM_FUSED_MAX_STEPS in ./estep.ts).
 */
const WASM_FUSED_MAX_STEPS = 1e6;

/**
 * Returns the weighted sufficient statistics (n [K], s1 [K, D], s2 [K, D, D] or [K, D]) of
 * the M-step in one op; see the module comment. `'auto'` runs the kernel on cpu, and on
 * wasm for problems up to 10^6 inner steps; otherwise (webgpu included, until its kernel
 * has been timed on a GPU) plain ops; `'fused'` forces the kernel.
 *
 * @example
 * const { n, s1, s2 } = gaussianSuffStats(x, resp, { centre: mu });
 * const newMu = tf.add(mu, tf.div(s1, tf.expandDims(n, 1)));
 */
export function gaussianSuffStats(x: tf.Tensor, resp: tf.Tensor, opts: SuffStatsOptions = {}): SuffStats {
  const where = 'gaussianSuffStats';
  const { N, K, D } = check(where, x, resp, opts.centre);
  const diagonal = opts.diagonal ?? false;
  const impl = opts.impl ?? 'auto';
  if (impl !== 'auto' && impl !== 'fused' && impl !== 'reference') throw new RangeError(`${where}: impl must be 'auto', 'fused' or 'reference', got '${impl}'`);
  const backend = tf.getBackend();
  const hasKernel = tf.getKernel(GAUSSIAN_SUFF_STATS_KERNEL, backend) !== undefined;
  if (impl === 'fused' && !hasKernel) throw new RangeError(`${where}: no fused kernel for the '${backend}' backend (there are for cpu, wasm, webgpu)`);
  // On webgpu the WGSL kernel has not been timed on a GPU yet (bench/gpu.ts has the
  // columns), so auto keeps the plain ops there until it has.
  const pays = backend === 'cpu' || (backend === 'wasm' && N * K * (diagonal ? D : (D * (D + 1)) / 2) <= WASM_FUSED_MAX_STEPS);
  if (impl === 'reference' || !hasKernel || (impl === 'auto' && !pays)) return referenceUnchecked(x, resp, opts.centre, diagonal, K, D);
  return tf.tidy(() => {
    const centre = opts.centre ?? tf.zeros([K, D]);
    const packed = tf.engine().runKernel(GAUSSIAN_SUFF_STATS_KERNEL, { x, resp, centre } as unknown as tf.NamedTensorMap, { diagonal }) as tf.Tensor2D;
    const n = tf.reshape(tf.slice(packed, [0, 0], [K, 1]), [K]) as tf.Tensor1D;
    const s1 = tf.slice(packed, [0, 1], [K, D]) as tf.Tensor2D;
    const s2 = diagonal ? tf.slice(packed, [0, 1 + D], [K, D]) : tf.reshape(tf.slice(packed, [0, 1 + D], [K, D * D]), [K, D, D]);
    return { n, s1, s2 };
  });
}

/** The sufficient statistics with plain tf ops (the reference the kernels are tested against); memory O(N K D). */
export function gaussianSuffStatsReference(x: tf.Tensor, resp: tf.Tensor, opts: Omit<SuffStatsOptions, 'impl'> = {}): SuffStats {
  const { K, D } = check('gaussianSuffStatsReference', x, resp, opts.centre);
  return referenceUnchecked(x, resp, opts.centre, opts.diagonal ?? false, K, D);
}

function referenceUnchecked(x: tf.Tensor, resp: tf.Tensor, centre: tf.Tensor | undefined, diagonal: boolean, K: number, D: number): SuffStats {
  return tf.tidy(() => {
    const n = tf.sum(resp, 0) as tf.Tensor1D;
    const diff = centre ? tf.sub(tf.expandDims(x, 1), tf.expandDims(centre, 0)) : tf.expandDims(x, 1); // [N, K or 1, D]
    const rd = tf.mul(tf.expandDims(resp, 2), diff); // [N, K, D]
    const s1 = tf.sum(rd, 0) as tf.Tensor2D;
    let s2: tf.Tensor;
    if (diagonal) {
      s2 = tf.sum(tf.mul(rd, diff), 0);
    } else {
      // Per component, (r_k * d_k)^T d_k: K matmuls [D, N] x [N, D].
      const parts: tf.Tensor[] = [];
      for (let k = 0; k < K; k++) {
        const dk = centre ? tf.sub(x, tf.slice(centre, [k, 0], [1, D])) : x;
        const rk = tf.slice(resp, [0, k], [-1, 1]);
        parts.push(tf.matMul(tf.mul(dk, rk), dk, true, false));
      }
      s2 = tf.stack(parts);
    }
    return { n, s1, s2 };
  });
}

/** The statistics in one pass over the points, double-precision accumulators, into `out` [K, 1 + D + (diagonal ? D : D D)]. */
export function gaussianSuffStatsJS(
  x: ArrayLike<number>, resp: ArrayLike<number>, centre: ArrayLike<number>, N: number, K: number, D: number, diagonal: boolean, out: Float32Array,
): void {
  const S = 1 + D + (diagonal ? D : D * D);
  const acc = new Float64Array(K * S);
  const d = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const r = resp[n * K + k];
      if (r === 0) continue;
      const o = k * S;
      acc[o] += r;
      for (let i = 0; i < D; i++) {
        d[i] = x[n * D + i] - centre[k * D + i];
        acc[o + 1 + i] += r * d[i];
      }
      const o2 = o + 1 + D;
      if (diagonal) {
        for (let i = 0; i < D; i++) acc[o2 + i] += r * d[i] * d[i];
      } else {
        // The upper triangle here, mirrored below after the loop.
        for (let i = 0; i < D; i++) {
          const rdi = r * d[i];
          const row = o2 + i * D;
          for (let j = i; j < D; j++) acc[row + j] += rdi * d[j];
        }
      }
    }
  }
  if (!diagonal) {
    for (let k = 0; k < K; k++) {
      const o2 = k * S + 1 + D;
      for (let i = 0; i < D; i++) for (let j = 0; j < i; j++) acc[o2 + i * D + j] = acc[o2 + j * D + i];
    }
  }
  out.set(acc);
}


function unpack({ inputs, attrs }: KernelArgs) {
  const { x, resp, centre } = inputs as Record<string, tf.TensorInfo>;
  const [N, D] = x.shape;
  const K = resp.shape[1];
  const diagonal = (attrs as { diagonal?: boolean } | undefined)?.diagonal === true;
  return { x, resp, centre, N, K, D, diagonal, S: 1 + D + (diagonal ? D : D * D) };
}

function cpuKernel(args: KernelArgs): tf.TensorInfo {
  const b = args.backend as CpuBackendLike;
  const u = unpack(args);
  const out = new Float32Array(u.K * u.S);
  gaussianSuffStatsJS(b.readSync(u.x.dataId), b.readSync(u.resp.dataId), b.readSync(u.centre.dataId), u.N, u.K, u.D, u.diagonal, out);
  return b.makeTensorInfo([u.K, u.S], 'float32', out);
}

function wasmKernel(args: KernelArgs): tf.TensorInfo {
  const b = args.backend as WasmBackendLike;
  const u = unpack(args);
  const xs = b.readSync(u.x.dataId);
  const rs = b.readSync(u.resp.dataId);
  const cs = b.readSync(u.centre.dataId);
  const out = b.makeOutput([u.K, u.S], 'float32');
  gaussianSuffStatsJS(xs, rs, cs, u.N, u.K, u.D, u.diagonal, b.typedArrayFromHeap(out));
  return out;
}

for (const [backendName, kernelFunc] of [['cpu', cpuKernel], ['wasm', wasmKernel]] as const) {
  if (!tf.getKernel(GAUSSIAN_SUFF_STATS_KERNEL, backendName)) {
    tf.registerKernel({ kernelName: GAUSSIAN_SUFF_STATS_KERNEL, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
registerWebGPUSuffStats(GAUSSIAN_SUFF_STATS_KERNEL);
