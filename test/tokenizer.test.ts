import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadTokenizer, Tokenizer, TokenizerJsonError } from '../src/io/tokenizer.ts';
import { BYTE_TO_CHAR } from '../src/io/tokenizer/bytelevel.ts';
import { parsePreTokenizer } from '../src/io/tokenizer/pretokenize.ts';
import { GPT2_PATTERN, QWEN2_PATTERN, translateRegex } from '../src/io/tokenizer/regex.ts';

// A tokenizer small enough to check by hand: ids 0-255 are the byte-level
// symbols in byte order (so the id of a character's symbol is its byte:
// 'a' = 97, ' ' -> 'Ġ' = 32), then twelve merges with ids 256-267 in rank
// order, then added tokens.
const MERGES: [string, string][] = [
  ['h', 'e'], // 256 he
  ['l', 'l'], // 257 ll
  ['he', 'll'], // 258 hell
  ['hell', 'o'], // 259 hello
  ['Ġ', 'w'], // 260 Ġw
  ['o', 'r'], // 261 or
  ['Ġw', 'or'], // 262 Ġwor
  ['l', 'd'], // 263 ld
  ['Ġwor', 'ld'], // 264 Ġworld
  ['a', 'a'], // 265 aa
  ['y', 'z'], // 266 yz (ranked before xy)
  ['x', 'y'], // 267 xy
];
const END = 268, TAG = 269, TAG_B = 270, BOS = 271, EOS = 272;

function added(id: number, content: string, special = true) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

const GPT2_BYTELEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

/** The hand-checkable tokenizer.json; `merges` picks the "a b" or the ["a", "b"] form. */
function tinyJson(merges: 'strings' | 'pairs' = 'pairs', extra: Record<string, unknown> = {}): Record<string, any> {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => { vocab[c] = b; });
  MERGES.forEach(([a, b], i) => { vocab[a + b] = 256 + i; });
  return {
    version: '1.0',
    added_tokens: [added(END, '<|end|>'), added(TAG, '<a>', false), added(TAG_B, '<a>b', false), added(BOS, '<s>'), added(EOS, '</s>')],
    normalizer: null,
    pre_tokenizer: GPT2_BYTELEVEL,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: {
        '<s>': { id: '<s>', ids: [BOS], tokens: ['<s>'] },
        '</s>': { id: '</s>', ids: [EOS], tokens: ['</s>'] },
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab,
      merges: merges === 'pairs' ? MERGES.map(([a, b]) => [a, b]) : MERGES.map(([a, b]) => `${a} ${b}`),
    },
    ...extra,
  };
}

const tiny = loadTokenizer(tinyJson());

