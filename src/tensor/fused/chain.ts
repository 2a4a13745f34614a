/**
 * The log partition function of a chain of discrete latents, and its gradient (the
 * forward-backward marginals), as one op. For K states over T steps with log potentials
 * `init` [K] (step 1) and `mats` [T-1, K, K] (mats[t][i, j] for state i at step t+1 and
 * state j at step t+2),
 *   log Z = log sum over paths z of exp(init[z_1] + sum_t mats[t][z_t, z_{t+1}]),
 * and its derivatives are the posterior marginals: d log Z / d init = p(z_1 = .) [K] and
 * d log Z / d mats[t] = p(z_{t+1} = ., z_{t+2} = .) [K, K].
 *
 * Two kernels of tfjs's registry: `MixpplChainLogZ` (the forward recursion,
 * alpha_{t+1}[j] = logsumexp_i alpha_t[i] + mats[t][i, j], then log Z = logsumexp alpha_T)
 * and `MixpplChainMarginals` (forward and backward recursions, then the marginals), which
 * is the first one's registered gradient. Both run in float64 JS on `cpu` and `wasm` (O(T K^2)
 * work, one pass each way) and as WGSL on `webgpu` (./chain-webgpu.ts). The float64 replay
 * of recorded programs lowers `MixpplChainLogZ` to the same recursions (replay-kernels.ts).
 * The reference, and the path on other backends, is {@link chainLogZReference}: a
 * balanced product tree of log-semiring matrix products in plain tf ops, O(T K^3) work in
 * O(log T) sequential steps, differentiated by tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import { logSumExp, logSumExpF64 } from '../special';
import { chainInputs, registerWebGPUChain } from './chain-webgpu';
import type { CpuBackendLike, KernelArgs, WasmBackendLike } from './backends';

/** The tfjs kernel name of the fused chain log partition function. */
export const CHAIN_LOGZ_KERNEL = 'MixpplChainLogZ';
/** The tfjs kernel name of the fused forward-backward marginals (the gradient of the former). */
export const CHAIN_MARGINALS_KERNEL = 'MixpplChainMarginals';

/** Options of {@link chainLogZ}. */
export interface ChainOptions {
  /**
   * `'fused'` runs the registered kernel (a RangeError if the backend has none), `'reference'`
   * the product tree of plain ops, `'auto'` (default) the kernel on cpu and wasm and the
   * tree elsewhere. On webgpu the kernel's recursions are sequential in T (one workgroup
   * steps through the chain) while the tree is parallel over T; which is faster on a GPU has
   * not been measured, so auto keeps the tree there.
   */
  impl?: 'auto' | 'fused' | 'reference';
}

/** The posterior marginals of a chain; the caller owns (and disposes) the tensors. */
export interface ChainMarginals {
  /** log Z, a scalar. */
  logZ: tf.Scalar;
  /** p(z_1 = k), [K]. */
  first: tf.Tensor1D;
  /** p(z_{t+1} = i, z_{t+2} = j), [T-1, K, K]. */
  pairs: tf.Tensor3D;
}

/**
 * The chain's T and K, and B for a batch of chains (init [B, K], mats [B, T-1, K, K]; `batch`
 * says whether one is allowed).
 */
function checkShapes(where: string, init: tf.Tensor, mats: tf.Tensor, batch = false): { T: number; K: number; B?: number } {
  const s = (t: tf.Tensor) => `[${t.shape.join(', ')}]`;
  const batched = batch && init.rank === 2;
  const lead = batched ? [init.shape[0]] : [];
  const K = init.shape[batched ? 1 : 0] as number;
  if (init.rank !== lead.length + 1 || !(K >= 1) || (batched && init.shape[0] < 1)) {
    throw new RangeError(`${where}: init must be [K]${batch ? ' (or [B, K] for B chains)' : ''} with K >= 1, got ${s(init)}`);
  }
  const m = mats.shape;
  if (mats.rank !== lead.length + 3 || (batched && m[0] !== lead[0]) || m[m.length - 2] !== K || m[m.length - 1] !== K) {
    throw new RangeError(`${where}: mats must be [${batched ? `${lead[0]}, ` : ''}T-1, ${K}, ${K}] (${batched ? 'B and ' : ''}K from init), got ${s(mats)}`);
  }
  for (const [name, t] of [['init', init], ['mats', mats]] as const) {
    if (t.dtype !== 'float32') throw new RangeError(`${where}: ${name} must be float32, got ${t.dtype}`);
  }
  return { T: m[lead.length] + 1, K, ...(batched ? { B: lead[0] } : {}) };
}

