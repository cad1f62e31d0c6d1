/**
 * The page's URL query <-> the staged TrainConfig, so that a run can be shared as a link
 * (tensorflow/playground `state.ts` idea, with our one config vocabulary from core/config.ts).
 * `backend` rides in the same query but is not part of TrainConfig: it picks the worker's tfjs backend.
 * Pure functions of strings; the page calls them with `location.search`.
 */
import {
  BACKENDS,
  CONFIG_KEYS,
  DEFAULT_CONFIG,
  errorMessage,
  resolveConfig,
  validateConfigPatch,
  type BackendName,
  type TrainConfig,
} from './coreConfig.ts';

export interface ParsedQuery {
  /** Defaults overridden by every valid field of the query. */
  config: TrainConfig;
  /** `?backend=`; null when absent or invalid (the worker then picks WebGPU first). */
  backend: BackendName | null;
  /** One line per rejected query parameter, naming it; those fields keep their defaults. */
  errors: string[];
}

/** Reads a query string (`?method=alum&alpha=1`); each field is checked alone so one bad value drops only itself. */
export function parseQuery(search: string, base: TrainConfig = DEFAULT_CONFIG): ParsedQuery {
  const params = new URLSearchParams(search);
  const errors: string[] = [];
  let backend: BackendName | null = null;
  let patch: Partial<TrainConfig> = {};
  for (const [key, value] of params) {
    if (key === 'backend') {
      if ((BACKENDS as readonly string[]).includes(value)) backend = value as BackendName;
      else errors.push(`query parameter 'backend' must be one of ${BACKENDS.join('|')}, got "${value}"`);
      continue;
    }
    try {
      patch = { ...patch, ...validateConfigPatch({ [key]: value }) };
    } catch (e) {
      errors.push(errorMessage(e));
    }
  }
  let config: TrainConfig;
  try {
    config = resolveConfig(patch, base);
  } catch (e) {
    errors.push(errorMessage(e));
    config = { ...base };
  }
  return { config, backend, errors };
}

/**
 * The query for a config: only the fields that differ from the defaults, in CONFIG_KEYS order, then `backend`.
 * Returns '' when everything is default, else a string starting with '?'.
 */
export function formatQuery(config: TrainConfig, backend: BackendName | null): string {
  const params = new URLSearchParams();
  for (const key of CONFIG_KEYS) {
    if (config[key] !== DEFAULT_CONFIG[key]) params.set(key, String(config[key]));
  }
  if (backend !== null) params.set('backend', backend);
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}
