/**
 * Learning a score from samples: denoising score matching (Vincent 2011) over a VP or VE
 * SDE with a small time-conditioned MLP (src/tensor/mlp.ts), then sampling by the reverse
 * SDE (predictor–corrector) or the probability-flow ODE, which also gives log-likelihoods
 * (Song et al. 2021).
 *
 * Parameterisation. The data are standardised per coordinate, y = (x − shift)/scale, so one
 * SDE schedule fits any data scale. With y_t = a_t y + s_t z the conditional score is
 * −z/s_t; the network predicts ε̂(y_t, t) ≈ −E[z | y_t] and the score is ε̂/s_t. The loss
 * E‖ε̂(y_t, t) + z‖² over t ~ U(eps, T) is DSM with the weighting λ(t) = s_t² (Song et al.'s
 * "likelihood-free" default), which keeps every noise level on the same scale.
 *
 * Generative use of a fitted model: `trainScore` takes any rows of draws, so the draws of a
 * fitted model (posterior-predictive or prior-predictive simulations, MCMC draws of
 * parameters) can be passed as `data`: the trained score then gives new draws
 * (`sampleScore`) and a density estimate (`logLikelihoodOde`) of that draw law, with no
 * access to the model's density.
 *
 * Backends. Training, sampling and the ODE log-likelihood are host-read steps
 * (src/tensor/host-reads.ts): the plain functions read with dataSync; `trainScoreAsync`,
 * `sampleScoreAsync` and `logLikelihoodOdeAsync` await each read, so they also run on webgpu
 * under Node.js (the network's arithmetic on the device, the samplers' float64 updates on the
 * host). On a backend with synchronous reads both give the same numbers.
 */
import { TimeMlp } from '../../tensor/mlp';
import { Key } from '../../tensor/random';
import { runAsync, runSync, type HostSteps } from '../../tensor/host-reads';
import { tf, canReadSync, BackendUnavailableError } from '../../tensor';
import { affineGmm, gmmScore, noisedGmmAt, sampleGmm, type Gmm } from './gmm-score';
import { flattenRows, type Rows } from './mmd';
import { odeLogLikelihoodSteps, sampleOdeSteps, samplePcSteps, veSde, vpSde, type ScoreField, type Sde } from './sde';

/** Options of {@link trainScore}. */
export interface TrainScoreOptions {
  /** The forward SDE: 'vp' (default; βmin 0.1, βmax 20), 've' (σmin 0.01, σmax the largest distance between standardised rows), or an Sde. */
  sde?: 'vp' | 've' | Sde;
  /** Width of the hidden layers (default 64). */
  hidden?: number;
  /** Number of hidden layers (default 3). */
  layers?: number;
  /** Hidden activation (default 'swish'). */
  activation?: 'swish' | 'tanh';
  /** Adam steps (default 2000). */
  steps?: number;
  /** Rows per minibatch, drawn with replacement (default 256). */
  batch?: number;
  /** Peak learning rate; cosine-decayed to a tenth over the run (default 2e-3). */
  lr?: number;
  /** Seed of the initial weights, minibatches, times and noise (default 0). */
  seed?: number;
  /** Standardise each coordinate by the data mean and sd (default true). */
  standardize?: boolean;
  /** Row length when `data` is a flat Float64Array. */
  dim?: number;
  /** Called every step with the 0-based step and its loss (e.g. for progress). */
  onStep?: (step: number, loss: number) => void;
}

/** A trained score model. Call `dispose()` to free its network. */
export interface ScoreModel {
  /** Dimension of the data. */
  readonly dim: number;
  /** The forward SDE (acting on the standardised coordinates). */
  readonly sde: Sde;
  /** Standardisation: y = (x − shift)/scale. */
  readonly shift: Float64Array;
  readonly scale: Float64Array;
  /** The learned score of the noised standardised data, for the samplers of sde.ts. */
  readonly field: ScoreField;
  /** The training loss at every step. */
  readonly losses: Float64Array;
  /** Options used, defaults filled in. */
  readonly settings: Required<Omit<TrainScoreOptions, 'sde' | 'dim' | 'onStep'>> & { sde: string };
  /**
   * Returns ∇_x log p_t(x) in the data's own coordinates, where p_t is the law of
   * shift + scale·y_t (the standardised data noised to time t): scale⁻¹·s_y((x − shift)/scale, t).
   */
  score(x: Rows, t: number): number[][];
  /** {@link score} with the read awaited (any backend; webgpu under Node.js needs it). */
  scoreAsync(x: Rows, t: number): Promise<number[][]>;
  /** Frees the network; later calls throw. */
  dispose(): void;
}

