/**
 * `mixppl sample` (and `mixppl fit --method nuts|hmc`): MCMC draws from the posterior by
 * NUTS or static HMC with the discrete latents summed out, a stansummary-like table, the
 * run's diagnostics, and optionally CmdStan CSV files, a JSON file of the draws and the
 * summary in an output folder.
 *
 * Exit codes: 0 when there are no divergent transitions and (with more than one chain)
 * every R-hat is <= 1.01 (see {@link sampleVerdict}); 3 otherwise, after printing and
 * writing everything. Other warnings (low ESS,
 * tree-depth hits) are printed but do not change the exit code. 1 for a model, data or
 * init error; 2 for a usage error (thrown as {@link OptionError}).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../model/model';
import type { DataValue } from '../model/data';
import type { ParamValues } from '../model/bound-model';
import { sample, type ExactBlockInfo, type McmcResult, type SamplerDiagnostics, type SummaryRow } from '../infer/mcmc/index';
import { sampleParallel } from '../infer/mcmc/parallel';
import type { GradientBatchStats } from '../infer/remote-potential';
import { currentBackend, runOnHostBackend } from '../tensor/backend';
import { writeDrawsJson } from '../output/draws-json';
import { MixError } from '../diagnostics/diagnostic';
import { DataFileError } from './data-io';
import { chainProgressFor } from './progress';

/** A bad option or option value; the command line prints it and exits with status 2. */
export class OptionError extends Error {}

/** The R-hat above which the exit code is 3 (as the warning in `McmcResult.diagnostics`). */
export const RHAT_LIMIT = 1.01;

/** The value options `mixppl sample` reads (besides --data, --set and --backend). */
export const SAMPLE_VALUE_OPTIONS = [
  '--chains', '--warmup', '--draws', '--thin', '--seed', '--algorithm', '--metric', '--delta', '--max-depth', '--init', '--output-dir', '--latents', '--chain-update', '--csmc-particles', '--parallel-chains',
] as const;

/** The flags `mixppl sample` reads. */
export const SAMPLE_FLAGS = ['--quiet', '--device-gradients'] as const;

/** `mixppl sample --help`. */
export const SAMPLE_HELP = `usage: mixppl sample MODEL.mix --data FILE [options]

Draws from the posterior by NUTS (default), static HMC, random-walk Metropolis or slice
sampling, with every discrete latent summed out (or drawn by Gibbs: --latents gibbs), and
prints a header, a stansummary-like table (mean, median, sd, mad, q5, q95, R-hat,
bulk and tail ESS) and the sampler's warnings. 'mixppl fit MODEL.mix --method nuts|hmc'
runs the same code.

options:
  --data FILE           .csv or .json data; repeatable
  --set NAME=VALUE      a scalar or JSON array, e.g. --set K=3
  --chains N            number of chains (default 4)
  --warmup N            warm-up (adaptation) iterations per chain (default 1000)
  --draws N             draws kept per chain (default 1000)
  --thin N              keep every N-th draw (default 1)
  --seed N              random seed (default 1)
  --algorithm NAME      nuts | hmc | mh | slice | auto (default nuts; mh: random-walk Metropolis;
                        slice: univariate slice updates along fixed directions, no gradients;
                        auto: slice with Gibbs latents and exact conjugate draws where the model
                        has a normal-mixture block, NUTS otherwise; the header says which ran)
  --latents NAME        marginalize | gibbs (default marginalize: discrete latents summed out;
                        gibbs: drawn from their exact conditionals each iteration, as JAGS)
  --parallel-chains N   run the chains on N worker threads (default 1: one after another in
                        this thread); the same draws as without, sooner on a machine with N
                        cores, after a start-up of a few seconds per thread
  --device-gradients    compute every gradient on the --backend in this thread (webgpu: on
                        the GPU) and run the chains on worker threads, one per chain unless
                        --parallel-chains says otherwise: for large data, where a gradient is a
                        pass over many rows (float32 tfjs gradients, not the float64 replay;
                        nuts, hmc or mh with the latents summed out)
  --chain-update NAME   with --latents gibbs, how an HMM chain's path is drawn: ffbs (default:
                        exact forward filtering, backward sampling) | csmc (conditional SMC with
                        ancestor sampling: particle Gibbs)
  --csmc-particles N    particles of each conditional SMC sweep (default 20)
  --metric NAME         auto | diag | dense (default auto: dense up to 30 dimensions)
  --delta X             target acceptance statistic, in (0, 1) (default 0.8; 0.234 for mh)
  --max-depth N         NUTS maximum tree depth (default 10)
  --init FILE.json      initial values by parameter name (constrained scale): one object
                        for all chains, or an array with one object per chain
                        (default: uniform(-2, 2) on the unconstrained scale, as Stan)
  --output-dir DIR      write DIR/<model>-<chain>.csv (CmdStan CSV, one per chain),
                        DIR/<model>-draws.json and DIR/<model>-summary.txt
  --backend NAME        tfjs backend for a potential that cannot be traced (default wasm)
  --quiet               no progress display (it appears only when stderr is a terminal)

exit status:
  0  no divergent transitions and, with 2 or more chains, every R-hat <= ${RHAT_LIMIT}
  3  divergent transitions, or (2 or more chains) an R-hat > ${RHAT_LIMIT} or an R-hat of NA
     for a quantity that varies (stuck chains): the table, warnings and files are printed
     and written all the same, but the draws should not be trusted
  1  a model, data or init error;  2  a usage error
  Warnings about low ESS or tree-depth hits are printed but do not change the status.

example:
  mixppl sample examples/galaxies/galaxies.mix --data examples/galaxies/galaxies.csv --set K=3 \\
    --chains 4 --warmup 1000 --draws 1000 --output-dir out
`;

