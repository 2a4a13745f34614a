// Points evaluated together (src/infer/points.ts): the samplers and estimators that evaluate
// many points per step — the Langevin chains, annealed Langevin's cloud, rdMC's inner samples,
// a VI step's Monte Carlo draws — hand them to a target or potential that has a batch method
// as one call, and give exactly the results they give calling it point by point. (The batch
// methods below loop over the single-point method, so equality is to the bit; the device's
// batched potential is checked against its single-point one in potential-batch.test.ts.)
import { describe, expect, it } from 'vitest';
import { compile, ensureBackend, vi } from '../../src';
import { annealedLangevin, gaussianPath, isotropicMixtureTarget, langevinChains, langevinStep, rdmc } from '../../src/infer/score';
import type { GradientTarget } from '../../src/infer/mcmc/hmc';
import { drawNoise, elboWithNoise, makeGuide, renyiWithNoise, type Potential } from '../../src/infer/vi/guides';
import { objectives, programWithNoise } from '../../src/infer/vi/objective';
import { valuesAndGradsAt } from '../../src/infer/points';
import { Key } from '../../src/tensor/random';

await ensureBackend();

/** The target with a batch method that records each call's number of points. */
function batched(t: GradientTarget): GradientTarget & { sizes: number[] } {
  const sizes: number[] = [];
  return {
    dim: t.dim,
    sizes,
    logDensityGrad: (u, g) => t.logDensityGrad(u, g),
    logDensityGrads: (us, gs) => {
      sizes.push(us.length);
      return Float64Array.from(us, (u, b) => t.logDensityGrad(u, gs[b]));
    },
  };
}

// Two modes in 2-D; one chain or particle can sit in either.
const target = isotropicMixtureTarget([0.4, 0.6], [[-2, 0], [2, 1]]);

describe('the score-based samplers evaluate their points together', () => {
  it('Langevin chains: one call per sweep of all chains, the draws those of point-by-point calls (MALA with warm-up and thinning, ULA)', () => {
    for (const opts of [
      { method: 'mala' as const, chains: 5, warmup: 40, draws: 20, thin: 2, seed: 3 },
      { method: 'ula' as const, chains: 3, warmup: 0, draws: 25, stepSize: 0.05, seed: 4 },
    ]) {
      const one = langevinChains(target, opts);
      const bt = batched(target);
      const many = langevinChains(bt, opts);
      expect(many.chains.map((c) => c.draws)).toEqual(one.chains.map((c) => c.draws));
      expect(many.chains.map((c) => c.accept)).toEqual(one.chains.map((c) => c.accept));
      expect([many.stepSize, many.invMetric]).toEqual([one.stepSize, one.invMetric]);
      // Every step after the inits: one call with every chain's proposal.
      expect(bt.sizes.length).toBe(opts.warmup + opts.draws * (opts.thin ?? 1));
      expect(new Set(bt.sizes)).toEqual(new Set([opts.chains]));
    }
  });

  it('each chain of a sweep steps as langevinStep alone with its own stream (key.fold(c + 1)): the chains do not share densities or draws', () => {
    const key = Key.seed(12);
    const init = [-2, 0, 2, 1, 0.5, 0.5];
    const opts = { method: 'mala' as const, chains: 3, warmup: 0, draws: 15, stepSize: 0.4, invMetric: [1, 1], init, key };
    const run = langevinChains(batched(target), opts);
    const v = Float64Array.of(1, 1);
    for (let c = 0; c < 3; c++) {
      const x = Float64Array.from(init.slice(2 * c, 2 * c + 2));
      const g = new Float64Array(2);
      let lp = target.logDensityGrad(x, g);
      const rng = key.fold(c + 1).rng();
      const draws: Float64Array[] = [];
      for (let k = 0; k < 15; k++) {
        lp = langevinStep(target, 'mala', 0.4, v, v, x, g, lp, new Float64Array(2), new Float64Array(2), rng).lp;
        draws.push(x.slice());
      }
      expect(run.chains[c].draws, `chain ${c + 1}`).toEqual(draws);
    }
  });

  it('annealed Langevin: the reference draws and each MALA step of the cloud as one call each, same cloud and log Z', () => {
    const opts = { particles: 300, moveSteps: 3, essThreshold: 0.5, seed: 7 };
    const one = annealedLangevin(gaussianPath(target, { sd: 4 }), opts);
    const bt = batched(target);
    const many = annealedLangevin(gaussianPath(bt, { sd: 4 }), opts);
    expect(many.particles).toEqual(one.particles);
    expect([many.logZ, many.betas, many.weights, many.acceptance]).toEqual([one.logZ, one.betas, one.weights, one.acceptance]);
    expect(many.gradientEvals).toBe(one.gradientEvals);
    expect(bt.sizes[0]).toBe(300);
    expect(bt.sizes.length).toBe(1 + 3 * (one.betas.length - 1));
    // Points evaluated: the reference draws and every move of every live particle (none is evaluated again after its moves).
    expect(bt.sizes.reduce((a, b) => a + b, 0)).toBe(one.gradientEvals);
    expect(Math.min(...bt.sizes.slice(1))).toBeGreaterThan(250);
  });

  it('rdMC: each batch of inner importance samples and the shared pool as one call, same samples', () => {
    const opts = { chains: 3, steps: 6, innerSamples: 40, poolSamples: 24, seed: 2 };
    const one = rdmc(target, opts);
    const bt = batched(target);
    const many = rdmc(bt, opts);
    expect(many.samples).toEqual(one.samples);
    expect([many.lp, many.innerEss, many.evals]).toEqual([one.lp, one.innerEss, one.evals]);
    expect(new Set(bt.sizes)).toEqual(new Set([40, 24]));
    expect(bt.sizes.filter((n) => n === 24).length).toBe(6 + 1); // the pool of each step and of the final draw
  });
});

