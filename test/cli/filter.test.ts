// `mixppl filter` through the binary: the printed log Ẑ is the API's particle filter at the same
// settings, the per-step CSV's state probabilities match the exact forward filter within Monte
// Carlo error, the switching model's Rao–Blackwellised means and sds match a bootstrap run,
// parameters come from a fit's JSON, and bad input gets a located error and the right exit code.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { particleFilter } from '../../src/infer/smc/filter';
import { hmmFromModel, hmmSsm, switchingLgssmFromModel } from '../../src/infer/smc/ssm';
import { hmmForward, switchingLgssmLogEvidence } from '../../src/infer/smc/kalman';
import { Key } from '../../src/tensor/random';
import { mixppl } from './run';

const dir = mkdtempSync(join(tmpdir(), 'mixppl-filter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await ensureBackend();
});

const GEYSER = ['examples/geyser-hmm/geyser.mix', '--data', 'examples/geyser-hmm/geyser.csv'];

function readCsv(path: string): { header: string[]; rows: number[][] } {
  const [h, ...rest] = readFileSync(path, 'utf8').trim().split('\n');
  return { header: h.split(','), rows: rest.map((l) => l.split(',').map(Number)) };
}

const logZhat = (stdout: string) => Number(/^log Z-hat (\S+)/m.exec(stdout)![1]);

