/**
 * Gibbs over the discrete latents, interleaved with an HMC/NUTS transition of the
 * continuous parameters given them (`sample(bound, { latents: 'gibbs' })`).
 *
 * One traced float64 function serves both halves: h(u, r) = -(E_r[log p(y, z, θ(u))] +
 * log|J(u)|), the expected complete-data potential under weights r of the latents'
 * values. It is linear in r, so
 * - its gradient in r at any r > 0 is minus the table L[n, k] of log joint contributions
 *   of each latent element's value k given θ: the exact conditional p(z_n = k | θ, y) ∝
 *   exp L[n, k] (the latents are conditionally independent when no statement touches two
 *   of them, which is checked);
 * - at one-hot r = onehot(z) it is the potential of θ given z, the HMC target.
 *
 * A chain latent (an HMM's z[1..T], summed by the forward algorithm elsewhere) has pairwise
 * weights r[t, i, j] (previous value i, value j; step 1 uses row 0 only), so the same gradient
 * gives L[t, i, j] = log of every statement's contribution at step t with z[t-1] = i, z[t] = j
 * (transition plus emission). The path is drawn from p(z | θ, y) ∝ Π_t exp L[t, z[t-1], z[t]]
 * either exactly, by forward filtering and backward sampling ('ffbs', the default), or by one
 * sweep of conditional SMC with ancestor sampling from the current path ('csmc': particle
 * Gibbs, Andrieu, Doucet and Holenstein 2010; Lindsten, Jordan and Schön 2014), which leaves
 * the same conditional invariant. A one-hot path has r[0, 0, z[1]] = 1 and r[t, z[t-1], z[t]] = 1.
 */
