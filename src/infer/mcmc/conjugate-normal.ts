/**
 * Exact Gibbs updates of a normal mixture's component locations (and cheap updates of its
 * scales) given the Gibbs-drawn latents, inside the JAGS-style slice sampler
 * (`sample(bound, { algorithm: 'slice', latents: 'gibbs' })`; composed with the
 * Dirichlet–categorical draw in conjugate-gibbs.ts).
 *
 * Recognised from the IR alone, never from model names: a latent z (one plate, K values,
 * not a chain) whose only factors are `z[n] ~ categorical(w)` and one observation
 * `y[n] ~ normal(mu[z[n]], sigma[z[n]])` (y data indexed by z's plate), where mu and sigma
 * are length-K parameter vectors whose only other factors are `mu ~ normal(m0, s0)` and a
 * prior on sigma, all prior arguments free of parameters and latents, and nothing else (no
 * `let`, no `target +=`) mentions mu, sigma or z. mu is `real[K]` or `ordered[K]`.
 *
 * Given z and sigma the locations are independent normals, mu_k ~ N(m_k, v_k) with
 * 1/v_k = 1/s0² + n_k/σ_k², m_k = v_k (m0/s0² + S_k/σ_k²) (n_k, S_k: count and sum of the
 * y with z = k). For an ordered mu the exact conditional of mu_k given the others is that
 * normal truncated to (mu_{k-1}, mu_{k+1}), drawn exactly by rejection
 * ({@link truncatedNormal}) one k after another ('truncated'). When the model is
 * exchangeable in the labels (the priors of mu and sigma are iid: scalar, or equal per
 * component, arguments; w has a symmetric Dirichlet prior and is drawn exactly after this
 * update) the ordered posterior is the unordered posterior sorted by mu, jointly with
 * (z, sigma, w). Then the update ('sort') draws every mu_k from the untruncated normal,
 * sorts, and relabels sigma and z by the same permutation: with π_u the unordered
 * posterior of (z, θ) and x ~ π_o = sort_# π_u, x is a draw from π_u given its sorted value
 * (all labellings are equally likely under an exchangeable π_u, and the label-equivariant
 * update needs no random relabelling first), the untruncated draw leaves π_u invariant, and
 * sorting maps π_u back to π_o. Components can then cross one another, which the truncated
 * update only does through the gaps (Frühwirth-Schnatter 2001's permutation argument).
 *
 * When w has a Dirichlet(alpha) prior whose only latent is z (drawn exactly right after
 * this update, conjugate-gibbs.ts), the update first redraws z itself, one element at a
 * time from p(z_n | z_-n, sigma, y) with w integrated out (weight n_k + alpha_k) and, for an
 * unordered or 'sort' mu, mu too (predictive N(m_k, sigma_k² + v_k) from the other
 * elements' statistics): a partially collapsed Gibbs sampler (van Dyk and Park 2008) whose
 * marginalised w and mu are drawn from their conditionals before anything conditions on
 * them; the sampler's own latent draw is then skipped. This is what lets the chains leave
 * the broad-component mode of the galaxy mixture within a few sweeps.
 *
 * With a half-normal prior on sigma, each log sigma_k then gets one univariate slice update
 * (stepping out, shrinkage; Neal 2003) on its conditional given z and mu, from the
 * component's sufficient statistics only: log p(u) = −e^{2u}/(2s²) − (n_k − 1) u −
 * SS_k e^{−2u}/2 with SS_k = Σ_{z=k} (y − mu_k)². The width depends on n_k only (not on the
 * current value), so the update leaves the conditional invariant. Other scale priors
 * leave sigma to the generic slice updates.
 */
import { tf } from '../../tensor';
import type { Rng } from '../../tensor/random';
import type { BoundModel } from '../../model/bound-model';
import { evalWith } from '../../model/evaluate';
import { mentions } from '../../ir/walk';
import type { IRExpr, Factor as IRFactor } from '../../ir/types';
import type { GibbsTarget } from './gibbs';

/** TEST ONLY: deliberately wrong updates, so tests can show that their checks catch one. */
export type NormalConjugateTestBias =
  /** Use the prior variance s0² in place of the posterior variance v_k. */
  | 'wrong-variance'
  /** Draw an ordered mu from the untruncated normals and sort it, relabelling nothing (ignores the truncation). */
  | 'ignore-truncation';

/** How an ordered mu is updated: see the module comment. */
export type OrderedUpdate = 'sort' | 'truncated';

/** One normal mixture block found in the IR. */
export interface NormalMixtureBlock {
  latent: string;
  K: number;
  /** Observed values, one per latent element (float64). */
  y: Float64Array;
  mu: { name: string; offset: number; ordered: boolean; m0: Float64Array; s0: Float64Array };
  sigma: { name: string; offset: number; halfNormalScale: Float64Array | null; iid: boolean };
  /** The weight parameter of `z ~ categorical(w)`. */
  w: string;
  /** True when the posterior is exchangeable in the labels apart from mu's order (see the module comment; w's symmetry is checked by the caller). */
  exchangeable: boolean;
}

const isIndexOfLatent = (e: IRExpr | undefined, param: string, latent: string, plate: string): boolean =>
  e?.op === 'index' && e.target.op === 'param' && e.target.name === param && e.indices.length === 1
  && e.indices[0].op === 'latent' && e.indices[0].name === latent && e.indices[0].index.length === 1
  && 'plate' in e.indices[0].index[0] && e.indices[0].index[0].plate === plate && e.indices[0].index[0].shift === 0;

