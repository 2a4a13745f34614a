// The learning half of the score family (src/infer/score: sde, gmm-score, dsm, mmd; and
// src/tensor/mlp): (1) the closed-form score of a noised Gaussian mixture against finite
// differences of its closed-form log density (property test, VP and VE); (2) the samplers
// driven by that EXACT score reproduce the mixture (mode weights, MMD), and the
// probability-flow log-likelihood matches the true density; (3) a score learned by denoising
// score matching on 2-D mixture data samples closer (MMD) to held-out data than a
// single-Gaussian fit; (4) the training loop does not leak tensors; (5) bad input throws
// RangeErrors that name the place. The longer training run is test/slow/score-dsm.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ensureBackend, tf } from '../../src/tensor';
import { Key } from '../../src/tensor/random';
import { TimeMlp } from '../../src/tensor/mlp';
import {
  affineGmm, gmmAssign, gmmLogDensity, gmmScore, gmmScoreAndDivergence, gmmScoreField, noisedGmmAt, sampleGmm, type Gmm,
} from '../../src/infer/score/gmm-score';
import {
  odeLogLikelihood, priorLogDensity, sampleOde, samplePc, timeForNoise, veSde, vpSde, type Sde, type ScoreField,
} from '../../src/infer/score/sde';
import { logLikelihoodOde, sampleScore, scoreError, trainScore } from '../../src/infer/score/dsm';
import { mmd2 } from '../../src/infer/score/mmd';

beforeAll(async () => {
  await ensureBackend();
});

/** Three separated components in 2-D with unequal weights and correlated covariances. */
const MIX: Gmm = {
  weights: [0.5, 0.3, 0.2],
  means: [[-2, 0], [2, 1], [0, 2.5]],
  covs: [[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0], [0, 0.4]], [[0.25, -0.05], [-0.05, 0.15]]],
};

function counts(g: Gmm, x: Float64Array, n: number): number[] {
  const c = new Array<number>(g.weights.length).fill(0);
  for (const l of gmmAssign(g, x, n)) c[l]++;
  return c.map((v) => v / n);
}

// What "the right mode weights" means for draws labelled by the Bayes classifier of MIX: the
// label frequencies q_k of exact draws (not w_k: a few exact draws land nearer another mode).
// Estimated once from N_REF exact draws; its own sampling error enters the bound below.
const N_REF = 40_000;
let qRef: number[] = [];

/** Null standard deviation of MMD²_u between two exact samples of n rows (R replicates). */
function nullMmdSd(n: number, R: number, seed: number): number {
  const v: number[] = [];
  for (let r = 0; r < R; r++) {
    const a = sampleGmm(MIX, n, Key.seed(seed).fold(2 * r)).x;
    const b = sampleGmm(MIX, n, Key.seed(seed).fold(2 * r + 1)).x;
    v.push(mmd2(a, b, { dim: 2 }).mmd2);
  }
  const m = v.reduce((s, x) => s + x, 0) / R;
  return Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (R - 1));
}

function randomSpd(d: number, draw: () => number): number[][] {
  const A = Array.from({ length: d }, () => Array.from({ length: d }, draw));
  return Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => {
    let s = i === j ? 0.1 : 0;
    for (let k = 0; k < d; k++) s += A[i][k] * A[j][k];
    return s;
  }));
}

const arbMixture = fc.record({ d: fc.integer({ min: 1, max: 3 }), K: fc.integer({ min: 1, max: 4 }), seed: fc.integer({ min: 0, max: 1e6 }) })
  .map(({ d, K, seed }): { g: Gmm; seed: number } => {
    const rng = Key.seed(seed).rng();
    const w = Array.from({ length: K }, () => 0.2 + rng.uniform());
    const sw = w.reduce((a, b) => a + b, 0);
    return {
      g: {
        weights: w.map((v) => v / sw),
        means: Array.from({ length: K }, () => Array.from({ length: d }, () => 3 * rng.normal())),
        covs: Array.from({ length: K }, () => randomSpd(d, () => 0.7 * rng.normal())),
      },
      seed,
    };
  });

/** Central differences of f: R^d → R at the rows of x, step h. */
function fdGrad(f: (x: Float64Array) => number, x: Float64Array, h: number): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Float64Array.from(x);
    const m = Float64Array.from(x);
    p[i] += h;
    m[i] -= h;
    g[i] = (f(p) - f(m)) / (2 * h);
  }
  return g;
}

