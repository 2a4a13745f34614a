// `mixppl sample`: option parsing, the exit rule, the progress display, and the real binary
// run as a child process (galaxies, K = 3) with its CSV, JSON and summary outputs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCmdStanCsv, SAMPLER_COLUMNS } from '../../src/output/cmdstan-csv';
import { fromJsonDrawValue, type DrawsJson } from '../../src/output/draws-json';
import {
  parseSampleSettings, readInits, sampleVerdict, OptionError, RHAT_LIMIT,
} from '../../src/cli/sample';
import { ChainProgress, chainProgressFor } from '../../src/cli/progress';
import { DataFileError } from '../../src/cli/data-io';
import { mixppl, ROOT } from './run';


/** Runs `node bin/mixppl.js ...args` from the repository root; stderr is a pipe, not a TTY. */

const GALAXIES = ['examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3'];
const SHORT = ['--warmup', '150', '--draws', '100', '--chains', '2'];

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'mixppl-sample-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

const opts = (o: Record<string, string>) => new Map(Object.entries(o));

describe('parseSampleSettings', () => {
  it('has Stan-like defaults', () => {
    expect(parseSampleSettings(new Map(), new Set())).toEqual({
      chains: 4, warmup: 1000, draws: 1000, thin: 1, seed: 1, algorithm: 'nuts', latents: 'marginalize', parallelChains: 1, deviceGradients: false, metric: 'auto',
      delta: 0.8, maxDepth: 10, init: undefined, outputDir: undefined, quiet: false,
    });
  });

  it('reads every option', () => {
    const s = parseSampleSettings(opts({
      '--chains': '2', '--warmup': '0', '--draws': '5', '--thin': '3', '--seed': '-7', '--algorithm': 'hmc',
      '--metric': 'dense', '--delta': '0.95', '--max-depth': '6', '--init': 'i.json', '--output-dir': 'out', '--latents': 'gibbs',
      '--chain-update': 'csmc', '--csmc-particles': '12', '--parallel-chains': '2',
    }), new Set(['--quiet']));
    expect(s).toEqual({
      chains: 2, warmup: 0, draws: 5, thin: 3, seed: -7, algorithm: 'hmc', latents: 'gibbs', parallelChains: 2, deviceGradients: false, chainUpdate: 'csmc', csmcParticles: 12, metric: 'dense',
      delta: 0.95, maxDepth: 6, init: 'i.json', outputDir: 'out', quiet: true,
    });
  });

  it.each([
    ['--chains', 'two', /--chains: 'two' is not an integer/],
    ['--chains', '0', /--chains must be at least 1/],
    ['--chains', '2.5', /not an integer/],
    ['--warmup', '-1', /--warmup must be at least 0/],
    ['--draws', '', /not an integer/],
    ['--thin', '1e3', /not an integer/],
    ['--max-depth', '0', /--max-depth must be at least 1/],
    ['--delta', '1', /strictly between 0 and 1/],
    ['--delta', 'high', /--delta: 'high' is not a number/],
    ['--algorithm', 'gibbs', /--algorithm: 'gibbs' is not one of nuts, hmc, mh, slice/],
    ['--latents', 'sum', /--latents: 'sum' is not one of marginalize, gibbs/],
    ['--metric', 'unit', /--metric: 'unit' is not one of auto, diag, dense/],
    ['--chain-update', 'csmc', /--chain-update and --csmc-particles go with --latents gibbs/],
    ['--csmc-particles', '10', /go with --latents gibbs/],
    ['--parallel-chains', '0', /--parallel-chains must be at least 1/],
  ])('%s %j is a usage error', (name, value, message) => {
    expect(() => parseSampleSettings(opts({ [name]: value }), new Set())).toThrow(OptionError);
    expect(() => parseSampleSettings(opts({ [name]: value }), new Set())).toThrow(message);
  });

  it('--device-gradients: one worker per chain unless --parallel-chains says; only with gradient samplers on the marginal potential', () => {
    const dg = new Set(['--device-gradients']);
    expect(parseSampleSettings(opts({ '--chains': '3' }), dg)).toMatchObject({ deviceGradients: true, parallelChains: 3 });
    expect(parseSampleSettings(opts({ '--chains': '3', '--parallel-chains': '1' }), dg)).toMatchObject({ deviceGradients: true, parallelChains: 1 });
    expect(parseSampleSettings(opts({ '--algorithm': 'mh' }), dg).deviceGradients).toBe(true);
    for (const [o, msg] of [
      [{ '--algorithm': 'slice' }, /--device-gradients goes with --algorithm nuts, hmc or mh and the latents summed out, not --algorithm slice/],
      [{ '--algorithm': 'auto' }, /not --algorithm auto/],
      [{ '--latents': 'gibbs' }, /not --latents gibbs/],
    ] as const) expect(() => parseSampleSettings(opts(o), dg)).toThrow(msg);
  });

  it('leaves the latents to --algorithm auto unless --latents is given', () => {
    expect(parseSampleSettings(opts({ '--algorithm': 'auto' }), new Set()).latents).toBeUndefined();
    expect(parseSampleSettings(opts({ '--algorithm': 'auto', '--latents': 'marginalize' }), new Set()).latents).toBe('marginalize');
    const out = join(tmp, 'auto');
    const r = mixppl('sample', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3', '--algorithm', 'auto',
      '--chains', '1', '--warmup', '20', '--draws', '20', '--quiet', '--output-dir', out);
    expect(r.code, r.stderr).toBe(0);
    // Every coordinate is drawn exactly there: the header names the blocks, not slice sampling.
    expect(r.stdout).toMatch(/^model galaxies: Gibbs sampling \(exact conjugate draws: mu, sigma normal mixture \[sort, collapsed latents, 2 sweeps\]; w Dirichlet–categorical\), 1 chain x .*\n.*latents drawn by Gibbs/);
    // No slice width there: the CmdStan CSV still has a positive stepsize__.
    const csv = readCmdStanCsv(readFileSync(join(out, 'galaxies-1.csv'), 'utf8'));
    expect(csv.draws.length).toBe(20);
  });

  it('takes the algorithm from fit --method and rejects a contradicting --algorithm', () => {
    expect(parseSampleSettings(new Map(), new Set(), 'hmc').algorithm).toBe('hmc');
    expect(parseSampleSettings(opts({ '--algorithm': 'hmc' }), new Set(), 'hmc').algorithm).toBe('hmc');
    expect(() => parseSampleSettings(opts({ '--algorithm': 'nuts' }), new Set(), 'hmc')).toThrow(/disagree/);
  });
});

