/**
 * The checker's shared state: the diagnostics collected so far, the top-level symbol
 * table, the sizes, and lexical scopes for loop variables, local lets and lambda
 * parameters. Every rule reports through `accept` and carries on (all errors in one pass).
 */
import type { Diagnostic, Severity } from '../diagnostics/diagnostic';
import type { Source, Span } from '../diagnostics/span';
import type { Expr } from '../ast/nodes';
import type { Ty } from './types';
import type { SizeInfo, SymbolInfo } from './symbols';
import type { CheckCodeId } from './codes';
import { CHECK_CODES } from './codes';

/** A name bound inside a block: a loop variable, a local let, or a mixture lambda's parameter. */
export interface LocalInfo {
  kind: 'loop' | 'let' | 'lambda';
  /** Undefined when the let's value did not type. */
  ty?: Ty;
  span?: Span;
  /** Loops: the range, for the shapes of implicit latents. */
  lo?: Expr;
  hi?: Expr;
}

/** A block's names, chained to the enclosing block's. The model body is the root scope. */
export class Scope {
  readonly names = new Map<string, LocalInfo>();
  /** Lets of this block not reached yet (a use is a use before declaration). */
  readonly pending = new Map<string, Span | undefined>();
  constructor(readonly parent?: Scope) {}

  /** Returns the innermost binding of `name`, if any. */
  find(name: string): LocalInfo | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const b = s.names.get(name);
      if (b) return b;
    }
    return undefined;
  }

  /** Returns where a not-yet-reached let of an enclosing block is declared, if `name` is one. */
  findPending(name: string): { span?: Span } | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      if (s.names.has(name)) return undefined;
      if (s.pending.has(name)) return { span: s.pending.get(name) };
    }
    return undefined;
  }

  /** Returns every local name visible here (for suggestions). */
  visible(): string[] {
    const out: string[] = [];
    for (let s: Scope | undefined = this; s; s = s.parent) out.push(...s.names.keys());
    return out;
  }
}

/** What a name refers to at a place in the program. */
export type Resolved =
  | { kind: 'local'; name: string; info: LocalInfo }
  | { kind: 'symbol'; name: string; sym: SymbolInfo }
  | { kind: 'pending'; name: string; span?: Span };

/** Optional parts of a diagnostic: where (a node or a span), a help line, notes. */
export interface AcceptInfo {
  node?: { span?: Span };
  span?: Span;
  help?: string;
  notes?: { message: string; span?: Span }[];
}

export class CheckContext {
  readonly diagnostics: Diagnostic[] = [];
  readonly symbols = new Map<string, SymbolInfo>();
  readonly sizes = new Map<string, SizeInfo>();
  /** Top-level symbols whose type could not be worked out (their uses are not checked further). */
  readonly untyped = new Set<string>();
  /** Top-level lets already reached in program order. */
  readonly definedLets = new Set<string>();
  /** Latents (declared or implicit) that appear on the left of some `~`. */
  readonly distributed = new Set<string>();

  constructor(readonly source?: Source) {}

  /** Records a diagnostic of the given rule. */
  accept(severity: Severity, id: CheckCodeId, message: string, info: AcceptInfo = {}): void {
    const d: Diagnostic = { severity, code: CHECK_CODES[id].code, message };
    const span = info.span ?? info.node?.span;
    if (span) d.span = span;
    if (info.help) d.help = info.help;
    if (info.notes && info.notes.length) d.notes = info.notes;
    this.diagnostics.push(d);
  }

  /** Records an error of the given rule. */
  error(id: CheckCodeId, message: string, info: AcceptInfo = {}): void {
    this.accept('error', id, message, info);
  }

  /** Returns what `name` refers to in `scope`, or undefined when it is not bound. */
  resolve(name: string, scope: Scope): Resolved | undefined {
    const info = scope.find(name);
    if (info) return { kind: 'local', name, info };
    const pending = scope.findPending(name);
    if (pending) return { kind: 'pending', name, span: pending.span };
    const sym = this.symbols.get(name);
    if (sym) return { kind: 'symbol', name, sym };
    return undefined;
  }

  /** Returns the type of a top-level symbol, or undefined when it did not type. */
  symbolTy(sym: SymbolInfo): Ty | undefined {
    return this.untyped.has(sym.name) ? undefined : sym.ty;
  }

  /** Runs one rule group, turning an unexpected exception into an internal-error diagnostic. */
  guard(where: { span?: Span } | undefined, f: () => void): void {
    try {
      f();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.error('Internal', `internal checker error: ${msg} (this is a bug in mixppl; please report it)`, { node: where });
    }
  }
}

/** Returns the span of a node when it has a usable one. */
export function spanOf(node: unknown): Span | undefined {
  const s = (node as { span?: Span } | undefined)?.span;
  return s && typeof s.start === 'number' ? s : undefined;
}

/** Returns the elements of a possibly missing or sparse node list as a dense array (holes become undefined). */
export function items<T>(xs: readonly T[] | undefined): (T | undefined)[] {
  return Array.isArray(xs) ? Array.from(xs) : [];
}