describe('closed-form score of a noised Gaussian mixture', () => {
  // Central differences in float64 with h = 1e-5: truncation h²·|∂³log p|/6 and rounding
  // ~1e-16·|log p|/h are both below 1e-8 for these scales (covariance eigenvalues >= 0.1,
  // |x| <~ 10), so 1e-6·(1 + |s|) leaves a margin of 100 while a wrong score (e.g. with the
  // noise left out, checked below) is off by O(1).
  const h = 1e-5;
  const tol = (s: number) => 1e-6 * (1 + Math.abs(s));

  for (const [name, sde] of [['VP', vpSde()], ['VE', veSde({ sigmaMax: 5 })]] as const) {
    it(`score = ∇ log density and divergence = ∇·score, ${name}, random mixtures and t`, () => {
      fc.assert(fc.property(arbMixture, fc.double({ min: 0.01, max: 1, noNaN: true }), ({ g, seed }, t) => {
        const d = g.means[0].length;
        const gt = noisedGmmAt(g, sde, t);
        const rng = Key.seed(seed + 1).rng();
        // A point near a random component, noised like x_t.
        const k = rng.uniformInt(g.weights.length);
        const x = Float64Array.from({ length: d }, (_, i) => gt.means[k][i] + 1.5 * rng.normal());
        const s = gmmScore(gt, x, 1);
        const fd = fdGrad((y) => gmmLogDensity(gt, y, 1)[0], x, h);
        for (let i = 0; i < d; i++) if (!(Math.abs(s[i] - fd[i]) <= tol(s[i]))) return false;
        // The field for the SDE gives the same as the explicit noised mixture.
        const sf = gmmScoreField(g, sde).score(x, 1, t);
        for (let i = 0; i < d; i++) if (!(Math.abs(sf[i] - s[i]) <= 1e-12 * (1 + Math.abs(s[i])))) return false;
        // Divergence: trace of the finite-difference Jacobian of the (exact) score; one
        // Hutchinson term against the directional derivative vᵀ(s(x + hv) − s(x − hv))/2h.
        const { div } = gmmScoreAndDivergence(gt, x, 1);
        let tr = 0;
        for (let i = 0; i < d; i++) tr += fdGrad((y) => gmmScore(gt, y, 1)[i], x, h)[i];
        if (!(Math.abs(div[0] - tr) <= 1e-5 * (1 + Math.abs(tr)))) return false;
        const v = Float64Array.from({ length: d }, () => (rng.uniform() < 0.5 ? -1 : 1));
        const hv = gmmScoreAndDivergence(gt, x, 1, v).div[0];
        const xp = x.map((xi, i) => xi + h * v[i]);
        const xm = x.map((xi, i) => xi - h * v[i]);
        const sp = gmmScore(gt, xp, 1);
        const sm = gmmScore(gt, xm, 1);
        let dir = 0;
        for (let i = 0; i < d; i++) dir += (v[i] * (sp[i] - sm[i])) / (2 * h);
        return Math.abs(hv - dir) <= 1e-5 * (1 + Math.abs(dir));
      }), { numRuns: 60, seed: name === 'VP' ? 501 : 502 });
    });
  }

  it('SDE marginals: s_t² = ∫ g² a_t²/a_s² ds, and timeForNoise inverts s_t/a_t', () => {
    // Var[x_t | x_0] solves dV/dt = 2c(t)V + g(t)², V(0) = 0; check s_t² against Simpson's rule
    // on the variation-of-constants integral (error << 1e-6 with 2000 panels).
    for (const sde of [vpSde(), veSde({ sigmaMax: 7 })]) {
      for (const t of [0.05, 0.4, 1]) {
        const m = 2000;
        let acc = 0;
        for (let i = 0; i <= m; i++) {
          const u = (t * i) / m;
          const f = sde.diffusion(u) ** 2 * (sde.meanScale(t) / sde.meanScale(u)) ** 2;
          acc += f * (i === 0 || i === m ? 1 : i % 2 ? 4 : 2);
        }
        const v = (acc * t) / (3 * m);
        expect(Math.abs(v - sde.std(t) ** 2)).toBeLessThan(1e-6 * (1 + v));
        const r = sde.std(t) / sde.meanScale(t);
        expect(timeForNoise(sde, r)).toBeCloseTo(t, 8);
      }
    }
  });

  it('the check has power: the un-noised score fails it', () => {
    // The score of the clean mixture evaluated against the noised log density (t = 0.5, VP).
    const sde = vpSde();
    const gt = noisedGmmAt(MIX, sde, 0.5);
    const x = Float64Array.from([0.3, -0.2]);
    const wrong = gmmScore(MIX, x, 1);
    const fd = fdGrad((y) => gmmLogDensity(gt, y, 1)[0], x, h);
    expect(Math.max(Math.abs(wrong[0] - fd[0]), Math.abs(wrong[1] - fd[1]))).toBeGreaterThan(0.1);
  });
});

