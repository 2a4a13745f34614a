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
export { useBackend, ensureBackend, currentBackend, runOnHostBackend, BackendUnavailableError, type BackendName } from './tensor/backend';
export { Key } from './tensor/random';
export type { IRProgram } from './ir/types';
export { em, emAsync, type EmOptions, type EmResult } from './infer/em';
export type { KmeansInitOptions } from './infer/em/init';
export { onlineEm, type OnlineEmOptions, type OnlineEmResult } from './infer/em/online';
export { optimize, optimizeAsync, type OptimizeOptions, type OptimizeResult } from './infer/optimize';
export { sample, sampleLatents, McmcResult, type SampleOptions, type McmcChain, type SamplerDiagnostics, type SummaryRow } from './infer/mcmc';
export { sampleParallel, type ParallelSampleOptions } from './infer/mcmc/parallel';
export type { GradientBatchStats } from './infer/remote-potential';
export { chainWorkerMain } from './infer/mcmc/chain-worker';
export { stephensKL, ecr, relabelByOrder, relabelMatrixByOrder, applyPermutation } from './infer/mcmc/relabel';
export {
  smc, particleFilter, ffbsi, conditionalSmc, particleGibbs, hmmFromModel, switchingLgssmFromModel, hmmSsm, linearGaussianSsm, switchingLgssm,
  kalmanFilter, hmmForward, type SmcOptions, type SmcResult, type StateSpaceModel, type ParticleFilterOptions, type ParticleFilterResult,
  particleFilterDevice, hmmTensorSsm, linearGaussianTensorSsm, switchingLgssmTensorSsm, deviceAncestors,
  type TensorStateSpaceModel, type TensorProposal, type TensorMove, type DeviceFilterOptions, type DeviceFilterResult, type DeviceResampleScheme,
} from './infer/smc';
export { smcDevice } from './infer/smc/device';
export {
  scoreSample, ScoreResult, SCORE_METHODS, trainScore, sampleScore, logLikelihoodOde, vpSde, veSde, mmd2, diffusionFit,
  type ScoreMethod, type ScoreSampleOptions, type ScoreModel, type TrainScoreOptions, type DiffusionFitOptions, type DiffusionFitResult,
} from './infer/score';
export { scoreSampleDeviceGradients, type ScoreDeviceOptions } from './infer/score/device';
export { vi, iwaeBound, objectives, psis, AmortizedGuide, CouplingFlowGuide, type ObjectiveProgram, type ObjectiveOps, type ObjectiveInputs, type ViOptions, type ViResult } from './infer/vi';
export { viDeviceGradients, type ViDeviceOptions } from './infer/vi/device';
export { predict, predictAsync, viterbi, viterbiAsync, selectModels, selectModelsAsync } from './infer/em';

// Types the API above mentions (options, results, IR nodes), so the reference documents them.
export type { AllocationProbabilities, ComponentDraw, EcrOptions, RelabelResult, StephensOptions, StephensResult } from './infer/mcmc/relabel';
export type { AmortizedGroup, AmortizedLayout, AmortizedOptions, AmortizedBatchSpec, RowSel } from './infer/vi/amortized';
export type { CouplingOptions } from './infer/vi/coupling';
export type { FullRankGuide, MeanFieldGuide, Guide, GuideKind, Potential } from './infer/vi/guides';
export type { IwaeEstimate } from './infer/vi/index';
export type { MinibatchOptions } from './infer/vi/minibatch';
export type { ViChunkSource } from './infer/vi/chunked';
export type { Node as ObjectiveNode } from './infer/vi/objective';
export type { PsisResult } from './infer/vi/psis';
export type { Schedule } from './infer/vi/optim';
export type { AnnealedResult, GaussianReference } from './infer/score/annealed';
export type { RdmcResult } from './infer/score/rdmc';
export type { DiffusionBaseline } from './infer/score/diffusion-fit';
export type { LogLikelihoodOdeOptions, SampleScoreOptions } from './infer/score/dsm';
export type { MmdOptions, MmdResult, Rows } from './infer/score/mmd';
export type { ScoreField, Sde, VeOptions, VpOptions } from './infer/score/sde';
export type { ScoreProgress } from './infer/score/index';
export type { Bindable, ChunkSource } from './infer/em/online';
export type { Candidate, Criterion, SelectOptions, SelectResult, SelectRow } from './infer/em/select';
export type { PredictResult } from './infer/em/predict';
export type { ReseedEvent, ReseedOptions } from './infer/em/reseed';
export type { ViterbiResult } from './infer/em/viterbi';
export type { ChainDraws, DrawRows } from './output/draws';
export type { ChainPhase } from './infer/mcmc/sampler';
export type { ExactBlockInfo } from './infer/mcmc/conjugate-gibbs';
export type { DrawStats, TestBias } from './infer/mcmc/hmc';
export type { LatentDraws, LatentInfo, SampleLatentsOptions } from './infer/mcmc/latents';
export type {
  ConditionalSmcOptions, ConditionalSmcResult, FfbsiOptions, FfbsiResult, FilterHistory, FilterResampleScheme, ParticleGibbsOptions,
} from './infer/smc/filter';
export type { ForwardResult, KalmanResult } from './infer/smc/kalman';
export type { HmmTables, LinearGaussianParams, Proposal, SwitchingLgssmFromModel, SwitchingLgssmParams } from './infer/smc/ssm';
export type { RejuvenationOptions } from './infer/smc/index';
export type { ResampleScheme } from './infer/smc/resample';
export type { CheckResult, SizeInfo, SymbolInfo } from './check/symbols';
export type { ElemType } from './check/types';
export type { Program } from './ast/nodes';
export type { Constraint, Transform } from './distributions/types';
export type { ComponentInfo, DataNode, Factor, FactorKind, IRConstraint, IRDim, IRDist, IRExpr, LatentNode, LetNode, ParamNode, Plate, SizeNode, StructureInfo } from './ir/types';
export type { ParamInfo } from './model/bind';
export type { PotentialFunction, PotentialOptions } from './model/bound-model';
export type { Runtime } from './model/evaluate';
export type { SimulateOptions, SimulatedDraw } from './model/simulate';
export type { Severity } from './diagnostics/diagnostic';
export type { Source, Span } from './diagnostics/span';
export type { Rng } from './tensor/random';
export type { UseBackendOptions } from './tensor/backend';