describe('tokenizer.json BPE: hand-checked encodings', () => {
  it('merges by rank: the lowest-ranked pair first, leftmost among equals', () => {
    // "hello": he (0), ll (1), hell (2), hello (3).
    expect(tiny.encode('hello')).toEqual([259]);
    // " world" -> "Ġworld": Ġw (4), or (5), Ġwor (6), ld (7), Ġworld (8).
    expect(tiny.encode('hello world')).toEqual([259, 264]);
    // "help": he, then no (he, l) merge and no (l, p) merge.
    expect(tiny.encode('help')).toEqual([256, 108, 112]);
    // Two (a, a) pairs of equal rank: the left one merges first.
    expect(tiny.encode('aaa')).toEqual([265, 97]);
    expect(tiny.encode('aaaaa')).toEqual([265, 265, 97]);
    // (y, z) outranks (x, y) although it lies to the right.
    expect(tiny.encode('xyz')).toEqual([120, 266]);
    expect(tiny.encode('xy')).toEqual([267]);
    expect(tiny.tokenize('hello world')).toEqual(['hello', 'Ġworld']);
  });

  it('pre-tokenizes with the GPT-2 regex and maps UTF-8 bytes to symbols', () => {
    // "a  b": "a", " " (\s+(?!\S) leaves the space before b), " b".
    expect(tiny.encode('a  b')).toEqual([97, 32, 32, 98]);
    // é is C3 A9; the emoji is F0 9F 98 80.
    expect(tiny.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tiny.encode('😀')).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect(tiny.tokenize('\n')).toEqual(['Ċ']);
    expect(tiny.encode('')).toEqual([]);
  });

  it('matches added tokens before BPE, longest first, and never splits them', () => {
    // "world" without its space: or (5) and ld (7) merge, (w, or) and (or, ld) are not merges.
    expect(tiny.encode('hello<|end|>world')).toEqual([259, END, 119, 261, 263]);
    expect(tiny.encode('a<|end|><|end|>b')).toEqual([97, END, END, 98]);
    expect(tiny.encode('<a>bc')).toEqual([TAG_B, 99]);
    expect(tiny.encode('<a>c')).toEqual([TAG, 99]);
    // Text next to an added token is pre-tokenized on its own: "hello" stays whole.
    expect(tiny.encode('<|end|>hello')).toEqual([END, 259]);
    expect(tiny.encode('<|end')).toEqual([...'<|end'].map((c) => c.charCodeAt(0)));
  });

  it('decodes, keeping or skipping special tokens', () => {
    expect(tiny.decode([259, END, 32, TAG])).toBe('hello<|end|> <a>');
    expect(tiny.decode([259, END, 32, TAG], { skipSpecialTokens: true })).toBe('hello <a>');
    expect(tiny.decode([0xc3, 0xa9])).toBe('é');
    // A cut UTF-8 sequence decodes to U+FFFD; unknown ids are skipped as HF does.
    expect(tiny.decode([0xc3])).toBe('\ufffd');
    expect(tiny.decode([97, 99999, 98])).toBe('ab');
  });

  it('wraps in the TemplateProcessing single template only when asked', () => {
    expect(tiny.encode('hello')).toEqual([259]);
    expect(tiny.encode('hello', { addSpecialTokens: true })).toEqual([BOS, 259, EOS]);
    expect(tiny.template).toEqual({ prefix: [BOS], suffix: [EOS] });
  });

  it('looks up tokens and ids, counting added tokens in vocabSize', () => {
    expect(tiny.tokenToId('Ġworld')).toBe(264);
    expect(tiny.tokenToId('<|end|>')).toBe(END);
    expect(tiny.idToToken(259)).toBe('hello');
    expect(tiny.idToToken(BOS)).toBe('<s>');
    expect(tiny.vocabSize).toBe(EOS + 1);
    expect([...tiny.specialTokenIds].sort()).toEqual([END, BOS, EOS].sort());
  });

  it('applies lstrip, rstrip, single_word and normalized to added tokens', () => {
    const flagged = (id: number, content: string, flags: Record<string, boolean>) => ({ ...added(id, content, false), ...flags });
    const tok = loadTokenizer(tinyJson('pairs', {
      normalizer: { type: 'Lowercase' },
      added_tokens: [
        flagged(300, '<mask>', { special: true, lstrip: true }),
        flagged(301, '<r>', { rstrip: true }),
        flagged(302, 'zqj', { single_word: true }),
        flagged(303, 'hi!', { normalized: true }),
      ],
    }));
    // lstrip swallows the spaces before the token, rstrip those after it.
    expect(tok.encode('a  <mask>b')).toEqual([97, 300, 98]);
    expect(tok.encode('<r>  b')).toEqual([301, 98]);
    // single_word: not inside a word (a letter or _ beside it), else plain BPE.
    expect(tok.encode('zqj')).toEqual([302]);
    expect(tok.encode('a zqj.')).toEqual([97, 32, 302, 46]);
    expect(tok.encode('azqj')).toEqual([97, 122, 113, 106]);
    expect(tok.encode('zqj_')).toEqual([122, 113, 106, 95]);
    // normalized: matched after the Lowercase normalizer; raw-text tokens before it.
    expect(tok.encode('HI!')).toEqual([303]);
    expect(tok.encode('<MASK>')).toEqual([...'<mask>'].map((c) => c.charCodeAt(0)));
  });

  it('supports an unk_token, fused when fuse_unk is set, and names a missing symbol without one', () => {
    const json = (extra: Record<string, unknown>) => ({
      model: { type: 'BPE', vocab: { a: 0, b: 1, '<unk>': 2 }, merges: [], ...extra }, pre_tokenizer: null, decoder: null,
    });
    expect(loadTokenizer(json({ unk_token: '<unk>' })).encode('abcc')).toEqual([0, 1, 2, 2]);
    expect(loadTokenizer(json({ unk_token: '<unk>', fuse_unk: true })).encode('abcc')).toEqual([0, 1, 2]);
    expect(() => loadTokenizer(json({})).encode('abc')).toThrow('BPE: character "c" (U+0063) is not in model.vocab');
    expect(() => loadTokenizer(json({ unk_token: '<?>' }))).toThrow('model.unk_token: "<?>" is not in model.vocab');
    // Without a decoder, HF joins the token strings with spaces.
    expect(loadTokenizer(json({})).decode([0, 1, 0])).toBe('a b a');
  });

  it('takes BOS/EOS from Roberta/Bert processors and from a Sequence of processors', () => {
    const roberta = loadTokenizer(tinyJson('pairs', { post_processor: { type: 'RobertaProcessing', sep: ['</s>', EOS], cls: ['<s>', BOS] } }));
    expect(roberta.encode('hello', { addSpecialTokens: true })).toEqual([BOS, 259, EOS]);
    const seq = loadTokenizer(tinyJson('pairs', {
      post_processor: { type: 'Sequence', processors: [{ type: 'ByteLevel', trim_offsets: false }, tinyJson().post_processor] },
    }));
    expect(seq.encode('hello', { addSpecialTokens: true })).toEqual([BOS, 259, EOS]);
  });

  it('loads from JSON text as from the object', () => {
    const fromText = new Tokenizer(JSON.stringify(tinyJson()));
    expect(fromText.encode('hello world<|end|>')).toEqual(tiny.encode('hello world<|end|>'));
  });

  it('honours ignore_merges: a word in the vocab is one token', () => {
    const json = tinyJson();
    json.model.vocab['xyz'] = 300;
    expect(loadTokenizer(json).encode('xyz')).toEqual([120, 266]);
    json.model.ignore_merges = true;
    expect(loadTokenizer(json).encode('xyz')).toEqual([300]);
  });
});

