// The Llama / Qwen2 decoder on the GPU: weights from a Hugging Face folder,
// and the forward pass, explicit layer by layer (llm.c style). The maths is
// reference/decoder.ts; shapes: B batch, T time, C hidden, H / Hkv heads,
// D head dim, F MLP width, V vocab; activations are [B, T, C] row-major.
//
// Padding: `mask` [B, T] marks real tokens (left or right padding) and `pos`
// [B, T] their rotary positions. A padding query with no real key before it
// gets zeros from attention (not HF's uniform average over masked keys), so
// callers read real tokens only.
import type { Gpu } from '../gpu/gpu.ts';
import { check, fmtShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { WeightFolder } from '../io/weights.ts';
import { attention } from '../ops/attention.ts';
import { add, biasAdd, swiglu } from '../ops/elementwise.ts';
import { embedding } from '../ops/embedding.ts';
import { matmul } from '../ops/matmul.ts';
import { rmsnorm } from '../ops/rmsnorm.ts';
import { rope } from '../ops/rope.ts';
import { parseConfig, type DecoderConfig } from './config.ts';

export interface LayerWeights {
  inputNorm: Tensor; // [C]
  q: Tensor; // [H*D, C]
  k: Tensor; // [Hkv*D, C]
  v: Tensor; // [Hkv*D, C]
  o: Tensor; // [C, H*D]
  qBias?: Tensor;
  kBias?: Tensor;
  vBias?: Tensor;
  oBias?: Tensor;
  postNorm: Tensor; // [C]
  gate: Tensor; // [F, C]
  up: Tensor; // [F, C]
  down: Tensor; // [C, F]
}

export interface DecoderWeights {
  embed: Tensor; // [V, C]
  layers: LayerWeights[];
  norm: Tensor; // [C]
  /** [V, C]; the embedding when tied. */
  lmHead: Tensor;
}

export interface Decoder {
  config: DecoderConfig;
  weights: DecoderWeights;
}

export interface DecoderInput {
  B: number;
  T: number;
  ids: Tensor<'i32'>; // [B, T]
  mask: Tensor<'i32'>; // [B, T], nonzero = real token
  pos: Tensor<'i32'>; // [B, T]
}

/** Reads config.json and the weights of an HF folder onto the GPU (as f32). */
export async function loadDecoder(gpu: Gpu, dir: string): Promise<Decoder> {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const configPath = join(dir, 'config.json');
  let configText: string;
  try {
    configText = await readFile(configPath, 'utf8');
  } catch (err) {
    throw new Error(`${configPath}: cannot read (${(err as Error).message})`);
  }
  const config = parseConfig(configText, configPath);
  const folder = await WeightFolder.open(dir);
  const loaded: Tensor[] = [];
  try {
    const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F, vocab: V } = config;
    const load = async (name: string, shape: number[]): Promise<Tensor> => {
      const e = folder.entry(name);
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${dir}: tensor "${name}" has shape ${fmtShape(e.shape)}, expected ${fmtShape(shape)} from config.json`);
      }
      const t = gpu.tensor(await folder.float32(name), shape, 'f32', name);
      loaded.push(t);
      return t;
    };
    const embed = await load('model.embed_tokens.weight', [V, C]);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.layers; l++) {
      const p = `model.layers.${l}.`;
      layers.push({
        inputNorm: await load(`${p}input_layernorm.weight`, [C]),
        q: await load(`${p}self_attn.q_proj.weight`, [H * D, C]),
        k: await load(`${p}self_attn.k_proj.weight`, [Hkv * D, C]),
        v: await load(`${p}self_attn.v_proj.weight`, [Hkv * D, C]),
        o: await load(`${p}self_attn.o_proj.weight`, [C, H * D]),
        qBias: config.qkvBias ? await load(`${p}self_attn.q_proj.bias`, [H * D]) : undefined,
        kBias: config.qkvBias ? await load(`${p}self_attn.k_proj.bias`, [Hkv * D]) : undefined,
        vBias: config.qkvBias ? await load(`${p}self_attn.v_proj.bias`, [Hkv * D]) : undefined,
        oBias: config.oBias ? await load(`${p}self_attn.o_proj.bias`, [C]) : undefined,
        postNorm: await load(`${p}post_attention_layernorm.weight`, [C]),
        gate: await load(`${p}mlp.gate_proj.weight`, [F, C]),
        up: await load(`${p}mlp.up_proj.weight`, [F, C]),
        down: await load(`${p}mlp.down_proj.weight`, [C, F]),
      });
    }
    const norm = await load('model.norm.weight', [C]);
    const lmHead = config.tiedEmbeddings ? embed : await load('lm_head.weight', [V, C]);
    return { config, weights: { embed, layers, norm, lmHead } };
  } catch (err) {
    for (const t of loaded) t.release(); // a bad folder leaves nothing on the GPU
    throw err;
  } finally {
    await folder.close();
  }
}

/** y = x W^T (+ b): a Linear layer over the last dimension. */
function linear(gpu: Gpu, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = matmul(gpu, x, w, { transB: true });
  if (!b) return y;
  const yb = biasAdd(gpu, y, b);
  y.release();
  return yb;
}

export interface ForwardOptions {
  /** Keep every layer's output (hidden[0] = embeddings, last = after the final norm). */
  hiddenStates?: boolean;
}

/**
 * Forward pass. Returns the final hidden states [B, T, C] (after the final
 * norm) and, when asked, every layer's output; the caller releases them.
 */
export function decoderForward(gpu: Gpu, model: Decoder, input: DecoderInput, opts: ForwardOptions = {}): { last: Tensor; hidden: Tensor[] } {
  const { config: cfg, weights: w } = model;
  const { B, T } = input;
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, rmsNormEps: eps, ropeTheta: theta } = cfg;
  for (const [name, t] of [['ids', input.ids], ['mask', input.mask], ['pos', input.pos]] as const) {
    check(t.dtype === 'i32' && t.size === B * T, 'decoderForward', () => `${name} ${t.describe()} must be i32 [${B}, ${T}]`);
  }
  const hidden: Tensor[] = [];

  // x [B, T, C] = embed[ids]
  let x = embedding(gpu, w.embed, input.ids).reshape([B, T, C]);
  if (opts.hiddenStates) hidden.push(x);

  for (const L of w.layers) {
    // attention block: x += o_proj(attention(rope(q), rope(k), v))
    const h = rmsnorm(gpu, x, L.inputNorm, eps);
    const qLin = linear(gpu, h.y, L.q, L.qBias).reshape([B, T, H, D]);
    const kLin = linear(gpu, h.y, L.k, L.kBias).reshape([B, T, Hkv, D]);
    const v = linear(gpu, h.y, L.v, L.vBias).reshape([B, T, Hkv, D]);
    h.y.release();
    h.rstd.release();
    const q = rope(gpu, qLin, input.pos, { theta });
    const k = rope(gpu, kLin, input.pos, { theta });
    qLin.release();
    kLin.release();
    const a = attention(gpu, q, k, v, { mask: input.mask, causal: true });
    [q, k, v, a.lse].forEach((t) => t.release());
    const attnOut = linear(gpu, a.o.reshape([B, T, H * D]), L.o, L.oBias);
    a.o.release();
    const x1 = add(gpu, x, attnOut);
    attnOut.release();
    if (!opts.hiddenStates) x.release();

    // MLP block: x += down(silu(gate(h)) * up(h))
    const h2 = rmsnorm(gpu, x1, L.postNorm, eps);
    const gate = linear(gpu, h2.y, L.gate);
    const up = linear(gpu, h2.y, L.up);
    h2.y.release();
    h2.rstd.release();
    const act = swiglu(gpu, gate, up);
    gate.release();
    up.release();
    const mlpOut = linear(gpu, act, L.down);
    act.release();
    x = add(gpu, x1, mlpOut);
    x1.release();
    mlpOut.release();
    if (opts.hiddenStates) hidden.push(x);
  }
  const final = rmsnorm(gpu, x, w.norm, eps);
  final.rstd.release();
  x.release();
  // transformers reports the last hidden state after the final norm.
  if (opts.hiddenStates) hidden[hidden.length - 1] = final.y;
  return { last: final.y, hidden };
}

/** Releases every weight tensor of the model. */
export function releaseDecoder(model: Decoder): void {
  const w = model.weights;
  const all = [w.embed, w.norm, ...w.layers.flatMap((L) => Object.values(L) as (Tensor | undefined)[])];
  if (w.lmHead !== w.embed) all.push(w.lmHead);
  for (const t of all) t?.release();
}
