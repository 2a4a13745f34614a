// The child-process harness of the WebGPU tests. Dawn on Mesa can abort in native code while a
// process exits, which would take a test worker down with it, and switching one process
// between webgpu and wasm made Dawn hang; so each WebGPU test file runs its checks in a
// webgpu-only child that prints one JSON line per check and `{ done: true }` at the end, and
// the parent reads the lines printed before exit (a crash after the last one is logged and
// ignored, a missing `done` fails).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { useBackend } from '../../src/tensor';

/** Child side: prints one JSON line. */
export const say = (x: unknown): void => {
  process.stdout.write(JSON.stringify(x) + '\n');
};

/** Child side: throws `what` unless ok. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/**
 * Child side: selects Dawn's default adapter, else Mesa's software OpenGL ES in compatibility
 * mode ('gl-compat', what a CI machine without a GPU has), and prints `{ adapter }`; with
 * neither, prints `{ skipped }` and `{ done }` and exits.
 */
export async function startWebgpuChild(): Promise<'default' | 'gl-compat'> {
  let unavailable = '';
  for (const webgpuAdapter of ['default', 'gl-compat'] as const) {
    try {
      await useBackend('webgpu', { webgpuAdapter });
      say({ adapter: webgpuAdapter });
      return webgpuAdapter;
    } catch (e) {
      unavailable = e instanceof Error ? e.message : String(e);
    }
  }
  say({ skipped: unavailable });
  say({ done: true });
  process.exit(0);
}

/**
 * Child side: runs each check in turn and prints `{ check, ok: true, ...detail }` or
 * `{ check, ok: false, error }`, then `{ done: true }`, and exits.
 */
export async function runChildChecks(checks: [string, () => Promise<Record<string, unknown> | void>][]): Promise<never> {
  for (const [name, fn] of checks) {
    try {
      const detail = await fn();
      say({ check: name, ok: true, ...(detail ?? {}) });
    } catch (e) {
      say({ check: name, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
  say({ done: true });
  process.exit(0);
}

/** One line a child printed. */
export type ChildLine<T> = { check?: string; ok?: boolean; error?: string; skipped?: string; adapter?: string; done?: boolean } & T;

/**
 * Parent side: runs `script` (a path relative to the test file at `base`) once, on first use,
 * and gives each check's line, asserted ok (undefined, with the test skipped, when the child
 * found no adapter), and the adapter it used.
 */
export function webgpuChild<T = object>(base: string, script: string, label: string, timeoutMs = 300_000) {
  let results: Map<string, ChildLine<T>> | undefined;
  let skipped: string | undefined;
  let adapter = 'default';
  const run = (): void => {
    if (results) return;
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, base))], { cwd: fileURLToPath(new URL('../..', base)), encoding: 'utf8', timeout: timeoutMs });
    const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ChildLine<T>);
    if (!lines.some((l) => l.done)) throw new Error(`${label} checks did not finish (exit ${r.status}, signal ${r.signal}): ${(r.stderr ?? '').split('\n').filter((l) => !l.startsWith('var Module')).slice(-15).join('\n')}`);
    if (r.status !== 0) console.log(`${label} checks: the child exited with ${r.status ?? r.signal} after finishing every check (a native crash at exit; ignored)`);
    skipped = lines.find((l) => typeof l.skipped === 'string')?.skipped;
    if (skipped !== undefined) console.log(`${label} tests skipped: ${skipped}`);
    const a = lines.find((l) => typeof l.adapter === 'string')?.adapter;
    const info = (lines.find((l) => typeof (l as { adapterInfo?: unknown }).adapterInfo === 'string') as { adapterInfo?: string } | undefined)?.adapterInfo;
    if (a) console.log(`${label} tests run on: ${info ?? a}`);
    adapter = a ?? 'default';
    results = new Map(lines.filter((l) => typeof l.check === 'string').map((l) => [l.check!, l]));
  };
  return {
    /** The child's line for `check`, asserted ok; undefined (and the test skipped) without an adapter. */
    result(check: string, ctx: { skip: (note?: string) => void }): ChildLine<T> | undefined {
      run();
      if (skipped !== undefined) { ctx.skip(skipped); return undefined; }
      const r = results!.get(check);
      expect(r, `check '${check}' reported nothing`).toBeDefined();
      expect(r!.ok, r!.error).toBe(true);
      return r;
    },
    /** The adapter the child used (after a first `result`). */
    adapter: (): string => { run(); return adapter; },
  };
}
