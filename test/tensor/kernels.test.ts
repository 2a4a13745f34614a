import { describe, expect, it } from 'vitest';
import { tf, useBackend } from '../../src/tensor';

describe.each(['cpu', 'wasm'] as const)('gaps filled on %s', (backend) => {
  it('differentiates gather (indexing a parameter by data)', async () => {
    await useBackend(backend);
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const idx = tf.tensor1d([2, 0, 2, 1], 'int32');
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, idx), tf.tensor2d([[1, 10], [100, 1000], [1, 1], [2, 3]]))))(x);
    // Row 0 gets weights of position 1; row 1 of position 3; row 2 of positions 0 and 2.
    expect(g.arraySync()).toEqual([[100, 1000], [2, 3], [2, 11]]);
  });
  it('differentiates where with a parameter-dependent comparison', async () => {
    await useBackend(backend);
    const x = tf.tensor1d([-1, 2, -3, 4]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.where(tf.greater(a, 0), tf.square(a), tf.mul(a, 3))))(x);
    expect(Array.from(g.dataSync())).toEqual([3, 4, 3, 8]);
  });
});

describe('logical ops inside a differentiated function', () => {
  it('differentiates through logicalAnd / logicalNot of parameter-dependent comparisons', async () => {
    await useBackend('cpu');
    const x = tf.tensor1d([-1, 0.5, 2]);
    const g = tf.grad((a: tf.Tensor) => {
      const inside = tf.logicalAnd(tf.greater(a, 0), tf.logicalNot(tf.greater(a, 1)));
      return tf.sum(tf.where(inside, tf.square(a), tf.zerosLike(a)));
    })(x);
    expect(Array.from(g.dataSync())).toEqual([0, 1, 0]);
  });
});
