/// <reference types="@webgpu/types" />
// lco-webgpu's public API: one module for Node, Deno, Bun and browsers.
//
//   import { Embedder } from 'lco-webgpu';
//   const embedder = await Embedder.load('path/or/url/to/model');   // finds a GPU
//   const [a, b] = await embedder.embed(['a small dog', 'a puppy'], { prompt: 'lco' });
//   embedder.dispose();
//
// Layers, from the top: the Embedder (text and images in, unit vectors out);
// model folders (Hugging Face config.json + safetensors + tokenizer.json, PEFT
// adapters) from paths, URLs or in-memory files; the decoder's forward and
// backward; the trainers (LM pretraining, contrastive LoRA with GradCache);
// the GPU ops, each a WGSL kernel checked against a CPU reference; and the Gpu
// that records and runs them. The build (scripts/build.ts) bundles every WGSL
// kernel into the module as text, so nothing is fetched at run time.
//
// Writing files (checkpoints, adapters, models) needs a file system: Node,
// Deno or Bun; so do the whole-run trainers (trainContrastive, trainLm), which
// checkpoint into a folder. In a browser, train with the step-level API
// (gradCacheStep + optimizerStep). Decoding image files (PNG, JPEG, PPM) also
// needs one; in a browser pass decoded RGB pixels ({ width, height, data }).

// ---------------------------------------------------------------- embedding
export { Embedder, EmbedInputError, type EmbedInput, type EmbedOptions, type EmbedderLoadOptions, type ImageSource, type Pooling } from './embed/embedder.ts';
export { PROMPTS, applyPrompt, resolvePrompt, type ChatFormat } from './embed/prompt.ts';

// ---------------------------------------------------------------- files and formats
export { openFolder, hasFileSystem, FileSourceError, type FolderSource, type ModelFolder, type RandomAccessFile, type FileData } from './io/files.ts';
export { loadModelFolder, releaseModelFolder, type LoadedModel, type ModelFolderOptions } from './model/model-folder.ts';
export { Tokenizer, loadTokenizer, readTokenizer, type EncodeOptions, type DecodeOptions } from './io/tokenizer.ts';
export { SafetensorsError, SafetensorsBuffer, SafetensorsFile, serializeSafetensors, writeSafetensors, type TensorEntry, type TensorToWrite } from './io/safetensors.ts';
export { fromRgbArray, normalizeImage, NORMALIZE_PRESETS } from './io/image-pixels.ts';
export { ImageError, type RgbImage } from './io/image-formats.ts';

// ---------------------------------------------------------------- models
export { ConfigError, parseConfig, toHfConfig, type DecoderConfig, type ModelType } from './model/config.ts';
export { PRESETS, presetConfig, VISION_PRESETS, visionPreset } from './model/presets.ts';
export { loadDecoder, randomDecoder, saveDecoder, releaseDecoder, decoderFromData, type Decoder, type DecoderInput, type DecoderWeights } from './model/decoder.ts';
export { decoderForward, decoderTrainForward, type ForwardOptions, type TrainInput } from './model/forward.ts';
export { decoderBackward } from './model/backward.ts';
export {
  AdapterError, createLora, loadLoraAdapter, saveLoraAdapter, readAdapterConfig, releaseLora, mergeLoraIntoWeights, LORA_TARGETS,
  type DecoderLora, type LoraConfig, type LoraTarget,
} from './model/lora.ts';
export { loadVision, randomVision, saveVision, releaseVision, type VisionConfig, type VisionModel } from './model/vision.ts';
export { generate, GenerateError, type GenerateOptions, type GenerateResult } from './model/generate.ts';

// ---------------------------------------------------------------- training
export { trainContrastive, CONTRASTIVE_DEFAULTS, type ContrastiveTrainConfig, type ContrastiveResult } from './train/contrastive-trainer.ts';
export { trainLm, PRETRAIN_DEFAULTS, type LmTrainConfig, type LmTrainResult } from './train/lm-trainer.ts';
export { gradCacheStep, type ContrastiveBatch, type ContrastiveLossSpec, type GradCacheOptions } from './train/gradcache.ts';
// The step-level pieces, for a training loop of your own (e.g. in a browser,
// where trainContrastive / trainLm cannot write their checkpoint folders).
export {
  trainParam, loraParams, fullParams, gradMap, zeroGrads, optimizerStep, releaseParams,
  type TrainParam, type AdamWOptions,
} from './train/optimizer.ts';

// ---------------------------------------------------------------- evaluation
export {
  retrievalFromEmbeddings, retrievalFromScores, similarityMatrix, stsFromEmbeddings, ndcgAtK, recallAtK, mrrAtK, mapAtK, pearson, spearman,
  type Qrels, type RetrievalResult,
} from './eval/metrics.ts';

// ---------------------------------------------------------------- ops (one WGSL kernel family each)
export * from './ops/matmul.ts';
export * from './ops/elementwise.ts';
export * from './ops/softmax.ts';
export * from './ops/rmsnorm.ts';
export * from './ops/rope.ts';
export * from './ops/embedding.ts';
export * from './ops/cross_entropy.ts';
export * from './ops/l2norm.ts';
export * from './ops/pooling.ts';
export * from './ops/adamw.ts';
export * from './ops/attention.ts';
export * from './ops/lora.ts';
export * from './ops/contrastive.ts';

// ---------------------------------------------------------------- the GPU
export * from './gpu/index.ts';
export { acquireDevice, describeAdapterInfo, type Acquired } from './gpu/device.ts';

/** The package version (package.json's, stamped by the build). */
export const VERSION: string = '0.1.0';
