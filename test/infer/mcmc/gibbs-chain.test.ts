// Gibbs over a chain latent (an HMM's path) inside MCMC: the path drawn given θ, exactly by
// forward filtering and backward sampling ('ffbs') or by conditional SMC with ancestor sampling
// ('csmc', particle Gibbs), against the exact path posterior by enumeration of all K^T paths;
// the log density of θ given a path against the complete-data log joint written out by hand;
// and whole runs (NUTS and slice with latents: 'gibbs') against NUTS with the chain summed out.
import { describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../../src';
import { sample } from '../../../src/infer/mcmc';
import { GibbsTarget } from '../../../src/infer/mcmc/gibbs';
import { mcseMean } from '../../../src/infer/mcmc/diagnostics';
import { Key } from '../../../src/tensor/random';

// The describe blocks bind models at collection time.
await ensureBackend();

const HMM = `
model hmm2 {
  data y: real[T]
  param pi: simplex[2]
  param A: simplex[2, 2]
  param mu: ordered[2]
  param sigma: positive
  pi ~ dirichlet(rep(2.0, 2))
  A ~ dirichlet(rep(2.0, 2))
  mu ~ normal(0, 3)
  sigma ~ half_normal(2)
  z[1] ~ categorical(pi)
  for t in 2..T {
    z[t] ~ categorical(A[z[t-1]])
  }
  for t in 1..T {
    y[t] ~ normal(mu[z[t]], sigma)
  }
}`;

const P = { pi: [0.6, 0.4], A: [[0.8, 0.2], [0.3, 0.7]], mu: [-1, 1.2], sigma: 0.9 };
const Y5 = [-0.8, 0.4, 1.5, -1.6, 0.9];

const lnorm = (y: number, m: number, s: number) => -0.5 * Math.log(2 * Math.PI) - Math.log(s) - 0.5 * ((y - m) / s) ** 2;

/** log p(y, z | θ) written out (z 0-based). */
function logJointPath(z: number[], y: number[]): number {
  let lp = Math.log(P.pi[z[0]]) + lnorm(y[0], P.mu[z[0]], P.sigma);
  for (let t = 1; t < y.length; t++) lp += Math.log(P.A[z[t - 1]][z[t]]) + lnorm(y[t], P.mu[z[t]], P.sigma);
  return lp;
}

/** Every path of length T over 2 states with its exact posterior probability given θ. */
function exactPaths(y: number[]): Map<string, number> {
  const T = y.length;
  const lps: [string, number][] = [];
  for (let m = 0; m < 2 ** T; m++) {
    const z = Array.from({ length: T }, (_, t) => (m >> t) & 1);
    lps.push([z.join(''), logJointPath(z, y)]);
  }
  const mx = Math.max(...lps.map(([, v]) => v));
  const tot = lps.reduce((a, [, v]) => a + Math.exp(v - mx), 0);
  return new Map(lps.map(([k, v]) => [k, Math.exp(v - mx) / tot]));
}

/** Pearson's χ² of counts against probabilities, cells with expected count < 5 pooled. */
function chiSquare(counts: Map<string, number>, probs: Map<string, number>, n: number): { stat: number; df: number } {
  let stat = 0;
  let df = -1;
  let poolO = 0;
  let poolE = 0;
  for (const [k, p] of probs) {
    const e = n * p;
    const o = counts.get(k) ?? 0;
    if (e < 5) { poolO += o; poolE += e; continue; }
    stat += (o - e) ** 2 / e;
    df++;
  }
  if (poolE > 0) { stat += (poolO - poolE) ** 2 / poolE; df++; }
  return { stat, df };
}

describe('GibbsTarget on a chain latent', () => {
  const bound = compile(HMM).bind({ y: Y5 });
  const u = bound.unconstrain(P);

  it('ffbs: paths drawn given θ follow the exact path posterior (χ² over all 32 paths)', () => {
    const g = new GibbsTarget(bound);
    expect(g.latentNames()).toEqual(['z.1', 'z.2', 'z.3', 'z.4', 'z.5']);
    const rng = Key.seed(5).rng();
    const n = 20000;
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      g.updateLatents(u, rng);
      const k = Array.from(g.z, (v) => v - 1).join('');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const { stat, df } = chiSquare(counts, exactPaths(Y5), n);
    // χ²(df) 0.999 quantile < df + 3.1 √(2 df) + 5 for these df (independent draws)
    expect(stat, `χ² ${stat.toFixed(1)} on ${df} df`).toBeLessThan(df + 3.1 * Math.sqrt(2 * df) + 5);
  });

  it('csmc: particle Gibbs sweeps leave the path posterior invariant (per-step marginals within 4 MCSE)', () => {
    const g = new GibbsTarget(bound, undefined, { chainUpdate: 'csmc', particles: 5 });
    const rng = Key.seed(6).rng();
    const n = 8000;
    const ex = exactPaths(Y5);
    const series: Float64Array[] = Y5.map(() => new Float64Array(n));
    for (let i = 0; i < n; i++) {
      g.updateLatents(u, rng);
      for (let t = 0; t < Y5.length; t++) series[t][i] = g.z[t] - 1;
    }
    for (let t = 0; t < Y5.length; t++) {
      let p = 0;
      for (const [k, v] of ex) if (k[t] === '1') p += v;
      const m = series[t].reduce((a, b) => a + b, 0) / n;
      // MCSE from the sweeps' autocorrelation (ESS of the 0/1 series)
      const se = mcseMean([series[t]]);
      expect(Math.abs(m - p), `P(z[${t + 1}] = 2): ${m.toFixed(4)} vs ${p.toFixed(4)} ± ${se.toFixed(4)}`).toBeLessThan(4 * se);
    }
  });

  it('the log density of θ given a path differs between paths as the complete-data log joint does', () => {
    const g = new GibbsTarget(bound);
    const paths = [[0, 0, 1, 0, 1], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]];
    const lds = paths.map((z) => {
      z.forEach((v, t) => { g.z[t] = v + 1; });
      return g.logDensity(u);
    });
    // Priors and the Jacobian are the same at the same θ; float32 tables: 1e-4
    for (let i = 1; i < paths.length; i++) {
      expect(lds[i] - lds[0]).toBeCloseTo(logJointPath(paths[i], Y5) - logJointPath(paths[0], Y5), 4);
    }
  });

  it('bad options are refused', () => {
    expect(() => new GibbsTarget(bound, undefined, { chainUpdate: 'exact' as 'ffbs' })).toThrow(/chainUpdate must be 'ffbs' or 'csmc'/);
    expect(() => new GibbsTarget(bound, undefined, { chainUpdate: 'csmc', particles: 1 })).toThrow(/particles must be an integer ≥ 2/);
    expect(() => sample(bound, { chainUpdate: 'csmc' })).toThrow(/go with latents: 'gibbs'/);
  });
});

