/**
 * Closed-form M-step updates, recognised from the IR (never from a model's name):
 * each maximises Q(θ) in one parameter with the others fixed, so applying them in turn
 * is an ECM step and keeps EM monotone. A parameter qualifies only when every factor it
 * enters has the recognised form (and, for MAP, its prior is conjugate or absent).
 *
 * Rules:
 * - categorical weights: `... ~ categorical(w)` or `categorical(A[z[t-1]])` (rows of a
 *   transition matrix): w ∝ expected counts (+ Dirichlet α − 1 for MAP, when all α ≥ 1);
 * - Gaussian components: `x ~ normal(mu[z], sigma[z])`: weighted means and variances;
 * - Poisson / Bernoulli / exponential components: weighted means (rate = 1 / mean);
 * - gamma components `gamma(shape[z], rate[z])`: shape from the weighted profile equation
 *   log a - ψ(a) = log mean - mean log (float64 Newton on the host), then rate = shape / mean;
 *   with a fixed (or otherwise updated) shape, the rate alone;
 * - Student-t components `student_t(nu, mu[z], sigma[z])`: ECM with the latent scale u
 *   (u-weighted means and scales); a nu param goes to the gradient M-step;
 * - multivariate normal components: `mvnormal(mu[z], Sigma[z])`,
 *   `mvnormal_cholesky(mu[z], L[z])` (L: cholesky_cov) and
 *   `mvnormal_cholesky(mu[z], diag_pre_multiply(tau[z], Lc[z]))` (Lc: cholesky_corr),
 *   with a shared (tied) covariance when the scale is not indexed by the latent.
 * Empty components keep their previous value (no NaN); variances get `regCovar` added.
 *
 * MAP (priors kept): a parameter with a prior qualifies when the prior is on the whole
 * parameter, its arguments mention no parameter, and it is one of these semi-conjugate
 * forms (each update is the exact maximiser of Q + log prior in that parameter given the
 * others, so the ECM sequence keeps the log posterior non-decreasing):
 * - normal means, `mu ~ normal(m0, s0)`: mu = (Σrx/σ² + m0/s0²) / (Σr/σ² + 1/s0²)
 *   (Murphy 2012 §4.6.1, the Gaussian posterior mean with known variance);
 * - mvnormal means, `mu ~ normal(m0, s0)` (elementwise) or `mu ~ mvnormal(m0, S0)` (rows):
 *   mu_k = (P0 + n_k Σ_k⁻¹)⁻¹ (P0 m0 + Σ_k⁻¹ Σ r x), P0 = S0⁻¹ (Murphy 2012 §4.6.1);
 * - normal scales, `sigma ~ inv_gamma(a, b)` (a density on sigma itself): the positive
 *   root of (n + a + 1) σ² - b σ - SS = 0, SS = Σ r (x - mu)², from d/dσ of
 *   -n log σ - SS/(2σ²) - (a + 1) log σ - b/σ;
 * - covariance matrices, `Sigma ~ inv_wishart(nu, Psi)`: (Psi + S_k) / (nu + D + 1 + n_k)
 *   with S_k the weighted scatter about the new mean (the inverse-Wishart posterior mode,
 *   Murphy 2012 §4.6.3.2; mclust's Bayesian regularisation, Fraley and Raftery 2007, uses
 *   the same mode with a conjugate prior on the mean).
 * An empty component then takes its prior mode instead of its previous value.
 */
import { tf, cholesky, choleskySolve, matrixDiag, matrixDiagPart, digammaF64, trigammaF64, selectOnDevice, type Tensor } from '../../tensor';
import type { BoundModel } from '../../model/bound-model';
import type { Factor, IRExpr } from '../../ir/types';
import { mentions } from '../../ir/walk';
import { evalWith, factorWeights, latentDim } from '../../model/evaluate';
import { align, elementwise, sumDims, type BVal } from '../../model/values';

export interface ClosedFormUpdate {
  param: string;
  /** Which rule: e.g. 'categorical weights', 'normal components'. */
  rule: string;
  /**
   * The new constrained value, given current values and posterior marginals; or, for an
   * update that solves on the host (`hostReads`), the statistics it reads and the solve.
   * {@link resolveUpdate} gives the value with synchronous reads.
   */
  update(params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>): Tensor | HostSolve;
  /**
   * True when the update solves on the host (a float64 Newton solve, an isotonic regression):
   * `update` returns a {@link HostSolve}, so EM's async loop (webgpu) reads the statistics with
   * an awaited read between the device's updates.
   */
  hostReads?: boolean;
}

/** A host solve: the statistics computed on the device, and the new value from their numbers. */
export interface HostSolve {
  read: Tensor[];
  /** The new constrained value from the numbers of `read`, in order. */
  solve(values: ArrayLike<number>[]): Tensor;
}

const isHostSolve = (v: Tensor | HostSolve): v is HostSolve => 'solve' in v && 'read' in v;

/** An update's value, reading a host solve's statistics synchronously (the sync M-step). */
export function resolveUpdate(v: Tensor | HostSolve): Tensor {
  return isHostSolve(v) ? v.solve(v.read.map((t) => t.dataSync())) : v;
}

/** An update's host solve, or undefined when it gave the value on the device. */
export function hostSolveOf(v: Tensor | HostSolve): HostSolve | undefined {
  return isHostSolve(v) ? v : undefined;
}

export interface ClosedFormOptions {
  priors: boolean;
  /** Added to variances / covariance diagonals (scikit-learn's reg_covar). */
  regCovar?: number;
}

/** The latent that selects a component parameter: `p[z...]` with z an enumerated latent. */
function byLatent(e: IRExpr | undefined): { param: string; latent: string; prev: boolean } | undefined {
  if (!e || e.op !== 'index' || e.target.op !== 'param' || e.indices.length !== 1) return undefined;
  const ix = e.indices[0];
  if (ix.op !== 'latent') return undefined;
  const prev = ix.index.some((i) => 'shift' in i && i.shift === -1);
  return { param: e.target.name, latent: ix.name, prev };
}

/** Sums every named plate dim of a value (keeps latent dims). */
function sumPlates(v: BVal): BVal {
  return sumDims(v, v.dims.filter((d) => d.startsWith('p:')));
}

