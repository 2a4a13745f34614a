// The progress lines of long runs as a user sees them: drawn on stderr when it is a terminal
// (here a pseudo-terminal from util-linux's `script`), never when stderr is a pipe, and not
// with --quiet. Covers fit (EM), select and report (EM, and a score-based sampler).
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mixppl, ROOT } from './run';

const SCRIPT = '/usr/bin/script';
const HAS_SCRIPT = existsSync(SCRIPT);
if (!HAS_SCRIPT) console.warn(`progress-tty.test: ${SCRIPT} is missing; the terminal half is skipped (apt-get install util-linux)`);

const shq = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** Runs the binary on a pseudo-terminal (stdout and stderr both the terminal); returns what it showed. */
function onTerminal(...args: string[]): { code: number | null; screen: string } {
  const cmd = [process.execPath, 'bin/mixppl.js', ...args].map(shq).join(' ');
  const r = spawnSync(SCRIPT, ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  if (r.error) throw r.error;
  return { code: r.status, screen: r.stdout };
}

const FAITHFUL = ['examples/old-faithful/faithful.mix', '--data', 'examples/old-faithful/faithful.csv'];
const GALAXIES = ['examples/galaxies/galaxies.mix', '--data', 'examples/galaxies/galaxies.csv', '--set', 'K=3'];
const tmp = mkdtempSync(join(tmpdir(), 'mixppl-progress-'));
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });
const out = (name: string) => join(tmp, name);

// [name, arguments, text the progress line shows]
const RUNS: [string, string[], RegExp][] = [
  ['fit (EM)', ['fit', ...FAITHFUL, '--n-init', '2'], /\rstart 1 {2}iteration \d+ {2}log likelihood -\d/],
  ['select', ['select', ...GALAXIES.filter((a) => a !== '--set' && a !== 'K=3'), '--k', '1'], /\r\x1b\[Kfitted 1 of 1 \(galaxies, K = 1\)/],
  ['report (EM)', ['report', ...FAITHFUL, '--out', out('em.html')], /\rEM start 1 {2}iteration \d+ {2}log likelihood -\d/],
  ['report (MALA)', ['report', ...GALAXIES, '--method', 'mala', '--chains', '1', '--warmup', '50', '--draws', '50', '--out', out('mala.html')], /\rMALA warmup \d+\/50 {2}acceptance/],
];

describe('progress display', () => {
  it.each(RUNS)('%s: none when stderr is a pipe', (_name, args, line) => {
    const r = mixppl(...args);
    expect(r.code === 0 || r.code === 3, r.stderr).toBe(true);
    expect(r.stderr).not.toMatch(line);
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toContain('\x1b[');
  }, 120_000);

  it.skipIf(!HAS_SCRIPT).each(RUNS)('%s: a progress line on a terminal, none with --quiet', (_name, args, line) => {
    const shown = onTerminal(...args);
    expect(shown.code === 0 || shown.code === 3, shown.screen).toBe(true);
    expect(shown.screen).toMatch(line);
    // Erased (\r ESC[K) or ended with a newline before the results are printed.
    expect(shown.screen).toMatch(/(\x1b\[K|\n)(model |select: |wrote )/);
    const quiet = onTerminal(...args, '--quiet');
    expect(quiet.code === 0 || quiet.code === 3, quiet.screen).toBe(true);
    expect(quiet.screen).not.toMatch(line);
    expect(quiet.screen).not.toContain('\x1b[');
  }, 120_000);
});
