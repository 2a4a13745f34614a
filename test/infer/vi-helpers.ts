// Shared pieces of the VI tests: a guide-parameter gradient against central finite
// differences, and a smooth non-Gaussian test potential.
import { expect } from 'vitest';
import type { Potential } from '../../src/infer/vi/guides';

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

/** A non-Gaussian smooth potential in d dims: U(u) = Σ (u_i − c_i)²/2 + 0.3 Σ log cosh(u_i u_{i+1}). */
export function testPotential(d: number): Potential {
  const c = Array.from({ length: d }, (_, i) => 0.5 * Math.sin(i + 1));
  const value = (u: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < d; i++) s += 0.5 * (u[i] - c[i]) ** 2;
    for (let i = 0; i + 1 < d; i++) s += 0.3 * Math.log(Math.cosh(u[i] * u[i + 1]));
    return s;
  };
  return {
    dim: d,
    value,
    valueAndGrad(u, g) {
      for (let i = 0; i < d; i++) g[i] = u[i] - c[i];
      for (let i = 0; i + 1 < d; i++) {
        const t = 0.3 * Math.tanh(u[i] * u[i + 1]);
        g[i] += t * u[i + 1];
        g[i + 1] += t * u[i];
      }
      return value(u);
    },
  };
}
