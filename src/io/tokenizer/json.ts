// Reading an untrusted tokenizer.json: every access goes through these
// helpers, so a missing or mistyped field surfaces as a TokenizerJsonError
// naming its JSON path (`model.merges[12]`) instead of a TypeError thrown from
// deep inside the tokenizer.

/** A tokenizer.json that cannot be used; `path` is the JSON path of the offending field. */
export class TokenizerJsonError extends Error {
  override name = 'TokenizerJsonError';
  constructor(readonly path: string, detail: string) {
    super(`tokenizer.json: ${path === '' ? '(root)' : path}: ${detail}`);
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** `a.b` or `a["weird key"]`, so a path stays unambiguous for any key. */
export function keyPath(path: string, key: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
  if (plain) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

export function indexPath(path: string, i: number): string {
  return `${path}[${i}]`;
}

/** A short description of a value for error messages: `an array`, `the number 3`. */
export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `the ${typeof v} ${String(v)}`;
  return `a ${typeof v}`;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(path: string, expected: string, v: unknown): never {
  throw new TokenizerJsonError(path, v === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${describe(v)}`);
}

/**
 * A field of an object, read as an own property: a key such as "constructor"
 * must not find Object.prototype's member.
 */
export function get(obj: JsonObject, key: string): Json | undefined {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

export function asObject(v: unknown, path: string): JsonObject {
  if (!isObject(v)) fail(path, 'an object', v);
  return v;
}

export function asArray(v: unknown, path: string): Json[] {
  if (!Array.isArray(v)) fail(path, 'an array', v);
  return v;
}

export function asString(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'a string', v);
  return v;
}

/** A non-negative integer below 2^31 (token ids, lengths). */
export function asIndex(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    fail(path, 'a non-negative integer below 2^31', v);
  }
  return v;
}

/** A boolean that may be absent or null, meaning `dflt`. */
export function optBool(obj: JsonObject, key: string, path: string, dflt: boolean): boolean {
  const v = get(obj, key);
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') fail(keyPath(path, key), 'a boolean', v);
  return v;
}

/** A string that may be absent or null. */
export function optString(obj: JsonObject, key: string, path: string): string | null {
  const v = get(obj, key);
  if (v === undefined || v === null) return null;
  return asString(v, keyPath(path, key));
}

/** The `type` field of a component object, checked against the supported ones. */
export function typeOf<T extends string>(obj: JsonObject, path: string, supported: readonly T[]): T {
  const p = keyPath(path, 'type');
  const t = asString(get(obj, 'type'), p);
  if (!(supported as readonly string[]).includes(t)) {
    throw new TokenizerJsonError(p, `${JSON.stringify(t)} is not supported (supported: ${supported.map((s) => JSON.stringify(s)).join(', ')})`);
  }
  return t as T;
}
