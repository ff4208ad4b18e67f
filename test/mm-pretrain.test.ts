// Multimodal generative pretraining (captioning on the shapes world, mixed
// with text) on micro models: caption sequences and their targets, the
// seeded (scene, caption) order, the held-out caption loss against the
// float64 references, that a few steps lower the caption loss, what each
// freeze setting trains, one submit per step, snapshots, and a run stopped
// after one step and resumed that ends bit-identical to the straight run;
// and `lco pretrain --multimodal` end to end (child process) with its usage errors.
import { access, copyFile, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decoderLoss as refDecoderLoss } from '../reference/decoder.ts';
import { visionForward as refVisionForward } from '../reference/vision.ts';
import { packDocuments } from '../src/data/lm-windows.ts';
import type { LmCorpus } from '../src/data/lm-corpus.ts';
import { makeWorld, type World } from '../src/data/shapes-world.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import { readTokenizer, type Tokenizer } from '../src/io/tokenizer.ts';
import { SafetensorsFile } from '../src/io/safetensors.ts';
import { loadDecoder, randomDecoder, releaseDecoder, saveDecoder, weightSpecs, type Decoder } from '../src/model/decoder.ts';
import { createLora, releaseLora } from '../src/model/lora.ts';
import { presetConfig, visionPreset } from '../src/model/presets.ts';
import { loadVision, randomVision, releaseVision, visionWeightSpecs, type VisionModel } from '../src/model/vision.ts';
import { buildCaptionBatch, CaptionBatches, captionSequence, evaluateCaptionLoss, ScenePixels, summarySequence, summaryWords } from '../src/train/caption-data.ts';
import { checkpointName, listCheckpoints, loadMoments, readState, snapshotName } from '../src/train/checkpoint.ts';
import { MM_PRETRAIN_DEFAULTS, trainMultimodal, visionParams, type MmTrainConfig } from '../src/train/mm-pretrainer.ts';
import { captionStep } from '../src/train/caption-step.ts';
import { decoderTrainForward } from '../src/model/forward.ts';
import { lmHeadLoss } from '../src/train/lm-loss.ts';
import { fullParams, gradMap, releaseParams } from '../src/train/optimizer.ts';
import { runLco, useGpu } from './helpers.ts';
import { lookup } from './tiny-decoder.ts';

const gpu = useGpu();
const TOKENIZER = new URL('../fixtures/wordnet/tokenizer.json', import.meta.url).pathname;
let tokP: Promise<Tokenizer> | null = null;
const tokenizer = () => (tokP ??= readTokenizer(TOKENIZER));
const EOS = 0; // <|endoftext|> of the WordNet tokenizer

const decoderConfig = (vocab: number) => presetConfig('tiny', {
  hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1,
  vocab_size: vocab, max_position_embeddings: 64,
});
const VISION = visionPreset('micro', 16); // 16x16 images in 8x8 patches: P = 4
const WORLD: World = makeWorld({ seed: 1, scenes: 40, queriesPerScene: 0 }); // 27 train, 3 validation scenes

/** A tiny text corpus: WordNet-like lines, tokenized and packed. */
async function textCorpus(): Promise<LmCorpus> {
  const tok = await tokenizer();
  const lines = ['oak: a tree with lobed leaves', 'red: the colour of blood', 'circle: a round shape', 'square: a shape with four equal sides'];
  const docs = Array.from({ length: 40 }, (_, i) => tok.encode(lines[i % lines.length]));
  return { source: 'test', train: packDocuments(docs, EOS), heldout: packDocuments(docs.slice(0, 8), EOS), documents: { train: 40, heldout: 8 } };
}

const CONFIG: MmTrainConfig = {
  ...MM_PRETRAIN_DEFAULTS, captionBatch: 4, textBatch: 2, seqLen: 12, steps: 3, lr: 1e-2, warmup: 0, // no warmup: the first update (the one before the stop) moves the weights
  evalEvery: 0, evalScenes: 2, evalWindows: 2, checkpointEvery: 0, keepCheckpoints: 3, snapshotAt: [],
  data: { worldSeed: 1, scenes: 40, text: 'test' },
};

const tmp = () => mkdtemp(join(tmpdir(), 'lco-mm-'));

async function models(g: Gpu, seed: number): Promise<{ decoder: Decoder; vision: VisionModel }> {
  const tok = await tokenizer();
  return { decoder: await randomDecoder(g, decoderConfig(tok.vocabSize), seed), vision: await randomVision(g, VISION, seed + 1) };
}

