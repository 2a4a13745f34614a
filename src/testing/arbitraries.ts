/**
 * fast-check arbitraries of well-typed mixture models, of parameter values in their
 * supports, and of data simulated from a model: the raw material for property tests of
 * inference code.
 *
 * A model is described by a `MixtureSpec` (component family, K, D, covariance, priors,
 * ordering, iid mixture or HMM chain, regressors) and rendered to `.mix` text by
 * `specToSource`. Every choice is ordered so that fast-check shrinks towards the simplest
 * model: K small, D = 1, normal components, flat priors, iid, the `mixture(...)` sugar, no
 * regressors. A failing property therefore reports a small model.
 *
 * Unlike `src/parser/arbitrary.ts` (syntax only, for parser fuzzing), every model here
 * compiles without diagnostics, binds and simulates.
 *
 * @example
 * import fc from 'fast-check';
 * import { mixtureProblem } from 'mixppl/testing';
 * fc.assert(fc.property(mixtureProblem({ maxN: 6 }), ({ model, data, trueParams }) =>
 *   Number.isFinite(model.bind(data).logDensity(trueParams))), { numRuns: 20 });
 */
import fc from 'fast-check';
import { compile } from '../compile';
import type { BoundModel, ParamValues } from '../model/bound-model';
import type { DataInput, DataValue, NdArray } from '../model/data';
import type { Model } from '../model/model';
import type { IRDim, IRExpr } from '../ir/types';

// ---------------------------------------------------------------------------
// The spec

/** Component families a generated mixture can have (the first is the shrink target). */
export const COMPONENT_FAMILIES = ['normal', 'student_t', 'poisson', 'bernoulli', 'exponential', 'gamma', 'categorical', 'mvnormal'] as const;
/** A component family: scalar `normal`, `student_t`, `poisson`, `exponential`, `gamma`; `bernoulli` over D binary features; `categorical` over D categories; `mvnormal` in D dimensions. */
export type ComponentFamily = (typeof COMPONENT_FAMILIES)[number];

/** Covariance structures of `mvnormal` components (the first is the shrink target). */
export const COVARIANCES = ['spherical', 'diag', 'full', 'tied'] as const;
/** `spherical`: one scale per component; `diag`: one per component and dimension; `full`: a matrix per component; `tied`: one matrix shared by all. */
export type Covariance = (typeof COVARIANCES)[number];

/** How a `full` or `tied` covariance is parameterised (the first is the shrink target). */
export const COVARIANCE_FORMS = ['cholesky_corr', 'cholesky_cov', 'cov_matrix'] as const;
/** `cholesky_corr`: scales `tau` times a correlation factor `L`; `cholesky_cov`: a Cholesky factor `L`; `cov_matrix`: the matrix `Sigma`. */
export type CovarianceForm = (typeof COVARIANCE_FORMS)[number];

/** Plate structures (the first is the shrink target). */
export const STRUCTURES = ['iid', 'hmm'] as const;
/** `iid`: y[n] for n in 1..N from a mixture with weights w; `hmm`: y[t] for t in 1..T emitted by a K-state Markov chain. */
export type Structure = (typeof STRUCTURES)[number];

/** How an iid mixture is written (the first is the shrink target). */
export const LATENT_FORMS = ['sugar', 'explicit'] as const;
/** `sugar`: `y[n] ~ mixture(w, k -> ...)`; `explicit`: `z[n] ~ categorical(w)` and `y[n] ~ ...(z[n])`. */
export type LatentForm = (typeof LATENT_FORMS)[number];

/**
 * A mixture model, structurally. `normalizeSpec` puts the fields that do not apply to
 * a family at their simplest value, so two specs that render the same text are equal.
 */
export interface MixtureSpec {
  family: ComponentFamily;
  /** Number of components (iid) or states (hmm), at least 1. */
  K: number;
  /** Features (bernoulli), categories (categorical, at least 2) or dimensions (mvnormal); 1 for the scalar families. */
  D: number;
  /** mvnormal only ('spherical' otherwise). */
  covariance: Covariance;
  /** mvnormal with a full or tied covariance only ('cholesky_corr' otherwise). */
  covarianceForm: CovarianceForm;
  /** Proper priors on every parameter the language has a prior for (Dirichlet on weights and transitions, normal on means, half-normal on scales, ...); false: no `~` on any parameter (flat). */
  priors: boolean;
  /** The location or rate parameter is `ordered` / `positive_ordered` (normal, student_t, poisson, exponential, gamma). */
  ordered: boolean;
  structure: Structure;
  /** iid only ('explicit' for hmm, whose chain is always explicit). */
  latent: LatentForm;
  /** Covariates of a mixture of linear regressions, `x: real[N, P]` (normal and student_t; 0: none). */
  regressors: number;
}

