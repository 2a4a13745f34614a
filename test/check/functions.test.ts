import { describe, expect, it } from 'vitest';
import { FUNCTIONS, OPERATORS, functionNames, getFunction } from '../../src/check/functions';
import { isProblem } from '../../src/check/functions';
import type { Ty } from '../../src/check/types';

const SPEC = `exp log log1p expm1 sqrt square abs inv_logit logit log_inv_logit log1m_inv_logit softplus lgamma digamma
  sin cos tanh pow min max log_add_exp sum mean sd variance log_sum_exp prod softmax log_softmax cumsum dot transpose
  diag_matrix diagonal diag_pre_multiply diag_post_multiply tcrossprod crossprod rep ones zeros`.split(/\s+/);

const real = (...dims: number[]): Ty => ({ elem: 'real', shape: dims.map((n) => ({ kind: 'const', n })) });

describe('function table', () => {
  it('has exactly the specified functions, each with a signature and a one-line doc', () => {
    expect([...functionNames()].sort()).toEqual([...SPEC].sort());
    for (const f of FUNCTIONS.values()) {
      expect(f.signature.startsWith(`${f.name}(`)).toBe(true);
      expect(f.doc.length).toBeGreaterThan(10);
      expect(f.doc).not.toContain('\n');
      expect(f.minArgs).toBeLessThanOrEqual(f.maxArgs);
    }
  });

  it('has a typing rule for every operator of the grammar', () => {
    for (const op of ['+', '-', '*', '/', '%', '^', '@', '==', '!=', '<', '<=', '>', '>=', '&&', '||', '!', 'neg', '?:']) {
      expect(OPERATORS.get(op), op).toBeDefined();
    }
  });

  it('rejects bools in every numeric function, naming the function', () => {
    const bool: Ty = { elem: 'bool', shape: [] };
    for (const f of FUNCTIONS.values()) {
      if (f.category === 'constructor') continue;
      const args = Array.from({ length: f.minArgs }, () => bool);
      const r = f.result(args, args.map(() => ({ kind: 'any' })));
      expect(isProblem(r), f.name).toBe(true);
      if (isProblem(r)) expect(r.message).toContain(f.name);
    }
  });

  it('rejects a scalar for vector and matrix functions', () => {
    for (const name of ['softmax', 'log_softmax', 'cumsum', 'transpose', 'diag_matrix', 'diagonal', 'tcrossprod', 'crossprod']) {
      const r = getFunction(name)!.result([real()], [{ kind: 'any' }]);
      expect(isProblem(r) && r.problem, name).toBe('RankMismatch');
    }
  });

  it('checks inner dims of @ and dot only when both are constants', () => {
    const mm = OPERATORS.get('@')!;
    expect(isProblem(mm.result([real(2, 3), real(4)]))).toBe(true);
    expect(mm.result([real(2, 3), { elem: 'real', shape: [{ kind: 'size', name: 'K' }] }])).toEqual(real(2));
    expect(isProblem(mm.result([real(3), real(3, 2)]))).toBe(true);
    const dot = getFunction('dot')!;
    expect(isProblem(dot.result([real(3), real(4)], []))).toBe(true);
    expect(dot.result([real(5, 3), real(3)], [])).toEqual(real(5));
  });
});
