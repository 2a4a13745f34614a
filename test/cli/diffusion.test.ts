// `mixppl fit --method diffusion` through the binary: the printed comparison, parseable JSON
// (--out) and CSV samples (--samples, --draws), usage errors (exit 2) and a model whose
// observations are not rows (exit 1, the reason on stderr).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mixppl } from './run';

const dir = mkdtempSync(join(tmpdir(), 'mixppl-diffusion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = join(dir, 'gauss2.mix');
writeFileSync(modelPath, `model gauss2 {
  data x: real[N, 2]
  param mu: real[2]
  param tau: positive[2]
  param L: cholesky_corr[2]
  mu ~ normal(0, 10)
  tau ~ half_normal(5)
  L ~ lkj_corr_cholesky(2.0)
  for n in 1..N { x[n] ~ mvnormal_cholesky(mu, diag_pre_multiply(tau, L)) }
}`);
const dataPath = join(dir, 'x.csv');
// 120 rows of two clusters (a deterministic pattern; the test checks the plumbing, not the fit).
const rows = Array.from({ length: 120 }, (_, i) => [(i % 2 ? 2 : -2) + 0.3 * Math.sin(i * 1.7), (i % 2 ? 1 : 0) + 0.4 * Math.cos(i * 2.3)]);
writeFileSync(dataPath, 'x.1,x.2\n' + rows.map((r) => r.join(',')).join('\n') + '\n');

describe('fit --method diffusion', () => {
  it('prints the held-out comparison and writes parseable JSON and CSV', () => {
    const out = join(dir, 'fit.json');
    const csv = join(dir, 'samples.csv');
    const r = mixppl('fit', modelPath, '--data', dataPath, '--method', 'diffusion', '--steps', '60', '--out', out, '--samples', csv, '--draws', '25', '--seed', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/model gauss2: diffusion \(denoising score matching, vp\(betaMin=0.1, betaMax=20\), MLP 3 x 64\); 60 steps on 96 rows of x.1, x.2; 24 rows held out/);
    expect(r.stdout).toMatch(/held-out log-likelihood per row: diffusion -?\d+\.\d{4} ± \d+\.\d{4}/);
    expect(r.stdout).toMatch(/held-out log-likelihood per row: model gauss2 at its MAP fit -?\d+\.\d{4}/);
    expect(r.stdout).toMatch(/wrote 25 samples \(reverse SDE\) to /);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(j.method).toBe('diffusion');
    expect(j.columns).toEqual(['x.1', 'x.2']);
    expect(j.rows).toEqual({ train: 96, heldOut: 24 });
    expect(j.settings.steps).toBe(60);
    expect(Number.isFinite(j.heldOutLogLik)).toBe(true);
    expect(j.baseline.method).toBe('map');
    expect(Number.isFinite(j.baseline.heldOutLogLik)).toBe(true);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('x.1,x.2');
    expect(lines.length).toBe(26);
    for (const l of lines.slice(1)) {
      const v = l.split(',').map(Number);
      expect(v.length).toBe(2);
      expect(v.every(Number.isFinite)).toBe(true);
    }
  }, 120_000);

  it('usage errors exit 2; observations that are not rows exit 1 with the reason', () => {
    const bad = mixppl('fit', modelPath, '--data', dataPath, '--method', 'diffusion', '--steps', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--steps must be a positive integer, got 'abc'/);
    const whole = join(dir, 'whole.mix');
    writeFileSync(whole, 'model v {\n data y: real[N]\n param mu: real\n mu ~ normal(0, 10)\n y ~ normal(mu, 1)\n}');
    const yPath = join(dir, 'y.csv');
    writeFileSync(yPath, 'y\n' + [1.2, 0.3, 2.2, 1.9, 0.7].join('\n') + '\n');
    const r = mixppl('fit', whole, '--data', yPath, '--method', 'diffusion', '--steps', '5');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/mixppl fit --method diffusion: diffusion: 'y' is observed as a whole, not row by row in a plate/);
  }, 120_000);
});