function posInt(v: unknown, where: string, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`${where}: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function checkTime(sde: Sde, t: unknown, where: string): number {
  if (typeof t !== 'number' || !(t > 0) || !(t <= sde.T)) throw new RangeError(`${where}: t must be in (0, ${sde.T}], got ${String(t)}`);
  return t;
}

/** The largest distance between rows (of at most `cap` evenly spaced rows). */
function maxDistance(y: Float64Array, n: number, d: number, cap = 1000): number {
  const stride = Math.max(1, Math.floor(n / cap));
  let best = 0;
  for (let i = 0; i < n; i += stride) {
    for (let j = i + stride; j < n; j += stride) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (y[i * d + k] - y[j * d + k]) ** 2;
      if (s > best) best = s;
    }
  }
  return Math.sqrt(best);
}

/**
 * Returns a score model trained by denoising score matching on the rows of `data`
 * (number[][], an array of Float64Arrays, or a flat Float64Array with `dim`).
 *
 * The rows can be observed data (density estimation) or draws from a fitted model — e.g.
 * posterior-predictive simulations, or MCMC draws of the parameters flattened to rows — for
 * generative use: the trained model then samples and scores that draw law without the
 * model's density. Rows must be finite; every coordinate must vary (or pass
 * `standardize: false`). Deterministic given `seed` and the backend.
 *
 * @example
 * const model = trainScore(rows, { sde: 'vp', hidden: 64, layers: 3, steps: 2000, seed: 1 });
 * const draws = sampleScore(model, 1000, { sampler: 'pc', steps: 500, seed: 2 });
 * const logp = logLikelihoodOde(model, heldOut);
 * model.dispose();
 */
export function trainScore(data: Rows, opts: TrainScoreOptions = {}): ScoreModel {
  return runSync(trainScoreSteps(data, opts));
}

/** {@link trainScore} with each step's loss read awaited: runs on every backend, webgpu included. */
export function trainScoreAsync(data: Rows, opts: TrainScoreOptions = {}): Promise<ScoreModel> {
  return runAsync(trainScoreSteps(data, opts));
}

/** {@link trainScore} as host-read steps. */
export function* trainScoreSteps(data: Rows, opts: TrainScoreOptions = {}): HostSteps<ScoreModel> {
  const where = 'trainScore';
  const { data: x, n, dim: d } = flattenRows(data, `${where}: data`, opts.dim);
  if (n < 2) throw new RangeError(`${where}: data needs at least 2 rows, got ${n}`);
  const hidden = posInt(opts.hidden ?? 64, where, 'hidden');
  const layers = posInt(opts.layers ?? 3, where, 'layers');
  const steps = posInt(opts.steps ?? 2000, where, 'steps');
  const batch = posInt(opts.batch ?? 256, where, 'batch');
  const lr = opts.lr ?? 2e-3;
  if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`${where}: lr must be a positive finite number, got ${String(lr)}`);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${String(seed)}`);
  const activation = opts.activation ?? 'swish';
  const standardize = opts.standardize ?? true;

  const shift = new Float64Array(d);
  const scale = new Float64Array(d).fill(1);
  if (standardize) {
    for (let j = 0; j < d; j++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += x[i * d + j];
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x[i * d + j] - m) ** 2;
      const sd = Math.sqrt(v / (n - 1));
      if (!(sd > 0)) throw new RangeError(`${where}: data column ${j} is constant; it cannot be standardised (pass standardize: false)`);
      shift[j] = m;
      scale[j] = sd;
    }
  }
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) y[i * d + j] = (x[i * d + j] - shift[j]) / scale[j];

  let sde: Sde;
  const sdeOpt = opts.sde ?? 'vp';
  if (sdeOpt === 'vp') sde = vpSde();
  else if (sdeOpt === 've') sde = veSde({ sigmaMax: Math.max(1, maxDistance(y, n, d)) });
  else if (typeof sdeOpt === 'object' && sdeOpt !== null && (sdeOpt.kind === 'vp' || sdeOpt.kind === 've')) sde = sdeOpt;
  else throw new RangeError(`${where}: sde must be 'vp', 've' or an Sde from vpSde()/veSde(), got ${String(sdeOpt)}`);

  const [kNet, kTrain] = Key.seed(seed).split(2);
  const net = new TimeMlp({ dim: d, hidden, layers, activation, seed: kNet.words()[1] });
  const rng = kTrain.rng();
  const losses = new Float64Array(steps);
  const xb = new Float32Array(batch * d);
  const tb = new Float32Array(batch);
  const zb = new Float32Array(batch * d);
  try {
    for (let s = 0; s < steps; s++) {
      for (let b = 0; b < batch; b++) {
        const i = rng.uniformInt(n);
        const t = sde.eps + (sde.T - sde.eps) * rng.uniform();
        const a = sde.meanScale(t);
        const sd = sde.std(t);
        tb[b] = t;
        for (let j = 0; j < d; j++) {
          const z = rng.normal();
          xb[b * d + j] = a * y[i * d + j] + sd * z;
          zb[b * d + j] = -z;
        }
      }
      const rate = lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * s) / steps)));
      const loss = yield* net.trainStepSteps(xb, tb, zb, batch, { lr: rate });
      if (!Number.isFinite(loss)) throw new RangeError(`${where}: the loss is ${loss} at step ${s}; lower lr`);
      losses[s] = loss;
      opts.onStep?.(s, loss);
    }
  } catch (e) {
    net.dispose();
    throw e;
  }

  // The network predicts ε̂; the score is ε̂ / s_t.
  function* scoreSteps(xs: Float64Array, m: number, t: number): HostSteps<Float64Array> {
    const out = yield* net.predictSteps(xs, m, t);
    const inv = 1 / sde.std(t);
    for (let k = 0; k < out.length; k++) out[k] *= inv;
    return out;
  }
  function* scoreAndDivergenceSteps(xs: Float64Array, m: number, t: number, probe?: Float64Array): HostSteps<{ score: Float64Array; div: Float64Array }> {
    const { out, div } = yield* net.predictWithDivergenceSteps(xs, m, t, probe);
    const inv = 1 / sde.std(t);
    for (let k = 0; k < out.length; k++) out[k] *= inv;
    for (let k = 0; k < div.length; k++) div[k] *= inv;
    return { score: out, div };
  }
  const field: ScoreField = {
    dim: d,
    score: (xs, m, t) => runSync(scoreSteps(xs, m, t)),
    scoreAndDivergence: (xs, m, t, probe) => runSync(scoreAndDivergenceSteps(xs, m, t, probe)),
    scoreSteps,
    scoreAndDivergenceSteps,
  };
  function* dataScoreSteps(xr: Rows, t: number): HostSteps<number[][]> {
    const w = 'ScoreModel.score';
    checkTime(sde, t, w);
    const { data: xs, n: m } = flattenRows(xr, `${w}: x`, d);
    const ys = new Float64Array(m * d);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) ys[i * d + j] = (xs[i * d + j] - shift[j]) / scale[j];
    const s = yield* scoreSteps(ys, m, t);
    return Array.from({ length: m }, (_, i) => Array.from({ length: d }, (_, j) => s[i * d + j] / scale[j]));
  }
  const settings = { hidden, layers, activation, steps, batch, lr, seed, standardize, sde: sde.describe() };
  return {
    dim: d,
    sde,
    shift,
    scale,
    field,
    losses,
    settings,
    score: (xr, t) => {
      if (!canReadSync()) {
        throw new BackendUnavailableError(tf.getBackend(), "ScoreModel.score() reads the network synchronously, which this backend cannot do under Node.js; use 'await model.scoreAsync(x, t)'");
      }
      return runSync(dataScoreSteps(xr, t));
    },
    scoreAsync: (xr, t) => runAsync(dataScoreSteps(xr, t)),
    dispose: () => net.dispose(),
  };
}

