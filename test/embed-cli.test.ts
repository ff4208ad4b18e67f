// `lco embed` in a child process on the built-in tiny decoder: output rows in
// input order, ids used as given, bad rows named by line and either stopping
// the run (nothing written) or skipped with a null embedding.
import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTokenizer } from '../src/io/tokenizer.ts';
import { runLco } from './helpers.ts';

const MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;

describe('lco embed (child process)', () => {
  it('embeds text and id rows in order; bad rows stop the run or are skipped, by line number', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-embed-'));
    const tok = await readTokenizer(join(MODEL, 'tokenizer.json'));
    const ids = tok.encode('a large tree');
    const good = [{ text: 'oak: a large tree' }, { input_ids: ids }, { text: 'a large tree' }];
    const input = join(dir, 'in.jsonl');
    await writeFile(input, good.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(dir, 'out.jsonl');
    const r = await runLco(['embed', '--model', MODEL, '--input', input, '--output', out, '--batch-size', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/artificially reduced/); // no driver notices (driver-stderr.test.ts)
    const rows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).embedding as number[]);
    expect(rows.length).toBe(3);
    for (const e of rows) {
      expect(e.length).toBe(128);
      expect(Math.abs(Math.hypot(...e) - 1)).toBeLessThan(1e-5);
    }
    // the ids of "a large tree" given as input_ids embed like the text itself (no prompt)
    rows[1].forEach((v, i) => expect(Math.abs(v - rows[2][i])).toBeLessThan(1e-6));

    const bad = join(dir, 'bad.jsonl');
    await writeFile(bad, ['{"text": "fine"}', '{"text": ', '', '{"text": ""}', '{"input_ids": [1, 99999]}', '{"title": "x"}'].join('\n') + '\n');
    const out2 = join(dir, 'out2.jsonl');
    const stop = await runLco(['embed', '--model', MODEL, '--input', bad, '--output', out2, '--dimensions', '32']);
    expect(stop.code).toBe(1);
    for (const line of [2, 4, 5, 6]) expect(stop.stderr).toContain(`bad.jsonl:${line}:`);
    expect(stop.stderr).toMatch(/input_ids\[1\] = 99999 is outside the vocabulary/);
    await expect(access(out2)).rejects.toThrow(); // nothing written
    const skip = await runLco(['embed', '--model', MODEL, '--input', bad, '--output', out2, '--dimensions', '32', '--on-error', 'skip']);
    expect(skip.code, skip.stderr).toBe(0);
    const rows2 = (await readFile(out2, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(rows2.length).toBe(5); // the blank line is not a row
    expect(rows2[0].embedding.length).toBe(32);
    expect(rows2.slice(1).every((x) => x.embedding === null && /bad\.jsonl:\d+:/.test(x.error))).toBe(true);

    const usage = await runLco(['embed', '--model', MODEL, '--input', input, '--output', out, '--pooling', 'max']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--pooling max: expected lasttoken or mean/);
  });
});
