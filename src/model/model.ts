/**
 * A compiled model: its IR, its sites, and the entry points that need no data yet.
 * `bind(data)` gives a BoundModel with the log density, potential and transforms.
 */
import type { Diagnostic } from '../diagnostics/diagnostic';
import type { Source } from '../diagnostics/span';
import type { IRDim, IRExpr, IRProgram } from '../ir/types';
import { printIR, printIRExpr } from '../ir/print';
import { BoundModel } from './bound-model';
import type { DataInput } from './data';
import type { CheckResult } from '../check';
import { simulate, type SimulateOptions, type SimulatedDraw } from './simulate';
import { em, emAsync, type EmOptions, type EmResult } from '../infer/em';
import { tf, canReadSync, runOnHostBackend } from '../tensor';
import { onlineEm, type ChunkSource, type OnlineEmOptions, type OnlineEmResult } from '../infer/em/online';
import { optimize, optimizeAsync, type OptimizeOptions, type OptimizeResult } from '../infer/optimize';
import { sample, type McmcResult, type SampleOptions } from '../infer/mcmc';
import { vi, type ViOptions, type ViResult } from '../infer/vi';
import { viChunked, type ViChunkSource } from '../infer/vi/chunked';
import { isChunkSource } from './chunks';
import { smc, type SmcOptions, type SmcResult } from '../infer/smc';
import { scoreSample, type ScoreMethod, type ScoreResult, type ScoreSampleOptions } from '../infer/score';
import { diffusionFit, diffusionFitAsync, type DiffusionFitOptions, type DiffusionFitResult } from '../infer/score/diffusion-fit';
import { sampleParallel } from '../infer/mcmc/parallel';
import { viDeviceGradients } from '../infer/vi/device';
import { smcDevice } from '../infer/smc/device';
import { scoreSampleDeviceGradients } from '../infer/score/device';

/**
 * `deviceGradients: true` (nuts, hmc, mh, vi and the score-based samplers): the sampler or VI
 * loop runs in a worker thread and every potential and gradient it needs is computed in this
 * thread on its backend, webgpu's GPU (`sampleParallel`, `viDeviceGradients`,
 * `scoreSampleDeviceGradients`); smc: the particles' HMC moves evaluated as batches there
 * (`smcDevice`). `fit` then returns a promise.
 */
interface DeviceGradientsOption {
  deviceGradients?: boolean;
}

/** `model.fit` options: the method and that method's own options. */
export type FitOptions =
  | ({ method: 'em' } & EmOptions)
  | ({ method: 'map' | 'mle' } & Omit<OptimizeOptions, 'method'>)
  | ({ method: 'nuts' | 'hmc' | 'mh' | 'gibbs' } & Omit<SampleOptions, 'algorithm'> & DeviceGradientsOption)
  | ({ method: 'vi' } & ViOptions & DeviceGradientsOption)
  | ({ method: 'smc' } & SmcOptions & DeviceGradientsOption)
  | ({ method: ScoreMethod } & Omit<ScoreSampleOptions, 'method'> & DeviceGradientsOption)
  | ({ method: 'diffusion' } & DiffusionFitOptions);

/** What `model.fit` returns for each method (a promise of it with `deviceGradients: true`). */
export type FitResult<O extends FitOptions> = O extends { deviceGradients: true } ? Promise<MethodResult<O>> : MethodResult<O>;

/** The result type of each method. */
export type MethodResult<O extends FitOptions> = O extends { method: 'em' }
  ? EmResult
  : O extends { method: 'map' | 'mle' }
    ? OptimizeResult
    : O extends { method: 'vi' }
      ? ViResult
      : O extends { method: 'smc' }
        ? SmcResult
        : O extends { method: ScoreMethod }
          ? ScoreResult
          : O extends { method: 'diffusion' }
            ? DiffusionFitResult
            : McmcResult;

/** One named variable of the model, as users and inference families see it. */
export interface Site {
  name: string;
  kind: 'data' | 'param' | 'latent' | 'let';
  /** Symbolic shape, e.g. ['N', 'D']; sizes are resolved when data is bound. */
  shape: string[];
  /** Constraint or support: 'real', 'positive', 'simplex', 'category', ... */
  support: string;
  discrete: boolean;
  /** True for data that a `~` statement observes. */
  observed: boolean;
  /** For latents: summed out by enumeration or by the forward algorithm. */
  marginalized?: 'enumeration' | 'forward';
}

