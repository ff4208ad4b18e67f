// Generative training (its schedule: schedule.test.ts): the data windows, and
// the trainer on a small random model: it learns a repetitive stream, gradient accumulation
// equals one big batch, a run stopped and resumed from its checkpoint ends
// bit-identical to the uninterrupted run (full and LoRA), and checkpoints are
// whole or absent.
import { mkdtemp, readFile, readdir, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packDocuments, TokenWindows } from '../src/data/lm-windows.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import { decoderFromData, loadDecoder, randomDecoder, releaseDecoder, saveDecoder, weightSpecs, type Decoder } from '../src/model/decoder.ts';
import { createLora, loadLoraAdapter, releaseLora } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { checkpointName, listCheckpoints, loadMoments, readState } from '../src/train/checkpoint.ts';
import { accumulateMicroBatch, PRETRAIN_DEFAULTS, trainLm, uploadWindows, type LmTrainConfig } from '../src/train/lm-trainer.ts';
import { countTargets } from '../src/train/lm-loss.ts';
import { fullParams, gradMap, optimizerStep, releaseParams, zeroGrads } from '../src/train/optimizer.ts';
import { expectClose, useGpu } from './helpers.ts';

const gpu = useGpu();
const SMALL = presetConfig('tiny', {
  hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 50,
});
const T = 12;

/** A stream with structure: 7 short "documents" cycling, ids 1..49, 0 = end of text. */
function stream(n: number): Int32Array {
  const docs = Array.from({ length: 7 }, (_, d) => Array.from({ length: 5 + d }, (_, i) => 1 + ((d * 13 + i * 7) % 49)));
  const out: number[][] = [];
  for (let i = 0; out.flat().length < n; i++) out.push(docs[i % 7]);
  return packDocuments(out, 0);
}

const CONFIG: LmTrainConfig = {
  ...PRETRAIN_DEFAULTS, seqLen: T, microBatch: 4, gradAccum: 1, steps: 4, lr: 1e-2, warmup: 0, // no warmup: the first update (the one before the stop) moves the weights
  evalEvery: 0, evalWindows: 4, checkpointEvery: 0, keepCheckpoints: 3,
};

const tmp = () => mkdtemp(join(tmpdir(), 'lco-train-'));

async function weightsOf(g: Gpu, model: Decoder): Promise<Float32Array[]> {
  return Promise.all(weightSpecs(model.config).map(async (s) => (await g.read(s.get(model.weights))) as Float32Array));
}

describe('data windows', () => {
  it('cuts windows of T+1 with targets shifted by one, and visits every window once per epoch', () => {
    const st = Int32Array.from({ length: 101 }, (_, i) => i);
    const w = new TokenWindows(st, 10, 3);
    expect(w.count).toBe(10);
    const { ids, targets } = w.batch([2, 0]);
    expect([...ids.subarray(0, 10)]).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect([...targets.subarray(0, 10)]).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect([...ids.subarray(10, 12)]).toEqual([0, 1]);
    for (const epoch of [0, 1]) {
      const seen = Array.from({ length: 10 }, (_, k) => w.windowAt(epoch * 10 + k));
      expect(new Set(seen).size).toBe(10);
    }
    const again = new TokenWindows(st, 10, 3);
    expect(Array.from({ length: 25 }, (_, k) => again.windowAt(k))).toEqual(Array.from({ length: 25 }, (_, k) => w.windowAt(k)));
    expect(() => w.batch([10])).toThrow(/window 10 is outside \[0, 10\)/);
  });
});

