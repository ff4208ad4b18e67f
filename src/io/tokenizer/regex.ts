// Translates the regexes of tokenizer.json (Oniguruma / Rust syntax, as HF
// `tokenizers` compiles them) into JavaScript regexes with the `u` flag.
//
// The constructs real tokenizers use are translated so they match what they
// match in HF: Unicode \s, \d, \w (JS's are ASCII or slightly different sets),
// `.` that stops only at \n, inline case-insensitive groups `(?i:...)` (not JS
// syntax before ES2025), \x{...} escapes, escaped punctuation (a syntax error
// under the u flag), \p{Script} names. Anything else that JS would read
// differently (atomic groups, possessive quantifiers, \b, backreferences,
// nested classes...) raises an error naming the construct and its offset.

import { TokenizerJsonError } from './json.ts';

/** Unicode White_Space, as Rust's and Oniguruma's \s (JS's \s adds U+FEFF and lacks U+0085). */
const SPACE = '\\p{White_Space}';
const NOT_SPACE = '\\P{White_Space}';
/** Unicode \w (UTS#18 word characters), as Rust's. */
const WORD_PARTS = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';

interface Flags { i: boolean; s: boolean }

const CASED = /[\p{Changes_When_Casemapped}\p{Changes_When_Casefolded}]/u;
const CASE_CANDIDATES: { list: string[] | null } = { list: null };

/**
 * Every character that JS's /iu matches together with `c` (simple case
 * folding, which Oniguruma and Rust use too): `s` also matches U+017F ſ and
 * `k` the Kelvin sign. Candidates are the characters that change under case
 * mapping or folding; all of them lie below U+20000.
 */
function caseVariants(c: string): string[] {
  // A character unchanged by case mapping and folding has no variants
  // (fold targets are lowercase letters, which change when uppercased).
  if (!CASED.test(c)) return [c];
  if (CASE_CANDIDATES.list === null) {
    const list: string[] = [];
    for (let cp = 0; cp < 0x20000; cp++) {
      const ch = String.fromCodePoint(cp);
      if (CASED.test(ch)) list.push(ch);
    }
    CASE_CANDIDATES.list = list;
  }
  const same = new RegExp(`^${escapeChar(c)}$`, 'iu');
  const out = [c];
  for (const x of CASE_CANDIDATES.list) if (x !== c && same.test(x)) out.push(x);
  return out;
}

/** A literal character as a JS regex atom that is valid inside and outside classes. */
function escapeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  if (/[A-Za-z0-9]/.test(c) || (cp > 0x7f && !/[\p{White_Space}\p{Cc}\p{Cf}]/u.test(c))) return c;
  return `\\u{${cp.toString(16)}}`;
}

/** The translation of one literal character, expanded to its case variants under (?i). */
function literal(c: string, flags: Flags, inClass: boolean): string {
  if (!flags.i) return escapeChar(c);
  const variants = caseVariants(c);
  if (variants.length === 1) return escapeChar(c);
  const body = variants.map(escapeChar).join('');
  return inClass ? body : `[${body}]`;
}

class Translator {
  private pos = 0;
  private out = '';

  constructor(private readonly src: string, private readonly path: string) {}

  private unsupported(what: string, at = this.pos): never {
    throw new TokenizerJsonError(this.path, `unsupported regex construct ${what} at offset ${at} of ${JSON.stringify(this.src)}`);
  }

  /** Code point at the cursor (patterns may hold astral characters). */
  private peek(offset = 0): string {
    const cp = this.src.codePointAt(this.pos + offset);
    return cp === undefined ? '' : String.fromCodePoint(cp);
  }

  private next(): string {
    const c = this.peek();
    this.pos += c.length;
    return c;
  }

  translate(): string {
    this.alternation({ i: false, s: false });
    if (this.pos < this.src.length) this.unsupported('")" without a matching "("');
    return this.out;
  }

