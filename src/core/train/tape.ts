/**
 * Two gaps in tfjs-core's public gradient API, filled in one place:
 * - `detach`: a stop-gradient that cuts the tape (tfjs-core has none);
 * - `releaseAbandonedTape`: when a function differentiated by `tf.variableGrads` throws, the engine keeps
 *   the tensors its tape saved for the backward pass and never frees them (tfjs-core 4.22 `engine.ts`,
 *   `gradients()` frees them only after a successful backward pass). A failing step calls this to free them.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Stop-gradient: the value of `x`, recorded as a new tensor with no path back to what computed `x`. A
 * customGrad over `x` itself would keep the path and back-propagate zeros through everything behind it (the
 * whole inner ascent, for ALUM), so the customGrad here takes a throw-away input and reads `x` from its closure.
 */
export function detach<T extends tf.Tensor>(x: T): T {
  const cut = tf.customGrad(((anchor: tf.Tensor) => ({
    value: x.clone(),
    gradFunc: () => [tf.zerosLike(anchor)],
  })) as Parameters<typeof tf.customGrad>[0]);
  return tf.tidy(() => cut(tf.scalar(0)) as T);
}

/** The engine's private tape state (tfjs-core 4.22 `EngineState`), read defensively. */
interface TapeState {
  gradientDepth?: number;
  activeTape?: { saved?: tf.Tensor[] }[] | null;
}

/** Frees what an abandoned outermost gradient tape saved. Call after a differentiated function threw. */
export function releaseAbandonedTape(): void {
  const state = (tf.engine() as unknown as { state: TapeState }).state;
  if (state.gradientDepth !== 0 || !state.activeTape) return; // still inside an outer gradient: not ours
  for (const node of state.activeTape) tf.dispose((node.saved ?? []).filter((t) => !t.isDisposed));
  state.activeTape = null;
}