const SCALAR_FAMILIES: readonly ComponentFamily[] = ['normal', 'student_t', 'poisson', 'exponential', 'gamma'];
const ORDERABLE: readonly ComponentFamily[] = ['normal', 'student_t', 'poisson', 'exponential', 'gamma'];
const REGRESSION: readonly ComponentFamily[] = ['normal', 'student_t'];

/** Returns the canonical form of a spec: fields that do not apply at their simplest value. Throws on a K or D below 1. */
export function normalizeSpec(spec: MixtureSpec): MixtureSpec {
  const { family } = spec;
  if (!Number.isInteger(spec.K) || spec.K < 1) throw new RangeError(`K must be an integer >= 1, got ${spec.K}`);
  if (!Number.isInteger(spec.D) || spec.D < 1) throw new RangeError(`D must be an integer >= 1, got ${spec.D}`);
  if (!Number.isInteger(spec.regressors) || spec.regressors < 0) throw new RangeError(`regressors must be an integer >= 0, got ${spec.regressors}`);
  const D = SCALAR_FAMILIES.includes(family) ? 1 : family === 'categorical' ? Math.max(2, spec.D) : spec.D;
  const covariance = family === 'mvnormal' ? spec.covariance : 'spherical';
  const covarianceForm = covariance === 'full' || covariance === 'tied' ? spec.covarianceForm : 'cholesky_corr';
  return {
    family, K: spec.K, D, covariance, covarianceForm, priors: spec.priors,
    ordered: ORDERABLE.includes(family) && spec.ordered,
    structure: spec.structure,
    latent: spec.structure === 'hmm' ? 'explicit' : spec.latent,
    regressors: REGRESSION.includes(family) ? spec.regressors : 0,
  };
}

/** Returns the name of the observation plate's length: `N` (iid) or `T` (hmm). */
export function lengthName(spec: MixtureSpec): 'N' | 'T' {
  return spec.structure === 'hmm' ? 'T' : 'N';
}

/**
 * Returns the sizes a spec's model needs besides the observation count: `K`, and `D`
 * (bernoulli, categorical, mvnormal) and `P` (regressors) where they apply.
 */
export function specSizes(spec: MixtureSpec): Record<string, number> {
  const s = normalizeSpec(spec);
  const sizes: Record<string, number> = { K: s.K };
  if (!SCALAR_FAMILIES.includes(s.family)) sizes.D = s.D;
  if (s.regressors > 0) sizes.P = s.regressors;
  return sizes;
}

// ---------------------------------------------------------------------------
// Rendering

/** One parameter: its declaration type and its prior (undefined: the language has none for it). */
interface ParamDef {
  name: string;
  type: string;
  prior?: string;
}

/** What a family contributes: data, parameters, top-level lets, and the component's distribution. */
interface Components {
  data: string[];
  params: ParamDef[];
  lets: string[];
  /** The component distribution given the component index expression (`k`, `z[n]`) and the plate variable. */
  dist: (c: string, i: string) => string;
}

