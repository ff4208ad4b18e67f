// Retrieval and STS metrics, as MTEB computes them (retrieval through BEIR /
// pytrec_eval, i.e. trec_eval's definitions), in float64 on the CPU.
//
// Retrieval. For one query, rank the corpus by score (best first) giving docs
// d_0, d_1, ...; rel(d) is the graded relevance from the qrels (0 when absent).
// A document is relevant when rel >= 1 (pytrec_eval's relevance_level 1);
// R = number of relevant documents of the query.
//   nDCG@k   = DCG@k / IDCG@k,  DCG@k = sum_{i<k} gain(d_i) / log2(i + 2),
//              gain = rel (linear, trec_eval's ndcg_cut, not 2^rel - 1) for
//              rel > 0 else 0; IDCG@k is the DCG@k of the qrels' gains sorted
//              descending (the ideal comes from the qrels, not from the ranking).
//   Recall@k = |{relevant d_i : i < k}| / R
//   Acc@k    = 1 if some d_i with i < k is relevant else 0 (MTEB's hit rate)
//   MRR@k    = 1 / (i + 1) for the first relevant d_i with i < k, else 0
//   MAP@k    = (1 / R) sum_{relevant d_i, i < k} P@(i + 1), P@m = relevant in top m / m
//              (divided by all R, also when R > k: trec_eval's map_cut)
// Which queries count (trec_eval, pytrec_eval and so MTEB): every query that
// appears in the qrels, i.e. has at least one judgement, is scored and
// averaged, also when all its judgements are non-relevant (R = 0): then every
// metric is 0 for it (no relevant document can be retrieved; trec_eval
// scores 0, not undefined). A query absent from the qrels (an empty Map here)
// is left out of every mean and counted in `skipped`.
//
// Ties. Equal scores are ordered by document index, lower index first, so a
// ranking is a pure function of the scores. (trec_eval breaks ties by docno
// string, descending; with tied scores the two can differ.)
//
// STS. Spearman = Pearson correlation of the ranks, where tied values get the
// average of the ranks they span (scipy.stats.rankdata 'average', as
// scipy.stats.spearmanr). Pearson r = sum dx dy / sqrt(sum dx^2 sum dy^2) with
// dx = x - mean(x). A constant input has no correlation: NaN, as scipy returns.
import {
  checkInt, checkMatrix, checkVector, fail, gram, normalizedRows, toFloat64, type Matrix,
} from './matrix.ts';

/**
 * Relevance judgements: qrels[q] maps a document index in [0, nDocs) to an
 * integer graded relevance (pytrec_eval takes integers; <= 0 is not relevant).
 */
export type Qrels = ReadonlyArray<ReadonlyMap<number, number>>;

/** The cut-offs this module reports. */
export const RECALL_CUTOFFS = [1, 5, 10] as const;
export const NDCG_CUTOFF = 10;
export const MRR_CUTOFF = 10;
export const MAP_CUTOFF = 100;

/** Metrics of one query (or means over queries). */
export interface QueryMetrics {
  ndcgAt10: number;
  recallAt1: number;
  recallAt5: number;
  recallAt10: number;
  accuracyAt1: number;
  accuracyAt5: number;
  accuracyAt10: number;
  mrrAt10: number;
  mapAt100: number;
}

export interface RetrievalResult extends QueryMetrics {
  /** Queries with at least one judgement (the means are over these). */
  evaluated: number;
  /** Queries with no judgement at all (absent from the qrels), left out of the means. */
  skipped: number;
  /** Per query, in query order; null for a skipped query. */
  perQuery: (QueryMetrics | null)[];
}

/**
 * The k best documents of one row of scores, best first: higher score first,
 * equal scores by lower document index. scores[offset + j] is document j's
 * score, j in [0, n). Returns min(k, n) document indices.
 */
