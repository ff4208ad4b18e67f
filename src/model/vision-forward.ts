// The vision encoder's forward pass on the GPU, explicit block by block (llm.c
// style): for inference (visionForward: activations freed as soon as the next
// op has read them) and for training (visionTrainForward: every activation
// vision-backward.ts reads is kept). The maths is the float64 reference in
// reference/vision.ts; the model and its shapes are described in vision.ts.
//
//   patches = patchify(pixels)                               [N, K]
//   x = patches Wpe^T + pos_embed                            [B, P, C]
//   per block:
//     h1 = rmsnorm(x, norm1);  q, k, v = h1 Wq^T, h1 Wk^T, h1 Wv^T   [B, P, H, D]
//     o, lse = attention(q, k, v; bidirectional, no mask)    [B, P, H, D], [B, H, P]
//     x1 = x + o Wo^T
//     h2 = rmsnorm(x1, norm2);  x2 = x1 + (silu(h2 Wg^T) * (h2 Wu^T)) Wd^T
//   final = rmsnorm(x, norm)                                 [N, C]
//   z = final W1^T + b1;  a = silu(z);  y = a W2^T + b2      [N, Hp], [B, P, Co]
//
// Patchify is a row gather with the embedding kernel, no kernel of its own:
// with pixels [B, S, S, Ch] channels last, the p pixels of one patch row are
// p * Ch consecutive floats. Viewing the image as a table of such rows,
// [B * S * G, p * Ch], patch (b, i, j) is the p table rows
// (b * S + i * p + r) * G + j for r = 0..p-1, and gathering those rows in
// patch order gives patches [N * p, p * Ch] = [N, K] with each patch in
// (row, column, channel) order. The ids are fixed by B and the config and are
// built on the CPU (patchRowIds).
//
// The positions: pos_embed [P, C] is added to every image of x [B, P, C]
// as a bias of width P * C over B rows (biasAdd), and its gradient is
// biasGrad over the same view.
import type { Gpu } from '../gpu/gpu.ts';
import { check } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { attention } from '../ops/attention.ts';
import { add, biasAdd, silu, swiglu } from '../ops/elementwise.ts';
import { embedding } from '../ops/embedding.ts';
import { matmul } from '../ops/matmul.ts';
import { rmsnorm } from '../ops/rmsnorm.ts';
import { visionDims, type VisionBlockWeights, type VisionConfig, type VisionModel } from './vision.ts';

export interface VisionBlockActs {
  x: Tensor; // [B, P, C] block input (the residual stream)
  rstd1: Tensor; // [N]
  h1: Tensor; // [N, C]
  q: Tensor; // [B, P, H, D]
  k: Tensor; // [B, P, H, D]
  v: Tensor; // [B, P, H, D]
  o: Tensor; // [B, P, H, D]
  lse: Tensor; // [B, H, P]
  x1: Tensor; // [B, P, C]
  rstd2: Tensor; // [N]
  h2: Tensor; // [N, C]
  gate: Tensor; // [N, F]
  up: Tensor; // [N, F]
  act: Tensor; // [N, F]
}

export interface VisionActivations {
  B: number;
  /**
   * Whether the encoder's activations were kept (false: visionTrainForward
   * with frozenEncoder, whose backward reaches the projector only).
   */
  encoder: boolean;
  patches: Tensor | null; // [N, K]
  blocks: VisionBlockActs[];
  xLast: Tensor | null; // [B, P, C] output of the last block
  rstdFinal: Tensor | null; // [N]
  final: Tensor; // [N, C] after the final norm: the projector's input
  z: Tensor; // [N, Hp] fc1 output, before the activation
  a: Tensor; // [N, Hp] silu(z)
  /** Frees everything still held (the backward frees blocks as it goes). */
  release(): void;
}

/**
 * The image-table rows that make up each patch, in patch order: for patch
 * (b, i, j) and patch row r, (b * S + i * p + r) * G + j. Length N * p.
 */
export function patchRowIds(cfg: VisionConfig, B: number): Int32Array {
  const { imageSize: S, patchSize: p } = cfg;
  const { grid: G } = visionDims(cfg);
  const ids = new Int32Array(B * G * G * p);
  let n = 0;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < G; i++) {
      for (let j = 0; j < G; j++) {
        for (let r = 0; r < p; r++) ids[n++] = (b * S + i * p + r) * G + j;
      }
    }
  }
  return ids;
}

