// lco train: contrastive LoRA refinement of a decoder into an embedding model
// (LCO-Emb), with GradCache. Data: a sentence-transformers JSONL file, or
// "wordnet" (the built-in triplets: example sentence, its gloss, the gloss of
// another sense). Output: a PEFT adapter folder (plus checkpoints, a JSONL
// log and loss-curve.svg). --config runs several stages (UNITE: adaptation,
// then instruction tuning), each starting from the previous one's adapter.
// Items may be images ({"image": path} or {"image": path, "text": ...}, paths
// relative to the JSONL file) when the model folder has a vision encoder
// (vision_config.json): the encoder stays frozen and turns each image into
// its "<image>" rows of the prompt; only the decoder's adapter learns.
import { existsSync } from 'node:fs';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { loadTokenizer } from '../io/tokenizer.ts';
import { readPairs, type PairDataset, type PairRow } from '../data/pairs.ts';
import { readWordNet } from '../data/wordnet.ts';
import { trainingTriplets } from '../data/wordnet-tasks.ts';
import { Embedder, type Pooling } from '../embed/embedder.ts';
import { resolvePrompt, type ChatFormat } from '../embed/prompt.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../model/decoder.ts';
import {
  ADAPTER_CONFIG, ADAPTER_WEIGHTS, createLora, LORA_TARGETS, loadLoraAdapter, releaseLora, type DecoderLora, type LoraTarget,
} from '../model/lora.ts';
import { loadVision, releaseVision, VISION_CONFIG_FILE, VISION_WEIGHTS_FILE, type VisionModel } from '../model/vision.ts';
import { checkpointName, listCheckpoints, loadMoments, readState, type TrainerState } from '../train/checkpoint.ts';
import { CONTRASTIVE_DEFAULTS, trainContrastive, type ContrastiveLossKind, type ContrastiveTrainConfig } from '../train/contrastive-trainer.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import { formatHelp, oneOf, parseArgs, UsageError, type FlagSpecs } from './args.ts';
import { withInterrupt } from './session.ts';

