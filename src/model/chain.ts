/**
 * The log partition function of a chain of discrete latents, by a balanced product
 * tree of log-semiring matrix products: O(T K^3) work in O(log T) sequential tensor
 * steps (a JS loop of T small ops would cost more in dispatch than in arithmetic).
 * Gradients through it give the forward-backward marginals.
 */
import { tf, logSumExp, type Tensor } from '../tensor';

/** Budget of elements for one batched log-matmul level before it is split into chunks. */
const LOGMATMUL_CHUNK = 1 << 24;

/** C[b,i,j] = logsumexp_k A[b,i,k] + B[b,k,j]. */
function logMatMul(a: Tensor, b: Tensor): Tensor {
  const n = a.shape[0];
  const K = a.shape[1] as number;
  const per = Math.max(1, Math.floor(LOGMATMUL_CHUNK / (K * K * K)));
  if (n <= per) return logSumExp(tf.add(tf.expandDims(a, 3), tf.expandDims(b, 1)), 2);
  const out: Tensor[] = [];
  for (let s = 0; s < n; s += per) {
    const m = Math.min(per, n - s);
    out.push(logMatMul(tf.slice(a, [s, 0, 0], [m, K, K]), tf.slice(b, [s, 0, 0], [m, K, K])));
  }
  return tf.concat(out, 0);
}

/** log sum over paths of exp(init[z1] + sum_t M_t[z_{t-1}, z_t]), by a balanced product tree. */
export function chainLogZ(init: Tensor, mats: Tensor): Tensor {
  let m = mats;
  while (m.shape[0] > 1) {
    const L = m.shape[0];
    const K = m.shape[1] as number;
    const even = L - (L % 2);
    const pairs = tf.reshape(tf.slice(m, [0, 0, 0], [even, K, K]), [even / 2, 2, K, K]);
    const [a, b] = tf.unstack(pairs, 1);
    let next = logMatMul(a, b);
    if (L % 2) next = tf.concat([next, tf.slice(m, [L - 1, 0, 0], [1, K, K])], 0);
    m = next;
  }
  if (m.shape[0] === 0) return logSumExp(init);
  return logSumExp(tf.add(tf.expandDims(init, 1), tf.squeeze(m, [0])), [0, 1]);
}
