/**
 * Posterior draws of the discrete latents after a marginalised MCMC run (NumPyro's
 * `infer_discrete` with `temperature=1`): MCMC samples the continuous parameters with
 * every discrete latent summed out; here, for each kept parameter draw θ, every latent is
 * drawn from its exact conditional p(z | θ, y), so that (θ, z) is a draw of the joint
 * posterior.
 *
 * How each latent is drawn:
 * - A latent summed by enumeration (a mixture's `z[n]`): its posterior marginals, the
 *   gradient of log Z with respect to a zero "probe" added to its log potential (see
 *   `LogJointOptions.probes` in src/model/evaluate.ts, and `BoundModel.latentMarginals`),
 *   give p(z[n] = k | θ, y); given θ (and the latents drawn before it, below) the elements
 *   of one latent are independent across its plates, so each is drawn on its own.
 * - Latents that share a statement (`g ~ categorical(v)` with `y[n] ~ normal(mu[z[n]], s[g])`,
 *   or `z2[n] ~ categorical(B[z1[n]])`) are not independent of each other. They are drawn
 *   one latent at a time, outermost first (fewest plates first, then declaration order), each
 *   from its conditional given those already drawn: a drawn latent is clamped by giving
 *   every value but the drawn one a log potential of -1e30 through its probe, and the
 *   marginals are recomputed. Models without such statements need one evaluation per draw.
 * - A chain latent (summed by the forward algorithm; an HMM's `z[1..T]`): forward-filtering
 *   backward-sampling from the pairwise marginals. The chain's probe (and so its gradient,
 *   `pairwise` in `latentMarginals`) has shape [T, K, K], flattened row-major: with r the
 *   0-based row and i, j 0-based value indices, pairwise[r*K*K + i*K + j] =
 *   P(z[r] = support[i], z[r+1] = support[j] | θ, y) in the model's 1-based steps (i is the
 *   previous step, j the current one: evaluate.ts pads the factor at step t into row t-1 as
 *   [z[t-1], z[t]]). Row 0 has no previous step: it holds P(z[1] = support[j]) at i = 0
 *   and zeros elsewhere. Since p(z[1..T] | θ, y) is Markov, z[T] is drawn from its marginal
 *   Σ_i pairwise[T-1, i, ·], then for s = T-1 down to 1, z[s] | z[s+1] = j ∝ pairwise[s, ·, j]
 *   (exact: p(z[s] | z[s+1..T], θ, y) = p(z[s], z[s+1] | θ, y) / p(z[s+1] | θ, y)). Chains cannot
 *   share a statement with another latent (the evaluator rejects it), so they are
 *   independent of every other latent given θ.
 *
 * Values are the latent's support as the model uses it: 1..K for `categorical`, 0/1 for
 * `bernoulli`, 0..n for `binomial`. Latents made by the `mixture(...)` sugar (named
 * `<site>$k`) are drawn too.
 *
 * Cost: each parameter draw needs one tfjs evaluation of the log density and its gradient
 * (plus one per coupled latent, above), a few milliseconds even for small models, so
 * 4 × 1000 draws take seconds to tens of seconds; `everyNth` thins the draws.
 */
import { tf, tidyValue, type Tensor } from '../../tensor';
import { Key, type Rng } from '../../tensor/random';
import { asMixError, type BoundModel, type ParamValues } from '../../model/bound-model';
import { logJoint, probeShape } from '../../model/evaluate';
import type { McmcResult } from './index';

/** One discrete latent as it appears in the flat output. */
export interface LatentInfo {
  name: string;
  /** Shape of its values: its plate sizes ([] for a scalar latent), or [T] for a chain. */
  shape: number[];
  /** The values it takes, in order (e.g. [1, 2, 3] for a 3-category `categorical`). */
  support: number[];
  marginalized: 'enumeration' | 'forward';
  /** Where its values start in the flat vector; they are row-major over `shape`. */
  offset: number;
  /** Number of elements (product of `shape`). */
  size: number;
}

