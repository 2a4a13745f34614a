// The compiled replay's fused loops (src/tensor/replay-kernels.ts, `compileProgram`):
// the fused program gives the same value and gradient as the unfused one, and repeated
// calls at changing points agree with a fresh recording (the backward pass zeroes the
// adjoints of fused slots behind itself instead of a fill before each call, so a leak
// would show up on the second call). Fused runs keep values read only inside the run in
// locals (recomputed in the backward loop), walk broadcast and reduction maps by strided
// loop nests, and move independent nodes of other sizes out of the way; a synthetic
// function exercises each of these against the unfused program (per-node loops over
// index arrays) on random inputs. Everything is float64: equal up to rounding (the order
// of accumulation into broadcast operands' adjoints differs), so the tolerance is a few
// ulps of the gradient's scale (1e-12 relative).
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import type { DataInput, DataValue } from '../../src/model/data';
import { traceFunction } from '../../src/tensor/trace';
import { compileProgram, type CompiledProgram, type LoweredNode } from '../../src/tensor/replay-kernels';
import { tf } from '../../src/tensor';

/** The private parts of a TracedFunction these tests look at. */
interface Internals {
  nodes: LoweredNode[];
  slotSizes: number[];
  vals: Float64Array[];
  program: CompiledProgram;
  inputSlot: number;
  outputSlot: number;
  valueAndGrad(u: ArrayLike<number>, g: Float64Array): number;
}

/** Value and gradient of the recorded program compiled without fusion, on full-size arrays of its own. */
function unfused(tr: Internals, u: ArrayLike<number>): { value: number; grad: Float64Array } {
  const vals = tr.slotSizes.map((n, i) => (tr.vals[i].length === n ? tr.vals[i].slice() : new Float64Array(n)));
  const adj = tr.slotSizes.map((n) => new Float64Array(n));
  const p = compileProgram(tr.nodes)!;
  vals[tr.inputSlot].set(u);
  p.forward(vals);
  adj[tr.outputSlot][0] = 1;
  p.backward(vals, adj);
  return { value: vals[tr.outputSlot][0], grad: adj[tr.inputSlot].slice() };
}

beforeAll(async () => {
  await ensureBackend();
});

function gmmDiag() {
  const N = 40;
  const D = 3;
  const x = Array.from({ length: N }, (_, n) => Array.from({ length: D }, (_, d) => Math.sin(3 * n + d) * 2));
  const bound = compile('stdlib/gmm_diag.mix').bind({ K: 3, x });
  const f = (t: Parameters<Parameters<typeof traceFunction>[0]>[0]) => (bound as unknown as { potentialTensor(u: unknown, o: object): ReturnType<Parameters<typeof traceFunction>[0]> }).potentialTensor(t, {});
  return { bound, f };
}

const point = (dim: number, s: number) => Float64Array.from({ length: dim }, (_, i) => 0.3 * Math.sin(s * (i + 1)));

function close(a: Float64Array, b: Float64Array) {
  const scale = Math.max(...Array.from(b, Math.abs), 1);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-12 * scale);
}

