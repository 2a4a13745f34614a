import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tf, useBackend } from '../../src/tensor';
import type { Tensor } from '../../src/tensor';
import {
  EULER_MASCHERONI, bd0F64, besselI1OverI0, besselI1OverI0F64, betaincF64, digamma, digammaF64, erfF64, erfcF64,
  erfcxF64, gammaincF64, gammainccF64, lbeta, lbetaF64, lgamma, lgammaF64, lmvgamma, lmvgammaF64, log1mexp,
  log1mexpF64, logAddExp, logBesselI0, logBesselI0F64, logNdtr, logNdtrF64, logNdtrc, logSubExp, logSumExpF64,
  millsInverseF64, ndtrF64, ndtriF64, stirlerrF64, tetragammaF64, trigamma, trigammaF64,
} from '../../src/tensor/special';

beforeAll(async () => {
  await useBackend('cpu');
});

const EPS32 = 2 ** -23; // float32 ulp at 1
const EPS64 = 2 ** -52;

/** Values of fn at xs (rounded to float32), read back as numbers. */
function run(fn: (t: Tensor) => Tensor, xs: number[]): number[] {
  return tf.tidy(() => Array.from(fn(tf.tensor1d(xs, 'float32')).dataSync()));
}

/** d/dx of sum(fn(x)) at xs via tf.grad. */
function grad(fn: (t: Tensor) => Tensor, xs: number[]): number[] {
  return tf.tidy(() => Array.from(tf.grad((t: Tensor) => tf.sum(fn(t)))(tf.tensor1d(xs, 'float32')).dataSync()));
}

/** float32-representable points spread log-uniformly over [lo, hi]. */
function logGrid(lo: number, hi: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= n; i++) out.push(Math.fround(Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / n)));
  return out;
}

function linGrid(lo: number, hi: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= n; i++) out.push(Math.fround(lo + ((hi - lo) * i) / n));
  return out;
}

/**
 * Asserts |got - want| <= ulps · eps · scale for each point; `scale` is the magnitude the
 * rounding errors are proportional to (|f| for relative accuracy, or the largest cancelling term).
 */
function expectClose(name: string, xs: number[], got: number[], want: (x: number) => number, ulps: number, eps: number, scale: (x: number) => number = (x) => Math.abs(want(x))): void {
  xs.forEach((x, i) => {
    const w = want(x);
    // plus ulps of the float32 subnormal spacing 2^-149, where results lose relative precision
    const tol = ulps * eps * scale(x) + ulps * 2 ** -149;
    if (!(Math.abs(got[i] - w) <= tol)) {
      throw new Error(`${name}(${x}) = ${got[i]}, want ${w} within ${tol} (${(Math.abs(got[i] - w) / (eps * scale(x))).toFixed(1)} ulps of the scale)`);
    }
  });
}

/**
 * Central difference of f at x, and a bound on its error: the leading truncation term
 * h² |f'''|/6 (doubled to cover the higher-order ones) plus roundoff 4 eps |f|/h.
 */
function centralDiff(f: (x: number) => number, x: number, f3: number): { d: number; err: number } {
  const h = 1e-4 * Math.abs(x);
  const d = (f(x + h) - f(x - h)) / (2 * h);
  return { d, err: (h * h * Math.abs(f3)) / 3 + (4 * EPS64 * (Math.abs(f(x)) + 1)) / h };
}

/** ∫_a^b f by composite Simpson with n (even) panels, compensated (Neumaier) summation. */
function simpson(f: (x: number) => number, a: number, b: number, n: number): number {
  const h = (b - a) / n;
  let s = 0;
  let c = 0;
  for (let i = 0; i <= n; i++) {
    const v = (i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2) * f(a + i * h);
    const t = s + v;
    c += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
  }
  return ((s + c) * h) / 3;
}

/**
 * The size of the terms that cancel in lgammaF64(x) for 0 < x < 10 (the shift to x + n >= 10):
 * its absolute error is a few eps of this, not of |log Γ(x)|.
 */
function lgammaScale64(x: number): number {
  if (x >= 10) return Math.abs(lgammaF64(x));
  let p = 1;
  let n = 0;
  while (x + n < 10) p *= x + n++;
  return Math.abs(lgammaF64(x)) + lgammaF64(x + n) + Math.abs(Math.log(p));
}

/** log(x (x+1) ... (x+5)) in float64: the size of the shift term in the float32 recurrences. */
const logShiftProduct = (x: number) => Math.log(x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5));

// Cancellation scales of the float32 algorithms (see special.ts): the shift by 6 for x < 6.
const lgammaScale = (x: number) => Math.abs(lgammaF64(x)) + (x < 6 ? Math.abs(lgammaF64(x + 6)) + Math.abs(logShiftProduct(x)) : 0);
const digammaScale = (x: number) => {
  let s = Math.abs(digammaF64(x));
  if (x < 6) for (let k = 0; k < 6; k++) s += 1 / (x + k);
  return s + (x < 6 ? Math.abs(digammaF64(x + 6)) : 0);
};

