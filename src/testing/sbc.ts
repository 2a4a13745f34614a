/**
 * Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).
 *
 * If θ̃ ~ p(θ), ỹ ~ p(y | θ̃) and θ_1..θ_L are draws from the exact posterior p(θ | ỹ), the
 * rank of θ̃ among the θ_l is uniform on {0, ..., L}, for every scalar function of θ. An
 * inference method whose ranks are not uniform is wrong (or its draws are too correlated:
 * thin them). Each parameter element gets a chi-square test over rank bins and a KS test
 * of the randomised PIT (rank + U)/(L + 1); Holm's correction over all of them decides.
 */
import type { DataInput, NdArray } from '../model/data';
import { Key } from '../tensor/random';
import { elementNames, keySeed, replicationKey } from './model-types';
import type { PosteriorDraws, PosteriorSampler, SimulatingModel } from './model-types';
import { holm, ksTest, rankBins, rankUniformityTest } from './stats';

export { ecdfBand, ecdfBandSvg, ecdfCheck, ecdfDifference } from './ecdf';
export type { EcdfBand, EcdfBandOptions, EcdfCheck, EcdfSvgOptions } from './ecdf';

/** Options for `sbc`. */
export interface SbcOptions {
  /** Sizes and covariates passed to `model.simulate` (e.g. `{ N: 10 }`). */
  data?: DataInput;
  /** Number of simulated data sets R (default 100). */
  replications?: number;
  /**
   * Posterior draws per replication that each true value is ranked against: the returned
   * draws are thinned evenly to L. Default: the number of draws of the first replication.
   */
  L?: number;
  /** Root seed; replication r uses seeds derived from (seed, r) (default 0). */
  seed?: number;
  /** Family-wise level for `failed` (default 0.01). */
  alpha?: number;
  /** Only check these parameters (default: every parameter `simulate` returns). */
  params?: readonly string[];
  /** Largest number of bins for the chi-square test (default 20). */
  maxBins?: number;
  /** Called after each replication (for progress output). */
  onReplication?: (done: number, total: number) => void;
}

/** The result of `sbc`. */
export interface SbcResult {
  /** Per parameter element (`mu`, `theta[2]`, `L[1, 2]`): its rank in each replication, in 0..L. */
  ranks: Record<string, number[]>;
  L: number;
  replications: number;
  seed: number;
  alpha: number;
  /** Unadjusted p-values of the chi-square (binned ranks) and KS (randomised PIT) tests. */
  pValues: Record<string, { chi2: number; ks: number }>;
  /** Holm-adjusted p-values, over all 2 × (number of elements) tests. */
  adjusted: Record<string, { chi2: number; ks: number }>;
  /** Elements with an adjusted p-value below alpha. */
  failed: string[];
  /** Wall-clock seconds, simulation and inference included. */
  seconds: number;
}

/** Flat draws of one parameter as rows of length `size`; checks the layout. */
function drawsOf(name: string, raw: PosteriorDraws[string] | undefined, size: number, r: number): ArrayLike<number>[] {
  if (raw === undefined) throw new RangeError(`sbc: replication ${r}: infer returned no draws for parameter '${name}'`);
  if (!Array.isArray(raw) && !ArrayBuffer.isView(raw)) throw new RangeError(`sbc: replication ${r}: draws of '${name}' must be an array of draws`);
  const rows = Array.from(raw as ArrayLike<number | ArrayLike<number>>); // a typed array of scalar draws too
  return rows.map((row, s) => {
    const v: ArrayLike<number> = typeof row === 'number' ? [row] : row;
    if (v.length !== size) {
      throw new RangeError(`sbc: replication ${r}: draw ${s} of '${name}' has ${v.length} elements, expected ${size} (flattened row-major)`);
    }
    return v;
  });
}

/** Indices of L draws spread evenly over S, ending at the last draw. */
function thinIndices(S: number, L: number): number[] {
  return Array.from({ length: L }, (_, i) => Math.floor(((i + 1) * S) / L) - 1);
}

/**
 * Returns the rank of `truth` among `draws` (the number of draws below it), with ties
 * broken uniformly at random so the rank stays uniform for discrete parameters.
 *
 * @example
 * rankOf(0.5, [0.1, 0.9, 0.4], Key.seed(0).rng()); // 2
 */
export function rankOf(truth: number, draws: ArrayLike<number>, rng: ReturnType<Key['rng']>): number {
  let below = 0;
  let ties = 0;
  for (let i = 0; i < draws.length; i++) {
    const d = draws[i];
    if (Number.isNaN(d)) throw new RangeError(`rankOf: draw ${i} is NaN`);
    if (d < truth) below++;
    else if (d === truth) ties++;
  }
  return ties ? below + rng.uniformInt(ties + 1) : below;
}

