// Autoregressive generation with the GPU decoder, one sequence (B = 1).
//
// Each step runs the whole forward on the sequence so far,
//   last [1, T, C] = decoderForward(ids[0..T-1], mask = 1, pos = 0..T-1)
//   logits [1, V]  = last[T-1] lm_head^T
// reads the logits back and picks the next token with sampleNext (greedy when
// temperature is 0). There is no KV cache yet: step t recomputes every
// position, so a token costs O(T) matmul rows and O(T^2) attention, and n
// tokens cost O(n^2) rows in all. For the tiny models this toolkit trains
// (hidden 16..256, a few hundred positions) a step is dominated by the fixed
// cost of ~15 dispatches per layer and one read-back, not by T, so a cache
// would add state and a second attention path for little gain.
//
// Stops at the first stop id (config.json's eos_token_id plus opts.stopIds;
// it is kept as the last id of the result), after maxNewTokens, or when one
// more token would make the sequence longer than config.maxPositions.
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { matmul } from '../ops/matmul.ts';
import { decoderForward, type Decoder } from './decoder.ts';
import type { DecoderLora } from './lora.ts';
import { checkSamplingOptions, Rng, sampleNext } from './sample.ts';

export class GenerateError extends Error {
  override name = 'GenerateError';
}

export interface GenerateOptions {
  /** Most tokens to add (an integer >= 0). */
  maxNewTokens: number;
  /** 0 is greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]. */
  topP: number;
  /** Keep the k most probable tokens; undefined or 0 keeps all. */
  topK?: number;
  /** Seed of the sampling stream (integer in [0, 2^32)). */
  seed: number;
  /** Ids that end generation, besides config.json's eos_token_id. */
  stopIds?: number[];
  /** Called with each new id as soon as it is chosen (stop id included). */
  onToken?(id: number): void;
  /** Run with this LoRA adapter on the model (no dropout). */
  lora?: DecoderLora;
}

/** Why generation ended. */
export type StopReason = 'stop-id' | 'max-new-tokens' | 'max-positions';

export interface GenerateResult {
  /** The new ids (not the prompt); ends with the stop id when reason is 'stop-id'. */
  ids: number[];
  reason: StopReason;
}

export async function generate(gpu: Gpu, model: Decoder, promptIds: number[], opts: GenerateOptions): Promise<GenerateResult> {
  const cfg = model.config;
  const { hidden: C, vocab: V, maxPositions } = cfg;
  const sampling = checkSamplingOptions({ temperature: opts.temperature, topP: opts.topP, topK: opts.topK === 0 ? undefined : opts.topK });
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
    throw new GenerateError(`generate: maxNewTokens ${opts.maxNewTokens} must be an integer >= 0`);
  }
  if (promptIds.length === 0) throw new GenerateError('generate: the prompt is empty; start from at least one token (e.g. BOS)');
  promptIds.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new GenerateError(`generate: prompt token ${i} is ${id}, expected an id in [0, ${V}) (vocab_size)`);
  });
  if (promptIds.length > maxPositions) {
    throw new GenerateError(`generate: the prompt has ${promptIds.length} tokens, more than max_position_embeddings ${maxPositions}`);
  }
  const stop = new Set([...cfg.eosTokenIds, ...(opts.stopIds ?? [])]);
  const rng = new Rng(opts.seed);

  const seq = [...promptIds];
  const out: number[] = [];
  for (;;) {
    if (out.length >= opts.maxNewTokens) return { ids: out, reason: 'max-new-tokens' };
    if (seq.length >= maxPositions) return { ids: out, reason: 'max-positions' };
    const logits = await lastLogits(gpu, model, seq, C, V, opts.lora);
    const id = sampleNext(logits, sampling, rng);
    seq.push(id);
    out.push(id);
    opts.onToken?.(id);
    if (stop.has(id)) return { ids: out, reason: 'stop-id' };
  }
}

/** Logits [V] of the last position of `seq`, from a full forward. Releases everything it creates. */
async function lastLogits(gpu: Gpu, model: Decoder, seq: number[], C: number, V: number, lora?: DecoderLora): Promise<Float32Array> {
  const T = seq.length;
  const made: Tensor[] = [];
  const keep = <X extends Tensor>(t: X): X => {
    made.push(t);
    return t;
  };
  try {
    const ids = keep(gpu.tensor(Int32Array.from(seq), [1, T], 'i32', 'generate ids'));
    const mask = keep(gpu.tensor(new Int32Array(T).fill(1), [1, T], 'i32', 'generate mask'));
    const pos = keep(gpu.tensor(Int32Array.from({ length: T }, (_, t) => t), [1, T], 'i32', 'generate pos'));
    const { last, hidden } = decoderForward(gpu, model, { B: 1, T, ids, mask, pos }, { lora });
    keep(last);
    hidden.forEach(keep);
    // row [1, C] = last[0, T-1, :]
    const row = keep(gpu.empty([1, C], 'f32', 'generate last row'));
    gpu.copy(last, row, C, (T - 1) * C, 0);
    // logits [1, V] = row lm_head^T
    const logits = keep(matmul(gpu, row, model.weights.lmHead, { transB: true }));
    const data = await gpu.read(logits);
    if (data.length !== V) throw new GenerateError(`generate: logits have ${data.length} values, expected vocab_size ${V}`);
    return data as Float32Array;
  } finally {
    for (const t of made) t.release();
  }
}