describe('float64 log-gamma family', () => {
  it('lgammaF64 is log (n-1)! at integers and matches Γ(n + 1/2) = (2n)! √π / (4^n n!)', () => {
    let logFact = 0; // log (n-1)!
    for (let n = 1; n <= 170; n++) {
      if (n > 1) logFact += Math.log(n - 1);
      expect(Math.abs(lgammaF64(n) - logFact)).toBeLessThanOrEqual(8 * EPS64 * (lgammaScale64(n) + logFact));
    }
    let log2nFact = 0;
    let lognFact = 0;
    for (let n = 0; n <= 60; n++) {
      if (n > 0) {
        log2nFact += Math.log(2 * n - 1) + Math.log(2 * n);
        lognFact += Math.log(n);
      }
      const want = log2nFact + 0.5 * Math.log(Math.PI) - n * Math.log(4) - lognFact;
      expect(Math.abs(lgammaF64(n + 0.5) - want)).toBeLessThanOrEqual(16 * EPS64 * (lgammaScale64(n + 0.5) + log2nFact));
    }
  });

  it('lgammaF64 follows the recurrence and Legendre duplication; reflection at negative half-integers', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e4, noNaN: true }), (x) => {
        const rec = lgammaF64(x) + Math.log(x);
        expect(Math.abs(lgammaF64(x + 1) - rec)).toBeLessThanOrEqual(8 * EPS64 * (lgammaScale64(x) + lgammaScale64(x + 1) + Math.abs(Math.log(x))));
        // log Γ(2x) = (2x - 1) log 2 + log Γ(x) + log Γ(x + 1/2) - log √π
        const dup = (2 * x - 1) * Math.LN2 + lgammaF64(x) + lgammaF64(x + 0.5) - 0.5 * Math.log(Math.PI);
        const dupScale = lgammaScale64(2 * x) + lgammaScale64(x) + lgammaScale64(x + 0.5) + 2 * x + 1;
        expect(Math.abs(lgammaF64(2 * x) - dup)).toBeLessThanOrEqual(8 * EPS64 * dupScale);
      }),
      { seed: 11, numRuns: 300 },
    );
    // Γ(-1/2) = -2√π, Γ(-3/2) = 4√π/3: log |Γ|
    expect(lgammaF64(-0.5)).toBeCloseTo(Math.log(2 * Math.sqrt(Math.PI)), 14);
    expect(lgammaF64(-1.5)).toBeCloseTo(Math.log((4 * Math.sqrt(Math.PI)) / 3), 14);
    expect(lgammaF64(0)).toBe(Infinity);
    expect(lgammaF64(-3)).toBe(Infinity);
    expect(lgammaF64(NaN)).toBeNaN();
  });

  it('digammaF64: ψ(1) = -γ, ψ(1/2) = -γ - 2 log 2, recurrence, duplication, derivative of lgammaF64', () => {
    expect(Math.abs(digammaF64(1) + EULER_MASCHERONI)).toBeLessThanOrEqual(4 * EPS64);
    expect(Math.abs(digammaF64(0.5) + EULER_MASCHERONI + 2 * Math.LN2)).toBeLessThanOrEqual(8 * EPS64 * 2);
    // Near the positive root x0 the value is tiny: absolute error a few eps of the terms.
    expect(Math.abs(digammaF64(1.4616321449683622))).toBeLessThan(1e-15);
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e5, noNaN: true }), (x) => {
        const scale = Math.abs(digammaF64(x)) + 1 / x + Math.abs(Math.log(x)) + 1;
        expect(Math.abs(digammaF64(x + 1) - digammaF64(x) - 1 / x)).toBeLessThanOrEqual(32 * EPS64 * scale);
        const dup = 0.5 * digammaF64(x) + 0.5 * digammaF64(x + 0.5) + Math.LN2;
        expect(Math.abs(digammaF64(2 * x) - dup)).toBeLessThanOrEqual(32 * EPS64 * scale);
        const fd = centralDiff(lgammaF64, x, tetragammaF64(x * (1 - 1e-4)));
        expect(Math.abs(digammaF64(x) - fd.d)).toBeLessThanOrEqual(fd.err + 32 * EPS64 * scale);
      }),
      { seed: 12, numRuns: 300 },
    );
    expect(digammaF64(-0.5)).toBeCloseTo(2 - EULER_MASCHERONI - 2 * Math.LN2, 13); // ψ(-1/2) = ψ(1/2) + 2
    expect(digammaF64(0)).toBeNaN();
  });

  it('trigammaF64 and tetragammaF64: closed forms, recurrences, derivatives of the order below', () => {
    expect(Math.abs(trigammaF64(1) - (Math.PI * Math.PI) / 6)).toBeLessThanOrEqual(4 * EPS64 * 2);
    expect(Math.abs(trigammaF64(0.5) - (Math.PI * Math.PI) / 2)).toBeLessThanOrEqual(4 * EPS64 * 5);
    expect(Math.abs(trigammaF64(1.5) - ((Math.PI * Math.PI) / 2 - 4))).toBeLessThanOrEqual(8 * EPS64 * 5);
    expect(Math.abs(trigammaF64(-0.5) - ((Math.PI * Math.PI) / 2 + 4))).toBeLessThanOrEqual(16 * EPS64 * 10);
    const zeta3 = 1.2020569031595942;
    expect(Math.abs(tetragammaF64(1) + 2 * zeta3)).toBeLessThanOrEqual(8 * EPS64 * 3);
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e5, noNaN: true }), (x) => {
        const t = trigammaF64(x);
        expect(Math.abs(t - trigammaF64(x + 1) - 1 / (x * x))).toBeLessThanOrEqual(16 * EPS64 * t);
        // ψ₁(2x) = (ψ₁(x) + ψ₁(x + 1/2))/4
        expect(Math.abs(trigammaF64(2 * x) - (t + trigammaF64(x + 0.5)) / 4)).toBeLessThanOrEqual(16 * EPS64 * t);
        const fd = centralDiff(digammaF64, x, 1.01 * (6 / x ** 4 + 7)); // |ψ₃(x)| <= 6/x⁴ + 6ζ(4), at x ± h
        expect(Math.abs(t - fd.d)).toBeLessThanOrEqual(fd.err + 32 * EPS64 * t);
        const fd2 = centralDiff(trigammaF64, x, 1.01 * (24 / x ** 5 + 25)); // |ψ₄| <= 24/x⁵ + 24ζ(5)
        expect(Math.abs(tetragammaF64(x) - fd2.d)).toBeLessThanOrEqual(fd2.err + 32 * EPS64 * Math.abs(tetragammaF64(x)));
      }),
      { seed: 13, numRuns: 200 },
    );
  });

  it('lbetaF64 and lmvgammaF64 match closed forms, including huge arguments', () => {
    expect(Math.abs(lbetaF64(0.5, 0.5) - Math.log(Math.PI))).toBeLessThanOrEqual(8 * EPS64 * (2 * lgammaScale64(0.5) + lgammaScale64(1)));
    fc.assert(
      fc.property(fc.double({ min: 1e-4, max: 1e12, noNaN: true }), (a) => {
        // B(a, 1) = 1/a exactly, whichever branch (a < 10, a >= 10) is used
        // below 10 the three log-gammas are summed, each with its own cancellation scale
        const sc = (b: number) => Math.abs(Math.log(a)) + 1 + (Math.max(a, b) < 10 ? lgammaScale64(a) + lgammaScale64(b) + lgammaScale64(a + b) : a < 10 ? lgammaScale64(a) : 0);
        expect(Math.abs(lbetaF64(a, 1) + Math.log(a))).toBeLessThanOrEqual(8 * EPS64 * sc(1));
        expect(lbetaF64(1, a)).toBe(lbetaF64(a, 1));
        // B(a, 2) = 1/(a (a+1))
        const w = -Math.log(a) - Math.log1p(a);
        expect(Math.abs(lbetaF64(a, 2) - w)).toBeLessThanOrEqual(8 * EPS64 * (sc(2) + Math.abs(w)));
      }),
      { seed: 14, numRuns: 300 },
    );
    // Integers: B(m, n) = (m-1)!(n-1)!/(m+n-1)!
    for (const [m, n] of [[3, 4], [12, 30], [40, 41], [7, 100]]) {
      let w = 0;
      for (let k = 1; k < m; k++) w += Math.log(k);
      for (let k = 1; k < n; k++) w += Math.log(k);
      for (let k = 1; k < m + n; k++) w -= Math.log(k);
      expect(Math.abs(lbetaF64(m, n) - w)).toBeLessThanOrEqual(64 * EPS64 * Math.abs(w));
    }
    expect(lbetaF64(0, 1)).toBeNaN();
    expect(Math.abs(lmvgammaF64(3.2, 1) - lgammaF64(3.2))).toBe(0);
    const w2 = 0.5 * Math.log(Math.PI) + lgammaF64(3.2) + lgammaF64(2.7);
    expect(Math.abs(lmvgammaF64(3.2, 2) - w2)).toBeLessThanOrEqual(8 * EPS64 * Math.abs(w2));
    expect(lmvgammaF64(0.9, 3)).toBeNaN(); // needs a > (d-1)/2 = 1
    expect(() => lmvgammaF64(2, 0)).toThrow(/dimension d must be a positive integer/);
  });
});

