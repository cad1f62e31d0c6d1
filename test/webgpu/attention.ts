/**
 * Runs the WebGPU heads-in-place attention matMul (src/core/model/webgpu-attention.ts) on Dawn and prints one JSON
 * line (an `AttentionReport`) for src/core/model/webgpu-attention.test.ts, which starts this script as a child process
 * (test/helpers/dawn.ts says why). Run alone:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node --import tsx test/webgpu/attention.ts
 * For each case and form (seeded random lhs, rhs and dy): the output and both inputs' vector-Jacobian products of
 * dy, from the kernel on webgpu, from plain tfjs ops (Transposes around a BatchMatMul) on webgpu and on the cpu
 * backend, and from a float64 reference written out below; errors are max |a - b| / max |b|.
 */
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { attentionContextOps, attentionScoresOps } from '../../src/core/model/fused.ts';
import {
  attentionContextWebgpu,
  headsMatMul,
  type HeadsForm,
} from '../../src/core/model/webgpu-attention.ts';
import { makeRng } from '../../src/core/rng.ts';
import {
  dispatchingKernels as dispatching,
  errorOf,
  type ErrorPair,
  nanoModelCheck,
  type NanoModelReport,
  startWebgpu,
} from './report.ts';

/** Batch B, query length Tq, key length Tk, width H = A dh, heads A. */
export interface AttentionCase {
  b: number;
  tq: number;
  tk: number;
  h: number;
  heads: number;
  /** Blocks a dispatch covers (`headsMatMul`'s `blocks`), where not 65,535. */
  blocks?: number;
}

/** Blocks smaller than a 16 x 16 tile, whole tiles, and tiles cut at every edge; Tq apart from Tk, and dh from T. */
export const CASES: AttentionCase[] = [
  { b: 1, tq: 1, tk: 1, h: 1, heads: 1 },
  { b: 2, tq: 5, tk: 5, h: 12, heads: 3 },
  { b: 2, tq: 5, tk: 9, h: 12, heads: 3 },
  { b: 3, tq: 16, tk: 16, h: 64, heads: 4 },
  { b: 2, tq: 33, tk: 33, h: 256, heads: 4 },
  { b: 1, tq: 70, tk: 40, h: 96, heads: 2 },
  // B A = 15 blocks, 4 a dispatch (65,535 in use): each workgroup takes 4 blocks, the last round partly empty.
  { b: 5, tq: 3, tk: 4, h: 6, heads: 3, blocks: 4 },
];

export const FORMS: HeadsForm[] = ['qk', 'pv', 'ptv'];

export type { ErrorPair };

export type Output = 'y' | 'dLhs' | 'dRhs';
export type Errors = Record<Output, ErrorPair>;

export interface CaseReport {
  form: HeadsForm;
  shape: AttentionCase;
  kernelVsF64: Errors;
  kernelVsPlainWebgpu: Errors;
  kernelVsPlainCpu: Errors;
  plainCpuVsF64: Errors;
}

export interface AttentionReport {
  cases: CaseReport[];
  /** Dispatching kernels by name: scores and context forward, with both gradients, and 'pv' with lhs's alone. */
  kernels: Record<
    'scores' | 'context' | 'scoresPlain' | 'contextPlain',
    { forward: Counts; grad: Counts }
  > & {
    contextLhsOnly: Counts;
  };
  /** The nano model on webgpu: its kernels per forward pass, and its steps against PyTorch float64. */
  model: NanoModelReport;
  /**
   * 'qk' with one q and one k entry infinite (column 0 of head 1; 3 heads of 4): the flat indices of the output and
   * both gradients that are not finite, from the kernel on webgpu and from the float64 reference. (tfjs's own
   * BatchMatMul on webgpu, after the Transposes, makes more of them non-finite: it too multiplies entries past a
   * block's edge by zero.)
   */
  nonFinite: { kernel: number[][]; reference: number[][] };
  badShapes: string[];
  leakedTensors: number;
}

type Counts = Record<string, number>;
type Arrays = Record<Output, Float32Array | Float64Array>;

/** The shapes of lhs, rhs and the output of a form (the kernel's layouts: module header of webgpu-attention.ts). */
function shapesOf(form: HeadsForm, c: AttentionCase): { lhs: number[]; rhs: number[]; out: number[] } {
  const square = [c.b * c.heads, c.tq, c.tk];
  if (form === 'qk') return { lhs: [c.b, c.tq, c.h], rhs: [c.b, c.tk, c.h], out: square };
  if (form === 'pv') return { lhs: square, rhs: [c.b, c.tk, c.h], out: [c.b, c.tq, c.h] };
  return { lhs: square, rhs: [c.b, c.tq, c.h], out: [c.b, c.tk, c.h] };
}

