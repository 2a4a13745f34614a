/**
 * An amortised guide for models with local (per-observation) continuous parameters, as the
 * encoders of variational autoencoders (Kingma & Welling 2014) and Pyro's amortised guides:
 *   q(u) = q_G(u_G) · Π_n N(u_n; m(x_n), diag exp(2 s(x_n))),
 * where u_G are the global coordinates (a mean-field or full-rank Gaussian, guides.ts), u_n the
 * unconstrained coordinates of row n of the local parameters, and x_n the data row n (the
 * standardised entries of every data variable with that leading size). One small MLP per group
 * of rows maps x_n to the mean and log scale of all of that row's local coordinates:
 *   h = tanh(W1 x + b1),  [m; s] = W2 h + b2 + V x,
 * the linear skip V x so that a posterior mean affine in the data (conjugate models) is in the
 * family exactly. The guide's parameters do not grow with N, and `encode` gives the local
 * posterior of a new row without refitting.
 *
 * With `conditional` the encoders see the global draw as well, x = [x_n; u_G], and the guide is
 * q_G(u_G) Π_n q(u_n | u_G, x_n): still exact log q (u is a triangular bijection of ε), but the
 * entropy is no longer closed form; the ELBO uses H_G + Σ s(x_n, u_G(ε)) per draw, which is
 * unbiased for it, and every gradient flows into the global guide through u_G as well. On a
 * conjugate hierarchical normal model this family contains the exact posterior.
 *
 * A parameter is local when its leading axis is a size read off the leading axis of some data
 * variable (`param theta: real[N]` with `data y: real[N]`): the IR's SizeNode says where each
 * size comes from. Unconditional, the guide is a reparameterised Gaussian,
 * u = (μ_G + L ε_G, m + exp(s) ε_n), a bijection of ε with a closed-form entropy, so every
 * objective works as for the Gaussian guides.
 *
 * params: [the global guide's (guides.ts layout; none when every parameter is local), then per
 * group W1 (H × F'), b1 (H), W2 (2R × H), b2 (2R), V (2R × F')] with F features (F' = F, or
 * F + the global dimension when conditional) and R local coordinates per row; the first R outputs are the means, the next R the log scales.
 * W2 = V = 0 at the start: every row starts at N(0 (or the init's row mean), initSd²).
 */
import type { BoundModel } from '../../model/bound-model';
import type { Rng } from '../../tensor/random';
import { FullRankGuide, MeanFieldGuide, fixedNormals, monteCarloMoments, type Guide } from './guides';

const LOG_2PI = Math.log(2 * Math.PI);

/** One group of local coordinates sharing rows and an encoder. */
export interface AmortizedGroup {
  /** The size's name (for messages). */
  label: string;
  /** Features of each row (N rows of F; standardised by the guide). */
  features: ArrayLike<number>[];
  /** Indices into u of each row's R local coordinates (N rows of R). */
  coords: ArrayLike<number>[];
}

/** Which coordinates of u are global and which are local, by row. */
export interface AmortizedLayout {
  dim: number;
  groups: AmortizedGroup[];
}

/** Options of the amortised guide. */
export interface AmortizedOptions {
  /** Hidden units of each encoder (default 16). */
  hidden?: number;
  /** The global coordinates' guide (default 'fullrank'). */
  global?: 'meanfield' | 'fullrank';
  /**
   * Feed the global draw u_G to the encoders too, q(u_n | u_G, x_n) (default false): the guide
   * then captures how the local posteriors move with the globals (a hierarchical model's
   * funnel-like dependence), at the price of a closed-form entropy.
   */
  conditional?: boolean;
}

interface Group {
  label: string;
  N: number;
  F: number;
  R: number;
  /** Encoder inputs: F, plus the global coordinates when conditional. */
  Fin: number;
  /** Standardised features, row-major N × F. */
  x: Float64Array;
  /** Raw → standardised: (x − shift) / spread per feature. */
  shift: Float64Array;
  spread: Float64Array;
  /** u indices, row-major N × R. */
  coords: Int32Array;
  oW1: number;
  ob1: number;
  oW2: number;
  ob2: number;
  oV: number;
}

/**
 * The rows one evaluation covers: every row (the guide itself, scale 1) or a minibatch of them
 * (`batch`), whose local terms — log q, the entropy — are scaled so the minibatch ELBO is
 * unbiased for the full one. Coordinates index the evaluated u (and ε), which for a minibatch
 * is the layout of the model bound to those rows.
 */
