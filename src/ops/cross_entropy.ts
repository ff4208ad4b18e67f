// Typed wrappers for kernels/cross_entropy.wgsl: cross-entropy over the last
// dimension of logits [..., V] with a fused log-softmax and an ignore index.
// The forward records two dispatches (per-row losses and lse, then a one-
// workgroup reduction to the mean or sum); the backward records one.
import { grid1d, rowWorkgroupSize, type Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

export type Reduction = 'mean' | 'sum';

export interface CrossEntropyOptions {
  /** Target value of rows that contribute nothing (loss 0, zero gradient). Default -100. */
  ignoreIndex?: number;
  /** 'mean' over the rows that are not ignored (0 when all are), or 'sum'. Default 'mean'. */
  reduction?: Reduction;
}

export interface CrossEntropyForward {
  /** Per-row losses [...] (0 for ignored rows, NaN for a target outside [0, V)). */
  losses: Tensor<'f32'>;
  /** The reduced loss, f32 [1]. */
  loss: Tensor<'f32'>;
  /** Per-row logsumexp [...], saved for the backward. */
  lse: Tensor<'f32'>;
  /** Number of rows not ignored, f32 [1], saved for the backward of 'mean'. */
  count: Tensor<'f32'>;
  /** The targets as an i32 tensor (the one given, or the upload of the given data). */
  targets: Tensor<'i32'>;
  /** The options used, so the backward cannot disagree with the forward. */
  ignoreIndex: number;
  reduction: Reduction;
}

export interface CrossEntropyBackwardOptions {
  /** Upstream gradient of the reduced loss. Default 1. */
  gradScale?: number;
  /** Output, f32 shaped like logits. */
  out?: Tensor<'f32'>;
}

function geometry(op: string, logits: Tensor, ignoreIndex: number): { rows: number; vocab: number; rowShape: number[] } {
  check(logits.dtype === 'f32', op, () => `logits ${logits.describe()} must be f32`);
  check(logits.shape.length >= 1 && logits.shape[logits.shape.length - 1] > 0, op,
    () => `logits ${logits.describe()} must be [N, V] with V >= 1`);
  check(Number.isInteger(ignoreIndex) && ignoreIndex >= -0x80000000 && ignoreIndex <= 0x7fffffff, op,
    () => `ignoreIndex ${ignoreIndex} must be an i32`);
  const vocab = logits.shape[logits.shape.length - 1];
  return { rows: logits.size / vocab, vocab, rowShape: logits.shape.slice(0, -1) };
}

function checkTargets(op: string, logits: Tensor, targets: Tensor, rowShape: number[]): void {
  check(targets.dtype === 'i32', op, () => `targets ${targets.describe()} must be i32`);
  check(targets.shape.length === rowShape.length && targets.shape.every((d, i) => d === rowShape[i]), op,
    () => `targets ${targets.describe()} must be ${fmtShape(rowShape)} for logits ${logits.describe()}`);
}

function checkOut(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  check(t.dtype === 'f32' && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]), op,
    () => `${name} ${t.describe()} must be f32${fmtShape(shape)}`);
}

/**
 * Targets given as data are checked here (each in [0, V) or the ignore index)
 * and uploaded; targets given as a tensor are checked by the kernel, which
 * makes the loss of a row with a bad target NaN.
 */
function targetTensor(gpu: Gpu, op: string, logits: Tensor, targets: Tensor<'i32'> | ArrayLike<number>,
  rowShape: number[], vocab: number, ignoreIndex: number): Tensor<'i32'> {
  if (!('buffer' in targets && 'shape' in targets)) {
    const data = targets as ArrayLike<number>;
    const rows = logits.size / vocab;
    check(data.length === rows, op, () => `${data.length} targets given for logits ${logits.describe()} (expected ${rows})`);
    for (let i = 0; i < data.length; i++) {
      const t = data[i];
      check(t === ignoreIndex || (Number.isInteger(t) && t >= 0 && t < vocab), op,
        () => `target ${t} at row ${i} is outside [0, ${vocab}) and is not the ignore index ${ignoreIndex}`);
    }
    return gpu.tensor(data, rowShape, 'i32', 'targets');
  }
  checkTargets(op, logits, targets, rowShape);
  return targets;
}

