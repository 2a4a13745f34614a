/**
 * Pass: enumeration. Every discrete latent is summed out of the joint density by the
 * evaluator (log-sum-exp over its support), never by the user; this pass records which
 * distribution gives each latent its finite support and rejects latents whose
 * distribution is not finite.
 */
import type { Diagnostic } from '../../diagnostics/diagnostic';
import type { IRProgram } from '../types';

/** Distributions whose support is finite and can be enumerated, with their first value. */
export const ENUMERABLE: Record<string, { first: number }> = {
  categorical: { first: 1 }, categorical_logit: { first: 1 },
  bernoulli: { first: 0 }, bernoulli_logit: { first: 0 }, binomial: { first: 0 },
};

export function enumerate(input: IRProgram): { ir: IRProgram; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const ir: IRProgram = { ...input, latents: input.latents.map((l) => ({ ...l })) };
  for (const lat of ir.latents) {
    for (const id of lat.factors) {
      const f = ir.factors[id];
      const d = f.dist!;
      const fam = d.kind === 'family' ? d.family : d.base.family;
      if (d.kind !== 'family' || !ENUMERABLE[fam]) {
        diagnostics.push({ severity: 'error', code: 'E0420', message: `discrete latent '${lat.name}' has distribution '${d.kind === 'family' ? fam : d.kind}', which cannot be enumerated`,
          span: f.span, help: `a latent needs a finite distribution: ${Object.keys(ENUMERABLE).join(', ')}` });
        continue;
      }
      lat.enumeration ??= { family: fam, factor: id };
    }
  }
  return { ir, diagnostics };
}
