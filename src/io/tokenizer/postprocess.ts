// post_processor of tokenizer.json, reduced to what a single sequence needs:
// the special-token ids placed before and after it (BOS/EOS, CLS/SEP).
// ByteLevel post-processing only adjusts offsets, which this tokenizer does
// not produce, so it adds nothing.

import {
  asArray, asIndex, asObject, asString, describe, get, indexPath, keyPath, typeOf,
  TokenizerJsonError, type Json, type JsonObject,
} from './json.ts';

/** Ids around a single encoded sequence: prefix + sequence + suffix. */
export interface SingleTemplate {
  prefix: number[];
  suffix: number[];
}

const EMPTY: SingleTemplate = { prefix: [], suffix: [] };

export function parsePostProcessor(v: Json | undefined, path: string): SingleTemplate {
  if (v === undefined || v === null) return EMPTY;
  const obj = asObject(v, path);
  const type = typeOf(obj, path, ['ByteLevel', 'TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'Sequence'] as const);
  switch (type) {
    case 'ByteLevel': return EMPTY;
    case 'TemplateProcessing': return parseTemplate(obj, path);
    case 'BertProcessing':
    case 'RobertaProcessing':
      return { prefix: [namedId(get(obj, 'cls'), keyPath(path, 'cls'))], suffix: [namedId(get(obj, 'sep'), keyPath(path, 'sep'))] };
    case 'Sequence': {
      // Each processor wraps what the previous ones produced.
      const p = keyPath(path, 'processors');
      return asArray(get(obj, 'processors'), p).reduce<SingleTemplate>((acc, proc, i) => {
        const t = parsePostProcessor(proc, indexPath(p, i));
        return { prefix: [...t.prefix, ...acc.prefix], suffix: [...acc.suffix, ...t.suffix] };
      }, EMPTY);
    }
  }
}

/** `["[SEP]", 102]` of Bert/RobertaProcessing. */
function namedId(v: Json | undefined, path: string): number {
  const pair = asArray(v, path);
  if (pair.length !== 2) throw new TokenizerJsonError(path, `expected [token, id], got an array of ${pair.length}`);
  asString(pair[0], indexPath(path, 0));
  return asIndex(pair[1], indexPath(path, 1));
}

/** A template item: {SpecialToken: {id}} or {Sequence: {id: "A"}}, or the string form "<s>:0" / "$A". */
type Item = { special: string } | { sequence: string };

function parseItem(v: Json, path: string): Item {
  if (typeof v === 'string') {
    const name = v.replace(/:\d+$/, '');
    return name.startsWith('$') ? { sequence: name.slice(1) || 'A' } : { special: name };
  }
  const obj = asObject(v, path);
  const special = get(obj, 'SpecialToken');
  if (special !== undefined) {
    const p = keyPath(path, 'SpecialToken');
    return { special: asString(get(asObject(special, p), 'id'), keyPath(p, 'id')) };
  }
  const seq = get(obj, 'Sequence');
  if (seq !== undefined) {
    const p = keyPath(path, 'Sequence');
    return { sequence: asString(get(asObject(seq, p), 'id'), keyPath(p, 'id')) };
  }
  throw new TokenizerJsonError(path, `expected {"SpecialToken": ...} or {"Sequence": ...}, got ${describe(v)}`);
}

/** The ids of each entry of `special_tokens`: {"<s>": {id: "<s>", ids: [1], tokens: ["<s>"]}}. */
function specialTokenIds(v: Json | undefined, path: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (v === undefined || v === null) return out;
  for (const [name, entry] of Object.entries(asObject(v, path))) {
    const p = keyPath(path, name);
    const e = asObject(entry, p);
    const ip = keyPath(p, 'ids');
    out.set(name, asArray(get(e, 'ids'), ip).map((id, i) => asIndex(id, indexPath(ip, i))));
  }
  return out;
}

function parseTemplate(obj: JsonObject, path: string): SingleTemplate {
  const specials = specialTokenIds(get(obj, 'special_tokens'), keyPath(path, 'special_tokens'));
  const sp = keyPath(path, 'single');
  const raw = get(obj, 'single');
  const items = typeof raw === 'string' ? raw.trim().split(/\s+/) : asArray(raw, sp);
  const out: SingleTemplate = { prefix: [], suffix: [] };
  let seen = false;
  items.forEach((item, i) => {
    const p = indexPath(sp, i);
    const it = parseItem(item, p);
    if ('sequence' in it) {
      if (it.sequence !== 'A' || seen) throw new TokenizerJsonError(p, 'a single template holds the sequence "A" exactly once');
      seen = true;
      return;
    }
    const ids = specials.get(it.special);
    if (ids === undefined) throw new TokenizerJsonError(p, `special token ${JSON.stringify(it.special)} is not in ${path}.special_tokens`);
    (seen ? out.suffix : out.prefix).push(...ids);
  });
  if (!seen) throw new TokenizerJsonError(sp, 'the template has no sequence "$A"');
  return out;
}
