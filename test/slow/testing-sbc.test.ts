/**
 * Slow tier: SBC at scale on the compiled conjugate normal-mean model, 500 replications.
 * Exact posterior draws must pass; mild distortions (a quarter-sd shift, a 20% too narrow
 * posterior) must fail, which the fast tier's 150 replications cannot resolve. Writes a
 * JSON summary (and the ECDF plots) to test/slow/results/.
 *
 *   npm run test:slow -- testing-sbc
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { compile } from '../../src/compile';
import type { Model } from '../../src/model/model';
import { useBackend } from '../../src/tensor';
import { ecdfBandSvg, ecdfCheck } from '../../src/testing/ecdf';
import { sbc, sbcJson, type SbcResult } from '../../src/testing/sbc';
import { expectCalibrated } from '../../src/testing/vitest';
import { normalMeanSampler } from '../testing/helpers';

const SOURCE = `
model normal_mean {
  data N: int
  data y: real[N]
  param mu: real
  mu ~ normal(0, 1)
  y ~ normal(mu, 1)
}`;

const SEED = 2018;
const R = 500;
const L = 99;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results');

let model: Model;
beforeAll(async () => {
  await useBackend('cpu');
  model = compile(SOURCE);
});

it('SBC with 500 replications: exact draws pass, mild distortions fail', async () => {
  const variants = {
    exact: {},
    shifted: { shift: 0.25 },
    narrow: { scale: 0.8 },
  } as const;
  const results: Record<string, SbcResult> = {};
  for (const [name, distort] of Object.entries(variants)) {
    results[name] = await sbc(model, normalMeanSampler(1, distort, L + 1), { data: { N: 5 }, replications: R, L, seed: SEED });
  }
  mkdirSync(RESULTS, { recursive: true });
  const summary = {
    test: 'testing-sbc',
    date: new Date().toISOString(),
    model: 'normal_mean (mu ~ normal(0, 1), y[1..5] ~ normal(mu, 1))',
    seed: SEED,
    replications: R,
    L,
    variants: Object.fromEntries(Object.entries(results).map(([name, r]) => [name, {
      distortion: variants[name as keyof typeof variants],
      pValues: r.pValues,
      adjusted: r.adjusted,
      failed: r.failed,
      L: r.L,
      ranks: r.ranks,
      insideEcdfBand: Object.fromEntries(Object.entries(ecdfCheck(r.ranks, r.L)).map(([k, c]) => [k, c.inside])),
      seconds: r.seconds,
    }])),
  };
  writeFileSync(join(RESULTS, 'testing-sbc.json'), sbcJson(summary));
  for (const [name, r] of Object.entries(results)) {
    writeFileSync(join(RESULTS, `testing-sbc-${name}.svg`), ecdfBandSvg(r.ranks, r.L, { title: `SBC, ${name} draws (R = ${R}, L = ${L})` }));
  }
  expectCalibrated(results.exact);
  expect(results.shifted.failed).toEqual(['mu']);
  expect(results.narrow.failed).toEqual(['mu']);
});
