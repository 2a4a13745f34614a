/**
 * The built-in functions and operators: the single source of their names, arity and
 * typing rules. The tensor implementations use exactly these names and semantics, and
 * the language reference is generated from the `signature` and `doc` of each row.
 *
 * Conventions: shapes broadcast numpy-style, aligned from the right; an int argument
 * is accepted wherever a real one is (promotion); bool values come only from
 * comparisons and are never numbers.
 */
import type { Dim, Ty } from './types';
import type { CheckCodeId } from './codes';
import { broadcastShapes, describeTy, joinNumeric, rankWord, sameDim, scalar } from './shapes';
import { dimsClash, dimToString } from './types';

/** Why a call does not type: the rule broken, a message, and the argument at fault. */
export interface FnProblem {
  problem: CheckCodeId;
  message: string;
  /** Index of the argument the caret should point at; the whole call when absent. */
  arg?: number;
  help?: string;
}

export type FunctionCategory = 'elementwise' | 'binary' | 'reduction' | 'vector' | 'matrix' | 'constructor';

/** One built-in function. */
export interface FunctionDef {
  name: string;
  /** How it is called, for the reference: `pow(x, y)`, `rep(x, d1, ..., dk)`. */
  signature: string;
  /** One line for the language reference. */
  doc: string;
  category: FunctionCategory;
  minArgs: number;
  /** `Infinity` for variadic functions. */
  maxArgs: number;
  /**
   * Returns the result type given the argument types (all known), or the problem.
   * `argDims[i]` is argument i read as a dim (a literal, a size or data name, else `any`),
   * for constructors whose result shape is given by their arguments.
   */
  result(args: Ty[], argDims: Dim[]): Ty | FnProblem;
}

/** Returns true when `x` is a problem rather than a type. */
export function isProblem(x: Ty | FnProblem): x is FnProblem {
  return (x as FnProblem).problem !== undefined;
}

const problem = (p: CheckCodeId, message: string, arg?: number, help?: string): FnProblem => ({ problem: p, message, arg, help });

/** Returns a problem for the first bool argument, if any (bools are not numbers). */
function firstBool(name: string, args: Ty[]): FnProblem | undefined {
  const i = args.findIndex((a) => a.elem === 'bool');
  if (i < 0) return undefined;
  return problem('BoolArithmetic', `'${name}' needs a number, got ${describeTy(args[i])}`, i,
    'a bool comes from a comparison; use c ? 1 : 0 to turn it into a number');
}

/** Returns a problem when argument `i` has fewer than `rank` axes. */
function needRank(name: string, args: Ty[], i: number, rank: number, what: string): FnProblem | undefined {
  if (args[i].shape.length >= rank) return undefined;
  return problem('RankMismatch', `'${name}' needs ${what}, got ${describeTy(args[i])}`, i);
}

/** Returns the broadcast of argument shapes, or a shape-mismatch problem naming `op`. */
function broadcastArgs(op: string, args: Ty[], infix: boolean): Dim[] | FnProblem {
  let shape: Dim[] = [];
  for (let i = 0; i < args.length; i++) {
    const b = broadcastShapes(shape, args[i].shape);
    if ('clash' in b) {
      const a = args[i - 1] ?? args[0];
      const pair = infix ? `${describeTy(a)} ${op} ${describeTy(args[i])}` : `'${op}' of ${describeTy(a)} and ${describeTy(args[i])}`;
      return problem('ShapeMismatch', `shape mismatch: ${pair} (${dimToString(b.clash.left)} vs ${dimToString(b.clash.right)})`, i,
        'shapes broadcast from the right: each pair of sizes must be equal or 1');
    }
    shape = b.shape;
  }
  return shape;
}

/** Returns a problem when argument `i` is not an int scalar (a dim). */
function intScalar(name: string, args: Ty[], i: number): FnProblem | undefined {
  const a = args[i];
  if (a.shape.length > 0) return problem('ScalarRequired', `dims of '${name}' must be int scalars, got ${describeTy(a)}`, i);
  if (a.elem !== 'int') return problem('IntRequired', `dims of '${name}' must be int, got ${a.elem}`, i);
  return undefined;
}

