/**
 * The live charts, every one overlaying all visible runs (and an imported metrics.jsonl): losses; train and
 * dev accuracy (with the majority-class line); what the inner ascent gained against what dropout alone gives;
 * the inner gradient norm; perturbation size against the embedding scale; the parameter gradient of the task
 * term against the alpha-weighted adversarial term; skipped batches; step time.
 * Metric definitions: docs/alum-step.md. Series specs are module constants so each chart is built once.
 */
import type { MetricRow } from '../../protocol/messages.ts';
import { activeRun, useAppStore, type AppState } from '../store/store.ts';
import { MetricChart, type RefLine, type SeriesSpec } from './MetricChart.tsx';

/** The total is drawn first and thin, the task loss last and thick: the task loss is never hidden under it. */
const LOSS_SERIES: readonly SeriesSpec[] = [
  { label: 'total loss', color: '#009E73', dash: [6, 4], width: 1, value: (r) => r.totalLoss },
  { label: 'adv loss (sym-KL)', color: '#D55E00', value: (r) => r.advLoss },
  { label: 'task loss (clean CE)', color: '#0072B2', width: 2.5, value: (r) => r.taskLoss },
];

const ASCENT_SERIES: readonly SeriesSpec[] = [
  { label: 'inner loss at δ₀ (klInit)', color: '#0072B2', value: (r) => r.klInit },
  { label: 'inner loss after ascent (klAdv)', color: '#D55E00', value: (r) => r.klAdv },
  {
    label: 'sym-KL from dropout alone (dropoutKl)',
    color: '#666666',
    dash: [6, 4],
    value: (r) => r.dropoutKl,
  },
];

const INNER_GRAD_SERIES: readonly SeriesSpec[] = [
  { label: '‖g‖₂ of the last inner step', color: '#CC79A7', value: (r) => r.innerGradNorm },
];

/** A perturbation that collapsed to 0 is drawn at the floor of the log axis, not left out. */
const DELTA_SERIES: readonly SeriesSpec[] = [
  { label: '‖δ‖∞ per token', color: '#CC79A7', floorOnLog: true, value: (r) => r.deltaLinf },
  { label: '‖δ‖₂ per token', color: '#E69F00', floorOnLog: true, value: (r) => r.deltaL2 },
  { label: 'mean |embedding|', color: '#666666', value: (r) => r.embedAbsMean },
];

const DEV_SERIES: readonly SeriesSpec[] = [
  { label: 'dev accuracy', color: '#0072B2', value: (r) => r.devAccuracy },
];
const TRAIN_ACCURACY_SERIES: readonly SeriesSpec[] = [
  { label: 'train batch accuracy', color: '#009E73', value: (r) => r.trainAccuracy },
];

/** Measured on the steps that evaluate (one more gradient pass there): which term drives the update. */
const GRAD_SPLIT_SERIES: readonly SeriesSpec[] = [
  { label: '‖∇θ task loss‖₂', color: '#0072B2', value: (r) => r.taskGradNorm },
  { label: '‖∇θ α·adv loss‖₂', color: '#D55E00', value: (r) => r.advGradNorm },
];
const hasGradSplit = (r: MetricRow) => r.taskGradNorm !== undefined;

const SKIPPED_SERIES: readonly SeriesSpec[] = [
  { label: 'batches skipped so far', color: '#D55E00', value: (r) => r.skipped },
];

const TIME_SERIES: readonly SeriesSpec[] = [
  { label: 'step wall time', color: '#000000', value: (r) => r.ms },
  { label: 'training', color: '#0072B2', dash: [6, 4], value: (r) => r.trainMs },
  { label: 'dev evaluation', color: '#E69F00', value: (r) => r.evalMs },
];

const hasDev = (r: MetricRow) => r.devAccuracy !== undefined;
const ACCURACY_RANGE: [number, number] = [0, 1];

/** "Always answer the majority label": what the first dev point is compared against. */
const MAJORITY_LINE: RefLine = {
  label: 'majority class',
  color: '#666666',
  value: (s) => activeRun(s)?.info?.devMajority?.share ?? null,
};

/** Masked LM: what always predicting the most frequent train token scores on the dev slice. */
const UNIGRAM_LINE: RefLine = {
  label: 'unigram baseline',
  color: '#666666',
  value: (s) => activeRun(s)?.info?.unigram?.accuracy ?? null,
};

/** Masked LM: perplexity of the batch's masked tokens, and the dev slice's masked-token loss. */
const PERPLEXITY_SERIES: readonly SeriesSpec[] = [
  { label: 'perplexity (exp of the masked-token loss)', color: '#0072B2', value: (r) => r.perplexity },
];
const DEV_LOSS_SERIES: readonly SeriesSpec[] = [
  { label: 'dev masked-token loss', color: '#D55E00', value: (r) => r.devLoss },
];
const hasDevLoss = (r: MetricRow) => r.devLoss !== undefined;
/** The dev accuracy chart of a classifier (against the majority class) and of a masked LM (the unigram baseline). */
const CLASSIFY_DEV = {
  title: 'Dev accuracy (dashed grey: always the most frequent label)',
  description:
    'dev-set accuracy at each evaluation against step, with the accuracy of always answering the most frequent label',
  refLine: MAJORITY_LINE,
};
const MLM_DEV = {
  title: 'Dev masked-token accuracy (dashed grey: always the most frequent token)',
  description:
    'accuracy of the masked tokens of the held-out corpus slice at each evaluation against step, with the accuracy of always predicting the most frequent train token',
  refLine: UNIGRAM_LINE,
};
/** Whether the active run pre-trains a masked LM (task mlm). */
const selectMlm = (s: AppState) => activeRun(s)?.config.task === 'mlm';

