// CmdStan CSV output: layout, column-major names, %g number formatting, round trip, errors; JSON draws.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  writeCmdStanCsv,
  readCmdStanCsv,
  configValue,
  formatG,
  parseStanNumber,
  flatNames,
  flattenValue,
  unflattenValue,
  chainDraws,
  SAMPLER_COLUMNS,
  CmdStanCsvError,
  DrawsError,
  type ChainDraws,
  type CmdStanMeta,
} from '../../src/output/cmdstan-csv';
import { writeDrawsJson, fromJsonDrawValue, type DrawsJson } from '../../src/output/draws-json';

/** A small deterministic generator (tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A chain with `n` draws of `names`, values spread over many magnitudes. */
function syntheticChain(names: string[], n: number, seed = 1): ChainDraws {
  const r = lcg(seed);
  const stats = Array.from({ length: n }, () => {
    const depth = 1 + Math.floor(r() * 5);
    return [-10 - 5 * r(), r(), 0.4123456789, depth, 2 ** depth - 1, r() < 0.1 ? 1 : 0, 12 + r()];
  });
  const draws = Array.from({ length: n }, () => names.map(() => (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6)));
  return { names, stats, draws };
}

function meta(over: Partial<CmdStanMeta> = {}): CmdStanMeta {
  return {
    model: 'gmm_model',
    numSamples: 20,
    numWarmup: 30,
    seed: 4242,
    chainId: 1,
    stepsize: 0.8136942,
    metric: 'diag_e',
    invMetric: [0.592879, 1.5, 2.25],
    elapsed: { warmup: 0.005, sampling: 0.002 },
    ...over,
  };
}

describe('flatNames / flattenValue (Stan column-major order)', () => {
  it('names a scalar by itself and a vector with 1-based indices', () => {
    expect(flatNames('tau', [])).toEqual(['tau']);
    expect(flatNames('mu', [3])).toEqual(['mu.1', 'mu.2', 'mu.3']);
  });

  it('orders a matrix column by column: the first index changes fastest', () => {
    expect(flatNames('Sigma', [2, 3])).toEqual(['Sigma.1.1', 'Sigma.2.1', 'Sigma.1.2', 'Sigma.2.2', 'Sigma.1.3', 'Sigma.2.3']);
    const Sigma = [[11, 12, 13], [21, 22, 23]];
    expect(flattenValue(Sigma, [2, 3])).toEqual([11, 21, 12, 22, 13, 23]);
  });

  it('orders a 3-d array with the first index fastest and the last slowest', () => {
    const names = flatNames('a', [2, 2, 2]);
    expect(names).toEqual(['a.1.1.1', 'a.2.1.1', 'a.1.2.1', 'a.2.2.1', 'a.1.1.2', 'a.2.1.2', 'a.1.2.2', 'a.2.2.2']);
    const a = [[[111, 112], [121, 122]], [[211, 212], [221, 222]]];
    const flat = flattenValue(a, [2, 2, 2]);
    // each value spells its own index, so the names and the values must agree position by position
    expect(flat.map(String)).toEqual(names.map((s) => s.slice(2).replace(/\./g, '')));
  });

  it('unflattenValue inverts flattenValue for random shapes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }), (shape) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const flat = Array.from({ length: size }, (_, i) => i + 0.5);
        const nested = unflattenValue(flat, shape);
        expect(flattenValue(nested, shape)).toEqual(flat);
        expect(flatNames('x', shape)).toHaveLength(size);
      }),
    );
  });

  it('rejects a value whose nesting does not match the shape, naming the place', () => {
    expect(() => flattenValue([[1, 2], [3]], [2, 2], 'Sigma')).toThrow(/Sigma\[2\]: expected 2 elements .* got 1/);
    expect(() => flattenValue([1, 2, 3], [2], 'mu')).toThrow(/mu: expected 2 elements/);
    expect(() => flattenValue(3, [2], 'mu')).toThrow(DrawsError);
    expect(() => flattenValue([1], [], 'tau')).toThrow(/tau: expected a scalar/);
  });

  it('chainDraws lays out shaped variables in declaration order', () => {
    const stat = { lp__: -1, accept_stat__: 0.9, stepsize__: 0.5, treedepth__: 2, n_leapfrog__: 3, divergent__: 0, energy__: 2 };
    const ch = chainDraws(
      [{ name: 'w', shape: [2] }, { name: 'Sigma', shape: [2, 2] }],
      [{ w: [0.3, 0.7], Sigma: [[1, 0.5], [0.25, 2]] }],
      [stat],
    );
    expect(ch.names).toEqual(['w.1', 'w.2', 'Sigma.1.1', 'Sigma.2.1', 'Sigma.1.2', 'Sigma.2.2']);
    expect(ch.draws[0]).toEqual([0.3, 0.7, 1, 0.25, 0.5, 2]);
    expect(ch.stats[0]).toEqual([-1, 0.9, 0.5, 2, 3, 0, 2]);
    expect(() => chainDraws([{ name: 'w', shape: [2] }], [{}], [stat])).toThrow(/draw 1: variable 'w' is missing/);
  });
});

