// One captioning step of the mini multimodal LM (vision encoder + projector ->
// image rows of the decoder's input -> next-token loss) against the composed
// float64 references: reference/vision.ts gives the image embeddings, the
// decoder reference with those images gives the loss, every decoder gradient
// and the images' gradient, and the vision reference back-propagates that into
// every encoder and projector weight. Also: a frozen encoder gets nothing.
import { describe, expect, it } from 'vitest';
import { decoderBackward as refDecoderBackward } from '../reference/decoder.ts';
import { visionBackward as refVisionBackward, visionForward as refVisionForward } from '../reference/vision.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { decoderFromData, releaseDecoder } from '../src/model/decoder.ts';
import { releaseVision, visionFromData, visionWeightSpecs } from '../src/model/vision.ts';
import { captionStep } from '../src/train/caption-step.ts';
import { countTargets } from '../src/train/lm-loss.ts';
import { fullParams, gradMap, releaseParams } from '../src/train/optimizer.ts';
import { expectClose, maxAbs, useGpu } from './helpers.ts';
import { LLAMA, lookup, makeWeights } from './tiny-decoder.ts';
import { makePixels, makeVisionWeights, tinyVisionConfig } from './tiny-vision.ts';

const gpu = useGpu();
// 8x8 images in patches of 4: P = 4 image tokens of the decoder's width 8
const VISION = tinyVisionConfig({ out_hidden_size: LLAMA.hidden });
// one sequence of 8: a token, the image's 4 rows (t = 1..4), then 3 caption tokens;
// scored: the first caption token from the image's last row, and the next two
const B = 1, T = 8;
const AT = [1];
const IDS = [3, 1, 1, 1, 1, 7, 2, 9];
const TARGETS = Int32Array.from([-100, -100, -100, -100, 7, 2, 9, -100]);

describe('captioning step (vision + projector + decoder)', () => {
  it('loss and every decoder, encoder and projector gradient match the composed float64 references', async () => {
    const g = await gpu();
    const WD = makeWeights(LLAMA, 600);
    const WV = makeVisionWeights(VISION, 601);
    const ri = { B, T, ids: IDS, mask: new Array(T).fill(1), pos: IDS.map((_, i) => i) };
    const targets = TARGETS;
    const pixels = makePixels(VISION, AT.length, 603);

    // reference: vision -> embeds -> decoder (loss, grads, dImages) -> vision grads
    const embeds = refVisionForward(VISION, lookup(WV), pixels, AT.length);
    const dec = refDecoderBackward(LLAMA, lookup(WD), { ...ri, images: { P: 4, at: AT, embeds } }, targets);
    const vis = refVisionBackward(VISION, lookup(WV), pixels, AT.length, dec.dImages!);

    const decoder = await decoderFromData(g, LLAMA, async ({ name }) => Float32Array.from(lookup(WD)(name)));
    const vision = await visionFromData(g, VISION, async ({ name }) => Float32Array.from(lookup(WV)(name)));
    const dParams = fullParams(g, decoder);
    const vParams = visionWeightSpecs(VISION).map((s) => ({ name: s.name, value: s.get(vision.weights), grad: g.zeros(s.shape) }));
    const grads = gradMap(dParams);
    for (const p of vParams) grads.set(p.value, p.grad);
    const t = (a: ArrayLike<number>) => g.tensor(a, [B, T], 'i32');
    const input = { B, T, ids: t(ri.ids), mask: t(ri.mask), pos: t(ri.pos), idsData: Int32Array.from(ri.ids) };
    const px = g.tensor(pixels, [AT.length, VISION.imageSize, VISION.imageSize, 3]);
    const loss = g.zeros([1]);
    captionStep(g, vision, decoder, grads, { pixels: px, input, at: AT, targets }, { count: countTargets(targets), lossInto: loss });

    expect(Math.abs((await loss.read())[0] - dec.loss)).toBeLessThan(1e-5 * dec.loss);
    const check = async (name: string, got: Tensor, want: Float64Array) => {
      expect(maxAbs(want), `${name} reaches the loss`).toBeGreaterThan(1e-7);
      expectClose(name, await got.read(), want, { rtol: 1e-4 }, new Float64Array(want.length).fill(maxAbs(want)));
    };
    for (const p of dParams) await check(p.name, p.grad, dec.grads.get(p.name)!);
    for (const p of vParams) await check(p.name, p.grad, vis.grads.get(p.name)!);

    // a frozen encoder: only the projector (and the decoder) learn
    const frozen = visionWeightSpecs(VISION).filter((s) => s.part === 'projector').map((s) => ({ name: s.name, value: s.get(vision.weights), grad: g.zeros(s.shape) }));
    const fgrads = new Map(frozen.map((p) => [p.value, p.grad]));
    captionStep(g, vision, decoder, fgrads, { pixels: px, input, at: AT, targets }, { count: countTargets(targets), lossInto: g.zeros([1]), frozenEncoder: true });
    for (const p of frozen) await check(`${p.name} (frozen encoder)`, p.grad, vis.grads.get(p.name)!);

    for (const x of [loss, px, input.ids, input.mask, input.pos, ...vParams.map((p) => p.grad), ...frozen.map((p) => p.grad)]) x.release();
    releaseParams(dParams);
    releaseVision(vision);
    releaseDecoder(decoder);
  });
});
