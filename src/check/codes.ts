/**
 * Stable diagnostic codes of the checker (E02xx names and scopes, E03xx types, shapes,
 * declarations and `~` statements). A code never changes meaning once released; new
 * rules get new codes. The titles feed the language reference's error index.
 */

/** Every checker code with a one-line title. */
export const CHECK_CODES = {
  // Names and scopes.
  UnknownDistribution: { code: 'E0201', title: 'unknown distribution' },
  UnknownVariable: { code: 'E0202', title: 'unknown variable' },
  UnknownFunction: { code: 'E0203', title: 'unknown function' },
  UnknownType: { code: 'E0204', title: 'unknown type' },
  Redeclared: { code: 'E0205', title: 'name declared twice' },
  UseBeforeLet: { code: 'E0206', title: 'let used before its declaration' },
  DistributionAsFunction: { code: 'E0208', title: 'distribution used as a function' },
  NotADistribution: { code: 'E0209', title: 'right of ~ is not a distribution' },
  VariableAsFunction: { code: 'E0210', title: 'variable called like a function' },
  MisplacedLambda: { code: 'E0211', title: 'lambda outside mixture' },
  LatentWithoutDistribution: { code: 'E0212', title: 'latent never given a distribution' },

  // Types and shapes of expressions.
  IntRequired: { code: 'E0301', title: 'real where an int is needed' },
  BoolArithmetic: { code: 'E0302', title: 'bool where a number is needed' },
  BoolRequired: { code: 'E0303', title: 'number where a bool is needed' },
  ShapeMismatch: { code: 'E0304', title: 'shapes cannot match' },
  TooManyIndices: { code: 'E0305', title: 'more indices than the variable has axes' },
  IndexOutOfRange: { code: 'E0306', title: 'constant index out of range' },
  RankMismatch: { code: 'E0307', title: 'argument of the wrong rank' },
  FunctionArity: { code: 'E0308', title: 'wrong number of arguments to a function' },
  ScalarRequired: { code: 'E0309', title: 'array where a scalar is needed' },
  ArrayElements: { code: 'E0310', title: 'vector literal elements of different shapes' },

  // Declarations and sizes.
  BoundsOnConstrained: { code: 'E0331', title: 'bounds on a type other than int or real' },
  EmptyBounds: { code: 'E0332', title: 'lower bound above upper bound' },
  MissingSize: { code: 'E0333', title: 'vector or matrix type without a size' },
  NotFromData: { code: 'E0334', title: 'size, bound or loop range not known from the data' },
  IntParam: { code: 'E0335', title: 'param declared int' },
  NonIntLatent: { code: 'E0336', title: 'latent declared with a non-int type' },

  // `~` statements, distributions, combinators and target.
  DistributionArity: { code: 'E0351', title: 'wrong number of arguments to a distribution' },
  DistributionArgument: { code: 'E0352', title: 'distribution argument of the wrong type' },
  ArgumentRank: { code: 'E0353', title: 'distribution argument has more axes than the value' },
  SupportMismatch: { code: 'E0354', title: "distribution's support does not fit the variable's type" },
  ContinuousLatent: { code: 'E0355', title: 'continuous latent' },
  DiscreteParam: { code: 'E0356', title: 'param with a discrete distribution' },
  TildeOnLocal: { code: 'E0357', title: '~ on a let or loop variable' },
  TildeLhs: { code: 'E0358', title: 'left of ~ is not a variable' },
  BadMixture: { code: 'E0359', title: 'malformed mixture' },
  BadCensoring: { code: 'E0360', title: 'censored or truncated on an unsupported distribution' },
  MixtureOnLatent: { code: 'E0361', title: 'mixture on a latent' },
  TargetType: { code: 'E0362', title: 'target += of a non-number' },
  LatentIndexing: { code: 'E0363', title: 'latent indexed inconsistently' },
  ValueRank: { code: 'E0364', title: 'value has fewer axes than the distribution needs' },

  /** A bug in the checker itself; never expected. */
  Internal: { code: 'E0399', title: 'internal checker error' },
} as const;

export type CheckCodeId = keyof typeof CHECK_CODES;

/** Returns the code string (`E0202`) of a checker rule. */
export function codeOf(id: CheckCodeId): string {
  return CHECK_CODES[id].code;
}
