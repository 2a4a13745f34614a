// Label switching: Hungarian vs brute force, and Stephens' KL / ECR / ordering recovering
// known random label permutations of a well-separated 3-component mixture posterior.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  hungarian,
  stephensKL,
  ecr,
  relabelByOrder,
  relabelMatrixByOrder,
  applyPermutation,
  applyPermutationToAllocations,
  applyPermutationToProbabilities,
  composePermutations,
  inversePermutation,
  identityPermutation,
  isPermutation,
  RelabelError,
} from '../../../src/infer/mcmc/relabel';

/** A small deterministic generator (tests must not depend on Math.random). */
function rng(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const permutation = (K: number) => {
    const p = Array.from({ length: K }, (_, k) => k);
    for (let i = K - 1; i > 0; i--) {
      const j = Math.floor(uniform() * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    return Int32Array.from(p);
  };
  const categorical = (ps: ArrayLike<number>) => {
    let u = uniform();
    for (let k = 0; k < ps.length; k++) {
      u -= ps[k];
      if (u <= 0) return k;
    }
    return ps.length - 1;
  };
  return { uniform, normal, permutation, categorical };
}

/** All permutations of 0..K-1. */
function allPermutations(K: number): number[][] {
  if (K === 0) return [[]];
  return allPermutations(K - 1).flatMap((p) => Array.from({ length: K }, (_, i) => [...p.slice(0, i), K - 1, ...p.slice(i)]));
}

type Draw = { w: number[]; mu: number[]; sigma: number[] };

/**
 * A synthetic posterior of a well-separated 3-component normal mixture: draws jittered
 * around the truth, responsibilities computed from each draw, and then every draw's labels
 * scrambled by a random permutation sigma_t (sigma_t[k] = new label of true component k).
 */
function scrambledPosterior(T: number, seed: number) {
  const r = rng(seed);
  const truth: Draw = { w: [0.3, 0.4, 0.3], mu: [-6, 0, 6], sigma: [1, 1.2, 0.8] };
  const K = 3;
  const N = 60;
  const y = Array.from({ length: N }, () => {
    const k = r.categorical(truth.w);
    return truth.mu[k] + truth.sigma[k] * r.normal();
  });
  const draws: Draw[] = [];
  const probs: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const wRaw = truth.w.map((w) => w * Math.exp(0.1 * r.normal()));
    const sum = wRaw.reduce((a, b) => a + b, 0);
    const d: Draw = {
      w: wRaw.map((w) => w / sum),
      mu: truth.mu.map((m) => m + 0.2 * r.normal()),
      sigma: truth.sigma.map((s) => s * Math.exp(0.05 * r.normal())),
    };
    const p = new Float64Array(N * K);
    y.forEach((yn, n) => {
      const lp = d.mu.map((m, k) => Math.log(d.w[k]) - Math.log(d.sigma[k]) - 0.5 * ((yn - m) / d.sigma[k]) ** 2);
      const mx = Math.max(...lp);
      const e = lp.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((v, k) => { p[n * K + k] = v / z; });
    });
    draws.push(d);
    probs.push(p);
  }
  const sigmas = draws.map(() => r.permutation(K));
  const scrambled = draws.map((d, t) => applyPermutation(d, sigmas[t]));
  const scrambledProbs = probs.map((p, t) => applyPermutationToProbabilities(p, sigmas[t]));
  const allocations = scrambledProbs.map((p) => Int32Array.from({ length: N }, (_, n) => r.categorical(p.subarray(n * K, (n + 1) * K))));
  return { K, N, y, draws, probs, sigmas, scrambled, scrambledProbs, allocations };
}

/** The permutations sigma_t then nu_t compose to one and the same permutation for every draw. */
function expectOneGlobalPermutation(sigmas: Int32Array[], nus: Int32Array[]): Int32Array {
  const composed = sigmas.map((s, t) => composePermutations(s, nus[t]));
  const g = composed[0];
  composed.forEach((c) => expect(Array.from(c)).toEqual(Array.from(g)));
  return g;
}

describe('permutation convention', () => {
  it('perm[k] is the new label of old component k', () => {
    const perm = [2, 0, 1];
    expect(applyPermutation({ mu: [10, 20, 30] }, perm)).toEqual({ mu: [20, 30, 10] });
    expect(Array.from(applyPermutationToAllocations([0, 1, 2, 0], perm))).toEqual([2, 0, 1, 2]);
    expect(Array.from(applyPermutationToProbabilities([0.7, 0.2, 0.1], perm))).toEqual([0.2, 0.1, 0.7]);
    // blocks: component k owns the k-th third of a K*D entry, and matrix rows move whole
    expect(applyPermutation({ m: [1, 2, 3, 4, 5, 6] }, perm)).toEqual({ m: [3, 4, 5, 6, 1, 2] });
    expect(Array.from(applyPermutation(Float64Array.from([1, 2, 3, 4, 5, 6]), perm))).toEqual([3, 4, 5, 6, 1, 2]);
  });

  it('compose, inverse and apply agree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 2 ** 31 }), (K, seed) => {
        const r = rng(seed);
        const a = r.permutation(K);
        const b = r.permutation(K);
        const x = { v: Array.from({ length: K }, (_, k) => k * 10 + 1) };
        expect(applyPermutation(applyPermutation(x, a), b)).toEqual(applyPermutation(x, composePermutations(a, b)));
        expect(applyPermutation(applyPermutation(x, a), inversePermutation(a))).toEqual(x);
        expect(isPermutation(composePermutations(a, b))).toBe(true);
      }),
    );
  });

  it('rejects a non-permutation and a block length that is not a multiple of K', () => {
    expect(() => applyPermutation({ mu: [1, 2] }, [0, 0])).toThrow(RelabelError);
    expect(() => applyPermutation({ mu: [1, 2, 3, 4] }, [1, 2, 0])).toThrow(/parameter 'mu': 4 values is not a multiple of K = 3/);
  });
});

