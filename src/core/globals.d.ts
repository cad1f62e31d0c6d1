// The few host globals core uses, available in browsers, workers and Node alike. Core compiles without
// the DOM lib (so `document`/`window` cannot creep in); these declarations name what it relies on.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}
declare const performance: { now(): number };
// A File the page hands to the worker travels in protocol messages (src/protocol/messages.ts `UserData.file`);
// core never reads one (the worker streams it), so only the name is declared here.
declare class Blob {
  readonly size: number;
}
