/**
 * Ships an `alum pretrain` run as a built-in pre-trained model: copies its Hugging Face folder (config.json,
 * model.safetensors, vocab.txt) and its metrics.jsonl (as training-metrics.jsonl) to public/models/<name>/ and
 * writes the model card README.md there from the
 * run's own files (run.json, metrics.jsonl) and its stderr log (the command line and the wall time).
 *
 *   npx tsx scripts/ship-pretrained.ts --run runs/pretrain-tiny --log runs/pretrain-tiny.log --name tiny \
 *     --command "node bin/alum.mjs pretrain ..." --machine "2-core container, ..."
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { REPO_ROOT } from '../src/cli/files.ts';
import type { ModelConfig, TrainConfig } from '../src/core/config.ts';
import { decodeSafetensors } from '../src/core/io/safetensors.ts';
import type { MetricRow } from '../src/core/metrics.ts';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    log: { type: 'string' },
    name: { type: 'string' },
    command: { type: 'string' },
    machine: { type: 'string' },
  },
});
const need = (k: keyof typeof values): string => {
  const v = values[k];
  if (typeof v !== 'string' || v === '') throw new Error(`missing --${k}`);
  return v;
};

interface RunJson {
  config: TrainConfig;
  model: ModelConfig;
  backend: string;
  steps: number;
  corpus: { train: string; dev: string; trainSequences: number; devSequences: number };
  unigramBaseline: { accuracy: number; loss: number; top: number };
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

/** The `done: N steps in S s` line `alum pretrain` ends with. */
function wallSeconds(log: string): number {
  const m = /^(?:done|stopped): \d+ steps in ([\d.]+) s/m.exec(log);
  if (!m?.[1]) throw new Error('the log has no "done: N steps in S s" line');
  return Number(m[1]);
}

function card(name: string, run: RunJson, rows: MetricRow[], seconds: number, params: number): string {
  const evals = rows.filter((r) => r.devAccuracy !== undefined);
  const last = evals.at(-1);
  if (last?.devAccuracy === undefined || last.devLoss === undefined) throw new Error('no dev evaluation');
  const m = run.model;
  const c = run.config;
  const rel = (p: string): string => p.replace(REPO_ROOT, '');
  return [
    `# ALUM Playground built-in model: \`${name}\``,
    '',
    `A \`BertForMaskedLM\` (${m.numLayers} layers, hidden ${m.hiddenSize}, ${m.numHeads} heads, intermediate ` +
      `${m.intermediateSize}; ${params.toLocaleString('en')} parameters, the tied decoder counted once), pre-trained from random weights by this project's own \`alum pretrain\` on the ` +
      'built-in corpus. The page fine-tunes it by default; `alum train --init pretrained` does the same in Node. ' +
      'Weights are float16 (`model.safetensors`); the MLM decoder is tied to the word embeddings.',
    '',
    '## How it was made',
    '',
    `- Command: \`${need('command')}\``,
    `- Corpus: \`${rel(run.corpus.train)}\` (${run.corpus.trainSequences.toLocaleString('en')} sequences of ` +
      `${c.maxLength} tokens): the spam task's train e-mails, the SOTU task's train addresses and Moby-Dick, one ` +
      `passage per line (scripts/prepare-data.ts); the dev texts of both tasks are not in it. Held out: ` +
      `\`${rel(run.corpus.dev)}\` (${run.corpus.devSequences} sequences, masked with a fixed seed).`,
    `- Vocabulary: \`vocab.txt\`, ${m.vocabSize} WordPiece tokens trained on the corpus's train lines (uncased), the same as ` +
      '`public/data/vocab.txt`.',
    `- Training: ${c.method} masked-LM, ${run.steps} steps of batch ${c.batchSize}` +
      (run.steps < c.steps
        ? ` (stopped with Ctrl-C at step ${run.steps} of a ${c.steps}-step schedule, for time; \`alum pretrain\` saves what was trained, so the learning rate had not decayed to 0)`
        : '') +
      `, mask rate ${c.maskRate} ` +
      `(80% [MASK], 10% random, 10% kept), AdamW lr ${c.lr} (warm-up over 10%, linear decay), weight decay ` +
      `${c.weightDecay}, dropout ${c.dropout}, seed ${c.seed}.`,
    `- Wall time: ${(seconds / 60).toFixed(1)} minutes on ${need('machine')}, tfjs ${run.backend} backend, shared with other jobs.`,
    '',
    '## How well it predicts masked tokens (held-out slice)',
    '',
    '| | masked-token accuracy | masked-token loss (nats) |',
    '|---|---|---|',
    `| this model at step ${last.step}${last.step < run.steps ? ` (its last evaluation; the weights here are step ${run.steps}'s)` : ''} | **${pct(last.devAccuracy)}** | ${last.devLoss.toFixed(3)} |`,
    `| unigram baseline (always the most frequent train token) | ${pct(run.unigramBaseline.accuracy)} | ${run.unigramBaseline.loss.toFixed(3)} |`,
    '',
    'Dev accuracy during training: ' +
      evals.map((r) => `step ${r.step}: ${pct(r.devAccuracy ?? NaN)}`).join(', ') +
      ". The full curve: `training-metrics.jsonl` here (the run's `metrics.jsonl`, one row per step).",
    '',
    '## Limits',
    '',
    '- Tiny and briefly trained: it knows frequent words and short-range syntax of e-mail, political prose and',
    "  19th-century fiction, not facts. It is a starting point for the playground's fine-tuning, not a general",
    '  English model.',
    '- Uncased; 8,000 WordPieces from this corpus only; positions up to 512, trained at 64.',
    '- The corpus includes spam e-mails as collected by SpamAssassin (offensive text is possible).',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const name = need('name');
  const runDir = need('run');
  const run = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as RunJson;
  const rows = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricRow);
  const seconds = wallSeconds(await readFile(need('log'), 'utf8'));
  const out = join(REPO_ROOT, 'public', 'models', name);
  await mkdir(out, { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'vocab.txt'])
    await copyFile(join(runDir, 'model', f), join(out, f));
  await copyFile(join(runDir, 'metrics.jsonl'), join(out, 'training-metrics.jsonl'));
  const weights = decodeSafetensors(await readFile(join(out, 'model.safetensors')), 'model.safetensors');
  const params = [...weights.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  await writeFile(join(out, 'README.md'), card(name, run, rows, seconds, params));
  console.log(`shipped ${runDir} as ${out}`);
}

await main();
