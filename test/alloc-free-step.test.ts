// After its first step, a training step or an embedding batch creates no GPU
// buffer: tensors come from the pool, uniforms from reused arenas, read-backs
// from kept staging buffers (gpu.buffersCreated counts all three).
import { describe, expect, it } from 'vitest';
import { Embedder } from '../src/embed/embedder.ts';
import { randomDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { createLora, LORA_TARGETS, releaseLora } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { gradCacheStep } from '../src/train/gradcache.ts';
import { accumulateMicroBatch, uploadWindows } from '../src/train/lm-trainer.ts';
import { gradMap, loraParams, optimizerStep, releaseParams, zeroGrads } from '../src/train/optimizer.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const ADAMW = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clip: 1 };

describe('steady-state steps allocate nothing', () => {
  it('LoRA LM step, contrastive GradCache step and an embedding batch', async () => {
    const g = await gpu();
    const cfg = presetConfig('tiny');
    const model = await randomDecoder(g, cfg, 0);
    const lora = createLora(g, cfg, { r: 4, alpha: 8, dropout: 0.1, rslora: false, targets: [...LORA_TARGETS] }, 0);
    const params = loraParams(g, lora);
    const grads = gradMap(params);
    const B = 3, T = 11;
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % cfg.vocab);
    const rows = (n: number, seed: number) => Array.from({ length: n }, (_, r) => Array.from({ length: 5 + ((r * seed) % 9) }, (_, t) => (r * 31 + t * seed) % cfg.vocab));
    const tok = await readTokenizer(new URL('../fixtures/tiny-decoder/tokenizer.json', import.meta.url).pathname);
    const embedder = new Embedder(g, model, tok);
    const texts = ['a small dog', 'the cat sat on the mat', 'x'];

    const created: number[] = [];
    for (let step = 1; step <= 3; step++) {
      const before = g.buffersCreated;
      const batch = uploadWindows(g, ids, ids, B, T, cfg.vocab);
      zeroGrads(g, params);
      const loss = g.zeros([1], 'f32', 'loss');
      accumulateMicroBatch(g, model, lora, grads, batch, B * T, loss, step);
      optimizerStep(g, params, ADAMW, 1e-4, step).release();
      expect(Number.isFinite((await loss.read())[0])).toBe(true);
      loss.release();
      batch.release();
      zeroGrads(g, params);
      const closs = gradCacheStep(g, model, lora, grads, { anchors: rows(4, 3), candidates: rows(8, 5) }, { temperature: 0.05, symmetric: false }, { miniBatch: 3, pooling: 'lasttoken', seed: step });
      optimizerStep(g, params, ADAMW, 1e-4, step).release();
      expect(Number.isFinite((await closs.read())[0])).toBe(true);
      closs.release();
      expect((await embedder.embed(texts)).length).toBe(3);
      created.push(g.buffersCreated - before);
    }
    expect(created[0]).toBeGreaterThan(0); // the first step fills the pool
    expect(created.slice(1)).toEqual([0, 0]);
    releaseParams(params);
    releaseLora(lora);
    releaseDecoder(model);
  });
});
