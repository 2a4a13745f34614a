/**
 * Special functions that TensorFlow.js lacks (log-gamma, digamma, Bessel I0, log Φ, ...),
 * in two forms:
 *
 * - tensor functions: elementwise over any shape, float32, differentiable (custom
 *   gradients where tfjs has none), built from kernels every backend has (wasm included);
 * - float64 JS scalar functions (`...F64`): references for tests, and the maths the
 *   samplers in `random.ts` need.
 *
 * Domains: outside a function's domain the result is NaN, as with `Math.log(-1)` (poles of
 * Γ give NaN in the tensor forms; the F64 forms follow the documented conventions below).
 *
 * Float32 accuracy: each tensor function is a few ulps of the largest term it sums (the
 * asymptotic series are truncated well below float32 resolution), so relative accuracy is a
 * few ulps except next to zeros of the function (lgamma near 1 and 2, digamma near
 * 1.4616), where the error is a few ulps of the cancelling terms.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, GradSaveFunc } from '@tensorflow/tfjs';

/** A tensor, or a JS number taken as a float32 scalar. */
export type TensorOrNumber = Tensor | number;

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const LOG_PI = Math.log(Math.PI);
const EULER_GAMMA = 0.5772156649015329;

// ---------------------------------------------------------------------------------------
// Float64 scalar functions
// ---------------------------------------------------------------------------------------

/** Returns sin(πx), with the argument reduced exactly so that sinPi(n) = 0 for integers. */
function sinPi(x: number): number {
  // x - 2*round(x/2) is exact in binary floating point, so the reduction adds no error.
  let r = x - 2 * Math.round(x / 2); // r in [-1, 1]
  const s = r < 0 ? -1 : 1;
  r = Math.abs(r);
  if (r > 0.5) r = 1 - r; // sin(π(1-r)) = sin(πr)
  return s * Math.sin(Math.PI * r);
}

/** Returns tan(πx) with exact argument reduction (period 1). */
function tanPi(x: number): number {
  let r = x - Math.round(x); // r in [-0.5, 0.5]
  if (r === 0.5 || r === -0.5) return Infinity;
  return Math.tan(Math.PI * r);
}

/** Stirling series coefficients B_{2k} / (2k (2k-1)), k = 1..8. */
const STIRLING64 = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400];

/**
 * Returns δ(x) = lgamma(x) - [(x - 1/2) log x - x + log √(2π)] for x >= 10 (float64).
 * Truncation error < 4e-17 there (the next term is 43867/244188 x^-17).
 */
function stirlingDelta64(x: number): number {
  const r = 1 / (x * x);
  let s = STIRLING64[7];
  for (let i = 6; i >= 0; i--) s = s * r + STIRLING64[i];
  return s / x;
}

/**
 * Returns log |Γ(x)| (float64, ~1e-15 relative away from the zeros at 1 and 2).
 * For x < 0 uses the reflection formula; +Infinity at the poles 0, -1, -2, ...
 */
export function lgammaF64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return Infinity;
  if (x <= 0) {
    if (Number.isInteger(x)) return Infinity;
    if (x === -Infinity) return NaN;
    // Γ(x) Γ(1-x) = π / sin(πx)
    return LOG_PI - Math.log(Math.abs(sinPi(x))) - lgammaF64(1 - x);
  }
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LOG_SQRT_2PI + stirlingDelta64(x);
  // Γ(x) = Γ(x + n) / (x (x+1) ... (x+n-1)), shifted to x + n >= 10.
  let p = 1;
  let n = 0;
  while (x + n < 10) {
    p *= x + n;
    n++;
  }
  return lgammaF64(x + n) - Math.log(p);
}

/** Returns ψ(x) = d/dx log Γ(x) (float64). NaN at the poles 0, -1, -2, ... */
export function digammaF64(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return NaN;
  if (x === Infinity) return Infinity;
  if (x <= 0) {
    if (Number.isInteger(x)) return NaN;
    // ψ(1-x) - ψ(x) = π cot(πx)
    return digammaF64(1 - x) - Math.PI / tanPi(x);
  }
  let acc = 0;
  let n = 0;
  while (x + n < 10) {
    acc -= 1 / (x + n); // ψ(x) = ψ(x+1) - 1/x
    n++;
  }
  const z = x + n;
  const r = 1 / (z * z);
  // ψ(z) ~ log z - 1/(2z) - Σ B_{2k} / (2k z^{2k}); truncation < 5e-17 for z >= 10.
  const tail = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132 - r * (691 / 32760 - r / 12))))));
  return acc + Math.log(z) - 0.5 / z - tail;
}

/** Returns ψ₁(x) = d²/dx² log Γ(x) (float64). +Infinity at the poles 0, -1, -2, ... */
export function trigammaF64(x: number): number {
  if (Number.isNaN(x) || x === -Infinity) return NaN;
  if (x === Infinity) return 0;
  if (x <= 0) {
    if (Number.isInteger(x)) return Infinity;
    // ψ₁(1-x) + ψ₁(x) = π² / sin²(πx)
    const s = sinPi(x);
    return (Math.PI * Math.PI) / (s * s) - trigammaF64(1 - x);
  }
  let acc = 0;
  let n = 0;
  while (x + n < 10) {
    acc += 1 / ((x + n) * (x + n)); // ψ₁(x) = ψ₁(x+1) + 1/x²
    n++;
  }
  const z = x + n;
  const r = 1 / (z * z);
  // ψ₁(z) ~ 1/z + 1/(2z²) + Σ B_{2k} / z^{2k+1}
  const tail =
    r * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r * (1 / 30 - r * (5 / 66 - r * (691 / 2730 - r * (7 / 6 - r * (3617 / 510))))))));
  return acc + 1 / z + 0.5 * r + tail / z;
}

