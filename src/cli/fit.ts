/** `mixppl fit`: runs an inference method on a model and data and prints a summary. */
import { writeFileSync } from 'node:fs';
import type { Model } from '../model/model';
import type { DataValue } from '../model/data';
import { optimizeAsync } from '../infer/optimize';
import { emAsync, emResponsibilitiesAsync, type EmResult } from '../infer/em';
import { toCsv, DataFileError } from './data-io';

/** Which E-step an EM fit ran, as `fit` and `report` print it. */
export function eStepLabel(e: EmResult): string {
  return e.eStep === 'compiled' ? 'compiled (float64)' : e.eStep;
}

const METHODS = ['em', 'map', 'mle'] as const;

function fmt(x: number): string {
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4);
}

/** Flattens nested arrays into rows of (dotted name, value), Stan style. */
export function flattenValue(name: string, v: unknown, out: [string, number][] = []): [string, number][] {
  if (Array.isArray(v)) v.forEach((x, i) => flattenValue(`${name}.${i + 1}`, x, out));
  else out.push([name, v as number]);
  return out;
}

export async function fitCommand(model: Model, data: Record<string, DataValue>, opts: Map<string, string>, flags: Set<string>): Promise<number> {
  const method = opts.get('--method') ?? (model.ir.latents.length ? 'em' : 'map');
  if (!(METHODS as readonly string[]).includes(method)) {
    process.stderr.write(`mixppl fit: unknown method '${method}'; available: ${METHODS.join(', ')}\n`);
    return 2;
  }
  const assignments = opts.get('--assignments');
  if (assignments !== undefined && model.ir.latents.length === 0) {
    process.stderr.write(`mixppl fit: --assignments needs a model with an enumerated discrete latent; model ${model.name} has none\n`);
    return 2;
  }
  const bm = model.bind(data);
  const tty = process.stderr.isTTY && !flags.has('--quiet');
  const num = (k: string) => (opts.has(k) ? Number(opts.get(k)) : undefined);
  const seed = Number(opts.get('--seed') ?? 1);
  let r: { params: Record<string, unknown>; converged: boolean; iterations: number; seconds: number; [k: string]: unknown };
  const head: string[] = [];
  if (method === 'em') {
    // The awaited loop: the same steps and results as em(), and it runs on webgpu, which cannot read synchronously.
    const e = await emAsync(bm, {
      seed, nInit: num('--n-init'), maxIter: num('--max-iter'), tol: num('--tol'),
      objective: flags.has('--map') ? 'map' : 'mle',
      onIteration: tty ? (s, i, ll) => process.stderr.write(`\rstart ${s + 1}  iteration ${i}  log likelihood ${ll.toFixed(3)}   `) : undefined,
    });
    r = e as unknown as typeof r;
    head.push(`model ${model.name}: EM (${flags.has('--map') ? 'MAP' : 'maximum likelihood'}), ${e.starts.length} start${e.starts.length === 1 ? '' : 's'}; closed-form updates: ${e.closedForm.join(', ') || 'none'}; E-step: ${eStepLabel(e)}`);
    head.push(`log likelihood ${fmt(e.logLik)}; ${e.iterations} iterations; ${e.converged ? 'converged' : 'NOT converged'}; ${e.seconds.toFixed(2)} s`);
    head.push(`BIC ${fmt(e.bic)}  AIC ${fmt(e.aic)}  ICL ${fmt(e.icl)}  (${e.nParams} free parameters, ${e.nObs} observations; lower is better)`);
    for (const w of e.warnings) head.push(`warning: ${w}`);
  } else {
    // The awaited loop (optimizeAsync): the same steps as optimize(), and on webgpu the potential and gradient run on the device.
    const o = await optimizeAsync(bm, {
      method: method as 'map' | 'mle', seed, nInit: num('--n-init'), maxIter: num('--max-iter'), tol: num('--tol'),
      onIteration: tty ? (s, i, lp) => process.stderr.write(`\rstart ${s + 1}  iteration ${i}  log density ${lp.toFixed(3)}   `) : undefined,
    });
    r = o as unknown as typeof r;
    head.push(`model ${model.name}: ${method.toUpperCase()} by L-BFGS (latents summed out), ${o.starts.length} start${o.starts.length === 1 ? '' : 's'}`);
    head.push(`log density ${fmt(o.logDensity)}; ${o.iterations} iterations; ${o.converged ? 'converged' : 'NOT converged'} (${o.message}); ${o.seconds.toFixed(2)} s`);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  const lines: string[] = [...head, ''];
  const rows = Object.entries(r.params).flatMap(([k, v]) => flattenValue(k, v));
  const w = Math.max(9, ...rows.map(([k]) => k.length));
  lines.push(`${'parameter'.padEnd(w)}  estimate`);
  for (const [k, v] of rows) lines.push(`${k.padEnd(w)}  ${fmt(v)}`);
  process.stdout.write(lines.join('\n') + '\n');
  const out = opts.get('--out');
  if (out) {
    writeFileSync(out, JSON.stringify({ model: model.name, ...r }, null, 2));
    process.stdout.write(`wrote ${out}\n`);
  }
  if (assignments !== undefined) {
    const n = await writeAssignments(bm, r.params, model.ir.latents[0].name, assignments);
    process.stdout.write(`wrote ${n} rows of responsibilities of ${model.ir.latents[0].name} to ${assignments}\n`);
  }
  bm.dispose();
  return r.converged ? 0 : 3;
}

/**
 * `fit --assignments FILE`: the responsibilities of the first enumerated latent at the fitted
 * parameters, one CSV row per element of its plate (row-major over several plate
 * dimensions): columns p.1 .. p.K (each row sums to 1) and z, the most probable value as a
 * 1-based index. Returns the number of rows.
 */
export async function writeAssignments(bm: ReturnType<Model['bind']>, params: Record<string, unknown>, latent: string, path: string): Promise<number> {
  const marg = await emResponsibilitiesAsync(bm, params as Parameters<typeof emResponsibilitiesAsync>[1]);
  const m = marg[latent] ?? Object.values(marg)[0];
  if (!m) throw new DataFileError(`--assignments: no responsibilities for the latent ${latent}`);
  const K = m.shape[m.shape.length - 1];
  const N = m.values.length / K;
  const rows: number[][] = [];
  for (let i = 0; i < N; i++) {
    const p = Array.from(m.values.subarray(i * K, (i + 1) * K));
    let best = 0;
    for (let k = 1; k < K; k++) if (p[k] > p[best]) best = k;
    rows.push([...p, best + 1]);
  }
  const header = [...Array.from({ length: K }, (_, k) => `p.${k + 1}`), 'z'];
  try {
    writeFileSync(path, toCsv(header, rows));
  } catch (e) {
    throw new DataFileError(`cannot write ${path}: ${(e as Error).message}`);
  }
  return N;
}
