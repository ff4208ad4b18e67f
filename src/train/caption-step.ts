// One generative step of the multimodal LM (LLaVA-style captioning): images
// through the vision encoder and projector become P token embeddings each,
// placed over their placeholder rows in the decoder's input; the decoder's
// next-token loss on the caption trains the projector (and the encoder and
// the decoder, when their weights are in `grads`):
//
//   e [nImg, P, C]  = vision(pixels [nImg, S, S, 3])         (visionTrainForward)
//   loss            = CE(decoder(ids; images e at rows `at`)) (decoderTrainForward, lmHeadLoss)
//   dE              = decoderBackward(...).dImages            (the images' gradient)
//   grads          += visionBackward(dE)
//
// Everything adds into `grads` (zero it before a step), as the text trainer
// does, so caption batches and text batches accumulate into one step.
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { decoderBackward, type GradMap } from '../model/backward.ts';
import type { Decoder } from '../model/decoder.ts';
import { decoderTrainForward, type TrainInput } from '../model/forward.ts';
import type { DecoderLora } from '../model/lora.ts';
import { visionBackward, visionTrainForward, type VisionModel } from '../model/vision.ts';
import { visionDims } from '../model/vision.ts';
import { lmHeadLoss } from './lm-loss.ts';

export interface CaptionBatch {
  /** Normalised images [nImg, S, S, 3]; null when no row has an image (text-only rows: the vision side gets nothing). */
  pixels: Tensor | null;
  /** The text side: ids with a placeholder token on every image row, mask, positions. */
  input: Omit<TrainInput, 'images'>;
  /** First row (b * T + t) of each image's P placeholder rows. */
  at: number[];
  /** Next-token targets [B*T], -100 where not scored (image rows, padding). */
  targets: Int32Array;
  /**
   * `targets` already on the GPU (i32 [B*T]), uploaded with the batch so the
   * step records no upload midway (an upload submits the work before it).
   */
  targetsTensor?: Tensor<'i32'>;
}

export interface CaptionStepOptions {
  /** Divide the loss by this (the scored targets of the whole step). */
  count: number;
  /** Add the loss (sum / count) here. */
  lossInto: Tensor;
  lora?: DecoderLora;
  dropoutSeed?: number;
  /** Keep the encoder's weights fixed (train the projector and the decoder side only). */
  frozenEncoder?: boolean;
}

/** Records one captioning micro-batch: loss into opts.lossInto, gradients into grads. */
export function captionStep(gpu: Gpu, vision: VisionModel, decoder: Decoder, grads: GradMap, batch: CaptionBatch, opts: CaptionStepOptions): void {
  const { numPatches: P } = visionDims(vision.config);
  if (vision.config.outHidden !== decoder.config.hidden) {
    throw new RangeError(`captionStep: the projector's output width ${vision.config.outHidden} differs from the decoder's hidden size ${decoder.config.hidden}`);
  }
  if ((batch.pixels === null) !== (batch.at.length === 0)) {
    throw new RangeError(`captionStep: ${batch.at.length} image slot(s) but ${batch.pixels ? 'a' : 'no'} pixel tensor`);
  }
  const vis = batch.pixels && visionTrainForward(gpu, vision, batch.pixels, { frozenEncoder: opts.frozenEncoder });
  const images = vis ? { P, at: batch.at, embeds: vis.y } : undefined;
  const acts = decoderTrainForward(gpu, decoder, { ...batch.input, images }, { lora: opts.lora, dropoutSeed: opts.dropoutSeed });
  const head = decoder.weights.lmHead;
  const { dFinal } = lmHeadLoss(gpu, acts.final, head, batch.targets, { count: opts.count, lossInto: opts.lossInto, dHead: grads.get(head), targetsTensor: batch.targetsTensor });
  const { dImages } = decoderBackward(gpu, decoder, acts, dFinal!, grads);
  dFinal!.release();
  if (vis) {
    visionBackward(gpu, vision, vis.acts, dImages!, grads);
    dImages!.release();
    vis.y.release();
  }
}
