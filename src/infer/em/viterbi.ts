/**
 * Most probable latent values given the parameters.
 *
 * For a chain latent (an HMM's z[1..T]) this is the Viterbi path: the max-product
 * (max-plus in log space) counterpart of the forward algorithm the evaluator runs, over
 * the same per-step K x K log potentials psi[t, i, j] (previous state i, state j; step 1
 * is constant over i). Those potentials are read off the evaluator rather than rebuilt:
 * the expected complete-data log density E_w[log p(data, z | θ)] (EM's Q, the Gibbs
 * step's h) is linear in the latents' weights w, so its gradient with respect to a
 * chain's [T, K, K] pairwise weights is exactly psi, gathered by the evaluator's own
 * rules for where each statement sits along the chain. The max-plus pass then runs once
 * in float64 JavaScript (T K^2 work, no tensor dispatch per step).
 *
 * For a latent that is not a chain the result is the per-element argmax of its
 * posterior marginals (not a joint maximum when latents are dependent).
 */
import { tf, runAsync, runSync, readOwned, type Tensor, type HostSteps } from '../../tensor';
import { asMixError, type BoundModel, type ParamValues } from '../../model/bound-model';
import { expectedLogJoint } from '../../model/evaluate';
import { emResponsibilitiesSteps } from './index';

/** One latent's log potential table: [plates..., K] for a plain latent, [T, K, K] for a chain. */
export interface LatentLogTable {
  shape: number[];
  values: Float64Array;
}

/**
 * The log potential table of every enumerated latent at the given parameters (priors
 * left out): for a plain latent L[..., k] = the sum of the log densities of the
 * statements that involve it, at value k (its prior included); for a chain psi[t, i, j].
 * Computed as d E_w[log p] / d w at w = 1, which is linear in w.
 *
 * The parameters are validated first through `bound.logDensity` (which names a
 * statement that gives NaN). Entries that are NaN only because a log density of -Inf met
 * a zero weight in the evaluator's 0 * (-Inf) guard are returned as -Inf.
 */
export function latentLogTables(bound: BoundModel, params: ParamValues): Map<string, LatentLogTable> {
  return runSync(latentLogTablesSteps(bound, params));
}

/** {@link latentLogTables} as host-read steps (`runAsync` runs them on webgpu). */
export function* latentLogTablesSteps(bound: BoundModel, params: ParamValues): HostSteps<Map<string, LatentLogTable>> {
  yield* bound.logDensitySteps(params, { priors: false });
  const names = [...bound.rt.latents.keys()];
  const out = new Map<string, LatentLogTable>();
  if (names.length === 0) return out;
  let grads: Tensor[];
  try {
    grads = tf.tidy(() => {
      const p = bound.paramTensors(params);
      const ones = names.map((z) => tf.ones(bound.latentWeightShape(z)));
      const f = (...ws: Tensor[]) => expectedLogJoint(bound.rt, p, new Map(names.map((z, i) => [z, ws[i]])), { priors: false });
      return tf.grads(f)(ones);
    });
  } catch (e) {
    throw asMixError(e, bound.source);
  }
  const vals = yield* readOwned(grads);
  names.forEach((z, i) => {
    out.set(z, { shape: grads[i].shape.slice(), values: Float64Array.from(vals[i], (v) => (Number.isNaN(v) ? -Infinity : v)) });
  });
  return out;
}