/** Lays a value out as [latent dim, ...event] (summing plates first). */
function perComponent(v: BVal, dim: string): Tensor {
  const s = sumPlates(v);
  if (s.dims.length !== 1 || s.dims[0] !== dim) throw new Error(`internal: expected dims [${dim}], got [${s.dims}]`);
  return s.t;
}

/**
 * The common layout: weights over [one plate, the latent] and data over [that plate]
 * with a vector or scalar event. Returns W [N, K] and X [N, D] (D = 1 for scalars).
 */
function matrixLayout(w: BVal, x: BVal, dim: string): { W: Tensor; X: Tensor; scalar: boolean } | undefined {
  if (w.dims.length !== 2 || x.dims.length !== 1 || !w.dims.includes(dim) || !w.dims.includes(x.dims[0])) return undefined;
  const ev = x.t.rank - 1;
  if (ev > 1) return undefined;
  const W = w.dims[0] === dim ? tf.transpose(w.t) : w.t;
  return { W, X: ev === 0 ? tf.expandDims(x.t, 1) : x.t, scalar: ev === 0 };
}

/** Weighted sums over plates: Σ r and Σ r·x, each [K, ...event]; by one matmul when the layout allows. */
function weightedMoments(w: BVal, x: BVal, dim: string): { n: Tensor; s1: Tensor } {
  const n = perComponent(w, dim);
  const m = matrixLayout(w, x, dim);
  if (m) {
    const s = tf.matMul(tf.transpose(m.W), m.X); // [K, D]
    return { n, s1: m.scalar ? tf.reshape(s, [-1]) : s };
  }
  const { dims, ts } = align([w, x], [0, 0]);
  return { n, s1: perComponent({ t: tf.mul(ts[0], ts[1]), dims }, dim) };
}

/** Element budget for the cached per-row outer products (N D^2 floats, 128 MiB). */
const OUTER_BUDGET = 1 << 25;

/**
 * Σ_n r_nk (x_n - mu_k)(x_n - mu_k)' for each k, [K, D, D]. When N D^2 fits the budget:
 * one matmul R' O with O the per-row outer products of the data centred on its overall
 * mean (computed once per binding and cached), then the shift to each component's own
 * mean: S_k = Σ r x̃x̃' - n_k m̃_k m̃_k'. Centring first keeps the float32 cancellation to
 * the size of a component's offset from the overall mean, not from zero. Otherwise one
 * centred matmul per component.
 */
function weightedScatter(w: BVal, x: BVal, mu: Tensor, dim: string, cache?: Map<string, Tensor>, key = ''): Tensor | undefined {
  const m = matrixLayout(w, x, dim);
  if (!m || m.scalar) return undefined;
  const K = m.W.shape[1] as number;
  const [N, D] = m.X.shape as [number, number];
  if (cache && N * D * D <= OUTER_BUDGET) {
    let centre = cache.get(`${key}:mean`);
    let outer = cache.get(`${key}:outer`);
    let dataVar = cache.get(`${key}:var`);
    if (!centre || !outer || !dataVar) {
      centre = tf.keep(tf.mean(m.X, 0, true));
      const xc = tf.sub(m.X, centre);
      outer = tf.keep(tf.reshape(tf.mul(tf.expandDims(xc, 2), tf.expandDims(xc, 1)), [N, D * D]));
      dataVar = tf.keep(tf.mean(tf.square(xc), 0)); // [D], the data's variance per feature
      cache.set(`${key}:mean`, centre);
      cache.set(`${key}:outer`, outer);
      cache.set(`${key}:var`, dataVar);
    }
    const Wt = tf.transpose(m.W); // [K, N]
    const nk = tf.sum(Wt, 1); // [K]
    const raw = tf.reshape(tf.matMul(Wt, outer), [K, D, D]); // Σ r x̃x̃'
    const mt = tf.sub(mu, centre); // component means in centred coordinates [K, D]
    const s1 = tf.sub(tf.matMul(Wt, m.X), tf.mul(tf.expandDims(nk, 1), centre)); // Σ r x̃
    // Σ r (x̃ - m̃)(x̃ - m̃)' = Σ r x̃x̃' - s1 m̃' - m̃ s1' + n m̃m̃'
    const a = tf.mul(tf.expandDims(s1, 2), tf.expandDims(mt, 1));
    const b = tf.mul(tf.expandDims(mt, 2), tf.expandDims(s1, 1));
    const c = tf.mul(tf.reshape(nk, [K, 1, 1]), tf.mul(tf.expandDims(mt, 2), tf.expandDims(mt, 1)));
    const fast = tf.add(tf.sub(tf.sub(raw, a), b), c);
    // The subtraction loses float32 precision in proportion to (overall spread / component
    // spread): exact enough while every component variance is at least 1e-2 of the data's
    // (error ~ 1e-5 relative). A collapsing component fails that; recompute centred then.
    const compVar = tf.div(matrixDiagPart(fast), tf.reshape(tf.maximum(nk, 1e-30), [K, 1]));
    const ratio = tf.min(tf.div(compVar, tf.maximum(dataVar, 1e-30)));
    // A backend without synchronous reads (webgpu under Node) computes both and selects on the device.
    return selectOnDevice(tf.greaterEqual(ratio, 1e-2), () => fast, () => centredScatter(m.X, m.W, mu, K));
  }
  return centredScatter(m.X, m.W, mu, K);
}

/** Σ_n r_nk (x_n - mu_k)(x_n - mu_k)' by one centred matmul per component, [K, D, D]. */
function centredScatter(X: Tensor, W: Tensor, mu: Tensor, K: number): Tensor {
  const out: Tensor[] = [];
  for (let k = 0; k < K; k++) {
    const diff = tf.sub(X, tf.slice(mu, [k, 0], [1, -1]));
    const rk = tf.slice(W, [0, k], [-1, 1]);
    // An explicit transpose then a plain matmul: a transposed operand is several times slower on wasm.
    out.push(tf.matMul(tf.transpose(tf.mul(diff, rk)), diff));
  }
  return tf.stack(out);
}