/** Returns ψ₂(x) = d³/dx³ log Γ(x) for x > 0 (float64); NaN for x <= 0. */
export function tetragammaF64(x: number): number {
  if (!(x > 0)) return NaN;
  if (x === Infinity) return 0;
  let acc = 0;
  let n = 0;
  while (x + n < 10) {
    const y = x + n;
    acc -= 2 / (y * y * y); // ψ₂(x) = ψ₂(x+1) - 2/x³
    n++;
  }
  const z = x + n;
  const r = 1 / (z * z);
  // ψ₂(z) ~ -1/z² - 1/z³ - Σ (2k+1) B_{2k} / z^{2k+2}
  const tail = r * (1 / 2 - r * (1 / 6 - r * (1 / 6 - r * (3 / 10 - r * (5 / 6 - r * (691 / 210 - r * (35 / 2 - r * (3617 / 30))))))));
  return acc - r * (1 + 1 / z + tail);
}

/**
 * Returns log B(a, b) = log Γ(a) + log Γ(b) - log Γ(a+b) for a, b > 0 (float64), without
 * the cancellation of the three log-gammas when a or b is large.
 */
export function lbetaF64(a: number, b: number): number {
  if (!(a > 0 && b > 0)) return NaN;
  const x = Math.min(a, b);
  const y = Math.max(a, b);
  if (y === Infinity) return -Infinity;
  if (y < 10) return lgammaF64(x) + lgammaF64(y) - lgammaF64(x + y);
  const s = x + y;
  // log Γ(y) - log Γ(x+y) written with Stirling so the O(y log y) parts cancel exactly.
  const l1p = Math.log1p(-x / s);
  if (x < 10) {
    return lgammaF64(x) + (y - 0.5) * l1p - x * Math.log(s) + x + stirlingDelta64(y) - stirlingDelta64(s);
  }
  return (
    LOG_SQRT_2PI + (x - 0.5) * Math.log(x / s) + (y - 0.5) * l1p - 0.5 * Math.log(s) +
    stirlingDelta64(x) + stirlingDelta64(y) - stirlingDelta64(s)
  );
}

/** Returns log Γ_d(a), the multivariate log-gamma, for a > (d-1)/2 (float64). */
export function lmvgammaF64(a: number, d: number): number {
  checkDimension(d, 'lmvgammaF64');
  let s = ((d * (d - 1)) / 4) * LOG_PI;
  for (let j = 0; j < d; j++) s += lgammaF64(a - j / 2);
  return a > (d - 1) / 2 ? s : NaN;
}

const SQRT_PI = Math.sqrt(Math.PI);
const ERF_SWITCH = 1.5; // below: positive-term series for erf; above: continued fraction for erfcx

/** Returns erf(x) for 0 <= x < ERF_SWITCH by a series with positive terms (no cancellation). */
function erfSeries(x: number): number {
  // erf(x) = 2/√π e^{-x²} Σ_n 2^n x^{2n+1} / (1·3·...·(2n+1))
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return ((2 / SQRT_PI) * Math.exp(-x2)) * sum;
}

/** Returns erfcx(z) = e^{z²} erfc(z) for z >= ERF_SWITCH by Laplace's continued fraction. */
function erfcxContinuedFraction(z: number): number {
  if (z > 1e8) return 1 / (SQRT_PI * z); // the fraction's correction is below 1e-16 here
  // erfc(z) = e^{-z²}/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))), modified Lentz.
  let f = z;
  let c = z;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = z + a * d;
    c = z + a / c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / (SQRT_PI * f);
}

/** Returns e^{-x²} with x² split so its rounding error does not reach the exponent. */
function expNegSquare(x: number): number {
  const xr = Math.round(x * 16) / 16; // xr² is exact
  return Math.exp(-xr * xr) * Math.exp(-(x - xr) * (x + xr));
}

/** Returns erf(x) (float64, ~1e-16 absolute). */
export function erfF64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < ERF_SWITCH) return x < 0 ? -erfSeries(ax) : erfSeries(ax);
  const v = 1 - expNegSquare(ax) * erfcxContinuedFraction(ax);
  return x < 0 ? -v : v;
}

/** Returns erfc(x) = 1 - erf(x) (float64, ~1e-15 relative for x > 0, also in the far tail). */
export function erfcF64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfcF64(-x);
  if (x < ERF_SWITCH) return 1 - erfSeries(x);
  if (x > 27.3) return 0; // erfc(27.3) < 5e-326 underflows
  return expNegSquare(x) * erfcxContinuedFraction(x);
}

/** Returns the scaled complementary error function erfcx(x) = e^{x²} erfc(x) (float64). */
export function erfcxF64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return x < -26.7 ? Infinity : 2 * Math.exp(x * x) - erfcxF64(-x);
  if (x < ERF_SWITCH) return Math.exp(x * x) * (1 - erfSeries(x));
  return erfcxContinuedFraction(x);
}

/** Returns Φ(x), the standard normal CDF (float64). */
export function ndtrF64(x: number): number {
  return 0.5 * erfcF64(-x * Math.SQRT1_2);
}

/**
 * Returns log Φ(x) (float64), accurate in both tails: for x < -1 it is
 * log(erfcx(-x/√2)/2) - x²/2, so nothing underflows even at x = -1e150.
 */
export function logNdtrF64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === -Infinity) return -Infinity;
  if (x < -1) return Math.log(0.5 * erfcxF64(-x * Math.SQRT1_2)) - 0.5 * x * x;
  if (x <= 0) return Math.log(ndtrF64(x));
  return Math.log1p(-0.5 * erfcF64(x * Math.SQRT1_2));
}

/** Returns φ(x)/Φ(x), the derivative of log Φ(x) (float64), stable in both tails. */
export function millsInverseF64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < -1) return Math.sqrt(2 / Math.PI) / erfcxF64(-x * Math.SQRT1_2);
  return Math.exp(-0.5 * x * x - LOG_SQRT_2PI - logNdtrF64(x));
}

// Acklam's rational approximation to Φ⁻¹ (relative error < 1.2e-9), then polished by Newton.
const ACK_A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const ACK_B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const ACK_C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const ACK_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