/** log I₀(x) and I₁/I₀ from the power series summed in log space (float64 reference, any x). */
function besselSeriesRef(x: number): { logI0: number; ratio: number } {
  const t0: number[] = [];
  const t1: number[] = [];
  const lh = Math.log(x / 2);
  let peak = -Infinity;
  for (let k = 0; k < 5000; k++) {
    t0.push(2 * k * lh - 2 * lgammaF64(k + 1));
    t1.push((2 * k + 1) * lh - lgammaF64(k + 1) - lgammaF64(k + 2));
    peak = Math.max(peak, t0[k]);
    if (k > x && t0[k] < peak - 50) break; // past the peak: the rest sums to < 1e-21 relative
  }
  // for small x the sum is 1 + tiny: log1p of the tail keeps it relative
  const l0 = x < 2 ? Math.log1p(t0.slice(1).reduce((s, t) => s + Math.exp(t), 0)) : logSumExpF64(t0);
  return { logI0: l0, ratio: Math.exp(logSumExpF64(t1) - l0) };
}

describe('float64 Bessel, error function, normal CDF', () => {
  it('logBesselI0F64 and besselI1OverI0F64 agree with the power series (log-summed) up to x = 500', () => {
    for (const x of [...logGrid(1e-3, 500, 60), 19.9, 20, 20.1]) {
      const r = besselSeriesRef(x);
      expect(Math.abs(logBesselI0F64(x) - r.logI0)).toBeLessThanOrEqual(1e-13 * Math.abs(r.logI0));
      expect(Math.abs(besselI1OverI0F64(x) - r.ratio)).toBeLessThanOrEqual(1e-13 * r.ratio);
      expect(besselI1OverI0F64(-x)).toBe(-besselI1OverI0F64(x));
    }
    expect(logBesselI0F64(0)).toBe(0);
    // Large-x asymptote: x - ½ log(2πx) + log(1 + 1/(8x) + 9/(128x²)), remainder ~ 1e-19 at 1e6
    const x = 1e6;
    const asym = x - 0.5 * Math.log(2 * Math.PI * x) + Math.log1p(1 / (8 * x) + 9 / (128 * x * x));
    expect(Math.abs(logBesselI0F64(x) - asym)).toBeLessThanOrEqual(4 * EPS64 * x);
    // d/dx log I0 = I1/I0
    for (const y of [0.3, 5, 19.5, 25, 300]) {
      const fd = centralDiff(logBesselI0F64, y, 1);
      expect(Math.abs(besselI1OverI0F64(y) - fd.d)).toBeLessThanOrEqual(fd.err + 1e-14);
    }
  });

  it('erfF64/erfcF64 agree with numerical integrals of e^{-t²}, in both tails', () => {
    for (const x of [0.01, 0.3, 1, 1.4999, 1.5, 2, 3.5, 5]) {
      const want = (2 / Math.sqrt(Math.PI)) * simpson((t) => Math.exp(-t * t), 0, x, 20000); // Simpson error < 2e-15
      expect(Math.abs(erfF64(x) - want)).toBeLessThanOrEqual(1e-14);
      expect(erfF64(-x)).toBe(-erfF64(x));
      expect(Math.abs(erfF64(x) + erfcF64(x) - 1)).toBeLessThanOrEqual(2 * EPS64);
    }
    // erfcx(x) = 2/√π ∫_0^∞ e^{-s² - 2xs} ds: relative reference for the far tail of erfc
    for (const x of [0.2, 1, 1.6, 4, 10, 26]) {
      // panels scaled to the decay length 1/(2x): Simpson's relative error ~ (h·2x)⁴/180 < 1e-13
      const want = (2 / Math.sqrt(Math.PI)) * simpson((s) => Math.exp(-s * s - 2 * x * s), 0, Math.min(12, 40 / x), 40000);
      expect(Math.abs(erfcxF64(x) - want)).toBeLessThanOrEqual(1e-12 * want);
      const ec = erfcF64(x);
      expect(Math.abs(ec - want * Math.exp(-x * x))).toBeLessThanOrEqual(1e-12 * ec);
    }
    expect(erfcF64(30)).toBe(0);
    expect(erfcF64(-30)).toBe(2);
  });

  it('logNdtrF64 matches the Mills-ratio integral down to x = -1e4 and the asymptote at x = -30', () => {
    // Φ(x) = φ(x) ∫_0^∞ exp(x s - s²/2) ds, exact for every x; for x < 0 the integrand decays fast.
    // So φ(x)/Φ(x) = 1/∫ too, with no cancellation.
    const millsIntegral = (x: number) => simpson((s) => Math.exp(x * s - 0.5 * s * s), 0, Math.min(12, 60 / Math.abs(x)), 20000);
    const logPhiRef = (x: number) => -0.5 * x * x - 0.5 * Math.log(2 * Math.PI) + Math.log(millsIntegral(x));
    for (const x of [-1e4, -300, -30, -8, -3, -1.5, -1, -0.5, -0.01]) {
      const want = logPhiRef(x);
      expect(Math.abs(logNdtrF64(x) - want)).toBeLessThanOrEqual(1e-12 * Math.abs(want));
      const mills = 1 / millsIntegral(x);
      expect(Math.abs(millsInverseF64(x) - mills)).toBeLessThanOrEqual(1e-12 * mills);
    }
    for (const x of [0.01, 0.7, 3, 8, 30]) {
      const want = Math.log1p(-Math.exp(logPhiRef(-x)));
      expect(Math.abs(logNdtrF64(x) - want)).toBeLessThanOrEqual(1e-12 * Math.abs(want));
    }
    const x = -30; // log Φ(x) = -x²/2 - log(-x) - log √(2π) + log(1 - 1/x² + 3/x⁴ - ... - 945/x¹⁰), remainder < 2e-14
    const asym = -450 - Math.log(30) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-1 / 900 + 3 / 900 ** 2 - 15 / 900 ** 3 + 105 / 900 ** 4 - 945 / 900 ** 5);
    expect(Math.abs(logNdtrF64(x) - asym)).toBeLessThanOrEqual(2e-14 + 8 * EPS64 * 450);
    expect(logNdtrF64(-Infinity)).toBe(-Infinity);
    expect(Math.abs(logNdtrF64(Infinity))).toBe(0);
    expect(ndtrF64(0)).toBe(0.5);
  });

  it('ndtriF64 inverts Φ from p = 1e-300 to 1 - 1e-16', () => {
    fc.assert(
      fc.property(fc.double({ min: -690, max: Math.log(0.5), noNaN: true }), (logP) => {
        const p = Math.exp(logP);
        const x = ndtriF64(p);
        // relative error of log Φ(x) vs log p, scaled by the condition number |x φ/Φ / log Φ|
        const cond = Math.abs(x * millsInverseF64(x)) / Math.abs(logP) + 1;
        expect(Math.abs(logNdtrF64(x) - logP)).toBeLessThanOrEqual(64 * EPS64 * cond * Math.abs(logP));
        if (p > 1e-8) {
          // 1 - p rounds by up to eps/2, which moves the quantile by eps/(2φ(x))
          const phi = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
          expect(Math.abs(ndtriF64(1 - p) + x)).toBeLessThanOrEqual(EPS64 / phi + 64 * EPS64 * Math.abs(x));
        }
      }),
      { seed: 15, numRuns: 300 },
    );
    expect(ndtriF64(0.5)).toBe(0);
    expect(Math.abs(ndtriF64(0.975) - 1.959963984540054)).toBeLessThan(1e-14);
    expect(ndtriF64(0)).toBe(-Infinity);
    expect(ndtriF64(1)).toBe(Infinity);
    expect(ndtriF64(1.5)).toBeNaN();
    expect(ndtriF64(-0.1)).toBeNaN();
  });

  it('gammaincF64/betaincF64 match closed forms and the Poisson/binomial sums', () => {
    for (const x of [1e-3, 0.5, 2, 7, 30]) {
      expect(Math.abs(gammaincF64(1, x) - -Math.expm1(-x))).toBeLessThanOrEqual(1e-14);
      expect(Math.abs(gammaincF64(0.5, x) - erfF64(Math.sqrt(x)))).toBeLessThanOrEqual(1e-14);
      expect(Math.abs(gammaincF64(3.3, x) + gammainccF64(3.3, x) - 1)).toBeLessThanOrEqual(1e-15);
    }
    // Q(k+1, λ) = P(Poisson(λ) <= k)
    for (const [k, lam] of [[0, 0.3], [4, 3], [20, 25], [150, 120]]) {
      let s = 0;
      for (let j = 0; j <= k; j++) s += Math.exp(j * Math.log(lam) - lam - lgammaF64(j + 1));
      expect(Math.abs(gammainccF64(k + 1, lam) - s)).toBeLessThanOrEqual(1e-12 * s);
    }
    for (const x of [0.01, 0.3, 0.77, 0.999]) {
      expect(Math.abs(betaincF64(1, 3.5, x) - -Math.expm1(3.5 * Math.log1p(-x)))).toBeLessThanOrEqual(1e-14);
      expect(Math.abs(betaincF64(2.5, 1, x) - x ** 2.5)).toBeLessThanOrEqual(1e-14);
      expect(Math.abs(betaincF64(0.3, 4, x) + betaincF64(4, 0.3, 1 - x) - 1)).toBeLessThanOrEqual(1e-14);
    }
    // I_p(k, n-k+1) = P(Binomial(n, p) >= k)
    for (const [n, k, p] of [[10, 3, 0.2], [100, 40, 0.35], [60, 1, 0.01]]) {
      let s = 0;
      for (let j = k; j <= n; j++) s += Math.exp(lgammaF64(n + 1) - lgammaF64(j + 1) - lgammaF64(n - j + 1) + j * Math.log(p) + (n - j) * Math.log1p(-p));
      expect(Math.abs(betaincF64(k, n - k + 1, p) - s)).toBeLessThanOrEqual(1e-12 * s);
    }
    expect(gammaincF64(-1, 2)).toBeNaN();
    expect(betaincF64(1, 1, 1.5)).toBeNaN();
  });

  it('stirlerrF64, bd0F64, logSumExpF64, log1mexpF64 agree with their definitions', () => {
    for (const n of [0.5, 3, 15, 16, 50, 1000]) {
      const direct = lgammaF64(n + 1) - (n + 0.5) * Math.log(n) + n - 0.5 * Math.log(2 * Math.PI);
      // direct form cancels terms of size lgamma(n+1): its own error is ~eps of that
      expect(Math.abs(stirlerrF64(n) - direct)).toBeLessThanOrEqual(16 * EPS64 * (lgammaF64(n + 1) + n * Math.log(n) + n + 1));
    }
    for (const [x, m] of [[5, 7], [100, 200], [3, 0.5], [1e6, 1e6 + 30]]) {
      const direct = x * Math.log(x / m) + m - x;
      expect(Math.abs(bd0F64(x, m) - direct)).toBeLessThanOrEqual(16 * EPS64 * (x * Math.abs(Math.log(x / m)) + m + x));
      expect(bd0F64(x, m)).toBeGreaterThanOrEqual(0);
    }
    // bd0(m + d, m) = (m+d) log1p(d/m) - d = d²/(2m) - d³/(6m²) + d⁴/(12m³) - ..., no cancellation at m = 1e12
    const m = 1e12;
    const d = 1e6;
    const series = (d * d) / (2 * m) - d ** 3 / (6 * m * m) + d ** 4 / (12 * m ** 3);
    expect(Math.abs(bd0F64(m + d, m) - series)).toBeLessThanOrEqual(8 * EPS64 * series);
    expect(logSumExpF64([1000, 1000])).toBe(1000 + Math.LN2);
    expect(logSumExpF64([-Infinity, -Infinity])).toBe(-Infinity);
    expect(Math.abs(log1mexpF64(1e-20) - Math.log(1e-20))).toBeLessThan(1e-15 * 46);
    expect(log1mexpF64(50)).toBe(-Math.exp(-50));
  });
});

