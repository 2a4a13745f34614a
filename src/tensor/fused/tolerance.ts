/**
 * A float32 error model for comparing two E-step implementations (a fused kernel and the
 * plain-op reference) on the same float32 inputs, used by the tests and the benchmark.
 *
 * With unit roundoff u = 2^-24 and A_j = sum_{i <= j} (|x_i| + |mu_i|) |P_ij| (the sum of
 * magnitudes behind z_j = (P^T (x - mu))_j), a float32 evaluation of z_j by a D-term dot
 * product and a subtraction is off by at most (D + 1) u A_j, so maha = sum_j z_j^2 is off
 * by at most (3D + 2) u sum_j A_j^2 (using |z_j| <= A_j; D u maha for the sum). The log
 * joint lj = c_k - maha / 2 adds the rounding of c_k (D logs and two sums) and of the
 * output. WGSL promises less of its builtins than JS and C do: log within 2^-21 absolute
 * near 1 (3 ulp elsewhere), exp within 3 + 2|x| ulp (an ulp of r is at most 2 u r). So each
 * implementation is within
 *   B_nk = (3D + 2) / 2 u sum_j A_j^2 + 4 u (|lj| + |c_k|) + (D + 2) 2^-21
 * of the exact value, and two of them within 2 B_nk of each other. The log marginal is a
 * max-shifted log-sum-exp; the exps of the sum err by (3 + 2 delta) 2u e^-delta <= 6u of the
 * sum, so it is within tol_lse = max_k 2 B_nk + 4 u (|lse| + K) + 8 u + 2^-20. A
 * responsibility r = exp(lj - lse) is within r (2 B_nk + tol_lse + 4 u (3 + 2 |lj - lse|)) + 4 u.
 */

/** Unit roundoff of float32. */
export const F32_U = 2 ** -24;

/** The inputs of one E-step, as flat arrays (row-major). */
export interface EStepArrays {
  x: ArrayLike<number>;
  means: ArrayLike<number>;
  precChol: ArrayLike<number>;
  logWeights: ArrayLike<number>;
  N: number;
  K: number;
  D: number;
  diagonal: boolean;
}

/** The outputs of one E-step, as flat arrays. */
export interface EStepOutputs {
  logJoint: ArrayLike<number>;
  logMarginal: ArrayLike<number>;
  resp: ArrayLike<number>;
}

/**
 * Returns the largest |a - b| / tolerance over all outputs (so <= 1 means the two agree
 * within the float32 error model above) and where it occurs. Infinite entries must match exactly.
 */
export function estepDisagreement(inp: EStepArrays, a: EStepOutputs, b: EStepOutputs): { ratio: number; where: string } {
  const { x, means, precChol: P, logWeights, N, K, D, diagonal } = inp;
  const u = F32_U;
  const c = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let h = 0;
    for (let d = 0; d < D; d++) h += Math.abs(Math.log(Math.abs(diagonal ? P[k * D + d] : P[(k * D + d) * D + d])));
    c[k] = (Number.isFinite(logWeights[k]) ? Math.abs(logWeights[k]) : 0) + h + D;
  }
  let worst = { ratio: 0, where: 'nowhere' };
  const note = (ratio: number, where: string) => {
    if (!(ratio <= worst.ratio)) worst = { ratio, where };
  };
  const cmp = (p: number, q: number, tol: number, where: string) => {
    if (!Number.isFinite(p) || !Number.isFinite(q)) {
      if (p !== q) note(Infinity, `${where}: ${p} vs ${q}`);
      return;
    }
    note(Math.abs(p - q) / tol, `${where}: ${p} vs ${q} (tolerance ${tol.toExponential(2)})`);
  };
  const B = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    let bMax = 0;
    for (let k = 0; k < K; k++) {
      let s2 = 0;
      for (let j = 0; j < D; j++) {
        let A = 0;
        if (diagonal) A = (Math.abs(x[n * D + j]) + Math.abs(means[k * D + j])) * Math.abs(P[k * D + j]);
        else for (let i = 0; i <= j; i++) A += (Math.abs(x[n * D + i]) + Math.abs(means[k * D + i])) * Math.abs(P[(k * D + i) * D + j]);
        s2 += A * A;
      }
      const lj = a.logJoint[n * K + k];
      B[k] = ((3 * D + 2) / 2) * u * s2 + 4 * u * (Math.abs(Number.isFinite(lj) ? lj : 0) + c[k]) + (D + 2) * 2 ** -21;
      bMax = Math.max(bMax, B[k]);
      cmp(lj, b.logJoint[n * K + k], 2 * B[k], `logJoint[${n}, ${k}]`);
    }
    const lse = a.logMarginal[n];
    const tolLse = 2 * bMax + 4 * u * (Math.abs(Number.isFinite(lse) ? lse : 0) + K) + 8 * u + 2 ** -20;
    cmp(lse, b.logMarginal[n], tolLse, `logMarginal[${n}]`);
    for (let k = 0; k < K; k++) {
      const r = a.resp[n * K + k];
      const lj = a.logJoint[n * K + k];
      const arg = Number.isFinite(lj) && Number.isFinite(lse) ? Math.abs(lj - lse) : 0;
      cmp(r, b.resp[n * K + k], Math.abs(r) * (2 * B[k] + tolLse + 4 * u * (3 + 2 * arg)) + 4 * u, `resp[${n}, ${k}]`);
    }
  }
  return worst;
}