describe('trainLm on a small random model', () => {
  it('learns a repetitive stream: held-out loss falls far below its start', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, SMALL, 1);
    const data = stream(3000);
    const out = await tmp();
    const r = await trainLm({
      gpu: g, model, outDir: out, progressOut: null,
      train: new TokenWindows(data, T, 0), heldout: new TokenWindows(data.subarray(0, 400), T),
      config: { ...CONFIG, steps: 40, lr: 2e-2, warmup: 4, evalEvery: 20 },
    });
    const first = r.state.history[0].loss;
    expect(first).toBeGreaterThan(3.5); // ~ln(50) at random init
    expect(r.final!.loss).toBeLessThan(first * 0.5);
    expect(r.state.evals.map((e) => e.step)).toEqual([20, 40]);
    const files = await readdir(out);
    for (const f of ['config.json', 'model.safetensors', 'loss-curve.svg', 'train-log.jsonl', 'trainer_state.json', checkpointName(40)]) expect(files).toContain(f);
    expect((await readFile(join(out, 'loss-curve.svg'), 'utf8')).startsWith('<svg')).toBe(true);
    releaseDecoder(model);
  });

  it('gradient accumulation (2 x 2 windows) gives the step of one batch of 4', async () => {
    const g = await gpu();
    const data = stream(2000);
    const after: Float32Array[][] = [];
    for (const [microBatch, gradAccum] of [[4, 1], [2, 2]]) {
      const model = await randomDecoder(g, SMALL, 5);
      await trainLm({ gpu: g, model, outDir: await tmp(), progressOut: null, train: new TokenWindows(data, T, 9), config: { ...CONFIG, steps: 2, microBatch, gradAccum } });
      after.push(await weightsOf(g, model));
      releaseDecoder(model);
    }
    // Same maths, different summation order: equal to float32 rounding (relative to the weights' scale, ~0.02 init + lr steps).
    after[0].forEach((w, i) => expectClose(weightSpecs(SMALL)[i].name, after[1][i], w, { rtol: 0, atol: 2e-6 }));
  });

  it('full training: stopped after step 1 and resumed from its checkpoint, ends bit-identical to the straight run', async () => {
    const g = await gpu();
    const data = stream(2000);
    const straightDir = await tmp();
    const model = await randomDecoder(g, SMALL, 7);
    await trainLm({ gpu: g, model, outDir: straightDir, progressOut: null, train: new TokenWindows(data, T, 2), config: CONFIG });
    const straight = await weightsOf(g, model);
    releaseDecoder(model);

    const dir = await tmp();
    const first = await randomDecoder(g, SMALL, 7);
    const stop = new AbortController();
    stop.abort(); // stop after the first step, with a checkpoint
    const r1 = await trainLm({ gpu: g, model: first, outDir: dir, progressOut: null, train: new TokenWindows(data, T, 2), config: CONFIG, signal: stop.signal });
    expect(r1.stopped).toBe(true);
    expect(await listCheckpoints(dir)).toEqual([1]);
    releaseDecoder(first);

    const ckpt = join(dir, checkpointName(1));
    const state = await readState<LmTrainConfig>(ckpt);
    const resumed = await loadDecoder(g, ckpt);
    const r2 = await trainLm({
      gpu: g, model: resumed, outDir: dir, progressOut: null, train: new TokenWindows(data, T, 2), config: state.config,
      resume: state, onParams: (p) => loadMoments(g, ckpt, p),
    });
    expect(r2.state.step).toBe(4);
    const got = await weightsOf(g, resumed);
    got.forEach((w, i) => expect(Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(straight[i].buffer, straight[i].byteOffset, straight[i].byteLength)), weightSpecs(SMALL)[i].name).toBe(true));
    expect(r2.state.history.map((h) => h.step)).toEqual([1, 2, 3, 4]);
    releaseDecoder(resumed);
  });

  it('LoRA training leaves the base untouched, saves a PEFT adapter, and resumes bit-identically', async () => {
    const g = await gpu();
    const data = stream(2000);
    const base = await randomDecoder(g, SMALL, 11);
    const baseBefore = await weightsOf(g, base);
    const lc = { r: 2, alpha: 4, dropout: 0.1, rslora: false, targets: ['q_proj', 'v_proj', 'down_proj'] as const };
    const config: LmTrainConfig = { ...CONFIG, lora: { ...lc, targets: [...lc.targets] }, weightDecay: 0 };

    const straightLora = createLora(g, SMALL, config.lora!, 3);
    await trainLm({ gpu: g, model: base, lora: straightLora, outDir: await tmp(), progressOut: null, train: new TokenWindows(data, T, 4), config, baseModel: 'base' });
    const straight = await Promise.all(straightLora.layers.flatMap((m) => [m.q_proj!.B, m.down_proj!.A]).map((t) => g.read(t)));
    releaseLora(straightLora);
    (await weightsOf(g, base)).forEach((w, i) => expect(w).toEqual(baseBefore[i]));

    const dir = await tmp();
    const lora1 = createLora(g, SMALL, config.lora!, 3);
    const stop = new AbortController();
    stop.abort();
    await trainLm({ gpu: g, model: base, lora: lora1, outDir: dir, progressOut: null, train: new TokenWindows(data, T, 4), config, signal: stop.signal, baseModel: 'base' });
    releaseLora(lora1);
    const ckpt = join(dir, checkpointName(1));
    const adapterConfig = JSON.parse(await readFile(join(ckpt, 'adapter_config.json'), 'utf8'));
    expect(adapterConfig).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj', 'down_proj'], base_model_name_or_path: 'base' });
    const state = await readState<LmTrainConfig>(ckpt);
    const lora2 = await loadLoraAdapter(g, SMALL, ckpt);
    await trainLm({ gpu: g, model: base, lora: lora2, outDir: dir, progressOut: null, train: new TokenWindows(data, T, 4), config, resume: state, onParams: (p) => loadMoments(g, ckpt, p) });
    const got = await Promise.all(lora2.layers.flatMap((m) => [m.q_proj!.B, m.down_proj!.A]).map((t) => g.read(t)));
    got.forEach((w, i) => expect(w).toEqual(straight[i]));
    releaseLora(lora2);
    releaseDecoder(base);
  });

  it('a half-written checkpoint folder is never taken for one, and only the newest are kept', async () => {
    const g = await gpu();
    const dir = await tmp();
    await mkdir(join(dir, '.tmp-checkpoint-000009'));
    await mkdir(join(dir, 'checkpoint-000008')); // no trainer_state.json: not complete
    await writeFile(join(dir, 'checkpoint-000008', 'model.safetensors'), 'partial');
    const model = await randomDecoder(g, SMALL, 2);
    await trainLm({ gpu: g, model, outDir: dir, progressOut: null, train: new TokenWindows(stream(2000), T, 0), config: { ...CONFIG, steps: 5, checkpointEvery: 1, keepCheckpoints: 2 } });
    expect(await listCheckpoints(dir)).toEqual([4, 5]);
    releaseDecoder(model);
  });

  it('a training step is one submit: every upload comes before the recorded step', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, SMALL, 8);
    const params = fullParams(g, model);
    const grads = gradMap(params);
    const w = new TokenWindows(stream(2000), T, 0);
    const counts: number[] = [];
    for (let step = 1; step <= 3; step++) {
      const { ids, targets } = w.batch([step, step + 1]);
      const before = g.submitCount;
      const batch = uploadWindows(g, ids, targets, 2, T, SMALL.vocab);
      zeroGrads(g, params);
      const loss = g.zeros([1]);
      accumulateMicroBatch(g, model, undefined, grads, batch, countTargets(targets), loss, step);
      const norm = optimizerStep(g, params, CONFIG, 1e-3, step);
      await g.read(loss);
      counts.push(g.submitCount - before);
      for (const t of [loss, norm]) t.release();
      batch.release();
    }
    expect(counts.slice(1)).toEqual([1, 1]); // after the first step's one-time uploads (RoPE table)
    releaseParams(params);
    releaseDecoder(model);
  });

  it('a saved model reads back as the same weights (HF layout, F32)', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, SMALL, 4);
    const dir = await tmp();
    await saveDecoder(g, model, dir);
    const again = await loadDecoder(g, dir);
    const a = await weightsOf(g, model);
    (await weightsOf(g, again)).forEach((w, i) => expect(w).toEqual(a[i]));
    const fromData = await decoderFromData(g, SMALL, async ({ name }) => a[weightSpecs(SMALL).findIndex((s) => s.name === name)]);
    expect(fromData.weights.lmHead).toBe(fromData.weights.embed); // tied
    for (const m of [model, again, fromData]) releaseDecoder(m);
  });
});
