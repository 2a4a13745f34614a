// Gibbs over the discrete latents interleaved with NUTS on the parameters, and the
// marginalised NUTS default, against the exact posterior of a small mixture computed by
// summing over all 2^N allocations in float64 in the test (normal-normal conjugacy for
// each allocation). Checks are within 4 MCSE (multi-chain, Vehtari et al. 2021).
import { chainsZScore as z } from './hmc-helpers';
import { exactAllocationPosterior } from './exact-allocation';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample } from '../../../src/infer/mcmc';

beforeAll(async () => {
  await ensureBackend();
});

const MODEL = `
model tiny {
  data y: real[N]
  param mu: real[2]
  mu ~ normal(0, 2)
  for n in 1..N {
    z[n] ~ categorical([0.3, 0.7])
    y[n] ~ normal(mu[z[n]], 1)
  }
}`;
const y = [-1.5, -0.8, 1.2, 2.0];
const PRIOR_VAR = 4;
const P = [0.3, 0.7];

const exact = () => exactAllocationPosterior(y, PRIOR_VAR, { fixed: P });


describe('discrete latents', () => {
  const ex = exact();
  const model = compile(MODEL);

  for (const latents of ['marginalize', 'gibbs'] as const) {
    it(`${latents}: posterior mean and second moment of mu within 4 MCSE of the exact mixture posterior`, () => {
      const fit = sample(model.bind({ y }), { chains: 4, warmup: 400, draws: 600, seed: 17, latents });
      for (let k = 0; k < 2; k++) {
        const d = fit.draws(`mu.${k + 1}`);
        const zm = z(d, ex.mean[k]);
        const zs = z(d.map((c) => c.map((x) => x * x)), ex.second[k]);
        expect(Math.abs(zm), `mu.${k + 1} mean z = ${zm.toFixed(2)}`).toBeLessThan(4);
        expect(Math.abs(zs), `mu.${k + 1} second moment z = ${zs.toFixed(2)}`).toBeLessThan(4);
      }
    });
  }

  it('gibbs: the drawn allocations have the exact posterior frequencies (within 4 MCSE)', () => {
    const fit = sample(model.bind({ y }), { chains: 4, warmup: 400, draws: 600, seed: 18, latents: 'gibbs' });
    expect(fit.latentNames).toEqual(['z.1', 'z.2', 'z.3', 'z.4']);
    for (let n = 0; n < y.length; n++) {
      const ind = fit.chains.map((c) => Float64Array.from(c.latents!, (zz) => (zz[n] === 1 ? 1 : 0)));
      const zn = z(ind, ex.pz1[n]);
      expect(Math.abs(zn), `P(z[${n + 1}] = 1): z = ${zn.toFixed(2)}`).toBeLessThan(4);
    }
  });

  it('gibbs draws a chain as one block (checked against the exact path posterior in gibbs-chain.test.ts)', () => {
    const hmm = compile(`
model h {
  data y: real[T]
  param mu: real[2]
  mu ~ normal(0, 2)
  z[1] ~ categorical([0.5, 0.5])
  for t in 2..T { z[t] ~ categorical(z[t-1] == 1 ? [0.9, 0.1] : [0.2, 0.8]) }
  for t in 1..T { y[t] ~ normal(mu[z[t]], 1) }
}`);
    const fit = sample(hmm.bind({ y }), { latents: 'gibbs', chains: 1, warmup: 10, draws: 10 });
    expect(fit.latentNames).toEqual(y.map((_, t) => `z.${t + 1}`));
    for (const z of fit.chains[0].latents!) for (const v of z) expect([1, 2]).toContain(v);
  });
});
