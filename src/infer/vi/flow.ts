// The base of the flow guides (planar in guides.ts, affine coupling in coupling.ts), in a
// module of its own: guides.ts and coupling.ts import each other, and a base class must be
// defined before either subclass is evaluated.
import type { Rng } from '../../tensor/random';
import type { Guide, GuideKind } from './guides';
import { monteCarloMoments } from './noise';

/**
 * What the flow guides (planar here, affine coupling in coupling.ts) share: no closed-form
 * entropy, every gradient from one reverse pass `backward(ε, gTop, withLogDet, scale, out)`
 * (adds scale · ∂F/∂θ for F = gTopᵀ u(ε), plus the −log q terms when `withLogDet`), and
 * Monte Carlo moments.
 */
export abstract class FlowGuide implements Guide {
  abstract readonly kind: GuideKind;
  abstract readonly dim: number;
  abstract readonly noiseDim: number;
  abstract readonly params: Float64Array;
  abstract transform(eps: ArrayLike<number>, out?: Float64Array): Float64Array;
  abstract sample(rng: Rng): { u: Float64Array; eps: Float64Array };
  abstract logq(u: ArrayLike<number>): number;
  abstract entropyTerm(eps: ArrayLike<number>): number;
  abstract clone(): Guide;
  protected abstract backward(eps: ArrayLike<number>, gTop: ArrayLike<number> | null, withLogDet: boolean, scale: number, out: Float64Array): void;

  entropy(): number {
    return NaN;
  }

  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    const neg = Float64Array.from(gU, (x) => -x);
    this.backward(eps, neg, false, scale, out);
  }

  addEntropyGrad(): void {
    throw new RangeError(`${this.constructor.name}: no closed-form entropy; use addEntropyTermGrad`);
  }

  addEntropyTermGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.backward(eps, null, true, scale, out);
  }

  addNegLogqGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.backward(eps, null, true, scale, out);
  }

  /** Monte Carlo mean and covariance from 20000 fixed-seed draws (no closed form). */
  private moments(): { mean: Float64Array; cov: Float64Array[] } {
    return monteCarloMoments((e) => this.transform(e), this.dim, 20000);
  }

  mean(): Float64Array {
    return this.moments().mean;
  }

  covariance(): Float64Array[] {
    return this.moments().cov;
  }
}
