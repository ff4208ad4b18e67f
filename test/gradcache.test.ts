// GradCache: the LoRA gradients of a contrastive step computed mini-batch by
// mini-batch (embed, loss, replay) equal the full-batch gradients of one
// graph kept whole, to 1e-5 relative, with LoRA dropout replayed by seed;
// and with no dropout, any mini-batch size gives the same gradients.
import { rowIds } from '../src/embed/image-rows.ts';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { padLeft, uploadRows } from '../src/embed/batch.ts';
import { decoderBackward } from '../src/model/backward.ts';
import { randomDecoder, releaseDecoder, type Decoder } from '../src/model/decoder.ts';
import { decoderTrainForward } from '../src/model/forward.ts';
import { createLora, releaseLora, type DecoderLora } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { contrastiveLoss, contrastiveLossBackward } from '../src/ops/contrastive.ts';
import { l2norm, l2normBackward } from '../src/ops/l2norm.ts';
import { lastTokenPool, lastTokenPoolBackward } from '../src/ops/pooling.ts';
import { gradCacheStep, miniBatchSeed, type ContrastiveBatch } from '../src/train/gradcache.ts';
import { gradMap, loraParams, releaseParams, type TrainParam } from '../src/train/optimizer.ts';
import { expectClose, rng, useGpu } from './helpers.ts';

const gpu = useGpu();
const CFG = presetConfig('tiny', { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 60 });
const SPEC = { temperature: 0.05, symmetric: false };

function makeBatch(B: number, k: number, seed: number): ContrastiveBatch {
  const r = rng(seed);
  const seq = () => Array.from({ length: 2 + Math.floor(r() * 7) }, () => 1 + Math.floor(r() * 59));
  return { anchors: Array.from({ length: B }, seq), candidates: Array.from({ length: B * (1 + k) }, seq) };
}

async function setup(g: Gpu, dropout: number): Promise<{ model: Decoder; lora: DecoderLora }> {
  const model = await randomDecoder(g, CFG, 3, 0.2);
  const lora = createLora(g, CFG, { r: 2, alpha: 4, dropout, rslora: false, targets: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'] }, 5);
  // B starts at zero in a fresh adapter; give it values so every gradient path is live
  for (const m of lora.layers.flatMap((x) => Object.values(x))) g.write(m!.B, Float32Array.from({ length: m!.B.size }, (_, i) => Math.sin(i + 1) * 0.3));
  return { model, lora };
}

/**
 * The full-batch gradient: every mini-batch's graph kept alive at once (same
 * dropout seeds as GradCache), one loss, one backward through all of them.
 */
function fullBatch(g: Gpu, model: Decoder, lora: DecoderLora, params: TrainParam[], batch: ContrastiveBatch, mini: number, seed: number): Tensor {
  const grads = gradMap(params);
  const C = CFG.hidden;
  const parts: { e: Tensor; back: (d: Tensor) => void }[][] = [];
  const all: Tensor[] = [];
  for (const [group, rows] of [['anchors', batch.anchors], ['candidates', batch.candidates]] as const) {
    const whole = g.empty([rows.length, C]);
    all.push(whole);
    const list: { e: Tensor; back: (d: Tensor) => void }[] = [];
    for (let r0 = 0, i = 0; r0 < rows.length; r0 += mini, i++) {
      const padded = padLeft(rows.slice(r0, r0 + mini).map(rowIds));
      const input = uploadRows(g, padded);
      const acts = decoderTrainForward(g, model, input, { lora, dropoutSeed: miniBatchSeed(seed, group, i) });
      const p = lastTokenPool(g, acts.final, input.mask);
      const n = l2norm(g, p.out);
      g.copy(n.y, whole, padded.B * C, 0, r0 * C);
      const start = r0;
      list.push({
        e: n.y,
        back: (dWhole) => {
          const d = g.empty([padded.B, C]);
          g.copy(dWhole, d, padded.B * C, start * C, 0);
          const dRaw = l2normBackward(g, n.y, n.norm, d);
          decoderBackward(g, model, acts, lastTokenPoolBackward(g, p.index, dRaw, padded.T), grads);
        },
      });
    }
    parts.push(list);
  }
  const f = contrastiveLoss(g, all[0], all[1], SPEC);
  const { dA, dC } = contrastiveLossBackward(g, all[0], all[1], f);
  parts[0].forEach((p) => p.back(dA));
  parts[1].forEach((p) => p.back(dC));
  return f.loss;
}

async function grads(params: TrainParam[]): Promise<Float32Array[]> {
  return Promise.all(params.map(async (p) => (await p.grad.read()) as Float32Array));
}

function maxAbs(xs: Float32Array[]): number {
  return xs.reduce((m, x) => x.reduce((a, v) => Math.max(a, Math.abs(v)), m), 0);
}

describe('GradCache', () => {
  it('mini-batches of 2 give the full-batch LoRA gradients (dropout 0.2 replayed by seed) to 1e-5 relative', async () => {
    const g = await gpu();
    const { model, lora } = await setup(g, 0.2);
    const batch = makeBatch(5, 1, 11);
    const cached = loraParams(g, lora);
    const loss1 = gradCacheStep(g, model, lora, gradMap(cached), batch, SPEC, { miniBatch: 2, pooling: 'lasttoken', seed: 77 });
    const full = loraParams(g, lora);
    const loss2 = fullBatch(g, model, lora, full, batch, 2, 77);
    const [a, b] = [await grads(cached), await grads(full)];
    const scale = maxAbs(b);
    expect(scale).toBeGreaterThan(1e-4);
    a.forEach((x, i) => expectClose(cached[i].name, x, b[i], { rtol: 0, atol: 1e-5 * scale }));
    expect((await loss1.read())[0]).toBe((await loss2.read())[0]); // replayed embeddings are bit-identical
    releaseParams(cached);
    releaseParams(full);
    releaseLora(lora);
    releaseDecoder(model);
  });

  it('without dropout, the mini-batch size changes nothing (1, 3 and the whole batch), hard negatives included', async () => {
    const g = await gpu();
    const { model, lora } = await setup(g, 0);
    const batch = makeBatch(4, 2, 12);
    const results: Float32Array[][] = [];
    for (const miniBatch of [1, 3, 12]) {
      const params = loraParams(g, lora);
      gradCacheStep(g, model, lora, gradMap(params), batch, { ...SPEC, symmetric: true }, { miniBatch, pooling: 'lasttoken', seed: 1 }).release();
      results.push(await grads(params));
      releaseParams(params);
    }
    const scale = maxAbs(results[2]);
    for (const r of results.slice(0, 2)) r.forEach((x, i) => expectClose(`param ${i}`, x, results[2][i], { rtol: 0, atol: 1e-5 * scale }));
    releaseLora(lora);
    releaseDecoder(model);
  });
});
