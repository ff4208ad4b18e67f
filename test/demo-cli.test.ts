// `lco demo` end to end in a child process at toy sizes (the full run is the
// README's main command): it scores the built-in decoder, trains a LoRA
// adapter on WordNet triplets, scores again and prints both columns beside
// the lexical baselines' on the same split.
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLco } from './helpers.ts';

describe('lco demo (child process, toy sizes)', () => {
  it('prints base, refined and lexical scores and leaves the adapter and the three evaluations', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'lco-demo-')), 'demo');
    const r = await runLco(['demo', '--out', out, '--steps', '2', '--batch-size', '4', '--max-queries', '8', '--max-docs', '30', '--max-items', '40']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/metric\s+base\s+\+ LoRA\s+lexical/);
    expect(r.stdout).toMatch(/retrieval nDCG@10\s+\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}/);
    expect(r.stdout).toMatch(/retrieval\s+Okapi BM25/);
    expect(await readdir(out)).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'eval-before.json', 'eval-after.json', 'eval-lexical.json', 'loss-curve.svg']));
    expect(JSON.parse(await readFile(join(out, 'eval-lexical.json'), 'utf8'))).toMatchObject({ suite: 'wordnet', retrieval: { evaluated: 8 } });
  });
});