export function closedFormUpdates(bm: BoundModel, opts: ClosedFormOptions): ClosedFormUpdate[] {
  const ir = bm.ir;
  const st = ir.structure;
  if (!st) return [];
  const reg = opts.regCovar ?? 1e-6;
  const rt = bm.rt;
  const out: ClosedFormUpdate[] = [];
  const paramNode = new Map(ir.params.map((p) => [p.name, p]));
  const usedBy = (p: string) => (st.params[p]?.factors ?? []).map((id) => ir.factors[id]);
  const priorOf = (p: string) => (st.params[p]?.prior !== undefined ? ir.factors[st.params[p].prior!] : undefined);
  /** True when the parameter's prior is absent or left out (MLE). */
  const noPrior = (p: string) => !opts.priors || priorOf(p) === undefined;
  const others = (p: string, allowed: Factor[]) => usedBy(p).filter((f) => f !== priorOf(p) && !allowed.includes(f));
  /**
   * 'none' when the parameter has no prior in the objective; its prior's family and
   * argument evaluator when the prior is `p ~ fam(args)` on the whole parameter, outside
   * any loop, with arguments that mention no parameter, latent or let; else undefined.
   */
  const fixedPrior = (p: string, fams: string[]): 'none' | FixedPrior | undefined => {
    if (noPrior(p)) return 'none';
    const pr = priorOf(p)!;
    if (pr.dist?.kind !== 'family' || !fams.includes(pr.dist.family) || pr.value?.op !== 'param' || pr.plates.length) return undefined;
    const args = pr.dist.args;
    if (args.some((a) => mentions(a, (x) => x.op === 'param' || x.op === 'latent' || x.op === 'let'))) return undefined;
    if (!tf.tidy(() => args.every((a) => evalWith(rt, new Map(), a).dims.length === 0))) return undefined;
    return { family: pr.dist.family, args: () => args.map((a) => tf.cast(evalWith(rt, new Map(), a).t, 'float32')) };
  };

  // Categorical weights and transition rows.
  for (const p of ir.params) {
    if (p.constraint.name !== 'simplex') continue;
    const uses = usedBy(p.name).filter((f) => f !== priorOf(p.name));
    const forms = uses.map((f) => {
      if (f.kind !== 'latent' || f.dist?.kind !== 'family' || f.dist.family !== 'categorical') return undefined;
      const a = f.dist.args[0];
      if (a.op === 'param' && a.name === p.name) return { f, row: undefined as undefined | { latent: string; prev: boolean } };
      const bl = byLatent(a);
      if (bl && bl.param === p.name) return { f, row: { latent: bl.latent, prev: bl.prev } };
      return undefined;
    });
    if (uses.length === 0 || forms.some((x) => !x)) continue;
    let alphaMinus1: ((params: ReadonlyMap<string, Tensor>) => Tensor) | undefined;
    if (opts.priors && priorOf(p.name)) {
      const pr = priorOf(p.name)!;
      if (pr.dist?.kind !== 'family' || pr.dist.family !== 'dirichlet' || pr.value?.op !== 'param') continue;
      const alphaE = pr.dist.args[0];
      if (mentionsParam(alphaE)) continue;
      const alpha = tf.tidy(() => evalWith(rt, new Map(), alphaE).t);
      if (alpha.dataSync().some((a) => a < 1)) { alpha.dispose(); continue; }
      tf.keep(alpha);
      alphaMinus1 = () => tf.sub(alpha, 1);
    }
    const rowsShape = p.shape.length === 2;
    if (rowsShape !== forms.every((x) => x!.row !== undefined)) continue;
    out.push({
      param: p.name, rule: rowsShape ? 'transition rows' : 'categorical weights',
      update: (params, marginals) => {
        let counts: Tensor | undefined;
        for (const form of forms) {
          const { f, row } = form!;
          const w = factorWeights(rt, f, marginals)!;
          const lat = f.latents[0];
          const cur = latentDim(lat);
          let c: Tensor;
          if (!row) c = perComponent(w, cur);
          else {
            const rowDim = latentDim(row.latent, row.prev);
            const s = sumPlates(w);
            c = s.dims[0] === rowDim ? s.t : tf.transpose(s.t);
          }
          counts = counts ? tf.add(counts, c) : c;
        }
        let c = counts!;
        if (alphaMinus1) c = tf.add(c, alphaMinus1(params));
        // An empty component would get weight exactly 0, outside the open simplex (its
        // unconstrained value is -inf); like scikit-learn, add 10 eps (float32) to every count.
        c = tf.add(c, 10 * 1.1920929e-7);
        const total = tf.sum(c, -1, true);
        // A row with no expected counts keeps its previous value.
        return tf.where(tf.greater(total, 0), tf.div(c, tf.maximum(total, 1e-30)), params.get(p.name)!);
      },
    });
  }

  // Component families selected by one latent.
  for (const f of ir.factors) {
    if (f.kind !== 'obs' || f.dist?.kind !== 'family' || f.latents.length !== 1) continue;
    const fam = f.dist.family;
    const args = f.dist.args;
    const lat = f.latents[0];
    const dim = latentDim(lat);
    // Gamma and Student-t: the params selected by the latent (chains included); nu and a
    // fixed gamma shape may be anything that does not mention the updated params.
    if (fam === 'gamma' || fam === 'student_t') {
      const sel = (e: IRExpr) => { const b = byLatent(e); return b && b.latent === lat && !b.prev ? b.param : undefined; };
      const free = (q: string | undefined, c: string): q is string =>
        q !== undefined && paramNode.get(q)?.constraint.name === c && others(q, [f]).length === 0 && noPrior(q);
      const shapes = new Map(bm.params.map((p) => [p.name, p.shape as readonly number[]]));
      if (fam === 'gamma') out.push(...gammaUpdates(rt, f, dim, sel(args[0]), sel(args[1]), free, shapes));
      else out.push(...studentTUpdates(rt, f, dim, reg, sel(args[1]), sel(args[2]), free, shapes));
      continue;
    }
    if (rt.latents.get(lat)?.node.chain && !byLatent(args[0])) continue;
    const a0 = byLatent(args[0]);
    if (!a0 || a0.latent !== lat || a0.prev) continue;
    const mean = a0.param;
    const meanPrior = fam === 'normal' || fam === 'mvnormal' || fam === 'mvnormal_cholesky' ? fixedPrior(mean, fam === 'normal' ? ['normal'] : ['normal', 'mvnormal']) : noPrior(mean) ? 'none' : undefined;
    if (others(mean, [f]).length || meanPrior === undefined) continue;
    // The closed form is the unconstrained maximiser: use it only where the declared
    // constraint cannot bind (an ordered or bounded mean goes to the gradient M-step).
    const meanOk: Record<string, string> = { poisson: 'positive', exponential: 'positive', bernoulli: 'unit', normal: 'real', mvnormal: 'real', mvnormal_cholesky: 'real' };
    // An ordered vector of Poisson rates or normal means: the constrained maximiser of Q is
    // the weighted isotonic regression of the per-component maximisers (Robertson, Wright
    // and Dykstra 1988), computed on the host by pool-adjacent-violators.
    const orderedOk: Record<string, string> = { poisson: 'positive_ordered', normal: 'ordered' };
    const meanConstraint = paramNode.get(mean)?.constraint.name;
    const ordered = meanConstraint === orderedOk[fam] && bm.params.find((p) => p.name === mean)?.shape.length === 1;
    if (meanConstraint !== meanOk[fam] && !ordered) continue;
    if (ordered && meanPrior !== 'none') continue;
    const value = f.value!;
    if (fam === 'poisson' || fam === 'bernoulli' || fam === 'exponential') {
      out.push({
        param: mean, rule: `${fam} components`, hostReads: ordered,
        update: (params, marginals) => {
          const w = factorWeights(rt, f, marginals)!;
          const { n, s1 } = weightedMoments(w, evalWith(rt, params, value), dim);
          const m = tf.div(s1, expandLike(tf.maximum(n, 1e-30), s1));
          // The maximiser can sit on the boundary (all of a component's points are 1, or 0
          // counts): Q rises towards it, so the nearest representable interior value is the
          // maximiser over what the constraint can hold, and EM stays monotone.
          if (ordered) return orderedUpdate(m, n, n, params.get(mean)!, true);
          const next = fam === 'exponential' ? tf.div(1, tf.maximum(m, 1e-30))
            : fam === 'bernoulli' ? tf.clipByValue(m, 1e-6, 1 - 1e-6) : tf.maximum(m, 1e-30);
          return keepOld(next, expandLike(n, s1), params.get(mean)!);
        },
      });
      continue;
    }
    if (fam === 'normal') {
      const sc = byLatent(args[1]);
      // The weighted mean is Q's maximiser only when the scale does not vary within a component.
      if (!(sc && sc.latent === lat) && args[1].op !== 'param' && args[1].op !== 'const') continue;
      const scaleParam = sc && sc.latent === lat ? sc.param : args[1].op === 'param' ? args[1].name : undefined;
      const tied = !sc;
      const scalePrior = scaleParam !== undefined ? fixedPrior(scaleParam, ['inv_gamma']) : undefined;
      const scaleOk = scaleParam !== undefined && paramNode.get(scaleParam)?.constraint.name === 'positive'
        && others(scaleParam, [f]).length === 0 && scalePrior !== undefined
        // A prior on a shared scale is counted once: only a scalar pools every element.
        && (scalePrior === 'none' || !tied || bm.params.find((p) => p.name === scaleParam)?.shape.length === 0);
      /** The scale each component's elements have, [K, ...event] or broadcastable to it. */
      const sigmaOf = (params: ReadonlyMap<string, Tensor>, like: Tensor): Tensor => {
        const s = scaleParam !== undefined ? params.get(scaleParam)! : tf.scalar(Number((args[1] as { value: unknown }).value));
        return !tied && s.rank < like.rank ? expandLike(s, like) : s;
      };
      out.push({
        param: mean, rule: ordered ? 'normal ordered component means' : 'normal component means', hostReads: ordered,
        update: (params, marginals) => {
          const w = factorWeights(rt, f, marginals)!;
          const { n, s1 } = weightedMoments(w, evalWith(rt, params, value), dim);
          const m = tf.div(s1, expandLike(tf.maximum(n, 1e-30), s1));
          if (ordered) {
            // Q = -Σ_k n_k (mu_k - m_k)^2 / (2 sigma_k^2) + const: weights n_k / sigma_k^2.
            const scale = scaleParam !== undefined && params.has(scaleParam) ? params.get(scaleParam)! : args[1].op === 'const' ? tf.scalar(Number(args[1].value)) : undefined;
            const wts = scale ? tf.div(n, tf.broadcastTo(tf.square(scale), n.shape)) : n;
            return orderedUpdate(m, wts, n, params.get(mean)!, false);
          }
          if (meanPrior !== 'none') {
            // Posterior mean with known variance: precision-weighted data mean and prior mean.
            const [m0, s0] = meanPrior.args();
            const sig2 = tf.square(sigmaOf(params, s1));
            const p0 = tf.div(1, tf.square(s0));
            const num = tf.add(tf.div(s1, sig2), tf.mul(m0, p0));
            const den = tf.add(tf.div(expandLike(n, s1), sig2), p0);
            return tf.broadcastTo(tf.div(num, den), s1.shape);
          }
          return keepOld(m, expandLike(n, s1), params.get(mean)!);
        },
      });
      if (scaleOk) {
        out.push({
          param: scaleParam!, rule: tied ? 'normal shared scale' : 'normal component scales',
          update: (params, marginals) => {
            // Uses the means just updated (ECM order): Σ r (x - mu_k)^2 / Σ r.
            const w = factorWeights(rt, f, marginals)!;
            const x = evalWith(rt, params, value);
            const mu = evalWith(rt, params, args[0]);
            const { dims, ts } = align([w, x, mu], [0, 0, 0]);
            const sq = { t: tf.mul(ts[0], tf.square(tf.sub(ts[1], ts[2]))), dims };
            if (tied) {
              const nTot = tf.sum(sumPlates(sumDims(w, [dim])).t);
              const ss = tf.sum(sumDims(sumPlates(sq), [dim]).t);
              const shape = params.get(scaleParam!)!.shape;
              if (scalePrior !== 'none') return tf.broadcastTo(invGammaScaleMode(ss, nTot, scalePrior!.args(), reg), shape);
              return tf.broadcastTo(tf.sqrt(tf.maximum(tf.add(tf.div(ss, nTot), reg), 1e-30)), shape);
            }
            let n = perComponent(w, dim);
            let ss = perComponent(sq, dim);
            // One scale per component over a vector observation (spherical): pool the
            // observation's elements, n·D of them per unit of weight.
            const want = params.get(scaleParam!)!.shape.length;
            if (ss.rank > want) {
              const axes = Array.from({ length: ss.rank - want }, (_, i) => want + i);
              const count = axes.reduce((p, a) => p * ss.shape[a], 1);
              ss = tf.sum(ss, axes);
              n = tf.mul(n, count);
            }
            if (scalePrior !== 'none') {
              const old = params.get(scaleParam!)!;
              return tf.broadcastTo(invGammaScaleMode(ss, expandLike(n, ss), scalePrior!.args(), reg), old.shape);
            }
            // A floor far below any data scale keeps a zero-spread component representable.
            const v = tf.maximum(tf.add(tf.div(ss, expandLike(tf.maximum(n, 1e-30), ss)), reg), 1e-30);
            return keepOld(tf.sqrt(v), expandLike(n, ss), params.get(scaleParam!)!);
          },
        });
      }
      continue;
    }
    if (fam === 'mvnormal' || fam === 'mvnormal_cholesky') {
      const form = covarianceForm(fam, args[1], lat);
      if (!form) continue;
      const covParams = form.params;
      // An inverse-Wishart prior is conjugate for a covariance matrix param only (not a Cholesky factor).
      const covPrior = form.kind === 'cov' ? fixedPrior(covParams[0], ['inv_wishart']) : noPrior(covParams[0]) ? 'none' : undefined;
      if (covParams.some((q) => others(q, [f]).length) || covPrior === undefined || covParams.slice(1).some((q) => !noPrior(q))) continue;
      /** Lower Cholesky factors of the current component covariances, [K, D, D] (tied: [D, D]). */
      const covFactor = (params: ReadonlyMap<string, Tensor>): Tensor => {
        if (form.kind === 'cov') return cholesky(params.get(form.params[0])!);
        if (form.kind === 'cholesky') return params.get(form.params[0])!;
        return tf.mul(tf.expandDims(params.get(form.params[0])!, -1), params.get(form.params[1] as string)!);
      };
      // Means first, then the covariance from the updated means (ECM).
      out.push({
        param: mean, rule: 'mvnormal component means',
        update: (params, marginals) => {
          const w = factorWeights(rt, f, marginals)!;
          const { n, s1 } = weightedMoments(w, evalWith(rt, params, value), dim);
          if (meanPrior !== 'none' && s1.rank === 2) return mvnMeanMap(meanPrior, n, s1, covFactor(params));
          return keepOld(tf.div(s1, expandLike(tf.maximum(n, 1e-30), s1)), expandLike(n, s1), params.get(mean)!);
        },
      });
      /** Scatter S about the means over count n: S/n (MLE) or (Psi + S)/(nu + D + 1 + n) (inverse-Wishart mode), plus reg on the diagonal. */
      const normalise = (S: Tensor, n: Tensor, D: number): Tensor => {
        const eye = tf.mul(tf.eye(D), reg);
        const nn = n.rank ? tf.reshape(n, [-1, 1, 1]) : n;
        if (covPrior === 'none') return tf.add(tf.div(S, tf.maximum(nn, 1e-30)), eye);
        const [nu, Psi] = covPrior.args();
        return tf.add(tf.div(tf.add(Psi, S), tf.add(tf.add(nu, D + 1), nn)), eye);
      };
      const covUpdate = (params: ReadonlyMap<string, Tensor>, marginals: ReadonlyMap<string, Tensor>): Tensor => {
        const w = factorWeights(rt, f, marginals)!;
        const x = evalWith(rt, params, value);
        const muAll = params.get(mean)!;
        const fast = muAll.rank === 2 ? weightedScatter(w, x, muAll, dim, bm.cache, `factor${f.id}`) : undefined;
        if (fast) {
          const D = muAll.shape[1] as number;
          if (form.tied) return normalise(tf.sum(fast, 0), tf.sum(perComponent(w, dim)), D);
          return normalise(fast, perComponent(w, dim), D);
        }
        const mu = evalWith(rt, params, args[0]);
        const { dims, ts } = align([w, x, mu], [0, 1, 1]);
        const d = tf.sub(ts[1], ts[2]); // [..., D]
        const rw = tf.expandDims(ts[0], -1);
        const outer = tf.mul(tf.mul(tf.expandDims(d, -1), tf.expandDims(d, -2)), tf.expandDims(rw, -1));
        const scat: BVal = { t: outer, dims };
        const D = d.shape[d.shape.length - 1] as number;
        if (form.tied) {
          const nTot = tf.sum(sumPlates(sumDims(w, [dim])).t);
          const S = sumDims(sumPlates(scat), [dim]).t;
          return normalise(S, nTot, D);
        }
        return normalise(perComponent(scat, dim), perComponent(w, dim), D);
      };
      const emptyMask = (marginals: ReadonlyMap<string, Tensor>) => {
        const n = perComponent(factorWeights(rt, f, marginals)!, dim);
        return tf.reshape(tf.greater(n, 1e-10), [-1, 1, 1]);
      };
      if (form.kind === 'cov') {
        // With a prior, an empty component's update is the prior mode, not its previous value.
        out.push({ param: form.params[0], rule: 'mvnormal covariances', update: (params, m) => pick(form.tied || covPrior !== 'none', emptyMask(m), covUpdate(params, m), params.get(form.params[0])!) });
      } else if (form.kind === 'cholesky') {
        out.push({ param: form.params[0], rule: 'mvnormal covariance factors', update: (params, m) => pick(form.tied, emptyMask(m), cholesky(covUpdate(params, m)), params.get(form.params[0])!) });
      } else {
        const [tauName, lcName] = form.params as [string, string];
        // Sigma = diag(tau) Lc Lc' diag(tau): tau = sqrt(diag Sigma), Lc = chol(correlation).
        let cache: { tau: Tensor; lc: Tensor } | undefined;
        const split = (params: ReadonlyMap<string, Tensor>, m: ReadonlyMap<string, Tensor>) => {
          const S = covUpdate(params, m);
          const sd = tf.sqrt(matrixDiagPart(S));
          const inv = matrixDiag(tf.div(1, sd));
          const corr = tf.matMul(tf.matMul(inv, S), inv);
          return { tau: sd, lc: cholesky(corr) };
        };
        out.push({
          param: tauName, rule: 'mvnormal scales',
          update: (params, m) => {
            cache = split(params, m);
            return pick(form.tied, tf.reshape(emptyMask(m), [-1, 1]), cache.tau, params.get(tauName)!);
          },
        });
        out.push({
          param: lcName, rule: 'mvnormal correlation factors',
          update: (params, m) => pick(form.tied, emptyMask(m), (cache ?? split(params, m)).lc, params.get(lcName)!),
        });
      }
    }
  }
  // A parameter claimed by two rules (e.g. used by two observation statements) is left to the gradient step.
  const count = new Map<string, number>();
  for (const u of out) count.set(u.param, (count.get(u.param) ?? 0) + 1);
  return out.filter((u) => count.get(u.param) === 1);
}

