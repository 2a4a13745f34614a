// Runs the mixppl binary as a user does (`node bin/mixppl.js ...` from the repository root).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `node bin/mixppl.js ...args` from the repository root. */
export function mixppl(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/mixppl.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
