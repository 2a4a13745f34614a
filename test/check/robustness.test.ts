import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '../../src/parser';
import { check } from '../../src/check';
import { renderDiagnostics } from '../../src/diagnostics/diagnostic';
import type { Program } from '../../src/ast/nodes';

const stdlibDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'stdlib');
const files = readdirSync(stdlibDir).filter((f) => f.endsWith('.mix')).sort();
const texts = files.map((f) => readFileSync(join(stdlibDir, f), 'utf8'));

const TOKEN = /\s+|\/\/[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\d*\.?\d+(?:[eE][+-]?\d+)?|\.\.|->|\+=|==|!=|<=|>=|&&|\|\||./g;
const tokenize = (t: string): string[] => t.match(TOKEN) ?? [];
const isSpace = (t: string) => /^\s/.test(t) || t.startsWith('//');

const EXTRA = ['{', '}', '(', ')', '[', ']', '~', '->', '..', ',', ';', '=', '0', '1.5', '1e', 'for', 'in', 'let', 'data', 'param',
  'latent', 'target', '+=', 'mixture', 'censored', 'truncated', 'k', '?', ':', '!', '@', '^', '%', '<', '>', 'lower', 'simplex', 'int', 'x'];
const POOL = [...new Set([...texts.flatMap(tokenize).filter((t) => !isSpace(t)), ...EXTRA])];

type Mutation = { kind: 'delete' | 'duplicate' | 'replace' | 'swap' | 'insert'; pos: number; tok: number };
const mutation = fc.record({
  kind: fc.constantFrom('delete', 'duplicate', 'replace', 'swap', 'insert'),
  pos: fc.nat(),
  tok: fc.nat(),
}) as fc.Arbitrary<Mutation>;

/** Returns the text with the token-level mutations applied (positions among non-space tokens). */
function mutate(text: string, ms: Mutation[]): string {
  const toks = tokenize(text);
  for (const m of ms) {
    const solid = toks.map((t, i) => (isSpace(t) ? -1 : i)).filter((i) => i >= 0);
    if (solid.length === 0) break;
    const i = solid[m.pos % solid.length];
    const pick = POOL[m.tok % POOL.length];
    switch (m.kind) {
      case 'delete': toks.splice(i, 1); break;
      case 'duplicate': toks.splice(i, 0, toks[i], ' '); break;
      case 'replace': toks[i] = pick; break;
      case 'swap': { const j = solid[(m.pos + 1) % solid.length]; [toks[i], toks[j]] = [toks[j], toks[i]]; break; }
      case 'insert': toks.splice(i, 0, pick, ' '); break;
    }
  }
  return toks.join('');
}

/** Parses and checks; returns the diagnostics (throws only on a bug). */
function frontEnd(text: string) {
  const source = { name: 'mutant.mix', text };
  const parsed = parse(source);
  const ds = [...parsed.diagnostics];
  if (parsed.program) ds.push(...check(parsed.program, source).diagnostics);
  renderDiagnostics(ds, source);
  return ds;
}

describe('robustness', () => {
  it('every stdlib model checks cleanly before mutation (the property starts from valid input)', () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
    for (const t of texts) expect(frontEnd(t)).toEqual([]);
  });

  it('token-level mutations of the stdlib never make parse + check throw or hit an internal error', () => {
    fc.assert(
      fc.property(fc.nat({ max: files.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (f, ms) => {
        const ds = frontEnd(mutate(texts[f], ms));
        for (const d of ds) {
          expect(d.code).not.toBe('E0399');
          expect(typeof d.message).toBe('string');
          expect(d.message.length).toBeGreaterThan(0);
        }
      }),
      { seed: 20240611, numRuns: 600 },
    );
  });

  it('deleting any single field of any node of a parsed stdlib AST never makes check throw (exhaustive)', () => {
    let cases = 0;
    texts.forEach((text, f) => {
      const program = parse({ name: files[f], text }).program!;
      const paths: (string | number)[][] = [];
      const walk = (v: unknown, path: (string | number)[]) => {
        if (!v || typeof v !== 'object') return;
        for (const [k, c] of Object.entries(v)) {
          if (k === 'span' || k === 'ty') continue;
          const p = [...path, Array.isArray(v) ? Number(k) : k];
          paths.push(p);
          walk(c, p);
        }
      };
      walk(program, []);
      for (const path of paths) {
        const copy = structuredClone(program);
        let parent: any = copy;
        for (const k of path.slice(0, -1)) parent = parent[k];
        delete parent[path[path.length - 1]];
        const r = check(copy, { name: files[f], text });
        const internal = r.diagnostics.filter((d) => d.code === 'E0399');
        expect(internal, `${files[f]}: deleting ${path.join('.')}`).toEqual([]);
        cases++;
      }
    });
    expect(cases).toBeGreaterThan(1000);
  });

  it('returns no diagnostics and no throw for an empty model and a non-object program', () => {
    expect(frontEnd('model m { }')).toEqual([]);
    expect(() => check(undefined as unknown as Program)).not.toThrow();
  });
});
