/**
 * Variational objectives written as programs. An objective is a function of the K draws'
 * log densities under the model, log p(y, u_k) = −U(u_k), and under the guide, log q(u_k),
 * with u_k = u_θ(ε_k) reparameterised draws; the user writes it with the vector operations of
 * {@link ObjectiveOps}, and the library turns it into an exact gradient of the fixed-noise
 * estimate by reverse-mode differentiation of the program, chained with the pathwise
 * gradients of log p (the traced potential) and log q (the guide) at each draw:
 *   ∂f/∂θ = Σ_k (∂f/∂logp_k) ∂(−U(u_k))/∂θ + (∂f/∂logq_k) ∂ log q_θ(u_θ(ε_k))/∂θ.
 * This is the shape of programmable VI (Becker et al. 2024, genjax.vi): ELBO, IWAE, Rényi and
 * tempered bounds are a line each (see {@link objectives}).
 *
 * Not every program is a good objective: the χ² upper bound ½ log mean w² (CUBO), minimised
 * through its fixed-noise estimate, drives q to collapse (the few draws never see the tails
 * where w² is large) — Dieng et al. (2017) minimise exp(n·CUBO) instead.
 *
 * @example
 * // A tempered ELBO: maximised by q ∝ p(y, u)^0.5.
 * const half: ObjectiveProgram = ({ logp, logq }, o) => o.mean(o.sub(o.scale(logp, 0.5), logq));
 * vi(bound, { objective: half, samples: 4 });
 */
import { drawPotentials, type Guide, type Potential } from './guides';

/** A value in an objective program: a vector over draws (length K) or a scalar (length 1). */
export class Node {
  /** @internal */
  grad: Float64Array;
  /** @internal */
  constructor(
    readonly value: Float64Array,
    /** @internal Parents and the vector-Jacobian products into them. */
    readonly back: ((g: Float64Array) => void) | null,
  ) {
    this.grad = new Float64Array(value.length);
  }

  get length(): number {
    return this.value.length;
  }
}

/** The draws an objective program sees. */
export interface ObjectiveInputs {
  /** log p(y, u_k) (Jacobian included) for each draw k. */
  logp: Node;
  /** log q(u_k) for each draw k. */
  logq: Node;
  /** Number of draws. */
  K: number;
}

/** The operations objective programs are written with; every one is differentiated exactly. */
export interface ObjectiveOps {
  add(a: Node, b: Node | number): Node;
  sub(a: Node, b: Node | number): Node;
  mul(a: Node, b: Node): Node;
  scale(a: Node, c: number): Node;
  exp(a: Node): Node;
  log(a: Node): Node;
  sum(a: Node): Node;
  mean(a: Node): Node;
  /** log Σ exp(a_k), computed stably. */
  logSumExp(a: Node): Node;
  /** log (1/K) Σ exp(a_k). */
  logMeanExp(a: Node): Node;
}

/** An objective program: returns a scalar Node (length 1) to maximise (or minimise, see `maximize`). */
export type ObjectiveProgram = (inputs: ObjectiveInputs, ops: ObjectiveOps) => Node;

function broadcast(a: Node, b: Node, who: string): number {
  if (a.length === b.length) return a.length;
  if (a.length === 1) return b.length;
  if (b.length === 1) return a.length;
  throw new RangeError(`objective: ${who} of lengths ${a.length} and ${b.length}`);
}

/** Adds g (length n) into a node of length n or 1 (summing when broadcast). */
function accumulate(x: Node, g: Float64Array): void {
  if (x.length === g.length) for (let i = 0; i < g.length; i++) x.grad[i] += g[i];
  else {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i];
    x.grad[0] += s;
  }
}

/** Records a program's operations on a tape so it can be run backwards. */
class Tape implements ObjectiveOps {
  readonly nodes: Node[] = [];

  leaf(v: Float64Array): Node {
    return this.push(new Node(v, null));
  }

  private push(n: Node): Node {
    this.nodes.push(n);
    return n;
  }

  private constant(c: number): Node {
    return this.leaf(Float64Array.of(c));
  }

  private check(a: unknown, who: string): Node {
    if (!(a instanceof Node) || !this.nodes.includes(a)) throw new RangeError(`objective: ${who} got a value that is not a Node of this program`);
    return a;
  }

  private unary(a: Node, who: string, f: (x: number) => number, df: (x: number, y: number) => number): Node {
    this.check(a, who);
    const v = a.value.map(f);
    const out: Node = new Node(v, (g) => accumulate(a, g.map((gi, i) => gi * df(a.value[i], v[i]))));
    return this.push(out);
  }

  add(a: Node, b: Node | number): Node {
    const bb = typeof b === 'number' ? this.constant(b) : this.check(b, 'add');
    this.check(a, 'add');
    const n = broadcast(a, bb, 'add');
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = a.value[a.length === 1 ? 0 : i] + bb.value[bb.length === 1 ? 0 : i];
    return this.push(new Node(v, (g) => {
      accumulate(a, g);
      accumulate(bb, g);
    }));
  }

  sub(a: Node, b: Node | number): Node {
    const bb = typeof b === 'number' ? this.constant(b) : this.check(b, 'sub');
    return this.add(a, this.scale(bb, -1));
  }

