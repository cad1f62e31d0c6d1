/**
 * The robustness lab: attack the active run's model on its dev set, in the worker, with progress and cancel
 * (core/robust: embedding-space PGD and same-size random noise, HotFlip token flips, typos, word drop; method
 * notes in docs/robustness.md). Every result joins one table and one chart (clean against attacked accuracy,
 * one group per run), so the same attack on a standard and an ALUM run (Compare: same seed, data and start)
 * sits side by side; PGD and random noise over several epsilons draw accuracy against epsilon. The examples
 * browser shows each attacked example beside the original, the changed words marked, both predictions with
 * their probabilities, and exports the records as CSV.
 */
import { useState } from 'react';
import {
  ATTACKS,
  CURVE_EPSILONS,
  errorMessage,
  resolveAttackSettings,
  type AttackName,
} from '../coreConfig.ts';
import { formatNumber } from '../help.ts';
import { epsilonCurves, recordsCsv, wordDiff, type DiffWord, type EpsilonCurve } from '../robustness.ts';
import { cancelAttack, clearAttacks, runAttack } from '../store/actions.ts';
import { activeRun, useAppStore, type AttackEntry } from '../store/store.ts';
import { FieldError, Panel } from './Panel.tsx';

const ATTACK_LABELS: Readonly<Record<AttackName, string>> = {
  pgd: 'PGD on the embeddings (white-box)',
  random: 'random noise of the same size (control)',
  hotflip: 'HotFlip token flips (white-box)',
  typo: 'typos: swap, drop, insert, keyboard neighbour',
  drop: 'word drop',
};

