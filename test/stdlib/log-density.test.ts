// Every stdlib model's log density (float32 tensors, latents summed out by the
// evaluator) against an independent float64 closed form written here: mixtures by
// log-sum-exp over components, HMM chains by the forward recursion, priors included, at
// parameter values built from a seeded PRNG and at a draw from the model's own priors.
// The data are simulated from the model at the given parameters (simulate() is only the
// data source here; the reference never calls into src/).
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor';
import { compile } from '../../src';
import type { Model } from '../../src';
import type { NdArray } from '../../src/model/data';
import type { Nested, Term } from './reference';
import {
  LOG_PI, LogAcc, TestRng, assignments, bernoulliLpmf, betaLpdf, censoredNormalLpdf, covFromScaleAndCorrFactor, dirichletLpdf,
  dot, f32, gammaLpdf, halfNormalLpdf, hmmLpdf, lgamma, lkjCorrCholeskyLpdf, lkjLogNormaliser, logSumExp, lognormalLpdf,
  mixtureLpdf, mvnormalLpdf, nest, normalCdf, normalLpdf, parts, poissonLpmf, softmax, studentTLpdf, tolerance,
} from './reference';

beforeAll(async () => {
  await useBackend('cpu');
});

type Values = Record<string, Nested>;
const sc = (v: Nested) => v as number;
const v1 = (v: Nested) => v as number[];
const v2 = (v: Nested) => v as number[][];
const v3 = (v: Nested) => v as number[][][];
const ones = (K: number) => new Array<number>(K).fill(1);
const sumTerms = (ts: Term[]): Term => ts.reduce((a, t) => ({ v: a.v + t.v, mag: a.mag + t.mag }), { v: 0, mag: 0 });
/** Every value rounded to float32. */
const f32Values = (p: Values): Values => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, f32(v)]));

/** Adds Σ_i lpdf(x_i) over a flat list to `acc`. */
function addEach(acc: LogAcc, xs: readonly number[], lpdf: (x: number, i: number) => Term): void {
  xs.forEach((x, i) => acc.add(lpdf(x, i)));
}

/** One stdlib model: how to build its parameters and its float64 log density. */
interface StdlibCase {
  name: string;
  /** Sizes and covariates for the two hand-built parameter sets and the prior draw. */
  inputs: [Values, Values, Values];
  params(rng: TestRng, input: Values): Values;
  /** Whether the data reach every branch of the density (e.g. both censoring limits). */
  exercised?(d: Values): boolean;
  /** The reference log density: priors (when asked) plus the likelihood, latents summed out. */
  reference(p: Values, d: Values, priors: boolean): LogAcc;
}

/** Covariates x[N][P] ~ normal(0, 1.5). */
function covariates(seed: number, N: number, P: number): number[][] {
  const rng = new TestRng(seed);
  return f32(Array.from({ length: N }, () => Array.from({ length: P }, () => 1.5 * rng.normal())));
}

const normals = (rng: TestRng, n: number, s: number) => Array.from({ length: n }, () => s * rng.normal());
const positives = (rng: TestRng, n: number, a: number, b: number) => Array.from({ length: n }, () => rng.uniform(a, b));

/** Σ over the rows of A of dirichlet(A_i | 1). */
const dirichletRows = (A: number[][]) => A.map((r) => dirichletLpdf(r, ones(r.length)));

