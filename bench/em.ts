/**
 * EM benchmark: full-covariance Gaussian mixtures against scikit-learn GaussianMixture
 * and R mclust (VVV), in one run on the same CSVs (../shared/bench generates them and
 * runs the peers). Prints, per (N, D, K): wall time to convergence (tol 1e-3 on the mean
 * log likelihood, k-means init included, as scikit-learn), seconds per iteration over
 * 20 fixed iterations, final mean log likelihood per point, ARI against the true labels,
 * and mixppl/peer ratios. Writes bench/results/em.json and bench/results/em.md.
 *
 *   npx tsx bench/em.ts [--configs "100000,2,4;100000,8,8;200000,32,16"] [--tools sklearn,mclust] [--no-peers] [--out DIR]
 *
 * --out writes em.json and em.md to DIR instead of bench/results (for trial runs);
 * --peers-from FILE takes the peers' rows from an earlier em.json instead of running them
 * (the data are regenerated as with --no-peers; times from another run only compare roughly).
 *
 * Peers need `bash ../shared/bench/setup.sh` once. Threads: everything at BENCH_THREADS=1.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { compile, useBackend } from '../src';
import { em, emResponsibilities } from '../src/infer/em';

const arg = (k: string, d: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : d);
const configs = arg('--configs', '100000,2,4;100000,8,8;200000,32,16').split(';').filter(Boolean).map((c) => c.split(',').map(Number) as [number, number, number]);
const tools = arg('--tools', 'sklearn,mclust');
const outDir = arg('--out', 'bench/results');
const peersDir = resolve('../shared/bench');
const dataDir = process.env.BENCH_DATA ?? '/tmp/peers_bench';
const env = { ...process.env, BENCH_THREADS: '1', OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', BENCH_DATA: dataDir };

/** Adjusted Rand index (Hubert and Arabie 1985) of two labelings. */
export function ari(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const table = new Map<string, number>();
  const ra = new Map<number, number>();
  const rb = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const k = `${a[i]},${b[i]}`;
    table.set(k, (table.get(k) ?? 0) + 1);
    ra.set(a[i], (ra.get(a[i]) ?? 0) + 1);
    rb.set(b[i], (rb.get(b[i]) ?? 0) + 1);
  }
  const c2 = (x: number) => (x * (x - 1)) / 2;
  const sumT = [...table.values()].reduce((s, x) => s + c2(x), 0);
  const sumA = [...ra.values()].reduce((s, x) => s + c2(x), 0);
  const sumB = [...rb.values()].reduce((s, x) => s + c2(x), 0);
  const expected = (sumA * sumB) / c2(n);
  return (sumT - expected) / ((sumA + sumB) / 2 - expected);
}

function loadCsv(path: string, D: number): { x: Float64Array; labels: Int32Array; N: number } {
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(1);
  const N = lines.length;
  const x = new Float64Array(N * D);
  const labels = new Int32Array(N);
  lines.forEach((l, i) => {
    const c = l.split(',');
    for (let d = 0; d < D; d++) x[i * D + d] = Number(c[d]);
    labels[i] = Number(c[D]);
  });
  return { x, labels, N };
}

const MODEL = `
/// Full-covariance Gaussian mixture, parameterised as scikit-learn's (covariance Cholesky factors).
model gmm_full_em {
  data K: int
  data x: real[N, D]
  param w: simplex[K]
  param mu: real[K, D]
  param L: cholesky_cov[K, D]
  for n in 1..N {
    x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k]))
  }
}`;

