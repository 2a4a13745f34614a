/**
 * `mixppl fit --method vi|smc|langevin|mala|annealed-langevin|rdmc`: the approximate and
 * score-based families. VI fits a guide on the unconstrained scale and summarises 4000 draws
 * from it; SMC runs adaptively tempered SMC and summarises the weighted particles; the
 * score-based samplers print the MCMC summary table of their draws (annealed Langevin also
 * its log evidence); `--method diffusion` learns a score-based density of the observed rows
 * and compares its held-out log-likelihood with the model's (runDiffusion, at the end).
 */
import { writeFileSync } from 'node:fs';
import type { Model } from '../model/model';
import type { DataValue } from '../model/data';
import { vi, type ViResult } from '../infer/vi';
import { viDeviceGradients } from '../infer/vi/device';
import { smc, type SmcOptions, type SmcResult } from '../infer/smc';
import { smcDevice } from '../infer/smc/device';
import { currentBackend } from '../tensor/backend';
import { scoreSample, SCORE_METHODS, type ScoreMethod, type ScoreProgress, type ScoreResult, type ScoreSampleOptions } from '../infer/score';
import { scoreSampleDeviceGradients } from '../infer/score/device';
import { formatSummary } from '../infer/mcmc/summary';
import { batchLine, OptionError } from './sample';
import { withLineProgress, type LineProgress } from './progress';
import { diffusionFitAsync, type DiffusionFitResult } from '../infer/score/diffusion-fit';
import { toCsv } from './data-io';

function int(opts: Map<string, string>, key: string, dflt: number): number {
  const raw = opts.get(key);
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new OptionError(`${key} must be a positive integer, got '${raw}'`);
  return v;
}

/** The guides of `--guide` (src/infer/vi). */
const GUIDES = ['meanfield', 'fullrank', 'lowrank', 'planar', 'coupling', 'amortized'] as const;
type Guide = (typeof GUIDES)[number];

const SMC_KERNELS = ['hmc', 'rwmh', 'gibbs', 'auto'] as const;
type SmcKernel = (typeof SMC_KERNELS)[number];

/** The methods this command runs. */
export const APPROX_METHODS = ['vi', 'smc', ...SCORE_METHODS, 'diffusion'] as const;
export type ApproxMethod = (typeof APPROX_METHODS)[number];

/** The options each method of this command takes (besides --data, --set, --method, --seed, --backend, --out, --quiet, --threads). */
export function approxOptions(method: ApproxMethod): string[] {
  if (method === 'vi') return ['--guide', '--max-iter', '--grad-samples', '--device-gradients'];
  if (method === 'smc') return ['--particles', '--waste-free', '--kernel', '--device-gradients'];
  if (method === 'diffusion') return ['--steps', '--samples', '--draws'];
  return ['--chains', '--draws', ...(method === 'langevin' || method === 'mala' ? ['--warmup'] : []), '--device-gradients'];
}

export function approxCommand(model: Model, data: Record<string, DataValue>, method: ApproxMethod, opts: Map<string, string>, flags: ReadonlySet<string> = new Set()): number | Promise<number> {
  // Options are checked before any work: a bad one is a usage error (exit 2).
  const seed = Number(opts.get('--seed') ?? 1);
  if (!Number.isInteger(seed)) throw new OptionError(`--seed must be an integer, got '${opts.get('--seed')}'`);
  const guide = opts.get('--guide') ?? 'fullrank';
  if (!(GUIDES as readonly string[]).includes(guide)) {
    throw new OptionError(`--guide must be ${GUIDES.slice(0, -1).join(', ')} or ${GUIDES[GUIDES.length - 1]}, got '${guide}'`);
  }
  const steps = int(opts, '--max-iter', 10000);
  const samples = int(opts, '--grad-samples', 1);
  const particles = int(opts, '--particles', 1000);
  const chains = int(opts, '--chains', 4);
  const draws = int(opts, '--draws', 1000);
  const warmupRaw = opts.get('--warmup');
  const warmup = warmupRaw === undefined ? 1000 : Number(warmupRaw);
  if (!Number.isInteger(warmup) || warmup < 0) throw new OptionError(`--warmup must be a nonnegative integer, got '${warmupRaw}'`);
  if (method === 'diffusion') return runDiffusion(model, data, opts, { seed, quiet: flags.has('--quiet') });
  if (method === 'smc' && flags.has('--device-gradients')) return runSmcDevice(model, data, opts, { seed, particles, quiet: flags.has('--quiet') });
  if (method === 'vi' && flags.has('--device-gradients')) return runViDevice(model, data, opts, { seed, guide: guide as Guide, steps, samples, quiet: flags.has('--quiet') });
  if (method !== 'vi' && method !== 'smc' && flags.has('--device-gradients')) return runScoreDevice(model, data, method, opts, { seed, chains, draws, warmup, quiet: flags.has('--quiet') });
  const bound = model.bind(data);
  try {
    if (method !== 'vi' && method !== 'smc') return runScore(model, bound, method, opts, { seed, chains, draws, warmup, quiet: flags.has('--quiet') });
    return run(model, bound, data, method, opts, { seed, guide: guide as Guide, steps, samples, particles, quiet: flags.has('--quiet') });
  } catch (e) {
    return familyFailure(e, method);
  } finally {
    bound.dispose();
  }
}

