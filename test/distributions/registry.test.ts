/**
 * The registry-driven distribution tests: every family in DISTRIBUTIONS is checked against
 * its entry in CASES (float64 reference densities written independently in cases.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Key, tf, useBackend } from '../../src/tensor';
import type { Tensor } from '../../src/tensor';
import { DISTRIBUTIONS, distributionNames, getDistribution } from '../../src/distributions/registry';
import type { DistributionDef, JsValue } from '../../src/distributions/types';
import { CASES } from './cases';
import type { Case, Params, Quad } from './cases';

beforeAll(async () => {
  await useBackend('cpu');
});

// ---------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------

/** Rounds every number to float32, as the tensors will hold it. */
function f32<T>(v: T): T {
  if (typeof v === 'number') return Math.fround(v) as T;
  return (v as unknown[]).map((e) => f32(e)) as T;
}

function flat(v: unknown): number[] {
  return typeof v === 'number' ? [v] : (v as unknown[]).flatMap((e) => flat(e));
}

function shapeOf(v: unknown): number[] {
  if (typeof v === 'number') return [];
  return [(v as unknown[]).length, ...shapeOf((v as unknown[])[0])];
}

function toTensor(v: JsValue): Tensor {
  return tf.tensor(flat(v), shapeOf(v), 'float32');
}

/** Returns logProb at one value and one parameter set, as a JS number. */
function lpAt(def: DistributionDef, x: JsValue, p: Params): number {
  return tf.tidy(() => def.logProb(toTensor(x), ...p.map(toTensor)).dataSync()[0]);
}

/** Float32 agreement: relative 1e-5 plus absolute 1e-4. */
function close(actual: number, expected: number, rel = 1e-5, abs = 1e-4): boolean {
  if (expected === -Infinity || expected === Infinity) return actual === expected;
  return Math.abs(actual - expected) <= rel * Math.abs(expected) + abs;
}

function caseOf(name: string): Case {
  const c = CASES[name];
  if (!c) throw new Error(`no test case for distribution '${name}': add one to test/distributions/cases.ts`);
  return c;
}

function allParams(c: Case): Params[] {
  return [...c.params, ...(c.stress ?? [])];
}

const families = distributionNames();
const scalarContinuous = families.filter((f) => {
  const d = getDistribution(f)!;
  return d.support.elem === 'real' && d.support.eventRank === 0;
});
const discrete = families.filter((f) => getDistribution(f)!.support.elem === 'int');

// ---------------------------------------------------------------------------------------
// the table itself
// ---------------------------------------------------------------------------------------

describe('registry', () => {
  it('has exactly the families of the language, with Stan-style parameter names', () => {
    const sig = Object.fromEntries(families.map((f) => [f, getDistribution(f)!.params.map((p) => p.name).join(',')]));
    expect(sig).toEqual({
      normal: 'mu,sigma', half_normal: 'sigma', student_t: 'nu,mu,sigma', cauchy: 'mu,sigma', half_cauchy: 'sigma',
      lognormal: 'mu,sigma', exponential: 'rate', gamma: 'shape,rate', inv_gamma: 'shape,scale', beta: 'a,b',
      uniform: 'lower,upper', von_mises: 'mu,kappa', logistic: 'mu,s',
      mvnormal: 'mu,Sigma', mvnormal_cholesky: 'mu,L', dirichlet: 'alpha', lkj_corr_cholesky: 'eta',
      wishart: 'nu,Sigma', inv_wishart: 'nu,Sigma',
      categorical: 'probs', categorical_logit: 'logits', bernoulli: 'p', bernoulli_logit: 'alpha', binomial: 'n,p',
      poisson: 'rate', poisson_log: 'log_rate', neg_binomial: 'alpha,beta', neg_binomial_2: 'mu,phi',
    });
  });

  it('keys rows by their own name and has a test case for every row', () => {
    for (const [name, def] of DISTRIBUTIONS) {
      expect(def.name).toBe(name);
      expect(CASES[name], `test case for ${name}`).toBeDefined();
      expect(def.doc.length).toBeGreaterThan(0);
      expect(def.density.length).toBeGreaterThan(0);
    }
    expect(Object.keys(CASES).sort()).toEqual(families);
    expect(getDistribution('no_such_family')).toBeUndefined();
  });

  it('marks exactly the enumerable families finite, and they list their support', () => {
    const finite = families.filter((f) => getDistribution(f)!.support.finite === true);
    expect(finite).toEqual(['bernoulli', 'bernoulli_logit', 'binomial', 'categorical', 'categorical_logit']);
    for (const f of finite) expect(getDistribution(f)!.supportValues, f).toBeTypeOf('function');
    expect(getDistribution('categorical')!.supportValues!([0.2, 0.3, 0.5])).toEqual([1, 2, 3]);
    expect(getDistribution('categorical_logit')!.supportValues!([0, 0])).toEqual([1, 2]);
    expect(getDistribution('bernoulli')!.supportValues!(0.3)).toEqual([0, 1]);
    expect(getDistribution('bernoulli_logit')!.supportValues!(0.3)).toEqual([0, 1]);
    expect(getDistribution('binomial')!.supportValues!(4, 0.3)).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives log CDFs to the scalar continuous families that have closed forms', () => {
    for (const f of ['normal', 'half_normal', 'cauchy', 'half_cauchy', 'lognormal', 'exponential', 'uniform', 'logistic']) {
      const d = getDistribution(f)!;
      expect(d.logCdf, f).toBeTypeOf('function');
      expect(d.logCcdf, f).toBeTypeOf('function');
      expect(caseOf(f).cdf, `reference CDF for ${f}`).toBeTypeOf('function');
    }
  });
});

