/**
 * The EM fits that em-webgpu-checks.ts runs on webgpu (in a child process) and
 * em-webgpu.test.ts runs on wasm, with float64 host references. Fixed seeds. Both fits start
 * from the same seed, and the k-means start is float64 on the host, so they start from the
 * same parameters and differ only by float32 rounding on two devices.
 *
 * The log-likelihood tolerance: the reported log likelihood is a float32 sum of N per-row
 * terms l_n (for the HMM, the forward recursion's per-step normalisers), each from
 * O(D^2 + K) float32 operations. With unit roundoff u = 2^-24, the evaluation error of one
 * backend is at most (N + 8 D^2 + 4 K + 16) u Σ|l_n| (recursive summation, N u Σ|l_n|, plus
 * the per-term operations; Higham 2002, §4.2), and two backends differ by at most twice that.
 * The parameters differ by rounding too, but at a converged fit the log likelihood is
 * stationary in them (second order). Σ|l_n| is computed in float64 from the wasm fit's
 * parameters. Hard assignments: argmax_k of log w_k + log p(x_n | θ_k) in float64 from each
 * fit's parameters; rows whose two best components are within 1e-3 in log are left out (a
 * float32 rounding of the parameters moves a log density far less than that).
 */
import { Key } from '../../src/tensor';
import type { DataInput } from '../../src/model/data';
import type { EmResult } from '../../src/infer/em';
import { GMM_FULL, GMM_DIAG } from './gmm-models';
import { lgamma } from '../stdlib/reference';

const LOG_2PI = Math.log(2 * Math.PI);
export const U = 2 ** -24;
const lse = (xs: number[]) => { const m = Math.max(...xs); return m === -Infinity ? m : m + Math.log(xs.reduce((a, v) => a + Math.exp(v - m), 0)); };
const lgam = (n: number) => { let s = 0; for (let i = 2; i <= n; i++) s += Math.log(i); return s; };

export type P = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Per-row, per-component log w_k + log p(x_n | θ_k) in float64, for the mixtures. */
export type Joint = (p: P, n: number) => number[];

function rows(seed: number, N: number, D: number, K: number): number[][] {
  const rng = Key.seed(seed).rng();
  const centres = Array.from({ length: K }, (_, k) => Array.from({ length: D }, (_, d) => 2.2 * k * (d % 2 === 0 ? 1 : -0.6)));
  return Array.from({ length: N }, (_, i) => centres[i % K].map((c, d) => c + rng.normal() * (0.7 + 0.3 * d)));
}

export const x2 = rows(11, 180, 2, 3);
const fullJointOf = (xs: number[][]): Joint => (p, n) => p.w.map((w: number, k: number) => {
  const L = p.L[k] as number[][];
  const x = xs[n];
  const D = x.length;
  const z: number[] = [];
  let logdet = 0;
  for (let i = 0; i < D; i++) {
    let s = x[i] - p.mu[k][i];
    for (let j = 0; j < i; j++) s -= L[i][j] * z[j];
    z.push(s / L[i][i]);
    logdet += Math.log(L[i][i]);
  }
  return Math.log(w) - 0.5 * D * LOG_2PI - logdet - 0.5 * z.reduce((a, v) => a + v * v, 0);
});
const fullJoint = fullJointOf(x2);
// Two tight clusters and a third component started 100 away (as em-reseed.test.ts): a re-seed,
// and component variances below 1e-2 of the data's (the M-step's precision fallbacks).
export const tight = (() => {
  const rng = Key.seed(3).rng();
  return [...Array.from({ length: 30 }, () => [rng.normal() * 0.1, rng.normal() * 0.1]), ...Array.from({ length: 30 }, () => [5 + rng.normal() * 0.1, 5 + rng.normal() * 0.1])];
})();
const I2 = [[0.1, 0], [0, 0.1]];
const diagJointOf = (xs: number[][]): Joint => (p, n) => p.w.map((w: number, k: number) =>
  Math.log(w) + xs[n].reduce((a, v, d) => a - 0.5 * LOG_2PI - Math.log(p.sigma[k][d]) - 0.5 * ((v - p.mu[k][d]) / p.sigma[k][d]) ** 2, 0));
const diagJoint = diagJointOf(x2);
export const counts = (() => {
  const rng = Key.seed(5).rng();
  return Array.from({ length: 120 }, (_, i) => {
    const lam = i % 2 ? 9 : 1.5; // Poisson draws by inversion
    let k = 0;
    let p = Math.exp(-lam);
    let c = p;
    const v = rng.uniform();
    while (v > c && k < 200) { k++; p *= lam / k; c += p; }
    return k;
  });
})();
const poissonJoint: Joint = (p, n) => p.w.map((w: number, k: number) => Math.log(w) + counts[n] * Math.log(p.lam[k]) - p.lam[k] - lgam(counts[n]));