/** Every decoder and vision weight, named. */
async function weightsOf(g: Gpu, m: { decoder: Decoder; vision: VisionModel }): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const s of weightSpecs(m.decoder.config)) out.set(s.name, (await g.read(s.get(m.decoder.weights))) as Float32Array);
  for (const s of visionWeightSpecs(m.vision.config)) out.set(s.name, (await g.read(s.get(m.vision.weights))) as Float32Array);
  return out;
}

const bytesEqual = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function release(m: { decoder: Decoder; vision: VisionModel }): void {
  releaseVision(m.vision);
  releaseDecoder(m.decoder);
}

describe('caption data', () => {
  it('a caption sequence is P image rows, the caption, eos; the last image row predicts the first word', async () => {
    const tok = await tokenizer();
    const px = new Float32Array(16 * 16 * 3).fill(0.25);
    const { row, targets } = captionSequence(tok, px, 'a red circle', VISION, EOS);
    // "a red circle" = a, Ġred, Ġcir, cle (ids 67, 843, 1241, 1067); four image rows of image_token_id 0
    expect(row.ids).toEqual([0, 0, 0, 0, 67, 843, 1241, 1067, EOS]);
    expect(row.images.map((im) => im.offset)).toEqual([0]);
    expect(row.images[0].pixels).toBe(px);
    expect([...targets]).toEqual([-100, -100, -100, 67, 843, 1241, 1067, EOS, -100]);
  });

  it('a one-word summary is the LCO prompt (as the Embedder builds it) then the word; only the word and eos are scored', async () => {
    const tok = await tokenizer();
    const px = new Float32Array(16 * 16 * 3).fill(0.25);
    const word = tok.encode(' circle');
    const img = summarySequence(tok, 'image-summary', px, 'a red circle', 'circle', VISION, EOS);
    const imgPrompt = tok.encode('\nSummarize the above image in one word:');
    expect(img.row.ids).toEqual([0, 0, 0, 0, ...imgPrompt, ...word, EOS]);
    expect(img.row.images.map((im) => im.offset)).toEqual([0]);
    const first = 4 + imgPrompt.length - 1; // the prompt's ':' predicts the word
    const scored = [...img.targets].flatMap((t, i) => (t === -100 ? [] : [i]));
    expect(scored).toEqual(Array.from({ length: word.length + 1 }, (_, k) => first + k));
    expect([...img.targets.subarray(first, first + word.length + 1)]).toEqual([...word, EOS]);
    const txt = summarySequence(tok, 'text-summary', px, 'a red circle', 'red', VISION, EOS);
    const txtPrompt = tok.encode('a red circle\nSummarize the above text in one word:');
    expect(txt.row.ids).toEqual([...txtPrompt, ...tok.encode(' red'), EOS]);
    expect(txt.row.images).toEqual([]);
    expect([...txt.targets].filter((t) => t !== -100)).toEqual([...tok.encode(' red'), EOS]);
    expect(txt.targets[txtPrompt.length - 1]).toBe(tok.encode(' red')[0]);
  });

  it('summaryFraction turns that share of draws into summaries with a word true of the scene, half of images, deterministically', () => {
    const scenes = WORLD.scenes.filter((x) => x.split === 'train');
    const a = new CaptionBatches(scenes, 8, 3, 0.5);
    const picks = Array.from({ length: 50 }, (_, i) => a.at(i + 1)).flat();
    const count = (k: string) => picks.filter((p) => p.kind === k).length;
    expect(count('caption') / picks.length).toBeGreaterThan(0.4);
    expect(count('caption') / picks.length).toBeLessThan(0.6);
    expect(count('image-summary')).toBeGreaterThan(0.2 * picks.length);
    expect(count('text-summary')).toBeGreaterThan(0.2 * picks.length);
    for (const p of picks) if (p.kind !== 'caption') expect(summaryWords(p.scene)).toContain(p.word);
    expect(new Set(picks.filter((p) => p.kind !== 'caption').map((p) => p.word)).size).toBeGreaterThan(5);
    expect(new CaptionBatches(scenes, 8, 3, 0.5).at(7)).toEqual(a.at(7));
    // the (scene, caption) order is the one without summaries
    expect(a.at(3).map((p) => [p.scene.id, p.caption])).toEqual(new CaptionBatches(scenes, 8, 3).at(3).map((p) => [p.scene.id, p.caption]));
    expect(() => new CaptionBatches(scenes, 8, 3, 1)).toThrow(/summaryFraction/);
  });

  it('a batch is left-padded with its targets moved along; pixels are stacked in row order', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const pixels = new ScenePixels(VISION);
    const [s0, s1] = WORLD.scenes;
    const a = captionSequence(tok, pixels.get(s0), 'two diamonds', VISION, EOS); // shorter
    const long = s1.captions.reduce((x, y) => (tok.encode(y).length > tok.encode(x).length ? y : x));
    const b = captionSequence(tok, pixels.get(s1), long, VISION, EOS);
    const batch = buildCaptionBatch(g, [a, b], VISION, tok.vocabSize);
    const T = b.row.ids.length;
    const pad = T - a.row.ids.length;
    expect(pad).toBeGreaterThan(0);
    expect(batch.input.T).toBe(T);
    expect(batch.at).toEqual([pad, T]);
    expect([...batch.targets.subarray(0, pad)]).toEqual(new Array(pad).fill(-100));
    expect([...batch.targets.subarray(pad, T)]).toEqual([...a.targets]);
    expect([...batch.targets.subarray(T)]).toEqual([...b.targets]);
    expect(batch.count).toBe(tok.encode('two diamonds').length + 1 + tok.encode(long).length + 1);
    expect([...(await g.read(batch.targetsTensor!))]).toEqual([...batch.targets]);
    const px = await g.read(batch.pixels!);
    expect([...px.subarray(0, 768)]).toEqual([...pixels.get(s0)]);
    expect([...px.subarray(768)]).toEqual([...pixels.get(s1)]);
    expect(pixels.size).toBe(2); // rendered once each
    batch.release();
  });

  it('the (scene, caption) order is a function of (seed, step); 5 epochs show every pair exactly once', () => {
    const scenes = WORLD.scenes.slice(0, 10);
    const a = new CaptionBatches(scenes, 5, 3);
    const b = new CaptionBatches(scenes, 5, 3);
    const key = (p: { scene: { id: string }; caption: number }) => `${p.scene.id}#${p.caption}`;
    const steps = Array.from({ length: 10 }, (_, i) => a.at(i + 1).map(key));
    expect(Array.from({ length: 10 }, (_, i) => b.at(10 - i).map(key)).reverse()).toEqual(steps); // any order of asking
    for (let e = 0; e < 5; e++) {
      const epoch = [...steps[2 * e], ...steps[2 * e + 1]].map((k) => k.split('#')[0]);
      expect(new Set(epoch).size).toBe(10); // each epoch: every scene once
    }
    const all = steps.flat();
    expect(new Set(all).size).toBe(50); // 10 scenes x 5 captions, each once
    const other = new CaptionBatches(scenes, 5, 4);
    expect(Array.from({ length: 10 }, (_, i) => other.at(i + 1).map(key))).not.toEqual(steps);
  });
});