function factorMentions(f: IRFactor, pred: (x: IRExpr) => boolean): boolean {
  const exprs: IRExpr[] = [];
  if (f.value) exprs.push(f.value);
  if (f.term) exprs.push(f.term);
  if (f.dist) {
    if (f.dist.kind === 'family') exprs.push(...f.dist.args);
    else exprs.push(...f.dist.base.args, f.dist.lower, f.dist.upper);
  }
  return exprs.some((e) => mentions(e, pred));
}

/** Evaluates a parameter-free expression to float64 values; null if it mentions parameters or latents. */
function constValues(bound: BoundModel, e: IRExpr): Float64Array | null {
  if (mentions(e, (x) => x.op === 'param' || x.op === 'latent' || x.op === 'loop' || x.op === 'let')) return null;
  return Float64Array.from(tf.tidy(() => evalWith(bound.rt, new Map(), e).t.dataSync()));
}

/** Per-component values of a constant argument: a scalar broadcast, or exactly K values. */
function perComponent(v: Float64Array | null, K: number): Float64Array | null {
  if (!v) return null;
  if (v.length === 1) return new Float64Array(K).fill(v[0]);
  return v.length === K ? v : null;
}

/** What both block finders match first: the latent's categorical and its normal observation of data indexed by the latent's plate. */
interface MixtureObservation {
  K: number;
  obs: IRFactor;
  w: string;
  muName: string;
  sdName: string;
  /** The observed data tensor and the plate's range over its rows. */
  data: NonNullable<ReturnType<BoundModel['rt']['data']['get']>>;
  range: NonNullable<ReturnType<BoundModel['rt']['plates']['get']>>;
}

/**
 * Matches, for latent `lat`, a latent z (one plate, K values, not a chain) whose only factors
 * are `z[n] ~ categorical(w)` and `data[n] ~ normal(mu[z[n]], sigma[z[n]])` (three different
 * parameters), the data indexed by z's plate; null otherwise.
 */
function matchMixtureObservation(bound: BoundModel, lat: BoundModel['ir']['latents'][number]): MixtureObservation | null {
  const ir = bound.ir;
  if (lat.chain || lat.plates.length !== 1) return null;
  const info = bound.rt.latents.get(lat.name);
  if (!info) return null;
  const plate = lat.plates[0];
  const touching = ir.factors.filter((f) => f.latents.includes(lat.name));
  if (touching.length !== 2) return null;
  const cat = touching.find((f) => f.kind === 'latent');
  const obs = touching.find((f) => f.kind === 'obs');
  if (!cat || !obs || cat.dist?.kind !== 'family' || cat.dist.family !== 'categorical' || cat.value?.op !== 'latent') return null;
  const wArg = cat.dist.args[0];
  if (wArg?.op !== 'param' || cat.dist.args.length !== 1 || cat.latents.length !== 1) return null;
  if (obs.latents.length !== 1 || obs.plates.length !== 1 || obs.plates[0] !== plate) return null;
  if (obs.dist?.kind !== 'family' || obs.dist.family !== 'normal' || obs.dist.args.length !== 2) return null;
  const [muE, sdE] = obs.dist.args;
  if (muE.op !== 'index' || muE.target.op !== 'param' || sdE.op !== 'index' || sdE.target.op !== 'param') return null;
  const muName = muE.target.name;
  const sdName = sdE.target.name;
  if (muName === sdName || muName === wArg.name || sdName === wArg.name) return null;
  if (!isIndexOfLatent(muE, muName, lat.name, plate) || !isIndexOfLatent(sdE, sdName, lat.name, plate)) return null;
  const v = obs.value;
  if (v?.op !== 'index' || v.target.op !== 'data' || v.indices.length !== 1 || v.indices[0].op !== 'loop' || v.indices[0].plate !== plate) return null;
  const data = bound.rt.data.get(v.target.name);
  const range = bound.rt.plates.get(plate);
  if (!data || !range || range.lo < 1 || range.hi > data.shape[0]) return null;
  return { K: info.K, obs, w: wArg.name, muName, sdName, data, range };
}

/**
 * The priors of mu and sigma when nothing but their prior and the observation mentions mu,
 * sigma or the latent (no `let` either) and each prior is a plain `param ~ family(...)`
 * statement; null otherwise.
 */
function exclusivePriors(bound: BoundModel, m: MixtureObservation, latent: string): { muPrior: IRFactor; sdPrior: IRFactor } | null {
  const ir = bound.ir;
  const isP = (name: string) => (x: IRExpr) => x.op === 'param' && x.name === name;
  const isL = (x: IRExpr) => x.op === 'latent' && x.name === latent;
  if (ir.lets.some((l) => mentions(l.expr, (x) => isP(m.muName)(x) || isP(m.sdName)(x) || isL(x)))) return null;
  const muF = ir.factors.filter((f) => factorMentions(f, isP(m.muName)));
  const sdF = ir.factors.filter((f) => factorMentions(f, isP(m.sdName)));
  const latF = ir.factors.filter((f) => factorMentions(f, isL));
  if (muF.length !== 2 || sdF.length !== 2 || latF.length !== 2 || !muF.includes(m.obs) || !sdF.includes(m.obs)) return null;
  const muPrior = muF.find((f) => f !== m.obs)!;
  const sdPrior = sdF.find((f) => f !== m.obs)!;
  const isPrior = (f: IRFactor, name: string) => f.kind === 'prior' && f.plates.length === 0 && f.value?.op === 'param' && f.value.name === name && f.dist?.kind === 'family';
  if (!isPrior(muPrior, m.muName) || !isPrior(sdPrior, m.sdName)) return null;
  return { muPrior, sdPrior };
}

