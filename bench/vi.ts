/**
 * VI benchmark (issue 10): time to a converged fit and agreement of the posterior means with
 * the MCMC family's, in one run.
 *
 * A. Galaxy velocities, K = 3 (examples/galaxies/galaxies.mix, priors as
 *    ../shared/bench/models/galaxy_mix.stan), from the shared initial values of chain 1:
 *    mixppl VI (mean-field, full-rank, low-rank, planar flow; Stan's tol_rel_obj 0.01) against
 *    mixppl NUTS (4 chains x 1000 + 1000, shared inits) and Stan's ADVI (rstan::vb, mean-field
 *    and full-rank, bench/vi-stan.R) on the same data and start.
 * B. The shared 1e5-point 8-D Gaussian mixture (../shared/bench gen_gmm.py, K = 8), fitted with
 *    stdlib/gmm_diag.mix: EM for a start, then minibatch mean-field VI (1000 rows a step)
 *    against the EM estimate (NUTS from the same start with --gmm-nuts: each of its gradients
 *    reads all 1e5 rows). With --gmm-gibbs the reference is sample(..., algorithm: 'auto') from
 *    the same start: the slice + Gibbs sampler whose exact blocks (the diagonal normal mixture
 *    block of src/infer/mcmc/conjugate-normal.ts and w's Dirichlet draw) leave no coordinate
 *    to slice updates; 4 chains; the NUTS means recorded in bench/results/vi-gmm.json (when
 *    there, and --gmm-nuts is not given) are compared with it too.
 *
 * Prints and writes bench/results/vi.md and vi.json.
 *
 *   npx tsx bench/vi.ts [--no-stan] [--no-gmm | --only-gmm] [--gmm-nuts [--gmm-warmup 100] [--gmm-draws 100] [--gmm-depth 10]]
 *                       [--gmm-gibbs [--gibbs-warmup 100] [--gibbs-draws 700] [--gibbs-workers 1]]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { compile, em, useBackend, vi, type ParamValues, type ViOptions } from '../src';
import { sample, type McmcResult } from '../src/infer/mcmc';
import { sampleParallel } from '../src/infer/mcmc/parallel';

const arg = (k: string, d: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : d);
const seed = 20240611;
const peersDir = resolve('../shared/bench');
const dataDir = process.env.BENCH_DATA ?? '/tmp/peers_bench';
const env = { ...process.env, BENCH_THREADS: '1', OMP_NUM_THREADS: '1', BENCH_DATA: dataDir };
mkdirSync(dataDir, { recursive: true });
execFileSync('Rscript', [join(peersDir, 'workers', 'galaxy_data.R'), '--Ks', '3'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
await useBackend('wasm');

interface Row { part: string; tool: string; config: string; seconds: number; steps: number | null; converged: boolean | null; elbo: number | null; khat: number | null; maxZ: number; medianZ: number; means: Record<string, number> }
const rows: Row[] = [];
const log = (s: string) => console.error(s);

/** Posterior sds from the MCMC draws, per flat name. */
function sds(fit: McmcResult): Record<string, number> {
  return Object.fromEntries(fit.summary().filter((r) => r.name !== 'lp__').map((r) => [r.name, r.sd]));
}

/** max and median of |mean − reference mean| / reference sd over the reference's names. */
function agreement(means: Record<string, number>, ref: Record<string, number>, sd: Record<string, number>): { maxZ: number; medianZ: number } {
  const z = Object.keys(ref).map((n) => Math.abs(means[n] - ref[n]) / sd[n]).sort((a, b) => a - b);
  return { maxZ: z[z.length - 1], medianZ: z[Math.floor(z.length / 2)] };
}

function guideMeans(draws: Float64Array[], names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((n, j) => [n, draws.reduce((s, d) => s + d[j], 0) / draws.length]));
}