function elementwise(name: string, doc: string): FunctionDef {
  return {
    name, doc, signature: `${name}(x)`, category: 'elementwise', minArgs: 1, maxArgs: 1,
    result: (args) => firstBool(name, args) ?? { elem: 'real', shape: args[0].shape },
  };
}

function binary(name: string, doc: string, keepInt: boolean): FunctionDef {
  return {
    name, doc, signature: `${name}(x, y)`, category: 'binary', minArgs: 2, maxArgs: 2,
    result: (args) => {
      const bad = firstBool(name, args);
      if (bad) return bad;
      const shape = broadcastArgs(name, args, false);
      if (!Array.isArray(shape)) return shape;
      return { elem: keepInt ? joinNumeric(args[0].elem, args[1].elem) : 'real', shape };
    },
  };
}

function reduction(name: string, doc: string, keepInt: boolean): FunctionDef {
  return {
    name, doc, signature: `${name}(x)`, category: 'reduction', minArgs: 1, maxArgs: 1,
    result: (args) => firstBool(name, args) ?? scalar(keepInt && args[0].elem === 'int' ? 'int' : 'real'),
  };
}

function lastAxis(name: string, doc: string, keepInt: boolean): FunctionDef {
  return {
    name, doc, signature: `${name}(v)`, category: 'vector', minArgs: 1, maxArgs: 1,
    result: (args) => firstBool(name, args) ?? needRank(name, args, 0, 1, 'a vector (it acts on the last axis)')
      ?? { elem: keepInt && args[0].elem === 'int' ? 'int' : 'real', shape: args[0].shape },
  };
}

/** Returns `shape` without its last `k` axes. */
const lead = (shape: Dim[], k: number): Dim[] => shape.slice(0, Math.max(0, shape.length - k));
const at = (shape: Dim[], fromEnd: number): Dim => shape[shape.length - fromEnd];

/** Returns the broadcast of two leading (batch) shapes, or a problem. */
function batch(name: string, args: Ty[], a: Dim[], b: Dim[]): Dim[] | FnProblem {
  const r = broadcastShapes(a, b);
  if ('clash' in r) {
    return problem('ShapeMismatch', `shape mismatch in the leading axes of '${name}': ${describeTy(args[0])} and ${describeTy(args[1])} (${dimToString(r.clash.left)} vs ${dimToString(r.clash.right)})`);
  }
  return r.shape;
}

/** Returns a problem when two dims that must be equal are constants that differ. */
function agree(name: string, args: Ty[], x: Dim, y: Dim, what: string, arg: number): FnProblem | undefined {
  if (!dimsClash(x, y)) return undefined;
  return problem('ShapeMismatch', `${what} of '${name}' differ: ${describeTy(args[0])} and ${describeTy(args[1])} (${dimToString(x)} vs ${dimToString(y)})`, arg);
}

const ELEMENTWISE: [string, string][] = [
  ['exp', 'e^x, elementwise.'],
  ['log', 'Natural logarithm, elementwise.'],
  ['log1p', 'log(1 + x), accurate for small x.'],
  ['expm1', 'e^x - 1, accurate for small x.'],
  ['sqrt', 'Square root, elementwise.'],
  ['square', 'x^2, elementwise.'],
  ['abs', 'Absolute value, elementwise.'],
  ['inv_logit', 'Logistic sigmoid 1 / (1 + e^-x).'],
  ['logit', 'log(x / (1 - x)), the inverse of inv_logit.'],
  ['log_inv_logit', 'log(inv_logit(x)), computed stably.'],
  ['log1m_inv_logit', 'log(1 - inv_logit(x)), computed stably.'],
  ['softplus', 'log(1 + e^x), computed stably.'],
  ['lgamma', 'Log of the gamma function.'],
  ['digamma', 'Derivative of lgamma.'],
  ['sin', 'Sine, elementwise.'],
  ['cos', 'Cosine, elementwise.'],
  ['tanh', 'Hyperbolic tangent, elementwise.'],
];