describe('a caption batch without images', () => {
  it('(text summaries only) skips the vision side: the loss of the decoder alone, no vision gradient', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const m = await models(g, 30);
    const px = new Float32Array(16 * 16 * 3);
    const seqs = [summarySequence(tok, 'text-summary', px, 'a red circle', 'red', VISION, EOS), summarySequence(tok, 'text-summary', px, 'two blue squares', 'two', VISION, EOS)];
    const batch = buildCaptionBatch(g, seqs, VISION, m.decoder.config.vocab);
    expect(batch.pixels).toBeNull();
    const dParams = fullParams(g, m.decoder);
    const vParams = visionParams(g, m.vision, false);
    const grads = gradMap([...dParams, ...vParams]);
    const loss = g.zeros([1]);
    captionStep(g, m.vision, m.decoder, grads, batch, { count: batch.count, lossInto: loss });
    // the same batch through the decoder and the head alone
    const acts = decoderTrainForward(g, m.decoder, batch.input);
    const alone = g.zeros([1]);
    lmHeadLoss(g, acts.final, m.decoder.weights.lmHead, batch.targets, { count: batch.count, lossInto: alone, backward: false });
    acts.release();
    const [got] = await loss.read();
    expect(got).toBeGreaterThan(0);
    expect(got).toBe((await alone.read())[0]);
    let dNorm = 0;
    for (const p of dParams) for (const v of await p.grad.read()) dNorm += v * v;
    expect(dNorm).toBeGreaterThan(0);
    for (const p of vParams) expect((await p.grad.read()).every((v) => v === 0), p.name).toBe(true);
    for (const t of [loss, alone]) t.release();
    batch.release();
    releaseParams([...dParams, ...vParams]);
    release(m);
  });
});

