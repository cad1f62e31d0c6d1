/**
 * The built-in labelled tasks the page offers (prepared by scripts/prepare-data.ts under public/data/), and
 * the page's `?data=` name for each. A data file the user loads replaces them; a masked-LM run (task `mlm`)
 * reads the built-in pre-training corpus instead.
 */
export const BUILTIN_TASKS = [
  {
    name: 'spam-assassin',
    file: 'data/spam-assassin.json',
    title: 'Spam or ham: SpamAssassin e-mails (2 labels)',
  },
  {
    name: 'sotu-party',
    file: 'data/sotu-party.json',
    title: "The President's party: State of the Union passages (4 labels)",
  },
] as const;

export type BuiltinTaskName = (typeof BUILTIN_TASKS)[number]['name'];

export const DEFAULT_TASK: BuiltinTaskName = 'spam-assassin';

/** The built-in task called `name`; one line naming the choices otherwise. */
export function builtinTask(name: string): (typeof BUILTIN_TASKS)[number] {
  const t = BUILTIN_TASKS.find((x) => x.name === name);
  if (t === undefined) {
    throw new Error(
      `query parameter 'data' must be one of ${BUILTIN_TASKS.map((x) => x.name).join('|')}, got ${JSON.stringify(name)}`,
    );
  }
  return t;
}