export interface RowSel {
  dim: number;
  /** Indices into u of the global coordinates, in the global guide's order. */
  globalCoords: Int32Array;
  /** Per group of the guide: its rows' standardised features (N × F), u indices (N × R) and the scale of their terms. */
  groups: { N: number; x: Float64Array; coords: Int32Array; scale: number }[];
  /** The encoders' outputs at every row of the selection, for the parameters and global draw in `cacheKey`. */
  cache: { h: Float64Array[]; o: Float64Array[] }[] | null;
  cacheKey: Float64Array | null;
}

/** Which rows of the guide's groups a minibatch view covers (AmortizedGuide.batch). */
export interface AmortizedBatchSpec {
  /** Dimension of the minibatch model's u. */
  dim: number;
  /** Indices into that u of the global coordinates, in the order of the guide's `globalCoords`. */
  globalCoords: ArrayLike<number>;
  /**
   * Per group of the guide, in its order: the batch rows, as the guide's row indices (`rows`)
   * or as raw feature rows not among the guide's (`features`, row-major B × F, standardised as
   * the guide's own; data read in chunks, chunked.ts), the u indices of each batch row's R
   * local coordinates (row-major, B × R), and the scale of those rows' terms (N / B for a
   * subsampled group, 1 for one kept whole).
   */
  groups: { rows?: ArrayLike<number>; features?: ArrayLike<number>; coords: ArrayLike<number>; scale: number }[];
}

export class AmortizedGuide implements Guide {
  readonly kind = 'amortized' as const;
  readonly params: Float64Array;
  readonly hidden: number;
  readonly globalKind: 'meanfield' | 'fullrank';
  /** Whether the encoders also see the global draw u_G (q(u_n | u_G, x_n)). */
  readonly conditional: boolean;
  /** Indices into u of the global coordinates. */
  readonly globalCoords: Int32Array;
  /** The guide over the global coordinates (its params alias the start of `params`); null when there are none. */
  readonly globalGuide: MeanFieldGuide | FullRankGuide | null;
  private readonly groups: Group[];
  /** Every row, scale 1: the guide itself. */
  private readonly all: RowSel;

