/**
 * The arbitraries of well-typed mixture models: every spec compiles cleanly and prints
 * back to itself, the generator reaches every family and structure, parameter draws lie
 * in their supports, simulated data binds with a finite log density at the true values,
 * and shrinking reports the simplest failing model and data set.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { printProgram } from '../../src/ast/print';
import { parse } from '../../src/parser';
import { useBackend } from '../../src/tensor';
import type { Model } from '../../src/model/model';
import {
  COMPONENT_FAMILIES, COVARIANCE_FORMS, COVARIANCES, LATENT_FORMS, STRUCTURES, mixtureModel, mixtureProblem, mixtureSpec,
  maxCoordinates, normalizeSpec, paramValues, placeholderData, simulatedData, specToModel, specToSource, type MixtureSpec, type ParamDraw,
} from '../../src/testing/arbitraries';

beforeAll(async () => {
  await useBackend('cpu');
});

/** The simplest spec: what shrinking should reach, with K (and the given fields) overridden. */
const simplest = (over: Partial<MixtureSpec> = {}): MixtureSpec => ({
  family: 'normal', K: 1, D: 1, covariance: 'spherical', covarianceForm: 'cholesky_corr', priors: false, ordered: false,
  structure: 'iid', latent: 'sugar', regressors: 0, ...over,
});

/** Every normalised spec with the given K, D and regressor counts (the whole discrete space). */
function allSpecs(K: number, D: number, regressors: number[]): MixtureSpec[] {
  const out = new Map<string, MixtureSpec>();
  for (const family of COMPONENT_FAMILIES) for (const covariance of COVARIANCES) for (const covarianceForm of COVARIANCE_FORMS) {
    for (const structure of STRUCTURES) for (const latent of LATENT_FORMS) for (const priors of [false, true]) for (const ordered of [false, true]) {
      for (const r of regressors) {
        const s = normalizeSpec({ family, K, D, covariance, covarianceForm, structure, latent, priors, ordered, regressors: r });
        out.set(JSON.stringify(s), s);
      }
    }
  }
  return [...out.values()];
}

/** Structural facts every generated model must show, whatever its spec. */
function expectShape(spec: MixtureSpec, model: Model, source: string): void {
  expect(model.warnings).toEqual([]);
  expect(printProgram(parse({ name: 'gen', text: source }).program!)).toBe(source);
  const sites = model.sites;
  const y = sites.find((s) => s.name === 'y')!;
  expect(y.observed).toBe(true);
  expect(y.shape[0]).toBe(spec.structure === 'hmm' ? 'T' : 'N');
  const latents = sites.filter((s) => s.kind === 'latent');
  expect(latents).toHaveLength(1);
  expect(latents[0].marginalized).toBe(spec.structure === 'hmm' ? 'forward' : 'enumeration');
  expect(latents[0].name).toBe(spec.structure === 'iid' && spec.latent === 'sugar' ? 'y$k' : 'z');
  const params = sites.filter((s) => s.kind === 'param').map((s) => s.name);
  expect(params.slice(0, spec.structure === 'hmm' ? 2 : 1)).toEqual(spec.structure === 'hmm' ? ['pi', 'A'] : ['w']);
  const priors = model.ir.factors.filter((f) => f.kind === 'prior').length;
  if (spec.priors) expect(priors).toBeGreaterThan(0);
  else expect(priors).toBe(0);
  if (spec.regressors > 0) expect(sites.find((s) => s.name === 'x')?.shape).toEqual([spec.structure === 'hmm' ? 'T' : 'N', 'P']);
}

describe('specToSource', () => {
  it('compiles every spec without diagnostics and prints back to itself (exhaustive over the choices)', () => {
    const specs = allSpecs(3, 2, [0, 2]);
    expect(specs.length).toBeGreaterThan(100);
    for (const spec of specs) {
      const m = specToModel(spec);
      expect(m.spec).toEqual(spec);
      expectShape(spec, m.model, m.source);
    }
  });

  it('renders the simplest spec as a plain flat normal mixture', () => {
    const src = specToSource(simplest({ K: 2 }));
    expect(src).toContain('param w: simplex[K]');
    expect(src).toContain('y[n] ~ mixture(w, k -> normal(mu[k], sigma[k]))');
    expect(src).not.toContain('dirichlet');
  });

  it('normalises fields that do not apply, and rejects sizes below 1', () => {
    fc.assert(fc.property(mixtureSpec(), (s) => {
      expect(normalizeSpec(s)).toEqual(s);
      if (s.family !== 'mvnormal') expect(s.covariance).toBe('spherical');
      if (s.family === 'categorical') expect(s.D).toBeGreaterThanOrEqual(2);
      if (s.structure === 'hmm') expect(s.latent).toBe('explicit');
      if (s.family !== 'normal' && s.family !== 'student_t') expect(s.regressors).toBe(0);
    }), { numRuns: 200, seed: 11 });
    expect(() => specToSource(simplest({ K: 0 }))).toThrow(/K must be/);
  });
});

