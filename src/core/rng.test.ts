// The RNG's state: getState / setState replays every later draw exactly, and a bad state is refused.
import { describe, expect, it } from 'vitest';

import { makeRng, mulberry32 } from './rng.ts';

describe('Rng state', () => {
  it('setState(getState()) replays the following draws of every kind', () => {
    const a = makeRng(42);
    for (let i = 0; i < 5; i++) a.normal();
    const saved = a.getState();
    const draws = () => [a.uniform(), a.normal(), a.int(1000), a.seed()];
    const first = draws();
    const b = makeRng(7);
    b.setState(saved);
    expect([b.uniform(), b.normal(), b.int(1000), b.seed()]).toEqual(first);
    a.setState(saved);
    expect(draws()).toEqual(first);
  });

  it('draws the same stream as before its state was exposed (values of the previous rng.ts, seed 1)', () => {
    const r = makeRng(1);
    expect([r.uniform(), r.normal(), r.int(1000), r.seed()]).toEqual([
      0.6270739405881613, -0.07292188865544223, 981, 2079575700,
    ]);
    expect(mulberry32(1)()).toBe(0.6270739405881613);
  });

  it('refuses a state that is not a uint32 with one line', () => {
    expect(() => makeRng(1).setState(2 ** 32)).toThrow(
      'RNG state must be an integer in [0, 2^32), got 4294967296',
    );
    expect(() => makeRng(1).setState(0.5)).toThrow(/got 0\.5/);
  });
});