  /** Starts with every coordinate at N(init_i, initSd²) (local rows at the mean of their init over the rows). */
  constructor(readonly layout: AmortizedLayout, opts: AmortizedOptions = {}, init?: ArrayLike<number>, initSd = 1) {
    const d = layout.dim;
    if (!Number.isInteger(d) || d < 1) throw new RangeError(`AmortizedGuide: dimension must be a positive integer, got ${d}`);
    const H = opts.hidden ?? 16;
    if (!Number.isInteger(H) || H < 1) throw new RangeError(`AmortizedGuide: hidden must be a positive integer, got ${H}`);
    const gk = opts.global ?? 'fullrank';
    if (gk !== 'meanfield' && gk !== 'fullrank') throw new RangeError(`AmortizedGuide: global must be 'meanfield' or 'fullrank', got '${String(gk)}'`);
    if (init && init.length !== d) throw new RangeError(`AmortizedGuide: init has length ${init.length}, expected ${d}`);
    if (layout.groups.length === 0) throw new RangeError('AmortizedGuide: no local coordinates to amortise');
    this.hidden = H;
    this.globalKind = gk;
    const seen = new Uint8Array(d);
    const groups: Group[] = [];
    for (const g of layout.groups) {
      const N = g.coords.length;
      if (N < 1 || g.features.length !== N) throw new RangeError(`AmortizedGuide: group '${g.label}' has ${g.features.length} feature rows and ${N} coordinate rows`);
      const R = g.coords[0].length;
      const F = g.features[0].length;
      const coords = new Int32Array(N * R);
      const x = new Float64Array(N * F);
      for (let n = 0; n < N; n++) {
        if (g.coords[n].length !== R || g.features[n].length !== F) throw new RangeError(`AmortizedGuide: group '${g.label}' row ${n} has a different width`);
        for (let k = 0; k < R; k++) {
          const c = g.coords[n][k];
          if (!Number.isInteger(c) || c < 0 || c >= d || seen[c]) throw new RangeError(`AmortizedGuide: coordinate ${c} of group '${g.label}' is out of range or used twice`);
          seen[c] = 1;
          coords[n * R + k] = c;
        }
        for (let f = 0; f < F; f++) {
          const v = g.features[n][f];
          if (!Number.isFinite(v)) throw new RangeError(`AmortizedGuide: group '${g.label}' feature ${f} of row ${n} is not finite`);
          x[n * F + f] = v;
        }
      }
      // Standardise the features so the encoder's tanh units start in their linear range.
      const shift = new Float64Array(F);
      const spread = new Float64Array(F);
      for (let f = 0; f < F; f++) {
        let m = 0;
        for (let n = 0; n < N; n++) m += x[n * F + f] / N;
        let v = 0;
        for (let n = 0; n < N; n++) v += (x[n * F + f] - m) ** 2 / N;
        shift[f] = m;
        spread[f] = v > 0 ? Math.sqrt(v) : 1;
        for (let n = 0; n < N; n++) x[n * F + f] = (x[n * F + f] - m) / spread[f];
      }
      groups.push({ label: g.label, N, F, Fin: F, R, x, shift, spread, coords, oW1: 0, ob1: 0, oW2: 0, ob2: 0, oV: 0 });
    }
    this.globalCoords = Int32Array.from({ length: d }, (_, i) => i).filter((i) => !seen[i]);
    const dG = this.globalCoords.length;
    this.conditional = (opts.conditional ?? false) && dG > 0;
    const gInit = init ? Array.from(this.globalCoords, (i) => init[i]) : undefined;
    const inner = dG === 0 ? null : gk === 'meanfield' ? new MeanFieldGuide(dG, gInit, initSd) : new FullRankGuide(dG, gInit, initSd);
    let off = inner ? inner.params.length : 0;
    for (const g of groups) {
      g.Fin = g.F + (this.conditional ? dG : 0);
      g.oW1 = off;
      g.ob1 = g.oW1 + H * g.Fin;
      g.oW2 = g.ob1 + H;
      g.ob2 = g.oW2 + 2 * g.R * H;
      g.oV = g.ob2 + 2 * g.R;
      off = g.oV + 2 * g.R * g.Fin;
    }
    this.params = new Float64Array(off);
    if (inner) {
      this.params.set(inner.params);
      // The inner guide works on a view of the front of `params`, so updates reach it.
      (inner as { params: Float64Array }).params = this.params.subarray(0, inner.params.length);
    }
    this.globalGuide = inner;
    this.groups = groups;
    this.all = { dim: d, globalCoords: this.globalCoords, groups: groups.map((g) => ({ N: g.N, x: g.x, coords: g.coords, scale: 1 })), cache: null, cacheKey: null };
    const normal = fixedNormals(8675309);
    for (const g of groups) {
      const sd = 1 / Math.sqrt(Math.max(1, g.Fin));
      for (let k = 0; k < H * g.Fin; k++) this.params[g.oW1 + k] = sd * normal();
      for (let k = 0; k < g.R; k++) {
        let m = 0;
        if (init) for (let n = 0; n < g.N; n++) m += init[g.coords[n * g.R + k]] / g.N;
        this.params[g.ob2 + k] = m;
        this.params[g.ob2 + g.R + k] = Math.log(initSd);
      }
    }
  }

  get dim(): number {
    return this.layout.dim;
  }

  get noiseDim(): number {
    return this.layout.dim;
  }

