/**
 * mixppl: a probabilistic programming language for mixture models.
 *
 * @example
 * import { compile } from 'mixppl';
 * const model = compile('stdlib/gmm_diag.mix');
 */
export { compile, frontEnd, type CompileOptions, type FrontEndResult } from './compile';
export { Model, type Site, type FitOptions, type FitResult } from './model/model';
export { BoundModel, type ParamValues, type LogDensityOptions } from './model/bound-model';
export type { DataInput, DataValue, NdArray } from './model/data';
export { MixError, InternalError, renderDiagnostic, renderDiagnostics, type Diagnostic } from './diagnostics/diagnostic';
export { useBackend, ensureBackend, currentBackend, BackendUnavailableError, type BackendName } from './tensor/backend';
export { Key } from './tensor/random';
export type { IRProgram } from './ir/types';
export { em, type EmOptions, type EmResult } from './infer/em';
export { onlineEm, type OnlineEmOptions, type OnlineEmResult } from './infer/em/online';
export { optimize, type OptimizeOptions, type OptimizeResult } from './infer/optimize';
export { sample, sampleLatents, McmcResult, type SampleOptions, type McmcChain, type SamplerDiagnostics, type SummaryRow } from './infer/mcmc';
export { sampleParallel, type ParallelSampleOptions } from './infer/mcmc/parallel';
export { stephensKL, ecr, relabelByOrder, applyPermutation } from './infer/mcmc/relabel';
export {
  smc, particleFilter, ffbsi, conditionalSmc, particleGibbs, hmmFromModel, switchingLgssmFromModel, hmmSsm, linearGaussianSsm, switchingLgssm,
  kalmanFilter, hmmForward, type SmcOptions, type SmcResult, type StateSpaceModel, type ParticleFilterOptions, type ParticleFilterResult,
} from './infer/smc';
export {
  scoreSample, ScoreResult, SCORE_METHODS, trainScore, sampleScore, logLikelihoodOde, vpSde, veSde, mmd2, diffusionFit,
  type ScoreMethod, type ScoreSampleOptions, type ScoreModel, type TrainScoreOptions, type DiffusionFitOptions, type DiffusionFitResult,
} from './infer/score';
export { vi, iwaeBound, objectives, psis, AmortizedGuide, CouplingFlowGuide, type ObjectiveProgram, type ObjectiveOps, type ObjectiveInputs, type ViOptions, type ViResult } from './infer/vi';
export { predict, viterbi, selectModels } from './infer/em';
