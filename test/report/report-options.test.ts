// `mixppl report` takes the options of the fit it runs: VI's amortised guide (as
// `fit --method vi --guide amortized`), and MCMC's Gibbs latents (as `mixppl sample
// --latents gibbs`), which it must pass on rather than ignore; options it cannot honour
// (--parallel-chains) are usage errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mixppl } from '../cli/run';
// The hierarchical normal model: theta[n] is a local parameter of data row y[n].
import { HIER } from '../infer/conjugate-models';

/** The rows of the table that follows the heading `title`. */
function tableAfter(html: string, title: string): string[][] {
  const start = html.indexOf(`<h2>${title}</h2>`);
  if (start < 0) return [];
  const table = html.slice(html.indexOf('<table', start), html.indexOf('</table>', start));
  return [...table.matchAll(/<tr>(.*?)<\/tr>/g)].slice(1).map((m) => [...m[1].matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/g)].map((c) => c[1]));
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mixppl-report-options-'));
  writeFileSync(join(tmp, 'hier.mix'), HIER);
  writeFileSync(join(tmp, 'hier.json'), JSON.stringify({ y: [0.3, -1.2, 0.8, 1.9, 0.1, -0.4, 1.1, 0.6] }));
});
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

describe('mixppl report options', () => {
  it('--method vi --guide amortized: the guide table has every local coordinate', () => {
    const out = join(tmp, 'amortized.html');
    const r = mixppl('report', join(tmp, 'hier.mix'), '--data', join(tmp, 'hier.json'), '--method', 'vi', '--guide', 'amortized', '--max-iter', '800', '--seed', '3', '--out', out, '--quiet');
    expect(r.code === 0 || r.code === 3, r.stderr).toBe(true);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('VI, amortized guide');
    const guide = tableAfter(html, 'Guide');
    expect(guide.map((row) => row[0])).toEqual(['mu', ...Array.from({ length: 8 }, (_, i) => `theta [${i + 1}]`)]);
    for (const row of guide) {
      const sd = Number(row[3]);
      expect(sd > 0 && Number.isFinite(sd), row.join(' | ')).toBe(true);
    }
    for (const id of ['objective', 'density', 'pairs']) expect(html).toContain(`id="spec-${id}"`);
  }, 120_000);

  it('--latents gibbs is passed to the sampler and shown in the settings', () => {
    const out = join(tmp, 'gibbs.html');
    const r = mixppl('report', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3',
      '--method', 'nuts', '--latents', 'gibbs', '--chains', '1', '--warmup', '100', '--draws', '100', '--out', out, '--quiet');
    expect(r.code === 0 || r.code === 3, r.stderr).toBe(true);
    const html = readFileSync(out, 'utf8');
    expect(/<th>discrete latents<\/th><td>([^<]*)<\/td>/.exec(html)?.[1]).toBe('drawn by Gibbs');
    expect(html).toContain('<h2>Trace plots</h2>');
  }, 120_000);

  it('refuses options it would not honour: --parallel-chains, and Gibbs options with another method', () => {
    const base = ['report', 'examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3', '--quiet', '--out', join(tmp, 'never.html')];
    let r = mixppl(...base, '--method', 'nuts', '--parallel-chains', '2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--parallel-chains' for 'report'");
    r = mixppl(...base, '--method', 'em', '--chain-update', 'ffbs');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--chain-update: only with --method nuts or hmc');
  }, 120_000);
});
