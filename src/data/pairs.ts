// Contrastive training data in sentence-transformers' column layout, one
// JSON object per line:
//
//   {"anchor": A, "positive": P}                              pairs (in-batch negatives only)
//   {"anchor": A, "positive": P, "negative": N}               triplets
//   {"anchor": A, "positive": P, "negative_1": N1, ..., "negative_k": Nk}
//
// Each of A, P, N is a string, {"text": "..."}, {"input_ids": [...]}, or for
// a multimodal model {"image": "path"} or {"image": "path", "text": "..."}
// (paths relative to the JSONL file).
// Optional UNITE modality labels (bit sets: text 1, image 2, video 4):
// "positive_modality" and "negative_modality" (a number, or a list for
// negative_1..k); default 1. Every row must have the same number of
// negatives. A bad row (bad JSON, a missing column, an empty text, ids
// outside the vocabulary, another negative count) is reported as
// file:line; the caller stops or skips it.
import type { EmbedInput } from '../embed/embedder.ts';
import { parseJsonl, readJsonl, type JsonlRow } from '../io/jsonl.ts';

/** A text, token ids used exactly as given, or an image (a resolved path) with an optional text. */
export type Item = { text: string } | { ids: number[] } | { image: string; text?: string };

/** The Embedder's input for an item. */
export function itemInput(x: Item): EmbedInput {
  return 'image' in x ? x : 'text' in x ? x.text : { ids: x.ids };
}

export interface PairRow {
  /** 1-based line in the file. */
  line: number;
  anchor: Item;
  positive: Item;
  negatives: Item[];
  positiveModality: number;
  negativeModalities: number[];
}

export interface PairDataset {
  source: string;
  rows: PairRow[];
  /** Negatives per row (the same for every row). */
  k: number;
  /** Rows refused, with their reason ("file:line: ..."). */
  errors: string[];
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

/**
 * One item of a JSONL file: a string, {"text"}, {"input_ids"} (checked
 * against the vocabulary) or {"image", "text"?} (the path resolved against
 * `source`'s folder). `column` names it in errors.
 */
/**
 * A path read from a data file, relative to that file's folder unless it is
 * absolute (POSIX "/..." or Windows "C:\\..."); written without node:path so
 * the parsing runs in a browser too.
 */
function besideFile(file: string, path: string): string {
  if (/^([\\/]|[A-Za-z]:[\\/])/.test(path)) return path;
  const cut = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  return cut < 0 ? path : `${file.slice(0, cut + 1)}${path.replace(/^\.[\\/]/, '')}`;
}

export function parseItem(v: unknown, column: string, vocab: number, source: string): Item {
  if (typeof v === 'string') {
    if (v.length === 0) throw new DatasetError(`"${column}" is an empty text`);
    return { text: v };
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as { text?: unknown; input_ids?: unknown; image?: unknown };
    if (o.image !== undefined) {
      if (typeof o.image !== 'string' || o.image.length === 0) throw new DatasetError(`"${column}".image must be a non-empty path`);
      if (o.text !== undefined && (typeof o.text !== 'string' || o.text.length === 0)) throw new DatasetError(`"${column}".text beside an image must be a non-empty string`);
      const image = besideFile(source, o.image);
      return o.text === undefined ? { image } : { image, text: o.text as string };
    }
    if (typeof o.text === 'string') return parseItem(o.text, column, vocab, source);
    if (Array.isArray(o.input_ids)) {
      if (o.input_ids.length === 0) throw new DatasetError(`"${column}".input_ids is empty`);
      o.input_ids.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new DatasetError(`"${column}".input_ids[${i}] = ${JSON.stringify(id)} is outside the vocabulary [0, ${vocab})`);
      });
      return { ids: o.input_ids as number[] };
    }
  }
  throw new DatasetError(`"${column}" must be a string, {"text": ...}, {"input_ids": [...]} or {"image": path, "text"?: ...}${v === undefined ? ' (missing)' : ''}`);
}