/** Options of {@link sampleScore}. */
export interface SampleScoreOptions {
  /** 'pc' (reverse SDE, predictor–corrector; default) or 'ode' (probability flow). */
  sampler?: 'pc' | 'ode';
  /** Predictor / integrator steps (default 500 for pc, 100 for ode). */
  steps?: number;
  /** Langevin corrector steps per predictor step, pc only (default 1). */
  correctorSteps?: number;
  /** Corrector signal-to-noise ratio, pc only (default 0.1). */
  snr?: number;
  /** ODE integrator, ode only (default 'rk4'). */
  method?: 'rk4' | 'heun';
  /** Seed of the prior draws and the sampler's noise (default 0). */
  seed?: number;
}

function fromStandard(model: ScoreModel, y: Float64Array, n: number): number[][] {
  const d = model.dim;
  return Array.from({ length: n }, (_, i) => Array.from({ length: d }, (_, j) => model.shift[j] + model.scale[j] * y[i * d + j]));
}

/**
 * Returns n new draws (rows, data coordinates) from a trained score model, by the reverse
 * SDE with predictor–corrector steps or by the probability-flow ODE.
 */
export function sampleScore(model: ScoreModel, n: number, opts: SampleScoreOptions = {}): number[][] {
  return runSync(sampleScoreSteps(model, n, opts));
}

/** {@link sampleScore} with the network's reads awaited (any backend; webgpu under Node.js needs it). */
export function sampleScoreAsync(model: ScoreModel, n: number, opts: SampleScoreOptions = {}): Promise<number[][]> {
  return runAsync(sampleScoreSteps(model, n, opts));
}

