/**
 * Targets and Monte Carlo checks for the MCMC sampler tests: Gaussian targets with known
 * moments, Neal's funnel, a half-space target, and "within k MCSE" assertions whose MCSE
 * comes from the draws' ESS (Geyer's initial monotone sequence, `src/testing/stats`).
 */
import { expect } from 'vitest';
import { mcseMean } from '../../../src/testing/stats';
import type { ChainResult, Target } from '../../../src/infer/mcmc/sampler';
import { mcseMean as mcseMeanChains } from '../../../src/infer/mcmc/diagnostics';

/** Independent normals with mean 0 and the given standard deviations. */
export function iidNormal(sds: readonly number[]): Target {
  const d = sds.length;
  const prec = sds.map((s) => 1 / (s * s));
  return {
    dim: d,
    logDensityGrad(u, g) {
      let lp = 0;
      for (let i = 0; i < d; i++) {
        g[i] = -prec[i] * u[i];
        lp += 0.5 * g[i] * u[i];
      }
      return lp;
    },
  };
}

/** Zero-mean Gaussian with the given (row-major, symmetric positive definite) covariance. */
export function gaussian(cov: number[][]): Target {
  const d = cov.length;
  const P = invert(cov);
  return {
    dim: d,
    logDensityGrad(u, g) {
      let lp = 0;
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += P[i][j] * u[j];
        g[i] = -s;
        lp -= 0.5 * u[i] * s;
      }
      return lp;
    },
  };
}

/** Gauss–Jordan inverse of a small matrix. */
export function invert(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    const p = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= p;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((row) => row.slice(n));
}

/** Neal's funnel: v ~ N(0, 3), x_i ~ N(0, exp(v/2)) for i < dim - 1; coordinate 0 is v. */
export function funnel(dim: number): Target {
  return {
    dim,
    logDensityGrad(u, g) {
      const v = u[0];
      const k = dim - 1;
      let ss = 0;
      for (let i = 1; i < dim; i++) ss += u[i] * u[i];
      const ev = Math.exp(-v);
      for (let i = 1; i < dim; i++) g[i] = -u[i] * ev;
      g[0] = -v / 9 - 0.5 * k + 0.5 * ss * ev;
      return -v * v / 18 - 0.5 * k * v - 0.5 * ss * ev;
    },
  };
}

/**
 * A standard normal restricted to u[0] > 0: outside the support the log density is
 * -Infinity for u[1] >= 0 and NaN (with a NaN gradient) for u[1] < 0.
 */
export function halfSpaceNormal(dim: number): Target {
  const inner = iidNormal(Array(dim).fill(1));
  return {
    dim,
    logDensityGrad(u, g) {
      if (u[0] <= 0) {
        if (u[1] < 0) {
          g.fill(NaN);
          return NaN;
        }
        return -Infinity;
      }
      return inner.logDensityGrad(u, g);
    },
  };
}

/** Coordinate k of every draw. */
export function coord(r: ChainResult, k: number): number[] {
  return r.draws.map((d) => d[k]);
}

/** f(draw) for every draw. */
export function mapDraws(r: ChainResult, f: (d: Float64Array) => number): number[] {
  return r.draws.map(f);
}

/** Returns (estimate - expected) / MCSE for the mean of `chain`. */
export function zScore(chain: number[], expected: number): { z: number; mean: number; mcse: number; ess: number } {
  const m = mcseMean(chain);
  return { z: (m.mean - expected) / m.mcse, mean: m.mean, mcse: m.mcse, ess: m.ess };
}

/** Asserts that the chain's mean is within k MCSE of `expected`. */
export function expectWithinMcse(chain: number[], expected: number, k: number, label: string): void {
  const { z, mean, mcse, ess } = zScore(chain, expected);
  expect(Math.abs(z), `${label}: mean ${mean} vs ${expected}, MCSE ${mcse} (ESS ${ess.toFixed(0)}), ${z.toFixed(2)} MCSE off`).toBeLessThan(k);
}

/** Mean of one statistic over draws. */
export function meanStat(r: ChainResult, key: 'treedepth' | 'accept_stat' | 'n_leapfrog' | 'divergent'): number {
  let s = 0;
  for (const st of r.stats) s += st[key];
  return s / r.stats.length;
}

/** (mean of the pooled draws of several chains − expected) / multi-chain MCSE. */
export function chainsZScore(chains: Float64Array[], expected: number): number {
  let s = 0;
  let n = 0;
  for (const c of chains) for (const x of c) {
    s += x;
    n++;
  }
  return (s / n - expected) / mcseMeanChains(chains);
}

/** z-scores of the posterior mean and variance of `chains` against exact ones, by multi-chain MCSE. */
export function chainsMomentZScores(chains: Float64Array[], exact: { mean: number; variance: number }): { zMean: number; zVar: number } {
  const sq = chains.map((c) => c.map((x) => (x - exact.mean) ** 2));
  return { zMean: chainsZScore(chains, exact.mean), zVar: chainsZScore(sq, exact.variance) };
}
