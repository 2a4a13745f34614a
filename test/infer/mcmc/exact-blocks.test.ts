// `McmcResult.settings.exactBlocks` / `sliceCoords` (planSampling, describeConjugateBlocks in
// src/infer/mcmc/conjugate-gibbs.ts): which conjugate blocks a slice + Gibbs run drew exactly,
// and how many unconstrained coordinates were left to the slice updates. Checked against the
// blocks the IR holds (galaxies: a sorted normal mixture and w's Dirichlet; variants without a
// half-normal sigma or a Dirichlet prior), against the coordinates conjugateGibbsUpdate really
// sets, and absent for NUTS. Short deterministic runs (no statistics).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample, type SampleOptions } from '../../../src/infer/mcmc';
import { GibbsTarget } from '../../../src/infer/mcmc/gibbs';
import { conjugateGibbsUpdate, describeConjugateBlocks } from '../../../src/infer/mcmc/conjugate-gibbs';

beforeAll(async () => {
  await ensureBackend();
});

const source = readFileSync('examples/galaxies/galaxies.mix', 'utf8');
const galaxies = compile(source);
// The same model with a log-normal scale prior: sigma is then left to the slice updates.
const lognormalSigma = compile(source.replace('sigma ~ half_normal(5)', 'sigma ~ lognormal(0, 2)'));
const y = [9.2, 10.4, 16.1, 18.6, 19.4, 19.8, 20.2, 20.8, 21.1, 21.7, 22.3, 22.9, 23.5, 24.1, 26.0, 32.8, 34.3];
const poisson = (prior: string) => compile(`model pm { data K: int  data y: int[N]  param w: simplex[K]  param lambda: positive_ordered[K]
  ${prior} lambda ~ gamma(2, 0.5)
  for n in 1..N { y[n] ~ mixture(w, k -> poisson(lambda[k])) } }`);
const counts = { K: 2, y: [0, 1, 1, 2, 3, 8, 9, 11, 12, 10] };
const base: SampleOptions = { chains: 1, warmup: 20, draws: 10, seed: 3 };
const gibbsSlice: SampleOptions = { ...base, algorithm: 'slice', latents: 'gibbs' };

describe('settings.exactBlocks', () => {
  it("lists galaxies' normal-mixture and Dirichlet–categorical blocks under 'auto', with no slice coordinate left", () => {
    const bm = galaxies.bind({ K: 3, y });
    const r = sample(bm, { ...base, algorithm: 'auto' });
    expect(r.settings.algorithm).toBe('slice');
    const latent = r.settings.exactBlocks?.[0]?.latents[0];
    expect(r.latentNames[0].startsWith(`${latent}.`)).toBe(true);
    expect(r.settings.exactBlocks).toEqual([
      { kind: 'normal-mixture', params: ['mu', 'sigma'], latents: [latent], orderedUpdate: 'sort', collapsedLatents: true, sweeps: 2 },
      { kind: 'dirichlet-categorical', params: ['w'], latents: [latent] },
    ]);
    expect(bm.dim).toBe(8);
    expect(r.settings.sliceCoords).toBe(0);
  });

  it('follows orderedUpdate and conjugateSweeps, and is empty with conjugate: false', () => {
    const bm = galaxies.bind({ K: 3, y });
    const t = sample(bm, { ...gibbsSlice, orderedUpdate: 'truncated', conjugateSweeps: 3 });
    expect(t.settings.exactBlocks?.[0]).toMatchObject({ kind: 'normal-mixture', orderedUpdate: 'truncated', collapsedLatents: true, sweeps: 3 });
    const off = sample(bm, { ...gibbsSlice, conjugate: false });
    expect(off.settings.exactBlocks).toEqual([]);
    expect(off.settings.sliceCoords).toBe(8);
  });

  it('leaves a non-half-normal sigma out of the normal block and counts its coordinates as sliced', () => {
    const r = sample(lognormalSigma.bind({ K: 3, y }), gibbsSlice);
    expect(r.settings.exactBlocks?.map((b) => [b.kind, b.params])).toEqual([['normal-mixture', ['mu']], ['dirichlet-categorical', ['w']]]);
    expect(r.settings.sliceCoords).toBe(3);
  });

  it('is empty for a model without conjugate blocks, and absent for NUTS', () => {
    const bm = poisson('').bind(counts);
    const r = sample(bm, gibbsSlice);
    expect(r.settings.exactBlocks).toEqual([]);
    expect(r.settings.sliceCoords).toBe(bm.dim);
    const withW = sample(poisson('w ~ dirichlet(rep(1.0, K))').bind(counts), gibbsSlice);
    expect(withW.settings.exactBlocks?.map((b) => [b.kind, b.params])).toEqual([['dirichlet-categorical', ['w']]]);
    expect(withW.settings.sliceCoords).toBe(2);
    const nuts = sample(bm, { ...base, algorithm: 'auto' });
    expect(nuts.settings.algorithm).toBe('nuts');
    expect(nuts.settings.exactBlocks).toBeUndefined();
    expect(nuts.settings.sliceCoords).toBeUndefined();
  });

  it("describes exactly the coordinates conjugateGibbsUpdate sets", () => {
    for (const bm of [galaxies.bind({ K: 3, y }), lognormalSigma.bind({ K: 3, y }), poisson('w ~ dirichlet(rep(1.0, K))').bind(counts)]) {
      for (const ordered of ['sort', 'truncated'] as const) {
        const u = conjugateGibbsUpdate(bm, new GibbsTarget(bm), undefined, ordered, true, 2);
        const d = describeConjugateBlocks(bm, ordered, true, 2);
        expect(d.coords).toEqual(Array.from(u!.coords));
      }
    }
  });
});
