import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError, parseConfig, toHfConfig } from '../src/model/config.ts';

// As published with the checkpoints (fields transformers does not need trimmed).
const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 0, eos_token_id: 0,
  hidden_act: 'silu', hidden_size: 576, initializer_range: 0.041666666666666664, intermediate_size: 1536,
  max_position_embeddings: 8192, model_type: 'llama', num_attention_heads: 9, num_hidden_layers: 30, num_key_value_heads: 3,
  pretraining_tp: 1, rms_norm_eps: 1e-5, rope_interleaved: false, rope_scaling: null, rope_theta: 100000,
  tie_word_embeddings: true, torch_dtype: 'bfloat16', use_cache: true, vocab_size: 49152,
};
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643, hidden_act: 'silu',
  hidden_size: 896, initializer_range: 0.02, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 24,
  model_type: 'qwen2', num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6,
  rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: 'bfloat16', use_cache: true,
  use_sliding_window: false, vocab_size: 151936,
};

describe('HF config.json', () => {
  it('reads SmolLM2-135M (llama, GQA 9/3, tied, rope 1e5)', () => {
    const c = parseConfig(JSON.stringify(SMOLLM2_135M));
    expect(c).toMatchObject({ modelType: 'llama', hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3, headDim: 64,
      vocab: 49152, rmsNormEps: 1e-5, ropeTheta: 1e5, tiedEmbeddings: true, qkvBias: false, oBias: false, mlpBias: false,
      bosTokenId: 0, eosTokenIds: [0], padTokenId: null, maxPositions: 8192 });
  });

  it('reads Qwen2.5-0.5B (qwen2: q/k/v bias, GQA 14/2, rope 1e6)', () => {
    const c = parseConfig(QWEN25_05B);
    expect(c).toMatchObject({ modelType: 'qwen2', hidden: 896, heads: 14, kvHeads: 2, headDim: 64, ropeTheta: 1e6, qkvBias: true, oBias: false, tiedEmbeddings: true });
  });

  it('takes rope_theta from rope_parameters (transformers 5) and refuses scaled RoPE', () => {
    const { rope_theta: _, ...rest } = SMOLLM2_135M;
    expect(parseConfig({ ...rest, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }).ropeTheta).toBe(5e5);
    expect(() => parseConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: 'llama3', factor: 8 } })).toThrow(/rope_scaling.rope_type "llama3" is not supported/);
  });

  it('round-trips through the config.json it writes', () => {
    for (const raw of [SMOLLM2_135M, QWEN25_05B]) {
      const c = parseConfig(raw);
      expect(parseConfig(JSON.parse(JSON.stringify(toHfConfig(c))))).toEqual(c);
    }
  });

  it('names the field at fault', () => {
    expect(() => parseConfig({ ...SMOLLM2_135M, model_type: 'gpt2' })).toThrow(/config.json: "model_type" is "gpt2"; expected "llama" or "qwen2"/);
    const { hidden_size: _h, ...noHidden } = SMOLLM2_135M;
    expect(() => parseConfig(noHidden, 'models/x/config.json')).toThrow(/models\/x\/config.json: "hidden_size" is missing; expected a positive integer/);
    expect(() => parseConfig({ ...SMOLLM2_135M, num_key_value_heads: 4 })).toThrow(/num_attention_heads 9 is not a multiple of num_key_value_heads 4/);
    expect(() => parseConfig({ ...SMOLLM2_135M, hidden_act: 'gelu' })).toThrow(/"hidden_act" is "gelu"/);
    expect(() => parseConfig({ ...SMOLLM2_135M, rope_interleaved: true })).toThrow(/"rope_interleaved"/);
    expect(() => parseConfig('{"model_type": "llama",')).toThrow(/not valid JSON/);
    expect(() => parseConfig({ ...SMOLLM2_135M, vocab_size: 1.5 })).toThrow(/"vocab_size" is 1.5/);
  });

  it('fuzz: mutated configs either parse or raise a ConfigError', () => {
    const keys = Object.keys(SMOLLM2_135M);
    const junk = fc.oneof(fc.integer({ min: -3, max: 100 }), fc.double(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null),
      fc.array(fc.integer({ min: -1, max: 3 }), { maxLength: 2 }), fc.dictionary(fc.constantFrom('rope_type', 'rope_theta', 'type'), fc.oneof(fc.string(), fc.integer())));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...keys, 'head_dim', 'rope_parameters', 'mlp_bias'), fc.option(junk, { nil: undefined })), { maxLength: 4 }), (edits) => {
        const c: Record<string, unknown> = { ...SMOLLM2_135M };
        for (const [k, v] of edits) {
          if (v === undefined) delete c[k];
          else c[k] = v;
        }
        try {
          const cfg = parseConfig(c);
          expect(cfg.heads % cfg.kvHeads).toBe(0);
          expect(cfg.headDim % 2).toBe(0);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
