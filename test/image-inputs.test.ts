// Image inputs (LLaVA-style placeholder expansion) end to end on a tiny random
// decoder (width 16, the WordNet tokenizer's vocabulary) and a tiny random
// vision encoder (8x8 images in patches of 4: P = 4 image rows of width 16):
//
//   tokenizeWithImages   "<image>" -> P copies of image_token_id, text pieces
//                        encoded separately; counts checked, the input named
//   padLeftSequences     each image's first flattened row after left padding
//   prompts              LCO-Emb's image / image+text templates, custom, none
//   Embedder             = float64 vision reference -> decoder reference with
//                        the images at their rows -> last token -> L2 norm;
//                        the same alone and in a mixed, padded batch; errors
//                        name the input or the file
//   GradCache            image anchors: mini-batch 1 = whole batch (no dropout); repeated steps hold no more memory than one
//   pairs.ts             image paths resolved against the JSONL's folder
//   shapes suite         image queries, their captions as relevant documents
//   CLI                  lco embed / eval / analyze / train on a model folder
//                        with vision_config.json; --tasks shapes without one
//                        is a usage error
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decoderForward as refDecoderForward } from '../reference/decoder.ts';
import { visionForward as refVisionForward } from '../reference/vision.ts';
import { parsePairsText } from '../src/data/pairs.ts';
import { encodePpm, renderScene } from '../src/data/shapes-world.ts';
import { Embedder, EmbedInputError, type EmbedInput } from '../src/embed/embedder.ts';
import { countPlaceholders, IMAGE_PLACEHOLDER, ImageInputError, imagePixels, padLeftSequences, tokenizeWithImages, type ImageRow } from '../src/embed/image-rows.ts';
import { applyPrompt, PromptError, resolvePrompt } from '../src/embed/prompt.ts';
import { buildShapesSuite, testScenes } from '../src/eval/shapes-suite.ts';
import { readImage, type RgbImage } from '../src/io/image.ts';
import { readTokenizer, type Tokenizer } from '../src/io/tokenizer.ts';
import { decoderFromData, randomDecoder, releaseDecoder, saveDecoder, weightSpecs } from '../src/model/decoder.ts';
import { createLora, releaseLora } from '../src/model/lora.ts';
import { presetConfig } from '../src/model/presets.ts';
import { randomVision, releaseVision, saveVision, visionFromData } from '../src/model/vision.ts';
import { gradCacheStep } from '../src/train/gradcache.ts';
import { gradMap, loraParams, releaseParams } from '../src/train/optimizer.ts';
import { expectClose, maxAbs, randomData, runLco, useGpu } from './helpers.ts';
import { makeVisionWeights, tinyVisionConfig } from './tiny-vision.ts';

const gpu = useGpu();
const TOKENIZER = new URL('../fixtures/wordnet/tokenizer.json', import.meta.url).pathname;
const NO_VISION_MODEL = new URL('../fixtures/tiny-decoder', import.meta.url).pathname;
const CFG = presetConfig('tiny', { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1 });
const IMG = 3; // image_token_id
const VISION = tinyVisionConfig({ out_hidden_size: CFG.hidden, image_token_id: IMG });
const P = 4; // (8 / 4)^2 patches
const PIXELS = VISION.imageSize * VISION.imageSize * VISION.channels;
const LCO_IMAGE_SUFFIX = '\nSummarize the above image in one word:';
const LCO_MIXED_SUFFIX = '\nSummarize the above in one word:';

let tokenizer: Tokenizer | undefined;
const tok = async () => (tokenizer ??= await readTokenizer(TOKENIZER));

/** A w x h RGB image of smooth seeded colours (never one flat colour). */
function rgbImage(w: number, h: number, seed: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(128 + 127 * Math.sin(0.37 * i + seed));
  return { width: w, height: h, data };
}

const filled = (v: number) => new Float32Array(PIXELS).fill(v);

