// The vision encoder (a small ViT) and its projector into the decoder's
// embedding space: configuration, weights, random init, save and load. The
// passes live beside it: vision-forward.ts (inference and training forward)
// and vision-backward.ts (the explicit backward); the float64 spec is
// reference/vision.ts.
//
// Shapes: B images of S x S pixels with Ch channels, [B, S, S, Ch] row-major
// (channels last), already normalised; p the patch size, G = S / p patches
// per side, P = G * G patches per image, N = B * P rows, K = p * p * Ch
// values per patch; C hidden, H heads, D = C / H head dim, F MLP width,
// Hp projector width, Co = the decoder's hidden size. A Linear weight is [out, in].
//
//   patches = patchify(pixels)                          [N, K]
//   x = patches Wpe^T + pos_embed[patch]                [B, P, C]
//   per block:
//     x = x + o(attention(q(h), k(h), v(h); bidirectional)),  h = rmsnorm(x, norm1)
//     x = x + down(silu(gate(h)) * up(h)),                    h = rmsnorm(x, norm2)
//   final = rmsnorm(x, norm)                            [N, C]
//   y = fc2(silu(fc1(final) + b1)) + b2                 [B, P, Co]  image token embeddings
//
// Choices, and why:
// - RMSNorm pre-norm blocks and a SwiGLU MLP (as Qwen2.5-VL's ViT), not the
//   original ViT's LayerNorm and GELU: the kernels here have RMSNorm and
//   SwiGLU (forward and backward) and no LayerNorm or GELU, and the decoder
//   already trusts them. The projector's activation is SiLU for the same
//   reason (Qwen2.5-VL's merger uses GELU).
// - Learned absolute positions, one vector per patch (P of them), added after
//   the patch embedding; so the patch embedding has no bias (pos_embed would
//   absorb it). The grid is fixed by image_size: no 2-D rotary positions and
//   no resizing to other resolutions.
// - No biases in the blocks (Llama-style linears); the projector has biases.
// - No CLS token and no spatial merge: every patch becomes one image token.
// - Patch vectors are laid out (row, column, channel) inside the patch, the
//   order the pixels already have in memory, so patchify is a row gather (see
//   vision-forward.ts). A PyTorch Conv2d patch weight [C, Ch, p, p] maps onto
//   vision.patch_embed.weight [C, K] by permuting to [C, p, p, Ch].
//
// Files: vision_config.json and vision_model.safetensors (names distinct from
// the decoder's config.json and model.safetensors, so both can share a folder).
import { openFolder, type FolderSource } from '../io/files.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { fmtShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { freshValues, releaseTable, tableTensors, uploadTable, type TableSpec } from './weight-table.ts';
import { SafetensorsFile, writeFileAtomic, writeSafetensors } from '../io/safetensors.ts';
import { ConfigError, configFields } from './config.ts';

export const VISION_CONFIG_FILE = 'vision_config.json';
export const VISION_WEIGHTS_FILE = 'vision_model.safetensors';
export const VISION_MODEL_TYPE = 'lco_vision';

export interface VisionConfig {
  /** S: images are S x S pixels. */
  imageSize: number;
  /** p: patches are p x p pixels; S % p == 0. */
  patchSize: number;
  /** Ch: channels per pixel (3 for RGB). */
  channels: number;
  /** C: encoder width. */
  hidden: number;
  layers: number;
  /** H: attention heads; C % H == 0. */
  heads: number;
  /** F: SwiGLU width of the encoder blocks. */
  intermediate: number;
  /** Hp: the projector's hidden width. */
  projectorHidden: number;
  /** Co: the projector's output width, the decoder's hidden size. */
  outHidden: number;
  rmsNormEps: number;
  /**
   * The token id written on an image's placeholder rows (its embedding is
   * replaced by the image's, so any id works; it keeps the rows out of the
   * text's tokens). Default 0.
   */
  imageTokenId: number;
  /** Per-channel mean and std (0..1 scale) the pixels are normalised with. Default 0.5, 0.5 (-1..1). */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
}

/** Sizes that follow from the config. */
export interface VisionDims {
  /** G: patches per side. */
  grid: number;
  /** P = G * G patches per image. */
  numPatches: number;
  /** K = p * p * Ch values per patch. */
  patchDim: number;
  /** D = C / H. */
  headDim: number;
}

export function visionDims(cfg: VisionConfig): VisionDims {
  const grid = cfg.imageSize / cfg.patchSize;
  return { grid, numPatches: grid * grid, patchDim: cfg.patchSize * cfg.patchSize * cfg.channels, headDim: cfg.hidden / cfg.heads };
}

/** Fixed properties a vision_config.json may state; any other value is refused. */
const FIXED = { hidden_act: 'silu', norm: 'rmsnorm', position_embedding: 'learned', patch_layout: 'row_col_channel' } as const;