describe('formatG (C++ ostream / printf %g)', () => {
  // Reference strings are glibc's printf("%.{p}g") output for these doubles.
  const cases: [number, number, string][] = [
    [0.125, 2, '0.12'], // exact tie: glibc rounds half to even, toPrecision would give 0.13
    [1234565, 6, '1.23456e+06'], // exact tie, even neighbour below
    [999999.5, 6, '1e+06'], // exact tie that carries into a new power of ten
    [2.5, 1, '2'],
    [1.5, 1, '2'],
    [9.5, 1, '1e+01'],
    [1e-5, 6, '1e-05'],
    [0.0001, 6, '0.0001'],
    [0.00012345, 2, '0.00012'],
    [123456789, 6, '1.23457e+08'],
    [100000, 6, '100000'],
    [1000000, 6, '1e+06'],
    [-3.14159265, 6, '-3.14159'],
    [99999.95, 6, '99999.9'],
    [0.05, 17, '0.050000000000000003'],
    [0.8, 17, '0.80000000000000004'],
    [5e-324, 6, '4.94066e-324'],
    [1.7976931348623157e308, 6, '1.79769e+308'],
    [1e21, 6, '1e+21'],
    [0, 6, '0'],
    [-0, 6, '-0'],
    [NaN, 6, 'nan'],
    [Infinity, 6, 'inf'],
    [-Infinity, 6, '-inf'],
  ];
  it.each(cases)('formatG(%s, %i) = %s', (x, p, s) => {
    expect(formatG(x, p)).toBe(s);
  });

  it('is within half a unit in the last printed place and round-trips at 17 digits', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 1, max: 17 }), (x, p) => {
        const s = formatG(x, p);
        expect(s).toMatch(/^-?(\d+(\.\d+)?|\d(\.\d+)?e[+-]\d\d+)$/);
        if (x !== 0) {
          const y = Number(s);
          const ulp = 10 ** (Math.floor(Math.log10(Math.abs(y))) - p + 1);
          // Number(s) rounds the printed decimal to a double: allow that half double-ulp too.
          expect(Math.abs(y - x)).toBeLessThanOrEqual(0.5 * ulp * (1 + 1e-12) + Math.abs(x) * 2 ** -52 + Number.MIN_VALUE);
        }
        expect(Number(formatG(x, 17))).toBe(x);
      }),
      { numRuns: 2000 },
    );
  });

  it('parses the non-finite spellings of Stan CSV', () => {
    expect(parseStanNumber('nan')).toBeNaN();
    expect(parseStanNumber('-nan')).toBeNaN();
    expect(parseStanNumber('NaN')).toBeNaN();
    expect(parseStanNumber('inf')).toBe(Infinity);
    expect(parseStanNumber('+inf')).toBe(Infinity);
    expect(parseStanNumber('-inf')).toBe(-Infinity);
    expect(parseStanNumber('1.5e-05')).toBe(1.5e-5);
  });
});