describe('mixppl filter', () => {
  it('HMM at a fit\'s parameters: log Ẑ as the API gives it, state probabilities as the forward filter', () => {
    const fit = join(dir, 'fit.json');
    expect(mixppl('fit', ...GEYSER, '--out', fit).code).toBe(0);
    const out = join(dir, 'geyser.csv');
    const r = mixppl('filter', ...GEYSER, '--params', fit, '--particles', '2000', '--seed', '7', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/particle filter on the hidden Markov model \(K = 2\)/);
    expect(r.stdout).toMatch(/2000 particles, optimal proposal, systematic resampling/);
    const params = JSON.parse(readFileSync(fit, 'utf8')).params;
    const y = readFileSync('examples/geyser-hmm/geyser.csv', 'utf8').split('\n').filter((l) => /^\d/.test(l)).map(Number);
    const bound = compile('examples/geyser-hmm/geyser.mix').bind({ y });
    try {
      const tab = hmmFromModel(bound, params);
      const api = particleFilter(hmmSsm(tab), { particles: 2000, seed: 7, proposal: 'optimal' });
      // the same run: printed to 4 decimals
      expect(Math.abs(logZhat(r.stdout) - api.logZ)).toBeLessThan(1e-4);
      const exact = hmmForward(tab);
      const { header, rows } = readCsv(out);
      expect(header).toEqual(['t', 'P(z=1)', 'P(z=2)', 'ess']);
      expect(rows.length).toBe(y.length);
      rows.forEach((row, t) => {
        expect(row[0]).toBe(t + 1);
        expect(Math.abs(row[1] + row[2] - 1)).toBeLessThan(1e-6); // CSV keeps 8 significant digits
        const p = exact.filtered[t * 2 + 1];
        // SE of a weighted proportion from the ESS, ×1.5 for resampling's dependence; 4 SE each (299 steps).
        // For p near 0 or 1 the normal approximation fails (one particle carries ~1/ESS of the
        // weight), so the variance gets a one-particle floor: (p(1 − p) + 1/ESS) / ESS.
        const ess = row[3];
        expect(Math.abs(row[2] - p), `step ${t + 1}`).toBeLessThan(4 * 1.5 * Math.sqrt((p * (1 - p) + 1 / ess) / ess) + 1e-6);
      });
    } finally {
      bound.dispose();
    }
  }, 120_000);

  it('HMM without parameters: EM first (said so); --param overrides; bootstrap with FFBSi smoothing columns', () => {
    const r = mixppl('filter', ...GEYSER, '--particles', '300');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/parameters pi, A, mu, sigma: EM maximum-likelihood estimate, best of 5 starts/);
    expect(r.stdout).toMatch(/^1 {2}/m); // the first steps are printed without --out
    const out = join(dir, 'smooth.csv');
    const s = mixppl('filter', ...GEYSER, '--param', 'pi=[0.5,0.5]', '--param', 'A=[[0.1,0.9],[0.6,0.4]]', '--param', 'mu=[55,80]',
      '--param', 'sigma=[6,6]', '--proposal', 'bootstrap', '--smooth', '40', '--particles', '500', '--out', out);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).not.toMatch(/EM/);
    const { header, rows } = readCsv(out);
    expect(header).toEqual(['t', 'P(z=1)', 'P(z=2)', 'smooth.P(z=1)', 'smooth.P(z=2)', 'ess']);
    for (const row of rows) expect(Math.abs(row[3] + row[4] - 1)).toBeLessThan(1e-6);
  }, 120_000);

  it('switching linear-Gaussian model: log Ẑ near the exact evidence; RB means and sds agree with a bootstrap run', () => {
    // Data drawn from the model (K = 2, T = 16: 2^16 regime paths can be enumerated).
    const P = { pi: [0.5, 0.5], A: [[0.9, 0.1], [0.2, 0.8]], a: [0.95, -0.5], q: [0.3, 1.2], r: 0.5 };
    const rng = Key.seed(31).rng();
    const y: number[] = [];
    let s = 0;
    let x = 5 * rng.normal();
    for (let t = 0; t < 16; t++) {
      if (t > 0) {
        s = rng.uniform() < P.A[s][0] ? 0 : 1;
        x = P.a[s] * x + P.q[s] * rng.normal();
      }
      y.push(x + P.r * rng.normal());
    }
    const data = join(dir, 'y.csv');
    writeFileSync(data, 'y\n' + y.join('\n') + '\n');
    const args = ['stdlib/switching_lgssm.mix', '--data', data, '--set', 'K=2',
      ...Object.entries(P).flatMap(([k, v]) => ['--param', `${k}=${JSON.stringify(v)}`])];
    const rbOut = join(dir, 'rb.csv');
    const rb = mixppl('filter', ...args, '--particles', '400', '--out', rbOut);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(/switching linear-Gaussian model \(K = 2\) \(state x filtered\)/);
    const bound = compile('stdlib/switching_lgssm.mix').bind({ K: 2, y });
    let exact: number;
    try {
      const sw = switchingLgssmFromModel(bound, P);
      exact = switchingLgssmLogEvidence(sw.params, sw.y);
      // the same run as the API's
      const api = particleFilter(sw.ssm, { particles: 400, seed: 1, proposal: 'optimal' });
      expect(Math.abs(logZhat(rb.stdout) - api.logZ)).toBeLessThan(1e-4);
      // Monte Carlo sd of log Ẑ at this size, from 20 runs of the API
      const runs = Array.from({ length: 20 }, (_, i) => particleFilter(sw.ssm, { particles: 400, seed: 100 + i, proposal: 'optimal' }).logZ);
      const m = runs.reduce((a, b) => a + b, 0) / runs.length;
      const sd = Math.sqrt(runs.reduce((a, b) => a + (b - m) ** 2, 0) / (runs.length - 1));
      expect(Math.abs(logZhat(rb.stdout) - exact), `sd ${sd}`).toBeLessThan(4 * sd + 1e-4);
    } finally {
      bound.dispose();
    }
    const bsOut = join(dir, 'bs.csv');
    const bs = mixppl('filter', ...args, '--particles', '20000', '--proposal', 'bootstrap', '--out', bsOut);
    expect(bs.code, bs.stderr).toBe(0);
    const a = readCsv(rbOut);
    const b = readCsv(bsOut);
    expect(a.header).toEqual(['t', 'P(s=1)', 'P(s=2)', 'x.mean', 'x.sd', 'ess']);
    expect(b.header).toEqual(['t', 'P(s=1)', 'P(s=2)', 'x.mean', 'x.sd', 'x.q5', 'x.q50', 'x.q95', 'ess']);
    for (let t = 0; t < y.length; t++) {
      const [ra, rbb] = [a.rows[t], b.rows[t]];
      const sdx = rbb[4];
      // SE of each run's weighted mean from its ESS (the RB run's spread is below its particles'), 5 SE together
      const se = sdx * Math.sqrt(1 / ra[5] + 1 / rbb[8]);
      expect(Math.abs(ra[3] - rbb[3]), `mean, step ${t + 1}`).toBeLessThan(5 * se);
      // sd: SE ≈ sd / √(2 ESS) for near-Gaussian filtering distributions
      expect(Math.abs(ra[4] - sdx), `sd, step ${t + 1}`).toBeLessThan(5 * sdx * Math.sqrt(1 / (2 * ra[5]) + 1 / (2 * rbb[8])));
      const p = rbb[1];
      expect(Math.abs(ra[1] - p), `P(s=1), step ${t + 1}`).toBeLessThan(5 * Math.sqrt(p * (1 - p) * (1 / ra[5] + 1 / rbb[8])) + 1e-3);
    }
  }, 120_000);

  it('errors: a model without a chain, missing or unknown parameters, bad options', () => {
    const faithful = mixppl('filter', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv');
    expect(faithful.code).toBe(1);
    expect(faithful.stderr).toMatch(/model faithful needs exactly one discrete latent, a chain/);
    const sw = mixppl('filter', 'stdlib/switching_lgssm.mix', '--set', 'K=2', '--set', 'y=[1,2,3]', '--param', 'r=1');
    expect(sw.code).toBe(1);
    expect(sw.stderr).toMatch(/no values for pi, A, a, q; give them with --params/);
    const unknown = mixppl('filter', ...GEYSER, '--param', 'nope=1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/--param nope: 'nope' is not a parameter of model geyser/);
    const nan = mixppl('filter', ...GEYSER, '--param', 'mu=[55,"x"]');
    expect(nan.code).toBe(1);
    expect(nan.stderr).toMatch(/--param mu: 'mu' must be a finite number/);
    const badJson = join(dir, 'bad.json');
    writeFileSync(badJson, '{ "params": ');
    const bj = mixppl('filter', ...GEYSER, '--params', badJson);
    expect(bj.code).toBe(1);
    expect(bj.stderr).toMatch(/--params .*bad\.json/);
    const wrongShape = mixppl('filter', ...GEYSER, '--param', 'pi=[0.5,0.5]', '--param', 'A=[[0.1,0.9],[0.6,0.4]]', '--param', 'mu=[55,80,90]', '--param', 'sigma=[6,6]');
    expect(wrongShape.code).toBe(1);
    expect(wrongShape.stderr).toMatch(/mu/);
    expect(mixppl('filter', ...GEYSER, '--proposal', 'guided').code).toBe(2);
    const smooth = mixppl('filter', ...GEYSER, '--smooth', '10');
    expect(smooth.code).toBe(2);
    expect(smooth.stderr).toMatch(/--smooth needs --proposal bootstrap/);
    expect(mixppl('filter', ...GEYSER, '--particles', '1').code).toBe(2);
    expect(mixppl('filter', ...GEYSER, '--threshold', '2').code).toBe(2);
  }, 120_000);
});
