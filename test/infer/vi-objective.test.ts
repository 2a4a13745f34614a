// Objectives as programs (src/infer/vi/objective.ts): the library's reverse-mode gradient of
// a program, chained with the guides' pathwise gradients, (1) reproduces the built-in IWAE
// and Rényi estimators exactly and the ELBO's gradient exactly, (2) matches central finite
// differences for a program using every operation, and (3) a user-written tempered ELBO
// fits its known optimum q ∝ p^β on a conjugate model.
import { expectFdGradient } from './vi-helpers';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { Key } from '../../src/tensor/random';
import { normalKnownVariance } from '../../src/testing/exact';
import {
  FullRankGuide, LowRankGuide, MeanFieldGuide, PlanarFlowGuide, drawNoise, elboWithNoise, iwaeWithNoise, objectives, programWithNoise,
  renyiWithNoise, vi, type Guide, type ObjectiveProgram, type Potential,
} from '../../src/infer/vi';
import { NORMAL_MEAN } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

/** U(u) = Σ (u_i − 0.3 i)²/2 + 0.2 Σ u_i⁴/4: smooth and not Gaussian. */
const quartic = (d: number): Potential => ({
  dim: d,
  value: (u) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += 0.5 * (u[i] - 0.3 * i) ** 2 + 0.05 * u[i] ** 4;
    return s;
  },
  valueAndGrad(u, g) {
    for (let i = 0; i < d; i++) g[i] = u[i] - 0.3 * i + 0.2 * u[i] ** 3;
    return this.value(u);
  },
});

const guides: [string, (d: number) => Guide][] = [
  ['meanfield', (d) => new MeanFieldGuide(d)],
  ['fullrank', (d) => new FullRankGuide(d)],
  ['lowrank', (d) => new LowRankGuide(d, 1)],
  ['planar', (d) => new PlanarFlowGuide(d, 2)],
];

function setup(mk: (d: number) => Guide, seed: number, K: number) {
  const rng = Key.seed(seed).rng();
  const g = mk(3);
  for (let i = 0; i < g.params.length; i++) g.params[i] = 0.3 * rng.normal();
  return { g, pot: quartic(3), eps: drawNoise(rng, g.noiseDim, K) };
}

describe('built-in objectives as programs', () => {
  it.each(guides)('%s: IWAE and Rényi programs equal the built-in estimators, value and gradient', (_n, mk) => {
    const { g, pot, eps } = setup(mk, 1, 5);
    const P = g.params.length;
    for (const [prog, builtin] of [
      [objectives.iwae, (gr?: Float64Array) => iwaeWithNoise(g, pot, eps, gr)],
      [objectives.renyi(0.5), (gr?: Float64Array) => renyiWithNoise(g, pot, eps, 0.5, gr)],
      [objectives.renyi(-1), (gr?: Float64Array) => renyiWithNoise(g, pot, eps, -1, gr)],
    ] as const) {
      const ga = new Float64Array(P);
      const gb = new Float64Array(P);
      expect(programWithNoise(g, pot, eps, prog, ga)).toBeCloseTo(builtin(gb), 12);
      for (let i = 0; i < P; i++) expect(ga[i]).toBeCloseTo(gb[i], 10);
    }
  });

  // Only where u(ε) is a bijection: the low-rank guide's ELBO program differentiates log q per
  // draw, the built-in its closed-form entropy (equal in expectation only).
  it.each(guides.slice(0, 2))('%s: the ELBO program has the built-in gradient; values differ by mean (|ε|² − d)/2', (_n, mk) => {
    const { g, pot, eps } = setup(mk, 2, 4);
    const P = g.params.length;
    const ga = new Float64Array(P);
    const gb = new Float64Array(P);
    const a = programWithNoise(g, pot, eps, objectives.elbo, ga);
    const b = elboWithNoise(g, pot, eps, gb);
    for (let i = 0; i < P; i++) expect(ga[i]).toBeCloseTo(gb[i], 10);
    let extra = 0;
    for (const e of eps) extra += (e.reduce((s, x) => s + x * x, 0) - 3) / 2 / eps.length;
    expect(a).toBeCloseTo(b + extra, 10);
  });
});

describe('a program using every operation', () => {
  const prog: ObjectiveProgram = (x, o) => {
    const lw = o.sub(x.logp, x.logq);
    const a = o.log(o.mean(o.exp(o.scale(lw, 0.4))));
    const b = o.mul(o.mean(lw), o.add(o.logSumExp(o.scale(lw, -0.2)), 1));
    return o.add(o.sub(a, o.scale(b, 0.1)), o.sum(o.scale(x.logq, 0.01)));
  };
  it.each(guides)('%s: gradient equals central finite differences', (_n, mk) => {
    const { g, pot, eps } = setup(mk, 3, 4);
    const grad = new Float64Array(g.params.length);
    programWithNoise(g, pot, eps, prog, grad);
    expectFdGradient(g.params, () => programWithNoise(g, pot, eps, prog), grad, 1e-6);
  });
});

describe('a user-written objective in vi()', () => {
  it('a tempered ELBO, written by hand, fits q ∝ p^β: the posterior variance over β', () => {
    // For a Gaussian posterior N(m, v), E_q[β log p − log q] is maximised by N(m, v/β); with
    // β = 0.5 the variance doubles. Tolerances as the ELBO fits of vi.test.ts (0.05 sd in the
    // mean, 6% in the variance).
    const rng = Key.seed(11).rng();
    const y = Array.from({ length: 20 }, () => Math.fround(0.5 + 1.5 * rng.normal()));
    const exact = normalKnownVariance({ priorMean: 1, priorSd: 2, sigma: 1.5, y });
    const bm = compile(NORMAL_MEAN).bind({ y });
    const half: ObjectiveProgram = ({ logp, logq }, o) => o.mean(o.sub(o.scale(logp, 0.5), logq));
    const fit = vi(bm, { guide: 'meanfield', objective: half, samples: 4, steps: 10000, stopAtConvergence: false, seed: 1 });
    const sd = Math.sqrt(exact.variance);
    expect(Math.abs(fit.guide.mean()[0] - exact.mean) / sd).toBeLessThan(0.05);
    expect(Math.abs(fit.guide.covariance()[0][0] / (2 * exact.variance) - 1)).toBeLessThan(0.06);
    // The library's own version is the same program.
    const lib = vi(bm, { guide: 'meanfield', objective: objectives.tempered(0.5), samples: 4, steps: 300, seed: 2 });
    const mine = vi(bm, { guide: 'meanfield', objective: half, samples: 4, steps: 300, seed: 2 });
    expect(Array.from(lib.params)).toEqual(Array.from(mine.params));
  });

  it('refuses programs that do not return a scalar Node, and bad orders', () => {
    const { g, pot, eps } = setup((d) => new MeanFieldGuide(d), 4, 3);
    expect(() => programWithNoise(g, pot, eps, (x, o) => o.sub(x.logp, x.logq))).toThrow(/must return a scalar Node/);
    expect(() => programWithNoise(g, pot, eps, (x, o) => o.sum(o.mul(x.logp, new Float64Array(3) as never)))).toThrow(/not a Node of this program/);
    expect(() => objectives.tempered(0)).toThrow(/beta must be a finite number > 0/);
    expect(() => objectives.renyi(1)).toThrow(/alpha/);
  });
});
