/**
 * GPU benchmark entry: Gaussian-mixture E-step throughput, the fused kernel
 * (src/tensor/fused) against the plain-op reference, at N points for (K, D) = (16, 8) and
 * (64, 32), diagonal and full precision factors, and the same for the M-step's weighted
 * sufficient statistics (stats_*). Prints one JSON object (and writes it to --out):
 * milliseconds per call and million points per second for each path, the adapter, and
 * how far the fused E-step is from the reference on the first 4096 points (the float32
 * error model of src/tensor/fused/tolerance.ts; <= 1 is agreement).
 *
 * On the device (see docs/gpu.md), from the project root:
 *   ../shared/gpu/prepare.sh bench/gpu.ts
 *   device run, carry [".device"]:
 *     bash .device/run.sh --out $OUT/mixppl.json --shared-data /tmp/em; python3 bench/gpu-torch.py --out $OUT/torch.json --shared-data /tmp/em --grad 1000000,16,8
 * Here, to check that it runs (CPU backends, or WebGPU on Mesa's software GL):
 *   npx tsx bench/gpu.ts --backend wasm --n 20000
 *   npx tsx bench/gpu.ts --backend webgpu --adapter gl-compat --n 20000
 *
 * Also the chain kernels (forward-backward marginals of an HMM's chain, `chainMarginals`),
 * fused recursions against the plain-op product tree, at (T, K) from --chains, with their
 * agreement with the float64 recursions (`chains` in the report).
 *
 * And a full EM fit (`em` in the report): a full-covariance Gaussian mixture at (N, K, D) from
 * --em, from fixed starting values to convergence (scikit-learn's rule, tol 1e-5 per point)
 * by `emAsync` on the active backend (timed); then 100 iterations from the same values on
 * the active backend and on the host (tfjs cpu, which takes the compiled float64 path for
 * D <= 8), the CPU result the device's must agree with. With
 * --shared-data DIR the data and starting values are written there (em-x.f32, em.json) for
 * bench/gpu-torch.py --shared-data DIR, which runs the same fit in PyTorch.
 *
 * And gradient evaluations (`gradient` in the report): the potential and its gradient of a
 * diagonal Gaussian mixture's log likelihood (no priors, no Jacobian: what one NUTS leapfrog
 * step evaluates) at (N, K, D) from --grad, by the tensor evaluator on the active backend
 * (`potentialAndGradAsync`), per second; and, on the first 4096 rows, its gradient against
 * the float64 replay on the host. bench/gpu-torch.py --grad times the same log likelihood
 * and its gradient by autograd (weights through a softmax there, a stick-breaking simplex
 * here: O(K) work either way).
 *
 * And batched gradient evaluations (`gradient_batch`): B points of the same log likelihood as
 * one evaluation (`potentialAndGradBatchSteps`, what sampleParallel's device gradients do with
 * several chains) at (N, K, D) from --grad-batch, points per second for each B of --batch-points.
 *
 * And NUTS with the gradients on the device (`nuts`): sampleParallel's deviceGradients at
 * (N, K, D, chains) from --nuts on the same model, from the generating values, 10 warm-up and 10
 * sampling transitions per chain (tree depth <= 5): leapfrog steps per second over the
 * sampling phase, against the float64 replay's evaluations per second on the host times the
 * chains (host NUTS: one evaluation per leapfrog step, a thread per chain), and the last
 * draw's log density on both.
 *
 * And tempered SMC with the moves on the device (`smc`): smcDevice's run on a diagonal mixture
 * with priors at (N, K, D, particles) from --smc, its point evaluations per second, against the
 * float64 replay's time per point on the host times the same evaluations (host smc's cost).
 * Likewise annealed Langevin (`annealed`): scoreSampleDeviceGradients at (N, K, D, particles)
 * from --annealed, each MALA step of the cloud one request evaluated as one batch.
 *
 * And particle-filter throughput (`particle_filter`): a bootstrap filter (systematic
 * resampling when the ESS falls below half the particles) of a two-state Gaussian HMM over T
 * steps with P particles, particle-steps per second and the log-evidence error against the
 * forward algorithm: the host filter (float64 JS, one thread) and the same filter as tensor
 * ops on the backend (`particleFilterDevice`: on webgpu every particle operation on the GPU,
 * float32, counter-based random numbers); bench/gpu-torch.py runs the same filter on the same
 * data (pf.json in --shared-data).
 *
 * Options: --backend webgpu|wasm|cpu (webgpu), --adapter default|gl-compat, --n (1000000),
 * --reps (20), --configs "16,8;64,32" ("" for none), --impls fused,reference, --chains "10000,4;1000,64"
 * (T,K pairs; "" for none), --chain-batch "1000,4,16" (T,K,B; "" for none), --em "1000000,16,8" (N,K,D; "" for none), --shared-data DIR,
 * --grad "1000000,16,8" (N,K,D; "" for none), --grad-batch "10000,16,8" (N,K,D; "" for none), --batch-points "1,4,16", --smc "2000,2,2,512" (N,K,D,particles; "" for none), --annealed "2000,2,2,512" (N,K,D,particles; "" for none), --nuts "1000000,16,8,4" (N,K,D,chains; "" for none), --pf "200,1000000" (T,P; "" for none),
 * --budget-s (420: a section that would start later is skipped, recorded as such), --out FILE
 * (rewritten after every section, complete: false until the end).
 * The reference path is run in chunks of N so that no [chunk, K, D] intermediate exceeds
 * 2^26 floats (WebGPU caps one binding at a few GiB), as one would have to write it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { isMainThread, workerData } from 'node:worker_threads';
import { join } from 'node:path';
import '../src/tensor/fused/node-webgpu';
import { tf, useBackend, webgpuAdapterInfo, runOnHostBackend, runAsync, type BackendName } from '../src/tensor';
import { compile, em, emAsync, type EmResult } from '../src';
import { particleFilter } from '../src/infer/smc/filter';
import { particleFilterDevice, hmmTensorSsm } from '../src/infer/smc/filter-device';
import { sampleParallel } from '../src/infer/mcmc/parallel';
import { scoreSampleDeviceGradients } from '../src/infer/score/device';
import { priorParticles, smcSteps, TemperedTarget, type TemperedEvaluator } from '../src/infer/smc';
import { deviceTemperedEvaluator } from '../src/infer/smc/device';
import { chainWorkerMain } from '../src/infer/mcmc/chain-worker';
import { A, MU, PI, SD, twoStateHmm } from './two-state-hmm';
import { gaussianEStep, gaussianSuffStats, chainMarginals, chainLogZ, chainForwardJS, chainBackwardJS, type EStepResult, type SuffStats, type ChainMarginals } from '../src/tensor/fused';
import { estepDisagreement, makeEStepCase, chainDisagreement, makeChainCase } from '../src/tensor/fused/tolerance';

/** The benchmark (the bundle's main thread; see the end of the file). */
async function bench(): Promise<void> {
  const arg = (k: string, d: string) => (process.argv.includes(k) ? process.argv[process.argv.indexOf(k) + 1] : d);
  const backend = arg('--backend', 'webgpu') as BackendName;
  const adapter = arg('--adapter', 'default') as 'default' | 'gl-compat';
  const N = Number(arg('--n', '1000000'));
  const reps = Number(arg('--reps', '20'));
  const configs = arg('--configs', '16,8;64,32').split(';').filter((c) => c).map((c) => c.split(',').map(Number) as [number, number]);
  const impls = arg('--impls', 'fused,reference').split(',') as ('fused' | 'reference')[];
  const chainConfigs = arg('--chains', '10000,4;1000,64').split(';').filter((c) => c).map((c) => c.split(',').map(Number) as [number, number]);
  const chainBatch = arg('--chain-batch', '1000,4,16').split(',').filter((c) => c).map(Number);
  const emConfig = arg('--em', '1000000,16,8').split(',').filter((c) => c).map(Number);
  const sharedData = arg('--shared-data', '');
  const gradConfig = arg('--grad', '1000000,16,8').split(',').filter((c) => c).map(Number);
  const nutsConfig = arg('--nuts', '1000000,16,8,4').split(',').filter((c) => c).map(Number);
  const pfConfig = arg('--pf', '200,1000000').split(',').filter((c) => c).map(Number);
  const batchConfig = arg('--grad-batch', '10000,16,8').split(',').filter((c) => c).map(Number);
  const batchPoints = arg('--batch-points', '1,4,16').split(',').filter((c) => c).map(Number);
  const smcConfig = arg('--smc', '2000,2,2,512').split(',').filter((c) => c).map(Number);
  const annealedConfig = arg('--annealed', '2000,2,2,512').split(',').filter((c) => c).map(Number);
  const out = arg('--out', '');
  if (!Number.isSafeInteger(N) || N < 1 || !Number.isSafeInteger(reps) || reps < 1) throw new RangeError('bench/gpu: --n and --reps must be positive integers');

  const used = await useBackend(backend, { webgpuAdapter: adapter });
  const budgetS = Number(arg('--budget-s', '420'));
  if (!(budgetS > 0)) throw new RangeError('bench/gpu: --budget-s must be a positive number of seconds');

  // The report is written after every section (complete: false until the end), so a run cut
  // short by the device's time limit still returns what it measured; a section that would
  // start after --budget-s seconds is skipped, saying so.
  const started = performance.now();
  const header = () => ({
    bench: 'gpu-estep', backend: used, adapter: used === 'webgpu' ? `${webgpuAdapterInfo()} (${adapter})` : undefined,
    N, reps, node: process.version, date: new Date(Date.now() - (performance.now() - started)).toISOString(),
  });
  const sections: Record<string, unknown> = {};
  const record = (name: string, value: unknown): void => {
    sections[name] = value;
    if (out) writeFileSync(out, JSON.stringify({ ...header(), ...sections, complete: false }, null, 2) + '\n');
  };
  const withinBudget = (name: string): boolean => {
    const spent = (performance.now() - started) / 1000;
    if (spent <= budgetS) return true;
    record(name, { skipped: `time budget: ${spent.toFixed(0)} s of --budget-s ${budgetS} spent before this section` });
    console.error(`bench/gpu: ${name} skipped (time budget)`);
    return false;
  };
  const CHUNK_FLOATS = 2 ** 26;

  /**
   * Milliseconds per call of a host function: calls for at least 0.5 s and 3 calls, so that a
   * fast one is timed after the JIT has warmed up and a slow one (seconds) is called 3 times.
   */
  function msPerCall(fn: () => void): number {
    let calls = 0;
    const h0 = performance.now();
    while (calls < 3 || performance.now() - h0 < 500) {
      fn();
      calls++;
    }
    return (performance.now() - h0) / calls;
  }

  type Inputs = readonly [tf.Tensor2D, tf.Tensor2D, tf.Tensor, tf.Tensor1D];

  /** One E-step by the chosen path; the reference runs in chunks of rows. */
  function estep(t: Inputs, impl: 'fused' | 'reference', K: number, D: number): EStepResult[] {
    if (impl === 'fused') return [gaussianEStep(...t, { impl, validate: false })];
    const rows = Math.max(1, Math.floor(CHUNK_FLOATS / (K * D)));
    const n = t[0].shape[0];
    const res: EStepResult[] = [];
    for (let s = 0; s < n; s += rows) {
      const xs = n <= rows ? t[0] : tf.slice(t[0], [s, 0], [Math.min(rows, n - s), D]);
      res.push(gaussianEStep(xs, t[1], t[2], t[3], { impl, validate: false }));
      if (xs !== t[0]) xs.dispose();
    }
    return res;
  }

  /** Waits for the queued work by reading one number that depends on the last outputs. */
  async function settle(rs: EStepResult[]): Promise<number> {
    const last = rs[rs.length - 1];
    const s = tf.tidy(() => tf.add(tf.slice(last.resp, [last.resp.shape[0] - 1, 0], [1, 1]).reshape([]), tf.slice(last.logMarginal, [0], [1]).reshape([])));
    const v = (await s.data())[0];
    s.dispose();
    return v;
  }

  const dispose = (rs: EStepResult[]) => rs.forEach((r) => tf.dispose([r.logJoint, r.logMarginal, r.resp]));

  /** The M-step sufficient statistics (centred on the means) by the chosen path; the reference in chunks of rows, summed. */
  function stats(x: tf.Tensor2D, resp: tf.Tensor2D, centre: tf.Tensor2D, diagonal: boolean, impl: 'fused' | 'reference', K: number, D: number): SuffStats {
    if (impl === 'fused') return gaussianSuffStats(x, resp, { centre, diagonal, impl });
    const rows = Math.max(1, Math.floor(CHUNK_FLOATS / (K * D)));
    const n = x.shape[0];
    let acc: SuffStats | undefined;
    for (let s = 0; s < n; s += rows) {
      const m = Math.min(rows, n - s);
      const [pn, ps1, ps2] = tf.tidy(() => {
        const xs = n <= rows ? x : tf.slice(x, [s, 0], [m, D]);
        const rs = n <= rows ? resp : tf.slice(resp, [s, 0], [m, K]);
        const st = gaussianSuffStats(xs, rs, { centre, diagonal, impl });
        return [st.n, st.s1, st.s2];
      });
      const part: SuffStats = { n: pn as tf.Tensor1D, s1: ps1 as tf.Tensor2D, s2: ps2 };
      if (!acc) acc = part;
      else {
        const next = { n: tf.add(acc.n, part.n) as tf.Tensor1D, s1: tf.add(acc.s1, part.s1) as tf.Tensor2D, s2: tf.add(acc.s2, part.s2) };
        tf.dispose([acc.n, acc.s1, acc.s2, part.n, part.s1, part.s2]);
        acc = next;
      }
    }
    return acc!;
  }

  const results: Record<string, unknown>[] = [];
  for (const [K, D] of withinBudget('results') ? configs : []) {
    for (const diagonal of [true, false]) {
      const c = makeEStepCase(20261202 + K * 100 + D, N, K, D, diagonal);
      const t: Inputs = [
        tf.tensor2d(c.x, [N, D]),
        tf.tensor2d(c.means, [K, D]),
        diagonal ? tf.tensor2d(c.precChol, [K, D]) : tf.tensor3d(c.precChol, [K, D, D]),
        tf.tensor1d(c.logWeights),
      ];
      const row: Record<string, unknown> = { K, D, diagonal: diagonal };
      for (const impl of impls) {
        // Two warm-up calls compile the pipelines / allocate the buffers.
        for (let w = 0; w < 2; w++) {
          const rs = estep(t, impl, K, D);
          await settle(rs);
          dispose(rs);
        }
        const t0 = performance.now();
        let rs: EStepResult[] = [];
        for (let r = 0; r < reps; r++) {
          dispose(rs);
          rs = estep(t, impl, K, D);
        }
        await settle(rs);
        const ms = (performance.now() - t0) / reps;
        dispose(rs);
        row[`${impl}_ms`] = +ms.toFixed(3);
        row[`${impl}_Mpoints_per_s`] = +(N / ms / 1e3).toFixed(2);
      }
      if (impls.length === 2) row.fused_speedup = +((row.reference_ms as number) / (row.fused_ms as number)).toFixed(2);
      // M-step sufficient statistics at the same size, from this E-step's responsibilities.
      const e = gaussianEStep(...t, { impl: 'fused', validate: false });
      for (const impl of impls) {
        for (let w = 0; w < 2; w++) {
          const st = stats(t[0], e.resp, t[1], diagonal, impl, K, D);
          await st.s2.data();
          tf.dispose([st.n, st.s1, st.s2]);
        }
        const t0 = performance.now();
        let last: SuffStats | undefined;
        for (let r = 0; r < reps; r++) {
          if (last) tf.dispose([last.n, last.s1, last.s2]);
          last = stats(t[0], e.resp, t[1], diagonal, impl, K, D);
        }
        await last!.s2.data();
        row[`stats_${impl}_ms`] = +((performance.now() - t0) / reps).toFixed(3);
        tf.dispose([last!.n, last!.s1, last!.s2]);
      }
      dispose([e]);
      if (impls.length === 2) row.stats_fused_speedup = +((row.stats_reference_ms as number) / (row.stats_fused_ms as number)).toFixed(2);
      // Agreement on the first rows, read back asynchronously (no synchronous reads on webgpu).
      const m = Math.min(N, 4096);
      const sub = makeEStepCase(20261202 + K * 100 + D, m, K, D, diagonal);
      const ts: Inputs = [tf.tensor2d(sub.x, [m, D]), t[1], t[2], t[3]];
      const read = async (r: EStepResult) => ({ logJoint: await r.logJoint.data(), logMarginal: await r.logMarginal.data(), resp: await r.resp.data() });
      const [f] = estep(ts, 'fused', K, D);
      const [g] = estep(ts, 'reference', K, D);
      row.agreement_ratio = +estepDisagreement(sub, await read(f), await read(g)).ratio.toFixed(3);
      dispose([f, g]);
      tf.dispose([...t, ts[0]]);
      results.push(row);
      record('results', results);
      console.error(JSON.stringify(row));
    }
  }

  // Chain forward-backward: the marginals of a T-step, K-state chain, fused against the tree.
  const chains: Record<string, unknown>[] = [];
  for (const [T, K] of withinBudget('chains') ? chainConfigs : []) {
    const c = makeChainCase(20261203 + T + K, T, K, 0.1);
    const init = tf.tensor1d(c.init);
    const mats = tf.tensor3d(c.mats, [T - 1, K, K]);
    const row: Record<string, unknown> = { T, K };
    const free = (m: ChainMarginals) => tf.dispose([m.logZ, m.first, m.pairs]);
    for (const impl of impls) {
      for (let w = 0; w < 2; w++) {
        const m = chainMarginals(init, mats, { impl });
        await m.pairs.data();
        free(m);
      }
      const t0 = performance.now();
      let last: ChainMarginals | undefined;
      for (let r = 0; r < reps; r++) {
        if (last) free(last);
        last = chainMarginals(init, mats, { impl });
      }
      await last!.pairs.data();
      row[`${impl}_ms`] = +((performance.now() - t0) / reps).toFixed(3);
      const alpha = new Float64Array(T * K);
      const logZ = chainForwardJS(c.init, c.mats, T, K, alpha);
      const first = new Float64Array(K);
      const pairs = new Float64Array((T - 1) * K * K);
      chainBackwardJS(c.mats, T, K, alpha, logZ, first, pairs);
      const got = { logZ: (await last!.logZ.data())[0], first: await last!.first.data(), pairs: await last!.pairs.data() };
      row[`${impl}_agreement_ratio`] = +chainDisagreement(c, { logZ, first, pairs }, got).ratio.toPrecision(3);
      free(last!);
    }
    if (impls.length === 2) row.fused_speedup = +((row.reference_ms as number) / (row.fused_ms as number)).toFixed(2);
    tf.dispose([init, mats]);
    chains.push(row);
    record('chains', chains);
    console.error(JSON.stringify(row));
  }

  // A batch of chains (the batched potential of an HMM: one chain per parameter point): log Z
  // and its gradient (the marginals) of B chains as one op, fused and tree, against B separate
  // calls; ms per call (all B chains), at (T, K, B) from --chain-batch.
  if (chainBatch.length && withinBudget('chain_batch')) {
    const [T, K, B] = chainBatch;
    if (chainBatch.length !== 3 || ![T, K, B].every((v) => Number.isSafeInteger(v) && v >= 1) || T < 2) throw new RangeError(`bench/gpu: --chain-batch must be T,K,B positive integers (T >= 2), got '${chainBatch}'`);
    const cs = Array.from({ length: B }, (_, b) => makeChainCase(20261208 + b, T, K, 0.1));
    const init = tf.tensor2d(cs.flatMap((c) => Array.from(c.init)), [B, K]);
    const mats = tf.tensor4d(cs.flatMap((c) => Array.from(c.mats)), [B, T - 1, K, K]);
    const singles = cs.map((c) => [tf.tensor1d(c.init), tf.tensor3d(c.mats, [T - 1, K, K])] as const);
    // ms per call of `run` (its tensors disposed after the next call is queued; the last one read).
    const timeCalls = async (run: () => tf.Tensor[]): Promise<number> => {
      for (let w = 0; w < 2; w++) {
        const ts = run();
        await ts[ts.length - 1].data();
        tf.dispose(ts);
      }
      const t0 = performance.now();
      let last: tf.Tensor[] = [];
      for (let r = 0; r < reps; r++) {
        const next = run();
        tf.dispose(last);
        last = next;
      }
      await last[last.length - 1].data();
      tf.dispose(last);
      return (performance.now() - t0) / reps;
    };
    const row: Record<string, unknown> = { T, K, B };
    for (const impl of impls) {
      const sumLogZ = (a: tf.Tensor, m: tf.Tensor) => tf.sum(chainLogZ(a as tf.Tensor2D, m as tf.Tensor4D, { impl }));
      const batched = await timeCalls(() => tf.grads(sumLogZ)([init, mats]));
      const loop = await timeCalls(() => singles.flatMap(([a, m]) => tf.grads((x: tf.Tensor, y: tf.Tensor) => chainLogZ(x, y, { impl }))([a, m])));
      Object.assign(row, { [`${impl}_batched_ms`]: +batched.toFixed(3), [`${impl}_separate_ms`]: +loop.toFixed(3), [`${impl}_separate_over_batched`]: +(loop / batched).toPrecision(3) });
    }
    if (impls.length === 2) row.batched_fused_speedup = +((row.reference_batched_ms as number) / (row.fused_batched_ms as number)).toFixed(2);
    tf.dispose([init, mats, ...singles.flat()]);
    console.error(JSON.stringify(row));
    record('chain_batch', row);
  }

  // A full EM fit on the active backend against the same fit on the host.
  const EM_MODEL = `model gmm_full_em {
    data K: int
    data x: real[N, D]
    param w: simplex[K]
    param mu: real[K, D]
    param L: cholesky_cov[K, D]
    for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) }
  }`;

  /** Per-row log likelihoods of a full-covariance mixture in float64 (L: covariance Cholesky factors). */
  function rowLogLik(x: Float32Array, N: number, K: number, D: number, p: { w: number[]; mu: number[][]; L: number[][][] }): Float64Array {
    const out = new Float64Array(N);
    const c = p.w.map((w, k) => Math.log(w) - 0.5 * D * Math.log(2 * Math.PI) - p.L[k].reduce((a, row, i) => a + Math.log(row[i]), 0));
    const z = new Float64Array(D);
    const lj = new Float64Array(K);
    for (let n = 0; n < N; n++) {
      let m = -Infinity;
      for (let k = 0; k < K; k++) {
        let q = 0;
        const L = p.L[k];
        for (let i = 0; i < D; i++) {
          let s = x[n * D + i] - p.mu[k][i];
          for (let j = 0; j < i; j++) s -= L[i][j] * z[j];
          z[i] = s / L[i][i];
          q += z[i] * z[i];
        }
        lj[k] = c[k] - 0.5 * q;
        if (lj[k] > m) m = lj[k];
      }
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.exp(lj[k] - m);
      out[n] = m + Math.log(s);
    }
    return out;
  }

  let emReport: Record<string, unknown> | undefined;
  if (emConfig.length && withinBudget('em')) {
    const [eN, eK, eD] = emConfig;
    if (![eN, eK, eD].every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`bench/gpu: --em must be N,K,D positive integers, got '${emConfig}'`);
    const c = makeEStepCase(20261204, eN, eK, eD, false);
    // Starting values: equal weights, the generating means moved by up to 0.5, unit covariances.
    const init = {
      w: Array.from({ length: eK }, () => 1 / eK),
      mu: Array.from({ length: eK }, (_, k) => Array.from({ length: eD }, (_, d) => c.means[k * eD + d] + 0.5 * Math.sin(k * eD + d))),
      L: Array.from({ length: eK }, () => Array.from({ length: eD }, (_, i) => Array.from({ length: eD }, (_, j) => (i === j ? 1 : 0)))),
    };
    if (sharedData) {
      mkdirSync(sharedData, { recursive: true });
      writeFileSync(join(sharedData, 'em-x.f32'), c.x);
      writeFileSync(join(sharedData, 'em.json'), JSON.stringify({ N: eN, K: eK, D: eD, tol: 1e-5, maxIter: 200, regCovar: 1e-6, init }));
    }
    const opts = { init, maxIter: 200, tol: 1e-5 };
    const model = compile(EM_MODEL);
    const data = { K: eK, x: { shape: [eN, eD], values: c.x } };
    const bm = model.bind(data);
    await emAsync(bm, { ...opts, maxIter: 2 }); // warm-up: pipelines, buffers
    const fit = await emAsync(bm, opts);
    // The comparison runs a fixed number of iterations on both (tol 0): two fits stopped by the
    // tolerance can stop an iteration apart, which moves the log likelihood by up to tol per
    // point, more than rounding does.
    const fixed = { init, maxIter: 100, tol: 0 };
    const same = await emAsync(bm, fixed);
    bm.dispose();
    const ref = await runOnHostBackend(() => {
      const b = model.bind(data);
      try {
        return em(b, fixed);
      } finally {
        b.dispose();
      }
    });
    const summary = (f: EmResult) => ({ seconds: +f.seconds.toFixed(3), iterations: f.iterations, s_per_iter: +(f.seconds / Math.max(1, f.iterations)).toFixed(4), loglik_per_point: f.logLik / eN, converged: f.converged, e_step: f.eStep });
    // Agreement after 100 iterations: both fits start from the same values and take the same
    // steps up to float32 rounding. A float32 log likelihood of N rows summed by a tree (reductions on the device)
    // errs by (log2 N + 8 D^2 + 4 K + 16) u sum|l_n| (per-row work as in
    // test/infer/em-webgpu-cases.ts); the host's is float64. At convergence the parameters'
    // rounding moves it to second order only.
    const l = rowLogLik(c.x, eN, eK, eD, ref.params as never);
    const absSum = l.reduce((a, v) => a + Math.abs(v), 0);
    const tol = (Math.ceil(Math.log2(eN)) + 8 * eD * eD + 4 * eK + 16) * 2 ** -24 * absSum;
    const muA = (same.params.mu as number[][]).flat();
    const muB = (ref.params.mu as number[][]).flat();
    emReport = {
      N: eN, K: eK, D: eD,
      device: summary(fit),
      comparison: { iterations: 100, device: summary(same), host: { backend: canHost(), ...summary(ref) } },
      loglik_difference: Math.abs(same.logLik - ref.logLik),
      loglik_tolerance: tol,
      agreement_ratio: +(Math.abs(same.logLik - ref.logLik) / tol).toPrecision(3),
      max_abs_mu_difference: muA.reduce((a, v, i) => Math.max(a, Math.abs(v - muB[i])), 0),
    };
    console.error(JSON.stringify(emReport));
    record('em', emReport);
  }

  // Gradient evaluations of a large-N mixture's log likelihood on the active backend.
  /** The diagonal mixture of the gradient, NUTS and SMC sections, with `priors` (statements) before the likelihood. */
  const diagMixture = (name: string, priors: string[] = []) => [
    `model ${name} {`, '  data K: int', '  data x: real[N, D]', '  param w: simplex[K]', '  param mu: real[K, D]', '  param sigma: positive[K, D]',
    ...priors.map((st) => `  ${st}`), '  for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) }', '}',
  ].join('\n');
  const GRAD_MODEL = diagMixture('gmm_diag_grad');
  // With priors: tempered SMC draws its particles from them.
  const SMC_MODEL = diagMixture('gmm_diag_smc', ['w ~ dirichlet(rep(2.0, K))', 'mu ~ normal(0, 5)', 'sigma ~ lognormal(0, 1)']);
  let gradReport: Record<string, unknown> | undefined;
  if (gradConfig.length && withinBudget('gradient')) {
    const [gN, gK, gD] = gradConfig;
    if (![gN, gK, gD].every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`bench/gpu: --grad must be N,K,D positive integers, got '${gradConfig}'`);
    const c = makeEStepCase(20261205, gN, gK, gD, true);
    const model = compile(GRAD_MODEL);
    // The point: equal weights (stick-breaking at 0), the generating means, unit scales (log 0).
    const u = Float64Array.from([...new Array(gK - 1).fill(0), ...c.means, ...new Array(gK * gD).fill(0)]);
    const popts = { priors: false, jacobian: false };
    const bm = model.bind({ K: gK, x: { shape: [gN, gD], values: c.x } });
    for (let w = 0; w < 2; w++) await bm.potentialAndGradAsync(u, popts);
    const t0 = performance.now();
    let last: { value: number; grad: ArrayLike<number> } = { value: 0, grad: [] };
    for (let r = 0; r < reps; r++) last = await bm.potentialAndGradAsync(u, popts);
    const ms = (performance.now() - t0) / reps;
    bm.dispose();
    // Agreement on the first rows: the device's float32 gradient against the float64 replay.
    const m = Math.min(gN, 4096);
    const sub = { K: gK, x: { shape: [m, gD], values: c.x.subarray(0, m * gD) } };
    const sb = model.bind(sub);
    const dev = await sb.potentialAndGradAsync(u, popts);
    sb.dispose();
    const host = await runOnHostBackend(() => {
      const b = model.bind(sub);
      try {
        const g = new Float64Array(b.dim);
        const f = b.potentialFunction(popts);
        return { value: f.valueAndGrad(u, g), grad: g, traced: f.traced };
      } finally {
        b.dispose();
      }
    });
    const gMax = host.grad.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    gradReport = {
      N: gN, K: gK, D: gD, dim: u.length,
      ms_per_eval: +ms.toFixed(3),
      evals_per_s: +(1000 / ms).toFixed(1),
      potential: last.value,
      first_rows: m,
      host_replay_traced: host.traced,
      value_rel_difference: +(Math.abs(dev.value - host.value) / Math.abs(host.value)).toPrecision(3),
      grad_max_difference_over_max_abs_grad: +(dev.grad.reduce((a, v, i) => Math.max(a, Math.abs(v - host.grad[i])), 0) / gMax).toPrecision(3),
    };
    console.error(JSON.stringify(gradReport));
    record('gradient', gradReport);
  }

  // Batched gradient evaluations (what sampleParallel's device gradients do with several chains):
  // B points of GRAD_MODEL as one evaluation (potentialAndGradBatchSteps) at a smaller N, where
  // one evaluation may not fill the device, points per second for each B from --batch-points,
  // and each B's points per second over B = 1's.
  if (batchConfig.length && withinBudget('gradient_batch')) {
    const [bN, bK, bD] = batchConfig;
    if (![bN, bK, bD].every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`bench/gpu: --grad-batch must be N,K,D positive integers, got '${batchConfig}'`);
    if (!batchPoints.length || !batchPoints.every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`bench/gpu: --batch-points must be positive integers, got '${batchPoints}'`);
    const c = makeEStepCase(20261203, bN, bK, bD, true);
    const bm = compile(GRAD_MODEL).bind({ K: bK, x: { shape: [bN, bD], values: c.x } });
    const popts = { priors: false, jacobian: false };
    // Points near the generating values (each a little apart).
    const point = (r: number) => Float64Array.from([...new Array(bK - 1).fill(0.1 * r), ...c.means, ...new Array(bK * bD).fill(0.05 * r)]);
    const rows: Record<string, number>[] = [];
    for (const B of batchPoints) {
      const pts = Array.from({ length: B }, (_, r) => point(r));
      for (let w = 0; w < 2; w++) await runAsync(bm.potentialAndGradBatchSteps(pts, popts));
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) await runAsync(bm.potentialAndGradBatchSteps(pts, popts));
      const ms = (performance.now() - t0) / reps;
      rows.push({ points: B, ms_per_batch: +ms.toFixed(3), points_per_s: +((1000 * B) / ms).toFixed(1) });
    }
    const batchReport = {
      N: bN, K: bK, D: bD, reps, max_batch_points: bm.maxBatchPoints(),
      batches: rows.map((r) => ({ ...r, points_per_s_over_first: +(r.points_per_s / rows[0].points_per_s).toPrecision(3) })),
    };
    bm.dispose();
    console.error(JSON.stringify(batchReport));
    record('gradient_batch', batchReport);
  }

  // NUTS with the gradients on the active backend (sampleParallel's deviceGradients: chains in
  // worker threads, every potential and gradient computed here) on GRAD_MODEL at --nuts N,K,D,C
  // from the generating values, against the float64 replay's gradient evaluations on the host
  // (what NUTS runs on there: one evaluation per leapfrog step, one thread per chain).
  let nutsReport: Record<string, unknown> | undefined;
  if (nutsConfig.length && withinBudget('nuts')) {
    const [nN, nK, nD, nC] = nutsConfig;
    if (![nN, nK, nD, nC].every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`bench/gpu: --nuts must be N,K,D,chains positive integers, got '${nutsConfig}'`);
    const c = makeEStepCase(20261207, nN, nK, nD, true);
    const model = compile(GRAD_MODEL);
    const data = { K: nK, x: { shape: [nN, nD], values: c.x } };
    const means = Array.from({ length: nK }, (_, k) => Array.from(c.means.subarray(k * nD, (k + 1) * nD)));
    const init = { w: new Array(nK).fill(1 / nK), mu: means, sigma: means.map((m) => m.map(() => 1)) };
    const sopts = { chains: nC, warmup: 10, draws: 10, seed: 1, maxTreeDepth: 5, metric: 'diag' as const, init };
    // A bundle (the device) starts its own file as the worker; from the sources, the package's entry.
    const workerEntry = import.meta.url.endsWith('.mjs') ? new URL(import.meta.url) : undefined;
    const t0 = performance.now();
    const r = await sampleParallel(model, data, { ...sopts, deviceGradients: true, workerEntry });
    const wall = (performance.now() - t0) / 1000;
    const leapfrogs = r.chains.reduce((a, ch) => a + ch.stats.reduce((b, st) => b + st.n_leapfrog, 0), 0);
    const samplingS = Math.max(...r.chains.map((ch) => ch.timeSamplingMs)) / 1000;
    // The host: the float64 replay of the same potential, timed over a few evaluations, and the
    // last draw's log density there (the device's lp__ must agree within float32 error).
    const last = r.chains[0].unconstrained[r.chains[0].unconstrained.length - 1];
    const host = await runOnHostBackend(() => {
      const b = model.bind(data);
      try {
        const f = b.potentialFunction();
        const g = new Float64Array(b.dim);
        f.valueAndGrad(last, g); // the first call pays for the trace
        let v = 0;
        const ms = msPerCall(() => { v = f.valueAndGrad(last, g); });
        return { traced: f.traced, ms, lp: -v };
      } finally {
        b.dispose();
      }
    });
    const devLp = r.chains[0].stats[r.chains[0].stats.length - 1].lp;
    const deviceRate = leapfrogs / samplingS;
    // Host NUTS: one replay evaluation per leapfrog step, each chain on its own core.
    const hostRate = (1000 / host.ms) * nC;
    nutsReport = {
      N: nN, K: nK, D: nD, dim: r.chains[0].unconstrained[0].length, ...sopts, init: 'generating values',
      wall_seconds: +wall.toFixed(2),
      sampling_leapfrogs: leapfrogs,
      device_leapfrogs_per_s: +deviceRate.toFixed(1),
      host_replay_traced: host.traced,
      host_replay_ms_per_eval: +host.ms.toFixed(1),
      host_leapfrogs_per_s_one_thread_per_chain: +hostRate.toFixed(2),
      device_over_host: +(deviceRate / hostRate).toPrecision(3),
      last_draw_lp: { device: devLp, host_replay: host.lp, over_float32_bound: +(Math.abs(devLp - host.lp) / (2 * (nN + 16) * 2 ** -24 * Math.abs(host.lp))).toPrecision(3) },
      divergences: r.diagnostics.divergences,
    };
    console.error(JSON.stringify(nutsReport));
    record('nuts', nutsReport);
  }

  // Particle-filter throughput on a two-state Gaussian HMM (bench/smc.ts's model).
  let pfReport: Record<string, unknown> | undefined;
  if (pfConfig.length && withinBudget('particle_filter')) {
    const [T, P] = pfConfig;
    if (![T, P].every((v) => Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`bench/gpu: --pf must be T,P positive integers, got '${pfConfig}'`);
    const { y, tables, ssm, exact } = twoStateHmm(T, 20261206);
    if (sharedData) {
      mkdirSync(sharedData, { recursive: true });
      writeFileSync(join(sharedData, 'pf.json'), JSON.stringify({ T, P, pi: PI, A, mu: MU, sd: SD, y, resampleThreshold: 0.5 }));
    }
    const opts = { particles: P, proposal: 'bootstrap' as const, resampling: 'systematic' as const, resampleThreshold: 0.5 };
    const runs = 3;
    /** A warm-up run at up to 10^4 particles, then `runs` seeded runs: the median seconds and throughput, and the log Z errors. */
    const timed = async (run: (o: typeof opts & { seed: number }) => { wallSeconds: number; logZ: number } | Promise<{ wallSeconds: number; logZ: number }>) => {
      await run({ ...opts, particles: Math.min(P, 10000), seed: 99 }); // warm-up (JIT, pipelines)
      const secs: number[] = [];
      const errs: number[] = [];
      for (let r = 0; r < runs; r++) {
        const res = await run({ ...opts, seed: 1 + r });
        secs.push(res.wallSeconds);
        errs.push(res.logZ - exact);
      }
      const med = [...secs].sort((a, b) => a - b)[1];
      return { median_seconds: +med.toFixed(3), particle_steps_per_s: +((P * T) / med).toExponential(3), logZ_errors: errs.map((e) => +e.toPrecision(3)) };
    };
    const host = await timed((o) => particleFilter(ssm, o));
    pfReport = { T, P, runs, where: 'host (float64 JS, one thread)', ...host, exact_logZ: exact };
    // Recorded before the device part, which (a first run on a new device) may fail on its own.
    record('particle_filter', pfReport);
    // The same filter as tensor ops on the backend (particleFilterDevice): on webgpu, the GPU.
    const tssm = hmmTensorSsm(tables);
    try {
      pfReport.device = { where: `particleFilterDevice on ${used} (float32 tensor ops)`, ...(await timed((o) => particleFilterDevice(tssm, o))) };
    } catch (e) {
      pfReport.device = { where: `particleFilterDevice on ${used}`, error: String((e as Error)?.message ?? e) };
    } finally {
      tssm.dispose();
    }
    console.error(JSON.stringify(pfReport));
    record('particle_filter', pfReport);
  }

  /** The particle sections' case: N,K,D,particles from `flag`'s config, SMC_MODEL and its data drawn with `seed`. */
  function cloudCase(flag: string, config: number[], seed: number) {
    const [N, K, D, P] = config;
    if (config.length !== 4 || ![N, K, D, P].every((v) => Number.isSafeInteger(v) && v >= 1) || P < 2) throw new RangeError(`bench/gpu: ${flag} must be N,K,D,particles positive integers (particles >= 2), got '${config}'`);
    const c = makeEStepCase(seed, N, K, D, true);
    return { N, K, D, P, model: compile(SMC_MODEL), data: { K, x: { shape: [N, D], values: c.x } } };
  }

  // Tempered SMC with the moves on the backend (smcDevice's run: every leapfrog step evaluates
  // the particles as batches) on a diagonal mixture with priors, against the float64 replay's
  // time per point evaluation on the host times the run's point evaluations (host smc
  // evaluates one particle at a time).
  if (smcConfig.length && withinBudget('smc')) {
    const { N: sN, K: sK, D: sD, P: sP, model, data } = cloudCase('--smc', smcConfig, 20261204);
    const opts = { particles: sP, seed: 1, maxStages: 150 };
    const hostBound = await runOnHostBackend(() => model.bind(data));
    const device = model.bind(data);
    const inner = deviceTemperedEvaluator(device);
    // smcDevice's run, with its evaluations counted.
    let points = 0;
    let batches = 0;
    const counted: TemperedEvaluator = {
      *logLiks(p) { points += p.length; batches++; return yield* inner.logLiks(p); },
      *logDensityGrads(p, b, g) { points += p.length; batches++; return yield* inner.logDensityGrads(p, b, g); },
    };
    let smcReport: Record<string, unknown>;
    try {
      const initial = await runOnHostBackend(() => priorParticles(model, hostBound, opts, sP, opts.seed));
      const t0 = performance.now();
      const run = await runAsync(smcSteps(model, hostBound, opts, { evaluator: counted, initial }));
      const seconds = (performance.now() - t0) / 1000;
      // The host: the float64 replay of the tempered target (prior and likelihood with gradients) per point.
      const host = await runOnHostBackend(() => {
        const t = TemperedTarget.of(hostBound, 0.5);
        const g = new Float64Array(hostBound.dim);
        t.logDensityGrad(run.u[0], g); // the first call pays for the trace
        let e = 0;
        const ms = msPerCall(() => t.logDensityGrad(run.u[e++ % run.u.length], g));
        return { ms, traced: t.prior.traced && t.lik.traced };
      });
      const hostSeconds = (points * host.ms) / 1000;
      smcReport = {
        N: sN, K: sK, D: sD, particles: sP, dim: hostBound.dim, stages: run.rest.betas.length - 1, logZ: run.rest.logZ,
        device_seconds: +seconds.toFixed(2), point_evaluations: points, batched_evaluations: batches, max_batch_points: device.maxBatchPoints(),
        device_points_per_s: +(points / seconds).toFixed(1),
        host_replay_traced: host.traced, host_replay_ms_per_point: +host.ms.toFixed(3),
        host_seconds_for_these_evaluations: +hostSeconds.toFixed(1),
        device_over_host: +(hostSeconds / seconds).toPrecision(3),
      };
    } catch (e) {
      smcReport = { N: sN, K: sK, D: sD, particles: sP, error: String((e as Error)?.message ?? e) };
    } finally {
      device.dispose();
      hostBound.dispose();
    }
    console.error(JSON.stringify(smcReport));
    record('smc', smcReport);
  }

  // Annealed Langevin with the gradients on the backend (scoreSampleDeviceGradients: the sampler
  // in a worker thread, each MALA step of the whole cloud one request of all its points,
  // evaluated as one batch here) on the SMC section's model at --annealed N,K,D,particles,
  // against the float64 replay's time per point on the host times the same evaluations
  // (host annealed Langevin evaluates one particle at a time).
  if (annealedConfig.length && withinBudget('annealed')) {
    const { N: aN, K: aK, D: aD, P: aP, model, data } = cloudCase('--annealed', annealedConfig, 20261205);
    const opts = { method: 'annealed-langevin' as const, chains: 1, draws: aP, moveSteps: 2, seed: 1 };
    const workerEntry = import.meta.url.endsWith('.mjs') ? new URL(import.meta.url) : undefined;
    let annealedReport: Record<string, unknown>;
    try {
      const t0 = performance.now();
      const r = await scoreSampleDeviceGradients(model, data, { ...opts, workerEntry });
      const seconds = (performance.now() - t0) / 1000;
      const st = r.gradientBatches!;
      const host = await runOnHostBackend(() => {
        const b = model.bind(data);
        try {
          const f = b.potentialFunction();
          const g = new Float64Array(b.dim);
          const us = r.chains[0].unconstrained;
          f.valueAndGrad(us[0], g); // the first call pays for the trace
          let e = 0;
          const ms = msPerCall(() => { f.valueAndGrad(us[e++ % us.length], g); });
          return { ms, traced: f.traced };
        } finally {
          b.dispose();
        }
      });
      const hostSeconds = (st.requests * host.ms) / 1000;
      annealedReport = {
        N: aN, K: aK, D: aD, particles: aP, moveSteps: opts.moveSteps, levels: r.annealing!.betas.length - 1, logZ: r.logZ,
        seconds_with_worker_start: +seconds.toFixed(2), point_evaluations: st.requests, batches: st.batches, largest_batch: st.largest,
        device_points_per_s: +(st.requests / seconds).toFixed(1),
        host_replay_traced: host.traced, host_replay_ms_per_point: +host.ms.toFixed(3),
        host_seconds_for_these_evaluations: +hostSeconds.toFixed(1),
        device_over_host: +(hostSeconds / seconds).toPrecision(3),
      };
    } catch (e) {
      annealedReport = { N: aN, K: aK, D: aD, particles: aP, error: String((e as Error)?.message ?? e) };
    }
    console.error(JSON.stringify(annealedReport));
    record('annealed', annealedReport);
  }

  /** The backend the host reference fit ran on. */
  function canHost(): string {
    return used === 'webgpu' ? 'cpu' : used;
  }

  const report = { ...header(), ...sections, complete: true };
  const json = JSON.stringify(report, null, 2);
  console.log(json);
  if (out) writeFileSync(out, json + '\n');
  process.exit(0);
}

// The device runs one bundle: sampleParallel's worker threads (the NUTS section) start this
// same file, which then runs the chain worker instead of the benchmark.
if (!isMainThread && (workerData as { mixpplChainWorker?: boolean } | null)?.mixpplChainWorker) chainWorkerMain();
else await bench();
