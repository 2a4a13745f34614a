// The MCMC core (pure float64): leapfrog, NUTS and static HMC transitions, Stan's warm-up,
// and runChain, on generic targets with known moments. Statistical checks use fixed seeds
// and tolerances of k MCSE, with the MCSE from the draws' ESS.
import { describe, expect, it } from 'vitest';
import { Key } from '../../../src/tensor/random';
import { runChain, InitError } from '../../../src/infer/mcmc/sampler';
import type { ChainResult } from '../../../src/infer/mcmc/sampler';
import {
  Hamiltonian, NutsKernel, PhasePoint, choleskyLower, denseMetric, diagMetric, initStepsize,
} from '../../../src/infer/mcmc/hmc';
import {
  DualAveraging, MetricAdaptation, WelfordCovariance, WelfordVariance, adaptationWindows, regularize,
} from '../../../src/infer/mcmc/adapt';
import {
  coord, expectWithinMcse, funnel, gaussian, halfSpaceNormal, iidNormal, mapDraws, meanStat, zScore,
} from './hmc-helpers';

const K = 4; // MCSE multiples allowed for a correct kernel

/** Checks E[x_i] = 0 and E[x_i²] = sd_i² for every coordinate of an iid normal target. */
function expectNormalMoments(r: ChainResult, sds: readonly number[], label: string): void {
  sds.forEach((sd, i) => {
    expectWithinMcse(coord(r, i).map((x) => x / sd), 0, K, `${label} mean[${i}]`);
    expectWithinMcse(coord(r, i).map((x) => (x / sd) ** 2), 1, K, `${label} var[${i}]`);
  });
}

