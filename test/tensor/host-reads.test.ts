// The host-read protocol's drivers and its owned reads: runSync and runAsync give a step the
// values it yields for; readOwned disposes the tensors it reads after the read, when the read
// fails (the driver throws into the step) and when the run is abandoned (return); and
// readValueAndGrad gives a scalar and a gradient.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBackend } from '../../src';
import { tf, runSync, runAsync, readOwned, readValueAndGrad, type HostSteps } from '../../src/tensor';

beforeAll(async () => {
  await ensureBackend();
});

/** A step that reads two tensors it made and sums their values. */
function* sumOfTwo(): HostSteps<number> {
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.scalar(10);
  const [va, vb] = yield* readOwned([a, b]);
  return Array.from(va).reduce((s, v) => s + v, 0) + vb[0];
}

describe('host reads', () => {
  it('runSync and runAsync give the values; readOwned leaves no tensor', async () => {
    const before = tf.memory().numTensors;
    expect(runSync(sumOfTwo())).toBe(16);
    expect(await runAsync(sumOfTwo())).toBe(16);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('readOwned disposes its tensors when the read fails and when the run is abandoned', () => {
    const t = tf.tensor1d([1, 2]);
    const failed = readOwned([t]);
    expect(failed.next().value).toEqual({ read: [t] });
    expect(t.isDisposed).toBe(false);
    expect(() => failed.throw(new Error('read failed'))).toThrow('read failed');
    expect(t.isDisposed).toBe(true);
    const u = tf.tensor1d([3]);
    const abandoned = readOwned([u]);
    abandoned.next();
    abandoned.return([]);
    expect(u.isDisposed).toBe(true);
  });

  it('readValueAndGrad gives the scalar and the gradient as float64', () => {
    const before = tf.memory().numTensors;
    const { value, grad } = tf.tidy(() => {
      const r = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, -2]));
      return { value: tf.keep(r.value), grad: tf.keep(r.grad) };
    });
    const r = runSync(readValueAndGrad(value, grad));
    expect(r.value).toBe(5);
    expect(r.grad).toBeInstanceOf(Float64Array);
    expect(Array.from(r.grad)).toEqual([2, -4]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
