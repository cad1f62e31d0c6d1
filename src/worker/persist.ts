/**
 * Saved runs: a store of plain JSON and bytes (no tfjs here). A run is a record (name, config, status, every
 * metric row up to its checkpoint), its latest checkpoint (src/core/train/checkpoint.ts: JSON + one packed
 * buffer), and the inputs its `create` message carried (the data file's text, model files), kept once per
 * content hash. `RunStore` is the interface; `openIdbStore` keeps it in IndexedDB (through idb), and
 * `MemoryRunStore` in a Map (unit tests, and nothing else). `RunArchive` is the policy the trainer uses: it
 * never throws, and reports every failure as one line (`problem`), so training goes on in memory.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

import { withSavedDefaults, type TrainConfig } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import type { MetricRow } from '../core/metrics.ts';
import type { Checkpoint } from '../core/train/checkpoint.ts';
import type { RunStatus, SavedRunInfo, SavedRuns } from '../protocol/messages.ts';

/**
 * A checkpoint every this many steps (and at pause and at the end). A page setting, not a config field: how
 * often a run is saved does not change what it computes. A checkpoint of the tiny model is 18 MB (1.5 M
 * parameters, each with two AdamW moments, float32), written in the worker between two steps.
 */
export const DEFAULT_CHECKPOINT_EVERY = 25;

/** The inputs of a run's `create` message: strings inline, anything else by content hash in the blob store. */
export interface StoredSource {
  inline: Record<string, string>;
  blobs: Record<string, string>;
}

export interface SavedRunRecord {
  id: string;
  name: string;
  dataName: string;
  modelName: string;
  /** The checkpoint's step. */
  step: number;
  status: RunStatus;
  /** Milliseconds since 1970, UTC. */
  startedAt: number;
  updatedAt: number;
  config: TrainConfig;
  source: StoredSource;
  /** Every metric row up to `step`. */
  metrics: MetricRow[];
  /** Bytes of the checkpoint's tensors. */
  checkpointBytes: number;
}

/** Where saved runs live. Every method may reject (quota, a closed database); `RunArchive` catches. */
export interface RunStore {
  list(): Promise<SavedRunRecord[]>;
  get(id: string): Promise<SavedRunRecord | undefined>;
  /** Writes the record and, when given, its checkpoint, together (one transaction where the store has them). */
  put(record: SavedRunRecord, checkpoint?: Checkpoint): Promise<void>;
  checkpoint(id: string): Promise<Checkpoint | undefined>;
  hasBlob(hash: string): Promise<boolean>;
  putBlob(hash: string, value: unknown): Promise<void>;
  blob(hash: string): Promise<unknown>;
  /** Removes the run, its checkpoint, and the blobs no other run refers to. */
  delete(id: string): Promise<void>;
  /** Bytes used and available to the origin, when the host says. */
  estimate(): Promise<{ usage: number; quota: number } | null>;
}

/** Blob hashes a set of records still refer to. */
function referencedBlobs(records: readonly SavedRunRecord[]): Set<string> {
  return new Set(records.flatMap((r) => Object.values(r.source.blobs)));
}

/** A RunStore in memory; values are structured-cloned in and out, as IndexedDB does. */
export class MemoryRunStore implements RunStore {
  readonly runs = new Map<string, SavedRunRecord>();
  readonly checkpoints = new Map<string, Checkpoint>();
  readonly blobs = new Map<string, unknown>();
  /** When set, every write rejects with it (a full quota in tests). */
  failWrites: Error | null = null;