function modality(v: unknown, what: string): number {
  if (v === undefined) return 1;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 0xffff) throw new DatasetError(`"${what}" must be a positive integer bit set (text 1, image 2, video 4)`);
  return v as number;
}

function negativesOf(o: Record<string, unknown>): { columns: string[] } {
  if ('negative' in o) return { columns: ['negative'] };
  const cols: string[] = [];
  for (let j = 1; `negative_${j}` in o; j++) cols.push(`negative_${j}`);
  return { columns: cols };
}

/** Parses rows; bad ones go to `errors` (never thrown), so the caller chooses stop or skip. */
export function parsePairs(source: string, lines: JsonlRow[], vocab: number): PairDataset {
  const rows: PairRow[] = [];
  const errors: string[] = [];
  let k: number | null = null;
  for (const r of lines) {
    const where = `${source}:${r.line}`;
    try {
      if (r.error) throw new DatasetError(r.error);
      const o = r.value;
      if (!o || typeof o !== 'object' || Array.isArray(o)) throw new DatasetError('expected a JSON object with "anchor" and "positive"');
      const obj = o as Record<string, unknown>;
      const anchor = parseItem(obj.anchor, 'anchor', vocab, source);
      const positive = parseItem(obj.positive, 'positive', vocab, source);
      const { columns } = negativesOf(obj);
      if (k === null) k = columns.length;
      if (columns.length !== k) throw new DatasetError(`${columns.length} negatives, but earlier rows have ${k} (every row needs the same number)`);
      const negMod = obj.negative_modality;
      const negativeModalities = columns.map((c, j) => modality(Array.isArray(negMod) ? negMod[j] : negMod, 'negative_modality'));
      rows.push({
        line: r.line,
        anchor,
        positive,
        negatives: columns.map((c) => parseItem(obj[c], c, vocab, source)),
        positiveModality: modality(obj.positive_modality, 'positive_modality'),
        negativeModalities,
      });
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`);
    }
  }
  return { source, rows, k: k ?? 0, errors };
}

export async function readPairs(path: string, vocab: number): Promise<PairDataset> {
  return parsePairs(path, await readJsonl(path), vocab);
}

export function parsePairsText(source: string, text: string, vocab: number): PairDataset {
  return parsePairs(source, parseJsonl(text), vocab);
}

const itemKey = (x: Item) => ('image' in x ? `m:${x.image}\u0000${x.text ?? ''}` : 'text' in x ? `t:${x.text}` : `i:${x.ids.join(',')}`);

/**
 * Batches of `size` rows with no text twice in a batch (an anchor, positive
 * or negative that repeats would be its own false negative), as
 * sentence-transformers' NoDuplicatesBatchSampler: rows in the given order
 * fill the current batch unless they clash; clashing rows wait for a later
 * batch. The last incomplete batch is dropped (every step sees `size` rows).
 */
export function noDuplicateBatches(rows: readonly PairRow[], order: readonly number[], size: number): number[][] {
  const batches: number[][] = [];
  const keysOf = new Map<number, string[]>();
  const keys = (i: number) => {
    let k = keysOf.get(i);
    if (!k) keysOf.set(i, (k = [rows[i].anchor, rows[i].positive, ...rows[i].negatives].map(itemKey)));
    return k;
  };
  // a row whose own texts repeat (anchor = positive, ...) can never be batched
  let pending = order.filter((i) => new Set(keys(i)).size === keys(i).length);
  while (pending.length >= size) {
    const batch: number[] = [];
    const seen = new Set<string>();
    const rest: number[] = [];
    for (const i of pending) {
      const k = batch.length < size ? keys(i) : null;
      if (k && k.every((key) => !seen.has(key))) {
        batch.push(i);
        k.forEach((key) => seen.add(key));
      } else {
        rest.push(i);
      }
    }
    if (batch.length < size) break; // what is left cannot fill a batch without duplicates
    batches.push(batch);
    pending = rest;
  }
  return batches;
}
