/**
 * SMC benchmark, part (b): the tempered SMC sampler on the galaxy mixture (MASS::galaxies /
 * 1000, K = 3 and 6, priors as ../shared/bench/models/galaxy_mix.stan) against WebPPL's
 * tempered SMC (../shared/bench/wppl/galaxy.wppl with the `smc_tempered` settings of
 * ../shared/bench/workers/galaxy_webppl.py: 1000 particles, 50 temperatures b_t = (t/50)^4,
 * 2 MH rejuvenation steps per temperature), in one run.
 *
 * Per tool and K: wall seconds per run (WebPPL timed inside the program, so node start-up and
 * compilation are left out), log Z mean and sd over the runs, and for mixppl the stages and
 * gradient evaluations. Also the cost of one tempered-target evaluation (value and gradient)
 * in the single-pass form (−V_prior − β V_lik) against the two-pass form (−V_full + (1 − β)
 * V_lik) at the final particles. Writes bench/results/smc-tempered.json and .md.
 *
 *   npx tsx bench/smc-tempered.ts [--Ks 3,6] [--runs 4] [--no-webppl]
 *       [--fast-particles 300] [--fast-ess 0.9] [--particles 500] [--ess 0.95]
 *
 * WebPPL runs through the shared harness, as bench/mcmc.ts runs its peers: the data worker
 * (../shared/bench/workers/galaxy_data.R) writes $BENCH_DATA/galaxies.csv, which both tools
 * read (checked equal to examples/galaxies/galaxies.csv), and
 * ../shared/bench/workers/galaxy_webppl.py --variants smc_tempered runs WebPPL's 3 runs per K.
 * Needs `bash ../shared/bench/setup.sh` once (its npm part installs WebPPL).
 *
 * Waste-free comparison (Dau & Chopin 2022): `--waste-free` runs, for each K of --Ks (default
 * 3) and --runs seeds (default 8), the standard resample–move settings above against waste-free
 * settings (`wasteFree: { chainLength }`, knobs: particles, chain length, kernel, leapfrog
 * steps, CESS), then WebPPL's tempered SMC (unless --no-webppl), in one run, and prints log Z
 * mean, sd and seconds per run of each, with each mixppl setting's time and log-Z sd as ratios
 * to WebPPL's, and which settings meet the target; `--out FILE.md` also writes that to a file.
 * `--wf-only name,name` keeps only the named settings. The 'gibbs' settings are data annealing
 * with exact Gibbs moves (`rejuvenation: { kernel: 'gibbs' }`).
 *
 * Everything runs on one thread (BENCH_THREADS=1 for the peers).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { compile, ensureBackend } from '../src';
import { smc, TemperedTarget, type SmcOptions } from '../src/infer/smc';
import type { GradientTarget } from '../src/infer/mcmc/hmc';
import type { PotentialFunction } from '../src/model/bound-model';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const Ks = opt('Ks', '3,6').split(',').map(Number);
const RUNS = Number(opt('runs', '4'));
const withWebppl = !argv.includes('--no-webppl');
/** mixppl settings: 'fast' aims at less time, 'accurate' at a small log-Z sd; 'rwmh' rejuvenates with random-walk Metropolis. */
const configs: { name: string; opts: SmcOptions }[] = [
  { name: 'fast', opts: { particles: Number(opt('fast-particles', '300')), essThreshold: Number(opt('fast-ess', '0.9')), rejuvenation: { kernel: 'hmc', steps: 2, leapfrogSteps: 10, metric: 'dense' } } },
  { name: 'accurate', opts: { particles: Number(opt('particles', '500')), essThreshold: Number(opt('ess', '0.95')), rejuvenation: { kernel: 'hmc', steps: 2, leapfrogSteps: 10, metric: 'dense' } } },
  { name: 'rwmh', opts: { particles: 1000, essThreshold: 0.9, rejuvenation: { kernel: 'rwmh', steps: 10 } } },
];
const REFERENCE: Record<number, { logZ: number; source: string }> = {
  3: { logZ: -223.90, source: 'Stan + bridge sampling (../shared/bench, 13% error)' },
};

