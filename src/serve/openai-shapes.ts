// The JSON shapes of OpenAI's embeddings API, as `lco serve` speaks it, and
// its error bodies.
//
//   POST /v1/embeddings  {input, model, encoding_format?, dimensions?, user?}
//     input: "text" | ["text", ...] | [id, ...] | [[id, ...], ...]
//   ->  {object: "list", data: [{object: "embedding", index, embedding}], model,
//        usage: {prompt_tokens, total_tokens}}
//     embedding: number[] (encoding_format "float") or a base64 string of the
//     little-endian float32 bytes (encoding_format "base64"), as OpenAI sends it.
//   GET /v1/models  ->  {object: "list", data: [{id, object: "model", created, owned_by}]}
//
// Every error is {error: {message, type, param, code}} with an HTTP status;
// ApiError carries both, and errorBody() writes the JSON.

export interface EmbeddingRequest {
  input: string | string[] | number[] | number[][];
  model: string;
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

export interface EmbeddingObject {
  object: 'embedding';
  index: number;
  embedding: number[] | string;
}

export interface EmbeddingResponse {
  object: 'list';
  data: EmbeddingObject[];
  model: string;
  /** Tokens actually embedded (prompt template and chat tokens included); no completion tokens, so total = prompt. */
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelObject {
  id: string;
  object: 'model';
  /** Unix seconds: when the server loaded the model. */
  created: number;
  owned_by: 'lco-webgpu';
}

export interface ModelList {
  object: 'list';
  data: ModelObject[];
}

/** OpenAI's error `type`s that this server sends. */
export type ErrorType = 'invalid_request_error' | 'requests' | 'server_error';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

/** An error to answer with: HTTP status plus the OpenAI error fields. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** A 400 invalid_request_error about one request field. */
export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

export function errorBody(e: ApiError): ErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

// Typed arrays use the platform's byte order; OpenAI's bytes are little-endian.
const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/** The little-endian float32 bytes of `v` in base64 (what OpenAI's encoding_format "base64" sends). */
export function float32Base64(v: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const bytes = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) bytes.writeFloatLE(v[i], i * 4);
  return bytes.toString('base64');
}

/** The inverse of float32Base64. */
export function base64Float32(s: string): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  if (LITTLE_ENDIAN) return new Float32Array(Uint8Array.from(bytes).buffer); // copied: Buffer's offset may be unaligned
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