describe('held-out caption loss', () => {
  it('equals the float64 references (vision -> decoder -> mean CE over the scored tokens) and frees what it makes', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const m = await models(g, 20);
    const scene = WORLD.scenes[4];
    const r = await evaluateCaptionLoss(g, m.decoder, m.vision, tok, [scene], { batch: 2 }); // 3 batches, padded
    expect(r.sequences).toBe(5);

    const W = await weightsOf(g, m);
    const weight = lookup(W);
    const pixels = new ScenePixels(VISION).get(scene);
    const embeds = refVisionForward(VISION, weight, pixels, 1);
    let sum = 0;
    let tokens = 0;
    for (const caption of scene.captions) {
      const { row, targets } = captionSequence(tok, pixels, caption, VISION, EOS);
      const L = row.ids.length;
      const n = L - 4; // scored: the caption's tokens and eos (L = P + caption + 1)
      const loss = refDecoderLoss(m.decoder.config, weight, {
        B: 1, T: L, ids: row.ids, mask: new Array(L).fill(1), pos: row.ids.map((_, i) => i), images: { P: 4, at: [0], embeds },
      }, targets);
      sum += loss * n;
      tokens += n;
    }
    expect(r.tokens).toBe(tokens);
    expect(Math.abs(r.loss - sum / tokens)).toBeLessThan(2e-5 * r.loss);
    expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 6);

    const live = g.pool.stats().liveBytes;
    const again = await evaluateCaptionLoss(g, m.decoder, m.vision, tok, [scene], { batch: 3 });
    expect(Math.abs(again.loss - r.loss)).toBeLessThan(1e-6 * r.loss);
    expect(g.pool.stats().liveBytes).toBe(live);
    release(m);
  });
});

