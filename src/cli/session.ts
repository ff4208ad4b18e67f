// What several lco commands wrap their work in.
//
// withModel: the tokenizer, a Gpu, the decoder, its vision encoder (when the
// folder has vision_config.json) and an optional LoRA adapter of a model folder, released in reverse order (and the Gpu destroyed) however
// the work ends. The tokenizer is read first, so a folder without
// tokenizer.json fails before any GPU work.
//
// withInterrupt: Ctrl-C during a training run. The first SIGINT aborts the
// signal handed to the work (the trainers stop after the current step and
// write a checkpoint); a second one exits at once with 130 (128 + SIGINT).
// The handler is removed when the work ends, so later Ctrl-Cs behave normally.
import { Gpu } from '../gpu/gpu.ts';
import { readTokenizer, type Tokenizer } from '../io/tokenizer.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../model/decoder.ts';
import { loadLoraAdapter, releaseLora, type DecoderLora } from '../model/lora.ts';
import { loadVision, releaseVision, VISION_CONFIG_FILE, type VisionModel } from '../model/vision.ts';
import { existsSync } from 'node:fs';

export interface ModelSession {
  gpu: Gpu;
  model: Decoder;
  /** The adapter of `adapterDir`, when one was given. */
  lora: DecoderLora | undefined;
  /** The vision encoder + projector, when the folder has one. */
  vision: VisionModel | undefined;
  tokenizer: Tokenizer;
}

/** Reads `<modelDir>/tokenizer.json`, loads the model (and adapter) on a new Gpu, runs `fn`, releases everything. */
export async function withModel<T>(modelDir: string, adapterDir: string | undefined, fn: (s: ModelSession) => Promise<T>): Promise<T> {
  const tokenizer = await readTokenizer(`${modelDir}/tokenizer.json`);
  const gpu = await Gpu.create();
  let model: Decoder | undefined;
  let lora: DecoderLora | undefined;
  let vision: VisionModel | undefined;
  try {
    model = await loadDecoder(gpu, modelDir);
    if (existsSync(`${modelDir}/${VISION_CONFIG_FILE}`)) vision = await loadVision(gpu, modelDir);
    if (adapterDir) lora = await loadLoraAdapter(gpu, model.config, adapterDir);
    return await fn({ gpu, model, lora, vision, tokenizer });
  } finally {
    if (lora) releaseLora(lora);
    if (vision) releaseVision(vision);
    if (model) releaseDecoder(model);
    gpu.destroy();
  }
}

/** Runs `fn` with a signal that the first Ctrl-C aborts; the second Ctrl-C exits with 130. */
export async function withInterrupt<T>(log: (s: string) => void, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    log('\nstopping after this step (Ctrl-C again to quit now)...\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
