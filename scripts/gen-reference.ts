/**
 * Generates the reference tables of docs/language.md from the code that defines the
 * language, so that the reference cannot drift from it:
 *
 * - `distributions`: every row of the distribution registry (src/distributions/registry.ts):
 *   call, arguments with their constraints and event ranks, support, doc and density;
 * - `functions`: the operator and function tables of the checker (src/check/functions.ts);
 * - `types`: the type bases (src/check/declarations.ts) with their constraint transforms
 *   (src/distributions/transforms.ts).
 *
 * Each table sits between `<!-- BEGIN GENERATED: NAME -->` and `<!-- END GENERATED: NAME -->`.
 * Run `npx tsx scripts/gen-reference.ts` to rewrite them in place;
 * test/docs/reference.test.ts fails when the committed file differs from what this produces.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ConstraintName, DistributionDef, ParamSpec } from '../src/distributions/types';
import type { FunctionCategory } from '../src/check/functions';
import { DISTRIBUTIONS } from '../src/distributions/registry';
import { getTransform } from '../src/distributions/transforms';
import { FUNCTIONS, OPERATORS } from '../src/check/functions';
import { TYPE_BASES } from '../src/check/declarations';
import { ENUMERABLE } from '../src/ir/passes/enumerate';

/** The generated sections, in the order they appear in docs/language.md. */
export const SECTIONS = ['types', 'functions', 'distributions'] as const;
export type SectionName = (typeof SECTIONS)[number];

/** Path of the language reference, relative to the repository root. */
export const LANGUAGE_MD = 'docs/language.md';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Returns the opening and closing marker comments of a section. */
export function markers(name: SectionName): { begin: string; end: string } {
  return { begin: `<!-- BEGIN GENERATED: ${name} -->`, end: `<!-- END GENERATED: ${name} -->` };
}

/** Returns `s` safe inside a markdown table cell (GFM splits cells at every unescaped `|`, code spans included). */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** Returns the words for a constraint, as the reference writes it; throws for one it does not know. */
function constraintWords(c: ConstraintName): string {
  const words: Record<ConstraintName, string> = {
    real: 'real', positive: 'positive', unit: 'unit (0, 1)', lower: 'real above a lower bound', upper: 'real below an upper bound',
    interval: 'real in [lower, upper]', simplex: 'simplex', ordered: 'ordered', positive_ordered: 'positive_ordered',
    cholesky_corr: 'cholesky_corr', cholesky_cov: 'cholesky_cov', cov_matrix: 'cov_matrix', corr_matrix: 'corr_matrix',
    int: 'int', nonneg_int: 'int >= 0', binary: 'int in {0, 1}', category: 'int in 1..K',
  };
  const w = words[c];
  if (w === undefined) throw new Error(`gen-reference: no words for constraint '${c}'; add it to constraintWords`);
  return w;
}

/** Constraints that already say they are vectors or matrices (so "simplex vector" is just "simplex"). */
const SHAPED = new Set<ConstraintName>(['simplex', 'ordered', 'positive_ordered', 'cholesky_corr', 'cholesky_cov', 'cov_matrix', 'corr_matrix']);

/** Returns a constraint with its event rank in words: `real vector`, `positive`, `simplex`. */
function valueWords(c: ConstraintName, eventRank: 0 | 1 | 2): string {
  return `${constraintWords(c)}${SHAPED.has(c) ? '' : ['', ' vector', ' matrix'][eventRank]}`;
}

/** Returns how one argument is described: `` `sigma` positive ``, `` `mu` real vector ``. */
function argText(p: ParamSpec): string {
  return `\`${p.name}\` ${valueWords(p.constraint, p.eventRank)}`;
}

/** Returns true when the family can stand inside `censored(...)` / `truncated(...)` (the checker's rule). */
function censorable(d: DistributionDef): boolean {
  return d.support.elem === 'real' && d.support.eventRank === 0 && d.logCdf !== undefined && d.logCcdf !== undefined;
}

/** Returns the support of a family in words, with what the family can be used for. */
function supportText(d: DistributionDef): string {
  const s = d.support;
  const parts = [valueWords(s.constraint, s.eventRank)];
  if (ENUMERABLE[d.name]) parts.push('finite: can give a discrete latent its distribution');
  if (censorable(d)) parts.push('has a CDF: can be censored or truncated');
  return parts.join('; ');
}

const DISTRIBUTION_GROUPS: { title: string; has: (d: DistributionDef) => boolean }[] = [
  { title: 'Continuous scalar families', has: (d) => d.support.elem === 'real' && d.support.eventRank === 0 },
  { title: 'Discrete families', has: (d) => d.support.elem === 'int' },
  { title: 'Vector families', has: (d) => d.support.elem === 'real' && d.support.eventRank === 1 },
  { title: 'Matrix families', has: (d) => d.support.elem === 'real' && d.support.eventRank === 2 },
];

