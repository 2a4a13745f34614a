/**
 * The checker's view of the distribution registry, plus the combinators that take a
 * distribution as an argument (`mixture`, `censored`, `truncated`).
 */
import type { DistributionDef } from '../distributions/types';
import { distributionNames, getDistribution } from '../distributions/registry';

/** Distribution combinators: written like distributions on the right of `~`. */
export const COMBINATORS = ['mixture', 'censored', 'truncated'] as const;

export type CombinatorName = (typeof COMBINATORS)[number];

/** Returns true when `name` is a combinator. */
export function isCombinator(name: string): name is CombinatorName {
  return (COMBINATORS as readonly string[]).includes(name);
}

/** Returns the registry row of the distribution `name`, if there is one. */
export function lookupDistribution(name: string): DistributionDef | undefined {
  return getDistribution(name);
}

/** Returns true when `name` is a distribution family. */
export function isDistribution(name: string): boolean {
  return getDistribution(name) !== undefined;
}

/** Returns every name that may stand on the right of `~` (for suggestions). */
export function rhsNames(): string[] {
  return [...distributionNames(), ...COMBINATORS];
}

/** Returns true when the family is discrete with a finite, enumerable support. */
export function isFiniteDiscrete(def: DistributionDef): boolean {
  return def.support.elem === 'int' && def.support.finite === true;
}

/** Returns "(mu, sigma)": the parameter names of a family, for arity messages. */
export function paramList(def: DistributionDef): string {
  return `(${def.params.map((p) => p.name).join(', ')})`;
}
