// Particle filters for state-space models against exact filters: filtering means and
// quantiles against the Kalman filter, unbiasedness of Ẑ (the mean of exp(log Ẑ − log Z) over
// R independent runs within 3 standard errors of 1, SE estimated across the runs), HMM
// evidence against the forward algorithm (also for the adapter from a compiled model), the
// Rao–Blackwellised filter on a switching linear-Gaussian model against exact enumeration,
// FFBSi and particle Gibbs against the RTS smoother, and the mutation checks: a filter that
// keeps the weights after resampling, and a wrong transition, fail the unbiasedness check.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import {
  conditionalSmc, ffbsi, particleFilter, particleGibbs, stratifiedResample,
  type FilterResampleScheme, type ParticleFilterOptions,
} from '../../src/infer/smc/filter';
import {
  hmmFromModel, hmmSsm, hmmTables, linearGaussianSsm, switchingLgssm, switchingLgssmFromModel,
  type StateSpaceModel,
} from '../../src/infer/smc/ssm';
import { hmmForward, kalmanFilter, switchingLgssmLogEvidence } from '../../src/infer/smc/kalman';
import { readFileSync } from 'node:fs';
import { Key } from '../../src/tensor/random';
import { particleFilterDevice, hmmTensorSsm } from '../../src/infer/smc/filter-device';
import { A, hmmTab, hmmY, LG, lgY, MU, normLog, PI, ratioSummary, SD } from './smc-filter-cases';

beforeAll(async () => {
  await ensureBackend();
});

const SCHEMES: FilterResampleScheme[] = ['systematic', 'multinomial', 'residual', 'stratified'];

/** Mean of exp(log Ẑ − log Z) over R runs with seeds 1..R, its SE across runs, and the log Ẑ values. */
function ratioStats(ssm: StateSpaceModel, logZ: number, R: number, opts: ParticleFilterOptions) {
  const lz: number[] = [];
  for (let s = 1; s <= R; s++) lz.push(particleFilter(ssm, { quantiles: [], ...opts, seed: s }).logZ);
  return ratioSummary(lz, logZ);
}