/** Returns the distributions section: every registry row, grouped by the kind of value. */
export function distributionsReference(): string {
  const all = [...DISTRIBUTIONS.values()];
  const out: string[] = [];
  for (const g of DISTRIBUTION_GROUPS) {
    const rows = all.filter(g.has);
    if (rows.length === 0) continue;
    out.push(`#### ${g.title}`, '');
    for (const d of rows) {
      out.push(`- **\`${d.name}(${d.params.map((p) => p.name).join(', ')})\`**: ${d.doc}`);
      out.push(`  - arguments: ${d.params.map(argText).join(', ') || 'none'}; value: ${supportText(d)}`);
      out.push(`  - density: \`${d.density}\``);
    }
    out.push('');
  }
  const grouped = new Set(DISTRIBUTION_GROUPS.flatMap((g) => all.filter(g.has)));
  const left = all.filter((d) => !grouped.has(d));
  if (left.length) throw new Error(`gen-reference: no group for ${left.map((d) => d.name).join(', ')}`);
  return out.join('\n').trimEnd();
}

const FUNCTION_GROUPS: { category: FunctionCategory; title: string }[] = [
  { category: 'elementwise', title: 'Elementwise (the result has the shape of x)' },
  { category: 'binary', title: 'Binary, broadcasting' },
  { category: 'reduction', title: 'Reductions over all elements (the result is a scalar)' },
  { category: 'vector', title: 'Along the last axis' },
  { category: 'matrix', title: 'Matrices (the last two axes; leading axes are a batch)' },
  { category: 'constructor', title: 'Constructors' },
];

/** Returns the functions section: the operators, then every built-in function by category. */
export function functionsReference(): string {
  const out: string[] = ['#### Operators', '', '| operator | meaning |', '| --- | --- |'];
  for (const o of OPERATORS.values()) out.push(`| \`${cell(o.signature)}\` | ${cell(o.doc)} |`);
  out.push('');
  const fns = [...FUNCTIONS.values()];
  for (const g of FUNCTION_GROUPS) {
    const rows = fns.filter((f) => f.category === g.category);
    if (rows.length === 0) continue;
    out.push(`#### ${g.title}`, '', '| function | meaning |', '| --- | --- |');
    for (const f of rows) out.push(`| \`${cell(f.signature)}\` | ${cell(f.doc)} |`);
    out.push('');
  }
  const left = fns.filter((f) => !FUNCTION_GROUPS.some((g) => g.category === f.category));
  if (left.length) throw new Error(`gen-reference: no group for ${left.map((f) => f.name).join(', ')}`);
  return out.join('\n').trimEnd();
}

/** The constraint transforms, u (unconstrained) -> x, as src/distributions/transforms.ts implements them. */
const TRANSFORM_TEXT: Record<ConstraintName, string | undefined> = {
  int: undefined,
  nonneg_int: undefined,
  binary: undefined,
  category: undefined,
  real: 'identity: x = u',
  positive: 'x = exp(u)',
  unit: 'x = inv_logit(u)',
  lower: 'x = a + exp(u)',
  upper: 'x = b - exp(u)',
  interval: 'x = a + (b - a) inv_logit(u)',
  simplex: 'stick-breaking: z_k = inv_logit(u_k - log(K - k)), x_k = z_k (1 - x_1 - ... - x_{k-1}), x_K = the rest',
  ordered: 'x_1 = u_1, x_k = x_{k-1} + exp(u_k)',
  positive_ordered: 'x = cumsum(exp(u))',
  cholesky_corr: 'z = tanh(u) (canonical partial correlations); below the diagonal L_ij = z_ij sqrt(1 - L_i1^2 - ... - L_i,j-1^2), L_ii = sqrt(1 - L_i1^2 - ... - L_i,i-1^2)',
  cholesky_cov: 'u fills the lower triangle row by row, the diagonal through exp',
  cov_matrix: 'L L^T with L the cholesky_cov factor of u',
  corr_matrix: 'L L^T with L the cholesky_corr factor of u',
};

/** Returns the unconstrained size of one event as a formula in K (vectors) or D (matrices), read off the transform. */
function unconstrainedSize(c: ConstraintName, eventRank: 0 | 1 | 2, bounds: { lower?: number; upper?: number } = {}): string {
  const t = getTransform({ name: c, ...bounds });
  const candidates: [string, (n: number) => number][] = eventRank === 0 ? [['1', () => 1]]
    : eventRank === 1 ? [['K', (n) => n], ['K - 1', (n) => n - 1]]
      : [['D(D - 1)/2', (n) => (n * (n - 1)) / 2], ['D(D + 1)/2', (n) => (n * (n + 1)) / 2]];
  const size = (n: number) => {
    const ev = eventRank === 0 ? [] : eventRank === 1 ? [n] : [n, n];
    return t.unconstrainedEventShape(ev).reduce((a, b) => a * b, 1);
  };
  const hit = candidates.find(([, f]) => [1, 2, 3, 4, 5].every((n) => f(n) === size(n)));
  if (!hit) throw new Error(`gen-reference: the unconstrained size of '${c}' matches no formula; extend unconstrainedSize`);
  return hit[0];
}

