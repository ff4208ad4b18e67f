// Typed wrappers for kernels/adamw.wgsl: the AdamW update (PyTorch semantics)
// and gradient-norm clipping that stays on the GPU: gradNorm -> clipScale ->
// adamwStep(..., scale) record a handful of dispatches and read nothing back.
import { grid1d, type Gpu } from '../gpu/gpu.ts';
import { check } from '../gpu/errors.ts';
import { params } from '../gpu/params.ts';
import type { Tensor } from '../gpu/tensor.ts';

/** torch.optim.AdamW hyper-parameters; omitted ones take torch's defaults. */
export interface AdamWHyper {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; default 0.01. */
  weightDecay?: number;
}

/** One parameter tensor and its optimizer state; p, m and v are updated in place. */
export interface AdamWState {
  param: Tensor;
  grad: Tensor;
  /** First moment (zeros before step 1). */
  m: Tensor;
  /** Second moment (zeros before step 1). */
  v: Tensor;
}

/** Elements per sumsq_partial workgroup (256 invocations x 16). */
const CHUNK = 4096;

function sameShapeF32(op: string, ts: Record<string, Tensor>): void {
  const entries = Object.entries(ts);
  const [, first] = entries[0];
  const all = () => entries.map(([k, t]) => `${k} ${t.describe()}`).join(', ');
  for (const [k, t] of entries) {
    check(t.dtype === 'f32', op, () => `${k} ${t.describe()} must be f32`);
    check(t.shape.length === first.shape.length && t.shape.every((d, i) => d === first.shape[i]), op, () => `shapes differ: ${all()}`);
  }
}

function checkScalar(op: string, what: string, t: Tensor): void {
  check(t.dtype === 'f32' && t.size === 1, op, () => `${what} ${t.describe()} must be an f32 tensor of one element`);
}

/**
 * One AdamW step t (1-based) on one parameter tensor: p, m, v updated in place.
 * `scale` (f32 [1] on the GPU, e.g. from clipScale) multiplies the gradient
 * first; the gradient tensor itself is left unchanged.
 */
export function adamwStep(gpu: Gpu, state: AdamWState, hyper: AdamWHyper, step: number, scale?: Tensor): void {
  const op = 'adamwStep';
  const { param, grad, m, v } = state;
  sameShapeF32(op, { param, grad, m, v });
  check(new Set([param.buffer, grad.buffer, m.buffer, v.buffer]).size === 4, op,
    () => `param, grad, m and v must be distinct buffers (${param.describe()}, ${grad.describe()}, ${m.describe()}, ${v.describe()})`);
  check(Number.isInteger(step) && step >= 1, op, () => `step ${step} must be an integer >= 1 (1-based, as in torch)`);
  if (scale) checkScalar(op, 'scale', scale);
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = hyper;
  check([lr, beta1, beta2, eps, weightDecay].every(Number.isFinite) && lr >= 0 && eps >= 0 && weightDecay >= 0
    && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, op,
    () => `hyper-parameters lr=${lr} beta1=${beta1} beta2=${beta2} eps=${eps} weightDecay=${weightDecay} out of range`);
  // Bias corrections in float64; only the final factors are rounded to f32.
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  gpu.dispatch({
    kernel: 'adamw',
    entry: 'adamw',
    params: params()
      .u32(param.size, scale ? 1 : 0)
      .f32(1 - lr * weightDecay, beta1, 1 - beta1, beta2, 1 - beta2, lr / bc1, 1 / Math.sqrt(bc2), eps),
    // Without a scale the gradient fills the slot (two read-only bindings of a buffer are allowed).
    inputs: [grad, scale ?? grad],
    outputs: [param, m, v],
    workgroups: grid1d(param.size, 256, gpu),
    label: `${op} t=${step} ${param.describe()} ${grad.describe()}${scale ? ` scale ${scale.describe()}` : ''}`,
  });
}

/** torch.optim.SGD hyper-parameters (dampening 0, no Nesterov). */
export interface SgdHyper {
  lr: number;
  /** Default 0 (no momentum buffer is read or written). */
  momentum?: number;
  /** Coupled L2 decay added to the gradient, as torch's SGD. Default 0. */
  weightDecay?: number;
}

