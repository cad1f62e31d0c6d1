/** Nothing trains while a form field is invalid (issue 7): Start, Step and Reset refuse in one line. */
import { afterEach, describe, expect, it } from 'vitest';

import * as actions from './actions.ts';
import { appStore, initialState } from './store.ts';

afterEach(() => appStore.setState(initialState(), true));

describe('form gate', () => {
  it('refuses Start, Step and Reset while a field is invalid, naming the problem', async () => {
    const line = 'config field \'alpha\' must be a finite number in decimal notation, got "banana"';
    actions.setFormErrors({ alpha: line });
    expect(actions.formProblem(appStore.getState())).toBe(`fix the form first: ${line}`);
    await expect(actions.start()).rejects.toThrow(`fix the form first: ${line}`);
    await expect(actions.step(1)).rejects.toThrow('fix the form first');
    actions.setFormErrors({});
    expect(actions.formProblem(appStore.getState())).toBeNull();
  });
});