/** Decoder and vision weights as float32 values, shared by the GPU models and the float64 references. */
function decoderWeights(): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  weightSpecs(CFG).forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const r = randomData(n, 700 + i, 0.02, 0.3);
    w.set(s.name, s.kind === 'norm' ? Float32Array.from(r, (v) => 1 + v) : r);
  });
  return w;
}
const visionWeights = () => new Map([...makeVisionWeights(VISION, 701)].map(([k, v]) => [k, Float32Array.from(v)]));
const lookup = (W: Map<string, Float32Array>) => (name: string): Float32Array => {
  const w = W.get(name);
  if (!w) throw new Error(`no tensor ${name}`); // the references ask for optional biases this way
  return w;
};

/**
 * The reference embedding of one prepared row: vision reference on its
 * images, decoder reference with them at their offsets, final hidden state
 * of the last token, L2-normalised.
 */
function refEmbed(WD: Map<string, Float32Array>, WV: Map<string, Float32Array>, row: ImageRow): Float64Array {
  const T = row.ids.length;
  const n = row.images.length;
  const pixels = new Float32Array(n * PIXELS);
  row.images.forEach((im, i) => pixels.set(im.pixels, i * PIXELS));
  const embeds = refVisionForward(VISION, lookup(WV), pixels, n);
  const { hidden } = refDecoderForward(CFG, lookup(WD), {
    B: 1, T, ids: row.ids, mask: new Array(T).fill(1), pos: row.ids.map((_, t) => t),
    images: { P, at: row.images.map((im) => im.offset), embeds },
  });
  const h = hidden[hidden.length - 1];
  const e = Float64Array.from(h.subarray((T - 1) * CFG.hidden, T * CFG.hidden));
  const norm = Math.hypot(...e);
  return e.map((v) => v / norm);
}

describe('image rows', () => {
  it('tokenizeWithImages: P image-token ids per placeholder at the right offsets, text pieces encoded alone; counts checked', async () => {
    const t = await tok();
    const [a, b] = [filled(0.25), filled(-0.5)];
    const row = tokenizeWithImages(t, `the cat${IMAGE_PLACEHOLDER} and the dog${IMAGE_PLACEHOLDER}: which is larger?`, [a, b], VISION, 'row 7');
    const [p0, p1, p2] = ['the cat', ' and the dog', ': which is larger?'].map((s) => t.encode(s));
    expect(row.ids).toEqual([...p0, ...Array(P).fill(IMG), ...p1, ...Array(P).fill(IMG), ...p2]);
    expect(row.images.map((im) => im.offset)).toEqual([p0.length, p0.length + P + p1.length]);
    expect(row.images[0].pixels).toBe(a);
    expect(row.images[1].pixels).toBe(b);
    // a placeholder first (the LCO image prompt): the image starts at row 0
    const lead = tokenizeWithImages(t, `${IMAGE_PLACEHOLDER}${LCO_IMAGE_SUFFIX}`, [a], VISION, 'x');
    expect(lead.ids).toEqual([...Array(P).fill(IMG), ...t.encode(LCO_IMAGE_SUFFIX)]);
    expect(lead.images.map((im) => im.offset)).toEqual([0]);
    expect(countPlaceholders(`${IMAGE_PLACEHOLDER}x${IMAGE_PLACEHOLDER}`)).toBe(2);

    expect(() => tokenizeWithImages(t, `one ${IMAGE_PLACEHOLDER}`, [a, b], VISION, 'data.jsonl:3')).toThrow(ImageInputError);
    expect(() => tokenizeWithImages(t, `one ${IMAGE_PLACEHOLDER}`, [a, b], VISION, 'data.jsonl:3')).toThrow(/^data\.jsonl:3: 1 "<image>" placeholder\(s\) in the text for 2 image\(s\)/);
    expect(() => tokenizeWithImages(t, 'no image', [a], VISION, 'item 2')).toThrow(/^item 2: 0 "<image>" placeholder/);
    expect(() => tokenizeWithImages(t, `${IMAGE_PLACEHOLDER}`, [new Float32Array(PIXELS - 3)], VISION, 'item 5'))
      .toThrow(/^item 5: image 0 has 189 values, the vision encoder needs 8x8x3 = 192/);
  });

  it('padLeftSequences: each image starts at b * T + (T - len) + offset; pixels stacked in row order', () => {
    const px = [filled(1), filled(2), filled(3)];
    const rows = [
      { ids: [9, IMG, IMG, IMG, IMG, 8], images: [{ offset: 1, pixels: px[0] }] }, // len 6
      [5, 6, 7, 8, 9, 10, 11, 12, 13], // text, len 9
      { ids: [IMG, IMG, IMG, IMG, 7, IMG, IMG, IMG, IMG, 6], images: [{ offset: 0, pixels: px[1] }, { offset: 5, pixels: px[2] }] }, // len 10
      [4], // text, len 1
    ];
    const p = padLeftSequences(rows);
    expect([p.B, p.T]).toEqual([4, 10]);
    expect(p.at).toEqual([0 * 10 + 4 + 1, 2 * 10 + 0 + 0, 2 * 10 + 0 + 5]);
    for (const at of p.at) for (let r = at; r < at + P; r++) expect(p.ids[r]).toBe(IMG);
    expect(Array.from(p.ids.subarray(0, 10))).toEqual([0, 0, 0, 0, 9, IMG, IMG, IMG, IMG, 8]);
    expect(Array.from(p.mask.subarray(0, 10))).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(p.pos.subarray(30, 40))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // row 3: one token at position 0
    expect(p.mask[39]).toBe(1);
    expect(p.pixels.length).toBe(3 * PIXELS);
    expect([p.pixels[0], p.pixels[PIXELS], p.pixels[2 * PIXELS], p.pixels[3 * PIXELS - 1]]).toEqual([1, 2, 3, 3]);
    // text only: no images, no pixels
    const text = padLeftSequences([[1, 2], [3]]);
    expect(text.at).toEqual([]);
    expect(text.pixels.length).toBe(0);
  });

  it('prompts: LCO image and image+text templates, custom templates and none take "<image>"', () => {
    expect(resolvePrompt('lco', 'image')).toBe(`<image>${LCO_IMAGE_SUFFIX}`);
    expect(resolvePrompt('lco', 'image+text')).toBe(`<image>{text}${LCO_MIXED_SUFFIX}`);
    expect(resolvePrompt('lco', 'text')).toBe('{text}\nSummarize the above text in one word:');
    expect(resolvePrompt('none', 'image')).toBe('<image>');
    expect(resolvePrompt('none', 'image+text')).toBe('<image>{text}');
    expect(resolvePrompt('query: {text} end', 'image')).toBe('query: <image> end');
    expect(resolvePrompt('query: {text} end', 'image+text')).toBe('query: <image>{text} end');
    expect(applyPrompt(resolvePrompt('lco', 'image+text'), 'a red $& circle')).toBe(`<image>a red $& circle${LCO_MIXED_SUFFIX}`);
    expect(() => resolvePrompt('no placeholder', 'image')).toThrow(PromptError);
  });
});