function components(s: MixtureSpec, len: string): Components {
  const loc = s.ordered ? 'ordered[K]' : 'real[K]';
  const rate = s.ordered ? 'positive_ordered[K]' : 'positive[K]';
  const data: string[] = [];
  const params: ParamDef[] = [];
  const lets: string[] = [];
  // Location of the scalar continuous families: a mean, or a regression line.
  const location = (c: string, i: string) => (s.regressors > 0 ? `alpha[${c}] + dot(coef[${c}], x[${i}])` : `mu[${c}]`);
  if (s.regressors > 0) {
    data.push(`data x: real[${len}, P]`);
    params.push({ name: 'alpha', type: loc, prior: 'normal(0, 10)' }, { name: 'coef', type: 'real[K, P]', prior: 'normal(0, 2)' });
  }
  switch (s.family) {
    case 'normal':
      data.push(`data y: real[${len}]`);
      if (s.regressors === 0) params.push({ name: 'mu', type: loc, prior: 'normal(0, 10)' });
      params.push({ name: 'sigma', type: 'positive[K]', prior: 'half_normal(5)' });
      return { data, params, lets, dist: (c, i) => `normal(${location(c, i)}, sigma[${c}])` };
    case 'student_t':
      data.push(`data y: real[${len}]`);
      params.push({ name: 'nu', type: 'real<lower=1>[K]', prior: 'gamma(2, 0.1)' });
      if (s.regressors === 0) params.push({ name: 'mu', type: loc, prior: 'normal(0, 10)' });
      params.push({ name: 'sigma', type: 'positive[K]', prior: 'half_normal(5)' });
      return { data, params, lets, dist: (c, i) => `student_t(nu[${c}], ${location(c, i)}, sigma[${c}])` };
    case 'poisson':
      data.push(`data y: int<lower=0>[${len}]`);
      params.push({ name: 'lambda', type: rate, prior: 'gamma(2, 0.1)' });
      return { data, params, lets, dist: (c) => `poisson(lambda[${c}])` };
    case 'exponential':
      data.push(`data y: real<lower=0>[${len}]`);
      params.push({ name: 'rate', type: rate, prior: 'gamma(2, 1)' });
      return { data, params, lets, dist: (c) => `exponential(rate[${c}])` };
    case 'gamma':
      // shape >= 1 keeps the density finite at the smallest simulated values.
      data.push(`data y: real<lower=0>[${len}]`);
      params.push({ name: 'shape', type: 'real<lower=1>[K]', prior: 'gamma(2, 1)' }, { name: 'rate', type: rate, prior: 'gamma(2, 1)' });
      return { data, params, lets, dist: (c) => `gamma(shape[${c}], rate[${c}])` };
    case 'bernoulli':
      data.push(`data y: int<lower=0, upper=1>[${len}, D]`);
      params.push({ name: 'theta', type: 'unit[K, D]', prior: 'beta(2, 2)' });
      return { data, params, lets, dist: (c) => `bernoulli(theta[${c}])` };
    case 'categorical':
      data.push('data D: int<lower=1>', `data y: int<lower=1, upper=D>[${len}]`);
      params.push({ name: 'theta', type: 'simplex[K, D]', prior: 'dirichlet(rep(1.0, D))' });
      return { data, params, lets, dist: (c) => `categorical(theta[${c}])` };
    case 'mvnormal':
      data.push(`data y: real[${len}, D]`);
      params.push({ name: 'mu', type: 'real[K, D]', prior: 'normal(0, 10)' });
      return { data, params, lets, dist: covarianceDist(s, params, lets) };
  }
}

/** Adds the covariance parameters of an mvnormal spec and returns its component distribution. */
function covarianceDist(s: MixtureSpec, params: ParamDef[], lets: string[]): (c: string) => string {
  if (s.covariance === 'spherical' || s.covariance === 'diag') {
    params.push({ name: 'sigma', type: s.covariance === 'spherical' ? 'positive[K]' : 'positive[K, D]', prior: 'half_normal(5)' });
    return (c) => `normal(mu[${c}], sigma[${c}])`;
  }
  const full = s.covariance === 'full';
  const lead = full ? 'K, D' : 'D';
  const at = (name: string, c: string) => (full ? `${name}[${c}]` : name);
  switch (s.covarianceForm) {
    case 'cholesky_corr':
      params.push({ name: 'tau', type: `positive[${lead}]`, prior: 'half_normal(5)' }, { name: 'L', type: `cholesky_corr[${lead}]`, prior: 'lkj_corr_cholesky(2.0)' });
      if (full) return (c) => `mvnormal_cholesky(mu[${c}], diag_pre_multiply(tau[${c}], L[${c}]))`;
      lets.push('let scale_tril = diag_pre_multiply(tau, L)');
      return (c) => `mvnormal_cholesky(mu[${c}], scale_tril)`;
    case 'cholesky_cov':
      // The language has no prior family over Cholesky factors of covariances: L stays flat.
      params.push({ name: 'L', type: `cholesky_cov[${lead}]` });
      return (c) => `mvnormal_cholesky(mu[${c}], ${at('L', c)})`;
    case 'cov_matrix':
      params.push({ name: 'Sigma', type: `cov_matrix[${lead}]`, prior: 'inv_wishart(D + 2.0, diag_matrix(ones(D)))' });
      return (c) => `mvnormal(mu[${c}], ${at('Sigma', c)})`;
  }
}