describe('leapfrog', () => {
  // A quadratic potential V = ½ qᵀ A q (A = Σ⁻¹) with a non-trivial metric.
  const cov = [[2, 0.6, 0], [0.6, 1, -0.3], [0, -0.3, 0.5]];
  const target = gaussian(cov);
  const metrics = {
    diag: () => diagMetric([0.7, 1.3, 0.4]),
    dense: () => denseMetric([1.5, 0.3, 0.1, 0.3, 0.8, -0.1, 0.1, -0.1, 0.6], 3),
  };

  for (const [name, make] of Object.entries(metrics)) {
    it(`has O(ε²) energy error on a quadratic potential (${name} metric)`, () => {
      const h = new Hamiltonian(target, make());
      const rng = Key.seed(11).rng();
      const start = new PhasePoint(3);
      start.q.set([0.8, -1.1, 0.4]);
      h.evaluate(start);
      h.sampleMomentum(start, rng);
      const H0 = h.energy(start);
      const T = 3;
      const maxErr = (eps: number) => {
        const z = new PhasePoint(3);
        z.copyFrom(start);
        let m = 0;
        for (let i = 0; i < Math.round(T / eps); i++) {
          h.leapfrog(z, eps);
          m = Math.max(m, Math.abs(h.energy(z) - H0));
        }
        return m;
      };
      const e1 = maxErr(0.1);
      const e2 = maxErr(0.05);
      const e3 = maxErr(0.025);
      expect(e1).toBeGreaterThan(0);
      expect(e1).toBeLessThan(0.1);
      // Halving ε divides the error by ~4 (second order), not ~2 (first order).
      expect(e1 / e2).toBeGreaterThan(3.5);
      expect(e1 / e2).toBeLessThan(4.5);
      expect(e2 / e3).toBeGreaterThan(3.5);
      expect(e2 / e3).toBeLessThan(4.5);
    });

    it(`is reversible: forward, momentum flip, forward again returns to the start (${name} metric)`, () => {
      // A non-quadratic target: a banana-shaped density.
      const banana = {
        dim: 3,
        logDensityGrad(u: Float64Array, g: Float64Array) {
          const b = u[1] - 0.5 * u[0] * u[0];
          g[0] = -u[0] + b * u[0];
          g[1] = -b;
          g[2] = -u[2] * (1 + 0.1 * u[2] * u[2]);
          return -0.5 * u[0] * u[0] - 0.5 * b * b - 0.5 * u[2] * u[2] - 0.025 * u[2] ** 4;
        },
      };
      const h = new Hamiltonian(banana, make());
      const rng = Key.seed(12).rng();
      const z = new PhasePoint(3);
      z.q.set([0.5, 0.9, -0.7]);
      h.evaluate(z);
      h.sampleMomentum(z, rng);
      const q0 = Float64Array.from(z.q);
      const p0 = Float64Array.from(z.p);
      for (let i = 0; i < 30; i++) h.leapfrog(z, 0.05);
      expect(Math.abs(z.q[0] - q0[0])).toBeGreaterThan(0.05); // it moved
      for (let i = 0; i < 3; i++) z.p[i] = -z.p[i];
      for (let i = 0; i < 30; i++) h.leapfrog(z, 0.05);
      for (let i = 0; i < 3; i++) z.p[i] = -z.p[i];
      for (let i = 0; i < 3; i++) {
        expect(Math.abs(z.q[i] - q0[i])).toBeLessThan(1e-12);
        expect(Math.abs(z.p[i] - p0[i])).toBeLessThan(1e-12);
      }
      // The 'leapfrog' test bias (skipped closing half step) breaks reversibility.
      const hb = new Hamiltonian(banana, make(), 'leapfrog');
      z.q.set(q0);
      z.p.set(p0);
      hb.evaluate(z);
      for (let i = 0; i < 30; i++) hb.leapfrog(z, 0.05);
      for (let i = 0; i < 3; i++) z.p[i] = -z.p[i];
      for (let i = 0; i < 30; i++) hb.leapfrog(z, 0.05);
      expect(Math.max(...q0.map((v, i) => Math.abs(z.q[i] - v)))).toBeGreaterThan(1e-3);
    });
  }

  it('the dense metric draws momenta with covariance M = (M⁻¹)⁻¹ and matches the diagonal one when diagonal', () => {
    const inv = [2, 0.5, 0.5, 1];
    const m = denseMetric(inv, 2);
    const rng = Key.seed(13).rng();
    const n = 40000;
    let s00 = 0, s01 = 0, s11 = 0;
    const p = new Float64Array(2);
    for (let i = 0; i < n; i++) {
      m.sampleMomentum(rng, p);
      s00 += p[0] * p[0]; s01 += p[0] * p[1]; s11 += p[1] * p[1];
    }
    // M = inv(M⁻¹) = [[1, -0.5], [-0.5, 2]] / 1.75; Var of a sample second moment is 2σ⁴/n.
    const M = [[1 / 1.75, -0.5 / 1.75], [-0.5 / 1.75, 2 / 1.75]];
    const se = (a: number, b: number, c: number) => Math.sqrt((a * b + c * c) / n);
    expect(Math.abs(s00 / n - M[0][0])).toBeLessThan(K * se(M[0][0], M[0][0], M[0][0]));
    expect(Math.abs(s01 / n - M[0][1])).toBeLessThan(K * se(M[0][0], M[1][1], M[0][1]));
    expect(Math.abs(s11 / n - M[1][1])).toBeLessThan(K * se(M[1][1], M[1][1], M[1][1]));
    const dd = denseMetric([2, 0, 0, 0.5], 2);
    const dg = diagMetric([2, 0.5]);
    const q = Float64Array.from([0.3, -1.2]);
    expect(dd.kinetic(q)).toBeCloseTo(dg.kinetic(q), 14);
    expect(() => choleskyLower([1, 2, 2, 1], 2)).toThrow(/positive definite/);
    expect(() => denseMetric([1, 0, 0], 2)).toThrow(RangeError);
    expect(() => diagMetric([1, -1])).toThrow(/invMetric\[1\]/);
  });
});

