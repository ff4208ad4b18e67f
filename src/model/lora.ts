// LoRA adapters on the decoder's linears, and their files in PEFT's format.
//
//   y = x W^T (+ b) + s * dropout(x) A^T B^T,  A [r, in], B [out, r],
//   s = alpha / r (rsLoRA: alpha / sqrt(r)).
//
// A starts kaiming-uniform (PEFT: kaiming_uniform_(a = sqrt(5)), which is
// U(-1/sqrt(in), 1/sqrt(in))) and B at zero, so a fresh adapter leaves the
// model unchanged. On disk (PEFT): adapter_config.json and
// adapter_model.safetensors with tensors named
//   base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight   [r, in]
//   base_model.model.model.layers.{l}.self_attn.q_proj.lora_B.weight   [out, r]
// (mlp.* for gate_proj, up_proj, down_proj).
import { openFolder, type FolderSource } from '../io/files.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { rng } from '../doctor/compare.ts';
import { SafetensorsFile, writeFileAtomic, writeSafetensors } from '../io/safetensors.ts';
import { loraScale } from '../ops/lora.ts';
import { LORA_TARGETS, modulePath, type LoraTarget } from '../../reference/decoder.ts';
import type { DecoderConfig } from './config.ts';
import type { Decoder } from './decoder.ts';

export { LORA_TARGETS, type LoraTarget };

export interface LoraConfig {
  r: number;
  alpha: number;
  /** Dropout on the adapter's input, 0 <= p < 1. */
  dropout: number;
  rslora: boolean;
  targets: LoraTarget[];
}

export interface LoraModule {
  A: Tensor; // [r, in]
  B: Tensor; // [out, r]
}

export interface DecoderLora {
  config: LoraConfig;
  /** s = alpha / r (or alpha / sqrt(r)). */
  scale: number;
  /** Per layer, the adapted linears. */
  layers: Partial<Record<LoraTarget, LoraModule>>[];
}

export class AdapterError extends Error {
  override name = 'AdapterError';
}

/** [out, in] of a target linear. */
export function targetShape(cfg: DecoderConfig, t: LoraTarget): [number, number] {
  const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, intermediate: F } = cfg;
  switch (t) {
    case 'q_proj': return [H * D, C];
    case 'k_proj': case 'v_proj': return [Hkv * D, C];
    case 'o_proj': return [C, H * D];
    case 'gate_proj': case 'up_proj': return [F, C];
    case 'down_proj': return [C, F];
  }
}

export function validateLoraConfig(c: LoraConfig, where = 'LoRA config'): void {
  const bad = (msg: string): never => {
    throw new AdapterError(`${where}: ${msg}`);
  };
  if (!Number.isSafeInteger(c.r) || c.r < 1) bad(`r = ${c.r} must be a positive integer`);
  if (!Number.isFinite(c.alpha) || c.alpha <= 0) bad(`alpha = ${c.alpha} must be a positive number`);
  if (!Number.isFinite(c.dropout) || c.dropout < 0 || c.dropout >= 1) bad(`dropout = ${c.dropout} must be in [0, 1)`);
  if (c.targets.length === 0) bad('no target modules');
  for (const t of c.targets) if (!LORA_TARGETS.includes(t)) bad(`unknown target module "${t}" (expected some of ${LORA_TARGETS.join(', ')})`);
}

/** A fresh adapter: A kaiming-uniform (seeded), B zeros. */
export function createLora(gpu: Gpu, cfg: DecoderConfig, config: LoraConfig, seed: number): DecoderLora {
  validateLoraConfig(config);
  const rand = rng(seed);
  const layers = Array.from({ length: cfg.layers }, (_, l) => {
    const mods: Partial<Record<LoraTarget, LoraModule>> = {};
    for (const t of config.targets) {
      const [out, inF] = targetShape(cfg, t);
      const bound = 1 / Math.sqrt(inF);
      const a = Float32Array.from({ length: config.r * inF }, () => (2 * rand() - 1) * bound);
      mods[t] = {
        A: gpu.tensor(a, [config.r, inF], 'f32', `${modulePath(l, t)}.lora_A`),
        B: gpu.zeros([out, config.r], 'f32', `${modulePath(l, t)}.lora_B`),
      };
    }
    return mods;
  });
  return { config, scale: loraScale(config.alpha, config.r, config.rslora), layers };
}

/** Every adapter tensor with its name (without PEFT's base_model.model. prefix), in a fixed order. */
export function loraTensors(lora: DecoderLora): { name: string; tensor: Tensor }[] {
  return lora.layers.flatMap((mods, l) =>
    LORA_TARGETS.flatMap((t) => {
      const m = mods[t];
      if (!m) return [];
      return [
        { name: `${modulePath(l, t)}.lora_A.weight`, tensor: m.A },
        { name: `${modulePath(l, t)}.lora_B.weight`, tensor: m.B },
      ];
    }),
  );
}

export function releaseLora(lora: DecoderLora): void {
  for (const { tensor } of loraTensors(lora)) tensor.release();
}

/** PEFT's prefix on adapter tensor names. */
export const PEFT_PREFIX = 'base_model.model.';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** Writes adapter_config.json and adapter_model.safetensors (F32) into dir, each atomically. */
export async function saveLoraAdapter(gpu: Gpu, lora: DecoderLora, dir: string, baseModel: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(dir, { recursive: true });
  const tensors = [];
  for (const { name, tensor } of loraTensors(lora)) {
    tensors.push({ name: PEFT_PREFIX + name, dtype: 'F32' as const, shape: [...tensor.shape], data: await gpu.read(tensor) });
  }
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  const c = lora.config;
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: c.targets,
    bias: 'none',
    use_rslora: c.rslora,
    base_model_name_or_path: baseModel,
    fan_in_fan_out: false,
    inference_mode: true,
  };
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n'));
}

