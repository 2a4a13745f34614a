/**
 * Property tests of the front end: random well-formed models round-trip through the
 * printer, and random damage to valid model texts never makes parse throw or hang.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from '../../src/ast/nodes';
import { printProgram } from '../../src/ast/print';
import { spanOf } from '../../src/diagnostics/span';
import { parse, parseExpression, PARSE_CODES } from '../../src/parser';
import { arbProgram, stripSpans } from '../../src/parser/arbitrary';
import { allNodes } from './helpers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpus = ['stdlib', 'test/golden/good'].flatMap((d) =>
  readdirSync(join(root, d)).filter((f) => f.endsWith('.mix')).sort().map((f) => readFileSync(join(root, d, f), 'utf8')));

const EXPRESSION_KINDS = new Set(['Num', 'Name', 'Binary', 'Unary', 'Call', 'Index', 'Ternary', 'Array']);

describe('round trip of random well-formed models', () => {
  it('parse(print(ast)) equals ast up to spans, and print is a fixed point through parse', () => {
    fc.assert(
      fc.property(arbProgram(), (ast) => {
        const text = printProgram(ast);
        const r = parse({ name: 'random.mix', text });
        expect(r.diagnostics, text).toEqual([]);
        expect(stripSpans(r.program), text).toEqual(stripSpans(ast));
        expect(printProgram(r.program!)).toBe(text);
      }),
      { numRuns: 200, seed: 20261122 },
    );
  });

  it('gives every node of a parsed random model a span consistent with the text, whose slice re-parses to the node', () => {
    fc.assert(
      fc.property(arbProgram({ maxStatements: 4 }), (ast) => {
        const text = printProgram(ast);
        const p = parse({ name: 'random.mix', text }).program!;
        for (const n of allNodes(p)) {
          expect(n.span).toEqual(spanOf(text, n.span.start, n.span.end));
          // A lambda is no expression on its own (only a call argument); the other expression kinds are.
          if (!EXPRESSION_KINDS.has(n.kind)) continue;
          const slice = text.slice(n.span.start, n.span.end);
          const e = parseExpression({ name: 'slice', text: slice });
          expect(e.diagnostics, slice).toEqual([]);
          expect(stripSpans(e.expr), slice).toEqual(stripSpans(n));
        }
      }),
      { numRuns: 60, seed: 7 },
    );
  });
});

// ---- robustness -------------------------------------------------------------------------

const CODES = new Set<string>(Object.values(PARSE_CODES).map((c) => c.code));
const INTERNAL = PARSE_CODES.Internal.code;

/** Parses `text` and checks the contract: no throw, bounded time, listed codes, spans inside the text. */
function parsesSafely(text: string): void {
  const t0 = performance.now();
  const r = parse({ name: 'mutant.mix', text });
  const ms = performance.now() - t0;
  // Generous: a clean parse of these files takes a few milliseconds; a recovery loop would take forever.
  expect(ms, text).toBeLessThan(2000);
  for (const d of r.diagnostics) {
    expect(CODES.has(d.code), `${d.code} ${d.message}`).toBe(true);
    expect(d.code, `${d.message}\n--- in ---\n${text}`).not.toBe(INTERNAL);
    expect(d.severity).toBe('error');
    if (d.span) {
      expect(d.span.start).toBeGreaterThanOrEqual(0);
      expect(d.span.end).toBeLessThanOrEqual(text.length);
      expect(d.span).toEqual(spanOf(text, d.span.start, d.span.end));
    }
  }
  if (r.program) checkTree(r.program, text);
  if (!r.program) expect(r.diagnostics.length, text).toBeGreaterThan(0);
}

/** Every node of a (possibly partial) program is complete enough to walk and lies inside the text. */
function checkTree(p: Program, text: string): void {
  for (const n of allNodes(p)) {
    expect(n.span.start).toBeGreaterThanOrEqual(0);
    expect(n.span.end).toBeLessThanOrEqual(text.length);
    expect(n.span.start).toBeLessThanOrEqual(n.span.end);
  }
}

type CharMutation = { kind: 'delete' | 'insert' | 'duplicate' | 'swap'; pos: number; len: number; ch: string };
const charMutation: fc.Arbitrary<CharMutation> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'duplicate', 'swap'),
  pos: fc.nat(),
  len: fc.integer({ min: 1, max: 12 }),
  ch: fc.constantFrom(...'{}()[]<>~=+-*/^@%!?:;,.#$&|\'"\n 0123456789eEx_/*'.split(''), '//', '/*', '*/', '///', '..', '->', '+=', '1e'),
});