const peersDir = resolve('../shared/bench');
const dataDir = process.env.BENCH_DATA ?? '/tmp/peers_bench';
const peerEnv = { ...process.env, BENCH_THREADS: '1', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', BENCH_DATA: dataDir };
const y = readFileSync('examples/galaxies/galaxies.csv', 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).slice(1).map(Number);
if (y.length !== 82 || y.some((v) => !Number.isFinite(v))) throw new Error(`galaxies.csv: expected 82 numbers, got ${y.length}`);

/** One K of WebPPL's tempered SMC as the shared worker reports it. */
interface WebpplK {
  runSeconds: number[];
  logZ: number[];
  version: string | null;
  /** CPU seconds of the whole worker (all runs, start-up and R summary included); NaN when unknown or several K shared it. */
  cpuTotal: number;
}

/**
 * Runs WebPPL's tempered SMC (the `smc_tempered` variant: 1000 particles, 50 temperatures
 * (t/50)^4, 2 MH steps, 3 runs) through the shared harness on the data it writes, after
 * checking that data equals ours; returns per K the seconds (timed inside WebPPL) and log Z
 * of each run.
 */
function runWebppl(Ks: number[]): Map<number, WebpplK> {
  const webppl = join(peersDir, 'node_modules', '.bin', 'webppl');
  if (!existsSync(webppl)) throw new Error(`WebPPL not found at ${webppl}: run bash ../shared/bench/setup.sh (its npm part)`);
  mkdirSync(dataDir, { recursive: true });
  execFileSync('Rscript', [join(peersDir, 'workers', 'galaxy_data.R'), '--Ks', Ks.join(',')], { env: peerEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  const shared = readFileSync(join(dataDir, 'galaxies.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',').at(-1)));
  if (shared.length !== y.length || shared.some((v, i) => Math.abs(v - y[i]) > 1e-12)) {
    throw new Error(`${join(dataDir, 'galaxies.csv')} differs from examples/galaxies/galaxies.csv: not the same data`);
  }
  // CPU seconds of the worker and its children (WebPPL, R) by /usr/bin/time where it exists:
  // on a loaded machine they compare better than wall seconds.
  const worker = [join(peersDir, 'workers', 'galaxy_webppl.py'), '--Ks', Ks.join(','), '--variants', 'smc_tempered'];
  const timed = existsSync('/usr/bin/time');
  const cpuFile = join(dataDir, 'smc-tempered-webppl-cpu.txt');
  const out = (timed
    ? execFileSync('/usr/bin/time', ['-f', '%U %S', '-o', cpuFile, '/usr/bin/python3', ...worker], { env: peerEnv, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 })
    : execFileSync('/usr/bin/python3', worker, { env: peerEnv, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 })).toString();
  const cpuTotal = timed ? readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number).reduce((a, b) => a + b, 0) : NaN;
  const res = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown> & { version?: string };
  const got = new Map<number, WebpplK>();
  for (const K of Ks) {
    const r = (res[`K${K}`] as Record<string, { error?: string; run_seconds?: number[] | number; log_marginal_likelihood_runs?: number[] | number }> | undefined)?.smc_tempered;
    if (!r || r.error) {
      console.error(`webppl K=${K}: ${r?.error ?? 'no result'}`);
      continue;
    }
    // R's JSON writer gives a scalar for a one-run vector.
    const arr = (v: number[] | number | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    got.set(K, { runSeconds: arr(r.run_seconds), logZ: arr(r.log_marginal_likelihood_runs), version: res.version ?? null, cpuTotal: NaN });
  }
  // One K: its share of the worker's CPU (WebPPL start-up, compilation and the R summary included).
  if (got.size === 1) for (const w of got.values()) w.cpuTotal = cpuTotal;
  return got;
}

/** The two-pass tempered target the sampler used before: −V_full + (1 − β) V_lik. */
class TwoPassTarget implements GradientTarget {
  readonly dim: number;
  private readonly gl: Float64Array;
  constructor(private readonly full: PotentialFunction, private readonly lik: PotentialFunction, public beta: number) {
    this.dim = full.dim;
    this.gl = new Float64Array(full.dim);
  }
  logDensityGrad(u: Float64Array, grad: Float64Array): number {
    const vf = this.full.valueAndGrad(u, grad);
    const c = 1 - this.beta;
    const vl = this.lik.valueAndGrad(u, this.gl);
    for (let i = 0; i < this.dim; i++) grad[i] = -grad[i] + c * this.gl[i];
    return -vf + c * vl;
  }
  logDensity(u: ArrayLike<number>): number {
    return -this.full.value(u) + (1 - this.beta) * this.lik.value(u);
  }
}

/** Microseconds per logDensityGrad over the points, β = 0.5 (at least `ms` of calls, best of 3). */
function timeTarget(t: GradientTarget, pts: Float64Array[], ms = 700): number {
  const g = new Float64Array(t.dim);
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      for (const p of pts) t.logDensityGrad(p, g);
      n += pts.length;
    }
    best = Math.min(best, (1000 * (performance.now() - t0)) / n);
  }
  return best;
}

interface Row {
  tool: 'mixppl' | 'webppl';
  K: number;
  setting: string;
  runs: number;
  secondsPerRun: number[];
  logZ: number[];
  mean: number;
  sd: number;
  stages?: number[];
  gradientsPerRun?: number[];
}

const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : NaN;
  return { mean: m, sd };
};

async function main(): Promise<void> {
  await ensureBackend();
  const rows: Row[] = [];
  const targetCost: { K: number; dim: number; singlePassUs: number; twoPassUs: number; speedup: number }[] = [];
  const source = readFileSync('examples/galaxies/galaxies.mix', 'utf8');
  const model = compile(source);
  const describe = (o: SmcOptions) => o.rejuvenation!.kernel === 'rwmh'
    ? `${o.particles} particles, CESS ${o.essThreshold}, ${o.rejuvenation!.steps} random-walk MH steps (diagonal cloud scale)`
    : `${o.particles} particles, CESS ${o.essThreshold}, ${o.rejuvenation!.steps} HMC sweeps × ${o.rejuvenation!.leapfrogSteps} leapfrog, dense metric`;

  for (const K of Ks) {
    const bound = model.bind({ y, K });
    let last: Float64Array[] = [];
    for (const cfg of configs) {
      const rj = cfg.opts.rejuvenation!;
      const secs: number[] = [];
      const zs: number[] = [];
      const stages: number[] = [];
      const grads: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const t0 = performance.now();
        const res = smc(model, bound, { ...cfg.opts, seed: 20261202 + 101 * r });
        const s = (performance.now() - t0) / 1000;
        secs.push(s);
        zs.push(res.logZ);
        stages.push(res.betas.length - 1);
        // Per stage and particle: one gradient to start, then steps × leapfrog (RWMH: density values).
        grads.push((res.betas.length - 1) * cfg.opts.particles! * (1 + rj.steps! * (rj.leapfrogSteps ?? 1)));
        last = res.unconstrained;
        console.log(`mixppl ${cfg.name} K=${K} run ${r}: ${s.toFixed(2)} s, ${res.betas.length - 1} stages, log Z ${res.logZ.toFixed(3)}`);
      }
      rows.push({ tool: 'mixppl', K, setting: `${cfg.name}: ${describe(cfg.opts)}`, runs: RUNS, secondsPerRun: secs, logZ: zs, ...stats(zs), stages, gradientsPerRun: grads });
    }

    const pts = last.filter((_, i) => i % Math.max(1, Math.floor(last.length / 50)) === 0);
    const one = TemperedTarget.of(bound, 0.5);
    const two = new TwoPassTarget(bound.potentialFunction(), bound.potentialFunction({ priors: false, jacobian: false }), 0.5);
    const a = timeTarget(one, pts);
    const b = timeTarget(two, pts);
    targetCost.push({ K, dim: bound.dim, singlePassUs: a, twoPassUs: b, speedup: b / a });
    console.log(`K=${K}: target evaluation ${a.toFixed(1)} µs single pass, ${b.toFixed(1)} µs two passes (${(b / a).toFixed(2)}×)`);
    bound.dispose();
  }

  let version: string | null = null;
  if (withWebppl) {
    for (const [K, w] of runWebppl(Ks)) {
      version = w.version;
      rows.push({ tool: 'webppl', K, setting: '1000 particles, 50 temperatures (t/50)^4, 2 MH steps', runs: w.logZ.length, secondsPerRun: w.runSeconds, logZ: w.logZ, ...stats(w.logZ) });
      console.log(`webppl K=${K}: ${w.runSeconds.map((s) => s.toFixed(1)).join(', ')} s, log Z ${w.logZ.map((z) => z.toFixed(2)).join(', ')}`);
    }
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; one thread; ${new Date().toISOString().slice(0, 10)}`;
  const json = { task: 'smc-tempered galaxies', machine, node: process.version, webppl: version, configs, reference: REFERENCE, rows, targetCost };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/smc-tempered.json', JSON.stringify(json, null, 2) + '\n');

  const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const lines: string[] = [];
  lines.push('# Tempered SMC on the galaxy mixture: mixppl against WebPPL');
  lines.push('');
  lines.push(`Machine: ${machine}. Data: MASS::galaxies / 1000 (N = 82); priors as ../shared/bench/models/galaxy_mix.stan.`);
  lines.push(`mixppl: adaptive schedule (CESS), resample–move with static HMC, step size adapted between sweeps; settings per row. WebPPL ${version ?? ''}: Infer SMC over the tempered model of ../shared/bench/wppl/galaxy.wppl (the smc_tempered settings of galaxy_webppl.py), timed inside the program.`);
  lines.push('');
  lines.push('| K | tool | setting | runs | s per run (median) | log Z mean | log Z sd | stages | time vs WebPPL |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const K of Ks) {
    const w = rows.find((r) => r.tool === 'webppl' && r.K === K);
    for (const r of rows.filter((x) => x.K === K)) {
      const ratio = w ? `${f(med(r.secondsPerRun) / med(w.secondsPerRun), 3)}` : '–';
      lines.push(`| ${K} | ${r.tool} | ${r.setting} | ${r.runs} | ${f(med(r.secondsPerRun))} | ${f(r.mean)} | ${f(r.sd, 3)} | ${r.stages ? med(r.stages) : 50} | ${ratio} |`);
    }
  }
  lines.push('');
  lines.push('Reference log Z (K = 3): −223.90, Stan + bridge sampling. Targets: log-Z sd ≤ 0.2 nat at a tenth of WebPPL\'s time.');
  lines.push(`Load average while running: ${loadavg().map((v) => v.toFixed(1)).join(', ')} on ${cpus().length} cores (wall times of a shared machine are noisy; compare rows of one run).`);
  lines.push('');
  lines.push('log Z per run:');
  lines.push('');
  for (const r of rows) lines.push(`- ${r.tool} K=${r.K} (${r.setting.split(':')[0]}): ${r.logZ.map((z) => f(z, 3)).join(', ')} (s: ${r.secondsPerRun.map((s) => f(s, 1)).join(', ')})`);
  lines.push('');
  lines.push('Tempered target, one value + gradient at the final particles (β = 0.5), µs, best of 3:');
  lines.push('');
  lines.push('| K | dim | single pass | two passes | speed-up |');
  lines.push('| --- | --- | --- | --- | --- |');
  for (const c of targetCost) lines.push(`| ${c.K} | ${c.dim} | ${f(c.singlePassUs, 1)} | ${f(c.twoPassUs, 1)} | ${f(c.speedup)}× |`);
  lines.push('');
  writeFileSync('bench/results/smc-tempered.md', lines.join('\n'));
  console.log(lines.join('\n'));
}

/** Settings of the waste-free comparison: the standard sampler's 'fast' and 'accurate', then waste-free ones. */
const wasteFreeConfigs: { name: string; opts: SmcOptions }[] = [
  { name: 'std-fast', opts: configs[0].opts },
  { name: 'std-accurate', opts: configs[1].opts },
  { name: 'wf-hmc N1000 P20 L10 cess.8', opts: { particles: 1000, essThreshold: 0.8, wasteFree: { chainLength: 20 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 10 } } },
  { name: 'wf-hmc N1000 P50 L10 cess.8', opts: { particles: 1000, essThreshold: 0.8, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 10 } } },
  { name: 'wf-hmc N1000 P50 L20 cess.8', opts: { particles: 1000, essThreshold: 0.8, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 20 } } },
  { name: 'wf-hmc N1000 P50 L10x2 cess.8', opts: { particles: 1000, essThreshold: 0.8, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 10, steps: 2 } } },
  { name: 'wf-hmc N1000 P50 L10 cess.9', opts: { particles: 1000, essThreshold: 0.9, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 10 } } },
  { name: 'wf-hmc N500 P50 L10 cess.8', opts: { particles: 500, essThreshold: 0.8, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 10 } } },
  { name: 'std N300 cess.9 2xL20', opts: { particles: 300, essThreshold: 0.9, rejuvenation: { kernel: 'hmc', steps: 2, leapfrogSteps: 20, metric: 'dense' } } },
  { name: 'wf-hmc N500 P50 L20 cess.8', opts: { particles: 500, essThreshold: 0.8, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 20 } } },
  { name: 'wf-hmc N500 P50 L40 cess.8', opts: { particles: 500, essThreshold: 0.8, wasteFree: { chainLength: 50 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 40 } } },
  // Cheap settings, for the time mixppl needs at WebPPL's log-Z accuracy (sd about 2 nat there).
  { name: 'wf-hmc N200 P20 L10 cess.5', opts: { particles: 200, essThreshold: 0.5, wasteFree: { chainLength: 20 }, rejuvenation: { kernel: 'hmc', leapfrogSteps: 10 } } },
  { name: 'std N100 cess.5 2xL10', opts: { particles: 100, essThreshold: 0.5, rejuvenation: { kernel: 'hmc', steps: 2, leapfrogSteps: 10, metric: 'dense' } } },
  { name: 'wf-rwmh N2000 P100 x5 dense cess.8', opts: { particles: 2000, essThreshold: 0.8, wasteFree: { chainLength: 100 }, rejuvenation: { kernel: 'rwmh', metric: 'dense', steps: 5 } } },
  { name: 'wf-rwmh N4000 P100 x5 dense cess.8', opts: { particles: 4000, essThreshold: 0.8, wasteFree: { chainLength: 100 }, rejuvenation: { kernel: 'rwmh', metric: 'dense', steps: 5 } } },
  // Data annealing with exact Gibbs moves (src/infer/smc/gibbs-data.ts): no gradients at all.
  { name: 'gibbs N1000', opts: { particles: 1000, rejuvenation: { kernel: 'gibbs' } } },
  { name: 'gibbs N2000', opts: { particles: 2000, rejuvenation: { kernel: 'gibbs' } } },
  { name: 'gibbs N3000', opts: { particles: 3000, rejuvenation: { kernel: 'gibbs' } } },
  { name: 'gibbs N4000', opts: { particles: 4000, rejuvenation: { kernel: 'gibbs' } } },
  { name: 'gibbs N2000 sweeps1', opts: { particles: 2000, rejuvenation: { kernel: 'gibbs', sweeps: 1 } } },
  { name: 'gibbs-wf N3000 P10', opts: { particles: 3000, wasteFree: { chainLength: 10 }, rejuvenation: { kernel: 'gibbs' } } },
];

async function compareWasteFree(): Promise<void> {
  await ensureBackend();
  const runs = Number(opt('runs', '8'));
  const only = opt('wf-only', '');
  const chosen = only ? wasteFreeConfigs.filter((c) => only.split(',').includes(c.name)) : wasteFreeConfigs;
  const model = compile(readFileSync('examples/galaxies/galaxies.mix', 'utf8'));
  const out: string[] = ['| K | setting | runs | s per run (median) | log Z mean | log Z sd | stages (median) | likelihood evaluations per run |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  const Ks = opt('Ks', '3').split(',').map(Number);
  const mixRows: { K: number; name: string; medSecs: number; sd: number; meanCpu: number }[] = [];
  const ratios: string[] = [];
  for (const K of Ks) {
    const bound = model.bind({ y, K });
    for (const cfg of chosen) {
      const secs: number[] = [];
      const zs: number[] = [];
      const stages: number[] = [];
      const evals: number[] = [];
      const cpu: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const res = smc(model, bound, { ...cfg.opts, seed: 20261202 + 101 * r });
        secs.push((performance.now() - t0) / 1000);
        const c1 = process.cpuUsage(c0);
        cpu.push((c1.user + c1.system) / 1e6);
        zs.push(res.logZ);
        const T = res.betas.length - 1;
        stages.push(T);
        const rj = cfg.opts.rejuvenation!;
        const n = cfg.opts.particles!;
        const per = rj.kernel === 'rwmh' ? 1 : (rj.leapfrogSteps ?? 10);
        const wfP = cfg.opts.wasteFree?.chainLength;
        // Per stage: HMC one gradient per chain start, then transitions × leapfrog; RWMH one value per transition.
        evals.push(rj.kernel === 'gibbs' ? NaN : n + T * (wfP ? (n / wfP) * (1 + (wfP - 1) * (rj.steps ?? 1) * per) : n * (1 + (rj.steps ?? 3) * per)));
        console.log(`${cfg.name} K=${K} seed ${r}: ${secs[r].toFixed(2)} s, ${T} stages, log Z ${res.logZ.toFixed(3)}`);
      }
      const st = stats(zs);
      out.push(`| ${K} | ${cfg.name} | ${runs} | ${med(secs).toFixed(2)} | ${st.mean.toFixed(2)} | ${st.sd.toFixed(3)} | ${med(stages)} | ${Number.isNaN(evals[0]) ? '– (no gradients)' : med(evals)} |`);
      mixRows.push({ K, name: cfg.name, medSecs: med(secs), sd: st.sd, meanCpu: cpu.reduce((a, b) => a + b, 0) / runs });
      console.log(out[out.length - 1]);
    }
    bound.dispose();
  }
  const verdicts: string[] = [];
  if (withWebppl) {
    const wp = runWebppl(Ks);
    for (const [K, w] of wp) {
      const st = stats(w.logZ);
      const wMed = med(w.runSeconds);
      out.push(`| ${K} | WebPPL ${w.version ?? ''} SMC, 1000 particles, 50 temperatures (t/50)^4, 2 MH steps | ${w.logZ.length} | ${wMed.toFixed(2)} | ${st.mean.toFixed(2)} | ${st.sd.toFixed(3)} | 50 | – |`);
      const wCpu = w.cpuTotal / w.logZ.length;
      ratios.push(`K=${K}: WebPPL ${wMed.toFixed(2)} s per run (median of ${w.runSeconds.length}), ${Number.isFinite(wCpu) ? `${wCpu.toFixed(2)} CPU s per run (worker total / runs, start-up and R summary included)` : 'CPU time per run unknown (one worker ran every K)'}, log Z sd ${st.sd.toFixed(3)}; log Z ${w.logZ.map((z) => z.toFixed(2)).join(', ')}`);
      for (const m of mixRows.filter((r) => r.K === K)) {
        const cpuRatio = Number.isFinite(wCpu) ? `${(m.meanCpu / wCpu).toFixed(3)}×` : "WebPPL's CPU time unknown: one worker ran every K";
        ratios.push(`K=${K} ${m.name}: time ${(m.medSecs / wMed).toFixed(3)}× WebPPL's (CPU ${m.meanCpu.toFixed(2)} s per run, ${cpuRatio}), log Z sd ${(m.sd / st.sd).toFixed(3)}× WebPPL's (target: time ≤ 0.1×, sd ≤ 0.2 nat)`);
      }
      const meeting = mixRows.filter((r) => r.K === K && r.sd <= 0.2 && r.medSecs <= 0.1 * wMed).sort((p, q) => p.medSecs - q.medSecs);
      verdicts.push(meeting.length
        ? `K=${K}: target met by ${meeting.map((r) => `${r.name} (sd ${r.sd.toFixed(3)}, ${(r.medSecs / wMed).toFixed(3)}× WebPPL's time)`).join('; ')}.`
        : `K=${K}: no setting met the target (sd ≤ 0.2 nat at ≤ 0.1× WebPPL's time).`);
    }
  }
  console.log(`\nLoad average at the end: ${loadavg().map((v) => v.toFixed(1)).join(', ')} on ${cpus().length} cores.\n`);
  console.log(out.join('\n'));
  if (ratios.length) console.log(`\nmixppl against WebPPL, same run:\n${ratios.join('\n')}`);
  if (verdicts.length) console.log(`\n${verdicts.join('\n')}`);
  const file = opt('out', '');
  if (file) {
    const md = [
      '# Tempered and data-annealing SMC on the galaxy mixture, with WebPPL in the same run',
      '',
      `\`npx tsx bench/smc-tempered.ts ${argv.join(' ')}\`, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average at the end ${loadavg().map((v) => v.toFixed(1)).join(', ')}. ${runs} seeds per mixppl setting (20261202 + 101 r); WebPPL's runs through ../shared/bench/workers/galaxy_webppl.py. One thread per tool. The log Z values are deterministic given the seed and the code.`,
      '',
      ...out,
      ...(ratios.length ? ['', 'mixppl against WebPPL, same run:', '', ...ratios.map((r) => `- ${r}`)] : []),
      ...(verdicts.length ? ['', ...verdicts] : []),
      '',
    ];
    writeFileSync(file, md.join('\n'));
    console.log(`wrote ${file}`);
  }
}

(argv.includes('--waste-free') ? compareWasteFree() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