function acklam(p: number): number {
  const pLow = 0.02425;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((ACK_C[0] * q + ACK_C[1]) * q + ACK_C[2]) * q + ACK_C[3]) * q + ACK_C[4]) * q + ACK_C[5]) /
      ((((ACK_D[0] * q + ACK_D[1]) * q + ACK_D[2]) * q + ACK_D[3]) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((ACK_A[0] * r + ACK_A[1]) * r + ACK_A[2]) * r + ACK_A[3]) * r + ACK_A[4]) * r + ACK_A[5]) * q) /
    (((((ACK_B[0] * r + ACK_B[1]) * r + ACK_B[2]) * r + ACK_B[3]) * r + ACK_B[4]) * r + 1)
  );
}

/**
 * Returns Φ⁻¹(p), the inverse standard normal CDF (float64, ~1e-15 relative).
 * ndtriF64(0) = -Infinity, ndtriF64(1) = Infinity, NaN outside [0, 1].
 */
export function ndtriF64(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  // 1 - p is exact for p in [0.5, 1] (Sterbenz), so the symmetry costs nothing.
  if (p > 0.5) return -ndtriF64(1 - p);
  let x = acklam(p);
  const logP = Math.log(p);
  // Newton on log Φ(x) = log p: well scaled in the lower tail, quadratic from 1e-9.
  for (let i = 0; i < 2; i++) {
    const g = logNdtrF64(x) - logP;
    x -= g / millsInverseF64(x);
  }
  return x;
}

/** Returns log I₀(x), the log of the modified Bessel function of order 0 (float64); even in x. */
export function logBesselI0F64(x: number): number {
  const ax = Math.abs(x);
  if (Number.isNaN(ax)) return NaN;
  if (ax === Infinity) return Infinity;
  if (ax <= 20) {
    // I₀(x) = Σ (x²/4)^k / (k!)², all terms positive; log1p keeps x → 0 relative.
    const z = (ax * ax) / 4;
    let term = 1;
    let s = 0;
    for (let k = 1; k < 200; k++) {
      term *= z / (k * k);
      s += term;
      if (term < 1e-17 * (1 + s)) break;
    }
    return Math.log1p(s);
  }
  return ax - 0.5 * Math.log(2 * Math.PI * ax) + Math.log1p(besselAsymptoticTail(ax, 0));
}

/**
 * Returns Σ_{k>=1} T_k for the large-x expansion I_ν(x) ~ e^x/√(2πx) (1 + Σ T_k), with
 * T_k = T_{k-1} ((2k-1)² - 4ν²)/(8kx), summed until the terms stop shrinking or vanish.
 */
function besselAsymptoticTail(x: number, nu: 0 | 1): number {
  let term = 1;
  let s = 0;
  for (let k = 1; k < 100; k++) {
    const next = (term * ((2 * k - 1) * (2 * k - 1) - 4 * nu * nu)) / (8 * k * x);
    if (Math.abs(next) > Math.abs(term)) break; // asymptotic series: stop at the smallest term
    term = next;
    s += term;
    if (Math.abs(term) < 1e-17) break;
  }
  return s;
}

/** Returns I₁(x)/I₀(x), the derivative of log I₀(x) (float64); odd in x. */
export function besselI1OverI0F64(x: number): number {
  const ax = Math.abs(x);
  if (Number.isNaN(ax)) return NaN;
  if (ax === Infinity) return Math.sign(x);
  let r: number;
  if (ax <= 20) {
    const z = (ax * ax) / 4;
    let t0 = 1;
    let t1 = 1;
    let s0 = 1;
    let s1 = 1;
    for (let k = 1; k < 200; k++) {
      t0 *= z / (k * k);
      t1 *= z / (k * (k + 1));
      s0 += t0;
      s1 += t1;
      if (t0 < 1e-17 * s0 && t1 < 1e-17 * s1) break;
    }
    r = ((ax / 2) * s1) / s0;
  } else {
    r = (1 + besselAsymptoticTail(ax, 1)) / (1 + besselAsymptoticTail(ax, 0));
  }
  return x < 0 ? -r : r;
}

/**
 * Returns P(a, x) = γ(a, x)/Γ(a), the regularized lower incomplete gamma function
 * (float64; series for x < a + 1, continued fraction otherwise). The gamma CDF.
 */
export function gammaincF64(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaSeries(a, x) : 1 - gammaContinuedFraction(a, x);
}

/** Returns Q(a, x) = 1 - P(a, x), the regularized upper incomplete gamma function (float64). */
export function gammainccF64(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x);
}

function gammaSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let n = 0; n < 100000; n++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * 1e-16) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - lgammaF64(a));
}

function gammaContinuedFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(-x + a * Math.log(x) - lgammaF64(a)) * h;
}

/** Returns I_x(a, b), the regularized incomplete beta function (float64). The beta CDF. */
export function betaincF64(a: number, b: number, x: number): number {
  if (!(a > 0 && b > 0) || !(x >= 0 && x <= 1)) return NaN;
  if (x === 0) return 0;
  if (x === 1) return 1;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - lbetaF64(a, b);
  // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** Returns log Σ exp(xs) (float64); -Infinity for an empty list or all -Infinity. */
export function logSumExpF64(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m || Number.isNaN(xs[i])) m = xs[i];
  if (m === -Infinity || m === Infinity || Number.isNaN(m)) return m;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - m);
  return m + Math.log(s);
}

/** Returns log(1 - e^{-x}) for x >= 0 (float64), switching at log 2 (Mächler 2012). */
export function log1mexpF64(x: number): number {
  return x <= Math.LN2 ? Math.log(-Math.expm1(-x)) : Math.log1p(-Math.exp(-x));
}

/**
 * Returns Loader's Stirling error stirlerr(n) = log Γ(n+1) - [(n + 1/2) log n - n + log √(2π)]
 * for real n >= 0 (float64; stirlerr(0) = log √(2π)).
 */