describe('readInits', () => {
  const file = (name: string, text: string) => {
    const p = join(tmp, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads one object for all chains, or one per chain', () => {
    expect(readInits(file('one.json', '{"mu": [1, 2]}'), 4)).toEqual({ mu: [1, 2] });
    expect(readInits(file('two.json', '[{"mu": [1, 2]}, {"mu": [3, 4]}]'), 2)).toEqual([{ mu: [1, 2] }, { mu: [3, 4] }]);
    expect(readInits(file('single.json', '[{"mu": [1, 2]}]'), 3)).toEqual([{ mu: [1, 2] }]);
  });

  it('names the file for a bad one', () => {
    expect(() => readInits(join(tmp, 'absent.json'), 1)).toThrow(DataFileError);
    expect(() => readInits(join(tmp, 'absent.json'), 1)).toThrow(/cannot read init file .*absent\.json/);
    expect(() => readInits(file('bad.json', '{mu: 1'), 1)).toThrow(/bad\.json: not valid JSON/);
    expect(() => readInits(file('num.json', '3'), 1)).toThrow(/num\.json: expected a JSON object/);
    expect(() => readInits(file('arr.json', '[1]'), 1)).toThrow(/arr\.json: element 1 is not an object/);
    expect(() => readInits(file('three.json', '[{}, {}, {}]'), 2)).toThrow(OptionError);
    expect(() => readInits(file('three.json', '[{}, {}, {}]'), 2)).toThrow(/3 sets of initial values for 2 chains/);
  });
});

