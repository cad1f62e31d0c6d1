/**
 * The safetensors file format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of
 * JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the
 * raw little-endian tensor bytes. Pure bytes in and out; reading files is the caller's job.
 */

export type SafeDType = 'F32' | 'I32' | 'I64';

export interface NamedArray {
  dtype: SafeDType;
  shape: number[];
  /** F32 -> Float32Array, I32 -> Int32Array, I64 -> BigInt64Array. */
  data: Float32Array | Int32Array | BigInt64Array;
}

export interface SafetensorsFile {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

const BYTES: Record<SafeDType, number> = { F32: 4, I32: 4, I64: 8 };

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Serialises tensors (in sorted name order) and string metadata into safetensors bytes. */
export function encodeSafetensors(
  tensors: Map<string, NamedArray>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name) as NamedArray;
    if (product(t.shape) !== t.data.length) {
      throw new Error(
        `safetensors: tensor '${name}' has ${t.data.length} values but shape [${t.shape.join(',')}]`,
      );
    }
    const size = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name) as NamedArray;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, pos); // typed arrays are little-endian on every platform tfjs runs on
    pos += bytes.length;
  }
  return out;
}

/** Parses safetensors bytes. Throws a one-line error naming `origin` on a malformed file. */
export function decodeSafetensors(bytes: Uint8Array, origin = 'model.safetensors'): SafetensorsFile {
  if (bytes.length < 8)
    throw new Error(`${origin}: too short to be a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.length)
    throw new Error(`${origin}: header length ${n} does not fit in ${bytes.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch {
    throw new Error(`${origin}: header is not valid JSON`);
  }
  const dataStart = 8 + n;
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype;
    if (dtype !== 'F32' && dtype !== 'I32' && dtype !== 'I64') {
      throw new Error(
        `${origin}: tensor '${name}' has unsupported dtype ${JSON.stringify(dtype)} (F32, I32, I64 supported)`,
      );
    }
    const shape = e.shape;
    const offsets = e.data_offsets;
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) {
      throw new Error(`${origin}: tensor '${name}' has a malformed header entry`);
    }
    const [begin, end] = offsets as [number, number];
    const count = product(shape as number[]);
    if (end - begin !== count * BYTES[dtype] || dataStart + end > bytes.length) {
      throw new Error(
        `${origin}: tensor '${name}' data_offsets [${begin},${end}] do not match shape [${shape.join(',')}]`,
      );
    }
    const slice = bytes.slice(dataStart + begin, dataStart + end); // copy: aligned and owned
    const data =
      dtype === 'F32'
        ? new Float32Array(slice.buffer)
        : dtype === 'I32'
          ? new Int32Array(slice.buffer)
          : new BigInt64Array(slice.buffer);
    tensors.set(name, { dtype, shape: shape as number[], data });
  }
  return { tensors, metadata };
}
