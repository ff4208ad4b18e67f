// The GPU vision encoder + projector (src/model/vision*.ts) against the
// float64 reference (reference/vision.ts, itself checked by central
// differences in vision-reference-grad.test.ts), on the tiny config
// (8x8 RGB, patch 4, hidden 8, 2 layers, 2 heads; B = 2) and a second shape
// (P = 9, 4 heads; B = 3):
//   - patchify (a row gather with the embedding kernel) is exact;
//   - the forward's image token embeddings;
//   - full training: every weight's gradient, added into what the map held;
//     part of the encoder frozen; projector only with a frozen encoder;
//     nothing left allocated after the backward;
//   - save / load round trip, load errors, config errors.
// Outputs are NaN-poisoned where the op takes an output tensor (patchify and
// the forward's y); gradient buffers start at random values (the backward adds).
// Tolerance: float32 through the blocks, attention and projector; each tensor
// is compared to 1e-4 of its largest entry (the errors measured here stay
// below 1e-6 of it, 8.4e-7 at worst).
import { describe, expect, it } from 'vitest';
import * as ref from '../reference/vision.ts';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import type { GradMap } from '../src/model/backward.ts';
import { ConfigError } from '../src/model/config.ts';
import {
  VISION_CONFIG_FILE, checkVisionConfig, loadVision, parseVisionConfig, patchify, randomVision, releaseVision, saveVision,
  toVisionJson, visionBackward, visionDims, visionForward, visionFromData, visionTrainForward, visionWeightSpecs,
  type VisionConfig, type VisionModel,
} from '../src/model/vision.ts';
import { expectClose, maxAbs, poisoned, randomData, useGpu } from './helpers.ts';
import { lookup } from './tiny-decoder.ts';
import { TINY, WIDE, makePixels, makeVisionWeights, tinyVisionConfig } from './tiny-vision.ts';

const gpu = useGpu();
const RTOL = 1e-4;

/** Asserts |actual - expected| <= RTOL * max|expected| everywhere. */
function closeToMax(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expectClose(what, actual, expected, { rtol: RTOL }, new Float64Array(expected.length).fill(maxAbs(expected)));
}

async function gpuVision(g: Gpu, cfg: VisionConfig, W: Map<string, Float64Array>): Promise<VisionModel> {
  return visionFromData(g, cfg, async ({ name }) => Float32Array.from(lookup(W)(name)));
}

function pixelTensor(g: Gpu, cfg: VisionConfig, B: number, data: ArrayLike<number>): Tensor {
  return g.tensor(data, [B, cfg.imageSize, cfg.imageSize, cfg.channels], 'f32', 'pixels');
}

const CASES = [
  { name: 'the issue config (P = 4, 2 layers, 2 heads), B = 2', cfg: TINY, B: 2 },
  { name: 'P = 9, 4 heads, 1 layer, B = 3', cfg: WIDE, B: 3 },
];

interface Setup {
  g: Gpu;
  cfg: VisionConfig;
  B: number;
  W: Map<string, Float64Array>;
  pixels: Float64Array;
  dyData: Float32Array;
  model: VisionModel;
}

async function setup(c: (typeof CASES)[number], seed: number): Promise<Setup> {
  const g = await gpu();
  const W = makeVisionWeights(c.cfg, 100 + seed);
  const pixels = makePixels(c.cfg, c.B, 7 + seed);
  const dyData = randomData(c.B * visionDims(c.cfg).numPatches * c.cfg.outHidden, 11 + seed);
  return { g, cfg: c.cfg, B: c.B, W, pixels, dyData, model: await gpuVision(g, c.cfg, W) };
}

/**
 * Training forward + backward with gradient entries for the named weights
 * (each starting at random values); returns y and grad - start per name, and
 * checks that the pass left nothing allocated.
 */