const TABLE: FunctionDef[] = [
  ...ELEMENTWISE.map(([n, d]) => elementwise(n, d)),
  binary('pow', 'x^y, elementwise with broadcasting (same as x ^ y).', false),
  binary('min', 'Elementwise minimum with broadcasting; int when both are int.', true),
  binary('max', 'Elementwise maximum with broadcasting; int when both are int.', true),
  binary('log_add_exp', 'log(e^x + e^y), elementwise with broadcasting, computed stably.', false),
  reduction('sum', 'Sum of all elements (a scalar); int for int input.', true),
  reduction('mean', 'Mean of all elements (a scalar).', false),
  reduction('sd', 'Sample standard deviation of all elements (divisor n - 1).', false),
  reduction('variance', 'Sample variance of all elements (divisor n - 1).', false),
  reduction('log_sum_exp', 'log(sum(exp(x))) over all elements, computed stably.', false),
  reduction('prod', 'Product of all elements (a scalar); int for int input.', true),
  lastAxis('softmax', 'exp(v) / sum(exp(v)) along the last axis.', false),
  lastAxis('log_softmax', 'v - log_sum_exp(v) along the last axis.', false),
  lastAxis('cumsum', 'Cumulative sum along the last axis; int for int input.', true),
  {
    name: 'dot', signature: 'dot(a, b)', category: 'vector', minArgs: 2, maxArgs: 2,
    doc: 'Sum of a * b along the last axis; leading axes broadcast.',
    result: (args) => {
      const bad = firstBool('dot', args) ?? needRank('dot', args, 0, 1, 'a vector') ?? needRank('dot', args, 1, 1, 'a vector');
      if (bad) return bad;
      const [a, b] = args;
      const clash = agree('dot', args, at(a.shape, 1), at(b.shape, 1), 'lengths', 1);
      if (clash) return clash;
      const shape = batch('dot', args, lead(a.shape, 1), lead(b.shape, 1));
      return Array.isArray(shape) ? { elem: joinNumeric(a.elem, b.elem), shape } : shape;
    },
  },
  {
    name: 'transpose', signature: 'transpose(m)', category: 'matrix', minArgs: 1, maxArgs: 1,
    doc: 'Swaps the last two axes.',
    result: (args) => firstBool('transpose', args) ?? needRank('transpose', args, 0, 2, 'a matrix')
      ?? { elem: args[0].elem, shape: [...lead(args[0].shape, 2), at(args[0].shape, 1), at(args[0].shape, 2)] },
  },
  {
    name: 'diag_matrix', signature: 'diag_matrix(v)', category: 'matrix', minArgs: 1, maxArgs: 1,
    doc: 'The square matrix with v on its diagonal (along the last axis).',
    result: (args) => firstBool('diag_matrix', args) ?? needRank('diag_matrix', args, 0, 1, 'a vector')
      ?? { elem: args[0].elem, shape: [...args[0].shape, at(args[0].shape, 1)] },
  },
  {
    name: 'diagonal', signature: 'diagonal(m)', category: 'matrix', minArgs: 1, maxArgs: 1,
    doc: 'The diagonal of a square matrix (over the last two axes) as a vector.',
    result: (args) => {
      const bad = firstBool('diagonal', args) ?? needRank('diagonal', args, 0, 2, 'a matrix');
      if (bad) return bad;
      const s = args[0].shape;
      if (dimsClash(at(s, 1), at(s, 2))) return problem('ShapeMismatch', `'diagonal' needs a square matrix, got ${describeTy(args[0])}`, 0);
      return { elem: args[0].elem, shape: lead(s, 1) };
    },
  },
  {
    name: 'diag_pre_multiply', signature: 'diag_pre_multiply(v, m)', category: 'matrix', minArgs: 2, maxArgs: 2,
    doc: 'diag_matrix(v) @ m: scales row i of m by v[i].',
    result: (args) => {
      const bad = firstBool('diag_pre_multiply', args) ?? needRank('diag_pre_multiply', args, 0, 1, 'a vector first')
        ?? needRank('diag_pre_multiply', args, 1, 2, 'a matrix second');
      if (bad) return bad;
      const [v, m] = args;
      const clash = agree('diag_pre_multiply', args, at(v.shape, 1), at(m.shape, 2), 'the vector length and the matrix rows', 0);
      if (clash) return clash;
      const shape = batch('diag_pre_multiply', args, lead(v.shape, 1), lead(m.shape, 2));
      return Array.isArray(shape) ? { elem: joinNumeric(v.elem, m.elem), shape: [...shape, at(m.shape, 2), at(m.shape, 1)] } : shape;
    },
  },
  {
    name: 'diag_post_multiply', signature: 'diag_post_multiply(m, v)', category: 'matrix', minArgs: 2, maxArgs: 2,
    doc: 'm @ diag_matrix(v): scales column j of m by v[j].',
    result: (args) => {
      const bad = firstBool('diag_post_multiply', args) ?? needRank('diag_post_multiply', args, 0, 2, 'a matrix first')
        ?? needRank('diag_post_multiply', args, 1, 1, 'a vector second');
      if (bad) return bad;
      const [m, v] = args;
      const clash = agree('diag_post_multiply', args, at(m.shape, 1), at(v.shape, 1), 'the matrix columns and the vector length', 1);
      if (clash) return clash;
      const shape = batch('diag_post_multiply', args, lead(m.shape, 2), lead(v.shape, 1));
      return Array.isArray(shape) ? { elem: joinNumeric(v.elem, m.elem), shape: [...shape, at(m.shape, 2), at(m.shape, 1)] } : shape;
    },
  },
  {
    name: 'tcrossprod', signature: 'tcrossprod(m)', category: 'matrix', minArgs: 1, maxArgs: 1,
    doc: 'm @ transpose(m): [.., a, b] -> [.., a, a].',
    result: (args) => firstBool('tcrossprod', args) ?? needRank('tcrossprod', args, 0, 2, 'a matrix')
      ?? { elem: args[0].elem, shape: [...lead(args[0].shape, 1), at(args[0].shape, 2)] },
  },
  {
    name: 'crossprod', signature: 'crossprod(m)', category: 'matrix', minArgs: 1, maxArgs: 1,
    doc: 'transpose(m) @ m: [.., a, b] -> [.., b, b].',
    result: (args) => firstBool('crossprod', args) ?? needRank('crossprod', args, 0, 2, 'a matrix')
      ?? { elem: args[0].elem, shape: [...lead(args[0].shape, 2), at(args[0].shape, 1), at(args[0].shape, 1)] },
  },
  {
    name: 'rep', signature: 'rep(x, d1, ..., dk)', category: 'constructor', minArgs: 2, maxArgs: Infinity,
    doc: 'An array of shape [d1, ..., dk] with every element x (a scalar); the dims are ints.',
    result: (args, dims) => {
      if (args[0].shape.length > 0) {
        return problem('RankMismatch', `'rep' fills an array with a scalar, got ${describeTy(args[0])}`, 0);
      }
      for (let i = 1; i < args.length; i++) {
        const bad = intScalar('rep', args, i);
        if (bad) return bad;
      }
      return { elem: args[0].elem, shape: dims.slice(1) };
    },
  },
  filled('ones', 'A real array of shape [d1, ..., dk] filled with 1.'),
  filled('zeros', 'A real array of shape [d1, ..., dk] filled with 0.'),
];

