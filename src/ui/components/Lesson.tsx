/**
 * The lesson panel: a facilitator writes a short text, picks classroom mode, and saves the lesson (the
 * staged config, the preset, which panels are open, the text) as a link or a JSON file; a learner opens the
 * link, or loads the file, and gets the same page. Shown open in classroom mode (`?classroom=1`).
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import { lessonFile, MAX_LESSON_TEXT, parseLessonFile } from '../lesson.ts';
import { setLesson, stageConfig } from '../store/actions.ts';
import { appStore, useAppStore } from '../store/store.ts';
import { formatQuery } from '../urlConfig.ts';
import { Panel } from './Panel.tsx';

/** The link to this lesson: the page's address with the config and lesson in the query. */
function lessonUrl(): string {
  const s = appStore.getState();
  const query = formatQuery(s.staged, s.worker.requested, s.lesson, s.builtinTask);
  return `${window.location.origin}${window.location.pathname}${query}`;
}

function saveJson(): void {
  const s = appStore.getState();
  const blob = new Blob([JSON.stringify(lessonFile(s.staged, s.lesson), null, 2)], {
    type: 'application/json',
  });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = 'alum-lesson.json';
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function loadJson(file: File): Promise<void> {
  const l = parseLessonFile(file.name, await file.text());
  stageConfig({ ...l.config });
  setLesson({ classroom: l.classroom, preset: l.preset, panels: l.panels, text: l.text });
}

export function Lesson() {
  const lesson = useAppStore((s) => s.lesson);
  const open = lesson.classroom || lesson.panels.includes('lesson');
  const [note, setNote] = useState<string | null>(null);
  return (
    <Panel panel="lesson" className="lesson" testId="panel.lesson" open={open} title="Lesson">
      {lesson.text !== '' && (
        <blockquote className="lesson-text" data-testid="lesson.text">
          {lesson.text}
        </blockquote>
      )}
      {!lesson.classroom && (
        <>
          <label htmlFor="lesson-text">Lesson text (shown to learners)</label>
          <textarea
            id="lesson-text"
            data-testid="lesson.edit"
            maxLength={MAX_LESSON_TEXT}
            rows={3}
            value={lesson.text}
            onChange={(e) => setLesson({ text: e.target.value })}
          />
        </>
      )}
      <label className="inline">
        <input
          type="checkbox"
          data-testid="lesson.classroom"
          checked={lesson.classroom}
          onChange={(e) => setLesson({ classroom: e.target.checked })}
        />{' '}
        Classroom mode (hide advanced controls)
      </label>
      <div className="row">
        <button
          type="button"
          data-testid="lesson.copy"
          onClick={() => {
            const url = lessonUrl();
            navigator.clipboard
              ?.writeText(url)
              .then(() => setNote('Link copied.'))
              .catch(() => setNote(url));
            if (navigator.clipboard === undefined) setNote(url);
          }}
        >
          Copy lesson link
        </button>
        <button type="button" data-testid="lesson.save" onClick={saveJson}>
          Save lesson file
        </button>
        <label className="file-button">
          Load lesson file
          <input
            type="file"
            accept=".json,application/json"
            data-testid="lesson.load"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f !== undefined)
                loadJson(f).then(
                  () => setNote(`Loaded ${f.name}.`),
                  (err: unknown) => setNote(errorMessage(err)),
                );
            }}
          />
        </label>
      </div>
      {note !== null && (
        <p className="muted" role="status" data-testid="lesson.note">
          {note}
        </p>
      )}
    </Panel>
  );
}