/** {@link sampleScore} as host-read steps. */
export function* sampleScoreSteps(model: ScoreModel, n: number, opts: SampleScoreOptions = {}): HostSteps<number[][]> {
  const where = 'sampleScore';
  posInt(n, where, 'n');
  const sampler = opts.sampler ?? 'pc';
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${String(seed)}`);
  const key = Key.seed(seed);
  let y: Float64Array;
  if (sampler === 'pc') {
    y = yield* samplePcSteps(model.field, model.sde, n, key, { steps: opts.steps ?? 500, correctorSteps: opts.correctorSteps ?? 1, snr: opts.snr });
  } else if (sampler === 'ode') {
    y = yield* sampleOdeSteps(model.field, model.sde, n, key, { steps: opts.steps ?? 100, method: opts.method });
  } else {
    throw new RangeError(`${where}: sampler must be 'pc' or 'ode', got '${String(sampler)}'`);
  }
  return fromStandard(model, y, n);
}

/** Options of {@link logLikelihoodOde}. */
export interface LogLikelihoodOdeOptions {
  /** Integrator steps (default 100). */
  steps?: number;
  /** Integrator (default 'rk4'). */
  method?: 'rk4' | 'heun';
  /** 'exact' (default for dim <= 8) or 'hutchinson'. */
  divergence?: 'exact' | 'hutchinson';
  /** Seed of Hutchinson's probes (default 0). */
  seed?: number;
}

/**
 * Returns the model's log density at each row of x (data coordinates), by the
 * probability-flow ODE with the instantaneous change of variables, minus Σ log scale for
 * the standardisation. This is the density of the flow's model at t = eps, which approaches
 * the data law as training and integration improve.
 */
export function logLikelihoodOde(model: ScoreModel, x: Rows, opts: LogLikelihoodOdeOptions = {}): Float64Array {
  return runSync(logLikelihoodOdeSteps(model, x, opts));
}

/** {@link logLikelihoodOde} with the network's reads awaited (any backend; webgpu under Node.js needs it). */
export function logLikelihoodOdeAsync(model: ScoreModel, x: Rows, opts: LogLikelihoodOdeOptions = {}): Promise<Float64Array> {
  return runAsync(logLikelihoodOdeSteps(model, x, opts));
}

/** {@link logLikelihoodOde} as host-read steps. */
export function* logLikelihoodOdeSteps(model: ScoreModel, x: Rows, opts: LogLikelihoodOdeOptions = {}): HostSteps<Float64Array> {
  const where = 'logLikelihoodOde';
  const d = model.dim;
  const { data, n } = flattenRows(x, `${where}: x`, d);
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${where}: seed must be a safe integer, got ${String(seed)}`);
  const y = new Float64Array(n * d);
  let logJac = 0;
  for (let j = 0; j < d; j++) logJac += Math.log(model.scale[j]);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) y[i * d + j] = (data[i * d + j] - model.shift[j]) / model.scale[j];
  const { logp } = yield* odeLogLikelihoodSteps(model.field, model.sde, y, n, {
    steps: opts.steps, method: opts.method, divergence: opts.divergence, key: Key.seed(seed),
  });
  for (let i = 0; i < n; i++) logp[i] -= logJac;
  return logp;
}

/** The result of {@link scoreError}. */
export interface ScoreErrorResult {
  /** The time compared at. */
  t: number;
  /** Σ‖ŝ − s‖² / Σ‖s‖² over the points (standardised coordinates). */
  relError: number;
}

/**
 * Returns the relative squared error of the model's learned score against the exact score of
 * `gmm` (the data law in data coordinates) noised to each time in `ts`, at n points drawn
 * from the noised law — i.e. where the score matters for sampling. For data known to come
 * from a Gaussian mixture (tests, benchmarks).
 */
export function scoreError(model: ScoreModel, gmm: Gmm, ts: readonly number[], opts: { n?: number; seed?: number } = {}): ScoreErrorResult[] {
  const where = 'scoreError';
  const n = posInt(opts.n ?? 1000, where, 'n');
  const d = model.dim;
  if (gmm.means[0]?.length !== d) throw new RangeError(`${where}: the mixture has dimension ${gmm.means[0]?.length}, the model ${d}`);
  const g = affineGmm(gmm, model.shift, model.scale);
  const key = Key.seed(opts.seed ?? 0);
  return ts.map((t, i) => {
    checkTime(model.sde, t, where);
    const gt = noisedGmmAt(g, model.sde, t);
    const { x } = sampleGmm(gt, n, key.fold(i));
    const exact = gmmScore(gt, x, n);
    const learned = model.field.score(x, n, t);
    let num = 0;
    let den = 0;
    for (let k = 0; k < x.length; k++) {
      num += (learned[k] - exact[k]) ** 2;
      den += exact[k] ** 2;
    }
    return { t, relError: num / den };
  });
}