interface Inputs {
  lhs: Float32Array;
  rhs: Float32Array;
  dy: Float32Array;
}

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function makeInputs(form: HeadsForm, c: AttentionCase, seed: number): Inputs {
  const rng = makeRng(seed);
  const s = shapesOf(form, c);
  const draw = (shape: number[]) => Float32Array.from({ length: count(shape) }, () => rng.normal());
  return { lhs: draw(s.lhs), rhs: draw(s.rhs), dy: draw(s.out) };
}

/**
 * The float64 reference: each form as a sum over (b, a, i, j, d) of lhs[l] rhs[r] into out[o], with i a query and j a
 * key position, d a head's column, the indices from 4-D views of the tensors (`headAt`, `squareAt`). Its
 * vector-Jacobian products are those of any such product: dlhs[l] += dy[o] rhs[r], drhs[r] += dy[o] lhs[l].
 */
function reference(form: HeadsForm, c: AttentionCase, inp: Inputs): Arrays {
  const dh = c.h / c.heads;
  const headAt = (t: number) => (b: number, pos: number, a: number, d: number) =>
    (b * t + pos) * c.h + a * dh + d;
  const squareAt = (b: number, a: number, i: number, j: number) => ((b * c.heads + a) * c.tq + i) * c.tk + j;
  const [q, k] = [headAt(c.tq), headAt(c.tk)];
  const s = shapesOf(form, c);
  const y = new Float64Array(count(s.out));
  const dLhs = new Float64Array(inp.lhs.length);
  const dRhs = new Float64Array(inp.rhs.length);
  for (let b = 0; b < c.b; b++)
    for (let a = 0; a < c.heads; a++)
      for (let i = 0; i < c.tq; i++)
        for (let j = 0; j < c.tk; j++)
          for (let d = 0; d < dh; d++) {
            const [l, r, o] =
              form === 'qk'
                ? [q(b, i, a, d), k(b, j, a, d), squareAt(b, a, i, j)]
                : form === 'pv'
                  ? [squareAt(b, a, i, j), k(b, j, a, d), q(b, i, a, d)]
                  : [squareAt(b, a, i, j), q(b, i, a, d), k(b, j, a, d)];
            const [lv, rv, g] = [inp.lhs[l] as number, inp.rhs[r] as number, inp.dy[o] as number];
            y[o] = (y[o] as number) + lv * rv;
            dLhs[l] = (dLhs[l] as number) + g * rv;
            dRhs[r] = (dRhs[r] as number) + g * lv;
          }
  return { y, dLhs, dRhs };
}

type Fn = (lhs: tf.Tensor, rhs: tf.Tensor) => tf.Tensor;

/** The plain-op form of each form, in the kernel's layouts: fused.ts's ops for 'qk' and 'pv', P^T V for 'ptv'. */
function plainOf(form: HeadsForm, c: AttentionCase): Fn {
  const square = (p: tf.Tensor) => p.reshape([c.b, c.heads, c.tq, c.tk]) as tf.Tensor4D;
  if (form === 'qk') {
    return (l, r) =>
      attentionScoresOps(l as tf.Tensor3D, r as tf.Tensor3D, c.heads).reshape([-1, c.tq, c.tk]);
  }
  if (form === 'pv') return (l, r) => attentionContextOps(square(l), r as tf.Tensor3D, c.heads);
  return (l, r) => {
    const v4 = r.reshape([c.b, c.tq, c.heads, c.h / c.heads]).transpose([0, 2, 1, 3]); // [B, A, Tq, dh]
    const context = tf.matMul(square(l), v4, true, false); // [B, A, Tk, dh]
    return context.transpose([0, 2, 1, 3]).reshape([c.b, c.tk, c.h]);
  };
}

/** y and both vector-Jacobian products of dy through f on the current backend, read back. */
async function run(f: Fn, form: HeadsForm, c: AttentionCase, inp: Inputs): Promise<Arrays> {
  const s = shapesOf(form, c);
  const [lhs, rhs, dy] = [tf.tensor(inp.lhs, s.lhs), tf.tensor(inp.rhs, s.rhs), tf.tensor(inp.dy, s.out)];
  const y = tf.tidy(() => f(lhs, rhs));
  const [dLhs, dRhs] = tf.grads(f)([lhs, rhs], dy) as [tf.Tensor, tf.Tensor];
  const out = {
    y: (await y.data()) as Float32Array,
    dLhs: (await dLhs.data()) as Float32Array,
    dRhs: (await dRhs.data()) as Float32Array,
  };
  tf.dispose([lhs, rhs, dy, y, dLhs, dRhs]);
  return out;
}

const kernelOf =
  (form: HeadsForm, c: AttentionCase): Fn =>
  (l, r) =>
    headsMatMul(form, l, r, c.heads, c.blocks);

function compare(a: Arrays, b: Arrays): Errors {
  return {
    y: errorOf(a.y, b.y),
    dLhs: errorOf(a.dLhs, b.dLhs),
    dRhs: errorOf(a.dRhs, b.dRhs),
  };
}

