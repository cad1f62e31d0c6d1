/**
 * Attention's two matMuls per head as one WGSL program of the webgpu backend (tfjs-backend-webgpu 4.22) that reads
 * the heads where the dense layers wrote them, registered as a tfjs kernel with its gradient. The plain form
 * (fused.ts, `attentionScoresOps`, `attentionContextOps`) moves each head into a contiguous block first: per layer
 * three Transposes forward (q, k, v) and one back (the context), and one more of each backward, around the
 * BatchMatMuls. This kernel reads a "heads" tensor [B, T, H] (head a at columns a dh .. a dh + dh - 1, dh = H / A)
 * in place, and a "square" tensor [B A, Tq, Tk] (attention scores or probabilities, batch-major), in three forms,
 * per batch row b and head a (Q, K, V, C the heads' [T, dh] blocks; P, S the square's [Tq, Tk]):
 *   'qk':  S = Q K^T      lhs Q [B, Tq, H], rhs K [B, Tk, H]       -> [B A, Tq, Tk]
 *   'pv':  C = P V        lhs P [B A, Tq, Tk], rhs V [B, Tk, H]   -> [B, Tq, H]
 *   'ptv': C = P^T V      lhs P [B A, Tq, Tk], rhs V [B, Tq, H]   -> [B, Tk, H]
 * Each form's gradients are the other forms (the set is closed, so tfjs can differentiate any of them):
 *   'qk':  dQ = pv(dS, K),   dK = ptv(dS, Q)
 *   'pv':  dP = qk(dC, V),   dV = ptv(P, dC)
 *   'ptv': dP = qk(V, dC),   dV = pv(P, dC)
 * So attention's scores and context take one dispatch each forward and two each backward, and no Transpose.
 * Only the webgpu backend has this kernel: fused.ts picks. Tested on Dawn against a float64 reference, the plain ops
 * and the nano model's PyTorch golden step (webgpu-attention.test.ts, which runs test/webgpu/attention.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

import { registerWebgpuKernels, runProgram, type KernelArgs } from './wgsl.ts';

/** The kernel's name (what `tf.profile` lists; one dispatch). */
export const HEADS_MATMUL = 'AlumHeadsMatMul';

export type HeadsForm = 'qk' | 'pv' | 'ptv';

/** Output tile edge: a workgroup of TILE x TILE threads computes one tile, one entry a thread. */
const TILE = 16;

/** The most workgroups along one dispatch dimension (WebGPU's default `maxComputeWorkgroupsPerDimension`). */
const MAX_WORKGROUPS = 65_535;

/**
 * Per form, in WGSL: the number Z = B A of blocks, the sizes M x N of each output block and the inner length K (from
 * the inputs' shapes, `heads` and H, the heads tensor's width), the flat index of lhs (m, k) and rhs (k, n) of batch row b, head h (z = b A + h),
 * and of the output (m, n).
 */
const FORMS: Record<
  HeadsForm,
  {
    dims: string;
    lhs: (m: string, k: string) => string;
    rhs: (k: string, n: string) => string;
    out: string;
    /** Which index of each input is contiguous in memory: neighbouring threads load along it (`tileLoad`). */
    lhsAlong: 'k' | 'm';
    rhsAlong: 'k' | 'n';
  }
