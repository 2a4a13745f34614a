/**
 * Hamiltonian Monte Carlo transitions in float64 on the host: the leapfrog integrator with a
 * diagonal or dense Euclidean metric, the multinomial No-U-Turn sampler and static HMC, as
 * in Stan (`stan/mcmc/hmc/nuts/base_nuts.hpp`, `static/base_static_hmc.hpp`,
 * `base_hmc.hpp::init_stepsize`; Betancourt 2017, "A Conceptual Introduction to
 * Hamiltonian Monte Carlo", appendix A).
 *
 * Conventions: the potential is V(q) = -log p(q); the kinetic energy is
 * K(p) = ½ pᵀ M⁻¹ p with the *inverse* metric M⁻¹ (Stan's `inv_metric`); the Hamiltonian is
 * H = V + K. A non-finite log density (NaN, ±Infinity) is taken as -Infinity, so H = +Infinity
 * there and any step that reaches it is a divergence. Momentum is never flipped: the
 * backward direction integrates with a negative step size, as Stan does.
 */
import type { Rng } from '../../tensor/random';

/** Log density (up to a constant) of an unconstrained vector, with its gradient (see `sampler.ts`). */
export interface GradientTarget {
  readonly dim: number;
  logDensityGrad(u: Float64Array, grad: Float64Array): number;
  /**
   * Optional: log π at several points as one evaluation (each gradient written into
   * `grads[b]`), used by the samplers that move many points together (the Langevin chains,
   * annealed Langevin's cloud). Must equal `logDensityGrad` point by point up to rounding.
   */
  logDensityGrads?(us: readonly Float64Array[], grads: readonly Float64Array[]): Float64Array;
}

/**
 * Deliberate kernel bugs, for tests only (they exist so a test suite can show that its
 * checks catch a wrong kernel; never use them for inference):
 *
 * - `'acceptance'`: the multinomial weights use exp(-(V - K)) — the kinetic term with the
 *   wrong sign — instead of exp(-(V + K)), so NUTS favours low-potential states and
 *   under-disperses. Static HMC's Metropolis test uses the same wrong energy, which rewards
 *   large kinetic energy: that chain typically runs away to infinity (and then its own MCSE
 *   is huge, so a z-score against it is not a reliable detector).
 * - `'leapfrog'`: the closing momentum half step of each leapfrog is skipped, so the
 *   integrator is no longer time-reversible (the trajectory is a different, uncorrected flow).
 */
export type TestBias = 'acceptance' | 'leapfrog';

// ---------------------------------------------------------------------------------------
// Euclidean metrics
// ---------------------------------------------------------------------------------------

/** A Euclidean metric: the kinetic energy ½ pᵀ M⁻¹ p, its gradient M⁻¹ p, and momentum draws p ~ N(0, M). */
export interface Metric {
  readonly kind: 'diag' | 'dense';
  readonly dim: number;
  /** The inverse metric: length dim (diag) or dim·dim row-major (dense). A copy. */
  inverse(): Float64Array;
  /** Returns K(p) = ½ pᵀ M⁻¹ p. */
  kinetic(p: Float64Array): number;
  /** Writes dK/dp = M⁻¹ p (Stan's "sharp" momentum) into `out`. */
  velocity(p: Float64Array, out: Float64Array): void;
  /** Writes a draw p ~ N(0, M) into `out`. */
  sampleMomentum(rng: Rng, out: Float64Array): void;
}

/** Returns the diagonal metric with inverse metric diag(`invMetric`) (entries positive and finite; copied). */
export function diagMetric(invMetric: ArrayLike<number>): Metric {
  const n = invMetric.length;
  if (n < 1) throw new RangeError('diagMetric: invMetric must have at least one entry');
  const inv = Float64Array.from(invMetric);
  const sd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (!(inv[i] > 0) || inv[i] === Infinity) {
      throw new RangeError(`diagMetric: invMetric[${i}] must be positive and finite, got ${inv[i]}`);
    }
    sd[i] = 1 / Math.sqrt(inv[i]);
  }
  return {
    kind: 'diag',
    dim: n,
    inverse: () => Float64Array.from(inv),
    kinetic(p) {
      let s = 0;
      for (let i = 0; i < n; i++) s += inv[i] * p[i] * p[i];
      return 0.5 * s;
    },
    velocity(p, out) {
      for (let i = 0; i < n; i++) out[i] = inv[i] * p[i];
    },
    sampleMomentum(rng, out) {
      for (let i = 0; i < n; i++) out[i] = sd[i] * rng.normal();
    },
  };
}

