/**
 * mixppl/testing: property-testing kit for inference on mixppl models.
 *
 * - `sbc` — simulation-based calibration of any posterior sampler, with `ecdfBandSvg` plots;
 * - `geweke` — Geweke's joint-distribution test of an MCMC transition kernel;
 * - conjugate posteriors (`normalKnownVariance`, `poissonGamma`, ...) and `checkMoments`;
 * - the statistics underneath (chi-square, KS, MMD, Holm, ESS/MCSE);
 * - `expect*` assertions with failure messages that name the parameter and the size of the error.
 *
 * @example
 * import { compile } from 'mixppl';
 * import { sbc, expectCalibrated } from 'mixppl/testing';
 * const model = compile('model m { data N: int  data y: real[N]  param mu: real  mu ~ normal(0, 1)  y ~ normal(mu, 1) }');
 * expectCalibrated(await sbc(model, myInfer, { data: { N: 5 }, replications: 200, L: 99 }));
 */
export {
  gammaP, gammaQ, chiSquarePValue, chiSquareTest, kolmogorovSurvival, kolmogorovPValue, ksTest, ksTest2,
  rankBins, rankUniformityTest, mmd2, mmdTest, holm, bonferroni, autocorrelation, effectiveSampleSize, mcseMean,
  normalTwoSidedPValue,
} from './stats';
export type { ChiSquareResult, KsResult, RankUniformityResult, Sample, MmdOptions, MmdResult, McseResult } from './stats';
export { sbc, sbcTests, rankOf, sbcRecord, sbcJson, holmAcross } from './sbc';
export type { SbcOptions, SbcResult, SbcRecord, SbcPValues } from './sbc';
export { ecdfBand, ecdfBandSvg, ecdfCheck, ecdfDifference } from './ecdf';
export type { EcdfBand, EcdfBandOptions, EcdfCheck, EcdfSvgOptions } from './ecdf';
export { geweke, gewekeCompare, defaultTestFunctions } from './geweke';
export type { GewekeOptions, GewekeResult, GewekeTest, TestFunction, FlatParams } from './geweke';
export { normalKnownVariance, poissonGamma, betaBinomial, dirichletCategorical, normalInverseGamma, checkMoments } from './exact';
export type { Moments, VectorMoments, NormalInverseGammaPosterior, MomentCheck, MomentJudgement } from './exact';
export { expectCalibrated, expectSameDistribution, expectPosteriorMoments, expectGewekePasses, describeRanks, PropertyTestError } from './vitest';
export { elementNames } from './model-types';
export type { SimulatingModel, GewekeModel, SimulatedDrawLike, SimulateOptionsLike, PosteriorDraws, PosteriorSampler, TransitionKernel } from './model-types';
export {
  mixtureSpec, mixtureModel, mixtureProblem, paramValues, simulatedData, specToSource, specToModel, normalizeSpec, describeSpec,
  specSizes, lengthName, placeholderData, maxCoordinates, COMPONENT_FAMILIES, COVARIANCES, COVARIANCE_FORMS, STRUCTURES, LATENT_FORMS,
} from './arbitraries';
export type {
  MixtureSpec, MixtureSpecOptions, MixtureModel, MixtureProblem, MixtureProblemOptions, ParamDraw, ParamValuesOptions,
  SimulatedData, SimulatedDataOptions, ComponentFamily, Covariance, CovarianceForm, Structure, LatentForm,
} from './arbitraries';
