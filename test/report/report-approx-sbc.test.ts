// `mixppl report` for VI, SMC and the score-based samplers, and `mixppl report --sbc` for
// the SBC harness's rank records: the HTML (each expected spec embedded, the numbers the
// fit gives) and, where Debian's chromium is installed, that every plot renders in a
// headless browser without console errors (as test/report/report.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sbc, sbcJson, sbcRecord, type SbcResult } from '../../src/testing/sbc';
import { ecdfBand, ecdfDifference } from '../../src/testing/ecdf';
import { binomialQuantile, findSbcRecords } from '../../src/report/sbc';
import { fakeNormalMeanModel, normalMeanSampler } from '../testing/helpers';
import { mixppl, ROOT } from '../cli/run';
import { CHROMIUM, HAS_CHROMIUM, expectPlotsRendered, launchChromium, openReport } from './browser';
import { compile } from '../../src/compile';
import type { Model } from '../../src/model/model';
import { reportCommand, sbcReportCommand, type ReportRequest } from '../../src/cli/report';
import { OptionError } from '../../src/cli/sample';
import { DataFileError } from '../../src/cli/data-io';

if (!HAS_CHROMIUM) console.warn(`report-approx-sbc.test: ${CHROMIUM} is missing; the browser test is skipped (apt-get install chromium)`);

/** The embedded specs of a report, by plot id. */
function specsOf(html: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const m of html.matchAll(/<script type="application\/json" id="spec-([A-Za-z0-9-]+)">([^<]*)<\/script>/g)) out.set(m[1], JSON.parse(m[2]));
  return out;
}

/** P(X <= k) for X ~ Binomial(n, p), by direct summation (an independent check of binomialQuantile). */
function binomialCdf(n: number, p: number, k: number): number {
  let s = 0;
  let c = 1;
  for (let i = 0; i <= k; i++) {
    s += c * p ** i * (1 - p) ** (n - i);
    c = (c * (n - i)) / (i + 1);
  }
  return s;
}

/** The smallest k with P(X <= k) >= q, by direct summation. */
function directQuantile(n: number, p: number, q: number): number {
  let k = 0;
  while (binomialCdf(n, p, k) < q - 1e-12) k++;
  return k;
}

/** The rows of the table that follows the heading `title`. */
function tableAfter(html: string, title: string): string[][] {
  const start = html.indexOf(`<h2>${title}</h2>`);
  if (start < 0) return [];
  const table = html.slice(html.indexOf('<table', start), html.indexOf('</table>', start));
  return [...table.matchAll(/<tr>(.*?)<\/tr>/g)].slice(1).map((m) => [...m[1].matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/g)].map((c) => c[1]));
}

const GALAXIES = ['examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3', '--quiet'];
const NORMAL = `model normal_scale {
  data N: int
  data y: real[N]
  param mu: real
  param sigma: positive
  mu ~ normal(0, 5)
  sigma ~ lognormal(0, 1)
  y ~ normal(mu, sigma)
}
`;

let galaxiesModel: Model | undefined;
const galaxies = () => (galaxiesModel ??= compile(readFileSync(join(ROOT, 'examples/galaxies/galaxies.mix'), 'utf8')));

/** A report request from command-line options (value options as `--name value` pairs). */
function request(args: string[]): ReportRequest {
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) opts.set(args[i], args[i + 1]);
  return { modelFile: 'galaxies.mix', modelSource: '', dataFiles: [], sets: [], opts, flags: new Set() };
}