/** Uniform draws in [0, 1) from the 32-bit seed (mulberry32). */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A reproducible E-step input for tests and benchmarks: K components with means in
 * [-3, 3]^D, points drawn around them (so responsibilities are neither all 0/1 nor flat),
 * precision factors with diagonals of either sign and magnitude in [0.5, 2] and
 * off-diagonals in [-0.5, 0.5] above the diagonal; below it, garbage in [-5, 5] that every
 * implementation must ignore. Float32 values; `seed` fixes everything (mulberry32).
 */
export function makeEStepCase(seed: number, N: number, K: number, D: number, diagonal: boolean): EStepArrays & { x: Float32Array; means: Float32Array; precChol: Float32Array; logWeights: Float32Array } {
  const rand = mulberry32(seed);
  const uni = (a: number, b: number) => a + (b - a) * rand();
  const means = Float32Array.from({ length: K * D }, () => uni(-3, 3));
  const precChol = new Float32Array(diagonal ? K * D : K * D * D);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < D; i++) {
      const dg = (rand() < 0.2 ? -1 : 1) * uni(0.5, 2);
      if (diagonal) precChol[k * D + i] = dg;
      else for (let j = 0; j < D; j++) precChol[(k * D + i) * D + j] = i === j ? dg : j > i ? uni(-0.5, 0.5) : uni(-5, 5);
    }
  }
  const w = Array.from({ length: K }, () => uni(0.1, 1));
  const tot = w.reduce((a, b) => a + b, 0);
  const logWeights = Float32Array.from(w, (v) => Math.log(v / tot));
  const x = new Float32Array(N * D);
  for (let n = 0; n < N; n++) {
    const k = Math.floor(rand() * K);
    for (let d = 0; d < D; d++) x[n * D + d] = means[k * D + d] + uni(-1.5, 1.5);
  }
  return { x, means, precChol, logWeights, N, K, D, diagonal };
}

/**
 * Returns the largest |a - b| / tolerance between two sets of sufficient statistics,
 * given per component as rows [n, s1 (D), s2 (D or D x D)] (so <= 1 is agreement). Each
 * entry is a sum over N rows of products of up to three float32 factors; any order of
 * float32 summation is within (N - 1) u of the sum of magnitudes, the products add 3u
 * each: tolerance (N + 4) u sum_n |r d_i d_j| (computed here in double) + u |value|, the
 * last for the rounding of a double-precision result.
 */
export function suffStatsDisagreement(c: { x: ArrayLike<number>; N: number; K: number; D: number }, resp: ArrayLike<number>, centre: ArrayLike<number> | undefined, diagonal: boolean, a: number[][], b: number[][]): number {
  const { N, K, D, x } = c;
  const u = F32_U;
  let worst = 0;
  const at = (k: number, i: number) => (centre ? centre[k * D + i] : 0);
  for (let k = 0; k < K; k++) {
    let m0 = 0;
    const m1 = new Float64Array(D);
    const m2 = new Float64Array(diagonal ? D : D * D);
    for (let n = 0; n < N; n++) {
      const r = Math.abs(resp[n * K + k]);
      m0 += r;
      for (let i = 0; i < D; i++) {
        const di = Math.abs(x[n * D + i] - at(k, i));
        m1[i] += r * di;
        if (diagonal) m2[i] += r * di * di;
        else for (let j = 0; j < D; j++) m2[i * D + j] += r * di * Math.abs(x[n * D + j] - at(k, j));
      }
    }
    const mags = [m0, ...m1, ...m2];
    a[k].forEach((g, e) => {
      const tol = (N + 4) * u * mags[e] + u * Math.abs(g) + 1e-30;
      const r = Math.abs(g - b[k][e]) / tol;
      if (!(r <= worst)) worst = r;
    });
  }
  return worst;
}

/** A chain's inputs as flat arrays: init [K], mats [T-1, K, K] row-major. */
export interface ChainArrays {
  init: ArrayLike<number>;
  mats: ArrayLike<number>;
  T: number;
  K: number;
}

/** A chain's outputs: log Z and, where computed, p(z_1) [K] and the pairwise marginals [T-1, K, K]. */
export interface ChainOutputs {
  logZ: number;
  first?: ArrayLike<number>;
  pairs?: ArrayLike<number>;
}

