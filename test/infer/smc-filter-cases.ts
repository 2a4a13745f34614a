/**
 * The particle-filter tests' models and data (smc-filter.test.ts for the host filter,
 * smc-filter-device.test.ts for the tensor one): a 1-D linear-Gaussian model and 50
 * observations drawn from it, and a two-state Gaussian HMM and 100 observations.
 */
import { Key } from '../../src/tensor/random';
import { hmmTables, type HmmTables, type LinearGaussianParams } from '../../src/infer/smc/ssm';

// 1-D linear-Gaussian model and data drawn from it.
export const LG: LinearGaussianParams = { a: 0.9, q: 1, c: 1, r: 0.7, m0: 0, p0: 2 };
export const lgY = (() => {
  const rng = Key.seed(11).rng();
  const y: number[] = [];
  let x = 0;
  for (let t = 0; t < 50; t++) {
    x = t === 0 ? rng.normal(0, Math.sqrt(LG.p0)) : LG.a * x + LG.q * rng.normal();
    y.push(LG.c * x + LG.r * rng.normal());
  }
  return y;
})();

// Two-state Gaussian HMM and data drawn from it.
export const MU = [-1, 1.5];
export const SD = [1, 0.8];
export const PI = [0.5, 0.5];
export const A = [[0.9, 0.1], [0.2, 0.8]];
export const hmmY = (() => {
  const rng = Key.seed(12).rng();
  const y: number[] = [];
  let z = 0;
  for (let t = 0; t < 100; t++) {
    z = t === 0 ? (rng.uniform() < PI[1] ? 1 : 0) : rng.uniform() < A[z][1 - z] ? 1 - z : z;
    y.push(rng.normal(MU[z], SD[z]));
  }
  return y;
})();
export const normLog = (v: number, m: number, s: number) => -0.5 * Math.log(2 * Math.PI) - Math.log(s) - 0.5 * ((v - m) / s) ** 2;
/** The HMM's tables for hmmY, with transition matrix `trans` (default A). */
export const hmmTab = (trans = A): HmmTables => hmmTables(PI, trans, hmmY.map((v) => MU.map((m, k) => normLog(v, m, SD[k]))));

/**
 * The unbiasedness statistics of R log Ẑ values against log Z: the mean of exp(log Ẑ − log Z),
 * its SE across the runs and the z-score of its distance from 1; and the values' own mean and
 * variance (for the log-scale check and Jensen's var/2).
 */
export function ratioSummary(logZs: number[], logZ: number) {
  const R = logZs.length;
  const r = logZs.map((v) => Math.exp(v - logZ));
  const mean = r.reduce((a, b) => a + b, 0) / R;
  const se = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (R - 1) / R);
  const logMean = logZs.reduce((a, b) => a + b, 0) / R;
  const logVar = logZs.reduce((a, b) => a + (b - logMean) ** 2, 0) / (R - 1);
  return { mean, se, z: (mean - 1) / se, logZs, logMean, logVar };
}