// ---- A. galaxies -------------------------------------------------------------------------
// --only-gmm skips part A (and writes vi-gmm.md / vi-gmm.json instead of vi.md / vi.json).
const onlyGmm = process.argv.includes('--only-gmm');
let stanCompile: number | null = null;
let t0 = 0;
if (!onlyGmm) {
  const y = readFileSync(join(dataDir, 'galaxies.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',').at(-1)));
  const inits = JSON.parse(readFileSync(join(dataDir, 'galaxy_inits_K3.json'), 'utf8'));
  const gal = compile(readFileSync('examples/galaxies/galaxies.mix', 'utf8'));
  const gb = gal.bind({ K: 3, y });
  t0 = performance.now();
  const nuts = sample(gb, { chains: 4, warmup: 1000, draws: 1000, seed, init: inits });
  const nutsS = (performance.now() - t0) / 1000;
  const ref = nuts.means();
  const refSd = sds(nuts);
  rows.push({ part: 'A', tool: 'mixppl', config: 'NUTS 4 x (1000 + 1000), shared inits (reference)', seconds: nutsS, steps: null, converged: null, elbo: null, khat: null, maxZ: 0, medianZ: 0, means: ref });
  log(`[A] NUTS ${nutsS.toFixed(1)} s, max R-hat ${nuts.diagnostics.maxRhat.toFixed(3)}`);
  const configs: [string, ViOptions][] = [
    ['VI mean-field', { guide: 'meanfield' }],
    ['VI full-rank', { guide: 'fullrank' }],
    ['VI low-rank (rank 2)', { guide: 'lowrank', rank: 2 }],
    ['VI planar flow (8 layers)', { guide: 'planar' }],
    ['VI full-rank, 20000 steps (no early stop)', { guide: 'fullrank', steps: 20000, stopAtConvergence: false }],
    ['VI planar flow, 20000 steps (no early stop)', { guide: 'planar', steps: 20000, stopAtConvergence: false }],
  ];
  for (const [name, opts] of configs) {
    t0 = performance.now();
    const fit = vi(gb, { ...opts, seed: 1, init: inits[0] });
    const s = (performance.now() - t0) / 1000;
    const means = guideMeans(fit.draws(4000, 2), fit.names);
    const khat = fit.psis(1000, 3).khat;
    const elbo = fit.elbo[fit.elbo.length - 1];
    rows.push({ part: 'A', tool: 'mixppl', config: `${name}${opts.stopAtConvergence === false ? '' : ', tol 0.01'}, init chain 1`, seconds: s, steps: fit.steps, converged: fit.converged, elbo, khat, ...agreement(means, ref, refSd), means });
    log(`[A] ${name}: ${s.toFixed(2)} s, ${fit.steps} steps, k-hat ${khat.toFixed(2)}`);
  }
  if (!process.argv.includes('--no-stan')) {
    const out = execFileSync('Rscript', ['bench/vi-stan.R', '--K', '3', '--seed', String(seed), '--shared', peersDir], { env, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
    const j = JSON.parse(out.trim().split('\n').at(-1)!);
    stanCompile = j.compile_s;
    for (const alg of ['meanfield', 'fullrank']) {
      const r = j[alg];
      const means: Record<string, number> = {};
      for (const p of ['mu', 'sigma', 'w']) (r.means[p] as number[]).forEach((v, k) => (means[`${p}.${k + 1}`] = v));
      rows.push({ part: 'A', tool: 'stan', config: `ADVI ${alg} (rstan ${j.rstan} vb), tol_rel_obj 0.01, init chain 1`, seconds: r.wall_s, steps: null, converged: r.converged, elbo: null, khat: null, ...agreement(means, ref, refSd), means });
    }
  }
  gb.dispose();
}

// ---- B. 1e5-point 8-D mixture ------------------------------------------------------------
let gmmNote = '';
let gmmReference = '';
let gmmGradS = NaN;
let gibbsWorst = '';
const flat = (k: string, v: unknown[], pre = k): [string, number][] => v.flatMap((x, i) => (Array.isArray(x) ? flat(k, x, `${pre}.${i + 1}`) : [[`${pre}.${i + 1}`, x as number] as [string, number]]));
if (!process.argv.includes('--no-gmm')) {
  const csv = join(dataDir, 'gmm_N100000_D8_K8.csv');
  try {
    readFileSync(csv);
  } catch {
    execFileSync('python3', [join(peersDir, 'gen_gmm.py'), '--N', '100000', '--D', '8', '--K', '8'], { env, stdio: 'inherit' });
  }
  const x = readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 8).map(Number));
  const gm = compile(readFileSync('stdlib/gmm_diag.mix', 'utf8'));
  const bb = gm.bind({ K: 8, x });
  t0 = performance.now();
  const start = em(bb, { seed: 1, nInit: 1 });
  const emS = (performance.now() - t0) / 1000;
  const init = start.params as ParamValues;
  log(`[B] EM ${emS.toFixed(1)} s, log lik ${start.logLik.toFixed(1)}`);
  // NUTS reads all 1e5 rows per gradient: time a few gradients and run it only on request.
  const pf = bb.potentialFunction();
  const u0 = bb.unconstrain(init);
  const g0 = new Float64Array(bb.dim);
  pf.valueAndGrad(u0, g0);
  t0 = performance.now();
  for (let i = 0; i < 3; i++) pf.valueAndGrad(u0, g0);
  const gradS = (performance.now() - t0) / 3000;
  log(`[B] full-data gradient ${(gradS * 1000).toFixed(0)} ms`);
  let gref = Object.fromEntries(Object.entries(start.params).flatMap(([k, v]) => (Array.isArray(v) ? flat(k, v) : [[k, v as number]])));
  let gsd: Record<string, number> | null = null;
  let refName = 'EM maximum likelihood (at N = 1e5 the posterior mean is within a small fraction of a posterior sd of it)';
  let refTool = 'EM, in guide sds';
  // Recorded NUTS means (a previous --gmm-nuts run), read before this run overwrites the file.
  let recordedNuts: Row | undefined;
  try {
    const prev = JSON.parse(readFileSync('bench/results/vi-gmm.json', 'utf8')) as { date: string; rows: Row[] };
    recordedNuts = prev.rows.find((r) => r.part === 'B' && r.config.startsWith('NUTS'));
    if (recordedNuts && !recordedNuts.config.includes('(not rerun)')) recordedNuts = { ...recordedNuts, config: `${recordedNuts.config.replace(' (reference)', '')}, recorded ${prev.date.slice(0, 10)} (not rerun)` };
  } catch {
    recordedNuts = undefined;
  }
  if (process.argv.includes('--gmm-gibbs')) {
    // Slice + exact Gibbs blocks ('auto'): no coordinate is left to slice updates, so a sweep
    // costs the collapsed latent draw over the 1e5 rows (twice: 2 sweeps) plus one density.
    const gw = Number(arg('--gibbs-warmup', '100'));
    const gd = Number(arg('--gibbs-draws', '700'));
    t0 = performance.now();
    // --gibbs-workers N: the chains on N worker threads (sampleParallel: the same draws per chain).
    const gWorkers = Number(arg('--gibbs-workers', '1'));
    const gopts = { algorithm: 'auto' as const, chains: 4, warmup: gw, draws: gd, seed, init };
    const gg = gWorkers > 1
      ? await sampleParallel(gm, { K: 8, x }, { ...gopts, workers: gWorkers })
      : sample(bb, { ...gopts, onIteration: (c, it, phase) => { if (it % 100 === 0) log(`[B] Gibbs chain ${c + 1} ${phase} ${it} (${((performance.now() - t0) / 1000).toFixed(0)} s)`); } });
    const ggS = (performance.now() - t0) / 1000;
    gref = gg.means();
    gsd = sds(gg);
    const dg = gg.diagnostics;
    const blocks = (gg.settings.exactBlocks ?? []).map((b) => `${b.kind}${b.dims ? ` (D = ${b.dims})` : ''}`).join(' + ');
    refName = `Gibbs: sample(algorithm 'auto') = slice + exact blocks ${blocks}, ${gg.settings.sliceCoords} slice coordinates, ${gg.settings.exactBlocks?.[0]?.sweeps ?? 1} sweeps an iteration, 4 x (${gw} + ${gd}) from EM; worst R-hat ${dg.maxRhat.toFixed(3)}, min bulk ESS ${dg.minEssBulk.toFixed(0)}, min tail ESS ${dg.minEssTail.toFixed(0)} (over all quantities and lp__)`;
    refTool = 'Gibbs';
    // The quantities that mix worst (R-hat, bulk ESS), for the record.
    const worst = gg.summary().slice().sort((p, q) => q.rhat - p.rhat).slice(0, 5);
    gibbsWorst = `Worst-mixing quantities of the Gibbs run (R-hat, bulk ESS): ${worst.map((r) => `${r.name} ${r.rhat.toFixed(3)}, ${r.essBulk.toFixed(0)}`).join('; ')}; its means carry an MCSE of up to 1/sqrt(${dg.minEssBulk.toFixed(0)}) = ${(1 / Math.sqrt(dg.minEssBulk)).toFixed(2)} posterior sd, so z below that is within the reference's own error.`;
    log(`[B] ${gibbsWorst}`);
    log(`[B] ${refName}: ${ggS.toFixed(0)} s${dg.warnings.length ? `; warnings: ${dg.warnings.join('; ')}` : ''}`);
    rows.push({ part: 'B', tool: 'mixppl', config: `${refName} (reference)`, seconds: ggS, steps: null, converged: dg.maxRhat <= 1.01, elbo: null, khat: null, maxZ: 0, medianZ: 0, means: gref });
    if (recordedNuts && !process.argv.includes('--gmm-nuts')) rows.push({ ...recordedNuts, ...agreement(recordedNuts.means, gref, gsd) });
  }
  if (process.argv.includes('--gmm-nuts')) {
    const gw = Number(arg('--gmm-warmup', '100'));
    const gd = Number(arg('--gmm-draws', '100'));
    t0 = performance.now();
    const depth = Number(arg('--gmm-depth', '10'));
    const gn = sample(bb, { chains: 1, warmup: gw, draws: gd, seed, init, metric: 'diag', maxTreeDepth: depth, onIteration: (_c, it, phase) => { if (it % 10 === 0) log(`[B] NUTS ${phase} ${it} (${((performance.now() - t0) / 1000).toFixed(0)} s)`); } });
    const gnS = (performance.now() - t0) / 1000;
    const ess = Math.min(...gn.summary().filter((r) => r.name !== 'lp__').map((r) => r.essBulk));
    const nutsName = `NUTS 1 x (${gw} + ${gd}) from EM, max tree depth ${depth}, min bulk ESS ${ess.toFixed(0)}`;
    if (gsd) {
      // The Gibbs run is the reference: NUTS is one more row compared with it.
      rows.push({ part: 'B', tool: 'mixppl', config: nutsName, seconds: gnS, steps: null, converged: null, elbo: null, khat: null, ...agreement(gn.means(), gref, gsd), means: gn.means() });
    } else {
      gref = gn.means();
      gsd = sds(gn);
      refName = nutsName;
      refTool = 'NUTS';
      rows.push({ part: 'B', tool: 'mixppl', config: `${refName} (reference)`, seconds: gnS, steps: null, converged: null, elbo: null, khat: null, maxZ: 0, medianZ: 0, means: gref });
    }
  }
  for (const size of [1000]) {
    t0 = performance.now();
    const fit = vi(bb, { guide: 'meanfield', minibatch: { data: 'x', size }, seed: 1, init, initSd: 0.01, samples: 1, steps: 3000, stopAtConvergence: false });
    const s = (performance.now() - t0) / 1000;
    const draws = fit.draws(2000, 2);
    const means = guideMeans(draws, fit.names);
    // Without a NUTS reference the guide's own sds scale the differences.
    const sd = gsd ?? Object.fromEntries(fit.names.map((n, j) => [n, Math.sqrt(draws.reduce((a, d) => a + (d[j] - means[n]) ** 2, 0) / (draws.length - 1))]));
    rows.push({ part: 'B', tool: 'mixppl', config: `VI mean-field, minibatch ${size} rows, 3000 steps, from EM; z against ${refTool}`, seconds: s, steps: fit.steps, converged: fit.converged, elbo: fit.elbo[fit.elbo.length - 1], khat: null, ...agreement(means, gref, sd), means });
    log(`[B] VI minibatch ${size}: ${s.toFixed(1)} s, ${fit.steps} steps`);
  }
  gmmReference = refName;
  gmmGradS = gradS;
  gmmNote = `EM start: ${emS.toFixed(1)} s (not included in the rows' times). Reference: ${gmmReference}. One full-data potential + gradient takes ${gmmGradS.toFixed(2)} s, so a NUTS run of 4 x (1000 + 1000) at ~15 gradients a draw would take ~${((gmmGradS * 8000 * 15) / 3600).toFixed(0)} h; \`--gmm-nuts\` runs a short one, \`--gmm-gibbs\` the Gibbs reference.`;
  bb.dispose();
}

// ---- report -------------------------------------------------------------------------------
const f = (v: number | null, d = 2) => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(d));
const lines = [
  '# VI benchmark: time to a converged fit, posterior means against MCMC',
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; one thread; ${new Date().toISOString().slice(0, 10)}. \`npx tsx bench/vi.ts\`.`,
  '',
  'z = |VI mean − reference mean| / reference posterior sd over every constrained quantity (max and median); the reference is the row marked (reference): NUTS in A; in B the Gibbs run with --gmm-gibbs, else NUTS with --gmm-nuts. Times are wall seconds of the fit (VI: to convergence or the step limit; NUTS: warm-up + draws, all chains); Stan compile time is listed apart.',
  '',
  '| part | tool | configuration | seconds | steps | converged | ELBO (smoothed) | k-hat | max z | median z | mu means |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.part} | ${r.tool} | ${r.config} | ${f(r.seconds)} | ${r.steps ?? '–'} | ${r.converged ?? '–'} | ${f(r.elbo)} | ${f(r.khat)} | ${f(r.maxZ)} | ${f(r.medianZ)} | ${r.part === 'A' ? [1, 2, 3].map((k) => f(r.means[`mu.${k}`])).join(', ') : ''} |`),
  '',
];
const nutsA = rows.find((r) => r.part === 'A' && r.config.startsWith('NUTS'));
if (nutsA) for (const r of rows.filter((x) => x.part === 'A' && x !== nutsA)) lines.push(`- A, ${r.tool} ${r.config}: ${f(nutsA.seconds / r.seconds, 1)}x faster than mixppl NUTS; max z ${f(r.maxZ)}.`);
const mfMine = rows.find((r) => r.part === 'A' && r.config.startsWith('VI mean-field'));
const mfStan = rows.find((r) => r.part === 'A' && r.tool === 'stan' && r.config.includes('meanfield'));
const frMine = rows.find((r) => r.part === 'A' && r.config.startsWith('VI full-rank'));
const frStan = rows.find((r) => r.part === 'A' && r.tool === 'stan' && r.config.includes('fullrank'));
if (mfMine && mfStan) lines.push(`- A, mean-field: mixppl/Stan ADVI wall-time ratio ${f(mfMine.seconds / mfStan.seconds, 2)} (Stan's ${f(stanCompile, 0)} s compile not included).`);
if (frMine && frStan) lines.push(`- A, full-rank: mixppl/Stan ADVI wall-time ratio ${f(frMine.seconds / frStan.seconds, 2)}.`);
const refB = rows.find((r) => r.part === 'B' && r.config.endsWith('(reference)'));
for (const r of rows.filter((x) => x.part === 'B' && x !== refB)) lines.push(`- B, ${r.config}: ${refB ? `${f(r.seconds / refB.seconds, 2)}x the reference run's time; ` : ''}max z ${f(r.maxZ)} against it.`);
if (gmmNote) lines.push(`- B: ${gmmNote}`);
if (gibbsWorst) lines.push(`- B: ${gibbsWorst}`);
lines.push('');
const md = lines.join('\n');
console.log(md);
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/${onlyGmm ? 'vi-gmm' : 'vi'}.md`, md);
writeFileSync(`bench/results/${onlyGmm ? 'vi-gmm' : 'vi'}.json`, JSON.stringify({ date: new Date().toISOString(), stanCompile, rows }, null, 2));