describe('samplers driven by the exact score reproduce the mixture', () => {
  const n = 2000;
  let truth: Float64Array;
  let mmdBound = 0;

  beforeAll(() => {
    const ref = sampleGmm(MIX, N_REF, Key.seed(11)).x;
    qRef = counts(MIX, ref, N_REF);
    truth = sampleGmm(MIX, n, Key.seed(12)).x;
    // MMD²_u between two exact samples has mean 0; its sd is estimated from 12 replicates
    // (n = 2000 each). 5 sd (a generous multiple because the sd itself is estimated from 12
    // values) bounds a sampler whose law is the mixture up to negligible discretisation error.
    mmdBound = 5 * nullMmdSd(n, 12, 13);
  });

  /** Mode-weight bound: 4 binomial sd of the sampler's n draws and of the reference's N_REF. */
  function checkWeights(x: Float64Array, what: string): number[] {
    const c = counts(MIX, x, n);
    c.forEach((ck, k) => {
      const q = qRef[k];
      const bound = 4 * Math.sqrt(q * (1 - q) * (1 / n + 1 / N_REF));
      expect(Math.abs(ck - q), `${what}: weight of mode ${k} is ${ck}, expected ${q} ± ${bound}`).toBeLessThanOrEqual(bound);
    });
    return c;
  }

  // VE: σmax = 20 is well above the largest distance between data points (~6), so the
  // N(0, σmax²) prior is close to the true p_T (Song & Ermon 2020's first technique).
  for (const [name, sde] of [['VP', vpSde()], ['VE', veSde({ sigmaMax: 20 })]] as [string, Sde][]) {
    it(`reverse-SDE predictor–corrector (${name}): mode weights and MMD`, () => {
      const field = gmmScoreField(MIX, sde);
      const x = samplePc(field, sde, n, Key.seed(21), { steps: 200, correctorSteps: 1 });
      const c = checkWeights(x, `pc ${name}`);
      const m = mmd2(x, truth, { dim: 2 }).mmd2;
      console.log(`pc ${name}: weights ${c.map((v) => v.toFixed(3))} (ref ${qRef.map((v) => v.toFixed(3))}), MMD² ${m.toExponential(2)} (bound ${mmdBound.toExponential(2)})`);
      expect(m).toBeLessThan(mmdBound);
    });

    it(`probability-flow ODE (${name}): mode weights and MMD`, () => {
      const field = gmmScoreField(MIX, sde);
      const x = sampleOde(field, sde, n, Key.seed(22), { steps: 50 });
      const c = checkWeights(x, `ode ${name}`);
      const m = mmd2(x, truth, { dim: 2 }).mmd2;
      console.log(`ode ${name}: weights ${c.map((v) => v.toFixed(3))}, MMD² ${m.toExponential(2)} (bound ${mmdBound.toExponential(2)})`);
      expect(m).toBeLessThan(mmdBound);
    });
  }

  it('the checks have power: a score with the weights reversed fails both', () => {
    const sde = vpSde();
    const wrong: Gmm = { ...MIX, weights: [0.2, 0.3, 0.5] };
    const x = samplePc(gmmScoreField(wrong, sde), sde, n, Key.seed(21), { steps: 200 });
    const c = counts(MIX, x, n);
    const bound0 = 4 * Math.sqrt(qRef[0] * (1 - qRef[0]) * (1 / n + 1 / N_REF));
    expect(Math.abs(c[0] - qRef[0])).toBeGreaterThan(bound0);
    expect(mmd2(x, truth, { dim: 2 }).mmd2).toBeGreaterThan(mmdBound);
  });

  it('ODE log-likelihood with the exact score equals the mixture log density', () => {
    const m = 100;
    const x = truth.slice(0, 2 * m);
    for (const sde of [vpSde(), veSde({ sigmaMax: 20 })]) {
      const field = gmmScoreField(MIX, sde);
      const r = odeLogLikelihood(field, sde, x, m, { steps: 100 });
      const atEps = gmmLogDensity(noisedGmmAt(MIX, sde, sde.eps), x, m);
      const at0 = gmmLogDensity(MIX, x, m);
      // (a) Integration alone: with the true p_T in place of the prior, the flow must give
      // log p_eps exactly up to RK4's error (100 steps; measured ~1e-7, bound 1e-4).
      const atT = gmmLogDensity(noisedGmmAt(MIX, sde, sde.T), r.z, m);
      let errA = 0;
      let errB = 0;
      for (let i = 0; i < m; i++) {
        errA = Math.max(errA, Math.abs(atT[i] + r.deltaLogp[i] - atEps[i]));
        errB = Math.max(errB, Math.abs(r.logp[i] - at0[i]));
      }
      // (b) What the sampler reports, with the N(0, priorStd²) prior, against log p_0: the
      // remaining error is the prior mismatch log p_T(z) − log prior(z) plus log p_eps − log p_0.
      // Stated tolerance: 0.05 nats for VP (a_T ≈ 0.0066: the mixture's mean shift at T is
      // ~0.02), 0.5 for VE (σmax² = 400 against a data variance ~2.5 per coordinate).
      const tolB = sde.kind === 'vp' ? 0.05 : 0.5;
      console.log(`ode log-lik ${sde.kind}: integration error ${errA.toExponential(2)}, against log p_0 ${errB.toExponential(2)} (tol ${tolB})`);
      expect(errA).toBeLessThan(1e-4);
      expect(errB).toBeLessThan(tolB);
    }
  });

  it('the log-likelihood check has power: leaving out the divergence fails it', () => {
    const sde = vpSde();
    const exact = gmmScoreField(MIX, sde);
    const noDiv: ScoreField = {
      dim: 2,
      score: exact.score,
      scoreAndDivergence: (x, n, t) => ({ score: exact.score(x, n, t), div: new Float64Array(n) }),
    };
    const m = 20;
    const x = truth.slice(0, 2 * m);
    const r = odeLogLikelihood(noDiv, sde, x, m, { steps: 50 });
    const at0 = gmmLogDensity(MIX, x, m);
    let err = 0;
    for (let i = 0; i < m; i++) err = Math.max(err, Math.abs(r.logp[i] - at0[i]));
    expect(err).toBeGreaterThan(0.5);
  });

  it("Hutchinson's divergence gives an unbiased log-likelihood", () => {
    const sde = vpSde();
    const field = gmmScoreField(MIX, sde);
    const m = 40;
    const x = truth.slice(0, 2 * m);
    const exact = odeLogLikelihood(field, sde, x, m, { steps: 40 }).logp;
    // R independent probe sets; per point the mean over R has standard error sd/√R, pooled
    // over points: the grand mean error must be within 4 standard errors of 0.
    const R = 16;
    const errs: number[] = [];
    for (let r = 0; r < R; r++) {
      const h = odeLogLikelihood(field, sde, x, m, { steps: 40, divergence: 'hutchinson', key: Key.seed(100 + r) }).logp;
      for (let i = 0; i < m; i++) errs.push(h[i] - exact[i]);
    }
    const mean = errs.reduce((a, b) => a + b, 0) / errs.length;
    const sd = Math.sqrt(errs.reduce((a, b) => a + (b - mean) ** 2, 0) / (errs.length - 1));
    expect(sd).toBeGreaterThan(0); // it is an estimate, not the exact value
    expect(Math.abs(mean)).toBeLessThan((4 * sd) / Math.sqrt(errs.length));
  });
});

