/**
 * A text corpus for masked-LM pre-training: documents (one per line) -> WordPiece ids -> fixed-length sequences
 * [CLS] t_1 ... t_{T-2} [SEP], PACKED from consecutive documents: the token stream of all documents in order is
 * cut into chunks of T - 2 tokens, so a sequence may span the end of one document and the start of the next.
 * Why packed: the built-in corpus's passages are of very different lengths (a sentence to a few hundred words);
 * one passage per sequence would pad most short ones (wasted compute) and truncate the long ones (lost text).
 * Packing wastes nothing but the last chunk's padding. The released ALUM pre-training packs too: fairseq's
 * `--sample-break-mode complete --tokens-per-sample 512` (namisan/mt-dnn@efe63ad2a680ae584455426a7749e4367db12752
 * alum/alum_train.sh lines 21-22: blocks of whole sentences); our documents are passages, so we cut inside them.
 * Token type ids are 0 throughout (no next-sentence task). Pure: no tfjs, no files.
 */
import { arraySplit, type EncodedSplit, type RowSplit } from './dataset.ts';
import type { MaskingOptions } from './masking.ts';
import { shuffled, makeRng } from '../rng.ts';
import type { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';

/** Share of a user corpus's documents held out as the dev slice when no dev file is given. */
export const CORPUS_DEV_FRACTION = 0.02;

/** What the corpus needs from a tokenizer (a `WordPieceTokenizer`). */
export type CorpusTokenizer = Pick<
  WordPieceTokenizer,
  'vocab' | 'padId' | 'unkId' | 'clsId' | 'sepId' | 'maskId' | 'tokenize' | 'tokenToId'
>;

/** The documents of a corpus text: its non-blank lines, trimmed. One line error naming the file when none. */
export function corpusDocuments(text: string, origin: string): string[] {
  const docs = text
    .replace(/^\ufeff/, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (docs.length === 0) throw new Error(`${origin}: no text (a corpus has one document per line)`);
  return docs;
}

/**
 * Holds out `fraction` of the documents (at least 1, seeded) as the dev slice; the rest, in their order, are
 * the train documents. Needs at least 2 documents.
 */
export function splitCorpus(
  docs: readonly string[],
  seed: number,
  origin: string,
  fraction = CORPUS_DEV_FRACTION,
): { train: string[]; dev: string[] } {
  if (docs.length < 2) throw new Error(`${origin}: a corpus without a dev file needs at least 2 documents`);
  const n = Math.min(docs.length - 1, Math.max(1, Math.round(docs.length * fraction)));
  const dev = new Set(
    shuffled(
      docs.map((_, i) => i),
      makeRng(seed),
    ).slice(0, n),
  );
  return { train: docs.filter((_, i) => !dev.has(i)), dev: docs.filter((_, i) => dev.has(i)) };
}

/** Every WordPiece id of the documents, in order (no special tokens). */
export function corpusTokenIds(tok: CorpusTokenizer, docs: readonly string[]): Int32Array {
  const ids: number[] = [];
  for (const doc of docs) for (const t of tok.tokenize(doc)) ids.push(tok.tokenToId(t) ?? tok.unkId);
  return Int32Array.from(ids);
}

/**
 * Packs a token stream into sequences of `maxLength`: [CLS] + (maxLength - 2) tokens + [SEP], the last one
 * shorter and padded. Labels are zeros (the MLM labels come from masking, per batch).
 */
export function packSequences(
  tok: CorpusTokenizer,
  stream: Int32Array,
  maxLength: number,
  origin: string,
): EncodedSplit & RowSplit {
  if (maxLength < 3) throw new Error(`${origin}: maxLength ${maxLength} leaves no room for text`);
  if (stream.length === 0) throw new Error(`${origin}: no tokens after tokenisation`);
  const body = maxLength - 2;
  const count = Math.ceil(stream.length / body);
  const inputIds = new Int32Array(count * maxLength).fill(tok.padId);
  const attentionMask = new Int32Array(count * maxLength);
  for (let r = 0; r < count; r++) {
    const chunk = stream.subarray(r * body, (r + 1) * body);
    const at = r * maxLength;
    inputIds[at] = tok.clsId;
    inputIds.set(chunk, at + 1);
    inputIds[at + 1 + chunk.length] = tok.sepId;
    attentionMask.fill(1, at, at + chunk.length + 2);
  }
  return arraySplit({
    inputIds,
    tokenTypeIds: new Int32Array(count * maxLength),
    attentionMask,
    labels: new Int32Array(count),
    count,
    maxLength,
  });
}

/**
 * Dev sequences a masked-LM run evaluates at most: the first 256 of the dev slice (16,384 tokens at length 64,
 * about 2,400 masked tokens at 15%). The built-in dev slice packs into 1,326 sequences at length 64, whose
 * evaluation took about as long as 20 training steps of the tiny model on wasm.
 */
export const MAX_DEV_SEQUENCES = 256;

/** The first `n` sequences of a split (a view, not a copy). */
export function firstSequences(split: EncodedSplit, n: number): EncodedSplit & RowSplit {
  if (split.count <= n) return arraySplit(split);
  const t = split.maxLength;
  return arraySplit({
    inputIds: split.inputIds.subarray(0, n * t),
    tokenTypeIds: split.tokenTypeIds.subarray(0, n * t),
    attentionMask: split.attentionMask.subarray(0, n * t),
    labels: split.labels.subarray(0, n),
    count: n,
    maxLength: t,
  });
}

/**
 * The masking options of a vocabulary: never [PAD], [UNK], [CLS], [SEP], [MASK] or any other `[...]` token;
 * random replacements drawn from the ids after the last special token at the start of the vocabulary (BERT
 * vocabularies put [PAD], [unused*], [UNK], [CLS], [SEP], [MASK] first), which must hold no special id.
 */
export function maskingFor(tok: CorpusTokenizer, rate: number, wholeWord: boolean): MaskingOptions {
  const isSpecial = (t: string) => /^\[[^\]]+\]$/.test(t);
  const specialIds = new Set<number>([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId]);
  tok.vocab.forEach((t, i) => {
    if (isSpecial(t)) specialIds.add(i);
  });
  const lo = Math.max(...specialIds) + 1;
  if (lo >= tok.vocab.length) throw new Error('vocabulary: no ordinary token after the special tokens');
  return {
    rate,
    vocabSize: tok.vocab.length,
    specialIds,
    maskId: tok.maskId,
    randomRange: [lo, tok.vocab.length],
    wholeWord,
    isContinuation: (id) => tok.vocab[id]?.startsWith('##') ?? false,
  };
}

/**
 * The unigram baseline of masked-token prediction: the train stream's token frequencies (add-one smoothed over
 * the ordinary ids [lo, V), so an unseen label has a finite loss). Predicting the most frequent train token
 * at every masked position scores `accuracy`; the cross-entropy of the unigram distribution is `loss`.
 */
export function unigramBaseline(
  trainStream: Int32Array,
  devLabels: Int32Array,
  randomRange: readonly [number, number],
  vocabSize: number,
): { accuracy: number; loss: number; top: number } {
  const [lo, hi] = randomRange;
  const counts = new Float64Array(vocabSize);
  for (let i = lo; i < hi; i++) counts[i] = 1;
  for (const id of trainStream) counts[id] = (counts[id] ?? 0) + 1;
  let total = 0;
  let top = lo;
  for (let i = 0; i < vocabSize; i++) {
    total += counts[i] as number;
    if ((counts[i] as number) > (counts[top] as number)) top = i;
  }
  let hits = 0;
  let nll = 0;
  for (const y of devLabels) {
    if (y === top) hits++;
    nll -= Math.log(Math.max(counts[y] as number, 1) / total);
  }
  const m = Math.max(devLabels.length, 1);
  return { accuracy: hits / m, loss: nll / m, top };
}