let tmp: string;
let tiny: SbcResult;
const files: Record<string, { path: string; html: string; code: number | null; stdout: string; stderr: string; ids: string[] }> = {};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mixppl-report-approx-'));
  writeFileSync(join(tmp, 'normal.mix'), NORMAL);
  writeFileSync(join(tmp, 'normal.json'), JSON.stringify({ N: 8, y: [0.3, -1.2, 0.8, 1.9, 0.1, -0.4, 1.1, 0.6] }));
  const normal = [join(tmp, 'normal.mix'), '--data', join(tmp, 'normal.json'), '--quiet'];

  // A tiny SBC run of the harness (12 replications, L = 9, exact draws of a two-element
  // normal mean), written as the slow tests write their results, plus a hand-made record
  // of ranks that are all 0 (an extremely biased sampler).
  tiny = await sbc(fakeNormalMeanModel(2), normalMeanSampler(2, {}, 9), { data: { N: 4 }, replications: 12, L: 9, seed: 5 });
  writeFileSync(join(tmp, 'sbc.json'), sbcJson({
    test: 'tiny-sbc', seed: 5,
    cases: { exact: { description: 'exact draws', ...sbcRecord(tiny) }, biased: { L: 9, ranks: { theta: new Array(40).fill(0) } } },
  }));
  writeFileSync(join(tmp, 'no-ranks.json'), JSON.stringify({ test: 'old', cases: { a: { L: 99, pValues: { mu: { chi2: 0.5, ks: 0.5 } } } } }));
  writeFileSync(join(tmp, 'bad-rank.json'), JSON.stringify({ cases: { a: { L: 9, ranks: { mu: [...new Array(11).fill(1), 10] } } } }));

  const runs: [string, string[], string[]][] = [
    ['vi', [...GALAXIES, '--method', 'vi', '--max-iter', '1500'], ['objective', 'density', 'pairs', 'data-mixture']],
    ['smc', [...GALAXIES, '--method', 'smc', '--particles', '200'], ['tempering', 'density', 'pairs', 'data-mixture']],
    ['mala', [...GALAXIES, '--method', 'mala', '--chains', '2', '--warmup', '200', '--draws', '200'], ['trace', 'rank', 'density', 'pairs', 'data-mixture']],
    ['annealed', [...GALAXIES, '--method', 'annealed-langevin', '--chains', '2', '--draws', '150'], ['tempering', 'rank', 'density', 'pairs', 'data-mixture']],
    ['rdmc', [...normal, '--method', 'rdmc', '--chains', '2', '--draws', '100'], ['diffusion', 'rank', 'density', 'pairs']],
    ['sbc', ['--sbc', join(tmp, 'sbc.json')], ['sbc-1-ranks', 'sbc-1-ecdf', 'sbc-2-ranks', 'sbc-2-ecdf']],
  ];
  for (const [name, args, ids] of runs) {
    const path = join(tmp, `${name}.html`);
    const r = mixppl('report', ...args, '--out', path);
    if (!existsSync(path)) throw new Error(`mixppl report ${name} wrote nothing (exit ${r.code}): ${r.stderr}`);
    files[name] = { path, html: readFileSync(path, 'utf8'), ...r, ids };
  }
}, 150_000);

afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe('the SBC harness records ranks', () => {
  it('sbcRecord keeps the ranks (per element, per replication) with L; sbcJson parses back to it', () => {
    const json = JSON.parse(readFileSync(join(tmp, 'sbc.json'), 'utf8'));
    const rec = json.cases.exact;
    expect(rec.L).toBe(9);
    expect(rec.replications).toBe(12);
    expect(Object.keys(rec.ranks)).toEqual(Object.keys(tiny.ranks));
    expect(Object.keys(rec.ranks)).toHaveLength(2);
    for (const [el, rs] of Object.entries(rec.ranks as Record<string, number[]>)) {
      expect(rs).toEqual(tiny.ranks[el]);
      expect(rs).toHaveLength(12);
      for (const r of rs) expect(Number.isInteger(r) && r >= 0 && r <= 9).toBe(true);
    }
    expect(rec.pValues).toEqual(tiny.pValues);
    // One line per rank array.
    const text = readFileSync(join(tmp, 'sbc.json'), 'utf8');
    for (const [el, rs] of Object.entries(tiny.ranks)) expect(text).toContain(`"${el}": [${rs.join(', ')}]`);
    const v = { a: [1, -2.5e-7, null], b: { c: ['x'], d: [[1], []] } };
    expect(JSON.parse(sbcJson(v))).toEqual(v);
  });

  it('findSbcRecords finds records at any depth, inheriting L, and rejects ranks outside 0..L', () => {
    const found = findSbcRecords({ L: 3, models: { a: { ranks: { x: [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3] } } } }, 'f.json');
    expect(found.map((r) => [r.path, r.L])).toEqual([['models.a', 3]]);
    // Exactly uniform counts: chi-square statistic 0.
    expect(found[0].pValues.x.chi2).toBe(1);
    expect(() => findSbcRecords({ L: 4, ranks: { x: [...new Array(9).fill(0), 5] } }, 'f.json')).toThrow(/rank 10 of x is 5, not an integer in 0\.\.4/);
    expect(findSbcRecords({ a: { L: 4, pValues: {} } }, 'f.json')).toEqual([]);
  });

  it('binomialQuantile agrees with a direct sum of the binomial pmf', () => {
    // Binomial(200, 0.05): P(X <= 2) = 0.0023 < 0.005 <= P(X <= 3) = 0.0090; P(X <= 18) = 0.9941 < 0.995 <= P(X <= 19) = 0.9971.
    for (const [n, p] of [[200, 0.05], [12, 0.5], [40, 0.1], [500, 0.025]]) {
      for (const q of [0.005, 0.995]) {
        const k = binomialQuantile(n, p, q);
        expect(binomialCdf(n, p, k)).toBeGreaterThanOrEqual(q);
        if (k > 0) expect(binomialCdf(n, p, k - 1)).toBeLessThan(q);
      }
    }
    expect([binomialQuantile(200, 0.05, 0.005), binomialQuantile(200, 0.05, 0.995)]).toEqual([3, 19]);
  });
});

