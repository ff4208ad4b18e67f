// lco pretrain: generative (next-token) training. From scratch (a preset
// shape with fresh weights, every weight trained), continuing a model folder
// (full), or a LoRA adapter on a frozen model folder (--lora). Writes
// checkpoints, the final model (or adapter) with its tokenizer, a JSONL log
// and loss-curve.svg into --out; --resume continues the newest checkpoint
// there exactly. Ctrl-C stops after the current step with a checkpoint.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { textFileCorpus, wordnetCorpus } from '../data/lm-corpus.ts';
import { TokenWindows } from '../data/lm-windows.ts';
import type { DecoderConfig } from '../model/config.ts';
import { loadDecoder, randomDecoder, releaseDecoder, weightSpecs, type Decoder } from '../model/decoder.ts';
import { createLora, LORA_TARGETS, loadLoraAdapter, releaseLora, type DecoderLora, type LoraTarget } from '../model/lora.ts';
import { presetConfig, PRESETS } from '../model/presets.ts';
import { checkpointName, listCheckpoints, loadMoments, readState, type TrainerState } from '../train/checkpoint.ts';
import { PRETRAIN_DEFAULTS, trainLm, type LmTrainConfig } from '../train/lm-trainer.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import { formatHelp, parseArgs, UsageError, type FlagSpecs } from './args.ts';
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
  warmup: { type: 'number', integer: true, default: D.warmup, value: 'N', help: 'linear warmup steps' },
  schedule: { type: 'string', default: D.schedule, value: 'KIND', help: 'cosine, linear or constant after warmup' },
  'min-lr-ratio': { type: 'number', default: D.minLrRatio, value: 'R', help: 'final lr as a fraction of the peak' },
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
  lco pretrain --out runs/tiny --resume --steps 3000           continue, then go further`,
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
      process.stderr.write(`lco pretrain: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
}
