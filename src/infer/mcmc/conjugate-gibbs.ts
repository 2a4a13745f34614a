/**
 * Exact Gibbs draws of conjugate parameter blocks given the discrete latents, inside the
 * JAGS-style slice sampler (`sample(bound, { algorithm: 'slice', latents: 'gibbs' })`):
 * after the latents z are drawn from p(z | θ, y), a block whose complete-data conditional
 * is closed-form is drawn from it exactly, and only the remaining unconstrained
 * coordinates get slice updates. This is what JAGS does for its conjugate nodes.
 *
 * Recognised from the IR alone (the structure pass's `conjugate` records, then the
 * factors themselves), never from model names:
 * - Dirichlet–categorical: a simplex vector parameter w with a `w ~ dirichlet(alpha)`
 *   prior, alpha free of parameters and latents, whose only other factors are the
 *   distributions of Gibbs-drawn latents `z[...] ~ categorical(w)`. Then
 *   w | z, rest ~ Dirichlet(alpha + counts(z)), drawn as normalised gamma variates in log
 *   space and mapped to its unconstrained coordinates by the float64 inverse of the
 *   stick-breaking simplex transform ({@link simplexUnconstrainFromLog}).
 * - Normal mixture locations (and half-normal scales) given the latents, drawn first:
 *   src/infer/mcmc/conjugate-normal.ts (with an ordered location vector, 'sort' or
 *   'truncated' updates; with the weights' Dirichlet block, a collapsed latent draw); also
 *   the diagonal D-dimensional form `x[n] ~ normal(mu[z[n]], sigma[z[n]])` with x [N, D] and
 *   mu, sigma [K, D] (`findDiagNormalMixtureBlocks`), drawn after the 1-D blocks.
 */
import { tf } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { BoundModel } from '../../model/bound-model';
import { evalWith } from '../../model/evaluate';
import { mentions } from '../../ir/walk';
import type { GibbsTarget } from './gibbs';
import type { ExactUpdate } from './slice';
import { diagNormalMixtureUpdate, findDiagNormalMixtureBlocks, findNormalMixtureBlocks, normalMixtureUpdate, type OrderedUpdate } from './conjugate-normal';

/** TEST ONLY: deliberately wrong conjugate draws, so tests can show that their checks catch one. */
export type ConjugateTestBias =
  /** Add one to the first component's count (the conditional is off by one observation). */
  | 'count-off-by-one'
  /** Use alpha = 1 whatever the prior says (the prior is ignored). */
  | 'ignore-alpha';

/** One Dirichlet–categorical block found in the IR. */
export interface DirichletCategoricalBlock {
  /** The simplex parameter. */
  param: string;
  /** Its prior's concentration (float64, length K). */
  alpha: Float64Array;
  /** Its unconstrained coordinates: offset .. offset + K - 2. */
  offset: number;
  /** The latents `z ~ categorical(param)` whose counts enter the update. */
  latents: string[];
}

/**
 * Writes the unconstrained coordinates of the simplex x ∝ exp(logX) (any normalisation:
 * logX may be unnormalised log weights) into out[offset .. offset + K - 2], in float64:
 * the inverse of the stick-breaking transform of src/distributions/transforms.ts,
 * u_k = log x_k − log Σ_{j>k} x_j + log(K − 1 − k), k = 0..K−2, with the tail sums taken
 * as running log-sum-exps (no underflow for tiny weights). RangeError for K < 2, no room
 * in `out`, or a log weight that is NaN or +∞.
 *
 * @example
 * const u = new Float64Array(2);
 * simplexUnconstrainFromLog([Math.log(0.2), Math.log(0.3), Math.log(0.5)], u); // the inverse of w = [0.2, 0.3, 0.5]
 */
