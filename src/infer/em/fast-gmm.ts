/**
 * A fused E-step for Gaussian mixtures, recognised from the IR: one enumerated latent z
 * in one plate, `z ~ categorical(w)` (or the mixture sugar), and one observation
 * `x ~ mvnormal_cholesky(mu[z], L[z])` / `mvnormal(mu[z], Sigma[z])` /
 * `mvnormal_cholesky(mu[z], diag_pre_multiply(tau[z], Lc[z]))` (or tied forms) of
 * data x[N, D], with nothing else in the model but priors. Per component it is one
 * [N, D] x [D, D] product with the inverse Cholesky factor and a row sum, instead of a
 * batched triangular solve over [N, K, D] and its gradient. The generic E-step is the
 * reference it is tested against. fuseGmmUpdates does the same for the closed-form
 * M-step of weights, means and per-component covariances. With few features on the host
 * backends both run in the compiled float64 kernel instead (src/native/gmm.ts; NATIVE_MAX_D),
 * as does the k-means start (the E-step's `start`): the E-step leaves its weighted sums with the
 * responsibilities tensor it returns, and the M-step solves from them.
 */
import { tf, cholesky, triangularSolve, eye, logSumExp, matrixDiagPart, canReadSync, selectOnDevice, gaussianEStep, type Tensor } from '../../tensor';
import type { BoundModel } from '../../model/bound-model';
import type { Factor, IRExpr } from '../../ir/types';
import type { ClosedFormUpdate } from './closed-form';
import { GmmKernel, factorProblem, kernelBytes, kmeansFitNative, nativeAvailable, type GmmStats } from '../../native/gmm';
import { kmeansLabels, hardMarginals } from './init';
import type { Rng } from '../../tensor/random';

/**
 * A fused E-step. `compiled`: it runs in the compiled float64 kernel (src/native) rather than
 * on tensor ops; then `start` is the k-means start in the same kernel (see fastGmmEStep).
 */
export type FastEStep = ((params: ReadonlyMap<string, Tensor>) => { logZ: Tensor; marginals: Map<string, Tensor> }) & {
  compiled?: boolean;
  start?: (rng: Rng, sample?: number | false) => Map<string, Tensor> | undefined;
};

const sel = (e: IRExpr | undefined, lat: string): string | undefined =>
  e && e.op === 'index' && e.target.op === 'param' && e.indices.length === 1 && e.indices[0].op === 'latent' && e.indices[0].name === lat && e.indices[0].index.every((i) => 'plate' in i && i.shift === 0)
    ? e.target.name : undefined;

/** The Gaussian-mixture shape (see the module comment), or undefined. */
function recognise(bm: BoundModel, priors: boolean) {
  const ir = bm.ir;
  if (priors || ir.latents.length !== 1 || ir.lets.length) return undefined;
  const lat = ir.latents[0];
  if (lat.chain || lat.plates.length !== 1) return undefined;
  const nonPrior = ir.factors.filter((f) => f.kind !== 'prior');
  if (nonPrior.length !== 2) return undefined;
  const zf = nonPrior.find((f) => f.kind === 'latent');
  const xf = nonPrior.find((f) => f.kind === 'obs');
  if (!zf || !xf || zf.dist?.kind !== 'family' || xf.dist?.kind !== 'family') return undefined;
  if (zf.dist.family !== 'categorical' || zf.dist.args[0].op !== 'param') return undefined;
  const wName = zf.dist.args[0].name;
  const fam = xf.dist.family;
  if (fam !== 'mvnormal' && fam !== 'mvnormal_cholesky') return undefined;
  const muName = sel(xf.dist.args[0], lat.name);
  if (!muName) return undefined;
  const value = xf.value;
  const plate = lat.plates[0];
  // The observed value must be x[n] with x data [N, D] and n the latent's plate variable over all of x.
  if (!value || value.op !== 'index' || value.target.op !== 'data' || value.indices.length !== 1 || value.indices[0].op !== 'loop' || value.indices[0].plate !== plate) return undefined;
  const x = bm.rt.data.get(value.target.name);
  const pr = bm.rt.plates.get(plate)!;
  if (!x || x.rank !== 2 || pr.lo !== 1 || pr.size !== x.shape[0]) return undefined;
  const D = x.shape[1] as number;
  const K = bm.rt.latents.get(lat.name)!.K;
  return { lat: lat.name, wName, muName, fam, xf, x, N: x.shape[0] as number, D, K };
}

