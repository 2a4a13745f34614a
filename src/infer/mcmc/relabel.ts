/**
 * Label-switching post-processing for MCMC draws of a K-component mixture.
 *
 * The likelihood of a mixture is invariant under permuting its components, so a sampler
 * may visit the K! symmetric modes and per-component summaries of the raw draws (the
 * posterior mean of `mu[1]`, ...) are meaningless. These functions find, for every draw, a
 * permutation of the component labels that makes the draws agree with one another:
 *
 * - {@link stephensKL}: Stephens (2000, JRSS B 62, "Dealing with label switching in
 *   mixture models", Algorithm 2) on the allocation probabilities p[n][k] of each draw;
 * - {@link ecr}: the equivalence-classes-representatives algorithm of Papastamoulis and
 *   Iliopoulos (2010, JCGS 19) on the allocations z[n] of each draw, against a pivot;
 * - {@link relabelByOrder}: an identifiability constraint, components sorted by one
 *   parameter (e.g. mu), for reference.
 *
 * Each per-draw step is a K x K linear assignment problem, solved by the Hungarian
 * algorithm ({@link hungarian}, O(K^3)) rather than by enumerating the K! permutations.
 *
 * **Permutation convention.** A permutation is an `Int32Array` `perm` of length K that
 * maps old labels to new ones: `perm[k]` is the NEW label of the component stored at OLD
 * index k. Applying it moves values: `relabelled[perm[k]] = original[k]`; an allocation
 * z[n] = k becomes perm[k]; allocation probabilities p[n][k] move to column perm[k].
 * Labels are 0-based.
 */

/** Thrown for malformed input; the message names the draw or argument. */
export class RelabelError extends Error {}

// ---------------------------------------------------------------------------------------
// Permutations.

/** The identity permutation of K labels. */
export function identityPermutation(K: number): Int32Array {
  return Int32Array.from({ length: K }, (_, k) => k);
}

