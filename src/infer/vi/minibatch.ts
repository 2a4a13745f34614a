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
 */
import { BoundModel, type PotentialFunction } from '../../model/bound-model';
import type { DataValue } from '../../model/data';
import { tf } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { Potential } from './guides';

/** Options of minibatch VI (`ViOptions.minibatch`). */
export interface MinibatchOptions {
  /** The data variable(s) whose leading axis is the plate to subsample; all must share its length N. */
  data: string | string[];
  /** Rows per chunk (the last chunks may be one row smaller); 1 ≤ size ≤ N. */
  size: number;
}

function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.uniformInt(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
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

  constructor(private readonly bound: BoundModel, private readonly opts: MinibatchOptions, private readonly rng: Rng) {
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
    this.n = n;
    this.dim = bound.dim;
    this.chunks = Math.ceil(n / size);
    const perm = permutation(n, rng);
    this.rows = [];
    for (let j = 0; j < this.chunks; j++) {
      const lo = Math.floor((j * n) / this.chunks);
      const hi = Math.floor(((j + 1) * n) / this.chunks);
      this.rows.push(perm.slice(lo, hi).sort());
    }
    this.bounds = new Array(this.chunks).fill(undefined);
    this.fns = new Array(this.chunks).fill(undefined);
    this.gLik = new Float64Array(this.dim);
    this.order = permutation(this.chunks, rng);
    this.names = names;
  }

  private chunk(j: number): { full: PotentialFunction; lik: PotentialFunction } {
    let f = this.fns[j];
    if (f) return f;
    const data: Record<string, DataValue> = {};
    const idx = this.rows[j];
    for (const [name, t] of this.bound.rt.data) {
      const src = this.names.includes(name) ? tf.tidy(() => tf.gather(t, tf.tensor1d(idx, 'int32'))) : t;
      data[name] = t.rank === 0 ? src.dataSync()[0] : { shape: src.shape.slice(), values: Float64Array.from(src.dataSync()) };
      if (src !== t) src.dispose();
    }
    const b = new BoundModel(this.bound.ir, data, this.bound.source);
    if (b.dim !== this.dim) {
      b.dispose();
      throw new RangeError(`vi: minibatching '${this.names.join(', ')}' changes the number of parameters (${this.dim} → ${b.dim}): a parameter's size depends on the rows; local parameters cannot be subsampled this way`);
    }
    this.bounds[j] = b;
    f = { full: b.potentialFunction(), lik: b.potentialFunction({ priors: false, jacobian: false }) };
    this.fns[j] = f;
    return f;
  }

  /** Rows of chunk j. */
  rowsOf(j: number): number {
    return this.rows[j].length;
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
    const c = this.chunks - 1;
    return c === 0 ? full.value(u) : full.value(u) + c * lik.value(u);
  }

  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number {
    const { full, lik } = this.chunk(this.current);
    const c = this.chunks - 1;
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
