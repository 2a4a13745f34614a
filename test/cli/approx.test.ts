// `mixppl fit --method vi|smc` through the binary: exit codes, the printed summary and
// the JSON output, on a conjugate model whose posterior is known in closed form.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { normalKnownVariance } from '../../src/testing/exact';
import { NORMAL_MEAN } from '../infer/conjugate-models';
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

  it('smc: weighted posterior moments and the log evidence', () => {
    const out = join(dir, 'smc.json');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--particles', '500', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tempered SMC, 500 particles/);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(Number.isFinite(j.logZ)).toBe(true);
    expect(Math.abs(j.moments.mu.mean - exact.mean)).toBeLessThan(0.25 * Math.sqrt(exact.variance));
  }, 120_000);

  it('refuses options of another method and a bad guide', () => {
    expect(mixppl('fit', modelPath, '--data', dataPath, '--method', 'smc', '--guide', 'meanfield').code).toBe(2);
    expect(mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--guide', 'flow').code).toBe(2);
    const bad = mixppl('fit', modelPath, '--data', dataPath, '--method', 'vi', '--max-iter', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-iter must be a positive integer, got 'abc'/);
  }, 120_000);
});
