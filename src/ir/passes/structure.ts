/**
 * Pass: structure for inference. Records, for each parameter, the factors it appears in;
 * for each observation, whether its family is an exponential family and how its
 * arguments depend on latents (`mu[z[n]]` is a component parameter selected by z); and
 * the prior/likelihood pairs with a closed-form conditional. EM M-steps and Gibbs
 * updates read this; nothing here changes the density.
 */
import type { ComponentInfo, IRExpr, IRProgram, StructureInfo } from '../types';
import { walkExpr, walkFactor } from '../walk';

const EXPFAM = new Set([
  'normal', 'mvnormal', 'mvnormal_cholesky', 'exponential', 'gamma', 'inv_gamma', 'beta', 'dirichlet', 'categorical',
  'bernoulli', 'binomial', 'poisson', 'lognormal', 'wishart', 'inv_wishart', 'von_mises',
]);

/** (prior family, likelihood family, argument position) pairs with a conjugate update. */
const CONJUGATE: { prior: string; lik: string; arg: number; kind: string }[] = [
  { prior: 'dirichlet', lik: 'categorical', arg: 0, kind: 'dirichlet-categorical' },
  { prior: 'beta', lik: 'bernoulli', arg: 0, kind: 'beta-bernoulli' },
  { prior: 'beta', lik: 'binomial', arg: 1, kind: 'beta-binomial' },
  { prior: 'gamma', lik: 'poisson', arg: 0, kind: 'gamma-poisson' },
  { prior: 'gamma', lik: 'exponential', arg: 0, kind: 'gamma-exponential' },
  { prior: 'normal', lik: 'normal', arg: 0, kind: 'normal-normal-mean' },
  { prior: 'normal', lik: 'mvnormal', arg: 0, kind: 'normal-mvnormal-mean' },
  { prior: 'normal', lik: 'mvnormal_cholesky', arg: 0, kind: 'normal-mvnormal-mean' },
];

function classifyArg(e: IRExpr): ComponentInfo['args'][number] {
  if (e.op === 'param') return { kind: 'param', param: e.name };
  if (e.op === 'index' && e.target.op === 'param') {
    const lat = e.indices.find((i) => i.op === 'latent');
    if (lat && lat.op === 'latent') return { kind: 'param-by-latent', param: e.target.name, latent: lat.name };
  }
  return { kind: 'other' };
}

export function structure(ir: IRProgram): IRProgram {
  const info: StructureInfo = { params: {}, components: [], conjugate: [] };
  for (const p of ir.params) info.params[p.name] = { factors: [] };
  const lets = new Map(ir.lets.map((l) => [l.name, l.expr]));
  for (const f of ir.factors) {
    const seen = new Set<string>();
    // A let counts as its definition: the params it reads enter this factor too.
    const note = (x: IRExpr): void => {
      if (x.op === 'param') seen.add(x.name);
      if (x.op === 'let' && lets.has(x.name)) walkExpr(lets.get(x.name)!, note);
    };
    walkFactor(f, note);
    for (const p of seen) info.params[p]?.factors.push(f.id);
    if (f.kind === 'prior' && f.value?.op === 'param' && info.params[f.value.name]) info.params[f.value.name].prior = f.id;
    if ((f.kind === 'obs' || f.kind === 'latent') && f.dist?.kind === 'family') {
      info.components.push({ factor: f.id, family: f.dist.family, expfam: EXPFAM.has(f.dist.family), args: f.dist.args.map(classifyArg) });
    }
  }
  // A conjugate update is only closed-form when the parameter's declared constraint is
  // the family's natural support (an ordered or bounded mean is not normal-normal conjugate).
  const natural: Record<string, string> = {
    'dirichlet-categorical': 'simplex', 'beta-bernoulli': 'unit', 'beta-binomial': 'unit', 'gamma-poisson': 'positive',
    'gamma-exponential': 'positive', 'normal-normal-mean': 'real', 'normal-mvnormal-mean': 'real',
  };
  const constraintOf = new Map(ir.params.map((q) => [q.name, q.constraint.name]));
  for (const [name, p] of Object.entries(info.params)) {
    if (p.prior === undefined) continue;
    const prior = ir.factors[p.prior].dist;
    if (prior?.kind !== 'family') continue;
    for (const c of CONJUGATE.filter((c) => c.prior === prior.family)) {
      const lik = info.components.filter((comp) => comp.family === c.lik && (() => {
        const a = comp.args[c.arg];
        return a && a.kind !== 'other' && a.param === name;
      })());
      // Conjugate only when the parameter enters no other factor than its prior and these likelihoods.
      const others = p.factors.filter((id) => id !== p.prior && !lik.some((l) => l.factor === id));
      if (lik.length && others.length === 0 && constraintOf.get(name) === natural[c.kind]) info.conjugate.push({ param: name, prior: p.prior, likelihood: lik.map((l) => l.factor), kind: c.kind });
    }
  }
  return { ...ir, structure: info };
}