export function stirlerrF64(n: number): number {
  if (n <= 15) {
    // Direct: the cancellation costs at most ~2 digits, the result is ~1/(12n).
    if (n === 0) return LOG_SQRT_2PI;
    return lgammaF64(n + 1) - (n + 0.5) * Math.log(n) + n - LOG_SQRT_2PI;
  }
  const nn = 1 / (n * n);
  // Stirling series, 1/(12n) - 1/(360n³) + ...; truncation < 1e-17 for n > 15.
  return (1 / 12 - nn * (1 / 360 - nn * (1 / 1260 - nn * (1 / 1680 - nn / 1188)))) / n;
}

/**
 * Returns Loader's deviance term bd0(x, m) = x log(x/m) + m - x >= 0 (float64), computed
 * without cancellation when x ≈ m. Used for exact pmf ratios at huge counts.
 */
export function bd0F64(x: number, m: number): number {
  if (x === 0) return m;
  if (Math.abs(x - m) < 0.1 * (x + m)) {
    // x log(x/m) + m - x = (x-m) v + 2x Σ_{j>=1} v^{2j+1}/(2j+1), v = (x-m)/(x+m)
    const v = (x - m) / (x + m);
    let s = (x - m) * v;
    let ej = 2 * x * v;
    const v2 = v * v;
    for (let j = 1; j < 1000; j++) {
      ej *= v2;
      const s1 = s + ej / (2 * j + 1);
      if (s1 === s) return s1;
      s = s1;
    }
    return s;
  }
  return x * Math.log(x / m) + m - x;
}

function checkDimension(d: number, fn: string): void {
  if (!Number.isInteger(d) || d < 1) {
    throw new RangeError(`${fn}: dimension d must be a positive integer, got ${d}`);
  }
}

/** Euler–Mascheroni constant γ = -ψ(1). */
export const EULER_MASCHERONI = EULER_GAMMA;

// ---------------------------------------------------------------------------------------
// Tensor functions (float32)
// ---------------------------------------------------------------------------------------

function asFloat(x: TensorOrNumber, fn: string): Tensor {
  if (typeof x === 'number') return tf.scalar(x, 'float32');
  if (!(x instanceof tf.Tensor)) throw new TypeError(`${fn}: expected a tensor or a number`);
  return x.dtype === 'float32' ? x : tf.cast(x, 'float32');
}

/** Returns Σ c[i] t^i by Horner's rule (coefficients in ascending order). */
function hornerT(t: Tensor, c: readonly number[]): Tensor {
  let acc: Tensor = tf.scalar(c[c.length - 1]);
  for (let i = c.length - 2; i >= 0; i--) acc = tf.add(tf.mul(acc, t), c[i]);
  return acc;
}

/**
 * Returns log(1 + x) accurately for tiny x on every backend. The wasm backend's Log1p kernel
 * is log(1 + x) in float32 (log1p(1e-10) = 0), so use Goldberg's trick: with u = fl(1 + x),
 * log1p(x) = log(u) · x / (u - 1), which cancels the rounding of 1 + x to first order.
 */
function log1pT(x: Tensor): Tensor {
  const u = tf.add(1, x);
  const d = tf.sub(u, 1); // exact
  const corrected = tf.mul(tf.log(u), tf.div(x, d));
  // d = 0 means |x| < eps/2, where log1p(x) = x; x = +∞ would give ∞/∞ in the ratio.
  return tf.where(tf.equal(d, 0), x, tf.where(tf.isInf(x), tf.log(u), corrected));
}

function nanLike(x: Tensor): Tensor {
  return tf.fill(x.shape, NaN);
}

/** Sums a gradient over the axes that broadcasting added, back to `shape`. */
function sumToShape(g: Tensor, shape: number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length > 0 ? tf.sum(g, axes, true) : g;
  return tf.reshape(s, shape);
}

// Float32 forms shift x < 6 up by 6 (recurrences), then use asymptotic series at z >= 6,
// whose truncation errors there are ~1e-10 relative: far below float32's 6e-8.
const SHIFT = 6;

interface Shifted {
  /** x < SHIFT */
  small: Tensor;
  /** min(x, SHIFT): safe to use in the recurrence terms for every element */
  xc: Tensor;
  /** x + SHIFT where small, else x */
  z: Tensor;
}

function shifted(x: Tensor): Shifted {
  const small = tf.less(x, SHIFT);
  return { small, xc: tf.minimum(x, SHIFT), z: tf.where(small, tf.add(x, SHIFT), x) };
}

/** Stirling δ(z) = 1/(12z) - 1/(360z³) + 1/(1260z⁵) - 1/(1680z⁷), for z >= 6 (float32). */
function stirlingDeltaT(z: Tensor): Tensor {
  const r = tf.reciprocal(z);
  return tf.mul(r, hornerT(tf.square(r), [1 / 12, -1 / 360, 1 / 1260, -1 / 1680]));
}

/** Returns Σ_{k=0}^{SHIFT-1} f(x + k). */
function shiftSum(xc: Tensor, f: (y: Tensor) => Tensor): Tensor {
  let acc = f(xc);
  for (let k = 1; k < SHIFT; k++) acc = tf.add(acc, f(tf.add(xc, k)));
  return acc;
}

function positiveOnly(x: Tensor, value: Tensor): Tensor {
  return tf.where(tf.greater(x, 0), value, nanLike(value));
}

function lgammaRaw(x: Tensor): Tensor {
  const { small, xc, z } = shifted(x);
  // (z - 1/2) log z - z + log √(2π) + δ(z), written so z = +∞ gives +∞ and not ∞ - ∞.
  const st = tf.add(tf.sub(tf.mul(tf.sub(z, 0.5), tf.sub(tf.log(z), 1)), 0.5 - LOG_SQRT_2PI), stirlingDeltaT(z));
  // log(x (x+1) ... (x+5)): one log of a product (<= 11!/5! for x < 6, no overflow).
  let prod = xc;
  for (let k = 1; k < SHIFT; k++) prod = tf.mul(prod, tf.add(xc, k));
  return positiveOnly(x, tf.where(small, tf.sub(st, tf.log(prod)), st));
}

