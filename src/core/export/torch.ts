/**
 * The PyTorch export: a folder that runs this playground's ALUM training on PyTorch, with `python`, `torchrun`
 * (several processes, several nodes) or `accelerate launch`. The script itself is a real Python file,
 * `train_alum.py` beside this module (the CLI reads it from disk, the page imports it with Vite's `?raw`); this
 * module only assembles the folder: the script, `config.json` (the run's settings under our config names),
 * README.md (the commands, from `TORCH_COMMANDS`, the same list the tests run), and, when given, the model's
 * Hugging Face folder under `model/` and a data file. Pure: strings and bytes in and out. See docs/torch-export.md.
 */
import { CONFIG_KEYS, type TrainConfig } from '../config.ts';

export const SCRIPT_NAME = 'train_alum.py';
/** The run folder the README commands write to (`--out`). */
export const RUN_DIR = 'runs/torch';
/** Processes per node in the README's commands (the tests run the torchrun command as written). */
export const NPROC = 2;
/** The methods train_alum.py implements (its EXPORTED_METHODS); the relatives are not exported. */
export const EXPORTED_METHODS = ['standard', 'alum'] as const;

/** One file of the exported folder, by its path inside the folder. */
export interface ExportFile {
  name: string;
  bytes: Uint8Array;
}

export interface TorchCommand {
  /** What the command is for, as the README's heading. */
  title: string;
  argv: readonly string[];
  note: string;
}

/**
 * The commands of the README, as argument vectors. The tests run `python` and `torchrun` exactly as here (the
 * program resolved to Debian's `/usr/bin/python3` and `/usr/bin/torchrun`), appending only their own flags.
 */
export const TORCH_COMMANDS = {
  python: {
    title: 'One process (GPU if there is one, else CPU)',
    argv: ['python3', SCRIPT_NAME, '--out', RUN_DIR],
    note: 'The global batch is `batchSize` of config.json, all in this process.',
  },
  torchrun: {
    title: `Several processes on one machine (torchrun, DDP-style: NCCL on GPUs, gloo on CPU)`,
    argv: ['torchrun', '--nproc_per_node', String(NPROC), SCRIPT_NAME, '--out', RUN_DIR],
    note:
      `Use the number of GPUs for ${NPROC}. The batch of each step is still \`batchSize\` (the global batch): ` +
      'each process takes batchSize / nproc rows of it, so batchSize must be divisible by the number of processes.',
  },
  accelerate: {
    title: 'Hugging Face accelerate',
    argv: ['accelerate', 'launch', '--num_processes', String(NPROC), SCRIPT_NAME, '--out', RUN_DIR],
    note:
      'accelerate launch starts the processes with the same environment variables as torchrun; the script ' +
      'needs no accelerate API. Mixed precision options of accelerate are not used: training runs in float32.',
  },
  multinode: {
    title: 'Several machines (torchrun, run on every node)',
    argv: [
      'torchrun',
      '--nnodes',
      '2',
      '--nproc_per_node',
      String(NPROC),
      '--rdzv_backend',
      'c10d',
      '--rdzv_endpoint',
      'HOST:29500',
      SCRIPT_NAME,
      '--out',
      RUN_DIR,
    ],
    note:
      'HOST is the first node; every node runs the same command and needs the same folder. With 2 nodes of ' +
      `${NPROC} processes each, the ${2 * NPROC} processes each take batchSize / ${2 * NPROC} rows of the global batch.`,
  },
} as const satisfies Record<string, TorchCommand>;

/**
 * torchrun flag defaults (its `PET_*` environment variables) that Debian's python3-torch 1.13 needs under
 * Python 3.11: its default `--redirects 0 --tee 0` crash (`'NoneType' object has no attribute 'get'`, the
 * 0-valued `Std` flag is not found by iterating the enum), so stdout goes to torchrun's log files and stderr is
 * shown. Other torch builds need nothing.
 */
export const TORCHRUN_DEBIAN_ENV = { PET_REDIRECTS: '1', PET_TEE: '2' } as const;

/** A command as one shell line (arguments here need no quoting). */
export function commandLine(argv: readonly string[]): string {
  return argv.join(' ');
}

export interface TorchExportInput {
  /** The text of train_alum.py. */
  script: string;
  config: TrainConfig;
  /** The model's HF folder (config.json, model.safetensors, vocab.txt), written under `model/`. */
  model?: readonly ExportFile[] | undefined;
  /** A vocabulary for a run from random weights (ignored when `model` is given, which has its own). */
  vocabText?: string | undefined;
  /**
   * A data file, written as `data.<ext>` (csv, tsv, jsonl or json), which the script reads by default: its
   * `bytes` when given (a large file the page streams has no text), else its `text`.
   */
  data?: { name: string; text: string; bytes?: Uint8Array | undefined } | undefined;
  /** A dev file used instead of the 90/10 split, written as `dev.<ext>` (read by default when present). */
  dev?: { name: string; text: string; bytes?: Uint8Array | undefined } | undefined;
}

const DATA_EXTENSIONS = ['csv', 'tsv', 'jsonl', 'json'] as const;

