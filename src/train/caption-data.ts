// Captioning data for generative multimodal pretraining on the shapes world
// (src/data/shapes-world.ts): sequences, their targets, the order of the
// (scene, caption) pairs a run visits, batches on the GPU, and the held-out
// caption loss.
//
// A sequence is the image, then its caption, then end-of-text:
//
//   text "<image>" + caption  ->  ids [img x P, c_1 .. c_n, eos]      (length L = P + n + 1)
//   targets[t] = ids[t + 1] for t = P - 1 .. L - 2, -100 elsewhere
//
// so the last image row predicts the first caption word, and the caption and
// the end-of-text are scored (n + 1 targets); the image rows themselves and
// the last position (nothing follows it) are not. Batches are left-padded
// (padLeftSequences) and the targets move with their row; padding is -100.
//
// Order (CaptionBatches): the k-th draw of a run (k = 0, 1, ...) is scene
// perm_e[k mod n] of epoch e = floor(k / n), perm_e a permutation drawn from
// (seed, e), with caption (offset_scene + e) mod captions, offset_scene drawn
// from the seed once. Step s (1-based) takes draws (s - 1) B .. s B - 1. So
// every epoch shows each scene once, every `captions` epochs show each
// (scene, caption) pair exactly once, and the batch of a step is a function
// of (seed, step) alone: a resumed run sees what the uninterrupted one would.
//
// One-word summaries (summaryFraction > 0): a share of the draws become
// LCO-Emb's embedding prompt followed by one word that is true of the scene
// (the shape or colour of one of its objects, or its object count), scored
// on that word and the end-of-text only:
//
//   image  "<image>\nSummarize the above image in one word:" + " " + word + eos
//   text   caption + "\nSummarize the above text in one word:" + " " + word + eos
//
// The word is drawn afresh for every draw, so the best prediction at the
// prompt's last token is the distribution over all the scene's true words:
// the token must carry the whole content, for the image and for its caption
// alike. This is the ability a real MLLM brings to LCO-Emb from its
// instruction tuning (the prompt asks for it); the mini model learns it here.
// Half the summaries are of images, half of captions (a batch of text
// summaries only has no image: captionStep then skips the vision side).
//
// Held-out loss (evaluateCaptionLoss): the mean next-token loss, in nats per
// scored token, over every (scene, caption) pair of the given scenes (first
// `captionsPerScene` captions each), with the inference passes (vision
// encoder, then decoder); perplexity = exp(loss).
import { rng } from '../doctor/compare.ts';
import { COUNT_WORDS, renderScene, seedOf, type Scene } from '../data/shapes-world.ts';
import { applyPrompt, resolvePrompt } from '../embed/prompt.ts';
import { endOfTextId } from '../data/lm-corpus.ts';
import { IMAGE_PLACEHOLDER, imagePixels, padLeftSequences, tokenizeWithImages, uploadSequences, type ImageRow } from '../embed/image-rows.ts';
import { uploadRows } from '../embed/batch.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Tokenizer } from '../io/tokenizer.ts';
import type { Decoder } from '../model/decoder.ts';
import { decoderForward } from '../model/forward.ts';
import type { DecoderLora } from '../model/lora.ts';
import { shuffleInPlace } from '../model/sample.ts';
import { visionDims, type VisionConfig, type VisionModel } from '../model/vision.ts';
import { groupIds } from '../ops/embedding.ts';
import type { CaptionBatch } from './caption-step.ts';
import { countTargets, IGNORE_INDEX, lmHeadLoss } from './lm-loss.ts';

export class CaptionDataError extends Error {
  override name = 'CaptionDataError';
}

/** One captioning sequence: its ids and image (an ImageRow) and its next-token targets (same length). */
export interface CaptionSequence {
  row: ImageRow;
  targets: Int32Array;
}

