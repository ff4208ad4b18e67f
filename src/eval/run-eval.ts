// Runs an evaluation suite (suite.ts) against an embedder: MTEB-style scores
// from the CPU metrics of this folder.
//
//   retrieval       e_q = embed(queries, queryPrompt), e_d = embed(corpus, prompt)
//                   scores = cos(e_q, e_d) [Q, D] -> nDCG@10, Recall@1/5/10,
//                   Acc@1/5/10, MRR@10, MAP@100 (metrics.ts, trec_eval definitions)
//   sts             Spearman (and Pearson) of cos(e(s1_i), e(s2_i)) against gold_i
//   clustering      k-means (Lloyd, k-means++, `kmeansRestarts` seeded restarts,
//                   euclidean as MTEB) with k = distinct labels -> V-measure, NMI
//   classification  logistic-regression probe trained on the 'train' fold,
//                   accuracy on the 'test' fold (probe.ts)
// Every text is embedded once per prompt: the suite's parts share texts (the
// WordNet glosses are documents, clustering items and STS sentences), so the
// distinct (prompt, text) pairs are embedded in one call per prompt and the
// task matrices [n, dim] gathered from them.
//
// A metric with no defined value (Spearman of constant cosines) is NaN here
// and null in JSON.
import type { EmbedOptions } from '../embed/embedder.ts';
import { clusteringFromEmbeddings, type ClusteringResult } from './cluster.ts';
import { EvalInputError } from './matrix.ts';
import { retrievalFromEmbeddings, stsFromEmbeddings, type RetrievalResult } from './metrics.ts';
import { probeAccuracy, type ProbeResult } from './probe.ts';
import type { ClassificationSuite, EvalItem, EvalSuite } from './suite.ts';

/** What evaluateEmbedder needs of an embedder (Embedder has it; tests pass stubs). */
export interface TextEmbedder {
  embed(inputs: readonly EvalItem[], opts: EmbedOptions): Promise<Float32Array[]>;
}

export interface EvalEmbedOptions extends EmbedOptions {
  /** Prompt of the retrieval queries. Default: `prompt` (queries and documents alike). */
  queryPrompt?: string;
}

export interface EvalRunOptions {
  /** k-means seed. Default 0. */
  seed?: number;
  /** k-means++ restarts (lowest inertia kept). Default 3: enough to steady V-measure, a third of sklearn's 10. */
  kmeansRestarts?: number;
}

export const DEFAULT_KMEANS_RESTARTS = 3;

/** The retrieval means and query counts (metrics.ts's result without the per-query rows). */
export type RetrievalScores = Omit<RetrievalResult, 'perQuery'>;

export interface StsScores {
  spearman: number;
  pearson: number;
}

export interface ClusteringScores {
  vMeasure: number;
  nmi: number;
  homogeneity: number;
  completeness: number;
  k: number;
  inertia: number;
  /** Lloyd updates of the kept restart, and whether it reached a fixed point. */
  iterations: number;
  converged: boolean;
}

export interface ClassificationScores {
  accuracy: number;
  trainAccuracy: number;
  classes: number;
  probeIterations: number;
  converged: boolean;
}

export interface EvalResults {
  suite: string;
  options: {
    prompt: string;
    queryPrompt: string;
    chat: string;
    pooling: string;
    normalize: boolean;
    /** Embedding width the metrics saw. */
    dimensions: number;
    batchSize: number;
    maxLength: number | null;
    kmeansRestarts: number;
    seed: number;
  };
  counts: {
    queries: number;
    documents: number;
    stsPairs: number;
    clusteringItems: number;
    classificationTrain: number;
    classificationTest: number;
    /** Texts the tasks use, and the distinct (prompt, text) pairs actually embedded. */
    textsRequested: number;
    textsEmbedded: number;
  };
  retrieval?: RetrievalScores;
  sts?: StsScores;
  clustering?: ClusteringScores;
  classification?: ClassificationScores;
  /** Seconds. */
  timings: {
    embed: number;
    /** textsEmbedded / embed seconds. */
    textsPerSecond: number;
    retrieval: number;
    sts: number;
    clustering: number;
    classification: number;
    total: number;
  };
  suiteMeta: Record<string, unknown>;
}

