// GPT-2's byte-level alphabet: each of the 256 byte values is written as one
// printable unicode character, so BPE works on strings while covering every
// possible UTF-8 byte sequence (no unknown tokens, exact round trips).

/**
 * bytes_to_unicode from GPT-2: printable Latin-1 bytes map to themselves; the
 * other 68 (controls, space, 0x7F-0xA0, 0xAD) map to U+0100.. in byte order.
 */
function buildByteToChar(): string[] {
  const table: string[] = new Array(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return table;
}

/** BYTE_TO_CHAR[b] is the byte-level character for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Byte-level character code (all are below U+0144) -> byte value, or -1. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => { t[c.charCodeAt(0)] = b; });
  return t;
})();

/** The 256 byte-level symbols sorted by code point (the order HF's trainer gives them ids). */
export const BYTE_LEVEL_ALPHABET: readonly string[] = [...BYTE_TO_CHAR].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));

/**
 * The UTF-8 bytes of `s`, each written as its byte-level character. Encodes
 * by hand rather than through TextEncoder: pieces are short and numerous, and
 * this avoids an allocation per piece. Lone surrogates become U+FFFD, as
 * TextEncoder would write them.
 */
export function toByteLevel(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp < 0x80) { out += BYTE_TO_CHAR[cp]; continue; }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); i++; }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x800) {
      out += BYTE_TO_CHAR[0xc0 | (cp >> 6)] + BYTE_TO_CHAR[0x80 | (cp & 63)];
    } else if (cp < 0x10000) {
      out += BYTE_TO_CHAR[0xe0 | (cp >> 12)] + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 63)] + BYTE_TO_CHAR[0x80 | (cp & 63)];
    } else {
      out += BYTE_TO_CHAR[0xf0 | (cp >> 18)] + BYTE_TO_CHAR[0x80 | ((cp >> 12) & 63)]
        + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 63)] + BYTE_TO_CHAR[0x80 | (cp & 63)];
    }
  }
  return out;
}

/**
 * Appends the bytes a byte-level token stands for. As HF's ByteLevel decoder:
 * a token with any character outside the alphabet (an added token such as
 * "<|im start|>" with a space) is taken as its own UTF-8 text instead.
 */
export function pushTokenBytes(token: string, out: number[]): void {
  const start = out.length;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    if (b < 0) {
      out.length = start;
      pushUtf8(token, out);
      return;
    }
    out.push(b);
  }
}

const encoder = new TextEncoder();

export function pushUtf8(text: string, out: number[]): void {
  for (const b of encoder.encode(text)) out.push(b);
}

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Bytes to text; invalid sequences become U+FFFD (as HF's from_utf8_lossy). */
export function utf8Decode(bytes: number[]): string {
  return decoder.decode(Uint8Array.from(bytes));
}
