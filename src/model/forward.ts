// The decoder's forward pass on the GPU, explicit layer by layer (llm.c
// style): for inference (decoderForward: activations freed as soon as the
// next op has read them) and for training (decoderTrainForward: every
// activation the backward in backward.ts reads is kept). The maths is the
// float64 reference in reference/decoder.ts.
//
// Shapes: B batch, T time, N = B*T tokens, C hidden, H / Hkv heads, D head
// dim, F MLP width; activations [B, T, C] row-major.
//
//   x = embed[ids]                                         [B, T, C]
//   per layer:
//     h1 = rmsnorm(x, input_layernorm)                     [N, C]
//     q = rope(h1 Wq^T (+bq)), k = rope(h1 Wk^T (+bk)), v = h1 Wv^T (+bv)
//     o, lse = attention(q, k, v; causal, key mask)        [B, T, H, D], [B, H, T]
//     x1 = x + o Wo^T (+bo)
//     h2 = rmsnorm(x1, post_attention_layernorm)
//     x2 = x1 + (silu(h2 Wg^T) * (h2 Wu^T)) Wd^T
//   final = rmsnorm(x, norm)                               (the LM head's input)
// Each linear may carry a LoRA adapter: + s * dropout(x) A^T B^T.
//
// Padding: `mask` [B, T] marks real tokens (left or right padding) and `pos`
// [B, T] their rotary positions. A padding query with no real key before it
// gets zeros from attention (not HF's uniform average over masked keys), so
// callers read real tokens only.
import type { Gpu } from '../gpu/gpu.ts';
import { check } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { attention } from '../ops/attention.ts';
import { add, biasAdd, swiglu } from '../ops/elementwise.ts';
import { embedding, type IdGroups } from '../ops/embedding.ts';
import { loraForward, type LoraSaved } from '../ops/lora.ts';
import { matmul } from '../ops/matmul.ts';
import { rmsnorm } from '../ops/rmsnorm.ts';
import { rope } from '../ops/rope.ts';
import type { Decoder, DecoderInput, LayerWeights } from './decoder.ts';
import { LORA_TARGETS, type DecoderLora, type LoraModule, type LoraTarget } from './lora.ts';
import { checkImageSlots } from '../../reference/decoder.ts';

export interface TrainInput extends DecoderInput {
  /** The ids of `ids` on the CPU (the embedding's backward groups them there). */
  idsData: Int32Array;
  /**
   * idsData grouped and uploaded ahead (groupIds), so the backward records no
   * upload in the middle of a step (an upload submits the work before it).
   * Absent: the backward groups them itself. Released by the caller.
   */
  idGroups?: IdGroups;
}

export interface ForwardOptions {
  /** Keep every layer's output (hidden[0] = embeddings, last = after the final norm). */
  hiddenStates?: boolean;
  /** Run with this adapter on its target linears. */
  lora?: DecoderLora;
  /**
   * Seed of this micro-batch's LoRA dropout masks; each linear derives its
   * own (linearDropoutSeed). The backward recomputes the masks from it, and a
   * replay with the same seed reproduces them (GradCache). Inference
   * (decoderForward) never drops.
   */
  dropoutSeed?: number;
}

/** One linear's input and, when it has an adapter, what the adapter's backward needs. */
export interface LinearSaved {
  x: Tensor; // [N, in], owned by the layer's activations
  lora?: LoraSaved;
}

export interface LayerActs {
  x: Tensor; // [B, T, C] input (the residual stream)
  rstd1: Tensor; // [N]
  h1: Tensor; // [N, C]
  q: Tensor; // [B, T, H, D] after rope
  k: Tensor; // [B, T, Hkv, D] after rope
  v: Tensor; // [B, T, Hkv, D]
  o: Tensor; // [B, T, H, D]
  lse: Tensor; // [B, H, T]
  x1: Tensor; // [B, T, C]
  rstd2: Tensor; // [N]
  h2: Tensor; // [N, C]
  gate: Tensor; // [N, F]
  up: Tensor; // [N, F]
  act: Tensor; // [N, F]
  lin: Partial<Record<LoraTarget, LinearSaved>>;
}

export interface TrainActivations {
  input: TrainInput;
  lora?: DecoderLora;
  layers: LayerActs[];
  /** Output of the last layer [B, T, C]. */
  xLast: Tensor;
  rstdFinal: Tensor; // [N]
  /** After the final norm [B, T, C]: the LM head's input. */
  final: Tensor;
  /** Frees everything still held (the backward frees layers as it goes). */
  release(): void;
}