const CASES: StdlibCase[] = [
  {
    name: 'bayes_gmm',
    inputs: [{ K: 2, N: 8 }, { K: 3, N: 15 }, { K: 3, N: 10 }],
    params: (rng, { K }) => ({
      alpha: rng.uniform(0.5, 3), w: rng.simplex(sc(K)), mu0: rng.normal(), tau0: rng.uniform(0.5, 3),
      mu: rng.ordered(sc(K), -4, 4), sigma: positives(rng, sc(K), 0.3, 2),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const K = sc(d.K);
      const [alpha, w, mu0, tau0, mu, sigma] = [sc(p.alpha), v1(p.w), sc(p.mu0), sc(p.tau0), v1(p.mu), v1(p.sigma)];
      if (priors) {
        acc.add([gammaLpdf(alpha, 2, 2), dirichletLpdf(w, new Array(K).fill(alpha)), normalLpdf(mu0, 0, 10), halfNormalLpdf(tau0, 5)]);
        addEach(acc, mu, (m) => normalLpdf(m, mu0, tau0));
        addEach(acc, sigma, (s) => lognormalLpdf(s, 0, 1));
      }
      addEach(acc, v1(d.y), (y) => mixtureLpdf(w.map(Math.log), mu.map((m, k) => normalLpdf(y, m, sigma[k]))));
      return acc;
    },
  },
  {
    name: 'bernoulli_mix',
    inputs: [{ K: 2, N: 10, D: 3 }, { K: 3, N: 20, D: 2 }, { K: 3, N: 12, D: 3 }],
    params: (rng, { K, D }) => ({
      w: rng.simplex(sc(K)),
      theta: Array.from({ length: sc(K) }, () => positives(rng, sc(D), 0.05, 0.95)),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, theta] = [v1(p.w), v2(p.theta)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, theta.flat(), (t) => betaLpdf(t, 1, 1));
      }
      for (const xn of v2(d.x)) {
        acc.add(mixtureLpdf(w.map(Math.log), theta.map((tk) => sumTerms(xn.map((x, j) => bernoulliLpmf(x, tk[j]))))));
      }
      return acc;
    },
  },
  {
    name: 'censored_gmm',
    // The outer means lie beyond the limits, so each data set has values at both limits.
    inputs: [{ K: 2, N: 20, lo: -1, hi: 1 }, { K: 3, N: 20, lo: -1.5, hi: 1.5 }, { K: 2, N: 15, lo: -5, hi: 5 }],
    params: (rng, { K, lo, hi }) => ({
      w: rng.simplex(sc(K)), mu: rng.ordered(sc(K), sc(lo) - 1, sc(hi) + 1), sigma: positives(rng, sc(K), 0.5, 1.5),
    }),
    exercised: (d) => v1(d.y).some((y) => y === d.lo) && v1(d.y).some((y) => y === d.hi) && v1(d.y).some((y) => y > sc(d.lo) && y < sc(d.hi)),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, mu, sigma] = [v1(p.w), v1(p.mu), v1(p.sigma)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, mu, (m) => normalLpdf(m, 0, 10));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      addEach(acc, v1(d.y), (y) => mixtureLpdf(w.map(Math.log), mu.map((m, k) => censoredNormalLpdf(y, m, sigma[k], sc(d.lo), sc(d.hi)))));
      return acc;
    },
  },
  {
    name: 'dp_mix',
    inputs: [{ K: 2, N: 8 }, { K: 4, N: 15 }, { K: 3, N: 12 }],
    params: (rng, { K }) => ({
      alpha: rng.uniform(0.5, 3), v: positives(rng, sc(K) - 1, 0.1, 0.9), mu: normals(rng, sc(K), 4), sigma: positives(rng, sc(K), 0.3, 2),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [alpha, v, mu, sigma] = [sc(p.alpha), v1(p.v), v1(p.mu), v1(p.sigma)];
      if (priors) {
        acc.add(gammaLpdf(alpha, 1, 1));
        addEach(acc, v, (x) => betaLpdf(x, 1, alpha));
        addEach(acc, mu, (m) => normalLpdf(m, 0, 10));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      // Stick-breaking: w_k = v_k Π_{j<k} (1 - v_j), and the last component takes Π_j (1 - v_j).
      let rest = 0;
      const logW = mu.map((_, k) => {
        const lw = rest + (k < v.length ? Math.log(v[k]) : 0);
        if (k < v.length) rest += Math.log1p(-v[k]);
        return lw;
      });
      addEach(acc, v1(d.y), (y) => mixtureLpdf(logW, mu.map((m, k) => normalLpdf(y, m, sigma[k]))));
      return acc;
    },
  },
  {
    name: 'gaussian_hmm',
    inputs: [{ K: 2, T: 6 }, { K: 3, T: 10 }, { K: 2, T: 8 }],
    params: (rng, { K }) => ({
      pi: rng.simplex(sc(K)), A: Array.from({ length: sc(K) }, () => rng.simplex(sc(K))),
      mu: rng.ordered(sc(K), -4, 4), sigma: positives(rng, sc(K), 0.4, 2),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [pi, A, mu, sigma] = [v1(p.pi), v2(p.A), v1(p.mu), v1(p.sigma)];
      if (priors) {
        acc.add([dirichletLpdf(pi, ones(pi.length)), ...dirichletRows(A)]);
        addEach(acc, mu, (m) => normalLpdf(m, 0, 10));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      const emit = v1(d.y).map((y) => mu.map((m, k) => normalLpdf(y, m, sigma[k])));
      acc.add(hmmLpdf(pi.map(Math.log), A.map((r) => r.map(Math.log)), emit));
      return acc;
    },
  },
  {
    name: 'gmm_diag',
    inputs: [{ K: 2, N: 8, D: 2 }, { K: 3, N: 15, D: 3 }, { K: 2, N: 10, D: 3 }],
    params: (rng, { K, D }) => ({
      w: rng.simplex(sc(K)),
      mu: Array.from({ length: sc(K) }, () => normals(rng, sc(D), 3)),
      sigma: Array.from({ length: sc(K) }, () => positives(rng, sc(D), 0.3, 2)),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, mu, sigma] = [v1(p.w), v2(p.mu), v2(p.sigma)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, mu.flat(), (m) => normalLpdf(m, 0, 10));
        addEach(acc, sigma.flat(), (s) => halfNormalLpdf(s, 5));
      }
      for (const xn of v2(d.x)) {
        acc.add(mixtureLpdf(w.map(Math.log), mu.map((mk, k) => sumTerms(xn.map((x, j) => normalLpdf(x, mk[j], sigma[k][j]))))));
      }
      return acc;
    },
  },
  {
    name: 'gmm_full',
    inputs: [{ K: 2, N: 8, D: 2 }, { K: 3, N: 12, D: 3 }, { K: 2, N: 10, D: 3 }],
    params: (rng, { K, D }) => ({
      w: rng.simplex(sc(K)),
      mu: Array.from({ length: sc(K) }, () => normals(rng, sc(D), 3)),
      tau: Array.from({ length: sc(K) }, () => positives(rng, sc(D), 0.4, 2)),
      L: Array.from({ length: sc(K) }, () => rng.corrCholesky(sc(D))),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, mu, tau, L] = [v1(p.w), v2(p.mu), v2(p.tau), v3(p.L)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, mu.flat(), (m) => normalLpdf(m, 0, 10));
        addEach(acc, tau.flat(), (s) => halfNormalLpdf(s, 5));
        acc.add(L.map((Lk) => lkjCorrCholeskyLpdf(Lk, 2)));
      }
      const Sigma = L.map((Lk, k) => covFromScaleAndCorrFactor(tau[k], Lk));
      for (const xn of v2(d.x)) acc.add(mixtureLpdf(w.map(Math.log), mu.map((mk, k) => mvnormalLpdf(xn, mk, Sigma[k]))));
      return acc;
    },
  },
  {
    name: 'gmm_spherical',
    inputs: [{ K: 2, N: 8, D: 2 }, { K: 3, N: 15, D: 3 }, { K: 3, N: 10, D: 2 }],
    params: (rng, { K, D }) => ({
      w: rng.simplex(sc(K)), mu: Array.from({ length: sc(K) }, () => normals(rng, sc(D), 3)), sigma: positives(rng, sc(K), 0.3, 2),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, mu, sigma] = [v1(p.w), v2(p.mu), v1(p.sigma)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, mu.flat(), (m) => normalLpdf(m, 0, 10));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      for (const xn of v2(d.x)) {
        acc.add(mixtureLpdf(w.map(Math.log), mu.map((mk, k) => sumTerms(xn.map((x, j) => normalLpdf(x, mk[j], sigma[k]))))));
      }
      return acc;
    },
  },
  {
    name: 'gmm_tied',
    inputs: [{ K: 2, N: 8, D: 2 }, { K: 3, N: 12, D: 3 }, { K: 2, N: 10, D: 3 }],
    params: (rng, { K, D }) => ({
      w: rng.simplex(sc(K)), mu: Array.from({ length: sc(K) }, () => normals(rng, sc(D), 3)),
      tau: positives(rng, sc(D), 0.4, 2), L: rng.corrCholesky(sc(D)),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, mu, tau, L] = [v1(p.w), v2(p.mu), v1(p.tau), v2(p.L)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, mu.flat(), (m) => normalLpdf(m, 0, 10));
        addEach(acc, tau, (s) => halfNormalLpdf(s, 5));
        acc.add(lkjCorrCholeskyLpdf(L, 2));
      }
      const Sigma = covFromScaleAndCorrFactor(tau, L);
      for (const xn of v2(d.x)) acc.add(mixtureLpdf(w.map(Math.log), mu.map((mk) => mvnormalLpdf(xn, mk, Sigma))));
      return acc;
    },
  },
  {
    name: 'mix_linreg',
    inputs: [{ K: 2, x: covariates(11, 8, 1) }, { K: 3, x: covariates(12, 15, 2) }, { K: 2, x: covariates(13, 10, 3) }],
    params: (rng, { K, x }) => ({
      w: rng.simplex(sc(K)), alpha: rng.ordered(sc(K), -4, 4),
      coef: Array.from({ length: sc(K) }, () => normals(rng, v2(x)[0].length, 2)), sigma: positives(rng, sc(K), 0.3, 2),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, alpha, coef, sigma] = [v1(p.w), v1(p.alpha), v2(p.coef), v1(p.sigma)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, alpha, (a) => normalLpdf(a, 0, 10));
        addEach(acc, coef.flat(), (c) => normalLpdf(c, 0, 5));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      const x = v2(d.x);
      addEach(acc, v1(d.y), (y, n) => mixtureLpdf(w.map(Math.log), alpha.map((a, k) => normalLpdf(y, a + dot(coef[k], x[n]), sigma[k]))));
      return acc;
    },
  },
  {
    name: 'moe',
    inputs: [{ K: 2, u: covariates(21, 8, 2) }, { K: 3, u: covariates(22, 15, 2) }, { K: 3, u: covariates(23, 10, 3) }],
    params: (rng, { K, u }) => {
      const P = v2(u)[0].length;
      return {
        W: Array.from({ length: sc(K) }, () => normals(rng, P, 1)), alpha: rng.ordered(sc(K), -4, 4),
        coef: Array.from({ length: sc(K) }, () => normals(rng, P, 2)), sigma: positives(rng, sc(K), 0.3, 2),
      };
    },
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [W, alpha, coef, sigma] = [v2(p.W), v1(p.alpha), v2(p.coef), v1(p.sigma)];
      if (priors) {
        addEach(acc, W.flat(), (x) => normalLpdf(x, 0, 2));
        addEach(acc, alpha, (a) => normalLpdf(a, 0, 10));
        addEach(acc, coef.flat(), (c) => normalLpdf(c, 0, 5));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      const u = v2(d.u);
      addEach(acc, v1(d.y), (y, n) => {
        const gate = softmax(W.map((Wk) => dot(Wk, u[n])));
        return mixtureLpdf(gate.map(Math.log), alpha.map((a, k) => normalLpdf(y, a + dot(coef[k], u[n]), sigma[k])));
      });
      return acc;
    },
  },
  {
    name: 'poisson_hmm',
    inputs: [{ K: 2, T: 6 }, { K: 3, T: 10 }, { K: 2, T: 8 }],
    params: (rng, { K }) => ({
      pi: rng.simplex(sc(K)), A: Array.from({ length: sc(K) }, () => rng.simplex(sc(K))), lambda: rng.ordered(sc(K), 0.5, 25),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [pi, A, lambda] = [v1(p.pi), v2(p.A), v1(p.lambda)];
      if (priors) {
        acc.add([dirichletLpdf(pi, ones(pi.length)), ...dirichletRows(A)]);
        addEach(acc, lambda, (l) => gammaLpdf(l, 2, 0.1));
      }
      const emit = v1(d.y).map((y) => lambda.map((l) => poissonLpmf(y, l)));
      acc.add(hmmLpdf(pi.map(Math.log), A.map((r) => r.map(Math.log)), emit));
      return acc;
    },
  },
  {
    name: 'poisson_mix',
    inputs: [{ K: 2, N: 10 }, { K: 3, N: 20 }, { K: 2, N: 12 }],
    params: (rng, { K }) => ({ w: rng.simplex(sc(K)), lambda: rng.ordered(sc(K), 0.5, 30) }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, lambda] = [v1(p.w), v1(p.lambda)];
      if (priors) {
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, lambda, (l) => gammaLpdf(l, 2, 0.1));
      }
      addEach(acc, v1(d.y), (y) => mixtureLpdf(w.map(Math.log), lambda.map((l) => poissonLpmf(y, l))));
      return acc;
    },
  },
  {
    name: 'student_t_mix',
    inputs: [{ K: 2, N: 10 }, { K: 3, N: 15 }, { K: 2, N: 12 }],
    params: (rng, { K }) => ({
      w: rng.simplex(sc(K)), nu: positives(rng, sc(K), 1.2, 30), mu: rng.ordered(sc(K), -5, 5), sigma: positives(rng, sc(K), 0.3, 2),
    }),
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [w, nu, mu, sigma] = [v1(p.w), v1(p.nu), v1(p.mu), v1(p.sigma)];
      if (priors) {
        // nu: real<lower=1> with a gamma prior: Stan's `~` does not renormalise by the mass above 1.
        acc.add(dirichletLpdf(w, ones(w.length)));
        addEach(acc, nu, (n) => gammaLpdf(n, 2, 0.1));
        addEach(acc, mu, (m) => normalLpdf(m, 0, 10));
        addEach(acc, sigma, (s) => halfNormalLpdf(s, 5));
      }
      addEach(acc, v1(d.y), (y) => mixtureLpdf(w.map(Math.log), mu.map((m, k) => studentTLpdf(y, nu[k], m, sigma[k]))));
      return acc;
    },
  },
  {
    name: 'switching_lgssm',
    inputs: [{ K: 2, T: 6 }, { K: 3, T: 10 }, { K: 2, T: 8 }],
    params: (rng, { K, T }) => {
      const a = positives(rng, sc(K), -0.95, 0.95);
      const q = positives(rng, sc(K), 0.2, 1.5);
      // A path of the continuous state under randomly chosen regimes.
      const x = [3 * rng.normal()];
      for (let t = 1; t < sc(T); t++) {
        const s = Math.floor(rng.next() * sc(K));
        x.push(a[s] * x[t - 1] + q[s] * rng.normal());
      }
      return { pi: rng.simplex(sc(K)), A: Array.from({ length: sc(K) }, () => rng.simplex(sc(K))), a, q, r: rng.uniform(0.3, 1.5), x };
    },
    reference: (p, d, priors) => {
      const acc = new LogAcc();
      const [pi, A, a, q, r, x] = [v1(p.pi), v2(p.A), v1(p.a), v1(p.q), sc(p.r), v1(p.x)];
      if (priors) {
        // x is a parameter, so `x[t] ~ normal(a[s[t]] x[t-1], q[s[t]])` is a prior factor: the
        // regime chain's emissions are these terms, and without priors the chain sums to 1.
        acc.add([dirichletLpdf(pi, ones(pi.length)), ...dirichletRows(A), halfNormalLpdf(r, 1), normalLpdf(x[0], 0, 5)]);
        addEach(acc, a, (ak) => normalLpdf(ak, 0, 0.5));
        addEach(acc, q, (qk) => halfNormalLpdf(qk, 1));
        const emit = x.map((xt, t) => a.map((ak, k) => (t === 0 ? parts(0) : normalLpdf(xt, ak * x[t - 1], q[k]))));
        acc.add(hmmLpdf(pi.map(Math.log), A.map((row) => row.map(Math.log)), emit));
      }
      addEach(acc, v1(d.y), (y, t) => normalLpdf(y, x[t], r));
      return acc;
    },
  },
];

