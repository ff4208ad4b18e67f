// Generative (next-token) training of the decoder: from scratch with every
// weight trainable, or continual pretraining of a LoRA adapter on a frozen
// base. One optimizer step:
//
//   zero the gradients
//   for each of gradAccum micro-batches of microBatch windows [B, T]:
//     acts   = decoderTrainForward(ids)                 (LoRA dropout seeded per micro-batch)
//     loss  += lmHeadLoss(acts.final, targets) / count  (count = scored targets of the whole step)
//     grads += decoderBackward(dfinal)
//   clip the global gradient norm, AdamW with the scheduled lr
//   read [loss, grad norm] back (the step's only read)
//
// Dividing by the step's whole token count (not per micro-batch) makes the
// accumulated gradient exactly the gradient of one big batch. Every kernel is
// deterministic and the data order, the dropout seeds and the schedule are
// functions of (seed, step), so a run resumed from a checkpoint continues
// bit for bit as the uninterrupted run would have (tested).
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { TokenWindows } from '../data/lm-windows.ts';
import { decoderBackward, type GradMap } from '../model/backward.ts';
import type { Decoder } from '../model/decoder.ts';
import { decoderForward, decoderTrainForward, type TrainInput } from '../model/forward.ts';
import { groupIds } from '../ops/embedding.ts';
import type { DecoderLora, LoraConfig } from '../model/lora.ts';
import { afterRun, afterStep, finalEval, newState, type StepEnd, type TrainerHooks, type TrainerState, type TrainResult } from './checkpoint.ts';
import { countTargets, lmHeadLoss } from './lm-loss.ts';
import { writeLossCurve } from './loss-curve.ts';
import { fullParams, gradMap, loraParams, optimizerStep, readStepStats, releaseParams, zeroGrads } from './optimizer.ts';
import { Progress } from './progress.ts';
import { checkSchedule, lrAt, type ScheduleKind } from './schedule.ts';

export interface LmTrainConfig extends AdamWSchedule {
  /** T: tokens per window. */
  seqLen: number;
  /** B: windows per micro-batch. */
  microBatch: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  /** Evaluate on held-out windows every this many steps (0 = only at the end). */
  evalEvery: number;
  /** Held-out windows per evaluation (0 = all). */
  evalWindows: number;
  /** Save a checkpoint every this many steps (0 = only at the end). */
  checkpointEvery: number;
  keepCheckpoints: number;
  /** Present: LoRA training of this adapter shape (base frozen). */
  lora: LoraConfig | null;
}

export const PRETRAIN_DEFAULTS: LmTrainConfig = {
  seqLen: 64, microBatch: 16, gradAccum: 1, steps: 1000,
  lr: 3e-3, warmup: 50, schedule: 'cosine', minLrRatio: 0.1,
  weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, clip: 1,
  seed: 0, evalEvery: 200, evalWindows: 64, checkpointEvery: 200, keepCheckpoints: 2, lora: null,
};

export interface LmTrainSetup extends TrainerHooks<LmTrainConfig> {
  gpu: Gpu;
  /** Trained in place (full), or the frozen base (LoRA). */
  model: Decoder;
  /** The adapter trained in place (LoRA training only). */
  lora?: DecoderLora;
  train: TokenWindows;
  heldout?: TokenWindows;
  /** Checkpoints, the final model, the log and the loss curve go here. */
  outDir: string;
  config: LmTrainConfig;
  /** Copied beside the model and every checkpoint. */
  tokenizerJson?: string;
  /** Recorded as the adapter's base_model_name_or_path. */
  baseModel?: string;
}

/** The optimizer and schedule settings both generative trainers share. */
export interface AdamWSchedule {
  /** Optimizer steps of the whole run. */
  steps: number;
  lr: number;
  warmup: number;
  schedule: ScheduleKind;
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip; 0 = none. */
  clip: number;
  /** Seed of the data order, dropout and fresh weights. */
  seed: number;
}

/** `final`: held-out loss and perplexity at the end (when there is a held-out set). */
export type LmTrainResult = TrainResult<LmTrainConfig>;