/** Finds the normal mixture blocks of a bound model (see the module comment). */
export function findNormalMixtureBlocks(bound: BoundModel): NormalMixtureBlock[] {
  const out: NormalMixtureBlock[] = [];
  for (const lat of bound.ir.latents) {
    const m = matchMixtureObservation(bound, lat);
    if (!m || m.data.rank !== 1) continue;
    const { K, muName, sdName, data, range } = m;
    // The observed values: data y[n] over the plate.
    const all = data.dataSync();
    const y = Float64Array.from({ length: range.size }, (_, i) => all[range.lo - 1 + i]);
    // mu and sigma: length-K vectors, factors = their prior and the observation only.
    const muP = bound.params.find((p) => p.name === muName);
    const sdP = bound.params.find((p) => p.name === sdName);
    if (!muP || !sdP || muP.shape.length !== 1 || muP.shape[0] !== K || sdP.shape.length !== 1 || sdP.shape[0] !== K) continue;
    if (muP.constraint.name !== 'real' && muP.constraint.name !== 'ordered') continue;
    if (sdP.constraint.name !== 'positive') continue;
    const pr = exclusivePriors(bound, m, lat.name);
    if (!pr) continue;
    const { muPrior, sdPrior } = pr;
    if (muPrior.dist?.kind !== 'family' || muPrior.dist.family !== 'normal' || muPrior.dist.args.length !== 2) continue;
    const m0 = perComponent(constValues(bound, muPrior.dist.args[0]), K);
    const s0 = perComponent(constValues(bound, muPrior.dist.args[1]), K);
    if (!m0 || !s0 || s0.some((s) => !(s > 0) || s === Infinity) || m0.some((m) => !Number.isFinite(m))) continue;
    if (sdPrior.dist?.kind !== 'family') continue;
    const sdArgs = sdPrior.dist.args.map((a) => perComponent(constValues(bound, a), K));
    if (sdArgs.some((a) => !a)) continue;
    const allEqual = (a: Float64Array) => a.every((x) => x === a[0]);
    const sdIid = sdArgs.every((a) => allEqual(a!));
    let hn: Float64Array | null = null;
    if (sdPrior.dist.family === 'half_normal' && sdArgs.length === 1 && sdArgs[0]!.every((s) => s > 0 && s < Infinity)) hn = sdArgs[0];
    out.push({
      latent: lat.name, K, y,
      mu: { name: muName, offset: muP.offset, ordered: muP.constraint.name === 'ordered', m0, s0 },
      sigma: { name: sdName, offset: sdP.offset, halfNormalScale: hn, iid: sdIid },
      w: m.w,
      exchangeable: allEqual(m0) && allEqual(s0) && sdIid,
    });
  }
  return out;
}

/**
 * A draw from N(m, s²) truncated to (lo, hi) (lo < hi, either may be infinite), exact by
 * rejection on the standardised interval (a, b): the normal itself when it covers 0 and is
 * wide; a uniform proposal accepted with probability exp((c² − x²)/2) (c the point of the
 * interval nearest 0) when it is narrow; Robert's (1995) translated-exponential proposal in
 * a tail. Every branch accepts with probability above about 0.3. RangeError for an empty or
 * NaN interval or a non-positive s.
 */
export function truncatedNormal(rng: Rng, m: number, s: number, lo: number, hi: number): number {
  if (!(s > 0) || !Number.isFinite(s) || !Number.isFinite(m)) throw new RangeError(`truncatedNormal: need finite m and s > 0, got m = ${m}, s = ${s}`);
  if (!(lo < hi)) throw new RangeError(`truncatedNormal: need lo < hi, got (${lo}, ${hi})`);
  let a = (lo - m) / s;
  let b = (hi - m) / s;
  let flip = 1;
  if (b <= 0) {
    // Left side: mirror onto the right.
    flip = -1;
    [a, b] = [-b, -a];
  }
  let x: number;
  if (a <= 0) {
    if (b - a >= 2.5) {
      do x = rng.normal(); while (!(x > a && x < b));
    } else {
      for (;;) {
        x = a + (b - a) * rng.uniform();
        if (rng.uniform() <= Math.exp(-0.5 * x * x)) break;
      }
    }
  } else if ((b - a) * (b + a) <= 2) {
    for (;;) {
      x = a + (b - a) * rng.uniform();
      if (rng.uniform() <= Math.exp(0.5 * (a - x) * (a + x))) break;
    }
  } else {
    const lambda = 0.5 * (a + Math.sqrt(a * a + 4));
    for (;;) {
      x = a + rng.exponential() / lambda;
      if (x >= b) continue;
      const d = x - lambda;
      if (rng.uniform() <= Math.exp(-0.5 * d * d)) break;
    }
  }
  const v = m + s * flip * x;
  // Rounding can land on an end; the open interval is the support.
  return v <= lo ? lo + (hi - lo) * Number.EPSILON : v >= hi ? hi - (hi - lo) * Number.EPSILON : v;
}

