// The Embedder against the float64 reference decoder: last-token and mean
// pooling over left-padded, length-sorted batches give each item the
// embedding it has alone; Matryoshka truncation re-normalises the prefix;
// prompts, ChatML, id inputs and truncation keep what they must; bad inputs
// name the item. Plus int8 / binary quantization.
import { describe, expect, it } from 'vitest';
import { decoderForward as refForward } from '../reference/decoder.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { decoderFromData, releaseDecoder, weightSpecs } from '../src/model/decoder.ts';
import { presetConfig } from '../src/model/presets.ts';
import { Embedder, EmbedInputError } from '../src/embed/embedder.ts';
import { applyPrompt, PromptError, resolvePrompt } from '../src/embed/prompt.ts';
import { calibrateInt8, hamming, quantizeBinary, quantizeInt8 } from '../src/embed/quantize.ts';
import { expectClose, randomData, useGpu } from './helpers.ts';

const gpu = useGpu();
const TOKENIZER = new URL('../fixtures/wordnet/tokenizer.json', import.meta.url).pathname;
const CFG = presetConfig('tiny', { hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 });
const TEXTS = ['oak', 'a large tree with lobed leaves and acorns', 'the dog barked at the mailman all night', 'ok then'];

function weights(): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  weightSpecs(CFG).forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const r = randomData(n, 40 + i, 0.02, 0.3);
    w.set(s.name, s.kind === 'norm' ? Float32Array.from(r, (v) => 1 + v) : r);
  });
  return w;
}

/** The reference embedding of one id sequence: final hidden state (last token or mean), optionally truncated and normalised. */
function refEmbed(W: Map<string, Float32Array>, ids: number[], pooling: 'lasttoken' | 'mean', dims = CFG.hidden): Float64Array {
  const T = ids.length;
  const weight = (n: string) => {
    const w = W.get(n);
    if (!w) throw new Error(`no tensor ${n}`); // the reference asks for optional biases this way
    return w;
  };
  const { hidden } = refForward(CFG, weight, { B: 1, T, ids, mask: new Array(T).fill(1), pos: ids.map((_, t) => t) });
  const h = hidden[hidden.length - 1];
  const C = CFG.hidden;
  const e = new Float64Array(dims);
  for (let c = 0; c < dims; c++) {
    if (pooling === 'lasttoken') e[c] = h[(T - 1) * C + c];
    else for (let t = 0; t < T; t++) e[c] += h[t * C + c] / T;
  }
  const norm = Math.hypot(...e);
  return e.map((v) => v / norm);
}

describe('Embedder', () => {
  it('batched, left-padded, length-sorted: every item gets its reference embedding (both poolings, truncation)', async () => {
    const g = await gpu();
    const W = weights();
    const model = await decoderFromData(g, CFG, async ({ name }) => W.get(name)!);
    const tok = await readTokenizer(TOKENIZER);
    const emb = new Embedder(g, model, tok);
    for (const pooling of ['lasttoken', 'mean'] as const) {
      for (const dims of [CFG.hidden, 8]) {
        const got = await emb.embed(TEXTS, { pooling, dimensions: dims, batchSize: 3, prompt: 'lco' });
        TEXTS.forEach((t, i) => {
          const ids = emb.tokenize(t, { prompt: 'lco' });
          expect(got[i].length).toBe(dims);
          expectClose(`${pooling} dims ${dims} item ${i}`, got[i], refEmbed(W, ids, pooling, dims), { rtol: 0, atol: 2e-5 });
        });
      }
    }
    const raw = await emb.embed(['oak'], { normalize: false });
    expect(Math.abs(Math.hypot(...raw[0]) - 1)).toBeGreaterThan(1e-3); // not normalised when asked not to
    releaseDecoder(model);
  });

  it('uses id inputs as given, keeps the prompt when cutting long text, and names bad inputs', async () => {
    const g = await gpu();
    const model = await decoderFromData(g, CFG, async ({ shape }) => randomData(shape.reduce((a, b) => a * b, 1), 3, 0.02, 0.3));
    const tok = await readTokenizer(TOKENIZER);
    const emb = new Embedder(g, model, tok);
    expect(emb.tokenize({ ids: [5, 6, 7] }, { prompt: 'lco' })).toEqual([5, 6, 7]);
    const long = 'word '.repeat(100).trim();
    const ids = emb.tokenize(long, { prompt: 'lco', maxLength: 20 });
    expect(ids.length).toBe(20);
    const suffix = tok.encode('\nSummarize the above text in one word:');
    expect(ids.slice(-suffix.length)).toEqual(suffix);
    const chat = emb.tokenize('oak', { prompt: 'lco', chat: 'chatml' });
    expect(tok.decode(chat)).toBe('<|im_start|>user\noak\nSummarize the above text in one word:<|im_end|>\n<|im_start|>assistant\n');
    await expect(emb.embed(['fine', ''])).rejects.toThrow(EmbedInputError);
    await expect(emb.embed(['fine', ''])).rejects.toThrow(/input 1: the text is empty/);
    await expect(emb.embed([{ ids: [1, 4096] }])).rejects.toThrow(/input 0: input_ids\[1\] = 4096 is outside the vocabulary \[0, 4096\)/);
    await expect(emb.embed(['x'], { dimensions: 25 })).rejects.toThrow(/dimensions 25/);
    releaseDecoder(model);
  });
});

describe('prompts and quantization', () => {
  it('resolves named and custom templates; {text} must appear once; $ patterns stay literal', () => {
    expect(applyPrompt(resolvePrompt('lco'), 'cat')).toBe('cat\nSummarize the above text in one word:');
    expect(applyPrompt(resolvePrompt('query: {text}'), 'a $& b')).toBe('query: a $& b');
    expect(() => resolvePrompt('no placeholder')).toThrow(PromptError);
    expect(() => resolvePrompt('{text} and {text}')).toThrow(/exactly once \(found 2\)/);
  });

  it('int8: per-dimension ranges in 255 steps to [-128, 127]; binary: sign bits MSB first; Hamming distance', () => {
    const rows = [[0, -1, 5], [1, 1, 5], [0.5, 0, 5]];
    const c = calibrateInt8(rows);
    expect([...quantizeInt8([0, -1, 5], c)]).toEqual([-128, -128, -128]);
    expect([...quantizeInt8([1, 1, 5], c)]).toEqual([127, 127, -128]);
    expect([...quantizeInt8([0.5, 0, 5], c)]).toEqual([-1, -1, -128]); // floor(127.5) - 128
    expect([...quantizeInt8([2, -3, 5], c)]).toEqual([127, -128, -128]); // clamped
    const b = quantizeBinary([1, -1, 0, 2, 3, -4, 5, 6, 7]);
    expect([...b]).toEqual([0b10011011, 0b10000000]);
    expect(hamming(b, quantizeBinary([-1, -1, 0, 2, 3, -4, 5, 6, -7]))).toBe(2);
    expect(() => calibrateInt8([[1, 2], [1]])).toThrow(/embedding 1 has 1 dimensions/);
  });
});