/** The distinct texts of one prompt, in first-use order. */
interface PromptGroup {
  prompt: string;
  texts: EvalItem[];
  /** By text, by image path + text, or by the image object itself. */
  index: Map<unknown, number>;
  vectors?: Float32Array[];
}

/** Which rows of which group make up one task side. */
interface TextRef {
  group: PromptGroup;
  rows: number[];
}

function checkSameLength(where: string, what: Record<string, readonly unknown[]>): number {
  const entries = Object.entries(what);
  const n = entries[0][1].length;
  for (const [name, list] of entries) {
    if (!Array.isArray(list)) throw new EvalInputError(`${where}: ${name} must be an array`);
    if (list.length !== n) throw new EvalInputError(`${where}: ${name} has ${list.length} entries, ${entries[0][0]} has ${n}`);
  }
  if (n === 0) throw new EvalInputError(`${where}: no items`);
  return n;
}

/** f's value and the seconds it took. */
export function timed<T>(f: () => T): [T, number] {
  const t = performance.now();
  const v = f();
  return [v, (performance.now() - t) / 1000];
}

/** The rows of the classification fold `fold`; a bad fold name or an empty fold is an error. */
export function foldRows(suiteName: string, P: ClassificationSuite, fold: 'train' | 'test'): number[] {
  const rows = P.folds.flatMap((f, i) => {
    if (f !== 'train' && f !== 'test') throw new EvalInputError(`${suiteName} classification.folds[${i}] = ${String(f)}; expected 'train' or 'test'`);
    return f === fold ? [i] : [];
  });
  if (rows.length === 0) throw new EvalInputError(`${suiteName} classification: no '${fold}' items`);
  return rows;
}

/** The means and counts of a retrieval result, without its per-query rows. */
export function retrievalScores(m: RetrievalResult): RetrievalScores {
  const { perQuery: _perQuery, ...scores } = m;
  return scores;
}

export function clusteringScores(m: ClusteringResult): ClusteringScores {
  return {
    vMeasure: m.vMeasure, nmi: m.nmi, homogeneity: m.homogeneity, completeness: m.completeness, k: m.k,
    inertia: m.kmeans.inertia, iterations: m.kmeans.iterations, converged: m.kmeans.converged,
  };
}

export function classificationScores(m: ProbeResult): ClassificationScores {
  return { accuracy: m.accuracy, trainAccuracy: m.trainAccuracy, classes: m.probe.classes.length, probeIterations: m.probe.iterations, converged: m.probe.converged };
}