describe('hungarian', () => {
  it('matches brute force over all permutations for random K <= 6 cost matrices', () => {
    const costMatrix = fc.integer({ min: 1, max: 6 }).chain((K) =>
      fc.array(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: K, maxLength: K }), { minLength: K, maxLength: K }),
    );
    fc.assert(
      fc.property(costMatrix, (C) => {
        const K = C.length;
        const { assignment, cost } = hungarian(C);
        expect(isPermutation(assignment)).toBe(true);
        const achieved = C.reduce((s, row, i) => s + row[assignment[i]], 0);
        expect(cost).toBeCloseTo(achieved, 9);
        const best = Math.min(...allPermutations(K).map((p) => p.reduce((s, j, i) => s + C[i][j], 0)));
        expect(achieved).toBeLessThanOrEqual(best + 1e-9 * (1 + Math.abs(best)));
        // the flat row-major form gives the same optimum
        expect(hungarian(Float64Array.from(C.flat()), K).cost).toBeCloseTo(cost, 9);
      }),
      { numRuns: 400 },
    );
  });

  it('solves integer matrices with many ties exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((K) => fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: K, maxLength: K }), { minLength: K, maxLength: K })),
        (C) => {
          const best = Math.min(...allPermutations(C.length).map((p) => p.reduce((s, j, i) => s + C[i][j], 0)));
          expect(hungarian(C).cost).toBe(best);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a non-square or non-finite cost matrix', () => {
    expect(() => hungarian([[1, 2], [3]])).toThrow(/row 1 has 1 entries/);
    expect(() => hungarian([[1, Infinity], [3, 4]])).toThrow(/cost\[0\]\[1\] is Infinity/);
    expect(() => hungarian([1, 2, 3])).toThrow(/not an n x n matrix/);
  });
});

describe("Stephens' KL relabelling", () => {
  const post = scrambledPosterior(150, 11);

  it('recovers the scrambling permutations up to one global relabelling', () => {
    const res = stephensKL({ K: post.K, draws: post.scrambledProbs }, { draws: post.scrambled });
    expect(res.converged).toBe(true);
    expect(res.iterations).toBeLessThan(10);
    const g = expectOneGlobalPermutation(post.sigmas, res.permutations);
    // the relabelled parameters are the unscrambled ones under that global relabelling
    res.relabelled.forEach((d, t) => expect(d).toEqual(applyPermutation(post.draws[t], g)));
    // Q is close to the responsibilities of a consistent labelling: nearly 0/1 rows
    const maxPerRow = Array.from({ length: post.N }, (_, n) => Math.max(...res.meanProbabilities.subarray(n * 3, n * 3 + 3)));
    expect(Math.min(...maxPerRow)).toBeGreaterThan(0.5);
  });

  it('accepts nested p[t][n][k] input and gives the same permutations', () => {
    const nested = post.scrambledProbs.map((p) => Array.from({ length: post.N }, (_, n) => Array.from(p.subarray(n * 3, n * 3 + 3))));
    const a = stephensKL(nested);
    const b = stephensKL({ K: 3, draws: post.scrambledProbs });
    expect(a.permutations.map((p) => Array.from(p))).toEqual(b.permutations.map((p) => Array.from(p)));
    expect(a.objective).toBeCloseTo(b.objective, 9);
  });

  it('is idempotent: relabelling consistent draws returns identity permutations', () => {
    const first = stephensKL({ K: 3, draws: post.scrambledProbs });
    const consistent = post.scrambledProbs.map((p, t) => applyPermutationToProbabilities(p, first.permutations[t]));
    const again = stephensKL({ K: 3, draws: consistent });
    expect(again.iterations).toBe(1);
    again.permutations.forEach((p) => expect(Array.from(p)).toEqual([0, 1, 2]));
    expect(again.objective).toBeCloseTo(first.objective, 6);
  });

  it('lowers the KL objective below that of the scrambled labels', () => {
    const oneSweep = stephensKL({ K: 3, draws: post.scrambledProbs }, { maxIterations: 1 });
    const full = stephensKL({ K: 3, draws: post.scrambledProbs });
    expect(full.objective).toBeLessThan(oneSweep.objective);
  });

  it('rejects malformed probabilities naming the draw', () => {
    const bad = post.scrambledProbs.slice(0, 3).map((p) => Float64Array.from(p));
    bad[2][4] = 1.5;
    expect(() => stephensKL({ K: 3, draws: bad })).toThrow(/draw 2, observation 1, component 1: probability 1.5/);
    expect(() => stephensKL({ K: 3, draws: [new Float64Array(6), new Float64Array(3)] })).toThrow(/draw 1 has 3 probabilities/);
    expect(() => stephensKL([[[0.5, 0.5]], [[1]]])).toThrow(/draw 1, observation 0 has 1 probabilities, expected K = 2/);
  });
});

