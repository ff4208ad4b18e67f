// Checking a POST /v1/embeddings body, in OpenAI's order: JSON, fields known,
// model, input, encoding_format, dimensions, user. Every problem is an
// ApiError (400, or 404 model_not_found for a model that is not served) whose
// param names the field, so a client sees what to fix.
//
// input forms (the API's four):
//   "text"                one text
//   ["a", "b", ...]       texts
//   [1, 2, 3]             one input of token ids, used as given
//   [[1, 2], [3], ...]    several id inputs
// Each input becomes the id row the model reads; rows over maxTokens are
// refused (never cut), and the request's token count is the sum of the rows.
import { EmbedInputError } from '../embed/embedder.ts';
import type { EmbeddingBackend } from './backend.ts';
import { ApiError, badRequest } from './openai-shapes.ts';

export interface ParsedEmbeddingRequest {
  /** One id row per input, in input order. */
  rows: number[][];
  /** Sum of the rows' lengths. */
  tokens: number;
  /** Width of the returned vectors (dimensions, or the model's width). */
  dimensions: number;
  encoding: 'float' | 'base64';
}

const FIELDS = new Set(['input', 'model', 'encoding_format', 'dimensions', 'user']);
const INPUT_FORMS = 'a string, an array of strings, an array of token ids, or an array of arrays of token ids';

/** The body's text as a checked request for `backend`, at most `maxInputs` inputs. */
export function parseEmbeddingRequest(text: string, backend: EmbeddingBackend, maxInputs: number): ParsedEmbeddingRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest(`We could not parse the JSON body of your request (${(err as Error).message}). The body must be a JSON object.`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The request body must be a JSON object.');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw badRequest(`Unrecognized request argument supplied: ${k}`, k);

  if (b.model === undefined) throw badRequest('you must provide a model parameter', 'model');
  if (typeof b.model !== 'string') throw badRequest(`model must be a string, got ${kind(b.model)}`, 'model');
  if (b.model !== backend.id) {
    throw new ApiError(404, `The model \`${b.model}\` does not exist; this server serves \`${backend.id}\`.`, 'invalid_request_error', 'model', 'model_not_found');
  }

  const inputs = splitInputs(b.input, maxInputs);
  const rows = inputs.map((x, i) => toRow(x, i, backend));
  const tokens = rows.reduce((s, r) => s + r.length, 0);

  const encoding = b.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64') {
    throw badRequest(`encoding_format must be "float" or "base64", got ${JSON.stringify(b.encoding_format)}`, 'encoding_format');
  }
  const C = backend.hidden;
  const dimensions = b.dimensions ?? C;
  if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1 || dimensions > C) {
    throw badRequest(`dimensions must be an integer from 1 to ${C}, got ${JSON.stringify(b.dimensions)}`, 'dimensions');
  }
  if (b.user !== undefined && typeof b.user !== 'string') throw badRequest(`user must be a string, got ${kind(b.user)}`, 'user');
  return { rows, tokens, dimensions, encoding };
}

/** The input field as a list of texts or id lists (types checked, not contents). */
function splitInputs(input: unknown, maxInputs: number): (string | number[])[] {
  if (input === undefined) throw badRequest('you must provide an input parameter', 'input');
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) throw badRequest(`input must be ${INPUT_FORMS}; got ${kind(input)}`, 'input');
  if (input.length === 0) throw badRequest('input must not be empty', 'input');
  let list: (string | number[])[];
  if (input.every((x) => typeof x === 'string')) list = input as string[];
  else if (input.every((x) => typeof x === 'number')) list = [input as number[]];
  else if (input.every((x) => Array.isArray(x))) {
    (input as unknown[][]).forEach((row, i) => {
      const j = row.findIndex((x) => typeof x !== 'number');
      if (j >= 0) throw badRequest(`input[${i}][${j}] must be a token id (a number), got ${kind(row[j])}`, 'input');
    });
    list = input as number[][];
  } else throw badRequest(`input must be ${INPUT_FORMS}; got an array mixing ${[...new Set(input.map(kind))].join(' and ')}`, 'input');
  if (list.length > maxInputs) throw badRequest(`input has ${list.length} items, more than the ${maxInputs} allowed per request`, 'input');
  return list;
}

/** One input's id row, checked against the vocabulary and the token limit. */
function toRow(x: string | number[], i: number, backend: EmbeddingBackend): number[] {
  const where = `input[${i}]`;
  if (typeof x === 'string' && x.length === 0) throw badRequest(`${where} is an empty string`, 'input');
  let row: number[];
  try {
    row = backend.tokenize(typeof x === 'string' ? x : { ids: x }, where);
  } catch (err) {
    if (err instanceof EmbedInputError) throw badRequest(err.message, 'input');
    throw err;
  }
  if (row.length > backend.maxTokens) {
    throw badRequest(`This model's maximum context length is ${backend.maxTokens} tokens, however ${where} has ${row.length} tokens` +
      `${typeof x === 'string' ? ' (prompt template included)' : ''}. Please shorten it.`, 'input', 'context_length_exceeded');
  }
  return row;
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
