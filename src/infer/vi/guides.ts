/**
 * Gaussian variational families ("guides") over the flat unconstrained vector u, as Stan's
 * ADVI: mean-field N(μ, diag(σ²)) with σ = exp(ω), and full-rank N(μ, L Lᵀ) with L lower
 * triangular and a positive diagonal L_ii = exp(λ_ii).
 *
 * Each guide keeps its variational parameters in one flat Float64Array `params`:
 *  - meanfield: [μ_1..μ_d, ω_1..ω_d]
 *  - fullrank:  [μ_1..μ_d, then the lower triangle of L row by row (L_11, L_21, L_22, L_31, ...)
 *    with each diagonal entry stored as its log λ_ii]
 *
 * The ELBO is estimated by reparameterisation, u = μ + L ε with ε ~ N(0, I):
 *   ELBO(θ) = E_ε[-U(μ + L ε)] + H[q],  H[q] = Σ log L_ii + d/2 (1 + log 2π)
 * (U = -(log joint + log|J|), so -U(u) is the log density of u up to the evidence), and the
 * gradient of the estimator with the noise held fixed is
 *   ∂/∂μ = -∇U(u),  ∂/∂L_ij = -∇U(u)_i ε_j (i ≥ j),  ∂H/∂λ_ii = 1 (chain rule L_ii = exp λ_ii).
 *
 * The low-rank guide N(μ, B Bᵀ + D²) (B: d × r, D = diag(exp ω)), as Pyro's
 * AutoLowRankMultivariateNormal, draws u = μ + D ε_d + B ε_r with d + r noise coordinates
 * (`noiseDim`): params [μ_1..μ_d, B row-major (B_11..B_1r, B_21, ...), ω_1..ω_d]. Its log
 * density and entropy use the Woodbury identity with the r × r matrix A = I + Bᵀ D⁻² B:
 *   Σ⁻¹ = D⁻² − D⁻² B A⁻¹ Bᵀ D⁻²,  log|Σ| = log|A| + 2 Σ ω_i,  Σ⁻¹ B = D⁻² B A⁻¹.
 */
import type { Rng } from '../../tensor/random';
import { choleskyLower } from '../mcmc/hmc';
import { CouplingFlowGuide, type CouplingOptions } from './coupling';
import { FlowGuide } from './flow';
import { fixedNormals } from './noise';
import { valuesAndGradsAt } from '../points';

export { fixedNormals, monteCarloMoments } from './noise';
export { FlowGuide } from './flow';

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * The float64 potential the guides are fitted against (BoundModel.potentialFunction()); with
 * `valuesAndGrads` (the tensor evaluator's, a device's) a step's draws are evaluated together.
 */
export interface Potential {
  readonly dim: number;
  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number;
  value(u: ArrayLike<number>): number;
  valuesAndGrads?(points: readonly ArrayLike<number>[], grads: readonly Float64Array[]): Float64Array;
}

/** The guide families: the Gaussians and the planar flow here, 'coupling' in coupling.ts, 'amortized' in amortized.ts. */
export type GuideKind = 'meanfield' | 'fullrank' | 'lowrank' | 'planar' | 'coupling' | 'amortized';

/** A Gaussian guide over u. */
export interface Guide {
  readonly kind: GuideKind;
  /** Dimension of u. */
  readonly dim: number;
  /** Length of the noise vector ε (dim, except the low-rank guide: dim + rank). */
  readonly noiseDim: number;
  /** The variational parameters (layout in the module comment); mutable in place. */
  readonly params: Float64Array;
  /** u = μ + L ε for a given ε (written into `out` when given). */
  transform(eps: ArrayLike<number>, out?: Float64Array): Float64Array;
  /** Draws ε ~ N(0, I) and returns it with u = μ + L ε. */
  sample(rng: Rng): { u: Float64Array; eps: Float64Array };
  /** log q(u). */
  logq(u: ArrayLike<number>): number;
  /** Entropy of q in closed form (NaN for a flow, which has none). */
  entropy(): number;
  /**
   * The entropy term of the ELBO estimator at noise ε, whose expectation over ε is H[q]:
   * the closed-form entropy for the Gaussian guides, −log q(u(ε)) for a flow.
   */
  entropyTerm(eps: ArrayLike<number>): number;
  /** Adds scale · ∂(entropyTerm(ε))/∂θ into `out`. */
  addEntropyTermGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void;
  /**
   * Adds scale · ∂(-U(μ + L ε))/∂θ into `out`, given ε and gU = ∇U at u = μ + L ε
   * (the reparameterised pathwise gradient, without the entropy).
   */
  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void;
  /** Adds scale · ∂H/∂θ into `out`. */
  addEntropyGrad(scale: number, out: Float64Array): void;
  /**
   * Adds scale · ∂(−log q_θ(u_θ(ε)))/∂θ into `out`: the total derivative, through u as well,
   * with ε held fixed. Where u = μ + L ε is a bijection of ε (mean-field, full-rank) this is
   * ∂H/∂θ for every ε; the low-rank guide's map is not, and the term depends on ε.
   */
  addNegLogqGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void;
  /** The mean μ (a copy). */
  mean(): Float64Array;
  /** The covariance L Lᵀ as d rows. */
  covariance(): Float64Array[];
  /** A guide of the same family with a copy of the parameters. */
  clone(): Guide;
}