const INFIX: Record<string, string> = { add: '+', sub: '-', mul: '*', div: '/' };

/** A dim as the user wrote it: `N`, `K - 1`. */
function exprText(e: IRExpr): string {
  if (e.op === 'const') return String(e.value);
  if (e.op === 'size' || e.op === 'data') return e.name;
  if (e.op === 'call' && INFIX[e.fn] && e.args.length === 2) return `${exprText(e.args[0])} ${INFIX[e.fn]} ${exprText(e.args[1])}`;
  return printIRExpr(e);
}

const dimText = (d: IRDim) => (d.kind === 'const' ? String(d.n) : d.kind === 'size' ? d.name : exprText(d.expr));

export class Model {
  constructor(readonly ir: IRProgram, readonly checked: CheckResult, readonly source: Source, readonly warnings: Diagnostic[] = []) {}

  get name(): string {
    return this.ir.name;
  }

  /** Every data, parameter, latent and top-level let of the model. */
  get sites(): Site[] {
    const observed = new Set(this.ir.factors.filter((f) => f.kind === 'obs').map((f) => f.site!));
    const out: Site[] = [];
    for (const d of this.ir.data) {
      out.push({ name: d.name, kind: 'data', shape: d.shape.map(dimText), support: d.constraint?.name ?? d.elem, discrete: d.elem === 'int', observed: observed.has(d.name) });
    }
    for (const p of this.ir.params) {
      out.push({ name: p.name, kind: 'param', shape: p.shape.map(dimText), support: p.constraint.name, discrete: false, observed: false });
    }
    for (const l of this.ir.latents) {
      out.push({
        name: l.name, kind: 'latent', shape: l.shape.map(dimText), support: l.enumeration?.family === 'categorical' || l.enumeration?.family === 'categorical_logit' ? 'category' : 'int',
        discrete: true, observed: false, marginalized: l.chain ? 'forward' : 'enumeration',
      });
    }
    for (const l of this.ir.lets) out.push({ name: l.name, kind: 'let', shape: [], support: 'real', discrete: false, observed: false });
    return out;
  }

  /** The IR as text (what `mixppl ir` prints). */
  printIR(): string {
    return printIR(this.ir);
  }

  /**
   * Ancestral draws: parameters from their priors, latents, and every observed data
   * variable, given sizes and covariates in `data`. Parameters in `opts.fixed` are held.
   */
  simulate(data: DataInput, opts: SimulateOptions = {}): SimulatedDraw[] {
    return simulate(this.checked, data, { source: this.source, ...opts });
  }

  /** Binds data: validates it and returns the model's log density layer. Throws MixError on bad data. */
  bind(data: DataInput): BoundModel {
    return new BoundModel(this.ir, data, this.source);
  }

