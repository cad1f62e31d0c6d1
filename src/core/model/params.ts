/**
 * BERT parameters as a flat map keyed by their Hugging Face names, stored in PyTorch layout
 * (Linear weight is [out, in]) so checkpoints round-trip with `transformers` without renaming or transposing.
 * References: huggingface/transformers `modeling_bert.py` (BertForSequenceClassification), Devlin et al. 2019.
 */
import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.ts';
import type { Rng } from '../rng.ts';

export type Params = Map<string, tf.Variable>;

export interface ParamSpec {
  name: string;
  shape: number[];
  init: 'normal' | 'zeros' | 'ones';
}

/** Every parameter of BertForSequenceClassification for this config, in a stable order. */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const h = c.hiddenSize;
  const specs: ParamSpec[] = [];
  const linear = (name: string, out: number, inp: number) => {
    specs.push({ name: `${name}.weight`, shape: [out, inp], init: 'normal' });
    specs.push({ name: `${name}.bias`, shape: [out], init: 'zeros' });
  };
  const layerNorm = (name: string) => {
    specs.push({ name: `${name}.weight`, shape: [h], init: 'ones' });
    specs.push({ name: `${name}.bias`, shape: [h], init: 'zeros' });
  };
  specs.push({ name: 'bert.embeddings.word_embeddings.weight', shape: [c.vocabSize, h], init: 'normal' });
  specs.push({
    name: 'bert.embeddings.position_embeddings.weight',
    shape: [c.maxPositions, h],
    init: 'normal',
  });
  specs.push({
    name: 'bert.embeddings.token_type_embeddings.weight',
    shape: [c.typeVocabSize, h],
    init: 'normal',
  });
  layerNorm('bert.embeddings.LayerNorm');
  for (let i = 0; i < c.numLayers; i++) {
    const p = `bert.encoder.layer.${i}`;
    linear(`${p}.attention.self.query`, h, h);
    linear(`${p}.attention.self.key`, h, h);
    linear(`${p}.attention.self.value`, h, h);
    linear(`${p}.attention.output.dense`, h, h);
    layerNorm(`${p}.attention.output.LayerNorm`);
    linear(`${p}.intermediate.dense`, c.intermediateSize, h);
    linear(`${p}.output.dense`, h, c.intermediateSize);
    layerNorm(`${p}.output.LayerNorm`);
  }
  linear('bert.pooler.dense', h, h);
  linear('classifier', c.numLabels, h);
  return specs;
}

/** BERT init: weights ~ N(0, 0.02^2) (initializer_range), biases 0, LayerNorm 1/0; the pad row is zero. */
export function initParams(c: ModelConfig, rng: Rng, std = 0.02): Params {
  const params: Params = new Map();
  for (const spec of paramSpecs(c)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.init === 'ones') values.fill(1);
    if (spec.init === 'normal') for (let i = 0; i < size; i++) values[i] = rng.normal() * std;
    if (spec.name === 'bert.embeddings.word_embeddings.weight') values.fill(0, 0, c.hiddenSize); // padding_idx 0
    params.set(spec.name, variableFrom(values, spec.shape));
  }
  return params;
}

/** Variables from named arrays (a checkpoint); checks that names and shapes match the config exactly. */
export function paramsFromArrays(c: ModelConfig, arrays: Map<string, Float32Array>, origin: string): Params {
  const params: Params = new Map();
  const specs = paramSpecs(c);
  for (const spec of specs) {
    const values = arrays.get(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!values) {
      params.forEach((v) => v.dispose());
      throw new Error(`${origin}: missing parameter '${spec.name}'`);
    }
    if (values.length !== size) {
      params.forEach((v) => v.dispose());
      throw new Error(
        `${origin}: parameter '${spec.name}' has ${values.length} values, expected shape [${spec.shape.join(',')}]`,
      );
    }
    params.set(spec.name, variableFrom(values, spec.shape));
  }
  return params;
}

/** A trainable variable holding a copy of `values` (the staging tensor is freed at once). */
export function variableFrom(values: Float32Array, shape: number[], trainable = true): tf.Variable {
  const staging = tf.tensor(values, shape);
  const v = tf.variable(staging, trainable);
  staging.dispose();
  return v;
}

export function disposeParams(params: Params): void {
  params.forEach((v) => v.dispose());
  params.clear();
}

/** Looks a parameter up, failing loudly on a typo (a missing name is a programming error). */
export function param(params: Params, name: string): tf.Variable {
  const v = params.get(name);
  if (!v) throw new Error(`no parameter '${name}'`);
  return v;
}