describe('linear-Gaussian model against the Kalman filter', () => {
  const kf = kalmanFilter(LG, lgY);
  const ssm = linearGaussianSsm(LG, lgY);

  it('filtering means and quantiles match the Kalman filter within 4 SE across runs', () => {
    // R runs of n particles: the across-run SE of each step's mean covers the filter's own
    // Monte Carlo error (resampling included). The self-normalised estimates also carry a bias
    // of order var/ESS that the SE does not cover; it is below SE·sqrt(R/ESS), so steps where
    // some run's ESS fell below 50 are left out (the bootstrap filter at the data's last point,
    // an outlier, keeps ~5 of 500 particles) and at least 90% of the steps must be checked.
    const R = 20;
    for (const proposal of ['bootstrap', 'optimal'] as const) {
      const runs = Array.from({ length: R }, (_, i) => particleFilter(ssm, { particles: 500, seed: 100 + i, proposal, quantiles: [0.05, 0.5, 0.95] }));
      let checked = 0;
      for (let t = 0; t < lgY.length; t++) {
        if (Math.min(...runs.map((r) => r.ess[t])) < 50) continue;
        checked++;
        const m = runs.map((r) => r.means[t]);
        const mean = m.reduce((a, b) => a + b, 0) / R;
        const se = Math.sqrt(m.reduce((a, b) => a + (b - mean) ** 2, 0) / (R - 1) / R);
        expect(Math.abs(mean - kf.means[t]), `${proposal} mean at step ${t}`).toBeLessThan(4 * se);
        // quantiles of the Gaussian filtering distribution: mean ± 1.645 sd
        for (const [j, zq] of [[0, -1.6449], [1, 0], [2, 1.6449]] as const) {
          const q = runs.map((r) => r.quantiles[t * 3 + j]);
          const qm = q.reduce((a, b) => a + b, 0) / R;
          const qse = Math.sqrt(q.reduce((a, b) => a + (b - qm) ** 2, 0) / (R - 1) / R);
          // A weighted empirical p-quantile of m effective draws has a bias of order
          // p(1−p)|f'|/(2f³)/m ≈ 3.7 sd/m at p = 0.95 for a Gaussian: allow 5 sd / (smallest ESS).
          const exact = kf.means[t] + zq * Math.sqrt(kf.variances[t]);
          const ess = Math.min(...runs.map((r) => r.ess[t]));
          expect(Math.abs(qm - exact), `${proposal} quantile ${j} at step ${t}`).toBeLessThan(4 * qse + (5 * Math.sqrt(kf.variances[t])) / ess);
        }
      }
      expect(checked).toBeGreaterThanOrEqual(0.9 * lgY.length);
    }
  });

  // The 3-SE check on exp(log Ẑ − log Z) is calibrated when sd(log Ẑ) ≲ 0.5 (a lognormal with
  // a heavier right tail makes small-sample SEs too small): particle counts are set for that
  // (measured: bootstrap n = 1000 sd 0.49, optimal n = 200 sd 0.33).
  it('the evidence estimate is unbiased for every resampling scheme and both proposals', () => {
    for (const resampling of SCHEMES) {
      for (const proposal of ['bootstrap', 'optimal'] as const) {
        const s = ratioStats(ssm, kf.logZ, 150, { particles: proposal === 'bootstrap' ? 1000 : 200, resampling, proposal });
        expect(Math.abs(s.z), `${resampling}/${proposal}: mean ratio ${s.mean} ± ${s.se}`).toBeLessThan(3);
      }
    }
  });

  it('a filter that keeps the weights after resampling fails the unbiasedness check', () => {
    const s = ratioStats(ssm, kf.logZ, 200, { particles: 1000, _testBias: 'keep-weights' });
    expect(Math.abs(s.z)).toBeGreaterThan(3);
  });

  it('a wrong transition (a = 0.8 instead of 0.9) fails the unbiasedness check', () => {
    const wrong = linearGaussianSsm({ ...LG, a: 0.8 }, lgY);
    const s = ratioStats(wrong, kf.logZ, 200, { particles: 1000 });
    expect(Math.abs(s.z)).toBeGreaterThan(3);
  });

  it('resampling follows the ESS threshold: 1 resamples every step, 0 never', () => {
    const always = particleFilter(ssm, { particles: 100, resampleThreshold: 1 });
    expect(Array.from(always.resampled.subarray(1)).every((v) => v === 1)).toBe(true);
    const never = particleFilter(ssm, { particles: 100, resampleThreshold: 0 });
    expect(Array.from(never.resampled).every((v) => v === 0)).toBe(true);
    const half = particleFilter(ssm, { particles: 100, resampleThreshold: 0.5 });
    for (let t = 1; t < lgY.length; t++) expect(half.resampled[t]).toBe(half.ess[t - 1] < 50 ? 1 : 0);
    expect(half.logZIncrements.reduce((a, b) => a + b, 0)).toBeCloseTo(half.logZ, 9);
    const w = half.finalWeights.reduce((a, b) => a + b, 0);
    expect(w).toBeCloseTo(1, 12);
    expect(half.finalParticles.length).toBe(100);
  });

  it('the same seed gives the same run', () => {
    const a = particleFilter(ssm, { particles: 50, seed: 7 });
    const b = particleFilter(ssm, { particles: 50, seed: 7 });
    expect(a.logZ).toBe(b.logZ);
    expect(Array.from(a.means)).toEqual(Array.from(b.means));
  });

  it('FFBSi smoothing means match the RTS smoother within 4 SE across runs', () => {
    const R = 10;
    // the optimal proposal of this model moves Markov states, so FFBSi applies (and its ESS stays high)
    const runs = Array.from({ length: R }, (_, i) => ffbsi(ssm, particleFilter(ssm, { particles: 300, seed: 200 + i, history: true, quantiles: [], proposal: 'optimal' }), { trajectories: 60, seed: i + 1 }));
    for (const t of [0, 10, 25, 49]) {
      const m = runs.map((r) => r.means[t]);
      const mean = m.reduce((a, b) => a + b, 0) / R;
      const se = Math.sqrt(m.reduce((a, b) => a + (b - mean) ** 2, 0) / (R - 1) / R);
      expect(Math.abs(mean - kf.smoothedMeans[t]), `step ${t}`).toBeLessThan(4 * se);
    }
  });

  it('particle Gibbs (conditional SMC with ancestor sampling) targets the smoothing distribution', () => {
    // SE of the chain average by batch means (20 batches of 30 sweeps, after 100 sweeps of burn-in).
    const paths = particleGibbs(ssm, { iterations: 700, particles: 15, seed: 3 });
    const kept = paths.slice(100);
    for (const t of [0, 25, 49]) {
      const B = 20;
      const L = kept.length / B;
      const bm = Array.from({ length: B }, (_, b) => kept.slice(b * L, (b + 1) * L).reduce((a, p) => a + p[t], 0) / L);
      const mean = bm.reduce((a, b) => a + b, 0) / B;
      const se = Math.sqrt(bm.reduce((a, b) => a + (b - mean) ** 2, 0) / (B - 1) / B);
      expect(Math.abs(mean - kf.smoothedMeans[t]), `step ${t}: ${mean} vs ${kf.smoothedMeans[t]} (SE ${se})`).toBeLessThan(4 * se);
    }
    // a single sweep holds the reference when it has only itself and no ancestor sampling
    const ref = paths[699];
    const one = conditionalSmc(ssm, ref, { particles: 2, seed: 1, ancestorSampling: false });
    expect(one.trajectory.length).toBe(lgY.length);
  });
});

