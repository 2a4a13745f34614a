/**
 * Data-driven starts for EM: k-means++ seeding plus Lloyd iterations on the data
 * that each latent selects components for, turned into hard responsibilities. One
 * M-step from these gives every parameter a start near the data (scikit-learn's
 * init_params='kmeans'); random unconstrained starts would put means near 0 whatever
 * the data's location.
 */
import { tf, canReadSync, type Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { BoundModel } from '../../model/bound-model';

/** Past this many (point, centre) pairs, Lloyd keeps one lower bound per point (Hamerly), not one per pair (Elkan). */
const ELKAN_BUDGET = 1 << 25;

/**
 * Greedy k-means++ seeding (Arthur and Vassilvitskii 2007, with 2 + ln K candidate
 * centres per step as scikit-learn does), then Lloyd iterations with scikit-learn's
 * stopping rule: stop when no label changes, or when the total squared centre shift
 * falls to 1e-4 x the mean feature variance (then relabel against the final centres);
 * at most maxIter passes (scikit-learn's default 300). Returns 0-based labels.
 *
 * Distances from every point to a few centres come from one float32 product
 * |x|^2 - 2 x.c + |c|^2 on the centred data (as scikit-learn computes them, in float64
 * there): k-means++ scores its candidates from these. Lloyd is exact in float64 (the same
 * labels as full passes, up to rounding ties): Elkan's (2003) bounds, one upper bound per
 * point and one lower bound per (point, centre) pair (Hamerly's (2010) one per point
 * past elkanBudget pairs), so a distance is computed only when the bounds cannot rule
 * its centre out; the bounds start from (and, while the centres still move far, are
 * refreshed by) the float32 product, widened by its rounding error so they stay bounds.
 * With at most SMALL_D features the products are float64 loops instead.
 */
export function kmeans(x: number[][] | { values: ArrayLike<number>; n: number; d: number }, K: number, rng: Rng, maxIter = 300, elkanBudget = ELKAN_BUDGET): Int32Array {
  return kmeansFit(x, K, rng, maxIter, elkanBudget).labels;
}

/** {@link kmeans}'s labels and its final centres ([K, D] row-major, in the data's coordinates). */
export function kmeansFit(x: number[][] | { values: ArrayLike<number>; n: number; d: number }, K: number, rng: Rng, maxIter = 300, elkanBudget = ELKAN_BUDGET): { labels: Int32Array; centres: Float64Array } {
  const n = Array.isArray(x) ? x.length : x.n;
  const D = Array.isArray(x) ? x[0].length : x.d;
  const flat = new Float64Array(n * D);
  if (Array.isArray(x)) x.forEach((r, i) => flat.set(r, i * D));
  else flat.set(x.values);
  // Centred, as scikit-learn does: the labels do not change, the float32 products below get more exact.
  let meanVar = 0;
  const mean = new Float64Array(D);
  for (let d = 0; d < D; d++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += flat[i * D + d];
    m /= n;
    mean[d] = m;
    let q = 0;
    for (let i = 0; i < n; i++) { const v = flat[i * D + d] - m; flat[i * D + d] = v; q += v * v; }
    meanVar += q / n / D;
  }
  const norm = new Float64Array(n); // |x_j|
  const norm2 = new Float64Array(n); // |x_j|^2
  for (let j = 0; j < n; j++) { norm2[j] = sqNorm(flat, j * D, D); norm[j] = Math.sqrt(norm2[j]); }
  // x_j . c for the given rows: one float32 matmul, or plain float64 loops for a few features
  // (cheaper than the round trip through a tensor there); e bounds the rounding error (below).
  // (Float64 loops too where the backend cannot read synchronously: webgpu under Node.js.)
  const xf = D > SMALL_D && canReadSync() ? tf.tensor2d(Float32Array.from(flat), [n, D]) : undefined;
  const products: Dots = (src, rows, T) => (xf
    ? { v: dotsWith(xf, src, rows, T, D), e: (D + 4) * 2 ** -22 }
    : { v: dotsF64(flat, n, src, rows, T, D), e: (D + 4) * 2 ** -50 });
  try {
    const centres = new Float64Array(K * D);
    // ---- k-means++ seeding: best[j] ~ the squared distance to the nearest chosen centre owner[j].
    const best = new Float64Array(n).fill(Infinity);
    const owner = new Int32Array(n);
    const trials = 2 + Math.floor(Math.log(K));
    const cand = new Int32Array(trials);
    const pots = new Float64Array(trials);
    const cumBest = new Float64Array(n); // running sums of best, for sampling by bisection
    for (let k = 0; k < K; k++) {
      let total = 0;
      if (k > 0) for (let i = 0; i < n; i++) { total += best[i]; cumBest[i] = total; }
      const T = k === 0 ? 1 : trials;
      for (let t = 0; t < T; t++) {
        let i = 0;
        if (k > 0 && total > 0) {
          // The first i with best[0] + ... + best[i] >= u.
          const u = rng.uniform() * total;
          let hi = n - 1;
          while (i < hi) {
            const mid = (i + hi) >>> 1;
            if (cumBest[mid] < u) i = mid + 1; else hi = mid;
          }
        } else i = Math.floor(rng.uniform() * n);
        cand[t] = i;
      }
      // Squared distances from every point to the candidates: one float32 product |x|^2 - 2 x.c + |c|^2.
      const { v: dots } = products(flat, cand, T);
      pots.fill(0);
      for (let j = 0; j < n; j++) {
        const b = best[j];
        for (let t = 0; t < T; t++) {
          const d2 = norm2[j] - 2 * dots[j * T + t] + norm2[cand[t]];
          pots[t] += d2 < b ? (d2 > 0 ? d2 : 0) : b;
        }
      }
      let tb = 0;
      for (let t = 1; t < T; t++) if (pots[t] < pots[tb]) tb = t;
      const ib = cand[tb];
      for (let j = 0; j < n; j++) {
        const d2 = norm2[j] - 2 * dots[j * T + tb] + norm2[ib];
        if (d2 < best[j]) { best[j] = d2 > 0 ? d2 : 0; owner[j] = k; }
      }
      centres.set(flat.subarray(ib * D, (ib + 1) * D), k * D);
    }
    const labels = lloyd(flat, norm, products, centres, n, D, K, 1e-4 * meanVar, maxIter, n * K <= elkanBudget);
    for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) centres[k * D + d] += mean[d];
    return { labels, centres };
  } finally {
    xf?.dispose();
  }
}

