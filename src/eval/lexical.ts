// Lexical baselines: Okapi BM25 for retrieval and TF-IDF vectors for STS,
// clustering and the probe, in float64 on the CPU. An embedding model's
// scores are read against them on the same split (run-lexical.ts).
//
// Tokens (both): the text in Unicode NFKC, lower-cased, split on every run of
// characters that are neither letters nor digits (\p{L}, \p{N}); no stemming,
// no stop words. "The dog's bark." -> the, dog, s, bark.
//
// BM25 (Robertson et al.; the variant of Lucene and Elasticsearch), over the
// corpus of N documents with average length avgdl tokens:
//   idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))     (never negative)
//   score(q, d) = sum over the query's tokens t, repeats included, of
//                 idf(t) tf(t, d) (k1 + 1) / (tf(t, d) + k1 (1 - b + b |d| / avgdl))
//   k1 = 1.2, b = 0.75. A token no document has adds nothing.
//
// TF-IDF (scikit-learn's TfidfVectorizer defaults, with the tokens above),
// fitted on n texts:
//   idf(t) = ln((1 + n) / (1 + df(t))) + 1,   x_t = tf(t) idf(t),   x / |x|_2
//   maxFeatures keeps the terms with the most occurrences in the fitted texts
//   (ties: the term that sorts first); columns are the kept terms in sorted
//   order. A text with no kept term is the zero vector (cosine 0 with any).

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** The lexical tokens of a text (see the header). */
export function lexicalTokens(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((t) => t.length > 0);
}

function counts(tokens: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of tokens) m.set(t, (m.get(t) ?? 0) + 1);
  return m;
}

export interface Bm25Options {
  k1?: number;
  b?: number;
}

/** BM25 scores [nQueries, nDocs] (row-major, float64) of every query against every document. */
export function bm25Scores(queries: readonly string[], corpus: readonly string[], options: Bm25Options = {}): Float64Array {
  const k1 = options.k1 ?? BM25_K1, b = options.b ?? BM25_B;
  if (!(k1 >= 0) || !(b >= 0 && b <= 1)) throw new RangeError(`bm25Scores: k1 ${k1} must be >= 0 and b ${b} in [0, 1]`);
  const N = corpus.length;
  // Inverted index: term -> [(document, tf)].
  const postings = new Map<string, { doc: number; tf: number }[]>();
  const lengths = new Float64Array(N);
  for (let d = 0; d < N; d++) {
    const tokens = lexicalTokens(corpus[d]);
    lengths[d] = tokens.length;
    for (const [t, tf] of counts(tokens)) {
      let list = postings.get(t);
      if (!list) postings.set(t, (list = []));
      list.push({ doc: d, tf });
    }
  }
  const avgdl = N > 0 ? lengths.reduce((a, x) => a + x, 0) / N : 0;
  const scores = new Float64Array(queries.length * N);
  queries.forEach((q, qi) => {
    const row = qi * N;
    for (const t of lexicalTokens(q)) {
      const list = postings.get(t);
      if (!list) continue;
      const idf = Math.log(1 + (N - list.length + 0.5) / (list.length + 0.5));
      for (const { doc, tf } of list) {
        const norm = avgdl > 0 ? 1 - b + (b * lengths[doc]) / avgdl : 1;
        scores[row + doc] += (idf * tf * (k1 + 1)) / (tf + k1 * norm);
      }
    }
  });
  return scores;
}

/** A fitted TF-IDF vocabulary: the kept terms in sorted order and their idf. */
export interface TfidfModel {
  terms: string[];
  idf: Float64Array;
  column: Map<string, number>;
}

/** Fits TF-IDF on `texts` (see the header); maxFeatures 0 keeps every term. */
export function fitTfidf(texts: readonly string[], maxFeatures = 0): TfidfModel {
  if (!Number.isInteger(maxFeatures) || maxFeatures < 0) throw new RangeError(`fitTfidf: maxFeatures ${maxFeatures} must be a whole number`);
  const df = new Map<string, number>();
  const total = new Map<string, number>();
  for (const text of texts) {
    for (const [t, c] of counts(lexicalTokens(text))) {
      df.set(t, (df.get(t) ?? 0) + 1);
      total.set(t, (total.get(t) ?? 0) + c);
    }
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  let terms = [...df.keys()];
  if (maxFeatures > 0 && terms.length > maxFeatures) {
    terms = terms.sort((a, b) => total.get(b)! - total.get(a)! || byName(a, b)).slice(0, maxFeatures);
  }
  terms.sort(byName);
  const n = texts.length;
  const idf = Float64Array.from(terms, (t) => Math.log((1 + n) / (1 + df.get(t)!)) + 1);
  return { terms, idf, column: new Map(terms.map((t, i) => [t, i])) };
}

/** The L2-normalised TF-IDF vector of one text, sparse: column -> value (empty for no kept term). */
export function tfidfVector(model: TfidfModel, text: string): Map<number, number> {
  const v = new Map<number, number>();
  let ss = 0;
  for (const [t, c] of counts(lexicalTokens(text))) {
    const j = model.column.get(t);
    if (j === undefined) continue;
    const x = c * model.idf[j];
    v.set(j, x);
    ss += x * x;
  }
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (const [j, x] of v) v.set(j, x * inv);
  return v;
}

/** The L2-normalised TF-IDF rows of `texts` under `model`, dense [n, terms] (float32). */
export function tfidfMatrix(model: TfidfModel, texts: readonly string[]): Float32Array {
  const V = model.terms.length;
  const x = new Float32Array(texts.length * V);
  texts.forEach((text, i) => {
    for (const [j, v] of tfidfVector(model, text)) x[i * V + j] = v;
  });
  return x;
}

/** Cosine of the TF-IDF vectors of a[i] and b[i] for every pair (0 when either has no kept term). */
export function tfidfCosines(model: TfidfModel, a: readonly string[], b: readonly string[]): Float64Array {
  if (a.length !== b.length) throw new RangeError(`tfidfCosines: ${a.length} first texts, ${b.length} second texts`);
  return Float64Array.from(a, (text, i) => {
    const u = tfidfVector(model, text);
    let dot = 0;
    for (const [j, y] of tfidfVector(model, b[i])) dot += (u.get(j) ?? 0) * y;
    return dot;
  });
}