/**
 * The families' own failures (no continuous parameters, a run that cannot proceed) are
 * model/data errors with a message that says why: exit 1 without a stack trace. Others rethrow.
 */
function familyFailure(e: unknown, method: string): number {
  if (e instanceof Error && /^(vi|viDeviceGradients|smc|scoreSample): /.test(e.message)) {
    process.stderr.write(`mixppl fit --method ${method}: ${e.message}\n`);
    return 1;
  }
  throw e;
}

/** VI's progress line. */
const viProgress = (progress: LineProgress | undefined) => progress
  ? (t: number, n: number, _e: number, m: number) => progress.update(`VI step ${t}/${n}  objective (window mean) ${Number.isFinite(m) ? m.toFixed(3) : '…'}`, t === n)
  : undefined;

/** The VI report: its lines, the JSON result, and whether it converged. */
function viReport(model: Model, r: ViResult, guide: Guide, seed: number, samples: number): { lines: string[]; json: Record<string, unknown>; ok: boolean } {
  const lines: string[] = [];
  const elbo = r.elbo[r.elbo.length - 1];
  lines.push(`model ${model.name}: VI, ${guide} ${guide === 'planar' || guide === 'coupling' ? 'flow' : 'Gaussian'} guide on the unconstrained scale; ${r.steps} steps${samples > 1 ? ` of ${samples} draws` : ''}; ${r.converged ? 'converged' : 'NOT converged'}; ${r.seconds.toFixed(2)} s`);
  lines.push(`ELBO ${elbo.toFixed(4)} (smoothed; a lower bound on the log evidence)`);
  if (r.gradientBatches) lines.push(deviceLine('the VI loop', r.gradientBatches));
  const { khat } = r.psis(1000, seed);
  const verdict = !(khat <= 0.7) ? 'the guide is far from the posterior: do not trust it' : khat > 0.5 ? 'usable with care' : 'the guide is close to the posterior';
  lines.push(`Pareto k-hat ${khat.toFixed(2)} (PSIS of 1000 guide draws; ${verdict})`);
  lines.push('summary of 4000 draws from the guide (R-hat and ESS refer to independent draws):');
  lines.push(formatSummary(r.summary(4000, seed)));
  const json = { model: model.name, method: 'vi', guide, steps: r.steps, gradSamples: samples, converged: r.converged, elbo, khat, names: r.names, params: Array.from(r.params) };
  return { lines, json, ok: r.converged };
}

/** The --device-gradients line: where the gradients ran and how the worker's requests were batched. */
function deviceLine(what: string, st: NonNullable<ViResult['gradientBatches']>): string {
  return `potential: tensor evaluator (tfjs, float32) on ${currentBackend() ?? 'the backend'} in the main thread, ${what} in a worker thread${batchLine(st)}`;
}

/** Prints the report, writes --out, returns the exit status. */
function finishApprox(lines: string[], json: Record<string, unknown>, ok: boolean, opts: Map<string, string>): number {
  process.stdout.write(lines.join('\n') + '\n');
  const out = opts.get('--out');
  if (out) {
    writeFileSync(out, JSON.stringify(json, null, 2));
    process.stdout.write(`wrote ${out}\n`);
  }
  return ok ? 0 : 3;
}

/**
 * `fit --method vi --device-gradients`: the VI loop in a worker thread, its gradients computed
 * in this thread on the backend (viDeviceGradients); the report as for vi.
 */
async function runViDevice(model: Model, data: Record<string, DataValue>, opts: Map<string, string>, { seed, guide, steps, samples, quiet }: { seed: number; guide: Guide; steps: number; samples: number; quiet: boolean }): Promise<number> {
  try {
    const r = await withLineProgress(quiet, (progress) => viDeviceGradients(model, data, { guide, steps, samples, seed, onStep: viProgress(progress) }));
    const { lines, json, ok } = viReport(model, r, guide, seed, samples);
    return finishApprox(lines, json, ok, opts);
  } catch (e) {
    return familyFailure(e, 'vi');
  }
}