/** A per-chain update of one normal mixture block: see {@link normalMixtureUpdate}. */
export interface NormalMixtureUpdate {
  /** Unconstrained coordinates it sets (mu's, and sigma's when its prior is half-normal). */
  readonly coords: number[];
  /** Updates mu (and sigma) given the chain's current latents; may relabel z and sigma ('sort'). */
  draw(q: Float64Array, rng: Rng): void;
  /** True when `draw` first redraws the block's latent z itself (collapsed; see {@link normalMixtureUpdate}). */
  readonly drawsLatent: boolean;
}

/**
 * The update of `block` for one chain whose latents live in `gibbs.z`. `ordered` picks the
 * update of an ordered mu: 'sort' (needs `block.exchangeable` and a caller that redraws w
 * from its exact conditional right after) or 'truncated'. `alpha` (w's Dirichlet
 * concentration, when w is drawn right after) turns on the collapsed latent draw. `sweeps`
 * repeats the whole update (latents, sigma, mu) that many times per call: each repetition
 * leaves the target invariant, w staying integrated out until the caller draws it.
 */
export function normalMixtureUpdate(block: NormalMixtureBlock, gibbs: GibbsTarget, ordered: OrderedUpdate, alpha: Float64Array | null = null, _bias?: NormalConjugateTestBias, sweeps = 1): NormalMixtureUpdate {
  if (!Number.isInteger(sweeps) || sweeps < 1) throw new RangeError(`normalMixtureUpdate: sweeps must be an integer >= 1, got ${sweeps}`);
  if (_bias !== undefined && _bias !== 'wrong-variance' && _bias !== 'ignore-truncation') throw new RangeError(`normalMixtureUpdate: unknown _bias ${String(_bias)}`);
  if (ordered !== 'sort' && ordered !== 'truncated') throw new RangeError(`normalMixtureUpdate: ordered must be 'sort' or 'truncated', got ${String(ordered)}`);
  if (ordered === 'sort' && block.mu.ordered && !block.exchangeable) throw new RangeError('normalMixtureUpdate: the sort update needs a label-exchangeable block');
  const { K, y } = block;
  let zStart = -1;
  let zOffset = 1;
  let acc = 0;
  for (const l of gibbs.latents) {
    if (l.name === block.latent) {
      if (l.elements !== y.length || l.K !== K) throw new RangeError(`normalMixtureUpdate: latent '${l.name}' has ${l.elements} elements of ${l.K} values, the block ${y.length} of ${K}`);
      zStart = acc;
      zOffset = l.offset;
    }
    acc += l.elements;
  }
  if (zStart < 0) throw new RangeError(`normalMixtureUpdate: latent '${block.latent}' is not drawn by the Gibbs target`);
  const N = y.length;
  const muOff = block.mu.offset;
  const sdOff = block.sigma.offset;
  const hn = block.sigma.halfNormalScale;
  const coords = Array.from({ length: K }, (_, k) => muOff + k);
  if (hn) for (let k = 0; k < K; k++) coords.push(sdOff + k);
  const n = new Float64Array(K);
  const S = new Float64Array(K);
  const SS = new Float64Array(K);
  const mu = new Float64Array(K);
  const sd = new Float64Array(K);
  const order = Array.from({ length: K }, (_, k) => k);
  const relabel = new Int32Array(K);
  const tmp = new Float64Array(K);
  const sortMode = block.mu.ordered && ordered === 'sort';
  if (alpha && (alpha.length !== K || alpha.some((a) => !(a > 0) || a === Infinity))) throw new RangeError(`normalMixtureUpdate: alpha must hold ${K} positive finite values`);
  // Collapsed latent draw: w integrated out (Dirichlet–multinomial), and mu too when its
  // prior as the update sees it is the iid/independent normal (unordered, or 'sort').
  const collapseMu = !block.mu.ordered || sortMode;
  const logw = new Float64Array(K);

  // Per component, the predictive N(cm_k, 1/cp_k) of one more point and the log weight
  // constant cc_k = log(n_k + alpha_k) − ½ log(1/cp_k); refreshed when n_k or S_k change.
  const cm = new Float64Array(K);
  const cp = new Float64Array(K);
  const cc = new Float64Array(K);
  const refresh = (k: number): void => {
    const s2 = sd[k] * sd[k];
    let pv = s2;
    if (collapseMu) {
      const p0 = 1 / (block.mu.s0[k] * block.mu.s0[k]);
      const v = 1 / (p0 + n[k] / s2);
      cm[k] = v * (block.mu.m0[k] * p0 + S[k] / s2);
      pv = s2 + v;
    } else cm[k] = mu[k];
    cp[k] = 1 / pv;
    cc[k] = Math.log(n[k] + alpha![k]) - 0.5 * Math.log(pv);
  };

  const drawLatent = (q: Float64Array, rng: Rng): void => {
    const z = gibbs.z;
    for (let k = 0; k < K; k++) sd[k] = Math.exp(q[sdOff + k]);
    if (!collapseMu) {
      if (block.mu.ordered) {
        mu[0] = q[muOff];
        for (let k = 1; k < K; k++) mu[k] = mu[k - 1] + Math.exp(q[muOff + k]);
      } else for (let k = 0; k < K; k++) mu[k] = q[muOff + k];
    }
    for (let k = 0; k < K; k++) refresh(k);
    for (let i = 0; i < N; i++) {
      const yi = y[i];
      const old = z[zStart + i] - zOffset;
      n[old]--;
      S[old] -= yi;
      refresh(old);
      let mx = -Infinity;
      for (let k = 0; k < K; k++) {
        const d = yi - cm[k];
        const l = cc[k] - 0.5 * d * d * cp[k];
        logw[k] = l;
        if (l > mx) mx = l;
      }
      const pick = drawFromLogWeights(logw, K, mx, rng, old);
      z[zStart + i] = zOffset + pick;
      n[pick]++;
      S[pick] += yi;
      refresh(pick);
    }
  };

  const sliceSigma = (k: number, rng: Rng, q: Float64Array, marginal: boolean): void => {
    q[sdOff + k] = sliceLogSigma(rng, q[sdOff + k], n[k], SS[k], hn![k], marginal && n[k] > 0 ? { s0: block.mu.s0[k], dev: S[k] / n[k] - block.mu.m0[k] } : null);
  };

  return {
    coords,
    drawsLatent: alpha !== null,
    draw(q: Float64Array, rng: Rng): void {
      for (let r = 0; r < sweeps; r++) drawOnce(q, rng);
    },
  };
  function drawOnce(q: Float64Array, rng: Rng): void {
    {
      const z = gibbs.z;
      n.fill(0);
      S.fill(0);
      for (let i = 0; i < N; i++) {
        const k = z[zStart + i] - zOffset;
        if (!(k >= 0 && k < K)) throw new RangeError(`normalMixtureUpdate: latent value ${z[zStart + i]} outside ${zOffset}..${zOffset + K - 1}`);
        n[k]++;
        S[k] += y[i];
      }
      if (alpha) drawLatent(q, rng);
      // Where mu's prior is the independent normal (unordered, or 'sort'): sigma first from
      // its conditional given z alone (mu integrated out), then mu given z and sigma: a joint
      // update of (sigma, mu) given z.
      const sigmaFirst = !!hn && collapseMu;
      if (sigmaFirst) {
        SS.fill(0);
        for (let i = 0; i < N; i++) {
          const k = z[zStart + i] - zOffset;
          const d = y[i] - S[k] / n[k];
          SS[k] += d * d;
        }
        for (let k = 0; k < K; k++) sliceSigma(k, rng, q, true);
      }
      for (let k = 0; k < K; k++) sd[k] = Math.exp(q[sdOff + k]);
      if (block.mu.ordered) {
        mu[0] = q[muOff];
        for (let k = 1; k < K; k++) mu[k] = mu[k - 1] + Math.exp(q[muOff + k]);
      } else for (let k = 0; k < K; k++) mu[k] = q[muOff + k];
      const post = (k: number): [number, number] => {
        const p0 = 1 / (block.mu.s0[k] * block.mu.s0[k]);
        const pl = n[k] / (sd[k] * sd[k]);
        const v = 1 / (p0 + pl);
        const m = v * (block.mu.m0[k] * p0 + S[k] / (sd[k] * sd[k]));
        return [m, _bias === 'wrong-variance' ? block.mu.s0[k] : Math.sqrt(v)];
      };
      if (!block.mu.ordered || sortMode || _bias === 'ignore-truncation') {
        for (let k = 0; k < K; k++) {
          const [m, s] = post(k);
          mu[k] = m + s * rng.normal();
        }
        if (block.mu.ordered) {
          for (let k = 0; k < K; k++) order[k] = k;
          order.sort((i, j) => mu[i] - mu[j]);
          for (let k = 0; k < K; k++) tmp[k] = mu[order[k]];
          mu.set(tmp);
          if (sortMode) {
            // Relabel: new label k is old component order[k].
            for (let k = 0; k < K; k++) relabel[order[k]] = k;
            for (let k = 0; k < K; k++) tmp[k] = q[sdOff + order[k]];
            for (let k = 0; k < K; k++) {
              q[sdOff + k] = tmp[k];
              sd[k] = Math.exp(tmp[k]);
            }
            for (let i = 0; i < N; i++) z[zStart + i] = zOffset + relabel[z[zStart + i] - zOffset];
            const t2 = Float64Array.from(n);
            const t3 = Float64Array.from(S);
            for (let k = 0; k < K; k++) {
              n[k] = t2[order[k]];
              S[k] = t3[order[k]];
            }
          }
        }
      } else {
        for (let k = 0; k < K; k++) {
          const [m, s] = post(k);
          const lo = k === 0 ? -Infinity : mu[k - 1];
          const hi = k === K - 1 ? Infinity : mu[k + 1];
          mu[k] = truncatedNormal(rng, m, s, lo, hi);
        }
      }
      if (block.mu.ordered) {
        // Back to the ordered transform's coordinates; a tie in float64 (probability ~0) keeps the old vector.
        let ok = true;
        for (let k = 1; k < K; k++) if (!(mu[k] > mu[k - 1])) ok = false;
        if (ok) {
          q[muOff] = mu[0];
          for (let k = 1; k < K; k++) q[muOff + k] = Math.log(mu[k] - mu[k - 1]);
        } else {
          mu[0] = q[muOff];
          for (let k = 1; k < K; k++) mu[k] = mu[k - 1] + Math.exp(q[muOff + k]);
        }
      } else for (let k = 0; k < K; k++) q[muOff + k] = mu[k];
      if (hn && !sigmaFirst) {
        SS.fill(0);
        for (let i = 0; i < N; i++) {
          const k = z[zStart + i] - zOffset;
          const d = y[i] - mu[k];
          SS[k] += d * d;
        }
        for (let k = 0; k < K; k++) sliceSigma(k, rng, q, false);
      }
    }
  }
}