import { tf, logSumExpF64, type Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import { traceFunction, type TracedFunction } from '../../tensor/trace';
import type { BoundModel } from '../../model/bound-model';
import type { Target } from './sampler';
import { conditionalSmc, drawFromLog } from '../smc/filter';
import type { StateSpaceModel } from '../smc/ssm';

/** One latent variable as the Gibbs step sees it. */
interface GibbsLatent {
  name: string;
  /** Plate sizes (elements), K values. */
  elements: number;
  K: number;
  /** Value of index 0 (categorical latents start at 1). */
  offset: number;
  /** Start of this latent's weights in r. */
  start: number;
  /** A chain: its weights are [T, K, K] pairwise (elements = T). */
  chain: boolean;
  /** Number of weights (elements × K; T × K × K for a chain). */
  size: number;
}

/** How `GibbsTarget` draws a chain's path. */
export interface GibbsOptions {
  /** 'ffbs' (default): exact forward filtering, backward sampling; 'csmc': conditional SMC with ancestor sampling (particle Gibbs). */
  chainUpdate?: 'ffbs' | 'csmc';
  /** Particles of the conditional SMC sweep (default 20), with chainUpdate: 'csmc'. */
  particles?: number;
}

/** The state and updates of the Gibbs-within-HMC scheme for one chain. */
export class GibbsTarget implements Target {
  readonly dim: number;
  readonly latents: GibbsLatent[];
  /** Flat latent values (offset + index), one per element, latents in declaration order. */
  readonly z: Int32Array;
  private readonly traced: TracedFunction;
  private readonly x: Float64Array;
  private readonly gx: Float64Array;
  private readonly R: number;

  private readonly chainUpdate: 'ffbs' | 'csmc';
  private readonly particles: number;
  /** Conditional SMC sweeps so far (each gets its own seed from the chain's stream). */
  private sweeps = 0;

  constructor(readonly bound: BoundModel, from?: GibbsTarget, opts: GibbsOptions = from ? { chainUpdate: from.chainUpdate, particles: from.particles } : {}) {
    this.chainUpdate = opts.chainUpdate ?? 'ffbs';
    if (this.chainUpdate !== 'ffbs' && this.chainUpdate !== 'csmc') throw new RangeError(`latents: 'gibbs': chainUpdate must be 'ffbs' or 'csmc', got '${String(this.chainUpdate)}'`);
    this.particles = opts.particles ?? 20;
    if (!Number.isInteger(this.particles) || this.particles < 2) throw new RangeError(`latents: 'gibbs': particles must be an integer ≥ 2, got ${this.particles}`);
    if (from) {
      // Another chain's target: the same traced function and layout, its own state.
      this.dim = from.dim;
      this.latents = from.latents;
      this.R = from.R;
      this.traced = from.traced;
      this.z = new Int32Array(from.z.length);
      this.x = new Float64Array(this.dim + this.R);
      this.gx = new Float64Array(this.dim + this.R);
      return;
    }
    const ir = bound.ir;
    if (ir.latents.length === 0) throw new RangeError(`latents: 'gibbs': model ${ir.name} has no discrete latents`);
    for (const f of ir.factors) {
      if (f.latents.length > 1) {
        throw new RangeError(`latents: 'gibbs': a statement involves ${f.latents.join(' and ')}; the Gibbs step needs each statement to touch at most one latent: use latents: 'marginalize'`);
      }
    }
    this.dim = bound.dim;
    let start = 0;
    this.latents = ir.latents.map((l) => {
      const shape = bound.latentWeightShape(l.name);
      const K = shape[shape.length - 1];
      const elements = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const info = bound.rt.latents.get(l.name)!;
      const chain = !!l.chain;
      // A chain's weights are [T, K, K]; its values one per step.
      const out = { name: l.name, elements: chain ? shape[0] : elements, K, offset: info.offset, start, chain, size: elements * K };
      start += elements * K;
      return out;
    });
    this.R = start;
    this.z = new Int32Array(this.latents.reduce((a, l) => a + l.elements, 0));
    const dim = this.dim;
    const lats = this.latents;
    const f = (x: Tensor) => {
      const u = tf.slice(x, [0], [dim]);
      const weights = new Map<string, Tensor>();
      for (const l of lats) {
        weights.set(l.name, tf.reshape(tf.slice(x, [dim + l.start], [l.size]), bound.latentWeightShape(l.name)));
      }
      return bound.expectedPotentialTensor(u, weights);
    };
    const x0 = new Float64Array(dim + this.R).fill(1);
    for (let i = 0; i < dim; i++) x0[i] = 0.1;
    this.traced = traceFunction(f, x0);
    this.x = new Float64Array(dim + this.R);
    this.gx = new Float64Array(dim + this.R);
  }

  /** A target for another chain: shares the traced function, with its own latent state. */
  fork(): GibbsTarget {
    return new GibbsTarget(this.bound, this);
  }

  /** Draws every latent from its conditional given θ(u). */
  updateLatents(u: ArrayLike<number>, rng: Rng): void {
    const { x, gx, dim } = this;
    x.set(u);
    x.fill(1, dim);
    this.traced.valueAndGrad(x, gx);
    let zi = 0;
    for (const l of this.latents) {
      if (l.chain) {
        this.updateChain(l, zi, rng);
        zi += l.elements;
        continue;
      }
      for (let e = 0; e < l.elements; e++) {
        const base = dim + l.start + e * l.K;
        // L[k] = -∂h/∂r[k]; p(k) ∝ exp(L[k] - max L).
        let m = -Infinity;
        for (let k = 0; k < l.K; k++) m = Math.max(m, -gx[base + k]);
        let total = 0;
        for (let k = 0; k < l.K; k++) total += Math.exp(-gx[base + k] - m);
        let t = rng.uniform() * total;
        let pick = l.K - 1;
        for (let k = 0; k < l.K; k++) {
          t -= Math.exp(-gx[base + k] - m);
          if (t <= 0) {
            pick = k;
            break;
          }
        }
        if (!(m > -Infinity) || !Number.isFinite(total)) pick = this.z[zi] - l.offset; // no finite value: keep
        this.z[zi++] = l.offset + pick;
        for (let k = 0; k < l.K; k++) x[base + k] = k === pick ? 1 : 0;
      }
    }
  }

  /**
   * Draws a chain's path given θ from the table L[t, i, j] = −gx (read after the all-ones
   * gradient) and writes its one-hot pairwise weights into x.
   */
  private updateChain(l: GibbsLatent, zi: number, rng: Rng): void {
    const { x, gx, dim } = this;
    const { K, elements: T } = l;
    const base = dim + l.start;
    const L = (t: number, i: number, j: number) => -gx[base + (t * K + i) * K + j];
    const path = new Int32Array(T);
    if (this.chainUpdate === 'csmc') {
      const ref = new Float64Array(2 * T);
      for (let t = 0; t < T; t++) {
        ref[2 * t] = t === 0 ? 0 : this.z[zi + t - 1] - l.offset;
        ref[2 * t + 1] = this.z[zi + t] - l.offset;
      }
      // The first sweep of a chain (no valid path yet: z holds 0s) runs without a reference.
      const valid = this.z.subarray(zi, zi + T).every((v) => v - l.offset >= 0 && v - l.offset < K);
      const seed = Math.floor(rng.uniform() * 2 ** 32) + this.sweeps++;
      const r = conditionalSmc(pathModel(l.name, L, T, K), valid ? ref : undefined, { particles: this.particles, seed });
      for (let t = 0; t < T; t++) path[t] = r.trajectory[2 * t + 1];
    } else {
      // Forward filtering: alpha[t, j] = log Σ over paths ending in j at t; then backward sampling.
      const alpha = new Float64Array(T * K);
      for (let j = 0; j < K; j++) alpha[j] = L(0, 0, j);
      const tmp = new Float64Array(K);
      for (let t = 1; t < T; t++) {
        for (let j = 0; j < K; j++) {
          for (let i = 0; i < K; i++) tmp[i] = alpha[(t - 1) * K + i] + L(t, i, j);
          alpha[t * K + j] = logSumExpF64(tmp);
        }
      }
      for (let t = T - 1; t >= 0; t--) {
        for (let i = 0; i < K; i++) tmp[i] = alpha[t * K + i] + (t === T - 1 ? 0 : L(t + 1, i, path[t + 1]));
        const k = drawFromLog(tmp, K, rng);
        // No finite weight (θ gives the data zero density along every path): keep the old path.
        path[t] = k < 0 ? this.z[zi + t] - l.offset : k;
      }
    }
    x.fill(0, base, base + T * K * K);
    for (let t = 0; t < T; t++) {
      this.z[zi + t] = l.offset + path[t];
      x[base + (t * K + (t === 0 ? 0 : path[t - 1])) * K + path[t]] = 1;
    }
  }

  /** Log density of θ given the current latents, with its gradient. */
  logDensityGrad(u: Float64Array, grad: Float64Array): number {
    const { x, gx, dim } = this;
    x.set(u);
    const v = this.traced.valueAndGrad(x, gx);
    for (let i = 0; i < dim; i++) grad[i] = -gx[i];
    return -v;
  }

  /**
   * Log density of θ given the latents in `z` (value only; the weights are rebuilt one-hot
   * from `z` at each call, so it also holds for a `z` set from outside, e.g. initial values).
   */
  logDensity(u: ArrayLike<number>): number {
    const { x, dim } = this;
    x.set(u);
    x.fill(0, dim);
    let zi = 0;
    for (const l of this.latents) {
      if (l.chain) {
        const K = l.K;
        for (let t = 0; t < l.elements; t++) {
          const prev = t === 0 ? 0 : this.z[zi + t - 1] - l.offset;
          x[dim + l.start + (t * K + prev) * K + (this.z[zi + t] - l.offset)] = 1;
        }
        zi += l.elements;
        continue;
      }
      for (let e = 0; e < l.elements; e++) x[dim + l.start + e * l.K + (this.z[zi++] - l.offset)] = 1;
    }
    return -this.traced.value(x);
  }

  /** Flat latent names (`z.1`, ...), matching `z`. */
  latentNames(): string[] {
    return this.latents.flatMap((l) => Array.from({ length: l.elements }, (_, e) => `${l.name}.${e + 1}`));
  }
}

/**
 * The chain's path posterior ∝ Π_t exp L[t, z[t-1], z[t]] as a state-space model for
 * conditional SMC, fully adapted: the state at t is the pair (z[t-1], z[t]) (so a weight that
 * depends on the previous value is a function of the current state), z[t] is proposed from
 * exp L[t, z[t-1], ·] / N_t(z[t-1]) and weighted by N_t(z[t-1]) = Σ_j exp L[t, z[t-1], j]. The
 * product of proposals and weights is the target, so conditional SMC on it leaves p(z | θ, y)
 * invariant. A transition between pairs that disagree on the shared value has density 0.
 */
function pathModel(name: string, L: (t: number, i: number, j: number) => number, T: number, K: number): StateSpaceModel {
  // logN[t, i] and the cumulative proposal probabilities cdf[t, i, j].
  const logN = new Float64Array(T * K);
  const cdf = new Float64Array(T * K * K);
  const row = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < (t === 0 ? 1 : K); i++) {
      for (let j = 0; j < K; j++) row[j] = L(t, i, j);
      const n = logSumExpF64(row);
      logN[t * K + i] = n;
      let c = 0;
      for (let j = 0; j < K; j++) {
        c += n === -Infinity ? 1 / K : Math.exp(row[j] - n);
        cdf[(t * K + i) * K + j] = c;
      }
    }
  }
  const draw = (t: number, i: number, u: number) => {
    const o = (t * K + i) * K;
    const v = u * cdf[o + K - 1];
    let j = 0;
    while (j < K - 1 && v >= cdf[o + j]) j++;
    return j;
  };
  return {
    name: `path of chain '${name}'`,
    T,
    stateDim: 2,
    stateNames: ['prev', name],
    sampleInitial(x, n, rng) {
      for (let p = 0; p < n; p++) { x[2 * p] = 0; x[2 * p + 1] = draw(0, 0, rng.uniform()); }
    },
    sampleTransition(t, prev, next, n, rng) {
      for (let p = 0; p < n; p++) {
        const i = prev[2 * p + 1];
        next[2 * p] = i;
        next[2 * p + 1] = draw(t, i, rng.uniform());
      }
    },
    logObservation(t, x, n, out) {
      for (let p = 0; p < n; p++) out[p] = logN[t * K + (t === 0 ? 0 : x[2 * p])];
    },
    logTransition(t, prev, n, next, r, out) {
      const i = next[2 * r];
      const j = next[2 * r + 1];
      const lq = L(t, i, j) - logN[t * K + i];
      for (let p = 0; p < n; p++) out[p] = prev[2 * p + 1] === i ? lq : -Infinity;
    },
  };
}
