/**
 * BERT's masked-LM input corruption (Devlin et al. 2019, section 3.1 and appendix A.1), pure JS (no tfjs) and
 * deterministic from an Rng. It follows `create_masked_lm_predictions` of google-research/bert
 * create_pretraining_data.py: per-WordPiece masking as at commit d45261273d2dc27e0d25b1cf9e3adb312545a236, and
 * whole-word masking (the later `do_whole_word_mask` flag) as on master, eedf5716ce1268e56f0a50264a88cafad334ac61:
 *   1. candidates: every token but [CLS]/[SEP]; with whole-word masking a '##' piece joins the candidate group of
 *      the word before it (`cand_indexes[-1].append(i)`);
 *   2. the candidate groups are shuffled (`rng.shuffle(cand_indexes)`);
 *   3. num_to_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))));
 *   4. groups are taken in shuffled order until num_to_predict tokens are chosen, skipping a group that would
 *      exceed it (`if len(masked_lms) + len(index_set) > num_to_predict: continue`);
 *   5. each chosen token, in the order chosen: `rng.random() < 0.8` -> [MASK]; else `rng.random() < 0.5` -> kept
 *      unchanged; else a uniformly random token (which may equal the original);
 *   6. the predictions are sorted by position; the labels are the original ids.
 *
 * Where this differs, and why:
 *   - eligible tokens are those with attention mask 1 whose id is not in `specialIds` (and not `maskId`): padding
 *     and every special ([CLS], [SEP], [PAD], [UNK], [MASK], ...) are never chosen (BERT's instances are unpadded and
 *     only skip [CLS]/[SEP]);
 *   - the count is taken of the eligible tokens, not of all tokens: n = max(1, roundHalfEven(rate * eligible)),
 *     at most `maxPredictions` and at most `eligible` (0 when nothing is eligible). roundHalfEven is Python 3's
 *     `round` (4.5 -> 4), which BERT uses;
 *   - the random replacement is drawn from [lo, hi) (`randomRange`, which must hold no special id), not from the whole
 *     vocabulary (BERT's `vocab_words[rng.randint(0, len(vocab_words) - 1)]` can insert [CLS], [PAD], [unused*]);
 *   - a '##' piece joins a group only when the token just before it is eligible and in that group (BERT's joins the
 *     last group even across a [SEP]);
 *   - if whole-word groups all exceed n (e.g. n = 1 and every word has two pieces), nothing would be chosen: the
 *     first group in shuffled order is then taken whole, so every sequence with an eligible token has M >= 1.
 * Rng draws per sequence, in order: the shuffle (`shuffled` of rng.ts), then per chosen token uniform() (mask?),
 * uniform() if not masked (keep?), int(hi - lo) if replaced. Sequences without eligible tokens draw nothing.
 */
import { shuffled, type Rng } from '../rng.ts';

export interface MaskingOptions {
  /** Fraction of the eligible tokens of a sequence to predict (BERT's masked_lm_prob); default 0.15. */
  rate?: number;
  vocabSize: number;
  /** Ids never chosen (CLS, SEP, PAD, MASK, UNK, ...). */
  specialIds: ReadonlySet<number>;
  /** The [MASK] id put in place of 80% of the chosen tokens (never chosen itself). */
  maskId: number;
  /** [lo, hi): ids of the random replacements (10% of the chosen tokens); must hold no special id. */
  randomRange: readonly [number, number];
  /** At most this many predictions per sequence (BERT's max_predictions_per_seq); default: no cap. */
  maxPredictions?: number;
  /** Mask all WordPieces of a word together (BERT's do_whole_word_mask); needs `isContinuation`. */
  wholeWord?: boolean;
  /** True for a continuation piece ('##...'). */
  isContinuation?: (id: number) => boolean;
}

export interface MaskedTokens {
  /** The corrupted ids [B*T] (a new array; the input is not modified). */
  inputIds: Int32Array;
  /** Flat indices b*T + t of the chosen tokens, sorted ascending [M]. */
  positions: Int32Array;
  /** The original ids at `positions` [M]. */
  labels: Int32Array;
}

export const MASK_RATE = 0.15;
/** Of the chosen tokens: this fraction becomes [MASK]; of the rest, half stay unchanged and half become random. */
const MASK_PROB = 0.8;
const KEEP_PROB = 0.5;

/** Python 3's round(): to the nearest integer, ties to the even one. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Tokens to predict in a sequence with `eligible` candidates: max(1, roundHalfEven(rate * eligible)), capped. */
export function numToPredict(eligible: number, rate: number, maxPredictions = Infinity): number {
  if (eligible === 0) return 0;
  return Math.min(maxPredictions, eligible, Math.max(1, roundHalfEven(rate * eligible)));
}