describe('mixtureSpec / mixtureModel', () => {
  it('every generated model compiles without diagnostics', () => {
    fc.assert(fc.property(mixtureModel(), ({ spec, source, model, sizes, lengthName }) => {
      expectShape(spec, model, source);
      expect(sizes.K).toBe(spec.K);
      expect(lengthName).toBe(spec.structure === 'hmm' ? 'T' : 'N');
    }), { numRuns: 60, seed: 5 });
  });

  it('reaches every family, covariance, form, structure and flag', () => {
    const specs = fc.sample(mixtureSpec(), { numRuns: 600, seed: 3 });
    const seen = (f: (s: MixtureSpec) => unknown) => new Set(specs.map(f));
    expect(seen((s) => s.family)).toEqual(new Set(COMPONENT_FAMILIES));
    expect(seen((s) => s.structure)).toEqual(new Set(STRUCTURES));
    expect(seen((s) => s.latent)).toEqual(new Set(LATENT_FORMS));
    expect(new Set(specs.filter((s) => s.family === 'mvnormal').map((s) => s.covariance))).toEqual(new Set(COVARIANCES));
    expect(new Set(specs.filter((s) => s.covariance === 'full' || s.covariance === 'tied').map((s) => s.covarianceForm))).toEqual(new Set(COVARIANCE_FORMS));
    expect(seen((s) => s.K)).toEqual(new Set([1, 2, 3, 4]));
    expect(seen((s) => s.priors)).toEqual(new Set([false, true]));
    expect(seen((s) => s.ordered)).toEqual(new Set([false, true]));
    expect(seen((s) => s.regressors)).toEqual(new Set([0, 1, 2]));
  });

  it('honours the options', () => {
    const opts = { families: ['poisson', 'gamma'] as const, structures: ['hmm'] as const, minK: 2, maxK: 3, priors: true };
    for (const s of fc.sample(mixtureSpec(opts), { numRuns: 100, seed: 1 })) {
      expect(['poisson', 'gamma']).toContain(s.family);
      expect(s.structure).toBe('hmm');
      expect(s.K).toBeGreaterThanOrEqual(2);
      expect(s.K).toBeLessThanOrEqual(3);
      expect(s.priors).toBe(true);
    }
    expect(() => mixtureSpec({ families: [] })).toThrow(/families/);
    expect(() => mixtureSpec({ minK: 3, maxK: 2 })).toThrow(/minK/);
  });
});

describe('shrinking', () => {
  it('a property failing whenever K >= 2 shrinks to K = 2 and the simplest other choices', () => {
    for (const seed of [1, 2, 3]) {
      const r = fc.check(fc.property(mixtureSpec(), (s) => s.K < 2), { seed });
      expect(r.failed).toBe(true);
      expect(r.counterexample![0]).toEqual(simplest({ K: 2 }));
    }
  });

  it('shrinks a compiled model too: a property failing on full-covariance mvnormal with D >= 2', () => {
    const r = fc.check(fc.property(mixtureModel(), ({ spec }) => !(spec.family === 'mvnormal' && spec.covariance === 'full' && spec.D >= 2)), { seed: 4 });
    expect(r.failed).toBe(true);
    const { spec, source } = r.counterexample![0];
    expect(spec).toEqual(simplest({ family: 'mvnormal', D: 2, covariance: 'full' }));
    expect(source).toBe(specToSource(spec));
  });

  it('shrinks simulated data to the shortest failing length and seed 0', () => {
    const { model, sizes } = specToModel(simplest({ K: 2 }));
    const r = fc.check(fc.property(simulatedData(model, sizes), (d) => d.data.y.shape[0] < 3), { seed: 9 });
    expect(r.failed).toBe(true);
    const d = r.counterexample![0];
    expect(d.length).toBe(3);
    expect(d.data.y.shape).toEqual([3]);
    expect(d.seed).toBe(0);
    // The flat model's parameters come from paramValues and shrink to u = 0: equal weights, unit scales.
    expect(Array.from(d.params.w.values)).toEqual([0.5, 0.5]);
    expect(Array.from(d.params.sigma.values)).toEqual([1, 1]);
  });

  it('shrinks a whole problem: model, length, seed and flat parameters each to their simplest', () => {
    for (const seed of [1, 2, 3]) {
      const r = fc.check(fc.property(mixtureProblem({ maxN: 6 }), (p) => !(p.spec.K >= 2 && p.data.y.shape[0] >= 2)), { seed });
      expect(r.failed).toBe(true);
      const p = r.counterexample![0];
      expect(p.spec).toEqual(simplest({ K: 2 }));
      expect(p.data.y.shape).toEqual([2]);
      expect(Object.fromEntries(Object.entries(p.trueParams).map(([k, v]) => [k, Array.from(v.values)]))).toEqual({ w: [0.5, 0.5], mu: [0, 0], sigma: [1, 1] });
    }
    const r = fc.check(fc.property(mixtureProblem({ maxN: 6 }), (p) => !(p.spec.structure === 'hmm' && p.data.y.shape[0] >= 2)), { seed: 2 });
    expect(r.counterexample![0].spec).toEqual(simplest({ structure: 'hmm', latent: 'explicit' }));
    expect(r.counterexample![0].data.y.shape).toEqual([2]);
  });
});