/** Which knobs each attack reads (the rest keep their defaults). */
const USES: Readonly<Record<AttackName, readonly ('epsilon' | 'k' | 'budget')[]>> = {
  pgd: ['epsilon', 'k'],
  random: ['epsilon'],
  hotflip: ['budget'],
  typo: ['budget'],
  drop: ['budget'],
};

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function ResultsTable({ entries }: { entries: readonly AttackEntry[] }) {
  return (
    <table className="lab-table" data-testid="lab.table">
      <caption>Every attack run in this page (n: dev examples attacked)</caption>
      <thead>
        <tr>
          <th scope="col">run @ step</th>
          <th scope="col">attack</th>
          <th scope="col">clean acc.</th>
          <th scope="col">attacked acc.</th>
          <th scope="col">success rate</th>
          <th scope="col">changed</th>
          <th scope="col">queries</th>
          <th scope="col">n</th>
          <th scope="col">time</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((e) => {
          const s = e.summary;
          const knob = USES[s.attack].map((k) => `${k} ${formatNumber(s.settings[k])}`).join(', ');
          return (
            <tr key={e.id} data-testid="lab.row">
              <td>
                {e.runName} @ {e.step}
              </td>
              <td>
                {s.attack} {knob !== '' && <span className="muted">({knob})</span>}
                {s.cancelled && <span className="muted"> cancelled</span>}
              </td>
              <td>{pct(s.clean_accuracy)}</td>
              <td>{pct(s.attacked_accuracy)}</td>
              <td>{pct(s.success_rate)}</td>
              <td>{pct(s.changed)}</td>
              <td>{s.queries.toFixed(1)}</td>
              <td>{s.n}</td>
              <td>{(s.time_ms / 1000).toFixed(1)} s</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** Clean against attacked accuracy, one pair of bars per result (colour-blind safe: blue and vermilion). */
function AccuracyBars({ entries }: { entries: readonly AttackEntry[] }) {
  const w = 36;
  const h = 120;
  const width = entries.length * (2 * w + 16) + 40;
  return (
    <svg
      className="lab-bars"
      role="img"
      aria-label="clean (blue) and attacked (vermilion) dev accuracy of each attack result"
      data-testid="lab.bars"
      viewBox={`0 0 ${width} ${h + 50}`}
      width={width}
      height={h + 50}
    >
      {entries.map((e, i) => {
        const x = 40 + i * (2 * w + 16);
        const bar = (v: number, dx: number, fill: string) => (
          <rect x={x + dx} y={10 + h * (1 - v)} width={w - 2} height={h * v} fill={fill}>
            <title>{pct(v)}</title>
          </rect>
        );
        return (
          <g key={e.id}>
            {bar(e.summary.clean_accuracy, 0, '#0072B2')}
            {bar(e.summary.attacked_accuracy, w, '#D55E00')}
            <text x={x} y={h + 26} fontSize="10">
              {e.summary.attack}
            </text>
            <text x={x} y={h + 40} fontSize="10">
              {e.runName.slice(0, 12)}
            </text>
          </g>
        );
      })}
      <text x={0} y={14} fontSize="10">
        100%
      </text>
      <text x={0} y={h + 10} fontSize="10">
        0%
      </text>
    </svg>
  );
}

const CURVE_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

/** Accuracy against epsilon (log-spaced x; epsilon 0 at the left edge), one line per run and attack. */
function EpsilonChart({ curves }: { curves: readonly EpsilonCurve[] }) {
  const eps = curves.flatMap((c) => c.points.map((p) => p.epsilon)).filter((e) => e > 0);
  const lo = Math.log10(Math.min(...eps));
  const hi = Math.log10(Math.max(...eps));
  const x = (e: number) => 40 + (e <= 0 ? 0 : 20 + (300 * (Math.log10(e) - lo)) / Math.max(hi - lo, 1e-9));
  const y = (a: number) => 10 + 150 * (1 - a);
  return (
    <figure>
      <svg
        role="img"
        aria-label="accuracy against epsilon for each run's PGD and random-noise attacks"
        data-testid="lab.curve"
        viewBox="0 0 380 190"
        width={380}
        height={190}
      >
        {curves.map((c, i) => (
          <polyline
            key={c.label}
            fill="none"
            stroke={CURVE_COLOURS[i % CURVE_COLOURS.length]}
            strokeDasharray={c.attack === 'random' ? '6 4' : undefined}
            strokeWidth={2}
            points={c.points.map((p) => `${x(p.epsilon)},${y(p.accuracy)}`).join(' ')}
          />
        ))}
        <text x={0} y={14} fontSize="10">
          100%
        </text>
        <text x={0} y={162} fontSize="10">
          0%
        </text>
        <text x={40} y={182} fontSize="10">
          ε (L∞ per token, log scale; 0 at the left)
        </text>
      </svg>
      <figcaption>
        {curves.map((c, i) => (
          <span key={c.label} style={{ color: CURVE_COLOURS[i % CURVE_COLOURS.length] }}>
            {c.attack === 'random' ? '- - ' : '— '}
            {c.label}{' '}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

function Words({ words }: { words: readonly DiffWord[] }) {
  return (
    <span>
      {words.map((w, i) => (
        <span key={i}>{w.changed ? <mark>{w.text}</mark> : w.text} </span>
      ))}
    </span>
  );
}

function ExamplesBrowser({ entry, labels }: { entry: AttackEntry; labels: readonly string[] }) {
  const [all, setAll] = useState(false);
  const shown = entry.records.filter((r) => all || r.attackedPrediction !== r.cleanPrediction);
  const name = (i: number) => labels[i] ?? String(i);
  return (
    <div className="lab-examples" data-testid="lab.examples">
      <p>
        {shown.length} of {entry.records.length} examples{all ? '' : ' whose prediction the attack changed'}.{' '}
        <label>
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> show all
        </label>{' '}
        <button
          type="button"
          data-testid="lab.csv"
          onClick={() =>
            download(`attack-${entry.summary.attack}.csv`, recordsCsv(entry.records, labels), 'text/csv')
          }
        >
          Examples CSV
        </button>
      </p>
      <ol>
        {shown.slice(0, 50).map((r) => {
          const d = wordDiff(r.text, r.attackedText);
          return (
            <li key={r.index} data-testid="lab.example">
              <div>
                <span className="muted">
                  original ({name(r.cleanPrediction)}, {pct(r.cleanProbs[r.cleanPrediction] ?? 0)}):
                </span>{' '}
                <Words words={d.left} />
              </div>
              <div>
                <span className="muted">
                  attacked ({name(r.attackedPrediction)}, {pct(r.attackedProbs[r.attackedPrediction] ?? 0)}):
                </span>{' '}
                <Words words={d.right} />
              </div>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

export function RobustnessLab() {
  const open = useAppStore((s) => s.lesson.panels.includes('robustness'));
  const run = useAppStore((s) => activeRun(s));
  const entries = useAppStore((s) => s.attacks);
  const progress = useAppStore((s) => s.attackProgress);
  const [attack, setAttack] = useState<AttackName>('pgd');
  const [knobs, setKnobs] = useState({ epsilon: '0.1', k: '10', budget: '', seed: '1', examples: '100' });
  const [problem, setProblem] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null);
  const busy = progress !== null;

  const settingsFor = (a: AttackName, epsilon?: number) => {
    // The fields left empty keep the attack's defaults (core/robust/settings.ts).
    const patch: Partial<Record<'epsilon' | 'k' | 'budget' | 'seed', number>> = {};
    for (const k of ['epsilon', 'k', 'budget', 'seed'] as const)
      if (knobs[k].trim() !== '') patch[k] = Number(knobs[k]);
    if (epsilon !== undefined) patch.epsilon = epsilon;
    return resolveAttackSettings(a, patch);
  };
  const go = (jobs: () => Promise<unknown>) => {
    setProblem(null);
    jobs().catch((e: unknown) => setProblem(errorMessage(e)));
  };
  const examples = () => Number(knobs.examples);
  const runOne = () => go(async () => setShown((await runAttack(settingsFor(attack), examples())).id));
  const runCurve = () =>
    go(async () => {
      for (const a of ['pgd', 'random'] as const)
        for (const e of CURVE_EPSILONS) {
          const done = await runAttack(settingsFor(a, e), examples());
          if (done.summary.cancelled) return;
        }
    });
  const entry = entries.find((e) => e.id === shown) ?? entries.at(-1) ?? null;
  const curves = epsilonCurves(entries);
  return (
    <Panel
      panel="robustness"
      className="robustness"
      testId="lab"
      open={open}
      title="Robustness lab: attack the model"
    >
      <p className="muted">
        Attacks the active run's current weights on its dev set (the run may go on training meanwhile: the
        attack works on a copy). Success rate: the share of correctly classified examples whose prediction the
        attack changed. Run the same attack on a standard and an ALUM run (Compare) to see them side by side.
      </p>
      <div className="lab-form">
        <label>
          Attack{' '}
          <select
            data-testid="lab.attack"
            value={attack}
            onChange={(e) => setAttack(e.target.value as AttackName)}
          >
            {ATTACKS.map((a) => (
              <option key={a} value={a}>
                {ATTACK_LABELS[a]}
              </option>
            ))}
          </select>
        </label>
        {USES[attack].map((k) => (
          <label key={k}>
            {k === 'budget' ? 'budget (per example)' : k}{' '}
            <input
              data-testid={`lab.${k}`}
              inputMode="decimal"
              size={6}
              value={knobs[k]}
              placeholder="default"
              onChange={(e) => setKnobs({ ...knobs, [k]: e.target.value })}
            />
          </label>
        ))}
        <label>
          seed{' '}
          <input size={4} value={knobs.seed} onChange={(e) => setKnobs({ ...knobs, seed: e.target.value })} />
        </label>
        <label>
          dev examples{' '}
          <input
            data-testid="lab.examplesCount"
            size={5}
            value={knobs.examples}
            onChange={(e) => setKnobs({ ...knobs, examples: e.target.value })}
          />
        </label>
        <button type="button" data-testid="lab.run" disabled={busy || run === null} onClick={runOne}>
          Run attack
        </button>
        <button type="button" data-testid="lab.curveRun" disabled={busy || run === null} onClick={runCurve}>
          Accuracy vs ε (PGD and random)
        </button>
        <button type="button" data-testid="lab.cancel" disabled={!busy} onClick={cancelAttack}>
          Cancel
        </button>
        <button type="button" disabled={busy || entries.length === 0} onClick={clearAttacks}>
          Clear results
        </button>
      </div>
      {progress !== null && (
        <p role="status">
          <progress value={progress.done} max={progress.total} data-testid="lab.progress" /> {progress.done} /{' '}
          {progress.total} examples
        </p>
      )}
      <FieldError problem={problem} testId="lab.error" block />
      {entries.length > 0 && (
        <>
          <ResultsTable entries={entries} />
          <AccuracyBars entries={entries} />
          {curves.length > 0 && <EpsilonChart curves={curves} />}
          {entry !== null && (
            <>
              <label>
                Examples of{' '}
                <select value={entry.id} onChange={(e) => setShown(e.target.value)}>
                  {entries.map((e) => (
                    <option key={e.id} value={e.id}>
                      {e.runName} @ {e.step}: {e.summary.attack}
                    </option>
                  ))}
                </select>
              </label>
              <ExamplesBrowser entry={entry} labels={entry.labels} />
            </>
          )}
        </>
      )}
    </Panel>
  );
}
