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

/** Image <-> text retrieval on the scenes (see the header). */
export async function measureRetrieval(embedder: Embedder, scenes: readonly WorldScene[], o: MeasureOptions): Promise<RetrievalMeasurement> {
  const suite = shapesSuiteOf(scenes);
  const R = suite.retrieval!;
  const opts = { prompt: o.prompt, batchSize: o.batchSize };
  const images = await embedder.embed(R.queries as { image: never }[], opts);
  const captions = await embedder.embed(R.corpus as string[], opts);
  const dim = images[0].length;
  const I = stack(images), T = stack(captions);
  const nI = images.length, nT = captions.length;
  const t2iQrels: Map<number, number>[] = Array.from({ length: nT }, () => new Map());
  R.qrels.forEach((rels, img) => rels.forEach((_, doc) => t2iQrels[doc].set(img, 1)));
  return {
    i2t: scores(I, nI, T, nT, dim, R.qrels),
    t2i: scores(T, nT, I, nI, dim, t2iQrels),
    queries: { images: nI, captions: nT },
  };
}

/** Per-layer anisotropy (images, captions) and image-caption mutual kNN. */
export async function measureLayers(embedder: Embedder, scenes: readonly WorldScene[], o: MeasureOptions): Promise<AnalysisResults> {
  const suite = shapesSuiteOf(scenes);
  return analyzeLayers(embedder, suite.paired!, { prompt: o.prompt, batchSize: o.batchSize }, { suite: 'shapes', suiteMeta: suite.meta });
}