/** A float64 potential U(u) = Σ (u_i − i)² / 2 + u_0 u_1 / 4, with the batch method recording its calls. */
function quadratic(dim: number, batch: boolean): Potential & { traced: boolean; sizes: number[] } {
  const valueAndGrad = (u: ArrayLike<number>, g: Float64Array) => {
    let v = u[0] * u[1] / 4;
    for (let i = 0; i < dim; i++) {
      v += (u[i] - i) ** 2 / 2;
      g[i] = u[i] - i;
    }
    g[0] += u[1] / 4;
    g[1] += u[0] / 4;
    return v;
  };
  const sizes: number[] = [];
  return {
    dim, traced: true, sizes, valueAndGrad,
    value: (u) => valueAndGrad(u, new Float64Array(dim)),
    ...(batch ? {
      valuesAndGrads: (us: readonly ArrayLike<number>[], gs: readonly Float64Array[]) => {
        sizes.push(us.length);
        return Float64Array.from(us, (u, b) => valueAndGrad(u, gs[b]));
      },
    } : {}),
  };
}

/** A normal model with unknown mean and scale bound to five points. */
function normalModel() {
  return compile(`model m { data y: real[N]  param mu: real  param s: positive
    mu ~ normal(0, 3)
    s ~ half_normal(2)
    y ~ normal(mu, s) }`).bind({ y: [0.3, 1.2, -0.4, 2.1, 0.8] });
}

describe("a VI step's Monte Carlo draws are one evaluation", () => {
  it('the ELBO, IWAE/Rényi and program estimators: one call with the S draws, the value and gradient of point-by-point calls', () => {
    const d = 3;
    const guide = makeGuide('fullrank', d, [0.3, -0.2, 1]);
    const eps = drawNoise(Key.seed(9).rng(), d, 6);
    const estimators = [
      (p: Potential, g?: Float64Array) => elboWithNoise(guide, p, eps, g),
      (p: Potential, g?: Float64Array) => renyiWithNoise(guide, p, eps, 0.5, g),
      (p: Potential, g?: Float64Array) => programWithNoise(guide, p, eps, objectives.iwae, g),
    ];
    for (const est of estimators) {
      const plain = quadratic(d, false);
      const many = quadratic(d, true);
      const g1 = new Float64Array(guide.params.length);
      const g2 = new Float64Array(guide.params.length);
      const v1 = est(plain, g1);
      expect(est(many, g2)).toBe(v1);
      expect(g2).toEqual(g1);
      expect(many.sizes).toEqual([6]);
      // Without a gradient the estimate is the same (the draws' values, point by point).
      expect(est(many)).toBe(v1);
      expect(many.sizes).toEqual([6]);
    }
  });

  it('vi() with samples: 4 asks for the 4 draws of each step together and fits as with single calls; a non-finite draw still rejects the step', () => {
    const bound = normalModel();
    const f = bound.potentialFunction();
    const sizes: number[] = [];
    const withBatch = {
      ...f,
      valuesAndGrads: (us: readonly ArrayLike<number>[], gs: readonly Float64Array[]) => {
        sizes.push(us.length);
        return Float64Array.from(us, (u, b) => f.valueAndGrad(u, gs[b]));
      },
    };
    const opts = { guide: 'meanfield' as const, samples: 4, steps: 60, seed: 3 };
    const one = vi(bound, opts, f);
    const many = vi(bound, opts, withBatch);
    expect(many.params).toEqual(one.params);
    expect(many.elboRaw).toEqual(one.elboRaw);
    expect(sizes.length).toBe(60);
    expect(new Set(sizes)).toEqual(new Set([4]));
    // A draw with an infinite potential among the batch gives a NaN estimate, as it does point by point.
    const guide = makeGuide('meanfield', 2, [0, 0]);
    const eps = drawNoise(Key.seed(1).rng(), 2, 3);
    const inf = { ...withBatch, valuesAndGrads: (us: readonly ArrayLike<number>[], gs: readonly Float64Array[]) => withBatch.valuesAndGrads(us, gs).map((v, b) => (b === 1 ? Infinity : v)) };
    expect(elboWithNoise(guide, inf, eps, new Float64Array(guide.params.length))).toBeNaN();
    bound.dispose();
  });

  it("valuesAndGradsAt: one point goes as a single call; the tensor evaluator's batch equals its single-point answers within float32 rounding", () => {
    const p = quadratic(2, true);
    const gs = [new Float64Array(2)];
    expect(valuesAndGradsAt(p, [[1, 2]], gs)[0]).toBe(p.value([1, 2]));
    expect(p.sizes).toEqual([]);
    expect(() => valuesAndGradsAt(p, [[1, 2]], [])).toThrow(/1 points but 0 gradient rows/);
    const bound = normalModel();
    const tp = bound.tensorPotentialFunction();
    const pts = [[0.1, -0.3], [1.5, 0.2], [-0.7, 0.9]];
    const grads = pts.map(() => new Float64Array(2));
    const vals = tp.valuesAndGrads!(pts, grads);
    pts.forEach((u, b) => {
      const g = new Float64Array(2);
      const v = tp.valueAndGrad(u, g);
      expect(Math.abs(vals[b] - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v)));
      g.forEach((x, i) => expect(Math.abs(grads[b][i] - x)).toBeLessThan(1e-5 * Math.max(1, Math.abs(x))));
    });
    bound.dispose();
  });
});
