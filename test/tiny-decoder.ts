// A tiny random decoder for the gradient tests (reference and GPU): two
// configs (llama untied with every bias; qwen2 tied with H*D != C), random
// weights, a left-padded batch with ignored targets, and random LoRA tensors.
import { LORA_TARGETS, modulePath, type DecoderInput, type LoraTarget } from '../reference/decoder.ts';
import { parseConfig, type DecoderConfig } from '../src/model/config.ts';
import { weightSpecs } from '../src/model/decoder.ts';
import { randomData, rng } from './helpers.ts';

export const B = 2, T = 5, PAD = 2; // row 1 is left-padded by PAD tokens

export function tinyConfig(modelType: 'llama' | 'qwen2', extra: Record<string, unknown>): DecoderConfig {
  return parseConfig({
    model_type: modelType,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    vocab_size: 11,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    ...extra,
  }, `tiny ${modelType}`);
}

// llama: separate head, attention_bias (q, k, v and o biases) and mlp_bias; head dim 4 = C / H.
// qwen2: tied head, q / k / v biases only; head dim 6, so H*D = 12 != C and o_proj is not square.
export const LLAMA = tinyConfig('llama', { tie_word_embeddings: false, attention_bias: true, mlp_bias: true });
export const QWEN2 = tinyConfig('qwen2', { tie_word_embeddings: true, head_dim: 6 });

/** Random weights, never zero; norm weights near 1 (as trained models have them), the rest in ±[0.05, 0.5]. */
export function makeWeights(cfg: DecoderConfig, seed: number): Map<string, Float64Array> {
  const W = new Map<string, Float64Array>();
  weightSpecs(cfg).forEach(({ name, shape }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const r = randomData(n, seed + 17 * i, 0.05, 0.5);
    W.set(name, name.endsWith('norm.weight') ? Float64Array.from(r, (v) => 1 + v) : Float64Array.from(r));
  });
  return W;
}

export const lookup = (W: Map<string, ArrayLike<number>>) => (name: string): ArrayLike<number> => {
  const w = W.get(name);
  if (!w) throw new Error(`test weights: no tensor ${name}`);
  return w;
};

/**
 * Row 0: 5 real tokens, positions 0..4. Row 1: PAD padding tokens on the left
 * (id 0, HF-style position 1), then real tokens with positions from 0.
 * Targets are the next token (shifted here), -100 on padding, on the last
 * token of each row and on one real token of row 0.
 */
export function makeBatch(cfg: DecoderConfig, seed: number): { input: DecoderInput; targets: Int32Array } {
  const r = rng(seed);
  const ids = new Int32Array(B * T), mask = new Int32Array(B * T), pos = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const pad = b === 1 ? PAD : 0;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      mask[i] = t >= pad ? 1 : 0;
      // Real ids in [1, V), never the previous token again: two equal neighbours
      // can carry equal values everywhere, which zeroes the q / k gradients.
      do ids[i] = mask[i] ? 1 + Math.floor(r() * (cfg.vocab - 1)) : 0;
      while (mask[i] && t > pad && ids[i] === ids[i - 1]);
      pos[i] = mask[i] ? t - pad : 1;
    }
  }
  const targets = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) if (mask[b * T + t]) targets[b * T + t] = ids[b * T + t + 1];
  targets[1] = -100;
  return { input: { B, T, ids, mask, pos }, targets };
}

/** Random LoRA tensors (rank 2, A and B nonzero) for the targets, into `into`. */
export function makeLora(cfg: DecoderConfig, targets: readonly LoraTarget[], seed: number, into: Map<string, Float64Array>): void {
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F } = cfg;
  const dims: Record<LoraTarget, [number, number]> = {
    q_proj: [C, H * D], k_proj: [C, Hkv * D], v_proj: [C, Hkv * D], o_proj: [H * D, C],
    gate_proj: [C, F], up_proj: [C, F], down_proj: [F, C],
  };
  const r = 2;
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of targets) {
      const [inF, outF] = dims[t];
      const path = modulePath(l, t);
      into.set(`${path}.lora_A.weight`, Float64Array.from(randomData(r * inF, seed + 31 * l + LORA_TARGETS.indexOf(t), 0.05, 0.5)));
      into.set(`${path}.lora_B.weight`, Float64Array.from(randomData(outF * r, seed + 1000 + 31 * l + LORA_TARGETS.indexOf(t), 0.05, 0.5)));
    }
  }
}

