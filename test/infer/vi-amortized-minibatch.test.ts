// Minibatch VI with the amortised guide (LocalMinibatch in src/infer/vi/minibatch.ts and
// AmortizedGuide.batch): (1) a step evaluates the encoders and the model on the batch rows
// only, (2) the minibatch ELBO estimate and its gradient, averaged over the chunks, equal the
// full-data ones at fixed guide parameters and fixed noise (exactly: every row is in one chunk,
// so this is an identity up to rounding), also with a conditional guide and with a second
// group of rows that is not subsampled, (3) refusals, (4) a minibatch fit gives the closed-form
// local posteriors of the conjugate hierarchical normal model.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { Key } from '../../src/tensor/random';
import { AmortizedGuide, amortizedLayout, elboWithNoise, LocalMinibatch, vi } from '../../src/infer/vi';
import type { BoundModel } from '../../src/model/bound-model';
import { HIER, TWO_GROUPS } from './conjugate-models';
import { expectHierFactorisedOptimum, hierRows } from './hier-reference';

beforeAll(async () => {
  await ensureBackend();
});



/** Mean over the chunks of the minibatch ELBO estimate and gradient at the full noise restricted to each chunk, with the full-data ones. */
function chunkAverage(bm: BoundModel, g: AmortizedGuide, lmb: LocalMinibatch, eps: Float64Array): { full: number; avg: number; gFull: Float64Array; gAvg: Float64Array } {
  const P = g.params.length;
  const gFull = new Float64Array(P);
  const full = elboWithNoise(g, bm.potentialFunction(), [eps], gFull);
  const gAvg = new Float64Array(P);
  const gj = new Float64Array(P);
  let avg = 0;
  for (let j = 0; j < lmb.chunks; j++) {
    const { guide, potential } = lmb.select(j);
    const ej = Float64Array.from(lmb.indexOf(j), (f) => eps[f]);
    avg += elboWithNoise(guide, potential, [ej], gj) / lmb.chunks;
    for (let i = 0; i < P; i++) gAvg[i] += gj[i] / lmb.chunks;
  }
  return { full, avg, gFull, gAvg };
}

describe('amortised minibatch: one step sees the batch rows only', () => {
  it('the view and the scaled potential have the batch dimension, 1 + B', () => {
    const r = Key.seed(2).rng();
    const y = Array.from({ length: 103 }, () => r.normal());
    const bm = compile(HIER).bind({ y });
    const g = new AmortizedGuide(amortizedLayout(bm), { hidden: 3 });
    const lmb = new LocalMinibatch(bm, { data: 'y', size: 10 }, g, Key.seed(1).rng());
    expect(lmb.chunks).toBe(11);
    let rows = 0;
    for (let j = 0; j < lmb.chunks; j++) {
      const { guide, potential } = lmb.select(j);
      expect(guide.dim).toBe(1 + lmb.rowsOf(j));
      expect(potential.dim).toBe(1 + lmb.rowsOf(j));
      expect(guide.params).toBe(g.params); // the view steps the guide's own parameters
      rows += lmb.rowsOf(j);
    }
    expect(rows).toBe(103);
    lmb.dispose();
  });
});

