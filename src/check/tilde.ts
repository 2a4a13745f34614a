/**
 * `~` statements: what may stand on the left (data, params, latents), what on the
 * right (a distribution call or a combinator), whether the distribution's support fits
 * the variable, and the arity, element types and ranks of the arguments.
 */
import type { CallExpr, Expr, LambdaExpr, TildeStmt } from '../ast/nodes';
import type { DistributionDef } from '../distributions/types';
import type { Ty } from './types';
import type { SymbolInfo } from './symbols';
import type { CheckContext } from './context';
import { Scope, items, spanOf } from './context';
import { typeExpr } from './expressions';
import { getFunction } from './functions';
import { isCombinator, isFiniteDiscrete, lookupDistribution, paramList, rhsNames } from './distributions';
import { declaredRange, reportRedeclared, typeBase } from './declarations';
import { lhsRoot } from './latents';
import { describeTy, rankWord } from './shapes';
import { dimsClash, dimToString } from './types';
import { exprText, typeExprText, typeText } from './text';
import { realOnlyHelp, nearName } from './hints';

/** The left side of a `~`: its type, its text, and the variable it belongs to. */
interface Value {
  ty?: Ty;
  text: string;
  node?: Expr;
  /** Absent when the left side is not a data, param or latent (already reported). */
  sym?: SymbolInfo;
}

/** How a family is applied: directly, as a mixture component, or under censoring/truncation. */
type Use = 'plain' | 'mixture' | 'censored';

/** Checks one `~` statement. */
export function checkTilde(cx: CheckContext, s: TildeStmt, scope: Scope): void {
  const ty = typeExpr(cx, s.lhs, scope);
  const value: Value = { ty, text: exprText(s.lhs), node: s.lhs, sym: lhsSymbol(cx, s, scope) };
  if (value.sym?.role === 'latent') {
    cx.distributed.add(value.sym.name);
    if (!value.sym.support && s.dist?.kind === 'Call') value.sym.support = { dist: s.dist.callee?.name ?? '' };
  }
  const rhs = s.dist;
  if (!rhs) return;
  if (rhs.kind !== 'Call') {
    typeExpr(cx, rhs, scope);
    cx.error('NotADistribution', `the right of ~ must be a distribution, got '${exprText(rhs)}'`, { node: rhs, help: 'write a distribution call such as normal(0, 1)' });
    return;
  }
  checkRhsCall(cx, rhs, value, scope, 'plain');
}

/** Returns the data, param or latent on the left of `~`, reporting any other left side. */
function lhsSymbol(cx: CheckContext, s: TildeStmt, scope: Scope): SymbolInfo | undefined {
  const root = lhsRoot(s.lhs);
  if (!root) {
    if (s.lhs) {
      cx.error('TildeLhs', `the left of ~ must be a variable, got '${exprText(s.lhs)}'`, {
        node: s.lhs, help: 'write a data, param or latent name, possibly indexed: y, y[n], x[n, d]',
      });
    }
    return undefined;
  }
  const r = cx.resolve(root.name, scope);
  if (!r || r.kind === 'pending') return undefined;
  if (r.kind === 'local') {
    const what = r.info.kind === 'loop' ? 'a loop variable' : r.info.kind === 'lambda' ? 'a mixture component index' : 'a let';
    cx.error('TildeOnLocal', `'${root.name}' is ${what}; it cannot have a distribution`, {
      node: root, help: r.info.kind === 'let' ? 'a let is computed from other values: to give it a prior declare it as a param, to observe it declare it as data' : undefined,
    });
    return undefined;
  }
  const sym = r.sym;
  if (sym.role === 'let') {
    cx.error('TildeOnLocal', `'${root.name}' is a let; it cannot have a distribution`, {
      node: root, notes: [{ message: `'${root.name}' is defined here`, span: sym.span }],
      help: 'a let is computed from other values: to give it a prior declare it as a param, to observe it declare it as data',
    });
    return undefined;
  }
  if (sym.role === 'size') {
    cx.error('TildeLhs', `'${root.name}' is a size read off the data; it cannot have a distribution`, { node: root });
    return undefined;
  }
  return sym;
}

