// Every command's --help: exit 0, its usage line, an examples section whose model and data
// files exist in the repository, and every option the command accepts named in its text (so
// a new option cannot go undocumented). The help texts are taken from main() in this
// process (a spawn per command is slow on a loaded machine); the binary is run once to check
// that it prints the same.
import { describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mixppl, ROOT } from './run';
import { REPORT_OPTIONS } from '../../src/cli/report';
import { SELECT_OPTIONS } from '../../src/cli/select';
import { FILTER_OPTIONS } from '../../src/cli/filter';
import { SUMMARY_OPTIONS } from '../../src/cli/summary';
import { SAMPLE_VALUE_OPTIONS, SAMPLE_FLAGS } from '../../src/cli/sample';
import { main } from '../../src/cli/main';
import { APPROX_METHODS, approxOptions } from '../../src/cli/approx';

const COMMANDS = ['check', 'ir', 'simulate', 'fit', 'sample', 'select', 'report', 'filter', 'summary'];

/** The options each command accepts, from the lists the command line checks against (fit's are in main.ts, unexported). */
const ACCEPTED: Record<string, readonly string[]> = {
  fit: ['--data', '--set', '--method', '--map', '--n-init', '--max-iter', '--tol', '--seed', '--backend', '--out', '--assignments', '--quiet', ...APPROX_METHODS.flatMap(approxOptions)],
  sample: ['--data', '--set', '--backend', ...SAMPLE_VALUE_OPTIONS, ...SAMPLE_FLAGS],
  select: SELECT_OPTIONS,
  report: REPORT_OPTIONS,
  filter: FILTER_OPTIONS,
  summary: SUMMARY_OPTIONS,
  simulate: ['--data', '--set', '--seed', '--backend', '--out', '--draws'],
};

/** The example lines of a help text: the indented `mixppl ...` lines after `example:`/`examples:` (with their continuations). */
function examples(help: string): string[] {
  const at = help.search(/^examples?:$/m);
  if (at < 0) return [];
  return help.slice(at).replace(/\\\n\s+/g, '').split('\n').filter((l) => /^ {2}mixppl /.test(l)).map((l) => l.trim());
}

/** What main(argv) writes to stdout, and its exit status. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stdout };
  } finally {
    spy.mockRestore();
  }
}

const helps = new Map<string, string>();
async function helpOf(cmd: string): Promise<string> {
  if (!helps.has(cmd)) {
    const r = await run(cmd, '--help');
    expect(r.code).toBe(0);
    helps.set(cmd, r.stdout);
  }
  return helps.get(cmd)!;
}

describe('mixppl COMMAND --help', () => {
  it.each(COMMANDS)('%s: usage line, exit 0, at least one example whose files exist', async (cmd) => {
    const help = await helpOf(cmd);
    expect(help).toMatch(new RegExp(`^usage: mixppl ${cmd} `));
    const ex = examples(help);
    expect(ex.length, `${cmd} --help has no example`).toBeGreaterThan(0);
    // The example runs something (this command, or first what makes its input, as summary's sample).
    expect(ex.some((l) => l.startsWith(`mixppl ${cmd} `))).toBe(true);
    // Files in the repository that the examples name must be there (not stale paths).
    for (const l of ex) {
      for (const m of l.matchAll(/(?:^|[\s=])((?:examples|stdlib|test)\/[^\s*]+\.(?:mix|csv|json))/g)) {
        expect(existsSync(join(ROOT, m[1])), `${cmd} --help example names ${m[1]}, which does not exist`).toBe(true);
      }
    }
    // 'mixppl help COMMAND' prints the same.
    expect((await run('help', cmd)).stdout).toBe(help);
  });

  it.each(Object.keys(ACCEPTED))('%s: every option it accepts is named in its help', async (cmd) => {
    const help = await helpOf(cmd);
    for (const o of ACCEPTED[cmd]) expect(help, `${cmd} --help does not mention ${o}`).toMatch(new RegExp(`${o}(?![a-z-])`));
  });

  it('report --help documents --sbc with an example and the VI guides of fit (amortized included)', async () => {
    const help = await helpOf('report');
    expect(examples(help).some((l) => /^mixppl report --sbc \S+\.json/.test(l))).toBe(true);
    expect(help).toMatch(/--guide meanfield\|fullrank\|lowrank\|planar\|coupling\|amortized/);
    expect(await helpOf('fit')).toMatch(/meanfield\|fullrank\|lowrank\|planar\|coupling\|amortized/);
  });

  it('sample --help documents the worker threads and the Gibbs options', async () => {
    const help = await helpOf('sample');
    for (const o of ['--parallel-chains N', '--device-gradients', '--latents NAME', '--chain-update NAME', '--csmc-particles N']) expect(help).toContain(o);
  });

  it('the top-level usage lists every command', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    for (const cmd of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^ {2}${cmd} `, 'm'));
  });

  it('the binary prints the same help (report, filter)', async () => {
    for (const cmd of ['report', 'filter']) {
      const r = mixppl(cmd, '--help');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(await helpOf(cmd));
    }
  }, 60_000);
});
