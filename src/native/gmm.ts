/**
 * The compiled Gaussian-mixture kernels (WebAssembly with SIMD, built from
 * src/native/assembly/gmm.ts): for full-covariance mixtures with few features, one float64
 * pass over the rows gives the log likelihood, the responsibilities, their entropy and the
 * M-step's weighted sufficient statistics (Σ r, Σ r x, Σ r x x' per component); k-means (the
 * EM start), nearest-centre labels and the statistics of hard labels run there too. EM uses
 * them on the host backends (see src/infer/em/fast-gmm.ts); the tensor path stays the
 * reference they are tested against. No TensorFlow.js here: inputs and outputs are host arrays.
 */
import { GMM_WASM } from './gmm-wasm';

/** The part of the WebAssembly API used here (the project's type libraries do not declare it). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const Wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  heapBase(): number;
  lastEntropy(): number;
  estep(xp: number, A: number, b: number, c: number, R: number, S: number, lp: number,
    p0: number, p1: number, rows: number, D: number, K: number): number;
  nearest(xp: number, C: number, labels: number, P: number, rows: number, D: number, K: number): void;
  hardStats(xp: number, labels: number, S: number, rows: number, D: number, K: number): void;
  kmeansRun(xp: number, P: number, n: number, D: number, K: number, u: number, trials: number, C: number, labels: number,
    best: number, cum: number, sums: number, counts: number, pots: number, cand: number, tol: number, maxIter: number,
    ub: number, lb: number, drift: number, half: number): number;
}

let compiled: object | null | undefined;

/** The compiled module, or null where this runtime has no WebAssembly SIMD. */
function wasmModule(): object | null {
  if (compiled === undefined) {
    try {
      const bytes = Uint8Array.from(atob(GMM_WASM), (c) => c.charCodeAt(0));
      compiled = Wasm && Wasm.validate(bytes) ? new Wasm.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Bytes a {@link GmmKernel} holds for N rows, D features, K components (its rows, responsibilities, labels). */
export function kernelBytes(N: number, D: number, K: number): number {
  return N * (8 * D + 4 * K + 4) + K * D * D * 24;
}

/** Whether the compiled kernels can run here (WebAssembly with SIMD). */
export function nativeAvailable(): boolean {
  return wasmModule() !== null;
}

/** Byte offsets of consecutive 16-byte-aligned buffers of the given sizes from `base`, and the end. */
function layout<T extends string>(base: number, sizes: Record<T, number>): { off: Record<T, number>; end: number } {
  let o = base;
  const off = {} as Record<T, number>;
  for (const [k, s] of Object.entries(sizes) as [T, number][]) { off[k] = o; o += Math.ceil(s / 16) * 16; }
  return { off, end: o };
}

/** Grows the instance's memory to hold `end` bytes. */
function reserve(ex: Exports, end: number): void {
  const pages = Math.ceil(end / 65536) - ex.memory.buffer.byteLength / 65536;
  if (pages > 0) ex.memory.grow(pages);
}

/** Rows [n, D] (row-major) into the kernels' pair layout at `at`: lane l of (p, d) is row 2p + l minus centre[d]; an odd last row is paired with a copy of itself. */
function writePairs(buf: ArrayBuffer, at: number, x: ArrayLike<number>, n: number, D: number, centre: Float64Array): void {
  const P = Math.ceil(n / 2);
  const xp = new Float64Array(buf, at, P * D * 2);
  for (let j = 0; j < n; j++) {
    const o = ((j >> 1) * D) * 2 + (j & 1);
    for (let d = 0; d < D; d++) xp[o + d * 2] = x[j * D + d] - centre[d];
  }
  if (n & 1) for (let d = 0; d < D; d++) xp[((P - 1) * D + d) * 2 + 1] = xp[((P - 1) * D + d) * 2];
}

/** Column means of rows [n, D] (row-major). */
function columnMeans(x: ArrayLike<number>, n: number, D: number): Float64Array {
  const m = new Float64Array(D);
  for (let j = 0; j < n; j++) for (let d = 0; d < D; d++) m[d] += x[j * D + d];
  for (let d = 0; d < D; d++) m[d] /= n;
  return m;
}

/**
 * What makes L [K, D, D] (lower, row-major) unusable as Cholesky factors: the first diagonal
 * entry that is not positive and finite, named by component and position; undefined when
 * there is none.
 */
export function factorProblem(L: ArrayLike<number>, K: number, D: number): string | undefined {
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < D; i++) {
      const v = L[k * D * D + i * D + i];
      if (!(v > 0) || !Number.isFinite(v)) return `component ${k + 1}: the covariance factor's diagonal entry ${i + 1} is ${v}`;
    }
  }
  return undefined;
}

let kmeansInstance: Exports | undefined;

/**
 * One k-means run (k-means++ seeding, then Lloyd to scikit-learn's rule) in the compiled
 * module, float64 with exact distances: the algorithm of src/infer/em/init.ts kmeansFit, with
 * the same uniform draws (1 + (K - 1) trials of them, in order, from `uniform`). The data are
 * centred on their mean first (as there); tol is 1e-4 of the mean feature variance.
 */
export function kmeansFitNative(x: ArrayLike<number>, n: number, D: number, K: number, uniform: () => number, maxIter = 300): { labels: Int32Array; centres: Float64Array } {
  const mod = wasmModule();
  if (!mod) throw new Error('the compiled k-means needs WebAssembly with SIMD, which this runtime lacks');
  if (!(n >= 1 && K >= 1) || x.length !== n * D) throw new RangeError(`kmeansFitNative: ${x.length} values for [${n}, ${D}] rows`);
  const ex = (kmeansInstance ??= new Wasm!.Instance(mod, {}).exports as Exports);
  const trials = 2 + Math.floor(Math.log(K));
  const draws = 1 + (K - 1) * trials;
  const P = Math.ceil(n / 2);
  const { off, end } = layout(ex.heapBase(), { xp: P * D * 16, u: draws * 8, C: K * D * 8, labels: n * 4, best: P * 16, cum: n * 8, sums: K * D * 8, counts: K * 8, pots: trials * 8, cand: trials * 4, ub: n * 8, lb: n * 8, drift: K * 8, half: K * 8 });
  reserve(ex, end);
  const centre = columnMeans(x, n, D);
  let meanVar = 0;
  for (let d = 0; d < D; d++) {
    let q = 0;
    for (let j = 0; j < n; j++) q += (x[j * D + d] - centre[d]) ** 2;
    meanVar += q / n / D;
  }
  const buf = ex.memory.buffer;
  writePairs(buf, off.xp, x, n, D, centre);
  const u = new Float64Array(buf, off.u, draws);
  for (let i = 0; i < draws; i++) u[i] = uniform();
  ex.kmeansRun(off.xp, P, n, D, K, off.u, trials, off.C, off.labels, off.best, off.cum, off.sums, off.counts, off.pots, off.cand, 1e-4 * meanVar, maxIter, off.ub, off.lb, off.drift, off.half);
  const centres = new Float64Array(buf, off.C, K * D).slice();
  for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) centres[k * D + d] += centre[d];
  return { labels: new Int32Array(buf, off.labels, n).slice(), centres };
}