/** Whether `perm` is a permutation of 0..K-1 (K = perm.length). */
export function isPermutation(perm: ArrayLike<number>): boolean {
  const seen = new Uint8Array(perm.length);
  for (let k = 0; k < perm.length; k++) {
    const v = perm[k];
    if (!Number.isInteger(v) || v < 0 || v >= perm.length || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

/** The inverse permutation: `inv[perm[k]] = k` (new label -> old label). */
export function inversePermutation(perm: ArrayLike<number>): Int32Array {
  const inv = new Int32Array(perm.length);
  for (let k = 0; k < perm.length; k++) inv[perm[k]] = k;
  return inv;
}

/** The permutation that applies `first`, then `second`: `result[k] = second[first[k]]`. */
export function composePermutations(first: ArrayLike<number>, second: ArrayLike<number>): Int32Array {
  if (first.length !== second.length) throw new RelabelError(`composePermutations: lengths ${first.length} and ${second.length} differ`);
  return Int32Array.from({ length: first.length }, (_, k) => second[first[k]]);
}

function samePermutation(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Applying permutations to draws.

/**
 * One draw's component-indexed parameters, either named (`{ w: [K], mu: [K], Sigma: [K*D*D] }`:
 * each entry's length is a multiple of K, component k owning the k-th block of
 * length/K values) or one `Float64Array` holding a K x P matrix row by row (row k =
 * component k).
 */
export type ComponentDraw = Record<string, ArrayLike<number>> | Float64Array;

function permuteBlocks<T extends ArrayLike<number>>(values: T, perm: ArrayLike<number>, where: string): T {
  const K = perm.length;
  if (values.length % K !== 0) throw new RelabelError(`${where}: ${values.length} values is not a multiple of K = ${K}`);
  const B = values.length / K;
  const out = ArrayBuffer.isView(values)
    ? new (values.constructor as new (n: number) => { [i: number]: number; length: number })(values.length)
    : new Array<number>(values.length);
  for (let k = 0; k < K; k++) {
    const from = k * B;
    const to = perm[k] * B;
    for (let b = 0; b < B; b++) out[to + b] = values[from + b];
  }
  return out as unknown as T;
}

/**
 * Applies a permutation (convention in the module comment) to one draw: the block of old
 * component k moves to position perm[k]. Returns a new draw of the same form; the input is
 * not modified.
 */
export function applyPermutation<D extends ComponentDraw>(draw: D, perm: ArrayLike<number>): D {
  if (!isPermutation(perm)) throw new RelabelError(`applyPermutation: [${Array.from(perm).join(', ')}] is not a permutation of 0..${perm.length - 1}`);
  if (ArrayBuffer.isView(draw)) return permuteBlocks(draw as Float64Array, perm, 'component matrix') as D;
  const out: Record<string, ArrayLike<number>> = {};
  for (const [name, values] of Object.entries(draw)) out[name] = permuteBlocks(values, perm, `parameter '${name}'`);
  return out as D;
}

/** Relabels allocations: z[n] = k becomes perm[k]. */
export function applyPermutationToAllocations(z: ArrayLike<number>, perm: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: z.length }, (_, n) => perm[z[n]]);
}

/** Relabels N x K allocation probabilities (row-major): column k moves to column perm[k]. */
export function applyPermutationToProbabilities(p: ArrayLike<number>, perm: ArrayLike<number>): Float64Array {
  const K = perm.length;
  const out = new Float64Array(p.length);
  for (let o = 0; o < p.length; o += K) for (let k = 0; k < K; k++) out[o + perm[k]] = p[o + k];
  return out;
}

// ---------------------------------------------------------------------------------------
// Hungarian algorithm.

/** The solution of a square assignment problem. */
export interface Assignment {
  /** `assignment[i]` = the column given to row i; a permutation. */
  assignment: Int32Array;
  /** The total cost Σ_i cost[i][assignment[i]]. */
  cost: number;
}

/**
 * Solves the n x n linear assignment problem min Σ_i cost[i][σ(i)] over permutations σ
 * by the Hungarian algorithm with potentials (Kuhn-Munkres in the O(n^3) shortest
 * augmenting path form of Jonker-Volgenant / Edmonds-Karp). `cost` is either rows of
 * numbers or an n*n row-major array (then pass `n`). Costs must be finite; any sign.
 */
export function hungarian(cost: readonly ArrayLike<number>[] | ArrayLike<number>, n?: number): Assignment {
  let size: number;
  let a: (i: number, j: number) => number;
  const rows = Array.isArray(cost) && cost.length > 0 && typeof cost[0] !== 'number';
  if (rows) {
    const m = cost as readonly ArrayLike<number>[];
    size = m.length;
    m.forEach((r, i) => {
      if (r.length !== size) throw new RelabelError(`hungarian: row ${i} has ${r.length} entries, the matrix has ${size} rows (must be square)`);
    });
    a = (i, j) => m[i][j];
  } else {
    const flat = cost as ArrayLike<number>;
    size = n ?? Math.round(Math.sqrt(flat.length));
    if (size * size !== flat.length) throw new RelabelError(`hungarian: ${flat.length} entries is not an n x n matrix${n === undefined ? '' : ` for n = ${n}`}`);
    a = (i, j) => flat[i * size + j];
  }
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      if (!Number.isFinite(a(i, j))) throw new RelabelError(`hungarian: cost[${i}][${j}] is ${a(i, j)}; costs must be finite`);
    }
  }
  // 1-based potentials u (rows), v (columns); p[j] = row matched to column j; way = path.
  const u = new Float64Array(size + 1);
  const v = new Float64Array(size + 1);
  const p = new Int32Array(size + 1);
  const way = new Int32Array(size + 1);
  const minv = new Float64Array(size + 1);
  const used = new Uint8Array(size + 1);
  for (let i = 1; i <= size; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= size; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
        if (minv[j] < delta) { delta = minv[j]; j1 = j; }
      }
      for (let j = 0; j <= size; j++) {
        if (used[j]) { u[p[j]] += delta; v[j] -= delta; } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const assignment = new Int32Array(size);
  for (let j = 1; j <= size; j++) assignment[p[j] - 1] = j - 1;
  let total = 0;
  for (let i = 0; i < size; i++) total += a(i, assignment[i]);
  return { assignment, cost: total };
}

/** Σ_i cost[i*K + perm[i]]. */
function assignmentCost(cost: Float64Array, K: number, perm: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < K; i++) s += cost[i * K + perm[i]];
  return s;
}

