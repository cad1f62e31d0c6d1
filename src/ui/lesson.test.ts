import { describe, expect, it } from 'vitest';

import { DEFAULT_CONFIG } from './coreConfig.ts';
import { lessonFile, NO_LESSON, parseLessonFile, type LessonView } from './lesson.ts';
import { formatQuery, parseQuery } from './urlConfig.ts';

const LESSON: LessonView = {
  classroom: true,
  preset: 'mtdnn-head',
  panels: ['tokens', 'slow-motion'],
  text: 'Watch where delta lands: which words of a spam email?',
};
const CONFIG = { ...DEFAULT_CONFIG, alpha: 5, variant: 'mtdnn-head' as const, model: 'nano' as const };

describe('lesson in the URL', () => {
  it('restores config, classroom mode, preset, panels and text', () => {
    const q = formatQuery(CONFIG, null, LESSON);
    expect(q).toContain('classroom=1');
    expect(q).toContain('panels=tokens%2Cslow-motion');
    const back = parseQuery(q);
    expect(back.errors).toEqual([]);
    expect(back.config).toEqual(CONFIG);
    expect(back.lesson).toEqual(LESSON);
  });

  it('is absent from a plain query, and a plain query has no lesson', () => {
    expect(formatQuery(CONFIG, null)).not.toMatch(/classroom|panels|lesson|preset/);
    expect(parseQuery('?alpha=2').lesson).toEqual(NO_LESSON);
  });

  it('names each bad lesson parameter in one line and keeps the rest', () => {
    const r = parseQuery('?classroom=yes&panels=tokens,charts&preset=nope&alpha=2');
    expect(r.config.alpha).toBe(2);
    expect(r.lesson).toEqual(NO_LESSON);
    expect(r.errors).toEqual([
      'query parameter \'classroom\' must be 1 or 0, got "yes"',
      'query parameter \'panels\' takes about, tokens, slow-motion, lesson, robustness, performance; got "charts"',
      expect.stringMatching(/^query parameter 'preset' must be one of default\|standard\|.*, got "nope"$/),
    ]);
  });
});

describe('lesson file', () => {
  it('round-trips through JSON', () => {
    const file = lessonFile(CONFIG, LESSON);
    expect(parseLessonFile('l.json', JSON.stringify(file))).toEqual(file);
  });

  it('refuses a bad file with one line naming the file and field', () => {
    const good = lessonFile(CONFIG, LESSON);
    const bad = (o: unknown) => () => parseLessonFile('l.json', JSON.stringify(o));
    expect(() => parseLessonFile('l.json', '{')).toThrow(/^l\.json: not JSON/);
    expect(bad({ ...good, version: 2 })).toThrow('l.json: not a lesson file');
    expect(bad({ ...good, config: { ...CONFIG, seed: '0x10' } })).toThrow(
      "l.json: field 'config': config field 'seed' must be a decimal integer",
    );
    expect(bad({ ...good, panels: ['tokens', 3] })).toThrow("l.json: field 'panels' takes about");
    expect(bad({ ...good, text: 'x'.repeat(2001) })).toThrow("l.json: field 'text' is 2001 characters");
  });
});
