// The golden model folders were written by fixtures/golden/make_golden.py
// (PyTorch, a hand-written safetensors writer): our readers must agree with them.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WeightFolder } from '../src/io/weights.ts';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { parseConfig } from '../src/model/config.ts';
import { decoderForward } from '../reference/decoder.ts';

const dir = (name: string) => fileURLToPath(new URL(`../fixtures/golden/${name}`, import.meta.url));

describe('golden fixtures from an independent implementation', () => {
  for (const [name, dtype] of [['tiny-llama', 'F32'], ['tiny-qwen2', 'BF16']] as const) {
    it(`${name}: config, ${dtype} weights and the embedding output match`, async () => {
      const cfg = parseConfig(await readFile(`${dir(name)}/config.json`, 'utf8'), `${name}/config.json`);
      const weights = await WeightFolder.open(dir(name));
      const golden = await SafetensorsFile.open(`${dir(name)}/golden.safetensors`);
      try {
        const perLayer = 9 + (cfg.qkvBias ? 3 : 0);
        expect(weights.names().length).toBe(2 + (cfg.tiedEmbeddings ? 0 : 1) + cfg.layers * perLayer);
        expect(weights.entry('model.embed_tokens.weight')).toMatchObject({ dtype, shape: [cfg.vocab, cfg.hidden] });
        expect(weights.entry(`model.layers.0.self_attn.k_proj.weight`).shape).toEqual([cfg.kvHeads * cfg.headDim, cfg.hidden]);
        expect(golden.entry('hidden_states.0')).toMatchObject({ dtype: 'F64', shape: [3, 9, cfg.hidden] });
        expect(golden.entry('input_ids').dtype).toBe('I64');

        // hidden_states.0 = embed_tokens[input_ids], computed by torch from the stored
        // (F32 or BF16) weights in float64: exact in float32 after our decoding.
        const table = await weights.float32('model.embed_tokens.weight');
        const ids = await golden.float32('input_ids');
        const h0 = await golden.float32('hidden_states.0');
        for (let t = 0; t < ids.length; t++) {
          for (let c = 0; c < cfg.hidden; c++) {
            if (h0[t * cfg.hidden + c] !== table[ids[t] * cfg.hidden + c]) {
              expect.fail(`token ${t} (id ${ids[t]}) channel ${c}: ${h0[t * cfg.hidden + c]} vs ${table[ids[t] * cfg.hidden + c]}`);
            }
          }
        }
      } finally {
        await weights.close();
        await golden.close();
      }
    });
  }
});

describe('float64 reference decoder vs the independent PyTorch forward', () => {
  for (const name of ['tiny-llama', 'tiny-qwen2']) {
    it(`${name}: every layer's hidden states and the logits agree on the real tokens`, async () => {
      const cfg = parseConfig(await readFile(`${dir(name)}/config.json`, 'utf8'));
      const weights = await WeightFolder.open(dir(name));
      const golden = await SafetensorsFile.open(`${dir(name)}/golden.safetensors`);
      try {
        const W = new Map<string, Float32Array>();
        for (const n of weights.names()) W.set(n, await weights.float32(n));
        const weight = (n: string) => {
          const w = W.get(n);
          if (!w) throw new Error(`no weight ${n}`);
          return w;
        };
        const [B, T] = golden.entry('input_ids').shape;
        const mask = await golden.float32('attention_mask');
        const out = decoderForward(cfg, weight, { B, T, ids: await golden.float32('input_ids'), mask, pos: await golden.float32('position_ids') });
        const f64 = async (n: string) => new Float64Array((await golden.bytesOf(n)).buffer); // keep float64: no f32 rounding
        const compare = (what: string, ours: Float64Array, theirs: Float64Array, width: number) => {
          let worst = 0;
          for (let t = 0; t < B * T; t++) {
            if (!mask[t]) continue; // padding queries: HF and we define them differently
            for (let c = 0; c < width; c++) {
              const e = theirs[t * width + c];
              worst = Math.max(worst, Math.abs(ours[t * width + c] - e) / (1e-9 + Math.abs(e)));
            }
          }
          // Two float64 computations of the same maths: agreement to ~1e-10 relative.
          expect(worst, `${what}: worst relative difference`).toBeLessThan(1e-8);
        };
        for (const [i, h] of out.hidden.entries()) compare(`hidden_states.${i}`, h, await f64(`hidden_states.${i}`), cfg.hidden);
        compare('logits', out.logits, await f64('logits'), cfg.vocab);
      } finally {
        await weights.close();
        await golden.close();
      }
    });
  }
});