/** Parses vision_config.json text or an already-parsed object. `source` names it in errors. */
export function parseVisionConfig(input: string | unknown, source = VISION_CONFIG_FILE): VisionConfig {
  const { c, fail, int } = configFields(input, source);

  if (c.model_type !== VISION_MODEL_TYPE) fail('model_type', `"${VISION_MODEL_TYPE}"`);
  for (const [field, value] of Object.entries(FIXED)) {
    if (c[field] !== undefined && c[field] !== value) fail(field, `"${value}" (the only one lco-webgpu's vision encoder implements)`);
  }
  const imageSize = int('image_size');
  const patchSize = int('patch_size');
  if (imageSize % patchSize !== 0) fail('patch_size', `a divisor of image_size ${imageSize}`);
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  if (hidden % heads !== 0) fail('num_attention_heads', `a divisor of hidden_size ${hidden}`);
  const eps = c.rms_norm_eps ?? 1e-6;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) fail('rms_norm_eps', 'a positive number');
  const tokenId = (): number => {
    const v = c.image_token_id ?? 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('image_token_id', 'an integer >= 0');
    return v as number;
  };
  const triple = (field: string, positive: boolean): [number, number, number] => {
    const v = c[field] ?? [0.5, 0.5, 0.5];
    const ok = Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
    if (!ok) fail(field, `3 finite numbers (R, G, B)${positive ? ' > 0' : ''}`);
    const t = v as number[];
    return [t[0], t[1], t[2]];
  };
  return {
    imageSize,
    patchSize,
    channels: int('num_channels', 3),
    hidden,
    layers: int('num_hidden_layers'),
    heads,
    intermediate: int('intermediate_size'),
    projectorHidden: int('projector_hidden_size'),
    outHidden: int('out_hidden_size'),
    rmsNormEps: eps as number,
    imageTokenId: tokenId(),
    imageMean: triple('image_mean', false),
    imageStd: triple('image_std', true),
  };
}

/** The vision_config.json object of a config (parseVisionConfig reads it back to the same config). */
export function toVisionJson(cfg: VisionConfig): Record<string, unknown> {
  return {
    model_type: VISION_MODEL_TYPE,
    image_size: cfg.imageSize,
    patch_size: cfg.patchSize,
    num_channels: cfg.channels,
    hidden_size: cfg.hidden,
    num_hidden_layers: cfg.layers,
    num_attention_heads: cfg.heads,
    intermediate_size: cfg.intermediate,
    projector_hidden_size: cfg.projectorHidden,
    out_hidden_size: cfg.outHidden,
    rms_norm_eps: cfg.rmsNormEps,
    image_token_id: cfg.imageTokenId,
    image_mean: cfg.imageMean,
    image_std: cfg.imageStd,
    ...FIXED,
  };
}

/** Throws a ConfigError naming the first bad field of a config built in code (same rules as the file). */
export function checkVisionConfig(cfg: VisionConfig, source = 'vision config'): VisionConfig {
  return parseVisionConfig(toVisionJson(cfg), source);
}

export interface VisionBlockWeights {
  norm1: Tensor; // [C]
  q: Tensor; // [C, C]
  k: Tensor; // [C, C]
  v: Tensor; // [C, C]
  o: Tensor; // [C, C]
  norm2: Tensor; // [C]
  gate: Tensor; // [F, C]
  up: Tensor; // [F, C]
  down: Tensor; // [C, F]
}

export interface VisionWeights {
  patchEmbed: Tensor; // [C, K]
  posEmbed: Tensor; // [P, C]
  blocks: VisionBlockWeights[];
  norm: Tensor; // [C]
  fc1: Tensor; // [Hp, C]
  fc1Bias: Tensor; // [Hp]
  fc2: Tensor; // [Co, Hp]
  fc2Bias: Tensor; // [Co]
}

export interface VisionModel {
  config: VisionConfig;
  weights: VisionWeights;
}

/**
 * One weight: its name in vision_model.safetensors, shape, init kind, which
 * part it belongs to (a frozen encoder trains the projector only), and where
 * it lives in VisionWeights. Load, save, random init and the tests walk this
 * one table.
 */
export interface VisionWeightSpec extends TableSpec<VisionWeights> {
  part: 'encoder' | 'projector';
}

type BlockKey = keyof VisionBlockWeights;
type TopKey = Exclude<keyof VisionWeights, 'blocks'>;

