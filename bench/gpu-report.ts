/**
 * Reads the two JSON files of one device run (bench/gpu.ts's and bench/gpu-torch.py's) and
 * prints a Markdown report with the ratios: E-step throughput (mixppl's fused kernel and plain
 * ops against PyTorch; issue 7's target is >= 0.5x PyTorch's), the full EM fit (seconds per
 * iteration, final log likelihoods, the device-vs-host agreement), gradient evaluations, NUTS
 * with device gradients against the host replay, particle-filter throughput, and the chain kernels against the product tree.
 *
 *   npx tsx bench/gpu-report.ts mixppl.json torch.json [--out bench/results/gpu.md]
 */
import { readFileSync, writeFileSync } from 'node:fs';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const [mPath, tPath] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--out');
if (!mPath || !tPath) throw new Error('usage: npx tsx bench/gpu-report.ts mixppl.json torch.json [--out FILE]');
const outAt = process.argv.indexOf('--out');
const m: Obj = JSON.parse(readFileSync(mPath, 'utf8'));
const t: Obj = JSON.parse(readFileSync(tPath, 'utf8'));
const f = (v: unknown, digits = 3) => (typeof v === 'number' && Number.isFinite(v) ? +v.toPrecision(digits) : '–');
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? `${f(a / b)}x` : '–');

// A section bench/gpu.ts skipped (time budget) holds { skipped: why }; an unfinished run has complete: false.
const skippedNote = (name: string, x: Obj | undefined) => (x?.skipped ? [`${name}: skipped (${x.skipped}).`, ''] : []);
const sectionsSkipped = [['E-step', m.results], ['chain kernels', m.chains], ['batched chains', m.chain_batch], ['EM', m.em], ['gradient', m.gradient], ['batched gradients', m.gradient_batch], ['NUTS', m.nuts], ['SMC', m.smc], ['annealed Langevin', m.annealed], ['particle filter', m.particle_filter]]
  .flatMap(([name, x]) => skippedNote(name as string, x as Obj | undefined));
for (const key of ['results', 'chains', 'chain_batch', 'em', 'gradient', 'gradient_batch', 'nuts', 'smc', 'annealed', 'particle_filter']) if (m[key]?.skipped) delete m[key];

