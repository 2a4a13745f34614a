// Exact Gibbs block of the diagonal D-dimensional normal mixture (stdlib/gmm_diag.mix form;
// src/infer/mcmc/conjugate-normal.ts findDiagNormalMixtureBlocks, diagNormalMixtureUpdate).
// - Recognition from the IR: gmm_diag is one block with D = 2 (row-major [K, D] offsets),
//   not a 1-D block; describeConjugateBlocks lists it and leaves no coordinate to the slice
//   updates; 'auto' picks slice + Gibbs. Refused: sigma shared across components, a
//   non-normal prior on mu, a non-half-normal prior on sigma, another factor on mu.
// - Posterior means on a tiny 2-D data set (N = 6, K = 2, w ~ Dirichlet(1, 1), overlapping
//   clusters) from sample(..., algorithm: 'auto') against an exact enumeration of all 2^6
//   allocations (given z the dims are independent 1-D problems: mu integrated in closed form,
//   sigma on a grid in log sigma). The labels are not identified (unordered mu), so the
//   checked quantities are label-invariant: E[Σ_k w_k mu_kd], E[Σ_k w_k sigma_kd] per d, and
//   the cross-dimension E[Σ_k w_k mu_k1 mu_k2], E[Σ_k w_k sigma_k1 sigma_k2] (these need the
//   dims to share one allocation). Each within 4 MCSE (the sampler's mcseMean of the derived
//   quantity; the reference's grid error is checked below 1e-4): a correct sampler fails one
//   of the 6 checks with probability ~4e-4. Checked by hand: the collapsed latent weight with
//   only the first dimension's predictive (dims not multiplied) fails it.
// Fixed seeds throughout.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compile, ensureBackend } from '../../../src';
import { resolveAutoAlgorithm, sample } from '../../../src/infer/mcmc';
import { describeConjugateBlocks } from '../../../src/infer/mcmc/conjugate-gibbs';
import { findDiagNormalMixtureBlocks, findNormalMixtureBlocks } from '../../../src/infer/mcmc/conjugate-normal';
import { mcseMean } from '../../../src/infer/mcmc/diagnostics';
import { diagSource, exactDiag } from '../exact-mixture';

beforeAll(async () => {
  await ensureBackend();
});

const x = [[-1.2, 0.4], [-0.6, -0.3], [0.1, 0.9], [0.7, 1.6], [1.4, 1.1], [2.1, 2.4]];

describe('diagonal normal mixture blocks', () => {
  it('gmm_diag is one D = 2 block with row-major [K, D] coordinates', () => {
    const gm = compile(readFileSync(new URL('../../../stdlib/gmm_diag.mix', import.meta.url), 'utf8'));
    const b = gm.bind({ K: 2, x });
    expect(findNormalMixtureBlocks(b)).toHaveLength(0);
    const blocks = findDiagNormalMixtureBlocks(b);
    expect(blocks).toHaveLength(1);
    const [blk] = blocks;
    expect([blk.K, blk.D, blk.latent, blk.w, blk.mu.name, blk.sigma.name]).toEqual([2, 2, 'z', 'w', 'mu', 'sigma']);
    expect(Array.from(blk.x)).toEqual(x.flat().map((v) => Math.fround(v)));
    const mu = b.params.find((p) => p.name === 'mu')!;
    const sigma = b.params.find((p) => p.name === 'sigma')!;
    expect([blk.mu.offset, blk.sigma.offset]).toEqual([mu.offset, sigma.offset]);
    expect(Array.from(blk.mu.m0)).toEqual([0, 0, 0, 0]);
    expect(Array.from(blk.mu.s0)).toEqual([10, 10, 10, 10]);
    expect(Array.from(blk.sigma.halfNormalScale)).toEqual([5, 5, 5, 5]);
    // Row-major: unconstrained coordinate offset + k·D + d is the constrained mu.(k+1).(d+1).
    const u = new Float64Array(b.dim).map((_, i) => 0.1 * i);
    const names = b.constrainedFunction().names;
    const vals = b.constrainedFunction().evaluate(u);
    expect(vals[names.indexOf('mu.2.1')]).toBeCloseTo(u[mu.offset + 2], 12);
    expect(vals[names.indexOf('sigma.1.2')]).toBeCloseTo(Math.exp(u[sigma.offset + 1]), 12);
    const desc = describeConjugateBlocks(b, 'sort', true, 2);
    expect(desc.blocks).toEqual([
      { kind: 'normal-mixture', params: ['mu', 'sigma'], latents: ['z'], collapsedLatents: true, sweeps: 2, dims: 2 },
      { kind: 'dirichlet-categorical', params: ['w'], latents: ['z'] },
    ]);
    expect(new Set(desc.coords).size).toBe(b.dim);
    expect(resolveAutoAlgorithm(b, { algorithm: 'auto' })).toMatchObject({ algorithm: 'slice', latents: 'gibbs', conjugateSweeps: 2 });
    b.dispose();
  });

  it('are refused for a shared sigma, a non-normal mu prior, a non-half-normal sigma prior or another factor on mu', () => {
    const variants = [
      diagSource({ sigma: 'positive[D]', obsSigma: 'sigma' }),
      diagSource({ muPrior: 'student_t(3, 0, 3)' }),
      diagSource({ sigmaPrior: 'exponential(1)' }),
      diagSource({ extra: 'target += -0.5 * mu[1, 1] * mu[1, 1]' }),
    ];
    for (const src of variants) {
      const b = compile(src).bind({ x });
      expect(findDiagNormalMixtureBlocks(b), src).toHaveLength(0);
      expect(resolveAutoAlgorithm(b, { algorithm: 'auto' }).algorithm, src).toBe('nuts');
      b.dispose();
    }
    // The unmodified source is recognised (so the refusals above are the variations').
    const ok = compile(diagSource()).bind({ x });
    expect(findDiagNormalMixtureBlocks(ok)).toHaveLength(1);
    ok.dispose();
  });
});