/**
 * loss[i] = logsumexp(logits[i]) - logits[i, t[i]] and its mean (or sum) over
 * the rows whose target is not ignoreIndex. Returns the saved lse and count
 * that crossEntropyBackward reads.
 */
export function crossEntropy(
  gpu: Gpu,
  logits: Tensor,
  targets: Tensor<'i32'> | ArrayLike<number>,
  opts: CrossEntropyOptions & { out?: Partial<Pick<CrossEntropyForward, 'losses' | 'loss' | 'lse' | 'count'>> } = {},
): CrossEntropyForward {
  const op = 'crossEntropy';
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  check(reduction === 'mean' || reduction === 'sum', op, () => `reduction "${reduction}" must be 'mean' or 'sum'`);
  const { rows, vocab, rowShape } = geometry(op, logits, ignoreIndex);
  const t = targetTensor(gpu, op, logits, targets, rowShape, vocab, ignoreIndex);
  const out = opts.out ?? {};
  for (const [name, shape] of [['losses', rowShape], ['lse', rowShape], ['loss', [1]], ['count', [1]]] as const) {
    const given = out[name];
    if (given) checkOut(op, `out.${name}`, given, shape);
  }
  const losses = out.losses ?? gpu.empty(rowShape, 'f32', 'ce.losses');
  const lse = out.lse ?? gpu.empty(rowShape, 'f32', 'ce.lse');
  const loss = out.loss ?? gpu.empty([1], 'f32', 'ce.loss');
  const count = out.count ?? gpu.empty([1], 'f32', 'ce.count');
  const p = params().u32(rows, vocab).i32(ignoreIndex).f32(NaN).u32(reduction === 'sum' ? 0 : 1).f32(1);
  const label = `${op} logits ${logits.describe()} targets ${t.describe()}`;
  gpu.dispatch({ kernel: 'cross_entropy', entry: 'ce_forward', constants: { WG: rowWorkgroupSize(gpu) }, params: p, inputs: [logits, t], outputs: [losses, lse],
    workgroups: grid1d(rows, 1, gpu), label });
  gpu.dispatch({ kernel: 'cross_entropy', entry: 'ce_reduce', params: p, inputs: [losses, t], outputs: [loss, count],
    workgroups: [1], label: `${label} (${reduction})` });
  return { losses, loss, lse, count, targets: t, ignoreIndex, reduction };
}

/**
 * dlogits = (softmax(logits) - onehot(t)) * gradScale / count ('mean') or
 * * gradScale ('sum'); zero for ignored rows. `saved` is the forward's result
 * (its targets, lse, count, ignore index and reduction).
 */
export function crossEntropyBackward(
  gpu: Gpu,
  logits: Tensor,
  saved: Pick<CrossEntropyForward, 'targets' | 'lse' | 'count' | 'ignoreIndex' | 'reduction'>,
  opts: CrossEntropyBackwardOptions = {},
): Tensor<'f32'> {
  const op = 'crossEntropyBackward';
  const { ignoreIndex, reduction } = saved;
  const { rows, vocab, rowShape } = geometry(op, logits, ignoreIndex);
  checkTargets(op, logits, saved.targets, rowShape);
  checkOut(op, 'lse', saved.lse, rowShape);
  checkOut(op, 'count', saved.count, [1]);
  if (opts.out) checkOut(op, 'out', opts.out, logits.shape);
  const dx = opts.out ?? gpu.empty(logits.shape, 'f32', 'ce.dlogits');
  const grad = opts.gradScale ?? 1;
  check(Number.isFinite(grad), op, () => `gradScale ${grad} must be finite`);
  gpu.dispatch({
    kernel: 'cross_entropy',
    entry: 'ce_backward',
    constants: { WG: rowWorkgroupSize(gpu) },
    params: params().u32(rows, vocab).i32(ignoreIndex).f32(NaN).u32(reduction === 'sum' ? 0 : 1).f32(grad),
    inputs: [logits, saved.targets, saved.lse, saved.count],
    outputs: [dx],
    workgroups: grid1d(rows, 1, gpu),
    label: `${op} logits ${logits.describe()} targets ${saved.targets.describe()}`,
  });
  return dx;
}
