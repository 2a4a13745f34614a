// Chunked SVI with the amortised guide (src/infer/vi/chunked.ts with AmortizedBatches in
// src/infer/vi/minibatch.ts): local parameters are not held, their draws come from the
// encoders on each batch's rows. (1) A batch taken from a chunk's binding gives the same ELBO
// estimate and gradient, at fixed guide parameters and noise, as the in-memory minibatch
// (LocalMinibatch) on the same rows — an identity, also conditional and with a group of rows
// kept whole; (2) over batches of unequal sizes B_b, the B_b / N-weighted mean of the estimates
// with the N / B_b scaling is the full-data one exactly, with the guide built on the first
// chunk; (3) through model.fit, one chunk holding every row gives step for step the in-memory
// run's objective and parameters; (4) a 4-chunk fit recovers the closed-form posterior of the
// conjugate hierarchical normal model; (5) refusals and what the result holds.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { Key } from '../../src/tensor/random';
import { AmortizedBatches, AmortizedGuide, amortizedLayout, elboWithNoise, LocalMinibatch, type Guide, type Potential } from '../../src/infer/vi';
import { bindRows } from '../../src/infer/vi/minibatch';
import { runConfig, Trainer } from '../../src/infer/vi/train';
import type { BoundModel } from '../../src/model/bound-model';
import type { DataInput } from '../../src/model/data';
import { HIER, TWO_GROUPS } from './conjugate-models';
import { expectHierFactorisedOptimum, hierPosterior, hierRows } from './hier-reference';

beforeAll(async () => {
  await ensureBackend();
});

const V = [0.5, -0.5, 1.2];

function randomRows(n: number, seed: number): number[] {
  const r = Key.seed(seed).rng();
  return Array.from({ length: n }, () => r.normal());
}

