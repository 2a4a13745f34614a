// Bad data gives an error naming the variable and what was expected, never a crash or NaN.
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor';
import { compile, MixError } from '../../src';

beforeAll(async () => {
  await useBackend('cpu');
});

const model = compile(`
  model m {
    data K: int
    data x: real[N, D]
    data y: int<lower=1, upper=K>[N]
    param mu: real[K, D]
    for n in 1..N {
      x[n] ~ normal(mu[y[n]], 1)
    }
  }`);

const good = { K: 2, x: [[0, 1], [1, 2], [2, 3]], y: [1, 2, 1] };

function bindError(data: Record<string, unknown>): string {
  try {
    model.bind(data as never);
  } catch (e) {
    expect(e).toBeInstanceOf(MixError);
    return (e as MixError).diagnostics.map((d) => d.message).join('\n');
  }
  throw new Error('expected a data error');
}

describe('bad data', () => {
  it('binds good data and reads sizes off the shapes', () => {
    const b = model.bind(good);
    expect(b.sizes.get('N')).toBe(3);
    expect(b.sizes.get('D')).toBe(2);
    expect(Number.isFinite(b.logDensity({ mu: [[0, 0], [1, 1]] }))).toBe(true);
  });
  it('takes typed arrays as vectors, at any level of nesting, with the sizes read off them', () => {
    const mu = { mu: [[0, 0], [1, 1]] };
    const want = model.bind(good).logDensity(mu);
    const typed = model.bind({ K: 2, x: good.x.map((r) => Float32Array.from(r)), y: Int32Array.from(good.y) });
    expect(typed.sizes.get('N')).toBe(3);
    expect(typed.sizes.get('D')).toBe(2);
    expect(typed.logDensity(mu)).toBe(want);
    expect(bindError({ ...good, x: [Float64Array.of(0, 1), Float64Array.of(1), Float64Array.of(2, 3)] })).toMatch(/data 'x' is ragged: 'x\[2\]' has 1 elements, expected 2/);
    expect(bindError({ ...good, y: BigInt64Array.of(1n, 2n, 1n) })).toMatch(/data 'y\[1\]' is 1n, not a number/);
    expect(bindError({ ...good, y: new DataView(new ArrayBuffer(8)) })).toMatch(/data 'y' must be a number or an array of numbers, got object/);
  });
  it('names a missing data variable and its type', () => {
    expect(bindError({ K: 2, x: good.x })).toMatch(/missing data 'y' \(int\[3\]\)/);
  });
  it('names a wrong shape', () => {
    expect(bindError({ ...good, y: [1, 2] })).toMatch(/size 'N' is 3 from dimension 1 of 'x' but 2 from dimension 1 of 'y'/);
  });
  it('names a NaN with its position', () => {
    expect(bindError({ ...good, x: [[0, 1], [1, NaN], [2, 3]] })).toMatch(/data 'x\[2, 2\]' is NaN/);
  });
  it('names an infinity', () => {
    expect(bindError({ ...good, x: [[0, 1], [1, 2], [Infinity, 3]] })).toMatch(/data 'x\[3, 1\]' is Infinity/);
  });
  it('names a non-integer where an int is declared', () => {
    expect(bindError({ ...good, y: [1, 1.5, 2] })).toMatch(/data 'y\[2\]' is 1.5, but 'y' is declared int/);
  });
  it('names a category index out of range', () => {
    expect(bindError({ ...good, y: [1, 3, 2] })).toMatch(/data 'y\[2\]' is 3, above its upper bound 2/);
    expect(bindError({ ...good, y: [0, 1, 2] })).toMatch(/data 'y\[1\]' is 0, below its lower bound 1/);
  });
  it('names a ragged array', () => {
    expect(bindError({ ...good, x: [[0, 1], [1], [2, 3]] })).toMatch(/data 'x' is ragged: 'x\[2\]' has 1 elements, expected 2/);
  });
  it('names a non-number', () => {
    expect(bindError({ ...good, x: [[0, 1], [1, 'a'], [2, 3]] })).toMatch(/data 'x\[2, 2\]' is "a", not a number/);
  });
  it('names a wrong parameter shape and a missing parameter', () => {
    const b = model.bind(good);
    expect(() => b.logDensity({ mu: [0, 1] })).toThrow(/parameter 'mu' has shape \[2\] but is declared with shape \[2, 2\]/);
    expect(() => b.logDensity({})).toThrow(/no value for parameter 'mu'/);
  });
  it('reports a NaN log density with the statement that made it', () => {
    const m = compile(`model s { data y: real[N] param s: real  y ~ normal(0, s) }`).bind({ y: [1, 2] });
    expect(() => m.logDensity({ s: -1 })).toThrow(/NaN log density/);
  });
});
