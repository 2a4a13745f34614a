// Times the traced float64 potential + gradient (BoundModel.potentialFunction) at large N:
// stdlib/gmm_diag.mix with K = 8, D = 8 and N = 1e4, 1e5 simulated rows, and galaxies
// K = 3 as the small-N check. Median of several calls after warm-up.
//   npx tsx scripts/replay-large-n.ts [N,N,...] [--reps R] [--baseline DIR]
// --baseline DIR: also time, in the same process, the replay of DIR/trace.ts (a copy of
// an older src/tensor/trace.ts and replay-kernels.ts), alternating calls, for a ratio that
// means something on a loaded machine. DIR must lie inside the repository (its tfjs import
// resolves from node_modules), e.g.
//   mkdir scripts/_old-replay && for f in trace replay-kernels; do
//     git show REV:src/tensor/$f.ts > scripts/_old-replay/$f.ts; done
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compile, ensureBackend, Key } from '../src';
import type { DataValue } from '../src/model/data';

await ensureBackend();
const args = process.argv.slice(2);
const Ns = (args.find((a) => /^[\d,e.]+$/.test(a)) ?? '1e4,1e5').split(',').map(Number);
const repsArg = args.indexOf('--reps');
const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : 7;
const baseArg = args.indexOf('--baseline');
type Traced = { valueAndGrad(u: ArrayLike<number>, g: Float64Array): number };
type TraceFn = (f: (u: never) => unknown, u0: ArrayLike<number>) => Traced;
const baseline: TraceFn | null = baseArg >= 0
  ? ((await import(resolve(args[baseArg + 1], 'trace.ts'))) as { traceFunction: TraceFn }).traceFunction
  : null;

type Fn = { dim: number; valueAndGrad(u: ArrayLike<number>, g: Float64Array): number };
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

/** Median time of `n` calls (after 3 warm-up calls) of each function, calls interleaved. */
function time(name: string, fns: Record<string, Fn>, n: number, extra = '') {
  const dim = Object.values(fns)[0].dim;
  const rng = Key.seed(3).rng();
  const us = Array.from({ length: n + 3 }, () => Float64Array.from({ length: dim }, () => 0.5 * rng.normal()));
  const ts: Record<string, number[]> = {};
  const grads: Record<string, Float64Array> = {};
  const vals: Record<string, number> = {};
  for (const k of Object.keys(fns)) {
    ts[k] = [];
    grads[k] = new Float64Array(dim);
    for (let i = 0; i < 3; i++) fns[k].valueAndGrad(us[i], grads[k]);
  }
  for (let i = 0; i < n; i++) {
    for (const [k, fn] of Object.entries(fns)) {
      const t = performance.now();
      vals[k] = fn.valueAndGrad(us[i + 3], grads[k]);
      ts[k].push(performance.now() - t);
    }
  }
  const keys = Object.keys(fns);
  const med: Record<string, number> = {};
  for (const k of keys) {
    ts[k].sort((a, b) => a - b);
    med[k] = ts[k][ts[k].length >> 1];
    console.log(`${name.padEnd(28)} ${k.padEnd(8)} median ${fmt(med[k])}  min ${fmt(ts[k][0])}  max ${fmt(ts[k][ts[k].length - 1])}  (n=${n}) value ${vals[k].toPrecision(17)} ${extra}`);
  }
  if (keys.length > 1) {
    const [a, b] = keys;
    let dg = 0;
    let sc = 0;
    for (let j = 0; j < dim; j++) {
      dg = Math.max(dg, Math.abs(grads[a][j] - grads[b][j]));
      sc = Math.max(sc, Math.abs(grads[b][j]));
    }
    console.log(`${''.padEnd(28)} ${b}/${a} = ${(med[b] / med[a]).toFixed(2)}x; |Δvalue| ${Math.abs(vals[a] - vals[b]).toExponential(2)}, max |Δgrad| ${dg.toExponential(2)} (grad scale ${sc.toExponential(2)})`);
  }
}

function variants(bound: { potentialFunction(): Fn & { traced: boolean }; potentialTensor(u: never): unknown; dim: number }): Record<string, Fn> {
  const fns: Record<string, Fn> = { current: bound.potentialFunction() };
  if (!(fns.current as unknown as { traced: boolean }).traced) throw new Error('not traced');
  if (baseline) {
    const tr = baseline((u) => bound.potentialTensor(u), new Float64Array(bound.dim).fill(0.1));
    fns.baseline = { dim: bound.dim, valueAndGrad: (u, g) => tr.valueAndGrad(u, g) };
  }
  return fns;
}

// galaxies K = 3 (small N)
{
  const y = readFileSync('examples/galaxies/galaxies.csv', 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).slice(1).map(Number);
  const bound = compile('examples/galaxies/galaxies.mix').bind({ K: 3, y });
  time('galaxies K=3', variants(bound as never), 2001);
  bound.dispose();
}

for (const N of Ns) {
  const model = compile('stdlib/gmm_diag.mix');
  const given = { K: 8, N, D: 8 };
  const sim = model.simulate(given, { seed: 11, draws: 1 })[0];
  const data: Record<string, DataValue> = { K: 8, x: sim.data.x };
  const bound = model.bind(data);
  const t = performance.now();
  bound.potentialFunction();
  const tTrace = performance.now() - t;
  time(`gmm_diag K=8 D=8 N=${N}`, variants(bound as never), N >= 1e5 ? reps : 3 * reps, `(trace ${tTrace.toFixed(0)} ms)`);
  bound.dispose();
}
