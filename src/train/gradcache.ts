// One contrastive step with GradCache (Gao et al. 2021; sentence-transformers'
// CachedMultipleNegativesRankingLoss): the loss of a big batch on the memory
// of a mini-batch, with exactly the big batch's gradient.
//
//   1. embed: for each mini-batch of anchors and of candidates, the training
//      forward (LoRA dropout seeded per mini-batch), pool, L2-normalise; keep
//      only the embeddings e [B, C] and [M, C], free the activations
//   2. loss over the whole batch (contrastive.ts) and its gradient with
//      respect to each embedding, dE
//   3. replay: each mini-batch again with the SAME dropout seed (so the same
//      masks and bit-identical embeddings), and back-propagate
//      dot(e_mb, dE_mb): l2norm', pool', decoderBackward into the LoRA grads.
//      The last mini-batch of step 1 keeps its activations and goes first,
//      without a replay: with one mini-batch per group that saves a third or
//      half of the forwards, and at most one mini-batch is live at a time.
//
// Because every kernel is deterministic, the replayed embeddings equal the
// cached ones exactly, and the gradient equals the one of a single forward
// over the whole batch (tested). Memory is that of one mini-batch's
// activations plus the [B + M, C] embeddings.
//
// Rows may carry images (image-rows.ts): the frozen vision encoder turns them
// into their placeholder rows' embeddings in both passes (it is deterministic,
// so the replay sees the same inputs); only the decoder side learns.
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { padLeftSequences, uploadSequences, type SequenceRow } from '../embed/image-rows.ts';
import type { VisionModel } from '../model/vision.ts';
import type { Pooling } from '../embed/embedder.ts';
import { decoderBackward, type GradMap } from '../model/backward.ts';
import type { Decoder } from '../model/decoder.ts';
import { decoderTrainForward } from '../model/forward.ts';
import type { DecoderLora } from '../model/lora.ts';
import {
  contrastiveLoss, contrastiveLossBackward, matryoshkaContrastiveLoss, matryoshkaContrastiveLossBackward,
} from '../ops/contrastive.ts';
import { l2norm, l2normBackward } from '../ops/l2norm.ts';
import { lastTokenPool, lastTokenPoolBackward, meanPool, meanPoolBackward } from '../ops/pooling.ts';

export interface ContrastiveBatch {
  /** B anchors, as token ids (prompt already applied), with their images if any. */
  anchors: SequenceRow[];
  /** M = B (1 + k) candidates: the B positives, then k blocks of B hard negatives. */
  candidates: SequenceRow[];
  /** MAMCL: the modality label of every candidate [M]; absent: no masking. */
  labels?: number[];
}

export interface ContrastiveLossSpec {
  temperature: number;
  symmetric: boolean;
  /** Nested prefix sizes (ascending, the last may be the full width) and their weights. */
  matryoshka?: { dims: number[]; weights?: number[] };
}

export interface GradCacheOptions {
  /** Sequences per forward: bounds the memory. */
  miniBatch: number;
  pooling: Pooling;
  /** Base of this step's dropout seeds. */
  seed: number;
  /** The frozen vision encoder, for rows with images. */
  vision?: VisionModel;
}

type Group = 'anchors' | 'candidates';

