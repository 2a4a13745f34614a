/**
 * Warm-up adaptation as in Stan (`stan/mcmc/stepsize_adaptation.hpp`,
 * `windowed_adaptation.hpp`, `var_adaptation.hpp`, `covar_adaptation.hpp`): Nesterov dual
 * averaging of log step size towards a target acceptance statistic, and windowed
 * estimation of the (inverse) metric from the warm-up draws — a fast initial buffer, slow
 * windows that double in length (the last one stretched to the terminal buffer), and a
 * fast terminal buffer — with Welford accumulation and Stan's shrinkage towards 1e-3·I.
 */

// ---------------------------------------------------------------------------------------
// Dual averaging of the step size
// ---------------------------------------------------------------------------------------

/** Parameters of dual-averaging step-size adaptation (Stan's defaults). */
export interface DualAveragingOptions {
  /** Target mean acceptance statistic, in (0, 1) (default 0.8). */
  delta?: number;
  /** Adaptation regularisation scale, > 0 (default 0.05). */
  gamma?: number;
  /** Relaxation exponent of the averaged iterate, in (0, 1] (default 0.75). */
  kappa?: number;
  /** Adaptation iteration offset, > 0 (default 10). */
  t0?: number;
}

/**
 * Nesterov dual averaging of log ε (Hoffman & Gelman 2014, §3.2, as Stan's
 * `stepsize_adaptation`): after each transition `learn` returns the next step size; at the
 * end of warm-up `complete` returns exp of the averaged iterate.
 */
export class DualAveraging {
  readonly delta: number;
  readonly gamma: number;
  readonly kappa: number;
  readonly t0: number;
  private mu = 0;
  private counter = 0;
  private sBar = 0;
  private xBar = 0;

  constructor(options: DualAveragingOptions = {}) {
    const { delta = 0.8, gamma = 0.05, kappa = 0.75, t0 = 10 } = options;
    if (!(delta > 0 && delta < 1)) throw new RangeError(`DualAveraging: delta must be in (0, 1), got ${delta}`);
    if (!(gamma > 0) || gamma === Infinity) throw new RangeError(`DualAveraging: gamma must be positive and finite, got ${gamma}`);
    if (!(kappa > 0 && kappa <= 1)) throw new RangeError(`DualAveraging: kappa must be in (0, 1], got ${kappa}`);
    if (!(t0 > 0) || t0 === Infinity) throw new RangeError(`DualAveraging: t0 must be positive and finite, got ${t0}`);
    this.delta = delta;
    this.gamma = gamma;
    this.kappa = kappa;
    this.t0 = t0;
  }

  /** Sets the shrinkage point μ of log ε (Stan uses log(10 ε₀)). */
  setMu(mu: number): void {
    if (!Number.isFinite(mu)) throw new RangeError(`DualAveraging.setMu: mu must be finite, got ${mu}`);
    this.mu = mu;
  }

  /** Forgets the history (counter, s̄, x̄), keeping μ. */
  restart(): void {
    this.counter = 0;
    this.sBar = 0;
    this.xBar = 0;
  }

  /** Updates with one transition's acceptance statistic (capped at 1; NaN counts as 0) and returns the next step size. */
  learn(acceptStat: number): number {
    this.counter++;
    const a = acceptStat > 1 ? 1 : acceptStat >= 0 ? acceptStat : 0;
    const eta = 1 / (this.counter + this.t0);
    this.sBar = (1 - eta) * this.sBar + eta * (this.delta - a);
    const x = this.mu - (this.sBar * Math.sqrt(this.counter)) / this.gamma;
    const xEta = Math.pow(this.counter, -this.kappa);
    this.xBar = (1 - xEta) * this.xBar + xEta * x;
    return Math.exp(x);
  }

  /** Returns the final step size exp(x̄). */
  complete(): number {
    return Math.exp(this.xBar);
  }
}

// ---------------------------------------------------------------------------------------
// The windowed schedule
// ---------------------------------------------------------------------------------------

/** Buffer and window lengths of the metric-adaptation schedule (Stan's defaults 75 / 50 / 25). */
export interface WindowOptions {
  initBuffer?: number;
  termBuffer?: number;
  baseWindow?: number;
}