function useKernel(where: string, kernel: string, impl: ChainOptions['impl']): boolean {
  const mode = impl ?? 'auto';
  if (mode !== 'auto' && mode !== 'fused' && mode !== 'reference') throw new RangeError(`${where}: impl must be 'auto', 'fused' or 'reference', got '${mode}'`);
  const backend = tf.getBackend();
  const has = tf.getKernel(kernel, backend) !== undefined;
  if (mode === 'fused' && !has) throw new RangeError(`${where}: no fused chain kernel for the '${backend}' backend (there are for cpu, wasm, webgpu)`);
  return mode === 'fused' || (mode === 'auto' && has && backend !== 'webgpu');
}

/**
 * log Z of a chain (see the module comment), differentiable: its gradient with respect to
 * `init` and `mats` is the forward-backward marginals. A batch of B independent chains of one
 * length, `init` [B, K] and `mats` [B, T-1, K, K], gives their log Z [B] as one op (the
 * evaluator's batch of parameter points, each with its own chain).
 *
 * @example
 * // A two-state chain over three steps: log p(y) of an HMM, with the emissions folded in.
 * const logZ = chainLogZ(tf.add(logPi, logLik0), tf.add(logA, logLikRest)); // logLikRest [2, 1, 2]
 */
export function chainLogZ(init: tf.Tensor, mats: tf.Tensor, opts?: ChainOptions): tf.Scalar;
export function chainLogZ(init: tf.Tensor2D, mats: tf.Tensor4D, opts?: ChainOptions): tf.Tensor1D;
export function chainLogZ(init: tf.Tensor, mats: tf.Tensor, opts: ChainOptions = {}): tf.Tensor {
  const { B } = checkShapes('chainLogZ', init, mats, true);
  if (!useKernel('chainLogZ', CHAIN_LOGZ_KERNEL, opts.impl)) return chainLogZReference(init, mats);
  // The kernels return a list of outputs (one here), so runKernel does too.
  const [out] = tf.engine().runKernel(CHAIN_LOGZ_KERNEL, { init, mats } as unknown as tf.NamedTensorMap, {}) as unknown as tf.Tensor[];
  const logZ = tf.reshape(out, B === undefined ? [] : [B]);
  out.dispose();
  return logZ;
}

/**
 * log Z and the posterior marginals of a chain by one forward and one backward recursion
 * (`impl` as for {@link chainLogZ}; the reference differentiates the product tree).
 */
export function chainMarginals(init: tf.Tensor, mats: tf.Tensor, opts: ChainOptions = {}): ChainMarginals {
  const { T, K } = checkShapes('chainMarginals', init, mats);
  if (!useKernel('chainMarginals', CHAIN_MARGINALS_KERNEL, opts.impl)) {
    if (T === 1) {
      // The tree does not touch an empty mats, so tf.grads would refuse to differentiate by it.
      const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => chainLogZReference(a, mats))(init);
      return { logZ: value as tf.Scalar, first: grad as tf.Tensor1D, pairs: tf.zeros([0, K, K]) };
    }
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => chainLogZReference(a, b))([init, mats]);
    return { logZ: value as tf.Scalar, first: grads[0] as tf.Tensor1D, pairs: grads[1] as tf.Tensor3D };
  }
  const out = tf.engine().runKernel(CHAIN_MARGINALS_KERNEL, { init, mats } as unknown as tf.NamedTensorMap, {}) as unknown as tf.Tensor[];
  const logZ = tf.reshape(out[0], []) as tf.Scalar;
  out[0].dispose();
  return { logZ, first: out[1] as tf.Tensor1D, pairs: out[2] as tf.Tensor3D };
}

// ------------------------------------------------------------------ reference

/** Budget of elements for one batched log-matmul level before it is split into chunks. */
const LOGMATMUL_CHUNK = 1 << 24;

/** C[b,i,j] = logsumexp_k A[b,i,k] + B[b,k,j]. */
function logMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const n = a.shape[0];
  const K = a.shape[1] as number;
  const per = Math.max(1, Math.floor(LOGMATMUL_CHUNK / (K * K * K)));
  if (n <= per) return logSumExp(tf.add(tf.expandDims(a, 3), tf.expandDims(b, 1)), 2);
  const out: tf.Tensor[] = [];
  for (let s = 0; s < n; s += per) {
    const m = Math.min(per, n - s);
    out.push(logMatMul(tf.slice(a, [s, 0, 0], [m, K, K]), tf.slice(b, [s, 0, 0], [m, K, K])));
  }
  return tf.concat(out, 0);
}

/**
 * Stand-in for -Infinity in the product tree: a log-sum-exp over only -Infinity terms has a
 * NaN gradient (0/0 softmax weights, multiplied by the zero gradient the -Infinity entry
 * gets), and partial products of a chain with impossible transitions have such entries
 * (no path from i to j in two steps). Below -1e30 exp is 0 in any float format; sums of
 * up to 10^8 such terms stay finite in float32.
 */
const LOG_ZERO = -1e30;