/** Checks a distribution or combinator call on the right of `~` (or inside a combinator). */
function checkRhsCall(cx: CheckContext, call: CallExpr, value: Value, scope: Scope, use: Use): void {
  const name = call.callee?.name ?? '';
  if (name === 'mixture') {
    if (use !== 'plain') {
      call.args?.forEach((a) => a?.kind !== 'Lambda' && typeExpr(cx, a, scope));
      cx.error('BadMixture', `a mixture cannot be nested inside ${use === 'mixture' ? 'another mixture' : 'censored or truncated'}`, { node: call.callee });
      return;
    }
    checkMixture(cx, call, value, scope);
    return;
  }
  if (name === 'censored' || name === 'truncated') {
    if (use === 'censored') {
      cx.error('BadCensoring', `'${name}' cannot be nested inside censored or truncated`, { node: call.callee });
      return;
    }
    const def = checkCensored(cx, call, value, scope);
    if (def) checkSupportFits(cx, def, value, call, 'censored');
    return;
  }
  const def = familyOf(cx, call, scope, value);
  if (!def) return;
  if (checkFamilyCall(cx, call, def, value, scope)) checkSupportFits(cx, def, value, call, use);
}

/** Returns the registry row for a call that must name a family, reporting other names. */
function familyOf(cx: CheckContext, call: CallExpr, scope: Scope, value: Value): DistributionDef | undefined {
  const name = call.callee?.name ?? '';
  const def = lookupDistribution(name);
  if (def) return def;
  items(call.args).forEach((a) => a?.kind !== 'Lambda' && typeExpr(cx, a, scope));
  if (getFunction(name)) {
    cx.error('NotADistribution', `'${name}' is a function, not a distribution`, {
      node: call.callee, help: `the right of ~ is a distribution such as normal(mu, sigma); functions like '${name}' go inside its arguments`,
    });
  } else if (cx.resolve(name, scope)) {
    cx.error('NotADistribution', `'${name}' is a variable, not a distribution`, { node: call.callee });
  } else {
    const near = nearName(name, rhsNames());
    cx.error('UnknownDistribution', `unknown distribution '${name}'`, { node: call.callee, help: near ? `did you mean '${near}'?` : undefined });
  }
  return undefined;
}

/**
 * Checks arity, element types and ranks of a family's arguments against the value.
 * Returns false when the value itself cannot have this family (too few axes).
 */
function checkFamilyCall(cx: CheckContext, call: CallExpr, def: DistributionDef, value: Value, scope: Scope): boolean {
  const args = items(call.args);
  const tys = args.map((a) => typeExpr(cx, a, scope));
  if (value.ty) call.ty = { elem: def.support.elem, shape: value.ty.shape };
  if (args.length !== def.params.length) {
    const n = def.params.length;
    cx.error('DistributionArity', `'${def.name}' takes ${n} argument${n === 1 ? '' : 's'} ${paramList(def)}, got ${args.length}`, {
      node: call, help: `write ${def.name}${paramList(def)}`,
    });
    return true;
  }
  const ev = def.support.eventRank;
  const vt = value.ty;
  if (vt && vt.shape.length < ev) {
    cx.error('ValueRank', `'${def.name}' is a distribution over ${ev === 1 ? 'vectors' : 'matrices'}, but '${value.text}' is ${rankWord(vt.shape.length)} (${describeTy(vt)})`, {
      node: value.node ?? call,
    });
    return false;
  }
  const valueBatch = vt ? vt.shape.slice(0, vt.shape.length - ev) : undefined;
  const valueEvent = vt ? vt.shape.slice(vt.shape.length - ev) : undefined;
  def.params.forEach((p, i) => {
    const t = tys[i];
    const a = args[i];
    if (!t || !a) return;
    const what = `argument '${p.name}' of '${def.name}'`;
    if (t.elem === 'bool') {
      cx.error('DistributionArgument', `${what} must be a number, got ${describeTy(t)}`, { node: a });
      return;
    }
    if (p.elem === 'int' && t.elem !== 'int') {
      cx.error('DistributionArgument', `${what} must be an int, got ${describeTy(t)}`, { node: a, help: realOnlyHelp(cx, a) });
      return;
    }
    if (t.shape.length < p.eventRank) {
      cx.error('DistributionArgument', `${what} must be ${rankWord(p.eventRank)}, got ${describeTy(t)}`, { node: a });
      return;
    }
    if (!valueBatch || !valueEvent) return;
    const batch = t.shape.slice(0, t.shape.length - p.eventRank);
    if (batch.length > valueBatch.length) {
      cx.error('ArgumentRank', `${what} (${describeTy(t)}) has more axes than the value '${value.text}' (${describeTy(vt!)})`, {
        node: a, help: `index it so that its shape lines up with the value's, e.g. ${exprText(a, 9)}[...]`,
      });
      return;
    }
    for (let j = 1; j <= batch.length; j++) {
      const d = batch[batch.length - j];
      const v = valueBatch[valueBatch.length - j];
      if (dimsClash(d, v) && !(d.kind === 'const' && d.n === 1)) {
        cx.error('ShapeMismatch', `shape mismatch: ${what} is ${describeTy(t)} but '${value.text}' is ${describeTy(vt!)} (${dimToString(d)} vs ${dimToString(v)})`, { node: a });
        return;
      }
    }
    if (p.eventRank > 0 && p.eventRank === ev) {
      const event = t.shape.slice(t.shape.length - p.eventRank);
      const k = event.findIndex((d, j) => dimsClash(d, valueEvent[j]));
      if (k >= 0) {
        cx.error('ShapeMismatch', `shape mismatch: ${what} is ${describeTy(t)} but '${value.text}' is ${describeTy(vt!)} (${dimToString(event[k])} vs ${dimToString(valueEvent[k])})`, { node: a });
      }
    }
  });
  return true;
}