describe('slice + Gibbs with the diagonal block on a tiny 2-D mixture', () => {
  const xf = x.map((r) => r.map((v) => Math.fround(v)));
  const exact = exactDiag(xf, 0, 3, 2).means;
  const labels = ['E[Σ w mu.1]', 'E[Σ w mu.2]', 'E[Σ w sigma.1]', 'E[Σ w sigma.2]', 'E[Σ w mu.1 mu.2]', 'E[Σ w sigma.1 sigma.2]'];
  it('the exact reference is converged in its grid', () => {
    const fine = exactDiag(xf, 0, 3, 2, 800).means;
    exact.forEach((e, q) => expect(Math.abs(e - fine[q]), labels[q]).toBeLessThan(1e-4));
  });
  it("algorithm 'auto': label-invariant posterior means agree with the exact ones within 4 MCSE", () => {
    const bound = compile(diagSource()).bind({ x });
    const fit = sample(bound, { algorithm: 'auto', chains: 4, warmup: 300, draws: 3000, seed: 7 });
    bound.dispose();
    expect(fit.settings.exactBlocks?.[0]).toMatchObject({ kind: 'normal-mixture', dims: 2, collapsedLatents: true });
    expect(fit.settings.sliceCoords).toBe(0);
    const names = fit.names;
    const at = (n: string) => names.indexOf(n);
    const iw = [at('w.1'), at('w.2')];
    const imu = [[at('mu.1.1'), at('mu.1.2')], [at('mu.2.1'), at('mu.2.2')]];
    const isd = [[at('sigma.1.1'), at('sigma.1.2')], [at('sigma.2.1'), at('sigma.2.2')]];
    const quantity = (v: Float64Array, q: number): number => {
      let s = 0;
      for (let k = 0; k < 2; k++) {
        const w = v[iw[k]];
        if (q < 2) s += w * v[imu[k][q]];
        else if (q < 4) s += w * v[isd[k][q - 2]];
        else if (q === 4) s += w * v[imu[k][0]] * v[imu[k][1]];
        else s += w * v[isd[k][0]] * v[isd[k][1]];
      }
      return s;
    };
    exact.forEach((e, q) => {
      const draws = fit.chains.map((c) => c.values.map((v) => quantity(v, q)));
      const mean = draws.flat().reduce((a, b) => a + b, 0) / draws.flat().length;
      const mcse = mcseMean(draws);
      expect(Math.abs(mean - e) / mcse, `${labels[q]}: ${mean.toFixed(4)} ± ${mcse.toFixed(4)} (MCSE), exact ${e.toFixed(4)}`).toBeLessThan(4);
    });
  });
});