async function trainStep(s: Setup, names: string[], frozenEncoder: boolean): Promise<{ y: Float32Array; grads: Map<string, Float64Array> }> {
  const { g, cfg, B, model } = s;
  const specs = visionWeightSpecs(cfg).filter((sp) => names.includes(sp.name));
  const start = new Map(specs.map((sp, i) => [sp.name, randomData(sp.shape.reduce((a, b) => a * b, 1), 900 + i)]));
  const grads: GradMap = new Map();
  const byName = new Map<string, Tensor>();
  for (const sp of specs) {
    const t = g.tensor(start.get(sp.name)!, sp.shape, 'f32', `${sp.name}.grad`);
    grads.set(sp.get(model.weights), t);
    byName.set(sp.name, t);
  }
  const px = pixelTensor(g, cfg, B, s.pixels);
  const dy = g.tensor(s.dyData, [B, visionDims(cfg).numPatches, cfg.outHidden], 'f32', 'dy');
  const live = g.pool.stats().liveBytes;
  const { y, acts } = visionTrainForward(g, model, px, { frozenEncoder });
  expect(acts.blocks.length, 'block activations kept only when the encoder trains').toBe(frozenEncoder ? 0 : cfg.layers);
  visionBackward(g, model, acts, dy, grads);
  const yData = await y.read() as Float32Array;
  y.release();
  await g.read(dy); // the backward has run
  expect(g.pool.stats().liveBytes, 'the backward freed every activation').toBe(live);
  const out = new Map<string, Float64Array>();
  for (const [name, t] of byName) {
    const v = await t.read();
    const s0 = start.get(name)!;
    out.set(name, Float64Array.from(v, (x, i) => x - s0[i]));
    t.release();
  }
  px.release();
  dy.release();
  return { y: yData, grads: out };
}

describe('GPU vision encoder vs the float64 reference', () => {
  for (const [ci, c] of CASES.entries()) {
    it(`${c.name}: patchify is an exact gather`, async () => {
      const g = await gpu();
      const { numPatches: P, patchDim: K } = visionDims(c.cfg);
      const data = makePixels(c.cfg, c.B, 3 + ci);
      const px = pixelTensor(g, c.cfg, c.B, data);
      const out = patchify(g, c.cfg, px, poisoned(g, [c.B * P, K]));
      expect(out.shape).toEqual([c.B * P, K]);
      expectClose('patches', await out.read(), ref.patchify(c.cfg, Float32Array.from(data), c.B), { rtol: 0 });
      const fresh = patchify(g, c.cfg, px);
      expect(fresh.shape).toEqual([c.B * P, K]);
      expectClose('patches (new tensor)', await fresh.read(), await out.read(), { rtol: 0 });
      for (const t of [px, out, fresh]) t.release();
    });

    it(`${c.name}: forward image token embeddings; the training forward gives the same`, async () => {
      const s = await setup(c, ci);
      const { g, cfg, B, model } = s;
      const { numPatches: P } = visionDims(cfg);
      const expected = ref.visionForward(cfg, lookup(s.W), Float32Array.from(s.pixels), B);
      const px = pixelTensor(g, cfg, B, s.pixels);
      const y = visionForward(g, model, px, { out: poisoned(g, [B, P, cfg.outHidden]) });
      expect(y.shape).toEqual([B, P, cfg.outHidden]);
      const yData = await y.read();
      closeToMax('y', yData, expected);
      const t = visionTrainForward(g, model, px);
      expect(await t.y.read(), 'training forward = inference forward').toEqual(yData);
      t.acts.release();
      for (const x of [px, y, t.y]) x.release();
      releaseVision(model);
    });

    it(`${c.name}: full training, every weight's gradient added into the map`, async () => {
      const s = await setup(c, 10 + ci);
      const names = visionWeightSpecs(c.cfg).map((sp) => sp.name);
      const expected = ref.visionBackward(c.cfg, lookup(s.W), Float32Array.from(s.pixels), c.B, s.dyData);
      const { y, grads } = await trainStep(s, names, false);
      closeToMax('y', y, expected.y);
      expect([...grads.keys()].sort()).toEqual([...expected.grads.keys()].sort());
      for (const [name, e] of expected.grads) closeToMax(name, grads.get(name)!, e);
      releaseVision(s.model);
    });
  }

  it('part of the encoder frozen: the last block, positions and projector train, the rest get nothing', async () => {
    const s = await setup(CASES[0], 20);
    const names = visionWeightSpecs(TINY).map((sp) => sp.name)
      .filter((n) => n.startsWith('vision.blocks.1.') || n === 'vision.pos_embed' || n.startsWith('projector.'));
    const expected = ref.visionBackward(TINY, lookup(s.W), Float32Array.from(s.pixels), 2, s.dyData);
    const { grads } = await trainStep(s, names, false);
    expect([...grads.keys()]).toEqual(names);
    for (const name of names) closeToMax(name, grads.get(name)!, expected.grads.get(name)!);
    releaseVision(s.model);
  });

  it('frozen encoder: projector gradients only, no encoder activations kept; an encoder entry is refused', async () => {
    const s = await setup(CASES[1], 30);
    const names = ['projector.fc1.weight', 'projector.fc1.bias', 'projector.fc2.weight', 'projector.fc2.bias'];
    const expected = ref.visionBackward(WIDE, lookup(s.W), Float32Array.from(s.pixels), 3, s.dyData);
    const { y, grads } = await trainStep(s, names, true);
    closeToMax('y', y, expected.y);
    for (const name of names) closeToMax(name, grads.get(name)!, expected.grads.get(name)!);
    // fc2 alone (fc1 frozen too)
    const only2 = await trainStep(s, ['projector.fc2.weight'], true);
    closeToMax('projector.fc2.weight', only2.grads.get('projector.fc2.weight')!, expected.grads.get('projector.fc2.weight')!);

    const { g, model } = s;
    const px = pixelTensor(g, WIDE, 3, s.pixels);
    const { y: yt, acts } = visionTrainForward(g, model, px, { frozenEncoder: true });
    const dW = g.zeros(model.weights.blocks[0].q.shape);
    expect(() => visionBackward(g, model, acts, yt, new Map([[model.weights.blocks[0].q, dW]])))
      .toThrow(/vision.blocks.0.attn.q_proj.weight has a gradient entry but the forward ran with frozenEncoder/);
    const short = g.zeros([5]);
    expect(() => visionBackward(g, model, acts, short, new Map()))
      .toThrow(/visionBackward: dy .* must be f32 \[B, P, Co\] = \[3, 9, 12\]/);
    acts.release();
    expect(() => visionBackward(g, model, acts, yt, new Map())).toThrow(/already spent/);
    const gray = g.zeros([3, 6, 6, 1]);
    expect(() => visionForward(g, model, gray)).toThrow(/visionForward: pixels .*\[3, 6, 6, 1\] must be f32 \[B, 6, 6, 3\]/);
    for (const t of [px, yt, dW, short, gray]) t.release();
    releaseVision(model);
  });
});