describe('ECR relabelling', () => {
  const post = scrambledPosterior(150, 23);

  it('relabels sampled allocations to agree with the pivot draw', () => {
    const res = ecr(post.allocations, post.K, { pivot: 0, draws: post.scrambled });
    expect(res.converged).toBe(true);
    const g = expectOneGlobalPermutation(post.sigmas, res.permutations);
    // the pivot keeps its labels, so the global relabelling is the pivot's own scrambling
    expect(Array.from(res.permutations[0])).toEqual([0, 1, 2]);
    expect(Array.from(g)).toEqual(Array.from(post.sigmas[0]));
    res.relabelled.forEach((d, t) => expect(d).toEqual(applyPermutation(post.draws[t], g)));
  });

  it('iterative ECR converges to the same labelling', () => {
    const res = ecr(post.allocations, post.K, { pivot: 5, iterative: true });
    expect(res.converged).toBe(true);
    expect(res.iterations).toBeLessThan(10);
    expectOneGlobalPermutation(post.sigmas, res.permutations);
  });

  it('takes an explicit pivot allocation and is idempotent on consistent allocations', () => {
    const pivot = applyPermutationToAllocations(post.allocations[0], [1, 2, 0]);
    const res = ecr(post.allocations, 3, { pivot });
    const g = expectOneGlobalPermutation(post.sigmas, res.permutations);
    expect(Array.from(g)).toEqual(Array.from(composePermutations(post.sigmas[0], [1, 2, 0])));
    const consistent = post.allocations.map((z, t) => applyPermutationToAllocations(z, res.permutations[t]));
    const again = ecr(consistent, 3, { pivot });
    again.permutations.forEach((p) => expect(Array.from(p)).toEqual([0, 1, 2]));
  });

  it('rejects labels out of range and a bad pivot', () => {
    expect(() => ecr([[0, 1], [0, 3]], 3)).toThrow(/draw 1, observation 1: label 3 is not in 0..2/);
    expect(() => ecr([[0, 1]], 2, { pivot: 4 })).toThrow(/pivot draw 4/);
    expect(() => ecr([[0, 1]], 2, { pivot: [0] })).toThrow(/pivot has 1 allocations/);
  });
});

describe('ordering constraint', () => {
  it('sorting by mu undoes the scrambling when mu separates the components', () => {
    const post = scrambledPosterior(60, 5);
    const res = relabelByOrder(post.scrambled, 'mu');
    const g = expectOneGlobalPermutation(post.sigmas, res.permutations);
    expect(Array.from(g)).toEqual([0, 1, 2]); // the true means are increasing
    res.relabelled.forEach((d, t) => expect(d).toEqual(post.draws[t]));
  });

  it('sorts K x P matrix draws by a column, ties in the old order', () => {
    const m = Float64Array.from([3, 30, 1, 10, 3, 31]); // rows (3,30), (1,10), (3,31)
    const res = relabelMatrixByOrder([m], 3, 0);
    expect(Array.from(res.permutations[0])).toEqual([1, 0, 2]);
    expect(Array.from(res.relabelled[0])).toEqual([1, 10, 3, 30, 3, 31]);
    expect(() => relabelMatrixByOrder([m], 3, 2)).toThrow(/column 2 is not in 0..1/);
    expect(() => relabelByOrder([{ mu: [1, 2] }], 'sigma')).toThrow(/draw 0 has no parameter 'sigma'/);
  });

  it('returns identity permutations for draws already in order', () => {
    const draws = [{ mu: [-1, 0, 2] }, { mu: [-3, 5, 9] }];
    relabelByOrder(draws, 'mu').permutations.forEach((p) => expect(Array.from(p)).toEqual(Array.from(identityPermutation(3))));
  });
});
