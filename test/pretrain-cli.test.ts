// `lco pretrain` end to end in a child process, on a small text corpus with
// the built-in tokenizer: a fresh tiny model trains two steps, writes its
// checkpoint and final model, continues with --resume, `lco generate` reads
// the result, and a LoRA adapter trained on it is applied with --adapter. Bad flags are usage errors (exit 2) naming the flag.
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLco } from './helpers.ts';

const SMALL = ['--seq-len', '16', '--batch', '2', '--eval-windows', '2', '--quiet'];

async function corpus(dir: string): Promise<string> {
  const animals = ['cat', 'dog', 'horse', 'sparrow', 'salmon', 'beetle', 'whale', 'owl'];
  const lines = Array.from({ length: 400 }, (_, i) => `${animals[i % 8]} ${i}: a kind of animal that lives near the ${['sea', 'wood', 'farm', 'river'][i % 4]}.`);
  const path = join(dir, 'corpus.txt');
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

describe('lco pretrain (child process)', () => {
  it('trains, checkpoints, resumes, and the result generates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lco-pretrain-'));
    const data = await corpus(dir);
    const out = join(dir, 'run');
    const first = await runLco(['pretrain', '--out', out, '--data', data, '--steps', '2', ...SMALL]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/400 documents|\d+ documents, \d+ tokens/);
    expect(first.stderr).toMatch(/done: held-out loss \d/);
    const files = await readdir(out);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'loss-curve.svg', 'train-log.jsonl', 'checkpoint-000002']) expect(files).toContain(f);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8'))).toMatchObject({ model_type: 'llama', vocab_size: 4096, hidden_size: 128 });

    const again = await runLco(['pretrain', '--out', out, '--data', data, '--resume', '--steps', '3', '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming .*checkpoint-000002 at step 2 of 3/);
    const log = (await readFile(join(out, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((r) => 'loss' in r).map((r) => r.step)).toEqual([1, 2, 3]);

    const gen = await runLco(['generate', '--model', out, '--prompt', 'cat', '--max-new-tokens', '4', '--greedy']);
    expect(gen.code, gen.stderr).toBe(0);

    // LoRA on the frozen result: a PEFT adapter that generate applies with --adapter
    const adapter = join(dir, 'lora');
    const lora = await runLco(['pretrain', '--out', adapter, '--data', data, '--model', out, '--lora', '--lora-r', '4', '--steps', '1', ...SMALL]);
    expect(lora.code, lora.stderr).toBe(0);
    expect(lora.stderr).toMatch(/LoRA r 4 on 7 linears per layer \(base frozen\)/);
    const peft = JSON.parse(await readFile(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(peft).toMatchObject({ peft_type: 'LORA', r: 4, base_model_name_or_path: out });
    const withAdapter = await runLco(['generate', '--model', out, '--adapter', adapter, '--prompt', 'cat', '--max-new-tokens', '2', '--greedy']);
    expect(withAdapter.code, withAdapter.stderr).toBe(0);
  });

  it('refuses bad flags with exit code 2, naming them', async () => {
    const lora = await runLco(['pretrain', '--out', join(tmpdir(), 'lco-never'), '--lora']);
    expect(lora.code).toBe(2);
    expect(lora.stderr).toMatch(/--lora needs --model DIR/);
    const bad = await runLco(['pretrain', '--out', join(tmpdir(), 'lco-never'), '--steps', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--steps/);
  });
});