export function rankTopK(scores: ArrayLike<number>, k: number, offset = 0, n = scores.length - offset): Int32Array {
  const m = Math.min(k, n);
  // better(a, b): a ranks before b.
  const better = (a: number, b: number): boolean => {
    const sa = scores[offset + a], sb = scores[offset + b];
    return sa > sb || (sa === sb && a < b);
  };
  // A heap of the m best seen so far with the worst at the root: a document
  // enters when it beats the root. O(n log m) instead of sorting all n.
  const heap = new Int32Array(m);
  let size = 0;
  const siftUp = (i: number): void => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(heap[p], heap[i])) break; // parent already worse: heap order holds
      const t = heap[p]; heap[p] = heap[i]; heap[i] = t;
      i = p;
    }
  };
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let worst = i;
      if (l < size && better(heap[worst], heap[l])) worst = l;
      if (r < size && better(heap[worst], heap[r])) worst = r;
      if (worst === i) return;
      const t = heap[worst]; heap[worst] = heap[i]; heap[i] = t;
      i = worst;
    }
  };
  for (let j = 0; j < n; j++) {
    if (size < m) {
      heap[size++] = j;
      siftUp(size - 1);
    } else if (m > 0 && better(j, heap[0])) {
      heap[0] = j;
      siftDown(0);
    }
  }
  const out = Array.from(heap);
  out.sort((a, b) => (better(a, b) ? -1 : 1));
  return Int32Array.from(out);
}

/** The relevance of doc d under one query's qrels (0 when unjudged). */
function relOf(rels: ReadonlyMap<number, number>, d: number): number {
  return rels.get(d) ?? 0;
}

/** Number of relevant (rel >= 1) documents in one query's qrels. */
export function countRelevant(rels: ReadonlyMap<number, number>): number {
  let r = 0;
  for (const v of rels.values()) if (v >= 1) r++;
  return r;
}

/** nDCG@k of a ranking (doc indices, best first) against one query's qrels; 0 when the ideal DCG is 0 (trec_eval). */
export function ndcgAtK(ranking: ArrayLike<number>, rels: ReadonlyMap<number, number>, k: number): number {
  let dcg = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) {
    const g = relOf(rels, ranking[i]);
    if (g > 0) dcg += g / Math.log2(i + 2);
  }
  const gains = [...rels.values()].filter((g) => g > 0).sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, gains.length); i++) idcg += gains[i] / Math.log2(i + 2);
  return idcg > 0 ? dcg / idcg : 0;
}

/** Recall@k; 0 when the query has no relevant document (trec_eval). */
export function recallAtK(ranking: ArrayLike<number>, rels: ReadonlyMap<number, number>, k: number): number {
  const R = countRelevant(rels);
  let hit = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) if (relOf(rels, ranking[i]) >= 1) hit++;
  return R > 0 ? hit / R : 0;
}

/** Accuracy@k (hit rate): 1 when a relevant document is in the top k, else 0. */
export function accuracyAtK(ranking: ArrayLike<number>, rels: ReadonlyMap<number, number>, k: number): number {
  for (let i = 0; i < Math.min(k, ranking.length); i++) if (relOf(rels, ranking[i]) >= 1) return 1;
  return 0;
}

/** Reciprocal rank of the first relevant document in the top k (0 if none there, or none at all). */
export function mrrAtK(ranking: ArrayLike<number>, rels: ReadonlyMap<number, number>, k: number): number {
  for (let i = 0; i < Math.min(k, ranking.length); i++) if (relOf(rels, ranking[i]) >= 1) return 1 / (i + 1);
  return 0;
}

/** Average precision cut at k, divided by all R relevant documents; 0 when R = 0 (trec_eval). */
export function mapAtK(ranking: ArrayLike<number>, rels: ReadonlyMap<number, number>, k: number): number {
  const R = countRelevant(rels);
  if (R === 0) return 0;
  let hit = 0, sum = 0;
  for (let i = 0; i < Math.min(k, ranking.length); i++) {
    if (relOf(rels, ranking[i]) >= 1) {
      hit++;
      sum += hit / (i + 1);
    }
  }
  return sum / R;
}