/** Scores `embedder` on every part `suite` has. */
export async function evaluateEmbedder(
  embedder: TextEmbedder, suite: EvalSuite, embedOpts: EvalEmbedOptions = {}, runOpts: EvalRunOptions = {},
): Promise<EvalResults> {
  const t0 = performance.now();
  const prompt = embedOpts.prompt ?? 'none';
  const queryPrompt = embedOpts.queryPrompt ?? prompt;
  const restarts = runOpts.kmeansRestarts ?? DEFAULT_KMEANS_RESTARTS;
  const seed = runOpts.seed ?? 0;
  const groups = new Map<string, PromptGroup>();
  let requested = 0;
  const use = (p: string, texts: readonly EvalItem[], where: string): TextRef => {
    let g = groups.get(p);
    if (!g) groups.set(p, (g = { prompt: p, texts: [], index: new Map() }));
    const rows = texts.map((t, i) => {
      const isImage = typeof t === 'object' && t !== null && 'image' in t;
      if (!isImage && (typeof t !== 'string' || t.length === 0)) throw new EvalInputError(`${suite.name} ${where}[${i}]: expected a non-empty text or {image, text?}`);
      const key = typeof t === 'string' ? t : typeof t.image === 'string' ? `\u0000${t.image}\u0000${t.text ?? ''}` : t;
      let r = g.index.get(key);
      if (r === undefined) {
        r = g.texts.length;
        g.index.set(key, r);
        g.texts.push(t);
      }
      return r;
    });
    requested += texts.length;
    return { group: g, rows };
  };

  const { retrieval: R, sts: S, clustering: K, classification: P } = suite;
  const refs = {
    queries: R && (checkSameLength(`${suite.name} retrieval`, { queries: R.queries, qrels: R.qrels }), use(queryPrompt, R.queries, 'retrieval.queries')),
    corpus: R && use(prompt, R.corpus, 'retrieval.corpus'),
    s1: S && (checkSameLength(`${suite.name} sts`, { sentence1: S.sentence1, sentence2: S.sentence2, scores: S.scores }), use(prompt, S.sentence1, 'sts.sentence1')),
    s2: S && use(prompt, S.sentence2, 'sts.sentence2'),
    cluster: K && (checkSameLength(`${suite.name} clustering`, { texts: K.texts, labels: K.labels }), use(prompt, K.texts, 'clustering.texts')),
    probe: P && (checkSameLength(`${suite.name} classification`, { texts: P.texts, labels: P.labels, folds: P.folds }), use(prompt, P.texts, 'classification.texts')),
  };

  // Embed each prompt's distinct texts in one call.
  const { queryPrompt: _q, ...opts } = embedOpts;
  const te = performance.now();
  let dim = -1;
  let embedded = 0;
  for (const g of groups.values()) {
    g.vectors = await embedder.embed(g.texts, { ...opts, prompt: g.prompt });
    if (g.vectors.length !== g.texts.length) throw new EvalInputError(`embedder returned ${g.vectors.length} vectors for ${g.texts.length} texts`);
    g.vectors.forEach((v, i) => {
      if (dim < 0) dim = v.length;
      if (v.length !== dim) throw new EvalInputError(`embedder: vector ${i} of prompt "${g.prompt}" has ${v.length} values, the first had ${dim}`);
    });
    embedded += g.texts.length;
  }
  const embedSeconds = (performance.now() - te) / 1000;
  if (dim < 1) throw new EvalInputError(`${suite.name}: the suite has no texts to embed`);
  const matrix = (ref: TextRef): Float32Array => {
    const m = new Float32Array(ref.rows.length * dim);
    ref.rows.forEach((r, i) => m.set(ref.group.vectors![r], i * dim));
    return m;
  };

  let retrieval: RetrievalScores | undefined, tr = 0;
  if (R && refs.queries && refs.corpus) {
    const Q = R.queries.length, D = R.corpus.length;
    [retrieval, tr] = timed(() => {
      return retrievalScores(retrievalFromEmbeddings(matrix(refs.queries!), matrix(refs.corpus!), Q, D, dim, R.qrels));
    });
  }

  let sts: StsScores | undefined, ts = 0;
  if (S && refs.s1 && refs.s2) {
    [sts, ts] = timed(() => {
      const m = stsFromEmbeddings(matrix(refs.s1!), matrix(refs.s2!), S.scores.length, dim, S.scores);
      return { spearman: m.cosineSpearman, pearson: m.cosinePearson };
    });
  }

  let clustering: ClusteringScores | undefined, tc = 0;
  if (K && refs.cluster) {
    [clustering, tc] = timed(() => {
      return clusteringScores(clusteringFromEmbeddings(matrix(refs.cluster!), K.texts.length, dim, K.labels, { seed, restarts }));
    });
  }

  let classification: ClassificationScores | undefined, tp = 0;
  let nTrain = 0, nTest = 0;
  if (P && refs.probe) {
    const x = matrix(refs.probe);
    const split = (fold: 'train' | 'test') => {
      const rows = foldRows(suite.name, P, fold);
      const sub = new Float32Array(rows.length * dim);
      rows.forEach((r, i) => sub.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
      return { x: sub, n: rows.length, labels: rows.map((r) => P.labels[r]) };
    };
    const train = split('train'), test = split('test');
    nTrain = train.n;
    nTest = test.n;
    [classification, tp] = timed(() => classificationScores(probeAccuracy(train, test, dim)));
  }

  return {
    suite: suite.name,
    options: {
      prompt, queryPrompt, chat: embedOpts.chat ?? 'none', pooling: embedOpts.pooling ?? 'lasttoken',
      normalize: embedOpts.normalize ?? true, dimensions: dim, batchSize: embedOpts.batchSize ?? 32,
      maxLength: embedOpts.maxLength ?? null, kmeansRestarts: restarts, seed,
    },
    counts: {
      queries: R?.queries.length ?? 0, documents: R?.corpus.length ?? 0, stsPairs: S?.scores.length ?? 0,
      clusteringItems: K?.texts.length ?? 0, classificationTrain: nTrain, classificationTest: nTest,
      textsRequested: requested, textsEmbedded: embedded,
    },
    retrieval, sts, clustering, classification,
    timings: {
      embed: embedSeconds, textsPerSecond: embedded / Math.max(embedSeconds, 1e-9),
      retrieval: tr, sts: ts, clustering: tc, classification: tp, total: (performance.now() - t0) / 1000,
    },
    suiteMeta: suite.meta,
  };
}

const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : 'n/a');

