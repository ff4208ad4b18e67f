// `lco eval` and `lco analyze` in child processes on the built-in tiny
// decoder with tiny sizes: exit 0, the table on stdout, the JSON (and SVG)
// written with the asked sizes and in-range values; usage errors exit 2 and
// write nothing.
import { access, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLco } from './helpers.ts';

const MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;

describe('lco eval (child process)', () => {
  it('prints the table and writes the JSON; bad flags exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-eval-'));
    const out = join(dir, 'eval.json');
    const small = ['--model', MODEL, '--max-queries', '20', '--max-docs', '60', '--max-items', '40', '--kmeans-restarts', '1'];
    const r = await runLco(['eval', ...small, '--prompt', 'lco', '--json', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/retrieval\s+nDCG@10\s+\d\.\d{4}\s+\d\.\d{4}/); // the model, then the lexical baseline
    expect(r.stdout).toMatch(/classification\s+accuracy\s+\d\.\d{4}\s+\d\.\d{4}/);
    expect(r.stdout).toMatch(/retrieval\s+Okapi BM25 \(k1 1\.2, b 0\.75/);
    const j = JSON.parse(await readFile(out, 'utf8'));
    expect(j).toMatchObject({ command: 'eval', model: MODEL, adapter: null, tasks: 'wordnet', suite: 'wordnet' });
    expect(j.options).toMatchObject({ prompt: 'lco', queryPrompt: 'lco', pooling: 'lasttoken', dimensions: 128, kmeansRestarts: 1, seed: 0 });
    expect(j.counts).toMatchObject({ queries: 20, documents: 60, stsPairs: 40 });
    for (const v of [j.retrieval.ndcgAt10, j.retrieval.recallAt1, j.retrieval.mapAt100, j.clustering.vMeasure, j.classification.accuracy]) {
      expect(v >= 0 && v <= 1, String(v)).toBe(true);
    }
    expect(Math.abs(j.sts.spearman)).toBeLessThanOrEqual(1);
    expect(j.timings.run).toBeGreaterThan(0);
    expect(j.lexical).toMatchObject({ suite: 'wordnet', retrieval: { evaluated: 20 }, clustering: { k: j.clustering.k } });
    const plain = await runLco(['eval', ...small, '--no-baselines']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^task\s+metric\s+value\n/);

    const bad = join(dir, 'bad.json');
    for (const [flag, msg] of [
      [['--pooling', 'max'], /--pooling max: expected lasttoken or mean/],
      [['--tasks', 'mteb'], /--tasks mteb: expected wordnet/],
      [['--max-queries', '0'], /--max-queries 0: must be >= 1/],
      [['--prompt', 'no placeholder'], /exactly once/],
      [['--no-such-flag'], /unknown flag --no-such-flag/],
    ] as const) {
      const u = await runLco(['eval', '--model', MODEL, '--json', bad, ...flag]);
      expect(u.code, flag.join(' ')).toBe(2);
      expect(u.stderr).toMatch(msg);
    }
    await expect(access(bad)).rejects.toThrow();
  });
});

describe('lco analyze (child process)', () => {
  it('prints a line per layer and writes analysis.json and analysis.svg; bad flags exit 2', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'lco-analyze-')), 'out');
    const r = await runLco(['analyze', '--model', MODEL, '--max-items', '24', '--pooling', 'mean', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^layer\s+anisotropy\(example\)\s+anisotropy\(gloss\)\s+mutual-kNN@10/);
    expect(r.stdout).toMatch(/\n4 block 4 \+ norm\s/);
    const j = JSON.parse(await readFile(join(dir, 'analysis.json'), 'utf8'));
    expect(j).toMatchObject({ command: 'analyze', model: MODEL, names: ['example', 'gloss'], counts: { items: 24, layers: 4, hidden: 128 } });
    expect(j.options.pooling).toBe('mean');
    expect(j.layers.map((s: { layer: number }) => s.layer)).toEqual([0, 1, 2, 3, 4]);
    for (const s of j.layers) expect(s.mutualKnn >= 0 && s.mutualKnn <= 1 && Math.abs(s.anisotropyA) <= 1 && Math.abs(s.anisotropyB) <= 1).toBe(true);
    const svg = await readFile(join(dir, 'analysis.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg.match(/class="series"/g)?.length).toBe(4);

    const bad = join(dir, 'bad');
    const u = await runLco(['analyze', '--model', MODEL, '--max-items', '5', '--out', bad]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--max-items 5: mutual kNN \(k = 10\) needs at least 11/);
    await expect(access(bad)).rejects.toThrow();
  });
});