describe('writeCmdStanCsv', () => {
  const names = ['mu.1', 'mu.2', 'tau'];
  const chain = syntheticChain(names, 20);
  const text = writeCmdStanCsv(chain, meta());
  const lines = text.split('\n');

  it('writes the argument tree, header, adaptation block and footer in CmdStan order', () => {
    expect(lines[0]).toBe('# stan_version_major = 2');
    expect(lines).toContain('# model = gmm_model');
    const method = lines.indexOf('# method = sample (Default)');
    expect(method).toBeGreaterThan(0);
    expect(lines.slice(method + 1, method + 6)).toEqual([
      '#   sample',
      '#     num_samples = 20',
      '#     num_warmup = 30',
      '#     save_warmup = 0 (Default)',
      '#     thin = 1 (Default)',
    ]);
    for (const l of [
      '#       gamma = 0.050000000000000003 (Default)',
      '#       delta = 0.80000000000000004 (Default)',
      '#     algorithm = hmc (Default)',
      '#         engine = nuts (Default)',
      '#             max_depth = 10 (Default)',
      '#         metric = diag_e (Default)',
      '#         metric_file =  (Default)',
      '# id = 1 (Default)',
      '#   seed = 4242',
    ]) {
      expect(lines).toContain(l);
    }
    const header = lines.findIndex((l) => !l.startsWith('#'));
    expect(lines[header]).toBe(`${SAMPLER_COLUMNS.join(',')},mu.1,mu.2,tau`);
    expect(lines.slice(header + 1, header + 5)).toEqual([
      '# Adaptation terminated',
      '# Step size = 0.813694',
      '# Diagonal elements of inverse mass matrix:',
      '# 0.592879, 1.5, 2.25',
    ]);
    expect(lines.slice(-6)).toEqual([
      '# ',
      '#  Elapsed Time: 0.005 seconds (Warm-up)',
      '#                0.002 seconds (Sampling)',
      '#                0.007 seconds (Total)',
      '# ',
      '',
    ]);
  });

  it('writes 6 significant digits by default and integers for the count columns', () => {
    const header = lines.findIndex((l) => !l.startsWith('#'));
    const first = lines[header + 5].split(',');
    expect(first).toHaveLength(7 + names.length);
    expect(first[2]).toBe('0.412346');
    for (const j of [3, 4, 5]) expect(first[j]).toMatch(/^\d+$/);
    for (const cell of first) expect(cell.replace(/^-/, '').replace(/e[+-]\d+$/, '').replace('.', '').replace(/^0+/, '').length).toBeLessThanOrEqual(6);
  });

  it('round-trips: reading back gives the numbers to printed precision', () => {
    for (const sigFigs of [6, 9, 17]) {
      const t = writeCmdStanCsv(chain, meta({ sigFigs }));
      const back = readCmdStanCsv(t);
      expect(back.columns).toEqual([...SAMPLER_COLUMNS, ...names]);
      expect(back.names).toEqual(names);
      expect(back.draws).toHaveLength(chain.draws.length);
      back.draws.forEach((row, i) => {
        const expected = [...Array.from(chain.stats[i]), ...Array.from(chain.draws[i])];
        row.forEach((x, j) => {
          const want = expected[j];
          const tol = sigFigs === 17 ? 0 : 0.5 * 10 ** (Math.floor(Math.log10(Math.abs(want))) - sigFigs + 1);
          expect(Math.abs(x - want)).toBeLessThanOrEqual(tol * (1 + 1e-12));
          if (sigFigs === 17) expect(x).toBe(want);
        });
      });
      expect(back.adaptation).toEqual({ stepsize: 0.813694, metric: 'diag_e', invMetric: [0.592879, 1.5, 2.25] });
      expect(back.elapsed).toEqual({ warmup: 0.005, sampling: 0.002, total: 0.007 });
      expect(configValue(back, 'num_samples')).toBe('20');
      expect(configValue(back, 'sig_figs')).toBe(sigFigs === 6 ? '-1' : String(sigFigs));
      expect(back.config['output.file']).toBe('output.csv');
      expect(() => configValue(back, 'file')).toThrow(/ambiguous/);
    }
  });

  it('writes NaN and infinities as CmdStan (glibc) does and reads them back', () => {
    const ch = syntheticChain(['a', 'b', 'c'], 3);
    ch.draws[1] = [NaN, Infinity, -Infinity];
    const t = writeCmdStanCsv(ch, meta({ numSamples: 3 }));
    expect(t).toMatch(/,nan,inf,-inf\n/);
    const back = readCmdStanCsv(t);
    expect(back.draws[1][7]).toBeNaN();
    expect(back.draws[1].slice(8)).toEqual([Infinity, -Infinity]);
  });

  it('orders a matrix parameter column-major in the file', () => {
    const stat = { lp__: -1, accept_stat__: 0.9, stepsize__: 0.5, treedepth__: 2, n_leapfrog__: 3, divergent__: 0, energy__: 2 };
    const ch = chainDraws([{ name: 'Sigma', shape: [2, 2] }], [{ Sigma: [[11, 12], [21, 22]] }], [stat]);
    const t = writeCmdStanCsv(ch, meta({ numSamples: 1, invMetric: [1, 1, 1, 1] }));
    const back = readCmdStanCsv(t);
    expect(back.names).toEqual(['Sigma.1.1', 'Sigma.2.1', 'Sigma.1.2', 'Sigma.2.2']);
    expect(back.draws[0].slice(7)).toEqual([11, 21, 12, 22]);
  });

  it('writes saved warm-up rows before the adaptation block, thinned', () => {
    const ch = syntheticChain(['x'], 5, 7);
    const w = syntheticChain(['x'], 4, 8);
    ch.warmup = { stats: w.stats, draws: w.draws };
    const t = writeCmdStanCsv(ch, meta({ numSamples: 10, numWarmup: 7, thin: 2, invMetric: [0.5] }));
    expect(t).toContain('#     save_warmup = 1\n');
    expect(t).toContain('#     thin = 2\n');
    const back = readCmdStanCsv(t);
    expect(back.warmup).toHaveLength(4);
    expect(back.draws).toHaveLength(5);
    expect(back.warmup[3][7]).toBe(Number(formatG(w.draws[3][0], 6)));
  });

  it('writes a dense metric one row per line', () => {
    const ch = syntheticChain(['a', 'b'], 2);
    const t = writeCmdStanCsv(ch, meta({ numSamples: 2, metric: 'dense_e', invMetric: [[2, 0.5], [0.5, 3]] }));
    expect(t).toContain('# Elements of inverse mass matrix:\n# 2, 0.5\n# 0.5, 3\n');
    expect(readCmdStanCsv(t).adaptation?.invMetric).toEqual([[2, 0.5], [0.5, 3]]);
    const flat = writeCmdStanCsv(ch, meta({ numSamples: 2, metric: 'dense_e', invMetric: [2, 0.5, 0.5, 3] }));
    expect(flat).toBe(t);
  });

  it('rejects inconsistent input with errors naming the place', () => {
    const bad = syntheticChain(['a', 'b'], 2);
    bad.draws[1] = [1];
    expect(() => writeCmdStanCsv(bad, meta({ numSamples: 2, invMetric: [1, 1] }))).toThrow(/chain 1\) \(sampling\) draw 2: 1 values for 2 parameter names/);
    const badStats = syntheticChain(['a'], 2);
    badStats.stats[0] = [1, 2, 3];
    expect(() => writeCmdStanCsv(badStats, meta({ numSamples: 2, invMetric: [1] }))).toThrow(/draw 1: 3 sampler diagnostics, expected 7/);
    const fracDepth = syntheticChain(['a'], 2);
    (fracDepth.stats[1] as number[])[3] = 2.5;
    expect(() => writeCmdStanCsv(fracDepth, meta({ numSamples: 2, invMetric: [1] }))).toThrow(/draw 2: treedepth__ is 2.5/);
    const ok = syntheticChain(['a'], 2);
    expect(() => writeCmdStanCsv(ok, meta({ numSamples: 3, invMetric: [1] }))).toThrow(/2 sampling rows, but num_samples = 3/);
    expect(() => writeCmdStanCsv(ok, meta({ numSamples: 2, invMetric: [1, 2] }))).toThrow(/diag_e needs 1 inverse-metric/);
    expect(() => writeCmdStanCsv({ ...ok, names: ['lp__'] }, meta({ numSamples: 2, invMetric: [1] }))).toThrow(/clashes with a sampler column/);
    expect(() => writeCmdStanCsv({ ...ok, names: ['a,b'] }, meta({ numSamples: 2, invMetric: [1] }))).toThrow(/comma/);
    expect(() => writeCmdStanCsv(ok, meta({ numSamples: 2, invMetric: [1], stepsize: 0 }))).toThrow(/step size is 0/);
  });
});

