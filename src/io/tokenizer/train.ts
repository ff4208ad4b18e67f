// Byte-level BPE training, as HF `tokenizers`' BpeTrainer with the ByteLevel
// alphabet: count the pre-tokenized words, start from the 256 byte symbols,
// and repeatedly merge the most frequent adjacent pair (ties: the pair with
// the smallest ids, as HF's heap orders them). Pair counts are updated
// incrementally: an index pair -> words finds the only words a merge touches.

import { AddedTokenMatcher, type AddedToken } from './added.ts';
import { BYTE_LEVEL_ALPHABET } from './bytelevel.ts';
import type { JsonObject } from './json.ts';
import { parsePreTokenizer } from './pretokenize.ts';
import { QWEN2_PATTERN } from './regex.ts';

export interface TrainBpeOptions {
  /** Size of the vocab to reach, special tokens included (it ends larger only if specials + 256 bytes exceed it). */
  vocabSize: number;
  /** A pair seen fewer times than this is never merged. Default 2. */
  minFrequency?: number;
  /** Written as added tokens (special) with the first ids; cut out of the corpus before counting. */
  specialTokens?: readonly string[];
  /** Pre-tokenization to train with and write: GPT-2's ByteLevel regex, Qwen2's Split + ByteLevel, or SmolLM2's Digits + ByteLevel. Default 'gpt2'. */
  preTokenizer?: 'gpt2' | 'qwen2' | 'smollm';
}

/** The tokenizer.json object trainBpe writes. */
export interface TrainedTokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: {
    id: number; content: string; single_word: false; lstrip: false; rstrip: false; normalized: false; special: true;
  }[];
  normalizer: null;
  pre_tokenizer: JsonObject;
  post_processor: JsonObject;
  decoder: JsonObject;
  model: {
    type: 'BPE'; dropout: null; unk_token: null; continuing_subword_prefix: null; end_of_word_suffix: null;
    fuse_unk: false; byte_fallback: false; ignore_merges: false;
    vocab: Record<string, number>;
    merges: [string, string][];
  };
}

/** Pair keys pack two symbol ids: a * PAIR + b. Vocabs stay below PAIR tokens. */
const PAIR = 1 << 21;