/** Recognises the covariance argument of a multivariate normal component. */
function covarianceForm(fam: string, e: IRExpr, lat: string):
  | { kind: 'cov' | 'cholesky'; params: [string]; tied: boolean }
  | { kind: 'scale-corr'; params: [string, string]; tied: boolean }
  | undefined {
  const sel = byLatent(e);
  if (fam === 'mvnormal') {
    if (sel && sel.latent === lat) return { kind: 'cov', params: [sel.param], tied: false };
    if (e.op === 'param') return { kind: 'cov', params: [e.name], tied: true };
    return undefined;
  }
  if (sel && sel.latent === lat) return { kind: 'cholesky', params: [sel.param], tied: false };
  if (e.op === 'param') return { kind: 'cholesky', params: [e.name], tied: true };
  if (e.op === 'call' && e.fn === 'diag_pre_multiply') {
    const [t, l] = e.args.map(byLatent);
    if (t && l && t.latent === lat && l.latent === lat) return { kind: 'scale-corr', params: [t.param, l.param], tied: false };
    const [ta, la] = e.args;
    if (ta.op === 'param' && la.op === 'param') return { kind: 'scale-corr', params: [ta.name, la.name], tied: true };
  }
  return undefined;
}

function mentionsParam(e: IRExpr): boolean {
  return mentions(e, (x) => x.op === 'param' || x.op === 'latent');
}

