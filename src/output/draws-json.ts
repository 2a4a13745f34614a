/**
 * Draws as JSON, column by column:
 *
 * ```json
 * { "model": "gmm",
 *   "chains": [ { "chain": 1,
 *                 "names": ["mu.1", "mu.2"],
 *                 "draws": { "mu.1": [0.1, ...], "mu.2": [...] },
 *                 "stats": { "lp__": [...], "accept_stat__": [...], ... },
 *                 "warmup": { "draws": {...}, "stats": {...} } } ] }
 * ```
 *
 * `names` keeps the column order (Stan's flat dotted names, column-major, as in the CSV).
 * JSON has no NaN or infinity, so those values are written as the strings `"nan"`,
 * `"inf"` and `"-inf"`, the tokens of the CSV output; every other value is a JSON number
 * that parses back to the same double. `warmup` appears only for chains with saved warm-up.
 */
import { SAMPLER_COLUMNS, validateChain, type ChainDraws, type DrawRows } from './draws';

/** A JSON value of a draw: a number, or `"nan"`, `"inf"`, `"-inf"`. */
export type JsonDrawValue = number | 'nan' | 'inf' | '-inf';

/** The columns of one phase of a chain in the JSON output. */
export interface JsonDrawColumns {
  draws: Record<string, JsonDrawValue[]>;
  stats: Record<string, JsonDrawValue[]>;
}

/** One chain in the JSON output. */
export interface JsonChain extends JsonDrawColumns {
  chain: number;
  names: string[];
  warmup?: JsonDrawColumns;
}

/** The whole JSON document written by {@link writeDrawsJson}. */
export interface DrawsJson {
  model: string;
  chains: JsonChain[];
}

/** A double as a JSON value: itself when finite, else `"nan"`, `"inf"` or `"-inf"`. */
export function jsonDrawValue(x: number): JsonDrawValue {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return x;
}

/** The inverse of {@link jsonDrawValue}; throws naming `where` for anything else. */
export function fromJsonDrawValue(v: unknown, where = 'value'): number {
  if (typeof v === 'number') return v;
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  throw new TypeError(`${where}: ${JSON.stringify(v)} is not a number, "nan", "inf" or "-inf"`);
}

function columns(names: readonly string[], rows: DrawRows): JsonDrawColumns {
  const draws: Record<string, JsonDrawValue[]> = {};
  names.forEach((n, j) => { draws[n] = rows.draws.map((r) => jsonDrawValue(r[j])); });
  const stats: Record<string, JsonDrawValue[]> = {};
  SAMPLER_COLUMNS.forEach((c, j) => { stats[c] = rows.stats.map((r) => jsonDrawValue(r[j])); });
  return { draws, stats };
}

/** Builds the JSON document (as an object); chains are numbered from `firstChainId` (default 1). */
export function drawsJson(model: string, chains: readonly ChainDraws[], firstChainId = 1): DrawsJson {
  return {
    model,
    chains: chains.map((ch, i) => {
      const id = firstChainId + i;
      validateChain(ch, `writeDrawsJson (chain ${id})`);
      const out: JsonChain = { chain: id, names: [...ch.names], ...columns(ch.names, ch) };
      if (ch.warmup) out.warmup = columns(ch.names, ch.warmup);
      return out;
    }),
  };
}

/** Options of {@link writeDrawsJson}. */
export interface DrawsJsonOptions {
  /** Id of the first chain (default 1). */
  firstChainId?: number;
  /** Indentation passed to `JSON.stringify` (default none: one line). */
  indent?: number;
}

/** Writes draws of one or more chains as the JSON text described in the module comment. */
export function writeDrawsJson(model: string, chains: readonly ChainDraws[], options: DrawsJsonOptions = {}): string {
  return JSON.stringify(drawsJson(model, chains, options.firstChainId ?? 1), null, options.indent);
}
