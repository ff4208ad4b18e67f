// Named model shapes for training from scratch and for benchmarks, as HF
// config.json objects (parsed by parseConfig like any other).
//
//   tiny          the built-in WordNet decoder: Llama layout, 4 layers of
//                 width 128 (4 heads, 2 KV heads), SwiGLU 384, tied
//                 embeddings; ~1.3M parameters, 5 MB in F32
//   smollm2-135m  SmolLM2-135M's shape (30 layers, width 576, 9 / 3 heads,
//                 SwiGLU 1536, vocab 49152, tied), for benchmarks with
//                 random weights
//
// Vision encoder presets (visionPreset; the projector's output width is the
// decoder's hidden size, so it is an argument):
//
//   tiny   the shapes world's encoder: 48x48 images in 8x8 patches (P = 36
//          image tokens), width 64, 2 layers of 4 heads, SwiGLU 128,
//          projector 64 -> 128 -> decoder width; 121,664 weights at decoder width 128
//   micro  for tests: 16x16 images in 8x8 patches (P = 4), width 16, one
//          layer of 2 heads, SwiGLU 32, projector 16 -> 32 -> decoder width
//
// Both put image_token_id 0 on the placeholder rows and normalise pixels with
// mean = std = 0.5 per channel (to -1..1).
import { parseConfig, type DecoderConfig } from './config.ts';
import { checkVisionConfig, type VisionConfig } from './vision.ts';

export const PRESETS: Record<string, Record<string, unknown>> = {
  tiny: {
    model_type: 'llama', hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4,
    num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 4096, max_position_embeddings: 256,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
  },
  'smollm2-135m': {
    model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30,
    num_attention_heads: 9, num_key_value_heads: 3, vocab_size: 49152, max_position_embeddings: 8192,
    rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true,
  },
};

/** A preset's config, with any field overridden (e.g. the tokenizer's vocab_size and token ids). */
export function presetConfig(name: string, overrides: Record<string, unknown> = {}): DecoderConfig {
  const p = PRESETS[name];
  if (!p) throw new RangeError(`unknown model preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return parseConfig({ ...p, ...overrides }, `preset ${name}`);
}

export const VISION_PRESETS: Record<string, Omit<VisionConfig, 'outHidden'>> = {
  tiny: {
    imageSize: 48, patchSize: 8, channels: 3, hidden: 64, layers: 2, heads: 4, intermediate: 128, projectorHidden: 128,
    rmsNormEps: 1e-6, imageTokenId: 0, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5],
  },
  micro: {
    imageSize: 16, patchSize: 8, channels: 3, hidden: 16, layers: 1, heads: 2, intermediate: 32, projectorHidden: 32,
    rmsNormEps: 1e-6, imageTokenId: 0, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5],
  },
};

/** A vision preset whose projector outputs `decoderHidden` (the decoder's hidden size) per image token. */
export function visionPreset(name: string, decoderHidden: number): VisionConfig {
  const p = VISION_PRESETS[name];
  if (!p) throw new RangeError(`unknown vision preset "${name}" (known: ${Object.keys(VISION_PRESETS).join(', ')})`);
  return checkVisionConfig({ ...p, imageMean: [...p.imageMean], imageStd: [...p.imageStd], outHidden: decoderHidden }, `vision preset ${name}`);
}