describe('discrete HMM against the forward algorithm', () => {
  const tab = hmmTab();
  const exact = hmmForward(tab);

  it('log Ẑ is unbiased for the evidence of the forward algorithm, bootstrap and optimal', () => {
    for (const resampling of ['systematic', 'residual'] as const) {
      for (const proposal of ['bootstrap', 'optimal'] as const) {
        // measured sd(log Ẑ): bootstrap n = 1500 about 0.27, optimal n = 500 about 0.1
        const s = ratioStats(hmmSsm(tab), exact.logZ, 100, { particles: proposal === 'bootstrap' ? 1500 : 500, resampling, proposal });
        expect(Math.abs(s.z), `${resampling}/${proposal}: mean ratio ${s.mean} ± ${s.se}`).toBeLessThan(3);
        // and log Ẑ itself is within 4 sd/√R of log Z plus the Jensen gap var/2 (delta method)
        expect(Math.abs(s.logMean + s.logVar / 2 - exact.logZ)).toBeLessThan(4 * Math.sqrt(s.logVar / 100) + s.logVar);
      }
    }
  });

  it('the optimal proposal filters the state probabilities', () => {
    const r = particleFilter(hmmSsm(tab), { particles: 4000, seed: 5, proposal: 'optimal' });
    for (let t = 0; t < tab.T; t += 7) {
      const p = exact.filtered[t * 2 + 1];
      // SE of a weighted proportion from the ESS; ×1.5 for the dependence resampling adds
      expect(Math.abs(r.means[t] - p)).toBeLessThan(4 * 1.5 * Math.sqrt(p * (1 - p) / r.ess[t]) + 1e-9);
    }
  });

  it('the adapter from stdlib/gaussian_hmm.mix gives the model\'s own evidence, and the filter matches it', () => {
    const model = compile('stdlib/gaussian_hmm.mix');
    const bound = model.bind({ K: 2, y: hmmY });
    try {
      const values = { pi: PI, A, mu: MU, sigma: SD };
      const tabM = hmmFromModel(bound, values);
      const fw = hmmForward(tabM);
      // the tables are evaluated in float32: 1e-5 relative
      expect(Math.abs(fw.logZ - exact.logZ)).toBeLessThan(1e-5 * Math.abs(exact.logZ));
      expect(Math.abs(fw.logZ - bound.logDensity(values, { priors: false }))).toBeLessThan(1e-5 * Math.abs(exact.logZ));
      for (const [proposal, particles] of [['bootstrap', 1500], ['optimal', 500]] as const) {
        const s = ratioStats(hmmSsm(tabM), fw.logZ, 100, { particles, proposal, resampling: 'stratified' });
        expect(Math.abs(s.z), `${proposal}: ${s.mean} ± ${s.se}`).toBeLessThan(3);
      }
    } finally {
      bound.dispose();
    }
  });

  it('statements without the chain enter log Ẑ once (the tables\' logConst), on the host and the device', async () => {
    // gaussian_hmm plus observations w that involve no state: p(y, w | θ) = p(y | θ) p(w | θ)
    const base = readFileSync('stdlib/gaussian_hmm.mix', 'utf8');
    const src = base
      .replace('data y: real[T]', 'data y: real[T]\n  data w: real[M]')
      .replace(/\}\s*$/, '  for m in 1..M {\n    w[m] ~ normal(mu[1], 3)\n  }\n}\n');
    expect(src).toContain('w[m] ~ normal(mu[1], 3)');
    const w = [0.5, -2, 1.25];
    const bound = compile(src).bind({ K: 2, y: hmmY, w });
    try {
      const values = { pi: PI, A, mu: MU, sigma: SD };
      const tabM = hmmFromModel(bound, values);
      const wTerm = w.reduce((acc, v) => acc + normLog(v, MU[0], 3), 0);
      expect(Math.abs(tabM.logConst! - wTerm)).toBeLessThan(1e-5 * Math.abs(wTerm));
      const fw = hmmForward(tabM);
      expect(Math.abs(fw.logZ - (exact.logZ + wTerm))).toBeLessThan(1e-5 * Math.abs(fw.logZ));
      // measured sd(log Ẑ): optimal n = 500 about 0.1
      const s = ratioStats(hmmSsm(tabM), fw.logZ, 100, { particles: 500, proposal: 'optimal' });
      expect(Math.abs(s.z), `host: ${s.mean} ± ${s.se}`).toBeLessThan(3);
      const one = particleFilter(hmmSsm(tabM), { particles: 50, seed: 1, quantiles: [] });
      expect(one.logZIncrements.reduce((a, b) => a + b, 0)).toBeCloseTo(one.logZ, 8);
      const dev = hmmTensorSsm(tabM);
      try {
        const lz: number[] = [];
        for (let r = 1; r <= 40; r++) lz.push((await particleFilterDevice(dev, { particles: 500, seed: r, proposal: 'optimal' })).logZ);
        const d = ratioSummary(lz, fw.logZ);
        expect(Math.abs(d.z), `device: ${d.mean} ± ${d.se}`).toBeLessThan(3);
      } finally {
        dev.dispose();
      }
    } finally {
      bound.dispose();
    }
  });

  it('the adapter takes discrete emissions (stdlib/poisson_hmm.mix) and a fixed-size example (geyser)', () => {
    const model = compile('stdlib/poisson_hmm.mix');
    const y = [1, 0, 2, 8, 9, 7, 1, 0, 10, 12, 2];
    const bound = model.bind({ K: 2, y });
    try {
      const values = { pi: [0.5, 0.5], A: [[0.8, 0.2], [0.3, 0.7]], lambda: [1, 9] };
      const fw = hmmForward(hmmFromModel(bound, values));
      expect(Math.abs(fw.logZ - bound.logDensity(values, { priors: false }))).toBeLessThan(1e-4);
    } finally {
      bound.dispose();
    }
    const geyser = compile('examples/geyser-hmm/geyser.mix');
    const b2 = geyser.bind({ y: [80, 55, 85, 52, 78, 81, 49] });
    try {
      const v = { pi: [0.5, 0.5], A: [[0.2, 0.8], [0.6, 0.4]], mu: [54, 80], sigma: [6, 6] };
      expect(Math.abs(hmmForward(hmmFromModel(b2, v)).logZ - b2.logDensity(v, { priors: false }))).toBeLessThan(1e-4);
    } finally {
      b2.dispose();
    }
  });

  it('the adapter refuses models that are not HMMs, with a RangeError saying why', () => {
    const gmm = compile('stdlib/gmm_diag.mix');
    const b = gmm.bind({ K: 2, x: [[1, 2], [3, 4], [0, 1]] });
    try {
      expect(() => hmmFromModel(b, {})).toThrow(/0 chain latents/);
    } finally {
      b.dispose();
    }
    const sw = compile('stdlib/switching_lgssm.mix');
    const b2 = sw.bind({ K: 2, y: [0.1, 0.5, -0.2] });
    try {
      const v = { pi: [0.5, 0.5], A: [[0.9, 0.1], [0.1, 0.9]], a: [0.5, 0.9], q: [1, 2], r: 1, x: [0, 0, 0] };
      expect(() => hmmFromModel(b2, v)).toThrow(RangeError);
      expect(() => hmmFromModel(b2, v)).toThrow(/depends on the chain 's'/);
    } finally {
      b2.dispose();
    }
  });
});

