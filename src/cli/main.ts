/**
 * The `mixppl` command line. Only this module prints and exits; every phase below it
 * returns results or diagnostics.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { frontEnd } from '../compile';
import { Model } from '../model/model';
import { MixError, renderDiagnostics, type Diagnostic } from '../diagnostics/diagnostic';
import { useBackend, requestWasmThreads, runOnHostBackend, BACKENDS, BackendUnavailableError, ThreadsUnsupportedError, type BackendName } from '../tensor/backend';
import { readDataArg, parseSet, toCsv, DataFileError } from './data-io';
import type { DataValue, NdArray } from '../model/data';
import { fitCommand } from './fit';
import { APPROX_METHODS, approxCommand, approxOptions, type ApproxMethod } from './approx';
import { sampleCommand, parseSampleSettings, OptionError, SAMPLE_HELP, SAMPLE_VALUE_OPTIONS, SAMPLE_FLAGS } from './sample';
import { selectCommand, parseSelectSettings, SELECT_HELP, SELECT_OPTIONS, SELECT_VALUE_OPTIONS } from './select';
import { reportCommand, sbcReportCommand, REPORT_HELP, REPORT_OPTIONS } from './report';
import { summaryCommand, SUMMARY_HELP, SUMMARY_OPTIONS } from './summary';
import { filterCommand, parseFilterSettings, FILTER_HELP, FILTER_OPTIONS, FILTER_VALUE_OPTIONS } from './filter';

const USAGE = `mixppl: a probabilistic programming language for mixture models

usage: mixppl <command> [options]        ('mixppl <command> --help' for a command's options)

commands:
  check MODEL.mix              report every diagnostic; exit 1 on errors
  ir MODEL.mix                 print the model's IR (plates, factors, enumerated latents)
  simulate MODEL.mix           draw parameters, latents and data from the prior
  fit MODEL.mix                fit the model to data (see 'mixppl fit --help')
  sample MODEL.mix             MCMC draws from the posterior: NUTS, HMC, MH or slice, latents summed
                               out or drawn by Gibbs (see 'mixppl sample --help')
  select MODEL.mix [...]       fit K = 1, 2, ... by EM and compare by BIC, AIC or ICL (see 'mixppl select --help')
  report MODEL.mix             fit and write one self-contained HTML report with plots (see 'mixppl report --help')
  filter MODEL.mix             particle filter of an HMM or switching state-space model at fixed
                               parameters: log Z-hat and filtering distributions (see 'mixppl filter --help')
  summary FILE.csv...          stansummary-like table of CmdStan CSV files, one per chain (see 'mixppl summary --help')

options for simulate, fit and sample:
  --data FILE                  .csv or .json data (CSV: column y -> y[N]; x.1, x.2 -> x[N, 2]); repeatable
  --data NAME=FILE             NAME alone from a CSV of numbers: one column -> NAME[rows], several
                               -> NAME[rows, cols]; a first row with any non-number is a header
                               (skipped); '#' lines skipped; combinable with --data FILE
  --set NAME=VALUE             a scalar or JSON array, e.g. --set K=3
  --seed N                     random seed (default 1)
  --backend NAME               ${BACKENDS.join(' | ')} (default wasm)
  --threads N                  wasm threads; under Node.js the wasm backend is single-threaded,
                               so only 1 is accepted (any other value is an error that says so)
  --out FILE                   write results here (simulate: CSV; fit: JSON)

exit status: 0 ok; 1 model or data error; 2 usage error; 3 not converged (fit) or failed
diagnostics (sample: divergences or R-hat > 1.01)

examples:
  mixppl check stdlib/gmm_diag.mix
  mixppl simulate stdlib/gmm_diag.mix --set N=200 --set K=3 --set D=2 --out sim.csv
  mixppl fit examples/old-faithful/faithful.mix --data examples/old-faithful/faithful.csv
  mixppl sample examples/galaxies/galaxies.mix --data examples/galaxies/galaxies.csv --set K=3
`;

const CHECK_HELP = `usage: mixppl check MODEL.mix

Parses and checks a model and prints every diagnostic with file:line:col and a caret.
exit status: 0 when the model has no errors, 1 otherwise.

example:
  mixppl check stdlib/gmm_diag.mix
`;

const IR_HELP = `usage: mixppl ir MODEL.mix

Prints the model's IR: sizes, plates, factors, enumerated latents, chains, conjugate pairs.
exit status: 0, or 1 when the model has errors (printed as by 'mixppl check').

example:
  mixppl ir examples/galaxies/galaxies.mix
`;

const SIMULATE_HELP = `usage: mixppl simulate MODEL.mix [options]

Ancestral draws of parameters, latents and data from the prior, one CSV row per draw.

options:
  --set NAME=VALUE             sizes and data not drawn, e.g. --set N=100 --set K=3
  --data FILE                  .csv or .json data; repeatable
  --data NAME=FILE             NAME from a CSV of numbers (1 column: vector; more: matrix [rows, cols])
  --draws N                    number of draws (default 1)
  --seed N                     random seed (default 1)
  --backend NAME               ${BACKENDS.join(' | ')} (default wasm)
  --out FILE                   write the CSV here (default: standard output)

example:
  mixppl simulate stdlib/gmm_diag.mix --set N=200 --set K=3 --set D=2 --out sim.csv
`;

const FIT_HELP = `usage: mixppl fit MODEL.mix --data FILE [options]

Fits the model to data and prints the estimates.

options:
  --method NAME                em | map | mle | nuts | hmc | mh | vi | smc | langevin | mala |
                               annealed-langevin | rdmc | diffusion (default: em when the model
                               has discrete latents, else map); nuts, hmc and mh run 'mixppl
                               sample' and take its options (see 'mixppl sample --help'); vi takes
                               --guide meanfield|fullrank|lowrank|planar|coupling|amortized
                               (default fullrank), --max-iter (steps), --grad-samples S (Monte
                               Carlo draws per gradient step, default 1) and --device-gradients
                               (every gradient on the --backend, e.g. webgpu, the loop in a
                               worker thread; for large data); smc takes --particles (default
                               1000), --waste-free P (waste-free SMC with chains of P states;
                               P divides --particles) and --kernel hmc|rwmh|gibbs|auto (default
                               hmc; gibbs: data annealing with exact Gibbs moves for a Bayesian
                               normal mixture, auto picks it where the model is one) and
                               --device-gradients (HMC moves: every particle's evaluations as
                               one batch on the --backend); the score-based samplers take --chains (4) and --draws
                               (1000), langevin and mala also --warmup (1000), and
                               --device-gradients as vi does; diffusion learns
                               a score-based density of the observed rows (--steps, default
                               2000; --samples FILE.csv writes --draws new rows) and compares
                               its held-out log-likelihood with the model's
  --data FILE                  .csv or .json data; repeatable
  --data NAME=FILE             NAME from a CSV of numbers (1 column: vector; more: matrix [rows, cols])
  --set NAME=VALUE             a scalar or JSON array, e.g. --set K=3
  --map                        with em: keep the priors (MAP instead of maximum likelihood)
  --n-init N                   number of random starts
  --max-iter N, --tol X        iteration limit and convergence tolerance
  --seed N                     random seed (default 1)
  --backend NAME               ${BACKENDS.join(' | ')} (default wasm)
  --out FILE                   also write the whole result as JSON
  --assignments FILE           write a CSV, one row per observation of the first enumerated
                               latent's plate: responsibilities p.1..p.K and the most probable
                               z (1-based) at the fitted parameters
  --quiet                      no progress line on a terminal

exit status: 0 converged; 3 not converged (nuts/hmc: as 'mixppl sample'); 1 model or
data error; 2 usage error.

example:
  mixppl fit examples/old-faithful/faithful.mix --data examples/old-faithful/faithful.csv
`;

interface Args {
  command?: string;
  positional: string[];
  data: string[];
  set: string[];
  /** `--param NAME=VALUE` (filter), in order. */
  param: string[];
  opts: Map<string, string>;
  flags: Set<string>;
  /** Every option given, in order (value options, flags, --data, --set). */
  given: string[];
}

