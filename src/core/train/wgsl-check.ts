/**
 * A self-check of this repo's WGSL programs on the webgpu backend in use, run when the backend is chosen
 * (backend.ts). A program that a GPU's shader compiler rejects does not throw: tfjs opens no WebGPU error scope,
 * so the program writes nothing and training would go on with zeros (docs/performance.md, ninth round). So one
 * small ALUM step (every model kernel, the KL, the delta update, the dropout masks) and one AdamW update (its
 * programs and buffer copies) run twice, with the programs and with the plain tfjs ops on the same backend, and
 * must agree. Where they do not, `wgslCheck` says which number differs, and the caller turns the programs off
 * (`turnWgslOff`), so that training runs on the plain ops.
 */
import * as tf from '@tensorflow/tfjs';

import { modelConfigFor } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { initParams, type Params } from '../model/params.ts';
import { runsWgsl, withWgslOff } from '../model/wgsl.ts';
import { makeRng } from '../rng.ts';
import { AdamW, ADAMW_DEFAULTS } from './adamw.ts';
import { alumGradients, disposeStepResult, type AlumSettings } from './alum.ts';

/**
 * How far the two runs may differ, relative to the largest magnitude of each number (1e-3 for a scale under 1e-3):
 * float32 rounding in different orders stays under 1e-5 here (webgpu-*.test.ts), a program that wrote nothing or
 * read the wrong entries is off by the order of the value.
 */
const TOLERANCE = 1e-3;

const [B, T, VOCAB] = [2, 6, 40];

const SETTINGS: AlumSettings = {
  ...{ method: 'alum', alpha: 1, k: 1, eta: 1e-3, epsilon: 1e-5, variant: 'paper' },
  ...{ innerLoss: 'kl', innerReduction: 'sum', detachEmbedding: false, norm: 'inf' },
};

/** Every number one check step gives: the losses, each parameter's gradient and its value after one update. */
type Numbers = Map<string, Float32Array>;

/** The check step on the backend in use, as `wgslCheck`'s header says; everything read back and freed. */
async function checkStep(): Promise<Numbers> {
  const model = modelConfigFor('nano', VOCAB, 2);
  const params: Params = initParams(model, makeRng(11));
  const rng = makeRng(12);
  const ints = (n: number, f: () => number) => Int32Array.from({ length: n }, f);
  const batch = {
    inputIds: tf.tensor2d(
      ints(B * T, () => 5 + rng.int(VOCAB - 5)),
      [B, T],
      'int32',
    ),
    tokenTypeIds: tf.tensor2d(
      ints(B * T, () => rng.int(2)),
      [B, T],
      'int32',
    ),
    attentionMask: tf.tensor2d(ints(B * T, () => 1).fill(0, B * T - 2), [B, T], 'int32'), // row 1 padded at the end
    labels: tf.tensor1d([0, 1], 'int32'),
  };
  const noise = Float32Array.from({ length: B * T * model.hiddenSize }, () => 1e-5 * rng.normal());
  const drop = (seed: number) => ({ rate: 0.1, seed });
  const r = alumGradients(params, model, batch, SETTINGS, {
    dropout: { clean: drop(1), inner: [drop(2)], adv: drop(3) },
    deltaInit: tf.tensor3d(noise, [B, T, model.hiddenSize]),
    record: false,
  });
  const optimizer = new AdamW(params, ADAMW_DEFAULTS, true, runsWgsl());
  const out: Numbers = new Map();
  try {
    out.set('the total loss', (await r.totalLoss.data()) as Float32Array);
    for (const [name, g] of r.grads) out.set(`${name}'s gradient`, (await g.data()) as Float32Array);
    optimizer.apply(r.grads, 1e-2);
    for (const [name, p] of params)
      out.set(`${name} after an AdamW update`, (await p.data()) as Float32Array);
  } finally {
    disposeStepResult(r);
    optimizer.dispose();
    tf.dispose([...Object.values(batch), ...params.values()]);
  }
  return out;
}

/** The number of `got` farthest from `want`'s, relative to the largest magnitude of `want`'s (at least 1e-3). */
export function worstDifference(got: Numbers, want: Numbers): { name: string; rel: number } {
  let worst = { name: '', rel: 0 };
  for (const [name, w] of want) {
    const g = got.get(name);
    if (!g || g.length !== w.length) return { name: `${name} (missing, or of another size)`, rel: Infinity };
    let diff = 0;
    let scale = 1e-3;
    w.forEach((v, i) => {
      const d = Math.abs((g[i] as number) - v);
      diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
      scale = Math.max(scale, Math.abs(v));
    });
    if (diff / scale > worst.rel) worst = { name, rel: diff / scale };
  }
  return worst;
}

/**
 * The check step with this repo's WGSL programs and with the plain ops on the webgpu backend in use: the number
 * farthest apart (`worstDifference`).
 */
export async function wgslCheckDifference(): Promise<{ name: string; rel: number }> {
  const programs = await checkStep();
  const plain = await withWgslOff(checkStep);
  return worstDifference(programs, plain);
}

/**
 * Runs the check step with this repo's WGSL programs and with the plain ops on the webgpu backend in use: null
 * where they agree (or where the backend runs no WGSL), else why not (a difference, or the error a run threw), in one
 * line.
 */
export async function wgslCheck(): Promise<string | null> {
  if (!runsWgsl()) return null;
  const failed = "this app's WebGPU programs failed their self-check";
  try {
    const { name, rel } = await wgslCheckDifference();
    if (rel <= TOLERANCE) return null;
    return `${failed}: ${name} differs from the plain ops' by ${rel.toExponential(1)} of its largest value`;
  } catch (e) {
    return `${failed}: ${errorMessage(e)}`;
  }
}