/**
 * Returns the lower Cholesky factor L (row-major n×n, L Lᵀ = a) of a symmetric positive
 * definite row-major n×n matrix, or throws a RangeError naming `what` if it is not.
 */
export function choleskyLower(a: ArrayLike<number>, n: number, what = 'matrix'): Float64Array {
  if (a.length !== n * n) throw new RangeError(`choleskyLower: ${what} must have ${n}×${n} = ${n * n} entries, got ${a.length}`);
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0) || !Number.isFinite(d)) {
      throw new RangeError(`choleskyLower: ${what} is not symmetric positive definite (pivot ${j} is ${d})`);
    }
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  return L;
}

/**
 * Returns the dense metric with the given inverse metric (row-major dim×dim, symmetric
 * positive definite; copied and symmetrised). Momenta are drawn as p = L⁻ᵀ z with
 * L Lᵀ = M⁻¹ and z ~ N(0, I), so Cov(p) = M, as in Stan's `dense_e_metric`.
 */
export function denseMetric(invMetric: ArrayLike<number>, dim: number): Metric {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`denseMetric: dim must be a positive integer, got ${dim}`);
  if (invMetric.length !== dim * dim) {
    throw new RangeError(`denseMetric: invMetric must have dim·dim = ${dim * dim} entries, got ${invMetric.length}`);
  }
  const n = dim;
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = 0.5 * (invMetric[i * n + j] + invMetric[j * n + i]);
      if (!Number.isFinite(v)) throw new RangeError(`denseMetric: invMetric[${i}, ${j}] must be finite, got ${invMetric[i * n + j]}`);
      inv[i * n + j] = v;
    }
  }
  const L = choleskyLower(inv, n, 'denseMetric: invMetric');
  const z = new Float64Array(n);
  return {
    kind: 'dense',
    dim: n,
    inverse: () => Float64Array.from(inv),
    kinetic(p) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        let r = 0;
        const row = i * n;
        for (let j = 0; j < n; j++) r += inv[row + j] * p[j];
        s += p[i] * r;
      }
      return 0.5 * s;
    },
    velocity(p, out) {
      for (let i = 0; i < n; i++) {
        let r = 0;
        const row = i * n;
        for (let j = 0; j < n; j++) r += inv[row + j] * p[j];
        out[i] = r;
      }
    },
    sampleMomentum(rng, out) {
      for (let i = 0; i < n; i++) z[i] = rng.normal();
      // Back substitution: Lᵀ out = z.
      for (let i = n - 1; i >= 0; i--) {
        let s = z[i];
        for (let k = i + 1; k < n; k++) s -= L[k * n + i] * out[k];
        out[i] = s / L[i * n + i];
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// Phase points and the Hamiltonian
// ---------------------------------------------------------------------------------------

/** A point in phase space: position q, momentum p, log density lp = -V(q) and its gradient g = ∇ log p(q). */
export class PhasePoint {
  readonly q: Float64Array;
  readonly p: Float64Array;
  readonly g: Float64Array;
  lp = -Infinity;

  constructor(dim: number) {
    this.q = new Float64Array(dim);
    this.p = new Float64Array(dim);
    this.g = new Float64Array(dim);
  }

  /** Copies every field of `other` into this point. */
  copyFrom(other: PhasePoint): void {
    this.q.set(other.q);
    this.p.set(other.p);
    this.g.set(other.g);
    this.lp = other.lp;
  }
}

/** log(exp(a) + exp(b)), exact when either is -Infinity. */
export function logSumExp2(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** The separable Hamiltonian H(q, p) = -log p(q) + ½ pᵀ M⁻¹ p for a target and a metric, with its leapfrog. */
export class Hamiltonian {
  /** Gradient evaluations so far (each leapfrog step costs one). */
  gradientEvaluations = 0;
  private readonly v: Float64Array;

  constructor(
    readonly target: GradientTarget,
    public metric: Metric,
    /** Test-only kernel bug (see `TestBias`); undefined for the correct kernel. */
    readonly testBias?: TestBias,
  ) {
    if (metric.dim !== target.dim) {
      throw new RangeError(`Hamiltonian: metric dimension ${metric.dim} does not match target dimension ${target.dim}`);
    }
    this.v = new Float64Array(target.dim);
  }

  /** Evaluates the log density and gradient at z.q into z.lp, z.g (non-finite log densities become -Infinity). */
  evaluate(z: PhasePoint): void {
    this.gradientEvaluations++;
    const lp = this.target.logDensityGrad(z.q, z.g);
    z.lp = Number.isFinite(lp) ? lp : -Infinity;
  }

  /** Returns H = -lp + K(p), with NaN mapped to +Infinity. */
  energy(z: PhasePoint): number {
    const h = -z.lp + this.metric.kinetic(z.p);
    return Number.isNaN(h) ? Infinity : h;
  }

  /**
   * Returns the energy used in the multinomial (or Metropolis) weights: H itself, or, under
   * the `'acceptance'` test bias, V - K.
   */
  weightEnergy(z: PhasePoint, h: number): number {
    if (this.testBias !== 'acceptance') return h;
    const hb = -z.lp - this.metric.kinetic(z.p);
    return Number.isNaN(hb) ? Infinity : hb;
  }

  /** Writes the sharp momentum M⁻¹ p of z into `out`. */
  velocity(z: PhasePoint, out: Float64Array): void {
    this.metric.velocity(z.p, out);
  }

  /** Draws a fresh momentum p ~ N(0, M) into z.p. */
  sampleMomentum(z: PhasePoint, rng: Rng): void {
    this.metric.sampleMomentum(rng, z.p);
  }

  /**
   * One leapfrog step of size eps (negative integrates backwards) in place: half kick
   * p += ε/2 ∇log p(q), drift q += ε M⁻¹ p, new gradient, half kick.
   */
  leapfrog(z: PhasePoint, eps: number): void {
    this.kickDrift(z, eps);
    this.evaluate(z);
    this.kick(z, eps);
  }

  /** The leapfrog step's first half kick and drift (then the gradient at the new q is needed; see `leapfrog`). */
  kickDrift(z: PhasePoint, eps: number): void {
    const n = z.q.length;
    const { q, p, g } = z;
    const half = 0.5 * eps;
    for (let i = 0; i < n; i++) p[i] += half * g[i];
    this.metric.velocity(p, this.v);
    for (let i = 0; i < n; i++) q[i] += eps * this.v[i];
  }

  /** The leapfrog step's second half kick, with the gradient at the new q (see `leapfrog`). */
  kick(z: PhasePoint, eps: number): void {
    if (this.testBias === 'leapfrog') return;
    const n = z.q.length;
    const { p, g } = z;
    const half = 0.5 * eps;
    for (let i = 0; i < n; i++) p[i] += half * g[i];
  }
}

// ---------------------------------------------------------------------------------------
// Per-draw statistics
// ---------------------------------------------------------------------------------------

/** Sampler statistics of one transition, named as in Stan's CSV output (without the trailing `__`). */
export interface DrawStats {
  /** Log density (up to the target's constant) at the draw. */
  lp: number;
  /** NUTS: mean over the trajectory of min(1, exp(H0 - H)); static HMC: the Metropolis acceptance probability. */
  accept_stat: number;
  /** The step size used (after jitter). */
  stepsize: number;
  /** NUTS tree depth reached (0 for static HMC). */
  treedepth: number;
  /** Leapfrog steps taken. */
  n_leapfrog: number;
  /** 1 if the trajectory diverged (H - H0 > maxDeltaH, or a non-finite energy), else 0. */
  divergent: 0 | 1;
  /** The Hamiltonian at the draw (with its momentum). */
  energy: number;
}

// ---------------------------------------------------------------------------------------
// NUTS
// ---------------------------------------------------------------------------------------

/** Options of the NUTS transition. */
export interface NutsOptions {
  /** Maximum tree depth (default 10: at most 2^10 - 1 leapfrog steps). */
  maxTreeDepth?: number;
  /** Energy error above which a trajectory is divergent (default 1000, Stan's max_deltaH). */
  maxDeltaH?: number;
}

/** Scratch vectors of one `buildTree` depth level (the recursion uses each level once at a time). */
interface TreeLevel {
  pInitEnd: Float64Array;
  pSharpInitEnd: Float64Array;
  rhoInit: Float64Array;
  zProposeFinal: PhasePoint;
  pFinalBeg: Float64Array;
  pSharpFinalBeg: Float64Array;
  rhoFinal: Float64Array;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** dot(a, b + c) without a temporary. */
function dotSum(a: Float64Array, b: Float64Array, c: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * (b[i] + c[i]);
  return s;
}

/**
 * Stan's generalised no-U-turn criterion on the trajectory span rho = b + c with sharp
 * momenta at its ends: p♯₋·rho > 0 and p♯₊·rho > 0.
 */
function criterion(pSharpMinus: Float64Array, pSharpPlus: Float64Array, b: Float64Array, c: Float64Array): boolean {
  return dotSum(pSharpPlus, b, c) > 0 && dotSum(pSharpMinus, b, c) > 0;
}

/**
 * The multinomial No-U-Turn sampler of Stan's `base_nuts` (2.2x and later): trajectories
 * are doubled in random directions until the generalised no-U-turn criterion fails —
 * checked across each merged tree and, as added in Stan 2.23, across the extended spans
 * between adjacent subtrees — the maximum depth is reached, or a divergence occurs. The
 * draw is chosen by biased progressive sampling between the old trajectory and each new
 * subtree, and uniformly (multinomially) within subtrees.
 */
export class NutsKernel {
  readonly maxTreeDepth: number;
  readonly maxDeltaH: number;
  private readonly dim: number;
  private readonly levels: TreeLevel[] = [];
  // Top-level state.
  private readonly zFwd: PhasePoint;
  private readonly zBck: PhasePoint;
  private readonly zSample: PhasePoint;
  private readonly zPropose: PhasePoint;
  private readonly z: PhasePoint;
  private readonly pFwdFwd: Float64Array;
  private readonly pSharpFwdFwd: Float64Array;
  private readonly pFwdBck: Float64Array;
  private readonly pSharpFwdBck: Float64Array;
  private readonly pBckFwd: Float64Array;
  private readonly pSharpBckFwd: Float64Array;
  private readonly pBckBck: Float64Array;
  private readonly pSharpBckBck: Float64Array;
  private readonly rho: Float64Array;
  private readonly rhoFwd: Float64Array;
  private readonly rhoBck: Float64Array;
  // Per-transition accumulators.
  private nLeapfrog = 0;
  private sumMetroProb = 0;
  private divergent = false;
  private H0 = 0;
  private H0w = 0;
  private eps = 0;
  private rng!: Rng;

  constructor(readonly hamiltonian: Hamiltonian, options: NutsOptions = {}) {
    const maxTreeDepth = options.maxTreeDepth ?? 10;
    const maxDeltaH = options.maxDeltaH ?? 1000;
    if (!Number.isInteger(maxTreeDepth) || maxTreeDepth < 1 || maxTreeDepth > 30) {
      throw new RangeError(`NutsKernel: maxTreeDepth must be an integer in [1, 30], got ${maxTreeDepth}`);
    }
    if (!(maxDeltaH > 0)) throw new RangeError(`NutsKernel: maxDeltaH must be positive, got ${maxDeltaH}`);
    this.maxTreeDepth = maxTreeDepth;
    this.maxDeltaH = maxDeltaH;
    const n = (this.dim = hamiltonian.target.dim);
    const vec = () => new Float64Array(n);
    this.zFwd = new PhasePoint(n);
    this.zBck = new PhasePoint(n);
    this.zSample = new PhasePoint(n);
    this.zPropose = new PhasePoint(n);
    this.z = new PhasePoint(n);
    this.pFwdFwd = vec();
    this.pSharpFwdFwd = vec();
    this.pFwdBck = vec();
    this.pSharpFwdBck = vec();
    this.pBckFwd = vec();
    this.pSharpBckFwd = vec();
    this.pBckBck = vec();
    this.pSharpBckBck = vec();
    this.rho = vec();
    this.rhoFwd = vec();
    this.rhoBck = vec();
  }

  private level(depth: number): TreeLevel {
    while (this.levels.length <= depth) {
      const n = this.dim;
      this.levels.push({
        pInitEnd: new Float64Array(n),
        pSharpInitEnd: new Float64Array(n),
        rhoInit: new Float64Array(n),
        zProposeFinal: new PhasePoint(n),
        pFinalBeg: new Float64Array(n),
        pSharpFinalBeg: new Float64Array(n),
        rhoFinal: new Float64Array(n),
      });
    }
    return this.levels[depth];
  }

  /**
   * One NUTS transition from `state` (its q, lp and g are used; its momentum is redrawn)
   * with step size `eps`. On return `state` holds the draw (with the momentum it had on
   * the trajectory, so `energy` is H there). Returns the transition's statistics.
   */
  transition(state: PhasePoint, eps: number, rng: Rng): DrawStats {
    if (!(eps > 0) || eps === Infinity) throw new RangeError(`NutsKernel.transition: eps must be positive and finite, got ${eps}`);
    const h = this.hamiltonian;
    this.rng = rng;
    this.eps = eps;
    const z = this.z;
    z.copyFrom(state);
    h.sampleMomentum(z, rng);

    this.zFwd.copyFrom(z);
    this.zBck.copyFrom(z);
    this.zSample.copyFrom(z);
    this.zPropose.copyFrom(z);

    this.pFwdFwd.set(z.p);
    h.velocity(z, this.pSharpFwdFwd);
    this.pFwdBck.set(z.p);
    this.pSharpFwdBck.set(this.pSharpFwdFwd);
    this.pBckFwd.set(z.p);
    this.pSharpBckFwd.set(this.pSharpFwdFwd);
    this.pBckBck.set(z.p);
    this.pSharpBckBck.set(this.pSharpFwdFwd);
    this.rho.set(z.p);

    let logSumWeight = 0; // log(exp(H0 - H0))
    this.H0 = h.energy(z);
    this.H0w = h.weightEnergy(z, this.H0);
    this.nLeapfrog = 0;
    this.sumMetroProb = 0;
    this.divergent = false;
    let depth = 0;
    const out = { logSumWeight: -Infinity };

    while (depth < this.maxTreeDepth) {
      this.rhoFwd.fill(0);
      this.rhoBck.fill(0);
      out.logSumWeight = -Infinity;
      let valid: boolean;
      if (rng.uniform() > 0.5) {
        // Extend forward: the old trajectory becomes the backward subtree.
        z.copyFrom(this.zFwd);
        this.rhoBck.set(this.rho);
        this.pBckFwd.set(this.pFwdFwd);
        this.pSharpBckFwd.set(this.pSharpFwdFwd);
        valid = this.buildTree(depth, this.zPropose, this.pSharpFwdBck, this.pSharpFwdFwd, this.rhoFwd,
          this.pFwdBck, this.pFwdFwd, 1, out);
        this.zFwd.copyFrom(z);
      } else {
        // Extend backward: the old trajectory becomes the forward subtree.
        z.copyFrom(this.zBck);
        this.rhoFwd.set(this.rho);
        this.pFwdBck.set(this.pBckBck);
        this.pSharpFwdBck.set(this.pSharpBckBck);
        valid = this.buildTree(depth, this.zPropose, this.pSharpBckFwd, this.pSharpBckBck, this.rhoBck,
          this.pBckFwd, this.pBckBck, -1, out);
        this.zBck.copyFrom(z);
      }
      if (!valid) break;
      depth++;

      // Biased progressive sampling: prefer the new subtree in proportion to its weight.
      const lswSubtree = out.logSumWeight;
      if (lswSubtree > logSumWeight) {
        this.zSample.copyFrom(this.zPropose);
      } else if (rng.uniform() < Math.exp(lswSubtree - logSumWeight)) {
        this.zSample.copyFrom(this.zPropose);
      }
      logSumWeight = logSumExp2(logSumWeight, lswSubtree);

      const rho = this.rho;
      for (let i = 0; i < rho.length; i++) rho[i] = this.rhoBck[i] + this.rhoFwd[i];
      // Across the merged trajectory, then across the spans joining the two subtrees.
      let persist = dot(this.pSharpFwdFwd, rho) > 0 && dot(this.pSharpBckBck, rho) > 0;
      persist = persist && criterion(this.pSharpBckBck, this.pSharpFwdBck, this.rhoBck, this.pFwdBck);
      persist = persist && criterion(this.pSharpBckFwd, this.pSharpFwdFwd, this.rhoFwd, this.pBckFwd);
      if (!persist) break;
    }

    state.copyFrom(this.zSample);
    const nLeapfrog = this.nLeapfrog;
    return {
      lp: state.lp,
      accept_stat: nLeapfrog > 0 ? this.sumMetroProb / nLeapfrog : 0,
      stepsize: eps,
      treedepth: depth,
      n_leapfrog: nLeapfrog,
      divergent: this.divergent ? 1 : 0,
      energy: h.energy(state),
    };
  }

  /**
   * Stan's `build_tree`: extends the trajectory by 2^depth leapfrog steps from this.z in
   * direction `sign`, accumulating into `rho` (which the caller zeroes), writing the
   * subtree's multinomial proposal into zPropose, the (sharp) momenta at its two ends into
   * pBeg/pEnd (pSharpBeg/pSharpEnd), and log-sum-exp-adding its weights into
   * out.logSumWeight. Returns false if the subtree diverged or U-turned internally.
   */
  private buildTree(depth: number, zPropose: PhasePoint, pSharpBeg: Float64Array, pSharpEnd: Float64Array,
    rho: Float64Array, pBeg: Float64Array, pEnd: Float64Array, sign: number, out: { logSumWeight: number }): boolean {
    const h = this.hamiltonian;
    const z = this.z;
    if (depth === 0) {
      h.leapfrog(z, sign * this.eps);
      this.nLeapfrog++;
      const hNew = h.energy(z);
      if (hNew - this.H0 > this.maxDeltaH) this.divergent = true;
      out.logSumWeight = logSumExp2(out.logSumWeight, this.H0w - h.weightEnergy(z, hNew));
      const d = this.H0 - hNew;
      this.sumMetroProb += d > 0 ? 1 : Math.exp(d);
      zPropose.copyFrom(z);
      h.velocity(z, pSharpBeg);
      pSharpEnd.set(pSharpBeg);
      for (let i = 0; i < rho.length; i++) rho[i] += z.p[i];
      pBeg.set(z.p);
      pEnd.set(z.p);
      return !this.divergent;
    }

    const L = this.level(depth);
    // The initial subtree (next to the existing trajectory).
    const init = { logSumWeight: -Infinity };
    L.rhoInit.fill(0);
    const validInit = this.buildTree(depth - 1, zPropose, pSharpBeg, L.pSharpInitEnd, L.rhoInit, pBeg, L.pInitEnd, sign, init);
    if (!validInit) return false;

    // The final subtree.
    L.zProposeFinal.copyFrom(z);
    const fin = { logSumWeight: -Infinity };
    L.rhoFinal.fill(0);
    const validFinal = this.buildTree(depth - 1, L.zProposeFinal, L.pSharpFinalBeg, pSharpEnd, L.rhoFinal, L.pFinalBeg, pEnd, sign, fin);
    if (!validFinal) return false;

    // Uniform (multinomial) sampling between the two halves.
    const lswSubtree = logSumExp2(init.logSumWeight, fin.logSumWeight);
    out.logSumWeight = logSumExp2(out.logSumWeight, lswSubtree);
    if (fin.logSumWeight > lswSubtree) {
      zPropose.copyFrom(L.zProposeFinal);
    } else if (this.rng.uniform() < Math.exp(fin.logSumWeight - lswSubtree)) {
      zPropose.copyFrom(L.zProposeFinal);
    }

    for (let i = 0; i < rho.length; i++) rho[i] += L.rhoInit[i] + L.rhoFinal[i];
    // Across the merged subtree (rho_init + rho_final), then across the joining spans.
    let persist = criterion(pSharpBeg, pSharpEnd, L.rhoInit, L.rhoFinal);
    persist = persist && criterion(pSharpBeg, L.pSharpFinalBeg, L.rhoInit, L.pFinalBeg);
    persist = persist && criterion(L.pSharpInitEnd, pSharpEnd, L.rhoFinal, L.pInitEnd);
    return persist;
  }
}

// ---------------------------------------------------------------------------------------
// Static HMC
// ---------------------------------------------------------------------------------------

/** Options of the static HMC transition. */
export interface StaticHmcOptions {
  /** Energy error above which a trajectory is reported divergent (default 1000). */
  maxDeltaH?: number;
}

/**
 * Static HMC as Stan's `base_static_hmc`: `nSteps` leapfrog steps of size eps, then a
 * Metropolis accept/reject of the end point.
 */
export class StaticHmcKernel {
  readonly maxDeltaH: number;
  private readonly z: PhasePoint;

  constructor(readonly hamiltonian: Hamiltonian, options: StaticHmcOptions = {}) {
    const maxDeltaH = options.maxDeltaH ?? 1000;
    if (!(maxDeltaH > 0)) throw new RangeError(`StaticHmcKernel: maxDeltaH must be positive, got ${maxDeltaH}`);
    this.maxDeltaH = maxDeltaH;
    this.z = new PhasePoint(hamiltonian.target.dim);
  }

  /** One transition from `state` (updated in place to the draw); returns its statistics. */
  transition(state: PhasePoint, eps: number, nSteps: number, rng: Rng): DrawStats {
    if (!(eps > 0) || eps === Infinity) throw new RangeError(`StaticHmcKernel.transition: eps must be positive and finite, got ${eps}`);
    if (!Number.isInteger(nSteps) || nSteps < 1) throw new RangeError(`StaticHmcKernel.transition: nSteps must be a positive integer, got ${nSteps}`);
    const h = this.hamiltonian;
    const z = this.z;
    const start = staticHmcStart(h, state, z, rng);
    let steps = 0;
    for (; steps < nSteps; steps++) {
      h.leapfrog(z, eps);
      if (!(z.lp > -Infinity)) {
        steps++;
        break; // the energy is already infinite: further steps cannot change the outcome
      }
    }
    return staticHmcFinish(h, state, z, start, { eps, steps, maxDeltaH: this.maxDeltaH }, rng);
  }
}

/** A static HMC transition's start: a fresh momentum into `state`, `z` its copy, and the initial energies. @internal */
export function staticHmcStart(h: Hamiltonian, state: PhasePoint, z: PhasePoint, rng: Rng): { H0: number; H0w: number } {
  h.sampleMomentum(state, rng);
  z.copyFrom(state);
  const H0 = h.energy(z);
  return { H0, H0w: h.weightEnergy(z, H0) };
}

/**
 * A static HMC transition's end: the Metropolis test of the trajectory's end `z` against the
 * start (`state` becomes `z` when accepted) and the transition's statistics. @internal
 */
export function staticHmcFinish(
  h: Hamiltonian, state: PhasePoint, z: PhasePoint, start: { H0: number; H0w: number },
  run: { eps: number; steps: number; maxDeltaH: number }, rng: Rng,
): DrawStats {
  const hNew = h.energy(z);
  const divergent = hNew - start.H0 > run.maxDeltaH;
  const weightRatio = Math.exp(start.H0w - h.weightEnergy(z, hNew));
  let acceptProb = Math.exp(start.H0 - hNew);
  if (weightRatio >= 1 || rng.uniform() <= weightRatio) state.copyFrom(z);
  acceptProb = acceptProb > 1 ? 1 : acceptProb;
  return {
    lp: state.lp,
    accept_stat: acceptProb,
    stepsize: run.eps,
    treedepth: 0,
    n_leapfrog: run.steps,
    divergent: divergent ? 1 : 0,
    energy: h.energy(state),
  };
}

// ---------------------------------------------------------------------------------------
// Initial step size
// ---------------------------------------------------------------------------------------

/**
 * Stan's `init_stepsize` heuristic from the position of `state` (unchanged on return):
 * starting from `eps`, double (or halve) the step size until the acceptance probability of
 * one leapfrog step from a fresh momentum crosses 0.8. Returns `eps` unchanged when it is
 * 0, NaN or above 1e7; throws if the step size runs past 1e7 (improper posterior) or
 * underflows to 0 (no acceptably small step size).
 */
export function initStepsize(h: Hamiltonian, state: PhasePoint, eps: number, rng: Rng): number {
  if (eps === 0 || eps > 1e7 || Number.isNaN(eps)) return eps;
  const z = new PhasePoint(state.q.length);
  const trial = (): number => {
    z.copyFrom(state);
    h.sampleMomentum(z, rng);
    const H0 = h.energy(z);
    h.leapfrog(z, eps);
    return H0 - h.energy(z);
  };
  const LOG_08 = Math.log(0.8);
  const direction = trial() > LOG_08 ? 1 : -1;
  for (;;) {
    const deltaH = trial();
    if (direction === 1 && !(deltaH > LOG_08)) break;
    if (direction === -1 && !(deltaH < LOG_08)) break;
    eps = direction === 1 ? 2 * eps : 0.5 * eps;
    if (eps > 1e7) throw new Error('initStepsize: posterior is improper (step size grew past 1e7); please check the model');
    if (eps === 0) throw new Error('initStepsize: no acceptably small step size could be found; perhaps the posterior is not continuous?');
  }
  return eps;
}

// ---------------------------------------------------------------------------------------
// Random-walk Metropolis
// ---------------------------------------------------------------------------------------

/**
 * Random-walk Metropolis with Gaussian proposals q' = q + ε M⁻¹ p, p ~ N(0, M), i.e.
 * N(q, ε² M⁻¹): the adapted inverse metric (the posterior covariance estimate) shapes the
 * proposal. One density evaluation per transition (reported as `n_leapfrog` = 1).
 */
export class RwmhKernel {
  private readonly prop: PhasePoint;
  private readonly p: Float64Array;
  private readonly v: Float64Array;

  constructor(private readonly h: Hamiltonian) {
    const d = h.target.dim;
    this.prop = new PhasePoint(d);
    this.p = new Float64Array(d);
    this.v = new Float64Array(d);
  }

  transition(state: PhasePoint, eps: number, rng: Rng): DrawStats {
    const { prop, p, v, h } = this;
    h.metric.sampleMomentum(rng, p);
    h.metric.velocity(p, v);
    for (let i = 0; i < v.length; i++) prop.q[i] = state.q[i] + eps * v[i];
    h.evaluate(prop);
    const logA = prop.lp - state.lp;
    const accept = Number.isFinite(logA) || logA === Infinity ? Math.min(1, Math.exp(logA)) : 0;
    if (rng.uniform() < accept) state.copyFrom(prop);
    return { lp: state.lp, accept_stat: accept, stepsize: eps, treedepth: 0, n_leapfrog: 1, divergent: 0, energy: -state.lp };
  }
}
