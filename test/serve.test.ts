// `lco serve`: OpenAI's embeddings API over node:http. In process (the
// EmbeddingServer on loopback, ephemeral ports) with the built-in tiny decoder
// or a CPU stand-in whose embed call can be held: float and base64 answers
// equal to the Embedder's own, Matryoshka dimensions, id inputs, usage,
// concurrent requests batched together yet each equal to its single-request
// answer, every error status in OpenAI's shape, fuzzed malformed bodies,
// clients that leave mid-request. In a child process: /health 503 while
// loading, and SIGTERM finishing an in-flight request before exit 0.
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, EmbedInputError } from '../src/embed/embedder.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { loadDecoder, releaseDecoder, type Decoder } from '../src/model/decoder.ts';
import { embedderBackend, type EmbeddingBackend } from '../src/serve/backend.ts';
import { base64Float32 } from '../src/serve/openai-shapes.ts';
import { EmbeddingServer, type ServerOptions } from '../src/serve/server.ts';
import { expectClose, useGpu } from './helpers.ts';

const MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const gpu = useGpu();

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

async function call(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, {
    method, headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), headers: res.headers };
}
const post = (base: string, body: unknown) => call(`${base}/v1/embeddings`, 'POST', body);

/** Asserts OpenAI's error shape and returns the error object. */
function expectError(r: Reply, status: number, code?: string | null, param?: string | null) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  const e = r.body.error;
  expect(Object.keys(r.body)).toEqual(['error']);
  expect(Object.keys(e).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof e.message).toBe('string');
  expect(e.message.length).toBeGreaterThan(0);
  if (code !== undefined) expect(e.code).toBe(code);
  if (param !== undefined) expect(e.param).toBe(param);
  return e;
}

function unit(v: ArrayLike<number>): Float32Array {
  const n = Math.hypot(...Array.from(v));
  return Float32Array.from(v, (x) => x / n);
}

/** A CPU stand-in: ids are character codes; a vector of 8 from the ids; embed calls can be held. */
function standIn(): EmbeddingBackend & { hold(): () => void; calls: number[][][]; fail: boolean } {
  let gate: Promise<void> | null = null;
  const b = {
    id: 'stand-in', hidden: 8, maxTokens: 16, calls: [] as number[][][], fail: false,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => ((gate = null), release());
    },
    tokenize(input: string | { ids: number[] }, where: string): number[] {
      const ids = typeof input === 'string' ? Array.from(input, (c) => c.charCodeAt(0) % 100) : input.ids;
      ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= 100) throw new EmbedInputError(`${where}: input_ids[${i}] = ${id} is outside the vocabulary [0, 100)`);
      });
      if (ids.length === 0) throw new EmbedInputError(`${where}: input_ids is empty`);
      return ids;
    },
    async embedRows(rows: number[][]): Promise<Float32Array[]> {
      b.calls.push(rows);
      if (gate) await gate;
      if (b.fail) throw new Error('the stand-in failed on purpose');
      return rows.map((r) => unit(Array.from({ length: 8 }, (_, c) => 1 + r.reduce((s, id, t) => s + Math.sin(id * (c + 1) + t), 0))));
    },
  };
  return b;
}

async function started(backend: EmbeddingBackend | null, opts: ServerOptions = {}): Promise<{ server: EmbeddingServer; url: string }> {
  const server = new EmbeddingServer({ log: () => {}, ...opts });
  const url = await server.listen(0, '127.0.0.1');
  if (backend) server.attach(backend);
  return { server, url };
}

/** Polls `cond` every 5 ms for up to `ms`. */
const until = async (cond: () => boolean, what: string, ms = 5000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await new Promise((r) => setTimeout(r, 5));
  expect(cond(), what).toBe(true);
};

