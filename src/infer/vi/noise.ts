// Fixed-seed noise for the VI guides: initial values and Monte Carlo moments that must not
// depend on (or advance) a run's Rng. A leaf module, so the guide modules can share it
// without an import cycle.

/**
 * A deterministic stream of standard normals from a small linear congruential generator
 * (Box–Muller): the guides' fixed-seeded initial values and the flow's Monte Carlo moments,
 * which must not depend on (or advance) a run's Rng.
 */
export function fixedNormals(seed: number): () => number {
  let state = seed;
  const unif = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return (state + 0.5) / 2147483648;
  };
  return () => Math.sqrt(-2 * Math.log(unif())) * Math.cos(2 * Math.PI * unif());
}

/**
 * Monte Carlo mean and covariance of a guide with no closed form: n draws u = transform(ε)
 * from a fixed-seed normal stream (the same draws every call, so repeated calls agree).
 */
export function monteCarloMoments(transform: (eps: Float64Array) => Float64Array, d: number, n: number): { mean: Float64Array; cov: Float64Array[] } {
  const normal = fixedNormals(777);
  const mean = new Float64Array(d);
  const cov = Array.from({ length: d }, () => new Float64Array(d));
  const eps = new Float64Array(d);
  const us: Float64Array[] = [];
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < d; i++) eps[i] = normal();
    const u = transform(eps);
    us.push(u);
    for (let i = 0; i < d; i++) mean[i] += u[i] / n;
  }
  for (const u of us) for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) cov[i][j] += ((u[i] - mean[i]) * (u[j] - mean[j])) / (n - 1);
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[j][i] = cov[i][j];
  return { mean, cov };
}