/** "<image>" + caption, then eos; targets as in the header. `pixels`: the image, normalised [S, S, 3]. */
export function captionSequence(tok: Tokenizer, pixels: Float32Array, caption: string, cfg: VisionConfig, eosId: number): CaptionSequence {
  const row = tokenizeWithImages(tok, IMAGE_PLACEHOLDER + caption, [pixels], cfg, `caption "${caption}"`);
  row.ids.push(eosId);
  const L = row.ids.length;
  const firstScored = row.images[0].offset + visionDims(cfg).numPatches - 1; // the image's last row
  const targets = new Int32Array(L).fill(IGNORE_INDEX);
  for (let t = firstScored; t < L - 1; t++) targets[t] = row.ids[t + 1];
  return { row, targets };
}

/** A scene with its true captions (a WorldScene is one). */
export type CaptionedScene = Scene & { captions: readonly string[] };

/** A draw of the run: a scene and which of its captions; or a one-word summary of its image or of that caption. */
export interface CaptionPick {
  scene: CaptionedScene;
  caption: number;
  /** Default 'caption'. */
  kind?: 'caption' | 'image-summary' | 'text-summary';
  /** The summary's word (summaries only). */
  word?: string;
}

/** The one-word answers that are true of a scene: its objects' shapes and colours, and its object count. */
export function summaryWords(scene: Scene): string[] {
  const words = new Set<string>();
  for (const o of scene.objects) (words.add(o.shape), words.add(o.colour));
  words.add(COUNT_WORDS[scene.objects.length]);
  return [...words];
}

/** A one-word summary sequence (see the header); scored on the word's tokens and the end-of-text. */
export function summarySequence(
  tok: Tokenizer, kind: 'image-summary' | 'text-summary', pixels: Float32Array, caption: string, word: string, cfg: VisionConfig, eosId: number,
): CaptionSequence {
  const prompt = kind === 'image-summary'
    ? applyPrompt(resolvePrompt('lco', 'image'), '')
    : applyPrompt(resolvePrompt('lco', 'text'), caption);
  const row = tokenizeWithImages(tok, prompt, kind === 'image-summary' ? [pixels] : [], cfg, `summary of "${caption}"`);
  const first = row.ids.length - 1; // the prompt's last token predicts the word
  row.ids.push(...tok.encode(` ${word}`), eosId);
  const targets = new Int32Array(row.ids.length).fill(IGNORE_INDEX);
  for (let t = first; t < row.ids.length - 1; t++) targets[t] = row.ids[t + 1];
  return { row, targets };
}

/** The (scene, caption) pairs of every step, drawn lazily from (seed, step); see the header. */
export class CaptionBatches {
  readonly #offsets: Uint32Array;
  #epoch = -1;
  #perm: Uint32Array = new Uint32Array(0);

  /** `summaryFraction`: the share of draws that are one-word summaries (see the header). */
  constructor(readonly scenes: readonly CaptionedScene[], readonly size: number, readonly seed: number, readonly summaryFraction = 0) {
    if (!(summaryFraction >= 0 && summaryFraction < 1)) throw new CaptionDataError(`CaptionBatches: summaryFraction ${summaryFraction} must be in [0, 1)`);
    if (!Number.isInteger(size) || size < 1) throw new CaptionDataError(`CaptionBatches: batch size ${size} must be a positive integer`);
    if (scenes.length === 0) throw new CaptionDataError('CaptionBatches: no training scenes');
    scenes.forEach((s, i) => {
      if (s.captions.length === 0) throw new CaptionDataError(`CaptionBatches: scene ${i} (${s.id}) has no caption`);
    });
    const r = rng(seedOf(seed, 0xca97, 0));
    this.#offsets = Uint32Array.from(scenes, (s) => Math.floor(r() * s.captions.length));
  }

  /** Steps per epoch (one epoch shows every scene once). */
  get stepsPerEpoch(): number {
    return this.scenes.length / this.size;
  }