/**
 * The optimal assignment for `cost`, keeping `current` unless the optimum is strictly
 * better: ties then never move a label, which makes the iterations terminate and
 * relabelling already-consistent draws a no-op.
 */
function improve(cost: Float64Array, K: number, current: Int32Array): Int32Array {
  const best = hungarian(cost, K);
  const now = assignmentCost(cost, K, current);
  const tol = 1e-12 * Math.max(1, Math.abs(now));
  return best.cost < now - tol ? best.assignment : current;
}

// ---------------------------------------------------------------------------------------
// Results.

/** What every relabelling returns. */
export interface RelabelResult<D extends ComponentDraw = ComponentDraw> {
  /** One permutation per draw (convention in the module comment). */
  permutations: Int32Array[];
  /** The `draws` option relabelled by `permutations` (empty when no draws were given). */
  relabelled: D[];
  /** Passes over the draws made. */
  iterations: number;
  /** Whether the last pass changed no permutation (always true for one-pass methods). */
  converged: boolean;
}

function finish<D extends ComponentDraw>(perms: Int32Array[], draws: readonly D[] | undefined, iterations: number, converged: boolean): RelabelResult<D> {
  if (draws && draws.length !== perms.length) throw new RelabelError(`draws: ${draws.length} draws of parameters but ${perms.length} draws of allocations`);
  return {
    permutations: perms,
    relabelled: draws ? draws.map((d, t) => applyPermutation(d, perms[t])) : [],
    iterations,
    converged,
  };
}

function initialPermutations(init: readonly ArrayLike<number>[] | undefined, T: number, K: number): Int32Array[] {
  if (!init) return Array.from({ length: T }, () => identityPermutation(K));
  if (init.length !== T) throw new RelabelError(`init: ${init.length} permutations for ${T} draws`);
  return init.map((p, t) => {
    if (p.length !== K || !isPermutation(p)) throw new RelabelError(`init[${t}]: not a permutation of 0..${K - 1}`);
    return Int32Array.from(p);
  });
}

// ---------------------------------------------------------------------------------------
// Stephens' KL algorithm.

/**
 * Allocation probabilities of every draw: either `probs[t][n][k]`, or per-draw N x K
 * row-major arrays with K given (`{ K, draws }`). Each row should sum to 1.
 */
export type AllocationProbabilities = readonly (readonly ArrayLike<number>[])[] | { K: number; draws: readonly ArrayLike<number>[] };

/** Options of {@link stephensKL}. */
export interface StephensOptions<D extends ComponentDraw> {
  /** Parameter draws to relabel alongside (same number of draws). */
  draws?: readonly D[];
  /** Starting permutations (default: identity for every draw), e.g. from {@link ecr}. */
  init?: readonly ArrayLike<number>[];
  /** Maximum passes (default 100). */
  maxIterations?: number;
}

/** {@link stephensKL}'s result: also the final objective and the mean probabilities Q. */
export interface StephensResult<D extends ComponentDraw> extends RelabelResult<D> {
  /** Σ_t KL(P_t relabelled || Q) at the final permutations. */
  objective: number;
  /** Q: N x K row-major, the mean of the relabelled allocation probabilities. */
  meanProbabilities: Float64Array;
  N: number;
  K: number;
}

