// Every worked example in examples/ runs with its one command (the binary, as a user runs
// it) and gives the known answer for its data.
import { describe, expect, it } from 'vitest';
import { mixppl } from './run';



const estimate = (out: string, name: string) => Number(new RegExp(`^${name.replace('.', '\\.')}\\s+(\\S+)`, 'm').exec(out)?.[1]);

describe('worked examples', () => {
  it('geyser-hmm: short waits are followed by long ones (Azzalini and Bowman 1990)', () => {
    const r = mixppl('fit', 'examples/geyser-hmm/geyser.mix', '--data', 'examples/geyser-hmm/geyser.csv');
    expect(r.code, r.stderr).toBe(0);
    // State 1 (short waits, mean ~ 59 min) is followed by state 2 almost surely.
    expect(estimate(r.stdout, 'A.1.2')).toBeGreaterThan(0.95);
    expect(estimate(r.stdout, 'mu.1')).toBeGreaterThan(50);
    expect(estimate(r.stdout, 'mu.1')).toBeLessThan(65);
    expect(estimate(r.stdout, 'mu.2')).toBeGreaterThan(75);
  }, 120_000);

  it('discoveries: BIC prefers two Poisson rates to one (overdispersed counts)', () => {
    const r = mixppl('select', 'examples/discoveries/discoveries.mix', '--data', 'examples/discoveries/discoveries.csv', '--k', '1..3', '--n-init', '4');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/best by BIC: discoveries with K = 2/);
  }, 120_000);

  it('iris: three diagonal Gaussian components', () => {
    const r = mixppl('fit', 'examples/iris/iris.mix', '--data', 'examples/iris/iris.csv');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/converged/);
  }, 120_000);
});