/** Returns `text` with character-level damage: deleted, inserted, duplicated or swapped runs. */
function mutateChars(text: string, ms: CharMutation[]): string {
  let t = text;
  for (const m of ms) {
    const i = t.length ? m.pos % (t.length + 1) : 0;
    switch (m.kind) {
      case 'delete': t = t.slice(0, i) + t.slice(i + m.len); break;
      case 'insert': t = t.slice(0, i) + m.ch + t.slice(i); break;
      case 'duplicate': t = t.slice(0, i + m.len) + t.slice(i, i + m.len) + t.slice(i + m.len); break;
      case 'swap': {
        const j = t.length ? (i + m.len) % t.length : 0;
        const [a, b] = [Math.min(i, j), Math.max(i, j)];
        if (a < b && b < t.length) t = t.slice(0, a) + t[b] + t.slice(a + 1, b) + t[a] + t.slice(b + 1);
        break;
      }
    }
  }
  return t;
}

const TOKEN = /\s+|\/\/[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\d*\.?\d+(?:[eE][+-]?\d+)?|\.\.|->|\+=|==|!=|<=|>=|&&|\|\||./g;
const POOL = [...new Set([...corpus.flatMap((t) => t.match(TOKEN) ?? []).filter((t) => !/^\s/.test(t) && !t.startsWith('//')),
  '{', '}', '(', ')', '[', ']', '~', '->', '..', ',', ';', '=', '1e+', '3.', '/*', '///', 'model', 'for', 'in', 'let', 'target', '+='])];
type TokenMutation = { kind: 'delete' | 'insert' | 'duplicate' | 'swap'; pos: number; tok: number };
const tokenMutation: fc.Arbitrary<TokenMutation> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'duplicate', 'swap'),
  pos: fc.nat(),
  tok: fc.nat(),
});

/** Returns `text` with token-level damage (positions among non-blank tokens). */
function mutateTokens(text: string, ms: TokenMutation[]): string {
  const toks = text.match(TOKEN) ?? [];
  for (const m of ms) {
    const solid = toks.map((t, i) => (/^\s/.test(t) ? -1 : i)).filter((i) => i >= 0);
    if (!solid.length) break;
    const i = solid[m.pos % solid.length];
    switch (m.kind) {
      case 'delete': toks.splice(i, 1); break;
      case 'insert': toks.splice(i, 0, POOL[m.tok % POOL.length], ' '); break;
      case 'duplicate': toks.splice(i, 0, toks[i], ' '); break;
      case 'swap': { const j = solid[(m.pos + 1 + (m.tok % 5)) % solid.length]; [toks[i], toks[j]] = [toks[j], toks[i]]; break; }
    }
  }
  return toks.join('');
}

describe('robustness: damaged models never make parse throw or hang', () => {
  const source = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...corpus) },
    { weight: 1, arbitrary: arbProgram({ maxStatements: 4 }).map(printProgram) },
  );

  it('survives character-level deletions, insertions, duplications and swaps', () => {
    fc.assert(fc.property(source, fc.array(charMutation, { minLength: 1, maxLength: 6 }), (text, ms) => parsesSafely(mutateChars(text, ms))),
      { numRuns: 200, seed: 1 });
  });

  it('survives token-level deletions, insertions, duplications and swaps', () => {
    fc.assert(fc.property(source, fc.array(tokenMutation, { minLength: 1, maxLength: 6 }), (text, ms) => parsesSafely(mutateTokens(text, ms))),
      { numRuns: 200, seed: 2 });
  });

  it('survives arbitrary strings over the language alphabet', () => {
    const alphabet = fc.constantFrom(...'model data param latent let for in target x y ( ) [ ] { } < > = ~ + - * / ^ @ % ! ? : ; , . 1 2e 3.5 -> .. += // /* */ /// \n'.split(' '));
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 80 }).map((a) => a.join(' ')), (text) => parsesSafely(text)), { numRuns: 200, seed: 3 });
  });

  it('finishes on pathological inputs', () => {
    const inputs = [
      ')'.repeat(2000),
      `model m {${')'.repeat(2000)}}`,
      `model m {${'x ~ '.repeat(1000)}}`,
      `model m {${'let a = (1 +\n'.repeat(1000)}}`,
      `model m {\n  let a = ${Array(5000).fill('x').join(' + ')}\n}`,
      `model m {${'{'.repeat(1000)}`,
      `model m {\n${'for i in 1..N {\n'.repeat(90)}`,
      '/*'.repeat(500),
      `model m {\n  let a = ${'-'.repeat(20000)}x\n}`,
      `model m {\n  let a = x${'[1]'.repeat(2000)}\n}`,
      '\u0000\uFFFF\uD800'.repeat(300),
    ];
    for (const text of inputs) {
      const t0 = performance.now();
      expect(() => parse({ name: 'p.mix', text })).not.toThrow();
      expect(performance.now() - t0, text.slice(0, 40)).toBeLessThan(5000);
      parsesSafely(text);
    }
  });

  it('returns a diagnostic, not an exception, for text that is not a string', () => {
    const r = parse({ name: 'x', text: undefined as unknown as string });
    expect(r.program).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
  });
});
