import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend } from '../../src/tensor';
import { gaussianEStep, gaussianEStepReference, GAUSSIAN_ESTEP_KERNEL, type EStepResult } from '../../src/tensor/fused';
import { gaussianSuffStats, gaussianSuffStatsReference, GAUSSIAN_SUFF_STATS_KERNEL } from '../../src/tensor/fused';
import { estepDisagreement, makeEStepCase, suffStatsDisagreement, type EStepArrays, type EStepOutputs } from '../../src/tensor/fused/tolerance';

// Tolerances: estepDisagreement's float32 error model (src/tensor/fused/tolerance.ts), a
// per-element bound from the sums of magnitudes each output is computed from; a ratio <= 1
// is agreement. Deliberately wrong variants below show the bound is tight enough to fail.

function tensorsOf(c: EStepArrays) {
  const { N, K, D, diagonal } = c;
  return {
    x: tf.tensor2d(c.x as Float32Array, [N, D]),
    means: tf.tensor2d(c.means as Float32Array, [K, D]),
    precChol: diagonal ? tf.tensor2d(c.precChol as Float32Array, [K, D]) : tf.tensor3d(c.precChol as Float32Array, [K, D, D]),
    logWeights: tf.tensor1d(c.logWeights as Float32Array),
  };
}

async function read(r: EStepResult): Promise<EStepOutputs> {
  const out = { logJoint: await r.logJoint.data(), logMarginal: await r.logMarginal.data(), resp: await r.resp.data() };
  tf.dispose([r.logJoint, r.logMarginal, r.resp]);
  return out;
}

/** Fused vs reference on one seeded case; returns the worst |diff| / tolerance. */
async function compare(c: EStepArrays, perturb?: (t: ReturnType<typeof tensorsOf>) => ReturnType<typeof tensorsOf>): Promise<{ ratio: number; where: string }> {
  const t = tensorsOf(c);
  const fused = await read(gaussianEStep(t.x, t.means, t.precChol, t.logWeights, { impl: 'fused' }));
  const r = perturb ? perturb(t) : t;
  const ref = await read(gaussianEStepReference(r.x, r.means, r.precChol, r.logWeights));
  tf.dispose([...Object.values(t), ...Object.values(r)]);
  return estepDisagreement(c, fused, ref);
}