/** The flat layout of the latents: what `sampleLatentsAt` returns, and each row of `sampleLatents`. */
export interface LatentLayout {
  /** Flat names, 1-based indices as in the model (`z.1`, `z.2`, `g`, `c.2.3`). */
  names: string[];
  /** The latents in declaration order. */
  latents: LatentInfo[];
}

/** Options of {@link sampleLatents}. */
export interface SampleLatentsOptions {
  /**
   * Seed of the draws (default: the run's seed). Draw i of chain c uses the key
   * `Key.seed(seed).fold(LATENT_STREAM).fold(c).fold(i)`, so a draw's latents do not
   * depend on `everyNth`.
   */
  seed?: number;
  /**
   * Use every n-th kept draw of each chain (draws 0, n, 2n, ...; default 1). Each draw costs
   * a tfjs evaluation of a few milliseconds, so thin long runs.
   */
  everyNth?: number;
}

/** Latent draws aligned with an MCMC run's draws. */
export interface LatentDraws extends LatentLayout {
  /** chains[c][j]: the flattened latents (in `names` order) for draw `drawIndex[j]` of chain c. */
  chains: Int32Array[][];
  /** Which of each chain's kept draws (index into `fit.chains[c].values`) row j belongs to. */
  drawIndex: number[];
}

/** Folded into the seed's key before the chain index, so these streams differ from the sampler's. */
export const LATENT_STREAM = 0x6c617400;

/** Log potential given to the values a drawn latent did not take (exp of it is 0 in float32). */
const CLAMP = -1e30;

interface PlanLatent extends LatentInfo {
  K: number;
  chain: boolean;
  /** Number of plates, for the sampling order. */
  depth: number;
  /** Index in the runtime's latent order (the probe order). */
  probeIndex: number;
}

interface Plan extends LatentLayout {
  latents: PlanLatent[];
  /** Runtime latent names, in probe order. */
  probeNames: string[];
  /** The plain (enumerated) latents in sampling order: outermost first. */
  order: PlanLatent[];
  chains: PlanLatent[];
  /** True when some statement touches two or more latents: those are drawn sequentially. */
  coupled: boolean;
  total: number;
}

const plans = new WeakMap<BoundModel, Plan>();

function plan(bound: BoundModel): Plan {
  const hit = plans.get(bound);
  if (hit) return hit;
  const rt = bound.rt;
  const probeNames = [...rt.latents.keys()];
  const latents: PlanLatent[] = [];
  const names: string[] = [];
  let total = 0;
  for (const node of rt.ir.latents) {
    const info = rt.latents.get(node.name);
    if (!info) throw new Error(`internal: latent '${node.name}' has no enumeration`);
    const chain = !!info.node.chain;
    const shape = chain ? [info.T!] : info.node.plates.map((p) => rt.plates.get(p)!.size);
    const size = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < size; i++) {
      let rem = i;
      const idx: number[] = [];
      for (let d = shape.length - 1; d >= 0; d--) {
        idx.unshift((rem % shape[d]) + 1);
        rem = Math.floor(rem / shape[d]);
      }
      names.push([node.name, ...idx].join('.'));
    }
    latents.push({
      name: node.name, shape, size, offset: total, K: info.K, chain,
      support: Array.from({ length: info.K }, (_, k) => info.offset + k),
      marginalized: chain ? 'forward' : 'enumeration',
      depth: chain ? 0 : info.node.plates.length,
      probeIndex: probeNames.indexOf(node.name),
    });
    total += size;
  }
  const plain = latents.filter((l) => !l.chain);
  const order = plain.map((l, i) => ({ l, i })).sort((a, b) => a.l.depth - b.l.depth || a.i - b.i).map((x) => x.l);
  const isPlain = new Set(plain.map((l) => l.name));
  const coupled = rt.ir.factors.some((f) => new Set(f.latents.filter((z) => isPlain.has(z))).size > 1);
  const p: Plan = { names, latents, probeNames, order, chains: latents.filter((l) => l.chain), coupled, total };
  plans.set(bound, p);
  return p;
}

