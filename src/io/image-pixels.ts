// Pixels without codecs: RGB arrays as images, and the float input a vision
// tower reads. Nothing here touches a file or a codec, so it runs in every
// runtime (image.ts adds file reading and PNG/JPEG decoding for Node, Deno, Bun).
//
// Normalisation: x = (v / 255 - mean[c]) / std[c] in float32, laid out
// [height, width, 3] row-major (channel fastest), the order a ViT patchify
// reads. Each step is rounded to float32 the way the numpy-based Hugging Face
// image processors compute it: f32(f64(v) * (1/255)), then (x - f32(mean)) / f32(std)
// in float32 (checked bit for bit against numpy for all 256 levels, CLIP preset).
import { ImageError, checkImageSize, type ImageLimits, type RgbImage } from './image-formats.ts';

/** Mean and std per RGB channel, on the 0..1 scale, of the common vision towers. */
export const NORMALIZE_PRESETS = {
  /** OpenAI CLIP (and most CLIP-derived towers). */
  clip: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
  /** SigLIP / SigLIP 2: maps 0..255 to -1..1. */
  siglip: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  /** torchvision ImageNet statistics (DINOv2, many CNNs). */
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
} as const satisfies Record<string, { mean: readonly number[]; std: readonly number[] }>;

/**
 * Wraps raw samples [height, width, 3] (RGB, row-major, 0..255 integers) as an
 * RgbImage, copying them. `source` names the array in errors.
 */
export function fromRgbArray(data: ArrayLike<number>, width: number, height: number, source: string, limits: ImageLimits = {}): RgbImage {
  checkImageSize(width, height, source, limits);
  const n = width * height;
  if (data.length !== n * 3) {
    const perPixel = data.length / n;
    const hint =
      perPixel === 1 ? ' (1 value per pixel: gray? repeat it to RGB)' :
      perPixel === 2 ? ' (2 values per pixel: gray+alpha?)' :
      perPixel === 4 ? ' (4 values per pixel: RGBA? drop or composite the alpha first)' :
      Number.isInteger(perPixel) ? ` (${perPixel} values per pixel)` : '';
    throw new ImageError(`${source}: a ${width}x${height} RGB array needs width*height*3 = ${n * 3} values, found ${data.length}${hint}`);
  }
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) {
    return { width, height, data: new Uint8Array(data) };
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n * 3; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      const px = Math.floor(i / 3);
      throw new ImageError(`${source}: value ${v} at index ${i} (row ${Math.floor(px / width)}, column ${px % width}, channel ${'RGB'[i % 3]}) is not an integer in 0..255`);
    }
    out[i] = v;
  }
  return { width, height, data: out };
}

/**
 * (v / 255 - mean[c]) / std[c] for every sample: Float32Array [height, width, 3].
 * Rounded to float32 after the rescale, the subtraction and the division, as
 * numpy does in the Hugging Face processors.
 */
export function normalizeImage(img: RgbImage, mean: readonly number[], std: readonly number[]): Float32Array {
  const { width, height, data } = img;
  if (data.length !== width * height * 3) {
    throw new ImageError(`normalizeImage: ${width}x${height} RGB image needs ${width * height * 3} bytes, has ${data.length}`);
  }
  if (mean.length !== 3 || std.length !== 3) {
    throw new ImageError(`normalizeImage: mean and std need 3 values (R, G, B), got ${mean.length} and ${std.length}`);
  }
  for (let c = 0; c < 3; c++) {
    if (!Number.isFinite(mean[c]) || !Number.isFinite(std[c]) || std[c] <= 0) {
      throw new ImageError(`normalizeImage: channel ${'RGB'[c]} has mean ${mean[c]}, std ${std[c]}: need finite values and std > 0`);
    }
  }
  // One 256-entry table per channel: [3, 256].
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let v = 0; v < 256; v++) {
      const x = Math.fround(v * (1 / 255));
      lut[c * 256 + v] = Math.fround(Math.fround(x - m) / s);
    }
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    out[i] = lut[data[i]];
    out[i + 1] = lut[256 + data[i + 1]];
    out[i + 2] = lut[512 + data[i + 2]];
  }
  return out;
}
