// Exact conditional draws of a normal mixture's locations given the latents
// (src/infer/mcmc/conjugate-normal.ts), inside the slice + Gibbs sampler.
// - truncatedNormal against the closed-form truncated-normal CDF, one interval per branch of
//   the sampler (wide/narrow around the mean, near and far tails, the mirrored left tail):
//   Kolmogorov–Smirnov distance below 1.95/√n (the asymptotic 0.1% critical value, so a correct
//   sampler fails one interval with probability ~1e-3), and every draw inside the interval.
// - mu_k | z, sigma, y for real[K] mu against N(m_k, v_k), and for ordered mu ('truncated')
//   against the normal truncated at its neighbour, by the same KS bound; deliberately wrong
//   updates (prior variance in place of the posterior one; truncation ignored) fail it.
// - A small ordered mixture: posterior means of mu, sigma, w from slice + Gibbs ('sort' with
//   the collapsed latent draw, and 'truncated') against marginal NUTS, each within 4 combined
//   MCSE (sqrt(mcse_a² + mcse_b²); a correct pair fails one check with probability ~6e-5).
// Fixed seeds throughout.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample } from '../../../src/infer/mcmc';
import { GibbsTarget } from '../../../src/infer/mcmc/gibbs';
import {
  findNormalMixtureBlocks, normalMixtureUpdate, truncatedNormal, type NormalConjugateTestBias,
} from '../../../src/infer/mcmc/conjugate-normal';
import { exactOrderedMixture, mixtureSource } from '../exact-mixture';
import { erfcF64 } from '../../../src/tensor/special';
import { Key } from '../../../src/tensor/random';

beforeAll(async () => {
  await ensureBackend();
});

/** Upper tail Q(x) = P(N(0,1) > x), accurate in both tails. */
const Q = (x: number) => 0.5 * erfcF64(x * Math.SQRT1_2);

/** CDF of N(m, s²) truncated to (lo, hi). */
function tnCdf(x: number, m: number, s: number, lo: number, hi: number): number {
  const a = (lo - m) / s;
  const b = (hi - m) / s;
  const t = Math.min(Math.max((x - m) / s, a), b);
  return (Q(a) - Q(t)) / (Q(a) - Q(b));
}

/** Kolmogorov–Smirnov distance of the sample from a continuous CDF. */
function ks(xs: number[], cdf: (x: number) => number): number {
  const s = xs.slice().sort((p, q) => p - q);
  const n = s.length;
  let d = 0;
  s.forEach((x, i) => {
    const F = cdf(x);
    d = Math.max(d, Math.abs(F - i / n), Math.abs((i + 1) / n - F));
  });
  return d;
}

const N_KS = 3000;
const KS_CRIT = 1.95 / Math.sqrt(N_KS);

describe('truncatedNormal', () => {
  const m = 2;
  const s = 3;
  // Standardised (a, b): wide around 0, narrow around 0, narrow right, right tail, far right, far left tail.
  const cases: [number, number][] = [[-3, 4], [-0.4, 0.9], [0.5, 1.0], [1.2, Infinity], [8, 8.5], [-Infinity, -5]];
  for (const [a, b] of cases) {
    it(`matches the truncated normal CDF on standardised (${a}, ${b})`, () => {
      const lo = m + s * a;
      const hi = m + s * b;
      const rng = Key.seed(17).rng();
      const xs = Array.from({ length: N_KS }, () => truncatedNormal(rng, m, s, lo, hi));
      for (const x of xs) expect(x > lo && x < hi, `draw ${x} outside (${lo}, ${hi})`).toBe(true);
      expect(ks(xs, (x) => tnCdf(x, m, s, lo, hi))).toBeLessThan(KS_CRIT);
    });
  }
  it('rejects an empty interval and a bad scale', () => {
    const rng = Key.seed(1).rng();
    expect(() => truncatedNormal(rng, 0, 1, 1, 1)).toThrow(/lo < hi/);
    expect(() => truncatedNormal(rng, 0, 0, 0, 1)).toThrow(/s > 0/);
  });
});

describe('normal mixture blocks', () => {
  it('are recognised from the IR, exchangeable only with iid priors', () => {
    const y = [0.1, 0.5, 2.0];
    const b1 = compile(mixtureSource('ordered[2]')).bind({ y });
    const [blk] = findNormalMixtureBlocks(b1);
    expect(blk.mu.ordered).toBe(true);
    expect(blk.exchangeable).toBe(true);
    expect(Array.from(blk.y)).toEqual(y.map((v) => Math.fround(v)));
    expect(blk.sigma.halfNormalScale).not.toBeNull();
    const b2 = compile(mixtureSource('ordered[2]').replace('normal(0, 3)', 'normal([0.0, 1.0], 3)')).bind({ y });
    expect(findNormalMixtureBlocks(b2)[0].exchangeable).toBe(false);
    // Another factor on mu: not a conjugate block.
    const b3 = compile(mixtureSource('real[2]', 'target += -0.5 * mu[1] * mu[1]')).bind({ y });
    expect(findNormalMixtureBlocks(b3)).toHaveLength(0);
    for (const b of [b1, b2, b3]) b.dispose();
  });
});