function checkDim(dim: number): void {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`guide: dimension must be a positive integer, got ${dim}`);
}


/**
 * The Gaussian guides: a closed-form entropy, which is also the ELBO's entropy term at every
 * ε; where u = μ + L ε is a bijection of ε the total derivative of −log q(u(ε)) is ∂H/∂θ too.
 */
abstract class GaussianGuide {
  abstract readonly dim: number;
  abstract entropy(): number;
  abstract addEntropyGrad(scale: number, out: Float64Array): void;

  get noiseDim(): number {
    return this.dim;
  }

  entropyTerm(): number {
    return this.entropy();
  }

  addEntropyTermGrad(_eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.addEntropyGrad(scale, out);
  }

  addNegLogqGrad(_eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    this.addEntropyGrad(scale, out);
  }
}

/** Mean-field Gaussian: params [μ, ω], σ = exp(ω). */
export class MeanFieldGuide extends GaussianGuide implements Guide {
  readonly kind = 'meanfield' as const;
  readonly params: Float64Array;

  /** Starts at μ = init (default 0) and σ = initSd (default 1, as Stan's ADVI). */
  constructor(readonly dim: number, init?: ArrayLike<number>, initSd = 1) {
    super();
    checkDim(dim);
    this.params = new Float64Array(2 * dim);
    if (init) {
      if (init.length !== dim) throw new RangeError(`MeanFieldGuide: init has length ${init.length}, expected ${dim}`);
      for (let i = 0; i < dim; i++) this.params[i] = init[i];
    }
    this.params.fill(Math.log(initSd), dim);
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    const d = this.dim;
    const p = this.params;
    for (let i = 0; i < d; i++) out[i] = p[i] + Math.exp(p[d + i]) * eps[i];
    return out;
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const [eps] = drawNoise(rng, this.dim, 1);
    return { u: this.transform(eps), eps };
  }

  logq(u: ArrayLike<number>): number {
    const d = this.dim;
    const p = this.params;
    let s = -0.5 * d * LOG_2PI;
    for (let i = 0; i < d; i++) {
      const z = (u[i] - p[i]) / Math.exp(p[d + i]);
      s -= 0.5 * z * z + p[d + i];
    }
    return s;
  }

  entropy(): number {
    let s = 0.5 * this.dim * (1 + LOG_2PI);
    for (let i = 0; i < this.dim; i++) s += this.params[this.dim + i];
    return s;
  }

  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    const d = this.dim;
    for (let i = 0; i < d; i++) {
      out[i] -= scale * gU[i];
      out[d + i] -= scale * gU[i] * eps[i] * Math.exp(this.params[d + i]);
    }
  }

  addEntropyGrad(scale: number, out: Float64Array): void {
    for (let i = 0; i < this.dim; i++) out[this.dim + i] += scale;
  }

  mean(): Float64Array {
    return this.params.slice(0, this.dim);
  }

  covariance(): Float64Array[] {
    return Array.from({ length: this.dim }, (_, i) => {
      const row = new Float64Array(this.dim);
      row[i] = Math.exp(2 * this.params[this.dim + i]);
      return row;
    });
  }

  clone(): MeanFieldGuide {
    const g = new MeanFieldGuide(this.dim);
    g.params.set(this.params);
    return g;
  }
}

/** Index of L_ij (i ≥ j, 0-based) in the packed lower triangle. */
function tri(i: number, j: number): number {
  return (i * (i + 1)) / 2 + j;
}

/** Full-rank Gaussian: params [μ, packed lower triangle of L with log diagonal]. */
export class FullRankGuide extends GaussianGuide implements Guide {
  readonly kind = 'fullrank' as const;
  readonly params: Float64Array;

  /** Starts at μ = init (default 0) and L = initSd · I (default 1). */
  constructor(readonly dim: number, init?: ArrayLike<number>, initSd = 1) {
    super();
    checkDim(dim);
    this.params = new Float64Array(dim + (dim * (dim + 1)) / 2);
    if (init) {
      if (init.length !== dim) throw new RangeError(`FullRankGuide: init has length ${init.length}, expected ${dim}`);
      for (let i = 0; i < dim; i++) this.params[i] = init[i];
    }
    for (let i = 0; i < dim; i++) this.params[dim + tri(i, i)] = Math.log(initSd);
  }

  /** L as d rows (zeros above the diagonal). */
  choleskyFactor(): Float64Array[] {
    const d = this.dim;
    const p = this.params;
    return Array.from({ length: d }, (_, i) => {
      const row = new Float64Array(d);
      for (let j = 0; j < i; j++) row[j] = p[d + tri(i, j)];
      row[i] = Math.exp(p[d + tri(i, i)]);
      return row;
    });
  }

