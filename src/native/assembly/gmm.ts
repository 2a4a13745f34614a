// AssemblyScript source of the compiled Gaussian-mixture kernels (src/native/gmm-wasm.ts
// holds its build; `npm run build:wasm` remakes it, and test/native checks the two agree).
// E-step: one pass over the rows computes, for each row, the log density of every component,
// the log-sum-exp, the responsibilities and their entropy, and adds the row to the weighted
// sufficient statistics of the M-step; all in float64, two rows at a time in the two lanes
// of a SIMD vector. Also: nearest centres, statistics of hard labels, and one k-means run
// (k-means++ seeding and Lloyd) for EM's start.
//
// Memory layout (byte offsets chosen by the caller, all 16-byte aligned):
//   xp    [P, D] f64x2   row pairs: lane l of (p, d) is x[2p + l, d] - centre[d]
//   A     [K, D, D] f64  inverse Cholesky factor of each covariance (lower; row-major)
//   b     [K, D] f64     A_k (mu_k - centre)
//   c     [K] f64        log w_k - log |L_k| - D/2 log 2π
//   R     [N, K] f32     responsibilities (out)
//   S     [K, 1 + D + D D] f64x2   per-lane statistics (out, added to): Σr, Σr x, Σr x x' (lower triangle)
//   lp    [2, K] f64x2   scratch

const LOG2E: f64 = 1.4426950408889634;
const LN2HI: f64 = 0.6931471803691238;
const LN2LO: f64 = 1.9082149292705877e-10;
const MAGIC: f64 = 6755399441055744.0; // 1.5 x 2^52: adding it leaves an integer in the low mantissa bits

/** e^x for x <= 0 in both lanes (0 below -700, so no subnormal products follow); relative error ~1e-15. */
// @ts-ignore: decorator
@inline
function expv(x0: v128): v128 {
  const x = f64x2.max(x0, f64x2.splat(-700.0));
  const n = f64x2.nearest(f64x2.mul(x, f64x2.splat(LOG2E)));
  const r = f64x2.sub(f64x2.sub(x, f64x2.mul(n, f64x2.splat(LN2HI))), f64x2.mul(n, f64x2.splat(LN2LO)));
  // Taylor series of e^r to degree 11 on |r| <= ln 2 / 2 (truncation < 1e-15 relative).
  let p = f64x2.splat(1.0 / 39916800.0);
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 3628800.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 362880.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 40320.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 5040.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 720.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 120.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 24.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0 / 6.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(0.5));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  // 2^n: n is an integer in [-1010, 0]; its bits as an i64 come from the magic-number add.
  const magic = f64x2.splat(MAGIC);
  const ni = i64x2.sub(f64x2.add(n, magic), magic);
  const scale = i64x2.shl(i64x2.add(ni, i64x2.splat(1023)), 52);
  return v128.and(f64x2.mul(p, scale), f64x2.gt(x0, f64x2.splat(-700.0)));
}

/** The entropy -Σ r log r of the responsibilities of the last estep call's rows. */
let entropy: f64 = 0;

/** {@link entropy}. */
export function lastEntropy(): f64 {
  return entropy;
}

let accLL: f64 = 0;
let accEnt: f64 = 0;

/**
 * The rest of the E-step for pair p once lp [K] f64x2 holds its log densities and m their
 * maximum: log-sum-exp, log likelihood and entropy (into accLL, accEnt), responsibilities
 * (into R), weighted statistics (into S).
 */
