/**
 * SMC for a Bayesian normal mixture by data annealing with exact Gibbs rejuvenation
 * (`smc(model, bound, { rejuvenation: { kernel: 'gibbs' } })`).
 *
 * Likelihood tempering, π_β(θ) ∝ p(θ) p(y|θ)^β, has no conjugate conditionals for a mixture:
 * p(y_n|θ)^β = (Σ_k w_k N(y_n|μ_k, σ_k))^β admits no latent-variable augmentation for β < 1.
 * Data annealing (Chopin 2002, "A sequential particle filter method for static models";
 * the IBIS sampler) moves through posteriors instead: π_t(θ) = p(θ | y_1..y_{n_t}) with
 * 0 = n_0 < n_1 < … < n_T = N rows, the rows taken in a seeded random order (the evidence does
 * not depend on the order of exchangeable rows; a sorted file would otherwise make every
 * stage a large step). Each stage's incremental weight is the particle's predictive density
 * of the new rows, Π_j Σ_k w_k N(y_j | μ_k, σ_k), and log Ẑ = Σ_t log Σ_i W_i Π_j (…) is
 * the usual unbiased evidence estimator. The number of rows a stage adds is the largest that
 * keeps the conditional ESS of its weights at `essThreshold` (at least one row).
 *
 * Every π_t is a posterior, so it can be rejuvenated with the exact Gibbs kernel of the
 * MCMC family (conjugate-normal.ts, conjugate-gibbs.ts) on the rows included: z_j drawn from
 * p(z_j | θ, y_j), σ by a slice update given z with μ integrated out, μ exactly (ordered μ by
 * 'sort' when the labels are exchangeable), then w ~ Dirichlet(α + counts); `sweeps` ≥ 1 adds
 * partially collapsed sweeps (z with w and μ integrated out, then σ and μ) before w. On the
 * galaxy mixture the plain kernel gave the same log-Z sd per particle as one collapsed sweep
 * at half the cost, so it is the default. Starting from θ ~ π_t, the fresh z makes
 * (θ, z) a draw from the joint posterior, each update leaves the joint invariant, and the
 * θ part of the result is again a draw from π_t: a kernel on θ alone, so z is not carried
 * from stage to stage.
 *
 * Recognised from the IR (never from a model's name): the model's parameters are exactly the
 * w, μ, σ of one normal mixture block (`findNormalMixtureBlocks`) with a half-normal prior on
 * σ, w has a Dirichlet prior whose only latent is the block's, and there are no other factors.
 * The row log densities are computed here in float64 and checked against the bound model's
 * own log likelihood on the prior draws before the run.
 */
import type { BoundModel } from '../../model/bound-model';
import type { Key, Rng } from '../../tensor/random';
import { findDirichletCategoricalBlocks, simplexUnconstrainFromLog } from '../mcmc/conjugate-gibbs';
import { findDiagNormalMixtureBlocks, findNormalMixtureBlocks, normalMixtureUpdate, sliceLogSigma, type NormalMixtureBlock, type OrderedUpdate } from '../mcmc/conjugate-normal';
import type { GibbsTarget } from '../mcmc/gibbs';
import { effectiveSize, resample, weightsFromLog, type ResampleScheme } from './resample';
import { logSumExp, relativeEss } from './tempering';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** What the Gibbs data-annealing sampler needs of a model: see the module comment. */
export interface GibbsSmcPlan {
  K: number;
  /** Dimensions of an observed row (1 for `y[n] ~ normal(mu[z[n]], sigma[z[n]])`). */
  D: number;
  /** Observed rows, row-major [N, D] (float64). */
  y: Float64Array;
  /** mu's unconstrained offset, whether it is `ordered[K]` (D = 1 only) and its prior per element [K, D]. */
  mu: { offset: number; ordered: boolean; m0: Float64Array; s0: Float64Array };
  /** sigma's unconstrained offset (log sigma, row-major [K, D]) and half-normal prior scale per element. */
  sigma: { offset: number; hs: Float64Array };
  /** w's Dirichlet concentration. */
  alpha: Float64Array;
  /** w's unconstrained coordinates: wOffset .. wOffset + K − 2. */
  wOffset: number;
  /** How an ordered μ is updated ('sort' where the labels are exchangeable). */
  ordered: OrderedUpdate;
  /** The 1-D block, for the generic kernel (collapsed sweeps, the truncated ordered update); null for D > 1. */
  block: NormalMixtureBlock | null;
}

