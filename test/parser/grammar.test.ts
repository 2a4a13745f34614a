import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grammarEbnf, railroadHtml } from '../../src/parser/ebnf';

const grammarDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'grammar');
const stale = 'stale: regenerate with `npx tsx grammar/generate.ts`';

describe('grammar reference', () => {
  it('grammar/mix.ebnf is what the parser generates', () => {
    expect(readFileSync(join(grammarDir, 'mix.ebnf'), 'utf8'), stale).toBe(grammarEbnf());
  });

  it('grammar/railroad.html is what the parser generates', () => {
    expect(readFileSync(join(grammarDir, 'railroad.html'), 'utf8'), stale).toBe(railroadHtml());
  });

  it('has one EBNF rule per parser rule, with precedence levels in order', () => {
    const ebnf = grammarEbnf();
    const rules = [...ebnf.matchAll(/^(\w+) ::=/gm)].map((m) => m[1]);
    expect(rules.slice(0, 2)).toEqual(['program', 'statement']);
    const levels = ['expression', 'orExpr', 'andExpr', 'comparison', 'additive', 'multiplicative', 'unary', 'power', 'postfix', 'primary'];
    expect(levels.map((l) => rules.indexOf(l))).toEqual([...levels.map((l) => rules.indexOf(l))].sort((a, b) => a - b));
    expect(ebnf).toContain("power ::= postfix ( '^' unary )?");
    expect(ebnf).toContain('typeBound ::= NAME \'=\' additive');
  });
});
