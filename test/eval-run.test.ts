// evaluateEmbedder and analyzeLayers on the tiny pretrained decoder with a
// small WordNet suite (40 queries, 120 documents, ~80 clustering items):
// result shape, counts, metric ranges, determinism, one embedding per
// distinct (prompt, text); an oracle embedder (one-hot per relevant document)
// scores nDCG@10 = Recall@1 = 1 and a shifted one 0; per-layer features
// match the token embeddings at layer 0 and the Embedder's output at the
// last layer; a side with one feature for every item gets mutual kNN NaN. Plus the suite's subsampling helpers.
import { beforeAll, describe, expect, it } from 'vitest';
import { readWordNet, type Synset } from '../src/data/wordnet.ts';
import { Embedder, type EmbedOptions } from '../src/embed/embedder.ts';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { loadDecoder, type Decoder } from '../src/model/decoder.ts';
import { anisotropy, mutualKnn } from '../src/eval/analysis.ts';
import { analysisSvg, analyzeLayers, formatAnalysisTable, layerFeatures } from '../src/eval/run-analysis.ts';
import { evaluateEmbedder, formatResultsTable, type EvalResults, type TextEmbedder } from '../src/eval/run-eval.ts';
import { subsampleCorpus, subsampleLabelled, type EvalSuite } from '../src/eval/suite.ts';
import { wordnetSuite } from '../src/eval/wordnet-suite.ts';
import { useGpu } from './helpers.ts';

const gpu = useGpu();
const MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;
const SIZES = { seed: 0, maxQueries: 40, maxDocs: 120, maxItems: 40, maxPaired: 40 };

let synsets: Synset[];
let suite: EvalSuite;
let model: Decoder;
let embedder: Embedder;

beforeAll(async () => {
  synsets = await readWordNet();
  suite = wordnetSuite(synsets, SIZES);
  const g = await gpu();
  model = await loadDecoder(g, MODEL);
  embedder = new Embedder(g, model, await readTokenizer(`${MODEL}/tokenizer.json`));
});

/** The metric values only (timings differ run to run). */
function scores(r: EvalResults): unknown {
  return JSON.parse(JSON.stringify({ ...r, timings: null }));
}

describe('wordnet suite', () => {
  it('has the asked sizes; every query has its relevant document in the cut corpus', () => {
    const R = suite.retrieval!;
    expect(R.queries.length).toBe(40);
    expect(R.corpus.length).toBe(120);
    expect(new Set(R.corpus).size).toBe(120);
    for (const rels of R.qrels) {
      expect(rels.size).toBe(1);
      for (const [d, v] of rels) {
        expect(v).toBe(1);
        expect(d >= 0 && d < 120).toBe(true);
      }
    }
    // stratified cut: every label keeps a train and a test item, so 2 x labels at least
    const C = suite.classification!;
    const labels = new Set(C.labels);
    expect(C.texts.length).toBeGreaterThanOrEqual(2 * labels.size);
    for (const l of labels) {
      expect(C.labels.some((x, i) => x === l && C.folds[i] === 'train')).toBe(true);
      expect(C.labels.some((x, i) => x === l && C.folds[i] === 'test')).toBe(true);
    }
    expect(suite.sts!.scores.length).toBe(40);
    expect(suite.paired!.a.length).toBe(40);
    expect(new Set(suite.paired!.b).size).toBe(40);
    // same seed, same suite
    expect(JSON.stringify(wordnetSuite(synsets, SIZES).retrieval!.corpus)).toBe(JSON.stringify(suite.retrieval!.corpus));
  });

  it('subsampleCorpus keeps the relevant documents and re-indexes the qrels; subsampleLabelled keeps every group', () => {
    const corpus = Array.from({ length: 50 }, (_, i) => `doc ${i}`);
    const qrels = [new Map([[7, 1]]), new Map([[49, 2], [3, 1]]), new Map<number, number>()];
    const cut = subsampleCorpus({ queries: ['a', 'b', 'c'], corpus, qrels }, 10, 5);
    expect(cut.corpus.length).toBe(10);
    // documents stay in corpus order and each qrel names the same text as before
    expect(cut.corpus.map((d) => Number((d as string).split(' ')[1]))).toEqual([...cut.corpus.map((d) => Number((d as string).split(' ')[1]))].sort((a, b) => a - b));
    qrels.forEach((rels, q) => {
      expect([...cut.qrels[q]].map(([d, v]) => [cut.corpus[d], v])).toEqual([...rels].map(([d, v]) => [corpus[d], v]));
    });
    const labels = ['x', 'x', 'x', 'x', 'y', 'y', 'y', 'y', 'y', 'y', 'z', 'z'];
    const folds = ['train', 'test', 'train', 'test', 'train', 'train', 'train', 'test', 'test', 'test', 'train', 'test'];
    const keep = subsampleLabelled(labels, folds, 6, 1);
    for (const key of new Set(labels.map((l, i) => `${l} ${folds[i]}`))) {
      expect(keep.some((i) => `${labels[i]} ${folds[i]}` === key), key).toBe(true);
    }
    expect(keep).toEqual([...new Set(keep)].sort((a, b) => a - b));
  });
});