describe('denoising score matching on 2-D mixture data', () => {
  it('learned samples are closer to held-out data than a single Gaussian fit', () => {
    const train = sampleGmm(MIX, 2000, Key.seed(31)).x;
    const held = sampleGmm(MIX, 1000, Key.seed(32)).x;
    const t0 = Date.now();
    const model = trainScore(train, { dim: 2, sde: 'vp', hidden: 48, layers: 2, steps: 1200, batch: 256, lr: 4e-3, seed: 1 });
    const trainMs = Date.now() - t0;
    try {
      const draws = sampleScore(model, 1000, { sampler: 'pc', steps: 200, seed: 3 });
      const learned = mmd2(draws, held, { dim: 2 }).mmd2;
      // The single-Gaussian fit: the training data's mean and covariance.
      const mu = [0, 1].map((j) => { let s = 0; for (let i = 0; i < 2000; i++) s += train[2 * i + j]; return s / 2000; });
      const C = [0, 1].map((a) => [0, 1].map((b) => {
        let s = 0;
        for (let i = 0; i < 2000; i++) s += (train[2 * i + a] - mu[a]) * (train[2 * i + b] - mu[b]);
        return s / 1999;
      }));
      const gauss = mmd2(sampleGmm({ weights: [1], means: [mu], covs: [C] }, 1000, Key.seed(33)).x, held, { dim: 2 }).mmd2;
      const errs = scoreError(model, MIX, [0.1, 0.3, 0.6], { n: 500, seed: 4 });
      const heldRows = Array.from({ length: 100 }, (_, i) => [held[2 * i], held[2 * i + 1]]);
      const ll = logLikelihoodOde(model, heldRows, { steps: 40 });
      const llTrue = gmmLogDensity(MIX, held.slice(0, 200), 100);
      const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
      console.log(`DSM: trained in ${trainMs} ms; MMD² learned ${learned.toExponential(2)}, single Gaussian ${gauss.toExponential(2)}; ` +
        `score rel. error ${errs.map((e) => `t=${e.t}: ${e.relError.toFixed(3)}`).join(', ')}; ` +
        `held-out mean log-lik ${mean(ll).toFixed(3)} (true ${mean(llTrue).toFixed(3)}); final loss ${model.losses[model.losses.length - 1].toFixed(3)}`);
      // Stated bound: the learned sampler's MMD² must be below a third of the single Gaussian's
      // and below 3e-3. For scale (measured over 12 replicates of 1000 against 1000): between
      // two exact samples MMD²_u has mean ~0 and sd ~7e-4, so 3e-3 is ~4 null sd; a mixture
      // whose weights are off by 0.05 (0.45 / 0.35 / 0.2) has mean MMD² ~2.2e-3.
      expect(learned).toBeLessThan(gauss / 3);
      expect(learned).toBeLessThan(3e-3);
      // The oracle comparison: at moderate noise the score is learned to a few percent (the
      // hard part is t -> 0, where it is reported, and checked in the slow tier).
      expect(errs[1].relError).toBeLessThan(0.05);
      expect(errs[2].relError).toBeLessThan(0.05);
      // The ODE density of held-out data is within 0.3 nats a point of the truth on average.
      expect(Math.abs(mean(ll) - mean(llTrue))).toBeLessThan(0.3);
    } finally {
      model.dispose();
    }
  });

  it('the bound has power: an untrained network fails it', () => {
    // One step from a zero output layer: the score is ~0, so the reverse SDE returns roughly
    // the N(0, I) prior in standardised units — a single Gaussian with the data's diagonal.
    const train = sampleGmm(MIX, 2000, Key.seed(31)).x;
    const held = sampleGmm(MIX, 1000, Key.seed(32)).x;
    const model = trainScore(train, { dim: 2, hidden: 8, layers: 1, steps: 1, batch: 16, seed: 1 });
    try {
      const draws = sampleScore(model, 1000, { sampler: 'pc', steps: 100, seed: 3 });
      expect(mmd2(draws, held, { dim: 2 }).mmd2).toBeGreaterThan(3e-3);
    } finally {
      model.dispose();
    }
  });

  it("sde: 've' takes sigmaMax from the standardised data", () => {
    const rows = [[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]];
    const model = trainScore(rows, { sde: 've', hidden: 4, layers: 1, steps: 1, batch: 4 });
    try {
      // Standardised: each column has sample sd √(1/4) = 0.5; the largest distance is the
      // diagonal √2 / 0.5 = 2√2.
      expect(model.sde.kind).toBe('ve');
      expect(model.sde.priorStd).toBeCloseTo(2 * Math.SQRT2, 10);
      expect(model.settings.sde).toMatch(/^ve\(sigmaMin=0.01, sigmaMax=2.828/);
    } finally {
      model.dispose();
    }
  });

  it('the learned score agrees with the oracle in data coordinates', () => {
    // score(x, t) in data coordinates is scale⁻¹ times the standardised score: check the
    // plumbing against the exact field of the standardised mixture, on an untrained net
    // (steps: 1) whose output is ~0, so only the transform is tested; then the shapes.
    const rows = Array.from(sampleGmm(MIX, 200, Key.seed(41)).x);
    const flat = Float64Array.from(rows);
    const model = trainScore(flat, { dim: 2, hidden: 8, layers: 1, steps: 1, batch: 8, seed: 2 });
    try {
      const x = [[0.5, 1], [-2, 0.1]];
      const s = model.score(x, 0.5);
      const y = Float64Array.from(x.flatMap((r) => r.map((v, j) => (v - model.shift[j]) / model.scale[j])));
      const sy = model.field.score(y, 2, 0.5);
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) expect(s[i][j]).toBeCloseTo(sy[2 * i + j] / model.scale[j], 10);
      // The exact standardised mixture's field accepts the same inputs.
      const gy = affineGmm(MIX, model.shift, model.scale);
      expect(gmmScoreField(gy, model.sde).score(y, 2, 0.5).length).toBe(4);
    } finally {
      model.dispose();
    }
  });
});

