/**
 * Named hyper-parameter presets with their provenance, for the CLI's `--preset` and (later) the UI's preset
 * menu. Each one is a patch over DEFAULT_CONFIG; `source` says where every number comes from.
 */
import type { TrainConfig } from './config.ts';

export interface Preset {
  name: string;
  description: string;
  source: string;
  patch: Partial<TrainConfig>;
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'default',
    description: 'The playground default: ALUM, paper variant, tiny model, 150 steps.',
    source:
      'Playground choice; alpha 1 for fine-tuning (ALUM paper via mt-dnn issue #176), K 1, eta 1e-3, sigma 1e-5 (fairseq ALUM defaults).',
    patch: {},
  },
  {
    name: 'standard',
    description: 'Plain fine-tuning, no adversarial term: the baseline.',
    source: 'Same as default with method standard.',
    patch: { method: 'standard' },
  },
  {
    name: 'alum-paper',
    description: 'Algorithm 1 as written: normalised ascent step, clipped to an L-inf ball.',
    source:
      'ALUM paper Algorithm 1 (ALUM.md §1.2); alpha 1 (fine-tuning), K 1, eta 1e-3 and sigma 1e-5 from the fairseq ALUM task defaults; epsilon is not given in the released code (playground choice 1e-2).',
    patch: { method: 'alum', variant: 'paper', alpha: 1, k: 1, eta: 1e-3, sigma: 1e-5, epsilon: 1e-2 },
  },
  {
    name: 'mtdnn-2020',
    description: 'mt-dnn as of the paper (2020-04): delta = eta * g / max|g| per token, noise dropped.',
    source:
      'namisan/mt-dnn perturbation.py @f9a3804: --adv_step_size 1e-3, --adv_noise_var 1e-5, --adv_alpha 1, --adv_k 1.',
    patch: { method: 'alum', variant: 'mtdnn-2020', alpha: 1, k: 1, eta: 1e-3, sigma: 1e-5 },
  },
  {
    name: 'mtdnn-head',
    description: 'mt-dnn HEAD: (delta + eta g) rescaled to unit L-inf per token.',
    source:
      'namisan/mt-dnn train.py:204-209 @3228e7c: --adv_step_size 1e-5, --adv_noise_var 1e-5, --adv_alpha 1, --adv_k 1.',
    patch: { method: 'alum', variant: 'mtdnn-head', alpha: 1, k: 1, eta: 1e-5, sigma: 1e-5 },
  },
];

export function findPreset(name: string): Preset {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) throw new Error(`unknown preset '${name}' (known: ${PRESETS.map((x) => x.name).join(', ')})`);
  return p;
}
