import { describe, expect, it } from 'vitest';

import {
  countParams,
  DEFAULT_CONFIG,
  defaultLr,
  FINETUNE_LR,
  flagName,
  modelConfigFor,
  PAGE_DEFAULT_CONFIG,
  resolveConfig,
  validateConfigPatch,
  withInitFollowing,
} from './config.ts';

describe('config', () => {
  it('validates with one-line errors naming the field', () => {
    expect(() => validateConfigPatch({ alpha: -1 })).toThrow(
      "config field 'alpha' must be in [0, 1000], got -1",
    );
    expect(() => validateConfigPatch({ k: 1.5 })).toThrow("config field 'k' must be an integer, got 1.5");
    expect(() => validateConfigPatch({ variant: 'x' })).toThrow(
      "config field 'variant' must be one of paper|paper-raw|mtdnn-2020|mtdnn-head",
    );
    expect(() => validateConfigPatch({ advDropout: 'sometimes' })).toThrow(
      'config field \'advDropout\' must be one of same|fresh|off, got "sometimes"',
    );
    expect(() => validateConfigPatch({ detachEmbedding: 'yes' })).toThrow(
      'config field \'detachEmbedding\' must be true or false, got "yes"',
    );
    expect(() => validateConfigPatch({ detachEmbedding: 1 })).toThrow(
      "config field 'detachEmbedding' must be true or false",
    );
    expect(() => validateConfigPatch({ nope: 1 })).toThrow("unknown config field 'nope'");
    expect(() => validateConfigPatch({ lr: 'abc' })).toThrow("config field 'lr' must be a finite number");
  });

  it('accepts numbers given as strings (URL, CLI)', () => {
    expect(resolveConfig({ alpha: '2.5', batchSize: '8', model: 'nano' })).toEqual({
      ...DEFAULT_CONFIG,
      alpha: 2.5,
      batchSize: 8,
      model: 'nano',
    });
  });

  it('takes booleans as true/false, given as booleans or strings (URL, CLI, form)', () => {
    expect(validateConfigPatch({ detachEmbedding: 'true' })).toEqual({ detachEmbedding: true });
    expect(validateConfigPatch({ detachEmbedding: false })).toEqual({ detachEmbedding: false });
    expect(
      resolveConfig({ innerLoss: 'stable-kl', innerReduction: 'elementmean', norm: 'l2' }),
    ).toMatchObject({
      innerLoss: 'stable-kl',
      innerReduction: 'elementmean',
      norm: 'l2',
    });
  });

  it('kebab-cases flag names', () => {
    expect(flagName('batchSize')).toBe('batch-size');
    expect(flagName('alpha')).toBe('alpha');
    expect(flagName('detachEmbedding')).toBe('detach-embedding');
  });

  it('counts parameters like BertForSequenceClassification', () => {
    // nano fixture: 20,130 parameters (scripts/golden/make_golden.py prints it): vocab 40, max positions 16.
    const nano = { ...modelConfigFor('nano', 40, 2, 16), numLayers: 2 };
    expect(countParams(nano)).toBe(20130);
    // BERT-base (vocab 30522, 512 positions, 2 labels) has 109,483,778 parameters in transformers.
    const base = {
      vocabSize: 30522,
      hiddenSize: 768,
      numLayers: 12,
      numHeads: 12,
      intermediateSize: 3072,
      maxPositions: 512,
      typeVocabSize: 2,
      numLabels: 2,
      layerNormEps: 1e-12,
    };
    expect(countParams(base)).toBe(109483778);
  });
});

describe('where a run starts (init)', () => {
  it('starts the page from the built-in pre-trained model, the CLI from random weights; a loaded model at 1e-4', () => {
    expect(DEFAULT_CONFIG).toMatchObject({ init: 'random', lr: 1e-3 });
    expect(PAGE_DEFAULT_CONFIG).toMatchObject({ init: 'pretrained', lr: 1e-3, model: 'tiny' });
    expect(defaultLr('random')).toBe(1e-3);
    expect(defaultLr('pretrained')).toBe(1e-3); // measured: docs/results/pretrain-lr1e-3.md
    expect(defaultLr('loaded')).toBe(FINETUNE_LR);
  });

  it('refuses pretrained for a size with no built-in model, in one line naming the field', () => {
    expect(() => resolveConfig({ model: 'nano', init: 'pretrained' })).toThrow(
      "config field 'init': no built-in pre-trained 'nano' model (built in: tiny)",
    );
    expect(resolveConfig({ model: 'tiny', init: 'pretrained' }).init).toBe('pretrained');
    expect(() => resolveConfig({ init: 'checkpoint' })).toThrow(
      /'init' must be one of pretrained\|random\|loaded/,
    );
  });

  it('a form edit brings what follows from it: the init default rate, random for a size with no model', () => {
    const page = PAGE_DEFAULT_CONFIG;
    expect(withInitFollowing({ init: 'random' }, page)).toEqual({ init: 'random', lr: 1e-3 });
    expect(withInitFollowing({ model: 'nano' }, page)).toEqual({ model: 'nano', init: 'random', lr: 1e-3 });
    expect(withInitFollowing({ model: 'mini' }, { ...page, init: 'random' })).toEqual({ model: 'mini' });
    expect(withInitFollowing({ init: 'loaded' }, page)).toEqual({ init: 'loaded', lr: FINETUNE_LR });
    expect(withInitFollowing({ init: 'pretrained' }, { ...page, init: 'loaded', lr: FINETUNE_LR })).toEqual({
      init: 'pretrained',
      lr: 1e-3,
    });
    // A rate set by hand, or in the same edit, stays.
    expect(withInitFollowing({ init: 'loaded' }, { ...page, lr: 5e-4 })).toEqual({ init: 'loaded' });
    expect(withInitFollowing({ init: 'loaded', lr: 0.02 }, page)).toEqual({ init: 'loaded', lr: 0.02 });
  });
});
