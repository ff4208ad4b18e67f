import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  LEX_FILE_NAMES, parseDataLine, readWordNet, splitOf, WordNetError, wordnetDictDir, type Synset,
} from '../src/data/wordnet.ts';
import {
  evalTasks, hypernymGraph, readSenseIndex, trainingTriplets, VIRTUAL_ROOT, WordNetTaskError, writeJsonl,
  type EvalTasks, type HypernymGraph, type SenseIndex, type Triplets,
} from '../src/data/wordnet-tasks.ts';

// One load of WordNet (~1 s), one graph, one set of default tasks for the whole file.
let all: Synset[];
let byId: Map<string, Synset>;
let senses: SenseIndex;
let graph: HypernymGraph; // with the sense index: NLTK's names
let triplets: Triplets;
let tasks: EvalTasks;

beforeAll(async () => {
  all = await readWordNet();
  byId = new Map(all.map((s) => [s.id, s]));
  senses = await readSenseIndex();
  graph = hypernymGraph(all, senses);
  triplets = trainingTriplets(all, { seed: 0 });
  tasks = evalTasks(all, {}, graph);
});

/** The line of an installed data file that starts with `offset`, and its "file:line". */
async function dataLine(file: string, offset: string): Promise<{ line: string; where: string }> {
  const lines = (await readFile(join(wordnetDictDir(), file), 'utf8')).split('\n');
  const i = lines.findIndex((l) => l.startsWith(`${offset} `));
  expect(i).toBeGreaterThan(0);
  return { line: lines[i], where: `${file}:${i + 1}` };
}

const lemmas = (s: Synset) => new Set(s.words.map((w) => w.toLowerCase()));
const hypernymIds = (s: Synset) => s.pointers.filter((p) => p.symbol === '@' || p.symbol === '@i').map((p) => p.target);

