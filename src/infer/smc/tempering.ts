/**
 * The adaptive tempering schedule shared by tempered SMC and annealed Langevin: the next
 * increment δ of the inverse temperature is the largest for which the relative (conditional)
 * ESS of the incremental weights exp(δ ℓ_i) stays at a threshold (Zhou, Johansen & Aston 2016).
 */
import { effectiveSize } from './resample';
import { logSumExpF64 } from '../../tensor/special';

/** log Σ_i exp(a_i) in float64 (−Infinity for an empty or all −Infinity input). */
export const logSumExp = logSumExpF64;

/** Relative (conditional) ESS after an increment δ: CESS/P = (Σ W_i w_i)² / Σ W_i w_i², or ESS/P of W_i w_i, with w_i = exp(δ ℓ_i). */
export function relativeEss(logW: Float64Array, ll: Float64Array, delta: number, mode: 'cess' | 'ess'): number {
  const n = logW.length;
  const inc = new Float64Array(n);
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    inc[i] = ll[i] === -Infinity ? (delta > 0 ? -Infinity : 0) : delta * ll[i];
    if (logW[i] > -Infinity && inc[i] > m) m = inc[i];
  }
  if (!(m > -Infinity)) return 0;
  if (mode === 'cess') {
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      if (logW[i] === -Infinity) continue;
      const W = Math.exp(logW[i]);
      const w = Math.exp(inc[i] - m);
      s1 += W * w;
      s2 += W * w * w;
    }
    return s2 > 0 ? (s1 * s1) / s2 : 0;
  }
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.exp(logW[i] + inc[i] - m);
  return effectiveSize(w) / n;
}

/**
 * The next tempering increment from β with `room` = 1 − β left: `room` itself when the
 * relative (C)ESS after it is at least `thr`, else the δ found by bisection where it equals
 * `thr` (60 halvings, to 1e-14).
 */
export function nextIncrement(logW: Float64Array, ll: Float64Array, room: number, thr: number, mode: 'cess' | 'ess' = 'cess'): number {
  if (relativeEss(logW, ll, room, mode) >= thr) return room;
  let lo = 0;
  let hi = room;
  for (let it = 0; it < 60 && hi - lo > 1e-14; it++) {
    const mid = 0.5 * (lo + hi);
    if (relativeEss(logW, ll, mid, mode) >= thr) lo = mid;
    else hi = mid;
  }
  return lo > 0 ? lo : hi;
}