> = {
  qk: {
    dims: 'let Z = uniforms.lhsShape.x * heads; let H = uniforms.lhsShape.z; let M = uniforms.lhsShape.y; let N = uniforms.rhsShape.y; let K = H / heads;',
    lhs: (m, k) => `(b * M + ${m}) * H + h * K + ${k}`,
    rhs: (k, n) => `(b * N + ${n}) * H + h * K + ${k}`,
    out: '(z * M + m) * N + n',
    lhsAlong: 'k',
    rhsAlong: 'k',
  },
  pv: {
    dims: 'let Z = uniforms.lhsShape.x; let H = uniforms.rhsShape.z; let M = uniforms.lhsShape.y; let K = uniforms.lhsShape.z; let N = H / heads;',
    lhs: (m, k) => `(z * M + ${m}) * K + ${k}`,
    rhs: (k, n) => `(b * K + ${k}) * H + h * N + ${n}`,
    out: '(b * M + m) * H + h * N + n',
    lhsAlong: 'k',
    rhsAlong: 'n',
  },
  ptv: {
    dims: 'let Z = uniforms.lhsShape.x; let H = uniforms.rhsShape.z; let M = uniforms.lhsShape.z; let K = uniforms.lhsShape.y; let N = H / heads;',
    lhs: (m, k) => `(z * K + ${k}) * M + ${m}`,
    rhs: (k, n) => `(b * K + ${k}) * H + h * N + ${n}`,
    out: '(b * M + m) * H + h * N + n',
    lhsAlong: 'm',
    rhsAlong: 'n',
  },
};

/**
 * WGSL storing one input's entry into its tile, tile[row][col] with row and col the tile's (m, k) for lhs, (k, n)
 * for rhs: the thread's x walks the input's contiguous index `along` (so a row of threads reads neighbouring
 * floats), its y the other; zero past the edges or outside the block.
 */
function tileLoad(
  tile: string,
  [row, col]: [string, string],
  along: string,
  at: (r: string, c: string) => string,
  limits: [string, string],
): string {
  const [tr, tc] = along === col ? ['ty', 'tx'] : ['tx', 'ty'];
  return `{
              let r = ${row}0 + ${tr};
              let c = ${col}0 + ${tc};
              var v = 0.0;
              if (inBlock && r < ${limits[0]} && c < ${limits[1]}) { v = ${at('r', 'c')}; }
              ${tile}[${tr}][${tc}] = v;
            }`;
}

/**
 * One workgroup per TILE x TILE block of one head's output: grid [N / TILE, M / TILE, min(B A, blocks)], a
 * workgroup taking block z, z + blocks, ... where B A is past `blocks` (65,535, one dispatch dimension, but for
 * tests). Each step of the inner loop loads a TILE x TILE block of lhs and of rhs into workgroup memory (zeros past
 * the edges; rows padded by one float against bank conflicts), then every thread adds its row of one times its
 * column of the other. The loops' bounds are uniform, so the barriers are too.
 */
class HeadsMatMulProgram implements WebGPUProgram {
  variableNames = ['lhs', 'rhs'];
  uniforms = 'heads : i32, blocks : i32,';
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [TILE, TILE, 1];

  constructor(
    private readonly form: HeadsForm,
    outputShape: [number, number, number],
    [m, n, z]: [number, number, number],
    blocks: number,
  ) {
    this.outputShape = outputShape;
    this.shaderKey = `alumHeadsMatMul_${form}`;
    this.dispatch = [Math.ceil(n / TILE), Math.ceil(m / TILE), Math.min(z, blocks)];
  }

  getUserCode(): string {
    const f = FORMS[this.form];
    return `
      var<workgroup> tileL : array<array<f32, ${TILE + 1}>, ${TILE}>;
      var<workgroup> tileR : array<array<f32, ${TILE + 1}>, ${TILE}>;

      fn main() {
        let heads = uniforms.heads;
        ${f.dims}
        let tx = i32(localId.x);
        let ty = i32(localId.y);
        let m0 = i32(workgroupId.y) * ${TILE};
        let n0 = i32(workgroupId.x) * ${TILE};
        let m = m0 + ty;
        let n = n0 + tx;
        // Blocks z, z + blocks, ...: a count of rounds from uniforms alone, so the barriers stay in uniform control flow.
        let rounds = (Z + uniforms.blocks - 1) / uniforms.blocks;
        for (var round = 0; round < rounds; round = round + 1) {
          let z = i32(workgroupId.z) + round * uniforms.blocks;
          let b = z / heads;
          let h = z % heads;
          let inBlock = z < Z;
          var acc = 0.0;
          for (var k0 = 0; k0 < K; k0 = k0 + ${TILE}) {
            ${tileLoad('tileL', ['m', 'k'], f.lhsAlong, (r, c) => `lhs[${f.lhs(r, c)}]`, ['M', 'K'])}
            ${tileLoad('tileR', ['k', 'n'], f.rhsAlong, (r, c) => `rhs[${f.rhs(r, c)}]`, ['K', 'N'])}
            workgroupBarrier();
            for (var k = 0; k < ${TILE}; k = k + 1) {
              acc = acc + tileL[ty][k] * tileR[k][tx];
            }
            workgroupBarrier();
          }
          if (inBlock && m < M && n < N) {
            setOutputAtIndex(${f.out}, acc);
          }
        }
      }
    `;
  }
}