describe('merge formats', () => {
  const strings = loadTokenizer(tinyJson('strings'));
  it('"a b" strings and ["a", "b"] pairs tokenize identically', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      expect(strings.encode(s)).toEqual(tiny.encode(s));
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.array(fc.constantFrom('h', 'e', 'l', 'o', ' ', 'w', 'r', 'd', 'a', 'x', 'y', 'z')), (cs) => {
      const s = cs.join('');
      expect(strings.encode(s)).toEqual(tiny.encode(s));
    }), { numRuns: 300 });
  });
});

describe('round trips', () => {
  const noTemplate = loadTokenizer(tinyJson('pairs', { post_processor: null }));

  it('decode(encode(s)) === s for any string of code points and of graphemes', () => {
    for (const unit of ['binary', 'grapheme'] as const) {
      fc.assert(fc.property(fc.string({ unit, maxLength: 60 }), (s) => {
        expect(noTemplate.decode(noTemplate.encode(s))).toBe(s);
      }), { numRuns: 400 });
    }
  });

  it('round-trips text mixed with added tokens', () => {
    const piece = fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('<|end|>', '<a>', '<a>b', '<s>', '</s>', '<', '|'));
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), (parts) => {
      const s = parts.join('');
      expect(noTemplate.decode(noTemplate.encode(s))).toBe(s);
    }), { numRuns: 300 });
  });

  it('writes a lone surrogate as U+FFFD, as UTF-8 must', () => {
    expect(tiny.decode(tiny.encode('a\ud800b'))).toBe('a\ufffdb');
  });

  it('NFC normalizes before tokenizing, so the round trip gives the NFC form', () => {
    const nfc = loadTokenizer(tinyJson('pairs', { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }] } }));
    expect(nfc.encode('e\u0301')).toEqual(nfc.encode('\u00e9'));
    expect(nfc.encode('e\u0301')).toEqual([0xc3, 0xa9]);
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
      expect(nfc.decode(nfc.encode(s))).toBe(s.normalize('NFC'));
    }), { numRuns: 300 });
  });
});