function run(
  model: Model, bound: ReturnType<Model['bind']>, data: Record<string, DataValue>, method: 'vi' | 'smc', opts: Map<string, string>,
  { seed, guide, steps, samples, particles, quiet }: { seed: number; guide: Guide; steps: number; samples: number; particles: number; quiet: boolean },
): number {
  let lines: string[] = [];
  let json: Record<string, unknown>;
  let ok = true;
  if (method === 'vi') {
    const r = withLineProgress(quiet, (progress) => vi(bound, { guide, steps, samples, seed, onStep: viProgress(progress) }));
    ({ lines, json, ok } = viReport(model, r, guide, seed, samples));
  } else {
    const so = smcCliOptions(opts, particles);
    const r = withLineProgress(quiet, (progress) => smc(model, bound, { particles, seed, data, ...so, onStage: smcProgress(progress, so, particles) }));
    ({ lines, json } = smcReport(model, r, so, opts));
  }
  return finishApprox(lines, json, ok, opts);
}

/** smc's options from --waste-free P (P-state chains from particles/P resampled ancestors) and --kernel. */
function smcCliOptions(opts: Map<string, string>, particles: number): Pick<SmcOptions, 'wasteFree' | 'rejuvenation'> & { rejuvenation: { kernel: SmcKernel } } {
  const wf = opts.get('--waste-free');
  const chainLength = wf === undefined ? undefined : int(opts, '--waste-free', 0);
  if (chainLength !== undefined && (chainLength < 2 || particles % chainLength !== 0)) {
    throw new OptionError(`--waste-free must be an integer ≥ 2 that divides --particles (${particles}), got '${wf}'`);
  }
  const kernel = opts.get('--kernel') ?? 'hmc';
  if (!SMC_KERNELS.includes(kernel as SmcKernel)) throw new OptionError(`--kernel must be hmc, rwmh, gibbs or auto, got '${kernel}'`);
  return { ...(chainLength !== undefined ? { wasteFree: { chainLength } } : {}), rejuvenation: { kernel: kernel as SmcKernel } };
}

/** The progress line of an SMC run. */
function smcProgress(progress: LineProgress | undefined, so: ReturnType<typeof smcCliOptions>, particles: number): SmcOptions['onStage'] {
  const k = so.rejuvenation.kernel;
  return progress ? (stage, beta, ess) => progress.update(`SMC stage ${stage}  ${k === 'gibbs' || k === 'auto' ? 'rows' : 'beta'} ${beta.toFixed(4)}  ESS ${ess.toFixed(0)}/${particles}`, beta === 1) : undefined;
}

/** The report of an SMC run (`on`: the backend that evaluated the moves as batches, with --device-gradients). */
function smcReport(model: Model, r: SmcResult, so: ReturnType<typeof smcCliOptions>, opts: Map<string, string>, on?: string): { lines: string[]; json: Record<string, unknown> } {
  const lines: string[] = [];
  const wfLen = opts.get('--waste-free');
  const moves = so.rejuvenation.kernel === 'rwmh' ? 'random-walk Metropolis' : 'HMC';
  const kind = r.schedule === 'data' ? 'data-annealing SMC with exact Gibbs moves' : `tempered SMC (${moves} moves${on ? `, every particle's evaluations as one batch on ${on}` : ''})`;
  const stages = r.schedule === 'data' ? `${r.betas.length - 1} stages adding ${r.rows![r.rows!.length - 1]} rows` : `${r.betas.length - 1} stages`;
  lines.push(`model ${model.name}: ${wfLen !== undefined ? `waste-free ${kind}, chains of ${wfLen}` : kind}, ${r.weights.length} particles, ${stages}; log evidence ${r.logZ.toFixed(4)}`);
  const w = Math.max(9, ...r.names.map((n) => n.length));
  lines.push(`${'parameter'.padEnd(w)}  ${'mean'.padStart(10)}  ${'sd'.padStart(10)}`);
  for (const n of r.names) {
    const m = r.moments(n);
    lines.push(`${n.padEnd(w)}  ${m.mean.toPrecision(4).padStart(10)}  ${Math.sqrt(m.variance).toPrecision(4).padStart(10)}`);
  }
  const json = { model: model.name, method: 'smc', logZ: r.logZ, betas: r.betas, names: r.names, moments: Object.fromEntries(r.names.map((n) => [n, r.moments(n)])) };
  return { lines, json };
}