/** Checks `mixture(w, k -> DIST)`. */
function checkMixture(cx: CheckContext, call: CallExpr, value: Value, scope: Scope): void {
  const args = items(call.args);
  const usage = 'mixture(w, k -> normal(mu[k], sigma[k]))';
  if (value.sym?.role === 'latent') {
    cx.error('MixtureOnLatent', `latent '${value.sym.name}' cannot have a mixture distribution`, {
      node: call.callee, help: `give it categorical(w) and pick the component with it, e.g. x[n] ~ normal(mu[${value.sym.name}[n]], sigma)`,
    });
  }
  if (args.length !== 2) {
    args.forEach((a) => a?.kind !== 'Lambda' && typeExpr(cx, a, scope));
    cx.error('BadMixture', `'mixture' takes 2 arguments (weights, component), got ${args.length}`, { node: call, help: `write ${usage}` });
    return;
  }
  const [weights, comp] = args;
  if (weights?.kind === 'Lambda') {
    cx.error('BadMixture', 'the first argument of mixture must be the weight vector', { node: weights, help: `write ${usage}` });
  } else {
    const wt = typeExpr(cx, weights, scope);
    if (wt && (wt.elem === 'bool' || wt.shape.length !== 1)) {
      cx.error('BadMixture', `mixture weights must be a real vector, got ${describeTy(wt)}`, { node: weights, help: 'declare them as simplex[K]' });
    }
  }
  if (comp?.kind !== 'Lambda') {
    const isDist = comp?.kind === 'Call' && lookupDistribution(comp.callee?.name ?? '') !== undefined;
    cx.error('BadMixture', 'the second argument of mixture must be a lambda from the component index to a distribution', {
      node: comp ?? call, help: isDist ? `write k -> ${exprText(comp)} and use k to pick the component's parameters` : `write ${usage}`,
    });
    return;
  }
  checkComponent(cx, comp, value, scope);
  if (value.ty) call.ty = value.ty;
}

/** Checks the lambda `k -> DIST` of a mixture: k is an int in scope of the body only. */
function checkComponent(cx: CheckContext, lam: LambdaExpr, value: Value, scope: Scope): void {
  const inner = new Scope(scope);
  const k = lam.param?.name;
  if (k) {
    const clash = cx.resolve(k, scope);
    if (clash && clash.kind !== 'pending') {
      const first = clash.kind === 'local' ? clash.info.span : clash.sym.span;
      reportRedeclared(cx, k, lam.param.span, first);
    }
    inner.names.set(k, { kind: 'lambda', ty: { elem: 'int', shape: [] }, span: spanOf(lam.param) });
  }
  const body = lam.body;
  if (!body) return;
  if (body.kind !== 'Call' || (!lookupDistribution(body.callee?.name ?? '') && !isCombinator(body.callee?.name ?? '') && getFunction(body.callee?.name ?? ''))) {
    typeExpr(cx, body, inner);
    cx.error('BadMixture', `a mixture component must be a distribution, got '${exprText(body)}'`, {
      node: body, help: `write ${lam.param?.name ?? 'k'} -> normal(mu[${lam.param?.name ?? 'k'}], sigma[${lam.param?.name ?? 'k'}]) or another distribution`,
    });
    return;
  }
  // A latent already got MixtureOnLatent; checking its component's support would only repeat that.
  const v = value.sym?.role === 'latent' ? { ...value, sym: undefined } : value;
  checkRhsCall(cx, body, v, inner, 'mixture');
  if (value.ty) lam.ty = value.ty;
}

