// The `mixppl` binary as a user runs it (`node bin/mixppl.js ...` from the repository root):
// check, ir, simulate, fit, help texts and exit codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsvData } from '../../src/cli/data-io';
import { mixppl } from './run';



let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'mixppl-cli-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe('mixppl check', () => {
  it('accepts a good model (exit 0) with a one-line summary', () => {
    const r = mixppl('check', 'test/golden/good/galaxies.mix');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok: model galaxies: 2 data, 3 parameters, 1 discrete latents \(summed out\)$/m);
  });

  it('rejects a bad model (exit 1) naming file:line:col', () => {
    const r = mixppl('check', 'test/golden/bad/01-unknown-variable.mix');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[E0202]: unknown variable 'sigm'");
    expect(r.stderr).toContain('--> 01-unknown-variable.mix:5:17');
    expect(r.stdout).toBe('');
  });

  it('names a missing model file (usage, exit 2)', () => {
    const r = mixppl('check', 'stdlib/no-such-model.mix');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such model file: stdlib/no-such-model.mix');
  });
});

describe('mixppl ir', () => {
  it('prints the IR of a model', () => {
    const r = mixppl('ir', 'examples/galaxies/galaxies.mix');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ir galaxies$/m);
    expect(r.stdout).toContain('param mu: ordered[K]');
    expect(r.stdout).toMatch(/latent y\$k\[size\.N\]: enumerated by categorical/);
  });
});

describe('mixppl simulate', () => {
  it('writes a CSV of prior draws', () => {
    const out = join(tmp, 'sim.csv');
    const r = mixppl('simulate', 'examples/galaxies/galaxies.mix', '--set', 'K=3', '--set', 'N=7', '--draws', '4', '--seed', '3', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote 4 draws`);
    const text = readFileSync(out, 'utf8');
    expect(text.split('\n')[0]).toBe('draw,w.1,w.2,w.3,mu.1,mu.2,mu.3,sigma.1,sigma.2,sigma.3,K,y.1,y.2,y.3,y.4,y.5,y.6,y.7');
    const data = parseCsvData(text, out);
    expect(data.draw).toEqual([1, 2, 3, 4]);
    expect(data.K).toEqual([3, 3, 3, 3]);
    const w = data.w as number[][];
    const mu = data.mu as number[][];
    for (let i = 0; i < 4; i++) {
      expect(w[i][0] + w[i][1] + w[i][2]).toBeCloseTo(1, 5);
      expect(mu[i][0]).toBeLessThan(mu[i][1]);
      expect((data.y as number[][])[i].every(Number.isFinite)).toBe(true);
    }
  });
});

describe('mixppl fit', () => {
  it("runs the README's first command: EM on Old Faithful, exit 0, a table of estimates", () => {
    const r = mixppl('fit', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^model faithful: EM \(maximum likelihood\)/m);
    // Two features, full covariances through diag_pre_multiply, wasm: the compiled E-step.
    expect(r.stdout).toMatch(/; E-step: compiled \(float64\)$/m);
    expect(r.stdout).toMatch(/; converged; /);
    expect(r.stdout).toMatch(/^parameter +estimate$/m);
    const est = Object.fromEntries([...r.stdout.matchAll(/^(\S+\.\d[\d.]*) +(-?[\d.e+-]+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(Object.keys(est)).toEqual(expect.arrayContaining(['w.1', 'w.2', 'mu.1.1', 'mu.2.2', 'tau.1.1', 'L.2.2.1']));
    expect(est['w.1'] + est['w.2']).toBeCloseTo(1, 3);
    // The two clusters: short eruptions (~2 min, ~54 min wait) and long ones (~4.3 min, ~80 min wait).
    const means = [[est['mu.1.1'], est['mu.1.2']], [est['mu.2.1'], est['mu.2.2']]].sort((a, b) => a[0] - b[0]);
    expect(means[0][0]).toBeGreaterThan(1.5);
    expect(means[0][0]).toBeLessThan(2.5);
    expect(means[1][0]).toBeGreaterThan(4);
    expect(means[1][1]).toBeGreaterThan(means[0][1] + 15);
  });
});

describe('help and usage errors', () => {
  it.each(['check', 'ir', 'simulate', 'fit', 'sample'])('mixppl %s --help exits 0 with its usage', (cmd) => {
    const r = mixppl(cmd, '--help');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^usage: mixppl ${cmd} MODEL\\.mix`));
    expect(r.stdout).toMatch(/^example:\n {2}mixppl /m);
    if (cmd === 'sample') {
      // The exit status 3 rule and the output files are documented.
      expect(r.stdout).toMatch(/^ {2}3 {2}divergent transitions, or .*R-hat > 1\.01/m);
      expect(r.stdout).toContain('<model>-<chain>.csv');
      expect(r.stdout).toContain('--init FILE.json');
    }
  });

  it('mixppl --help and mixppl help exit 0; a bare mixppl exits 2', () => {
    for (const args of [['--help'], ['help']]) {
      const r = mixppl(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('usage: mixppl <command> [options]');
      expect(r.stdout).toMatch(/^ {2}sample MODEL\.mix/m);
    }
    expect(mixppl('help', 'sample').stdout).toMatch(/^usage: mixppl sample/);
    const bare = mixppl();
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain('usage: mixppl <command> [options]');
  });

  it('an unknown command exits 2 and lists the commands', () => {
    const r = mixppl('smaple', 'examples/galaxies/galaxies.mix');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'smaple'; commands: check, ir, simulate, fit, sample");
    expect(mixppl('constructor').code).toBe(2);
  });

  it('an unknown option exits 2 instead of being ignored', () => {
    const r = mixppl('simulate', 'examples/galaxies/galaxies.mix', '--set', 'K=3', '--set', 'N=3', '--ot', 'x.csv');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--ot' for 'simulate'");
    expect(r.stderr).toContain("run 'mixppl simulate --help'");
  });
});