/** The settings of one `mixppl sample` run, read from the command line. */
export interface SampleCliSettings {
  chains: number;
  warmup: number;
  draws: number;
  thin: number;
  seed: number;
  algorithm: 'nuts' | 'hmc' | 'mh' | 'slice' | 'auto';
  /** undefined only with --algorithm auto and no --latents (the auto choice's). */
  latents: 'marginalize' | 'gibbs' | undefined;
  /** Worker threads for the chains (1: in this thread; with --device-gradients, default one per chain). */
  parallelChains: number;
  /** --device-gradients: the gradients computed in this thread on the backend, the chains in workers. */
  deviceGradients: boolean;
  chainUpdate?: 'ffbs' | 'csmc';
  csmcParticles?: number;
  metric: 'diag' | 'dense' | 'auto';
  delta: number;
  maxDepth: number;
  /** Path of the JSON file of initial values. */
  init?: string;
  /** Folder for the CSV, JSON and summary files. */
  outputDir?: string;
  quiet: boolean;
}

function intOption(opts: Map<string, string>, name: string, fallback: number, min: number): number {
  const raw = opts.get(name);
  if (raw === undefined) return fallback;
  const s = raw.trim();
  if (!/^[+-]?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new OptionError(`${name}: '${raw}' is not an integer`);
  const v = Number(s);
  if (v < min) throw new OptionError(`${name} must be at least ${min}, got ${v}`);
  return v;
}

function choiceOption<T extends string>(opts: Map<string, string>, name: string, choices: readonly T[], fallback: T): T {
  const raw = opts.get(name);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new OptionError(`${name}: '${raw}' is not one of ${choices.join(', ')}`);
  return raw as T;
}

/**
 * Reads and checks the sample options. `algorithm` is the one implied by
 * `fit --method nuts|hmc`; an `--algorithm` that contradicts it is an error.
 */
export function parseSampleSettings(opts: Map<string, string>, flags: Set<string>, algorithm?: 'nuts' | 'hmc' | 'mh'): SampleCliSettings {
  const given = choiceOption(opts, '--algorithm', ['nuts', 'hmc', 'mh', 'slice', 'auto'] as const, algorithm ?? 'nuts');
  if (algorithm !== undefined && given !== algorithm) {
    throw new OptionError(`--method ${algorithm} and --algorithm ${given} disagree; give one of them`);
  }
  let delta = given === 'mh' ? 0.234 : 0.8;
  const rawDelta = opts.get('--delta');
  if (rawDelta !== undefined) {
    delta = Number(rawDelta);
    if (rawDelta.trim() === '' || !Number.isFinite(delta)) throw new OptionError(`--delta: '${rawDelta}' is not a number`);
    if (!(delta > 0 && delta < 1)) throw new OptionError(`--delta must be strictly between 0 and 1, got ${rawDelta}`);
  }
  if (opts.get('--init') === '') throw new OptionError('--init needs a file name');
  if (opts.get('--output-dir') === '') throw new OptionError('--output-dir needs a folder name');
  const deviceGradients = flags.has('--device-gradients');
  if (deviceGradients && (given === 'slice' || given === 'auto' || opts.get('--latents') === 'gibbs')) {
    throw new OptionError(`--device-gradients goes with --algorithm nuts, hmc or mh and the latents summed out, not ${opts.get('--latents') === 'gibbs' ? '--latents gibbs' : `--algorithm ${given}`}`);
  }
  if ((opts.has('--chain-update') || opts.has('--csmc-particles')) && opts.get('--latents') !== 'gibbs') {
    throw new OptionError('--chain-update and --csmc-particles go with --latents gibbs');
  }
  return {
    chains: intOption(opts, '--chains', 4, 1),
    warmup: intOption(opts, '--warmup', 1000, 0),
    draws: intOption(opts, '--draws', 1000, 1),
    thin: intOption(opts, '--thin', 1, 1),
    seed: intOption(opts, '--seed', 1, Number.MIN_SAFE_INTEGER),
    algorithm: given,
    // With --algorithm auto and no --latents, the auto choice decides (Gibbs for a normal mixture).
    latents: given === 'auto' && !opts.has('--latents') ? undefined : choiceOption(opts, '--latents', ['marginalize', 'gibbs'] as const, 'marginalize'),
    parallelChains: intOption(opts, '--parallel-chains', deviceGradients ? intOption(opts, '--chains', 4, 1) : 1, 1),
    deviceGradients,
    ...(opts.has('--chain-update') ? { chainUpdate: choiceOption(opts, '--chain-update', ['ffbs', 'csmc'] as const, 'ffbs') } : {}),
    ...(opts.has('--csmc-particles') ? { csmcParticles: intOption(opts, '--csmc-particles', 20, 2) } : {}),
    metric: choiceOption(opts, '--metric', ['auto', 'diag', 'dense'] as const, 'auto'),
    delta,
    maxDepth: intOption(opts, '--max-depth', 10, 1),
    init: opts.get('--init'),
    outputDir: opts.get('--output-dir'),
    quiet: flags.has('--quiet'),
  };
}

/**
 * Reads an init file: a JSON object of parameter name -> value (one set for all chains)
 * or an array of such objects (one per chain; its length must be 1 or `chains`).
 * Throws a DataFileError (exit 1) for an unreadable or malformed file, and an
 * {@link OptionError} (exit 2) when the number of sets does not match `--chains`.
 */
export function readInits(path: string, chains: number): ParamValues | ParamValues[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new DataFileError(`cannot read init file ${path}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DataFileError(`init file ${path}: not valid JSON (${(e as Error).message})`);
  }
  const isObject = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (Array.isArray(v)) {
    if (v.length === 0) throw new DataFileError(`init file ${path}: the array is empty; give one object, or one per chain`);
    v.forEach((x, i) => {
      if (!isObject(x)) throw new DataFileError(`init file ${path}: element ${i + 1} is not an object of parameter name: value`);
    });
    if (v.length !== 1 && v.length !== chains) {
      throw new OptionError(`init file ${path} has ${v.length} sets of initial values for ${chains} chain${chains === 1 ? '' : 's'} (--chains); give one set, or one per chain`);
    }
    return v as ParamValues[];
  }
  if (!isObject(v)) throw new DataFileError(`init file ${path}: expected a JSON object of parameter name: value, or an array of them`);
  return v as ParamValues;
}

/** Whether a run passes (exit 0) or not (exit 3), and why not. */
export interface SampleVerdict {
  code: 0 | 3;
  /** One line per failed check; empty when `code` is 0. */
  reasons: string[];
}

/**
 * The exit rule: 3 when any transition after warm-up diverged, or, with two or more
 * chains, when the largest R-hat exceeds {@link RHAT_LIMIT} or a quantity that varies has
 * no finite R-hat (`rows`: the summary; this happens when each chain is stuck at its own
 * value, a case `diagnostics.maxRhat` skips); otherwise 0. A quantity that is constant in
 * every draw (sd 0, e.g. the unit diagonal of a Cholesky factor of a correlation matrix)
 * has no R-hat and is not a failure.
 */
export function sampleVerdict(
  d: Pick<SamplerDiagnostics, 'divergences' | 'maxRhat'>, chains: number, rows: readonly Pick<SummaryRow, 'name' | 'sd' | 'rhat'>[] = [],
): SampleVerdict {
  const reasons: string[] = [];
  if (d.divergences > 0) reasons.push(`${d.divergences} divergent transition${d.divergences === 1 ? '' : 's'}`);
  if (chains > 1) {
    if (d.maxRhat > RHAT_LIMIT) reasons.push(`max R-hat ${d.maxRhat.toFixed(3)} > ${RHAT_LIMIT}`);
    const na = rows.filter((r) => r.sd > 0 && !Number.isFinite(r.rhat)).map((r) => r.name);
    if (na.length) reasons.push(`R-hat is NA for ${na.join(', ')}, which vary (a chain may be stuck)`);
  }
  return { code: reasons.length ? 3 : 0, reasons };
}

function num(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'NA';
}

/**
 * The exact conjugate updates of a slice + Gibbs run as one phrase, e.g.
 * "mu, sigma normal mixture [sort, collapsed latents, 2 sweeps]; w Dirichlet–categorical".
 */
export function formatExactBlocks(blocks: readonly ExactBlockInfo[]): string {
  return blocks.map((b) => {
    if (b.kind === 'dirichlet-categorical') return `${b.params.join(', ')} Dirichlet–categorical`;
    const how = [
      b.orderedUpdate,
      b.collapsedLatents ? 'collapsed latents' : undefined,
      (b.sweeps ?? 1) > 1 ? `${b.sweeps} sweeps` : undefined,
    ].filter((x) => x !== undefined);
    return `${b.params.join(', ')} normal mixture${how.length ? ` [${how.join(', ')}]` : ''}`;
  }).join('; ');
}

/** The header's name of a slice run: Gibbs sampling when every coordinate is drawn exactly, else slice sampling (and which blocks are exact). */
function sliceMethod(s: McmcResult['settings']): string {
  const dirs = s.metric === 'dense' ? 'directions from the warm-up covariance' : 'coordinate-wise';
  const blocks = s.exactBlocks ?? [];
  if (blocks.length === 0) return `slice sampling (${dirs})`;
  const exact = formatExactBlocks(blocks);
  if (s.sliceCoords === 0) return `Gibbs sampling (exact conjugate draws: ${exact})`;
  const n = s.sliceCoords ?? 0;
  return `slice sampling (${dirs}) of ${n} coordinate${n === 1 ? '' : 's'}, with exact conjugate draws (${exact})`;
}

/** ` (n gradients in m batches of up to k points)`: how the main thread answered the chains' requests. */
export function batchLine(st: GradientBatchStats | undefined): string {
  if (!st) return '';
  return ` (${st.requests} gradients in ${st.batches} batch${st.batches === 1 ? '' : 'es'} of up to ${st.largest} point${st.largest === 1 ? '' : 's'})`;
}

/**
 * The report printed (and written as `<model>-summary.txt`): header, table, diagnostics,
 * warnings. `gradientsOn`: the backend that computed the gradients in the main thread
 * (`--device-gradients`), named in the header.
 */
export function formatSampleReport(r: McmcResult, gradientsOn?: string): string {
  const s = r.settings;
  const d = r.diagnostics;
  const method = s.algorithm === 'nuts'
    ? `NUTS (${s.metric} metric, delta ${s.delta}, max tree depth ${s.maxTreeDepth})`
    : s.algorithm === 'hmc'
      ? `static HMC (${s.metric} metric, delta ${s.delta})`
      : s.algorithm === 'mh'
        ? `random-walk Metropolis (${s.metric} metric, acceptance target ${s.delta})`
        : s.algorithm === 'slice'
          ? sliceMethod(s)
          : s.algorithm;
  const lines = [
    `model ${r.model}: ${method}, ${s.chains} chain${s.chains === 1 ? '' : 's'} x (${s.warmup} warmup + ${s.draws} draws)` +
      `${s.thin > 1 ? `, thin ${s.thin}` : ''}, seed ${s.seed}; ${r.seconds.toFixed(2)} s`,
    `potential: ${r.traced ? 'traced (float64 replay)' : `tensor evaluator (tfjs, float32)${gradientsOn ? ` on ${gradientsOn} in the main thread, the chains in worker threads${batchLine(r.gradientBatches)}` : ''}`}; ${r.latentNames.length > 0 ? 'latents drawn by Gibbs' : 'latents summed out'}`,
    `divergences ${d.divergences}; tree-depth hits ${d.treedepthHits}; mean accept_stat ${num(d.meanAcceptStat)}; ` +
      `max R-hat ${num(d.maxRhat)}; min ESS bulk ${num(d.minEssBulk, 0)}, tail ${num(d.minEssTail, 0)}`,
    '',
    r.formatSummary().replace(/\n+$/, ''),
    '',
  ];
  if (d.warnings.length === 0) lines.push('no warnings');
  else for (const w of d.warnings) lines.push(`warning: ${w}`);
  for (const reason of sampleVerdict(d, s.chains, r.summary()).reasons.filter((x) => x.startsWith('R-hat is NA'))) {
    lines.push(`warning: ${reason}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes the per-chain CmdStan CSV files, the draws JSON and the summary; returns the paths. */
export function writeSampleOutputs(r: McmcResult, dir: string, report: string): string[] {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DataFileError(`cannot create output folder ${dir}: ${(e as Error).message}`);
  }
  const files: [string, string][] = r.chains.map((_, c) => [join(dir, `${r.model}-${c + 1}.csv`), r.toCmdStanCsv(c)]);
  files.push([join(dir, `${r.model}-draws.json`), writeDrawsJson(r.model, r.chains.map((_, c) => r.chainDraws(c)))]);
  files.push([join(dir, `${r.model}-summary.txt`), report]);
  for (const [path, text] of files) {
    try {
      writeFileSync(path, text);
    } catch (e) {
      throw new DataFileError(`cannot write ${path}: ${(e as Error).message}`);
    }
  }
  return files.map(([p]) => p);
}

/**
 * Runs `mixppl sample` on a compiled model and its data (the backend already chosen),
 * prints the report, writes the output files, and returns the exit status (see the
 * module comment).
 */
export async function sampleCommand(model: Model, data: Record<string, DataValue>, settings: SampleCliSettings): Promise<number> {
  const init = settings.init === undefined ? undefined : readInits(settings.init, settings.chains);
  // Bound on the host backend: with --device-gradients main.ts runs this command with the
  // device active (webgpu), and only sampleParallel's gradients use it.
  const bm = await runOnHostBackend(() => model.bind(data));
  if (init !== undefined) {
    // Check every set now, so that an error names the file (sample() would check it too).
    await runOnHostBackend(() => (Array.isArray(init) ? init : [init]).forEach((values, i, all) => {
      try {
        bm.unconstrain(values);
      } catch (e) {
        if (!(e instanceof MixError)) throw e;
        bm.dispose();
        process.stderr.write(`mixppl sample: init file ${settings.init}${all.length > 1 ? `, set ${i + 1}` : ''}: bad initial values:\n`);
        throw e;
      }
    }));
  }
  const progress = chainProgressFor(process.stderr, settings.chains, settings.warmup + settings.draws * settings.thin, settings.quiet);
  let r: McmcResult;
  try {
    const sampleOpts = {
      chains: settings.chains, warmup: settings.warmup, draws: settings.draws, thin: settings.thin, seed: settings.seed,
      algorithm: settings.algorithm, metric: settings.metric, delta: settings.delta, maxTreeDepth: settings.maxDepth,
      init, latents: settings.latents, chainUpdate: settings.chainUpdate, csmcParticles: settings.csmcParticles,
      onIteration: progress ? (c: number, it: number, phase: 'warmup' | 'sampling', div: number) => progress.update(c, it, phase, div) : undefined,
    };
    // Several threads: the same draws, sooner (each thread has a start-up cost of its own).
    r = settings.deviceGradients || (settings.parallelChains > 1 && settings.chains > 1)
      ? await sampleParallel(model, data, { ...sampleOpts, workers: settings.parallelChains, deviceGradients: settings.deviceGradients })
      : sample(bm, sampleOpts);
  } catch (e) {
    progress?.finish();
    bm.dispose();
    // No usable initial point, or a model without continuous parameters: a model/data error.
    if (e instanceof RangeError && e.message.startsWith('sample:')) {
      process.stderr.write(`mixppl ${e.message}${settings.init ? ` (init file ${settings.init})` : ''}\n`);
      return 1;
    }
    throw e;
  }
  progress?.finish();
  bm.dispose();
  const report = formatSampleReport(r, settings.deviceGradients ? currentBackend() : undefined);
  process.stdout.write(report);
  if (settings.outputDir !== undefined) {
    for (const p of writeSampleOutputs(r, settings.outputDir, report)) process.stdout.write(`wrote ${p}\n`);
  }
  const verdict = sampleVerdict(r.diagnostics, settings.chains, r.summary());
  if (verdict.code !== 0) {
    process.stderr.write(`mixppl sample: exit status 3: ${verdict.reasons.join('; ')}; the draws should not be trusted (see the warnings above)\n`);
  }
  return verdict.code;
}
