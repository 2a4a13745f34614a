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
 */
import { tf, type Tensor } from '../../tensor';
import type { Rng } from '../../tensor/random';
import { traceFunction, type TracedFunction } from '../../tensor/trace';
import type { BoundModel } from '../../model/bound-model';
import type { Target } from './sampler';

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

  constructor(readonly bound: BoundModel, from?: GibbsTarget) {
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
    for (const l of ir.latents) {
      if (l.chain) {
        throw new RangeError(`latents: 'gibbs': '${l.name}' is a chain (summed by the forward algorithm); Gibbs over chains is not supported yet: use the default latents: 'marginalize'`);
      }
    }
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
      const out = { name: l.name, elements, K, offset: info.offset, start };
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
        weights.set(l.name, tf.reshape(tf.slice(x, [dim + l.start], [l.elements * l.K]), bound.latentWeightShape(l.name)));
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
      for (let e = 0; e < l.elements; e++) x[dim + l.start + e * l.K + (this.z[zi++] - l.offset)] = 1;
    }
    return -this.traced.value(x);
  }

  /** Flat latent names (`z.1`, ...), matching `z`. */
  latentNames(): string[] {
    return this.latents.flatMap((l) => Array.from({ length: l.elements }, (_, e) => `${l.name}.${e + 1}`));
  }
}