  /** Runs `f` as a store operation: its result (structured-cloned, as IndexedDB gives copies) or its error. */
  private op<T>(f: () => T, write = false): Promise<T> {
    if (write && this.failWrites) return Promise.reject(this.failWrites);
    try {
      return Promise.resolve(structuredClone(f()));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  list = () => this.op(() => [...this.runs.values()]);
  get = (id: string) => this.op(() => this.runs.get(id));
  checkpoint = (id: string) => this.op(() => this.checkpoints.get(id));
  hasBlob = (hash: string) => this.op(() => this.blobs.has(hash));
  blob = (hash: string) => this.op(() => this.blobs.get(hash));

  put(record: SavedRunRecord, checkpoint?: Checkpoint): Promise<void> {
    return this.op(() => {
      this.runs.set(record.id, structuredClone(record));
      if (checkpoint) this.checkpoints.set(record.id, structuredClone(checkpoint));
    }, true);
  }

  putBlob(hash: string, value: unknown): Promise<void> {
    return this.op(() => void this.blobs.set(hash, structuredClone(value)), true);
  }

  delete(id: string): Promise<void> {
    return this.op(() => {
      this.runs.delete(id);
      this.checkpoints.delete(id);
      const keep = referencedBlobs([...this.runs.values()]);
      for (const hash of [...this.blobs.keys()]) if (!keep.has(hash)) this.blobs.delete(hash);
    });
  }

  estimate(): Promise<{ usage: number; quota: number } | null> {
    let usage = 0;
    this.checkpoints.forEach((c) => (usage += c.data.byteLength));
    return Promise.resolve({ usage, quota: Infinity });
  }
}

interface RunsDb extends DBSchema {
  runs: { key: string; value: SavedRunRecord };
  checkpoints: { key: string; value: Checkpoint };
  blobs: { key: string; value: unknown };
}

export const DB_NAME = 'alum-playground';

/** The IndexedDB store. Rejects when there is no IndexedDB (`indexedDB` undefined) or it cannot be opened. */
export async function openIdbStore(name = DB_NAME): Promise<RunStore> {
  if (typeof indexedDB === 'undefined') throw new Error('this browser offers no IndexedDB here');
  const db: IDBPDatabase<RunsDb> = await openDB<RunsDb>(name, 1, {
    upgrade(d) {
      d.createObjectStore('runs', { keyPath: 'id' });
      d.createObjectStore('checkpoints');
      d.createObjectStore('blobs');
    },
  });
  return {
    list: () => db.getAll('runs'),
    get: (id) => db.get('runs', id),
    async put(record, checkpoint) {
      const tx = db.transaction(['runs', 'checkpoints'], 'readwrite');
      const writes: Promise<unknown>[] = [tx.objectStore('runs').put(record)];
      if (checkpoint) writes.push(tx.objectStore('checkpoints').put(checkpoint, record.id));
      await Promise.all([...writes, tx.done]);
    },
    checkpoint: (id) => db.get('checkpoints', id),
    hasBlob: async (hash) => (await db.getKey('blobs', hash)) !== undefined,
    putBlob: async (hash, value) => void (await db.put('blobs', value, hash)),
    blob: (hash) => db.get('blobs', hash),
    async delete(id) {
      const tx = db.transaction(['runs', 'checkpoints', 'blobs'], 'readwrite');
      const runs = tx.objectStore('runs');
      const blobs = tx.objectStore('blobs');
      await runs.delete(id);
      await tx.objectStore('checkpoints').delete(id);
      const keep = referencedBlobs(await runs.getAll());
      for (const hash of await blobs.getAllKeys()) if (!keep.has(hash)) await blobs.delete(hash);
      await tx.done;
    },
    async estimate() {
      const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
      if (!storage?.estimate) return null;
      const e = await storage.estimate();
      return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
    },
  };
}

/**
 * SHA-256 (hex) of a value's content: strings, numbers, booleans, null, byte buffers and views, Blobs, arrays
 * and plain objects (keys sorted), each tagged with its kind and length, so equal content gives equal hashes.
 */
export async function contentHash(value: unknown): Promise<string> {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const tag = (kind: string, n: number) => parts.push(enc.encode(`${kind}${n}:`));
  const walk = async (v: unknown): Promise<void> => {
    if (typeof v === 'string') {
      const bytes = enc.encode(v);
      tag('s', bytes.length);
      parts.push(bytes);
    } else if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) {
      const text = String(v);
      tag('p', text.length);
      parts.push(enc.encode(text));
    } else if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      const bytes =
        v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      tag('b', bytes.length);
      parts.push(bytes);
    } else if (typeof Blob !== 'undefined' && v instanceof Blob) {
      await walk(new Uint8Array(await v.arrayBuffer()));
    } else if (Array.isArray(v)) {
      tag('a', v.length);
      for (const x of v) await walk(x);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v).sort();
      tag('o', keys.length);
      for (const k of keys) {
        await walk(k);
        await walk((v as Record<string, unknown>)[k]);
      }
    } else {
      throw new Error(`cannot hash a ${typeof v}`);
    }
  };
  await walk(value);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One line for a failed write: a full quota says so by name. */
export function saveFailure(e: unknown): string {
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'QuotaExceededError') return 'not saved: storage is full (QuotaExceededError)';
  return `not saved: ${errorMessage(e)}`;
}

/** What the trainer knows of a live run when it saves it. */
export interface RunSnapshot {
  id: string;
  name: string;
  dataName: string;
  modelName: string;
  startedAt: number;
  status: RunStatus;
  config: TrainConfig;
  /** The `create` message's inputs (everything but type, runId and config). */
  source: Record<string, unknown>;
  /** Every metric row up to the checkpoint's step. */
  metrics: MetricRow[];
}

/**
 * The trainer's view of saved runs. Never throws: a store that cannot be opened, or a write that fails, sets
 * `problem` (one line) and the caller carries on in memory.
 */
export class RunArchive {
  problem: string | null = null;
  private readonly store: Promise<RunStore | null>;
  /** Source values already hashed (and stored), so a large data file is hashed once per run, not per save. */
  private readonly hashes = new WeakMap<object, Promise<string>>();

  constructor(
    open: () => Promise<RunStore>,
    /** A checkpoint every this many steps (0: only at pause, done and dispose). */
    readonly checkpointEvery = DEFAULT_CHECKPOINT_EVERY,
  ) {
    this.store = open().catch((e: unknown) => {
      this.problem = `saved runs unavailable (${errorMessage(e)}): training goes on in memory only`;
      return null;
    });
  }