  /** Sets μ and L (lower triangular with a positive diagonal). */
  setMoments(mu: ArrayLike<number>, L: ArrayLike<number>[]): void {
    const d = this.dim;
    for (let i = 0; i < d; i++) {
      this.params[i] = mu[i];
      for (let j = 0; j < i; j++) this.params[d + tri(i, j)] = L[i][j];
      if (!(L[i][i] > 0)) throw new RangeError(`FullRankGuide.setMoments: L[${i}][${i}] must be positive, got ${L[i][i]}`);
      this.params[d + tri(i, i)] = Math.log(L[i][i]);
    }
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    const d = this.dim;
    const p = this.params;
    for (let i = 0; i < d; i++) {
      let s = p[i] + Math.exp(p[d + tri(i, i)]) * eps[i];
      for (let j = 0; j < i; j++) s += p[d + tri(i, j)] * eps[j];
      out[i] = s;
    }
    return out;
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const [eps] = drawNoise(rng, this.dim, 1);
    return { u: this.transform(eps), eps };
  }

  logq(u: ArrayLike<number>): number {
    // z = L⁻¹ (u - μ) by forward substitution; log q = Σ -z²/2 - Σ log L_ii - d/2 log 2π.
    const d = this.dim;
    const p = this.params;
    const z = new Float64Array(d);
    let s = -0.5 * d * LOG_2PI;
    for (let i = 0; i < d; i++) {
      let r = u[i] - p[i];
      for (let j = 0; j < i; j++) r -= p[d + tri(i, j)] * z[j];
      const logLii = p[d + tri(i, i)];
      z[i] = r / Math.exp(logLii);
      s -= 0.5 * z[i] * z[i] + logLii;
    }
    return s;
  }

  entropy(): number {
    let s = 0.5 * this.dim * (1 + LOG_2PI);
    for (let i = 0; i < this.dim; i++) s += this.params[this.dim + tri(i, i)];
    return s;
  }

  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    const d = this.dim;
    const p = this.params;
    for (let i = 0; i < d; i++) {
      const gi = scale * gU[i];
      out[i] -= gi;
      for (let j = 0; j < i; j++) out[d + tri(i, j)] -= gi * eps[j];
      const k = d + tri(i, i);
      out[k] -= gi * eps[i] * Math.exp(p[k]);
    }
  }

  addEntropyGrad(scale: number, out: Float64Array): void {
    for (let i = 0; i < this.dim; i++) out[this.dim + tri(i, i)] += scale;
  }

  mean(): Float64Array {
    return this.params.slice(0, this.dim);
  }

  covariance(): Float64Array[] {
    const L = this.choleskyFactor();
    const d = this.dim;
    return Array.from({ length: d }, (_, i) => {
      const row = new Float64Array(d);
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k <= Math.min(i, j); k++) s += L[i][k] * L[j][k];
        row[j] = s;
      }
      return row;
    });
  }

  clone(): FullRankGuide {
    const g = new FullRankGuide(this.dim);
    g.params.set(this.params);
    return g;
  }
}


/** Solves (L Lᵀ) x = b in place for a Cholesky factor L (row-major r × r). */
function cholSolve(L: Float64Array, r: number, b: Float64Array): Float64Array {
  for (let i = 0; i < r; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * r + k] * b[k];
    b[i] = s / L[i * r + i];
  }
  for (let i = r - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < r; k++) s -= L[k * r + i] * b[k];
    b[i] = s / L[i * r + i];
  }
  return b;
}

/**
 * Low-rank plus diagonal Gaussian N(μ, B Bᵀ + D²), D = diag(exp ω), B: d × rank (layout in
 * the module comment). Costs O(d r²) per density instead of the full-rank guide's O(d²), and
 * captures the r strongest directions of posterior correlation.
 */
export class LowRankGuide extends GaussianGuide implements Guide {
  readonly kind = 'lowrank' as const;
  readonly params: Float64Array;

  /**
   * Starts at μ = init (default 0), D = initSd · √(1 − 0.01) and B with independent
   * N(0, 0.01 initSd² / rank) entries from a fixed seed (so B Bᵀ + D² ≈ initSd² I; B = 0
   * exactly would be a stationary point of the expected gradient).
   */
  constructor(readonly dim: number, readonly rank: number, init?: ArrayLike<number>, initSd = 1) {
    checkDim(dim);
    super();
    if (!Number.isInteger(rank) || rank < 1 || rank > dim) throw new RangeError(`LowRankGuide: rank must be an integer in 1..${dim}, got ${rank}`);
    this.params = new Float64Array(dim + dim * rank + dim);
    if (init) {
      if (init.length !== dim) throw new RangeError(`LowRankGuide: init has length ${init.length}, expected ${dim}`);
      for (let i = 0; i < dim; i++) this.params[i] = init[i];
    }
    const normal = fixedNormals(12345);
    const sd = (0.1 * initSd) / Math.sqrt(rank);
    for (let i = 0; i < dim * rank; i++) this.params[dim + i] = sd * normal();
    this.params.fill(Math.log(initSd) + 0.5 * Math.log(0.99), dim + dim * rank);
  }

