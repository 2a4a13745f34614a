/**
 * Forward noising SDEs and the samplers that run them backwards (Song, Sohl-Dickstein,
 * Kingma, Kumar, Ermon & Poole 2021, "Score-Based Generative Modeling through Stochastic
 * Differential Equations").
 *
 * Both SDEs here have a linear drift, dx = c(t)·x dt + g(t) dw, so x_t | x_0 is Gaussian,
 * N(a_t·x_0, s_t²·I), with a_t = exp(∫_0^t c) and s_t² = a_t² ∫_0^t g²/a² (the "marginal
 * mean scale" and "marginal std" below):
 *
 *  - VP (variance preserving, the continuous DDPM): β(t) = βmin + t(βmax − βmin),
 *    c = −β/2, g = √β, a_t = exp(−¼t²(βmax − βmin) − ½tβmin), s_t² = 1 − a_t². Prior N(0, I).
 *  - VE (variance exploding, the continuous SMLD/NCSN): σ(t) = σmin(σmax/σmin)^t, c = 0,
 *    g = σ(t)·√(2 log(σmax/σmin)), a_t = 1, s_t² = σ(t)² − σmin² (exact: ∫_0^t g² ds).
 *    Prior N(0, σmax² I).
 *
 * Everything is float64 over flat row-major arrays (n rows of `dim` numbers). A score is
 * supplied as a {@link ScoreField}: the closed-form noised Gaussian mixture
 * (gmm-score.ts) or a trained network (dsm.ts) — the samplers cannot tell them apart, which
 * is what lets the tests check the samplers with the exact score, apart from learning.
 *
 * Samplers:
 *  - {@link samplePc}: the reverse-time SDE dx = [c x − g² ∇log p_t] dt + g dw̄ by
 *    Euler–Maruyama (predictor), each step preceded by Langevin corrector steps whose step
 *    size is set from a signal-to-noise ratio (Song et al. 2021, Algorithm 5 / `LangevinCorrector`).
 *  - {@link sampleOde}: the probability-flow ODE dx/dt = c x − ½g² ∇log p_t, from the prior
 *    at T down to eps, by RK4 or Heun.
 *  - {@link odeLogLikelihood}: the same ODE run forwards from the data with the instantaneous
 *    change of variables d log p/dt = −∇·F (Chen et al. 2018): log p_eps(x) = log p_T(x_T) +
 *    ∫_eps^T ∇·F dt, with the divergence exact or by Hutchinson's estimator (fixed probes
 *    along the path, as in FFJORD).
 *
 * Each sampler is written as host-read steps (src/tensor/host-reads.ts) with a plain form that
 * runs them synchronously: a field that computes with tensors (the trained network of dsm.ts)
 * gives `scoreSteps`, so its reads go through the driver and the same sampler runs awaited on
 * webgpu (`runAsync(samplePcSteps(...))`). A field without it (the closed-form mixture) is
 * called directly, and the steps never yield.
 */
import { Key, type Rng } from '../../tensor/random';
import { runSync, type HostSteps } from '../../tensor/host-reads';

/** A forward SDE with linear drift, dx = c(t)·x dt + g(t) dw on [0, T]. */
export interface Sde {
  /** 'vp' or 've'. */
  readonly kind: 'vp' | 've';
  /** Final time (1). */
  readonly T: number;
  /** Default smallest time the samplers stop at (the score is singular at 0 for point masses). */
  readonly eps: number;
  /** Standard deviation of the (isotropic, zero-mean) prior the reverse processes start from. */
  readonly priorStd: number;
  /** c(t): the drift is c(t)·x. */
  driftCoef(t: number): number;
  /** g(t). */
  diffusion(t: number): number;
  /** a_t: E[x_t | x_0] = a_t·x_0. */
  meanScale(t: number): number;
  /** s_t: Var[x_t | x_0] = s_t²·I. */
  std(t: number): number;
  /** A short description, e.g. `vp(betaMin=0.1, betaMax=20)`. */
  describe(): string;
}

function checkPositive(v: unknown, where: string, name: string): number {
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
    throw new RangeError(`${where}: ${name} must be a positive finite number, got ${String(v)}`);
  }
  return v;
}

