/**
 * Entry point: read the config from the URL query, install `window.alum`, start the worker, keep the URL in
 * step with the staged config (history.replaceState, so a run can be shared as a link), render.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { installAutomation } from './automation.ts';
import { connectWorker } from './store/bridge.ts';
import { appStore } from './store/store.ts';
import { formatQuery, parseQuery } from './urlConfig.ts';
import './styles.css';

const query = parseQuery(window.location.search);
appStore.setState((s) => ({
  staged: query.config,
  urlErrors: query.errors,
  lesson: query.lesson,
  builtinTask: query.data,
  worker: { ...s.worker, requested: query.backend },
}));

appStore.subscribe((s, prev) => {
  const same = s.staged === prev.staged && s.lesson === prev.lesson && s.builtinTask === prev.builtinTask;
  if (same && s.worker.requested === prev.worker.requested) return; // the backend menu sets `requested`
  const { pathname, hash } = window.location;
  window.history.replaceState(
    window.history.state,
    '',
    pathname + formatQuery(s.staged, s.worker.requested, s.lesson, s.builtinTask) + hash,
  );
});

installAutomation();
connectWorker();

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
