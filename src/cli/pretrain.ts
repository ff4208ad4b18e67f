// lco pretrain: generative (next-token) training. From scratch (a preset
// shape with fresh weights, every weight trained), continuing a model folder
// (full), or a LoRA adapter on a frozen model folder (--lora). Writes
// checkpoints, the final model (or adapter) with its tokenizer, a JSONL log
// and loss-curve.svg into --out; --resume continues the newest checkpoint
// there exactly. Ctrl-C stops after the current step with a checkpoint.
//
// --multimodal: captioning pretraining of a decoder and a vision encoder on
// the synthetic shapes world, mixed with text (train/mm-pretrainer.ts); its
// own flags (MM_FLAGS), the same checkpoints, resume and Ctrl-C, plus
// snapshots at chosen steps.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { textFileCorpus, wordnetCorpus, type LmCorpus } from '../data/lm-corpus.ts';
import { TokenWindows } from '../data/lm-windows.ts';
import { makeWorld } from '../data/shapes-world.ts';
import type { DecoderConfig } from '../model/config.ts';
import { loadDecoder, randomDecoder, releaseDecoder, weightSpecs, type Decoder } from '../model/decoder.ts';
import { createLora, LORA_TARGETS, loadLoraAdapter, releaseLora, type DecoderLora, type LoraTarget } from '../model/lora.ts';
import { presetConfig, PRESETS, VISION_PRESETS, visionPreset } from '../model/presets.ts';
import { loadVision, randomVision, releaseVision, VISION_CONFIG_FILE, visionWeightSpecs, type VisionModel } from '../model/vision.ts';
import { checkpointName, listCheckpoints, loadMoments, readState, type TrainerState } from '../train/checkpoint.ts';
import { PRETRAIN_DEFAULTS, trainLm, type LmTrainConfig } from '../train/lm-trainer.ts';
import { MM_PRETRAIN_DEFAULTS, trainMultimodal, type MmTrainConfig } from '../train/mm-pretrainer.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import { atLeast, formatHelp, oneOf, parseArgs, UsageError, type FlagSpecs } from './args.ts';
import { withInterrupt } from './session.ts';

const D = PRETRAIN_DEFAULTS;
export const BUILTIN_TOKENIZER = new URL('../../fixtures/wordnet/tokenizer.json', import.meta.url).pathname;