describe('trainMultimodal on micro models', () => {
  it('30 steps lower the caption loss well below its start; the log, curve, checkpoint and final model are written', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const m = await models(g, 30);
    const probe = WORLD.scenes.filter((s) => s.split === 'train').slice(0, 6);
    const before = await evaluateCaptionLoss(g, m.decoder, m.vision, tok, probe, { batch: 8 });
    const visionBefore = await g.read(m.vision.weights.blocks[0].q);
    const out = await tmp();
    const r = await trainMultimodal({
      gpu: g, ...m, tokenizer: tok, tokenizerJson: await readFile(TOKENIZER, 'utf8'), world: WORLD, textCorpus: await textCorpus(),
      outDir: out, progressOut: null, config: { ...CONFIG, steps: 30, captionBatch: 8, lr: 1e-2, warmup: 3, evalEvery: 15 },
    });
    const after = await evaluateCaptionLoss(g, m.decoder, m.vision, tok, probe, { batch: 8 });
    expect(before.loss).toBeGreaterThan(7.5); // ~ln(4096) at random init
    expect(after.loss).toBeLessThan(before.loss * 0.6);
    expect(r.state.evals.map((e) => e.step)).toEqual([0, 15, 30]);
    expect(r.state.evals.at(-1)!.loss).toBeLessThan(r.state.evals[0].loss * 0.6); // validation scenes too
    expect(r.state.evals[0].text).toBeDefined();
    const h = r.state.history;
    expect(h).toHaveLength(30);
    expect(h.every((p) => p.captionLoss !== undefined && p.textLoss !== undefined)).toBe(true);
    expect(h[29].captionLoss!).toBeLessThan(h[0].captionLoss! * 0.6);
    expect(await g.read(m.vision.weights.blocks[0].q)).not.toEqual(visionBefore); // the encoder learns too
    const files = await readdir(out);
    for (const f of ['config.json', 'model.safetensors', 'vision_config.json', 'vision_model.safetensors', 'tokenizer.json',
      'trainer_state.json', 'train-log.jsonl', 'loss-curve.svg', checkpointName(30)]) expect(files).toContain(f);
    const log = (await readFile(join(out, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => 'loss' in l)).toHaveLength(30);
    expect(log.filter((l) => 'eval_caption_loss' in l).map((l) => l.step)).toEqual([0, 15, 30]);
    const svg = await readFile(join(out, 'loss-curve.svg'), 'utf8');
    for (const name of ['train caption', 'train text', 'held-out caption', 'held-out text']) expect(svg).toContain(name);
    release(m);
  });

  it('frozen decoder and encoder: only the projector changes, and only it has moments', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const m = await models(g, 40);
    const before = await weightsOf(g, m);
    const out = await tmp();
    await trainMultimodal({
      gpu: g, ...m, tokenizer: tok, world: WORLD, outDir: out, progressOut: null,
      config: { ...CONFIG, steps: 2, textBatch: 0, trainDecoder: false, frozenEncoder: true },
    });
    const after = await weightsOf(g, m);
    const projector = new Set(visionWeightSpecs(VISION).filter((s) => s.part === 'projector').map((s) => s.name));
    for (const [name, w] of after) {
      if (projector.has(name)) expect(bytesEqual(w, before.get(name)!), `${name} changes`).toBe(false);
      else expect(bytesEqual(w, before.get(name)!), `${name} stays`).toBe(true);
    }
    const opt = await SafetensorsFile.open(join(out, checkpointName(2), 'optimizer.safetensors'));
    expect(opt.names().sort()).toEqual([...projector].flatMap((n) => [`${n}.exp_avg`, `${n}.exp_avg_sq`]).sort());
    await opt.close();
    release(m);
  });

  it('with a LoRA adapter: the base decoder and the encoder stay, the adapter and projector learn; the checkpoint is an adapter + vision', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const m = await models(g, 45);
    const lora = createLora(g, m.decoder.config, { r: 2, alpha: 4, dropout: 0.1, rslora: false, targets: ['q_proj', 'v_proj'] }, 3);
    const before = await weightsOf(g, m);
    const loraBefore = await g.read(lora.layers[0].q_proj!.B);
    const out = await tmp();
    await trainMultimodal({
      gpu: g, ...m, lora, tokenizer: tok, world: WORLD, textCorpus: await textCorpus(), outDir: out, progressOut: null, baseModel: 'base',
      config: { ...CONFIG, steps: 2, frozenEncoder: true },
    });
    const after = await weightsOf(g, m);
    for (const [name, w] of after) expect(bytesEqual(w, before.get(name)!), name).toBe(!name.startsWith('projector.'));
    expect(await g.read(lora.layers[0].q_proj!.B)).not.toEqual(loraBefore);
    const files = await readdir(join(out, checkpointName(2)));
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'vision_config.json', 'vision_model.safetensors', 'optimizer.safetensors']) expect(files).toContain(f);
    expect(files).not.toContain('model.safetensors');
    releaseLora(lora);
    release(m);
  });

  it('a step is one submit', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const corpus = await textCorpus();
    const submits = async (steps: number) => {
      const m = await models(g, 50);
      const before = g.submitCount;
      await trainMultimodal({ gpu: g, ...m, tokenizer: tok, world: WORLD, textCorpus: corpus, outDir: await tmp(), progressOut: null, config: { ...CONFIG, steps } });
      release(m);
      return g.submitCount - before;
    };
    await submits(1); // one-time uploads (the RoPE table)
    expect((await submits(5)) - (await submits(2))).toBe(3);
  });

  it('stopped after step 1 and resumed from its checkpoint, ends bit-identical to the straight run; snapshots are kept and loadable', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const corpus = await textCorpus();
    const config: MmTrainConfig = { ...CONFIG, snapshotAt: [2, 3] };
    const straightDir = await tmp();
    const straightModel = await models(g, 60);
    await trainMultimodal({ gpu: g, ...straightModel, tokenizer: tok, tokenizerJson: await readFile(TOKENIZER, 'utf8'), world: WORLD, textCorpus: corpus, outDir: straightDir, progressOut: null, config });
    const straight = await weightsOf(g, straightModel);
    release(straightModel);

    // snapshots: steps 2 and 3, model + vision + tokenizer, no optimizer; step 3's is the final model
    const snaps = join(straightDir, 'snapshots');
    expect((await readdir(snaps)).sort()).toEqual([snapshotName(2), snapshotName(3)]);
    const files = await readdir(join(snaps, snapshotName(2)));
    for (const f of ['config.json', 'model.safetensors', 'vision_config.json', 'vision_model.safetensors', 'tokenizer.json']) expect(files).toContain(f);
    expect(files).not.toContain('optimizer.safetensors');
    const snap = { decoder: await loadDecoder(g, join(snaps, snapshotName(3))), vision: await loadVision(g, join(snaps, snapshotName(3))) };
    for (const [name, w] of await weightsOf(g, snap)) expect(bytesEqual(w, straight.get(name)!), `snapshot ${name}`).toBe(true);
    release(snap);
    const snap2 = { decoder: await loadDecoder(g, join(snaps, snapshotName(2))), vision: await loadVision(g, join(snaps, snapshotName(2))) };
    expect(bytesEqual((await weightsOf(g, snap2)).get('projector.fc2.weight')!, straight.get('projector.fc2.weight')!)).toBe(false);
    release(snap2);

    // stop after step 1, resume from the checkpoint
    const dir = await tmp();
    const first = await models(g, 60);
    const stop = new AbortController();
    stop.abort();
    const r1 = await trainMultimodal({ gpu: g, ...first, tokenizer: tok, world: WORLD, textCorpus: corpus, outDir: dir, progressOut: null, config, signal: stop.signal });
    expect(r1.stopped).toBe(true);
    expect(await listCheckpoints(dir)).toEqual([1]);
    release(first);
    const ckpt = join(dir, checkpointName(1));
    const state = await readState<MmTrainConfig>(ckpt);
    const resumed = { decoder: await loadDecoder(g, ckpt), vision: await loadVision(g, ckpt) };
    const r2 = await trainMultimodal({
      gpu: g, ...resumed, tokenizer: tok, world: WORLD, textCorpus: corpus, outDir: dir, progressOut: null, config: state.config,
      resume: state, onParams: (p) => loadMoments(g, ckpt, p),
    });
    expect(r2.state.history.map((h) => h.step)).toEqual([1, 2, 3]);
    for (const [name, w] of await weightsOf(g, resumed)) expect(bytesEqual(w, straight.get(name)!), name).toBe(true);
    await access(join(dir, 'snapshots', snapshotName(3)));
    release(resumed);
  });
});

