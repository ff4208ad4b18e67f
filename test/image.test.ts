// Image inputs: decoding (PNG, JPEG, PPM/PGM), channel conversion, size limits
// checked from the header, raw arrays, Pillow-compatible resizing and
// normalisation. PNG test files are built by hand here (zlib + CRC-32) from the
// format description, independent of the pngjs decoder under test.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import {
  ImageError,
  NORMALIZE_PRESETS,
  decodeImage,
  encodePng,
  fromRgbArray,
  normalizeImage,
  probeImage,
  readImage,
  resample,
  resizeImage,
  type ResampleFilter as ResampleFilterName,
  type RgbImage,
} from '../src/io/image.ts';

/** Seeded uniform integers in [lo, hi] (mulberry32), so failures reproduce. */
function rngInts(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0;
  return (lo, hi) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + Math.floor(u * (hi - lo + 1));
  };
}

/** A w x h image with samples in 1..255 (never zero), seeded. */
function randomImage(w: number, h: number, seed: number): RgbImage {
  const r = rngInts(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => r(1, 255)) };
}

function image(w: number, h: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = f(x, y, c);
  return { width: w, height: h, data };
}

function chunk(type: string, data: Uint8Array | number[]): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function ihdr(w: number, h: number, depth: number, colourType: number): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(w, 0);
  d.writeUInt32BE(h, 4);
  d[8] = depth;
  d[9] = colourType;
  return chunk('IHDR', d);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG from raw scanline bytes (no filter byte; filter 0 is added), with extra chunks before IDAT. */
function craftPng(w: number, h: number, depth: number, colourType: number, rows: number[][], extra: Buffer[] = []): Uint8Array {
  const raw = Buffer.concat(rows.map((row) => Buffer.from([0, ...row])));
  return new Uint8Array(Buffer.concat([SIGNATURE, ihdr(w, h, depth, colourType), ...extra, chunk('IDAT', deflateSync(raw)), chunk('IEND', [])]));
}

/** Big-endian bytes of 16-bit samples. */
const be16 = (values: number[]): number[] => values.flatMap((v) => [v >> 8, v & 255]);