describe('amortised minibatch ELBO: unbiased at fixed noise, value and gradient', () => {
  // Identities up to float64 rounding of sums of ~100 terms of size ~100: 1e-9 relative.
  const cases: [string, () => { bm: BoundModel; data: string | string[]; size: number; conditional: boolean }][] = [
    ['hierarchical normal, unconditional', () => ({ bm: hierModel(23, 3), data: 'y', size: 5, conditional: false })],
    ['hierarchical normal, conditional (encoders see mu)', () => ({ bm: hierModel(23, 3), data: 'y', size: 5, conditional: true })],
    ['two groups, the M rows kept whole', () => ({ bm: twoGroupModel(), data: 'w', size: 3, conditional: false })],
    ['two groups, conditional', () => ({ bm: twoGroupModel(), data: 'w', size: 4, conditional: true })],
  ];
  it.each(cases)('%s', (_name, mk) => {
    const { bm, data, size, conditional } = mk();
    const r = Key.seed(5).rng();
    const g = new AmortizedGuide(amortizedLayout(bm), { hidden: 3, conditional });
    for (let i = 0; i < g.params.length; i++) g.params[i] = 0.3 * r.normal();
    const lmb = new LocalMinibatch(bm, { data, size }, g, Key.seed(1).rng());
    expect(lmb.chunks).toBeGreaterThan(2);
    for (let rep = 0; rep < 2; rep++) {
      const eps = Float64Array.from({ length: bm.dim }, () => r.normal());
      const { full, avg, gFull, gAvg } = chunkAverage(bm, g, lmb, eps);
      expect(Number.isFinite(full)).toBe(true);
      expect(Math.abs(avg - full)).toBeLessThan(1e-9 * Math.max(1, Math.abs(full)));
      let scale = 1;
      for (const v of gFull) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < gFull.length; i++) expect(Math.abs(gAvg[i] - gFull[i]), `gradient ${i}`).toBeLessThan(1e-9 * scale);
      // One chunk alone is not the full estimate (the check above can fail).
      const { guide, potential } = lmb.select(0);
      const e0 = elboWithNoise(guide, potential, [Float64Array.from(lmb.indexOf(0), (f) => eps[f])]);
      expect(Math.abs(e0 - full)).toBeGreaterThan(1e-3);
    }
    lmb.checkSplits([new Float64Array(bm.dim)]);
    lmb.dispose();
  });

  it('refuses a subsampled local parameter left out of the amortised ones, and a non-amortised guide names the way', () => {
    const bm = twoGroupModel();
    expect(() => vi(bm, { guide: 'amortized', amortized: { local: ['c', 'e'] }, minibatch: { data: 'w', size: 3 }, steps: 5 })).toThrow(
      /needs every parameter with a row per row of the data amortised; 'b' is not/,
    );
    expect(() => vi(hierModel(10, 1), { guide: 'meanfield', minibatch: { data: 'y', size: 3 }, steps: 5 })).toThrow(/changes the number of parameters.*guide: 'amortized'/);
  });
});

function hierModel(N: number, seed: number): BoundModel {
  const r = Key.seed(seed).rng();
  return compile(HIER).bind({ y: Array.from({ length: N }, () => r.normal()) });
}

function twoGroupModel(): BoundModel {
  const r = Key.seed(9).rng();
  return compile(TWO_GROUPS).bind({ w: Array.from({ length: 11 }, () => r.normal()), v: [0.5, -0.5, 1.2] });
}

/*
 * The conjugate hierarchical normal (closed form in hier-reference.ts): θ_n | μ, y_n ~
 * N(0.2 μ + 0.8 y_n, 0.2), and the factorised guide's optimum has the exact posterior means and
 * the conditional variances (0.2 for θ_n, 1/(0.01 + N) for μ). Here N = 300 rows in 10 chunks of
 * 30, 3000 steps of 4 draws. Over seeds 1..8 the largest errors were 0.035 posterior sds in
 * E[μ], 6.0% in μ's sd (the chunk noise adds to the ELBO's), and over all rows 0.015
 * conditional sds in a local mean and 1.6% in a local sd; the tolerances are about 3 of those
 * worst cases. (The full-data fit, seeds 1..2, had 0.024 / 1.0% / 0.037 / 0.35% and took 4-5
 * times as long: its steps cost O(N).) The guide starts at N(0, 1) for every row, 4 conditional
 * sds and more from the answer.
 */
describe('an amortised minibatch fit on the conjugate hierarchical normal model', () => {
  it('gives the closed-form local posteriors', () => {
    const N = 300;
    const y = hierRows(N);
    const bm = compile(HIER).bind({ y });
    const fit = vi(bm, { guide: 'amortized', amortized: { global: 'meanfield' }, minibatch: { data: 'y', size: 30 }, steps: 3000, samples: 4, stopAtConvergence: false, seed: 1 });
    const g = fit.guide as AmortizedGuide;
    expectHierFactorisedOptimum(g.mean(), g.covariance(), y, { muMean: 0.1, muSd: 0.18, localMean: 0.05, localSd: 0.05 });
    // The draws cover every row (the result is over the full u, as without minibatch).
    expect(fit.draws(2)[0].length).toBe(1 + N);
  }, 60_000);
});
