// model.fit(data, { method }) dispatches to the inference families with the same results
// as calling them on a bound model, and refuses an unknown method by name.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, em, ensureBackend, sample, scoreSample, vi } from '../../src';
import { smc } from '../../src/infer/smc';

beforeAll(async () => {
  await ensureBackend();
});

const SRC = `
model m {
  data K: int
  data y: real[N]
  param w: simplex[K]
  param mu: ordered[K]
  param sigma: positive[K]
  w ~ dirichlet(rep(1.0, K))
  mu ~ normal(0, 5)
  sigma ~ lognormal(0, 1)
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) }
}`;
const y = [-2.1, -1.7, -2.4, -1.9, 1.8, 2.2, 2.5, 1.6, 2.0, -2.2];

describe('model.fit', () => {
  const model = compile(SRC);
  it('em: the same fit as em() on a bound model', () => {
    const a = model.fit({ K: 2, y }, { method: 'em', seed: 3 });
    const b = em(model.bind({ K: 2, y }), { seed: 3 });
    expect(a.logLik).toBe(b.logLik);
  });
  it('nuts and gibbs: the same draws as sample() with the same options', () => {
    const opts = { chains: 2, warmup: 60, draws: 20, seed: 5 };
    const a = model.fit({ K: 2, y }, { method: 'nuts', ...opts });
    const b = sample(model.bind({ K: 2, y }), opts);
    expect(a.draws('mu.1')).toEqual(b.draws('mu.1'));
    const hmc = model.fit({ K: 2, y }, { method: 'hmc', ...opts });
    expect(hmc.settings.algorithm).toBe('hmc');
  });
  it('vi and smc: the same results as vi() and smc() on a bound model', () => {
    const a = model.fit({ K: 2, y }, { method: 'vi', guide: 'fullrank', steps: 200, seed: 2 });
    const b = vi(model.bind({ K: 2, y }), { guide: 'fullrank', steps: 200, seed: 2 });
    expect(Array.from(a.params)).toEqual(Array.from(b.params));
    const c = model.fit({ K: 2, y }, { method: 'smc', particles: 100, seed: 4 });
    const d = smc(model, model.bind({ K: 2, y }), { particles: 100, seed: 4, data: { K: 2, y } });
    expect(c.logZ).toBe(d.logZ);
  });
  it('score-based methods: the same draws as scoreSample()', () => {
    const a = model.fit({ K: 2, y }, { method: 'mala', chains: 2, warmup: 50, draws: 20, seed: 6 });
    const b = scoreSample(model.bind({ K: 2, y }), { method: 'mala', chains: 2, warmup: 50, draws: 20, seed: 6 });
    expect(a.draws('mu.1')).toEqual(b.draws('mu.1'));
    expect(a.settings.algorithm).toBe('mala');
  });
  it('refuses an unknown method, listing the methods', () => {
    expect(() => model.fit({ K: 2, y }, { method: 'slice' } as never)).toThrow(/unknown method 'slice'.*em, map, mle, nuts, hmc, mh, gibbs, vi, smc, langevin, mala, annealed-langevin, rdmc/);
  });
});