describe('lco pretrain --multimodal (child process)', () => {
  it('trains a decoder folder with a fresh micro vision encoder, snapshots, resumes; bad flags exit 2', async () => {
    const g = await gpu();
    const tok = await tokenizer();
    const dir = await tmp();
    const base = join(dir, 'base');
    const decoder = await randomDecoder(g, decoderConfig(tok.vocabSize), 70);
    await saveDecoder(g, decoder, base);
    releaseDecoder(decoder);
    await copyFile(TOKENIZER, join(base, 'tokenizer.json'));
    const out = join(dir, 'run');
    const small = ['--scenes', '30', '--world-seed', '1', '--text-data', 'none', '--caption-batch', '4', '--eval-scenes', '2', '--quiet'];
    const first = await runLco(['pretrain', '--multimodal', '--out', out, '--model', base, '--vision-preset', 'micro', '--steps', '2', '--snapshot-at', '1', ...small]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/shapes world \(seed 1\): 30 scenes, \d+ train, 2 validation/);
    expect(first.stderr).toMatch(/vision 16px \/ 8 C 16 x 1 layers \(\d[\d,]* weights, fresh\)/);
    expect(first.stderr).toMatch(/done: held-out caption loss \d/);
    const files = await readdir(out);
    for (const f of ['config.json', 'model.safetensors', 'vision_config.json', 'vision_model.safetensors', 'tokenizer.json', checkpointName(2)]) expect(files).toContain(f);
    expect(await readdir(join(out, 'snapshots'))).toEqual([snapshotName(1)]);

    const again = await runLco(['pretrain', '--multimodal', '--out', out, '--resume', '--steps', '3', '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming .*checkpoint-000002 at step 2 of 3/);
    const log = (await readFile(join(out, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((r) => 'loss' in r).map((r) => r.step)).toEqual([1, 2, 3]);

    const usage = async (args: string[], message: RegExp) => {
      const r = await runLco(['pretrain', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    };
    await usage(['--multimodal', '--out', out, '--lora'], /unknown flag --lora/);
    await usage(['--multimodal', '--out', join(dir, 'x'), '--snapshot-at', '5,ten'], /--snapshot-at 5,ten: "ten" is not a step/);
    await usage(['--multimodal', '--out', join(dir, 'x'), '--model', out, '--vision-preset', 'tiny'], /already has a vision encoder/);
    await usage(['--out', out, '--resume'], /is a multimodal run; add --multimodal/);
  }, 120_000);
});