/**
 * log Z of a chain by a balanced product tree of log-semiring matrix products: O(T K^3) work
 * in O(log T) sequential tensor steps. The plain-op reference of {@link chainLogZ}.
 * Potentials below -1e30 count as -1e30 (see LOG_ZERO), so impossible transitions get zero
 * marginals rather than NaN; a chain with no possible path gives -Infinity.
 */
export function chainLogZReference(init: tf.Tensor, mats: tf.Tensor): tf.Scalar;
export function chainLogZReference(init: tf.Tensor2D, mats: tf.Tensor4D): tf.Tensor1D;
export function chainLogZReference(init: tf.Tensor, mats: tf.Tensor): tf.Tensor {
  const { K, B } = checkShapes('chainLogZReference', init, mats, true);
  const n = B ?? 1;
  return tf.tidy(() => {
    // Every chain of a batch reduced together: levels of [n, L, K, K].
    const first = tf.reshape(tf.maximum(init, LOG_ZERO), [n, K]);
    let m = tf.maximum(mats, LOG_ZERO);
    m = tf.reshape(m, [n, m.shape[m.rank - 3] as number, K, K]);
    while ((m.shape[1] as number) > 1) {
      const L = m.shape[1] as number;
      const even = L - (L % 2);
      const pairs = tf.reshape(tf.slice(m, [0, 0, 0, 0], [n, even, K, K]), [n * (even / 2), 2, K, K]);
      const [a, b] = tf.unstack(pairs, 1);
      let next = tf.reshape(logMatMul(a, b), [n, even / 2, K, K]);
      if (L % 2) next = tf.concat([next, tf.slice(m, [0, L - 1, 0, 0], [n, 1, K, K])], 1);
      m = next;
    }
    // One step: mats is empty and not used (so not on the gradient tape).
    const logZ = m.shape[1] === 0
      ? logSumExp(first, 1)
      : logSumExp(tf.add(tf.expandDims(first, 2), tf.reshape(m, [n, K, K])), [1, 2]);
    const out = tf.where(tf.less(logZ, LOG_ZERO / 10), tf.fill([n], -Infinity), logZ);
    return tf.reshape(out, B === undefined ? [] : [B]);
  });
}

// ------------------------------------------------------------------ float64 recursions

/**
 * The forward recursion in float64: writes alpha [T, K] (alpha[0] = init) and returns log Z.
 * `mats` is [T-1, K, K] row-major.
 */
export function chainForwardJS(init: ArrayLike<number>, mats: ArrayLike<number>, T: number, K: number, alpha: Float64Array): number {
  for (let j = 0; j < K; j++) alpha[j] = init[j];
  const col = new Float64Array(K);
  for (let t = 1; t < T; t++) {
    const a = (t - 1) * K;
    const mo = (t - 1) * K * K;
    for (let j = 0; j < K; j++) {
      let m = -Infinity;
      for (let i = 0; i < K; i++) {
        const x = alpha[a + i] + mats[mo + i * K + j];
        col[i] = x;
        if (x > m) m = x;
      }
      const shift = m === -Infinity ? 0 : m;
      let s = 0;
      for (let i = 0; i < K; i++) s += Math.exp(col[i] - shift);
      alpha[t * K + j] = shift + Math.log(s);
    }
  }
  return logSumExpF64(alpha.subarray((T - 1) * K, T * K));
}

/** A writable array of numbers (Float32Array, Float64Array, number[]). */
export interface NumberArray {
  [k: number]: number;
  readonly length: number;
}

/**
 * The backward recursion after {@link chainForwardJS} (its `alpha` and `logZ`), in float64:
 * writes `scale` times p(z_1 = k) into `first` [K] and `scale` times
 * p(z_{t+1} = i, z_{t+2} = j) into `pairs` [T-1, K, K] (either may be null), adding to what
 * they hold when `accumulate` (a vector-Jacobian product). beta is kept for one step at a
 * time, so nothing of size T is allocated.
 */
export function chainBackwardJS(
  mats: ArrayLike<number>, T: number, K: number, alpha: Float64Array, logZ: number,
  first: NumberArray | null, pairs: NumberArray | null, scale = 1, accumulate = false,
): void {
  let beta = new Float64Array(K);
  let prev = new Float64Array(K);
  const row = new Float64Array(K);
  for (let t = T - 2; t >= 0; t--) {
    const mo = t * K * K;
    const a = t * K;
    for (let i = 0; i < K; i++) {
      let m = -Infinity;
      const base = alpha[a + i] - logZ;
      const ro = mo + i * K;
      for (let j = 0; j < K; j++) {
        const x = mats[ro + j] + beta[j];
        row[j] = x;
        if (x > m) m = x;
      }
      if (pairs) {
        if (accumulate) for (let j = 0; j < K; j++) pairs[ro + j] += scale * Math.exp(base + row[j]);
        else for (let j = 0; j < K; j++) pairs[ro + j] = scale * Math.exp(base + row[j]);
      }
      const shift = m === -Infinity ? 0 : m;
      let s = 0;
      for (let j = 0; j < K; j++) s += Math.exp(row[j] - shift);
      prev[i] = shift + Math.log(s);
    }
    [beta, prev] = [prev, beta];
  }
  if (first) {
    for (let k = 0; k < K; k++) {
      const p = scale * Math.exp(alpha[k] + beta[k] - logZ);
      first[k] = accumulate ? first[k] + p : p;
    }
  }
}

