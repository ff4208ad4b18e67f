// Normalizers and pre-tokenizers of tokenizer.json: the steps that turn the
// text between added tokens into the "words" BPE runs on. Each is parsed once
// into a closure; the semantics follow HF `tokenizers`.

import { toByteLevel } from './bytelevel.ts';
import {
  asArray, asObject, asString, get, indexPath, keyPath, optBool, typeOf,
  TokenizerJsonError, type Json,
} from './json.ts';
import { compileRegex, GPT2_PATTERN, literalRegex } from './regex.ts';

export type Normalizer = (text: string) => string;

/** Parses `normalizer`: null, a Unicode normal form, Lowercase, or a Sequence of those. */
export function parseNormalizer(v: Json | undefined, path: string): Normalizer | null {
  if (v === undefined || v === null) return null;
  const obj = asObject(v, path);
  const type = typeOf(obj, path, ['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'Sequence'] as const);
  switch (type) {
    case 'Lowercase': return (s) => s.toLowerCase();
    case 'Sequence': {
      const p = keyPath(path, 'normalizers');
      const steps = asArray(get(obj, 'normalizers'), p).map((n, i) => parseNormalizer(n, indexPath(p, i)));
      const live = steps.filter((n): n is Normalizer => n !== null);
      return (s) => live.reduce((acc, n) => n(acc), s);
    }
    default: return (s) => s.normalize(type);
  }
}

/** Splits one piece, appending the resulting non-empty pieces to `out`. */
export type PreTokenizeStep = (piece: string, out: string[]) => void;

export interface PreTokenizer {
  /** The pieces (words) of one stretch of text, in order. */
  run(text: string): string[];
}

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS: readonly Behavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** [start, end, isMatch] spans covering the string, as HF's find_matches. */
type Span = [number, number, boolean];

function spans(s: string, re: RegExp, invert: boolean): Span[] {
  const out: Span[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      // An empty match splits nothing; step over one code point so exec moves on.
      if (start >= s.length) break;
      re.lastIndex = start + (s.codePointAt(start)! > 0xffff ? 2 : 1);
      continue;
    }
    if (start > last) out.push([last, start, invert]);
    out.push([start, end, !invert]);
    last = end;
  }
  if (last < s.length) out.push([last, s.length, invert]);
  return out;
}

/** Applies a split behavior to the spans: which pieces survive and which merge (HF's SplitDelimiterBehavior). */
function applyBehavior(s: string, sp: Span[], behavior: Exclude<Behavior, 'Isolated'>, out: string[]): void {
  const pieces: [number, number][] = [];
  switch (behavior) {
    case 'Removed':
      for (const [a, b, m] of sp) if (!m) pieces.push([a, b]);
      break;
    case 'MergedWithPrevious': {
      let prevMatch = false;
      for (const [a, b, m] of sp) {
        if (m && !prevMatch && pieces.length > 0) pieces[pieces.length - 1][1] = b;
        else pieces.push([a, b]);
        prevMatch = m;
      }
      break;
    }
    case 'MergedWithNext': {
      let nextMatch = false;
      for (let i = sp.length - 1; i >= 0; i--) {
        const [a, b, m] = sp[i];
        if (m && !nextMatch && pieces.length > 0) pieces[pieces.length - 1][0] = a;
        else pieces.push([a, b]);
        nextMatch = m;
      }
      pieces.reverse();
      break;
    }
    case 'Contiguous': {
      let prevMatch = false;
      for (const [a, b, m] of sp) {
        if (m === prevMatch && pieces.length > 0) pieces[pieces.length - 1][1] = b;
        else pieces.push([a, b]);
        prevMatch = m;
      }
      break;
    }
  }
  for (const [a, b] of pieces) if (b > a) out.push(s.slice(a, b));
}

/**
 * Isolated keeps every span, matched or not, so `invert` changes nothing.
 * This is the behavior of every real byte-level tokenizer, and the hot loop
 * of encoding: it emits the pieces directly, without building spans.
 */
function isolatedSplit(piece: string, re: RegExp, out: string[]): void {
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
    const start = m.index;
    if (m[0].length === 0) {
      if (start >= piece.length) break;
      re.lastIndex = start + (piece.codePointAt(start)! > 0xffff ? 2 : 1);
      continue;
    }
    if (start > last) out.push(piece.slice(last, start));
    out.push(m[0]);
    last = start + m[0].length;
  }
  if (last < piece.length) out.push(piece.slice(last));
}