describe('pre-tokenizers', () => {
  const pieces = (config: unknown, text: string) => parsePreTokenizer(config as never, 'pre_tokenizer').run(text);
  const qwen2 = {
    type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: QWEN2_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  };

  it('GPT-2: contractions, letters, numbers, punctuation, spaces', () => {
    expect(pieces(GPT2_BYTELEVEL, "Hello world's 123!!  x IT'S")).toEqual(
      ['Hello', 'Ġworld', "'s", 'Ġ123', '!!', 'Ġ', 'Ġx', 'ĠIT', "'", 'S']);
  });

  it('Qwen2 Split: single digits, case-insensitive contractions, newlines kept with punctuation', () => {
    expect(pieces(qwen2, "Hello world's 123!!\n\n x IT'S")).toEqual(
      ['Hello', 'Ġworld', "'s", 'Ġ', '1', '2', '3', '!!ĊĊ', 'Ġx', 'ĠIT', "'S"]);
  });

  it('SmolLM2 Digits + ByteLevel: each digit alone, then the GPT-2 regex', () => {
    const smol = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, GPT2_BYTELEVEL] };
    expect(pieces(smol, 'abc 123')).toEqual(['abc', 'Ġ', '1', '2', '3']);
    const grouped = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }, GPT2_BYTELEVEL] };
    expect(pieces(grouped, 'abc 123x')).toEqual(['abc', 'Ġ', '123', 'x']);
  });

  it('ByteLevel add_prefix_space adds a space to text not starting with one', () => {
    const withSpace = { ...GPT2_BYTELEVEL, add_prefix_space: true };
    expect(pieces(withSpace, 'hi there')).toEqual(['Ġhi', 'Ġthere']);
    expect(pieces(withSpace, ' hi')).toEqual(['Ġhi']);
  });

  it('Split behaviors and invert', () => {
    const split = (behavior: string, invert = false) => pieces({ type: 'Split', pattern: { String: '-' }, behavior, invert }, 'a-b--c');
    expect(split('Isolated')).toEqual(['a', '-', 'b', '-', '-', 'c']);
    expect(split('Removed')).toEqual(['a', 'b', 'c']);
    expect(split('MergedWithPrevious')).toEqual(['a-', 'b-', '-', 'c']);
    expect(split('MergedWithNext')).toEqual(['a', '-b', '-', '-c']);
    expect(split('Contiguous')).toEqual(['a', '-', 'b', '--', 'c']);
    expect(split('Removed', true)).toEqual(['-', '-', '-']);
  });
});

describe('regex translation', () => {
  const re = (pattern: string) => new RegExp(translateRegex(pattern, 'p'), 'gu');
  const all = (pattern: string, text: string) => text.match(re(pattern)) ?? [];

  it('translates (?i:...) groups, including Unicode case folding', () => {
    expect(all("(?i:'s|'ll)", "'s 'S 'LL 'lL 'ſ 'x")).toEqual(["'s", "'S", "'LL", "'lL", "'ſ"]);
    expect(all('(?i)[a-c]+', 'xAbCx')).toEqual(['AbC']);
  });

  it('uses Unicode \\s, \\d and a . that stops only at \\n', () => {
    expect(re('\\s').test('\u0085')).toBe(true); // NEL is White_Space (not in JS's \s)
    expect(re('\\s').test('\ufeff')).toBe(false); // BOM is not (but is in JS's \s)
    expect(all('\\d+', 'a١٢3')).toEqual(['١٢3']);
    expect(all('.+', 'a\rb\nc')).toEqual(['a\rb', 'c']);
    expect(all('\\x{e9}|\\.|\\-', 'é.-x')).toEqual(['é', '.', '-']);
  });

  it('keeps a leading (?i) over every alternative and reads {,n} as {0,n}', () => {
    expect(all('(?i)ab|c', 'AB C c')).toEqual(['AB', 'C', 'c']);
    expect(all('xa{,2}', 'xaaa x')).toEqual(['xaa', 'x']);
  });

  it('compiles the GPT-2 and Qwen2 patterns', () => {
    expect(() => translateRegex(GPT2_PATTERN, 'p')).not.toThrow();
    expect(() => translateRegex(QWEN2_PATTERN, 'p')).not.toThrow();
  });

  it('names unsupported constructs and the JSON path', () => {
    const cases: [string, string][] = [
      ['(?>a)', 'atomic group'], ['a++', 'possessive quantifier'], ['\\bword', 'escape "\\b"'],
      ['[[:alpha:]]', 'POSIX class'], ['(a)\\1', 'escape "\\1"'], ['(?x)a b', 'inline flag "x"'],
      ['(a', 'unclosed group'], ['a)', '")" without a matching "("'], ['[a', 'unclosed character class'],
      ['\\p{NotAProperty}', 'Unicode property "NotAProperty"'], ['*a', 'nothing to repeat'],
      ['x(?i)a|b', 'inline flags "(?...)" after an atom, followed by "|"'],
    ];
    for (const [pattern, what] of cases) {
      expect(() => translateRegex(pattern, 'pre_tokenizer.pattern.Regex'), pattern).toThrow(TokenizerJsonError);
      expect(() => translateRegex(pattern, 'pre_tokenizer.pattern.Regex'), pattern).toThrow(what);
      expect(() => translateRegex(pattern, 'pre_tokenizer.pattern.Regex'), pattern).toThrow('pre_tokenizer.pattern.Regex');
    }
  });
});

