/**
 * The safetensors file format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of
 * JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the
 * raw little-endian tensor bytes. Pure bytes in and out; reading files is the caller's job.
 */

export type SafeDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

export interface NamedArray {
  dtype: SafeDType;
  shape: number[];
  /**
   * F32 -> Float32Array, F16 and BF16 -> Uint16Array (the raw bits; `toFloat32` decodes them),
   * I32 -> Int32Array, I64 -> BigInt64Array.
   */
  data: Float32Array | Uint16Array | Int32Array | BigInt64Array;
}

export interface SafetensorsFile {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

export const DTYPE_BYTES: Record<SafeDType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
const BYTES = DTYPE_BYTES;
/** The safetensors project's own bound on the header (100 MB): a longer one is refused before it is read. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Most elements one tensor may have (1 GiB of float32): larger shapes are refused before any allocation. */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The element count of `shape`, or an error naming the tensor when a dimension is not a non-negative integer
 * or the count exceeds MAX_TENSOR_ELEMENTS (checked dimension by dimension, so no product overflows).
 */
export function checkedElements(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) throw new Error(`${what}: shape is not a list`);
  let n = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw new Error(
        `${what}: shape [${shape.join(',')}] has a dimension that is not a non-negative integer`,
      );
    n *= d;
    if (n > MAX_TENSOR_ELEMENTS)
      throw new Error(`${what}: shape [${shape.join(',')}] has more than ${MAX_TENSOR_ELEMENTS} elements`);
  }
  return n;
}

/** IEEE 754 binary16 bits -> number (exact: every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 -> IEEE half bits, rounding to nearest even (as numpy's astype(float16)); overflow -> inf. */
export function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0] as number;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && (half & 1) === 1) ? 1 : 0));
  }
  const half = mant >>> 13;
  const rest = mant & 0x1fff;
  const out = (e << 10) | half;
  // Rounding up may carry into the exponent (and up to 0x7c00, inf): that is the correctly rounded value.
  return sign | (out + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0));
}

/** A tensor's values as float32: F16 and BF16 are widened exactly; integer dtypes are refused. */
export function toFloat32(t: NamedArray, what: string): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  if (t.dtype === 'F16') return Float32Array.from(t.data as Uint16Array, halfToFloat);
  if (t.dtype === 'BF16') {
    // bfloat16 is the high half of a float32: shift its bits into place.
    const bits = new Uint32Array((t.data as Uint16Array).length);
    (t.data as Uint16Array).forEach((b, i) => (bits[i] = b << 16));
    return new Float32Array(bits.buffer);
  }
  throw new Error(`${what}: dtype ${t.dtype} where a floating-point tensor (F32, F16, BF16) is needed`);
}

function typedArray(dtype: SafeDType, buffer: ArrayBuffer): NamedArray['data'] {
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I64':
      return new BigInt64Array(buffer);
  }
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

function isDType(x: unknown): x is SafeDType {
  return typeof x === 'string' && Object.hasOwn(BYTES, x);
}

function readHeader(
  bytes: Uint8Array,
  origin: string,
): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8)
    throw new Error(`${origin}: too short to be a safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const big = view.getBigUint64(0, true);
  if (big > BigInt(MAX_HEADER_BYTES))
    throw new Error(`${origin}: header length ${big} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(big);
  if (n <= 0 || 8 + n > bytes.length)
    throw new Error(`${origin}: header length ${n} does not fit in ${bytes.length} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw new Error(`${origin}: header is not valid JSON`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new Error(`${origin}: header is not a JSON object`);
  return { header: header as Record<string, unknown>, dataStart: 8 + n };
}

function readMetadata(entry: unknown, origin: string): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new Error(`${origin}: __metadata__ is not an object`);
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') throw new Error(`${origin}: __metadata__ '${k}' is not a string`);
  }
  return entry as Record<string, string>;
}

/** One header entry's tensor; every check happens before the copy of its bytes. */
function readTensor(
  bytes: Uint8Array,
  dataStart: number,
  name: string,
  entry: unknown,
  origin: string,
): NamedArray {
  const what = `${origin}: tensor '${name}'`;
  if (typeof entry !== 'object' || entry === null) throw new Error(`${what} has a malformed header entry`);
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const dtype = e.dtype;
  if (!isDType(dtype)) {
    throw new Error(
      `${what} has unsupported dtype ${JSON.stringify(dtype)} (${Object.keys(BYTES).join(', ')} supported)`,
    );
  }
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o)))
    throw new Error(`${what} has a malformed header entry (data_offsets)`);
  const count = checkedElements(e.shape, what);
  const shape = e.shape as number[];
  const [begin, end] = offsets as [number, number];
  if (begin < 0 || end - begin !== count * BYTES[dtype] || dataStart + end > bytes.length) {
    throw new Error(`${what} data_offsets [${begin},${end}] do not match shape [${shape.join(',')}]`);
  }
  // A copy, aligned and owned. Through Uint8Array's own slice: a Node Buffer's `slice` is a view of the whole file.
  const slice = Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end);
  return { dtype, shape: shape.slice(), data: typedArray(dtype, slice.buffer) };
}

/**
 * Parses safetensors bytes. Throws a one-line error naming `origin` on a malformed file: every header field
 * is checked, and oversize headers and shapes are refused before anything is allocated for them.
 */
export function decodeSafetensors(bytes: Uint8Array, origin = 'model.safetensors'): SafetensorsFile {
  const { header, dataStart } = readHeader(bytes, origin);
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') metadata = readMetadata(entry, origin);
    else tensors.set(name, readTensor(bytes, dataStart, name, entry, origin));
  }
  return { tensors, metadata };
}