  override get noiseDim(): number {
    return this.dim + this.rank;
  }

  private get bOff(): number {
    return this.dim;
  }

  private get wOff(): number {
    return this.dim + this.dim * this.rank;
  }

  /** Cholesky factor of A = I + Bᵀ D⁻² B. */
  private capacitance(): Float64Array {
    const { dim: d, rank: r, params: p } = this;
    const a = new Float64Array(r * r);
    for (let i = 0; i < d; i++) {
      const dinv2 = Math.exp(-2 * p[this.wOff + i]);
      for (let j = 0; j < r; j++) {
        const bij = p[this.bOff + i * r + j] * dinv2;
        for (let k = 0; k <= j; k++) a[j * r + k] += bij * p[this.bOff + i * r + k];
      }
    }
    for (let j = 0; j < r; j++) {
      a[j * r + j] += 1;
      for (let k = 0; k < j; k++) a[k * r + j] = a[j * r + k];
    }
    return choleskyLower(a, r, 'LowRankGuide: I + Bᵀ D⁻² B (non-finite parameters?)');
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    const { dim: d, rank: r, params: p } = this;
    for (let i = 0; i < d; i++) {
      let s = p[i] + Math.exp(p[this.wOff + i]) * eps[i];
      for (let j = 0; j < r; j++) s += p[this.bOff + i * r + j] * eps[d + j];
      out[i] = s;
    }
    return out;
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const [eps] = drawNoise(rng, this.noiseDim, 1);
    return { u: this.transform(eps), eps };
  }

  /** s = Σ⁻¹ (u − μ) and the Cholesky factor of A. */
  private precisionTimes(u: ArrayLike<number>): { s: Float64Array; LA: Float64Array } {
    const { dim: d, rank: r, params: p } = this;
    const LA = this.capacitance();
    const a = new Float64Array(d);
    const b = new Float64Array(r);
    for (let i = 0; i < d; i++) {
      a[i] = (u[i] - p[i]) * Math.exp(-2 * p[this.wOff + i]);
      for (let j = 0; j < r; j++) b[j] += p[this.bOff + i * r + j] * a[i];
    }
    cholSolve(LA, r, b);
    const s = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let t = 0;
      for (let j = 0; j < r; j++) t += p[this.bOff + i * r + j] * b[j];
      s[i] = a[i] - Math.exp(-2 * p[this.wOff + i]) * t;
    }
    return { s, LA };
  }

  private logDetA(LA: Float64Array): number {
    let s = 0;
    for (let j = 0; j < this.rank; j++) s += 2 * Math.log(LA[j * this.rank + j]);
    return s;
  }

  logq(u: ArrayLike<number>): number {
    const { dim: d, params: p } = this;
    const { s, LA } = this.precisionTimes(u);
    let quad = 0;
    let sumW = 0;
    for (let i = 0; i < d; i++) {
      quad += (u[i] - p[i]) * s[i];
      sumW += p[this.wOff + i];
    }
    return -0.5 * d * LOG_2PI - 0.5 * this.logDetA(LA) - sumW - 0.5 * quad;
  }

  entropy(): number {
    let sumW = 0;
    for (let i = 0; i < this.dim; i++) sumW += this.params[this.wOff + i];
    return 0.5 * this.dim * (1 + LOG_2PI) + 0.5 * this.logDetA(this.capacitance()) + sumW;
  }

  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void {
    const { dim: d, rank: r, params: p } = this;
    for (let i = 0; i < d; i++) {
      const gi = scale * gU[i];
      out[i] -= gi;
      for (let j = 0; j < r; j++) out[this.bOff + i * r + j] -= gi * eps[d + j];
      out[this.wOff + i] -= gi * eps[i] * Math.exp(p[this.wOff + i]);
    }
  }

  /** P = Σ⁻¹ B = D⁻² B A⁻¹ (d × r, row-major) and diag(Σ⁻¹). */
  private precisionParts(): { P: Float64Array; precDiag: Float64Array } {
    const { dim: d, rank: r, params: p } = this;
    const LA = this.capacitance();
    const P = new Float64Array(d * r);
    const precDiag = new Float64Array(d);
    const row = new Float64Array(r);
    for (let i = 0; i < d; i++) {
      const dinv2 = Math.exp(-2 * p[this.wOff + i]);
      for (let j = 0; j < r; j++) row[j] = p[this.bOff + i * r + j] * dinv2;
      // Row i of D⁻² B A⁻¹ = A⁻¹ (row i of D⁻² B)ᵀ, A symmetric.
      cholSolve(LA, r, row);
      let q = 0;
      for (let j = 0; j < r; j++) {
        P[i * r + j] = row[j];
        q += row[j] * p[this.bOff + i * r + j];
      }
      // (Σ⁻¹)_ii = D⁻²_ii − (D⁻² B A⁻¹ Bᵀ D⁻²)_ii = dinv2 − dinv2 · (P Bᵀ)_ii.
      precDiag[i] = dinv2 - dinv2 * q;
    }
    return { P, precDiag };
  }

  addEntropyGrad(scale: number, out: Float64Array): void {
    // ∂H/∂B = Σ⁻¹ B;  ∂H/∂ω_i = (Σ⁻¹)_ii D_i².
    const { dim: d, rank: r, params: p } = this;
    const { P, precDiag } = this.precisionParts();
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < r; j++) out[this.bOff + i * r + j] += scale * P[i * r + j];
      out[this.wOff + i] += scale * precDiag[i] * Math.exp(2 * p[this.wOff + i]);
    }
  }

  override addNegLogqGrad(eps: ArrayLike<number>, scale: number, out: Float64Array): void {
    // The map u(ε) is not a bijection here, so the entropy gradient will not do. With v = u − μ = D ε_d + B ε_r and s = Σ⁻¹ v, the total derivative of log q(u(θ, ε)):
    //   μ: the explicit Σ⁻¹ v and the path −Σ⁻¹ v cancel;
    //   B_ij: −P_ij + s_i (vᵀ P)_j − s_i ε_r,j;
    //   ω_i: D_i² (s_i² − (Σ⁻¹)_ii) − s_i ε_d,i D_i.
    const { dim: d, rank: r, params: p } = this;
    const u = this.transform(eps);
    const { s } = this.precisionTimes(u);
    const { P, precDiag } = this.precisionParts();
    const vP = new Float64Array(r);
    for (let i = 0; i < d; i++) for (let j = 0; j < r; j++) vP[j] += (u[i] - p[i]) * P[i * r + j];
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < r; j++) out[this.bOff + i * r + j] -= scale * (-P[i * r + j] + s[i] * vP[j] - s[i] * eps[d + j]);
      const di = Math.exp(p[this.wOff + i]);
      out[this.wOff + i] -= scale * (di * di * (s[i] * s[i] - precDiag[i]) - s[i] * eps[i] * di);
    }
  }

  mean(): Float64Array {
    return this.params.slice(0, this.dim);
  }

  covariance(): Float64Array[] {
    const { dim: d, rank: r, params: p } = this;
    return Array.from({ length: d }, (_, i) => {
      const row = new Float64Array(d);
      for (let j = 0; j < d; j++) {
        let s = i === j ? Math.exp(2 * p[this.wOff + i]) : 0;
        for (let k = 0; k < r; k++) s += p[this.bOff + i * r + k] * p[this.bOff + j * r + k];
        row[j] = s;
      }
      return row;
    });
  }

  clone(): LowRankGuide {
    const g = new LowRankGuide(this.dim, this.rank);
    g.params.set(this.params);
    return g;
  }
}

