/** The newest MetricRow as a table: every field, with its meaning; the text alternative to the charts. */
import type { MetricRow } from '../../protocol/messages.ts';
import { formatNumber, METRIC_HELP } from '../help.ts';
import { useFrameStore } from '../hooks/useFrameStore.ts';
import { activeRun, type AppState } from '../store/store.ts';

const FIELDS = Object.keys(METRIC_HELP) as (keyof MetricRow)[];
/**
 * Metrics of the steps that evaluate: accuracy for classification, correlations and MSE for regression, the
 * gradient split, the evaluation's time; a row shows those it has.
 */
const DEV_FIELDS: readonly (keyof MetricRow)[] = [
  'devAccuracy',
  'devPearson',
  'devSpearman',
  'devMse',
  'taskGradNorm',
  'advGradNorm',
  'evalMs',
];

const selectLatest = (s: AppState) => activeRun(s)?.metrics.at(-1) ?? null;
/** The last row that carries a dev evaluation (most rows do not). */
const selectLastDev = (s: AppState) =>
  activeRun(s)?.metrics.findLast((r) => DEV_FIELDS.some((f) => r[f] !== undefined)) ?? null;

/** Before any evaluation only devAccuracy is listed (as '—'); after one, the dev fields it carries. */
function shown(field: keyof MetricRow, lastDev: MetricRow | null): boolean {
  if (!DEV_FIELDS.includes(field)) return true;
  return lastDev === null ? field === 'devAccuracy' : lastDev[field] !== undefined;
}

export function LatestMetrics() {
  const latest = useFrameStore(selectLatest);
  const lastDev = useFrameStore(selectLastDev);
  return (
    <table className="latest" data-testid="metrics.latest" aria-label="Latest metrics">
      <caption>Latest metrics</caption>
      <tbody>
        {FIELDS.filter((f) => shown(f, lastDev)).map((field) => {
          const fromDev = DEV_FIELDS.includes(field);
          const value = fromDev ? lastDev?.[field] : latest?.[field];
          return (
            <tr key={field} title={METRIC_HELP[field]} data-testid={`metrics.latest.${field}`}>
              <th scope="row">{field}</th>
              <td>
                {formatNumber(value)}
                {fromDev && lastDev !== null && <span className="muted"> (step {lastDev.step})</span>}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
