// AssemblyScript source of the compiled Gaussian-mixture E-step (src/native/gmm-wasm.ts
// holds its build; `npm run build:wasm` remakes it, and test/native checks the two agree).
// One pass over the rows computes, for each row, the log density of every component, the
// log-sum-exp, the responsibilities, and adds the row to the weighted sufficient statistics
// of the M-step; all in float64, two rows at a time in the two lanes of a SIMD vector.
//
// Memory layout (byte offsets chosen by the caller, all 16-byte aligned):
//   xp    [P, D] f64x2   row pairs: lane l of (p, d) is x[2p + l, d] - centre[d]
//   A     [K, D, D] f64  inverse Cholesky factor of each covariance (lower; row-major)
//   mu    [K, D] f64     means minus the centre
//   c     [K] f64        log w_k - log |L_k| - D/2 log 2π
//   R     [N, K] f32     responsibilities (out)
//   S     [K, 1 + D + D D] f64x2   per-lane statistics (out, added to): Σr, Σr x, Σr x x' (lower triangle)
//   diff  [D] f64x2, lp [K] f64x2   scratch

const LOG2E: f64 = 1.4426950408889634;
const LN2HI: f64 = 0.6931471803691238;
const LN2LO: f64 = 1.9082149292705877e-10;
const MAGIC: f64 = 6755399441055744.0; // 1.5 x 2^52: adding it leaves an integer in the low mantissa bits

/** e^x for x <= 0 in both lanes (x below -700 gives e^-700); relative error ~1e-15. */
// @ts-ignore: decorator
@inline
function expv(x: v128): v128 {
  x = f64x2.max(x, f64x2.splat(-700.0));
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
  return f64x2.mul(p, scale);
}

/**
 * Rows [2 p0, 2 p1) (pairs p0..p1) of the E-step; `rows` is the true row count (the last
 * pair's second lane is padding when it is odd). Returns Σ log p(x_n) over those rows.
 */
export function estep(xp: usize, A: usize, mu: usize, c: usize, R: usize, S: usize, diff: usize, lp: usize,
  p0: i32, p1: i32, rows: i32, D: i32, K: i32, writeR: i32): f64 {
  let ll: f64 = 0;
  const SK = 1 + D + D * D; // statistics per component
  for (let p = p0; p < p1; p++) {
    const xo = xp + <usize>(p * D) * 16;
    // Per component: the Mahalanobis form by the triangular product, then the log density.
    let m = f64x2.splat(-Infinity);
    for (let k = 0; k < K; k++) {
      const mo = mu + <usize>(k * D) * 8;
      for (let d = 0; d < D; d++) v128.store(diff + <usize>d * 16, f64x2.sub(v128.load(xo + <usize>d * 16), f64x2.splat(load<f64>(mo + <usize>d * 8))));
      let q = f64x2.splat(0);
      const ao = A + <usize>(k * D * D) * 8;
      for (let i = 0; i < D; i++) {
        let z = f64x2.splat(0);
        const ro = ao + <usize>(i * D) * 8;
        for (let j = 0; j <= i; j++) z = f64x2.add(z, f64x2.mul(v128.load(diff + <usize>j * 16), f64x2.splat(load<f64>(ro + <usize>j * 8))));
        q = f64x2.add(q, f64x2.mul(z, z));
      }
      const v = f64x2.sub(f64x2.splat(load<f64>(c + <usize>k * 8)), f64x2.mul(q, f64x2.splat(0.5)));
      v128.store(lp + <usize>k * 16, v);
      m = f64x2.max(m, v);
    }
    let s = f64x2.splat(0);
    for (let k = 0; k < K; k++) {
      const e = expv(f64x2.sub(v128.load(lp + <usize>k * 16), m));
      v128.store(lp + <usize>k * 16, e);
      s = f64x2.add(s, e);
    }
    const s0 = f64x2.extract_lane(s, 0);
    const s1 = f64x2.extract_lane(s, 1);
    const two = 2 * p + 1 < rows;
    ll += f64x2.extract_lane(m, 0) + Math.log(s0);
    if (two) ll += f64x2.extract_lane(m, 1) + Math.log(s1);
    // Lane weights: 1/s (responsibilities), 0 for the padding lane.
    const inv = f64x2.replace_lane(f64x2.splat(1.0 / s0), 1, two ? 1.0 / s1 : 0.0);
    const r0 = <usize>(2 * p * K) * 4;
    for (let k = 0; k < K; k++) {
      const r = f64x2.mul(v128.load(lp + <usize>k * 16), inv);
      if (writeR) {
        store<f32>(R + r0 + <usize>k * 4, <f32>f64x2.extract_lane(r, 0));
        if (two) store<f32>(R + r0 + <usize>(K + k) * 4, <f32>f64x2.extract_lane(r, 1));
      }
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
  return ll;
}

/** The first free byte past the module's static data (where the caller's buffers may start). */
export function heapBase(): usize {
  return (__heap_base + 15) & ~15;
}
