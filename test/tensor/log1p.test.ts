import { it, expect } from 'vitest';
import { tf, useBackend, log1p, expm1 } from '../../src/tensor';
it('log1p/expm1 wasm', async () => {
  await useBackend('wasm');
  const x = tf.tensor1d([1e-10, -1e-8, 0, 0.3, -0.7, 5, 50]);
  const l = Array.from(log1p(x).dataSync()); const e = Array.from(expm1(x).dataSync());
  const xs = [1e-10, -1e-8, 0, 0.3, -0.7, 5, 50];
  xs.forEach((v, i) => { expect(Math.abs(l[i] - Math.log1p(v))).toBeLessThanOrEqual(2e-7 * Math.max(Math.abs(Math.log1p(v)), 1e-30) + 1e-45); });
  xs.forEach((v, i) => { expect(Math.abs(e[i] - Math.expm1(v)) / Math.max(Math.abs(Math.expm1(v)), 1e-30)).toBeLessThan(3e-7); });
  const g = tf.grad((a) => tf.sum(log1p(a)))(x).dataSync();
  xs.forEach((v, i) => expect(g[i]).toBeCloseTo(1 / (1 + v), 5));
  const g2 = tf.grad((a) => tf.sum(expm1(a)))(tf.tensor1d([0, 1e-9, 0.2])).dataSync();
  expect(Array.from(g2)).toEqual([1, 1, expect.closeTo(Math.exp(0.2), 5)]);
});