/**
 * `fit --method smc --device-gradients`: tempered SMC with every particle's HMC evaluations
 * as batches on the backend in this thread (smcDevice); the report as for smc.
 */
async function runSmcDevice(model: Model, data: Record<string, DataValue>, opts: Map<string, string>, { seed, particles, quiet }: { seed: number; particles: number; quiet: boolean }): Promise<number> {
  const so = smcCliOptions(opts, particles);
  if (so.wasteFree || so.rejuvenation.kernel !== 'hmc') {
    throw new OptionError(`--device-gradients with --method smc runs HMC moves (--kernel hmc) without --waste-free; ${so.wasteFree ? '--waste-free' : `--kernel ${so.rejuvenation.kernel}`} runs on the host`);
  }
  try {
    const r = await withLineProgress(quiet, (progress) => smcDevice(model, data, { particles, seed, data, ...so, onStage: smcProgress(progress, so, particles) }));
    const { lines, json } = smcReport(model, r, so, opts, currentBackend());
    return finishApprox(lines, json, true, opts);
  } catch (e) {
    return familyFailure(e, 'smc');
  }
}

/** The progress line of a score-based run. */
export function scoreProgressLine(p: ScoreProgress): string {
  switch (p.method) {
    case 'annealed-langevin':
      return `annealed Langevin level ${p.step}  beta ${p.beta.toFixed(4)}  ESS ${p.ess.toFixed(0)}/${p.particles}`;
    case 'rdmc':
      return `rdMC step ${p.step}/${p.of}  inner ESS ${p.innerEss.toFixed(1)}`;
    default:
      return `${p.method === 'mala' ? 'MALA' : 'Langevin'} ${p.phase} ${p.step}/${p.of}  acceptance ${p.accept.toFixed(3)}`;
  }
}

function runScore(
  model: Model, bound: ReturnType<Model['bind']>, method: ScoreMethod, opts: Map<string, string>,
  { seed, chains, draws, warmup, quiet }: { seed: number; chains: number; draws: number; warmup: number; quiet: boolean },
): number {
  const r = withLineProgress(quiet, (progress) => scoreSample(bound, scoreOptions(method, { seed, chains, draws, warmup }, progress)));
  return scoreReport(model, r, method, opts, { chains, draws, warmup });
}

/** scoreSample's options from the command line, with the progress line. */
function scoreOptions(method: ScoreMethod, { seed, chains, draws, warmup }: { seed: number; chains: number; draws: number; warmup: number }, progress: LineProgress | undefined): ScoreSampleOptions {
  const particle = method === 'annealed-langevin' || method === 'rdmc';
  return {
    method, seed, chains, draws, ...(particle ? {} : { warmup }),
    onProgress: progress ? (p) => progress.update(scoreProgressLine(p), false) : undefined,
  };
}

/** Prints a score-based run's report, writes --out, returns the exit status. */
function scoreReport(model: Model, r: ScoreResult, method: ScoreMethod, opts: Map<string, string>, { chains, draws, warmup }: { chains: number; draws: number; warmup: number }): number {
  const particle = method === 'annealed-langevin' || method === 'rdmc';
  const what = {
    langevin: 'unadjusted Langevin (biased by O(step size))',
    mala: 'MALA (Metropolis-adjusted Langevin)',
    'annealed-langevin': 'annealed Langevin with Feynman–Kac weights, resampled to equal weights',
    rdmc: 'reverse diffusion Monte Carlo',
  }[method];
  const lines = [
    `model ${model.name}: ${what}; ${chains} ${particle ? 'groups' : 'chains'} x ${draws} draws${particle ? '' : ` after ${warmup} warm-up`}; ${r.seconds.toFixed(2)} s`,
  ];
  if (method === 'annealed-langevin') lines.push(`log evidence ${r.logZ.toFixed(4)} (${r.annealing!.betas.length - 1} levels)`);
  if (r.gradientBatches) lines.push(deviceLine('the sampler', r.gradientBatches));
  lines.push(formatSummary(r.summary()));
  const diag = r.diagnostics;
  for (const w of diag.warnings) lines.push(`warning: ${w}`);
  process.stdout.write(lines.join('\n') + '\n');
  const out = opts.get('--out');
  if (out) {
    const json = {
      model: model.name, method, chains, draws, seconds: r.seconds, logZ: Number.isFinite(r.logZ) ? r.logZ : null,
      summary: r.summary(), names: r.names,
    };
    writeFileSync(out, JSON.stringify(json, null, 2));
    process.stdout.write(`wrote ${out}\n`);
  }
  return chains > 1 && diag.maxRhat > 1.01 ? 3 : 0;
}