describe('sampleVerdict (the exit rule)', () => {
  it('is 0 without divergences and with R-hat at most the limit', () => {
    expect(sampleVerdict({ divergences: 0, maxRhat: RHAT_LIMIT }, 4)).toEqual({ code: 0, reasons: [] });
  });
  it('is 3 for a divergence or a large R-hat, and says which', () => {
    expect(sampleVerdict({ divergences: 2, maxRhat: 1.0 }, 4)).toEqual({ code: 3, reasons: ['2 divergent transitions'] });
    const v = sampleVerdict({ divergences: 1, maxRhat: 1.2 }, 4);
    expect(v.code).toBe(3);
    expect(v.reasons).toEqual(['1 divergent transition', 'max R-hat 1.200 > 1.01']);
  });
  it('ignores R-hat for a single chain (no between-chain check is possible)', () => {
    expect(sampleVerdict({ divergences: 0, maxRhat: 1.5 }, 1).code).toBe(0);
  });
  it('fails a varying quantity without a finite R-hat (stuck chains), not a constant one', () => {
    const rows = [{ name: 'mu.1', sd: 0.5, rhat: NaN }, { name: 'L.1.1', sd: 0, rhat: NaN }, { name: 'mu.2', sd: 1, rhat: 1.001 }];
    expect(sampleVerdict({ divergences: 0, maxRhat: 1.001 }, 2, rows)).toEqual({
      code: 3, reasons: ['R-hat is NA for mu.1, which vary (a chain may be stuck)'],
    });
    expect(sampleVerdict({ divergences: 0, maxRhat: 1.001 }, 2, rows.slice(1)).code).toBe(0);
    expect(sampleVerdict({ divergences: 0, maxRhat: 1.001 }, 1, rows).code).toBe(0);
  });
});

describe('ChainProgress', () => {
  const sink = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, isTTY, write: (s: string) => { out.push(s); return true; } };
  };

  it('draws one line per chain and redraws in place, at most once per interval', () => {
    const s = sink(true);
    let t = 0;
    const p = new ChainProgress(s, 2, 2000, { intervalMs: 100, now: () => t });
    p.update(0, 1, 'warmup', 0);
    expect(s.out).toHaveLength(1);
    expect(s.out[0]).toContain('chain 1/2  warmup      1/2000  divergences 0');
    expect(s.out[0]).toContain('chain 2/2  waiting     0/2000');
    expect(s.out[0]).not.toMatch(/\x1b\[\d+A/); // nothing to move over yet
    for (let i = 2; i <= 50; i++) { t += 1; p.update(0, i, 'warmup', 0); }
    expect(s.out).toHaveLength(1); // 49 ms later: throttled
    t += 60;
    p.update(0, 640, 'warmup', 3);
    expect(s.out).toHaveLength(2);
    expect(s.out[1].startsWith('\x1b[2A')).toBe(true); // back up over the two lines
    expect(s.out[1]).toContain('chain 1/2  warmup    640/2000  divergences 3');
    p.update(0, 2000, 'sampling', 1); // a chain's last iteration always draws
    expect(s.out.at(-1)).toContain('chain 1/2  sampling 2000/2000  divergences 1');
    t += 100;
    p.update(1, 1, 'warmup', 0);
    expect(p.line(1)).toBe('chain 2/2  warmup      1/2000  divergences 0');
    p.finish();
    expect(s.out.at(-1)).toBe('\x1b[2A\r\x1b[J');
    const drawn = s.out.length;
    p.finish(); // nothing left to erase
    expect(s.out).toHaveLength(drawn);
  });

  it('is off when stderr is not a terminal or with --quiet', () => {
    expect(chainProgressFor(sink(false), 2, 10, false)).toBeUndefined();
    expect(chainProgressFor(sink(true), 2, 10, true)).toBeUndefined();
    expect(chainProgressFor(sink(true), 2, 10, false)).toBeInstanceOf(ChainProgress);
  });

  it('rejects a chain outside the run', () => {
    const p = new ChainProgress(sink(true), 2, 10);
    expect(() => p.update(2, 1, 'warmup', 0)).toThrow(/chain 2 is outside 0\.\.1/);
  });
});

