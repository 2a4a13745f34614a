/**
 * Potentials evaluated at several points together: a VI step's Monte Carlo draws, the chains
 * of the Langevin samplers, an annealed particle cloud's moves. Where the potential is the
 * tensor evaluator's (`BoundModel.tensorPotentialFunction`) or a device's answering a worker
 * (src/infer/remote-potential.ts), the points are one batched evaluation, so a GPU is asked
 * once per sweep instead of once per point; a float64 replay is called point by point.
 */

/**
 * What evaluates a potential at several points together: `valuesAndGrads` writes each
 * point's gradient into `grads[b]` and returns the potentials (NaN/Inf as they come). The
 * tensor evaluator's potential has it (one batched evaluation); a float64 replay has not.
 */
export interface PointsPotential {
  valueAndGrad(u: ArrayLike<number>, grad: Float64Array): number;
  valuesAndGrads?(points: readonly ArrayLike<number>[], grads: readonly Float64Array[]): Float64Array;
}

/**
 * The potentials and gradients at `points`: one batched evaluation where `pot` has
 * `valuesAndGrads`, else one call per point, in order.
 */
export function valuesAndGradsAt(pot: PointsPotential, points: readonly ArrayLike<number>[], grads: readonly Float64Array[]): Float64Array {
  if (points.length !== grads.length) throw new RangeError(`valuesAndGradsAt: ${points.length} points but ${grads.length} gradient rows`);
  if (pot.valuesAndGrads && points.length > 1) return pot.valuesAndGrads(points, grads);
  return Float64Array.from(points, (u, b) => pot.valueAndGrad(u, grads[b]));
}
