// The HTTP side of `lco serve` on node:http: routes, body limits, states,
// errors, and the answer of POST /v1/embeddings.
//
//   GET  /health         200 {status: "ok"} when ready; 503 {status: "loading" | "shutting_down"}
//   GET  /v1/models      the served model (OpenAI's list shape)
//   POST /v1/embeddings  parse (request.ts) -> queue (batcher.ts) -> truncate to
//                        `dimensions` and re-normalise -> float or base64
//
// States: loading (listening, no model yet: 503), ready, closing (503 to new
// requests while in-flight ones finish; then the listener closes). Errors are
// OpenAI-shaped (openai-shapes.ts): 400 bad request, 404 unknown model or
// route, 405 wrong method, 413 body over maxBodyBytes (checked from
// Content-Length and again while reading, so a large body is never
// buffered), 429 queue full, 503 loading or closing, 500 anything else; no
// request can take the process down.
//
// A client that disconnects before its answer aborts its request: its queued
// inputs leave the queue, and nothing is written to the dead socket.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmbeddingBackend } from './backend.ts';
import { Batcher, QueueFullError } from './batcher.ts';
import { ApiError, errorBody, float32Base64, type EmbeddingResponse, type ModelList } from './openai-shapes.ts';
import { parseEmbeddingRequest } from './request.ts';

export interface ServerOptions {
  /** Most inputs per embed call (default 32). */
  batchSize?: number;
  /** Longest wait (ms) for a batch to fill (default 2). */
  batchWaitMs?: number;
  /** Most inputs per request (default 2048, as OpenAI). */
  maxInputs?: number;
  /** Most inputs waiting in the queue (default 8192); a request that does not fit gets 429. */
  maxQueue?: number;
  /** Largest request body in bytes (default 4 MiB); a larger one gets 413. */
  maxBodyBytes?: number;
  /** Where internal errors are reported (default stderr). */
  log?: (line: string) => void;
}

/** The defaults of ServerOptions (also the defaults of `lco serve`'s flags). */
export const SERVER_DEFAULTS = { batchSize: 32, batchWaitMs: 2, maxInputs: 2048, maxQueue: 8192, maxBodyBytes: 4 * 1024 * 1024 } as const;

type State = 'loading' | 'ready' | 'closing';

const ROUTES: Record<string, string> = { '/health': 'GET', '/v1/models': 'GET', '/v1/embeddings': 'POST' };

export class EmbeddingServer {
  readonly http: Server;
  readonly opts: Required<ServerOptions>;
  #state: State = 'loading';
  #backend: EmbeddingBackend | null = null;
  #batcher: Batcher | null = null;
  #created = 0;
  #inFlight = 0;
  #settled: (() => void)[] = [];
  #closing: Promise<void> | null = null;

