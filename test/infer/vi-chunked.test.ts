// Minibatch SVI from data in chunks (src/infer/vi/chunked.ts, `model.fit(chunks, { method: 'vi',
// minibatch })`): (1) on the conjugate normal-mean model the chunked fit's posterior mean and
// sd agree with the in-memory minibatch fit's and the exact posterior, (2) the kinds of source
// (array, function, one-shot async generator with totalRows) read the same rows the same way,
// (3) bad input gets an error naming the place.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { Key } from '../../src/tensor/random';
import { normalKnownVariance } from '../../src/testing/exact';
import { vi } from '../../src/infer/vi';
import type { DataInput } from '../../src/model/data';
import { NORMAL_MEAN, HIER } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const model = compile(NORMAL_MEAN);
const rng = Key.seed(21).rng();
const y = Array.from({ length: 400 }, () => Math.fround(0.5 + 1.5 * rng.normal()));
const chunks = Array.from({ length: 4 }, (_, c) => ({ y: y.slice(c * 100, (c + 1) * 100) }));
const base = { method: 'vi' as const, guide: 'fullrank' as const, samples: 4, stopAtConvergence: false, seed: 1 };

async function* oneShot(): AsyncGenerator<DataInput> {
  for (const c of chunks) yield c;
}

describe('a chunked SVI fit of the normal mean with known variance', () => {
  it('agrees with the in-memory minibatch fit and the exact posterior', async () => {
    // N = 400 rows in 4 chunks of 100, 20 rows per step, 4000 steps of 4 draws. Over seeds
    // 1..8 the in-memory fit's errors were at most 0.030 posterior sds in the mean and 4.5% in
    // the sd (RMS 0.014 and 2.3%), the chunked fit's 0.026 and 7.1% (RMS 0.013 and 3.4%), and
    // the two differed by at most 0.008 sds in the mean and 4.6% in the sd (the same noise
    // stream, different batches). Tolerances: about 3 of those worst cases. A likelihood
    // scaled by the chunk's rows instead of N (a factor 4) would double the sd.
    const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const sd = Math.sqrt(exact.variance);
    const mem = vi(model.bind({ y }), { ...base, minibatch: { data: 'y', size: 20 }, steps: 4000 });
    const fit = await model.fit(chunks, { ...base, minibatch: { data: 'y', size: 20 }, steps: 4000 });
    expect(fit.steps).toBe(4000);
    const mean = (r: typeof mem) => r.guide.mean()[0];
    const sdOf = (r: typeof mem) => Math.sqrt(r.guide.covariance()[0][0]);
    expect(Math.abs(mean(mem) - exact.mean) / sd, 'in-memory mean').toBeLessThan(0.1);
    expect(Math.abs(sdOf(mem) / sd - 1), 'in-memory sd').toBeLessThan(0.15);
    expect(Math.abs(mean(fit) - exact.mean) / sd, 'chunked mean').toBeLessThan(0.1);
    expect(Math.abs(sdOf(fit) / sd - 1), 'chunked sd').toBeLessThan(0.2);
    expect(Math.abs(mean(fit) - mean(mem)) / sd, 'chunked vs in-memory mean').toBeLessThan(0.03);
    expect(Math.abs(sdOf(fit) / sdOf(mem) - 1), 'chunked vs in-memory sd').toBeLessThan(0.15);
    // The result is a ViResult: draws in the MCMC layout; PSIS needs the full data, not held.
    expect(fit.names).toEqual(['mu']);
    expect(fit.summary(400)[0].name).toBe('mu');
    expect(() => fit.psis(10)).toThrow(/holds no full data/);
  }, 60_000);

  it('reads an array, a function and a one-shot async generator (with totalRows) the same way', async () => {
    // One pass of 400 rows is 20 steps of 20; the one-shot source ends the run there.
    const opts = { ...base, minibatch: { data: 'y', size: 20 }, steps: 20 };
    const a = await model.fit(chunks, opts);
    const f = await model.fit(() => chunks, opts);
    const g = await model.fit(oneShot(), { ...base, minibatch: { data: 'y', size: 20, totalRows: 400 }, steps: 1000 });
    expect(g.steps).toBe(20);
    expect(Array.from(f.params)).toEqual(Array.from(a.params));
    expect(Array.from(g.params)).toEqual(Array.from(a.params));
    // Re-readable sources start another pass: 50 steps are 2.5 passes.
    expect((await model.fit(() => chunks, { ...opts, steps: 50 })).steps).toBe(50);
  }, 60_000);
});

