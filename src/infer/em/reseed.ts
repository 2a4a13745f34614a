/**
 * Empty and collapsed components in EM. A component whose total responsibility falls below
 * a threshold (default 1e-8 N; for a component with its own full covariance, D + 1
 * effective points, and with its own normal or t scale, 2, when the data have room for K
 * times that) either has no data to estimate
 * it from (its closed-form update keeps the previous value) or is heading for a singular
 * covariance. scikit-learn leaves such a component; mclust drops the model. Here it is
 * re-seeded at the worst-fit point, as k-means does with empty clusters (scikit-learn's
 * KMeans relocates them to the points farthest from their centres): the point n with the
 * largest -Σ_k r_nk log p(x_n | θ_k) (the observation the current fit explains worst)
 * and its nearest neighbours in the data are handed to the component as hard
 * responsibilities, and one M-step from those responsibilities gives the new parameters.
 *
 * A re-seed is not an EM step: the log likelihood can fall across it, and the monotone
 * sequence restarts from the E-step after it (EmResult.reseeds records where). Only plain
 * latents in one plate are re-seeded; a collapsed state of a chain (or a latent in several
 * plates) is left at its previous value and reported.
 */
import { tf, tidyValue, type Tensor, runSync, readOwned, type HostSteps } from '../../tensor';
import type { BoundModel } from '../../model/bound-model';
import type { Factor } from '../../ir/types';
import { evalFactor, evalLets, factorWeights, plateDim } from '../../model/evaluate';
import { align, sumDims, permuteTo } from '../../model/values';
import { mentions } from '../../ir/walk';

export interface ReseedOptions {
  /** Re-seed a component whose total responsibility is below this (default: see the module comment). */
  minCount?: number;
  /** Re-seeds allowed per start (default 10); later collapses are only reported. */
  maxReseeds?: number;
  /** Re-seeds of any one component per start (default 2): one that collapses again has no place in the data. */
  maxPerComponent?: number;
}

/** One re-seed: where it happened and what it did. */
export interface ReseedEvent {
  /** Which start (0-based). */
  start: number;
  /** Index into that start's trace of the last log likelihood before the re-seed: the monotone sequence restarts at trace[traceIndex + 1]. */
  traceIndex: number;
  latent: string;
  /** 0-based component. */
  component: number;
  /** Its total responsibility before the re-seed. */
  count: number;
  /** The worst-fit point it was re-seeded at (0-based row) and how many points it was given. */
  point: number;
  points: number;
}

interface LatentPlan {
  name: string;
  K: number;
  /** Rows (plate size); -1 when the latent cannot be re-seeded (chain, several plates). */
  N: number;
  threshold: number;
  /** Points handed to a re-seeded component. */
  take: number;
  /** Observation factors that involve this latent. */
  obs: Factor[];
  plate?: string;
  /** Data rows [N, D] to find neighbours in, when one observed statement has them. */
  rows?: { values: Float32Array | Int32Array | Uint8Array; d: number };
}

export interface CollapsePlan {
  latents: LatentPlan[];
  maxReseeds: number;
  maxPerComponent: number;
}

