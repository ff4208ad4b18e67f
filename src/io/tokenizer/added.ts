// Added tokens (special tokens such as <|im_start|>, and user-added words):
// found in the text before normalization and BPE, leftmost-longest as HF's
// aho-corasick matcher, and emitted whole, so they are never split.

import {
  asArray, asIndex, asObject, asString, get, indexPath, keyPath, optBool, TokenizerJsonError, type Json,
} from './json.ts';
import { escapeLiteral } from './regex.ts';
import type { Normalizer } from './pretokenize.ts';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  /** Only matched when not touching a word character on either side. */
  singleWord: boolean;
  /** Whitespace on the left (right) is swallowed into the token. */
  lstrip: boolean;
  rstrip: boolean;
  /** Matched on the normalized text rather than the raw text. */
  normalized: boolean;
}

export function parseAddedTokens(v: Json | undefined, path: string): AddedToken[] {
  if (v === undefined || v === null) return [];
  return asArray(v, path).map((t, i) => {
    const p = indexPath(path, i);
    const obj = asObject(t, p);
    const content = asString(get(obj, 'content'), keyPath(p, 'content'));
    if (content === '') throw new TokenizerJsonError(keyPath(p, 'content'), 'an added token cannot be empty');
    const special = optBool(obj, 'special', p, false);
    return {
      id: asIndex(get(obj, 'id'), keyPath(p, 'id')),
      content,
      special,
      singleWord: optBool(obj, 'single_word', p, false),
      lstrip: optBool(obj, 'lstrip', p, false),
      rstrip: optBool(obj, 'rstrip', p, false),
      // HF's AddedToken default: special tokens match the raw text.
      normalized: optBool(obj, 'normalized', p, !special),
    };
  });
}

/** A stretch of text for the model, or an added token's id. */
export type Segment = { text: string; id?: undefined } | { id: number; text?: undefined };

const WORD_BEFORE = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const WORD_AFTER = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE = /\p{White_Space}/u;

/** Finds one set of added tokens (the raw-text or the normalized-text ones). */
class TokenSet {
  private readonly re: RegExp | null;
  private readonly byContent = new Map<string, AddedToken>();

  constructor(tokens: AddedToken[], normalize: Normalizer | null) {
    for (const t of tokens) {
      const key = normalize ? normalize(t.content) : t.content;
      if (key !== '' && !this.byContent.has(key)) this.byContent.set(key, t);
    }
    // Longest first: a JS alternation takes the first alternative that
    // matches, so at the leftmost position this gives the longest token.
    const keys = [...this.byContent.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.re = keys.length === 0 ? null : new RegExp(keys.map(escapeLiteral).join('|'), 'gu');
  }

  /** Splits `text` around the tokens; pieces of text go through `onText`. */
  split(text: string, out: Segment[], onText: (text: string, out: Segment[]) => void): void {
    if (this.re === null) { onText(text, out); return; }
    const re = this.re;
    let done = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const token = this.byContent.get(m[0])!;
      let start = m.index;
      let stop = start + m[0].length;
      if (token.singleWord && (WORD_BEFORE.test(text.slice(Math.max(0, start - 2), start)) || WORD_AFTER.test(text.slice(stop, stop + 2)))) {
        continue; // the scan goes on after the rejected match, as HF's
      }
      if (token.lstrip) while (start > done && SPACE.test(text[start - 1])) start--;
      if (token.rstrip) while (stop < text.length && SPACE.test(text[stop])) stop++;
      if (start > done) onText(text.slice(done, start), out);
      out.push({ id: token.id });
      done = stop;
      re.lastIndex = stop;
    }
    if (done < text.length) onText(text.slice(done), out);
  }
}

/**
 * Splits text into segments: added tokens matched on the raw text first, the
 * rest normalized, then added tokens marked `normalized` matched on that.
 */
export class AddedTokenMatcher {
  private readonly raw: TokenSet;
  private readonly normalizedSet: TokenSet;

  constructor(tokens: AddedToken[], private readonly normalize: Normalizer | null) {
    this.raw = new TokenSet(tokens.filter((t) => !t.normalized), null);
    this.normalizedSet = new TokenSet(tokens.filter((t) => t.normalized), normalize);
  }

  segments(text: string): Segment[] {
    const out: Segment[] = [];
    const pushText = (t: string, o: Segment[]) => { if (t !== '') o.push({ text: t }); };
    this.raw.split(text, out, (t, o) => {
      const n = this.normalize ? this.normalize(t) : t;
      this.normalizedSet.split(n, o, pushText);
    });
    return out;
  }
}