describe('lco serve on the tiny decoder (in process)', () => {
  let model: Decoder;
  let embedder: Embedder;
  let server: EmbeddingServer;
  let url: string;
  const TEXTS = ['oak', 'a large tree with lobed leaves and acorns', 'the dog barked at the mailman all night', 'ok then', 'pine needles', 'x'];

  beforeAll(async () => {
    const g = await gpu();
    model = await loadDecoder(g, MODEL);
    embedder = new Embedder(g, model, await readTokenizer(`${MODEL}/tokenizer.json`));
    const backend = embedderBackend(embedder, { id: 'tiny-decoder', prompt: 'lco', chat: 'none', pooling: 'lasttoken' });
    ({ server, url } = await started(backend, { batchSize: 16, batchWaitMs: 5 }));
  });
  afterAll(async () => {
    await server?.close();
    if (model) releaseDecoder(model);
  });

  it('float and base64 answers equal the Embedder; dimensions re-normalise the prefix; ids as given; usage counts prompt tokens', async () => {
    const want = await embedder.embed(TEXTS.slice(0, 3), { prompt: 'lco' });
    const tokens = TEXTS.slice(0, 3).reduce((s, t) => s + embedder.tokenize(t, { prompt: 'lco' }).length, 0);
    const r = await post(url, { model: 'tiny-decoder', input: TEXTS.slice(0, 3), user: 'someone' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.body.object).toBe('list');
    expect(r.body.model).toBe('tiny-decoder');
    expect(r.body.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    expect(tokens).toBeGreaterThan(3 * 8); // the lco prompt's tokens are counted
    r.body.data.forEach((d: { object: string; index: number; embedding: number[] }, i: number) => {
      expect(d.object).toBe('embedding');
      expect(d.index).toBe(i);
      expect(d.embedding.length).toBe(128);
      expectClose(`float ${i}`, d.embedding, want[i], { rtol: 0, atol: 1e-5 });
    });

    const b64 = await post(url, { model: 'tiny-decoder', input: TEXTS.slice(0, 3), encoding_format: 'base64' });
    expect(b64.status).toBe(200);
    b64.body.data.forEach((d: { embedding: string }, i: number) => {
      expect(typeof d.embedding).toBe('string');
      // the same float32 values, bit for bit, as the float answer
      expect(Array.from(base64Float32(d.embedding))).toEqual(r.body.data[i].embedding);
    });

    const cut = await post(url, { model: 'tiny-decoder', input: TEXTS[1], dimensions: 16, encoding_format: 'base64' });
    expect(cut.status).toBe(200);
    const e16 = base64Float32(cut.body.data[0].embedding);
    expect(e16.length).toBe(16);
    expect(Math.abs(Math.hypot(...e16) - 1)).toBeLessThan(1e-5);
    expectClose('dimensions 16', e16, unit(want[1].subarray(0, 16)), { rtol: 0, atol: 1e-5 });

    // token ids are used exactly as given: no prompt, and they count as themselves
    const ids = embedder.tokenize('a large tree');
    const [idsWant] = await embedder.embed([{ ids }]);
    const one = await post(url, { model: 'tiny-decoder', input: ids });
    const many = await post(url, { model: 'tiny-decoder', input: [ids, ids.slice(0, 2)] });
    expect(one.body.usage.prompt_tokens).toBe(ids.length);
    expect(many.body.usage.prompt_tokens).toBe(ids.length + 2);
    expect(many.body.data.length).toBe(2);
    expectClose('ids', one.body.data[0].embedding, idsWant, { rtol: 0, atol: 1e-5 });
    expectClose('ids in a list', many.body.data[0].embedding, idsWant, { rtol: 0, atol: 1e-5 });

    const health = await call(`${url}/health`, 'GET');
    expect([health.status, health.body]).toEqual([200, { status: 'ok' }]);
    const models = await call(`${url}/v1/models`, 'GET');
    expect(models.body.object).toBe('list');
    expect(models.body.data).toEqual([{ id: 'tiny-decoder', object: 'model', created: expect.any(Number), owned_by: 'lco-webgpu' }]);
  });

  it('40 concurrent requests of mixed sizes share batches, and each answer equals the single-request one', async () => {
    const requests = Array.from({ length: 40 }, (_, k) => {
      const n = 1 + (k % 4);
      const input = Array.from({ length: n }, (_, j) => `${TEXTS[(k + j) % TEXTS.length]} ${k % 7 === 0 ? 'again and again' : ''}`.trim());
      return { model: 'tiny-decoder', input, ...(k % 5 === 0 ? { dimensions: 32 } : {}) };
    });
    // each distinct text alone, one request at a time
    const alone = new Map<string, number[]>();
    for (const t of new Set(requests.flatMap((r) => r.input))) alone.set(t, (await post(url, { model: 'tiny-decoder', input: t })).body.data[0].embedding);
    const calls0 = server.embedCalls;
    const replies = await Promise.all(requests.map((r) => post(url, r)));
    const calls = server.embedCalls - calls0;
    expect(calls).toBeLessThan(40); // batched across requests
    expect(calls).toBeGreaterThanOrEqual(Math.ceil(requests.reduce((s, r) => s + r.input.length, 0) / 16));
    replies.forEach((rep, k) => {
      expect(rep.status).toBe(200);
      expect(rep.body.data.length).toBe(requests[k].input.length);
      rep.body.data.forEach((d: { embedding: number[]; index: number }, j: number) => {
        expect(d.index).toBe(j);
        const single = alone.get(requests[k].input[j])!;
        const want = requests[k].dimensions ? unit(single.slice(0, 32)) : single;
        expectClose(`request ${k} input ${j}`, d.embedding, want, { rtol: 0, atol: 1e-5 });
      });
    });
  });

  it('bad requests: 400/404/405/413 in OpenAI\'s shape, naming the field', async () => {
    const ok = { model: 'tiny-decoder', input: 'fine' };
    const cases: [unknown, number, string | null, string | null][] = [
      ['{"model": ', 400, null, null],
      ['[1, 2]', 400, null, null],
      [{ input: 'x' }, 400, 'model', null],
      [{ model: 3, input: 'x' }, 400, 'model', null],
      [{ model: 'gpt-4', input: 'x' }, 404, 'model', 'model_not_found'],
      [{ model: 'tiny-decoder' }, 400, 'input', null],
      [{ ...ok, input: '' }, 400, 'input', null],
      [{ ...ok, input: [] }, 400, 'input', null],
      [{ ...ok, input: ['a', ''] }, 400, 'input', null],
      [{ ...ok, input: ['a', 1] }, 400, 'input', null],
      [{ ...ok, input: [[1, 2], []] }, 400, 'input', null],
      [{ ...ok, input: [[1, 'a']] }, 400, 'input', null],
      [{ ...ok, input: [1, 99999] }, 400, 'input', null],
      [{ ...ok, input: [1, 2.5] }, 400, 'input', null],
      [{ ...ok, input: [1, -1] }, 400, 'input', null],
      [{ ...ok, input: { text: 'x' } }, 400, 'input', null],
      [{ ...ok, input: Array(2049).fill('a') }, 400, 'input', null],
      [{ ...ok, input: 'word '.repeat(300) }, 400, 'input', 'context_length_exceeded'],
      [{ ...ok, input: Array(257).fill(5) }, 400, 'input', 'context_length_exceeded'],
      [{ ...ok, dimensions: 0 }, 400, 'dimensions', null],
      [{ ...ok, dimensions: 129 }, 400, 'dimensions', null],
      [{ ...ok, dimensions: 2.5 }, 400, 'dimensions', null],
      [{ ...ok, dimensions: '16' }, 400, 'dimensions', null],
      [{ ...ok, encoding_format: 'int8' }, 400, 'encoding_format', null],
      [{ ...ok, user: 5 }, 400, 'user', null],
      [{ ...ok, temperature: 1 }, 400, 'temperature', null],
    ];
    for (const [body, status, param, code] of cases) {
      const r = await post(url, body);
      const e = expectError(r, status, code, param);
      expect(e.type).toBe('invalid_request_error');
    }
    expect((await post(url, { ...ok, input: [1, 99999] })).body.error.message).toMatch(/input\[0\]: input_ids\[1\] = 99999 is outside the vocabulary/);
    expectError(await call(`${url}/v1/nothing`, 'POST', ok), 404, 'unknown_url');
    const wrong = await call(`${url}/v1/embeddings`, 'GET');
    expectError(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('allow')).toBe('POST');
    expectError(await call(`${url}/health`, 'POST', {}), 405);
    // the server is still up and right
    expect((await post(url, ok)).status).toBe(200);
  });

  it('fuzzed malformed bodies get 400 and the server stays up', async () => {
    const notAnObject = fc.string().filter((s) => {
      try {
        const v = JSON.parse(s);
        return typeof v !== 'object' || v === null || Array.isArray(v);
      } catch {
        return true;
      }
    });
    const badInput = fc.oneof(
      fc.integer(), fc.boolean(), fc.constant(null), fc.constant(''), fc.constant([]), fc.object(),
      fc.array(fc.oneof(fc.boolean(), fc.constant(null), fc.object(), fc.constant('')), { minLength: 1 }),
      fc.array(fc.oneof(fc.integer({ min: 4096 }), fc.integer({ max: -1 }), fc.double({ noInteger: true })), { minLength: 1 }),
      fc.tuple(fc.string({ minLength: 1 }), fc.integer()),
    );
    const badExtras = fc.oneof(
      fc.record({ dimensions: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 129 }), fc.string(), fc.double({ noInteger: true })) }),
      fc.record({ encoding_format: fc.string().filter((s) => s !== 'float' && s !== 'base64') }),
      fc.record({ user: fc.oneof(fc.integer(), fc.object()) }),
      fc.record({ [`x${'_'}extra`]: fc.jsonValue() }),
    );
    const body = fc.oneof(
      notAnObject,
      badInput.map((input) => JSON.stringify({ model: 'tiny-decoder', input })),
      badExtras.map((extra) => JSON.stringify({ model: 'tiny-decoder', input: 'fine', ...extra })),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const r = await post(url, text);
        expectError(r, 400);
      }),
      { numRuns: 150, seed: 7 },
    );
    // any JSON at all: an answer (never a dropped connection) with a status the API allows
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (v) => {
        const r = await post(url, JSON.stringify(v));
        expect([400, 404]).toContain(r.status);
      }),
      { numRuns: 60, seed: 8 },
    );
    expect((await call(`${url}/health`, 'GET')).status).toBe(200);
    expect((await post(url, { model: 'tiny-decoder', input: 'still fine' })).status).toBe(200);
  });
});

