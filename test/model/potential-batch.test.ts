// The potential of a batch of points in one evaluation (BoundModel.potentialBatchTensor and
// potentialAndGradBatchSteps: every parameter carries the batch as a named dim through the
// evaluator) against the potential of each point on its own: every stdlib model (mixtures,
// chains, a switching model, covariance and simplex transforms) with data simulated from its
// priors, the potential options, an array of indices into a parameter, and bad input.
// On wasm, the default backend. The two paths run the same float32 ops on differently shaped
// tensors, so they may differ by float32 rounding: 1e-5 relative (~100 ulps; on wasm they
// agree to the bit for these models).
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSync, tf, useBackend } from '../../src/tensor';
import { compile, type DataInput } from '../../src';
import type { BoundModel, PotentialOptions } from '../../src/model/bound-model';
import { GRADIENT_DONE, GRADIENT_REQUESTED, channelOf, gradientChannel, serveGradients } from '../../src/infer/remote-potential';

beforeAll(async () => {
  await useBackend('wasm');
});

const STDLIB = fileURLToPath(new URL('../../stdlib/', import.meta.url));

/** Sizes (and covariates) each stdlib model is simulated at. */
const INPUTS: Record<string, DataInput> = {
  bayes_gmm: { K: 3, N: 10 }, bernoulli_mix: { K: 2, N: 10, D: 3 }, censored_gmm: { K: 2, N: 15, lo: -1, hi: 1 },
  dp_mix: { K: 3, N: 12 }, gaussian_hmm: { K: 2, T: 8 }, gmm_diag: { K: 2, N: 8, D: 2 }, gmm_full: { K: 2, N: 8, D: 2 },
  gmm_spherical: { K: 3, N: 10, D: 2 }, gmm_tied: { K: 2, N: 10, D: 3 }, mix_linreg: { K: 2, x: [[0.1], [1], [-1], [2], [0.5]] },
  moe: { K: 2, u: [[0.1, 1], [1, 0], [-1, 2], [2, 1]] }, poisson_hmm: { K: 3, T: 8 }, poisson_mix: { K: 2, N: 10 },
  student_t_mix: { K: 2, N: 10 }, switching_lgssm: { K: 2, T: 6 },
};

/** B points spread over the unconstrained space (no two alike). */
function points(dim: number, B: number): Float64Array[] {
  return Array.from({ length: B }, (_, r) => Float64Array.from({ length: dim }, (_, i) => 0.9 * Math.sin(1 + 1.7 * i + 3.1 * r)));
}

const close = (got: number, want: number) => Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want));

/** Compares the batch with each point's own potential and gradient; returns the first mismatch, or undefined. */
function mismatch(bm: BoundModel, pts: Float64Array[], opts: PotentialOptions = {}): string | undefined {
  const got = runSync(bm.potentialAndGradBatchSteps(pts, opts));
  if (got.values.length !== pts.length || got.grads.length !== pts.length) return `got ${got.values.length} values and ${got.grads.length} gradients for ${pts.length} points`;
  for (let b = 0; b < pts.length; b++) {
    const want = bm.potentialAndGrad(pts[b], opts);
    if (!Number.isFinite(want.value)) return `point ${b}: the potential is ${want.value}`;
    if (!close(got.values[b], want.value)) return `point ${b}: batch ${got.values[b]}, alone ${want.value}`;
    for (let i = 0; i < bm.dim; i++) {
      if (!close(got.grads[b][i], want.grad[i])) return `point ${b}, gradient ${i}: batch ${got.grads[b][i]}, alone ${want.grad[i]}`;
    }
  }
  return undefined;
}

function bindStdlib(name: string): BoundModel {
  const model = compile(`${STDLIB}${name}.mix`);
  const [draw] = model.simulate(INPUTS[name], { seed: 3 });
  return model.bind({ ...INPUTS[name], ...draw.data });
}

describe('the potential of a batch of points equals each point\'s own', () => {
  const names = readdirSync(STDLIB).filter((f) => f.endsWith('.mix')).map((f) => f.replace(/\.mix$/, ''));
  it('covers every stdlib model', () => {
    expect(names.filter((n) => !(n in INPUTS))).toEqual([]);
  });
  it.each(names)('%s', (name) => {
    const bm = bindStdlib(name);
    const before = tf.memory().numTensors;
    expect(mismatch(bm, points(bm.dim, 3))).toBeUndefined();
    expect(tf.memory().numTensors).toBe(before);
    bm.dispose();
  });
  it.each([
    ['jacobian: false', { jacobian: false }], ['priors: false', { priors: false }],
    ['likelihood: false', { likelihood: false }], ['likelihood and priors false', { likelihood: false, priors: false }],
  ] as const)('with %s (gmm_diag and gaussian_hmm)', (_label, opts) => {
    for (const name of ['gmm_diag', 'gaussian_hmm']) {
      const bm = bindStdlib(name);
      expect(mismatch(bm, points(bm.dim, 2), opts), name).toBeUndefined();
      bm.dispose();
    }
  });
  it('one point, and the points given as one flat array', () => {
    const bm = bindStdlib('gmm_spherical');
    const pts = points(bm.dim, 4);
    expect(mismatch(bm, pts.slice(0, 1))).toBeUndefined();
    const flat = new Float64Array(4 * bm.dim);
    pts.forEach((p, b) => flat.set(p, b * bm.dim));
    const a = runSync(bm.potentialAndGradBatchSteps(flat));
    const b = runSync(bm.potentialAndGradBatchSteps(pts));
    expect(a.values).toEqual(b.values);
    expect(a.grads).toEqual(b.grads);
    bm.dispose();
  });
});

