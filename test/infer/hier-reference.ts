// Closed-form references for the conjugate hierarchical normal model HIER (conjugate-models.ts)
// shared by the amortised-VI tests (vi-amortized.test.ts, vi-amortized-minibatch.test.ts):
// μ ~ N(0, 10²), θ_n ~ N(μ, 1), y_n ~ N(θ_n, 0.5²). Given μ, θ_n | y_n ~ N(0.2 μ + 0.8 y_n, 0.2)
// (precisions 1 and 4); μ | y ~ N(Σy/1.25 / Λ_μ, 1/Λ_μ) with Λ_μ = 0.01 + N/1.25.
import { expect } from 'vitest';
import { Key } from '../../src/tensor/random';

/** The tests' data: N rows y_n = 1 + √1.25 · N(0, 1) from Key.seed(seed) (the marginal of y_n at μ = 1). */
export function hierRows(N: number, seed = 7): number[] {
  const r = Key.seed(seed).rng();
  return Array.from({ length: N }, () => 1 + Math.sqrt(1.25) * r.normal());
}

/** The posterior quantities of HIER given y: μ's precision and mean, and θ_n's conditional sd given μ. */
export function hierPosterior(y: readonly number[]): { precMu: number; Emu: number; condSd: number } {
  const N = y.length;
  const ybar = y.reduce((a, b) => a + b) / N;
  const precMu = 1 / 100 + N / 1.25;
  return { precMu, Emu: (N * ybar) / 1.25 / precMu, condSd: Math.sqrt(0.2) };
}

/** The model's log evidence: y ~ N(0, 1.25 I + 100 11ᵀ) (Sherman–Morrison). */
export function hierLogZ(y: readonly number[]): number {
  const N = y.length;
  const a = 1.25;
  const b = 100;
  const sy = y.reduce((s, v) => s + v, 0);
  const syy = y.reduce((s, v) => s + v * v, 0);
  return -0.5 * (N * Math.log(2 * Math.PI) + (N - 1) * Math.log(a) + Math.log(a + N * b) + (syy - (b * sy * sy) / (a + N * b)) / a);
}

/** Tolerances of {@link expectHierFactorisedOptimum}, each derived by the calling test. */
export interface HierTolerances {
  /** |E_q[μ] − E[μ | y]| in posterior sds of μ. */
  muMean: number;
  /** Relative error of μ's sd against the mean-field optimum 1/√(0.01 + N). */
  muSd: number;
  /** |E_q[θ_n] − (0.2 E[μ | y] + 0.8 y_n)| in conditional sds, every row. */
  localMean: number;
  /** Relative error of θ_n's sd against the conditional sd √0.2, every row. */
  localSd: number;
}

/**
 * Checks a factorised guide q(μ) Π_n q(θ_n | y_n) (mean `m`, covariance `C`, μ first, then
 * θ_1..θ_N) against the mean-field optimum on HIER's Gaussian posterior: the exact posterior
 * means and the conditional variances 1/Λ_ii (0.2 for θ_n, 1/(0.01 + N) for μ).
 */
export function expectHierFactorisedOptimum(m: ArrayLike<number>, C: readonly (ArrayLike<number>)[], y: readonly number[], tol: HierTolerances): void {
  const N = y.length;
  const { precMu, Emu, condSd } = hierPosterior(y);
  expect(Math.abs(m[0] - Emu) * Math.sqrt(precMu), 'E[mu]').toBeLessThan(tol.muMean);
  expect(Math.abs(Math.sqrt(C[0][0] * (0.01 + N)) - 1), 'sd of mu').toBeLessThan(tol.muSd);
  for (let n = 0; n < N; n++) {
    expect(Math.abs(m[1 + n] - (0.2 * Emu + 0.8 * y[n])) / condSd, `mean of theta[${n + 1}]`).toBeLessThan(tol.localMean);
    expect(Math.abs(Math.sqrt(C[1 + n][1 + n]) / condSd - 1), `sd of theta[${n + 1}]`).toBeLessThan(tol.localSd);
  }
}
