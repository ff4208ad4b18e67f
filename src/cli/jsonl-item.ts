// One input item of a JSONL row, as lco embed, train and eval accept it:
//   {"text": "..."}                  a text
//   {"input_ids": [...]}             token ids used as given
//   {"image": "path"}                an image (PNG, JPEG or PPM)
//   {"image": "path", "text": "..."} an image followed by a text
// Image paths are relative to the JSONL file's folder (absolute paths stay).
import { dirname, isAbsolute, join } from 'node:path';
import type { EmbedInput } from '../embed/embedder.ts';

export class ItemError extends Error {
  override name = 'ItemError';
}

/** An image path from a JSONL file, resolved against the file's folder. */
export function resolveImagePath(path: string, jsonlPath: string): string {
  return isAbsolute(path) ? path : join(dirname(jsonlPath), path);
}

/** The EmbedInput of a parsed row (or column value); throws ItemError saying what was expected. */
export function jsonlItem(v: unknown, jsonlPath: string): EmbedInput {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as { text?: unknown; input_ids?: unknown; image?: unknown };
    if (o.image !== undefined) {
      if (typeof o.image !== 'string' || o.image.length === 0) throw new ItemError('"image" must be a non-empty path string');
      if (o.text !== undefined && (typeof o.text !== 'string' || o.text.length === 0)) throw new ItemError('"text" beside "image" must be a non-empty string');
      return { image: resolveImagePath(o.image, jsonlPath), text: o.text as string | undefined };
    }
    if (typeof o.text === 'string') return o.text;
    if (Array.isArray(o.input_ids)) return { ids: o.input_ids as number[] };
  }
  throw new ItemError('expected {"text": "..."}, {"input_ids": [...]}, {"image": "path"} or {"image": "path", "text": "..."}');
}