/** Reshapes per-component counts [K] to broadcast against [K, ...event]. */
function expandLike(n: Tensor, like: Tensor): Tensor {
  return tf.reshape(n, [n.shape[0], ...new Array(like.rank - 1).fill(1)]);
}

/** New value where the component has weight, else the previous value. */
/** Weighted isotonic (non-decreasing) regression by pool-adjacent-violators, in float64. */
export function isotonic(y: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const vals: number[] = [];
  const wts: number[] = [];
  const lens: number[] = [];
  for (let i = 0; i < y.length; i++) {
    vals.push(y[i]);
    wts.push(w[i]);
    lens.push(1);
    while (vals.length > 1 && vals[vals.length - 2] > vals[vals.length - 1]) {
      const w2 = wts.pop()!;
      const v2 = vals.pop()!;
      const l2 = lens.pop()!;
      const k = vals.length - 1;
      const wt = wts[k] + w2;
      vals[k] = (wts[k] * vals[k] + w2 * v2) / wt;
      wts[k] = wt;
      lens[k] += l2;
    }
  }
  const out = new Float64Array(y.length);
  let i = 0;
  vals.forEach((v, b) => { for (let j = 0; j < lens[b]; j++) out[i++] = v; });
  return out;
}

/**
 * The ordered M-step: isotonic regression of the per-component maximisers `m` with
 * weights `wts`; components without expected counts keep their old value (and weight
 * ~0). Pooled blocks are equal, which the strictly ordered transform cannot represent,
 * so ties are split by a relative 1e-6 (positive: also kept above 1e-30).
 */