function filled(name: string, doc: string): FunctionDef {
  return {
    name, doc, signature: `${name}(d1, ..., dk)`, category: 'constructor', minArgs: 1, maxArgs: Infinity,
    result: (args, dims) => {
      for (let i = 0; i < args.length; i++) {
        const bad = intScalar(name, args, i);
        if (bad) return bad;
      }
      return { elem: 'real', shape: dims };
    },
  };
}

/** Built-in functions by name. */
export const FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(TABLE.map((f) => [f.name, f]));

/** Returns the built-in function called `name`, if there is one. */
export function getFunction(name: string): FunctionDef | undefined {
  return FUNCTIONS.get(name);
}

/** Returns the names of all built-in functions, in table order. */
export function functionNames(): string[] {
  return TABLE.map((f) => f.name);
}

// ---------------------------------------------------------------------------
// Operators

/** One operator: how it is written, what it does, and its typing rule (operands left to right). */
export interface OperatorDef {
  /** `+`, `@`, `?:`, unary `-` is `neg`, `!` is `!`. */
  op: string;
  signature: string;
  doc: string;
  result(args: Ty[]): Ty | FnProblem;
}

function arithmetic(op: string, doc: string, intResult: boolean): OperatorDef {
  return {
    op, doc, signature: `a ${op} b`,
    result: (args) => {
      const i = args.findIndex((a) => a.elem === 'bool');
      if (i >= 0) {
        return problem('BoolArithmetic', `arithmetic on a bool: '${op}' needs numbers, got ${describeTy(args[i])}`, i,
          'a bool comes from a comparison; use c ? 1 : 0 to turn it into a number');
      }
      const shape = broadcastArgs(op, args, true);
      if (!Array.isArray(shape)) return shape;
      return { elem: intResult ? joinNumeric(args[0].elem, args[1].elem) : 'real', shape };
    },
  };
}

