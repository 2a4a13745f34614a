/**
 * The kit on a compiled .mix model: SBC with exact posterior draws passes and with biased
 * draws fails (the mutation check); Geweke with an exact Gibbs kernel on the real
 * BoundModel passes and with a wrong-variance kernel fails.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile';
import type { Model } from '../../src/model/model';
import { useBackend } from '../../src/tensor';
import { geweke } from '../../src/testing/geweke';
import type { GewekeModel, SimulatingModel } from '../../src/testing/model-types';
import { sbc } from '../../src/testing/sbc';
import { expectCalibrated, expectGewekePasses } from '../../src/testing/vitest';
import { gaussianGibbsKernel, normalMeanSampler } from './helpers';

const SOURCE = `
model normal_mean {
  data N: int
  data y: real[N]
  param mu: real
  mu ~ normal(0, 1)
  y ~ normal(mu, 1)
}`;

let model: Model;
beforeAll(async () => {
  await useBackend('cpu');
  model = compile(SOURCE);
});

// Compile-time check: a Model is what the kit's interfaces ask for.
const asKitModel = (m: Model): GewekeModel & SimulatingModel => m;

describe('SBC on the compiled conjugate normal-mean model', () => {
  it('passes with exact posterior draws', async () => {
    const r = await sbc(asKitModel(model), normalMeanSampler(), { data: { N: 5 }, replications: 150, L: 99, seed: 1 });
    expect(Object.keys(r.ranks)).toEqual(['mu']);
    expectCalibrated(r);
  });

  it('fails with draws shifted by one posterior sd (mutation check)', async () => {
    const r = await sbc(model, normalMeanSampler(1, { shift: 1 }), { data: { N: 5 }, replications: 150, L: 99, seed: 1 });
    expect(r.failed).toEqual(['mu']);
  });

  it('fails with draws that are too narrow (sd halved)', async () => {
    const r = await sbc(model, normalMeanSampler(1, { scale: 0.5 }), { data: { N: 5 }, replications: 150, L: 99, seed: 1 });
    expect(r.failed).toEqual(['mu']);
    expect(() => expectCalibrated(r)).toThrow(/too NARROW/);
  });
});

describe('Geweke on the compiled model with a Gibbs kernel on the real BoundModel', () => {
  // See geweke.test.ts: with N = 2 the doubled-variance kernel moves E[mu²] from 1 to 1.6.
  const opts = { data: { N: 2 }, samples: 1000, iterations: 800, burnIn: 50, seed: 3 };

  it('passes the exact kernel', () => {
    expectGewekePasses(geweke(model, gaussianGibbsKernel(), opts));
  });

  it('fails the kernel with the wrong variance', () => {
    const r = geweke(model, gaussianGibbsKernel(2), opts);
    expect(r.failed).toContain('mu^2');
  });
});
