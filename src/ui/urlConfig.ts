/**
 * The page's URL query <-> the staged TrainConfig, so that a run can be shared as a link
 * (tensorflow/playground `state.ts` idea, with our one config vocabulary from core/config.ts).
 * `backend` rides in the same query but is not part of TrainConfig: it picks the worker's tfjs backend.
 * The lesson's parameters (`classroom`, `preset`, `panels`, `lesson`: src/ui/lesson.ts) ride in it too.
 * Pure functions of strings; the page calls them with `location.search`.
 */
import {
  BACKENDS,
  CONFIG_KEYS,
  PAGE_DEFAULT_CONFIG,
  pageDefaults,
  resolveConfig,
  validateConfigPatch,
  type BackendName,
  type TrainConfig,
} from './coreConfig.ts';
import { builtinTask, DEFAULT_TASK, type BuiltinTaskName } from './builtinData.ts';
import { LESSON_PARAMS, lessonParams, NO_LESSON, readLessonParam, type LessonView } from './lesson.ts';

export interface ParsedQuery {
  /** Defaults overridden by every valid field of the query. */
  config: TrainConfig;
  /** `?backend=`; null when absent or invalid (the worker then picks WebGPU first). */
  backend: BackendName | null;
  /** One line per rejected query parameter, naming it; those fields keep their defaults. */
  errors: string[];
  /** The lesson's view (classroom mode, preset, open panels, text); NO_LESSON when the query has none. */
  lesson: LessonView;
  /** `?data=`: the built-in task (src/ui/builtinData.ts); DEFAULT_TASK when absent or invalid. */
  data: BuiltinTaskName;
}

/** Reads a query string (`?method=alum&alpha=1`); each field is checked alone so one bad value drops only itself. */
export function parseQuery(search: string, base: TrainConfig = PAGE_DEFAULT_CONFIG): ParsedQuery {
  const params = new URLSearchParams(search);
  const errors: string[] = [];
  let backend: BackendName | null = null;
  let patch: Partial<TrainConfig> = {};
  let lesson = NO_LESSON;
  let data: BuiltinTaskName = DEFAULT_TASK;
  for (const [key, value] of params) {
    if ((LESSON_PARAMS as readonly string[]).includes(key)) {
      try {
        lesson = readLessonParam(lesson, key, value);
      } catch (e) {
        errors.push(oneLine(e));
      }
      continue;
    }
    if (key === 'data') {
      try {
        data = builtinTask(value).name;
      } catch (e) {
        errors.push(oneLine(e));
      }
      continue;
    }
    if (key === 'backend') {
      if ((BACKENDS as readonly string[]).includes(value)) backend = value as BackendName;
      else
        errors.push(
          `query parameter 'backend' must be one of ${BACKENDS.join('|')}, got ${JSON.stringify(value)}`,
        );
      continue;
    }
    try {
      patch = { ...patch, ...validateConfigPatch({ [key]: value }) };
    } catch (e) {
      errors.push(oneLine(e));
    }
  }
  let config: TrainConfig;
  try {
    // The defaults of the chosen model size (no built-in pre-trained nano: random weights).
    const sized =
      patch.model !== undefined && base === PAGE_DEFAULT_CONFIG ? pageDefaults(patch.model) : base;
    config = withoutNegativeZero(resolveConfig(patch, sized));
  } catch (e) {
    errors.push(oneLine(e));
    config = { ...base };
  }
  return { config, backend, errors, lesson, data };
}

/** An error as one line: a query key or value may hold line breaks, which are shown escaped (found by fuzzing). */
function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

/** `-0` read from `?seed=-0` is 0: formatQuery leaves out a default 0, so -0 would not survive a round trip. */
function withoutNegativeZero(c: TrainConfig): TrainConfig {
  const out: Record<string, unknown> = { ...c };
  for (const [k, v] of Object.entries(out)) if (Object.is(v, -0)) out[k] = 0;
  return out as unknown as TrainConfig;
}

/**
 * The query for a config: only the fields that differ from the page's defaults for its model size
 * (`pageDefaults`), in CONFIG_KEYS order, then `backend`.
 * then the lesson's parameters. Returns '' when everything is default, else a string starting with '?'.
 */
export function formatQuery(
  config: TrainConfig,
  backend: BackendName | null,
  lesson: LessonView = NO_LESSON,
  data: BuiltinTaskName = DEFAULT_TASK,
): string {
  const params = new URLSearchParams();
  const defaults = pageDefaults(config.model);
  for (const key of CONFIG_KEYS) {
    if (config[key] !== defaults[key]) params.set(key, String(config[key]));
  }
  if (backend !== null) params.set('backend', backend);
  if (data !== DEFAULT_TASK) params.set('data', data);
  for (const [k, v] of lessonParams(lesson)) params.set(k, v);
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}