/** A u32 seed per (micro-batch seed, layer, linear), so no two masks coincide. */
export function linearDropoutSeed(seed: number, layer: number, target: LoraTarget): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + layer * LORA_TARGETS.length + LORA_TARGETS.indexOf(target) + 1) >>> 0;
}

/** The base weight and bias of a linear. */
export function weightsOf(L: LayerWeights, t: LoraTarget): { W: Tensor; b?: Tensor } {
  switch (t) {
    case 'q_proj': return { W: L.q, b: L.qBias };
    case 'k_proj': return { W: L.k, b: L.kBias };
    case 'v_proj': return { W: L.v, b: L.vBias };
    case 'o_proj': return { W: L.o, b: L.oBias };
    case 'gate_proj': return { W: L.gate, b: L.gateBias };
    case 'up_proj': return { W: L.up, b: L.upBias };
    case 'down_proj': return { W: L.down, b: L.downBias };
  }
}

/** What every linear of one layer shares. */
export interface LayerCtx {
  gpu: Gpu;
  L: LayerWeights;
  mods: Partial<Record<LoraTarget, LoraModule>>;
  lora?: DecoderLora;
  layer: number;
  /** Dropout seed of the micro-batch; undefined = no dropout (inference). */
  seed?: number;
}

/** y [N, out] = x W^T (+ b) (+ s * dropout(x) A^T B^T); `saved` gets what the backward needs. */
function linearForward(c: LayerCtx, t: LoraTarget, x: Tensor, saved: Partial<Record<LoraTarget, LinearSaved>>): Tensor {
  const { W, b } = weightsOf(c.L, t);
  const mod = c.mods[t];
  if (mod && c.lora) {
    const p = c.lora.config.dropout;
    const { y, saved: s } = loraForward(c.gpu, x, {
      W, b, A: mod.A, B: mod.B, scale: c.lora.scale,
      dropout: p > 0 && c.seed !== undefined ? { p, seed: linearDropoutSeed(c.seed, c.layer, t) } : undefined,
    });
    saved[t] = { x, lora: s };
    return y;
  }
  saved[t] = { x };
  const y = matmul(c.gpu, x, W, { transB: true });
  if (!b) return y;
  const yb = biasAdd(c.gpu, y, b);
  y.release();
  return yb;
}

/** One decoder layer: x [B, T, C] -> x2 [B, T, C] and the layer's activations (x2 is not among them). */
function layerForward(c: LayerCtx, x: Tensor, input: DecoderInput, model: Decoder): { x2: Tensor; acts: LayerActs } {
  const { gpu, L } = c;
  const { B, T } = input;
  const N = B * T;
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, rmsNormEps: eps, ropeTheta: theta } = model.config;
  const lin: Partial<Record<LoraTarget, LinearSaved>> = {};
  // attention block: x1 = x + o_proj(attention(rope(q), rope(k), v))
  const n1 = rmsnorm(gpu, x, L.inputNorm, eps);
  const h1 = n1.y.reshape([N, C]);
  const q = linearForward(c, 'q_proj', h1, lin).reshape([B, T, H, D]);
  const k = linearForward(c, 'k_proj', h1, lin).reshape([B, T, Hkv, D]);
  const v = linearForward(c, 'v_proj', h1, lin).reshape([B, T, Hkv, D]);
  rope(gpu, q, input.pos, { theta, out: q });
  rope(gpu, k, input.pos, { theta, out: k });
  const a = attention(gpu, q, k, v, { mask: input.mask, causal: true });
  const attnOut = linearForward(c, 'o_proj', a.o.reshape([N, H * D]), lin);
  const x1 = add(gpu, x, attnOut.reshape([B, T, C]));
  attnOut.release();
  // MLP block: x2 = x1 + down(silu(gate(h2)) * up(h2))
  const n2 = rmsnorm(gpu, x1, L.postNorm, eps);
  const h2 = n2.y.reshape([N, C]);
  const gate = linearForward(c, 'gate_proj', h2, lin);
  const up = linearForward(c, 'up_proj', h2, lin);
  const act = swiglu(gpu, gate, up);
  const mlpOut = linearForward(c, 'down_proj', act, lin);
  const x2 = add(gpu, x1, mlpOut.reshape([B, T, C]));
  mlpOut.release();
  return { x2, acts: { x, rstd1: n1.rstd, h1, q, k, v, o: a.o, lse: a.lse, x1, rstd2: n2.rstd, h2, gate, up, act, lin } };
}

