/**
 * PyTorch `torch.save` checkpoints (`pytorch_model.bin`) as named arrays, without running their pickle.
 * Since PyTorch 1.6, torch.save writes a zip: `<name>/data.pkl` (pickle protocol 2 of the saved object, here a
 * state dict name -> tensor) and one raw little-endian entry `<name>/data/<key>` per storage; a tensor is pickled
 * as a REDUCE of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` where the
 * storage is a persistent id `('storage', torch.<Type>Storage, key, location, numel)`.
 * Format source: pytorch/pytorch torch/serialization.py (`_save`, `_load`) and torch/_utils.py, read at tag
 * v1.13.0. The pickle runs on our restricted machine (pickle.ts) with the allowed set below.
 * Every size is checked against the zip's directory before anything is decompressed or allocated.
 */
import { unzipSync, type UnzipFileInfo } from 'fflate';

import { unpickle, PyDict, PyTuple, type AllowedGlobal, type PickleValue } from './pickle.ts';
import { checkedElements, DTYPE_BYTES, type NamedArray, type SafeDType } from './safetensors.ts';

/** Storage classes torch.save names in persistent ids, and the dtype of their bytes. */
const STORAGE_DTYPES: ReadonlyMap<string, SafeDType> = new Map([
  ['torch.FloatStorage', 'F32'],
  ['torch.HalfStorage', 'F16'],
  ['torch.BFloat16Storage', 'BF16'],
  ['torch.LongStorage', 'I64'],
  ['torch.IntStorage', 'I32'],
]);
/** More zip entries than any state dict has (one per storage): a directory claiming more is refused. */
const MAX_ENTRIES = 200_000;
/** Largest total of uncompressed bytes read from one archive (2 GiB). */
const MAX_ARCHIVE_BYTES = 2 ** 31;

class Storage {
  constructor(
    readonly key: string,
    readonly dtype: SafeDType,
    readonly numel: number,
  ) {}
}

/** A view into a storage, as `_rebuild_tensor_v2` describes it; materialised after the pickle ends. */
class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

function intList(v: PickleValue, what: string): number[] {
  if (!(v instanceof PyTuple) || !v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x)))
    throw new Error(`${what} is not a tuple of integers`);
  return v.items as number[];
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
/** A name from the file, printable on one line: control characters (a line break in a zip entry name) escaped. */
function printable(name: string): string {
  const control = (c: string) => c.charCodeAt(0) < 0x20 || c === '\u007f';
  return [...name].map((c) => (control(c) ? JSON.stringify(c).slice(1, -1) : c)).join('');
}