describe('readCmdStanCsv', () => {
  const good = [
    '# model = m',
    '# method = sample (Default)',
    '#   sample',
    '#     num_samples = 2',
    'lp__,accept_stat__,theta',
    '# Adaptation terminated',
    '# Step size = 0.9',
    '# Diagonal elements of inverse mass matrix:',
    '# 0.5',
    '-7.1,0.9,0.25',
    '-7.3,1,0.3',
  ];

  it('reads the argument tree as dotted paths', () => {
    const p = readCmdStanCsv(good.join('\n'));
    expect(p.config).toEqual({ model: 'm', method: 'sample', 'method.sample.num_samples': '2' });
    expect(p.samplerColumns).toEqual(['lp__', 'accept_stat__']);
    expect(p.draws).toEqual([[-7.1, 0.9, 0.25], [-7.3, 1, 0.3]]);
    expect(p.elapsed).toBeNull();
  });

  it('rejects a ragged row naming its line', () => {
    const ragged = [...good.slice(0, 10), '-7.3,1'];
    expect(() => readCmdStanCsv(ragged.join('\n'))).toThrow(CmdStanCsvError);
    expect(() => readCmdStanCsv(ragged.join('\n'))).toThrow(/line 11: row has 2 fields but the header has 3 \(ragged row\)/);
  });

  it('rejects a cell that is not a number, and a file without a header', () => {
    const bad = [...good.slice(0, 10), '-7.3,1,abc'];
    expect(() => readCmdStanCsv(bad.join('\n'))).toThrow(/line 11: column 'theta' is 'abc', not a number/);
    expect(() => readCmdStanCsv('# only\n# comments\n')).toThrow(/no header line/);
  });
});

