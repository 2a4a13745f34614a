// The exact posterior of a small two-component mixture with unit-variance components and
// mu[k] ~ N(0, priorVar), by summing over all 2^N allocations: shared by the Gibbs, slice and
// conjugate-Gibbs tests.

/** Exact posterior moments of mu[k], P(z[n] = 1 | y) and, with a Dirichlet on the weights, of w[1]. */
export interface AllocationPosterior {
  mean: number[];
  second: number[];
  pz1: number[];
  /** E[w1 | y] and E[w1² | y] (Dirichlet weights only; NaN for fixed weights). */
  w1: [number, number];
}

export type AllocationWeights = { fixed: readonly number[] } | { dirichlet: readonly [number, number] };

/** log Γ(x) by Lanczos (g = 7, n = 9), accurate to ~1e-15 for x > 0. */
export function lgamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * p(z) is Π P[z_n] for fixed weights, or B(α + c) / B(α) for w ~ Dirichlet(α) (the
 * Dirichlet-categorical marginal); given z each component's points are y_k ~ N(0, I + v J)
 * and mu[k] | y, z ~ N(v_k s_k, v_k) with v_k = 1 / (1/v + n_k).
 */
export function exactAllocationPosterior(y: readonly number[], priorVar: number, weights: AllocationWeights): AllocationPosterior {
  const N = y.length;
  const terms: { w: number; m: number[]; v: number[]; z: number[]; c1: number }[] = [];
  let maxLog = -Infinity;
  for (let mask = 0; mask < 1 << N; mask++) {
    const z: number[] = Array.from({ length: N }, (_, n) => ((mask >> n) & 1 ? 1 : 0));
    const c = [z.filter((k) => k === 0).length, z.filter((k) => k === 1).length];
    let logw = 'fixed' in weights
      ? z.reduce((a, k) => a + Math.log(weights.fixed[k]), 0)
      : lgamma(weights.dirichlet[0] + c[0]) + lgamma(weights.dirichlet[1] + c[1]) - lgamma(weights.dirichlet[0] + weights.dirichlet[1] + N);
    const m: number[] = [];
    const v: number[] = [];
    for (let k = 0; k < 2; k++) {
      const ys = y.filter((_, n) => z[n] === k);
      const n = ys.length;
      const s = ys.reduce((a, b) => a + b, 0);
      const ss = ys.reduce((a, b) => a + b * b, 0);
      logw += -0.5 * (n * Math.log(2 * Math.PI) + Math.log(1 + priorVar * n) + ss - (priorVar * s * s) / (1 + priorVar * n));
      v.push(1 / (1 / priorVar + n));
      m.push(v[k] * s);
    }
    maxLog = Math.max(maxLog, logw);
    terms.push({ w: logw, m, v, z, c1: c[0] });
  }
  let total = 0;
  const mean = [0, 0];
  const second = [0, 0];
  const w1: [number, number] = [0, 0];
  const pz1 = new Array<number>(N).fill(0);
  for (const t of terms) {
    const wt = Math.exp(t.w - maxLog);
    total += wt;
    for (let k = 0; k < 2; k++) {
      mean[k] += wt * t.m[k];
      second[k] += wt * (t.v[k] + t.m[k] ** 2);
    }
    if ('dirichlet' in weights) {
      // w[1] | z ~ Beta(alpha1 + c1, alpha2 + c2).
      const A = weights.dirichlet[0] + weights.dirichlet[1];
      const a = weights.dirichlet[0] + t.c1;
      w1[0] += (wt * a) / (A + N);
      w1[1] += (wt * a * (a + 1)) / ((A + N) * (A + N + 1));
    }
    t.z.forEach((k, n) => { if (k === 0) pz1[n] += wt; });
  }
  return {
    mean: mean.map((x) => x / total), second: second.map((x) => x / total), pz1: pz1.map((x) => x / total),
    w1: 'dirichlet' in weights ? [w1[0] / total, w1[1] / total] : [NaN, NaN],
  };
}
