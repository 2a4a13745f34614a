/** `mixppl fit`: runs an inference method on a model and data and prints a summary. */
import { writeFileSync } from 'node:fs';
import type { Model } from '../model/model';
import type { DataValue } from '../model/data';
import { optimize } from '../infer/optimize';
import { em } from '../infer/em';

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

export function fitCommand(model: Model, data: Record<string, DataValue>, opts: Map<string, string>, flags: Set<string>): number {
  const method = opts.get('--method') ?? (model.ir.latents.length ? 'em' : 'map');
  if (!(METHODS as readonly string[]).includes(method)) {
    process.stderr.write(`mixppl fit: unknown method '${method}'; available: ${METHODS.join(', ')}\n`);
    return 2;
  }
  const bm = model.bind(data);
  const tty = process.stderr.isTTY && !flags.has('--quiet');
  const num = (k: string) => (opts.has(k) ? Number(opts.get(k)) : undefined);
  const seed = Number(opts.get('--seed') ?? 1);
  let r: { params: Record<string, unknown>; converged: boolean; iterations: number; seconds: number; [k: string]: unknown };
  const head: string[] = [];
  if (method === 'em') {
    const e = em(bm, {
      seed, nInit: num('--n-init'), maxIter: num('--max-iter'), tol: num('--tol'),
      objective: flags.has('--map') ? 'map' : 'mle',
      onIteration: tty ? (s, i, ll) => process.stderr.write(`\rstart ${s + 1}  iteration ${i}  log likelihood ${ll.toFixed(3)}   `) : undefined,
    });
    r = e as unknown as typeof r;
    head.push(`model ${model.name}: EM (${flags.has('--map') ? 'MAP' : 'maximum likelihood'}), ${e.starts.length} start${e.starts.length === 1 ? '' : 's'}; closed-form updates: ${e.closedForm.join(', ') || 'none'}`);
    head.push(`log likelihood ${fmt(e.logLik)}; ${e.iterations} iterations; ${e.converged ? 'converged' : 'NOT converged'}; ${e.seconds.toFixed(2)} s`);
    head.push(`BIC ${fmt(e.bic)}  AIC ${fmt(e.aic)}  ICL ${fmt(e.icl)}  (${e.nParams} free parameters, ${e.nObs} observations; lower is better)`);
  } else {
    const o = optimize(bm, {
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
  bm.dispose();
  return r.converged ? 0 : 3;
}