function sqNorm(a: Float64Array, o: number, D: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) s += a[o + d] * a[o + d];
  return s;
}

/** Products x_j . c_t ([n, T] row-major) for rows `rows[0..T)` of src (all T rows when null), with e: a squared distance |x|^2 - 2 x.c + |c|^2 from them is within e |x| |c|. */
type Dots = (src: Float64Array, rows: Int32Array | null, T: number) => { v: ArrayLike<number>; e: number };

/** Up to this many features, the products are float64 loops in JS rather than a float32 matmul. */
const SMALL_D = 4;

function dotsF64(flat: Float64Array, n: number, src: Float64Array, rows: Int32Array | null, T: number, D: number): Float64Array {
  const out = new Float64Array(n * T);
  for (let t = 0; t < T; t++) {
    const o = (rows ? rows[t] : t) * D;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += flat[j * D + d] * src[o + d];
      out[j * T + t] = s;
    }
  }
  return out;
}

/** x_j . c_t for every point j and the rows `rows[0..T)` of flat (or centres), [n, T] row-major, by one float32 product. */
function dotsWith(xf: Tensor, src: Float64Array, rows: Int32Array | null, T: number, D: number): Float32Array {
  const c = new Float32Array(D * T); // [D, T]
  for (let t = 0; t < T; t++) {
    const o = (rows ? rows[t] : t) * D;
    for (let d = 0; d < D; d++) c[d * T + t] = src[o + d];
  }
  const prod = tf.tidy(() => tf.matMul(xf, tf.tensor2d(c, [D, T])));
  try {
    return prod.dataSync() as Float32Array;
  } finally {
    prod.dispose();
  }
}