await useBackend('wasm');
const model = compile(MODEL);
let peers: { configs?: Record<string, unknown>[] } = {};
const peersFrom = arg('--peers-from', '');
if (peersFrom) {
  peers = JSON.parse(readFileSync(peersFrom, 'utf8')).peers ?? {};
  for (const [N, D, K] of configs) {
    if (!existsSync(join(dataDir, `gmm_N${N}_D${D}_K${K}.csv`))) execFileSync('/usr/bin/python3', [join(peersDir, 'gen_gmm.py'), '--only', `${N},${D},${K}`], { env, stdio: 'ignore' });
  }
} else if (!process.argv.includes('--no-peers')) {
  if (!existsSync(join(peersDir, 'gmm_em.py'))) throw new Error(`peer harness not found at ${peersDir}`);
  console.error(`running peers (${tools}) through ${peersDir}/gmm_em.py ...`);
  const out = execFileSync('/usr/bin/python3', [join(peersDir, 'gmm_em.py'), '--configs', configs.map((c) => c.join(',')).join(';'), '--tools', tools],
    { env, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  peers = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
} else {
  for (const [N, D, K] of configs) execFileSync('/usr/bin/python3', [join(peersDir, 'gen_gmm.py'), '--only', `${N},${D},${K}`], { env, stdio: 'ignore' });
}

interface Row { N: number; D: number; K: number; tool: string; fit_s?: number; s_per_iter?: number; iterations?: number; avg_loglik?: number; ari?: number; error?: string }
const rows: Row[] = [];
for (const [N, D, K] of configs) {
  const csv = join(dataDir, `gmm_N${N}_D${D}_K${K}.csv`);
  const { x, labels } = loadCsv(csv, D);
  const bm = model.bind({ K, x: { shape: [N, D], values: x } });
  // The first fit in the process pays one-off costs (JIT compilation of the JS loops, wasm
  // memory growth, each tensor kernel's first use); recorded as its own row, then the timed
  // rows below run warm, as a long-lived process (or the peers' already-loaded libraries) would.
  if (rows.length === 0) {
    const cold = em(bm, { seed: 0, maxIter: 100, tol: 1e-3 });
    rows.push({ N, D, K, tool: 'mixppl (first fit in the process)', fit_s: cold.seconds, iterations: cold.iterations, avg_loglik: cold.logLik / N });
  }
  // One untimed fit at this size first: the first fit at a new size also pays the wasm heap's
  // growth and first-use costs (the row above shows their size once), which would otherwise
  // fall on whichever variant runs first.
  em(bm, { seed: 1, maxIter: 2, tol: 0 });
  // mixppl's default start (k-means on a 1e4-row subsample), then k-means on every row as scikit-learn does.
  for (const [tool, kmeansSample] of [['mixppl', undefined], ['mixppl (k-means on all rows)', false]] as const) {
    const fit = em(bm, { seed: 0, maxIter: 100, tol: 1e-3, kmeansSample });
    // Seconds per iteration: 20 fixed iterations from the same start, minus the start itself.
    const start = em(bm, { seed: 0, maxIter: 0, tol: 0, kmeansSample });
    const twenty = em(bm, { seed: 0, maxIter: 20, tol: 0, kmeansSample });
    const marg = emResponsibilities(bm, fit.params);
    const r = Object.values(marg)[0];
    const pred = new Int32Array(N);
    for (let n = 0; n < N; n++) {
      let b = 0;
      for (let k = 1; k < K; k++) if (r.values[n * K + k] > r.values[n * K + b]) b = k;
      pred[n] = b;
    }
    rows.push({ N, D, K, tool, fit_s: fit.seconds, s_per_iter: (twenty.seconds - start.seconds) / 20, iterations: fit.iterations, avg_loglik: fit.logLik / N, ari: ari(pred, labels) });
  }
  bm.dispose();
  const pc = (peers.configs ?? []).find((c) => c.N === N && c.D === D && c.K === K) as Record<string, Record<string, number | string>> | undefined;
  for (const t of tools.split(',')) {
    const p = pc?.[t];
    if (!p) continue;
    if (p.error) { rows.push({ N, D, K, tool: t, error: String(p.error) }); continue; }
    rows.push({ N, D, K, tool: t, fit_s: Number(p.fit_s), s_per_iter: Number(p.fixed20_s_per_iter ?? p.s_per_iter), iterations: Number(p.iterations), avg_loglik: Number(p.avg_loglik), ari: Number(p.ari) });
  }
}

const f = (v: number | undefined, d = 3) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
const lines: string[] = [];
const machine = `${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, mixppl backend wasm (1 thread), peers BENCH_THREADS=1`;
lines.push(`EM benchmark, ${new Date().toISOString().slice(0, 10)}: ${machine}`);
lines.push('');
lines.push('| N | D | K | tool | fit s | s/iter | iters | mean loglik | ARI | time vs sklearn | loglik - sklearn | ARI - sklearn |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const sk = rows.find((q) => q.N === r.N && q.D === r.D && q.K === r.K && q.tool === 'sklearn');
  const ratio = sk?.fit_s && r.fit_s ? (r.fit_s / sk.fit_s).toFixed(2) + 'x' : '-';
  const dll = sk?.avg_loglik !== undefined && r.avg_loglik !== undefined ? (r.avg_loglik - sk.avg_loglik).toExponential(1) : '-';
  const dari = sk?.ari !== undefined && r.ari !== undefined ? (r.ari - sk.ari).toFixed(4) : '-';
  lines.push(r.error ? `| ${r.N} | ${r.D} | ${r.K} | ${r.tool} | error: ${r.error} |` :
    `| ${r.N} | ${r.D} | ${r.K} | ${r.tool} | ${f(r.fit_s, 2)} | ${f(r.s_per_iter, 4)} | ${r.iterations ?? '-'} | ${f(r.avg_loglik, 5)} | ${f(r.ari, 4)} | ${ratio} | ${dll} | ${dari} |`);
}
lines.push('');
lines.push('Target: mixppl fit time <= 0.5x scikit-learn at equal or better mean log likelihood (within 1e-3) and ARI (within 0.01).');
const text = lines.join('\n');
console.log(text);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'em.json'), JSON.stringify({ date: new Date().toISOString(), machine, rows, peers }, null, 2));
writeFileSync(join(outDir, 'em.md'), text + '\n');
