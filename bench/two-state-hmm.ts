/**
 * The particle-filter benchmarks' model (bench/smc.ts, bench/gpu.ts): a two-state hidden
 * Markov model with Gaussian emissions, z_1 ~ pi, z_t ~ A[z_{t-1}], y_t ~ N(mu[z_t], sd[z_t]),
 * T observations drawn from it, its state-space form and its exact log evidence by the
 * forward algorithm.
 */
import { hmmSsm, hmmTables } from '../src/infer/smc/ssm';
import { hmmForward } from '../src/infer/smc/kalman';
import { Key } from '../src/tensor/random';

export const PI = [0.5, 0.5];
export const A = [[0.9, 0.1], [0.2, 0.8]];
export const MU = [-1, 1.5];
export const SD = [1, 0.8];

/** T observations drawn with `seed`, the model's tables and state-space model, and the exact log Z. */
export function twoStateHmm(T: number, seed: number) {
  const rng = Key.seed(seed).rng();
  const y: number[] = [];
  let z = 0;
  for (let t = 0; t < T; t++) {
    z = t === 0 ? (rng.uniform() < PI[1] ? 1 : 0) : rng.uniform() < A[z][1 - z] ? 1 - z : z;
    y.push(rng.normal(MU[z], SD[z]));
  }
  const normLog = (v: number, m: number, s: number) => -0.5 * Math.log(2 * Math.PI) - Math.log(s) - 0.5 * ((v - m) / s) ** 2;
  const tables = hmmTables(PI, A, y.map((v) => MU.map((m, k) => normLog(v, m, SD[k]))));
  return { y, tables, ssm: hmmSsm(tables), exact: hmmForward(tables).logZ };
}
