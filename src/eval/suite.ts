// An evaluation suite: the texts and gold data of the embedding tasks
// `lco eval` and `lco analyze` run, independent of where they came from.
// A task builder (registered in TASK_BUILDERS by name, e.g. "wordnet") makes
// one; evaluateEmbedder (run-eval.ts) and analyzeLayers (run-analysis.ts)
// only read this shape, so a new data source is one more builder.
//
//   retrieval       queries [Q], corpus [D], qrels [Q] (doc index -> relevance)
//   sts             sentence1 [P], sentence2 [P], gold score [P]
//   clustering      texts [N], labels [N]  (k-means with k = distinct labels)
//   classification  texts [M], labels [M], folds [M] ('train' or 'test')
//   paired          a [n], b [n]: two "modalities" of the same n items, row i
//                   of each is item i (for anisotropy and mutual kNN per layer)
// Every part is optional; a builder fills the ones its data has. Retrieval
// queries and documents and the paired sides may be images ({image, text?},
// as the Embedder takes them: image->text retrieval, image/caption analysis).
//
// Subsampling helpers shared by builders (seeded, deterministic):
//   subsampleCorpus   keeps every document some query needs, then others in a
//                     seeded order up to maxDocs; the kept documents stay in
//                     corpus order and the qrels are re-indexed
//   subsampleLabelled per (label, fold) group keeps max(1, round(size * f))
//                     items, f = maxItems / n, so every label keeps a train and
//                     a test item (the total may exceed maxItems when it is
//                     below the number of such groups)
import type { ImageSource } from '../embed/embedder.ts';
import { Rng, shuffleInPlace } from '../model/sample.ts';
import type { Qrels } from './metrics.ts';
import { EvalInputError } from './matrix.ts';

const rngFn = (r: Rng) => () => r.next();

/** A text, or an image with an optional text. */
export type EvalItem = string | { image: ImageSource; text?: string };

export interface RetrievalSuite {
  queries: EvalItem[];
  corpus: EvalItem[];
  /** [Q] document index -> integer relevance (>= 1 relevant). */
  qrels: Map<number, number>[];
}

export interface StsSuite {
  sentence1: string[];
  sentence2: string[];
  /** [P] gold similarity (any scale: only the ranks matter to Spearman). */
  scores: number[];
}

export interface ClusteringSuite {
  texts: string[];
  labels: string[];
}

export interface ClassificationSuite {
  texts: string[];
  labels: string[];
  folds: ('train' | 'test')[];
}

export interface PairedSuite {
  /** Names of the two sides, e.g. ["example", "gloss"]. */
  names: [string, string];
  a: EvalItem[];
  b: EvalItem[];
}

export interface EvalSuite {
  /** The builder's name ("wordnet"). */
  name: string;
  retrieval?: RetrievalSuite;
  sts?: StsSuite;
  clustering?: ClusteringSuite;
  classification?: ClassificationSuite;
  paired?: PairedSuite;
  /** What the builder was asked for and anything else worth recording (JSON-able). */
  meta: Record<string, unknown>;
}

/** Size options every builder understands. */
export interface SuiteOptions {
  /** Seed of every random choice. Default 0. */
  seed?: number;
  /** At most this many retrieval queries. */
  maxQueries?: number;
  /** At most this many corpus documents (those the queries need are always kept). */
  maxDocs?: number;
  /** Extra non-relevant documents a builder may add to the corpus. */
  distractors?: number;
  /** About this many clustering / classification items and STS pairs. */
  maxItems?: number;
  /** At most this many paired items (analysis). */
  maxPaired?: number;
}

export type TaskBuilder = (options: SuiteOptions) => Promise<EvalSuite>;

/** Task builders by name: `--tasks NAME`. Loaded lazily (the WordNet one reads ~117k synsets). */
export const TASK_BUILDERS: Record<string, () => Promise<TaskBuilder>> = {
  wordnet: async () => (await import('./wordnet-suite.ts')).buildWordNetSuite,
  shapes: async () => (await import('./shapes-suite.ts')).buildShapesSuite,
};

export class SuiteError extends EvalInputError {
  override name = 'SuiteError';
}

/** Builds the suite registered as `name`. */
export async function buildSuite(name: string, options: SuiteOptions = {}): Promise<EvalSuite> {
  const load = Object.hasOwn(TASK_BUILDERS, name) ? TASK_BUILDERS[name] : undefined;
  if (!load) throw new SuiteError(`task suite "${name}" is not one of: ${Object.keys(TASK_BUILDERS).join(', ')}`);
  return (await load())(options);
}

/** The corpus cut to maxDocs documents: all the qrels name first, then others in a seeded order. */
export function subsampleCorpus(r: RetrievalSuite, maxDocs: number, seed: number): RetrievalSuite {
  if (!Number.isInteger(maxDocs) || maxDocs < 1) throw new SuiteError(`subsampleCorpus: maxDocs ${maxDocs} must be a positive integer`);
  const D = r.corpus.length;
  if (D <= maxDocs) return r;
  const keep = new Uint8Array(D);
  let kept = 0;
  for (const rels of r.qrels) {
    for (const d of rels.keys()) {
      if (d < 0 || d >= D) throw new SuiteError(`subsampleCorpus: qrels name document ${d}, outside [0, ${D})`);
      if (!keep[d]) { keep[d] = 1; kept++; }
    }
  }
  const others = shuffleInPlace(Array.from({ length: D }, (_, d) => d).filter((d) => !keep[d]), rngFn(new Rng(seed >>> 0)));
  for (let i = 0; i < others.length && kept < maxDocs; i++, kept++) keep[others[i]] = 1;
  const newIndex = new Int32Array(D).fill(-1);
  const corpus: EvalItem[] = [];
  for (let d = 0; d < D; d++) {
    if (!keep[d]) continue;
    newIndex[d] = corpus.length;
    corpus.push(r.corpus[d]);
  }
  const qrels = r.qrels.map((rels) => new Map([...rels].map(([d, v]) => [newIndex[d], v])));
  return { queries: r.queries, corpus, qrels };
}

/**
 * Indices of about maxItems of n labelled items, stratified by (label, fold):
 * each group keeps max(1, round(size * maxItems / n)) in a seeded order;
 * returned ascending (the items keep their order).
 */
export function subsampleLabelled(labels: readonly string[], folds: readonly string[], maxItems: number, seed: number): number[] {
  const n = labels.length;
  if (!Number.isInteger(maxItems) || maxItems < 1) throw new SuiteError(`subsampleLabelled: maxItems ${maxItems} must be a positive integer`);
  if (folds.length !== n) throw new SuiteError(`subsampleLabelled: ${folds.length} folds for ${n} labels`);
  if (n <= maxItems) return Array.from({ length: n }, (_, i) => i);
  const groups = new Map<string, number[]>();
  labels.forEach((l, i) => {
    const key = `${l}\u0000${folds[i]}`;
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  const rng = new Rng(seed >>> 0);
  const f = maxItems / n;
  const out: number[] = [];
  // Groups in sorted key order, so the draw does not depend on item order.
  for (const key of [...groups.keys()].sort()) {
    const g = shuffleInPlace(groups.get(key)!.slice(), rngFn(rng));
    out.push(...g.slice(0, Math.max(1, Math.round(g.length * f))));
  }
  return out.sort((a, b) => a - b);
}
