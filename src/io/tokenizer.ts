// A Hugging Face tokenizer.json byte-level BPE tokenizer (GPT-2, Qwen2,
// SmolLM2/Llama style), and a trainer that writes one (trainBpe).
//
//   const tok = loadTokenizer(await readFile('tokenizer.json', 'utf8'));
//   tok.encode('Hello world')                      // ids, no BOS/EOS
//   tok.encode('Hello', { addSpecialTokens: true }) // + the post_processor's template
//   tok.encodeBatch(texts, { maxLength: 512, padding: 'left' }) // Int32Array [B, T] + mask
//   tok.decode(ids, { skipSpecialTokens: true })
//
// Encoding follows HF `tokenizers`: added tokens are cut out of the raw text
// first (never split), the rest is normalized, pre-tokenized into words, each
// word is mapped to byte-level characters and merged by BPE. The pieces live
// in src/io/tokenizer/. A malformed tokenizer.json throws TokenizerJsonError
// naming the JSON path of the bad field.

import { AddedTokenMatcher, parseAddedTokens, type AddedToken } from './tokenizer/added.ts';
import { pad, ragged, truncateAndWrap, type BatchOptions, type PaddedBatch, type RaggedBatch } from './tokenizer/batch.ts';
import { BpeModel } from './tokenizer/bpe.ts';
import { pushTokenBytes, pushUtf8, utf8Decode } from './tokenizer/bytelevel.ts';
import {
  asIndex, asObject, get, indexPath, keyPath, typeOf, TokenizerJsonError, type Json, type JsonObject,
} from './tokenizer/json.ts';
import { parsePostProcessor, type SingleTemplate } from './tokenizer/postprocess.ts';
import { parseNormalizer, parsePreTokenizer, type PreTokenizer } from './tokenizer/pretokenize.ts';

export { TokenizerJsonError } from './tokenizer/json.ts';
export type { AddedToken } from './tokenizer/added.ts';
export type { BatchOptions, PaddedBatch, RaggedBatch } from './tokenizer/batch.ts';
export { trainBpe, type TrainBpeOptions, type TrainedTokenizerJson } from './tokenizer/train.ts';

export interface EncodeOptions {
  /** Wrap in the post_processor's special tokens (TemplateProcessing single, Bert/Roberta). Default false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out added tokens marked special. Default false. */
  skipSpecialTokens?: boolean;
}

/** Parses tokenizer.json text, turning a JSON syntax error into a TokenizerJsonError. */
function parseText(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new TokenizerJsonError('', `not valid JSON: ${(e as Error).message}`);
  }
}

export class Tokenizer {
  /** Added tokens as listed in tokenizer.json. */
  readonly addedTokens: readonly AddedToken[];
  /** Ids of the added tokens marked special. */
  readonly specialTokenIds: ReadonlySet<number>;
  /** Largest id (vocab or added) + 1: the embedding rows the ids index. */
  readonly vocabSize: number;
  /** Ids the post_processor puts around a sequence when addSpecialTokens is set. */
  readonly template: SingleTemplate;
  /** Default padId of encodeBatch: tokenizer.json's padding.pad_id, else 0. */
  readonly padId: number;

  private readonly model: BpeModel;
  private readonly preTokenizer: PreTokenizer;
  private readonly matcher: AddedTokenMatcher;
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly byteLevelDecoder: boolean;

  /** From tokenizer.json text or its parsed object. */
  constructor(json: string | object) {
    const root = asObject(typeof json === 'string' ? parseText(json) : json, '');
    this.model = new BpeModel(get(root, 'model'), 'model');
    const normalizer = parseNormalizer(get(root, 'normalizer'), 'normalizer');
    this.preTokenizer = parsePreTokenizer(get(root, 'pre_tokenizer'), 'pre_tokenizer');
    this.addedTokens = parseAddedTokens(get(root, 'added_tokens'), 'added_tokens');
    this.indexAddedTokens();
    this.matcher = new AddedTokenMatcher([...this.addedTokens], normalizer);
    this.template = parsePostProcessor(get(root, 'post_processor'), 'post_processor');
    this.byteLevelDecoder = parseDecoder(get(root, 'decoder'), 'decoder');
    this.padId = parsePadId(get(root, 'padding'), 'padding');
    this.specialTokenIds = new Set(this.addedTokens.filter((t) => t.special).map((t) => t.id));
    this.vocabSize = this.addedTokens.reduce((m, t) => Math.max(m, t.id + 1), this.model.idLimit);
  }

