/**
 * The `mixppl` command line. Only this module prints and exits; every phase below it
 * returns results or diagnostics.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { frontEnd } from '../compile';
import { Model } from '../model/model';
import { MixError, renderDiagnostics, type Diagnostic } from '../diagnostics/diagnostic';
import { useBackend, BACKENDS, BackendUnavailableError, type BackendName } from '../tensor/backend';
import { readDataFile, parseSet, toCsv, DataFileError } from './data-io';
import type { DataValue, NdArray } from '../model/data';
import { fitCommand } from './fit';

const USAGE = `mixppl: a probabilistic programming language for mixture models

usage: mixppl <command> [options]

commands:
  check MODEL.mix              report every diagnostic; exit 1 on errors
  ir MODEL.mix                 print the model's IR (plates, factors, enumerated latents)
  simulate MODEL.mix           draw parameters, latents and data from the prior
  fit MODEL.mix                fit the model to data (see 'mixppl fit --help')

options for simulate and fit:
  --data FILE                  .csv or .json data (CSV: column y -> y[N]; x.1, x.2 -> x[N, 2]); repeatable
  --set NAME=VALUE             a scalar or JSON array, e.g. --set K=3
  --seed N                     random seed (default 1)
  --backend NAME               ${BACKENDS.join(' | ')} (default wasm)
  --out FILE                   write results here (simulate: CSV; fit: JSON)

examples:
  mixppl check stdlib/gmm_diag.mix
  mixppl simulate stdlib/gmm_diag.mix --set N=200 --set K=3 --set D=2 --out sim.csv
  mixppl fit examples/old-faithful/faithful.mix --data examples/old-faithful/faithful.csv
`;

interface Args {
  command?: string;
  positional: string[];
  data: string[];
  set: string[];
  opts: Map<string, string>;
  flags: Set<string>;
}

const VALUE_OPTS = new Set(['--seed', '--backend', '--out', '--draws', '--method', '--max-iter', '--tol', '--n-init', '--k']);

function parseArgs(argv: string[]): Args {
  const a: Args = { positional: [], data: [], set: [], opts: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--data') a.data.push(need(argv, ++i, x));
    else if (x === '--set') a.set.push(need(argv, ++i, x));
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
  for (const f of a.data) Object.assign(data, readDataFile(f));
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

export async function main(argv: string[]): Promise<number> {
  const a = parseArgs(argv);
  if (!a.command || a.flags.has('--help') && !a.command || a.command === 'help') {
    process.stdout.write(USAGE);
    return a.command ? 0 : 2;
  }
  const backend = (a.opts.get('--backend') ?? 'wasm') as BackendName;
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
      const r = loadModel(a.positional[0]);
      if (!r.model) {
        process.stderr.write(renderDiagnostics(r.diagnostics, { name: r.name, text: r.text }) + '\n');
        return 1;
      }
      await useBackend(backend);
      return fitCommand(r.model, loadData(a), a.opts, a.flags);
    }
    default:
      throw new UsageError(`unknown command '${a.command}'; commands: check, ir, simulate, fit`);
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
    } else if (e instanceof UsageError) {
      process.stderr.write(`mixppl: ${e.message}\n(run 'mixppl help' for usage)\n`);
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