function normaliseProbabilities(probs: AllocationProbabilities): { K: number; N: number; P: Float64Array[] } {
  let K: number;
  let P: Float64Array[];
  if (Array.isArray(probs)) {
    const nested = probs as readonly (readonly ArrayLike<number>[])[];
    if (nested.length === 0) throw new RelabelError('stephensKL: no draws');
    const N0 = nested[0].length;
    if (N0 > 0 && typeof nested[0][0] === 'number') throw new RelabelError('stephensKL: draws are flat arrays; pass { K, draws } with N x K row-major probabilities');
    K = N0 > 0 ? nested[0][0].length : 0;
    P = nested.map((draw, t) => {
      if (draw.length !== N0) throw new RelabelError(`stephensKL: draw ${t} has ${draw.length} observations, draw 0 has ${N0}`);
      const flat = new Float64Array(N0 * K);
      draw.forEach((row, n) => {
        if (row.length !== K) throw new RelabelError(`stephensKL: draw ${t}, observation ${n} has ${row.length} probabilities, expected K = ${K}`);
        flat.set(row as ArrayLike<number>, n * K);
      });
      return flat;
    });
  } else {
    const { K: k, draws } = probs as { K: number; draws: readonly ArrayLike<number>[] };
    K = k;
    if (draws.length === 0) throw new RelabelError('stephensKL: no draws');
    P = draws.map((d, t) => {
      if (d.length !== draws[0].length || d.length % K !== 0) throw new RelabelError(`stephensKL: draw ${t} has ${d.length} probabilities, not N x K with K = ${K} and N as in draw 0`);
      return Float64Array.from(d);
    });
  }
  if (!Number.isInteger(K) || K < 1) throw new RelabelError(`stephensKL: K = ${K} components`);
  const N = P[0].length / K;
  P.forEach((d, t) => {
    for (let i = 0; i < d.length; i++) {
      if (!(d[i] >= 0 && d[i] <= 1 + 1e-9)) throw new RelabelError(`stephensKL: draw ${t}, observation ${Math.floor(i / K)}, component ${i % K}: probability ${d[i]} is not in [0, 1]`);
    }
  });
  return { K, N, P };
}

const LOG_FLOOR = Math.log(1e-300);

/**
 * Stephens' (2000) KL relabelling. Starting from `init` (identity by default), it
 * alternates: Q = the mean over draws of the relabelled allocation probabilities; then for
 * each draw t the permutation ν_t minimising KL(P_t(ν_t) || Q) =
 * Σ_n Σ_k p_t[n][k] log(p_t[n][k] / q[n][ν_t(k)]), a K x K assignment problem with cost
 * C[j][l] = -Σ_n p_t[n][j] log q[n][l] (the Σ p log p term does not depend on ν_t). Each
 * pass lowers Σ_t KL; it stops when a pass changes nothing (`converged`) or after
 * `maxIterations` passes. (Stephens' direction, P_t relabelled against Q, is the one that
 * stays finite for hard allocations with zero probabilities.)
 */
export function stephensKL<D extends ComponentDraw = ComponentDraw>(probs: AllocationProbabilities, options: StephensOptions<D> = {}): StephensResult<D> {
  const { K, N, P } = normaliseProbabilities(probs);
  const T = P.length;
  const perms = initialPermutations(options.init, T, K);
  const maxIterations = options.maxIterations ?? 100;
  // Σ_n Σ_k p log p of each draw: constant under relabelling, kept for the objective.
  const entropyTerm = P.map((d) => d.reduce((s, x) => (x > 0 ? s + x * Math.log(x) : s), 0));
  const Q = new Float64Array(N * K);
  const logQ = new Float64Array(N * K);
  const cost = new Float64Array(K * K);
  let iterations = 0;
  let converged = false;
  let objective = NaN;
  while (iterations < maxIterations) {
    iterations++;
    Q.fill(0);
    for (let t = 0; t < T; t++) {
      const d = P[t];
      const perm = perms[t];
      for (let o = 0; o < N * K; o += K) for (let k = 0; k < K; k++) Q[o + perm[k]] += d[o + k];
    }
    for (let i = 0; i < Q.length; i++) {
      Q[i] /= T;
      logQ[i] = Q[i] > 0 ? Math.max(Math.log(Q[i]), LOG_FLOOR) : LOG_FLOOR;
    }
    let changed = 0;
    objective = 0;
    for (let t = 0; t < T; t++) {
      const d = P[t];
      cost.fill(0);
      for (let o = 0; o < N * K; o += K) {
        for (let j = 0; j < K; j++) {
          const pj = d[o + j];
          if (pj === 0) continue;
          for (let l = 0; l < K; l++) cost[j * K + l] -= pj * logQ[o + l];
        }
      }
      const next = improve(cost, K, perms[t]);
      if (!samePermutation(next, perms[t])) { perms[t] = next; changed++; }
      objective += entropyTerm[t] + assignmentCost(cost, K, perms[t]);
    }
    if (changed === 0) { converged = true; break; }
  }
  // Q of the final permutations (unchanged when converged).
  if (!converged) {
    Q.fill(0);
    for (let t = 0; t < T; t++) {
      const d = P[t];
      const perm = perms[t];
      for (let o = 0; o < N * K; o += K) for (let k = 0; k < K; k++) Q[o + perm[k]] += d[o + k] / T;
    }
  }
  return { ...finish(perms, options.draws, iterations, converged), objective, meanProbabilities: Q, N, K };
}

