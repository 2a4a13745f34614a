/**
 * A fused E-step for Gaussian mixtures, recognised from the IR: one enumerated latent z
 * in one plate, `z ~ categorical(w)` (or the mixture sugar), and one observation
 * `x ~ mvnormal_cholesky(mu[z], L[z])` / `mvnormal(mu[z], Sigma[z])` /
 * `mvnormal_cholesky(mu[z], diag_pre_multiply(tau[z], Lc[z]))` (or tied forms) of
 * data x[N, D], with nothing else in the model but priors. Per component it is one
 * [N, D] x [D, D] product with the inverse Cholesky factor and a row sum, instead of a
 * batched triangular solve over [N, K, D] and its gradient. The generic E-step is the
 * reference it is tested against.
 */
import { tf, cholesky, triangularSolve, eye, logSumExp, matrixDiagPart, type Tensor } from '../../tensor';
import type { BoundModel } from '../../model/bound-model';
import type { Factor, IRExpr } from '../../ir/types';

export type FastEStep = (params: ReadonlyMap<string, Tensor>) => { logZ: Tensor; marginals: Map<string, Tensor> };

const sel = (e: IRExpr | undefined, lat: string): string | undefined =>
  e && e.op === 'index' && e.target.op === 'param' && e.indices.length === 1 && e.indices[0].op === 'latent' && e.indices[0].name === lat && e.indices[0].index.every((i) => 'plate' in i && i.shift === 0)
    ? e.target.name : undefined;

/** The fused E-step when the model has the Gaussian-mixture shape (and priors are left out), else undefined. */
export function fastGmmEStep(bm: BoundModel, priors: boolean): FastEStep | undefined {
  const ir = bm.ir;
  if (priors || ir.latents.length !== 1 || ir.lets.length) return undefined;
  const lat = ir.latents[0];
  if (lat.chain || lat.plates.length !== 1) return undefined;
  const nonPrior = ir.factors.filter((f) => f.kind !== 'prior');
  if (nonPrior.length !== 2) return undefined;
  const zf = nonPrior.find((f) => f.kind === 'latent');
  const xf = nonPrior.find((f) => f.kind === 'obs');
  if (!zf || !xf || zf.dist?.kind !== 'family' || xf.dist?.kind !== 'family') return undefined;
  if (zf.dist.family !== 'categorical' || zf.dist.args[0].op !== 'param') return undefined;
  const wName = zf.dist.args[0].name;
  const fam = xf.dist.family;
  if (fam !== 'mvnormal' && fam !== 'mvnormal_cholesky') return undefined;
  const muName = sel(xf.dist.args[0], lat.name);
  if (!muName) return undefined;
  const value = xf.value;
  const plate = lat.plates[0];
  // The observed value must be x[n] with x data [N, D] and n the latent's plate variable over all of x.
  if (!value || value.op !== 'index' || value.target.op !== 'data' || value.indices.length !== 1 || value.indices[0].op !== 'loop' || value.indices[0].plate !== plate) return undefined;
  const x = bm.rt.data.get(value.target.name);
  const pr = bm.rt.plates.get(plate)!;
  if (!x || x.rank !== 2 || pr.lo !== 1 || pr.size !== x.shape[0]) return undefined;
  const covFactor = covarianceFactor(fam, xf, lat.name);
  if (!covFactor) return undefined;
  const D = x.shape[1] as number;
  const K = bm.rt.latents.get(lat.name)!.K;
  return (params) => {
    const w = params.get(wName)!;
    const mu = params.get(muName)!;
    const L = covFactor(params, K); // [K, D, D] lower
    // Linv = L^{-1} by one small batched solve; then z_k = (x - mu_k) Linv_k^T.
    const Linv = triangularSolve(L, tf.broadcastTo(eye(D), [K, D, D]));
    const halfLogDet = tf.sum(tf.log(tf.abs(matrixDiagPart(L))), 1); // log |det L| = Σ log |L_ii|
    // One product for all components: z[n, k, :] = Linv_k x_n - Linv_k mu_k.
    // (Plain, untransposed matmuls: a transposed operand is several times slower on wasm.)
    const LinvT = tf.reshape(tf.transpose(Linv, [2, 0, 1]), [D, K * D]); // [D, K*D], column block k = Linv_k^T
    const shift = tf.reshape(tf.sum(tf.mul(Linv, tf.expandDims(mu, 1)), 2), [1, K * D]); // Linv_k mu_k
    const z = tf.sub(tf.matMul(x, LinvT), shift);
    const maha = tf.sum(tf.reshape(tf.square(z), [-1, K, D]), 2); // [N, K]
    const c = tf.add(tf.add(tf.log(w), tf.neg(halfLogDet)), -0.5 * D * Math.log(2 * Math.PI));
    const lp = tf.add(tf.mul(maha, -0.5), c);
    const lse = logSumExp(lp, 1, true);
    return { logZ: tf.sum(lse), marginals: new Map([[lat.name, tf.exp(tf.sub(lp, lse))]]) };
  };
}

/** The lower Cholesky factor of each component's covariance, [K, D, D], from the recognised parameterisation. */
function covarianceFactor(fam: string, xf: Factor, lat: string): ((params: ReadonlyMap<string, Tensor>, K: number) => Tensor) | undefined {
  const e = xf.dist!.kind === 'family' ? xf.dist!.args[1] : undefined;
  if (!e) return undefined;
  const tile = (t: Tensor, K: number) => (t.rank === 2 ? tf.broadcastTo(t, [K, ...t.shape]) : t);
  const byZ = sel(e, lat);
  if (fam === 'mvnormal') {
    if (byZ) return (p) => cholesky(p.get(byZ)!);
    if (e.op === 'param') return (p, K) => tile(cholesky(p.get(e.name)!), K);
    return undefined;
  }
  if (byZ) return (p) => p.get(byZ)!;
  if (e.op === 'param') return (p, K) => tile(p.get(e.name)!, K);
  if (e.op === 'call' && e.fn === 'diag_pre_multiply') {
    const t = sel(e.args[0], lat);
    const l = sel(e.args[1], lat);
    if (t && l) return (p) => tf.mul(tf.expandDims(p.get(t)!, -1), p.get(l)!);
    if (e.args[0].op === 'param' && e.args[1].op === 'param') {
      const [tn, ln] = [e.args[0].name, e.args[1].name];
      return (p, K) => tile(tf.mul(tf.expandDims(p.get(tn)!, -1), p.get(ln)!), K);
    }
  }
  return undefined;
}