describe('exact location draws given the latents', () => {
  // Component 1: five points near 1; component 2: three near 0.8 (so an ordered mu_1 is
  // pushed against mu_2). sigma = (0.5, 0.7); prior N(0, 3²).
  const y = [0.8, 1.3, 0.9, 1.1, 1.2, 0.6, 0.9, 1.0];
  const z = [1, 1, 1, 1, 1, 2, 2, 2];
  const sigma = [0.5, 0.7];
  const post = (k: number) => {
    const ys = y.filter((_, i) => z[i] === k + 1);
    const prec = 1 / 9 + ys.length / sigma[k] ** 2;
    const sum = ys.reduce((a, b) => a + Math.fround(b), 0);
    return { m: (sum / sigma[k] ** 2) / prec, s: Math.sqrt(1 / prec) };
  };

  function drawsOf(muType: string, mu0: number[], bias?: NormalConjugateTestBias, ordered: 'sort' | 'truncated' = 'truncated'): number[] {
    // A scale prior other than half-normal: the update leaves sigma alone, so mu is drawn given the sigma set here.
    const bound = compile(mixtureSource(muType, '', 'exponential(1)')).bind({ y });
    const g = new GibbsTarget(bound);
    const [blk] = findNormalMixtureBlocks(bound);
    expect(blk.sigma.halfNormalScale).toBeNull();
    const upd = normalMixtureUpdate(blk, g, ordered, null, bias);
    const q0 = bound.unconstrain({ w: [0.5, 0.5], mu: mu0, sigma });
    const rng = Key.seed(5).rng();
    const out: number[] = [];
    for (let r = 0; r < N_KS; r++) {
      g.z.set(z);
      const q = q0.slice();
      upd.draw(q, rng);
      out.push(q[blk.mu.offset]); // mu_1 (the first coordinate of both transforms)
    }
    bound.dispose();
    return out;
  }

  it('real[K] mu_1 ~ N(m_1, v_1)', () => {
    const { m, s } = post(0);
    const xs = drawsOf('real[2]', [0, 0.9]);
    expect(ks(xs, (x) => tnCdf(x, m, s, -Infinity, Infinity))).toBeLessThan(KS_CRIT);
    // Mutant: prior variance in place of the posterior one.
    const bad = drawsOf('real[2]', [0, 0.9], 'wrong-variance');
    expect(ks(bad, (x) => tnCdf(x, m, s, -Infinity, Infinity))).toBeGreaterThan(KS_CRIT);
  });

  it('ordered mu_1 ~ N(m_1, v_1) truncated above at mu_2', () => {
    const { m, s } = post(0);
    const mu2 = 0.9;
    const xs = drawsOf('ordered[2]', [0, mu2]);
    for (const x of xs) expect(x).toBeLessThan(mu2);
    expect(ks(xs, (x) => tnCdf(x, m, s, -Infinity, mu2))).toBeLessThan(KS_CRIT);
    // Mutant: the truncation ignored (untruncated draws, sorted).
    const bad = drawsOf('ordered[2]', [0, mu2], 'ignore-truncation');
    expect(bad.some((x) => x >= mu2) || ks(bad, (x) => tnCdf(x, m, s, -Infinity, mu2)) > KS_CRIT).toBe(true);
  });
});

describe('slice + Gibbs with conjugate location draws on a small ordered mixture', () => {
  // Overlapping components: label switching is frequent and mu.1 has a heavy left tail
  // (marginal NUTS diverges here and is off by ~3 MCSE, so the reference is exact).
  const y = [-1.6, -0.9, -0.5, 0.2, 0.6, 1.1, 1.9, 2.6];
  const names = ['mu.1', 'mu.2', 'sigma.1', 'sigma.2', 'w.1'];
  const exact = exactOrderedMixture(y.map((v) => Math.fround(v)), 0, 3, 2).means;
  it('the exact reference is converged in its grid', () => {
    const fine = exactOrderedMixture(y.map((v) => Math.fround(v)), 0, 3, 2, 400).means;
    exact.forEach((e, k) => expect(Math.abs(e - fine[k])).toBeLessThan(1e-4));
  });
  for (const [ordered, sweeps] of [['sort', 1], ['truncated', 1], ['sort', 2]] as const) {
    it(`'${ordered}', ${sweeps} sweep(s): posterior means agree with the exact ones within 4 MCSE`, () => {
      const bound = compile(mixtureSource('ordered[2]')).bind({ y });
      const fit = sample(bound, { chains: 4, warmup: 500, draws: 3000, seed: 12, algorithm: 'slice', latents: 'gibbs', orderedUpdate: ordered, conjugateSweeps: sweeps });
      const rows = new Map(fit.summary().map((r) => [r.name, r]));
      // The kept latents are relabelled with the parameters: the lowest point sits in the
      // lower component, the highest in the upper one, in most draws.
      const zs = fit.chains.flatMap((c) => c.latents ?? []);
      const lowIn1 = zs.filter((z) => z[0] === 1).length / zs.length;
      const highIn2 = zs.filter((z) => z[y.length - 1] === 2).length / zs.length;
      expect(lowIn1).toBeGreaterThan(0.5);
      expect(highIn2).toBeGreaterThan(0.5);
      bound.dispose();
      names.forEach((n, k) => {
        const r = rows.get(n)!;
        const zs = (r.mean - exact[k]) / r.mcseMean;
        expect(Math.abs(zs), `${n}: ${r.mean.toFixed(4)} ± ${r.mcseMean.toFixed(4)} (MCSE), exact ${exact[k].toFixed(4)}`).toBeLessThan(4);
      });
    });
  }
});

describe('sample options of the conjugate mixture updates', () => {
  it('reject a bad orderedUpdate or conjugateSweeps', () => {
    const bound = compile(mixtureSource('ordered[2]')).bind({ y: [0.1, 0.5, 2.0] });
    const base = { algorithm: 'slice' as const, latents: 'gibbs' as const, chains: 1, warmup: 5, draws: 5 };
    expect(() => sample(bound, { ...base, orderedUpdate: 'random' as unknown as 'sort' })).toThrow(/orderedUpdate must be 'sort' or 'truncated'/);
    expect(() => sample(bound, { ...base, conjugateSweeps: 0 })).toThrow(/conjugateSweeps must be an integer >= 1/);
    bound.dispose();
  });
});
