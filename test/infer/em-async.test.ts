// EM's async loop (emAsync, host-reads.ts) on wasm: the same steps as em() with every host
// read awaited, so the results must be identical (bitwise), also when the backend is made to
// look like webgpu (setSyncReadsForTesting(false): data-dependent M-step choices made on the
// device by selectOnDevice, parameters mapped back through host tensors). The webgpu runs
// themselves are in em-webgpu.test.ts (they need an adapter).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useBackend, tf, selectOnDevice, setSyncReadsForTesting, BackendUnavailableError } from '../../src/tensor';
import { compile } from '../../src';
import { em, emAsync, emResponsibilitiesAsync, predict, predictAsync, viterbi, viterbiAsync, selectModels, selectModelsAsync, type EmOptions, type EmResult } from '../../src/infer/em';
import type { DataInput } from '../../src/model/data';
import { optimize, optimizeAsync } from '../../src/infer/optimize';
import { closedFormUpdates } from '../../src/infer/em/closed-form';
import { GMM_FULL, GMM_DIAG } from './gmm-models';
import { cases, onlineChunks, onlineInit, tight, x2 } from './em-webgpu-cases';

beforeAll(async () => {
  await useBackend('wasm');
});
afterEach(() => setSyncReadsForTesting(undefined));

const same = (a: EmResult, b: EmResult) => {
  expect(b.trace).toEqual(a.trace);
  expect(b.params).toEqual(a.params);
  expect([b.iterations, b.converged, b.icl, b.warnings, b.reseeds]).toEqual([a.iterations, a.converged, a.icl, a.warnings, a.reseeds]);
};

async function both(src: string, data: DataInput, opts: EmOptions): Promise<[EmResult, EmResult, EmResult]> {
  const bm = compile(src).bind(data);
  try {
    const sync = em(bm, opts);
    const awaited = await emAsync(bm, opts);
    setSyncReadsForTesting(false);
    try {
      return [sync, awaited, await emAsync(bm, opts)];
    } finally {
      setSyncReadsForTesting(undefined);
    }
  } finally {
    bm.dispose();
  }
}


describe('emAsync gives em\'s results', () => {
  it.each(Object.keys(cases))('%s (em-webgpu-cases.ts)', async (name) => {
    const [a, b, c] = await both(cases[name].src, cases[name].data, { seed: 1, ...cases[name].opts });
    same(a, b);
    same(a, c);
  });
  it('the re-seed case re-seeds (and takes the M-step\'s precision fallbacks: a mutant choosing the fast branch fails it)', async () => {
    const [a] = await both(cases.reseed.src, cases.reseed.data, { seed: 1, ...cases.reseed.opts });
    expect(a.reseeds.length).toBeGreaterThanOrEqual(1);
  });
  it('with a re-seed (diagonal), several starts', async () => {
    const [a, b, c] = await both(GMM_DIAG, { K: 3, x: tight }, { nInit: 3, seed: 4, maxIter: 30 });
    same(a, b);
    same(a, c);
  });
});

describe('selectOnDevice', () => {
  it('gives the chosen branch whether it reads the flag or selects on the device', () => {
    for (const sync of [true, false]) {
      setSyncReadsForTesting(sync);
      for (const flag of [true, false]) {
        let ran = 0;
        const v = tf.tidy(() => selectOnDevice(tf.scalar(flag, 'bool'), () => { ran++; return tf.fill([2, 2], 1); }, () => { ran++; return tf.fill([2, 2], NaN); }).arraySync());
        expect(v).toEqual(flag ? [[1, 1], [1, 1]] : [[NaN, NaN], [NaN, NaN]]);
        expect(ran).toBe(sync ? 1 : 2);
      }
    }
  });
});

