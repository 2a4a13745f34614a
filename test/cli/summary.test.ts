// `mixppl summary` of CmdStan CSV files, `--data NAME=FILE`, `fit --assignments FILE` and
// `--threads`, run through the binary as a user does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsvData, parseNamedCsv, DataFileError } from '../../src/cli/data-io';
import { mixppl } from './run';

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'mixppl-summary-')); });
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

/** The table rows (name -> cells) of a printed stansummary-like table. */
function tableRows(text: string): Map<string, string[]> {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^variable\s+mean\s+median/.test(l));
  expect(start, text).toBeGreaterThanOrEqual(0);
  const rows = new Map<string, string[]>();
  for (const l of lines.slice(start + 1)) {
    if (l.trim() === '') break;
    const cells = l.trim().split(/\s+/);
    rows.set(cells[0], cells.slice(1));
  }
  return rows;
}

describe('mixppl summary', () => {
  let dir: string;
  let sampleOut: string;
  beforeAll(() => {
    dir = join(tmp, 'out');
    const r = mixppl('sample', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=2',
      '--chains', '2', '--warmup', '100', '--draws', '60', '--seed', '5', '--output-dir', dir, '--quiet');
    expect([0, 3], r.stderr).toContain(r.code);
    sampleOut = r.stdout;
  }, 120_000);

  it('prints the same table as the sample command for the same run', () => {
    const r = mixppl('summary', join(dir, 'galaxies-1.csv'), join(dir, 'galaxies-2.csv'));
    expect(r.code, r.stderr).toBe(0);
    const fromSample = tableRows(sampleOut);
    const fromCsv = tableRows(r.stdout);
    expect([...fromCsv.keys()]).toEqual(['lp__', 'w.1', 'w.2', 'mu.1', 'mu.2', 'sigma.1', 'sigma.2']);
    expect([...fromCsv.keys()].sort()).toEqual([...fromSample.keys()].sort());
    // mean, median, sd, mad, q5, q95 to the printed precision. The CSV keeps 6 significant
    // digits (ties in lp__ can move the rank-normalised R-hat / ESS a little), so those are close.
    for (const [name, cells] of fromCsv) {
      const ref = fromSample.get(name)!;
      expect(cells.slice(0, 6), name).toEqual(ref.slice(0, 6));
      expect(Math.abs(Number(cells[6]) - Number(ref[6])), `${name} rhat`).toBeLessThanOrEqual(0.02);
      for (const j of [7, 8]) expect(Math.abs(Number(cells[j]) / Number(ref[j]) - 1), `${name} ess`).toBeLessThan(0.1);
    }
    expect(r.stdout).toMatch(/^2 chains x 60 draws/m);
    // Counts from the sampler columns agree with the sample command's header line.
    const div = /divergences (\d+);/.exec(sampleOut)![1];
    const hits = /tree-depth hits (\d+);/.exec(sampleOut)![1];
    expect(r.stdout).toContain(`divergences ${div} of 120; tree-depth hits ${hits} of 120 (max depth 10)`);
    expect(r.stdout).not.toMatch(/accept_stat__|stepsize__|energy__/);
  });

  it('refuses files whose columns differ, naming the file (exit 1)', () => {
    const text = readFileSync(join(dir, 'galaxies-2.csv'), 'utf8').replace(/,mu\.1,/, ',nu.1,');
    const bad = join(tmp, 'renamed.csv');
    writeFileSync(bad, text);
    const r = mixppl('summary', join(dir, 'galaxies-1.csv'), bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}: its columns do not match those of ${join(dir, 'galaxies-1.csv')} (missing mu.1; extra nu.1)`);
    expect(r.stdout).toBe('');
  });

  it('refuses chains of different lengths and unparsable files, naming the file (exit 1)', () => {
    const lines = readFileSync(join(dir, 'galaxies-2.csv'), 'utf8').split('\n');
    const lastRow = lines.map((l, i) => (/^-?\d/.test(l) ? i : -1)).filter((i) => i >= 0).at(-1)!;
    const short = join(tmp, 'short.csv');
    writeFileSync(short, lines.filter((_, i) => i !== lastRow).join('\n'));
    let r = mixppl('summary', join(dir, 'galaxies-1.csv'), short);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${short}: 59 draws, but ${join(dir, 'galaxies-1.csv')} has 60`);
    r = mixppl('summary', join(dir, 'galaxies-summary.txt'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'galaxies-summary.txt')}: line`);
  });

  it('needs at least one file (usage, exit 2) and takes no options', () => {
    let r = mixppl('summary');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give one or more CmdStan CSV files');
    r = mixppl('summary', join(dir, 'galaxies-1.csv'), '--seed', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--seed' for 'summary'");
    r = mixppl('summary', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: mixppl summary FILE.csv [FILE.csv ...]');
  });
});

describe('--data NAME=FILE', () => {
  it('reads a vector from one column and a matrix from several, header optional, # lines skipped', () => {
    expect(parseNamedCsv('# velocities\ny\n1.5\n\n-2\nNA\n', 'v.csv')).toEqual([1.5, -2, NaN]);
    expect(parseNamedCsv('1,2,3\n4,5e1,6\n', 'm.csv')).toEqual([[1, 2, 3], [4, 50, 6]]);
    expect(parseNamedCsv('a,b\n# c\n1,2\n', 'm.csv')).toEqual([[1, 2]]);
  });

  it('names file:line for a ragged row or a cell that is not a number', () => {
    expect(() => parseNamedCsv('# c\n1,2\n3,4\n5\n', 'r.csv')).toThrow(new DataFileError('r.csv:4: row has 1 field but line 2 has 2 (ragged row)'));
    expect(() => parseNamedCsv('x,y\n1,2\n3,four\n', 'n.csv')).toThrow(new DataFileError("n.csv:3: field 2 is 'four', not a number"));
    expect(() => parseNamedCsv('x,y\n1,2,3\n', 'h.csv')).toThrow(/h\.csv:2: row has 3 fields but the header \(line 1\) has 2/);
    expect(() => parseNamedCsv('# only\n\n', 'e.csv')).toThrow(/e\.csv: no rows/);
  });

  it('gives the same fit as the plain data file, alone or combined with --data FILE', () => {
    const faithful = parseCsvData(readFileSync('examples/old-faithful/faithful.csv', 'utf8'));
    const x = join(tmp, 'x.csv');
    writeFileSync(x, (faithful.x as number[][]).map((r) => r.join(',')).join('\n') + '\n'); // no header
    const plain = mixppl('fit', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv');
    const named = mixppl('fit', 'examples/old-faithful/faithful.mix', '--data', `x=${x}`);
    expect(named.code, named.stderr).toBe(0);
    const estimates = (s: string) => s.slice(s.indexOf('parameter'));
    expect(estimates(named.stdout)).toBe(estimates(plain.stdout));

    const y = join(tmp, 'y.csv');
    writeFileSync(y, '# galaxies\nvelocity\n' + readFileSync('examples/galaxies/galaxies.csv', 'utf8').split('\n').filter((l) => /^\d/.test(l)).join('\n'));
    const k = join(tmp, 'k.json');
    writeFileSync(k, '{"K": 2}');
    const both = mixppl('fit', 'examples/galaxies/galaxies.mix', '--data', k, '--data', `y=${y}`);
    const ref = mixppl('fit', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=2');
    expect(both.code, both.stderr).toBe(0);
    expect(estimates(both.stdout)).toBe(estimates(ref.stdout));
    expect(both.stdout).toContain('82 observations');
  });

  it('exits 1 naming file:line for a bad file, and names an unreadable one', () => {
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, '9.1\n9.3\nten\n');
    let r = mixppl('fit', 'examples/galaxies/galaxies.mix', '--set', 'K=2', '--data', `y=${bad}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:3: field 1 is 'ten', not a number`);
    r = mixppl('fit', 'examples/galaxies/galaxies.mix', '--set', 'K=2', '--data', `y=${join(tmp, 'missing.csv')}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot read data file ${join(tmp, 'missing.csv')}`);
  });
});

describe('fit --assignments', () => {
  it('writes one row of responsibilities and the most probable z per observation (old faithful)', () => {
    const out = join(tmp, 'assign.csv');
    const r = mixppl('fit', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv', '--assignments', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote 272 rows of responsibilities`);
    const text = readFileSync(out, 'utf8');
    expect(text.split('\n')[0]).toBe('p.1,p.2,z');
    const d = parseCsvData(text, out);
    const p = d.p as number[][];
    const z = d.z as number[];
    expect(p).toHaveLength(272);
    expect(z).toHaveLength(272);
    p.forEach((row, i) => {
      expect(row[0] + row[1]).toBeCloseTo(1, 5);
      expect(row.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(z[i]).toBe(row[0] >= row[1] ? 1 : 2);
    });
    // Old Faithful has two well-separated clusters: both are used, and most points are sure.
    const n1 = z.filter((v) => v === 1).length;
    expect(n1).toBeGreaterThan(50);
    expect(272 - n1).toBeGreaterThan(50);
    expect(p.filter((row) => Math.max(...row) > 0.9).length).toBeGreaterThan(250);
  });

  it('refuses a model without a discrete latent (exit 2)', () => {
    const m = join(tmp, 'normal.mix');
    writeFileSync(m, 'model normal {\n  data y: real[N]\n  param mu: real\n  y ~ normal(mu, 1)\n}\n');
    const r2 = mixppl('fit', m, '--data', 'examples/galaxies/galaxies.csv', '--assignments', join(tmp, 'b.csv'));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('--assignments needs a model with an enumerated discrete latent');
  });
});

describe('--threads', () => {
  it('says that the wasm backend is single-threaded under Node.js instead of ignoring the option', () => {
    const r = mixppl('fit', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=2', '--threads', '4');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--threads 4: the wasm backend runs single-threaded under Node.js');
    expect(r.stdout).toBe('');
  });

  it('accepts --threads 1, and refuses bad values and commands without a backend', () => {
    let r = mixppl('fit', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=2', '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    r = mixppl('fit', 'examples/galaxies/galaxies.mix', '--threads', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--threads: '0' is not a positive integer");
    r = mixppl('check', 'examples/galaxies/galaxies.mix', '--threads', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--threads' for 'check'");
  });
});
