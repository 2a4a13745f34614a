// Parameters-only prior draws from the IR (src/infer/smc/prior-draw.ts), which tempered SMC
// starts from instead of model.simulate:
// - where every prior precedes the latents and observations, the draws use simulate's random
//   streams in the same order, so the params (and their unconstrained vectors) equal
//   simulate's exactly, on four stdlib models (hierarchical priors, ordered and
//   positive_ordered, simplex, Cholesky/LKJ);
// - where an observation is drawn between priors the streams differ, and the moments of each
//   param agree with simulate's (independent draws) and with closed forms within Monte Carlo
//   error, constraints respected;
// - priors it cannot draw (a truncated prior) fall back to simulate, and smc says which path ran.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compile, ensureBackend } from '../../src';
import { paramPriorDraws, paramPriorUnconstrained, PriorDrawUnsupported, smc } from '../../src/infer/smc';
import { REGRESSION_DATA, REGRESSION_LINE } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const y = readFileSync('examples/galaxies/galaxies.csv', 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).slice(1).map(Number).slice(0, 20);

describe('params-only prior draws', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['examples/galaxies/galaxies.mix', { y, K: 3 }],
    ['stdlib/bayes_gmm.mix', { y, K: 3 }],
    ['stdlib/poisson_mix.mix', { y: y.map(Math.round), K: 3 }],
    ['stdlib/gmm_full.mix', { x: y.map((v, i) => [v, (v * i) % 7]), K: 2 }],
  ];
  for (const [file, data] of cases) {
    it(`equal simulate's params exactly where the priors come first: ${file}`, () => {
      const model = compile(readFileSync(file, 'utf8'));
      const bound = model.bind(data as never);
      const P = 40;
      const got = paramPriorDraws(bound, P, 5);
      const u = paramPriorUnconstrained(bound, P, 5);
      const want = model.simulate(data as never, { seed: 5, draws: P });
      for (let i = 0; i < P; i++) {
        for (const p of bound.params) {
          const x = got[i].get(p.name)!;
          expect(Array.from(x)).toEqual(Array.from(want[i].params[p.name].values));
          // Constraints, over the last axis (K) for vector constraints.
          const K = p.shape[p.shape.length - 1];
          const c = p.constraint.name;
          if (c === 'positive' || c === 'positive_ordered') expect(x.every((v) => v > 0)).toBe(true);
          for (let r = 0; r + K <= x.length && (c === 'ordered' || c === 'positive_ordered' || c === 'simplex'); r += K) {
            const row = Array.from(x.subarray(r, r + K));
            if (c === 'simplex') expect(Math.abs(row.reduce((p2, q) => p2 + q, 0) - 1)).toBeLessThan(1e-9);
            else expect(row.every((v, j) => j === 0 || row[j - 1] < v)).toBe(true);
          }
        }
        expect(Array.from(u[i])).toEqual(Array.from(bound.unconstrain(want[i].params)));
      }
      bound.dispose();
    });
  }

  it('match simulate in distribution (moments within MC error) where an observation is drawn between priors', () => {
    const src = `
model inter {
  data y: real[N]
  param a: positive
  param m: ordered[3]
  param s: real<lower=1>
  param w: simplex[3]
  a ~ normal(0, 2)
  for n in 1..N { y[n] ~ normal(0, a) }
  m ~ normal(1, 3)
  s ~ normal(0, 2)
  w ~ dirichlet([1.0, 2.0, 3.0])
}`;
    const model = compile(src);
    const data = { y: [0.1, -0.3, 0.2] };
    const bound = model.bind(data);
    const n = 4000;
    const got = paramPriorDraws(bound, n, 21);
    const sim = model.simulate(data, { seed: 22, draws: n });
    const col = (name: string, j: number) => ({
      ir: got.map((d) => d.get(name)![j]),
      sim: sim.map((d) => d.params[name].values[j]),
    });
    const mv = (xs: number[]) => {
      const m = xs.reduce((p, q) => p + q, 0) / xs.length;
      return { m, v: xs.reduce((p, q) => p + (q - m) ** 2, 0) / (xs.length - 1) };
    };
    // Closed forms: a ~ N(0, 2) on (0, ∞) (half-normal, mean 2√(2/π)); s ~ N(0, 2) on [1, ∞)
    // (mean 2φ(0.5)/(1 − Φ(0.5))); w ~ Dirichlet(1, 2, 3) (means k/6); m: sorted N(1, 3) triples.
    const phi = Math.exp(-0.125) / Math.sqrt(2 * Math.PI);
    const exact: Record<string, (number | undefined)[]> = {
      a: [2 * Math.sqrt(2 / Math.PI)], s: [(2 * phi) / 0.3085375387259869], w: [1 / 6, 2 / 6, 3 / 6], m: [undefined, 1, undefined],
    };
    for (const [name, means] of Object.entries(exact)) {
      means.forEach((mu, j) => {
        const c = col(name, j);
        const a = mv(c.ir);
        const b = mv(c.sim);
        // Two independent samples of n: the difference of means has sd √((v₁ + v₂)/n); 4 sd.
        expect(Math.abs(a.m - b.m)).toBeLessThan(4 * Math.sqrt((a.v + b.v) / n));
        // Variances: the sd of a sample variance is about v√(2/n) for near-normal and a
        // little more for these skewed laws; 5 of those on the difference.
        expect(Math.abs(a.v - b.v)).toBeLessThan(5 * Math.max(a.v, b.v) * Math.sqrt(4 / n));
        if (mu !== undefined) expect(Math.abs(a.m - mu)).toBeLessThan(4 * Math.sqrt(a.v / n));
      });
    }
    for (const d of got) {
      expect(d.get('a')![0]).toBeGreaterThan(0);
      expect(d.get('s')![0]).toBeGreaterThanOrEqual(1);
      const m = d.get('m')!;
      expect(m[0] < m[1] && m[1] < m[2]).toBe(true);
      const w = d.get('w')!;
      expect(Math.abs(w[0] + w[1] + w[2] - 1)).toBeLessThan(1e-12);
    }
    bound.dispose();
  });

  it('leave a truncated prior to simulate; smc reports which path drew the particles', () => {
    const model = compile(`
model trunc {
  data y: real[N]
  param a: real
  a ~ truncated(normal(0, 1), -1, 2)
  for n in 1..N { y[n] ~ normal(a, 1) }
}`);
    const bound = model.bind({ y: [0.3, 0.5] });
    expect(() => paramPriorDraws(bound, 3, 1)).toThrow(PriorDrawUnsupported);
    const r = smc(model, bound, { particles: 50, seed: 3, rejuvenation: { kernel: 'rwmh', steps: 1 } });
    expect(r.priorDraws).toBe('simulate');
    expect(r.particles.every((p) => p[0] >= -1 && p[0] <= 2)).toBe(true);
    bound.dispose();
    const line = compile(REGRESSION_LINE);
    const lb = line.bind(REGRESSION_DATA);
    expect(smc(line, lb, { particles: 50, seed: 3, rejuvenation: { kernel: 'rwmh', steps: 1 } }).priorDraws).toBe('params');
    lb.dispose();
  });
});
