/** A CLI `Io` that records what `alum` prints, for tests that call `main(argv, io)` in-process. */
import { join } from 'node:path';

import type { Io } from '../../src/cli/files.ts';
import { fixtureDir } from './nano.ts';

export type CapturedIo = Io & { stdout: string[]; stderr: string[] };

/**
 * Records stdout and stderr lines. The default task is a file that does not exist in `dir` (so a test never trains
 * on the built-in data by accident) and the default vocabulary is the nano fixture's.
 */
export function captureIo(dir: string, stdin = ''): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    readStdin: () => Promise.resolve(stdin),
    stopRequested: () => false,
    defaultData: join(dir, 'missing.json'),
    defaultVocab: `${fixtureDir}/vocab.txt`,
  };
}