/** `data.<ext>` for a data file name; one-line error for an extension the script does not read. */
export function dataFileName(name: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
  if (!(DATA_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new Error(`${name}: unsupported data file type (expected .${DATA_EXTENSIONS.join(', .')})`);
  }
  return `data.${ext}`;
}

/** config.json: every config field, in the config's order. */
export function configJson(config: TrainConfig): string {
  return JSON.stringify(Object.fromEntries(CONFIG_KEYS.map((k) => [k, config[k]])), null, 2) + '\n';
}

/** The README of the folder: what is in it, the commands, and how the batch is split. */
export function readme(
  config: TrainConfig,
  hasModel: boolean,
  dataName: string | null,
  hasVocab = !hasModel,
): string {
  const cmd = (c: TorchCommand) =>
    [`### ${c.title}`, '', '```sh', commandLine(c.argv), '```', '', c.note, ''].join('\n');
  const perProcess = config.batchSize % NPROC === 0 ? String(config.batchSize / NPROC) : 'not divisible';
  return [
    '# ALUM training with PyTorch',
    '',
    "This folder runs the ALUM Playground's training (the ALUM step of docs/alum-step.md, every variant and",
    'option, AdamW with global-norm clipping at 1.0 and the same learning-rate schedule) with PyTorch. It uses',
    '`transformers.BertForSequenceClassification` when transformers is installed, else a built-in BERT with the',
    'same parameter names, so PyTorch alone runs it.',
    '',
    `- \`${SCRIPT_NAME}\`: the script (\`python3 ${SCRIPT_NAME} --help\` lists every flag).`,
    "- `config.json`: the settings, under the playground's config names. Every field is also a kebab-case flag",
    '  that overrides it, e.g. `--dropout 0 --steps 1000 --batch-size 64`.',
    hasModel
      ? '- `model/`: the starting model in the Hugging Face layout (config.json, model.safetensors, vocab.txt), read by default.'
      : hasVocab
        ? `- \`vocab.txt\`: the vocabulary; with no \`model/\` folder the script starts from a random \`${config.model}\` BERT (or give \`--init DIR\`).`
        : `- no model: give \`--init DIR\` (a Hugging Face BERT folder), or \`--vocab FILE\` to start from a random \`${config.model}\` BERT.`,
    dataName === null
      ? '- no data file: give `--data FILE` (CSV or TSV with a header such as `sentence,label` or `sentence1,sentence2,score`, GLUE TSV, JSONL with `text`/`text_pair`/`label`; numeric `score` labels train a regression).'
      : `- \`${dataName}\`: the training data, read by default (\`--data FILE\` for another one; split 90/10 as the page splits it, with the same seed).`,
    '',
    '## Commands',
    '',
    ...Object.values(TORCH_COMMANDS).map(cmd),
    '### Known problem',
    '',
    "Debian's python3-torch 1.13 under Python 3.11: torchrun fails with `'NoneType' object has no attribute 'get'`",
    'before starting any process. Set its redirect defaults first:',
    '',
    '```sh',
    `export ${Object.entries(TORCHRUN_DEBIAN_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    '```',
    '',
    '## Batch size',
    '',
    `The effective batch of every optimizer step is \`batchSize\` = ${config.batchSize} examples, whatever the`,
    'number of processes: with N processes each takes batchSize / N consecutive rows of the global batch',
    `(${perProcess} per process with ${NPROC} processes), computes its share of the loss (its rows' sum divided by`,
    'batchSize), and the gradients are summed across processes before clipping and the AdamW update, so N',
    'processes take the same steps as one. To keep the per-process batch when adding processes, multiply',
    '`--batch-size` by N.',
    '',
    '## Output',
    '',
    `\`--out ${RUN_DIR}\` writes \`${RUN_DIR}/metrics.jsonl\` (one line per step, the page's metric names, from`,
    `rank 0), \`${RUN_DIR}/run.json\` and \`${RUN_DIR}/model/\` (Hugging Face layout). The page's "Import metrics"`,
    'overlays a metrics.jsonl on its charts.',
    '',
  ].join('\n');
}

/** The files of the exported folder. */
export function torchExportFiles(input: TorchExportInput): ExportFile[] {
  const { method } = input.config;
  if (!(EXPORTED_METHODS as readonly string[]).includes(method)) {
    throw new Error(
      `export-torch: method ${method} is not exported (the script implements ${EXPORTED_METHODS.join(' and ')}; the relatives run in the playground only)`,
    );
  }
  const utf8 = new TextEncoder();
  const hasModel = input.model !== undefined && input.model.length > 0;
  const dataName = input.data ? dataFileName(input.data.name) : null;
  const files: ExportFile[] = [
    { name: SCRIPT_NAME, bytes: utf8.encode(input.script) },
    { name: 'config.json', bytes: utf8.encode(configJson(input.config)) },
    {
      name: 'README.md',
      bytes: utf8.encode(readme(input.config, hasModel, dataName, input.vocabText !== undefined)),
    },
  ];
  if (hasModel) for (const f of input.model ?? []) files.push({ name: `model/${f.name}`, bytes: f.bytes });
  else if (input.vocabText !== undefined) {
    const v = input.vocabText;
    files.push({ name: 'vocab.txt', bytes: utf8.encode(v.endsWith('\n') ? v : v + '\n') });
  }
  if (input.data && dataName !== null) {
    files.push({ name: dataName, bytes: input.data.bytes ?? utf8.encode(input.data.text) });
  }
  if (input.dev) {
    const name = dataFileName(input.dev.name).replace(/^data\./, 'dev.');
    files.push({ name, bytes: input.dev.bytes ?? utf8.encode(input.dev.text) });
  }
  return files;
}
