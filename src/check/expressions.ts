/**
 * Expression typing: fills `ty` on every expression node it can type and reports what
 * is wrong. Returns `undefined` for an expression whose type is unknown because of an
 * error already reported, so one mistake does not cascade into many.
 */
import type { ArrayExpr, BinaryExpr, CallExpr, Expr, IndexExpr, NameExpr, TernaryExpr, UnaryExpr } from '../ast/nodes';
import type { Dim, Ty } from './types';
import type { CheckContext, Scope } from './context';
import { joinSpans } from '../diagnostics/span';
import { FUNCTIONS, OPERATORS, getFunction, isProblem } from './functions';
import type { FnProblem, OperatorDef } from './functions';
import { ANY_DIM, describeTy, sameDim, scalar } from './shapes';
import { dimsClash } from './types';
import { isCombinator, isDistribution } from './distributions';
import { exprText } from './text';
import { realOnlyHelp, nearName } from './hints';
import { items, spanOf } from './context';

/** Returns the type of `e` in `scope` (and stores it in `e.ty`), or undefined after an error. */
export function typeExpr(cx: CheckContext, e: Expr | undefined, scope: Scope): Ty | undefined {
  if (!e || typeof e !== 'object') return undefined;
  let t: Ty | undefined;
  switch (e.kind) {
    case 'Num': t = scalar(e.isInt ? 'int' : 'real'); break;
    case 'Name': t = typeName(cx, e, scope); break;
    case 'Index': t = typeIndex(cx, e, scope); break;
    case 'Call': t = typeCall(cx, e, scope); break;
    case 'Binary': t = typeBinary(cx, e, scope); break;
    case 'Unary': t = typeUnary(cx, e, scope); break;
    case 'Ternary': t = typeTernary(cx, e, scope); break;
    case 'Array': t = typeArray(cx, e, scope); break;
    case 'Lambda':
      cx.error('MisplacedLambda', 'a lambda is only allowed as the component of a mixture', {
        node: e, help: 'write mixture(w, k -> normal(mu[k], sigma[k])) on the right of ~',
      });
      break;
    default: break;
  }
  if (t) e.ty = t;
  return t;
}

/** Returns every name a suggestion may come from at this place. */
export function visibleNames(cx: CheckContext, scope: Scope): string[] {
  return [...scope.visible(), ...cx.symbols.keys()];
}

function typeName(cx: CheckContext, e: NameExpr, scope: Scope): Ty | undefined {
  if (typeof e.name !== 'string') return undefined;
  const r = cx.resolve(e.name, scope);
  if (!r) {
    reportUnknownName(cx, e.name, e, scope);
    return undefined;
  }
  switch (r.kind) {
    case 'local':
      return r.info.kind === 'let' ? r.info.ty : scalar('int');
    case 'pending':
      cx.error('UseBeforeLet', `'${e.name}' is used before its let`, {
        node: e, notes: [{ message: `'${e.name}' is declared here`, span: r.span }],
        help: `move the use below 'let ${e.name} = ...'`,
      });
      return undefined;
    case 'symbol': {
      const sym = r.sym;
      if (sym.role === 'let' && !cx.definedLets.has(sym.name)) {
        cx.error('UseBeforeLet', `'${e.name}' is used before its let`, {
          node: e, notes: [{ message: `'${e.name}' is declared here`, span: sym.span }],
          help: `move the use below 'let ${e.name} = ...'`,
        });
        return undefined;
      }
      return cx.symbolTy(sym);
    }
  }
}

/** Reports an unknown variable, with the nearest visible name as a suggestion. */
export function reportUnknownName(cx: CheckContext, name: string, node: { span?: Expr['span'] }, scope: Scope): void {
  const near = nearName(name, visibleNames(cx, scope));
  let help = near ? `did you mean '${near}'?` : undefined;
  if (!help && (isDistribution(name) || getFunction(name))) {
    help = `'${name}' is a ${getFunction(name) ? 'function' : 'distribution'}; call it with arguments`;
  }
  cx.error('UnknownVariable', `unknown variable '${name}'`, { node, help });
}