/** Options of {@link vpSde}. */
export interface VpOptions {
  /** β at t = 0 (default 0.1). */
  betaMin?: number;
  /** β at t = 1 (default 20). */
  betaMax?: number;
  /** Smallest sampler time (default 1e-3). */
  eps?: number;
}

/**
 * Returns the variance-preserving SDE with the linear β schedule (Song et al. 2021, eq. 11).
 *
 * @example
 * const sde = vpSde();            // βmin = 0.1, βmax = 20: a_1 ≈ 0.0066, so x_1 ≈ N(0, I)
 * sde.std(0.5);                   // ≈ 0.93
 */
export function vpSde(opts: VpOptions = {}): Sde {
  const b0 = checkPositive(opts.betaMin ?? 0.1, 'vpSde', 'betaMin');
  const b1 = checkPositive(opts.betaMax ?? 20, 'vpSde', 'betaMax');
  if (!(b1 > b0)) throw new RangeError(`vpSde: betaMax (${b1}) must exceed betaMin (${b0})`);
  const eps = checkPositive(opts.eps ?? 1e-3, 'vpSde', 'eps');
  if (!(eps < 1)) throw new RangeError(`vpSde: eps must be below T = 1, got ${eps}`);
  const beta = (t: number) => b0 + t * (b1 - b0);
  const logA = (t: number) => -0.25 * t * t * (b1 - b0) - 0.5 * t * b0;
  return {
    kind: 'vp',
    T: 1,
    eps,
    priorStd: 1,
    driftCoef: (t) => -0.5 * beta(t),
    diffusion: (t) => Math.sqrt(beta(t)),
    meanScale: (t) => Math.exp(logA(t)),
    // 1 − a² as −expm1(2 log a): no cancellation at small t.
    std: (t) => Math.sqrt(-Math.expm1(2 * logA(t))),
    describe: () => `vp(betaMin=${b0}, betaMax=${b1})`,
  };
}

/** Options of {@link veSde}. */
export interface VeOptions {
  /** σ at t = 0 (default 0.01). */
  sigmaMin?: number;
  /** σ at t = 1 (default 10; take about the largest distance between data points, Song & Ermon 2020). */
  sigmaMax?: number;
  /** Smallest sampler time (default 1e-5). */
  eps?: number;
}

/**
 * Returns the variance-exploding SDE with the geometric σ schedule (Song et al. 2021, eq. 9),
 * with the exact marginal variance σ(t)² − σmin².
 *
 * @example
 * const sde = veSde({ sigmaMax: 8 });
 * sde.std(1);                     // ≈ 8
 */
export function veSde(opts: VeOptions = {}): Sde {
  const s0 = checkPositive(opts.sigmaMin ?? 0.01, 'veSde', 'sigmaMin');
  const s1 = checkPositive(opts.sigmaMax ?? 10, 'veSde', 'sigmaMax');
  if (!(s1 > s0)) throw new RangeError(`veSde: sigmaMax (${s1}) must exceed sigmaMin (${s0})`);
  const eps = checkPositive(opts.eps ?? 1e-5, 'veSde', 'eps');
  if (!(eps < 1)) throw new RangeError(`veSde: eps must be below T = 1, got ${eps}`);
  const logR = Math.log(s1 / s0);
  const sigma = (t: number) => s0 * Math.exp(t * logR);
  return {
    kind: 've',
    T: 1,
    eps,
    priorStd: s1,
    driftCoef: () => 0,
    diffusion: (t) => sigma(t) * Math.sqrt(2 * logR),
    meanScale: () => 1,
    // σ(t)² − σmin² = σmin²·expm1(2t log r).
    std: (t) => s0 * Math.sqrt(Math.expm1(2 * t * logR)),
    describe: () => `ve(sigmaMin=${s0}, sigmaMax=${s1})`,
  };
}

/**
 * Returns the time t at which the SDE's noise-to-signal ratio s_t/a_t equals `ratio` (by
 * bisection; the ratio increases with t). Times are not comparable across SDEs — VE at
 * t = 0.1 is far less noisy than VP at t = 0.1 — but noise levels are, so comparisons of
 * learned scores across SDEs should be made at equal ratios.
 *
 * @example
 * timeForNoise(vpSde(), 1);    // ≈ 0.26
 */
