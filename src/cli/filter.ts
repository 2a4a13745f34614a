/**
 * `mixppl filter`: particle filtering of a sequential model at fixed parameter values. The
 * model is read off the compiled program by the SMC family's adapters (an HMM with one chain
 * latent: `hmmFromModel`; a switching linear-Gaussian model: `switchingLgssmFromModel`); the
 * parameters come from a fit's JSON (`--params`), `--param NAME=VALUE`, or, for an HMM with
 * none given, an EM fit made first. Prints log Ẑ and the run's ESS, and writes the filtering
 * distribution per step as CSV.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Model } from '../model/model';
import type { DataValue } from '../model/data';
import type { BoundModel } from '../model/bound-model';
import { em } from '../infer/em';
import {
  hmmFromModel, hmmSsm, switchingLgssmFromModel, particleFilter, ffbsi, particleFilterDevice, hmmTensorSsm, switchingLgssmTensorSsm,
  type StateSpaceModel, type ParticleFilterResult, type FilterResampleScheme, type HmmTables,
  type DeviceFilterResult, type DeviceResampleScheme, type SwitchingLgssmParams,
} from '../infer/smc';
import { currentBackend, runOnHostBackend } from '../tensor/backend';
import { walkExpr } from '../ir/walk';
import { toCsv, DataFileError } from './data-io';
import { OptionError } from './sample';

export const FILTER_HELP = `usage: mixppl filter MODEL.mix --data FILE [options]

Runs a particle filter on a sequential model at fixed parameter values and prints the log
marginal likelihood estimate (log Z-hat, unbiased in Z) and the effective sample sizes. Models:
a hidden Markov model with one chain latent (z[t] ~ categorical(A[z[t-1]])) and observations
given z[t]; a switching linear-Gaussian model (as stdlib/switching_lgssm.mix), whose continuous
state is what the filter infers (its values are not needed).

options:
  --data FILE                  .csv or .json data; repeatable (as for fit)
  --set NAME=VALUE             data scalars or arrays, e.g. --set K=2
  --params FILE.json           parameter values: the JSON that 'mixppl fit --out' writes (its
                               "params"), or an object of name: value
  --param NAME=VALUE           one parameter value (a number or JSON array); overrides --params
                               (without either, an HMM's parameters are fitted by EM first,
                               best of 5 starts)
  --particles N                number of particles (default 1000)
  --proposal NAME              bootstrap | optimal (default optimal: exact enumeration of the
                               next state for an HMM, Rao-Blackwellised Kalman steps for the
                               switching model)
  --resampling NAME            systematic | stratified | residual | multinomial (default systematic)
  --threshold X                resample when ESS < X * particles (default 0.5; 1 = always)
  --smooth M                   also draw M backward-simulation (FFBSi) trajectories and add
                               smoothing columns (bootstrap proposal only)
  --seed N                     random seed (default 1)
  --backend NAME               tfjs backend (default wasm); webgpu: the filter runs on the
                               device (float32 tensor ops; not with --smooth or residual
                               resampling, which keep the host's float64 filter)
  --out FILE                   write the per-step CSV here: t, then for a discrete state
                               P(name=k) columns, for a continuous one its mean and sd (and
                               quantiles q5, q50, q95 for bootstrap particles), then ess
  --quiet                      (accepted for symmetry; the filter prints no progress)

exit status: 0 ok; 1 model, data or parameter error; 2 usage error.

examples:
  mixppl filter examples/geyser-hmm/geyser.mix --data examples/geyser-hmm/geyser.csv --out filtered.csv
  mixppl fit examples/geyser-hmm/geyser.mix --data examples/geyser-hmm/geyser.csv --out fit.json
  mixppl filter examples/geyser-hmm/geyser.mix --data examples/geyser-hmm/geyser.csv --params fit.json --particles 5000
`;

export const FILTER_VALUE_OPTIONS = ['--params', '--param', '--particles', '--proposal', '--resampling', '--threshold', '--smooth'] as const;
export const FILTER_OPTIONS = ['--data', '--set', '--seed', '--backend', '--out', '--quiet', ...FILTER_VALUE_OPTIONS];

const SCHEMES: readonly FilterResampleScheme[] = ['systematic', 'stratified', 'residual', 'multinomial'];

/** Parsed options of `mixppl filter`. */
export interface FilterSettings {
  particles: number;
  proposal: 'bootstrap' | 'optimal';
  resampling: FilterResampleScheme;
  threshold: number;
  smooth: number;
  seed: number;
  paramsFile?: string;
  params: [string, string][];
  out?: string;
}

