// The golden model folders were written by fixtures/golden/make_golden.py
// (PyTorch, a hand-written safetensors writer): our readers must agree with them.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WeightFolder } from '../src/io/weights.ts';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { parseConfig } from '../src/model/config.ts';

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
