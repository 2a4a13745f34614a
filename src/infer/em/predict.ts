/**
 * Prediction for new data from a fitted mixture: the new data are bound to the same
 * model, and at the fitted parameters each new point gets its posterior class
 * probabilities (responsibilities), its hard assignment (the most probable class) and
 * its log predictive density log p(x_n | θ) with the latents summed out.
 *
 * A point is one iteration of the loop the model's latents live in (`for n in 1..N`).
 * Its log density is, for each latent, log Σ_k exp L[n, k], where L[n, k] is the sum of
 * the log densities of the statements that involve the latent at value k (see
 * latentLogTables), plus the statements in that loop that involve no latent. Statements
 * outside the loop count in `logLik` only.
 */
import { tf, runAsync, runSync, readOwned, type Tensor, type HostSteps } from '../../tensor';
import { MixError, type Diagnostic } from '../../diagnostics/diagnostic';
import { asMixError, BoundModel, type ParamValues } from '../../model/bound-model';
import type { Model } from '../../model/model';
import type { DataInput, DataValue } from '../../model/data';
import type { IRDim } from '../../ir/types';
import { evalFactor, evalLets, plateDim } from '../../model/evaluate';
import { sumDims } from '../../model/values';
import { emResponsibilitiesSteps } from './index';
import { latentLogTablesSteps } from './viterbi';

export interface PredictResult {
  /** Per latent: posterior probabilities [plates..., K] of each value (row-major), and the values. */
  responsibilities: Record<string, { shape: number[]; values: Float64Array; support: number[] }>;
  /** Per latent: the most probable value of each element (shape: its plate sizes), from `support`. */
  assignments: Record<string, { shape: number[]; values: Int32Array }>;
  /** log p(point n | θ), latents summed out, one per iteration of `plate`. */
  logDensity: Float64Array;
  /** The loop whose iterations are the points (its id, e.g. `1..N`). */
  plate: string;
  /** log p(new data | θ), latents summed out, priors left out. */
  logLik: number;
}

const dimText = (d: IRDim): string => (d.kind === 'const' ? String(d.n) : d.kind === 'size' ? d.name : '?');

/**
 * Completes `newData` with what a fit's binding can lend: unobserved scalar data (such as
 * `K`, or a censoring limit) and declared sizes missing from it. Everything else the
 * model needs must be in `newData`; a missing variable is reported by name (E0613).
 */
function* completeDataSteps(source: Model | BoundModel, newData: DataInput): HostSteps<Record<string, DataValue>> {
  const ir = source.ir;
  const base = source instanceof BoundModel ? source : undefined;
  const observed = new Set(ir.factors.filter((f) => f.kind === 'obs' && f.site).map((f) => f.site!));
  const out: Record<string, DataValue> = { ...newData };
  const problems: Diagnostic[] = [];
  for (const node of ir.data) {
    if (out[node.name] !== undefined) continue;
    const lent = base && node.shape.length === 0 && !observed.has(node.name) ? base.rt.data.get(node.name) : undefined;
    if (lent) {
      out[node.name] = (yield { read: [lent] })[0][0];
      continue;
    }
    // A size read off another variable's shape is filled in by binding.
    const size = ir.sizes.find((s) => s.name === node.name);
    if (size && !size.declared) continue;
    const type = `${node.elem}${node.shape.length ? `[${node.shape.map(dimText).join(', ')}]` : ''}`;
    problems.push({
      severity: 'error', code: 'E0613',
      message: `predict: the new data has no '${node.name}' (${type}), which model ${ir.name} needs`,
      help: observed.has(node.name) || node.shape.length ? `give '${node.name}' for the new points` : `give '${node.name}' as in the fit, or pass the fitted BoundModel to lend it`,
      span: node.span,
    });
  }
  for (const s of ir.sizes) {
    if (!s.declared || out[s.name] !== undefined || ir.data.some((d) => d.name === s.name)) continue;
    const v = base?.sizes.get(s.name);
    if (v !== undefined) out[s.name] = v;
  }
  if (problems.length) throw new MixError(problems, source.source);
  return out;
}

/**
 * Posterior class probabilities, hard assignments and per-point log predictive densities
 * of new data under a fitted mixture (`params`, e.g. `em(...).params`). `source` is the
 * model, or the fitted BoundModel, which also lends unobserved scalar data such as `K`.
 * Throws a MixError naming each variable the model needs that `newData` lacks, and a
 * RangeError for models whose latents are not all indexed by one loop (chains: use
 * `viterbi` or `latentMarginals`).
 */