const D = CONTRASTIVE_DEFAULTS;
const FLAGS = {
  model: { type: 'string', required: true, value: 'DIR', help: 'the frozen base: an HF model folder with tokenizer.json' },
  data: { type: 'string', value: 'TRAIN.jsonl', help: 'anchor/positive[/negative|negative_1..k] rows of texts or {"image": path, "text"?: ...} items, or "wordnet" (built-in triplets)' },
  out: { type: 'string', required: true, value: 'DIR', help: 'the adapter (PEFT), checkpoints, train-log.jsonl, loss-curve.svg' },
  adapter: { type: 'string', value: 'DIR', help: 'start from this PEFT adapter (its r, alpha, targets) instead of a fresh one' },
  config: { type: 'string', value: 'FILE.json', help: '{"stages": [{flag: value, ...}, ...]}: stages run in order, each from the previous adapter' },
  'lora-r': { type: 'number', integer: true, default: 8, value: 'R', help: 'LoRA rank' },
  'lora-alpha': { type: 'number', default: 16, value: 'A', help: 'LoRA alpha (scale alpha / r)' },
  'lora-dropout': { type: 'number', default: 0.05, value: 'P', help: 'dropout on the adapters\' input' },
  'target-modules': { type: 'string', default: LORA_TARGETS.join(','), value: 'LIST', help: 'linears to adapt' },
  rslora: { type: 'boolean', help: 'scale alpha / sqrt(r)' },
  temperature: { type: 'number', default: D.temperature, value: 'T', help: 'softmax temperature (LCO-Emb 0.03, sentence-transformers 0.05)' },
  loss: { type: 'string', default: D.loss, value: 'KIND', help: 'infonce (one-way), symmetric, or mamcl (modality-masked)' },
  matryoshka: { type: 'string', value: 'DIMS', help: 'nested widths, e.g. 32,64,128: the loss summed over re-normalised prefixes' },
  'batch-size': { type: 'number', integer: true, default: D.batchSize, value: 'N', help: 'rows per step: one softmax over all of them' },
  'mini-batch-size': { type: 'number', integer: true, default: D.miniBatch, value: 'N', help: 'sequences per forward (GradCache): bounds memory' },
  steps: { type: 'number', integer: true, value: 'N', help: 'optimizer steps (default: --epochs passes)' },
  epochs: { type: 'number', integer: true, default: D.epochs, value: 'N', help: 'passes over the data when --steps is not given' },
  lr: { type: 'number', default: D.lr, value: 'LR', help: 'peak learning rate' },
  optimizer: { type: 'string', default: D.optimizer, value: 'NAME', help: 'adamw or sgd' },
  momentum: { type: 'number', default: D.momentum, value: 'M', help: 'SGD momentum' },
  'weight-decay': { type: 'number', default: D.weightDecay, value: 'WD', help: 'AdamW decoupled / SGD L2 weight decay' },
  warmup: { type: 'number', integer: true, default: D.warmup, value: 'N', help: 'linear warmup: update s (counted from 0) < N runs at lr * s / N, as transformers\' schedulers' },
  schedule: { type: 'string', default: D.schedule, value: 'KIND', help: 'cosine, linear or constant after warmup: the first update after it runs at the peak' },
  'max-grad-norm': { type: 'number', default: D.clip, value: 'N', help: 'clip the global gradient norm; 0 disables clipping' },
  prompt: { type: 'string', default: D.prompt, value: 'P', help: 'none, lco or a template with {text}, applied to every item (images: its image templates)' },
  chat: { type: 'string', default: D.chat, value: 'FMT', help: 'none or chatml' },
  pooling: { type: 'string', default: D.pooling, value: 'MODE', help: 'lasttoken or mean' },
  'max-length': { type: 'number', integer: true, value: 'N', help: 'most tokens per text (default: 128, or the model\'s limit if lower)' },
  seed: { type: 'number', integer: true, default: D.seed, value: 'S', help: 'seed of the adapter init, data order and dropout' },
  'checkpoint-every': { type: 'number', integer: true, default: D.checkpointEvery, value: 'N', help: 'checkpoint every N steps (0: at the end)' },
  'keep-checkpoints': { type: 'number', integer: true, default: D.keepCheckpoints, value: 'N', help: 'newest checkpoints to keep' },
  'on-error': { type: 'string', default: 'stop', value: 'WHAT', help: 'bad data rows: stop (train nothing) or skip them' },
  resume: { type: 'boolean', help: 'continue the newest checkpoint in --out' },
  quiet: { type: 'boolean', help: 'no progress lines' },
} as const satisfies FlagSpecs;

const HELP = formatHelp(`usage: lco train --model DIR --data TRAIN.jsonl --out DIR [options]

Trains a LoRA adapter on the frozen decoder in DIR with a contrastive loss over
last-token embeddings (LCO-Emb), big batches through GradCache. A column may
hold a text, {"text": ...}, {"input_ids": [...]}, or, when DIR has a vision
encoder (vision_config.json), {"image": "path"} or {"image": "path", "text": ...}
(paths relative to TRAIN.jsonl; the encoder stays frozen). Example:
  lco train --model fixtures/tiny-decoder --data wordnet --out runs/emb --steps 200`, FLAGS);

type Flags = ReturnType<typeof parseArgs<typeof FLAGS>>['flags'];