function rebuildTensor(args: PickleValue[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (args.length < 4 || !(storage instanceof Storage))
    throw new Error('expected (storage, offset, size, stride, ...)');
  const shape = intList(size ?? null, 'size');
  const strides = intList(stride ?? null, 'stride');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    throw new Error(
      `storage offset ${typeof offset === 'number' ? offset : typeof offset} is not a non-negative integer`,
    );
  if (strides.length !== shape.length || strides.some((s) => s < 0))
    throw new Error(`stride [${strides.join(',')}] does not fit shape [${shape.join(',')}]`);
  const numel = checkedElements(shape, `tensor of shape [${shape.join(',')}]`);
  // The last element the view reads must lie inside the storage.
  const last =
    numel === 0 ? offset - 1 : shape.reduce((acc, d, i) => acc + (d - 1) * (strides[i] as number), offset);
  if (last >= storage.numel) {
    throw new Error(
      `view (offset ${offset}, shape [${shape.join(',')}], stride [${strides.join(',')}]) reaches element ${last} of storage '${printable(storage.key)}' of ${storage.numel} elements`,
    );
  }
  // Only broadcast (stride-0) views can hold more elements than their storage; refusing them bounds every
  // allocation by the bytes the archive really holds.
  if (numel > storage.numel) {
    throw new Error(
      `view of shape [${shape.join(',')}] has more elements than its storage '${printable(storage.key)}' (${storage.numel}); broadcast views are not supported`,
    );
  }
  return new TensorRef(storage, offset, shape, strides);
}

/**
 * The only globals a state dict's pickle may name. Anything else (os.system, builtins.eval, a pickled
 * nn.Module class, ...) is refused by the machine with the name it tried.
 */
function allowedGlobals(): Map<string, AllowedGlobal> {
  const allowed = new Map<string, AllowedGlobal>([
    [
      'collections.OrderedDict',
      {
        reason: 'state_dict() returns an OrderedDict, and each tensor carries an empty OrderedDict of hooks',
        call: (args) => {
          const d = new PyDict();
          const items = args[0];
          if (args.length > 1 || (items !== undefined && !Array.isArray(items)))
            throw new Error('OrderedDict takes at most a list of pairs');
          for (const pair of (items as PickleValue[] | undefined) ?? []) {
            if (!(pair instanceof PyTuple) || pair.items.length !== 2)
              throw new Error('OrderedDict item is not a pair');
            const [k, v] = pair.items as [PickleValue, PickleValue];
            if (k !== null && typeof k === 'object')
              throw new Error('OrderedDict key is not a string or number');
            d.map.set(k, v);
          }
          return d;
        },
      },
    ],
    [
      'torch._utils._rebuild_tensor_v2',
      { reason: 'how torch.save pickles every tensor: a view into a storage', call: rebuildTensor },
    ],
    [
      'torch._utils._rebuild_parameter',
      {
        reason: 'state_dict(keep_vars=True) holds nn.Parameter objects: (tensor, requires_grad, hooks)',
        call: (args) => {
          if (!(args[0] instanceof TensorRef)) throw new Error('expected a tensor');
          return args[0];
        },
      },
    ],
  ]);
  for (const name of STORAGE_DTYPES.keys()) {
    allowed.set(name, { reason: 'names the dtype of a storage in its persistent id; never called' });
  }
  return allowed;
}

function unzip(
  bytes: Uint8Array,
  origin: string,
  want: (file: UnzipFileInfo) => boolean,
): Record<string, Uint8Array> {
  let entries = 0;
  let total = 0;
  const filter = (f: UnzipFileInfo): boolean => {
    if (++entries > MAX_ENTRIES) throw new Error(`more than ${MAX_ENTRIES} entries`);
    if (!want(f)) return false;
    total += f.originalSize;
    if (total > MAX_ARCHIVE_BYTES) throw new Error(`more than ${MAX_ARCHIVE_BYTES} bytes uncompressed`);
    // Deflate expands at most ~1032:1; a directory claiming more is a zip bomb (the size is allocated up front).
    if (f.compression === 8 && f.originalSize > 1032 * f.size + 1024)
      throw new Error(`entry '${f.name}' claims ${f.originalSize} bytes from ${f.size} compressed`);
    if (f.compression !== 0 && f.compression !== 8)
      throw new Error(`entry '${f.name}' uses compression method ${f.compression} (stored or deflate only)`);
    return true;
  };
  try {
    return unzipSync(bytes, { filter });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${origin}: not a readable torch.save zip (truncated or corrupt?): ${why}`);
  }
}

/** The zip's directory (name -> uncompressed size) and its data.pkl; no storage is decompressed. */
function readArchive(
  bytes: Uint8Array,
  origin: string,
): { prefix: string; pickle: Uint8Array; sizes: Map<string, number> } {
  const sizes = new Map<string, number>();
  let pklName: string | null = null;
  const files = unzip(bytes, origin, (f) => {
    sizes.set(f.name, f.originalSize);
    // torch.save: '<archive name>/data.pkl', one level deep.
    if (!/^[^/]*\/?data\.pkl$/.test(f.name)) return false;
    if (pklName !== null) throw new Error(`two data.pkl entries ('${pklName}', '${f.name}')`);
    pklName = f.name;
    return true;
  });
  if (pklName === null) throw new Error(`${origin}: a zip without data.pkl is not a torch.save checkpoint`);
  const name: string = pklName;
  return { prefix: name.slice(0, -'data.pkl'.length), pickle: files[name] as Uint8Array, sizes };
}

/** Copies the view's elements in row-major order (a contiguous view is one slice). */
function materialise(ref: TensorRef, raw: Uint8Array): NamedArray {
  const { dtype } = ref.storage;
  const size = DTYPE_BYTES[dtype];
  const numel = ref.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * size);
  let expected = 1;
  let contiguous = true;
  for (let i = ref.shape.length - 1; i >= 0; i--) {
    if ((ref.shape[i] as number) !== 1 && ref.stride[i] !== expected) contiguous = false;
    expected *= ref.shape[i] as number;
  }
  if (contiguous) {
    out.set(raw.subarray(ref.offset * size, (ref.offset + numel) * size));
  } else {
    const index = new Array<number>(ref.shape.length).fill(0);
    for (let k = 0; k < numel; k++) {
      const src = index.reduce((acc, j, d) => acc + j * (ref.stride[d] as number), ref.offset);
      out.set(raw.subarray(src * size, (src + 1) * size), k * size);
      for (let d = ref.shape.length - 1; d >= 0; d--) {
        index[d] = (index[d] as number) + 1;
        if ((index[d] as number) < (ref.shape[d] as number)) break;
        index[d] = 0;
      }
    }
  }
  const buffer = out.buffer;
  const data =
    dtype === 'F32'
      ? new Float32Array(buffer)
      : dtype === 'I64'
        ? new BigInt64Array(buffer)
        : dtype === 'I32'
          ? new Int32Array(buffer)
          : new Uint16Array(buffer);
  return { dtype, shape: ref.shape.slice(), data };
}

function persistentLoader(sizes: Map<string, number>, prefix: string, storages: Map<string, Storage>) {
  return (pid: PickleValue): Storage => {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 5)
      throw new Error("persistent id is not ('storage', type, key, location, numel)");
    const [, type, key, , numel] = pid.items;
    const typeName = (type as { name?: unknown } | null)?.name;
    const dtype = typeof typeName === 'string' ? STORAGE_DTYPES.get(typeName) : undefined;
    if (dtype === undefined || typeof key !== 'string' || typeof numel !== 'number')
      throw new Error('malformed storage persistent id');
    const known = storages.get(key);
    if (known) return known;
    const name = `${prefix}data/${key}`;
    const bytes = sizes.get(name);
    if (bytes === undefined)
      throw new Error(`storage '${printable(key)}' has no entry ${printable(name)} in the zip`);
    if (!Number.isSafeInteger(numel) || numel < 0 || numel * DTYPE_BYTES[dtype] !== bytes) {
      throw new Error(
        `storage '${printable(key)}' holds ${bytes} bytes, but its ${String(numel)} ${dtype} elements need ${numel * DTYPE_BYTES[dtype]}`,
      );
    }
    const s = new Storage(key, dtype, numel);
    storages.set(key, s);
    return s;
  };
}

const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

function checkZip(bytes: Uint8Array, origin: string): void {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return; // 'PK'
  if (LEGACY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new Error(
      `${origin}: the legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a current PyTorch or convert it to model.safetensors`,
    );
  }
  throw new Error(`${origin}: not a torch.save checkpoint (a zip archive starting with 'PK')`);
}

/** Reads a `torch.save`d state dict into named arrays; one Error line naming `origin` for anything else. */
export function decodeTorchBin(bytes: Uint8Array, origin = 'pytorch_model.bin'): Map<string, NamedArray> {
  checkZip(bytes, origin);
  const { prefix, pickle, sizes } = readArchive(bytes, origin);
  const storages = new Map<string, Storage>();
  const top = unpickle(pickle, {
    origin,
    allowed: allowedGlobals(),
    persistentLoad: persistentLoader(sizes, prefix, storages),
  });
  if (!(top instanceof PyDict)) throw new Error(`${origin}: the pickle is not a state dict (name -> tensor)`);
  const refs = new Map<string, TensorRef>();
  for (const [k, v] of top.map) {
    if (typeof k !== 'string' || !(v instanceof TensorRef))
      throw new Error(`${origin}: state dict entry ${JSON.stringify(String(k))} is not a tensor`);
    refs.set(k, v);
  }
  const used = new Set([...refs.values()].map((r) => `${prefix}data/${r.storage.key}`));
  const raw = unzip(bytes, origin, (f) => used.has(f.name));
  const out = new Map<string, NamedArray>();
  for (const [name, ref] of refs) {
    out.set(name, materialise(ref, raw[`${prefix}data/${ref.storage.key}`] as Uint8Array));
  }
  return out;
}