describe('fused replay', () => {
  it('fuses runs of elementwise nodes and agrees with the unfused program', () => {
    const { bound, f } = gmmDiag();
    const tr = traceFunction(f, point(bound.dim, 1)) as unknown as Internals;
    expect(tr.program.cleared.length).toBeGreaterThan(0);
    // The [N, K, D] log-density terms live in locals: no array of N * K * D elements.
    expect(tr.program.internal.length).toBeGreaterThan(0);
    expect(Math.max(...tr.vals.map((v) => v.length))).toBeLessThan(40 * 3 * 3);
    for (const s of [2, 5, 6]) {
      const u = point(bound.dim, s);
      const g1 = new Float64Array(bound.dim);
      const v1 = tr.valueAndGrad(u, g1);
      const ref = unfused(tr, u);
      expect(Math.abs(v1 - ref.value)).toBeLessThanOrEqual(1e-12 * Math.abs(ref.value));
      close(g1, ref.grad);
    }
    bound.dispose();
  });

  it('locals, strided loop nests, index-array fallback and moved nodes agree with the unfused program', () => {
    // u[0..23] -> p [2, 3, 4]; u[24..26] -> q [3, 1]; u[27..30] -> r [4]; u[31..36] -> s [2, 3].
    const f = (u: tf.Tensor) => {
      const p = tf.reshape(tf.slice(u, [0], [24]), [2, 3, 4]);
      const q = tf.reshape(tf.slice(u, [24], [3]), [3, 1]);
      const r = tf.slice(u, [27], [4]);
      const s = tf.reshape(tf.slice(u, [31], [6]), [2, 3]);
      const r3 = tf.reshape(tf.slice(u, [27], [3]), [1, 3]);
      const z = tf.div(tf.sub(p, q), tf.add(tf.exp(r), 0.5)); // [2, 3, 4] from [3, 1] and [4]
      const lr = tf.log(tf.add(tf.square(r), 1)); // another size, reads nothing of z: moved before the run
      const w = tf.add(tf.mul(z, z), tf.mul(tf.exp(tf.neg(tf.abs(z))), lr)); // z read twice; lr broadcast
      const m = tf.sum(w, 1); // [2, 4]: reduce the middle axis inside the loop
      const e = tf.mean(tf.pow(tf.add(tf.square(w), 1), tf.scalar(0.75)), 2); // [2, 3]
      // [2, 3] + [1, 3], then seen as [3, 2] times [3, 1]: dims that do not nest ({3} vs {2}) keep an index array.
      const s2 = tf.reshape(tf.add(tf.add(s, e), r3), [3, 2]);
      const t = tf.mul(tf.sigmoid(s2), tf.reshape(q, [3, 1]));
      return tf.add(tf.sum(tf.mul(m, m)), tf.sum(tf.tanh(t)));
    };
    const rng = (() => {
      let x = 12345;
      return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 2;
    })();
    const u0 = Float64Array.from({ length: 37 }, rng);
    const tr = traceFunction(f, u0) as unknown as Internals;
    const src = tr.program.source;
    expect(tr.program.internal.length).toBeGreaterThan(0);
    expect(src).toMatch(/for \(let j1 = 0/); // a strided nest
    expect(src).toMatch(/\[c\d+\[i\]\]/); // and an index-array read in a fused loop
    for (let rep = 0; rep < 4; rep++) {
      const u = Float64Array.from({ length: 37 }, rng);
      const g = new Float64Array(37);
      const v = tr.valueAndGrad(u, g);
      const ref = unfused(tr, u);
      expect(Math.abs(v - ref.value)).toBeLessThanOrEqual(1e-12 * Math.abs(ref.value));
      close(g, ref.grad);
      // And the float32 tfjs gradient, loosely (float32 rounding of a sum of O(10) terms).
      const tg = tf.tidy(() => Array.from(tf.grad(f)(tf.tensor1d(Array.from(u))).dataSync()));
      const scale = Math.max(...tg.map(Math.abs), 1);
      tg.forEach((x, j) => expect(Math.abs(x - g[j])).toBeLessThan(1e-4 * scale));
    }
  });

  it('every stdlib model: the fused program agrees with the unfused one at random points', () => {
    const sizes: Record<string, DataInput> = {
      bayes_gmm: { K: 3, N: 12 }, bernoulli_mix: { K: 2, N: 10, D: 3 }, censored_gmm: { K: 2, N: 12, lo: -1, hi: 1.5 },
      dp_mix: { K: 4, N: 12 }, gaussian_hmm: { K: 3, T: 15 }, gmm_diag: { K: 2, N: 10, D: 2 }, gmm_full: { K: 2, N: 10, D: 3 },
      gmm_spherical: { K: 3, N: 10, D: 2 }, gmm_tied: { K: 2, N: 10, D: 3 }, poisson_hmm: { K: 2, T: 15 },
      poisson_mix: { K: 3, N: 12 }, student_t_mix: { K: 2, N: 12 }, switching_lgssm: { K: 2, T: 10 },
    };
    for (const [i, [name, given]] of Object.entries(sizes).entries()) {
      const model = compile(`stdlib/${name}.mix`);
      const fixed: Record<string, DataValue> = name === 'dp_mix' ? { alpha: 1 } : {};
      const sim = model.simulate(given, { seed: 40 + i, draws: 1, fixed })[0];
      const bound = model.bind({ ...(given as Record<string, DataValue>), ...sim.data });
      const tr = traceFunction((u) => bound.potentialTensor(u), point(bound.dim, 1)) as unknown as Internals;
      for (const s of [3, 7]) {
        const u = point(bound.dim, s);
        const g = new Float64Array(bound.dim);
        const v = tr.valueAndGrad(u, g);
        const ref = unfused(tr, u);
        expect(Math.abs(v - ref.value), name).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(ref.value)));
        close(g, ref.grad);
      }
      bound.dispose();
    }
  });

  it('repeated calls at changing points match a fresh recording', () => {
    const { bound, f } = gmmDiag();
    const tr = traceFunction(f, point(bound.dim, 1));
    const g = new Float64Array(bound.dim);
    for (const s of [2, 3, 4]) {
      const u = point(bound.dim, s);
      const v = tr.valueAndGrad(u, g);
      const fresh = traceFunction(f, u);
      const gf = new Float64Array(bound.dim);
      const vf = fresh.valueAndGrad(u, gf);
      expect(Math.abs(v - vf)).toBeLessThanOrEqual(1e-12 * Math.abs(vf));
      close(g, gf);
    }
    bound.dispose();
  });
});

