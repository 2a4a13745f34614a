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
 *   npx tsx bench/smc-tempered.ts [--Ks 3,6] [--runs 4] [--webppl-runs 3] [--no-webppl]
 *       [--fast-particles 300] [--fast-ess 0.9] [--particles 500] [--ess 0.95]
 *
 * Waste-free comparison (Dau & Chopin 2022): `--waste-free` runs, for each K of --Ks (default
 * 3) and --runs seeds (default 8), the standard resample–move settings above against waste-free
 * settings (`wasteFree: { chainLength }`, knobs: particles, chain length, kernel, leapfrog
 * steps, CESS) in one run, and prints log Z mean, sd and seconds per run; it writes no files.
 * `--wf-only name,name` keeps only the named settings.
 *
 * Everything runs on one thread.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
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
const WRUNS = Number(opt('webppl-runs', '3'));
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
const y = readFileSync('examples/galaxies/galaxies.csv', 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).slice(1).map(Number);
if (y.length !== 82 || y.some((v) => !Number.isFinite(v))) throw new Error(`galaxies.csv: expected 82 numbers, got ${y.length}`);

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

  if (withWebppl) {
    const webppl = join(peersDir, 'node_modules', '.bin', 'webppl');
    if (!existsSync(webppl)) throw new Error(`WebPPL not found at ${webppl}: run bash ../shared/bench/setup.sh`);
    const dir = join(tmpdir(), 'mixppl-bench-smc-tempered');
    mkdirSync(dir, { recursive: true });
    const csv = join(dir, 'galaxies.csv');
    writeFileSync(csv, `y\n${y.join('\n')}\n`);
    for (const K of Ks) {
      const out = join(dir, `webppl_K${K}.json`);
      const args = [join('wppl', 'galaxy.wppl'), '--require', './wppl/wpplbench', '--random-seed', '20240614', '--',
        '--K', String(K), '--data', csv, '--out', out, '--method', 'smc', '--lik', 'tempered', '--temps', '50', '--wparam', 'exp',
        '--particles', '1000', '--rejuvSteps', '2', '--rejuvKernel', 'mh', '--runs', String(WRUNS)];
      execFileSync(webppl, args, { cwd: peersDir, stdio: ['ignore', 'ignore', 'inherit'], timeout: 1800_000 });
      const raw = JSON.parse(readFileSync(out, 'utf8')) as { runs: { seconds: number; logZ: number }[] };
      const secs = raw.runs.map((r) => r.seconds);
      const zs = raw.runs.map((r) => r.logZ);
      rows.push({ tool: 'webppl', K, setting: '1000 particles, 50 temperatures (t/50)^4, 2 MH steps', runs: WRUNS, secondsPerRun: secs, logZ: zs, ...stats(zs) });
      console.log(`webppl K=${K}: ${secs.map((s) => s.toFixed(1)).join(', ')} s, log Z ${zs.map((z) => z.toFixed(2)).join(', ')}`);
    }
  }

  const version = withWebppl ? JSON.parse(readFileSync(join(peersDir, 'node_modules', 'webppl', 'package.json'), 'utf8')).version : null;
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
  { name: 'wf-rwmh N2000 P100 x5 dense cess.8', opts: { particles: 2000, essThreshold: 0.8, wasteFree: { chainLength: 100 }, rejuvenation: { kernel: 'rwmh', metric: 'dense', steps: 5 } } },
  { name: 'wf-rwmh N4000 P100 x5 dense cess.8', opts: { particles: 4000, essThreshold: 0.8, wasteFree: { chainLength: 100 }, rejuvenation: { kernel: 'rwmh', metric: 'dense', steps: 5 } } },
];

async function compareWasteFree(): Promise<void> {
  await ensureBackend();
  const runs = Number(opt('runs', '8'));
  const only = opt('wf-only', '');
  const chosen = only ? wasteFreeConfigs.filter((c) => only.split(',').includes(c.name)) : wasteFreeConfigs;
  const model = compile(readFileSync('examples/galaxies/galaxies.mix', 'utf8'));
  const out: string[] = ['| K | setting | runs | s per run (median) | log Z mean | log Z sd | stages (median) | likelihood evaluations per run |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  for (const K of opt('Ks', '3').split(',').map(Number)) {
    const bound = model.bind({ y, K });
    for (const cfg of chosen) {
      const secs: number[] = [];
      const zs: number[] = [];
      const stages: number[] = [];
      const evals: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        const res = smc(model, bound, { ...cfg.opts, seed: 20261202 + 101 * r });
        secs.push((performance.now() - t0) / 1000);
        zs.push(res.logZ);
        const T = res.betas.length - 1;
        stages.push(T);
        const rj = cfg.opts.rejuvenation!;
        const n = cfg.opts.particles!;
        const per = rj.kernel === 'rwmh' ? 1 : (rj.leapfrogSteps ?? 10);
        const wfP = cfg.opts.wasteFree?.chainLength;
        // Per stage: HMC one gradient per chain start, then transitions × leapfrog; RWMH one value per transition.
        evals.push(n + T * (wfP ? (n / wfP) * (1 + (wfP - 1) * (rj.steps ?? 1) * per) : n * (1 + (rj.steps ?? 3) * per)));
        console.log(`${cfg.name} K=${K} seed ${r}: ${secs[r].toFixed(2)} s, ${T} stages, log Z ${res.logZ.toFixed(3)}`);
      }
      const st = stats(zs);
      out.push(`| ${K} | ${cfg.name} | ${runs} | ${med(secs).toFixed(2)} | ${st.mean.toFixed(2)} | ${st.sd.toFixed(3)} | ${med(stages)} | ${med(evals)} |`);
      console.log(out[out.length - 1]);
    }
    bound.dispose();
  }
  console.log(`\nLoad average at the end: ${loadavg().map((v) => v.toFixed(1)).join(', ')} on ${cpus().length} cores.\n`);
  console.log(out.join('\n'));
}

(argv.includes('--waste-free') ? compareWasteFree() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