function orderedUpdate(m: Tensor, wts: Tensor, n: Tensor, old: Tensor, positive: boolean): HostSolve {
  return { read: [m, wts, n, old], solve: ([mv, wv, nv, ov]) => orderedSolve(mv, wv, nv, ov, m.shape, positive) };
}

function orderedSolve(mv: ArrayLike<number>, wv: ArrayLike<number>, nv: ArrayLike<number>, ov: ArrayLike<number>, shape: number[], positive: boolean): Tensor {
  const K = mv.length;
  const y = new Float64Array(K);
  const w = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const empty = !(nv[k] > 1e-10) || !Number.isFinite(mv[k]);
    y[k] = empty ? ov[k] : mv[k];
    w[k] = empty ? 1e-12 : Math.max(wv[k], 1e-12);
  }
  const x = isotonic(y, w);
  if (positive) x[0] = Math.max(x[0], 1e-30);
  for (let k = 1; k < K; k++) {
    const gap = 1e-6 * Math.max(1e-6, Math.abs(x[k - 1]));
    if (x[k] <= x[k - 1]) x[k] = x[k - 1] + gap;
  }
  return tf.tensor(Float32Array.from(x), shape);
}

function keepOld(next: Tensor, n: Tensor, old: Tensor): Tensor {
  return tf.where(tf.broadcastTo(tf.greater(n, 1e-10), next.shape), next, old);
}

function pick(tied: boolean, mask: Tensor, next: Tensor, old: Tensor): Tensor {
  return tied ? next : tf.where(tf.broadcastTo(mask, next.shape), next, old);
}


type Runtime = BoundModel['rt'];
type FreeCheck = (q: string | undefined, constraint: string) => q is string;

/** True when `e` mentions the param `name` (or a let, which might). */
function mentionsName(e: IRExpr, name: string): boolean {
  return mentions(e, (x) => x.op === 'let' || (x.op === 'param' && x.name === name));
}

/** Sums a per-component statistic [K, ...event] over the event axes past the param's rank (one value pooled over an observation's elements). */
function pool(t: Tensor, rank: number): Tensor {
  if (t.rank <= rank) return t;
  return tf.sum(t, Array.from({ length: t.rank - rank }, (_, i) => rank + i));
}

/** A scalar 1 (made per call: a module-level tensor would need a backend at import). */
const one = (): BVal => ({ t: tf.scalar(1), dims: [] });

/** Σ r·v per component, with v broadcast over every element of the observation `like`: [K, ...event]. */
function weighted(w: BVal, v: BVal, like: BVal, dim: string): Tensor {
  return perComponent(elementwise([w, v, like], (r, a, x) => tf.mul(tf.mul(r, a), tf.onesLike(x))), dim);
}

