// Image containers, read far enough to know the size and channel layout
// before any pixel data is touched:
//   PNG   8-byte signature, then the IHDR chunk: u32be width, u32be height,
//         u8 bit depth, u8 colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha,
//         6 RGBA), u8 compression, u8 filter, u8 interlace.
//   JPEG  SOI (FF D8), then marker segments FF xx <u16be length incl. itself>;
//         the frame header SOFn holds u8 precision, u16be height, u16be width,
//         u8 component count (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK).
//   PPM   "P6" (RGB) or "P5" (gray), whitespace-separated ASCII width, height,
//         maxval ('#' comments allowed), ONE whitespace byte, then raw samples:
//         1 byte each when maxval < 256, else 2 bytes big-endian.
// Checking the size here lets a file that claims 100000x100000 fail in
// microseconds instead of after the decoder has allocated 40 GB.
// PPM pixels are decoded here too (it is three lines of arithmetic); PNG and
// JPEG pixel data go to pngjs and jpeg-js (see image.ts).

/** A decoded 8-bit image: data is [height, width, 3] row-major, RGB. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export class ImageError extends Error {
  override name = 'ImageError';
}

/** Size limits, checked from the header before the pixel data is decoded. */
export interface ImageLimits {
  /** Longest allowed side in pixels (default 4096). */
  maxSide?: number;
  /** Most pixels allowed, width * height (default 4096 * 4096 = 16 777 216). */
  maxPixels?: number;
}

export const DEFAULT_MAX_SIDE = 4096;
export const DEFAULT_MAX_PIXELS = 4096 * 4096;

export type ImageFormat = 'png' | 'jpeg' | 'ppm';

/** What a header says, before decoding. */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels stored in the file (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; a PNG palette counts as 3 or 4). */
  channels: number;
  /** Bits per stored sample. */
  bitDepth: number;
}