// ---------------------------------------------------------------------------------------
// ECR.

/** Options of {@link ecr}. */
export interface EcrOptions<D extends ComponentDraw> {
  /**
   * The pivot: a draw index (default 0) whose allocations are the reference, or an
   * allocation vector. Papastamoulis and Iliopoulos suggest the draw of highest posterior
   * density (the MAP draw).
   */
  pivot?: number | ArrayLike<number>;
  /**
   * Iterate (their ECR-ITERATIVE-1): after each pass the pivot becomes the per-observation
   * mode of the relabelled allocations, until a pass changes nothing. Default false: one pass.
   */
  iterative?: boolean;
  /** Maximum passes when iterative (default 100). */
  maxIterations?: number;
  /** Parameter draws to relabel alongside (same number of draws). */
  draws?: readonly D[];
}

/**
 * The ECR algorithm (Papastamoulis and Iliopoulos 2010): each draw's allocations z_t are
 * relabelled to agree as much as possible with the pivot allocation z*: the permutation
 * ν_t maximises #{n : ν_t(z_t[n]) = z*[n]}, a K x K assignment problem on the counts
 * S[j][l] = #{n : z_t[n] = j, z*[n] = l}. Labels are 0..K-1.
 */
export function ecr<D extends ComponentDraw = ComponentDraw>(z: readonly ArrayLike<number>[], K: number, options: EcrOptions<D> = {}): RelabelResult<D> {
  if (!Number.isInteger(K) || K < 1) throw new RelabelError(`ecr: K = ${K} components`);
  const T = z.length;
  if (T === 0) throw new RelabelError('ecr: no draws');
  const N = z[0].length;
  z.forEach((zt, t) => {
    if (zt.length !== N) throw new RelabelError(`ecr: draw ${t} has ${zt.length} allocations, draw 0 has ${N}`);
    for (let n = 0; n < N; n++) {
      if (!Number.isInteger(zt[n]) || zt[n] < 0 || zt[n] >= K) throw new RelabelError(`ecr: draw ${t}, observation ${n}: label ${zt[n]} is not in 0..${K - 1}`);
    }
  });
  const pv = options.pivot ?? 0;
  let pivot: Int32Array;
  if (typeof pv === 'number') {
    if (!Number.isInteger(pv) || pv < 0 || pv >= T) throw new RelabelError(`ecr: pivot draw ${pv} is not in 0..${T - 1}`);
    pivot = Int32Array.from(z[pv]);
  } else {
    if (pv.length !== N) throw new RelabelError(`ecr: pivot has ${pv.length} allocations, draws have ${N}`);
    pivot = Int32Array.from(pv);
    for (let n = 0; n < N; n++) if (pivot[n] < 0 || pivot[n] >= K || !Number.isInteger(pv[n])) throw new RelabelError(`ecr: pivot label ${pv[n]} at observation ${n} is not in 0..${K - 1}`);
  }
  const perms = Array.from({ length: T }, () => identityPermutation(K));
  const cost = new Float64Array(K * K);
  const maxIterations = options.iterative ? (options.maxIterations ?? 100) : 1;
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    let changed = 0;
    for (let t = 0; t < T; t++) {
      cost.fill(0);
      const zt = z[t];
      for (let n = 0; n < N; n++) cost[zt[n] * K + pivot[n]] -= 1;
      const next = improve(cost, K, perms[t]);
      if (!samePermutation(next, perms[t])) { perms[t] = next; changed++; }
    }
    if (!options.iterative) { converged = true; break; }
    if (changed === 0 && iterations > 1) { converged = true; break; }
    // New pivot: the per-observation mode of the relabelled allocations (lowest label on ties).
    const counts = new Int32Array(K);
    const nextPivot = new Int32Array(N);
    for (let n = 0; n < N; n++) {
      counts.fill(0);
      for (let t = 0; t < T; t++) counts[perms[t][z[t][n]]]++;
      let best = 0;
      for (let k = 1; k < K; k++) if (counts[k] > counts[best]) best = k;
      nextPivot[n] = best;
    }
    if (changed === 0 && samePermutation(nextPivot, pivot)) { converged = true; break; }
    pivot = nextPivot;
  }
  return finish(perms, options.draws, iterations, converged);
}

