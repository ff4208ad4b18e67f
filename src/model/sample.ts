// Next-token sampling from one row of logits, with a seeded generator so a
// generation run can be replayed exactly.
//
// Given logits l [V] and options (temperature τ, top-k k, top-p P):
//   τ = 0:  greedy, argmax_i l_i (ties: the lowest id).
//   τ > 0:  p_i = exp((l_i - max l) / τ) / Σ_j exp((l_j - max l) / τ)   (float64;
//           subtracting the max keeps exp() from overflowing)
//           top-k: keep the k most probable tokens (ties: the lower id first)
//           top-p: of those, keep the smallest prefix (most probable first)
//                  whose mass is >= P of the kept mass (at least one token);
//                  the mass is measured after top-k, as transformers does
//           renormalise over the kept tokens and draw one with u ~ U[0, 1).
// A logit of -Infinity is a masked token (probability 0); NaN or +Infinity is
// an error naming the index.
//
// The generator is mulberry32 (Tommy Ettinger's 32-bit mixer over a Weyl
// sequence): one uint32 of state, period 2^32, good enough for sampling and
// trivially serialisable, so a run can be stopped and resumed on the same
// stream (Rng.state / Rng.fromState).

export class SamplingError extends Error {
  override name = 'SamplingError';
}

/** mulberry32: a seeded uniform generator whose whole state is one uint32. */
export class Rng {
  #state: number;

  /** `seed`: an integer in [0, 2^32). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new SamplingError(`Rng: seed ${seed} must be an integer in [0, 2^32)`);
    }
    this.#state = seed >>> 0;
  }

  /** Resumes a stream from a saved `state`. */
  static fromState(state: number): Rng {
    return new Rng(state);
  }

  /** The uint32 state: new Rng(state) continues exactly where this one is. */
  get state(): number {
    return this.#state;
  }

  /** Uniform in [0, 1), on a grid of 2^-32. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export interface SamplingOptions {
  /** τ >= 0; 0 is greedy. Default 1. */
  temperature?: number;
  /** Nucleus mass in (0, 1]; 1 keeps every token. Default 1. */
  topP?: number;
  /** Keep the k most probable tokens, an integer >= 1; undefined keeps all. */
  topK?: number;
}

/** Throws a SamplingError naming the bad option; returns the options with defaults filled in. */
export function checkSamplingOptions(opts: SamplingOptions): { temperature: number; topP: number; topK: number | undefined } {
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  const topK = opts.topK;
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new SamplingError(`sampling: temperature ${temperature} must be a finite number >= 0 (0 is greedy)`);
  }
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw new SamplingError(`sampling: topP ${topP} must be in (0, 1] (1 keeps every token)`);
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) {
    throw new SamplingError(`sampling: topK ${topK} must be an integer >= 1 (leave it out to keep every token)`);
  }
  return { temperature, topP, topK };
}

/** Throws on NaN / +Infinity logits, naming the first bad index. */
function checkLogits(logits: Float32Array): void {
  if (logits.length === 0) throw new SamplingError('sampling: logits row is empty (vocab size 0)');
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i];
    if (Number.isNaN(l)) throw new SamplingError(`sampling: logit ${i} of ${logits.length} is NaN`);
    if (l === Infinity) throw new SamplingError(`sampling: logit ${i} of ${logits.length} is +Infinity`);
  }
}

/** argmax, lowest id on ties. */
export function argmax(logits: Float32Array): number {
  checkLogits(logits);
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** The tokens a draw can pick and their probabilities (summing to 1), most probable first. */
export interface Candidates {
  ids: Int32Array;
  probs: Float64Array;
}

/**
 * The distribution sampleNext draws from: softmax(l / τ), then top-k, then
 * top-p, renormalised. With τ = 0 it is the argmax with probability 1.
 */
export function candidates(logits: Float32Array, opts: SamplingOptions = {}): Candidates {
  const { temperature, topP, topK } = checkSamplingOptions(opts);
  if (temperature === 0) return { ids: Int32Array.of(argmax(logits)), probs: Float64Array.of(1) };
  checkLogits(logits);
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, logits[i]);
  if (max === -Infinity) throw new SamplingError(`sampling: all ${V} logits are -Infinity (every token masked)`);

  // p_i ∝ exp((l_i - max) / τ) in float64; the largest term is exactly 1.
  const p = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    p[i] = Math.exp((logits[i] - max) / temperature);
    total += p[i];
  }
  for (let i = 0; i < V; i++) p[i] /= total;

  // Most probable first, the lower id first among equals; zero-probability
  // tokens can never be kept, so leave them out of the sort.
  const order: number[] = [];
  for (let i = 0; i < V; i++) if (p[i] > 0) order.push(i);
  order.sort((a, b) => p[b] - p[a] || a - b);

  // top-k
  let kept = topK === undefined ? order.length : Math.min(topK, order.length);
  // top-p over the top-k mass. The comparison is on the float64
  // probabilities as computed: a prefix whose mass equals P only in exact
  // arithmetic may fall either side (the float32 logits are already rounded).
  if (topP < 1) {
    let keptMass = 0;
    for (let j = 0; j < kept; j++) keptMass += p[order[j]];
    const target = topP * keptMass;
    let mass = 0;
    let n = 0;
    while (n < kept) {
      mass += p[order[n++]];
      if (mass >= target) break;
    }
    kept = n;
  }

  const ids = Int32Array.from(order.slice(0, kept));
  const probs = Float64Array.from(ids, (i) => p[i]);
  let mass = 0;
  for (const q of probs) mass += q;
  for (let j = 0; j < probs.length; j++) probs[j] /= mass;
  return { ids, probs };
}

/** Picks the next token id from one row of logits [V] (see the header for the rules). */
export function sampleNext(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  const { ids, probs } = candidates(logits, opts);
  if ((opts.temperature ?? 1) === 0) return ids[0];
  // Every non-greedy token consumes exactly one draw, even when one token
  // survives the filters: the stream position is the count of sampled tokens.
  const u = rng.next();
  let cum = 0;
  for (let j = 0; j < ids.length; j++) {
    cum += probs[j];
    if (u < cum) return ids[j];
  }
  return ids[ids.length - 1]; // u just under 1 and the sum rounded below it
}

/**
 * Fisher-Yates shuffle in place, drawing j = floor(u * (i + 1)) for i from the
 * end: the one shuffle of every seeded order in the project (data windows,
 * contrastive epochs, WordNet tasks, eval subsamples).
 */
export function shuffleInPlace<A extends { length: number; [i: number]: unknown }>(a: A, uniform: () => number): A {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
