// The trainable parameters of a run, their gradients and AdamW moments, and
// one optimizer step: global-norm clipping and AdamW (or SGD), all on the GPU.
//
// Pretraining trains every weight of the model; LoRA training the adapters'
// A and B only (the base gets no gradient buffers at all). Weight decay
// applies to matrices only, never to norm weights or biases (the usual
// practice; `decay` below). readStepStats ends a step: the loss and the
// gradient norm come back in one GPU read, and a non-finite loss stops the run.
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { adamwStep, clipScale, gradNorm, sgdStep } from '../ops/adamw.ts';
import type { GradMap } from '../model/backward.ts';
import { weightSpecs, type Decoder } from '../model/decoder.ts';
import { loraTensors, type DecoderLora } from '../model/lora.ts';

export interface TrainParam {
  /** HF name (adapters: PEFT's name without base_model.model.). */
  name: string;
  value: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  decay: boolean;
}

export interface AdamWOptions {
  /** Default 'adamw'. SGD (torch semantics) uses `m` as its momentum buffer and ignores beta2, eps. */
  optimizer?: 'adamw' | 'sgd';
  /** SGD momentum; default 0. */
  momentum?: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 = no clipping. */
  clip: number;
}

/** A parameter with zeroed gradient and moments; `decay`: weight decay applies (matrices). */
export function trainParam(gpu: Gpu, name: string, value: Tensor, decay: boolean): TrainParam {
  return {
    name, value, decay,
    grad: gpu.zeros(value.shape, 'f32', `${name}.grad`),
    m: gpu.zeros(value.shape, 'f32', `${name}.exp_avg`),
    v: gpu.zeros(value.shape, 'f32', `${name}.exp_avg_sq`),
  };
}

/** Every weight of the model (tied embeddings appear once). */
export function fullParams(gpu: Gpu, model: Decoder): TrainParam[] {
  return weightSpecs(model.config).map((s) => trainParam(gpu, s.name, s.get(model.weights), s.kind === 'matrix'));
}

/** The adapter's A and B only; the base stays frozen. */
export function loraParams(gpu: Gpu, lora: DecoderLora): TrainParam[] {
  return loraTensors(lora).map(({ name, tensor }) => trainParam(gpu, name, tensor, true));
}

/** weight -> gradient, the map decoderBackward adds into. */
export function gradMap(params: readonly TrainParam[]): GradMap {
  return new Map(params.map((p) => [p.value, p.grad]));
}

export function zeroGrads(gpu: Gpu, params: readonly TrainParam[]): void {
  for (const p of params) gpu.fill(p.grad, 0);
}

/**
 * Clip (when asked) and update every parameter in place. Returns the global
 * gradient norm before clipping, f32 [1] on the GPU (the caller reads it
 * with the step's loss, in one read).
 */
export function optimizerStep(gpu: Gpu, params: readonly TrainParam[], o: AdamWOptions, lr: number, step: number): Tensor {
  const norm = gradNorm(gpu, params.map((p) => p.grad));
  const scale = o.clip > 0 ? clipScale(gpu, norm, o.clip) : undefined;
  for (const p of params) {
    const weightDecay = p.decay ? o.weightDecay : 0;
    if (o.optimizer === 'sgd') sgdStep(gpu, { param: p.value, grad: p.grad, buf: p.m }, { lr, momentum: o.momentum ?? 0, weightDecay }, scale);
    else adamwStep(gpu, { param: p.value, grad: p.grad, m: p.m, v: p.v }, { lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay }, step, scale);
  }
  scale?.release();
  return norm;
}

/** Frees gradients and moments (not the parameters: they belong to the model). */
export function releaseParams(params: readonly TrainParam[]): void {
  for (const p of params) for (const t of [p.grad, p.m, p.v]) t.release();
}

/**
 * The end of a training step: copies loss (f32 [1]) and norm (f32 [1], from
 * optimizerStep) into stats (f32 [2], reused across steps) and reads that
 * back, the step's one read; releases loss and norm. A non-finite loss
 * throws, naming the step and the out dir whose last checkpoint is still
 * good; `advice` (e.g. "try a lower --lr") is appended in parentheses.
 */
export async function readStepStats(
  gpu: Gpu, stats: Tensor, loss: Tensor, norm: Tensor, step: number, outDir: string, advice?: string,
): Promise<{ loss: number; gradNorm: number }> {
  let value: number;
  let normValue: number; // not gradNorm: that is the kernel imported above
  try {
    gpu.copy(loss, stats, 1, 0, 0);
    gpu.copy(norm, stats, 1, 0, 1);
    [value, normValue] = await gpu.read(stats);
  } finally {
    loss.release();
    norm.release();
  }
  if (!Number.isFinite(value)) {
    throw new Error(`training diverged at step ${step}: loss ${value}, gradient norm ${normValue}; the last checkpoint in ${outDir} is intact` +
      (advice ? ` (${advice})` : ''));
  }
  return { loss: value, gradNorm: normValue };
}