function digammaRaw(x: Tensor): Tensor {
  const { small, xc, z } = shifted(x);
  const r = tf.reciprocal(z);
  const r2 = tf.square(r);
  // ψ(z) ~ log z - 1/(2z) - 1/(12z²) + 1/(120z⁴) - 1/(252z⁶) + 1/(240z⁸)
  const asym = tf.sub(tf.sub(tf.log(z), tf.mul(0.5, r)), tf.mul(r2, hornerT(r2, [1 / 12, -1 / 120, 1 / 252, -1 / 240])));
  const corr = shiftSum(xc, (y) => tf.reciprocal(y));
  return positiveOnly(x, tf.where(small, tf.sub(asym, corr), asym));
}

function trigammaRaw(x: Tensor): Tensor {
  const { small, xc, z } = shifted(x);
  const r = tf.reciprocal(z);
  const r2 = tf.square(r);
  // ψ₁(z) ~ 1/z + 1/(2z²) + 1/(6z³) - 1/(30z⁵) + 1/(42z⁷) - 1/(30z⁹); all terms of one sign
  const asym = tf.add(tf.add(r, tf.mul(0.5, r2)), tf.mul(tf.mul(r, r2), hornerT(r2, [1 / 6, -1 / 30, 1 / 42, -1 / 30])));
  const corr = shiftSum(xc, (y) => tf.reciprocal(tf.square(y)));
  return positiveOnly(x, tf.where(small, tf.add(asym, corr), asym));
}

function tetragammaRaw(x: Tensor): Tensor {
  const { small, xc, z } = shifted(x);
  const r = tf.reciprocal(z);
  const r2 = tf.square(r);
  // ψ₂(z) ~ -1/z² - 1/z³ - 1/(2z⁴) + 1/(6z⁶) - 1/(6z⁸) + 3/(10z¹⁰)
  const asym = tf.neg(tf.mul(r2, tf.add(tf.add(1, r), tf.mul(r2, hornerT(r2, [1 / 2, -1 / 6, 1 / 6, -3 / 10])))));
  const corr = shiftSum(xc, (y) => tf.div(2, tf.mul(y, tf.square(y))));
  return positiveOnly(x, tf.where(small, tf.sub(asym, corr), asym));
}

const lgammaOp = tf.customGrad((x: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const xt = x as Tensor;
  (save as GradSaveFunc)([xt]);
  return { value: lgammaRaw(xt), gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, digamma(saved[0]))] };
});

const digammaOp = tf.customGrad((x: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const xt = x as Tensor;
  (save as GradSaveFunc)([xt]);
  return { value: digammaRaw(xt), gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, trigamma(saved[0]))] };
});

const trigammaOp = tf.customGrad((x: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const xt = x as Tensor;
  (save as GradSaveFunc)([xt]);
  return { value: trigammaRaw(xt), gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, tetragammaRaw(saved[0]))] };
});

/**
 * Returns log Γ(x) elementwise for x > 0 (NaN for x <= 0, including the poles).
 * Gradient: ψ(x) (`digamma`). Stirling series at x + 6 for x < 6, directly otherwise.
 */
export function lgamma(x: TensorOrNumber): Tensor {
  return tf.tidy(() => lgammaOp(asFloat(x, 'lgamma')));
}

/** Returns ψ(x) = d/dx log Γ(x) elementwise for x > 0 (NaN for x <= 0). Gradient: ψ₁(x). */
export function digamma(x: TensorOrNumber): Tensor {
  return tf.tidy(() => digammaOp(asFloat(x, 'digamma')));
}

/** Returns ψ₁(x) = d²/dx² log Γ(x) elementwise for x > 0 (NaN for x <= 0). Differentiable. */
export function trigamma(x: TensorOrNumber): Tensor {
  return tf.tidy(() => trigammaOp(asFloat(x, 'trigamma')));
}

/** Returns ψ(x) - ψ(x + s) for x, s > 0 without cancellation when x is large (float32). */
function digammaDiffRaw(x: Tensor, s: Tensor): Tensor {
  const big = tf.greaterEqual(x, SHIFT);
  const xb = tf.maximum(x, SHIFT);
  const zb = tf.add(xb, s);
  // R(z) = log z - 1/(2z) - ψ(z) = 1/(12z²) - 1/(120z⁴) + ...
  const rTail = (z: Tensor): Tensor => {
    const r2 = tf.reciprocal(tf.square(z));
    return tf.mul(r2, hornerT(r2, [1 / 12, -1 / 120, 1 / 252, -1 / 240]));
  };
  // ψ(x) - ψ(x+s) = -log1p(s/x) - s/(2x(x+s)) - R(x) + R(x+s)
  const large = tf.sub(
    tf.sub(tf.neg(log1pT(tf.div(s, xb))), tf.mul(tf.div(s, zb), tf.div(0.5, xb))),
    tf.sub(rTail(xb), rTail(zb)),
  );
  const direct = tf.sub(digammaRaw(x), digammaRaw(tf.add(x, s)));
  return tf.where(big, large, direct);
}

function lbetaRaw(a: Tensor, b: Tensor): Tensor {
  const x = tf.minimum(a, b);
  const y = tf.maximum(a, b);
  const s = tf.add(x, y);
  // Clamped copies keep the branches that where() discards finite.
  const xs = tf.minimum(x, SHIFT);
  const ys = tf.minimum(y, SHIFT);
  const xl = tf.maximum(x, SHIFT);
  const yl = tf.maximum(y, SHIFT);
  const both = tf.sub(tf.add(lgammaRaw(xs), lgammaRaw(ys)), lgammaRaw(tf.add(xs, ys)));
  // log Γ(y) - log Γ(x+y) by Stirling: the O(y log y) parts cancel analytically.
  const sl = tf.add(xs, yl);
  const l1pSmall = log1pT(tf.neg(tf.div(xs, sl)));
  const oneSmall = tf.add(
    tf.add(lgammaRaw(xs), tf.mul(tf.sub(yl, 0.5), l1pSmall)),
    tf.add(tf.sub(xs, tf.mul(xs, tf.log(sl))), tf.sub(stirlingDeltaT(yl), stirlingDeltaT(sl))),
  );
  const ss = tf.add(xl, yl);
  const ratio = tf.div(xl, ss);
  const noneSmall = tf.add(
    tf.add(
      tf.add(tf.mul(tf.sub(xl, 0.5), tf.log(ratio)), tf.mul(tf.sub(yl, 0.5), log1pT(tf.neg(ratio)))),
      tf.sub(LOG_SQRT_2PI, tf.mul(0.5, tf.log(ss))),
    ),
    tf.sub(tf.add(stirlingDeltaT(xl), stirlingDeltaT(yl)), stirlingDeltaT(ss)),
  );
  const res = tf.where(tf.less(y, SHIFT), both, tf.where(tf.less(x, SHIFT), oneSmall, noneSmall));
  // Tested on a and b themselves: min/max of a NaN differ between backends.
  const ok = tf.logicalAnd(tf.greater(a, 0), tf.greater(b, 0));
  // B(a, ∞) = 0 for a > 0: log B = -∞.
  const limit = tf.where(tf.isInf(s), tf.fill(res.shape, -Infinity), res);
  return tf.where(ok, limit, nanLike(res));
}