export function predict(source: Model | BoundModel, params: ParamValues, newData: DataInput): PredictResult {
  return runSync(predictSteps(source, params, newData));
}

/** {@link predict} with awaited reads (any backend; webgpu under Node.js needs it). */
export function predictAsync(source: Model | BoundModel, params: ParamValues, newData: DataInput): Promise<PredictResult> {
  return runAsync(predictSteps(source, params, newData));
}

/** {@link predict} as host-read steps. */
export function* predictSteps(source: Model | BoundModel, params: ParamValues, newData: DataInput): HostSteps<PredictResult> {
  const ir = source.ir;
  if (ir.latents.length === 0) throw new RangeError(`predict: model ${ir.name} has no discrete latents (no classes to predict)`);
  const chain = ir.latents.find((l) => l.chain);
  if (chain) throw new RangeError(`predict: '${chain.name}' is a chain; its points are not independent: use viterbi() or latentMarginals() on the bound data`);
  const plate = ir.latents[0].plates[0];
  const off = ir.latents.find((l) => l.plates[0] !== plate || l.plates.length === 0);
  if (plate === undefined || off) {
    throw new RangeError(`predict: the latents of model ${ir.name} must all be indexed by one loop (the points); '${(off ?? ir.latents[0]).name}' is not`);
  }
  const bm = new BoundModel(ir, yield* completeDataSteps(source, newData), source.source);
  try {
    const logLik = yield* bm.logDensitySteps(params, { priors: false });
    const tables = yield* latentLogTablesSteps(bm, params);
    const N = bm.rt.plates.get(plate)!.size;
    const logDensity = new Float64Array(N);
    for (const [, tab] of tables) {
      const K = tab.shape[tab.shape.length - 1];
      const per = tab.values.length / (N * K);
      for (let n = 0; n < N; n++) {
        for (let e = 0; e < per; e++) {
          const b = (n * per + e) * K;
          let m = -Infinity;
          for (let k = 0; k < K; k++) m = Math.max(m, tab.values[b + k]);
          let s = 0;
          if (m > -Infinity) for (let k = 0; k < K; k++) s += Math.exp(tab.values[b + k] - m);
          logDensity[n] += m > -Infinity ? m + Math.log(s) : -Infinity;
        }
      }
    }
    // Statements in the points' loop that involve no latent (e.g. an observed covariate).
    const rest = ir.factors.filter((f) => f.kind !== 'prior' && f.latents.length === 0 && f.plates.includes(plate));
    if (rest.length) {
      let terms: Tensor[];
      const perPoint: boolean[] = [];
      try {
        terms = tf.tidy(() => {
          const p = bm.paramTensors(params);
          const ctx = { rt: bm.rt, params: p, lets: evalLets(bm.rt, p) };
          return rest.map((f) => {
            const v = evalFactor(f, ctx);
            const keep = plateDim(plate);
            let r = sumDims(v, v.dims.filter((d) => d !== keep));
            let mult = 1;
            for (const q of f.plates) if (q !== plate && !v.dims.includes(plateDim(q))) mult *= bm.rt.plates.get(q)!.size;
            if (mult !== 1) r = { ...r, t: tf.mul(r.t, mult) };
            perPoint.push(r.dims.length > 0);
            return r.t;
          });
        });
      } catch (e) {
        throw asMixError(e, bm.source);
      }
      const vals = yield* readOwned(terms);
      vals.forEach((v, i) => { for (let n = 0; n < N; n++) logDensity[n] += perPoint[i] ? v[n] : v[0]; });
    }
    const marg = yield* emResponsibilitiesSteps(bm, params);
    const responsibilities: PredictResult['responsibilities'] = {};
    const assignments: PredictResult['assignments'] = {};
    for (const [name, info] of bm.rt.latents) {
      const m = marg[name];
      const K = info.K;
      const support = Array.from({ length: K }, (_, k) => info.offset + k);
      responsibilities[name] = { shape: m.shape, values: m.values, support };
      const n = m.values.length / K;
      const values = new Int32Array(n);
      for (let e = 0; e < n; e++) {
        let arg = 0;
        for (let k = 1; k < K; k++) if (m.values[e * K + k] > m.values[e * K + arg]) arg = k;
        values[e] = info.offset + arg;
      }
      assignments[name] = { shape: m.shape.slice(0, -1), values };
    }
    return { responsibilities, assignments, logDensity, plate, logLik };
  } finally {
    bm.dispose();
  }
}