/** Returns the types section: every type base (and the bounded forms of real and int), one line each. */
export function typesReference(): string {
  const out: string[] = [
    '| type | declared as | elements | unconstrained values per event | transform (u unconstrained, x constrained) |',
    '| --- | --- | --- | --- | --- |',
  ];
  const range = ([lo, hi]: [number, number]) => {
    const f = (v: number) => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v));
    return lo === -Infinity && hi === Infinity ? 'any' : `[${f(lo)}, ${f(hi)}]`;
  };
  for (const [name, b] of Object.entries(TYPE_BASES)) {
    const declared = b.eventRank === 0 ? `\`${name}\`, \`${name}[d1, ..., dk]\``
      : b.eventRank === 1 ? `\`${name}[..., K]\`: the last axis is one vector`
        : `\`${name}[..., D]\`: shape [..., D, D], one D x D matrix per leading index`;
    const elems = `${b.elem}, ${range(b.range)}`;
    const text = TRANSFORM_TEXT[b.constraint];
    if (b.elem === 'int') {
      out.push(`| \`${name}\` | ${declared} | ${elems} | none | none: data and latents only (a param is continuous) |`);
      continue;
    }
    if (text === undefined) throw new Error(`gen-reference: no transform text for constraint '${b.constraint}'`);
    out.push(`| \`${name}\` | ${declared} | ${elems} | ${unconstrainedSize(b.constraint, b.eventRank)} | ${cell(text)} |`);
    if (name === 'real') {
      // Bounds turn real into the lower, upper and interval constraints (declarations.ts: constraintOf).
      const bounded: [string, ConstraintName, { lower?: number; upper?: number }, string][] = [
        ['real<lower=a>', 'lower', { lower: 0 }, 'real, [a, inf]'],
        ['real<upper=b>', 'upper', { upper: 0 }, 'real, [-inf, b]'],
        ['real<lower=a, upper=b>', 'interval', { lower: 0, upper: 1 }, 'real, [a, b]'],
      ];
      for (const [t, c, bounds, el] of bounded) {
        out.push(`| \`${t}\` | \`${t}[d1, ..., dk]\` | ${el} | ${unconstrainedSize(c, 0, bounds)} | ${cell(TRANSFORM_TEXT[c]!)} |`);
      }
    }
  }
  out.push('| `int<lower=a, upper=b>` | `int<lower=a, upper=b>[d1, ..., dk]` | int, [a, b] | none | none: the bounds are checked on data |');
  return out.join('\n');
}

/** Returns the generated text of one section. */
export function generateSection(name: SectionName): string {
  const source = { distributions: 'src/distributions/registry.ts', functions: 'src/check/functions.ts', types: 'src/check/declarations.ts and src/distributions/transforms.ts' }[name];
  const body = name === 'distributions' ? distributionsReference() : name === 'functions' ? functionsReference() : typesReference();
  return `<!-- Generated from ${source} by \`npx tsx scripts/gen-reference.ts\`; edit those, not this. -->\n\n${body}`;
}

/**
 * Returns `text` with every generated section replaced by what the code gives now.
 * Throws when a section's markers are missing, repeated or out of order.
 */
export function updateReference(text: string): string {
  let out = text;
  for (const name of SECTIONS) {
    const { begin, end } = markers(name);
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i < 0 || j < 0) throw new Error(`${LANGUAGE_MD}: missing the markers ${begin} ... ${end}`);
    if (out.indexOf(begin, i + 1) >= 0 || out.indexOf(end, j + 1) >= 0) throw new Error(`${LANGUAGE_MD}: the markers of '${name}' appear twice`);
    if (j < i) throw new Error(`${LANGUAGE_MD}: ${end} comes before ${begin}`);
    out = `${out.slice(0, i + begin.length)}\n${generateSection(name)}\n${out.slice(j)}`;
  }
  return out;
}

/** Rewrites docs/language.md in place; returns true when it changed. */
export function writeReference(root = ROOT): boolean {
  const path = join(root, LANGUAGE_MD);
  const before = readFileSync(path, 'utf8');
  const after = updateReference(before);
  if (after !== before) writeFileSync(path, after);
  return after !== before;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const changed = writeReference();
  console.log(changed ? `updated the generated sections of ${LANGUAGE_MD}` : `${LANGUAGE_MD} is up to date`);
}
