// Generative pretraining of the mini multimodal LM (vision encoder +
// projector + decoder): captioning on the shapes world, optionally mixed with
// next-token text (WordNet). One optimizer step:
//
//   uploads: the caption batch (pixels, ids, targets) and the text windows
//   caption micro-batch (captionBatch scenes, caption-data.ts):
//     loss += captionStep(vision -> decoder -> LM loss) / count, grads += backward
//   text micro-batch (textBatch windows of seqLen tokens; 0 = none):
//     loss += lmHeadLoss(decoder(ids)) / count,                 grads += backward
//   count = scored caption targets + scored text targets of the step
//   clip the global gradient norm, AdamW with the scheduled lr (warmup + cosine)
//   zero the gradients and the loss accumulators for the next step
//   read [caption loss, text loss, grad norm] back (the step's only read)
//
// Dividing both parts by the step's whole count makes the step the gradient
// of one batch holding every scored token of both (each token weighs the
// same, caption or text). The logged `loss` is that mix; captionLoss and
// textLoss are each part's own mean.
//
// One submit per step: every upload comes first, and the gradients and the
// accumulators are zeroed at the end of the previous step, before its read,
// so nothing is recorded when the next step's uploads (and the patchify
// upload at the start of the vision forward) would flush it.
//
// What trains: the vision encoder and projector (or the projector only,
// frozenEncoder) and the decoder (every weight; a LoRA adapter on the frozen
// decoder, when one is given; or none: trainDecoder false, LLaVA's stage-1
// projector alignment). Data: the world's train-split scenes (captions) and
// the text corpus's training stream cut into seqLen windows; held out: the
// validation-split scenes and the corpus's held-out stream. The data order (CaptionBatches,
// TokenWindows) and the schedule are functions of (seed, step) and every
// kernel reduces in a fixed order, so a run resumed from a checkpoint
// continues bit for bit (tested). LoRA dropout masks are seeded by (seed,
// step, micro-batch) like the text trainer's.
//
// Into outDir: checkpoint-NNNNNN/ (decoder + vision + tokenizer + moments +
// state), snapshots/step-NNNNNN/ at the snapshotAt steps (kept), the final
// model at the top, train-log.jsonl and loss-curve.svg. The held-out caption
// loss on validation scenes (and the held-out text loss) is measured at the
// end and, with evalEvery > 0, before the first step and every evalEvery steps.
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { TokenWindows } from '../data/lm-windows.ts';
import { endOfTextId, type LmCorpus } from '../data/lm-corpus.ts';
import type { World } from '../data/shapes-world.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { Decoder } from '../model/decoder.ts';
import type { DecoderLora } from '../model/lora.ts';
import { visionDims, visionWeightSpecs, type VisionModel } from '../model/vision.ts';
import { applyPrompt, resolvePrompt } from '../embed/prompt.ts';
import { COLOURS, COUNT_WORDS, SHAPES } from '../data/shapes-world.ts';
import { CaptionBatches, buildCaptionBatch, evaluateCaptionLoss, pickSequences, ScenePixels } from './caption-data.ts';
import { captionStep } from './caption-step.ts';
import { afterRun, afterStep, finalEval, newState, saveSnapshot, type StepEnd, type TrainerHooks, type TrainerState, type TrainResult } from './checkpoint.ts';
import { accumulateMicroBatch, evaluateLm, uploadWindows, type AdamWSchedule, type WindowBatch } from './lm-trainer.ts';
import { countTargets } from './lm-loss.ts';
import { writeLossCurve, type LossSeries } from './loss-curve.ts';
import { fullParams, gradMap, loraParams, optimizerStep, trainParam, releaseParams, zeroGrads, type TrainParam } from './optimizer.ts';
import { Progress } from './progress.ts';
import { checkSchedule, lrAt } from './schedule.ts';

/** What the data was made from: recorded in the state so --resume rebuilds the same. */
export interface MmDataSpec {
  /** makeWorld's seed and size. */
  worldSeed: number;
  scenes: number;
  /** "wordnet", "none" or a file. */
  text: string;
}

