/**
 * The WebGPU kernels of the fused chain log partition function and its marginals (see
 * ./chain.ts), as WGSL programs in tfjs-backend-webgpu's form (see ./estep-webgpu.ts).
 * The recursions are sequential in T, so each runs in one workgroup that steps through the
 * chain with the state vector in workgroup memory (a barrier per step), in dispatches of at
 * most STEP_CHUNK steps that write one shared output and start from the row the previous
 * dispatch wrote (on Mesa's software adapter one dispatch of ~13,000 steps or more left its
 * output unwritten, without an error); each thread owns
 * states j = thread, thread + WG, ... and, for alpha, reads mats[t][., j] down a column
 * (neighbouring threads read neighbouring addresses). Dispatches:
 *  - log Z: alpha [T, K] (one workgroup), then log Z [1] (one thread);
 *  - marginals: alpha, beta [T, K] (one workgroup each), log Z, then p(z_1) [K] and the
 *    pairwise marginals [T-1, K, K], one thread per element.
 * K is compiled in (K <= MAX_K, for the workgroup arrays); T is a uniform. A batch of B
 * chains (init [B, K], mats [B, T-1, K, K]) runs the same programs with B workgroups per
 * recursion (workgroup b steps through chain b) and a thread per chain or element after.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelArgs, WebGPUBackendLike } from './backends';


/** Threads of the recursion workgroup. */
const WG = 64;
/** Largest K the recursion kernels take: two f32 arrays of K in workgroup memory (16 KiB is the guaranteed limit). */
export const WEBGPU_CHAIN_MAX_K = 1024;

/** The program fields; `extra` is `{ uniforms: 'numSteps : i32,' }` or `{ size: true }` (every program must read a uniform). */
function base(shaderKey: string, outputShape: number[], workgroups: number, variableNames: string[], extra: { uniforms?: string; size?: boolean }) {
  return {
    shaderKey,
    outputShape,
    variableNames,
    workgroupSize: [WG, 1, 1] as [number, number, number],
    dispatchLayout: { x: [0] },
    // Past the device's limit per dimension tfjs reshapes the dispatch (its global index spans x, y, z).
    dispatch: [workgroups, 1, 1],
    ...extra,
  };
}

/** The uniform data of the programs that read `numSteps` only (alpha's rows per chain: T, or 1 when alpha is init). */
const STEPS = (T: number) => [{ type: 'int32', data: [T] }];
/** The recursions' uniforms: the chain's length and the rows [first, last) this dispatch writes. */
const RANGE = { uniforms: 'numSteps : i32, first : i32, last : i32,' };
/** Steps of a recursion per dispatch. */
const STEP_CHUNK = 4096;

/** A max-shifted log-sum-exp over `n` terms `term(i)` (WGSL), into `out`; all -inf gives -inf. */
function lseLoop(out: string, n: string, term: (i: string) => string): string {
  return `var m = -3.0e38;
        for (var i = 0; i < ${n}; i++) { m = max(m, ${term('i')}); }
        var s = 0.0;
        for (var i = 0; i < ${n}; i++) { s = s + exp(${term('i')} - m); }
        let ${out} = m + log(s);`;
}

/**
 * alpha [T, K]: alpha[0] = init, alpha[t][j] = logsumexp_i alpha[t-1][i] + mats[t-1][i, j];
 * rows [first, last), starting from row first - 1 of its own output (`result`) past the first.
 */
function alphaProgram(T: number, K: number, B: number | undefined) {
  return {
    ...base(`mixppl_chain_alpha_${K}`, lead(B, [T, K]), B ?? 1, ['Init', 'Mats'], RANGE),
    getUserCode: () => `
      var<workgroup> cur : array<f32, ${K}>;
      var<workgroup> nxt : array<f32, ${K}>;
      fn main(index : i32) {
        let lid = i32(localIndex);
        // This workgroup's chain: its rows of init, mats and alpha.
        let T = uniforms.numSteps;
        let bi = index / ${WG};
        let io = bi * ${K};
        let mb = bi * (T - 1) * ${K * K};
        let ao = bi * T * ${K};
        let first = uniforms.first;
        for (var j = lid; j < ${K}; j += ${WG}) {
          if (first == 0) {
            let a = Init[io + j];
            cur[j] = a;
            setOutputAtIndex(ao + j, a);
          } else {
            cur[j] = result[ao + (first - 1) * ${K} + j];
          }
        }
        workgroupBarrier();
        for (var t = max(first, 1); t < uniforms.last; t++) {
          let mo = mb + (t - 1) * ${K * K};
          for (var j = lid; j < ${K}; j += ${WG}) {
            ${lseLoop('v', `${K}`, (i) => `cur[${i}] + Mats[mo + ${i} * ${K} + j]`)}
            nxt[j] = v;
            setOutputAtIndex(ao + t * ${K} + j, v);
          }
          workgroupBarrier();
          for (var j = lid; j < ${K}; j += ${WG}) { cur[j] = nxt[j]; }
          workgroupBarrier();
        }
      }`,
  };
}

