// Random well-typed mixture models (mixppl/testing's arbitraries: every component family,
// covariance form, HMM chains, explicit latents, regressors) with data simulated from them:
// the tensor evaluator on wasm (the default backend) gives the log density and the potential's
// gradient that it gives on cpu, within float32 rounding; and on wasm the batched potential
// of several points equals each point's own. A wrong kernel on one backend, on the paths
// these models take, shows up here as a disagreement (a log density 0.1% off on wasm fails
// both checks). tfjs-wasm's gather with batchDims was on a path they do not take (an index
// after a loop index: test/model/indexing.test.ts runs those cases on both backends).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runSync, useBackend } from '../../src/tensor';
import { mixtureProblem, type MixtureProblem } from '../../src/testing/arbitraries';

afterAll(async () => {
  await useBackend('wasm');
});

/** Each float32 operation rounds at 2^-24 relative; a few hundred of them over terms of the magnitude of the sum. */
const close = (a: number, b: number, mag: number) => Math.abs(a - b) <= 1e-4 * (1 + mag);

/** The log density at the true values, and the potential and its gradient at their unconstrained vector, on one backend. */
async function evaluateOn(backend: 'cpu' | 'wasm', p: MixtureProblem): Promise<{ lp: number; u: Float64Array; value: number; grad: Float64Array }> {
  await useBackend(backend);
  const bm = p.model.bind(p.data);
  try {
    const lp = bm.logDensity(p.trueParams);
    const u = bm.unconstrain(p.trueParams);
    const { value, grad } = bm.potentialAndGrad(u);
    return { lp, u, value, grad };
  } finally {
    bm.dispose();
  }
}

describe('the tensor evaluator on random models', () => {
  it('wasm gives cpu\'s log density and potential gradient', async () => {
    await useBackend('wasm');
    await fc.assert(fc.asyncProperty(mixtureProblem({ maxN: 6 }), async (p) => {
      const w = await evaluateOn('wasm', p);
      const c = await evaluateOn('cpu', p);
      await useBackend('wasm');
      if (!Number.isFinite(c.lp)) return; // a draw on the edge of the support: nothing to compare
      expect(close(w.lp, c.lp, Math.abs(c.lp)), `${p.source}\nlog density: wasm ${w.lp}, cpu ${c.lp}`).toBe(true);
      expect(close(w.value, c.value, Math.abs(c.value)), `${p.source}\npotential: wasm ${w.value}, cpu ${c.value}`).toBe(true);
      const gmax = c.grad.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
      c.grad.forEach((g, i) => expect(close(w.grad[i], g, gmax), `${p.source}\ngradient ${i}: wasm ${w.grad[i]}, cpu ${g}`).toBe(true));
    }), { numRuns: 40, seed: 20261203 });
  }, 240_000);

  it('on wasm, the potential of a batch of points equals each point\'s own', async () => {
    await useBackend('wasm');
    await fc.assert(fc.asyncProperty(mixtureProblem({ maxN: 6 }), fc.integer({ min: 2, max: 4 }), async (p, B) => {
      const bm = p.model.bind(p.data);
      try {
        const u0 = bm.unconstrain(p.trueParams);
        const pts = Array.from({ length: B }, (_, r) => u0.map((v, i) => v + 0.3 * Math.sin(1 + i + 2.3 * r)));
        const got = runSync(bm.potentialAndGradBatchSteps(pts));
        pts.forEach((u, b) => {
          const want = bm.potentialAndGrad(u);
          if (!Number.isFinite(want.value)) return;
          expect(close(got.values[b], want.value, Math.abs(want.value)), `${p.source}\npoint ${b}: batch ${got.values[b]}, alone ${want.value}`).toBe(true);
          const gmax = want.grad.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
          want.grad.forEach((g, i) => expect(close(got.grads[b][i], g, gmax), `${p.source}\npoint ${b} gradient ${i}`).toBe(true));
        });
      } finally {
        bm.dispose();
      }
    }), { numRuns: 40, seed: 20261204 });
  }, 240_000);
});