// ---------------------------------------------------------------------------------------
// (1) density against the float64 reference
// ---------------------------------------------------------------------------------------

describe.each(families)('%s', (name) => {
  const def = getDistribution(name)!;
  const c = caseOf(name);

  it('log density matches the float64 closed form', () => {
    let checked = 0;
    for (const p0 of allParams(c)) {
      const p = f32(p0);
      for (const x0 of c.points(p)) {
        const x = f32(x0);
        const want = c.ref(x, ...p);
        const got = lpAt(def, x, p);
        expect(close(got, want), `${name}(${JSON.stringify(p)}) at ${JSON.stringify(x)}: got ${got}, want ${want}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5);
  });

  it('gives -Infinity (not NaN) outside the support', () => {
    for (const p0 of c.params) {
      const p = f32(p0);
      for (const x of c.outside(p)) {
        expect(lpAt(def, x, p), `${name}(${JSON.stringify(p)}) at ${JSON.stringify(x)}`).toBe(-Infinity);
      }
    }
  });

  // -------------------------------------------------------------------------------------
  // (4) broadcasting: params [3, 1, ...core] against values [4, ...event] -> [3, 4]
  // -------------------------------------------------------------------------------------

  it('broadcasts a [3, 1] parameter batch against a [4] value batch to [3, 4]', () => {
    const ps = c.params.slice(0, 3).map((p) => f32(p));
    expect(ps.length).toBe(3);
    const pts = c.points(ps[0]).map((x) => f32(x));
    const xs = [0, 1, 2, 3].map((i) => pts[i % pts.length]);
    const expected = ps.map((p) => xs.map((x) => lpAt(def, x, p)));
    const stack = (vals: JsValue[], lead: number[]) => {
      const core = shapeOf(vals[0]);
      return tf.tensor(vals.flatMap(flat), [...lead, ...core]);
    };
    const check = (got: Tensor, want: number[][], what: string) => {
      expect(got.shape, what).toEqual([3, 4]);
      const g = got.arraySync() as number[][];
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 4; j++) {
          expect(close(g[i][j], want[i][j], 1e-6, 1e-5), `${what} [${i}, ${j}]: ${g[i][j]} vs ${want[i][j]}`).toBe(true);
        }
      }
    };
    tf.tidy(() => {
      const v = stack(xs, [4]);
      const all = def.logProb(v, ...def.params.map((_, k) => stack(ps.map((p) => p[k]), [3, 1])));
      check(all, expected, 'all params batched');
      // Only the first parameter batched; the others at core rank (from set 0).
      const firstOnly = def.logProb(v, stack(ps.map((p) => p[0]), [3, 1]), ...ps[0].slice(1).map(toTensor));
      const want1 = ps.map((p) => xs.map((x) => lpAt(def, x, [p[0], ...ps[0].slice(1)])));
      check(firstOnly, want1, 'first param batched');
      // Values batched as [1, 4]: the same [3, 4] result.
      const v14 = stack(xs, [1, 4]);
      check(def.logProb(v14, ...def.params.map((_, k) => stack(ps.map((p) => p[k]), [3, 1]))), expected, 'value [1, 4]');
    });
  });

  // -------------------------------------------------------------------------------------
  // (5) gradients against central differences of the float64 density
  // -------------------------------------------------------------------------------------

  it('has gradients that match central differences of the float64 density', () => {
    const rng = Key.seed(7).rng();
    const valueGrad = c.valueGrad ?? (def.support.elem === 'real' && (def.support.constraint !== 'simplex' && def.support.constraint !== 'cholesky_corr'));
    /** A random direction respecting the structure a parameter is read with. */
    const direction = (v: JsValue, constraint: string): JsValue => {
      if (typeof v === 'number') return rng.normal();
      const m = v as number[][];
      if (!Array.isArray(m[0])) return (v as number[]).map(() => rng.normal());
      const D = m.length;
      const d = m.map(() => new Array<number>(D).fill(0));
      for (let i = 0; i < D; i++) {
        for (let j = 0; j <= i; j++) {
          const e = rng.normal();
          d[i][j] = e;
          if (constraint === 'cov_matrix') d[j][i] = e; // symmetric: the density reads a symmetric matrix
        }
      }
      return d;
    };
    const axpy = (a: number, x: JsValue, y: JsValue): JsValue =>
      typeof y === 'number' ? y + a * (x as number) : (y as JsValue[]).map((e, i) => axpy(a, (x as JsValue[])[i], e)) as JsValue;
    let checked = 0;
    for (const p0 of allParams(c)) {
      const p = f32(p0);
      for (const x0 of c.points(p).slice(0, 3)) {
        const x = f32(x0);
        if (!Number.isFinite(c.ref(x, ...p))) continue;
        const args = [x, ...p];
        const grads = tf.tidy(() => {
          const ts = args.map(toTensor);
          const g = tf.grads((...a: Tensor[]) => def.logProb(a[0], ...a.slice(1)))(ts);
          return g.map((t) => t.arraySync() as JsValue);
        });
        const specs = [{ elem: valueGrad ? 'real' : 'int', constraint: def.support.constraint }, ...def.params];
        specs.forEach((spec, k) => {
          if (spec.elem !== 'real') return;
          const dir = direction(args[k], spec.constraint);
          const analytic = flat(grads[k]).reduce((s, g, i) => s + g * flat(dir)[i], 0);
          const scale = Math.max(1, ...flat(args[k]).map(Math.abs));
          const h = 1e-6 * scale;
          const at = (t: number) => {
            const a = args.slice();
            a[k] = axpy(t, dir, args[k]);
            return c.ref(a[0], ...a.slice(1));
          };
          const fd = (at(h) - at(-h)) / (2 * h);
          // float32: the gradient is a sum of terms each good to ~1e-6 relative; 1e-4 leaves room for cancellation.
          const tol = 1e-4 * (Math.abs(fd) + 1);
          expect(Math.abs(analytic - fd) <= tol, `${name}(${JSON.stringify(p)}) at ${JSON.stringify(x)}, d/d ${k === 0 ? 'value' : def.params[k - 1].name}: ${analytic} vs ${fd}`).toBe(true);
          checked++;
        });
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  // -------------------------------------------------------------------------------------
  // (3) sampler: moments within 4 standard errors; draws in the support
  // -------------------------------------------------------------------------------------

  it('draws samples whose moments match, inside the support', () => {
    const N = 20000;
    c.params.forEach((p, idx) => {
      const rng = Key.seed(1000 + idx).rng();
      const args = c.sampleArgs ? c.sampleArgs(p) : p;
      const draws: JsValue[] = [];
      for (let i = 0; i < N; i++) draws.push(def.sample(rng, ...args));
      const ev = shapeOf(draws[0]);
      expect(ev.length, 'draw rank').toBe(def.support.eventRank);
      // The first 200 draws have a finite log density (evaluated as one [200] batch).
      const lps = tf.tidy(() => {
        const v = tf.tensor(draws.slice(0, 200).flatMap(flat), [200, ...ev]);
        return Array.from(def.logProb(v, ...p.map(toTensor)).dataSync());
      });
      expect(lps.every(Number.isFinite), `${name}: a draw outside the support`).toBe(true);
      if (def.support.elem === 'int') expect(draws.every((d) => Number.isInteger(d)), 'integer draws').toBe(true);

      let f: (x: JsValue) => number[];
      let mean: number[];
      let variance: number[];
      const m = def.moments?.(...p);
      if (m) {
        f = flat;
        mean = flat(m.mean);
        variance = flat(m.variance);
      } else {
        const s = c.stats?.(p);
        expect(s, `${name} needs moments() or test stats`).toBeDefined();
        ({ f, mean, variance } = s!);
      }
      const values = draws.map(f);
      mean.forEach((mu, e) => {
        const xs = values.map((v) => v[e]);
        const mhat = xs.reduce((a, b) => a + b, 0) / N;
        const sd = Math.sqrt(variance[e]);
        if (!Number.isFinite(sd)) return;
        if (sd === 0) {
          expect(mhat).toBeCloseTo(mu, 12);
          return;
        }
        expect(Math.abs(mhat - mu) <= (4 * sd) / Math.sqrt(N), `${name}(${JSON.stringify(p)}) mean[${e}] ${mhat} vs ${mu}`).toBe(true);
        // A two-valued statistic's sample variance is a function of its mean: nothing more to check.
        if (new Set(xs).size <= 2) return;
        const c2 = xs.reduce((a, x) => a + (x - mhat) ** 2, 0) / (N - 1);
        const c4 = xs.reduce((a, x) => a + (x - mhat) ** 4, 0) / N;
        // Var(s²) = (μ₄ - (N-3)/(N-1) σ⁴)/N, with the sample moments plugged in.
        const se = Math.sqrt(Math.max(c4 - ((N - 3) / (N - 1)) * c2 * c2, 0) / N);
        expect(Math.abs(c2 - variance[e]) <= 4 * se, `${name}(${JSON.stringify(p)}) variance[${e}] ${c2} vs ${variance[e]} (se ${se})`).toBe(true);
      });
    });
  });

  it('rejects bad sampler arguments with a named error', () => {
    const p = c.params[0];
    const args = c.sampleArgs ? c.sampleArgs(p) : p;
    expect(() => def.sample(Key.seed(1).rng(), ...args.slice(0, -1))).toThrow(new RegExp(name));
  });
});

// ---------------------------------------------------------------------------------------
// (2) normalisation (and moments by quadrature)
// ---------------------------------------------------------------------------------------

/** Returns midpoint nodes x and weights w for ∫ f(x) dx after the change of variables q. */
function quadrature(q: Quad, N: number): { x: number[]; w: number[] } {
  const x: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < N; i++) {
    const u = (i + 0.5) / N;
    if (q.kind === 'real') {
      const t = Math.PI * (u - 0.5);
      x.push(q.loc + q.scale * Math.tan(t));
      w.push((q.scale * Math.PI) / Math.cos(t) ** 2 / N);
    } else if (q.kind === 'positive') {
      x.push((q.scale * u) / (1 - u));
      w.push(q.scale / (1 - u) ** 2 / N);
    } else {
      x.push(q.lo + (q.hi - q.lo) * u);
      w.push((q.hi - q.lo) / N);
    }
  }
  return { x, w };
}

describe.each(scalarContinuous)('%s normalisation', (name) => {
  const def = getDistribution(name)!;
  const c = caseOf(name);

  it('integrates to 1 (tensor logProb on a grid), with the mean and variance of moments()', () => {
    expect(c.quad, `${name} needs a quadrature map`).toBeDefined();
    for (const p0 of c.params) {
      const p = f32(p0);
      const { x, w } = quadrature(c.quad!(p), 20000);
      const dens = tf.tidy(() => Array.from(def.logProb(tf.tensor1d(x), ...p.map(toTensor)).dataSync()).map(Math.exp));
      let m0 = 0;
      let m1 = 0;
      for (let i = 0; i < x.length; i++) {
        m0 += w[i] * dens[i];
        m1 += w[i] * dens[i] * x[i];
      }
      expect(Math.abs(m0 - 1), `${name}(${JSON.stringify(p)}) integrates to ${m0}`).toBeLessThan(2e-4);
      const mom = def.moments?.(...p);
      if (mom && Number.isFinite(mom.variance as number)) {
        const mean = m1 / m0;
        let m2 = 0;
        for (let i = 0; i < x.length; i++) m2 += w[i] * dens[i] * (x[i] - mean) ** 2;
        const sd = Math.sqrt(mom.variance as number);
        expect(Math.abs(mean - (mom.mean as number)), `${name} mean ${mean} vs ${mom.mean}`).toBeLessThan(1e-3 * sd);
        expect(Math.abs(m2 / m0 - (mom.variance as number)), `${name} variance ${m2 / m0} vs ${mom.variance}`).toBeLessThan(2e-3 * sd * sd);
      }
    }
  });
});

describe.each(discrete)('%s normalisation', (name) => {
  const def = getDistribution(name)!;
  const c = caseOf(name);

  it('sums to 1 over its support, with the mean and variance of moments()', () => {
    for (const p0 of c.params) {
      const p = f32(p0);
      let ks: number[];
      if (def.support.finite) {
        ks = def.supportValues!(...p);
      } else {
        expect(c.upper, `${name} needs a truncation bound`).toBeDefined();
        ks = Array.from({ length: c.upper!(p) + 1 }, (_, k) => k);
      }
      const pm = tf.tidy(() => Array.from(def.logProb(tf.tensor1d(ks), ...p.map(toTensor)).dataSync()).map(Math.exp));
      const total = pm.reduce((a, b) => a + b, 0);
      expect(Math.abs(total - 1), `${name}(${JSON.stringify(p)}) sums to ${total}`).toBeLessThan(1e-4);
      const mean = pm.reduce((a, q, i) => a + q * ks[i], 0);
      const variance = pm.reduce((a, q, i) => a + q * (ks[i] - mean) ** 2, 0);
      const mom = def.moments!(...p)!;
      const sd = Math.sqrt(mom.variance as number);
      expect(Math.abs(mean - (mom.mean as number)), `${name} mean ${mean} vs ${mom.mean}`).toBeLessThan(1e-4 * Math.max(1, sd));
      expect(Math.abs(variance - (mom.variance as number)), `${name} variance ${variance} vs ${mom.variance}`).toBeLessThan(1e-3 * Math.max(1, sd * sd));
    }
  });
});

// ---------------------------------------------------------------------------------------
// log CDFs against float64 closed forms
// ---------------------------------------------------------------------------------------

const withCdf = scalarContinuous.filter((f) => getDistribution(f)!.logCdf);

describe.each(withCdf)('%s CDF', (name) => {
  const def = getDistribution(name)!;
  const c = caseOf(name);

  it('the reference CDF differentiates to the reference density (guards the test itself)', () => {
    for (const p0 of c.params) {
      const p = p0 as number[];
      for (const x of c.points(p)) {
        const xv = x as number;
        const h = 1e-6 * Math.max(1, Math.abs(xv));
        if (name === 'uniform' || xv - h <= 0) continue; // kinks at the support's ends
        const dF = (c.cdf!(xv + h, ...p) - c.cdf!(xv - h, ...p)) / (2 * h);
        expect(dF).toBeCloseTo(Math.exp(c.ref(xv, ...p)), 6);
      }
    }
  });

  it('logCdf and logCcdf match the float64 CDF, and exp(logCdf) + exp(logCcdf) = 1', () => {
    for (const p0 of c.params) {
      const p = f32(p0) as number[];
      const xs = [...(c.points(p) as number[]), ...(c.outside(p) as number[])].map(Math.fround);
      const [lc, lcc] = tf.tidy(() => {
        const v = tf.tensor1d(xs);
        const ps = p.map((q) => tf.scalar(q));
        return [Array.from(def.logCdf!(v, ...ps).dataSync()), Array.from(def.logCcdf!(v, ...ps).dataSync())];
      });
      xs.forEach((x, i) => {
        const F = c.cdf!(x, ...p);
        const S = c.sf ? c.sf(x, ...p) : 1 - F;
        expect(close(lc[i], Math.log(F)), `${name} logCdf(${x}) = ${lc[i]}, want ${Math.log(F)}`).toBe(true);
        expect(close(lcc[i], Math.log(S)), `${name} logCcdf(${x}) = ${lcc[i]}, want ${Math.log(S)}`).toBe(true);
        expect(Math.abs(Math.exp(lc[i]) + Math.exp(lcc[i]) - 1)).toBeLessThan(1e-6);
      });
    }
  });
});