const FLAGS = {
  out: { type: 'string', required: true, value: 'DIR', help: 'where checkpoints, the final model, train-log.jsonl and loss-curve.svg go' },
  data: { type: 'string', default: 'wordnet', value: 'SRC', help: '"wordnet" (built in), a .txt (a document per line) or a .jsonl ({"text"} per line)' },
  model: { type: 'string', value: 'DIR', help: 'start from this HF model folder (default: fresh weights of --preset)' },
  preset: { type: 'string', default: 'tiny', value: 'NAME', help: `shape of a fresh model: ${Object.keys(PRESETS).join(', ')}` },
  tokenizer: { type: 'string', value: 'FILE', help: 'tokenizer.json (default: the model folder\'s, or the built-in WordNet one)' },
  lora: { type: 'boolean', help: 'train a LoRA adapter on the frozen --model instead of every weight' },
  'lora-r': { type: 'number', integer: true, default: 8, value: 'R', help: 'LoRA rank' },
  'lora-alpha': { type: 'number', default: 16, value: 'A', help: 'LoRA alpha (scale alpha / r)' },
  'lora-dropout': { type: 'number', default: 0.05, value: 'P', help: 'dropout on the adapters\' input' },
  'lora-targets': { type: 'string', default: LORA_TARGETS.join(','), value: 'LIST', help: 'comma-separated linears to adapt' },
  rslora: { type: 'boolean', help: 'scale alpha / sqrt(r) (rsLoRA)' },
  steps: { type: 'number', integer: true, value: 'N', help: `optimizer steps (default ${D.steps}; with --resume, raises the run's total)` },
  'seq-len': { type: 'number', integer: true, default: D.seqLen, value: 'T', help: 'tokens per window' },
  batch: { type: 'number', integer: true, default: D.microBatch, value: 'B', help: 'windows per micro-batch' },
  'grad-accum': { type: 'number', integer: true, default: D.gradAccum, value: 'N', help: 'micro-batches per optimizer step' },
  lr: { type: 'number', default: D.lr, value: 'LR', help: 'peak learning rate' },
  warmup: { type: 'number', integer: true, default: D.warmup, value: 'N', help: 'linear warmup: update s (counted from 0) < N runs at lr * s / N, as transformers\' schedulers' },
  schedule: { type: 'string', default: D.schedule, value: 'KIND', help: 'cosine, linear or constant after warmup: the first update after it runs at the peak' },
  'min-lr-ratio': { type: 'number', default: D.minLrRatio, value: 'R', help: 'the floor the decay approaches (never reaches), as a fraction of the peak' },
  'weight-decay': { type: 'number', default: D.weightDecay, value: 'WD', help: 'AdamW decoupled weight decay (matrices only)' },
  clip: { type: 'number', default: D.clip, value: 'N', help: 'clip the global gradient norm (0: off)' },
  seed: { type: 'number', integer: true, default: D.seed, value: 'S', help: 'seed of the weights, data order and dropout' },
  'eval-every': { type: 'number', integer: true, default: D.evalEvery, value: 'N', help: 'held-out evaluation every N steps (0: at the end)' },
  'eval-windows': { type: 'number', integer: true, default: D.evalWindows, value: 'N', help: 'held-out windows per evaluation (0: all)' },
  'checkpoint-every': { type: 'number', integer: true, default: D.checkpointEvery, value: 'N', help: 'checkpoint every N steps (0: at the end)' },
  'keep-checkpoints': { type: 'number', integer: true, default: D.keepCheckpoints, value: 'N', help: 'newest checkpoints to keep' },
  resume: { type: 'boolean', help: 'continue the newest checkpoint in --out (its options; --steps may raise the total)' },
  quiet: { type: 'boolean', help: 'no progress lines' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(
  `usage: lco pretrain --out DIR [options]

Next-token training on WordNet (built in) or your text. Examples:
  lco pretrain --out runs/tiny --steps 1500                    fresh tiny decoder
  lco pretrain --out runs/lora --model runs/tiny --lora        LoRA on a frozen model
  lco pretrain --out runs/tiny --resume --steps 3000           continue, then go further
Captioning with a vision encoder (shapes world + text): lco pretrain --multimodal --help`,
  FLAGS,
);

type Parsed = ReturnType<typeof parseArgs<typeof FLAGS>>['flags'];

function trainConfig(f: Parsed): LmTrainConfig {
  const targets = f['lora-targets'].split(',').map((s) => s.trim()).filter(Boolean) as LoraTarget[];
  return {
    seqLen: f['seq-len'], microBatch: f.batch, gradAccum: f['grad-accum'], steps: f.steps ?? D.steps,
    lr: f.lr, warmup: f.warmup, schedule: f.schedule as ScheduleKind, minLrRatio: f['min-lr-ratio'],
    weightDecay: f['weight-decay'], beta1: D.beta1, beta2: D.beta2, eps: D.eps, clip: f.clip, seed: f.seed,
    evalEvery: f['eval-every'], evalWindows: f['eval-windows'], checkpointEvery: f['checkpoint-every'],
    keepCheckpoints: f['keep-checkpoints'],
    lora: f.lora ? { r: f['lora-r'], alpha: f['lora-alpha'], dropout: f['lora-dropout'], rslora: f.rslora, targets } : null,
  };
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${what} ${path}: cannot read (${(err as Error).message})`);
  }
}

export interface PretrainRun {
  gpu: Gpu;
  model: Decoder;
  lora?: DecoderLora;
}

/** Everything `lco pretrain` does, callable from scripts (fixtures/make-tiny-decoder.ts). */
export async function pretrain(argv: string[], log: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  if (isMultimodal(argv)) return pretrainMultimodal(argv, log);
  const { flags: f, help } = parseArgs(FLAGS, argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  let config = trainConfig(f);
  let resumeDir: string | null = null;
  let state: TrainerState<LmTrainConfig> | undefined;
  if (f.resume) {
    const steps = await listCheckpoints(f.out);
    if (steps.length === 0) throw new Error(`--resume: no checkpoint in ${f.out}`);
    resumeDir = join(f.out, checkpointName(steps.at(-1)!));
    state = await readState<LmTrainConfig>(resumeDir);
    if ('captionBatch' in (state.config as object)) throw new UsageError(`--resume: ${resumeDir} is a multimodal run; add --multimodal`);
    config = { ...state.config, steps: Math.max(state.config.steps, f.steps ?? 0) };
    log(`resuming ${resumeDir} at step ${state.step} of ${config.steps}\n`);
  }
  if (config.lora && !f.model && !state?.baseModel) throw new UsageError('--lora needs --model DIR (the frozen base)');

  const gpu = await Gpu.create();
  let model: Decoder | undefined;
  let lora: DecoderLora | undefined;
  try {
    // the model: a checkpoint's (resume), a folder's, or fresh weights of a preset
    const baseDir = config.lora ? (state?.baseModel ?? f.model!) : (resumeDir ?? f.model ?? null);
    const tokPath = f.tokenizer ?? (resumeDir ? join(resumeDir, 'tokenizer.json') : f.model ? join(f.model, 'tokenizer.json') : BUILTIN_TOKENIZER);
    const tokenizerJson = await readText(tokPath, 'tokenizer');
    const tok = loadTokenizer(tokenizerJson);
    if (baseDir) {
      model = await loadDecoder(gpu, baseDir);
    } else {
      const eos = tok.tokenToId('<|endoftext|>') ?? null;
      const cfg: DecoderConfig = presetConfig(f.preset, { vocab_size: tok.vocabSize, bos_token_id: eos, eos_token_id: eos, pad_token_id: eos });
      model = await randomDecoder(gpu, cfg, config.seed);
    }
    if (tok.vocabSize > model.config.vocab) throw new Error(`tokenizer ${tokPath} has ${tok.vocabSize} ids, the model's vocab_size is ${model.config.vocab}`);
    if (config.lora) lora = resumeDir ? await loadLoraAdapter(gpu, model.config, resumeDir) : createLora(gpu, model.config, config.lora, config.seed);
    if (config.seqLen > model.config.maxPositions) throw new Error(`--seq-len ${config.seqLen} is over the model's max_position_embeddings ${model.config.maxPositions}`);

    log(`tokenizing ${f.data}...\n`);
    const corpus = f.data === 'wordnet' ? await wordnetCorpus(tok) : await textFileCorpus(f.data, tok);
    const train = new TokenWindows(corpus.train, config.seqLen, config.seed);
    const heldout = new TokenWindows(corpus.heldout, config.seqLen);
    const params = lora
      ? `LoRA r ${config.lora!.r} on ${config.lora!.targets.length} linears per layer (base frozen)`
      : `${weightCount(model)} weights, all trained`;
    log(`${corpus.source}: ${corpus.documents.train} documents, ${corpus.train.length} tokens (${train.count} windows of ${config.seqLen}) for training; ` +
      `${corpus.documents.heldout} documents, ${corpus.heldout.length} tokens held out\n` +
      `model ${model.config.modelType} C ${model.config.hidden} x ${model.config.layers} layers, ${params}; ` +
      `${config.steps} steps of ${config.microBatch * config.gradAccum * config.seqLen} tokens on ${gpu.adapterName}\n`);

    await withInterrupt(log, async (signal) => {
      const r = await trainLm({
        gpu, model: model!, lora, train, heldout, outDir: f.out, config, tokenizerJson,
        baseModel: config.lora ? baseDir! : undefined,
        resume: state ? { ...state, config } : undefined,
        onParams: resumeDir ? (p) => loadMoments(gpu, resumeDir!, p) : undefined,
        progressOut: f.quiet ? null : process.stderr,
        signal,
      });
      if (r.stopped) log(`stopped at step ${r.state.step}; continue with --resume\n`);
      else if (r.final) log(`done: held-out loss ${r.final.loss.toFixed(4)}, perplexity ${r.final.perplexity.toFixed(2)}; model in ${f.out}\n`);
    });
    return 0;
  } finally {
    if (lora) releaseLora(lora);
    if (model) releaseDecoder(model);
    gpu.destroy();
  }
}

function weightCount(model: Decoder): string {
  return weightSpecs(model.config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0).toLocaleString('en-US');
}

export async function run(args: string[]): Promise<number> {
  try {
    return await pretrain(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lco pretrain: ${err.message}\n\n${isMultimodal(args) ? MM_HELP : HELP}`);
      return 2;
    }
    throw err;
  }
}

// ------------------------------------------------------------ --multimodal

const M = MM_PRETRAIN_DEFAULTS;
const isMultimodal = (argv: readonly string[]) => argv.slice(0, argv.includes('--') ? argv.indexOf('--') : undefined).includes('--multimodal');

const MM_FLAGS = {
  multimodal: { type: 'boolean', help: 'captioning pretraining of a decoder and a vision encoder (this mode)' },
  out: { type: 'string', required: true, value: 'DIR', help: 'checkpoints, snapshots/, the final model, train-log.jsonl and loss-curve.svg' },
  model: { type: 'string', value: 'DIR', help: 'start from this decoder folder (and its vision encoder, when it has vision_config.json)' },
  preset: { type: 'string', default: 'tiny', value: 'NAME', help: `shape of a fresh decoder: ${Object.keys(PRESETS).join(', ')}` },
  'vision-preset': { type: 'string', value: 'NAME', help: `shape of a fresh vision encoder: ${Object.keys(VISION_PRESETS).join(', ')} (default tiny)` },
  tokenizer: { type: 'string', value: 'FILE', help: 'tokenizer.json (default: the model folder\'s, or the built-in WordNet one)' },
  scenes: { type: 'number', integer: true, default: M.data.scenes, value: 'N', help: 'scenes in the shapes world (80% train, 10% validation)' },
  'world-seed': { type: 'number', integer: true, default: M.data.worldSeed, value: 'S', help: 'seed of the shapes world' },
  'text-data': { type: 'string', default: M.data.text, value: 'SRC', help: '"wordnet", "none" (captions only), a .txt or a .jsonl' },
  'caption-batch': { type: 'number', integer: true, default: M.captionBatch, value: 'B', help: 'captioned scenes per step' },
  'summary-fraction': { type: 'number', default: M.summaryFraction, value: 'F', help: 'share of those that are one-word summaries of the image or caption (LCO prompt + a true word), in [0, 1)' },
  'text-batch': { type: 'number', integer: true, default: M.textBatch, value: 'B', help: 'text windows per step (0: captions only)' },
  'seq-len': { type: 'number', integer: true, default: M.seqLen, value: 'T', help: 'tokens per text window' },
  steps: { type: 'number', integer: true, value: 'N', help: `optimizer steps (default ${M.steps}; with --resume, raises the run's total)` },
  lr: { type: 'number', default: M.lr, value: 'LR', help: 'peak learning rate' },
  warmup: { type: 'number', integer: true, default: M.warmup, value: 'N', help: 'linear warmup: update s (counted from 0) < N runs at lr * s / N, as transformers\' schedulers' },
  schedule: { type: 'string', default: M.schedule, value: 'KIND', help: 'cosine, linear or constant after warmup: the first update after it runs at the peak' },
  'min-lr-ratio': { type: 'number', default: M.minLrRatio, value: 'R', help: 'the floor the decay approaches (never reaches), as a fraction of the peak' },
  'weight-decay': { type: 'number', default: M.weightDecay, value: 'WD', help: 'AdamW decoupled weight decay (matrices only)' },
  clip: { type: 'number', default: M.clip, value: 'N', help: 'clip the global gradient norm (0: off)' },
  seed: { type: 'number', integer: true, default: M.seed, value: 'S', help: 'seed of fresh weights, data order and dropout' },
  'freeze-decoder': { type: 'boolean', help: 'train the vision side only (LLaVA stage 1 with --freeze-encoder: the projector only)' },
  'freeze-encoder': { type: 'boolean', help: 'keep the vision encoder fixed; train its projector (and the decoder)' },
  'eval-every': { type: 'number', integer: true, default: M.evalEvery, value: 'N', help: 'held-out caption (and text) loss every N steps and before the first (0: at the end)' },
  'eval-scenes': { type: 'number', integer: true, default: M.evalScenes, value: 'N', help: 'validation scenes per evaluation, all 5 captions each (0: all)' },
  'eval-windows': { type: 'number', integer: true, default: M.evalWindows, value: 'N', help: 'held-out text windows per evaluation (0: all)' },
  'snapshot-at': { type: 'string', value: 'LIST', help: 'steps whose model is kept in snapshots/step-NNNNNN/, e.g. 100,200,400' },
  'checkpoint-every': { type: 'number', integer: true, default: M.checkpointEvery, value: 'N', help: 'checkpoint every N steps (0: at the end)' },
  'keep-checkpoints': { type: 'number', integer: true, default: M.keepCheckpoints, value: 'N', help: 'newest checkpoints to keep' },
  resume: { type: 'boolean', help: 'continue the newest checkpoint in --out (its options and data; --steps may raise the total)' },
  quiet: { type: 'boolean', help: 'no progress lines' },
} as const satisfies FlagSpecs;

const MM_HELP = formatHelp(
  `usage: lco pretrain --multimodal --out DIR [options]

Generative pretraining of a multimodal LM: a vision encoder's image tokens
before each caption of the synthetic shapes world, next-token loss on the
caption, mixed with text windows (WordNet by default). Examples:
  lco pretrain --multimodal --out runs/mm --model fixtures/tiny-decoder --steps 600
  lco pretrain --multimodal --out runs/mm --resume --steps 1200
  lco pretrain --multimodal --out runs/align --model fixtures/tiny-decoder --freeze-decoder --freeze-encoder --text-batch 0`,
  MM_FLAGS,
);

type MmParsed = ReturnType<typeof parseArgs<typeof MM_FLAGS>>['flags'];

function parseSteps(flag: string, text: string): number[] {
  const steps = text.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${flag} ${text}: "${x}" is not a step (a positive integer)`);
    return v;
  });
  return [...new Set(steps)].sort((a, b) => a - b);
}

function mmConfig(f: MmParsed): MmTrainConfig {
  for (const k of ['caption-batch', 'seq-len', 'keep-checkpoints', 'steps'] as const) atLeast(k, f[k], 1);
  for (const k of ['text-batch', 'warmup', 'eval-every', 'eval-scenes', 'eval-windows', 'checkpoint-every', 'scenes'] as const) atLeast(k, f[k], 0);
  if (!(f.lr > 0)) throw new UsageError(`--lr ${f.lr}: must be > 0`);
  const noText = f['text-data'] === 'none';
  const config: MmTrainConfig = {
    ...M, captionBatch: f['caption-batch'], summaryFraction: f['summary-fraction'], textBatch: noText ? 0 : f['text-batch'], seqLen: f['seq-len'], steps: f.steps ?? M.steps,
    lr: f.lr, warmup: f.warmup, schedule: oneOf('schedule', f.schedule, ['cosine', 'linear', 'constant'] as const) as ScheduleKind,
    minLrRatio: f['min-lr-ratio'], weightDecay: f['weight-decay'], clip: f.clip, seed: f.seed,
    trainDecoder: !f['freeze-decoder'], frozenEncoder: f['freeze-encoder'],
    evalEvery: f['eval-every'], evalScenes: f['eval-scenes'], evalWindows: f['eval-windows'],
    checkpointEvery: f['checkpoint-every'], keepCheckpoints: f['keep-checkpoints'],
    snapshotAt: f['snapshot-at'] ? parseSteps('snapshot-at', f['snapshot-at']) : [],
    data: { worldSeed: f['world-seed'], scenes: f.scenes, text: noText || f['text-batch'] === 0 ? 'none' : f['text-data'] },
  };
  const late = config.snapshotAt.find((s) => s > config.steps);
  if (late !== undefined) throw new UsageError(`--snapshot-at ${late}: after the run's last step ${config.steps}`);
  return config;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** `lco pretrain --multimodal`: see MM_HELP and the header. */
async function pretrainMultimodal(argv: string[], log: (s: string) => void): Promise<number> {
  const { flags: f, help } = parseArgs(MM_FLAGS, argv);
  if (help) {
    process.stdout.write(MM_HELP);
    return 0;
  }
  let config = mmConfig(f);
  let resumeDir: string | null = null;
  let state: TrainerState<MmTrainConfig> | undefined;
  if (f.resume) {
    const steps = await listCheckpoints(f.out);
    if (steps.length === 0) throw new Error(`--resume: no checkpoint in ${f.out}`);
    resumeDir = join(f.out, checkpointName(steps.at(-1)!));
    state = await readState<MmTrainConfig>(resumeDir);
    if (!('captionBatch' in (state.config as object))) throw new UsageError(`--resume: ${resumeDir} is a text-only run; leave out --multimodal`);
    config = { ...state.config, steps: Math.max(state.config.steps, f.steps ?? 0) };
    log(`resuming ${resumeDir} at step ${state.step} of ${config.steps}\n`);
  } else if (f.model && f['vision-preset'] && await exists(join(f.model, VISION_CONFIG_FILE))) {
    throw new UsageError(`--vision-preset: ${f.model} already has a vision encoder (${VISION_CONFIG_FILE}), which is continued; leave the flag out`);
  }
  const modelDir = resumeDir ?? f.model ?? null;
  const tokPath = f.tokenizer ?? (modelDir ? join(modelDir, 'tokenizer.json') : BUILTIN_TOKENIZER);
  const tokenizerJson = await readText(tokPath, 'tokenizer');
  const tok = loadTokenizer(tokenizerJson);
  const visionName = f['vision-preset'] ?? 'tiny';
  if (!VISION_PRESETS[visionName]) throw new UsageError(`--vision-preset ${visionName}: expected ${Object.keys(VISION_PRESETS).join(' or ')}`);
  if (!modelDir && !PRESETS[f.preset]) throw new UsageError(`--preset ${f.preset}: expected ${Object.keys(PRESETS).join(' or ')}`);

  const gpu = await Gpu.create();
  let decoder: Decoder | undefined;
  let vision: VisionModel | undefined;
  try {
    if (modelDir) {
      decoder = await loadDecoder(gpu, modelDir);
    } else {
      const eos = tok.tokenToId('<|endoftext|>') ?? null;
      decoder = await randomDecoder(gpu, presetConfig(f.preset, { vocab_size: tok.vocabSize, bos_token_id: eos, eos_token_id: eos, pad_token_id: eos }), config.seed);
    }
    if (tok.vocabSize > decoder.config.vocab) throw new Error(`tokenizer ${tokPath} has ${tok.vocabSize} ids, the model's vocab_size is ${decoder.config.vocab}`);
    const continued = modelDir !== null && await exists(join(modelDir, VISION_CONFIG_FILE));
    vision = continued ? await loadVision(gpu, modelDir!) : await randomVision(gpu, visionPreset(visionName, decoder.config.hidden), config.seed + 1);

    const world = makeWorld({ seed: config.data.worldSeed, scenes: config.data.scenes, queriesPerScene: 0 });
    const split = (name: string) => world.scenes.filter((s) => s.split === name).length;
    let corpus: LmCorpus | undefined;
    if (config.textBatch > 0) {
      log(`tokenizing ${config.data.text}...\n`);
      corpus = config.data.text === 'wordnet' ? await wordnetCorpus(tok) : await textFileCorpus(config.data.text, tok);
    }
    log(describeRun(config, world.scenes.length, split('train'), split('validation'), corpus, decoder, vision, continued ? modelDir! : null, gpu.adapterName));

    await withInterrupt(log, async (signal) => {
      const r = await trainMultimodal({
        gpu, decoder: decoder!, vision: vision!, tokenizer: tok, tokenizerJson, world, textCorpus: corpus, outDir: f.out, config,
        baseModel: state?.baseModel ?? f.model,
        resume: state ? { ...state, config } : undefined,
        onParams: resumeDir ? (p) => loadMoments(gpu, resumeDir!, p) : undefined,
        progressOut: f.quiet ? null : process.stderr,
        signal,
      });
      if (r.stopped) log(`stopped at step ${r.state.step}; continue with --multimodal --resume\n`);
      else {
        const e = r.final ? `held-out caption loss ${r.final.loss.toFixed(4)}, perplexity ${r.final.perplexity.toFixed(2)}; ` : '';
        log(`done: ${e}decoder + vision encoder in ${f.out}\n`);
      }
    });
    return 0;
  } finally {
    if (vision) releaseVision(vision);
    if (decoder) releaseDecoder(decoder);
    gpu.destroy();
  }
}

function describeRun(
  c: MmTrainConfig, scenes: number, train: number, validation: number, corpus: LmCorpus | undefined,
  decoder: Decoder, vision: VisionModel, visionFrom: string | null, adapter: string,
): string {
  const count = (shapes: number[][]) => shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0).toLocaleString('en-US');
  const v = vision.config;
  const trains = [c.trainDecoder ? 'the decoder' : null, c.frozenEncoder ? 'the projector' : 'the encoder and projector'].filter(Boolean).join(', ');
  return `shapes world (seed ${c.data.worldSeed}): ${scenes} scenes, ${train} train, ${validation} validation (${Math.min(validation, c.evalScenes || validation)} evaluated)\n` +
    (corpus ? `text ${corpus.source}: ${corpus.train.length} tokens for training, ${corpus.heldout.length} held out; ${c.textBatch} windows of ${c.seqLen} per step\n` : 'text: none (captions only)\n') +
    `decoder ${decoder.config.modelType} C ${decoder.config.hidden} x ${decoder.config.layers} layers (${count(weightSpecs(decoder.config).map((s) => s.shape))} weights); ` +
    `vision ${v.imageSize}px / ${v.patchSize} C ${v.hidden} x ${v.layers} layers (${count(visionWeightSpecs(v).map((s) => s.shape))} weights${visionFrom ? `, from ${visionFrom}` : ', fresh'})\n` +
    `training ${trains}; ${c.steps} steps of ${c.captionBatch} captions${c.textBatch > 0 ? ` + ${c.textBatch} text windows` : ''} on ${adapter}\n`;
}
