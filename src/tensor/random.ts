/**
 * Seeded, splittable random numbers (JAX/NumPyro style).
 *
 * A `Key` is an immutable pair of uint32 words. Keys are never "used up": `split` and `fold`
 * derive new keys by hashing the parent with the counter-based generator threefry2x32-20
 * (Salmon et al. 2011, as in JAX), and `rng()` opens a mutable stream `Rng` whose i-th block
 * is threefry(streamKey, i). Everything is plain integer arithmetic in JS (Math.imul-free:
 * additions and rotations on uint32 via `>>> 0`), so the same seed gives the same draws on
 * every backend, platform and run.
 *
 * Domain separation: a key's split children, fold children and stream key are hashed with
 * different tags in the counter's high word, so none of them can coincide. Note that
 * `key.split(n)[i]` does not depend on n (a prefix property, unlike JAX).
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { bd0F64, logSumExpF64, stirlerrF64 } from './special';

const TAG_SPLIT = 0x73706c74; // 'splt'
const TAG_FOLD = 0x666f6c64; // 'fold'
const TAG_STREAM = 0x726e6773; // 'rngs'

const OUT = new Uint32Array(2);

/**
 * threefry2x32 with 20 rounds: writes the two output words for key (k0, k1) and counter
 * (x0, x1) into OUT. Rotation constants and key schedule as in Random123 / JAX.
 */
function threefry2x32(k0: number, k1: number, x0: number, x1: number): void {
  const k2 = (k0 ^ k1 ^ 0x1bd11bda) >>> 0;
  x0 = (x0 + k0) >>> 0;
  x1 = (x1 + k1) >>> 0;
  // Round group 1: rotations 13 15 26 6, then inject (k1, k2 + 1).
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + k1) >>> 0; x1 = ((x1 >>> 0) + k2 + 1) >>> 0;
  // Round group 2: rotations 17 29 16 24, then inject (k2, k0 + 2).
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
  x0 = (x0 + k2) >>> 0; x1 = ((x1 >>> 0) + k0 + 2) >>> 0;
  // Round group 3: then inject (k0, k1 + 3).
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + k0) >>> 0; x1 = ((x1 >>> 0) + k1 + 3) >>> 0;
  // Round group 4: then inject (k1, k2 + 4).
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 17) | (x1 >>> 15)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 29) | (x1 >>> 3)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 16) | (x1 >>> 16)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 24) | (x1 >>> 8)) ^ x0;
  x0 = (x0 + k1) >>> 0; x1 = ((x1 >>> 0) + k2 + 4) >>> 0;
  // Round group 5: then inject (k2, k0 + 5).
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 13) | (x1 >>> 19)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 15) | (x1 >>> 17)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 26) | (x1 >>> 6)) ^ x0;
  x0 = (x0 + x1) >>> 0; x1 = ((x1 << 6) | (x1 >>> 26)) ^ x0;
  x0 = (x0 + k2) >>> 0; x1 = ((x1 >>> 0) + k0 + 5) >>> 0;
  OUT[0] = x0;
  OUT[1] = x1;
}

/**
 * Writes threefry2x32((k0, k1), (x0, x1)) into out[0], out[1] without allocating (the JS
 * kernels of the counter-based tensor draws, fused/threefry.ts).
 */
export function threefry2x32Into(k0: number, k1: number, x0: number, x1: number, out: Uint32Array): void {
  threefry2x32(k0 >>> 0, k1 >>> 0, x0 >>> 0, x1 >>> 0);
  out[0] = OUT[0];
  out[1] = OUT[1];
}

/** Returns threefry2x32(key, counter) as a pair of uint32 (exported for known-answer tests). */
export function threefry2x32Block(key: readonly [number, number], counter: readonly [number, number]): [number, number] {
  threefry2x32(key[0] >>> 0, key[1] >>> 0, counter[0] >>> 0, counter[1] >>> 0);
  return [OUT[0], OUT[1]];
}

