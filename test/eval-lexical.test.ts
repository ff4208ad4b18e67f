// Lexical baselines (src/eval/lexical.ts, run-lexical.ts): the tokens; BM25
// against values worked out by hand (Lucene's idf, length normalisation,
// repeated query tokens); TF-IDF against scikit-learn's formulas by hand
// (smooth idf, L2 rows, max_features by corpus frequency); and the suite
// runner on a small suite: BM25 finds a document that shares the query's
// words, every score in range, image tasks skipped, the table's column.
import { describe, expect, it } from 'vitest';
import { bm25Scores, fitTfidf, lexicalTokens, tfidfCosines, tfidfMatrix } from '../src/eval/lexical.ts';
import { evaluateLexical, formatLexicalMethods } from '../src/eval/run-lexical.ts';
import { formatResultsTable, type EvalResults } from '../src/eval/run-eval.ts';
import type { EvalSuite } from '../src/eval/suite.ts';

describe('lexical tokens', () => {
  it('NFKC, lower case, split on anything that is not a letter or a digit', () => {
    expect(lexicalTokens("The dog's bark.")).toEqual(['the', 'dog', 's', 'bark']);
    expect(lexicalTokens('  Über-Straße 42nd, ﬁne café ')).toEqual(['über', 'straße', '42nd', 'fine', 'café']); // the ligature fi unfolds
    expect(lexicalTokens('...')).toEqual([]);
  });
});

describe('BM25', () => {
  it('hand-checked scores: idf, tf saturation, length normalisation, repeated query tokens', () => {
    // docs: d0 "a b b" (3 tokens), d1 "b c" (2), d2 "c" (1); N = 3, avgdl = 2
    // df: a 1, b 2, c 2 -> idf(a) = ln(1 + 2.5/1.5), idf(b) = idf(c) = ln(1 + 1.5/2.5)
    const corpus = ['a b b', 'b c', 'c'];
    const k1 = 1.2, b = 0.75;
    const idfA = Math.log(1 + 2.5 / 1.5), idfB = Math.log(1 + 1.5 / 2.5);
    const term = (idf: number, tf: number, dl: number) => (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * dl) / 2));
    const s = bm25Scores(['b', 'a b', 'b b', 'zebra'], corpus);
    expect(s.length).toBe(12);
    expect(s[0]).toBeCloseTo(term(idfB, 2, 3), 14); // "b" vs d0: tf 2, long document
    expect(s[1]).toBeCloseTo(term(idfB, 1, 2), 14);
    expect(s[2]).toBe(0);
    expect(s[3]).toBeCloseTo(term(idfA, 1, 3) + term(idfB, 2, 3), 14);
    expect(s[6]).toBeCloseTo(2 * term(idfB, 2, 3), 14); // a repeated query token counts twice
    expect([...s.subarray(9)]).toEqual([0, 0, 0]); // no document has the token
    // b = 0: no length normalisation; k1 = 0: tf is ignored
    expect(bm25Scores(['b'], corpus, { b: 0 })[0]).toBeCloseTo((idfB * 2 * 2.2) / (2 + 1.2), 14);
    expect(bm25Scores(['b'], corpus, { k1: 0 })[0]).toBeCloseTo(idfB, 14);
    expect(() => bm25Scores(['b'], corpus, { b: 2 })).toThrow(/b 2 in \[0, 1\]/);
  });
});

describe('TF-IDF', () => {
  it("scikit-learn's TfidfVectorizer by hand: smooth idf, raw counts, L2 rows, sorted columns", () => {
    // texts: "b a a", "b c"; n = 2; df a 1, b 2, c 1
    // idf(t) = ln((1 + 2) / (1 + df)) + 1: a, c = ln(1.5) + 1, b = 1
    const m = fitTfidf(['b a a', 'b c']);
    expect(m.terms).toEqual(['a', 'b', 'c']);
    const ia = Math.log(1.5) + 1;
    expect([...m.idf]).toEqual([ia, 1, ia].map((v) => expect.closeTo(v, 14)) as unknown as number[]);
    const x = tfidfMatrix(m, ['b a a', 'b c', 'zebra']);
    const r0 = [2 * ia, 1, 0], n0 = Math.hypot(...r0);
    const r1 = [0, 1, ia], n1 = Math.hypot(...r1);
    [...r0.map((v) => v / n0), ...r1.map((v) => v / n1), 0, 0, 0].forEach((v, i) => expect(x[i], `x[${i}]`).toBeCloseTo(v, 6));
    // the sparse cosine of two texts is the dot of those rows; a text with no known term has cosine 0
    const cos = tfidfCosines(m, ['b a a', 'b c'], ['b c', 'zebra']);
    expect(cos[0]).toBeCloseTo((r0[1] * r1[1]) / (n0 * n1), 14);
    expect(cos[1]).toBe(0);
    expect(() => tfidfCosines(m, ['a'], [])).toThrow(/1 first texts, 0 second texts/);
  });

  it('maxFeatures keeps the most frequent terms in the fitted texts (ties: the first in sort order)', () => {
    const m = fitTfidf(['z z z y', 'y x w', 'w v'], 3);
    // counts: z 3, y 2, w 2, x 1, v 1 -> z, w, y kept (w before y at 2), columns sorted
    expect(m.terms).toEqual(['w', 'y', 'z']);
    expect(() => fitTfidf(['a'], -1)).toThrow(/maxFeatures -1/);
  });
});

