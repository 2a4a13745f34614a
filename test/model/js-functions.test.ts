import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FUNCTIONS, OPERATORS } from '../../src/check/functions';
import {
  JS_FUNCTIONS, JS_OPERATORS, JsFunctionError, applyOperator, broadcastShapes, callFunction, indexArray, ndarray, scalar, stack,
} from '../../src/model/js-functions';
import { toNested } from '../../src/model/data';
import type { NdArray } from '../../src/model/data';

/** NdArray from nested arrays (rectangular). */
function nd(x: number | unknown[]): NdArray {
  if (typeof x === 'number') return scalar(x);
  const shape: number[] = [];
  let p: unknown = x;
  while (Array.isArray(p)) {
    shape.push(p.length);
    p = p[0];
  }
  return ndarray((x as unknown[]).flat(shape.length) as number[], shape);
}

const nested = (a: NdArray) => toNested(a.values, a.shape);
const fn = (name: string, ...args: (number | unknown[])[]) => callFunction(name, args.map(nd));
const op = (o: string, ...args: (number | unknown[])[]) => applyOperator(o, args.map(nd));

describe('the table matches the checker', () => {
  it('implements every built-in function and operator the checker knows', () => {
    for (const name of FUNCTIONS.keys()) expect(JS_FUNCTIONS[name], name).toBeTypeOf('function');
    for (const o of OPERATORS.keys()) expect(JS_OPERATORS[o], o).toBeTypeOf('function');
  });
});

describe('broadcasting', () => {
  it('aligns shapes from the right', () => {
    expect(broadcastShapes([[3, 1], [4]])).toEqual([3, 4]);
    expect(broadcastShapes([[2, 1, 3], [5, 1]])).toEqual([2, 5, 3]);
    expect(broadcastShapes([[], [2, 2]])).toEqual([2, 2]);
    expect(() => broadcastShapes([[3], [4]])).toThrow(/shape mismatch/);
  });
  it('adds a column to a row as an outer sum', () => {
    expect(nested(op('+', [[1], [2], [3]], [10, 20]))).toEqual([[11, 21], [12, 22], [13, 23]]);
  });
  it('broadcasts a scalar against a matrix', () => {
    expect(nested(op('*', 2, [[1, 2], [3, 4]]))).toEqual([[2, 4], [6, 8]]);
  });
  it('rejects incompatible shapes with a message naming the operator', () => {
    expect(() => op('+', [1, 2, 3], [1, 2])).toThrow(/'\+'.*\[3\].*\[2\]/);
  });
  it('agrees with a direct double loop for random [a,1] x [b] shapes', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), (a, b, seed) => {
      const x = Array.from({ length: a }, (_, i) => [seed + i]);
      const y = Array.from({ length: b }, (_, j) => j * 0.5);
      const r = nested(op('-', x, y)) as number[][];
      for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) expect(r[i][j]).toBe(seed + i - j * 0.5);
    }), { seed: 7, numRuns: 50 });
  });
});

describe('elementwise functions', () => {
  it('computes hand-checked values', () => {
    expect(fn('square', [1, -2, 3]).values).toEqual(Float64Array.of(1, 4, 9));
    expect(fn('abs', -2.5).values[0]).toBe(2.5);
    expect(fn('inv_logit', 0).values[0]).toBe(0.5);
    expect(fn('logit', 0.5).values[0]).toBe(0);
    expect(fn('softplus', 0).values[0]).toBeCloseTo(Math.LN2, 15);
    expect(fn('lgamma', 5).values[0]).toBeCloseTo(Math.log(24), 12);
    expect(fn('digamma', 1).values[0]).toBeCloseTo(-0.5772156649015329, 12);
    expect(fn('pow', [2, 3], 2).values).toEqual(Float64Array.of(4, 9));
    expect(fn('min', [1, 5], [3, 2]).values).toEqual(Float64Array.of(1, 2));
    expect(fn('max', [1, 5], 3).values).toEqual(Float64Array.of(3, 5));
  });
  it('stays finite in the tails where the naive formulas overflow', () => {
    expect(fn('inv_logit', -800).values[0]).toBe(0);
    expect(fn('inv_logit', 800).values[0]).toBe(1);
    expect(fn('softplus', 800).values[0]).toBe(800);
    expect(fn('log_inv_logit', -800).values[0]).toBe(-800);
    expect(fn('log1m_inv_logit', 800).values[0]).toBe(-800);
    expect(fn('log_add_exp', 1000, 1000).values[0]).toBeCloseTo(1000 + Math.LN2, 10);
    expect(fn('log_add_exp', -Infinity, 2).values[0]).toBe(2);
    expect(fn('log_sum_exp', [1000, 1000, 1000]).values[0]).toBeCloseTo(1000 + Math.log(3), 10);
    expect(fn('log_sum_exp', [-Infinity, -Infinity]).values[0]).toBe(-Infinity);
  });
});