function checkUint32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${what} must be an integer in [0, 2^32), got ${v}`);
  }
}

/** An immutable PRNG key: two uint32 words. Derive new keys with `split`/`fold`; draw with `rng()`. */
export class Key {
  private constructor(
    /** high word */
    readonly hi: number,
    /** low word */
    readonly lo: number,
  ) {}

  /**
   * Returns the key for an integer seed (any safe integer; negative seeds are taken as
   * 64-bit two's complement, so Key.seed(-1) is [0xffffffff, 0xffffffff]).
   */
  static seed(n: number): Key {
    if (!Number.isSafeInteger(n)) throw new RangeError(`Key.seed: seed must be a safe integer, got ${n}`);
    const u = BigInt.asUintN(64, BigInt(n));
    return new Key(Number(u >> 32n), Number(u & 0xffffffffn));
  }

  /** Returns the key with the given words (as printed by `toString`). */
  static fromWords(hi: number, lo: number): Key {
    checkUint32(hi, 'Key.fromWords: hi');
    checkUint32(lo, 'Key.fromWords: lo');
    return new Key(hi, lo);
  }

  /** Returns n (default 2) new keys, independent of each other and of this key's stream. */
  split(n = 2): Key[] {
    if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
      throw new RangeError(`Key.split: n must be a positive integer below 2^32, got ${n}`);
    }
    const keys: Key[] = new Array(n);
    for (let i = 0; i < n; i++) {
      threefry2x32(this.hi, this.lo, i, TAG_SPLIT);
      keys[i] = new Key(OUT[0], OUT[1]);
    }
    return keys;
  }

  /** Returns the key derived from this one and the integer i in [0, 2^32) (JAX's fold_in). */
  fold(i: number): Key {
    checkUint32(i, 'Key.fold: i');
    threefry2x32(this.hi, this.lo, i, TAG_FOLD);
    return new Key(OUT[0], OUT[1]);
  }

  /** Returns a fresh stream of draws for this key; every call gives the same stream. */
  rng(): Rng {
    return new Rng(this);
  }

  /** Returns true when both words agree. */
  equals(other: Key): boolean {
    return this.hi === other.hi && this.lo === other.lo;
  }

  /** Returns the two words, high first. */
  words(): [number, number] {
    return [this.hi, this.lo];
  }

  /** Returns e.g. `Key(0x00000000, 0x0000002a)`. */
  toString(): string {
    const h = (v: number) => '0x' + v.toString(16).padStart(8, '0');
    return `Key(${h(this.hi)}, ${h(this.lo)})`;
  }
}

const TWO_PI = 2 * Math.PI;
const LOG_2PI = Math.log(TWO_PI);

function fail(method: string, msg: string): never {
  throw new RangeError(`Rng.${method}: ${msg}`);
}

function checkPositive(method: string, name: string, v: number): void {
  if (!(v > 0) || v === Infinity) fail(method, `${name} must be a positive finite number, got ${v}`);
}

function checkProbability(method: string, name: string, p: number): void {
  if (!(p >= 0 && p <= 1)) fail(method, `${name} must be a probability in [0, 1], got ${p}`);
}

/** log P(X = k) for X ~ Poisson(λ), k >= 0 integer, λ > 0, by Loader's saddle-point form (exact for huge λ). */
function logPoissonPmf(k: number, lambda: number): number {
  if (k === 0) return -lambda;
  return -stirlerrF64(k) - bd0F64(k, lambda) - 0.5 * (LOG_2PI + Math.log(k));
}

/** log P(X = k) for X ~ Binomial(n, p), by Loader's form (no cancellation of log-factorials). */
function logBinomialPmf(k: number, n: number, p: number, q: number): number {
  if (k === 0) return n * Math.log1p(-p);
  if (k === n) return n * Math.log(p);
  const lc = stirlerrF64(n) - stirlerrF64(k) - stirlerrF64(n - k) - bd0F64(k, n * p) - bd0F64(n - k, n * q);
  return lc - 0.5 * (LOG_2PI + Math.log(k) + Math.log1p(-k / n));
}

/**
 * A mutable stream of float64 draws made from a `Key` (for simulation and for samplers).
 * Not shareable across "independent" uses: split the key instead.
 */
export class Rng {
  private readonly k0: number;
  private readonly k1: number;
  private ctrLo = 0;
  private ctrHi = 0;
  private spareWord = 0;
  private hasSpareWord = false;
  private spareNormal = 0;
  private hasSpareNormal = false;

  constructor(key: Key) {
    threefry2x32(key.hi, key.lo, 0, TAG_STREAM);
    this.k0 = OUT[0];
    this.k1 = OUT[1];
  }

  /** Returns the next uniformly distributed 32-bit unsigned integer. */
  uint32(): number {
    if (this.hasSpareWord) {
      this.hasSpareWord = false;
      return this.spareWord;
    }
    threefry2x32(this.k0, this.k1, this.ctrLo, this.ctrHi);
    this.ctrLo = (this.ctrLo + 1) >>> 0;
    if (this.ctrLo === 0) this.ctrHi = (this.ctrHi + 1) >>> 0;
    this.spareWord = OUT[1];
    this.hasSpareWord = true;
    return OUT[0];
  }

  /** Returns a uniform draw on the open interval (0, 1): j / 2^53 for j uniform on 1..2^53-1. */
  uniform(): number {
    for (;;) {
      const j = (this.uint32() >>> 5) * 67108864 + (this.uint32() >>> 6); // 27 + 26 bits
      if (j !== 0) return j * 1.1102230246251565e-16; // 2^-53, exact
    }
  }

  /** Returns a uniform integer in {0, ..., n-1} for an integer 1 <= n <= 2^32 (unbiased). */
  uniformInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) fail('uniformInt', `n must be an integer in [1, 2^32], got ${n}`);
    // Reject the top 2^32 mod n values so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** Returns a normal draw with mean mu and standard deviation sigma (Box–Muller; pairs cached). */
  normal(mu = 0, sigma = 1): number {
    if (!Number.isFinite(mu)) fail('normal', `mu must be finite, got ${mu}`);
    if (!(sigma >= 0) || sigma === Infinity) fail('normal', `sigma must be a nonnegative finite number, got ${sigma}`);
    return mu + sigma * this.stdNormal();
  }

  private stdNormal(): number {
    if (this.hasSpareNormal) {
      this.hasSpareNormal = false;
      return this.spareNormal;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = TWO_PI * this.uniform();
    this.spareNormal = r * Math.sin(theta);
    this.hasSpareNormal = true;
    return r * Math.cos(theta);
  }

  /** Returns an exponential draw with the given rate (default 1). */
  exponential(rate = 1): number {
    checkPositive('exponential', 'rate', rate);
    return -Math.log(this.uniform()) / rate;
  }

  /**
   * Returns log G for G ~ Gamma(shape, rate 1): exact even when G itself would underflow
   * (shape 0.01 puts ~1% of its mass below 1e-200). Marsaglia–Tsang, with the boost
   * G(a) = G(a+1) U^{1/a} for a < 1 applied in log form.
   */
  gammaLog(shape: number): number {
    checkPositive('gammaLog', 'shape', shape);
    if (shape >= 1) return Math.log(this.marsagliaTsang(shape));
    return Math.log(this.marsagliaTsang(shape + 1)) + Math.log(this.uniform()) / shape;
  }

  /** Returns a Gamma(shape, rate) draw (default rate 1; mean shape/rate). May underflow to 0 for tiny shapes. */
  gamma(shape: number, rate = 1): number {
    checkPositive('gamma', 'shape', shape);
    checkPositive('gamma', 'rate', rate);
    const g = shape >= 1 ? this.marsagliaTsang(shape) : Math.exp(this.gammaLog(shape));
    return g / rate;
  }

  private marsagliaTsang(a: number): number {
    // Marsaglia & Tsang (2000), a >= 1: accept d·v, v = (1 + c x)³, x normal.
    const d = a - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.stdNormal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return d * v; // squeeze
      if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Returns a Beta(a, b) draw, as G_a/(G_a + G_b) computed from log-gammas (no 0/0 for tiny a, b). */
  beta(a: number, b: number): number {
    checkPositive('beta', 'a', a);
    checkPositive('beta', 'b', b);
    const la = this.gammaLog(a);
    const lb = this.gammaLog(b);
    return 1 / (1 + Math.exp(lb - la));
  }

  /** Returns a chi-square draw with k > 0 degrees of freedom (2·Gamma(k/2)). */
  chiSquare(k: number): number {
    checkPositive('chiSquare', 'k', k);
    return 2 * this.gamma(k / 2);
  }

  /**
   * Returns a Student-t draw with nu > 0 degrees of freedom: Z / √(χ²_ν/ν). For nu below
   * ~0.05 some draws exceed the double range and come back as ±Infinity (never NaN).
   */
  studentT(nu: number): number {
    checkPositive('studentT', 'nu', nu);
    const z = this.stdNormal();
    // √(ν / (2G)), G ~ Gamma(ν/2), in log form so tiny ν cannot give 0/0.
    return z * Math.exp(0.5 * (Math.log(nu / 2) - this.gammaLog(nu / 2)));
  }

  /**
   * Returns a Poisson(lambda) draw: inversion for lambda < 10, Hörmann's PTRS transformed
   * rejection otherwise (O(1) expected time for any lambda; acceptance uses Loader's exact
   * log-pmf, so lambda = 1e15 is as exact as lambda = 15). lambda = 0 gives 0.
   */
  poisson(lambda: number): number {
    if (!(lambda >= 0) || lambda === Infinity) fail('poisson', `lambda must be a nonnegative finite number, got ${lambda}`);
    if (lambda === 0) return 0;
    if (lambda < 10) {
      const u = this.uniform();
      let k = 0;
      let p = Math.exp(-lambda);
      let s = p;
      while (u > s) {
        k++;
        p *= lambda / k;
        s += p;
        if (p === 0) break; // u within rounding of 1: the remaining mass is < 1e-300
      }
      return k;
    }
    // PTRS (Hörmann 1993), constants as in NumPy.
    const slam = Math.sqrt(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const logInvAlpha = Math.log(1.1239 + 1.1328 / (b - 3.4));
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5;
      const v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + logInvAlpha - Math.log(a / (us * us) + b) <= logPoissonPmf(k, lambda)) return k;
    }
  }

  /**
   * Returns a Binomial(n, p) draw for an integer n >= 0: inversion when n·min(p, 1-p) < 10,
   * Hörmann's BTRS transformed rejection otherwise (O(1) expected time; n = 1e9 is fast).
   */
  binomial(n: number, p: number): number {
    if (!Number.isSafeInteger(n) || n < 0) fail('binomial', `n must be a nonnegative integer, got ${n}`);
    checkProbability('binomial', 'p', p);
    if (n === 0 || p === 0) return 0;
    if (p === 1) return n;
    if (p > 0.5) return n - this.binomial(n, 1 - p); // 1 - p is exact here
    const q = 1 - p;
    const np = n * p;
    if (np < 10) {
      // Inversion by sequential search from 0 (NumPy's), restarting past a far bound.
      const qn = Math.exp(n * Math.log1p(-p));
      const bound = Math.min(n, np + 10 * Math.sqrt(np * q + 1));
      let x = 0;
      let px = qn;
      let u = this.uniform();
      while (u > px) {
        x++;
        if (x > bound) {
          x = 0;
          px = qn;
          u = this.uniform();
        } else {
          u -= px;
          px = ((n - x + 1) * p * px) / (x * q);
        }
      }
      return x;
    }
    // BTRS (Hörmann 1993), as in TFP/JAX; the acceptance ratio pmf(k)/pmf(m) is taken from
    // Loader's log-pmf, so there is no cancellation of huge log-factorials at n = 1e9.
    const spq = Math.sqrt(np * q);
    const b = 1.15 + 2.53 * spq;
    const a = -0.0873 + 0.0248 * b + 0.01 * p;
    const c = np + 0.5;
    const vr = 0.92 - 4.2 / b;
    const alpha = (2.83 + 5.1 / b) * spq;
    const m = Math.floor((n + 1) * p);
    const logPmfM = logBinomialPmf(m, n, p, q);
    for (;;) {
      const u = this.uniform() - 0.5;
      let v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + c);
      if (k < 0 || k > n) continue;
      if (us >= 0.07 && v <= vr) return k;
      v = Math.log((v * alpha) / (a / (us * us) + b));
      if (v <= logBinomialPmf(k, n, p, q) - logPmfM) return k;
    }
  }

  /**
   * Returns a 0-based index drawn with probability proportional to probs[i]. probs need
   * not sum to 1; throws on a negative, NaN or infinite entry, or when all are 0.
   */
  categorical(probs: readonly number[]): number {
    if (probs.length === 0) fail('categorical', 'probs is empty');
    let total = 0;
    for (let i = 0; i < probs.length; i++) {
      const w = probs[i];
      if (!(w >= 0) || w === Infinity) fail('categorical', `probs[${i}] = ${w} must be a nonnegative finite number`);
      total += w;
    }
    if (!(total > 0)) fail('categorical', 'probs are all zero');
    if (total === Infinity) fail('categorical', 'probs sum to Infinity; rescale them');
    const target = this.uniform() * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < probs.length; i++) {
      if (probs[i] > 0) last = i;
      acc += probs[i];
      if (target < acc) return i;
    }
    return last; // rounding left target >= acc: the last category with mass
  }

  /** Returns a 0-based index drawn with probability ∝ exp(logits[i]); -Infinity entries are never drawn. */
  categoricalLogits(logits: readonly number[]): number {
    if (logits.length === 0) fail('categoricalLogits', 'logits is empty');
    let m = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      const l = logits[i];
      if (Number.isNaN(l) || l === Infinity) fail('categoricalLogits', `logits[${i}] = ${l} must be a number < Infinity`);
      if (l > m) m = l;
    }
    if (m === -Infinity) fail('categoricalLogits', 'logits are all -Infinity');
    return this.categorical(logits.map((l) => Math.exp(l - m)));
  }

  /**
   * Returns a Dirichlet(alpha) draw (sums to 1 up to rounding), normalising gamma draws in log
   * space so tiny alphas give a vertex-like point rather than 0/0.
   */
  dirichlet(alpha: readonly number[]): number[] {
    if (alpha.length === 0) fail('dirichlet', 'alpha is empty');
    alpha.forEach((a, i) => checkPositive('dirichlet', `alpha[${i}]`, a));
    const logs = alpha.map((a) => this.gammaLog(a));
    const lse = logSumExpF64(logs);
    const x = logs.map((l) => Math.exp(l - lse));
    // l - lse rounds by eps·|l|; renormalising makes the sum 1 to a few ulps.
    let s = 0;
    for (const v of x) s += v;
    return x.map((v) => v / s);
  }

  /**
   * Returns a von Mises(mu, kappa) draw in [-π, π) (Best & Fisher 1979, wrapped Cauchy
   * envelope). The envelope parameter and the accept/reject quantities are written without
   * cancellation (s - 1, 1 - W), so it is exact from kappa = 1e-300 to 1e300.
   */
  vonMises(mu: number, kappa: number): number {
    if (!Number.isFinite(mu)) fail('vonMises', `mu must be finite, got ${mu}`);
    if (!(kappa >= 0) || kappa === Infinity) fail('vonMises', `kappa must be a nonnegative finite number, got ${kappa}`);
    let theta: number;
    if (kappa < 1e-300) {
      theta = Math.PI * (2 * this.uniform() - 1); // the density differs from uniform by < 1e-300
    } else {
      // r = 1 + √(1 + 4κ²), ρ = (r - √(2r))/(2κ) = 2κ/(r + √(2r)), s = (1 + ρ²)/(2ρ);
      // s - 1 = (1 - ρ)²/(2ρ) with 1 - ρ = (1 + 1/(√(1+4κ²) + 2κ) + √(2r))/(r + √(2r)).
      const h = Math.hypot(1, 2 * kappa);
      const r = 1 + h;
      const den = r + Math.sqrt(2 * r);
      const rho = (2 * kappa) / den;
      const oneMinusRho = (1 + 1 / (h + 2 * kappa) + Math.sqrt(2 * r)) / den;
      const sm1 = (oneMinusRho * oneMinusRho) / (2 * rho);
      const s = 1 + sm1;
      for (;;) {
        const u = this.uniform();
        const z = Math.cos(Math.PI * u);
        const sinHalf = Math.sin((Math.PI * u) / 2);
        const oneMinusZ = 2 * sinHalf * sinHalf;
        // W = (1 + sZ)/(s + Z);  1 - W = (s-1)(1-Z)/(s+Z);  Y = κ(s - W) = κ(s² - 1)/(s + Z)
        const spz = s + z;
        const oneMinusW = (sm1 * oneMinusZ) / spz;
        const y = (kappa * sm1 * (s + 1)) / spz;
        const v = this.uniform();
        if (y * (2 - y) - v >= 0 || Math.log(y / v) + 1 - y >= 0) {
          // acos(W) = 2 asin(√((1 - W)/2)), accurate when W ≈ 1
          theta = 2 * Math.asin(Math.sqrt(Math.min(1, oneMinusW / 2)));
          if (this.uniform() < 0.5) theta = -theta;
          break;
        }
      }
    }
    const x = mu + theta;
    return x - TWO_PI * Math.floor((x + Math.PI) / TWO_PI);
  }

  /**
   * Returns a negative binomial draw: the number of failures before the r-th success with
   * success probability p (mean r(1-p)/p), as Poisson(Gamma(r)·(1-p)/p). r > 0 may be real.
   */
  negBinomial(r: number, p: number): number {
    checkPositive('negBinomial', 'r', r);
    if (!(p > 0 && p <= 1)) fail('negBinomial', `p must be in (0, 1], got ${p}`);
    if (p === 1) return 0;
    const lambda = Math.exp(this.gammaLog(r) + Math.log1p(-p) - Math.log(p));
    if (lambda === Infinity) fail('negBinomial', `the Poisson rate overflowed (r = ${r}, p = ${p})`);
    return this.poisson(lambda);
  }

  /** Returns an integer seed in [0, 2^32) for TensorFlow.js random ops, taken from this stream. */
  tensorSeed(): number {
    return this.uint32();
  }
}

/** Checks a tensor shape (an array of nonnegative integers) for `fn`'s messages and returns its size. */
export function checkShape(shape: readonly number[], fn: string): number {
  if (!Array.isArray(shape)) throw new RangeError(`${fn}: shape must be an array of nonnegative integers`);
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${fn}: shape entries must be nonnegative integers, got [${shape.join(', ')}]`);
    size *= d;
  }
  return size;
}

/**
 * Returns a float32 tensor of uniform draws on (0, 1) from `key`'s stream, drawn in JS so
 * the values do not depend on the backend. Each value is a 53-bit uniform rounded to float32,
 * redrawn in the rare case (p = 2^-25) that it rounds to 1.
 */
export function uniformTensor(key: Key, shape: number[]): Tensor {
  const size = checkShape(shape, 'uniformTensor');
  const rng = key.rng();
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let u = Math.fround(rng.uniform());
    while (u === 1) u = Math.fround(rng.uniform());
    data[i] = u;
  }
  return tf.tensor(data, shape, 'float32');
}

/** Returns a float32 tensor of standard normal draws from `key`'s stream (backend-independent). */
export function normalTensor(key: Key, shape: number[]): Tensor {
  const size = checkShape(shape, 'normalTensor');
  const rng = key.rng();
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = rng.normal();
  return tf.tensor(data, shape, 'float32');
}