describe('WordNet parser: lexicographer files and pointers', () => {
  it('parses the real dog line of data.noun', async () => {
    const { line, where } = await dataLine('data.noun', '02086723');
    const s = parseDataLine(line, where)!;
    expect(s.id).toBe('n02086723');
    expect(s.words).toEqual(['dog', 'domestic dog', 'Canis familiaris']);
    expect(s.lexFile).toBe(5);
    expect(LEX_FILE_NAMES[s.lexFile]).toBe('noun.animal');
    // p_cnt 023: two hypernyms, two member holonyms, 18 hyponyms, one part meronym.
    expect(s.pointers).toHaveLength(23);
    expect(s.pointers.slice(0, 4)).toEqual([
      { symbol: '@', target: 'n02085998' }, { symbol: '@', target: 'n01320032' },
      { symbol: '#m', target: 'n02086515' }, { symbol: '#m', target: 'n08011383' },
    ]);
    expect(s.pointers.filter((p) => p.symbol === '~')).toHaveLength(18);
    expect(s.pointers[22]).toEqual({ symbol: '%p', target: 'n02161498' });
    expect(s.examples).toEqual(['the dog barked all night']);
  });

  it('resolves adjective targets to satellites ("s" ids) only after reading data.adj', async () => {
    // 00003356 nascent (a): "! 00003938 a 0101 & 00003552 a 0000 & 00003699 a 0000 & 00003828 a 0000".
    const { line, where } = await dataLine('data.adj', '00003356');
    const raw = parseDataLine(line, where)!;
    expect(raw.id).toBe('a00003356');
    expect(LEX_FILE_NAMES[raw.lexFile]).toBe('adj.all');
    expect(raw.pointers.map((p) => `${p.symbol} ${p.target}`)).toEqual(['+ n07334902', '! a00003938', '& a00003552', '& a00003699', '& a00003828']);
    const nascent = byId.get('a00003356')!;
    expect(nascent.pointers.map((p) => `${p.symbol} ${p.target}`)).toEqual(['+ n07334902', '! a00003938', '& s00003552', '& s00003699', '& s00003828']);
    expect(byId.get('s00003552')!.words).toEqual(['emergent', 'emerging']);
    expect(byId.get('s00003552')!.pointers[0]).toEqual({ symbol: '&', target: 'a00003356' });
  });

  it('every pointer target is a synset, hypernyms have their inverse, lex files match the part of speech', () => {
    let pointers = 0;
    let satellites = 0;
    for (const s of all) {
      expect(LEX_FILE_NAMES[s.lexFile].split('.')[0]).toBe({ n: 'noun', v: 'verb', a: 'adj', s: 'adj', r: 'adv' }[s.pos]);
      for (const p of s.pointers) {
        pointers++;
        const t = byId.get(p.target);
        if (!t) throw new Error(`${s.id}: pointer ${p.symbol} ${p.target} points at no synset`);
        if (t.pos === 's') satellites++;
        const inverse = { '@': '~', '@i': '~i' }[p.symbol as '@' | '@i'];
        if (inverse && !t.pointers.some((q) => q.symbol === inverse && q.target === s.id)) {
          throw new Error(`${s.id} ${p.symbol} ${t.id} has no ${inverse} back`);
        }
      }
    }
    expect(LEX_FILE_NAMES).toHaveLength(45);
    expect([LEX_FILE_NAMES[3], LEX_FILE_NAMES[29], LEX_FILE_NAMES[43], LEX_FILE_NAMES[44]]).toEqual(['noun.Tops', 'verb.body', 'verb.weather', 'adj.ppl']);
    expect(pointers).toBeGreaterThan(350_000);
    expect(satellites).toBeGreaterThan(10_000); // "& a..." from heads and pointers from nouns, verbs, adverbs
  });

  it('names the file:line of a malformed line', async () => {
    const { line } = await dataLine('data.verb', '00001740'); // breathe: p_cnt 021, then 2 verb frames
    const fields = line.split(' | ')[0].split(' ');
    const gloss = line.slice(line.indexOf(' | '));
    const at = fields.indexOf('021');
    // p_cnt says 21 but one pointer follows (then the frames): too few fields.
    const truncated = [...fields.slice(0, at + 5), '02', '+', '02', '00', '+', '08', '00'].join(' ') + gloss;
    expect(() => parseDataLine(truncated, 'data.verb:30')).toThrow(/data\.verb:30: expected p_cnt \(3 digits\) and that many/);
    expect(() => parseDataLine(line.replace(' 02 + 02 00 + 08 00 |', ' 02 + 02 00 |'), 'data.verb:30')).toThrow(/data\.verb:30: .*verb frames/);
    expect(() => parseDataLine(line.replace('00001740 29 v', '00001740 05 v'), 'data.verb:30')).toThrow(/data\.verb:30: lex_filenum "05" is not a verb\./);
    expect(() => parseDataLine(line.replace('* 00005041 v 0000', '* 0000504 v 0000'), 'data.verb:30')).toThrow(/data\.verb:30: pointer 1 of 21/);
    const dog = (await dataLine('data.noun', '02086723')).line;
    expect(() => parseDataLine(dog.replace(' | ', ' 01 + 02 00 | '), 'data.noun:10853')).toThrow(WordNetError);
    expect(() => parseDataLine(dog.replace(' | ', ' 01 + 02 00 | '), 'data.noun:10853')).toThrow(/data\.noun:10853: 4 fields after the 23 pointers; expected none/);
  });
});

