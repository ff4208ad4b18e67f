// Image inputs for the vision tower: files (PNG, JPEG, binary PPM/PGM) and raw
// RGB arrays become RgbImage { width, height, data: [height, width, 3] u8 },
// then resizeImage (image-resize.ts) and normalizeImage give the float input.
//
// Decoding: the container is recognised by its magic bytes, its header read
// (image-formats.ts) and the size checked against the limits BEFORE any pixel
// data is decoded. PNG pixels come from pngjs, JPEG from jpeg-js; whatever
// those throw on a corrupt or truncated file is rethrown as ImageError naming
// the file.
// Channel layouts, all to 8-bit RGB:
//   gray             -> (g, g, g)
//   RGB, palette     -> as is (a palette is looked up)
//   gray+alpha, RGBA, or a tRNS transparency chunk -> composited over white:
//       c' = round((c * a + 255 * (255 - a)) / 255)
//     so opaque pixels are unchanged and fully transparent ones are white.
//     (PIL's convert('RGB') drops alpha instead, showing whatever colour the
//     transparent pixels hold, often black; white matches the padding colour
//     and what a viewer shows.)
//   16-bit samples   -> round(v * 255 / 65535) (pngjs; the same as round(v / 257))
//   PPM maxval m     -> round(v * 255 / m)
//   JPEG: 1 (gray) or 3 (YCbCr/RGB) components; 4 (CMYK/YCCK) or any other
//   count is refused, as are lossless/arithmetic/12-bit JPEGs.
// Not applied: PNG gAMA/iCCP/sRGB colour management and the EXIF orientation
// tag (pixels are used as stored, as PIL's Image.open does).
//
// Normalisation and RGB arrays: image-pixels.ts (codec-free, every runtime).
import { readFile, stat } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import {
  DEFAULT_MAX_PIXELS,
  ImageError,
  checkImageSize,
  decodePpmPixels,
  readJpegHeader,
  readPngHeader,
  readPpmHeader,
  sniffFormat,
  type ImageHeader,
  type ImageLimits,
  type RgbImage,
} from './image-formats.ts';

export { NORMALIZE_PRESETS, fromRgbArray, normalizeImage } from './image-pixels.ts';
export { ImageError, DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, type ImageFormat, type ImageHeader, type ImageLimits, type RgbImage } from './image-formats.ts';
export { resample, resizeImage, type ResampleFilter, type ResizeOptions, type SquareFit } from './image-resize.ts';

/** A file larger than this (default 256 MiB) is refused before it is read. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

export interface ReadImageOptions extends ImageLimits {
  maxFileBytes?: number;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads only the header: format, size, stored channels and bit depth. */
export function probeImage(bytes: Uint8Array, source: string): ImageHeader {
  const format = sniffFormat(bytes, source);
  if (format === 'png') return readPngHeader(bytes, source);
  if (format === 'jpeg') return readJpegHeader(bytes, source);
  return readPpmHeader(bytes, source);
}

/** Decodes a PNG, JPEG or PPM/PGM file's bytes to 8-bit RGB; `source` names the file in errors. */
export function decodeImage(bytes: Uint8Array, source: string, limits: ImageLimits = {}): RgbImage {
  const format = sniffFormat(bytes, source);
  if (format === 'png') {
    const header = readPngHeader(bytes, source);
    checkImageSize(header.width, header.height, source, limits);
    return decodePng(bytes, header, source);
  }
  if (format === 'jpeg') {
    const header = readJpegHeader(bytes, source);
    if (header.channels !== 1 && header.channels !== 3) {
      const what = header.channels === 4 ? '4 colour components (CMYK/YCCK)' : `${header.channels} colour components`;
      throw new ImageError(`${source}: JPEG with ${what} is not supported: expected 1 (gray) or 3 (YCbCr/RGB)`);
    }
    checkImageSize(header.width, header.height, source, limits);
    return decodeJpeg(bytes, header, source);
  }
  const header = readPpmHeader(bytes, source);
  checkImageSize(header.width, header.height, source, limits);
  return decodePpmPixels(bytes, header, source);
}

function decodePng(bytes: Uint8Array, header: ImageHeader, source: string): RgbImage {
  let png: { width: number; height: number; data: Uint8Array };
  try {
    // pngjs expands every layout to RGBA, 8 bits per sample.
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new ImageError(`${source}: corrupt or truncated PNG (${message(err)})`, { cause: err });
  }
  const { width, height } = header;
  if (png.width !== width || png.height !== height || png.data.length !== width * height * 4) {
    throw new ImageError(`${source}: corrupt PNG: header says ${width}x${height}, the decoder returned ${png.width}x${png.height} with ${png.data.length} bytes`);
  }
  const n = width * height;
  const rgba = png.data;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[4 * i + c];
      // round((v a + 255 (255 - a)) / 255); the +127 rounds (255 is odd, so no ties).
      out[3 * i + c] = a === 255 ? v : Math.floor((v * a + 255 * (255 - a) + 127) / 255);
    }
  }
  return { width, height, data: out };
}

function decodeJpeg(bytes: Uint8Array, header: ImageHeader, source: string): RgbImage {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    // formatAsRGBA: false gives [h, w, 3] RGB, gray replicated to three channels.
    img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.ceil((header.width * header.height) / 1e6) + 1,
    });
  } catch (err) {
    throw new ImageError(`${source}: corrupt or truncated JPEG (${message(err)})`, { cause: err });
  }
  const { width, height } = header;
  if (img.width !== width || img.height !== height || img.data.length !== width * height * 3) {
    throw new ImageError(`${source}: corrupt JPEG: header says ${width}x${height}, the decoder returned ${img.width}x${img.height} with ${img.data.length} bytes`);
  }
  return { width, height, data: img.data };
}

/** Reads and decodes an image file; every failure is an ImageError naming the path. */
export async function readImage(path: string, opts: ReadImageOptions = {}): Promise<RgbImage> {
  const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new ImageError(`${path}: cannot read image (${message(err)})`, { cause: err });
  }
  if (size > maxFileBytes) {
    throw new ImageError(`${path}: file is ${size} bytes, more than the ${maxFileBytes}-byte limit for an image (raise maxFileBytes to allow it)`);
  }
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new ImageError(`${path}: cannot read image (${message(err)})`, { cause: err });
  }
  return decodeImage(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path, opts);
}

/** 8-bit RGB PNG (colour type 2) of img, via pngjs. */
export function encodePng(img: RgbImage): Uint8Array {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || data.length !== width * height * 3) {
    throw new ImageError(`encodePng: need a positive size and width*height*3 bytes, got ${width}x${height} with ${data.length} bytes`);
  }
  const png = new PNG();
  png.width = width;
  png.height = height;
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const bytes = PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
