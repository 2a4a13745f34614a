/**
 * The fits that families-webgpu-checks.ts runs on webgpu (in a child process, where every
 * family but EM, MAP / MLE and diffusion runs through runOnHostBackend: tfjs's cpu backend for
 * binding and tracing, the float64 replay on the host) and families-webgpu.test.ts runs in the parent on wasm and
 * on cpu. Small models and short runs with fixed seeds: software WebGPU is slow.
 */
import type { DataInput } from '../../src/model/data';
import { compile } from '../../src';
import { particleFilter } from '../../src/infer/smc/filter';
import { hmmFromModel, hmmSsm } from '../../src/infer/smc/ssm';

/** A two-component normal mixture with its latent summed out (priors on every parameter, for SMC). */
export const MIX = `model m { data K: int  data y: real[N]  param w: simplex[K]  param mu: ordered[K]  param s: positive
  w ~ dirichlet([2.0, 2.0])  mu ~ normal(0, 5)  s ~ lognormal(0, 1)
  for n in 1..N { y[n] ~ mixture(w, k -> normal(mu[k], s)) } }`;
export const mixY = Array.from({ length: 40 }, (_, i) => (i % 2 ? 2 : -2) + Math.sin(i * 7.3));
export const mixData: DataInput = { K: 2, y: mixY };

/** model.fit options per check (the method's own options; seed 1). */
export const fits: Record<string, Record<string, unknown>> = {
  nuts: { method: 'nuts', chains: 2, warmup: 60, draws: 40, seed: 1 },
  'gibbs-slice': { method: 'gibbs', algorithm: 'slice', chains: 1, warmup: 40, draws: 40, seed: 1 },
  smc: { method: 'smc', particles: 50, seed: 1 },
  vi: { method: 'vi', guide: 'meanfield', steps: 150, seed: 1 },
  langevin: { method: 'langevin', chains: 2, steps: 60, seed: 1 },
  map: { method: 'map', seed: 1 },
  // The baseline by maximum likelihood: at its optimum the training log likelihood is stationary (the tolerance's premise).
  diffusion: { method: 'diffusion', steps: 60, hidden: 16, layers: 2, batch: 32, odeSteps: 6, seed: 1, baseline: 'mle' },
};

/** sampleParallel with deviceGradients on webgpu: short (each gradient is a device round trip, slow on a software adapter). */
export const deviceNuts = { chains: 2, warmup: 12, draws: 8, seed: 1, maxTreeDepth: 3 };

/** viDeviceGradients on webgpu: a short mean-field fit (one device round trip per step). */
export const deviceVi = { guide: 'meanfield' as const, steps: 30, seed: 1 };

/** smcDevice on webgpu: few particles and short moves (each leapfrog step is one batched device evaluation). */
export const deviceSmc = { particles: 48, seed: 1, rejuvenation: { steps: 1, leapfrogSteps: 4 } };

/** scoreSampleDeviceGradients on webgpu: a short MALA run. */
export const deviceMala = { method: 'mala' as const, chains: 1, warmup: 10, draws: 10, seed: 1 };

/** Minibatch SVI from mixData in two chunks (model.fit(chunks, ...)). */
export const viChunks = [{ y: mixY.slice(0, 20) }, { y: mixY.slice(20) }];
export const viChunkedOpts = { method: 'vi', guide: 'meanfield', minibatch: { data: 'y', size: 10, shared: { K: 2 } }, steps: 100, seed: 1 };

/** The numbers compared: draws (MCMC, Langevin), log Ẑ (SMC), guide parameters and ELBO trace (VI), optimum (MAP). */
export type Summary = Record<string, number | number[] | number[][]>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function summarize(method: string, r: any): Summary {
  const arr = (a: ArrayLike<number>) => Array.from(a);
  switch (method) {
    case 'nuts':
    case 'gibbs-slice':
    case 'langevin':
      return { draws: r.chains.flatMap((c: { values: Float64Array[] }) => c.values.map(arr)) };
    case 'smc':
      return { logZ: r.logZ, particles: r.particles?.length ?? 0 };
    case 'vi':
    case 'vi-chunked':
      return { params: arr(r.params), elbo: arr(r.elbo) };
    case 'map':
      return { logDensity: r.logDensity, params: Object.values(r.params as Record<string, number | number[]>).flat() as number[] };
    case 'diffusion':
      return {
        losses: arr(r.score.losses), finalLoss: r.finalLoss, heldOutLogLik: r.heldOutLogLik, heldOutLogLikSe: r.heldOutLogLikSe,
        trainRows: r.trainRows.length, baselineTrain: r.baseline.trainLogLik, baselineHeld: r.baseline.heldOutLogLik,
      };
    default:
      throw new RangeError(`summarize: no summary for '${method}'`);
  }
}

/** The HMM behind the particle-filter check, at fixed parameters. */
export const HMM = `model h { data K: int  data y: real[T]  param p0: simplex[K]  param A: simplex[K, K]  param mu: ordered[K]  param sigma: positive[K]
  z[1] ~ categorical(p0)
  for t in 2..T { z[t] ~ categorical(A[z[t-1]]) }
  for t in 1..T { y[t] ~ normal(mu[z[t]], sigma[z[t]]) } }`;
export const hmmValues = { p0: [0.5, 0.5], A: [[0.9, 0.1], [0.1, 0.9]], mu: [-2, 2], sigma: [1, 1] };

/** The particle filter at `hmmValues` on mixY (bind, tables, filter: all synchronous); log Ẑ. */
export function runFilter(): number {
  const b = compile(HMM).bind({ K: 2, y: mixY });
  try {
    return particleFilter(hmmSsm(hmmFromModel(b, hmmValues)), { particles: 200, seed: 1, quantiles: [] }).logZ;
  } finally {
    b.dispose();
  }
}
