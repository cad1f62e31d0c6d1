/**
 * A TrainingRun's whole state as plain JSON plus one packed float32 buffer, and back: the weights, AdamW's
 * moments and update count, the step and skip counters, the run's RNG state, the data order and the position
 * in it, the config, and SMART's EMA copy of the weights when the run has one (`ema/` tensors). Restoring a checkpoint into a fresh run made from the same config and data makes its
 * next steps exactly those the original run would have taken (checkpoint.test.ts). No IndexedDB here: the
 * worker stores these bytes (src/worker/persist.ts); the CLI or a test may keep them anywhere.
 */
import * as tf from '@tensorflow/tfjs';

import { CONFIG_KEYS, DEFAULT_CONFIG, type ModelConfig, type TrainConfig } from '../config.ts';
import { checkRngState, type RngState } from '../rng.ts';
import type { TrainingRun } from './run.ts';

export const CHECKPOINT_VERSION = 1;

/** Tensor name prefixes in the packed buffer. */
const PARAM = 'param/';
const ADAM_M = 'adam.m/';
const ADAM_V = 'adam.v/';
/** SMART's EMA copy of the weights (methods.ts), present only while the run has one. */
const EMA = 'ema/';

/** Where one tensor lies in the packed buffer, in float32 elements. */
export interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export interface CheckpointMeta {
  version: typeof CHECKPOINT_VERSION;
  config: TrainConfig;
  model: ModelConfig;
  labels: string[];
  /** Optimizer steps taken; the metric rows up to this step belong to the checkpoint. */
  step: number;
  skipped: number;
  rngState: RngState;
  /** The current epoch's permutation of the training rows, and the next position in it. */
  order: number[];
  cursor: number;
  /** AdamW's update count (equal to `step` for runs made here; kept apart as the optimizer's own state). */
  optimizerStep: number;
  tensors: TensorEntry[];
}

/** `data` holds every tensor of `meta.tensors`, float32, little-endian (the platform's). */
export interface Checkpoint {
  meta: CheckpointMeta;
  data: ArrayBuffer;
}

/** Reads the run's state back from the backend; the run itself is untouched. */
export async function captureCheckpoint(run: TrainingRun): Promise<Checkpoint> {
  const arrays: [string, number[], Float32Array][] = [];
  for (const [name, p] of run.params) arrays.push([PARAM + name, p.shape, (await p.data()) as Float32Array]);
  const adam = await run.optimizer.exportState();
  for (const [name, p] of run.params) {
    arrays.push([ADAM_M + name, p.shape, adam.m.get(name) as Float32Array]);
    arrays.push([ADAM_V + name, p.shape, adam.v.get(name) as Float32Array]);
  }
  for (const [name, p] of run.emaParams ?? []) {
    arrays.push([EMA + name, p.shape, (await p.data()) as Float32Array]);
  }
  const total = arrays.reduce((n, [, , a]) => n + a.length, 0);
  const packed = new Float32Array(total);
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const [name, shape, a] of arrays) {
    packed.set(a, offset);
    tensors.push({ name, shape: [...shape], offset, length: a.length });
    offset += a.length;
  }
  const { order, cursor } = run.dataPosition;
  return {
    meta: {
      version: CHECKPOINT_VERSION,
      config: { ...run.config },
      model: { ...run.model },
      labels: [...run.labels],
      step: run.step,
      skipped: run.skipped,
      rngState: run.rng.getState(),
      order: [...order],
      cursor,
      optimizerStep: adam.t,
      tensors,
    },
    data: packed.buffer,
  };
}

/**
 * Puts a checkpoint's state into `run`, a run made from the same config, model and data (by `createRun`).
 * Everything that can be checked is checked before anything changes: a mismatch gets one line naming `origin`
 * and the field or tensor. If the data order still proves wrong the run is half restored: discard it.
 */
