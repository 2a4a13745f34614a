/**
 * Pass: chain detection and latent placement. A latent referenced as `z[t-1]` (or at a
 * constant step) is a chain: its factors become a forward-algorithm factor at
 * evaluation, linear in T rather than K^T. Any other latent lives in the plates of its
 * `~` statement and must be used only inside loops over those same ranges.
 */
import type { Diagnostic } from '../../diagnostics/diagnostic';
import type { Factor, IRProgram, LatentIndex } from '../types';
import { walkFactor } from '../walk';

/** Returns the IR with each latent's `plates`, `factors` and `chain` filled in. */
export function detectChains(input: IRProgram): { ir: IRProgram; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const ir: IRProgram = { ...input, latents: input.latents.map((l) => ({ ...l, factors: [], plates: [] })) };
  for (const lat of ir.latents) {
    const refs: { factor: Factor; index: LatentIndex[] }[] = [];
    for (const f of ir.factors) {
      walkFactor(f, (x) => { if (x.op === 'latent' && x.name === lat.name) refs.push({ factor: f, index: x.index }); });
      if (f.kind === 'latent' && f.site === lat.name) lat.factors.push(f.id);
    }
    const span = lat.span ?? refs[0]?.factor.span;
    if (lat.factors.length === 0) {
      diagnostics.push({ severity: 'error', code: 'E0408', message: `discrete latent '${lat.name}' has no distribution`, span,
        help: `give it one with ${lat.name}[n] ~ categorical(...)` });
      continue;
    }
    const isChain = refs.some((r) => r.index.some((ix) => 'at' in ix || ix.shift !== 0));
    if (isChain) {
      if (lat.shape.length !== 1 || refs.some((r) => r.index.length !== 1)) {
        diagnostics.push({ severity: 'error', code: 'E0409', message: `chain latent '${lat.name}' must be a one-dimensional array`, span,
          help: 'a chain is z[1], z[t] depending on z[t-1]: one index, along time' });
        continue;
      }
      if (refs.some((r) => r.index.some((ix) => 'shift' in ix && ix.shift !== 0 && ix.shift !== -1))) {
        diagnostics.push({ severity: 'error', code: 'E0410', message: `chain latent '${lat.name}' may look back one step only (${lat.name}[t-1])`, span });
        continue;
      }
      lat.chain = { axis: 0 };
      continue;
    }
    const def = ir.factors[lat.factors[0]];
    const defRef = def.value?.op === 'latent' ? def.value.index : [];
    lat.plates = defRef.map((ix) => ('plate' in ix ? ix.plate : ''));
    if (lat.factors.length > 1) {
      diagnostics.push({ severity: 'error', code: 'E0411', message: `discrete latent '${lat.name}' is given a distribution more than once`,
        span: ir.factors[lat.factors[1]].span });
      continue;
    }
    for (const r of refs) {
      const same = r.index.length === defRef.length && r.index.every((ix, i) => 'plate' in ix && ix.plate === lat.plates[i]);
      if (!same) {
        diagnostics.push({ severity: 'error', code: 'E0412',
          message: `discrete latent '${lat.name}' is used in a loop over another range than the one that defines it`,
          span: r.factor.span, help: `use it inside loops over ${lat.plates.join(', ') || 'no plate'} (the ranges of its ~ statement)` });
        break;
      }
    }
  }
  return { ir, diagnostics };
}
