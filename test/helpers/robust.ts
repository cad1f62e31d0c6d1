/**
 * A hand-built classifier whose answer is known, for the robustness lab's tests: a 1-layer BERT (hidden 4) in
 * which every token's raw word vector is "neutral" n = [1, -1, 0, 0] except the trigger word `good`,
 * t = [0, 0, 1, -1]. Position and type embeddings are 0; query and key weights are 0, so [CLS] attends
 * uniformly to the real tokens; value = I, attention output = 4 I, the feed-forward block outputs 0; pooler = I
 * (tanh); the classifier scores label 1 by 5 (h_2 - h_3) - 1 and label 0 by 0. So an input is label 1 exactly
 * when it holds a trigger (up to ~12 tokens: the trigger's share of the mean must stay above a threshold), and
 * its label-1 logit grows with the number of triggers: with 5 tokens, one trigger gives logit 1.59, two 4.38.
 * (The same model in float64 PyTorch: scripts/golden/make_robust_golden.py.)
 */
import type { ModelConfig } from '../../src/core/config.ts';
import type { Example } from '../../src/core/data/dataset.ts';
import { paramSpecs, paramsFromArrays } from '../../src/core/model/params.ts';
import type { Victim } from '../../src/core/robust/types.ts';
import { WordPieceTokenizer } from '../../src/core/tokenizer/wordpiece.ts';

export const TOY_VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'the',
  'cat',
  'sat',
  'on',
  'mat',
  'good',
  'dog',
  'a',
  'is',
  'here',
];
export const TRIGGER = 'good';

export const TOY_MODEL: ModelConfig = {
  vocabSize: TOY_VOCAB.length,
  hiddenSize: 4,
  numLayers: 1,
  numHeads: 1,
  intermediateSize: 1,
  maxPositions: 16,
  typeVocabSize: 2,
  numLabels: 2,
  layerNormEps: 1e-12,
};

const identity = (scale: number) => Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? scale : 0)); // [4, 4]

/** The toy model's parameters by HF name (plain arrays; see the file header). */
export function toyArrays(): Map<string, Float32Array> {
  const arrays = new Map<string, Float32Array>();
  for (const spec of paramSpecs(TOY_MODEL)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    arrays.set(spec.name, new Float32Array(size).fill(spec.init === 'ones' ? 1 : 0));
  }
  arrays.set(
    'bert.embeddings.word_embeddings.weight',
    Float32Array.from(TOY_VOCAB.flatMap((w) => (w === TRIGGER ? [0, 0, 1, -1] : [1, -1, 0, 0]))),
  );
  arrays.set('bert.encoder.layer.0.attention.self.value.weight', identity(1));
  arrays.set('bert.encoder.layer.0.attention.output.dense.weight', identity(4));
  arrays.set('bert.pooler.dense.weight', identity(1));
  arrays.set('classifier.weight', Float32Array.from([0, 0, 0, 0, 0, 0, 5, -5]));
  arrays.set('classifier.bias', Float32Array.from([0, -1]));
  return arrays;
}

/** The toy victim (fresh variables: dispose with `disposeParams(victim.params)`). */
export function toyVictim(maxLength = 12): Victim {
  return {
    params: paramsFromArrays(TOY_MODEL, toyArrays(), 'toy'),
    model: TOY_MODEL,
    tokenizer: WordPieceTokenizer.fromTokens(TOY_VOCAB),
    maxLength,
  };
}

/** Label 1 iff the text holds the trigger: the toy model gets every one of these right. */
export const TOY_EXAMPLES: Example[] = [
  { text: 'the good cat', label: 1 },
  { text: 'the cat sat', label: 0 },
  { text: 'a dog is here', label: 0 },
  { text: 'good dog on the mat', label: 1 },
];
