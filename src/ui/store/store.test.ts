/**
 * The store's worker reducer, driven by replaying recorded FromWorker sequences: no worker, no tfjs, no DOM.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type TrainConfig } from '../coreConfig.ts';
import { needsReset } from './actions.ts';
import { PROTOCOL_VERSION, type FromWorker, type MetricRow, type RunInfo } from '../../protocol/messages.ts';
import {
  activeRun,
  initialState,
  reduceFromWorker,
  reduceResetRequested,
  reduceRunCreated,
  reduceRunActivated,
  reduceRunDisposed,
  reduceRunHidden,
  type AppState,
} from './store.ts';

const config: TrainConfig = { ...DEFAULT_CONFIG, model: 'nano', batchSize: 4, maxLength: 16, steps: 40 };

function row(step: number, extra: Partial<MetricRow> = {}): MetricRow {
  return {
    step,
    taskLoss: 0.7 - step * 0.01,
    advLoss: 0.02,
    totalLoss: 0.72 - step * 0.01,
    innerGradNorm: 0.5,
    deltaLinf: 1e-3,
    deltaL2: 5e-3,
    embedAbsMean: 0.8,
    effPerturb: 0.9,
    klInit: 1e-4,
    klAdv: 0.015,
    dropoutKl: 0,
    skipped: 0,
    ms: 250,
    lr: 1e-4,
    ...extra,
  };
}

const info: RunInfo = {
  runId: 'r1',
  config,
  dataName: 'spam-assassin.json',
  paramCount: 275_042,
  vocabSize: 8000,
  trainExamples: 4836,
  devExamples: 1210,
  labels: ['ham', 'spam'],
};

/** A session as the worker reports it: ready, a run loads, trains 3 steps, pauses. */
const session: FromWorker[] = [
  {
    type: 'ready',
    protocolVersion: PROTOCOL_VERSION,
    backend: 'webgpu',
    backendReason: 'first in webgpu > webgl',
  },
  { type: 'status', runId: 'r1', status: 'loading', step: 0 },
  { type: 'run-created', info },
  { type: 'status', runId: 'r1', status: 'ready', step: 0 },
  { type: 'status', runId: 'r1', status: 'running', step: 0 },
  { type: 'metrics', runId: 'r1', rows: [row(1), row(2)] },
  { type: 'metrics', runId: 'r1', rows: [row(3, { devAccuracy: 0.5 })] },
  { type: 'status', runId: 'r1', status: 'paused', step: 3 },
];

const replay = (state: AppState, msgs: readonly FromWorker[]): AppState =>
  msgs.reduce(reduceFromWorker, state);

function trained(): AppState {
  return replay(reduceRunCreated(initialState(), 'r1', config), session);
}

describe('reduceFromWorker', () => {
  it('records the backend, the run info, the status, the step and every row in order', () => {
    const s = trained();
    expect(s.worker).toMatchObject({
      ready: true,
      backend: 'webgpu',
      backendReason: 'first in webgpu > webgl',
    });
    expect(s.activeRunId).toBe('r1');
    const run = activeRun(s);
    expect(run?.info).toEqual(info);
    expect(run?.status).toBe('paused');
    expect(run?.step).toBe(3);
    expect(run?.metrics.map((r) => r.step)).toEqual([1, 2, 3]);
    expect(run?.metrics[2]?.devAccuracy).toBe(0.5);
    expect(s.workerError).toBeNull();
  });

  it('advances the step from metric rows alone, between status messages', () => {
    const s = replay(reduceRunCreated(initialState(), 'r1', config), session.slice(0, 6));
    expect(activeRun(s)?.step).toBe(2);
    expect(activeRun(s)?.status).toBe('running');
  });

  it('never mutates the state it is given', () => {
    const before = trained();
    const frozen = JSON.stringify(before);
    reduceFromWorker(before, { type: 'metrics', runId: 'r1', rows: [row(4)] });
    expect(JSON.stringify(before)).toBe(frozen);
  });

  it('ignores messages for runs it does not know', () => {
    const s = trained();
    expect(reduceFromWorker(s, { type: 'metrics', runId: 'other', rows: [row(9)] })).toBe(s);
    expect(reduceFromWorker(s, { type: 'status', runId: 'other', status: 'done', step: 9 })).toBe(s);
  });

  it('keeps a run error on the run and a run-less error on the page', () => {
    let s = reduceFromWorker(trained(), { type: 'error', runId: 'r1', message: 'taskLoss is NaN at step 4' });
    expect(activeRun(s)).toMatchObject({ status: 'error', error: 'taskLoss is NaN at step 4' });
    expect(s.workerError).toBeNull();
    s = reduceFromWorker(s, { type: 'error', runId: null, message: 'webgpu: no adapter' });
    expect(s.workerError).toBe('webgpu: no adapter');
  });

  it('refuses a worker that speaks another protocol version', () => {
    const s = reduceFromWorker(initialState(), {
      type: 'ready',
      protocolVersion: PROTOCOL_VERSION + 1,
      backend: 'cpu',
      backendReason: 'forced by ?backend=cpu',
    });
    expect(s.worker.ready).toBe(false);
    expect(s.workerError).toMatch(/protocol/);
  });
});