function trainConfig(f: Flags, maxPositions: number): ContrastiveTrainConfig {
  const targets = f['target-modules'].split(',').map((x) => x.trim()).filter(Boolean);
  for (const t of targets) if (!LORA_TARGETS.includes(t as LoraTarget)) throw new UsageError(`--target-modules: unknown module "${t}" (expected some of ${LORA_TARGETS.join(', ')})`);
  const matryoshka = f.matryoshka ? f.matryoshka.split(',').map((x) => Number(x.trim())) : null;
  if (matryoshka?.some((d) => !Number.isInteger(d) || d < 1)) throw new UsageError(`--matryoshka ${f.matryoshka}: expected comma-separated positive integers`);
  try {
    resolvePrompt(f.prompt);
  } catch (err) {
    throw new UsageError(`--prompt: ${(err as Error).message}`);
  }
  return {
    ...D,
    batchSize: f['batch-size'], miniBatch: f['mini-batch-size'], steps: f.steps ?? 0, epochs: f.steps ? 0 : f.epochs,
    lr: f.lr, warmup: f.warmup, schedule: oneOf('schedule', f.schedule, ['cosine', 'linear', 'constant']) as ScheduleKind,
    optimizer: oneOf('optimizer', f.optimizer, ['adamw', 'sgd']), momentum: f.momentum, weightDecay: f['weight-decay'],
    clip: f['max-grad-norm'], temperature: f.temperature, loss: oneOf('loss', f.loss, ['infonce', 'symmetric', 'mamcl']) as ContrastiveLossKind,
    matryoshka, prompt: f.prompt, chat: oneOf('chat', f.chat, ['none', 'chatml']) as ChatFormat,
    pooling: oneOf('pooling', f.pooling, ['lasttoken', 'mean']) as Pooling,
    maxLength: f['max-length'] ?? Math.min(128, maxPositions), seed: f.seed,
    checkpointEvery: f['checkpoint-every'], keepCheckpoints: f['keep-checkpoints'],
    lora: { r: f['lora-r'], alpha: f['lora-alpha'], dropout: f['lora-dropout'], rslora: f.rslora, targets: targets as LoraTarget[] },
  };
}

async function dataset(f: Flags, vocab: number, log: (s: string) => void): Promise<PairDataset> {
  if (!f.data) throw new UsageError('--data is required (a JSONL file or "wordnet")');
  if (f.data === 'wordnet') {
    const t = trainingTriplets(await readWordNet(), { seed: f.seed });
    const rows: PairRow[] = t.rows.map((r, i) => ({
      line: i + 1, anchor: { text: r.anchor }, positive: { text: r.positive }, negatives: [{ text: r.negative }], positiveModality: 1, negativeModalities: [1],
    }));
    log(`wordnet: ${rows.length} training triplets (example sentence, its gloss, another sense's gloss) from the training split\n`);
    return { source: 'wordnet', rows, k: 1, errors: [] };
  }
  const d = await readPairs(f.data, vocab);
  for (const e of d.errors.slice(0, 20)) log(`lco train: ${e}\n`);
  if (d.errors.length > 20) log(`lco train: ... and ${d.errors.length - 20} more bad rows\n`);
  if (d.errors.length > 0 && f['on-error'] === 'stop') throw new Error(`${d.errors.length} bad row(s) in ${f.data}; nothing trained (--on-error skip trains on the others)`);
  if (d.rows.length === 0) throw new Error(`${f.data}: no usable rows`);
  return d;
}