/** Returns `e` as a dim: a literal, a size or int data name, or `any`. */
export function exprAsDim(cx: CheckContext, e: Expr | undefined, scope?: Scope): Dim {
  if (!e) return ANY_DIM;
  if (e.kind === 'Name' && !(scope && scope.find(e.name))) {
    const sym = cx.symbols.get(e.name);
    if (sym && (sym.role === 'size' || sym.role === 'data')) return { kind: 'size', name: e.name };
    return ANY_DIM;
  }
  const c = constValue(e);
  return c !== undefined && Number.isInteger(c) ? { kind: 'const', n: c } : ANY_DIM;
}

/** Returns the value of a constant expression (literals and + - * / of them), if it is one. */
export function constValue(e: Expr | undefined): number | undefined {
  if (!e) return undefined;
  switch (e.kind) {
    case 'Num': return Number.isFinite(e.value) ? e.value : undefined;
    case 'Unary': {
      const v = e.op === '-' ? constValue(e.operand) : undefined;
      return v === undefined ? undefined : -v;
    }
    case 'Binary': {
      const a = constValue(e.left);
      const b = constValue(e.right);
      if (a === undefined || b === undefined) return undefined;
      switch (e.op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return b === 0 ? undefined : a / b;
        default: return undefined;
      }
    }
    default: return undefined;
  }
}

function typeIndex(cx: CheckContext, e: IndexExpr, scope: Scope): Ty | undefined {
  const target = typeExpr(cx, e.target, scope);
  const indices = items(e.indices);
  const ixTys = indices.map((ix) => typeExpr(cx, ix, scope));
  const what = e.target?.kind === 'Name' ? `'${e.target.name}'` : `'${exprText(e.target)}'`;
  let ok = true;
  indices.forEach((ix, i) => {
    const t = ixTys[i];
    if (!t) { ok = false; return; }
    if (t.elem !== 'int') {
      ok = false;
      cx.error('IntRequired', `index must be an int, got ${describeTy(t)}`, {
        node: ix, help: t.elem === 'real' ? realOnlyHelp(cx, ix) ?? 'indices are 1-based ints; a real cannot index' : 'a bool cannot index; use c ? i : j to pick an index',
      });
    }
  });
  if (!target) return undefined;
  const rank = target.shape.length;
  if (indices.length > rank) {
    const extra = indices.slice(rank).map(spanOf).filter((s) => s !== undefined);
    const span = extra.length ? joinSpans(extra[0], extra[extra.length - 1]) : spanOf(e);
    cx.error('TooManyIndices', `too many indices for ${what}: it has ${rank} ${rank === 1 ? 'axis' : 'axes'} (${describeTy(target)}), got ${indices.length} indices`, {
      span, help: rank === 0 ? `${what} is a scalar and cannot be indexed` : undefined,
    });
    return undefined;
  }
  // Constant indices against constant dims: 1-based, so 0 is never valid.
  indices.forEach((ix, i) => {
    const c = constValue(ix);
    if (c === undefined || !Number.isInteger(c)) return;
    const dim = target.shape[i];
    if (c < 1) {
      cx.error('IndexOutOfRange', `index ${c} is out of range for ${what}: indices start at 1`, { node: ix, help: `the first element is ${exprText(e.target)}[1]` });
    } else if (dim.kind === 'const' && c > dim.n) {
      cx.error('IndexOutOfRange', `index ${c} is out of range for ${what}: axis ${i + 1} has length ${dim.n}`, { node: ix, help: `valid indices are 1..${dim.n}` });
    }
  });
  if (!ok) return undefined;
  // A scalar index drops its axis; an int array index (multi-indexing) replaces it by its own shape.
  const shape: Dim[] = [];
  ixTys.forEach((t) => { if (t) shape.push(...t.shape); });
  shape.push(...target.shape.slice(indices.length));
  return { elem: target.elem, shape };
}

