// Every inference family but EM (em-webgpu.test.ts) on webgpu against wasm. The webgpu runs
// happen in a child process (families-webgpu-checks.ts: Dawn on Mesa can abort natively at
// exit, and the child stays on webgpu); there, model.fit returns a promise and the family runs
// on the host (runOnHostBackend: binding and tracing on tfjs's cpu backend), except MAP and
// diffusion, which run on the device with awaited reads. This file runs the
// same fits (families-webgpu-cases.ts) on wasm and on cpu. Skipped, with the reason logged,
// where no WebGPU adapter is found.
//
// Tolerances. The families that evaluate the model only through the float64 replay (NUTS,
// slice + Gibbs, mean-field VI, Langevin, the particle filter) must give identical numbers on
// every backend: the recorded constants here are data and float32 constants that both backends
// hold exactly, and everything after is float64 JS on the host. SMC and MAP also run float32
// tfjs ops (SMC's initial prior draw, MAP's tensor-path gradient), so the child must match
// the cpu run exactly (the same backend does the work), and wasm within:
//  - SMC: log Ẑ of a different rounding is, after resampling, another draw of the estimator:
//    |difference| <= 4 √2 sd, sd the spread of log Ẑ over seeds 2..9 on wasm;
//  - MAP: at the optimum the log density is stationary in the parameters, so it differs by
//    float32 evaluation error: twice (N + 16) u Σ|l_n| (u = 2^-24; the N mixture terms and the
//    priors' are all negative here, so Σ|l_n| = |log density|; as em-webgpu-cases.ts).
//  - diffusion (its network trained and evaluated on the device, the rest float64 on the host):
//    the same minibatches, times and noise on both backends (drawn on the host from the seed),
//    so the runs differ only by float32 rounding carried through training. Not bounded a priori
//    (Adam's steps amplify rounding), so the checks are the method's own resolution: the final
//    DSM loss within 2 standard errors of the last tenth's per-step losses, and the held-out
//    log-likelihood within 2 of its standard errors over rows (where the CLI reports "no clear
//    difference"). The baseline (maximum likelihood) is stationary at its optimum: its training
//    log likelihood within the MAP bound above with its rows.
import { beforeAll, describe, expect, it } from 'vitest';
import { webgpuChild } from '../tensor/webgpu-child';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, useBackend } from '../../src/tensor';
import { compile, smcDevice, vi } from '../../src';
import { makeViGuide } from '../../src/infer/vi/train';
import { hmmFromModel, hmmSsm, hmmForward, particleFilter, switchingLgssmFromModel, switchingLgssmLogEvidence } from '../../src/infer/smc';
import { readDataFile } from '../../src/cli/data-io';
import { ratioSummary } from './smc-filter-cases';
import type { DiffusionFitResult } from '../../src/infer/score/diffusion-fit';
import { deviceMala, deviceNuts, deviceSmc, deviceVi, fits, mixData, mixY, runFilter, summarize, viChunkedOpts, viChunks, MIX, type Summary } from './families-webgpu-cases';

beforeAll(async () => {
  await useBackend('wasm');
});

const child = webgpuChild<{ summary?: Summary }>(import.meta.url, './families-webgpu-checks.ts', 'webgpu family');
const childResult = child.result;
const cwd = fileURLToPath(new URL('../..', import.meta.url));

const model = compile(MIX);
async function on<T>(backend: 'wasm' | 'cpu', fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  try {
    return fn();
  } finally {
    await tf.setBackend('wasm');
  }
}
/**
 * The geyser HMM at the CLI test's parameters: the forward algorithm's log evidence, and the
 * sd of the host filter's log Z-hat at its settings (300 particles, optimal proposal) over 40 seeds.
 */
function geyserEvidence(): { exact: number; sd: number } {
  const m = compile(readFileSync(join(cwd, 'examples/geyser-hmm/geyser.mix'), 'utf8'));
  const b = m.bind(readDataFile(join(cwd, 'examples/geyser-hmm/geyser.csv')));
  try {
    const tab = hmmFromModel(b, { pi: [0.5, 0.5], A: [[0.1, 0.9], [0.6, 0.4]], mu: [55, 80], sigma: [6, 6] });
    const lz = Array.from({ length: 40 }, (_, i) => particleFilter(hmmSsm(tab), { particles: 300, seed: 100 + i, quantiles: [], proposal: 'optimal' }).logZ);
    const exact = hmmForward(tab).logZ;
    return { exact, sd: Math.sqrt(ratioSummary(lz, exact).logVar) };
  } finally {
    b.dispose();
  }
}