/** Checks `censored(DIST, lo, hi)` / `truncated(...)`; returns the base family when it is usable. */
function checkCensored(cx: CheckContext, call: CallExpr, value: Value, scope: Scope): DistributionDef | undefined {
  const name = call.callee.name;
  const args = items(call.args);
  const usage = `${name}(normal(mu, sigma), lower, upper)`;
  if (args.length !== 3) {
    args.forEach((a) => a?.kind !== 'Lambda' && a?.kind !== 'Call' && typeExpr(cx, a, scope));
    cx.error('BadCensoring', `'${name}' takes 3 arguments (distribution, lower, upper), got ${args.length}`, { node: call, help: `write ${usage}` });
    return undefined;
  }
  const [base, lo, hi] = args;
  let def: DistributionDef | undefined;
  if (base?.kind !== 'Call') {
    if (base) typeExpr(cx, base, scope);
    cx.error('BadCensoring', `the first argument of '${name}' must be a distribution, got '${exprText(base)}'`, { node: base ?? call, help: `write ${usage}` });
  } else if (isCombinator(base.callee?.name ?? '')) {
    cx.error('BadCensoring', `'${name}' of '${base.callee.name}' is not supported`, { node: base.callee, help: `${name} takes a single family such as normal(mu, sigma)` });
  } else {
    def = familyOf(cx, base, scope, value);
    if (def) {
      const why = def.support.elem !== 'real' ? `'${def.name}' is discrete`
        : def.support.eventRank !== 0 ? `'${def.name}' is a distribution over ${def.support.eventRank === 1 ? 'vectors' : 'matrices'}`
          : !def.logCdf ? `'${def.name}' has no CDF` : undefined;
      if (why) {
        cx.error('BadCensoring', `'${name}' needs a continuous scalar distribution with a CDF; ${why}`, {
          node: base, help: def.support.elem !== 'real' ? 'censoring of counts is not supported; model the counts directly' : undefined,
        });
        typeExprs(cx, base.args, scope);
        def = undefined;
      } else {
        if (!checkFamilyCall(cx, base, def, value, scope)) def = undefined;
      }
    }
  }
  for (const b of [lo, hi]) {
    const t = typeExpr(cx, b, scope);
    if (!t || !b) continue;
    if (t.elem === 'bool') {
      cx.error('BadCensoring', `the bounds of '${name}' must be numbers, got ${describeTy(t)}`, { node: b });
    } else if (value.ty && t.shape.length > value.ty.shape.length) {
      cx.error('ArgumentRank', `the bound '${exprText(b)}' of '${name}' (${describeTy(t)}) has more axes than the value '${value.text}' (${describeTy(value.ty)})`, { node: b });
    }
  }
  if (value.ty) call.ty = value.ty;
  return def;
}

function typeExprs(cx: CheckContext, es: Expr[] | undefined, scope: Scope): void {
  items(es).forEach((e) => typeExpr(cx, e, scope));
}

const SUPPORT_WORDS: Record<string, string> = {
  positive: 'positive reals', unit: 'the unit interval (0, 1)', interval: 'a bounded interval',
  lower: 'values above a lower bound', upper: 'values below an upper bound',
  simplex: 'simplexes', ordered: 'ordered vectors', positive_ordered: 'positive ordered vectors',
  cholesky_corr: 'Cholesky factors of correlation matrices', cholesky_cov: 'Cholesky factors of covariance matrices',
  cov_matrix: 'covariance matrices', corr_matrix: 'correlation matrices',
};