describe('float32 tensor special functions', () => {
  const pos = logGrid(1e-6, 1e7, 1500);

  it('lgamma, digamma, trigamma agree with the float64 versions to a few ulps of their terms', () => {
    // scale = the largest term that cancels in the float32 recurrence (|f| itself when none does)
    expectClose('lgamma', pos, run(lgamma, pos), lgammaF64, 4, EPS32, lgammaScale);
    expectClose('digamma', pos, run(digamma, pos), digammaF64, 4, EPS32, digammaScale);
    expectClose('trigamma', pos, run(trigamma, pos), trigammaF64, 4, EPS32); // positive terms: relative
    fc.assert(
      fc.property(fc.array(fc.double({ min: 1e-30, max: 1e30, noNaN: true }).map(Math.fround), { minLength: 1, maxLength: 64 }), (xs) => {
        // trigamma(x) ≈ 1/x² overflows float32 below x ≈ 5.4e-20
        const ok = xs.filter((x) => x > 6e-20);
        if (ok.length === 0) return;
        expectClose('lgamma', ok, run(lgamma, ok), lgammaF64, 4, EPS32, lgammaScale);
        expectClose('digamma', ok, run(digamma, ok), digammaF64, 4, EPS32, digammaScale);
        expectClose('trigamma', ok, run(trigamma, ok), trigammaF64, 4, EPS32);
      }),
      { seed: 21, numRuns: 60 },
    );
  });

  it('lgamma family: closed forms, poles are NaN, +∞ limits, numbers and int tensors accepted', () => {
    const [l1, l2, lh] = run(lgamma, [1, 2, 0.5]);
    expect(Math.abs(l1)).toBeLessThanOrEqual(4 * EPS32 * lgammaScale(1));
    expect(Math.abs(l2)).toBeLessThanOrEqual(4 * EPS32 * lgammaScale(2));
    expect(Math.abs(lh - 0.5 * Math.log(Math.PI))).toBeLessThanOrEqual(4 * EPS32 * lgammaScale(0.5));
    const [d1] = run(digamma, [1]);
    expect(Math.abs(d1 + EULER_MASCHERONI)).toBeLessThanOrEqual(4 * EPS32 * digammaScale(1));
    const [t1] = run(trigamma, [1]);
    expect(Math.abs(t1 - (Math.PI * Math.PI) / 6)).toBeLessThanOrEqual(4 * EPS32 * 1.65);
    for (const f of [lgamma, digamma, trigamma]) {
      const v = run(f, [0, -1, -2.5, NaN, -Infinity]);
      v.forEach((y) => expect(y).toBeNaN());
    }
    expect(run(lgamma, [Infinity])[0]).toBe(Infinity);
    expect(run(digamma, [Infinity])[0]).toBe(Infinity);
    expect(run(trigamma, [Infinity])[0]).toBe(0);
    tf.tidy(() => {
      expect(lgamma(3).dataSync()[0]).toBeCloseTo(Math.log(2), 6);
      expect(lgamma(tf.tensor1d([3], 'int32')).dtype).toBe('float32');
      expect(lgamma(tf.ones([2, 3, 4])).shape).toEqual([2, 3, 4]);
    });
  });

  it('digamma recurrence ψ(x+1) = ψ(x) + 1/x holds in float32', () => {
    const xs = logGrid(1e-3, 1e4, 400);
    const a = run(digamma, xs);
    const b = run(digamma, xs.map((x) => x + 1));
    xs.forEach((x, i) => {
      const xp = Math.fround(x + 1);
      // x + 1 itself rounds: compare against ψ(fl(x+1)) - ψ(x) in float64
      const want = digammaF64(xp) - digammaF64(x);
      expect(Math.abs(b[i] - a[i] - want)).toBeLessThanOrEqual(8 * EPS32 * (digammaScale(x) + digammaScale(xp)));
    });
  });

  it('logBesselI0 and I1/I0: relative float32 accuracy from 1e-6 to 1e30, no overflow', () => {
    const xs = [...logGrid(1e-6, 1e7, 1500), 11.99, 12, 12.01, 1e30];
    expectClose('logBesselI0', xs, run(logBesselI0, xs), logBesselI0F64, 4, EPS32);
    expectClose('besselI1OverI0', xs, run(besselI1OverI0, xs), besselI1OverI0F64, 4, EPS32);
    const neg = xs.map((x) => -x);
    expectClose('logBesselI0(-x)', neg, run(logBesselI0, neg), logBesselI0F64, 4, EPS32);
    expectClose('I1/I0(-x)', neg, run(besselI1OverI0, neg), besselI1OverI0F64, 4, EPS32);
    const [z, inf, nan] = run(logBesselI0, [0, Infinity, NaN]);
    expect(z).toBe(0);
    expect(inf).toBe(Infinity);
    expect(nan).toBeNaN();
  });

  it('logNdtr: relative float32 accuracy from x = -1e4 to 15; asymptote at -30; logNdtrc(x) = logNdtr(-x)', () => {
    const xs = [...linGrid(-40, 15, 2200), -100, -1e3, -1e4];
    expectClose('logNdtr', xs, run(logNdtr, xs), logNdtrF64, 8, EPS32);
    const x = -30;
    const asym = -450 - Math.log(30) - 0.5 * Math.log(2 * Math.PI) + Math.log1p(-1 / 900 + 3 / 900 ** 2);
    expect(Math.abs(run(logNdtr, [x])[0] - asym)).toBeLessThanOrEqual(4 * EPS32 * Math.abs(asym));
    const c = run(logNdtrc, xs);
    expectClose('logNdtrc', xs, c, (y) => logNdtrF64(-y), 8, EPS32);
    const [lo, hi, nan] = run(logNdtr, [-Infinity, Infinity, NaN]);
    expect(lo).toBe(-Infinity);
    expect(Math.abs(hi)).toBe(0);
    expect(nan).toBeNaN();
  });

  it('log1mexp, logAddExp, logSubExp: float32 accuracy and the infinite cases', () => {
    const xs = logGrid(1e-7, 100, 800);
    expectClose('log1mexp', xs, run(log1mexp, xs), log1mexpF64, 4, EPS32);
    expect(run(log1mexp, [0])[0]).toBe(-Infinity);
    expect(run(log1mexp, [-1])[0]).toBeNaN();
    fc.assert(
      fc.property(fc.double({ min: -80, max: 80, noNaN: true }).map(Math.fround), fc.double({ min: -80, max: 80, noNaN: true }).map(Math.fround), (a, b) => {
        const [s] = tf.tidy(() => Array.from(logAddExp(a, b).dataSync()));
        const ws = logSumExpF64([a, b]);
        expect(Math.abs(s - ws)).toBeLessThanOrEqual(4 * EPS32 * Math.max(Math.abs(ws), Math.abs(a), Math.abs(b)));
        const [hi, lo] = a >= b ? [a, b] : [b, a];
        if (hi === lo) return;
        const [d] = tf.tidy(() => Array.from(logSubExp(hi, lo).dataSync()));
        const wd = hi + log1mexpF64(hi - lo);
        // hi - lo is exact in float64; in float32 it rounds, and log1mexp has condition 1/(x expm1 x)·x
        const cond = Math.abs(hi) + Math.abs((hi - lo) / Math.expm1(hi - lo)) + Math.abs(wd);
        expect(Math.abs(d - wd)).toBeLessThanOrEqual(4 * EPS32 * cond);
      }),
      { seed: 22, numRuns: 200 },
    );
    tf.tidy(() => {
      const ninf = -Infinity;
      expect(Array.from(logAddExp(tf.tensor1d([ninf, Infinity, 1]), tf.tensor1d([ninf, Infinity, ninf])).dataSync())).toEqual([ninf, Infinity, 1]);
      expect(Array.from(logSubExp(tf.tensor1d([ninf, 2, 3]), tf.tensor1d([ninf, 2, ninf])).dataSync())).toEqual([ninf, ninf, 3]);
      expect(logSubExp(1, 2).dataSync()[0]).toBeNaN();
      expect(logAddExp(tf.ones([2, 1]), tf.zeros([3])).shape).toEqual([2, 3]);
    });
  });

  it('lbeta: float32 accuracy over 1e-4..1e7 squared, incl. lbeta(1e6, 1) = -log 1e6; lmvgamma', () => {
    const g = logGrid(1e-4, 1e7, 30);
    const a: number[] = [];
    const b: number[] = [];
    for (const x of g) for (const y of g) { a.push(x); b.push(y); }
    const got = tf.tidy(() => Array.from(lbeta(tf.tensor1d(a), tf.tensor1d(b)).dataSync()));
    got.forEach((v, i) => {
      const w = lbetaF64(a[i], b[i]);
      // Both < 6: three float32 log-gammas are summed; otherwise the Stirling form is relative.
      const scale = Math.max(a[i], b[i]) < 6 ? lgammaScale(a[i]) + lgammaScale(b[i]) + lgammaScale(a[i] + b[i]) : Math.abs(w) + lgammaScale(Math.min(a[i], b[i]));
      expect(Math.abs(v - w)).toBeLessThanOrEqual(4 * EPS32 * scale);
    });
    const [big] = tf.tidy(() => Array.from(lbeta(1e6, 1).dataSync()));
    expect(Math.abs(big + Math.log(1e6))).toBeLessThanOrEqual(4 * EPS32 * Math.log(1e6));
    tf.tidy(() => {
      expect(lbeta(tf.ones([4, 1]), tf.ones([3])).shape).toEqual([4, 3]);
      expect(Array.from(lbeta(tf.tensor1d([0, -1, NaN, 2]), tf.tensor1d([1, 1, 1, Infinity])).dataSync())).toEqual([NaN, NaN, NaN, -Infinity]);
      const xs = [1.2, 3.5, 10, 250];
      const got3 = Array.from(lmvgamma(tf.tensor1d(xs), 3).dataSync());
      xs.forEach((x, i) => {
        const w = lmvgammaF64(x, 3);
        const scale = lgammaScale(x) + lgammaScale(x - 0.5) + lgammaScale(x - 1) + 2;
        expect(Math.abs(got3[i] - w)).toBeLessThanOrEqual(4 * EPS32 * scale);
      });
      expect(lmvgamma(0.9, 3).dataSync()[0]).toBeNaN();
    });
    expect(() => lmvgamma(2, 1.5)).toThrow(/dimension d must be a positive integer, got 1.5/);
  });

  it('does not leak tensors', () => {
    const x = tf.tensor1d([0.5, 2, 30]);
    const before = tf.memory().numTensors;
    const outs = [lgamma(x), digamma(x), trigamma(x), logBesselI0(x), besselI1OverI0(x), logNdtr(x), logNdtrc(x), log1mexp(x), logAddExp(x, x), logSubExp(x, x), lbeta(x, x), lmvgamma(x, 2)];
    expect(tf.memory().numTensors).toBe(before + outs.length);
    const gs = tf.grad((t: Tensor) => tf.sum(tf.add(lgamma(t), lbeta(t, t))))(x);
    expect(tf.memory().numTensors).toBe(before + outs.length + 1);
    tf.dispose([x, gs, ...outs]);
  });
});

