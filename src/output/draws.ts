/**
 * The draws container shared by the output writers (CmdStan CSV, JSON), and the helpers
 * that turn a shaped value into Stan's flat, dotted, 1-based, column-major columns.
 *
 * Stan writes every container (vector, matrix, array) in column-major order: the FIRST
 * index changes fastest. A matrix `Sigma[2, 2]` becomes the columns
 * `Sigma.1.1, Sigma.2.1, Sigma.1.2, Sigma.2.2`; an `array[2, 3] real a` becomes
 * `a.1.1, a.2.1, a.1.2, a.2.2, a.1.3, a.2.3`. rstan (`read_stan_csv`, which refolds the
 * columns with R's column-major `dim<-`) and cmdstanr rely on that order.
 */

/** The sampler diagnostic columns CmdStan's NUTS writes first, in this order. */
export const SAMPLER_COLUMNS = [
  'lp__',
  'accept_stat__',
  'stepsize__',
  'treedepth__',
  'n_leapfrog__',
  'divergent__',
  'energy__',
] as const;

/** One of {@link SAMPLER_COLUMNS}. */
export type SamplerColumn = (typeof SAMPLER_COLUMNS)[number];

/** The diagnostic columns that hold counts and flags (written as integers). */
export const INTEGER_SAMPLER_COLUMNS: ReadonlySet<string> = new Set(['treedepth__', 'n_leapfrog__', 'divergent__']);

/** Rows of one phase (warm-up or sampling) of a chain. */
export interface DrawRows {
  /** One row per saved draw: the sampler diagnostics in {@link SAMPLER_COLUMNS} order. */
  stats: ArrayLike<number>[];
  /** One row per saved draw: the parameter values in the chain's `names` order. */
  draws: ArrayLike<number>[];
}

/** The saved draws of one chain, in the layout of one CmdStan output file. */
export interface ChainDraws extends DrawRows {
  /** Parameter columns in Stan's flat dotted form (`mu`, `mu.1`, `Sigma.2.1`), output order. */
  names: string[];
  /** Saved warm-up rows (CmdStan's `save_warmup = 1`); absent when warm-up is not saved. */
  warmup?: DrawRows;
}

/** A nested array of numbers (or a number, for a scalar). */
export type NestedNumbers = number | NestedNumbers[] | Float64Array;

/** Thrown for a value or a name that cannot be written; the message names the place. */
export class DrawsError extends Error {}