export interface MmTrainConfig extends AdamWSchedule {
  /** Scenes (one caption each) per step. */
  captionBatch: number;
  /** Text windows per step; 0 = captions only. */
  textBatch: number;
  /** T of the text windows. */
  seqLen: number;
  /** Train the decoder, or its adapter when the setup has one (false: it stays fixed; vision only). */
  trainDecoder: boolean;
  /** Keep the encoder fixed, train the projector (and the decoder, when trainDecoder). */
  frozenEncoder: boolean;
  /** Held-out evaluation before the first step and every this many steps (0 = at the end only). */
  evalEvery: number;
  /** Held-out (validation) scenes per evaluation, the first ones (0 = all); every caption of each. */
  evalScenes: number;
  /** Held-out text windows per evaluation (0 = all). */
  evalWindows: number;
  /** Checkpoint every this many steps (0 = at the end only). */
  checkpointEvery: number;
  keepCheckpoints: number;
  /** Steps whose model goes to snapshots/step-NNNNNN/ (kept). */
  snapshotAt: number[];
  /** Share of the caption draws that are one-word summaries of the image or the caption (caption-data.ts); 0 = captions only. */
  summaryFraction: number;
  data: MmDataSpec;
}

export const MM_PRETRAIN_DEFAULTS: MmTrainConfig = {
  captionBatch: 16, textBatch: 4, seqLen: 64, steps: 1000,
  lr: 2e-3, warmup: 50, schedule: 'cosine', minLrRatio: 0.1,
  weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, clip: 1, seed: 0,
  trainDecoder: true, frozenEncoder: false,
  evalEvery: 100, evalScenes: 64, evalWindows: 64, checkpointEvery: 200, keepCheckpoints: 2, snapshotAt: [], summaryFraction: 0,
  data: { worldSeed: 0, scenes: 2000, text: 'wordnet' },
};

export interface MmTrainSetup extends TrainerHooks<MmTrainConfig> {
  gpu: Gpu;
  /** Trained in place (full), or the frozen base (with `lora`). */
  decoder: Decoder;
  /** Trained in place (all of it, or the projector with frozenEncoder). */
  vision: VisionModel;
  /** An adapter on the decoder, trained in place instead of the decoder's weights. */
  lora?: DecoderLora;
  tokenizer: Tokenizer;
  /** Copied beside the model, every checkpoint and snapshot. */
  tokenizerJson?: string;
  /** Its train split is captioned; its validation split is held out. */
  world: World;
  /** Text mixed in (its training stream) and held out (its held-out stream); needed when textBatch > 0. */
  textCorpus?: LmCorpus;
  outDir: string;
  config: MmTrainConfig;
  /** Recorded as the state's baseModel (the decoder folder the run started from). */
  baseModel?: string;
}

/** `final`: the held-out caption loss at the end (when there are held-out scenes). */
export type MmTrainResult = TrainResult<MmTrainConfig>;

/** Every word a one-word summary can be. */
const SUMMARY_WORDS = [...SHAPES, ...COLOURS, ...COUNT_WORDS];

export function checkMmConfig(c: MmTrainConfig): void {
  const bad = (msg: string): never => {
    throw new RangeError(`multimodal training options: ${msg}`);
  };
  for (const k of ['captionBatch', 'seqLen', 'steps', 'keepCheckpoints'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) bad(`${k} = ${c[k]} must be a positive integer`);
  }
  for (const k of ['textBatch', 'evalEvery', 'evalScenes', 'evalWindows', 'checkpointEvery', 'warmup'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0) bad(`${k} = ${c[k]} must be a whole number`);
  }
  if (!(c.lr > 0)) bad(`lr = ${c.lr} must be positive`);
  if (!(c.clip >= 0)) bad(`clip = ${c.clip} must be >= 0`);
  if (!(c.summaryFraction >= 0 && c.summaryFraction < 1)) bad(`summaryFraction = ${c.summaryFraction} must be in [0, 1)`);
  for (const s of c.snapshotAt) {
    if (!Number.isInteger(s) || s < 1 || s > c.steps) bad(`snapshot step ${s} must be an integer in 1..${c.steps} (the run's steps)`);
  }
  checkSchedule({ peak: c.lr, warmup: c.warmup, total: c.steps, kind: c.schedule, minRatio: c.minLrRatio });
}