/** A shape as text, for errors. */
const text = (s: readonly number[]): string => `[${s.join(',')}]`;

/**
 * The output shape, the block size M x N and the batch count B A of a call, or a one-line error naming what does
 * not fit: lhs and rhs float32 and rank 3, the heads tensors [B, T, H] with H a multiple of `heads`, the square
 * tensors [B A, Tq, Tk], their T and batch agreeing, and the tiles of a block within a dispatch.
 */
export function headsMatMulShape(
  form: HeadsForm,
  lhs: readonly number[],
  rhs: readonly number[],
  heads: number,
): { out: [number, number, number]; grid: [number, number, number] } {
  const fail = (why: string): never => {
    throw new Error(
      `headsMatMul '${form}': lhs ${text(lhs)} and rhs ${text(rhs)} with ${heads} heads: ${why}`,
    );
  };
  if (lhs.length !== 3 || rhs.length !== 3) fail('want rank-3 inputs');
  if (!Number.isInteger(heads) || heads < 1) fail('want a positive whole number of heads');
  const [b, tRhs, h] = rhs as [number, number, number];
  if (h % heads !== 0) fail(`width ${h} is not a multiple of the heads`);
  const dh = h / heads;
  let out: [number, number, number];
  let mn: [number, number];
  if (form === 'qk') {
    const [bq, tq, hq] = lhs as [number, number, number];
    if (bq !== b || hq !== h) fail('want lhs and rhs [B, T, H] of the same B and H');
    out = [b * heads, tq, tRhs];
    mn = [tq, tRhs];
  } else {
    const [z, tq, tk] = lhs as [number, number, number];
    if (z !== b * heads) fail(`want lhs [B A, Tq, Tk] with B A = ${b * heads}`);
    const [tIn, tOut] = form === 'pv' ? [tk, tq] : [tq, tk];
    if (tRhs !== tIn) fail(`want rhs [B, ${tIn}, H]`);
    out = [b, tOut, h];
    mn = [tOut, dh];
  }
  const grid: [number, number, number] = [...mn, b * heads];
  if (Math.max(Math.ceil(grid[0] / TILE), Math.ceil(grid[1] / TILE)) > MAX_WORKGROUPS) {
    fail(`more than ${MAX_WORKGROUPS} workgroups along one dispatch dimension`);
  }
  return { out, grid };
}

function runHeadsMatMul(args: KernelArgs): tf.TensorInfo {
  const form = args.attrs?.['form'] as HeadsForm;
  const heads = Number(args.attrs?.['heads']);
  const blocks = Number(args.attrs?.['blocks']);
  const [lhs, rhs] = [args.inputs['lhs'] as tf.TensorInfo, args.inputs['rhs'] as tf.TensorInfo];
  if (lhs.dtype !== 'float32' || rhs.dtype !== 'float32') {
    throw new Error(`headsMatMul '${form}': want float32 inputs, got ${lhs.dtype} and ${rhs.dtype}`);
  }
  const { out, grid } = headsMatMulShape(form, lhs.shape, rhs.shape, heads);
  const program = new HeadsMatMulProgram(form, out, grid, blocks);
  return runProgram(program, args, [{ type: 'int32', data: [heads, blocks] }]);
}