describe('replies and attack progress', () => {
  it('keeps the progress of an attack, then files its result (and the fill-mask and run-model replies) by request id', () => {
    let s = reduceFromWorker(initialState(), {
      type: 'attack-progress',
      requestId: 'q1',
      done: 3,
      total: 12,
    });
    expect(s.attackProgress).toEqual({ requestId: 'q1', done: 3, total: 12 });
    s = reduceFromWorker(s, {
      type: 'attack-result',
      requestId: 'q1',
      result: { ok: false, message: 'no dev' },
    });
    s = reduceFromWorker(s, {
      type: 'fill-mask',
      requestId: 'q2',
      result: { ok: false, message: 'no [MASK]' },
    });
    s = reduceFromWorker(s, { type: 'run-model', requestId: 'q3', result: { ok: false, message: 'no run' } });
    expect(s.replies).toEqual({
      q1: { ok: false, message: 'no dev' },
      q2: { ok: false, message: 'no [MASK]' },
      q3: { ok: false, message: 'no run' },
    });
  });
});

describe('reset', () => {
  it('clears the history at once and drops rows still in flight from before the reset', () => {
    const nextConfig: TrainConfig = { ...config, seed: 7 };
    let s = reduceResetRequested(trained(), 'r1', nextConfig);
    expect(activeRun(s)).toMatchObject({ step: 0, metrics: [], config: nextConfig, epoch: 1 });
    s = replay(s, [
      { type: 'metrics', runId: 'r1', rows: [row(4)] }, // posted before the worker saw the reset
      { type: 'status', runId: 'r1', status: 'paused', step: 4 },
      { type: 'status', runId: 'r1', status: 'loading', step: 0 },
      { type: 'status', runId: 'r1', status: 'ready', step: 0 },
    ]);
    expect(activeRun(s)).toMatchObject({ status: 'ready', step: 0, metrics: [], resetPending: false });
    s = replay(s, [{ type: 'metrics', runId: 'r1', rows: [row(1)] }]);
    expect(activeRun(s)?.metrics.map((r) => r.step)).toEqual([1]);
  });
});

describe('local run bookkeeping', () => {
  it('creates an active loading run and forgets it on dispose', () => {
    let s = reduceRunCreated(initialState(), 'r2', config);
    expect(activeRun(s)).toMatchObject({ runId: 'r2', status: 'loading', step: 0, info: null });
    s = reduceRunDisposed(s, 'r2');
    expect(s.runs).toEqual({});
    expect(s.activeRunId).toBeNull();
  });
});

describe('saved runs', () => {
  it('a resumed run shows the checkpoint rows, then the rows after it, continuous', () => {
    const saved: FromWorker = {
      type: 'saved-runs',
      saved: {
        available: true,
        problem: 'not saved: storage is full (QuotaExceededError)',
        runs: [],
        usage: 10,
        quota: 100,
      },
    };
    let s = reduceFromWorker(initialState(), saved);
    expect(s.saved?.problem).toBe('not saved: storage is full (QuotaExceededError)');
    s = reduceRunCreated(s, 'r9', config);
    s = replay(s, [
      { type: 'run-created', info: { ...info, runId: 'r9' } },
      { type: 'status', runId: 'r9', status: 'ready', step: 0 },
      { type: 'metrics', runId: 'r9', rows: [row(1), row(2), row(3)] },
      { type: 'status', runId: 'r9', status: 'paused', step: 3 },
      { type: 'metrics', runId: 'r9', rows: [row(4)] },
    ]);
    expect(activeRun(s)).toMatchObject({ status: 'paused', step: 4 });
    expect(activeRun(s)?.metrics.map((r) => r.step)).toEqual([1, 2, 3, 4]);
  });
});

describe('compare mode bookkeeping', () => {
  it('records a mid-run change (only the fields that changed, and the step it applies after)', () => {
    let s = reduceFromWorker(trained(), {
      type: 'config-applied',
      runId: 'r1',
      step: 3,
      config: { ...config, lr: 5e-4 },
    });
    expect(activeRun(s)?.changes).toEqual([{ step: 3, changed: { lr: 5e-4 } }]);
    expect(activeRun(s)?.config.lr).toBe(5e-4);
    // A reset starts a new history; an answer still in flight from before it is dropped.
    s = reduceResetRequested(s, 'r1', config);
    s = reduceFromWorker(s, {
      type: 'config-applied',
      runId: 'r1',
      step: 4,
      config: { ...config, alpha: 2 },
    });
    expect(activeRun(s)?.changes).toEqual([]);
  });

  it('a second run gets the next colour slot and a name; hiding keeps it listed', () => {
    let s = reduceRunCreated(trained(), 'r2', { ...config, method: 'standard' }, 'method=standard');
    expect(s.activeRunId).toBe('r2');
    expect(s.runs['r2']).toMatchObject({ slot: 1, name: 'run 2: method=standard', hidden: false });
    expect(s.runs['r1']?.metrics).toHaveLength(3); // the first run's curves stay
    s = reduceRunHidden(s, 'r1', true);
    expect(s.runs['r1']?.hidden).toBe(true);
    expect(reduceRunActivated(s, 'r1').activeRunId).toBe('r1');
    expect(reduceRunActivated(s, 'nope')).toBe(s);
  });
});

describe('which staged settings need a reset', () => {
  it('none without a run; live settings never; every other changed field does', () => {
    expect(needsReset({ ...initialState(), staged: { ...config, batchSize: 8 } })).toEqual([]);
    const s = trained();
    expect(needsReset({ ...s, staged: { ...config, lr: 1, alpha: 3, method: 'standard', k: 2 } })).toEqual(
      [],
    );
    expect(needsReset({ ...s, staged: { ...config, lr: 1, batchSize: 8, seed: 9 } })).toEqual([
      'batchSize',
      'seed',
    ]);
  });
});
