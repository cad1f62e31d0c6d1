// The slow-motion panel's data, per method: which algorithm lines each stage runs, which update formula is
// shown (ALUM's variants, the relatives' own from docs/alum-step.md "Relatives"), the stage names, and the facts
// at each stage (the inner loss before and after every inner step, so K > 1 shows each one).
import { describe, expect, it } from 'vitest';

import type { TokenView } from '../../protocol/messages.ts';
import { METHODS, type Method } from '../coreConfig.ts';
import {
  linesOf,
  METHOD_ALGORITHM,
  stageFacts,
  stageName,
  updateFormula,
  VARIANT_UPDATE,
} from './slowMotionSteps.ts';

/** A traced step with K inner steps on two tokens: delta grows by 0.1 and the inner loss by 1 per stage. */
function view(method: Method, k: number): TokenView {
  const stage = (kind: 'init' | 'ascent' | 'outer', i: number) => ({
    kind,
    k: kind === 'outer' ? k : i,
    delta: [0.1 * i, 0.1 * i + 0.2],
    grad: kind === 'ascent' ? [1, 3] : null,
    loss: kind === 'outer' ? k : i,
  });
  return {
    ...{ row: 0, step: 5, tokens: ['[CLS]', '[SEP]'], norm: 'inf', method, variant: 'paper' },
    stages: [
      stage('init', 0),
      ...Array.from({ length: k }, (_, i) => stage('ascent', i + 1)),
      stage('outer', k),
    ],
    ...{ klInit: 0, klAdv: k, taskLoss: 0.7, advLoss: 0.25, totalLoss: 0.95 },
  };
}

const facts = (v: TokenView, i: number) => Object.fromEntries(stageFacts(v, i));

describe('the lines each stage runs', () => {
  it('ALUM: Algorithm 1, line 3 at init, 4-6 per ascent step, 8-9 at the outer update', () => {
    expect(linesOf('alum', 'init')).toEqual([3]);
    expect(linesOf('alum', 'ascent')).toEqual([4, 5, 6]);
    expect(linesOf('alum', 'outer')).toEqual([8, 9]);
  });

  it('the relatives: their own lines; r3f has none for an ascent, freelb runs a pass in both', () => {
    expect(linesOf('r3f', 'ascent')).toEqual([]);
    expect(linesOf('r3f', 'outer')).toEqual([2, 3]);
    expect(linesOf('fgm', 'ascent')).toEqual([2, 3]);
    expect(linesOf('pgd', 'ascent')).toEqual([2, 3, 4]);
    expect(linesOf('freelb', 'ascent')).toEqual([2, 3, 4, 5]);
    expect(linesOf('freelb', 'outer')).toEqual([2, 3, 6]);
    expect(linesOf('smart', 'ascent')).toEqual(linesOf('alum', 'ascent'));
    expect(METHOD_ALGORITHM.smart.lines.find((l) => l.line === 8)?.text).toContain('μ ℓ_s(f(x; θ), f(x; θ̃))');
  });

  it.each(METHODS)('%s: every stage runs at least one line, and lines are numbered once', (method) => {
    const numbers = METHOD_ALGORITHM[method].lines.map((l) => l.line);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(linesOf(method, 'outer').length).toBeGreaterThan(0);
    if (method !== 'standard') expect(linesOf(method, 'init').length).toBeGreaterThan(0);
  });
});

describe('the update formula shown', () => {
  it('follows the variant for alum and smart, is paper for pgd whatever the variant, and its own otherwise', () => {
    expect(updateFormula('alum', 'mtdnn-head')).toBe(VARIANT_UPDATE['mtdnn-head']);
    expect(updateFormula('smart', 'paper-raw')).toBe(VARIANT_UPDATE['paper-raw']);
    expect(updateFormula('pgd', 'mtdnn-head')).toBe(VARIANT_UPDATE.paper);
    expect(updateFormula('fgm', 'paper')).toContain('ε g / ‖g‖₂');
    expect(updateFormula('freelb', 'paper')).toContain('max(n(g_t), 1e-8)');
    expect(updateFormula('r3f', 'paper')).toBeNull();
    expect(updateFormula('standard', 'paper')).toBeNull();
  });
});

describe('stage names', () => {
  it('name what the perturbation is for each method', () => {
    expect(stageName('alum', { kind: 'init', k: 0 })).toBe('δ₀ (initial noise)');
    expect(stageName('fgm', { kind: 'init', k: 0 })).toBe('r = 0 (FGM starts from zero)');
    expect(stageName('r3f', { kind: 'init', k: 0 })).toBe('z (the random noise)');
    expect(stageName('pgd', { kind: 'ascent', k: 2 })).toBe('after ascent step 2');
    expect(stageName('freelb', { kind: 'ascent', k: 1 })).toBe('after pass 1 (δ_1)');
    expect(stageName('smart', { kind: 'outer', k: 2 })).toBe('used by the outer update');
  });
});

describe('stage facts', () => {
  it('K = 3: the inner loss before and after each ascent step, and the norms before and after', () => {
    const v = view('alum', 3);
    for (let i = 1; i <= 3; i++) {
      const f = facts(v, i);
      expect(f['inner loss before (ℓ(f(x), f(x + δ)))']).toBe(String(i - 1));
      expect(f['inner loss after (ℓ(f(x), f(x + δ)))']).toBe(String(i));
      expect(f['mean per-token ‖δ‖ before']).toBe((0.1 * (i - 1) + 0.1).toPrecision(4));
      expect(f['mean per-token ‖δ‖ after']).toBe((0.1 * i + 0.1).toPrecision(4));
      expect(f['mean per-token ‖g‖']).toBe('2');
    }
    expect(facts(v, 0)['mean per-token ‖δ‖ before']).toBe('0 (no δ yet)');
    expect(facts(v, 0)['inner loss at δ₀ (ℓ(f(x), f(x + δ)))']).toBe('0');
    expect(stageFacts(v, 9)).toEqual([]);
  });

  it('the outer update names each method’s losses', () => {
    expect(facts(view('alum', 1), 2)).toMatchObject({
      'task loss ℓ(f(x), y)': '0.7000',
      'adversarial sym-KL': '0.2500',
      'total = task + α · adv': '0.9500',
    });
    expect(facts(view('freelb', 2), 3)['mean of the K passes’ task losses']).toBe('0.2500');
    expect(facts(view('smart', 1), 2)['total = task + α · adv + μ · proximal']).toBe('0.9500');
    expect(facts(view('r3f', 0), 1)['total = task + λ · adv']).toBe('0.9500');
    expect(facts(view('fgm', 1), 1)['inner loss after (task loss at x + r)']).toBe('1');
  });
});
