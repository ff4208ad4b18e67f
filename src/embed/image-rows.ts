// Interleaved image + text sequences for the decoder (LLaVA / Qwen-VL style).
//
// A text names where its images go with the placeholder "<image>", once per
// image, in order. Tokenizing expands each placeholder to P = (S / p)^2
// copies of the vision config's image_token_id, one row per image patch:
//
//   "<image>\nSummarize the above image in one word:"
//   -> [img x P] + encode("\nSummarize the above image in one word:")
//
// The text between placeholders is encoded piece by piece, so no BPE merge
// crosses an image, and the placeholder needs no entry in the vocabulary.
// The decoder then replaces the embedding lookup on those P rows with the
// projector's P image token embeddings (DecoderInput.images).
//
// Batches are left-padded like text (batch.ts): image i of the batch starts
// at flattened row at[i] = b * T + (T - len_b) + offset, and its normalised
// pixels [S, S, 3] are stacked in the same order into [nImages, S, S, 3].
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { RgbImage } from '../io/image-formats.ts';
import { normalizeImage } from '../io/image-pixels.ts';
import { resizeImage } from '../io/image-resize.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { TrainInput } from '../model/forward.ts';
import { visionDims, visionForward, type VisionConfig, type VisionModel } from '../model/vision.ts';
import { padLeft, uploadRows, type PaddedRows } from './batch.ts';

export const IMAGE_PLACEHOLDER = '<image>';

/** One sequence: token ids (P image-token ids per image) and where each image's rows start. */
export interface ImageRow {
  ids: number[];
  images: { offset: number; pixels: Float32Array }[];
}

/** A row without images is a plain id list; with images, an ImageRow. */
export type SequenceRow = number[] | ImageRow;

export class ImageInputError extends Error {
  override name = 'ImageInputError';
}

export const rowIds = (r: SequenceRow): number[] => (Array.isArray(r) ? r : r.ids);
export const rowImages = (r: SequenceRow): ImageRow['images'] => (Array.isArray(r) ? [] : r.images);

/** How many times the placeholder occurs in a text. */
export function countPlaceholders(text: string): number {
  return text.split(IMAGE_PLACEHOLDER).length - 1;
}

/**
 * Tokenizes a text with `<image>` placeholders, one per entry of `pixels`
 * (each already normalised, [S, S, 3]); `where` names the input in errors.
 */
export function tokenizeWithImages(tok: Tokenizer, text: string, pixels: readonly Float32Array[], cfg: VisionConfig, where: string): ImageRow {
  const pieces = text.split(IMAGE_PLACEHOLDER);
  if (pieces.length - 1 !== pixels.length) {
    throw new ImageInputError(`${where}: ${pieces.length - 1} "${IMAGE_PLACEHOLDER}" placeholder(s) in the text for ${pixels.length} image(s)`);
  }
  const { numPatches: P } = visionDims(cfg);
  const want = cfg.imageSize * cfg.imageSize * cfg.channels;
  const ids: number[] = [];
  const images: ImageRow['images'] = [];
  pieces.forEach((piece, i) => {
    if (piece.length > 0) ids.push(...tok.encode(piece));
    if (i === pixels.length) return;
    if (pixels[i].length !== want) {
      throw new ImageInputError(`${where}: image ${i} has ${pixels[i].length} values, the vision encoder needs ${cfg.imageSize}x${cfg.imageSize}x${cfg.channels} = ${want}`);
    }
    images.push({ offset: ids.length, pixels: pixels[i] });
    for (let p = 0; p < P; p++) ids.push(cfg.imageTokenId);
  });
  return { ids, images };
}

/** An RGB image as the vision encoder reads it: resized to S x S (padded to a square) and normalised. */
export function imagePixels(img: RgbImage, cfg: VisionConfig): Float32Array {
  const sized = img.width === cfg.imageSize && img.height === cfg.imageSize ? img : resizeImage(img, cfg.imageSize, { fit: 'pad', padValue: 0 });
  return normalizeImage(sized, cfg.imageMean, cfg.imageStd);
}

export interface PaddedSequences extends PaddedRows {
  /** First flattened row (b * T + t) of every image, in row order. */
  at: number[];
  /** The images' pixels stacked [nImages, S, S, 3]. */
  pixels: Float32Array;
}

/** Left-pads rows with or without images (see the header for `at`). */
export function padLeftSequences(rows: readonly SequenceRow[]): PaddedSequences {
  const padded = padLeft(rows.map(rowIds));
  const at: number[] = [];
  const chunks: Float32Array[] = [];
  rows.forEach((r, b) => {
    const start = b * padded.T + padded.T - rowIds(r).length;
    for (const im of rowImages(r)) {
      at.push(start + im.offset);
      chunks.push(im.pixels);
    }
  });
  const pixels = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) (pixels.set(c, o), (o += c.length));
  return { ...padded, at, pixels };
}

/**
 * Uploads a padded batch as the decoder's input; when it has images, runs the
 * (frozen) vision encoder on them and attaches their token embeddings.
 * `release()` frees everything uploaded or computed here.
 */
export function uploadSequences(gpu: Gpu, p: PaddedSequences, vision: VisionModel | undefined): { input: TrainInput; release(): void } {
  const input = uploadRows(gpu, p);
  const made: Tensor[] = [input.ids, input.mask, input.pos];
  if (p.at.length > 0) {
    if (!vision) throw new ImageInputError(`a batch has ${p.at.length} image(s) but no vision encoder is loaded (the model folder needs vision_config.json and vision_model.safetensors)`);
    const { imageSize: S, channels } = vision.config;
    const px = gpu.tensor(p.pixels, [p.at.length, S, S, channels], 'f32', 'batch.pixels');
    const embeds = visionForward(gpu, vision, px);
    px.release();
    made.push(embeds);
    input.images = { P: visionDims(vision.config).numPatches, at: p.at, embeds };
  }
  return { input, release: () => made.forEach((t) => t.release()) };
}
