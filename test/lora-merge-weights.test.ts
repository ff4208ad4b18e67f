// mergeLoraIntoWeights (PEFT's merge_and_unload, in place): the decoder
// without the adapter, after the merge, computes what it computed with the
// adapter before it (dropout 0), up to one f32 rounding of each merged
// weight; and B = 0 (a fresh adapter) leaves every weight bit for bit.
import { describe, expect, it } from 'vitest';
import { uploadRows, padLeft } from '../src/embed/batch.ts';
import { decoderForward, randomDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { presetConfig } from '../src/model/presets.ts';
import { createLora, LORA_TARGETS, mergeLoraIntoWeights, releaseLora } from '../src/model/lora.ts';
import { randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
const CFG = presetConfig('tiny', { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 50 });

describe('mergeLoraIntoWeights', () => {
  it('the merged model equals the model with its adapter; a zero B changes nothing', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, CFG, 5);
    const lora = createLora(g, CFG, { r: 3, alpha: 6, dropout: 0, rslora: false, targets: [...LORA_TARGETS] }, 6);
    const rows = [[3, 9, 14, 2, 7], [11, 4, 40]];
    const run = async (withLora: boolean) => {
      const input = uploadRows(g, padLeft(rows));
      const { last } = decoderForward(g, model, input, { lora: withLora ? lora : undefined });
      const out = (await g.read(last)) as Float32Array;
      for (const t of [last, input.ids, input.mask, input.pos]) t.release();
      return out;
    };
    // fresh adapter: B = 0, the merge is W += 0 exactly
    const q0 = (await g.read(model.weights.layers[0].q)) as Float32Array;
    await mergeLoraIntoWeights(g, model, lora);
    expect(Array.from((await g.read(model.weights.layers[0].q)) as Float32Array)).toEqual(Array.from(q0));
    // a non-zero B
    for (const mods of lora.layers) for (const m of Object.values(mods)) g.write(m!.B, randomData(m!.B.size, m!.B.size, 0.05, 0.3));
    const withAdapter = await run(true);
    await mergeLoraIntoWeights(g, model, lora);
    const merged = await run(false);
    let worst = 0, scale = 0;
    withAdapter.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - merged[i]));
      scale = Math.max(scale, Math.abs(v));
    });
    expect(scale).toBeGreaterThan(0.1);
    expect(worst / scale).toBeLessThan(1e-5);
    releaseLora(lora);
    releaseDecoder(model);
  });
});
