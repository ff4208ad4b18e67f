// Contrastive LoRA refinement (LCO-Emb): a frozen decoder, a LoRA adapter on
// its linears, and an InfoNCE-family loss over last-token embeddings, each
// step on a big batch through GradCache. One optimizer step:
//
//   batch of B rows (no text twice; sentence-transformers' NoDuplicates)
//   anchors [B], candidates [B (1 + k)] = positives, then k blocks of negatives
//   loss = gradCacheStep(...)     InfoNCE / symmetric / MAMCL (+ Matryoshka),
//                                 LoRA grads added; dropout seeded by (seed, step)
//   clip the global norm, AdamW or SGD with the scheduled lr
//   read [loss, grad norm]
//
// Data order: epoch e visits the rows in a permutation drawn from (seed, e),
// cut into duplicate-free batches; step s takes the s-th batch of that
// sequence. Like the generative trainer, a run resumed from a checkpoint
// continues exactly (the order, the dropout masks and the schedule are
// functions of (seed, step); the kernels are deterministic).
import type { Gpu } from '../gpu/gpu.ts';
import { rng } from '../doctor/compare.ts';
import { shuffleInPlace } from '../model/sample.ts';
import { itemInput, noDuplicateBatches, type Item, type PairRow } from '../data/pairs.ts';
import type { Embedder, Pooling } from '../embed/embedder.ts';
import type { SequenceRow } from '../embed/image-rows.ts';
import type { ChatFormat } from '../embed/prompt.ts';
import type { Decoder } from '../model/decoder.ts';
import type { DecoderLora, LoraConfig } from '../model/lora.ts';
import { afterRun, afterStep, finalEval, newState, type StepEnd, type TrainerHooks, type TrainerState } from './checkpoint.ts';
import { gradCacheStep, type ContrastiveLossSpec } from './gradcache.ts';
import { writeLossCurve } from './loss-curve.ts';
import { fullParams, gradMap, loraParams, optimizerStep, readStepStats, releaseParams, zeroGrads } from './optimizer.ts';
import { Progress } from './progress.ts';
import { checkSchedule, lrAt, type ScheduleKind } from './schedule.ts';

export type ContrastiveLossKind = 'infonce' | 'symmetric' | 'mamcl';

export interface ContrastiveTrainConfig {
  /** B: rows per step (the softmax's batch). */
  batchSize: number;
  /** Sequences per forward (GradCache mini-batch): bounds the memory. */
  miniBatch: number;
  /** Optimizer steps; 0 = `epochs` full passes over the data. */
  steps: number;
  epochs: number;
  lr: number;
  warmup: number;
  schedule: ScheduleKind;
  minLrRatio: number;
  optimizer: 'adamw' | 'sgd';
  momentum: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Max global gradient norm; 0 = no clipping. */
  clip: number;
  temperature: number;
  loss: ContrastiveLossKind;
  /** Nested Matryoshka widths (ascending); null = plain loss. */
  matryoshka: number[] | null;
  prompt: string;
  chat: ChatFormat;
  pooling: Pooling;
  maxLength: number;
  seed: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  lora: LoraConfig;
}

export const CONTRASTIVE_DEFAULTS: Omit<ContrastiveTrainConfig, 'lora' | 'maxLength'> = {
  batchSize: 32, miniBatch: 16, steps: 0, epochs: 1,
  lr: 4e-4, warmup: 10, schedule: 'cosine', minLrRatio: 0,
  optimizer: 'adamw', momentum: 0, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, clip: 1,
  temperature: 0.05, loss: 'infonce', matryoshka: null,
  prompt: 'none', chat: 'none', pooling: 'lasttoken',
  seed: 0, checkpointEvery: 0, keepCheckpoints: 2,
};

export interface ContrastiveSetup extends TrainerHooks<ContrastiveTrainConfig> {
  gpu: Gpu;
  model: Decoder;
  /** The adapter trained in place (fresh or loaded); absent: full fine-tuning of every decoder weight. */
  lora?: DecoderLora;
  /** Tokenizes items with the run's prompt (Embedder.tokenize). */
  embedder: Embedder;
  rows: PairRow[];
  /** Negatives per row. */
  k: number;
  outDir: string;
  config: ContrastiveTrainConfig;
  tokenizerJson?: string;
  baseModel: string;
}

