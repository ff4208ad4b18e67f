// Tiny random vision encoders for the vision tests (reference and GPU): the
// issue's config (8x8 RGB images, patch 4, hidden 8, 2 layers, 2 heads) and a
// second shape (9 patches, 4 heads, one layer), random weights, pixels and
// output gradients, never zero.
import { parseVisionConfig, visionWeightSpecs, type VisionConfig } from '../src/model/vision.ts';
import { randomData } from './helpers.ts';

export function tinyVisionConfig(extra: Record<string, unknown> = {}): VisionConfig {
  return parseVisionConfig({
    model_type: 'lco_vision',
    image_size: 8,
    patch_size: 4,
    num_channels: 3,
    hidden_size: 8,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 12,
    projector_hidden_size: 10,
    out_hidden_size: 6,
    rms_norm_eps: 1e-6,
    ...extra,
  }, 'tiny vision');
}

/** P = 4 patches of K = 48, D = 4. */
export const TINY = tinyVisionConfig();
/** P = 9 patches of K = 12, H = 4, D = 4, F = 20, Hp = 24, Co = 12. */
export const WIDE = tinyVisionConfig({
  image_size: 6, patch_size: 2, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 4,
  intermediate_size: 20, projector_hidden_size: 24, out_hidden_size: 12,
});

/** Random weights: norm weights near 1 (as trained models have them), the rest in ±[0.05, 0.5]. */
export function makeVisionWeights(cfg: VisionConfig, seed: number): Map<string, Float64Array> {
  const W = new Map<string, Float64Array>();
  visionWeightSpecs(cfg).forEach(({ name, shape, kind }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = randomData(n, seed + 17 * i, 0.05, 0.5);
    W.set(name, kind === 'norm' ? Float64Array.from(r, (v) => 1 + v) : Float64Array.from(r));
  });
  return W;
}

/** Normalised pixels [B, S, S, Ch] in ±[0.05, 1]. */
export function makePixels(cfg: VisionConfig, B: number, seed: number): Float64Array {
  return Float64Array.from(randomData(B * cfg.imageSize * cfg.imageSize * cfg.channels, seed));
}