function checkCount(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${fn}: ${name} must be a nonnegative integer, got ${v}`);
}

/**
 * Stan's `windowed_adaptation` schedule over `numWarmup` iterations: draws are collected
 * in slow windows between an initial and a terminal buffer; the first window has
 * `baseWindow` iterations and each next one twice as many, and a window is stretched to the
 * terminal buffer when the one after it would not fit. With fewer than 20 warm-up
 * iterations there are no windows; when initBuffer + baseWindow + termBuffer exceeds
 * numWarmup the schedule becomes 15% / 75% / 10% (one window).
 *
 * Call `collect()` (should this iteration's draw be added?) and `endOfWindow()` (does a
 * window close at this iteration?) once per warm-up iteration, then `advance()`.
 */
export class WindowSchedule {
  readonly numWarmup: number;
  readonly initBuffer: number;
  readonly termBuffer: number;
  readonly baseWindow: number;
  private counter = 0;
  private windowSize: number;
  private nextWindow: number;

  constructor(numWarmup: number, options: WindowOptions = {}) {
    const { initBuffer = 75, termBuffer = 50, baseWindow = 25 } = options;
    checkCount('WindowSchedule', 'numWarmup', numWarmup);
    checkCount('WindowSchedule', 'initBuffer', initBuffer);
    checkCount('WindowSchedule', 'termBuffer', termBuffer);
    checkCount('WindowSchedule', 'baseWindow', baseWindow);
    if (baseWindow < 1) throw new RangeError(`WindowSchedule: baseWindow must be at least 1, got ${baseWindow}`);
    if (numWarmup < 20) {
      // No metric estimation at all (Stan leaves the schedule empty).
      this.numWarmup = numWarmup;
      this.initBuffer = numWarmup;
      this.termBuffer = 0;
      this.baseWindow = 0;
    } else if (initBuffer + baseWindow + termBuffer > numWarmup) {
      this.numWarmup = numWarmup;
      this.initBuffer = Math.floor(0.15 * numWarmup);
      this.termBuffer = Math.floor(0.1 * numWarmup);
      this.baseWindow = numWarmup - (this.initBuffer + this.termBuffer);
    } else {
      this.numWarmup = numWarmup;
      this.initBuffer = initBuffer;
      this.termBuffer = termBuffer;
      this.baseWindow = baseWindow;
    }
    this.windowSize = this.baseWindow;
    this.nextWindow = this.baseWindow === 0 ? -1 : this.initBuffer + this.windowSize - 1;
  }

  /** The current warm-up iteration (0-based). */
  get iteration(): number {
    return this.counter;
  }

  /** True when this iteration's draw belongs to a slow window. */
  collect(): boolean {
    return this.baseWindow > 0 && this.counter >= this.initBuffer && this.counter < this.numWarmup - this.termBuffer;
  }

  /** True when a slow window ends at this iteration (the metric is then re-estimated). */
  endOfWindow(): boolean {
    return this.counter === this.nextWindow && this.counter !== this.numWarmup;
  }

  /** Moves to the next iteration, scheduling the next window if one ended here. */
  advance(): void {
    if (this.endOfWindow()) this.computeNextWindow();
    this.counter++;
  }

  private computeNextWindow(): void {
    const lastEnd = this.numWarmup - this.termBuffer - 1;
    if (this.nextWindow === lastEnd) return;
    this.windowSize *= 2;
    this.nextWindow = this.counter + this.windowSize;
    if (this.nextWindow === lastEnd) return;
    // If the window after this one would overrun the slow phase, stretch this one to its end.
    if (this.nextWindow + 2 * this.windowSize >= this.numWarmup - this.termBuffer) this.nextWindow = lastEnd;
  }
}

/**
 * Returns the slow windows of Stan's schedule for `numWarmup` iterations as inclusive
 * [first, last] 0-based iteration pairs (e.g. 1000 → [75,99] [100,149] [150,249]
 * [250,449] [450,949]).
 */
export function adaptationWindows(numWarmup: number, options: WindowOptions = {}): [number, number][] {
  const s = new WindowSchedule(numWarmup, options);
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i < numWarmup; i++) {
    if (s.collect() && start < 0) start = i;
    if (s.endOfWindow()) {
      out.push([start, i]);
      start = -1;
    }
    s.advance();
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Welford estimators
// ---------------------------------------------------------------------------------------

/** Welford's running mean and variance of each coordinate. */
export class WelfordVariance {
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim);
  }

  /** Number of vectors added since the last restart. */
  get count(): number {
    return this.n;
  }

  /** Forgets every vector added. */
  restart(): void {
    this.n = 0;
    this.mean.fill(0);
    this.m2.fill(0);
  }

  /** Adds one vector. */
  add(x: ArrayLike<number>): void {
    this.n++;
    for (let i = 0; i < this.dim; i++) {
      const d = x[i] - this.mean[i];
      this.mean[i] += d / this.n;
      this.m2[i] += d * (x[i] - this.mean[i]);
    }
  }

  /** Writes the sample variances (n - 1 denominator; NaN below two vectors) into `out`. */
  variance(out: Float64Array): void {
    for (let i = 0; i < this.dim; i++) out[i] = this.m2[i] / (this.n - 1);
  }
}

/** Welford's running mean and covariance matrix (row-major). */
export class WelfordCovariance {
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;
  private readonly delta: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim * dim);
    this.delta = new Float64Array(dim);
  }

  /** Number of vectors added since the last restart. */
  get count(): number {
    return this.n;
  }

  /** Forgets every vector added. */
  restart(): void {
    this.n = 0;
    this.mean.fill(0);
    this.m2.fill(0);
  }

  /** Adds one vector. */
  add(x: ArrayLike<number>): void {
    const d = this.dim;
    this.n++;
    for (let i = 0; i < d; i++) {
      this.delta[i] = x[i] - this.mean[i];
      this.mean[i] += this.delta[i] / this.n;
    }
    // m2 += (x - mean_new) (x - mean_old)ᵀ
    for (let i = 0; i < d; i++) {
      const a = x[i] - this.mean[i];
      for (let j = 0; j < d; j++) this.m2[i * d + j] += a * this.delta[j];
    }
  }

  /** Writes the sample covariance (n - 1 denominator, symmetrised) into `out` (dim·dim). */
  covariance(out: Float64Array): void {
    const d = this.dim;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) out[i * d + j] = (0.5 * (this.m2[i * d + j] + this.m2[j * d + i])) / (this.n - 1);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Metric adaptation
// ---------------------------------------------------------------------------------------

/**
 * Windowed estimation of the inverse metric (Stan's `var_adaptation` / `covar_adaptation`):
 * at the end of each slow window the inverse metric becomes the window's sample
 * (co)variance shrunk towards 1e-3·I, (n/(n+5))·Σ̂ + 1e-3·(5/(n+5))·I, and the estimator
 * restarts.
 */
export class MetricAdaptation {
  readonly schedule: WindowSchedule;
  private readonly diag?: WelfordVariance;
  private readonly dense?: WelfordCovariance;

  constructor(readonly kind: 'diag' | 'dense', readonly dim: number, numWarmup: number, options: WindowOptions = {}) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`MetricAdaptation: dim must be a positive integer, got ${dim}`);
    this.schedule = new WindowSchedule(numWarmup, options);
    if (kind === 'diag') this.diag = new WelfordVariance(dim);
    else if (kind === 'dense') this.dense = new WelfordCovariance(dim);
    else throw new RangeError(`MetricAdaptation: kind must be 'diag' or 'dense', got ${String(kind)}`);
  }

  /**
   * Feeds one warm-up draw. Returns true when a window closed here, in which case
   * `invMetric` (length dim for diag, dim·dim for dense) has been overwritten with the new
   * estimate. Throws if the estimate is not finite.
   */
  learn(invMetric: Float64Array, q: ArrayLike<number>): boolean {
    const s = this.schedule;
    const est = (this.diag ?? this.dense)!;
    if (s.collect()) est.add(q);
    if (!s.endOfWindow()) {
      s.advance();
      return false;
    }
    const n = est.count;
    const d = this.dim;
    if (this.diag) {
      this.diag.variance(invMetric);
      for (let i = 0; i < d; i++) invMetric[i] = regularize(invMetric[i], n, 1);
    } else {
      this.dense!.covariance(invMetric);
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) invMetric[i * d + j] = regularize(invMetric[i * d + j], n, i === j ? 1 : 0);
      }
    }
    for (let i = 0; i < invMetric.length; i++) {
      if (!Number.isFinite(invMetric[i])) {
        throw new Error(
          'Numerical overflow in metric adaptation: the warm-up draws have non-finite (co)variance. This occurs when ' +
            'the sampler reaches extreme values on the unconstrained space, e.g. for a posterior that is too wide or improper.',
        );
      }
    }
    est.restart();
    s.advance();
    return true;
  }
}

/** Stan's shrinkage of a (co)variance entry estimated from n draws towards 1e-3 on the diagonal. */
export function regularize(v: number, n: number, identity: number): number {
  return (n / (n + 5)) * v + 1e-3 * (5 / (n + 5)) * identity;
}
