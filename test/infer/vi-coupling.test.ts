// The affine-coupling (RealNVP) flow guide: (1) it starts as N(init, initSd² I) and its masks
// transform every coordinate once per pair of layers, (2) the inverse is exact and log q is
// the change of variables (against a numerical Jacobian, and a 2-D grid integral of q is 1),
// (3) the gradients of every objective against central finite differences of the fixed-noise
// objectives, (4) on a skewed (log-gamma) posterior it has a far smaller KL than the best
// Gaussian, (5) the vi options and `mixppl fit --guide coupling`.
import { afterEach, beforeAll, describe, expect, it, vi as vitest } from 'vitest';
import fc from 'fast-check';
import { compile, ensureBackend } from '../../src';
import { Key } from '../../src/tensor/random';
import {
  Adam, CouplingFlowGuide, drawNoise, elboWithNoise, iwaeBound, iwaeWithNoise, objectives, programWithNoise, renyiWithNoise, vi, type Guide, type Potential,
} from '../../src/infer/vi';
import { approxCommand } from '../../src/cli/approx';
import { POISSON_GAMMA } from './conjugate-models';
import { expectFdGradient, testPotential, logAbsDet, logStdNormal, numericalJacobian } from './vi-helpers';

beforeAll(async () => {
  await ensureBackend();
});


function randomize<G extends Guide>(g: G, rng: ReturnType<Key['rng']>, sd = 0.4): G {
  for (let i = 0; i < g.params.length; i++) g.params[i] = sd * rng.normal();
  return g;
}

describe('coupling flow guide: structure', () => {
  it('starts as N(init, initSd² I), with the parameter count of its layout', () => {
    const g = new CouplingFlowGuide(3, { layers: 4, hidden: 5 }, [0.5, -1, 2], 0.7);
    const e = [0.3, -1.2, 0.8];
    const u = g.transform(e);
    [0.5 + 0.7 * 0.3, -1 - 0.7 * 1.2, 2 + 0.7 * 0.8].forEach((x, i) => expect(u[i]).toBeCloseTo(x, 12));
    // Per layer H|A| + H + 2|B|H + 2|B|; |A|, |B| alternate between 2, 1 and 1, 2.
    const per = (A: number, B: number): number => 5 * A + 5 + 2 * B * 5 + 2 * B;
    expect(g.params.length).toBe(6 + 2 * per(2, 1) + 2 * per(1, 2));
    expect(g.kind).toBe('coupling');
    expect(g.noiseDim).toBe(3);
    expect(Number.isNaN(g.entropy())).toBe(true);
  });

  it('every coordinate is transformed once in each pair of layers, under both mask schedules', () => {
    for (const masks of ['alternating', 'permuted'] as const) {
      for (let d = 1; d <= 7; d++) {
        const g = new CouplingFlowGuide(d, { layers: 6, masks });
        for (let l = 0; l < 6; l++) {
          const { A, B } = g.maskOf(l);
          expect([...A, ...B].sort((x, y) => x - y)).toEqual(Array.from({ length: d }, (_, i) => i));
          if (l % 2 === 1) {
            const prev = g.maskOf(l - 1);
            // the second layer of a pair transforms what the first conditioned on
            expect(B.slice().sort((x, y) => x - y)).toEqual(prev.A.slice().sort((x, y) => x - y));
          }
        }
      }
    }
    // Permuted masks differ from parity masks somewhere (d = 6, 3 pairs of fixed-seed permutations).
    const alt = new CouplingFlowGuide(6, { layers: 6 });
    const per = new CouplingFlowGuide(6, { layers: 6, masks: 'permuted' });
    expect([0, 2, 4].some((l) => JSON.stringify(alt.maskOf(l).A) !== JSON.stringify(per.maskOf(l).A))).toBe(true);
  });

  it('refuses bad options with a message naming the guide', () => {
    expect(() => new CouplingFlowGuide(0)).toThrow(/CouplingFlowGuide: dimension/);
    expect(() => new CouplingFlowGuide(2, { layers: 0 })).toThrow(/layers must be a positive integer/);
    expect(() => new CouplingFlowGuide(2, { hidden: 1.5 })).toThrow(/hidden must be a positive integer/);
    expect(() => new CouplingFlowGuide(2, { masks: 'random' as 'permuted' })).toThrow(/masks must be 'alternating' or 'permuted'/);
    expect(() => new CouplingFlowGuide(2, { clamp: 0 })).toThrow(/clamp must be/);
    expect(() => new CouplingFlowGuide(2, {}, [1])).toThrow(/init has length 1, expected 2/);
    expect(() => new CouplingFlowGuide(2).addEntropyGrad()).toThrow(/no closed-form entropy/);
  });
});