describe('Embedder with images', () => {
  it('an image embedding is vision -> decoder with the image rows -> last token -> L2 norm (float64 references)', async () => {
    const g = await gpu();
    const t = await tok();
    const WD = decoderWeights();
    const WV = visionWeights();
    const model = await decoderFromData(g, CFG, async ({ name }) => WD.get(name)!);
    const vision = await visionFromData(g, VISION, async ({ name }) => WV.get(name)!);
    const emb = new Embedder(g, model, t, undefined, vision);
    const dir = await mkdtemp(join(tmpdir(), 'lco-image-ref-'));
    const file = join(dir, 'scene.ppm');
    const fromFile = rgbImage(20, 12, 4); // not square, not 8x8: padded and resized
    await writeFile(file, encodePpm(fromFile.data, fromFile.width, fromFile.height));
    const square = rgbImage(8, 8, 1);
    const inputs: EmbedInput[] = [{ image: square }, { image: file, text: 'a red circle above a blue square' }];

    for (const chat of ['none', 'chatml'] as const) {
      const rows = await Promise.all(inputs.map((x, i) => emb.prepare(x, { prompt: 'lco', chat }, `input ${i}`))) as ImageRow[];
      // the ids as the prompts spell them
      const head = chat === 'chatml' ? t.encode('<|im_start|>user\n') : [];
      const tail = (s: string) => t.encode(chat === 'chatml' ? `${s}<|im_end|>\n<|im_start|>assistant\n` : s);
      expect(rows[0].ids).toEqual([...head, ...Array(P).fill(IMG), ...tail(LCO_IMAGE_SUFFIX)]);
      expect(rows[1].ids).toEqual([...head, ...Array(P).fill(IMG), ...tail(`a red circle above a blue square${LCO_MIXED_SUFFIX}`)]);
      expect(rows.map((r) => r.images.map((im) => im.offset))).toEqual([[head.length], [head.length]]);
      // an 8x8 image is used as it is, normalised with image_mean = image_std = 0.5: v / 255 * 2 - 1
      expectClose('pixels', rows[0].images[0].pixels, Array.from(square.data, (v) => (v / 255) * 2 - 1), { rtol: 0, atol: 1e-6 });
      expect(rows[1].images[0].pixels).toEqual(imagePixels(await readImage(file), VISION));

      const got = await emb.embed(inputs, { prompt: 'lco', chat, batchSize: 2 });
      got.forEach((e, i) => {
        expect(e.length).toBe(CFG.hidden);
        expectClose(`${chat} input ${i}`, e, refEmbed(WD, WV, rows[i]), { rtol: 0, atol: 1e-5 });
      });
      // the image reaches the embedding: another image gives another vector
      const other = await emb.embed([{ image: rgbImage(8, 8, 2) }], { prompt: 'lco', chat });
      expect(maxAbs(other[0].map((v, c) => v - got[0][c]))).toBeGreaterThan(1e-3);
    }
    releaseVision(vision);
    releaseDecoder(model);
  });

  it('an image item embeds the same alone and in a left-padded batch with longer text and image+text items', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, CFG, 11, 0.2);
    const vision = await randomVision(g, VISION, 12, 0.2);
    const emb = new Embedder(g, model, await tok(), undefined, vision);
    const item: EmbedInput = { image: rgbImage(8, 8, 5) };
    const opts = { prompt: 'lco' };
    const [alone] = await emb.embed([item], opts);
    const batch: EmbedInput[] = [
      'a much longer text about a large oak tree with lobed leaves and acorns, standing alone in a field',
      { image: rgbImage(16, 16, 6), text: 'two small squares and a large green circle in the top left corner of the picture' },
      item,
      { image: rgbImage(10, 6, 7), text: 'a cross' },
      'oak',
    ];
    const rows = await Promise.all(batch.map((x) => emb.prepare(x, opts)));
    const lens = rows.map((r) => (Array.isArray(r) ? r.length : r.ids.length));
    expect(Math.max(...lens), 'the image item is padded in this batch').toBeGreaterThan(lens[2] + 5);
    const got = await emb.embed(batch, { ...opts, batchSize: batch.length });
    expectClose('image alone vs in the batch', got[2], alone, { rtol: 0, atol: 1e-6 });
    releaseVision(vision);
    releaseDecoder(model);
  });

  it('image items: no vision encoder, an unreadable or non-image file and an empty text are errors naming the input or file', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, CFG, 13);
    const vision = await randomVision(g, VISION, 14);
    const t = await tok();
    const textOnly = new Embedder(g, model, t);
    await expect(textOnly.embed(['fine', { image: rgbImage(8, 8, 1) }])).rejects.toThrow(EmbedInputError);
    await expect(textOnly.embed(['fine', { image: rgbImage(8, 8, 1) }])).rejects.toThrow(/^input 1: an image input needs a vision encoder \(vision_config\.json/);

    const emb = new Embedder(g, model, t, undefined, vision);
    const dir = await mkdtemp(join(tmpdir(), 'lco-image-bad-'));
    const junk = join(dir, 'junk.png');
    await writeFile(junk, Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 255));
    await expect(emb.embed([{ image: junk }])).rejects.toThrow(junk);
    const missing = join(dir, 'missing.ppm');
    await expect(emb.embed([{ image: missing }])).rejects.toThrow(new RegExp(`${missing.replace(/[.]/g, '\\.')}: cannot read image`));
    await expect(emb.embed([{ image: rgbImage(8, 8, 1), text: '' }])).rejects.toThrow(/^input 0: "text" beside an image must be a non-empty string/);
    // a text with its own "<image>" has two placeholders for one image
    await expect(emb.embed([{ image: rgbImage(8, 8, 1), text: 'see <image>' }])).rejects.toThrow(/^input 0: 2 "<image>" placeholder\(s\) in the text for 1 image/);
    releaseVision(vision);
    releaseDecoder(model);
  });
});