/**
 * Returns the p-values, Holm adjustment and failures for ranks already computed (by
 * `sbc` or by hand): chi-square over rank bins and KS of the randomised PIT per element.
 *
 * @example
 * const { failed } = sbcTests({ mu: ranks }, 99);
 */
export function sbcTests(ranks: Readonly<Record<string, readonly number[]>>, L: number, opts: { alpha?: number; seed?: number; maxBins?: number } = {}) {
  const alpha = opts.alpha ?? 0.01;
  const names = Object.keys(ranks);
  const pValues: Record<string, { chi2: number; ks: number }> = {};
  const pitRng = Key.seed(opts.seed ?? 0).fold(0x70697421).rng();
  for (const name of names) {
    const rs = ranks[name];
    const chi2 = rankUniformityTest(rs, L, { maxBins: opts.maxBins }).pValue;
    // (rank + U)/(L + 1) is exactly Uniform(0, 1) when the rank is uniform on 0..L, so the
    // continuous KS test applies without a correction for discreteness.
    const pit = rs.map((r) => (r + pitRng.uniform()) / (L + 1));
    const ks = ksTest(pit, (x) => Math.min(1, Math.max(0, x))).pValue;
    pValues[name] = { chi2, ks };
  }
  const flat = names.flatMap((n) => [pValues[n].chi2, pValues[n].ks]);
  const adj = holm(flat);
  const adjusted: Record<string, { chi2: number; ks: number }> = {};
  const failed: string[] = [];
  names.forEach((n, i) => {
    adjusted[n] = { chi2: adj[2 * i], ks: adj[2 * i + 1] };
    if (adj[2 * i] < alpha || adj[2 * i + 1] < alpha) failed.push(n);
  });
  return { pValues, adjusted, failed, alpha };
}

/**
 * Returns the simulation-based calibration of an inference method on a model: the rank
 * of each true scalar parameter element among L posterior draws, over R simulated data
 * sets, with uniformity p-values and the elements that fail after Holm's correction.
 *
 * For r = 1..R: (θ̃, ỹ) = model.simulate(options.data) with a seed derived from
 * (seed, r); draws = infer(model, {...options.data, ...ỹ}, derived seed); thin to L;
 * rank θ̃ among the draws. Replications run one after another (deterministic).
 *
 * @example
 * const model = compile('model m { data N: int  data y: real[N]  param mu: real  mu ~ normal(0, 1)  y ~ normal(mu, 1) }');
 * const result = await sbc(model, exactNormalMean, { data: { N: 5 }, replications: 200, L: 99 });
 * expect(result.failed).toEqual([]);
 */
export async function sbc<M extends SimulatingModel>(model: M, infer: PosteriorSampler<M>, options: SbcOptions = {}): Promise<SbcResult> {
  const start = performance.now();
  const R = options.replications ?? 100;
  if (!Number.isInteger(R) || R < 10) throw new RangeError(`sbc: replications must be an integer >= 10, got ${R}`);
  const seed = options.seed ?? 0;
  const alpha = options.alpha ?? 0.01;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`sbc: alpha must be in (0, 1), got ${alpha}`);
  let L = options.L;
  if (L !== undefined && (!Number.isInteger(L) || L < 1)) throw new RangeError(`sbc: L must be a positive integer, got ${L}`);
  // Fail before any simulation when R ranks cannot fill the chi-square bins.
  if (L !== undefined) rankBins(R, L, options.maxBins);
  const ranks: Record<string, number[]> = {};
  let names: { param: string; elements: string[] }[] | undefined;
  for (let r = 0; r < R; r++) {
    const [simKey, inferKey, tieKey] = replicationKey(seed, r).split(3);
    const sims = model.simulate(options.data ?? {}, { seed: keySeed(simKey), draws: 1 });
    if (!Array.isArray(sims) || sims.length !== 1) throw new RangeError(`sbc: model.simulate returned ${Array.isArray(sims) ? sims.length : 'no'} draws, expected 1`);
    const sim = sims[0];
    if (!names) {
      const params = options.params ?? Object.keys(sim.params);
      if (params.length === 0) throw new RangeError('sbc: the model has no parameters to check');
      names = params.map((p) => {
        const v = sim.params[p];
        if (!v) throw new RangeError(`sbc: no parameter '${p}' in the simulated draw (has: ${Object.keys(sim.params).join(', ')})`);
        return { param: p, elements: elementNames(p, v.shape) };
      });
      for (const n of names) for (const e of n.elements) ranks[e] = [];
    }
    const data: DataInput = { ...(options.data ?? {}), ...sim.data };
    const { draws } = await infer(model, data, keySeed(inferKey));
    const tieRng = tieKey.rng();
    for (const { param, elements } of names) {
      const truth: NdArray = sim.params[param];
      const rows = drawsOf(param, draws[param], elements.length, r);
      if (L === undefined) L = rows.length;
      if (rows.length < L) throw new RangeError(`sbc: replication ${r}: infer returned ${rows.length} draws of '${param}', fewer than L = ${L}`);
      const keep = thinIndices(rows.length, L);
      const column = new Float64Array(L);
      elements.forEach((el, i) => {
        for (let l = 0; l < L!; l++) column[l] = rows[keep[l]][i];
        ranks[el].push(rankOf(truth.values[i], column, tieRng));
      });
    }
    options.onReplication?.(r + 1, R);
  }
  const tests = sbcTests(ranks, L!, { alpha, seed, maxBins: options.maxBins });
  return { ranks, L: L!, replications: R, seed, alpha, pValues: tests.pValues, adjusted: tests.adjusted, failed: tests.failed, seconds: (performance.now() - start) / 1000 };
}