export function checkTrainConfig(c: LmTrainConfig): void {
  const bad = (msg: string): never => {
    throw new RangeError(`training options: ${msg}`);
  };
  for (const k of ['seqLen', 'microBatch', 'gradAccum', 'steps', 'keepCheckpoints'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} = ${c[k]} must be a positive integer`);
  }
  for (const k of ['evalEvery', 'evalWindows', 'checkpointEvery', 'warmup'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0) bad(`${k} = ${c[k]} must be a whole number`);
  }
  if (!(c.lr > 0)) bad(`lr = ${c.lr} must be positive`);
  if (!(c.clip >= 0)) bad(`clip = ${c.clip} must be >= 0`);
  checkSchedule({ peak: c.lr, warmup: c.warmup, total: c.steps, kind: c.schedule, minRatio: c.minLrRatio });
}

/** A [B, T] batch of full windows on the GPU, with its targets and id groups. */
export interface WindowBatch {
  input: TrainInput;
  /** Next-token targets [B*T] on the CPU (validated, counted) and on the GPU. */
  targets: Int32Array;
  targetsTensor: Tensor<'i32'>;
  release(): void;
}

/**
 * Uploads a batch of full windows (every token real, positions 0..T-1): ids,
 * mask, positions, targets and the ids' groups for the embedding backward.
 * Every upload of a step happens here, before anything is recorded, because
 * an upload submits the work recorded before it: a step stays one submit.
 */
export function uploadWindows(gpu: Gpu, ids: Int32Array, targets: Int32Array, B: number, T: number, vocab: number): WindowBatch {
  const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
  const input: TrainInput = {
    B, T, idsData: ids,
    ids: gpu.tensor(ids, [B, T], 'i32', 'batch.ids'),
    mask: gpu.tensor(new Int32Array(B * T).fill(1), [B, T], 'i32', 'batch.mask'),
    pos: gpu.tensor(pos, [B, T], 'i32', 'batch.pos'),
    idGroups: groupIds(gpu, ids, vocab, 'uploadWindows'),
  };
  const targetsTensor = gpu.tensor(targets, [B * T], 'i32', 'batch.targets');
  return {
    input, targets, targetsTensor,
    release() {
      for (const t of [input.ids, input.mask, input.pos, targetsTensor]) t.release();
      input.idGroups?.release();
    },
  };
}

/**
 * One micro-batch: training forward, LM loss (its sum / count added into
 * `lossInto`) and backward, the gradients added into `grads`.
 */
export function accumulateMicroBatch(
  gpu: Gpu, model: Decoder, lora: DecoderLora | undefined, grads: GradMap,
  batch: WindowBatch, count: number, lossInto: Tensor, dropoutSeed: number,
): void {
  const head = model.weights.lmHead;
  const acts = decoderTrainForward(gpu, model, batch.input, { lora, dropoutSeed });
  const { dFinal } = lmHeadLoss(gpu, acts.final, head, batch.targets, { count, lossInto, dHead: grads.get(head), targetsTensor: batch.targetsTensor });
  decoderBackward(gpu, model, acts, dFinal!, grads);
  dFinal!.release();
}

/** Seed of micro-batch `micro` of step `step`: distinct across the run. */
const microSeed = (seed: number, step: number, micro: number) => (Math.imul(seed + 1, 0x85ebca6b) ^ Math.imul(step, 0xc2b2ae35) ^ micro) >>> 0;

/**
 * Mean next-token loss over held-out windows 0..n-1 (in order, n = 0: all),
 * in micro-batches of B. Returns the loss and perplexity exp(loss).
 */
export async function evaluateLm(gpu: Gpu, model: Decoder, windows: TokenWindows, n: number, B: number, lora?: DecoderLora): Promise<{ loss: number; perplexity: number; tokens: number }> {
  const count = n > 0 ? Math.min(n, windows.count) : windows.count;
  if (count === 0) throw new RangeError('evaluateLm: the held-out set has no complete window');
  const T = windows.T;
  const total = count * T;
  const acc = gpu.zeros([1], 'f32', 'eval.loss');
  for (let w0 = 0; w0 < count; w0 += B) {
    const idx = Array.from({ length: Math.min(B, count - w0) }, (_, i) => w0 + i);
    const { ids, targets } = windows.batch(idx);
    const batch = uploadWindows(gpu, ids, targets, idx.length, T, model.config.vocab);
    const { last } = decoderForward(gpu, model, batch.input, { lora });
    lmHeadLoss(gpu, last, model.weights.lmHead, targets, { count: total, lossInto: acc, backward: false, targetsTensor: batch.targetsTensor });
    last.release();
    batch.release();
    await gpu.sync(); // bound the recorded work per batch
  }
  const [loss] = await gpu.read(acc);
  acc.release();
  return { loss, perplexity: Math.exp(loss), tokens: total };
}

/** Runs (or continues) a training run; see the header. */
export async function trainLm(s: LmTrainSetup): Promise<LmTrainResult> {
  const { gpu, model, lora, config: c } = s;
  checkTrainConfig(c);
  if (c.lora && !lora) throw new RangeError('training options ask for LoRA but no adapter was given');
  const { mkdir, appendFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(s.outDir, { recursive: true });
  const state: TrainerState<LmTrainConfig> = s.resume ? { ...s.resume, config: c } : newState(c, s.baseModel ?? null);
  const params = lora ? loraParams(gpu, lora) : fullParams(gpu, model);
  const grads = gradMap(params);
  const B = c.microBatch;
  const T = c.seqLen;
  if (s.train.T !== T) throw new RangeError(`training windows have T = ${s.train.T}, options say seqLen ${T}`);
  const tokensPerStep = B * T * c.gradAccum;
  const schedule = { peak: c.lr, warmup: c.warmup, total: c.steps, kind: c.schedule, minRatio: c.minLrRatio };
  const save = { gpu, model, lora, params, tokenizerJson: s.tokenizerJson };
  const logPath = join(s.outDir, 'train-log.jsonl');
  const out = s.progressOut === undefined ? process.stderr : s.progressOut;
  const progress = out === null ? null : new Progress({
    totalSteps: c.steps, totalTokens: c.steps * tokensPerStep, startStep: state.step, startTokens: state.tokens, out,
  });
  const evaluate = async (step: number) => {
    if (!s.heldout || s.heldout.count === 0) return;
    const r = await evaluateLm(gpu, model, s.heldout, c.evalWindows, B, lora);
    state.evals.push({ step, loss: r.loss, perplexity: r.perplexity });
    await appendFile(logPath, JSON.stringify({ step, eval_loss: r.loss, eval_perplexity: r.perplexity }) + '\n');
    out?.write(`eval at step ${step}: held-out loss ${r.loss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)}\n`);
  };
  const curve = () => writeLossCurve(join(s.outDir, 'loss-curve.svg'), [
    { name: 'train', points: state.history.map((h) => [h.step, h.loss]) },
    { name: 'held-out', points: state.evals.map((e) => [e.step, e.loss]) },
  ], { title: `next-token loss (${lora ? 'LoRA' : 'full'} training)`, xLabel: 'step', yLabel: 'cross-entropy (nats/token)' });

  const ends: StepEnd = {
    outDir: s.outDir, save, state, total: c.steps, checkpointEvery: c.checkpointEvery, keepCheckpoints: c.keepCheckpoints,
    evalEvery: c.evalEvery, evaluate, curve, signal: s.signal,
  };
  let stopped = false;
  const stats = gpu.empty([2], 'f32', 'step.stats'); // [loss, grad norm]: the step's one read
  try {
    await s.onParams?.(params);
    for (let step = state.step + 1; step <= c.steps; step++) {
      // every upload first (see uploadWindows), then one recorded step
      const batches = Array.from({ length: c.gradAccum }, (_, micro) => {
        const first = ((step - 1) * c.gradAccum + micro) * B;
        const { ids, targets } = s.train.batch(Array.from({ length: B }, (_, b) => s.train.windowAt(first + b)));
        return uploadWindows(gpu, ids, targets, B, T, model.config.vocab);
      });
      zeroGrads(gpu, params);
      const lossAcc = gpu.zeros([1], 'f32', 'step.loss');
      batches.forEach((batch, micro) => {
        // every window is full, so each micro-batch scores the same number of targets
        accumulateMicroBatch(gpu, model, lora, grads, batch, countTargets(batch.targets) * c.gradAccum, lossAcc, microSeed(c.seed, step, micro));
        batch.release();
      });
      const lr = lrAt(schedule, step - 1); // the schedule counts updates from 0: step 1 is update 0
      const norm = optimizerStep(gpu, params, c, lr, step);
      const { loss, gradNorm } = await readStepStats(gpu, stats, lossAcc, norm, step, s.outDir, 'try a lower --lr');
      state.step = step;
      state.tokens += tokensPerStep;
      state.history.push({ step, loss, lr, gradNorm });
      await appendFile(logPath, JSON.stringify({ step, loss, lr, grad_norm: gradNorm, tokens: state.tokens }) + '\n');
      progress?.update({ step, tokens: state.tokens, loss, lr }, step === c.steps);
      stopped = await afterStep(ends, step);
      if (stopped) break;
    }
    await afterRun(ends, stopped);
  } finally {
    stats.release();
    releaseParams(params);
  }
  return { state, stopped, final: finalEval(state) };
}
