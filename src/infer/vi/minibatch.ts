/**
 * Minibatch (stochastic) VI for large N (Hoffman et al. 2013; the plate scaling of Pyro's
 * subsampling): the rows of the data variables named in `minibatch.data` (all with the same
 * leading size N) are split once, by a seeded permutation, into M = ⌈N / size⌉ chunks of
 * ⌊N/M⌋ or ⌈N/M⌉ rows; each gradient step uses one chunk j, visited in a new random order
 * every epoch, with the potential
 *   U_j(u) = −[log prior + log|J|] − M ℓ_j(u)
 * (M ≈ N / B_j), whose mean over the chunks is the full potential exactly when the log
 * likelihood is a sum over those rows.
 * Each chunk is bound and traced once (lazily), so a step costs two float64 replays of B_j
 * rows instead of one of N.
 *
 * Whether the likelihood really splits over the rows is checked numerically, not assumed: at
 * two points u the full data's log likelihood must equal the sum of the chunks' (up to
 * rounding); a model whose terms couple rows (an HMM chain along them, a statistic of the
 * whole column) fails that check with a RangeError naming the data.
 *
 * Local parameters (a row per subsampled row) change the model's dimension with the rows;
 * with the amortised guide they are subsampled too (LocalMinibatch, below): a step binds and
 * evaluates the batch rows only, model and guide, at O(size) cost. Data read in chunks
 * (chunked.ts) uses the same batch view and potential through AmortizedBatches.
 */
import { BoundModel, type PotentialFunction } from '../../model/bound-model';
import type { DataInput, DataValue } from '../../model/data';
import { tf } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { Guide, Potential } from './guides';
import { amortizedRows, type AmortizedBatchSpec, type AmortizedGuide } from './amortized';

/** Options of minibatch VI (`ViOptions.minibatch`). */
export interface MinibatchOptions {
  /** The data variable(s) whose leading axis is the plate to subsample; all must share its length N. */
  data: string | string[];
  /** Rows per chunk (the last chunks may be one row smaller); 1 ≤ size ≤ N. */
  size: number;
  /**
   * Data arriving in chunks (`model.fit(chunks, { method: 'vi', minibatch })`, chunked.ts):
   * the total number of rows N over all chunks, which scales the likelihood. Needed for a
   * one-shot source (an iterator, generator or async iterable); for an array, or a function
   * returning a fresh iterable, it is counted in a first pass when not given.
   */
  totalRows?: number;
  /** Data arriving in chunks: data shared by every chunk (sizes such as K, covariates without rows). */
  shared?: DataInput;
}