describe('encodeBatch', () => {
  // Rows: "hello world" -> [259, 264], "aaa" -> [265, 97], "" -> [].
  const texts = ['hello world', 'aaa', ''];

  it('pads right or left into [B, T] with an attention mask', () => {
    const right = tiny.encodeBatch(texts, { padId: -1 });
    expect(right.batch).toBe(3);
    expect(right.length).toBe(2);
    expect([...right.ids]).toEqual([259, 264, 265, 97, -1, -1]);
    expect([...right.attentionMask]).toEqual([1, 1, 1, 1, 0, 0]);
    const left = tiny.encodeBatch(['hello', 'aaa'], { padding: 'left', padId: 0 });
    expect([...left.ids]).toEqual([0, 259, 265, 97]);
    expect([...left.attentionMask]).toEqual([0, 1, 1, 1]);
    expect(left.lengths).toEqual([1, 2]);
  });

  it('truncates right or left, counting special tokens against maxLength', () => {
    expect([...tiny.encodeBatch(texts, { maxLength: 1 }).ids]).toEqual([259, 265, 0]);
    expect([...tiny.encodeBatch(texts, { maxLength: 1, truncation: 'left' }).ids]).toEqual([264, 97, 0]);
    const wrapped = tiny.encodeBatch(['hello world'], { maxLength: 3, addSpecialTokens: true });
    expect([...wrapped.ids]).toEqual([BOS, 259, EOS]);
    const wrappedLeft = tiny.encodeBatch(['hello world'], { maxLength: 3, addSpecialTokens: true, truncation: 'left' });
    expect([...wrappedLeft.ids]).toEqual([BOS, 264, EOS]);
    expect(() => tiny.encodeBatch(['x'], { maxLength: 1, addSpecialTokens: true })).toThrow('no room');
  });

  it('pads to maxLength on request and returns ragged rows without padding', () => {
    const fixed = tiny.encodeBatch(['aaa'], { maxLength: 4, padTo: 'maxLength', padId: 7 });
    expect([...fixed.ids]).toEqual([265, 97, 7, 7]);
    expect([...fixed.attentionMask]).toEqual([1, 1, 0, 0]);
    const rows = tiny.encodeBatch(texts, { padding: 'none' });
    expect(rows.ids).toEqual([[259, 264], [265, 97], []]);
    expect(rows.attentionMask).toEqual([[1, 1], [1, 1], []]);
  });

  it("takes the default pad id from tokenizer.json's padding block", () => {
    const tok = loadTokenizer(tinyJson('pairs', { padding: { pad_id: END, pad_token: '<|end|>' } }));
    expect([...tok.encodeBatch(['hello', 'aaa']).ids]).toEqual([259, END, 265, 97]);
  });
});