describe('coupling flow guide: inverse and density', () => {
  it('inverts exactly: inverse(transform(ε)) = ε and log q(u(ε)) = −entropyTerm(ε)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.integer({ min: 0, max: 1e6 }),
        (d, L, permuted, seed) => {
          const rng = Key.seed(seed).rng();
          const g = randomize(new CouplingFlowGuide(d, { layers: L, hidden: 3, masks: permuted ? 'permuted' : 'alternating' }), rng, 1);
          const eps = Float64Array.from({ length: d }, () => rng.normal());
          const u = g.transform(eps);
          const back = g.inverse(u);
          // Each layer's inverse is a closed form; the error is rounding, amplified by at most
          // e^(clamp) per layer and the final scale.
          for (let i = 0; i < d; i++) expect(Math.abs(back[i] - eps[i])).toBeLessThan(1e-9);
          expect(g.logq(u)).toBeCloseTo(-g.entropyTerm(eps), 8);
        },
      ),
      { numRuns: 150, seed: 5 },
    );
  });

  it('log q is the change of variables: log N(ε) − log|det ∂u/∂ε| with a numerical Jacobian', () => {
    for (const [d, masks, seed] of [[2, 'alternating', 1], [3, 'alternating', 2], [4, 'permuted', 3]] as const) {
      const rng = Key.seed(seed).rng();
      const g = randomize(new CouplingFlowGuide(d, { layers: 4, hidden: 4, masks }), rng, 0.8);
      const eps = Float64Array.from({ length: d }, () => rng.normal());
      const J = numericalJacobian((e) => g.transform(e), eps, 1e-5);
      // Central differences err by O(h²) ≈ 1e-10 relative (plus rounding ~1e-11 / h): far below 1e-6.
      expect(Math.abs(g.logq(g.transform(eps)) - (logStdNormal(eps) - logAbsDet(J))), `d=${d}`).toBeLessThan(1e-6);
    }
  });

  it('is a normalised density (2-D grid integral of q is 1)', () => {
    const rng = Key.seed(9).rng();
    const clamp = 0.5;
    const g = randomize(new CouplingFlowGuide(2, { layers: 3, hidden: 4, clamp }), rng, 0.5);
    g.params[2] = g.params[3] = Math.log(0.6); // final scale 0.6
    // A box that holds all but ~1e-12 of the mass: |ε_i| ≤ 7.5 leaves out < 4 · 3.2e-14, and a
    // layer maps |x| ≤ M to |y| ≤ e^clamp M + T_l, T_l = max over t outputs of |b2| + Σ |W2|
    // (|h| ≤ 1). So u stays within |μ_i| + 0.6 M_L.
    let M = 7.5;
    for (let l = 0; l < 3; l++) {
      const { A, B } = g.maskOf(l);
      const H = 4;
      const oW2 = offsetOfLayer(g, l) + H * A.length + H;
      const ob2 = oW2 + 2 * B.length * H;
      let T = 0;
      for (let k = B.length; k < 2 * B.length; k++) {
        let s = Math.abs(g.params[ob2 + k]);
        for (let j = 0; j < H; j++) s += Math.abs(g.params[oW2 + k * H + j]);
        T = Math.max(T, s);
      }
      M = Math.exp(clamp) * M + T;
    }
    const half = Math.max(Math.abs(g.params[0]), Math.abs(g.params[1])) + 0.6 * M;
    // Midpoint rule with h = 0.05: q is smooth with scales ≥ 0.6 e^(−3 · 0.5) ≈ 0.13 = 2.7 h,
    // where the rule's error on a Gaussian-like bump is ~exp(−2π² (scale/h)²) — negligible; 1e-6
    // leaves room for rounding in the ~10⁶ terms.
    const h = 0.05;
    let s = 0;
    for (let x = -half + h / 2; x < half; x += h) for (let y = -half + h / 2; y < half; y += h) s += Math.exp(g.logq([x, y])) * h * h;
    expect(Math.abs(s - 1), `integral ${s} over ±${half.toFixed(1)}`).toBeLessThan(1e-6);
  });
});