/** Sufficient statistics of one E-step, in the data's coordinates centred on `centre`. */
export interface GmmStats {
  /** Σ_n r_nk, [K]. */
  nk: Float64Array;
  /** Σ_n r_nk (x_n - centre), [K, D]. */
  s1: Float64Array;
  /** Σ_n r_nk (x_n - centre)(x_n - centre)', [K, D, D] (symmetric, both triangles filled). */
  s2: Float64Array;
  /** The column means of the data. */
  centre: Float64Array;
  /** -Σ_n Σ_k r_nk log r_nk (E-step statistics only; undefined for hard ones). */
  entropy?: number;
}

export interface GmmEStepResult {
  /** Σ_n log p(x_n). */
  logLik: number;
  /** Responsibilities [N, K], row-major (float32, as the tensors made from them). */
  resp: Float32Array;
  stats: GmmStats;
}

/**
 * One data set's kernel: the rows are copied once into the module's memory (centred, in
 * pairs for the two SIMD lanes); each call takes the parameters as host arrays.
 */
export class GmmKernel {
  readonly N: number;
  readonly D: number;
  readonly K: number;
  readonly centre: Float64Array;
  private readonly ex: Exports;
  private readonly off: Record<'xp' | 'A' | 'b' | 'c' | 'R' | 'S' | 'lp' | 'labels', number>;

  /** `x`: [N, D] row-major. Throws when the runtime has no WebAssembly SIMD (see nativeAvailable). */
  constructor(x: ArrayLike<number>, N: number, D: number, K: number) {
    const mod = wasmModule();
    if (!mod) throw new Error('the compiled Gaussian-mixture kernel needs WebAssembly with SIMD, which this runtime lacks');
    if (!(N >= 1 && D >= 1 && K >= 1) || x.length !== N * D) throw new RangeError(`GmmKernel: ${x.length} values for [${N}, ${D}] rows`);
    this.N = N;
    this.D = D;
    this.K = K;
    this.ex = new Wasm!.Instance(mod, {}).exports as Exports;
    const P = Math.ceil(N / 2);
    const { off, end } = layout(this.ex.heapBase(), { xp: P * D * 16, A: K * D * D * 8, b: K * D * 8, c: K * 8, R: N * K * 4, S: K * (1 + D + D * D) * 16, lp: 2 * K * 16, labels: N * 4 });
    this.off = off;
    reserve(this.ex, end);
    const centre = columnMeans(x, N, D);
    this.centre = centre;
    // Row pairs for the two SIMD lanes (an odd last row's second lane is masked in the kernel).
    writePairs(this.ex.memory.buffer, off.xp, x, N, D, centre);
  }