function validate(
  ids: Int32Array,
  attentionMask: ArrayLike<number>,
  seqLen: number,
  o: MaskingOptions,
): void {
  const rate = o.rate ?? MASK_RATE;
  const [lo, hi] = o.randomRange;
  if (!Number.isInteger(seqLen) || seqLen <= 0 || ids.length % seqLen !== 0)
    throw new Error(`maskTokens: ${ids.length} ids do not split into sequences of length ${seqLen}`);
  if (attentionMask.length !== ids.length)
    throw new Error(`maskTokens: attention mask has ${attentionMask.length} entries for ${ids.length} ids`);
  if (!(rate > 0 && rate <= 1)) throw new Error(`maskTokens: rate must be in (0, 1], got ${rate}`);
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && lo < hi && hi <= o.vocabSize))
    throw new Error(
      `maskTokens: randomRange [${lo}, ${hi}) must be a nonempty range of ids in [0, ${o.vocabSize})`,
    );
  for (const s of o.specialIds) {
    if (s >= lo && s < hi)
      throw new Error(`maskTokens: randomRange [${lo}, ${hi}) holds the special id ${s}`);
  }
  if (!(Number.isInteger(o.maskId) && o.maskId >= 0 && o.maskId < o.vocabSize))
    throw new Error(`maskTokens: maskId ${o.maskId} is not an id in [0, ${o.vocabSize})`);
  if (o.maxPredictions !== undefined && !(Number.isInteger(o.maxPredictions) && o.maxPredictions >= 1))
    throw new Error(`maskTokens: maxPredictions must be a positive integer, got ${o.maxPredictions}`);
  if (o.wholeWord && !o.isContinuation) throw new Error('maskTokens: wholeWord needs isContinuation');
  for (const id of ids) {
    if (!(id >= 0 && id < o.vocabSize)) throw new Error(`maskTokens: id ${id} is not in [0, ${o.vocabSize})`);
  }
}

/** Candidate groups of one sequence (indices into it): single tokens, or whole words with `wholeWord`. */
function candidateGroups(
  ids: Int32Array,
  attentionMask: ArrayLike<number>,
  start: number,
  seqLen: number,
  o: MaskingOptions,
): number[][] {
  const groups: number[][] = [];
  let prevEligible = false;
  for (let t = 0; t < seqLen; t++) {
    const id = ids[start + t] as number;
    const eligible = attentionMask[start + t] === 1 && !o.specialIds.has(id) && id !== o.maskId;
    if (eligible) {
      const last = groups[groups.length - 1];
      if (o.wholeWord && prevEligible && last && o.isContinuation?.(id)) last.push(t);
      else groups.push([t]);
    }
    prevEligible = eligible;
  }
  return groups;
}

/**
 * BERT masking of a batch of B sequences of length `seqLen` (ids and attentionMask flat [B*T], mask 1 = real
 * token): see the module comment for the exact rule. Deterministic from `rng`.
 */
export function maskTokens(
  ids: Int32Array,
  attentionMask: ArrayLike<number>,
  seqLen: number,
  opts: MaskingOptions,
  rng: Rng,
): MaskedTokens {
  validate(ids, attentionMask, seqLen, opts);
  const rate = opts.rate ?? MASK_RATE;
  const [lo, hi] = opts.randomRange;
  const inputIds = ids.slice();
  const positions: number[] = [];
  for (let start = 0; start < ids.length; start += seqLen) {
    const groups = candidateGroups(ids, attentionMask, start, seqLen, opts);
    const eligible = groups.reduce((n, g) => n + g.length, 0);
    const target = numToPredict(eligible, rate, opts.maxPredictions);
    const order = shuffled(groups, rng);
    const chosen: number[] = [];
    for (const group of order) {
      if (chosen.length >= target) break;
      if (chosen.length + group.length > target) continue;
      chosen.push(...group);
    }
    if (chosen.length === 0 && order.length > 0) chosen.push(...(order[0] as number[])); // M >= 1
    for (const t of chosen) {
      const i = start + t;
      if (rng.uniform() < MASK_PROB) inputIds[i] = opts.maskId;
      else if (rng.uniform() >= KEEP_PROB) inputIds[i] = lo + rng.int(hi - lo);
    }
    chosen.sort((a, b) => a - b);
    for (const t of chosen) positions.push(start + t);
  }
  const pos = Int32Array.from(positions);
  return { inputIds, positions: pos, labels: pos.map((i) => ids[i] as number) };
}