describe('switching linear-Gaussian model (stdlib/switching_lgssm.mix)', () => {
  const P = { pi: [0.5, 0.5], A: [[0.9, 0.1], [0.2, 0.8]], a: [0.9, 0.3], q: [0.5, 2], r: 0.5 };
  const y = lgY.slice(0, 12);
  const exact = switchingLgssmLogEvidence(P, y);

  it('the Rao–Blackwellised filter is unbiased, agrees with the bootstrap filter, and has smaller log Ẑ variance', () => {
    const ssm = switchingLgssm(P, y);
    // same particle count for both (measured sd(log Ẑ) at n = 400: bootstrap ~0.33, RB ~0.04)
    const rb = ratioStats(ssm, exact, 100, { particles: 400, proposal: 'optimal' });
    const bs = ratioStats(ssm, exact, 100, { particles: 400, proposal: 'bootstrap' });
    expect(Math.abs(rb.z), `RB ${rb.mean} ± ${rb.se}`).toBeLessThan(3);
    expect(Math.abs(bs.z), `bootstrap ${bs.mean} ± ${bs.se}`).toBeLessThan(3);
    // agreement of the two estimates of Z: difference of means within 3 combined SE
    expect(Math.abs(rb.mean - bs.mean)).toBeLessThan(3 * Math.hypot(rb.se, bs.se));
    // variance ratio: an F(99, 99) statistic exceeds 2 with probability < 1e-3 when the variances are equal
    expect(bs.logVar / rb.logVar, `variances ${bs.logVar} vs ${rb.logVar}`).toBeGreaterThan(2);
  });

  it('the filtering mean of x agrees between the two filters', () => {
    const ssm = switchingLgssm(P, y);
    const R = 12;
    const rb = Array.from({ length: R }, (_, i) => particleFilter(ssm, { particles: 300, seed: 50 + i, proposal: 'optimal', quantiles: [] }));
    const bs = Array.from({ length: R }, (_, i) => particleFilter(ssm, { particles: 300, seed: 80 + i, quantiles: [] }));
    for (const t of [0, 5, 11]) {
      const ms = [rb, bs].map((rs) => rs.map((r) => r.means[t * 3 + 1]));
      const stats = ms.map((m) => {
        const mean = m.reduce((a, b) => a + b, 0) / R;
        return { mean, se: Math.sqrt(m.reduce((a, b) => a + (b - mean) ** 2, 0) / (R - 1) / R) };
      });
      expect(Math.abs(stats[0].mean - stats[1].mean)).toBeLessThan(4 * Math.hypot(stats[0].se, stats[1].se));
    }
  });

  it('the adapter reads stdlib/switching_lgssm.mix, and its filter matches the exact evidence', () => {
    const model = compile('stdlib/switching_lgssm.mix');
    const bound = model.bind({ K: 2, y });
    try {
      const got = switchingLgssmFromModel(bound, P);
      expect(got.names).toEqual({ regime: 's', state: 'x', data: 'y' });
      // float32 evaluation: 1e-6 relative
      for (let k = 0; k < 2; k++) {
        expect(got.params.a[k]).toBeCloseTo(P.a[k], 6);
        expect(got.params.q[k]).toBeCloseTo(P.q[k], 6);
        expect(got.params.A[k][1]).toBeCloseTo(P.A[k][1], 6);
      }
      expect(got.params.p0).toBeCloseTo(25, 5); // x[1] ~ normal(0, 5)
      expect(got.params.c).toBeCloseTo(1, 6);
      expect(Math.abs(switchingLgssmLogEvidence(got.params, got.y) - exact)).toBeLessThan(1e-4);
      const s = ratioStats(got.ssm, exact, 60, { particles: 200, proposal: 'optimal' });
      expect(Math.abs(s.z), `${s.mean} ± ${s.se}`).toBeLessThan(3);
    } finally {
      bound.dispose();
    }
    const hmm = compile('stdlib/gaussian_hmm.mix').bind({ K: 2, y });
    try {
      expect(() => switchingLgssmFromModel(hmm, {})).toThrow(/autoregressive parameter vector/);
    } finally {
      hmm.dispose();
    }
  });

  it('FFBSi refuses Rao–Blackwellised particles and runs on bootstrap ones', () => {
    const ssm = switchingLgssm(P, y);
    const rb = particleFilter(ssm, { particles: 50, proposal: 'optimal', history: true });
    expect(() => ffbsi(ssm, rb)).toThrow(/Rao–Blackwellised/);
    const bs = particleFilter(ssm, { particles: 50, history: true });
    const sm = ffbsi(ssm, bs, { trajectories: 5 });
    expect(sm.trajectories.length).toBe(5 * y.length * 3);
  });
});

