/**
 * Minibatch VI from data arriving in chunks (`model.fit(chunks, { method: 'vi', minibatch })`),
 * for data that does not fit in memory: the source is read one chunk at a time (an array, an
 * iterable or async iterable of data objects, or a function returning a fresh one per pass, as
 * online EM's); each chunk of C rows is split by a seeded permutation into ⌈C / size⌉ batches,
 * and each SVI step uses one batch b of B_b rows with the likelihood scaled to the total:
 *   U_b(u) = −[log prior + log|J|] − (N / B_b) ℓ_b(u),
 * N = `minibatch.totalRows`, or counted in a first pass when the source can be read again (an
 * array or a function). Nothing but the current chunk and batch is held. The estimate is
 * unbiased for the full-data potential when the rows arrive in random order (shuffle the file
 * once), as for any streaming SGD; chunk by chunk in a fixed order it drifts with the order.
 *
 * The run takes `steps` steps (or stops at convergence), reading the source again as often as
 * that needs when it can be re-read; a one-shot source ends the run when it is exhausted.
 * The guide is over the global parameters only: a parameter with a row per data row (a local
 * parameter) cannot be held for data that is not, so such models are refused, unless every
 * local parameter is amortised (`guide: 'amortized'`): then the trained parameters are the
 * global guide's and the encoders' (they do not grow with the rows), and each batch's local
 * draws come from the encoders applied to its rows, with the potential of the in-memory
 * amortised minibatch (LocalMinibatch) G + (N / B_b)(U_b − G): the batch's likelihood and
 * local priors scaled, the global priors and Jacobian (G, the model bound to no rows) counted
 * once (AmortizedBatches, minibatch.ts). The amortised guide is built on the first chunk, whose
 * rows also standardise the encoders' inputs.
 *
 * The result is a ViResult whose `psis` throws (it would need the full data). For an amortised
 * fit its guide, names and draws cover the parameters without rows (the model bound to no
 * rows: the globals and any local parameters of shared rows); the local posterior of a row
 * is `result.encoder.encode(features)`.
 */
import type { BoundModel, PotentialFunction } from '../../model/bound-model';
import type { DataInput, DataValue } from '../../model/data';
import { isNdArray } from '../../model/data';
import { eachChunk, isChunkSource, type Bindable, type ChunkSource } from '../../model/chunks';
import { Key } from '../../tensor/random';
import { AmortizedBatches, bindRows, LocalMinibatch, MinibatchPotential, permutation, subsampledParams } from './minibatch';
import type { AmortizedGuide } from './amortized';
import { buildResult, makeViGuide, runConfig, Trainer } from './train';
import type { Guide, Potential } from './guides';
import type { ViOptions, ViResult } from './index';

/** Chunks of data (the streaming fits' source type, src/model/chunks.ts). */
export type ViChunkSource = ChunkSource;

/** A model that binds data (a compiled Model). */
export type ViBindable = Bindable;

export { isChunkSource };

/** Rows of one data value (its leading axis); undefined for a scalar. */
function leading(v: DataValue): number | undefined {
  if (Array.isArray(v)) return v.length;
  if (isNdArray(v)) return v.shape.length > 0 ? v.shape[0] : undefined;
  return undefined;
}

/** Checks chunk `where` has exactly the row columns `names`, all with the same rows; returns the rows. */
function chunkRows(chunk: unknown, names: readonly string[], where: string): number {
  if (chunk == null || typeof chunk !== 'object' || Array.isArray(chunk) || isNdArray(chunk)) {
    throw new RangeError(`vi: ${where} is not a data object (got ${Array.isArray(chunk) ? 'an array' : chunk === null ? 'null' : typeof chunk})`);
  }
  const keys = Object.keys(chunk);
  const missing = names.filter((n) => !keys.includes(n));
  const extra = keys.filter((k) => !names.includes(k));
  if (missing.length > 0 || extra.length > 0) {
    throw new RangeError(
      `vi: ${where} has columns ${keys.join(', ') || '(none)'}; expected ${names.join(', ')} (minibatch.data)` +
        (missing.length ? `: missing ${missing.join(', ')}` : '') +
        (extra.length ? `${missing.length ? ';' : ':'} not expected ${extra.join(', ')} (shared data goes in minibatch.shared)` : ''),
    );
  }
  let n = -1;
  for (const name of names) {
    const r = leading((chunk as DataInput)[name]);
    if (r === undefined) throw new RangeError(`vi: ${where}: column '${name}' is a scalar; a chunk holds rows`);
    if (n >= 0 && r !== n) throw new RangeError(`vi: ${where}: column '${name}' has ${r} rows, ${names[0]} has ${n}`);
    n = r;
  }
  return n;
}