// @ts-ignore: decorator
@inline
function pairTail(xo: usize, p: i32, lp: usize, m: v128, R: usize, S: usize, rows: i32, D: i32, K: i32): void {
  const SK = 1 + D + D * D; // statistics per component
  let s = f64x2.splat(0);
  let et = f64x2.splat(0); // Σ e_k t_k with t_k = lp_k - m: the entropy is log s - Σ e t / s
  for (let k = 0; k < K; k++) {
    const t = f64x2.sub(v128.load(lp + <usize>k * 16), m);
    const e = expv(t);
    v128.store(lp + <usize>k * 16, e);
    s = f64x2.add(s, e);
    et = f64x2.add(et, f64x2.mul(e, f64x2.max(t, f64x2.splat(-700.0))));
  }
  const s0 = f64x2.extract_lane(s, 0);
  const s1 = f64x2.extract_lane(s, 1);
  const two = 2 * p + 1 < rows;
  const ls0 = Math.log(s0);
  accLL += f64x2.extract_lane(m, 0) + ls0;
  accEnt += ls0 - f64x2.extract_lane(et, 0) / s0;
  if (two) {
    const ls1 = Math.log(s1);
    accLL += f64x2.extract_lane(m, 1) + ls1;
    accEnt += ls1 - f64x2.extract_lane(et, 1) / s1;
  }
  // Lane weights: 1/s (responsibilities), 0 for the padding lane.
  const inv = f64x2.replace_lane(f64x2.splat(1.0 / s0), 1, two ? 1.0 / s1 : 0.0);
  const r0 = <usize>(2 * p * K) * 4;
  for (let k = 0; k < K; k++) {
    const r = f64x2.mul(v128.load(lp + <usize>k * 16), inv);
    store<f32>(R + r0 + <usize>k * 4, <f32>f64x2.extract_lane(r, 0));
    if (two) store<f32>(R + r0 + <usize>(K + k) * 4, <f32>f64x2.extract_lane(r, 1));
    const so = S + <usize>(k * SK) * 16;
    v128.store(so, f64x2.add(v128.load(so), r));
    for (let d = 0; d < D; d++) {
      const rx = f64x2.mul(r, v128.load(xo + <usize>d * 16));
      const o1 = so + <usize>(1 + d) * 16;
      v128.store(o1, f64x2.add(v128.load(o1), rx));
      const o2 = so + <usize>(1 + D + d * D) * 16;
      for (let e = 0; e <= d; e++) {
        const o = o2 + <usize>e * 16;
        v128.store(o, f64x2.add(v128.load(o), f64x2.mul(rx, v128.load(xo + <usize>e * 16))));
      }
    }
  }
}

/**
 * Rows [2 p0, 2 p1) (pairs p0..p1) of the E-step, all in float64; `rows` is the true row
 * count (the last pair's second lane is padding when it is odd). Returns Σ log p(x_n) over
 * those rows; the entropy is left for lastEntropy.
 */
export function estep(xp: usize, A: usize, b: usize, c: usize, R: usize, S: usize, lp: usize,
  p0: i32, p1: i32, rows: i32, D: i32, K: i32): f64 {
  accLL = 0;
  accEnt = 0;
  // Two pairs at a time: their dependency chains (z += a x) interleave.
  const lq = lp + <usize>K * 16;
  let p = p0;
  for (; p + 1 < p1; p += 2) {
    const xa = xp + <usize>(p * D) * 16;
    const xb = xa + <usize>D * 16;
    let ma = f64x2.splat(-Infinity), mb = f64x2.splat(-Infinity);
    for (let k = 0; k < K; k++) {
      const ao = A + <usize>(k * D * D) * 8;
      const bo = b + <usize>(k * D) * 8;
      let qa = f64x2.splat(0), qb = f64x2.splat(0);
      for (let i = 0; i < D; i++) {
        const bi = f64x2.splat(-load<f64>(bo + <usize>i * 8));
        let za = bi, zb = bi;
        const ro = ao + <usize>(i * D) * 8;
        for (let j = 0; j <= i; j++) {
          const a = f64x2.splat(load<f64>(ro + <usize>j * 8));
          za = f64x2.add(za, f64x2.mul(v128.load(xa + <usize>j * 16), a));
          zb = f64x2.add(zb, f64x2.mul(v128.load(xb + <usize>j * 16), a));
        }
        qa = f64x2.add(qa, f64x2.mul(za, za));
        qb = f64x2.add(qb, f64x2.mul(zb, zb));
      }
      const ck = f64x2.splat(load<f64>(c + <usize>k * 8));
      const va = f64x2.sub(ck, f64x2.mul(qa, f64x2.splat(0.5)));
      const vb = f64x2.sub(ck, f64x2.mul(qb, f64x2.splat(0.5)));
      v128.store(lp + <usize>k * 16, va);
      v128.store(lq + <usize>k * 16, vb);
      ma = f64x2.max(ma, va);
      mb = f64x2.max(mb, vb);
    }
    pairTail(xa, p, lp, ma, R, S, rows, D, K);
    pairTail(xb, p + 1, lq, mb, R, S, rows, D, K);
  }
  for (; p < p1; p++) {
    const xo = xp + <usize>(p * D) * 16;
    // Per component: z = A x - b (b = A (mu - centre)), the Mahalanobis form |z|^2, then the log density.
    let m = f64x2.splat(-Infinity);
    for (let k = 0; k < K; k++) {
      const ao = A + <usize>(k * D * D) * 8;
      const bo = b + <usize>(k * D) * 8;
      let q = f64x2.splat(0);
      for (let i = 0; i < D; i++) {
        let z = f64x2.splat(-load<f64>(bo + <usize>i * 8));
        const ro = ao + <usize>(i * D) * 8;
        for (let j = 0; j <= i; j++) z = f64x2.add(z, f64x2.mul(v128.load(xo + <usize>j * 16), f64x2.splat(load<f64>(ro + <usize>j * 8))));
        q = f64x2.add(q, f64x2.mul(z, z));
      }
      const v = f64x2.sub(f64x2.splat(load<f64>(c + <usize>k * 8)), f64x2.mul(q, f64x2.splat(0.5)));
      v128.store(lp + <usize>k * 16, v);
      m = f64x2.max(m, v);
    }
    pairTail(xo, p, lp, m, R, S, rows, D, K);
  }
  entropy = accEnt;
  return accLL;
}