/**
 * One slice update (stepping out, shrinkage; Neal 2003) of u = log σ of a normal component
 * with a HalfNormal(hs) prior, from its sufficient statistics: given mu (`marginal` null;
 * ss = Σ (y − mu)² over its n points), g(u) = −e^{2u}/(2 hs²) − (n − 1) u − ss e^{−2u}/2; or
 * with mu ~ N(m0, s0²) integrated out (`marginal` = { s0, dev: ȳ − m0 }, n > 0;
 * ss = Σ (y − ȳ)²): Σ (y − mu)² = ss + n (ȳ − mu)², and integrating mu leaves
 * σ^{1−n} e^{−ss/(2σ²)} N(ȳ; m0, s0² + σ²/n), so with the Jacobian e^u
 * g(u) = −e^{2u}/(2 hs²) − (n − 2) u − ss e^{−2u}/2 − ½ log(s0² + e^{2u}/n) − dev²/(2 (s0² + e^{2u}/n)).
 * Both include the Jacobian of u = log σ. The width depends on n only (not on the current
 * value), so the update leaves the conditional invariant. Returns the new u.
 */
export function sliceLogSigma(rng: Rng, u0: number, nk: number, ss: number, hs: number, marginal: { s0: number; dev: number } | null): number {
  const s2 = hs * hs;
  const m = marginal !== null;
  const s02 = m ? marginal.s0 * marginal.s0 : 0;
  const dev = m ? marginal.dev : 0;
  const logY = logSigmaDensity(u0, m, nk, ss, s2, s02, dev) - rng.exponential();
  const w = 2.5 / Math.sqrt(2 * nk + 2);
  let left = u0 - w * rng.uniform();
  let right = left + w;
  let a = Math.floor(10 * rng.uniform());
  let b = 9 - a;
  for (; a > 0 && logSigmaDensity(left, m, nk, ss, s2, s02, dev) > logY; a--) left -= w;
  for (; b > 0 && logSigmaDensity(right, m, nk, ss, s2, s02, dev) > logY; b--) right += w;
  for (;;) {
    const u1 = left + rng.uniform() * (right - left);
    if (logSigmaDensity(u1, m, nk, ss, s2, s02, dev) > logY) return u1;
    if (u1 < u0) left = u1;
    else right = u1;
    if (right - left < 1e-14 * w) return u0;
  }
}

