// EM on webgpu against EM on wasm. The webgpu fits run in a child process
// (em-webgpu-checks.ts: Dawn on Mesa can abort natively at exit, and this process stays on
// wasm); this file fits the same cases (em-webgpu-cases.ts) on wasm and compares them with the
// tolerances derived there. Skipped, with the reason logged, where no WebGPU adapter is found.
import { beforeAll, describe, expect, it } from 'vitest';
import { webgpuChild } from '../tensor/webgpu-child';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../../src/tensor';
import { compile } from '../../src';
import { cases, compareFits, logLikTolerance, onlineChunks, onlineInit, summarize, x2, PREDICT_ROWS, U, type FitSummary, type P } from './em-webgpu-cases';
import { predict, viterbi } from '../../src/infer/em';
import { lgamma } from '../stdlib/reference';

beforeAll(async () => {
  await useBackend('wasm');
});

type PredictSummary = { params: P; logDensity: number[]; assignments: number[]; hmmParams: P; path: number[]; logScore: number; logZ: number };
const child = webgpuChild<{ fit?: FitSummary; online?: { trace: number[]; params: Record<string, unknown> }; predict?: PredictSummary }>(import.meta.url, './em-webgpu-checks.ts', 'webgpu EM');
const childResult = child.result;

function wasmFit(name: string, opts: { tol?: number; maxIter?: number } = {}, data = cases[name].data): FitSummary {
  return summarize(compile(cases[name].src).fit(data, { method: 'em', seed: 1, ...cases[name].opts, ...opts }));
}