const LOG_E_MINUS_1 = Math.log(Math.E - 1);

function softplus(x: number): number {
  return x > 30 ? x : Math.log1p(Math.exp(x));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}


/**
 * A planar normalising flow (Rezende & Mohamed 2015) on a mean-field Gaussian base:
 *   z_0 = μ + σ ⊙ ε,  z_l = z_{l−1} + v̂_l tanh(w_lᵀ z_{l−1} + b_l),  u = z_L,
 * log q(u) = log N(ε) − Σ ω_i − Σ_l log(1 + (1 − tanh² a_l) v̂_lᵀ w_l).
 * Each layer stays invertible through v̂ = v + (m(wᵀv) − wᵀv) w / |w|², m(c) = −1 + softplus(c),
 * so v̂ᵀw = m > −1 (their appendix A). params: [μ (d), ω (d), then per layer w (d), v (d), b].
 * A layer starts as the identity (v̂ = 0; w fixed-seeded N(0, 1/d) entries: a w near 0 makes v̂ large). log q at a given u inverts
 * each layer by a safeguarded Newton solve of the scalar a = wᵀz_{l−1} + b. No closed-form
 * entropy, mean or covariance: the ELBO uses −log q(u(ε)) per draw, and mean()/covariance()
 * are Monte Carlo estimates from 20000 fixed-seed draws.
 */
export class PlanarFlowGuide extends FlowGuide {
  readonly kind = 'planar' as const;
  readonly params: Float64Array;