/** Per element of a case, its chi-square and KS p-values (SbcResult.pValues). */
export type SbcPValues = Readonly<Record<string, { chi2: number; ks: number }>>;

/**
 * One Holm correction over several SBC runs together (a results file's family of tests):
 * every case's per-element chi-square and KS p-values adjusted as one family, so a
 * calibrated sampler fails any of them with probability at most `alpha` in all.
 * `adjusted[case][element]` holds the adjusted pair; `failed(case)` the elements of a case
 * whose adjusted chi-square or KS p-value is below `alpha`; `tests` the family's size.
 *
 * @example
 * const h = holmAcross({ normal: a.pValues, poisson: b.pValues }, 0.01);
 * h.failed('normal'); // [] when calibrated
 */
export function holmAcross(cases: Readonly<Record<string, SbcPValues>>, alpha: number): {
  adjusted: Record<string, Record<string, { chi2: number; ks: number }>>;
  failed(name: string): string[];
  tests: number;
} {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`holmAcross: alpha must be in (0, 1), got ${alpha}`);
  const keys: { name: string; element: string; test: 'chi2' | 'ks' }[] = [];
  const ps: number[] = [];
  for (const [name, pv] of Object.entries(cases)) {
    for (const [element, p] of Object.entries(pv)) {
      keys.push({ name, element, test: 'chi2' }, { name, element, test: 'ks' });
      ps.push(p.chi2, p.ks);
    }
  }
  const adj = holm(ps);
  const adjusted: Record<string, Record<string, { chi2: number; ks: number }>> = Object.fromEntries(Object.keys(cases).map((n) => [n, {}]));
  keys.forEach((k, i) => {
    (adjusted[k.name][k.element] ??= { chi2: NaN, ks: NaN })[k.test] = adj[i];
  });
  const failed = (name: string): string[] => {
    if (!(name in adjusted)) throw new RangeError(`holmAcross: no case '${name}'`);
    return Object.entries(adjusted[name]).filter(([, p]) => p.chi2 < alpha || p.ks < alpha).map(([e]) => e);
  };
  return { adjusted, failed, tests: ps.length };
}

/** The JSON record of one SBC run, as the slow-tier tests write it (`mixppl report --sbc` reads it). */
export interface SbcRecord {
  /** Replications R (the length of every rank array). */
  replications: number;
  /** Posterior draws each true value was ranked against: ranks are integers in 0..L. */
  L: number;
  seed: number;
  alpha: number;
  /** Per parameter element, its rank in each replication (replication order). */
  ranks: Record<string, number[]>;
  pValues: Record<string, { chi2: number; ks: number }>;
  adjusted: Record<string, { chi2: number; ks: number }>;
  failed: string[];
  seconds: number;
}

/**
 * Returns the JSON record of an SBC result: the ranks (per element, per replication) with
 * L, so that the rank histograms and ECDF plots can be redrawn later (`mixppl report --sbc
 * FILE.json` finds every object in a results file that has `ranks` and `L`).
 *
 * @example
 * writeFileSync('results/my-sbc.json', sbcJson({ test: 'my-sbc', cases: { exact: sbcRecord(result) } }));
 */
export function sbcRecord(r: SbcResult): SbcRecord {
  return {
    replications: r.replications, L: r.L, seed: r.seed, alpha: r.alpha,
    ranks: Object.fromEntries(Object.entries(r.ranks).map(([k, v]) => [k, v.slice()])),
    pValues: r.pValues, adjusted: r.adjusted, failed: r.failed.slice(), seconds: r.seconds,
  };
}

/**
 * JSON text for a results file: indented by two spaces like `JSON.stringify(v, null, 2)`,
 * but an array of numbers (a rank array) stays on one line, so R ranks take one line, not
 * R. Ends with a newline. Parses back to the same value.
 */
export function sbcJson(value: unknown): string {
  const json = JSON.stringify(value, null, 2);
  // An array whose elements are all numbers (or null): join its lines.
  return json.replace(/\[\s*\n(?:\s*(?:-?\d[\d.eE+-]*|null),?\n)+\s*\]/g, (m) => `[${m.slice(1, -1).split(/,?\s*\n\s*/).filter((x) => x !== '').join(', ')}]`) + '\n';
}
