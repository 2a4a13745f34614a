// model.fit with method 'em' and `online`: a stream of chunks (array, generator or async
// generator) goes to online EM (the same result as onlineEm with the same options), and a
// single data object is refused with a message that says what to pass.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend, Key } from '../../src';
import { onlineEm } from '../../src/infer/em/online';

beforeAll(async () => {
  await ensureBackend();
});

const SRC = `model g { data K: int  data y: real[N]  param w: simplex[K]  param mu: real[K]  param sigma: positive[K]
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) } }`;
const rng = Key.seed(8).rng();
const y = Array.from({ length: 1200 }, () => (rng.uniform() < 0.4 ? -2 : 3) + rng.normal());
const chunks = Array.from({ length: 6 }, (_, i) => ({ y: y.slice(i * 200, (i + 1) * 200) }));

describe('model.fit online EM', () => {
  it('an async generator of chunks gives onlineEm\'s result', async () => {
    const model = compile(SRC);
    async function* stream() {
      for (const c of chunks) yield c;
    }
    const viaFit = await model.fit(stream(), { method: 'em', online: { data: { K: 2 } }, seed: 3 });
    const direct = await onlineEm(model, chunks, { data: { K: 2 }, seed: 3 });
    expect(viaFit.params).toEqual(direct.params);
    expect(viaFit.updates).toBe(6);
    const w = viaFit.params.w as number[];
    expect(w[0] + w[1]).toBeCloseTo(1, 9);
    // a sanity check only (accuracy against batch EM is tested in test/infer/em-online.test.ts):
    // the two clusters at -2 and 3 (sd 1); each mean's SE is about 0.05
    const mu = (viaFit.params.mu as number[]).slice().sort((a, b) => a - b);
    expect(Math.abs(mu[0] + 2)).toBeLessThan(0.5);
    expect(Math.abs(mu[1] - 3)).toBeLessThan(0.5);
  });

  it('several passes need a source that can be read again: a function returning a fresh generator', async () => {
    const model = compile(SRC);
    const r = await model.fit(() => chunks.values(), { method: 'em', online: { data: { K: 2 }, passes: 2 } });
    expect(r.updates).toBe(12);
  });

  it('one data object with online is refused', async () => {
    const model = compile(SRC);
    await expect(model.fit({ K: 2, y } as never, { method: 'em', online: true })).rejects.toThrow(/online takes a stream of data chunks/);
  });
});
