// Shared check of the VI tests: a guide-parameter gradient against central finite differences.
import { expect } from 'vitest';

/**
 * Expects `grad` to equal the central difference of `f` at `params` (step h, perturbing each
 * parameter in place and restoring it), to 1e-6 relative to max(1, |fd|).
 */
export function expectFdGradient(params: Float64Array, f: () => number, grad: ArrayLike<number>, h: number, label = ''): void {
  for (let i = 0; i < params.length; i++) {
    const keep = params[i];
    params[i] = keep + h;
    const up = f();
    params[i] = keep - h;
    const dn = f();
    params[i] = keep;
    const fd = (up - dn) / (2 * h);
    expect(Math.abs(grad[i] - fd), `${label}param ${i}: ${grad[i]} vs ${fd}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
  }
}