describe('writeDrawsJson', () => {
  it('writes columns by name, in order, with sampler stats and non-finite values as strings', () => {
    const ch = syntheticChain(['mu.1', 'mu.2'], 4, 3);
    ch.draws[2] = [NaN, -Infinity];
    const doc = JSON.parse(writeDrawsJson('gmm', [ch, syntheticChain(['mu.1', 'mu.2'], 4, 5)])) as DrawsJson;
    expect(doc.model).toBe('gmm');
    expect(doc.chains.map((c) => c.chain)).toEqual([1, 2]);
    const c0 = doc.chains[0];
    expect(c0.names).toEqual(['mu.1', 'mu.2']);
    expect(Object.keys(c0.stats)).toEqual([...SAMPLER_COLUMNS]);
    expect(c0.draws['mu.1'][2]).toBe('nan');
    expect(c0.draws['mu.2'][2]).toBe('-inf');
    c0.draws['mu.1'].forEach((v, i) => {
      if (i !== 2) expect(fromJsonDrawValue(v)).toBe(ch.draws[i][0]);
    });
    c0.stats.n_leapfrog__.forEach((v, i) => expect(v).toBe(ch.stats[i][4]));
    expect(c0.warmup).toBeUndefined();
  });

  it('rejects a ragged chain naming it', () => {
    const ch = syntheticChain(['a', 'b'], 2);
    ch.draws[0] = [1, 2, 3];
    expect(() => writeDrawsJson('m', [syntheticChain(['a', 'b'], 2), ch])).toThrow(/chain 2\) \(sampling\) draw 1: 3 values for 2 parameter names/);
  });
});
