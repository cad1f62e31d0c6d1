/**
 * The pre-training stage (task `mlm`): fill the mask with the model as it trains (type a sentence with [MASK],
 * see the top predictions with their probabilities), the unigram baseline its accuracy is measured against,
 * and the next stage: fine-tune this model (it becomes the loaded model, with a fresh classifier head, and the
 * task switches to classification). Shown while the active run is a masked-LM run.
 */
import { useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import type { FillMaskResult } from '../../protocol/messages.ts';
import { fillMask, fineTuneActiveModel } from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';
import { builtinTask } from '../builtinData.ts';
import { FieldError } from './Panel.tsx';

/** A sentence from the corpus's own world (State of the Union addresses), to start from. */
const EXAMPLE =
  'the president shall from time to time give to the [MASK] information of the state of the union.';

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function Slots({ fill }: { fill: FillMaskResult }) {
  return (
    <ol className="fill-slots" data-testid="fillmask.result">
      {fill.slots.map((slot) => (
        <li key={slot.index}>
          [MASK] at token {slot.index}:{' '}
          {slot.candidates.map((c, i) => (
            <span key={c.token} className="fill-candidate" data-testid="fillmask.candidate">
              {i > 0 && ', '}
              <strong>{c.token}</strong> {percent(c.probability)}
            </span>
          ))}
        </li>
      ))}
    </ol>
  );
}

export function PretrainPanel() {
  const run = useAppStore((s) => activeRun(s));
  const task = useAppStore((s) => builtinTask(s.builtinTask).title);
  const hasData = useAppStore((s) => s.stagedData !== null);
  const [text, setText] = useState(EXAMPLE);
  const [fill, setFill] = useState<FillMaskResult | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (run === null || run.config.task !== 'mlm') return null;
  const unigram = run.info?.unigram;

  const act = (f: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    f()
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  return (
    <section className="pretrain" aria-label="Pre-training" data-testid="pretrain">
      <h2>Pre-training a masked LM</h2>
      <p className="muted">
        {run.info?.init ? `Continuing ${run.info.init.name}. ` : 'From random weights. '}
        15% of the tokens (by default) are hidden and predicted from the rest.
        {unigram !== undefined && (
          <span data-testid="pretrain.unigram">
            {' '}
            Always predicting the most frequent token scores {percent(unigram.accuracy)} on the held-out
            slice: the dev accuracy chart shows it dashed.
          </span>
        )}
      </p>
      <form
        className="fill-mask"
        onSubmit={(e) => {
          e.preventDefault();
          act(async () => setFill(await fillMask(text)));
        }}
      >
        <label htmlFor="fillmask-text">Fill the mask (type [MASK] where a word should be predicted)</label>
        <input
          id="fillmask-text"
          type="text"
          value={text}
          spellCheck={false}
          onChange={(e) => setText(e.target.value)}
          data-testid="fillmask.text"
        />
        <button type="submit" disabled={busy} data-testid="fillmask.go">
          Predict
        </button>
      </form>
      {fill !== null && <Slots fill={fill} />}
      <p>
        <button
          type="button"
          disabled={busy}
          data-testid="pretrain.finetune"
          onClick={() => act(fineTuneActiveModel)}
        >
          Fine-tune this model
        </button>{' '}
        <span className="muted">
          on {hasData ? 'the loaded data file' : task}, with a fresh classifier head.
        </span>
      </p>
      <FieldError problem={problem} testId="pretrain.error" block />
    </section>
  );
}
