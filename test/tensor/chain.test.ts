// The fused chain log partition function and its forward-backward marginals
// (src/tensor/fused/chain.ts) against float64 references written here (enumeration of every
// path; the textbook scaled forward-backward in probability space), against the plain-op
// product tree, and through the float64 replay of recorded programs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend, chainLogZ, chainLogZReference, chainMarginals, CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL } from '../../src/tensor';
import { traceFunction } from '../../src/tensor/trace';
import { chainDisagreement, makeChainCase, F32_U, type ChainArrays, type ChainOutputs } from '../../src/tensor/fused/tolerance';

/** Every path enumerated, in float64 (K^T paths). */
function enumerate({ init, mats, T, K }: ChainArrays): Required<ChainOutputs> {
  const paths: { z: number[]; lp: number }[] = [];
  const z = new Array<number>(T).fill(0);
  for (;;) {
    let lp = init[z[0]];
    for (let t = 0; t < T - 1; t++) lp += mats[(t * K + z[t]) * K + z[t + 1]];
    paths.push({ z: z.slice(), lp });
    let d = T - 1;
    while (d >= 0 && ++z[d] === K) z[d--] = 0;
    if (d < 0) break;
  }
  const m = Math.max(...paths.map((p) => p.lp));
  const logZ = m + Math.log(paths.reduce((s, p) => s + Math.exp(p.lp - m), 0));
  const first = new Float64Array(K);
  const pairs = new Float64Array((T - 1) * K * K);
  for (const p of paths) {
    const w = Math.exp(p.lp - logZ);
    first[p.z[0]] += w;
    for (let t = 0; t < T - 1; t++) pairs[(t * K + p.z[t]) * K + p.z[t + 1]] += w;
  }
  return { logZ, first, pairs };
}

/** Rabiner's scaled forward-backward in probability space, float64 (potentials of moderate size). */
function textbook({ init, mats, T, K }: ChainArrays): Required<ChainOutputs> {
  const E = (t: number, i: number, j: number) => Math.exp(mats[(t * K + i) * K + j]);
  const a: Float64Array[] = [];
  const c = new Float64Array(T);
  let a0 = Float64Array.from({ length: K }, (_, i) => Math.exp(init[i]));
  c[0] = a0.reduce((s, v) => s + v, 0);
  a0 = a0.map((v) => v / c[0]);
  a.push(a0);
  for (let t = 1; t < T; t++) {
    const n = new Float64Array(K);
    for (let j = 0; j < K; j++) for (let i = 0; i < K; i++) n[j] += a[t - 1][i] * E(t - 1, i, j);
    c[t] = n.reduce((s, v) => s + v, 0);
    a.push(n.map((v) => v / c[t]));
  }
  const b: Float64Array[] = new Array(T);
  b[T - 1] = new Float64Array(K).fill(1);
  for (let t = T - 2; t >= 0; t--) {
    b[t] = new Float64Array(K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) b[t][i] += (E(t, i, j) * b[t + 1][j]) / c[t + 1];
  }
  const pairs = new Float64Array((T - 1) * K * K);
  for (let t = 0; t < T - 1; t++) {
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) pairs[(t * K + i) * K + j] = (a[t][i] * E(t, i, j) * b[t + 1][j]) / c[t + 1];
  }
  return { logZ: c.reduce((s, v) => s + Math.log(v), 0), first: a[0].map((v, i) => v * b[0][i]), pairs };
}

const tensors = (c: ChainArrays) => [tf.tensor1d(Float32Array.from(c.init)), tf.tensor3d(Float32Array.from(c.mats), [c.T - 1, c.K, c.K])] as const;

/** log Z and its gradient (the marginals) through tf.grads, for the given implementation. */
function viaGrads(c: ChainArrays, impl: 'fused' | 'reference'): Required<ChainOutputs> {
  return tf.tidy(() => {
    const [init, mats] = tensors(c);
    if (c.T === 1 && impl === 'reference') {
      // The tree does not touch an empty mats, so tf.grads refuses to differentiate by it.
      const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => chainLogZ(a, mats, { impl }))(init);
      return { logZ: value.dataSync()[0], first: grad.dataSync(), pairs: new Float32Array(0) };
    }
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => chainLogZ(a, b, { impl }))([init, mats]);
    return { logZ: value.dataSync()[0], first: grads[0].dataSync(), pairs: grads[1].dataSync() };
  });
}