describe('hypernym graph and Wu-Palmer (NLTK wup_similarity, simulate_root)', () => {
  // Each chain below is read off the data lines ("@"/"@i" pointers); the test
  // checks it against the graph before using it.
  const chain = (ids: string[]) => {
    for (let k = 0; k + 1 < ids.length; k++) expect(graph.hypernyms(ids[k])).toContain(ids[k + 1]);
  };
  // entity <- physical_entity <- object <- whole <- living_thing <- organism <- animal
  const ANIMAL_UP = ['n00015568', 'n00004475', 'n00004258', 'n00003553', 'n00002684', 'n00001930', 'n00001740'];

  it('dog vs cat = 6/7: lcs carnivore, depth 12, two hops each', () => {
    // dog 02086723 @ canine 02085998 @ carnivore 02077948 @ placental 01889397 @ mammal 01864419
    //   @ vertebrate 01474323 @ chordate 01468898 @ animal 00015568 ... @ entity 00001740;
    // dog also @ domestic_animal 01320032 @ animal 00015568.
    // cat 02124272 @ feline 02123649 @ carnivore 02077948.
    const carnivoreUp = ['n02077948', 'n01889397', 'n01864419', 'n01474323', 'n01468898', ...ANIMAL_UP];
    chain(['n02086723', 'n02085998', ...carnivoreUp]);
    chain(['n02124272', 'n02123649', 'n02077948']);
    expect(graph.hypernyms('n02086723')).toEqual(['n02085998', 'n01320032']);
    for (const id of carnivoreUp.slice(0, -1)) expect(graph.hypernyms(id)).toHaveLength(1);
    // Common hypernyms: carnivore and the 11 above it (domestic_animal is not above
    // cat). Deepest by min_depth: carnivore, min = max depth 11 (one path to entity),
    // so depth = 11 + 1 = 12. len(dog) = len(cat) = 2.
    // wup = 2*12 / ((2 + 12) + (2 + 12)) = 24/28 = 6/7.
    expect(graph.maxDepth('n02077948')).toBe(11);
    expect(graph.depth('n02077948')).toBe(12);
    expect(graph.lcs('n02086723', 'n02124272')).toBe('n02077948');
    expect(graph.wuPalmer('n02086723', 'n02124272')).toBeCloseTo(6 / 7, 15);
    // dog: min_depth 8 (via domestic_animal, 7 above animal's 6... entity 0) and max_depth 13.
    expect(graph.minDepth('n02086723')).toBe(8);
    expect(graph.maxDepth('n02086723')).toBe(13);
  });

  it('dog vs entity = 1/5: the length is the shortest path (via domestic_animal), not the deepest', () => {
    chain(['n02086723', 'n01320032', ...ANIMAL_UP]);
    // lcs = entity (the only common hypernym), depth 0 + 1 = 1.
    // len(dog -> entity) = 8: dog @ domestic_animal @ animal @ organism @ living_thing
    //   @ whole @ object @ physical_entity @ entity (the canine path has 13 hops).
    // len(entity -> entity) = 0. wup = 2*1 / ((8 + 1) + (0 + 1)) = 2/10.
    expect(graph.ancestors('n02086723').get('n00001740')).toBe(8);
    expect(graph.wuPalmer('n02086723', 'n00001740')).toBeCloseTo(0.2, 15);
  });

  it('car vs bicycle = 8/11: a tie of min_depth 7, broken by NLTK name order (vehicle < wheeled_vehicle)', () => {
    // car 02961779 @ motor_vehicle 03796768 @ self-propelled_vehicle 04177098
    //   @ wheeled_vehicle 04583497 @ {container 03099154, vehicle 04531608};
    // bicycle 02837983 @ wheeled_vehicle. container @ instrumentality 03580409;
    // vehicle @ conveyance 03105141 @ instrumentality @ artifact 00022119 @ whole ...
    chain(['n02961779', 'n03796768', 'n04177098', 'n04583497', 'n04531608', 'n03105141', 'n03580409', 'n00022119', 'n00003553']);
    chain(['n02837983', 'n04583497', 'n03099154', 'n03580409']);
    expect(graph.hypernyms('n04583497').sort()).toEqual(['n03099154', 'n04531608']);
    // min_depth: instrumentality 5, container 6, conveyance 6, vehicle 7,
    // wheeled_vehicle 1 + min(6, 7) = 7: both 7, "vehicle.n.01" sorts first.
    expect([graph.minDepth('n04531608'), graph.minDepth('n04583497')]).toEqual([7, 7]);
    expect([graph.name('n04531608'), graph.name('n04583497')]).toEqual(['vehicle.n.01', 'wheeled_vehicle.n.01']);
    // depth = max_depth(vehicle) + 1 = 7 + 1; len(car) = 4, len(bicycle) = 2.
    // wup = 16 / ((4 + 8) + (2 + 8)) = 16/22 = 8/11 (wheeled_vehicle would give 18/22).
    expect(graph.lcs('n02961779', 'n02837983')).toBe('n04531608');
    expect(graph.wuPalmer('n02961779', 'n02837983')).toBeCloseTo(8 / 11, 15);
  });

  it('verbs: the virtual root wins a tie with a real root; its length counts the farthest ancestor', () => {
    // walk 01908923 @ travel 01839438 (a root); run 01930264 @ travel_rapidly 02059573 @ travel.
    chain(['v01908923', 'v01839438']);
    chain(['v01930264', 'v02059573', 'v01839438']);
    expect(graph.hypernyms('v01839438')).toEqual([]);
    // Common: travel (min_depth 0) and *ROOT* (min_depth 0): "*ROOT*" < "travel.v.01".
    // depth 1. len(walk -> *ROOT*) = (farthest ancestor, travel, 1) + 1 = 2;
    // len(run) = 2 + 1 = 3. wup = 2 / ((2 + 1) + (3 + 1)) = 2/7 (NLTK gives the same).
    expect(graph.lcs('v01908923', 'v01930264')).toBe(VIRTUAL_ROOT);
    expect(graph.wuPalmer('v01908923', 'v01930264')).toBeCloseTo(2 / 7, 15);
    // breathe 00001740 has no hypernym: len 0 + 1 = 1. wup(breathe, walk) = 2 / ((1 + 1) + (2 + 1)) = 2/5.
    expect(graph.hypernyms('v00001740')).toEqual([]);
    expect(graph.wuPalmer('v00001740', 'v01908923')).toBeCloseTo(0.4, 15);
    expect(graph.depth(VIRTUAL_ROOT)).toBe(1);
  });

  it('the sense index decides a tie of two senses of one lemma (eat.v.01 vs eat.v.02)', () => {
    // devour 01199565 @ eat_up 01199335 @ eat 01170802 @ {eat 01168667, consume 01159300};
    // nibble 01176591 @ eat 01170802; eat 01168667 @ consume 01159300 (a root).
    chain(['v01199565', 'v01199335', 'v01170802', 'v01168667', 'v01159300']);
    chain(['v01176591', 'v01170802', 'v01159300']);
    // index.verb: "eat v 6 6 ... 01170802 01168667 ...": 01170802 is eat.v.01, 01168667 eat.v.02.
    expect(senses.get('v eat')!.slice(0, 2)).toEqual(['01170802', '01168667']);
    expect([graph.name('v01170802'), graph.name('v01168667')]).toEqual(['eat.v.01', 'eat.v.02']);
    // Both have min_depth 1 (via consume). eat.v.01: depth 2 + 1 = 3, len 2 and 1:
    // wup = 6 / ((2 + 3) + (1 + 3)) = 6/9. Without the index the lower offset,
    // eat.v.02, wins: depth 1 + 1 = 2, len 3 and 2: 4 / ((3 + 2) + (2 + 2)) = 4/9.
    expect(graph.wuPalmer('v01199565', 'v01176591')).toBeCloseTo(2 / 3, 15);
    const plain = hypernymGraph(all);
    expect(plain.name('v01170802')).toBe('eat.v.');
    expect(plain.wuPalmer('v01199565', 'v01176591')).toBeCloseTo(4 / 9, 15);
  });

  it('instance hypernyms count: Einstein vs newton (the unit) = 1/7', () => {
    // Einstein 10974490 @i physicist 10447768 @ scientist 10580065 @ person 00007846
    //   @ causal_agent 00007347 @ physical_entity 00001930 @ entity: 6 hops.
    // newton 13669285 @ force_unit 13624308 @ unit_of_measurement 13604927 @ definite_quantity
    //   13597304 @ measure 00033914 @ abstraction 00002137 @ entity: 6 hops.
    const einstein = byId.get('n10974490')!;
    expect(einstein.pointers.filter((p) => p.symbol === '@i').map((p) => p.target)).toEqual(['n10447768']);
    chain(['n10974490', 'n10447768', 'n10580065', 'n00007846', 'n00007347', 'n00001930', 'n00001740']);
    chain(['n13669285', 'n13624308', 'n13604927', 'n13597304', 'n00033914', 'n00002137', 'n00001740']);
    // Only entity is common: depth 1, wup = 2 / ((6 + 1) + (6 + 1)) = 1/7.
    expect(graph.lcs('n10974490', 'n13669285')).toBe('n00001740');
    expect(graph.wuPalmer('n10974490', 'n13669285')).toBeCloseTo(1 / 7, 15);
  });

  it('is symmetric, in (0, 1], and 1 exactly for identical synsets', () => {
    const ids = graph.ids;
    fc.assert(fc.property(fc.nat(ids.length - 1), fc.nat(ids.length - 1), fc.boolean(), (i, j, near) => {
      const a = ids[i];
      // near: b is an ancestor of a (exercises the "a or b is the lcs" cases).
      const up = [...graph.ancestors(a).keys()];
      const b = near ? up[j % up.length] : ids[j];
      const w = graph.wuPalmer(a, b);
      expect(graph.wuPalmer(b, a)).toBe(w);
      expect(w).toBeGreaterThan(0);
      if (a === b) expect(w).toBe(1);
      else expect(w).toBeLessThan(1);
    }), { numRuns: 400, seed: 17 });
    // person.n.01: NLTK gives 0.857 (a deeper ancestor wins min_depth); identical is 1 here.
    expect(graph.wuPalmer('n00007846', 'n00007846')).toBe(1);
    expect(() => graph.wuPalmer('a00003356', 'n00007846')).toThrow(WordNetTaskError);
    expect(() => hypernymGraph(all.filter((s) => s.id !== 'n02077948'))).toThrow(/n02085998 has hypernym pointer "@ n02077948"|hypernym pointer "@ n02077948"/);
  });
});