describe('without synchronous reads (as webgpu under Node.js)', () => {
  it('model.fit returns a promise of the same result, and a field read without await says to await', async () => {
    const c = cases.poisson;
    const ref = compile(c.src).fit(c.data, { method: 'em', seed: 1 });
    setSyncReadsForTesting(false);
    const p = compile(c.src).fit(c.data, { method: 'em', seed: 1 });
    expect(p).toBeInstanceOf(Promise);
    expect(() => p.logLik).toThrow(/method 'em' on this backend \(wasm, no synchronous reads\) returns a promise; await model\.fit\(\.\.\.\) before reading 'logLik'/);
    same(ref, await p);
  });
  it('em() refuses with an error naming emAsync', async () => {
    setSyncReadsForTesting(false);
    const bm = compile(GMM_FULL).bind({ K: 2, x: tight });
    expect(() => em(bm)).toThrow(BackendUnavailableError);
    expect(() => em(bm)).toThrow(/em\(\) reads the log likelihood synchronously.*use 'await emAsync\(bm, opts\)'/);
    bm.dispose();
  });
  it('the cases of updates solved on the host take them (so the forced-async runs above read their statistics between updates)', () => {
    const rules: Record<string, string[]> = {
      ordered: ['normal ordered component means'], studentTOrdered: ['student_t ordered component locations'], gamma: ['gamma component shapes'],
    };
    for (const [name, want] of Object.entries(rules)) {
      const bm = compile(cases[name].src).bind(cases[name].data);
      try {
        expect(closedFormUpdates(bm, { priors: false }).filter((u) => u.hostReads).map((u) => u.rule), name).toEqual(want);
      } finally {
        bm.dispose();
      }
    }
  });

  it('MAP / MLE: optimizeAsync takes optimize\'s steps (bitwise), also forced async, where model.fit takes it', async () => {
    const m = compile(cases.studentT.src);
    const bm = m.bind(cases.studentT.data);
    try {
      for (const method of ['map', 'mle'] as const) {
        const opts = { method, seed: 2, nInit: 2 };
        const sync = optimize(bm, opts);
        const awaited = await optimizeAsync(bm, opts);
        setSyncReadsForTesting(false);
        const forced = await m.fit(cases.studentT.data, opts);
        setSyncReadsForTesting(undefined);
        for (const r of [awaited, forced]) {
          expect([r.logDensity, r.iterations, r.trace, r.starts, r.params]).toEqual([sync.logDensity, sync.iterations, sync.trace, sync.starts, sync.params]);
        }
      }
    } finally {
      bm.dispose();
    }
  });

  it('model selection: selectModelsAsync gives selectModels\'s table exactly; selectModels refuses, naming the async one', async () => {
    const models = [{ model: compile(GMM_FULL), label: 'full' }, { model: compile(GMM_DIAG), label: 'diag' }];
    const data = { x: cases.full.data.x };
    const ref = selectModels(models, data, { K: [1, 2, 3], seed: 1 });
    setSyncReadsForTesting(false);
    const got = await selectModelsAsync(models, data, { K: [1, 2, 3], seed: 1 });
    const strip = (r: typeof ref) => r.rows.map(({ fit: _f, ...row }) => row);
    expect(strip(got)).toEqual(strip(ref));
    expect([got.best.model, got.best.K]).toEqual([ref.best.model, ref.best.K]);
    expect(() => selectModels(models, data, { K: [2], seed: 1 })).toThrow(/emAsync/);
  });

  it('responsibilities of models the fused Gaussian E-step does not take (a Poisson mixture, an HMM with pairwise marginals): emResponsibilitiesAsync gives latentMarginals', async () => {
    for (const name of ['poisson', 'hmm']) {
      const bm = compile(cases[name].src).bind(cases[name].data);
      try {
        const fit = em(bm, { seed: 1 });
        const ref = bm.latentMarginals(fit.params as never);
        setSyncReadsForTesting(false);
        const got = await emResponsibilitiesAsync(bm, fit.params as never);
        setSyncReadsForTesting(undefined);
        expect(got, name).toEqual(ref);
        if (name === 'hmm') expect(Object.values(got)[0]).toHaveProperty('pairwise');
      } finally {
        setSyncReadsForTesting(undefined);
        bm.dispose();
      }
    }
  });
  it('online EM from starting values (init): the sync run\'s trace and estimate', async () => {
    const opts = { method: 'em' as const, online: { passes: 2, data: { K: 3 }, init: onlineInit }, seed: 1 };
    const ref = await compile(cases.full.src).fit(onlineChunks(), opts);
    setSyncReadsForTesting(false);
    const got = await compile(cases.full.src).fit(onlineChunks(), opts);
    expect([got.trace, got.params]).toEqual([ref.trace, ref.params]);
  });

  it('predict / predictAsync and viterbi / viterbiAsync: the same results under forced async (fused and generic E-steps, a statement without latents, lent sizes, a chain)', async () => {
    const COVMIX = `model covmix { data K: int  data u: real[N]  data y: real[N]  param a: real  param w: simplex[K]  param mu: real[K]  param s: positive[K]
      for n in 1..N { u[n] ~ normal(a, 1.5)  z[n] ~ categorical(w)  y[n] ~ normal(mu[z[n]] + u[n], s[z[n]]) } }`;
    const runs: [string, DataInput, (bm: ReturnType<ReturnType<typeof compile>['bind']>) => DataInput][] = [
      [cases.full.src, cases.full.data, () => ({ x: x2.slice(0, 25) })],
      [cases.poisson.src, cases.poisson.data, () => ({ y: [0, 3, 9, 1] })],
      [COVMIX, { K: 2, u: [0.2, -1.1, 0.9, 2.5, -0.3, 1.2], y: [-0.5, 1.9, 3.1, 0.2, 1.0, 2.2] }, () => ({ u: [0.1, 1.5], y: [0.4, 3.3] })],
    ];
    for (const [src, data, fresh] of runs) {
      const bm = compile(src).bind(data);
      try {
        const fit = em(bm, { seed: 1 });
        const ref = [predict(bm, fit.params as never, fresh(bm)), viterbi(bm, fit.params as never)];
        setSyncReadsForTesting(false);
        const got = [await predictAsync(bm, fit.params as never, fresh(bm)), await viterbiAsync(bm, fit.params as never)];
        setSyncReadsForTesting(undefined);
        expect(got).toEqual(ref);
      } finally {
        setSyncReadsForTesting(undefined);
        bm.dispose();
      }
    }
    const hmm = compile(cases.hmm.src).bind(cases.hmm.data);
    try {
      const fit = em(hmm, { seed: 1 });
      const ref = viterbi(hmm, fit.params as never);
      setSyncReadsForTesting(false);
      expect(await viterbiAsync(hmm, fit.params as never)).toEqual(ref);
    } finally {
      hmm.dispose();
    }
  });
});
