/**
 * The distribution registry: one row per family. It drives type checking, argument
 * validation, docs and the distribution test table (test/distributions/).
 *
 * Conventions shared by every row (beyond the contract in ./types):
 * - names and parameterisations follow Stan (normal(mu, sigma), gamma(shape, rate),
 *   neg_binomial(alpha, beta), neg_binomial_2(mu, phi), ...);
 * - `logProb` returns -Infinity for a value outside the support and NaN for a parameter
 *   outside its constraint (the model layer validates arguments, so nothing checks them here);
 * - `sample` throws a RangeError naming the family and the parameter on bad arguments;
 *   lkj_corr_cholesky is the one family whose event size is not implied by its parameters:
 *   the caller appends the dimension D, `sample(rng, eta, D)`;
 * - `moments` gives the variance elementwise, with the value's shape (mvnormal: diag(Sigma);
 *   wishart: Var(W_ij)); it is undefined where the mean does not exist, and the variance is
 *   Infinity where only the mean exists.
 */
import type { DistributionDef } from './types';
import { CONTINUOUS } from './families/continuous';
import { DISCRETE } from './families/discrete';
import { MULTIVARIATE } from './families/multivariate';
import { MATRIX } from './families/matrix';

function build(defs: DistributionDef[]): ReadonlyMap<string, DistributionDef> {
  const m = new Map<string, DistributionDef>();
  for (const d of defs) {
    if (m.has(d.name)) throw new Error(`distribution '${d.name}' is registered twice`);
    m.set(d.name, d);
  }
  return m;
}

/** Every distribution family, by its language name. */
export const DISTRIBUTIONS: ReadonlyMap<string, DistributionDef> = build([...CONTINUOUS, ...DISCRETE, ...MULTIVARIATE, ...MATRIX]);

/** Returns the family called `name`, or undefined when there is none. */
export function getDistribution(name: string): DistributionDef | undefined {
  return DISTRIBUTIONS.get(name);
}

/** Returns the names of all families, sorted. */
export function distributionNames(): string[] {
  return [...DISTRIBUTIONS.keys()].sort();
}