/** B of pixels [B, S, S, Ch] (f32), checked against the config. */
function imageCount(op: string, cfg: VisionConfig, pixels: Tensor): number {
  const { imageSize: S, channels: Ch } = cfg;
  const s = pixels.shape;
  check(pixels.dtype === 'f32' && s.length === 4 && s[0] >= 1 && s[1] === S && s[2] === S && s[3] === Ch, op,
    () => `pixels ${pixels.describe()} must be f32 [B, ${S}, ${S}, ${Ch}] (B images of image_size ${S}, num_channels ${Ch}, channels last)`);
  return s[0];
}

/**
 * patches [N, K] of pixels [B, S, S, Ch]: one gather dispatch (after uploading
 * the row ids, which flushes the work recorded before). Writes `out` when given.
 */
export function patchify(gpu: Gpu, cfg: VisionConfig, pixels: Tensor, out?: Tensor): Tensor {
  const B = imageCount('patchify', cfg, pixels);
  const { imageSize: S, patchSize: p, channels: Ch } = cfg;
  const { grid: G, numPatches: P, patchDim: K } = visionDims(cfg);
  const table = pixels.reshape([B * S * G, p * Ch]);
  const rows = embedding(gpu, table, patchRowIds(cfg, B), out?.reshape([B * P * p, p * Ch]));
  return out ?? rows.reshape([B * P, K]);
}

/** y [rows, out] = x W^T. */
function linear(gpu: Gpu, x: Tensor, W: Tensor): Tensor {
  return matmul(gpu, x, W, { transB: true });
}

/** One encoder block: x [B, P, C] -> x2 [B, P, C] and the block's activations (x2 is not among them). */
function blockForward(gpu: Gpu, cfg: VisionConfig, L: VisionBlockWeights, x: Tensor, B: number): { x2: Tensor; acts: VisionBlockActs } {
  const { hidden: C, heads: H, rmsNormEps: eps } = cfg;
  const { numPatches: P, headDim: D } = visionDims(cfg);
  const N = B * P;
  // attention block: x1 = x + o_proj(attention(q, k, v)), every patch sees every patch of its image
  const n1 = rmsnorm(gpu, x, L.norm1, eps);
  const h1 = n1.y.reshape([N, C]);
  const q = linear(gpu, h1, L.q).reshape([B, P, H, D]);
  const k = linear(gpu, h1, L.k).reshape([B, P, H, D]);
  const v = linear(gpu, h1, L.v).reshape([B, P, H, D]);
  const a = attention(gpu, q, k, v, { causal: false });
  const attnOut = linear(gpu, a.o.reshape([N, C]), L.o);
  const x1 = add(gpu, x, attnOut.reshape([B, P, C]));
  attnOut.release();
  // MLP block: x2 = x1 + down(silu(gate(h2)) * up(h2))
  const n2 = rmsnorm(gpu, x1, L.norm2, eps);
  const h2 = n2.y.reshape([N, C]);
  const gate = linear(gpu, h2, L.gate);
  const up = linear(gpu, h2, L.up);
  const act = swiglu(gpu, gate, up);
  const mlpOut = linear(gpu, act, L.down);
  const x2 = add(gpu, x1, mlpOut.reshape([B, P, C]));
  mlpOut.release();
  return { x2, acts: { x, rstd1: n1.rstd, h1, q, k, v, o: a.o, lse: a.lse, x1, rstd2: n2.rstd, h2, gate, up, act } };
}

/** Releases a block's activations. */
export function releaseBlock(a: VisionBlockActs): void {
  for (const t of [a.x, a.rstd1, a.h1, a.q, a.k, a.v, a.o, a.lse, a.x1, a.rstd2, a.h2, a.gate, a.up, a.act]) if (!t.released) t.release();
}

/** The patch embedding plus positions: x [B, P, C]; also returns the patches. */
function embedPatches(gpu: Gpu, model: VisionModel, pixels: Tensor, B: number): { x: Tensor; patches: Tensor } {
  const { hidden: C } = model.config;
  const { numPatches: P } = visionDims(model.config);
  const w = model.weights;
  const patches = patchify(gpu, model.config, pixels);
  const e = linear(gpu, patches, w.patchEmbed); // [N, C]
  const x = biasAdd(gpu, e.reshape([B, P * C]), w.posEmbed.reshape([P * C])).reshape([B, P, C]);
  e.release();
  return { x, patches };
}