const VALUE_OPTS = new Set(['--seed', '--backend', '--out', '--assignments', '--threads', '--draws', '--method', '--max-iter', '--grad-samples', '--tol', '--n-init', '--guide', '--particles', '--waste-free', '--kernel', '--sbc', '--steps', '--samples', ...SAMPLE_VALUE_OPTIONS, ...SELECT_VALUE_OPTIONS, ...FILTER_VALUE_OPTIONS.filter((o) => o !== '--param')]);

/** The options each command accepts (besides --help); anything else is a usage error. */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  check: [],
  ir: [],
  simulate: ['--data', '--set', '--seed', '--backend', '--out', '--draws'],
  fit: ['--data', '--set', '--method', '--map', '--n-init', '--max-iter', '--tol', '--seed', '--backend', '--out', '--assignments', '--quiet'],
  sample: ['--data', '--set', '--backend', ...SAMPLE_VALUE_OPTIONS, ...SAMPLE_FLAGS],
  select: SELECT_OPTIONS,
  report: REPORT_OPTIONS,
  summary: SUMMARY_OPTIONS,
  filter: FILTER_OPTIONS,
};

const HELP: Record<string, string> = { check: CHECK_HELP, ir: IR_HELP, simulate: SIMULATE_HELP, fit: FIT_HELP, sample: SAMPLE_HELP, select: SELECT_HELP, report: REPORT_HELP, summary: SUMMARY_HELP, filter: FILTER_HELP };