export function checkContrastiveConfig(c: ContrastiveTrainConfig): void {
  const bad = (msg: string): never => {
    throw new RangeError(`training options: ${msg}`);
  };
  for (const key of ['batchSize', 'miniBatch', 'keepCheckpoints', 'maxLength'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) bad(`${key} = ${c[key]} must be a positive integer`);
  }
  for (const key of ['steps', 'epochs', 'warmup', 'checkpointEvery'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 0) bad(`${key} = ${c[key]} must be a whole number`);
  }
  if (c.steps === 0 && c.epochs === 0) bad('give steps or epochs');
  if (c.batchSize < 2) bad('batchSize must be at least 2: in-batch negatives need other rows');
  if (!(c.temperature > 0)) bad(`temperature ${c.temperature} must be > 0`);
  if (!(c.lr > 0)) bad(`lr ${c.lr} must be > 0`);
  if (!(c.clip >= 0)) bad(`max grad norm ${c.clip} must be >= 0 (0 = no clipping)`);
  if (!['infonce', 'symmetric', 'mamcl'].includes(c.loss)) bad(`loss "${c.loss}" must be infonce, symmetric or mamcl`);
  if (!['adamw', 'sgd'].includes(c.optimizer)) bad(`optimizer "${c.optimizer}" must be adamw or sgd`);
  if (c.matryoshka && c.matryoshka.some((d, i) => !Number.isInteger(d) || d < 1 || (i > 0 && d <= c.matryoshka![i - 1]))) {
    bad(`matryoshka widths ${c.matryoshka.join(',')} must be increasing positive integers`);
  }
}

/** The batches of every epoch, drawn lazily: step s (1-based) -> row indices. */
export class EpochBatches {
  #epochs: number[][][] = [];

  constructor(readonly rows: readonly PairRow[], readonly size: number, readonly seed: number) {
    if (this.epoch(0).length === 0) {
      throw new RangeError(`${rows.length} rows cannot fill one batch of ${size} without a repeated text`);
    }
  }

  epoch(e: number): number[][] {
    while (this.#epochs.length <= e) {
      const n = this.#epochs.length;
      const order = shuffleInPlace(Array.from({ length: this.rows.length }, (_, i) => i), rng((this.seed * 7919 + n + 1) >>> 0));
      this.#epochs.push(noDuplicateBatches(this.rows, order, this.size));
    }
    return this.#epochs[e];
  }

  /** Batches per epoch (of the first epoch: later ones differ by a few at most). */
  get perEpoch(): number {
    return this.epoch(0).length;
  }

  at(step: number): number[] {
    let s = step - 1;
    for (let e = 0; ; e++) {
      const b = this.epoch(e);
      if (s < b.length) return b[s];
      s -= b.length;
    }
  }
}

const stepSeed = (seed: number, step: number) => (Math.imul(seed + 1, 0x2545f491) ^ Math.imul(step, 0x9e3779b1)) >>> 0;

export interface ContrastiveResult {
  state: TrainerState<ContrastiveTrainConfig>;
  stopped: boolean;
}