const CORRELATION_SERIES: readonly SeriesSpec[] = [
  { label: 'dev Pearson', color: '#0072B2', value: (r) => r.devPearson },
  { label: 'dev Spearman', color: '#E69F00', dash: [6, 4], value: (r) => r.devSpearman },
];
const hasCorrelation = (r: MetricRow) => r.devPearson !== undefined;
const CORRELATION_RANGE: [number, number] = [-1, 1];
/** Whether the active run is a regression one that has been evaluated (its dev metrics are correlations). */
const selectRegression = (s: AppState) => activeRun(s)?.metrics.some(hasCorrelation) ?? false;

export function Charts() {
  const regression = useAppStore(selectRegression);
  const mlm = useAppStore(selectMlm);
  return (
    <section className="charts" aria-label="Training charts">
      <MetricChart
        testId="chart.loss"
        title="Losses per step"
        description="clean task cross-entropy (thick), adversarial symmetric KL and their weighted total (dashed) against step; linear by default, log on request"
        series={LOSS_SERIES}
        yLabel="loss (nats)"
      />
      <MetricChart
        key={mlm ? 'mlm' : 'classify'}
        testId="chart.dev"
        series={DEV_SERIES}
        include={hasDev}
        yLabel="accuracy (fraction)"
        yRange={ACCURACY_RANGE}
        points
        {...(mlm ? MLM_DEV : CLASSIFY_DEV)}
      />
      {mlm && (
        <MetricChart
          testId="chart.perplexity"
          title="Masked LM: perplexity per step"
          description="perplexity of each step's masked tokens (the exponential of the masked-token cross-entropy) against step"
          series={PERPLEXITY_SERIES}
          yLabel="perplexity (tokens)"
          log
        />
      )}
      {mlm && (
        <MetricChart
          testId="chart.devLoss"
          title="Masked LM: dev masked-token loss"
          description="cross-entropy of the masked tokens of the held-out corpus slice at each evaluation against step"
          series={DEV_LOSS_SERIES}
          include={hasDevLoss}
          yLabel="loss (nats)"
          points
        />
      )}
      <MetricChart
        testId="chart.trainAccuracy"
        title="Train batch accuracy"
        description="accuracy of the clean pass on each step's training batch, with dropout on, against step"
        series={TRAIN_ACCURACY_SERIES}
        yLabel="accuracy (fraction)"
        yRange={ACCURACY_RANGE}
      />
      <MetricChart
        testId="chart.ascent"
        title="KL before and after the ascent, and what dropout alone gives"
        description="inner loss at the initial perturbation and after the ascent, and the symmetric KL that the dropout masks alone give at zero perturbation (zero, so not drawn on the log scale, when the adversarial passes reuse the clean pass's masks), against step"
        series={ASCENT_SERIES}
        yLabel="divergence (nats)"
        log
      />
      <MetricChart
        testId="chart.innerGrad"
        title="Inner gradient norm"
        description="L2 norm over the batch of the last inner step's gradient with respect to the perturbation, against step"
        series={INNER_GRAD_SERIES}
        yLabel="‖∂ inner loss / ∂δ‖₂ (nats per unit δ)"
        log
      />
      <MetricChart
        testId="chart.delta"
        title="Perturbation size vs embedding scale"
        description="mean per-token L-inf and L2 norms of the adversarial perturbation (drawn at the bottom of the axis when they collapse to zero) and the mean absolute embedding, against step"
        series={DELTA_SERIES}
        yLabel="norm (embedding units)"
        log
      />
      <MetricChart
        testId="chart.gradSplit"
        title="Parameter gradient: task term vs α-weighted adversarial term"
        description="L2 norm over all parameters of the task loss's gradient and of the alpha-weighted adversarial loss's gradient (total minus task), on the steps that evaluate the dev set, against step"
        series={GRAD_SPLIT_SERIES}
        include={hasGradSplit}
        yLabel="‖gradient‖₂ (loss units per weight)"
        log
        points
      />
      <MetricChart
        testId="chart.skipped"
        title="Skipped batches"
        description="how many batches so far had their adversarial term skipped because the inner gradient was not finite, against step"
        series={SKIPPED_SERIES}
        yLabel="batches (count)"
      />
      <MetricChart
        testId="chart.time"
        title="Step time"
        description="wall time of each step, split into training and dev evaluation, against step"
        series={TIME_SERIES}
        yLabel="time (ms)"
      />
      {regression && (
        <MetricChart
          testId="chart.devCorrelation"
          title="Dev correlation (regression)"
          description="Pearson and Spearman correlation of the dev predictions with the targets at each evaluation against step (the dev MSE is in the table)"
          series={CORRELATION_SERIES}
          include={hasCorrelation}
          yLabel="correlation (−1 to 1)"
          yRange={CORRELATION_RANGE}
          points
        />
      )}
    </section>
  );
}