describe('evaluateLexical', () => {
  const labels = ['tree', 'tree', 'tree', 'animal', 'animal', 'animal'];
  const texts = ['an oak tree with acorns', 'a pine tree with needles', 'a birch tree with white bark',
    'a dog that barks', 'a cat that purrs', 'a wolf that howls'];
  const suite: EvalSuite = {
    name: 'tiny',
    retrieval: {
      queries: ['acorns of the oak', 'the wolf howls at night', 'white bark'],
      corpus: texts,
      qrels: [new Map([[0, 1]]), new Map([[5, 1]]), new Map([[2, 1]])],
    },
    sts: { sentence1: ['an oak tree', 'a dog', 'a cat that purrs'], sentence2: ['an oak', 'a pine tree', 'a wolf'], scores: [0.9, 0.2, 0.4] },
    clustering: { texts, labels },
    classification: { texts: [...texts, ...texts], labels: [...labels, ...labels], folds: [...texts.map(() => 'train' as const), ...texts.map(() => 'test' as const)] },
    meta: {},
  };

  it('scores every text task in range; BM25 ranks the documents that share the queries\' words first', () => {
    const r = evaluateLexical(suite, { seed: 1, kmeansRestarts: 2 });
    expect(r.retrieval!.ndcgAt10).toBe(1);
    expect(r.retrieval!.recallAt1).toBe(1);
    expect(r.sts!.spearman).toBeGreaterThanOrEqual(-1);
    expect(r.sts!.spearman).toBeLessThanOrEqual(1);
    expect(r.clustering!.vMeasure).toBe(1); // "tree" against "that": the words split the two groups
    expect(r.classification!.accuracy).toBe(1); // the test texts are the train texts
    expect(formatLexicalMethods(r)).toMatch(/retrieval\s+Okapi BM25 \(k1 1\.2, b 0\.75/);
  });

  it('an image task has no lexical baseline; the table shows - for it and the value beside the model otherwise', () => {
    const images: EvalSuite = { name: 'img', retrieval: { queries: [{ image: 'x.png' }], corpus: ['a'], qrels: [new Map([[0, 1]])] }, meta: {} };
    expect(evaluateLexical(images).retrieval).toBeUndefined();
    const lex = evaluateLexical(suite);
    const model = { ...lex, sts: undefined } as unknown as EvalResults;
    const fake: EvalResults = {
      ...model, suite: 'tiny', options: { prompt: 'none', queryPrompt: 'none', chat: 'none', pooling: 'lasttoken', normalize: true, dimensions: 8, batchSize: 1, maxLength: null, kmeansRestarts: 3, seed: 0 },
      counts: { queries: 3, documents: 6, stsPairs: 0, clusteringItems: 6, classificationTrain: 6, classificationTest: 6, textsRequested: 0, textsEmbedded: 0 },
      timings: { embed: 1, textsPerSecond: 1, retrieval: 0, sts: 0, clustering: 0, classification: 0, total: 1 }, suiteMeta: {},
    };
    const table = formatResultsTable(fake, { ...lex, clustering: undefined });
    expect(table).toMatch(/^task\s+metric\s+value\s+lexical\n/);
    expect(table).toMatch(/retrieval\s+nDCG@10\s+1\.0000\s+1\.0000\n/);
    expect(table).toMatch(/clustering\s+V-measure\s+1\.0000\s+-\n/);
    expect(formatResultsTable(fake)).toMatch(/^task\s+metric\s+value\n/);
  });
});