/** The largest |got - want| over the outputs relative to u |want| (+ `floor`): float64 work rounded once to float32. */
function roundingRatio(want: Required<ChainOutputs>, got: Required<ChainOutputs>, floor: number): number {
  let worst = Math.abs(got.logZ - want.logZ) / (F32_U * Math.abs(want.logZ) + floor);
  for (const key of ['first', 'pairs'] as const) {
    expect(got[key].length).toBe(want[key].length);
    for (let e = 0; e < want[key].length; e++) worst = Math.max(worst, Math.abs(got[key][e] - want[key][e]) / (F32_U * Math.abs(want[key][e]) + floor));
  }
  return worst;
}

const small = fc.record({
  T: fc.integer({ min: 1, max: 6 }), K: fc.integer({ min: 1, max: 4 }),
  impossible: fc.constantFrom(0, 0.3), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
}).filter(({ T, K }) => K ** T <= 4096);

describe.each(['cpu', 'wasm'] as const)('fused chain kernels on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('log Z and the marginals equal path enumeration to float32 rounding (float64 recursions)', () => {
    expect(tf.getKernel(CHAIN_LOGZ_KERNEL, backend)).toBeDefined();
    fc.assert(fc.property(small, ({ T, K, impossible, seed }) => {
      const c = makeChainCase(seed, T, K, impossible);
      const want = enumerate(c);
      // One rounding of a float64 result (2u: the float64 error is far below u); 1e-30 for exact zeros.
      expect(roundingRatio(want, viaGrads(c, 'fused'), 1e-30)).toBeLessThanOrEqual(2);
      const m = tf.tidy(() => {
        const r = chainMarginals(...tensors(c), { impl: 'fused' });
        return { logZ: r.logZ.dataSync()[0], first: r.first.dataSync(), pairs: r.pairs.dataSync() };
      });
      expect(roundingRatio(want, m, 1e-30)).toBeLessThanOrEqual(2);
    }), { numRuns: 80, seed: 20261203 });
  });

  it('the plain-op product tree and the fused kernel agree on longer random chains', () => {
    fc.assert(fc.property(fc.record({
      T: fc.integer({ min: 1, max: 80 }), K: fc.integer({ min: 1, max: 9 }),
      impossible: fc.constantFrom(0, 0.3), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    }), ({ T, K, impossible, seed }) => {
      const c = makeChainCase(seed, T, K, impossible);
      const want = textbook(c);
      const fused = viaGrads(c, 'fused');
      expect(roundingRatio(want, fused, 1e-14)).toBeLessThanOrEqual(2);
      // The tree in float32 within the derived float32 bound; so the two agree within it.
      const tree = chainDisagreement(c, want, viaGrads(c, 'reference'));
      expect(tree.ratio, tree.where).toBeLessThanOrEqual(1);
      expect(chainDisagreement(c, fused, viaGrads(c, 'reference')).ratio).toBeLessThanOrEqual(1);
    }), { numRuns: 40, seed: 7 });
  });

  it('the textbook reference is itself right (against enumeration)', () => {
    for (const [seed, T, K] of [[1, 5, 3], [2, 1, 4], [3, 7, 2], [4, 4, 1]]) {
      const c = makeChainCase(seed, T, K, 0.3);
      const a = enumerate(c);
      const b = textbook(c);
      expect(Math.abs(a.logZ - b.logZ)).toBeLessThan(1e-12 * Math.max(1, Math.abs(a.logZ)));
      Array.from(a.pairs).forEach((p, e) => expect(Math.abs(p - b.pairs[e])).toBeLessThan(1e-13));
    }
  });

  it('scales the marginals by the upstream gradient, and keeps no tensors', () => {
    const c = makeChainCase(11, 12, 3);
    const before = tf.memory().numTensors;
    const [g1, g2] = tf.tidy(() => {
      const [init, mats] = tensors(c);
      const once = tf.grads((a: tf.Tensor, b: tf.Tensor) => chainLogZ(a, b))([init, mats]);
      const scaled = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mul(chainLogZ(a, b), -2.5))([init, mats]);
      return [once[1].dataSync(), scaled[1].dataSync()];
    });
    g1.forEach((v, e) => expect(g2[e]).toBeCloseTo(-2.5 * v, 6));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('handles one step, one state, impossible paths and NaN', () => {
    const one = tf.tidy(() => chainLogZ(tf.tensor1d([0.5, -1]), tf.zeros([0, 2, 2])).dataSync()[0]);
    expect(one).toBeCloseTo(Math.log(Math.exp(0.5) + Math.exp(-1)), 6);
    const oneState = tf.tidy(() => chainLogZ(tf.tensor1d([0.25]), tf.tensor3d([[[1]], [[-2]]])).dataSync()[0]);
    expect(oneState).toBeCloseTo(-0.75, 6);
    // Every path impossible: log Z = -Infinity, not NaN.
    const none = tf.tidy(() => chainLogZ(tf.tensor1d([0, 0]), tf.tensor3d([[[-Infinity, -Infinity], [-Infinity, -Infinity]]])).dataSync()[0]);
    expect(none).toBe(-Infinity);
    const nan = tf.tidy(() => chainLogZ(tf.tensor1d([0, NaN]), tf.zeros([3, 2, 2])).dataSync()[0]);
    expect(nan).toBeNaN();
  });

  it("a batch of chains (init [B, K], mats [B, T-1, K, K]) as one op: each chain's log Z and, as the gradient, its marginals scaled by its own upstream gradient", () => {
    const B = 5;
    const cases = Array.from({ length: B }, (_, b) => makeChainCase(40 + b, 9, 3, b % 2 ? 0.3 : 0));
    const w = [1, -0.5, 2, 0.25, 4]; // powers of 2: scaling and unscaling are exact
    const before = tf.memory().numTensors;
    for (const impl of ['fused', 'reference'] as const) {
      const got = tf.tidy(() => {
        const init = tf.tensor2d(cases.flatMap((c) => Array.from(c.init)), [B, 3]);
        const mats = tf.tensor4d(cases.flatMap((c) => Array.from(c.mats)), [B, 8, 3, 3]);
        const f = (a: tf.Tensor, m: tf.Tensor) => tf.sum(tf.mul(chainLogZ(a as tf.Tensor2D, m as tf.Tensor4D, { impl }), tf.tensor1d(w)));
        const logZ = chainLogZ(init, mats, { impl });
        expect(logZ.shape).toEqual([B]);
        const g = tf.grads(f)([init, mats]);
        return { logZ: logZ.dataSync(), first: g[0].dataSync(), pairs: g[1].dataSync() };
      });
      cases.forEach((c, b) => {
        const one = viaGrads(c, impl);
        const scaled = { logZ: one.logZ, first: Float32Array.from(one.first, (x) => w[b] * x), pairs: Float32Array.from(one.pairs, (x) => w[b] * x) };
        const mine = { logZ: got.logZ[b], first: got.first.slice(3 * b, 3 * b + 3), pairs: got.pairs.slice(72 * b, 72 * b + 72) };
        // The kernel runs each chain's float64 recursions as alone: the same numbers. The tree
        // reduces the batch in other shapes: within its derived float32 bound of the exact values.
        if (impl === 'fused') expect(mine, `chain ${b}`).toEqual(scaled);
        else {
          const unscaled = { logZ: mine.logZ, first: mine.first.map((x) => x / w[b]), pairs: mine.pairs.map((x) => x / w[b]) };
          const d = chainDisagreement(c, textbook(c), unscaled);
          expect(d.ratio, `chain ${b}: ${d.where}`).toBeLessThanOrEqual(1);
        }
      });
    }
    // One step: mats [B, 0, K, K].
    const single = tf.tidy(() => chainLogZ(tf.tensor2d([[0.5, -1], [0, 0]]), tf.zeros([2, 0, 2, 2]) as tf.Tensor4D).dataSync());
    expect(single[0]).toBeCloseTo(Math.log(Math.exp(0.5) + Math.exp(-1)), 6);
    expect(single[1]).toBeCloseTo(Math.log(2), 6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bad shapes and options, naming them', () => {
    expect(() => chainLogZ(tf.zeros([1, 2, 2]), tf.zeros([1, 2, 2]))).toThrow(/chainLogZ: init must be \[K\] \(or \[B, K\] for B chains\) with K >= 1, got \[1, 2, 2\]/);
    expect(() => chainLogZ(tf.zeros([2, 2]), tf.zeros([1, 2, 2]))).toThrow(/chainLogZ: mats must be \[2, T-1, 2, 2\] \(B and K from init\), got \[1, 2, 2\]/);
    expect(() => chainLogZ(tf.zeros([2, 2]), tf.zeros([3, 1, 2, 2]))).toThrow(/mats must be \[2, T-1, 2, 2\] \(B and K from init\), got \[3, 1, 2, 2\]/);
    expect(() => chainMarginals(tf.zeros([2, 2]), tf.zeros([2, 1, 2, 2]))).toThrow(/chainMarginals: init must be \[K\] with K >= 1, got \[2, 2\]/);
    expect(() => chainLogZ(tf.zeros([3]), tf.zeros([4, 2, 2]))).toThrow(/chainLogZ: mats must be \[T-1, 3, 3\] \(K from init\), got \[4, 2, 2\]/);
    expect(() => chainLogZ(tf.zeros([2], 'int32'), tf.zeros([1, 2, 2]))).toThrow(/init must be float32, got int32/);
    expect(() => chainLogZ(tf.zeros([2]), tf.zeros([1, 2, 2]), { impl: 'fast' as 'fused' })).toThrow(/impl must be 'auto', 'fused' or 'reference', got 'fast'/);
  });

  it('falls back to the product tree on a backend without the kernel, and says so when the kernel is demanded', () => {
    const saved = [CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL].map((k) => tf.getKernel(k, backend));
    for (const k of [CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL]) tf.unregisterKernel(k, backend);
    try {
      const c = makeChainCase(5, 20, 3);
      expect(() => chainLogZ(...tensors(c), { impl: 'fused' })).toThrow(new RegExp(`no fused chain kernel for the '${backend}' backend`));
      const got = tf.tidy(() => chainLogZ(...tensors(c)).dataSync()[0]);
      expect(got).toBe(tf.tidy(() => chainLogZReference(...tensors(c)).dataSync()[0]));
    } finally {
      for (const k of saved) tf.registerKernel(k);
    }
  });
});

