// Decoder configuration from a Hugging Face config.json (model_type llama or
// qwen2), and back. Defaults follow transformers' LlamaConfig / Qwen2Config
// where config.json leaves a field out.
//
// What differs between the two families here:
// - qwen2 always has a bias on q_proj, k_proj, v_proj (not on o_proj or the MLP);
//   llama has biases on q, k, v, o only when attention_bias is true, and on the MLP
//   when mlp_bias is true.
// - RoPE base: `rope_theta` (transformers < 5) or `rope_parameters.rope_theta` (>= 5).
//   Only the default rope type is supported (no llama3 / yarn / linear scaling).

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type ModelType = 'llama' | 'qwen2';

export interface DecoderConfig {
  modelType: ModelType;
  /** C: hidden size. */
  hidden: number;
  /** F: MLP intermediate size. */
  intermediate: number;
  layers: number;
  /** H: query heads. */
  heads: number;
  /** Hkv: key/value heads (grouped-query attention when < H). */
  kvHeads: number;
  /** D: head dimension (hidden / heads unless given). */
  headDim: number;
  /** V: vocabulary size. */
  vocab: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositions: number;
  /** lm_head shares model.embed_tokens.weight. */
  tiedEmbeddings: boolean;
  /** Bias on q_proj, k_proj, v_proj. */
  qkvBias: boolean;
  /** Bias on o_proj. */
  oBias: boolean;
  /** Bias on gate/up/down. */
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
}

const DEFAULTS: Record<ModelType, { rmsNormEps: number; ropeTheta: number; maxPositions: number }> = {
  llama: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositions: 2048 },
  qwen2: { rmsNormEps: 1e-6, ropeTheta: 10000, maxPositions: 32768 },
};

/**
 * A config file's JSON object with the field readers every config here uses;
 * each error names the file and the field, and says what was expected.
 */
export function configFields(input: string | unknown, source: string) {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (err) {
      throw new ConfigError(`${source}: not valid JSON (${(err as Error).message})`);
    }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: must be a JSON object`);
  const c = raw as Record<string, unknown>;
  const fail = (field: string, expected: string): never => {
    throw new ConfigError(`${source}: "${field}" ${c[field] === undefined ? 'is missing' : `is ${JSON.stringify(c[field])}`}; expected ${expected}`);
  };
  const int = (field: string, fallback?: number): number => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return fail(field, 'a positive integer');
    return v;
  };
  const num = (field: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return fail(field, 'a positive number');
    return value;
  };
  return { c, fail, int, num };
}

/** Parses config.json text or an already-parsed object. `source` names it in errors. */
export function parseConfig(input: string | unknown, source = 'config.json'): DecoderConfig {
  const { c, fail, int, num } = configFields(input, source);
  const bool = (field: string, fallback: boolean): boolean => {
    const v = c[field] ?? fallback;
    if (typeof v !== 'boolean') return fail(field, 'true or false');
    return v;
  };
  const tokenId = (field: string): number | null => {
    const v = c[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(field, 'a token id or null');
    return v;
  };

  const modelType = c.model_type;
  if (modelType !== 'llama' && modelType !== 'qwen2') fail('model_type', '"llama" or "qwen2" (the decoder families lco-webgpu runs)');
  const type = modelType as ModelType;
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') fail('hidden_act', '"silu" (SwiGLU MLP)');

  // Variants whose maths we do not implement: refuse rather than compute something else.
  if (c.rope_interleaved === true) fail('rope_interleaved', 'false (rotate-half RoPE)');
  if (c.use_sliding_window === true) fail('use_sliding_window', 'false (full causal attention)');

  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0) throw new ConfigError(`${source}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = c.head_dim === undefined || c.head_dim === null ? hidden / heads : int('head_dim');
  if (!Number.isInteger(headDim)) throw new ConfigError(`${source}: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads} (and head_dim is not given)`);
  if (headDim % 2 !== 0) throw new ConfigError(`${source}: head dimension ${headDim} must be even for rotary embeddings`);

  const ropeTheta = num('rope_theta', ropeBase(c, source) ?? DEFAULTS[type].ropeTheta);
  const eos = c.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  if (!eosTokenIds.every((e) => Number.isSafeInteger(e) && (e as number) >= 0)) fail('eos_token_id', 'a token id or a list of them');

  const attentionBias = bool('attention_bias', false);
  return {
    modelType: type,
    hidden,
    intermediate: int('intermediate_size'),
    layers: int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    vocab: int('vocab_size'),
    rmsNormEps: num('rms_norm_eps', c.rms_norm_eps ?? DEFAULTS[type].rmsNormEps),
    ropeTheta,
    maxPositions: int('max_position_embeddings', DEFAULTS[type].maxPositions),
    tiedEmbeddings: bool('tie_word_embeddings', false),
    qkvBias: type === 'qwen2' ? true : attentionBias,
    oBias: type === 'qwen2' ? false : attentionBias,
    mlpBias: type === 'qwen2' ? false : bool('mlp_bias', false),
    bosTokenId: tokenId('bos_token_id'),
    eosTokenIds: eosTokenIds as number[],
    padTokenId: tokenId('pad_token_id'),
  };
}

/** rope_theta, from the top level or from rope_parameters; refuses RoPE scaling we do not implement. */
function ropeBase(c: Record<string, unknown>, source: string): number | undefined {
  for (const field of ['rope_scaling', 'rope_parameters']) {
    const v = c[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${source}: "${field}" must be an object or null`);
    const p = v as Record<string, unknown>;
    const kind = p.rope_type ?? p.type ?? 'default';
    if (kind !== 'default') throw new ConfigError(`${source}: ${field}.rope_type "${String(kind)}" is not supported (only the default RoPE)`);
    if (p.rope_theta !== undefined) return p.rope_theta as number;
  }
  return c.rope_theta as number | undefined;
}

/** The config.json to write beside a checkpoint (HF layout, loadable by transformers). */
export function toHfConfig(cfg: DecoderConfig): Record<string, unknown> {
  const arch = cfg.modelType === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM';
  const out: Record<string, unknown> = {
    architectures: [arch],
    model_type: cfg.modelType,
    hidden_size: cfg.hidden,
    intermediate_size: cfg.intermediate,
    num_hidden_layers: cfg.layers,
    num_attention_heads: cfg.heads,
    num_key_value_heads: cfg.kvHeads,
    head_dim: cfg.headDim,
    vocab_size: cfg.vocab,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    max_position_embeddings: cfg.maxPositions,
    tie_word_embeddings: cfg.tiedEmbeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : cfg.eosTokenIds,
    pad_token_id: cfg.padTokenId,
  };
  if (cfg.modelType === 'llama') {
    out.attention_bias = cfg.qkvBias;
    out.mlp_bias = cfg.mlpBias;
  }
  return out;
}