  /**
   * The encoder of group g at the row z = [x (standardised, from xOff); u_G when conditional]:
   * hidden units and the outputs [m; s].
   */
  private encodeStd(g: Group, x: ArrayLike<number>, xOff: number, uG: ArrayLike<number>): { h: Float64Array; o: Float64Array } {
    const p = this.params;
    const H = this.hidden;
    const { F, Fin, R } = g;
    const z = (f: number): number => (f < F ? x[xOff + f] : uG[f - F]);
    const h = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      let a = p[g.ob1 + j];
      for (let f = 0; f < Fin; f++) a += p[g.oW1 + j * Fin + f] * z(f);
      h[j] = Math.tanh(a);
    }
    const o = new Float64Array(2 * R);
    for (let k = 0; k < 2 * R; k++) {
      let s = p[g.ob2 + k];
      for (let j = 0; j < H; j++) s += p[g.oW2 + k * H + j] * h[j];
      for (let f = 0; f < Fin; f++) s += p[g.oV + k * Fin + f] * z(f);
      o[k] = s;
    }
    return { h, o };
  }

  /**
   * The encoders' hidden units and outputs at every row of the selection for the global draw
   * uG, recomputed only when the parameters (or, when conditional, uG) changed since the last
   * call on that selection (an ELBO step asks for them 2S + 1 times; the comparison costs one
   * pass over the parameters, the encoders one per row of the selection).
   */
  private encoded(sel: RowSel, uG: ArrayLike<number>): { h: Float64Array[]; o: Float64Array[] }[] {
    const p = this.params;
    const nG = this.conditional ? uG.length : 0;
    const key = sel.cacheKey;
    let same = sel.cache !== null && key !== null && key.length === p.length + nG;
    for (let i = 0; same && i < p.length; i++) same = key![i] === p[i];
    for (let i = 0; same && i < nG; i++) same = key![p.length + i] === uG[i];
    if (!same) {
      sel.cache = this.groups.map((g, gi) => {
        const s = sel.groups[gi];
        const h: Float64Array[] = [];
        const o: Float64Array[] = [];
        for (let n = 0; n < s.N; n++) {
          const e = this.encodeStd(g, s.x, n * g.F, uG);
          h.push(e.h);
          o.push(e.o);
        }
        return { h, o };
      });
      const k = new Float64Array(p.length + nG);
      k.set(p);
      for (let i = 0; i < nG; i++) k[p.length + i] = uG[i];
      sel.cacheKey = k;
    }
    return sel.cache!;
  }

  /**
   * Reverse pass of the encoder: adds ∂/∂(its params) of gOᵀ o at the row into `out`, and
   * the gradient with respect to its u_G inputs into gUG (when conditional).
   */
  private encodeBack(g: Group, x: ArrayLike<number>, xOff: number, uG: ArrayLike<number>, h: Float64Array, gO: Float64Array, out: Float64Array, gUG: Float64Array | null): void {
    const p = this.params;
    const H = this.hidden;
    const { F, Fin, R } = g;
    const z = (f: number): number => (f < F ? x[xOff + f] : uG[f - F]);
    const gh = new Float64Array(H);
    for (let k = 0; k < 2 * R; k++) {
      const gk = gO[k];
      if (gk === 0) continue;
      out[g.ob2 + k] += gk;
      for (let j = 0; j < H; j++) {
        out[g.oW2 + k * H + j] += gk * h[j];
        gh[j] += gk * p[g.oW2 + k * H + j];
      }
      for (let f = 0; f < Fin; f++) out[g.oV + k * Fin + f] += gk * z(f);
      if (gUG) for (let f = F; f < Fin; f++) gUG[f - F] += gk * p[g.oV + k * Fin + f];
    }
    for (let j = 0; j < H; j++) {
      const ga = gh[j] * (1 - h[j] * h[j]);
      if (ga === 0) continue;
      out[g.ob1 + j] += ga;
      for (let f = 0; f < Fin; f++) out[g.oW1 + j * Fin + f] += ga * z(f);
      if (gUG) for (let f = F; f < Fin; f++) gUG[f - F] += ga * p[g.oW1 + j * Fin + f];
    }
  }

  /**
   * The local posterior the encoder gives a data row of group `group` (raw features, in the
   * layout's order): the mean and sd of each of its R unconstrained local coordinates. A
   * conditional guide also takes the global coordinates uG (default: the global guide's mean).
   */
  encode(features: ArrayLike<number>, group = 0, uG?: ArrayLike<number>): { mean: Float64Array; sd: Float64Array } {
    const g = this.groups[group];
    if (!g) throw new RangeError(`AmortizedGuide.encode: no group ${group} (there are ${this.groups.length})`);
    if (features.length !== g.F) throw new RangeError(`AmortizedGuide.encode: group '${g.label}' rows have ${g.F} features, got ${features.length}`);
    const dG = this.globalCoords.length;
    if (uG && uG.length !== dG) throw new RangeError(`AmortizedGuide.encode: uG has length ${uG.length}, expected ${dG}`);
    const x = Float64Array.from(features, (v, f) => (v - g.shift[f]) / g.spread[f]);
    const { o } = this.encodeStd(g, x, 0, uG ?? (this.globalGuide ? this.globalGuide.mean() : []));
    return { mean: o.slice(0, g.R), sd: Float64Array.from(o.subarray(g.R), Math.exp) };
  }

  /**
   * A view of the guide on a minibatch of rows (for minibatch VI, minibatch.ts): a Guide over
   * the u of the model bound to those rows, sharing this guide's `params`, that runs the
   * encoders on the batch rows only and scales their log q and entropy terms by each group's
   * `scale` (N / B). With the matching scaled potential its ELBO estimate at fixed noise is,
   * averaged over a partition of the rows, the full-data estimate exactly.
   */
  batch(spec: AmortizedBatchSpec): Guide {
    if (spec.groups.length !== this.groups.length) throw new RangeError(`AmortizedGuide.batch: ${spec.groups.length} groups given, the guide has ${this.groups.length}`);
    if (spec.globalCoords.length !== this.globalCoords.length) {
      throw new RangeError(`AmortizedGuide.batch: ${spec.globalCoords.length} global coordinates given, the guide has ${this.globalCoords.length}`);
    }
    const groups = this.groups.map((g, gi) => {
      const s = spec.groups[gi];
      if ((s.rows === undefined) === (s.features === undefined)) throw new RangeError(`AmortizedGuide.batch: group '${g.label}' needs exactly one of rows and features`);
      const B = s.rows ? s.rows.length : s.features!.length / g.F;
      if (!Number.isInteger(B)) throw new RangeError(`AmortizedGuide.batch: group '${g.label}' has ${s.features!.length} feature values, not a multiple of its ${g.F} features`);
      if (s.coords.length !== B * g.R) throw new RangeError(`AmortizedGuide.batch: group '${g.label}' has ${B} rows and ${s.coords.length} coordinates (expected ${B * g.R})`);
      const x = new Float64Array(B * g.F);
      if (s.rows) {
        for (let i = 0; i < B; i++) {
          const n = s.rows[i];
          if (!Number.isInteger(n) || n < 0 || n >= g.N) throw new RangeError(`AmortizedGuide.batch: row ${n} of group '${g.label}' is out of range (it has ${g.N})`);
          x.set(g.x.subarray(n * g.F, (n + 1) * g.F), i * g.F);
        }
      } else {
        // The same standardisation as the guide's own rows (the constructor's), so a row gives
        // the same encoder input either way.
        const f = s.features!;
        for (let i = 0; i < B * g.F; i++) {
          const v = f[i];
          if (!Number.isFinite(v)) throw new RangeError(`AmortizedGuide.batch: group '${g.label}' feature ${i % g.F} of batch row ${Math.floor(i / g.F)} is not finite`);
          x[i] = (v - g.shift[i % g.F]) / g.spread[i % g.F];
        }
      }
      return { N: B, x, coords: Int32Array.from(s.coords), scale: s.scale };
    });
    return new AmortizedBatch(this, { dim: spec.dim, globalCoords: Int32Array.from(spec.globalCoords), groups, cache: null, cacheKey: null });
  }

  private pick(sel: RowSel, v: ArrayLike<number>): Float64Array {
    return Float64Array.from(sel.globalCoords, (i) => v[i]);
  }

  /** The global draw u_G(ε_G) (empty without globals). */
  private globalDraw(sel: RowSel, eps: ArrayLike<number>): Float64Array {
    return this.globalGuide ? this.globalGuide.transform(this.pick(sel, eps)) : new Float64Array(0);
  }

  /** @internal */
  transformSel(sel: RowSel, eps: ArrayLike<number>, out: Float64Array): Float64Array {
    const uG = this.globalDraw(sel, eps);
    sel.globalCoords.forEach((c, i) => (out[c] = uG[i]));
    const enc = this.encoded(sel, uG);
    this.groups.forEach((g, gi) => {
      const s = sel.groups[gi];
      for (let n = 0; n < s.N; n++) {
        const o = enc[gi].o[n];
        for (let k = 0; k < g.R; k++) {
          const c = s.coords[n * g.R + k];
          out[c] = o[k] + Math.exp(o[g.R + k]) * eps[c];
        }
      }
    });
    return out;
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    return this.transformSel(this.all, eps, out);
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const eps = new Float64Array(this.dim);
    for (let i = 0; i < this.dim; i++) eps[i] = rng.normal();
    return { u: this.transform(eps), eps };
  }

  /** @internal */
  logqSel(sel: RowSel, u: ArrayLike<number>): number {
    const uG = this.pick(sel, u);
    let s = this.globalGuide ? this.globalGuide.logq(uG) : 0;
    const enc = this.encoded(sel, uG);
    this.groups.forEach((g, gi) => {
      const r = sel.groups[gi];
      let t = 0;
      for (let n = 0; n < r.N; n++) {
        const o = enc[gi].o[n];
        for (let k = 0; k < g.R; k++) {
          const z = (u[r.coords[n * g.R + k]] - o[k]) / Math.exp(o[g.R + k]);
          t -= 0.5 * z * z + o[g.R + k] + 0.5 * LOG_2PI;
        }
      }
      s += r.scale * t;
    });
    return s;
  }

  logq(u: ArrayLike<number>): number {
    return this.logqSel(this.all, u);
  }

  /** H_G + Σ_groups scale Σ_n Σ_k (s_nk + ½(1 + log 2π)) with the encoders at the global draw uG. */
  private entropyAt(sel: RowSel, uG: ArrayLike<number>): number {
    let s = this.globalGuide ? this.globalGuide.entropy() : 0;
    const enc = this.encoded(sel, uG);
    this.groups.forEach((g, gi) => {
      const r = sel.groups[gi];
      let t = 0;
      for (let n = 0; n < r.N; n++) {
        const o = enc[gi].o[n];
        for (let k = 0; k < g.R; k++) t += o[g.R + k] + 0.5 * (1 + LOG_2PI);
      }
      s += r.scale * t;
    });
    return s;
  }

  /** The entropy in closed form; NaN for a conditional guide (its local scales depend on u_G). */
  entropy(): number {
    return this.conditional ? NaN : this.entropyAt(this.all, new Float64Array(this.globalCoords.length));
  }

  /** @internal */
  entropyTermSel(sel: RowSel, eps: ArrayLike<number>): number {
    return this.entropyAt(sel, this.conditional ? this.globalDraw(sel, eps) : new Float64Array(this.globalCoords.length));
  }

  /**
   * H_G + Σ_n Σ_k (s_nk(u_G(ε)) + ½(1 + log 2π)): the entropy for the unconditional guide; for
   * the conditional one an unbiased estimate of it (the local ε_n are integrated out exactly).
   */
  entropyTerm(eps: ArrayLike<number>): number {
    return this.entropyTermSel(this.all, eps);
  }

  /** @internal */
  addPathGradSel(sel: RowSel, eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    const epsG = this.pick(sel, eps);
    const uG = this.globalDraw(sel, eps);
    const gUG = this.conditional ? new Float64Array(uG.length) : null;
    const enc = this.encoded(sel, uG);
    this.groups.forEach((g, gi) => {
      const r = sel.groups[gi];
      const gO = new Float64Array(2 * g.R);
      for (let n = 0; n < r.N; n++) {
        const h = enc[gi].h[n];
        const o = enc[gi].o[n];
        for (let k = 0; k < g.R; k++) {
          const c = r.coords[n * g.R + k];
          gO[k] = -scale * gU[c];
          gO[g.R + k] = -scale * gU[c] * eps[c] * Math.exp(o[g.R + k]);
        }
        this.encodeBack(g, r.x, n * g.F, uG, h, gO, out, gUG);
      }
    });
    if (this.globalGuide) {
      // addPathGrad(ε_G, v, 1) adds −vᵀ ∂u_G/∂θ: v = scale ∇U_G − (the encoders' ∂/∂u_G).
      const v = Float64Array.from(sel.globalCoords, (c, i) => scale * gU[c] - (gUG ? gUG[i] : 0));
      this.globalGuide.addPathGrad(epsG, v, 1, out.subarray(0, this.globalGuide.params.length));
    }
  }

  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.addPathGradSel(this.all, eps, gU, scale, out);
  }

  /** @internal */
  addEntropyTermGradSel(sel: RowSel, eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    const uG = this.conditional ? this.globalDraw(sel, eps) : new Float64Array(this.globalCoords.length);
    const gUG = this.conditional ? new Float64Array(uG.length) : null;
    const enc = this.encoded(sel, uG);
    this.groups.forEach((g, gi) => {
      const r = sel.groups[gi];
      const gO = new Float64Array(2 * g.R);
      gO.fill(scale * r.scale, g.R);
      for (let n = 0; n < r.N; n++) this.encodeBack(g, r.x, n * g.F, uG, enc[gi].h[n], gO, out, gUG);
    });
    if (this.globalGuide) {
      const outG = out.subarray(0, this.globalGuide.params.length);
      this.globalGuide.addEntropyGrad(scale, outG);
      if (gUG) this.globalGuide.addPathGrad(this.pick(sel, eps), Float64Array.from(gUG, (x) => -x), 1, outG);
    }
  }

  /** Adds scale · ∂(entropyTerm(ε))/∂θ (for the conditional guide through u_G(ε) as well). */
  addEntropyTermGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.addEntropyTermGradSel(this.all, eps, scale, out);
  }

  addEntropyGrad(scale: number, out: Float64Array): void {
    if (this.conditional) throw new RangeError('AmortizedGuide: a conditional guide has no closed-form entropy; use addEntropyTermGrad');
    this.addEntropyTermGrad(new Float64Array(this.dim), scale, out);
  }

  /**
   * Adds scale · ∂(−log q_θ(u_θ(ε)))/∂θ. −log q(u(ε)) = −log q_G(u_G(ε_G)) + Σ (½ε² + s + ½ log 2π);
   * the global map is a bijection, so the first term's total derivative is ∂H_G/∂θ, and the
   * whole is the entropy term's gradient.
   */
  addNegLogqGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.addEntropyTermGrad(eps, scale, out);
  }

  /** Monte Carlo moments from 2000 fixed-seed draws (the conditional guide's have no closed form). */
  private moments(): { mean: Float64Array; cov: Float64Array[] } {
    return monteCarloMoments((e) => this.transform(e), this.dim, 2000);
  }

  /** The mean of u (exact for the unconditional guide, Monte Carlo for the conditional one). */
  mean(): Float64Array {
    return this.conditional ? this.moments().mean : this.transform(new Float64Array(this.dim));
  }

  /**
   * The covariance of u: block diagonal, the global guide's and exp(2 s) on the local
   * coordinates, for the unconditional guide; Monte Carlo (2000 draws) for the conditional one.
   */
  covariance(): Float64Array[] {
    if (this.conditional) return this.moments().cov;
    const d = this.dim;
    const C = Array.from({ length: d }, () => new Float64Array(d));
    if (this.globalGuide) {
      const CG = this.globalGuide.covariance();
      this.globalCoords.forEach((ci, i) => this.globalCoords.forEach((cj, j) => (C[ci][cj] = CG[i][j])));
    }
    const enc = this.encoded(this.all, new Float64Array(this.globalCoords.length));
    this.groups.forEach((g, gi) => {
      for (let n = 0; n < g.N; n++) {
        const o = enc[gi].o[n];
        for (let k = 0; k < g.R; k++) {
          const c = g.coords[n * g.R + k];
          C[c][c] = Math.exp(2 * o[g.R + k]);
        }
      }
    });
    return C;
  }

  clone(): AmortizedGuide {
    const c = new AmortizedGuide(this.layout, { hidden: this.hidden, global: this.globalKind, conditional: this.conditional });
    c.params.set(this.params);
    return c;
  }
}

