// Everything an embedding model folder holds, loaded in one call:
//
//   tokenizer.json                         -> Tokenizer (read first: a folder
//                                             without one fails before GPU work)
//   config.json + model.safetensors        -> Decoder (or shards by index)
//   vision_config.json + vision_model.safetensors -> VisionModel, when present
//   an adapter folder (adapter_config.json + adapter_model.safetensors)
//                                          -> DecoderLora, when given
//
// Folders are paths, URLs or files in memory (io/files.ts). On any failure
// whatever was already uploaded is released, so a bad folder leaves nothing
// on the GPU.
import type { Gpu } from '../gpu/gpu.ts';
import { openFolder, type FolderSource } from '../io/files.ts';
import { loadTokenizer, type Tokenizer } from '../io/tokenizer.ts';
import { loadDecoder, releaseDecoder, type Decoder } from './decoder.ts';
import { loadLoraAdapter, releaseLora, type DecoderLora } from './lora.ts';
import { loadVision, releaseVision, VISION_CONFIG_FILE, type VisionModel } from './vision.ts';

export interface LoadedModel {
  tokenizer: Tokenizer;
  model: Decoder;
  /** The vision encoder + projector, when the folder has one (and it was wanted). */
  vision: VisionModel | undefined;
  /** The adapter, when one was given. */
  lora: DecoderLora | undefined;
}

export interface ModelFolderOptions {
  /** A PEFT LoRA adapter folder for the model. */
  adapter?: FolderSource;
  /** Load the vision encoder when the folder has vision_config.json. Default true. */
  vision?: boolean;
}

export async function loadModelFolder(gpu: Gpu, source: FolderSource, opts: ModelFolderOptions = {}): Promise<LoadedModel> {
  const folder = openFolder(source);
  const tokenizer = loadTokenizer(await folder.readText('tokenizer.json'));
  let model: Decoder | undefined;
  let vision: VisionModel | undefined;
  try {
    model = await loadDecoder(gpu, folder);
    if ((opts.vision ?? true) && (await folder.exists(VISION_CONFIG_FILE))) vision = await loadVision(gpu, folder);
    const lora = opts.adapter === undefined ? undefined : await loadLoraAdapter(gpu, model.config, opts.adapter);
    return { tokenizer, model, vision, lora };
  } catch (err) {
    if (vision) releaseVision(vision);
    if (model) releaseDecoder(model);
    throw err;
  }
}

/** Releases every GPU tensor of a loaded model folder (adapter, vision, decoder). */
export function releaseModelFolder(m: LoadedModel): void {
  if (m.lora) releaseLora(m.lora);
  if (m.vision) releaseVision(m.vision);
  releaseDecoder(m.model);
}
