// Named model shapes for training from scratch and for benchmarks, as HF
// config.json objects (parsed by parseConfig like any other).
//
//   tiny          the built-in WordNet decoder: Llama layout, 4 layers of
//                 width 128 (4 heads, 2 KV heads), SwiGLU 384, tied
//                 embeddings; ~1.3M parameters, 5 MB in F32
//   smollm2-135m  SmolLM2-135M's shape (30 layers, width 576, 9 / 3 heads,
//                 SwiGLU 1536, vocab 49152, tied), for benchmarks with
//                 random weights
import { parseConfig, type DecoderConfig } from './config.ts';

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