  /**
   * The E-step at weights w [K], means mu [K, D] and lower Cholesky factors L [K, D, D] of the
   * covariances (row-major, in the data's coordinates). A factor with a non-positive or
   * non-finite diagonal is an error naming the component (see factorProblem).
   */
  estep(w: ArrayLike<number>, mu: ArrayLike<number>, L: ArrayLike<number>): GmmEStepResult {
    const { N, D, K, off, centre } = this;
    const bad = factorProblem(L, K, D);
    if (bad) throw new RangeError(bad);
    const buf = this.ex.memory.buffer;
    const A = new Float64Array(buf, off.A, K * D * D);
    const bv = new Float64Array(buf, off.b, K * D);
    const c = new Float64Array(buf, off.c, K);
    const half = 0.5 * D * Math.log(2 * Math.PI);
    for (let k = 0; k < K; k++) {
      const o = k * D * D;
      let logDet = 0;
      // A_k = L_k^{-1} by forward substitution, column by column (lower triangular).
      for (let i = 0; i < D; i++) logDet += Math.log(L[o + i * D + i]);
      A.fill(0, o, o + D * D);
      for (let j = 0; j < D; j++) {
        A[o + j * D + j] = 1 / L[o + j * D + j];
        for (let i = j + 1; i < D; i++) {
          let s = 0;
          for (let t = j; t < i; t++) s += L[o + i * D + t] * A[o + t * D + j];
          A[o + i * D + j] = -s / L[o + i * D + i];
        }
      }
      // b_k = A_k (mu_k - centre): the kernel forms z = A_k x - b_k.
      for (let i = 0; i < D; i++) {
        let v = 0;
        for (let j = 0; j <= i; j++) v += A[o + i * D + j] * (mu[k * D + j] - centre[j]);
        bv[k * D + i] = v;
      }
      c[k] = Math.log(w[k]) - logDet - half;
    }
    this.clearStats();
    const logLik = this.ex.estep(off.xp, off.A, off.b, off.c, off.R, off.S, off.lp, 0, Math.ceil(N / 2), N, D, K);
    const resp = new Float32Array(buf, off.R, N * K).slice();
    return { logLik, resp, stats: { ...this.readStats(), entropy: this.ex.lastEntropy() } };
  }

  /** The nearest of the centres ([K, D] row-major, in the data's coordinates) for every row (the first on ties). */
  nearest(centres: ArrayLike<number>): Int32Array {
    const { N, D, K, off, centre } = this;
    const C = new Float64Array(this.ex.memory.buffer, off.A, K * D); // the factors' space, free between E-steps
    for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) C[k * D + d] = centres[k * D + d] - centre[d];
    this.ex.nearest(off.xp, off.A, off.labels, Math.ceil(N / 2), N, D, K);
    return new Int32Array(this.ex.memory.buffer, off.labels, N).slice();
  }

  /** The statistics of hard responsibilities: row n wholly in component labels[n] (0-based). */
  hardStats(labels: ArrayLike<number>): GmmStats {
    const { N, K, off } = this;
    if (labels.length !== N) throw new RangeError(`hardStats: ${labels.length} labels for ${N} rows`);
    const lab = new Int32Array(this.ex.memory.buffer, off.labels, N);
    for (let n = 0; n < N; n++) {
      const k = labels[n];
      if (!(k >= 0 && k < K && Number.isInteger(k))) throw new RangeError(`hardStats: label ${k} of row ${n + 1} is not a component 0..${K - 1}`);
      lab[n] = k;
    }
    this.clearStats();
    this.ex.hardStats(off.xp, off.labels, off.S, N, this.D, K);
    return this.readStats();
  }

  private clearStats(): void {
    const { D, K, off } = this;
    new Float64Array(this.ex.memory.buffer, off.S, K * (1 + D + D * D) * 2).fill(0);
  }

  /** The statistics the kernel left in S: the two lanes summed, Σ r x x' filled above the diagonal. */
  private readStats(): GmmStats {
    const { D, K, off, centre } = this;
    const SK = 1 + D + D * D;
    const S = new Float64Array(this.ex.memory.buffer, off.S, K * SK * 2);
    const nk = new Float64Array(K);
    const s1 = new Float64Array(K * D);
    const s2 = new Float64Array(K * D * D);
    for (let k = 0; k < K; k++) {
      const so = k * SK * 2;
      nk[k] = S[so] + S[so + 1];
      for (let d = 0; d < D; d++) s1[k * D + d] = S[so + 2 * (1 + d)] + S[so + 2 * (1 + d) + 1];
      for (let d = 0; d < D; d++) {
        for (let e = 0; e <= d; e++) {
          const i = so + 2 * (1 + D + d * D + e);
          const v = S[i] + S[i + 1];
          s2[k * D * D + d * D + e] = v;
          s2[k * D * D + e * D + d] = v;
        }
      }
    }
    return { nk, s1, s2, centre };
  }
}