describe('GradCache with image rows', () => {
  it('image anchors, text candidates: mini-batch 1 and the whole batch give the same LoRA gradients (no dropout); finite loss', async () => {
    const g = await gpu();
    const model = await randomDecoder(g, CFG, 21, 0.2);
    const vision = await randomVision(g, VISION, 22, 0.2);
    const lora = createLora(g, CFG, { r: 2, alpha: 4, dropout: 0, rslora: false, targets: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'] }, 5);
    // B starts at zero in a fresh adapter; give it values so every gradient path is live
    for (const m of lora.layers.flatMap((x) => Object.values(x))) g.write(m!.B, Float32Array.from({ length: m!.B.size }, (_, i) => Math.sin(i + 1) * 0.3));
    const emb = new Embedder(g, model, await tok(), lora, vision);
    const opts = { prompt: 'lco' };
    const anchors = await Promise.all([1, 2, 3].map((s) => emb.prepare({ image: rgbImage(8, 8, s) }, opts)));
    const texts = ['a red circle', 'two blue squares', 'a small white cross in the corner', 'nothing at all', 'a green diamond', 'three triangles'];
    const candidates = await Promise.all(texts.map((x) => emb.prepare(x, opts)));
    const batch = { anchors, candidates };
    const spec = { temperature: 0.05, symmetric: true };
    const run = async (miniBatch: number) => {
      const params = loraParams(g, lora);
      const loss = gradCacheStep(g, model, lora, gradMap(params), batch, spec, { miniBatch, pooling: 'lasttoken', seed: 9, vision });
      const out = { loss: (await loss.read())[0], grads: await Promise.all(params.map(async (p) => (await p.grad.read()) as Float32Array)), names: params.map((p) => p.name) };
      loss.release();
      releaseParams(params);
      return out;
    };
    const one = await run(1);
    const whole = await run(candidates.length);
    expect(Number.isFinite(one.loss)).toBe(true);
    expect(one.loss).toBeGreaterThan(0);
    expect(Math.abs(one.loss - whole.loss)).toBeLessThan(1e-5 * one.loss);
    const scale = whole.grads.reduce((m, x) => Math.max(m, maxAbs(x)), 0);
    expect(scale).toBeGreaterThan(1e-4);
    one.grads.forEach((x, i) => expectClose(one.names[i], x, whole.grads[i], { rtol: 0, atol: 1e-5 * scale }));
    // repeated image steps hold no more GPU memory than one (the decoder's dImages was once left live every step)
    const live = async () => {
      const loss = gradCacheStep(g, model, lora, gradMap(params), batch, spec, { miniBatch: 2, pooling: 'lasttoken', seed: 9, vision });
      await loss.read();
      loss.release();
      return g.pool.stats().liveBytes;
    };
    const params = loraParams(g, lora);
    const first = await live();
    for (let i = 0; i < 3; i++) expect(await live(), `image step ${i + 2}`).toBe(first);
    releaseParams(params);
    // without the encoder the image rows cannot be embedded
    expect(() => gradCacheStep(g, model, lora, gradMap(loraParams(g, lora)), batch, spec, { miniBatch: 2, pooling: 'lasttoken', seed: 9 })).toThrow(ImageInputError);
    releaseLora(lora);
    releaseVision(vision);
    releaseDecoder(model);
  });
});

describe('image data and the shapes suite', () => {
  it('pairs.ts: image paths resolve against the JSONL folder; a bad image column is reported as file:line', () => {
    const text = [
      '{"anchor": {"image": "img/a.ppm", "text": "what is this?"}, "positive": "a circle"}',
      '{"anchor": {"image": "/abs/b.png"}, "positive": {"image": "c.jpg"}}',
      '{"anchor": {"image": 5}, "positive": "x"}',
      '{"anchor": {"image": ""}, "positive": "x"}',
      '{"anchor": {"image": "d.ppm", "text": ""}, "positive": "x"}',
    ].join('\n');
    const d = parsePairsText('/data/set/train.jsonl', text, 4096);
    expect(d.rows.map((r) => r.line)).toEqual([1, 2]);
    expect(d.rows[0].anchor).toEqual({ image: '/data/set/img/a.ppm', text: 'what is this?' });
    expect(d.rows[0].positive).toEqual({ text: 'a circle' });
    expect(d.rows[1].anchor).toEqual({ image: '/abs/b.png' });
    expect(d.rows[1].positive).toEqual({ image: '/data/set/c.jpg' });
    expect(d.errors).toEqual([
      '/data/set/train.jsonl:3: "anchor".image must be a non-empty path',
      '/data/set/train.jsonl:4: "anchor".image must be a non-empty path',
      '/data/set/train.jsonl:5: "anchor".text beside an image must be a non-empty string',
    ]);
  });

  it('buildShapesSuite({ maxQueries: 8 }): 8 image queries, their captions relevant, paired sides of equal length; deterministic', async () => {
    const s = await buildShapesSuite({ maxQueries: 8 });
    const again = await buildShapesSuite({ maxQueries: 8 });
    const scenes = testScenes(1, 2000, 8);
    const r = s.retrieval!;
    expect(r.queries.length).toBe(8);
    expect(r.qrels.length).toBe(8);
    r.queries.forEach((q, i) => {
      expect(typeof q === 'object' && 'image' in q).toBe(true);
      const img = (q as { image: RgbImage }).image;
      expect([img.width, img.height]).toEqual([48, 48]);
      expect(img.data).toEqual(renderScene(scenes[i], 48));
      const relevant = [...r.qrels[i].keys()].map((d) => r.corpus[d]).sort();
      expect(relevant).toEqual([...new Set(scenes[i].captions)].sort());
      expect(scenes[i].captions.length).toBe(5);
      expect([...r.qrels[i].values()].every((v) => v === 1)).toBe(true);
    });
    expect(new Set(r.corpus).size).toBe(r.corpus.length); // a shared caption is one document
    expect(s.paired!.a.length).toBe(8);
    expect(s.paired!.b).toEqual(scenes.map((x) => x.captions[0]));
    expect(s.meta.sceneIds).toEqual(scenes.map((x) => x.id));
    expect(again.retrieval!.corpus).toEqual(r.corpus);
    expect(again.retrieval!.queries).toEqual(r.queries);
    expect(again.retrieval!.qrels).toEqual(r.qrels);
    // lco analyze asks for paired items only: that many test scenes; both cut the paired part
    const analysis = await buildShapesSuite({ maxPaired: 12 });
    expect([analysis.retrieval!.queries.length, analysis.paired!.a.length, analysis.paired!.b.length]).toEqual([12, 12, 12]);
    const cut = await buildShapesSuite({ maxQueries: 8, maxPaired: 3 });
    expect([cut.retrieval!.queries.length, cut.paired!.a.length, cut.paired!.b.length]).toEqual([8, 3, 3]);
  });
});

describe('lco with a multimodal model folder (child processes)', () => {
  it('embed: image rows (paths relative to the JSONL) give unit-norm embeddings equal to the in-process Embedder', async () => {
    const g = await gpu();
    const root = await mkdtemp(join(tmpdir(), 'lco-image-cli-'));
    const modelDir = join(root, 'model');
    const model = await randomDecoder(g, CFG, 31, 0.2);
    const vision = await randomVision(g, VISION, 32, 0.2);
    await saveDecoder(g, model, modelDir);
    await saveVision(g, vision, modelDir);
    await copyFile(TOKENIZER, join(modelDir, 'tokenizer.json'));
    const data = join(root, 'data');
    await mkdir(join(data, 'img'), { recursive: true });
    const scene = testScenes(1, 2000, 1)[0];
    await writeFile(join(data, 'img', 'scene.ppm'), encodePpm(renderScene(scene, 48), 48, 48));
    const input = join(data, 'in.jsonl');
    await writeFile(input, ['{"image": "img/scene.ppm"}', `{"image": "img/scene.ppm", "text": ${JSON.stringify(scene.captions[0])}}`, '{"text": "a circle"}'].join('\n') + '\n');
    const out = join(root, 'out.jsonl');
    const r = await runLco(['embed', '--model', modelDir, '--input', input, '--output', out, '--prompt', 'lco', '--batch-size', '2']);
    expect(r.code, r.stderr).toBe(0);
    const rows = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).embedding as number[]);
    expect(rows.length).toBe(3);
    const want = await new Embedder(g, model, await tok(), undefined, vision).embed([
      { image: join(data, 'img', 'scene.ppm') }, { image: join(data, 'img', 'scene.ppm'), text: scene.captions[0] }, 'a circle',
    ], { prompt: 'lco' });
    rows.forEach((e, i) => {
      expect(e.length).toBe(CFG.hidden);
      expect(Math.abs(Math.hypot(...e) - 1)).toBeLessThan(1e-5);
      expectClose(`row ${i}`, e, want[i], { rtol: 0, atol: 1e-6 });
    });
    expect(maxAbs(rows[0].map((v, c) => v - rows[1][c]))).toBeGreaterThan(1e-3);

    // the same image row without a vision encoder: the row is named
    const noVision = await runLco(['embed', '--model', NO_VISION_MODEL, '--input', input, '--output', join(root, 'x.jsonl')]);
    expect(noVision.code).toBe(1);
    expect(noVision.stderr).toMatch(/in\.jsonl:1: an image input needs a vision encoder/);

    // eval / analyze --tasks shapes on it; without vision_config.json, a usage error
    const evalOut = join(root, 'eval.json');
    const ev = await runLco(['eval', '--model', modelDir, '--tasks', 'shapes', '--max-queries', '3', '--prompt', 'lco', '--json', evalOut]);
    expect(ev.code, ev.stderr).toBe(0);
    const evJson = JSON.parse(await readFile(evalOut, 'utf8'));
    expect(evJson.tasks).toBe('shapes');
    expect(evJson.counts.queries).toBe(3);
    expect(evJson.retrieval.evaluated).toBe(3);
    expect(evJson.retrieval.ndcgAt10).toBeGreaterThan(0);
    const an = await runLco(['analyze', '--model', modelDir, '--tasks', 'shapes', '--max-items', '12', '--out', join(root, 'analysis')]);
    expect(an.code, an.stderr).toBe(0);
    const anJson = JSON.parse(await readFile(join(root, 'analysis', 'analysis.json'), 'utf8'));
    expect(anJson.counts.items).toBe(12);
    expect(anJson.names).toEqual(['image', 'caption']);
    for (const cmd of ['eval', 'analyze']) {
      const u = await runLco([cmd, '--model', NO_VISION_MODEL, '--tasks', 'shapes']);
      expect(u.code, `${cmd}: ${u.stderr}`).toBe(2);
      expect(u.stderr).toMatch(/--tasks shapes: .* has no vision_config\.json/);
    }

    // train: image anchors, caption positives
    const train = join(data, 'train.jsonl');
    const scenes = testScenes(1, 2000, 4);
    for (const [i, s] of scenes.entries()) await writeFile(join(data, 'img', `t${i}.ppm`), encodePpm(renderScene(s, 48), 48, 48));
    await writeFile(train, scenes.map((s, i) => JSON.stringify({ anchor: { image: `img/t${i}.ppm` }, positive: s.captions[0] })).join('\n') + '\n');
    const tr = await runLco(['train', '--model', modelDir, '--data', train, '--out', join(root, 'adapter'), '--steps', '1', '--batch-size', '2', '--mini-batch-size', '2', '--prompt', 'lco', '--quiet']);
    expect(tr.code, tr.stderr).toBe(0);
    expect(tr.stderr).toMatch(/4 rows with 0 negative\(s\) each/);
    expect(tr.stderr).toMatch(/done: 1 steps, last loss \d/);
    const noVisionTrain = await runLco(['train', '--model', NO_VISION_MODEL, '--data', train, '--out', join(root, 'never'), '--steps', '1', '--quiet']);
    expect(noVisionTrain.code).toBe(1);
    expect(noVisionTrain.stderr).toMatch(/train\.jsonl:1: an image item needs a multimodal model folder, but .* has no vision_config\.json/);
    releaseVision(vision);
    releaseDecoder(model);
  }, 120_000);
});