/**
 * Up to this many features the E-step runs in the compiled kernel (src/native/gmm.ts) on
 * the host backends: there it is a few tensor ops' worth of work per row, and each tensor op
 * is a pass over [N, K] or [N, K D]; past it the tensor path's matrix products win
 * (bench/results/em.md).
 */
export const NATIVE_MAX_D = 8;

/** Options of the fused steps. */
export interface FastGmmOptions {
  /** Bounds the tensor path's row blocks' temporaries (see rowBlocks). */
  blockElements?: number;
  /** Use the compiled kernel where it applies (default true; false: the tensor path always). */
  native?: boolean;
}

/** One compiled kernel per binding (its copy of the rows lives as long as the binding). */
const kernels = new WeakMap<BoundModel, GmmKernel>();

/** The statistics the compiled E-step computed with these responsibilities, for the fused M-step. */
const nativeStats = new WeakMap<Tensor, GmmStats>();

/** The entropy of responsibilities the compiled E-step computed (float64), else undefined. */
export function knownEntropy(resp: Tensor): number | undefined {
  return nativeStats.get(resp)?.entropy;
}

/** Whether the compiled E-step serves this model here: host backend, WebAssembly SIMD, few features, and its copy of the rows within 1 GiB (wasm32 memory). */
function useNative(N: number, D: number, K: number, opts: FastGmmOptions): boolean {
  return opts.native !== false && D <= NATIVE_MAX_D && kernelBytes(N, D, K) <= 2 ** 30
    && ['cpu', 'wasm', 'tensorflow'].includes(tf.getBackend()) && nativeAvailable();
}

/** The binding's compiled kernel (made on first use from the data's values). */
function kernelFor(bm: BoundModel, x: Tensor, N: number, D: number, K: number): GmmKernel {
  let kern = kernels.get(bm);
  if (!kern) { kern = new GmmKernel(x.dataSync(), N, D, K); kernels.set(bm, kern); }
  return kern;
}

/**
 * The fused E-step when the model has the Gaussian-mixture shape (and priors are left out),
 * else undefined. Where the compiled kernel serves it, `step.start` is the k-means start
 * (init.ts kmeansMarginals: the same draws and centres) with the kernel labelling the rows
 * and computing the hard responsibilities' statistics, so the first M-step reads them
 * instead of summing the one-hot tensor.
 */