/**
 * Reads and checks a PEFT adapter_config.json: plain LoRA only. Options whose
 * maths is not W + s B A on every layer's target linears (DoRA,
 * fan_in_fan_out, per-module ranks or alphas, modules_to_save,
 * layers_to_transform, a bias) are refused by name rather than misread.
 */
export async function readAdapterConfig(source: FolderSource): Promise<{ config: LoraConfig; raw: Record<string, unknown> }> {
  const folder = openFolder(source);
  const path = folder.pathOf(ADAPTER_CONFIG);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await folder.readText(ADAPTER_CONFIG));
  } catch (err) {
    throw new AdapterError(`${path}: cannot read adapter config (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new AdapterError(`${path}: must be a JSON object`);
  if (raw.peft_type !== 'LORA') throw new AdapterError(`${path}: peft_type is ${JSON.stringify(raw.peft_type)}, expected "LORA"`);
  if (raw.bias !== undefined && raw.bias !== 'none') throw new AdapterError(`${path}: bias "${raw.bias}" is not supported (only "none")`);
  const refuse = (field: string, why: string) => {
    throw new AdapterError(`${path}: ${field} = ${JSON.stringify(raw[field])} is not supported (${why})`);
  };
  if (raw.fan_in_fan_out === true) refuse('fan_in_fan_out', 'the base weights would be stored transposed');
  if (raw.use_dora === true) refuse('use_dora', 'DoRA rescales W; only plain LoRA folds as W + s B A');
  for (const field of ['rank_pattern', 'alpha_pattern']) {
    const v = raw[field];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Object.keys(v).length > 0)) refuse(field, 'per-module ranks / alphas');
  }
  for (const field of ['modules_to_save', 'layers_to_transform']) {
    const v = raw[field];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) refuse(field, 'only adapters on every layer of the target linears');
  }
  const targets = raw.target_modules;
  if (!Array.isArray(targets)) throw new AdapterError(`${path}: target_modules must be a list of module names, got ${JSON.stringify(targets)}`);
  const config: LoraConfig = {
    r: raw.r as number,
    alpha: raw.lora_alpha as number,
    dropout: (raw.lora_dropout as number | undefined) ?? 0,
    rslora: (raw.use_rslora as boolean | undefined) ?? false,
    targets: [...new Set(targets)] as LoraTarget[],
  };
  validateLoraConfig(config, path);
  return { config, raw };
}

/** Reads a PEFT LoRA adapter folder (path, URL or files; io/files.ts) for a model with config cfg; checks every shape. */
export async function loadLoraAdapter(gpu: Gpu, cfg: DecoderConfig, source: FolderSource): Promise<DecoderLora> {
  const folder = openFolder(source);
  const { config } = await readAdapterConfig(folder);
  const file = await SafetensorsFile.openIn(folder, ADAPTER_WEIGHTS);
  const lora: DecoderLora = { config, scale: loraScale(config.alpha, config.r, config.rslora), layers: [] };
  try {
    for (let l = 0; l < cfg.layers; l++) {
      const mods: Partial<Record<LoraTarget, LoraModule>> = {};
      lora.layers.push(mods);
      for (const t of config.targets) {
        const [out, inF] = targetShape(cfg, t);
        const read = async (part: 'lora_A' | 'lora_B', shape: number[]) => {
          const name = `${PEFT_PREFIX}${modulePath(l, t)}.${part}.weight`;
          const e = file.entry(name);
          if (e.shape.length !== 2 || e.shape[0] !== shape[0] || e.shape[1] !== shape[1]) {
            throw new AdapterError(`${file.path}: "${name}" has shape [${e.shape}], expected [${shape}] (r ${config.r})`);
          }
          return gpu.tensor(await file.float32(name), shape, 'f32', name);
        };
        const A = await read('lora_A', [config.r, inF]);
        const B = await read('lora_B', [out, config.r]).catch((err) => {
          A.release();
          throw err;
        });
        mods[t] = { A, B };
      }
    }
  } catch (err) {
    releaseLora(lora);
    throw err;
  } finally {
    await file.close();
  }
  return lora;
}

/**
 * Folds an adapter into the decoder's weights in place: W += s B A for every
 * adapted linear (float64 sums, rounded once to f32), as PEFT's
 * merge_and_unload. Afterwards the model without the adapter computes what
 * the model with it did (up to that rounding), and a new adapter can be
 * trained on top (continual pretraining, then contrastive refinement).
 */
export async function mergeLoraIntoWeights(gpu: Gpu, model: Decoder, lora: DecoderLora): Promise<void> {
  const { addLoraDelta } = await import('./merge.ts');
  const { weightsOf } = await import('./forward.ts');
  const r = lora.config.r;
  for (const [l, mods] of lora.layers.entries()) {
    for (const t of LORA_TARGETS) {
      const m = mods[t];
      if (!m) continue;
      const { W } = weightsOf(model.weights.layers[l], t);
      const [outF, inF] = W.shape;
      const w = Float64Array.from((await gpu.read(W)) as Float32Array);
      addLoraDelta(w, (await gpu.read(m.A)) as Float32Array, (await gpu.read(m.B)) as Float32Array, r, outF, inF, lora.scale);
      gpu.write(W, w);
    }
  }
}