describe('fused replay: regrouping, max/min, moves, unrolled loops', () => {
  const rng = (seed: number) => {
    let x = seed;
    return () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 2;
  };
  /** Fused against unfused at `reps` random points: values equal, gradients to 1e-12 of their scale. */
  function agree(f: (u: tf.Tensor) => tf.Tensor, dim: number, seed: number, reps = 4): Internals {
    const r = rng(seed);
    const tr = traceFunction(f, Float64Array.from({ length: dim }, r)) as unknown as Internals;
    for (let rep = 0; rep < reps; rep++) {
      const u = Float64Array.from({ length: dim }, r);
      const g = new Float64Array(dim);
      const v = tr.valueAndGrad(u, g);
      const ref = unfused(tr, u);
      // Same operations in the same order: the value is bit-identical.
      expect(v).toBe(ref.value);
      close(g, ref.grad);
    }
    return tr;
  }

  it('an [N, K] chain split by a size-K run fuses into one loop; nodes the run does not need stay after it', () => {
    // N = 5, K = 3: u[0..4] -> y [5, 1]; u[5..7] -> m [3]; u[8..10] -> s [3].
    const f = (u: tf.Tensor) => {
      const y = tf.reshape(tf.slice(u, [0], [5]), [5, 1]);
      const s = tf.exp(tf.slice(u, [8], [3]));
      const m = tf.cumsum(tf.slice(u, [5], [3])); // not fusable: closes exp's run
      const pen = tf.sum(tf.square(m)); // a size-3 run starts here
      const z = tf.div(tf.sub(y, m), s); // [5, 3], reads nothing of that run
      const q = tf.mul(tf.square(z), -0.5); // [5, 3]
      const ls = tf.log(s); // size 3: joins the run
      const lp = tf.sub(q, ls); // [5, 3], reads the run
      return tf.add(tf.sum(tf.logSumExp(lp, 1)), pen);
    };
    const tr = agree(f, 11, 7);
    // The [5, 3] elementwise chain (sub, div, square, mul, sub) is one loop nest: a loop over
    // the 5 rows with the 3 columns written out.
    const src = tr.program.source;
    const fwd = src.split('\nfunction ').filter((x) => x.startsWith('f'));
    const withDiv = fwd.filter((x) => x.includes(' / b'));
    expect(withDiv.length).toBe(1);
    // The whole chain up to the log-sum-exp's max is in that loop (not split by the size-3 run).
    expect(withDiv[0]).toMatch(/fill\(-Infinity\)/);
    expect(withDiv[0]).toMatch(/const j1 = 2;/);
  });

  it('nodes a run needs are moved before it and fused with each other', () => {
    const f = (u: tf.Tensor) => {
      const y = tf.reshape(tf.slice(u, [0], [5]), [5, 1]);
      const s = tf.exp(tf.slice(u, [8], [3]));
      const m = tf.cumsum(tf.slice(u, [5], [3])); // not fusable: closes exp's run
      const pen = tf.sum(tf.square(m)); // a size-3 run starts here
      const z = tf.div(tf.sub(y, m), s); // [5, 3]
      const c = tf.sum(tf.square(z), 0); // [3], from a [5, 3] loop
      const w = tf.mul(c, m); // size 3: joins the run and needs the [5, 3] chain before it
      return tf.add(tf.sum(tf.log1p(tf.square(w))), pen);
    };
    const tr = agree(f, 11, 5);
    const fwd = tr.program.source.split('\nfunction ').filter((x) => x.startsWith('f'));
    const withDiv = fwd.filter((x) => x.includes(' / b'));
    expect(withDiv.length).toBe(1);
    expect(withDiv[0]).toMatch(/x \* x/);
    expect(withDiv[0]).toMatch(/ \+= t\d+;/); // the sum over the 5 rows, in the same loop
  });

  it('max and min reductions and transposes join fused loops (ties pass the adjoint to every maximum)', () => {
    const f = (u: tf.Tensor) => {
      const x = tf.reshape(tf.slice(u, [0], [12]), [4, 3]);
      const xt = tf.transpose(tf.add(x, tf.scalar(0.25))); // [3, 4]: an affine move
      const w = tf.mul(xt, tf.reshape(tf.slice(u, [12], [3]), [3, 1]));
      const mx = tf.max(w, 0); // [4]
      const mn = tf.min(tf.floor(tf.mul(w, 2)), 1); // [3]: floor makes ties, no adjoint
      const mn2 = tf.min(tf.exp(w), 1); // [3]
      return tf.add(tf.add(tf.sum(tf.square(mx)), tf.sum(mn)), tf.sum(tf.mul(mn2, mn2)));
    };
    const tr = agree(f, 15, 11);
    const src = tr.program.source;
    expect(src).toMatch(/fill\(-Infinity\)/);
    expect(src).toMatch(/fill\(Infinity\)/);
    // No per-node method calls left: the transpose and the reductions are all generated code.
    expect(src).not.toMatch(/\.forward\(v\)/);
    // Ties: equal maxima both receive the adjoint, as tfjs's gradient does.
    const g = new Float64Array(15);
    const u = new Float64Array(15).fill(0.5);
    tr.valueAndGrad(u, g);
    const ref = unfused(tr, u);
    close(g, ref.grad);
    expect(g[0]).toBe(g[3]);
  });

  it('select (elementwise and with a rank-1 condition) joins fused loops', () => {
    const f = (u: tf.Tensor) => {
      const x = tf.reshape(tf.slice(u, [0], [12]), [4, 3]);
      const c = tf.greater(tf.slice(u, [12], [4]), 0); // [4]: selects rows (the kernel takes a rank-1 condition; tf.where does not)
      const y = tf.engine().runKernel('Select', { condition: c, t: tf.exp(x), e: tf.square(x) }) as tf.Tensor;
      const z = tf.where(tf.greater(x, 0.1), tf.mul(y, x), tf.neg(y)); // elementwise condition
      return tf.sum(tf.mul(z, z));
    };
    const tr = agree(f, 16, 13);
    expect(tr.program.source).toMatch(/\(c \? t : e\)/);
    expect(tr.program.source).not.toMatch(/\.forward\(v\)/);
  });

  it('a strided 1-D move (every other element) in a fused loop', () => {
    const f = (u: tf.Tensor) => {
      const e = tf.stridedSlice(tf.exp(u), [1], [7], [2]); // [3], index map 1, 3, 5: not affine (offset)
      const d = tf.stridedSlice(tf.mul(u, u), [0], [7], [3]); // [3], index map 0, 3, 6: affine, stride 3
      return tf.sum(tf.mul(tf.add(d, 1), tf.log1p(e)));
    };
    const tr = agree(f, 8, 3);
    expect(tr.program.source).toMatch(/q0 = j0 \* 3/);
  });

  it('galaxies (K = 3): the fused program agrees with the unfused one, value bit-identical', () => {
    const y = Array.from({ length: 82 }, (_, n) => 20 + 5 * Math.sin(1.7 * n));
    const bound = compile('examples/galaxies/galaxies.mix').bind({ K: 3, y });
    const tr = traceFunction((u) => bound.potentialTensor(u), point(bound.dim, 1)) as unknown as Internals;
    for (const s of [2, 3, 5]) {
      const u = point(bound.dim, s);
      const g = new Float64Array(bound.dim);
      const v = tr.valueAndGrad(u, g);
      const ref = unfused(tr, u);
      expect(v).toBe(ref.value);
      close(g, ref.grad);
    }
    // Loop-free groups (the constraining transforms, written out) share straight-line
    // functions: no two consecutive generated functions of a pass are both loop-free.
    const fns = tr.program.source.split('\nfunction ').slice(1);
    for (const pass of ['f', 'b']) {
      const loopFree = fns.filter((x) => x.startsWith(pass)).map((x) => !x.includes('for ('));
      expect(loopFree.some((x, k) => x && loopFree[k + 1])).toBe(false);
      expect(loopFree.filter((x) => x).length).toBeGreaterThan(0);
    }
    bound.dispose();
  });
});