const lbetaOp = tf.customGrad((a: Tensor | GradSaveFunc, b: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const at = a as Tensor;
  const bt = b as Tensor;
  (save as GradSaveFunc)([at, bt]);
  return {
    value: lbetaRaw(at, bt),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sa, sb] = saved;
      // ∂/∂a log B(a, b) = ψ(a) - ψ(a+b)
      return [sumToShape(tf.mul(dy, digammaDiffRaw(sa, sb)), sa.shape), sumToShape(tf.mul(dy, digammaDiffRaw(sb, sa)), sb.shape)];
    },
  };
});

/**
 * Returns log B(a, b) = log Γ(a) + log Γ(b) - log Γ(a+b), broadcasting a and b; NaN unless
 * a, b > 0. Uses Stirling differences so lbeta(1e6, 1) ≈ -log 1e6 keeps full relative
 * precision. Gradients ψ(a) - ψ(a+b) are computed the same careful way.
 */
export function lbeta(a: TensorOrNumber, b: TensorOrNumber): Tensor {
  return tf.tidy(() => lbetaOp(asFloat(a, 'lbeta'), asFloat(b, 'lbeta')));
}

/**
 * Returns the multivariate log-gamma log Γ_d(a) = d(d-1)/4 log π + Σ_{j=1}^{d} log Γ(a + (1-j)/2),
 * elementwise, for a > (d-1)/2 (NaN otherwise). Differentiable in a.
 */
export function lmvgamma(a: TensorOrNumber, d: number): Tensor {
  checkDimension(d, 'lmvgamma');
  return tf.tidy(() => {
    const at = asFloat(a, 'lmvgamma');
    let s: Tensor = tf.add(lgamma(at), ((d * (d - 1)) / 4) * LOG_PI);
    for (let j = 1; j < d; j++) s = tf.add(s, lgamma(tf.sub(at, j / 2)));
    return s;
  });
}

// Power series coefficients of I₀ and I₁ in z = x²/4, used for |x| <= BESSEL_SWITCH:
// I₀ = Σ z^k/(k!)², I₁ = (x/2) Σ z^k/(k!(k+1)!). 20 terms reach 1e-11 relative at x = 12.
const BESSEL_SWITCH = 12;
const I0_SERIES: number[] = [];
const I1_SERIES: number[] = [];
{
  let f = 1;
  for (let k = 0; k < 20; k++) {
    if (k > 0) f *= k;
    I0_SERIES.push(1 / (f * f));
    I1_SERIES.push(1 / (f * f * (k + 1)));
  }
}
// Large-x expansions I_ν(x) ~ e^x/√(2πx) Σ T_k x^{-k}; 9 terms reach 5e-9 at x = 12.
const I0_ASYM: number[] = [1];
const I1_ASYM: number[] = [1];
for (let k = 1; k <= 9; k++) {
  I0_ASYM.push((I0_ASYM[k - 1] * (2 * k - 1) * (2 * k - 1)) / (8 * k));
  I1_ASYM.push((I1_ASYM[k - 1] * ((2 * k - 1) * (2 * k - 1) - 4)) / (8 * k));
}

function logBesselI0Raw(x: Tensor): Tensor {
  const ax = tf.abs(x);
  const xs = tf.minimum(ax, BESSEL_SWITCH);
  const z = tf.mul(tf.square(xs), 0.25);
  // log(1 + z·(series - 1)/z): log1p keeps log I₀(x) ≈ x²/4 relative as x → 0.
  const small = log1pT(tf.mul(z, hornerT(z, I0_SERIES.slice(1))));
  const xl = tf.maximum(ax, BESSEL_SWITCH);
  const t = tf.reciprocal(xl);
  const large = tf.add(
    tf.sub(xl, tf.mul(0.5, tf.log(tf.mul(2 * Math.PI, xl)))),
    log1pT(tf.mul(t, hornerT(t, I0_ASYM.slice(1)))),
  );
  const res = tf.where(tf.lessEqual(ax, BESSEL_SWITCH), small, large);
  return tf.where(tf.isNaN(x), nanLike(res), tf.where(tf.isInf(x), tf.fill(res.shape, Infinity), res));
}

function besselRatioRaw(x: Tensor): Tensor {
  const ax = tf.abs(x);
  const xs = tf.minimum(ax, BESSEL_SWITCH);
  const z = tf.mul(tf.square(xs), 0.25);
  const small = tf.div(tf.mul(tf.mul(xs, 0.5), hornerT(z, I1_SERIES)), hornerT(z, I0_SERIES));
  const xl = tf.maximum(ax, BESSEL_SWITCH);
  const t = tf.reciprocal(xl);
  const large = tf.div(hornerT(t, I1_ASYM), hornerT(t, I0_ASYM));
  const res = tf.mul(tf.sign(x), tf.where(tf.lessEqual(ax, BESSEL_SWITCH), small, large));
  return tf.where(tf.isNaN(x), nanLike(res), res);
}

