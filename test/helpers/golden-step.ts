/**
 * The nano model's standard and ALUM steps against the PyTorch float64 golden file (test/golden/nano-bert.json, as
 * alum.test.ts checks them on cpu), on whatever backend is in use: the Dawn child scripts (test/webgpu/) run it on
 * webgpu, plain-matmul.test.ts on wasm. `expectGoldenSteps` (dawn.ts) holds the bounds.
 */
import * as tf from '@tensorflow/tfjs';

import { NO_DROPOUT } from '../../src/core/model/bert.ts';
import { disposeParams } from '../../src/core/model/params.ts';
import { alumGradients, disposeStepResult, type AlumSettings } from '../../src/core/train/alum.ts';
import { flat, loadNano, nanoBatch, readJson, type NanoGolden } from './nano.ts';

/** The nano step (standard, or ALUM's 'paper' variant) on the golden batch vs PyTorch; dropout off. */
export async function goldenStep(
  method: 'standard' | 'alum',
): Promise<{ lossError: number; gradError: number }> {
  const golden = readJson<NanoGolden>('test/golden/nano-bert.json');
  const nano = loadNano();
  const batch = nanoBatch(golden);
  const { K, eta, epsilon, alpha } = golden.hyper;
  const settings: AlumSettings = {
    ...{ method, alpha, k: K, eta, epsilon, variant: 'paper' },
    ...{ innerLoss: 'kl', innerReduction: 'sum', detachEmbedding: false, norm: 'inf' },
  };
  const deltaInit = method === 'alum' ? tf.tensor3d(flat(golden.delta_init), [3, 8, 32]) : null;
  const dropout = { clean: NO_DROPOUT, inner: [NO_DROPOUT, NO_DROPOUT], adv: NO_DROPOUT };
  const r = alumGradients(nano.params, nano.model, batch, settings, { dropout, deltaInit, record: false });
  const want =
    method === 'alum'
      ? golden.variants['paper']
      : { ...golden.standard, loss_total: golden.standard.loss_task };
  if (!want) throw new Error('no golden for the paper variant');
  let gradError = 0;
  for (const [name, g] of r.grads) {
    const w = flat(want.grads[name] as never);
    const got = await g.data();
    const scale = Math.max(1e-3, ...w.map(Math.abs));
    w.forEach((v, i) => (gradError = Math.max(gradError, Math.abs((got[i] as number) - v) / scale)));
  }
  const lossError = Math.abs((await r.totalLoss.data())[0]! - want.loss_total);
  disposeStepResult(r);
  tf.dispose(Object.values(batch));
  disposeParams(nano.params);
  return { lossError, gradError };
}