  mul(a: Node, b: Node): Node {
    this.check(a, 'mul');
    this.check(b, 'mul');
    const n = broadcast(a, b, 'mul');
    const av = (i: number): number => a.value[a.length === 1 ? 0 : i];
    const bv = (i: number): number => b.value[b.length === 1 ? 0 : i];
    const v = Float64Array.from({ length: n }, (_, i) => av(i) * bv(i));
    return this.push(new Node(v, (g) => {
      accumulate(a, g.map((gi, i) => gi * bv(i)));
      accumulate(b, g.map((gi, i) => gi * av(i)));
    }));
  }

  scale(a: Node, c: number): Node {
    if (!Number.isFinite(c)) throw new RangeError(`objective: scale by ${c}`);
    return this.unary(a, 'scale', (x) => c * x, () => c);
  }

  exp(a: Node): Node {
    return this.unary(a, 'exp', Math.exp, (_x, y) => y);
  }

  log(a: Node): Node {
    return this.unary(a, 'log', Math.log, (x) => 1 / x);
  }

  sum(a: Node): Node {
    this.check(a, 'sum');
    let s = 0;
    for (const x of a.value) s += x;
    return this.push(new Node(Float64Array.of(s), (g) => accumulate(a, new Float64Array(a.length).fill(g[0]))));
  }

  mean(a: Node): Node {
    return this.scale(this.sum(a), 1 / a.length);
  }

  logSumExp(a: Node): Node {
    this.check(a, 'logSumExp');
    let m = -Infinity;
    for (const x of a.value) if (x > m) m = x;
    let s = 0;
    for (const x of a.value) s += Math.exp(x - m);
    const lse = m === -Infinity ? -Infinity : m + Math.log(s);
    return this.push(new Node(Float64Array.of(lse), (g) => accumulate(a, a.value.map((x) => g[0] * Math.exp(x - lse)))));
  }

  logMeanExp(a: Node): Node {
    return this.add(this.logSumExp(a), -Math.log(a.length));
  }

  /** Runs the tape backwards from `out` (seeded with 1). */
  backward(out: Node): void {
    out.grad[0] = 1;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.back) n.back(n.grad);
    }
  }
}

/**
 * The fixed-noise estimate of an objective program and its exact gradient in the guide's
 * parameters (written into `grad` when given). Returns NaN when the potential is not finite
 * at a draw or the program's value is not finite.
 */
export function programWithNoise(
  guide: Guide, potential: Potential, eps: readonly ArrayLike<number>[], program: ObjectiveProgram, grad?: Float64Array,
): number {
  const K = eps.length;
  if (K === 0) throw new RangeError('programWithNoise: need at least one noise draw');
  const d = guide.dim;
  if (potential.dim !== d) throw new RangeError(`programWithNoise: potential has dimension ${potential.dim}, guide ${d}`);
  const logp = new Float64Array(K);
  const logq = new Float64Array(K);
  const { us, U, gUs } = drawPotentials(guide, potential, eps, !!grad);
  for (let k = 0; k < K; k++) {
    if (!Number.isFinite(U[k])) return NaN;
    logp[k] = -U[k];
    logq[k] = guide.logq(us[k]);
  }
  const tape = new Tape();
  const inP = tape.leaf(logp);
  const inQ = tape.leaf(logq);
  const out = program({ logp: inP, logq: inQ, K }, tape);
  if (!(out instanceof Node) || out.length !== 1) throw new RangeError('programWithNoise: the objective program must return a scalar Node (use sum, mean or logMeanExp)');
  const value = out.value[0];
  if (!Number.isFinite(value)) return NaN;
  if (grad) {
    tape.backward(out);
    grad.fill(0);
    for (let k = 0; k < K; k++) {
      // ∂ log p(u_k)/∂θ is the path gradient of −U; ∂ log q(u_k)/∂θ the negative of addNegLogqGrad.
      if (inP.grad[k] !== 0) guide.addPathGrad(eps[k], gUs[k], inP.grad[k], grad);
      if (inQ.grad[k] !== 0) guide.addNegLogqGrad(eps[k], -inQ.grad[k], grad);
    }
  }
  return value;
}

/** Common objectives as programs (they agree with the built-in estimators where those exist). */
export const objectives = {
  /** The ELBO, mean of log p − log q (the built-in 'elbo' uses the closed-form entropy instead). */
  elbo: ((x, o) => o.mean(o.sub(x.logp, x.logq))) as ObjectiveProgram,
  /** The IWAE bound, log mean exp(log p − log q). */
  iwae: ((x, o) => o.logMeanExp(o.sub(x.logp, x.logq))) as ObjectiveProgram,
  /** The variational Rényi bound of order α ≠ 1. */
  renyi(alpha: number): ObjectiveProgram {
    if (!Number.isFinite(alpha) || alpha === 1) throw new RangeError(`objectives.renyi: alpha must be a finite number other than 1, got ${alpha}`);
    return (x, o) => o.scale(o.logMeanExp(o.scale(o.sub(x.logp, x.logq), 1 - alpha)), 1 / (1 - alpha));
  },
  /**
   * The tempered ELBO E_q[β log p(y, u) − log q(u)], maximised by q ∝ p(y, u)^β (over a family
   * that contains it): β < 1 widens the fit, as a power posterior.
   */
  tempered(beta: number): ObjectiveProgram {
    if (!(beta > 0) || !Number.isFinite(beta)) throw new RangeError(`objectives.tempered: beta must be a finite number > 0, got ${beta}`);
    return (x, o) => o.mean(o.sub(o.scale(x.logp, beta), x.logq));
  },
};
