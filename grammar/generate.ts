/**
 * Regenerates grammar/mix.ebnf and grammar/railroad.html from the parser:
 * `npx tsx grammar/generate.ts`. test/parser/grammar.test.ts fails when they are stale.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grammarEbnf, railroadHtml } from '../src/parser/ebnf';

const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(join(here, 'mix.ebnf'), grammarEbnf());
writeFileSync(join(here, 'railroad.html'), railroadHtml());
console.log(`wrote ${join(here, 'mix.ebnf')} and ${join(here, 'railroad.html')}`);
