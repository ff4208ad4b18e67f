// `lco train` end to end in a child process on the built-in tiny decoder: a
// JSONL of triplets trains a PEFT adapter that `lco embed --adapter` applies;
// a two-stage --config runs both stages, the second from the first's adapter;
// a bad row stops the run naming its line (or is skipped when asked); one
// SGD step with no warmup moves the adapter by exactly lr times the gradient.
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsBuffer } from '../src/io/safetensors.ts';
import { runLco } from './helpers.ts';

const MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;
const SMALL = ['--batch-size', '4', '--mini-batch-size', '3', '--max-length', '24', '--quiet'];

async function triplets(dir: string, bad = false): Promise<string> {
  const words = ['oak', 'dog', 'violin', 'river', 'salt', 'lamp', 'cloud', 'bread', 'stone', 'wolf'];
  const rows = words.map((w, i) => JSON.stringify({ anchor: `the ${w} was here`, positive: `${w}: a thing`, negative: `${words[(i + 1) % 10]}: another thing` }));
  if (bad) rows.splice(3, 0, '{"anchor": "x", "positive": ""}');
  const path = join(dir, bad ? 'bad.jsonl' : 'train.jsonl');
  await writeFile(path, rows.join('\n') + '\n');
  return path;
}

describe('lco train (child process)', () => {
  it('trains an adapter that lco embed applies; two stages chain; bad rows stop or are skipped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-train-'));
    const data = await triplets(dir);
    const out = join(dir, 'adapter');
    const r = await runLco(['train', '--model', MODEL, '--data', data, '--out', out, '--steps', '2', '--loss', 'symmetric', ...SMALL]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/10 rows with 1 negative\(s\) each; LoRA r 8 alpha 16/);
    expect(r.stderr).not.toMatch(/artificially reduced/); // no driver notices (driver-stderr.test.ts)
    expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 8, base_model_name_or_path: MODEL });

    const input = join(dir, 'in.jsonl');
    await writeFile(input, '{"text": "oak"}\n{"text": "dog"}\n');
    const withAdapter = join(dir, 'with.jsonl');
    const base = join(dir, 'base.jsonl');
    expect((await runLco(['embed', '--model', MODEL, '--adapter', out, '--input', input, '--output', withAdapter])).code).toBe(0);
    expect((await runLco(['embed', '--model', MODEL, '--input', input, '--output', base])).code).toBe(0);
    const [a, b] = [await readFile(withAdapter, 'utf8'), await readFile(base, 'utf8')];
    expect(a).not.toBe(b); // the trained adapter changes the embeddings

    const config = join(dir, 'stages.json');
    await writeFile(config, JSON.stringify({ stages: [{ steps: 1, lr: 1e-3 }, { steps: 1, lr: 1e-4, 'lora-alpha': 64 }] }));
    const staged = join(dir, 'staged');
    const s = await runLco(['train', '--model', MODEL, '--data', data, '--out', staged, '--config', config, ...SMALL]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/stage 2 of 2/);
    expect(await readdir(staged)).toEqual(expect.arrayContaining(['stage-1', 'stage-2', 'adapter_config.json', 'adapter_model.safetensors']));
    // stage 2 continues stage 1's adapter, so it keeps its alpha (16), not the stage's flag
    expect(JSON.parse(await readFile(join(staged, 'adapter_config.json'), 'utf8')).lora_alpha).toBe(16);

    const bad = await triplets(dir, true);
    const stop = await runLco(['train', '--model', MODEL, '--data', bad, '--out', join(dir, 'x'), '--steps', '1', ...SMALL]);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(/bad\.jsonl:4: "positive" is an empty text/);
    const skip = await runLco(['train', '--model', MODEL, '--data', bad, '--out', join(dir, 'y'), '--steps', '1', '--on-error', 'skip', ...SMALL]);
    expect(skip.code, skip.stderr).toBe(0);

    const usage = await runLco(['train', '--model', MODEL, '--data', data, '--out', join(dir, 'z'), '--loss', 'hinge']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--loss hinge: expected infonce, symmetric or mamcl/);
  });

  it('one SGD step with --warmup 0 runs at the peak lr and moves the adapter by exactly lr times the gradient', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-train-step-'));
    const data = await triplets(dir);
    // plain SGD: no momentum, no weight decay, no clipping, no dropout; the same seed draws the same A and batch
    const run = async (lr: number) => {
      const out = join(dir, `lr-${lr}`);
      const r = await runLco(['train', '--model', MODEL, '--data', data, '--out', out, '--steps', '1', '--warmup', '0', '--lr', String(lr),
        '--optimizer', 'sgd', '--momentum', '0', '--weight-decay', '0', '--max-grad-norm', '0', '--lora-dropout', '0', ...SMALL]);
      expect(r.code, r.stderr).toBe(0);
      const log = JSON.parse((await readFile(join(out, 'train-log.jsonl'), 'utf8')).trim()) as { step: number; lr: number; grad_norm: number };
      const st = new SafetensorsBuffer(new Uint8Array(await readFile(join(out, 'adapter_model.safetensors'))));
      const tensors = new Map(st.names().map((n) => [n, st.float32(n)]));
      return { log, tensors };
    };
    const one = await run(1);
    const quarter = await run(0.25);
    expect(one.log).toMatchObject({ step: 1, lr: 1 }); // the transformers convention: update 0 after no warmup is at the peak
    expect(quarter.log.lr).toBe(0.25);
    expect(one.log.grad_norm).toBeGreaterThan(0);
    // B starts at zero, so its gradient is the only one (A's is B^T-weighted, zero) and B after one step
    // is -lr g exactly: a quarter of the lr moves it by exactly a quarter (a power of two scales exactly).
    let sumsq = 0;
    for (const [name, w] of one.tensors) {
      const q = quarter.tensors.get(name)!;
      if (name.includes('lora_B')) {
        expect(q, name).toEqual(Float32Array.from(w, (x) => x * 0.25));
        for (const x of w) sumsq += x * x;
      } else {
        expect(q, name).toEqual(w); // A: no gradient while B = 0
      }
    }
    // |step| = lr |g|: the update's norm is the logged gradient norm (lr 1)
    expect(Math.abs(Math.sqrt(sumsq) - one.log.grad_norm)).toBeLessThan(1e-5 * one.log.grad_norm);
  });
});