/** Runs (or continues) contrastive LoRA training; writes the adapter (PEFT) into outDir. */
export async function trainContrastive(s: ContrastiveSetup): Promise<ContrastiveResult> {
  const { gpu, model, lora, config: c } = s;
  checkContrastiveConfig(c);
  const { mkdir, appendFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(s.outDir, { recursive: true });

  // Tokenize every item once (and read its image), with the run's prompt ({ids} items as given).
  const opts = { prompt: c.prompt, chat: c.chat, maxLength: c.maxLength };
  const tok = (x: Item, where: string) => s.embedder.prepare(itemInput(x), opts, where);
  const tokens: { anchor: SequenceRow; positive: SequenceRow; negatives: SequenceRow[] }[] = [];
  for (const r of s.rows) {
    tokens.push({
      anchor: await tok(r.anchor, `line ${r.line} anchor`),
      positive: await tok(r.positive, `line ${r.line} positive`),
      negatives: await Promise.all(r.negatives.map((n, j) => tok(n, `line ${r.line} negative ${j + 1}`))),
    });
  }
  const batches = new EpochBatches(s.rows, c.batchSize, c.seed);
  const steps = c.steps > 0 ? c.steps : c.epochs * batches.perEpoch;
  const schedule = { peak: c.lr, warmup: c.warmup, total: steps, kind: c.schedule, minRatio: c.minLrRatio };
  checkSchedule(schedule);
  const spec: ContrastiveLossSpec = {
    temperature: c.temperature,
    symmetric: c.loss === 'symmetric',
    matryoshka: c.matryoshka ? { dims: c.matryoshka } : undefined,
  };

  const state: TrainerState<ContrastiveTrainConfig> = s.resume ? { ...s.resume, config: c } : newState(c, s.baseModel);
  const params = lora ? loraParams(gpu, lora) : fullParams(gpu, model);
  const grads = gradMap(params);
  const out = s.progressOut === undefined ? process.stderr : s.progressOut;
  const progress = out === null ? null : new Progress({
    totalSteps: steps, totalTokens: steps * c.batchSize, startStep: state.step, startTokens: state.tokens, out, unit: 'examples',
  });
  const save = { gpu, model, lora, params, tokenizerJson: s.tokenizerJson };
  const logPath = join(s.outDir, 'train-log.jsonl');
  const curve = () => writeLossCurve(join(s.outDir, 'loss-curve.svg'), [{ name: 'train', points: state.history.map((h) => [h.step, h.loss]) }],
    { title: `contrastive loss (${c.loss}, t = ${c.temperature}, batch ${c.batchSize})`, xLabel: 'step', yLabel: 'loss' });

  const ends: StepEnd = {
    outDir: s.outDir, save, state, total: steps, checkpointEvery: c.checkpointEvery, keepCheckpoints: c.keepCheckpoints, curve, signal: s.signal,
  };
  let stopped = false;
  const stats = gpu.empty([2], 'f32', 'step.stats');
  try {
    await s.onParams?.(params);
    for (let step = state.step + 1; step <= steps; step++) {
      const idx = batches.at(step);
      const anchors = idx.map((i) => tokens[i].anchor);
      const candidates = [...idx.map((i) => tokens[i].positive)];
      for (let j = 0; j < s.k; j++) candidates.push(...idx.map((i) => tokens[i].negatives[j]));
      const labels = c.loss === 'mamcl'
        ? [...idx.map((i) => s.rows[i].positiveModality), ...Array.from({ length: s.k }, (_, j) => idx.map((i) => s.rows[i].negativeModalities[j])).flat()]
        : undefined;
      zeroGrads(gpu, params);
      const loss = gradCacheStep(gpu, model, lora, grads, { anchors, candidates, labels }, spec,
        { miniBatch: c.miniBatch, pooling: c.pooling, seed: stepSeed(c.seed, step), vision: s.embedder.vision });
      const lr = lrAt(schedule, step - 1); // the schedule counts updates from 0: step 1 is update 0
      const norm = optimizerStep(gpu, params, c, lr, step);
      const { loss: value, gradNorm } = await readStepStats(gpu, stats, loss, norm, step, s.outDir);
      state.step = step;
      state.tokens += c.batchSize; // examples, for this trainer
      state.history.push({ step, loss: value, lr, gradNorm });
      await appendFile(logPath, JSON.stringify({ step, loss: value, lr, grad_norm: gradNorm, examples: state.tokens }) + '\n');
      progress?.update({ step, tokens: state.tokens, loss: value, lr }, step === steps);
      stopped = await afterStep(ends, step);
      if (stopped) break;
    }
    await afterRun(ends, stopped);
  } finally {
    stats.release();
    releaseParams(params);
  }
  return { state, stopped };
}