function comparison(op: string, doc: string): OperatorDef {
  return {
    op, doc, signature: `a ${op} b`,
    result: (args) => {
      const eqOnBools = (op === '==' || op === '!=') && args[0].elem === 'bool' && args[1].elem === 'bool';
      if (!eqOnBools) {
        const i = args.findIndex((a) => a.elem === 'bool');
        if (i >= 0) return problem('BoolArithmetic', `'${op}' compares numbers, got ${describeTy(args[i])}`, i);
      }
      const shape = broadcastArgs(op, args, true);
      return Array.isArray(shape) ? { elem: 'bool', shape } : shape;
    },
  };
}

function logical(op: string, doc: string): OperatorDef {
  return {
    op, doc, signature: op === '!' ? '!a' : `a ${op} b`,
    result: (args) => {
      const i = args.findIndex((a) => a.elem !== 'bool');
      if (i >= 0) {
        return problem('BoolRequired', `'${op}' needs bools, got ${describeTy(args[i])}`, i,
          'bools come from comparisons such as x > 0');
      }
      const shape = broadcastArgs(op, args, true);
      return Array.isArray(shape) ? { elem: 'bool', shape } : shape;
    },
  };
}

const OPERATOR_TABLE: OperatorDef[] = [
  arithmetic('+', 'Elementwise sum, broadcasting from the right; int when both are int.', true),
  arithmetic('-', 'Elementwise difference, broadcasting from the right; int when both are int.', true),
  arithmetic('*', 'Elementwise product (not the matrix product: see @); int when both are int.', true),
  arithmetic('/', 'Elementwise real division (int / int is real).', false),
  arithmetic('^', 'Elementwise power, right-associative; binds tighter than unary minus.', false),
  {
    op: '%', signature: 'a % b', doc: 'Remainder of int division, elementwise; both sides int.',
    result: (args) => {
      const i = args.findIndex((a) => a.elem !== 'int');
      if (i >= 0) {
        return args[i].elem === 'bool'
          ? problem('BoolArithmetic', `arithmetic on a bool: '%' needs ints, got ${describeTy(args[i])}`, i)
          : problem('IntRequired', `'%' needs int operands, got ${describeTy(args[i])}`, i);
      }
      const shape = broadcastArgs('%', args, true);
      return Array.isArray(shape) ? { elem: 'int', shape } : shape;
    },
  },
  {
    op: '@', signature: 'm @ x', doc: 'Matrix product: [.., m, k] @ [.., k, n] -> [.., m, n], or matrix @ vector [.., m, k] @ [k] -> [.., m].',
    result: (args) => {
      const bad = args.findIndex((a) => a.elem === 'bool');
      if (bad >= 0) return problem('BoolArithmetic', `arithmetic on a bool: '@' needs numbers, got ${describeTy(args[bad])}`, bad);
      const [a, b] = args;
      if (a.shape.length < 2) {
        return problem('RankMismatch', `left side of '@' must be a matrix, got ${rankWord(a.shape.length)} (${describeTy(a)})`, 0,
          a.shape.length === 1 ? 'for the dot product of two vectors use dot(a, b)' : 'to scale by a scalar use *');
      }
      if (b.shape.length < 1) {
        return problem('RankMismatch', `right side of '@' must be a matrix or a vector, got ${describeTy(b)}`, 1, 'to scale by a scalar use *');
      }
      const inner = b.shape.length === 1 ? b.shape[0] : at(b.shape, 2);
      if (dimsClash(at(a.shape, 1), inner)) {
        return problem('ShapeMismatch', `inner dims of '@' differ: ${describeTy(a)} @ ${describeTy(b)} (${dimToString(at(a.shape, 1))} vs ${dimToString(inner)})`, 1);
      }
      const elem = joinNumeric(a.elem, b.elem);
      if (b.shape.length === 1) return { elem, shape: lead(a.shape, 1) };
      const shape = batch('@', args, lead(a.shape, 2), lead(b.shape, 2));
      return Array.isArray(shape) ? { elem, shape: [...shape, at(a.shape, 2), at(b.shape, 1)] } : shape;
    },
  },
  comparison('==', 'Elementwise equality: a bool.'),
  comparison('!=', 'Elementwise inequality: a bool.'),
  comparison('<', 'Elementwise less-than: a bool.'),
  comparison('<=', 'Elementwise less-or-equal: a bool.'),
  comparison('>', 'Elementwise greater-than: a bool.'),
  comparison('>=', 'Elementwise greater-or-equal: a bool.'),
  logical('&&', 'Elementwise logical and of bools.'),
  logical('||', 'Elementwise logical or of bools.'),
  logical('!', 'Logical not of a bool.'),
  {
    op: 'neg', signature: '-a', doc: 'Negation, elementwise.',
    result: (args) => args[0].elem === 'bool'
      ? problem('BoolArithmetic', `arithmetic on a bool: unary '-' needs a number, got ${describeTy(args[0])}`, 0, "for logical not use '!'")
      : { elem: args[0].elem, shape: args[0].shape },
  },
  {
    op: '?:', signature: 'c ? a : b', doc: 'Elementwise choice (where): a where c is true, else b; all three broadcast.',
    result: (args) => {
      const [c, a, b] = args;
      if (c.elem !== 'bool') return problem('BoolRequired', `the condition of '?:' must be a bool, got ${describeTy(c)}`, 0, 'write a comparison such as x > 0');
      if ((a.elem === 'bool') !== (b.elem === 'bool')) {
        return problem('BoolArithmetic', `the branches of '?:' must both be numbers or both bools, got ${describeTy(a)} and ${describeTy(b)}`, 2);
      }
      const shape = broadcastArgs('?:', args, false);
      if (!Array.isArray(shape)) return shape;
      return { elem: a.elem === 'bool' ? 'bool' : joinNumeric(a.elem, b.elem), shape };
    },
  },
];

/** Operators by symbol (unary minus is `neg`, the ternary is `?:`). */
export const OPERATORS: ReadonlyMap<string, OperatorDef> = new Map(OPERATOR_TABLE.map((o) => [o.op, o]));

/** Returns true when two types are equal (same element type, dims known equal). */
export function sameTy(a: Ty, b: Ty): boolean {
  return a.elem === b.elem && a.shape.length === b.shape.length && a.shape.every((d, i) => sameDim(d, b.shape[i]));
}
