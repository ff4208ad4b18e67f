// The settings of `lco experiment lco`: the full run (about 45-55 minutes on
// a 2-core CPU with lavapipe) and --quick (micro models, well under two
// minutes: it checks the pipeline end to end, not the science).
import { PRESETS } from '../model/presets.ts';

/** The built-in WordNet decoder (and its tokenizer, which every size shares). */
export const BUILTIN_DECODER = new URL('../../fixtures/tiny-decoder', import.meta.url).pathname;

export interface ModelSize {
  /** Shown in tables and plots. */
  name: string;
  /** A decoder folder to start from (pretrained on text), or a config to initialise at random. */
  decoder: { dir: string } | { config: Record<string, unknown> };
  /** A vision preset (src/model/presets.ts). */
  vision: string;
  /** Peak learning rate of its generative pretraining (default: pretrain.lr). */
  lr?: number;
}

export interface LcoExperimentConfig {
  name: 'full' | 'quick';
  seed: number;
  world: { seed: number; scenes: number; queriesPerScene: number };
  /** Smallest first; the last is the main model (variants, layer analysis, continual pretraining). */
  sizes: ModelSize[];
  pretrain: {
    steps: number;
    captionBatch: number;
    textBatch: number;
    seqLen: number;
    lr: number;
    warmup: number;
    /** Steps whose model is kept for the GRSL study. */
    snapshots: number[];
    /** Share of the caption draws that are one-word summaries under LCO's prompts (train/caption-data.ts). */
    summaryFraction: number;
  };
  contrastive: {
    steps: number;
    batchSize: number;
    miniBatch: number;
    lr: number;
    warmup: number;
    temperature: number;
    lora: { r: number; alpha: number; dropout: number };
  };
  /** Continual generative pretraining with LoRA of the main model's last snapshot (null: skipped). */
  continual: { steps: number; lr: number; lora: { r: number; alpha: number } } | null;
  /** Run the variants (+ image pairs, MAMCL, full fine-tuning) on the main model. */
  variants: boolean;
  data: { tripletsPerScene: number; imagePairFraction: number };
  eval: { testScenes: number; validationScenes: number; batchSize: number; prompt: string };
}

const tinyWidth = (PRESETS.tiny.hidden_size as number);

/** Half the built-in decoder's width and depth, trained from scratch (the second size of the scaling study). */
export const SMALL_DECODER = {
  ...PRESETS.tiny,
  hidden_size: tinyWidth / 2, intermediate_size: 192, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
};

export const FULL: LcoExperimentConfig = {
  name: 'full',
  seed: 0,
  world: { seed: 1, scenes: 3000, queriesPerScene: 1 },
  sizes: [
    { name: 'small (0.4M, from scratch)', decoder: { config: SMALL_DECODER }, vision: 'tiny' },
    { name: 'base (1.3M, WordNet-pretrained)', decoder: { dir: BUILTIN_DECODER }, vision: 'tiny' },
  ],
  pretrain: { steps: 600, captionBatch: 16, textBatch: 4, seqLen: 64, lr: 2e-3, warmup: 20, snapshots: [50, 100, 200, 400, 600], summaryFraction: 0.5 },
  contrastive: { steps: 40, batchSize: 16, miniBatch: 16, lr: 1e-3, warmup: 4, temperature: 0.05, lora: { r: 8, alpha: 16, dropout: 0.05 } },
  continual: { steps: 100, lr: 1e-3, lora: { r: 8, alpha: 16 } },
  variants: true,
  data: { tripletsPerScene: 2, imagePairFraction: 0.15 },
  eval: { testScenes: 100, validationScenes: 60, batchSize: 32, prompt: 'lco' },
};

/** Micro models and a few steps of everything. */
export const QUICK: LcoExperimentConfig = {
  name: 'quick',
  seed: 0,
  world: { seed: 1, scenes: 300, queriesPerScene: 1 },
  sizes: [
    { name: 'micro-a', decoder: { config: { ...SMALL_DECODER, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 } }, vision: 'micro' },
    { name: 'micro-b', decoder: { config: { ...SMALL_DECODER, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1 } }, vision: 'micro' },
  ],
  pretrain: { steps: 4, captionBatch: 4, textBatch: 2, seqLen: 16, lr: 2e-3, warmup: 1, snapshots: [2, 4], summaryFraction: 0.5 },
  contrastive: { steps: 2, batchSize: 4, miniBatch: 4, lr: 1e-3, warmup: 1, temperature: 0.05, lora: { r: 2, alpha: 4, dropout: 0.05 } },
  continual: { steps: 2, lr: 1e-3, lora: { r: 2, alpha: 4 } },
  variants: true,
  data: { tripletsPerScene: 1, imagePairFraction: 0.25 },
  eval: { testScenes: 12, validationScenes: 4, batchSize: 16, prompt: 'lco' },
};