/** g(u) of {@link sliceLogSigma} (a plain function: no closure per update). */
function logSigmaDensity(u: number, marginal: boolean, nk: number, ss: number, s2: number, s02: number, dev: number): number {
  if (marginal) {
    const e = Math.exp(2 * u);
    const pv = s02 + e / nk;
    return -e / (2 * s2) - (nk - 2) * u - (0.5 * ss) / e - 0.5 * Math.log(pv) - (0.5 * dev * dev) / pv;
  }
  return -Math.exp(2 * u) / (2 * s2) - (nk - 1) * u - 0.5 * ss * Math.exp(-2 * u);
}

/**
 * One diagonal D-dimensional normal mixture block found in the IR
 * ({@link findDiagNormalMixtureBlocks}): `x[n] ~ normal(mu[z[n]], sigma[z[n]])` with x data
 * [N, D] and mu, sigma parameters [K, D] (row k the component's D locations and scales).
 */
export interface DiagNormalMixtureBlock {
  latent: string;
  K: number;
  D: number;
  /** Observed rows, row-major [N, D] (float64). */
  x: Float64Array;
  /** mu's prior arguments per element, row-major [K, D]; mu is `real[K, D]` (never ordered). */
  mu: { name: string; offset: number; m0: Float64Array; s0: Float64Array };
  /** sigma's half-normal prior scale per element, row-major [K, D]. */
  sigma: { name: string; offset: number; halfNormalScale: Float64Array };
  /** The weight parameter of `z ~ categorical(w)`. */
  w: string;
}

/**
 * Finds the diagonal D-dimensional normal mixture blocks of a bound model: the
 * structure of {@link findNormalMixtureBlocks} with a row observation — a latent z (one
 * plate, K values, not a chain) whose only factors are `z[n] ~ categorical(w)` and
 * `x[n] ~ normal(mu[z[n]], sigma[z[n]])` with x data of shape [N, D]; mu `real[K, D]` and
 * sigma `positive[K, D]` parameters whose only other factors are `mu ~ normal(m0, s0)` and
 * `sigma ~ half_normal(s)`, prior arguments parameter-free constants (a scalar, or one value
 * per element); nothing else (no `let`, no `target +=`) mentions mu, sigma or z. Other scale
 * priors are not recognised (the block's collapsed latent draw needs sigma drawn with it).
 * The 1-D form (y data [N], mu and sigma [K]) stays with {@link findNormalMixtureBlocks}.
 */