/** Returns a one-line description of a spec (the generated model's doc comment). */
export function describeSpec(spec: MixtureSpec): string {
  const s = normalizeSpec(spec);
  const what = s.family === 'mvnormal'
    ? `${s.D}-dimensional normal (${s.covariance}${s.covariance === 'full' || s.covariance === 'tied' ? `, ${s.covarianceForm}` : ''})`
    : s.family === 'bernoulli' ? `${s.D}-feature bernoulli` : s.family === 'categorical' ? `${s.D}-category categorical` : s.family;
  const parts = [
    s.structure === 'hmm' ? `${s.K}-state hidden Markov model with ${what} emissions` : `${s.K}-component ${what} mixture (${s.latent === 'sugar' ? 'mixture sugar' : 'explicit labels'})`,
    s.regressors > 0 ? `regression on ${s.regressors} covariate${s.regressors === 1 ? '' : 's'}` : '',
    s.ordered ? 'ordered' : '',
    s.priors ? 'proper priors' : 'flat priors',
  ];
  return `Generated: a ${parts.filter(Boolean).join(', ')}.`;
}

/**
 * Returns the `.mix` text of a spec, in the pretty printer's canonical layout (so
 * `printProgram(parse(text))` gives the text back). Data: `K`, the observations `y`
 * (`y[N]`, or `y[N, D]` for bernoulli and mvnormal; `T` instead of `N` for an HMM),
 * `D` for categorical, covariates `x[N, P]` for a regression. Parameters: the weights `w`
 * (iid) or `pi` and `A` (hmm), then the family's (`mu`, `sigma`, `nu`, `lambda`, `rate`,
 * `shape`, `theta`, `alpha`, `coef`, `tau`, `L`, `Sigma`).
 *
 * @example
 * specToSource({ family: 'normal', K: 2, D: 1, covariance: 'spherical', covarianceForm: 'cholesky_corr',
 *   priors: false, ordered: false, structure: 'iid', latent: 'sugar', regressors: 0 });
 */
