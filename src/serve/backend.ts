// What the server needs of a model: an id, its width and token limit, a
// tokenizer and a batched embed. embedderBackend() makes one from an Embedder
// (the CLI's case); tests may hand the server anything of this shape.
//
// Text goes through the served prompt template (and ChatML) and is never cut:
// a text over maxTokens is refused (400), as OpenAI refuses it, instead of
// being embedded truncated. Token ids are used exactly as given. Embeddings
// come back L2-normalised at full width; the server truncates (Matryoshka
// `dimensions`) and re-normalises per request, so requests with different
// `dimensions` share batches:
//   normalise(e[:d]) = normalise((e / ||e||)[:d])      for any d <= C.
import type { ChatFormat } from '../embed/prompt.ts';
import type { Embedder, Pooling } from '../embed/embedder.ts';

export interface EmbeddingBackend {
  /** The model name that requests must give. */
  readonly id: string;
  /** Embedding width C (the decoder's hidden size). */
  readonly hidden: number;
  /** Most tokens per input (prompt tokens included). */
  readonly maxTokens: number;
  /** The ids of a text (prompt applied, not cut) or checked ids; throws EmbedInputError naming `where`. */
  tokenize(input: string | { ids: number[] }, where: string): number[];
  /** Unit-norm embeddings [C] of id rows, one per row, in order (one batch). */
  embedRows(rows: number[][]): Promise<Float32Array[]>;
}

export interface ServedModelOptions {
  id: string;
  prompt: string;
  chat: ChatFormat;
  pooling: Pooling;
  /** Default and maximum: the model's max_position_embeddings. */
  maxTokens?: number;
}

export function embedderBackend(embedder: Embedder, o: ServedModelOptions): EmbeddingBackend {
  const { hidden, maxPositions } = embedder.model.config;
  const maxTokens = o.maxTokens ?? maxPositions;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > maxPositions) {
    throw new RangeError(`max tokens ${maxTokens} must be an integer in [1, ${maxPositions}] (the model's max_position_embeddings)`);
  }
  const tokenizeOpts = { prompt: o.prompt, chat: o.chat, maxLength: Infinity };
  return {
    id: o.id,
    hidden,
    maxTokens,
    tokenize: (input, where) => embedder.tokenize(input, tokenizeOpts, where),
    embedRows: (rows) => embedder.embedRows(rows, { pooling: o.pooling, normalize: true, batchSize: Math.max(rows.length, 1) }),
  };
}
