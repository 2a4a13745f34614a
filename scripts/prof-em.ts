// One-off profile of EM on the bench data (bench/em.ts sizes): per-phase CPU ms of one start
// (k-means, then M and E steps), run twice per binding to separate first-call costs.
// npx tsx scripts/prof-em.ts ["N,D,K;..."]   (data from ../shared/bench/gen_gmm.py in /tmp/peers_bench; NOFUSE=1: closed-form M-step)
import { readFileSync } from 'node:fs';
import { compile, useBackend } from '../src';
import { tf, tidyValue } from '../src/tensor';
import { kmeansMarginals } from '../src/infer/em/init';
import { closedFormUpdates, resolveUpdate } from '../src/infer/em/closed-form';
import { fastGmmEStep, fuseGmmUpdates } from '../src/infer/em/fast-gmm';
import { Key } from '../src/tensor/random';

const MODEL = `
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
const configs = (process.argv[2] ?? '100000,2,4;100000,8,8;200000,32,16').split(';').map((c) => c.split(',').map(Number));
const T = () => (process.env.WALL ? performance.now() : process.cpuUsage().user / 1000);
for (const [N, D, K] of configs) {
  const lines = readFileSync(`/tmp/peers_bench/gmm_N${N}_D${D}_K${K}.csv`, 'utf8').trim().split('\n').slice(1);
  const x = new Float64Array(N * D);
  lines.forEach((l, i) => { const c = l.split(','); for (let d = 0; d < D; d++) x[i * D + d] = Number(c[d]); });
  const model = compile(MODEL);
  const bm = model.bind({ K, x: { shape: [N, D], values: x } });
  for (let rep = 0; rep < Number(process.env.REPS ?? 2); rep++) {
    const ph: Record<string, number> = {};
    let t = T();
    const lap = (k: string) => { const n = T(); ph[k] = Math.round(n - t); t = n; };
    const updates = process.env.NOFUSE ? closedFormUpdates(bm, { priors: false }) : fuseGmmUpdates(bm, closedFormUpdates(bm, { priors: false }), false);
    const fast = fastGmmEStep(bm, false)!;
    lap('detect');
    const rng = Key.seed(0).split(2)[0].rng();
    let u = Float64Array.from({ length: bm.dim }, () => rng.uniform() * 4 - 2);
    let marg = kmeansMarginals(bm, rng)!;
    lap('kmeans');
    const mstep = (m: Map<string, any>) => {
      const cur = Float64Array.from(u);
      tf.tidy(() => {
        const { params } = bm.constrainTensor(tf.tensor1d(Float32Array.from(u)));
        for (const up of updates) params.set(up.param, resolveUpdate(up.update(params, m)));
        for (const p of bm.params) if (updates.some((q) => q.param === p.name)) cur.set(p.transform.inverse(params.get(p.name)!).dataSync(), p.offset);
      });
      u = cur;
    };
    for (let it = 0; it < 3; it++) {
      mstep(marg); lap(`M${it}`);
      for (const m of marg.values()) m.dispose();
      const r = tidyValue(() => { const { params } = bm.constrainTensor(tf.tensor1d(Float32Array.from(u))); const o = fast(params); return { ll: o.logZ.dataSync()[0], m: new Map([...o.marginals].map(([k, v]) => [k, tf.keep(v)])) }; });
      marg = r.m; lap(`E${it}`);
      ph[`ll${it}`] = r.ll / N;
    }
    for (const m of marg.values()) m.dispose();
    console.log(JSON.stringify({ N, D, K, rep, ...ph, tensors: tf.memory().numTensors }));
  }
  bm.dispose();
}