/** z = final W1^T + b1 [N, Hp], a = silu(z), y = a W2^T + b2 [B, P, Co] (into `out` when given). */
function projectorForward(gpu: Gpu, model: VisionModel, final: Tensor, B: number, out?: Tensor): { z: Tensor; a: Tensor; y: Tensor } {
  const w = model.weights;
  const { numPatches: P } = visionDims(model.config);
  const Co = model.config.outHidden;
  const z1 = linear(gpu, final, w.fc1);
  const z = biasAdd(gpu, z1, w.fc1Bias);
  z1.release();
  const a = silu(gpu, z);
  const y1 = linear(gpu, a, w.fc2);
  const y = biasAdd(gpu, y1, w.fc2Bias, out?.reshape([B * P, Co])).reshape([B, P, Co]);
  y1.release();
  return { z, a, y: out ?? y };
}

function checkOut(op: string, model: VisionModel, B: number, out: Tensor | undefined): void {
  if (!out) return;
  const { numPatches: P } = visionDims(model.config);
  const Co = model.config.outHidden;
  check(out.dtype === 'f32' && out.shape.length === 3 && out.shape[0] === B && out.shape[1] === P && out.shape[2] === Co, op,
    () => `out ${out.describe()} must be f32 [B, P, Co] = [${B}, ${P}, ${Co}]`);
}

/**
 * Inference forward: pixels [B, S, S, Ch] -> image token embeddings
 * [B, P, Co] (written to `out` when given); the caller releases the result.
 */
export function visionForward(gpu: Gpu, model: VisionModel, pixels: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const B = imageCount('visionForward', model.config, pixels);
  checkOut('visionForward', model, B, opts.out);
  const { x: x0, patches } = embedPatches(gpu, model, pixels, B);
  patches.release();
  let x = x0;
  for (const L of model.weights.blocks) {
    const { x2, acts } = blockForward(gpu, model.config, L, x, B);
    releaseBlock(acts); // includes x
    x = x2;
  }
  const fin = rmsnorm(gpu, x, model.weights.norm, model.config.rmsNormEps);
  x.release();
  fin.rstd.release();
  const N = B * visionDims(model.config).numPatches;
  const { z, a, y } = projectorForward(gpu, model, fin.y.reshape([N, model.config.hidden]), B, opts.out);
  for (const t of [fin.y, z, a]) t.release();
  return y;
}

/**
 * Training forward: y [B, P, Co] (the caller's) and the activations the
 * backward reads. With frozenEncoder the encoder runs as in inference and
 * only the projector's activations are kept: the backward then reaches the
 * projector's weights only.
 */
export function visionTrainForward(gpu: Gpu, model: VisionModel, pixels: Tensor, opts: { frozenEncoder?: boolean } = {}): { y: Tensor; acts: VisionActivations } {
  const B = imageCount('visionTrainForward', model.config, pixels);
  const keep = !opts.frozenEncoder;
  const { hidden: C, rmsNormEps: eps } = model.config;
  const N = B * visionDims(model.config).numPatches;
  const { x: x0, patches } = embedPatches(gpu, model, pixels, B);
  if (!keep) patches.release();
  let x = x0;
  const blocks: VisionBlockActs[] = [];
  for (const L of model.weights.blocks) {
    const { x2, acts } = blockForward(gpu, model.config, L, x, B);
    if (keep) blocks.push(acts);
    else releaseBlock(acts);
    x = x2;
  }
  const fin = rmsnorm(gpu, x, model.weights.norm, eps);
  if (!keep) {
    x.release();
    fin.rstd.release();
  }
  const final = fin.y.reshape([N, C]);
  const { z, a, y } = projectorForward(gpu, model, final, B);
  const acts: VisionActivations = {
    B, encoder: keep, patches: keep ? patches : null, blocks, xLast: keep ? x : null, rstdFinal: keep ? fin.rstd : null, final, z, a,
    release() {
      for (const b of acts.blocks) releaseBlock(b);
      acts.blocks = [];
      for (const t of [acts.patches, acts.xLast, acts.rstdFinal, acts.final, acts.z, acts.a]) if (t && !t.released) t.release();
    },
  };
  return { y, acts };
}