/** Nested float32-rounded arrays from simulate()'s NdArrays. */
function toValues(rec: Record<string, NdArray>): Values {
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, f32(nest(v.values, v.shape))]));
}

/** The parameter values and data of case `i` (0, 1: hand-built parameters; 2: a draw from the priors). */
function makeCase(model: Model, c: StdlibCase, i: number): { params: Values; data: Values } {
  const input = c.inputs[i];
  if (i === 2) {
    const [draw] = model.simulate(input, { seed: 500 + i });
    return { params: toValues(draw.params), data: toValues(draw.data) };
  }
  const params = f32Values(c.params(new TestRng(100 * (i + 1) + c.name.length), input));
  const [draw] = model.simulate(input, { seed: 300 + i, fixed: params });
  return { params, data: toValues(draw.data) };
}

describe.each(CASES)('$name', (c) => {
  const model = compile(fileURLToPath(new URL(`../../stdlib/${c.name}.mix`, import.meta.url)));
  const labels = ['hand-built parameters (small sizes)', 'hand-built parameters (larger sizes)', 'parameters drawn from the priors'];
  it.each([0, 1, 2])('log density equals the float64 reference: case %i', (i) => {
    const { params, data } = makeCase(model, c, i);
    if (c.exercised) expect(c.exercised(data), `${labels[i]}: the data miss a branch of the density`).toBe(true);
    const bound = model.bind(data);
    const ref = c.reference(params, data, true);
    const got = bound.logDensity(params);
    expect(Number.isFinite(ref.v), `${labels[i]}: reference is ${ref.v}`).toBe(true);
    expect(Math.abs(got - ref.v), `${labels[i]}: evaluator ${got}, reference ${ref.v}, tolerance ${tolerance(ref.mag)}`).toBeLessThan(tolerance(ref.mag));
    bound.dispose();
  });
  it('with priors: false, the log density is the likelihood alone', () => {
    const { params, data } = makeCase(model, c, 1);
    const bound = model.bind(data);
    const ref = c.reference(params, data, false);
    const got = bound.logDensity(params, { priors: false });
    expect(Math.abs(got - ref.v), `evaluator ${got}, reference ${ref.v}`).toBeLessThan(tolerance(ref.mag));
    // The priors are not a negligible part of the total, so this tells the two apart.
    expect(Math.abs(c.reference(params, data, true).v - ref.v)).toBeGreaterThan(10 * tolerance(ref.mag));
    bound.dispose();
  });
});