// ---------------------------------------------------------------------------
// Supports

/** Flattens nested arrays (what constrain returns) into a shape and row-major values. */
function flatten(v: number | unknown[]): { shape: number[]; values: number[] } {
  const shape: number[] = [];
  for (let x: unknown = v; Array.isArray(x); x = x[0]) shape.push(x.length);
  return { shape, values: ([v] as unknown[]).flat(Infinity) as number[] };
}

/** Returns why `values` (rows of `event` elements) are outside the constraint, or undefined. */
function supportViolation(constraint: string, lower: number | undefined, shape: number[], values: number[]): string | undefined {
  const tol = 1e-5;
  if (values.some((x) => !Number.isFinite(x))) return 'not finite';
  const vecLen = shape[shape.length - 1] ?? 1;
  const rows = (len: number) => Array.from({ length: values.length / len }, (_, i) => values.slice(i * len, (i + 1) * len));
  switch (constraint) {
    case 'real': return undefined;
    case 'positive': return values.every((x) => x > 0) ? undefined : 'not positive';
    case 'unit': return values.every((x) => x > 0 && x < 1) ? undefined : 'not in (0, 1)';
    case 'lower': return values.every((x) => x >= lower!) ? undefined : `below ${lower}`;
    case 'simplex':
      return rows(vecLen).every((r) => r.every((x) => x >= 0) && Math.abs(r.reduce((a, b) => a + b, 0) - 1) < tol) ? undefined : 'not a simplex';
    case 'ordered': case 'positive_ordered':
      return rows(vecLen).every((r) => r.every((x, i) => i === 0 || x > r[i - 1]) && (constraint === 'ordered' || r[0] > 0)) ? undefined : 'not ordered';
    case 'cholesky_corr': case 'cholesky_cov': case 'cov_matrix': {
      const D = vecLen;
      for (const m of rows(D * D)) {
        const at = (i: number, j: number) => m[i * D + j];
        for (let i = 0; i < D; i++) {
          if (constraint === 'cov_matrix') {
            for (let j = 0; j < D; j++) if (Math.abs(at(i, j) - at(j, i)) > tol * (1 + Math.abs(at(i, j)))) return 'not symmetric';
            continue;
          }
          if (!(at(i, i) > 0)) return 'diagonal not positive';
          for (let j = i + 1; j < D; j++) if (at(i, j) !== 0) return 'not lower triangular';
          if (constraint === 'cholesky_corr' && Math.abs(m.slice(i * D, i * D + i + 1).reduce((a, x) => a + x * x, 0) - 1) > tol) return 'row not of unit norm';
        }
        if (constraint === 'cov_matrix' && !choleskyOk(m, D)) return 'not positive definite';
      }
      return undefined;
    }
    default: return `unexpected constraint ${constraint}`;
  }
}

/** True when the Cholesky factorisation of the D x D matrix m succeeds (positive definite). */
function choleskyOk(m: number[], D: number): boolean {
  const L = new Array<number>(D * D).fill(0);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j <= i; j++) {
      let s = m[i * D + j];
      for (let k = 0; k < j; k++) s -= L[i * D + k] * L[j * D + k];
      if (i === j) {
        if (!(s > 0)) return false;
        L[i * D + i] = Math.sqrt(s);
      } else L[i * D + j] = s / L[j * D + j];
    }
  }
  return true;
}

