/**
 * Data-driven starts for EM: k-means++ seeding plus a few Lloyd iterations on the data
 * that each latent selects components for, turned into hard responsibilities. One
 * M-step from these gives every parameter a start near the data (scikit-learn's
 * init_params='kmeans'); random unconstrained starts would put means near 0 whatever
 * the data's location.
 */
import { tf, type Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { BoundModel } from '../../model/bound-model';


/**
 * Greedy k-means++ seeding (Arthur and Vassilvitskii 2007, with 2 + ln K candidate
 * centres per step as scikit-learn does) and Lloyd iterations until the labels stop
 * changing; returns 0-based labels.
 */
export function kmeans(x: number[][] | { values: ArrayLike<number>; n: number; d: number }, K: number, rng: Rng, maxIter = 300): number[] {
  const n = Array.isArray(x) ? x.length : x.n;
  const D = Array.isArray(x) ? x[0].length : x.d;
  const flat = Array.isArray(x) ? new Float64Array(n * D) : Float64Array.from(x.values);
  if (Array.isArray(x)) x.forEach((r, i) => flat.set(r, i * D));
  // Hot loops are written out inline: a closure call per (point, centre) pair costs more than the arithmetic.
  const centres = new Float64Array(K * D);
  const pick = (i: number, k: number) => centres.set(flat.subarray(i * D, (i + 1) * D), k * D);
  /** best[j] = min(best[j], |x_j - c|^2) for a centre c at offset co of array c; returns Σ best if `sumOnly`, without writing. */
  const relax = (c: Float64Array, co: number, best: Float64Array, write: boolean): number => {
    let pot = 0;
    for (let j = 0; j < n; j++) {
      let d2 = 0;
      const xo = j * D;
      for (let d = 0; d < D; d++) { const v = flat[xo + d] - c[co + d]; d2 += v * v; }
      const b = d2 < best[j] ? d2 : best[j];
      if (write) best[j] = b;
      pot += b;
    }
    return pot;
  };
  pick(Math.floor(rng.uniform() * n), 0);
  const best = new Float64Array(n).fill(Infinity);
  relax(centres, 0, best, true);
  const trials = 2 + Math.floor(Math.log(K));
  const cand = new Float64Array(D);
  for (let k = 1; k < K; k++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += best[i];
    let bestPot = Infinity;
    let bestI = 0;
    for (let t = 0; t < trials; t++) {
      let i = 0;
      if (total > 0) {
        let u = rng.uniform() * total;
        while (i < n - 1 && (u -= best[i]) > 0) i++;
      } else i = Math.floor(rng.uniform() * n);
      cand.set(flat.subarray(i * D, (i + 1) * D));
      const pot = relax(cand, 0, best, false);
      if (pot < bestPot) { bestPot = pot; bestI = i; }
    }
    pick(bestI, k);
    relax(centres, k * D, best, true);
  }
  const labels = new Int32Array(n).fill(-1);
  const sums = new Float64Array(K * D);
  const counts = new Float64Array(K);
  // scikit-learn's stopping rule: total squared centre shift below 1e-4 x the mean feature variance.
  let meanVar = 0;
  for (let d = 0; d < D; d++) {
    let m = 0;
    let q = 0;
    for (let i = 0; i < n; i++) m += flat[i * D + d];
    m /= n;
    for (let i = 0; i < n; i++) q += (flat[i * D + d] - m) ** 2;
    meanVar += q / n / D;
  }
  const tol = 1e-4 * meanVar;
  for (let it = 0; it < maxIter; it++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let b = 0;
      let bd = Infinity;
      const xo = i * D;
      for (let k = 0; k < K; k++) {
        let d2 = 0;
        const co = k * D;
        for (let d = 0; d < D; d++) { const v = flat[xo + d] - centres[co + d]; d2 += v * v; }
        if (d2 < bd) { bd = d2; b = k; }
      }
      if (labels[i] !== b) { labels[i] = b; changed++; }
    }
    if (changed === 0) break;
    sums.fill(0); counts.fill(0);
    for (let i = 0; i < n; i++) {
      const k = labels[i];
      counts[k]++;
      for (let d = 0; d < D; d++) sums[k * D + d] += flat[i * D + d];
    }
    let shift = 0;
    for (let k = 0; k < K; k++) {
      if (counts[k] === 0) continue;
      for (let d = 0; d < D; d++) {
        const c = sums[k * D + d] / counts[k];
        shift += (c - centres[k * D + d]) ** 2;
        centres[k * D + d] = c;
      }
    }
    if (shift <= tol) break;
  }
  return Array.from(labels);
}

/**
 * Hard responsibilities for every enumerated latent from k-means on its data, or
 * undefined when some latent has no data row per element to cluster (then EM starts
 * from random parameters).
 */
export function kmeansMarginals(bm: BoundModel, rng: Rng): Map<string, Tensor> | undefined {
  const rt = bm.rt;
  const out = new Map<string, Tensor>();
  for (const [name, info] of rt.latents) {
    const n = info.node.chain ? info.T! : info.node.plates.length === 1 ? rt.plates.get(info.node.plates[0])!.size : -1;
    if (n < 0) return undefined;
    // Data observed in a statement that involves this latent, with one row per element.
    const f = bm.ir.factors.find((g) => g.kind === 'obs' && g.latents.includes(name) && g.site && rt.data.get(g.site)?.shape[0] === n);
    if (!f) return undefined;
    // A start for EM, not a final clustering: about as many Lloyd passes as mclust's initialisation.
    const t = rt.data.get(f.site!)!;
    const labels = kmeans({ values: t.dataSync(), n: t.shape[0], d: t.size / t.shape[0] }, info.K, rng, 20);
    // tf.oneHot refuses depth 1; with one component every weight is 1.
    const onehot = info.K === 1 ? tf.ones([labels.length, 1]) : tf.oneHot(tf.tensor1d(labels, 'int32'), info.K).toFloat();
    if (!info.node.chain) {
      out.set(name, tf.keep(onehot));
    } else {
      // Pairwise marginals [T, K, K]: row t is onehot(l[t-1]) x onehot(l[t]); step 1 uses row 0.
      const K = info.K;
      const prev = tf.concat([tf.oneHot(tf.tensor1d([0], 'int32'), K).toFloat(), tf.slice(onehot, [0, 0], [n - 1, K])], 0);
      out.set(name, tf.keep(tf.mul(tf.expandDims(prev, 2), tf.expandDims(onehot, 1))));
    }
  }
  return out;
}