/** The first free byte past the module's static data (where the caller's buffers may start). */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}

/**
 * The nearest of K centres ([K, D] f64, minus the centre) for every row, by squared
 * Euclidean distance (the first on ties): labels [rows] i32.
 */
export function nearest(xp: usize, C: usize, labels: usize, P: i32, rows: i32, D: i32, K: i32): void {
  for (let p = 0; p < P; p++) {
    const xo = xp + <usize>(p * D) * 16;
    let b0: f64 = Infinity, b1: f64 = Infinity;
    let k0: i32 = 0, k1: i32 = 0;
    for (let k = 0; k < K; k++) {
      const co = C + <usize>(k * D) * 8;
      let s = f64x2.splat(0);
      for (let d = 0; d < D; d++) {
        const v = f64x2.sub(v128.load(xo + <usize>d * 16), f64x2.splat(load<f64>(co + <usize>d * 8)));
        s = f64x2.add(s, f64x2.mul(v, v));
      }
      const s0 = f64x2.extract_lane(s, 0);
      const s1 = f64x2.extract_lane(s, 1);
      if (s0 < b0) { b0 = s0; k0 = k; }
      if (s1 < b1) { b1 = s1; k1 = k; }
    }
    store<i32>(labels + <usize>(2 * p) * 4, k0);
    if (2 * p + 1 < rows) store<i32>(labels + <usize>(2 * p + 1) * 4, k1);
  }
}

/**
 * The statistics of hard responsibilities (row n wholly in component labels[n]) into S, in
 * the layout of estep's (each row adds to its own lane).
 */
export function hardStats(xp: usize, labels: usize, S: usize, rows: i32, D: i32, K: i32): void {
  const SK = 1 + D + D * D;
  for (let n = 0; n < rows; n++) {
    const k = load<i32>(labels + <usize>n * 4);
    const lane = <usize>(n & 1) * 8;
    const xo = xp + <usize>((n >> 1) * D) * 16 + lane;
    const so = S + <usize>(k * SK) * 16 + lane;
    store<f64>(so, load<f64>(so) + 1.0);
    for (let d = 0; d < D; d++) {
      const xd = load<f64>(xo + <usize>d * 16);
      const o1 = so + <usize>(1 + d) * 16;
      store<f64>(o1, load<f64>(o1) + xd);
      const o2 = so + <usize>(1 + D + d * D) * 16;
      for (let e = 0; e <= d; e++) {
        const o = o2 + <usize>e * 16;
        store<f64>(o, load<f64>(o) + xd * load<f64>(xo + <usize>e * 16));
      }
    }
  }
}

// ---- k-means (the EM start): greedy k-means++ seeding and Lloyd with scikit-learn's rule ----

/** Squared distances of both rows of pair p to the point at c (f64, D values). */
// @ts-ignore: decorator
@inline
function dist2(xp: usize, p: i32, c: usize, D: i32): v128 {
  const xo = xp + <usize>(p * D) * 16;
  let s = f64x2.splat(0);
  for (let d = 0; d < D; d++) {
    const v = f64x2.sub(v128.load(xo + <usize>d * 16), f64x2.splat(load<f64>(c + <usize>d * 8)));
    s = f64x2.add(s, f64x2.mul(v, v));
  }
  return s;
}

/** Row j's values (lane j & 1 of pair j >> 1) copied to `to` (D f64). */
function copyRow(xp: usize, j: i32, D: i32, to: usize): void {
  const xo = xp + <usize>((j >> 1) * D) * 16 + <usize>(j & 1) * 8;
  for (let d = 0; d < D; d++) store<f64>(to + <usize>d * 8, load<f64>(xo + <usize>d * 16));
}

const UP: f64 = 1 + 1.0 / 1048576.0; // 1 + 2^-20: bounds are rounded outwards so rounding cannot make them wrong
const DOWN: f64 = 1 - 1.0 / 1048576.0;