/** Every metric of one query from its ranking (at least the top 100, or the whole corpus). */
export function queryMetrics(ranking: ArrayLike<number>, rels: ReadonlyMap<number, number>): QueryMetrics {
  return {
    ndcgAt10: ndcgAtK(ranking, rels, NDCG_CUTOFF),
    recallAt1: recallAtK(ranking, rels, 1),
    recallAt5: recallAtK(ranking, rels, 5),
    recallAt10: recallAtK(ranking, rels, 10),
    accuracyAt1: accuracyAtK(ranking, rels, 1),
    accuracyAt5: accuracyAtK(ranking, rels, 5),
    accuracyAt10: accuracyAtK(ranking, rels, 10),
    mrrAt10: mrrAtK(ranking, rels, MRR_CUTOFF),
    mapAt100: mapAtK(ranking, rels, MAP_CUTOFF),
  };
}

function checkQrels(where: string, qrels: Qrels, nQueries: number, nDocs: number): void {
  if (!Array.isArray(qrels)) fail(where, `qrels must be an array with one Map(doc index -> relevance) per query`);
  if (qrels.length !== nQueries) fail(where, `qrels has ${qrels.length} entries, expected one per query (${nQueries})`);
  for (let q = 0; q < nQueries; q++) {
    const rels = qrels[q];
    if (!(rels instanceof Map)) fail(where, `qrels[${q}] must be a Map(doc index -> relevance)`);
    for (const [d, r] of rels) {
      if (!Number.isInteger(d) || d < 0 || d >= nDocs) fail(where, `qrels[${q}] names document ${d}, outside [0, ${nDocs})`);
      if (!Number.isInteger(r)) fail(where, `qrels[${q}] gives document ${d} relevance ${r}; relevances are integers`);
    }
  }
}

/**
 * Retrieval metrics from a score matrix scores [nQueries, nDocs] (higher is
 * better, e.g. cosine similarity) and qrels. Means are over the queries with
 * a judgement (those with only non-relevant ones score 0); it is an error
 * when no query has one.
 */
export function retrievalFromScores(scores: Matrix, nQueries: number, nDocs: number, qrels: Qrels): RetrievalResult {
  const where = 'retrievalFromScores';
  checkMatrix(where, 'scores', scores, nQueries, nDocs);
  checkQrels(where, qrels, nQueries, nDocs);
  const keys: (keyof QueryMetrics)[] = [
    'ndcgAt10', 'recallAt1', 'recallAt5', 'recallAt10', 'accuracyAt1', 'accuracyAt5', 'accuracyAt10', 'mrrAt10', 'mapAt100',
  ];
  const sum = Object.fromEntries(keys.map((k) => [k, 0])) as unknown as QueryMetrics;
  const perQuery: (QueryMetrics | null)[] = [];
  let evaluated = 0;
  for (let q = 0; q < nQueries; q++) {
    if (qrels[q].size === 0) {
      perQuery.push(null); // absent from the qrels
      continue;
    }
    const ranking = rankTopK(scores, MAP_CUTOFF, q * nDocs, nDocs);
    const m = queryMetrics(ranking, qrels[q]);
    for (const k of keys) sum[k] += m[k];
    perQuery.push(m);
    evaluated++;
  }
  if (evaluated === 0) fail(where, `none of the ${nQueries} queries has a judgement in the qrels`);
  const mean = Object.fromEntries(keys.map((k) => [k, sum[k] / evaluated])) as unknown as QueryMetrics;
  return { ...mean, evaluated, skipped: nQueries - evaluated, perQuery };
}

export interface EmbeddingRetrievalOptions {
  /** 'cosine' (default; rows are L2-normalised, a zero row is an error) or 'dot'. */
  similarity?: 'cosine' | 'dot';
}

