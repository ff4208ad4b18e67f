// Language-model training data as fixed windows of one token stream.
//
// Documents are tokenized, each followed by the end-of-text id, and
// concatenated (GPT-2 style packing: a window may span two documents, and
// the end-of-text token between them teaches where one ends). Window w is
// stream[w*T .. w*T + T] (T + 1 tokens): inputs are its first T, targets its
// last T, so every position is scored and no padding is needed.
//
// Order: epoch e visits the windows in a permutation drawn from (seed, e).
// The k-th window of a run is a pure function of (seed, k), so a resumed run
// sees exactly the data the uninterrupted run would have.
import { rng } from '../doctor/compare.ts';
import { shuffleInPlace } from '../model/sample.ts';

export class TokenWindows {
  readonly count: number;
  #perms = new Map<number, Uint32Array>();

  constructor(readonly stream: Int32Array, readonly T: number, readonly seed = 0) {
    if (!Number.isInteger(T) || T < 1) throw new RangeError(`window length ${T} must be a positive integer`);
    this.count = Math.max(0, Math.floor((stream.length - 1) / T));
  }

  /** Tokens in the stream; windows cover all but the last < T + 1. */
  get tokens(): number {
    return this.stream.length;
  }

  /** The window that the k-th draw of the run visits (k = 0, 1, ...). */
  windowAt(k: number): number {
    if (this.count === 0) throw new RangeError(`the token stream (${this.stream.length} tokens) is shorter than one window of ${this.T + 1}`);
    const epoch = Math.floor(k / this.count);
    let perm = this.#perms.get(epoch);
    if (!perm) {
      perm = permutation(this.count, (this.seed * 1_000_003 + epoch) >>> 0);
      this.#perms.clear(); // one epoch at a time is enough
      this.#perms.set(epoch, perm);
    }
    return perm[k % this.count];
  }

  /**
   * A batch of windows: ids [B*T] and targets [B*T] (row-major [B, T]),
   * from the given window indices.
   */
  batch(windows: readonly number[]): { ids: Int32Array; targets: Int32Array } {
    const { T } = this;
    const ids = new Int32Array(windows.length * T);
    const targets = new Int32Array(windows.length * T);
    windows.forEach((w, b) => {
      if (!Number.isInteger(w) || w < 0 || w >= this.count) throw new RangeError(`window ${w} is outside [0, ${this.count})`);
      ids.set(this.stream.subarray(w * T, w * T + T), b * T);
      targets.set(this.stream.subarray(w * T + 1, w * T + T + 1), b * T);
    });
    return { ids, targets };
  }
}

/** Fisher-Yates shuffle of 0..n-1 from a seeded generator. */
function permutation(n: number, seed: number): Uint32Array {
  return shuffleInPlace(Uint32Array.from({ length: n }, (_, i) => i), rng(seed));
}

/** Concatenates tokenized documents, each followed by `eos`. */
export function packDocuments(docs: Iterable<ArrayLike<number>>, eos: number): Int32Array {
  const parts: ArrayLike<number>[] = [];
  let n = 0;
  for (const d of docs) {
    parts.push(d);
    n += d.length + 1;
  }
  const out = new Int32Array(n);
  let at = 0;
  for (const d of parts) {
    out.set(d, at);
    at += d.length;
    out[at++] = eos;
  }
  return out;
}
