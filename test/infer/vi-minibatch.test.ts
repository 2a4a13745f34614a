// Minibatch VI (src/infer/vi/minibatch.ts): (1) the chunk potentials average to the full
// potential, value and gradient, (2) a model whose likelihood couples rows (an HMM chain) is
// refused by the split check, (3) a minibatch fit recovers an exact conjugate posterior.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { Key } from '../../src/tensor/random';
import { normalKnownVariance } from '../../src/testing/exact';
import { MinibatchPotential, vi } from '../../src/infer/vi';
import { NORMAL_MEAN } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const REG = `model reg {
  data x: real[N]
  data y: real[N]
  param a: real
  param b: real
  param s: positive
  a ~ normal(0, 5)
  b ~ normal(0, 5)
  s ~ half_normal(2)
  for n in 1..N { y[n] ~ normal(a + b * x[n], s) }
}`;

describe('MinibatchPotential', () => {
  it('the mean over chunks of U_j equals the full potential, value and gradient (two data variables, unequal chunks)', () => {
    const rng = Key.seed(3).rng();
    const x = Array.from({ length: 103 }, () => rng.normal());
    const y = x.map((v) => 1 + 2 * v + 0.5 * rng.normal());
    const bm = compile(REG).bind({ x, y });
    const mb = new MinibatchPotential(bm, { data: ['x', 'y'], size: 10 }, Key.seed(1).rng());
    expect(mb.chunks).toBe(11);
    const full = bm.potentialFunction();
    for (const u of [[0.1, -0.3, 0.2], [1, 2, -0.7]]) {
      const g = new Float64Array(3);
      const gj = new Float64Array(3);
      const v = full.valueAndGrad(u, g);
      let sv = 0;
      const sg = new Float64Array(3);
      let rows = 0;
      for (let j = 0; j < mb.chunks; j++) {
        mb.select(j);
        sv += mb.valueAndGrad(u, gj) / mb.chunks;
        for (let i = 0; i < 3; i++) sg[i] += gj[i] / mb.chunks;
        rows += mb.rowsOf(j);
      }
      expect(rows).toBe(103);
      expect(sv).toBeCloseTo(v, 8);
      for (let i = 0; i < 3; i++) expect(sg[i]).toBeCloseTo(g[i], 8);
    }
    mb.checkSplits([new Float64Array(3)]);
    mb.dispose();
  });

  it('refuses a model whose likelihood couples the rows (an HMM chain over y), bad names and sizes', () => {
    const geyser = compile(readFileSync('examples/geyser-hmm/geyser.mix', 'utf8'));
    const y = readFileSync('examples/geyser-hmm/geyser.csv', 'utf8').trim().split('\n').filter((l) => /^[0-9]/.test(l)).map(Number);
    const bm = geyser.bind({ y });
    expect(() => vi(bm, { minibatch: { data: 'y', size: 50 }, steps: 10 })).toThrow(/does not split over the rows of 'y'/);
    expect(() => vi(bm, { minibatch: { data: 'x', size: 50 }, steps: 10 })).toThrow(/'x' is not a data variable of the model; data: y/);
    expect(() => vi(bm, { minibatch: { data: 'y', size: 0 }, steps: 10 })).toThrow(/minibatch.size must be an integer in 1\.\./);
  });
});

describe('a minibatch fit', () => {
  it('recovers the exact posterior of the normal mean with known variance', () => {
    // N = 400 rows in 20 chunks of 20. Tolerances: over seeds 1..8 (10000 steps of 4 draws)
    // the root-mean-square errors were 0.009 posterior sds in the mean and 4.9% in the
    // variance (largest 0.018 and 9.5%: the chunk noise adds to the ELBO's); the checks allow
    // 4 RMS errors, 0.04 sd and 20%, far below the initial error (the guide starts at mu = 0,
    // several sds away, with a variance 178 times the posterior's).
    const rng = Key.seed(21).rng();
    const y = Array.from({ length: 400 }, () => Math.fround(0.5 + 1.5 * rng.normal()));
    const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const bm = compile(NORMAL_MEAN).bind({ y });
    const fit = vi(bm, { guide: 'fullrank', minibatch: { data: 'y', size: 20 }, samples: 4, steps: 10000, stopAtConvergence: false, seed: 1 });
    const sd = Math.sqrt(exact.variance);
    expect(Math.abs(fit.guide.mean()[0] - exact.mean) / sd).toBeLessThan(0.04);
    expect(Math.abs(fit.guide.covariance()[0][0] / exact.variance - 1)).toBeLessThan(0.2);
  });
});