function checkInput(op: string, model: Decoder, input: DecoderInput, lora?: DecoderLora): void {
  const { B, T } = input;
  for (const [name, t] of [['ids', input.ids], ['mask', input.mask], ['pos', input.pos]] as const) {
    check(t.dtype === 'i32' && t.size === B * T, op, () => `${name} ${t.describe()} must be i32 [${B}, ${T}]`);
  }
  if (lora) check(lora.layers.length === model.config.layers, op, () => `the adapter has ${lora.layers.length} layers, the model ${model.config.layers}`);
}

/**
 * x [B, T, C] = embed[ids], with each image's P embeddings copied over its
 * placeholder rows (input.images).
 */
function embedInput(gpu: Gpu, model: Decoder, input: DecoderInput): Tensor {
  const { B, T } = input;
  const C = model.config.hidden;
  const x = embedding(gpu, model.weights.embed, input.ids).reshape([B, T, C]);
  const im = input.images;
  if (im) {
    checkImageSlots('decoder input', B, T, im);
    check(im.embeds.dtype === 'f32' && im.embeds.size === im.at.length * im.P * C, 'decoder input',
      () => `images.embeds ${im.embeds.describe()} must be f32 [${im.at.length}, ${im.P}, ${C}]`);
    im.at.forEach((row, i) => gpu.copy(im.embeds, x, im.P * C, i * im.P * C, row * C));
  }
  return x;
}

function ctx(gpu: Gpu, model: Decoder, l: number, opts: ForwardOptions): LayerCtx {
  return { gpu, L: model.weights.layers[l], mods: opts.lora?.layers[l] ?? {}, lora: opts.lora, layer: l, seed: opts.dropoutSeed };
}

/**
 * Inference forward. Returns the final hidden states [B, T, C] (after the
 * final norm) and, when asked, every layer's output; the caller releases them.
 */
export function decoderForward(gpu: Gpu, model: Decoder, input: DecoderInput, opts: ForwardOptions = {}): { last: Tensor; hidden: Tensor[] } {
  checkInput('decoderForward', model, input, opts.lora);
  const { B, T } = input;
  const { hidden: C, rmsNormEps: eps } = model.config;
  const hidden: Tensor[] = [];
  const inference = { ...opts, dropoutSeed: undefined };
  let x = embedInput(gpu, model, input);
  if (opts.hiddenStates) hidden.push(x);
  for (let l = 0; l < model.config.layers; l++) {
    const { x2, acts } = layerForward(ctx(gpu, model, l, inference), x, input, model);
    // acts.x is x: a hidden state the caller gets back when asked for them.
    releaseLayer(acts, opts.hiddenStates ? x : null);
    x = x2;
    if (opts.hiddenStates) hidden.push(x);
  }
  const final = rmsnorm(gpu, x, model.weights.norm, eps);
  final.rstd.release();
  // transformers reports the last hidden state after the final norm: it takes
  // the last layer's raw output's place, so that output is freed either way.
  x.release();
  if (opts.hiddenStates) hidden[hidden.length - 1] = final.y;
  return { last: final.y, hidden };
}

/** Releases a layer's activations, except `keep` (a hidden state the caller returns). */
export function releaseLayer(a: LayerActs, keep: Tensor | null = null): void {
  for (const t of [a.x, a.rstd1, a.h1, a.q, a.k, a.v, a.o, a.lse, a.x1, a.rstd2, a.h2, a.gate, a.up, a.act]) {
    if (t !== keep && !t.released) t.release();
  }
  for (const s of Object.values(a.lin)) if (s?.lora && !s.lora.su.released) s.lora.release();
}

/** Training forward: keeps every activation the backward (backward.ts) reads. */
export function decoderTrainForward(gpu: Gpu, model: Decoder, input: TrainInput, opts: ForwardOptions = {}): TrainActivations {
  checkInput('decoderTrainForward', model, input, opts.lora);
  const { B, T } = input;
  check(input.idsData.length === B * T, 'decoderTrainForward', () => `idsData has ${input.idsData.length} ids, expected B*T = ${B * T}`);
  const { rmsNormEps: eps } = model.config;
  let x = embedInput(gpu, model, input);
  const layers: LayerActs[] = [];
  for (let l = 0; l < model.config.layers; l++) {
    const { x2, acts } = layerForward(ctx(gpu, model, l, opts), x, input, model);
    layers.push(acts);
    x = x2;
  }
  const fin = rmsnorm(gpu, x, model.weights.norm, eps);
  const acts: TrainActivations = {
    input, lora: opts.lora, layers, xLast: x, rstdFinal: fin.rstd, final: fin.y,
    release() {
      for (const la of acts.layers) releaseLayer(la);
      acts.layers = [];
      for (const t of [acts.xLast, acts.rstdFinal, acts.final]) if (!t.released) t.release();
    },
  };
  return acts;
}