describe('evaluateEmbedder (tiny decoder)', () => {
  it('scores every task in range, embeds each distinct text once, and is deterministic', async () => {
    const r = await evaluateEmbedder(embedder, suite, { batchSize: 32 });
    const R = suite.retrieval!;
    expect(r.counts).toMatchObject({ queries: 40, documents: 120, stsPairs: 40, clusteringItems: suite.clustering!.texts.length });
    expect(r.counts.classificationTrain + r.counts.classificationTest).toBe(suite.classification!.texts.length);
    const distinct = new Set([...R.queries, ...R.corpus, ...suite.sts!.sentence1, ...suite.sts!.sentence2, ...suite.clustering!.texts]);
    expect(r.counts.textsEmbedded).toBe(distinct.size);
    expect(r.counts.textsRequested).toBe(40 + 120 + 80 + 2 * suite.clustering!.texts.length);
    expect(r.options.dimensions).toBe(128);
    const m = r.retrieval!;
    for (const v of [m.ndcgAt10, m.recallAt1, m.recallAt5, m.recallAt10, m.mrrAt10, m.mapAt100]) expect(v >= 0 && v <= 1).toBe(true);
    expect(m.recallAt1).toBeLessThanOrEqual(m.recallAt5);
    expect(m.recallAt5).toBeLessThanOrEqual(m.recallAt10);
    expect(m.evaluated).toBe(40);
    expect(Math.abs(r.sts!.spearman)).toBeLessThanOrEqual(1);
    expect(Number.isFinite(r.sts!.spearman)).toBe(true);
    for (const v of [r.clustering!.vMeasure, r.clustering!.nmi, r.classification!.accuracy]) expect(v >= 0 && v <= 1).toBe(true);
    expect(r.clustering!.k).toBe(new Set(suite.clustering!.labels).size);
    expect(r.timings.embed).toBeGreaterThan(0);
    expect(formatResultsTable(r)).toMatch(/retrieval\s+nDCG@10\s+\d\.\d{4}/);

    const again = await evaluateEmbedder(embedder, suite, { batchSize: 32 });
    expect(scores(again)).toEqual(scores(r));

    // a query prompt of its own: the queries are embedded under it, the rest under 'none'
    const lco = await evaluateEmbedder(embedder, suite, { queryPrompt: 'lco' });
    for (const q of R.queries) distinct.delete(q);
    expect(lco.counts.textsEmbedded).toBe(distinct.size + 40);
    expect(lco.options).toMatchObject({ prompt: 'none', queryPrompt: 'lco' });
    // documents-only tasks unchanged, up to float32 rounding: the 'none' batches
    // hold other texts now, and a different padded length moves the last bits
    expect(Math.abs(lco.sts!.pearson - r.sts!.pearson)).toBeLessThan(1e-6);
    expect(Math.abs(lco.sts!.spearman - r.sts!.spearman)).toBeLessThan(1e-6);
    expect(lco.retrieval).not.toEqual(r.retrieval);
  });

  it('an oracle embedder (one-hot per relevant document) scores 1; shifted by one document, Recall@1 = 0', async () => {
    const R = suite.retrieval!;
    const D = R.corpus.length;
    const oracle = (shift: number): TextEmbedder & { calls: { n: number; opts: EmbedOptions }[] } => {
      const slot = new Map<unknown, number>();
      R.corpus.forEach((t, d) => slot.set(t, d));
      R.queries.forEach((q, i) => {
        const d = [...R.qrels[i].keys()][0];
        if (slot.has(q)) throw new Error(`query ${i} is also a document`);
        slot.set(q, (d + shift) % D);
      });
      const calls: { n: number; opts: EmbedOptions }[] = [];
      return {
        calls,
        async embed(inputs, opts) {
          calls.push({ n: inputs.length, opts });
          // other texts (clustering, STS) get one-hot slots of their own past the documents
          return inputs.map((t) => {
            if (!slot.has(t)) slot.set(t, D + slot.size);
            const v = new Float32Array(D + 400);
            v[slot.get(t)!] = 1;
            return v;
          });
        },
      };
    };
    const stub = oracle(0);
    const r = await evaluateEmbedder(stub, suite, { prompt: 'lco', queryPrompt: 'none' });
    expect(r.retrieval!.ndcgAt10).toBe(1);
    expect(r.retrieval!.recallAt1).toBe(1);
    expect(r.retrieval!.mrrAt10).toBe(1);
    expect(r.retrieval!.mapAt100).toBe(1);
    // one call per prompt, carrying that prompt
    expect(stub.calls.map((c) => c.opts.prompt).sort()).toEqual(['lco', 'none']);
    expect(stub.calls.find((c) => c.opts.prompt === 'none')!.n).toBe(40);
    // every STS pair gets cosine 0: Spearman is undefined, NaN here, null in JSON
    expect(Number.isNaN(r.sts!.spearman)).toBe(true);
    expect(JSON.parse(JSON.stringify(r)).sts.spearman).toBeNull();
    expect(formatResultsTable(r)).toMatch(/Spearman\s+n\/a/);

    // each query's top document is the next one: never relevant at rank 1 (the
    // relevant one ties at 0 with the rest, so it can still reach the top 10 by index)
    const wrong = await evaluateEmbedder(oracle(1), suite);
    expect(wrong.retrieval!.recallAt1).toBe(0);
    expect(wrong.retrieval!.mrrAt10).toBeLessThanOrEqual(0.5);
    expect(wrong.retrieval!.ndcgAt10).toBeLessThan(0.5);
  });
});