export function findDiagNormalMixtureBlocks(bound: BoundModel): DiagNormalMixtureBlock[] {
  const out: DiagNormalMixtureBlock[] = [];
  for (const lat of bound.ir.latents) {
    // The observed rows: data x[n] over the plate, x of shape [rows, D].
    const m = matchMixtureObservation(bound, lat);
    if (!m || m.data.rank !== 2) continue;
    const { K, muName, sdName, data, range } = m;
    const D = data.shape[1] ?? 0;
    if (!(D >= 1)) continue;
    const muP = bound.params.find((p) => p.name === muName);
    const sdP = bound.params.find((p) => p.name === sdName);
    const isKD = (sh: readonly number[]) => sh.length === 2 && sh[0] === K && sh[1] === D;
    if (!muP || !sdP || !isKD(muP.shape) || !isKD(sdP.shape) || muP.constraint.name !== 'real' || sdP.constraint.name !== 'positive') continue;
    const all = data.dataSync();
    const x = Float64Array.from({ length: range.size * D }, (_, i) => all[(range.lo - 1) * D + i]);
    const pr = exclusivePriors(bound, m, lat.name);
    if (!pr) continue;
    const { muPrior, sdPrior } = pr;
    if (muPrior.dist?.kind !== 'family' || muPrior.dist.family !== 'normal' || muPrior.dist.args.length !== 2) continue;
    if (sdPrior.dist?.kind !== 'family' || sdPrior.dist.family !== 'half_normal' || sdPrior.dist.args.length !== 1) continue;
    // A scalar broadcast, or one value per element of the [K, D] parameter.
    const perElement = (e: IRExpr): Float64Array | null => {
      const c = constValues(bound, e);
      if (!c) return null;
      if (c.length === 1) return new Float64Array(K * D).fill(c[0]);
      return c.length === K * D ? c : null;
    };
    const m0 = perElement(muPrior.dist.args[0]);
    const s0 = perElement(muPrior.dist.args[1]);
    const hs = perElement(sdPrior.dist.args[0]);
    if (!m0 || !s0 || !hs || m0.some((m) => !Number.isFinite(m)) || s0.some((s) => !(s > 0) || s === Infinity) || hs.some((s) => !(s > 0) || s === Infinity)) continue;
    out.push({
      latent: lat.name, K, D, x,
      mu: { name: muName, offset: muP.offset, m0, s0 },
      sigma: { name: sdName, offset: sdP.offset, halfNormalScale: hs },
      w: m.w,
    });
  }
  return out;
}

/**
 * The update of a diagonal D-dimensional block ({@link findDiagNormalMixtureBlocks}) for one
 * chain whose latents live in `gibbs.z`. Given z the model factorises over the dimensions d
 * (mu[k, d], sigma[k, d] have independent priors and the observation density is a product
 * over d), so each (k, d) is the 1-D problem of {@link normalMixtureUpdate} with the
 * statistics n_k, S_kd = Σ_{z=k} x_d, SS_kd = Σ_{z=k} (x_d − S_kd/n_k)²:
 * - with `alpha` (w's Dirichlet concentration, w drawn exactly right after): z first, one
 *   element at a time from p(z_n | z_-n, sigma, x) with w and mu integrated out, weight
 *   (n_k + alpha_k) Π_d N(x_nd; m_kd, sigma_kd² + v_kd) (m_kd, v_kd: mu[k, d]'s conditional
 *   from the other rows); without it the sampler's own latent draw supplies z;
 * - each log sigma[k, d] by {@link sliceLogSigma} with mu[k, d] integrated out;
 * - each mu[k, d] exactly from N(m_kd, v_kd) given sigma.
 * mu is unordered, so nothing is sorted or relabelled. `sweeps` repeats the whole update
 * (only with `alpha`: w stays integrated out between repetitions). Parameters [K, D] are
 * row-major in the unconstrained vector (element (k, d) at offset + k·D + d), sigma's
 * coordinates are log sigma.
 */
