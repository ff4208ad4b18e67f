import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadTokenizer, trainBpe, type TrainBpeOptions, type TrainedTokenizerJson } from '../src/io/tokenizer.ts';
import { BYTE_LEVEL_ALPHABET } from '../src/io/tokenizer/bytelevel.ts';

const WORDS = (
  'the of and to in is was for that with as on by at from his her they this which are be had not have one all were '
  + 'their there when who will more would what about time people water language model word sentence meaning text '
  + 'training token number letter system learning known called between during after before through under small large '
  + 'first second new old great little own other many some these very such even most also only still well just '
  + 'embedding vector space image audio video retrieval contrastive representation semantic similarity encoder'
).split(' ');

/** Seeded pseudo-English: Zipf-distributed words, sentence case, punctuation, a few numbers and newlines. */
function* corpus(lines: number, seed = 1): Generator<string> {
  let s = seed >>> 0;
  const rand = () => { s = (s + 0x6d2b79f5) >>> 0; let t = Math.imul(s ^ (s >>> 15), 1 | s); t ^= t + Math.imul(t ^ (t >>> 7), 61 | t); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
  const word = () => WORDS[Math.floor(WORDS.length * rand() ** 2.5)];
  for (let l = 0; l < lines; l++) {
    const sentences: string[] = [];
    for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
      const ws = Array.from({ length: 4 + Math.floor(rand() * 10) }, word);
      if (rand() < 0.2) ws.splice(1 + Math.floor(rand() * 3), 0, String(Math.floor(rand() * 2000)));
      ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1);
      sentences.push(ws.join(rand() < 0.1 ? ', ' : ' ') + (rand() < 0.8 ? '.' : '?'));
    }
    yield sentences.join(' ') + '\n';
  }
}

const HELD_OUT = 'Language models learn a vocabulary of subword units: frequent words become single tokens, '
  + 'while rare words are spelled out from smaller pieces. The embedding of each sentence is then pooled from '
  + 'the hidden states, and two texts with the same meaning should land close to each other in that space.';

const merges = (json: TrainedTokenizerJson) => json.model.merges.map(([a, b]) => `${a} ${b}`);
/** The pre_tokenizer block, to read its nested fields. */
const pre = (json: TrainedTokenizerJson) => json.pre_tokenizer as { type: string; pretokenizers: { type: string }[] };