describe('warm-up adaptation', () => {
  it("follows Stan's windowed schedule", () => {
    expect(adaptationWindows(1000)).toEqual([[75, 99], [100, 149], [150, 249], [250, 449], [450, 949]]);
    expect(adaptationWindows(2000)).toEqual([[75, 99], [100, 149], [150, 249], [250, 449], [450, 849], [850, 1949]]);
    expect(adaptationWindows(150)).toEqual([[75, 99]]);
    // Short warm-ups: 15% / 75% / 10%.
    expect(adaptationWindows(100)).toEqual([[15, 89]]);
    expect(adaptationWindows(149)).toEqual([[22, 134]]);
    expect(adaptationWindows(19)).toEqual([]);
  });

  it('Welford accumulators match two-pass (co)variances; regularisation as Stan', () => {
    const rng = Key.seed(21).rng();
    const xs = Array.from({ length: 50 }, () => [rng.normal(3, 2), rng.normal(-1, 0.5)]);
    xs.forEach((x) => { x[1] += 0.3 * x[0]; });
    const wv = new WelfordVariance(2);
    const wc = new WelfordCovariance(2);
    xs.forEach((x) => { wv.add(x); wc.add(x); });
    const mean = [0, 1].map((j) => xs.reduce((a, x) => a + x[j], 0) / xs.length);
    const cov = (a: number, b: number) => xs.reduce((s, x) => s + (x[a] - mean[a]) * (x[b] - mean[b]), 0) / (xs.length - 1);
    const v = new Float64Array(2);
    const c = new Float64Array(4);
    wv.variance(v);
    wc.covariance(c);
    expect(v[0]).toBeCloseTo(cov(0, 0), 12);
    expect(v[1]).toBeCloseTo(cov(1, 1), 12);
    expect(c[1]).toBeCloseTo(cov(0, 1), 12);
    expect(c[2]).toBeCloseTo(cov(0, 1), 12);
    expect(regularize(2, 20, 1)).toBeCloseTo((20 / 25) * 2 + 1e-3 * (5 / 25), 15);
    expect(regularize(2, 20, 0)).toBeCloseTo((20 / 25) * 2, 15);
  });

  it('the metric is re-estimated exactly at the ends of the windows', () => {
    const ma = new MetricAdaptation('diag', 1, 200);
    const inv = new Float64Array([1]);
    const ends: number[] = [];
    const rng = Key.seed(22).rng();
    for (let i = 0; i < 200; i++) if (ma.learn(inv, [rng.normal(0, 3)])) ends.push(i);
    expect(ends).toEqual(adaptationWindows(200).map((w) => w[1]));
    expect(inv[0]).toBeGreaterThan(3);
    expect(inv[0]).toBeLessThan(20);
  });

  it('dual averaging drives the acceptance statistic to delta', () => {
    // A toy acceptance curve a(ε) = exp(-ε²): the fixed point is ε* = √(-log 0.8).
    const da = new DualAveraging({ delta: 0.8 });
    da.setMu(Math.log(10));
    let eps = 1;
    for (let i = 0; i < 2000; i++) eps = da.learn(Math.exp(-eps * eps));
    expect(da.complete()).toBeCloseTo(Math.sqrt(-Math.log(0.8)), 2);
    expect(() => new DualAveraging({ delta: 1 })).toThrow(/delta/);
    expect(() => new DualAveraging({ kappa: 0 })).toThrow(/kappa/);
  });

  it('initStepsize finds a step whose one-step acceptance is near 0.8', () => {
    const sds = [0.1, 0.1, 0.1];
    const h = new Hamiltonian(iidNormal(sds), diagMetric([1, 1, 1]));
    const z = new PhasePoint(3);
    z.q.set([0.05, -0.02, 0.1]);
    h.evaluate(z);
    const eps = initStepsize(h, z, 1, Key.seed(23).rng());
    // The heuristic halves from 1 until the one-step log acceptance exceeds log 0.8: for sd 0.1 that is O(0.1).
    expect(eps).toBeLessThan(0.5);
    expect(eps).toBeGreaterThan(0.01);
    expect(Array.from(z.q)).toEqual([0.05, -0.02, 0.1]);
  });
});