registerWebgpuKernels([[HEADS_MATMUL, runHeadsMatMul]]);

/**
 * The kernel in one form: lhs and rhs as the module's header says, `heads` the number of heads A, `blocks` the most
 * blocks one dispatch covers (65,535; a test sets fewer to reach the rounds past it). Checks the shapes before it
 * runs anything (`headsMatMulShape`).
 */
export function headsMatMul(
  form: HeadsForm,
  lhs: tf.Tensor,
  rhs: tf.Tensor,
  heads: number,
  blocks = MAX_WORKGROUPS,
): tf.Tensor {
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > MAX_WORKGROUPS) {
    throw new Error(
      `headsMatMul: blocks per dispatch ${blocks} is not a whole number from 1 to ${MAX_WORKGROUPS}`,
    );
  }
  headsMatMulShape(form, lhs.shape, rhs.shape, heads);
  return tf.engine().runKernel(HEADS_MATMUL, { lhs, rhs }, { form, heads, blocks }) as tf.Tensor;
}

/** Each form's gradients as the other forms (the module's header), each computed only where a gradient needs it. */
const GRADIENTS: Record<
  HeadsForm,
  (
    dy: tf.Tensor,
    lhs: tf.Tensor,
    rhs: tf.Tensor,
    heads: number,
    blocks: number,
  ) => { lhs: () => tf.Tensor; rhs: () => tf.Tensor }
> = {
  qk: (dy, q, k, a, z) => ({
    lhs: () => headsMatMul('pv', dy, k, a, z),
    rhs: () => headsMatMul('ptv', dy, q, a, z),
  }),
  pv: (dy, p, v, a, z) => ({
    lhs: () => headsMatMul('qk', dy, v, a, z),
    rhs: () => headsMatMul('ptv', p, dy, a, z),
  }),
  ptv: (dy, p, v, a, z) => ({
    lhs: () => headsMatMul('qk', v, dy, a, z),
    rhs: () => headsMatMul('pv', p, dy, a, z),
  }),
};

if (!tf.getGradient(HEADS_MATMUL)) {
  tf.registerGradient({
    kernelName: HEADS_MATMUL,
    inputsToSave: ['lhs', 'rhs'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
      const [lhs, rhs] = saved as [tf.Tensor, tf.Tensor];
      const form = attrs?.['form'] as HeadsForm;
      return GRADIENTS[form](dy as tf.Tensor, lhs, rhs, Number(attrs?.['heads']), Number(attrs?.['blocks']));
    },
  });
}

/** Attention scores of each head on webgpu: q [B, Tq, H], k [B, Tk, H] -> Q K^T [B, A, Tq, Tk], one dispatch. */
export function attentionScoresWebgpu(q: tf.Tensor, k: tf.Tensor, heads: number): tf.Tensor4D {
  return tf.tidy(() => {
    const s = headsMatMul('qk', q, k, heads); // [B A, Tq, Tk]
    const [, tq, tk] = s.shape as [number, number, number];
    return s.reshape([q.shape[0] as number, heads, tq, tk]);
  });
}

/**
 * Attention's context on webgpu: probabilities p [B, A, Tq, Tk], v [B, Tk, H] -> each head's P V, written back in
 * place as [B, Tq, H] (the heads side by side, as the next dense layer reads them), one dispatch.
 */
export function attentionContextWebgpu(p: tf.Tensor, v: tf.Tensor, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, a, tq, tk] = p.shape as [number, number, number, number];
    if (p.rank !== 4 || a !== heads || b !== v.shape[0]) {
      throw new Error(
        `attentionContext: want probabilities [${v.shape[0]}, ${heads}, Tq, Tk] for v ${text(v.shape)} and ${heads} heads, got ${text(p.shape)}`,
      );
    }
    return headsMatMul('pv', p.reshape([b * a, tq, tk]), v, heads) as tf.Tensor3D;
  });
}