/**
 * beta [T, K]: beta[T-1] = 0, beta[t][i] = logsumexp_j mats[t][i, j] + beta[t+1][j]; rows
 * [first, last), starting from row last of its own output (`result`) before the last row.
 */
function betaProgram(T: number, K: number, B: number | undefined) {
  return {
    ...base(`mixppl_chain_beta_${K}`, lead(B, [T, K]), B ?? 1, ['Mats'], RANGE),
    getUserCode: () => `
      var<workgroup> cur : array<f32, ${K}>;
      var<workgroup> nxt : array<f32, ${K}>;
      fn main(index : i32) {
        let lid = i32(localIndex);
        let T = uniforms.numSteps;
        let bi = index / ${WG};
        let mb = bi * (T - 1) * ${K * K};
        let bo = bi * T * ${K};
        let last = uniforms.last;
        for (var i = lid; i < ${K}; i += ${WG}) {
          if (last == T) {
            cur[i] = 0.0;
            setOutputAtIndex(bo + (T - 1) * ${K} + i, 0.0);
          } else {
            cur[i] = result[bo + last * ${K} + i];
          }
        }
        workgroupBarrier();
        for (var t = min(last, T - 1) - 1; t >= uniforms.first; t--) {
          let mo = mb + t * ${K * K};
          for (var r = lid; r < ${K}; r += ${WG}) {
            ${lseLoop('v', `${K}`, (j) => `Mats[mo + r * ${K} + ${j}] + cur[${j}]`)}
            nxt[r] = v;
            setOutputAtIndex(bo + t * ${K} + r, v);
          }
          workgroupBarrier();
          for (var r = lid; r < ${K}; r += ${WG}) { cur[r] = nxt[r]; }
          workgroupBarrier();
        }
      }`,
  };
}

/** log Z [1] (or [B], a thread per chain) = logsumexp of the last row of alpha. */
function logZProgram(K: number, B: number | undefined) {
  return {
    ...base(`mixppl_chain_logz_${K}`, [B ?? 1], Math.ceil((B ?? 1) / WG), ['Alpha'], { size: true, uniforms: 'numSteps : i32,' }),
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let T = uniforms.numSteps;
          let o = (index * T + T - 1) * ${K};
          ${lseLoop('v', `${K}`, (i) => `Alpha[o + ${i}]`)}
          setOutputAtIndex(index, v);
        }
      }`,
  };
}

/** p(z_1) [K] (or [B, K]) = exp(alpha[0] + beta[0] - log Z); for one step (no beta), exp(init - log Z). */
function firstProgram(K: number, withBeta: boolean, B: number | undefined) {
  return {
    ...base(`mixppl_chain_first_${K}_${withBeta}`, lead(B, [K]), Math.ceil(((B ?? 1) * K) / WG), withBeta ? ['Alpha', 'Beta', 'LogZ'] : ['Alpha', 'LogZ'], { size: true, uniforms: 'numSteps : i32,' }),
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let bi = index / ${K};
          let a = bi * uniforms.numSteps * ${K} + index % ${K};
          setOutputAtIndex(index, exp(Alpha[a]${withBeta ? ' + Beta[a]' : ''} - LogZ[bi]));
        }
      }`,
  };
}

/** Pairwise marginals [T-1, K, K] (or [B, T-1, K, K]): exp(alpha[t][i] + mats[t][i, j] + beta[t+1][j] - log Z). */
function pairsProgram(T: number, K: number, B: number | undefined) {
  const n = (B ?? 1) * (T - 1) * K * K;
  return {
    ...base(`mixppl_chain_pairs_${K}`, lead(B, [T - 1, K, K]), Math.ceil(n / WG), ['Alpha', 'Mats', 'Beta', 'LogZ'], { size: true, uniforms: 'numSteps : i32,' }),
    getUserCode: () => `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let T = uniforms.numSteps;
          let per = (T - 1) * ${K * K};
          let bi = index / per;
          let e = index % per;
          let j = e % ${K};
          let ti = e / ${K};
          let t = ti / ${K};
          let ao = bi * T * ${K};
          setOutputAtIndex(index, exp(Alpha[ao + ti] + Mats[index] + Beta[ao + (t + 1) * ${K} + j] - LogZ[bi]));
        }
      }`,
  };
}