function typeCall(cx: CheckContext, e: CallExpr, scope: Scope): Ty | undefined {
  const name = e.callee?.name ?? '';
  const args = items(e.args);
  const fn = getFunction(name);
  if (!fn) {
    args.forEach((a) => typeExpr(cx, a, scope));
    if (isDistribution(name) || isCombinator(name)) {
      cx.error('DistributionAsFunction', `'${name}' is a distribution; use it on the right of ~`, {
        node: e.callee, help: `give a variable this distribution with ~, e.g. y ~ ${name}(...)`,
      });
    } else if (cx.resolve(name, scope)) {
      cx.error('VariableAsFunction', `'${name}' is a variable, not a function`, { node: e.callee, help: `index it with ${name}[...]` });
    } else {
      const near = nearName(name, FUNCTIONS.keys());
      cx.error('UnknownFunction', `unknown function '${name}'`, { node: e.callee, help: near ? `did you mean '${near}'?` : undefined });
    }
    return undefined;
  }
  const tys = args.map((a) => typeExpr(cx, a, scope));
  if (args.length < fn.minArgs || args.length > fn.maxArgs) {
    const n = fn.minArgs === fn.maxArgs ? `${fn.minArgs}` : fn.maxArgs === Infinity ? `at least ${fn.minArgs}` : `${fn.minArgs} to ${fn.maxArgs}`;
    cx.error('FunctionArity', `'${name}' takes ${n} argument${n === '1' ? '' : 's'}, got ${args.length}`, { node: e, help: `usage: ${fn.signature}` });
    return undefined;
  }
  if (tys.some((t) => !t)) return undefined;
  const r = fn.result(tys as Ty[], args.map((a) => exprAsDim(cx, a, scope)));
  if (isProblem(r)) {
    report(cx, r, e, args);
    return undefined;
  }
  return r;
}

/** Reports a typing-rule problem at the argument it names, or at the whole node. */
function report(cx: CheckContext, p: FnProblem, whole: Expr, operands: (Expr | undefined)[]): void {
  const at = p.arg !== undefined ? operands[p.arg] ?? whole : whole;
  cx.error(p.problem, p.message, { node: at, help: p.help });
}

function applyOperator(cx: CheckContext, op: OperatorDef | undefined, e: Expr, operands: (Expr | undefined)[], tys: (Ty | undefined)[]): Ty | undefined {
  if (!op || tys.some((t) => !t)) return undefined;
  const r = op.result(tys as Ty[]);
  if (isProblem(r)) {
    report(cx, r, e, operands);
    return undefined;
  }
  return r;
}

function typeBinary(cx: CheckContext, e: BinaryExpr, scope: Scope): Ty | undefined {
  const l = typeExpr(cx, e.left, scope);
  const r = typeExpr(cx, e.right, scope);
  return applyOperator(cx, OPERATORS.get(e.op), e, [e.left, e.right], [l, r]);
}

function typeUnary(cx: CheckContext, e: UnaryExpr, scope: Scope): Ty | undefined {
  const t = typeExpr(cx, e.operand, scope);
  return applyOperator(cx, OPERATORS.get(e.op === '-' ? 'neg' : '!'), e, [e.operand], [t]);
}

function typeTernary(cx: CheckContext, e: TernaryExpr, scope: Scope): Ty | undefined {
  const tys = [typeExpr(cx, e.cond, scope), typeExpr(cx, e.then, scope), typeExpr(cx, e.else, scope)];
  return applyOperator(cx, OPERATORS.get('?:'), e, [e.cond, e.then, e.else], tys);
}

function typeArray(cx: CheckContext, e: ArrayExpr, scope: Scope): Ty | undefined {
  const elements = items(e.elements);
  const tys = elements.map((x) => typeExpr(cx, x, scope));
  if (tys.some((t) => !t)) return undefined;
  const known = tys as Ty[];
  if (known.length === 0) return { elem: 'real', shape: [{ kind: 'const', n: 0 }] };
  const first = known[0];
  const isBool = first.elem === 'bool';
  let elem = first.elem;
  let inner = first.shape;
  for (let i = 1; i < known.length; i++) {
    const t = known[i];
    if ((t.elem === 'bool') !== isBool) {
      cx.error('ArrayElements', `vector elements must all be numbers or all bools, got ${describeTy(first)} and ${describeTy(t)}`, { node: elements[i] });
      return undefined;
    }
    const clash = t.shape.length !== inner.length || t.shape.some((d, j) => dimsClash(d, inner[j]));
    if (clash) {
      cx.error('ArrayElements', `vector elements must all have the same shape, got ${describeTy(first)} and ${describeTy(t)}`, { node: elements[i] });
      return undefined;
    }
    inner = inner.map((d, j) => (sameDim(d, t.shape[j]) ? d : d.kind === 'any' ? t.shape[j] : d));
    if (!isBool && t.elem === 'real') elem = 'real';
  }
  return { elem, shape: [{ kind: 'const', n: known.length }, ...inner] };
}