/** Similarity matrix [nQueries, nDocs] (float64) of query and corpus embeddings [n, dim]. */
export function similarityMatrix(
  queries: Matrix, corpus: Matrix, nQueries: number, nDocs: number, dim: number, similarity: 'cosine' | 'dot' = 'cosine',
): Float64Array {
  const where = 'similarityMatrix';
  checkMatrix(where, 'queries', queries, nQueries, dim);
  checkMatrix(where, 'corpus', corpus, nDocs, dim);
  if (similarity !== 'cosine' && similarity !== 'dot') fail(where, `similarity "${String(similarity)}" must be 'cosine' or 'dot'`);
  const q = similarity === 'cosine' ? normalizedRows(where, 'queries', queries, nQueries, dim) : toFloat64(queries);
  const c = similarity === 'cosine' ? normalizedRows(where, 'corpus', corpus, nDocs, dim) : toFloat64(corpus);
  return gram(q, nQueries, c, nDocs, dim);
}

/** Retrieval metrics of query embeddings [nQueries, dim] against corpus embeddings [nDocs, dim]. */
export function retrievalFromEmbeddings(
  queries: Matrix, corpus: Matrix, nQueries: number, nDocs: number, dim: number, qrels: Qrels,
  options: EmbeddingRetrievalOptions = {},
): RetrievalResult {
  const scores = similarityMatrix(queries, corpus, nQueries, nDocs, dim, options.similarity ?? 'cosine');
  return retrievalFromScores(scores, nQueries, nDocs, qrels);
}

// ---------------------------------------------------------------------------
// STS: correlations.

/** 1-based ranks with ties given the mean of the ranks they span (scipy rankdata 'average'). */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  checkVector('averageRanks', 'x', x, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b] || a - b);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]] === x[order[i]]) j++;
    // positions i..j (0-based) hold equal values: ranks i+1..j+1, mean (i + j) / 2 + 1
    const r = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) ranks[order[t]] = r;
    i = j + 1;
  }
  return ranks;
}

function checkPair(where: string, x: ArrayLike<number>, y: ArrayLike<number>): void {
  checkVector(where, 'x', x, x?.length);
  checkVector(where, 'y', y, x.length);
  if (x.length < 2) fail(where, `need at least 2 paired values, got ${x.length}`);
}

function pearsonUnchecked(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN; // a constant side: correlation undefined (scipy: nan)
  // Rounding can push |r| a hair past 1; scipy clips as well.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Pearson correlation of paired values; NaN when either side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPair('pearson', x, y);
  return pearsonUnchecked(x, y);
}

/** Spearman rank correlation (average ranks for ties); NaN when either side is constant. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPair('spearman', x, y);
  return pearsonUnchecked(averageRanks(x), averageRanks(y));
}

export interface StsResult {
  /** Spearman between gold scores and cosine similarities: MTEB's main STS score. */
  cosineSpearman: number;
  cosinePearson: number;
  /** Cosine similarity of each pair, float64 [n]. */
  cosines: Float64Array;
}

/** STS: cosine of a[i] and b[i] (embeddings [n, dim]) correlated with gold[i]. */
export function stsFromEmbeddings(a: Matrix, b: Matrix, n: number, dim: number, gold: ArrayLike<number>): StsResult {
  const where = 'stsFromEmbeddings';
  checkMatrix(where, 'a', a, n, dim);
  checkMatrix(where, 'b', b, n, dim);
  checkVector(where, 'gold', gold, n);
  checkInt(where, 'pairs n', n, 2);
  const ua = normalizedRows(where, 'a', a, n, dim);
  const ub = normalizedRows(where, 'b', b, n, dim);
  const cosines = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let c = 0; c < dim; c++) dot += ua[i * dim + c] * ub[i * dim + c];
    cosines[i] = dot;
  }
  return { cosineSpearman: spearman(gold, cosines), cosinePearson: pearson(gold, cosines), cosines };
}
