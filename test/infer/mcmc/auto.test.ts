// `algorithm: 'auto'` (resolveAutoAlgorithm): the JAGS-style sampler with conjugate draws where
// the IR has a normal-mixture block, NUTS otherwise — checked by the draws being identical to
// the explicitly configured run with the same seed.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample, type SampleOptions } from '../../../src/infer/mcmc';

beforeAll(async () => {
  await ensureBackend();
});

const galaxies = compile(readFileSync('examples/galaxies/galaxies.mix', 'utf8'));
const y = [9.2, 10.4, 16.1, 18.6, 19.4, 19.8, 20.2, 20.8, 21.1, 21.7, 22.3, 22.9, 23.5, 24.1, 26.0, 32.8, 34.3];
const poisson = compile(`model pm { data K: int  data y: int[N]  param w: simplex[K]  param lambda: positive_ordered[K]
  lambda ~ gamma(2, 0.5)
  for n in 1..N { y[n] ~ mixture(w, k -> poisson(lambda[k])) } }`);
const base: SampleOptions = { chains: 1, warmup: 60, draws: 40, seed: 7 };
const draws = (r: ReturnType<typeof sample>) => r.chains.map((c) => c.values.map((v) => Array.from(v)));

describe("algorithm: 'auto'", () => {
  it('takes slice + Gibbs with conjugate draws (2 sweeps) for a normal mixture', () => {
    const bm = galaxies.bind({ K: 3, y });
    const auto = sample(bm, { ...base, algorithm: 'auto' });
    const explicit = sample(bm, { ...base, algorithm: 'slice', latents: 'gibbs', conjugateSweeps: 2 });
    expect(auto.settings.algorithm).toBe('slice');
    expect(auto.latentNames.length).toBeGreaterThan(0);
    expect(draws(auto)).toEqual(draws(explicit));
    // ...and it differs from one sweep (the choice of sweeps matters to the check above).
    expect(draws(auto)).not.toEqual(draws(sample(bm, { ...base, algorithm: 'slice', latents: 'gibbs' })));
  });
  it('takes NUTS where there is no normal-mixture block, or latents are to be summed out', () => {
    const pm = poisson.bind({ K: 2, y: [0, 1, 1, 2, 3, 8, 9, 11, 12, 10] });
    const a = sample(pm, { ...base, algorithm: 'auto' });
    expect(a.settings.algorithm).toBe('nuts');
    expect(draws(a)).toEqual(draws(sample(pm, { ...base, algorithm: 'nuts' })));
    const bm = galaxies.bind({ K: 3, y });
    const m = sample(bm, { ...base, algorithm: 'auto', latents: 'marginalize' });
    expect(m.settings.algorithm).toBe('nuts');
    expect(m.latentNames).toEqual([]);
  });
});