describe('chunked SVI: bad input', () => {
  const mb = { data: 'y', size: 20 };
  it('names the chunk with wrong columns, an empty source and a one-shot source without totalRows', async () => {
    await expect(model.fit([{ y: [1, 2] }, { x: [1, 2] }], { ...base, minibatch: mb, steps: 5 })).rejects.toThrow(
      /chunk 2 of the counting pass has columns x; expected y \(minibatch.data\): missing y; not expected x/,
    );
    await expect(model.fit([{ y: [1, 2] }, { y: [3], z: [1] }], { ...base, minibatch: { ...mb, totalRows: 3 }, steps: 5 })).rejects.toThrow(
      /chunk 2 of pass 1 has columns y, z; expected y .*not expected z/,
    );
    await expect(model.fit([], { ...base, minibatch: mb, steps: 5 })).rejects.toThrow(/the chunk source gave no rows/);
    await expect(model.fit([], { ...base, minibatch: { ...mb, totalRows: 10 }, steps: 5 })).rejects.toThrow(/the chunk source gave no rows/);
    await expect(model.fit(oneShot(), { ...base, minibatch: mb, steps: 5 })).rejects.toThrow(/minibatch.totalRows is needed for a one-shot chunk source/);
    await expect(model.fit(chunks, { ...base, steps: 5 })).rejects.toThrow(/data in chunks needs minibatch/);
    await expect(model.fit(chunks, { ...base, minibatch: { ...mb, totalRows: 399 }, steps: 500 })).rejects.toThrow(/pass 1 over the chunk source read 400 rows, but minibatch.totalRows is 399/);
    await expect(model.fit([{ y: [1, 'a'] as unknown as number[] }], { ...base, minibatch: mb, steps: 5 })).rejects.toThrow(/chunk 1 of pass 1 does not bind/);
  });

  it('takes shared data from minibatch.shared, and refuses it elsewhere', async () => {
    // The normal-mean model with its sd as data: the same potential, so the same fit.
    const withSd = compile(`model normal_mean_sd {
      data y: real[N]
      data s: positive
      param mu: real
      mu ~ normal(1, 2)
      for n in 1..N { y[n] ~ normal(mu, s) }
    }`);
    const opts = { ...base, steps: 30 };
    const a = await model.fit(chunks, { ...opts, minibatch: mb });
    const b = await withSd.fit(chunks, { ...opts, minibatch: { ...mb, shared: { s: 1.5 } } });
    for (let i = 0; i < a.params.length; i++) expect(b.params[i]).toBeCloseTo(a.params[i], 9);
    await expect(withSd.fit(chunks, { ...opts, minibatch: mb })).rejects.toThrow(/chunk 1 of pass 1 does not bind/);
    await expect(withSd.fit(chunks, { ...opts, minibatch: { ...mb, shared: { y: [1] } } })).rejects.toThrow(/minibatch.shared has 'y', a row column/);
    expect(() => vi(model.bind({ y }), { minibatch: { ...mb, totalRows: 400 } })).toThrow(/totalRows and minibatch.shared apply to data in chunks/);
  });

  it('refuses a model whose likelihood couples the rows (an HMM chain), checked on the first chunk', async () => {
    const geyser = compile(readFileSync('examples/geyser-hmm/geyser.mix', 'utf8'));
    const obs = readFileSync('examples/geyser-hmm/geyser.csv', 'utf8').trim().split('\n').filter((l) => /^[0-9]/.test(l)).map(Number);
    const parts = [{ y: obs.slice(0, 100) }, { y: obs.slice(100, 200) }];
    await expect(geyser.fit(parts, { method: 'vi', minibatch: mb, steps: 5 })).rejects.toThrow(/does not split over the rows of 'y'/);
  });

  it('refuses a model with a parameter per data row unless the guide amortises it (vi-chunked-amortized.test.ts)', async () => {
    const hier = compile(HIER);
    await expect(hier.fit([{ y: [1, 2, 3] }], { method: 'vi', guide: 'fullrank', minibatch: mb, steps: 5 })).rejects.toThrow(
      /parameter 'theta' has a row per data row.*use guide: 'amortized'/,
    );
  });
});