function checkShape(shape: readonly number[], where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new DrawsError(`${where}: shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
}

/** All index tuples of `shape` (1-based) in column-major order: the first index changes fastest. */
function* columnMajorIndices(shape: readonly number[]): Generator<number[]> {
  const size = shape.reduce((a, b) => a * b, 1);
  const idx = shape.map(() => 1);
  for (let i = 0; i < size; i++) {
    yield idx.slice();
    for (let d = 0; d < shape.length; d++) {
      if (idx[d] < shape[d]) { idx[d]++; break; }
      idx[d] = 1;
    }
  }
}

/**
 * Stan's flat column names of a variable: `name` for a scalar (shape `[]`), otherwise
 * `name.i.j...` with 1-based indices in column-major order (first index fastest), e.g.
 * `flatNames('Sigma', [2, 2])` is `['Sigma.1.1', 'Sigma.2.1', 'Sigma.1.2', 'Sigma.2.2']`.
 */
export function flatNames(name: string, shape: readonly number[]): string[] {
  checkShape(shape, name);
  if (shape.length === 0) return [name];
  return [...columnMajorIndices(shape)].map((idx) => `${name}.${idx.join('.')}`);
}

/** The element at a 1-based index tuple of a nested array, checking each level's length. */
function elementAt(value: NestedNumbers, idx: readonly number[], shape: readonly number[], name: string): number {
  let v: NestedNumbers = value;
  for (let d = 0; d < idx.length; d++) {
    const at = `${name}${idx.slice(0, d).map((i) => `[${i}]`).join('')}`;
    if (typeof v === 'number' || (v as ArrayLike<unknown>).length !== shape[d]) {
      const got = typeof v === 'number' ? 'a number' : `${(v as ArrayLike<unknown>).length} elements`;
      throw new DrawsError(`${at}: expected ${shape[d]} elements (shape [${shape.join(', ')}]), got ${got}`);
    }
    v = (v as NestedNumbers[])[idx[d] - 1];
  }
  if (typeof v !== 'number') {
    throw new DrawsError(`${name}[${idx.join(', ')}]: expected a number (shape [${shape.join(', ')}]), got a nested array`);
  }
  return v;
}

/**
 * The values of a nested array (`value[i][j]...`) in the order of {@link flatNames}
 * (column-major). Throws a {@link DrawsError} naming the place when the nesting does not
 * match `shape`.
 */
export function flattenValue(value: NestedNumbers, shape: readonly number[], name = 'value'): number[] {
  checkShape(shape, name);
  if (shape.length === 0) {
    if (typeof value !== 'number') throw new DrawsError(`${name}: expected a scalar (shape []), got an array`);
    return [value];
  }
  const out: number[] = [];
  for (const idx of columnMajorIndices(shape)) out.push(elementAt(value, idx, shape, name));
  // elementAt checks lengths only along visited paths; an empty dimension visits none.
  if (out.length === 0 && typeof value === 'number') throw new DrawsError(`${name}: expected an array of shape [${shape.join(', ')}], got a number`);
  return out;
}

/** The inverse of {@link flattenValue}: column-major values back into a nested array. */
export function unflattenValue(flat: ArrayLike<number>, shape: readonly number[], name = 'value'): NestedNumbers {
  checkShape(shape, name);
  const size = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== size) throw new DrawsError(`${name}: ${flat.length} values for shape [${shape.join(', ')}] (needs ${size})`);
  if (shape.length === 0) return flat[0];
  const build = (d: number): NestedNumbers[] => Array.from({ length: shape[d] }, () => (d + 1 < shape.length ? build(d + 1) : 0));
  const root = build(0);
  let i = 0;
  for (const idx of columnMajorIndices(shape)) {
    let arr = root;
    for (let d = 0; d < idx.length - 1; d++) arr = arr[idx[d] - 1] as NestedNumbers[];
    arr[idx[idx.length - 1] - 1] = flat[i++];
  }
  return root;
}

/** A variable of a model's output: its name and shape (`[]` for a scalar). */
export interface VariableShape {
  name: string;
  shape: readonly number[];
}

/**
 * Builds one chain's draws from per-draw values of named, shaped variables: the columns are
 * {@link flatNames} of each variable in the order given, each row the {@link flattenValue}s.
 * `stats[i]` holds the sampler diagnostics of draw `i` by column name.
 */
export function chainDraws(
  variables: readonly VariableShape[],
  values: readonly Record<string, NestedNumbers>[],
  stats: readonly Record<SamplerColumn, number>[],
): ChainDraws {
  if (values.length !== stats.length) {
    throw new DrawsError(`chainDraws: ${values.length} draws of values but ${stats.length} rows of sampler diagnostics`);
  }
  const names = variables.flatMap((v) => flatNames(v.name, v.shape));
  const draws = values.map((row, i) =>
    variables.flatMap((v) => {
      if (!(v.name in row)) throw new DrawsError(`draw ${i + 1}: variable '${v.name}' is missing`);
      return flattenValue(row[v.name], v.shape, `draw ${i + 1}: ${v.name}`);
    }),
  );
  const statRows = stats.map((s, i) =>
    SAMPLER_COLUMNS.map((c) => {
      if (typeof s[c] !== 'number') throw new DrawsError(`draw ${i + 1}: sampler diagnostic '${c}' is missing`);
      return s[c];
    }),
  );
  return { names, draws, stats: statRows };
}

/**
 * Checks that a chain is rectangular: names are usable CSV column names (non-empty, no
 * comma, quote or whitespace, no duplicates, not a sampler column) and every row has the
 * right length. Throws a {@link DrawsError} naming the chain, the phase and the draw.
 */
export function validateChain(chain: ChainDraws, where = 'chain'): void {
  const seen = new Set<string>();
  for (const n of chain.names) {
    if (n === '' || /[\s,"']/.test(n)) throw new DrawsError(`${where}: column name '${n}' is empty or has a comma, quote or space`);
    if ((SAMPLER_COLUMNS as readonly string[]).includes(n)) throw new DrawsError(`${where}: parameter column '${n}' clashes with a sampler column`);
    if (seen.has(n)) throw new DrawsError(`${where}: column name '${n}' appears twice`);
    seen.add(n);
  }
  const phases: [string, DrawRows | undefined][] = [['warm-up', chain.warmup], ['sampling', chain]];
  for (const [phase, rows] of phases) {
    if (!rows) continue;
    if (rows.stats.length !== rows.draws.length) {
      throw new DrawsError(`${where} (${phase}): ${rows.draws.length} parameter rows but ${rows.stats.length} sampler-diagnostic rows`);
    }
    rows.draws.forEach((r, i) => {
      if (r.length !== chain.names.length) {
        throw new DrawsError(`${where} (${phase}) draw ${i + 1}: ${r.length} values for ${chain.names.length} parameter names`);
      }
    });
    rows.stats.forEach((r, i) => {
      if (r.length !== SAMPLER_COLUMNS.length) {
        throw new DrawsError(`${where} (${phase}) draw ${i + 1}: ${r.length} sampler diagnostics, expected ${SAMPLER_COLUMNS.length} (${SAMPLER_COLUMNS.join(', ')})`);
      }
      SAMPLER_COLUMNS.forEach((c, j) => {
        if (!INTEGER_SAMPLER_COLUMNS.has(c)) return;
        const x = r[j];
        if (!Number.isInteger(x) || x < 0 || (c === 'divergent__' && x > 1)) {
          throw new DrawsError(`${where} (${phase}) draw ${i + 1}: ${c} is ${x}, expected ${c === 'divergent__' ? '0 or 1' : 'a non-negative integer'}`);
        }
      });
    });
  }
}
