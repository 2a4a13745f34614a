/**
 * The score network's Fourier-feature angles are range-reduced to [-π, π] (WGSL's sin/cos are
 * only specified there) without losing accuracy: u - round(u) is exact in float32 (Sterbenz),
 * so the reduced angle 2π (u - round(u)) carries only the rounding of the product (2π itself
 * rounded to float32, then the product rounded: two relative errors of 2^-24 on |angle| <= π),
 * and sin/cos of it one more float32 rounding of the result.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend } from '../../src/tensor';
import { fourierAngle } from '../../src/tensor/mlp';

beforeAll(async () => {
  await useBackend('cpu');
});

const U = 2 ** -24; // float32 unit roundoff
const PI32 = Math.fround(Math.PI);
/** Bound on |sin(reduced) - sin(2π u)| (and cos): 2 roundings of the angle (<= π) plus 1 of the result. */
const BOUND = 2 * Math.PI * U + U;

describe('fourierAngle', () => {
  it('is in [-π, π] and has the sine and cosine of 2π u, for u up to 1e4 cycles', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 64 }), (us) => {
        const xs = us.map(Math.fround).concat([0.5, -0.5, 1.5, 2.5, -2.5, 40.25]);
        const x = tf.tensor1d(xs, 'float32');
        const a = fourierAngle(x);
        const [ang, s, c] = [a, tf.sin(a), tf.cos(a)].map((t) => {
          const v = Float64Array.from(t.dataSync());
          t.dispose();
          return v;
        });
        x.dispose();
        for (let i = 0; i < xs.length; i++) {
          const u = xs[i];
          expect(Math.abs(ang[i])).toBeLessThanOrEqual(PI32);
          // 2π u mod 2π in float64: u's fractional part is exact in float64 too.
          const r = 2 * Math.PI * (u - Math.round(u));
          expect(Math.abs(s[i] - Math.sin(r))).toBeLessThanOrEqual(BOUND);
          expect(Math.abs(c[i] - Math.cos(r))).toBeLessThanOrEqual(BOUND);
        }
      }),
      { seed: 41, numRuns: 50 },
    );
  });

  it('has derivative 2π in u', () => {
    const g = tf.tidy(() => tf.grad((u: tf.Tensor) => tf.sum(fourierAngle(u)))(tf.tensor1d([0.1, 3.7, -12.4], 'float32')).dataSync());
    for (const v of g) expect(v).toBeCloseTo(2 * Math.PI, 5);
  });
});