describe('vision model: save, load, random init', () => {
  it('saves and loads back every weight bit for bit, and the loaded model computes the same', async () => {
    const g = await gpu();
    const { mkdtemp, readFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const tmp = await mkdtemp(`${tmpdir()}/lco-vision-`);
    try {
      const model = await randomVision(g, WIDE, 5, 0.2);
      const again = await randomVision(g, WIDE, 5, 0.2);
      const other = await randomVision(g, WIDE, 6, 0.2);
      for (const sp of visionWeightSpecs(WIDE)) {
        const v = Array.from(await sp.get(model.weights).read());
        expect(Array.from(await sp.get(again.weights).read()), `${sp.name}: same seed, same weights`).toEqual(v);
        if (sp.kind === 'norm') expect([...new Set(v)], sp.name).toEqual([1]);
        else if (sp.kind === 'bias') expect([...new Set(v)], sp.name).toEqual([0]);
        else {
          expect(Array.from(await sp.get(other.weights).read()), `${sp.name}: another seed`).not.toEqual(v);
          const rms = Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
          expect(rms, `${sp.name}: std 0.2`).toBeGreaterThan(0.1);
          expect(rms).toBeLessThan(0.3);
        }
      }
      await saveVision(g, model, tmp);
      expect(parseVisionConfig(await readFile(`${tmp}/${VISION_CONFIG_FILE}`, 'utf8'))).toEqual(WIDE);
      const loaded = await loadVision(g, tmp);
      expect(loaded.config).toEqual(WIDE);
      for (const sp of visionWeightSpecs(WIDE)) {
        expect(await sp.get(loaded.weights).read(), sp.name).toEqual(await sp.get(model.weights).read());
      }
      const px = pixelTensor(g, WIDE, 2, makePixels(WIDE, 2, 8));
      const y1 = visionForward(g, model, px), y2 = visionForward(g, loaded, px);
      const v1 = await y1.read();
      expect(maxAbs(v1), 'the output is not trivially zero').toBeGreaterThan(1e-3);
      expect(await y2.read()).toEqual(v1);
      for (const t of [px, y1, y2]) t.release();
      for (const m of [model, again, other, loaded]) releaseVision(m);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('load names the tensor whose shape disagrees with vision_config.json and frees what it uploaded; a missing config is named', async () => {
    const g = await gpu();
    const { mkdtemp, readFile, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const tmp = await mkdtemp(`${tmpdir()}/lco-vision-`);
    try {
      const model = await randomVision(g, TINY, 1);
      await saveVision(g, model, tmp);
      releaseVision(model);
      const json = JSON.parse(await readFile(`${tmp}/${VISION_CONFIG_FILE}`, 'utf8'));
      await writeFile(`${tmp}/${VISION_CONFIG_FILE}`, JSON.stringify({ ...json, intermediate_size: 13 }));
      const live = g.pool.stats().liveBytes;
      await expect(loadVision(g, tmp)).rejects.toThrow(/tensor "vision.blocks.0.mlp.gate_proj.weight" has shape \[12, 8\], expected \[13, 8\] from vision_config.json/);
      expect(g.pool.stats().liveBytes, 'weights loaded before the bad tensor are released').toBe(live);
      await writeFile(`${tmp}/${VISION_CONFIG_FILE}`, JSON.stringify({ ...json, num_attention_heads: 3 }));
      await expect(loadVision(g, tmp)).rejects.toThrow(/"num_attention_heads" is 3; expected a divisor of hidden_size 8/);
      await rm(`${tmp}/${VISION_CONFIG_FILE}`);
      await expect(loadVision(g, tmp)).rejects.toThrow(/vision_config.json: cannot read/);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('vision config', () => {
  const base = toVisionJson(TINY);
  const bad = (patch: Record<string, unknown>) => () => parseVisionConfig({ ...base, ...patch }, 'vc.json');

  it('round-trips through vision_config.json and fills the defaults', () => {
    expect(parseVisionConfig(JSON.stringify(base))).toEqual(TINY);
    const { num_channels: _c, rms_norm_eps: _e, hidden_act: _a, norm: _n, position_embedding: _p, patch_layout: _l, ...minimal } = base;
    expect(parseVisionConfig(minimal)).toEqual({ ...TINY, channels: 3, rmsNormEps: 1e-6 });
    expect(visionDims(WIDE)).toEqual({ grid: 3, numPatches: 9, patchDim: 12, headDim: 4 });
    expect(tinyVisionConfig({ num_channels: 1 }).channels).toBe(1);
  });

  it('names the field at fault', () => {
    expect(() => parseVisionConfig('{', 'vc.json')).toThrow(/vc.json: not valid JSON/);
    expect(() => parseVisionConfig([], 'vc.json')).toThrow(/vc.json: must be a JSON object/);
    expect(bad({ model_type: 'siglip' })).toThrow(/vc.json: "model_type" is "siglip"; expected "lco_vision"/);
    expect(bad({ image_size: undefined })).toThrow(/"image_size" is missing; expected a positive integer/);
    expect(bad({ patch_size: 3 })).toThrow(/"patch_size" is 3; expected a divisor of image_size 8/);
    expect(bad({ hidden_size: 8.5 })).toThrow(/"hidden_size" is 8.5; expected a positive integer/);
    expect(bad({ num_attention_heads: 3 })).toThrow(/"num_attention_heads" is 3; expected a divisor of hidden_size 8/);
    expect(bad({ num_hidden_layers: 0 })).toThrow(/"num_hidden_layers" is 0/);
    expect(bad({ projector_hidden_size: '10' })).toThrow(/"projector_hidden_size" is "10"/);
    expect(bad({ out_hidden_size: -6 })).toThrow(/"out_hidden_size" is -6/);
    expect(bad({ rms_norm_eps: 0 })).toThrow(/"rms_norm_eps" is 0; expected a positive number/);
    expect(bad({ hidden_act: 'gelu' })).toThrow(/"hidden_act" is "gelu"; expected "silu"/);
    expect(bad({ norm: 'layernorm' })).toThrow(/"norm" is "layernorm"; expected "rmsnorm"/);
    expect(bad({ position_embedding: 'rope_2d' })).toThrow(/"position_embedding" is "rope_2d"; expected "learned"/);
    expect(bad({ patch_layout: 'channel_row_col' })).toThrow(/"patch_layout" is "channel_row_col"/);
    expect(bad({ num_channels: 0 })).toThrow(ConfigError);
    expect(() => checkVisionConfig({ ...TINY, intermediate: 0 })).toThrow(/vision config: "intermediate_size" is 0/);
  });

  it('a config built in code is checked before anything is uploaded', async () => {
    const g = await gpu();
    const live = g.pool.stats().liveBytes;
    await expect(randomVision(g, { ...TINY, heads: 5 }, 1)).rejects.toThrow(/"num_attention_heads" is 5; expected a divisor of hidden_size 8/);
    expect(g.pool.stats().liveBytes).toBe(live);
  });
});