  constructor(readonly dim: number, readonly layers = 8, init?: ArrayLike<number>, initSd = 1) {
    super();
    checkDim(dim);
    if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`PlanarFlowGuide: layers must be a positive integer, got ${layers}`);
    this.params = new Float64Array(2 * dim + layers * (2 * dim + 1));
    if (init) {
      if (init.length !== dim) throw new RangeError(`PlanarFlowGuide: init has length ${init.length}, expected ${dim}`);
      for (let i = 0; i < dim; i++) this.params[i] = init[i];
    }
    this.params.fill(Math.log(initSd), dim, 2 * dim);
    const normal = fixedNormals(4242);
    for (let l = 0; l < layers; l++) {
      const o = this.layerOffset(l);
      let q = 0;
      for (let i = 0; i < dim; i++) {
        this.params[o + i] = (1 / Math.sqrt(dim)) * normal();
        q += this.params[o + i] ** 2;
      }
      // v = log(e − 1) w / |w|² gives wᵀv = log(e − 1), m = 0 and v̂ = 0: the identity.
      for (let i = 0; i < dim; i++) this.params[o + dim + i] = (LOG_E_MINUS_1 * this.params[o + i]) / q;
    }
  }

  get noiseDim(): number {
    return this.dim;
  }

  private layerOffset(l: number): number {
    return 2 * this.dim + l * (2 * this.dim + 1);
  }

  /** v̂, m, c = wᵀv and |w|² of layer l. */
  private layerParts(l: number): { vh: Float64Array; m: number; c: number; q: number } {
    const d = this.dim;
    const p = this.params;
    const o = this.layerOffset(l);
    let c = 0;
    let q = 0;
    for (let i = 0; i < d; i++) {
      c += p[o + i] * p[o + d + i];
      q += p[o + i] * p[o + i];
    }
    const m = -1 + softplus(c);
    const r = q > 0 ? (m - c) / q : 0;
    const vh = new Float64Array(d);
    for (let i = 0; i < d; i++) vh[i] = p[o + d + i] + r * p[o + i];
    return { vh, m, c, q };
  }

  /** Forward pass: the z_l (z[0] = base), the pre-activations a_l and the per-layer parts. */
  private forward(eps: ArrayLike<number>): { z: Float64Array[]; a: Float64Array; parts: ReturnType<PlanarFlowGuide['layerParts']>[] } {
    const d = this.dim;
    const p = this.params;
    const z0 = new Float64Array(d);
    for (let i = 0; i < d; i++) z0[i] = p[i] + Math.exp(p[d + i]) * eps[i];
    const z = [z0];
    const a = new Float64Array(this.layers);
    const parts = [];
    for (let l = 0; l < this.layers; l++) {
      const o = this.layerOffset(l);
      const part = this.layerParts(l);
      parts.push(part);
      const prev = z[l];
      let s = p[o + 2 * d];
      for (let i = 0; i < d; i++) s += p[o + i] * prev[i];
      a[l] = s;
      const t = Math.tanh(s);
      const next = new Float64Array(d);
      for (let i = 0; i < d; i++) next[i] = prev[i] + part.vh[i] * t;
      z.push(next);
    }
    return { z, a, parts };
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    out.set(this.forward(eps).z[this.layers]);
    return out;
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const [eps] = drawNoise(rng, this.dim, 1);
    return { u: this.transform(eps), eps };
  }

  private logDetSum(a: Float64Array, parts: { m: number }[]): number {
    let s = 0;
    for (let l = 0; l < this.layers; l++) {
      const t = Math.tanh(a[l]);
      s += Math.log(1 + (1 - t * t) * parts[l].m);
    }
    return s;
  }

  private baseLogDensity(eps: ArrayLike<number>): number {
    let s = -0.5 * this.dim * LOG_2PI;
    for (let i = 0; i < this.dim; i++) s -= 0.5 * eps[i] * eps[i] + this.params[this.dim + i];
    return s;
  }

  logq(u: ArrayLike<number>): number {
    const d = this.dim;
    const p = this.params;
    let y = Float64Array.from(u);
    let logDet = 0;
    for (let l = this.layers - 1; l >= 0; l--) {
      const o = this.layerOffset(l);
      const { vh, m } = this.layerParts(l);
      // wᵀy + b = a + m tanh(a): increasing in a (m > −1), a within |m| of wᵀy + b.
      let target = p[o + 2 * d];
      for (let i = 0; i < d; i++) target += p[o + i] * y[i];
      let lo = target - Math.abs(m) - 1e-12;
      let hi = target + Math.abs(m) + 1e-12;
      let x = target;
      for (let it = 0; it < 100; it++) {
        const t = Math.tanh(x);
        const g = x + m * t - target;
        if (g > 0) hi = x;
        else lo = x;
        const gp = 1 + m * (1 - t * t);
        let nx = x - g / gp;
        if (!(nx > lo && nx < hi)) nx = 0.5 * (lo + hi);
        if (Math.abs(nx - x) <= 1e-15 * Math.max(1, Math.abs(x))) {
          x = nx;
          break;
        }
        x = nx;
      }
      const t = Math.tanh(x);
      logDet += Math.log(1 + (1 - t * t) * m);
      const prev = new Float64Array(d);
      for (let i = 0; i < d; i++) prev[i] = y[i] - vh[i] * t;
      y = prev;
    }
    const eps = new Float64Array(d);
    for (let i = 0; i < d; i++) eps[i] = (y[i] - p[i]) / Math.exp(p[d + i]);
    return this.baseLogDensity(eps) - logDet;
  }

  entropyTerm(eps: ArrayLike<number>): number {
    const { a, parts } = this.forward(eps);
    return -this.baseLogDensity(eps) + this.logDetSum(a, parts);
  }

  /**
   * Reverse pass: adds scale · ∂F/∂θ into `out` for F = gTopᵀ u(ε) (+ the −log q terms
   * Σ ω_i + Σ_l log det_l when `withLogDet`).
   */
  protected backward(eps: ArrayLike<number>, gTop: ArrayLike<number> | null, withLogDet: boolean, scale: number, out: Float64Array): void {
    const d = this.dim;
    const p = this.params;
    const { z, a, parts } = this.forward(eps);
    const g = new Float64Array(d);
    if (gTop) for (let i = 0; i < d; i++) g[i] = scale * gTop[i];
    for (let l = this.layers - 1; l >= 0; l--) {
      const o = this.layerOffset(l);
      const { vh, m, c, q } = parts[l];
      const t = Math.tanh(a[l]);
      const h1 = 1 - t * t;
      let gv = 0;
      for (let i = 0; i < d; i++) gv += g[i] * vh[i];
      let dA = gv * h1;
      let gM = 0;
      if (withLogDet) {
        const den = 1 + h1 * m;
        dA += (scale * (-2 * t * h1) * m) / den;
        gM = (scale * h1) / den;
      }
      // ∂/∂v̂ = g tanh(a); then through v̂ = v + r w, r = (m − c)/|w|², and m = −1 + softplus(wᵀv).
      const sg = sigmoid(c);
      const r = (m - c) / q;
      let gVhW = 0;
      for (let i = 0; i < d; i++) gVhW += g[i] * t * p[o + i];
      for (let i = 0; i < d; i++) {
        const gVh = g[i] * t;
        const w = p[o + i];
        const v = p[o + d + i];
        out[o + d + i] += gVh + (gVhW * (sg - 1) * w) / q + gM * sg * w;
        out[o + i] += dA * z[l][i] + r * gVh + gVhW * (((sg - 1) * v) / q - (2 * (m - c) * w) / (q * q)) + gM * sg * v;
      }
      out[o + 2 * d] += dA;
      for (let i = 0; i < d; i++) g[i] += dA * p[o + i];
    }
    for (let i = 0; i < d; i++) {
      const sd = Math.exp(p[d + i]);
      out[i] += g[i];
      out[d + i] += g[i] * sd * eps[i] + (withLogDet ? scale : 0);
    }
  }

  clone(): PlanarFlowGuide {
    const g = new PlanarFlowGuide(this.dim, this.layers);
    g.params.set(this.params);
    return g;
  }
}

