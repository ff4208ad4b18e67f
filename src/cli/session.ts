// What several lco commands wrap their work in.
//
// withModel: a Gpu and a model folder on it (the tokenizer, the decoder, its
// vision encoder when the folder has one, an optional LoRA adapter; see
// model/model-folder.ts), released (and the Gpu destroyed) however the work ends.
//
// withInterrupt: Ctrl-C during a training run. The first SIGINT aborts the
// signal handed to the work (the trainers stop after the current step and
// write a checkpoint); a second one exits at once with 130 (128 + SIGINT).
// The handler is removed when the work ends, so later Ctrl-Cs behave normally.
import { Gpu } from '../gpu/gpu.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { Decoder } from '../model/decoder.ts';
import type { DecoderLora } from '../model/lora.ts';
import { loadModelFolder, releaseModelFolder } from '../model/model-folder.ts';
import type { VisionModel } from '../model/vision.ts';

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
  const gpu = await Gpu.create();
  try {
    const loaded = await loadModelFolder(gpu, modelDir, { adapter: adapterDir });
    try {
      return await fn({ gpu, ...loaded });
    } finally {
      releaseModelFolder(loaded);
    }
  } finally {
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