function intOpt(opts: Map<string, string>, name: string, dflt: number, min: number): number {
  const raw = opts.get(name);
  if (raw === undefined) return dflt;
  if (!/^\s*-?\d+\s*$/.test(raw) || Number(raw) < min) throw new OptionError(`${name}: '${raw}' is not an integer ≥ ${min}`);
  return Number(raw);
}

/** Reads the filter's options; throws OptionError (a usage error) for a bad value. */
export function parseFilterSettings(opts: Map<string, string>, params: string[]): FilterSettings {
  const proposal = opts.get('--proposal') ?? 'optimal';
  if (proposal !== 'bootstrap' && proposal !== 'optimal') throw new OptionError(`--proposal: '${proposal}' is not one of bootstrap, optimal`);
  const resampling = opts.get('--resampling') ?? 'systematic';
  if (!(SCHEMES as readonly string[]).includes(resampling)) throw new OptionError(`--resampling: '${resampling}' is not one of ${SCHEMES.join(', ')}`);
  const thrRaw = opts.get('--threshold');
  const threshold = thrRaw === undefined ? 0.5 : Number(thrRaw);
  if (!(threshold >= 0 && threshold <= 1) || thrRaw?.trim() === '') throw new OptionError(`--threshold: '${thrRaw}' is not a number in [0, 1]`);
  const smooth = intOpt(opts, '--smooth', 0, 0);
  if (smooth > 0 && proposal !== 'bootstrap') throw new OptionError('--smooth needs --proposal bootstrap (backward simulation needs particles that are Markov states)');
  const parsed: [string, string][] = params.map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new OptionError(`--param: '${p}' is not NAME=VALUE`);
    return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()];
  });
  return {
    particles: intOpt(opts, '--particles', 1000, 2),
    proposal, resampling: resampling as FilterResampleScheme, threshold, smooth,
    seed: intOpt(opts, '--seed', 1, Number.MIN_SAFE_INTEGER),
    paramsFile: opts.get('--params'), params: parsed, out: opts.get('--out'),
  };
}

/** Parameter values from --params (a fit's JSON or a plain object) and --param overrides. */
function readParams(model: Model, s: FilterSettings): Record<string, DataValue> {
  const names = new Set(model.sites.filter((x) => x.kind === 'param').map((x) => x.name));
  const out: Record<string, DataValue> = {};
  const take = (where: string, k: string, v: unknown) => {
    if (!names.has(k)) throw new DataFileError(`${where}: '${k}' is not a parameter of model ${model.name} (parameters: ${[...names].join(', ')})`);
    const bad = (x: unknown): boolean => (Array.isArray(x) ? x.some(bad) : typeof x !== 'number' || !Number.isFinite(x));
    if (bad(v)) throw new DataFileError(`${where}: '${k}' must be a finite number or a (nested) array of finite numbers`);
    out[k] = v as DataValue;
  };
  if (s.paramsFile) {
    let j: unknown;
    try {
      j = JSON.parse(readFileSync(s.paramsFile, 'utf8'));
    } catch (e) {
      throw new DataFileError(`--params ${s.paramsFile}: ${(e as Error).message}`);
    }
    const obj = j && typeof j === 'object' && 'params' in (j as object) ? (j as { params: unknown }).params : j;
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new DataFileError(`--params ${s.paramsFile}: expected an object of parameter values (or a fit's JSON with "params")`);
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) if (names.has(k)) take(`--params ${s.paramsFile}`, k, v);
  }
  for (const [k, raw] of s.params) {
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      throw new DataFileError(`--param ${k}: '${raw}' is not a number or JSON array`);
    }
    take(`--param ${k}`, k, v);
  }
  return out;
}

interface Adapted {
  ssm: StateSpaceModel;
  /** An HMM's tables, or the switching model's parameters and data (for the device filter). */
  tables?: HmmTables;
  switching?: { params: SwitchingLgssmParams; y: Float64Array };
  kind: 'hmm' | 'switching';
  /** The filter's continuous state (switching model), whose values are not needed. */
  state?: string;
}