/** Max-plus (Viterbi) and log-sum-exp (forward) passes over per-step log potentials [T, K, K]. */
export function viterbiDecode(psi: ArrayLike<number>, T: number, K: number): { path: Int32Array; logScore: number; logZ: number } {
  if (psi.length !== T * K * K) throw new RangeError(`viterbiDecode: expected ${T * K * K} potentials for T = ${T}, K = ${K}, got ${psi.length}`);
  const path = new Int32Array(T);
  if (T === 0) return { path, logScore: 0, logZ: 0 };
  // Step 1 has no predecessor: row 0 of its potential.
  let delta = Float64Array.from({ length: K }, (_, j) => psi[j]);
  let alpha = Float64Array.from(delta);
  const back = new Int32Array(T * K);
  for (let t = 1; t < T; t++) {
    const nd = new Float64Array(K);
    const na = new Float64Array(K);
    const base = t * K * K;
    for (let j = 0; j < K; j++) {
      let best = -Infinity;
      let arg = 0;
      let m = -Infinity;
      for (let i = 0; i < K; i++) {
        const v = delta[i] + psi[base + i * K + j];
        if (v > best) { best = v; arg = i; }
        m = Math.max(m, alpha[i] + psi[base + i * K + j]);
      }
      let s = 0;
      if (m > -Infinity) for (let i = 0; i < K; i++) s += Math.exp(alpha[i] + psi[base + i * K + j] - m);
      nd[j] = best;
      back[t * K + j] = arg;
      na[j] = m > -Infinity ? m + Math.log(s) : -Infinity;
    }
    delta = nd;
    alpha = na;
  }
  let last = 0;
  for (let j = 1; j < K; j++) if (delta[j] > delta[last]) last = j;
  const logScore = delta[last];
  path[T - 1] = last;
  for (let t = T - 1; t > 0; t--) path[t - 1] = back[t * K + path[t]];
  const m = Math.max(...alpha);
  const logZ = m > -Infinity ? m + Math.log(alpha.reduce((a, v) => a + Math.exp(v - m), 0)) : -Infinity;
  return { path, logScore, logZ };
}

export interface ViterbiResult {
  /** Most probable values, row-major over `shape`, as values of the latent's support (1-based for categorical). */
  path: Int32Array;
  /** [T] for a chain; the latent's plate sizes otherwise. */
  shape: number[];
  /** The latent's support (path values are drawn from it). */
  support: number[];
  chain: boolean;
  /**
   * Chain: log of the posterior probability of the whole path given the data, logScore -
   * logZ. Otherwise: the sum over elements of the log of the largest marginal (the log
   * posterior probability of the assignment when the latents are independent given θ).
   */
  logProb: number;
  /** Chain only: the largest sum over paths of the chain's log potentials (log p(data, path | θ) for an HMM). */
  logScore?: number;
  /** Chain only: the log-sum-exp of that sum over all paths (log p(data | θ) for an HMM). */
  logZ?: number;
}

/**
 * The most probable value of every enumerated latent given the parameters: the Viterbi
 * path for chains, the per-element argmax of the posterior marginals otherwise.
 */
export function viterbi(bound: BoundModel, params: ParamValues): Record<string, ViterbiResult> {
  return runSync(viterbiSteps(bound, params));
}

/** {@link viterbi} with awaited reads (any backend; webgpu under Node.js needs it). */
export function viterbiAsync(bound: BoundModel, params: ParamValues): Promise<Record<string, ViterbiResult>> {
  return runAsync(viterbiSteps(bound, params));
}

/** {@link viterbi} as host-read steps. */
export function* viterbiSteps(bound: BoundModel, params: ParamValues): HostSteps<Record<string, ViterbiResult>> {
  const out: Record<string, ViterbiResult> = {};
  const latents = [...bound.rt.latents];
  if (latents.length === 0) return out;
  const chains = latents.filter(([, info]) => info.node.chain);
  const tables = chains.length ? yield* latentLogTablesSteps(bound, params) : new Map<string, LatentLogTable>();
  const plain = latents.filter(([, info]) => !info.node.chain);
  const marg = plain.length ? yield* emResponsibilitiesSteps(bound, params) : {};
  for (const [name, info] of latents) {
    const K = info.K;
    const support = Array.from({ length: K }, (_, k) => info.offset + k);
    if (info.node.chain) {
      const T = info.T!;
      const { path, logScore, logZ } = viterbiDecode(tables.get(name)!.values, T, K);
      out[name] = { path: path.map((k) => info.offset + k), shape: [T], support, chain: true, logProb: logScore - logZ, logScore, logZ };
    } else {
      const m = marg[name];
      const shape = m.shape.slice(0, -1);
      const n = m.values.length / K;
      const path = new Int32Array(n);
      let logProb = 0;
      for (let e = 0; e < n; e++) {
        let arg = 0;
        for (let k = 1; k < K; k++) if (m.values[e * K + k] > m.values[e * K + arg]) arg = k;
        path[e] = info.offset + arg;
        logProb += Math.log(m.values[e * K + arg]);
      }
      out[name] = { path, shape, support, chain: false, logProb };
    }
  }
  return out;
}
