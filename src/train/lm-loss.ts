// Next-token cross-entropy through the LM head, in row chunks.
//
//   logits [n, V] = final[rows] head^T        (head [V, C]: lm_head, or the embedding when tied)
//   loss = sum over rows with target != -100 of (logsumexp(logits) - logits[target]) / count
//   dlogits = (softmax(logits) - onehot(target)) / count
//   dfinal[rows] = dlogits head                [n, C]
//   dhead += dlogits^T final[rows]             [V, C]   (when the head is trainable)
//
// Why chunks: logits for every token at once are N x V floats (4096 tokens of
// a 49152 vocabulary: 805 MB), over the adapter's largest storage binding
// (128 MiB on lavapipe). A chunk of rows is copied out of `final`, its logits
// made, used and dropped; the result is the same as one pass, since rows are
// independent and `count` (the number of scored targets of the whole step,
// known on the CPU) divides every chunk alike. The loss sums stay on the GPU
// in one f32 [1] accumulator, read once per step.
import type { Gpu } from '../gpu/gpu.ts';
import { check } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { crossEntropy, crossEntropyBackward } from '../ops/cross_entropy.ts';
import { accumulate } from '../ops/elementwise.ts';
import { matmul } from '../ops/matmul.ts';

export const IGNORE_INDEX = -100;

/** Bytes one chunk's logits may take: the binding limit, and at most 64 MiB so the pool stays small. */
function chunkRows(gpu: Gpu, V: number, maxRows?: number): number {
  const bytes = Math.min(gpu.limits.maxStorageBufferBindingSize, 64 * 2 ** 20);
  return Math.max(1, Math.min(maxRows ?? Infinity, Math.floor(bytes / (V * 4))));
}

/** How many targets are scored (not the ignore index). */
export function countTargets(targets: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== IGNORE_INDEX) n++;
  return n;
}

export interface LmLossOptions {
  /** Divide by this (the scored targets of the whole step, over its micro-batches). */
  count: number;
  /** Add the loss's sum / count here (f32 [1]); default: a new zeroed tensor. */
  lossInto?: Tensor;
  /** Add dloss/dhead here (pretraining); absent: the head is frozen. */
  dHead?: Tensor;
  /** Compute the gradients (default true); false = evaluation only. */
  backward?: boolean;
  /** Cap on rows per chunk (tests use it to force several chunks). */
  maxChunkRows?: number;
  /**
   * `targets` already on the GPU (i32 [N]), uploaded with the batch so the
   * step records no upload midway (an upload submits the work before it).
   */
  targetsTensor?: Tensor<'i32'>;
}

/**
 * Loss and gradients of the LM head over final [N, C] with targets [N]
 * (IGNORE_INDEX = not scored). Returns the loss accumulator and dfinal
 * [N, C] (null with backward: false). Records work; reads nothing back.
 */
export function lmHeadLoss(gpu: Gpu, final: Tensor, head: Tensor, targets: Int32Array, opts: LmLossOptions): { loss: Tensor; dFinal: Tensor | null } {
  const op = 'lmHeadLoss';
  const [V, C] = head.shape;
  check(head.shape.length === 2 && final.size % C === 0, op, () => `head ${head.describe()} must be [V, C] with C the last dim of final ${final.describe()}`);
  const N = final.size / C;
  check(targets.length === N, op, () => `${targets.length} targets for ${N} rows of final ${final.describe()}`);
  check(!opts.targetsTensor || (opts.targetsTensor.dtype === 'i32' && opts.targetsTensor.size === N), op,
    () => `targetsTensor ${opts.targetsTensor!.describe()} must be i32 with ${N} entries`);
  for (let i = 0; i < N; i++) {
    const t = targets[i];
    check(t === IGNORE_INDEX || (Number.isInteger(t) && t >= 0 && t < V), op, () => `target ${t} at row ${i} is outside [0, ${V})`);
  }
  check(Number.isInteger(opts.count) && opts.count >= 0, op, () => `count ${opts.count} must be a whole number`);
  const backward = opts.backward ?? true;
  const loss = opts.lossInto ?? gpu.zeros([1], 'f32', 'lm.loss');
  const dFinal = backward ? gpu.empty([N, C], 'f32', 'lm.dfinal') : null;
  const x = final.reshape([N, C]);
  const rows = chunkRows(gpu, V, opts.maxChunkRows);
  const scale = opts.count > 0 ? 1 / opts.count : 0;
  const chunks: [number, number][] = [];
  for (let r0 = 0; r0 < N; r0 += rows) chunks.push([r0, Math.min(rows, N - r0)]);
  const scored = chunks.map(([r0, n]) => countTargets(targets.subarray(r0, r0 + n)) > 0);
  // A chunk with nothing scored (all padding) is skipped; its rows of dfinal stay zero.
  if (dFinal && scored.includes(false)) gpu.fill(dFinal, 0);

  chunks.forEach(([r0, n], i) => {
    if (!scored[i]) return;
    const chunkTargets = targets.subarray(r0, r0 + n);
    // xs [n, C]: the chunk's rows (a copy unless the chunk is everything)
    let xs = x;
    if (n < N) {
      xs = gpu.empty([n, C], 'f32', 'lm.rows');
      gpu.copy(x, xs, n * C, r0 * C, 0);
    }
    const logits = matmul(gpu, xs, head, { transB: true }); // [n, V]
    // the chunk's targets: the uploaded tensor (or a recorded copy of its rows), else the data
    let chunkT: Tensor<'i32'> | Int32Array = chunkTargets;
    if (opts.targetsTensor) {
      chunkT = n < N ? gpu.empty([n], 'i32', 'lm.targets') : opts.targetsTensor;
      if (n < N) gpu.copy(opts.targetsTensor, chunkT, n, r0, 0);
    }
    const ce = crossEntropy(gpu, logits, chunkT, { ignoreIndex: IGNORE_INDEX, reduction: 'sum' });
    accumulate(gpu, loss, ce.loss, scale);
    if (dFinal) {
      const dlogits = crossEntropyBackward(gpu, logits, ce, { gradScale: scale });
      if (n < N) {
        const dxs = matmul(gpu, dlogits, head); // [n, C]
        gpu.copy(dxs, dFinal, n * C, 0, r0 * C);
        dxs.release();
      } else {
        matmul(gpu, dlogits, head, { out: dFinal });
      }
      if (opts.dHead) matmul(gpu, dlogits, xs, { transA: true, beta: 1, out: opts.dHead });
      dlogits.release();
    }
    for (const t of [logits, ce.losses, ce.loss, ce.lse, ce.count]) t.release();
    if (ce.targets !== opts.targetsTensor) ce.targets.release();
    if (xs !== x) xs.release();
  });
  return { loss, dFinal };
}