/**
 * A new guide of the given family over `dim` unconstrained coordinates; `rank` is the
 * low-rank guide's (default ⌈√dim⌉, as Pyro's AutoLowRankMultivariateNormal), `layers` the
 * flows' (default 8), `coupling` the coupling flow's other options (coupling.ts).
 */
export function makeGuide(
  kind: GuideKind, dim: number, init?: ArrayLike<number>, initSd = 1, rank?: number, layers?: number, coupling?: Omit<CouplingOptions, 'layers'>,
): Guide {
  if (kind === 'meanfield') return new MeanFieldGuide(dim, init, initSd);
  if (kind === 'fullrank') return new FullRankGuide(dim, init, initSd);
  if (kind === 'lowrank') return new LowRankGuide(dim, rank ?? Math.ceil(Math.sqrt(dim)), init, initSd);
  if (kind === 'planar') return new PlanarFlowGuide(dim, layers ?? 8, init, initSd);
  if (kind === 'coupling') return new CouplingFlowGuide(dim, { ...coupling, layers }, init, initSd);
  if (kind === 'amortized') throw new RangeError("makeGuide: the 'amortized' guide needs the model's layout of local parameters: use vi() or new AmortizedGuide(amortizedLayout(bound))");
  throw new RangeError(`unknown guide '${String(kind)}'; expected 'meanfield', 'fullrank', 'lowrank', 'planar', 'coupling' or 'amortized'`);
}

/**
 * The reparameterised ELBO estimate with the noise ε_1..ε_S given:
 *   (1/S) Σ_s [-U(u(ε_s)) + entropyTerm(ε_s)]  (= (1/S) Σ_s -U(μ + L ε_s) + H[q] for the Gaussian guides),
 * a deterministic function of the guide's parameters. When `grad` is given its exact
 * gradient with respect to them is written there (overwritten). Returns NaN when U is
 * not finite at some draw (grad is then unspecified).
 */