  /**
   * Binds `data` and runs one inference method: 'em' (`em`), 'map' / 'mle' (`optimize`),
   * 'nuts' / 'hmc' / 'mh' (`sample`, latents summed out) or 'gibbs' (`sample` with Gibbs over the
   * latents and NUTS on the parameters), 'vi' (`vi`), 'smc' (`smc`, tempered SMC) or a
   * score-based sampler, 'langevin' / 'mala' / 'annealed-langevin' / 'rdmc' (`scoreSample`), or
   * 'diffusion' (`diffusionFit`: a denoising-score-matching density of the observed rows, with
   * the model's held-out log likelihood for comparison; call the result's `dispose()`). The bound
   * data is released afterwards (so a VI result's `psis` needs the traced potential; call
   * `vi(model.bind(data))` to keep the binding).
   *
   * On a backend that cannot read synchronously (webgpu under Node.js), `method: 'em'` runs
   * the async EM loop (`emAsync`) and returns a promise of its result: write
   * `await model.fit(data, { method: 'em' })`, which works on every backend. 'map' / 'mle'
   * (`optimizeAsync`) and 'diffusion' (`diffusionFitAsync`; the result's `sampleAsync` and
   * `logLikelihoodAsync` read the network there) also run on the device; the other methods
   * return a promise too and run on the host (runOnHostBackend; docs/gpu.md, "Inference
   * families on webgpu").
   *
   * With `deviceGradients: true` ('nuts', 'hmc', 'mh', 'vi', 'langevin', 'mala',
   * 'annealed-langevin', 'rdmc') the sampler or VI loop runs in a worker thread and every
   * potential and gradient it needs is computed in this thread on the backend — on webgpu the
   * GPU — as `sampleParallel`, `viDeviceGradients` and `scoreSampleDeviceGradients` do; with
   * 'smc' the particles' HMC moves are evaluated there as batches (`smcDevice`); the result is
   * a promise on every backend.
   *
   * With `method: 'em'` and `online`, `data` is a stream of chunks instead (an iterable or
   * async iterable of data objects, each holding some rows, or a function returning a fresh
   * one for several passes): stepwise EM on the expected sufficient statistics (`onlineEm`),
   * resolving to its result. With `method: 'vi'` and `minibatch`, likewise a stream of chunks:
   * minibatch SVI with the likelihood scaled by the total rows (`viChunked`), resolving to a
   * ViResult.
   *
   * @example
   * const fit = model.fit({ K: 3, y }, { method: 'nuts', chains: 4, seed: 1 });
   * const online = await model.fit(chunksOf(rows), { method: 'em', online: { passes: 3, data: { K: 3 } } });
   */
  fit(chunks: ChunkSource, opts: { method: 'em'; online: true | OnlineEmOptions; seed?: number; regCovar?: number }): Promise<OnlineEmResult>;
  fit(chunks: ViChunkSource, opts: { method: 'vi' } & ViOptions): Promise<ViResult>;
  fit<O extends FitOptions>(data: DataInput, opts: O): FitResult<O>;
  fit(data: DataInput | ChunkSource, opts: FitOptions | { method: 'em'; online: true | OnlineEmOptions; seed?: number; regCovar?: number }): unknown {
    if (opts.method === 'vi' && isChunkSource(data)) {
      const { method: _m, ...rest } = opts as { method: 'vi' } & ViOptions;
      // On webgpu (no synchronous reads) each chunk is bound on the host, as in fitBatch.
      return canReadSync() ? viChunked(this, data, rest) : runOnHostBackend(() => viChunked(this, data, rest));
    }
    if (opts.method === 'em' && 'online' in opts && opts.online) {
      const { online, seed, regCovar } = opts as { online: true | OnlineEmOptions; seed?: number; regCovar?: number };
      const o = online === true ? {} : online;
      const src = data as unknown;
      const iterable = (x: unknown) => x != null && typeof x === 'object' && (Symbol.iterator in x || Symbol.asyncIterator in x);
      if (typeof src !== 'function' && !iterable(src)) {
        return Promise.reject(new RangeError("fit: method 'em' with online takes a stream of data chunks (an array, iterable or async iterable of data objects, or a function returning one), not one data object"));
      }
      return onlineEm(this, src as ChunkSource, { seed, regCovar, ...o });
    }
    return this.fitBatch(data as DataInput, opts as FitOptions);
  }