/** The SMC family's adapter for the model's shape; its refusal (a RangeError saying why) becomes a data error. */
function adapt(bound: BoundModel, values: Record<string, DataValue>, kind: 'hmm' | 'switching'): Adapted {
  try {
    if (kind === 'switching') {
      const sw = switchingLgssmFromModel(bound, values);
      return { ssm: sw.ssm, kind, state: sw.names.state, switching: { params: sw.params, y: sw.y } };
    }
    const tables = hmmFromModel(bound, values);
    return { ssm: hmmSsm(tables), tables, kind };
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new DataFileError(`mixppl filter: model ${bound.rt.ir.name} cannot be filtered as ${kind === 'hmm' ? 'an HMM' : 'a switching linear-Gaussian model'}: ${e.message}`);
  }
}

/**
 * Which adapter the model's shape calls for, before any values are known: one chain latent and
 * nothing else discrete; a parameter whose own statement refers to itself (x[t] ~ f(x[t-1]))
 * makes it the switching model, whose state that parameter is.
 */
function shapeOf(model: Model): { kind: 'hmm' | 'switching'; state?: string } | undefined {
  const chains = model.ir.latents.filter((l) => l.chain);
  if (chains.length !== 1 || model.ir.latents.length !== 1) return undefined;
  for (const f of model.ir.factors) {
    if (f.kind !== 'prior' || !f.site || f.dist?.kind !== 'family') continue;
    let self = false;
    for (const arg of f.dist.args) walkExpr(arg, (e) => { if (e.op === 'param' && e.name === f.site) self = true; });
    if (self) return { kind: 'switching', state: f.site };
  }
  return { kind: 'hmm' };
}

function fmt(x: number): string {
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4);
}

/** Per-step columns of the filtering (and smoothing) distribution. */
function perStepTable(a: Adapted, r: ParticleFilterResult, smooth?: { trajectories: Float64Array; count: number }): { header: string[]; rows: number[][] } {
  const { T, stateDim: D, particles: n } = r;
  const h = r.history!;
  const names = r.stateNames;
  const rb = a.kind === 'switching' && r.proposal === 'optimal';
  // The switching model's particles carry a Kalman variance P (Rao–Blackwellised) or a 0 (bootstrap): not a state column.
  const skip = (nm: string) => a.kind === 'switching' && nm === 'P';
  const discrete = (d: number) => a.kind === 'hmm' || names[d] === 's';
  // Number of values of each discrete coordinate: 1 + the largest value any particle takes.
  const nVals = names.map((_, d) => {
    if (!discrete(d)) return 0;
    let m = 0;
    for (const p of h.particles) for (let i = 0; i < n; i++) m = Math.max(m, p[i * D + d]);
    return m + 1;
  });
  const header = ['t'];
  names.forEach((nm, d) => {
    if (skip(nm)) return;
    if (discrete(d)) for (let k = 0; k < nVals[d]; k++) header.push(`P(${nm}=${k + 1})`);
    else header.push(`${nm}.mean`, `${nm}.sd`, ...(rb ? [] : ['q5', 'q50', 'q95'].map((q) => `${nm}.${q}`)));
  });
  if (smooth) names.forEach((nm, d) => {
    if (skip(nm)) return;
    if (discrete(d)) for (let k = 0; k < nVals[d]; k++) header.push(`smooth.P(${nm}=${k + 1})`);
    else header.push(`smooth.${nm}.mean`);
  });
  header.push('ess');
  const nq = r.quantileLevels.length;
  const qIdx = [0.05, 0.5, 0.95].map((q) => r.quantileLevels.indexOf(q));
  const rows: number[][] = [];
  const w = new Float64Array(n);
  const pIdx = names.indexOf('P');
  for (let t = 0; t < T; t++) {
    const lw = h.logWeights[t];
    const x = h.particles[t];
    for (let i = 0; i < n; i++) w[i] = Math.exp(lw[i]);
    const row = [t + 1];
    names.forEach((nm, d) => {
      if (skip(nm)) return;
      if (discrete(d)) {
        const p = new Array(nVals[d]).fill(0);
        for (let i = 0; i < n; i++) p[x[i * D + d]] += w[i];
        row.push(...p);
        return;
      }
      let m = 0;
      let m2 = 0;
      for (let i = 0; i < n; i++) {
        const v = x[i * D + d];
        m += w[i] * v;
        // A Rao–Blackwellised particle carries a Kalman mean and variance: E[x²] = P + m².
        m2 += w[i] * (v * v + (rb && pIdx >= 0 ? x[i * D + pIdx] : 0));
      }
      row.push(m, Math.sqrt(Math.max(0, m2 - m * m)));
      if (!rb) for (const j of qIdx) row.push(r.quantiles[(t * nq + j) * D + d]);
    });
    if (smooth) {
      const M = smooth.count;
      names.forEach((nm, d) => {
        if (skip(nm)) return;
        if (discrete(d)) {
          const p = new Array(nVals[d]).fill(0);
          for (let m = 0; m < M; m++) p[smooth.trajectories[(m * T + t) * D + d]] += 1 / M;
          row.push(...p);
        } else {
          let s = 0;
          for (let m = 0; m < M; m++) s += smooth.trajectories[(m * T + t) * D + d] / M;
          row.push(s);
        }
      });
    }
    row.push(r.ess[t]);
    rows.push(row);
  }
  return { header, rows };
}