/** The dropout seed of one mini-batch: the same in the embed and replay passes. */
export function miniBatchSeed(seed: number, group: Group, index: number): number {
  return (Math.imul(seed >>> 0, 0x27d4eb2f) ^ (group === 'anchors' ? 0x165667b1 : 0x61c88647) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
}

/**
 * One mini-batch through the training forward and the pooling: returns the
 * normalised embeddings and, for the replay, a function that back-propagates
 * dE [b, C] into the grads and frees everything.
 */
function forwardMini(gpu: Gpu, model: Decoder, lora: DecoderLora | undefined, rows: SequenceRow[], pooling: Pooling, seed: number, vision?: VisionModel) {
  const padded = padLeftSequences(rows);
  const uploaded = uploadSequences(gpu, padded, vision);
  const { input } = uploaded;
  const acts = decoderTrainForward(gpu, model, input, { lora, dropoutSeed: seed });
  const lt = pooling === 'lasttoken' ? lastTokenPool(gpu, acts.final, input.mask) : null;
  const raw = lt ? lt.out : meanPool(gpu, acts.final, input.mask);
  const n = l2norm(gpu, raw);
  raw.release();
  const free = () => {
    for (const t of [n.y, n.norm]) t.release();
    uploaded.release();
    lt?.index.release();
  };
  return {
    e: n.y,
    /** Drops the activations (the embed pass). */
    discard() {
      acts.release();
      free();
    },
    /** Back-propagates dE [b, C] (the replay pass). */
    backward(dE: Tensor, grads: GradMap) {
      const dRaw = l2normBackward(gpu, n.y, n.norm, dE);
      const dFinal = lt ? lastTokenPoolBackward(gpu, lt.index, dRaw, padded.T) : meanPoolBackward(gpu, input.mask, dRaw);
      dRaw.release();
      // The vision encoder is frozen here: the gradient of the image rows (dImages, for rows with images) has no use.
      decoderBackward(gpu, model, acts, dFinal, grads).dImages?.release();
      dFinal.release();
      free();
    },
  };
}

/**
 * Records one GradCache step: the loss (f32 [1], mean over the batch) is
 * returned and the LoRA (or full) gradients are ADDED into `grads`.
 */
export function gradCacheStep(
  gpu: Gpu, model: Decoder, lora: DecoderLora | undefined, grads: GradMap,
  batch: ContrastiveBatch, spec: ContrastiveLossSpec, opts: GradCacheOptions,
): Tensor {
  const B = batch.anchors.length;
  const M = batch.candidates.length;
  const C = model.config.hidden;
  if (B === 0 || M % B !== 0 || M < B) throw new RangeError(`gradCacheStep: ${B} anchors need B (1 + k) candidates, got ${M}`);
  if (!Number.isInteger(opts.miniBatch) || opts.miniBatch < 1) throw new RangeError(`gradCacheStep: miniBatch ${opts.miniBatch} must be a positive integer`);
  const groups: [Group, SequenceRow[], Tensor][] = [
    ['anchors', batch.anchors, gpu.empty([B, C], 'f32', 'gradcache.anchors')],
    ['candidates', batch.candidates, gpu.empty([M, C], 'f32', 'gradcache.candidates')],
  ];
  const each = (fn: (group: Group, rows: SequenceRow[], r0: number, index: number, all: Tensor) => void) => {
    for (const [group, rows, all] of groups) {
      for (let r0 = 0, i = 0; r0 < rows.length; r0 += opts.miniBatch, i++) fn(group, rows.slice(r0, r0 + opts.miniBatch), r0, i, all);
    }
  };

  // 1. embed every mini-batch; keep only the embeddings, except the last
  //    mini-batch's activations: its replay would recompute exactly them, so
  //    it back-propagates first in step 3 from what it has (one forward less
  //    per step; still one mini-batch of activations live at a time).
  type Kept = { mb: ReturnType<typeof forwardMini>; group: Group; rows: number; r0: number };
  let kept: Kept | null = null;
  each((group, rows, r0, i, all) => {
    kept?.mb.discard(); // the previous mini-batch was not the last: drop its activations first
    const mb = forwardMini(gpu, model, lora, rows, opts.pooling, miniBatchSeed(opts.seed, group, i), opts.vision);
    gpu.copy(mb.e, all, rows.length * C, 0, r0 * C);
    kept = { mb, group, rows: rows.length, r0 };
  });

  // 2. the whole batch's loss and dE
  const [a, c] = [groups[0][2], groups[1][2]];
  const common = { temperature: spec.temperature, symmetric: spec.symmetric, labels: batch.labels };
  let loss: Tensor;
  let dA: Tensor;
  let dC: Tensor;
  if (spec.matryoshka) {
    const f = matryoshkaContrastiveLoss(gpu, a, c, { ...common, dims: spec.matryoshka.dims, weights: spec.matryoshka.weights });
    ({ dA, dC } = matryoshkaContrastiveLossBackward(gpu, a, c, f));
    loss = gpu.empty([1], 'f32', 'gradcache.loss');
    gpu.copy(f.loss, loss);
    f.release();
  } else {
    const f = contrastiveLoss(gpu, a, c, common);
    ({ dA, dC } = contrastiveLossBackward(gpu, a, c, f));
    loss = f.loss;
    for (const t of [f.losses, f.lse, f.logits]) t.release();
    f.labels?.release(); // uploaded from batch.labels by the loss
  }
  const dE: Record<Group, Tensor> = { anchors: dA, candidates: dC };

  // 3. back-propagate each mini-batch's slice of dE: the kept last one first,
  //    then every other one replayed with its seed
  const backward = (mb: ReturnType<typeof forwardMini>, group: Group, n: number, r0: number) => {
    const slice = gpu.empty([n, C], 'f32', 'gradcache.dE');
    gpu.copy(dE[group], slice, n * C, r0 * C, 0);
    mb.backward(slice, grads);
    slice.release();
  };
  const last = kept as Kept | null; // assigned inside the callback, which TypeScript does not follow
  if (last) backward(last.mb, last.group, last.rows, last.r0);
  each((group, rows, r0, i) => {
    if (group === last?.group && r0 === last.r0) return; // the kept one, done above
    backward(forwardMini(gpu, model, lora, rows, opts.pooling, miniBatchSeed(opts.seed, group, i), opts.vision), group, rows.length, r0);
  });
  for (const t of [a, c, dA, dC]) t.release();
  return loss;
}