/** A student_t mixture with a free nu: no closed-form update for nu, so EM's M-step runs L-BFGS. */
const STUDENT_T = `model t { data K: int  data y: real[N]  param w: simplex[K]  param mu: real[K]  param s: positive[K]  param nu: positive
  for n in 1..N { y[n] ~ mixture(w, k -> student_t(nu, mu[k], s[k])) } }`;
/** Heavy-tailed rows (student_t with nu = 3 around -2 and 2), so that nu is identified. */
export const tRows = (() => {
  const rng = Key.seed(12).rng();
  return Array.from({ length: 120 }, (_, i) => {
    const chi2 = rng.normal() ** 2 + rng.normal() ** 2 + rng.normal() ** 2;
    return (i % 2 ? 2 : -2) + (0.7 * rng.normal()) / Math.sqrt(chi2 / 3);
  });
})();
const studentJoint: Joint = (p, n) => p.w.map((w: number, k: number) => {
  const z = (tRows[n] - p.mu[k]) / p.s[k];
  return Math.log(w) + lgamma((p.nu + 1) / 2) - lgamma(p.nu / 2) - 0.5 * Math.log(p.nu * Math.PI) - Math.log(p.s[k]) - ((p.nu + 1) / 2) * Math.log1p((z * z) / p.nu);
});

// Updates solved on the host (an isotonic regression, a float64 Newton solve): on webgpu their
// statistics are read with an awaited read between the device's updates.
/** Two normal components with ordered means (isotonic regression of the weighted means). */
const ORDERED = `model o { data K: int  data y: real[N]  param w: simplex[K]  param mu: ordered[K]  param s: positive[K]
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], s[k])) } }`;
/** A student_t mixture with a fixed nu and ordered locations (ECM: the location's u reused by the scale update). */
const STUDENT_T_ORDERED = `model t { data K: int  data y: real[N]  param w: simplex[K]  param mu: ordered[K]  param s: positive[K]
  for n in 1..N { y[n] ~ mixture(w, k -> student_t(4.0, mu[k], s[k])) } }`;
/** A gamma mixture: shapes by a float64 Newton solve, rates in closed form. */
const GAMMA = `model g { data K: int  data y: real<lower=0>[N]  param w: simplex[K]  param a: positive[K]  param b: positive[K]
  for n in 1..N { y[n] ~ mixture(w, k -> gamma(a[k], b[k])) } }`;
/** Gamma draws: shape 2, rate 1 and shape 9, rate 3 (sums of exponentials), alternating. */
export const gammaRows = (() => {
  const rng = Key.seed(13).rng();
  return Array.from({ length: 120 }, (_, i) => {
    const [shape, rate] = i % 2 ? [2, 1] : [9, 3];
    let s = 0;
    for (let j = 0; j < shape; j++) s -= Math.log(rng.uniform());
    return s / rate;
  });
})();
const normalJoint: Joint = (p, n) => p.w.map((w: number, k: number) => Math.log(w) - 0.5 * LOG_2PI - Math.log(p.s[k]) - 0.5 * ((tRows[n] - p.mu[k]) / p.s[k]) ** 2);
const student4Joint: Joint = (p, n) => p.w.map((w: number, k: number) => {
  const z = (tRows[n] - p.mu[k]) / p.s[k];
  return Math.log(w) + lgamma(2.5) - lgamma(2) - 0.5 * Math.log(4 * Math.PI) - Math.log(p.s[k]) - 2.5 * Math.log1p((z * z) / 4);
});
const gammaJoint: Joint = (p, n) => p.w.map((w: number, k: number) =>
  Math.log(w) + p.a[k] * Math.log(p.b[k]) - lgamma(p.a[k]) + (p.a[k] - 1) * Math.log(gammaRows[n]) - p.b[k] * gammaRows[n]);

const HMM = `model h { data K: int  data y: real[T]  param p0: simplex[K]  param A: simplex[K, K]  param mu: real[K]  param sigma: positive[K]
  z[1] ~ categorical(p0)
  for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
  for t in 1..T { y[t] ~ normal(mu[z[t]], sigma[z[t]]) } }`;
