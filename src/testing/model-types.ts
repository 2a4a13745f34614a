/**
 * The small structural interfaces the testing kit needs from a model and from inference.
 * `Model` (src/model/model.ts) satisfies `SimulatingModel` and `GewekeModel`; inference
 * families plug in as a `PosteriorSampler` (SBC) or a `TransitionKernel` (Geweke) without
 * the kit importing them.
 */
import type { BoundModel } from '../model/bound-model';
import type { DataInput, DataValue, NdArray } from '../model/data';
import { unravel } from '../model/data';
import { Key } from '../tensor/random';

/** One ancestral draw, as `Model.simulate` returns it (only the fields the kit reads). */
export interface SimulatedDrawLike {
  /** Constrained parameter values. */
  params: Readonly<Record<string, NdArray>>;
  /** Every observed data variable drawn from the model. */
  data: Readonly<Record<string, NdArray>>;
}

/** Options of `Model.simulate` that the kit uses. */
export interface SimulateOptionsLike {
  seed?: number;
  draws?: number;
  /** Parameters held at these values (Geweke's successive-conditional step draws y | θ). */
  fixed?: Readonly<Record<string, DataValue>>;
}

/** A model that can draw parameters and data from its prior predictive. */
export interface SimulatingModel {
  simulate(data: DataInput, opts?: SimulateOptionsLike): SimulatedDrawLike[];
}

/** A model that can also bind data (for Geweke's successive-conditional simulator). */
export interface GewekeModel extends SimulatingModel {
  bind(data: DataInput): BoundModel;
}

/**
 * Posterior draws per parameter: S draws, each the parameter's elements flattened in
 * row-major order (a scalar parameter may give plain numbers).
 */
export type PosteriorDraws = Readonly<Record<string, readonly (readonly number[] | ArrayLike<number>)[] | readonly number[]>>;

/**
 * An inference method under test: draws from p(θ | data) for the given model and data.
 * `seed` is derived per replication; the method must be deterministic given it.
 */
export type PosteriorSampler<M = SimulatingModel> = (model: M, data: DataInput, seed: number) => Promise<{ draws: PosteriorDraws }> | { draws: PosteriorDraws };

/**
 * One transition of a Markov kernel that leaves p(θ | y) invariant, on the flat
 * unconstrained vector of the bound model (`BoundModel.unconstrain` / `constrain`).
 * `init` builds the kernel's state at u (for the current data); `step` moves it.
 */
export interface TransitionKernel {
  init(bound: BoundModel, u: Float64Array, seed: number): unknown;
  step(bound: BoundModel, state: unknown, seed: number): { state: unknown; u: Float64Array };
}

/**
 * Returns the element names of a parameter: `mu` for a scalar, `mu[2]`, `L[1, 3]` (1-based, row-major).
 *
 * @example
 * elementNames('L', [2, 2]); // ['L[1, 1]', 'L[1, 2]', 'L[2, 1]', 'L[2, 2]']
 */
export function elementNames(name: string, shape: readonly number[]): string[] {
  const size = shape.reduce((a, b) => a * b, 1);
  if (shape.length === 0) return [name];
  const out: string[] = [];
  for (let i = 0; i < size; i++) out.push(`${name}[${unravel(i, [...shape]).join(', ')}]`);
  return out;
}

/** Returns a safe-integer seed (53 bits) taken from a key's words. */
export function keySeed(key: Key): number {
  const [hi, lo] = key.words();
  return (hi >>> 11) * 4294967296 + lo;
}

/** Returns the per-replication child key r of a root seed. */
export function replicationKey(seed: number, r: number): Key {
  return Key.seed(seed).fold(r);
}
