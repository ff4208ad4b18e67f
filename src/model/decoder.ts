// The Llama / Qwen2 decoder on the GPU: its weights, read from a Hugging Face
// folder. The passes live beside it: forward.ts (inference and training
// forward), backward.ts (the explicit backward). Shapes: C hidden, H / Hkv
// heads, D head dim, F MLP width, V vocab; a Linear weight is [out, in].
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { writeFileAtomic, writeSafetensors } from '../io/safetensors.ts';
import { SINGLE_FILE, WeightFolder } from '../io/weights.ts';
import { parseConfig, toHfConfig, type DecoderConfig } from './config.ts';
import { openFolder, type FolderSource } from '../io/files.ts';
import { checkStoredShape, freshValues, releaseTable, tableTensors, uploadTable, type TableSpec } from './weight-table.ts';
import type { ImageSlots } from '../../reference/decoder.ts';

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
  gateBias?: Tensor; // [F] (llama mlp_bias)
  upBias?: Tensor;
  downBias?: Tensor; // [C]
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
  /** Image token embeddings that replace the lookup at their placeholder rows (LLaVA style). */
  images?: DecoderImages;
}

/**
 * Image i's P token embeddings (e.g. the vision projector's output) replace
 * rows at[i] .. at[i] + P - 1 of the flattened [B*T] input embeddings; the
 * ids there are placeholders. The backward returns their gradient and keeps
 * it out of the embedding table's. The rules are reference/decoder.ts's
 * ImageSlots (inside one sequence, no overlap).
 */
export interface DecoderImages extends ImageSlots {
  embeds: Tensor; // [nImages, P, C]
}

/**
 * One weight of the model: its HF name, shape, and where it lives in
 * DecoderWeights. Load, save, random init and the trainer's parameter list
 * all walk this one table, so the names cannot drift apart.
 */
export type WeightSpec = TableSpec<DecoderWeights>;

type LayerKey = keyof LayerWeights;

/** Every weight of a model with this config, in HF order (lm_head only when untied). */
export function weightSpecs(cfg: DecoderConfig): WeightSpec[] {
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F, vocab: V } = cfg;
  const specs: WeightSpec[] = [{
    name: 'model.embed_tokens.weight', shape: [V, C], kind: 'matrix',
    get: (w) => w.embed, set: (w, t) => { w.embed = t; },
  }];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}.`;
    const layer = (name: string, shape: number[], kind: WeightSpec['kind'], key: LayerKey): WeightSpec => ({
      name: p + name, shape, kind,
      get: (w) => w.layers[l][key] as Tensor,
      set: (w, t) => { (w.layers[l] ??= {} as LayerWeights)[key] = t; },
    });
    specs.push(layer('input_layernorm.weight', [C], 'norm', 'inputNorm'));
    specs.push(layer('self_attn.q_proj.weight', [H * D, C], 'matrix', 'q'));
    if (cfg.qkvBias) specs.push(layer('self_attn.q_proj.bias', [H * D], 'bias', 'qBias'));
    specs.push(layer('self_attn.k_proj.weight', [Hkv * D, C], 'matrix', 'k'));
    if (cfg.qkvBias) specs.push(layer('self_attn.k_proj.bias', [Hkv * D], 'bias', 'kBias'));
    specs.push(layer('self_attn.v_proj.weight', [Hkv * D, C], 'matrix', 'v'));
    if (cfg.qkvBias) specs.push(layer('self_attn.v_proj.bias', [Hkv * D], 'bias', 'vBias'));
    specs.push(layer('self_attn.o_proj.weight', [C, H * D], 'matrix', 'o'));
    if (cfg.oBias) specs.push(layer('self_attn.o_proj.bias', [C], 'bias', 'oBias'));
    specs.push(layer('post_attention_layernorm.weight', [C], 'norm', 'postNorm'));
    specs.push(layer('mlp.gate_proj.weight', [F, C], 'matrix', 'gate'));
    if (cfg.mlpBias) specs.push(layer('mlp.gate_proj.bias', [F], 'bias', 'gateBias'));
    specs.push(layer('mlp.up_proj.weight', [F, C], 'matrix', 'up'));
    if (cfg.mlpBias) specs.push(layer('mlp.up_proj.bias', [F], 'bias', 'upBias'));
    specs.push(layer('mlp.down_proj.weight', [C, F], 'matrix', 'down'));
    if (cfg.mlpBias) specs.push(layer('mlp.down_proj.bias', [C], 'bias', 'downBias'));
  }
  specs.push({ name: 'model.norm.weight', shape: [C], kind: 'norm', get: (w) => w.norm, set: (w, t) => { w.norm = t; } });
  if (!cfg.tiedEmbeddings) {
    specs.push({ name: 'lm_head.weight', shape: [V, C], kind: 'matrix', get: (w) => w.lmHead, set: (w, t) => { w.lmHead = t; } });
  }
  return specs;
}

/**
 * Builds a Decoder from a source of weight data (by spec: name, shape); on any
 * failure the tensors already uploaded are released (a bad folder leaves
 * nothing on the GPU).
 */
export async function decoderFromData(gpu: Gpu, config: DecoderConfig, data: (spec: WeightSpec) => Promise<ArrayLike<number>>): Promise<Decoder> {
  const weights = { layers: Array.from({ length: config.layers }, () => ({}) as LayerWeights) } as unknown as DecoderWeights;
  await uploadTable(gpu, weightSpecs(config), weights, data);
  if (config.tiedEmbeddings) weights.lmHead = weights.embed;
  return { config, weights };
}

/**
 * Reads config.json and the weights of an HF folder onto the GPU (as f32).
 * The folder is a path, a URL or files in memory (io/files.ts).
 */
export async function loadDecoder(gpu: Gpu, source: FolderSource): Promise<Decoder> {
  const files = openFolder(source);
  const config = parseConfig(await files.readText('config.json'), files.pathOf('config.json'));
  const dir = files.location;
  const folder = await WeightFolder.open(files);
  try {
    return await decoderFromData(gpu, config, async ({ name, shape }) => {
      checkStoredShape(dir, name, folder.entry(name), shape, 'config.json');
      return folder.float32(name);
    });
  } finally {
    await folder.close();
  }
}

/**
 * A model with fresh weights, as transformers initialises one: linears and the
 * embedding ~ N(0, std^2) (initializer_range, default 0.02), norms 1, biases 0.
 * Seeded: the same seed gives the same weights.
 */
export async function randomDecoder(gpu: Gpu, config: DecoderConfig, seed: number, std = 0.02): Promise<Decoder> {
  return decoderFromData(gpu, config, freshValues(seed, std));
}

/**
 * Writes config.json and model.safetensors (F32 unless asked, HF names) into
 * dir, each atomically: transformers and loadDecoder read the folder back.
 */
export async function saveDecoder(gpu: Gpu, model: Decoder, dir: string, opts: { dtype?: 'F32' | 'BF16' | 'F16'; metadata?: Record<string, string> } = {}): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(dir, { recursive: true });
  const tensors = await tableTensors(gpu, weightSpecs(model.config), model.weights, opts.dtype);
  await writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt', ...opts.metadata });
  await writeFileAtomic(join(dir, 'config.json'), new TextEncoder().encode(JSON.stringify(toHfConfig(model.config), null, 2) + '\n'));
}

export { decoderForward, type ForwardOptions } from './forward.ts';

/** Releases every weight tensor of the model. */
export function releaseDecoder(model: Decoder): void {
  releaseTable(weightSpecs(model.config), model.weights);
}
