// Resampling, written to give the same bytes as Pillow's Image.resize (its
// libImaging/Resample.c) for 8-bit RGB, so vision towers trained on
// PIL-preprocessed images see the same inputs here.
//
// Separable convolution, one axis at a time (horizontal pass, then vertical;
// a pass is skipped when that side keeps its size). For output index i on an
// axis of in -> out pixels:
//   scale       = in / out
//   filterscale = max(scale, 1)             // widen the kernel when shrinking
//   support     = filter.support * filterscale
//   center      = (i + 0.5) * scale         // in input pixel units
//   taps x in [trunc(center - support + 0.5), trunc(center + support + 0.5)) clamped to [0, in)
//   w(x)        = filter((x - center + 0.5) / filterscale), then divided by sum(w)
// so downscaling is antialiased: 'bilinear' becomes a triangle filter whose
// support grows with the reduction factor (PIL BILINEAR, the SigLIP reference),
// 'box' becomes an area average (4x4 -> 2x2 averages 2x2 blocks), 'bicubic'
// (a = -0.5, PIL BICUBIC, the CLIP reference) a widened cubic. Near the borders
// the taps that fall outside are dropped and the rest renormalised.
// Weights are fixed point like PIL's: k = round(w * 2^22); each output is
// (2^21 + sum(pixel * k)) >> 22 clamped to 0..255, and the horizontal pass is
// stored as 8 bits before the vertical pass reads it.
import { ImageError, type RgbImage } from './image-formats.ts';

export type ResampleFilter = 'bilinear' | 'box' | 'bicubic';

/** How a non-square image becomes square before resizing. */
export type SquareFit = 'pad' | 'crop' | 'stretch';

export interface ResizeOptions {
  /**
   * 'pad' (default): centre the image on a max(w, h) square filled with
   * padValue, so nothing is cut off (objects near the edges still count).
   * 'crop': keep the centred min(w, h) square (CLIP-style centre crop).
   * 'stretch': resize each side on its own, changing the aspect ratio (SigLIP's processor does this).
   */
  fit?: SquareFit;
  /** Default 'bilinear'. */
  filter?: ResampleFilter;
  /** Gray level of the padding, 0..255; default 255 (white, the same background transparent pixels get). */
  padValue?: number;
}

interface Filter {
  support: number;
  weight: (x: number) => number;
}

const FILTERS: Record<ResampleFilter, Filter> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 22; // 32 - 8 - 2, as PIL
const HALF = 1 << (PRECISION_BITS - 1);

/** Fixed-point taps for one axis: output i reads `count[i]` inputs from `first[i]` with weights kk[i * ksize ..]. */
interface AxisCoefficients {
  ksize: number;
  first: Int32Array;
  count: Int32Array;
  kk: Int32Array;
}

function axisCoefficients(inSize: number, outSize: number, filter: Filter): AxisCoefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      w[x] = filter.weight((x + xmin - center + 0.5) / filterscale);
      sum += w[x];
    }
    for (let x = 0; x < n; x++) {
      const v = sum !== 0 ? w[x] / sum : w[x];
      // Round half away from zero, as PIL's normalize_coeffs_8bpc.
      kk[i * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    first[i] = xmin;
    count[i] = n;
  }
  return { ksize, first, count, kk };
}

/** (2^21 + acc) >> 22, clamped to a byte. acc stays within +-2^31 for these filters. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Rows [rowFirst, rowFirst + rows) of src [h, w, 3] resampled along x -> [rows, outW, 3]. */
function horizontalPass(src: Uint8Array, w: number, rowFirst: number, rows: number, outW: number, c: AxisCoefficients): Uint8Array {
  const out = new Uint8Array(rows * outW * 3);
  for (let y = 0; y < rows; y++) {
    const rowBase = (rowFirst + y) * w * 3;
    for (let i = 0; i < outW; i++) {
      const k0 = i * c.ksize;
      const n = c.count[i];
      taps(src, rowBase + c.first[i] * 3, 3, c.kk, k0, n, out, (y * outW + i) * 3);
    }
  }
  return out;
}

/**
 * One output pixel: the n taps src[p + t * step] (RGB) weighted by
 * kk[k0 + t], summed from HALF (rounding) and clipped to 8 bits into out[o..o+2].
 */