describe('gradients', () => {
  const pos = logGrid(1e-3, 1e5, 300);

  it('d lgamma = digamma, d digamma = trigamma, d trigamma = tetragamma, d² lgamma = trigamma', () => {
    expectClose('lgamma\'', pos, grad(lgamma, pos), digammaF64, 4, EPS32, digammaScale);
    expectClose('digamma\'', pos, grad(digamma, pos), trigammaF64, 4, EPS32);
    expectClose('trigamma\'', pos, grad(trigamma, pos), tetragammaF64, 8, EPS32);
    const second = tf.tidy(() => Array.from(tf.grad((t: Tensor) => tf.sum(tf.grad((u: Tensor) => tf.sum(lgamma(u)))(t)))(tf.tensor1d(pos)).dataSync()));
    expectClose('lgamma\'\'', pos, second, trigammaF64, 4, EPS32);
  });

  it('tf.grad of each function matches central differences of its float64 version', () => {
    const cases: [string, (t: Tensor) => Tensor, (x: number) => number, number[], (x: number) => number][] = [
      ['lgamma', lgamma, lgammaF64, pos, digammaScale],
      ['digamma', digamma, digammaF64, pos, (x) => trigammaF64(x)],
      ['logBesselI0', logBesselI0, logBesselI0F64, [...logGrid(1e-3, 1e4, 200), -3, -40], () => 1],
      ['logNdtr', logNdtr, logNdtrF64, linGrid(-50, 12, 300), (x) => millsInverseF64(x)],
      ['logNdtrc', logNdtrc, (x) => logNdtrF64(-x), linGrid(-12, 50, 300), (x) => millsInverseF64(-x)],
      ['log1mexp', log1mexp, log1mexpF64, logGrid(1e-4, 60, 200), (x) => 1 / Math.expm1(x)],
    ];
    for (const [name, f, f64, xs, scale] of cases) {
      const g = grad(f, xs);
      xs.forEach((x, i) => {
        // f''' is not needed exactly: bound the truncation by differencing the analytic first derivative
        const h = 1e-4 * Math.abs(x);
        const fd = (f64(x + h) - f64(x - h)) / (2 * h);
        const fdErr = 1e-7 * Math.abs(fd) + (4 * EPS64 * (Math.abs(f64(x)) + 1)) / h;
        const tol = 8 * EPS32 * Math.abs(scale(x)) + fdErr + 4 * EPS32 * Math.abs(fd);
        if (!(Math.abs(g[i] - fd) <= tol)) throw new Error(`${name}'(${x}) = ${g[i]}, finite difference ${fd}, tol ${tol}`);
      });
    }
  });

  it('analytic gradients: I1/I0, φ/Φ in both tails, 1/expm1', () => {
    const xs = [...logGrid(1e-5, 1e6, 300), -2, -50];
    expectClose('logBesselI0\'', xs, grad(logBesselI0, xs), besselI1OverI0F64, 4, EPS32);
    const zs = [...linGrid(-60, 14, 600), -1e3, -1e4];
    expectClose('logNdtr\'', zs, grad(logNdtr, zs), millsInverseF64, 8, EPS32);
    const ys = logGrid(1e-6, 80, 300);
    expectClose('log1mexp\'', ys, grad(log1mexp, ys), (x) => 1 / Math.expm1(x), 4, EPS32);
  });

  it('lbeta gradients ψ(a) - ψ(a+b) stay accurate when a and b are large or lopsided', () => {
    // ψ(a) - ψ(a+b) in float64 without cancellation: Stirling form for a >= 10.
    const dpsi = (a: number, b: number) => {
      if (a < 10) return digammaF64(a) - digammaF64(a + b);
      const R = (z: number) => digammaF64(z) - Math.log(z) + 0.5 / z;
      return -Math.log1p(b / a) - (0.5 * b) / (a * (a + b)) + R(a) - R(a + b);
    };
    for (const [a, b] of [[20, 30], [400, 5], [15, 1e4]]) expect(Math.abs(dpsi(a, b) - (digammaF64(a) - digammaF64(a + b)))).toBeLessThan(1e-12);
    const g = logGrid(1e-3, 1e7, 14);
    const A: number[] = [];
    const B: number[] = [];
    for (const x of g) for (const y of g) { A.push(x); B.push(y); }
    const [ga, gb] = tf.tidy(() => tf.grads((a: Tensor, b: Tensor) => tf.sum(lbeta(a, b)))([tf.tensor1d(A), tf.tensor1d(B)]).map((t) => Array.from(t.dataSync())));
    A.forEach((a, i) => {
      const b = B[i];
      const want = dpsi(a, b);
      // a < 6: ψ(a) and ψ(a+b) are subtracted in float32 (scale = their sizes); else relative
      const scale = a < 6 ? digammaScale(a) + digammaScale(a + b) : Math.abs(want);
      expect(Math.abs(ga[i] - want)).toBeLessThanOrEqual(8 * EPS32 * scale);
      const wantB = dpsi(b, a);
      const scaleB = b < 6 ? digammaScale(b) + digammaScale(a + b) : Math.abs(wantB);
      expect(Math.abs(gb[i] - wantB)).toBeLessThanOrEqual(8 * EPS32 * scaleB);
    });
    // ties: the gradient splits evenly (no min/max routing)
    const [ta, tb] = tf.tidy(() => tf.grads((a: Tensor, b: Tensor) => tf.sum(lbeta(a, b)))([tf.scalar(2), tf.scalar(2)]).map((t) => t.dataSync()[0]));
    expect(ta).toBe(tb);
    // broadcasting: gradient for the broadcast operand is summed
    const gbB = tf.tidy(() => Array.from(tf.grads((a: Tensor, b: Tensor) => tf.sum(lbeta(a, b)))([tf.tensor1d([1, 2, 3]), tf.scalar(2)])[1].dataSync()));
    expect(gbB.length).toBe(1);
    expect(Math.abs(gbB[0] - [1, 2, 3].reduce((s, a) => s + dpsi(2, a), 0))).toBeLessThanOrEqual(16 * EPS32 * 4);
  });

  it('logAddExp / logSubExp gradients are sigmoid(a-b) and -1/expm1, with ties and infinities', () => {
    const [ga, gb] = tf.tidy(() =>
      tf.grads((a: Tensor, b: Tensor) => tf.sum(logAddExp(a, b)))([tf.tensor1d([1, 2, -Infinity, 0]), tf.tensor1d([1, 0, -Infinity, -Infinity])]).map((t) => Array.from(t.dataSync())),
    );
    expect(ga[0]).toBe(0.5);
    expect(gb[0]).toBe(0.5);
    expect(Math.abs(ga[1] - 1 / (1 + Math.exp(-2)))).toBeLessThanOrEqual(2 * EPS32);
    expect(ga[2] + gb[2]).toBe(1);
    expect([ga[3], gb[3]]).toEqual([1, 0]);
    const [sa, sb] = tf.tidy(() =>
      tf.grads((a: Tensor, b: Tensor) => tf.sum(logSubExp(a, b)))([tf.tensor1d([1, 2, 5]), tf.tensor1d([0, -Infinity, 4.5])]).map((t) => Array.from(t.dataSync())),
    );
    [[1, 0], [2, -Infinity], [5, 4.5]].forEach(([a, b], i) => {
      const wa = -1 / Math.expm1(b - a);
      const wb = -1 / Math.expm1(a - b);
      expect(Math.abs(sa[i] - wa)).toBeLessThanOrEqual(4 * EPS32 * Math.abs(wa));
      expect(Math.abs(sb[i] - wb)).toBeLessThanOrEqual(4 * EPS32 * Math.abs(wb) + 1e-30);
    });
    // broadcasting reduces the gradient to each operand's shape
    const gs = tf.tidy(() => tf.grads((a: Tensor, b: Tensor) => tf.sum(logAddExp(a, b)))([tf.zeros([2, 3]), tf.zeros([3])]).map((t) => t.shape));
    expect(gs).toEqual([[2, 3], [3]]);
  });
});

describe('wasm backend (the default) gives the same accuracy', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  it('tails that need an accurate log1p (wasm Log1p is log(1+x) in float32)', () => {
    const xs = logGrid(1e-6, 60, 300);
    expectClose('log1mexp', xs, run(log1mexp, xs), log1mexpF64, 4, EPS32);
    const small = logGrid(1e-6, 1e-1, 50);
    expectClose('logBesselI0', small, run(logBesselI0, small), logBesselI0F64, 4, EPS32);
    const zs = linGrid(-40, 15, 400);
    expectClose('logNdtr', zs, run(logNdtr, zs), logNdtrF64, 8, EPS32);
    const pos = logGrid(1e-6, 1e7, 300);
    expectClose('lgamma', pos, run(lgamma, pos), lgammaF64, 4, EPS32, lgammaScale);
    expectClose('lgamma\'', pos, grad(lgamma, pos), digammaF64, 4, EPS32, digammaScale);
  });
});
