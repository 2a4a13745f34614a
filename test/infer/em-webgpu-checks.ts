/**
 * EM on a real WebGPU device, run as a child process by em-webgpu.test.ts (as
 * test/tensor/webgpu-device-checks.ts, and for the same reason: Dawn on Mesa can abort in
 * native code while the process exits). Dawn's default adapter where there is one, else
 * Mesa's software OpenGL ES ('gl-compat'). Only webgpu runs here (switching this process to
 * wasm and back hung Dawn's reads): the parent fits the same cases (em-webgpu-cases.ts) on
 * wasm and compares, with the tolerances derived there.
 *
 * Prints one JSON line per check ({ check, ok, error?, fit? }: fit, the webgpu result), or
 * { skipped } when no adapter is found, then { done: true }.
 */
import { useBackend, tf, BackendUnavailableError } from '../../src/tensor';
import { compile } from '../../src';
import { em, emAsync, emResponsibilitiesAsync, predictAsync, viterbiAsync, type EmResult } from '../../src/infer/em';
import { GMM_FULL } from './gmm-models';
import { argmaxes, cases, hmmY, onlineChunks, onlineInit, summarize, x2, PREDICT_ROWS, type P } from './em-webgpu-cases';
import { check, runChildChecks, say, startWebgpuChild } from '../tensor/webgpu-child';

await startWebgpuChild();

/** Fits case `name` on webgpu through model.fit (which takes the async loop there). */
async function fitCase(name: string, opts: { tol?: number; maxIter?: number } = {}): Promise<Record<string, unknown>> {
  const c = cases[name];
  const pending = compile(c.src).fit(c.data, { method: 'em', seed: 1, ...c.opts, ...opts });
  check(pending instanceof Promise, 'model.fit did not return a promise on webgpu');
  const r: EmResult = await pending;
  return { fit: summarize(r) };
}

/**
 * Fits case `name` on the device, reads its responsibilities (emResponsibilitiesAsync) and
 * checks that each row picks the float64 argmax of the fit's joint (rows within 1e-3 of a
 * tie left out; at least 90% compared).
 */
async function responsibilitiesPickArgmax(name: string): Promise<void> {
  const c = cases[name];
  const bm = compile(c.src).bind(c.data);
  const fit = await emAsync(bm, { seed: 1 });
  const r = Object.values(await emResponsibilitiesAsync(bm, fit.params as never))[0];
  bm.dispose();
  const host = argmaxes(c.joint!, fit.params as P, c.N);
  let compared = 0;
  for (let n = 0; n < c.N; n++) {
    if (host[n].gap < 1e-3) continue;
    compared++;
    const row = Array.from(r.values.subarray(n * c.K, (n + 1) * c.K));
    check(row.indexOf(Math.max(...row)) === host[n].k, `${name} row ${n}: device responsibilities pick ${row.indexOf(Math.max(...row)) + 1}, float64 ${host[n].k + 1}`);
  }
  check(compared > c.N * 0.9, `${name}: only ${compared} rows compared`);
}

