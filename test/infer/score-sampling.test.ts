// The score-based samplers: MALA through scoreSample against exact conjugate posteriors
// (means and variances within 4 multi-chain MCSE); ULA's O(h) bias on a Gaussian against its
// closed-form stationary variance (and the same check rejecting the unbiased variance);
// mode weights of a bimodal 2-D Gaussian mixture recovered by annealed Langevin with the
// Feynman–Kac correction and by rdMC (and rdMC's moments on a narrow Gaussian), missed by MALA started in one mode and by annealed
// Langevin without its weights; annealed-Langevin log evidence against the closed form; and
// RangeErrors for bad options.
import { chainsMomentZScores as zScores } from './mcmc/hmc-helpers';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { annealedLangevin, gaussianPath, langevinChains, isotropicMixtureTarget, rdmc, scoreSample } from '../../src/infer/score';
import type { GradientTarget } from '../../src/infer/mcmc/hmc';
import { normalKnownVariance, poissonGamma } from '../../src/testing/exact';
import { Key } from '../../src/tensor/random';
import { NORMAL_MEAN, POISSON_GAMMA, normalEvidence } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const Z = 4;

const y = (() => {
  const rng = Key.seed(5).rng();
  return Array.from({ length: 12 }, () => rng.normal(2.2, 1.5));
})();
const counts = [3, 0, 5, 2, 7, 4, 1, 3];



const mixtureTarget = isotropicMixtureTarget;

// Modes at ±(4, 4): 11.3 standard deviations apart; the minor mode (weight 0.3) is the negative one.
const BIMODAL = mixtureTarget([0.3, 0.7], [[-4, -4], [4, 4]]);
/** Weighted share of the draws in the minor mode (x₁ + x₂ < 0). */
function minorShare(xs: Float64Array[], w?: Float64Array): number {
  let s = 0;
  let tot = 0;
  xs.forEach((x, i) => {
    const wi = w ? w[i] : 1;
    tot += wi;
    if (x[0] + x[1] < 0) s += wi;
  });
  return s / tot;
}

describe('MALA through scoreSample: exact posteriors of conjugate models', () => {
  it('normal mean with known variance', () => {
    const fit = scoreSample(compile(NORMAL_MEAN).bind({ y }), { method: 'mala', chains: 4, warmup: 500, draws: 1500, seed: 3 });
    const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const { zMean, zVar } = zScores(fit.draws('mu'), exact);
    expect(Math.abs(zMean), `mean z = ${zMean}`).toBeLessThan(Z);
    expect(Math.abs(zVar), `variance z = ${zVar}`).toBeLessThan(Z);
    const acc = fit.diagnostics.meanAcceptStat;
    expect(acc).toBeGreaterThan(0.4); // adapted towards 0.574
    expect(acc).toBeLessThan(0.75);
    expect(fit.names).toEqual(['mu']);
    expect(fit.summary()[0].name).toBe('lp__');
    expect(fit.toCmdStanCsv(0)).toContain('lp__');
  });

  it('poisson rate with a gamma prior (positive: sampled on the log scale)', () => {
    const fit = scoreSample(compile(POISSON_GAMMA).bind({ y: counts }), { method: 'mala', chains: 4, warmup: 500, draws: 1500, seed: 4 });
    const exact = poissonGamma({ shape: 2, rate: 1, y: counts });
    const { zMean, zVar } = zScores(fit.draws('lambda'), exact);
    expect(Math.abs(zMean), `mean z = ${zMean}`).toBeLessThan(Z);
    expect(Math.abs(zVar), `variance z = ${zVar}`).toBeLessThan(Z);
  });
});