/** Offset of layer l's W1 in params (the guide keeps it private: recomputed from the masks). */
function offsetOfLayer(g: CouplingFlowGuide, l: number): number {
  let off = 2 * g.dim;
  for (let k = 0; k < l; k++) {
    const { A, B } = g.maskOf(k);
    off += g.hidden * A.length + g.hidden + 2 * B.length * g.hidden + 2 * B.length;
  }
  return off;
}

describe('coupling flow guide: objective gradients against finite differences (fixed noise)', () => {
  const objs: [string, (g: Guide, p: Potential, e: Float64Array[], gr?: Float64Array) => number][] = [
    ['elbo', elboWithNoise],
    ['iwae', iwaeWithNoise],
    ['renyi 0.5', (g, p, e, gr) => renyiWithNoise(g, p, e, 0.5, gr)],
    ['renyi -1', (g, p, e, gr) => renyiWithNoise(g, p, e, -1, gr)],
    ['program: tempered 0.5', (g, p, e, gr) => programWithNoise(g, p, e, objectives.tempered(0.5), gr)],
  ];
  const configs: [string, () => CouplingFlowGuide][] = [
    ['d=3 alternating', () => new CouplingFlowGuide(3, { layers: 3, hidden: 4 })],
    ['d=4 permuted', () => new CouplingFlowGuide(4, { layers: 4, hidden: 3, masks: 'permuted', clamp: 1.5 })],
    ['d=1 (affine layers)', () => new CouplingFlowGuide(1, { layers: 2, hidden: 2 })],
  ];
  it.each(objs.flatMap(([on, f]) => configs.map(([cn, mk]) => [on, cn, f, mk] as const)))('%s, %s', (_on, _cn, f, mk) => {
    const rng = Key.seed(3).rng();
    const g = randomize(mk(), rng);
    const pot = testPotential(g.dim);
    const eps = drawNoise(rng, g.noiseDim, 4);
    const grad = new Float64Array(g.params.length);
    const v = f(g, pot, eps, grad);
    expect(Number.isFinite(v)).toBe(true);
    expect(grad.some((x) => x !== 0)).toBe(true);
    expectFdGradient(g.params, () => f(g, pot, eps), grad, 1e-6);
  });
});

/*
 * A skewed posterior: the planar test's λ ~ gamma(2, 1), y = (0, 0, 0) ~ poisson(λ), whose
 * λ | y ~ gamma(2, 4) puts a log-gamma density (a long left tail) on u = log λ — taken twice,
 * independently, because a coupling layer needs a coordinate to condition on (in 1-D every
 * layer is a constant affine map and the flow is Gaussian). log p(y, z) = 4 log(1/4) exactly,
 * and the KL from the guide to the posterior is log p − ELBO, estimated from 10000 guide draws
 * (iwaeBound at K = 1, with its standard error: about 0.004 for the Gaussian, 0.0008 for the
 * flow). The best Gaussian is the mean-field one (the posterior is a product). Over seeds 1..6
 * (10000 steps of 4 draws, the coupling defaults: 8 layers, 16 hidden, MLP steps at lr/5) the Gaussian's
 * KL was 0.080–0.081 and the coupling flow's 0.003–0.007 (with lr 0.05 for all
 * parameters the runs wandered off early, KL up to 60, and ended at 3.7): the checks ask for the flow's KL to
 * be < 0.01 (plus 4 SE) and smaller than the Gaussian's by > 0.04 beyond 4 SE of the difference.
 */