describe('NUTS on Gaussian targets', () => {
  it('standard normal in 1 and 10 dimensions: means and variances within 4 MCSE', () => {
    const r1 = runChain(iidNormal([1]), { init: [0.5], seed: 101, warmup: 500, draws: 2000 });
    expectNormalMoments(r1, [1], '1-D');
    const sds = Array(10).fill(1);
    const r10 = runChain(iidNormal(sds), { init: sds.map((_, i) => 0.2 * i - 1), seed: 102, warmup: 500, draws: 1000 });
    expectNormalMoments(r10, sds, '10-D');
    // Tree bookkeeping: 2^d - 1 <= n_leapfrog <= 2^(d+1) - 1 and accept_stat in [0, 1].
    for (const s of [...r1.stats, ...r10.stats]) {
      expect(s.n_leapfrog).toBeGreaterThanOrEqual(2 ** s.treedepth - 1);
      expect(s.n_leapfrog).toBeLessThanOrEqual(2 ** (s.treedepth + 1) - 1);
      expect(s.accept_stat).toBeGreaterThanOrEqual(0);
      expect(s.accept_stat).toBeLessThanOrEqual(1);
      expect(s.divergent).toBe(0);
    }
    // lp and energy are consistent with the draw: lp = -½|x|², energy >= -lp (K >= 0).
    r10.draws.forEach((d, i) => {
      expect(r10.stats[i].lp).toBeCloseTo(-0.5 * d.reduce((a, x) => a + x * x, 0), 10);
      expect(r10.stats[i].energy).toBeGreaterThanOrEqual(-r10.stats[i].lp);
    });
  });

  const cov = [[1, 9], [9, 100]]; // scales 1 and 10, correlation 0.9
  for (const metric of ['diag', 'dense'] as const) {
    it(`correlated 2-D Gaussian (ρ = 0.9, scales 1 and 10), ${metric} metric: moments within 4 MCSE, metric adapted`, () => {
      const r = runChain(gaussian(cov), { init: [0.5, -3], seed: 201, metric, warmup: 1000, draws: 1500 });
      expectWithinMcse(coord(r, 0), 0, K, 'mean[0]');
      expectWithinMcse(coord(r, 1), 0, K, 'mean[1]');
      expectWithinMcse(mapDraws(r, (d) => d[0] * d[0]), 1, K, 'var[0]');
      expectWithinMcse(mapDraws(r, (d) => d[1] * d[1]), 100, K, 'var[1]');
      expectWithinMcse(mapDraws(r, (d) => d[0] * d[1]), 9, K, 'cov[0,1]');
      expect(meanStat(r, 'divergent')).toBe(0);
      if (metric === 'diag') {
        expect(r.invMetric.length).toBe(2);
        expect(r.invMetric[0] / 1).toBeGreaterThan(0.7);
        expect(r.invMetric[0] / 1).toBeLessThan(1.3);
        expect(r.invMetric[1] / 100).toBeGreaterThan(0.7);
        expect(r.invMetric[1] / 100).toBeLessThan(1.3);
      } else {
        expect(r.invMetric.length).toBe(4);
        const flat = [1, 9, 9, 100];
        flat.forEach((v, i) => {
          expect(r.invMetric[i] / v).toBeGreaterThan(0.7);
          expect(r.invMetric[i] / v).toBeLessThan(1.3);
        });
        // The dense metric whitens the correlation: shorter trajectories than the diagonal metric.
        const rd = runChain(gaussian(cov), { init: [0.5, -3], seed: 201, metric: 'diag', warmup: 1000, draws: 1500 });
        expect(meanStat(r, 'n_leapfrog')).toBeLessThan(0.75 * meanStat(rd, 'n_leapfrog'));
      }
    });
  }

  it('100-D normal with scales 0.01..100: the adapted metric makes it mix', () => {
    const sds = Array.from({ length: 100 }, (_, i) => 10 ** (-2 + (4 * i) / 99));
    const r = runChain(iidNormal(sds), { init: sds.map(() => 0.001), seed: 301, warmup: 1000, draws: 1000 });
    expect(meanStat(r, 'divergent')).toBe(0);
    expect(meanStat(r, 'treedepth')).toBeLessThan(4.5);
    expect(Math.max(...r.stats.map((s) => s.treedepth))).toBeLessThan(7);
    // The metric tracks the variances across eight orders of magnitude.
    sds.forEach((sd, i) => {
      expect(r.invMetric[i] / (sd * sd)).toBeGreaterThan(0.6);
      expect(r.invMetric[i] / (sd * sd)).toBeLessThan(1.5);
    });
    // Moments: the smallest and largest scales coordinate-wise, and all 100 coordinates through
    // the scalar chains mean_i(x_i/sd_i) and mean_i((x_i/sd_i)²) (one 4-MCSE check each, rather
    // than 200 separate ones).
    expectNormalMoments(r, [sds[0]], '100-D, sd 0.01');
    const last = coord(r, 99).map((x) => x / sds[99]);
    expectWithinMcse(last, 0, K, '100-D, sd 100: mean');
    expectWithinMcse(last.map((x) => x * x), 1, K, '100-D, sd 100: var');
    expectWithinMcse(mapDraws(r, (d) => d.reduce((a, x, i) => a + x / sds[i], 0) / 100), 0, K, '100-D: mean of scaled coordinates');
    expectWithinMcse(mapDraws(r, (d) => d.reduce((a, x, i) => a + (x / sds[i]) ** 2, 0) / 100), 1, K, '100-D: mean of scaled squares');
    // Without adaptation (identity metric, fixed ε tuned to the smallest scale) trees hit the maximum depth.
    const slow = runChain(iidNormal(sds), { init: sds.map(() => 0.001), seed: 302, warmup: 0, draws: 5, stepsize: 0.01, maxTreeDepth: 6 });
    expect(slow.stats.every((s) => s.treedepth === 6 && s.n_leapfrog === 63)).toBe(true);
  });
});

