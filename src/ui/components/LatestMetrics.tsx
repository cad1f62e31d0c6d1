/** The newest MetricRow as a table: every field, with its meaning; the text alternative to the charts. */
import type { MetricRow } from '../../protocol/messages.ts';
import { formatNumber, METRIC_HELP } from '../help.ts';
import { useFrameStore } from '../hooks/useFrameStore.ts';
import { activeRun, type AppState } from '../store/store.ts';

const FIELDS = Object.keys(METRIC_HELP) as (keyof MetricRow)[];

const selectLatest = (s: AppState) => activeRun(s)?.metrics.at(-1) ?? null;
/** The last row that carries a dev evaluation (most rows do not). */
const selectLastDev = (s: AppState) =>
  activeRun(s)?.metrics.findLast((r) => r.devAccuracy !== undefined) ?? null;

export function LatestMetrics() {
  const latest = useFrameStore(selectLatest);
  const lastDev = useFrameStore(selectLastDev);
  return (
    <table className="latest" data-testid="metrics.latest" aria-label="Latest metrics">
      <caption>Latest metrics</caption>
      <tbody>
        {FIELDS.map((field) => {
          const fromDev = field === 'devAccuracy';
          const value = fromDev ? lastDev?.devAccuracy : latest?.[field];
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
