/**
 * Named hyper-parameter presets with their provenance, for the CLI's `--preset` (and the page's preset menu).
 * Each one is a patch over DEFAULT_CONFIG that sets every adversarial option, so a preset means the same
 * thing whatever the defaults become; `source` says where every value comes from (docs/alum-step.md has the
 * links, pinned to commits).
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
    description:
      'The playground default: ALUM with a normalised ascent step to the surface of an L-inf ball (eta = epsilon), ' +
      "inner and adversarial passes on the clean pass's dropout masks, tiny model, 150 steps.",
    source:
      'Playground choices (docs/alum-step.md): alpha 1 for fine-tuning (ALUM paper, quoted in namisan/mt-dnn issue #176); ' +
      'K 1 as all released code; eta = epsilon = 1e-2 so the projection binds; advDropout same so the ' +
      'adversarial loss is 0 at delta = 0 and everything it shows is the perturbation; sigma 1e-3, not the released ' +
      "1e-5: with the clean pass's masks the inner gradient at delta_0 is second order in sigma, and at 1e-5 it is " +
      'near float32 rounding (docs/alum-step.md, "Why the default sigma is 1e-3").',
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
    description:
      'Normalised ascent + L-inf projection: delta <- clip(delta + eta g / max|g|, -epsilon, epsilon) per token ' +
      "(the paper's symbols with SMART's normalised step; see alum-paper-raw for Algorithm 1 as printed).",
    source:
      'ALUM paper Algorithm 1 symbols; the normalisation as in SMART (Jiang et al. 2020) and all released ALUM code; ' +
      'inner KL(clean || adv) with batchmean, a detached embedding and fresh dropout masks (the model in training ' +
      'mode) as the fairseq ALUM criterion ' +
      '(mt-dnn a1b63fb alum/adv_masked_lm.py:82-87); alpha 1, K 1, sigma 1e-5; epsilon is not given in any ' +
      'released source: 1e-2 with eta 1e-2 is a playground choice.',
    patch: {
      method: 'alum',
      variant: 'paper',
      alpha: 1,
      k: 1,
      eta: 1e-2,
      epsilon: 1e-2,
      sigma: 1e-5,
      innerLoss: 'kl',
      innerReduction: 'batchmean',
      detachEmbedding: true,
      norm: 'inf',
      advDropout: 'fresh',
    },
  },
  {
    name: 'alum-paper-raw',
    description: 'Algorithm 1 as printed: delta <- clip(delta + eta g, -epsilon, epsilon), no normalisation.',
    source:
      'ALUM paper Algorithm 1, line 6 (arXiv 2004.08994v2); eta 1e-3 and sigma 1e-5 are the fairseq ALUM task ' +
      'defaults (mt-dnn a1b63fb alum/adv_masked_lm_task.py); epsilon 1e-2 is a playground choice.',
    patch: {
      method: 'alum',
      variant: 'paper-raw',
      alpha: 1,
      k: 1,
      eta: 1e-3,
      epsilon: 1e-2,
      sigma: 1e-5,
      innerLoss: 'kl',
      innerReduction: 'batchmean',
      detachEmbedding: true,
      norm: 'inf',
      advDropout: 'fresh',
    },
  },
  {
    name: 'mtdnn-2020',
    description:
      'mt-dnn as of the paper (2020-04-28): a_k = a_{k-1} + eta g / max|g| per token, gradient at a + noise, ' +
      'noise not in the result; stable-KL inner loss (element mean); detached embedding; fresh dropout masks.',
    source:
      'namisan/mt-dnn f9a3804 mt_dnn/perturbation.py:80-104 and mt_dnn/loss.py (stable_kl); --adv_step_size 1e-3, ' +
      '--adv_noise_var 1e-5, --adv_alpha 1, --adv_k 1.',
    patch: {
      method: 'alum',
      variant: 'mtdnn-2020',
      alpha: 1,
      k: 1,
      eta: 1e-3,
      sigma: 1e-5,
      innerLoss: 'stable-kl',
      innerReduction: 'elementmean',
      detachEmbedding: true,
      norm: 'inf',
      advDropout: 'fresh',
    },
  },
  {
    name: 'mtdnn-head',
    description:
      'mt-dnn HEAD: (delta + eta g) rescaled to unit L-inf per token; stable-KL inner loss summed over the batch; ' +
      'embedding not detached; fresh dropout masks.',
    source:
      'namisan/mt-dnn 3228e7c train.py:204-209 (--adv_step_size 1e-5, --adv_noise_var 1e-5, --adv_alpha 1, ' +
      '--adv_k 1, --adv_p_norm inf) and mt_dnn/perturbation.py:76-152 (stable_kl with reduce=False).',
    patch: {
      method: 'alum',
      variant: 'mtdnn-head',
      alpha: 1,
      k: 1,
      eta: 1e-5,
      sigma: 1e-5,
      innerLoss: 'stable-kl',
      innerReduction: 'sum',
      detachEmbedding: false,
      norm: 'inf',
      advDropout: 'fresh',
    },
  },
];

export function findPreset(name: string): Preset {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) throw new Error(`unknown preset '${name}' (known: ${PRESETS.map((x) => x.name).join(', ')})`);
  return p;
}
