/**
 * Limited-memory BFGS with a backtracking Armijo line search, in float64 on the host.
 * The objective and gradient come from the model (float32 tensors), so convergence is
 * judged on relative objective change and gradient norm at float32-sensible tolerances.
 */
export interface LbfgsOptions {
  maxIter?: number;
  /** Stop when |f_k - f_{k+1}| <= tolRel * max(1, |f_k|). */
  tolRel?: number;
  /** Stop when the gradient's infinity norm falls below this. */
  tolGrad?: number;
  /** History size. */
  m?: number;
  onIteration?: (iter: number, f: number) => void;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  converged: boolean;
  message: string;
  trace: number[];
}

/** An objective value and its gradient. */
export interface ValueAndGrad {
  value: number;
  grad: Float64Array;
}

/** Minimises `fg` from `x0` (synchronous evaluations). */
export function lbfgs(fg: (x: Float64Array) => ValueAndGrad, x0: ArrayLike<number>, opts: LbfgsOptions = {}): LbfgsResult {
  // The evaluation generator never yields, so neither does the iteration.
  // eslint-disable-next-line require-yield
  const r = lbfgsSteps(function* (x: Float64Array) { return fg(x); }, x0, opts).next();
  if (!r.done) throw new Error('internal: lbfgs yielded without an evaluation that yields');
  return r.value;
}

/**
 * The same iteration with each evaluation delegated to a generator (`yield*`), so that an
 * evaluation can yield whatever its driver answers (host reads of tensors: EM's M-step uses
 * it under runSync and runAsync, see src/infer/em/host-reads.ts). The arithmetic is
 * {@link lbfgs}'s.
 */
export function* lbfgsSteps<Y, N>(evaluate: (x: Float64Array) => Generator<Y, ValueAndGrad, N>, x0: ArrayLike<number>, opts: LbfgsOptions = {}): Generator<Y, LbfgsResult, N> {
  const maxIter = opts.maxIter ?? 500;
  const tolRel = opts.tolRel ?? 1e-7;
  const tolGrad = opts.tolGrad ?? 1e-5;
  const m = opts.m ?? 8;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let { value: f, grad: g } = yield* evaluate(x);
  if (!Number.isFinite(f)) return { x, f, iterations: 0, converged: false, message: 'objective is not finite at the starting point', trace: [f] };
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const trace = [f];
  const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let i = 0; i < n; i++) s += a[i] * b[i]; return s; };
  for (let iter = 1; iter <= maxIter; iter++) {
    // Two-loop recursion for d = -H g.
    const q = Float64Array.from(g);
    const alpha: number[] = [];
    for (let i = S.length - 1; i >= 0; i--) {
      const a = dot(S[i], q) / dot(Y[i], S[i]);
      alpha[i] = a;
      for (let j = 0; j < n; j++) q[j] -= a * Y[i][j];
    }
    const gamma = S.length ? dot(S[S.length - 1], Y[S.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let j = 0; j < n; j++) q[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const b = dot(Y[i], q) / dot(Y[i], S[i]);
      for (let j = 0; j < n; j++) q[j] += S[i][j] * (alpha[i] - b);
    }
    const d = q.map((v) => -v);
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (curvature information went stale): restart from steepest descent.
      S.length = 0; Y.length = 0;
      for (let j = 0; j < n; j++) d[j] = -g[j] / Math.max(1, Math.sqrt(dot(g, g)));
      slope = dot(g, d);
    }
    let step = 1;
    let xn = new Float64Array(n);
    let fn = Infinity;
    let gn = g;
    for (let ls = 0; ls < 40; ls++) {
      for (let j = 0; j < n; j++) xn[j] = x[j] + step * d[j];
      const r = yield* evaluate(xn);
      fn = r.value; gn = r.grad;
      if (Number.isFinite(fn) && fn <= f + 1e-4 * step * slope && gn.every(Number.isFinite)) break;
      step *= 0.5;
      fn = Infinity;
    }
    if (!Number.isFinite(fn)) return { x, f, iterations: iter, converged: false, message: 'line search failed to decrease the objective', trace };
    const s = xn.map((v, j) => v - x[j]);
    const y = gn.map((v, j) => v - g[j]);
    if (dot(s, y) > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      S.push(s); Y.push(y);
      if (S.length > m) { S.shift(); Y.shift(); }
    }
    const change = Math.abs(f - fn);
    x = xn; xn = new Float64Array(n);
    f = fn; g = gn;
    trace.push(f);
    opts.onIteration?.(iter, f);
    const gmax = g.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    if (gmax < tolGrad) return { x, f, iterations: iter, converged: true, message: 'gradient below tolerance', trace };
    if (change <= tolRel * Math.max(1, Math.abs(f))) return { x, f, iterations: iter, converged: true, message: 'relative change below tolerance', trace };
  }
  return { x, f, iterations: maxIter, converged: false, message: `stopped after maxIter = ${maxIter} iterations`, trace };
}
