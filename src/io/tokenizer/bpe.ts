// The BPE model: a word (one pre-tokenized piece) starts as its characters
// and the adjacent pair with the lowest merge rank is merged, leftmost first,
// until no pair has a rank. A min-heap of (rank, position) over a linked list
// of symbols makes a word of n characters cost O(n log n), so a 1 MB run of
// spaces costs no more than its length; a cache skips repeated words.

import {
  asArray, asIndex, asObject, asString, describe, get, indexPath, keyPath, optBool, optString, typeOf,
  TokenizerJsonError, type Json, type JsonObject,
} from './json.ts';

/** Words longer than this are not cached: they are rare and would pin memory. */
const CACHE_MAX_WORD = 256;
/** Entries before the cache is dropped and refilled (HF keeps 10k). */
const CACHE_MAX_ENTRIES = 100_000;

/** A min-heap of (rank, pos) pairs, ordered by rank then position. */
class PairHeap {
  private rank: number[] = [];
  private pos: number[] = [];

  get size(): number { return this.rank.length; }

  private less(i: number, j: number): boolean {
    return this.rank[i] < this.rank[j] || (this.rank[i] === this.rank[j] && this.pos[i] < this.pos[j]);
  }

  private swap(i: number, j: number): void {
    const r = this.rank[i]; this.rank[i] = this.rank[j]; this.rank[j] = r;
    const p = this.pos[i]; this.pos[i] = this.pos[j]; this.pos[j] = p;
  }

