/**
 * Gradient cost: one potential-and-gradient evaluation through the tfjs evaluator (wasm
 * backend) against the traced float64 replay (src/tensor/trace.ts) that MCMC, SMC and VI
 * use, on the galaxy model (K = 3 and 6), every stdlib model at small data sizes, a
 * gaussian_hmm with K = 8 states over T = 1000 steps, and gmm_diag (K = D = 8) at N = 1e4
 * and 1e5, where the replay streams the data.
 * Prints microseconds per call and the ratio; writes bench/results/gradient.json and .md.
 * For the chain models (gaussian_hmm) the replay is also timed with the chain's log partition
 * function as the plain-op product tree it was before the fused kernel (the kernels
 * unregistered for the run, so chainLogZ falls back to the tree): "tree µs".
 *
 *   npx tsx bench/gradient.ts
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { compile, useBackend, type DataInput } from '../src';
import { tf, CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL } from '../src/tensor';
import { readDataFile } from '../src/cli/data-io';

await useBackend('wasm');

function time(f: () => void, minMs: number): number {
  // Warm-up: 20 calls, or 3 s for the large-N cases whose calls take a good part of a second.
  const w0 = performance.now();
  for (let i = 0; i < 20 && performance.now() - w0 < 3000; i++) f();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    f();
    n++;
  }
  return ((performance.now() - t0) / n) * 1000;
}

const cases: { name: string; path: string; data: DataInput }[] = [
  { name: 'galaxies K=3 (N=82)', path: 'examples/galaxies/galaxies.mix', data: { ...readDataFile('examples/galaxies/galaxies.csv'), K: 3 } },
  { name: 'galaxies K=6 (N=82)', path: 'examples/galaxies/galaxies.mix', data: { ...readDataFile('examples/galaxies/galaxies.csv'), K: 6 } },
];
const SIZES: Record<string, DataInput> = {
  bayes_gmm: { K: 3, N: 100 }, gmm_diag: { K: 3, N: 100, D: 2 }, gmm_full: { K: 3, N: 100, D: 3 },
  gaussian_hmm: { K: 3, T: 100 }, poisson_mix: { K: 3, N: 100 }, student_t_mix: { K: 2, N: 100 },
};
for (const [name, sizes] of Object.entries(SIZES)) {
  const model = compile(`stdlib/${name}.mix`);
  const sim = model.simulate(sizes, { seed: 1, draws: 1 })[0];
  cases.push({ name: `${name} ${JSON.stringify(sizes)}`, path: `stdlib/${name}.mix`, data: { ...(sizes as Record<string, unknown>), ...sim.data } as DataInput });
}
// A longer chain with more states: the chain's forward recursion and its backward pass (one
// replay node, src/tensor/fused/chain.ts) dominate there.
{
  const sizes = { K: 8, T: 1000 };
  const sim = compile('stdlib/gaussian_hmm.mix').simulate(sizes, { seed: 1, draws: 1 })[0];
  cases.push({ name: `gaussian_hmm ${JSON.stringify(sizes)}`, path: 'stdlib/gaussian_hmm.mix', data: { ...sizes, ...sim.data } as DataInput });
}
for (const N of [10_000, 100_000]) {
  const sizes = { K: 8, N, D: 8 };
  const sim = compile('stdlib/gmm_diag.mix').simulate(sizes, { seed: 1, draws: 1 })[0];
  cases.push({ name: `gmm_diag ${JSON.stringify(sizes)}`, path: 'stdlib/gmm_diag.mix', data: { ...sizes, ...sim.data } as DataInput });
}

/** Runs `f` with the fused chain kernels unregistered on wasm, so chains use the product tree. */
function withChainTree<T>(f: () => T): T {
  const saved = [CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL].map((k) => tf.getKernel(k, 'wasm'));
  for (const k of saved) tf.unregisterKernel(k.kernelName, 'wasm');
  try {
    return f();
  } finally {
    for (const k of saved) tf.registerKernel(k);
  }
}

const rows: { model: string; dim: number; tfjs_us: number; traced_us: number; ratio: number; traced_tree_us?: number }[] = [];
for (const c of cases) {
  const bound = compile(c.path).bind(c.data);
  const u = Float64Array.from({ length: bound.dim }, (_, i) => 0.3 * Math.sin(i + 1));
  const pf = bound.potentialFunction();
  if (!pf.traced) throw new Error(`${c.name}: not traced (${pf.fallbackReason})`);
  const g = new Float64Array(bound.dim);
  const tfjs = time(() => bound.potentialAndGrad(u), 1500);
  const traced = time(() => pf.valueAndGrad(u, g), 1500);
  const row: (typeof rows)[number] = { model: c.name, dim: bound.dim, tfjs_us: tfjs, traced_us: traced, ratio: tfjs / traced };
  bound.dispose();
  if (c.path.includes('hmm')) {
    row.traced_tree_us = withChainTree(() => {
      const b = compile(c.path).bind(c.data);
      const tree = b.potentialFunction();
      if (!tree.traced) throw new Error(`${c.name}: not traced with the tree (${tree.fallbackReason})`);
      const us = time(() => tree.valueAndGrad(u, g), 1500);
      b.dispose();
      return us;
    });
  }
  rows.push(row);
  console.error(`${c.name}: tfjs ${tfjs.toFixed(0)} us, traced ${traced.toFixed(1)} us${row.traced_tree_us ? `, tree ${row.traced_tree_us.toFixed(1)} us` : ''}`);
}
const md = [
  '# Gradient cost: tfjs evaluator (wasm) against the traced float64 replay',
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}; one thread; ${new Date().toISOString().slice(0, 10)}. One potential + gradient call, microseconds (mean over >= 1.5 s of calls).`,
  '',
  '| model | dim | tfjs µs | traced µs | ratio | traced, chain by the product tree µs |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.model} | ${r.dim} | ${r.tfjs_us.toFixed(0)} | ${r.traced_us.toFixed(1)} | ${r.ratio.toFixed(0)}x | ${r.traced_tree_us ? `${r.traced_tree_us.toFixed(1)} (${(r.traced_tree_us / r.traced_us).toFixed(1)}x the fused kernel's)` : ''} |`),
  '',
].join('\n');
process.stdout.write(md);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/gradient.md', md);
writeFileSync('bench/results/gradient.json', JSON.stringify({ date: new Date().toISOString(), rows }, null, 1));
