// Shared assertion of the readers' property tests: a result, or one plain Error whose message is one line
// naming the input; never another exception type (TypeError, RangeError, ...).
import { expect } from 'vitest';

export function resultOrOneLineError<T>(read: () => T, origin: string): T | Error {
  try {
    return read();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(Error);
    const error = e as Error;
    expect(error.constructor, `${error.name}: ${error.message}`).toBe(Error);
    expect(error.message.startsWith(`${origin}: `), error.message).toBe(true);
    expect(error.message, error.message).not.toContain('\n');
    return error;
  }
}

/** Mutations of a valid file: bytes overwritten, a cut, a slice repeated. */
export function mutate(
  bytes: Uint8Array,
  edits: { at: number; value: number }[],
  cut: number | null,
): Uint8Array {
  const out = bytes.slice(0, cut === null ? bytes.length : cut % (bytes.length + 1));
  for (const { at, value } of edits) if (out.length > 0) out[at % out.length] = value;
  return out;
}