export const hmmY = (() => {
  const rng = Key.seed(8).rng();
  let s = 0;
  return Array.from({ length: 80 }, () => { if (rng.uniform() < 0.1) s = 1 - s; return (s ? 1.5 : -1.5) + 0.6 * rng.normal(); });
})();
/** The forward recursion's per-step log normalisers (their sum is the log likelihood), float64. */
function hmmTerms(p: P): number[] {
  const K = p.mu.length;
  const e = (t: number, k: number) => -0.5 * LOG_2PI - Math.log(p.sigma[k]) - 0.5 * ((hmmY[t] - p.mu[k]) / p.sigma[k]) ** 2;
  let a = Array.from({ length: K }, (_, k) => Math.log(p.p0[k]) + e(0, k));
  const out = [lse(a)];
  a = a.map((v) => v - out[0]);
  for (let t = 1; t < hmmY.length; t++) {
    const next = Array.from({ length: K }, (_, j) => lse(a.map((v, i) => v + Math.log(p.A[i][j]))) + e(t, j));
    const c = lse(next);
    out.push(c);
    a = next.map((v) => v - c);
  }
  return out;
}

export interface Case {
  src: string;
  data: DataInput;
  N: number;
  D: number;
  K: number;
  terms: (p: P) => number[];
  joint?: Joint;
  /** EM options besides the seed (1). */
  opts?: { init?: P; maxIter?: number; nInit?: number };
}
const mixtureTerms = (joint: Joint, N: number) => (p: P) => Array.from({ length: N }, (_, n) => lse(joint(p, n)));
export const cases: Record<string, Case> = {
  full: { src: GMM_FULL, data: { K: 3, x: x2 }, N: x2.length, D: 2, K: 3, joint: fullJoint, terms: mixtureTerms(fullJoint, x2.length) },
  diag: { src: GMM_DIAG, data: { K: 3, x: x2 }, N: x2.length, D: 2, K: 3, joint: diagJoint, terms: mixtureTerms(diagJoint, x2.length) },
  poisson: {
    src: `model p { data K: int  data y: int<lower=0>[N]  param w: simplex[K]  param lam: positive[K]
      for n in 1..N { y[n] ~ mixture(w, k -> poisson(lam[k])) } }`,
    data: { K: 2, y: counts }, N: counts.length, D: 1, K: 2, joint: poissonJoint, terms: mixtureTerms(poissonJoint, counts.length),
  },
  // Several k-means starts on the generic E-step: each start reads the data on the host again
  // (webgpu drops a tensor's host copy once a kernel uploads it).
  poissonStarts: {
    src: `model p { data K: int  data y: int<lower=0>[N]  param w: simplex[K]  param lam: positive[K]
      for n in 1..N { y[n] ~ mixture(w, k -> poisson(lam[k])) } }`,
    data: { K: 2, y: counts }, N: counts.length, D: 1, K: 2, joint: poissonJoint, terms: mixtureTerms(poissonJoint, counts.length), opts: { nInit: 3 },
  },
  hmm: { src: HMM, data: { K: 2, y: hmmY }, N: hmmY.length, D: 1, K: 2, terms: hmmTerms },
  studentT: { src: STUDENT_T, data: { K: 2, y: tRows }, N: tRows.length, D: 1, K: 2, joint: studentJoint, terms: mixtureTerms(studentJoint, tRows.length) },
  ordered: { src: ORDERED, data: { K: 2, y: tRows }, N: tRows.length, D: 1, K: 2, joint: normalJoint, terms: mixtureTerms(normalJoint, tRows.length) },
  studentTOrdered: { src: STUDENT_T_ORDERED, data: { K: 2, y: tRows }, N: tRows.length, D: 1, K: 2, joint: student4Joint, terms: mixtureTerms(student4Joint, tRows.length) },
  gamma: { src: GAMMA, data: { K: 2, y: gammaRows }, N: gammaRows.length, D: 1, K: 2, joint: gammaJoint, terms: mixtureTerms(gammaJoint, gammaRows.length) },
  reseed: {
    src: GMM_FULL, data: { K: 3, x: tight }, N: tight.length, D: 2, K: 3, joint: fullJointOf(tight), terms: mixtureTerms(fullJointOf(tight), tight.length),
    opts: { init: { w: [0.5, 0.49, 0.01], mu: [[0, 0], [5, 5], [100, 100]], L: [I2, I2, I2] }, maxIter: 30 },
  },
  // The same on the generic E-step (diagonal normals).
  reseedDiag: {
    src: GMM_DIAG, data: { K: 3, x: tight }, N: tight.length, D: 2, K: 3, joint: diagJointOf(tight), terms: mixtureTerms(diagJointOf(tight), tight.length),
    opts: { init: { w: [0.5, 0.49, 0.01], mu: [[0, 0], [5, 5], [100, 100]], sigma: [[0.3, 0.3], [0.3, 0.3], [0.3, 0.3]] }, maxIter: 30 },
  },
};