describe('the fused chain kernel in the float64 replay', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(() => undefined);

  it('replays log Z and its gradient in float64 (impossible transitions included)', () => {
    for (const [seed, T, K] of [[1, 6, 3], [2, 1, 2], [3, 40, 5], [4, 9, 1]]) {
      const c = makeChainCase(seed, T, K, 0.25);
      // u carries every potential; -Infinity entries come from a constant mask added to it.
      const u = Float64Array.from([...c.init, ...c.mats].map((v) => (Number.isFinite(v) ? v : 0)));
      const mask = Float32Array.from(c.mats, (v) => (Number.isFinite(v) ? 0 : -Infinity));
      const fn = traceFunction((x) => {
        const init = tf.slice(x, [0], [K]);
        const mats = tf.add(tf.reshape(tf.slice(x, [K], [(T - 1) * K * K]), [T - 1, K, K]), tf.tensor3d(mask, [T - 1, K, K]));
        return chainLogZ(init, mats);
      }, u);
      // A second point, so nothing of the recording's values is reused.
      const u2 = u.map((v, i) => v + 0.1 * Math.sin(i));
      const c2 = { ...c, init: u2.slice(0, K), mats: Float64Array.from(u2.slice(K), (v, e) => v + mask[e]) };
      const want = K ** T <= 4096 ? enumerate(c2) : textbook(c2);
      const grad = new Float64Array(u.length);
      const v = fn.valueAndGrad(u2, grad);
      expect(Math.abs(v - want.logZ)).toBeLessThan(1e-12 * Math.max(1, Math.abs(want.logZ)));
      for (let k = 0; k < K; k++) expect(Math.abs(grad[k] - want.first[k])).toBeLessThan(1e-12);
      for (let e = 0; e < want.pairs.length; e++) expect(Math.abs(grad[K + e] - want.pairs[e])).toBeLessThan(1e-12);
    }
  });
});
