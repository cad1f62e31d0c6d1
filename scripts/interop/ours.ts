/**
 * Our side of the Hugging Face interop check: loads model folders written by `alum train` (BertForSequenceClassification)
 * and `alum pretrain` (BertForMaskedLM, F32 or F16) with our loader, and writes what our model computes for a few
 * texts: the token ids (our WordPiece) and the logits (classifier logits [B, C], or MLM logits at every real token
 * [N, V]). `check_transformers.py` then loads the same folders with transformers and compares (run it where
 * transformers is installed: this project's machines have no Python package index).
 *   npx tsx scripts/interop/ours.ts OUT.json cls:DIR mlm:DIR ...
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { loadHfModel } from '../../src/core/model/hf-load.ts';
import { forward, NO_DROPOUT } from '../../src/core/model/bert.ts';
import { addMlmParamsFromArrays, mlmForward } from '../../src/core/model/mlm.ts';
import { disposeParams, paramsFromArrays } from '../../src/core/model/params.ts';
import { WordPieceTokenizer } from '../../src/core/tokenizer/wordpiece.ts';

const TEXTS: [string, string | null][] = [
  ['Free money, click here to win a prize now!', null],
  ['The meeting is at noon; see you at lunch.', 'Can we move it to Tuesday?'],
  ['Call me today about the cash offer', null],
];
const MAX_LENGTH = 24;

interface Result {
  dir: string;
  kind: 'cls' | 'mlm';
  inputIds: number[][];
  tokenTypeIds: number[][];
  attentionMask: number[][];
  logits: number[][];
}

async function run(kind: 'cls' | 'mlm', dir: string): Promise<Result> {
  const files = readdirSync(dir).map((f): [string, Uint8Array] => [
    f,
    new Uint8Array(readFileSync(join(dir, f))),
  ]);
  const m = loadHfModel(files, { name: dir, seed: 1 });
  const tok = WordPieceTokenizer.fromVocabText(m.vocabText, { lowercase: m.lowercase });
  const enc = TEXTS.map(([a, b]) => tok.encode(a, b ?? undefined, MAX_LENGTH));
  const t = Math.max(...enc.map((e) => e.inputIds.length));
  const pad = (xs: number[], v: number) => [...xs, ...Array<number>(t - xs.length).fill(v)];
  const inputIds = enc.map((e) => pad(e.inputIds, tok.padId));
  const tokenTypeIds = enc.map((e) => pad(e.tokenTypeIds, 0));
  const attentionMask = enc.map((e) =>
    pad(
      e.inputIds.map(() => 1),
      0,
    ),
  );
  const inputs = {
    inputIds: tf.tensor2d(inputIds, undefined, 'int32'),
    tokenTypeIds: tf.tensor2d(tokenTypeIds, undefined, 'int32'),
    attentionMask: tf.tensor2d(attentionMask, undefined, 'int32'),
  };
  const params = paramsFromArrays(m.model, m.arrays, dir);
  let logits: tf.Tensor2D;
  if (kind === 'mlm') {
    if (m.mlmHead.missing.length > 0)
      throw new Error(`${dir}: no MLM head (${m.mlmHead.missing.join(', ')})`);
    addMlmParamsFromArrays(params, m.model, m.mlmHead.arrays, dir);
    const positions = attentionMask.flatMap((row, b) => row.flatMap((on, i) => (on ? [b * t + i] : [])));
    const pos = tf.tensor1d(positions, 'int32');
    logits = mlmForward(params, m.model, inputs, pos, NO_DROPOUT); // [N, V]
    pos.dispose();
  } else logits = forward(params, m.model, inputs, NO_DROPOUT); // [B, C]
  const out = (await logits.array()) as number[][];
  tf.dispose([logits, inputs.inputIds, inputs.tokenTypeIds, inputs.attentionMask]);
  disposeParams(params);
  return { dir, kind, inputIds, tokenTypeIds, attentionMask, logits: out };
}

const [outFile, ...specs] = process.argv.slice(2);
if (!outFile || specs.length === 0) throw new Error('usage: ours.ts OUT.json cls:DIR|mlm:DIR ...');
await tf.setBackend('cpu');
const results: Result[] = [];
for (const spec of specs) {
  const [kind, dir] = spec.split(/:(.*)/s) as ['cls' | 'mlm', string];
  results.push(await run(kind, dir));
}
writeFileSync(outFile, JSON.stringify({ texts: TEXTS, maxLength: MAX_LENGTH, results }) + '\n');
console.log(`wrote ${outFile}: ${results.map((r) => `${r.kind} ${r.dir}`).join(', ')}`);