  /** Checks that added tokens agree with the vocab and with each other, and indexes them. */
  private indexAddedTokens(): void {
    this.addedTokens.forEach((t, i) => {
      const p = indexPath('added_tokens', i);
      const vocabId = this.model.tokenToId(t.content);
      if (vocabId !== undefined && vocabId !== t.id) {
        throw new TokenizerJsonError(keyPath(p, 'id'), `${t.id}, but model.vocab gives ${JSON.stringify(t.content)} the id ${vocabId}`);
      }
      const vocabToken = this.model.tokenOf(t.id);
      if (vocabToken !== undefined && vocabToken !== t.content) {
        throw new TokenizerJsonError(keyPath(p, 'id'), `${t.id} is already the id of model.vocab token ${JSON.stringify(vocabToken)}`);
      }
      const other = this.addedById.get(t.id);
      if (other !== undefined) throw new TokenizerJsonError(keyPath(p, 'id'), `${t.id} is also the id of added token ${JSON.stringify(other.content)}`);
      this.addedById.set(t.id, t);
      if (!this.addedByContent.has(t.content)) this.addedByContent.set(t.content, t);
    });
  }

  /** Token ids of `text`. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    for (const seg of this.matcher.segments(text)) {
      if (seg.id !== undefined) { ids.push(seg.id); continue; }
      for (const word of this.preTokenizer.run(seg.text)) this.model.encodeWord(word, ids);
    }
    if (!opts.addSpecialTokens) return ids;
    return [...this.template.prefix, ...ids, ...this.template.suffix];
  }

  /** The token strings of `text` (byte-level characters, as HF's `tokens`). */
  tokenize(text: string, opts: EncodeOptions = {}): string[] {
    return this.encode(text, opts).map((id) => this.idToToken(id)!);
  }

  /**
   * Encodes a batch, truncating each sequence to maxLength (special tokens
   * included) and padding to [B, T] with an attention mask; with padding
   * 'none', ragged arrays.
   */
  encodeBatch(texts: readonly string[], opts: BatchOptions & { padding: 'none' }): RaggedBatch;
  encodeBatch(texts: readonly string[], opts?: BatchOptions & { padding?: 'right' | 'left' }): PaddedBatch;
  encodeBatch(texts: readonly string[], opts?: BatchOptions): PaddedBatch | RaggedBatch;
  encodeBatch(texts: readonly string[], opts: BatchOptions = {}): PaddedBatch | RaggedBatch {
    const template = opts.addSpecialTokens ? this.template : { prefix: [], suffix: [] };
    const rows = texts.map((t) => truncateAndWrap(this.encode(t), template, opts));
    return opts.padding === 'none' ? ragged(rows) : pad(rows, opts, this.padId);
  }

  /**
   * Text of `ids`. Model tokens go through the ByteLevel decoder (bytes, then
   * UTF-8 with U+FFFD for invalid sequences); added tokens are written as
   * their content. Ids that name no token are skipped, as HF does (a model's
   * embedding may have more rows than the tokenizer has tokens).
   */
  decode(ids: Iterable<number>, opts: DecodeOptions = {}): string {
    if (!this.byteLevelDecoder) return this.decodeWithoutDecoder(ids, opts);
    const bytes: number[] = [];
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added !== undefined) {
        if (!(opts.skipSpecialTokens && added.special)) pushUtf8(added.content, bytes);
        continue;
      }
      const token = this.model.tokenOf(id);
      if (token !== undefined) pushTokenBytes(token, bytes);
    }
    return utf8Decode(bytes);
  }

  /** With `decoder: null`, HF joins the token strings with spaces. */
  private decodeWithoutDecoder(ids: Iterable<number>, opts: DecodeOptions): string {
    const tokens: string[] = [];
    for (const id of ids) {
      if (opts.skipSpecialTokens && this.specialTokenIds.has(id)) continue;
      const token = this.idToToken(id);
      if (token !== undefined) tokens.push(token);
    }
    return tokens.join(' ');
  }

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.tokenOf(id);
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.tokenToId(token);
  }
}

/** `decoder`: ByteLevel (bytes -> text) or null (tokens joined by spaces). */
function parseDecoder(v: Json | undefined, path: string): boolean {
  if (v === undefined || v === null) return false;
  typeOf(asObject(v, path), path, ['ByteLevel'] as const);
  return true;
}

/** The top-level `padding` block only supplies the default pad id. */
function parsePadId(v: Json | undefined, path: string): number {
  if (v === undefined || v === null) return 0;
  const obj: JsonObject = asObject(v, path);
  const id = get(obj, 'pad_id');
  return id === undefined || id === null ? 0 : asIndex(id, keyPath(path, 'pad_id'));
}

/** A Tokenizer from tokenizer.json text or its parsed object; throws TokenizerJsonError naming the bad field. */
export function loadTokenizer(json: string | object): Tokenizer {
  return new Tokenizer(json);
}

/** Reads and loads a tokenizer.json file (Node, Deno, Bun). */
export async function readTokenizer(path: string): Promise<Tokenizer> {
  const { readFile } = await import('node:fs/promises');
  return new Tokenizer(await readFile(path, 'utf8'));
}
