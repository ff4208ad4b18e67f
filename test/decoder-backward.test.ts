// The GPU decoder's training forward + LM-head loss + explicit backward
// against the float64 reference model's decoderBackward (itself checked by
// central differences in decoder-reference-grad.test.ts), on the tiny random
// llama (untied, every bias) and qwen2 (tied, H*D != C) with a left-padded
// batch and ignored targets:
//   - full training: the gradient of every weight and bias;
//   - LoRA training: dA and dB of every adapter, with dropout on some, and no
//     gradient anywhere else;
//   - the LM head in several row chunks gives the same as one chunk.
// Tolerance: float32 rounding through two layers, the attention and the head
// grows with the gradient's size; each tensor is compared to 1e-4 of its
// largest entry (the float32 errors measured here stay below 3e-6 of it).
import { describe, expect, it } from 'vitest';
import { LORA_TARGETS, decoderBackward as refBackward, modulePath, type LoraTarget } from '../reference/decoder.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { decoderBackward } from '../src/model/backward.ts';
import type { DecoderConfig } from '../src/model/config.ts';
import { decoderFromData, releaseDecoder, type Decoder } from '../src/model/decoder.ts';
import { decoderTrainForward, linearDropoutSeed } from '../src/model/forward.ts';
import { loraScale } from '../src/ops/lora.ts';
import type { DecoderLora, LoraModule } from '../src/model/lora.ts';
import { countTargets, lmHeadLoss } from '../src/train/lm-loss.ts';
import { fullParams, gradMap, loraParams, releaseParams, type TrainParam } from '../src/train/optimizer.ts';
import { expectClose, maxAbs, useGpu } from './helpers.ts';
import { B, LLAMA, QWEN2, T, lookup, makeBatch, makeLora, makeWeights } from './tiny-decoder.ts';

const gpu = useGpu();
const RTOL = 1e-4;


async function gpuModel(g: Gpu, cfg: DecoderConfig, W: Map<string, Float64Array>): Promise<Decoder> {
  return decoderFromData(g, cfg, async ({ name }) => Float32Array.from(lookup(W)(name)));
}

function gpuLora(g: Gpu, cfg: DecoderConfig, W: Map<string, Float64Array>, targets: LoraTarget[], p: number): DecoderLora {
  const r = 2;
  const layers = Array.from({ length: cfg.layers }, (_, l) => {
    const mods: Partial<Record<LoraTarget, LoraModule>> = {};
    for (const t of targets) {
      const A = W.get(`${modulePath(l, t)}.lora_A.weight`)!;
      const Bm = W.get(`${modulePath(l, t)}.lora_B.weight`)!;
      mods[t] = { A: g.tensor(A, [r, A.length / r]), B: g.tensor(Bm, [Bm.length / r, r]) };
    }
    return mods;
  });
  return { config: { r, alpha: 4, dropout: p, rslora: false, targets }, scale: loraScale(4, r), layers };
}

/** Forward, loss, backward on the GPU; returns the loss. */
async function gpuStep(g: Gpu, model: Decoder, batch: ReturnType<typeof makeBatch>, params: TrainParam[], lora: DecoderLora | undefined, seed: number, maxChunkRows?: number): Promise<number> {
  const { input: ri, targets } = batch;
  const t = (a: ArrayLike<number>) => g.tensor(a, [B, T], 'i32');
  const input = { B, T, ids: t(ri.ids), mask: t(ri.mask), pos: t(ri.pos), idsData: Int32Array.from(ri.ids) };
  const grads = gradMap(params);
  const acts = decoderTrainForward(g, model, input, { lora, dropoutSeed: seed });
  const { loss, dFinal } = lmHeadLoss(g, acts.final, model.weights.lmHead, targets, {
    count: countTargets(targets), dHead: grads.get(model.weights.lmHead), maxChunkRows,
  });
  decoderBackward(g, model, acts, dFinal!, grads);
  const [value] = await g.read(loss);
  for (const x of [loss, dFinal!, input.ids, input.mask, input.pos] as Tensor[]) x.release();
  return value;
}

async function compareGrads(params: TrainParam[], expected: Map<string, Float64Array>): Promise<void> {
  expect(params.map((p) => p.name).sort()).toEqual([...expected.keys()].sort());
  for (const p of params) {
    const e = expected.get(p.name)!;
    const scale = new Float64Array(e.length).fill(maxAbs(e));
    expectClose(p.name, await p.grad.read(), e, { rtol: RTOL }, scale);
  }
}

const CASES = [
  { name: 'llama (separate head, q/k/v/o and MLP biases)', cfg: LLAMA, lora: [...LORA_TARGETS], p: 0.3 },
  { name: 'qwen2 (tied head, q/k/v biases, H*D != C)', cfg: QWEN2, lora: ['q_proj', 'k_proj', 'o_proj', 'gate_proj', 'down_proj'] as LoraTarget[], p: 0.25 },
];

describe('GPU decoder backward vs the float64 reference model', () => {
  for (const [ci, c] of CASES.entries()) {
    it(`${c.name}: full training, every weight and bias; the head in chunks agrees`, async () => {
      const g = await gpu();
      const W = makeWeights(c.cfg, 100 + ci);
      const batch = makeBatch(c.cfg, 7 + ci);
      const ref = refBackward(c.cfg, lookup(W), batch.input, batch.targets);
      const model = await gpuModel(g, c.cfg, W);
      const params = fullParams(g, model);
      const loss = await gpuStep(g, model, batch, params, undefined, 0);
      expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-5 * ref.loss);
      await compareGrads(params, ref.grads);

      // the head in chunks of 3 rows (several chunks, one of them all padding): same gradients
      releaseParams(params);
      const chunked = fullParams(g, model);
      const loss2 = await gpuStep(g, model, batch, chunked, undefined, 0, 3);
      expect(Math.abs(loss2 - ref.loss)).toBeLessThan(1e-5 * ref.loss);
      await compareGrads(chunked, ref.grads);
      releaseParams(chunked);
      releaseDecoder(model);
    });

    it(`${c.name}: LoRA training with dropout, dA and dB only`, async () => {
      const g = await gpu();
      const W = makeWeights(c.cfg, 200 + ci);
      makeLora(c.cfg, c.lora, 300 + ci, W);
      const batch = makeBatch(c.cfg, 17 + ci);
      const seed = 12345 + ci;
      const dropout = (l: number, t: LoraTarget) => ({ p: c.p, seed: linearDropoutSeed(seed, l, t) });
      const ref = refBackward(c.cfg, lookup(W), batch.input, batch.targets, {
        scale: loraScale(4, 2), targets: c.lora, weight: lookup(W), dropout,
      });
      const model = await gpuModel(g, c.cfg, W);
      const lora = gpuLora(g, c.cfg, W, c.lora, c.p);
      const params = loraParams(g, lora);
      const loss = await gpuStep(g, model, batch, params, lora, seed);
      expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-5 * ref.loss);
      await compareGrads(params, ref.grads);
      releaseParams(params);
      for (const m of lora.layers.flatMap((x) => Object.values(x))) { m!.A.release(); m!.B.release(); }
      releaseDecoder(model);
    });
  }
});
