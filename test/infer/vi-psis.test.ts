import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpdFit, psis } from '../../src/infer/vi/psis';

interface Case { name: string; logRatios: number[]; khat: number; logWeights: number[] }
const ref = JSON.parse(readFileSync(new URL('./fixtures/psis-reference.json', import.meta.url), 'utf8')) as { loo: string; cases: Case[] };

function normalise(lw: Float64Array): Float64Array {
  let m = -Infinity;
  for (const v of lw) m = Math.max(m, v);
  let s = 0;
  for (const v of lw) s += Math.exp(v - m);
  const l = Math.log(s) + m;
  return lw.map((v) => v - l);
}

describe('psis against loo (scripts/psis-reference.R)', () => {
  it.each(ref.cases.map((c) => [c.name, c] as const))('%s: k̂ and smoothed weights match', (_n, c) => {
    const r = psis(c.logRatios);
    expect(r.khat).toBeCloseTo(c.khat, 10);
    const lw = normalise(r.logWeights);
    for (let i = 0; i < lw.length; i++) expect(lw[i]).toBeCloseTo(c.logWeights[i], 10);
  });

  it('the fixture covers light and heavy tails', () => {
    const ks = ref.cases.map((c) => c.khat);
    expect(Math.min(...ks)).toBeLessThan(0.5);
    expect(Math.max(...ks)).toBeGreaterThan(1);
  });
});

describe('psis input checks', () => {
  it('refuses NaN and +Infinity log ratios and all -Infinity', () => {
    expect(() => psis([0, 1, NaN])).toThrow(/log ratio 2 is NaN/);
    expect(() => psis([0, Infinity])).toThrow(/log ratio 1/);
    expect(() => psis(new Array(20).fill(-Infinity))).toThrow(/every log ratio/);
  });
  it('returns NaN k̂ for too few draws, and leaves -Infinity ratios at zero weight', () => {
    expect(psis([1, 2, 3]).khat).toBeNaN();
    const lw = Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? -Infinity : Math.sin(i)));
    const r = psis(lw);
    expect(Number.isFinite(r.khat)).toBe(true);
    expect(r.logWeights[0]).toBe(-Infinity);
  });
  it('gpdFit refuses unsorted or negative exceedances', () => {
    expect(() => gpdFit([1, 2, 3])).toThrow(/at least 5/);
    expect(() => gpdFit([1, 2, 3, 5, 4])).toThrow(/sorted/);
    expect(() => gpdFit([-1, 2, 3, 4, 5])).toThrow(/exceedance 0/);
  });
});
