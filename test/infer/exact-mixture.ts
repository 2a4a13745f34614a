// Exact references for the two-component normal mixture of the Gibbs tests (MCMC's conjugate
// updates and SMC's data annealing): the model source and its posterior means and evidence by
// enumeration of every allocation; and the same for the diagonal D-dimensional mixture
// (stdlib/gmm_diag.mix form, K = 2).
import { erfcF64 } from '../../src/tensor/special';

export const mixtureSource = (muType: string, extra = '', sigmaPrior = 'half_normal(2)') => `
model nm {
  data y: real[N]
  param w: simplex[2]
  param mu: ${muType}
  param sigma: positive[2]
  w ~ dirichlet(rep(1.0, 2))
  mu ~ normal(0, 3)
  sigma ~ ${sigmaPrior}
  ${extra}
  for n in 1..N {
    y[n] ~ mixture(w, k -> normal(mu[k], sigma[k]))
  }
}`;

/**
 * Exact posterior means of (mu.1, mu.2, sigma.1, sigma.2, w.1) of the ordered two-component
 * mixture (w ~ Dirichlet(1, 1), mu ~ N(m0, s0²) ordered, sigma ~ HalfNormal(hs)): the ordered
 * posterior is the unordered one sorted by mu, so this sums over all 2^N allocations of the
 * unordered model; given one, w is Dirichlet (closed form), mu_k | sigma_k is normal (closed
 * form) and sigma_k is integrated on a grid of G points in log sigma (trapezoid), each
 * component's mu then a mixture of G normals; E[min(mu_1, mu_2)], P(mu_1 < mu_2) and the
 * sigma of the lower component follow from pairs of normals in closed form. Also returns the
 * log evidence.
 */
export function exactOrderedMixture(y: readonly number[], m0: number, s0: number, hs: number, G = 200): { means: number[]; logZ: number } {
  const N = y.length;
  const Phi = (x: number) => 0.5 * erfcF64(-x * Math.SQRT1_2);
  const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  const comp = (ys: number[]) => componentGrid(ys, m0, s0, hs, G, Math.log(0.03), Math.log(25));
  const logW: number[] = [];
  const stats: number[][] = [];
  for (let mask = 0; mask < 1 << N; mask++) {
    const a = y.filter((_, i) => !((mask >> i) & 1));
    const b = y.filter((_, i) => (mask >> i) & 1);
    const A = comp(a);
    const B = comp(b);
    logW.push(logFact(a.length) + logFact(b.length) - logFact(N + 1) + A.logZ + B.logZ);
    let eMin = 0, pAB = 0, sLow = 0, sHigh = 0, eSum = 0;
    for (let i = 0; i < G; i++) {
      eSum += A.c[i] * A.m[i] + B.c[i] * B.m[i];
      for (let j = 0; j < G; j++) {
        const w = A.c[i] * B.c[j];
        if (w < 1e-15) continue;
        const th = Math.sqrt(A.v[i] + B.v[j]);
        const d = (B.m[j] - A.m[i]) / th;
        const p = Phi(d);
        eMin += w * (A.m[i] * p + B.m[j] * (1 - p) - th * phi(d));
        pAB += w * p;
        sLow += w * (A.sig[i] * p + B.sig[j] * (1 - p));
        sHigh += w * (A.sig[i] * (1 - p) + B.sig[j] * p);
      }
    }
    const wLow = (pAB * (1 + a.length) + (1 - pAB) * (1 + b.length)) / (N + 2);
    stats.push([eMin, eSum - eMin, sLow, sHigh, wLow]);
  }
  const mx = Math.max(...logW);
  const W = logW.map((l) => Math.exp(l - mx));
  const T = W.reduce((p, q) => p + q, 0);
  const means = [0, 1, 2, 3, 4].map((k) => stats.reduce((acc, st, i) => acc + W[i] * st[k], 0) / T);
  // The evidence of the unordered model, Σ over labelled allocations; the ordered prior (K!
  // times the iid one on mu_1 < mu_2) has the same evidence, the likelihood being symmetric.
  return { means, logZ: mx + Math.log(T) };
}

/** A two-component diagonal D-dimensional mixture (gmm_diag form), with variants for refusal tests. */
export const diagSource = (opts: { sigma?: string; obsSigma?: string; muPrior?: string; sigmaPrior?: string; extra?: string } = {}) => `
model gd {
  data x: real[N, D]
  param w: simplex[2]
  param mu: real[2, D]
  param sigma: ${opts.sigma ?? 'positive[2, D]'}
  w ~ dirichlet(rep(1.0, 2))
  mu ~ ${opts.muPrior ?? 'normal(0, 3)'}
  sigma ~ ${opts.sigmaPrior ?? 'half_normal(2)'}
  ${opts.extra ?? ''}
  for n in 1..N {
    z[n] ~ categorical(w)
    x[n] ~ normal(mu[z[n]], ${opts.obsSigma ?? 'sigma[z[n]]'})
  }
}`;

