// Float64 reference of the vision encoder and projector (src/model/vision.ts),
// forward and backward: the spec the GPU passes are tested against, built from
// the per-kernel references. Plain code. Shapes: B images [S, S, Ch] channels
// last, p patch size, G = S / p, P = G * G patches, N = B * P rows,
// K = p * p * Ch, C hidden, H heads, D = C / H, F MLP width, Hp projector
// width, Co output width. Activations are row-major [N, C].
//
//   patches[b * P + i * G + j, (r * p + c) * Ch + ch] = pixels[b, i * p + r, j * p + c, ch]
//   x = patches Wpe^T + pos_embed[patch]
//   for each block:
//     h = rmsnorm(x, norm1);  x = x + lin_o(attention(lin_q(h), lin_k(h), lin_v(h); bidirectional))
//     h = rmsnorm(x, norm2);  x = x + lin_down(silu(lin_gate(h)) * lin_up(h))
//   final = rmsnorm(x, norm)
//   y = (silu(final W1^T + b1)) W2^T + b2                      [N, Co]
//
// Backward runs the same steps in reverse through the kernels' reference
// backwards (matmul, elementwise silu / swiglu / biasGrad, rmsnorm,
// attention), summing the residual stream's gradient at each fork, and
// returns the gradient of every weight for dL/dy = dy.
import { linear } from './decoder.ts';
import { attention, attentionBackward, type AttentionShape } from './attention.ts';
import { biasGrad, silu, siluBackward, swiglu, swigluBackward } from './elementwise.ts';
import { matmulBackward } from './matmul.ts';
import { rmsnorm, rmsnormBackward } from './rmsnorm.ts';
import type { VisionConfig } from '../src/model/vision.ts';

type Arr = ArrayLike<number>;

/** A weight or input that does not fit the config. */
export class VisionReferenceError extends Error {
  override name = 'VisionReferenceError';
}

interface Dims {
  B: number;
  G: number;
  P: number;
  N: number;
  K: number;
  C: number;
  D: number;
  F: number;
  Hp: number;
  Co: number;
  attn: AttentionShape;
}

function dims(cfg: VisionConfig, pixels: Arr, B: number): Dims {
  const { imageSize: S, patchSize: p, channels: Ch, hidden: C, heads: H } = cfg;
  if (!(Number.isInteger(B) && B >= 1)) throw new VisionReferenceError(`reference vision: B ${B} must be a positive integer`);
  if (S % p !== 0 || C % H !== 0) throw new VisionReferenceError(`reference vision: image_size ${S} % patch_size ${p} and hidden_size ${C} % heads ${H} must be 0`);
  if (pixels.length !== B * S * S * Ch) {
    throw new VisionReferenceError(`reference vision: pixels has ${pixels.length} values, expected B*S*S*Ch = ${B}*${S}*${S}*${Ch} = ${B * S * S * Ch}`);
  }
  const G = S / p, P = G * G, D = C / H;
  return {
    B, G, P, N: B * P, K: p * p * Ch, C, D, F: cfg.intermediate, Hp: cfg.projectorHidden, Co: cfg.outHidden,
    attn: { B, T: P, H, Hkv: H, D, causal: false },
  };
}

/** patches [B * P, K] of pixels [B, S, S, Ch], each patch in (row, column, channel) order. */
export function patchify(cfg: VisionConfig, pixels: Arr, B: number): Float64Array {
  const { imageSize: S, patchSize: p, channels: Ch } = cfg;
  const { G, P, K } = dims(cfg, pixels, B);
  const out = new Float64Array(B * P * K);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < G; i++) {
      for (let j = 0; j < G; j++) {
        const row = (b * P + i * G + j) * K;
        for (let r = 0; r < p; r++) {
          for (let c = 0; c < p; c++) {
            for (let ch = 0; ch < Ch; ch++) out[row + (r * p + c) * Ch + ch] = pixels[((b * S + i * p + r) * S + j * p + c) * Ch + ch];
          }
        }
      }
    }
  }
  return out;
}