function preTokenizerJson(kind: TrainBpeOptions['preTokenizer']): JsonObject {
  switch (kind ?? 'gpt2') {
    case 'gpt2':
      return { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    case 'qwen2':
      return {
        type: 'Sequence', pretokenizers: [
          { type: 'Split', pattern: { Regex: QWEN2_PATTERN }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      };
    case 'smollm':
      return {
        type: 'Sequence', pretokenizers: [
          { type: 'Digits', individual_digits: true },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        ],
      };
    default:
      throw new RangeError(`trainBpe: preTokenizer must be 'gpt2', 'qwen2' or 'smollm', got ${JSON.stringify(kind)}`);
  }
}

function checkOptions(opts: TrainBpeOptions): void {
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 1 || opts.vocabSize >= PAIR) {
    throw new RangeError(`trainBpe: vocabSize must be an integer in [1, ${PAIR}), got ${opts.vocabSize}`);
  }
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new RangeError(`trainBpe: minFrequency must be a positive integer, got ${minFrequency}`);
  }
  for (const s of opts.specialTokens ?? []) if (s === '') throw new RangeError('trainBpe: a special token cannot be empty');
}

/** Word (byte-level string) -> occurrences, special tokens cut out first. */
function countWords(corpus: Iterable<string>, preTokenizer: JsonObject, specials: readonly string[]): Map<string, number> {
  const pre = parsePreTokenizer(preTokenizer, 'pre_tokenizer');
  const added: AddedToken[] = specials.map((content, id) => ({
    id, content, special: true, singleWord: false, lstrip: false, rstrip: false, normalized: false,
  }));
  const matcher = new AddedTokenMatcher(added, null);
  const counts = new Map<string, number>();
  for (const text of corpus) {
    for (const seg of matcher.segments(text)) {
      if (seg.text === undefined) continue;
      for (const w of pre.run(seg.text)) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** A max-heap of (count, pair key): the highest count first, then the smallest key (smallest ids). */
class CountHeap {
  private count: number[] = [];
  private key: number[] = [];

  get size(): number { return this.count.length; }

  private before(i: number, j: number): boolean {
    return this.count[i] > this.count[j] || (this.count[i] === this.count[j] && this.key[i] < this.key[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.count[i]; this.count[i] = this.count[j]; this.count[j] = c;
    const k = this.key[i]; this.key[i] = this.key[j]; this.key[j] = k;
  }

  push(count: number, key: number): void {
    this.count.push(count);
    this.key.push(key);
    for (let i = this.count.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(top: { count: number; key: number }): void {
    top.count = this.count[0];
    top.key = this.key[0];
    const last = this.count.length - 1;
    this.swap(0, last);
    this.count.pop();
    this.key.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.before(l, m)) m = l;
      if (r < last && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

/** The words as symbol arrays, their pair counts and the index pair -> words holding it. */
class PairState {
  readonly counts = new Map<number, number>();
  readonly where = new Map<number, Set<number>>();

  constructor(readonly words: number[][], readonly freqs: number[]) {
    words.forEach((w, i) => this.add(i, w, null));
  }

  /** Adds a word's pairs (weighted by its frequency); records keys containing `fresh` in `created`. */
  private add(i: number, w: number[], created: Set<number> | null, fresh = -1): void {
    const f = this.freqs[i];
    for (let k = 0; k + 1 < w.length; k++) {
      const key = w[k] * PAIR + w[k + 1];
      this.counts.set(key, (this.counts.get(key) ?? 0) + f);
      let set = this.where.get(key);
      if (set === undefined) this.where.set(key, (set = new Set()));
      set.add(i);
      if (created !== null && (w[k] === fresh || w[k + 1] === fresh)) created.add(key);
    }
  }

  private remove(i: number, w: number[]): void {
    const f = this.freqs[i];
    for (let k = 0; k + 1 < w.length; k++) {
      const key = w[k] * PAIR + w[k + 1];
      this.counts.set(key, this.counts.get(key)! - f);
    }
  }

  /**
   * Replaces every (a, b) by c in the words that hold it. Returns the keys of
   * pairs that gained occurrences (only pairs with c can); every other count
   * only fell, which the heap notices lazily.
   */
  merge(a: number, b: number, c: number): Set<number> {
    const key = a * PAIR + b;
    const created = new Set<number>();
    for (const i of this.where.get(key) ?? []) {
      const w = this.words[i];
      const merged = mergeWord(w, a, b, c);
      if (merged === null) continue; // a stale index entry: the pair left this word earlier
      this.remove(i, w);
      this.add(i, merged, created, c);
      this.words[i] = merged;
    }
    this.counts.delete(key);
    this.where.delete(key);
    return created;
  }
}

/** `w` with non-overlapping (a, b) replaced by c left to right, or null when it has none. */
function mergeWord(w: number[], a: number, b: number, c: number): number[] | null {
  let out: number[] | null = null;
  for (let k = 0; k < w.length; k++) {
    if (k + 1 < w.length && w[k] === a && w[k + 1] === b) {
      out ??= w.slice(0, k);
      out.push(c);
      k++;
    } else if (out !== null) out.push(w[k]);
  }
  return out;
}

/**
 * Trains a byte-level BPE tokenizer on `corpus` and returns its tokenizer.json
 * object (load it with `new Tokenizer(json)`). Deterministic: the same corpus
 * and options give the same JSON.
 */
export function trainBpe(corpus: Iterable<string>, opts: TrainBpeOptions): TrainedTokenizerJson {
  checkOptions(opts);
  const minFrequency = opts.minFrequency ?? 2;
  const specials = [...new Set(opts.specialTokens ?? [])];
  const preTokenizer = preTokenizerJson(opts.preTokenizer);

  const tokens: string[] = [];
  const idOf = new Map<string, number>();
  const addToken = (t: string) => { if (!idOf.has(t)) { idOf.set(t, tokens.length); tokens.push(t); } };
  specials.forEach(addToken);
  BYTE_LEVEL_ALPHABET.forEach(addToken);

  const counted = [...countWords(corpus, preTokenizer, specials)];
  const state = new PairState(counted.map(([w]) => Array.from(w, (ch) => idOf.get(ch)!)), counted.map(([, n]) => n));

  const heap = new CountHeap();
  for (const [key, count] of state.counts) heap.push(count, key);
  const merges: [string, string][] = [];
  const top = { count: 0, key: 0 };
  while (tokens.length < opts.vocabSize && heap.size > 0) {
    heap.pop(top);
    const current = state.counts.get(top.key) ?? 0;
    if (current !== top.count) {
      // Stale: re-queue a lowered count; a raised one was queued when it rose.
      if (current > 0 && current < top.count) heap.push(current, top.key);
      continue;
    }
    if (current < minFrequency) break;
    const a = Math.floor(top.key / PAIR), b = top.key % PAIR;
    const merged = tokens[a] + tokens[b];
    addToken(merged); // the same string can come from two different merges
    merges.push([tokens[a], tokens[b]]);
    for (const key of state.merge(a, b, idOf.get(merged)!)) heap.push(state.counts.get(key)!, key);
  }
  return tokenizerJson(tokens, merges, specials, preTokenizer);
}

function tokenizerJson(tokens: string[], merges: [string, string][], specials: string[], preTokenizer: JsonObject): TrainedTokenizerJson {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => { vocab[t] = id; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id, content, single_word: false as const, lstrip: false as const, rstrip: false as const, normalized: false as const, special: true as const,
    })),
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab,
      merges,
    },
  };
}