/** The flat layout of a bound model's discrete latents (names, shapes, supports). */
export function latentLayout(bound: BoundModel): LatentLayout {
  const p = plan(bound);
  return {
    names: p.names.slice(),
    latents: p.latents.map(({ name, shape, support, marginalized, offset, size }) => ({ name, shape: shape.slice(), support: support.slice(), marginalized, offset, size })),
  };
}

/**
 * The gradient of log Z with respect to every latent's probe (the posterior marginals;
 * for a chain the pairwise marginals), with the latents in `clamped` held at their drawn
 * values (0-based value indices, one per element).
 */
function probeGradients(bound: BoundModel, p: Plan, params: ReadonlyMap<string, Tensor>, clamped: ReadonlyMap<string, Int32Array>): Float64Array[] {
  return tidyValue(() => {
    const probes = p.probeNames.map((z) => {
      const shape = probeShape(bound.rt, z);
      const drawn = clamped.get(z);
      if (!drawn) return tf.zeros(shape);
      const K = shape[shape.length - 1];
      const v = new Float32Array(drawn.length * K).fill(CLAMP);
      for (let i = 0; i < drawn.length; i++) v[i * K + drawn[i]] = 0;
      return tf.tensor(v, shape, 'float32');
    });
    const f = (...ps: Tensor[]) => logJoint(bound.rt, params, { probes: new Map(p.probeNames.map((z, i) => [z, ps[i]])) });
    const grads = tf.grads(f)(probes);
    return grads.map((g) => Float64Array.from(g.dataSync()));
  });
}

/** A 0-based index drawn with probability ∝ max(w[from + k*stride], 0), k < K (float32 noise can make a zero slightly negative). */
function drawIndex(rng: Rng, w: Float64Array, from: number, stride: number, K: number, what: string): number {
  let total = 0;
  for (let k = 0; k < K; k++) {
    const x = w[from + k * stride];
    if (Number.isNaN(x)) throw new RangeError(`sampleLatents: the posterior probabilities of ${what} are NaN (is the log density finite at these parameter values?)`);
    if (x > 0) total += x;
  }
  if (!(total > 0) || !Number.isFinite(total)) throw new RangeError(`sampleLatents: ${what} has no value of positive posterior probability`);
  const u = rng.uniform() * total;
  let acc = 0;
  let last = -1;
  for (let k = 0; k < K; k++) {
    const x = w[from + k * stride];
    if (x > 0) {
      acc += x;
      last = k;
      if (u < acc) return k;
    }
  }
  return last;
}

function drawAt(bound: BoundModel, p: Plan, params: ReadonlyMap<string, Tensor>, rng: Rng): Int32Array {
  const out = new Int32Array(p.total);
  if (p.total === 0) return out;
  let grads = probeGradients(bound, p, params, new Map());
  const clamped = new Map<string, Int32Array>();
  let stale = false;
  for (const lat of p.order) {
    if (stale) grads = probeGradients(bound, p, params, clamped);
    const m = grads[lat.probeIndex];
    const idx = new Int32Array(lat.size);
    for (let i = 0; i < lat.size; i++) {
      const k = drawIndex(rng, m, i * lat.K, 1, lat.K, `${p.names[lat.offset + i]}`);
      idx[i] = k;
      out[lat.offset + i] = lat.support[k];
    }
    clamped.set(lat.name, idx);
    stale = p.coupled;
  }
  for (const lat of p.chains) {
    // pairwise[t, i, j] at t*K*K + i*K + j (see the module comment).
    const m = grads[lat.probeIndex];
    const K = lat.K;
    const T = lat.size;
    const name = lat.name;
    const last = (T - 1) * K * K;
    // z[T]: Σ_i pairwise[T-1, i, j], accumulated into a marginal.
    const marg = new Float64Array(K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) marg[j] += m[last + i * K + j];
    let k = drawIndex(rng, marg, 0, 1, K, `${name}.${T}`);
    out[lat.offset + T - 1] = lat.support[k];
    for (let s = T - 1; s >= 1; s--) {
      // z[s] | z[s+1] = k ∝ pairwise[s, ·, k] (row s: steps s and s+1, 1-based).
      k = drawIndex(rng, m, s * K * K + k, K, K, `${name}.${s} given ${name}.${s + 1}`);
      out[lat.offset + s - 1] = lat.support[k];
    }
  }
  return out;
}