export function fastGmmEStep(bm: BoundModel, priors: boolean, opts: FastGmmOptions = {}): FastEStep | undefined {
  const g = recognise(bm, priors);
  if (!g) return undefined;
  const { lat, wName, muName, fam, xf, x, N, D, K } = g;
  const blockElements = opts.blockElements ?? BLOCK_ELEMENTS;
  const covFactor = covarianceFactor(fam, xf, lat);
  if (!covFactor) return undefined;
  const native = useNative(N, D, K, opts);
  const step: FastEStep = (params) => {
    if (native) {
      // The compiled kernel (float64): parameters read to the host, responsibilities back as a
      // tensor, the M-step's statistics kept for fuseGmmUpdates. A factor that is not a valid
      // Cholesky factor (a covariance that is not positive definite) takes the tensor path.
      const w = params.get(wName)!.dataSync();
      const mu = params.get(muName)!.dataSync();
      const L = tf.tidy(() => covFactor(params, K).dataSync());
      if (!factorProblem(L, K, D)) {
        const r = kernelFor(bm, x, N, D, K).estep(w, mu, L);
        const resp = tf.tensor2d(r.resp, [N, K]);
        nativeStats.set(resp, r.stats);
        return { logZ: tf.scalar(r.logLik), marginals: new Map([[lat, resp as Tensor]]) };
      }
    }
    const w = params.get(wName)!;
    const mu = params.get(muName)!;
    const L = covFactor(params, K); // [K, D, D] lower
    // Linv = L^{-1} by one small batched solve; then z_k = (x - mu_k) Linv_k^T.
    const Linv = triangularSolve(L, tf.broadcastTo(eye(D), [K, D, D]));
    if (tf.getBackend() === 'webgpu') {
      // webgpu: the fused WGSL E-step (src/tensor/fused), with scikit-learn's precision
      // factors P_k = L_k^{-T}; no [N, K D] intermediate. Elsewhere the plain ops below, as before.
      const r = gaussianEStep(x as tf.Tensor2D, mu as tf.Tensor2D, tf.transpose(Linv, [0, 2, 1]), tf.log(w) as tf.Tensor1D, { validate: false });
      return { logZ: tf.sum(r.logMarginal), marginals: new Map([[lat, r.resp as Tensor]]) };
    }
    const halfLogDet = tf.sum(tf.log(tf.abs(matrixDiagPart(L))), 1); // log |det L| = Σ log |L_ii|
    // One product for all components: z[n, k, :] = Linv_k x_n - Linv_k mu_k.
    // (Plain, untransposed matmuls: a transposed operand is several times slower on wasm.)
    const LinvT = tf.reshape(tf.transpose(Linv, [2, 0, 1]), [D, K * D]); // [D, K*D], column block k = Linv_k^T
    const shift = tf.reshape(tf.sum(tf.mul(Linv, tf.expandDims(mu, 1)), 2), [1, K * D]); // Linv_k mu_k
    const mahaOf = (xs: Tensor) => tf.sum(tf.reshape(tf.square(tf.sub(tf.matMul(xs, LinvT), shift)), [-1, K, D]), 2);
    // By blocks of rows when [N, K D] is large: a bounded temporary instead of several of N K D floats.
    const blocks = rowBlocks(g.N, K * D, blockElements);
    const maha = blocks.length === 1 ? mahaOf(x) // [N, K]
      : tf.concat(blocks.map(([s, n]) => tf.tidy(() => mahaOf(tf.slice(x, [s, 0], [n, D])))), 0);
    const c = tf.add(tf.add(tf.log(w), tf.neg(halfLogDet)), -0.5 * D * Math.log(2 * Math.PI));
    const lp = tf.add(tf.mul(maha, -0.5), c);
    const lse = logSumExp(lp, 1, true);
    return { logZ: tf.sum(lse), marginals: new Map([[lat, tf.exp(tf.sub(lp, lse))]]) };
  };
  step.compiled = native;
  if (native) {
    step.start = (rng, sample) => {
      const kern = kernelFor(bm, x, N, D, K);
      const labels = kmeansLabels(bm, rng, { sample, nearest: (c) => kern.nearest(c), fit: (v, n, d, k, r) => kmeansFitNative(v, n, d, k, () => r.uniform()) });
      if (!labels) return undefined;
      const stats = kern.hardStats(labels.get(lat) as Int32Array);
      const marginals = hardMarginals(bm, labels);
      nativeStats.set(marginals.get(lat)!, stats);
      return marginals;
    };
  }
  return step;
}

/** Elements of one block's [rows, width] temporary in the fused steps (64 MiB of float32): bounds the M-step's and E-step's [N, K D] temporaries (410 MB unblocked at N = 2e5, K D = 512); chosen from one-off timings at that size, where 16 MiB blocks were slower. */
const BLOCK_ELEMENTS = 1 << 24;

/** [start, rows] blocks covering n rows, each with at most blockElements / width rows (one block when all fit). */
export function rowBlocks(n: number, width: number, blockElements = BLOCK_ELEMENTS): [number, number][] {
  const rows = Math.max(1, Math.floor(blockElements / Math.max(1, width)));
  if (rows >= n) return [[0, n]];
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += rows) out.push([s, Math.min(rows, n - s)]);
  return out;
}