/** Throws when width x height is empty or over the limits; names the file and its size. */
export function checkImageSize(width: number, height: number, source: string, limits: ImageLimits = {}): void {
  const maxSide = limits.maxSide ?? DEFAULT_MAX_SIDE;
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${source}: image size ${width}x${height} is empty or invalid: width and height must be positive integers`);
  }
  if (width > maxSide || height > maxSide) {
    throw new ImageError(`${source}: image is ${width}x${height}, larger than the ${maxSide}-pixel side limit (raise maxSide to allow it)`);
  }
  if (width * height > maxPixels) {
    throw new ImageError(`${source}: image is ${width}x${height} = ${width * height} pixels, more than the ${maxPixels}-pixel limit (raise maxPixels to allow it)`);
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Recognises the container by its first bytes; names common unsupported ones. */
export function sniffFormat(bytes: Uint8Array, source: string): ImageFormat {
  const b = bytes;
  if (b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 2 && b[0] === 0x50 && b[1] >= 0x31 && b[1] <= 0x37) return 'ppm'; // "P1".."P7"
  const ascii = (from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));
  let other = '';
  if (ascii(0, 4) === 'GIF8') other = 'GIF';
  else if (ascii(0, 2) === 'BM') other = 'BMP';
  else if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') other = 'WebP';
  else if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') other = 'TIFF';
  if (other !== '') {
    throw new ImageError(`${source}: ${other} images are not supported (PNG, JPEG and PPM/PGM are)`);
  }
  if (b.length === 0) throw new ImageError(`${source}: the file is empty, not an image`);
  const head = Array.from(b.subarray(0, 8), (v) => v.toString(16).padStart(2, '0')).join(' ');
  throw new ImageError(`${source}: not a PNG, JPEG or PPM/PGM image (first bytes: ${head})`);
}

const u16be = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1];
const u32be = (b: Uint8Array, i: number): number => b[i] * 0x1000000 + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);

/** Valid PNG bit depths per colour type, and the channels each type stores. */
const PNG_LAYOUTS: Record<number, { name: string; channels: number; depths: number[] }> = {
  0: { name: 'gray', channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { name: 'RGB', channels: 3, depths: [8, 16] },
  3: { name: 'palette', channels: 3, depths: [1, 2, 4, 8] },
  4: { name: 'gray+alpha', channels: 2, depths: [8, 16] },
  6: { name: 'RGBA', channels: 4, depths: [8, 16] },
};

/** Reads the PNG signature and IHDR (the first chunk, 13 bytes of data). */
export function readPngHeader(b: Uint8Array, source: string): ImageHeader {
  if (b.length < 33) {
    throw new ImageError(`${source}: PNG is truncated: ${b.length} bytes cannot hold the signature and IHDR chunk (33 bytes)`);
  }
  const chunkLength = u32be(b, 8);
  const chunkType = String.fromCharCode(b[12], b[13], b[14], b[15]);
  if (chunkType !== 'IHDR' || chunkLength !== 13) {
    throw new ImageError(`${source}: corrupt PNG: the first chunk must be a 13-byte IHDR, found '${chunkType}' of ${chunkLength} bytes`);
  }
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  const bitDepth = b[24];
  const colourType = b[25];
  const layout = PNG_LAYOUTS[colourType];
  if (layout === undefined) {
    throw new ImageError(`${source}: PNG colour type ${colourType} is not a known channel layout (expected 0 gray, 2 RGB, 3 palette, 4 gray+alpha or 6 RGBA)`);
  }
  if (!layout.depths.includes(bitDepth)) {
    throw new ImageError(`${source}: PNG ${layout.name} image with bit depth ${bitDepth} is invalid (allowed: ${layout.depths.join(', ')})`);
  }
  return { format: 'png', width, height, channels: layout.channels, bitDepth };
}

// SOF0..SOF15 less DHT (C4), JPG (C8) and DAC (CC). jpeg-js decodes baseline
// (C0), extended (C1) and progressive (C2) Huffman-coded frames only.
const JPEG_SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const JPEG_DECODABLE_SOF = new Set([0xc0, 0xc1, 0xc2]);

/**
 * Walks the marker segments from SOI to the frame header (SOFn). Bytes that
 * are not a marker where one is due are skipped, as libjpeg does; a scan (SOS)
 * or EOI before any frame header, or running off the end, is an error.
 */
export function readJpegHeader(b: Uint8Array, source: string): ImageHeader {
  let p = 2;
  while (p + 1 < b.length) {
    if (b[p] !== 0xff) {
      p++;
      continue;
    }
    const marker = b[p + 1];
    // Fill bytes, a repeated SOI, TEM and RSTn stand alone (no length field).
    if (marker === 0xff) { p++; continue; }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { p += 2; continue; }
    if (marker === 0x00) { p += 2; continue; }
    if (marker === 0xd9) throw new ImageError(`${source}: corrupt JPEG: end of image (EOI) before any frame header (SOF)`);
    if (marker === 0xda) throw new ImageError(`${source}: corrupt JPEG: scan data (SOS) before any frame header (SOF)`);
    if (p + 4 > b.length) break;
    const length = u16be(b, p + 2);
    if (length < 2) throw new ImageError(`${source}: corrupt JPEG: segment FF${marker.toString(16).toUpperCase()} at offset ${p} has length ${length} (< 2)`);
    if (JPEG_SOF.has(marker)) {
      if (length < 8 || p + 10 > b.length) break;
      const kind = `SOF${marker - 0xc0}`;
      const precision = b[p + 4];
      const height = u16be(b, p + 5);
      const width = u16be(b, p + 7);
      const channels = b[p + 9];
      if (!JPEG_DECODABLE_SOF.has(marker)) {
        const why = marker === 0xc3 || marker === 0xc7 || marker === 0xcb || marker === 0xcf ? 'lossless' : marker >= 0xc9 ? 'arithmetic-coded' : 'hierarchical';
        throw new ImageError(`${source}: ${why} JPEG (${kind}) is not supported: only baseline, extended and progressive Huffman JPEGs are`);
      }
      if (precision !== 8) throw new ImageError(`${source}: ${precision}-bit JPEG is not supported (only 8-bit samples)`);
      if (height === 0) throw new ImageError(`${source}: JPEG frame header gives height 0 (height set later by a DNL marker), which is not supported`);
      return { format: 'jpeg', width, height, channels, bitDepth: 8 };
    }
    p += 2 + length;
  }
  throw new ImageError(`${source}: JPEG is truncated: no frame header (SOF) in its ${b.length} bytes`);
}

interface PpmHeader extends ImageHeader {
  maxval: number;
  /** Offset of the first pixel byte. */
  dataOffset: number;
}

const PNM_NAMES: Record<string, string> = {
  P1: 'ASCII PBM (P1, 1-bit)',
  P2: 'ASCII PGM (P2)',
  P3: 'ASCII PPM (P3)',
  P4: 'binary PBM (P4, 1-bit)',
  P7: 'PAM (P7)',
};

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;

/** Reads "P6"/"P5", width, height, maxval and the single whitespace byte after maxval. */
export function readPpmHeader(b: Uint8Array, source: string): PpmHeader {
  const magic = String.fromCharCode(b[0], b[1]);
  if (magic !== 'P5' && magic !== 'P6') {
    throw new ImageError(`${source}: ${PNM_NAMES[magic] ?? magic} images are not supported: only binary PPM (P6, RGB) and PGM (P5, gray) are`);
  }
  const fields: number[] = [];
  let p = 2;
  while (fields.length < 3) {
    // Whitespace and '#' comments (to end of line) may separate the fields.
    while (p < b.length && (isSpace(b[p]) || b[p] === 0x23)) {
      if (b[p] === 0x23) while (p < b.length && b[p] !== 0x0a && b[p] !== 0x0d) p++;
      else p++;
    }
    if (p >= b.length) throw new ImageError(`${source}: ${magic} header is truncated: found ${fields.length} of width, height, maxval`);
    let value = 0;
    const start = p;
    while (p < b.length && b[p] >= 0x30 && b[p] <= 0x39 && p - start < 10) value = value * 10 + (b[p++] - 0x30);
    if (p === start || p - start >= 10 || (p < b.length && !isSpace(b[p]) && b[p] !== 0x23)) {
      const field = ['width', 'height', 'maxval'][fields.length];
      throw new ImageError(`${source}: corrupt ${magic} header: ${field} at offset ${start} is not a decimal number of at most 9 digits`);
    }
    fields.push(value);
  }
  if (p >= b.length || !isSpace(b[p])) {
    throw new ImageError(`${source}: ${magic} header is truncated or corrupt: maxval must be followed by exactly one whitespace byte`);
  }
  const [width, height, maxval] = fields;
  if (maxval < 1 || maxval > 65535) throw new ImageError(`${source}: ${magic} maxval ${maxval} is out of range 1..65535`);
  return {
    format: 'ppm',
    width,
    height,
    channels: magic === 'P6' ? 3 : 1,
    bitDepth: maxval < 256 ? 8 : 16,
    maxval,
    dataOffset: p + 1,
  };
}

/** Decodes a P6/P5 file (header already size-checked) to 8-bit RGB: v8 = round(v * 255 / maxval). */
export function decodePpmPixels(b: Uint8Array, h: PpmHeader, source: string): RgbImage {
  const n = h.width * h.height;
  const sampleBytes = h.maxval < 256 ? 1 : 2;
  const expected = n * h.channels * sampleBytes;
  const got = b.length - h.dataOffset;
  if (got < expected) {
    throw new ImageError(`${source}: PPM/PGM is truncated: ${h.width}x${h.height} needs ${expected} bytes of pixel data, found ${got}`);
  }
  if (got > expected) {
    throw new ImageError(`${source}: ${got - expected} unexpected bytes after the ${h.width}x${h.height} pixel data (multi-image PPM files are not supported)`);
  }
  // Lookup from stored sample to 8 bits; identity when maxval = 255.
  const lut = new Uint8Array(h.maxval + 1);
  for (let v = 0; v <= h.maxval; v++) lut[v] = Math.round((v * 255) / h.maxval);
  const out = new Uint8Array(n * 3);
  const px = b.subarray(h.dataOffset);
  for (let i = 0; i < n * h.channels; i++) {
    const raw = sampleBytes === 1 ? px[i] : (px[2 * i] << 8) | px[2 * i + 1];
    if (raw > h.maxval) {
      throw new ImageError(`${source}: corrupt PPM/PGM: sample ${i} is ${raw}, above maxval ${h.maxval}`);
    }
    const v = lut[raw];
    if (h.channels === 3) out[i] = v;
    else out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
  }
  return { width: h.width, height: h.height, data: out };
}