describe('mixppl report --sbc', () => {
  it('draws a rank histogram and an ECDF plot per record, with the recorded p-values', () => {
    const f = files.sbc;
    expect(f.code).toBe(0);
    const specs = specsOf(f.html);
    expect([...specs.keys()]).toEqual(f.ids);
    // Histogram: the chi-square bins of each element; counts sum to R; 99% binomial band.
    const hist = (specs.get('sbc-1-ranks')!.data as { values: { element: string; lo: number; hi: number; count: number; lower: number; upper: number }[] }).values;
    for (const el of Object.keys(tiny.ranks)) {
      const bins = hist.filter((b) => b.element === el);
      expect(bins.reduce((a, b) => a + b.count, 0)).toBe(12);
      expect(bins[0].lo).toBe(0);
      expect(bins[bins.length - 1].hi).toBe(10);
      for (const b of bins) {
        expect(b.count).toBe(tiny.ranks[el].filter((r) => r >= b.lo && r < b.hi).length);
        expect([b.lower, b.upper]).toEqual([directQuantile(12, (b.hi - b.lo) / 10, 0.005), directQuantile(12, (b.hi - b.lo) / 10, 0.995)]);
      }
    }
    // The all-zero record (R = 40, L = 9): 5 bins of 2 ranks; the 99% band of Binomial(40, 0.2) is [2, 15].
    const hist2 = (specs.get('sbc-2-ranks')!.data as { values: { lo: number; hi: number; count: number; lower: number; upper: number }[] }).values;
    expect(hist2.map((b) => [b.lo, b.hi, b.count])).toEqual([[0, 2, 40], [2, 4, 0], [4, 6, 0], [6, 8, 0], [8, 10, 0]]);
    for (const b of hist2) expect([b.lower, b.upper]).toEqual([directQuantile(40, 0.2, 0.005), directQuantile(40, 0.2, 0.995)]);
    expect([directQuantile(40, 0.2, 0.005), directQuantile(40, 0.2, 0.995)]).toEqual([2, 15]);
    // ECDF: the difference and the simultaneous 95% band of src/testing/ecdf.ts, closed at 0 and 1.
    const ecdf = (specs.get('sbc-1-ecdf')!.data as { values: { element: string; z: number; diff: number; lower: number; upper: number }[] }).values;
    const band = ecdfBand(12, 9, { alpha: 0.05, seed: 0 });
    const el = Object.keys(tiny.ranks)[0];
    const pts = ecdf.filter((v) => v.element === el);
    expect(pts).toHaveLength(band.z.length + 2);
    const d = ecdfDifference(tiny.ranks[el], 9, band);
    pts.slice(1, -1).forEach((p, k) => {
      expect(p.diff).toBeCloseTo(d[k], 5);
      expect(p.lower).toBeCloseTo(band.lower[k], 5);
    });
    // The summary table: one row per element; the all-zero ranks leave the band.
    const rows = tableAfter(f.html, 'Summary');
    expect(rows.map((r) => `${r[0]} ${r[1]}`)).toEqual([...Object.keys(tiny.ranks).map((e) => `cases.exact ${e}`), 'cases.biased theta']);
    // The table shows 3 decimals (or 4 significant digits below 1e-3).
    expect(Number(rows[0][4])).toBeCloseTo(tiny.pValues[el].chi2, 3);
    expect(rows[2][8]).toBe('no');
    const outside = (specsOf(f.html).get('sbc-2-ecdf')!.data as { values: { outside: boolean }[] }).values.filter((v) => v.outside);
    expect(outside.length).toBeGreaterThan(0);
  });

  it('a results file without ranks, a rank outside 0..L, or a model file or fit option with --sbc is an error', () => {
    // In process (the command line's routing of --sbc is exercised by the report above):
    // DataFileError is exit 1, OptionError exit 2 (src/cli/main.ts).
    const never = new Map([['--out', join(tmp, 'never.html')]]);
    const sbcOf = (file: string, given: string[] = ['--sbc', '--out'], positional: string[] = []) => () => sbcReportCommand(join(tmp, file), never, given, positional);
    expect(sbcOf('no-ranks.json')).toThrow(DataFileError);
    expect(sbcOf('no-ranks.json')).toThrow("holds no SBC ranks (an object with 'ranks' and 'L')");
    expect(sbcOf('bad-rank.json')).toThrow(DataFileError);
    expect(sbcOf('bad-rank.json')).toThrow('cases.a: rank 12 of mu is 10, not an integer in 0..9');
    expect(sbcOf('sbc.json', ['--sbc', '--method'])).toThrow(OptionError);
    expect(sbcOf('sbc.json', ['--sbc', '--method'])).toThrow('--method: not with --sbc');
    expect(sbcOf('sbc.json', ['--sbc'], ['m.mix'])).toThrow('without a model file');
    expect(() => reportCommand(galaxies(), {}, request(['--sbc', join(tmp, 'sbc.json')]))).toThrow(/--sbc: give the results file alone.*without a model file/);
    expect(existsSync(join(tmp, 'never.html'))).toBe(false);
  });
});