/** The lower Cholesky factor of each component's covariance, [K, D, D], from the recognised parameterisation. */
function covarianceFactor(fam: string, xf: Factor, lat: string): ((params: ReadonlyMap<string, Tensor>, K: number) => Tensor) | undefined {
  const e = xf.dist!.kind === 'family' ? xf.dist!.args[1] : undefined;
  if (!e) return undefined;
  const tile = (t: Tensor, K: number) => (t.rank === 2 ? tf.broadcastTo(t, [K, ...t.shape]) : t);
  const byZ = sel(e, lat);
  if (fam === 'mvnormal') {
    if (byZ) return (p) => cholesky(p.get(byZ)!);
    if (e.op === 'param') return (p, K) => tile(cholesky(p.get(e.name)!), K);
    return undefined;
  }
  if (byZ) return (p) => p.get(byZ)!;
  if (e.op === 'param') return (p, K) => tile(p.get(e.name)!, K);
  if (e.op === 'call' && e.fn === 'diag_pre_multiply') {
    const t = sel(e.args[0], lat);
    const l = sel(e.args[1], lat);
    if (t && l) return (p) => tf.mul(tf.expandDims(p.get(t)!, -1), p.get(l)!);
    if (e.args[0].op === 'param' && e.args[1].op === 'param') {
      const [tn, ln] = [e.args[0].name, e.args[1].name];
      return (p, K) => tile(tf.mul(tf.expandDims(p.get(tn)!, -1), p.get(ln)!), K);
    }
  }
  return undefined;
}

/**
 * The closed-form M-step of the same Gaussian mixture in one pass, when closedFormUpdates
 * recognised weights, means and per-component covariances (`mvnormal(mu[z], Sigma[z])` or
 * `mvnormal_cholesky(mu[z], L[z])`): returns those updates with the three fused. With the
 * data centred on its mean once per binding (x̃), Σ_n r_nk x̃_n x̃_n' for every k is one
 * [K D, N] x [N, D] product, instead of K centred [D, N] x [N, D] products; then S_k = Σ r x̃x̃' - n_k m̃_k m̃_k'. The same rules as closed-form.ts: weights
 * ∝ counts + 10 eps, empty components (count <= 1e-10) keep their previous mean and
 * covariance, regCovar on the diagonal. When some component's variance is below 1e-2 of
 * the data's along a feature (the subtraction would lose float32 precision), or the
 * updates are not the three expected, the original updates run instead.
 */
