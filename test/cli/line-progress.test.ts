// LineProgress: the one-line display of VI's steps (throttled, TTY only), and VI's onStep hook.
import { beforeAll, describe, expect, it } from 'vitest';
import { LineProgress, lineProgressFor } from '../../src/cli/progress';
import { compile, ensureBackend, vi } from '../../src';
import { smc } from '../../src/infer/smc';

beforeAll(async () => {
  await ensureBackend();
});

function sink(isTTY = true) {
  const out: string[] = [];
  return { out, isTTY, write: (s: string) => out.push(s) };
}

describe('LineProgress', () => {
  it('redraws in place at most once per interval, unless forced, and ends the line once', () => {
    const s = sink();
    let t = 0;
    const p = new LineProgress(s, { intervalMs: 100, now: () => t });
    p.update('a');
    t = 50;
    p.update('b');
    t = 150;
    p.update('c');
    t = 160;
    p.update('d', true);
    p.finish();
    p.finish();
    expect(s.out).toEqual(['\ra\x1b[K', '\rc\x1b[K', '\rd\x1b[K', '\n']);
  });
  it('is off for a pipe and with --quiet', () => {
    expect(lineProgressFor(sink(false), false)).toBeUndefined();
    expect(lineProgressFor(sink(true), true)).toBeUndefined();
    expect(lineProgressFor(sink(true), false)).toBeInstanceOf(LineProgress);
  });
});

describe('vi onStep', () => {
  it('is called once per step with the step limit, the estimate and the last window mean', () => {
    const bm = compile('model m { param x: real  x ~ normal(1, 2) }').bind({});
    const seen: [number, number, number, number][] = [];
    const fit = vi(bm, { steps: 250, window: 100, seed: 1, stopAtConvergence: false, onStep: (t, n, e, m) => seen.push([t, n, e, m]) });
    expect(seen.map((x) => x[0])).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(seen.every((x) => x[1] === 250)).toBe(true);
    expect(seen.map((x) => x[2])).toEqual(Array.from(fit.elboRaw));
    expect(Number.isNaN(seen[99][3])).toBe(true); // the first window closes after step 100
    expect(Number.isFinite(seen[100][3])).toBe(true);
  });
});

describe('smc onStage', () => {
  it('is called once per stage with β rising to 1 and the ESS after reweighting', () => {
    const model = compile('model m { data y: real[N]  param mu: real  mu ~ normal(0, 3)  for n in 1..N { y[n] ~ normal(mu, 1) } }');
    const y = [0.3, 1.2, 0.8, 1.9, 1.1];
    const seen: [number, number, number][] = [];
    const r = smc(model, model.bind({ y }), { particles: 200, seed: 3, data: { y }, onStage: (k, b, e) => seen.push([k, b, e]) });
    expect(seen.map((x) => x[0])).toEqual(seen.map((_, i) => i + 1));
    expect(seen.map((x) => x[1])).toEqual(r.betas.slice(1));
    expect(seen.map((x) => x[2])).toEqual(r.ess.slice(1));
  });
});
