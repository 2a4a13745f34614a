/**
 * The documentation stays true to the code: the generated reference tables of
 * docs/language.md are what scripts/gen-reference.ts produces from the registries now,
 * and every model in stdlib/, examples/ and the docs' ```mix blocks compiles cleanly
 * (```mix-error blocks must fail with the code their fence names).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { frontEnd } from '../../src/compile';
import { DISTRIBUTIONS } from '../../src/distributions/registry';
import { FUNCTIONS, OPERATORS } from '../../src/check/functions';
import { TYPE_BASES } from '../../src/check/declarations';
import { renderDiagnostics } from '../../src/diagnostics/diagnostic';
import { LANGUAGE_MD, SECTIONS, generateSection, markers, updateReference } from '../../scripts/gen-reference';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

/** Every fenced code block of a markdown file whose info string starts with `mix`. */
function mixBlocks(file: string): { info: string; code: string; line: number }[] {
  const text = read(file);
  const out: { info: string; code: string; line: number }[] = [];
  const re = /^```(mix[^\n]*)\n([\s\S]*?)^```\s*$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ info: m[1].trim(), code: m[2], line: text.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** Returns the rendered errors of a model, '' when it compiles. */
function errorsOf(text: string, name: string): string {
  const r = frontEnd(text, name);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  return errors.length ? renderDiagnostics(errors, r.source) : '';
}

const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);

describe('docs/language.md reference tables', () => {
  const text = read(LANGUAGE_MD);

  it('are what scripts/gen-reference.ts generates from the code (run it to update them)', () => {
    expect(text, `${LANGUAGE_MD} is stale: run \`npx tsx scripts/gen-reference.ts\``).toBe(updateReference(text));
  });

  it('list every distribution, function, operator and type base', () => {
    const section = (name: (typeof SECTIONS)[number]) => {
      const { begin, end } = markers(name);
      return text.slice(text.indexOf(begin), text.indexOf(end));
    };
    const dist = section('distributions');
    for (const d of DISTRIBUTIONS.values()) expect(dist, d.name).toContain(`**\`${d.name}(`);
    const fns = section('functions');
    for (const f of FUNCTIONS.values()) expect(fns, f.name).toContain(`| \`${f.signature}\``);
    for (const o of OPERATORS.values()) expect(fns, o.op).toContain(`| \`${o.signature.replace(/\|/g, '\\|')}\``);
    const types = section('types');
    for (const t of Object.keys(TYPE_BASES)) expect(types, t).toContain(`| \`${t}\` |`);
  });

  it('fails loudly on missing markers instead of dropping a section', () => {
    const { begin } = markers('types');
    expect(() => updateReference(text.replace(begin, ''))).toThrow(/missing the markers/);
  });

  it('generates each section deterministically', () => {
    for (const s of SECTIONS) expect(generateSection(s)).toBe(generateSection(s));
  });
});

describe('models that ship compile with no errors', () => {
  const models = [
    ...readdirSync(join(root, 'stdlib')).filter((f) => f.endsWith('.mix')).map((f) => `stdlib/${f}`),
    ...readdirSync(join(root, 'examples'), { withFileTypes: true }).filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(root, 'examples', d.name)).filter((f) => f.endsWith('.mix')).map((f) => `examples/${d.name}/${f}`)),
  ];

  it('finds the stdlib', () => {
    expect(models.filter((m) => m.startsWith('stdlib/')).length).toBeGreaterThan(10);
  });

  it.each(models)('%s', (path) => {
    expect(errorsOf(read(path), path)).toBe('');
  });
});

describe('code blocks in docs/*.md', () => {
  const blocks = docs.flatMap((file) => mixBlocks(file).map((b) => ({ ...b, file, where: `${file}:${b.line}` })));

  it('exist (the language reference has examples)', () => {
    expect(blocks.filter((b) => b.file === LANGUAGE_MD && b.info === 'mix').length).toBeGreaterThan(2);
  });

  it('use only the info strings `mix` and `mix-error CODE`', () => {
    const bad = blocks.filter((b) => b.info !== 'mix' && !/^mix-error E\d{4}$/.test(b.info));
    expect(bad.map((b) => `${b.where}: \`\`\`${b.info}`)).toEqual([]);
  });

  it.each(blocks.filter((b) => b.info === 'mix').map((b) => [b.where, b.code]))('```mix at %s compiles', (where, code) => {
    expect(errorsOf(code, where)).toBe('');
  });

  it.each(blocks.filter((b) => b.info.startsWith('mix-error')).map((b) => [b.where, b.info.split(/\s+/)[1], b.code]))(
    '```mix-error at %s fails with %s',
    (where, code, text) => {
      const r = frontEnd(text, where);
      expect(r.ir).toBeUndefined();
      expect(r.diagnostics.map((d) => d.code)).toContain(code);
    },
  );
});