/** One stage: returns the adapter folder it wrote. */
async function runStage(
  gpu: Gpu, model: Decoder, vision: VisionModel | undefined, tokenizerJson: string, f: Flags, out: string, startAdapter: string | undefined, log: (s: string) => void,
): Promise<number> {
  const tok = loadTokenizer(tokenizerJson);
  let config = trainConfig(f, model.config.maxPositions);
  const data = await dataset(f, model.config.vocab, log);
  const withImage = vision ? undefined : data.rows.find((r) => [r.anchor, r.positive, ...r.negatives].some((x) => 'image' in x));
  if (withImage) {
    throw new Error(`${data.source}:${withImage.line}: an image item needs a multimodal model folder, but ${f.model} has no ${VISION_CONFIG_FILE} (and ${VISION_WEIGHTS_FILE})`);
  }
  let resumeDir: string | null = null;
  let state: TrainerState<ContrastiveTrainConfig> | undefined;
  if (f.resume) {
    const steps = await listCheckpoints(out);
    if (steps.length > 0) {
      resumeDir = join(out, checkpointName(steps.at(-1)!));
      state = await readState<ContrastiveTrainConfig>(resumeDir);
      config = state.config;
      log(`resuming ${resumeDir} at step ${state.step}\n`);
    }
  }
  const adapterFrom = resumeDir ?? startAdapter;
  const lora: DecoderLora = adapterFrom ? await loadLoraAdapter(gpu, model.config, adapterFrom) : createLora(gpu, model.config, config.lora, config.seed);
  if (adapterFrom && !resumeDir) config = { ...config, lora: lora.config };
  try {
    log(`${data.source}: ${data.rows.length} rows with ${data.k} negative(s) each; LoRA r ${lora.config.r} alpha ${lora.config.alpha} on ` +
      `${lora.config.targets.join(', ')}; batch ${config.batchSize} in mini-batches of ${config.miniBatch}; loss ${config.loss} t ${config.temperature}` +
      `${vision ? '; vision encoder frozen' : ''}\n`);
    return await withInterrupt(log, async (signal) => {
      const r = await trainContrastive({
        gpu, model, lora, embedder: new Embedder(gpu, model, tok, undefined, vision), rows: data.rows, k: data.k, outDir: out, config,
        tokenizerJson, baseModel: f.model, resume: state, onParams: resumeDir ? (p) => loadMoments(gpu, resumeDir!, p) : undefined,
        progressOut: f.quiet ? null : process.stderr, signal,
      });
      const last = r.state.history.at(-1);
      log(r.stopped ? `stopped at step ${r.state.step}; continue with --resume\n` : `done: ${r.state.step} steps, last loss ${last?.loss.toFixed(4)}; adapter in ${out}\n`);
      return r.stopped ? 130 : 0;
    });
  } finally {
    releaseLora(lora);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export async function train(args: string[], log: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const { flags, help } = parseArgs(FLAGS, args);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  let stages: Flags[] = [flags];
  if (flags.config) {
    let raw: { stages?: unknown };
    try {
      raw = JSON.parse(await readFile(flags.config, 'utf8'));
    } catch (err) {
      throw new UsageError(`--config ${flags.config}: ${(err as Error).message}`);
    }
    if (!Array.isArray(raw.stages) || raw.stages.length === 0) throw new UsageError(`--config ${flags.config}: expected {"stages": [{...}, ...]}`);
    // a stage's keys are flag names; the command line supplies the rest
    stages = raw.stages.map((st, i) => {
      if (!st || typeof st !== 'object') throw new UsageError(`--config ${flags.config}: stage ${i + 1} must be an object of flags`);
      const argv = [...args.filter((a) => !a.startsWith('--config')), ...Object.entries(st as Record<string, unknown>).flatMap(([k, v]) => (v === true ? [`--${k}`] : [`--${k}`, String(v)]))];
      return parseArgs(FLAGS, argv.filter((a, j, all) => !(a === flags.config && all[j - 1] === '--config'))).flags;
    });
  }
  const gpu = await Gpu.create();
  let model: Decoder | undefined;
  let vision: VisionModel | undefined;
  try {
    model = await loadDecoder(gpu, flags.model);
    if (existsSync(join(flags.model, VISION_CONFIG_FILE))) vision = await loadVision(gpu, flags.model);
    const tokenizerJson = await readFile(join(flags.model, 'tokenizer.json'), 'utf8').catch((err: Error) => {
      throw new Error(`${join(flags.model, 'tokenizer.json')}: cannot read (${err.message}); the model folder needs its tokenizer`);
    });
    let previous = flags.adapter;
    for (const [i, f] of stages.entries()) {
      const out = stages.length === 1 ? f.out : join(f.out, `stage-${i + 1}`);
      if (stages.length > 1) {
        if (f.resume && (await exists(join(out, ADAPTER_CONFIG))) && (await exists(join(out, 'trainer_state.json')))) {
          log(`stage ${i + 1}: already done in ${out}\n`);
          previous = out;
          continue;
        }
        log(`stage ${i + 1} of ${stages.length} -> ${out}\n`);
      }
      const code = await runStage(gpu, model, vision, tokenizerJson, f, out, previous, log);
      if (code !== 0) return code;
      previous = out;
    }
    if (stages.length > 1) {
      for (const file of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) await copyFile(join(previous!, file), join(flags.out, file));
      log(`final adapter (stage ${stages.length}) copied to ${flags.out}\n`);
    }
    return 0;
  } finally {
    if (vision) releaseVision(vision);
    if (model) releaseDecoder(model);
    gpu.destroy();
  }
}

export async function run(args: string[]): Promise<number> {
  try {
    return await train(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lco train: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
}
