/**
 * Golden tests of the front end's diagnostics. Every `good/*.mix` and `stdlib/*.mix`
 * must parse and check with no diagnostics; every `bad/NN-name.mix` must render exactly
 * its `bad/NN-name.expected`. `UPDATE_GOLDEN=1 npx vitest run test/golden` rewrites the
 * .expected files: read every changed one before accepting it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '../../src/parser';
import { check } from '../../src/check';
import { renderDiagnostics } from '../../src/diagnostics/diagnostic';
import type { Diagnostic } from '../../src/diagnostics/diagnostic';

const here = dirname(fileURLToPath(import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

/** Returns the diagnostics of parse + check, as the front end reports them. */
function frontEnd(name: string, text: string): { diagnostics: Diagnostic[]; rendered: string } {
  const source = { name, text };
  const parsed = parse(source);
  const diagnostics = [...parsed.diagnostics];
  if (parsed.program) diagnostics.push(...check(parsed.program, source).diagnostics);
  return { diagnostics, rendered: renderDiagnostics(diagnostics, source) };
}

const mixFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.mix')).sort();

describe('good models check cleanly', () => {
  const dirs = [join(here, 'good'), join(here, '..', '..', 'stdlib')];
  const all = dirs.flatMap((d) => mixFiles(d).map((f) => ({ dir: d, file: f })));

  it('there are at least 15 of them', () => {
    expect(all.length).toBeGreaterThanOrEqual(15);
  });

  for (const { dir, file } of all) {
    it(`${dir.endsWith('stdlib') ? 'stdlib' : 'good'}/${file}`, () => {
      const text = readFileSync(join(dir, file), 'utf8');
      expect(frontEnd(file, text).rendered).toBe('');
    });
  }

  it('every stdlib model has a /// doc comment naming its data and params', () => {
    const dir = join(here, '..', '..', 'stdlib');
    for (const file of mixFiles(dir)) {
      const program = parse({ name: file, text: readFileSync(join(dir, file), 'utf8') }).program;
      expect(program?.doc, file).toMatch(/Data:/);
      expect(program?.doc, file).toMatch(/Params:/);
    }
  });
});

describe('bad models render their expected diagnostics', () => {
  const dir = join(here, 'bad');
  const files = mixFiles(dir);

  it('there are at least 35 of them, named NN-short-name', () => {
    expect(files.length).toBeGreaterThanOrEqual(35);
    for (const f of files) expect(f).toMatch(/^\d\d-[a-z0-9-]+\.mix$/);
  });

  for (const file of files) {
    it(file, () => {
      const text = readFileSync(join(dir, file), 'utf8');
      const { diagnostics, rendered } = frontEnd(file, text);
      expect(diagnostics.some((d) => d.severity === 'error'), 'a bad model must have an error').toBe(true);
      const expectedPath = join(dir, file.replace(/\.mix$/, '.expected'));
      if (update) {
        writeFileSync(expectedPath, `${rendered}\n`);
        return;
      }
      expect(existsSync(expectedPath), `missing ${expectedPath}; run UPDATE_GOLDEN=1`).toBe(true);
      expect(`${rendered}\n`).toBe(readFileSync(expectedPath, 'utf8'));
    });
  }
});