describe('divergences and support', () => {
  it('a target with -Infinity / NaN on half the space: divergences flagged and counted, no NaN in the draws', () => {
    let lastDiv = -1;
    const phases: string[] = [];
    const r = runChain(halfSpaceNormal(2), {
      init: [0.5, 0.5], seed: 401, warmup: 500, draws: 2000,
      onIteration: (it, phase, divergences) => {
        if (it === 500 + 2000) lastDiv = divergences;
        phases.push(phase);
      },
    });
    const nDiv = r.stats.filter((s) => s.divergent === 1).length;
    expect(nDiv).toBeGreaterThan(10);
    expect(lastDiv).toBe(nDiv);
    expect(phases.length).toBe(2500);
    expect(phases.filter((p) => p === 'warmup').length).toBe(500);
    for (const d of r.draws) {
      expect(Number.isFinite(d[0]) && Number.isFinite(d[1])).toBe(true);
      expect(d[0]).toBeGreaterThan(0);
    }
    for (const s of r.stats) {
      expect(Number.isFinite(s.lp)).toBe(true);
      expect(Number.isFinite(s.energy)).toBe(true);
      if (s.divergent) expect(s.n_leapfrog).toBeGreaterThanOrEqual(2 ** s.treedepth);
    }
    // The wall does not bias the sampler: the half-normal mean √(2/π) and E[x²] = 1.
    expectWithinMcse(coord(r, 0), Math.sqrt(2 / Math.PI), K, 'half-normal mean');
    expectWithinMcse(mapDraws(r, (d) => d[0] * d[0]), 1, K, 'half-normal E[x²]');
    expectWithinMcse(coord(r, 1), 0, K, 'free coordinate mean');
  });

  it("Neal's funnel: divergences flagged, draws stay finite", () => {
    const r = runChain(funnel(10), { init: Array(10).fill(0.1), seed: 402, warmup: 300, draws: 500 });
    const nDiv = r.stats.reduce((a, s) => a + s.divergent, 0);
    expect(nDiv).toBeGreaterThan(0);
    expect(r.draws.every((d) => d.every(Number.isFinite))).toBe(true);
    expect(r.stats.every((s) => Number.isFinite(s.lp) && Number.isFinite(s.energy))).toBe(true);
    // A divergence ends the transition inside the subtree being built, which is discarded:
    // the trajectory kept has 2^d - 1 steps and the discarded subtree at least one more.
    for (const s of r.stats) {
      if (s.divergent) {
        expect(s.n_leapfrog).toBeGreaterThanOrEqual(2 ** s.treedepth);
        expect(s.n_leapfrog).toBeLessThan(2 ** (s.treedepth + 1));
      }
    }
  });

  it('rejects an init where the log density or gradient is not finite', () => {
    expect(() => runChain(halfSpaceNormal(2), { init: [-1, 1], seed: 1 })).toThrow(InitError);
    expect(() => runChain(halfSpaceNormal(2), { init: [-1, -1], seed: 1 })).toThrow(/not finite at the initial point/);
    const badGrad = { dim: 1, logDensityGrad: (_u: Float64Array, g: Float64Array) => { g[0] = NaN; return 0; } };
    expect(() => runChain(badGrad, { init: [0], seed: 1 })).toThrow(/gradient\[0\]/);
  });

  it('validates options with RangeErrors naming the argument', () => {
    const t = iidNormal([1, 1]);
    expect(() => runChain(t, { init: [0], seed: 1 })).toThrow(/init must have length target.dim = 2/);
    expect(() => runChain(t, { init: [0, 0] })).toThrow(/seed or a key/);
    expect(() => runChain(t, { init: [0, 0], seed: 1, delta: 1.5 })).toThrow(/delta/);
    expect(() => runChain(t, { init: [0, 0], seed: 1, warmup: -1 })).toThrow(/warmup/);
    expect(() => runChain(t, { init: [0, 0], seed: 1, maxTreeDepth: 0 })).toThrow(/maxTreeDepth/);
    expect(() => runChain(t, { init: [0, 0], seed: 1, invMetric: [1] })).toThrow(/invMetric/);
    expect(() => runChain(t, { init: [0, 0], seed: 1, stepsize: 0 })).toThrow(/stepsize/);
    expect(() => runChain(t, { init: [0, 0], seed: 1, metric: 'full' as 'dense' })).toThrow(/metric/);
  });
});

