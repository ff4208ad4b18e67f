// Embedding with a decoder (LCO-Emb style): prompt, tokenize, batch by
// length, run the decoder (optionally with a LoRA adapter), pool the final
// hidden states (after the final norm), truncate (Matryoshka) and
// L2-normalise, all on the GPU; one read per batch.
//
//   text -> template(text) [-> ChatML] -> ids           (an id list is used as given)
//   batch of B items, left-padded to the longest: ids, mask, pos [B, T]
//   h = decoderForward(...).last                       [B, T, C]
//   e = lasttoken(h) or mean(h)                        [B, C]
//   e = e[:, :dimensions]                              (Matryoshka truncation)
//   e = e / ||e||                                      (when normalize)
//
// Batching by length: items are sorted by token count so a batch pads little;
// results come back in input order. Too-long text is cut in its middle part:
// the prompt's text before and after {text} is kept whole, since the pooled
// last token must stay the prompt's last token.
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { Decoder } from '../model/decoder.ts';
import { decoderForward } from '../model/forward.ts';
import type { DecoderLora } from '../model/lora.ts';
import { prefixColumns } from '../ops/contrastive.ts';
import { l2norm } from '../ops/l2norm.ts';
import { lastTokenPool, meanPool } from '../ops/pooling.ts';
import { padLeft, uploadRows } from './batch.ts';
import { applyPrompt, resolvePrompt, type ChatFormat } from './prompt.ts';

export type Pooling = 'lasttoken' | 'mean';

export interface EmbedOptions {
  /** 'none', 'lco' or a template with {text}; applies to text inputs only. Default 'none'. */
  prompt?: string;
  chat?: ChatFormat;
  /** Default 'lasttoken' (LCO-Emb). */
  pooling?: Pooling;
  /** L2-normalise (after truncation). Default true. */
  normalize?: boolean;
  /** Keep the first N dimensions (Matryoshka). Default: all. */
  dimensions?: number;
  /** Items per forward. Default 32. */
  batchSize?: number;
  /** Most tokens per item. Default: the model's max_position_embeddings. */
  maxLength?: number;
}

export class EmbedInputError extends Error {
  override name = 'EmbedInputError';
}

/** A text, or token ids used exactly as given. */
export type EmbedInput = string | { ids: ArrayLike<number> };

export class Embedder {
  constructor(
    readonly gpu: Gpu,
    readonly model: Decoder,
    readonly tokenizer: Tokenizer,
    readonly lora?: DecoderLora,
  ) {}

  /** Token ids of one input after prompting and truncation. `where` names it in errors. */
  tokenize(input: EmbedInput, opts: EmbedOptions = {}, where = 'input'): number[] {
    const V = this.model.config.vocab;
    const max = opts.maxLength ?? this.model.config.maxPositions;
    if (typeof input !== 'string') {
      const ids = Array.from(input.ids);
      if (ids.length === 0) throw new EmbedInputError(`${where}: input_ids is empty`);
      ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new EmbedInputError(`${where}: input_ids[${i}] = ${id} is outside the vocabulary [0, ${V})`);
      });
      if (ids.length > max) throw new EmbedInputError(`${where}: ${ids.length} input_ids, more than the ${max} allowed`);
      return ids;
    }
    if (input.length === 0) throw new EmbedInputError(`${where}: the text is empty`);
    const template = resolvePrompt(opts.prompt ?? 'none');
    const ids = this.tokenizer.encode(applyPrompt(template, input, opts.chat));
    if (ids.length <= max) return ids;
    // Too long: keep the prompt around the text whole and cut the text's end.
    const [before, after] = applyPrompt(template, '\u0000', opts.chat).split('\u0000');
    const head = before ? this.tokenizer.encode(before) : [];
    const tail = after ? this.tokenizer.encode(after) : [];
    const room = max - head.length - tail.length;
    if (room < 1) throw new EmbedInputError(`${where}: the prompt alone takes ${head.length + tail.length} tokens, over maxLength ${max}`);
    return [...head, ...this.tokenizer.encode(input).slice(0, room), ...tail];
  }

  /** Embeds the inputs; returns one Float32Array per input, in input order. */
  async embed(inputs: readonly EmbedInput[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    const C = this.model.config.hidden;
    const dims = opts.dimensions ?? C;
    if (!Number.isInteger(dims) || dims < 1 || dims > C) throw new RangeError(`dimensions ${dims} must be an integer in [1, ${C}]`);
    const batchSize = opts.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize ${batchSize} must be a positive integer`);
    const tokens = inputs.map((x, i) => this.tokenize(x, opts, `input ${i}`));
    // longest first, ties by index: the order (and so every batch) is deterministic
    const order = tokens.map((_, i) => i).sort((a, b) => tokens[b].length - tokens[a].length || a - b);
    const out: Float32Array[] = new Array(inputs.length);
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      const rows = await this.#embedBatch(idx.map((i) => tokens[i]), opts, dims);
      idx.forEach((i, b) => (out[i] = rows[b]));
    }
    return out;
  }

  /** One left-padded batch through the decoder and the pooling. */
  async #embedBatch(rows: number[][], opts: EmbedOptions, dims: number): Promise<Float32Array[]> {
    const { gpu } = this;
    const C = this.model.config.hidden;
    const made: Tensor[] = [];
    const keep = <X extends Tensor>(t: X): X => (made.push(t), t);
    try {
      const input = uploadRows(gpu, padLeft(rows));
      [input.ids, input.mask, input.pos].forEach(keep);
      const h = keep(decoderForward(gpu, this.model, input, { lora: this.lora }).last);
      let e: Tensor;
      if ((opts.pooling ?? 'lasttoken') === 'mean') {
        e = keep(meanPool(gpu, h, input.mask));
      } else {
        const p = lastTokenPool(gpu, h, input.mask);
        keep(p.index);
        e = keep(p.out);
      }
      if (dims < C) e = keep(prefixColumns(gpu, e, dims));
      if (opts.normalize ?? true) {
        const n = l2norm(gpu, e);
        keep(n.norm);
        e = keep(n.y);
      }
      const data = (await gpu.read(e)) as Float32Array;
      return rows.map((_, b) => data.slice(b * dims, (b + 1) * dims));
    } finally {
      for (const t of made) t.release();
    }
  }
}