const checks: [string, () => Promise<Record<string, unknown> | void>][] = [
  ['reverse-cumsum-lengths', async () => {
    // tfjs-backend-webgpu caches a reverse scan's shader without the axis length (backend.ts
    // re-registers the kernels): a length-3 scan, then length-2 ones, must each be right.
    const got: number[][] = [];
    for (const v of [[1, 2, 3], [1, 2], [4, 5, 6, 7], [1, 2]]) {
      const t = tf.tensor1d(v);
      const a = tf.cumsum(t, 0, true, true);
      const b = tf.cumsum(tf.reshape(t, [1, -1]), 1, false, true);
      const c = tf.cumprod(t, 0, false, true);
      got.push([...(await a.data()), ...(await b.data()), ...(await c.data())]);
      const want = [...v.map((_, i) => v.slice(i + 1).reduce((x, y) => x + y, 0)), ...v.map((_, i) => v.slice(i).reduce((x, y) => x + y, 0)), ...v.map((_, i) => v.slice(i).reduce((x, y) => x * y, 1))];
      check(got[got.length - 1].join(',') === want.join(','), `reverse scans of [${v}]: ${got[got.length - 1]}, expected ${want}`);
      tf.dispose([t, a, b, c]);
    }
  }],
  ['em-gmm-full', async () => {
    const d = await fitCase('full');
    // The responsibilities read back from the device (the fused E-step) pick the float64 argmax.
    await responsibilitiesPickArgmax('full');
    return d;
  }],
  ['em-gmm-full-fixed-iterations', () => fitCase('full', { tol: 0, maxIter: 25 })],
  ['em-gmm-diag', () => fitCase('diag')],
  ['em-poisson', () => fitCase('poisson')],
  ['em-poisson-starts', () => fitCase('poissonStarts')],
  ['em-online', async () => {
    // Online EM over the full case's rows in four chunks, two passes, on the device.
    const r = await compile(cases.full.src).fit(onlineChunks(), { method: 'em', online: { passes: 2, data: { K: 3 } }, seed: 1 });
    return { online: { trace: r.trace, params: r.params } };
  }],
  ['em-online-init', async () => {
    // The same from starting values.
    const r = await compile(cases.full.src).fit(onlineChunks(), { method: 'em', online: { passes: 2, data: { K: 3 }, init: onlineInit }, seed: 1 });
    return { online: { trace: r.trace, params: r.params } };
  }],
  ['em-predict', async () => {
    // predict (a Poisson mixture, new rows) and the Viterbi path of the HMM on the device, at
    // the device fits; the parent evaluates both at the same parameters on wasm.
    const p = cases.poisson;
    const pb = compile(p.src).bind(p.data);
    const pfit = await emAsync(pb, { seed: 1 });
    const pr = await predictAsync(pb, pfit.params as never, { y: PREDICT_ROWS });
    pb.dispose();
    const h = cases.hmm;
    const hb = compile(h.src).bind(h.data);
    const hfit = await emAsync(hb, { seed: 1 });
    const v = Object.values(await viterbiAsync(hb, hfit.params as never))[0];
    hb.dispose();
    const lat = Object.keys(pr.assignments)[0];
    return { predict: {
      params: pfit.params, logDensity: Array.from(pr.logDensity), assignments: Array.from(pr.assignments[lat].values),
      hmmParams: hfit.params, path: Array.from(v.path), logScore: v.logScore!, logZ: v.logZ!,
    } };
  }],
  ['em-responsibilities-generic', async () => {
    // Responsibilities of a model the fused Gaussian E-step does not take (Poisson mixture):
    // the generic marginals read with awaited reads, at the device fit; their argmax is the float64 one.
    await responsibilitiesPickArgmax('poisson');
  }],
  ['em-hmm', () => fitCase('hmm')],
  ['em-reseed', () => fitCase('reseed')],
  ['em-reseed-diag', () => fitCase('reseedDiag')],
  ['em-student-t', () => fitCase('studentT')],
  ['em-ordered', () => fitCase('ordered')],
  ['em-student-t-ordered', () => fitCase('studentTOrdered')],
  ['em-gamma', () => fitCase('gamma')],
  ['em-errors', async () => {
    const bm = compile(GMM_FULL).bind({ K: 3, x: x2 });
    let msg = '';
    try { em(bm); } catch (e) { msg = e instanceof BackendUnavailableError ? e.message : `not a BackendUnavailableError: ${String(e)}`; }
    bm.dispose();
    check(/em\(\) reads the log likelihood synchronously.*emAsync/.test(msg), `em() on webgpu threw '${msg}'`);
    const pending = compile(GMM_FULL).fit({ K: 3, x: x2 }, { method: 'em', seed: 1, maxIter: 2 });
    msg = '';
    try { void pending.logLik; } catch (e) { msg = String(e); }
    check(/returns a promise; await model\.fit/.test(msg), `reading a field without await gave '${msg}'`);
    await pending;
  }],
];

await runChildChecks(checks);