describe('static HMC', () => {
  it('gives correct moments (jittered step size, fixed integration time)', () => {
    const sds = [1, 2, 0.5, 1, 3];
    const r = runChain(iidNormal(sds), {
      init: [0.1, 0.2, -0.1, 0, 0.3], seed: 501, algorithm: 'hmc', intTime: 2.2, stepsizeJitter: 0.3, warmup: 500, draws: 2000,
    });
    expectNormalMoments(r, sds, 'static HMC');
    expect(r.numSteps).toBe(Math.max(1, Math.floor(2.2 / r.stepsize)));
    expect(r.numSteps).toBeGreaterThan(1);
    expect(r.stats.every((s) => s.n_leapfrog === r.numSteps)).toBe(true);
    expect(r.stats.every((s) => s.treedepth === 0)).toBe(true);
    const steps = r.stats.map((s) => s.stepsize);
    expect(Math.min(...steps)).toBeGreaterThanOrEqual(0.7 * r.stepsize);
    expect(Math.max(...steps)).toBeLessThanOrEqual(1.3 * r.stepsize);
    expect(Math.max(...steps) - Math.min(...steps)).toBeGreaterThan(0.3 * r.stepsize);
  });

  it('gives correct moments with a fixed number of steps on the correlated Gaussian (dense metric)', () => {
    // Jitter matters: with a fixed ε and L on a whitened Gaussian the dynamics are nearly
    // periodic, the chain is close to non-ergodic and its ESS estimate is unreliable.
    const r = runChain(gaussian([[1, 9], [9, 100]]), {
      init: [0, 0], seed: 502, algorithm: 'hmc', numSteps: 7, stepsizeJitter: 0.3, metric: 'dense', warmup: 500, draws: 2000,
    });
    expect(r.stats.every((s) => s.n_leapfrog === 7)).toBe(true);
    expectWithinMcse(coord(r, 0), 0, K, 'mean[0]');
    expectWithinMcse(coord(r, 1), 0, K, 'mean[1]');
    expectWithinMcse(mapDraws(r, (d) => d[0] * d[0]), 1, K, 'var[0]');
    expectWithinMcse(mapDraws(r, (d) => d[1] * d[1]), 100, K, 'var[1]');
    expectWithinMcse(mapDraws(r, (d) => d[0] * d[1]), 9, K, 'cov[0,1]');
  });
});