/**
 * One SGD step on one parameter tensor (p and the momentum buffer b updated
 * in place; b starts at zeros). `scale` as in adamwStep.
 */
export function sgdStep(gpu: Gpu, state: { param: Tensor; grad: Tensor; buf: Tensor }, hyper: SgdHyper, scale?: Tensor): void {
  const op = 'sgdStep';
  const { param, grad, buf } = state;
  sameShapeF32(op, { param, grad, buf });
  check(new Set([param.buffer, grad.buffer, buf.buffer]).size === 3, op,
    () => `param, grad and buf must be distinct buffers (${param.describe()}, ${grad.describe()}, ${buf.describe()})`);
  if (scale) checkScalar(op, 'scale', scale);
  const { lr, momentum = 0, weightDecay = 0 } = hyper;
  check([lr, momentum, weightDecay].every(Number.isFinite) && lr >= 0 && momentum >= 0 && momentum < 1 && weightDecay >= 0, op,
    () => `hyper-parameters lr=${lr} momentum=${momentum} weightDecay=${weightDecay} out of range`);
  gpu.dispatch({
    kernel: 'adamw',
    entry: 'sgd',
    params: params().u32(param.size, scale ? 1 : 0).f32(lr, momentum, weightDecay),
    inputs: [grad, scale ?? grad],
    outputs: [param, buf],
    workgroups: grid1d(param.size, 256, gpu),
    label: `${op} ${param.describe()} ${grad.describe()}${scale ? ` scale ${scale.describe()}` : ''}`,
  });
}

/**
 * sqrt(sum over the tensors of sum g^2) into a new f32 [1] tensor, in a fixed
 * order (per-chunk partial sums, then one workgroup sums them): bit-identical
 * run to run. Records one dispatch per non-empty tensor plus one.
 */
export function gradNorm(gpu: Gpu, grads: readonly Tensor[]): Tensor {
  const op = 'gradNorm';
  for (const t of grads) check(t.dtype === 'f32', op, () => `${t.describe()} must be f32`);
  const chunks = grads.map((t) => Math.ceil(t.size / CHUNK));
  const total = chunks.reduce((a, b) => a + b, 0);
  const partials = gpu.empty([total], 'f32', 'gradNorm.partials');
  let offset = 0;
  grads.forEach((t, k) => {
    gpu.dispatch({
      kernel: 'adamw',
      entry: 'sumsq_partial',
      params: params().u32(t.size, offset),
      inputs: [t],
      outputs: [partials],
      workgroups: grid1d(t.size, CHUNK, gpu),
      label: `${op} partial ${t.describe()} (${k + 1} of ${grads.length})`,
    });
    offset += chunks[k];
  });
  const norm = gpu.empty([1], 'f32', 'gradNorm');
  gpu.dispatch({
    kernel: 'adamw',
    entry: 'sumsq_final',
    params: params().u32(total, 0),
    inputs: [partials],
    outputs: [norm],
    workgroups: [1],
    label: `${op} final over ${grads.length} tensors, ${total} partials`,
  });
  partials.release(); // safe: the pool never overwrites a buffer under recorded work
  return norm;
}

/** min(1, maxNorm / (norm + 1e-6)) into a new f32 [1] tensor (torch clip_grad_norm_'s factor). */
export function clipScale(gpu: Gpu, norm: Tensor, maxNorm: number, out?: Tensor): Tensor {
  const op = 'clipScale';
  checkScalar(op, 'norm', norm);
  check(Number.isFinite(maxNorm) && maxNorm > 0, op, () => `maxNorm ${maxNorm} must be a positive number`);
  if (out) checkScalar(op, 'out', out);
  const s = out ?? gpu.empty([1], 'f32', op);
  gpu.dispatch({
    kernel: 'adamw',
    entry: 'clip_scale',
    params: params().f32(maxNorm),
    inputs: [norm],
    outputs: [s],
    workgroups: [1],
    label: `${op} ${norm.describe()} maxNorm=${maxNorm}`,
  });
  return s;
}