/**
 * `fit --method langevin|mala|annealed-langevin|rdmc --device-gradients`: scoreSample in a
 * worker thread, its gradients computed in this thread on the backend
 * (scoreSampleDeviceGradients); the report as without.
 */
async function runScoreDevice(model: Model, data: Record<string, DataValue>, method: ScoreMethod, opts: Map<string, string>, settings: { seed: number; chains: number; draws: number; warmup: number; quiet: boolean }): Promise<number> {
  try {
    const r = await withLineProgress(settings.quiet, (progress) => scoreSampleDeviceGradients(model, data, scoreOptions(method, settings, progress)));
    return scoreReport(model, r, method, opts, settings);
  } catch (e) {
    return familyFailure(e, method);
  }
}

/**
 * `fit --method diffusion`: a denoising-score-matching density of the observed rows
 * (src/infer/score/diffusion-fit.ts); prints the held-out log-likelihood per row next to the
 * model's own at its EM/MAP fit; `--samples FILE.csv` writes `--draws` new rows (default: as
 * many as the data has), `--out FILE.json` the summary. Every read is awaited
 * (`diffusionFitAsync`, `sampleAsync`), so the same code runs on webgpu (the network on the
 * device) and gives the synchronous path's numbers elsewhere.
 */
async function runDiffusion(model: Model, data: Record<string, DataValue>, opts: Map<string, string>, { seed, quiet }: { seed: number; quiet: boolean }): Promise<number> {
  const steps = int(opts, '--steps', 2000);
  const drawsRaw = opts.get('--draws');
  const draws = drawsRaw === undefined ? undefined : int(opts, '--draws', 1);
  let r: DiffusionFitResult;
  let recent = 0;
  try {
    r = await withLineProgress(quiet, (progress) => diffusionFitAsync(model, data, {
      steps, seed,
      onStep: progress ? (s, loss) => {
        // An exponential moving average over ~50 steps: one step's loss is noisy.
        recent = s === 0 ? loss : 0.98 * recent + 0.02 * loss;
        progress.update(`diffusion step ${s + 1}/${steps}  DSM loss (moving average) ${recent.toFixed(4)}`, s + 1 === steps);
      } : undefined,
    }));
  } catch (e) {
    if (e instanceof Error && /^(diffusion|trainScore): /.test(e.message)) {
      process.stderr.write(`mixppl fit --method diffusion: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  try {
    const s = r.score.settings;
    const lines = [
      `model ${model.name}: diffusion (denoising score matching, ${s.sde}, MLP ${s.layers} x ${s.hidden}); ${steps} steps on ${r.trainRows.length} rows of ${r.columns.join(', ')}; ${r.heldOutRows.length} rows held out; ${r.seconds.toFixed(2)} s`,
      `final DSM loss ${r.finalLoss.toFixed(4)} (mean of the last tenth of the steps)`,
      `held-out log-likelihood per row: diffusion ${r.heldOutLogLik.toFixed(4)} ± ${r.heldOutLogLikSe.toFixed(4)} (probability-flow ODE; ± one standard error over rows)`,
    ];
    const b = r.baseline;
    if (b.method === 'none') lines.push(`model ${model.name}: no comparison (${b.reason})`);
    else {
      // Within 2 standard errors (of the diffusion's mean over rows) the data do not decide.
      const diff = r.heldOutLogLik - b.heldOutLogLik;
      const verdict = Math.abs(diff) <= 2 * r.heldOutLogLikSe ? 'no clear difference (within 2 standard errors)'
        : diff > 0 ? 'the learned density fits the held-out rows better' : `model ${model.name} fits the held-out rows better`;
      lines.push(`held-out log-likelihood per row: model ${model.name} at its ${b.method === 'em' ? 'EM (maximum likelihood)' : b.method.toUpperCase()} fit ${b.heldOutLogLik.toFixed(4)}${b.converged ? '' : ' (fit NOT converged)'}; ${verdict}`);
    }
    const samplesPath = opts.get('--samples');
    if (samplesPath) {
      const n = draws ?? r.trainRows.length + r.heldOutRows.length;
      writeFileSync(samplesPath, toCsv(r.columns, await r.sampleAsync(n, { seed })));
      lines.push(`wrote ${n} samples (reverse SDE) to ${samplesPath}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    const out = opts.get('--out');
    if (out) {
      writeFileSync(out, JSON.stringify(r.toJSON(), null, 2));
      process.stdout.write(`wrote ${out}\n`);
    }
    return 0;
  } finally {
    r.dispose();
  }
}