  constructor(opts: ServerOptions = {}) {
    this.opts = {
      ...SERVER_DEFAULTS,
      log: (line) => process.stderr.write(`${line}\n`), ...opts,
    };
    for (const k of ['batchSize', 'maxInputs', 'maxQueue', 'maxBodyBytes'] as const) {
      if (!Number.isInteger(this.opts[k]) || this.opts[k] < 1) throw new RangeError(`${k} ${this.opts[k]} must be a positive integer`);
    }
    if (this.opts.maxQueue < this.opts.maxInputs) throw new RangeError(`maxQueue ${this.opts.maxQueue} must be >= maxInputs ${this.opts.maxInputs} (else a full request could never fit)`);
    this.http = createServer((req, res) => void this.#handle(req, res));
  }

  get state(): State {
    return this.#state;
  }

  /** Embed calls made so far (each is one GPU batch). */
  get embedCalls(): number {
    return this.#batcher?.calls ?? 0;
  }

  /** Inputs waiting for a batch. */
  get queued(): number {
    return this.#batcher?.queued ?? 0;
  }

  /** Starts listening; resolves with the base URL (the real port when `port` is 0). */
  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        const a = this.http.address() as AddressInfo;
        resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
      });
    });
  }

  /** The model is loaded: serve it. */
  attach(backend: EmbeddingBackend): void {
    if (this.#state !== 'loading') return;
    this.#backend = backend;
    this.#batcher = new Batcher((rows) => backend.embedRows(rows), {
      batchSize: this.opts.batchSize, waitMs: this.opts.batchWaitMs, maxQueue: this.opts.maxQueue,
    });
    this.#created = Math.floor(Date.now() / 1000);
    this.#state = 'ready';
  }

  /**
   * Stops serving: new requests get 503 (and their connections close) while
   * the requests in flight and any GPU work finish; then the listener and
   * the remaining idle connections close.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closing';
      while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#settled.push(resolve));
      await this.#batcher?.idle();
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      // Answers sent while closing carry Connection: close; idle keep-alive
      // sockets go now, and any socket still open (a request that never
      // finished arriving) after a grace period.
      this.http.closeIdleConnections();
      const grace = setTimeout(() => this.http.closeAllConnections(), 5000);
      await closed;
      clearTimeout(grace);
    })();
    return this.#closing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#inFlight++;
    try {
      await this.#route(req, res);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, `internal error: ${(err as Error)?.message ?? String(err)}`, 'server_error');
      if (res.destroyed || req.socket.destroyed) return; // the client left (e.g. mid-body): nobody to tell
      if (e.status === 500) this.opts.log(`lco serve: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      this.#send(req, res, e.status, errorBody(e), e.status === 405 ? { Allow: ROUTES[pathOf(req)] } : {});
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const w of this.#settled.splice(0)) w();
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    const method = ROUTES[path];
    if (!method) throw new ApiError(404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error', null, 'unknown_url');
    if (req.method !== method) throw new ApiError(405, `${req.method} is not allowed on ${path}; use ${method}`, 'invalid_request_error', null, 'method_not_allowed');
    if (path === '/health') {
      const status = this.#state === 'ready' ? 'ok' : this.#state === 'loading' ? 'loading' : 'shutting_down';
      return this.#send(req, res, this.#state === 'ready' ? 200 : 503, { status });
    }
    const backend = this.#available();
    if (path === '/v1/models') {
      const list: ModelList = { object: 'list', data: [{ id: backend.id, object: 'model', created: this.#created, owned_by: 'lco-webgpu' }] };
      return this.#send(req, res, 200, list);
    }
    const text = await readBody(req, this.opts.maxBodyBytes);
    const parsed = parseEmbeddingRequest(text, backend, this.opts.maxInputs);
    const gone = new AbortController();
    const onClose = () => !res.writableFinished && gone.abort(new Error('the client disconnected'));
    res.on('close', onClose);
    let vectors: Float32Array[];
    try {
      vectors = await this.#batcher!.submit(parsed.rows, gone.signal);
    } catch (err) {
      if (gone.signal.aborted) return; // nobody to answer
      if (err instanceof QueueFullError) throw new ApiError(429, `The server is busy: ${err.message}. Retry shortly.`, 'requests', null, 'rate_limit_exceeded');
      throw err;
    } finally {
      res.off('close', onClose);
    }
    if (res.destroyed) return;
    const answer: EmbeddingResponse = {
      object: 'list',
      data: vectors.map((v, index) => {
        const e = prefixNormalised(v, parsed.dimensions);
        return { object: 'embedding', index, embedding: parsed.encoding === 'base64' ? float32Base64(e) : Array.from(e) };
      }),
      model: backend.id,
      usage: { prompt_tokens: parsed.tokens, total_tokens: parsed.tokens },
    };
    this.#send(req, res, 200, answer);
  }

  /**
   * Writes a JSON answer unless the socket is gone. The connection is closed
   * after it when the request body was not read to its end (an early error)
   * or the server is not ready (loading, closing).
   */
  #send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return;
    const json = JSON.stringify(body);
    const h: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), ...headers };
    if (!req.complete || this.#state !== 'ready') h.Connection = 'close';
    res.writeHead(status, h);
    res.end(json);
  }

  /** The backend when ready; else the 503 of the state. */
  #available(): EmbeddingBackend {
    if (this.#state === 'ready') return this.#backend!;
    throw new ApiError(503, this.#state === 'loading' ? 'The model is still loading; retry shortly.' : 'The server is shutting down.',
      'server_error', null, this.#state === 'loading' ? 'model_loading' : 'shutting_down');
  }
}

function pathOf(req: IncomingMessage): string {
  const p = (req.url ?? '/').split('?')[0];
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** The first d entries of a unit vector, re-normalised (the vector itself when d is its length). */
function prefixNormalised(v: Float32Array, d: number): Float32Array {
  if (d === v.length) return v;
  let s = 0;
  for (let i = 0; i < d; i++) s += v[i] * v[i];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  return Float32Array.from(v.subarray(0, d), (x) => x * inv);
}

/** The body as text, refusing (413) more than `max` bytes: by Content-Length first, then while reading. */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  const tooLarge = () => new ApiError(413, `The request body is larger than the ${max} bytes allowed.`, 'invalid_request_error', null, 'request_too_large');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > max) {
        req.off('data', onData);
        req.pause();
        return reject(tooLarge());
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('close', () => req.complete || reject(new Error('the client left before the body was complete')));
  });
}
