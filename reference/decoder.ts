// Float64 reference of the Llama / Qwen2 decoder, forward and backward: the
// spec the GPU model is tested against, built from the per-kernel references.
// Plain code, no batching tricks. Shapes: B batch, T time, N = B*T rows, C
// hidden, H / Hkv heads, D head dim, F MLP width, V vocab, r LoRA rank.
// Activations are row-major [N, C].
//
//   x = embed[ids]
//   for each layer:
//     h = rmsnorm(x, input_layernorm)
//     q, k, v = lin_q(h), lin_k(h), lin_v(h)                   [B, T, H|Hkv, D]
//     q, k = rope(q, pos), rope(k, pos)
//     x = x + lin_o(attention(q, k, v; causal, key mask))
//     h = rmsnorm(x, post_attention_layernorm)
//     x = x + lin_down(silu(lin_gate(h)) * lin_up(h))
//   x = rmsnorm(x, norm);  logits = x head^T (head = embed when tied)
//   loss = mean over rows with target != -100 of -log softmax(logits)[target]
//
// Every linear is  lin(x) = x W^T (+ b)  and, when a LoRA adapter is on it,
//   lin(x) = x W^T (+ b) + s * dropout(x) A^T B^T     A [r, in], B [out, r]
// (reference/lora.ts; the dropout mask is by flat index over the [N, in] input).
// A bias is used when the weight function has it (has(name)), whatever the
// config says, and then it gets a gradient.
//
// Backward runs the same steps in reverse, each through its kernel's reference
// backward (cross_entropy, matmul, rmsnorm, lora, elementwise swiglu, attention,
// rope, embedding); the residual stream's gradient dx is summed at each fork.
//
// hidden[0] is the embedding output, hidden[i] the output of layer i, and the
// last entry is after the final norm (as transformers' output_hidden_states).
import type { DecoderConfig } from '../src/model/config.ts';
import { attention, attentionBackward, type AttentionShape } from './attention.ts';
import { crossEntropy, crossEntropyBackward } from './cross_entropy.ts';
import { biasGrad, swiglu, swigluBackward } from './elementwise.ts';
import { embedding, embeddingBackward } from './embedding.ts';
import { loraBackward, loraForward, type DropoutSpec, type LoraDims, type LoraWeights } from './lora.ts';
import { matmulBackward } from './matmul.ts';
import { rmsnorm, rmsnormBackward } from './rmsnorm.ts';
import { rope, ropeBackward, type RopeShape } from './rope.ts';

type Arr = ArrayLike<number>;

/** A weight, LoRA tensor, input or target that does not fit the config. */
export class DecoderReferenceError extends Error {
  override name = 'DecoderReferenceError';
}

export interface DecoderInput {
  B: number;
  T: number;
  /** [B, T] token ids. */
  ids: Arr;
  /** [B, T], nonzero = a real token (left or right padding). */
  mask: Arr;
  /** [B, T] rotary positions. */
  pos: Arr;
  /** Image token embeddings placed over the embedding lookup (LLaVA style); see ImageSlots. */
  images?: ReferenceImages;
}

/**
 * Where images sit in a sequence: image i's P token embeddings replace rows
 * at[i] .. at[i] + P - 1 of the flattened [B*T] sequence (the rows of its
 * placeholder tokens), inside one sequence, never overlapping. Those rows'
 * ids are ignored; their gradient goes to the image embeddings, not to the
 * embedding table.
 */
export interface ImageSlots {
  /** Image tokens per image. */
  P: number;
  /** First row (b * T + t) of each image. */
  at: readonly number[];
}

export interface ReferenceImages extends ImageSlots {
  /** [nImages, P, C] */
  embeds: Arr;
}