const TWO_RATES = `
model rates2 {
  data y: int[N]
  data z: int[M]
  param a: positive
  param b: positive
  a ~ gamma(2, 1)
  b ~ gamma(2, 1)
  y ~ poisson(a)
  z ~ poisson(b)
}`;

describe('a coupling flow on a skewed posterior', () => {
  it('has a far smaller KL to the posterior than the best Gaussian', () => {
    const bm = compile(TWO_RATES).bind({ y: [0, 0, 0], z: [0, 0, 0] });
    const logZ = 4 * Math.log(1 / 4);
    const opts = { steps: 10000, samples: 4, stopAtConvergence: false, seed: 1 } as const;
    const gauss = iwaeBound(bm, vi(bm, { ...opts, guide: 'meanfield' }).guide, 1, 10000, Key.seed(51).rng());
    const flow = iwaeBound(bm, vi(bm, { ...opts, guide: 'coupling' }).guide, 1, 10000, Key.seed(51).rng());
    const seDiff = Math.hypot(gauss.se, flow.se);
    expect(flow.bound - gauss.bound - 4 * seDiff).toBeGreaterThan(0.04);
    expect(logZ - flow.bound).toBeLessThan(0.01 + 4 * flow.se);
    expect(logZ - flow.bound).toBeGreaterThan(-4 * flow.se); // an ELBO cannot exceed log p(y)
  }, 60_000);
});

describe('vi and the command line with the coupling guide', () => {
  afterEach(() => {
    vitest.restoreAllMocks();
  });

  it('steps the MLP weights at a fifth of the learning rate (Adam scale)', () => {
    const g = new CouplingFlowGuide(3, { layers: 2, hidden: 2 });
    const sc = g.stepScale();
    expect(Array.from(sc.slice(0, 6))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(sc.slice(6).every((x) => x === 0.2)).toBe(true);
    // Adam's first step moves each parameter by lr · scale_i (m̂/√v̂ = ±1 at step 1).
    const p = new Float64Array(3);
    new Adam(3, { lr: 0.1, scale: [1, 0.2, 0] }).step(p, [2, -3, 5]);
    [-0.1, 0.02, 0].forEach((x, i) => expect(p[i]).toBeCloseTo(x, 6));
    expect(() => new Adam(3, { scale: [1] })).toThrow(/scale has length 1, expected 3/);
  });

  it('vi takes layers, hidden and masks for the coupling guide only', () => {
    const bm = compile(POISSON_GAMMA).bind({ y: [0, 0, 0] });
    const fit = vi(bm, { guide: 'coupling', layers: 2, hidden: 3, masks: 'permuted', steps: 200, seed: 2 });
    const g = fit.guide as CouplingFlowGuide;
    expect([g.kind, g.layers, g.hidden, g.masks]).toEqual(['coupling', 2, 3, 'permuted']);
    expect(fit.draws(5).length).toBe(5);
    const viaFit = compile(POISSON_GAMMA).fit({ y: [0, 0, 0] }, { method: 'vi', guide: 'coupling', layers: 2, steps: 100, seed: 2 });
    expect(viaFit.guide.kind).toBe('coupling');
    expect(() => vi(bm, { guide: 'fullrank', hidden: 3 })).toThrow(/hidden applies to the 'coupling' and 'amortized' guides only/);
    expect(() => vi(bm, { guide: 'planar', masks: 'permuted' })).toThrow(/masks applies to the 'coupling' guide only/);
  });

  it("`mixppl fit --method vi --guide coupling` runs the flow and says so; a bad guide lists them all", () => {
    const model = compile(POISSON_GAMMA);
    const out: string[] = [];
    vitest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    const code = approxCommand(model, { y: [0, 0, 0] }, 'vi', new Map([['--guide', 'coupling'], ['--max-iter', '300']]), new Set(['--quiet']));
    expect([0, 3]).toContain(code);
    expect(out.join('')).toMatch(/VI, coupling flow guide on the unconstrained scale/);
    expect(() => approxCommand(model, { y: [0, 0, 0] }, 'vi', new Map([['--guide', 'flow']]))).toThrow(
      /--guide must be meanfield, fullrank, lowrank, planar, coupling or amortized, got 'flow'/,
    );
  });
});
