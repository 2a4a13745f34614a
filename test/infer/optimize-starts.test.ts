// MAP / MLE from several starts in lockstep (src/infer/optimize): each round every start still
// iterating is evaluated in one batched evaluation; every start must still reach the optimum
// on its own evaluations (the closed-form MLE of a normal sample), and a lone start is
// evaluated point by point.
import { describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { optimize } from '../../src/infer/optimize';
import type { BoundModel } from '../../src/model/bound-model';

await ensureBackend();

const y = [2.1, 0.4, 1.7, 3.3, 2.8, 1.1, 0.9, 2.5, 1.6, 2.2, 3.0, 1.4];
const model = compile(`model m { data y: real[N]  param mu: real  param s: positive
  mu ~ normal(0, 10)
  s ~ half_normal(5)
  y ~ normal(mu, s) }`);

/** Records the number of points of every batched evaluation the bound model is asked for. */
function spy(bm: BoundModel): { batches: number[]; singles: number } {
  const seen = { batches: [] as number[], singles: 0 };
  const batch = bm.potentialAndGradBatchSteps.bind(bm);
  const single = bm.potentialAndGradSteps.bind(bm);
  bm.potentialAndGradBatchSteps = (points, opts) => { seen.batches.push((points as unknown[]).length); return batch(points, opts); };
  bm.potentialAndGradSteps = (u, opts) => { seen.singles++; return single(u, opts); };
  return seen;
}

describe('optimize: the starts in lockstep', () => {
  it('evaluates the running starts together, and every start reaches the closed-form MLE', () => {
    const bm = model.bind({ y });
    const seen = spy(bm);
    const r = optimize(bm, { method: 'mle', nInit: 4, seed: 3 });
    const n = y.length;
    const mean = y.reduce((a, b) => a + b) / n;
    const sd = Math.sqrt(y.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
    const ll = -n * (Math.log(sd) + 0.5 * Math.log(2 * Math.PI) + 0.5);
    expect(r.converged).toBe(true);
    expect(Math.abs((r.params.mu as number) - mean)).toBeLessThan(1e-3);
    expect(Math.abs((r.params.s as number) - sd)).toBeLessThan(1e-3);
    // Float32 evaluations: each start's optimum within 1e-4 relative of the exact log likelihood.
    expect(r.starts).toHaveLength(4);
    for (const v of r.starts) expect(Math.abs(v - ll), `start at ${v}, exact ${ll}`).toBeLessThan(1e-4 * Math.abs(ll));
    // The first round asks for the four starting points at once; no round for more than four.
    expect(seen.batches[0]).toBe(4);
    expect(Math.max(...seen.batches)).toBe(4);
    bm.dispose();
  });

  it('a single start (given init) is evaluated point by point', () => {
    const bm = model.bind({ y });
    const seen = spy(bm);
    const r = optimize(bm, { method: 'map', init: { mu: 0, s: 1 } });
    expect(r.converged).toBe(true);
    expect(seen.batches).toEqual([]);
    expect(seen.singles).toBeGreaterThan(3);
    bm.dispose();
  });
});
