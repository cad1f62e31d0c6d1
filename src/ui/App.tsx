/**
 * The page: header with status and the Start/Pause/Step/Reset controls (always first, on a phone too),
 * errors, then settings on the left and results on the right; on a narrow screen the results come before
 * the settings, so the first chart is within the first screen or two. The teaching panels (what is this,
 * the lesson, where the perturbation lands, slow motion) are disclosures whose open state a lesson saves.
 */
import { About } from './components/About.tsx';
import { Lesson } from './components/Lesson.tsx';
import { SlowMotion } from './components/SlowMotion.tsx';
import { TokenView } from './components/TokenView.tsx';
import { Charts } from './components/Charts.tsx';
import { CompareRuns } from './components/CompareRuns.tsx';
import { RunSummary, RunWarnings } from './components/RunSummary.tsx';
import { ConfigForm } from './components/ConfigForm.tsx';
import { Controls } from './components/Controls.tsx';
import { DataPanel } from './components/DataPanel.tsx';
import { ErrorBanner } from './components/ErrorBanner.tsx';
import { ExportPanel } from './components/ExportPanel.tsx';
import { LatestMetrics } from './components/LatestMetrics.tsx';
import { ModelPanel } from './components/ModelPanel.tsx';
import { PerformancePanel } from './components/PerformancePanel.tsx';
import { PretrainPanel } from './components/PretrainPanel.tsx';
import { RobustnessLab } from './components/RobustnessLab.tsx';
import { RunsPanel } from './components/RunsPanel.tsx';
import { StatusBar } from './components/StatusBar.tsx';

export function App() {
  return (
    <>
      <header>
        <h1>ALUM Playground</h1>
        <p className="muted">
          Fine-tune a small BERT with ALUM adversarial training (Liu et al. 2020), in your browser.
        </p>
        <StatusBar />
        <Controls />
      </header>
      <ErrorBanner />
      <main>
        <aside aria-label="Settings">
          <DataPanel />
          <ModelPanel />
          <ConfigForm />
          <ExportPanel />
        </aside>
        <div className="results">
          <Lesson />
          <About />
          <RunWarnings />
          <RunSummary />
          <CompareRuns />
          <PretrainPanel />
          <Charts />
          <TokenView />
          <SlowMotion />
          <RobustnessLab />
          <LatestMetrics />
          <RunsPanel />
          <PerformancePanel />
        </div>
      </main>
    </>
  );
}
