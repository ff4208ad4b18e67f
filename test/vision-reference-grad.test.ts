// The float64 reference vision encoder + projector (reference/vision.ts):
// its backward against central differences of L = sum(y * R) on the issue's
// tiny config (8x8 RGB images, patch 4, hidden 8, 2 layers, 2 heads, B = 2):
// every weight of the encoder and the projector. Also: patchify's layout,
// images do not see each other (bidirectional attention within an image
// only), and tensors of the wrong size are named in the error.
//
// Tolerance: central differences in float64 with h = 1e-6 are off by
// ~h^2 |L'''| (truncation, ~1e-12) plus ~ulp(L) / h (rounding, ~1e-10), so an
// entry passes when |grad - fd| <= 1e-6 * max|grad of the tensor| + 1e-9.
// Any mistake in the chain rule shows up orders of magnitude above that.
import { describe, expect, it } from 'vitest';
import { VisionReferenceError, patchify, visionBackward, visionForward } from '../reference/vision.ts';
import { visionWeightSpecs } from '../src/model/vision.ts';
import { checkAgainstDifferences, randomData } from './helpers.ts';
import { lookup } from './tiny-decoder.ts';
import { TINY, WIDE, makePixels, makeVisionWeights } from './tiny-vision.ts';

const STEP = 1e-6;
const RTOL = 1e-6;
const ATOL = 1e-9;
const B = 2;



const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('reference vision backward vs central differences of sum(y * R)', () => {
  for (const [ci, cfg] of [TINY, WIDE].entries()) {
    it(`${ci === 0 ? 'the issue config (P = 4, 2 layers, 2 heads)' : 'P = 9, 4 heads, 1 layer'}: every weight and bias`, () => {
      const W = makeVisionWeights(cfg, 100 + ci);
      const pixels = makePixels(cfg, B, 7 + ci);
      const weight = lookup(W);
      const P = (cfg.imageSize / cfg.patchSize) ** 2;
      const R = Float64Array.from(randomData(B * P * cfg.outHidden, 11 + ci));
      const loss = () => dot(visionForward(cfg, weight, pixels, B), R);
      const { y, grads } = visionBackward(cfg, weight, pixels, B, R);
      expect(y).toEqual(visionForward(cfg, weight, pixels, B));
      expect([...grads.keys()], 'one gradient per weight, in forward order').toEqual(visionWeightSpecs(cfg).map((s) => s.name));

      for (const name of grads.keys()) expect(W.has(name), `${name} is a weight`).toBe(true);
      const worst = checkAgainstDifferences(W, grads, loss, 1 + ci, { step: STEP, rtol: RTOL, atol: ATOL });
      expect(worst).toBeLessThanOrEqual(1);
    });
  }
});

describe('reference vision: layout and independence', () => {
  it('patchify puts pixel (b, y, x, ch) at patch (b, y / p, x / p), entry ((y % p) * p + x % p) * Ch + ch', () => {
    const cfg = TINY; // S 8, p 4, Ch 3: G 2, P 4, K 48
    const S = 8, p = 4, Ch = 3, K = 48;
    // Each pixel value encodes its own coordinates, so any misplacement shows.
    const code = (b: number, y: number, x: number, ch: number) => 1 + b * 1000 + y * 100 + x * 10 + ch;
    const pixels = new Float64Array(2 * S * S * Ch);
    for (let b = 0; b < 2; b++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let ch = 0; ch < Ch; ch++) pixels[((b * S + y) * S + x) * Ch + ch] = code(b, y, x, ch);
    const patches = patchify(cfg, pixels, 2);
    expect(patches.length).toBe(2 * 4 * K);
    for (let b = 0; b < 2; b++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let ch = 0; ch < Ch; ch++) {
      const n = b * 4 + Math.floor(y / p) * 2 + Math.floor(x / p);
      expect(patches[n * K + ((y % p) * p + (x % p)) * Ch + ch]).toBe(code(b, y, x, ch));
    }
  });

  it('each image is encoded alone: another image in the batch changes nothing, a changed pixel changes every patch of its image', () => {
    const cfg = TINY;
    const weight = lookup(makeVisionWeights(cfg, 300));
    const pixels = makePixels(cfg, 2, 31);
    const n = pixels.length / 2, rows = 4 * cfg.outHidden;
    const both = visionForward(cfg, weight, pixels, 2);
    const first = visionForward(cfg, weight, pixels.slice(0, n), 1);
    const second = visionForward(cfg, weight, pixels.slice(n), 1);
    for (let i = 0; i < rows; i++) {
      expect(Math.abs(both[i] - first[i])).toBeLessThan(1e-14);
      expect(Math.abs(both[rows + i] - second[i])).toBeLessThan(1e-14);
    }
    // One pixel of patch 0 changed: all 4 patches of the image move (bidirectional attention).
    const moved = Float64Array.from(pixels.slice(0, n));
    moved[0] += 0.5;
    const after = visionForward(cfg, weight, moved, 1);
    for (let patch = 0; patch < 4; patch++) {
      let d = 0;
      for (let c = 0; c < cfg.outHidden; c++) d = Math.max(d, Math.abs(after[patch * cfg.outHidden + c] - first[patch * cfg.outHidden + c]));
      expect(d, `patch ${patch} sees the changed pixel`).toBeGreaterThan(1e-6);
    }
  });

  it('names the tensor or input that does not fit', () => {
    const cfg = TINY;
    const W = makeVisionWeights(cfg, 400);
    const pixels = makePixels(cfg, 2, 5);
    const withW = (name: string, v: Float64Array) => lookup(new Map([...W, [name, v]]));
    expect(() => visionForward(cfg, withW('vision.blocks.1.attn.k_proj.weight', new Float64Array(40)), pixels, 2))
      .toThrow(/tensor "vision.blocks.1.attn.k_proj.weight" has 40 elements, expected 64 \(\[8, 8\]\)/);
    expect(() => visionForward(cfg, withW('vision.pos_embed', new Float64Array(8)), pixels, 2)).toThrow(VisionReferenceError);
    expect(() => visionForward(cfg, lookup(W), pixels, 3)).toThrow(/pixels has 384 values, expected B\*S\*S\*Ch = 3\*8\*8\*3 = 576/);
    expect(() => visionBackward(cfg, lookup(W), pixels, 2, new Float64Array(5))).toThrow(/dy has 5 values, expected B\*P\*Co = 48/);
  });
});