export function fuseGmmUpdates(bm: BoundModel, updates: ClosedFormUpdate[], priors: boolean, regCovar = 1e-6, blockElements = BLOCK_ELEMENTS): ClosedFormUpdate[] {
  const g = recognise(bm, priors);
  if (!g) return updates;
  const e = g.xf.dist!.kind === 'family' ? g.xf.dist!.args[1] : undefined;
  const covName = sel(e, g.lat);
  if (!covName || covName === g.muName || covName === g.wName) return updates;
  const covRule = g.fam === 'mvnormal' ? 'mvnormal covariances' : 'mvnormal covariance factors';
  const rules = new Map([[g.wName, 'categorical weights'], [g.muName, 'mvnormal component means'], [covName, covRule]]);
  const mine = updates.filter((u) => rules.has(u.param));
  if (mine.length !== 3 || mine.some((u) => rules.get(u.param) !== u.rule)) return updates;
  const { lat, wName, muName, x, N, D, K } = g;
  const cached = (key: string, make: () => Tensor): Tensor => {
    let t = bm.cache.get(`fastgmm:${key}`);
    if (!t) { t = tf.keep(tf.tidy(make)); bm.cache.set(`fastgmm:${key}`, t); }
    return t;
  };
  const fused = (params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>): { ok?: Tensor; values: Map<string, Tensor> } | undefined => {
    const R = marginals.get(lat);
    if (!R || R.rank !== 2 || R.shape[0] !== N || R.shape[1] !== K) return undefined;
    const st = nativeStats.get(R);
    if (st) return hostUpdates(st, params, covRule === 'mvnormal covariances', regCovar, { wName, muName, covName }, K, D);
    const centre = cached('centre', () => tf.mean(x, 0, true)); // [1, D]
    const xc = cached('xc', () => tf.sub(x, centre)); // [N, D]
    const xcT = cached('xcT', () => tf.transpose(xc)); // [D, N]
    const dataVar = cached('var', () => tf.mean(tf.square(xc), 0)); // [D]
    const Rt = tf.transpose(R); // [K, N]
    const nk = tf.sum(Rt, 1); // [K]
    const n = tf.maximum(nk, 1e-30);
    // Plain, untransposed matmuls with the data as the right operand (a transposed operand is slow on wasm).
    const s1 = tf.matMul(Rt, xc); // Σ r x̃ [K, D]
    const mt = tf.div(s1, tf.expandDims(n, 1)); // m̃ [K, D]
    // Σ_n r_nk x̃_n x̃_n' for every k: rows (k, d) of (r_k ⊙ x̃_d) [K D, N] times x̃ [N, D].
    // By blocks of rows when [K D, N] is large (see rowBlocks), summing the blocks' products.
    const scatter = (r: Tensor, xt: Tensor, xs: Tensor) => tf.matMul(tf.reshape(tf.mul(tf.expandDims(r, 1), tf.expandDims(xt, 0)), [K * D, -1]), xs);
    const blocks = rowBlocks(N, K * D, blockElements);
    let m2flat = blocks.length === 1 ? scatter(Rt, xcT, xc) : undefined;
    for (const [s, n] of blocks.length === 1 ? [] : blocks) {
      const prev = m2flat;
      m2flat = tf.tidy(() => {
        const b = scatter(tf.slice(Rt, [0, s], [K, n]), tf.slice(xcT, [0, s], [D, n]), tf.slice(xc, [s, 0], [n, D]));
        return prev ? tf.add(prev, b) : b;
      });
      prev?.dispose();
    }
    const m2 = tf.reshape(m2flat!, [K, D, D]);
    const cov0 = tf.div(tf.sub(m2, tf.mul(tf.expandDims(s1, 2), tf.expandDims(mt, 1))), tf.reshape(n, [K, 1, 1]));
    const live = tf.greater(nk, 1e-10); // [K]
    const ratio = tf.where(tf.broadcastTo(tf.expandDims(live, 1), [K, D]), tf.div(matrixDiagPart(cov0), tf.maximum(dataVar, 1e-30)), tf.fill([K, D], Infinity));
    // Without synchronous reads (webgpu under Node) the check is kept on the device: the
    // updates below select between the fused value and the original update's (selectOnDevice's rule).
    const ok = tf.greaterEqual(tf.min(ratio), 1e-2);
    const sync = canReadSync();
    if (sync && !ok.dataSync()[0]) return undefined;
    const cov = tf.add(cov0, tf.mul(eye(D), regCovar));
    const next = covRule === 'mvnormal covariances' ? cov : cholesky(cov);
    const c = tf.add(nk, 10 * 1.1920929e-7); // as closed-form.ts: an empty component keeps a positive weight
    return { ok: sync ? undefined : ok, values: new Map([
      [wName, tf.div(c, tf.sum(c))],
      [muName, tf.where(tf.broadcastTo(tf.expandDims(live, 1), [K, D]), tf.add(mt, centre), params.get(muName)!)],
      [covName, tf.where(tf.broadcastTo(tf.reshape(live, [K, 1, 1]), [K, D, D]), next, params.get(covName)!)],
    ]) };
  };
  // mStep runs the updates in order within one tidy on one params map: the first of the three
  // computes all of them (from the previous means, for empty components) and the others read it.
  let key: [ReadonlyMap<string, Tensor>, ReadonlyMap<string, Tensor>] | undefined;
  let out: { ok?: Tensor; values: Map<string, Tensor> } | undefined;
  // (The fused rules are the Gaussian weights, means and covariances, none solved on the host.)
  return updates.map((u) => !rules.has(u.param) || u.hostReads ? u : {
    ...u,
    update: (params, marginals) => {
      if (!key || key[0] !== params || key[1] !== marginals) {
        key = [params, marginals];
        out = fused(params, marginals);
      }
      const v = out?.values.get(u.param);
      if (!v) return u.update(params, marginals);
      return out!.ok ? selectOnDevice(out!.ok, () => v, () => u.update(params, marginals) as Tensor) : v;
    },
  });
}

