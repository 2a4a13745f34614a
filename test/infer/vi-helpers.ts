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

/** log N(ε; 0, I). */
export function logStdNormal(e: ArrayLike<number>): number {
  let s = -0.5 * e.length * Math.log(2 * Math.PI);
  for (let i = 0; i < e.length; i++) s -= 0.5 * e[i] * e[i];
  return s;
}

/** log |det M| of a small dense matrix by Gaussian elimination with partial pivoting. */
export function logAbsDet(M: number[][]): number {
  const a = M.map((r) => r.slice());
  const n = a.length;
  let s = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(a[i][k]) > Math.abs(a[p][k])) p = i;
    [a[k], a[p]] = [a[p], a[k]];
    s += Math.log(Math.abs(a[k][k]));
    for (let i = k + 1; i < n; i++) {
      const f = a[i][k] / a[k][k];
      for (let j = k; j < n; j++) a[i][j] -= f * a[k][j];
    }
  }
  return s;
}

/** ∂u/∂ε of a guide's map at ε by central differences with step h (error O(h²)). */
export function numericalJacobian(transform: (eps: Float64Array) => Float64Array, eps: ArrayLike<number>, h: number): number[][] {
  const d = eps.length;
  const J: number[][] = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (let j = 0; j < d; j++) {
    const up = Float64Array.from(eps);
    const dn = Float64Array.from(eps);
    up[j] += h;
    dn[j] -= h;
    const uu = transform(up);
    const ud = transform(dn);
    for (let i = 0; i < d; i++) J[i][j] = (uu[i] - ud[i]) / (2 * h);
  }
  return J;
}