/**
 * The gamma shape maximising the profile likelihood: the root of log a - ψ(a) = s with
 * s = log(mean) - mean(log x) > 0, by Minka's (2002) generalised Newton iteration (in 1/a),
 * safeguarded by bisection on a bracket (log a - ψ(a) decreases from +∞ to 0). Float64.
 */
export function gammaShapeFromStat(s: number): number {
  if (!(s > 0) || !Number.isFinite(s)) return NaN;
  const g = (a: number) => Math.log(a) - digammaF64(a) - s;
  let lo = 0;
  let hi = Infinity;
  let a = (3 - s + Math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s);
  for (let i = 0; i < 100; i++) {
    const ga = g(a);
    if (ga === 0) return a;
    if (ga > 0) lo = a; else hi = a;
    const h = 1 / a - trigammaF64(a); // d/da (log a - ψ(a)) < 0
    let next = 1 / (1 / a + ga / (a * a * h));
    if (!(next > lo && next < hi) || !Number.isFinite(next)) next = hi === Infinity ? 2 * a : Math.sqrt(Math.max(lo, 1e-300) * hi);
    const done = Math.abs(next - a) <= 1e-13 * a;
    a = next;
    if (done) break;
  }
  return a;
}

/**
 * `x ~ gamma(shape[z], rate[z])` (Stan's shape/rate). With both params free: shape from the
 * weighted profile equation log a - ψ(a) = log(Σrx/Σr) - Σr log x/Σr, solved on the host in
 * float64 (that is the joint maximiser of Q in (shape, rate)), then rate = shape Σr / Σrx
 * given the new shape. With any other shape (fixed data, shared, or with a prior) only the
 * rate: rate = Σ r·shape / Σ r·x, the maximiser of Q in the rate given the shape.
 */
function gammaUpdates(rt: Runtime, f: Factor, dim: string, shapeP: string | undefined, rateP: string | undefined,
  free: FreeCheck, shapes: ReadonlyMap<string, readonly number[]>): ClosedFormUpdate[] {
  if (f.dist?.kind !== 'family' || !free(rateP, 'positive')) return [];
  const shapeE = f.dist.args[0];
  const value = f.value!;
  if (mentionsName(shapeE, rateP)) return [];
  const out: ClosedFormUpdate[] = [];
  const sameShape = shapeP !== undefined && JSON.stringify(shapes.get(shapeP)) === JSON.stringify(shapes.get(rateP));
  if (free(shapeP, 'positive') && shapeP !== rateP && sameShape) {
    out.push({
      param: shapeP, rule: 'gamma component shapes', hostReads: true,
      update: (params, marginals) => {
        const w = factorWeights(rt, f, marginals)!;
        const x = evalWith(rt, params, value);
        const old = params.get(shapeP)!;
        // Centre the logs on their overall mean, so the float32 sums carry the spread, not the level.
        const lx = tf.log(x.t);
        const c = tf.mean(lx);
        const ls: BVal = { t: tf.sub(lx, c), dims: x.dims };
        const xs: BVal = { t: tf.exp(ls.t), dims: x.dims };
        const stats = [pool(weighted(w, one(), x, dim), old.rank), pool(weighted(w, xs, x, dim), old.rank), pool(weighted(w, ls, x, dim), old.rank), old];
        return {
          read: stats,
          solve: ([n, sx, sl, prev]) => {
            const next = Float32Array.from(prev, (a, i) => {
              if (!(n[i] > 1e-10)) return a; // an empty component keeps its value
              const s = Math.log(sx[i] / n[i]) - sl[i] / n[i];
              const root = gammaShapeFromStat(s);
              // s <= 0 (all of a component's points equal) or a zero in the data: Q has no
              // interior maximiser in the shape; keeping the value does not decrease Q.
              return Number.isFinite(root) && root > 0 ? root : a;
            });
            return tf.tensor(next, old.shape);
          },
        };
      },
    });
  }
  out.push({
    param: rateP, rule: 'gamma component rates',
    update: (params, marginals) => {
      const w = factorWeights(rt, f, marginals)!;
      const x = evalWith(rt, params, value);
      const a = evalWith(rt, params, shapeE);
      const old = params.get(rateP)!;
      const n = pool(weighted(w, one(), x, dim), old.rank);
      const na = pool(weighted(w, a, x, dim), old.rank);
      const sx = pool(weighted(w, x, x, dim), old.rank);
      return keepOld(tf.div(na, tf.maximum(sx, 1e-30)), n, old);
    },
  });
  return out;
}

/**
 * `y ~ student_t(nu, mu[z], sigma[z])`: ECM with the latent scale u of the t as a normal
 * scale mixture. The E-step for u runs inside the M-step at the current (old) values:
 * u = (nu + 1) / (nu + ((y - mu) / sigma)^2); then mu = Σ r u y/σ² / Σ r u/σ² and
 * sigma² = Σ r u (y - mu_new)² / Σ r (the same u: the exact maximiser of the augmented
 * Q, so Σ r log t(y | ...) does not decrease). nu may be anything that does not mention mu
 * or sigma (data, a constant, a param); a nu param is left to the gradient M-step. An
 * ordered location vector gets the isotonic regression of the per-component maximisers
 * (weights Σ r u / σ²). Either update applies alone when the other param does not qualify.
 */
