// Shared by the k-means tests: overlapping mixture data and the textbook k-means++ + Lloyd.
import { Key, type Rng } from '../../src/tensor';

/** n points from an overlapping K-component mixture in D dims (fixed seed); row-major. */
export function mixture(n: number, D: number, K: number, sep: number, seed: number): Float64Array {
  const rng = Key.seed(seed).rng();
  const means = Array.from({ length: K }, () => Array.from({ length: D }, () => sep * rng.normal() + 5));
  const out = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const k = rng.uniformInt(K);
    for (let d = 0; d < D; d++) out[i * D + d] = Math.fround(means[k][d] + rng.normal() * (0.5 + (d % 3) * 0.3));
  }
  return out;
}

/** The textbook algorithm: greedy k-means++ (same draws), full Lloyd passes, scikit-learn's rule. */
export function plainKmeans(x: Float64Array, n: number, D: number, K: number, rng: Rng): Int32Array {
  const c = new Float64Array(K * D);
  const best = new Float64Array(n).fill(Infinity);
  const d2 = (i: number, src: Float64Array, o: number) => { let s = 0; for (let d = 0; d < D; d++) s += (x[i * D + d] - src[o + d]) ** 2; return s; };
  const trials = 2 + Math.floor(Math.log(K));
  for (let k = 0; k < K; k++) {
    const total = best.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    let bi = 0;
    let bp = Infinity;
    for (let t = 0; t < (k === 0 ? 1 : trials); t++) {
      let i = 0;
      if (k > 0 && total > 0) { let u = rng.uniform() * total; while (i < n - 1 && (u -= best[i]) > 0) i++; } else i = Math.floor(rng.uniform() * n);
      let p = 0;
      for (let j = 0; j < n; j++) p += Math.min(best[j], d2(j, x, i * D));
      if (p < bp) { bp = p; bi = i; }
    }
    c.set(x.subarray(bi * D, bi * D + D), k * D);
    for (let j = 0; j < n; j++) best[j] = Math.min(best[j], d2(j, c, k * D));
  }
  let meanVar = 0;
  for (let d = 0; d < D; d++) {
    let m = 0;
    for (let j = 0; j < n; j++) m += x[j * D + d] / n;
    for (let j = 0; j < n; j++) meanVar += (x[j * D + d] - m) ** 2 / n / D;
  }
  const labels = new Int32Array(n).fill(-1);
  const assign = () => {
    let changed = 0;
    for (let j = 0; j < n; j++) {
      let b = 0;
      for (let k = 1; k < K; k++) if (d2(j, c, k * D) < d2(j, c, b * D)) b = k;
      if (labels[j] !== b) { labels[j] = b; changed++; }
    }
    return changed;
  };
  for (let it = 0; it < 300; it++) {
    if (assign() === 0) return labels; // strict convergence: the centres are the means of these labels
    const s = new Float64Array(K * D);
    const cnt = new Float64Array(K);
    for (let j = 0; j < n; j++) { cnt[labels[j]]++; for (let d = 0; d < D; d++) s[labels[j] * D + d] += x[j * D + d]; }
    let shift = 0;
    for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) {
      const v = cnt[k] > 0 ? s[k * D + d] / cnt[k] : c[k * D + d];
      shift += (v - c[k * D + d]) ** 2;
      c[k * D + d] = v;
    }
    if (shift <= 1e-4 * meanVar) break;
  }
  assign();
  return labels;
}