/** The task scores a table row reads: an embedder's results, or the lexical baselines' (run-lexical.ts). */
export type TaskScores = Pick<EvalResults, 'retrieval' | 'sts' | 'clustering' | 'classification'>;

/** The (task, metric, value) rows of a table, in order. */
function scoreRows(r: TaskScores): [string, string, number][] {
  const rows: [string, string, number][] = [];
  if (r.retrieval) {
    const m = r.retrieval;
    rows.push(['retrieval', 'nDCG@10', m.ndcgAt10], ['retrieval', 'Recall@1', m.recallAt1], ['retrieval', 'Recall@5', m.recallAt5],
      ['retrieval', 'Recall@10', m.recallAt10], ['retrieval', 'MRR@10', m.mrrAt10], ['retrieval', 'MAP@100', m.mapAt100]);
  }
  if (r.sts) rows.push(['sts', 'Spearman', r.sts.spearman], ['sts', 'Pearson', r.sts.pearson]);
  if (r.clustering) rows.push(['clustering', 'V-measure', r.clustering.vMeasure], ['clustering', 'NMI', r.clustering.nmi]);
  if (r.classification) rows.push(['classification', 'accuracy', r.classification.accuracy]);
  return rows;
}

/**
 * A plain-text table: one line per (task, metric), with the lexical
 * baselines' value beside the model's when given ('-' where a task has
 * none), then counts and timings.
 */
export function formatResultsTable(r: EvalResults, lexical?: TaskScores): string {
  const base = new Map((lexical ? scoreRows(lexical) : []).map(([task, metric, v]) => [`${task} ${metric}`, v]));
  const rows = scoreRows(r).map(([task, metric, v], i, all): string[] => {
    const row = [i > 0 && all[i - 1][0] === task ? '' : task, metric, fmt(v)];
    if (lexical) row.push(base.has(`${task} ${metric}`) ? fmt(base.get(`${task} ${metric}`)!) : '-');
    return row;
  });
  const head = ['task', 'metric', 'value', ...(lexical ? ['lexical'] : [])];
  const widths = head.map((h, j) => Math.max(h.length + 2, ...rows.map((x) => x[j].length + 2)));
  const line = (cells: string[]) => cells.map((x, j) => (j < cells.length - 1 ? x.padEnd(widths[j]) : x)).join('');
  const lines = [line(head), ...rows.map(line)];
  const c = r.counts, t = r.timings, o = r.options;
  lines.push('');
  lines.push(`suite ${r.suite}: ${c.queries} queries x ${c.documents} documents, ${c.stsPairs} STS pairs, ` +
    `${c.clusteringItems} clustering items (${r.clustering?.k ?? 0} labels), probe ${c.classificationTrain} train / ${c.classificationTest} test`);
  lines.push(`prompt ${o.prompt}${o.queryPrompt !== o.prompt ? ` (queries ${o.queryPrompt})` : ''}, pooling ${o.pooling}, ${o.dimensions} dims`);
  lines.push(`embedded ${c.textsEmbedded} distinct texts (of ${c.textsRequested} uses) in ${t.embed.toFixed(1)} s (${t.textsPerSecond.toFixed(0)} texts/s); ` +
    `scoring ${(t.retrieval + t.sts + t.clustering + t.classification).toFixed(1)} s; total ${t.total.toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}