describe("sample with latents: 'gibbs' on an HMM", () => {
  // 40 steps drawn from the model at P.
  const y = (() => {
    const rng = Key.seed(41).rng();
    const out: number[] = [];
    let s = rng.uniform() < P.pi[0] ? 0 : 1;
    for (let t = 0; t < 40; t++) {
      if (t > 0) s = rng.uniform() < P.A[s][0] ? 0 : 1;
      out.push(P.mu[s] + P.sigma * rng.normal());
    }
    return out;
  })();
  const bound = compile(HMM).bind({ y });
  let ref: ReturnType<typeof sample> | undefined;
  // NUTS with the chain summed out: the reference, run once when first needed.
  const reference = () => (ref ??= sample(bound, { chains: 4, warmup: 500, draws: 1000, seed: 11 }));
  const names = ['mu.1', 'mu.2', 'sigma', 'A.1.1', 'A.2.2'];

  /** Two-run z-scores of the posterior means (MCSE of each from its ESS). */
  function zScores(fit: ReturnType<typeof sample>): number[] {
    return names.map((k) => {
      const a = fit.draws(k);
      const b = reference().draws(k);
      const mean = (c: Float64Array[]) => c.reduce((s, x) => s + x.reduce((p, q) => p + q, 0), 0) / c.reduce((s, x) => s + x.length, 0);
      return (mean(a) - mean(b)) / Math.hypot(mcseMean(a), mcseMean(b));
    });
  }

  for (const [label, opts] of [
    ['NUTS + ffbs', { latents: 'gibbs' as const }],
    ['NUTS + csmc (particle Gibbs)', { latents: 'gibbs' as const, chainUpdate: 'csmc' as const, csmcParticles: 10 }],
    ['slice + ffbs', { latents: 'gibbs' as const, algorithm: 'slice' as const }],
  ] as const) {
    it(`${label}: posterior means agree with NUTS on the marginal (within 4 combined MCSE)`, () => {
      const fit = sample(bound, { chains: 4, warmup: 500, draws: 1000, seed: 12, ...opts });
      expect(fit.latentNames?.length ?? fit.settings).toBeTruthy();
      const zs = zScores(fit);
      expect(Math.max(...zs.map(Math.abs)), `${names.map((k, i) => `${k} ${zs[i].toFixed(2)}`).join(', ')}`).toBeLessThan(4);
    }, 120_000);
  }
});