  /** Writes the run's record and checkpoint; true when saved. */
  async save(snap: RunSnapshot, checkpoint: Checkpoint): Promise<boolean> {
    const store = await this.store;
    if (!store) return false;
    try {
      const record: SavedRunRecord = {
        id: snap.id,
        name: snap.name,
        dataName: snap.dataName,
        modelName: snap.modelName,
        step: checkpoint.meta.step,
        status: snap.status,
        startedAt: snap.startedAt,
        updatedAt: Date.now(),
        config: snap.config,
        source: await this.storeSource(store, snap.source),
        metrics: snap.metrics.filter((r) => r.step <= checkpoint.meta.step),
        checkpointBytes: checkpoint.data.byteLength,
      };
      await store.put(record, checkpoint);
      if (this.problem?.startsWith('not saved')) this.problem = null;
      return true;
    } catch (e) {
      this.problem = saveFailure(e);
      return false;
    }
  }

  private async storeSource(store: RunStore, source: Record<string, unknown>): Promise<StoredSource> {
    const out: StoredSource = { inline: {}, blobs: {} };
    for (const [key, value] of Object.entries(source)) {
      if (value === undefined) continue;
      if (typeof value === 'string') {
        out.inline[key] = value;
        continue;
      }
      const cacheable = typeof value === 'object' && value !== null;
      let hash = cacheable ? this.hashes.get(value) : undefined;
      if (!hash) {
        hash = (async () => {
          const h = await contentHash(value);
          if (!(await store.hasBlob(h))) await store.putBlob(h, value);
          return h;
        })();
        if (cacheable) {
          this.hashes.set(value, hash);
          hash.catch(() => this.hashes.delete(value));
        }
      }
      out.blobs[key] = await hash;
    }
    return out;
  }

  /** The saved runs for the page: `live` maps saved ids to the worker's runs that hold them now. */
  async list(live: ReadonlyMap<string, string>): Promise<SavedRuns> {
    const store = await this.store;
    if (!store) return { available: false, problem: this.problem, runs: [], usage: null, quota: null };
    try {
      const records = await store.list();
      const estimate = await store.estimate().catch(() => null);
      const runs: SavedRunInfo[] = records
        .sort((a, b) => b.startedAt - a.startedAt)
        .map((r) => ({
          id: r.id,
          name: r.name,
          dataName: r.dataName,
          modelName: r.modelName,
          step: r.step,
          steps: r.config.steps,
          // Saved while running and not live now: the page was closed or crashed mid-run.
          status: r.status === 'running' && !live.has(r.id) ? 'interrupted' : r.status,
          startedAt: r.startedAt,
          updatedAt: r.updatedAt,
          bytes: r.checkpointBytes,
          config: savedConfig(r),
          liveRunId: live.get(r.id) ?? null,
        }));
      return {
        available: true,
        problem: this.problem,
        runs,
        usage: estimate?.usage ?? null,
        quota: estimate?.quota ?? null,
      };
    } catch (e) {
      return {
        available: false,
        problem: `saved runs unreadable: ${errorMessage(e)}`,
        runs: [],
        usage: null,
        quota: null,
      };
    }
  }

  /** A saved run's record, its `create` inputs with the blobs put back, and its checkpoint. Throws one line. */
  async load(
    id: string,
  ): Promise<{ record: SavedRunRecord; source: Record<string, unknown>; checkpoint: Checkpoint }> {
    const store = await this.store;
    if (!store) throw new Error(this.problem ?? 'saved runs unavailable');
    const record = await store.get(id);
    if (!record) throw new Error(`no saved run '${id}'`);
    const checkpoint = await store.checkpoint(id);
    if (!checkpoint) throw new Error(`saved run '${record.name}' has no checkpoint`);
    const config = savedConfig(record);
    const source: Record<string, unknown> = { ...record.source.inline };
    for (const [key, hash] of Object.entries(record.source.blobs)) {
      const value = await store.blob(hash);
      if (value === undefined)
        throw new Error(`saved run '${record.name}': its ${key} is missing from storage`);
      source[key] = value;
    }
    const meta = { ...checkpoint.meta, config: withSavedDefaults(checkpoint.meta.config, hasModel(record)) };
    return { record: { ...record, config }, source, checkpoint: { ...checkpoint, meta } };
  }

  /** Renames a saved run; an empty name is refused. Throws one line. */
  async rename(id: string, name: string): Promise<void> {
    const trimmed = name.trim();
    if (trimmed === '') throw new Error('a run name cannot be empty');
    const store = await this.store;
    if (!store) throw new Error(this.problem ?? 'saved runs unavailable');
    const record = await store.get(id);
    if (!record) throw new Error(`no saved run '${id}'`);
    await store.put({ ...record, name: trimmed.slice(0, 200) });
  }

  async remove(id: string): Promise<void> {
    const store = await this.store;
    if (!store) throw new Error(this.problem ?? 'saved runs unavailable');
    await store.delete(id);
  }
}

/** A record's config, with the fields an earlier version did not save (core/config.ts withSavedDefaults). */
function savedConfig(r: SavedRunRecord): TrainConfig {
  return withSavedDefaults(r.config, hasModel(r));
}

/** Whether the run was made from a model the user loaded (stored with it as a blob). */
function hasModel(r: SavedRunRecord): boolean {
  return 'model' in r.source.blobs;
}