function splitStep(re: RegExp, behavior: Behavior, invert: boolean): PreTokenizeStep {
  if (behavior === 'Isolated') return (piece, out) => isolatedSplit(piece, re, out);
  return (piece, out) => applyBehavior(piece, spans(piece, re, invert), behavior, out);
}

/** `pattern` of a Split: {Regex: "..."} (Oniguruma syntax) or {String: "..."} (a literal). */
function parsePattern(v: Json | undefined, path: string): RegExp {
  const obj = asObject(v, path);
  const regex = get(obj, 'Regex');
  if (regex !== undefined) return compileRegex(asString(regex, keyPath(path, 'Regex')), keyPath(path, 'Regex'));
  const str = get(obj, 'String');
  if (str !== undefined) {
    const s = asString(str, keyPath(path, 'String'));
    if (s === '') throw new TokenizerJsonError(keyPath(path, 'String'), 'empty split string');
    return literalRegex(s);
  }
  throw new TokenizerJsonError(path, 'expected {"Regex": ...} or {"String": ...}');
}

let gpt2Regex: RegExp | null = null;

/** ByteLevel: optional prefix space, optional GPT-2 regex split, then bytes -> byte-level characters. */
function byteLevelStep(addPrefixSpace: boolean, useRegex: boolean): PreTokenizeStep {
  gpt2Regex ??= compileRegex(GPT2_PATTERN, 'GPT-2 pattern');
  const split = splitStep(gpt2Regex, 'Isolated', false);
  const words: string[] = [];
  return (piece, out) => {
    // HF adds the space to each piece that reaches ByteLevel, not only the first.
    const p = addPrefixSpace && !piece.startsWith(' ') ? ' ' + piece : piece;
    if (!useRegex) { out.push(toByteLevel(p)); return; }
    words.length = 0;
    split(p, words);
    for (const w of words) out.push(toByteLevel(w));
  };
}

function parseSteps(v: Json, path: string): PreTokenizeStep[] {
  const obj = asObject(v, path);
  const type = typeOf(obj, path, ['ByteLevel', 'Split', 'Digits', 'Sequence'] as const);
  switch (type) {
    case 'ByteLevel':
      // HF's defaults for both flags are true.
      return [byteLevelStep(optBool(obj, 'add_prefix_space', path, true), optBool(obj, 'use_regex', path, true))];
    case 'Split': {
      const bp = keyPath(path, 'behavior');
      const behavior = asString(get(obj, 'behavior'), bp);
      if (!(BEHAVIORS as readonly string[]).includes(behavior)) {
        throw new TokenizerJsonError(bp, `${JSON.stringify(behavior)} is not one of ${BEHAVIORS.join(', ')}`);
      }
      const re = parsePattern(get(obj, 'pattern'), keyPath(path, 'pattern'));
      return [splitStep(re, behavior as Behavior, optBool(obj, 'invert', path, false))];
    }
    case 'Digits': {
      // Rust's char::is_numeric is \p{N}; each digit is its own match.
      const behavior = optBool(obj, 'individual_digits', path, false) ? 'Isolated' : 'Contiguous';
      return [splitStep(/\p{N}/gu, behavior, false)];
    }
    case 'Sequence': {
      const p = keyPath(path, 'pretokenizers');
      return asArray(get(obj, 'pretokenizers'), p).flatMap((s, i) => parseSteps(s, indexPath(p, i)));
    }
  }
}

function runSteps(steps: PreTokenizeStep[], text: string): string[] {
  let pieces = text === '' ? [] : [text];
  for (const step of steps) {
    const next: string[] = [];
    for (const piece of pieces) step(piece, next);
    pieces = next;
  }
  return pieces;
}

/** Parses `pre_tokenizer` (null: the whole stretch is one word). */
export function parsePreTokenizer(v: Json | undefined, path: string): PreTokenizer {
  if (v === undefined || v === null) return { run: (text) => (text === '' ? [] : [text]) };
  const steps = parseSteps(v, path);
  return { run: (text) => runSteps(steps, text) };
}
