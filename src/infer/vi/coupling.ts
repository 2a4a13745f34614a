/**
 * An affine-coupling normalising flow (RealNVP, Dinh et al. 2017) over the flat unconstrained
 * vector u, in float64 JS with a hand-written reverse pass (as the planar guide):
 *   z_0 = ε ~ N(0, I),
 *   layer l: x = z_l split by a mask into a conditioning part x_A and a transformed part x_B,
 *            y_A = x_A,  y_B = x_B ⊙ exp(s_l(x_A)) + t_l(x_A),  z_{l+1} = y,
 *   u = μ + exp(ω) ⊙ z_L.
 * s_l and t_l are the two halves of a one-hidden-layer MLP of x_A,
 *   h = tanh(W1 x_A + b1),  r = W2 h + b2 (2|B| outputs),  s = c tanh(r_s / c),  t = r_t,
 * whose log scale is soft-clamped to (−c, c) (c = `clamp`) so a layer can never blow up.
 * Each layer is triangular with log |det| = Σ_{i∈B} s_i, so
 *   log q(u) = log N(ε; 0, I) − Σ_l Σ_{i∈B_l} s_{l,i} − Σ_i ω_i,
 * and the inverse is exact: z_L = (u − μ)/exp(ω), then x_B = (y_B − t(y_A)) exp(−s(y_A)) layer
 * by layer back to ε (no Newton solve, unlike the planar flow).
 *
 * Masks: 'alternating' conditions layer l on the coordinates of parity l mod 2 and
 * transforms the others; 'permuted' takes, for each pair of layers, a fixed-seeded random
 * permutation of the coordinates, conditions the first layer on its first ⌈d/2⌉ entries and
 * the second on the rest (more mixing between distant coordinates in higher dimension).
 * Either way every coordinate is transformed once in each pair of layers. In 1-D there is
 * nothing to condition on: each layer is a constant affine map and the flow is Gaussian.
 *
 * params: [μ (d), ω (d), then per layer W1 (H × |A|, row-major), b1 (H), W2 (2|B| × H,
 * row-major; the s rows then the t rows), b2 (2|B|)]. W2 = b2 = 0 at the start (every layer the
 * identity, so q starts as N(init, initSd² I)); W1 has fixed-seeded N(0, 1/|A|) entries so the
 * hidden units are not all equal.
 */
import type { Rng } from '../../tensor/random';
import type { Guide } from './guides';
import { FlowGuide } from './flow';
import { fixedNormals } from './noise';

const LOG_2PI = Math.log(2 * Math.PI);

/** Options of the coupling flow guide. */
export interface CouplingOptions {
  /** Coupling layers (default 8). */
  layers?: number;
  /** Hidden units of each layer's MLP (default 16). */
  hidden?: number;
  /** Mask schedule (default 'alternating'; see the module comment). */
  masks?: 'alternating' | 'permuted';
  /** Soft clamp c of the log scales, s = c tanh(r / c) (default 3). */
  clamp?: number;
}

interface Layer {
  /** Conditioning coordinates. */
  A: Int32Array;
  /** Transformed coordinates. */
  B: Int32Array;
  /** Offsets of W1, b1, W2, b2 in params. */
  oW1: number;
  ob1: number;
  oW2: number;
  ob2: number;
}

/** One layer's forward values at its input x. */
interface LayerPass {
  x: Float64Array;
  h: Float64Array;
  /** Unclamped outputs r_s (first |B|) and r_t. */
  s: Float64Array;
  t: Float64Array;
}

export class CouplingFlowGuide extends FlowGuide {
  readonly kind = 'coupling' as const;
  readonly params: Float64Array;
  readonly layers: number;
  readonly hidden: number;
  readonly masks: 'alternating' | 'permuted';
  readonly clamp: number;
  private readonly layout: Layer[];

