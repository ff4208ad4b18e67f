// The contrastive LoRA training step every benchmark times (suites embed and
// memory, bench/profile.ts), one definition so they measure the same work as
// the trainer: zero the adapter's gradients, gradCacheStep (InfoNCE at
// temperature 0.05, one way, last-token pooling), AdamW with clipping to norm
// 1. The PyTorch peer is given the same constants (suites/embed.ts).
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import type { GradMap } from '../src/model/backward.ts';
import type { Decoder } from '../src/model/decoder.ts';
import type { DecoderLora } from '../src/model/lora.ts';
import { gradCacheStep, type ContrastiveBatch } from '../src/train/gradcache.ts';
import { optimizerStep, zeroGrads, type AdamWOptions, type TrainParam } from '../src/train/optimizer.ts';

export const CONTRASTIVE_TEMPERATURE = 0.05;
export const CONTRASTIVE_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clip: 1 };

/** Records one step (1-based `step`, also the dropout seed); returns the loss tensor [1] (caller reads and releases it). */
export function recordContrastiveStep(
  gpu: Gpu, model: Decoder, lora: DecoderLora, params: TrainParam[], grads: GradMap,
  batch: ContrastiveBatch, miniBatch: number, lr: number, step: number,
): Tensor {
  zeroGrads(gpu, params);
  const loss = gradCacheStep(gpu, model, lora, grads, batch, { temperature: CONTRASTIVE_TEMPERATURE, symmetric: false }, { miniBatch, pooling: 'lasttoken', seed: step });
  optimizerStep(gpu, params, CONTRASTIVE_ADAMW, lr, step).release();
  return loss;
}