/** Per latent: its size, threshold and data (once per binding). */
export function collapsePlan(bm: BoundModel, opts: ReseedOptions = {}): CollapsePlan {
  const rt = bm.rt;
  const latents: LatentPlan[] = [];
  for (const [name, info] of rt.latents) {
    const obs = bm.ir.factors.filter((f) => f.kind === 'obs' && f.latents.includes(name));
    const plain = !info.node.chain && info.node.plates.length === 1;
    const plate = plain ? info.node.plates[0] : undefined;
    const N = plate ? rt.plates.get(plate)!.size : info.T ?? 1;
    // A full covariance selected by this latent: D from the observed value's last axis.
    let fullD = 0;
    for (const f of obs) {
      if (f.dist?.kind !== 'family' || (f.dist.family !== 'mvnormal' && f.dist.family !== 'mvnormal_cholesky')) continue;
      if (!mentions(f.dist.args[1], (e) => e.op === 'latent' && e.name === name)) continue;
      const site = f.site ? rt.data.get(f.site) : undefined;
      if (site && site.rank >= 1) fullD = Math.max(fullD, site.shape[site.shape.length - 1]);
    }
    // A scale of its own (normal, student_t): a variance needs 2 points.
    const ownScale = obs.some((f) => f.dist?.kind === 'family' && ((f.dist.family === 'normal' && mentions(f.dist.args[1], (e) => e.op === 'latent' && e.name === name))
      || (f.dist.family === 'student_t' && mentions(f.dist.args[2], (e) => e.op === 'latent' && e.name === name))));
    const K = info.K;
    const need = fullD > 0 ? fullD + 1 : ownScale ? 2 : 0;
    const threshold = opts.minCount ?? (need > 0 && N >= K * need ? need : 1e-8 * N);
    // Enough points that the re-seeded component is not itself below the threshold (at least 2, so a variance is not 0 from the start).
    const take = Math.min(plain ? N : 0, Math.max(2, Math.ceil(2 * threshold)));
    let rows: LatentPlan['rows'];
    const f = obs.find((g) => g.site && rt.data.get(g.site)?.shape[0] === N);
    if (plain && f) {
      const t = rt.data.get(f.site!)!;
      rows = { values: t.dataSync() as Float32Array, d: t.size / N };
    }
    latents.push({ name, K, N: plain ? N : -1, threshold, take, obs, plate, rows });
  }
  return { latents, maxReseeds: opts.maxReseeds ?? 10, maxPerComponent: opts.maxPerComponent ?? 2 };
}

/** Components whose total responsibility is below their latent's threshold. */
export interface Collapsed { latent: string; component: number; count: number; threshold: number; reseedable: boolean }

export function findCollapsed(plan: CollapsePlan, marginals: ReadonlyMap<string, Tensor>): Collapsed[] {
  return runSync(findCollapsedSteps(plan, marginals));
}

/** findCollapsed as host-read steps (host-reads.ts), for EM's sync and async loops. */
export function* findCollapsedSteps(plan: CollapsePlan, marginals: ReadonlyMap<string, Tensor>): HostSteps<Collapsed[]> {
  const out: Collapsed[] = [];
  for (const l of plan.latents) {
    const m = marginals.get(l.name);
    if (!m) continue;
    const K = l.K;
    // Plain latents: [..., K]; chains: pairwise [T, K, K], whose state marginals are the sums over the previous state.
    // Summed on the device: one read of K numbers per E-step.
    const sums = tf.tidy(() => tf.sum(tf.reshape(m, [-1, K]), 0));
    const counts = Float64Array.from((yield* readOwned([sums]))[0]);
    for (let k = 0; k < K; k++) {
      if (!(counts[k] >= l.threshold)) out.push({ latent: l.name, component: k, count: Number.isFinite(counts[k]) ? counts[k] : 0, threshold: l.threshold, reseedable: l.N > 0 && K > 1 });
    }
  }
  return out;
}

/** Per-row misfit -Σ_k r_nk log p(x_n | θ_k) over the latent's observation statements ([N], float64); undefined when not computable. */
function* misfitSteps(bm: BoundModel, l: LatentPlan, params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>): HostSteps<Float64Array | undefined> {
  const rt = bm.rt;
  const pd = plateDim(l.plate!);
  const total = tidyValue((): Tensor | undefined => {
    let total: Tensor | undefined;
    const ctx = { rt, params, lets: evalLets(rt, params) };
    for (const f of l.obs) {
      const v = evalFactor(f, ctx);
      const w = factorWeights(rt, f, marginals)!;
      const { dims, ts } = align([v, w], [0, 0]);
      if (!dims.includes(pd)) return undefined;
      const prod = tf.where(tf.equal(ts[1], 0), tf.zerosLike(ts[1]), tf.mul(ts[0], ts[1]));
      const s = sumDims({ t: prod, dims }, dims.filter((d) => d !== pd));
      const t = permuteTo(s, [pd]);
      total = total ? tf.add(total, t) : t;
    }
    if (!total || total.size !== l.N) return undefined;
    return tf.keep(total);
  });
  if (!total) return undefined;
  return Float64Array.from((yield* readOwned([total]))[0], (x) => (Number.isNaN(x) ? Infinity : -x));
}

/**
 * Responsibilities with each collapsed component given its worst-fit point and that
 * point's nearest neighbours (hard assignments); the caller runs one M-step from them.
 * Returns the new marginals (kept tensors, the caller disposes) and the events.
 */