  /**
   * Alternatives up to an unmatched ")" or the end. A bare `(?i)` lasts to
   * the end of the group. At the start of the group it covers every
   * alternative in all engines; after an atom, Oniguruma reads `a(?i)b|c` as
   * `a(?i:b|c)` while Rust keeps `|` at the outer level, so that is refused.
   */
  private alternation(outer: Flags): void {
    let groupFlags = { ...outer };
    let flags = groupFlags;
    let quantifiable = false;
    let atGroupStart = true;
    let flagsMidBranch = -1;
    while (this.pos < this.src.length) {
      const at = this.pos;
      const c = this.peek();
      if (c === ')') return;
      if (c === '|') {
        if (flagsMidBranch >= 0) this.unsupported('inline flags "(?...)" after an atom, followed by "|" (engines group these differently)', flagsMidBranch);
        this.next();
        this.out += '|';
        flags = groupFlags;
        quantifiable = false;
        atGroupStart = false;
        continue;
      }
      if (c === '*' || c === '+' || c === '?' || (c === '{' && this.quantifierBraces() !== null)) {
        if (!quantifiable) this.unsupported(`quantifier "${c}" with nothing to repeat`, at);
        this.quantifier();
        quantifiable = false;
        continue;
      }
      if (c === '(') {
        const set = this.group(flags);
        if (set !== null) {
          if (atGroupStart) groupFlags = set; else flagsMidBranch = at;
          flags = set;
          quantifiable = false;
          continue;
        }
      } else if (c === '[') {
        this.charClass(flags);
      } else if (c === '\\') {
        this.out += this.escape(flags, false);
      } else if (c === '.') {
        this.next();
        this.out += flags.s ? '[^]' : '[^\\n]';
      } else if (c === '^') {
        // Oniguruma's (Ruby's) ^ and $ are line anchors, at \n only.
        this.next();
        this.out += '(?<![^\\n])';
      } else if (c === '$') {
        this.next();
        this.out += '(?![^\\n])';
      } else {
        this.out += literal(this.next(), flags, false);
      }
      quantifiable = true;
      atGroupStart = false;
    }
  }

  /** `{n}`, `{n,}`, `{n,m}` or Oniguruma's `{,m}` at the cursor, or null when the brace is a literal. */
  private quantifierBraces(): string | null {
    const m = /^\{(?:\d+(?:,\d*)?|,\d+)\}/.exec(this.src.slice(this.pos, this.pos + 24));
    return m ? m[0] : null;
  }

  private quantifier(): void {
    const braces = this.quantifierBraces();
    if (braces !== null) {
      this.pos += braces.length;
      this.out += braces.startsWith('{,') ? `{0${braces.slice(1)}` : braces;
    } else this.out += this.next();
    if (this.peek() === '?') this.out += this.next();
    else if (this.peek() === '+') this.unsupported('possessive quantifier "+"');
  }

  /**
   * A group at the cursor. Returns the new flags for a bare flag group
   * `(?i)` (which emits nothing), or null after emitting a whole group.
   */
  private group(flags: Flags): Flags | null {
    const at = this.pos;
    this.next();
    let inner = flags;
    if (this.peek() !== '?') {
      this.out += '(?:'; // captures are never read: a plain group is enough
    } else {
      this.next();
      const c = this.peek();
      if (c === ':') { this.next(); this.out += '(?:'; }
      else if (c === '=' || c === '!') { this.out += '(?' + this.next(); }
      else if (c === '<' && (this.peek(1) === '=' || this.peek(1) === '!')) { this.next(); this.out += '(?<' + this.next(); }
      else if (c === '<' || c === 'P') { this.skipGroupName(at); this.out += '(?:'; }
      else if (c === '>') this.unsupported('atomic group "(?>"', at);
      else if (c === '#') { this.skipComment(at); return flags; }
      else {
        const parsed = this.flagGroup(flags, at);
        if (parsed.bare) return parsed.flags;
        inner = parsed.flags;
        this.out += '(?:';
      }
    }
    this.alternation(inner);
    if (this.peek() !== ')') this.unsupported('unclosed group "("', at);
    this.next();
    this.out += ')';
    return null;
  }

  private skipGroupName(at: number): void {
    if (this.peek() === 'P') this.next();
    const m = /^<[A-Za-z_][A-Za-z0-9_]*>/.exec(this.src.slice(this.pos));
    if (!m) this.unsupported('malformed named group', at);
    this.pos += m[0].length;
  }

  private skipComment(at: number): void {
    const end = this.src.indexOf(')', this.pos);
    if (end < 0) this.unsupported('unclosed comment "(?#"', at);
    this.pos = end + 1;
  }

