/** Prints the IR as text, for `mixppl ir` and for reading tests. */
import type { IRDim, IRDist, IRExpr, IRProgram } from './types';

export function printIRExpr(e: IRExpr): string {
  switch (e.op) {
    case 'const': return String(e.value);
    case 'data': return `data.${e.name}`;
    case 'param': return `param.${e.name}`;
    case 'let': return `let.${e.name}`;
    case 'size': return `size.${e.name}`;
    case 'loop': return `@${e.plate}`;
    case 'latent': return `latent.${e.name}${e.index.length ? `[${e.index.map((i) => ('at' in i ? String(i.at) : `@${i.plate}${i.shift ? (i.shift > 0 ? `+${i.shift}` : i.shift) : ''}`)).join(', ')}]` : ''}`;
    case 'index': return `${printIRExpr(e.target)}[${e.indices.map(printIRExpr).join(', ')}]`;
    case 'call': return `${e.fn}(${e.args.map(printIRExpr).join(', ')})`;
    case 'vector': return `[${e.elements.map(printIRExpr).join(', ')}]`;
    case 'where': return `where(${printIRExpr(e.cond)}, ${printIRExpr(e.then)}, ${printIRExpr(e.else)})`;
  }
}

function printDist(d: IRDist): string {
  if (d.kind === 'family') return `${d.family}(${d.args.map(printIRExpr).join(', ')})`;
  return `${d.kind}(${printDist(d.base)}, ${printIRExpr(d.lower)}, ${printIRExpr(d.upper)})`;
}

const dim = (d: IRDim) => (d.kind === 'const' ? String(d.n) : d.kind === 'size' ? d.name : printIRExpr(d.expr));
const shape = (s: IRDim[]) => (s.length ? `[${s.map(dim).join(', ')}]` : '');

export function printIR(ir: IRProgram): string {
  const out: string[] = [`ir ${ir.name}`];
  for (const s of ir.sizes) out.push(`  size ${s.name}${s.declared ? ' (declared)' : ''} <- ${s.from.map((f) => `${f.data}.dim${f.axis + 1}`).join(', ') || 'given'}`);
  for (const d of ir.data) out.push(`  data ${d.name}: ${d.elem}${shape(d.shape)}`);
  for (const p of ir.params) {
    const b = [p.constraint.lower && `lower=${printIRExpr(p.constraint.lower)}`, p.constraint.upper && `upper=${printIRExpr(p.constraint.upper)}`].filter(Boolean);
    out.push(`  param ${p.name}: ${p.constraint.name}${b.length ? `<${b.join(', ')}>` : ''}${shape(p.shape)}`);
  }
  for (const l of ir.latents) {
    const how = l.chain ? 'chain (forward algorithm)' : `plates [${l.plates.join(', ')}]`;
    out.push(`  latent ${l.name}${shape(l.shape)}: enumerated by ${l.enumeration?.family ?? '?'}, ${how}, factors ${l.factors.map((f) => `#${f}`).join(' ')}`);
  }
  for (const p of ir.plates) out.push(`  plate ${p.id}: ${p.varName} in ${printIRExpr(p.lo)}..${printIRExpr(p.hi)}`);
  for (const l of ir.lets) out.push(`  let ${l.name} = ${printIRExpr(l.expr)}`);
  for (const f of ir.factors) {
    const where = f.plates.length ? ` in [${f.plates.join(', ')}]` : '';
    const lat = f.latents.length ? ` {${f.latents.join(', ')}}` : '';
    const body = f.kind === 'target' ? `target += ${printIRExpr(f.term!)}` : `${printIRExpr(f.value!)} ~ ${printDist(f.dist!)}`;
    out.push(`  #${f.id} ${f.kind}${where}${lat}: ${body}`);
  }
  const st = ir.structure;
  if (st) {
    for (const c of st.conjugate) out.push(`  conjugate ${c.param}: ${c.kind} (prior #${c.prior}, likelihood ${c.likelihood.map((x) => `#${x}`).join(' ')})`);
  }
  return out.join('\n');
}
