// What the LCO experiment measures on a model (decoder + vision encoder,
// with or without a LoRA adapter), on held-out test scenes:
//
//   image -> text   query = a scene's image, documents = every distinct caption
//                   of the test scenes, relevant = the scene's own captions
//   text -> image   query = a distinct caption, documents = the images,
//                   relevant = every scene the caption belongs to
//   R@K             the fraction of queries with a relevant document in the top
//                   K (as image-caption benchmarks report Recall@K: any of the
//                   five captions counts), K = 1, 5; and nDCG@10
//   layers          per layer: anisotropy of the images' and of the captions'
//                   pooled states, and their mutual kNN (k = 10), from
//                   eval/run-analysis.ts on (image, first caption) pairs
//
// Every item gets LCO-Emb's prompt for its modality and is pooled at its last
// token (Embedder defaults), so the two sides differ only by input.
import type { WorldScene } from '../data/shapes-world.ts';
import type { Embedder } from '../embed/embedder.ts';
import { retrievalFromEmbeddings, type Qrels } from '../eval/metrics.ts';
import { analyzeLayers, type AnalysisResults } from '../eval/run-analysis.ts';
import { shapesSuiteOf } from '../eval/shapes-suite.ts';
import { summaryWords } from '../train/caption-data.ts';

export interface DirectionScores {
  r1: number;
  r5: number;
  ndcg10: number;
}

export interface RetrievalMeasurement {
  i2t: DirectionScores;
  t2i: DirectionScores;
  queries: { images: number; captions: number };
}

export interface MeasureOptions {
  prompt: string;
  batchSize: number;
}

function stack(rows: readonly Float32Array[]): Float32Array {
  const dim = rows[0].length;
  const m = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => m.set(r, i * dim));
  return m;
}

const scores = (q: Float32Array, nq: number, d: Float32Array, nd: number, dim: number, qrels: Qrels): DirectionScores => {
  const r = retrievalFromEmbeddings(q, d, nq, nd, dim, qrels);
  return { r1: r.accuracyAt1, r5: r.accuracyAt5, ndcg10: r.ndcgAt10 };
};

/**
 * Image <-> text retrieval on the scenes (see the header). The items are
 * embedded once, un-normalised (cosine scoring normalises them), so the
 * summary check can read the same pooled states.
 */
export async function measureRetrieval(embedder: Embedder, scenes: readonly WorldScene[], o: MeasureOptions): Promise<RetrievalMeasurement & { pooled: PooledStates }> {
  const suite = shapesSuiteOf(scenes);
  const R = suite.retrieval!;
  const opts = { prompt: o.prompt, batchSize: o.batchSize, normalize: false };
  const images = await embedder.embed(R.queries as { image: never }[], opts);
  const captions = await embedder.embed(R.corpus as string[], opts);
  const dim = images[0].length;
  const I = stack(images), T = stack(captions);
  const nI = images.length, nT = captions.length;
  const t2iQrels: Map<number, number>[] = Array.from({ length: nT }, () => new Map());
  R.qrels.forEach((rels, img) => rels.forEach((_, doc) => t2iQrels[doc].set(img, 1)));
  // a scene's first caption is its first document (shapesSuiteOf adds captions in order)
  const firstCaption = scenes.map((s) => captions[(R.corpus as string[]).indexOf(s.captions[0])]);
  return {
    i2t: scores(I, nI, T, nT, dim, R.qrels),
    t2i: scores(T, nT, I, nI, dim, t2iQrels),
    queries: { images: nI, captions: nT },
    pooled: { images, firstCaptions: firstCaption },
  };
}

/** The pooled (after the final norm, un-normalised) states of each scene's image and first caption. */
export interface PooledStates {
  images: Float32Array[];
  firstCaptions: Float32Array[];
}

/** Per-layer anisotropy (images, captions) and image-caption mutual kNN. */
export async function measureLayers(embedder: Embedder, scenes: readonly WorldScene[], o: MeasureOptions): Promise<AnalysisResults> {
  const suite = shapesSuiteOf(scenes);
  return analyzeLayers(embedder, suite.paired!, { prompt: o.prompt, batchSize: o.batchSize }, { suite: 'shapes', suiteMeta: suite.meta });
}

export interface SummaryAccuracy {
  /** Share of test scenes whose most likely next token after the image prompt starts a word true of the scene. */
  image: number;
  /** The same after the text prompt on the scene's first caption. */
  text: number;
  /** The share a constant guess of the most common true word's first token would get. */
  constantGuess: number;
}

/**
 * Does the prompt's last token predict a true one-word summary? The pooled
 * state (after the final norm) times the LM head gives the next-token
 * logits; a hit is an argmax that is the first token of one of the scene's
 * true words (summaryWords: shapes, colours, object count). This is the
 * generative ability the embeddings rest on, measured directly on the states
 * measureRetrieval pooled.
 */
export async function measureSummaries(embedder: Embedder, scenes: readonly WorldScene[], pooled: PooledStates): Promise<SummaryAccuracy> {
  const { gpu, model, tokenizer } = embedder;
  const C = model.config.hidden, V = model.config.vocab;
  const head = (await gpu.read(model.weights.lmHead)) as Float32Array;
  const argmax = (h: Float32Array): number => {
    let best = -Infinity, arg = -1;
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += h[c] * head[v * C + c];
      if (s > best) (best = s), (arg = v);
    }
    return arg;
  };
  const firstTokens = scenes.map((s) => new Set(summaryWords(s).map((w) => tokenizer.encode(` ${w}`)[0])));
  const rate = (rows: Float32Array[]) => rows.filter((h, i) => firstTokens[i].has(argmax(h))).length / rows.length;
  const counts = new Map<number, number>();
  for (const set of firstTokens) for (const t of set) counts.set(t, (counts.get(t) ?? 0) + 1);
  return { image: rate(pooled.images), text: rate(pooled.firstCaptions), constantGuess: Math.max(...counts.values()) / scenes.length };
}
