// Progress reports of the score-based samplers (scoreSample's onProgress and the CLI's line):
// one call per iteration, level or reverse step, in order, with the phase lengths the run
// used, and the draws unchanged by watching them.
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, ensureBackend } from '../../src';
import { scoreSample, type ScoreProgress } from '../../src/infer/score';
import { scoreProgressLine } from '../../src/cli/approx';
import { NORMAL_MEAN } from './conjugate-models';

beforeAll(async () => {
  await ensureBackend();
});

const y = [2.1, 3.4, 1.2, 2.8, 0.9, 2.5, 3.1, 1.7];

describe('scoreSample onProgress', () => {
  it('mala: one call per warm-up and sampling iteration, in order; the same draws as an unwatched run', () => {
    const bound = compile(NORMAL_MEAN).bind({ y });
    const seen: ScoreProgress[] = [];
    const watched = scoreSample(bound, { method: 'mala', chains: 2, warmup: 30, draws: 20, seed: 4, onProgress: (p) => seen.push(p) });
    const plain = scoreSample(bound, { method: 'mala', chains: 2, warmup: 30, draws: 20, seed: 4 });
    expect(watched.draws('mu')).toEqual(plain.draws('mu'));
    const w = seen.filter((p) => p.method === 'mala' && p.phase === 'warmup');
    const s = seen.filter((p) => p.method === 'mala' && p.phase === 'sampling');
    expect(w.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(s.map((p) => p.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(seen.length).toBe(50);
    for (const p of seen) if (p.method === 'mala') expect(p.accept >= 0 && p.accept <= 1).toBe(true);
    expect(scoreProgressLine(s[19])).toMatch(/^MALA sampling 20\/20 {2}acceptance 0\.\d{3}$/);
  });

  it('annealed Langevin: one call per level, β rising to 1; rdMC: one per reverse step', () => {
    const bound = compile(NORMAL_MEAN).bind({ y });
    const seen: ScoreProgress[] = [];
    const r = scoreSample(bound, { method: 'annealed-langevin', chains: 2, draws: 50, seed: 2, onProgress: (p) => seen.push(p) });
    expect(seen.length).toBe(r.annealing!.betas.length - 1);
    const betas = seen.map((p) => (p.method === 'annealed-langevin' ? p.beta : NaN));
    expect(betas).toEqual(r.annealing!.betas.slice(1));
    expect(betas.at(-1)).toBe(1);
    expect(scoreProgressLine(seen.at(-1)!)).toMatch(new RegExp(`^annealed Langevin level ${seen.length} {2}beta 1\\.0000 {2}ESS \\d+/100$`));
    const rd: ScoreProgress[] = [];
    scoreSample(bound, { method: 'rdmc', chains: 2, draws: 10, steps: 12, seed: 2, onProgress: (p) => rd.push(p) });
    expect(rd.map((p) => p.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(scoreProgressLine(rd[11])).toMatch(/^rdMC step 12\/12 {2}inner ESS \d+\.\d$/);
  });
});