/** Lower Cholesky factor of the symmetric [D, D] block at `o` of a (row-major), or undefined when a pivot is not positive. */
function choleskyHost(a: Float64Array, o: number, D: number): Float64Array | undefined {
  const L = new Float64Array(D * D);
  for (let j = 0; j < D; j++) {
    let s = a[o + j * D + j];
    for (let t = 0; t < j; t++) s -= L[j * D + t] ** 2;
    if (!(s > 0)) return undefined;
    const ljj = Math.sqrt(s);
    L[j * D + j] = ljj;
    for (let i = j + 1; i < D; i++) {
      let v = a[o + i * D + j];
      for (let t = 0; t < j; t++) v -= L[i * D + t] * L[j * D + t];
      L[i * D + j] = v / ljj;
    }
  }
  return L;
}

/**
 * The fused M-step from the compiled E-step's float64 statistics (the same rules as the tensor
 * path above: weights ∝ counts + 10 eps, empty components keep their mean and covariance,
 * regCovar on the diagonal), or undefined (then the original updates run) when a covariance
 * is not positive definite.
 */
function hostUpdates(st: GmmStats, params: ReadonlyMap<string, Tensor>, covariance: boolean, regCovar: number,
  names: { wName: string; muName: string; covName: string }, K: number, D: number): { values: Map<string, Tensor> } | undefined {
  const { nk, s1, s2, centre } = st;
  // The previous means and covariances are read only when some component is empty.
  let prev: { mu: ArrayLike<number>; cov: ArrayLike<number> } | undefined;
  const previous = () => (prev ??= { mu: params.get(names.muName)!.dataSync(), cov: params.get(names.covName)!.dataSync() });
  const w = new Float64Array(K);
  const mu = new Float64Array(K * D);
  const cov = new Float64Array(K * D * D);
  const out = new Float64Array(K * D * D);
  let total = 0;
  for (let k = 0; k < K; k++) { w[k] = nk[k] + 10 * 1.1920929e-7; total += w[k]; }
  for (let k = 0; k < K; k++) {
    w[k] /= total;
    const live = nk[k] > 1e-10;
    const o = k * D * D;
    if (!live) {
      const { mu: pm, cov: pc } = previous();
      for (let d = 0; d < D; d++) mu[k * D + d] = pm[k * D + d];
      for (let i = 0; i < D * D; i++) out[o + i] = pc[o + i];
      continue;
    }
    const n = nk[k];
    for (let d = 0; d < D; d++) mu[k * D + d] = s1[k * D + d] / n;
    for (let d = 0; d < D; d++) for (let e = 0; e < D; e++) cov[o + d * D + e] = s2[o + d * D + e] / n - mu[k * D + d] * mu[k * D + e] + (d === e ? regCovar : 0);
    for (let d = 0; d < D; d++) mu[k * D + d] += centre[d];
    if (covariance) out.set(cov.subarray(o, o + D * D), o);
    else {
      const L = choleskyHost(cov, o, D);
      if (!L) return undefined;
      out.set(L, o);
    }
  }
  return { values: new Map<string, Tensor>([
    [names.wName, tf.tensor1d(Float32Array.from(w))],
    [names.muName, tf.tensor2d(Float32Array.from(mu), [K, D])],
    [names.covName, tf.tensor3d(Float32Array.from(out), [K, D, D])],
  ]) };
}