  private fitBatch<O extends FitOptions>(data: DataInput, opts: O, onHost = false): FitResult<O> {
    if ('deviceGradients' in opts) {
      const { deviceGradients, ...plain } = opts as O & DeviceGradientsOption;
      if (deviceGradients === true) return fitWithDeviceGradients(this, data, opts) as unknown as FitResult<O>;
      if (deviceGradients !== false && deviceGradients !== undefined) throw new RangeError(`fit: deviceGradients must be true or false, got ${String(deviceGradients)}`);
      opts = plain as O;
    }
    if (!onHost && !canReadSync() && !ON_DEVICE.has(opts.method)) {
      // webgpu under Node.js: the families below evaluate the model by the float64 replay on
      // the host; they bind and trace on tfjs's cpu backend (runOnHostBackend) and the caller
      // awaits the result. (EM, MAP / MLE and diffusion run on the device, their reads awaited.)
      return pendingResult(runOnHostBackend(() => this.fitBatch(data, opts, true)), opts.method) as unknown as FitResult<O>;
    }
    const bound = this.bind(data);
    let disposeLater = false;
    // webgpu under Node.js: the method's async loop runs on the device, its reads awaited; the
    // binding is released when it settles, and the caller awaits the result.
    const onDevice = <T>(run: Promise<T>): FitResult<O> => {
      disposeLater = true;
      return pendingResult(run.finally(() => bound.dispose()), opts.method) as unknown as FitResult<O>;
    };
    try {
      switch (opts.method) {
        case 'em': {
          const { method: _m, ...rest } = opts as { method: 'em' } & EmOptions;
          return canReadSync() ? em(bound, rest) as FitResult<O> : onDevice(emAsync(bound, rest));
        }
        case 'map':
        case 'mle':
          // On webgpu: the potential and its gradient on the device, L-BFGS on the host.
          return canReadSync() ? optimize(bound, opts as OptimizeOptions) as FitResult<O> : onDevice(optimizeAsync(bound, opts as OptimizeOptions));
        case 'nuts':
        case 'hmc':
        case 'mh':
        case 'gibbs': {
          const { method, ...rest } = opts as { method: 'nuts' | 'hmc' | 'mh' | 'gibbs' } & SampleOptions;
          return sample(bound, { ...rest, algorithm: method === 'gibbs' ? 'nuts' : method, ...(method === 'gibbs' ? { latents: 'gibbs' as const } : {}) }) as FitResult<O>;
        }
        case 'vi': {
          const { method: _m, ...rest } = opts as { method: 'vi' } & ViOptions;
          return vi(bound, rest) as FitResult<O>;
        }
        case 'smc': {
          const { method: _m, ...rest } = opts as { method: 'smc' } & SmcOptions;
          return smc(this, bound, { data, ...rest }) as FitResult<O>;
        }
        case 'langevin':
        case 'mala':
        case 'annealed-langevin':
        case 'rdmc':
          return scoreSample(bound, opts as ScoreSampleOptions) as FitResult<O>;
        case 'diffusion': {
          const { method: _m, ...rest } = opts as { method: 'diffusion' } & DiffusionFitOptions;
          // On webgpu: training and the held-out log-likelihood on the device.
          return canReadSync() ? diffusionFit(this, data, rest, bound) as FitResult<O> : onDevice(diffusionFitAsync(this, data, rest, bound));
        }
        default:
          throw new RangeError(
            `fit: unknown method '${String((opts as { method: unknown }).method)}'; methods: em, map, mle, nuts, hmc, mh, gibbs, vi, smc, langevin, mala, annealed-langevin, rdmc, diffusion`,
          );
      }
    } finally {
      if (!disposeLater) bound.dispose();
    }
  }
}

/**
 * `fit` with `deviceGradients: true`: the gradient-based families with every potential and
 * gradient computed in this thread on its backend, the sampler or loop in a worker thread.
 */
function fitWithDeviceGradients(model: Model, data: DataInput, opts: FitOptions): Promise<unknown> {
  const { method, deviceGradients: _d, ...rest } = opts as FitOptions & DeviceGradientsOption;
  switch (method) {
    case 'nuts':
    case 'hmc':
    case 'mh':
      return sampleParallel(model, data, { ...(rest as SampleOptions), algorithm: method, deviceGradients: true });
    case 'vi':
      return viDeviceGradients(model, data, rest as ViOptions);
    case 'smc':
      return smcDevice(model, data, { data, ...(rest as SmcOptions) });
    case 'langevin':
    case 'mala':
    case 'annealed-langevin':
    case 'rdmc':
      return scoreSampleDeviceGradients(model, data, { ...(rest as Omit<ScoreSampleOptions, 'method'>), method });
    default:
      return Promise.reject(new RangeError(
        `fit: deviceGradients applies to methods nuts, hmc, mh, vi, smc, langevin, mala, annealed-langevin and rdmc, not '${String(method)}'${method === 'em' || method === 'map' || method === 'mle' || method === 'diffusion' ? ` (on webgpu '${method}' runs on the device without it)` : method === 'gibbs' ? ' (Gibbs over the latents runs on the host; nuts sums them out)' : ''}`,
      ));
  }
}

/** The methods whose arithmetic runs on webgpu (reads awaited); the others run on the host there. */
const ON_DEVICE: ReadonlySet<string> = new Set(['em', 'map', 'mle', 'diffusion']);

/**
 * A result that only the async loop can give (webgpu, which cannot read synchronously): the
 * promise, which `await model.fit(...)` resolves (as it does any result); reading a field of
 * it without awaiting throws, saying so, instead of giving undefined.
 */
function pendingResult<T>(p: Promise<T>, method: string): Promise<T> {
  return new Proxy(p, {
    get(target, key) {
      if (key === 'then' || key === 'catch' || key === 'finally' || typeof key === 'symbol') {
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      throw new TypeError(`fit: method '${method}' on this backend (${tf.getBackend()}, no synchronous reads) returns a promise; await model.fit(...) before reading '${String(key)}'`);
    },
  });
}
