// The official `openai` npm client, unchanged, against `lco serve` (in
// process, the built-in tiny decoder): embeddings.create with float and with
// base64 (the client's default, which it decodes itself), dimensions, and the
// client's own error classes for OpenAI-shaped errors.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder } from '../src/embed/embedder.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../src/model/decoder.ts';
import { embedderBackend } from '../src/serve/backend.ts';
import { base64Float32 } from '../src/serve/openai-shapes.ts';
import { EmbeddingServer } from '../src/serve/server.ts';
import { expectClose, useGpu } from './helpers.ts';

const MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;
const gpu = useGpu();
const TEXTS = ['a large tree with lobed leaves and acorns', 'oak', 'the dog barked'];

describe('openai client against lco serve', () => {
  let model: Decoder;
  let embedder: Embedder;
  let server: EmbeddingServer;
  let client: OpenAI;

  beforeAll(async () => {
    const g = await gpu();
    model = await loadDecoder(g, MODEL);
    embedder = new Embedder(g, model, await readTokenizer(`${MODEL}/tokenizer.json`));
    server = new EmbeddingServer({ log: () => {} });
    const url = await server.listen(0, '127.0.0.1');
    server.attach(embedderBackend(embedder, { id: 'tiny-decoder', prompt: 'none', chat: 'none', pooling: 'lasttoken' }));
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    if (model) releaseDecoder(model);
  });

  it('embeddings.create: float and base64 give the Embedder\'s vectors, with usage', async () => {
    const want = await embedder.embed(TEXTS);
    for (const encoding_format of ['float', 'base64'] as const) {
      const r = await client.embeddings.create({ model: 'tiny-decoder', input: TEXTS, encoding_format });
      expect(r.object).toBe('list');
      expect(r.model).toBe('tiny-decoder');
      expect(r.data.map((d) => d.index)).toEqual([0, 1, 2]);
      r.data.forEach((d, i) => {
        // The client hands base64 back as the string it received when asked for it explicitly.
        const v = typeof d.embedding === 'string' ? base64Float32(d.embedding) : Float32Array.from(d.embedding);
        expectClose(`${encoding_format} ${i}`, v, want[i], { rtol: 1e-5 });
      });
      const tokens = TEXTS.reduce((s, t) => s + embedder.tokenize(t, {}).length, 0);
      expect(r.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    }
    // The client's default (no encoding_format) asks for base64 and decodes it to numbers.
    const d = await client.embeddings.create({ model: 'tiny-decoder', input: 'oak', dimensions: 16 });
    expect(d.data[0].embedding).toHaveLength(16);
    const prefix = Float32Array.from(want[1].slice(0, 16));
    const n = Math.hypot(...prefix);
    expectClose('dimensions 16', Float32Array.from(d.data[0].embedding as number[]), prefix.map((x) => x / n), { rtol: 1e-5 });
  });

  it('errors reach the client as its own error classes', async () => {
    await expect(client.embeddings.create({ model: 'no-such-model', input: 'oak' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.embeddings.create({ model: 'tiny-decoder', input: '' })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.embeddings.create({ model: 'tiny-decoder', input: 'oak', dimensions: 0 })).rejects.toMatchObject({ status: 400 });
  });
});
