/**
 * Where the perturbation lands: the tokens of one example of the batch just trained (or a sentence the
 * learner types), each shaded by the per-token norm of delta and of the inner gradient at a chosen stage
 * of the step, with the value on hover (and in each cell's accessible name) and a colour scale (viridis:
 * readable with the common colour-vision deficiencies and in greyscale). While training it refreshes after
 * new steps, one request at a time; the worker computes it from one recorded step on the current weights
 * without changing the run (core/train/token-view.ts).
 */
import { useEffect, useRef, useState } from 'react';
import { errorMessage } from '../coreConfig.ts';
import { formatNumber } from '../help.ts';
import type { TokenView as TokenViewData } from '../../protocol/messages.ts';
import { tokenView } from '../store/actions.ts';
import { activeRun, useAppStore } from '../store/store.ts';
import { FieldError, Panel } from './Panel.tsx';
import { stageName } from './slowMotionSteps.ts';

/** Viridis at 9 stops (matplotlib's `viridis`, perceptually uniform and colour-vision safe). */
const VIRIDIS = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
] as const;

/** The colour of `t` in [0, 1] on the viridis scale, and a text colour readable on it. */
export function viridis(t: number): { bg: string; fg: string } {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i] as readonly number[];
  const b = VIRIDIS[i + 1] as readonly number[];
  const c = a.map((v, j) => Math.round(v + f * ((b[j] as number) - v)));
  return { bg: `rgb(${c.join(', ')})`, fg: x > 4.5 ? '#000' : '#fff' };
}

/** One row of shaded token cells for `values` (one per token). */
function CellRow({
  label,
  tokens,
  values,
  testId,
}: {
  label: string;
  tokens: string[];
  values: number[];
  testId: string;
}) {
  const max = Math.max(...values.filter(Number.isFinite), 0);
  return (
    <div className="token-row">
      <span className="token-row-label">
        {label} <span className="muted">(max {formatNumber(max)})</span>
      </span>
      <p className="tokens" data-testid={testId}>
        {tokens.map((tok, i) => {
          const v = values[i] ?? NaN;
          const cont = tok.startsWith('##') && tok.length > 2;
          const { bg, fg } = viridis(max > 0 ? v / max : 0);
          const text = cont ? tok.slice(2) : tok;
          return (
            <span
              key={i}
              className={cont ? 'token cont' : 'token'}
              style={{ background: bg, color: fg }}
              title={`${tok}: ${label} ${formatNumber(v)}`}
              aria-label={`${tok}: ${formatNumber(v)}`}
              role="img"
              tabIndex={0}
              data-testid="tokens.cell"
              data-value={v}
            >
              {text}
            </span>
          );
        })}
      </p>
    </div>
  );
}

/** The shaded tokens of one stage: delta's norm, and the inner gradient's when the stage has one. */
export function TokenCells({ view, stage }: { view: TokenViewData; stage: number }) {
  const s = view.stages[Math.min(stage, view.stages.length - 1)];
  if (s === undefined) return null;
  const n = view.norm === 'inf' ? '‖·‖∞' : '‖·‖₂';
  return (
    <div className="token-cells" data-testid="tokens.stage">
      <CellRow label={`${n} of δ`} tokens={view.tokens} values={s.delta} testId="tokens.delta" />
      {s.grad !== null && (
        <CellRow
          label={`${n} of the inner gradient`}
          tokens={view.tokens}
          values={s.grad}
          testId="tokens.grad"
        />
      )}
      <div className="scale" aria-hidden="true">
        <span>0</span>
        <span className="scale-bar" />
        <span>max of the row</span>
      </div>
    </div>
  );
}

/** Pause between two live refreshes of the view (each is one traced step in the worker). */
const REFRESH_MS = 750;

/** Re-asks the worker after new steps while the panel is open, one request at a time. */
function useLiveView(open: boolean, index: number, text: string | null) {
  const step = useAppStore((s) => activeRun(s)?.step ?? -1);
  const runId = useAppStore((s) => s.activeRunId);
  const [view, setView] = useState<TokenViewData | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const busy = useRef(false);
  const want = `${runId}:${step}:${index}:${text ?? ''}`;
  const [got, setGot] = useState('');
  useEffect(() => {
    if (!open || runId === null || busy.current || want === got) return;
    busy.current = true;
    tokenView(index, text ?? undefined)
      .then((v) => {
        setView(v);
        setProblem(null);
      })
      .catch((e: unknown) => setProblem(errorMessage(e)))
      .finally(() => {
        // At most one traced step per REFRESH_MS while training: the view must not slow the run down much.
        setTimeout(() => {
          busy.current = false;
          setGot(want);
        }, REFRESH_MS);
      });
  }, [open, runId, want, got, index, text]);
  return { view, problem };
}

export function TokenView() {
  const open = useAppStore((s) => s.lesson.panels.includes('tokens'));
  const batchSize = useAppStore((s) => activeRun(s)?.config.batchSize ?? s.staged.batchSize);
  const [index, setIndex] = useState(0);
  const [draft, setDraft] = useState('');
  const [text, setText] = useState<string | null>(null);
  const [stage, setStage] = useState(-1);
  const { view, problem } = useLiveView(open, index, text);
  const last = view === null ? 0 : view.stages.length - 1;
  const shown = stage < 0 || stage > last ? last : stage;
  return (
    <Panel
      panel="tokens"
      className="token-view"
      testId="panel.tokens"
      open={open}
      title="Where the perturbation lands"
    >
      <p className="muted">
        Each token is shaded by the size of its perturbation δ (and of the gradient the ascent followed): the
        words the adversary pushes hardest. Computed from one traced step on the current weights (dropout
        off); the run itself is not changed.
      </p>
      <div className="row">
        <label htmlFor="tokens-index">Example of the batch</label>
        <input
          id="tokens-index"
          type="number"
          min={0}
          max={batchSize - 1}
          value={index}
          data-testid="tokens.index"
          onChange={(e) => {
            setText(null);
            setIndex(Math.max(0, Math.min(batchSize - 1, Math.floor(Number(e.target.value)) || 0)));
          }}
        />
      </div>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          setText(draft.trim() === '' ? null : draft);
        }}
      >
        <label htmlFor="tokens-text">Or type a sentence</label>
        <input
          id="tokens-text"
          type="text"
          value={draft}
          data-testid="tokens.text"
          placeholder="Free money, click now!"
          onChange={(e) => setDraft(e.target.value)}
        />
        <button type="submit" data-testid="tokens.show">
          Show
        </button>
      </form>
      {view !== null && (
        <>
          <div className="row">
            <label htmlFor="tokens-stage">Stage</label>
            <select
              id="tokens-stage"
              data-testid="tokens.stageSelect"
              value={shown}
              onChange={(e) => setStage(Number(e.target.value))}
            >
              {view.stages.map((s, i) => (
                <option key={i} value={i}>
                  {stageName(view.method, s)}
                </option>
              ))}
            </select>
            <span className="muted">
              step {view.step}
              {view.row >= 0 ? `, training row ${view.row}` : ', typed text'}
            </span>
          </div>
          <TokenCells view={view} stage={shown} />
        </>
      )}
      <FieldError problem={problem} testId="tokens.problem" block />
    </Panel>
  );
}