export function diagNormalMixtureUpdate(block: DiagNormalMixtureBlock, gibbs: GibbsTarget, alpha: Float64Array | null = null, sweeps = 1): NormalMixtureUpdate {
  if (!Number.isInteger(sweeps) || sweeps < 1) throw new RangeError(`diagNormalMixtureUpdate: sweeps must be an integer >= 1, got ${sweeps}`);
  const { K, D, x } = block;
  const N = x.length / D;
  if (alpha && (alpha.length !== K || alpha.some((a) => !(a > 0) || a === Infinity))) throw new RangeError(`diagNormalMixtureUpdate: alpha must hold ${K} positive finite values`);
  let zStart = -1;
  let zOffset = 1;
  let acc = 0;
  for (const l of gibbs.latents) {
    if (l.name === block.latent) {
      if (l.elements !== N || l.K !== K) throw new RangeError(`diagNormalMixtureUpdate: latent '${l.name}' has ${l.elements} elements of ${l.K} values, the block ${N} of ${K}`);
      zStart = acc;
      zOffset = l.offset;
    }
    acc += l.elements;
  }
  if (zStart < 0) throw new RangeError(`diagNormalMixtureUpdate: latent '${block.latent}' is not drawn by the Gibbs target`);
  const KD = K * D;
  const muOff = block.mu.offset;
  const sdOff = block.sigma.offset;
  const { m0, s0 } = block.mu;
  const hs = block.sigma.halfNormalScale;
  const coords: number[] = [];
  for (let j = 0; j < KD; j++) coords.push(muOff + j);
  for (let j = 0; j < KD; j++) coords.push(sdOff + j);
  const p0 = Float64Array.from(s0, (s) => 1 / (s * s));
  const n = new Float64Array(K);
  const S = new Float64Array(KD);
  const SS = new Float64Array(KD);
  const s2 = new Float64Array(KD);
  // Predictive of one more row per (k, d): N(cm, 1/cp); cc_k = log(n_k + alpha_k) − ½ Σ_d log(1/cp_kd).
  const cm = new Float64Array(KD);
  const cp = new Float64Array(KD);
  const cc = new Float64Array(K);
  const logw = new Float64Array(K);
  // The moved row's old component's state before the row left it (restored when it returns).
  const keepS = new Float64Array(D);
  const keepM = new Float64Array(D);
  const keepP = new Float64Array(D);
  const refresh = (k: number): void => {
    let c = Math.log(n[k] + alpha![k]);
    for (let j = k * D, e = j + D; j < e; j++) {
      const v = 1 / (p0[j] + n[k] / s2[j]);
      cm[j] = v * (m0[j] * p0[j] + S[j] / s2[j]);
      const pv = s2[j] + v;
      cp[j] = 1 / pv;
      c -= 0.5 * Math.log(pv);
    }
    cc[k] = c;
  };
  const drawLatent = (q: Float64Array, rng: Rng): void => {
    const z = gibbs.z;
    for (let j = 0; j < KD; j++) s2[j] = Math.exp(2 * q[sdOff + j]);
    for (let k = 0; k < K; k++) refresh(k);
    for (let i = 0; i < N; i++) {
      const row = i * D;
      const old = z[zStart + i] - zOffset;
      const oc = cc[old];
      for (let d = 0, j = old * D; d < D; d++, j++) {
        keepS[d] = S[j];
        keepM[d] = cm[j];
        keepP[d] = cp[j];
        S[j] -= x[row + d];
      }
      n[old]--;
      refresh(old);
      let mx = -Infinity;
      for (let k = 0; k < K; k++) {
        let l = cc[k];
        for (let d = 0, j = k * D; d < D; d++, j++) {
          const r = x[row + d] - cm[j];
          l -= 0.5 * r * r * cp[j];
        }
        logw[k] = l;
        if (l > mx) mx = l;
      }
      const pick = drawFromLogWeights(logw, K, mx, rng, old);
      z[zStart + i] = zOffset + pick;
      n[pick]++;
      if (pick === old) {
        // Back where it was: the saved state (exactly, no rounding drift in S).
        for (let d = 0, j = old * D; d < D; d++, j++) {
          S[j] = keepS[d];
          cm[j] = keepM[d];
          cp[j] = keepP[d];
        }
        cc[old] = oc;
      } else {
        for (let d = 0; d < D; d++) S[pick * D + d] += x[row + d];
        refresh(pick);
      }
    }
  };
  const drawOnce = (q: Float64Array, rng: Rng): void => {
    const z = gibbs.z;
    n.fill(0);
    S.fill(0);
    for (let i = 0; i < N; i++) {
      const k = z[zStart + i] - zOffset;
      if (!(k >= 0 && k < K)) throw new RangeError(`diagNormalMixtureUpdate: latent value ${z[zStart + i]} outside ${zOffset}..${zOffset + K - 1}`);
      n[k]++;
      for (let d = 0; d < D; d++) S[k * D + d] += x[i * D + d];
    }
    if (alpha) drawLatent(q, rng);
    // sigma given z (mu integrated out), then mu given z and sigma: a joint draw of (sigma, mu) given z.
    SS.fill(0);
    for (let i = 0; i < N; i++) {
      const k = z[zStart + i] - zOffset;
      for (let d = 0, j = k * D; d < D; d++, j++) {
        const r = x[i * D + d] - S[j] / n[k];
        SS[j] += r * r;
      }
    }
    for (let k = 0; k < K; k++) {
      const nk = n[k];
      for (let j = k * D, e = j + D; j < e; j++) {
        q[sdOff + j] = sliceLogSigma(rng, q[sdOff + j], nk, SS[j], hs[j], nk > 0 ? { s0: s0[j], dev: S[j] / nk - m0[j] } : null);
        const sv = Math.exp(2 * q[sdOff + j]);
        const v = 1 / (p0[j] + nk / sv);
        const m = v * (m0[j] * p0[j] + S[j] / sv);
        q[muOff + j] = m + Math.sqrt(v) * rng.normal();
      }
    }
  };
  return {
    coords,
    drawsLatent: alpha !== null,
    draw(q: Float64Array, rng: Rng): void {
      for (let r = 0; r < sweeps; r++) drawOnce(q, rng);
    },
  };
}

/**
 * Draws an index in 0..K−1 with probability ∝ exp(logw[k]) (mx: their maximum), one
 * `rng.uniform()`; `fallback` when the weights do not normalise (all −∞ or NaN). Overwrites
 * logw with the unnormalised weights.
 */
function drawFromLogWeights(logw: Float64Array, K: number, mx: number, rng: Rng, fallback: number): number {
  let total = 0;
  for (let k = 0; k < K; k++) {
    logw[k] = Math.exp(logw[k] - mx);
    total += logw[k];
  }
  let t = rng.uniform() * total;
  let pick = K - 1;
  for (let k = 0; k < K; k++) {
    t -= logw[k];
    if (t <= 0) {
      pick = k;
      break;
    }
  }
  return !(total > 0) || !Number.isFinite(total) ? fallback : pick;
}