describe('EM on webgpu agrees with wasm', { timeout: 300_000 }, () => {
  const cmp = (check: string, name: string, opts: { tol?: number; maxIter?: number } = {}) => (ctx: { skip: (note?: string) => void }) => {
    const gpu = childResult(check, ctx)?.fit;
    if (!gpu) return;
    const ref = wasmFit(name, opts);
    const c = compareFits(name, ref, gpu);
    console.log(`${check}: log lik wasm ${ref.logLik}, webgpu ${gpu.logLik}, |difference| ${c.diff.toExponential(2)} (tolerance ${c.tol.toExponential(2)}); ${ref.iterations} iterations; ${c.compared} hard assignments compared`);
    expect(c.problems).toEqual([]);
    if (cases[name].joint) expect(c.compared).toBeGreaterThan(cases[name].N * 0.9);
  };
  it('full-covariance Gaussian mixture (fused E- and M-step): log likelihood, iterations, hard assignments; device responsibilities', cmp('em-gmm-full', 'full'));
  it('the same for a fixed 25 iterations', cmp('em-gmm-full-fixed-iterations', 'full', { tol: 0, maxIter: 25 }));
  it('diagonal Gaussian mixture (generic E-step, normal components)', cmp('em-gmm-diag', 'diag'));
  it('Poisson mixture', cmp('em-poisson', 'poisson'));
  it('Poisson mixture, three k-means starts (the data read to the host before each)', cmp('em-poisson-starts', 'poissonStarts'));
  it('Gaussian HMM (forward-backward E-step, transition rows)', cmp('em-hmm', 'hmm'));
  it('student_t mixture with a free nu (the gradient M-step: L-BFGS reading -Q and its gradient from the device)', cmp('em-student-t', 'studentT'));
  it('ordered normal means (isotonic regression on the host of statistics read from the device)', cmp('em-ordered', 'ordered'));
  it('student_t with ordered locations (the host solve between the device\'s ECM updates)', cmp('em-student-t-ordered', 'studentTOrdered'));
  it('gamma mixture (shapes by a float64 Newton solve on the host, rates on the device)', cmp('em-gamma', 'gamma'));
  it('a re-seeded component and the M-step\'s precision fallbacks (chosen on the device): the same re-seeds and fit', cmp('em-reseed', 'reseed'));
  it('the same re-seed on the generic E-step (diagonal normals)', (ctx) => {
    cmp('em-reseed-diag', 'reseedDiag')(ctx);
    expect(wasmFit('reseedDiag', {}).reseeds.length).toBeGreaterThan(0);
  });
  for (const [check, start] of [['em-online', 'a k-means start'], ['em-online-init', 'starting values']]) {
    it(`online EM (chunks, two passes, ${start}): each chunk's mean log likelihood and the final log likelihood agree with wasm`, async (ctx) => {
      const gpu = childResult(check, ctx)?.online;
      if (!gpu) return;
      const init = check === 'em-online-init' ? { init: onlineInit } : {};
      const ref = await compile(cases.full.src).fit(onlineChunks(), { method: 'em', online: { passes: 2, data: { K: 3 }, ...init }, seed: 1 });
      expect(gpu.trace.length).toBe(ref.trace.length);
      // Each trace value is a chunk's mean log likelihood, a float32 sum over its rows divided by
      // them: the batch fits' summation bound for that many rows (every row's term has the sign
      // of the mean here, so Σ|l_n| / rows = |mean|).
      const rows = Math.ceil(cases.full.N / 4);
      gpu.trace.forEach((v, i) => {
        const tol = 2 * (rows + 8 * 4 + 4 * 3 + 16) * 2 ** -24 * Math.abs(ref.trace[i]);
        expect(Math.abs(v - ref.trace[i]), `chunk update ${i}: webgpu ${v}, wasm ${ref.trace[i]}`).toBeLessThanOrEqual(tol);
      });
      // The final estimates: the full data's log likelihood at each within the batch tolerance.
      const { tol, hostF64 } = logLikTolerance('full', ref.params as P);
      const atGpu = logLikTolerance('full', gpu.params as P).hostF64;
      expect(Math.abs(atGpu - hostF64), `log likelihood at the webgpu estimate ${atGpu}, at wasm's ${hostF64}`).toBeLessThanOrEqual(tol);
    });
  }
  it('predictAsync and viterbiAsync on the device: wasm\'s per-point log densities within float32 error, the float64 assignments, wasm\'s path', (ctx) => {
    const gpu = childResult('em-predict', ctx)?.predict;
    if (!gpu) return;
    // predict at the device fit's parameters on wasm: the two differ only by evaluation error.
    // Per point: K terms log w_k + y log lam_k - lam_k - lgamma(y + 1) and a log-sum-exp, so
    // each backend is within (4 K + 16) u max_k Σ|term parts| (as em-webgpu-cases' bound), twice that apart.
    const pb = compile(cases.poisson.src).bind(cases.poisson.data);
    const ref = predict(pb, gpu.params, { y: PREDICT_ROWS });
    pb.dispose();
    const { w, lam } = gpu.params as { w: number[]; lam: number[] };
    PREDICT_ROWS.forEach((y, n) => {
      const parts = w.map((wk, k) => Math.abs(Math.log(wk)) + Math.abs(y * Math.log(lam[k])) + lam[k] + lgamma(y + 1));
      const tol = 2 * (4 * w.length + 16) * U * Math.max(...parts);
      expect(Math.abs(gpu.logDensity[n] - ref.logDensity[n]), `row ${n} (y = ${y})`).toBeLessThanOrEqual(tol);
      const joint = w.map((wk, k) => Math.log(wk) + y * Math.log(lam[k]) - lam[k] - lgamma(y + 1));
      const order = joint.map((v, k) => [v, k]).sort((a, b) => b[0] - a[0]);
      if (order[0][0] - order[1][0] >= 1e-3) expect(gpu.assignments[n], `row ${n}`).toBe(order[0][1] + 1);
    });
    // The Viterbi path at the device's HMM fit, on wasm: the same path (no near-ties at these
    // parameters: a float32 change of the potentials would not flip it), log Z and the path's
    // score within the HMM's log-likelihood bound.
    const hb = compile(cases.hmm.src).bind(cases.hmm.data);
    const v = Object.values(viterbi(hb, gpu.hmmParams as never))[0];
    hb.dispose();
    expect(gpu.path).toEqual(Array.from(v.path));
    const { tol } = logLikTolerance('hmm', gpu.hmmParams);
    expect(Math.abs(gpu.logZ - v.logZ!)).toBeLessThanOrEqual(tol);
    expect(Math.abs(gpu.logScore - v.logScore!)).toBeLessThanOrEqual(tol);
  });
  it('generic responsibilities (a Poisson mixture) read with awaited reads: the float64 argmax', (ctx) => {
    childResult('em-responsibilities-generic', ctx);
  });
  it('the tolerance can fail: a fit on data with one row moved by 0.05 is outside it', (ctx) => {
    const gpu = childResult('em-gmm-full', ctx)?.fit;
    if (!gpu) return;
    const moved = wasmFit('full', {}, { K: 3, x: x2.map((r, n) => (n === 7 ? [r[0] + 0.05, r[1]] : r)) });
    expect(Math.abs(moved.logLik - gpu.logLik)).toBeGreaterThan(logLikTolerance('full', moved.params).tol);
  });
  it('reverse cumulative sums and products are right whatever lengths ran before (a tfjs-backend-webgpu shader cache bug, worked around)', (ctx) => {
    childResult('reverse-cumsum-lengths', ctx);
  });
  it('mixppl fit --method em --backend webgpu prints the fit wasm prints (Old Faithful, full covariances)', (ctx) => {
    if (!childResult('em-gmm-full', ctx)) return;
    const args = ['bin/mixppl.js', 'fit', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv', '--set', 'K=2', '--method', 'em', '--seed', '1', '--backend'];
    const cwd = fileURLToPath(new URL('../..', import.meta.url));
    const run = (backend: string) => spawnSync(process.execPath, [...args, backend], { cwd, encoding: 'utf8', timeout: 200_000, env: { ...process.env, MIXPPL_WEBGPU_ADAPTER: child.adapter() } });
    const gpu = run('webgpu');
    const cpu = run('wasm');
    const ll = (out: string) => Number(/log likelihood (-?[\d.]+); (\d+) iterations; converged/.exec(out)?.[1]);
    const its = (out: string) => /; (\d+) iterations; converged/.exec(out)?.[1];
    expect(ll(cpu.stdout), cpu.stderr).toBeLessThan(0);
    expect(ll(gpu.stdout), gpu.stderr.split('\n').filter((l) => !l.startsWith('Warning') && !l.startsWith('var Module')).slice(-5).join('\n')).toBeLessThan(0);
    // 272 rows, D = 2, K = 2, |log lik| ~ 1130 (each row's term is negative here, so Σ|l_n| = |log lik|): the tolerance of em-webgpu-cases.ts.
    const tol = 2 * (272 + 8 * 4 + 4 * 2 + 16) * 2 ** -24 * Math.abs(ll(cpu.stdout));
    expect(Math.abs(ll(gpu.stdout) - ll(cpu.stdout))).toBeLessThanOrEqual(Math.max(tol, 1e-4)); // printed to 4 decimals
    expect(its(gpu.stdout)).toBe(its(cpu.stdout));
  });
  it('mixppl select --backend webgpu gives wasm\'s table within float32 error and the same winner', (ctx) => {
    if (!childResult('em-gmm-full', ctx)) return;
    const args = ['bin/mixppl.js', 'select', 'stdlib/gmm_full.mix', 'stdlib/gmm_diag.mix', '--data', 'examples/old-faithful/faithful.csv', '--k', '1..3', '--seed', '1', '--backend'];
    const cwd = fileURLToPath(new URL('../..', import.meta.url));
    const run = (backend: string) => spawnSync(process.execPath, [...args, backend], { cwd, encoding: 'utf8', timeout: 200_000, env: { ...process.env, MIXPPL_WEBGPU_ADAPTER: child.adapter() } });
    const gpu = run('webgpu');
    const cpu = run('wasm');
    expect(cpu.status, cpu.stderr).toBe(0);
    expect(gpu.status, gpu.stderr.split('\n').filter((l) => !l.startsWith('Warning') && !l.startsWith('var Module')).slice(-5).join('\n')).toBe(0);
    const rows = (out: string) => [...out.matchAll(/^(gmm_\w+)\s+(\d)\s+(-?[\d.]+)\s+(\d+)/gm)].map((m) => ({ model: m[1], K: m[2], ll: Number(m[3]), p: m[4] }));
    const g = rows(gpu.stdout);
    const c = rows(cpu.stdout);
    expect(c.length).toBe(6);
    expect(g.map((r) => [r.model, r.K, r.p])).toEqual(c.map((r) => [r.model, r.K, r.p]));
    // 272 rows, D = 2, K <= 3: the float32 summation bound of the CLI fit check above, per row.
    c.forEach((r, i) => expect(Math.abs(g[i].ll - r.ll), `${r.model} K = ${r.K}`).toBeLessThanOrEqual(Math.max(2 * (272 + 8 * 4 + 4 * 3 + 16) * 2 ** -24 * Math.abs(r.ll), 1e-3)));
    expect(/best by BIC: .*/.exec(gpu.stdout)?.[0].replace(/BIC [\d.]+/, '')).toBe(/best by BIC: .*/.exec(cpu.stdout)?.[0].replace(/BIC [\d.]+/, ''));
  });
  it('refuses what needs synchronous reads with errors naming it (em(), an un-awaited result)', (ctx) => {
    childResult('em-errors', ctx);
  });
});