export function simplexUnconstrainFromLog(logX: ArrayLike<number>, out: Float64Array, offset = 0): void {
  const K = logX.length;
  if (K < 2) throw new RangeError(`simplexUnconstrainFromLog: need K >= 2 log weights, got ${K}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + K - 1 > out.length) {
    throw new RangeError(`simplexUnconstrainFromLog: out (length ${out.length}) has no room for ${K - 1} coordinates at offset ${offset}`);
  }
  for (let k = 0; k < K; k++) {
    const v = logX[k];
    if (v !== v || v === Infinity) throw new RangeError(`simplexUnconstrainFromLog: log weight ${k} is ${v}`);
  }
  // tail = log Σ_{j>k} x_j, accumulated from the end.
  let tail = logX[K - 1];
  for (let k = K - 2; k >= 0; k--) {
    out[offset + k] = logX[k] - tail + Math.log(K - 1 - k);
    const a = logX[k];
    const m = Math.max(a, tail);
    tail = m === -Infinity ? -Infinity : m + Math.log(Math.exp(a - m) + Math.exp(tail - m));
  }
}

/**
 * Finds the Dirichlet–categorical blocks of a bound model (see the module comment): from
 * the structure pass's 'dirichlet-categorical' records, those whose parameter is one
 * simplex vector, whose prior is `param ~ dirichlet(alpha)` with alpha free of
 * parameters and latents (and positive, of length K), and whose likelihood factors are
 * all the single distribution of a (non-chain) latent, `z[...] ~ categorical(param)`, with
 * K values. Anything else is left to the slice updates.
 */
export function findDirichletCategoricalBlocks(bound: BoundModel): DirichletCategoricalBlock[] {
  const ir = bound.ir;
  const st = ir.structure;
  if (!st) return [];
  const out: DirichletCategoricalBlock[] = [];
  for (const c of st.conjugate) {
    if (c.kind !== 'dirichlet-categorical') continue;
    const p = bound.params.find((q) => q.name === c.param);
    if (!p || p.constraint.name !== 'simplex' || p.shape.length !== 1 || p.shape[0] < 2) continue;
    const K = p.shape[0];
    const prior = ir.factors[c.prior];
    if (prior.dist?.kind !== 'family' || prior.dist.family !== 'dirichlet' || prior.value?.op !== 'param' || prior.value.name !== c.param) continue;
    if (prior.plates.length) continue;
    const alphaE = prior.dist.args[0];
    if (!alphaE || mentions(alphaE, (x) => x.op === 'param' || x.op === 'latent')) continue;
    const alpha = Float64Array.from(tf.tidy(() => evalWith(bound.rt, new Map(), alphaE).t.dataSync()));
    if (alpha.length !== K || alpha.some((a) => !(a > 0) || a === Infinity)) continue;
    const latents: string[] = [];
    let ok = c.likelihood.length > 0;
    for (const id of c.likelihood) {
      const f = ir.factors[id];
      const arg = f.dist?.kind === 'family' ? f.dist.args[0] : undefined;
      const lat = f.value?.op === 'latent' ? ir.latents.find((l) => l.name === (f.value as { name: string }).name) : undefined;
      const info = lat ? bound.rt.latents.get(lat.name) : undefined;
      if (
        f.kind !== 'latent' || f.dist?.kind !== 'family' || f.dist.family !== 'categorical' || arg?.op !== 'param' || arg.name !== c.param
        || !lat || lat.chain || lat.factors.length !== 1 || lat.factors[0] !== id || f.latents.length !== 1 || f.latents[0] !== lat.name
        || !info || info.K !== K || latents.includes(lat.name)
      ) {
        ok = false;
        break;
      }
      latents.push(lat.name);
    }
    if (ok) out.push({ param: c.param, alpha, offset: p.offset, latents });
  }
  return out;
}

/** One exact conjugate update of the slice + Gibbs sampler, as `McmcResult.settings.exactBlocks` lists it. */
export interface ExactBlockInfo {
  kind: 'normal-mixture' | 'dirichlet-categorical';
  /** The parameters whose every unconstrained coordinate it draws (a normal mixture's sigma only with a half-normal prior). */
  params: string[];
  /** The Gibbs-drawn latents it conditions on (and, with `collapsedLatents`, redraws). */
  latents: string[];
  /** Normal mixture with an ordered location vector: 'sort' or 'truncated' (conjugate-normal.ts). */
  orderedUpdate?: OrderedUpdate;
  /** Normal mixture: true when it redraws its latent itself with the weights integrated out. */
  collapsedLatents?: boolean;
  /** Normal mixture: repetitions of its latent/scale/location update per iteration. */
  sweeps?: number;
  /** Diagonal D-dimensional normal mixture (mu, sigma [K, D]): D. Absent for the 1-D form. */
  dims?: number;
}

/** How {@link conjugateGibbsUpdate} treats each block of a model: shared with {@link describeConjugateBlocks}. */
function planConjugateBlocks(bound: BoundModel, ordered: OrderedUpdate, collapseLatents: boolean, sweeps: number) {
  const blocks = findDirichletCategoricalBlocks(bound);
  // Normal mixture blocks (conjugate-normal.ts): an ordered mu is sorted-and-relabelled only
  // when its block is label-exchangeable and its w is redrawn right after from a symmetric
  // Dirichlet whose only latent is the block's; otherwise truncated draws.
  const normals = findNormalMixtureBlocks(bound).map((nb) => {
    const wb = blocks.find((b) => b.param === nb.w);
    const symmetric = !!wb && wb.latents.length === 1 && wb.latents[0] === nb.latent && wb.alpha.every((a) => a === wb.alpha[0]);
    const mode: OrderedUpdate = ordered === 'sort' && nb.exchangeable && symmetric ? 'sort' : 'truncated';
    // With w's Dirichlet block (its only latent this block's), the block also redraws its
    // latent collapsed over w (and over mu where allowed), before mu; w follows below.
    const own = !!wb && wb.latents.length === 1 && wb.latents[0] === nb.latent && collapseLatents;
    // Repeated sweeps only where w stays integrated out between them.
    return { nb, mode, alpha: own ? wb!.alpha : null, sweeps: own ? sweeps : 1 };
  });
  // Diagonal D-dimensional blocks: unordered mu, half-normal sigma; collapsed as above.
  const diags = findDiagNormalMixtureBlocks(bound).map((db) => {
    const wb = blocks.find((b) => b.param === db.w);
    const own = !!wb && wb.latents.length === 1 && wb.latents[0] === db.latent && collapseLatents;
    return { db, alpha: own ? wb!.alpha : null, sweeps: own ? sweeps : 1 };
  });
  return { blocks, normals, diags };
}

/**
 * What {@link conjugateGibbsUpdate} with these arguments would draw exactly, in the order it
 * draws: the blocks (normal mixtures first, then the Dirichlet–categorical ones) and the
 * unconstrained coordinates they set. Needs no Gibbs target (`planSampling` records it in
 * the result's settings).
 */
export function describeConjugateBlocks(bound: BoundModel, ordered: OrderedUpdate = 'sort', collapseLatents = true, sweeps = 1): { blocks: ExactBlockInfo[]; coords: number[] } {
  const { blocks, normals, diags } = planConjugateBlocks(bound, ordered, collapseLatents, sweeps);
  const out: ExactBlockInfo[] = [];
  const coords: number[] = [];
  for (const { nb, mode, alpha, sweeps: n } of normals) {
    const hn = nb.sigma.halfNormalScale !== null;
    out.push({
      kind: 'normal-mixture',
      params: hn ? [nb.mu.name, nb.sigma.name] : [nb.mu.name],
      latents: [nb.latent],
      ...(nb.mu.ordered ? { orderedUpdate: mode } : {}),
      collapsedLatents: alpha !== null,
      sweeps: n,
    });
    for (let k = 0; k < nb.K; k++) coords.push(nb.mu.offset + k);
    if (hn) for (let k = 0; k < nb.K; k++) coords.push(nb.sigma.offset + k);
  }
  for (const { db, alpha, sweeps: n } of diags) {
    out.push({ kind: 'normal-mixture', params: [db.mu.name, db.sigma.name], latents: [db.latent], collapsedLatents: alpha !== null, sweeps: n, dims: db.D });
    for (let j = 0; j < db.K * db.D; j++) coords.push(db.mu.offset + j);
    for (let j = 0; j < db.K * db.D; j++) coords.push(db.sigma.offset + j);
  }
  for (const b of blocks) {
    out.push({ kind: 'dirichlet-categorical', params: [b.param], latents: b.latents.slice() });
    for (let k = 0; k < b.alpha.length - 1; k++) coords.push(b.offset + k);
  }
  return { blocks: out, coords };
}

/**
 * The exact conjugate update of one chain for the slice sampler (`runSliceChain`'s
 * `exactUpdate`), or null when the model has no recognised block
 * ({@link findDirichletCategoricalBlocks}). Its `draw` reads the chain's current latents
 * `gibbs.z` (so it must run after the latents were drawn) and overwrites the blocks'
 * unconstrained coordinates with a draw from their exact conditional.
 *
 * @example
 * const g = new GibbsTarget(bound);
 * const exact = conjugateGibbsUpdate(bound, g); // null when nothing is conjugate
 */
export function conjugateGibbsUpdate(bound: BoundModel, gibbs: GibbsTarget, _bias?: ConjugateTestBias, ordered: OrderedUpdate = 'sort', collapseLatents = true, sweeps = 1): ExactUpdate | null {
  if (_bias !== undefined && _bias !== 'count-off-by-one' && _bias !== 'ignore-alpha') {
    throw new RangeError(`conjugateGibbsUpdate: _bias must be 'count-off-by-one' or 'ignore-alpha', got ${String(_bias)}`);
  }
  if (gibbs.bound !== bound) throw new RangeError('conjugateGibbsUpdate: the Gibbs target belongs to another bound model');
  if (ordered !== 'sort' && ordered !== 'truncated') throw new RangeError(`conjugateGibbsUpdate: orderedUpdate must be 'sort' or 'truncated', got ${String(ordered)}`);
  const plan = planConjugateBlocks(bound, ordered, collapseLatents, sweeps);
  const blocks = plan.blocks;
  const nbs = [...plan.normals.map((p) => p.nb.latent), ...plan.diags.map((p) => p.db.latent)];
  const normals = [
    ...plan.normals.map((p) => normalMixtureUpdate(p.nb, gibbs, p.mode, p.alpha, undefined, p.sweeps)),
    ...plan.diags.map((p) => diagNormalMixtureUpdate(p.db, gibbs, p.alpha, p.sweeps)),
  ];
  // The generic latent draw can be skipped when the blocks redraw every latent.
  const drawsLatents = normals.length > 0 && gibbs.latents.every((l) => normals.some((u, i) => u.drawsLatent && nbs[i] === l.name));
  if (blocks.length === 0 && normals.length === 0) return null;
  // Where each latent's values sit in gibbs.z.
  const zStart = new Map<string, { start: number; elements: number; offset: number }>();
  let zi = 0;
  for (const l of gibbs.latents) {
    zStart.set(l.name, { start: zi, elements: l.elements, offset: l.offset });
    zi += l.elements;
  }
  const plans = blocks.map((b) => {
    const K = b.alpha.length;
    const alpha = _bias === 'ignore-alpha' ? new Float64Array(K).fill(1) : b.alpha;
    const sources = b.latents.map((name) => {
      const s = zStart.get(name);
      if (!s) throw new RangeError(`conjugateGibbsUpdate: latent '${name}' is not drawn by the Gibbs target`);
      return s;
    });
    return { K, alpha, offset: b.offset, sources, counts: new Float64Array(K), logG: new Float64Array(K) };
  });
  const coords = [...normals.flatMap((u) => u.coords), ...plans.flatMap((p) => Array.from({ length: p.K - 1 }, (_, k) => p.offset + k))];
  return {
    coords,
    drawsLatents,
    draw(q: Float64Array, rng: Rng): void {
      // The normal blocks first: a 'sort' update relabels z, and w is then drawn from the relabelled counts.
      for (const u of normals) u.draw(q, rng);
      const z = gibbs.z;
      for (const p of plans) {
        p.counts.fill(0);
        for (const s of p.sources) {
          for (let e = 0; e < s.elements; e++) {
            const k = z[s.start + e] - s.offset;
            if (!(k >= 0 && k < p.K)) throw new RangeError(`conjugateGibbsUpdate: latent value ${z[s.start + e]} outside 1..${p.K}`);
            p.counts[k]++;
          }
        }
        if (_bias === 'count-off-by-one') p.counts[0]++;
        for (let k = 0; k < p.K; k++) p.logG[k] = rng.gammaLog(p.alpha[k] + p.counts[k]);
        simplexUnconstrainFromLog(p.logG, q, p.offset);
      }
    },
  };
}