describe('mixppl report for VI, SMC and the score-based samplers', () => {
  it.each(['vi', 'smc', 'mala', 'annealed', 'rdmc'])('%s: embeds each expected spec and the model source', (name) => {
    const { html, ids, code, stderr } = files[name];
    // 3 (R-hat > 1.01 on short score-based runs of a multimodal mixture) is allowed; anything else is an error.
    expect([0, 3], stderr).toContain(code);
    expect([...specsOf(html).keys()]).toEqual(ids);
    expect(html).toContain('<pre class="model-source">');
  });

  it('VI: the objective trace has every step, and k-hat and the ELBO are those of `mixppl fit --method vi`', () => {
    const html = files.vi.html;
    const spec = specsOf(html).get('objective')! as { data: { values: { step: number; series: string }[] } };
    const steps = Number(/<tr><th>steps taken<\/th><td>(\d+)<\/td><\/tr>/.exec(html)![1]);
    expect(spec.data.values.filter((v) => v.series === 'ELBO (each step)')).toHaveLength(Math.ceil(steps / Math.ceil(steps / 1000)));
    const fit = mixppl('fit', ...GALAXIES, '--method', 'vi', '--max-iter', '1500', '--out', join(tmp, 'vi.json'));
    expect(fit.code, fit.stderr).toBe(fit.stdout.includes('NOT converged') ? 3 : 0);
    const j = JSON.parse(readFileSync(join(tmp, 'vi.json'), 'utf8'));
    expect(j.steps).toBe(steps);
    expect(html).toContain(`Pareto k-hat ${j.khat.toFixed(2)} (PSIS of 1000 guide draws`);
    expect(html).toContain(`ELBO ${j.elbo.toFixed(4)} (trailing mean`);
    // The guide table: one row per unconstrained coordinate (simplex[3]: 2, ordered[3]: 3, positive[3]: 3).
    expect(tableAfter(html, 'Guide').map((r) => r[0])).toEqual(['w [1]', 'w [2]', 'mu [1]', 'mu [2]', 'mu [3]', 'sigma [1]', 'sigma [2]', 'sigma [3]']);
    // The summary: the constrained quantities.
    expect(tableAfter(html, 'Summary').map((r) => r[0])).toEqual(['w.1', 'w.2', 'w.3', 'mu.1', 'mu.2', 'mu.3', 'sigma.1', 'sigma.2', 'sigma.3']);
  });

  it('SMC: the ladder runs from 0 to 1, one stage per table row, and log Z is that of `mixppl fit --method smc`', () => {
    const html = files.smc.html;
    const ladder = (specsOf(html).get('tempering')!.data as { values: { stage: number; beta: number; ess: number }[] }).values;
    expect(ladder[0].beta).toBe(0);
    expect(ladder[ladder.length - 1].beta).toBe(1);
    for (let t = 1; t < ladder.length; t++) expect(ladder[t].beta).toBeGreaterThan(ladder[t - 1].beta);
    for (const s of ladder) expect(s.ess).toBeGreaterThan(0);
    expect(ladder.every((s) => s.ess <= 1 + 1e-9)).toBe(true);
    expect(tableAfter(html, 'Stages')).toHaveLength(ladder.length);
    const fit = mixppl('fit', ...GALAXIES, '--method', 'smc', '--particles', '200', '--out', join(tmp, 'smc.json'));
    expect(fit.code, fit.stderr).toBe(0);
    const j = JSON.parse(readFileSync(join(tmp, 'smc.json'), 'utf8'));
    expect(j.betas).toHaveLength(ladder.length);
    expect(html).toContain(`log evidence ${j.logZ.toFixed(4)}`);
    // The weighted means in the table are the fit's.
    const rows = tableAfter(html, 'Summary');
    for (const row of rows) expect(Number(row[1])).toBeCloseTo(j.moments[row[0]].mean, 2);
  });

  it('score methods: MCMC-shaped pages with their settings; annealed Langevin shows its ladder and log evidence', () => {
    const m = files.mala.html;
    expect(m).toMatch(/<tr><th>method<\/th><td>MALA \(Metropolis-adjusted Langevin\)<\/td><\/tr>/);
    expect(m).toMatch(/<tr><th>warm-up iterations<\/th><td>200<\/td><\/tr>/);
    expect(m).toContain('<th>R-hat</th>');
    const a = files.annealed.html;
    expect(a).toMatch(/log evidence -?\d+\.\d{4} \(\d+ levels/);
    const ladder = (specsOf(a).get('tempering')!.data as { values: { beta: number }[] }).values;
    expect(ladder[ladder.length - 1].beta).toBe(1);
    expect(a).toMatch(/<tr><th>groups<\/th><td>2<\/td><\/tr>/);
    const rd = specsOf(files.rdmc.html).get('diffusion')!.data as { values: { t: number; ess: number }[] };
    expect(rd.values.length).toBeGreaterThan(10);
    for (const v of rd.values) expect(v.ess).toBeGreaterThan(0);
  });

  it('rejects options of other methods, naming the methods that take them (OptionError: usage, exit 2)', () => {
    // In process: the options are checked before the data are bound.
    const run = (...args: string[]) => () => reportCommand(galaxies(), {}, request([...args, '--out', join(tmp, 'never.html')]));
    expect(run('--method', 'smc', '--guide', 'meanfield')).toThrow(OptionError);
    expect(run('--method', 'smc', '--guide', 'meanfield')).toThrow('--guide: only with --method vi');
    expect(run('--method', 'vi', '--chains', '2')).toThrow('--chains: only with --method nuts, hmc, langevin, mala, annealed-langevin or rdmc');
    expect(run('--method', 'rdmc', '--warmup', '10')).toThrow('--warmup: only with --method nuts, hmc, langevin or mala');
    expect(run('--method', 'em', '--particles', '10')).toThrow('--particles: only with --method smc');
    expect(run('--method', 'vi', '--guide', 'gaussian')).toThrow("--guide must be meanfield, fullrank, lowrank, planar, coupling or amortized, got 'gaussian'");
    expect(run('--method', 'mala', '--draws', '0')).toThrow("--draws must be a positive integer, got '0'");
    expect(existsSync(join(tmp, 'never.html'))).toBe(false);
  });
});

describe('the new report pages in headless Chromium', () => {
  it.skipIf(!HAS_CHROMIUM)('render every plot as a non-empty SVG without console errors', async () => {
    const browser = await launchChromium();
    try {
      for (const name of ['vi', 'smc', 'mala', 'annealed', 'rdmc', 'sbc']) {
        const { path, ids } = files[name];
        const { page, errors, plots } = await openReport(browser, path);
        expect(errors, name).toEqual([]);
        expect(plots.map((p) => p.id)).toEqual(ids.map((id) => `plot-${id}`));
        expectPlotsRendered(plots, name);
        if (name === 'sbc') {
          // Panels are labelled by element; the band and the line are drawn.
          for (const el of Object.keys(tiny.ranks)) expect(plots[0].text).toContain(el);
          expect(plots[1].text).toContain('ECDF − uniform');
        }
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 90_000);
});