/** Validates image slots against a [B, T] batch; the message names the image. */
export function checkImageSlots(where: string, B: number, T: number, slots: ImageSlots): void {
  const { P, at } = slots;
  if (!Number.isInteger(P) || P < 1) throw new DecoderReferenceError(`${where}: images.P = ${P} must be a positive integer`);
  const taken = new Set<number>();
  at.forEach((row, i) => {
    if (!Number.isInteger(row) || row < 0 || row + P > B * T || (row % T) + P > T) {
      throw new DecoderReferenceError(`${where}: image ${i} at row ${row} (P ${P}) must lie inside one sequence of T ${T} in [0, ${B * T})`);
    }
    for (let r = row; r < row + P; r++) {
      if (taken.has(r)) throw new DecoderReferenceError(`${where}: image ${i} overlaps an earlier image at row ${r}`);
      taken.add(r);
    }
  });
}

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface ReferenceLora {
  /** s = alpha / r (or alpha / sqrt(r)). */
  scale: number;
  /** Which linears carry an adapter. */
  targets: readonly LoraTarget[];
  /** A [r, in] and B [out, r] of a module, by PEFT-style name without the base_model.model. prefix:
   *  `model.layers.${l}.self_attn.q_proj.lora_A.weight` / `.lora_B.weight` (mlp.* for gate/up/down). */
  weight: (name: string) => ArrayLike<number>;
  /** Optional dropout on the adapter input per layer/module (p = 0 or absent: none). */
  dropout?: (layer: number, target: LoraTarget) => DropoutSpec | undefined;
}

/** y [rows, out] = x [rows, in] W^T (+ b), W [out, in]. */
export function linear(x: Arr, rows: number, inDim: number, W: Arr, outDim: number, b?: Arr): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * W[o * inDim + i];
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

