/**
 * A lesson: what a facilitator prepares for a class (the config, the preset it started from, which teaching
 * panels are open, a short text) and `classroom` (advanced controls hidden, the lesson panel shown). It rides
 * in the page's URL next to the config (urlConfig.ts) or in a JSON file; both are read back by the same
 * checks, and a bad part is one line naming it. Pure functions of strings and objects.
 */
import { PRESETS, resolveConfig, validateConfigPatch, type TrainConfig } from './coreConfig.ts';

/** The page's panels a lesson can open. */
export const PANELS = ['about', 'tokens', 'slow-motion', 'lesson', 'robustness', 'performance'] as const;
export type PanelName = (typeof PANELS)[number];

/** Longest lesson text (characters): a few paragraphs; a URL stays well under browsers' limits. */
export const MAX_LESSON_TEXT = 2000;

export interface LessonView {
  classroom: boolean;
  /** The preset the config came from (src/core/presets.ts), or null. */
  preset: string | null;
  panels: PanelName[];
  text: string;
}

export const NO_LESSON: LessonView = { classroom: false, preset: null, panels: [], text: '' };

/** The lesson file: the config in full, so that it means the same thing whatever the defaults become. */
export interface LessonFile extends LessonView {
  format: 'alum-lesson';
  version: 1;
  config: TrainConfig;
}

/** Query parameters the lesson owns (every other one is a config field or `backend`). */
export const LESSON_PARAMS = ['classroom', 'preset', 'panels', 'lesson'] as const;

/** Reads one lesson parameter into `view`; throws one line naming the parameter when its value is bad. */
export function readLessonParam(view: LessonView, key: string, value: string): LessonView {
  switch (key) {
    case 'classroom':
      if (value !== '1' && value !== '0')
        throw new Error(`query parameter 'classroom' must be 1 or 0, got ${JSON.stringify(value)}`);
      return { ...view, classroom: value === '1' };
    case 'preset':
      return { ...view, preset: checkPreset(value, "query parameter 'preset'") };
    case 'panels':
      return {
        ...view,
        panels: checkPanels(value === '' ? [] : value.split(','), "query parameter 'panels'"),
      };
    case 'lesson':
      return { ...view, text: checkText(value, "query parameter 'lesson'") };
    default:
      throw new Error(`unknown lesson parameter '${key}'`);
  }
}

/** The lesson's query parameters, leaving out what is not set. */
export function lessonParams(view: LessonView): [string, string][] {
  const out: [string, string][] = [];
  if (view.classroom) out.push(['classroom', '1']);
  if (view.preset !== null) out.push(['preset', view.preset]);
  if (view.panels.length > 0) out.push(['panels', view.panels.join(',')]);
  if (view.text !== '') out.push(['lesson', view.text]);
  return out;
}

export function lessonFile(config: TrainConfig, view: LessonView): LessonFile {
  return { format: 'alum-lesson', version: 1, config, ...view };
}

/** Parses a lesson JSON file; throws one line naming the file and the field at fault. */
export function parseLessonFile(name: string, text: string): LessonFile {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new Error(`${name}: a lesson file is a JSON object`);
  const r = o as Record<string, unknown>;
  if (r.format !== 'alum-lesson' || r.version !== 1)
    throw new Error(`${name}: not a lesson file (needs "format": "alum-lesson", "version": 1)`);
  const at = (field: string) => `${name}: field '${field}'`;
  if (typeof r.config !== 'object' || r.config === null) throw new Error(`${at('config')} must be an object`);
  let config: TrainConfig;
  try {
    config = resolveConfig(validateConfigPatch(r.config as Record<string, unknown>));
  } catch (e) {
    throw new Error(`${at('config')}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof r.classroom !== 'boolean') throw new Error(`${at('classroom')} must be true or false`);
  if (r.preset !== null && typeof r.preset !== 'string')
    throw new Error(`${at('preset')} must be a preset name or null`);
  if (!Array.isArray(r.panels)) throw new Error(`${at('panels')} must be a list of panel names`);
  if (typeof r.text !== 'string') throw new Error(`${at('text')} must be a string`);
  return {
    format: 'alum-lesson',
    version: 1,
    config,
    classroom: r.classroom,
    preset: r.preset === null ? null : checkPreset(r.preset, at('preset')),
    panels: checkPanels(r.panels, at('panels')),
    text: checkText(r.text, at('text')),
  };
}

function checkPreset(value: string, where: string): string {
  if (!PRESETS.some((p) => p.name === value))
    throw new Error(
      `${where} must be one of ${PRESETS.map((p) => p.name).join('|')}, got ${JSON.stringify(value)}`,
    );
  return value;
}

function checkPanels(values: readonly unknown[], where: string): PanelName[] {
  const out: PanelName[] = [];
  for (const v of values) {
    if (typeof v !== 'string' || !(PANELS as readonly string[]).includes(v))
      throw new Error(`${where} takes ${PANELS.join(', ')}; got ${JSON.stringify(v)}`);
    if (!out.includes(v as PanelName)) out.push(v as PanelName);
  }
  return out;
}

function checkText(value: string, where: string): string {
  if (value.length > MAX_LESSON_TEXT)
    throw new Error(`${where} is ${value.length} characters, at most ${MAX_LESSON_TEXT}`);
  return value;
}