describe('training triplets (train split)', () => {
  it('rows: anchor is an example of the positive synset, negative another train definition', () => {
    const { rows, sources, stats } = triplets;
    expect(rows.length).toBe(stats.rows);
    expect(sources.length).toBe(rows.length);
    expect(stats.negativeFromSense + stats.negativeFromSibling).toBe(rows.length);
    expect(rows.length).toBeGreaterThan(30_000);
    const heldDefinitions = new Set(all.filter((s) => splitOf(s) === 'heldout').map((s) => s.definition));
    const heldExamples = new Set(all.filter((s) => splitOf(s) === 'heldout').flatMap((s) => s.examples));
    const perSynset = new Map<string, number>();
    const bad: string[] = []; // one expect at the end: 39k rows x 12 expects is slow
    const check = (ok: boolean, i: number, what: string) => ok || bad.length >= 5 || bad.push(`row ${i}: ${what}`);
    rows.forEach((r, i) => {
      const s = byId.get(sources[i].synset)!;
      const n = byId.get(sources[i].negativeSynset)!;
      check(Object.keys(r).join() === 'anchor,positive,negative', i, 'columns');
      check(splitOf(s) === 'train' && splitOf(n) === 'train', i, 'not train');
      check(s.examples.includes(r.anchor), i, 'anchor is no example of the synset');
      check(r.positive === s.definition && r.negative === n.definition, i, 'texts are not the definitions');
      check(n.id !== s.id && r.negative !== r.positive, i, 'negative = positive');
      check(!heldDefinitions.has(r.positive) && !heldDefinitions.has(r.negative) && !heldExamples.has(r.anchor), i, 'held-out text');
      const shared = [...lemmas(s)].some((w) => lemmas(n).has(w));
      if (sources[i].negativeKind === 'sense') check(shared, i, 'sense negative shares no lemma');
      else check(!shared && hypernymIds(s).some((h) => hypernymIds(n).includes(h)), i, 'sibling negative is no sibling');
      perSynset.set(s.id, (perSynset.get(s.id) ?? 0) + 1);
    });
    expect(bad).toEqual([]);
    expect(new Set(rows.map((r) => r.anchor)).size).toBe(rows.length);
    expect(Math.max(...perSynset.values())).toBe(3);
    // Round 0 (the first row of every synset) repeats no positive.
    expect(new Set(sources.slice(0, perSynset.size).map((s) => s.synset)).size).toBe(perSynset.size);
    expect(stats.skippedNoNegative).toBeGreaterThan(0);
    expect(stats.skippedAmbiguousAnchor).toBeGreaterThan(0);
  });

  it('is deterministic by seed and respects maxPerSynset', () => {
    const again = trainingTriplets(all, { seed: 0 });
    expect(again.rows).toEqual(triplets.rows);
    const one = trainingTriplets(all, { seed: 9, maxPerSynset: 1 });
    expect(new Set(one.sources.map((s) => s.synset)).size).toBe(one.rows.length);
    expect(one.rows.length).toBe(triplets.stats.withExamples);
    expect(one.rows.slice(0, 50)).not.toEqual(triplets.rows.slice(0, 50));
    expect(() => trainingTriplets(all, { maxPerSynset: 0 })).toThrow(/maxPerSynset 0 must be an integer >= 1/);
    expect(() => trainingTriplets(all, { seed: -1 })).toThrow(WordNetTaskError);
  });
});