export function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.uniformInt(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** The data variables named in minibatch.data, their common row count N, and the seeded partition of the rows into ⌈N / size⌉ sorted chunks. */
function partitionRows(bound: BoundModel, opts: MinibatchOptions, rng: Rng): { names: string[]; n: number; rows: Int32Array[] } {
  const names = typeof opts.data === 'string' ? [opts.data] : [...opts.data];
  if (names.length === 0) throw new RangeError('vi: minibatch.data names no data variable');
  let n = -1;
  for (const name of names) {
    const t = bound.rt.data.get(name);
    if (!t) throw new RangeError(`vi: minibatch.data '${name}' is not a data variable of the model; data: ${[...bound.rt.data.keys()].join(', ')}`);
    if (t.rank < 1) throw new RangeError(`vi: minibatch.data '${name}' is a scalar; it needs a leading axis of rows to subsample`);
    if (n >= 0 && t.shape[0] !== n) throw new RangeError(`vi: minibatch.data '${name}' has ${t.shape[0]} rows, the others ${n}`);
    n = t.shape[0];
  }
  const size = opts.size;
  if (!Number.isInteger(size) || size < 1 || size > n) throw new RangeError(`vi: minibatch.size must be an integer in 1..${n} (the rows of ${names.join(', ')}), got ${size}`);
  const chunks = Math.ceil(n / size);
  const perm = permutation(n, rng);
  const rows: Int32Array[] = [];
  for (let j = 0; j < chunks; j++) {
    const lo = Math.floor((j * n) / chunks);
    const hi = Math.floor(((j + 1) * n) / chunks);
    rows.push(perm.slice(lo, hi).sort());
  }
  return { names, n, rows };
}

/** The sizes read off the leading axis of the data variables `names`. */
function subsampledSizes(bound: BoundModel, names: readonly string[]): string[] {
  return bound.ir.sizes.filter((s) => s.from.some((f) => f.axis === 0 && names.includes(f.data))).map((s) => s.name);
}

/**
 * The parameters with one row per subsampled row (leading axis a size read off the leading
 * axis of `minibatch.data`): local parameters, which only an amortised guide can subsample.
 */
export function subsampledParams(bound: BoundModel, opts: MinibatchOptions): string[] {
  const names = typeof opts.data === 'string' ? [opts.data] : [...opts.data];
  const sizes = new Set(subsampledSizes(bound, names));
  return bound.ir.params.filter((p) => p.shape.length > 0 && p.shape[0].kind === 'size' && sizes.has(p.shape[0].name)).map((p) => p.name);
}

/** The model bound to the rows `idx` of the data variables `names` (the other data as they are). */
export function bindRows(bound: BoundModel, names: readonly string[], idx: Int32Array): BoundModel {
  const data: Record<string, DataValue> = {};
  const rowSizes = new Set(subsampledSizes(bound, names));
  for (const [name, t] of bound.rt.data) {
    if (rowSizes.has(name) && t.rank === 0) {
      data[name] = idx.length; // a declared size of the subsampled rows
      continue;
    }
    const src = names.includes(name) ? tf.tidy(() => tf.gather(t, tf.tensor1d(idx, 'int32'))) : t;
    data[name] = t.rank === 0 ? src.dataSync()[0] : { shape: src.shape.slice(), values: Float64Array.from(src.dataSync()) };
    if (src !== t) src.dispose();
  }
  return new BoundModel(bound.ir, data, bound.source);
}

/** The chunked potentials of a bound model, one selected at a time. */
export class MinibatchPotential implements Potential {
  readonly dim: number;
  /** Rows in all (N) and the number of chunks. */
  readonly n: number;
  readonly chunks: number;
  private readonly rows: Int32Array[];
  private readonly bounds: (BoundModel | undefined)[];
  private readonly fns: ({ full: PotentialFunction; lik: PotentialFunction } | undefined)[];
  private readonly gLik: Float64Array;
  private current = 0;
  private order: Int32Array;
  private pos = 0;
  private readonly names: string[];

  /** The likelihood's multiplier on a chunk: M (N_total / N) with M chunks. */
  private readonly likScale: number;
  private allTraced = true;

  /**
   * `total` (default the bound rows N) is the number of rows the likelihood stands for: a
   * bound chunk of a larger data set (chunked.ts) has its likelihood scaled by total / N too.
   */
  constructor(private readonly bound: BoundModel, private readonly opts: MinibatchOptions, private readonly rng: Rng, total?: number) {
    const { names, n, rows } = partitionRows(bound, opts, rng);
    this.likScale = total === undefined ? rows.length : rows.length * (total / n);
    this.n = n;
    this.dim = bound.dim;
    this.chunks = rows.length;
    this.rows = rows;
    this.bounds = new Array(this.chunks).fill(undefined);
    this.fns = new Array(this.chunks).fill(undefined);
    this.gLik = new Float64Array(this.dim);
    this.order = permutation(this.chunks, rng);
    this.names = names;
  }

  private chunk(j: number): { full: PotentialFunction; lik: PotentialFunction } {
    let f = this.fns[j];
    if (f) return f;
    const b = bindRows(this.bound, this.names, this.rows[j]);
    if (b.dim !== this.dim) {
      b.dispose();
      throw new RangeError(
        `vi: minibatching '${this.names.join(', ')}' changes the number of parameters (${this.dim} → ${b.dim}): a parameter's size depends on the rows; ` +
          "local parameters (one per row) can be subsampled with guide: 'amortized' only",
      );
    }
    this.bounds[j] = b;
    f = { full: b.potentialFunction(), lik: b.potentialFunction({ priors: false, jacobian: false }) };
    this.fns[j] = f;
    this.allTraced &&= f.full.traced && f.lik.traced;
    return f;
  }

  /** Rows of chunk j. */
  rowsOf(j: number): number {
    return this.rows[j].length;
  }

  /** Whether every chunk bound so far runs as a float64 replay. */
  get traced(): boolean {
    return this.allTraced;
  }

  /** Moves to the next chunk (a new random order of the chunks every epoch); returns its index. */
  next(): number {
    if (this.pos === this.chunks) {
      this.order = permutation(this.chunks, this.rng);
      this.pos = 0;
    }
    this.current = this.order[this.pos++];
    return this.current;
  }

  /** Selects chunk j for the following evaluations. */
  select(j: number): void {
    if (!Number.isInteger(j) || j < 0 || j >= this.chunks) throw new RangeError(`MinibatchPotential.select: chunk ${j} of ${this.chunks}`);
    this.current = j;
  }

  value(u: ArrayLike<number>): number {
    const { full, lik } = this.chunk(this.current);
    const c = this.likScale - 1;
    return c === 0 ? full.value(u) : full.value(u) + c * lik.value(u);
  }

  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number {
    const { full, lik } = this.chunk(this.current);
    const c = this.likScale - 1;
    const v = full.valueAndGrad(u, grad);
    if (c === 0) return v;
    const l = lik.valueAndGrad(u, this.gLik);
    for (let i = 0; i < this.dim; i++) grad[i] += c * this.gLik[i];
    return v + c * l;
  }

  /**
   * Checks that the full data's log likelihood is the sum of the chunks' at `points`
   * (relative error 1e-9 on the float64 replay, 1e-4 on the float32 tensor evaluator);
   * throws a RangeError naming the data if not.
   */
  checkSplits(points: ArrayLike<number>[]): void {
    const fullLik = this.bound.potentialFunction({ priors: false, jacobian: false });
    for (const u of points) {
      const whole = fullLik.value(u);
      let sum = 0;
      let traced = fullLik.traced;
      for (let j = 0; j < this.chunks; j++) {
        const { lik } = this.chunk(j);
        sum += lik.value(u);
        traced &&= lik.traced;
      }
      if (!Number.isFinite(whole) || !Number.isFinite(sum)) continue;
      // Float64 replays differ by summation order only (~1e-12 relative); the float32 tensor
      // evaluator by float32 rounding of long sums.
      const tol = traced ? 1e-9 : 1e-4;
      if (Math.abs(whole - sum) > tol * Math.max(1, Math.abs(whole), Math.abs(sum))) {
        throw new RangeError(
          `vi: the log likelihood does not split over the rows of '${this.names.join(', ')}' (whole data ${-whole}, sum over chunks ${-sum}): ` +
            'a term couples rows (a chain along them, or a statistic of the whole column), so minibatching would be wrong',
        );
      }
    }
  }

  /** Releases the chunks' bound data. */
  dispose(): void {
    for (const b of this.bounds) b?.dispose();
    this.bounds.fill(undefined);
    this.fns.fill(undefined);
  }
}

/** One chunk of a LocalMinibatch: its binding, potentials and index maps. */
interface LocalChunk {
  bound: BoundModel;
  /** The chunk model's potential U_j. */
  full: PotentialFunction;
  /** Chunk u index → full u index. */
  toFull: Int32Array;
  /** The zero-row model's u index → chunk u index. */
  gIdx: Int32Array;
  spec: AmortizedBatchSpec;
}

/**
 * Minibatch VI with an amortised guide over local parameters (one row of u per subsampled
 * row): the rows of `minibatch.data` are split into M = ⌈N / size⌉ chunks as in
 * MinibatchPotential, and a step on chunk j evaluates only that chunk's rows, both in the
 * model and in the guide. With G(u_G) the potential of the model bound to no rows (every
 * term that does not involve the subsampled rows) and U_j that of the model bound to chunk j,
 *   U_j^M(u_j) = G(u_G) + M (U_j(u_j) − G(u_G)),
 * and the guide's batch view (AmortizedGuide.batch) scales the chunk rows' log q and entropy
 * terms by M; the mean over the chunks of the scaled ELBO estimate at fixed noise is then the
 * full-data estimate exactly (the local terms of the ELBO are sums over rows, and every row is
 * in one chunk), and so is its gradient. A step costs O(size), not O(N).
 */
export class LocalMinibatch {
  readonly n: number;
  readonly chunks: number;
  readonly dim: number;
  private readonly rows: Int32Array[];
  private readonly names: string[];
  private readonly local: Set<string>;
  private readonly cache: (LocalChunk | undefined)[];
  private zero: { bound: BoundModel; fn: PotentialFunction } | undefined;
  private order: Int32Array;
  private pos = 0;
  private current = 0;

  constructor(private readonly bound: BoundModel, opts: MinibatchOptions, private readonly guide: AmortizedGuide, private readonly rng: Rng) {
    const { names, n, rows } = partitionRows(bound, opts, rng);
    this.names = names;
    this.n = n;
    this.rows = rows;
    this.chunks = rows.length;
    this.dim = bound.dim;
    this.cache = new Array(this.chunks).fill(undefined);
    this.order = permutation(this.chunks, rng);
    this.local = new Set(subsampledParams(bound, opts));
    const globals = new Set(guide.globalCoords);
    for (const p of bound.params) {
      if (this.local.has(p.name) && p.size > 0 && globals.has(p.offset)) {
        throw new RangeError(
          `vi: minibatching '${names.join(', ')}' with the amortized guide needs every parameter with a row per row of the data amortised; '${p.name}' is not (see amortized.local)`,
        );
      }
    }
  }

  private zeroModel(): { bound: BoundModel; fn: PotentialFunction } {
    if (this.zero) return this.zero;
    let b: BoundModel;
    try {
      b = bindRows(this.bound, this.names, new Int32Array(0));
    } catch (e) {
      throw new RangeError(`vi: minibatch with the amortized guide binds the model to no rows of '${this.names.join(', ')}' for its global terms, and that failed: ${(e as Error).message}`);
    }
    this.zero = { bound: b, fn: b.potentialFunction() };
    return this.zero;
  }

  private chunk(j: number): LocalChunk {
    const hit = this.cache[j];
    if (hit) return hit;
    const zero = this.zeroModel();
    const idx = this.rows[j];
    const B = idx.length;
    const b = bindRows(this.bound, this.names, idx);
    const where = `vi: minibatching '${this.names.join(', ')}' with the amortized guide`;
    const fullInfo = new Map(this.bound.params.map((p) => [p.name, p]));
    const toFull = new Int32Array(b.dim);
    const fullToChunk = new Map<number, number>();
    for (const p of b.params) {
      const f = fullInfo.get(p.name)!;
      if (this.local.has(p.name)) {
        const per = f.size / this.n;
        if (p.size !== B * per || f.uShape[0] !== this.n) {
          b.dispose();
          throw new RangeError(`${where}: the unconstrained block of '${p.name}' does not lead with its rows`);
        }
        for (let i = 0; i < B; i++) for (let k = 0; k < per; k++) toFull[p.offset + i * per + k] = f.offset + idx[i] * per + k;
      } else {
        if (p.size !== f.size) {
          b.dispose();
          throw new RangeError(`${where}: the size of '${p.name}' depends on the rows other than by its leading axis (${f.size} → ${p.size}); it cannot be subsampled`);
        }
        for (let k = 0; k < p.size; k++) toFull[p.offset + k] = f.offset + k;
      }
    }
    toFull.forEach((f, c) => fullToChunk.set(f, c));
    const at = (full: number): number => {
      const c = fullToChunk.get(full);
      if (c === undefined) throw new Error(`${where}: coordinate ${full} of the guide has no place in chunk ${j} (internal)`);
      return c;
    };
    const gIdx = zeroIndex(zero.bound, b, this.local);
    const M = this.chunks;
    const spec: AmortizedBatchSpec = {
      dim: b.dim,
      globalCoords: Int32Array.from(this.guide.globalCoords, at),
      groups: this.guide.layout.groups.map((g) => {
        const sub = g.coords.length === this.n && g.coords[0].length > 0 && this.localCoord(g.coords[0][0]);
        const rowsOf = sub ? idx : Int32Array.from({ length: g.coords.length }, (_, i) => i);
        const R = g.coords[0].length;
        const coords = new Int32Array(rowsOf.length * R);
        rowsOf.forEach((n, i) => {
          for (let k = 0; k < R; k++) coords[i * R + k] = at(g.coords[n][k]);
        });
        return { rows: rowsOf, coords, scale: sub ? M : 1 };
      }),
    };
    const c: LocalChunk = { bound: b, full: b.potentialFunction(), toFull, gIdx, spec };
    this.cache[j] = c;
    return c;
  }

  /** Whether full coordinate i belongs to a subsampled (local) parameter. */
  private localCoord(i: number): boolean {
    return this.bound.params.some((p) => this.local.has(p.name) && i >= p.offset && i < p.offset + p.size);
  }

  /** Rows of chunk j. */
  rowsOf(j: number): number {
    return this.rows[j].length;
  }

  /** Chunk j's u index → the full model's u index. */
  indexOf(j: number): Int32Array {
    return this.chunk(j).toFull;
  }

  /** Moves to the next chunk (a new random order every epoch) and returns its guide view and scaled potential. */
  next(): { guide: Guide; potential: Potential; chunk: number } {
    if (this.pos === this.chunks) {
      this.order = permutation(this.chunks, this.rng);
      this.pos = 0;
    }
    return this.select(this.order[this.pos++]);
  }

  /** Chunk j's guide view (sharing the guide's params) and its scaled potential U_j^M. */
  select(j: number): { guide: Guide; potential: Potential; chunk: number } {
    if (!Number.isInteger(j) || j < 0 || j >= this.chunks) throw new RangeError(`LocalMinibatch.select: chunk ${j} of ${this.chunks}`);
    this.current = j;
    const c = this.chunk(j);
    const potential = scaledLocalPotential(c.full, this.zeroModel().fn, c.gIdx, this.chunks);
    return { guide: this.guide.batch(c.spec), potential, chunk: j };
  }

  /** The chunk last selected. */
  get selected(): number {
    return this.current;
  }

  /**
   * Checks that the full potential is G + Σ_j (U_j − G) at `points` (full u; relative error
   * 1e-9 on float64 replays, 1e-4 on the float32 tensor evaluator): that the model's terms
   * split over the rows. Throws a RangeError naming the data if not.
   */
  checkSplits(points: ArrayLike<number>[]): void {
    const fullFn = this.bound.potentialFunction();
    const G = this.zeroModel().fn;
    for (const u of points) {
      const whole = fullFn.value(u);
      let sum = 0;
      let traced = fullFn.traced && G.traced;
      for (let j = 0; j < this.chunks; j++) {
        const c = this.chunk(j);
        const uj = Float64Array.from(c.toFull, (f) => u[f]);
        sum += c.full.value(uj) - G.value(Float64Array.from(c.gIdx, (i) => uj[i]));
        traced &&= c.full.traced;
      }
      const g = this.chunk(0);
      sum += G.value(Float64Array.from(g.gIdx, (i) => u[g.toFull[i]]));
      if (!Number.isFinite(whole) || !Number.isFinite(sum)) continue;
      const tol = traced ? 1e-9 : 1e-4;
      if (Math.abs(whole - sum) > tol * Math.max(1, Math.abs(whole), Math.abs(sum))) {
        throw new RangeError(
          `vi: the model does not split over the rows of '${this.names.join(', ')}' (whole data ${-whole}, sum over chunks ${-sum}): ` +
            'a term couples rows (a chain along them, or a statistic of the whole column), so minibatching would be wrong',
        );
      }
    }
  }

  /** Releases the chunks' bound data. */
  dispose(): void {
    for (const c of this.cache) c?.bound.dispose();
    this.cache.fill(undefined);
    this.zero?.bound.dispose();
    this.zero = undefined;
  }
}

/**
 * The zero-row model's u index → the u index of `b`, a binding of some rows of the same model:
 * every parameter but the subsampled ones (`local`, which have no rows in the zero-row model)
 * keeps its size and block.
 */
function zeroIndex(zero: BoundModel, b: BoundModel, local: ReadonlySet<string>): Int32Array {
  const info = new Map(b.params.map((p) => [p.name, p]));
  const gIdx = new Int32Array(zero.dim);
  for (const p of zero.params) {
    const c = info.get(p.name)!;
    if (local.has(p.name)) continue; // no rows in the zero-row model
    for (let k = 0; k < p.size; k++) gIdx[p.offset + k] = c.offset + k;
  }
  return gIdx;
}

/**
 * U^M(u) = G(u_G) + M (U_b(u) − G(u_G)): the potential of a batch of rows standing for M times
 * as many, with U_b the model bound to the batch (`full`), G the model bound to no rows and
 * gIdx the place of G's coordinates in u. Every term with the batch rows (likelihood, local
 * priors) is scaled by M, the rest (global priors, the Jacobian) counted once.
 */
export function scaledLocalPotential(full: PotentialFunction, G: PotentialFunction, gIdx: Int32Array, M: number): Potential {
  const gG = new Float64Array(G.dim);
  const uG = new Float64Array(G.dim);
  const pick = (u: ArrayLike<number>): Float64Array => {
    for (let k = 0; k < uG.length; k++) uG[k] = u[gIdx[k]];
    return uG;
  };
  return {
    dim: full.dim,
    value: (u) => (M === 1 ? full.value(u) : M * full.value(u) - (M - 1) * G.value(pick(u))),
    valueAndGrad: (u, grad) => {
      const v = full.valueAndGrad(u, grad);
      if (M === 1) return v;
      const g0 = G.valueAndGrad(pick(u), gG);
      for (let i = 0; i < grad.length; i++) grad[i] *= M;
      for (let k = 0; k < gG.length; k++) grad[gIdx[k]] -= (M - 1) * gG[k];
      return M * v - (M - 1) * g0;
    },
  };
}

/**
 * Batches for an amortised guide from data read in chunks (chunked.ts): the guide is built on
 * one binding (`ref`, the first chunk) and each step applies it to a binding of other rows (a
 * batch of the current chunk). The batch view's local rows are the batch's own feature rows
 * (standardised as the guide's), its global coordinates and the groups kept whole (sizes not
 * read off `names`) are placed by parameter name, and the potential is LocalMinibatch's
 * G + M (U_b − G) with M = N / B. The model bound to no rows (G) is bound once, from `ref`.
 */
export class AmortizedBatches {
  /** The model bound to no rows of `names` (its u: the globals and the groups kept whole). */
  readonly zero: BoundModel;
  private readonly zeroFn: PotentialFunction;
  private readonly local: Set<string>;
  /** Each of the guide's global coordinates as (parameter, index in its block), with the block's size. */
  private readonly globalAt: { name: string; k: number; size: number }[];
  /** Per group of the guide: its size, its local parameters in order, whether it is subsampled. */
  private readonly groups: { label: string; params: string[]; sub: boolean; N: number }[];
  /** The guide's view on the zero-row model: the fit's result over the globals. */
  readonly globalSpec: AmortizedBatchSpec;

  constructor(ref: BoundModel, private readonly names: readonly string[], private readonly guide: AmortizedGuide) {
    const where = `vi: data in chunks with the amortized guide`;
    this.local = new Set(subsampledParams(ref, { data: [...names], size: 1 }));
    const globals = new Set(guide.globalCoords);
    for (const p of ref.params) {
      if (this.local.has(p.name) && p.size > 0 && globals.has(p.offset)) {
        throw new RangeError(
          `${where} needs every parameter with a row per data row amortised (its rows are not held); '${p.name}' is not (see amortized.local)`,
        );
      }
    }
    const owner = (c: number): { name: string; k: number; size: number } => {
      const p = ref.params.find((q) => c >= q.offset && c < q.offset + q.size)!;
      return { name: p.name, k: c - p.offset, size: p.size };
    };
    this.globalAt = Array.from(guide.globalCoords, owner);
    const rowSizes = new Set(subsampledSizes(ref, names));
    this.groups = guide.layout.groups.map((g) => {
      const params: string[] = [];
      for (const c of Array.from(g.coords[0])) {
        const name = owner(c).name;
        if (!params.includes(name)) params.push(name);
      }
      return { label: g.label, params, sub: rowSizes.has(g.label), N: g.coords.length };
    });
    try {
      this.zero = bindRows(ref, names, new Int32Array(0));
    } catch (e) {
      throw new RangeError(`${where} binds the model to no rows of '${names.join(', ')}' for its global terms, and that failed: ${(e as Error).message}`);
    }
    this.zeroFn = this.zero.potentialFunction();
    this.globalSpec = this.spec(this.zero, 1);
  }

  /** The guide's batch spec on binding b with the subsampled rows' terms scaled by `scale`. */
  private spec(b: BoundModel, scale: number): AmortizedBatchSpec {
    const where = `vi: data in chunks with the amortized guide`;
    const info = new Map(b.params.map((p) => [p.name, p]));
    const globalCoords = this.globalAt.map(({ name, k, size }) => {
      const p = info.get(name)!;
      if (p.size !== size) throw new RangeError(`${where}: the size of '${name}' depends on the rows other than by its leading axis (${size} → ${p.size})`);
      return p.offset + k;
    });
    const groups = this.groups.map((g) => {
      const rows = amortizedRows(b, g.label, g.params);
      const coords = rows.coords.flatMap((r) => Array.from(r));
      if (!g.sub) {
        if (rows.coords.length !== g.N) throw new RangeError(`${where}: group '${g.label}' has ${rows.coords.length} rows here, ${g.N} in the first chunk; data it reads goes in minibatch.shared`);
        return { rows: Int32Array.from({ length: g.N }, (_, i) => i), coords, scale: 1 };
      }
      return { features: rows.features.flatMap((r) => Array.from(r)), coords, scale };
    });
    return { dim: b.dim, globalCoords, groups };
  }

  /** The guide's view and the scaled potential G + scale (U_b − G) of binding b (a batch of rows; scale N / B). */
  view(b: BoundModel, scale: number): { guide: Guide; potential: Potential; traced: boolean } {
    const full = b.potentialFunction();
    const potential = scaledLocalPotential(full, this.zeroFn, zeroIndex(this.zero, b, this.local), scale);
    return { guide: this.guide.batch(this.spec(b, scale)), potential, traced: full.traced && this.zeroFn.traced };
  }

  /** Releases the zero-row binding. */
  dispose(): void {
    this.zero.dispose();
  }
}