/** A raw request: resolves with the status, or with the error when the connection fails. */
function raw(url: string, headers: Record<string, string | number>, write: (req: ReturnType<typeof httpRequest>) => void): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/v1/embeddings`, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    write(req);
  });
}

describe('lco serve limits and failures (in process, CPU stand-in)', () => {
  it('413 for a body over the limit, by Content-Length and while streaming; 503 while loading and closing', async () => {
    const { server, url } = await started(null, { maxBodyBytes: 1000 });
    expectError(await post(url, { model: 'stand-in', input: 'x' }), 503, 'model_loading');
    const h = await call(`${url}/health`, 'GET');
    expect([h.status, h.body]).toEqual([503, { status: 'loading' }]);
    server.attach(standIn());
    expect((await call(`${url}/health`, 'GET')).status).toBe(200);
    const big = JSON.stringify({ model: 'stand-in', input: 'a'.repeat(2000) });
    const declared = await raw(url, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(big) }, (req) => req.end(big));
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body!).error.code).toBe('request_too_large');
    // chunked, no length: refused once 1000 bytes have arrived, before the client is done
    let ended = false;
    const streamed = await raw(url, { 'Content-Type': 'application/json' }, (req) => {
      req.write(big.slice(0, 600));
      setTimeout(() => req.write(big.slice(600, 1200)), 20);
      setTimeout(() => ((ended = true), req.end(big.slice(1200))), 300);
    });
    expect(streamed.status).toBe(413);
    expect(ended, 'answered before the body was complete').toBe(false);
    expect((await post(url, { model: 'stand-in', input: 'a'.repeat(10) })).status).toBe(200);
    const closing = server.close();
    expect(server.state).toBe('closing');
    await closing;
    expect(server.http.listening).toBe(false);
  });

  it('429 when the queue is full; 500 when embedding fails, and the server goes on', async () => {
    const b = standIn();
    const { server, url } = await started(b, { batchSize: 1, batchWaitMs: 0, maxInputs: 2, maxQueue: 2 });
    const release = b.hold();
    const first = post(url, { model: 'stand-in', input: 'a' }); // on the "GPU", held
    await until(() => b.calls.length === 1, 'the first request is being embedded');
    const second = post(url, { model: 'stand-in', input: ['b', 'c'] }); // fills the queue
    await until(() => server.queued === 2, 'the second request is queued');
    const e = expectError(await post(url, { model: 'stand-in', input: 'd' }), 429, 'rate_limit_exceeded');
    expect(e.type).toBe('requests');
    release();
    expect((await first).status).toBe(200);
    expect((await second).body.data.length).toBe(2);
    expect(b.calls.map((rows) => rows.length)).toEqual([1, 1, 1]);

    b.fail = true;
    const failed = await post(url, { model: 'stand-in', input: ['a', 'b'] });
    expect(expectError(failed, 500).type).toBe('server_error');
    b.fail = false;
    expect((await post(url, { model: 'stand-in', input: 'a' })).status).toBe(200);
    await server.close();
  });

  it('a client that leaves mid-body or mid-embedding: its inputs leave the queue, nothing breaks', async () => {
    const b = standIn();
    const logs: string[] = [];
    const { server, url } = await started(b, { batchSize: 1, batchWaitMs: 0, log: (line) => logs.push(line) });
    // leaves while sending the body: nothing is embedded, nothing is logged as an error
    const midBody = await raw(url, { 'Content-Type': 'application/json', 'Content-Length': 100 }, (req) => {
      req.write('{"model": "stand-in", ');
      setTimeout(() => req.destroy(), 30);
    });
    expect(midBody.error).toBeDefined(); // the client's own side of the hang-up
    await new Promise((r) => setTimeout(r, 20));
    expect(b.calls).toEqual([]);
    expect(logs).toEqual([]);
    // leaves while its inputs are queued behind a held batch
    const release = b.hold();
    const first = post(url, { model: 'stand-in', input: 'a' });
    await until(() => b.calls.length === 1, 'the first request is being embedded');
    const ctl = new AbortController();
    const leaving = fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'stand-in', input: ['p', 'q', 'r'] }), signal: ctl.signal });
    await until(() => server.queued === 3, 'the leaving request is queued');
    ctl.abort();
    await expect(leaving).rejects.toThrow();
    await until(() => server.queued === 0, 'its inputs left the queue');
    release();
    expect((await first).status).toBe(200);
    expect(b.calls.length).toBe(1); // p, q, r were never embedded
    // leaves while its own input is on the "GPU": the vector is computed and dropped
    const release2 = b.hold();
    const ctl2 = new AbortController();
    const leaving2 = fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'stand-in', input: 's' }), signal: ctl2.signal });
    await until(() => b.calls.length === 2, 'the second leaving request is being embedded');
    ctl2.abort();
    await expect(leaving2).rejects.toThrow();
    release2();
    const after = await post(url, { model: 'stand-in', input: ['t', 'u'] });
    expect(after.status).toBe(200);
    expect(after.body.data.length).toBe(2);
    await server.close();
  });
});

describe('lco serve (child process)', () => {
  it('answers /health 503 while loading, then serves; SIGTERM finishes the request in flight and exits 0', async () => {
    const child = spawn(process.execPath, [`${ROOT}bin/lco.mjs`, 'serve', '--model', MODEL, '--port', '0', '--batch-size', '8', '--prompt', 'lco'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c) => {
        stdout += c;
        const m = /lco serve: listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`lco serve exited early: ${stderr}`)));
    });
    const first = await call(`${url}/health`, 'GET');
    expect([first.status, first.body], 'listening before the model is loaded').toEqual([503, { status: 'loading' }]);
    await until(() => stderr.includes('serving "tiny-decoder"'), 'the model loads', 60_000);
    expect((await call(`${url}/health`, 'GET')).body).toEqual({ status: 'ok' });

    // a large request, in flight when SIGTERM arrives
    const input = Array.from({ length: 192 }, (_, i) => `text number ${i} about ${'trees and leaves '.repeat(1 + (i % 12))}`);
    const inFlight = post(url, { model: 'tiny-decoder', input, dimensions: 8 });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    await until(() => stderr.includes('SIGTERM'), 'the signal is seen', 10_000);
    // asked while the big request runs (about a second on lavapipe): 503, the listener still open
    const during = await call(`${url}/health`, 'GET');
    expect([during.status, during.body]).toEqual([503, { status: 'shutting_down' }]);
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.body.data.length).toBe(192);
    for (const d of r.body.data) expect(Math.abs(Math.hypot(...d.embedding) - 1)).toBeLessThan(1e-5);
    expect(await exited, stderr).toBe(0);
    expect(stderr).toContain('lco serve: stopped');
  });
});
