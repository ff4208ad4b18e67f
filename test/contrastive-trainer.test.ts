// Contrastive training: the JSONL reader (every bad row named by line), the
// duplicate-free batches, and the trainer on a small random decoder: the loss
// falls on a learnable task, a run stopped and resumed from its checkpoint
// ends bit-identical to the straight run, and the adapter is PEFT's layout.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noDuplicateBatches, parsePairsText, type PairRow } from '../src/data/pairs.ts';
import { Embedder } from '../src/embed/embedder.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { randomDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { createLora, loadLoraAdapter, loraTensors, releaseLora } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { checkpointName, loadMoments, readState } from '../src/train/checkpoint.ts';
import { CONTRASTIVE_DEFAULTS, trainContrastive, type ContrastiveTrainConfig } from '../src/train/contrastive-trainer.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const TOKENIZER = new URL('../fixtures/wordnet/tokenizer.json', import.meta.url).pathname;
const CFG = presetConfig('tiny', { hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 });

describe('pair datasets', () => {
  it('reads strings, {"text"} and {"input_ids"} items, k negatives and modalities; names every bad row by line', () => {
    const text = [
      '{"anchor": "a", "positive": {"text": "b"}, "negative_1": "c", "negative_2": {"input_ids": [5, 6]}, "negative_modality": [1, 2]}',
      '{"anchor": "a2", "positive": "b2", "negative_1": "c2"}',
      '{"anchor": "a3", "positive": ',
      '',
      '{"anchor": "a4"}',
      '{"anchor": "", "positive": "x", "negative_1": "y", "negative_2": "z"}',
      '{"anchor": "a6", "positive": "x", "negative_1": "y", "negative_2": {"input_ids": [1, 4096]}}',
      '{"anchor": "a7", "positive": "x7", "negative_1": "y7", "negative_2": "z7", "positive_modality": 2}',
    ].join('\n');
    const d = parsePairsText('train.jsonl', text, 4096);
    expect(d.k).toBe(2);
    expect(d.rows.map((r) => r.line)).toEqual([1, 8]);
    expect(d.rows[0].negatives[1]).toEqual({ ids: [5, 6] });
    expect(d.rows[0].negativeModalities).toEqual([1, 2]);
    expect(d.rows[1].positiveModality).toBe(2);
    expect(d.errors).toEqual([
      expect.stringMatching(/^train\.jsonl:2: 1 negatives, but earlier rows have 2/),
      expect.stringMatching(/^train\.jsonl:3: not valid JSON/),
      expect.stringMatching(/^train\.jsonl:5: "positive" must be .* \(missing\)/),
      expect.stringMatching(/^train\.jsonl:6: "anchor" is an empty text/),
      expect.stringMatching(/^train\.jsonl:7: "negative_2"\.input_ids\[1\] = 4096 is outside the vocabulary/),
    ]);
  });

  it('batches never repeat a text, are deterministic, and skip rows that repeat a text themselves', () => {
    const row = (i: number, a: string, p: string): PairRow => ({ line: i + 1, anchor: { text: a }, positive: { text: p }, negatives: [], positiveModality: 1, negativeModalities: [] });
    const rows = [row(0, 'a', 'x'), row(1, 'b', 'x'), row(2, 'c', 'y'), row(3, 'd', 'z'), row(4, 'e', 'e'), row(5, 'f', 'w')];
    const batches = noDuplicateBatches(rows, [0, 1, 2, 3, 4, 5], 2);
    expect(batches).toEqual([[0, 2], [1, 3]]); // row 1 waits (x twice), row 4 never fits, row 5 is left over
    expect(noDuplicateBatches(rows, [0, 1, 2, 3, 4, 5], 2)).toEqual(batches);
  });
});

/** A learnable task: anchor "item N is ..." <-> positive "N: ..." (shared digits), in-batch negatives only. */
function rows(n: number): PairRow[] {
  return Array.from({ length: n }, (_, i) => ({
    line: i + 1, anchor: { text: `thing ${i * 37 % 997} in a list` }, positive: { text: `number ${i * 37 % 997}` },
    negatives: [], positiveModality: 1, negativeModalities: [],
  }));
}

const CONFIG: ContrastiveTrainConfig = {
  ...CONTRASTIVE_DEFAULTS, batchSize: 8, miniBatch: 5, steps: 4, lr: 3e-3, warmup: 0, temperature: 0.05, maxLength: 32, seed: 3,
  lora: { r: 4, alpha: 8, dropout: 0.1, rslora: false, targets: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] },
};

describe('trainContrastive on a small random decoder', () => {
  it('lowers the loss, and resumes bit-identically from a checkpoint (AdamW and SGD)', async () => {
    const g = await gpu();
    const tok = await readTokenizer(TOKENIZER);
    const model = await randomDecoder(g, CFG, 2, 0.1);
    const embedder = new Embedder(g, model, tok);
    const data = rows(40);

    // learning: 30 steps on the same small task
    const learnDir = await mkdtemp(join(tmpdir(), 'lco-ctrain-'));
    const learnLora = createLora(g, CFG, CONFIG.lora, 1);
    const r = await trainContrastive({ gpu: g, model, lora: learnLora, embedder, rows: data, k: 0, outDir: learnDir, config: { ...CONFIG, steps: 30 }, baseModel: 'base', progressOut: null });
    const losses = r.state.history.map((h) => h.loss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(0.7 * mean(losses.slice(0, 5)));
    expect(JSON.parse(await readFile(join(learnDir, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
    releaseLora(learnLora);

    for (const optimizer of ['adamw', 'sgd'] as const) {
      const config = { ...CONFIG, optimizer, momentum: optimizer === 'sgd' ? 0.9 : 0, lr: optimizer === 'sgd' ? 0.5 : CONFIG.lr };
      const straight = createLora(g, CFG, config.lora, 1);
      await trainContrastive({ gpu: g, model, lora: straight, embedder, rows: data, k: 0, outDir: await mkdtemp(join(tmpdir(), 'lco-ctrain-')), config, baseModel: 'base', progressOut: null });
      const expected = await Promise.all(loraTensors(straight).map((t) => g.read(t.tensor)));
      releaseLora(straight);

      const dir = await mkdtemp(join(tmpdir(), 'lco-ctrain-'));
      const first = createLora(g, CFG, config.lora, 1);
      const stop = new AbortController();
      stop.abort();
      await trainContrastive({ gpu: g, model, lora: first, embedder, rows: data, k: 0, outDir: dir, config, baseModel: 'base', progressOut: null, signal: stop.signal });
      releaseLora(first);
      const ckpt = join(dir, checkpointName(1));
      const state = await readState<ContrastiveTrainConfig>(ckpt);
      const resumed = await loadLoraAdapter(g, CFG, ckpt);
      await trainContrastive({ gpu: g, model, lora: resumed, embedder, rows: data, k: 0, outDir: dir, config: state.config, baseModel: 'base', progressOut: null, resume: state, onParams: (p) => loadMoments(g, ckpt, p) });
      const got = await Promise.all(loraTensors(resumed).map((t) => g.read(t.tensor)));
      got.forEach((w, i) => expect(w, `${optimizer} tensor ${i}`).toEqual(expected[i]));
      releaseLora(resumed);
    }
    releaseDecoder(model);
  });
});
