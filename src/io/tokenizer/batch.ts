// Truncation and padding of a batch of encoded sequences into the [B, T]
// ids + attention mask layout the model and the pooling kernels take.

import type { SingleTemplate } from './postprocess.ts';

export interface BatchOptions {
  /** Add the post_processor's special tokens (BOS/EOS) around each sequence. Default false. */
  addSpecialTokens?: boolean;
  /** Longest a sequence may be, special tokens included. Default: no limit. */
  maxLength?: number;
  /** Which end loses tokens past maxLength. Default 'right'. */
  truncation?: 'right' | 'left';
  /** Where padding goes; 'none' returns ragged arrays. Default 'right'. */
  padding?: 'right' | 'left' | 'none';
  /** Pad to the longest sequence of the batch, or to maxLength. Default 'longest'. */
  padTo?: 'longest' | 'maxLength';
  /** Id written at padded positions. Default: tokenizer.json's padding.pad_id, else 0. */
  padId?: number;
}

/** Row-major [batch, length] ids and mask (1 = token, 0 = padding), i32 as the GPU kernels take. */
export interface PaddedBatch {
  ids: Int32Array;
  attentionMask: Int32Array;
  batch: number;
  length: number;
  /** Tokens per row, padding excluded. */
  lengths: number[];
}

export interface RaggedBatch {
  ids: number[][];
  attentionMask: number[][];
}

function checkLength(n: number | undefined, what: string): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new RangeError(`encodeBatch: ${what} must be a non-negative integer, got ${n}`);
}

/** Cuts a sequence to `max` tokens, keeping the right or left end, then wraps it in the template. */
export function truncateAndWrap(ids: number[], template: SingleTemplate, opts: BatchOptions): number[] {
  const specials = template.prefix.length + template.suffix.length;
  if (opts.maxLength !== undefined) {
    checkLength(opts.maxLength, 'maxLength');
    const room = opts.maxLength - specials;
    if (room < 0) throw new RangeError(`encodeBatch: maxLength ${opts.maxLength} leaves no room beside the ${specials} special tokens`);
    if (ids.length > room) ids = opts.truncation === 'left' ? ids.slice(ids.length - room) : ids.slice(0, room);
  }
  return specials === 0 ? ids : [...template.prefix, ...ids, ...template.suffix];
}

export function pad(rows: number[][], opts: BatchOptions, defaultPadId: number): PaddedBatch {
  const padId = opts.padId ?? defaultPadId;
  if (!Number.isInteger(padId)) throw new RangeError(`encodeBatch: padId must be an integer, got ${padId}`);
  const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
  let length = longest;
  if (opts.padTo === 'maxLength') {
    if (opts.maxLength === undefined) throw new RangeError("encodeBatch: padTo 'maxLength' needs maxLength");
    length = opts.maxLength;
  }
  const batch = rows.length;
  const ids = new Int32Array(batch * length).fill(padId);
  const attentionMask = new Int32Array(batch * length);
  rows.forEach((row, b) => {
    const start = b * length + (opts.padding === 'left' ? length - row.length : 0);
    ids.set(row, start);
    attentionMask.fill(1, start, start + row.length);
  });
  return { ids, attentionMask, batch, length, lengths: rows.map((r) => r.length) };
}

export function ragged(rows: number[][]): RaggedBatch {
  return { ids: rows, attentionMask: rows.map((r) => r.map(() => 1)) };
}