/**
 * Exact posterior expectations of the label-invariant quantities (see the file comment) for
 * w ~ Dirichlet(1, 1), mu ~ N(m0, s0²), sigma ~ HalfNormal(hs), by enumeration of the 2^N
 * allocations. Given z: w is Dirichlet (E[w_k] = (n_k + 1)/(N + 2)), independent of (mu, sigma);
 * each (k, d) is a 1-D normal problem with mu integrated in closed form and log sigma on a
 * grid of G points (trapezoid) on [log 1e-4, log 30]. Also returns the log evidence (labelled
 * allocations summed: the evidence of the unordered model).
 */
export function exactDiag(rows: number[][], m0: number, s0: number, hs: number, G = 400): { means: number[]; logZ: number } {
  const N = rows.length;
  const D = rows[0].length;
  // log evidence, E[mu], E[sigma] of one 1-D group.
  const comp = (ys: number[]): [number, number, number] => {
    const g = componentGrid(ys, m0, s0, hs, G, Math.log(1e-4), Math.log(30));
    let eMu = 0;
    let eSd = 0;
    for (let j = 0; j < G; j++) {
      eMu += g.c[j] * g.m[j];
      eSd += g.c[j] * g.sig[j];
    }
    return [g.logZ, eMu, eSd];
  };
  const logW: number[] = [];
  const vals: number[][] = [];
  for (let mask = 0; mask < 1 << N; mask++) {
    const groups = [rows.filter((_, i) => !((mask >> i) & 1)), rows.filter((_, i) => (mask >> i) & 1)];
    let lw = logFact(groups[0].length) + logFact(groups[1].length) - logFact(N + 1);
    const eW = groups.map((g) => (g.length + 1) / (N + 2));
    const eMu: number[][] = [];
    const eSd: number[][] = [];
    groups.forEach((g, k) => {
      eMu.push([]);
      eSd.push([]);
      for (let d = 0; d < D; d++) {
        const [lz, em, es] = comp(g.map((r) => r[d]));
        lw += lz;
        eMu[k].push(em);
        eSd[k].push(es);
      }
    });
    logW.push(lw);
    const v: number[] = [];
    for (let d = 0; d < D; d++) v.push(eW[0] * eMu[0][d] + eW[1] * eMu[1][d]);
    for (let d = 0; d < D; d++) v.push(eW[0] * eSd[0][d] + eW[1] * eSd[1][d]);
    v.push(eW[0] * eMu[0][0] * eMu[0][1] + eW[1] * eMu[1][0] * eMu[1][1]);
    v.push(eW[0] * eSd[0][0] * eSd[0][1] + eW[1] * eSd[1][0] * eSd[1][1]);
    vals.push(v);
  }
  const mx = Math.max(...logW);
  const p = logW.map((l) => Math.exp(l - mx));
  const tot = p.reduce((a, b) => a + b, 0);
  return { means: vals[0].map((_, q) => vals.reduce((a, v, i) => a + p[i] * v[q], 0) / tot), logZ: mx + Math.log(tot) };
}

/** log n! */
function logFact(n: number): number {
  let r = 0;
  for (let i = 2; i <= n; i++) r += Math.log(i);
  return r;
}

/**
 * One component's group of 1-D values ys under mu ~ N(m0, s0²), sigma ~ HalfNormal(hs): mu
 * integrated in closed form and u = log sigma on a grid of G points in [ulo, uhi] (trapezoid).
 * Returns the log evidence of the group and, per grid point, its normalised weight c, mu's
 * conditional mean m and variance v, and sigma.
 */
function componentGrid(ys: number[], m0: number, s0: number, hs: number, G: number, ulo: number, uhi: number): { logZ: number; c: Float64Array; m: Float64Array; v: Float64Array; sig: Float64Array } {
  const du = (uhi - ulo) / (G - 1);
  const n = ys.length;
  const S = ys.reduce((a, b) => a + b, 0);
  const SS = ys.reduce((a, b) => a + b * b, 0);
  const lc = new Float64Array(G);
  const m = new Float64Array(G);
  const v = new Float64Array(G);
  const sig = new Float64Array(G);
  for (let j = 0; j < G; j++) {
    const u = ulo + j * du;
    const s2 = Math.exp(2 * u);
    const vv = 1 / (1 / (s0 * s0) + n / s2);
    const mm = vv * (m0 / (s0 * s0) + S / s2);
    const inner = -0.5 * n * Math.log(2 * Math.PI * s2) + 0.5 * Math.log(vv / (s0 * s0)) - 0.5 * (SS / s2 + (m0 * m0) / (s0 * s0) - (mm * mm) / vv);
    const prior = Math.log(2) - 0.5 * Math.log(2 * Math.PI * hs * hs) - s2 / (2 * hs * hs);
    lc[j] = inner + prior + u + Math.log(du * (j === 0 || j === G - 1 ? 0.5 : 1));
    m[j] = mm;
    v[j] = vv;
    sig[j] = Math.exp(u);
  }
  const mx = Math.max(...lc);
  let tot = 0;
  const c = lc.map((l) => Math.exp(l - mx));
  c.forEach((x) => { tot += x; });
  return { logZ: mx + Math.log(tot), c: c.map((x) => x / tot), m, v, sig };
}