function isCommand(name: string): boolean {
  return Object.hasOwn(HELP, name);
}

/** The commands that take --threads (those that take --backend). */
const THREADS_COMMANDS = ['simulate', 'fit', 'sample', 'select', 'report'];

/** `fit --method` values; nuts and hmc run the sample command. */
const FIT_METHODS = ['em', 'map', 'mle', 'nuts', 'hmc', 'mh', ...APPROX_METHODS];

function parseArgs(argv: string[]): Args {
  const a: Args = { positional: [], data: [], set: [], param: [], opts: new Map(), flags: new Set(), given: [] };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x.startsWith('--')) a.given.push(x);
    if (x === '--data') a.data.push(need(argv, ++i, x));
    else if (x === '--set') a.set.push(need(argv, ++i, x));
    else if (x === '--param') a.param.push(need(argv, ++i, x));
    else if (VALUE_OPTS.has(x)) a.opts.set(x, need(argv, ++i, x));
    else if (x.startsWith('--')) a.flags.add(x);
    else if (!a.command) a.command = x;
    else a.positional.push(x);
  }
  return a;
}

function need(argv: string[], i: number, opt: string): string {
  if (i >= argv.length) throw new UsageError(`${opt} needs a value`);
  return argv[i];
}

class UsageError extends Error {}

/** Throws a UsageError for an option the command does not take, or a stray argument. */
function checkOptions(a: Args, command: string, allowed: readonly string[]): void {
  for (const o of a.given) {
    if (o !== '--help' && !allowed.includes(o)) {
      throw new UsageError(`unknown option '${o}' for '${command}'${allowed.length ? `; options: ${allowed.join(', ')}` : ' (it takes none)'}`);
    }
  }
  if (a.positional.length > 1) throw new UsageError(`'${command}' takes one model file; unexpected '${a.positional[1]}'`);
}

function loadModel(path: string | undefined): { model?: Model; diagnostics: Diagnostic[]; text: string; name: string } {
  if (!path) throw new UsageError('give a model file, e.g. mixppl check model.mix');
  if (!existsSync(path)) throw new UsageError(`no such model file: ${path}`);
  const text = readFileSync(path, 'utf8');
  const name = basename(path);
  const r = frontEnd(text, name);
  return { model: r.ir ? new Model(r.ir, r.checked!, r.source, r.diagnostics) : undefined, diagnostics: r.diagnostics, text, name };
}

function loadData(a: Args): Record<string, DataValue> {
  const data: Record<string, DataValue> = {};
  for (const f of a.data) Object.assign(data, readDataArg(f));
  for (const s of a.set) {
    const [k, v] = parseSet(s);
    data[k] = v;
  }
  return data;
}

function flatColumns(prefix: string, nd: NdArray): { names: string[]; values: number[] } {
  if (nd.shape.length === 0) return { names: [prefix], values: [nd.values[0]] };
  const names: string[] = [];
  const n = nd.values.length;
  for (let i = 0; i < n; i++) {
    const idx: number[] = [];
    let r = i;
    for (let d = nd.shape.length - 1; d >= 0; d--) { idx.unshift((r % nd.shape[d]) + 1); r = Math.floor(r / nd.shape[d]); }
    names.push(`${prefix}.${idx.join('.')}`);
  }
  return { names, values: Array.from(nd.values) };
}