export const argmaxes = (joint: Joint, p: P, N: number) => Array.from({ length: N }, (_, n) => {
  const v = joint(p, n);
  const order = v.map((x, k) => [x, k]).sort((a, b) => b[0] - a[0]);
  return { k: order[0][1], gap: order.length > 1 ? order[0][0] - order[1][0] : Infinity };
});


/** A fit's summary, as the child reports it (and the parent computes it on wasm). */
/** New rows for predict on the Poisson case (em-webgpu's 'em-predict'). */
export const PREDICT_ROWS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14];

/** Starting values for online EM on the full case (its `init`: mapped through the unconstrained space with awaited reads on webgpu). */
export const onlineInit = { w: [0.3, 0.3, 0.4], mu: [[0, 0], [2, -1], [4, -2.5]], L: [[[1, 0], [0, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1]]] };

/** The full case's rows in four chunks (online EM's check). */
export function onlineChunks(): { x: number[][] }[] {
  const rows = cases.full.data.x as number[][];
  return [0, 1, 2, 3].map((i) => ({ x: rows.slice(Math.floor((i * rows.length) / 4), Math.floor(((i + 1) * rows.length) / 4)) }));
}

export function summarize(r: EmResult): FitSummary {
  return { logLik: r.logLik, iterations: r.iterations, converged: r.converged, traceLength: r.trace.length, params: r.params, reseeds: r.reseeds.map((e) => [e.traceIndex, e.component]) };
}

/** What the child reports of a fit (and what the parent computes on wasm). */
export interface FitSummary {
  logLik: number;
  iterations: number;
  converged: boolean;
  traceLength: number;
  params: P;
  /** Re-seeds: [traceIndex, component] each. */
  reseeds: number[][];
}

/**
 * The float32 tolerance on the log likelihood of case `name` (module comment of
 * em-webgpu-checks.ts): twice (N + 8 D^2 + 4 K + 16) u Σ|l_n|, with the l_n in float64 at `params`.
 */
export function logLikTolerance(name: string, params: P): { tol: number; hostF64: number } {
  const c = cases[name];
  const terms = c.terms(params);
  const absSum = terms.reduce((a, v) => a + Math.abs(v), 0);
  return { tol: 2 * (c.N + 8 * c.D * c.D + 4 * c.K + 16) * U * absSum, hostF64: terms.reduce((a, v) => a + v, 0) };
}

/** Problems (empty when none) comparing a webgpu fit with the wasm one of the same case. */
export function compareFits(name: string, ref: FitSummary, gpu: FitSummary): { problems: string[]; diff: number; tol: number; compared: number } {
  const c = cases[name];
  const problems: string[] = [];
  const { tol, hostF64 } = logLikTolerance(name, ref.params);
  const diff = Math.abs(gpu.logLik - ref.logLik);
  if (!(Math.abs(hostF64 - ref.logLik) <= tol)) problems.push(`the wasm log likelihood ${ref.logLik} is not the float64 one at its parameters, ${hostF64} (tolerance ${tol})`);
  if (!(diff <= tol)) problems.push(`log likelihood: wasm ${ref.logLik}, webgpu ${gpu.logLik}: difference ${diff} above ${tol}`);
  if (JSON.stringify(ref.reseeds) !== JSON.stringify(gpu.reseeds)) problems.push(`re-seeds: wasm ${JSON.stringify(ref.reseeds)}, webgpu ${JSON.stringify(gpu.reseeds)}`);
  if (ref.iterations !== gpu.iterations || ref.converged !== gpu.converged || ref.traceLength !== gpu.traceLength) {
    problems.push(`iterations: wasm ${ref.iterations} (converged ${ref.converged}), webgpu ${gpu.iterations} (converged ${gpu.converged})`);
  }
  let compared = 0;
  if (c.joint) {
    const a = argmaxes(c.joint, ref.params, c.N);
    const b = argmaxes(c.joint, gpu.params, c.N);
    for (let n = 0; n < c.N; n++) {
      if (a[n].gap < 1e-3 || b[n].gap < 1e-3) continue;
      compared++;
      if (a[n].k !== b[n].k) problems.push(`row ${n}: wasm assigns component ${a[n].k + 1}, webgpu ${b[n].k + 1}`);
    }
  }
  return { problems, diff, tol, compared };
}