/** Checks that a family's support fits the variable on the left of `~`, by its role. */
function checkSupportFits(cx: CheckContext, def: DistributionDef, value: Value, call: CallExpr, use: Use): void {
  const sym = value.sym;
  if (!sym) return;
  const decl = sym.decl?.kind === 'Decl' ? sym.decl : undefined;
  const dims = items(decl?.type?.dims);
  const at = { node: call.callee };
  if (sym.role === 'latent') {
    if (decl && typeBase(decl.type) && typeBase(decl.type)!.elem !== 'int') return; // already reported as a non-int latent
    if (def.support.elem === 'real') {
      const near = sym.implicit ? nearName(sym.name, [...cx.symbols.values()].filter((x) => x.role === 'param').map((x) => x.name)) : undefined;
      const shape = sym.ty.shape.length ? `[${sym.ty.shape.map(dimToString).join(', ')}]` : '';
      cx.error('ContinuousLatent', `continuous latent '${sym.name}' must be declared as a param`, {
        node: value.node, help: near ? `did you mean '${near}'?` : `'${def.name}' is continuous; add: param ${sym.name}: real${shape}`,
      });
    } else if (!isFiniteDiscrete(def)) {
      cx.error('SupportMismatch', `latent '${sym.name}' needs a distribution with finitely many values; '${def.name}' has infinitely many`, {
        ...at, help: 'latents are summed out over their values: use categorical, categorical_logit, bernoulli, bernoulli_logit or binomial',
      });
    }
    return;
  }
  if (sym.role === 'param') {
    if (def.support.elem === 'int') {
      if (decl && typeBase(decl.type)?.elem === 'int') return; // already reported as an int param
      cx.error('DiscreteParam', `param '${sym.name}' is continuous; declare it as latent`, {
        ...at, help: `'${def.name}' is a distribution over integers; a latent is summed out over its values: latent ${sym.name}: ${typeText('int', dims)}`,
      });
      return;
    }
    if (!decl || use === 'censored') return;
    const fix = paramFix(def, sym);
    if (fix) {
      cx.error('SupportMismatch', `'${def.name}' is a distribution over ${SUPPORT_WORDS[def.support.constraint] ?? def.support.constraint}, but param '${sym.name}' is declared ${typeExprText(decl.type)}`, {
        ...at, help: `declare it as ${fix}`,
      });
    }
    return;
  }
  if (sym.role === 'data' && def.support.elem === 'int' && decl && typeBase(decl.type) && typeBase(decl.type)!.elem !== 'int') {
    const base = decl.type.base.name;
    const realOnly = base === 'positive' || base === 'unit' ? ` ('${base}' is real-only; int<lower=0> is the int way)` : '';
    cx.error('SupportMismatch', `'${def.name}' is a distribution over integers, but data '${sym.name}' is ${typeExprText(decl.type)}`, {
      ...at, help: `declare it as ${typeText(realOnly ? 'int<lower=0>' : 'int', dims)}${realOnly}`,
    });
  }
}

/** Returns the type a param should be declared with for the family's support, or undefined when it fits. */
function paramFix(def: DistributionDef, sym: SymbolInfo): string | undefined {
  const decl = sym.decl?.kind === 'Decl' ? sym.decl : undefined;
  const base = typeBase(decl?.type);
  if (!decl || !base) return undefined;
  const dims = items(decl.type.dims);
  const sc = def.support.constraint;
  const [lo, hi] = declaredRange(sym);
  // NaN marks a bound given by a data expression: it cannot be judged here, so it passes.
  const atLeast = (x: number, v: number) => Number.isNaN(x) || x >= v;
  const atMost = (x: number, v: number) => Number.isNaN(x) || x <= v;
  switch (sc) {
    case 'positive':
      return atLeast(lo, 0) ? undefined : typeText('positive', dims);
    case 'unit':
      return atLeast(lo, 0) && atMost(hi, 1) ? undefined : typeText('unit', dims);
    case 'interval':
      return Number.isFinite(lo) || Number.isNaN(lo) ? (Number.isFinite(hi) || Number.isNaN(hi) ? undefined : typeText('real<lower=..., upper=...>', dims)) : typeText('real<lower=..., upper=...>', dims);
    case 'lower':
      return Number.isFinite(lo) || Number.isNaN(lo) ? undefined : typeText('real<lower=...>', dims);
    case 'upper':
      return Number.isFinite(hi) || Number.isNaN(hi) ? undefined : typeText('real<upper=...>', dims);
    case 'simplex': case 'ordered': case 'positive_ordered':
      return base.constraint === sc ? undefined : typeText(sc, dims);
    case 'cholesky_corr': case 'cholesky_cov': case 'cov_matrix': case 'corr_matrix':
      if (base.constraint === sc) return undefined;
      return typeText(sc, base.eventRank === 2 ? dims : dims.slice(0, Math.max(1, dims.length - 1)));
    default:
      return undefined;
  }
}
