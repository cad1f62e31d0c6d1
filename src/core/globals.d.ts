// The few host globals core uses, available in browsers, workers and Node alike. Core compiles without
// the DOM lib (so `document`/`window` cannot creep in); these declarations name what it relies on.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string);
  decode(input?: Uint8Array): string;
}
declare const performance: { now(): number };
