// Cross-checks the lexical baselines (src/eval/lexical.ts) on the default
// WordNet split against scikit-learn's TfidfVectorizer and an independent
// BM25 loop in Python (scripts/crosscheck_lexical.py; needs Debian's
// python3-sklearn: apt-get install python3-sklearn). Prints the largest
// differences; exit status 1 when one passes its tolerance.
//
//   npx tsx scripts/crosscheck-lexical.ts [--max-queries N]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bm25Scores, fitTfidf, tfidfCosines } from '../src/eval/lexical.ts';
import { LEXICAL_MAX_FEATURES } from '../src/eval/run-lexical.ts';
import { buildSuite } from '../src/eval/suite.ts';

const at = process.argv.indexOf('--max-queries');
const maxQueries = at > 0 ? Number(process.argv[at + 1]) : 500;
const suite = await buildSuite('wordnet', { seed: 0, maxQueries, distractors: 500 });
const R = suite.retrieval!, S = suite.sts!, K = suite.clustering!;
const queries = R.queries as string[], corpus = R.corpus as string[];

const sts = fitTfidf([...S.sentence1, ...S.sentence2]);
const cos = tfidfCosines(sts, S.sentence1, S.sentence2); // what evaluateLexical scores STS with
const km = fitTfidf(K.texts, LEXICAL_MAX_FEATURES);

const dir = mkdtempSync(join(tmpdir(), 'lco-lexical-'));
try {
  const file = join(dir, 'split.json');
  writeFileSync(file, JSON.stringify({
    queries, corpus, bm25: Array.from(bm25Scores(queries, corpus)),
    s1: S.sentence1, s2: S.sentence2, stsCosines: Array.from(cos), stsTerms: sts.terms,
    clusterTexts: K.texts, clusterTerms: km.terms, maxFeatures: LEXICAL_MAX_FEATURES,
  }));
  const py = spawnSync('/usr/bin/python3', [new URL('./crosscheck_lexical.py', import.meta.url).pathname, file], { stdio: 'inherit' });
  process.exitCode = py.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
