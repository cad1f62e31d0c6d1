/**
 * The BERT parts of a Hugging Face `tokenizers` tokenizer.json: the WordPiece model's vocabulary and the
 * BertNormalizer's settings, as the vocabulary lines and the `lowercase` option of our WordPieceTokenizer.
 * Anything our tokenizer would not reproduce (another model type, a normaliser we do not implement, a
 * different `##` prefix or [UNK] token) is refused with one line naming the field, rather than tokenised
 * differently. Field names: huggingface/tokenizers `tokenizers/src/normalizers/bert.rs` (BertNormalizer:
 * clean_text, handle_chinese_chars, strip_accents, lowercase) and `models/wordpiece/mod.rs` (vocab, unk_token,
 * continuing_subword_prefix, max_input_chars_per_word).
 */
import { MAX_CHARS_PER_WORD } from './wordpiece.ts';

export interface TokenizerJson {
  /** id -> token, as vocab.txt lines. */
  tokens: string[];
  /** BertNormalizer `lowercase` (accents are stripped with it). */
  lowercase: boolean;
}

type Json = Record<string, unknown>;

function object(v: unknown, origin: string, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`${origin}: ${field} is not an object`);
  return v as Json;
}

function expectField(o: Json, field: string, want: unknown, origin: string, where: string): void {
  const v = o[field];
  if (v !== undefined && v !== want) {
    throw new Error(
      `${origin}: ${where}.${field} is ${JSON.stringify(v)}; only ${JSON.stringify(want)} is supported`,
    );
  }
}

function readNormalizer(n: unknown, origin: string): boolean {
  const o = object(n, origin, 'normalizer');
  if (o['type'] !== 'BertNormalizer') {
    throw new Error(
      `${origin}: normalizer.type is ${JSON.stringify(o['type'])}; only BertNormalizer is supported`,
    );
  }
  expectField(o, 'clean_text', true, origin, 'normalizer');
  expectField(o, 'handle_chinese_chars', true, origin, 'normalizer');
  const lowercase = o['lowercase'] ?? true;
  if (typeof lowercase !== 'boolean') throw new Error(`${origin}: normalizer.lowercase is not a boolean`);
  const strip = o['strip_accents'] ?? null;
  // null: accents are stripped exactly when lowercasing (bert.rs); our tokenizer ties the two the same way.
  if (strip !== null && strip !== lowercase) {
    throw new Error(
      `${origin}: normalizer.strip_accents ${JSON.stringify(strip)} with lowercase ${lowercase} is not supported (only strip_accents null or equal to lowercase)`,
    );
  }
  return lowercase;
}

function readVocab(v: unknown, origin: string): string[] {
  const vocab = object(v, origin, 'model.vocab');
  const entries = Object.entries(vocab);
  const tokens = new Array<string | undefined>(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length) {
      throw new Error(
        `${origin}: model.vocab id of ${JSON.stringify(token)} is ${JSON.stringify(id)}, not one of 0..${entries.length - 1}`,
      );
    }
    if (tokens[id] !== undefined) throw new Error(`${origin}: model.vocab id ${id} is given twice`);
    if (/[\r\n]/.test(token))
      throw new Error(`${origin}: model.vocab token ${JSON.stringify(token)} has a line break`);
    tokens[id] = token;
  }
  return tokens as string[];
}

/** Parses tokenizer.json text; one Error line naming `origin` and the field on anything unsupported. */
export function parseTokenizerJson(text: string, origin = 'tokenizer.json'): TokenizerJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${origin}: not valid JSON`);
  }
  const root = object(json, origin, 'the top level');
  const model = object(root['model'], origin, 'model');
  if (model['type'] !== 'WordPiece') {
    throw new Error(
      `${origin}: model.type is ${JSON.stringify(model['type'])}; only WordPiece (BERT) is supported`,
    );
  }
  expectField(model, 'unk_token', '[UNK]', origin, 'model');
  expectField(model, 'continuing_subword_prefix', '##', origin, 'model');
  expectField(model, 'max_input_chars_per_word', MAX_CHARS_PER_WORD, origin, 'model');
  return { tokens: readVocab(model['vocab'], origin), lowercase: readNormalizer(root['normalizer'], origin) };
}