/**
 * Nearest centres by Hamerly's (2010) bounds: ub[j] >= the distance to the own centre, lb[j] <=
 * the distance to every other; drift[k] is how far centre k moved in the last update (0 before
 * the first), maxDrift the largest. A row is rescanned only when its bounds cannot rule out a
 * change, so the labels are those of a full pass (up to exact ties). full: every row rescanned
 * (the first pass). Returns how many labels changed.
 */
function assignBounded(xp: usize, C: usize, labels: usize, n: i32, D: i32, K: i32, ub: usize, lb: usize,
  drift: usize, maxDrift: f64, half: usize, full: bool): i32 {
  // half[k]: half the distance from centre k to its nearest other centre (rounded down).
  for (let a = 0; a < K; a++) store<f64>(half + <usize>a * 8, Infinity);
  for (let a = 0; a < K; a++) {
    for (let b = a + 1; b < K; b++) {
      let q: f64 = 0;
      for (let d = 0; d < D; d++) { const v = load<f64>(C + <usize>(a * D + d) * 8) - load<f64>(C + <usize>(b * D + d) * 8); q += v * v; }
      const h = Math.sqrt(q) * 0.5 * DOWN;
      if (h < load<f64>(half + <usize>a * 8)) store<f64>(half + <usize>a * 8, h);
      if (h < load<f64>(half + <usize>b * 8)) store<f64>(half + <usize>b * 8, h);
    }
  }
  let changed = 0;
  for (let j = 0; j < n; j++) {
    const xo = xp + <usize>((j >> 1) * D) * 16 + <usize>(j & 1) * 8;
    const lo = labels + <usize>j * 4;
    const a0 = load<i32>(lo);
    let u: f64 = Infinity, l: f64 = 0;
    if (!full) {
      u = load<f64>(ub + <usize>j * 8) + load<f64>(drift + <usize>a0 * 8);
      l = load<f64>(lb + <usize>j * 8) - maxDrift;
      const m = Math.max(l, load<f64>(half + <usize>a0 * 8));
      if (u <= m) { store<f64>(ub + <usize>j * 8, u); store<f64>(lb + <usize>j * 8, l); continue; }
      // Tighten the upper bound to the exact distance.
      let q: f64 = 0;
      const co = C + <usize>(a0 * D) * 8;
      for (let d = 0; d < D; d++) { const v = load<f64>(xo + <usize>d * 16) - load<f64>(co + <usize>d * 8); q += v * v; }
      u = Math.sqrt(q) * UP;
      if (u <= m) { store<f64>(ub + <usize>j * 8, u); store<f64>(lb + <usize>j * 8, l); continue; }
    }
    // Rescan: the nearest centre (the first on ties) and the second nearest distance.
    let b1: f64 = Infinity, b2: f64 = Infinity;
    let k1: i32 = 0;
    for (let k = 0; k < K; k++) {
      let q: f64 = 0;
      const co = C + <usize>(k * D) * 8;
      for (let d = 0; d < D; d++) { const v = load<f64>(xo + <usize>d * 16) - load<f64>(co + <usize>d * 8); q += v * v; }
      if (q < b1) { b2 = b1; b1 = q; k1 = k; } else if (q < b2) b2 = q;
    }
    store<f64>(ub + <usize>j * 8, Math.sqrt(b1) * UP);
    store<f64>(lb + <usize>j * 8, Math.sqrt(b2) * DOWN);
    if (a0 != k1) { store<i32>(lo, k1); changed++; }
  }
  return changed;
}

/**
 * One k-means run on n rows in pair layout (xp, P pairs; an odd last row's second lane is
 * padding): k-means++ with `trials` candidates per centre after the first, drawing the
 * uniforms u[0], u[1], ... in order (1 + (K - 1) trials of them), then Lloyd: stop when no
 * label changes, or when the total squared centre shift is at most tol (then relabel), after
 * at most maxIter updates. Centres into C [K, D]; labels into `labels` [n]. Scratch: best
 * [P] f64x2, cum [n] f64, sums [K, D] f64, counts [K] f64, pots [trials] f64, cand [trials] i32.
 * Returns the number of centre updates.
 */