/** An output shape with the batch's leading dim, if any. */
const lead = (B: number | undefined, shape: number[]) => (B === undefined ? shape : [B, ...shape]);

/**
 * The inputs, alpha (null for one step: alpha is init, and mats is empty, which WebGPU
 * cannot bind) and log Z [1] (or [B]).
 */
function forward(b: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap): { init: tf.TensorInfo; mats: tf.TensorInfo; alpha: tf.TensorInfo | null; logZ: tf.TensorInfo; T: number; K: number; B?: number } {
  const { init, mats, T, K, B } = chainInputs(inputs);
  if (K > WEBGPU_CHAIN_MAX_K) throw new RangeError(`chainLogZ: the webgpu kernel takes at most ${WEBGPU_CHAIN_MAX_K} states, got K = ${K}; use impl: 'reference'`);
  let alpha: tf.TensorInfo | null = null;
  for (let first = 0; T > 1 && first < T; first += STEP_CHUNK) {
    alpha = b.runWebGPUProgram(alphaProgram(T, K, B), [init, mats], 'float32', range(T, first, Math.min(T, first + STEP_CHUNK)), alpha ?? undefined);
  }
  const logZ = b.runWebGPUProgram(logZProgram(K, B), [alpha ?? init], 'float32', STEPS(alpha ? T : 1));
  return { init, mats, alpha, logZ, T, K, B };
}

/**
 * The chain kernels' inputs (shared by every backend's kernels): one chain (init [K], mats
 * [T-1, K, K]) or B of them (a leading B on both). @internal
 */
export function chainInputs(inputs: tf.NamedTensorInfoMap): { init: tf.TensorInfo; mats: tf.TensorInfo; T: number; K: number; B?: number } {
  const { init, mats } = inputs as Record<string, tf.TensorInfo>;
  const batched = init.shape.length === 2;
  return { init, mats, T: mats.shape[batched ? 1 : 0] + 1, K: init.shape[batched ? 1 : 0], ...(batched ? { B: init.shape[0] } : {}) };
}

/** The uniforms of one recursion dispatch. */
const range = (T: number, first: number, last: number) => [{ type: 'int32', data: [T] }, { type: 'int32', data: [first] }, { type: 'int32', data: [last] }];

function logZKernel({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const b = backend as WebGPUBackendLike;
  const { alpha, logZ } = forward(b, inputs);
  if (alpha) b.disposeData(alpha.dataId);
  return [logZ];
}

function marginalsKernel({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const b = backend as WebGPUBackendLike;
  const { init, mats, alpha, logZ, T, K, B } = forward(b, inputs);
  if (!alpha) {
    const first = b.runWebGPUProgram(firstProgram(K, false, B), [init, logZ], 'float32', STEPS(1));
    // A zero-size output: tfjs returns it without dispatching (or binding the inputs).
    const pairs = b.runWebGPUProgram(pairsProgram(T, K, B), [init, mats, init, logZ], 'float32', STEPS(T));
    return [logZ, first, pairs];
  }
  let beta: tf.TensorInfo | undefined;
  for (let last = T; last > 0; last -= STEP_CHUNK) {
    beta = b.runWebGPUProgram(betaProgram(T, K, B), [mats], 'float32', range(T, Math.max(0, last - STEP_CHUNK), last), beta);
  }
  if (!beta) throw new Error('internal: no beta dispatch');
  const first = b.runWebGPUProgram(firstProgram(K, true, B), [alpha, beta, logZ], 'float32', STEPS(T));
  const pairs = b.runWebGPUProgram(pairsProgram(T, K, B), [alpha, mats, beta, logZ], 'float32', STEPS(T));
  b.disposeData(alpha.dataId);
  b.disposeData(beta.dataId);
  return [logZ, first, pairs];
}

/** Registers the WGSL chain kernels for the `webgpu` backend (whether or not that backend is installed). */
export function registerWebGPUChain(logZName: string, marginalsName: string): void {
  for (const [kernelName, kernelFunc] of [[logZName, logZKernel], [marginalsName, marginalsKernel]] as const) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