/** Asserts fn throws an ImageError whose message contains every part. */
function expectImageError(fn: () => unknown, ...parts: string[]): ImageError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected an ImageError mentioning ${parts.join(', ')}`).toBeInstanceOf(ImageError);
  const msg = (caught as Error).message;
  for (const p of parts) expect(msg).toContain(p);
  return caught as ImageError;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('PNG', () => {
  it('encodePng -> decodeImage round-trips exactly, as colour type 2', () => {
    for (const [w, h, seed] of [[17, 13, 1], [1, 1, 2], [64, 3, 3]]) {
      const img = randomImage(w, h, seed);
      const png = encodePng(img);
      expect(png[25], 'IHDR colour type').toBe(2);
      expect(probeImage(png, 'rt.png')).toEqual({ format: 'png', width: w, height: h, channels: 3, bitDepth: 8 });
      const back = decodeImage(png, 'rt.png');
      expect(back.width).toBe(w);
      expect(back.height).toBe(h);
      expect(Array.from(back.data)).toEqual(Array.from(img.data));
    }
  });

  it('decodes a hand-made 8-bit RGB PNG to the same bytes', () => {
    const rows = [[10, 20, 30, 40, 50, 60], [70, 80, 90, 100, 110, 120]];
    const img = decodeImage(craftPng(2, 2, 8, 2, rows), 'rgb.png');
    expect(Array.from(img.data)).toEqual(rows.flat());
  });

  it('expands gray (8-bit and 4-bit) to three equal channels', () => {
    const g8 = decodeImage(craftPng(3, 1, 8, 0, [[7, 128, 250]]), 'g8.png');
    expect(Array.from(g8.data)).toEqual([7, 7, 7, 128, 128, 128, 250, 250, 250]);
    // 4-bit samples 0x3, 0xF, 0x1 packed two per byte; v8 = v4 * 17.
    const g4 = decodeImage(craftPng(3, 1, 4, 0, [[0x3f, 0x10]]), 'g4.png');
    expect(Array.from(g4.data)).toEqual([51, 51, 51, 255, 255, 255, 17, 17, 17]);
  });

  it('composites gray+alpha and RGBA over white: round((c a + 255 (255 - a)) / 255)', () => {
    // (gray, alpha) -> expected, hand-computed:
    //   (100, 255) -> 100; (0, 0) -> 255; (0, 128) -> round(255*127/255) = 127;
    //   (200, 51) -> round((10200 + 52020) / 255) = 244; (1, 128) -> round(32513 / 255 = 127.502) = 128
    const ga = decodeImage(craftPng(5, 1, 8, 4, [[100, 255, 0, 0, 0, 128, 200, 51, 1, 128]]), 'ga.png');
    expect(Array.from(ga.data)).toEqual([100, 100, 100, 255, 255, 255, 127, 127, 127, 244, 244, 244, 128, 128, 128]);
    // (10, 200, 90, a = 102): round((c*102 + 255*153) / 255) -> 157, 233, 189
    const rgba = decodeImage(craftPng(2, 1, 8, 6, [[10, 200, 90, 102, 1, 2, 3, 255]]), 'rgba.png');
    expect(Array.from(rgba.data)).toEqual([157, 233, 189, 1, 2, 3]);
  });

  it('looks up palettes, with tRNS transparency composited over white', () => {
    const plte = chunk('PLTE', [255, 0, 0, 0, 128, 0, 9, 9, 9]);
    const trns = chunk('tRNS', [255, 255, 0]); // entry 2 fully transparent
    const img = decodeImage(craftPng(3, 1, 8, 3, [[1, 0, 2]], [plte, trns]), 'pal.png');
    expect(Array.from(img.data)).toEqual([0, 128, 0, 255, 0, 0, 255, 255, 255]);
  });

  it('reduces 16-bit samples to 8 bits as round(v * 255 / 65535)', () => {
    // 25700 = 100 * 257 -> 100; 128 -> 0.498 -> 0; 129 -> 0.502 -> 1; 65535 -> 255; 65280 -> 254.0 -> 254
    const rgb = decodeImage(craftPng(2, 1, 16, 2, [be16([25700, 128, 129, 65535, 65280, 1])]), 'rgb16.png');
    expect(Array.from(rgb.data)).toEqual([100, 0, 1, 255, 254, 0]);
    // 16-bit gray+alpha: gray 51400 -> 200, alpha 13107 -> 51; composite -> 244 (as in the 8-bit case).
    const ga = decodeImage(craftPng(1, 1, 16, 4, [be16([51400, 13107])]), 'ga16.png');
    expect(Array.from(ga.data)).toEqual([244, 244, 244]);
  });
});

describe('JPEG', () => {
  // A smooth 32x24 gradient, RGBA as jpeg-js's encoder wants it.
  const w = 32;
  const h = 24;
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      rgba.set([8 + x * 7, 10 + y * 9, 30 + (x + y) * 3, 255], i);
    }
  }

  it('decodes an encoded gradient within JPEG tolerance (quality 90: mean |err| <= 1.5, max <= 8)', () => {
    const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 90).data);
    expect(probeImage(bytes, 'g.jpg')).toEqual({ format: 'jpeg', width: w, height: h, channels: 3, bitDepth: 8 });
    const img = decodeImage(bytes, 'g.jpg');
    expect([img.width, img.height]).toEqual([w, h]);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < w * h; i++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(img.data[i * 3 + c] - rgba[i * 4 + c]);
        sum += d;
        max = Math.max(max, d);
      }
    }
    expect(sum / (w * h * 3)).toBeLessThanOrEqual(1.5);
    expect(max).toBeLessThanOrEqual(8);
  });

  it('rejects truncated JPEGs, naming the file', () => {
    const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 90).data);
    for (const cut of [bytes.length - 2, Math.floor(bytes.length / 2), 40]) {
      expectImageError(() => decodeImage(bytes.subarray(0, cut), 'cut.jpg'), 'cut.jpg', 'JPEG');
    }
  });

  it('rejects CMYK (4-component) JPEGs from the frame header', () => {
    // SOI, SOF0 { length 20, precision 8, height 8, width 8, 4 components }, nothing after.
    const sof = [0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0];
    expectImageError(() => decodeImage(Uint8Array.from([0xff, 0xd8, ...sof]), 'cmyk.jpg'), 'cmyk.jpg', '4 colour components', 'CMYK');
  });

  it('rejects lossless JPEGs (SOF3) with a clear message', () => {
    const sof3 = [0xff, 0xc3, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0];
    expectImageError(() => decodeImage(Uint8Array.from([0xff, 0xd8, ...sof3]), 'll.jpg'), 'll.jpg', 'lossless');
  });
});

describe('PPM / PGM', () => {
  const ascii = (s: string): number[] => Array.from(Buffer.from(s, 'latin1'));

  it('decodes P6 with comments, and P5 gray to three channels', () => {
    const p6 = Uint8Array.from([...ascii('P6\n# made by hand\n2 1\n255\n'), 1, 2, 3, 250, 251, 252]);
    expect(Array.from(decodeImage(p6, 'a.ppm').data)).toEqual([1, 2, 3, 250, 251, 252]);
    const p5 = Uint8Array.from([...ascii('P5 3 1 255 '), 9, 99, 199]);
    expect(Array.from(decodeImage(p5, 'a.pgm').data)).toEqual([9, 9, 9, 99, 99, 99, 199, 199, 199]);
  });

  it('rescales maxval != 255: round(v * 255 / maxval), 16-bit big-endian above 255', () => {
    // maxval 1000: 500 -> 127.5 -> 128; 1000 -> 255; 3 -> 0.765 -> 1
    const p6 = Uint8Array.from([...ascii('P6 1 1 1000\n'), ...be16([500, 1000, 3])]);
    expect(Array.from(decodeImage(p6, 'm.ppm').data)).toEqual([128, 255, 1]);
    // maxval 15 (1 byte): 15 -> 255, 1 -> 17, 7 -> 119
    const p6b = Uint8Array.from([...ascii('P6 1 1 15\n'), 15, 1, 7]);
    expect(Array.from(decodeImage(p6b, 'n.ppm').data)).toEqual([255, 17, 119]);
  });

  it('rejects truncated data, trailing data, samples above maxval and ASCII variants', () => {
    const head = ascii('P6 2 2 255\n');
    expectImageError(() => decodeImage(Uint8Array.from([...head, 1, 2, 3]), 'short.ppm'), 'short.ppm', 'truncated', 'needs 12 bytes', 'found 3');
    expectImageError(() => decodeImage(Uint8Array.from([...head, ...new Array(13).fill(5)]), 'long.ppm'), 'long.ppm', '1 unexpected bytes');
    expectImageError(() => decodeImage(Uint8Array.from([...ascii('P6 1 1 10\n'), 1, 11, 2]), 'over.ppm'), 'over.ppm', 'above maxval 10');
    expectImageError(() => decodeImage(Uint8Array.from(ascii('P3 1 1 255\n1 2 3\n')), 'ascii.ppm'), 'ascii.ppm', 'ASCII PPM (P3)', 'not supported');
    expectImageError(() => decodeImage(Uint8Array.from(ascii('P6 1')), 'head.ppm'), 'head.ppm', 'truncated');
    expectImageError(() => decodeImage(Uint8Array.from(ascii('P6 1x 1 255\n')), 'bad.ppm'), 'bad.ppm', 'width', 'not a decimal number');
  });
});

describe('errors name the file', () => {
  const valid = encodePng(randomImage(12, 9, 7));

  it('truncated PNG', () => {
    for (const cut of [valid.length - 1, valid.length - 12, Math.floor(valid.length / 2), 40]) {
      expectImageError(() => decodeImage(valid.subarray(0, cut), 'cut.png'), 'cut.png', 'PNG');
    }
    expectImageError(() => decodeImage(valid.subarray(0, 20), 'tiny.png'), 'tiny.png', 'truncated');
  });

  it('random bytes, empty files and other formats', () => {
    const r = rngInts(11);
    const junk = Uint8Array.from({ length: 256 }, () => r(1, 255));
    junk[0] = 0x42; // 'B' then 0x01: no known signature (BMP would be 'BM')
    junk[1] = 0x01;
    expectImageError(() => decodeImage(junk, 'junk.bin'), 'junk.bin', 'not a PNG, JPEG or PPM');
    expectImageError(() => decodeImage(new Uint8Array(0), 'empty.png'), 'empty.png', 'empty');
    expectImageError(() => decodeImage(Uint8Array.from(Buffer.from('GIF89a....')), 'anim.gif'), 'anim.gif', 'GIF', 'not supported');
  });

  it('too large: a PNG header claiming 100000x100000 fails from the header, before any pixel data', () => {
    // Signature + IHDR only: no IDAT, so a decoder that got this far would report missing data instead.
    const bomb = new Uint8Array(Buffer.concat([SIGNATURE, ihdr(100000, 100000, 8, 2)]));
    const t0 = performance.now();
    expectImageError(() => decodeImage(bomb, 'bomb.png'), 'bomb.png', '100000x100000', '4096-pixel side limit');
    expect(performance.now() - t0).toBeLessThan(50);
    // Under the side limit but over the pixel limit.
    const wide = new Uint8Array(Buffer.concat([SIGNATURE, ihdr(4096, 4097, 8, 2)]));
    expectImageError(() => decodeImage(wide, 'wide.png', { maxSide: 8192 }), 'wide.png', '4096x4097', '16777216-pixel limit');
    // Limits are configurable, both ways.
    expectImageError(() => decodeImage(valid, 'small.png', { maxSide: 8 }), 'small.png', '12x9', '8-pixel side limit');
    expectImageError(() => decodeImage(valid, 'small.png', { maxPixels: 100 }), 'small.png', '108 pixels');
    expect(decodeImage(valid, 'ok.png', { maxSide: 12, maxPixels: 108 }).width).toBe(12);
  });

  it('too large: JPEG frame header and PPM header are checked before decoding', () => {
    // SOI + SOF0 claiming 60000x50000, 3 components; no tables or scan data follow.
    const sof = [0xff, 0xc0, 0, 17, 8, 0xc3, 0x50, 0xea, 0x60, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0];
    expectImageError(() => decodeImage(Uint8Array.from([0xff, 0xd8, ...sof]), 'big.jpg'), 'big.jpg', '60000x50000');
    const ppm = Uint8Array.from(Buffer.from('P6\n100000 100000\n255\n', 'latin1'));
    expectImageError(() => decodeImage(ppm, 'big.ppm'), 'big.ppm', '100000x100000');
    // Zero-sized images are refused too.
    expectImageError(() => decodeImage(new Uint8Array(Buffer.concat([SIGNATURE, ihdr(0, 5, 8, 2)])), 'zero.png'), 'zero.png', '0x5');
  });

  it('unknown PNG channel layouts name the file and what was found', () => {
    const t5 = new Uint8Array(Buffer.concat([SIGNATURE, ihdr(2, 2, 8, 5), chunk('IEND', [])]));
    expectImageError(() => decodeImage(t5, 'five.png'), 'five.png', 'colour type 5');
    const rgb4 = new Uint8Array(Buffer.concat([SIGNATURE, ihdr(2, 2, 4, 2), chunk('IEND', [])]));
    expectImageError(() => decodeImage(rgb4, 'rgb4.png'), 'rgb4.png', 'RGB image with bit depth 4');
  });

  it('raw arrays with the wrong channel count or bad values', () => {
    expectImageError(() => fromRgbArray(new Uint8Array(2 * 3 * 4), 2, 3, 'frame[7]'), 'frame[7]', 'needs width*height*3 = 18 values, found 24', 'RGBA');
    expectImageError(() => fromRgbArray(new Array(6).fill(1), 2, 3, 'gray-frame'), 'gray-frame', 'found 6', 'gray');
    expectImageError(() => fromRgbArray([1, 2, 3, 4, 300, 6], 2, 1, 'pix'), 'pix', 'value 300 at index 4', 'column 1, channel G');
    expectImageError(() => fromRgbArray([1, 2, 3], 0, 1, 'zero'), 'zero', '0x1');
    const ok = fromRgbArray([1, 2, 3, 4, 5, 6], 2, 1, 'pix');
    expect(ok).toEqual({ width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
    const src = Uint8Array.from([9, 8, 7]);
    const copy = fromRgbArray(src, 1, 1, 'copy');
    src[0] = 1;
    expect(copy.data[0], 'fromRgbArray copies').toBe(9);
  });

  it('readImage reads files and names the path on failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-img-'));
    dirs.push(dir);
    const img = randomImage(5, 4, 21);
    await writeFile(join(dir, 'a.png'), encodePng(img));
    expect(Array.from((await readImage(join(dir, 'a.png'))).data)).toEqual(Array.from(img.data));
    const header = Buffer.from('P6 5 4 255\n', 'latin1');
    await writeFile(join(dir, 'a.ppm'), Buffer.concat([header, img.data]));
    expect(Array.from((await readImage(join(dir, 'a.ppm'))).data)).toEqual(Array.from(img.data));
    await expect(readImage(join(dir, 'missing.png'))).rejects.toThrow(/missing\.png: cannot read image/);
    await expect(readImage(dir)).rejects.toThrow(/not a regular file/);
    await expect(readImage(join(dir, 'a.png'), { maxFileBytes: 10 })).rejects.toThrow(/a\.png: file is \d+ bytes, more than the 10-byte limit/);
    await expect(readImage(join(dir, 'a.png'), { maxSide: 4 })).rejects.toBeInstanceOf(ImageError);
  });
});

describe('resize', () => {
  it('box filter: 4x4 -> 2x2 averages 2x2 blocks (horizontal then vertical, each rounding half up)', () => {
    // Block values chosen so every pass divides evenly: [[10, 20], [30, 40]] -> 15, 35 -> 25.
    const vals = [
      [10, 20, 100, 200],
      [30, 40, 60, 0],
      [1, 3, 255, 255],
      [5, 7, 255, 255],
    ];
    const img = image(4, 4, (x, y, c) => (c === 1 ? 255 - vals[y][x] : vals[y][x]));
    const out = resample(img, 2, 2, 'box');
    // (100+200)/2 = 150, (60+0)/2 = 30 -> 90; (1+3)/2 = 2, (5+7)/2 = 6 -> 4
    const expected = [[25, 90], [4, 255]];
    const got = [0, 1, 2, 3].map((p) => out.data[p * 3]);
    expect(got).toEqual(expected.flat());
    expect([0, 1, 2, 3].map((p) => out.data[p * 3 + 1])).toEqual(expected.flat().map((v) => 255 - v));
  });

  it('bilinear 4 -> 2 is PIL\'s widened triangle: weights 3/7, 3/7, 1/7 at the edges', () => {
    // Row [0, 70, 140, 210]: out0 = (3*0 + 3*70 + 1*140) / 7 = 50, out1 = (1*70 + 3*140 + 3*210) / 7 = 160.
    const row = [0, 70, 140, 210];
    const horiz = resample(image(4, 3, (x) => row[x]), 2, 3);
    expect(Array.from(horiz.data)).toEqual(new Array(3).fill([50, 50, 50, 160, 160, 160]).flat());
    const vert = resample(image(3, 4, (_x, y) => row[y]), 3, 2);
    expect(Array.from(vert.data)).toEqual([...new Array(9).fill(50), ...new Array(9).fill(160)]);
  });

  it('bilinear 2 -> 4 upscaling: [0, 200] -> [0, 50, 150, 200]', () => {
    const out = resample(image(2, 1, (x) => x * 200), 4, 1);
    expect(Array.from(out.data)).toEqual([0, 0, 0, 50, 50, 50, 150, 150, 150, 200, 200, 200]);
  });

  it('matches Pillow 9.4 Image.resize byte for byte (golden values)', () => {
    // Made with Python: Image.frombytes('RGB', (11, 7), data).resize(size, filter).tobytes(),
    // data[y][x][c] = (x*37 + y*101 + c*53 + x*y*7) % 255 + 1.
    const img = image(11, 7, (x, y, c) => ((x * 37 + y * 101 + c * 53 + x * y * 7) % 255) + 1);
    const golden: [ResampleFilterName, number, number, number[]][] = [
      ['bilinear', 4, 5, [80, 125, 157, 131, 152, 161, 123, 120, 106, 105, 124, 149, 166, 114, 140, 131, 117, 108, 143, 124, 119, 154, 123, 83, 131, 120, 122, 124, 110, 110, 125, 146, 141, 101, 123, 131, 144, 100, 114, 122, 114, 117, 132, 124, 113, 146, 101, 120, 159, 140, 127, 146, 118, 111, 148, 120, 138, 126, 107, 160]],
      ['bicubic', 4, 5, [70, 126, 159, 136, 158, 169, 121, 120, 97, 98, 125, 157, 172, 116, 141, 130, 112, 103, 146, 126, 121, 157, 125, 79, 127, 121, 114, 126, 108, 107, 124, 149, 145, 91, 123, 133, 143, 101, 113, 117, 111, 120, 132, 128, 111, 145, 100, 118, 162, 142, 133, 147, 118, 107, 150, 121, 140, 126, 106, 165]],
      ['box', 5, 3, [72, 125, 178, 153, 143, 132, 127, 137, 148, 101, 154, 79, 118, 107, 160, 163, 89, 99, 109, 120, 130, 141, 109, 105, 102, 155, 123, 133, 101, 111, 149, 138, 127, 172, 98, 151, 127, 137, 105, 167, 92, 145, 127, 116, 169]],
    ];
    for (const [filter, ow, oh, want] of golden) {
      expect(Array.from(resample(img, ow, oh, filter).data), filter).toEqual(want);
    }
  });

  it('antialiases: a 1-pixel checkerboard shrunk 2x is mid-gray, not 0/255', () => {
    const board = image(8, 8, (x, y) => ((x + y) % 2 === 0 ? 0 : 255));
    const box = resample(board, 4, 4, 'box');
    expect(new Set(box.data)).toEqual(new Set([128])); // (0 + 255 + 1) >> 1 = 128, twice
    const bil = resample(board, 4, 4, 'bilinear');
    for (const v of bil.data) {
      expect(v).toBeGreaterThanOrEqual(100);
      expect(v).toBeLessThanOrEqual(155);
    }
  });

  it('identity sizes are exact copies, for every filter and fit', () => {
    const img = randomImage(9, 9, 31);
    for (const filter of ['bilinear', 'box', 'bicubic'] as const) {
      const out = resample(img, 9, 9, filter);
      expect(Array.from(out.data)).toEqual(Array.from(img.data));
      expect(out.data).not.toBe(img.data);
      for (const fit of ['pad', 'crop', 'stretch'] as const) {
        expect(Array.from(resizeImage(img, 9, { fit, filter }).data)).toEqual(Array.from(img.data));
      }
    }
  });

  it('keeps a constant image constant for any sizes and filters (weights sum to 1 in fixed point)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }),
        fc.constantFrom('bilinear', 'box', 'bicubic' as const),
        fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
        (w, h, ow, oh, filter, rgb) => {
          const out = resample(image(w, h, (_x, _y, c) => rgb[c]), ow, oh, filter as 'bilinear');
          expect([out.width, out.height]).toEqual([ow, oh]);
          const bad = out.data.findIndex((v, i) => v !== rgb[i % 3]);
          expect(bad, `first sample differing from ${rgb}`).toBe(-1);
        },
      ),
      { numRuns: 150, seed: 5 },
    );
  });

  it('pad centres on white (default) or padValue; crop keeps the centre', () => {
    // 4 wide, 2 high: pad to 4x4 with one white row above and below.
    const img = image(4, 2, (x, y) => 10 + 10 * x + 100 * y);
    const padded = resizeImage(img, 4);
    const col0 = [0, 1, 2, 3].map((y) => padded.data[(y * 4) * 3]);
    expect(col0).toEqual([255, 10, 110, 255]);
    const black = resizeImage(img, 4, { padValue: 0 });
    expect(black.data[0]).toBe(0);
    expect(black.data[(3 * 4 + 3) * 3]).toBe(0);
    // Crop: columns 1 and 2 of the 2 rows.
    const cropped = resizeImage(img, 2, { fit: 'crop' });
    expect([0, 1, 2, 3].map((p) => cropped.data[p * 3])).toEqual([20, 30, 120, 130]);
    // Odd remainders go to the right / bottom: 5 wide -> crop starts at x = 1.
    const odd = resizeImage(image(5, 2, (x) => x * 40), 2, { fit: 'crop' });
    expect(odd.data[0]).toBe(40);
    // Stretch: 4x2 -> 2x2 box-averages horizontally only.
    const stretched = resizeImage(img, 2, { fit: 'stretch', filter: 'box' });
    expect([0, 1, 2, 3].map((p) => stretched.data[p * 3])).toEqual([15, 35, 115, 135]);
    expectImageError(() => resizeImage(img, 0), 'target size 0');
    expectImageError(() => resizeImage(img, 4, { padValue: 300 }), 'padValue 300');
  });
});

describe('normalizeImage', () => {
  it('gives (v/255 - mean) / std in [H, W, 3] order', () => {
    const img = fromRgbArray([0, 128, 255, 255, 0, 64], 2, 1, 'norm');
    const sig = normalizeImage(img, NORMALIZE_PRESETS.siglip.mean, NORMALIZE_PRESETS.siglip.std);
    expect(sig).toBeInstanceOf(Float32Array);
    expect(sig.length).toBe(6);
    expect(sig[0]).toBe(-1);
    expect(sig[2]).toBe(1);
    expect(sig[3]).toBe(1);
    expect(sig[4]).toBe(-1);
    expect(sig[1]).toBeCloseTo(128 / 127.5 - 1, 6);
    const { mean, std } = NORMALIZE_PRESETS.clip;
    const clip = normalizeImage(img, mean, std);
    const want = [0, 128, 255, 255, 0, 64].map((v, i) => (v / 255 - mean[i % 3]) / std[i % 3]);
    for (let i = 0; i < 6; i++) expect(Math.abs(clip[i] - want[i]), `element ${i}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i])));
    // Bit-exact float32 values from numpy: ((u8.astype(f64) * (1/255)).astype(f32) - mean_f32) / std_f32.
    expect(clip[0]).toBe(-1.7922625541687012); // R = 0
    expect(clip[2]).toBe(2.1458969116210938); // B = 255
  });

  it('rejects bad mean/std', () => {
    const img = randomImage(2, 2, 3);
    expectImageError(() => normalizeImage(img, [0.5, 0.5], [1, 1, 1]), 'need 3 values');
    expectImageError(() => normalizeImage(img, [0.5, 0.5, 0.5], [1, 0, 1]), 'channel G', 'std > 0');
  });
});

