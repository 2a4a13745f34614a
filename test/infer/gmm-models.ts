// Gaussian-mixture models shared by the EM tests (full and diagonal covariance, K and the
// data x[N, D] given), and a check that every number of a nested result is finite.

/** x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])). */
export const GMM_FULL = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param L: cholesky_cov[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> mvnormal_cholesky(mu[k], L[k])) } }`;

/** x[n] ~ mixture(w, k -> normal(mu[k], sigma[k])), per-coordinate scales. */
export const GMM_DIAG = `model g { data K: int  data x: real[N, D]  param w: simplex[K]  param mu: real[K, D]  param sigma: positive[K, D]
  for n in 1..N { x[n] ~ mixture(w, k -> normal(mu[k], sigma[k])) } }`;

/** True when v is a finite number or a (nested) array of them. */
export function allFinite(v: unknown): boolean {
  if (Array.isArray(v)) return v.every(allFinite);
  return typeof v === 'number' && Number.isFinite(v);
}