function taps(src: Uint8Array, p: number, step: number, kk: Int32Array, k0: number, n: number, out: Uint8Array, o: number): void {
  let r = HALF;
  let g = HALF;
  let b = HALF;
  for (let t = 0; t < n; t++, p += step) {
    const k = kk[k0 + t];
    r += src[p] * k;
    g += src[p + 1] * k;
    b += src[p + 2] * k;
  }
  out[o] = clip8(r);
  out[o + 1] = clip8(g);
  out[o + 2] = clip8(b);
}

/** src [h, w, 3] resampled along y -> [outH, w, 3]; `shift` is subtracted from each tap's row. */
function verticalPass(src: Uint8Array, w: number, outH: number, c: AxisCoefficients, shift: number): Uint8Array {
  const out = new Uint8Array(outH * w * 3);
  const stride = w * 3;
  for (let j = 0; j < outH; j++) {
    const k0 = j * c.ksize;
    const n = c.count[j];
    const rowBase = (c.first[j] - shift) * stride;
    for (let x = 0; x < w; x++) {
      taps(src, rowBase + x * 3, stride, c.kk, k0, n, out, (j * w + x) * 3);
    }
  }
  return out;
}

function checkRgbImage(img: RgbImage, what: string): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(`${what}: image size ${width}x${height} is invalid: width and height must be positive integers`);
  }
  if (data.length !== width * height * 3) {
    throw new ImageError(`${what}: ${width}x${height} RGB image needs ${width * height * 3} bytes, has ${data.length}`);
  }
}

function checkSize(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || n > 65536) {
    throw new ImageError(`${what}: target size ${n} must be an integer in 1..65536`);
  }
}

/** Resamples img [h, w, 3] to [outH, outW, 3] (Pillow-compatible; see the header). */
export function resample(img: RgbImage, outW: number, outH: number, filter: ResampleFilter = 'bilinear'): RgbImage {
  checkRgbImage(img, 'resample');
  checkSize(outW, 'resample width');
  checkSize(outH, 'resample height');
  const f = FILTERS[filter];
  if (f === undefined) throw new ImageError(`resample: unknown filter '${filter}' (expected bilinear, box or bicubic)`);
  const { width: w, height: h } = img;
  const needH = outW !== w;
  const needV = outH !== h;
  if (!needH && !needV) return { width: w, height: h, data: img.data.slice() };
  const cv = axisCoefficients(h, outH, f);
  // Only the input rows some output row reads need the horizontal pass.
  const rowFirst = needV ? cv.first[0] : 0;
  const rowLast = needV ? cv.first[outH - 1] + cv.count[outH - 1] : h;
  let data = img.data;
  let shift = 0;
  if (needH) {
    data = horizontalPass(data, w, rowFirst, rowLast - rowFirst, outW, axisCoefficients(w, outW, f));
    shift = rowFirst;
  }
  if (needV) data = verticalPass(data, outW, outH, cv, shift);
  return { width: outW, height: outH, data };
}

/** Makes img square (pad, crop or stretch), then resamples it to size x size: [size, size, 3]. */
export function resizeImage(img: RgbImage, size: number, opts: ResizeOptions = {}): RgbImage {
  checkRgbImage(img, 'resizeImage');
  checkSize(size, 'resizeImage');
  const fit = opts.fit ?? 'pad';
  const filter = opts.filter ?? 'bilinear';
  const padValue = opts.padValue ?? 255;
  const { width: w, height: h } = img;
  let square = img;
  if (fit === 'pad' && w !== h) {
    if (!Number.isInteger(padValue) || padValue < 0 || padValue > 255) {
      throw new ImageError(`resizeImage: padValue ${padValue} must be an integer in 0..255`);
    }
    const side = Math.max(w, h);
    const x0 = Math.floor((side - w) / 2);
    const y0 = Math.floor((side - h) / 2);
    const data = new Uint8Array(side * side * 3).fill(padValue);
    for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * side + x0) * 3);
    square = { width: side, height: side, data };
  } else if (fit === 'crop' && w !== h) {
    const side = Math.min(w, h);
    const x0 = Math.floor((w - side) / 2);
    const y0 = Math.floor((h - side) / 2);
    const data = new Uint8Array(side * side * 3);
    for (let y = 0; y < side; y++) {
      const from = ((y0 + y) * w + x0) * 3;
      data.set(img.data.subarray(from, from + side * 3), y * side * 3);
    }
    square = { width: side, height: side, data };
  } else if (fit !== 'pad' && fit !== 'crop' && fit !== 'stretch') {
    throw new ImageError(`resizeImage: unknown fit '${fit}' (expected pad, crop or stretch)`);
  }
  return resample(square, size, size, filter);
}