export function specToSource(spec: MixtureSpec): string {
  const s = normalizeSpec(spec);
  const hmm = s.structure === 'hmm';
  const len = lengthName(s);
  const i = hmm ? 't' : 'n';
  const comp = components(s, len);
  const weights: ParamDef[] = hmm
    ? [{ name: 'pi', type: 'simplex[K]', prior: 'dirichlet(rep(1.0, K))' }, { name: 'A', type: 'simplex[K, K]', prior: 'dirichlet(rep(1.0, K))' }]
    : [{ name: 'w', type: 'simplex[K]', prior: 'dirichlet(rep(1.0, K))' }];
  const params = [...weights, ...comp.params];
  const lines = [
    `/// ${describeSpec(s)}`,
    `model mix_${s.family} {`,
    '  data K: int<lower=1>',
    ...comp.data.map((d) => `  ${d}`),
    ...params.map((p) => `  param ${p.name}: ${p.type}`),
    ...(s.priors ? params.filter((p) => p.prior).map((p) => `  ${p.name} ~ ${p.prior}`) : []),
    ...comp.lets.map((l) => `  ${l}`),
  ];
  if (hmm) {
    lines.push(
      '  z[1] ~ categorical(pi)',
      '  for t in 2..T {',
      '    z[t] ~ categorical(A[z[t - 1]])',
      '  }',
      '  for t in 1..T {',
      `    y[t] ~ ${comp.dist('z[t]', i)}`,
      '  }',
    );
  } else if (s.latent === 'sugar') {
    lines.push('  for n in 1..N {', `    y[n] ~ mixture(w, k -> ${comp.dist('k', i)})`, '  }');
  } else {
    lines.push('  for n in 1..N {', '    z[n] ~ categorical(w)', `    y[n] ~ ${comp.dist('z[n]', i)}`, '  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Arbitraries of specs and models

/** Options of `mixtureSpec`; a forced choice (`priors: true`) replaces the random one. */
export interface MixtureSpecOptions {
  /** Families to draw from, in shrinking order (default: all, `normal` first). */
  families?: readonly ComponentFamily[];
  /** Structures to draw from (default: both, `iid` first). */
  structures?: readonly Structure[];
  /** mvnormal covariances to draw from (default: all, `spherical` first). */
  covariances?: readonly Covariance[];
  /** Smallest K (default 1). */
  minK?: number;
  /** Largest K (default 4). */
  maxK?: number;
  /** Largest D (default 3). */
  maxD?: number;
  /** Largest number of regression covariates (default 2; 0: no regressions). */
  maxRegressors?: number;
  /** Force proper priors (true) or flat ones (false). */
  priors?: boolean;
  /** Force ordered locations (true) or unordered ones (false). */
  ordered?: boolean;
}

/** The constants of a non-empty list, or a RangeError naming the option. */
function choice<T>(values: readonly T[], option: string): fc.Arbitrary<T> {
  if (values.length === 0) throw new RangeError(`mixtureSpec: ${option} must not be empty`);
  return fc.constantFrom(...values);
}

/**
 * Returns an arbitrary of normalised mixture specs. Every field shrinks towards its
 * simplest value (K towards `minK`, D towards 1, the first family / structure / covariance
 * in the options, flat priors, unordered, mixture sugar, no regressors), so a failing
 * property reports the smallest model that still fails.
 */
export function mixtureSpec(opts: MixtureSpecOptions = {}): fc.Arbitrary<MixtureSpec> {
  const minK = opts.minK ?? 1;
  const maxK = opts.maxK ?? 4;
  if (minK < 1 || maxK < minK) throw new RangeError(`mixtureSpec: need 1 <= minK <= maxK, got ${minK}..${maxK}`);
  const maxD = opts.maxD ?? 3;
  const maxP = opts.maxRegressors ?? 2;
  if (maxD < 1 || maxP < 0) throw new RangeError('mixtureSpec: need maxD >= 1 and maxRegressors >= 0');
  const flag = (forced: boolean | undefined) => (forced === undefined ? fc.boolean() : fc.constant(forced));
  return fc.record({
    family: choice(opts.families ?? COMPONENT_FAMILIES, 'families'),
    K: fc.integer({ min: minK, max: maxK }),
    D: fc.integer({ min: 1, max: maxD }),
    covariance: choice(opts.covariances ?? COVARIANCES, 'covariances'),
    covarianceForm: fc.constantFrom(...COVARIANCE_FORMS),
    priors: flag(opts.priors),
    ordered: flag(opts.ordered),
    structure: choice(opts.structures ?? STRUCTURES, 'structures'),
    latent: fc.constantFrom(...LATENT_FORMS),
    regressors: fc.integer({ min: 0, max: maxP }),
  }).map(normalizeSpec);
}

/** A generated model: its spec, text, the compiled model, and the sizes to bind or simulate it with. */
export interface MixtureModel {
  spec: MixtureSpec;
  source: string;
  model: Model;
  /** `K`, and `D` / `P` where they apply (see `specSizes`); not the observation count. */
  sizes: Record<string, number>;
  /** The observation count's name: `N` (iid) or `T` (hmm). */
  lengthName: 'N' | 'T';
}

/** Returns the compiled model of a spec (throws a MixError if it does not compile: a bug in the generator). */
export function specToModel(spec: MixtureSpec): MixtureModel {
  const s = normalizeSpec(spec);
  const source = specToSource(s);
  return { spec: s, source, model: compile(source, { name: `generated_${s.family}.mix` }), sizes: specSizes(s), lengthName: lengthName(s) };
}

/** Returns an arbitrary of compiled models of `mixtureSpec(opts)`; shrinks as the spec does. */
export function mixtureModel(opts: MixtureSpecOptions = {}): fc.Arbitrary<MixtureModel> {
  return mixtureSpec(opts).map(specToModel);
}

// ---------------------------------------------------------------------------
// Parameter values and simulated data

/** Options of `paramValues`. */
export interface ParamValuesOptions {
  /** The unconstrained coordinates are drawn from [-range, range] (default 2). */
  range?: number;
}

/**
 * Models bound with placeholder data, per model and sizes: binding costs milliseconds and
 * `constrain` is called once per draw. Their (small) data tensors live as long as the process.
 */
const boundCache = new WeakMap<Model, Map<string, BoundModel>>();

/** Returns the value of a constant IR expression, or undefined. */
function constValue(e: IRExpr | undefined): number | undefined {
  return e?.op === 'const' ? e.value : undefined;
}

/** Resolves a data or param dim from the sizes; throws when it is not a constant or a given size. */
function resolveDim(d: IRDim, sizes: Readonly<Record<string, number>>, what: string): number {
  if (d.kind === 'const') return d.n;
  if (d.kind === 'size' && sizes[d.name] !== undefined) return sizes[d.name];
  throw new RangeError(`${what}: its dim ${d.kind === 'size' ? d.name : '(an expression)'} is not given in the sizes`);
}

/**
 * Returns data to bind a model with when only its parameters matter: the given sizes,
 * and every other data variable filled with its declared lower bound (or 0). A size
 * that only data uses (the observation count N) defaults to 1; one that a parameter's
 * shape uses must be given.
 */
export function placeholderData(model: Model, sizes: Readonly<Record<string, number>>): DataInput {
  const paramSizes = new Set(model.ir.params.flatMap((p) => p.shape.flatMap((d) => (d.kind === 'size' ? [d.name] : []))));
  const withDefaults: Record<string, number> = { ...sizes };
  for (const d of model.ir.data) {
    for (const dim of d.shape) {
      if (dim.kind === 'size' && withDefaults[dim.name] === undefined && !paramSizes.has(dim.name)) withDefaults[dim.name] = 1;
    }
  }
  const data: Record<string, DataValue> = {};
  for (const d of model.ir.data) {
    if (d.shape.length === 0 && sizes[d.name] !== undefined) {
      data[d.name] = sizes[d.name];
      continue;
    }
    const shape = d.shape.map((dim) => resolveDim(dim, withDefaults, `data '${d.name}'`));
    const fill = constValue(d.constraint?.lower) ?? Math.min(0, constValue(d.constraint?.upper) ?? 0);
    data[d.name] = { shape, values: new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(fill) };
  }
  return data;
}

/** Returns a bound model for these sizes (placeholder data), cached per model and sizes. */
function boundFor(model: Model, sizes: Readonly<Record<string, number>>): BoundModel {
  let byModel = boundCache.get(model);
  if (!byModel) boundCache.set(model, (byModel = new Map()));
  const key = JSON.stringify(Object.entries(sizes).sort(([a], [b]) => (a < b ? -1 : 1)));
  let bound = byModel.get(key);
  if (!bound) byModel.set(key, (bound = model.bind(placeholderData(model, sizes))));
  return bound;
}

/** Constrained parameter values, as `BoundModel.constrain` returns them (nested arrays). */
export type ParamDraw = Record<string, number | unknown[]>;

/** Returns `count` values taken from `src` starting at `offset`, cycling (zeros when `src` is empty). */
function take(src: readonly number[], count: number, offset = 0): Float64Array {
  const out = new Float64Array(count);
  if (src.length > 0) for (let i = 0; i < count; i++) out[i] = src[(offset + i) % src.length];
  return out;
}

/** Unconstrained coordinates in [-range, range], shrinking towards 0. */
const coordinates = (count: number, range: number) =>
  fc.array(fc.double({ min: -range, max: range, noNaN: true }), { minLength: count, maxLength: count });

/**
 * Returns an arbitrary of values of every parameter of `model`, in their supports
 * (simplexes, positive and ordered vectors, Cholesky factors, covariance matrices, ...):
 * a flat unconstrained vector with coordinates in [-range, range], mapped through
 * `BoundModel.constrain`. It shrinks towards u = 0 (equal weights, unit scales).
 * `sizes` gives every size and int data the parameter shapes use (`K`, `D`,
 * ...); the model is bound once with `placeholderData`. Needs a tfjs backend (`useBackend`).
 */
export function paramValues(model: Model, sizes: Readonly<Record<string, number>>, opts: ParamValuesOptions = {}): fc.Arbitrary<ParamDraw> {
  const bound = boundFor(model, sizes);
  return coordinates(bound.dim, opts.range ?? 2).map((u) => bound.constrain(Float64Array.from(u)));
}

/** Options of `simulatedData`. */
export interface SimulatedDataOptions extends ParamValuesOptions {
  /** Smallest observation count (default 1). */
  minN?: number;
  /** Largest observation count (default 8). */
  maxN?: number;
  /** Covariates (given data that is not a size) are drawn from [-covariateRange, covariateRange] (default 2). */
  covariateRange?: number;
}

/** One simulated data set and the values it was simulated from. */
export interface SimulatedData {
  /** Ready for `model.bind`: the sizes, covariates and simulated observations. */
  data: Record<string, NdArray>;
  /** The parameter values used: the given ones, prior draws, or (for parameters without a prior) values from unconstrained coordinates, as in `paramValues`. */
  params: Record<string, NdArray>;
  /** The simulated discrete latents (component labels, hidden states). */
  latents: Record<string, NdArray>;
  /** The observation count drawn (undefined when the model has none to draw). */
  length?: number;
  /** The seed given to `Model.simulate`. */
  seed: number;
}

/** What fast-check draws for one data set; `realise` turns it into a simulation. */
interface RawDraw {
  n: number | undefined;
  seed: number;
  /** Unconstrained coordinates of the parameters without a prior (cycled to the needed length). */
  u: readonly number[];
  /** Covariate values, row-major, the first rows used (cycled when short). */
  cov: readonly number[];
}

/** What `realise` needs to know about a model, found once. */
interface SimulationPlan {
  model: Model;
  sizes: Readonly<Record<string, number>>;
  /** The observation count's name (undefined: nothing to draw). */
  len?: string;
  /** Params without a prior: `Model.simulate` cannot draw them. */
  flat: string[];
  /** Given data with dims: drawn by fast-check. */
  covariates: Model['ir']['data'];
  /** Some parameter's shape uses the observation count (else parameters are bound at count 1, once). */
  paramsUseLength: boolean;
}

/** The name of the observation count: the first dim of an observed data variable that is a size not given. */
function findLength(model: Model, sizes: Readonly<Record<string, number>>): string | undefined {
  const observed = new Set(model.ir.factors.filter((f) => f.kind === 'obs').map((f) => f.site));
  for (const d of model.ir.data) {
    const first = d.shape[0];
    if (observed.has(d.name) && first?.kind === 'size' && sizes[first.name] === undefined) return first.name;
  }
  return undefined;
}

function plan(model: Model, sizes: Readonly<Record<string, number>>): SimulationPlan {
  const observed = new Set(model.ir.factors.filter((f) => f.kind === 'obs').map((f) => f.site));
  const withPriors = new Set(model.ir.factors.filter((f) => f.kind === 'prior').map((f) => f.site));
  const len = findLength(model, sizes);
  return {
    model, sizes, len,
    flat: model.ir.params.filter((p) => !withPriors.has(p.name)).map((p) => p.name),
    covariates: model.ir.data.filter((d) => d.shape.length > 0 && !observed.has(d.name)),
    paramsUseLength: model.ir.params.some((p) => p.shape.some((d) => d.kind === 'size' && d.name === len)),
  };
}

/** The sizes with the observation count set to n. */
const sizesAt = (p: SimulationPlan, n: number | undefined): Record<string, number> =>
  (p.len !== undefined && n !== undefined ? { ...p.sizes, [p.len]: n } : { ...p.sizes });

/** Total number of covariate values at observation count n. */
function covariateCount(p: SimulationPlan, n: number | undefined): number {
  const all = sizesAt(p, n);
  return p.covariates.reduce((a, d) => a + d.shape.reduce((b, dim) => b * resolveDim(dim, all, `covariate '${d.name}'`), 1), 0);
}

/** Simulates one data set from a raw draw (deterministic: fast-check shrinks the raw draw). */
function realise(p: SimulationPlan, raw: RawDraw, params: ParamValues | undefined): SimulatedData {
  const all = sizesAt(p, raw.n);
  const input: Record<string, DataValue> = { ...all };
  let offset = 0;
  for (const d of p.covariates) {
    const shape = d.shape.map((dim) => resolveDim(dim, all, `covariate '${d.name}'`));
    const count = shape.reduce((a, b) => a * b, 1);
    input[d.name] = { shape, values: take(raw.cov, count, offset) };
    offset += count;
  }
  let fixed: Record<string, DataValue> = {};
  if (params !== undefined) fixed = params as Record<string, DataValue>;
  else if (p.flat.length > 0) {
    const bound = boundFor(p.model, p.paramsUseLength ? all : sizesAt(p, 1));
    const values = bound.constrain(take(raw.u, bound.dim));
    fixed = Object.fromEntries(p.flat.map((name) => [name, values[name] as DataValue]));
  }
  const [sim] = p.model.simulate(input, { seed: raw.seed, fixed });
  return { data: sim.data, params: sim.params, latents: sim.latents, length: raw.n, seed: raw.seed };
}

/** The observation count: [minN, maxN] when the model has one to draw. */
function lengthArb(p: SimulationPlan, minN: number, maxN: number): fc.Arbitrary<number | undefined> {
  if (minN < 0 || maxN < minN) throw new RangeError(`simulatedData: need 0 <= minN <= maxN, got ${minN}..${maxN}`);
  return p.len !== undefined ? fc.integer({ min: minN, max: maxN }) : fc.constant(undefined);
}

/**
 * Returns an arbitrary of data sets simulated from `model` (`Model.simulate`). The
 * observation count (N or T, read off the observed data's first dim) in [minN, maxN],
 * the seed, covariates in [-covariateRange, covariateRange], and the unconstrained
 * coordinates of parameters without a prior (which `simulate` cannot draw) are all
 * drawn by fast-check, so a failing data set shrinks to a short one with seed 0 and
 * u = 0. Parameters are held at `params` when given; otherwise those with a prior are
 * drawn from it. Needs a tfjs backend (`useBackend`).
 */
export function simulatedData(
  model: Model, sizes: Readonly<Record<string, number>>, params?: ParamValues, opts: SimulatedDataOptions = {},
): fc.Arbitrary<SimulatedData> {
  const p = plan(model, sizes);
  const maxN = opts.maxN ?? 8;
  const n = lengthArb(p, opts.minN ?? 1, maxN);
  // Enough coordinates for the largest length (a parameter's shape may use it).
  const dim = params === undefined && p.flat.length > 0 ? boundFor(model, sizesAt(p, p.paramsUseLength ? maxN : 1)).dim : 0;
  const covRange = opts.covariateRange ?? 2;
  return fc.record({
    n, seed: fc.nat(), u: coordinates(dim, opts.range ?? 2), cov: coordinates(covariateCount(p, maxN), covRange),
  }).map((raw) => realise(p, raw, params));
}

/** Options of `mixtureProblem`. */
export interface MixtureProblemOptions extends MixtureSpecOptions, SimulatedDataOptions {}

/** A generated model with data simulated from it: the input of an inference test. */
export interface MixtureProblem extends MixtureModel {
  /** The simulated data, ready for `model.bind`. */
  data: Record<string, NdArray>;
  /** The parameter values the data was simulated from. */
  trueParams: Record<string, NdArray>;
  /** The simulated discrete latents. */
  latents: Record<string, NdArray>;
}

/**
 * The most unconstrained coordinates a generated model can have: K^2 for the weights (or
 * pi and A), and per component at most 3 + P (normal, student_t) or D(D + 3)/2 (mvnormal
 * with a full covariance; bernoulli and categorical have fewer).
 */
export function maxCoordinates(opts: MixtureSpecOptions): number {
  const K = opts.maxK ?? 4;
  const D = Math.max(2, opts.maxD ?? 3);
  return K * K + K * Math.max(3 + (opts.maxRegressors ?? 2), (D * (D + 3)) / 2);
}

/**
 * Returns an arbitrary of generated models with data simulated from them (N in
 * [minN, maxN], default 1..8). The model, the length, the seed, the covariates and the
 * coordinates of flat parameters are drawn independently, so each shrinks on its own:
 * towards a small normal mixture, few observations, seed 0 and u = 0. Needs a tfjs
 * backend (`useBackend`).
 *
 * @example
 * await useBackend('cpu');
 * fc.assert(fc.property(mixtureProblem({ families: ['normal', 'poisson'], maxN: 5 }), (p) => {
 *   const bound = p.model.bind(p.data);
 *   return Number.isFinite(bound.logDensity(p.trueParams));
 * }), { numRuns: 30 });
 */
export function mixtureProblem(opts: MixtureProblemOptions = {}): fc.Arbitrary<MixtureProblem> {
  const minN = opts.minN ?? 1;
  const maxN = opts.maxN ?? 8;
  if (minN < 1 || maxN < minN) throw new RangeError(`mixtureProblem: need 1 <= minN <= maxN, got ${minN}..${maxN}`);
  const range = opts.range ?? 2;
  return fc.record({
    m: mixtureModel(opts),
    n: fc.integer({ min: minN, max: maxN }),
    seed: fc.nat(),
    u: coordinates(maxCoordinates(opts), range),
    cov: coordinates(maxN * (opts.maxRegressors ?? 2), opts.covariateRange ?? 2),
  }).map(({ m, ...raw }): MixtureProblem => {
    const d = realise(plan(m.model, m.sizes), raw, undefined);
    return { ...m, data: d.data, trueParams: d.params, latents: d.latents };
  });
}
