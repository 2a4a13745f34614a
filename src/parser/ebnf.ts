/**
 * The grammar reference, generated from the parser itself (so it cannot drift): an
 * EBNF text (W3C notation: `?` optional, `*` zero or more, `+` one or more, `|`
 * alternatives) and chevrotain's railroad diagrams. grammar/generate.ts writes both
 * to grammar/; a test fails when the committed files are stale.
 */
import { createSyntaxDiagramsCode } from 'chevrotain';
import type { ISerializedGast } from 'chevrotain';
import { mixParser } from './parser';
import { Identifier, KEYWORDS, WELL_FORMED_NUMBER } from './tokens';

/** Token names that read better as lexical classes than as their labels. */
const TERMINAL_NAMES: Record<string, string> = { Identifier: 'NAME', NumberLiteral: 'NUMBER' };

type Gast = ISerializedGast & { name?: string; label?: string; definition?: Gast[]; separator?: Gast };

/** Returns the EBNF of one grammar element; `wrap` asks for parentheses around an alternation or sequence. */
function element(g: Gast): string {
  switch (g.type) {
    case 'Terminal':
      return TERMINAL_NAMES[g.name ?? ''] ?? g.label ?? `'${g.name}'`;
    case 'NonTerminal':
      return g.name ?? '?';
    case 'Alternative':
      return sequence(g.definition ?? []);
    case 'Alternation':
      return `( ${(g.definition ?? []).map(element).join(' | ')} )`;
    case 'Option':
      return `${group(g.definition ?? [])}?`;
    case 'Repetition':
      return `${group(g.definition ?? [])}*`;
    case 'RepetitionMandatory':
      return `${group(g.definition ?? [])}+`;
    case 'RepetitionWithSeparator':
      return `( ${sequence(g.definition ?? [])} ( ${element(g.separator!)} ${sequence(g.definition ?? [])} )* )?`;
    case 'RepetitionMandatoryWithSeparator':
      return `${sequence(g.definition ?? [])} ( ${element(g.separator!)} ${sequence(g.definition ?? [])} )*`;
    default:
      return `/* ${g.type} */`;
  }
}

function sequence(items: Gast[]): string {
  return items.map(element).join(' ');
}

/** Returns `items` as one operand of a postfix `?`, `*` or `+`. */
function group(items: Gast[]): string {
  if (items.length === 1 && (items[0].type === 'Terminal' || items[0].type === 'NonTerminal' || items[0].type === 'Alternation')) {
    return element(items[0]);
  }
  return `( ${sequence(items)} )`;
}

/** Returns one rule; a rule that is a single alternation gets one alternative a line. */
function rule(r: Gast): string {
  const name = r.name ?? '?';
  const def = r.definition ?? [];
  if (def.length === 1 && def[0].type === 'Alternation') {
    const pad = ' '.repeat(name.length + 3);
    return `${name} ::= ${(def[0].definition ?? []).map(element).join(`\n${pad}| `)}`;
  }
  return `${name} ::= ${sequence(def)}`;
}

/** Returns the grammar of `.mix` as EBNF text (rules in the parser's order, then the lexical classes). */
export function grammarEbnf(): string {
  const rules = mixParser().getSerializedGastProductions() as Gast[];
  const lines = [
    '/* The .mix grammar. Generated from src/parser/parser.ts by `npx tsx grammar/generate.ts`; do not edit. */',
    '/* Notation: W3C EBNF. X? optional, X* zero or more, X+ one or more, X | Y alternatives, quoted text literal. */',
    '/* Whitespace and newlines separate tokens and are otherwise ignored; `;` between statements is optional. */',
    '',
    ...rules.flatMap((r) => [rule(r), '']),
    '/* Lexical classes */',
    '',
    `NAME ::= /${Identifier.PATTERN instanceof RegExp ? Identifier.PATTERN.source : ''}/  /* except the keywords: ${KEYWORDS.join(' ')} */`,
    '',
    `NUMBER ::= /${WELL_FORMED_NUMBER.source.replace(/^\^|\$$/g, '')}/  /* isInt when digits only */`,
    '',
    '/* Comments: // to the end of the line, or a block between slash-star and star-slash. Doc comments (/// lines, or a block',
    '   opened with slash-star-star) document the model or declaration right below them. */',
    '',
  ];
  return lines.join('\n');
}

/** Returns the railroad diagrams of the grammar as a standalone HTML page. */
export function railroadHtml(): string {
  return createSyntaxDiagramsCode(mixParser().getSerializedGastProductions());
}