describe('long inputs', () => {
  it('merges a 200k-character word in linearithmic time and round-trips 1 MB of text', () => {
    const t0 = performance.now();
    const ids = tiny.encode('a'.repeat(200_000));
    expect(ids.length).toBe(100_000);
    expect(ids.every((id) => id === 265)).toBe(true);
    expect(tiny.encode(' '.repeat(100_000)).length).toBe(100_000);
    const text = 'hello world, the quick brown fox jumps over the lazy dog 1234. '.repeat(16_000); // 1 MB
    expect(tiny.decode(tiny.encode(text))).toBe(text);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe('errors name the JSON path', () => {
  const load = (mutate: (j: Record<string, any>) => void) => () => {
    const j = tinyJson();
    mutate(j);
    return loadTokenizer(j);
  };

  it('reports the bad field', () => {
    expect(load((j) => { delete j.model.vocab; })).toThrow('model.vocab: missing');
    expect(load((j) => { j.model.type = 'WordPiece'; })).toThrow('model.type: "WordPiece" is not supported');
    expect(load((j) => { j.model.merges[3] = ['hell', 'q!']; })).toThrow('model.merges[3]: "q!" is not in model.vocab');
    expect(load((j) => { j.model.merges[0] = 'h e x'; })).toThrow('model.merges[0]: expected "a b"');
    expect(load((j) => { j.model.vocab.hello = 'x'; })).toThrow('model.vocab.hello: expected a non-negative integer');
    expect(load((j) => { j.model.vocab['ĠĠ'] = 5; })).toThrow('model.vocab["ĠĠ"]: id 5 is also the id of');
    expect(load((j) => { j.model.byte_fallback = true; })).toThrow('model.byte_fallback');
    expect(load((j) => { j.added_tokens[1].id = 'x'; })).toThrow('added_tokens[1].id');
    expect(load((j) => { j.added_tokens[0].id = 259; })).toThrow('added_tokens[0].id: 259 is already the id of model.vocab token "hello"');
    expect(load((j) => { j.normalizer = { type: 'Precompiled' }; })).toThrow('normalizer.type: "Precompiled" is not supported');
    expect(load((j) => { j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(?>x)' }, behavior: 'Isolated' }] }; }))
      .toThrow('pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported regex construct atomic group');
    expect(load((j) => { j.pre_tokenizer = { type: 'Split', pattern: { Regex: 'x' }, behavior: 'Sideways' }; })).toThrow('pre_tokenizer.behavior');
    expect(load((j) => { j.post_processor.single[0].SpecialToken.id = '<t>'; })).toThrow('post_processor.single[0]: special token "<t>"');
    expect(load((j) => { j.decoder = { type: 'WordPiece' }; })).toThrow('decoder.type');
    expect(() => loadTokenizer('{"model": ')).toThrow('tokenizer.json: (root): not valid JSON');
    expect(() => loadTokenizer([] as unknown as object)).toThrow('(root): expected an object');
  });

  /** Every path in the tokenizer.json, but only a few of the 256 alphabet vocab entries. */
  function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
    out.push(at);
    if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (at.join('.') === 'model.vocab' && k.length === 1 && !'aehlo'.includes(k)) continue;
        paths(x, [...at, k], out);
      }
    }
    return out;
  }

  it('fuzz: any mutation or deletion either loads or throws a TokenizerJsonError', () => {
    const base = tinyJson('strings', { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }] } });
    base.pre_tokenizer = {
      type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    };
    const all = paths(base);
    const replacement = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(null, undefined, '', -1, 1.5, 2 ** 40, [], {}, 'BPE', 'ByteLevel', '(?i:x', 'h e', ['h'], { type: 'NFC' }),
    );
    const mutation = fc.tuple(fc.nat({ max: all.length - 1 }), fc.boolean(), replacement);
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (muts) => {
      const j = structuredClone(base);
      for (const [pi, del, value] of muts) {
        const path = all[pi];
        if (path.length === 0) continue;
        let parent: any = j;
        for (const k of path.slice(0, -1)) { if (parent === null || typeof parent !== 'object') break; parent = parent[k]; }
        if (parent === null || typeof parent !== 'object') continue;
        const key = path[path.length - 1];
        if (del) { if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key]; } else parent[key] = value;
      }
      let tok: Tokenizer;
      try {
        tok = loadTokenizer(j);
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(TokenizerJsonError);
        expect((e as Error).message).toMatch(/^tokenizer\.json: /);
        return;
      }
      // A tokenizer that loads must encode without crashing; missing symbols are a plain, named Error.
      try {
        tok.decode(tok.encode('hello world <|end|> 42'));
      } catch (e) {
        expect(e).not.toBeInstanceOf(TypeError);
        expect((e as Error).message).toMatch(/^BPE: character/);
      }
    }), { numRuns: 600 });
  });
});