/** The model's state-space form at the parameter values (fitted by EM first where missing), made on the host. */
function prepare(model: Model, data: Record<string, DataValue>, s: FilterSettings, shape: { kind: 'hmm' | 'switching'; state?: string }): { a: Adapted; head: string[] } {
  const values = readParams(model, s);
  const bound = model.bind(data);
  try {
    const head: string[] = [];
    const need = model.sites.filter((x) => x.kind === 'param').map((x) => x.name);
    // A switching model's continuous state is what the filter infers: its values are not needed.
    const missing = need.filter((k) => !(k in values) && k !== shape.state);
    if (missing.length) {
      if (shape.kind !== 'hmm') throw new DataFileError(`mixppl filter: no values for ${missing.join(', ')}; give them with --params FILE.json or --param NAME=VALUE`);
      const e = em(bound, { seed: s.seed, nInit: 5 });
      for (const k of missing) values[k] = e.params[k] as DataValue;
      head.push(`parameters ${missing.join(', ')}: EM maximum-likelihood estimate, best of 5 starts (log likelihood ${fmt(e.logLik)}, ${e.iterations} iterations${e.converged ? '' : ', NOT converged'})`);
    }
    return { a: adapt(bound, values, shape.kind), head };
  } finally {
    bound.dispose();
  }
}

/** Why the filter runs on the host under webgpu (undefined: it runs on the device). */
function hostReason(s: FilterSettings): string | undefined {
  if (s.smooth > 0) return '--smooth needs the particle history, kept on the host';
  if (s.resampling === 'residual') return 'residual resampling has no device version';
  return undefined;
}

/**
 * Runs `mixppl filter` on a loaded model and data; returns the exit status. Under webgpu the
 * filter runs on the device (`particleFilterDevice`, float32) unless --smooth or residual
 * resampling asks for the host's; the model's description (and an EM start) is made on the host.
 */
