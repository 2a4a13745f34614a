/**
 * compile(): .mix text (or a path to a .mix file) -> a Model.
 * parse -> check -> lower -> passes (chains, enumeration, structure).
 */
import { readFileSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { MixError, type Diagnostic } from './diagnostics/diagnostic';
import type { Source } from './diagnostics/span';
import { parse } from './parser';
import { check, type CheckResult } from './check';
import { lower } from './ir/lower';
import { detectChains } from './ir/passes/chains';
import { enumerate } from './ir/passes/enumerate';
import { structure } from './ir/passes/structure';
import type { IRProgram } from './ir/types';
import { Model } from './model/model';

export interface CompileOptions {
  /** Name shown in diagnostics (default: the file name, or `<input>`). */
  name?: string;
}

/** The result of the front end: an IR or every diagnostic found. */
export interface FrontEndResult {
  ir?: IRProgram;
  /** The checked AST and symbols (present when checking ran). */
  checked?: CheckResult;
  diagnostics: Diagnostic[];
  source: Source;
}

/** Runs the front end without throwing; `ir` is undefined when there are errors. */
export function frontEnd(text: string, name = '<input>'): FrontEndResult {
  const source: Source = { name, text };
  const parsed = parse(source);
  const diagnostics: Diagnostic[] = [...parsed.diagnostics];
  if (!parsed.program) return { diagnostics, source };
  const checked = check(parsed.program, source);
  diagnostics.push(...checked.diagnostics);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics, source };
  const lowered = lower(checked);
  diagnostics.push(...lowered.diagnostics);
  if (!lowered.ir) return { diagnostics, source, checked };
  let ir = lowered.ir;
  for (const pass of [detectChains, enumerate]) {
    const r = pass(ir);
    diagnostics.push(...r.diagnostics);
    ir = r.ir;
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics, source, checked };
  ir = structure(ir);
  return { ir, diagnostics, source, checked };
}

/** Reads `.mix` text from a path, or returns the argument itself when it is model text. */
function readInput(input: string, opts: CompileOptions): { text: string; name: string } {
  const looksLikePath = !input.includes('\n') && !input.includes('{') && /\.mix$/.test(input.trim());
  if (looksLikePath) {
    const path = input.trim();
    if (!existsSync(path)) throw new MixError([{ severity: 'error', code: 'E0900', message: `no such model file: ${path}` }]);
    return { text: readFileSync(path, 'utf8'), name: opts.name ?? basename(path) };
  }
  return { text: input, name: opts.name ?? '<input>' };
}

/**
 * Returns the compiled model for `.mix` source text or a path to a `.mix` file.
 * Throws a MixError carrying every diagnostic when the model has errors.
 *
 * @example
 * const model = compile(`model m { data y: real[N]  param mu: real  mu ~ normal(0, 10)  y ~ normal(mu, 1) }`);
 * const fit = model.bind({ y: [0.1, -0.3, 0.8] });
 * fit.logDensity({ mu: 0.2 });
 */
export function compile(input: string, opts: CompileOptions = {}): Model {
  const { text, name } = readInput(input, opts);
  const r = frontEnd(text, name);
  if (!r.ir) throw new MixError(r.diagnostics.filter((d) => d.severity === 'error'), r.source);
  return new Model(r.ir, r.checked!, r.source, r.diagnostics);
}
