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
// Images: an item {image, text?} is read (PNG/JPEG/PPM file or RGB array),
// resized and normalised for the vision encoder, and placed in the sequence
// by its prompt's "<image>" placeholder (image-rows.ts), which becomes P image
// token rows filled by the encoder + projector; the rest is as for text.
//
// Batching by length: items are sorted by token count so a batch pads little;
// results come back in input order. Too-long text is cut in its middle part:
// the prompt's text before and after {text} is kept whole, since the pooled
// last token must stay the prompt's last token.
import { Gpu } from '../gpu/gpu.ts';
import type { AcquireOptions } from '../gpu/device.ts';
import type { FolderSource } from '../io/files.ts';
import { loadModelFolder, releaseModelFolder, type LoadedModel } from '../model/model-folder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { Decoder } from '../model/decoder.ts';
import { decoderForward } from '../model/forward.ts';
import type { DecoderLora } from '../model/lora.ts';
import { prefixColumns } from '../ops/contrastive.ts';
import { l2norm } from '../ops/l2norm.ts';
import { lastTokenPool, meanPool } from '../ops/pooling.ts';
import type { RgbImage } from '../io/image-formats.ts';
import type { VisionModel } from '../model/vision.ts';
import { imagePixels, padLeftSequences, rowIds, tokenizeWithImages, uploadSequences, type SequenceRow } from './image-rows.ts';
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

/** An image file's path (PNG, JPEG, PPM) or decoded RGB samples. */
export type ImageSource = string | RgbImage;

/** A text, token ids used exactly as given, or an image with an optional text. */
export type EmbedInput = string | { ids: ArrayLike<number> } | { image: ImageSource; text?: string };

export interface EmbedderLoadOptions {
  /**
   * Where to run: a Gpu, a GPUDevice of the caller's, or options to get a
   * device of its own (Dawn in Node, navigator.gpu in browsers and Deno,
   * `gpu` for any other WebGPU object such as bun-webgpu's). Default: find one.
   */
  gpu?: Gpu | GPUDevice | AcquireOptions;
  /** A PEFT LoRA adapter folder (path, URL or files) to apply. */
  adapter?: FolderSource;
  /** Load the folder's vision encoder when it has one. Default true. */
  vision?: boolean;
}

function isGpuDevice(x: unknown): x is GPUDevice {
  return typeof x === 'object' && x !== null && typeof (x as GPUDevice).createBuffer === 'function' && typeof (x as GPUDevice).createComputePipeline === 'function';
}

/** readImage loaded on first use, so the PNG/JPEG decoders stay out of browser bundles that never read an image file. */
async function readImageFile(path: string, where: string): Promise<RgbImage> {
  let image: typeof import('../io/image.ts');
  try {
    image = await import('../io/image.ts');
  } catch (err) {
    throw new EmbedInputError(`${where}: cannot read the image file "${path}" in this runtime (${(err as Error).message}); pass decoded RGB pixels { width, height, data } instead`);
  }
  return image.readImage(path);
}

export class Embedder {
  /** What load() made and dispose() frees; undefined for an Embedder built from parts. */
  #owned: { loaded: LoadedModel; gpu: Gpu | null } | undefined;

  /**
   * Loads a model folder (config.json, model.safetensors, tokenizer.json,
   * optionally the vision encoder) from a path (Node, Deno, Bun), a URL or
   * files in memory (File, Blob, ArrayBuffer; see io/files.ts), with an
   * optional LoRA adapter. dispose() frees it (and the device, when load made one).
   */
  static async load(source: FolderSource, opts: EmbedderLoadOptions = {}): Promise<Embedder> {
    const given = opts.gpu;
    const ownGpu = !(given instanceof Gpu);
    const gpu = given instanceof Gpu ? given : isGpuDevice(given) ? await Gpu.fromDevice(given) : await Gpu.create(given ?? {});
    try {
      const loaded = await loadModelFolder(gpu, source, { adapter: opts.adapter, vision: opts.vision });
      let embedder: Embedder;
      try {
        embedder = new Embedder(gpu, loaded.model, loaded.tokenizer, loaded.lora, loaded.vision);
      } catch (err) {
        releaseModelFolder(loaded);
        throw err;
      }
      embedder.#owned = { loaded, gpu: ownGpu ? gpu : null };
      return embedder;
    } catch (err) {
      if (ownGpu) gpu.destroy();
      throw err;
    }
  }