/**
 * A bound on |log Z - exact| for a float32 evaluation of a chain's log partition function,
 * by the sequential recursion or the product tree, with WGSL's accuracy for exp and log.
 * Every value either form computes is a log-sum-exp over paths of a range of steps, so its
 * magnitude is at most B_t = max |init| + sum_{s <= t} (max |mats[s]| + log K) for a range
 * ending at step t. One log-semiring step (K sums a + b, max shift, K exps, a K-term sum, a
 * log, an add) errs by at most
 *   delta(B) = 4 u B + (K + 8 + 6 log K) u + 2^-21
 * beyond its inputs' errors (1-Lipschitz in them): adds and the shift u B each (x - m up to
 * 2 B), exps (3 + 2y) 2u e^-y <= 6u of a sum >= 1, the sum K u, the log 2^-21 absolute near 1
 * and 3 ulp elsewhere. The sequential form adds delta(B_t) at each step t; the tree adds it
 * at each of its T - 1 products, whose ranges at one level are disjoint, so its magnitudes
 * sum to at most ceil(log2 T) B_T. The bound is the larger of the two sums plus the final
 * log-sum-exp. Entries of -Infinity (impossible transitions) count as 0 in the magnitudes.
 */
export function chainLogZTolerance(c: ChainArrays): number {
  return chainBounds(c).E;
}

/** chainLogZTolerance's E and the magnitude bound B = B_T of every value computed. */
function chainBounds(c: ChainArrays): { E: number; B: number } {
  const { init, mats, T, K } = c;
  const u = F32_U;
  const fin = (v: number) => (Number.isFinite(v) ? Math.abs(v) : 0);
  const lnK = Math.log(K);
  const perStep = (K + 8 + 6 * lnK) * u + 2 ** -21;
  let B = 0;
  for (let k = 0; k < K; k++) B = Math.max(B, fin(init[k]));
  let seq = 4 * u * B + perStep;
  for (let t = 0; t < T - 1; t++) {
    let m = 0;
    for (let e = t * K * K; e < (t + 1) * K * K; e++) m = Math.max(m, fin(mats[e]));
    B += m + lnK;
    seq += 4 * u * B + perStep;
  }
  const tree = 4 * u * Math.ceil(Math.log2(Math.max(T, 2))) * B + T * perStep;
  return { E: Math.max(seq, tree) + 4 * u * (B + lnK) + perStep, B };
}

/**
 * Returns the largest |got - exact| / tolerance over a chain's outputs, for a float32
 * implementation (so <= 1 is agreement), and where. log Z within E = chainLogZTolerance; a
 * marginal p = exp(alpha + mats + beta - log Z) inherits the error of three such values and
 * the rounding of its argument (up to 2 B), and WGSL's exp: |dp| <= p (3E + 6 u B) (1 + 4E)
 * + 4u, the last for outputs near 0 and the float32 rounding. Infinite or NaN entries must
 * match exactly. `exact` is a float64 evaluation.
 */
export function chainDisagreement(c: ChainArrays, exact: ChainOutputs, got: ChainOutputs): { ratio: number; where: string } {
  const { E, B } = chainBounds(c);
  const u = F32_U;
  let worst = { ratio: 0, where: 'nowhere' };
  const cmp = (want: number, have: number, tol: number, where: string) => {
    let ratio: number;
    if (!Number.isFinite(want) || !Number.isFinite(have)) ratio = Object.is(want, have) ? 0 : Infinity; // NaN matches NaN
    else ratio = Math.abs(want - have) / tol;
    if (!(ratio <= worst.ratio)) worst = { ratio, where: `${where}: ${have} vs exact ${want} (tolerance ${tol.toExponential(2)})` };
  };
  cmp(exact.logZ, got.logZ, E, 'logZ');
  const pTol = (p: number) => Math.abs(p) * (3 * E + 6 * u * B) * (1 + 4 * E) + 4 * u;
  for (const key of ['first', 'pairs'] as const) {
    const want = exact[key];
    const have = got[key];
    if (!want || !have) continue;
    if (want.length !== have.length) return { ratio: Infinity, where: `${key}: length ${have.length} vs ${want.length}` };
    for (let e = 0; e < want.length; e++) cmp(want[e], have[e], pTol(want[e]), `${key}[${e}]`);
  }
  return worst;
}

/**
 * A reproducible chain for tests and benchmarks: log potentials uniform in [-3, 3] (float32),
 * with a fraction `impossible` of the transition entries set to -Infinity (never a whole
 * row's diagonal, so some path stays possible). `seed` fixes everything (mulberry32).
 */
export function makeChainCase(seed: number, T: number, K: number, impossible = 0): ChainArrays & { init: Float32Array; mats: Float32Array } {
  const rand = mulberry32(seed);
  const init = Float32Array.from({ length: K }, () => -3 + 6 * rand());
  const mats = new Float32Array((T - 1) * K * K);
  for (let e = 0; e < mats.length; e++) {
    const i = Math.floor(e / K) % K;
    const j = e % K;
    mats[e] = impossible > 0 && i !== j && rand() < impossible ? -Infinity : -3 + 6 * rand();
  }
  return { init, mats, T, K };
}