// ------------------------------------------------------------------ kernels



/**
 * Runs the recursions on host arrays, chain by chain; `outs` receives logZ [n] (, first
 * [n, K], pairs [n, T-1, K, K]).
 */
function hostChain(init: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, mats: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, T: number, K: number, n: number, outs: Float32Array[]): void {
  const alpha = new Float64Array(T * K);
  const M = (T - 1) * K * K;
  for (let b = 0; b < n; b++) {
    const mb = mats.subarray(b * M, (b + 1) * M);
    const logZ = chainForwardJS(init.subarray(b * K, (b + 1) * K), mb, T, K, alpha);
    outs[0][b] = logZ;
    if (outs.length > 1) chainBackwardJS(mb, T, K, alpha, logZ, outs[1].subarray(b * K, (b + 1) * K), outs[2].subarray(b * M, (b + 1) * M));
  }
}

function shapes(T: number, K: number, marginals: boolean, B?: number): number[][] {
  const lead = B === undefined ? [] : [B];
  return marginals ? [B === undefined ? [1] : [B], [...lead, K], [...lead, T - 1, K, K]] : [B === undefined ? [1] : [B]];
}

function cpuKernel(marginals: boolean) {
  return ({ inputs, backend }: KernelArgs): tf.TensorInfo[] => {
    const b = backend as CpuBackendLike;
    const d = chainInputs(inputs);
    const sh = shapes(d.T, d.K, marginals, d.B);
    const outs = sh.map((s) => new Float32Array(s.reduce((p, q) => p * q, 1)));
    hostChain(b.readSync(d.init.dataId) as Float32Array, b.readSync(d.mats.dataId) as Float32Array, d.T, d.K, d.B ?? 1, outs);
    return sh.map((s, i) => b.makeTensorInfo(s, 'float32', outs[i]));
  };
}

function wasmKernel(marginals: boolean) {
  return ({ inputs, backend }: KernelArgs): tf.TensorInfo[] => {
    const b = backend as WasmBackendLike;
    const d = chainInputs(inputs);
    // readSync copies out of the heap, so the copies stay valid when makeOutput grows it.
    const init = b.readSync(d.init.dataId);
    const mats = b.readSync(d.mats.dataId);
    const infos = shapes(d.T, d.K, marginals, d.B).map((s) => b.makeOutput(s, 'float32'));
    // Views only after every allocation: a heap growth detaches earlier views.
    hostChain(init as Float32Array, mats as Float32Array, d.T, d.K, d.B ?? 1, infos.map((o) => b.typedArrayFromHeap(o)));
    return infos;
  };
}

for (const [backendName, make] of [['cpu', cpuKernel], ['wasm', wasmKernel]] as const) {
  for (const [kernelName, marginals] of [[CHAIN_LOGZ_KERNEL, false], [CHAIN_MARGINALS_KERNEL, true]] as const) {
    if (!tf.getKernel(kernelName, backendName)) {
      tf.registerKernel({ kernelName, backendName, kernelFunc: make(marginals) as unknown as tf.KernelFunc });
    }
  }
}
registerWebGPUChain(CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL);

// The gradient of log Z is the marginals, scaled by the upstream gradient. The marginals
// kernel has no gradient of its own: nothing in mixppl differentiates log Z twice (the
// reference tree can be, with impl: 'reference').
if (!tf.getGradient(CHAIN_LOGZ_KERNEL)) {
  tf.registerGradient({
    kernelName: CHAIN_LOGZ_KERNEL,
    inputsToSave: ['init', 'mats'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [init, mats] = saved;
      const out = tf.engine().runKernel(CHAIN_MARGINALS_KERNEL, { init, mats } as unknown as tf.NamedTensorMap, {}) as unknown as tf.Tensor[];
      // dy is [1] for one chain, [B] for a batch: each chain's marginals scaled by its own.
      const g = dy as tf.Tensor;
      const per = (t: tf.Tensor) => tf.mul(t, tf.reshape(g, [g.size, ...new Array<number>(t.rank - 1).fill(1)]));
      return { init: () => per(out[1]), mats: () => per(out[2]) };
    },
  });
}