describe('the MLP and the training loop', () => {
  it('training does not grow tf.memory().numTensors across hundreds of steps', () => {
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const model = trainScore(sampleGmm(MIX, 300, Key.seed(51)).x, {
      dim: 2, hidden: 16, layers: 2, steps: 300, batch: 32, seed: 5,
      onStep: (s) => { if (s === 10 || s === 299) seen.push(tf.memory().numTensors); },
    });
    expect(seen[1]).toBe(seen[0]);
    const mid = tf.memory().numTensors;
    sampleScore(model, 50, { sampler: 'pc', steps: 20, seed: 1 });
    sampleScore(model, 50, { sampler: 'ode', steps: 10, seed: 1 });
    logLikelihoodOde(model, [[0, 0], [1, 1]], { steps: 5 });
    logLikelihoodOde(model, [[0, 0], [1, 1]], { steps: 5, divergence: 'hutchinson' });
    expect(tf.memory().numTensors).toBe(mid);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('exact divergence = sum of basis-vector Hutchinson terms; same seed, same network', () => {
    const net = new TimeMlp({ dim: 3, hidden: 16, layers: 2, seed: 9 });
    const net2 = new TimeMlp({ dim: 3, hidden: 16, layers: 2, seed: 9 });
    try {
      // Train a few steps so the output layer is not zero.
      const rng = Key.seed(1).rng();
      const n = 16;
      const x = Float32Array.from({ length: 3 * n }, () => rng.normal());
      const t = Float32Array.from({ length: n }, () => rng.uniform());
      const y = Float32Array.from({ length: 3 * n }, () => rng.normal());
      for (let i = 0; i < 5; i++) {
        net.trainStep(x, t, y, n, { lr: 1e-2 });
        net2.trainStep(x, t, y, n, { lr: 1e-2 });
      }
      expect(net.getWeights()).toEqual(net2.getWeights());
      const { div } = net.predictWithDivergence(x, n, 0.4);
      const sum = new Float64Array(n);
      for (let j = 0; j < 3; j++) {
        const e = new Float32Array(3 * n);
        for (let r = 0; r < n; r++) e[3 * r + j] = 1;
        const h = net.predictWithDivergence(x, n, 0.4, e).div;
        for (let r = 0; r < n; r++) sum[r] += h[r];
      }
      for (let r = 0; r < n; r++) expect(sum[r]).toBeCloseTo(div[r], 4);
      expect(div.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    } finally {
      net.dispose();
      net2.dispose();
    }
  });
});

describe('bad input', () => {
  const field: ScoreField = gmmScoreField(MIX, vpSde());
  const ok = Array.from({ length: 20 }, (_, i) => [i % 3, (i * 7) % 5]);

  it('throws RangeErrors that name the place', () => {
    expect(() => trainScore([[1, 2], [3]], { steps: 1 })).toThrow(/trainScore: data: row 1 has length 1/);
    expect(() => trainScore([[1, 2], [NaN, 1]], { steps: 1 })).toThrow(/trainScore: data: row 1, column 0 is NaN/);
    expect(() => trainScore(new Float64Array([1, 2, 3, 4])), 'flat without dim').toThrow(/trainScore: data: a flat Float64Array needs a positive integer dim/);
    expect(() => trainScore(ok, { steps: 0 })).toThrow(/trainScore: steps must be a positive integer, got 0/);
    expect(() => trainScore(ok, { batch: -4 })).toThrow(/trainScore: batch must be a positive integer/);
    expect(() => trainScore(ok, { lr: 0 })).toThrow(/trainScore: lr must be a positive finite number/);
    expect(() => trainScore(ok, { sde: 'vpp' as never })).toThrow(/trainScore: sde must be/);
    expect(() => trainScore([[1, 2], [1, 3]], { steps: 1 })).toThrow(/trainScore: data column 0 is constant/);
    expect(() => samplePc(field, vpSde(), 10, Key.seed(1), { steps: 0 })).toThrow(/samplePc: steps must be an integer >= 1, got 0/);
    expect(() => samplePc(field, vpSde(), 10, Key.seed(1), { snr: -1 })).toThrow(/samplePc: snr must be a positive/);
    expect(() => sampleOde(field, vpSde(), 10, Key.seed(1), { steps: 2.5 })).toThrow(/sampleOde: steps must be an integer/);
    expect(() => sampleOde(field, vpSde(), 0, Key.seed(1))).toThrow(/sampleOde: n must be an integer >= 1/);
    expect(() => odeLogLikelihood(field, vpSde(), new Float64Array(3), 2)).toThrow(/odeLogLikelihood: x has 3 values, expected n·dim = 4/);
    expect(() => odeLogLikelihood(field, vpSde(), new Float64Array([0, NaN]), 1)).toThrow(/odeLogLikelihood: x has a non-finite value/);
    expect(() => vpSde({ betaMax: -1 })).toThrow(/vpSde: betaMax must be a positive finite number/);
    expect(() => veSde({ sigmaMin: 5, sigmaMax: 1 })).toThrow(/veSde: sigmaMax \(1\) must exceed sigmaMin \(5\)/);
    expect(() => gmmScore({ ...MIX, weights: [0.5, 0.5, 0.5] }, new Float64Array(2), 1)).toThrow(/gmmScore: weights sum to 1.5/);
    expect(() => gmmScore({ ...MIX, covs: [MIX.covs[0], MIX.covs[1], [[1, 2], [2, 1]]] }, new Float64Array(2), 1)).toThrow(/gmmScore: covs\[2\] is not positive definite/);
    expect(() => gmmLogDensity(MIX, new Float64Array(3), 1)).toThrow(/gmmLogDensity: x has 3 values/);
    expect(() => field.score(new Float64Array(2), 1, 0)).toThrow(/gmmScoreField: t must be in \(0, 1\]/);
    expect(() => mmd2([[1, 2], [3, 4]], [[1], [2]])).toThrow(/mmd2: y: rows have length 1, expected 2/);
    expect(() => mmd2([[1, 2]], [[1, 2], [3, 4]])).toThrow(/mmd2: each sample needs at least 2 rows/);
    expect(() => new TimeMlp({ dim: 0 })).toThrow(/TimeMlp: dim must be an integer >= 1/);
    expect(() => timeForNoise(vpSde(), 1e6)).toThrow(/timeForNoise: ratio must be in/);
    expect(() => priorLogDensity(vpSde(), new Float64Array(2), 1, 2)).not.toThrow();
  });

  it('model methods check their input', () => {
    const model = trainScore(ok, { hidden: 4, layers: 1, steps: 1, batch: 4 });
    try {
      expect(() => sampleScore(model, 0)).toThrow(/sampleScore: n must be a positive integer, got 0/);
      expect(() => sampleScore(model, 5, { steps: 0 })).toThrow(/samplePc: steps must be an integer >= 1, got 0/);
      expect(() => sampleScore(model, 5, { sampler: 'euler' as never })).toThrow(/sampleScore: sampler must be 'pc' or 'ode'/);
      expect(() => logLikelihoodOde(model, [[1, 2, 3]])).toThrow(/logLikelihoodOde: x: rows have length 3, expected 2/);
      expect(() => logLikelihoodOde(model, [[1, NaN]])).toThrow(/logLikelihoodOde: x: row 0, column 1 is NaN/);
      expect(() => logLikelihoodOde(model, [[1, 2]], { steps: -1 })).toThrow(/odeLogLikelihood: steps must be an integer >= 1/);
      expect(() => model.score([[1, 2]], 0)).toThrow(/ScoreModel.score: t must be in \(0, 1\]/);
      expect(() => scoreError(model, { weights: [1], means: [[0]], covs: [[[1]]] }, [0.5])).toThrow(/scoreError: the mixture has dimension 1, the model 2/);
    } finally {
      model.dispose();
    }
    expect(() => sampleScore(model, 5)).toThrow(/TimeMlp.predict: the network was disposed/);
  });
});