/**
 * The amortised layout of a bound model: its local parameters — those whose leading axis is a
 * size read off the leading axis of a data variable — grouped by that size, with the rows of
 * every such data variable (flattened) as the features. `local` restricts it to the named
 * parameters. Throws a RangeError naming the problem when there is nothing to amortise.
 */
export function amortizedLayout(bound: BoundModel, local?: readonly string[]): AmortizedLayout {
  const ir = bound.ir;
  const rowSizes = new Map<string, string[]>();
  for (const s of ir.sizes) {
    const names = s.from.filter((f) => f.axis === 0).map((f) => f.data);
    if (names.length > 0) rowSizes.set(s.name, names);
  }
  const info = new Map(bound.params.map((p) => [p.name, p]));
  const candidates = ir.params.filter((p) => p.shape.length > 0 && p.shape[0].kind === 'size' && rowSizes.has(p.shape[0].name) && (info.get(p.name)?.size ?? 0) > 0);
  if (local) {
    for (const name of local) {
      if (!info.has(name)) throw new RangeError(`vi: amortized.local names '${name}', not a parameter of the model; parameters: ${[...info.keys()].join(', ')}`);
      if (!candidates.some((p) => p.name === name)) {
        throw new RangeError(`vi: amortized.local '${name}' is not a local parameter (its leading axis must be the rows of a data variable, as param theta: real[N] with data y: real[N])`);
      }
    }
  }
  const chosen = local ? candidates.filter((p) => local.includes(p.name)) : candidates;
  if (chosen.length === 0) {
    throw new RangeError(
      `vi: the amortized guide found no local parameters in model '${ir.name}' (a parameter whose leading axis is the rows of a data variable, as param theta: real[N] with data y: real[N])`,
    );
  }
  const bySize = new Map<string, typeof chosen>();
  for (const p of chosen) {
    const s = (p.shape[0] as { name: string }).name;
    bySize.set(s, [...(bySize.get(s) ?? []), p]);
  }
  const groups: AmortizedGroup[] = [];
  for (const [size, ps] of bySize) {
    const g = amortizedRows(bound, size, ps.map((p) => p.name));
    if (g.coords.length > 0) groups.push(g);
  }
  if (groups.length === 0) throw new RangeError(`vi: the amortized guide found no rows for the local parameters of model '${ir.name}'`);
  return { dim: bound.dim, groups };
}