/** The vision weights a run trains: all, or the projector's only (frozen encoder). Gradients and moments start at zero. */
export function visionParams(gpu: Gpu, vision: VisionModel, frozenEncoder: boolean): TrainParam[] {
  return visionWeightSpecs(vision.config)
    .filter((s) => !frozenEncoder || s.part === 'projector')
    .map((s) => trainParam(gpu, s.name, s.get(vision.weights), s.kind === 'matrix'));
}

/** Seed of micro-batch `micro` (0 caption, 1 text) of step `step`: LoRA dropout. */
const microSeed = (seed: number, step: number, micro: number) => (Math.imul(seed + 1, 0x85ebca6b) ^ Math.imul(step, 0xc2b2ae35) ^ micro) >>> 0;

/** Runs (or continues) a multimodal pretraining run; see the header. */
export async function trainMultimodal(s: MmTrainSetup): Promise<MmTrainResult> {
  const { gpu, decoder, vision, lora, tokenizer: tok, config: c } = s;
  checkMmConfig(c);
  if (vision.config.outHidden !== decoder.config.hidden) {
    throw new RangeError(`the projector outputs ${vision.config.outHidden} per image token, the decoder's hidden size is ${decoder.config.hidden}`);
  }
  if (vision.config.imageTokenId >= decoder.config.vocab) {
    throw new RangeError(`the vision config's image_token_id ${vision.config.imageTokenId} is outside the decoder's vocab ${decoder.config.vocab}`);
  }
  if (lora && !c.trainDecoder) throw new RangeError('a LoRA adapter was given but trainDecoder is false (nothing would train it)');
  let text: TokenWindows | undefined;
  let heldoutText: TokenWindows | undefined;
  if (c.textBatch > 0) {
    if (!s.textCorpus) throw new RangeError(`textBatch ${c.textBatch} needs a text corpus (give setup.textCorpus, or textBatch 0)`);
    if (c.seqLen > decoder.config.maxPositions) throw new RangeError(`seqLen ${c.seqLen} is over the decoder's max_position_embeddings ${decoder.config.maxPositions}`);
    text = new TokenWindows(s.textCorpus.train, c.seqLen, c.seed);
    if (text.count === 0) throw new RangeError(`the text corpus ${s.textCorpus.source} has no window of ${c.seqLen + 1} tokens`);
    heldoutText = new TokenWindows(s.textCorpus.heldout, c.seqLen);
  }
  const { mkdir, appendFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(s.outDir, { recursive: true });

  const eos = endOfTextId(tok);
  const pixels = new ScenePixels(vision.config);
  const trainScenes = s.world.scenes.filter((sc) => sc.split === 'train');
  const evalScenes = s.world.scenes.filter((sc) => sc.split === 'validation').slice(0, c.evalScenes > 0 ? c.evalScenes : undefined);
  const batches = new CaptionBatches(trainScenes, c.captionBatch, c.seed, c.summaryFraction);
  let longest = 0;
  for (const sc of [...trainScenes, ...evalScenes]) for (const t of sc.captions) longest = Math.max(longest, tok.encode(t).length);
  const { numPatches: P } = visionDims(vision.config);
  if (P + longest + 1 > decoder.config.maxPositions) {
    throw new RangeError(`a caption sequence is up to ${P + longest + 1} tokens (${P} image rows, ${longest} caption tokens, end of text), over the decoder's max_position_embeddings ${decoder.config.maxPositions}`);
  }
  if (c.summaryFraction > 0) {
    // the longest summary: the longest caption (or the image), the prompt, the longest word, end of text
    const prompt = tok.encode(applyPrompt(resolvePrompt('lco', 'text'), '')).length + Math.max(...SUMMARY_WORDS.map((w) => tok.encode(` ${w}`).length)) + 1;
    const most = Math.max(P, longest) + prompt;
    if (most > decoder.config.maxPositions) throw new RangeError(`a one-word summary sequence is up to ${most} tokens, over the decoder's max_position_embeddings ${decoder.config.maxPositions}`);
  }

  const state: TrainerState<MmTrainConfig> = s.resume ? { ...s.resume, config: c } : newState(c, s.baseModel ?? null);
  const decoderParams = !c.trainDecoder ? [] : lora ? loraParams(gpu, lora) : fullParams(gpu, decoder);
  const params = [...decoderParams, ...visionParams(gpu, vision, c.frozenEncoder)];
  const grads = gradMap(params);
  const schedule = { peak: c.lr, warmup: c.warmup, total: c.steps, kind: c.schedule, minRatio: c.minLrRatio };
  const save = { gpu, model: decoder, lora, vision, params, tokenizerJson: s.tokenizerJson };
  const logPath = join(s.outDir, 'train-log.jsonl');
  const out = s.progressOut === undefined ? process.stderr : s.progressOut;
  const progress = out === null ? null : new Progress({ totalSteps: c.steps, startStep: state.step, startTokens: state.tokens, out });
  const snapshots = new Set(c.snapshotAt);

  const evaluate = async (step: number) => {
    if (evalScenes.length === 0) return;
    const r = await evaluateCaptionLoss(gpu, decoder, vision, tok, evalScenes, { batch: c.captionBatch, pixels, eosId: eos, lora });
    let text: { loss: number; perplexity: number } | undefined;
    if (heldoutText && heldoutText.count > 0) {
      const t = await evaluateLm(gpu, decoder, heldoutText, c.evalWindows, c.textBatch, lora);
      text = { loss: t.loss, perplexity: t.perplexity };
    }
    state.evals.push({ step, loss: r.loss, perplexity: r.perplexity, ...(text ? { text } : {}) });
    await appendFile(logPath, JSON.stringify({
      step, eval_caption_loss: r.loss, eval_caption_perplexity: r.perplexity,
      ...(text ? { eval_text_loss: text.loss, eval_text_perplexity: text.perplexity } : {}),
    }) + '\n');
    out?.write(`eval at step ${step}: held-out caption loss ${r.loss.toFixed(4)} (perplexity ${r.perplexity.toFixed(2)}, ${r.sequences} captions)` +
      (text ? `; text loss ${text.loss.toFixed(4)} (perplexity ${text.perplexity.toFixed(2)})` : '') + '\n');
  };
  const curve = () => {
    const series: LossSeries[] = [{ name: 'train caption', points: state.history.map((h) => [h.step, h.captionLoss ?? h.loss]) }];
    if (c.textBatch > 0) series.push({ name: 'train text', points: state.history.map((h) => [h.step, h.textLoss ?? NaN]) });
    series.push({ name: 'held-out caption', points: state.evals.map((e) => [e.step, e.loss]) });
    if (state.evals.some((e) => e.text)) series.push({ name: 'held-out text', points: state.evals.map((e) => [e.step, e.text?.loss ?? NaN]) });
    const dec = lora ? ' + LoRA' : ' + decoder';
    const what = (c.frozenEncoder ? 'projector' : 'vision') + (c.trainDecoder ? dec : ' only');
    return writeLossCurve(join(s.outDir, 'loss-curve.svg'), series,
      { title: `multimodal pretraining (${what})`, xLabel: 'step', yLabel: 'cross-entropy (nats/token)' });
  };

  const ends: StepEnd = {
    outDir: s.outDir, save, state, total: c.steps, checkpointEvery: c.checkpointEvery, keepCheckpoints: c.keepCheckpoints,
    evalEvery: c.evalEvery, evaluate, curve, signal: s.signal,
  };
  let stopped = false;
  // stats [caption loss, text loss, grad norm]: the step's one read; the accumulators are reused
  const stats = gpu.empty([3], 'f32', 'step.stats');
  const capLoss = gpu.zeros([1], 'f32', 'step.caption.loss');
  const textLoss = gpu.zeros([1], 'f32', 'step.text.loss');
  try {
    await s.onParams?.(params);
    if (state.step === 0 && c.evalEvery > 0) await evaluate(0);
    zeroGrads(gpu, params);
    for (let step = state.step + 1; step <= c.steps; step++) {
      // every upload first, then one recorded step
      const seqs = pickSequences(tok, batches.at(step), pixels, eos);
      const cap = buildCaptionBatch(gpu, seqs, vision.config, decoder.config.vocab);
      let win: WindowBatch | undefined;
      try {
        if (text) {
          const { ids, targets } = text.batch(Array.from({ length: c.textBatch }, (_, b) => text!.windowAt((step - 1) * c.textBatch + b)));
          win = uploadWindows(gpu, ids, targets, c.textBatch, c.seqLen, decoder.config.vocab);
        }
        const capCount = cap.count;
        const textCount = win ? countTargets(win.targets) : 0;
        const count = capCount + textCount;
        captionStep(gpu, vision, decoder, grads, cap, { count, lossInto: capLoss, frozenEncoder: c.frozenEncoder, lora, dropoutSeed: microSeed(c.seed, step, 0) });
        if (win) accumulateMicroBatch(gpu, decoder, lora, grads, win, count, textLoss, microSeed(c.seed, step, 1));
        const lr = lrAt(schedule, step - 1); // the schedule counts updates from 0: step 1 is update 0
        const norm = optimizerStep(gpu, params, c, lr, step);
        const r = await readStats(gpu, stats, capLoss, textLoss, norm, params, step, s.outDir);
        const loss = r.caption + r.text;
        const captionLoss = (r.caption * count) / capCount;
        const textMean = textCount > 0 ? (r.text * count) / textCount : undefined;
        state.step = step;
        state.tokens += count;
        state.history.push({ step, loss, lr, gradNorm: r.gradNorm, captionLoss, ...(textMean !== undefined ? { textLoss: textMean } : {}) });
        await appendFile(logPath, JSON.stringify({
          step, loss, caption_loss: captionLoss, ...(textMean !== undefined ? { text_loss: textMean } : {}),
          lr, grad_norm: r.gradNorm, tokens: state.tokens,
        }) + '\n');
        progress?.update({ step, tokens: state.tokens, loss, lr }, step === c.steps);
      } finally {
        cap.release();
        win?.release();
      }
      stopped = await afterStep(ends, step);
      if (snapshots.has(step)) await saveSnapshot(s.outDir, save, state);
      if (stopped) break;
    }
    await afterRun(ends, stopped);
  } finally {
    for (const t of [stats, capLoss, textLoss]) t.release();
    releaseParams(params);
  }
  return { state, stopped, final: finalEval(state) };
}

/**
 * The end of a step: copies the two loss accumulators and the norm into
 * stats, zeroes the accumulators and the gradients for the next step (in the
 * same submit, so the next step's uploads flush nothing), reads stats back.
 * A non-finite loss throws, naming the step and the intact checkpoints.
 */
async function readStats(
  gpu: Gpu, stats: Tensor, capLoss: Tensor, textLoss: Tensor, norm: Tensor, params: readonly TrainParam[], step: number, outDir: string,
): Promise<{ caption: number; text: number; gradNorm: number }> {
  let values: ArrayLike<number>;
  try {
    gpu.copy(capLoss, stats, 1, 0, 0);
    gpu.copy(textLoss, stats, 1, 0, 1);
    gpu.copy(norm, stats, 1, 0, 2);
    gpu.fill(capLoss, 0);
    gpu.fill(textLoss, 0);
    zeroGrads(gpu, params);
    values = await gpu.read(stats);
  } finally {
    norm.release();
  }
  const [caption, text, gradNorm] = [values[0], values[1], values[2]];
  if (!Number.isFinite(caption + text)) {
    throw new Error(`training diverged at step ${step}: caption loss ${caption}, text loss ${text}, gradient norm ${gradNorm}; ` +
      `the last checkpoint in ${outDir} is intact (try a lower --lr)`);
  }
  return { caption, text, gradNorm };
}