const fitOn = (backend: 'wasm' | 'cpu', name: string, extra: Record<string, unknown> = {}) =>
  on(backend, () => summarize(name, model.fit(mixData, { ...fits[name], ...extra } as never)));

describe('inference families on webgpu agree with wasm', { timeout: 300_000 }, () => {
  for (const name of ['nuts', 'gibbs-slice', 'vi', 'langevin']) {
    it(`${name}: the same numbers as wasm (the float64 replay on the host)`, async (ctx) => {
      const gpu = childResult(name, ctx)?.summary;
      if (!gpu) return;
      const ref = await fitOn('wasm', name);
      expect(gpu).toEqual(ref);
    });
  }
  it('minibatch VI from chunks (model.fit(chunks, ...)): the same numbers as wasm', async (ctx) => {
    const gpu = childResult('vi-chunked', ctx)?.summary;
    if (!gpu) return;
    expect(gpu).toEqual(summarize('vi-chunked', await model.fit(viChunks, viChunkedOpts as never)));
  });
  it('particle filter (mixppl filter\'s): the same log Ẑ as wasm', async (ctx) => {
    const gpu = childResult('filter', ctx)?.summary;
    if (!gpu) return;
    expect(gpu.logZ).toBe(await on('wasm', runFilter));
  });
  it('tempered SMC: the cpu run\'s log Ẑ exactly, wasm\'s within 4 √2 seed sd', async (ctx) => {
    const gpu = childResult('smc', ctx)?.summary;
    if (!gpu) return;
    expect(gpu).toEqual(await fitOn('cpu', 'smc'));
    const ref = (await fitOn('wasm', 'smc')).logZ as number;
    const seeds = await Promise.all([2, 3, 4, 5, 6, 7, 8, 9].map(async (seed) => (await fitOn('wasm', 'smc', { seed })).logZ as number));
    const mean = seeds.reduce((a, v) => a + v, 0) / seeds.length;
    const sd = Math.sqrt(seeds.reduce((a, v) => a + (v - mean) ** 2, 0) / (seeds.length - 1));
    console.log(`smc log Z: webgpu ${gpu.logZ}, wasm ${ref}, seed sd ${sd.toExponential(2)}`);
    expect(Math.abs((gpu.logZ as number) - ref)).toBeLessThanOrEqual(4 * Math.SQRT2 * sd);
  });
  it('smcDevice (the particles\' moves as batches on the device): wasm\'s log Ẑ within 4 √2 seed sd; finite particles, weights summing to 1', async (ctx) => {
    const gpu = childResult('smc-device', ctx)?.summary;
    if (!gpu) return;
    await tf.setBackend('wasm');
    const runs = [];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9]) runs.push(await smcDevice(model, mixData, { ...deviceSmc, seed }));
    const ref = runs[0].logZ;
    const seeds = runs.slice(1).map((r) => r.logZ);
    const mean = seeds.reduce((a, v) => a + v, 0) / seeds.length;
    const sd = Math.sqrt(seeds.reduce((a, v) => a + (v - mean) ** 2, 0) / (seeds.length - 1));
    console.log(`smcDevice log Z: webgpu ${gpu.logZ}, wasm ${ref}, seed sd ${sd.toExponential(2)}`);
    expect(Math.abs((gpu.logZ as number) - ref)).toBeLessThanOrEqual(4 * Math.SQRT2 * sd);
    expect(gpu.u as number[][]).toHaveLength(deviceSmc.particles);
    expect((gpu.u as number[][]).flat().every(Number.isFinite)).toBe(true);
    expect(Math.abs((gpu.weights as number[]).reduce((a, v) => a + v, 0) - 1)).toBeLessThan(1e-9);
  });
  it('MAP on the device (L-BFGS on the host, the potential and gradient on webgpu): wasm\'s log density within twice the float32 evaluation error', async (ctx) => {
    const gpu = childResult('map', ctx)?.summary;
    if (!gpu) return;
    const ref = await fitOn('wasm', 'map');
    const ld = ref.logDensity as number;
    const tol = 2 * (mixY.length + 16) * 2 ** -24 * Math.abs(ld);
    console.log(`map log density: webgpu ${gpu.logDensity}, wasm ${ld}, tolerance ${tol.toExponential(2)}`);
    expect(Math.abs((gpu.logDensity as number) - ld)).toBeLessThanOrEqual(tol);
  });
  it('diffusion (DSM training, sampling and the ODE log-likelihood on the device): wasm\'s fit within the method\'s resolution; draws and densities from the awaited forms', async (ctx) => {
    const gpu = childResult('diffusion', ctx)?.summary;
    if (!gpu) return;
    await tf.setBackend('wasm');
    const ref = model.fit(mixData, fits.diffusion as never) as unknown as DiffusionFitResult;
    try {
      const w = summarize('diffusion', ref);
      const losses = w.losses as number[];
      expect((gpu.losses as number[]).length).toBe(losses.length);
      const tail = losses.slice(-Math.max(1, Math.floor(losses.length / 10)));
      const m = tail.reduce((a, v) => a + v, 0) / tail.length;
      const se = Math.sqrt(tail.reduce((a, v) => a + (v - m) ** 2, 0) / (tail.length - 1) / tail.length);
      console.log(`diffusion: final loss webgpu ${gpu.finalLoss}, wasm ${w.finalLoss} (2 se ${(2 * se).toExponential(2)}); held-out webgpu ${gpu.heldOutLogLik}, wasm ${w.heldOutLogLik} (2 se ${(2 * (w.heldOutLogLikSe as number)).toExponential(2)})`);
      expect(Math.abs((gpu.finalLoss as number) - (w.finalLoss as number))).toBeLessThanOrEqual(2 * se);
      expect(Math.abs((gpu.heldOutLogLik as number) - (w.heldOutLogLik as number))).toBeLessThanOrEqual(2 * (w.heldOutLogLikSe as number));
      expect(Number.isFinite(w.baselineTrain) && Number.isFinite(gpu.baselineTrain), `baseline training log likelihood: webgpu ${gpu.baselineTrain}, wasm ${w.baselineTrain}`).toBe(true);
      const nTrain = w.trainRows as number;
      const tol = (2 * (nTrain + 16) * 2 ** -24 * Math.abs((w.baselineTrain as number) * nTrain)) / nTrain;
      expect(Math.abs((gpu.baselineTrain as number) - (w.baselineTrain as number))).toBeLessThanOrEqual(tol);
      // The awaited forms ran on the device (their numbers are the samplers' of the held-out
      // check above; here, that they come back, finite).
      expect((gpu.draws as number[]).length).toBe(5);
      expect([...(gpu.draws as number[]), ...(gpu.logLik as number[])].every(Number.isFinite)).toBe(true);
    } finally {
      ref.dispose();
    }
  });
  for (const [name, check, draws] of [
    ['NUTS with deviceGradients (the chains in workers', 'nuts-device-gradients', deviceNuts.chains * deviceNuts.draws],
    ['MALA with scoreSampleDeviceGradients (the sampler in a worker', 'mala-device-gradients', deviceMala.chains * deviceMala.draws],
  ] as const) it(`${name}, the gradients on the device): each draw's log density is the float64 one at that draw within twice the float32 evaluation error`, async (ctx) => {
    const gpu = childResult(check, ctx)?.summary;
    if (!gpu) return;
    const u = gpu.u as number[][];
    const lp = gpu.lp as number[];
    expect(u).toHaveLength(draws);
    // A draw's lp__ is the device's -potential at the point the worker sent: the float64 replay
    // at the draw gives it up to float32 evaluation error (as the MAP check's bound).
    const bm = model.bind(mixData);
    const pot = bm.potentialFunction();
    let worst = 0;
    u.forEach((q, i) => {
      const ref = -pot.value(q);
      const tol = 2 * (mixY.length + 16) * 2 ** -24 * Math.abs(ref);
      expect(Math.abs(lp[i] - ref), `draw ${i}: lp ${lp[i]}, replay ${ref}`).toBeLessThanOrEqual(tol);
      worst = Math.max(worst, Math.abs(lp[i] - ref) / tol);
    });
    console.log(`${check}: largest |lp - replay| over its tolerance ${worst.toPrecision(3)}`);
    bm.dispose();
    // The chains moved: not every draw is the same point.
    expect(new Set(u.map((q) => q.join(','))).size).toBeGreaterThan(2);
  });
  it('VI with viDeviceGradients (the loop in a worker, the gradients on the device): the first step\'s ELBO is the float64 one within twice the float32 evaluation error; the fit runs to the end', async (ctx) => {
    const gpu = childResult('vi-device-gradients', ctx)?.summary;
    if (!gpu) return;
    // Step 1 starts from the same guide with the same seeded noise on both, so its ELBO
    // estimate -U(u) + H differs only by the float32 evaluation of U (as the MAP check's bound).
    const bm = model.bind(mixData);
    const ref = vi(bm, { ...deviceVi, steps: 1 });
    const H = makeViGuide(bm, deviceVi, 'meanfield').entropy();
    bm.dispose();
    const U = H - ref.elboRaw[0];
    const e0 = (gpu.elboRaw as number[])[0];
    const tol = 2 * (mixY.length + 16) * 2 ** -24 * Math.abs(U);
    console.log(`viDeviceGradients: first ELBO webgpu ${e0}, replay ${ref.elboRaw[0]}, tolerance ${tol.toExponential(2)}`);
    expect(Math.abs(e0 - ref.elboRaw[0])).toBeLessThanOrEqual(tol);
    expect(gpu.steps).toBe(deviceVi.steps);
    expect([...(gpu.elboRaw as number[]), ...(gpu.params as number[])].every(Number.isFinite)).toBe(true);
  });
  it('refusals: a family called outside runOnHostBackend with a clear error, webgpu working after it', (ctx) => {
    childResult('refusals', ctx);
  });
  it('mixppl filter --backend webgpu filters an HMM and a switching model on the device (log Z-hat within 4 sd of the exact evidence; --smooth on the host); mixppl sample --backend webgpu prints what wasm prints; sample --device-gradients, fit --method mle and fit --method diffusion run on the device', (ctx) => {
    if (!childResult('filter', ctx)) return;
    const env = { ...process.env, MIXPPL_WEBGPU_ADAPTER: child.adapter() };
    const run = (...args: string[]) => spawnSync(process.execPath, ['bin/mixppl.js', ...args], { cwd, encoding: 'utf8', timeout: 200_000, env });
    const tail = (s: string) => s.split('\n').filter((l) => !l.startsWith('Warning') && !l.startsWith('var Module')).slice(-5).join('\n');
    const noTimes = (s: string) => s.replace(/[\d.]+ ?(s|ms)\b/g, 'T'); // run times differ; every other character must not
    const geyser = ['examples/geyser-hmm/geyser.mix', '--data', 'examples/geyser-hmm/geyser.csv'];
    const filter = ['filter', ...geyser, '--param', 'pi=[0.5,0.5]', '--param', 'A=[[0.1,0.9],[0.6,0.4]]', '--param', 'mu=[55,80]', '--param', 'sigma=[6,6]', '--particles', '300', '--seed', '7', '--backend'];
    const fg = run(...filter, 'webgpu');
    const fc = run(...filter, 'wasm');
    expect(fc.status, tail(fc.stderr)).toBe(0);
    expect(fg.status, tail(fg.stderr)).toBe(0);
    // Under webgpu the HMM's filter runs on the device (particleFilterDevice), on wasm on the
    // host: the same header but for where, and a log Z-hat within 4 sd (the host filter's, over
    // 40 seeds at these settings) plus the Jensen gap var/2 of the forward algorithm's log Z.
    expect(fg.stdout).toMatch(/ on the device \(webgpu, float32\)$/m);
    expect(fc.stdout).toMatch(/ on the host \(float64\)$/m);
    const head = (out: string) => out.split('\n').slice(0, out.split('\n').findIndex((l) => l.startsWith('log Z-hat'))).map((l) => noTimes(l).replace(/ on the (device|host) .*$/, ''));
    expect(head(fc.stdout).length).toBe(2);
    expect(head(fg.stdout)).toEqual(head(fc.stdout));
    expect(fg.stdout).toMatch(/^t {2}P\(z=1\) {2}P\(z=2\) {2}ess$/m);
    const lzDevice = Number(/^log Z-hat (\S+)/m.exec(fg.stdout)?.[1]);
    const ev = geyserEvidence();
    expect(Math.abs(lzDevice - ev.exact), `log Z-hat ${lzDevice}, exact ${ev.exact}, sd ${ev.sd}`).toBeLessThan(4 * ev.sd + (ev.sd * ev.sd) / 2);
    // --smooth keeps the host's filter (it needs the particle history), and says so
    const fs = run(...filter.slice(0, -1), '--smooth', '5', '--proposal', 'bootstrap', '--backend', 'webgpu');
    expect(fs.status, tail(fs.stderr)).toBe(0);
    expect(fs.stdout).toMatch(/ on the host \(float64\): --smooth needs the particle history, kept on the host$/m);
    // the switching model (Rao–Blackwellised) on the device: the host's columns without
    // quantiles, log Z-hat within 4 sd (the host filter's over 20 seeds) of the exact evidence
    const swDir = mkdtempSync(join(tmpdir(), 'mixppl-sw-'));
    const swData = join(swDir, 'y.csv');
    const swY = [0.3, 1.1, -0.4, 0.8, 2.0, 1.4, -0.9, 0.1, 0.6, -1.2, 0.4, 1.7];
    writeFileSync(swData, 'y\n' + swY.join('\n') + '\n');
    const P = { pi: [0.5, 0.5], A: [[0.9, 0.1], [0.2, 0.8]], a: [0.95, -0.5], q: [0.3, 1.2], r: 0.5 };
    const swOut = join(swDir, 'rb.csv');
    const sw = run('filter', 'stdlib/switching_lgssm.mix', '--data', swData, '--set', 'K=2', ...Object.entries(P).flatMap(([k, v]) => ['--param', `${k}=${JSON.stringify(v)}`]),
      '--particles', '400', '--out', swOut, '--backend', 'webgpu');
    expect(sw.status, tail(sw.stderr)).toBe(0);
    expect(sw.stdout).toMatch(/ on the device \(webgpu, float32\)$/m);
    expect(readFileSync(swOut, 'utf8').split('\n')[0]).toBe('t,P(s=1),P(s=2),x.mean,x.sd,ess');
    // bootstrap particles: the host table's quantile columns too (weighted quantiles on the device)
    const swBs = run('filter', 'stdlib/switching_lgssm.mix', '--data', swData, '--set', 'K=2', ...Object.entries(P).flatMap(([k, v]) => ['--param', `${k}=${JSON.stringify(v)}`]),
      '--particles', '200', '--proposal', 'bootstrap', '--out', join(swDir, 'bs.csv'), '--backend', 'webgpu');
    expect(swBs.status, tail(swBs.stderr)).toBe(0);
    const bsRows = readFileSync(join(swDir, 'bs.csv'), 'utf8').trim().split('\n');
    expect(bsRows[0]).toBe('t,P(s=1),P(s=2),x.mean,x.sd,x.q5,x.q50,x.q95,ess');
    for (const line of bsRows.slice(1)) {
      const [, , , , , q5, q50, q95] = line.split(',').map(Number);
      expect(q5 <= q50 && q50 <= q95, line).toBe(true);
    }
    const swb = compile(readFileSync(join(cwd, 'stdlib/switching_lgssm.mix'), 'utf8')).bind({ K: 2, y: swY });
    try {
      const sm = switchingLgssmFromModel(swb, P);
      const exactSw = switchingLgssmLogEvidence(sm.params, sm.y);
      const lzs = Array.from({ length: 20 }, (_, i) => particleFilter(sm.ssm, { particles: 400, seed: 100 + i, proposal: 'optimal', quantiles: [] }).logZ);
      const sdSw = Math.sqrt(ratioSummary(lzs, exactSw).logVar);
      const lzSw = Number(/^log Z-hat (\S+)/m.exec(sw.stdout)?.[1]);
      expect(Math.abs(lzSw - exactSw), `log Z-hat ${lzSw}, exact ${exactSw}, sd ${sdSw}`).toBeLessThan(4 * sdSw + 1e-4);
    } finally {
      swb.dispose();
    }
    const smp = ['sample', ...geyser, '--chains', '1', '--warmup', '40', '--draws', '20', '--seed', '3', '--backend'];
    const sg = run(...smp, 'webgpu');
    const sc = run(...smp, 'wasm');
    expect(sc.status, tail(sc.stderr)).toBe(0);
    expect(sg.status, tail(sg.stderr)).toBe(0);
    expect(noTimes(sg.stdout)).toBe(noTimes(sc.stdout));
    // --device-gradients: the gradients on the device from the command line (the binding, the
    // init check and the report on the host).
    const sd = run('sample', ...geyser, '--chains', '1', '--warmup', '10', '--draws', '5', '--max-depth', '3', '--seed', '3', '--device-gradients', '--backend', 'webgpu');
    expect([0, 3], tail(sd.stderr)).toContain(sd.status);
    expect(sd.stdout).toMatch(/^potential: tensor evaluator \(tfjs, float32\) on webgpu in the main thread/m);
    expect(sd.stdout).toMatch(/^mu\.2 /m);
    // Maximum likelihood on the device (mixppl fit --method mle): wasm's log density within twice
    // the float32 evaluation error (T = 300 per-step terms, as the MAP check above).
    const mle = ['fit', ...geyser, '--method', 'mle', '--n-init', '1', '--seed', '2', '--backend'];
    const mg = run(...mle, 'webgpu');
    const mc = run(...mle, 'wasm');
    expect(mc.status, tail(mc.stderr)).toBe(0);
    expect(mg.status, tail(mg.stderr)).toBe(0);
    const ld = (out: string) => Number(/^log density (-?[\d.]+);/m.exec(out)?.[1]);
    const [lg, lc] = [ld(mg.stdout), ld(mc.stdout)];
    const tol = 2 * (300 + 16) * 2 ** -24 * Math.abs(lc);
    console.log(`mle log density: webgpu ${lg}, wasm ${lc}, tolerance ${tol.toExponential(2)}`);
    expect(Math.abs(lg - lc)).toBeLessThanOrEqual(tol);
    // The diffusion method on the device (training, the held-out ODE log-likelihood, the
    // samples written): wasm's held-out log-likelihood within 2 of its standard errors (the
    // resolution the command itself reports; see the file's comment).
    const dir = mkdtempSync(join(tmpdir(), 'mixppl-diffusion-webgpu-'));
    const diff = (backend: string) => {
      const samples = join(dir, `${backend}.csv`);
      const r = run('fit', ...geyser, '--method', 'diffusion', '--steps', '30', '--seed', '2', '--samples', samples, '--draws', '5', '--backend', backend);
      expect(r.status, tail(r.stderr)).toBe(0);
      const m = /^held-out log-likelihood per row: diffusion (-?[\d.]+) ± ([\d.]+)/m.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(readFileSync(samples, 'utf8').trim().split('\n')).toHaveLength(6);
      return { ll: Number(m![1]), se: Number(m![2]) };
    };
    const dg = diff('webgpu');
    const dc = diff('wasm');
    console.log(`fit --method diffusion: held-out log-likelihood webgpu ${dg.ll}, wasm ${dc.ll} ± ${dc.se}`);
    expect(Math.abs(dg.ll - dc.ll)).toBeLessThanOrEqual(2 * dc.se);
  });
  it('mixppl report --backend webgpu runs on the host and reports the EM fit wasm reports (float32 error)', (ctx) => {
    if (!childResult('filter', ctx)) return;
    const env = { ...process.env, MIXPPL_WEBGPU_ADAPTER: child.adapter() };
    const dir = mkdtempSync(join(tmpdir(), 'mixppl-report-webgpu-'));
    const ll = (backend: string) => {
      const out = join(dir, `${backend}.html`);
      const r = spawnSync(process.execPath, ['bin/mixppl.js', 'report', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv', '--set', 'K=2', '--out', out, '--backend', backend], { cwd, encoding: 'utf8', timeout: 200_000, env });
      expect(r.status, r.stderr.split('\n').filter((l) => !l.startsWith('Warning') && !l.startsWith('var Module')).slice(-5).join('\n')).toBe(0);
      const m = /log likelihood (-?[\d.]+); (\d+) iterations; converged/.exec(readFileSync(out, 'utf8'));
      expect(m, `no EM line in the ${backend} report`).not.toBeNull();
      return { ll: Number(m![1]), its: m![2] };
    };
    const g = ll('webgpu');
    const c = ll('wasm');
    // 272 rows, D = 2, K = 2: the float32 summation bound of em-webgpu.test.ts's CLI check (tfjs cpu against wasm here).
    const tol = 2 * (272 + 8 * 4 + 4 * 2 + 16) * 2 ** -24 * Math.abs(c.ll);
    expect(Math.abs(g.ll - c.ll)).toBeLessThanOrEqual(Math.max(tol, 1e-4));
    expect(g.its).toBe(c.its);
  });
});
