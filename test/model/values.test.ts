import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend } from '../../src/tensor';
import { align, layout, sumDims, type BVal } from '../../src/model/values';
import { chainLogZ } from '../../src/tensor';

beforeAll(async () => {
  await useBackend('cpu');
});

const val = (data: number[], shape: number[], dims: string[]): BVal => ({ t: tf.tensor(data, shape), dims });

describe('named-dim alignment', () => {
  it('aligns named dims by name and event dims from the right', () => {
    // a: dims [n] (3), event [2]; b: dims [k] (4), event []
    const a = val([1, 2, 3, 4, 5, 6], [3, 2], ['n']);
    const b = val([10, 20, 30, 40], [4], ['k']);
    const { dims, ts } = align([a, b], [0, 0]);
    expect(dims).toEqual(['n', 'k']);
    expect(ts[0].shape).toEqual([3, 1, 2]);
    expect(ts[1].shape).toEqual([1, 4, 1]);
    const s = tf.add(ts[0], ts[1]);
    expect(s.shape).toEqual([3, 4, 2]);
    expect((s.arraySync() as number[][][])[2][3]).toEqual([45, 46]);
  });
  it('transposes named dims into the common order', () => {
    const a = val([1, 2, 3, 4, 5, 6], [2, 3], ['k', 'n']);
    const t = layout(a, ['n', 'k'], 0, 0);
    expect(t.shape).toEqual([3, 2]);
    expect(t.arraySync()).toEqual([[1, 4], [2, 5], [3, 6]]);
  });
  it('pads the non-core event axes for ops with core dims', () => {
    // mvnormal-like: value event [5, 3] (batch 5, core 1); L event [3, 3] (core 2).
    const v = val(new Array(15).fill(0), [5, 3], []);
    const L = val(new Array(9).fill(0), [3, 3], []);
    const { ts } = align([v, L], [1, 2]);
    expect(ts[0].shape).toEqual([5, 3]);
    expect(ts[1].shape).toEqual([1, 3, 3]);
  });
  it('sums named dims out', () => {
    const a = val([1, 2, 3, 4, 5, 6], [2, 3], ['k', 'n']);
    const s = sumDims(a, ['n']);
    expect(s.dims).toEqual(['k']);
    expect(Array.from(s.t.dataSync())).toEqual([6, 15]);
  });
});

describe('chain log partition by a product tree', () => {
  const forward64 = (init: number[], mats: number[][][]) => {
    let alpha = [...init];
    for (const M of mats) {
      alpha = M[0].map((_, j) => {
        const terms = alpha.map((a, i) => a + M[i][j]);
        const m = Math.max(...terms);
        return m + Math.log(terms.reduce((s, x) => s + Math.exp(x - m), 0));
      });
    }
    const m = Math.max(...alpha);
    return m + Math.log(alpha.reduce((s, x) => s + Math.exp(x - m), 0));
  };
  it('equals the sequential forward recursion for any length', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 37 }), fc.integer({ min: 0, max: 1e6 }),
      (K, L, seed) => {
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 6 - 3;
        const init = Array.from({ length: K }, rnd);
        const mats = Array.from({ length: L }, () => Array.from({ length: K }, () => Array.from({ length: K }, rnd)));
        const got = tf.tidy(() => chainLogZ(tf.tensor1d(init), tf.tensor3d(mats.length ? mats : [], [L, K, K])).dataSync()[0]);
        const want = forward64(init, mats);
        // float32 log-sum-exp over L steps of O(1) terms: error grows ~ L * eps * |value|.
        expect(Math.abs(got - want)).toBeLessThan(1e-5 * (L + 1) * Math.max(1, Math.abs(want)));
      }), { numRuns: 60, seed: 7 });
  });
});