describe('reductions over all axes', () => {
  const m = [[1, 2], [3, 4]];
  it('reduce a matrix to a scalar', () => {
    expect(fn('sum', m).shape).toEqual([]);
    expect(fn('sum', m).values[0]).toBe(10);
    expect(fn('mean', m).values[0]).toBe(2.5);
    expect(fn('prod', m).values[0]).toBe(24);
    // variance with divisor n - 1: sum of squared deviations 5 over 3
    expect(fn('variance', m).values[0]).toBeCloseTo(5 / 3, 15);
    expect(fn('sd', m).values[0]).toBeCloseTo(Math.sqrt(5 / 3), 15);
    expect(fn('log_sum_exp', m).values[0]).toBeCloseTo(Math.log(Math.E + Math.E ** 2 + Math.E ** 3 + Math.E ** 4), 13);
  });
});

describe('last-axis functions', () => {
  it('softmax and log_softmax act row by row', () => {
    const r = nested(fn('softmax', [[0, 0], [0, Math.log(3)]])) as number[][];
    expect(r[0]).toEqual([0.5, 0.5]);
    expect(r[1][0]).toBeCloseTo(0.25, 15);
    expect(r[1][1]).toBeCloseTo(0.75, 15);
    const l = fn('log_softmax', [1, 1, 1, 1]).values;
    for (const x of l) expect(x).toBeCloseTo(-Math.log(4), 15);
  });
  it('cumsum sums along the last axis only', () => {
    expect(nested(fn('cumsum', [[1, 2, 3], [4, 5, 6]]))).toEqual([[1, 3, 6], [4, 9, 15]]);
  });
  it('dot broadcasts leading axes', () => {
    expect(nested(fn('dot', [[1, 2], [3, 4]], [10, 1]))).toEqual([12, 34]);
    expect(() => fn('dot', [1, 2], [1, 2, 3])).toThrow(JsFunctionError);
  });
});

describe('matrices', () => {
  const A = [[1, 2], [3, 4], [5, 6]]; // 3 x 2
  it('matrix @ matrix', () => {
    expect(nested(op('@', A, [[1, 0, 2], [0, 1, 3]]))).toEqual([[1, 2, 8], [3, 4, 18], [5, 6, 28]]);
  });
  it('matrix @ vector and vector @ matrix', () => {
    expect(nested(op('@', A, [1, -1]))).toEqual([-1, -1, -1]);
    expect(nested(op('@', [1, 1, 1], A))).toEqual([9, 12]);
  });
  it('batched matrix @ matrix broadcasts the leading axes', () => {
    const r = op('@', [[[1, 0], [0, 1]], [[2, 0], [0, 2]]], [[1, 2], [3, 4]]);
    expect(nested(r)).toEqual([[[1, 2], [3, 4]], [[2, 4], [6, 8]]]);
  });
  it('rejects mismatched inner dims and vector @ vector', () => {
    expect(() => op('@', A, [1, 2, 3])).toThrow(/inner dims/);
    expect(() => op('@', [1, 2], [1, 2])).toThrow(/dot/);
  });
  it('transpose, diag_matrix, diagonal', () => {
    expect(nested(fn('transpose', A))).toEqual([[1, 3, 5], [2, 4, 6]]);
    expect(nested(fn('diag_matrix', [1, 2]))).toEqual([[1, 0], [0, 2]]);
    expect(nested(fn('diagonal', [[1, 2], [3, 4]]))).toEqual([1, 4]);
    expect(() => fn('diagonal', A)).toThrow(/square/);
  });
  it('diag_pre_multiply scales rows, diag_post_multiply scales columns', () => {
    const m = [[1, 2], [3, 4]];
    expect(nested(fn('diag_pre_multiply', [10, 100], m))).toEqual([[10, 20], [300, 400]]);
    expect(nested(fn('diag_post_multiply', m, [10, 100]))).toEqual([[10, 200], [30, 400]]);
    // equal to diag_matrix(v) @ m
    const viaMatmul = applyOperator('@', [fn('diag_matrix', [10, 100]), nd(m)]);
    expect(nested(viaMatmul)).toEqual([[10, 20], [300, 400]]);
  });
  it('tcrossprod and crossprod', () => {
    expect(nested(fn('tcrossprod', A))).toEqual([[5, 11, 17], [11, 25, 39], [17, 39, 61]]);
    expect(nested(fn('crossprod', A))).toEqual([[35, 44], [44, 56]]);
  });
});

