// Process wrapper for `alum` (bin/alum.mjs imports this): real stdio, real exit code.
import { DEFAULT_DATA, DEFAULT_VOCAB } from './files.ts';
import { main } from './main.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// Ctrl-C once: finish the current step, save, exit 130. Twice: exit at once.
let stop = false;
process.on('SIGINT', () => {
  if (stop) process.exit(130);
  stop = true;
  process.stderr.write('stopping after the current step (Ctrl-C again to quit now)\n');
});

const code = await main(process.argv.slice(2), {
  stopRequested: () => stop,
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  readStdin,
  defaultData: DEFAULT_DATA,
  defaultVocab: DEFAULT_VOCAB,
});
process.exitCode = code;