/** Every weight of a model with this config, in forward order. */
export function visionWeightSpecs(cfg: VisionConfig): VisionWeightSpec[] {
  const { hidden: C, intermediate: F, projectorHidden: Hp, outHidden: Co } = cfg;
  const { numPatches: P, patchDim: K } = visionDims(cfg);
  const top = (name: string, shape: number[], kind: VisionWeightSpec['kind'], part: VisionWeightSpec['part'], key: TopKey): VisionWeightSpec => ({
    name, shape, kind, part, get: (w) => w[key], set: (w, t) => { w[key] = t; },
  });
  const specs: VisionWeightSpec[] = [
    top('vision.patch_embed.weight', [C, K], 'matrix', 'encoder', 'patchEmbed'),
    top('vision.pos_embed', [P, C], 'matrix', 'encoder', 'posEmbed'),
  ];
  for (let l = 0; l < cfg.layers; l++) {
    const block = (name: string, shape: number[], kind: VisionWeightSpec['kind'], key: BlockKey): VisionWeightSpec => ({
      name: `vision.blocks.${l}.${name}`, shape, kind, part: 'encoder',
      get: (w) => w.blocks[l][key],
      set: (w, t) => { (w.blocks[l] ??= {} as VisionBlockWeights)[key] = t; },
    });
    specs.push(block('norm1.weight', [C], 'norm', 'norm1'));
    specs.push(block('attn.q_proj.weight', [C, C], 'matrix', 'q'));
    specs.push(block('attn.k_proj.weight', [C, C], 'matrix', 'k'));
    specs.push(block('attn.v_proj.weight', [C, C], 'matrix', 'v'));
    specs.push(block('attn.o_proj.weight', [C, C], 'matrix', 'o'));
    specs.push(block('norm2.weight', [C], 'norm', 'norm2'));
    specs.push(block('mlp.gate_proj.weight', [F, C], 'matrix', 'gate'));
    specs.push(block('mlp.up_proj.weight', [F, C], 'matrix', 'up'));
    specs.push(block('mlp.down_proj.weight', [C, F], 'matrix', 'down'));
  }
  specs.push(top('vision.norm.weight', [C], 'norm', 'encoder', 'norm'));
  specs.push(top('projector.fc1.weight', [Hp, C], 'matrix', 'projector', 'fc1'));
  specs.push(top('projector.fc1.bias', [Hp], 'bias', 'projector', 'fc1Bias'));
  specs.push(top('projector.fc2.weight', [Co, Hp], 'matrix', 'projector', 'fc2'));
  specs.push(top('projector.fc2.bias', [Co], 'bias', 'projector', 'fc2Bias'));
  return specs;
}

/**
 * Builds a VisionModel from a source of weight data (by spec); the config is
 * checked first, and on any failure the tensors already uploaded are released.
 */
export async function visionFromData(gpu: Gpu, config: VisionConfig, data: (spec: VisionWeightSpec) => Promise<ArrayLike<number>>): Promise<VisionModel> {
  checkVisionConfig(config);
  const weights = { blocks: Array.from({ length: config.layers }, () => ({}) as VisionBlockWeights) } as unknown as VisionWeights;
  await uploadTable(gpu, visionWeightSpecs(config), weights, data);
  return { config, weights };
}

/**
 * Fresh weights: linears and positions ~ N(0, std^2), norms 1, biases 0.
 * Seeded: the same seed gives the same weights.
 */
export async function randomVision(gpu: Gpu, config: VisionConfig, seed: number, std = 0.02): Promise<VisionModel> {
  return visionFromData(gpu, config, freshValues(seed, std));
}

/** Writes vision_model.safetensors (F32 unless asked) and vision_config.json into dir, each atomically. */
export async function saveVision(gpu: Gpu, model: VisionModel, dir: string, opts: { dtype?: 'F32' | 'BF16' | 'F16'; metadata?: Record<string, string> } = {}): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(dir, { recursive: true });
  const tensors = await tableTensors(gpu, visionWeightSpecs(model.config), model.weights, opts.dtype);
  await writeSafetensors(join(dir, VISION_WEIGHTS_FILE), tensors, { format: 'pt', ...opts.metadata });
  await writeFileAtomic(join(dir, VISION_CONFIG_FILE), new TextEncoder().encode(JSON.stringify(toVisionJson(model.config), null, 2) + '\n'));
}

/** Reads vision_config.json and vision_model.safetensors of a folder (path, URL or files; io/files.ts) onto the GPU (as f32). */
export async function loadVision(gpu: Gpu, source: FolderSource): Promise<VisionModel> {
  const folder = openFolder(source);
  let configText: string;
  try {
    configText = await folder.readText(VISION_CONFIG_FILE);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const config = parseVisionConfig(configText, folder.pathOf(VISION_CONFIG_FILE));
  const file = await SafetensorsFile.openIn(folder, VISION_WEIGHTS_FILE);
  try {
    return await visionFromData(gpu, config, async ({ name, shape }) => {
      const e = file.entry(name);
      if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
        throw new ConfigError(`${file.path}: tensor "${name}" has shape ${fmtShape(e.shape)}, expected ${fmtShape(shape)} from ${VISION_CONFIG_FILE}`);
      }
      return file.float32(name);
    });
  } finally {
    await file.close();
  }
}

/** Releases every weight tensor of the model. */
export function releaseVision(model: VisionModel): void {
  releaseTable(visionWeightSpecs(model.config), model.weights);
}

export { patchify, patchRowIds, visionForward, visionTrainForward, type VisionActivations } from './vision-forward.ts';
export { visionBackward } from './vision-backward.ts';
