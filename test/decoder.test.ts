// The GPU decoder against golden outputs of an independent float64 PyTorch
// implementation of HF LlamaForCausalLM / Qwen2ForCausalLM (fixtures/golden).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { decoderForward, loadDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { matmul } from '../src/ops/matmul.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const dir = (name: string) => fileURLToPath(new URL(`../fixtures/golden/${name}`, import.meta.url));

describe('GPU decoder vs an independent float64 implementation', () => {
  for (const name of ['tiny-llama', 'tiny-qwen2']) {
    it(`${name}: every layer's hidden states and the logits agree to 1e-4 on real tokens`, async () => {
      const g = await gpu();
      const model = await loadDecoder(g, dir(name));
      const golden = await SafetensorsFile.open(`${dir(name)}/golden.safetensors`);
      try {
        const [B, T] = golden.entry('input_ids').shape;
        const ints = async (n: string) => Int32Array.from(await golden.float32(n));
        const mask = await ints('attention_mask');
        const input = {
          B, T,
          ids: g.tensor(await ints('input_ids'), [B, T], 'i32', 'ids'),
          mask: g.tensor(mask, [B, T], 'i32', 'mask'),
          pos: g.tensor(await ints('position_ids'), [B, T], 'i32', 'pos'),
        };
        const { hidden, last } = decoderForward(g, model, input, { hiddenStates: true });
        const logits = matmul(g, last, model.weights.lmHead, { transB: true });
        const f64 = async (n: string) => new Float64Array((await golden.bytesOf(n)).buffer);
        // Relative to the row's largest magnitude: float32 through a whole model.
        const compare = (what: string, ours: Float32Array, theirs: Float64Array, width: number) => {
          let worst = 0;
          for (let t = 0; t < B * T; t++) {
            if (!mask[t]) continue;
            let scale = 0;
            for (let c = 0; c < width; c++) scale = Math.max(scale, Math.abs(theirs[t * width + c]));
            for (let c = 0; c < width; c++) worst = Math.max(worst, Math.abs(ours[t * width + c] - theirs[t * width + c]) / scale);
          }
          expect(worst, `${what}: worst error relative to the row's largest value`).toBeLessThan(1e-4);
        };
        expect(hidden.length).toBe(model.config.layers + 1);
        for (const [i, h] of hidden.entries()) compare(`hidden_states.${i}`, await h.read() as Float32Array, await f64(`hidden_states.${i}`), model.config.hidden);
        compare('logits', await logits.read() as Float32Array, await f64('logits'), model.config.vocab);
        [...hidden, logits, input.ids, input.mask, input.pos].forEach((t) => t.release());
      } finally {
        await golden.close();
        releaseDecoder(model);
      }
    });
  }

  it('names the tensor whose shape disagrees with config.json', async () => {
    const g = await gpu();
    const { mkdtemp, readFile, writeFile, copyFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const tmp = await mkdtemp(`${tmpdir()}/lco-dec-`);
    try {
      const cfg = JSON.parse(await readFile(`${dir('tiny-llama')}/config.json`, 'utf8'));
      await writeFile(`${tmp}/config.json`, JSON.stringify({ ...cfg, intermediate_size: 81 }));
      await copyFile(`${dir('tiny-llama')}/model.safetensors`, `${tmp}/model.safetensors`);
      const live = g.pool.stats().liveBytes;
      await expect(loadDecoder(g, tmp)).rejects.toThrow(/tensor "model.layers.0.mlp.gate_proj.weight" has shape \[80, 48\], expected \[81, 48\] from config.json/);
      expect(g.pool.stats().liveBytes, 'weights loaded before the bad tensor are released').toBe(live);
      await writeFile(`${tmp}/config.json`, JSON.stringify({ ...cfg, model_type: 'mistral' }));
      await expect(loadDecoder(g, tmp)).rejects.toThrow(/"model_type" is "mistral"/);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
