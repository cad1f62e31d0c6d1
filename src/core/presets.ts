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
  {
    name: 'r3f',
    description:
      'R3F: no ascent; CE + alpha * sym-KL(f(x), f(x + z)) with z ~ U(-sigma, sigma) and no stop-gradient on ' +
      'either side; the noised pass does not reach the embedding tables.',
    source:
      'facebookresearch/fairseq a4356b1 examples/rxf/rxf_src/sentence_prediction_r3f.py: --eps 1e-5 (our sigma), ' +
      '--r3f-lambda 1.0 (our alpha), --noise-type uniform (lines 31-51), _get_symm_kl without detach (lines 57-73), ' +
      'noise on token_embeddings.detach() (line 101), the model in training mode (fresh dropout masks). Aghajanyan et ' +
      'al. 2020, arXiv 2008.03156.',
    patch: {
      method: 'r3f',
      alpha: 1,
      k: 0,
      sigma: 1e-5,
      noiseType: 'uniform',
      innerLoss: 'kl',
      innerReduction: 'batchmean',
      detachEmbedding: true,
      advDropout: 'fresh',
    },
  },
  {
    name: 'fgm',
    description:
      'FGM (text adversarial training): r = epsilon * g / ||g||_2 over the whole sequence, g the gradient of the ' +
      'clean task loss; loss CE(x) + alpha * CE(x + r).',
    source:
      'tensorflow/models 88dbb09 research/adversarial_text/adversarial_losses.py: adversarial_loss and _scale_l2, ' +
      'perturb_norm_length 5.0 (our epsilon), adv_reg_coeff 1.0 (our alpha). Miyato, Dai, Goodfellow 2017, arXiv ' +
      '1605.07725, Eq. 2. There the perturbation is on normalised word embeddings; here on the embedding output.',
    patch: {
      method: 'fgm',
      alpha: 1,
      k: 1,
      epsilon: 5,
      detachEmbedding: false,
      advDropout: 'fresh',
    },
  },
  {
    name: 'pgd',
    description:
      'PGD-K: random start in the epsilon ball, K steps delta <- Pi_eps(delta + eta g / max|g|) on the task loss ' +
      '(per token, L-inf), then CE(x) + alpha * CE(x + delta_K).',
    source:
      'Madry et al. 2018, arXiv 1706.06083, Eq. 2.1 and the PGD update of section 2.1 (random start, projected ' +
      'normalised ascent). Our choice: the clean CE is kept and alpha weighs the adversarial CE, as in FGM (Madry ' +
      'minimises CE(x + delta) alone); K 3, eta 5e-3, epsilon 1e-2 are playground choices (eta K > epsilon).',
    patch: {
      method: 'pgd',
      alpha: 1,
      k: 3,
      eta: 5e-3,
      epsilon: 1e-2,
      norm: 'inf',
      detachEmbedding: false,
      advDropout: 'same',
    },
  },
  {
    name: 'freelb',
    description:
      'FreeLB: K ascent passes from a random start, delta <- delta + eta g / ||g||_2 per example, parameter ' +
      'gradients accumulated over the K passes (each CE / K); the same dropout masks in every pass.',
    source:
      'zhuchen03/FreeLB 2100e74 huggingface-transformers/examples/run_glue_freelb.py, train(): "initialize delta", ' +
      '"(3) update and clip", --norm-type l2, --adv-max-norm 0 = unlimited (our epsilon); dp_masks reused. Zhu et ' +
      'al. 2020, arXiv 1909.11764, Algorithm 1. --adv-steps 3 (k), --adv-lr 1e-1 (eta), --adv-init-mag 1e-1 ' +
      '(sigma) are playground choices (the script defaults them to 1, 0, 0).',
    patch: {
      method: 'freelb',
      k: 3,
      eta: 1e-1,
      sigma: 1e-1,
      epsilon: 0,
      norm: 'l2',
    },
  },
  {
    name: 'smart',
    description:
      "SMART: ALUM's adversarial sym-KL (normalised L-inf ascent) plus mu * sym-KL between the model and an EMA " +
      'copy of its weights (Bregman proximal point with momentum).',
    source:
      'Jiang et al. 2020, arXiv 1911.03437v5, Eq. 1-4 and Algorithm 1 (x~ <- Pi_inf(x~ + eta g / ||g||_inf), ' +
      'theta~ <- (1 - beta) theta + beta theta~); section 5 as we read it: mu 1, lambda_s 1 (of 1, 3, 5), eta 1e-3, ' +
      'sigma = epsilon = 1e-5, T 1, beta 0.99 (the paper raises it to 0.999 after 10% of the updates; one beta here).',
    patch: {
      method: 'smart',
      variant: 'paper',
      alpha: 1,
      k: 1,
      eta: 1e-3,
      epsilon: 1e-5,
      sigma: 1e-5,
      smartMu: 1,
      smartBeta: 0.99,
      innerLoss: 'kl',
      innerReduction: 'batchmean',
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
