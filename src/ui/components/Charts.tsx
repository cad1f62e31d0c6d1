/**
 * The live charts: losses; what the inner ascent gained against what dropout alone gives; perturbation size
 * against the embedding scale; dev accuracy. Metric definitions: docs/alum-step.md. Series specs are module
 * constants so each chart is built once.
 */
import type { MetricRow } from '../../protocol/messages.ts';
import { activeRun, useAppStore, type AppState } from '../store/store.ts';
import { MetricChart, type SeriesSpec } from './MetricChart.tsx';

const LOSS_SERIES: readonly SeriesSpec[] = [
  { label: 'task loss (clean CE)', color: '#1f77b4', value: (r) => r.taskLoss },
  { label: 'adv loss (sym-KL)', color: '#d62728', value: (r) => r.advLoss },
  { label: 'total loss', color: '#2ca02c', dash: [6, 4], value: (r) => r.totalLoss },
];

const ASCENT_SERIES: readonly SeriesSpec[] = [
  { label: 'inner loss at δ₀ (klInit)', color: '#8c564b', value: (r) => r.klInit },
  { label: 'inner loss after ascent (klAdv)', color: '#d62728', value: (r) => r.klAdv },
  {
    label: 'sym-KL from dropout alone (dropoutKl)',
    color: '#7f7f7f',
    dash: [6, 4],
    value: (r) => r.dropoutKl,
  },
];

const DELTA_SERIES: readonly SeriesSpec[] = [
  { label: '‖δ‖∞ per token', color: '#9467bd', value: (r) => r.deltaLinf },
  { label: '‖δ‖₂ per token', color: '#ff7f0e', value: (r) => r.deltaL2 },
  { label: 'mean |embedding|', color: '#7f7f7f', value: (r) => r.embedAbsMean },
];

const DEV_SERIES: readonly SeriesSpec[] = [
  { label: 'dev accuracy', color: '#17becf', value: (r) => r.devAccuracy },
];

const hasDev = (r: MetricRow) => r.devAccuracy !== undefined;
const ACCURACY_RANGE: [number, number] = [0, 1];

const CORRELATION_SERIES: readonly SeriesSpec[] = [
  { label: 'dev Pearson', color: '#17becf', value: (r) => r.devPearson },
  { label: 'dev Spearman', color: '#bcbd22', dash: [6, 4], value: (r) => r.devSpearman },
];
const hasCorrelation = (r: MetricRow) => r.devPearson !== undefined;
const CORRELATION_RANGE: [number, number] = [-1, 1];
/** Whether the active run is a regression one that has been evaluated (its dev metrics are correlations). */
const selectRegression = (s: AppState) => activeRun(s)?.metrics.some(hasCorrelation) ?? false;

export function Charts() {
  const regression = useAppStore(selectRegression);
  return (
    <section className="charts" aria-label="Training charts">
      <MetricChart
        testId="chart.loss"
        title="Losses per step (log y)"
        description="clean task cross-entropy, adversarial symmetric KL and their weighted total against step, log scale (the sym-KL is often orders of magnitude below the task loss)"
        series={LOSS_SERIES}
        yLabel="loss"
        log
      />
      <MetricChart
        testId="chart.ascent"
        title="What the ascent gained, and what dropout alone gives (log y)"
        description="inner loss at the initial perturbation and after the ascent, and the symmetric KL that the dropout masks alone give at zero perturbation (zero, so not drawn, when the adversarial passes reuse the clean pass's masks), log scale, against step"
        series={ASCENT_SERIES}
        yLabel="divergence"
        log
      />
      <MetricChart
        testId="chart.delta"
        title="Perturbation size vs embedding scale (log y)"
        description="mean per-token L-inf and L2 norms of the adversarial perturbation and the mean absolute embedding, log scale, against step"
        series={DELTA_SERIES}
        log
      />
      <MetricChart
        testId="chart.dev"
        title="Dev accuracy"
        description="dev-set accuracy at each evaluation against step"
        series={DEV_SERIES}
        include={hasDev}
        yLabel="accuracy"
        yRange={ACCURACY_RANGE}
        points
      />
      {regression && (
        <MetricChart
          testId="chart.devCorrelation"
          title="Dev correlation (regression)"
          description="Pearson and Spearman correlation of the dev predictions with the targets at each evaluation against step (the dev MSE is in the table)"
          series={CORRELATION_SERIES}
          include={hasCorrelation}
          yLabel="correlation"
          yRange={CORRELATION_RANGE}
          points
        />
      )}
    </section>
  );
}