/**
 * One group of an amortised layout read off a bound model: the rows of size `size` (none when
 * it is 0), their features (the rows of every data variable with that leading size) and the
 * u indices of each row's coordinates of the local parameters `params`, in that order.
 */
export function amortizedRows(bound: BoundModel, size: string, params: readonly string[]): AmortizedGroup {
  const N = bound.sizes.get(size) ?? 0;
  if (N < 1) return { label: size, features: [], coords: [] };
  const info = new Map(bound.params.map((p) => [p.name, p]));
  const dataNames = bound.ir.sizes.filter((s) => s.name === size).flatMap((s) => s.from.filter((f) => f.axis === 0).map((f) => f.data));
  const cols: { values: ArrayLike<number>; width: number }[] = [];
  for (const name of dataNames) {
    const t = bound.rt.data.get(name);
    if (!t || t.shape[0] !== N) continue;
    cols.push({ values: t.dataSync() as ArrayLike<number>, width: t.size / N });
  }
  const features = Array.from({ length: N }, (_, n) => {
    const row: number[] = [];
    for (const c of cols) for (let k = 0; k < c.width; k++) row.push(c.values[n * c.width + k]);
    return row;
  });
  const coords = Array.from({ length: N }, (_, n) => {
    const row: number[] = [];
    for (const name of params) {
      const pi = info.get(name)!;
      // The unconstrained block is row-major with the rows leading, so row n is contiguous.
      if (pi.uShape[0] !== N) throw new RangeError(`vi: amortized guide: the unconstrained block of '${name}' does not lead with its ${N} rows`);
      const per = pi.size / N;
      for (let k = 0; k < per; k++) row.push(pi.offset + n * per + k);
    }
    return row;
  });
  return { label: size, features, coords };
}