/**
 * Lloyd from the given centres (scikit-learn's rule, see kmeans), with exact bounds: the
 * first distances come from the products (see Dots), widened by their rounding error
 * bound, so a label they get wrong is rescanned.
 */
function lloyd(flat: Float64Array, norm: Float64Array, dots: Dots, centres: Float64Array, n: number, D: number, K: number, tol: number, maxIter: number, elkan: boolean): Int32Array {
  const sq = (a: Float64Array, ao: number, b: Float64Array, bo: number): number => {
    let s = 0;
    for (let d = 0; d < D; d++) { const v = a[ao + d] - b[bo + d]; s += v * v; }
    return s;
  };
  // Bounds are plain distances stored against each centre's total drift so far (cum): an
  // upper bound u set when the drift was c is stored as u - c and a lower bound l as l + c,
  // so adding or subtracting the drift now gives a valid bound, and no pass over the bounds
  // is needed after an update.
  const cum = new Float64Array(K); // total drift of each centre (rounded up)
  let cumMax = 0; // Σ over updates of the largest drift
  const UP = 1 + 2 ** -20;
  const DOWN = 1 - 2 ** -20;
  const labels = new Int32Array(n);
  const upper = new Float64Array(n); // distance to the own centre - cum[own]
  const lowAll = new Float64Array(n); // distance to every other centre + cumMax
  // Elkan: also one lower bound per (point, centre) (float32, rounded down), within a memory budget.
  const low = new Float32Array(elkan ? n * K : 0);
  /** All bounds afresh from the products (see boundsFromDots); returns how many labels changed. */
  const refresh = (): number => boundsFromDots(dots(centres, null, K), norm, centres, n, D, K, labels, upper, lowAll, elkan ? low : undefined, cum, cumMax);
  refresh();
  const ccd = new Float64Array(K * K); // centre-to-centre distances
  const half = new Float64Array(K); // half the distance to the nearest other centre
  let computed = 0; // distances the last assignment pass computed
  /** One assignment pass against the current centres; returns how many labels changed. */
  const assign = (): number => {
    half.fill(Infinity);
    for (let a = 0; a < K; a++) {
      for (let b = a + 1; b < K; b++) {
        const v = Math.sqrt(sq(centres, a * D, centres, b * D)) * DOWN;
        ccd[a * K + b] = v;
        ccd[b * K + a] = v;
        if (v / 2 < half[a]) half[a] = v / 2;
        if (v / 2 < half[b]) half[b] = v / 2;
      }
    }
    let changed = 0;
    computed = 0;
    for (let j = 0; j < n; j++) {
      const a0 = labels[j];
      let u = upper[j] + cum[a0];
      const hl = lowAll[j] - cumMax;
      const m = half[a0] > hl ? half[a0] : hl;
      if (u <= m) continue;
      const xo = j * D;
      u = Math.sqrt(sq(flat, xo, centres, a0 * D));
      if (u <= m) { upper[j] = u * UP - cum[a0]; continue; }
      let a = a0;
      const lo = j * K;
      if (elkan) {
        low[lo + a] = Math.fround((u + cum[a]) * DOWN);
        // l2: a lower bound on the distance to every centre but the nearest.
        let l2 = Infinity;
        for (let k = 0; k < K; k++) {
          if (k === a) continue;
          let lk = low[lo + k] - cum[k];
          const lc = ccd[a * K + k] - u; // |x - c_k| >= |c_a - c_k| - |x - c_a|
          if (lc > lk) lk = lc;
          if (u <= lk) { if (lk < l2) l2 = lk; continue; }
          let s = 0;
          const co = k * D;
          for (let d = 0; d < D; d++) { const v = flat[xo + d] - centres[co + d]; s += v * v; }
          const dk = Math.sqrt(s);
          computed++;
          low[lo + k] = Math.fround((dk + cum[k]) * DOWN);
          if (dk < u) { if (u < l2) l2 = u; a = k; u = dk; } else if (dk < l2) l2 = dk;
        }
        lowAll[j] = l2 * DOWN + cumMax;
      } else {
        // Hamerly: rescan for the nearest and a lower bound on the rest.
        let d2 = Infinity;
        const ro = a0 * K;
        const u0 = u;
        for (let k = 0; k < K; k++) {
          if (k === a0) continue;
          const lb = ccd[ro + k] - u0; // |x - c_k| >= |c_a0 - c_k| - |x - c_a0|
          if (lb >= u) { if (lb < d2) d2 = lb; continue; }
          let s = 0;
          const co = k * D;
          for (let d = 0; d < D; d++) { const v = flat[xo + d] - centres[co + d]; s += v * v; }
          const dk = Math.sqrt(s);
          computed++;
          if (dk < u) { d2 = u; u = dk; a = k; } else if (dk < d2) d2 = dk;
        }
        lowAll[j] = d2 * DOWN + cumMax;
      }
      upper[j] = u * UP - cum[a];
      if (a !== a0) { labels[j] = a; changed++; }
    }
    return changed;
  };
  // Per-cluster sums and counts, kept up to date as labels move.
  const sums = new Float64Array(K * D);
  const counts = new Float64Array(K);
  const sumLabels = Int32Array.from(labels); // the labels the sums are for
  for (let j = 0; j < n; j++) {
    const k = labels[j];
    counts[k]++;
    for (let d = 0; d < D; d++) sums[k * D + d] += flat[j * D + d];
  }
  const next = new Float64Array(K * D);
  let relabel = true;
  for (let it = 0; it < maxIter; it++) {
    // While the centres still move far (the first update, from the seeds to the means, always
    // does), the bounds rule out little: all distances from the products are cheaper then.
    const changed = (it === 1 || computed > (n * K) / 8 ? refresh() : 0) + assign();
    // No label changed since the last update: the centres would not move (scikit-learn's strict convergence).
    if (changed === 0 && it > 0) { relabel = false; break; }
    for (let j = 0; j < n; j++) {
      const k = labels[j];
      const o = sumLabels[j];
      if (k === o) continue;
      sumLabels[j] = k;
      counts[o]--;
      counts[k]++;
      const xo = j * D;
      for (let d = 0; d < D; d++) { sums[o * D + d] -= flat[xo + d]; sums[k * D + d] += flat[xo + d]; }
    }
    let shift = 0;
    let maxMove = 0;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let d = 0; d < D; d++) {
        // An empty cluster keeps its centre.
        const c = counts[k] > 0 ? sums[k * D + d] / counts[k] : centres[k * D + d];
        next[k * D + d] = c;
        s += (c - centres[k * D + d]) ** 2;
      }
      shift += s;
      const mv = Math.sqrt(s) * UP;
      cum[k] += mv;
      if (mv > maxMove) maxMove = mv;
    }
    cumMax += maxMove;
    centres.set(next);
    if (shift <= tol) break;
  }
  if (relabel) assign();
  return labels;
}