export function reseedMarginals(bm: BoundModel, plan: CollapsePlan, params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>,
  collapsed: { latent: string; component: number; count: number }[]): { marginals: Map<string, Tensor>; events: Omit<ReseedEvent, 'start' | 'traceIndex'>[] } {
  return runSync(reseedMarginalsSteps(bm, plan, params, marginals, collapsed));
}

/**
 * reseedMarginals as host-read steps (host-reads.ts). The plan's data rows must be readable
 * synchronously (the async loop prefetches the data tensors).
 */
export function* reseedMarginalsSteps(bm: BoundModel, plan: CollapsePlan, params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>,
  collapsed: { latent: string; component: number; count: number }[]): HostSteps<{ marginals: Map<string, Tensor>; events: Omit<ReseedEvent, 'start' | 'traceIndex'>[] }> {
  const out = new Map<string, Tensor>();
  const events: Omit<ReseedEvent, 'start' | 'traceIndex'>[] = [];
  for (const [name, m] of marginals) {
    const l = plan.latents.find((x) => x.name === name)!;
    const mine = collapsed.filter((c) => c.latent === name);
    if (!mine.length || l.N <= 0) { out.set(name, tf.keep(tf.clone(m))); continue; }
    const K = l.K;
    const r = Float32Array.from((yield { read: [m] })[0]);
    const score = (yield* misfitSteps(bm, l, params, marginals))
      // Without a per-row density: the least confidently assigned rows.
      ?? Float64Array.from({ length: l.N }, (_, n) => -Math.max(...r.subarray(n * K, (n + 1) * K)));
    const used = new Uint8Array(l.N);
    for (const c of mine) {
      let seed = -1;
      for (let n = 0; n < l.N; n++) if (!used[n] && (seed < 0 || score[n] > score[seed])) seed = n;
      if (seed < 0) break;
      let chosen: number[];
      if (l.rows) {
        const { values, d } = l.rows;
        const dist = Float64Array.from({ length: l.N }, (_, n) => {
          let s = 0;
          for (let j = 0; j < d; j++) s += (values[n * d + j] - values[seed * d + j]) ** 2;
          return s;
        });
        chosen = Array.from({ length: l.N }, (_, n) => n).filter((n) => !used[n]).sort((a, b) => dist[a] - dist[b] || (a === seed ? -1 : b === seed ? 1 : a - b)).slice(0, l.take);
      } else {
        chosen = Array.from({ length: l.N }, (_, n) => n).filter((n) => !used[n]).sort((a, b) => score[b] - score[a]).slice(0, l.take);
      }
      for (const n of chosen) {
        used[n] = 1;
        r.fill(0, n * K, (n + 1) * K);
        r[n * K + c.component] = 1;
      }
      events.push({ latent: name, component: c.component, count: c.count, point: seed, points: chosen.length });
    }
    out.set(name, tf.keep(tf.tensor(r, m.shape)));
  }
  return { marginals: out, events };
}

/** The collapsed components that may still be re-seeded, given the re-seeds so far in this start. */
export function reseedable(plan: CollapsePlan, collapsed: Collapsed[], done: readonly ReseedEvent[]): Collapsed[] {
  if (done.length >= plan.maxReseeds) return [];
  const count = (c: Collapsed) => done.filter((e) => e.latent === c.latent && e.component === c.component).length;
  return collapsed.filter((c) => c.reseedable && count(c) < plan.maxPerComponent).slice(0, plan.maxReseeds - done.length);
}

/** One line per re-seeded component. */
export function reseedWarnings(events: readonly ReseedEvent[]): string[] {
  const groups = new Map<string, ReseedEvent[]>();
  for (const e of events) {
    const k = `${e.latent}\u0000${e.component}`;
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  return [...groups.values()].map((es) => {
    const at = es.map((e) => `at row ${e.point + 1} with ${e.points} points after trace[${e.traceIndex}] (total responsibility ${e.count.toPrecision(3)})`);
    return `component ${es[0].component + 1} of ${es[0].latent} collapsed and was re-seeded ${at.join('; again ')}; the log likelihood is non-decreasing from the E-step after a re-seed, not across it`;
  });
}
