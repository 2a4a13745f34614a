/**
 * The WGSL kernels on a real WebGPU device, run as a child process by webgpu.test.ts: Dawn's
 * default adapter where there is one, else Mesa's software OpenGL ES in compatibility mode
 * ('gl-compat', what a CI machine without a GPU has). Dawn on Mesa can abort in native code
 * while the process exits (`std::system_error` from a driver thread), which would take a
 * test worker down with it; in a child process the test reads the results printed before
 * exit and ignores a crash after the last one.
 *
 * Prints one JSON line per check ({ check, ok, error? }), or { skipped } when no adapter is
 * found, then { done: true }.
 */
import fc from 'fast-check';
import { tf, useBackend, BackendUnavailableError, webgpuAdapterInfo } from '../../src/tensor';
import { gaussianEStep, gaussianEStepReference, checkGaussianEStepParams, GAUSSIAN_ESTEP_KERNEL, type EStepResult } from '../../src/tensor/fused';
import { gaussianSuffStats, gaussianSuffStatsReference, GAUSSIAN_SUFF_STATS_KERNEL } from '../../src/tensor/fused';
import { estepDisagreement, makeEStepCase, suffStatsDisagreement, chainDisagreement, makeChainCase, type EStepArrays, type ChainArrays, type ChainOutputs } from '../../src/tensor/fused/tolerance';
import { chainLogZ, chainMarginals, chainForwardJS, chainBackwardJS, CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL } from '../../src/tensor/fused';
import { threefryDraw, threefryDrawJS } from '../../src/tensor/fused';
import { Key } from '../../src/tensor';
import { particleFilterDevice, hmmTensorSsm, deviceAncestors } from '../../src/infer/smc/filter-device';
import { hmmTables } from '../../src/infer/smc/ssm';
import { hmmForward } from '../../src/infer/smc/kalman';
import { DeviceStream } from '../../src/tensor/fused';
import { runAsync } from '../../src/tensor';
import { compile, type DataInput } from '../../src';
import { fileURLToPath } from 'node:url';
import { check, runChildChecks, say, startWebgpuChild } from './webgpu-child';

const adapter = await startWebgpuChild();
say({ adapterInfo: `${webgpuAdapterInfo()} (${adapter})` });

const run = async (c: EStepArrays, impl: 'fused' | 'reference') => {
  const { N, K, D, diagonal } = c;
  const t = [
    tf.tensor2d(c.x as Float32Array, [N, D]),
    tf.tensor2d(c.means as Float32Array, [K, D]),
    diagonal ? tf.tensor2d(c.precChol as Float32Array, [K, D]) : tf.tensor3d(c.precChol as Float32Array, [K, D, D]),
    tf.tensor1d(c.logWeights as Float32Array),
  ] as const;
  const r: EStepResult = impl === 'fused' ? gaussianEStep(...t, { impl }) : gaussianEStepReference(...t);
  const out = { logJoint: await r.logJoint.data(), logMarginal: await r.logMarginal.data(), resp: await r.resp.data() };
  tf.dispose([...t, r.logJoint, r.logMarginal, r.resp]);
  return out;
};

/** log Z and the marginals on the device (`impl`), read back asynchronously. */
const runChain = async (c: ChainArrays, impl: 'fused' | 'reference'): Promise<Required<ChainOutputs>> => {
  const init = tf.tensor1d(Float32Array.from(c.init));
  const mats = tf.tensor3d(Float32Array.from(c.mats), [c.T - 1, c.K, c.K]);
  const r = chainMarginals(init, mats, { impl });
  const out = { logZ: (await r.logZ.data())[0], first: await r.first.data(), pairs: await r.pairs.data() };
  tf.dispose([init, mats, r.logZ, r.first, r.pairs]);
  return out;
};

/** The float64 recursions (the cpu kernel's, checked against path enumeration in chain.test.ts). */
const exactChain = (c: ChainArrays): Required<ChainOutputs> => {
  const alpha = new Float64Array(c.T * c.K);
  const logZ = chainForwardJS(c.init, c.mats, c.T, c.K, alpha);
  const first = new Float64Array(c.K);
  const pairs = new Float64Array((c.T - 1) * c.K * c.K);
  chainBackwardJS(c.mats, c.T, c.K, alpha, logZ, first, pairs);
  return { logZ, first, pairs };
};