/**
 * Labels and bounds (in lloyd's drift-offset form) from approximate squared distances
 * |x|^2 - 2 x.c + |c|^2: widened by the products' rounding error bound e |x| |c| ((D + 4)
 * 2^-22 for a float32 product), so they stay bounds, and a label they get wrong at a near tie
 * is corrected by the exact pass after. Returns how many labels changed.
 */
function boundsFromDots({ v: dots, e }: { v: ArrayLike<number>; e: number }, norm: Float64Array, centres: Float64Array, n: number, D: number, K: number,
  labels: Int32Array, upper: Float64Array, lowAll: Float64Array, low: Float32Array | undefined, cum: Float64Array, cumMax: number): number {
  const UP = 1 + 2 ** -20;
  const DOWN = 1 - 2 ** -20;
  const cn = new Float64Array(K);
  for (let k = 0; k < K; k++) cn[k] = Math.sqrt(sqNorm(centres, k * D, D));
  const d2 = new Float64Array(K);
  let changed = 0;
  for (let j = 0; j < n; j++) {
    let a = 0;
    const nj = norm[j];
    const jo = j * K;
    for (let k = 0; k < K; k++) {
      const v = nj * nj - 2 * dots[jo + k] + cn[k] * cn[k];
      d2[k] = v;
      if (v < d2[a]) a = k;
    }
    if (labels[j] !== a) { labels[j] = a; changed++; }
    const ua = d2[a] + e * nj * cn[a];
    upper[j] = (ua > 0 ? Math.sqrt(ua) : 0) * UP - cum[a];
    let l2 = Infinity;
    for (let k = 0; k < K; k++) {
      const lk = d2[k] - e * nj * cn[k];
      const l = lk > 0 ? Math.sqrt(lk) * DOWN : 0;
      if (low) low[jo + k] = Math.fround((l + cum[k]) * DOWN);
      if (k !== a && l < l2) l2 = l;
    }
    lowAll[j] = l2 * DOWN + cumMax;
  }
  return changed;
}