/** The HF module path of a target in layer l: model.layers.l.self_attn.q_proj, model.layers.l.mlp.down_proj. */
export function modulePath(layer: number, target: LoraTarget): string {
  const block = target === 'gate_proj' || target === 'up_proj' || target === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${target}`;
}

const NO_DROPOUT: DropoutSpec = { p: 0, seed: 0 };

/** One linear of a layer: its frozen base and, when targeted, its adapter. */
interface Linear {
  /** HF module path, e.g. model.layers.0.self_attn.q_proj. */
  path: string;
  inF: number;
  outF: number;
  W: Arr; // [out, in]
  b: Arr | undefined; // [out]
  /** Present when the module carries an adapter. */
  lora?: { dims: LoraDims; w: LoraWeights };
}

/** The parameters of one forward, checked against the config, and the order they were used in. */
class Params {
  /** Every parameter name the forward read, in order, each once (base weights, biases, LoRA tensors). */
  readonly used: string[] = [];

  constructor(
    private readonly weight: (name: string) => Arr,
    private readonly lora: ReferenceLora | undefined,
  ) {
    if (lora) {
      if (!Number.isFinite(lora.scale)) throw new DecoderReferenceError(`reference decoder: LoRA scale is ${lora.scale}; expected a finite number`);
      for (const t of lora.targets) {
        if (!(LORA_TARGETS as readonly string[]).includes(t)) {
          throw new DecoderReferenceError(`reference decoder: LoRA target "${t}" is not one of ${LORA_TARGETS.join(', ')}`);
        }
      }
    }
  }

  private note(name: string): void {
    if (!this.used.includes(name)) this.used.push(name);
  }

  /** A required tensor of the given shape (the weight function's own error when it is missing). */
  need(name: string, shape: readonly number[]): Arr {
    return this.check(name, this.weight(name), shape, 'the config');
  }

  /** An optional tensor (a bias): undefined when the weight function does not have it. */
  has(name: string, shape: readonly number[]): Arr | undefined {
    let w: Arr;
    try {
      w = this.weight(name);
    } catch {
      return undefined;
    }
    return this.check(name, w, shape, 'the config');
  }

  private check(name: string, w: Arr, shape: readonly number[], from: string): Arr {
    const n = shape.reduce((a, b) => a * b, 1);
    if (w.length !== n) {
      throw new DecoderReferenceError(`reference decoder: tensor "${name}" has ${w.length} elements, expected ${n} ([${shape.join(', ')}]) from ${from}`);
    }
    this.note(name);
    return w;
  }

  /** The linear `target` of layer l: W [out, in], its bias if present, its adapter if targeted. */
  linear(layer: number, target: LoraTarget, N: number, inF: number, outF: number): Linear {
    const path = modulePath(layer, target);
    const W = this.need(`${path}.weight`, [outF, inF]);
    const b = this.has(`${path}.bias`, [outF]);
    const lin: Linear = { path, inF, outF, W, b };
    const lora = this.lora;
    if (lora && lora.targets.includes(target)) {
      const nameA = `${path}.lora_A.weight`, nameB = `${path}.lora_B.weight`;
      const A = lora.weight(nameA);
      const r = A.length / inF;
      if (!Number.isInteger(r) || r < 1) {
        throw new DecoderReferenceError(`reference decoder: LoRA tensor "${nameA}" has ${A.length} elements, expected [r, ${inF}] for some rank r >= 1`);
      }
      this.check(nameA, A, [r, inF], `the config and rank ${r}`);
      const B = this.check(nameB, lora.weight(nameB), [outF, r], `the config and rank ${r} (from ${nameA})`);
      const dropout = lora.dropout?.(layer, target) ?? NO_DROPOUT;
      if (!(dropout.p >= 0 && dropout.p < 1)) {
        throw new DecoderReferenceError(`reference decoder: LoRA dropout p of layer ${layer} ${target} is ${dropout.p}; expected 0 <= p < 1`);
      }
      lin.lora = { dims: { N, inF, outF, r }, w: { W, b: b ?? null, A, B, scale: lora.scale, dropout } };
    }
    return lin;
  }
}

/** y [N, out] = lin(x), x [N, in]. Without an adapter this is exactly `linear`. */
function linearForward(lin: Linear, x: Arr, N: number): Float64Array {
  return lin.lora ? loraForward(lin.lora.dims, x, lin.lora.w).y : linear(x, N, lin.inF, lin.W, lin.outF, lin.b);
}

/**
 * dx [N, in] for dy [N, out] at lin(x). Records into `grads` the gradients of
 * what trains: the adapter's A [r, in] and B [out, r] when `adapters`, else W [out, in] and b [out].
 */
function linearBackward(lin: Linear, x: Arr, N: number, dy: Arr, grads: Map<string, Float64Array>, adapters: boolean): Float64Array {
  if (lin.lora) {
    // loraBackward's dx includes the frozen base: dx = dy W + mask * (s dy B) A.
    const { dx, dA, dB } = loraBackward(lin.lora.dims, x, lin.lora.w, dy);
    if (adapters) {
      grads.set(`${lin.path}.lora_A.weight`, dA);
      grads.set(`${lin.path}.lora_B.weight`, dB);
    }
    return dx;
  }
  // y = x W^T: M = N, N = out, K = in, transB. dA = dx [N, in], dB = dW [out, in].
  const { dA: dx, dB: dW } = matmulBackward(N, lin.outF, lin.inF, false, true, x, lin.W, dy);
  if (!adapters) {
    grads.set(`${lin.path}.weight`, dW);
    if (lin.b) grads.set(`${lin.path}.bias`, biasGrad(dy, N, lin.outF));
  }
  return dx;
}

/** What one layer's backward needs from its forward. */
interface LayerCache {
  lin: Record<LoraTarget, Linear>;
  inputNorm: Arr; // [C]
  postNorm: Arr; // [C]
  x: Float64Array; // [N, C] layer input
  h: Float64Array; // [N, C] rmsnorm(x)
  q: Float64Array; // [N, H*D] after rope
  k: Float64Array; // [N, Hkv*D] after rope
  v: Float64Array; // [N, Hkv*D]
  o: Float64Array; // [N, H*D] attention output
  xMid: Float64Array; // [N, C] x + attention block
  h2: Float64Array; // [N, C] rmsnorm(xMid)
  gate: Float64Array; // [N, F]
  up: Float64Array; // [N, F]
  act: Float64Array; // [N, F] silu(gate) * up
}

interface Shapes {
  N: number;
  attn: AttentionShape;
  ropeQ: RopeShape;
  ropeK: RopeShape;
}

function shapes(cfg: DecoderConfig, input: DecoderInput): Shapes {
  const { B, T } = input;
  const { heads: H, kvHeads: Hkv, headDim: D, ropeTheta: theta } = cfg;
  return {
    N: B * T,
    attn: { B, T, H, Hkv, D, causal: true },
    ropeQ: { B, T, H, D, theta },
    ropeK: { B, T, H: Hkv, D, theta },
  };
}

function checkInput(cfg: DecoderConfig, input: DecoderInput): void {
  const N = input.B * input.T;
  if (!(Number.isInteger(input.B) && input.B >= 1 && Number.isInteger(input.T) && input.T >= 1)) {
    throw new DecoderReferenceError(`reference decoder: B ${input.B} and T ${input.T} must be positive integers`);
  }
  for (const field of ['ids', 'mask', 'pos'] as const) {
    if (input[field].length !== N) {
      throw new DecoderReferenceError(`reference decoder: input.${field} has ${input[field].length} entries, expected B*T = ${N}`);
    }
  }
  for (let i = 0; i < N; i++) {
    const id = input.ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocab) {
      throw new DecoderReferenceError(`reference decoder: input.ids[${i}] (row ${Math.floor(i / input.T)}, t ${i % input.T}) is ${id}; expected a token id in [0, ${cfg.vocab})`);
    }
  }
}

function checkTargets(cfg: DecoderConfig, N: number, targets: Arr): void {
  if (targets.length !== N) throw new DecoderReferenceError(`reference decoder: targets has ${targets.length} entries, expected B*T = ${N}`);
  for (let i = 0; i < N; i++) {
    const t = targets[i];
    if (t !== -100 && !(Number.isInteger(t) && t >= 0 && t < cfg.vocab)) {
      throw new DecoderReferenceError(`reference decoder: targets[${i}] is ${t}; expected -100 (ignored) or a token id in [0, ${cfg.vocab})`);
    }
  }
}

function add(a: Float64Array, b: Arr): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

/** One decoder layer forward: x [N, C] -> layer output [N, C], and its cache. */
function layerForward(cfg: DecoderConfig, P: Params, l: number, input: DecoderInput, S: Shapes, x: Float64Array): { out: Float64Array; cache: LayerCache } {
  const { N } = S;
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F, rmsNormEps: eps } = cfg;
  const p = `model.layers.${l}.`;
  // Read in HF order (the order decoderBackward lists its gradients in).
  const inputNorm = P.need(`${p}input_layernorm.weight`, [C]);
  const qProj = P.linear(l, 'q_proj', N, C, H * D);
  const kProj = P.linear(l, 'k_proj', N, C, Hkv * D);
  const vProj = P.linear(l, 'v_proj', N, C, Hkv * D);
  const oProj = P.linear(l, 'o_proj', N, H * D, C);
  const postNorm = P.need(`${p}post_attention_layernorm.weight`, [C]);
  const lin: Record<LoraTarget, Linear> = {
    q_proj: qProj, k_proj: kProj, v_proj: vProj, o_proj: oProj,
    gate_proj: P.linear(l, 'gate_proj', N, C, F),
    up_proj: P.linear(l, 'up_proj', N, C, F),
    down_proj: P.linear(l, 'down_proj', N, F, C),
  };

  // Attention block.
  const { y: h } = rmsnorm(x, inputNorm, N, C, eps); // [N, C]
  const q = rope(linearForward(lin.q_proj, h, N), input.pos, S.ropeQ); // [B, T, H, D]
  const k = rope(linearForward(lin.k_proj, h, N), input.pos, S.ropeK); // [B, T, Hkv, D]
  const v = linearForward(lin.v_proj, h, N); // [B, T, Hkv, D]
  const { o } = attention(q, k, v, input.mask, S.attn); // [B, T, H, D]
  const xMid = add(x, linearForward(lin.o_proj, o, N)); // [N, C]

  // MLP block.
  const { y: h2 } = rmsnorm(xMid, postNorm, N, C, eps); // [N, C]
  const gate = linearForward(lin.gate_proj, h2, N); // [N, F]
  const up = linearForward(lin.up_proj, h2, N); // [N, F]
  const act = swiglu(gate, up); // [N, F]
  const out = add(xMid, linearForward(lin.down_proj, act, N)); // [N, C]
  return { out, cache: { lin, inputNorm, postNorm, x, h, q, k, v, o, xMid, h2, gate, up, act } };
}

/** dx [N, C] at the layer input from dout [N, C] at its output; records parameter gradients. */
function layerBackward(cfg: DecoderConfig, l: number, input: DecoderInput, S: Shapes, c: LayerCache, dout: Float64Array,
  grads: Map<string, Float64Array>, adapters: boolean): Float64Array {
  const { N } = S;
  const { hidden: C, rmsNormEps: eps } = cfg;
  const p = `model.layers.${l}.`;

  // MLP block: out = xMid + down(swiglu(gate(h2), up(h2))), h2 = rmsnorm(xMid).
  const dact = linearBackward(c.lin.down_proj, c.act, N, dout, grads, adapters); // [N, F]
  const { dg, du } = swigluBackward(c.gate, c.up, dact); // [N, F] each
  const dh2 = add(linearBackward(c.lin.gate_proj, c.h2, N, dg, grads, adapters),
    linearBackward(c.lin.up_proj, c.h2, N, du, grads, adapters)); // [N, C]
  const post = rmsnormBackward(c.xMid, c.postNorm, dh2, N, C, eps);
  if (!adapters) grads.set(`${p}post_attention_layernorm.weight`, post.dweight);
  const dxMid = add(dout, post.dx); // residual + norm branch, [N, C]

  // Attention block: xMid = x + o_proj(attention(rope(q(h)), rope(k(h)), v(h))), h = rmsnorm(x).
  const dO = linearBackward(c.lin.o_proj, c.o, N, dxMid, grads, adapters); // [B, T, H, D]
  const { dq, dk, dv } = attentionBackward(c.q, c.k, c.v, input.mask, dO, S.attn); // dq [B, T, H, D], dk dv [B, T, Hkv, D]
  const dqLin = ropeBackward(dq, input.pos, S.ropeQ); // before rope, [N, H*D]
  const dkLin = ropeBackward(dk, input.pos, S.ropeK); // [N, Hkv*D]
  const dh = add(add(linearBackward(c.lin.q_proj, c.h, N, dqLin, grads, adapters),
    linearBackward(c.lin.k_proj, c.h, N, dkLin, grads, adapters)),
  linearBackward(c.lin.v_proj, c.h, N, dv, grads, adapters)); // [N, C]
  const pre = rmsnormBackward(c.x, c.inputNorm, dh, N, C, eps);
  if (!adapters) grads.set(`${p}input_layernorm.weight`, pre.dweight);
  return add(dxMid, pre.dx); // [N, C]
}

interface Forward {
  P: Params;
  S: Shapes;
  embed: Arr; // [V, C]
  head: Arr; // [V, C]
  caches: LayerCache[];
  /** [N, C] output of the last layer, before the final norm. */
  xLast: Float64Array;
  normW: Arr; // [C]
  /** [N, C] after the final norm. */
  final: Float64Array;
  hidden: Float64Array[];
  logits: Float64Array; // [N, V]
}

function forward(cfg: DecoderConfig, weight: (name: string) => Arr, input: DecoderInput, lora: ReferenceLora | undefined): Forward {
  checkInput(cfg, input);
  const P = new Params(weight, lora);
  const S = shapes(cfg, input);
  const { N } = S;
  const { hidden: C, vocab: V, rmsNormEps: eps } = cfg;

  const embed = P.need('model.embed_tokens.weight', [V, C]);
  let x = embedding(embed, input.ids, C); // [N, C]
  if (input.images) {
    const { P, at, embeds } = input.images;
    checkImageSlots('reference decoder', input.B, input.T, input.images);
    if (embeds.length !== at.length * P * C) throw new DecoderReferenceError(`reference decoder: images.embeds has ${embeds.length} values, expected ${at.length} x ${P} x ${C}`);
    at.forEach((row, i) => {
      for (let j = 0; j < P * C; j++) x[row * C + j] = embeds[i * P * C + j];
    });
  }
  const hidden: Float64Array[] = [x];
  const caches: LayerCache[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const { out, cache } = layerForward(cfg, P, l, input, S, x);
    caches.push(cache);
    x = out;
    hidden.push(x);
  }
  const normW = P.need('model.norm.weight', [C]);
  const { y: final } = rmsnorm(x, normW, N, C, eps); // [N, C]
  hidden[hidden.length - 1] = final;
  const head = cfg.tiedEmbeddings ? embed : P.need('lm_head.weight', [V, C]);
  return { P, S, embed, head, caches, xLast: x, normW, final, hidden, logits: linear(final, N, C, head, V) };
}

export function decoderForward(
  cfg: DecoderConfig,
  weight: (name: string) => Arr,
  input: DecoderInput,
  lora?: ReferenceLora,
): { hidden: Float64Array[]; logits: Float64Array } {
  const { hidden, logits } = forward(cfg, weight, input, lora);
  return { hidden, logits };
}

/** Mean next-token cross-entropy over the rows whose target is not -100. targets [B*T] already shifted by the caller. */
export function decoderLoss(
  cfg: DecoderConfig,
  weight: (name: string) => Arr,
  input: DecoderInput,
  targets: Arr,
  lora?: ReferenceLora,
): number {
  const { logits, S } = forward(cfg, weight, input, lora);
  checkTargets(cfg, S.N, targets);
  return crossEntropy(logits, targets, S.N, cfg.vocab).loss;
}

/**
 * Gradients of decoderLoss. With `lora` given: gradients of the LoRA A/B tensors only (keys = their names above),
 * base frozen. Without: gradients of every base weight keyed by its HF name (model.embed_tokens.weight, every
 * model.layers.L.* weight and bias that exists, model.norm.weight, lm_head.weight when not tied; when tied the
 * embedding's gradient includes the head's contribution). Also returns the loss.
 * The map lists its keys in the order the forward reads the tensors.
 */
export function decoderBackward(
  cfg: DecoderConfig,
  weight: (name: string) => Arr,
  input: DecoderInput,
  targets: Arr,
  lora?: ReferenceLora,
): { loss: number; grads: Map<string, Float64Array>; dImages?: Float64Array } {
  const f = forward(cfg, weight, input, lora);
  const { N } = f.S;
  const { hidden: C, vocab: V, rmsNormEps: eps } = cfg;
  checkTargets(cfg, N, targets);
  const adapters = lora !== undefined;
  const grads = new Map<string, Float64Array>();

  const { loss } = crossEntropy(f.logits, targets, N, V);
  const dlogits = crossEntropyBackward(f.logits, targets, N, V); // [N, V], mean over the counted rows
  // logits = final head^T: M = N, N = V, K = C. dA = dfinal [N, C], dB = dhead [V, C].
  const { dA: dfinal, dB: dhead } = matmulBackward(N, V, C, false, true, f.final, f.head, dlogits);
  const norm = rmsnormBackward(f.xLast, f.normW, dfinal, N, C, eps);
  if (!adapters) grads.set('model.norm.weight', norm.dweight);

  let dx = norm.dx; // [N, C], gradient of the residual stream
  for (let l = cfg.layers - 1; l >= 0; l--) dx = layerBackward(cfg, l, input, f.S, f.caches[l], dx, grads, adapters);

  // Image rows: their gradient goes to the image embeddings, and not to the table.
  let dImages: Float64Array | undefined;
  if (input.images) {
    const { P, at } = input.images;
    dImages = new Float64Array(at.length * P * C);
    at.forEach((row, i) => {
      for (let j = 0; j < P * C; j++) {
        dImages![i * P * C + j] = dx[row * C + j];
        dx[row * C + j] = 0;
      }
    });
  }

  if (!adapters) {
    // The embedding is read at ids; when tied it is also the head, whose gradient seeds the table's.
    grads.set('model.embed_tokens.weight', embeddingBackward(dx, input.ids, V, C, cfg.tiedEmbeddings ? dhead : undefined));
    if (!cfg.tiedEmbeddings) grads.set('lm_head.weight', dhead);
  }

  // Same keys, in the order the forward used the tensors.
  const ordered = new Map<string, Float64Array>();
  for (const name of f.P.used) {
    const g = grads.get(name);
    if (g) ordered.set(name, g);
  }
  if (ordered.size !== grads.size) throw new DecoderReferenceError('reference decoder: internal error, a gradient has no forward tensor');
  return { loss, grads: ordered, dImages };
}