describe('models the batch dim passes through', () => {
  it('an array of indices into a parameter (mu[g]), a let and a data index of a let', () => {
    const model = compile(`model m { data g: int[N]  data y: real[N]  param mu: real[3]  param s: positive
      let m2 = 2 * mu
      mu ~ normal(0, 2)
      s ~ half_normal(1)
      y ~ normal(mu[g], s)
      for n in 1..N { y[n] ~ normal(m2[g[n]], 1 + s) } }`);
    const bm = model.bind({ g: [1, 3, 2, 3, 1, 2], y: [0.3, -1, 2.2, 0.8, -0.4, 1.1] });
    expect(mismatch(bm, points(bm.dim, 3))).toBeUndefined();
    bm.dispose();
  });
  it('a parameter-free term (the same for every point) and a model with one parameter', () => {
    const model = compile(`model m { data y: real[N]  param a: real
      a ~ normal(0, 1)
      y ~ normal(0, 2)
      y ~ normal(a, 1) }`);
    const bm = model.bind({ y: [0.5, -0.2, 1.4] });
    expect(mismatch(bm, points(1, 3))).toBeUndefined();
    bm.dispose();
  });
});

describe('bad input is refused with the place named', () => {
  it('points of the wrong length', () => {
    const bm = bindStdlib('poisson_mix');
    expect(() => runSync(bm.potentialAndGradBatchSteps([new Float64Array(bm.dim), new Float64Array(bm.dim + 1)]))).toThrow(/point 1 has length 4; expected 3/);
    expect(() => runSync(bm.potentialAndGradBatchSteps(new Float64Array(2 * bm.dim + 1)))).toThrow(/points of length 3.*got 7 numbers/);
    expect(() => runSync(bm.potentialAndGradBatchSteps([]))).toThrow(/potentialAndGradBatch/);
    expect(() => tf.tidy(() => bm.potentialBatchTensor(tf.zeros([bm.dim])))).toThrow(/potentialBatch: expected points of shape \[B, 3\].*got \[3\]/);
    bm.dispose();
  });
});

describe('batches larger than maxBatchPoints, and the main thread\'s answers to worker threads (serveGradients)', () => {
  it('evaluates more points than maxBatchPoints (B × data elements within 2^20) in parts, read together, and answers each channel', async () => {
    const model = compile(`model m { data y: real[N]  param mu: real  param s: positive
      mu ~ normal(0, 1)
      s ~ half_normal(1)
      y ~ normal(mu, s) }`);
    const N = 2 ** 18 + 1;
    const bm = model.bind({ y: Float64Array.from({ length: N }, (_, i) => Math.sin(i)) });
    expect(bm.maxBatchPoints()).toBe(3);
    const small = model.bind({ y: [0.1, 0.2] });
    expect(small.maxBatchPoints()).toBe(2 ** 19);
    small.dispose();
    const pts = points(bm.dim, 5);
    // One worker asks for 3 points in one request (a channel of capacity 4), two for one each.
    const slot = 1 + 2 * bm.dim;
    const chs = [gradientChannel(bm.dim, 4), gradientChannel(bm.dim), gradientChannel(bm.dim)];
    const where = [[0, 0], [0, 1], [0, 2], [1, 0], [2, 0]]; // point → [channel, slot]
    where.forEach(([c, k], b) => chs[c].values.set(pts[b], k * slot + 1));
    [3, 1, 1].forEach((n, c) => {
      Atomics.store(chs[c].control, 1, n);
      Atomics.store(chs[c].control, 0, GRADIENT_REQUESTED);
    });
    expect(chs[0].capacity).toBe(4);
    expect(channelOf(bm.dim, chs[0].buffer).capacity).toBe(4);
    const before = tf.memory().numTensors;
    expect(await serveGradients(bm, chs)).toBe(5);
    expect(tf.memory().numTensors).toBe(before);
    // Two parts (3 + 2 points), each point's answer its own potential and gradient in its slot.
    chs.forEach((ch) => expect(Atomics.load(ch.control, 0)).toBe(GRADIENT_DONE));
    where.forEach(([c, k], b) => {
      const v = chs[c].values;
      const want = bm.potentialAndGrad(pts[b]);
      expect(close(v[k * slot], want.value), `point ${b}: ${v[k * slot]} against ${want.value}`).toBe(true);
      want.grad.forEach((g, i) => expect(close(v[k * slot + 1 + bm.dim + i], g), `point ${b} gradient ${i}`).toBe(true));
    });
    // A request of more points than the channel holds is refused, not read past its end.
    Atomics.store(chs[1].control, 1, 2);
    await expect(serveGradients(bm, [chs[1]])).rejects.toThrow(/asked for 2 points on a channel of capacity 1/);
    // Several potentials at once across parts: the prior part and the likelihood part.
    const [prior, lik] = runSync(bm.potentialsAndGradsBatchSteps(pts, [{ likelihood: false }, { priors: false, jacobian: false }]));
    pts.forEach((p, b) => {
      expect(close(prior.values[b], bm.potential(p, { likelihood: false })), `prior ${b}`).toBe(true);
      expect(close(lik.values[b], bm.potential(p, { priors: false, jacobian: false })), `likelihood ${b}`).toBe(true);
      expect(lik.grads[b]).toHaveLength(bm.dim);
    });
    bm.dispose();
  });
});