describe("ULA's O(h) bias, in closed form", () => {
  // On N(0, σ²) with v = 1, ULA is the AR(1) x' = (1 − h/(2σ²)) x + √h ξ, whose stationary
  // variance is h / (1 − (1 − h/(2σ²))²) = σ² / (1 − h/(4σ²)).
  const sigma2 = 2;
  const h = 1;
  const ulaVar = sigma2 / (1 - h / (4 * sigma2)); // 2.2857
  const gaussian: GradientTarget = {
    dim: 1,
    logDensityGrad(u, g) {
      g[0] = -u[0] / sigma2;
      return (-0.5 * u[0] * u[0]) / sigma2;
    },
  };

  it('matches σ²/(1 − h/(4σ²)) and rejects σ²', () => {
    // 4000 chains from 0, 100 steps of warm-up (the AR coefficient 0.75^100 ≈ 3e-13), one
    // draw each: iid draws, so the sample variance has SE σ_ula² √(2/(n − 1)) ≈ 0.051.
    const run = langevinChains(gaussian, { method: 'ula', chains: 4000, warmup: 100, draws: 1, stepSize: h, precondition: false, init: [0], seed: 7 });
    const xs = run.chains.map((c) => c.draws[0][0]);
    const n = xs.length;
    const m = xs.reduce((a, b) => a + b, 0) / n;
    const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1);
    const se = ulaVar * Math.sqrt(2 / (n - 1));
    expect(Math.abs(m) / Math.sqrt(ulaVar / n)).toBeLessThan(Z);
    expect(Math.abs(v - ulaVar) / se, `variance ${v} vs ${ulaVar}`).toBeLessThan(Z);
    // The same check against the target's own variance fails: the bias is 5.6 SE.
    expect(Math.abs(v - sigma2) / se).toBeGreaterThan(Z);
  });

  it("scoreSample's 'langevin' on the normal-mean posterior: exact mean, inflated variance", () => {
    const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const step = 0.2;
    const fit = scoreSample(compile(NORMAL_MEAN).bind({ y }), { method: 'langevin', chains: 8, warmup: 200, draws: 1000, stepSize: step, precondition: false, seed: 5 });
    const biased = { mean: exact.mean, variance: exact.variance / (1 - step / (4 * exact.variance)) };
    const z = zScores(fit.draws('mu'), biased);
    expect(Math.abs(z.zMean), `mean z = ${z.zMean}`).toBeLessThan(Z);
    expect(Math.abs(z.zVar), `variance z = ${z.zVar}`).toBeLessThan(Z);
    expect(Math.abs(zScores(fit.draws('mu'), exact).zVar)).toBeGreaterThan(Z);
  });
});

describe('mode weights of a bimodal 2-D Gaussian mixture (0.3 / 0.7)', () => {
  // Tolerance 0.05 (the issue's). Monte Carlo error of the minor weight, measured over seeds
  // with these settings: annealed Langevin (8000 particles, essThreshold 0.8) mean 0.2995,
  // sd 0.011 over 12 seeds (the SMC's resampling inflates the binomial variance about 4×;
  // with 1000 particles the sd was 0.026–0.030 over 30 seeds, too large for this bound), so
  // 0.05 is 4.5 sd.
  // rdMC (2000 independent chains, the defaults: 25 log-spaced steps, 256 importance samples):
  // binomial sd √(0.21/2000) = 0.010 plus the estimator's bias, measured 0.3061 ± 0.0027 over 4
  // seeds (other seeds than this test's), so 0.05 is over 4 sd beyond the bias.
  it('annealed Langevin with the Feynman–Kac correction recovers them; without its weights it does not', () => {
    const path = gaussianPath(BIMODAL, { sd: 3 });
    const r = annealedLangevin(path, { particles: 8000, essThreshold: 0.8, seed: 11 });
    const w = minorShare(r.particles, r.weights);
    expect(Math.abs(w - 0.3), `minor weight ${w}`).toBeLessThan(0.05);
    expect(Math.abs(r.logZ), `log Z ${r.logZ} (the mixture is normalised)`).toBeLessThan(0.15);
    const plain = annealedLangevin(path, { particles: 8000, essThreshold: 0.8, seed: 11, _testBias: 'no-weights' });
    const wp = minorShare(plain.particles, plain.weights);
    expect(Math.abs(wp - 0.3), `unweighted minor weight ${wp}`).toBeGreaterThan(0.05);
  });

  it('rdMC recovers them', () => {
    const r = rdmc(BIMODAL, { chains: 2000, referenceSd: 4, seed: 12 });
    const w = minorShare(r.samples);
    expect(Math.abs(w - 0.3), `minor weight ${w}`).toBeLessThan(0.05);
  });

  it('MALA started in the minor mode stays there', () => {
    const run = langevinChains(BIMODAL, { method: 'mala', chains: 4, warmup: 300, draws: 1000, init: [-4, -4], seed: 13 });
    const w = minorShare(run.chains.flatMap((c) => c.draws));
    expect(Math.abs(w - 0.3), `minor weight ${w}`).toBeGreaterThan(0.05);
    expect(w).toBeGreaterThan(0.99);
  });
});

describe('rdMC on a Gaussian narrower than the OU scale', () => {
  it('has the right mean and variance (the bridge step adds no discretisation error)', () => {
    // N(1.385, 0.555²) (the normal-mean posterior's scale). 4000 independent chains: the mean
    // has SE sd/√n, the sample variance SE var·√(2/(n − 1)). Freezing the score over 25 steps
    // instead gave sd 0.75 (variance 14 SE off); the bridge gave 0.559 in development runs.
    const m0 = 1.385;
    const s = 0.555;
    const g: GradientTarget = { dim: 1, logDensityGrad: (u, gr) => { gr[0] = -(u[0] - m0) / (s * s); return -0.5 * ((u[0] - m0) / s) ** 2; } };
    const r = rdmc(g, { chains: 4000, innerSamples: 64, seed: 21 });
    const xs = r.samples.map((x) => x[0]);
    const n = xs.length;
    const m = xs.reduce((a, b) => a + b, 0) / n;
    const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1);
    expect(Math.abs(m - m0) / (s / Math.sqrt(n)), `mean ${m}`).toBeLessThan(Z);
    expect(Math.abs(v - s * s) / (s * s * Math.sqrt(2 / (n - 1))), `variance ${v} vs ${s * s}`).toBeLessThan(Z);
  });
});