/** An AmortizedGuide on a minibatch of rows (AmortizedGuide.batch); shares the guide's params. */
class AmortizedBatch implements Guide {
  readonly kind = 'amortized' as const;

  constructor(private readonly parent: AmortizedGuide, private readonly sel: RowSel) {}

  get dim(): number {
    return this.sel.dim;
  }

  get noiseDim(): number {
    return this.sel.dim;
  }

  get params(): Float64Array {
    return this.parent.params;
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    return this.parent.transformSel(this.sel, eps, out);
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const eps = new Float64Array(this.dim);
    for (let i = 0; i < this.dim; i++) eps[i] = rng.normal();
    return { u: this.transform(eps), eps };
  }

  /** The scaled log q: log q_G + Σ_groups scale Σ_rows log q(u_n | x_n). */
  logq(u: ArrayLike<number>): number {
    return this.parent.logqSel(this.sel, u);
  }

  entropy(): number {
    return this.parent.conditional ? NaN : this.entropyTerm(new Float64Array(this.dim));
  }

  entropyTerm(eps: ArrayLike<number>): number {
    return this.parent.entropyTermSel(this.sel, eps);
  }

  addEntropyTermGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.parent.addEntropyTermGradSel(this.sel, eps, scale, out);
  }

  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.parent.addPathGradSel(this.sel, eps, gU, scale, out);
  }

  addEntropyGrad(scale: number, out: Float64Array): void {
    if (this.parent.conditional) throw new RangeError('AmortizedGuide: a conditional guide has no closed-form entropy; use addEntropyTermGrad');
    this.addEntropyTermGrad(new Float64Array(this.dim), scale, out);
  }

  addNegLogqGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.addEntropyTermGrad(eps, scale, out);
  }

  /** The batch rows' mean (Monte Carlo for the conditional guide). */
  mean(): Float64Array {
    return this.parent.conditional ? monteCarloMoments((e) => this.transform(e), this.dim, 2000).mean : this.transform(new Float64Array(this.dim));
  }

  /** Monte Carlo (2000 fixed-seed draws) covariance of the batch rows' u. */
  covariance(): Float64Array[] {
    return monteCarloMoments((e) => this.transform(e), this.dim, 2000).cov;
  }

  clone(): Guide {
    return new AmortizedBatch(this.parent.clone(), { ...this.sel, cache: null, cacheKey: null });
  }
}