// ---------------------------------------------------------------------------------------
// Ordering constraint.

/**
 * Relabels each named draw so that one parameter, `key` (e.g. `'mu'`, K values), is
 * increasing over the new labels (matrix draws: {@link relabelMatrixByOrder}). Ties keep
 * the old order. This is the classical identifiability constraint, adequate only when
 * that parameter separates the components in every draw.
 */
export function relabelByOrder<D extends Record<string, ArrayLike<number>>>(draws: readonly D[], key: string): RelabelResult<D> {
  const perms = draws.map((d, t) => {
    if (ArrayBuffer.isView(d)) throw new RelabelError(`relabelByOrder: draw ${t} is a matrix; use relabelMatrixByOrder(draws, K, column)`);
    const named = d as Record<string, ArrayLike<number>>;
    if (typeof key !== 'string' || !(key in named)) throw new RelabelError(`relabelByOrder: draw ${t} has no parameter '${String(key)}'`);
    return orderPermutation(Array.from(named[key]));
  });
  if (perms.length > 0) {
    const K = perms[0].length;
    perms.forEach((p, t) => { if (p.length !== K) throw new RelabelError(`relabelByOrder: draw ${t} has ${p.length} components, draw 0 has ${K}`); });
  }
  return finish(perms, draws, 1, true);
}

/** {@link relabelByOrder} for K x P row-major matrix draws, sorting by column `column`. */
export function relabelMatrixByOrder(draws: readonly Float64Array[], K: number, column: number): RelabelResult<Float64Array> {
  const perms = draws.map((m, t) => {
    if (m.length % K !== 0) throw new RelabelError(`relabelMatrixByOrder: draw ${t} has ${m.length} values, not a multiple of K = ${K}`);
    const P = m.length / K;
    if (!Number.isInteger(column) || column < 0 || column >= P) throw new RelabelError(`relabelMatrixByOrder: column ${column} is not in 0..${P - 1}`);
    return orderPermutation(Array.from({ length: K }, (_, k) => m[k * P + column]));
  });
  return finish(perms, draws, 1, true);
}

/** perm[k] = rank of values[k] in increasing order (stable; NaN last). */
function orderPermutation(values: readonly number[]): Int32Array {
  const idx = values.map((_, k) => k);
  const key = (k: number) => (Number.isNaN(values[k]) ? Infinity : values[k]);
  idx.sort((a, b) => key(a) - key(b) || (Number.isNaN(values[a]) ? 1 : 0) - (Number.isNaN(values[b]) ? 1 : 0) || a - b);
  const perm = new Int32Array(values.length);
  idx.forEach((k, rank) => { perm[k] = rank; });
  return perm;
}