/** Asserts every drawn parameter has its declared shape and lies in its support. */
function expectInSupport(model: Model, sizes: Record<string, number>, draw: ParamDraw): void {
  expect(Object.keys(draw)).toEqual(model.ir.params.map((p) => p.name));
  for (const p of model.ir.params) {
    const { shape, values } = flatten(draw[p.name]);
    const declared = p.shape.map((d) => (d.kind === 'const' ? d.n : d.kind === 'size' ? sizes[d.name] : NaN));
    expect(shape, p.name).toEqual(declared);
    const lower = p.constraint.lower?.op === 'const' ? p.constraint.lower.value : undefined;
    expect(supportViolation(p.constraint.name, lower, shape, values), `${p.name}: ${p.constraint.name}`).toBeUndefined();
  }
}

describe('paramValues', () => {
  it('draws every parameter in its support, with its declared shape', () => {
    const arb = mixtureModel({ maxD: 3 }).chain((m) => paramValues(m.model, m.sizes).map((draw) => ({ m, draw })));
    fc.assert(fc.property(arb, ({ m, draw }) => expectInSupport(m.model, m.sizes, draw)), { numRuns: 50, seed: 8 });
  });

  it('the support checker catches values outside their support (the check can fail)', () => {
    expect(supportViolation('simplex', undefined, [2], [0.6, 0.6])).toBe('not a simplex');
    expect(supportViolation('ordered', undefined, [2], [1, 0.5])).toBe('not ordered');
    expect(supportViolation('cholesky_corr', undefined, [2, 2], [1, 0, 0.6, 0.6])).toBe('row not of unit norm');
    expect(supportViolation('cov_matrix', undefined, [2, 2], [1, 2, 2, 1])).toBe('not positive definite');
    expect(supportViolation('lower', 1, [1], [0.5])).toBe('below 1');
  });

  it('maxCoordinates bounds the unconstrained dimension of every model the options allow', () => {
    const budget = maxCoordinates({ maxK: 4, maxD: 3, maxRegressors: 2 });
    let largest = 0;
    for (const spec of [...allSpecs(4, 3, [0, 2]), ...allSpecs(4, 1, [0])]) {
      const { model, sizes } = specToModel(spec);
      const bound = model.bind(placeholderData(model, sizes));
      largest = Math.max(largest, bound.dim);
      bound.dispose();
    }
    expect(largest).toBeLessThanOrEqual(budget);
    expect(largest).toBeGreaterThan(budget / 2);
  });

  it('needs the sizes the parameter shapes use', () => {
    const { model } = specToModel(simplest({ family: 'mvnormal', D: 2 }));
    expect(() => paramValues(model, { K: 2 })).toThrow(/D/);
  });
});

describe('simulatedData / mixtureProblem', () => {
  it('simulated data binds and the log density at the true parameters is finite', () => {
    fc.assert(fc.property(mixtureProblem({ maxN: 6 }), (p) => {
      const bound = p.model.bind(p.data);
      try {
        expect(Object.keys(p.trueParams).sort()).toEqual(p.model.ir.params.map((q) => q.name).sort());
        const n = p.data.y.shape[0];
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThanOrEqual(6);
        expect(bound.sizes.get(p.lengthName)).toBe(n);
        expect(Number.isFinite(bound.logDensity(p.trueParams))).toBe(true);
        expect(Number.isFinite(bound.logDensity(p.trueParams, { priors: false }))).toBe(true);
      } finally {
        bound.dispose();
      }
    }), { numRuns: 50, seed: 6 });
  });

  it('holds the parameters fixed when they are given', () => {
    const arb = mixtureModel({ priors: true, maxK: 3 }).chain((m) => paramValues(m.model, m.sizes).chain((params) =>
      simulatedData(m.model, m.sizes, params, { maxN: 4 }).map((d) => ({ m, params, d }))));
    fc.assert(fc.property(arb, ({ m, params, d }) => {
      for (const name of Object.keys(params)) {
        expect(Array.from(d.params[name].values), name).toEqual(flatten(params[name]).values);
      }
      expect(d.data.y.shape[0]).toBe(d.length);
      expect(m.model.bind(d.data).logDensity(d.params)).toSatisfy(Number.isFinite);
    }), { numRuns: 20, seed: 2 });
  });

  it('draws covariates of a regression at the drawn length, in range', () => {
    const { model, sizes } = specToModel(simplest({ K: 2, regressors: 2 }));
    for (const d of fc.sample(simulatedData(model, sizes, undefined, { maxN: 5, covariateRange: 1 }), { numRuns: 10, seed: 4 })) {
      expect(d.data.x.shape).toEqual([d.length, 2]);
      expect(Array.from(d.data.x.values).every((v) => Math.abs(v) <= 1)).toBe(true);
    }
  });
});