describe('evaluation tasks (held-out split)', () => {
  it('retrieval: held-out example queries, held-out definitions plus train distractors, one relevant document each', () => {
    const r = tasks.retrieval;
    expect(r.queries.length).toBe(946); // 949 held-out examples, 3 of them shared with another synset
    expect(new Set(r.queries).size).toBe(r.queries.length);
    expect(r.corpus.length).toBe(r.heldOutDocs + 2000);
    expect(new Set(r.corpus).size).toBe(r.corpus.length);
    r.corpusSynsets.forEach((id, d) => {
      const s = byId.get(id)!;
      expect(s.definition).toBe(r.corpus[d]);
      expect(splitOf(s)).toBe(d < r.heldOutDocs ? 'heldout' : 'train');
    });
    r.queries.forEach((q, i) => {
      const s = byId.get(r.querySynsets[i])!;
      expect(splitOf(s)).toBe('heldout');
      expect(s.examples).toContain(q);
      expect([...r.qrels[i]]).toHaveLength(1);
      const [[doc, rel]] = [...r.qrels[i]];
      expect(rel).toBe(1);
      expect(doc).toBeLessThan(r.heldOutDocs);
      expect(r.corpus[doc]).toBe(s.definition);
    });
    const fewer = evalTasks(all, { maxQueries: 100, distractors: 10, seed: 3 }, graph).retrieval;
    expect(fewer.queries.length).toBe(100);
    expect(fewer.corpus.length).toBe(fewer.heldOutDocs + 10);
  });

  it('clustering/probing: held-out definitions by lexicographer file, small labels dropped, stratified folds', () => {
    const c = tasks.clustering;
    const counts = new Map<string, number>();
    c.synsets.forEach((id, i) => {
      const s = byId.get(id)!;
      expect(splitOf(s)).toBe('heldout');
      expect(c.labels[i]).toBe(LEX_FILE_NAMES[s.lexFile]);
      expect(c.texts[i]).toBe(s.definition);
      counts.set(c.labels[i], (counts.get(c.labels[i]) ?? 0) + 1);
    });
    for (const [label, n] of counts) {
      expect(n).toBeGreaterThanOrEqual(10);
      const train = c.labels.filter((l, i) => l === label && c.folds[i] === 'train').length;
      expect(train).toBe(Math.ceil(n / 2));
    }
    for (const d of c.dropped) {
      expect(d.count).toBeLessThan(10);
      expect(counts.has(d.label)).toBe(false);
    }
    expect(counts.size).toBe(36);
    expect(c.texts.length + c.dropped.reduce((n, d) => n + d.count, 0)).toBe(all.filter((s) => splitOf(s) === 'heldout' && s.definition !== '').length);
  });

  it('STS: held-out noun pairs, gold = Wu-Palmer, spread over the bins', () => {
    const { pairs, binCounts } = tasks.sts;
    expect(binCounts).toEqual([200, 200, 200, 200, 200]);
    expect(pairs.length).toBe(1000);
    const keys = new Set<string>();
    for (const p of pairs) {
      const [a, b] = [byId.get(p.synset1)!, byId.get(p.synset2)!];
      expect([splitOf(a), splitOf(b), a.pos, b.pos]).toEqual(['heldout', 'heldout', 'n', 'n']);
      expect([p.sentence1, p.sentence2]).toEqual([a.definition, b.definition]);
      expect(p.sentence1).not.toBe(p.sentence2);
      expect(p.score).toBe(graph.wuPalmer(a.id, b.id));
      keys.add(`${a.id} ${b.id}`);
      keys.add(`${b.id} ${a.id}`);
    }
    expect(keys.size).toBe(2 * pairs.length);
    for (let k = 0; k < 5; k++) expect(pairs.filter((p) => Math.min(4, Math.floor(p.score * 5)) === k).length).toBe(200);
  });

  it('is deterministic by seed', () => {
    const again = evalTasks(all, {}, graph);
    expect(again.sts.pairs).toEqual(tasks.sts.pairs);
    expect(again.retrieval.corpus).toEqual(tasks.retrieval.corpus);
    expect(again.clustering.folds).toEqual(tasks.clustering.folds);
    const other = evalTasks(all, { seed: 1 }, graph);
    expect(other.sts.pairs).not.toEqual(tasks.sts.pairs);
  });
});

describe('writeJsonl', () => {
  it('writes one sentence-transformers row per line and reads back equal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-wn-'));
    try {
      const path = join(dir, 'triplets.jsonl');
      const rows = triplets.rows.slice(0, 100);
      await writeJsonl(path, rows);
      const lines = (await readFile(path, 'utf8')).split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((l) => JSON.parse(l))).toEqual(rows);
      expect(lines[0].startsWith('{"anchor":')).toBe(true);
      await expect(writeJsonl(join(dir, 'bad.jsonl'), [rows[0], [1, 2] as unknown as object])).rejects.toThrow(/row 1 is not an object/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
