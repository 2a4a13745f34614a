/**
 * Property tests of a user-written sampler (metropolis.ts) for a user model (rates.mix):
 *
 *   npx vitest run examples/property-test
 *
 * 1. for arbitrary small data sets, its draws have the exact posterior's mean and variance;
 * 2. Geweke's joint-distribution test of the kernel;
 * 3. simulation-based calibration of the whole sampler (warm-up, thinning and all).
 */
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { compile, useBackend, type Model } from 'mixppl';
import {
  ecdfBandSvg, expectCalibrated, expectGewekePasses, expectPosteriorMoments, geweke, poissonGamma, sbc,
} from 'mixppl/testing';
import { metropolisKernel, metropolisSampler } from './metropolis';

let model: Model;
beforeAll(async () => {
  await useBackend('cpu');
  model = compile(fileURLToPath(new URL('./rates.mix', import.meta.url)));
});

describe('Metropolis on rates.mix', () => {
  it('matches the exact Poisson–gamma posterior moments for any small data set', async () => {
    const sample = metropolisSampler({ stepSize: 0.6, draws: 1500, warmup: 200, thin: 1 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 8 }), async (y) => {
        const { draws } = await sample(model, { y }, 7);
        const lambda = (draws.lambda as number[][]).map((d) => d[0]);
        // checkMoments uses the ESS of the (autocorrelated) chain, so no thinning is needed.
        expectPosteriorMoments(lambda, poissonGamma({ shape: 2, rate: 1, y }));
      }),
      { numRuns: 4, seed: 42 },
    );
  });

  it('passes Geweke’s joint-distribution test', () => {
    const result = geweke(model, metropolisKernel(0.6), { data: { N: 3 }, samples: 1000, iterations: 1000, stepsPerData: 3, seed: 1 });
    expectGewekePasses(result);
  });

  it('is calibrated (SBC)', async () => {
    const result = await sbc(model, metropolisSampler({ stepSize: 0.6, draws: 19, warmup: 100, thin: 8 }), {
      data: { N: 1 }, replications: 60, L: 19, seed: 1,
    });
    // To look at it, run with SBC_SVG=sbc.svg: a ∪ shape means too narrow, a drift means biased.
    if (process.env.SBC_SVG) writeFileSync(process.env.SBC_SVG, ecdfBandSvg(result.ranks, result.L, { title: 'Metropolis on rates.mix' }));
    expectCalibrated(result);
  });
});