describe('annealed-Langevin log evidence', () => {
  it('matches the closed form on the normal-mean model within 4 SE across runs', () => {
    const bound = compile(NORMAL_MEAN).bind({ y });
    const exact = normalEvidence(y, 1, 2, 1.5);
    // SE from the spread of 6 independent runs (each 2 chains × 250 = 500 particles).
    const logZ = [1, 2, 3, 4, 5, 6].map((seed) => scoreSample(bound, { method: 'annealed-langevin', chains: 2, draws: 250, seed }).logZ);
    const m = logZ.reduce((a, b) => a + b, 0) / logZ.length;
    const sd = Math.sqrt(logZ.reduce((a, b) => a + (b - m) ** 2, 0) / (logZ.length - 1));
    const z = (m - exact) / (sd / Math.sqrt(logZ.length));
    expect(Math.abs(z), `log Z ${m} ± ${sd} vs ${exact}`).toBeLessThan(Z);
    // And within 0.1 nats in absolute terms (the estimates are close to exact at this size).
    expect(Math.abs(m - exact)).toBeLessThan(0.1);
  });

  it('returns equally weighted draws of the posterior in the MCMC result format', () => {
    const bound = compile(NORMAL_MEAN).bind({ y });
    const fit = scoreSample(bound, { method: 'annealed-langevin', chains: 4, draws: 500, seed: 9 });
    expect(fit.chains).toHaveLength(4);
    expect(fit.chains[0].values).toHaveLength(500);
    expect(fit.annealing!.betas.at(-1)).toBe(1);
    // The resampled particles are (nearly) independent: judge them by multi-chain MCSE too.
    const z = zScores(fit.draws('mu'), normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y }));
    expect(Math.abs(z.zMean)).toBeLessThan(Z);
    expect(Math.abs(z.zVar)).toBeLessThan(Z);
  });
});

describe('bad options', () => {
  const bound = () => compile(NORMAL_MEAN).bind({ y });
  it('throws RangeErrors naming the option', () => {
    const b = bound();
    expect(() => scoreSample(b, { method: 'hmc' as never })).toThrow(/unknown method 'hmc'; methods: langevin, mala/);
    expect(() => scoreSample(b, undefined as never)).toThrow(RangeError);
    expect(() => scoreSample(b, { method: 'mala', chains: 0 })).toThrow(/chains must be an integer >= 1/);
    expect(() => scoreSample(b, { method: 'mala', draws: 2.5 })).toThrow(/draws must be an integer/);
    expect(() => scoreSample(b, { method: 'mala', stepSize: -1 })).toThrow(/stepSize must be a positive finite number/);
    expect(() => scoreSample(b, { method: 'mala', stepSize: NaN })).toThrow(RangeError);
    expect(() => scoreSample(b, { method: 'mala', init: [1, 2, 3] })).toThrow(/init must have length/);
    expect(() => scoreSample(b, { method: 'mala', init: [NaN] })).toThrow(/init\[0\] is NaN/);
    expect(() => scoreSample(b, { method: 'mala', targetAccept: 1.5 })).toThrow(/targetAccept must be in \(0, 1\)/);
    expect(() => scoreSample(b, { method: 'annealed-langevin', warmup: 100 })).toThrow(/has no warm-up/);
    expect(() => scoreSample(b, { method: 'annealed-langevin', betas: [0.5, 0.2, 1] })).toThrow(/betas must increase/);
    expect(() => scoreSample(b, { method: 'annealed-langevin', reference: { sd: 0 } })).toThrow(/reference.sd\[0\]/);
    expect(() => scoreSample(b, { method: 'rdmc', horizon: 1, earlyStop: 2 })).toThrow(/earlyStop must be below horizon/);
    expect(() => scoreSample(b, { method: 'rdmc', innerSamples: 0 })).toThrow(/innerSamples must be an integer >= 1/);
    expect(() => langevinChains({ dim: 0, logDensityGrad: () => 0 })).toThrow(/target.dim/);
    expect(() => langevinChains(BIMODAL, { method: 'nuts' as never })).toThrow(/method must be 'ula' or 'mala'/);
    expect(() => langevinChains(BIMODAL, { invMetric: [1, -1] })).toThrow(/invMetric\[1\]/);
  });

  it('a NaN gradient at a finite density is a RangeError, not a silent NaN', () => {
    const bad: GradientTarget = { dim: 1, logDensityGrad: (_u, g) => { g[0] = NaN; return 0; } };
    expect(() => langevinChains(bad, { chains: 1, warmup: 0, draws: 1 })).toThrow(/gradient of the log density is NaN/);
  });
});
