/**
 * Stochastic-gradient optimisers for variational inference: Adam (Kingma & Ba 2015) with
 * bias correction and a decaying learning-rate schedule. Float64, in place, minimising.
 */

/** A learning rate as a function of the 0-based step. */
export type Schedule = (step: number) => number;

/**
 * Returns lr · (1 + t/tau)^(-power): constant for t << tau, then decaying like t^(-power).
 * With power in (0.5, 1] the Robbins–Monro conditions hold (Σ lr = ∞, Σ lr² < ∞); the
 * default power 0.5 is the usual compromise for Adam, whose steps are already normalised.
 */
export function decaySchedule(lr: number, tau = 100, power = 0.5): Schedule {
  if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`decaySchedule: lr must be a positive finite number, got ${lr}`);
  if (!(tau > 0)) throw new RangeError(`decaySchedule: tau must be positive, got ${tau}`);
  if (!(power >= 0)) throw new RangeError(`decaySchedule: power must be >= 0, got ${power}`);
  return (t) => lr * Math.pow(1 + t / tau, -power);
}

export interface AdamOptions {
  /** Learning rate: a number (constant) or a schedule (default decaySchedule(0.05)). */
  lr?: number | Schedule;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Per-parameter multipliers of the learning rate (default all 1). */
  scale?: ArrayLike<number>;
}

/** Adam over a flat float64 parameter vector; `step` moves `params` against `grad` in place. */
export class Adam {
  readonly schedule: Schedule;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private readonly scale: Float64Array | null;
  private t = 0;

  constructor(readonly size: number, opts: AdamOptions = {}) {
    const lr = opts.lr ?? decaySchedule(0.05);
    this.schedule = typeof lr === 'number' ? () => lr : lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    if (opts.scale && opts.scale.length !== size) throw new RangeError(`Adam: scale has length ${opts.scale.length}, expected ${size}`);
    this.scale = opts.scale ? Float64Array.from(opts.scale) : null;
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /** One descent step: params -= lr_t · m̂ / (sqrt(v̂) + eps). Returns the learning rate used. */
  step(params: Float64Array, grad: ArrayLike<number>): number {
    if (params.length !== this.size || grad.length !== this.size) {
      throw new RangeError(`Adam.step: expected vectors of length ${this.size}, got ${params.length} and ${grad.length}`);
    }
    const lr = this.schedule(this.t);
    this.t++;
    const { beta1: b1, beta2: b2, eps, m, v } = this;
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    for (let i = 0; i < this.size; i++) {
      const g = grad[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      params[i] -= ((this.scale ? this.scale[i] * lr : lr) * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
    }
    return lr;
  }
}
