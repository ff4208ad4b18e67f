// Images in the decoder's input (LLaVA style): each image's P embeddings
// replace the lookup at its placeholder rows. The GPU forward, loss and
// backward against the float64 reference with the same images: every weight
// gradient, and the images' own gradient (what flows back to the vision
// projector), on the tiny llama and qwen2 with a left-padded batch. The
// placeholder rows add nothing to the embedding table's gradient.
import { describe, expect, it } from 'vitest';
import { decoderBackward as refBackward, decoderLoss as refLoss } from '../reference/decoder.ts';
import { decoderBackward } from '../src/model/backward.ts';
import { decoderFromData, releaseDecoder } from '../src/model/decoder.ts';
import { decoderTrainForward } from '../src/model/forward.ts';
import { countTargets, lmHeadLoss } from '../src/train/lm-loss.ts';
import { fullParams, gradMap, releaseParams } from '../src/train/optimizer.ts';
import { expectClose, maxAbs, randomData, useGpu } from './helpers.ts';
import { B, LLAMA, QWEN2, T, lookup, makeBatch, makeWeights } from './tiny-decoder.ts';

const gpu = useGpu();
const P = 2;
// row 0: image at t = 1..2; row 1 (2 padding tokens on the left): image at t = 2..3
const AT = [1, T + 2];

describe('decoder with image embeddings in its input', () => {
  for (const [name, cfg] of [['llama', LLAMA], ['qwen2', QWEN2]] as const) {
    it(`${name}: loss, every weight gradient and the images' gradient match the float64 reference`, async () => {
      const g = await gpu();
      const W = makeWeights(cfg, 500);
      const { input: ri, targets } = makeBatch(cfg, 501);
      const embeds = randomData(AT.length * P * cfg.hidden, 502, 0.05, 1);
      const ref = refBackward(cfg, lookup(W), { ...ri, images: { P, at: AT, embeds } }, targets);
      expect(ref.dImages).toBeDefined();

      const model = await decoderFromData(g, cfg, async ({ name: n }) => Float32Array.from(lookup(W)(n)));
      const t = (a: ArrayLike<number>) => g.tensor(a, [B, T], 'i32');
      const images = { P, at: AT, embeds: g.tensor(embeds, [AT.length, P, cfg.hidden]) };
      const input = { B, T, ids: t(ri.ids), mask: t(ri.mask), pos: t(ri.pos), idsData: Int32Array.from(ri.ids), images };
      const params = fullParams(g, model);
      const grads = gradMap(params);
      const acts = decoderTrainForward(g, model, input);
      const { loss, dFinal } = lmHeadLoss(g, acts.final, model.weights.lmHead, targets, { count: countTargets(targets), dHead: grads.get(model.weights.lmHead) });
      const { dImages } = decoderBackward(g, model, acts, dFinal!, grads);
      expect(Math.abs((await loss.read())[0] - ref.loss)).toBeLessThan(1e-5 * ref.loss);
      for (const p of params) {
        const e = ref.grads.get(p.name)!;
        expectClose(p.name, await p.grad.read(), e, { rtol: 1e-4 }, new Float64Array(e.length).fill(maxAbs(e)));
      }
      const dI = ref.dImages!;
      expect(maxAbs(dI)).toBeGreaterThan(1e-4);
      expectClose('dImages', await dImages!.read(), dI, { rtol: 1e-4 }, new Float64Array(dI.length).fill(maxAbs(dI)));
      for (const x of [loss, dFinal!, dImages!, input.ids, input.mask, input.pos, images.embeds]) x.release();
      releaseParams(params);
      releaseDecoder(model);
    });
  }

  it('the reference images gradient agrees with central differences of its loss', () => {
    const W = makeWeights(LLAMA, 520);
    const { input: ri, targets } = makeBatch(LLAMA, 521);
    const embeds = Float64Array.from(randomData(AT.length * P * LLAMA.hidden, 522, 0.05, 1));
    const input = { ...ri, images: { P, at: AT, embeds } };
    const { dImages } = refBackward(LLAMA, lookup(W), input, targets);
    const scale = maxAbs(dImages!);
    for (let i = 0; i < embeds.length; i += 3) {
      const keep = embeds[i];
      embeds[i] = keep + 1e-6;
      const up = refLoss(LLAMA, lookup(W), input, targets);
      embeds[i] = keep - 1e-6;
      const down = refLoss(LLAMA, lookup(W), input, targets);
      embeds[i] = keep;
      expect(Math.abs(dImages![i] - (up - down) / 2e-6), `dImages[${i}]`).toBeLessThan(1e-6 * scale + 1e-9);
    }
  });

  it('refuses images that leave their sequence or overlap, naming the image', async () => {
    const g = await gpu();
    const W = makeWeights(LLAMA, 510);
    const { input: ri } = makeBatch(LLAMA, 511);
    const model = await decoderFromData(g, LLAMA, async ({ name: n }) => Float32Array.from(lookup(W)(n)));
    const t = (a: ArrayLike<number>) => g.tensor(a, [B, T], 'i32');
    const embeds = g.tensor(randomData(2 * P * LLAMA.hidden, 512), [2, P, LLAMA.hidden]);
    const base = { B, T, ids: t(ri.ids), mask: t(ri.mask), pos: t(ri.pos), idsData: Int32Array.from(ri.ids) };
    expect(() => decoderTrainForward(g, model, { ...base, images: { P, at: [T - 1, 0], embeds } })).toThrow(/image 0 at row 4 \(P 2\) must lie inside one sequence/);
    expect(() => decoderTrainForward(g, model, { ...base, images: { P, at: [0, 1], embeds } })).toThrow(/image 1 overlaps an earlier image at row 1/);
    releaseDecoder(model);
  });
});