// The reference itself, against brute force and known integrals, so that a failure above
// points at the evaluator rather than at the test.
describe('the float64 reference', () => {
  it('the HMM forward recursion equals the sum over every state path', () => {
    const rng = new TestRng(7);
    const K = 3;
    const T = 6;
    const pi = rng.simplex(K);
    const A = Array.from({ length: K }, () => rng.simplex(K));
    const emit = Array.from({ length: T }, () => Array.from({ length: K }, () => parts(3 * rng.normal())));
    const brute = logSumExp([...assignments(T, K)].map((z) => z.reduce((s, k, t) => s + (t === 0 ? Math.log(pi[k]) : Math.log(A[z[t - 1]][k])) + emit[t][k].v, 0)));
    expect(hmmLpdf(pi.map(Math.log), A.map((r) => r.map(Math.log)), emit).v).toBeCloseTo(brute, 12);
  });

  it('the LKJ normalising constant integrates the 2 x 2 density to 1', () => {
    // D = 2: R has one free correlation r, det R = 1 - r². Substituting r = sin θ makes
    // the integrand cos^(2η-1) θ smooth on [-π/2, π/2]; Simpson's rule with 2000 panels.
    for (const eta of [1, 2, 3.5]) {
      const n = 2000;
      const h = Math.PI / n;
      let s = 0;
      for (let i = 0; i <= n; i++) {
        const th = -Math.PI / 2 + i * h;
        const wgt = i === 0 || i === n ? 1 : i % 2 ? 4 : 2;
        s += wgt * Math.cos(th) ** (2 * eta - 1);
      }
      expect(Math.log((s * h) / 3) + lkjLogNormaliser(eta, 2).v).toBeCloseTo(0, 8);
    }
  });

  it('the LKJ normalising constant integrates the 3 x 3 density to 1', () => {
    // D = 3: det R = 1 - a² - b² - c² + 2abc over the cube of correlations (a, b, c);
    // midpoint rule on a 120³ grid of det(R)^(η-1) where det R > 0 (continuous for η > 1).
    const n = 120;
    const h = 2 / n;
    for (const eta of [2, 3]) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const a = -1 + (i + 0.5) * h;
        for (let j = 0; j < n; j++) {
          const b = -1 + (j + 0.5) * h;
          for (let k = 0; k < n; k++) {
            const c = -1 + (k + 0.5) * h;
            const det = 1 - a * a - b * b - c * c + 2 * a * b * c;
            if (det > 0) s += det ** (eta - 1);
          }
        }
      }
      expect(Math.log(s * h ** 3) + lkjLogNormaliser(eta, 3).v).toBeCloseTo(0, 3);
    }
    // η = 1: the volume of the 3 x 3 correlation matrices is π²/2.
    expect(lkjLogNormaliser(1, 3).v).toBeCloseTo(-Math.log(Math.PI ** 2 / 2), 12);
  });

  it('special functions match known values', () => {
    expect(lgamma(31)).toBeCloseTo(Math.log(Array.from({ length: 30 }, (_, i) => i + 1).reduce((a, b) => a * b, 1)), 10);
    expect(lgamma(0.5)).toBeCloseTo(0.5 * LOG_PI, 12);
    expect(normalCdf(1)).toBeCloseTo(0.8413447460685429, 14);
    expect(normalCdf(-3) / 0.0013498980316300946).toBeCloseTo(1, 12);
    expect(normalCdf(-8) / 6.22096057427178e-16).toBeCloseTo(1, 10);
  });
});