/**
 * The plan for `bound`, or a sentence saying why the model does not qualify (for the error
 * message of `smc`): one 1-D normal mixture block (conjugate-normal.ts) or one diagonal
 * D-dimensional one, with a half-normal prior on sigma, w Dirichlet whose only latent is the
 * block's, and nothing else in the model.
 */
export function gibbsSmcPlan(bound: BoundModel): GibbsSmcPlan | string {
  const nbs = findNormalMixtureBlocks(bound);
  const dbs = findDiagNormalMixtureBlocks(bound);
  if (nbs.length + dbs.length !== 1) {
    return nbs.length + dbs.length === 0
      ? 'no normal mixture block (y[n] ~ normal(mu[z[n]], sigma[z[n]]) with z[n] ~ categorical(w), mu ~ normal(m0, s0), nothing else on mu, sigma, z; or its diagonal form with x[n] a row)'
      : `${nbs.length + dbs.length} normal mixture blocks; the Gibbs SMC sampler handles one`;
  }
  const nb = nbs[0];
  const db = dbs[0];
  const names = nb ? [nb.w, nb.mu.name, nb.sigma.name] : [db.w, db.mu.name, db.sigma.name];
  const latent = nb ? nb.latent : db.latent;
  if (nb && !nb.sigma.halfNormalScale) return `the prior of '${nb.sigma.name}' is not half_normal with constant scale`;
  const wb = findDirichletCategoricalBlocks(bound).find((b) => b.param === names[0]);
  if (!wb || wb.latents.length !== 1 || wb.latents[0] !== latent) return `'${names[0]}' has no Dirichlet prior whose only latent is '${latent}'`;
  const extra = bound.params.filter((p) => !names.includes(p.name)).map((p) => p.name);
  if (extra.length) return `parameter${extra.length === 1 ? '' : 's'} ${extra.map((n) => `'${n}'`).join(', ')} outside the mixture block`;
  if (bound.ir.latents.length !== 1) return 'latents other than the mixture indicator';
  // Priors of w, mu, sigma, the categorical and the observation: nothing else.
  if (bound.ir.factors.length !== 5) return `${bound.ir.factors.length - 5} factor(s) besides the mixture's priors, indicator and observation`;
  const symmetric = wb.alpha.every((a) => a === wb.alpha[0]);
  const common = { alpha: wb.alpha, wOffset: wb.offset };
  if (nb) {
    return {
      ...common, K: nb.K, D: 1, y: nb.y, block: nb,
      mu: { offset: nb.mu.offset, ordered: nb.mu.ordered, m0: nb.mu.m0, s0: nb.mu.s0 },
      sigma: { offset: nb.sigma.offset, hs: nb.sigma.halfNormalScale! },
      ordered: nb.exchangeable && symmetric ? 'sort' : 'truncated',
    };
  }
  return {
    ...common, K: db.K, D: db.D, y: db.x, block: null,
    mu: { offset: db.mu.offset, ordered: false, m0: db.mu.m0, s0: db.mu.s0 },
    sigma: { offset: db.sigma.offset, hs: db.sigma.halfNormalScale },
    ordered: 'sort',
  };
}

/** Float64 constrained values of one particle, decoded from its unconstrained vector. */
export class MixtureDecoder {
  readonly logw: Float64Array;
  /** Locations and scales, row-major [K, D]. */
  readonly mu: Float64Array;
  readonly sd: Float64Array;
  /** log w_k − Σ_d log σ_kd − (D/2) log 2π per component (the row density's constant). */
  readonly c: Float64Array;
  private readonly scratch: Float64Array;
  private readonly K: number;
  private readonly D: number;

  constructor(readonly plan: GibbsSmcPlan) {
    const { K, D } = plan;
    this.K = K;
    this.D = D;
    this.logw = new Float64Array(K);
    this.mu = new Float64Array(K * D);
    this.sd = new Float64Array(K * D);
    this.c = new Float64Array(K);
    this.scratch = new Float64Array(K);
  }