export function kmeansRun(xp: usize, P: i32, n: i32, D: i32, K: i32, u: usize, trials: i32, C: usize, labels: usize,
  best: usize, cum: usize, sums: usize, counts: usize, pots: usize, cand: usize, tol: f64, maxIter: i32,
  ub: usize, lb: usize, drift: usize, half: usize): i32 {
  // ---- seeding: best holds each row's squared distance to its nearest chosen centre (0 in the padding lane).
  const pad = (n & 1) != 0;
  let ui = 0;
  for (let k = 0; k < K; k++) {
    const T = k == 0 ? 1 : trials;
    let total: f64 = 0;
    if (k > 0) {
      for (let j = 0; j < n; j++) {
        total += load<f64>(best + <usize>((j >> 1) * 2 + (j & 1)) * 8);
        store<f64>(cum + <usize>j * 8, total);
      }
    }
    for (let t = 0; t < T; t++) {
      const uu = load<f64>(u + <usize>ui * 8);
      ui++;
      let i = 0;
      if (k > 0 && total > 0) {
        // The first i with best[0] + ... + best[i] >= uu total.
        const target = uu * total;
        let hi = n - 1;
        while (i < hi) {
          const mid = (i + hi) >>> 1;
          if (load<f64>(cum + <usize>mid * 8) < target) i = mid + 1; else hi = mid;
        }
      } else i = <i32>Math.floor(uu * <f64>n);
      store<i32>(cand + <usize>t * 4, i);
    }
    // The candidate that lowers the potential Σ_j min(best_j, d_j) most (the first on ties).
    let tb = 0;
    if (T > 1) {
      let bp: f64 = Infinity;
      for (let t = 0; t < T; t++) {
        copyRow(xp, load<i32>(cand + <usize>t * 4), D, C + <usize>(k * D) * 8);
        let s = f64x2.splat(0);
        for (let p = 0; p < P; p++) s = f64x2.add(s, f64x2.min(v128.load(best + <usize>p * 16), dist2(xp, p, C + <usize>(k * D) * 8, D)));
        const pot = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
        if (pot < bp) { bp = pot; tb = t; }
      }
    }
    copyRow(xp, load<i32>(cand + <usize>tb * 4), D, C + <usize>(k * D) * 8);
    for (let p = 0; p < P; p++) {
      const d = dist2(xp, p, C + <usize>(k * D) * 8, D);
      v128.store(best + <usize>p * 16, k == 0 ? d : f64x2.min(v128.load(best + <usize>p * 16), d));
    }
    if (pad && k == 0) store<f64>(best + <usize>(P - 1) * 16 + 8, 0.0);
  }
  // ---- Lloyd, with Hamerly's bounds (the labels of full passes).
  for (let j = 0; j < n; j++) store<i32>(labels + <usize>j * 4, -1);
  memory.fill(drift, 0, <usize>K * 8);
  let maxDrift: f64 = 0;
  assignBounded(xp, C, labels, n, D, K, ub, lb, drift, 0, half, true);
  let it = 0;
  let relabel = true;
  for (; it < maxIter; it++) {
    if (it > 0 && assignBounded(xp, C, labels, n, D, K, ub, lb, drift, maxDrift, half, false) == 0) { relabel = false; break; }
    memory.fill(sums, 0, <usize>(K * D) * 8);
    memory.fill(counts, 0, <usize>K * 8);
    for (let j = 0; j < n; j++) {
      const k = load<i32>(labels + <usize>j * 4);
      const xo = xp + <usize>((j >> 1) * D) * 16 + <usize>(j & 1) * 8;
      const so = sums + <usize>(k * D) * 8;
      store<f64>(counts + <usize>k * 8, load<f64>(counts + <usize>k * 8) + 1.0);
      for (let d = 0; d < D; d++) store<f64>(so + <usize>d * 8, load<f64>(so + <usize>d * 8) + load<f64>(xo + <usize>d * 16));
    }
    let shift: f64 = 0;
    maxDrift = 0;
    for (let k = 0; k < K; k++) {
      const cnt = load<f64>(counts + <usize>k * 8);
      let sk: f64 = 0;
      for (let d = 0; d < D; d++) {
        const o = C + <usize>(k * D + d) * 8;
        // An empty cluster keeps its centre.
        const c = cnt > 0 ? load<f64>(sums + <usize>(k * D + d) * 8) / cnt : load<f64>(o);
        const v = c - load<f64>(o);
        sk += v * v;
        store<f64>(o, c);
      }
      shift += sk;
      const dk = Math.sqrt(sk) * UP;
      store<f64>(drift + <usize>k * 8, dk);
      if (dk > maxDrift) maxDrift = dk;
    }
    if (shift <= tol) { it++; break; }
  }
  if (relabel) assignBounded(xp, C, labels, n, D, K, ub, lb, drift, maxDrift, half, false);
  return it;
}