function elboAndGrad(g: Guide, p: Potential, eps: Float64Array): { v: number; grad: Float64Array } {
  const grad = new Float64Array(g.params.length);
  return { v: elboWithNoise(g, p, [eps], grad), grad };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe('a batch of a chunk equals the in-memory minibatch on the same rows', () => {
  // N = 40 rows in 4 in-memory chunks of exactly 10, so M = 4 = N / B and the two scalings
  // agree. The chunk holds the in-memory chunk's rows interleaved with 10 others, in their
  // original order; the batch is bound from that chunk's binding, as chunked.ts binds it.
  // Both sides run the same arithmetic on the same numbers: equal up to rounding (1e-12).
  const cases: [string, string, DataInput, boolean][] = [
    ['hierarchical normal, unconditional', HIER, {}, false],
    ['hierarchical normal, conditional', HIER, {}, true],
    ['two groups, v shared and kept whole', TWO_GROUPS, { v: V }, false],
    ['two groups, conditional', TWO_GROUPS, { v: V }, true],
  ];
  it.each(cases)('%s', (_name, src, shared, conditional) => {
    const model = compile(src);
    const col = src === HIER ? 'y' : 'w';
    const rows = randomRows(40, 3);
    const bm = model.bind({ ...shared, [col]: rows });
    const g = new AmortizedGuide(amortizedLayout(bm), { hidden: 3, conditional });
    const r = Key.seed(5).rng();
    for (let i = 0; i < g.params.length; i++) g.params[i] = 0.3 * r.normal();
    const lmb = new LocalMinibatch(bm, { data: col, size: 10 }, g, Key.seed(1).rng());
    expect(lmb.chunks).toBe(4);
    const batches = new AmortizedBatches(bm, [col], g);
    const local = bm.params.find((p) => p.name === (src === HIER ? 'theta' : 'b'))!;
    try {
      for (let j = 0; j < 4; j++) {
        // The in-memory chunk's rows, read off its index map (row n's coordinate of theta / b).
        const toFull = lmb.indexOf(j);
        const inChunk: number[] = [];
        for (const f of toFull) if (f >= local.offset && f < local.offset + local.size) inChunk.push(f - local.offset);
        expect(inChunk.length).toBe(10);
        const others = lmb.indexOf((j + 1) % 4);
        const chunkRows = [...new Set([...inChunk, ...Array.from(others).filter((f) => f >= local.offset && f < local.offset + local.size).map((f) => f - local.offset)])].sort((a, b) => a - b);
        const bc = model.bind({ ...shared, [col]: chunkRows.map((n) => rows[n]) });
        const bb = bindRows(bc, [col], Int32Array.from(inChunk, (n) => chunkRows.indexOf(n)));
        try {
          const eps = Float64Array.from({ length: bm.dim }, () => r.normal());
          const ej = Float64Array.from(toFull, (f) => eps[f]);
          const mem = lmb.select(j);
          const chk = batches.view(bb, 40 / 10);
          expect(chk.guide.dim).toBe(mem.guide.dim);
          const a = elboAndGrad(mem.guide, mem.potential, ej);
          const b = elboAndGrad(chk.guide, chk.potential, ej);
          expect(Number.isFinite(a.v)).toBe(true);
          expect(Math.abs(b.v - a.v)).toBeLessThan(1e-12 * Math.max(1, Math.abs(a.v)));
          const s = maxAbs(a.grad);
          for (let i = 0; i < a.grad.length; i++) expect(Math.abs(b.grad[i] - a.grad[i]), `gradient ${i}`).toBeLessThan(1e-12 * s);
          // The check can fail: scaling the batch by the chunk's rows (20 / 10) instead of N / B.
          const wrong = batches.view(bb, 20 / 10);
          expect(Math.abs(elboWithNoise(wrong.guide, wrong.potential, [ej]) - a.v)).toBeGreaterThan(1e-3);
        } finally {
          bb.dispose();
          bc.dispose();
        }
      }
    } finally {
      batches.dispose();
      lmb.dispose();
    }
  });
});

describe('batches of unequal sizes: the weighted mean of the scaled estimates is the full-data one', () => {
  // Two chunks of 20 rows split into batches of 7 + 13 and 9 + 11 rows; the guide is built on
  // the first chunk (as chunked.ts builds it), the full-data estimate is its view on all the
  // rows at scale 1. Σ_b (B_b / N) [G + (N / B_b)(U_b − G)] = G + Σ_b (U_b − G) = U, and so for
  // log q: an identity up to rounding of sums of ~40 terms (1e-9 relative).
  it.each([false, true])('conditional %s', (conditional) => {
    const model = compile(HIER);
    const y = randomRows(40, 11);
    const N = y.length;
    const bm = model.bind({ y });
    const c1 = model.bind({ y: y.slice(0, 20) });
    const c2 = model.bind({ y: y.slice(20) });
    const g = new AmortizedGuide(amortizedLayout(c1), { hidden: 3, conditional });
    const r = Key.seed(8).rng();
    for (let i = 0; i < g.params.length; i++) g.params[i] = 0.3 * r.normal();
    const batches = new AmortizedBatches(c1, ['y'], g);
    const parts: [BoundModel, number[]][] = [
      [c1, [0, 2, 3, 7, 11, 12, 19]],
      [c1, [1, 4, 5, 6, 8, 9, 10, 13, 14, 15, 16, 17, 18]],
      [c2, [0, 1, 5, 6, 8, 12, 13, 17, 18]],
      [c2, [2, 3, 4, 7, 9, 10, 11, 14, 15, 16, 19]],
    ];
    try {
      for (let rep = 0; rep < 2; rep++) {
        // Noise over the full u (mu, theta_1..theta_N); a batch takes mu's and its rows'.
        const eps = Float64Array.from({ length: bm.dim }, () => r.normal());
        const whole = batches.view(bm, 1);
        const full = elboAndGrad(whole.guide, bm.potentialFunction(), eps);
        let avg = 0;
        const gAvg = new Float64Array(g.params.length);
        let one = NaN;
        parts.forEach(([bc, idx], k) => {
          const off = bc === c1 ? 0 : 20;
          const bb = bindRows(bc, ['y'], Int32Array.from(idx));
          try {
            const B = idx.length;
            const { guide, potential } = batches.view(bb, N / B);
            const e = elboAndGrad(guide, potential, Float64Array.from({ length: 1 + B }, (_, i) => (i === 0 ? eps[0] : eps[1 + off + idx[i - 1]])));
            avg += (B / N) * e.v;
            for (let i = 0; i < gAvg.length; i++) gAvg[i] += (B / N) * e.grad[i];
            if (k === 0) one = e.v;
          } finally {
            bb.dispose();
          }
        });
        expect(Number.isFinite(full.v)).toBe(true);
        expect(Math.abs(avg - full.v)).toBeLessThan(1e-9 * Math.max(1, Math.abs(full.v)));
        const s = maxAbs(full.grad);
        for (let i = 0; i < gAvg.length; i++) expect(Math.abs(gAvg[i] - full.grad[i]), `gradient ${i}`).toBeLessThan(1e-9 * s);
        expect(Math.abs(one - full.v)).toBeGreaterThan(1e-3); // one batch alone is not the whole
      }
    } finally {
      batches.dispose();
      bm.dispose();
      c1.dispose();
      c2.dispose();
    }
  });
});

describe('model.fit on one chunk of every row runs as the in-memory minibatch fit', () => {
  // With the whole data as its only chunk, chunked.ts draws the same permutation of the rows
  // (Key.seed(seed).fold(2)) as LocalMinibatch's partition, so its batch k is the in-memory
  // chunk k (N = 60, size 15: M = 4 = N / B), and the noise stream (fold(0)) is the Trainer's.
  // Driving a Trainer over the in-memory chunks 0..3 must give the chunked run's objective at
  // every step and its parameters after them, up to rounding (the same float64 operations).
  it('objective at each step and the parameters after one pass', async () => {
    const model = compile(HIER);
    const y = randomRows(60, 4);
    const opts = { guide: 'amortized' as const, amortized: { global: 'fullrank' as const }, hidden: 4, samples: 2, steps: 4, average: 0, stopAtConvergence: false, seed: 3 };
    const fit = await model.fit([{ y }], { method: 'vi', ...opts, minibatch: { data: 'y', size: 15 } });
    const bm = model.bind({ y });
    const g = new AmortizedGuide(amortizedLayout(bm), { hidden: 4, global: 'fullrank' });
    const lmb = new LocalMinibatch(bm, { data: 'y', size: 15 }, g, Key.seed(3).fold(2).rng());
    const tr = new Trainer(g, opts, runConfig(opts));
    try {
      for (let k = 0; k < 4; k++) {
        const { guide, potential } = lmb.select(k);
        tr.step(guide, potential);
      }
      const { elboRaw } = tr.finish();
      expect(fit.steps).toBe(4);
      for (let t = 0; t < 4; t++) expect(Math.abs(fit.elboRaw[t] - elboRaw[t]), `step ${t + 1}`).toBeLessThan(1e-9 * Math.max(1, Math.abs(elboRaw[t])));
      const enc = fit.encoder!;
      expect(enc.params.length).toBe(g.params.length);
      for (let i = 0; i < g.params.length; i++) expect(Math.abs(enc.params[i] - g.params[i]), `parameter ${i}`).toBeLessThan(1e-9);
      // The objective is not constant across steps (the check can fail).
      expect(Math.abs(elboRaw[0] - elboRaw[3])).toBeGreaterThan(1e-3);
    } finally {
      lmb.dispose();
      bm.dispose();
    }
  });
});

/*
 * The conjugate hierarchical normal (closed form in hier-reference.ts), N = 300 rows in 4
 * chunks of 75, batches of 25 (size 30 → ⌈75/30⌉ = 3 per chunk, scale N / B = 12), 3000 steps of
 * 4 draws, global guide mean-field: the factorised optimum has the exact posterior means and
 * the conditional variances. Over seeds 1..8 the largest errors were 0.031 posterior sds in
 * E[mu], 6.1% in mu's sd, and over all rows (the encoder at each y_n) 0.026 conditional sds in
 * a local mean and 2.2% in a local sd; the in-memory minibatch fit (10 chunks of 30) had
 * 0.035 / 6.0% on mu over the same seeds, as recorded in vi-amortized-minibatch.test.ts. The
 * tolerances are about 3 of the worst cases, as there. Scaling by the chunk's rows (75 / 25)
 * instead of N / B weighs the data 4 times too little: mu's sd doubles, the local means
 * shrink towards mu.
 */
describe('a chunked amortised fit of the conjugate hierarchical normal model', () => {
  it('recovers the closed-form posterior of mu and, through the encoder, of every theta_n', async () => {
    const N = 300;
    const y = hierRows(N);
    const chunks = Array.from({ length: 4 }, (_, c) => ({ y: y.slice(c * 75, (c + 1) * 75) }));
    const fit = await compile(HIER).fit(chunks, {
      method: 'vi', guide: 'amortized', amortized: { global: 'meanfield' }, minibatch: { data: 'y', size: 30 }, steps: 3000, samples: 4, stopAtConvergence: false, seed: 1,
    });
    expect(fit.steps).toBe(3000);
    const enc = fit.encoder!;
    const gm = enc.globalGuide!;
    const m = [gm.mean()[0]];
    const C: Float64Array[] = Array.from({ length: 1 + N }, () => new Float64Array(1 + N));
    C[0][0] = gm.covariance()[0][0];
    for (let n = 0; n < N; n++) {
      const e = enc.encode([y[n]]);
      m.push(e.mean[0]);
      C[1 + n][1 + n] = e.sd[0] ** 2;
    }
    expectHierFactorisedOptimum(m, C, y, { muMean: 0.1, muSd: 0.18, localMean: 0.08, localSd: 0.07 });
    // The result covers the parameters without rows: mu only; its guide is the encoder's view there.
    expect(fit.names).toEqual(['mu']);
    expect(fit.guide.dim).toBe(1);
    expect(fit.guide.mean()[0]).toBeCloseTo(m[0], 12);
    expect(fit.draws(3).every((d) => d.length === 1)).toBe(true);
    const { Emu, precMu } = hierPosterior(y);
    expect(Math.abs(fit.summary(400)[0].mean - Emu) * Math.sqrt(precMu)).toBeLessThan(0.5); // 400 draws: MC sd 0.05 posterior sds, plus the fit's
    expect(() => fit.psis(10)).toThrow(/holds no full data/);
  }, 60_000);
});

describe('chunked amortised SVI: refusals', () => {
  const w = randomRows(12, 2);
  const chunks = [{ w: w.slice(0, 6) }, { w: w.slice(6) }];
  const mb = { data: 'w', size: 3, shared: { v: V } };
  it('refuses a local parameter without the amortised guide, and one left out of the amortised ones', async () => {
    const model = compile(TWO_GROUPS);
    await expect(model.fit(chunks, { method: 'vi', guide: 'meanfield', minibatch: mb, steps: 5 })).rejects.toThrow(
      /parameter 'b' has a row per data row \(a local parameter\), which cannot be held for data that is not; use guide: 'amortized'/,
    );
    await expect(model.fit(chunks, { method: 'vi', guide: 'amortized', amortized: { local: ['c', 'e'] }, minibatch: mb, steps: 5 })).rejects.toThrow(
      /data in chunks with the amortized guide needs every parameter with a row per data row amortised \(its rows are not held\); 'b' is not \(see amortized.local\)/,
    );
  });

  it('fits the two-group model: globals and the group kept whole in the result, every row through the encoder', async () => {
    const fit = await compile(TWO_GROUPS).fit(chunks, { method: 'vi', guide: 'amortized', minibatch: mb, steps: 20, seed: 2 });
    expect(fit.names).toEqual(['a', 'e.1', 'e.2', 'e.3']);
    expect(fit.draws(2)[0].length).toBe(4);
    expect(fit.encoder!.encode([0.3]).mean.length).toBe(2); // b and c of a new row
  });
});