/**
 * Hard responsibilities for every enumerated latent from k-means on its data, or
 * undefined when some latent has no data row per element to cluster (then EM starts
 * from random parameters).
 */
export function kmeansMarginals(bm: BoundModel, rng: Rng, opts: KmeansInitOptions = {}): Map<string, Tensor> | undefined {
  const labels = kmeansLabels(bm, rng, opts);
  return labels && hardMarginals(bm, labels);
}

/**
 * {@link kmeansMarginals}'s k-means labels (0-based, one per element of each latent's plate or
 * chain), or undefined as there: host arrays, or an int32 tensor where the backend labelled
 * the rows (subsampled, without `opts.nearest`).
 */
export function kmeansLabels(bm: BoundModel, rng: Rng, opts: KmeansInitOptions = {}): Map<string, Int32Array | Tensor> | undefined {
  const sample = opts.sample === false ? Infinity : opts.sample ?? KMEANS_SAMPLE;
  if (!(sample >= 1)) throw new RangeError(`kmeans start: sample must be a positive number of rows or false, got ${String(opts.sample)}`);
  const rt = bm.rt;
  const out = new Map<string, Int32Array | Tensor>();
  for (const [name, info] of rt.latents) {
    const n = info.node.chain ? info.T! : info.node.plates.length === 1 ? rt.plates.get(info.node.plates[0])!.size : -1;
    if (n < 0) return undefined;
    // Data observed in a statement that involves this latent, with one row per element.
    const f = bm.ir.factors.find((g) => g.kind === 'obs' && g.latents.includes(name) && g.site && rt.data.get(g.site)?.shape[0] === n);
    if (!f) return undefined;
    // Lloyd to scikit-learn's convergence rule (its GaussianMixture init): the bounds make the passes cheap.
    const t = rt.data.get(f.site!)!;
    const rows = t.shape[0];
    const d = t.size / rows;
    const values = t.dataSync();
    if (rows > sample && info.K > 1) {
      // Lloyd on a uniform subsample of the rows, then every row to its nearest final centre.
      const m = Math.max(Math.ceil(sample), info.K);
      const pick = sampleRows(rows, m, rng);
      const sub = new Float64Array(m * d);
      for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) sub[i * d + j] = values[pick[i] * d + j];
      // Several k-means runs are cheap on the subsample: keep the lowest within-cluster sum of squares.
      let best: { centres: Float64Array; ss: number } | undefined;
      for (let r = 0; r < KMEANS_SAMPLE_RUNS; r++) {
        const fit = opts.fit ? opts.fit(sub, m, d, info.K, rng) : kmeansFit({ values: sub, n: m, d }, info.K, rng);
        const ss = withinSS(sub, fit, d);
        if (!best || ss < best.ss) best = { centres: fit.centres, ss };
      }
      out.set(name, opts.nearest ? opts.nearest(best!.centres) : nearestCentre(t, best!.centres, info.K, d));
    } else {
      out.set(name, opts.fit ? opts.fit(values, rows, d, info.K, rng).labels : kmeans({ values, n: rows, d }, info.K, rng));
    }
  }
  return out;
}