  /** `(?is-s:` or `(?i)`: only the i and s flags have a translation. */
  private flagGroup(flags: Flags, at: number): { flags: Flags; bare: boolean } {
    const next = { ...flags };
    let on = true;
    for (;;) {
      const c = this.next();
      if (c === 'i' || c === 's') next[c] = on;
      else if (c === '-' && on) on = false;
      else if (c === ':') return { flags: next, bare: false };
      else if (c === ')') return { flags: next, bare: true };
      else this.unsupported(c === '' ? 'unclosed group "(?"' : `inline flag "${c}"`, at);
    }
  }

  private charClass(flags: Flags): void {
    const at = this.pos;
    this.next();
    let body = '';
    if (this.peek() === '^') { this.next(); body += '^'; }
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === '') this.unsupported('unclosed character class "["', at);
      if (c === ']' && !first) break;
      first = false;
      if (c === '[') this.unsupported(this.peek(1) === ':' ? 'POSIX class "[:"' : 'nested character class "["');
      if (c === '&' && this.peek(1) === '&') this.unsupported('class intersection "&&"');
      const lo = this.classAtom(flags);
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== '' && lo.char !== null) {
        this.next();
        const hi = this.classAtom(flags);
        if (hi.char === null) this.unsupported('character range ending in a class escape');
        body += this.range(lo.char, hi.char, flags);
      } else body += lo.text;
    }
    this.next();
    this.out += `[${body}]`;
  }

  /** One class member: its translation, and the literal character when it is one (for ranges). */
  private classAtom(flags: Flags): { text: string; char: string | null } {
    if (this.peek() !== '\\') {
      const c = this.next();
      return { text: literal(c, flags, true), char: c };
    }
    const before = this.pos;
    const text = this.escape(flags, true);
    const raw = this.src.slice(before, this.pos);
    const simple = /^\\[^A-Za-z0-9]$/u.test(raw) ? raw.slice(1) : null;
    return { text, char: simple ?? literalEscape(raw) };
  }

  /** A range `a-z`; under (?i) only ranges whose case variants are again ranges (ASCII letters) are translated. */
  private range(lo: string, hi: string, flags: Flags): string {
    if (lo.codePointAt(0)! > hi.codePointAt(0)!) this.unsupported(`reversed range "${lo}-${hi}"`);
    const plain = `${escapeChar(lo)}-${escapeChar(hi)}`;
    if (!flags.i) return plain;
    const lower = /^[a-z]$/.test(lo) && /^[a-z]$/.test(hi);
    const upper = /^[A-Z]$/.test(lo) && /^[A-Z]$/.test(hi);
    if (lower || upper) {
      const swap = (c: string) => (lower ? c.toUpperCase() : c.toLowerCase());
      // k and s have non-ASCII variants (Kelvin sign, long s).
      const extra = ['k', 's'].filter((c) => c >= lo.toLowerCase() && c <= hi.toLowerCase())
        .flatMap((c) => caseVariants(c).filter((v) => v.codePointAt(0)! > 0x7f)).map(escapeChar).join('');
      return `${plain}${escapeChar(swap(lo))}-${escapeChar(swap(hi))}${extra}`;
    }
    const cased = /\p{Changes_When_Casemapped}/u;
    for (let cp = lo.codePointAt(0)!; cp <= hi.codePointAt(0)!; cp++) {
      if (cased.test(String.fromCodePoint(cp))) this.unsupported(`case-insensitive range "${lo}-${hi}" over cased letters`);
    }
    return plain;
  }

  /** An escape at the cursor, translated for inside or outside a class. */
  private escape(flags: Flags, inClass: boolean): string {
    const at = this.pos;
    this.next();
    const e = this.next();
    switch (e) {
      case '': return this.unsupported('trailing "\\"', at);
      case 's': return SPACE;
      case 'S': return NOT_SPACE;
      case 'd': return '\\p{Nd}';
      case 'D': return '\\P{Nd}';
      case 'w': return inClass ? WORD_PARTS : `[${WORD_PARTS}]`;
      case 'W': return inClass ? this.unsupported('"\\W" inside a class', at) : `[^${WORD_PARTS}]`;
      case 'p': case 'P': return this.property(e === 'P', at);
      case 'n': case 'r': case 't': case 'f': case 'v': return `\\${e}`;
      case 'a': return '\\x07';
      case 'e': return '\\x1b';
      case 'x': return this.hexEscape(at, flags, inClass);
      case 'u': return this.codeUnitEscape(at, flags, inClass);
      case 'A': return inClass ? this.unsupported('"\\A" inside a class', at) : '^';
      case 'z': return inClass ? this.unsupported('"\\z" inside a class', at) : '$';
      case 'Z': return inClass ? this.unsupported('"\\Z" inside a class', at) : '(?=\\n?$)';
      default:
        if (/^[A-Za-z0-9]$/.test(e)) return this.unsupported(`escape "\\${e}"`, at);
        return literal(e, flags, inClass);
    }
  }

  /** `\xHH` or `\x{H...}`. */
  private hexEscape(at: number, flags: Flags, inClass: boolean): string {
    const m = /^(?:\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2}))/.exec(this.src.slice(this.pos));
    if (!m) return this.unsupported('malformed "\\x" escape', at);
    this.pos += m[0].length;
    return this.codePoint(parseInt(m[1] ?? m[2], 16), at, flags, inClass);
  }

  private codeUnitEscape(at: number, flags: Flags, inClass: boolean): string {
    const m = /^[0-9A-Fa-f]{4}/.exec(this.src.slice(this.pos));
    if (!m) return this.unsupported('malformed "\\u" escape', at);
    this.pos += 4;
    return this.codePoint(parseInt(m[0], 16), at, flags, inClass);
  }

  private codePoint(cp: number, at: number, flags: Flags, inClass: boolean): string {
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.unsupported(`escape of invalid code point U+${cp.toString(16)}`, at);
    return literal(String.fromCodePoint(cp), flags, inClass);
  }

  /** `\pL`, `\p{L}`, `\p{^L}`, `\p{Greek}` (a script: JS needs `Script=`). */
  private property(negated: boolean, at: number): string {
    let name: string;
    if (this.peek() === '{') {
      const end = this.src.indexOf('}', this.pos);
      if (end < 0) this.unsupported('unclosed "\\p{"', at);
      name = this.src.slice(this.pos + 1, end);
      this.pos = end + 1;
    } else {
      name = this.next();
    }
    if (name.startsWith('^')) { negated = !negated; name = name.slice(1); }
    const p = negated ? 'P' : 'p';
    for (const candidate of [name, `Script=${name}`]) {
      const text = `\\${p}{${candidate}}`;
      try { new RegExp(text, 'u'); return text; } catch { /* try the next spelling */ }
    }
    return this.unsupported(`Unicode property "${name}"`, at);
  }
}

