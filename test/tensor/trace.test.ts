// The float64 replay of a recorded potential (src/tensor/trace.ts) against the tfjs
// evaluator it was recorded from: value and gradient of every stdlib model at random
// unconstrained points, and against central finite differences of the replay itself
// (float64, so the differences are accurate to ~1e-7 relative).
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend, Key } from '../../src';
import type { DataInput, DataValue } from '../../src/model/data';
import { tf } from '../../src/tensor';
import { traceFunction, TraceUnsupportedError } from '../../src/tensor/trace';

const SIZES: Record<string, DataInput> = {
  bayes_gmm: { K: 3, N: 25 },
  bernoulli_mix: { K: 2, N: 20, D: 3 },
  censored_gmm: { K: 2, N: 25, lo: -1, hi: 1.5 },
  dp_mix: { K: 4, N: 25 },
  gaussian_hmm: { K: 3, T: 30 },
  gmm_diag: { K: 2, N: 20, D: 2 },
  gmm_full: { K: 2, N: 20, D: 3 },
  gmm_spherical: { K: 3, N: 20, D: 2 },
  gmm_tied: { K: 2, N: 20, D: 3 },
  poisson_hmm: { K: 2, T: 30 },
  poisson_mix: { K: 3, N: 25 },
  student_t_mix: { K: 2, N: 25 },
  switching_lgssm: { K: 2, T: 20 },
};

function covariates(name: string, rng: { normal(): number }): DataInput {
  const mat = (n: number, p: number) => ({ shape: [n, p], values: Float64Array.from({ length: n * p }, () => rng.normal()) });
  if (name === 'mix_linreg') return { K: 2, x: mat(20, 2) };
  if (name === 'moe') return { K: 2, u: mat(20, 2) };
  return SIZES[name];
}

const NAMES = [...Object.keys(SIZES), 'mix_linreg', 'moe'];

beforeAll(async () => {
  await ensureBackend();
});

describe('traced float64 potential', () => {
  for (const [i, name] of NAMES.entries()) {
    it(`${name}: value and gradient agree with the tensor evaluator`, () => {
      const model = compile(fileURLToPath(new URL(`../../stdlib/${name}.mix`, import.meta.url)));
      const rng = Key.seed(100 + i).rng();
      const given = covariates(name, rng);
      // dp_mix: a gamma(1, 1) draw of alpha near 0 makes beta(1, alpha) round v to 1, and
      // the model's `at @ log(v)` then multiplies 0 by -Inf; hold alpha at 1.
      const fixed: Record<string, DataValue> = name === 'dp_mix' ? { alpha: 1 } : {};
      const sim = model.simulate(given, { seed: 7 + i, draws: 1, fixed })[0];
      const data: Record<string, DataValue> = { ...(given as Record<string, DataValue>), ...sim.data };
      const bound = model.bind(data);
      const traced = traceFunction((u) => bound.potentialTensor(u), new Float64Array(bound.dim).fill(0.1));
      for (let rep = 0; rep < 3; rep++) {
        const u = Float64Array.from({ length: bound.dim }, () => 0.7 * rng.normal());
        const ref = bound.potentialAndGrad(u);
        const grad = new Float64Array(bound.dim);
        const v = traced.valueAndGrad(u, grad);
        // float32 evaluator against float64 replay: relative error of float32 sums.
        expect(Math.abs(v - ref.value), `${name} value ${v} vs ${ref.value}`).toBeLessThan(2e-4 * (1 + Math.abs(ref.value)));
        const scale = 1 + Math.max(...ref.grad.map(Math.abs));
        for (let j = 0; j < bound.dim; j++) {
          expect(Math.abs(grad[j] - ref.grad[j]), `${name} grad[${j}] ${grad[j]} vs ${ref.grad[j]}`).toBeLessThan(2e-3 * scale);
        }
        // Finite differences of the replay itself, in float64.
        const h = 1e-5;
        for (let j = 0; j < Math.min(bound.dim, 6); j++) {
          const up = u.slice();
          const dn = u.slice();
          up[j] += h;
          dn[j] -= h;
          const fd = (traced.value(up) - traced.value(dn)) / (2 * h);
          expect(Math.abs(fd - grad[j]), `${name} fd[${j}] ${fd} vs ${grad[j]}`).toBeLessThan(1e-5 * (1 + Math.abs(grad[j])) * scale);
        }
      }
      bound.dispose();
    });
  }

  it('refuses a function that reads a value depending on its input', () => {
    expect(() => traceFunction((u) => {
      const s = tf.sum(u);
      return s.dataSync()[0] > 0 ? tf.square(s) : s;
    }, [1, 2])).toThrow(TraceUnsupportedError);
  });

  it('refuses a kernel it has no replay for, naming it', () => {
    expect(() => traceFunction((u) => tf.sum(tf.topk(u, 1).values), [1, 2])).toThrow(/TopK/);
  });

  it('restores the engine after a trace, also after a failure', () => {
    const before = tf.engine().runKernel;
    try {
      traceFunction((u) => tf.sum(tf.topk(u, 1).values), [1, 2]);
    } catch {
      // expected
    }
    expect(tf.engine().runKernel).toBe(before);
    expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'runKernel')).toBe(false);
  });

  it('replays broadcasting, reductions, matmul, cumsum, gather and concat exactly', () => {
    const f = (u: tf.Tensor) => {
      const m = tf.reshape(u, [2, 3]);
      const a = tf.matMul(m, tf.transpose(m));
      const b = tf.cumsum(tf.exp(m), 1, true, true);
      const g = tf.gather(tf.reshape(u, [6]), [5, 0, 0, 3]);
      const c = tf.concat([g, tf.reshape(b, [6]), tf.max(m, 1)]);
      return tf.add(tf.sum(tf.mul(c, tf.sin(c))), tf.sum(tf.logSoftmax(tf.add(a, tf.tensor1d([0.5, -1])))));
    };
    const u0 = [0.3, -0.2, 0.9, 1.1, -0.4, 0.05];
    const traced = traceFunction(f, u0);
    const grad = new Float64Array(6);
    const v = traced.valueAndGrad(u0, grad);
    const ref = tf.tidy(() => {
      const r = tf.valueAndGrad(f)(tf.tensor1d(u0));
      return { value: r.value.dataSync()[0], grad: Array.from(r.grad.dataSync()) };
    });
    expect(v).toBeCloseTo(ref.value, 4);
    grad.forEach((g, j) => expect(g).toBeCloseTo(ref.grad[j], 3));
  });
});