/** Runs one command line and returns its exit status; throws usage, model and data errors. */
export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  if (!a.command || a.command === 'help') {
    const topic = a.positional[0];
    if (a.command === 'help' && topic !== undefined) {
      if (!isCommand(topic)) throw new UsageError(`no help on '${topic}'; commands: ${Object.keys(HELP).join(', ')}`);
      process.stdout.write(HELP[topic]);
      return 0;
    }
    process.stdout.write(USAGE);
    // 'mixppl help' and 'mixppl --help' ask for this; a bare 'mixppl' is a usage error.
    return a.command || a.flags.has('--help') ? 0 : 2;
  }
  if (!isCommand(a.command)) throw new UsageError(`unknown command '${a.command}'; commands: ${Object.keys(HELP).join(', ')}`);
  if (a.flags.has('--help')) {
    process.stdout.write(HELP[a.command]);
    return 0;
  }
  const backend = (a.opts.get('--backend') ?? 'wasm') as BackendName;
  if (a.given.includes('--threads')) {
    // Taken by every command that takes --backend; checked (and refused where it cannot work) here.
    if (!THREADS_COMMANDS.includes(a.command)) {
      throw new UsageError(`unknown option '--threads' for '${a.command}'`);
    }
    const raw = a.opts.get('--threads')!;
    if (!/^\s*\d+\s*$/.test(raw) || Number(raw) < 1) throw new UsageError(`--threads: '${raw}' is not a positive integer`);
    await requestWasmThreads(Number(raw), backend);
    a.given = a.given.filter((o) => o !== '--threads');
  }
  // fit checks its options once it knows the method; select and summary take several files.
  if (a.command !== 'fit' && a.command !== 'select' && a.command !== 'summary') checkOptions(a, a.command, COMMAND_OPTIONS[a.command]);
  switch (a.command) {
    case 'check': {
      const r = loadModel(a.positional[0]);
      if (r.diagnostics.length) process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
      if (!r.model) return 1;
      const s = r.model.sites;
      const count = (k: string) => s.filter((x) => x.kind === k).length;
      process.stdout.write(`ok: model ${r.model.name}: ${count('data')} data, ${count('param')} parameters, ${count('latent')} discrete latents (summed out)\n`);
      return 0;
    }
    case 'ir': {
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      process.stdout.write(r.model.printIR() + '\n');
      return 0;
    }
    case 'simulate': {
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      await useBackend(backend);
      const draws = r.model.simulate(loadData(a), { seed: Number(a.opts.get('--seed') ?? 1), draws: Number(a.opts.get('--draws') ?? 1) });
      let header: string[] = [];
      const rows: number[][] = [];
      draws.forEach((d, i) => {
        const names: string[] = ['draw'];
        const vals: number[] = [i + 1];
        for (const group of [d.params, d.latents, d.data]) {
          for (const [k, v] of Object.entries(group)) {
            const c = flatColumns(k, v);
            names.push(...c.names);
            vals.push(...c.values);
          }
        }
        header = names;
        rows.push(vals);
      });
      const csv = toCsv(header, rows);
      const out = a.opts.get('--out');
      if (out) {
        writeFileSync(out, csv);
        process.stdout.write(`wrote ${draws.length} draw${draws.length === 1 ? '' : 's'} (${header.length - 1} columns) to ${out}\n`);
      } else process.stdout.write(csv);
      return 0;
    }
    case 'fit': {
      const method = a.opts.get('--method');
      if (method !== undefined && !FIT_METHODS.includes(method)) {
        throw new UsageError(`fit: unknown method '${method}'; available: ${FIT_METHODS.join(', ')}`);
      }
      const mcmc = method === 'nuts' || method === 'hmc' || method === 'mh' ? method : undefined;
      // nuts and hmc take the sample command's options.
      const approx = (APPROX_METHODS as readonly string[]).includes(method ?? '') ? (method as ApproxMethod) : undefined;
      checkOptions(a, `fit --method ${method ?? 'em|map|mle'}`, mcmc ? [...COMMAND_OPTIONS.sample, '--method']
        : approx ? ['--data', '--set', '--method', '--seed', '--backend', '--out', '--quiet', '--threads', ...approxOptions(approx)] : COMMAND_OPTIONS.fit);
      const settings = mcmc ? parseSampleSettings(a.opts, a.flags, mcmc) : undefined;
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      await useBackend(backend);
      // On webgpu (no synchronous reads) EM, MAP, MLE (fitCommand) and diffusion (runDiffusion)
      // run on the device, their reads awaited, and so do NUTS/HMC's gradients with
      // --device-gradients; the other methods run on the host (runOnHostBackend).
      if (approx === 'diffusion') return approxCommand(r.model, loadData(a), approx, a.opts, a.flags);
      // vi and the score-based samplers with --device-gradients: the gradients on the backend in
      // this thread, the loop in a worker; smc: the particles' moves as batches on the backend.
      if (approx && a.flags.has('--device-gradients')) return approxCommand(r.model, loadData(a), approx, a.opts, a.flags);
      if (approx) return runOnHostBackend(() => approxCommand(r.model!, loadData(a), approx, a.opts, a.flags));
      if (settings) return settings.deviceGradients ? sampleCommand(r.model, loadData(a), settings) : runOnHostBackend(() => sampleCommand(r.model!, loadData(a), settings));
      return fitCommand(r.model, loadData(a), a.opts, a.flags);
    }
    case 'sample': {
      const settings = parseSampleSettings(a.opts, a.flags);
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      await useBackend(backend);
      // --device-gradients: the gradients on the backend in this thread (sampleParallel), the rest on the host.
      if (settings.deviceGradients) return sampleCommand(r.model, loadData(a), settings);
      return runOnHostBackend(() => sampleCommand(r.model!, loadData(a), settings));
    }
    case 'select': {
      checkOptions({ ...a, positional: a.positional.slice(0, 1) }, 'select', COMMAND_OPTIONS.select);
      const settings = parseSelectSettings(a.opts, a.flags);
      if (a.positional.length === 0) throw new UsageError('give one or more model files, e.g. mixppl select stdlib/gmm_diag.mix --data x.csv --k 1..6');
      const loaded = a.positional.map((p) => loadModel(p));
      const bad = loaded.filter((r) => !r.model);
      for (const r of bad) process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
      if (bad.length) return 1;
      await useBackend(backend);
      return await selectCommand(loaded.map((r) => ({ model: r.model!, file: r.name })), loadData(a), settings);
    }
    case 'report': {
      if (a.opts.has('--sbc')) return sbcReportCommand(a.opts.get('--sbc')!, a.opts, a.given, a.positional);
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      await useBackend(backend);
      // On webgpu (no synchronous reads) the whole report runs on the host (tfjs cpu), as the
      // other families do: it fits, simulates and plots with synchronous reads throughout.
      return runOnHostBackend(() => reportCommand(r.model!, loadData(a), { modelFile: r.name, modelSource: r.text, dataFiles: a.data, sets: a.set, opts: a.opts, flags: a.flags }));
    }
    case 'filter': {
      const settings = parseFilterSettings(a.opts, a.param);
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      await useBackend(backend);
      return filterCommand(r.model!, loadData(a), settings);
    }
    case 'summary': {
      checkOptions({ ...a, positional: [] }, 'summary', COMMAND_OPTIONS.summary);
      if (a.positional.length === 0) throw new UsageError('give one or more CmdStan CSV files (one per chain), e.g. mixppl summary out/model-*.csv');
      return summaryCommand(a.positional);
    }
    default:
      throw new UsageError(`unknown command '${a.command}'; commands: ${Object.keys(HELP).join(', ')}`);
  }
}

/** Runs main and maps errors to messages and exit codes: 1 for model/data errors, 2 for usage. */
export async function run(argv: string[]): Promise<void> {
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    if (e instanceof MixError) {
      process.stderr.write(renderDiagnostics(e.diagnostics, e.source) + '\n');
      code = 1;
    } else if (e instanceof UsageError || e instanceof OptionError || e instanceof ThreadsUnsupportedError) {
      const cmd = argv.find((x) => !x.startsWith('--'));
      const help = cmd && isCommand(cmd) ? `mixppl ${cmd} --help` : 'mixppl help';
      process.stderr.write(`mixppl: ${e.message}\n(run '${help}' for usage)\n`);
      code = 2;
    } else if (e instanceof DataFileError || e instanceof BackendUnavailableError) {
      process.stderr.write(`mixppl: ${e.message}\n`);
      code = 1;
    } else {
      throw e;
    }
  }
  process.exitCode = code;
}