  push(rank: number, pos: number): void {
    this.rank.push(rank);
    this.pos.push(pos);
    for (let i = this.rank.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the smallest entry; its rank and position are left in `top`. */
  pop(top: { rank: number; pos: number }): void {
    top.rank = this.rank[0];
    top.pos = this.pos[0];
    const last = this.rank.length - 1;
    this.swap(0, last);
    this.rank.pop();
    this.pos.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

export class BpeModel {
  /** Internal symbol index (vocab order) -> token string and -> id. */
  private readonly tokens: string[] = [];
  private readonly ids: number[] = [];
  private readonly index = new Map<string, number>();
  /** Pair key (a * n + b over internal indices) -> merge rank; rank -> merged symbol. */
  private readonly ranks = new Map<number, number>();
  private readonly merged: number[] = [];
  private readonly unk: number;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly idToToken = new Map<number, string>();

  constructor(v: Json | undefined, path: string) {
    const obj = asObject(v, path);
    typeOf(obj, path, ['BPE'] as const);
    checkUnsupported(obj, path);
    this.readVocab(get(obj, 'vocab'), keyPath(path, 'vocab'));
    this.readMerges(get(obj, 'merges'), keyPath(path, 'merges'));
    const unk = optString(obj, 'unk_token', path);
    this.unk = unk === null ? -1 : this.index.get(unk) ?? -1;
    if (unk !== null && this.unk < 0) throw new TokenizerJsonError(keyPath(path, 'unk_token'), `${JSON.stringify(unk)} is not in ${path}.vocab`);
    this.fuseUnk = optBool(obj, 'fuse_unk', path, false);
    this.ignoreMerges = optBool(obj, 'ignore_merges', path, false);
  }

  private readVocab(v: Json | undefined, path: string): void {
    const vocab = asObject(v, path);
    for (const [token, id] of Object.entries(vocab)) {
      const p = keyPath(path, token);
      const n = asIndex(id, p);
      const other = this.idToToken.get(n);
      if (other !== undefined) throw new TokenizerJsonError(p, `id ${n} is also the id of ${JSON.stringify(other)}`);
      this.idToToken.set(n, token);
      this.index.set(token, this.tokens.length);
      this.tokens.push(token);
      this.ids.push(n);
    }
  }

  /** Merges as "a b" strings (split at the one space) or ["a", "b"] pairs; the rank is the position. */
  private readMerges(v: Json | undefined, path: string): void {
    const merges = v === undefined || v === null ? [] : asArray(v, path);
    const n = this.tokens.length;
    merges.forEach((m, rank) => {
      const p = indexPath(path, rank);
      const [a, b] = mergeParts(m, p);
      const ia = this.symbol(a, p), ib = this.symbol(b, p), ic = this.symbol(a + b, p);
      this.ranks.set(ia * n + ib, rank); // a repeated pair keeps its last rank, as HF and GPT-2
      this.merged.push(ic);
    });
  }

  private symbol(token: string, path: string): number {
    const i = this.index.get(token);
    if (i === undefined) throw new TokenizerJsonError(path, `${JSON.stringify(token)} is not in model.vocab`);
    return i;
  }

  /** The id of a vocab token, or undefined. */
  tokenToId(token: string): number | undefined {
    const i = this.index.get(token);
    return i === undefined ? undefined : this.ids[i];
  }

  tokenOf(id: number): string | undefined {
    return this.idToToken.get(id);
  }

  /** Largest id + 1. */
  get idLimit(): number {
    return this.ids.reduce((m, id) => Math.max(m, id + 1), 0);
  }

  /** Appends the ids of one word. */
  encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached !== undefined) { for (const id of cached) out.push(id); return; }
    const ids = this.bpe(word);
    if (word.length <= CACHE_MAX_WORD) {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  private bpe(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.index.get(word);
      if (whole !== undefined) return [this.ids[whole]];
    }
    const sym = this.initialSymbols(word);
    const len = sym.length;
    const next = new Int32Array(len), prev = new Int32Array(len);
    for (let i = 0; i < len; i++) { next[i] = i + 1 < len ? i + 1 : -1; prev[i] = i - 1; }
    const heap = new PairHeap();
    const pushPair = (i: number) => {
      if (i < 0 || next[i] < 0) return;
      const r = this.ranks.get(sym[i] * this.tokens.length + sym[next[i]]);
      if (r !== undefined) heap.push(r, i);
    };
    for (let i = 0; i + 1 < len; i++) pushPair(i);
    const top = { rank: 0, pos: 0 };
    while (heap.size > 0) {
      heap.pop(top);
      const i = top.pos, j = next[i];
      // Entries go stale when a neighbour merges; the pair at i must still have this rank.
      if (sym[i] < 0 || j < 0 || this.ranks.get(sym[i] * this.tokens.length + sym[j]) !== top.rank) continue;
      sym[i] = this.merged[top.rank];
      sym[j] = -1;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      pushPair(prev[i]);
      pushPair(i);
    }
    const ids: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) ids.push(this.ids[sym[i]]);
    return ids;
  }

  /** The word's characters as symbols; unknown ones become unk_token (fused if fuse_unk). */
  private initialSymbols(word: string): number[] {
    const sym: number[] = [];
    for (const ch of word) {
      const i = this.index.get(ch);
      if (i !== undefined) { sym.push(i); continue; }
      if (this.unk < 0) {
        throw new Error(`BPE: character ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) is not in model.vocab and model.unk_token is not set`);
      }
      if (!(this.fuseUnk && sym.length > 0 && sym[sym.length - 1] === this.unk)) sym.push(this.unk);
    }
    return sym;
  }
}

/** The two parts of a merge: "a b" or ["a", "b"]. */
function mergeParts(m: Json, path: string): [string, string] {
  if (typeof m === 'string') {
    const parts = m.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new TokenizerJsonError(path, `expected "a b" (two tokens separated by one space), got ${describe(m)}`);
    }
    return [parts[0], parts[1]];
  }
  if (Array.isArray(m)) {
    if (m.length !== 2) throw new TokenizerJsonError(path, `expected a pair ["a", "b"], got an array of ${m.length}`);
    return [asString(m[0], indexPath(path, 0)), asString(m[1], indexPath(path, 1))];
  }
  throw new TokenizerJsonError(path, `expected "a b" or ["a", "b"], got ${describe(m)}`);
}

/** BPE options this implementation does not have: refuse rather than tokenize differently. */
function checkUnsupported(obj: JsonObject, path: string): void {
  const dropout = get(obj, 'dropout');
  if (dropout !== undefined && dropout !== null && dropout !== 0) {
    throw new TokenizerJsonError(keyPath(path, 'dropout'), `BPE dropout is not supported (got ${describe(dropout)})`);
  }
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix']) {
    const s = optString(obj, key, path);
    if (s !== null && s !== '') throw new TokenizerJsonError(keyPath(path, key), `${JSON.stringify(s)} is not supported (only null or "")`);
  }
  if (optBool(obj, 'byte_fallback', path, false)) {
    throw new TokenizerJsonError(keyPath(path, 'byte_fallback'), 'byte_fallback true is not supported (byte-level BPE needs no fallback)');
  }
}