  /** The k-th draw of the run (k = 0, 1, ...). */
  draw(k: number): CaptionPick {
    const n = this.scenes.length;
    const epoch = Math.floor(k / n);
    if (epoch !== this.#epoch) {
      this.#perm = shuffleInPlace(Uint32Array.from({ length: n }, (_, i) => i), rng(seedOf(this.seed, 0xca97, epoch + 1)));
      this.#epoch = epoch;
    }
    const i = this.#perm[k % n];
    const scene = this.scenes[i];
    const caption = (this.#offsets[i] + epoch) % scene.captions.length;
    if (this.summaryFraction === 0) return { scene, caption };
    const r = rng(seedOf(this.seed, 0x5a3, k));
    const u = r();
    if (u >= this.summaryFraction) return { scene, caption, kind: 'caption' };
    const words = summaryWords(scene);
    return { scene, caption, kind: u < this.summaryFraction / 2 ? 'image-summary' : 'text-summary', word: words[Math.floor(r() * words.length)] };
  }

  /** The picks of step `step` (1-based). */
  at(step: number): CaptionPick[] {
    if (!Number.isInteger(step) || step < 1) throw new CaptionDataError(`CaptionBatches: step ${step} must be a positive integer`);
    return Array.from({ length: this.size }, (_, b) => this.draw((step - 1) * this.size + b));
  }
}

/**
 * Each scene rendered once (at the config's image size) and kept as RGB
 * bytes (S*S*3 per scene, a quarter of the floats); `get` normalises a copy.
 */
export class ScenePixels {
  readonly #bytes = new Map<string, Uint8Array>();

  constructor(readonly config: VisionConfig) {
    if (config.channels !== 3) throw new CaptionDataError(`ScenePixels: the shapes world is RGB, the vision config has ${config.channels} channels`);
  }

  /** Normalised pixels [S, S, 3] of a scene. */
  get(scene: Scene): Float32Array {
    const S = this.config.imageSize;
    let data = this.#bytes.get(scene.id);
    if (!data) {
      data = renderScene(scene, S);
      this.#bytes.set(scene.id, data);
    }
    return imagePixels({ width: S, height: S, data }, this.config);
  }