/**
 * One draw of every discrete latent from p(latents | θ = values, data), flattened in the
 * order of `latentLayout(bound).names`, in the latents' own support (1-based categories).
 * Costs one tfjs evaluation (more when latents share statements; see the module comment).
 *
 * @example
 * const z = sampleLatentsAt(bound, { w, mu, sigma }, Key.seed(1).rng());
 */
export function sampleLatentsAt(bound: BoundModel, values: ParamValues, rng: Rng): Int32Array {
  const p = plan(bound);
  try {
    return tidyValue(() => drawAt(bound, p, bound.paramTensors(values), rng));
  } catch (e) {
    throw asMixError(e, bound.source);
  }
}

/**
 * Draws the discrete latents for the draws of a marginalised MCMC run (NumPyro's
 * `infer_discrete`): for each kept draw θ of each chain, every latent from its exact
 * conditional p(z | θ, data), so that (θ, z) is a joint posterior draw. Independent
 * (enumerated) latents are drawn from their marginals; chains (HMMs) by forward-filtering
 * backward-sampling from the pairwise marginals.
 *
 * Each draw costs a tfjs evaluation of a few milliseconds: use `everyNth` to thin long runs.
 * Deterministic given `seed` (default: the run's seed).
 *
 * @example
 * const fit = sample(bound, { chains: 4, seed: 1 });
 * const z = sampleLatents(bound, fit, { everyNth: 10 });
 * z.chains[0][0]; // the latents (z.names order) for fit.chains[0].values[z.drawIndex[0]]
 */
export function sampleLatents(bound: BoundModel, fit: McmcResult, opts: SampleLatentsOptions = {}): LatentDraws {
  const every = opts.everyNth ?? 1;
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`sampleLatents: everyNth must be an integer >= 1, got ${every}`);
  const seed = opts.seed ?? fit.settings.seed;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`sampleLatents: seed must be a safe integer, got ${seed}`);
  const same = fit.params.length === bound.params.length && fit.params.every((q, i) => {
    const b = bound.params[i];
    return q.name === b.name && q.shape.length === b.shape.length && q.shape.every((n, d) => n === b.shape[d]);
  });
  if (!same) {
    const show = (ps: readonly { name: string; shape: readonly number[] }[]) => ps.map((q) => `${q.name}[${q.shape.join(', ')}]`).join(', ');
    throw new RangeError(`sampleLatents: the run's parameters (${show(fit.params)}) are not the bound model's (${show(bound.params)})`);
  }
  const p = plan(bound);
  const layout = latentLayout(bound);
  const offsets: number[] = [];
  let off = 0;
  for (const q of fit.params) {
    offsets.push(off);
    off += q.shape.reduce((a, b) => a * b, 1);
  }
  const root = Key.seed(seed).fold(LATENT_STREAM);
  const drawIdx = new Set<number>();
  const chains = fit.chains.map((chain, c) => {
    const ckey = root.fold(c);
    const rows: Int32Array[] = [];
    for (let i = 0; i < chain.values.length; i += every) {
      drawIdx.add(i);
      const flat = chain.values[i];
      const rng = ckey.fold(i).rng();
      try {
        rows.push(tidyValue(() => {
          const params = new Map<string, Tensor>();
          fit.params.forEach((q, j) => {
            const size = q.shape.reduce((a, b) => a * b, 1);
            params.set(q.name, tf.tensor(Float32Array.from(flat.subarray(offsets[j], offsets[j] + size)), q.shape, 'float32'));
          });
          return drawAt(bound, p, params, rng);
        }));
      } catch (e) {
        throw asMixError(e, bound.source);
      }
    }
    return rows;
  });
  return { ...layout, chains, drawIndex: [...drawIdx].sort((a, b) => a - b) };
}
