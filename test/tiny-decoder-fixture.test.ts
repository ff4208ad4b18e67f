// The committed built-in decoder (fixtures/tiny-decoder, made by
// fixtures/make-tiny-decoder.ts): it loads as an HF folder, its held-out loss
// on the first held-out windows agrees with the perplexity the script
// measured over all of them (and is far below the uniform model's), and
// greedy generation continues a WordNet-style prompt with real words.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { wordnetCorpus } from '../src/data/lm-corpus.ts';
import { TokenWindows } from '../src/data/lm-windows.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { loadDecoder, releaseDecoder } from '../src/model/decoder.ts';
import { generate } from '../src/model/generate.ts';
import { evaluateLm } from '../src/train/lm-trainer.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const DIR = new URL('../fixtures/tiny-decoder/', import.meta.url).pathname;

describe('the built-in tiny decoder (fixtures/tiny-decoder)', () => {
  it('has the held-out perplexity its script reported, and writes WordNet-like text', async () => {
    const g = await gpu();
    const report = JSON.parse(await readFile(`${DIR}eval.json`, 'utf8'));
    const model = await loadDecoder(g, DIR);
    expect(model.config).toMatchObject({ modelType: 'llama', hidden: 128, layers: 4, vocab: 4096, tiedEmbeddings: true });
    const tok = await readTokenizer(`${DIR}tokenizer.json`);
    const corpus = await wordnetCorpus(tok);
    // the same held-out split as when the script measured it
    expect(Math.floor((corpus.heldout.length - 1) / 64) * 64).toBe(report.heldout_tokens);
    // 16 of the held-out windows: a sample of the full measurement, so within a loose band of it
    const r = await evaluateLm(g, model, new TokenWindows(corpus.heldout, 64), 16, 16);
    expect(Math.abs(r.loss - report.heldout_loss)).toBeLessThan(0.35);
    expect(r.loss).toBeLessThan(Math.log(4096) - 2.5);

    const prompt = tok.encode('oak:');
    const out = await generate(g, model, prompt, { maxNewTokens: 12, temperature: 0, topP: 1, seed: 0 });
    const text = tok.decode(out.ids, { skipSpecialTokens: true });
    const words = text.split(/[^A-Za-z]+/).filter((w) => w.length > 1);
    expect(words.length, text).toBeGreaterThanOrEqual(2);
    releaseDecoder(model);
  });
});