/** One-hot responsibilities of the labels (chains: pairwise marginals [T, K, K] of consecutive labels); label tensors are disposed. */
export function hardMarginals(bm: BoundModel, labels: Map<string, Int32Array | Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, lab] of labels) {
    const info = bm.rt.latents.get(name)!;
    const K = info.K;
    const n = lab instanceof Int32Array ? lab.length : lab.shape[0];
    // tf.oneHot refuses depth 1; with one component every weight is 1.
    out.set(name, tf.keep(tf.tidy(() => {
      const onehot = K === 1 ? tf.ones([n, 1]) : tf.oneHot(lab instanceof Int32Array ? tf.tensor1d(lab, 'int32') : lab, K).toFloat();
      if (!info.node.chain) return onehot;
      // Pairwise marginals [T, K, K]: row t is onehot(l[t-1]) x onehot(l[t]); step 1 uses row 0.
      const prev = tf.concat([tf.oneHot(tf.tensor1d([0], 'int32'), K).toFloat(), tf.slice(onehot, [0, 0], [n - 1, K])], 0);
      return tf.mul(tf.expandDims(prev, 2), tf.expandDims(onehot, 1));
    })));
    if (!(lab instanceof Int32Array)) lab.dispose();
  }
  return out;
}

/** Options of the k-means start (`kmeansMarginals`, EM's `kmeansSample`). */
export interface KmeansInitOptions {
  /**
   * Rows k-means++ and Lloyd run on: past this many rows they run on a uniform subsample
   * of this size (three times, from independent seedings, keeping the run with the lowest
   * within-cluster sum of squares) and every row is then labelled by its nearest final
   * centre (default 10000; false: one run on every row, as scikit-learn's GaussianMixture). The start only
   * has to put EM in the right basin: the centres of a 1e4-row subsample are within
   * O(1/sqrt(rows per cluster)) standard deviations of the full-data ones.
   */
  sample?: number | false;
  /**
   * Labels every row by its nearest of the subsample's final centres ([K, D] row-major);
   * default: one float32 product on the backend. EM's compiled Gaussian-mixture path passes
   * its float64 kernel.
   * @internal
   */
  nearest?: (centres: Float64Array) => Int32Array;
  /**
   * One k-means run on [n, d] rows in place of {@link kmeansFit} (the same algorithm and draws
   * from rng); EM's compiled Gaussian-mixture path passes the compiled one.
   * @internal
   */
  fit?: (x: ArrayLike<number>, n: number, d: number, K: number, rng: Rng) => { labels: Int32Array; centres: Float64Array };
}

/** Default {@link KmeansInitOptions.sample}. */
export const KMEANS_SAMPLE = 10000;

/** k-means runs on the subsample (each from its own k-means++ seeding); the best is kept. */
const KMEANS_SAMPLE_RUNS = 3;

/** Σ_j |x_j − c_{label j}|² (float64). */
function withinSS(x: Float64Array, { labels, centres }: { labels: Int32Array; centres: Float64Array }, D: number): number {
  let s = 0;
  for (let j = 0; j < labels.length; j++) {
    const o = labels[j] * D;
    for (let d = 0; d < D; d++) { const v = x[j * D + d] - centres[o + d]; s += v * v; }
  }
  return s;
}

/** m distinct row indices out of n, uniformly (partial Fisher–Yates), in increasing order. */
function sampleRows(n: number, m: number, rng: Rng): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng.uniform() * (n - i));
    const v = idx[i]; idx[i] = idx[j]; idx[j] = v;
  }
  return idx.subarray(0, m).sort();
}

/** Index of the nearest centre for every row of x ([n, D] float32): argmin |c|^2 - 2 x.c, one product. */
function nearestCentre(x: Tensor, centres: Float64Array, K: number, D: number): Tensor {
  return tf.tidy(() => {
    const c = tf.tensor2d(Float32Array.from(centres), [K, D]);
    const cn = tf.sum(tf.square(c), 1);
    return tf.argMin(tf.sub(cn, tf.mul(2, tf.matMul(tf.reshape(x, [-1, D]), c, false, true))), 1);
  });
}