const logBesselI0Op = tf.customGrad((x: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const xt = x as Tensor;
  (save as GradSaveFunc)([xt]);
  return { value: logBesselI0Raw(xt), gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, besselI1OverI0(saved[0]))] };
});

/**
 * Returns log I₀(x), the log of the modified Bessel function of the first kind of order 0,
 * elementwise (even in x; the von Mises normaliser). Power series for |x| <= 12, the
 * large-x expansion x - ½ log(2πx) + log(1 + 1/(8x) + 9/(128x²) + ...) beyond, so it never
 * overflows. Gradient: I₁(x)/I₀(x) (`besselI1OverI0`).
 */
export function logBesselI0(x: TensorOrNumber): Tensor {
  return tf.tidy(() => logBesselI0Op(asFloat(x, 'logBesselI0')));
}

/** Returns I₁(x)/I₀(x) elementwise (odd in x, in (-1, 1)); the derivative of log I₀. Differentiable. */
export function besselI1OverI0(x: TensorOrNumber): Tensor {
  return tf.tidy(() => besselRatioRaw(asFloat(x, 'besselI1OverI0')));
}

// Numerical Recipes' erfcc: erfc(z) = t exp(-z² + P(t)), t = 1/(1 + z/2), z >= 0, with
// relative error < 1.2e-7 for every z >= 0. As z → ∞, log t + P(t) → -log z - log √π,
// the leading term of the asymptotic series, so the log form is right in the far tail.
const ERFC_NR = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];

/** Returns {t, p} with log erfc(|x|/√2) = log t - x²/2 + p. */
function erfcParts(x: Tensor): { t: Tensor; p: Tensor } {
  const z = tf.mul(tf.abs(x), Math.SQRT1_2);
  const t = tf.reciprocal(tf.add(1, tf.mul(0.5, z)));
  return { t, p: hornerT(t, ERFC_NR) };
}

/**
 * Returns e^{-x²/2} for x >= 0 with x² split as xr² + (x - xr)(x + xr), xr = round(16x)/16:
 * xr² is exact in float32 (x < 256), so the exponent's rounding error (which would be
 * ~x² ulps of the result) is avoided.
 */
function expNegHalfSquare(x: Tensor): Tensor {
  const xc = tf.minimum(x, 255);
  const xr = tf.div(tf.round(tf.mul(xc, 16)), 16);
  return tf.mul(tf.exp(tf.mul(-0.5, tf.square(xr))), tf.exp(tf.mul(-0.5, tf.mul(tf.sub(xc, xr), tf.add(xc, xr)))));
}

function logNdtrRaw(x: Tensor): Tensor {
  const { t, p } = erfcParts(x);
  // x < 0: Φ(x) = erfc(|x|/√2)/2 in log form, log t - x²/2 + P(t) - log 2 (never underflows);
  // x >= 0: log Φ(x) = log1p(-Φ(-x)), exact as Φ(-x) → 0.
  const neg = tf.add(tf.sub(tf.log(t), tf.mul(0.5, tf.square(x))), tf.add(p, -Math.LN2));
  const tail = tf.mul(tf.mul(0.5, t), tf.mul(tf.exp(p), expNegHalfSquare(tf.abs(x)))); // Φ(-|x|)
  const pos = log1pT(tf.neg(tail));
  return tf.where(tf.less(x, 0), neg, pos);
}

/** Returns φ(x)/Φ(x) elementwise, stable in both tails (float32). */
function millsInverseRaw(x: Tensor, logPhi: Tensor): Tensor {
  const { t, p } = erfcParts(x);
  // x < 0: φ(x)/Φ(x) = √(2/π) / erfcx(|x|/√2) = √(2/π) e^{-P(t)} / t; the e^{-x²/2} cancel.
  const neg = tf.div(tf.mul(Math.sqrt(2 / Math.PI), tf.exp(tf.neg(p))), t);
  const pos = tf.mul(expNegHalfSquare(tf.abs(x)), tf.exp(tf.sub(-LOG_SQRT_2PI, logPhi)));
  return tf.where(tf.less(x, 0), neg, pos);
}

const logNdtrOp = tf.customGrad((x: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const xt = x as Tensor;
  const value = logNdtrRaw(xt);
  (save as GradSaveFunc)([xt, value]);
  return { value, gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.mul(dy, millsInverseRaw(saved[0], saved[1]))] };
});

/**
 * Returns log Φ(x), the log standard normal CDF, elementwise. Stable everywhere: for x < 0
 * it is log(erfc(-x/√2)/2) in log form (x = -1e4 gives ≈ -5e7, not -∞); for x >= 0 it is
 * log1p(-Φ(-x)). Relative error a few float32 ulps (<= 8 tested). Gradient φ(x)/Φ(x), computed without the e^{-x²/2}
 * cancellation.
 */
export function logNdtr(x: TensorOrNumber): Tensor {
  return tf.tidy(() => logNdtrOp(asFloat(x, 'logNdtr')));
}

/** Returns log(1 - Φ(x)) = log Φ(-x) elementwise (the log normal survival function). */
export function logNdtrc(x: TensorOrNumber): Tensor {
  return tf.tidy(() => logNdtr(tf.neg(asFloat(x, 'logNdtrc'))));
}

function log1mexpRaw(x: Tensor): Tensor {
  // Mächler (2012): log(-expm1(-x)) is accurate for x <= log 2, log1p(-exp(-x)) above.
  return tf.where(tf.lessEqual(x, Math.LN2), tf.log(tf.neg(tf.expm1(tf.neg(x)))), log1pT(tf.neg(tf.exp(tf.neg(x)))));
}

const log1mexpOp = tf.customGrad((x: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const xt = x as Tensor;
  (save as GradSaveFunc)([xt]);
  // d/dx log(1 - e^{-x}) = 1/expm1(x)
  return { value: log1mexpRaw(xt), gradFunc: (dy: Tensor, saved: Tensor[]) => [tf.div(dy, tf.expm1(saved[0]))] };
});

/**
 * Returns log(1 - e^{-x}) elementwise for x >= 0 (-∞ at 0, NaN for x < 0), accurate for
 * tiny and huge x. Gradient 1/expm1(x).
 */
