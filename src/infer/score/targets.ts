/**
 * Explicit targets for the score-based samplers' tests and benchmarks.
 */
import type { GradientTarget } from '../mcmc/hmc';

/**
 * The normalised Gaussian mixture Σ_k w_k N(μ_k, I) as a GradientTarget (log Z = 0), counting
 * its evaluations in `evals`.
 */
export function isotropicMixtureTarget(ws: readonly number[], mus: readonly (readonly number[])[]): GradientTarget & { evals: number } {
  if (ws.length === 0 || ws.length !== mus.length) throw new RangeError(`isotropicMixtureTarget: ${ws.length} weights for ${mus.length} means`);
  const d = mus[0].length;
  if (mus.some((m) => m.length !== d)) throw new RangeError('isotropicMixtureTarget: the means differ in length');
  const K = ws.length;
  const c0 = ws.map((w) => Math.log(w) - 0.5 * d * Math.log(2 * Math.PI));
  const l = new Float64Array(K);
  return {
    dim: d,
    evals: 0,
    logDensityGrad(u, g) {
      this.evals++;
      let mx = -Infinity;
      for (let k = 0; k < K; k++) {
        let s = c0[k];
        for (let i = 0; i < d; i++) s -= 0.5 * (u[i] - mus[k][i]) ** 2;
        l[k] = s;
        if (s > mx) mx = s;
      }
      let S = 0;
      for (let k = 0; k < K; k++) {
        l[k] = Math.exp(l[k] - mx);
        S += l[k];
      }
      g.fill(0);
      for (let k = 0; k < K; k++) for (let i = 0; i < d; i++) g[i] += (l[k] / S) * (mus[k][i] - u[i]);
      return mx + Math.log(S);
    },
  };
}
