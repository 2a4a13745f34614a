// `mixppl fit --method vi|smc|mala|annealed-langevin` through the binary: exit codes, the printed summary and
// the JSON output, on a conjugate model whose posterior is known in closed form.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { normalKnownVariance } from '../../src/testing/exact';
import { NORMAL_MEAN, normalEvidence } from '../infer/conjugate-models';
import { mixppl } from './run';

const dir = mkdtempSync(join(tmpdir(), 'mixppl-approx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const y = [2.1, 3.4, 1.2, 2.8, 0.9, 2.5, 3.1, 1.7];
const modelPath = join(dir, 'normal_mean.mix');
const dataPath = join(dir, 'y.csv');
writeFileSync(modelPath, NORMAL_MEAN);
writeFileSync(dataPath, 'y\n' + y.join('\n') + '\n');
const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });

describe('fit --method vi | smc', () => {
  it('vi: a full-rank guide, its summary and JSON; the mean near the exact posterior mean', () => {
    const out = join(dir, 'vi.json');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--max-iter', '3000', '--out', out);
    expect([0, 3]).toContain(r.code);
    expect(r.stdout).toMatch(/VI, fullrank Gaussian guide/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(j.method).toBe('vi');
    // 1-D conjugate Gaussian posterior: the full-rank guide can be exact, so k̂ is small.
    expect(r.stdout).toMatch(/Pareto k-hat -?\d\.\d\d \(PSIS of 1000 guide draws; the guide is close to the posterior\)/);
    expect(j.khat).toBeLessThan(0.5);
    const mean = Number(/^mu\s+(\S+)/m.exec(r.stdout)![1]);
    // Stochastic optimisation error well below the posterior sd (0.49 here).
    expect(Math.abs(mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
  }, 120_000);

  it('vi --device-gradients: the gradients in the main thread (wasm here), the loop in a worker; the same report, the mean near the exact posterior mean', () => {
    const out = join(dir, 'vi-device.json');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--max-iter', '3000', '--grad-samples', '3', '--device-gradients', '--out', out);
    expect([0, 3], r.stderr).toContain(r.code);
    expect(r.stdout).toMatch(/VI, fullrank Gaussian guide on the unconstrained scale; \d+ steps of 3 draws;/);
    expect(r.stdout).toMatch(/Pareto k-hat -?\d\.\d\d \(PSIS of 1000 guide draws; the guide is close to the posterior\)/);
    expect(r.stdout).toMatch(/potential: tensor evaluator \(tfjs, float32\) on wasm in the main thread, the VI loop in a worker thread \(\d+ gradients in \d+ batches of up to 3 points\)/);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ method: 'vi', gradSamples: 3 });
    // A step's 3 draws are one request: the gradients are 3 per batch.
    const [, n, b] = /\((\d+) gradients in (\d+) batches/.exec(r.stdout)!;
    expect(Number(n)).toBe(3 * Number(b));
    const mean = Number(/^mu\s+(\S+)/m.exec(r.stdout)![1]);
    expect(Math.abs(mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
  }, 120_000);

  it('smc: weighted posterior moments and the log evidence', () => {
    const out = join(dir, 'smc.json');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--particles', '500', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tempered SMC \(HMC moves\), 500 particles/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(Number.isFinite(j.logZ)).toBe(true);
    expect(Math.abs(j.moments.mu.mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
  }, 120_000);

  it('smc --device-gradients: every particle\'s evaluations as one batch on the backend (wasm here); the smc report, the log evidence and moments of smcDevice; the host kernels refused', () => {
    const out = join(dir, 'smc-device.json');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--particles', '500', '--device-gradients', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tempered SMC \(HMC moves, every particle's evaluations as one batch on wasm\), 500 particles, \d+ stages; log evidence/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    // The evidence of the conjugate model: 500 particles give well under 0.2 nat of error here.
    const logZ = normalEvidence(y, 1, 2, 1.5);
    expect(Math.abs(j.logZ - logZ), `log Z ${j.logZ}, exact ${logZ}`).toBeLessThan(0.2);
    expect(Math.abs(j.moments.mu.mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
    const bad = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--device-gradients', '--waste-free', '10');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--device-gradients with --method smc runs HMC moves \(--kernel hmc\) without --waste-free; --waste-free runs on the host/);
  }, 120_000);

  it('smc --waste-free: waste-free SMC, moments near the exact posterior; a chain length that does not divide --particles is a usage error', () => {
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--particles', '500', '--waste-free', '10');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/waste-free tempered SMC \(HMC moves\), chains of 10, 500 particles/);
    const mean = Number(/^mu\s+(\S+)/m.exec(r.stdout)![1]);
    // 500 correlated particles: well inside 0.25 posterior sds (as the standard sampler above)
    expect(Math.abs(mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
    const bad = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--particles', '500', '--waste-free', '7');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--waste-free must be an integer ≥ 2 that divides --particles \(500\), got '7'/);
  }, 120_000);

  it('smc --kernel gibbs: data annealing on the galaxy mixture; auto falls back to HMC elsewhere; a bad kernel is a usage error', () => {
    const r = mixppl('fit', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3', '--method', 'smc', '--particles', '500', '--kernel', 'gibbs');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/data-annealing SMC with exact Gibbs moves, 500 particles, \d+ stages adding 82 rows; log evidence -\d+\.\d+/);
    // -223.85 is the mean of 12 runs with 4000 particles (sd 0.14 each); one run with 500
    // particles has sd about 0.4 (bench/results/smc-gibbs.md), so 5 sd is 2 nat.
    const logZ = Number(/log evidence (\S+)/.exec(r.stdout)![1]);
    expect(Math.abs(logZ + 223.85)).toBeLessThan(2);
    const auto = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--particles', '200', '--kernel', 'auto');
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stdout).toMatch(/tempered SMC \(HMC moves\), 200 particles/);
    const bad = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--kernel', 'nuts');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--kernel must be hmc, rwmh, gibbs or auto, got 'nuts'/);
  }, 120_000);

  it('refuses options of another method and a bad guide', () => {
    expect(mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--guide', 'meanfield').code).toBe(2);
    expect(mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--guide', 'flow').code).toBe(2);
    const bad = mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--max-iter', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-iter must be a positive integer, got 'abc'/);
    const zero = mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--grad-samples', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--grad-samples must be a positive integer, got '0'/);
    expect(mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--grad-samples', '2').code).toBe(2);
  }, 120_000);

  it('mala: the MCMC summary of its draws, the mean near the exact posterior mean', () => {
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'mala', '--chains', '2', '--warmup', '300', '--draws', '500');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MALA \(Metropolis-adjusted Langevin\); 2 chains x 500 draws after 300 warm-up/);
    const mean = Number(/^mu\s+(\S+)/m.exec(r.stdout)![1]);
    // 1000 draws: the MCSE is about 0.05 posterior sds; 0.25 sd is 5 of them.
    expect(Math.abs(mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
  }, 120_000);

  it('mala --device-gradients: the gradients in the main thread (wasm here), the sampler in a worker; the same report, the mean near the exact posterior mean', () => {
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'mala', '--chains', '2', '--warmup', '300', '--draws', '500', '--device-gradients');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MALA \(Metropolis-adjusted Langevin\); 2 chains x 500 draws after 300 warm-up/);
    // Both chains' proposals as one request per iteration (the two inits one by one).
    expect(r.stdout).toMatch(/potential: tensor evaluator \(tfjs, float32\) on wasm in the main thread, the sampler in a worker thread \(\d+ gradients in 802 batches of up to 2 points\)/);
    const mean = Number(/^mu\s+(\S+)/m.exec(r.stdout)![1]);
    // As the test above: 1000 draws, MCSE about 0.05 posterior sds.
    expect(Math.abs(mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
    const diffusion = mixppl('fit', modelPath, '--data', dataPath, '--method', 'diffusion', '--device-gradients');
    expect(diffusion.code).toBe(2);
    expect(diffusion.stderr).toMatch(/unknown option '--device-gradients' for 'fit --method diffusion'/);
  }, 120_000);

  it('annealed-langevin: the log evidence against the closed form, and its JSON', () => {
    // log p(y) in closed form: the product of the sequential posterior predictives (y as float32).
    let m = 1;
    let v = 4;
    let logZ = 0;
    for (const yi of y.map(Math.fround)) {
      const pv = v + 1.5 ** 2;
      logZ += -0.5 * Math.log(2 * Math.PI * pv) - (yi - m) ** 2 / (2 * pv);
      const prec = 1 / v + 1 / 1.5 ** 2;
      m = (m / v + yi / 1.5 ** 2) / prec;
      v = 1 / prec;
    }
    const out = join(dir, 'annealed.json');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'annealed-langevin', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/annealed Langevin with Feynman–Kac weights/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(j.method).toBe('annealed-langevin');
    // Over seeds 1..8 with the defaults (4000 particles) log Ẑ had sd 0.025: 0.12 is ~5 sd.
    expect(Math.abs(j.logZ - logZ)).toBeLessThan(0.12);
    expect(Number(/log evidence (\S+)/.exec(r.stdout)![1])).toBeCloseTo(j.logZ, 3);
  }, 120_000);

  it('score methods refuse options they do not take', () => {
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'rdmc', '--warmup', '10');
    expect(r.code).toBe(2);
    expect(mixppl('fit', modelPath, '--data', dataPath, '--method', 'mala', '--chains', '0').code).toBe(2);
  }, 120_000);
});