export function log1mexp(x: TensorOrNumber): Tensor {
  return tf.tidy(() => log1mexpOp(asFloat(x, 'log1mexp')));
}

const logAddExpOp = tf.customGrad((a: Tensor | GradSaveFunc, b: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const at = a as Tensor;
  const bt = b as Tensor;
  (save as GradSaveFunc)([at, bt]);
  const m = tf.maximum(at, bt);
  const res = tf.add(m, log1pT(tf.exp(tf.neg(tf.abs(tf.sub(at, bt))))));
  // Both -∞ (or both +∞): a - b is NaN, but the answer is m.
  const value = tf.where(tf.isInf(m), m, res);
  return {
    value,
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sa, sb] = saved;
      const d = tf.sub(sa, sb);
      // ∂/∂a = e^a/(e^a + e^b) = sigmoid(a - b); exactly ½ each at ties, including ±∞ ties.
      const ga = tf.where(tf.isNaN(d), tf.fill(d.shape, 0.5), tf.sigmoid(d));
      const gb = tf.sub(1, ga);
      return [sumToShape(tf.mul(dy, ga), sa.shape), sumToShape(tf.mul(dy, gb), sb.shape)];
    },
  };
});

/** Returns log(e^a + e^b) elementwise, broadcasting, without overflow; gradients sigmoid(a-b), sigmoid(b-a). */
export function logAddExp(a: TensorOrNumber, b: TensorOrNumber): Tensor {
  return tf.tidy(() => logAddExpOp(asFloat(a, 'logAddExp'), asFloat(b, 'logAddExp')));
}

function logSubExpSafeDiff(a: Tensor, b: Tensor): Tensor {
  // b = -∞ gives a - b = +∞ even when a = -∞ too (then the answer is a = -∞).
  const d = tf.sub(a, b);
  const bNegInf = tf.logicalAnd(tf.isInf(b), tf.less(b, 0));
  return tf.where(bNegInf, tf.fill(d.shape, Infinity), d);
}

const logSubExpOp = tf.customGrad((a: Tensor | GradSaveFunc, b: Tensor | GradSaveFunc, save: Tensor | GradSaveFunc) => {
  const at = a as Tensor;
  const bt = b as Tensor;
  (save as GradSaveFunc)([at, bt]);
  return {
    value: tf.add(at, log1mexpRaw(logSubExpSafeDiff(at, bt))),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sa, sb] = saved;
      const d = logSubExpSafeDiff(sa, sb);
      // ∂/∂a = e^a/(e^a - e^b) = -1/expm1(-d); ∂/∂b = -e^b/(e^a - e^b) = -1/expm1(d)
      const ga = tf.div(-1, tf.expm1(tf.neg(d)));
      const gb = tf.div(-1, tf.expm1(d));
      return [sumToShape(tf.mul(dy, ga), sa.shape), sumToShape(tf.mul(dy, gb), sb.shape)];
    },
  };
});

/**
 * Returns log(e^a - e^b) = a + log1mexp(a - b) elementwise, broadcasting; NaN where a < b,
 * -∞ where a = b (including a = b = -∞), and a where b = -∞. Gradients
 * -1/expm1(b - a) and -1/expm1(a - b).
 */
export function logSubExp(a: TensorOrNumber, b: TensorOrNumber): Tensor {
  return tf.tidy(() => logSubExpOp(asFloat(a, 'logSubExp'), asFloat(b, 'logSubExp')));
}

/**
 * Returns log(1 + x), accurate for tiny |x| on every backend (wasm's Log1p kernel is
 * log(1 + x) in float32). Differentiable: d/dx = 1 / (1 + x), given by a custom gradient
 * because the value's guarded 0/0 branch would otherwise send NaN through `where`.
 */
export function log1p(x: TensorOrNumber): Tensor {
  const f = tf.customGrad(((a: Tensor, save: (ts: Tensor[]) => void) => {
    save([a]);
    return { value: log1pT(a), gradFunc: (dy: Tensor, saved: Tensor[]) => tf.div(dy, tf.add(1, saved[0])) };
  }) as never);
  return f(toFloatTensor(x)) as Tensor;
}

/**
 * Returns exp(x) - 1, accurate for tiny |x| (Kahan: with u = exp(x), (u - 1) x / log u).
 * Differentiable: d/dx = exp(x).
 */
export function expm1(x: TensorOrNumber): Tensor {
  const f = tf.customGrad(((a: Tensor, save: (ts: Tensor[]) => void) => {
    save([a]);
    const u = tf.exp(a);
    const um1 = tf.sub(u, 1);
    const lu = tf.log(u);
    const kahan = tf.mul(um1, tf.div(a, lu));
    // u == 1: |x| below eps, expm1(x) = x; u - 1 == -1: exp underflowed; large x: ratio is 1.
    const value = tf.where(tf.equal(um1, 0), a, tf.where(tf.logicalOr(tf.equal(um1, -1), tf.greater(tf.abs(a), 0.5)), um1, kahan));
    return { value, gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, tf.exp(saved[0])) };
  }) as never);
  return f(toFloatTensor(x)) as Tensor;
}

function toFloatTensor(x: TensorOrNumber): Tensor {
  return typeof x === 'number' ? tf.scalar(x) : x.dtype === 'float32' ? x : tf.cast(x, 'float32');
}

/**
 * Returns log Σ exp(x) along `axis`, stably (shift by the max). Written with plain ops
 * because tfjs's logSumExp is ~30x slower than them on the wasm backend. An all -Infinity
 * slice gives -Infinity: the shift is clamped to -1e30 so no -inf - -inf NaN appears.
 * Differentiable (the shift's gradient cancels).
 */
export function logSumExp(x: Tensor, axis: number | number[] = -1, keepDims = false): Tensor {
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + x.rank : a));
  const m = tf.maximum(tf.max(x, axes, true), -1e30);
  const r = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, m)), axes, true)), m);
  return keepDims ? r : tf.squeeze(r, axes);
}