describe('fuzz: mutated PNG/JPEG bytes decode or throw ImageError, never anything else', () => {
  // A 6x5 palette-free RGBA image with varied alpha: exercises filters and compositing.
  const r = rngInts(99);
  const rows = Array.from({ length: 5 }, () => Array.from({ length: 6 * 4 }, () => r(1, 255)));
  const base = craftPng(6, 5, 8, 6, rows);

  function decodesOrImageError(bytes: Uint8Array): void {
    try {
      const img = decodeImage(bytes, 'fuzz.png');
      expect(img.data.length).toBe(img.width * img.height * 3);
    } catch (err) {
      if (!(err instanceof ImageError)) throw new Error(`not an ImageError: ${String(err)}`);
      expect(err.message).toContain('fuzz.png');
    }
  }

  const mutation = fc.record({
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  });

  function mutate(src: Uint8Array, m: { edits: [number, number][]; cut?: number }): Uint8Array {
    const out = Uint8Array.from(src);
    for (const [pos, v] of m.edits) out[pos % out.length] = v;
    return m.cut === undefined ? out : out.subarray(0, m.cut % (out.length + 1));
  }

  /** Recomputes every chunk CRC, so mutations get past the CRC check into inflate, unfiltering and conversion. */
  function fixCrcs(b: Uint8Array): Uint8Array {
    const out = Buffer.from(b);
    let p = 8;
    while (p + 12 <= out.length) {
      const len = out.readUInt32BE(p);
      if (p + 12 + len > out.length) break;
      out.writeUInt32BE(crc32(out.subarray(p + 4, p + 8 + len)), p + 8 + len);
      p += 12 + len;
    }
    return new Uint8Array(out);
  }

  it('raw byte mutations and truncations', () => {
    expect(decodeImage(base, 'fuzz.png').width).toBe(6);
    fc.assert(fc.property(mutation, (m) => decodesOrImageError(mutate(base, m))), { numRuns: 400, seed: 1 });
  });

  it('mutations with chunk CRCs repaired', () => {
    fc.assert(fc.property(mutation, (m) => decodesOrImageError(fixCrcs(mutate(base, m)))), { numRuns: 400, seed: 2 });
  });

  it('JPEG byte mutations', () => {
    const rgba = Uint8Array.from({ length: 16 * 16 * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 37) % 251));
    const jpg = new Uint8Array(jpeg.encode({ width: 16, height: 16, data: rgba }, 80).data);
    fc.assert(
      fc.property(mutation, (m) => {
        const bytes = mutate(jpg, m);
        try {
          const img = decodeImage(bytes, 'fuzz.jpg');
          expect(img.data.length).toBe(img.width * img.height * 3);
        } catch (err) {
          if (!(err instanceof ImageError)) throw new Error(`not an ImageError: ${String(err)}`);
          expect(err.message).toContain('fuzz.jpg');
        }
      }),
      { numRuns: 300, seed: 3 },
    );
  });
});
