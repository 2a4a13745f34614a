// `mixppl report`: the HTML it writes (self-contained, every spec embedded and valid JSON)
// and, where Debian's chromium is installed, that every plot renders in a headless browser.
// MIXPPL_UPDATE_SCREENSHOT=1 rewrites docs/report.png from the browser test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReportHtml, escapeHtml, scriptJson, type ReportData } from '../../src/report/html';
import { ellipsePoints, histogram, pooledRanks, rankSpec } from '../../src/report/specs';
import { mixtureComponents } from '../../src/cli/report';
import { mixppl, ROOT } from '../cli/run';
import { CHROMIUM, HAS_CHROMIUM, expectPlotsRendered, launchChromium, openReport } from './browser';

if (!HAS_CHROMIUM) console.warn(`report.test: ${CHROMIUM} is missing; the browser test is skipped (apt-get install chromium)`);


/** The embedded specs of a report, by plot id. */
function specsOf(html: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const m of html.matchAll(/<script type="application\/json" id="spec-([A-Za-z0-9-]+)">([^<]*)<\/script>/g)) out.set(m[1], JSON.parse(m[2]));
  return out;
}

/** A two-state HMM's observations: states in runs of 25 (1, 2, 1, ...), means -5 and 5, sd 1. */
function hmmData(T = 150): { y: number[]; z: number[] } {
  let s = 12345;
  const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 0.5) / 2147483648;
  const z = Array.from({ length: T }, (_, t) => (Math.floor(t / 25) % 2) + 1);
  const y = z.map((k) => (k === 1 ? -5 : 5) + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  return { y, z };
}
const HMM = hmmData();

let tmp: string;
const files: Record<string, { path: string; html: string; code: number | null; ids: string[] }> = {};

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mixppl-report-'));
  writeFileSync(join(tmp, 'hmm.csv'), 'y\n' + HMM.y.map((v) => v.toFixed(6)).join('\n') + '\n');
  const runs: [string, string[], string[]][] = [
    ['hmm', ['stdlib/gaussian_hmm.mix', '--data', join(tmp, 'hmm.csv'), '--set', 'K=2'], ['state-path']],
    ['faithful', ['examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv', '--method', 'em'], ['data-mixture']],
    ['galaxies', ['examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3', '--method', 'nuts',
      '--chains', '2', '--warmup', '200', '--draws', '200', '--quiet'], ['trace', 'rank', 'density', 'pairs', 'data-mixture']],
  ];
  for (const [name, args, ids] of runs) {
    const path = join(tmp, `${name}.html`);
    const r = mixppl('report', ...args, '--out', path);
    if (!existsSync(path)) throw new Error(`mixppl report ${name} wrote nothing (exit ${r.code}): ${r.stderr}`);
    files[name] = { path, html: readFileSync(path, 'utf8'), code: r.code, ids };
  }
}, 120_000);

afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe('mixppl report: the HTML file', () => {
  it('exits as the fit does and names the file', () => {
    expect(files.faithful.code).toBe(0);
    expect(files.hmm.code).toBe(0);
    // A short NUTS run may fail the R-hat / ESS checks (3); anything else is an error.
    expect([0, 3]).toContain(files.galaxies.code);
  });

  it.each(['faithful', 'galaxies', 'hmm'])('%s: embeds each expected spec as valid JSON, one container each', (name) => {
    const { html, ids } = files[name];
    const specs = specsOf(html);
    expect([...specs.keys()]).toEqual(ids);
    for (const id of ids) {
      expect(html).toContain(`<div class="plot" id="plot-${id}" data-spec="spec-${id}"></div>`);
      const spec = specs.get(id)!;
      expect(JSON.stringify(spec).length).toBeGreaterThan(100);
      expect(spec.description).toEqual(expect.any(String));
    }
  });

  it.each(['faithful', 'galaxies', 'hmm'])('%s: is self-contained (inlined vega builds, no external script, style or link)', (name) => {
    const { html } = files[name];
    expect(html).not.toMatch(/<script[^>]*\ssrc=/i);
    expect(html).not.toMatch(/<link[^>]*\shref=/i);
    expect(html).not.toMatch(/<img[^>]*\ssrc=["']?https?:/i);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
    const vega = readFileSync(join(ROOT, 'node_modules/vega/build/vega.min.js'), 'utf8');
    expect(html).toContain(vega.slice(0, 2000));
    expect(html).toContain(readFileSync(join(ROOT, 'node_modules/vega-embed/build/vega-embed.min.js'), 'utf8').slice(0, 2000));
    expect(html).toContain(readFileSync(join(ROOT, 'node_modules/vega-lite/build/vega-lite.min.js'), 'utf8').slice(0, 2000));
  });

  it('shows the model source escaped, the settings and the summary table', () => {
    const g = files.galaxies.html;
    expect(g).toContain(escapeHtml(readFileSync(join(ROOT, 'examples/galaxies/galaxies.mix'), 'utf8')));
    expect(g).toMatch(/<tr><th>chains<\/th><td>2<\/td><\/tr>/);
    expect(g).toMatch(/<tr><th>warm-up iterations<\/th><td>200<\/td><\/tr>/);
    for (const q of ['lp__', 'w.1', 'mu.3', 'sigma.2']) expect(g).toContain(`<tr><td>${q}</td>`);
    expect(g).toContain('<th>R-hat</th>');
    const f = files.faithful.html;
    expect(f).toMatch(/<tr><th>method<\/th><td>EM \(maximum likelihood\)<\/td><\/tr>/);
    expect(f).toContain('<tr><td>mu.2.2</td>');
  });

  it('the 2-D plot draws the two fitted components of Old Faithful with ellipses', () => {
    const spec = specsOf(files.faithful.html).get('data-mixture')! as { layer: { data: { values: Record<string, unknown>[] } }[] };
    const [points, ellipses, means] = spec.layer.map((l) => l.data.values);
    expect(points).toHaveLength(272);
    expect(new Set(points.map((p) => p.component))).toEqual(new Set(['1', '2']));
    expect(new Set(ellipses.map((e) => `${e.component} ${e.level}`)).size).toBe(4);
    // Short eruptions wait about 54 minutes, long ones about 80.
    const waits = means.map((m) => m.y as number).sort((a, b) => a - b);
    expect(waits[0]).toBeGreaterThan(50);
    expect(waits[0]).toBeLessThan(58);
    expect(waits[1]).toBeGreaterThan(76);
    expect(waits[1]).toBeLessThan(84);
  });

  it('the 1-D plot overlays a mixture density that integrates to about 1 over the data', () => {
    const spec = specsOf(files.galaxies.html).get('data-mixture')! as { layer: { data: { values: Record<string, number | string>[] } }[] };
    const curve = spec.layer[1].data.values.filter((v) => v.curve === 'mixture');
    let area = 0;
    for (let i = 1; i < curve.length; i++) area += ((curve[i].x as number) - (curve[i - 1].x as number)) * ((curve[i].density as number) + (curve[i - 1].density as number)) / 2;
    expect(area).toBeGreaterThan(0.95);
    expect(area).toBeLessThan(1.01);
    const hist = spec.layer[0].data.values;
    const histArea = hist.reduce((a, h) => a + ((h.x1 as number) - (h.x0 as number)) * (h.density as number), 0);
    expect(histArea).toBeCloseTo(1, 3);
  });

  it('rejects options of the other method, and unknown methods or options (usage, exit 2)', () => {
    const faithful = ['report', 'examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv', '--out', join(tmp, 'never.html')];
    const a = mixppl(...faithful, '--method', 'em', '--chains', '2');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--chains: only with --method nuts, hmc, langevin, mala, annealed-langevin or rdmc');
    const b = mixppl(...faithful, '--method', 'map');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("unknown method 'map'");
    const c = mixppl(...faithful, '--output-dir', tmp);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("unknown option '--output-dir' for 'report'");
    expect(existsSync(join(tmp, 'never.html'))).toBe(false);
  });

  it('an HMM report shows the Viterbi path, which recovers the simulated states', () => {
    const spec = specsOf(files.hmm.html).get('state-path')! as { data: { values: { t: number; y: number; state: string }[] } };
    const v = spec.data.values;
    expect(v).toHaveLength(HMM.y.length);
    // mu is ordered, so state 1 is the low-mean state, as in the simulation.
    const agree = v.filter((p, t) => Number(p.state) === HMM.z[t]).length;
    expect(agree / v.length).toBeGreaterThan(0.97);
  });
});

describe('report building blocks', () => {
  it('escapes text and keeps embedded JSON from closing its script element', () => {
    expect(escapeHtml('<a href="x">&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
    const s = scriptJson({ t: '</script><!-- x' });
    expect(s).not.toContain('</script');
    expect(s).not.toContain('<!--');
    expect(JSON.parse(s)).toEqual({ t: '</script><!-- x' });
    const data: ReportData = {
      title: 't</title>', modelFile: 'm.mix', modelSource: 'model m { } // </script>', settings: [], notes: [], warnings: [],
      table: { columns: ['a'], rows: [[1]] },
      plots: [{ id: 'p', title: 'p', spec: { description: '</script>', mark: 'point' } }],
    };
    const html = buildReportHtml(data, { vega: '/*v*/', vegaLite: '/*vl*/', vegaEmbed: '/*ve*/' });
    expect(html.match(/<\/script>/g)).toHaveLength(5);
    expect(specsOf(html).get('p')).toEqual({ description: '</script>', mark: 'point' });
    expect(() => buildReportHtml({ ...data, plots: [{ id: 'a b', title: '', spec: {} }] }, { vega: '', vegaLite: '', vegaEmbed: '' })).toThrow(/plot id/);
  });

  it('ranks pool the chains with ties averaged; a rank plot of well-mixed chains is flat', () => {
    expect(pooledRanks([[3, 1], [2, 2]])).toEqual([[4, 1], [2.5, 2.5]]);
    const a = Array.from({ length: 400 }, (_, i) => (i * 7919) % 400);
    const b = a.map((x) => x + 0.5);
    const values = (rankSpec([{ name: 'q', chains: [a, b] }], 20) as { data: { values: { count: number }[] } }).data.values;
    expect(values).toHaveLength(40);
    for (const v of values) expect(v.count).toBe(20);
  });

  it('ellipse points lie on the Mahalanobis contour', () => {
    const cov = [[4, 1.2], [1.2, 1]];
    const det = 4 - 1.44;
    for (const [x, y] of ellipsePoints([1, 2], cov, 2, 16)) {
      const dx = x - 1;
      const dy = y - 2;
      expect((cov[1][1] * dx * dx - 2 * cov[0][1] * dx * dy + cov[0][0] * dy * dy) / det).toBeCloseTo(4, 10);
    }
  });

  it('a histogram is a density', () => {
    const h = histogram([1, 2, 2, 3, 3, 3, 4, 4, 5, 10]);
    expect(h.reduce((a, b) => a + (b.x1 - b.x0) * b.density, 0)).toBeCloseTo(1, 12);
  });

  it('reads Gaussian components from w, mu and sigma, Sigma, or tau and L', () => {
    expect(mixtureComponents({ w: [0.25, 0.75], mu: [1, 2], sigma: [2, 3] })).toEqual([
      { weight: 0.25, mean: [1], cov: [[4]] }, { weight: 0.75, mean: [2], cov: [[9]] },
    ]);
    const c = mixtureComponents({ w: [1], mu: [[0, 0]], tau: [[2, 3]], L: [[[1, 0], [0.6, 0.8]]] })!;
    expect(c[0].cov[0][0]).toBeCloseTo(4, 12);
    expect(c[0].cov[1][0]).toBeCloseTo(0.6 * 6, 12);
    expect(c[0].cov[1][1]).toBeCloseTo(9, 12);
    expect(mixtureComponents({ w: [1], mu: [[0, 0, 0]], Sigma: [[[1, 0.5, 0], [0.5, 2, 0], [0, 0, 3]]] })![0].cov).toEqual([[1, 0.5], [0.5, 2]]);
    expect(mixtureComponents({ w: [0.5, 0.5], mu: [[0, 0], [1, 1]], sigma: [1, 2] })![1].cov).toEqual([[4, 0], [0, 4]]);
    expect(mixtureComponents({ mu: [1, 2], sigma: [1, 1] })).toBeUndefined();
    expect(mixtureComponents({ w: [0.5, 0.5], mu: [1, 2] })).toBeUndefined();
  });
});

describe('mixppl report in headless Chromium', () => {
  it.skipIf(!HAS_CHROMIUM)('renders every plot as a non-empty SVG without console errors', async () => {
    const browser = await launchChromium();
    try {
      for (const name of ['faithful', 'galaxies', 'hmm']) {
        const { path, ids } = files[name];
        const { page, errors, plots } = await openReport(browser, path);
        expect(errors, name).toEqual([]);
        expect(plots.map((p) => p.id)).toEqual(ids.map((id) => `plot-${id}`));
        expectPlotsRendered(plots, name);
        // Panels are labelled by quantity (a transform that drops the facet field leaves one 'undefined' panel).
        for (const p of plots.filter((x) => ['plot-trace', 'plot-rank', 'plot-density'].includes(x.id))) {
          for (const q of ['w.1', 'mu.3', 'sigma.3']) expect(p.text, `${name} ${p.id}`).toContain(q);
        }
        if (name === 'galaxies' && process.env.MIXPPL_UPDATE_SCREENSHOT === '1') {
          await page.screenshot({ path: join(ROOT, 'docs/report.png'), fullPage: true });
        }
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 90_000);
});