  /** Decodes u (stick-breaking simplex, ordered or real μ, log σ). */
  decode(u: Float64Array): void {
    const { K, D, wOffset, mu: mp, sigma } = this.plan;
    let logm = 0;
    for (let k = 0; k < K - 1; k++) {
      const a = u[wOffset + k] - Math.log(K - 1 - k);
      this.logw[k] = logm - softplus(-a);
      logm -= softplus(a);
    }
    this.logw[K - 1] = logm;
    const mo = mp.offset;
    if (mp.ordered) {
      this.mu[0] = u[mo];
      for (let k = 1; k < K; k++) this.mu[k] = this.mu[k - 1] + Math.exp(u[mo + k]);
    } else for (let i = 0; i < K * D; i++) this.mu[i] = u[mo + i];
    const so = sigma.offset;
    for (let k = 0; k < K; k++) {
      let c = this.logw[k] - D * HALF_LOG_2PI;
      for (let d = 0; d < D; d++) {
        this.sd[k * D + d] = Math.exp(u[so + k * D + d]);
        c -= u[so + k * D + d];
      }
      this.c[k] = c;
    }
  }

  /** Fills the scratch with log w_k + log N(y | μ_k, σ_k) for the row y[at .. at + D) at the decoded values; returns their maximum. */
  private logJoint(y: ArrayLike<number>, at: number): number {
    const { K, D } = this;
    const l = this.scratch;
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      let q = 0;
      for (let d = 0; d < D; d++) {
        const z = (y[at + d] - this.mu[k * D + d]) / this.sd[k * D + d];
        q += z * z;
      }
      l[k] = this.c[k] - 0.5 * q;
      if (l[k] > mx) mx = l[k];
    }
    return mx;
  }

  /** log Σ_k w_k N(y | μ_k, σ_k) for the row y[at .. at + D) at the decoded values. */
  rowLogLik(y: ArrayLike<number>, at: number): number {
    const mx = this.logJoint(y, at);
    if (mx === -Infinity) return -Infinity;
    let s = 0;
    for (let k = 0; k < this.K; k++) s += Math.exp(this.scratch[k] - mx);
    return mx + Math.log(s);
  }

  /** Draws z (1-based) from p(z | θ, y) for the row y[at .. at + D) at the decoded values. */
  drawIndicator(y: ArrayLike<number>, at: number, rng: Rng): number {
    const K = this.K;
    const l = this.scratch;
    const mx = this.logJoint(y, at);
    let total = 0;
    for (let k = 0; k < K; k++) {
      l[k] = l[k] === mx ? 1 : Math.exp(l[k] - mx);
      total += l[k];
    }
    let t = uniform32(rng) * total;
    for (let k = 0; k < K - 1; k++) {
      t -= l[k];
      if (t <= 0) return k + 1;
    }
    return K;
  }
}

/**
 * A uniform on (0, 1) from one 32-bit word, (j + ½) / 2^32: enough resolution for picking a
 * component (a probability below 2^-33 is never picked), at half the cost of `rng.uniform()`.
 */