describe('constructors', () => {
  it('rep, ones, zeros', () => {
    expect(fn('rep', 2.5, 2, 3).shape).toEqual([2, 3]);
    expect([...fn('rep', 2.5, 2, 3).values]).toEqual(new Array(6).fill(2.5));
    expect(nested(fn('ones', 3))).toEqual([1, 1, 1]);
    expect(nested(fn('zeros', 1, 2))).toEqual([[0, 0]]);
    expect(() => fn('ones', 1.5)).toThrow(/non-negative integers/);
  });
});

describe('operators', () => {
  it('arithmetic, with floored modulo as tf.mod', () => {
    expect(op('/', 1, 4).values[0]).toBe(0.25);
    expect(op('^', 2, 10).values[0]).toBe(1024);
    expect(op('%', [7, -7], 3).values).toEqual(Float64Array.of(1, 2));
    expect(op('neg', [1, -2]).values).toEqual(Float64Array.of(-1, 2));
  });
  it('comparisons and logic give 0/1', () => {
    expect(op('<', [1, 2, 3], 2).values).toEqual(Float64Array.of(1, 0, 0));
    expect(op('>=', [1, 2, 3], 2).values).toEqual(Float64Array.of(0, 1, 1));
    expect(op('==', [1, 2], [1, 3]).values).toEqual(Float64Array.of(1, 0));
    expect(op('!=', [1, 2], [1, 3]).values).toEqual(Float64Array.of(0, 1));
    expect(op('&&', [1, 1, 0], [1, 0, 0]).values).toEqual(Float64Array.of(1, 0, 0));
    expect(op('||', [1, 1, 0], [1, 0, 0]).values).toEqual(Float64Array.of(1, 1, 0));
    expect(op('!', [1, 0]).values).toEqual(Float64Array.of(0, 1));
  });
  it('the ternary broadcasts condition and branches (as in the stdlib dp_mix lets)', () => {
    // [K,1] > [K-1] -> [K, K-1]
    const k = [[1], [2], [3]];
    const j = [1, 2];
    const before = applyOperator('?:', [op('>', k, j), scalar(1), scalar(0)]);
    expect(nested(before)).toEqual([[0, 0], [1, 0], [1, 1]]);
  });
});

describe('indexing', () => {
  const m = nd([[1, 2, 3], [4, 5, 6]]);
  it('scalar indices drop axes; array indices replace them', () => {
    expect(nested(indexArray(m, [scalar(2)]))).toEqual([4, 5, 6]);
    expect(indexArray(m, [scalar(2), scalar(3)]).values[0]).toBe(6);
    expect(nested(indexArray(m, [nd([2, 1, 2])]))).toEqual([[4, 5, 6], [1, 2, 3], [4, 5, 6]]);
    expect(nested(indexArray(m, [scalar(1), nd([3, 1])]))).toEqual([3, 1]);
  });
  it('reports out-of-range and non-integer indices', () => {
    expect(() => indexArray(m, [scalar(3)], "'m'")).toThrow(/index 3 is out of range for 'm': axis 1 has length 2/);
    expect(() => indexArray(m, [scalar(0)], "'m'")).toThrow(/1-based/);
    expect(() => indexArray(m, [scalar(1.5)], "'m'")).toThrow(/not an integer/);
  });
  it('stack makes vector literals of rows', () => {
    expect(stack([nd([1, 2]), nd([3, 4])]).shape).toEqual([2, 2]);
    expect(() => stack([nd([1, 2]), nd([3])])).toThrow(/one shape/);
  });
});
