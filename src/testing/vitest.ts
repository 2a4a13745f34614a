/**
 * Assertions for property tests of inference (vitest, fast-check or any runner): each one
 * throws a `PropertyTestError` whose message says which parameter failed and by how much,
 * and returns quietly otherwise. They import no test framework, so they work inside
 * `fc.assert(fc.property(...))`, `test.prop(...)` and plain `it(...)` alike.
 */
import type { GewekeResult } from './geweke';
import type { Moments } from './exact';
import { checkMoments } from './exact';
import type { SbcResult } from './sbc';
import { sbcTests } from './sbc';
import { ksTest2, mmdTest } from './stats';
import type { Sample } from './stats';

/**
 * The error the `expect*` helpers throw; `details` holds the numbers behind the message.
 *
 * @example
 * try { expectCalibrated(result); } catch (e) { if (e instanceof PropertyTestError) console.log(e.details); }
 */
export class PropertyTestError extends Error {
  constructor(message: string, readonly details: unknown) {
    super(message);
    this.name = 'PropertyTestError';
  }
}

const g3 = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(3)).toString() : String(v));

/**
 * Returns a one-line description of how an element's ranks deviate from uniform: the mean
 * and sd of the ranks against the uniform's, with z-scores, and what the shape suggests.
 *
 * @example
 * describeRanks(result.ranks['mu'], result.L); // 'mean rank 0.235·L (uniform: 0.5 ± 0.0206, z = -12.9), ... -> the posterior is shifted UP'
 */
export function describeRanks(ranks: readonly number[], L: number): string {
  const R = ranks.length;
  const mean = ranks.reduce((s, r) => s + r, 0) / R;
  const sd = Math.sqrt(ranks.reduce((s, r) => s + (r - mean) ** 2, 0) / Math.max(1, R - 1));
  // Uniform on 0..L: mean L/2, variance L(L+2)/12.
  const uSd = Math.sqrt((L * (L + 2)) / 12);
  const meanSe = uSd / Math.sqrt(R);
  const zMean = (mean - L / 2) / meanSe;
  // sd of a sample sd ≈ σ √((κ - 1)/(4R)) with kurtosis κ = 1.8 for a uniform.
  const zSd = (sd - uSd) / (uSd * Math.sqrt(0.8 / (4 * R)));
  const parts = [
    `mean rank ${g3(mean / L)}·L (uniform: 0.5 ± ${g3(meanSe / L)}, z = ${g3(zMean)})`,
    `rank sd ${g3(sd / L)}·L (uniform: ${g3(uSd / L)}, z = ${g3(zSd)})`,
  ];
  const hints: string[] = [];
  if (zMean < -3) hints.push('true values sit low among the draws: the posterior is shifted UP');
  if (zMean > 3) hints.push('true values sit high among the draws: the posterior is shifted DOWN');
  // A shift also narrows the spread of the ranks (they pile up at one end), so the width
  // is only judged when the centre is fine.
  if (Math.abs(zMean) <= 3 && zSd > 3) hints.push('∪-shaped ranks: the posterior is too NARROW (overconfident), or the draws are autocorrelated');
  if (Math.abs(zMean) <= 3 && zSd < -3) hints.push('∩-shaped ranks: the posterior is too WIDE');
  return parts.join(', ') + (hints.length ? ` -> ${hints.join('; ')}` : '');
}

/**
 * Returns nothing when every parameter element of an SBC result is calibrated; throws a
 * PropertyTestError naming each failing element with its p-values and how its ranks
 * deviate (shifted posterior, too narrow, too wide). `alpha` re-runs the decision at
 * another family-wise level.
 *
 * @example
 * expectCalibrated(await sbc(model, myInfer, { data: { N: 8 }, replications: 200 }));
 */
export function expectCalibrated(result: SbcResult, opts: { alpha?: number } = {}): void {
  const t = opts.alpha === undefined ? result : { ...result, ...sbcTests(result.ranks, result.L, { alpha: opts.alpha, seed: result.seed }) };
  const alpha = opts.alpha ?? result.alpha;
  if (t.failed.length === 0) return;
  const lines = t.failed.map((name) => {
    const p = t.pValues[name];
    const a = t.adjusted[name];
    return `  ${name}: chi-square p = ${g3(p.chi2)} (Holm ${g3(a.chi2)}), KS p = ${g3(p.ks)} (Holm ${g3(a.ks)}); ${describeRanks(result.ranks[name], result.L)}`;
  });
  throw new PropertyTestError(
    `SBC: ${t.failed.length} of ${Object.keys(result.ranks).length} parameter elements are not calibrated at family-wise alpha = ${alpha} ` +
      `(${result.replications} replications, L = ${result.L}):\n${lines.join('\n')}`,
    { failed: t.failed, pValues: t.pValues, adjusted: t.adjusted },
  );
}

function summary(s: Sample): string {
  if (typeof s[0] !== 'number') return `${s.length} points`;
  const xs = s as readonly number[];
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return `n = ${xs.length}, mean ${g3(m)}, sd ${g3(sd)}`;
}