  /** Frees what load() made: the weights, and the Gpu when load() created it. No-op for an Embedder built from parts. */
  dispose(): void {
    const owned = this.#owned;
    if (!owned) return;
    this.#owned = undefined;
    releaseModelFolder(owned.loaded);
    owned.gpu?.destroy();
  }

  constructor(
    readonly gpu: Gpu,
    readonly model: Decoder,
    readonly tokenizer: Tokenizer,
    readonly lora?: DecoderLora,
    /** The vision encoder + projector, for inputs with images. */
    readonly vision?: VisionModel,
  ) {
    if (vision && (vision.config.imageTokenId >= model.config.vocab || vision.config.outHidden !== model.config.hidden)) {
      throw new EmbedInputError(`the vision encoder does not fit the decoder: image_token_id ${vision.config.imageTokenId} must be below vocab_size ${model.config.vocab}, ` +
        `out_hidden_size ${vision.config.outHidden} must equal hidden_size ${model.config.hidden}`);
    }
  }

  /** Token ids of one input after prompting and truncation. `where` names it in errors. */
  tokenize(input: string | { ids: ArrayLike<number> }, opts: EmbedOptions = {}, where = 'input'): number[] {
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

  /**
   * One input as the decoder reads it: ids, or ids and images for an image
   * input (the file is read here). `where` names it in errors.
   */
  async prepare(input: EmbedInput, opts: EmbedOptions = {}, where = 'input'): Promise<SequenceRow> {
    if (typeof input === 'string' || 'ids' in input) return this.tokenize(input, opts, where);
    const { vision } = this;
    if (!vision) throw new EmbedInputError(`${where}: an image input needs a vision encoder (vision_config.json and vision_model.safetensors beside the model)`);
    if (input.text !== undefined && (typeof input.text !== 'string' || input.text.length === 0)) {
      throw new EmbedInputError(`${where}: "text" beside an image must be a non-empty string`);
    }
    const img = typeof input.image === 'string' ? await readImageFile(input.image, where) : input.image;
    const template = resolvePrompt(opts.prompt ?? 'none', input.text === undefined ? 'image' : 'image+text');
    const row = tokenizeWithImages(this.tokenizer, applyPrompt(template, input.text ?? '', opts.chat), [imagePixels(img, vision.config)], vision.config, where);
    const max = opts.maxLength ?? this.model.config.maxPositions;
    if (row.ids.length > max) throw new EmbedInputError(`${where}: ${row.ids.length} tokens (the image's rows and the prompt included), more than maxLength ${max}; an image cannot be cut`);
    return row;
  }

  /** Embeds the inputs; returns one Float32Array per input, in input order. */
  async embed(inputs: readonly EmbedInput[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    return this.embedRows(await Promise.all(inputs.map((x, i) => this.prepare(x, opts, `input ${i}`))), opts);
  }

  /** Embeds already prepared rows (prepare()); one Float32Array per row, in order. */
  async embedRows(tokens: readonly SequenceRow[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    const C = this.model.config.hidden;
    const dims = opts.dimensions ?? C;
    if (!Number.isInteger(dims) || dims < 1 || dims > C) throw new RangeError(`dimensions ${dims} must be an integer in [1, ${C}]`);
    const batchSize = opts.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize ${batchSize} must be a positive integer`);
    const len = (i: number) => rowIds(tokens[i]).length;
    // longest first, ties by index: the order (and so every batch) is deterministic
    const order = tokens.map((_, i) => i).sort((a, b) => len(b) - len(a) || a - b);
    const out: Float32Array[] = new Array(tokens.length);
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      const rows = await this.#embedBatch(idx.map((i) => tokens[i]), opts, dims);
      idx.forEach((i, b) => (out[i] = rows[b]));
    }
    return out;
  }

  /** One left-padded batch through the decoder and the pooling. */
  async #embedBatch(rows: SequenceRow[], opts: EmbedOptions, dims: number): Promise<Float32Array[]> {
    const { gpu } = this;
    const C = this.model.config.hidden;
    const made: Tensor[] = [];
    const keep = <X extends Tensor>(t: X): X => (made.push(t), t);
    const uploaded = uploadSequences(gpu, padLeftSequences(rows), this.vision);
    try {
      const { input } = uploaded;
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
      uploaded.release();
    }
  }
}