/** Dispatching kernels of f forward, and of its gradients w.r.t. both inputs. */
async function kernelsOf(
  f: Fn,
  form: HeadsForm,
  c: AttentionCase,
): Promise<{ forward: Counts; grad: Counts }> {
  const s = shapesOf(form, c);
  const [l, r, dy] = [tf.randomNormal(s.lhs), tf.randomNormal(s.rhs), tf.randomNormal(s.out)];
  const report = {
    forward: await dispatching(() => f(l, r)),
    grad: await dispatching(() => tf.grads(f)([l, r], dy)),
  };
  tf.dispose([l, r, dy]);
  return report;
}

async function allKernels(): Promise<AttentionReport['kernels']> {
  const c = CASES[1] as AttentionCase;
  const s = shapesOf('pv', c);
  const [p, v, dy] = [tf.randomNormal(s.lhs), tf.randomNormal(s.rhs), tf.randomNormal(s.out)];
  const contextLhsOnly = await dispatching(() =>
    tf.grad((x: tf.Tensor) => headsMatMul('pv', x, v, c.heads))(p, dy),
  );
  tf.dispose([p, v, dy]);
  return {
    scores: await kernelsOf(kernelOf('qk', c), 'qk', c),
    context: await kernelsOf(kernelOf('pv', c), 'pv', c),
    scoresPlain: await kernelsOf(plainOf('qk', c), 'qk', c),
    contextPlain: await kernelsOf(plainOf('pv', c), 'pv', c),
    contextLhsOnly,
  };
}

/** `AttentionReport['nonFinite']`: a kernel that reads past a head's columns spreads the infinity to the next. */
async function nonFinite(): Promise<AttentionReport['nonFinite']> {
  const c = CASES[1] as AttentionCase;
  const inp = makeInputs('qk', c, 4000);
  inp.lhs[1 * c.h + 4] = Infinity; // q: batch 0, position 1, head 1, column 0
  inp.rhs[(c.tk + 2) * c.h + 4] = Infinity; // k: batch 1, position 2, head 1, column 0
  const indices = (a: Arrays) =>
    Object.values(a).map((v) => Array.from(v.keys()).filter((i) => !Number.isFinite(v[i] as number)));
  return {
    kernel: indices(await run(kernelOf('qk', c), 'qk', c, inp)),
    reference: indices(reference('qk', c, inp)),
  };
}

function messageOf(work: () => unknown): string {
  try {
    tf.dispose(work() as tf.Tensor);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

function badShapes(): string[] {
  const [p, v, odd, p4] = [
    tf.zeros([6, 5, 9]),
    tf.zeros([2, 5, 12]),
    tf.zeros([2, 5, 10]),
    tf.zeros([2, 3, 5, 9]),
  ];
  const messages = [
    messageOf(() => headsMatMul('pv', p, v, 3)),
    messageOf(() => headsMatMul('qk', odd, odd, 3)),
    messageOf(() => headsMatMul('ptv', p, v, 2)),
    messageOf(() => headsMatMul('pv', p, v, 3, 0)),
    messageOf(() => attentionContextWebgpu(p4, v, 2)),
  ];
  tf.dispose([p, v, odd, p4]);
  return messages;
}

async function main(): Promise<void> {
  await startWebgpu();
  const all = CASES.flatMap((c) => FORMS.map((form) => ({ form, c })));
  const inputs = all.map(({ form, c }, i) => makeInputs(form, c, 3000 + i));

  const before = tf.memory().numTensors;
  const kernel: Arrays[] = [];
  const plainWebgpu: Arrays[] = [];
  for (const [i, { form, c }] of all.entries()) {
    kernel.push(await run(kernelOf(form, c), form, c, inputs[i] as Inputs));
    plainWebgpu.push(await run(plainOf(form, c), form, c, inputs[i] as Inputs));
  }
  const kernels = await allKernels();
  const model = await nanoModelCheck();
  const infinite = await nonFinite();
  const bad = badShapes();
  const leakedTensors = tf.memory().numTensors - before;

  await tf.setBackend('cpu');
  const cases: CaseReport[] = [];
  for (const [i, { form, c }] of all.entries()) {
    const inp = inputs[i] as Inputs;
    const f64 = reference(form, c, inp);
    const plainCpu = await run(plainOf(form, c), form, c, inp);
    const k = kernel[i] as Arrays;
    cases.push({
      form,
      shape: c,
      kernelVsF64: compare(k, f64),
      kernelVsPlainWebgpu: compare(k, plainWebgpu[i] as Arrays),
      kernelVsPlainCpu: compare(k, plainCpu),
      plainCpuVsF64: compare(plainCpu, f64),
    });
  }
  const report: AttentionReport = {
    cases,
    kernels,
    model,
    nonFinite: infinite,
    badShapes: bad,
    leakedTensors,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