/**
 * Returns nothing when two samples are consistent with one distribution; throws when the
 * test rejects at `alpha` (default 0.01). `test`: 'ks' (scalars; the default for scalars),
 * 'mmd' (any dimension; the default for points) or 'both' (Bonferroni over the two).
 * The samples should be independent draws (thin MCMC output first).
 *
 * @example
 * expectSameDistribution(samplerDraws, exactDraws, { alpha: 0.001 });
 */
export function expectSameDistribution(a: Sample, b: Sample, opts: { alpha?: number; test?: 'ks' | 'mmd' | 'both'; label?: string; permutations?: number; seed?: number } = {}): void {
  const alpha = opts.alpha ?? 0.01;
  const scalar = typeof a[0] === 'number' && typeof b[0] === 'number';
  const test = opts.test ?? (scalar ? 'ks' : 'mmd');
  if (!scalar && test !== 'mmd') throw new RangeError(`expectSameDistribution: the KS test needs scalar samples; use test: 'mmd' for points`);
  const label = opts.label ?? 'samples';
  const results: string[] = [];
  let reject = false;
  const level = test === 'both' ? alpha / 2 : alpha;
  const details: Record<string, unknown> = {};
  if (test === 'ks' || test === 'both') {
    const r = ksTest2(a as readonly number[], b as readonly number[]);
    details.ks = r;
    results.push(`KS D = ${g3(r.statistic)}, p = ${g3(r.pValue)}`);
    if (r.pValue < level) reject = true;
  }
  if (test === 'mmd' || test === 'both') {
    const permutations = opts.permutations ?? Math.max(200, Math.ceil(5 / level)); // p can reach level/5
    const r = mmdTest(a, b, { permutations, seed: opts.seed });
    details.mmd = r;
    results.push(`MMD² = ${g3(r.mmd2)} (bandwidth ${g3(r.bandwidth)}), permutation p = ${g3(r.pValue)}`);
    if (r.pValue < level) reject = true;
  }
  if (reject) {
    throw new PropertyTestError(`${label} differ in distribution at alpha = ${alpha}: ${results.join('; ')}; first: ${summary(a)}; second: ${summary(b)}`, details);
  }
}

/**
 * Returns nothing when draws match exact posterior moments within `zCrit` (default 4)
 * Monte Carlo standard errors; throws naming each parameter whose mean or variance is off
 * and by how much. Give one chain and one `{mean, variance}`, or records keyed by name.
 *
 * @example
 * expectPosteriorMoments({ mu: muDraws }, { mu: normalKnownVariance({ priorMean: 0, priorSd: 1, sigma: 1, y }) });
 */
export function expectPosteriorMoments(
  draws: ArrayLike<number> | Readonly<Record<string, ArrayLike<number>>>,
  exact: { mean: number; variance?: number } | Readonly<Record<string, { mean: number; variance?: number }>>,
  opts: { zCrit?: number } = {},
): void {
  const single = typeof (exact as Moments).mean === 'number';
  const pairs: [string, ArrayLike<number>, { mean: number; variance?: number }][] = single
    ? [['draws', draws as ArrayLike<number>, exact as Moments]]
    : Object.entries(exact as Record<string, Moments>).map(([k, e]) => {
        const d = (draws as Record<string, ArrayLike<number>>)[k];
        if (!d) throw new RangeError(`expectPosteriorMoments: no draws for '${k}' (have: ${Object.keys(draws).join(', ')})`);
        return [k, d, e];
      });
  const checks = pairs.map(([label, d, e]) => checkMoments(d, e, { zCrit: opts.zCrit, label }));
  const bad = checks.filter((c) => !c.ok);
  if (bad.length) {
    throw new PropertyTestError(`posterior moments are off for ${bad.length} of ${checks.length}:\n${bad.map((c) => '  ' + c.message).join('\n')}`, checks);
  }
}

/**
 * Returns nothing when Geweke's test passes; throws listing each failing test function
 * with both means, their standard errors and z.
 *
 * @example
 * expectGewekePasses(geweke(model, kernel, { data: { N: 5 } }));
 */
export function expectGewekePasses(result: GewekeResult): void {
  if (result.failed.length === 0) return;
  const lines = result.failed.map((n) => {
    const t = result.tests[n];
    return `  ${n}: marginal-conditional ${g3(t.marginalMean)} ± ${g3(t.marginalSe)} vs successive-conditional ${g3(t.successiveMean)} ± ${g3(t.successiveSe)} (ESS ${g3(t.ess)}); z = ${g3(t.z)}, Holm p = ${g3(t.adjusted)}`;
  });
  throw new PropertyTestError(
    `Geweke test: ${result.failed.length} of ${Object.keys(result.tests).length} test functions disagree between the simulators at alpha = ${result.alpha} — the kernel does not leave p(θ | y) invariant:\n${lines.join('\n')}`,
    result,
  );
}
