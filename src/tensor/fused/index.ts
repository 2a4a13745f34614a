/**
 * Fused kernels for the hot paths of inference, registered in tfjs's kernel registry for
 * the `cpu`, `wasm` and `webgpu` backends, each with a plain-op reference path.
 */
export { gaussianEStep, checkGaussianEStepParams, gaussianEStepReference, gaussianEStepJS, GAUSSIAN_ESTEP_KERNEL, type EStepResult, type EStepOptions } from './estep';
export { gaussianSuffStats, gaussianSuffStatsReference, gaussianSuffStatsJS, GAUSSIAN_SUFF_STATS_KERNEL, type SuffStats, type SuffStatsOptions } from './suff-stats';
export { chainLogZ, chainLogZReference, chainMarginals, chainForwardJS, chainBackwardJS, CHAIN_LOGZ_KERNEL, CHAIN_MARGINALS_KERNEL, type ChainOptions, type ChainMarginals } from './chain';
export { threefryDraw, threefryDrawJS, wordToUniform, DeviceStream, THREEFRY_DRAW_KERNEL } from './threefry';