describe('trainBpe: hand-checked merges', () => {
  it('merges the most frequent pair first and counts words', () => {
    // Words: "ab" x1, "Ġab" x2, "Ġabc" x1. (a, b) 4 > (Ġ, a) 3 > (b, c) 1;
    // then (Ġ, ab) 3 > (ab, c) 1; then (Ġab, c) 1.
    const json = trainBpe(['ab ab ab abc'], { vocabSize: 259, minFrequency: 1 });
    expect(merges(json)).toEqual(['a b', 'Ġ ab', 'Ġab c']);
    expect(json.model.vocab.ab).toBe(256);
    expect(json.model.vocab['Ġab']).toBe(257);
    expect(json.model.vocab['Ġabc']).toBe(258);
    expect(Object.keys(json.model.vocab)).toHaveLength(259);
  });

  it('stops at vocabSize and at minFrequency', () => {
    expect(merges(trainBpe(['ab ab ab abc'], { vocabSize: 257, minFrequency: 1 }))).toEqual(['a b']);
    expect(merges(trainBpe(['ab ab ab abc'], { vocabSize: 1000, minFrequency: 2 }))).toEqual(['a b', 'Ġ ab']);
  });

  it('breaks ties by the smallest ids: byte symbols in code point order, merges in creation order', () => {
    // Every pair is seen once: (x, y) < (z, w) < (Ġ, z) because x < z < Ġ (U+0120).
    const json = trainBpe(['xy zw'], { vocabSize: 1000, minFrequency: 1 });
    expect(merges(json)).toEqual(['x y', 'z w', 'Ġ zw']);
  });

  it('starts from the 256 byte symbols sorted by code point, after the special tokens', () => {
    const json = trainBpe(['hello'], { vocabSize: 300, specialTokens: ['<|endoftext|>', '<pad>'] });
    const vocab = json.model.vocab as Record<string, number>;
    expect(vocab['<|endoftext|>']).toBe(0);
    expect(vocab['<pad>']).toBe(1);
    BYTE_LEVEL_ALPHABET.forEach((c, i) => expect(vocab[c]).toBe(2 + i));
    expect(json.added_tokens).toEqual([
      { id: 0, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '<pad>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ]);
  });
});

describe('trainBpe: trained tokenizers', () => {
  const text = [...corpus(20_000)]; // about 1.4 MB
  const opts: TrainBpeOptions = { vocabSize: 1000, minFrequency: 2, specialTokens: ['<|endoftext|>', '<|im_start|>'] };
  const t0 = performance.now();
  const gpt2 = trainBpe(text, opts);
  const trainMs = performance.now() - t0;
  const tok = loadTokenizer(gpt2);

  it('trains on a corpus of about 1.4 MB in seconds and reaches vocabSize', () => {
    expect(text.join('').length).toBeGreaterThan(1_000_000);
    expect(trainMs).toBeLessThan(30_000);
    expect(Object.keys(gpt2.model.vocab)).toHaveLength(1000);
    expect(gpt2.model.merges).toHaveLength(1000 - 2 - 256);
  });

  it('is deterministic: the same corpus gives the same tokenizer.json, from an array or a generator', () => {
    const small = [...corpus(2000, 7)];
    const a = JSON.stringify(trainBpe(small, { vocabSize: 600 }));
    expect(JSON.stringify(trainBpe(small, { vocabSize: 600 }))).toBe(a);
    expect(JSON.stringify(trainBpe(corpus(2000, 7), { vocabSize: 600 }))).toBe(a);
  });

  it('compresses English: fewer tokens than bytes, on the corpus and on held-out text', () => {
    const sample = text.slice(0, 500).join('');
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    expect(tok.encode(sample).length).toBeLessThan(0.3 * bytes(sample));
    expect(tok.encode(HELD_OUT).length).toBeLessThan(0.7 * bytes(HELD_OUT));
  });

  it('round-trips any string, special tokens included', () => {
    const piece = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.constantFrom('<|endoftext|>', '<|im_start|>', ' the', 'Language 1999.'));
    fc.assert(fc.property(fc.array(piece, { maxLength: 6 }), (parts) => {
      const s = parts.join('');
      expect(tok.decode(tok.encode(s))).toBe(s);
    }), { numRuns: 400 });
  });

  it('keeps special tokens whole and out of the learned merges', () => {
    const withSpecials = text.slice(0, 3000).map((line) => `<|im_start|>${line}<|endoftext|>`);
    const json = trainBpe(withSpecials, opts);
    const learned = Object.keys(json.model.vocab).filter((t) => json.model.vocab[t] >= 2);
    expect(learned.some((t) => t.includes('endoftext') || t.includes('im_start'))).toBe(false);
    const t = loadTokenizer(json);
    const ids = t.encode('<|im_start|> the<|endoftext|>');
    expect(ids).toEqual([1, t.tokenToId('Ġthe'), 0]);
    expect(t.decode(ids, { skipSpecialTokens: true })).toBe(' the');
  });

  it('writes merges as pairs that load the same as "a b" strings', () => {
    const other = loadTokenizer({ ...gpt2, model: { ...gpt2.model, merges: merges(gpt2) } });
    for (const line of text.slice(0, 200)) expect(other.encode(line)).toEqual(tok.encode(line));
  });

  it('writes the pre-tokenizer it trained with: Qwen2 and SmolLM2 split digits, GPT-2 does not', () => {
    const sample = text.slice(0, 5000);
    const hasMultiDigit = (json: TrainedTokenizerJson) => Object.keys(json.model.vocab).some((t) => /\d\d/.test(t));
    const qwen2 = trainBpe(sample, { vocabSize: 800, preTokenizer: 'qwen2' });
    expect(pre(qwen2).type).toBe('Sequence');
    expect(pre(qwen2).pretokenizers.map((p) => p.type)).toEqual(['Split', 'ByteLevel']);
    expect(hasMultiDigit(qwen2)).toBe(false);
    const smollm = trainBpe(sample, { vocabSize: 800, preTokenizer: 'smollm' });
    expect(pre(smollm).pretokenizers.map((p) => p.type)).toEqual(['Digits', 'ByteLevel']);
    expect(hasMultiDigit(smollm)).toBe(false);
    expect(hasMultiDigit(trainBpe(sample, { vocabSize: 800, preTokenizer: 'gpt2' }))).toBe(true);
    for (const json of [qwen2, smollm]) {
      const t = loadTokenizer(json);
      expect(json.normalizer).toBeNull();
      expect(json.decoder).toMatchObject({ type: 'ByteLevel' });
      expect(t.encode('1999')).toHaveLength(4);
      expect(t.decode(t.encode(sample[0]))).toBe(sample[0]);
    }
  });

  it('rejects bad options', () => {
    expect(() => trainBpe([], { vocabSize: 0 })).toThrow('vocabSize');
    expect(() => trainBpe([], { vocabSize: 300, minFrequency: 0 })).toThrow('minFrequency');
    expect(() => trainBpe([], { vocabSize: 300, specialTokens: [''] })).toThrow('special token');
    expect(() => trainBpe([], { vocabSize: 300, preTokenizer: 'bert' as never })).toThrow('preTokenizer');
  });
});