/**
 * Fits a guide by minibatch SVI on data read in chunks. `opts.minibatch` is required: `data`
 * names the row columns of each chunk, `size` the rows per step, `totalRows` the rows in all
 * (see the module comment) and `shared` the data common to every chunk.
 *
 * @example
 * const fit = await model.fit(() => readChunks('big.csv'), { method: 'vi', minibatch: { data: 'y', size: 256 }, steps: 5000 });
 */
export async function viChunked(model: ViBindable, source: ViChunkSource, opts: ViOptions): Promise<ViResult> {
  const t0 = performance.now();
  const mbo = opts.minibatch;
  if (!mbo) throw new RangeError("vi: data in chunks needs minibatch: { data, size } (the row columns of each chunk and the rows per step)");
  if (!isChunkSource(source)) throw new RangeError('vi: the chunk source must be an array, iterable or async iterable of data objects, or a function returning one');
  const cfg = runConfig(opts);
  const names = typeof mbo.data === 'string' ? [mbo.data] : [...mbo.data];
  if (names.length === 0) throw new RangeError('vi: minibatch.data names no data variable');
  const size = mbo.size;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`vi: minibatch.size must be a positive integer, got ${size}`);
  const shared = mbo.shared ?? {};
  for (const k of Object.keys(shared)) if (names.includes(k)) throw new RangeError(`vi: minibatch.shared has '${k}', a row column of minibatch.data`);
  const again = typeof source === 'function' || Array.isArray(source);
  const open = (pass: number): Iterable<DataInput> | AsyncIterable<DataInput> => {
    const s = typeof source === 'function' ? source() : source;
    if (!isChunkSource(s) || typeof s === 'function') throw new RangeError(`vi: the chunk source function returned no iterable on pass ${pass}`);
    return s;
  };

  let total = mbo.totalRows;
  if (total !== undefined) {
    if (!Number.isInteger(total) || total < 1) throw new RangeError(`vi: minibatch.totalRows must be a positive integer, got ${total}`);
  } else {
    if (!again) {
      throw new RangeError(
        'vi: minibatch.totalRows is needed for a one-shot chunk source (an iterator, generator or async iterable, read once): give the total rows, ' +
          'or pass an array or a function returning a fresh iterable so that they can be counted in a first pass',
      );
    }
    let n = 0;
    let c = 0;
    for await (const chunk of eachChunk(open(0))) n += chunkRows(chunk, names, `chunk ${++c} of the counting pass`);
    if (n === 0) throw new RangeError(`vi: the chunk source gave no rows (${c} chunks in the counting pass)`);
    total = n;
  }
  const N = total;

  let guide: Guide | undefined;
  let tr: Trainer | undefined;
  let cf: ReturnType<BoundModel['constrainedFunction']> | undefined;
  let traced = true;
  let dim = -1;
  const mbRng = Key.seed(cfg.seed).fold(2).rng();
  let checked = false;
  let priorBound: BoundModel | undefined;
  let prior: PotentialFunction | undefined;
  let gLik: Float64Array | undefined;
  let amortized: AmortizedBatches | undefined;
  try {
    for (let pass = 1; ; pass++) {
      let rows = 0;
      let c = 0;
      for await (const chunk of eachChunk(open(pass))) {
        const where = `chunk ${++c} of pass ${pass}`;
        const C = chunkRows(chunk, names, where);
        if (C === 0) continue;
        rows += C;
        let bc: BoundModel;
        try {
          bc = model.bind({ ...shared, ...chunk });
        } catch (e) {
          throw new RangeError(`vi: ${where} does not bind: ${(e as Error).message}`);
        }
        try {
          if (!tr) {
            const local = subsampledParams(bc, { data: names, size });
            if (local.length > 0 && cfg.kind !== 'amortized') {
              throw new RangeError(
                `vi: data in chunks: parameter '${local[0]}' has a row per data row (a local parameter), which cannot be held for data that is not; ` +
                  "use guide: 'amortized' (its encoders give each batch's local draws), or fit with the data in memory",
              );
            }
            if (bc.dim === 0) throw new RangeError('vi: the model has no continuous parameters');
            dim = bc.dim;
            guide = makeViGuide(bc, opts, cfg.kind);
            if (local.length > 0) {
              // Local parameters: the guide's global part and encoders are trained, each batch's
              // local draws come from the encoders on its rows (AmortizedBatches).
              amortized = new AmortizedBatches(bc, names, guide as AmortizedGuide);
              cf = amortized.zero.constrainedFunction();
            } else {
              cf = bc.constrainedFunction();
              // The priors and Jacobian do not depend on the rows: one binding (of the chunk's
              // first row) serves every batch, which then only traces its likelihood.
              priorBound = bindRows(bc, names, Int32Array.of(0));
              prior = priorBound.potentialFunction({ likelihood: false });
              gLik = new Float64Array(dim);
            }
            tr = new Trainer(guide, opts, cfg);
          }
          if (!amortized && bc.dim !== dim) throw new RangeError(`vi: ${where} gives the model ${bc.dim} parameters, the first chunk ${dim}: a parameter's size depends on the rows`);
          if (!checked && C >= 2) {
            // The model must split over the rows: the chunk's whole against its two halves
            // (with local parameters, G + Σ (U_half − G), the guide built on this first chunk).
            const half = { data: names, size: Math.ceil(C / 2) };
            const mb = amortized ? new LocalMinibatch(bc, half, guide as AmortizedGuide, Key.seed(cfg.seed).fold(4).rng()) : new MinibatchPotential(bc, half, Key.seed(cfg.seed).fold(4).rng());
            try {
              const r = Key.seed(cfg.seed).fold(3).rng();
              mb.checkSplits([new Float64Array(dim), Float64Array.from({ length: dim }, () => r.normal())]);
            } finally {
              mb.dispose();
            }
            checked = true;
          }
          const perm = permutation(C, mbRng);
          const nb = Math.ceil(C / size);
          for (let k = 0; k < nb && !tr.done; k++) {
            const idx = perm.slice(Math.floor((k * C) / nb), Math.floor(((k + 1) * C) / nb)).sort();
            const bb = bindRows(bc, names, idx);
            try {
              if (amortized) {
                const { guide: view, potential, traced: t } = amortized.view(bb, N / idx.length);
                traced &&= t;
                tr.step(view, potential);
              } else {
                const lik = bb.potentialFunction({ priors: false, jacobian: false });
                traced &&= lik.traced && prior!.traced;
                tr.step(guide!, scaledPotential(prior!, lik, N / idx.length, gLik!));
              }
            } finally {
              bb.dispose();
            }
          }
        } finally {
          bc.dispose();
        }
        if (tr.done) break;
      }
      if (tr?.done) break;
      if (rows === 0) {
        if (pass === 1) throw new RangeError('vi: the chunk source gave no rows');
        if (!again) break; // a one-shot source, read to its end
        throw new RangeError(`vi: the chunk source gave no rows on pass ${pass}`);
      }
      if (rows !== N) {
        throw new RangeError(`vi: pass ${pass} over the chunk source read ${rows} rows, but minibatch.totalRows is ${N}: the likelihood would be scaled wrongly`);
      }
      if (!again) break;
    }
  } finally {
    priorBound?.dispose();
    amortized?.dispose();
  }
  const spec = amortized?.globalSpec;
  return buildResult(tr!, cfg, cf!, undefined, traced, t0, spec && ((g) => (g as AmortizedGuide).batch(spec)));
}

/** U(u) = prior(u) + scale · lik(u): the batch's potential with its likelihood standing for N rows. */
function scaledPotential(prior: PotentialFunction, lik: PotentialFunction, scale: number, gLik: Float64Array): Potential {
  return {
    dim: prior.dim,
    value: (u) => prior.value(u) + scale * lik.value(u),
    valueAndGrad: (u, grad) => {
      const v = prior.valueAndGrad(u, grad);
      const l = lik.valueAndGrad(u, gLik);
      for (let i = 0; i < grad.length; i++) grad[i] += scale * gLik[i];
      return v + scale * l;
    },
  };
}