export function timeForNoise(sde: Sde, ratio: number): number {
  const r = (t: number) => sde.std(t) / sde.meanScale(t);
  const lo0 = sde.eps;
  if (!(ratio >= r(lo0)) || !(ratio <= r(sde.T))) {
    throw new RangeError(`timeForNoise: ratio must be in [${r(lo0)}, ${r(sde.T)}] for ${sde.describe()}, got ${ratio}`);
  }
  let lo = lo0;
  let hi = sde.T;
  for (let i = 0; i < 100 && hi - lo > 1e-14; i++) {
    const mid = 0.5 * (lo + hi);
    if (r(mid) < ratio) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * A (possibly approximate) score ∇_x log p_t(x) of the noised data law, for all t in (0, T].
 * Arrays are flat row-major, n rows of `dim`.
 */
export interface ScoreField {
  /** Dimension of x. */
  readonly dim: number;
  /** Returns the n×dim scores at the rows of x at time t. */
  score(x: Float64Array, n: number, t: number): Float64Array;
  /**
   * Returns the scores and, per row, their divergence ∇·s = tr ∂s/∂x: exact when `probe` is
   * undefined, otherwise Hutchinson's single-probe estimate vᵀ(∂s/∂x)v with v the row of
   * `probe` (n×dim; E[vvᵀ] = I makes it unbiased). Needed only by {@link odeLogLikelihood}.
   */
  scoreAndDivergence?(x: Float64Array, n: number, t: number, probe?: Float64Array): { score: Float64Array; div: Float64Array };
  /** `score` as host-read steps, for a field whose values are read from tensors (used by the samplers in place of `score`). */
  scoreSteps?(x: Float64Array, n: number, t: number): HostSteps<Float64Array>;
  /** `scoreAndDivergence` as host-read steps. */
  scoreAndDivergenceSteps?(x: Float64Array, n: number, t: number, probe?: Float64Array): HostSteps<{ score: Float64Array; div: Float64Array }>;
}

/** The field's score at x as steps: its `scoreSteps` where it has them, else `score` called directly. */
function* scoreOf(field: ScoreField, x: Float64Array, n: number, t: number): HostSteps<Float64Array> {
  return field.scoreSteps ? yield* field.scoreSteps(x, n, t) : field.score(x, n, t);
}

function checkSteps(v: unknown, where: string, name: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`${where}: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

function checkN(n: unknown, where: string): number {
  return checkSteps(n, where, 'n');
}

function checkEps(sde: Sde, eps: unknown, where: string): number {
  if (typeof eps !== 'number' || !(eps > 0) || !(eps < sde.T)) {
    throw new RangeError(`${where}: eps must be in (0, T = ${sde.T}), got ${String(eps)}`);
  }
  return eps;
}

function checkFinite(a: Float64Array, where: string, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new RangeError(`${where}: ${what} has a non-finite value (${a[i]}) at index ${i}`);
  }
}

/** Returns n×dim draws from the SDE's prior N(0, priorStd² I). */
export function samplePrior(sde: Sde, n: number, dim: number, rng: Rng): Float64Array {
  const out = new Float64Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = sde.priorStd * rng.normal();
  return out;
}

/** Returns the per-row log density of the SDE's prior N(0, priorStd² I). */
export function priorLogDensity(sde: Sde, x: Float64Array, n: number, dim: number): Float64Array {
  const v = sde.priorStd * sde.priorStd;
  const c = -0.5 * dim * Math.log(2 * Math.PI * v);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let q = 0;
    for (let j = 0; j < dim; j++) q += x[i * dim + j] * x[i * dim + j];
    out[i] = c - (0.5 * q) / v;
  }
  return out;
}

/** Options of {@link samplePc}. */
export interface PcOptions {
  /** Predictor (Euler–Maruyama) steps from T to eps (default 500). */
  steps?: number;
  /** Langevin corrector steps before each predictor step (default 1; 0 = predictor only). */
  correctorSteps?: number;
  /** Corrector signal-to-noise ratio r: step 2(r·‖z‖/‖s‖)², norms averaged over rows (default 0.1). */
  snr?: number;
  /** Time to stop at (default sde.eps). */
  eps?: number;
  /** Return the last predictor mean, without its noise (default true; Song et al.'s "noise removal"). */
  denoise?: boolean;
  /** Starting points (n×dim) instead of prior draws. */
  init?: Float64Array;
}

/**
 * Returns n×dim draws from the reverse-time SDE started at the prior: predictor–corrector
 * sampling (Song et al. 2021, Algorithms 1 and 5). With the exact score the draws follow
 * p_eps as steps → ∞; the corrector (unadjusted Langevin at fixed t) reduces the predictor's
 * discretisation error.
 *
 * @example
 * const x = samplePc(gmmScoreField(gmm, sde), sde, 1000, Key.seed(1), { steps: 500 });
 */
export function samplePc(field: ScoreField, sde: Sde, n: number, key: Key, opts: PcOptions = {}): Float64Array {
  return runSync(samplePcSteps(field, sde, n, key, opts));
}

/** {@link samplePc} as host-read steps (`runAsync` runs them on webgpu). */
export function* samplePcSteps(field: ScoreField, sde: Sde, n: number, key: Key, opts: PcOptions = {}): HostSteps<Float64Array> {
  const where = 'samplePc';
  checkN(n, where);
  const steps = checkSteps(opts.steps ?? 500, where, 'steps');
  const nCorr = checkSteps(opts.correctorSteps ?? 1, where, 'correctorSteps', 0);
  const snr = opts.snr ?? 0.1;
  if (!(snr > 0) || !Number.isFinite(snr)) throw new RangeError(`${where}: snr must be a positive finite number, got ${snr}`);
  const eps = checkEps(sde, opts.eps ?? sde.eps, where);
  const d = field.dim;
  const rng = key.rng();
  let x: Float64Array;
  if (opts.init) {
    if (opts.init.length !== n * d) throw new RangeError(`${where}: init has ${opts.init.length} values, expected n·dim = ${n * d}`);
    checkFinite(opts.init, where, 'init');
    x = Float64Array.from(opts.init);
  } else {
    x = samplePrior(sde, n, d, rng);
  }
  const dt = (sde.T - eps) / steps;
  let mean = x;
  for (let i = 0; i < steps; i++) {
    const t = sde.T - i * dt;
    for (let c = 0; c < nCorr; c++) {
      const s = yield* scoreOf(field, x, n, t);
      const z = new Float64Array(n * d);
      let sNorm = 0;
      let zNorm = 0;
      for (let r = 0; r < n; r++) {
        let a = 0;
        let b = 0;
        for (let j = 0; j < d; j++) {
          const k = r * d + j;
          z[k] = rng.normal();
          a += s[k] * s[k];
          b += z[k] * z[k];
        }
        sNorm += Math.sqrt(a);
        zNorm += Math.sqrt(b);
      }
      if (!(sNorm > 0)) continue;
      const stepSize = 2 * ((snr * zNorm) / sNorm) ** 2;
      const sq = Math.sqrt(2 * stepSize);
      for (let k = 0; k < x.length; k++) x[k] += stepSize * s[k] + sq * z[k];
    }
    // Predictor: one Euler–Maruyama step of the reverse SDE from t to t − dt.
    const s = yield* scoreOf(field, x, n, t);
    const c = sde.driftCoef(t);
    const g = sde.diffusion(t);
    const g2 = g * g;
    const sd = g * Math.sqrt(dt);
    mean = new Float64Array(x.length);
    for (let k = 0; k < x.length; k++) {
      mean[k] = x[k] - (c * x[k] - g2 * s[k]) * dt;
      x[k] = mean[k] + sd * rng.normal();
    }
  }
  const out = opts.denoise === false ? x : mean;
  checkFinite(out, where, 'the result (the score diverged; try more steps or a smaller snr)');
  return out;
}

/** Options of {@link sampleOde} and {@link odeLogLikelihood}. */
export interface OdeOptions {
  /** Integration steps between eps and T (default 100). */
  steps?: number;
  /** 'rk4' (default; 4 score evaluations a step) or 'heun' (2). */
  method?: 'rk4' | 'heun';
  /** Time at the data end (default sde.eps). */
  eps?: number;
}

/** The probability-flow velocity F(x, t) = c(t)·x − ½g(t)²·s(x, t). */
function* flow(field: ScoreField, sde: Sde, x: Float64Array, n: number, t: number): HostSteps<Float64Array> {
  const s = yield* scoreOf(field, x, n, t);
  const c = sde.driftCoef(t);
  const h = 0.5 * sde.diffusion(t) ** 2;
  const out = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) out[k] = c * x[k] - h * s[k];
  return out;
}

/** One step from t to tNext (either direction) of the ODE y' = f(y, t) by RK4 or Heun. */
function* odeStep(f: (y: Float64Array, t: number) => HostSteps<Float64Array>, y: Float64Array, t: number, tNext: number, method: 'rk4' | 'heun'): HostSteps<Float64Array> {
  const m = y.length;
  const h = tNext - t;
  const add = (a: Float64Array, b: Float64Array, s: number) => {
    const o = new Float64Array(m);
    for (let i = 0; i < m; i++) o[i] = a[i] + s * b[i];
    return o;
  };
  const k1 = yield* f(y, t);
  if (method === 'heun') {
    const k2 = yield* f(add(y, k1, h), tNext);
    const o = new Float64Array(m);
    for (let i = 0; i < m; i++) o[i] = y[i] + 0.5 * h * (k1[i] + k2[i]);
    return o;
  }
  const k2 = yield* f(add(y, k1, h / 2), t + h / 2);
  const k3 = yield* f(add(y, k2, h / 2), t + h / 2);
  const k4 = yield* f(add(y, k3, h), tNext);
  const o = new Float64Array(m);
  for (let i = 0; i < m; i++) o[i] = y[i] + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  return o;
}

function odeSettings(sde: Sde, opts: OdeOptions, where: string): { steps: number; method: 'rk4' | 'heun'; eps: number } {
  const steps = checkSteps(opts.steps ?? 100, where, 'steps');
  const method = opts.method ?? 'rk4';
  if (method !== 'rk4' && method !== 'heun') throw new RangeError(`${where}: method must be 'rk4' or 'heun', got '${String(method)}'`);
  return { steps, method, eps: checkEps(sde, opts.eps ?? sde.eps, where) };
}

/**
 * Returns n×dim draws by integrating the probability-flow ODE from prior draws at T down to
 * eps. Deterministic given the prior draws; with the exact score the draws follow p_eps up
 * to the integrator's error.
 */
export function sampleOde(field: ScoreField, sde: Sde, n: number, key: Key, opts: OdeOptions = {}): Float64Array {
  return runSync(sampleOdeSteps(field, sde, n, key, opts));
}

/** {@link sampleOde} as host-read steps. */
export function* sampleOdeSteps(field: ScoreField, sde: Sde, n: number, key: Key, opts: OdeOptions = {}): HostSteps<Float64Array> {
  const where = 'sampleOde';
  checkN(n, where);
  const { steps, method, eps } = odeSettings(sde, opts, where);
  let x: Float64Array = samplePrior(sde, n, field.dim, key.rng());
  // Grid points as T − (T − eps)·i/steps, so the last one is eps exactly.
  const at = (i: number) => (i === steps ? eps : sde.T - ((sde.T - eps) * i) / steps);
  for (let i = 0; i < steps; i++) x = yield* odeStep((y, s) => flow(field, sde, y, n, s), x, at(i), at(i + 1), method);
  checkFinite(x, where, 'the result (the score diverged; try more steps)');
  return x;
}

/** Options of {@link odeLogLikelihood}. */
export interface OdeLikelihoodOptions extends OdeOptions {
  /** 'exact' (default when dim <= 8; needs dim backward passes a step) or 'hutchinson'. */
  divergence?: 'exact' | 'hutchinson';
  /** Key for the Rademacher probes of Hutchinson's estimator (default Key.seed(0)). */
  key?: Key;
}

/** The result of {@link odeLogLikelihood}, per row. */
export interface OdeLikelihood {
  /** log p_eps(x): the model's log density at the data end of the flow. */
  logp: Float64Array;
  /** log p_T of the endpoint under the prior. */
  priorLogp: Float64Array;
  /** ∫_eps^T ∇·F dt, so logp = priorLogp + deltaLogp. */
  deltaLogp: Float64Array;
  /** The endpoints x_T (n×dim). */
  z: Float64Array;
}

/**
 * Returns the log density of the flow's model at the rows of x, by integrating the
 * probability-flow ODE together with the instantaneous change of variables from eps to T.
 * The field must provide `scoreAndDivergence`. Hutchinson's estimator (one Rademacher probe
 * per row, fixed along the path) gives an unbiased estimate of logp with variance; the exact
 * divergence gives it up to integrator error.
 */
export function odeLogLikelihood(field: ScoreField, sde: Sde, x: Float64Array, n: number, opts: OdeLikelihoodOptions = {}): OdeLikelihood {
  return runSync(odeLogLikelihoodSteps(field, sde, x, n, opts));
}

/** {@link odeLogLikelihood} as host-read steps (the field's `scoreAndDivergenceSteps` where it has them). */
export function* odeLogLikelihoodSteps(field: ScoreField, sde: Sde, x: Float64Array, n: number, opts: OdeLikelihoodOptions = {}): HostSteps<OdeLikelihood> {
  const where = 'odeLogLikelihood';
  checkN(n, where);
  const d = field.dim;
  if (x.length !== n * d) throw new RangeError(`${where}: x has ${x.length} values, expected n·dim = ${n * d}`);
  checkFinite(x, where, 'x');
  const { steps, method, eps } = odeSettings(sde, opts, where);
  const divergence = opts.divergence ?? (d <= 8 ? 'exact' : 'hutchinson');
  if (divergence !== 'exact' && divergence !== 'hutchinson') {
    throw new RangeError(`${where}: divergence must be 'exact' or 'hutchinson', got '${String(divergence)}'`);
  }
  if (!field.scoreAndDivergence && !field.scoreAndDivergenceSteps) throw new RangeError(`${where}: the score field has no scoreAndDivergence`);
  function* sad(xs: Float64Array, t: number, probe?: Float64Array): HostSteps<{ score: Float64Array; div: Float64Array }> {
    return field.scoreAndDivergenceSteps ? yield* field.scoreAndDivergenceSteps(xs, n, t, probe) : field.scoreAndDivergence!(xs, n, t, probe);
  }
  let probe: Float64Array | undefined;
  if (divergence === 'hutchinson') {
    const rng = (opts.key ?? Key.seed(0)).rng();
    probe = new Float64Array(n * d);
    for (let i = 0; i < probe.length; i++) probe[i] = rng.uniform() < 0.5 ? -1 : 1;
  }
  const nd = n * d;
  // Augmented state [x (n·d), ∫∇·F (n)].
  const f = function* (y: Float64Array, t: number): HostSteps<Float64Array> {
    const xs = y.subarray(0, nd);
    const { score, div } = yield* sad(xs, t, probe);
    const c = sde.driftCoef(t);
    const h = 0.5 * sde.diffusion(t) ** 2;
    const out = new Float64Array(nd + n);
    for (let k = 0; k < nd; k++) out[k] = c * xs[k] - h * score[k];
    for (let i = 0; i < n; i++) out[nd + i] = d * c - h * div[i];
    return out;
  };
  let y: Float64Array = new Float64Array(nd + n);
  y.set(x);
  const at = (i: number) => (i === steps ? sde.T : eps + ((sde.T - eps) * i) / steps);
  for (let i = 0; i < steps; i++) y = yield* odeStep(f, y, at(i), at(i + 1), method);
  const z = y.slice(0, nd);
  const deltaLogp = y.slice(nd);
  const priorLogp = priorLogDensity(sde, z, n, d);
  const logp = new Float64Array(n);
  for (let i = 0; i < n; i++) logp[i] = priorLogp[i] + deltaLogp[i];
  checkFinite(logp, where, 'the result (the score diverged; try more steps)');
  return { logp, priorLogp, deltaLogp, z };
}
