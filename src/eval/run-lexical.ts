// The lexical baselines of a suite (lexical.ts), scored with the same metrics
// and on the same split as an embedder (run-eval.ts), so that a model's
// numbers are read against them:
//
//   retrieval       BM25 (k1 1.2, b 0.75) of each query against the corpus
//   sts             cosine of the two sentences' TF-IDF vectors (fitted on
//                   every STS sentence, all terms) -> Spearman, Pearson
//   clustering      k-means on TF-IDF vectors of the items (fitted on them,
//                   the 1024 most frequent terms; same seed and restarts)
//   classification  the logistic-regression probe on TF-IDF vectors fitted
//                   on the train fold only (its 1024 most frequent terms)
//
// Tasks whose items are images (the shapes suite) have no lexical baseline.
// The clustering and probe vectors keep 1024 terms so that k-means and the
// probe, which work on dense rows, stay within seconds; on the WordNet suite
// the glosses have about 8,000 distinct terms, most of them rare.
import { clusteringFromEmbeddings } from './cluster.ts';
import { bm25Scores, BM25_B, BM25_K1, fitTfidf, tfidfCosines, tfidfMatrix } from './lexical.ts';
import { pearson, retrievalFromScores, spearman } from './metrics.ts';
import { probeAccuracy } from './probe.ts';
import {
  classificationScores, clusteringScores, DEFAULT_KMEANS_RESTARTS, foldRows, retrievalScores, timed,
  type ClassificationScores, type ClusteringScores, type EvalRunOptions, type RetrievalScores, type StsScores,
} from './run-eval.ts';
import type { EvalItem, EvalSuite } from './suite.ts';

/** Terms kept for the clustering and probe vectors. */
export const LEXICAL_MAX_FEATURES = 1024;

export interface LexicalResults {
  suite: string;
  /** What each baseline is, in words. */
  methods: { tokens: string; retrieval: string; sts: string; clustering: string; classification: string };
  retrieval?: RetrievalScores;
  sts?: StsScores;
  clustering?: ClusteringScores;
  classification?: ClassificationScores;
  /** Seconds. */
  timings: { retrieval: number; sts: number; clustering: number; classification: number; total: number };
}

const allText = (items: readonly EvalItem[]): items is string[] => items.every((t) => typeof t === 'string');

/** Scores the lexical baselines on every text task `suite` has. */
export function evaluateLexical(suite: EvalSuite, runOpts: EvalRunOptions = {}): LexicalResults {
  const t0 = performance.now();
  const seed = runOpts.seed ?? 0;
  const restarts = runOpts.kmeansRestarts ?? DEFAULT_KMEANS_RESTARTS;
  const { retrieval: R, sts: S, clustering: K, classification: P } = suite;

  let retrieval: RetrievalScores | undefined, tr = 0;
  if (R && allText(R.queries) && allText(R.corpus)) {
    const queries = R.queries, corpus = R.corpus;
    [retrieval, tr] = timed(() => retrievalScores(retrievalFromScores(bm25Scores(queries, corpus), queries.length, corpus.length, R.qrels)));
  }

  let sts: StsScores | undefined, ts = 0;
  if (S) {
    [sts, ts] = timed(() => {
      const cos = tfidfCosines(fitTfidf([...S.sentence1, ...S.sentence2]), S.sentence1, S.sentence2);
      return { spearman: spearman(cos, S.scores), pearson: pearson(cos, S.scores) };
    });
  }

  let clustering: ClusteringScores | undefined, tc = 0;
  if (K) {
    [clustering, tc] = timed(() => {
      const model = fitTfidf(K.texts, LEXICAL_MAX_FEATURES);
      const x = tfidfMatrix(model, K.texts);
      return clusteringScores(clusteringFromEmbeddings(x, K.texts.length, model.terms.length, K.labels, { seed, restarts }));
    });
  }

  let classification: ClassificationScores | undefined, tp = 0;
  if (P) {
    [classification, tp] = timed(() => {
      const fold = (name: 'train' | 'test') => foldRows(suite.name, P, name);
      const train = fold('train'), test = fold('test');
      const model = fitTfidf(train.map((i) => P.texts[i]), LEXICAL_MAX_FEATURES);
      const split = (rows: number[]) => ({ x: tfidfMatrix(model, rows.map((i) => P.texts[i])), n: rows.length, labels: rows.map((i) => P.labels[i]) });
      return classificationScores(probeAccuracy(split(train), split(test), model.terms.length));
    });
  }

  return {
    suite: suite.name,
    methods: {
      tokens: 'NFKC, lower-cased, split on non-letters/digits; no stemming, no stop words',
      retrieval: `Okapi BM25 (k1 ${BM25_K1}, b ${BM25_B}, Lucene idf)`,
      sts: 'TF-IDF cosine (scikit-learn TfidfVectorizer defaults, fitted on the STS sentences)',
      clustering: `k-means on TF-IDF (the ${LEXICAL_MAX_FEATURES} most frequent terms of the items)`,
      classification: `logistic regression on TF-IDF (the ${LEXICAL_MAX_FEATURES} most frequent terms of the train fold)`,
    },
    retrieval, sts, clustering, classification,
    timings: { retrieval: tr, sts: ts, clustering: tc, classification: tp, total: (performance.now() - t0) / 1000 },
  };
}

/** The lines under a table that say what the lexical column is. */
export function formatLexicalMethods(r: LexicalResults): string {
  const m = r.methods;
  const rows = [
    r.retrieval && ['retrieval', m.retrieval], r.sts && ['sts', m.sts], r.clustering && ['clustering', m.clustering],
    r.classification && ['classification', m.classification],
  ].filter((x): x is string[] => Array.isArray(x));
  return `lexical baselines (${r.timings.total.toFixed(1)} s; tokens: ${m.tokens}):\n${rows.map(([t, d]) => `  ${t.padEnd(16)}${d}\n`).join('')}`;
}