describe('test-only mutation switch', () => {
  const sds = Array(10).fill(1);
  const opts = { init: sds.map(() => 0.3), seed: 601, warmup: 500, draws: 1000 };

  it("'acceptance' (wrong sign of the kinetic term in the multinomial weights) is caught by the moment check", () => {
    const good = runChain(iidNormal(sds), opts);
    const bad = runChain(iidNormal(sds), { ...opts, _testBias: 'acceptance' });
    const varGood = zScore(mapDraws(good, (d) => d[0] * d[0]), 1);
    const varBad = zScore(mapDraws(bad, (d) => d[0] * d[0]), 1);
    expect(Math.abs(varGood.z)).toBeLessThan(K);
    expect(Math.abs(varBad.z), `biased E[x²] = ${varBad.mean} ± ${varBad.mcse}`).toBeGreaterThan(6);
    // On every coordinate, not by luck on one.
    for (let i = 0; i < 10; i++) expect(Math.abs(zScore(mapDraws(bad, (d) => d[i] * d[i]), 1).z)).toBeGreaterThan(6);
  });

  it("'leapfrog' (skipped closing half step) is caught by the moment check at a fixed step size", () => {
    // NUTS weights states by the true energy and dual averaging shrinks ε until the energy
    // error is small, which hides most of an O(ε²) integrator bug after adaptation; at a
    // fixed ε = 1 the bias in E[x²] is plain, while the correct kernel passes.
    const o = { init: [0.3], seed: 602, warmup: 0, stepsize: 1, draws: 8000 };
    const good = zScore(mapDraws(runChain(iidNormal([1]), o), (d) => d[0] * d[0]), 1);
    const bad = zScore(mapDraws(runChain(iidNormal([1]), { ...o, _testBias: 'leapfrog' }), (d) => d[0] * d[0]), 1);
    expect(Math.abs(good.z), `correct E[x²] = ${good.mean} ± ${good.mcse}`).toBeLessThan(K);
    expect(Math.abs(bad.z), `biased E[x²] = ${bad.mean} ± ${bad.mcse}`).toBeGreaterThan(6);
  });

  it("'leapfrog' also shows in the adaptation: in 10-D the trees saturate at the maximum depth", () => {
    const sds = Array(10).fill(1);
    const o = { init: sds.map(() => 0.3), seed: 603, warmup: 300, draws: 200 };
    expect(meanStat(runChain(iidNormal(sds), o), 'treedepth')).toBeLessThan(4);
    expect(meanStat(runChain(iidNormal(sds), { ...o, _testBias: 'leapfrog' }), 'treedepth')).toBeGreaterThan(9);
  });
});

describe('determinism and the progress callback', () => {
  it('same seed gives identical draws and stats; another seed differs; key and seed agree', () => {
    const t = gaussian([[1, 0.5], [0.5, 2]]);
    const a = runChain(t, { init: [0.1, 0.2], seed: 7, warmup: 200, draws: 100 });
    const b = runChain(t, { init: [0.1, 0.2], seed: 7, warmup: 200, draws: 100 });
    const c = runChain(t, { init: [0.1, 0.2], seed: 8, warmup: 200, draws: 100 });
    const k = runChain(t, { init: [0.1, 0.2], key: Key.seed(7), warmup: 200, draws: 100 });
    expect(a.draws).toEqual(b.draws);
    expect(a.stats).toEqual(b.stats);
    expect(a.stepsize).toBe(b.stepsize);
    expect(Array.from(a.invMetric)).toEqual(Array.from(b.invMetric));
    expect(k.draws).toEqual(a.draws);
    expect(c.draws).not.toEqual(a.draws);
  });

  it('reports every iteration, returns warm-up stats and (optionally) warm-up draws', () => {
    const calls: [number, string][] = [];
    const r = runChain(iidNormal([1]), {
      init: [0], seed: 9, warmup: 30, draws: 20, saveWarmup: true, onIteration: (i, p) => calls.push([i, p]),
    });
    expect(calls.map((c) => c[0])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(calls.slice(0, 30).every((c) => c[1] === 'warmup')).toBe(true);
    expect(calls.slice(30).every((c) => c[1] === 'sampling')).toBe(true);
    expect(r.warmupStats.length).toBe(30);
    expect(r.warmupDraws!.length).toBe(30);
    expect(r.draws.length).toBe(20);
    expect(r.stats.every((s) => s.stepsize === r.stepsize)).toBe(true);
    expect(r.timeWarmupMs).toBeGreaterThanOrEqual(0);
    expect(r.timeSamplingMs).toBeGreaterThanOrEqual(0);
  });

  it('a single NUTS transition from a state with maxTreeDepth 1 takes one leapfrog step', () => {
    const h = new Hamiltonian(iidNormal([1, 1]), diagMetric([1, 1]));
    const kernel = new NutsKernel(h, { maxTreeDepth: 1 });
    const z = new PhasePoint(2);
    z.q.set([0.4, -0.2]);
    h.evaluate(z);
    const s = kernel.transition(z, 0.3, Key.seed(10).rng());
    expect(s.n_leapfrog).toBe(1);
    expect(s.treedepth).toBe(1);
    expect(s.lp).toBe(z.lp);
  });
});
