/** The page: header and status, errors, controls and config on the left, charts and metrics on the right. */
import { Charts } from './components/Charts.tsx';
import { ConfigForm } from './components/ConfigForm.tsx';
import { Controls } from './components/Controls.tsx';
import { DataPanel } from './components/DataPanel.tsx';
import { ErrorBanner } from './components/ErrorBanner.tsx';
import { ExportPanel } from './components/ExportPanel.tsx';
import { LatestMetrics } from './components/LatestMetrics.tsx';
import { ModelPanel } from './components/ModelPanel.tsx';
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
      </header>
      <ErrorBanner />
      <main>
        <aside>
          <Controls />
          <DataPanel />
          <ModelPanel />
          <ConfigForm />
          <ExportPanel />
        </aside>
        <div className="results">
          <Charts />
          <LatestMetrics />
          <RunsPanel />
        </div>
      </main>
    </>
  );
}