function studentTUpdates(rt: Runtime, f: Factor, dim: string, reg: number, muP: string | undefined, sigP: string | undefined,
  free: FreeCheck, shapes: ReadonlyMap<string, readonly number[]>): ClosedFormUpdate[] {
  if (f.dist?.kind !== 'family') return [];
  const [nuE, muE, sigE] = f.dist.args;
  const value = f.value!;
  // An ordered location vector: Q is −Σ_k d_k (mu_k − m_k)²/2 + const with d_k = Σ r u / σ_k², so the
  // constrained maximiser is the isotonic regression of the per-component maximisers m with weights d.
  const locOrdered = free(muP, 'ordered') && shapes.get(muP)?.length === 1;
  const locOk = (free(muP, 'real') || locOrdered) && !mentionsName(nuE, muP!) && !mentionsName(sigE, muP!);
  const tied = sigP === undefined && sigE.op === 'param' ? sigE.name : undefined;
  const scaleP = sigP ?? tied;
  const scaleOk = free(scaleP, 'positive') && scaleP !== muP && !mentionsName(nuE, scaleP) && !mentionsName(muE, scaleP)
    && (tied === undefined || shapes.get(scaleP)?.length === 0);
  const uOf = (params: ReadonlyMap<string, Tensor>, y: BVal): BVal => elementwise(
    [y, evalWith(rt, params, muE), evalWith(rt, params, sigE), evalWith(rt, params, nuE)],
    (yy, m, s, nu) => tf.div(tf.add(nu, 1), tf.add(nu, tf.square(tf.div(tf.sub(yy, m), s)))));
  // The u of the location update, reused by the scale update of the same M-step. An ordered
  // location solves on the host, so the async M-step runs it apart from the scale update (in
  // its own tidy): its u is then kept, and the scale update disposes it.
  let cache: { marginals: ReadonlyMap<string, Tensor>; u: BVal; kept?: boolean } | undefined;
  const out: ClosedFormUpdate[] = [];
  if (locOk) out.push({
    param: muP!, rule: locOrdered ? 'student_t ordered component locations' : 'student_t component locations', hostReads: locOrdered,
    update: (params, marginals) => {
      const w = factorWeights(rt, f, marginals)!;
      const y = evalWith(rt, params, value);
      const u = uOf(params, y);
      if (cache?.kept) cache.u.t.dispose();
      cache = undefined;
      if (scaleOk) cache = locOrdered ? { marginals, u: { t: tf.keep(u.t), dims: u.dims }, kept: true } : { marginals, u };
      const old = params.get(muP)!;
      const wt = elementwise([w, u, evalWith(rt, params, sigE)], (r, uu, s) => tf.div(tf.mul(r, uu), tf.square(s)));
      const num = pool(weighted(wt, y, y, dim), old.rank);
      const den = pool(weighted(wt, one(), y, dim), old.rank);
      const n = pool(weighted(w, one(), y, dim), old.rank);
      if (locOrdered) return orderedUpdate(tf.div(num, tf.maximum(den, 1e-30)), den, tf.where(tf.greater(den, 0), n, tf.zerosLike(n)), old, false);
      return keepOld(tf.div(num, tf.maximum(den, 1e-30)), tf.where(tf.greater(den, 0), n, tf.zerosLike(n)), old);
    },
  });
  if (scaleOk) {
    out.push({
      param: scaleP, rule: tied ? 'student_t shared scale' : 'student_t component scales',
      update: (params, marginals) => {
        const w = factorWeights(rt, f, marginals)!;
        const y = evalWith(rt, params, value);
        const c = cache && cache.marginals === marginals ? cache : undefined;
        if (cache && !c && cache.kept) cache.u.t.dispose();
        cache = undefined;
        const u = c ? c.u : uOf(params, y);
        const done = <T>(r: T): T => {
          if (c?.kept) c.u.t.dispose();
          return r;
        };
        const old = params.get(scaleP)!;
        const sq = elementwise([w, u, y, evalWith(rt, params, muE)], (r, uu, yy, m) => tf.mul(tf.mul(r, uu), tf.square(tf.sub(yy, m))));
        let ss = pool(perComponent(sq, dim), old.rank);
        let n = pool(weighted(w, one(), y, dim), old.rank);
        if (tied) {
          ss = tf.sum(ss);
          n = tf.sum(n);
          return done(tf.sqrt(tf.maximum(tf.add(tf.div(ss, tf.maximum(n, 1e-30)), reg), 1e-30)));
        }
        const v = tf.maximum(tf.add(tf.div(ss, tf.maximum(n, 1e-30)), reg), 1e-30);
        return done(keepOld(tf.sqrt(v), n, old));
      },
    });
  }
  return out;
}

/** A recognised prior: its family and its arguments (evaluated inside the caller's tidy). */
interface FixedPrior {
  family: string;
  args: () => Tensor[];
}

/**
 * The maximiser in σ of -n log σ - SS/(2σ²) + log InvGamma(σ | a, b): the positive root of
 * (n + a + 1) σ² - b σ - SS = 0. `reg` is added to the variance as the MLE update does
 * (as n·reg to SS, so it vanishes with reg = 0). An empty component (n = 0) gets the prior
 * mode b / (a + 1).
 */
function invGammaScaleMode(ss: Tensor, n: Tensor, [a, b]: Tensor[], reg: number): Tensor {
  const c = tf.add(tf.add(n, a), 1);
  const s2 = tf.add(ss, tf.mul(n, reg));
  const disc = tf.add(tf.square(b), tf.mul(tf.mul(4, c), s2));
  return tf.maximum(tf.div(tf.add(b, tf.sqrt(disc)), tf.mul(2, c)), 1e-30);
}

/**
 * MAP component means under a normal prior (elementwise, precision 1/s0²) or a
 * multivariate normal prior on the rows (precision S0⁻¹), given each component's
 * covariance factor L_k: mu_k = (P0 + n_k Σ_k⁻¹)⁻¹ (P0 m0 + Σ_k⁻¹ s1_k).
 */
function mvnMeanMap(prior: FixedPrior, n: Tensor, s1: Tensor, L: Tensor): Tensor {
  const [K, D] = s1.shape as [number, number];
  const Lk = L.rank === 2 ? tf.broadcastTo(L, [K, D, D]) : L;
  const I = tf.broadcastTo(tf.eye(D), [K, D, D]);
  const prec = choleskySolve(Lk, I); // Σ_k⁻¹
  let P0: Tensor;
  let P0m0: Tensor; // [K, D]
  if (prior.family === 'normal') {
    const [m0, s0] = prior.args();
    const p = tf.broadcastTo(tf.div(1, tf.square(s0)), [K, D]);
    P0 = matrixDiag(p);
    P0m0 = tf.mul(p, tf.broadcastTo(m0, [K, D]));
  } else {
    const [m0, S0] = prior.args();
    const L0 = cholesky(S0);
    P0 = tf.broadcastTo(choleskySolve(L0, tf.eye(D)), [K, D, D]);
    P0m0 = tf.broadcastTo(tf.reshape(choleskySolve(L0, tf.reshape(m0, [D, 1])), [D]), [K, D]);
  }
  const A = tf.add(P0, tf.mul(tf.reshape(n, [K, 1, 1]), prec));
  const rhs = tf.add(P0m0, tf.squeeze(tf.matMul(prec, tf.expandDims(s1, 2)), [2]));
  return tf.squeeze(choleskySolve(cholesky(A), tf.expandDims(rhs, 2)), [2]);
}