function uniform32(rng: Rng): number {
  return (rng.uint32() + 0.5) * 2.3283064365386963e-10;
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * The exact Gibbs kernel for the posterior given the first `rows` of `y` (already in the
 * run's order): see the module comment. `steps` full transitions per call, each with
 * `sweeps` collapsed sweeps.
 */
export class GibbsRowKernel {
  private readonly z: Int32Array;
  private readonly update: ReturnType<typeof normalMixtureUpdate>;
  private readonly dec: MixtureDecoder;
  private readonly counts: Float64Array;
  private readonly logG: Float64Array;

  constructor(private readonly plan: GibbsSmcPlan, private readonly y: Float64Array, readonly rows: number, private readonly steps: number, sweeps: number) {
    const K = plan.K;
    if (!plan.block) throw new RangeError('GibbsRowKernel: the generic kernel handles the 1-D block only');
    this.z = new Int32Array(rows);
    const block: NormalMixtureBlock = { ...plan.block, y: y.subarray(0, rows) };
    const view = {
      z: this.z,
      latents: [{ name: block.latent, elements: rows, K, offset: 1, start: 0, chain: false, size: rows * K }],
    } as unknown as GibbsTarget;
    // sweeps = 0: the plain kernel (z | θ, then σ | z with μ integrated out, μ | z, σ, w | z);
    // sweeps ≥ 1 adds that many collapsed sweeps (z with w and μ integrated out, then σ, μ).
    this.update = normalMixtureUpdate(block, view, plan.ordered, sweeps > 0 ? plan.alpha : null, undefined, Math.max(1, sweeps));
    this.dec = new MixtureDecoder(plan);
    this.counts = new Float64Array(K);
    this.logG = new Float64Array(K);
  }

  /** Moves u in place. */
  move(u: Float64Array, rng: Rng): void {
    const { K, alpha, wOffset } = this.plan;
    for (let s = 0; s < this.steps; s++) {
      this.dec.decode(u);
      for (let j = 0; j < this.rows; j++) this.z[j] = this.dec.drawIndicator(this.y, j, rng);
      this.update.draw(u, rng);
      this.counts.fill(0);
      for (let j = 0; j < this.rows; j++) this.counts[this.z[j] - 1]++;
      for (let k = 0; k < K; k++) this.logG[k] = rng.gammaLog(alpha[k] + this.counts[k]);
      simplexUnconstrainFromLog(this.logG, u, wOffset);
    }
  }
}

/**
 * The plain kernel of {@link GibbsRowKernel} (sweeps = 0) for an unordered or 'sort' μ in one
 * pass over the rows: z is drawn and forgotten (only its counts, sums and sums of squares are
 * needed), so there is no latent array, no second pass and no relabelling of z. Draws from
 * the same conditionals as GibbsRowKernel in the same order of updates.
 */
export class FusedGibbsRowKernel {
  private readonly dec: MixtureDecoder;
  /** Per component: count; per component and dimension: sum and sum of squares of the centred rows. */
  private readonly n: Float64Array;
  private readonly S: Float64Array;
  private readonly Q: Float64Array;
  private readonly mu: Float64Array;
  private readonly su: Float64Array;
  private readonly logG: Float64Array;
  private readonly order: number[];
  private readonly tmp: Float64Array;
  /** The rows minus their per-dimension mean (sums of squares without cancellation), row-major [rows, D]. */
  private readonly yc: Float64Array;
  private readonly shift: Float64Array;

  constructor(private readonly plan: GibbsSmcPlan, private readonly y: Float64Array, readonly rows: number, private readonly steps: number) {
    if (plan.mu.ordered && plan.ordered !== 'sort') throw new RangeError('FusedGibbsRowKernel: an ordered mu needs the sort update');
    const { K, D } = plan;
    this.dec = new MixtureDecoder(plan);
    this.n = new Float64Array(K);
    this.logG = new Float64Array(K);
    this.tmp = new Float64Array(K);
    [this.S, this.Q, this.mu, this.su] = Array.from({ length: 4 }, () => new Float64Array(K * D));
    this.order = Array.from({ length: K }, (_, k) => k);
    this.shift = new Float64Array(D);
    for (let j = 0; j < rows; j++) for (let d = 0; d < D; d++) this.shift[d] += y[j * D + d];
    if (rows > 0) for (let d = 0; d < D; d++) this.shift[d] /= rows;
    this.yc = Float64Array.from(y.subarray(0, rows * D), (v, i) => v - this.shift[i % D]);
  }

  /** Moves u in place. */
  move(u: Float64Array, rng: Rng): void {
    const { K, D, alpha, wOffset, mu: mp, sigma } = this.plan;
    const { dec, n, S, Q, mu, su, yc, shift, y } = this;
    const { m0, s0 } = mp;
    const hs = sigma.hs;
    const mo = mp.offset;
    const so = sigma.offset;
    for (let s = 0; s < this.steps; s++) {
      dec.decode(u);
      n.fill(0);
      S.fill(0);
      Q.fill(0);
      for (let j = 0; j < this.rows; j++) {
        const pick = dec.drawIndicator(y, j * D, rng) - 1;
        n[pick]++;
        for (let d = 0; d < D; d++) {
          const v = yc[j * D + d];
          S[pick * D + d] += v;
          Q[pick * D + d] += v * v;
        }
      }
      // σ given z (μ integrated out), then μ given z and σ, per component and dimension.
      for (let i = 0; i < K * D; i++) {
        const nk = n[(i / D) | 0];
        const ss = nk > 0 ? Math.max(0, Q[i] - (S[i] * S[i]) / nk) : 0;
        su[i] = sliceLogSigma(rng, u[so + i], nk, ss, hs[i], nk > 0 ? { s0: s0[i], dev: S[i] / nk + shift[i % D] - m0[i] } : null);
      }
      for (let i = 0; i < K * D; i++) {
        const nk = n[(i / D) | 0];
        const s2 = Math.exp(2 * su[i]);
        const p0 = 1 / (s0[i] * s0[i]);
        const v = 1 / (p0 + nk / s2);
        const m = v * (m0[i] * p0 + (S[i] + nk * shift[i % D]) / s2);
        mu[i] = m + Math.sqrt(v) * rng.normal();
      }
      if (mp.ordered) {
        // 'sort' (D = 1): the ordered posterior is the unordered one sorted by mu (conjugate-normal.ts).
        const order = this.order;
        for (let k = 0; k < K; k++) order[k] = k;
        order.sort((a, b) => mu[a] - mu[b]);
        const tmp = this.tmp;
        for (let k = 0; k < K; k++) tmp[k] = mu[order[k]];
        let ok = true;
        for (let k = 1; k < K; k++) if (!(tmp[k] > tmp[k - 1])) ok = false;
        if (ok) {
          u[mo] = tmp[0];
          for (let k = 1; k < K; k++) u[mo + k] = Math.log(tmp[k] - tmp[k - 1]);
          for (let k = 0; k < K; k++) tmp[k] = su[order[k]];
          su.set(tmp);
          for (let k = 0; k < K; k++) tmp[k] = n[order[k]];
          n.set(tmp);
        }
        // A tie in float64 (probability ~0): μ keeps its old value, σ and the counts their labels.
      } else for (let i = 0; i < K * D; i++) u[mo + i] = mu[i];
      for (let i = 0; i < K * D; i++) u[so + i] = su[i];
      for (let k = 0; k < K; k++) this.logG[k] = rng.gammaLog(alpha[k] + n[k]);
      simplexUnconstrainFromLog(this.logG, u, wOffset);
    }
  }
}

/** Settings of {@link gibbsDataSmc} (validated by `smc`). */
export interface GibbsDataSettings {
  particles: number;
  essThreshold: number;
  adaptOn: 'cess' | 'ess';
  resampleThreshold: number;
  scheme: ResampleScheme;
  /** Full Gibbs transitions per particle per stage (waste-free: between kept states). */
  steps: number;
  /** Collapsed sweeps inside each transition (0: the plain kernel). */
  sweeps: number;
  /** Waste-free chain length, or 0 for resample–move. */
  chainLength: number;
  maxStages: number;
  key: Key;
  onStage?: (stage: number, fraction: number, ess: number) => void;
  /** Test-only: rejuvenate for the previous stage's rows. */
  staleKernel?: boolean;
}

/** What {@link gibbsDataSmc} returns to `smc`, which builds the public result. */
export interface GibbsDataRun {
  u: Float64Array[];
  logw: Float64Array;
  /** Fraction of the rows included after each stage, 0 … 1. */
  betas: number[];
  ess: number[];
  resampled: boolean[];
  incs: number[];
  logZ: number;
  /** Rows included after each stage (index 0: 0). */
  rows: number[];
}

/**
 * Runs the data-annealing SMC sampler from the prior draws `u0` (unconstrained, modified in
 * place and returned): see the module comment.
 */
export function gibbsDataSmc(bound: BoundModel, plan: GibbsSmcPlan, u0: Float64Array[], o: GibbsDataSettings): GibbsDataRun {
  const P = o.particles;
  const { K, D, y } = plan;
  const N = y.length / D;
  if (N < 1) throw new RangeError('smc: the mixture has no observed rows');
  if (o.sweeps > 0 && !plan.block) throw new RangeError('smc: collapsed Gibbs sweeps (rejuvenation.sweeps) are for the 1-D normal mixture; leave them out for the D-dimensional one');
  // Rows in a seeded random order.
  const order = Int32Array.from({ length: N }, (_, i) => i);
  const prng = o.key.fold(0x726f7773).rng(); // 'rows'
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(prng.uniform() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const yp = new Float64Array(N * D);
  for (let j = 0; j < N; j++) for (let d = 0; d < D; d++) yp[j * D + d] = y[order[j] * D + d];

  // Each particle's decoded values, for the row densities of the stage weights.
  const decs = Array.from({ length: P }, () => new MixtureDecoder(plan));
  let u = u0;
  const store = (i: number): void => decs[i].decode(u[i]);
  /** log Σ_k w_k N(row | μ_k, σ_k) of particle i for the row rows[at .. at + D). */
  const rowLL = (i: number, rows: Float64Array, at: number): number => decs[i].rowLogLik(rows, at);
  for (let i = 0; i < P; i++) store(i);

  // The row densities must add up to the bound model's own log likelihood.
  const lik = bound.potentialFunction({ priors: false, jacobian: false });
  for (let i = 0; i < Math.min(P, 4); i++) {
    let mine = 0;
    for (let j = 0; j < N; j++) mine += rowLL(i, y, j * D);
    const theirs = -lik.value(u[i]);
    if (Number.isFinite(theirs) && !(Math.abs(mine - theirs) <= 1e-8 * (Math.abs(theirs) + N))) {
      throw new Error(`smc: the Gibbs sampler's mixture log likelihood (${mine}) differs from the model's (${theirs}); the model has terms it does not know`);
    }
  }

  let logw = new Float64Array(P);
  const betas = [0];
  const rowsAt = [0];
  const ess = [P];
  const resampled = [false];
  const incs: number[] = [];
  let logZ = 0;
  let n = 0;
  for (let stage = 1; n < N; stage++) {
    if (stage > o.maxStages) throw new Error(`smc: only ${n} of ${N} rows were included after ${o.maxStages} stages; raise maxStages or essThreshold`);
    const rng = o.key.fold(stage).rng();
    const lse = logSumExp(logw);
    const logW = logw.map((v) => v - lse);
    // Add rows while the (C)ESS of the stage's weights stays at the threshold (one at least).
    let inc = new Float64Array(P);
    let m = n;
    while (m < N) {
      const cand = new Float64Array(P);
      for (let i = 0; i < P; i++) cand[i] = logW[i] === -Infinity ? -Infinity : inc[i] + rowLL(i, yp, m * D);
      if (m > n && relativeEss(logW, cand, 1, o.adaptOn) < o.essThreshold) break;
      inc = cand;
      m++;
    }
    const a = new Float64Array(P);
    for (let i = 0; i < P; i++) a[i] = logW[i] + inc[i];
    const stageInc = logSumExp(a);
    if (!(stageInc > -Infinity)) throw new Error(`smc: every particle has zero density for rows ${n + 1}..${m} (in the run's order)`);
    incs.push(stageInc);
    logZ += stageInc;
    logw = a;
    betas.push(m / N);
    rowsAt.push(m);
    let W = weightsFromLog(logw);
    const e = effectiveSize(W);
    ess.push(e);
    o.onStage?.(stage, m / N, e);
    const rowsK = o.staleKernel ? n : m;
    const fused = o.sweeps === 0 && (!plan.mu.ordered || plan.ordered === 'sort');
    const kernel = fused ? new FusedGibbsRowKernel(plan, yp, rowsK, o.steps) : new GibbsRowKernel(plan, yp, rowsK, o.steps, o.sweeps);
    if (o.chainLength > 0) {
      // Waste-free: M ancestors, chains of chainLength states, all kept with equal weights.
      const M = P / o.chainLength;
      const idx = resample(o.scheme, W, M, rng);
      const next: Float64Array[] = [];
      for (let a2 = 0; a2 < M; a2++) {
        const x = Float64Array.from(u[idx[a2]]);
        next.push(Float64Array.from(x));
        for (let t = 1; t < o.chainLength; t++) {
          kernel.move(x, rng);
          next.push(Float64Array.from(x));
        }
      }
      u = next;
      logw = new Float64Array(P);
      resampled.push(true);
    } else {
      const doResample = o.adaptOn === 'ess' || e < o.resampleThreshold * P;
      resampled.push(doResample);
      if (doResample) {
        const idx = resample(o.scheme, W, P, rng);
        u = Array.from(idx, (j) => Float64Array.from(u[j]));
        logw = new Float64Array(P);
        W = new Float64Array(P).fill(1 / P);
      }
      // Every stage moves every particle (moving only after a resampling doubled the log-Z
      // sd on the galaxy mixture).
      for (let i = 0; i < P; i++) if (logw[i] > -Infinity) kernel.move(u[i], rng);
    }
    for (let i = 0; i < P; i++) store(i);
    n = m;
  }
  return { u, logw, betas, ess, resampled, incs, logZ, rows: rowsAt };
}