const checks: [string, () => Promise<void>][] = [
  ['estep-random', async () => {
    check(tf.getBackend() === 'webgpu', `backend is ${tf.getBackend()}`);
    check(tf.getKernel(GAUSSIAN_ESTEP_KERNEL, 'webgpu') !== undefined, 'the E-step kernel is not registered for webgpu');
    // Every (K, D) compiles four pipelines, slow on a software rasteriser: a few shapes, many data.
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 300 }), K: fc.constantFrom(1, 3, 16), D: fc.constantFrom(1, 2, 5),
      diagonal: fc.boolean(), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ N, K, D, diagonal, seed }) => {
        const c = makeEStepCase(seed, N, K, D, diagonal);
        const { ratio, where } = estepDisagreement(c, await run(c, 'fused'), await run(c, 'reference'));
        if (!(ratio <= 1)) throw new Error(`disagreement ${ratio.toFixed(2)}x the tolerance at ${where}`);
      }),
      { numRuns: 30, seed: 20261203 },
    );
  }],
  ['estep-looped', async () => {
    for (const diagonal of [true, false]) {
      const c = makeEStepCase(33, 70, 2, 34, diagonal);
      const { ratio, where } = estepDisagreement(c, await run(c, 'fused'), await run(c, 'reference'));
      check(ratio <= 1, `D = 34 (${diagonal ? 'diagonal' : 'full'}): ${ratio.toFixed(2)}x the tolerance at ${where}`);
    }
  }],
  ['estep-mutant-far-zero', async () => {
    const c = makeEStepCase(9, 40, 3, 5, false);
    const fused = await run(c, 'fused');
    const wrong = { ...c, logWeights: Float32Array.from(c.logWeights, (v, k) => (k === 1 ? v + 1e-3 : v)) };
    check(estepDisagreement(c, fused, await run(wrong, 'reference')).ratio > 1, 'a 1e-3 change of one log weight went undetected');
    const far = makeEStepCase(10, 40, 3, 5, true);
    for (let i = 0; i < far.x.length; i++) far.x[i] += 200;
    far.logWeights[0] = -Infinity;
    const f = await run(far, 'fused');
    check(estepDisagreement(far, f, await run(far, 'reference')).ratio <= 1, 'far points disagree');
    for (let n = 0; n < far.N; n++) {
      check(Number.isFinite(f.logMarginal[n]), `logMarginal[${n}] is ${f.logMarginal[n]}`);
      check(f.resp[n * 3] === 0, `resp[${n}, 0] is ${f.resp[n * 3]} with a zero weight`);
    }
  }],
  ['suffstats', async () => {
    check(tf.getKernel(GAUSSIAN_SUFF_STATS_KERNEL, 'webgpu') !== undefined, 'the statistics kernel is not registered for webgpu');
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 3000 }), K: fc.constantFrom(1, 3, 16), D: fc.constantFrom(1, 2, 5),
      diagonal: fc.boolean(), centred: fc.boolean(), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    const stats = async (c: EStepArrays, resp: Float32Array, diagonal: boolean, centred: boolean, impl: 'fused' | 'reference') => {
      const { N, K, D } = c;
      const x = tf.tensor2d(c.x as Float32Array, [N, D]);
      const r = tf.tensor2d(resp, [N, K]);
      const centre = centred ? tf.tensor2d(c.means as Float32Array, [K, D]) : undefined;
      const st = impl === 'fused' ? gaussianSuffStats(x, r, { diagonal, centre, impl }) : gaussianSuffStatsReference(x, r, { diagonal, centre });
      const [nv, s1v, s2v] = [await st.n.data(), await st.s1.data(), await st.s2.data()];
      const w2 = diagonal ? D : D * D;
      tf.dispose([x, r, st.n, st.s1, st.s2, ...(centre ? [centre] : [])]);
      return Array.from({ length: K }, (_, k) => [nv[k], ...Array.from(s1v.slice(k * D, (k + 1) * D)), ...Array.from(s2v.slice(k * w2, (k + 1) * w2))]);
    };
    await fc.assert(
      fc.asyncProperty(arb, async ({ N, K, D, diagonal, centred, seed }) => {
        const c = makeEStepCase(seed, N, K, D, true);
        const resp = Float32Array.from((await run(c, 'reference')).resp);
        const a = await stats(c, resp, diagonal, centred, 'fused');
        const b = await stats(c, resp, diagonal, centred, 'reference');
        const w = suffStatsDisagreement(c, resp, centred ? c.means : undefined, diagonal, a, b);
        if (!(w <= 1)) throw new Error(`disagreement ${w.toFixed(2)}x the tolerance`);
      }),
      { numRuns: 20, seed: 20261205 },
    );
    // The bound can fail: one responsibility off by 1e-3.
    const c = makeEStepCase(12, 40, 3, 3, true);
    const resp = Float32Array.from((await run(c, 'reference')).resp);
    const a = await stats(c, resp, false, true, 'fused');
    const b = await stats(c, Float32Array.from(resp, (v, i) => (i === 4 ? v + 1e-3 : v)), false, true, 'reference');
    check(suffStatsDisagreement(c, resp, c.means, false, a, b) > 1, 'a 1e-3 change of one responsibility went undetected');
  }],
  ['chain', async () => {
    check(tf.getKernel(CHAIN_LOGZ_KERNEL, 'webgpu') !== undefined && tf.getKernel(CHAIN_MARGINALS_KERNEL, 'webgpu') !== undefined, 'the chain kernels are not registered for webgpu');
    // One step, one state, several states per thread (K = 70 > 64 threads), long chains, impossible
    // transitions; T = 20000 takes several dispatches per recursion (one dispatch of that many
    // steps left its output unwritten on Mesa's adapter).
    const cases: [number, number, number, number][] = [[1, 1, 3, 0], [2, 9, 1, 0], [3, 40, 4, 0.3], [4, 300, 3, 0], [5, 25, 16, 0.3], [6, 6, 70, 0.2], [8, 20000, 2, 0.1]];
    for (const [seed, T, K, impossible] of cases) {
      const c = makeChainCase(seed, T, K, impossible);
      const want = exactChain(c);
      for (const impl of ['fused', 'reference'] as const) {
        const { ratio, where } = chainDisagreement(c, want, await runChain(c, impl));
        check(ratio <= 1, `${impl}, T = ${T}, K = ${K}: ${ratio.toFixed(2)}x the tolerance at ${where}`);
      }
    }
    // A batch of chains (init [B, K], mats [B, T-1, K, K]): each chain's log Z and, as the
    // gradient of their sum, its marginals, within the same bound of its own float64 values;
    // one step, K > 64 threads, and T past one dispatch's steps (the resumed rows are per chain).
    for (const [B, T, K] of [[3, 25, 5], [2, 1, 3], [2, 6, 70], [2, 5000, 2]]) {
      const cs = Array.from({ length: B }, (_, b) => makeChainCase(60 + b, T, K, b % 2 ? 0.2 : 0));
      const init = tf.tensor2d(cs.flatMap((c) => Array.from(c.init)), [B, K]);
      const mats = tf.tensor4d(cs.flatMap((c) => Array.from(c.mats)), [B, T - 1, K, K]);
      for (const impl of ['fused', 'reference'] as const) {
        const f = (a: tf.Tensor, m: tf.Tensor) => tf.sum(chainLogZ(a as tf.Tensor2D, m as tf.Tensor4D, { impl }));
        const lz = chainLogZ(init, mats, { impl });
        const g = T > 1 ? tf.grads(f)([init, mats]) : [tf.grad((a: tf.Tensor) => f(a, mats))(init)];
        const [z, first, pairs] = [await lz.data(), await g[0].data(), g[1] ? await g[1].data() : new Float32Array(0)];
        tf.dispose([lz, ...g]);
        const P = (T - 1) * K * K;
        cs.forEach((c, b) => {
          const got = { logZ: z[b], first: first.slice(b * K, (b + 1) * K), pairs: pairs.slice(b * P, (b + 1) * P) };
          const { ratio, where } = chainDisagreement(c, exactChain(c), got);
          check(ratio <= 1, `${impl}, batch of ${B}, T = ${T}, K = ${K}, chain ${b}: ${ratio.toFixed(2)}x the tolerance at ${where}`);
        });
      }
      tf.dispose([init, mats]);
    }
    // The gradient of the fused log Z is the fused marginals, and a 1e-2 change of one potential is seen.
    const c = makeChainCase(7, 30, 5, 0.2);
    const init = tf.tensor1d(c.init);
    const mats = tf.tensor3d(c.mats, [c.T - 1, c.K, c.K]);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => chainLogZ(a, b, { impl: 'fused' }))([init, mats]);
    const m = await runChain(c, 'fused');
    const gp = await g[1].data();
    check(gp.every((v, e) => v === m.pairs[e]), 'the gradient of log Z differs from the marginals kernel');
    tf.dispose([init, mats, ...g]);
    const wrong = { ...c, mats: c.mats.map((v, e) => (e === 7 && Number.isFinite(v) ? v + 1e-2 : v)) };
    check(chainDisagreement(c, exactChain(c), await runChain(wrong, 'fused')).ratio > 1, 'a 1e-2 change of one transition potential went undetected');
  }],
  ['sync-read-message', async () => {
    if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
    const y = tf.square(tf.ones([3])); // computed on the GPU, so not cached on the CPU
    const want = new BackendUnavailableError('webgpu', 'this computation reads a tensor synchronously (dataSync/arraySync), which tfjs-backend-webgpu cannot do under Node.js (it needs OffscreenCanvas); this inference path does not run on webgpu yet. Use --backend wasm').message;
    let got = '';
    try { y.dataSync(); } catch (e) { got = e instanceof BackendUnavailableError ? e.message : `not a BackendUnavailableError: ${String(e)}`; }
    check(got === want, `dataSync threw '${got}'`);
    const v = Array.from(await y.data());
    check(v.join(',') === '1,1,1', `data() gave ${v}`);
    y.dispose();
  }],
  ['async-param-check', async () => {
    const x = tf.zeros([4, 2]);
    let msg = '';
    try { await checkGaussianEStepParams(x, tf.tensor2d([[0, NaN]]), tf.ones([1, 2]), tf.zeros([1])); } catch (e) { msg = String(e); }
    check(/means\[0, 1\] is NaN/.test(msg), `a NaN mean gave '${msg}'`);
    await checkGaussianEStepParams(x, tf.zeros([1, 2]), tf.ones([1, 2]), tf.zeros([1]));
  }],
  ['threefry', async () => {
    check(tf.getKernel('MixpplThreefryDraw', 'webgpu') !== undefined, 'the threefry kernel is not registered for webgpu');
    const key = Key.seed(7);
    const n = 100_003; // not a multiple of the workgroup
    const u = threefryDraw(key, 9, [n], 'uniform');
    const got = await u.data();
    u.dispose();
    const want = new Float32Array(n);
    threefryDrawJS(...key.words(), 9, false, want);
    let neq = 0;
    for (let i = 0; i < n; i++) if (got[i] !== want[i]) neq++;
    check(neq === 0, `${neq} of ${n} uniforms differ from the JS threefry`);
    const z = threefryDraw(key, 10, [n], 'normal');
    const gz = await z.data();
    z.dispose();
    threefryDrawJS(...key.words(), 10, true, want);
    // |z| <= 6 here; log, sqrt and cos in float32: relative error a few 2^-24 each, ~1e-6 of |z| + 1 in all
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(gz[i] - want[i]) / (1 + Math.abs(want[i])));
    check(worst < 2e-5, `normals differ from the JS threefry by up to ${worst} (relative)`);
  }],
  ['particle-filter', async () => {
    // systematic resampling's counts: floor or ceil of n w_i
    const w = Array.from({ length: 50 }, (_, i) => Math.exp(2 * Math.sin(1.7 * i + 0.3)));
    const tot = w.reduce((a, b) => a + b, 0);
    const W = tf.tensor1d(w.map((v) => v / tot));
    const anc = tf.tidy(() => deviceAncestors('systematic', W as tf.Tensor1D, new DeviceStream(Key.seed(3))));
    const counts = new Array(50).fill(0);
    for (const a of await anc.data()) counts[a]++;
    tf.dispose([W, anc]);
    counts.forEach((c, i) => check(Math.abs(c - (50 * w[i]) / tot) < 1 + 1e-4, `particle ${i}: ${c} copies for n w = ${(50 * w[i]) / tot}`));
    // an HMM's evidence: log Ẑ over 6 runs per proposal within 4 sd/√R + var of the forward algorithm's
    const rng = Key.seed(12).rng();
    const y: number[] = [];
    let zz = 0;
    const A = [[0.9, 0.1], [0.2, 0.8]];
    for (let t = 0; t < 40; t++) {
      zz = t === 0 ? (rng.uniform() < 0.5 ? 1 : 0) : rng.uniform() < A[zz][1 - zz] ? 1 - zz : zz;
      y.push(rng.normal([-1, 1.5][zz], [1, 0.8][zz]));
    }
    const normLog = (v: number, m: number, s: number) => -0.5 * Math.log(2 * Math.PI) - Math.log(s) - 0.5 * ((v - m) / s) ** 2;
    const tab = hmmTables([0.5, 0.5], A, y.map((v) => [0, 1].map((k) => normLog(v, [-1, 1.5][k], [1, 0.8][k]))));
    const exact = hmmForward(tab).logZ;
    const before = tf.memory().numTensors;
    const ssm = hmmTensorSsm(tab);
    for (const proposal of ['bootstrap', 'optimal'] as const) {
      const lz: number[] = [];
      for (let s = 1; s <= 6; s++) {
        const r = await particleFilterDevice(ssm, { particles: 2000, seed: s, proposal, readEvery: 16 });
        check(r.backend === 'webgpu', `ran on ${r.backend}`);
        lz.push(r.logZ);
      }
      const m = lz.reduce((a, b) => a + b, 0) / lz.length;
      const v = lz.reduce((a, b) => a + (b - m) ** 2, 0) / (lz.length - 1);
      check(Math.abs(m + v / 2 - exact) < 4 * Math.sqrt(v / lz.length) + v, `${proposal}: mean log Z-hat ${m} (var ${v}) against ${exact}`);
    }
    ssm.dispose();
    check(tf.memory().numTensors === before, `${tf.memory().numTensors - before} tensors left`);
  }],
  ['potential-batch', async () => {
    // A batch of points as one evaluation on the device (every stdlib shape of the batch path:
    // a mixture, a chain latent per point, a batched parameter indexed by a loop) against
    // each point's own potential and gradient, within float32 rounding of a sum of ~100 terms.
    const y = Array.from({ length: 24 }, (_, i) => 2 * Math.sin(0.9 * i) + 0.3 * Math.cos(3.1 * i));
    const cases: [string, DataInput][] = [
      ['gmm_diag', { K: 2, x: y.map((v, i) => [v, 0.5 * v - (i % 3)]) }], ['gaussian_hmm', { K: 2, y }], ['switching_lgssm', { K: 2, y: y.slice(0, 10) }],
    ];
    const before = tf.memory().numTensors;
    for (const [name, data] of cases) {
      const bm = compile(fileURLToPath(new URL(`../../stdlib/${name}.mix`, import.meta.url))).bind(data);
      const pts = Array.from({ length: 3 }, (_, r) => Float64Array.from({ length: bm.dim }, (_, i) => 0.9 * Math.sin(1 + 1.7 * i + 3.1 * r)));
      const got = await runAsync(bm.potentialAndGradBatchSteps(pts));
      for (let b = 0; b < pts.length; b++) {
        const want = await bm.potentialAndGradAsync(pts[b]);
        const scale = 1 + Math.abs(want.value);
        check(Math.abs(got.values[b] - want.value) < 1e-5 * scale, `${name} point ${b}: batch ${got.values[b]}, alone ${want.value}`);
        want.grad.forEach((g, i) => check(Math.abs(got.grads[b][i] - g) < 1e-5 * scale, `${name} point ${b} gradient ${i}: batch ${got.grads[b][i]}, alone ${g}`));
      }
      bm.dispose();
    }
    check(tf.memory().numTensors === before, `${tf.memory().numTensors - before} tensors left`);
  }],
];

await runChildChecks(checks);