  get size(): number {
    return this.#bytes.size;
  }
}

/** The sequences of some picks. */
export function pickSequences(tok: Tokenizer, picks: readonly CaptionPick[], pixels: ScenePixels, eosId: number): CaptionSequence[] {
  return picks.map(({ scene, caption, kind, word }) => {
    const text = scene.captions[caption];
    if (text === undefined) throw new CaptionDataError(`scene ${scene.id} has no caption ${caption} (it has ${scene.captions.length})`);
    if (kind === 'image-summary' || kind === 'text-summary') {
      if (!word) throw new CaptionDataError(`a ${kind} of scene ${scene.id} needs its word`);
      return summarySequence(tok, kind, pixels.get(scene), text, word, pixels.config, eosId);
    }
    return captionSequence(tok, pixels.get(scene), text, pixels.config, eosId);
  });
}

/** Left-pads sequences; returns the padded batch and the targets [B*T] aligned with it. */
function padCaptions(seqs: readonly CaptionSequence[]) {
  if (seqs.length === 0) throw new CaptionDataError('a caption batch needs at least one sequence');
  const padded = padLeftSequences(seqs.map((s) => s.row));
  const { B, T } = padded;
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  seqs.forEach((s, b) => targets.set(s.targets, b * T + T - s.targets.length));
  return { padded, targets };
}

/** A caption batch uploaded for captionStep, with its scored-target count. */
export interface UploadedCaptionBatch extends CaptionBatch {
  /** Scored targets of the batch. */
  count: number;
  /** Frees everything uploaded here. */
  release(): void;
}

/**
 * Uploads sequences as captionStep's batch: pixels [nImg, S, S, 3], ids,
 * mask, positions, the ids' groups for the embedding backward, and the
 * targets. Everything is uploaded here, before the step records anything
 * (an upload submits the work recorded before it).
 */
export function buildCaptionBatch(gpu: Gpu, seqs: readonly CaptionSequence[], cfg: VisionConfig, vocab: number): UploadedCaptionBatch {
  const { padded, targets } = padCaptions(seqs);
  const { imageSize: S, channels: Ch } = cfg;
  const made: { release(): void }[] = [];
  try {
    const input = uploadRows(gpu, padded);
    made.push(input.ids, input.mask, input.pos);
    const idGroups = groupIds(gpu, padded.ids, vocab, 'buildCaptionBatch');
    made.push(idGroups);
    const targetsTensor = gpu.tensor(targets, [targets.length], 'i32', 'caption.targets');
    made.push(targetsTensor);
    const pixels = padded.at.length > 0 ? gpu.tensor(padded.pixels, [padded.at.length, S, S, Ch], 'f32', 'caption.pixels') : null;
    if (pixels) made.push(pixels);
    return {
      pixels, input: { ...input, idGroups }, at: padded.at, targets, targetsTensor, count: countTargets(targets),
      release: () => made.forEach((t) => t.release()),
    };
  } catch (err) {
    made.forEach((t) => t.release());
    throw err;
  }
}

export interface CaptionEvalOptions {
  /** Sequences per forward. */
  batch: number;
  /** Captions per scene, the first ones (default: all). */
  captionsPerScene?: number;
  lora?: DecoderLora;
  /** A render cache to share (default: a new one). */
  pixels?: ScenePixels;
  /** Default: the tokenizer's end-of-text id (endOfTextId). */
  eosId?: number;
}

/** Mean caption loss (nats per scored token) over the scenes' captions; see the header. Releases all it makes. */
export async function evaluateCaptionLoss(
  gpu: Gpu, decoder: Decoder, vision: VisionModel, tok: Tokenizer, scenes: readonly CaptionedScene[],
  opts: CaptionEvalOptions,
): Promise<{ loss: number; perplexity: number; tokens: number; sequences: number }> {
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new CaptionDataError(`evaluateCaptionLoss: batch ${opts.batch} must be a positive integer`);
  const per = opts.captionsPerScene;
  if (per !== undefined && (!Number.isInteger(per) || per < 1)) throw new CaptionDataError(`evaluateCaptionLoss: captionsPerScene ${per} must be a positive integer`);
  const pixels = opts.pixels ?? new ScenePixels(vision.config);
  const eos = opts.eosId ?? endOfTextId(tok);
  const picks: CaptionPick[] = [];
  for (const scene of scenes) {
    const n = Math.min(per ?? Infinity, scene.captions.length);
    for (let c = 0; c < n; c++) picks.push({ scene, caption: c });
  }
  if (picks.length === 0) throw new CaptionDataError('evaluateCaptionLoss: no caption to score');
  const seqs = pickSequences(tok, picks, pixels, eos);
  const total = seqs.reduce((n, s) => n + countTargets(s.targets), 0);
  const acc = gpu.zeros([1], 'f32', 'eval.caption.loss');
  try {
    for (let i = 0; i < seqs.length; i += opts.batch) {
      const { padded, targets } = padCaptions(seqs.slice(i, i + opts.batch));
      const held: Tensor[] = [];
      let upload: { release(): void } | undefined;
      try {
        const targetsTensor = gpu.tensor(targets, [targets.length], 'i32', 'eval.caption.targets');
        held.push(targetsTensor);
        const up = uploadSequences(gpu, padded, vision);
        upload = up;
        const { last } = decoderForward(gpu, decoder, up.input, { lora: opts.lora });
        held.push(last);
        lmHeadLoss(gpu, last, decoder.weights.lmHead, targets, { count: total, lossInto: acc, backward: false, targetsTensor });
      } finally {
        held.forEach((t) => t.release());
        upload?.release();
      }
      await gpu.sync(); // bound the recorded work per batch
    }
    const [loss] = await gpu.read(acc);
    return { loss, perplexity: Math.exp(loss), tokens: total, sequences: seqs.length };
  } finally {
    acc.release();
  }
}
