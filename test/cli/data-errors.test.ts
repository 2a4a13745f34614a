// Data files given as `--data FILE.csv` (a header row; `y` -> y[N], `x.1, x.2` -> x[N, 2]):
// a ragged row, a cell that is not a number, a bad header and a missing column each give a
// clear error naming the file and line (or the model's declaration), exit status 1, no trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsvData, DataFileError } from '../../src/cli/data-io';
import { mixppl } from './run';

describe('parseCsvData', () => {
  it('reads vectors and dotted matrix columns, skipping blank and # lines; empty and NA cells are NaN', () => {
    const d = parseCsvData('# comment\ny,x.2,x.1\n\n1,2,3\n-4.5e1,+5,.5\nNA,,Inf\n', 'ok.csv');
    expect(d.y).toEqual([1, -45, NaN]);
    expect(d.x).toEqual([[3, 2], [0.5, 5], [Infinity, NaN]]);
  });

  it('names the file line of a ragged row, counting the skipped lines', () => {
    expect(() => parseCsvData('# c\ny,z\n1,2\n\n3\n', 'r.csv')).toThrow(new DataFileError('r.csv:5: row has 1 field but the header has 2 (ragged row)'));
    expect(() => parseCsvData('y\n1\n2,3\n', 'r.csv')).toThrow(new DataFileError('r.csv:3: row has 2 fields but the header has 1 (ragged row)'));
  });

  it('names the line and column of a cell that is not a number', () => {
    expect(() => parseCsvData('# c\ny,x\n1,2\n3,four\n', 'n.csv')).toThrow(new DataFileError("n.csv:4: column 'x' is 'four', not a number"));
    // Number() would read these; a data file should not.
    expect(() => parseCsvData('y\n0x10\n', 'h.csv')).toThrow(/h\.csv:2: column 'y' is '0x10', not a number/);
  });

  it('rejects a header with a gap in a matrix, a repeated or empty name, or x beside x.1', () => {
    expect(() => parseCsvData('x.1,x.3\n1,2\n', 'g.csv')).toThrow(new DataFileError("g.csv: columns of 'x' must be x.1, x.2, ... without gaps; found x.3"));
    expect(() => parseCsvData('y,y\n1,2\n', 'd.csv')).toThrow(new DataFileError("d.csv:1: column 'y' appears twice in the header"));
    expect(() => parseCsvData('y,,z\n1,2,3\n', 'e.csv')).toThrow(new DataFileError('e.csv:1: column 2 of the header has no name'));
    expect(() => parseCsvData('x,x.1\n1,2\n', 'm.csv')).toThrow(new DataFileError("m.csv: column 'x' and columns x.1, x.2, ... cannot both be given"));
    expect(() => parseCsvData('\n# only a comment\n', 'empty.csv')).toThrow(new DataFileError('empty.csv: empty CSV'));
  });
});

describe('mixppl fit with bad data files (exit 1, a message, no stack trace)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mixppl-data-errors-'));
    writeFileSync(join(tmp, 'ragged.csv'), 'y\n9.172\n9.35,1\n');
    writeFileSync(join(tmp, 'word.csv'), 'y\n9.172\nten\n');
    writeFileSync(join(tmp, 'other.csv'), 'v\n9.172\n9.35\n');
  });
  afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

  const fit = (file: string) => mixppl('fit', 'examples/galaxies/galaxies.mix', '--set', 'K=2', '--data', join(tmp, file), '--quiet');

  it.each([
    ['ragged.csv', ':3: row has 2 fields but the header has 1 (ragged row)'],
    ['word.csv', ":3: column 'y' is 'ten', not a number"],
  ])('%s', (file, message) => {
    const r = fit(file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`mixppl: ${join(tmp, file)}${message}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });

  it('a missing column names the data variable and its declaration in the model', () => {
    const r = fit('other.csv');
    expect(r.code).toBe(1);
    // N is read off y, so the missing y is first a size that cannot be determined.
    expect(r.stderr).toContain("size 'N' cannot be determined");
    expect(r.stderr).toContain("data 'y'");
    expect(r.stderr).toContain('--> galaxies.mix:6:3');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