/** The character a `\x..`/`\u....` escape stands for, so it can bound a range. */
function literalEscape(raw: string): string | null {
  const m = /^\\(?:x\{([0-9A-Fa-f]+)\}|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4}))$/.exec(raw);
  if (!m) return null;
  return String.fromCodePoint(parseInt(m[1] ?? m[2] ?? m[3], 16));
}

/**
 * The JS source (for the `u` flag) of an Oniguruma/Rust pattern; throws a
 * TokenizerJsonError at `path` naming what cannot be translated.
 */
export function translateRegex(pattern: string, path: string): string {
  const src = new Translator(pattern, path).translate();
  try {
    new RegExp(src, 'gu');
  } catch (e) {
    throw new TokenizerJsonError(path, `invalid regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
  return src;
}

/** Compiles a tokenizer.json regex to a global, unicode JS RegExp. */
export function compileRegex(pattern: string, path: string): RegExp {
  return new RegExp(translateRegex(pattern, path), 'gu');
}

/** JS regex source (u flag) matching `s` literally. */
export function escapeLiteral(s: string): string {
  return [...s].map(escapeChar).join('');
}

/** A JS regex that matches `s` literally (Split patterns given as {String: ...}). */
export function literalRegex(s: string): RegExp {
  return new RegExp(escapeLiteral(s), 'gu');
}

/** GPT-2's pre-tokenization regex, the ByteLevel pre-tokenizer's default (`use_regex: true`). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Qwen2's Split pattern (also what trainBpe writes for preTokenizer 'qwen2'). */
export const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