export function restoreCheckpoint(run: TrainingRun, ckpt: Checkpoint, origin: string): void {
  const meta = checkCheckpointMeta(ckpt.meta, origin);
  for (const key of CONFIG_KEYS) {
    // A field added after the checkpoint was written counts as its default.
    const stored = key in meta.config ? meta.config[key] : DEFAULT_CONFIG[key];
    if (stored !== run.config[key]) {
      throw new Error(
        `${origin}: config field '${key}' is ${JSON.stringify(stored)}, the run has ${JSON.stringify(run.config[key])}`,
      );
    }
  }
  for (const key of Object.keys(run.model) as (keyof ModelConfig)[]) {
    if (meta.model[key] !== run.model[key]) {
      throw new Error(
        `${origin}: model field '${key}' is ${meta.model[key]}, the run's model has ${run.model[key]}`,
      );
    }
  }
  if (meta.labels.join('\n') !== run.labels.join('\n')) {
    throw new Error(
      `${origin}: labels [${meta.labels.join(', ')}] differ from the data's [${run.labels.join(', ')}]`,
    );
  }
  const arrays = unpack(meta.tensors, ckpt.data, origin);
  const take = (name: string, shape: readonly number[]): Float32Array => {
    const a = arrays.get(name);
    if (!a) throw new Error(`${origin}: missing tensor '${name}'`);
    const size = shape.reduce((x, y) => x * y, 1);
    if (a.length !== size)
      throw new Error(`${origin}: tensor '${name}' has ${a.length} values, expected ${size}`);
    return a;
  };
  const params = new Map<string, Float32Array>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, p] of run.params) {
    params.set(name, take(PARAM + name, p.shape));
    m.set(name, take(ADAM_M + name, p.shape));
    v.set(name, take(ADAM_V + name, p.shape));
  }
  const hasEma = [...arrays.keys()].some((n) => n.startsWith(EMA));
  const ema = hasEma ? new Map<string, Float32Array>() : null;
  for (const [name, p] of hasEma ? run.params : []) ema?.set(name, take(EMA + name, p.shape));
  if (arrays.size !== (hasEma ? 4 : 3) * run.params.size) {
    const known = new Set(
      [...run.params.keys()].flatMap((n) => [
        PARAM + n,
        ADAM_M + n,
        ADAM_V + n,
        ...(hasEma ? [EMA + n] : []),
      ]),
    );
    throw new Error(`${origin}: unexpected tensor '${[...arrays.keys()].find((n) => !known.has(n)) ?? '?'}'`);
  }
  run.setDataPosition(meta.order, meta.cursor, origin);
  run.optimizer.importState({ t: meta.optimizerStep, m, v }, origin);
  for (const [name, p] of run.params) {
    const staging = tf.tensor(params.get(name) as Float32Array, p.shape);
    p.assign(staging);
    staging.dispose();
  }
  run.restoreEma(ema);
  run.step = meta.step;
  run.skipped = meta.skipped;
  run.rng.setState(meta.rngState);
}

/** Views of each tensor in the packed buffer, after checking that every entry lies inside it. */
function unpack(
  entries: readonly TensorEntry[],
  data: ArrayBuffer,
  origin: string,
): Map<string, Float32Array> {
  if (data.byteLength % 4 !== 0)
    throw new Error(`${origin}: tensor data is ${data.byteLength} bytes, not float32s`);
  const all = new Float32Array(data);
  const out = new Map<string, Float32Array>();
  for (const e of entries) {
    if (e.offset + e.length > all.length) {
      throw new Error(
        `${origin}: tensor '${e.name}' ends at ${e.offset + e.length}, past the data's ${all.length} values`,
      );
    }
    if (out.has(e.name)) throw new Error(`${origin}: tensor '${e.name}' appears twice`);
    out.set(e.name, all.subarray(e.offset, e.offset + e.length));
  }
  return out;
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/** Checks the JSON part of a stored checkpoint; one line naming `origin` and the field when it is malformed. */
export function checkCheckpointMeta(x: unknown, origin: string): CheckpointMeta {
  const bad = (field: string, what: string): never => {
    throw new Error(`${origin}: checkpoint field '${field}' ${what}`);
  };
  if (!isRecord(x)) return bad('meta', 'is not an object');
  if (x.version !== CHECKPOINT_VERSION)
    bad('version', `is ${JSON.stringify(x.version)}, expected ${CHECKPOINT_VERSION}`);
  if (!isRecord(x.config)) bad('config', 'is not an object');
  if (!isRecord(x.model)) bad('model', 'is not an object');
  if (!Array.isArray(x.labels) || !x.labels.every((l) => typeof l === 'string'))
    bad('labels', 'is not a list of strings');
  for (const key of ['step', 'skipped', 'cursor', 'optimizerStep'] as const) {
    if (!isCount(x[key])) bad(key, 'is not a non-negative integer');
  }
  checkRngState(x.rngState, `${origin}: checkpoint field 'rngState'`);
  if (!Array.isArray(x.order) || !x.order.every(isCount)) bad('order', 'is not a list of row indices');
  if (!Array.isArray(x.tensors)) return bad('tensors', 'is not a list');
  x.tensors.forEach((t: unknown, i) => {
    const ok =
      isRecord(t) &&
      typeof t.name === 'string' &&
      Array.isArray(t.shape) &&
      t.shape.every(isCount) &&
      isCount(t.offset) &&
      isCount(t.length);
    if (!ok) bad(`tensors[${i}]`, 'is not {name, shape, offset, length}');
  });
  return x as unknown as CheckpointMeta;
}