const lines: string[] = [
  t.device ? `# GPU run: mixppl (${m.backend}${m.adapter ? `, ${m.adapter}` : ''}) against PyTorch (${t.device}, torch ${t.torch}), same run` : `# bench/gpu run: mixppl (${m.backend}${m.adapter ? `, ${m.adapter}` : ''}), no PyTorch report`,
  '',
  `${m.date?.slice(0, 10) ?? ''}; node ${m.node}; N = ${m.N} points for the E-step, ${m.reps} timed calls each.`,
  '',
  ...(m.complete === false ? ['The mixppl run did not finish (its report was written after each section): the sections below are those it completed.', ''] : []),
  ...sectionsSkipped,
  // The E-step table, unless the run timed no E-step configuration (--configs "").
  ...(m.results?.length ? [
    '## E-step throughput (million points per second)',
    '',
    '| K | D | covariance | mixppl fused | mixppl plain ops | PyTorch | fused / PyTorch | fused vs plain-op agreement (<= 1) | stats fused / plain ops ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ] : []),
];
for (const r of m.results ?? []) {
  const tr = (t.results ?? []).find((x: Obj) => x.K === r.K && x.D === r.D && x.diagonal === r.diagonal);
  lines.push(`| ${r.K} | ${r.D} | ${r.diagonal ? 'diagonal' : 'full'} | ${f(r.fused_Mpoints_per_s)} | ${f(r.reference_Mpoints_per_s)} | ${f(tr?.torch_Mpoints_per_s)} | ${ratio(r.fused_Mpoints_per_s, tr?.torch_Mpoints_per_s)} | ${f(r.agreement_ratio)} | ${f(r.stats_fused_ms)} / ${f(r.stats_reference_ms)} |`);
}
if (m.em) {
  const e = m.em;
  const te = t.em;
  lines.push('', `## Full EM fit (N = ${e.N}, K = ${e.K}, D = ${e.D}, full covariances, same data and start)`, '',
    '| | iterations | seconds | s / iteration | mean log likelihood per point |', '| --- | --- | --- | --- | --- |',
    `| mixppl on ${m.backend} (to convergence) | ${e.device.iterations} | ${f(e.device.seconds)} | ${f(e.device.s_per_iter)} | ${e.device.loglik_per_point} |`,
    `| PyTorch (to convergence) | ${te?.iterations ?? '–'} | ${f(te?.seconds)} | ${f(te?.s_per_iter)} | ${te?.loglik_per_point ?? '–'} |`,
    `| mixppl on ${m.backend}, ${e.comparison.iterations} iterations | ${e.comparison.device.iterations} | ${f(e.comparison.device.seconds)} | ${f(e.comparison.device.s_per_iter)} | ${e.comparison.device.loglik_per_point} |`,
    `| mixppl on the host (${e.comparison.host.backend}, ${e.comparison.host.e_step} E-step), ${e.comparison.iterations} iterations | ${e.comparison.host.iterations} | ${f(e.comparison.host.seconds)} | ${f(e.comparison.host.s_per_iter)} | ${e.comparison.host.loglik_per_point} |`,
    '', `mixppl's speed per iteration against PyTorch's (PyTorch s/iteration over mixppl's): ${ratio(te?.s_per_iter, e.device.s_per_iter)}. Device against host after ${e.comparison.iterations} iterations: log likelihood difference ${f(e.loglik_difference)} (bound ${f(e.loglik_tolerance)}, ratio ${f(e.agreement_ratio)}), largest mean difference ${f(e.max_abs_mu_difference)}.`);
}
if (m.gradient) {
  const g = m.gradient;
  lines.push('', `## Gradient evaluations (diagonal mixture log likelihood, N = ${g.N}, K = ${g.K}, D = ${g.D})`, '',
    `mixppl on ${m.backend}: ${f(g.evals_per_s)} per second (${f(g.ms_per_eval)} ms); PyTorch autograd: ${f(t.gradient?.evals_per_s)} per second (${f(t.gradient?.ms_per_eval)} ms); mixppl / PyTorch ${ratio(g.evals_per_s, t.gradient?.evals_per_s)}. Against the float64 replay on the first ${g.first_rows} rows: value ${f(g.value_rel_difference)} relative, gradient ${f(g.grad_max_difference_over_max_abs_grad)} of its largest entry.`);
}
if (m.gradient_batch) {
  const b = m.gradient_batch;
  lines.push('', `## Batched gradient evaluations (the same log likelihood, N = ${b.N}, K = ${b.K}, D = ${b.D}; B points as one evaluation)`, '',
    '| points B | ms per batch | points per second | over B = ' + b.batches[0].points + ' |', '| --- | --- | --- | --- |',
    ...b.batches.map((r: { points: number; ms_per_batch: number; points_per_s: number; points_per_s_over_first: number }) => `| ${r.points} | ${f(r.ms_per_batch)} | ${f(r.points_per_s)} | ${f(r.points_per_s_over_first)} |`),
    '', `sampleParallel's device gradients take up to ${b.max_batch_points} points per evaluation at this N (maxBatchPoints).`);
}
if (m.nuts) {
  const n = m.nuts;
  lines.push('', `## NUTS with the gradients on the device (same model, N = ${n.N}, K = ${n.K}, D = ${n.D}, ${n.chains} chains)`, '',
    `sampleParallel's deviceGradients on ${m.backend}: ${f(n.device_leapfrogs_per_s)} leapfrog steps per second over the sampling phase (${n.sampling_leapfrogs} steps, tree depth <= ${n.maxTreeDepth}); the float64 replay on the host: ${f(n.host_replay_ms_per_eval)} ms per evaluation, ${f(n.host_leapfrogs_per_s_one_thread_per_chain)} steps per second with a thread per chain; device / host ${f(n.device_over_host)}x. Last draw's log density, device against replay: ${f(n.last_draw_lp?.over_float32_bound)} of the float32 bound.`);
}
if (m.smc) {
  const sm = m.smc;
  lines.push('', `## Tempered SMC, the moves on the device (smcDevice; diagonal mixture with priors, N = ${sm.N}, K = ${sm.K}, D = ${sm.D}, ${sm.particles} particles)`, '');
  if (sm.error) lines.push(`failed: ${sm.error}`);
  else {
    lines.push(`${sm.stages} stages, log Z ${f(sm.logZ, 8)}; ${f(sm.device_seconds)} s on ${m.backend}: ${sm.point_evaluations} point evaluations in ${sm.batched_evaluations} batched evaluations (up to ${sm.max_batch_points} points each), ${f(sm.device_points_per_s)} points per second. The float64 replay on the host: ${f(sm.host_replay_ms_per_point)} ms per point, ${f(sm.host_seconds_for_these_evaluations)} s for these evaluations (host smc, one particle at a time); device / host ${f(sm.device_over_host)}x.`);
  }
}
if (m.annealed) {
  const a = m.annealed;
  lines.push('', `## Annealed Langevin, the gradients on the device (scoreSampleDeviceGradients; the same model, N = ${a.N}, K = ${a.K}, D = ${a.D}, ${a.particles} particles, ${a.moveSteps} MALA steps a level)`, '');
  if (a.error) lines.push(`failed: ${a.error}`);
  else {
    lines.push(`${a.levels} levels, log Z ${f(a.logZ, 8)}; ${f(a.seconds_with_worker_start)} s on ${m.backend} (the worker's start included): ${a.point_evaluations} point evaluations in ${a.batches} requests (up to ${a.largest_batch} points each), ${f(a.device_points_per_s)} points per second. The float64 replay on the host: ${f(a.host_replay_ms_per_point)} ms per point, ${f(a.host_seconds_for_these_evaluations)} s for these evaluations; device / host ${f(a.device_over_host)}x.`);
  }
}
if (m.particle_filter) {
  const p = m.particle_filter;
  lines.push('', `## Particle filter (two-state HMM, T = ${p.T}, ${p.P} particles, bootstrap)`, '',
    `mixppl (${p.where}): ${f(p.particle_steps_per_s)} particle-steps per second, log Z errors ${p.logZ_errors.join(', ')} (exact ${f(p.exact_logZ, 8)}); PyTorch (${t.device}): ${f(t.particle_filter?.particle_steps_per_s)} per second, log Z ${(t.particle_filter?.logZ ?? []).map((v: number) => f(v, 8)).join(', ')}; mixppl / PyTorch ${ratio(p.particle_steps_per_s, t.particle_filter?.particle_steps_per_s)}.`);
  if (p.device?.error) {
    lines.push('', `mixppl (${p.device.where}): failed: ${p.device.error}`);
  } else if (p.device) {
    lines.push('', `mixppl (${p.device.where}): ${f(p.device.particle_steps_per_s)} particle-steps per second, log Z errors ${p.device.logZ_errors.join(', ')}; mixppl device / PyTorch ${ratio(p.device.particle_steps_per_s, t.particle_filter?.particle_steps_per_s)}; device / host ${ratio(p.device.particle_steps_per_s, p.particle_steps_per_s)}.`);
  }
}
if (m.chains?.length) {
  lines.push('', '## Chain forward-backward (chainMarginals): fused recursions against the product tree', '',
    '| T | K | fused ms | tree ms | tree / fused | agreement fused, tree (<= 1) |', '| --- | --- | --- | --- | --- | --- |',
    ...m.chains.map((c: Obj) => `| ${c.T} | ${c.K} | ${f(c.fused_ms)} | ${f(c.reference_ms)} | ${f(c.fused_speedup)}x | ${f(c.fused_agreement_ratio)}, ${f(c.reference_agreement_ratio)} |`));
}
if (m.chain_batch) {
  const c = m.chain_batch;
  lines.push('', `## A batch of chains (chainLogZ of B = ${c.B} chains and its gradient as one op, T = ${c.T}, K = ${c.K}) against B separate calls`, '',
    '| | batched ms | separate ms | separate / batched |', '| --- | --- | --- | --- |',
    ...['fused', 'reference'].filter((i) => c[`${i}_batched_ms`] !== undefined).map((i) => `| ${i === 'fused' ? 'fused recursions' : 'product tree'} | ${f(c[`${i}_batched_ms`])} | ${f(c[`${i}_separate_ms`])} | ${f(c[`${i}_separate_over_batched`])}x |`),
    ...(c.batched_fused_speedup !== undefined ? ['', `Batched: the tree takes ${f(c.batched_fused_speedup)}x the fused kernels' time.`] : []));
}
const md = lines.join('\n') + '\n';
process.stdout.write(md);
if (outAt >= 0) writeFileSync(process.argv[outAt + 1], md);
