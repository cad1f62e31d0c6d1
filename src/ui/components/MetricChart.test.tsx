// @vitest-environment jsdom
// When the charts are built: never inside React's commit, each in a task of its own (MetricChart's effect defers
// `new uPlot` with a timer). A run's start changes every chart's series; built in the commit, all of them were
// one main-thread task of 60-200 ms (issue 9's no-task-over-50-ms goal; docs/performance.md, "In the browser").
// uPlot is replaced by a recorder: jsdom has no canvas, and what is tested is when it is constructed.
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

const built: number[] = []; // the timer task each chart was built in (0: none, e.g. React's commit)
let task = 0; // the timer callback running now (0: none)
let tasks = 0;

vi.mock('uplot', () => {
  class FakePlot {
    ctx = { canvas: document.createElement('canvas') };
    constructor() {
      built.push(task);
    }
    setData(): void {}
    setSize(): void {}
    batch(f: () => void): void {
      f();
    }
    destroy(): void {}
    static rangeLog(): [number, number] {
      return [1, 10];
    }
  }
  return { default: FakePlot };
});

/** The observers jsdom lacks, doing nothing (what they drive is not under test here). */
class QuietObserver {
  observe(): void {}
  disconnect(): void {}
}

beforeAll(() => {
  // Every timer callback numbered, so that a build says which task it ran in.
  const setTimer = globalThis.setTimeout;
  const numbered = (f: () => void, ms?: number) =>
    setTimer(() => {
      task = ++tasks;
      try {
        f();
      } finally {
        task = 0;
      }
    }, ms);
  Object.assign(globalThis, {
    IS_REACT_ACT_ENVIRONMENT: true,
    IntersectionObserver: QuietObserver,
    ResizeObserver: QuietObserver,
    setTimeout: numbered,
  });
});

describe('MetricChart', () => {
  let root: Root | null = null;
  afterEach(() => {
    act(() => root?.unmount());
    root = null;
    built.length = 0;
  });

  it('builds each chart after the commit, in a task of its own', async () => {
    const { MetricChart } = await import('./MetricChart.tsx');
    const series = [{ label: 'loss', color: '#000', value: () => 1 }];
    const chart = (id: string) => (
      <MetricChart key={id} testId={id} title={id} description={id} series={series} yLabel="nats" />
    );
    const container = document.createElement('div');
    document.body.append(container);
    root = createRoot(container);
    act(() => root?.render([chart('a'), chart('b'), chart('c')]));
    expect(built, 'built in the commit').toEqual([]);
    await vi.waitFor(() => expect(built).toHaveLength(3));
    expect(
      built.every((t) => t > 0),
      'each built in a timer task',
    ).toBe(true);
    expect(new Set(built).size, 'no two in one task').toBe(3);
  });
});
