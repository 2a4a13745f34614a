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
 */
import type { Rng } from '../../tensor/random';

const LOG_2PI = Math.log(2 * Math.PI);

/** The float64 potential the guides are fitted against (BoundModel.potentialFunction()). */
export interface Potential {
  readonly dim: number;
  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number;
  value(u: ArrayLike<number>): number;
}

export type GuideKind = 'meanfield' | 'fullrank';

/** A Gaussian guide over u. */
export interface Guide {
  readonly kind: GuideKind;
  /** Dimension of u. */
  readonly dim: number;
  /** The variational parameters (layout in the module comment); mutable in place. */
  readonly params: Float64Array;
  /** u = μ + L ε for a given ε (written into `out` when given). */
  transform(eps: ArrayLike<number>, out?: Float64Array): Float64Array;
  /** Draws ε ~ N(0, I) and returns it with u = μ + L ε. */
  sample(rng: Rng): { u: Float64Array; eps: Float64Array };
  /** log q(u). */
  logq(u: ArrayLike<number>): number;
  /** Entropy of q in closed form. */
  entropy(): number;
  /**
   * Adds scale · ∂(-U(μ + L ε))/∂θ into `out`, given ε and gU = ∇U at u = μ + L ε
   * (the reparameterised pathwise gradient, without the entropy).
   */
  addPathGrad(eps: ArrayLike<number>, gU: ArrayLike<number>, scale: number, out: Float64Array): void;
  /** Adds scale · ∂H/∂θ into `out`. */
  addEntropyGrad(scale: number, out: Float64Array): void;
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

/** Mean-field Gaussian: params [μ, ω], σ = exp(ω). */
export class MeanFieldGuide implements Guide {
  readonly kind = 'meanfield' as const;
  readonly params: Float64Array;

  /** Starts at μ = init (default 0) and σ = initSd (default 1, as Stan's ADVI). */
  constructor(readonly dim: number, init?: ArrayLike<number>, initSd = 1) {
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
export class FullRankGuide implements Guide {
  readonly kind = 'fullrank' as const;
  readonly params: Float64Array;

  /** Starts at μ = init (default 0) and L = initSd · I (default 1). */
  constructor(readonly dim: number, init?: ArrayLike<number>, initSd = 1) {
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

/** A new guide of the given family over `dim` unconstrained coordinates. */
export function makeGuide(kind: GuideKind, dim: number, init?: ArrayLike<number>, initSd = 1): Guide {
  if (kind === 'meanfield') return new MeanFieldGuide(dim, init, initSd);
  if (kind === 'fullrank') return new FullRankGuide(dim, init, initSd);
  throw new RangeError(`unknown guide '${String(kind)}'; expected 'meanfield' or 'fullrank'`);
}

/**
 * The reparameterised ELBO estimate with the noise ε_1..ε_S given:
 *   (1/S) Σ_s -U(μ + L ε_s) + H[q],
 * a deterministic function of the guide's parameters. When `grad` is given its exact
 * gradient with respect to them is written there (overwritten). Returns NaN when U is
 * not finite at some draw (grad is then unspecified).
 */
export function elboWithNoise(guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], grad?: Float64Array): number {
  if (eps.length === 0) throw new RangeError('elboWithNoise: need at least one noise draw');
  const d = guide.dim;
  if (potential.dim !== d) throw new RangeError(`elboWithNoise: potential has dimension ${potential.dim}, guide ${d}`);
  const u = new Float64Array(d);
  const gU = new Float64Array(d);
  const scale = 1 / eps.length;
  if (grad) grad.fill(0);
  let sum = 0;
  for (const e of eps) {
    guide.transform(e, u);
    const U = grad ? potential.valueAndGrad(u, gU) : potential.value(u);
    if (!Number.isFinite(U)) return NaN;
    sum -= U;
    if (grad) guide.addPathGrad(e, gU, scale, grad);
  }
  if (grad) guide.addEntropyGrad(1, grad);
  return sum * scale + guide.entropy();
}

/**
 * The importance-weighted objective (Burda et al. 2016) with the noise ε_1..ε_K given:
 *   log (1/K) Σ_k w_k,  log w_k = -U(u_k) - log q(u_k),  u_k = μ + L ε_k,
 * a deterministic function of the guide's parameters, with its exact gradient written into
 * `grad` when given. Since log q(μ + L ε) = -|ε|²/2 - Σ log L_ii - d/2 log 2π, the gradient of
 * log w_k is the pathwise gradient of -U plus the entropy gradient, and
 *   ∇ = Σ_k w̃_k ∇(-U(u_k)) + ∂H/∂θ,  w̃_k = w_k / Σ_j w_j.
 * At K = 1 the gradient is that of elboWithNoise and the value its estimate plus
 * (|ε|² - d)/2 (zero mean). Returns NaN when U is not finite at a draw.
 */
export function iwaeWithNoise(guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], grad?: Float64Array): number {
  const K = eps.length;
  if (K === 0) throw new RangeError('iwaeWithNoise: need at least one noise draw');
  const d = guide.dim;
  if (potential.dim !== d) throw new RangeError(`iwaeWithNoise: potential has dimension ${potential.dim}, guide ${d}`);
  const us = eps.map((e) => guide.transform(e));
  const gUs: Float64Array[] = [];
  const logw = new Float64Array(K);
  let mx = -Infinity;
  for (let k = 0; k < K; k++) {
    let U: number;
    if (grad) {
      const gU = new Float64Array(d);
      U = potential.valueAndGrad(us[k], gU);
      gUs.push(gU);
    } else U = potential.value(us[k]);
    if (!Number.isFinite(U)) return NaN;
    logw[k] = -U - guide.logq(us[k]);
    if (logw[k] > mx) mx = logw[k];
  }
  let s = 0;
  for (let k = 0; k < K; k++) s += Math.exp(logw[k] - mx);
  if (grad) {
    grad.fill(0);
    for (let k = 0; k < K; k++) guide.addPathGrad(eps[k], gUs[k], Math.exp(logw[k] - mx) / s, grad);
    guide.addEntropyGrad(1, grad);
  }
  return mx + Math.log(s / K);
}

/** Draws S noise vectors ε ~ N(0, I_d). */
export function drawNoise(rng: Rng, dim: number, S: number): Float64Array[] {
  return Array.from({ length: S }, () => {
    const e = new Float64Array(dim);
    for (let i = 0; i < dim; i++) e[i] = rng.normal();
    return e;
  });
}