  /** Starts at q = N(init, initSd² I) (init default 0, initSd default 1). */
  constructor(readonly dim: number, opts: CouplingOptions = {}, init?: ArrayLike<number>, initSd = 1) {
    super();
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`CouplingFlowGuide: dimension must be a positive integer, got ${dim}`);
    const layers = opts.layers ?? 8;
    const hidden = opts.hidden ?? 16;
    const masks = opts.masks ?? 'alternating';
    const clamp = opts.clamp ?? 3;
    if (!Number.isInteger(layers) || layers < 1) throw new RangeError(`CouplingFlowGuide: layers must be a positive integer, got ${layers}`);
    if (!Number.isInteger(hidden) || hidden < 1) throw new RangeError(`CouplingFlowGuide: hidden must be a positive integer, got ${hidden}`);
    if (masks !== 'alternating' && masks !== 'permuted') throw new RangeError(`CouplingFlowGuide: masks must be 'alternating' or 'permuted', got '${String(masks)}'`);
    if (!(clamp > 0) || !Number.isFinite(clamp)) throw new RangeError(`CouplingFlowGuide: clamp must be a finite number > 0, got ${clamp}`);
    if (!(initSd > 0)) throw new RangeError(`CouplingFlowGuide: initSd must be > 0, got ${initSd}`);
    this.layers = layers;
    this.hidden = hidden;
    this.masks = masks;
    this.clamp = clamp;
    this.layout = [];
    const perm = fixedPermutations(dim, Math.ceil(layers / 2));
    let off = 2 * dim;
    for (let l = 0; l < layers; l++) {
      const inA: boolean[] = new Array<boolean>(dim).fill(false);
      if (masks === 'alternating') for (let i = 0; i < dim; i++) inA[i] = i % 2 === l % 2;
      else {
        const p = perm[l >> 1];
        const half = Math.ceil(dim / 2);
        for (let k = 0; k < dim; k++) inA[p[k]] = (k < half) === (l % 2 === 0);
      }
      const A = Int32Array.from({ length: dim }, (_, i) => i).filter((i) => inA[i]);
      const B = Int32Array.from({ length: dim }, (_, i) => i).filter((i) => !inA[i]);
      const oW1 = off;
      const ob1 = oW1 + hidden * A.length;
      const oW2 = ob1 + hidden;
      const ob2 = oW2 + 2 * B.length * hidden;
      off = ob2 + 2 * B.length;
      this.layout.push({ A, B, oW1, ob1, oW2, ob2 });
    }
    this.params = new Float64Array(off);
    if (init) {
      if (init.length !== dim) throw new RangeError(`CouplingFlowGuide: init has length ${init.length}, expected ${dim}`);
      for (let i = 0; i < dim; i++) this.params[i] = init[i];
    }
    this.params.fill(Math.log(initSd), dim, 2 * dim);
    const normal = fixedNormals(31337);
    for (const L of this.layout) {
      const sd = 1 / Math.sqrt(Math.max(1, L.A.length));
      for (let k = 0; k < hidden * L.A.length; k++) this.params[L.oW1 + k] = sd * normal();
    }
  }

  get noiseDim(): number {
    return this.dim;
  }

  /**
   * Per-parameter multipliers of the optimiser's learning rate (vi passes them to Adam): 1 for
   * μ and ω, which may have to travel far, and 1/5 for the MLP weights, which all move at once —
   * at the full rate (0.05) the runs on the skewed test posterior wandered off early (KL from 4
   * up to 60 before recovering), at a fifth they fitted it.
   */
  stepScale(): Float64Array {
    const s = new Float64Array(this.params.length).fill(0.2);
    s.fill(1, 0, 2 * this.dim);
    return s;
  }

  /** The conditioning (A) and transformed (B) coordinates of each layer. */
  maskOf(l: number): { A: number[]; B: number[] } {
    const L = this.layout[l];
    return { A: Array.from(L.A), B: Array.from(L.B) };
  }

  /** Layer l at input x: hidden units, clamped log scales s and shifts t (the MLP of x_A). */
  private layerPass(l: number, x: Float64Array): LayerPass {
    const { A, B, oW1, ob1, oW2, ob2 } = this.layout[l];
    const p = this.params;
    const H = this.hidden;
    const nA = A.length;
    const nB = B.length;
    const c = this.clamp;
    const h = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      let a = p[ob1 + j];
      for (let k = 0; k < nA; k++) a += p[oW1 + j * nA + k] * x[A[k]];
      h[j] = Math.tanh(a);
    }
    const s = new Float64Array(nB);
    const t = new Float64Array(nB);
    for (let k = 0; k < 2 * nB; k++) {
      let r = p[ob2 + k];
      for (let j = 0; j < H; j++) r += p[oW2 + k * H + j] * h[j];
      if (k < nB) s[k] = c * Math.tanh(r / c);
      else t[k - nB] = r;
    }
    return { x, h, s, t };
  }

  /** Forward pass from ε: each layer's pass, z_L and Σ log|det| of the coupling layers. */
  private forward(eps: ArrayLike<number>): { passes: LayerPass[]; zL: Float64Array; logDet: number } {
    let z = Float64Array.from(eps);
    const passes: LayerPass[] = [];
    let logDet = 0;
    for (let l = 0; l < this.layers; l++) {
      const pass = this.layerPass(l, z);
      passes.push(pass);
      const { B } = this.layout[l];
      const y = z.slice();
      for (let k = 0; k < B.length; k++) {
        y[B[k]] = z[B[k]] * Math.exp(pass.s[k]) + pass.t[k];
        logDet += pass.s[k];
      }
      z = y;
    }
    return { passes, zL: z, logDet };
  }

  transform(eps: ArrayLike<number>, out = new Float64Array(this.dim)): Float64Array {
    const { zL } = this.forward(eps);
    const d = this.dim;
    const p = this.params;
    for (let i = 0; i < d; i++) out[i] = p[i] + Math.exp(p[d + i]) * zL[i];
    return out;
  }

  /** The exact inverse of transform: the ε with transform(ε) = u, and Σ log|det| of the coupling layers there. */
  inverseWithLogDet(u: ArrayLike<number>): { eps: Float64Array; logDet: number } {
    const d = this.dim;
    const p = this.params;
    let y = new Float64Array(d);
    for (let i = 0; i < d; i++) y[i] = (u[i] - p[i]) / Math.exp(p[d + i]);
    let logDet = 0;
    for (let l = this.layers - 1; l >= 0; l--) {
      // y_A = x_A, so the MLP sees the same input in both directions.
      const { s, t } = this.layerPass(l, y);
      const { B } = this.layout[l];
      const x = y.slice();
      for (let k = 0; k < B.length; k++) {
        x[B[k]] = (y[B[k]] - t[k]) * Math.exp(-s[k]);
        logDet += s[k];
      }
      y = x;
    }
    return { eps: y, logDet };
  }

  /** The ε with transform(ε) = u (exact up to rounding). */
  inverse(u: ArrayLike<number>): Float64Array {
    return this.inverseWithLogDet(u).eps;
  }

  sample(rng: Rng): { u: Float64Array; eps: Float64Array } {
    const eps = new Float64Array(this.dim);
    for (let i = 0; i < this.dim; i++) eps[i] = rng.normal();
    return { u: this.transform(eps), eps };
  }

  private sumOmega(): number {
    let s = 0;
    for (let i = 0; i < this.dim; i++) s += this.params[this.dim + i];
    return s;
  }

  logq(u: ArrayLike<number>): number {
    const { eps, logDet } = this.inverseWithLogDet(u);
    return stdNormalLogDensity(eps) - logDet - this.sumOmega();
  }

  entropyTerm(eps: ArrayLike<number>): number {
    return -stdNormalLogDensity(eps) + this.forward(eps).logDet + this.sumOmega();
  }

  /**
   * Reverse pass: adds scale · ∂F/∂θ into `out` for F = gTopᵀ u(ε) (+ the −log q terms
   * Σ ω_i + Σ_l Σ_B s_l when `withLogDet`), ε held fixed.
   */
  protected backward(eps: ArrayLike<number>, gTop: ArrayLike<number> | null, withLogDet: boolean, scale: number, out: Float64Array): void {
    const d = this.dim;
    const p = this.params;
    const H = this.hidden;
    const c = this.clamp;
    const { passes, zL } = this.forward(eps);
    // g: ∂F/∂z_{l+1} while walking back through layer l.
    const g = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      const gu = gTop ? scale * gTop[i] : 0;
      const sd = Math.exp(p[d + i]);
      out[i] += gu;
      out[d + i] += gu * sd * zL[i] + (withLogDet ? scale : 0);
      g[i] = gu * sd;
    }
    const gDet = withLogDet ? scale : 0;
    for (let l = this.layers - 1; l >= 0; l--) {
      const { A, B, oW1, ob1, oW2, ob2 } = this.layout[l];
      const { x, h, s } = passes[l];
      const nA = A.length;
      const nB = B.length;
      // ∂F/∂r for the MLP outputs r = (r_s, r_t); s = c tanh(r_s / c) has ds/dr_s = 1 − (s/c)².
      const gr = new Float64Array(2 * nB);
      for (let k = 0; k < nB; k++) {
        const i = B[k];
        const es = Math.exp(s[k]);
        const gs = g[i] * x[i] * es + gDet;
        gr[k] = gs * (1 - (s[k] / c) ** 2);
        gr[nB + k] = g[i];
        g[i] *= es; // ∂y_i/∂x_i = exp(s_i)
      }
      const gh = new Float64Array(H);
      for (let k = 0; k < 2 * nB; k++) {
        const gk = gr[k];
        if (gk === 0) continue;
        out[ob2 + k] += gk;
        for (let j = 0; j < H; j++) {
          out[oW2 + k * H + j] += gk * h[j];
          gh[j] += gk * p[oW2 + k * H + j];
        }
      }
      for (let j = 0; j < H; j++) {
        const ga = gh[j] * (1 - h[j] * h[j]);
        if (ga === 0) continue;
        out[ob1 + j] += ga;
        for (let k = 0; k < nA; k++) {
          out[oW1 + j * nA + k] += ga * x[A[k]];
          g[A[k]] += ga * p[oW1 + j * nA + k]; // y_A = x_A, plus the path through the MLP
        }
      }
    }
  }

  clone(): CouplingFlowGuide {
    const g = new CouplingFlowGuide(this.dim, { layers: this.layers, hidden: this.hidden, masks: this.masks, clamp: this.clamp });
    g.params.set(this.params);
    return g;
  }
}

function stdNormalLogDensity(eps: ArrayLike<number>): number {
  let s = -0.5 * eps.length * LOG_2PI;
  for (let i = 0; i < eps.length; i++) s -= 0.5 * eps[i] * eps[i];
  return s;
}

/** n fixed-seeded random permutations of 0..d−1 (Fisher–Yates on the LCG of fixedNormals). */
function fixedPermutations(d: number, n: number): Int32Array[] {
  let state = 2718;
  const unif = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return (state + 0.5) / 2147483648;
  };
  return Array.from({ length: n }, () => {
    const p = Int32Array.from({ length: d }, (_, i) => i);
    for (let i = d - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(unif() * (i + 1)));
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  });
}
