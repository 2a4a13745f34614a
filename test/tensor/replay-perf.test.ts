// The compiled replay's fused loops (src/tensor/replay-kernels.ts, `compileProgram`):
// the fused program gives the same value and gradient as the unfused one, and repeated
// calls at changing points agree with a fresh recording (the backward pass zeroes the
// adjoints of fused slots behind itself instead of a fill before each call, so a leak
// would show up on the second call). Everything is float64: equal up to rounding, so
// the tolerance is a few ulps of the gradient's scale (1e-12 relative).
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { traceFunction } from '../../src/tensor/trace';
import { compileProgram } from '../../src/tensor/replay-kernels';

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
    const tr = traceFunction(f, point(bound.dim, 1)) as unknown as {
      valueAndGrad(u: ArrayLike<number>, g: Float64Array): number; program: unknown; nodes: unknown[];
    };
    const fused = tr.program as { cleared: number[] };
    expect(fused.cleared.length).toBeGreaterThan(0);
    const u = point(bound.dim, 2);
    const g1 = new Float64Array(bound.dim);
    const v1 = tr.valueAndGrad(u, g1);
    tr.program = compileProgram(tr.nodes as Parameters<typeof compileProgram>[0]);
    const g2 = new Float64Array(bound.dim);
    const v2 = tr.valueAndGrad(u, g2);
    expect(Math.abs(v1 - v2)).toBeLessThanOrEqual(1e-12 * Math.abs(v2));
    close(g1, g2);
    bound.dispose();
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