export function elboWithNoise(guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], grad?: Float64Array): number {
  if (eps.length === 0) throw new RangeError('elboWithNoise: need at least one noise draw');
  const d = guide.dim;
  if (potential.dim !== d) throw new RangeError(`elboWithNoise: potential has dimension ${potential.dim}, guide ${d}`);
  const scale = 1 / eps.length;
  const { U, gUs } = drawPotentials(guide, potential, eps, !!grad);
  if (grad) grad.fill(0);
  let sum = 0;
  for (let s = 0; s < eps.length; s++) {
    if (!Number.isFinite(U[s])) return NaN;
    sum += guide.entropyTerm(eps[s]) - U[s];
    if (grad) {
      guide.addPathGrad(eps[s], gUs[s], scale, grad);
      guide.addEntropyTermGrad(eps[s], scale, grad);
    }
  }
  return sum * scale;
}

/**
 * The draws u_k = u_θ(ε_k) of a step and their potentials U(u_k); with `withGrad` also the
 * gradients ∇U(u_k), the draws evaluated together (`valuesAndGradsAt`: one batched evaluation
 * where the potential has one). What the fixed-noise estimators evaluate. @internal
 */
export function drawPotentials(guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], withGrad: boolean): { us: Float64Array[]; U: Float64Array; gUs: Float64Array[] } {
  const us = eps.map((e) => guide.transform(e));
  if (!withGrad) return { us, U: Float64Array.from(us, (u) => potential.value(u)), gUs: [] };
  const gUs = us.map(() => new Float64Array(guide.dim));
  return { us, U: valuesAndGradsAt(potential, us, gUs), gUs };
}

/**
 * The importance-weighted objective (Burda et al. 2016) with the noise ε_1..ε_K given:
 *   log (1/K) Σ_k w_k,  log w_k = -U(u_k) - log q(u_k),  u_k = u_θ(ε_k),
 * a deterministic function of the guide's parameters, with its exact gradient written into
 * `grad` when given:
 *   ∇ = Σ_k w̃_k ∇ log w_k,  w̃_k = w_k / Σ_j w_j,
 * ∇ log w_k = the pathwise gradient of -U plus ∂(−log q_θ(u_θ(ε_k)))/∂θ (addNegLogqGrad,
 * which for the mean-field and full-rank guides is ∂H/∂θ whatever ε). At K = 1 the gradient
 * is then that of elboWithNoise, and for those two guides the value is its estimate plus
 * (|ε|² - d)/2 (zero mean). Returns NaN when U is not finite at a draw.
 */
export function iwaeWithNoise(guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], grad?: Float64Array): number {
  return renyiWithNoise(guide, potential, eps, 0, grad, 'iwaeWithNoise');
}

/**
 * The variational Rényi bound (Li & Turner 2016) with the noise ε_1..ε_K given:
 *   L_α = 1/(1 − α) · log (1/K) Σ_k w_k^(1−α),  log w_k = -U(u_k) - log q(u_k),
 * with its exact gradient Σ_k w̃_k ∇ log w_k, w̃_k ∝ w_k^(1−α), written into `grad` when
 * given. α = 0 is the IWAE objective; α → 1 the ELBO (α = 1 gives the mean of log w_k);
 * α < 0 is an upper bound on log p(y) in expectation for K → ∞ and fits wider guides.
 * Returns NaN when U is not finite at a draw.
 */
export function renyiWithNoise(
  guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], alpha: number, grad?: Float64Array, who = 'renyiWithNoise',
): number {
  const K = eps.length;
  if (K === 0) throw new RangeError(`${who}: need at least one noise draw`);
  if (!Number.isFinite(alpha)) throw new RangeError(`${who}: alpha must be a finite number, got ${alpha}`);
  const d = guide.dim;
  if (potential.dim !== d) throw new RangeError(`${who}: potential has dimension ${potential.dim}, guide ${d}`);
  const { us, U, gUs } = drawPotentials(guide, potential, eps, !!grad);
  const logw = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    if (!Number.isFinite(U[k])) return NaN;
    logw[k] = -U[k] - guide.logq(us[k]);
  }
  const a = 1 - alpha;
  const wt = new Float64Array(K);
  let value: number;
  if (a === 0) {
    let m = 0;
    for (let k = 0; k < K; k++) m += logw[k];
    value = m / K;
    wt.fill(1 / K);
  } else {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) if (a * logw[k] > mx) mx = a * logw[k];
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(a * logw[k] - mx);
    for (let k = 0; k < K; k++) wt[k] = Math.exp(a * logw[k] - mx) / s;
    value = (mx + Math.log(s / K)) / a;
  }
  if (grad) {
    grad.fill(0);
    for (let k = 0; k < K; k++) {
      guide.addPathGrad(eps[k], gUs[k], wt[k], grad);
      guide.addNegLogqGrad(eps[k], wt[k], grad);
    }
  }
  return value;
}

/** Draws S noise vectors ε ~ N(0, I_d). */
export function drawNoise(rng: Rng, dim: number, S: number): Float64Array[] {
  return Array.from({ length: S }, () => {
    const e = new Float64Array(dim);
    for (let i = 0; i < dim; i++) e[i] = rng.normal();
    return e;
  });
}