const shapes = fc.record({
  N: fc.integer({ min: 1, max: 48 }),
  K: fc.integer({ min: 1, max: 6 }),
  D: fc.integer({ min: 1, max: 6 }),
  diagonal: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

describe.each(['cpu', 'wasm'] as const)('fused Gaussian E-step on %s', (backend) => {
  it('has a registered kernel, and auto runs it', async () => {
    await useBackend(backend);
    expect(tf.getKernel(GAUSSIAN_ESTEP_KERNEL, backend)).toBeDefined();
    const t = tensorsOf(makeEStepCase(1, 10, 3, 2, false));
    const prof = await tf.profile(() => {
      const r = gaussianEStep(t.x, t.means, t.precChol, t.logWeights);
      return [r.logJoint, r.logMarginal, r.resp];
    });
    expect(prof.kernelNames).toEqual([GAUSSIAN_ESTEP_KERNEL]);
    tf.dispose(Object.values(t));
  });

  it(`auto picks ${backend === 'wasm' ? 'the plain ops for large problems' : 'the kernel for large problems too'}`, async () => {
    await useBackend(backend);
    const t = tensorsOf(makeEStepCase(3, 70000, 8, 2, true)); // 1.12e6 inner steps
    const prof = await tf.profile(() => {
      const r = gaussianEStep(t.x, t.means, t.precChol, t.logWeights);
      return [r.logJoint, r.logMarginal, r.resp];
    });
    expect(prof.kernelNames.includes(GAUSSIAN_ESTEP_KERNEL)).toBe(backend !== 'wasm');
    tf.dispose(Object.values(t));
  });

  it('agrees with the plain-op reference on random inputs (diagonal and full)', async () => {
    await useBackend(backend);
    await fc.assert(
      fc.asyncProperty(shapes, async ({ N, K, D, diagonal, seed }) => {
        const { ratio, where } = await compare(makeEStepCase(seed, N, K, D, diagonal));
        if (!(ratio <= 1)) throw new Error(`disagreement ${ratio.toFixed(2)}x the tolerance at ${where}`);
      }),
      { numRuns: 60, seed: 20261202 },
    );
  });

  it('detects deliberately wrong variants (the tolerance can fail)', async () => {
    await useBackend(backend);
    const full = makeEStepCase(5, 30, 3, 4, false);
    // Reading the lower triangle instead of the upper one.
    const lower = await compare(full, (t) => ({ ...t, precChol: tf.transpose(t.precChol, [0, 2, 1]) }));
    expect(lower.ratio).toBeGreaterThan(1);
    // A log weight off by 1e-3.
    const off = await compare(full, (t) => ({ ...t, logWeights: tf.add(t.logWeights, tf.oneHot(0, 3).asType('float32').mul(1e-3)) }));
    expect(off.ratio).toBeGreaterThan(1);
    // A mean off by 1e-3 in one coordinate (diagonal case).
    const diag = makeEStepCase(6, 30, 3, 4, true);
    const mean = await compare(diag, (t) => ({ ...t, means: tf.add(t.means, tf.mul(tf.oneHot([0], 12).reshape([3, 4]).asType('float32'), 1e-3)) }));
    expect(mean.ratio).toBeGreaterThan(1);
  });

  it('keeps far-away points finite (log-sum-exp shift) and handles a zero weight', async () => {
    await useBackend(backend);
    const c = makeEStepCase(9, 20, 4, 3, false);
    for (let i = 0; i < c.x.length; i++) c.x[i] += 200; // every point ~200 from every mean: lj ~ -1e4
    c.logWeights[2] = -Infinity;
    const t = tensorsOf(c);
    const r = await read(gaussianEStep(t.x, t.means, t.precChol, t.logWeights, { impl: 'fused' }));
    tf.dispose(Object.values(t));
    for (let n = 0; n < c.N; n++) {
      expect(Number.isFinite(r.logMarginal[n])).toBe(true);
      expect(r.logMarginal[n]).toBeLessThan(-1000);
      let s = 0;
      for (let k = 0; k < 4; k++) s += r.resp[n * 4 + k];
      expect(Math.abs(s - 1)).toBeLessThan(4 * 2 ** -24 * 4); // K roundings of ~1
      expect(r.resp[n * 4 + 2]).toBe(0);
      expect(r.logJoint[n * 4 + 2]).toBe(-Infinity);
    }
    expect((await compare(c)).ratio).toBeLessThanOrEqual(1);
  });

  it('refuses bad input with a RangeError naming the op', async () => {
    await useBackend(backend);
    const t = tensorsOf(makeEStepCase(2, 5, 2, 3, false));
    const call = (o: Partial<Record<keyof typeof t, tf.Tensor>>, opts = {}) => () => {
      const a: Record<keyof typeof t, tf.Tensor> = { ...t, ...o };
      gaussianEStep(a.x, a.means, a.precChol, a.logWeights, opts);
    };
    expect(call({ x: tf.zeros([5]) })).toThrow(/gaussianEStep: x must be \[N, D\]/);
    expect(call({ means: tf.zeros([2, 4]) })).toThrow(/gaussianEStep: means must be \[K, 3\]/);
    expect(call({ precChol: tf.zeros([2, 3, 2]) })).toThrow(/precChol must be \[2, 3\] \(diagonal\) or \[2, 3, 3\] \(full\)/);
    expect(call({ logWeights: tf.zeros([3]) })).toThrow(/logWeights must be \[2\]/);
    expect(call({ x: tf.zeros([5, 3], 'int32') })).toThrow(/x must be float32/);
    expect(call({ means: tf.tensor2d([[0, NaN, 0], [0, 0, 0]]) })).toThrow(/means\[0, 1\] is NaN/);
    expect(call({ precChol: tf.tensor2d([[1, 1, 1], [1, 0, 1]]) })).toThrow(/precChol\[1, 1\] is 0/);
    expect(call({ logWeights: tf.tensor1d([0, NaN]) })).toThrow(/logWeights\[1\] is NaN/);
    expect(call({}, { impl: 'gpu' })).toThrow(/impl must be 'auto', 'fused' or 'reference'/);
    // The lower triangle is not read, so NaN there is not an error.
    const p = t.precChol.arraySync() as number[][][];
    p[0][2][0] = NaN;
    expect(call({ precChol: tf.tensor3d(p) })).not.toThrow();
  });
});

// Sufficient statistics: suffStatsDisagreement's bound (src/tensor/fused/tolerance.ts).
describe.each(['cpu', 'wasm'] as const)('fused sufficient statistics on %s', (backend) => {
  const runStats = async (c: EStepArrays, diagonal: boolean, withCentre: boolean, impl: 'fused' | 'reference', respOverride?: Float32Array) => {
    const { N, K, D } = c;
    const t = tensorsOf(c);
    const resp = respOverride ? tf.tensor2d(respOverride, [N, K]) : tf.keep(gaussianEStep(t.x, t.means, t.precChol, t.logWeights, { impl: 'reference' }).resp);
    const centre = withCentre ? t.means : undefined;
    const st = impl === 'fused' ? gaussianSuffStats(t.x, resp, { diagonal, centre, impl }) : gaussianSuffStatsReference(t.x, resp, { diagonal, centre });
    const [nv, s1v, s2v] = [await st.n.data(), await st.s1.data(), await st.s2.data()];
    const w2 = diagonal ? D : D * D;
    const rows = Array.from({ length: K }, (_, k) => [nv[k], ...Array.from(s1v.slice(k * D, (k + 1) * D)), ...Array.from(s2v.slice(k * w2, (k + 1) * w2))]);
    const respData = (await resp.data()) as Float32Array;
    tf.dispose([...Object.values(t), resp, st.n, st.s1, st.s2]);
    return { rows, resp: respData, centre: withCentre ? (c.means as Float32Array) : undefined };
  };

  it('agrees with the plain-op reference on random inputs', async () => {
    await useBackend(backend);
    expect(tf.getKernel(GAUSSIAN_SUFF_STATS_KERNEL, backend)).toBeDefined();
    await fc.assert(
      fc.asyncProperty(shapes, fc.boolean(), async ({ N, K, D, diagonal, seed }, withCentre) => {
        const c = makeEStepCase(seed, N, K, D, true);
        const a = await runStats(c, diagonal, withCentre, 'fused');
        const b = await runStats(c, diagonal, withCentre, 'reference');
        const w = suffStatsDisagreement(c, a.resp, a.centre, diagonal, a.rows, b.rows);
        if (!(w <= 1)) throw new Error(`disagreement ${w.toFixed(2)}x the tolerance`);
      }),
      { numRuns: 40, seed: 20261204 },
    );
  });

  it('detects a wrong variant (one responsibility off by 1e-3)', async () => {
    await useBackend(backend);
    const c = makeEStepCase(12, 40, 3, 3, true);
    const a = await runStats(c, false, true, 'fused');
    const wrongResp = Float32Array.from(a.resp, (v, i) => (i === 4 ? v + 1e-3 : v));
    const b = await runStats(c, false, true, 'reference', wrongResp);
    expect(suffStatsDisagreement(c, a.resp, a.centre, false, a.rows, b.rows)).toBeGreaterThan(1);
  });

  it('refuses bad shapes with a RangeError naming the op', async () => {
    await useBackend(backend);
    const x = tf.zeros([5, 2]);
    expect(() => gaussianSuffStats(x, tf.zeros([4, 3]))).toThrow(/gaussianSuffStats: resp must be \[5, K\]/);
    expect(() => gaussianSuffStats(x, tf.zeros([5, 3]), { centre: tf.zeros([3, 3]) })).toThrow(/centre must be \[3, 2\]/);
    expect(() => gaussianSuffStats(tf.zeros([5]), tf.zeros([5, 3]))).toThrow(/x must be \[N, D\]/);
    tf.dispose(x);
  });
});