export async function filterCommand(model: Model, data: Record<string, DataValue>, s: FilterSettings): Promise<number> {
  const shape = shapeOf(model);
  if (!shape) {
    const chains = model.ir.latents.filter((l) => l.chain).length;
    throw new DataFileError(`mixppl filter: model ${model.name} needs exactly one discrete latent, a chain (z[t] ~ categorical(A[z[t-1]])); it has ${chains} chain(s) and ${model.ir.latents.length - chains} other latent(s)`);
  }
  const backend = currentBackend();
  const why = backend === 'webgpu' ? hostReason(s) : undefined;
  const { a, head } = await runOnHostBackend(() => prepare(model, data, s, shape));
  const proposal = s.proposal === 'optimal' && !a.ssm.optimal ? 'bootstrap' : s.proposal;
  let r: ParticleFilterResult | DeviceFilterResult;
  let tab: { header: string[]; rows: number[][] };
  let where: string;
  if (backend === 'webgpu' && !why) {
    const tssm = a.switching ? switchingLgssmTensorSsm(a.switching.params, a.switching.y) : hmmTensorSsm(a.tables!);
    let dr: DeviceFilterResult;
    try {
      dr = await particleFilterDevice(tssm, {
        particles: s.particles, seed: s.seed, resampling: s.resampling as DeviceResampleScheme, resampleThreshold: s.threshold, proposal,
        // the host table's quantile columns: a continuous state's bootstrap particles
        quantiles: a.switching && proposal === 'bootstrap' ? [0.05, 0.5, 0.95] : [],
      });
    } finally {
      tssm.dispose();
    }
    r = dr;
    tab = deviceStepTable(dr);
    where = 'on the device (webgpu, float32)';
  } else {
    const hr = particleFilter(a.ssm, {
      particles: s.particles, seed: s.seed, resampling: s.resampling, resampleThreshold: s.threshold,
      proposal, history: true,
    });
    r = hr;
    tab = perStepTable(a, hr, s.smooth > 0 ? ffbsi(a.ssm, hr, { trajectories: s.smooth, seed: s.seed }) : undefined);
    where = `on the host (float64)${why ? `: ${why}` : ''}`;
  }
  let minEss = Infinity;
  let meanEss = 0;
  for (const e of r.ess) { minEss = Math.min(minEss, e); meanEss += e / r.T; }
  const nRes = r.resampled.reduce((acc, v) => acc + v, 0);
  const lines = [
    `model ${model.name}: particle filter on the ${a.ssm.name}${a.state ? ` (state ${a.state} filtered)` : ''}`,
    ...head,
    `${r.particles} particles, ${proposal} proposal${proposal !== s.proposal ? ' (the model has no optimal proposal)' : ''}, ${s.resampling} resampling when ESS < ${s.threshold} x particles; ${r.T} steps; ${r.wallSeconds.toFixed(2)} s ${where}`,
    `log Z-hat ${fmt(r.logZ)}  (log marginal likelihood estimate; Z-hat is unbiased)`,
    `ESS mean ${meanEss.toFixed(1)}, min ${minEss.toFixed(1)}; resampled at ${nRes} of ${r.T - 1} steps`,
  ];
  if (s.out) {
    try {
      writeFileSync(s.out, toCsv(tab.header, tab.rows));
    } catch (e) {
      throw new DataFileError(`cannot write ${s.out}: ${(e as Error).message}`);
    }
    lines.push(`wrote ${tab.rows.length} steps (${tab.header.slice(1).join(', ')}) to ${s.out}`);
  } else {
    // Without --out, the first and last steps.
    const show = tab.rows.length <= 10 ? tab.rows : [...tab.rows.slice(0, 5), undefined, ...tab.rows.slice(-5)];
    lines.push('', tab.header.join('  '));
    for (const row of show) lines.push(row ? row.map((v, j) => (j === 0 ? String(v) : fmt(v))).join('  ') : '...');
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/**
 * Per-step columns of the device filter's result, from its summaries: a discrete state's
 * P(name=k) as they are; a continuous one's mean and sd from its `name` and `name^2+P`
 * summaries, and its quantiles where the run has them (the host table's columns); then ess.
 */
function deviceStepTable(r: DeviceFilterResult): { header: string[]; rows: number[][] } {
  const m = r.summaryNames.length;
  const header = ['t'];
  const cols: ((t: number) => number)[] = [];
  const at = (t: number, j: number) => r.summaries[t * m + j];
  r.summaryNames.forEach((nm, j) => {
    if (nm.startsWith('P(')) {
      header.push(nm);
      cols.push((t) => at(t, j));
      return;
    }
    const j2 = r.summaryNames.indexOf(`${nm}^2+P`);
    if (j2 < 0) return;
    header.push(`${nm}.mean`, `${nm}.sd`);
    cols.push((t) => at(t, j), (t) => Math.sqrt(Math.max(0, at(t, j2) - at(t, j) ** 2)));
    const d = r.stateNames.indexOf(nm);
    const nq = r.quantileLevels.length;
    [0.05, 0.5, 0.95].forEach((level, i) => {
      const q = r.quantileLevels.indexOf(level);
      if (q < 0 || d < 0) return;
      header.push(`${nm}.${['q5', 'q50', 'q95'][i]}`);
      cols.push((t) => r.quantiles[(t * nq + q) * r.stateDim + d]);
    });
  });
  header.push('ess');
  const rows: number[][] = [];
  for (let t = 0; t < r.T; t++) rows.push([t + 1, ...cols.map((f) => f(t)), r.ess[t]]);
  return { header, rows };
}