describe('analyzeLayers (tiny decoder)', () => {
  it('layer 0 pools the token embedding, the last layer the Embedder output; metrics per layer in range', async () => {
    const g = await gpu();
    const P = suite.paired!;
    const texts = P.a.slice(0, 12);
    const feats = await layerFeatures(embedder, texts, { batchSize: 5 });
    expect(feats.length).toBe(model.config.layers + 1);
    // layer 0, last token: the embedding row of the text's last token
    const E = (await g.read(model.weights.embed)) as Float32Array;
    const C = model.config.hidden;
    texts.forEach((t, i) => {
      const ids = embedder.tokenize(t as string);
      const last = ids[ids.length - 1];
      expect(Array.from(feats[0].subarray(i * C, (i + 1) * C))).toEqual(Array.from(E.subarray(last * C, (last + 1) * C)));
    });
    // last layer: the Embedder's (normalised) output, to float32 rounding
    const embs = await embedder.embed(texts, { batchSize: 3 });
    const L = feats[feats.length - 1];
    texts.forEach((_, i) => {
      const row = L.subarray(i * C, (i + 1) * C);
      const norm = Math.hypot(...row);
      row.forEach((v, c) => expect(Math.abs(v / norm - embs[i][c])).toBeLessThan(2e-6));
    });

    const r = await analyzeLayers(embedder, P, { batchSize: 16 }, { suite: suite.name });
    expect(r.layers.length).toBe(model.config.layers + 1);
    expect(r.counts).toEqual({ items: 40, layers: model.config.layers, hidden: 128 });
    expect(r.chanceMutualKnn).toBeCloseTo(10 / 39, 12);
    for (const s of r.layers) {
      for (const v of [s.anisotropyA, s.anisotropyB]) expect(v >= -1 && v <= 1).toBe(true);
      expect(s.mutualKnn >= 0 && s.mutualKnn <= 1).toBe(true);
    }
    // the last layer's numbers are those of the Embedder's embeddings
    const ea = await embedder.embed(P.a), eb = await embedder.embed(P.b);
    const flat = (rows: Float32Array[]) => Float32Array.from(rows.flatMap((x) => Array.from(x)));
    const last = r.layers[r.layers.length - 1];
    expect(Math.abs(last.anisotropyA - anisotropy(flat(ea), 40, C))).toBeLessThan(1e-5);
    expect(Math.abs(last.anisotropyB - anisotropy(flat(eb), 40, C))).toBeLessThan(1e-5);
    expect(last.mutualKnn).toBe(mutualKnn(flat(ea), flat(eb), 40, C, C).score);
    // mean pooling changes the features (so the option reaches the kernels)
    const mean = await layerFeatures(embedder, texts.slice(0, 2), { pooling: 'mean' });
    expect(Array.from(mean[1].subarray(0, C))).not.toEqual(Array.from(feats[1].subarray(0, C)));
    expect(formatAnalysisTable(r).split('\n')[1]).toMatch(/^0 embeddings\s+-?\d\.\d{4}/);
    // with a prompt, layer 0 pools the prompt's last token for every item: one
    // direction per side, all neighbours tie, mutual kNN undefined (NaN)
    const sub = { names: P.names, a: P.a.slice(0, 12), b: P.b.slice(0, 12) };
    const tied = await analyzeLayers(embedder, sub, { prompt: 'lco' });
    expect(tied.layers[0].anisotropyA).toBeCloseTo(1, 9);
    expect(tied.layers[0].anisotropyB).toBeCloseTo(1, 9);
    expect(Number.isNaN(tied.layers[0].mutualKnn)).toBe(true);
    expect(tied.layers.slice(1).every((s) => Number.isFinite(s.mutualKnn))).toBe(true);
    expect(formatAnalysisTable(tied)).toMatch(/^0 embeddings\s+1\.0000\s+1\.0000\s+n\/a$/m);
    expect(analysisSvg(r)).toMatch(/^<svg[\s\S]*polyline[\s\S]*<\/svg>\n$/);
  });
});