/** A minimal Stan CSV reader, independent of src/output: comments skipped, header, numeric rows. */
function minimalCsv(text: string): { header: string[]; rows: number[][] } {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = lines[0].split(',');
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  return { header, rows };
}

describe('mixppl sample (the binary)', () => {
  it('--parallel-chains 2 prints the same table as one thread (the same draws)', () => {
    const strip = (out: string) => out.replace(/; [\d.]+ s$/m, '');
    const one = mixppl('sample', ...GALAXIES, ...SHORT, '--seed', '5');
    const two = mixppl('sample', ...GALAXIES, ...SHORT, '--seed', '5', '--parallel-chains', '2');
    expect([0, 3], two.stderr).toContain(two.code);
    expect(two.code).toBe(one.code);
    expect(strip(two.stdout)).toBe(strip(one.stdout));
  }, 120_000);

  it('--device-gradients (the gradients in the main thread, on wasm here): the table of the tensor evaluator', () => {
    const r = mixppl('sample', ...GALAXIES, '--warmup', '30', '--draws', '20', '--chains', '2', '--max-depth', '4', '--device-gradients');
    expect([0, 3], r.stderr).toContain(r.code);
    expect(r.stdout).toMatch(/^model galaxies: NUTS \(dense metric, delta 0\.8, max tree depth 4\), 2 chains x \(30 warmup \+ 20 draws\)/m);
    const line = /^potential: tensor evaluator \(tfjs, float32\) on wasm in the main thread, the chains in worker threads \((\d+) gradients in (\d+) batches of up to 2 points\); latents summed out$/m.exec(r.stdout);
    expect(line, r.stdout).not.toBeNull();
    // Both chains' requests go together except where one chain waits at a window end or has finished.
    const [requests, batches] = [Number(line![1]), Number(line![2])];
    expect(requests).toBeGreaterThan(batches);
    expect(requests).toBeLessThanOrEqual(2 * batches);
    expect(r.stdout).toMatch(/^mu\.3 /m);
  }, 120_000);

  it('samples galaxies with K = 3 from an init file and writes CSV, JSON and summary files', () => {
    const init = join(tmp, 'galaxies-init.json');
    writeFileSync(init, JSON.stringify({ mu: [9.7, 21, 23], sigma: [1, 1, 1], w: [0.1, 0.8, 0.1] }));
    const out = join(tmp, 'out');
    const r = mixppl('sample', ...GALAXIES, ...SHORT, '--init', init, '--output-dir', out);
    expect([0, 3], r.stderr).toContain(r.code);

    // The report: header, the table, the diagnostics; no progress on a pipe.
    expect(r.stdout).toMatch(/^model galaxies: NUTS \(dense metric, delta 0\.8, max tree depth 10\), 2 chains x \(150 warmup \+ 100 draws\), seed 1; [\d.]+ s$/m);
    expect(r.stdout).toMatch(/^potential: traced \(float64 replay\)/m);
    expect(r.stdout).toMatch(/^variable +mean +median +sd +mad +q5 +q95 +rhat +ess_bulk +ess_tail$/m);
    for (const name of ['lp__', 'w.1', 'w.3', 'mu.1', 'mu.2', 'mu.3', 'sigma.3']) expect(r.stdout).toMatch(new RegExp(`^${name.replace('.', '\\.')} `, 'm'));
    expect(r.stderr).not.toMatch(/chain \d\/2/);

    // The exit status follows the printed diagnostics.
    const m = /^divergences (\d+); tree-depth hits \d+; mean accept_stat [\d.]+; max R-hat ([\d.]+);/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const fails = Number(m![1]) > 0 || Number(m![2]) > RHAT_LIMIT;
    expect(r.code).toBe(fails ? 3 : 0);
    if (fails) {
      expect(r.stderr).toMatch(/mixppl sample: exit status 3: .*(divergent|R-hat)/);
      expect(r.stdout).toMatch(/^warning: .*(divergent|R-hat)/m);
    } else {
      expect(r.stderr).not.toContain('exit status 3');
    }

    // CmdStan CSV, one per chain: the project's reader and an independent one agree.
    for (const chain of [1, 2]) {
      const path = join(out, `galaxies-${chain}.csv`);
      expect(r.stdout).toContain(`wrote ${path}`);
      const text = readFileSync(path, 'utf8');
      const parsed = readCmdStanCsv(text);
      expect(parsed.columns).toEqual([...SAMPLER_COLUMNS, 'w.1', 'w.2', 'w.3', 'mu.1', 'mu.2', 'mu.3', 'sigma.1', 'sigma.2', 'sigma.3']);
      expect(parsed.draws).toHaveLength(100);
      expect(parsed.config['method.sample.num_warmup']).toBe('150');
      expect(parsed.adaptation?.metric).toBe('dense_e');
      const mini = minimalCsv(text);
      expect(mini.header).toEqual(parsed.columns);
      expect(mini.rows).toHaveLength(100);
      for (const row of mini.rows) {
        expect(row).toHaveLength(mini.header.length);
        expect(row.every(Number.isFinite)).toBe(true);
      }
      const col = (name: string) => mini.rows.map((row) => row[mini.header.indexOf(name)]);
      expect(col('mu.1')).toEqual(parsed.draws.map((row) => row[parsed.columns.indexOf('mu.1')]));
      // Constraints hold in the written draws: ordered mu, positive sigma, simplex w.
      mini.rows.forEach((_, i) => {
        expect(col('mu.1')[i]).toBeLessThan(col('mu.2')[i]);
        expect(col('mu.2')[i]).toBeLessThan(col('mu.3')[i]);
        expect(col('sigma.1')[i]).toBeGreaterThan(0);
        expect(col('w.1')[i] + col('w.2')[i] + col('w.3')[i]).toBeCloseTo(1, 4);
      });
    }

    // The draws as JSON.
    const json = JSON.parse(readFileSync(join(out, 'galaxies-draws.json'), 'utf8')) as DrawsJson;
    expect(json.model).toBe('galaxies');
    expect(json.chains.map((c) => c.chain)).toEqual([1, 2]);
    for (const c of json.chains) {
      expect(c.names).toContain('mu.1');
      expect(c.draws['mu.1']).toHaveLength(100);
      expect(c.stats.lp__).toHaveLength(100);
      expect(c.draws['sigma.2'].map((v) => fromJsonDrawValue(v)).every((x) => x > 0)).toBe(true);
    }

    // The summary file holds the printed report.
    const summary = readFileSync(join(out, 'galaxies-summary.txt'), 'utf8');
    expect(summary).toContain('mu.1');
    expect(r.stdout.startsWith(summary)).toBe(true);
  });

  it('slice sampling with Gibbs latents (JAGS-style): header, no divergences, a summary', () => {
    const init = join(tmp, 'slice-init.json');
    writeFileSync(init, JSON.stringify({ mu: [9.7, 21, 23], sigma: [1, 1, 1], w: [0.1, 0.8, 0.1] }));
    const r = mixppl('sample', ...GALAXIES, '--algorithm', 'slice', '--latents', 'gibbs', '--chains', '1', '--warmup', '100', '--draws', '50', '--init', init);
    // Every coordinate is drawn by a conjugate block (one sweep: conjugateSweeps defaults to 1 outside 'auto').
    expect(r.stdout, r.stderr).toMatch(/^model galaxies: Gibbs sampling \(exact conjugate draws: mu, sigma normal mixture \[sort, collapsed latents\]; w Dirichlet–categorical\), 1 chain x \(100 warmup \+ 50 draws\)/m);
    expect(r.stdout).toMatch(/latents drawn by Gibbs/);
    expect(r.stdout).toMatch(/divergences 0;/);
    expect(r.stdout).toMatch(/^mu\.1 /m);
  }, 120_000);

  it('slice + Gibbs header: slice sampling alone without conjugate blocks, both when only some coordinates are exact', () => {
    // A Poisson mixture: no conjugate block while w has no Dirichlet prior; with one, w (1
    // coordinate) is drawn exactly and lambda (2 coordinates) is sliced.
    const body = (prior: string) => `model pm { data K: int  data y: int[N]  param w: simplex[K]  param lambda: positive_ordered[K]
  ${prior} lambda ~ gamma(2, 0.5)
  for n in 1..N { y[n] ~ mixture(w, k -> poisson(lambda[k])) } }`;
    const data = join(tmp, 'pm.json');
    writeFileSync(data, JSON.stringify({ K: 2, y: [0, 1, 1, 2, 3, 8, 9, 11, 12, 10] }));
    const run = (name: string, prior: string) => {
      const model = join(tmp, name);
      writeFileSync(model, body(prior));
      return mixppl('sample', model, '--data', data, '--algorithm', 'slice', '--latents', 'gibbs', '--chains', '1', '--warmup', '20', '--draws', '20', '--quiet');
    };
    let r = run('pm-none.mix', '');
    expect(r.stdout, r.stderr).toMatch(/^model pm: slice sampling \(directions from the warm-up covariance\), 1 chain x/m);
    r = run('pm-dir.mix', 'w ~ dirichlet(rep(1.0, K))');
    expect(r.stdout, r.stderr).toMatch(/^model pm: slice sampling \(directions from the warm-up covariance\) of 2 coordinates, with exact conjugate draws \(w Dirichlet–categorical\), 1 chain x/m);
  }, 120_000);

  it('fit --method hmc runs the same code (static HMC, one chain)', () => {
    // No warm-up keeps this short: static HMC's step count is 2*pi / stepsize, and adaptation
    // on galaxies can shrink the step size a lot.
    const r = mixppl('fit', ...GALAXIES, '--method', 'hmc', '--warmup', '0', '--draws', '20', '--chains', '1', '--quiet');
    expect([0, 3], r.stderr).toContain(r.code);
    expect(r.stdout).toMatch(/^model galaxies: static HMC \(dense metric, delta 0\.8\), 1 chain x \(0 warmup \+ 20 draws\)/m);
    expect(r.stdout).toMatch(/^mu\.1 /m);
  });

  it('reports bad options as usage errors (exit 2)', () => {
    let r = mixppl('sample', ...GALAXIES, '--chains', 'two');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mixppl: --chains: 'two' is not an integer");
    expect(r.stderr).toContain("run 'mixppl sample --help'");
    r = mixppl('sample', ...GALAXIES, '--chain', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--chain' for 'sample'");
    r = mixppl('fit', ...GALAXIES, '--method', 'nuts', '--n-init', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--n-init' for 'fit --method nuts'");
    r = mixppl('fit', ...GALAXIES, '--method', 'gibbs');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown method 'gibbs'; available: em, map, mle, nuts, hmc");
    expect(r.stdout).toBe('');
  });

  it('reports a missing data file, a missing data column and a bad init as data errors (exit 1)', () => {
    let r = mixppl('sample', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/nope.csv', '--set', 'K=3', ...SHORT);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot read data file examples/galaxies/nope.csv');
    // faithful.csv has columns x.1, x.2 but no y.
    r = mixppl('sample', 'examples/galaxies/galaxies.mix', '--data', 'examples/old-faithful/faithful.csv', '--set', 'K=3', ...SHORT);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data 'y'/);
    expect(r.stderr).toContain('galaxies.mix:6:3');
    const init = join(tmp, 'negative-sigma.json');
    writeFileSync(init, JSON.stringify({ mu: [9.7, 21, 23], sigma: [1, -1, 1], w: [0.1, 0.8, 0.1] }));
    r = mixppl('sample', ...GALAXIES, ...SHORT, '--init', init);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`init file ${init}: bad initial values`);
    expect(r.stderr).toContain("parameter 'sigma'");
    expect(existsSync(join(ROOT, 'galaxies-1.csv'))).toBe(false);
  });
});