describe('stratified resampling', () => {
  it('keeps the weights in expectation (counts within 4 SE of n w_i)', () => {
    const w = [0.05, 0.3, 0.15, 0.5];
    const n = 7;
    const R = 4000;
    const rng = Key.seed(9).rng();
    const sum = new Float64Array(4);
    const sum2 = new Float64Array(4);
    for (let r = 0; r < R; r++) {
      const c = new Float64Array(4);
      for (const i of stratifiedResample(w, n, rng)) c[i]++;
      for (let i = 0; i < 4; i++) {
        sum[i] += c[i];
        sum2[i] += c[i] * c[i];
      }
    }
    for (let i = 0; i < 4; i++) {
      const m = sum[i] / R;
      const se = Math.sqrt((sum2[i] / R - m * m) / R);
      expect(Math.abs(m - n * w[i])).toBeLessThan(4 * se + 1e-12);
    }
  });
});

describe('bad inputs', () => {
  const ssm = linearGaussianSsm(LG, lgY);
  it('particleFilter options', () => {
    expect(() => particleFilter(ssm, { particles: 0 })).toThrow(RangeError);
    expect(() => particleFilter(ssm, { particles: NaN })).toThrow(/particles/);
    expect(() => particleFilter(ssm, { seed: 1.5 })).toThrow(/seed/);
    expect(() => particleFilter(ssm, { resampling: 'bogus' as FilterResampleScheme })).toThrow(/unknown resampling scheme 'bogus'/);
    expect(() => particleFilter(ssm, { resampleThreshold: 2 })).toThrow(/resampleThreshold/);
    expect(() => particleFilter(ssm, { resampleThreshold: NaN })).toThrow(/resampleThreshold/);
    expect(() => particleFilter(ssm, { proposal: 'smart' as 'optimal' })).toThrow(/proposal/);
    expect(() => particleFilter(ssm, { quantiles: [0.5, 1.5] })).toThrow(/quantiles/);
    const noOpt: StateSpaceModel = { ...ssm, optimal: undefined };
    expect(() => particleFilter(noOpt, { proposal: 'optimal' })).toThrow(/no locally optimal proposal/);
    expect(() => particleFilter(undefined as unknown as StateSpaceModel)).toThrow(RangeError);
  });
  it('a NaN log density names the particle and step', () => {
    const bad: StateSpaceModel = { ...ssm, logObservation: (t, x, n, out) => { ssm.logObservation(t, x, n, out); if (t === 3) out[0] = NaN; } };
    expect(() => particleFilter(bad, { particles: 10 })).toThrow(/particle 0 at step 4 is NaN/);
  });
  it('model descriptions', () => {
    expect(() => linearGaussianSsm({ ...LG, q: -1 }, lgY)).toThrow(/q must be a positive/);
    expect(() => linearGaussianSsm({ ...LG, a: NaN }, lgY)).toThrow(/a must be a finite/);
    expect(() => linearGaussianSsm(LG, [1, NaN])).toThrow(/y\[1\] is NaN/);
    expect(() => linearGaussianSsm(LG, [])).toThrow(/nonempty/);
    expect(() => hmmTables([0.5, 0.6], A, [[0, 0]])).toThrow(/sums to/);
    expect(() => hmmTables(PI, [[1, 0]], [[0, 0]])).toThrow(/2 rows/);
    expect(() => hmmTables(PI, A, [[0, 0, 0]])).toThrow(/logEmit\[0\] must have 2 entries/);
    expect(() => hmmSsm({ K: 2, T: 3, logInit: new Float64Array(2), logTrans: new Float64Array(3), logEmit: new Float64Array(6) })).toThrow(/logTrans/);
    expect(() => switchingLgssm({ pi: [1], A: [[1]], a: [0.5], q: [0], r: 1 }, [1])).toThrow(/q\[0\]/);
    expect(() => switchingLgssmLogEvidence({ pi: [0.5, 0.5], A, a: [0.5, 0.5], q: [1, 1], r: 1 }, lgY)).toThrow(/too many/);
  });
  it('smoothing and conditional SMC', () => {
    const r = particleFilter(ssm, { particles: 10 });
    expect(() => ffbsi(ssm, r)).toThrow(/history: true/);
    const h = particleFilter(ssm, { particles: 10, history: true });
    expect(() => ffbsi(ssm, h, { trajectories: 0 })).toThrow(/trajectories/);
    expect(() => conditionalSmc(ssm, new Float64Array(3))).toThrow(/reference must be/);
    expect(() => conditionalSmc(ssm, undefined, { particles: 1 })).toThrow(/particles/);
    expect(() => particleGibbs(ssm, { iterations: 0 })).toThrow(/iterations/);
  });
});
