/**
 * Compile time of each stdlib model: parse + check + lower + passes, excluding tensor
 * set-up. Target (issue): under 20 ms each. Prints median and max over repeated runs
 * after a warm-up (the first compile also pays for JIT and chevrotain's grammar build).
 *
 *   npx tsx bench/compile-time.ts [--reps 50]
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { frontEnd } from '../src/compile';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 50;
const dir = 'stdlib';
const files = readdirSync(dir).filter((f) => f.endsWith('.mix')).sort();
const rows: { model: string; lines: number; firstMs: number; medianMs: number; maxMs: number }[] = [];
for (const f of files) {
  const text = readFileSync(join(dir, f), 'utf8');
  const t0 = performance.now();
  const r = frontEnd(text, f);
  const first = performance.now() - t0;
  if (!r.ir) {
    console.error(`${f}: does not compile`);
    process.exitCode = 1;
    continue;
  }
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    frontEnd(text, f);
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  rows.push({ model: f, lines: text.split('\n').length, firstMs: first, medianMs: times[Math.floor(reps / 2)], maxMs: times[reps - 1] });
}
const w = Math.max(...rows.map((r) => r.model.length));
console.log(`compile time (parse + check + IR), ${reps} reps after one warm-up, ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
console.log(`${'model'.padEnd(w)}  lines  first ms  median ms  max ms  target<20ms`);
for (const r of rows) {
  console.log(`${r.model.padEnd(w)}  ${String(r.lines).padStart(5)}  ${r.firstMs.toFixed(1).padStart(8)}  ${r.medianMs.toFixed(2).padStart(9)}  ${r.maxMs.toFixed(2).padStart(6)}  ${r.medianMs < 20 ? 'met' : 'MISSED'}`);
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/compile-time.json', JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, reps, rows }, null, 2));