function add(a: Arr, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

/** The weights of one forward, each checked against the config when read. */
function reader(weight: (name: string) => Arr) {
  return (name: string, shape: readonly number[]): Arr => {
    const w = weight(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (w.length !== n) throw new VisionReferenceError(`reference vision: tensor "${name}" has ${w.length} elements, expected ${n} ([${shape.join(', ')}]) from the config`);
    return w;
  };
}

interface BlockCache {
  W: Record<'norm1' | 'q' | 'k' | 'v' | 'o' | 'norm2' | 'gate' | 'up' | 'down', Arr>;
  x: Float64Array; // [N, C] block input
  h: Float64Array; // [N, C] rmsnorm(x)
  q: Float64Array; // [N, C] = [B, P, H, D]
  k: Float64Array;
  v: Float64Array;
  o: Float64Array; // [N, C] attention output
  xMid: Float64Array; // [N, C]
  h2: Float64Array; // [N, C]
  gate: Float64Array; // [N, F]
  up: Float64Array; // [N, F]
  act: Float64Array; // [N, F]
}

interface Forward {
  d: Dims;
  patches: Float64Array; // [N, K]
  blocks: BlockCache[];
  xLast: Float64Array; // [N, C]
  final: Float64Array; // [N, C]
  z: Float64Array; // [N, Hp]
  a: Float64Array; // [N, Hp]
  y: Float64Array; // [N, Co]
  W: { patchEmbed: Arr; norm: Arr; fc1: Arr; fc2: Arr };
}

function forward(cfg: VisionConfig, weight: (name: string) => Arr, pixels: Arr, B: number): Forward {
  const d = dims(cfg, pixels, B);
  const { N, P, K, C, F, Hp, Co } = d;
  const eps = cfg.rmsNormEps;
  const need = reader(weight);
  const patches = patchify(cfg, pixels, B);
  const patchEmbed = need('vision.patch_embed.weight', [C, K]);
  const pos = need('vision.pos_embed', [P, C]);
  const e = linear(patches, N, K, patchEmbed, C);
  let x: Float64Array = Float64Array.from(e, (v, i) => v + pos[i % (P * C)]); // [N, C]
  const blocks: BlockCache[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `vision.blocks.${l}.`;
    const W = {
      norm1: need(`${p}norm1.weight`, [C]),
      q: need(`${p}attn.q_proj.weight`, [C, C]),
      k: need(`${p}attn.k_proj.weight`, [C, C]),
      v: need(`${p}attn.v_proj.weight`, [C, C]),
      o: need(`${p}attn.o_proj.weight`, [C, C]),
      norm2: need(`${p}norm2.weight`, [C]),
      gate: need(`${p}mlp.gate_proj.weight`, [F, C]),
      up: need(`${p}mlp.up_proj.weight`, [F, C]),
      down: need(`${p}mlp.down_proj.weight`, [C, F]),
    };
    const { y: h } = rmsnorm(x, W.norm1, N, C, eps);
    const q = linear(h, N, C, W.q, C), k = linear(h, N, C, W.k, C), v = linear(h, N, C, W.v, C);
    const { o } = attention(q, k, v, null, d.attn);
    const xMid = add(x, linear(o, N, C, W.o, C));
    const { y: h2 } = rmsnorm(xMid, W.norm2, N, C, eps);
    const gate = linear(h2, N, C, W.gate, F), up = linear(h2, N, C, W.up, F);
    const act = swiglu(gate, up);
    const out = add(xMid, linear(act, N, F, W.down, C));
    blocks.push({ W, x, h, q, k, v, o, xMid, h2, gate, up, act });
    x = out;
  }
  const norm = need('vision.norm.weight', [C]);
  const { y: final } = rmsnorm(x, norm, N, C, eps);
  const fc1 = need('projector.fc1.weight', [Hp, C]);
  const z = linear(final, N, C, fc1, Hp, need('projector.fc1.bias', [Hp]));
  const a = silu(z);
  const fc2 = need('projector.fc2.weight', [Co, Hp]);
  const y = linear(a, N, Hp, fc2, Co, need('projector.fc2.bias', [Co]));
  return { d, patches, blocks, xLast: x, final, z, a, y, W: { patchEmbed, norm, fc1, fc2 } };
}

/** Image token embeddings y [B * P, Co] of pixels [B, S, S, Ch]. */
export function visionForward(cfg: VisionConfig, weight: (name: string) => Arr, pixels: Arr, B: number): Float64Array {
  return forward(cfg, weight, pixels, B).y;
}

/** dA = dy W [rows, in] and dW = dy^T x [out, in] of y = x W^T. */
function linBack(x: Arr, W: Arr, dy: Arr, rows: number, inF: number, outF: number): { dx: Float64Array; dW: Float64Array } {
  const { dA, dB } = matmulBackward(rows, outF, inF, false, true, x, W, dy);
  return { dx: dA, dW: dB };
}

/**
 * The forward's y and the gradient of every weight (keyed by name, in forward
 * order) for dL/dy = dy [B * P, Co].
 */
export function visionBackward(cfg: VisionConfig, weight: (name: string) => Arr, pixels: Arr, B: number, dy: Arr): { y: Float64Array; grads: Map<string, Float64Array> } {
  const f = forward(cfg, weight, pixels, B);
  const { N, P, K, C, F, Hp, Co } = f.d;
  const eps = cfg.rmsNormEps;
  if (dy.length !== N * Co) throw new VisionReferenceError(`reference vision: dy has ${dy.length} values, expected B*P*Co = ${N * Co}`);
  const g = new Map<string, Float64Array>();

  // projector
  const fc2 = linBack(f.a, f.W.fc2, dy, N, Hp, Co);
  const dz = siluBackward(f.z, fc2.dx);
  const fc1 = linBack(f.final, f.W.fc1, dz, N, C, Hp);
  const top = rmsnormBackward(f.xLast, f.W.norm, fc1.dx, N, C, eps);

  // blocks, reversed
  let dx = top.dx;
  const blockGrads: Map<string, Float64Array>[] = [];
  for (let l = cfg.layers - 1; l >= 0; l--) {
    const c = f.blocks[l];
    const p = `vision.blocks.${l}.`;
    const bg = new Map<string, Float64Array>();
    const down = linBack(c.act, c.W.down, dx, N, F, C);
    const { dg, du } = swigluBackward(c.gate, c.up, down.dx);
    const gate = linBack(c.h2, c.W.gate, dg, N, C, F);
    const up = linBack(c.h2, c.W.up, du, N, C, F);
    const n2 = rmsnormBackward(c.xMid, c.W.norm2, add(gate.dx, up.dx), N, C, eps);
    const dxMid = add(dx, n2.dx);
    const o = linBack(c.o, c.W.o, dxMid, N, C, C);
    const at = attentionBackward(c.q, c.k, c.v, null, o.dx, f.d.attn);
    const q = linBack(c.h, c.W.q, at.dq, N, C, C);
    const k = linBack(c.h, c.W.k, at.dk, N, C, C);
    const v = linBack(c.h, c.W.v, at.dv, N, C, C);
    const n1 = rmsnormBackward(c.x, c.W.norm1, add(add(q.dx, k.dx), v.dx), N, C, eps);
    dx = add(dxMid, n1.dx);
    bg.set(`${p}norm1.weight`, n1.dweight);
    bg.set(`${p}attn.q_proj.weight`, q.dW);
    bg.set(`${p}attn.k_proj.weight`, k.dW);
    bg.set(`${p}attn.v_proj.weight`, v.dW);
    bg.set(`${p}attn.o_proj.weight`, o.dW);
    bg.set(`${p}norm2.weight`, n2.dweight);
    bg.set(`${p}mlp.gate_proj.weight`, gate.dW);
    bg.set(`${p}mlp.up_proj.weight`, up.dW);
    bg.set(`${p}mlp.down_proj.weight`, down.dW);
    blockGrads[l] = bg;
  }

  // patch embedding and positions: x0 = patches Wpe^T + pos (pos repeats every P rows)
  g.set('vision.patch_embed.weight', linBack(f.patches, f.W.patchEmbed, dx, N, K, C).dW);
  g.set('vision.pos_embed', biasGrad(dx, f.d.B, P * C));
  for (const bg of blockGrads) for (const [name, t] of bg) g.set(name, t);
  g.set('vision.norm.weight', top.dweight);
  g.set('projector.fc1.weight', fc1.dW);
  g.set('projector.fc1.bias', biasGrad(dz, N, Hp));
  g.set('projector.fc2.weight', fc2.dW);
  g.set('projector.fc2.bias', biasGrad(dy, N, Co));
  return { y: f.y, grads: g };
}
